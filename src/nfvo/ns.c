/* NS instances (kind ns_instance): created from an onboarded NSD with instantiation parameters
 * (checked against the NSD, its VNFDs and the deployment), deleted once not instantiated, and
 * the lifecycle actions instantiate, scale, move and terminate, each answered at once (202) with the
 * operation occurrence that runs in the background. */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "nfvo/nfvo-internal.h"
#include "nfvo/yaml.h"

SF_LOG_MODULE("nfvo");

static bool exists(void *u, const char *kind, const char *name)
{
        json_auto_t *o = NULL;
        return sf_res_get(u, kind, name, &o, NULL) >= 0;
}

/* The NSD and VNFDs of an NS, and its plan as of now. */
static int ns_plan(sf_rd *rd, const char *name, const char *id, const char *nsd_ref, json_t *params, json_t **ret_nsd,
                   json_t **ret_plan, sf_err *e)
{
        json_auto_t *nsd = NULL, *vnfds = NULL;
        int r = sf_res_get(rd, "nsd", nsd_ref, &nsd, e);
        if (r == -ENOENT)
                return sf_err_set(e, -EINVAL, "nsd", "nsd '%s' is not onboarded", nsd_ref);
        if (r >= 0)
                r = nfvo_vnfds_of(rd, json_object_get(nsd, "model"), &vnfds, e);
        if (r >= 0 && params)
                r = nfvo_plan(rd, name, id, json_object_get(nsd, "model"), vnfds, params, ret_plan, e);
        if (r >= 0 && ret_nsd)
                *ret_nsd = TAKE_PTR(nsd);
        return r;
}

static const char *const ns_create_keys[] = { "name", "nsd", "description", "config", "config_yaml", NULL };

static int ns_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *cfg = NULL, *nsd = NULL, *vnfds = NULL, *params = NULL, *plan = NULL, *obj = NULL;
        const char *name = NULL, *nsd_ref = NULL, *desc = NULL, *yaml = NULL;
        json_t *c = NULL;
        char id[SF_UUID_STRLEN];
        sf_rd rd;
        int r;

        r = sf_json_only(in, ns_create_keys, e);
        if (r >= 0)
                r = sf_json_name(in, "name", true, &name, e);
        if (r >= 0)
                r = sf_json_str(in, "nsd", true, &nsd_ref, e);
        if (r >= 0)
                r = sf_json_str(in, "description", false, &desc, e);
        if (r >= 0 && desc && strlen(desc) > 1024)
                r = sf_err_set(e, -EINVAL, "description", "must be at most 1024 characters");
        if (r >= 0)
                r = sf_json_object(in, "config", false, &c, e);
        if (r >= 0)
                r = sf_json_str(in, "config_yaml", false, &yaml, e);
        if (r >= 0 && c && yaml)
                r = sf_err_set(e, -EINVAL, "config_yaml", "give config (JSON) or config_yaml, not both");
        if (r < 0)
                return r;
        if (yaml) {
                _cleanup_err_ sf_err ye = SF_ERR_INIT;
                r = sf_yaml_to_json(yaml, strlen(yaml), &cfg, &ye);
                if (r < 0)
                        return sf_err_set(e, r, "config_yaml", "%s", sf_err_msg(&ye));
                if (!json_is_object(cfg) && !json_is_null(cfg))
                        return sf_err_set(e, -EINVAL, "config_yaml", "must be a mapping (site, vnf, vld, ...)");
        } else if (c)
                cfg = json_incref(c);

        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "nsd", nsd_ref, &nsd, e);
        if (r == -ENOENT)
                return sf_err_set(e, -EINVAL, "nsd", "nsd '%s' is not onboarded", nsd_ref);
        if (r >= 0)
                r = nfvo_vnfds_of(&rd, json_object_get(nsd, "model"), &vnfds, e);
        if (r < 0)
                return r;
        r = nfvo_params_check(cfg, json_object_get(nsd, "model"), vnfds, &(struct nfvo_exists) { exists, &rd }, &params,
                              e);
        if (r < 0) {
                sf_err_field_prefix(e, "config");
                return r;
        }
        sf_uuid(id);
        r = nfvo_plan(&rd, name, id, json_object_get(nsd, "model"), vnfds, params, &plan, e);
        if (r < 0)
                return r;
        obj = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O?, s:s, s:n, s:n, s:n, s:[], s:O}", "id", id, "name", name,
                        "description", desc ?: "", "nsd", json_object_get(nsd, "name"), "nsd_ref",
                        json_object_get(nsd, "id"), "config", params, "config_source", cfg, "state", "NOT_INSTANTIATED",
                        "operation", "last_operation", "instantiated_at", "virtual_links", "notes",
                        json_object_get(plan, "notes"));
        r = sf_res_insert(tx, "ns_instance", obj, NULL, e);
        if (r == -EEXIST)
                return sf_err_set(e, -EEXIST, "name", "NS instance '%s' already exists", name);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int busy_check(sf_rd *rd, json_t *ns, sf_err *e)
{
        json_auto_t *op = NULL;
        if (!jstr(ns, "operation"))
                return 0;
        if (sf_res_get(rd, "ns_lcm_op_occ", jstr(ns, "operation"), &op, NULL) < 0 ||
            nfvo_op_terminal(jstr(op, "state") ?: ""))
                return 0;
        return sf_err_set(e, -EBUSY, NULL, "NS '%s' is busy: %s operation '%s' is %s", jstr(ns, "name"),
                          jstr(op, "operation"), jstr(op, "name"), jstr(op, "state"));
}

static int ns_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        json_auto_t *ops = NULL, *vnfs = NULL;
        json_t *o;
        size_t i;
        sf_rd rd;
        int r;

        sf_rd_from_tx(tx, &rd);
        r = busy_check(&rd, cur, e);
        if (r < 0)
                return r;
        r = sf_vnfm_vnfs_of(&rd, jstr(cur, "id"), &vnfs, e);
        if (r < 0)
                return r;
        if (!STREQ(jstr(cur, "state") ?: "", "NOT_INSTANTIATED") || json_array_size(vnfs) > 0 ||
            json_array_size(json_object_get(cur, "virtual_links")) > 0)
                return sf_err_set(e, -EBUSY, NULL, "NS '%s' is %s: terminate it first (sfctl ns terminate %s)",
                                  jstr(cur, "name"), jstr(cur, "state"), jstr(cur, "name"));
        /* Its operation history goes with it. */
        r = sf_res_list(&rd, "ns_lcm_op_occ", &(struct sf_res_filter) { .owner = jstr(cur, "id") }, &ops, e);
        if (r < 0)
                return r;
        json_array_foreach(ops, i, o) {
                r = sf_res_delete(tx, "ns_lcm_op_occ", jstr(o, "id"), e);
                if (r < 0)
                        return r;
        }
        return sf_res_delete(tx, "ns_instance", jstr(cur, "id"), e);
}

static void ns_decorate(void *ctx, sf_rd *rd, json_t *obj)
{
        json_t *vnfs = NULL, *v;
        size_t i, running = 0, total = 0;
        if (sf_vnfm_vnfs_of(rd, jstr(obj, "id"), &vnfs, NULL) < 0)
                return;
        json_array_foreach(vnfs, i, v) {
                json_t *vdu, *inst;
                size_t j, k;
                sf_vnfm_vnf_decorate(rd, v);
                json_array_foreach(json_object_get(v, "vdus"), j, vdu)
                        json_array_foreach(json_object_get(vdu, "instances"), k, inst) {
                                total++;
                                running += STREQ(jstr(json_object_get(inst, "status"), "phase") ?: "", "Running");
                        }
        }
        json_object_set_new(obj, "vnfs", vnfs);
        json_object_set_new(obj, "vdu_instances", json_pack("{s:I, s:I}", "running", (json_int_t) running, "total",
                                                            (json_int_t) total));
        if (jstr(obj, "operation")) {
                json_auto_t *op = NULL;
                if (sf_res_get(rd, "ns_lcm_op_occ", jstr(obj, "operation"), &op, NULL) >= 0)
                        json_object_set_new(obj, "operation_state",
                                            json_pack("{s:O, s:O, s:O}", "operation", json_object_get(op, "operation"),
                                                      "state", json_object_get(op, "state"), "progress",
                                                      json_object_get(op, "progress")));
        }
}

/* ---- actions ---- */

typedef int (*check_fn)(sf_nfvo *n, sf_rd *rd, json_t *ns, json_t *params, sf_err *e);

static int begin(sf_nfvo *n, sf_store *s, json_t *cur, const char *type, json_t *params, check_fn check, json_t **ret,
                 sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *ns = NULL, *op = NULL;
        sf_rd rd;
        int r;

        if (n->stopping)
                return sf_err_set(e, -EAGAIN, NULL, "sfd is stopping");
        r = sf_tx_begin(s, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "ns_instance", jstr(cur, "id"), &ns, e);
        if (r >= 0)
                r = busy_check(&rd, ns, e);
        if (r >= 0)
                r = check(n, &rd, ns, params, e);
        if (r >= 0)
                r = nfvo_op_begin(n, tx, ns, type, params, &op, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        if (r < 0)
                return r;
        log_info("NS '%s': %s operation '%s' started", jstr(ns, "name"), type, jstr(op, "name"));
        nfvo_op_spawn(n, jstr(op, "id"));
        *ret = TAKE_PTR(op);
        return 1; /* accepted: 202 */
}

static int timeout_param(json_t *in, json_t *params, sf_err *e)
{
        int64_t t = 0;
        int r = sf_json_int(in, "timeout", false, 1, 3600, &t, e);
        if (r < 0)
                return r;
        if (t)
                json_object_set_new(params, "timeout", json_integer(t));
        return 0;
}

static int check_instantiate(sf_nfvo *n, sf_rd *rd, json_t *ns, json_t *params, sf_err *e)
{
        json_auto_t *plan = NULL;
        json_auto_t *vnfs = NULL;
        int r;
        if (!STREQ(jstr(ns, "state") ?: "", "NOT_INSTANTIATED"))
                return sf_err_set(e, -EBUSY, NULL, "NS '%s' is %s already", jstr(ns, "name"), jstr(ns, "state"));
        r = sf_vnfm_vnfs_of(rd, jstr(ns, "id"), &vnfs, e);
        if (r < 0)
                return r;
        if (json_array_size(vnfs) > 0 || json_array_size(json_object_get(ns, "virtual_links")) > 0)
                return sf_err_set(e, -EBUSY, NULL,
                                  "NS '%s' still has resources of an operation that failed to roll back: terminate "
                                  "it first", jstr(ns, "name"));
        /* Again now: VNFDs, nodes and networks may have changed since the NS was created. */
        return ns_plan(rd, jstr(ns, "name"), jstr(ns, "id"), jstr(ns, "nsd_ref"), json_object_get(ns, "config"), NULL,
                       &plan, e);
}

static int ns_instantiate(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        static const char *const keys[] = { "timeout", NULL };
        json_auto_t *params = json_object();
        int r = sf_json_only(in, keys, e);
        if (r >= 0)
                r = timeout_param(in, params, e);
        if (r < 0)
                return r;
        return begin(ctx, s, cur, "INSTANTIATE", params, check_instantiate, ret, e);
}

static int check_scale(sf_nfvo *n, sf_rd *rd, json_t *ns, json_t *params, sf_err *e)
{
        json_auto_t *plan = NULL, *vnfs = NULL, *now = json_array(), *counts = NULL;
        const char *member = jstr(params, "vnf");
        int64_t steps = json_integer_value(json_object_get(params, "steps")), lvl = 0;
        json_t *rec = NULL, *pv = NULL, *v, *rv;
        size_t i;
        int r;

        if (!STREQ(jstr(ns, "state") ?: "", "INSTANTIATED"))
                return sf_err_set(e, -EBUSY, NULL, "NS '%s' is %s: instantiate it first", jstr(ns, "name"),
                                  jstr(ns, "state"));
        r = ns_plan(rd, jstr(ns, "name"), jstr(ns, "id"), jstr(ns, "nsd_ref"), json_object_get(ns, "config"), NULL, &plan,
                    e);
        if (r >= 0)
                r = sf_vnfm_vnfs_of(rd, jstr(ns, "id"), &vnfs, e);
        if (r < 0)
                return r;
        json_array_foreach(vnfs, i, v)
                if (STREQ(jstr(v, "member_vnf_index") ?: "", member))
                        rec = v;
        json_array_foreach(json_object_get(plan, "vnfs"), i, v)
                if (STREQ(jstr(v, "member"), member))
                        pv = v;
        if (!rec || !pv)
                return sf_err_set(e, -EINVAL, "vnf", "NS '%s' has no VNF with member-vnf-index '%s'", jstr(ns, "name"),
                                  member);
        json_array_foreach(json_object_get(rec, "vdus"), i, rv)
                json_array_append_new(now, json_pack("{s:O, s:I, s:O, s:O}", "id", json_object_get(rv, "id"), "count",
                                                     (json_int_t) json_array_size(json_object_get(rv, "instances")), "min",
                                                     json_object_get(rv, "min"), "max", json_object_get(rv, "max")));
        lvl = json_integer_value(json_object_get(json_object_get(rec, "scale_levels"), jstr(params, "aspect")));
        if (STREQ(jstr(params, "direction"), "in"))
                steps = -steps;
        r = sf_vnfm_scale_plan(json_object_get(pv, "aspects"), now, jstr(params, "aspect"), lvl, steps, &counts, &lvl, e);
        if (r < 0)
                return sf_err_wrap(r, e, "VNF '%s'", member);
        return 0;
}

static int ns_scale(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        static const char *const keys[] = { "vnf", "aspect", "direction", "steps", "timeout", NULL };
        json_auto_t *params = json_object();
        const char *aspect = NULL, *dir = NULL;
        json_t *vnf = json_object_get(in, "vnf");
        int64_t steps = 1;
        int r = sf_json_only(in, keys, e);
        if (r >= 0 && json_is_integer(vnf))
                json_object_set_new(params, "vnf", json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(vnf)));
        else if (r >= 0 && json_is_string(vnf) && *json_string_value(vnf))
                json_object_set(params, "vnf", vnf);
        else if (r >= 0)
                r = sf_err_set(e, -EINVAL, "vnf", "is required: the member-vnf-index of the VNF to scale");
        if (r >= 0)
                r = sf_json_str(in, "aspect", true, &aspect, e);
        if (r >= 0)
                r = sf_json_str(in, "direction", true, &dir, e);
        if (r >= 0 && !STREQ(dir, "out") && !STREQ(dir, "in"))
                r = sf_err_set(e, -EINVAL, "direction", "must be out or in");
        if (r >= 0)
                r = sf_json_int(in, "steps", false, 1, 100, &steps, e);
        if (r >= 0)
                r = timeout_param(in, params, e);
        if (r < 0)
                return r;
        json_object_set_new(params, "aspect", json_string(aspect));
        json_object_set_new(params, "direction", json_string(dir));
        json_object_set_new(params, "steps", json_integer(steps));
        return begin(ctx, s, cur, "SCALE", params, check_scale, ret, e);
}

static int check_terminate(sf_nfvo *n, sf_rd *rd, json_t *ns, json_t *params, sf_err *e)
{
        json_auto_t *vnfs = NULL;
        int r = sf_vnfm_vnfs_of(rd, jstr(ns, "id"), &vnfs, e);
        if (r < 0)
                return r;
        if (STREQ(jstr(ns, "state") ?: "", "NOT_INSTANTIATED") && json_array_size(vnfs) == 0 &&
            json_array_size(json_object_get(ns, "virtual_links")) == 0)
                return sf_err_set(e, -EINVAL, NULL, "NS '%s' is not instantiated", jstr(ns, "name"));
        return 0;
}

static int ns_terminate(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        static const char *const keys[] = { NULL };
        json_auto_t *params = json_object();
        int r = sf_json_only(in, keys, e);
        if (r < 0)
                return r;
        return begin(ctx, s, cur, "TERMINATE", params, check_terminate, ret, e);
}

static int check_move(sf_nfvo *n, sf_rd *rd, json_t *ns, json_t *params, sf_err *e)
{
        if (!STREQ(jstr(ns, "state") ?: "", "INSTANTIATED"))
                return sf_err_set(e, -EBUSY, NULL, "NS '%s' is %s: instantiate it first", jstr(ns, "name"),
                                  jstr(ns, "state"));
        return 0;
}

/* Before anything is touched: every selected instance can go there (the VIM's own checks,
 * as a dry run: capacity, image, node readiness, strategy). */
static int move_dry_run(sf_nfvo *n, json_t *cur, json_t *params, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *vnfs = NULL, *ids = json_array(), *names = json_array();
        const char *member = jstr(params, "vnf");
        json_t *rec = NULL, *v, *rv, *inst, *id;
        size_t i, j;
        int r;

        if (!STREQ(jstr(cur, "state") ?: "", "INSTANTIATED"))
                return sf_err_set(e, -EBUSY, NULL, "NS '%s' is %s: instantiate it first", jstr(cur, "name"),
                                  jstr(cur, "state"));
        sf_rd_get(n->store, &rd);
        r = sf_vnfm_vnfs_of(&rd, jstr(cur, "id"), &vnfs, e);
        if (r < 0)
                return r;
        json_array_foreach(vnfs, i, v)
                if (STREQ(jstr(v, "member_vnf_index") ?: "", member))
                        rec = v;
        if (!rec)
                return sf_err_set(e, -EINVAL, "vnf", "NS '%s' has no VNF with member-vnf-index '%s'", jstr(cur, "name"),
                                  member);
        json_array_foreach(json_object_get(rec, "vdus"), i, rv) {
                if (jstr(params, "vdu") && !STREQ(jstr(params, "vdu"), jstr(rv, "id") ?: ""))
                        continue;
                json_array_foreach(json_object_get(rv, "instances"), j, inst) {
                        if (jstr(params, "instance") && !STREQ(jstr(params, "instance"), jstr(inst, "name") ?: ""))
                                continue;
                        json_array_append(ids, json_object_get(inst, "container_id"));
                        json_array_append(names, json_object_get(inst, "name"));
                }
        }
        sf_rd_put(&rd);
        if (json_array_size(ids) == 0)
                return sf_err_set(e, -EINVAL, jstr(params, "instance") ? "instance" : jstr(params, "vdu") ? "vdu" : "vnf",
                                  "VNF '%s' of NS '%s' has no such VDU instance", member, jstr(cur, "name"));
        json_array_foreach(ids, i, id) {
                json_auto_t *req = json_pack("{s:O, s:b}", "to", json_object_get(params, "to"), "dry_run", true), *out = NULL;
                if (json_object_get(params, "strategy"))
                        json_object_set(req, "strategy", json_object_get(params, "strategy"));
                r = sf_vnfm_vdu_move(n->vnfm, json_string_value(id), req, &out, e);
                /* a VDU instance already there is skipped by the operation */
                if (r == -EINVAL && e->field && STREQ(e->field, "to") && strstr(sf_err_msg(e), "already runs")) {
                        sf_err_clear(e);
                        continue;
                }
                if (r < 0)
                        return sf_err_wrap(r, e, "VDU instance '%s'", json_string_value(json_array_get(names, i)));
        }
        return 0;
}

static int ns_move(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        static const char *const keys[] = { "vnf", "vdu", "instance", "to", "strategy", "timeout", "drain_seconds", NULL };
        json_auto_t *params = json_object();
        const char *to = NULL, *vdu = NULL, *inst = NULL, *strategy = NULL;
        json_t *vnf = json_object_get(in, "vnf");
        int64_t drain = -1;
        int r = sf_json_only(in, keys, e);
        if (r >= 0 && json_is_integer(vnf))
                json_object_set_new(params, "vnf", json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(vnf)));
        else if (r >= 0 && json_is_string(vnf) && *json_string_value(vnf))
                json_object_set(params, "vnf", vnf);
        else if (r >= 0)
                r = sf_err_set(e, -EINVAL, "vnf", "is required: the member-vnf-index of the VNF to move");
        if (r >= 0)
                r = sf_json_str(in, "to", true, &to, e);
        if (r >= 0)
                r = sf_json_str(in, "vdu", false, &vdu, e);
        if (r >= 0)
                r = sf_json_str(in, "instance", false, &inst, e);
        if (r >= 0)
                r = sf_json_str(in, "strategy", false, &strategy, e);
        if (r >= 0 && strategy && !STREQ(strategy, "make-before-break") && !STREQ(strategy, "handover"))
                r = sf_err_set(e, -EINVAL, "strategy", "must be make-before-break or handover");
        if (r >= 0)
                r = sf_json_int(in, "drain_seconds", false, 0, 3600, &drain, e);
        if (r >= 0)
                r = timeout_param(in, params, e);
        if (r < 0)
                return r;
        json_object_set_new(params, "to", json_string(to));
        if (vdu)
                json_object_set_new(params, "vdu", json_string(vdu));
        if (inst)
                json_object_set_new(params, "instance", json_string(inst));
        if (strategy)
                json_object_set_new(params, "strategy", json_string(strategy));
        if (drain >= 0)
                json_object_set_new(params, "drain_seconds", json_integer(drain));
        r = move_dry_run(ctx, cur, params, e);
        if (r < 0)
                return r;
        return begin(ctx, s, cur, "MOVE", params, check_move, ret, e);
}

static const struct sf_kind_filter ns_filters[] = {
        { "nsd", SF_FILTER_BODY, NULL, "nsd" },
        { "state", SF_FILTER_BODY, NULL, "state" },
        { NULL },
};
static const struct sf_kind_action ns_actions[] = {
        { "instantiate", false, ns_instantiate },
        { "scale", false, ns_scale },
        { "terminate", false, ns_terminate },
        { "move", false, ns_move },
        { NULL },
};

struct sf_kind nfvo_ns_kind = {
        .name = "ns_instance",
        .plural = "ns_instances",
        .filters = ns_filters,
        .create = ns_create,
        .remove = ns_remove,
        .actions = ns_actions,
        .decorate = ns_decorate,
};

/* ---- the NFVO ---- */

int sf_nfvo_new(sf_store *store, sf_vim *vim, sf_vnfm *vnfm, const struct sf_nfvo_options *opts, sf_nfvo **ret,
                sf_err *e)
{
        const char *pool = opts && opts->cidr_pool ? opts->cidr_pool : "10.100.0.0/16";
        unsigned prefix = opts && opts->cidr_prefix ? opts->cidr_prefix : 24;
        sf_prefix p;
        sf_nfvo *n;

        if (sf_prefix_parse(pool, true, &p) < 0 || p.addr.family != AF_INET)
                return sf_err_set(e, -EINVAL, "--ns-cidr-pool", "'%s' is not an IPv4 CIDR such as 10.100.0.0/16", pool);
        if (prefix > 30)
                return sf_err_set(e, -EINVAL, "--ns-cidr-pool", "/%u blocks are too small for a subnet", prefix);
        if (p.len > prefix)
                prefix = p.len; /* a pool smaller than /24 is one block */
        if (prefix - p.len > 24)
                return sf_err_set(e, -EINVAL, "--ns-cidr-pool", "'%s' is too large (at most 2^24 blocks)", pool);
        n = new0(sf_nfvo, 1);
        n->store = store;
        n->vim = vim;
        n->vnfm = vnfm;
        n->pool = p;
        n->prefix = prefix;
        n->op_timeout_s = opts && opts->op_timeout_s ? opts->op_timeout_s : 120;
        pthread_mutex_init(&n->lock, NULL);
        pthread_cond_init(&n->cond, NULL);
        n->kinds[0] = &nfvo_vnfd_kind;
        n->kinds[1] = &nfvo_nsd_kind;
        n->kinds[2] = &nfvo_ns_kind;
        n->kinds[3] = &nfvo_op_kind;
        for (size_t i = 0; n->kinds[i]; i++)
                n->kinds[i]->ctx = n;
        *ret = n;
        return 0;
}

void sf_nfvo_free(sf_nfvo *n)
{
        if (!n)
                return;
        sf_nfvo_stop(n);
        pthread_mutex_destroy(&n->lock);
        pthread_cond_destroy(&n->cond);
        free(n);
}

struct sf_kind *const *sf_nfvo_kinds(sf_nfvo *n) { return n->kinds; }
