/* Services: a stable virtual address (VIP) on a network in front of one or more workloads,
 * the way a load balancer or a Kubernetes Service is, so a function can be replaced or moved
 * without its clients noticing. The VIP is an ordinary port (device_owner network:service)
 * bound to one node; that node's agent plumbs it into a service namespace and forwards with
 * nftables (DNAT to a backend, masquerade to the VIP), so connections keep their backend
 * through conntrack while new ones follow the current backend list: switching backends drains
 * the old one instead of cutting it. */
#include <inttypes.h>

#include "lib/log.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("service");

static const char *const service_create_keys[] = { "name", "network", "vip", "ports", "backends",
                                                   "node", "description", "labels", NULL };
static const char *const service_update_keys[] = { "name", "backends", "description", "labels",
                                                   "ports", NULL };

static int check_ports(json_t *in, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        json_auto_t *out = json_array();
        size_t i;
        int r = sf_json_array(in, "ports", true, &arr, e);
        if (r < 0)
                return r;
        if (json_array_size(arr) == 0 || json_array_size(arr) > 16)
                return sf_err_set(e, -EINVAL, "ports", "must have 1 to 16 entries");
        json_array_foreach(arr, i, x) {
                static const char *const keys[] = { "port", "target_port", "protocol", NULL };
                _cleanup_free_ char *f = xasprintf("ports[%zu]", i);
                int64_t port = 0, target = 0;
                const char *proto = "tcp";
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_int(x, "port", true, 1, 65535, &port, e);
                if (r >= 0)
                        r = sf_json_int(x, "target_port", false, 1, 65535, &target, e);
                if (r >= 0)
                        r = sf_json_str(x, "protocol", false, &proto, e);
                if (r >= 0 && !STREQ(proto, "tcp") && !STREQ(proto, "udp"))
                        r = sf_err_set(e, -EINVAL, "protocol", "must be tcp or udp");
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_array_append_new(out, json_pack("{s:I, s:I, s:s}", "port", (json_int_t) port,
                                                     "target_port", (json_int_t) (target ? target : port),
                                                     "protocol", proto));
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* backends: workload names or ids, each with a port on the service's network. */
static int check_backends(sf_tx *tx, json_t *in, json_t *net, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        json_auto_t *out = json_array();
        size_t i;
        int r = sf_json_array(in, "backends", false, &arr, e);
        if (r < 0)
                return r;
        if (arr && json_array_size(arr) > 64)
                return sf_err_set(e, -EINVAL, "backends", "at most 64 backends");
        json_array_foreach(arr, i, x) {
                _cleanup_free_ char *f = xasprintf("backends[%zu]", i);
                json_auto_t *w = NULL;
                json_t *pid;
                size_t k;
                bool on_net = false;
                if (!json_is_string(x))
                        return sf_err_set(e, -EINVAL, f, "must be a workload name or id");
                r = vim_resolve(tx, "container", json_string_value(x), f, &w, e);
                if (r < 0)
                        return r;
                json_array_foreach(json_object_get(w, "port_ids"), k, pid) {
                        json_auto_t *port = NULL;
                        if (vim_resolve(tx, "port", json_string_value(pid), f, &port, NULL) >= 0 &&
                            json_equal(json_object_get(port, "network_id"), json_object_get(net, "id")))
                                on_net = true;
                }
                if (!on_net)
                        return sf_err_set(e, -EINVAL, f, "workload '%s' has no port on network '%s'",
                                          json_string_value(x), json_string_value(json_object_get(net, "name")));
                json_array_append(out, json_object_get(w, "id"));
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int service_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        sf_vim *v = ctx;
        json_auto_t *obj = json_object(), *net = NULL, *ports = NULL, *backends = NULL, *req = NULL,
                    *vip = NULL, *node = NULL;
        const char *network = NULL, *vip_s = NULL, *node_s = NULL, *id;
        int r = sf_json_only(in, service_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "service", e);
        if (r >= 0)
                r = sf_json_str(in, "network", true, &network, e);
        if (r >= 0)
                r = sf_json_str(in, "vip", false, &vip_s, e);
        if (r >= 0)
                r = sf_json_str(in, "node", false, &node_s, e);
        if (r >= 0)
                r = check_ports(in, &ports, e);
        if (r >= 0)
                r = vim_resolve(tx, "network", network, "network", &net, e);
        if (r >= 0)
                r = check_backends(tx, in, net, &backends, e);
        if (r < 0)
                return r;
        id = json_string_value(json_object_get(obj, "id"));
        /* Where the VIP lives: the given node, else the first backend's, else any Ready node. */
        if (node_s) {
                r = vim_resolve(tx, "node", node_s, "node", &node, e);
                if (r < 0)
                        return r;
        } else {
                json_auto_t *w = NULL;
                if (json_array_size(backends) > 0 &&
                    vim_resolve(tx, "container", json_string_value(json_array_get(backends, 0)), "backends",
                                &w, NULL) >= 0 &&
                    json_is_string(json_object_get(w, "node_id")))
                        vim_resolve(tx, "node", json_string_value(json_object_get(w, "node_id")), "node", &node, NULL);
        }
        if (!node) {
                json_auto_t *nodes = NULL;
                json_t *n;
                size_t i;
                sf_rd rd;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_list(&rd, "node", NULL, &nodes, e);
                if (r < 0)
                        return r;
                json_array_foreach(nodes, i, n)
                        if (STREQ(json_string_value(json_object_get(json_object_get(n, "status"), "state")) ?: "", "Ready")) {
                                node = json_incref(n);
                                break;
                        }
                if (!node)
                        return sf_err_set(e, -ENOSPC, "node", "no Ready node to hold the service address");
        }
        req = json_pack("{s:O, s:s, s:s, s:O}", "network", json_object_get(net, "id"), "device_owner",
                        "network:service", "device_id", id, "node", json_object_get(node, "id"));
        if (vip_s)
                json_object_set_new(req, "fixed_ips", json_pack("[{s:s}]", "ip_address", vip_s));
        r = sf_vim_port_create(v, tx, req, &vip, e);
        if (r < 0) {
                if (e && e->field && strstr(e->field, "ip_address"))
                        sf_err_set(e, e->code, "vip", "%s", sf_err_msg(e));
                return r;
        }
        json_object_set(obj, "network_id", json_object_get(net, "id"));
        json_object_set(obj, "vip", json_object_get(json_array_get(json_object_get(vip, "fixed_ips"), 0), "ip_address"));
        json_object_set(obj, "vip_port_id", json_object_get(vip, "id"));
        json_object_set(obj, "node_id", json_object_get(node, "id"));
        json_object_set(obj, "ports", ports);
        json_object_set_new(obj, "backend_ids", backends ? json_incref(backends) : json_array());
        r = sf_res_insert(tx, "service", obj,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(net, "id")),
                                                  .node = json_string_value(json_object_get(node, "id")) },
                          e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int service_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur), *net = NULL, *backends = NULL, *ports = NULL;
        int r = vim_check_patch_keys(patch, service_update_keys, service_create_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0 && json_object_get(patch, "backends")) {
                r = vim_resolve(tx, "network", json_string_value(json_object_get(cur, "network_id")), "network", &net, e);
                if (r >= 0)
                        r = check_backends(tx, patch, net, &backends, e);
                if (r >= 0)
                        json_object_set_new(obj, "backend_ids", backends ? json_incref(backends) : json_array());
        }
        if (r >= 0 && json_object_get(patch, "ports")) {
                r = check_ports(patch, &ports, e);
                if (r >= 0)
                        json_object_set(obj, "ports", ports);
        }
        if (r < 0)
                return r;
        r = sf_res_update(tx, "service", obj,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(obj, "network_id")),
                                                  .node = json_string_value(json_object_get(obj, "node_id")) },
                          e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int service_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        json_auto_t *port = NULL;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        if (sf_res_get(&rd, "port", json_string_value(json_object_get(cur, "vip_port_id")), &port, NULL) >= 0) {
                r = sf_vim_port_delete(ctx, tx, port, e);
                if (r < 0)
                        return r;
        }
        return sf_res_delete(tx, "service", json_string_value(json_object_get(cur, "id")), e);
}

/* GET /v1/services/X/connections: live connections per backend, from the node holding the VIP. */
static int service_connections(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *node = NULL;
        _cleanup_free_ char *path = xasprintf("/agent/v1/services/%s/connections",
                                              json_string_value(json_object_get(cur, "id")));
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                int r;
                sf_rd_get(s, &rd);
                r = sf_res_get(&rd, "node", json_string_value(json_object_get(cur, "node_id")), &node, e);
                if (r < 0)
                        return r;
        }
        return sf_vim_node_call(ctx, node, "GET", path, NULL, 10000, ret, e);
}

static const struct sf_kind_filter service_filters[] = {
        { "network", SF_FILTER_OWNER, "network", NULL },
        { "node", SF_FILTER_NODE, "node", NULL },
        { NULL },
};
static const struct sf_kind_action service_actions[] = {
        { "connections", true, service_connections },
        { NULL },
};

struct sf_kind vim_service_kind = {
        .name = "service",
        .plural = "services",
        .filters = service_filters,
        .create = service_create,
        .update = service_update,
        .remove = service_remove,
        .actions = service_actions,
};
