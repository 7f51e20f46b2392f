/* Moves: a running workload goes to another site or node without its users noticing.
 *
 * make-before-break (the default): start a copy at the target, wait until it runs and answers
 * on its service ports, switch every service (VIP) that lists the old instance to the new one
 * (new connections follow at once; existing ones keep their backend through conntrack), wait
 * until the old instance has no connections left (drain), then remove it and give the copy the
 * old name. If anything fails before the switch, the copy is removed and the original keeps
 * serving (ROLLED_BACK).
 *
 * handover (for functions whose IP and MAC are their identity): the target node prepares the
 * same ports (same MAC and IP, interface held down) and the workload; then the old instance is
 * released (stopped, its interfaces down, its state handed over through an optional hook),
 * the ports' binding moves to the target (every node's FDB and neighbour entries follow), and
 * the target brings the interfaces up (gratuitous ARP) and runs the workload. The gap between
 * release and the new instance running is measured and reported.
 *
 * Every move is a `move` resource (an operation occurrence: state PROCESSING, COMPLETED,
 * FAILED or ROLLED_BACK, the steps with their times, the gap, the error), and runs in its own
 * thread. A move that cannot work (unknown target, no capacity, image missing there) is
 * refused before anything is touched. */
#include <inttypes.h>
#include <pthread.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("move");

#define WAIT_STEP_MS 200

struct move_ctx {
        sf_vim *v;
        char *id; /* the move resource */
};

/* ---- small helpers over the store ---- */

static json_t *get_obj(sf_store *s, const char *kind, const char *ref)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *o = NULL;
        sf_rd_get(s, &rd);
        if (sf_res_get(&rd, kind, ref, &o, NULL) < 0)
                return NULL;
        return o;
}

/* Applies fn to the move object in a transaction. */
static int move_update(sf_vim *v, const char *id, void (*fn)(json_t *m, void *u), void *u, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *m = NULL;
        sf_rd rd;
        int r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "move", id, &m, e);
        if (r < 0)
                return r;
        fn(m, u);
        r = sf_res_update(tx, "move", m, NULL, e);
        if (r < 0)
                return r;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

struct step_arg {
        const char *name;
        double ms;
        const char *detail;
};

static void add_step(json_t *m, void *u)
{
        struct step_arg *a = u;
        _cleanup_free_ char *ts = sf_timestamp(sf_realtime_usec());
        json_t *steps = json_object_get(m, "steps");
        json_array_append_new(steps, json_pack("{s:s, s:s, s:f, s:s}", "step", a->name, "at", ts, "ms", a->ms,
                                               "detail", a->detail ? a->detail : ""));
        json_object_set_new(m, "progress", json_integer((json_int_t) json_array_size(steps)));
}

static void step(struct move_ctx *c, const char *name, uint64_t t0, const char *detail)
{
        struct step_arg a = { name, (sf_now_usec() - t0) / 1000.0, detail };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (move_update(c->v, c->id, add_step, &a, &e) < 0)
                log_warn("move %s: record step: %s", c->id, sf_err_msg(&e));
        log_info("move %s: %s (%.1f ms)%s%s", c->id, name, a.ms, detail ? ": " : "", detail ? detail : "");
}

struct finish_arg {
        const char *state;
        const char *error;
        json_t *extra;
};

static void set_finish(json_t *m, void *u)
{
        struct finish_arg *a = u;
        _cleanup_free_ char *ts = sf_timestamp(sf_realtime_usec());
        const char *k;
        json_t *x;
        json_object_set_new(m, "state", json_string(a->state));
        json_object_set_new(m, "finished_at", json_string(ts));
        if (a->error)
                json_object_set_new(m, "error", json_string(a->error));
        json_object_foreach(a->extra, k, x)
                json_object_set(m, k, x);
}

static void finish(struct move_ctx *c, const char *state, const char *error, json_t *extra)
{
        struct finish_arg a = { state, error, extra };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (move_update(c->v, c->id, set_finish, &a, &e) < 0)
                log_warn("move %s: record result: %s", c->id, sf_err_msg(&e));
        if (error)
                log_warn("move %s: %s: %s", c->id, state, error);
        else
                log_info("move %s: %s", c->id, state);
}

/* Waits until pred(obj) is true for the object, up to timeout_ms. 1: true, 0: timed out,
 * -ENOENT: gone. */
static int wait_for(sf_vim *v, const char *kind, const char *id, bool (*pred)(json_t *o, void *u),
                    void *u, int timeout_ms, json_t **ret_last)
{
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_ms * 1000;
        int64_t rev = 0;
        for (;;) {
                json_auto_t *o = get_obj(v->store, kind, id);
                if (!o)
                        return -ENOENT;
                if (pred(o, u)) {
                        if (ret_last)
                                *ret_last = json_incref(o);
                        return 1;
                }
                if (sf_now_usec() >= deadline || v->stopping) {
                        if (ret_last)
                                *ret_last = json_incref(o);
                        return 0;
                }
                rev = sf_store_wait(v->store, rev ? rev : sf_store_revision(v->store), WAIT_STEP_MS);
        }
}

static const char *phase_of(json_t *w)
{
        return json_string_value(json_object_get(json_object_get(w, "status"), "phase")) ?: "";
}

static bool settled(json_t *w, void *u)
{
        const char *p = phase_of(w);
        return STREQ(p, "Running") || STREQ(p, "Failed") || STREQ(p, "Exited");
}

/* ---- make-before-break ---- */

/* The request that makes a copy of w on node: the same networks, through new ports (the
 * service address is what stays). */
static json_t *clone_request(sf_vim *v, json_t *w, const char *name, const char *node_id)
{
        static const char *const keep[] = { "image", "command", "env", "workdir", "hostname", "cpu",
                                            "memory", "restart_policy", "runtime", "files",
                                            "stop_grace_seconds", "kind", "labels", "health",
                                            "move_strategy", "user_data", NULL };
        json_t *req = json_object(), *nets = json_array(), *n;
        size_t i;
        for (const char *const *k = keep; *k; k++)
                if (json_object_get(w, *k) && !json_is_null(json_object_get(w, *k)))
                        json_object_set(req, *k, json_object_get(w, *k));
        if (json_integer_value(json_object_get(w, "cpu")) == 0)
                json_object_del(req, "cpu");
        if (json_integer_value(json_object_get(w, "memory")) == 0)
                json_object_del(req, "memory");
        /* One per port of w, in its order: a workload created with existing ports (the NS
         * layer reserves them) has no "networks" of its own. */
        json_array_foreach(json_object_get(w, "port_ids"), i, n) {
                json_auto_t *port = get_obj(v->store, "port", json_string_value(n));
                if (port)
                        json_array_append_new(nets, json_pack("{s:O}", "network", json_object_get(port, "network_id")));
        }
        json_object_set_new(req, "networks", nets);
        json_object_set_new(req, "name", json_string(name));
        json_object_set_new(req, "node", json_string(node_id));
        return req;
}

static int create_container(sf_vim *v, json_t *req, json_t **ret, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        int r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        r = vim_container_kind.create(v, tx, req, ret, e);
        if (r < 0)
                return r;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

/* Deletes a workload (two-phase, or at once with force) and waits until it is gone. */
static int remove_container(sf_vim *v, const char *id, bool force, int timeout_ms, sf_err *e)
{
        json_auto_t *opts = json_pack("{s:b}", "force", force);
        int r;
        {
                _cleanup_tx_ sf_tx *tx = NULL;
                json_auto_t *cur = NULL;
                sf_rd rd;
                r = sf_tx_begin(v->store, &tx, e);
                if (r < 0)
                        return r;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, "container", id, &cur, NULL);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return sf_err_set(e, r, NULL, "look up workload");
                r = vim_container_kind.remove(v, tx, cur, opts, e);
                if (r < 0)
                        return r;
                r = sf_tx_commit(TAKE_PTR(tx), e);
                if (r < 0)
                        return r;
        }
        {
                uint64_t deadline = sf_now_usec() + (uint64_t) timeout_ms * 1000;
                for (;;) {
                        json_auto_t *o = get_obj(v->store, "container", id);
                        if (!o)
                                return 0;
                        if (sf_now_usec() > deadline)
                                return sf_err_set(e, -ETIMEDOUT, NULL,
                                                  "workload %s was not removed within %d ms", id, timeout_ms);
                        sf_store_wait(v->store, sf_store_revision(v->store), WAIT_STEP_MS);
                }
        }
}

/* The IP of w on network net_id. */
static char *ip_on(sf_vim *v, json_t *w, const char *net_id)
{
        json_t *pid;
        size_t i;
        json_array_foreach(json_object_get(w, "port_ids"), i, pid) {
                json_auto_t *p = get_obj(v->store, "port", json_string_value(pid));
                if (p && STREQ(json_string_value(json_object_get(p, "network_id")) ?: "", net_id))
                        return xstrdup(json_string_value(json_object_get(
                                json_array_get(json_object_get(p, "fixed_ips"), 0), "ip_address")));
        }
        return NULL;
}

/* The services that list w as a backend. */
static json_t *services_of(sf_vim *v, const char *wid)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *all = NULL;
        json_t *out = json_array(), *s, *b;
        size_t i, k;
        sf_rd_get(v->store, &rd);
        if (sf_res_list(&rd, "service", NULL, &all, NULL) < 0)
                return out;
        json_array_foreach(all, i, s)
                json_array_foreach(json_object_get(s, "backend_ids"), k, b)
                        if (STREQ(json_string_value(b) ?: "", wid)) {
                                json_array_append(out, s);
                                break;
                        }
        return out;
}

/* The new instance answers on every service's target port (probed by its node's agent, which
 * is on the workload's network). */
static int probe_ready(sf_vim *v, json_t *nw, json_t *services, int timeout_ms, sf_err *e)
{
        json_auto_t *node = get_obj(v->store, "node", json_string_value(json_object_get(nw, "node_id")));
        json_t *s, *p;
        size_t i, k;
        if (!node)
                return sf_err_set(e, -ENOENT, NULL, "the target node is gone");
        json_array_foreach(services, i, s) {
                _cleanup_free_ char *ip = ip_on(v, nw, json_string_value(json_object_get(s, "network_id")));
                json_array_foreach(json_object_get(s, "ports"), k, p) {
                        json_auto_t *body = NULL, *out = NULL;
                        if (!ip || !STREQ(json_string_value(json_object_get(p, "protocol")) ?: "tcp", "tcp"))
                                continue;
                        body = json_pack("{s:s, s:O, s:i}", "ip", ip, "port", json_object_get(p, "target_port"),
                                         "timeout_ms", timeout_ms);
                        if (sf_vim_node_call(v, node, "POST", "/agent/v1/probe", body, timeout_ms + 5000, &out, e) < 0)
                                return sf_err_prefix(e, "health check of the new instance on %s:%" JSON_INTEGER_FORMAT,
                                                     ip, json_integer_value(json_object_get(p, "target_port")));
                }
        }
        return 0;
}

/* Replaces from by to in the backends of every service. */
static int switch_backends(sf_vim *v, json_t *services, const char *from, const char *to, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_t *s;
        size_t i;
        int r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        json_array_foreach(services, i, s) {
                json_auto_t *cur = NULL;
                json_t *b, *nb = json_array();
                size_t k;
                sf_rd rd;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, "service", json_string_value(json_object_get(s, "id")), &cur, e);
                if (r < 0) {
                        json_decref(nb);
                        return r;
                }
                json_array_foreach(json_object_get(cur, "backend_ids"), k, b)
                        json_array_append_new(nb, json_string(STREQ(json_string_value(b) ?: "", from) ? to
                                                                                                   : json_string_value(b)));
                json_object_set_new(cur, "backend_ids", nb);
                r = sf_res_update(tx, "service", cur,
                                  &(struct sf_res_cols) { .owner = json_string_value(json_object_get(cur, "network_id")),
                                                          .node = json_string_value(json_object_get(cur, "node_id")) },
                                  e);
                if (r < 0)
                        return r;
        }
        return sf_tx_commit(TAKE_PTR(tx), e);
}

/* Waits until no service has a connection left to the old instance's address (drain). */
static int drain(sf_vim *v, json_t *services, json_t *old, int timeout_ms, unsigned *ret_left)
{
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_ms * 1000;
        for (;;) {
                unsigned left = 0;
                json_t *s;
                size_t i;
                json_array_foreach(services, i, s) {
                        _cleanup_free_ char *ip = ip_on(v, old, json_string_value(json_object_get(s, "network_id")));
                        _cleanup_free_ char *path = xasprintf("/agent/v1/services/%s/connections",
                                                              json_string_value(json_object_get(s, "id")));
                        json_auto_t *node = get_obj(v->store, "node", json_string_value(json_object_get(s, "node_id")));
                        json_auto_t *out = NULL;
                        if (!ip || !node || sf_vim_node_call(v, node, "GET", path, NULL, 5000, &out, NULL) < 0)
                                continue;
                        left += (unsigned) json_integer_value(json_object_get(json_object_get(out, "backends"), ip));
                }
                *ret_left = left;
                if (left == 0)
                        return 0;
                if (sf_now_usec() > deadline)
                        return -ETIMEDOUT;
                usleep(200000);
        }
}

static int rename_container(sf_vim *v, const char *id, const char *name, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *cur = NULL, *out = NULL, *patch = json_pack("{s:s}", "name", name);
        sf_rd rd;
        int r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "container", id, &cur, e);
        if (r >= 0)
                r = vim_container_kind.update(v, tx, cur, patch, &out, e);
        if (r < 0)
                return r;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

static void move_mbb(struct move_ctx *c, json_t *m)
{
        sf_vim *v = c->v;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *wid = json_string_value(json_object_get(m, "workload_id"));
        const char *target = json_string_value(json_object_get(m, "target_node_id"));
        int timeout = (int) json_integer_value(json_object_get(m, "timeout_ms"));
        int drain_ms = (int) json_integer_value(json_object_get(m, "drain_ms"));
        json_auto_t *old = get_obj(v->store, "container", wid), *nw = NULL, *req = NULL,
                    *services = NULL, *last = NULL;
        _cleanup_free_ char *name = NULL, *tmpname = NULL;
        uint64_t t0 = sf_now_usec(), t;
        unsigned left = 0;
        const char *nid;
        int r;

        if (!old) {
                finish(c, "FAILED", "the workload is gone", NULL);
                return;
        }
        name = xstrdup(json_string_value(json_object_get(old, "name")));
        tmpname = xasprintf("%.40s-m%.8s", name, c->id);
        services = services_of(v, wid);
        req = clone_request(v, old, tmpname, target);
        json_object_update(req, json_object_get(m, "spec")); /* no-op without changes */

        t = sf_now_usec();
        r = create_container(v, req, &nw, &e);
        if (r < 0) {
                _cleanup_free_ char *msg = xasprintf("start the new instance: %s", sf_err_msg(&e));
                finish(c, "ROLLED_BACK", msg, NULL);
                return;
        }
        nid = json_string_value(json_object_get(nw, "id"));
        {
                json_auto_t *x = json_pack("{s:s}", "new_workload_id", nid);
                struct finish_arg a = { "PROCESSING", NULL, x };
                move_update(v, c->id, set_finish, &a, NULL);
        }
        r = wait_for(v, "container", nid, settled, NULL, timeout, &last);
        if (r <= 0 || !STREQ(phase_of(last), "Running")) {
                _cleanup_free_ char *msg = xasprintf("the new instance did not start: %s%s%s",
                                                     r == 0 ? "timed out, " : "", phase_of(last),
                                                     last ? "" : "gone");
                const char *why = json_string_value(json_object_get(json_object_get(last, "status"), "message"));
                _cleanup_free_ char *full = why && *why ? xasprintf("%s (%s)", msg, why) : xstrdup(msg);
                remove_container(v, nid, true, 30000, NULL);
                finish(c, "ROLLED_BACK", full, NULL);
                return;
        }
        step(c, "new instance running", t,
             json_string_value(json_array_get(json_object_get(json_object_get(last, "status"), "ips"), 0)));
        t = sf_now_usec();
        r = probe_ready(v, last, services, timeout, &e);
        if (r < 0) {
                _cleanup_free_ char *msg = xstrdup(sf_err_msg(&e));
                remove_container(v, nid, true, 30000, NULL);
                finish(c, "ROLLED_BACK", msg, NULL);
                return;
        }
        step(c, "new instance healthy", t, NULL);
        t = sf_now_usec();
        r = switch_backends(v, services, wid, nid, &e);
        if (r < 0) {
                _cleanup_free_ char *msg = xasprintf("switch the service address: %s", sf_err_msg(&e));
                remove_container(v, nid, true, 30000, NULL);
                finish(c, "ROLLED_BACK", msg, NULL);
                return;
        }
        step(c, "services switched", t, NULL);
        t = sf_now_usec();
        r = drain(v, services, old, drain_ms, &left);
        {
                _cleanup_free_ char *d = left ? xasprintf("%u connection(s) still open after %d ms: removed anyway",
                                                          left, drain_ms)
                                              : NULL;
                step(c, "old instance drained", t, d);
        }
        t = sf_now_usec();
        r = remove_container(v, wid, false, timeout, &e);
        if (r < 0)
                log_warn("move %s: removing the old instance: %s", c->id, sf_err_msg(&e));
        step(c, "old instance removed", t, NULL);
        sf_err_clear(&e);
        if (rename_container(v, nid, name, &e) < 0)
                log_warn("move %s: renaming the new instance to '%s': %s", c->id, name, sf_err_msg(&e));
        {
                json_auto_t *x = json_pack("{s:f}", "total_ms", (sf_now_usec() - t0) / 1000.0);
                finish(c, "COMPLETED", NULL, x);
        }
}

/* ---- handover ---- */

/* Changes the workload's handover object in a transaction (bumping its generation, so its
 * agents act), optionally rebinding it and its ports to a node in the same transaction. */
static int handover_update(sf_vim *v, const char *wid, json_t *handover, const char *bind_to, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *w = NULL;
        sf_rd rd;
        int r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "container", wid, &w, e);
        if (r < 0)
                return r;
        if (handover)
                json_object_set(w, "handover", handover);
        else
                json_object_del(w, "handover");
        json_object_set_new(w, "generation", json_integer(json_integer_value(json_object_get(w, "generation")) + 1));
        if (bind_to) {
                json_auto_t *node = NULL, *site = NULL;
                r = sf_vim_container_bind(v, tx, w, bind_to, e);
                if (r < 0)
                        return r;
                /* it belongs to the target's site now (a later reschedule stays there) */
                if (json_is_string(json_object_get(w, "site")) && sf_res_get(&rd, "node", bind_to, &node, NULL) >= 0 &&
                    sf_res_get(&rd, "site", json_string_value(json_object_get(node, "site_id")) ?: "-", &site, NULL) >= 0)
                        json_object_set(w, "site", json_object_get(site, "name"));
        }
        r = sf_res_update(tx, "container", w,
                          &(struct sf_res_cols) { .node = json_string_value(json_object_get(w, "node_id")) }, e);
        if (r < 0)
                return r;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

static bool ho_status(json_t *w, void *u)
{
        const char *want = u;
        json_t *st = json_object_get(json_object_get(w, "status"), "handover");
        const char *phase = json_string_value(json_object_get(st, "phase"));
        return phase && (STREQ(phase, want) || STREQ(phase, "failed"));
}

static bool running_after_handover(json_t *w, void *u)
{
        const char *target = u;
        return STREQ(json_string_value(json_object_get(w, "node_id")) ?: "", target) &&
               STREQ(phase_of(w), "Running") &&
               ho_status(w, (void *) "running");
}

static void move_handover(struct move_ctx *c, json_t *m)
{
        sf_vim *v = c->v;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *wid = json_string_value(json_object_get(m, "workload_id"));
        const char *target = json_string_value(json_object_get(m, "target_node_id"));
        const char *source = json_string_value(json_object_get(m, "source_node_id"));
        int timeout = (int) json_integer_value(json_object_get(m, "timeout_ms"));
        json_auto_t *ho = json_pack("{s:s, s:s, s:s, s:s}", "move", c->id, "from", source, "to", target,
                                    "phase", "prepare");
        json_auto_t *last = NULL;
        uint64_t t0 = sf_now_usec(), t, t_release;
        int r;

        /* 1. the target prepares: ports plumbed with the same MAC and IP, held down; the root
         *    filesystem and the bundle ready. */
        t = sf_now_usec();
        r = handover_update(v, wid, ho, NULL, &e);
        if (r >= 0)
                r = wait_for(v, "container", wid, ho_status, (void *) "prepared", timeout, &last);
        if (r <= 0 || STREQ(json_string_value(json_object_get(json_object_get(json_object_get(last, "status"), "handover"), "phase")) ?: "", "failed")) {
                const char *why = json_string_value(json_object_get(json_object_get(json_object_get(last, "status"), "handover"), "message"));
                _cleanup_free_ char *msg = xasprintf("the target did not prepare: %s",
                                                     r < 0 ? sf_err_msg(&e) : why ? why : "timed out");
                handover_update(v, wid, NULL, NULL, NULL);
                finish(c, "ROLLED_BACK", msg, NULL);
                return;
        }
        step(c, "target prepared", t, NULL);

        /* 2. release: the old instance exports its state (hook), stops, its interfaces go
         *    down. From here the function is not answering: the gap starts. */
        t_release = t = sf_now_usec();
        json_object_set_new(ho, "phase", json_string("release"));
        r = handover_update(v, wid, ho, NULL, &e);
        json_decref(last);
        last = NULL;
        if (r >= 0)
                r = wait_for(v, "container", wid, ho_status, (void *) "released", timeout, &last);
        if (r <= 0) {
                /* The old node did not answer: it may be gone. Go on: its ports move anyway. */
                log_warn("move %s: the old node did not confirm the release; moving on", c->id);
        }
        step(c, "old instance released", t, NULL);

        /* 3. cutover: the ports' binding moves to the target (FDB and neighbour entries on every
         *    node follow), the target brings the interfaces up and the workload runs. */
        t = sf_now_usec();
        json_object_set_new(ho, "phase", json_string("cutover"));
        json_object_set(ho, "state", json_object_get(json_object_get(json_object_get(last, "status"), "handover"), "state"));
        r = handover_update(v, wid, ho, target, &e);
        json_decref(last);
        last = NULL;
        if (r >= 0)
                r = wait_for(v, "container", wid, running_after_handover, (void *) target, timeout, &last);
        if (r <= 0) {
                _cleanup_free_ char *msg = xasprintf("cutover did not complete: %s",
                                                     r < 0 ? sf_err_msg(&e) : "timed out waiting for the target");
                finish(c, "FAILED", msg, NULL);
                return;
        }
        {
                double gap = (sf_now_usec() - t_release) / 1000.0;
                json_t *hs = json_object_get(json_object_get(last, "status"), "handover");
                json_auto_t *x = json_pack("{s:f, s:f, s:O*}", "gap_ms", gap, "total_ms",
                                           (sf_now_usec() - t0) / 1000.0, "node_gap_ms",
                                           json_object_get(hs, "gap_ms"));
                step(c, "new instance running", t, NULL);
                handover_update(v, wid, NULL, NULL, NULL);
                finish(c, "COMPLETED", NULL, x);
        }
}

static void *move_thread(void *u)
{
        struct move_ctx *c = u;
        sf_vim *v = c->v;
        json_auto_t *m = get_obj(v->store, "move", c->id);
        if (m) {
                if (STREQ(json_string_value(json_object_get(m, "strategy")) ?: "", "handover"))
                        move_handover(c, m);
                else
                        move_mbb(c, m);
        }
        free(c->id);
        free(c);
        pthread_mutex_lock(&v->move_lock);
        v->moves_running--;
        pthread_cond_broadcast(&v->move_cond);
        pthread_mutex_unlock(&v->move_lock);
        return NULL;
}

void sf_vim_moves_wait(sf_vim *v)
{
        pthread_mutex_lock(&v->move_lock);
        while (v->moves_running > 0)
                pthread_cond_wait(&v->move_cond, &v->move_lock);
        pthread_mutex_unlock(&v->move_lock);
}

/* ---- the API: POST /v1/containers/X/move ---- */

static const char *const move_keys[] = { "to", "strategy", "timeout", "drain_seconds", "spec", "dry_run", "for_ns", NULL };
/* What a make-before-break move may change in the new instance: its day-0 content, which can
 * depend on where it runs (the NS layer renders it again for the target). */
static const char *const spec_keys[] = { "env", "files", "labels", "user_data", NULL };

int sf_vim_move_start(sf_vim *v, sf_store *s, json_t *w, json_t *in, json_t **ret, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *node = NULL, *site = NULL, *m = json_object(), *probe = NULL;
        const char *to = NULL, *strategy = NULL;
        _cleanup_free_ char *target = NULL, *reason = NULL, *ts = sf_timestamp(sf_realtime_usec());
        int64_t timeout = 60, drain_s = 10;
        bool dry_run = false;
        struct move_ctx *c;
        pthread_t th;
        sf_rd rd;
        int r;

        r = sf_json_only(in, move_keys, e);
        if (r >= 0 && json_is_object(json_object_get(w, "nested")))
                r = sf_err_set(e, -EINVAL, NULL, "'%s' runs in vm '%s' and cannot move out of it",
                               json_string_value(json_object_get(w, "name")),
                               json_string_value(json_object_get(json_object_get(w, "nested"), "vm_name")));
        if (r >= 0 && json_is_string(json_object_get(w, "nested_mode")))
                r = sf_err_set(e, -EINVAL, NULL, "vm '%s' hosts containers (nested_mode): moving it is not supported",
                               json_string_value(json_object_get(w, "name")));
        if (r >= 0)
                r = sf_json_str(in, "to", true, &to, e);
        if (r >= 0)
                r = sf_json_str(in, "strategy", false, &strategy, e);
        if (r >= 0)
                r = sf_json_int(in, "timeout", false, 1, 3600, &timeout, e);
        if (r >= 0)
                r = sf_json_int(in, "drain_seconds", false, 0, 3600, &drain_s, e);
        if (r >= 0)
                r = sf_json_bool(in, "dry_run", false, &dry_run, e);
        if (r >= 0 && json_object_get(in, "spec")) {
                json_t *sp = json_object_get(in, "spec"), *x;
                const char *k;
                if (!json_is_object(sp))
                        return sf_err_set(e, -EINVAL, "spec", "must be an object");
                json_object_foreach(sp, k, x) {
                        bool ok = false;
                        for (const char *const *a = spec_keys; *a; a++)
                                ok = ok || STREQ(*a, k);
                        if (!ok)
                                return sf_err_set(e, -EINVAL, "spec", "'%s' cannot change in a move (only env, files, "
                                                  "labels, user_data)", k);
                }
        }
        if (r < 0)
                return r;
        /* A VDU instance of an NS moves through its NS, so that the NS's records follow. */
        {
                const char *ns = json_string_value(json_object_get(json_object_get(w, "labels"), "superfluid.ns"));
                const char *for_ns = json_string_value(json_object_get(in, "for_ns"));
                if (ns && (!for_ns || !STREQ(for_ns, ns)))
                        return sf_err_set(e, -EBUSY, NULL,
                                          "'%s' is a VDU instance of NS '%s': move it through the NS (sfctl move %s, "
                                          "or POST /v1/ns_instances/%s/move)",
                                          json_string_value(json_object_get(w, "name")), ns,
                                          json_string_value(json_object_get(w, "name")), ns);
        }
        if (!strategy)
                strategy = json_string_value(json_object_get(w, "move_strategy")) ?: "make-before-break";
        if (!STREQ(strategy, "make-before-break") && !STREQ(strategy, "handover"))
                return sf_err_set(e, -EINVAL, "strategy", "must be make-before-break or handover");
        if (STREQ(strategy, "handover") && json_object_get(in, "spec"))
                return sf_err_set(e, -EINVAL, "spec", "a handover keeps the instance as it is: no changes");
        if (STREQ(strategy, "handover") && STREQ(json_string_value(json_object_get(w, "kind")) ?: "", "vm"))
                return sf_err_set(e, -EOPNOTSUPP, "strategy",
                                  "handover is for containers: a VM moves with make-before-break (no live "
                                  "migration here)");
        if (json_is_true(json_object_get(w, "deleting")))
                return sf_err_set(e, -EBUSY, NULL, "'%s' is being deleted", json_string_value(json_object_get(w, "name")));
        if (json_is_object(json_object_get(w, "handover")))
                return sf_err_set(e, -EBUSY, NULL, "'%s' is already moving", json_string_value(json_object_get(w, "name")));
        if (!STREQ(phase_of(w), "Running"))
                return sf_err_set(e, -EBUSY, NULL, "'%s' is %s: only a running workload moves",
                                  json_string_value(json_object_get(w, "name")), phase_of(w));

        r = sf_tx_begin(s, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        /* The target: a node, else a site. Check that it can take the workload before touching
         * anything: capacity, image, readiness (the scheduler's own rules). */
        probe = json_deep_copy(w);
        json_object_set_new(probe, "id", json_string("move-probe")); /* counts the workload at the target */
        if (sf_res_get(&rd, "node", to, &node, NULL) >= 0) {
                json_object_del(probe, "site"); /* a move names its site or node anew */
                r = sf_sched_check_node(v, tx, probe, node, &reason, e);
                if (r < 0)
                        return r;
                if (reason)
                        return sf_err_set(e, -ENOSPC, "to", "cannot move there: %s", reason);
                target = xstrdup(json_string_value(json_object_get(node, "id")));
        } else if (sf_res_get(&rd, "site", to, &site, NULL) >= 0) {
                json_object_set(probe, "site", json_object_get(site, "name"));
                json_object_set_new(probe, "node_id", json_null());
                json_object_del(probe, "node_selector");
                r = sf_sched_pick(v, tx, probe, NULL, &target, &reason, e);
                if (r < 0)
                        return r;
                if (!target)
                        return sf_err_set(e, -ENOSPC, "to", "cannot move there: %s", reason);
        } else
                return sf_err_set(e, -EINVAL, "to", "'%s' is neither a node nor a site", to);
        if (STREQ(target, json_string_value(json_object_get(w, "node_id")) ?: ""))
                return sf_err_set(e, -EINVAL, "to", "'%s' already runs on that node",
                                  json_string_value(json_object_get(w, "name")));
        {
                char id[SF_UUID_STRLEN];
                _cleanup_free_ char *name = NULL;
                sf_uuid(id);
                name = xasprintf("move-%.8s", id);
                json_object_set_new(m, "id", json_string(id));
                json_object_set_new(m, "name", json_string(name));
        }
        json_object_set(m, "workload_id", json_object_get(w, "id"));
        json_object_set(m, "workload_name", json_object_get(w, "name"));
        json_object_set(m, "source_node_id", json_object_get(w, "node_id"));
        json_object_set_new(m, "target_node_id", json_string(target));
        json_object_set_new(m, "to", json_string(to));
        json_object_set_new(m, "strategy", json_string(strategy));
        if (json_object_get(in, "spec"))
                json_object_set(m, "spec", json_object_get(in, "spec"));
        json_object_set_new(m, "state", json_string("PROCESSING"));
        json_object_set_new(m, "started_at", json_string(ts));
        json_object_set_new(m, "steps", json_array());
        json_object_set_new(m, "progress", json_integer(0));
        json_object_set_new(m, "timeout_ms", json_integer(timeout * 1000));
        json_object_set_new(m, "drain_ms", json_integer(drain_s * 1000));
        if (STREQ(strategy, "handover"))
                json_object_set_new(m, "note", json_string("in-memory state is not carried over (no "
                                                           "checkpoint/restore on this kernel); a "
                                                           "handover hook can pass state"));
        if (dry_run) { /* checked, nothing touched: what the move would be */
                json_object_set_new(m, "state", json_string("DRY_RUN"));
                json_object_set_new(m, "dry_run", json_true());
                *ret = TAKE_PTR(m);
                return 0;
        }
        r = sf_res_insert(tx, "move", m, &(struct sf_res_cols) { .owner = json_string_value(json_object_get(w, "id")) }, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        if (r < 0)
                return r;
        c = new0(struct move_ctx, 1);
        c->v = v;
        c->id = xstrdup(json_string_value(json_object_get(m, "id")));
        pthread_mutex_lock(&v->move_lock);
        v->moves_running++;
        pthread_mutex_unlock(&v->move_lock);
        r = pthread_create(&th, NULL, move_thread, c);
        if (r) {
                pthread_mutex_lock(&v->move_lock);
                v->moves_running--;
                pthread_mutex_unlock(&v->move_lock);
                free(c->id);
                free(c);
                return sf_err_errno(e, -r, "start the move");
        }
        pthread_detach(th);
        *ret = TAKE_PTR(m);
        return 1; /* accepted: 202 */
}

static const struct sf_kind_filter move_filters[] = {
        { "workload", SF_FILTER_OWNER, "container", NULL },
        { "state", SF_FILTER_BODY, NULL, "state" },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind vim_move_kind = {
        .name = "move",
        .plural = "moves",
        .filters = move_filters,
        .actions = no_actions,
};
