/* Sites (core, aggregation, edge) and the nodes that belong to them: capacity, detected
 * kernel features, underlay address, and status as reported by each node's agent. */
#include <inttypes.h>

#include "lib/httpc.h"
#include "lib/log.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("vim");

static const char *const site_kinds[] = { "core", "aggregation", "edge", NULL };
static const char *const site_keys[] = { "name", "kind", "description", "labels", NULL };

static int check_site_kind(json_t *in, bool required, const char **ret, sf_err *e)
{
        const char *k = NULL;
        int r = sf_json_str(in, "kind", required, &k, e);
        if (r < 0 || !k)
                return r;
        for (const char *const *s = site_kinds; *s; s++)
                if (STREQ(*s, k)) {
                        *ret = k;
                        return 0;
                }
        return sf_err_set(e, -EINVAL, "kind", "'%.32s' is not a site kind: use core, aggregation or edge", k);
}

static int site_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_object();
        const char *kind = "core";
        int r = sf_json_only(in, site_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "site", e);
        if (r >= 0)
                r = check_site_kind(in, false, &kind, e);
        if (r < 0)
                return r;
        json_object_set_new(obj, "kind", json_string(kind));
        r = sf_res_insert(tx, "site", obj, NULL, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int site_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur);
        const char *kind = NULL;
        int r = sf_json_only(patch, site_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = check_site_kind(patch, false, &kind, e);
        if (r < 0)
                return r;
        if (kind)
                json_object_set_new(obj, "kind", json_string(kind));
        r = sf_res_update(tx, "site", obj, NULL, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int site_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        const char *id = json_string_value(json_object_get(cur, "id"));
        struct sf_res_filter f = { .owner = id };
        int64_t n = 0;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_count(&rd, "node", &f, &n, e);
        if (r < 0)
                return r;
        if (n > 0)
                return sf_err_set(e, -EBUSY, NULL, "site '%s' still has %" PRId64 " node(s)",
                                  json_string_value(json_object_get(cur, "name")), n);
        return sf_res_delete(tx, "site", id, e);
}

/* ---- nodes ---- */

static const char *const node_create_keys[] = {
        "name", "site", "underlay_ip", "agent_url", "capacity", "labels", "features",
        "description", "parent", "status", NULL
};
static const char *const node_update_keys[] = {
        "name", "site", "underlay_ip", "agent_url", "capacity", "labels", "features",
        "description", "status", NULL
};
static const char *const node_states[] = { "Ready", "NotReady", "Unknown", NULL };

static int check_capacity(json_t *in, json_t *obj, sf_err *e)
{
        static const char *const keys[] = { "cpu_millis", "memory_bytes", "max_workloads", NULL };
        json_t *cap = NULL;
        json_auto_t *out = NULL;
        int64_t cpu = 0, mem = 0, maxw = 0;
        int r = sf_json_object(in, "capacity", false, &cap, e);
        if (r < 0 || !cap)
                return r;
        r = sf_json_only(cap, keys, e);
        if (r >= 0)
                r = sf_json_int(cap, "cpu_millis", false, 0, 1000000000, &cpu, e);
        if (r >= 0)
                r = sf_json_int(cap, "memory_bytes", false, 0, INT64_MAX, &mem, e);
        if (r >= 0)
                r = sf_json_int(cap, "max_workloads", false, 0, 1000000, &maxw, e);
        if (r < 0) {
                sf_err_field_prefix(e, "capacity");
                return r;
        }
        out = json_pack("{s:I, s:I, s:I}", "cpu_millis", (json_int_t) cpu, "memory_bytes",
                        (json_int_t) mem, "max_workloads", (json_int_t) maxw);
        json_object_set(obj, "capacity", out);
        return 0;
}

static int check_features(json_t *in, json_t *obj, sf_err *e)
{
        json_t *arr = NULL, *x;
        size_t i;
        int r = sf_json_array(in, "features", false, &arr, e);
        if (r < 0 || !arr)
                return r;
        if (json_array_size(arr) > 128)
                return sf_err_set(e, -EINVAL, "features", "at most 128 entries");
        json_array_foreach(arr, i, x)
                if (!json_is_string(x) || json_string_length(x) > 64)
                        return sf_err_set(e, -EINVAL, "features",
                                          "entry %zu must be a string of at most 64 characters", i);
        json_object_set(obj, "features", arr);
        return 0;
}

static int check_status(json_t *in, json_t *obj, sf_err *e)
{
        static const char *const keys[] = { "state", "reason", "heartbeat_at", "info", NULL };
        json_t *st = NULL;
        const char *state = NULL, *reason = NULL;
        int r = sf_json_object(in, "status", false, &st, e);
        if (r < 0 || !st)
                return r;
        r = sf_json_only(st, keys, e);
        if (r >= 0)
                r = sf_json_str(st, "state", true, &state, e);
        if (r >= 0)
                r = sf_json_str(st, "reason", false, &reason, e);
        if (r < 0) {
                sf_err_field_prefix(e, "status");
                return r;
        }
        {
                bool ok = false;
                for (const char *const *s = node_states; *s; s++)
                        ok |= STREQ(*s, state);
                if (!ok)
                        return sf_err_set(e, -EINVAL, "status.state",
                                          "must be Ready, NotReady or Unknown");
        }
        json_object_set_new(obj, "status", json_copy(st));
        return 0;
}

/* A heartbeat is answered with the controller's lease, so an agent can beat often enough for
 * it (Kubernetes sets both on each side by hand, and gets them out of step). */
static void set_lease(sf_vim *v, json_t *in, json_t *obj)
{
        json_t *st = json_object_get(obj, "status");
        if (json_object_get(in, "status") && json_is_object(st))
                json_object_set_new(st, "lease_seconds", json_integer(v->lease_ms / 1000));
}

static int node_fields(sf_tx *tx, json_t *in, json_t *obj, sf_err *e)
{
        const char *site = NULL, *ul = NULL, *url = NULL;
        sf_addr a;
        int r = sf_json_str(in, "site", false, &site, e);
        if (r >= 0)
                r = sf_json_str(in, "underlay_ip", false, &ul, e);
        if (r >= 0)
                r = sf_json_str(in, "agent_url", false, &url, e);
        if (r >= 0)
                r = check_capacity(in, obj, e);
        if (r >= 0)
                r = check_features(in, obj, e);
        if (r >= 0)
                r = check_status(in, obj, e);
        if (r < 0)
                return r;
        if (ul) {
                if (sf_addr_parse(ul, &a) < 0)
                        return sf_err_set(e, -EINVAL, "underlay_ip", "'%.64s' is not an IP address", ul);
                json_object_set_new(obj, "underlay_ip", json_string(ul));
        }
        if (url) {
                if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
                        return sf_err_set(e, -EINVAL, "agent_url", "must be an http:// or https:// URL");
                if (strlen(url) > 255)
                        return sf_err_set(e, -EINVAL, "agent_url", "must be at most 255 characters");
                json_object_set_new(obj, "agent_url", json_string(url));
        }
        if (site) {
                json_auto_t *s = NULL;
                r = vim_resolve(tx, "site", site, "site", &s, e);
                if (r < 0)
                        return r;
                json_object_set(obj, "site_id", json_object_get(s, "id"));
        }
        return 0;
}

static bool node_is_ready(json_t *node)
{
        return STREQ(json_string_value(json_object_get(json_object_get(node, "status"), "state")) ?: "", "Ready");
}

static int node_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_object();
        const char *parent = NULL;
        int r = sf_json_only(in, node_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "node", e);
        if (r >= 0)
                r = sf_json_str(in, "parent", false, &parent, e);
        if (r < 0)
                return r;
        json_object_set_new(obj, "site_id", json_null());
        json_object_set_new(obj, "underlay_ip", json_null());
        json_object_set_new(obj, "agent_url", json_null());
        json_object_set_new(obj, "parent", json_null());
        json_object_set_new(obj, "nested_mode", json_null());
        json_object_set_new(obj, "capacity", json_pack("{s:i, s:i, s:i}", "cpu_millis", 0,
                                                       "memory_bytes", 0, "max_workloads", 0));
        json_object_set_new(obj, "features", json_array());
        json_object_set_new(obj, "status", json_pack("{s:s, s:s}", "state", "Unknown", "reason",
                                                     "no heartbeat yet"));
        r = node_fields(tx, in, obj, e);
        if (r >= 0 && parent) /* a VM's node (nested.c): where the VM is */
                r = sf_nested_node_check(tx, parent, obj, e);
        if (r < 0)
                return r;
        set_lease(ctx, in, obj);
        r = sf_res_insert(tx, "node", obj,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(obj, "site_id")) },
                          e);
        if (r < 0)
                return r;
        if (node_is_ready(obj))
                sf_pool_kick(ctx, tx); /* port pools fill when a node joins */
        *ret = TAKE_PTR(obj);
        return 0;
}

static int node_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur);
        int r = sf_json_only(patch, node_update_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = node_fields(tx, patch, obj, e);
        if (r < 0)
                return r;
        set_lease(ctx, patch, obj);
        r = sf_res_update(tx, "node", obj,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(obj, "site_id")) },
                          e);
        if (r < 0)
                return r;
        if (node_is_ready(obj) && !node_is_ready(cur))
                sf_pool_kick(ctx, tx); /* port pools fill when a node becomes Ready */
        *ret = TAKE_PTR(obj);
        return 0;
}

static int node_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        const char *id = json_string_value(json_object_get(cur, "id"));
        struct sf_res_filter f = { .node = id };
        int64_t n = 0;
        sf_rd rd;
        /* The node's pools and their idle ports go with it. */
        int r = sf_pool_drain_node(ctx, tx, id, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_count(&rd, "port", &f, &n, e);
        if (r < 0)
                return r;
        if (n > 0)
                return sf_err_set(e, -EBUSY, NULL, "node '%s' still has %" PRId64 " bound port(s)",
                                  json_string_value(json_object_get(cur, "name")), n);
        return sf_res_delete(tx, "node", id, e);
}

static const struct sf_kind_filter site_filters[] = {
        { "kind", SF_FILTER_BODY, NULL, "kind" },
        { NULL },
};
static const struct sf_kind_filter node_filters[] = {
        { "site", SF_FILTER_OWNER, "site", NULL },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

/* Images live on nodes: these forward to the node's agent. */
static int node_images(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return sf_vim_node_call(ctx, cur, "GET", "/agent/v1/images", NULL, 30000, ret, e);
}

static int node_import_image(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        /* Imports unpack whole images: allow them time. */
        return sf_vim_node_call(ctx, cur, "POST", "/agent/v1/images", in, 600000, ret, e);
}

static int node_remove_image(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        const char *name = NULL;
        _cleanup_free_ char *path = NULL, *en = NULL;
        int r = sf_json_str(in, "name", true, &name, e);
        if (r < 0)
                return r;
        en = sf_httpc_escape(name);
        path = xasprintf("/agent/v1/images?name=%s", en);
        return sf_vim_node_call(ctx, cur, "DELETE", path, NULL, 30000, ret, e);
}

static const struct sf_kind_action node_actions[] = {
        { "images", true, node_images },
        { "import-image", false, node_import_image },
        { "remove-image", false, node_remove_image },
        { NULL },
};

struct sf_kind vim_site_kind = {
        .name = "site",
        .plural = "sites",
        .filters = site_filters,
        .create = site_create,
        .update = site_update,
        .remove = site_remove,
        .actions = no_actions,
};

struct sf_kind vim_node_kind = {
        .name = "node",
        .plural = "nodes",
        .filters = node_filters,
        .create = node_create,
        .update = node_update,
        .remove = node_remove,
        .actions = node_actions,
};
