/* The VNFM's context and its VDU instances: the VM/container check, container requests for
 * VDUs, creation through the VIM, waiting until they run, deletion that cannot hang on a dead
 * node, and the vnf_instance kind (records the NFVO keeps, decorated with live status). */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vnfm/vnfm.h"

SF_LOG_MODULE("vnfm");

struct sf_vnfm {
        sf_store *store;
        sf_vim *vim;
        struct sf_kind *container_kind;
        unsigned delete_timeout_ms;
        struct sf_kind *kinds[2];
};

extern struct sf_kind vnfm_vnf_kind;

int sf_vnfm_new(sf_store *store, sf_vim *vim, const struct sf_vnfm_options *opts, sf_vnfm **ret,
                sf_err *e)
{
        sf_vnfm *m = new0(sf_vnfm, 1);
        m->store = store;
        m->vim = vim;
        m->delete_timeout_ms = opts && opts->delete_timeout_ms ? opts->delete_timeout_ms : 30000;
        for (struct sf_kind *const *k = sf_vim_kinds(vim); *k; k++)
                if (STREQ((*k)->name, "container"))
                        m->container_kind = *k;
        if (!m->container_kind) {
                free(m);
                return sf_err_set(e, -ENOENT, NULL, "the VIM serves no container kind");
        }
        vnfm_vnf_kind.ctx = m;
        m->kinds[0] = &vnfm_vnf_kind;
        *ret = m;
        return 0;
}

void sf_vnfm_free(sf_vnfm *m)
{
        free(m);
}

struct sf_kind *const *sf_vnfm_kinds(sf_vnfm *m) { return m->kinds; }
unsigned sf_vnfm_delete_timeout_ms(sf_vnfm *m) { return m->delete_timeout_ms; }

static const char *jstr(const json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

/* ---- VDUs ---- */

static bool node_has_feature(json_t *node, const char *f)
{
        json_t *x;
        size_t i;
        json_array_foreach(json_object_get(node, "features"), i, x)
                if (json_is_string(x) && STREQ(json_string_value(x), f))
                        return true;
        return false;
}

int sf_vnfm_vdu_check(sf_rd *rd, const json_t *vdu, size_t i, sf_err *e)
{
        json_auto_t *nodes = NULL;
        _cleanup_free_ char *field = xasprintf("vnfd.vdu[%zu]", i);
        json_t *n;
        size_t j;
        int r;

        if (STREQ(jstr(vdu, "kind") ?: "", "container"))
                return 0;
        /* A VM VDU runs once the VIM can run VMs: a node with QEMU. This is the only place that
         * decides it. */
        r = sf_res_list(rd, "node", NULL, &nodes, e);
        if (r < 0)
                return r;
        json_array_foreach(nodes, j, n)
                if (node_has_feature(n, "qemu"))
                        return 0;
        return sf_err_set(e, -EOPNOTSUPP, field,
                          "%s '%s': VM VDUs are not supported yet (image '%s' is container-format "
                          "'%s', not docker, and no node reports the 'qemu' feature)",
                          field, jstr(vdu, "id"), jstr(vdu, "image") ?: "", jstr(vdu, "container_format") ?: "");
}

json_t *sf_vnfm_vdu_body(const json_t *vdu, const char *name, const json_t *place, const json_t *nets,
                         const json_t *files, const json_t *env, const json_t *labels,
                         const json_t *over, int64_t vcpu_millis, int64_t stop_grace, const char *description)
{
        json_t *b = json_object();
        const char *kind = jstr(vdu, "kind") ?: "container";
        const char *image = jstr(over, "image") ?: jstr(vdu, "image");
        const char *cmd = jstr(over, "command") ?: jstr(vdu, "command");
        json_t *vcpus = json_object_get(vdu, "vcpus"), *mem = json_object_get(vdu, "memory_bytes");

        json_object_set_new(b, "name", json_string(name));
        json_object_set_new(b, "kind", json_string(kind));
        json_object_set_new(b, "image", json_string(image));
        if (description)
                json_object_set_new(b, "description", json_string(description));
        if (cmd && STREQ(kind, "container"))
                json_object_set_new(b, "command", json_pack("[s, s, s]", "/bin/sh", "-c", cmd));
        if (json_is_integer(vcpus) && json_integer_value(vcpus) > 0) {
                if (STREQ(kind, "vm"))
                        json_object_set(b, "vcpus", vcpus);
                else if (vcpu_millis > 0)
                        json_object_set_new(b, "cpu", json_integer(MIN(json_integer_value(vcpus) * vcpu_millis, 64000)));
        }
        if (json_is_integer(mem) && json_integer_value(mem) >= (4 << 20))
                json_object_set(b, "memory", mem);
        if (jstr(vdu, "host_vm") && STREQ(kind, "container")) {
                /* in a VM that hosts containers (superfluid-host-vm): the VM places it */
                json_object_set(b, "host_vm", json_object_get(vdu, "host_vm"));
                if (jstr(vdu, "nested_mode"))
                        json_object_set(b, "nested_mode", json_object_get(vdu, "nested_mode"));
        } else if (place && json_is_string(json_object_get(place, "node")))
                json_object_set(b, "node", json_object_get(place, "node"));
        else if (place && json_is_string(json_object_get(place, "site")))
                json_object_set(b, "site", json_object_get(place, "site"));
        {
                /* {"network", "ip"?}: a new port; {"port": id}: an existing one, attached. */
                json_t *n = json_array(), *p = json_array(), *x;
                size_t i;
                json_array_foreach(nets, i, x)
                        json_array_append_new(jstr(x, "port") ? p : n,
                                              jstr(x, "port") ? json_incref(json_object_get(x, "port")) : json_deep_copy(x));
                json_object_set_new(b, "networks", n);
                if (json_array_size(p))
                        json_object_set_new(b, "ports", p);
                else
                        json_decref(p);
        }
        if (STREQ(kind, "vm")) {
                /* A VM gets its day-0 as cloud-init user-data (the VIM writes the NoCloud seed);
                 * cloud-init in the guest applies write_files itself. No environment. */
                json_t *f;
                size_t i;
                json_array_foreach(files, i, f)
                        if (STREQ(jstr(f, "path") ?: "", "/etc/superfluid/cloud-init"))
                                json_object_set(b, "user_data", json_object_get(f, "content"));
        } else {
                if (files && json_array_size(files))
                        json_object_set_new(b, "files", json_deep_copy(files));
                if (env && json_object_size(env))
                        json_object_set_new(b, "env", json_deep_copy(env));
        }
        if (stop_grace >= 0)
                json_object_set_new(b, "stop_grace_seconds", json_integer(stop_grace));
        /* how it moves (the VDU's superfluid-move-strategy property; the VIM's default is
         * make-before-break) */
        if (jstr(vdu, "move_strategy"))
                json_object_set(b, "move_strategy", json_object_get(vdu, "move_strategy"));
        if (labels && json_object_size(labels))
                json_object_set_new(b, "labels", json_deep_copy(labels));
        json_object_set_new(b, "restart_policy", json_string("on-failure"));
        return b;
}

int sf_vnfm_vdu_create(sf_vnfm *m, sf_tx *tx, json_t *body, json_t **ret_container,
                       json_t **ret_cps, sf_err *e)
{
        struct sf_kind *k = m->container_kind;
        json_auto_t *c = NULL, *cps = NULL;
        sf_rd rd;
        int r;

        r = k->create(k->ctx, tx, body, &c, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_vnfm_vdu_cps(&rd, c, &cps, e);
        if (r < 0)
                return r;
        *ret_container = TAKE_PTR(c);
        *ret_cps = TAKE_PTR(cps);
        return 0;
}

int sf_vnfm_vdu_cps(sf_rd *rd, const json_t *c, json_t **ret_cps, sf_err *e)
{
        json_auto_t *cps = json_array();
        json_t *pid;
        size_t i;
        int r;

        json_array_foreach(json_object_get(c, "port_ids"), i, pid) {
                json_auto_t *port = NULL, *net = NULL;
                json_t *ip;
                r = sf_res_get(rd, "port", json_string_value(pid), &port, e);
                if (r >= 0)
                        r = sf_res_get(rd, "network", jstr(port, "network_id"), &net, e);
                if (r < 0)
                        return r;
                ip = json_object_get(json_array_get(json_object_get(port, "fixed_ips"), 0), "ip_address");
                json_array_append_new(cps, json_pack("{s:O, s:O, s:O, s:O, s:O}", "network", json_object_get(net, "name"),
                                                     "network_id", json_object_get(port, "network_id"),
                                                     "ip", ip ? ip : json_null(),
                                                     "mac", json_object_get(port, "mac_address"),
                                                     "port_id", pid));
        }
        *ret_cps = TAKE_PTR(cps);
        return 0;
}

static const struct sf_kind_action *container_action(sf_vnfm *m, const char *name)
{
        for (const struct sf_kind_action *a = m->container_kind->actions; a && a->name; a++)
                if (STREQ(a->name, name))
                        return a;
        return NULL;
}

int sf_vnfm_vdu_move(sf_vnfm *m, const char *container_id, json_t *in, json_t **ret, sf_err *e)
{
        const struct sf_kind_action *a = container_action(m, "move");
        json_auto_t *c = NULL, *req = json_deep_copy(in);
        _cleanup_rd_ sf_rd rd = { 0 };
        int r;

        if (!a)
                return sf_err_set(e, -EOPNOTSUPP, NULL, "the VIM cannot move containers");
        sf_rd_get(m->store, &rd);
        r = sf_res_get(&rd, "container", container_id, &c, e);
        sf_rd_put(&rd);
        if (r < 0)
                return r;
        json_object_set(req, "for_ns", json_object_get(json_object_get(c, "labels"), "superfluid.ns"));
        return a->fn(m->container_kind->ctx, m->store, c, req, ret, e);
}

int sf_vnfm_move_wait(sf_vnfm *m, const char *move_id, uint64_t deadline, const volatile bool *stop, json_t **ret,
                      sf_err *e)
{
        int64_t rev = sf_store_revision(m->store);
        for (;;) {
                _cleanup_rd_ sf_rd rd = { 0 };
                json_auto_t *mv = NULL;
                const char *st;
                int r;
                sf_rd_get(m->store, &rd);
                r = sf_res_get(&rd, "move", move_id, &mv, e);
                sf_rd_put(&rd);
                if (r < 0)
                        return r;
                st = jstr(mv, "state") ?: "";
                if (!STREQ(st, "PROCESSING")) {
                        *ret = TAKE_PTR(mv);
                        return 0;
                }
                if (*stop)
                        return sf_err_set(e, -ECANCELED, NULL, "sfd is stopping");
                if (sf_now_usec() >= deadline)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "move '%s' did not end in time", jstr(mv, "name"));
                rev = sf_store_wait(m->store, rev, 500);
        }
}

static const char *phase_of(json_t *c)
{
        return jstr(json_object_get(c, "status"), "phase") ?: "Pending";
}

int sf_vnfm_wait_running(sf_vnfm *m, const json_t *ids, uint64_t deadline, const volatile bool *stop,
                         void (*progress)(void *u, size_t running, size_t total), void *u, sf_err *e)
{
        size_t total = json_array_size(ids), last = SIZE_MAX;

        for (;;) {
                _cleanup_free_ char *waiting = xstrdup("");
                int64_t rev = sf_store_revision(m->store);
                size_t running = 0, listed = 0, i;
                uint64_t now;
                json_t *id;

                {
                        _cleanup_rd_ sf_rd rd = { 0 };
                        sf_rd_get(m->store, &rd);
                        json_array_foreach(ids, i, id) {
                                json_auto_t *c = NULL;
                                const char *ph, *msg;
                                int r = sf_res_get(&rd, "container", json_string_value(id), &c, e);
                                if (r == -ENOENT)
                                        return sf_err_set(e, -ENOENT, NULL, "container %s was deleted",
                                                          json_string_value(id));
                                if (r < 0)
                                        return r;
                                ph = phase_of(c);
                                msg = jstr(json_object_get(c, "status"), "message");
                                if (STREQ(ph, "Running")) {
                                        running++;
                                        continue;
                                }
                                if (STREQ(ph, "Failed") || STREQ(ph, "Exited") || STREQ(ph, "Terminating") ||
                                    STREQ(ph, "Stopped")) {
                                        json_t *code = json_object_get(json_object_get(c, "status"), "exit_code");
                                        if (json_is_integer(code))
                                                return sf_err_set(e, -EIO, NULL, "container '%s' is %s (exit code %" JSON_INTEGER_FORMAT ")%s%s",
                                                                  jstr(c, "name"), ph, json_integer_value(code),
                                                                  msg && *msg ? ": " : "", msg ? msg : "");
                                        return sf_err_set(e, -EIO, NULL, "container '%s' is %s%s%s", jstr(c, "name"),
                                                          ph, msg && *msg ? ": " : "", msg ? msg : "");
                                }
                                if (listed++ < 3) {
                                        char *w = xasprintf("%s%s'%s' is %s%s%s", waiting, *waiting ? "; " : "",
                                                            jstr(c, "name"), ph, msg && *msg ? ": " : "",
                                                            msg ? msg : "");
                                        free(waiting);
                                        waiting = w;
                                }
                        }
                }
                if (progress && running != last)
                        progress(u, running, total);
                last = running;
                if (running == total)
                        return 0;
                if (stop && *stop)
                        return sf_err_set(e, -ECANCELED, NULL, "stopped while waiting");
                now = sf_now_usec();
                if (now >= deadline)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "%zu of %zu VDU instances not Running in time: %s%s",
                                          total - running, total, waiting, listed > 3 ? "; ..." : "");
                sf_store_wait(m->store, rev, (int) MIN((deadline - now) / 1000 + 1, 1000));
        }
}

static bool node_ready(sf_rd *rd, const char *node_id, char **ret_name)
{
        json_auto_t *n = NULL;
        *ret_name = NULL;
        if (!node_id || sf_res_get(rd, "node", node_id, &n, NULL) < 0)
                return false;
        *ret_name = xstrdup(jstr(n, "name") ?: node_id);
        return STREQ(jstr(json_object_get(n, "status"), "state") ?: "", "Ready");
}

/* One pass in a transaction: asks for the deletion of each container of ids still there;
 * force_all purges them all at once. Returns how many are left to wait for. */
static int delete_pass(sf_vnfm *m, const json_t *ids, bool force_all, unsigned timeout_ms,
                       void (*note)(void *u, const char *msg), void *u, size_t *ret_left, sf_err *e)
{
        struct sf_kind *k = m->container_kind;
        _cleanup_tx_ sf_tx *tx = NULL;
        json_t *id;
        size_t i, left = 0;
        bool changed = false;
        sf_rd rd;
        int r = sf_tx_begin(m->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        json_array_foreach(ids, i, id) {
                json_auto_t *c = NULL, *opts = NULL;
                _cleanup_free_ char *node = NULL;
                const char *nid;
                bool ready, force;
                r = sf_res_get(&rd, "container", json_string_value(id), &c, e);
                if (r == -ENOENT) {
                        sf_err_clear(e);
                        continue;
                }
                if (r < 0)
                        return r;
                nid = jstr(c, "node_id");
                ready = node_ready(&rd, nid, &node);
                force = force_all || !nid || !ready;
                if (!force && json_is_true(json_object_get(c, "deleting"))) {
                        left++; /* asked before; its agent has not confirmed yet */
                        continue;
                }
                opts = json_pack("{s:b}", "force", force);
                r = k->remove(k->ctx, tx, c, opts, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "delete container '%s'", jstr(c, "name"));
                changed = true;
                if (r == 1)
                        left++;
                else if (force && nid && note) {
                        _cleanup_free_ char *msg =
                                force_all ? xasprintf("container '%s' purged: node '%s' did not confirm its deletion in %u s",
                                                      jstr(c, "name"), node ?: nid, timeout_ms / 1000)
                                          : xasprintf("container '%s' purged: node '%s' is not Ready",
                                                      jstr(c, "name"), node ?: nid);
                        log_warn("%s", msg);
                        note(u, msg);
                }
        }
        *ret_left = left;
        if (!changed)
                return 0;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

int sf_vnfm_vdu_delete(sf_vnfm *m, const json_t *ids, unsigned timeout_ms, const volatile bool *stop,
                       void (*note)(void *u, const char *msg), void *u, sf_err *e)
{
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_ms * 1000;
        for (;;) {
                int64_t rev = sf_store_revision(m->store);
                uint64_t now = sf_now_usec();
                size_t left = 0;
                int r = delete_pass(m, ids, now >= deadline, timeout_ms, note, u, &left, e);
                if (r < 0)
                        return r;
                if (left == 0)
                        return 0;
                if (stop && *stop)
                        return sf_err_set(e, -ECANCELED, NULL, "stopped while deleting containers");
                now = sf_now_usec();
                sf_store_wait(m->store, rev, (int) MIN(now < deadline ? (deadline - now) / 1000 + 1 : 1, 500));
        }
}

/* ---- VNF instance records ---- */

static struct sf_res_cols vnf_cols(json_t *vnf)
{
        return (struct sf_res_cols) { .owner = jstr(vnf, "ns_instance_id") };
}

int sf_vnfm_vnf_insert(sf_tx *tx, json_t *vnf, sf_err *e)
{
        struct sf_res_cols c = vnf_cols(vnf);
        return sf_res_insert(tx, "vnf_instance", vnf, &c, e);
}

int sf_vnfm_vnf_save(sf_tx *tx, json_t *vnf, sf_err *e)
{
        struct sf_res_cols c = vnf_cols(vnf);
        return sf_res_update(tx, "vnf_instance", vnf, &c, e);
}

int sf_vnfm_vnf_delete(sf_tx *tx, const char *id, sf_err *e)
{
        return sf_res_delete(tx, "vnf_instance", id, e);
}

int sf_vnfm_vnfs_of(sf_rd *rd, const char *ns_instance_id, json_t **ret, sf_err *e)
{
        return sf_res_list(rd, "vnf_instance", &(struct sf_res_filter) { .owner = ns_instance_id }, ret, e);
}

void sf_vnfm_vnf_decorate(sf_rd *rd, json_t *vnf)
{
        json_t *vdu, *inst;
        size_t i, j, total = 0, running = 0;

        json_array_foreach(json_object_get(vnf, "vdus"), i, vdu)
                json_array_foreach(json_object_get(vdu, "instances"), j, inst) {
                        json_auto_t *c = NULL, *node = NULL, *site = NULL;
                        json_t *st = json_object(), *cst;
                        total++;
                        json_object_set_new(inst, "status", st);
                        if (sf_res_get(rd, "container", jstr(inst, "container_id") ?: "-", &c, NULL) < 0) {
                                json_object_set_new(st, "phase", json_string("Missing"));
                                continue;
                        }
                        cst = json_object_get(c, "status");
                        json_object_set_new(st, "phase", json_string(phase_of(c)));
                        json_object_set(st, "message", json_object_get(cst, "message") ?: json_null());
                        if (jstr(c, "node_id") && sf_res_get(rd, "node", jstr(c, "node_id"), &node, NULL) >= 0) {
                                json_object_set(st, "node", json_object_get(node, "name"));
                                if (jstr(node, "site_id") && sf_res_get(rd, "site", jstr(node, "site_id"), &site, NULL) >= 0)
                                        json_object_set(st, "site", json_object_get(site, "name"));
                        }
                        if (!json_object_get(st, "node"))
                                json_object_set_new(st, "node", json_null());
                        if (!json_object_get(st, "site"))
                                json_object_set_new(st, "site", json_null());
                        json_object_set(st, "ips", json_is_array(json_object_get(cst, "ips"))
                                                           ? json_object_get(cst, "ips")
                                                           : json_array());
                        if (STREQ(phase_of(c), "Running"))
                                running++;
                }
        json_object_set_new(vnf, "health", json_string(total == 0 ? "unknown"
                                                        : running == total ? "healthy"
                                                                           : "degraded"));
}

static void vnf_decorate(void *ctx, sf_rd *rd, json_t *obj)
{
        sf_vnfm_vnf_decorate(rd, obj);
}

static const struct sf_kind_filter vnf_filters[] = {
        { "ns", SF_FILTER_OWNER, "ns_instance", NULL },
        { "member", SF_FILTER_BODY, NULL, "member_vnf_index" },
        { "vnfd", SF_FILTER_BODY, NULL, "vnfd" },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind vnfm_vnf_kind = {
        .name = "vnf_instance",
        .plural = "vnf_instances",
        .filters = vnf_filters,
        .actions = no_actions,
        .decorate = vnf_decorate,
};
