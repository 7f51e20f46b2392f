/* NS lifecycle operations as ETSI SOL005 operation occurrences (kind ns_lcm_op_occ): each runs
 * in its own thread, step by step, each step one transaction that also records what it
 * created and the progress. Instantiate: networks, VNF instance records, VDU instances
 * (containers), then wait until all run. Scale: VDU instances added or removed by a scaling
 * aspect. Terminate: everything removed, in reverse. A failed instantiation or scale-out is
 * rolled back completely (ROLLED_BACK, with the original error); an operation interrupted by a
 * stop of sfd is rolled back (or, for removals, completed) at the next start. */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "nfvo/nfvo-internal.h"

SF_LOG_MODULE("nfvo");

#define OP_LOG_MAX 200

bool nfvo_op_terminal(const char *s)
{
        return STREQ(s, OP_COMPLETED) || STREQ(s, OP_FAILED) || STREQ(s, OP_ROLLED_BACK);
}

bool nfvo_op_transition_ok(const char *from, const char *to)
{
        if (STREQ(from, OP_PROCESSING))
                return STREQ(to, OP_COMPLETED) || STREQ(to, OP_FAILED) || STREQ(to, OP_ROLLING_BACK);
        if (STREQ(from, OP_ROLLING_BACK))
                return STREQ(to, OP_ROLLED_BACK) || STREQ(to, OP_FAILED);
        return false;
}

struct opctx {
        sf_nfvo *n;
        char *op_id;
        json_t *op; /* as stored, kept current: this thread is its only writer */
        json_t *ns;
};

static struct sf_kind *vim_kind(sf_nfvo *n, const char *name)
{
        for (struct sf_kind *const *k = sf_vim_kinds(n->vim); *k; k++)
                if (STREQ((*k)->name, name))
                        return *k;
        abort(); /* the VIM serves network, subnet and container */
}

static char *now_ts(void)
{
        return sf_timestamp(sf_realtime_usec());
}

static void op_log(struct opctx *c, const char *fmt, ...) _printf_(2, 3);
static void op_log(struct opctx *c, const char *fmt, ...)
{
        json_t *log = json_object_get(c->op, "log");
        _cleanup_free_ char *ts = now_ts(), *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        msg = xvasprintf(fmt, ap);
        va_end(ap);
        log_info("NS '%s' %s: %s", jstr(c->ns, "name"), jstr(c->op, "operation"), msg);
        if (!json_is_array(log))
                json_object_set_new(c->op, "log", log = json_array());
        if (json_array_size(log) >= OP_LOG_MAX)
                json_array_remove(log, 1); /* keep the first line */
        json_array_append_new(log, json_pack("{s:s, s:s, s:O?, s:O?}", "time", ts, "message", msg, "done",
                                             json_object_get(json_object_get(c->op, "progress"), "done"), "total",
                                             json_object_get(json_object_get(c->op, "progress"), "total")));
}

static void op_step(struct opctx *c, const char *fmt, ...) _printf_(2, 3);
static void op_step(struct opctx *c, const char *fmt, ...)
{
        json_t *p = json_object_get(c->op, "progress");
        va_list ap;
        char *msg;
        va_start(ap, fmt);
        msg = xvasprintf(fmt, ap);
        va_end(ap);
        json_object_set_new(p, "step", json_string(msg));
        op_log(c, "%s", msg);
        free(msg);
}

static void progress_add(struct opctx *c, int64_t done, int64_t total)
{
        json_t *p = json_object_get(c->op, "progress");
        json_object_set_new(p, "done", json_integer(json_integer_value(json_object_get(p, "done")) + done));
        json_object_set_new(p, "total", json_integer(json_integer_value(json_object_get(p, "total")) + total));
}

static void set_state(struct opctx *c, const char *to)
{
        _cleanup_free_ char *ts = now_ts();
        const char *from = jstr(c->op, "state");
        if (!nfvo_op_transition_ok(from, to))
                log_error("operation '%s': %s -> %s is not a valid transition", jstr(c->op, "name"), from, to);
        json_object_set_new(c->op, "state", json_string(to));
        json_object_set_new(c->op, "state_entered_time", json_string(ts));
        if (nfvo_op_terminal(to)) {
                json_object_set_new(c->op, "end_time", json_string(ts));
                json_object_set_new(c->ns, "operation", json_null());
                json_object_set_new(c->ns, "last_operation",
                                    json_pack("{s:O, s:O, s:s}", "id", json_object_get(c->op, "id"), "operation",
                                              json_object_get(c->op, "operation"), "state", to));
        }
}

static int save(sf_tx *tx, struct opctx *c, sf_err *e)
{
        int r = sf_res_update(tx, "ns_lcm_op_occ", c->op, &(struct sf_res_cols) { .owner = jstr(c->ns, "id") }, e);
        if (r >= 0)
                r = sf_res_update(tx, "ns_instance", c->ns, NULL, e);
        return r;
}

/* Saves op and ns in a transaction of their own. */
static int commit_progress(struct opctx *c, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        int r = sf_tx_begin(c->n->store, &tx, e);
        if (r >= 0)
                r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

static void created_add(struct opctx *c, const char *kind, json_t *obj)
{
        json_array_append_new(json_object_get(c->op, "created"),
                              json_pack("{s:s, s:O, s:O}", "kind", kind, "id", json_object_get(obj, "id"), "name",
                                        json_object_get(obj, "name")));
}

static json_t *created_ids(struct opctx *c, const char *kind)
{
        json_t *out = json_array(), *x;
        size_t i;
        json_array_foreach(json_object_get(c->op, "created"), i, x)
                if (STREQ(jstr(x, "kind") ?: "", kind))
                        json_array_append(out, json_object_get(x, "id"));
        return out;
}

static bool stopping(struct opctx *c, sf_err *e)
{
        if (!c->n->stopping)
                return false;
        sf_err_set(e, -ECANCELED, NULL, "sfd is stopping");
        return true;
}

/* ---- loading what an operation works on ---- */

static int load_plan(struct opctx *c, json_t **ret, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *nsd = NULL, *vnfds = NULL;
        int r;
        sf_rd_get(c->n->store, &rd);
        r = sf_res_get(&rd, "nsd", jstr(c->ns, "nsd_ref"), &nsd, e);
        if (r >= 0)
                r = nfvo_vnfds_of(&rd, json_object_get(nsd, "model"), &vnfds, e);
        if (r >= 0)
                r = nfvo_plan(&rd, jstr(c->ns, "name"), jstr(c->ns, "id"), json_object_get(nsd, "model"), vnfds,
                              json_object_get(c->ns, "config"), ret, e);
        return r;
}

static json_t *plan_vnf(json_t *plan, const char *member)
{
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(plan, "vnfs"), i, v)
                if (STREQ(jstr(v, "member"), member))
                        return v;
        return NULL;
}

static json_t *find_id(json_t *list, const char *key, const char *id)
{
        json_t *v;
        size_t i;
        json_array_foreach(list, i, v)
                if (STREQ(jstr(v, key) ?: "", id))
                        return v;
        return NULL;
}

/* {member: vnf_instance record} of the NS. */
static int load_vnfs(struct opctx *c, json_t **ret, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *list = NULL, *out = json_object();
        json_t *v;
        size_t i;
        int r;
        sf_rd_get(c->n->store, &rd);
        r = sf_vnfm_vnfs_of(&rd, jstr(c->ns, "id"), &list, e);
        if (r < 0)
                return r;
        json_array_foreach(list, i, v)
                json_object_set(out, jstr(v, "member_vnf_index"), v);
        *ret = TAKE_PTR(out);
        return 0;
}

/* {network key: {"cidr", "gateway", "network"}} from the NS's virtual links. */
static json_t *nets_info(struct opctx *c)
{
        json_t *out = json_object(), *vl;
        size_t i;
        json_array_foreach(json_object_get(c->ns, "virtual_links"), i, vl)
                json_object_set_new(out, jstr(vl, "key"),
                                    json_pack("{s:O, s:O, s:O}", "cidr", json_object_get(vl, "cidr"), "gateway",
                                              json_object_get(vl, "gateway"), "network", json_object_get(vl, "network")));
        return out;
}

/* ---- networks ---- */

static int subnet_of(sf_rd *rd, const char *network_id, json_t **ret, sf_err *e)
{
        json_auto_t *subs = NULL;
        json_t *s;
        size_t i;
        int r = sf_res_list(rd, "subnet", &(struct sf_res_filter) { .owner = network_id }, &subs, e);
        if (r < 0)
                return r;
        json_array_foreach(subs, i, s)
                if (json_integer_value(json_object_get(s, "ip_version")) == 4) {
                        *ret = json_incref(s);
                        return 0;
                }
        *ret = json_incref(json_array_get(subs, 0)); /* NULL when none */
        return 0;
}

static json_t *vl_record(json_t *pnet, json_t *net, json_t *sub, bool external)
{
        return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O?, s:O?, s:O?, s:b}", "key", json_object_get(pnet, "key"), "vl",
                         json_object_get(pnet, "vl"), "member", json_object_get(pnet, "member") ?: json_null(), "network",
                         json_object_get(net, "name"), "network_id", json_object_get(net, "id"), "subnet_id",
                         json_object_get(sub, "id"), "cidr", json_object_get(sub, "cidr"), "gateway",
                         json_object_get(sub, "gateway_ip"), "external", external);
}

static int use_external_network(struct opctx *c, json_t *pnet, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *net = NULL, *sub = NULL;
        int r;
        sf_rd_get(c->n->store, &rd);
        r = sf_res_get(&rd, "network", jstr(pnet, "name"), &net, e);
        if (r == -ENOENT)
                return sf_err_set(e, -EINVAL, NULL,
                                  "virtual link '%s': vim-network-name '%s' does not exist (create that network, or "
                                  "give the NS parameter vld[].cidr to have one created)",
                                  jstr(pnet, "vl"), jstr(pnet, "name"));
        if (r >= 0)
                r = subnet_of(&rd, jstr(net, "id"), &sub, e);
        if (r < 0)
                return r;
        json_array_append_new(json_object_get(c->ns, "virtual_links"), vl_record(pnet, net, sub, true));
        op_log(c, "virtual link '%s' uses the existing network '%s'", jstr(pnet, "vl"), jstr(net, "name"));
        return 0;
}

static int create_network(struct opctx *c, json_t *pnet, sf_err *e)
{
        struct sf_kind *nk = vim_kind(c->n, "network"), *sk = vim_kind(c->n, "subnet");
        _cleanup_tx_ sf_tx *tx = NULL;
        _cleanup_free_ char *cidr = jstr(pnet, "cidr") ? xstrdup(jstr(pnet, "cidr")) : NULL;
        _cleanup_free_ char *desc = NULL, *sname = NULL;
        json_auto_t *net = NULL, *sub = NULL, *nin = NULL, *sin = NULL;
        sf_rd rd;
        int r;

        r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        if (!cidr) {
                /* From the pool, overlapping no subnet anywhere (read in this transaction, so two
                 * operations cannot take the same block). */
                json_auto_t *subs = NULL, *used = json_array();
                json_t *s;
                size_t i;
                r = sf_res_list(&rd, "subnet", NULL, &subs, e);
                if (r < 0)
                        return r;
                json_array_foreach(subs, i, s)
                        json_array_append(used, json_object_get(s, "cidr"));
                r = nfvo_cidr_pick(&c->n->pool, c->n->prefix, used, &cidr, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "virtual link '%s'", jstr(pnet, "vl"));
        }
        desc = jstr(pnet, "member") ? xasprintf("internal virtual link '%s' of VNF '%s' of NS '%s'", jstr(pnet, "vl"),
                                                jstr(pnet, "member"), jstr(c->ns, "name"))
                                    : xasprintf("virtual link '%s' of NS '%s'", jstr(pnet, "vl"), jstr(c->ns, "name"));
        nin = json_pack("{s:O, s:s, s:{s:s}}", "name", json_object_get(pnet, "name"), "description", desc, "labels",
                        "superfluid.ns", jstr(c->ns, "name"));
        r = nk->create(nk->ctx, tx, nin, &net, e);
        if (r < 0)
                return r;
        sname = nfvo_name(jstr(net, "name"), strchr(cidr, ':') ? "v6" : "v4", NULL, NULL);
        sin = json_pack("{s:s, s:O, s:s}", "name", sname, "network", json_object_get(net, "id"), "cidr", cidr);
        if (jstr(pnet, "gateway"))
                json_object_set(sin, "gateway_ip", json_object_get(pnet, "gateway"));
        r = sk->create(sk->ctx, tx, sin, &sub, e);
        if (r < 0) {
                if (e && !e->field)
                        return r;
                sf_err_field_prefix(e, "subnet");
                return r;
        }
        json_array_append_new(json_object_get(c->ns, "virtual_links"), vl_record(pnet, net, sub, false));
        created_add(c, "network", net);
        progress_add(c, 1, 0);
        op_log(c, "network '%s' (%s) for virtual link '%s'", jstr(net, "name"), cidr, jstr(pnet, "vl"));
        r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* Deletes a network made for the NS (it and its subnets); a network already gone is fine. */
static int delete_network(struct opctx *c, const char *id, sf_err *e)
{
        struct sf_kind *nk = vim_kind(c->n, "network");
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *net = NULL, *opts = json_object();
        json_t *vls = json_object_get(c->ns, "virtual_links"), *vl;
        size_t i;
        sf_rd rd;
        int r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "network", id, &net, e);
        if (r == -ENOENT)
                sf_err_clear(e);
        else if (r < 0)
                return r;
        else {
                r = nk->remove(nk->ctx, tx, net, opts, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "delete network '%s'", jstr(net, "name"));
                op_log(c, "network '%s' deleted", jstr(net, "name"));
        }
        json_array_foreach(vls, i, vl)
                if (STREQ(jstr(vl, "network_id") ?: "", id)) {
                        json_array_remove(vls, i);
                        break;
                }
        r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* ---- VDU instances ---- */

/* When day-0 templates refer to addresses, they must be known before any container exists:
 * the ports of the new instances (insts: [{"cps": [{"net", ...}]}]) are made first, all in one
 * transaction (IPAM picks their addresses), and the containers then attach them. Sets each
 * cp's "ip" and "port_id". */
static int reserve_ports(struct opctx *c, json_t *insts, sf_err *e)
{
        struct sf_kind *pk = vim_kind(c->n, "port");
        _cleanup_tx_ sf_tx *tx = NULL;
        json_t *inst, *cp;
        size_t i, j;
        int r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        json_array_foreach(insts, i, inst)
                json_array_foreach(json_object_get(inst, "cps"), j, cp) {
                        json_t *vl = find_id(json_object_get(c->ns, "virtual_links"), "key", jstr(cp, "net"));
                        _cleanup_free_ char *name = nfvo_name(jstr(inst, "name"), jstr(cp, "cpd"), NULL, NULL);
                        _cleanup_free_ char *desc = xasprintf("connection point '%s' of '%s'", jstr(cp, "cpd"),
                                                              jstr(inst, "name"));
                        json_auto_t *in = NULL, *port = NULL;
                        if (!vl)
                                return sf_err_set(e, -EIO, NULL, "no network for '%s'", jstr(cp, "net"));
                        in = json_pack("{s:s, s:O, s:s}", "name", name, "network", json_object_get(vl, "network_id"),
                                       "description", desc);
                        r = pk->create(pk->ctx, tx, in, &port, e);
                        if (r < 0)
                                return sf_err_wrap(r, e, "port '%s'", name);
                        json_object_set(cp, "ip", json_object_get(json_array_get(json_object_get(port, "fixed_ips"), 0),
                                                                  "ip_address") ?: json_null());
                        json_object_set(cp, "port_id", json_object_get(port, "id"));
                        created_add(c, "port", port);
                }
        op_log(c, "ports reserved: day-0 templates refer to addresses");
        r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* Deletes ports the NS reserved (once their containers are gone); missing ones are fine. */
static int delete_ports(struct opctx *c, json_t *ids, sf_err *e)
{
        struct sf_kind *pk = vim_kind(c->n, "port");
        _cleanup_tx_ sf_tx *tx = NULL;
        json_t *id;
        size_t i;
        sf_rd rd;
        int r;
        if (json_array_size(ids) == 0)
                return 0;
        r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        json_array_foreach(ids, i, id) {
                json_auto_t *port = NULL, *opts = json_pack("{s:b}", "force", true);
                r = sf_res_get(&rd, "port", json_string_value(id), &port, e);
                if (r == -ENOENT) {
                        sf_err_clear(e);
                        continue;
                }
                if (r >= 0)
                        r = pk->remove(pk->ctx, tx, port, opts, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "delete port '%s'", jstr(port, "name"));
        }
        r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* The reserved ports of instances (records' cps with "reserved"). */
static void reserved_ports_of(json_t *inst, json_t *out)
{
        json_t *cp;
        size_t i;
        json_array_foreach(json_object_get(inst, "cps"), i, cp)
                if (json_is_true(json_object_get(cp, "reserved")) && jstr(cp, "port_id"))
                        json_array_append(out, json_object_get(cp, "port_id"));
}

/* The instances to create for a VDU: count new ones with the lowest free indices. */
static void new_instances(struct opctx *c, json_t *pv, json_t *pd, json_t *rvdu, int64_t count, json_t *out)
{
        json_t *have = json_object_get(rvdu, "instances");
        for (int64_t idx = 0; count > 0; idx++) {
                json_t *x, *cp, *cps;
                size_t i;
                bool taken = false;
                _cleanup_free_ char *sidx = xasprintf("%" PRId64, idx), *name = NULL;
                json_array_foreach(have, i, x)
                        taken |= json_integer_value(json_object_get(x, "index")) == idx;
                json_array_foreach(out, i, x)
                        taken |= STREQ(jstr(x, "member"), jstr(pv, "member")) && STREQ(jstr(x, "vdu"), jstr(pd, "id")) &&
                                 json_integer_value(json_object_get(x, "index")) == idx;
                if (taken)
                        continue;
                name = nfvo_name(jstr(c->ns, "name"), jstr(pv, "member"), jstr(pd, "id"), sidx);
                cps = json_array();
                json_array_foreach(json_object_get(pd, "cps"), i, cp) {
                        json_t *vl = find_id(json_object_get(c->ns, "virtual_links"), "key", jstr(cp, "net"));
                        json_array_append_new(cps, json_pack("{s:O, s:O, s:O?}", "cpd", json_object_get(cp, "cpd"), "net",
                                                             json_object_get(cp, "net"), "network",
                                                             json_object_get(vl, "network")));
                }
                json_array_append_new(out, json_pack("{s:O, s:O, s:I, s:s, s:o}", "member", json_object_get(pv, "member"),
                                                     "vdu", json_object_get(pd, "id"), "index", (json_int_t) idx, "name",
                                                     name, "cps", cps));
                count--;
        }
}

static json_t *rec_vdu(json_t *rec, const char *vdu)
{
        return find_id(json_object_get(rec, "vdus"), "id", vdu);
}

/* The records as the day-0 context will see them once insts exist (planned addresses). */
static json_t *records_with(json_t *vnfs, json_t *insts)
{
        json_t *out = json_deep_copy(vnfs), *inst;
        size_t i;
        json_array_foreach(insts, i, inst) {
                json_t *rv = rec_vdu(json_object_get(out, jstr(inst, "member")), jstr(inst, "vdu"));
                if (rv)
                        json_array_append_new(json_object_get(rv, "instances"),
                                              json_pack("{s:O, s:O}", "index", json_object_get(inst, "index"), "cps",
                                                        json_object_get(inst, "cps")));
        }
        return out;
}

static int create_instance(struct opctx *c, json_t *plan, json_t *inst, json_t *ctx, sf_err *e)
{
        json_t *pv = plan_vnf(plan, jstr(inst, "member")), *pd, *cp;
        json_auto_t *files = NULL, *nets = json_array(), *env = NULL, *labels = NULL, *place = NULL, *body = NULL;
        json_auto_t *container = NULL, *cps = NULL, *rec = NULL, *self_cps = json_array();
        _cleanup_free_ char *desc = NULL, *sidx = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(inst, "index")));
        _cleanup_tx_ sf_tx *tx = NULL;
        json_t *rv, *stored;
        size_t i;
        sf_rd rd;
        int r;

        pd = find_id(json_object_get(pv, "vdus"), "id", jstr(inst, "vdu"));
        json_array_foreach(json_object_get(inst, "cps"), i, cp) {
                json_t *n = jstr(cp, "port_id") ? json_pack("{s:O}", "port", json_object_get(cp, "port_id"))
                                                : json_pack("{s:O}", "network", json_object_get(cp, "network"));
                json_array_append_new(nets, n);
                json_array_append_new(self_cps, json_pack("{s:O, s:O?}", "cpd", json_object_get(cp, "cpd"), "ip",
                                                          json_object_get(cp, "ip")));
        }
        r = nfvo_day0_files(pd, ctx, jstr(pv, "member"), jstr(pv, "name"), jstr(inst, "name"),
                            json_integer_value(json_object_get(inst, "index")), self_cps, &files, e);
        if (r < 0)
                return r;
        env = json_pack("{s:O, s:O, s:O, s:O, s:O, s:s}", "SUPERFLUID_NS", json_object_get(c->ns, "name"),
                        "SUPERFLUID_NS_ID", json_object_get(c->ns, "id"), "SUPERFLUID_VNF", json_object_get(pv, "member"),
                        "SUPERFLUID_VNF_NAME", json_object_get(pv, "name"), "SUPERFLUID_VDU", json_object_get(pd, "id"),
                        "SUPERFLUID_INDEX", sidx);
        /* A day-0 text that is not #cloud-config is a workload's own settings file (the demo
         * workloads read NAME=VALUE lines from $SF_CONFIG). */
        if (jstr(pd, "cloud_init") && strncmp(jstr(pd, "cloud_init"), "#cloud-config", 13) != 0)
                json_object_set_new(env, "SF_CONFIG", json_string("/etc/superfluid/cloud-init"));
        labels = json_pack("{s:O, s:O, s:O}", "superfluid.ns", json_object_get(c->ns, "name"), "superfluid.vnf",
                           json_object_get(pv, "member"), "superfluid.vdu", json_object_get(pd, "id"));
        place = json_pack("{s:O?, s:O?}", "site", json_object_get(pv, "site"), "node", json_object_get(pv, "node"));
        desc = xasprintf("VDU '%s' #%s of VNF '%s' (%s) of NS '%s'", jstr(pd, "id"), sidx, jstr(pv, "member"),
                         jstr(pv, "vnfd"), jstr(c->ns, "name"));
        body = sf_vnfm_vdu_body(json_object_get(pd, "model"), jstr(inst, "name"), place, nets, files, env, labels,
                                json_object_get(pd, "over"),
                                json_integer_value(json_object_get(json_object_get(c->ns, "config"), "vcpu_millis")),
                                json_is_integer(json_object_get(json_object_get(c->ns, "config"), "stop_grace_seconds"))
                                        ? json_integer_value(json_object_get(json_object_get(c->ns, "config"), "stop_grace_seconds"))
                                        : -1,
                                desc);

        r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "vnf_instance", json_string_value(json_object_get(inst, "vnf_id")), &rec, e);
        if (r < 0)
                return r;
        r = sf_vnfm_vdu_create(c->n->vnfm, tx, body, &container, &cps, e);
        if (r < 0)
                return r;
        rv = rec_vdu(rec, jstr(pd, "id"));
        json_array_foreach(cps, i, cp) {
                json_t *want = json_array_get(json_object_get(inst, "cps"), i);
                json_object_set(cp, "cpd", json_object_get(want, "cpd"));
                if (jstr(want, "port_id"))
                        json_object_set_new(cp, "reserved", json_true()); /* the NS deletes it */
        }
        stored = json_pack("{s:O, s:O, s:O, s:O}", "index", json_object_get(inst, "index"), "name",
                           json_object_get(container, "name"), "container_id", json_object_get(container, "id"), "cps", cps);
        json_array_append_new(json_object_get(rv, "instances"), stored);
        json_object_set_new(rv, "count", json_integer(json_array_size(json_object_get(rv, "instances"))));
        r = sf_vnfm_vnf_save(tx, rec, e);
        if (r < 0)
                return r;
        created_add(c, "container", container);
        progress_add(c, 1, 0);
        if (jstr(container, "node_id"))
                op_log(c, "container '%s' placed", jstr(container, "name"));
        else
                op_log(c, "container '%s' is Pending: %s", jstr(container, "name"),
                       jstr(json_object_get(container, "status"), "message") ?: "");
        r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* Creates insts (see new_instances; each with "vnf_id"), rendering day-0 content against the
 * NS as it will be once they exist; the caller then waits until they run. */
static int create_instances(struct opctx *c, json_t *plan, json_t *insts, uint64_t deadline, sf_err *e)
{
        json_auto_t *vnfs = NULL, *future = NULL, *ctx = NULL, *nets = nets_info(c), *ids = NULL;
        json_t *inst;
        size_t i;
        int r;

        if (json_is_true(json_object_get(plan, "needs_ips")) && json_array_size(insts) > 0) {
                op_step(c, "reserving ports");
                r = reserve_ports(c, insts, e);
                if (r < 0)
                        return r;
        }
        r = load_vnfs(c, &vnfs, e);
        if (r < 0)
                return r;
        future = records_with(vnfs, insts);
        ctx = nfvo_context(plan, jstr(c->ns, "name"), jstr(c->ns, "id"), nets, future);
        json_array_foreach(insts, i, inst) {
                if (stopping(c, e))
                        return -ECANCELED;
                op_step(c, "creating container '%s' (%zu of %zu)", jstr(inst, "name"), i + 1, json_array_size(insts));
                r = create_instance(c, plan, inst, ctx, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "container '%s'", jstr(inst, "name"));
        }
        ids = created_ids(c, "container");
        op_step(c, "waiting for %zu VDU instance%s to run", json_array_size(ids), json_array_size(ids) == 1 ? "" : "s");
        r = commit_progress(c, e);
        if (r < 0)
                return r;
        return 0;
}

static void wait_progress(void *u, size_t running, size_t total)
{
        struct opctx *c = u;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_object_set_new(json_object_get(c->op, "progress"), "step",
                            json_string(running == total ? "all VDU instances are Running" : "waiting for VDU instances to run"));
        json_object_set_new(json_object_get(c->op, "progress"), "running",
                            json_pack("{s:I, s:I}", "done", (json_int_t) running, "total", (json_int_t) total));
        if (commit_progress(c, &e) < 0)
                log_warn("operation '%s': progress not saved: %s, ignoring", jstr(c->op, "name"), sf_err_msg(&e));
}

static int wait_running(struct opctx *c, json_t *ids, uint64_t deadline, sf_err *e)
{
        int r = sf_vnfm_wait_running(c->n->vnfm, ids, deadline, &c->n->stopping, wait_progress, c, e);
        if (r < 0)
                return r;
        progress_add(c, 1, 0);
        return 0;
}

static void note_forced(void *u, const char *msg)
{
        op_log(u, "%s", msg);
}

static int delete_containers(struct opctx *c, json_t *ids, sf_err *e)
{
        if (json_array_size(ids) == 0)
                return 0;
        return sf_vnfm_vdu_delete(c->n->vnfm, ids, sf_vnfm_delete_timeout_ms(c->n->vnfm), &c->n->stopping, note_forced,
                                  c, e);
}

/* Drops from the NS's VNF records the instances whose container is gone, and the records
 * listed in drop (ids). */
static int prune_records(struct opctx *c, json_t *drop, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *list = NULL;
        json_t *rec, *rv, *x;
        size_t i, j, k;
        sf_rd rd;
        int r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_vnfm_vnfs_of(&rd, jstr(c->ns, "id"), &list, e);
        if (r < 0)
                return r;
        json_array_foreach(list, i, rec) {
                bool changed = false, dropped = false;
                json_array_foreach(drop, k, x)
                        dropped |= STREQ(json_string_value(x), jstr(rec, "id"));
                if (dropped) {
                        r = sf_vnfm_vnf_delete(tx, jstr(rec, "id"), e);
                        if (r < 0)
                                return r;
                        continue;
                }
                json_array_foreach(json_object_get(rec, "vdus"), j, rv) {
                        json_t *insts = json_object_get(rv, "instances");
                        for (k = 0; k < json_array_size(insts);) {
                                json_auto_t *cont = NULL;
                                if (sf_res_get(&rd, "container", jstr(json_array_get(insts, k), "container_id") ?: "-", &cont,
                                               NULL) == -ENOENT) {
                                        json_array_remove(insts, k);
                                        changed = true;
                                } else
                                        k++;
                        }
                        json_object_set_new(rv, "count", json_integer(json_array_size(insts)));
                }
                if (changed) {
                        r = sf_vnfm_vnf_save(tx, rec, e);
                        if (r < 0)
                                return r;
                }
        }
        r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* ---- rollback ---- */

/* Undoes what the operation created, newest first: containers, then VNF records, then
 * networks. */
static int rollback(struct opctx *c, sf_err *e)
{
        json_auto_t *ids = created_ids(c, "container"), *recs = created_ids(c, "vnf_instance");
        json_auto_t *ports = created_ids(c, "port");
        json_t *created = json_object_get(c->op, "created");
        int r;

        op_step(c, "rollback: deleting %zu container%s", json_array_size(ids), json_array_size(ids) == 1 ? "" : "s");
        r = commit_progress(c, e);
        if (r >= 0)
                r = delete_containers(c, ids, e);
        if (r >= 0)
                r = delete_ports(c, ports, e);
        if (r >= 0)
                r = prune_records(c, recs, e);
        if (r < 0)
                return r;
        for (size_t i = json_array_size(created); i > 0; i--) {
                json_t *x = json_array_get(created, i - 1);
                if (!STREQ(jstr(x, "kind"), "network"))
                        continue;
                if (stopping(c, e))
                        return -ECANCELED;
                op_step(c, "rollback: deleting network '%s'", jstr(x, "name"));
                r = delete_network(c, jstr(x, "id"), e);
                if (r < 0)
                        return r;
        }
        if (STREQ(jstr(c->op, "operation"), "INSTANTIATE"))
                json_object_set_new(c->ns, "virtual_links", json_array()); /* existing networks it used */
        return 0;
}

/* Records the error; rolls back when asked; ends in ROLLED_BACK or FAILED. */
static void fail(struct opctx *c, sf_err *cause, bool undo)
{
        _cleanup_err_ sf_err re = SF_ERR_INIT;
        const char *step = jstr(json_object_get(c->op, "progress"), "step");
        json_t *err;

        if (!json_is_object(json_object_get(c->op, "error"))) {
                err = json_pack("{s:s, s:s?, s:s?}", "message", sf_err_msg(cause), "field", cause->field, "step", step);
                json_object_set_new(err, "status", json_integer(cause->code == -EINVAL   ? 400
                                                                : cause->code == -ETIMEDOUT ? 504
                                                                : cause->code == -ENOSPC    ? 409
                                                                : cause->code == -EEXIST    ? 409
                                                                                            : 500));
                json_object_set_new(c->op, "error", err);
                op_log(c, "failed: %s", sf_err_msg(cause));
        }
        if (undo) {
                if (STREQ(jstr(c->op, "state"), OP_PROCESSING)) {
                        set_state(c, OP_ROLLING_BACK);
                        if (commit_progress(c, &re) < 0)
                                log_error("operation '%s': %s", jstr(c->op, "name"), sf_err_msg(&re));
                }
                if (rollback(c, &re) < 0) {
                        if (re.code == -ECANCELED)
                                return; /* resumed at the next start */
                        json_object_set_new(json_object_get(c->op, "error"), "rollback_error", json_string(sf_err_msg(&re)));
                        op_log(c, "rollback failed: %s", sf_err_msg(&re));
                        set_state(c, OP_FAILED);
                } else {
                        op_log(c, "rolled back");
                        set_state(c, OP_ROLLED_BACK);
                }
        } else
                set_state(c, OP_FAILED);
        sf_err_clear(&re);
        if (commit_progress(c, &re) < 0)
                log_error("operation '%s': final state not saved: %s", jstr(c->op, "name"), sf_err_msg(&re));
}

static void complete(struct opctx *c)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_object_set_new(json_object_get(c->op, "progress"), "step", json_string("done"));
        op_log(c, "completed");
        set_state(c, OP_COMPLETED);
        if (commit_progress(c, &e) < 0)
                log_error("operation '%s': final state not saved: %s", jstr(c->op, "name"), sf_err_msg(&e));
}

/* ---- the operations ---- */

static uint64_t deadline_of(struct opctx *c)
{
        json_t *t = json_object_get(json_object_get(c->op, "params"), "timeout");
        uint64_t s = json_is_integer(t) ? (uint64_t) json_integer_value(t) : c->n->op_timeout_s;
        return sf_now_usec() + s * 1000000;
}

static int instantiate(struct opctx *c, sf_err *e)
{
        json_auto_t *plan = NULL, *insts = json_array(), *ids = NULL, *none = json_object();
        uint64_t deadline = deadline_of(c);
        json_t *pnet, *pv, *pd;
        size_t i, j, total = 0, n_nets = 0;
        int r;

        op_step(c, "planning");
        r = load_plan(c, &plan, e);
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(plan, "notes"), i, pnet)
                op_log(c, "note: %s", json_string_value(pnet));
        json_array_foreach(json_object_get(plan, "networks"), i, pnet)
                n_nets += !json_is_true(json_object_get(pnet, "external"));
        json_array_foreach(json_object_get(plan, "vnfs"), i, pv)
                json_array_foreach(json_object_get(pv, "vdus"), j, pd)
                        total += json_integer_value(json_object_get(pd, "count"));
        progress_add(c, 0, (int64_t) (n_nets + total + 1));

        json_object_set_new(c->ns, "virtual_links", json_array());
        json_array_foreach(json_object_get(plan, "networks"), i, pnet) {
                if (stopping(c, e))
                        return -ECANCELED;
                if (json_is_true(json_object_get(pnet, "external"))) {
                        r = use_external_network(c, pnet, e);
                } else {
                        op_step(c, "creating network '%s' for virtual link '%s'", jstr(pnet, "name"), jstr(pnet, "vl"));
                        r = create_network(c, pnet, e);
                        if (r < 0)
                                sf_err_prefix(e, "network '%s' for virtual link '%s'", jstr(pnet, "name"), jstr(pnet, "vl"));
                }
                if (r < 0)
                        return r;
        }

        /* The VNF instance records, empty; instances are added as their containers are made. */
        {
                _cleanup_tx_ sf_tx *tx = NULL;
                r = sf_tx_begin(c->n->store, &tx, e);
                if (r < 0)
                        return r;
                json_array_foreach(json_object_get(plan, "vnfs"), i, pv) {
                        json_auto_t *rec = NULL, *vdus = json_array(), *levels = json_object();
                        json_t *a;
                        json_array_foreach(json_object_get(pv, "vdus"), j, pd)
                                json_array_append_new(vdus, json_pack("{s:O, s:O, s:O?, s:i, s:O, s:O, s:[]}", "id",
                                                                      json_object_get(pd, "id"), "kind", json_object_get(pd, "kind"),
                                                                      "image",
                                                                      json_object_get(json_object_get(pd, "over"), "image")
                                                                              ?: json_object_get(json_object_get(pd, "model"), "image"),
                                                                      "count", 0, "min", json_object_get(pd, "min"), "max",
                                                                      json_object_get(pd, "max"), "instances"));
                        json_array_foreach(json_object_get(pv, "aspects"), j, a)
                                json_object_set_new(levels, jstr(a, "id"), json_integer(0));
                        rec = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O?, s:O?, s:O?, s:O, s:O, s:s}", "name",
                                        json_object_get(pv, "name"), "ns_instance_id", json_object_get(c->ns, "id"), "ns",
                                        json_object_get(c->ns, "name"), "member_vnf_index", json_object_get(pv, "member"),
                                        "vnfd", json_object_get(pv, "vnfd"), "vnfd_ref", json_object_get(pv, "vnfd_ref"),
                                        "flavour", json_object_get(pv, "flavour"), "instantiation_level",
                                        json_object_get(pv, "level"), "site", json_object_get(pv, "site"), "node",
                                        json_object_get(pv, "node"), "scale_levels", levels, "vdus", vdus, "state",
                                        "STARTED");
                        r = sf_vnfm_vnf_insert(tx, rec, e);
                        if (r == -EEXIST)
                                return sf_err_set(e, -EEXIST, NULL, "a VNF instance named '%s' exists already",
                                                  jstr(rec, "name"));
                        if (r < 0)
                                return r;
                        created_add(c, "vnf_instance", rec);
                        json_array_foreach(json_object_get(pv, "vdus"), j, pd) {
                                size_t before = json_array_size(insts), k;
                                new_instances(c, pv, pd, none, json_integer_value(json_object_get(pd, "count")), insts);
                                for (k = before; k < json_array_size(insts); k++)
                                        json_object_set(json_array_get(insts, k), "vnf_id", json_object_get(rec, "id"));
                        }
                }
                r = save(tx, c, e);
                if (r >= 0)
                        r = sf_tx_commit(TAKE_PTR(tx), e);
                if (r < 0)
                        return r;
        }
        r = create_instances(c, plan, insts, deadline, e);
        if (r < 0)
                return r;
        ids = created_ids(c, "container");
        r = wait_running(c, ids, deadline, e);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *ts = now_ts();
                json_object_set_new(c->ns, "state", json_string("INSTANTIATED"));
                json_object_set_new(c->ns, "instantiated_at", json_string(ts));
        }
        return 0;
}

static int scale(struct opctx *c, sf_err *e)
{
        json_t *params = json_object_get(c->op, "params"), *rv, *pd, *x;
        const char *member = jstr(params, "vnf"), *aspect = jstr(params, "aspect");
        int64_t steps = json_integer_value(json_object_get(params, "steps")), level, new_level;
        json_auto_t *plan = NULL, *vnfs = NULL, *counts = NULL, *now = json_array(), *insts = json_array(), *ids = NULL;
        json_t *rec, *pv;
        uint64_t deadline = deadline_of(c);
        size_t i, j;
        int r;

        if (STREQ(jstr(params, "direction") ?: "out", "in"))
                steps = -steps;
        op_step(c, "planning");
        r = load_plan(c, &plan, e);
        if (r >= 0)
                r = load_vnfs(c, &vnfs, e);
        if (r < 0)
                return r;
        rec = json_object_get(vnfs, member);
        pv = plan_vnf(plan, member);
        if (!rec || !pv)
                return sf_err_set(e, -EINVAL, "vnf", "NS '%s' has no VNF with member-vnf-index '%s'", jstr(c->ns, "name"),
                                  member);
        json_array_foreach(json_object_get(rec, "vdus"), i, rv)
                json_array_append_new(now, json_pack("{s:O, s:I, s:O, s:O}", "id", json_object_get(rv, "id"), "count",
                                                     (json_int_t) json_array_size(json_object_get(rv, "instances")), "min",
                                                     json_object_get(rv, "min"), "max", json_object_get(rv, "max")));
        level = json_integer_value(json_object_get(json_object_get(rec, "scale_levels"), aspect));
        r = sf_vnfm_scale_plan(json_object_get(pv, "aspects"), now, aspect, level, steps, &counts, &new_level, e);
        if (r < 0)
                return r;

        if (steps > 0) {
                json_array_foreach(json_object_get(rec, "vdus"), i, rv) {
                        json_t *want = json_object_get(counts, jstr(rv, "id"));
                        size_t before = json_array_size(insts), k;
                        if (!want)
                                continue;
                        pd = find_id(json_object_get(pv, "vdus"), "id", jstr(rv, "id"));
                        new_instances(c, pv, pd, rv,
                                      json_integer_value(want) - (json_int_t) json_array_size(json_object_get(rv, "instances")),
                                      insts);
                        for (k = before; k < json_array_size(insts); k++)
                                json_object_set(json_array_get(insts, k), "vnf_id", json_object_get(rec, "id"));
                }
                progress_add(c, 0, (int64_t) json_array_size(insts) + 1);
                r = create_instances(c, plan, insts, deadline, e);
                if (r >= 0) {
                        ids = created_ids(c, "container");
                        r = wait_running(c, ids, deadline, e);
                }
                if (r < 0)
                        return r;
        } else {
                /* The newest instances go first: the highest indices. */
                json_auto_t *removing = json_array(), *removing_ports = json_array();
                json_array_foreach(json_object_get(rec, "vdus"), i, rv) {
                        json_t *want = json_object_get(counts, jstr(rv, "id")), *list = json_object_get(rv, "instances");
                        int64_t drop;
                        if (!want)
                                continue;
                        drop = (int64_t) json_array_size(list) - json_integer_value(want);
                        while (drop-- > 0) {
                                size_t best = 0;
                                json_array_foreach(list, j, x)
                                        if (json_integer_value(json_object_get(x, "index")) >
                                            json_integer_value(json_object_get(json_array_get(list, best), "index")))
                                                best = j;
                                json_array_append(removing, json_object_get(json_array_get(list, best), "container_id"));
                                reserved_ports_of(json_array_get(list, best), removing_ports);
                                op_log(c, "removing container '%s'", jstr(json_array_get(list, best), "name"));
                                json_array_remove(list, best);
                        }
                }
                json_object_set(c->op, "removing", removing);
                json_object_set(c->op, "removing_ports", removing_ports);
                progress_add(c, 0, 2);
                op_step(c, "deleting %zu container%s", json_array_size(removing), json_array_size(removing) == 1 ? "" : "s");
                r = commit_progress(c, e);
                if (r >= 0)
                        r = delete_containers(c, removing, e);
                if (r >= 0)
                        r = delete_ports(c, removing_ports, e);
                if (r >= 0)
                        r = prune_records(c, NULL, e);
                if (r < 0)
                        return r;
                progress_add(c, 1, 0);
        }
        /* The new level, with the records as they are now. */
        {
                _cleanup_tx_ sf_tx *tx = NULL;
                json_auto_t *cur = NULL;
                sf_rd rd;
                r = sf_tx_begin(c->n->store, &tx, e);
                if (r < 0)
                        return r;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, "vnf_instance", jstr(rec, "id"), &cur, e);
                if (r < 0)
                        return r;
                json_object_set_new(json_object_get(cur, "scale_levels"), aspect, json_integer(new_level));
                op_log(c, "VNF '%s' aspect '%s' at level %" PRId64, member, aspect, new_level);
                r = sf_vnfm_vnf_save(tx, cur, e);
                if (r >= 0)
                        r = save(tx, c, e);
                if (r >= 0)
                        r = sf_tx_commit(TAKE_PTR(tx), e);
                if (r < 0)
                        return r;
        }
        if (steps < 0)
                progress_add(c, 1, 0);
        return 0;
}

/* Completes an interrupted scale-in: the containers it was removing. */
static int scale_in_resume(struct opctx *c, sf_err *e)
{
        int r = delete_containers(c, json_object_get(c->op, "removing"), e);
        if (r >= 0)
                r = delete_ports(c, json_object_get(c->op, "removing_ports"), e);
        if (r >= 0)
                r = prune_records(c, NULL, e);
        return r;
}

static int terminate(struct opctx *c, sf_err *e)
{
        json_auto_t *vnfs = NULL, *ids = json_array(), *recs = json_array(), *vls = NULL, *ports = json_array();
        json_t *rec, *rv, *inst, *vl;
        const char *k;
        size_t i, j, n_nets = 0;
        int r;

        r = load_vnfs(c, &vnfs, e);
        if (r < 0)
                return r;
        json_object_foreach(vnfs, k, rec) {
                json_array_append(recs, json_object_get(rec, "id"));
                json_array_foreach(json_object_get(rec, "vdus"), i, rv)
                        json_array_foreach(json_object_get(rv, "instances"), j, inst) {
                                json_array_append(ids, json_object_get(inst, "container_id"));
                                reserved_ports_of(inst, ports);
                        }
        }
        vls = json_deep_copy(json_object_get(c->ns, "virtual_links"));
        json_array_foreach(vls, i, vl)
                n_nets += !json_is_true(json_object_get(vl, "external"));
        json_object_set_new(json_object_get(c->op, "progress"), "done", json_integer(0));
        json_object_set_new(json_object_get(c->op, "progress"), "total", json_integer((json_int_t) (2 + n_nets)));
        op_step(c, "deleting %zu container%s", json_array_size(ids), json_array_size(ids) == 1 ? "" : "s");
        r = commit_progress(c, e);
        if (r >= 0)
                r = delete_containers(c, ids, e);
        if (r >= 0)
                r = delete_ports(c, ports, e);
        if (r >= 0)
                r = prune_records(c, recs, e);
        if (r < 0)
                return r;
        progress_add(c, 1, 0);
        for (i = json_array_size(vls); i > 0; i--) {
                vl = json_array_get(vls, i - 1);
                if (stopping(c, e))
                        return -ECANCELED;
                if (json_is_true(json_object_get(vl, "external"))) {
                        json_t *cur = json_object_get(c->ns, "virtual_links"), *x;
                        json_array_foreach(cur, j, x)
                                if (STREQ(jstr(x, "key"), jstr(vl, "key"))) {
                                        json_array_remove(cur, j);
                                        break;
                                }
                        continue;
                }
                op_step(c, "deleting network '%s'", jstr(vl, "network"));
                r = delete_network(c, jstr(vl, "network_id"), e);
                if (r < 0)
                        return r;
                progress_add(c, 1, 0);
        }
        json_object_set_new(c->ns, "state", json_string("NOT_INSTANTIATED"));
        json_object_set_new(c->ns, "instantiated_at", json_null());
        json_object_set_new(c->ns, "virtual_links", json_array());
        progress_add(c, 1, 0);
        return 0;
}

/* ---- move ---- */

/* Whether an instance is one the move's params select. */
static bool move_selects(json_t *params, json_t *rv, json_t *inst)
{
        return (!jstr(params, "vdu") || STREQ(jstr(params, "vdu"), jstr(rv, "id"))) &&
               (!jstr(params, "instance") || STREQ(jstr(params, "instance"), jstr(inst, "name") ?: ""));
}

/* The site (and node, when to names one) a move goes to. */
static int move_target(sf_nfvo *n, const char *to, char **ret_site, char **ret_node, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *node = NULL, *site = NULL;
        sf_rd_get(n->store, &rd);
        if (sf_res_get(&rd, "node", to, &node, NULL) >= 0) {
                if (sf_res_get(&rd, "site", jstr(node, "site_id") ?: "-", &site, NULL) < 0)
                        return sf_err_set(e, -EINVAL, "to", "node '%s' is in no site", to);
                *ret_node = xstrdup(jstr(node, "name"));
        } else if (sf_res_get(&rd, "site", to, &site, NULL) < 0)
                return sf_err_set(e, -EINVAL, "to", "'%s' is neither a node nor a site", to);
        *ret_site = xstrdup(jstr(site, "name"));
        return 0;
}

/* Where a container runs: its node's name and its site's name (either may be NULL). */
static void container_place(sf_nfvo *n, const char *id, char **ret_node, char **ret_site)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *c = NULL, *node = NULL, *site = NULL;
        sf_rd_get(n->store, &rd);
        if (sf_res_get(&rd, "container", id, &c, NULL) < 0 || !jstr(c, "node_id") ||
            sf_res_get(&rd, "node", jstr(c, "node_id"), &node, NULL) < 0)
                return;
        *ret_node = xstrdup(jstr(node, "name"));
        if (sf_res_get(&rd, "site", jstr(node, "site_id") ?: "-", &site, NULL) >= 0)
                *ret_site = xstrdup(jstr(site, "name"));
}

/* The new instance's day-0 content, rendered for where it goes (make-before-break only: a
 * handover keeps the instance as it is). */
static int move_spec(struct opctx *c, json_t *pv, json_t *rv, json_t *inst, json_t *ctx, const char *kind, json_t **ret,
                     sf_err *e)
{
        json_t *pd = find_id(json_object_get(pv, "vdus"), "id", jstr(rv, "id")), *cp, *f;
        json_auto_t *files = NULL, *self_cps = json_array();
        size_t i;
        int r;
        *ret = NULL;
        if (!pd)
                return 0;
        json_array_foreach(json_object_get(inst, "cps"), i, cp)
                json_array_append_new(self_cps, json_pack("{s:O?, s:O?}", "cpd", json_object_get(cp, "cpd"), "ip",
                                                          json_object_get(cp, "ip")));
        r = nfvo_day0_files(pd, ctx, jstr(pv, "member"), jstr(pv, "name"), jstr(inst, "name"),
                            json_integer_value(json_object_get(inst, "index")), self_cps, &files, e);
        if (r < 0 || json_array_size(files) == 0)
                return r;
        if (STREQ(kind ?: "", "vm")) { /* a VM gets its day-0 as cloud-init user-data */
                json_array_foreach(files, i, f)
                        if (STREQ(jstr(f, "path") ?: "", "/etc/superfluid/cloud-init"))
                                *ret = json_pack("{s:O}", "user_data", json_object_get(f, "content"));
                return 0;
        }
        *ret = json_pack("{s:O}", "files", files);
        return 0;
}

/* After a make-before-break move the instance is a new container with new ports: the record
 * follows, and the ports the NS had reserved for the old one go. */
static int move_record(struct opctx *c, const char *vnf_id, const char *vdu, int64_t index, const char *new_id,
                       json_t *old_reserved, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *rec = NULL, *nc = NULL, *cps = NULL;
        json_t *inst, *cp;
        size_t i;
        sf_rd rd;
        int r = sf_tx_begin(c->n->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "vnf_instance", vnf_id, &rec, e);
        if (r >= 0)
                r = sf_res_get(&rd, "container", new_id, &nc, e);
        if (r >= 0)
                r = sf_vnfm_vdu_cps(&rd, nc, &cps, e);
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(rec_vdu(rec, vdu), "instances"), i, inst) {
                json_t *old_cps;
                size_t k;
                if (json_integer_value(json_object_get(inst, "index")) != index)
                        continue;
                old_cps = json_object_get(inst, "cps");
                json_array_foreach(cps, k, cp)
                        json_object_set(cp, "cpd", json_object_get(json_array_get(old_cps, k), "cpd"));
                reserved_ports_of(inst, old_reserved);
                json_object_set(inst, "container_id", json_object_get(nc, "id"));
                json_object_set(inst, "name", json_object_get(nc, "name"));
                json_object_set(inst, "cps", cps);
        }
        r = sf_vnfm_vnf_save(tx, rec, e);
        if (r >= 0)
                r = save(tx, c, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

/* MOVE: the selected VDU instances of one VNF go to another site or node, one after the
 * other, each with its strategy (the VIM's moves). A make-before-break instance gets its day-0
 * content rendered for its new place ({{self.site}}, {{vnf.<member>.site}}). When the whole
 * VNF moved, the NS's parameters place it there from now on (later scale-outs, day-0 of
 * others). A failed move leaves that instance where it was (the VIM rolls back) and ends the
 * operation FAILED; instances moved before it stay moved. */
static int move_op(struct opctx *c, sf_err *e)
{
        json_t *params = json_object_get(c->op, "params"), *rec, *pv, *rv, *inst;
        const char *member = jstr(params, "vnf"), *to = jstr(params, "to");
        json_auto_t *plan = NULL, *vnfs = NULL, *ctx = NULL, *nets = nets_info(c), *moves = json_array();
        _cleanup_free_ char *site = NULL, *node = NULL;
        uint64_t deadline = deadline_of(c);
        size_t i, j, total = 0;
        int r;

        op_step(c, "planning");
        r = move_target(c->n, to, &site, &node, e);
        if (r >= 0)
                r = load_plan(c, &plan, e);
        if (r >= 0)
                r = load_vnfs(c, &vnfs, e);
        if (r < 0)
                return r;
        rec = json_object_get(vnfs, member);
        pv = plan_vnf(plan, member);
        if (!rec || !pv)
                return sf_err_set(e, -EINVAL, "vnf", "NS '%s' has no VNF with member-vnf-index '%s'", jstr(c->ns, "name"),
                                  member);
        /* the day-0 context as it will be: this VNF at its new place */
        json_object_set_new(pv, "site", json_string(site));
        json_object_set_new(pv, "node", node ? json_string(node) : json_null());
        ctx = nfvo_context(plan, jstr(c->ns, "name"), jstr(c->ns, "id"), nets, vnfs);
        json_array_foreach(json_object_get(rec, "vdus"), i, rv)
                json_array_foreach(json_object_get(rv, "instances"), j, inst)
                        total += move_selects(params, rv, inst);
        progress_add(c, 0, (int64_t) total + 1);
        json_object_set(c->op, "moves", moves);
        json_array_foreach(json_object_get(rec, "vdus"), i, rv) {
                json_array_foreach(json_object_get(rv, "instances"), j, inst) {
                        _cleanup_free_ char *at_node = NULL, *at_site = NULL;
                        json_auto_t *req = NULL, *spec = NULL, *mv = NULL, *done = NULL, *old_reserved = json_array();
                        json_auto_t *cur = NULL;
                        const char *strategy = jstr(params, "strategy");
                        if (!move_selects(params, rv, inst))
                                continue;
                        if (stopping(c, e))
                                return -ECANCELED;
                        container_place(c->n, jstr(inst, "container_id"), &at_node, &at_site);
                        if ((node && at_node && STREQ(node, at_node)) || (!node && at_site && STREQ(site, at_site))) {
                                op_log(c, "'%s' is in %s '%s' already", jstr(inst, "name"), node ? "node" : "site", to);
                                progress_add(c, 1, 0);
                                continue;
                        }
                        {
                                _cleanup_rd_ sf_rd rd = { 0 };
                                sf_rd_get(c->n->store, &rd);
                                if (sf_res_get(&rd, "container", jstr(inst, "container_id"), &cur, e) < 0)
                                        return sf_err_wrap(-ENOENT, e, "VDU instance '%s'", jstr(inst, "name"));
                        }
                        if (!strategy)
                                strategy = jstr(cur, "move_strategy") ?: "make-before-break";
                        req = json_pack("{s:s, s:s}", "to", to, "strategy", strategy);
                        if (json_object_get(params, "timeout"))
                                json_object_set(req, "timeout", json_object_get(params, "timeout"));
                        if (json_object_get(params, "drain_seconds"))
                                json_object_set(req, "drain_seconds", json_object_get(params, "drain_seconds"));
                        if (STREQ(strategy, "make-before-break")) {
                                r = move_spec(c, pv, rv, inst, ctx, jstr(cur, "kind"), &spec, e);
                                if (r < 0)
                                        return sf_err_wrap(r, e, "day-0 of '%s'", jstr(inst, "name"));
                                if (spec)
                                        json_object_set(req, "spec", spec);
                        }
                        op_step(c, "moving '%s' from %s to %s (%s)", jstr(inst, "name"), at_site ? at_site : "?", to,
                                strategy);
                        r = commit_progress(c, e);
                        if (r >= 0)
                                r = sf_vnfm_vdu_move(c->n->vnfm, jstr(inst, "container_id"), req, &mv, e);
                        if (r < 0)
                                return sf_err_wrap(r, e, "move '%s'", jstr(inst, "name"));
                        op_log(c, "move '%s' of '%s' started", jstr(mv, "name"), jstr(inst, "name"));
                        r = sf_vnfm_move_wait(c->n->vnfm, jstr(mv, "id"), deadline, &c->n->stopping, &done, e);
                        if (r < 0)
                                return sf_err_wrap(r, e, "move '%s' of '%s'", jstr(mv, "name"), jstr(inst, "name"));
                        json_array_append_new(json_object_get(c->op, "moves"),
                                              json_pack("{s:O, s:O, s:O, s:O, s:O?, s:O?, s:O?}", "instance",
                                                        json_object_get(inst, "name"), "move", json_object_get(done, "name"),
                                                        "strategy", json_object_get(done, "strategy"), "state",
                                                        json_object_get(done, "state"), "gap_ms",
                                                        json_object_get(done, "gap_ms"), "total_ms",
                                                        json_object_get(done, "total_ms"), "error",
                                                        json_object_get(done, "error")));
                        if (!STREQ(jstr(done, "state") ?: "", "COMPLETED"))
                                return sf_err_set(e, -EIO, NULL, "move '%s' of '%s' %s: %s (it keeps running in %s)",
                                                  jstr(done, "name"), jstr(inst, "name"), jstr(done, "state"),
                                                  jstr(done, "error") ?: "", at_site ? at_site : "its site");
                        if (jstr(done, "new_workload_id")) {
                                r = move_record(c, jstr(rec, "id"), jstr(rv, "id"),
                                                json_integer_value(json_object_get(inst, "index")),
                                                jstr(done, "new_workload_id"), old_reserved, e);
                                if (r >= 0)
                                        r = delete_ports(c, old_reserved, e);
                                if (r < 0)
                                        return sf_err_wrap(r, e, "records of '%s'", jstr(inst, "name"));
                        }
                        if (json_is_number(json_object_get(done, "gap_ms")))
                                op_log(c, "'%s' runs in %s (%s, gap %.1f ms)", jstr(inst, "name"), to, strategy,
                                       json_number_value(json_object_get(done, "gap_ms")));
                        else
                                op_log(c, "'%s' runs in %s (%s)", jstr(inst, "name"), to, strategy);
                        progress_add(c, 1, 0);
                        r = commit_progress(c, e);
                        if (r < 0)
                                return r;
                }
        }
        /* The whole VNF moved: it belongs there from now on. */
        if (!jstr(params, "vdu") && !jstr(params, "instance")) {
                json_t *cfg = json_object_get(c->ns, "config"), *vc;
                if (!json_is_object(json_object_get(cfg, "vnf")))
                        json_object_set_new(cfg, "vnf", json_object());
                vc = json_object_get(json_object_get(cfg, "vnf"), member);
                if (!vc) {
                        vc = json_object();
                        json_object_set_new(json_object_get(cfg, "vnf"), member, vc);
                }
                json_object_set_new(vc, "site", json_string(site));
                json_object_set_new(vc, "node", node ? json_string(node) : json_null());
                op_log(c, "VNF '%s' is placed in %s '%s' from now on", member, node ? "node" : "site", node ? node : site);
        }
        progress_add(c, 1, 0);
        return 0;
}

/* ---- running ---- */

static bool is_undoable(json_t *op)
{
        const char *t = jstr(op, "operation");
        return STREQ(t, "INSTANTIATE") ||
               (STREQ(t, "SCALE") && !STREQ(jstr(json_object_get(op, "params"), "direction") ?: "out", "in"));
}

static void run(struct opctx *c)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        const char *type, *state;
        int r;

        sf_rd_get(c->n->store, &rd);
        if (sf_res_get(&rd, "ns_lcm_op_occ", c->op_id, &c->op, &e) < 0 ||
            sf_res_get(&rd, "ns_instance", jstr(c->op, "ns_instance_id"), &c->ns, &e) < 0) {
                log_error("operation %s: %s", c->op_id, sf_err_msg(&e));
                return;
        }
        sf_rd_put(&rd);
        type = jstr(c->op, "operation");
        state = jstr(c->op, "state");

        if (STREQ(state, OP_ROLLING_BACK)) { /* interrupted during a rollback */
                op_log(c, "resuming the rollback");
                fail(c, &e, true);
                return;
        }
        if (json_is_true(json_object_get(c->op, "resumed"))) {
                if (is_undoable(c->op)) {
                        sf_err_set(&e, -EINTR, NULL, "sfd stopped during the operation");
                        fail(c, &e, true);
                        return;
                }
                op_log(c, "resuming");
        }
        if (STREQ(type, "INSTANTIATE"))
                r = instantiate(c, &e);
        else if (STREQ(type, "SCALE"))
                r = json_is_array(json_object_get(c->op, "removing")) ? scale_in_resume(c, &e) : scale(c, &e);
        else if (STREQ(type, "TERMINATE"))
                r = terminate(c, &e);
        else if (STREQ(type, "MOVE"))
                r = move_op(c, &e);
        else
                r = sf_err_set(&e, -EINVAL, NULL, "unknown operation '%s'", type);
        if (r == -ECANCELED && c->n->stopping) {
                op_log(c, "interrupted: sfd is stopping (resumed at the next start)");
                _cleanup_err_ sf_err se = SF_ERR_INIT;
                json_object_set_new(c->op, "resumed", json_true());
                if (commit_progress(c, &se) < 0)
                        log_warn("operation '%s': %s, ignoring", jstr(c->op, "name"), sf_err_msg(&se));
                return;
        }
        if (r < 0) {
                fail(c, &e, is_undoable(c->op));
                return;
        }
        complete(c);
}

static void *op_thread(void *u)
{
        struct opctx *c = u;
        sf_nfvo *n = c->n;
        run(c);
        json_decref(c->op);
        json_decref(c->ns);
        free(c->op_id);
        free(c);
        pthread_mutex_lock(&n->lock);
        n->running--;
        pthread_cond_broadcast(&n->cond);
        pthread_mutex_unlock(&n->lock);
        return NULL;
}

void nfvo_op_spawn(sf_nfvo *n, const char *op_id)
{
        struct opctx *c = new0(struct opctx, 1);
        pthread_attr_t attr;
        pthread_t t;
        int r;
        c->n = n;
        c->op_id = xstrdup(op_id);
        pthread_mutex_lock(&n->lock);
        if (n->stopping) { /* it stays PROCESSING and is resumed at the next start */
                pthread_mutex_unlock(&n->lock);
                free(c->op_id);
                free(c);
                return;
        }
        n->running++;
        pthread_mutex_unlock(&n->lock);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &attr, op_thread, c);
        pthread_attr_destroy(&attr);
        if (r) {
                log_error("operation %s: cannot start a thread: %s", op_id, strerror(r));
                free(c->op_id);
                free(c);
                pthread_mutex_lock(&n->lock);
                n->running--;
                pthread_cond_broadcast(&n->cond);
                pthread_mutex_unlock(&n->lock);
        }
}

int nfvo_op_begin(sf_nfvo *n, sf_tx *tx, json_t *ns, const char *type, json_t *params, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *ts = now_ts(), *lower = xstrdup(type), *name = NULL;
        json_auto_t *op = NULL;
        char id[SF_UUID_STRLEN], shortid[9];
        int r;

        for (char *p = lower; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        sf_uuid(id);
        snprintf(shortid, sizeof(shortid), "%.8s", id);
        name = nfvo_name(jstr(ns, "name"), lower, shortid, NULL);
        op = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:O, s:s, s:s, s:n, s:{s:i, s:i, s:s}, s:n, s:[], s:[]}", "id",
                       id, "name", name, "ns_instance_id", json_object_get(ns, "id"), "ns", json_object_get(ns, "name"),
                       "operation", type, "state", OP_PROCESSING, "params", params, "start_time", ts,
                       "state_entered_time", ts, "end_time", "progress", "done", 0, "total", 0, "step", "queued",
                       "error", "created", "log");
        r = sf_res_insert(tx, "ns_lcm_op_occ", op, &(struct sf_res_cols) { .owner = jstr(ns, "id") }, e);
        if (r < 0)
                return r;
        json_object_set(ns, "operation", json_object_get(op, "id"));
        r = sf_res_update(tx, "ns_instance", ns, NULL, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(op);
        return 0;
}

/* ---- the kind ---- */

static const struct sf_kind_filter op_filters[] = {
        { "ns", SF_FILTER_OWNER, "ns_instance", NULL },
        { "operation", SF_FILTER_BODY, NULL, "operation" },
        { "state", SF_FILTER_BODY, NULL, "state" },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind nfvo_op_kind = {
        .name = "ns_lcm_op_occ",
        .plural = "ns_lcm_op_occs",
        .filters = op_filters,
        .actions = no_actions,
};

/* ---- start and stop ---- */

int sf_nfvo_start(sf_nfvo *n, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *list = NULL;
        json_t *op;
        size_t i;
        int r;

        sf_rd_get(n->store, &rd);
        r = sf_res_list(&rd, "ns_lcm_op_occ", NULL, &list, e);
        if (r < 0)
                return r;
        sf_rd_put(&rd);
        rd = (sf_rd) { 0 };
        json_array_foreach(list, i, op) {
                const char *st = jstr(op, "state");
                if (nfvo_op_terminal(st))
                        continue;
                if (STREQ(st, OP_PROCESSING) && !json_is_true(json_object_get(op, "resumed"))) {
                        /* Stopped without the chance to say so (kill -9, crash). */
                        _cleanup_tx_ sf_tx *tx = NULL;
                        json_auto_t *cur = NULL;
                        sf_rd trd;
                        r = sf_tx_begin(n->store, &tx, e);
                        if (r < 0)
                                return r;
                        sf_rd_from_tx(tx, &trd);
                        r = sf_res_get(&trd, "ns_lcm_op_occ", jstr(op, "id"), &cur, e);
                        if (r < 0)
                                return r;
                        json_object_set_new(cur, "resumed", json_true());
                        r = sf_res_update(tx, "ns_lcm_op_occ", cur, &(struct sf_res_cols) { .owner = jstr(cur, "ns_instance_id") }, e);
                        if (r >= 0)
                                r = sf_tx_commit(TAKE_PTR(tx), e);
                        if (r < 0)
                                return r;
                }
                log_info("resuming %s operation '%s' (%s)", jstr(op, "operation"), jstr(op, "name"), st);
                nfvo_op_spawn(n, jstr(op, "id"));
        }
        return 0;
}

void sf_nfvo_stop(sf_nfvo *n)
{
        if (!n)
                return;
        pthread_mutex_lock(&n->lock);
        n->stopping = true;
        while (n->running > 0)
                pthread_cond_wait(&n->cond, &n->lock);
        pthread_mutex_unlock(&n->lock);
}
