/* The agent's view of desired state, Kubernetes-informer style: list every kind it needs
 * once, then apply the controller's event stream (long-poll) to the cache, and list again
 * when the stream cannot continue (410 Gone after compaction, or a lost controller); a batch
 * of nothing but the agent's own status reports coming back wakes nobody. Every other change
 * wakes the reconciler; nothing here acts on the node. */
#include <inttypes.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("cache");

static const char *const kinds[] = { "container", "port", "network", "subnet", "router", "node",
                                     "trunk", "service", NULL };
#define KINDS_PARAM "container,port,network,subnet,router,node,trunk,service"

json_t *agent_cache_kind(sf_agent *a, const char *kind)
{
        return json_object_get(a->cache, kind);
}

json_t *agent_cache_get(sf_agent *a, const char *kind, const char *id)
{
        return id ? json_object_get(json_object_get(a->cache, kind), id) : NULL;
}

void agent_wake(sf_agent *a)
{
        a->dirty = true;
        pthread_cond_broadcast(&a->cond);
}

static int relist(sf_agent *a, sf_httpc *http, sf_err *e)
{
        json_auto_t *fresh = json_object();
        int64_t rev = -1;

        for (const char *const *k = kinds; *k; k++) {
                _cleanup_free_ char *path = xasprintf("/v1/%ss", *k);
                json_auto_t *out = NULL;
                json_t *map = json_object(), *o;
                size_t i;
                int r = sf_httpc_call(http, "GET", path, NULL, &out, e);
                if (r < 0) {
                        json_decref(map);
                        return r;
                }
                /* The first list's revision: later lists may already include events after it,
                 * which the watch then delivers again. Applying them twice is harmless. */
                if (rev < 0)
                        rev = json_integer_value(json_object_get(out, "revision"));
                json_array_foreach(json_object_get(out, "items"), i, o)
                        json_object_set(map, json_string_value(json_object_get(o, "id")), o);
                json_object_set_new(fresh, *k, map);
        }
        agent_lock(a);
        json_decref(a->cache);
        a->cache = json_incref(fresh);
        a->revision = rev;
        a->synced = true;
        a->dp_gen++;
        agent_wake(a);
        agent_unlock(a);
        log_debug("listed desired state at revision %" PRId64, rev);
        return 0;
}

/* Our own status report coming back: the event at the revision our PATCH returned, with
 * nothing but the status changed. The reconciler has nothing to do about it (a status that
 * changed again while the report was on its way woke it already). */
static bool own_echo(sf_agent *a, json_t *map, const char *id, json_t *obj)
{
        static const char *const meta[] = { "status", "revision", "updated_at" };
        struct lw *w = agent_lw_find(a, id);
        json_t *old = json_object_get(map, id);
        json_auto_t *x = NULL, *y = NULL;
        if (!w || !w->reported || !old || !json_is_object(obj) ||
            json_integer_value(json_object_get(obj, "revision")) != w->reported_rev)
                return false;
        x = json_copy(old);
        y = json_copy(obj);
        for (size_t i = 0; i < ELEMENTSOF(meta); i++) {
                json_object_del(x, meta[i]);
                json_object_del(y, meta[i]);
        }
        return json_equal(x, y);
}

/* Applies a batch of events; false when none of them gives the reconciler anything to do. */
static bool apply(sf_agent *a, json_t *events)
{
        bool wake = false;
        json_t *ev;
        size_t i;
        json_array_foreach(events, i, ev) {
                const char *type = json_string_value(json_object_get(ev, "type"));
                const char *kind = json_string_value(json_object_get(ev, "kind"));
                const char *id = json_string_value(json_object_get(ev, "id"));
                json_t *map = json_object_get(a->cache, kind);
                if (!map || !type || !id)
                        continue;
                /* The data plane (agent_dp_desired) reads every kind; containers only for the
                 * backends of services. */
                if (!STREQ(kind, "container") || json_object_size(json_object_get(a->cache, "service")) > 0) {
                        a->dp_gen++;
                        wake = true;
                } else if (!STREQ(type, "updated") || !own_echo(a, map, id, json_object_get(ev, "object")))
                        wake = true;
                if (STREQ(type, "deleted"))
                        json_object_del(map, id);
                else
                        json_object_set(map, id, json_object_get(ev, "object"));
        }
        return wake;
}

static void *watch_loop(void *u)
{
        sf_agent *a = u;
        _cleanup_httpc_ sf_httpc *http = NULL;
        unsigned backoff_ms = 200;
        bool need_list = true;

        if (agent_http_new(a, &http, NULL) < 0)
                return NULL;
        if (a->o.control_nice)
                (void) sf_thread_set_nice(a->o.control_nice);
        sf_httpc_set_timeout(http, 45000);
        sf_httpc_set_cancel(http, &a->stopping);
        while (!a->stopping) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *out = NULL;
                json_t *events;
                int64_t since;
                int r;

                if (need_list) {
                        r = relist(a, http, &e);
                        if (r < 0)
                                goto lost;
                        need_list = false;
                }
                agent_lock(a);
                since = a->revision;
                agent_unlock(a);
                {
                        /* In process, a long poll cannot be cut short when the agent stops:
                         * a short one then (an idle one costs a query, no request). */
                        _cleanup_free_ char *path = xasprintf(
                                "/v1/events?since=%" PRId64 "&timeout=%d&limit=2000&kinds=" KINDS_PARAM,
                                since, sf_httpc_is_local(http) ? 1 : 30);
                        r = sf_httpc_call(http, "GET", path, NULL, &out, &e);
                }
                if (r == -ENODATA) {
                        log_info("event stream expired at revision %" PRId64 ": listing again", since);
                        need_list = true;
                        continue;
                }
                if (r < 0)
                        goto lost;
                if (!a->connected) {
                        log_info("connected to the controller at %s", a->o.controller);
                        a->connected = true;
                }
                backoff_ms = 200;
                events = json_object_get(out, "events");
                agent_lock(a);
                /* A batch of nothing but this agent's own status reports coming back (one per
                 * container of a burst) wakes nobody. */
                if (json_array_size(events) > 0 && apply(a, events)) {
                        /* Port pools: a new workload's warm namespace is handed over now, not
                         * after the reconciler's next pass (warm.c). */
                        agent_warm_sync(a);
                        agent_wake(a);
                } else if (json_array_size(events) > 0)
                        log_debug("%zu event(s): this agent's own status reports, nothing to do",
                                  json_array_size(events));
                if (json_integer_value(json_object_get(out, "revision")) > a->revision)
                        a->revision = json_integer_value(json_object_get(out, "revision"));
                agent_unlock(a);
                continue;
        lost:
                if (a->stopping)
                        break;
                if (a->connected)
                        log_warn("lost the controller (%s): workloads keep running; retrying",
                                 sf_err_msg(&e));
                else
                        log_debug("controller not reachable: %s", sf_err_msg(&e));
                a->connected = false;
                /* After an outage list again: the controller may have restarted or compacted. */
                need_list = true;
                for (unsigned slept = 0; slept < backoff_ms && !a->stopping; slept += 100)
                        usleep(100000);
                backoff_ms = MIN(backoff_ms * 2, 5000u);
        }
        return NULL;
}

int agent_cache_start(sf_agent *a, sf_err *e)
{
        int r;
        a->cache = json_object();
        for (const char *const *k = kinds; *k; k++)
                json_object_set_new(a->cache, *k, json_object());
        r = pthread_create(&a->watch_thread, NULL, watch_loop, a);
        if (r)
                return sf_err_errno(e, -r, "start watch thread");
        return 0;
}
