/* Node leases: an agent proves it is alive by changing its node's status.heartbeat_at. The
 * controller times each change on its own monotonic clock (not the agent's, which may be
 * skewed, as Kubernetes' node lifecycle controller does) and marks a node NotReady, with the
 * reason, when no heartbeat arrived within the lease. After a controller restart every node
 * gets a full lease before it can be marked. */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("lease");

struct seen {
        char id[40];
        char *heartbeat;
        uint64_t since; /* monotonic usec when heartbeat last changed */
};

static struct seen *find_seen(struct seen **v, size_t *n, const char *id)
{
        for (size_t i = 0; i < *n; i++)
                if (STREQ((*v)[i].id, id))
                        return &(*v)[i];
        *v = xrealloc(*v, sizeof(**v) * (*n + 1));
        memset(&(*v)[*n], 0, sizeof(**v));
        snprintf((*v)[*n].id, sizeof((*v)->id), "%s", id);
        (*v)[*n].since = sf_now_usec();
        return &(*v)[(*n)++];
}

static int mark_not_ready(sf_vim *v, const char *id, uint64_t silent_ms, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *node = NULL;
        json_t *st;
        sf_rd rd;
        int r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "node", id, &node, e);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        st = json_object_get(node, "status");
        if (!json_is_object(st) || !STREQ(json_string_value(json_object_get(st, "state")) ?: "", "Ready"))
                return 0;
        json_object_set_new(st, "state", json_string("NotReady"));
        {
                _cleanup_free_ char *reason = xasprintf(
                        "no heartbeat for %" PRIu64 " s (lease %u s): agent stopped or unreachable",
                        silent_ms / 1000, v->lease_ms / 1000);
                json_object_set_new(st, "reason", json_string(reason));
        }
        r = sf_res_update(tx, "node", node,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(node, "site_id")) },
                          e);
        if (r < 0)
                return r;
        log_warn("node '%s' is NotReady: no heartbeat for %" PRIu64 " ms",
                 json_string_value(json_object_get(node, "name")), silent_ms);
        return sf_tx_commit(TAKE_PTR(tx), e);
}

/* Workloads of a node that has been NotReady for longer than the lease plus evict_ms: those
 * with reschedule "on-node-failure" are placed elsewhere (their ports follow, so every node's
 * overlay entries move with them); the others are left where they are, marked, since the
 * node may still be running them (edge autonomy: an unreachable edge keeps serving). If the
 * node comes back, its agent sees the moved workloads are no longer its own and removes its
 * copies. */
static int evict(sf_vim *v, json_t *node, uint64_t silent_ms, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *list = NULL;
        const char *nid = json_string_value(json_object_get(node, "id"));
        const char *nname = json_string_value(json_object_get(node, "name"));
        bool changed = false;
        json_t *c;
        size_t i;
        sf_rd rd;
        int r;

        {
                _cleanup_rd_ sf_rd rrd = { 0 };
                int64_t n = 0;
                sf_rd_get(v->store, &rrd);
                r = sf_res_count(&rrd, "container", &(struct sf_res_filter) { .node = nid }, &n, e);
                if (r < 0 || n == 0)
                        return r;
        }
        r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "container", &(struct sf_res_filter) { .node = nid }, &list, e);
        if (r < 0)
                return r;
        json_array_foreach(list, i, c) {
                json_t *st = json_object_get(c, "status");
                const char *policy = json_string_value(json_object_get(c, "reschedule")) ?: "never";
                _cleanup_free_ char *target = NULL, *reason = NULL, *msg = NULL;
                if (json_is_true(json_object_get(c, "deleting")))
                        continue;
                if (!STREQ(policy, "on-node-failure")) {
                        msg = xasprintf("node '%s' is NotReady (no heartbeat for %" PRIu64
                                        " s): state unknown, left in place (reschedule: never)",
                                        nname, silent_ms / 1000);
                        if (STREQ(json_string_value(json_object_get(st, "message")) ?: "", msg))
                                continue;
                        json_object_set_new(st, "message", json_string(msg));
                } else {
                        /* Place it as if new, but never back on the failed node. */
                        json_object_set_new(c, "node_id", json_null());
                        r = sf_sched_pick(v, tx, c, NULL, &target, &reason, e);
                        if (r < 0)
                                return r;
                        if (!target || STREQ(target, nid)) {
                                json_object_set_new(c, "node_id", json_string(nid));
                                msg = xasprintf("node '%s' is NotReady; no other node fits: %s", nname,
                                                reason ? reason : "none");
                                if (STREQ(json_string_value(json_object_get(st, "message")) ?: "", msg))
                                        continue;
                                json_object_set_new(st, "message", json_string(msg));
                        } else {
                                r = sf_vim_container_bind(v, tx, c, target, e);
                                if (r < 0)
                                        return r;
                                msg = xasprintf("rescheduled from node '%s' (NotReady for %" PRIu64 " s)",
                                                nname, silent_ms / 1000);
                                json_object_set_new(st, "message", json_string(msg));
                                json_object_set_new(st, "phase", json_string("Pending"));
                                json_object_set_new(c, "generation",
                                                    json_integer(json_integer_value(json_object_get(c, "generation")) + 1));
                                log_warn("%s '%s': %s", json_string_value(json_object_get(c, "kind")),
                                         json_string_value(json_object_get(c, "name")), msg);
                        }
                }
                r = sf_res_update(tx, "container", c,
                                  &(struct sf_res_cols) { .node = json_string_value(json_object_get(c, "node_id")) }, e);
                if (r < 0)
                        return r;
                changed = true;
        }
        if (!changed)
                return 0;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

static void *lease_loop(void *u)
{
        sf_vim *v = u;
        struct seen *seen = NULL;
        size_t n_seen = 0;

        while (!v->stopping) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *nodes = NULL;
                json_t *n;
                size_t i;
                uint64_t now = sf_now_usec();
                {
                        _cleanup_rd_ sf_rd rd = { 0 };
                        sf_rd_get(v->store, &rd);
                        if (sf_res_list(&rd, "node", NULL, &nodes, &e) < 0)
                                log_warn("lease check: %s", sf_err_msg(&e));
                }
                json_array_foreach(nodes, i, n) {
                        const char *id = json_string_value(json_object_get(n, "id"));
                        json_t *st = json_object_get(n, "status");
                        const char *hb = json_string_value(json_object_get(st, "heartbeat_at"));
                        struct seen *s = find_seen(&seen, &n_seen, id);
                        if (!hb)
                                continue; /* never heartbeat: registered by hand */
                        if (!s->heartbeat || !STREQ(s->heartbeat, hb)) {
                                free(s->heartbeat);
                                s->heartbeat = xstrdup(hb);
                                s->since = now;
                                continue;
                        }
                        if (now - s->since > (uint64_t) v->lease_ms * 1000 &&
                            STREQ(json_string_value(json_object_get(st, "state")) ?: "", "Ready") &&
                            mark_not_ready(v, id, (now - s->since) / 1000, &e) < 0)
                                log_warn("marking node NotReady: %s", sf_err_msg(&e));
                        /* Long enough gone: move the workloads whose policy says so. */
                        if (!STREQ(json_string_value(json_object_get(st, "state")) ?: "", "Ready") &&
                            now - s->since > (uint64_t) (v->lease_ms + v->evict_ms) * 1000 &&
                            evict(v, n, (now - s->since) / 1000, &e) < 0)
                                log_warn("rescheduling from node '%s': %s",
                                         json_string_value(json_object_get(n, "name")), sf_err_msg(&e));
                }
                /* A 1 s tick. Not sf_store_wait: that would wake this thread on every commit. */
                for (int tick = 0; tick < 10 && !v->stopping; tick++)
                        usleep(100000);
        }
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i].heartbeat);
        free(seen);
        return NULL;
}

int sf_lease_start(sf_vim *v, sf_err *e)
{
        int r = pthread_create(&v->lease_thread, NULL, lease_loop, v);
        if (r)
                return sf_err_errno(e, -r, "start lease monitor");
        v->lease_running = true;
        return 0;
}
