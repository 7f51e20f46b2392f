/* The reconciler: compares desired state (the cache) with the node's workloads and queues
 * jobs for the difference (create, start, stop, delete, restart per policy), keeps the data
 * plane in step (bridges of networks in use, routing policy), and reports each workload's
 * status back when it changed. Jobs run on a pool of workers, one job per workload at a time. */
#include <inttypes.h>
#include <time.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("reconcile");

/* How long a creation may run before the agent reports it as Creating (see the status loop). */
#define STATUS_HOLD_USEC 250000ULL

struct lw *agent_lw_find(sf_agent *a, const char *id)
{
        for (size_t i = 0; i < a->n_lws; i++)
                if (STREQ(a->lws[i]->id, id))
                        return a->lws[i];
        return NULL;
}

struct lw *agent_lw_add(sf_agent *a, const char *id)
{
        struct lw *w = new0(struct lw, 1);
        snprintf(w->id, sizeof(w->id), "%s", id);
        w->exit_fd = -1;
        a->lws = xrealloc(a->lws, sizeof(*a->lws) * (a->n_lws + 1));
        a->lws[a->n_lws++] = w;
        return w;
}

void agent_lw_remove(sf_agent *a, struct lw *w)
{
        for (size_t i = 0; i < a->n_lws; i++)
                if (a->lws[i] == w) {
                        a->lws[i] = a->lws[--a->n_lws];
                        break;
                }
        if (w->exit_fd >= 0)
                close(w->exit_fd);
        free(w->name);
        free(w->ho_move);
        free(w->message);
        free(w->network_ready_at);
        free(w->started_at);
        free(w->finished_at);
        if (w->spec)
                json_decref(w->spec);
        if (w->timings)
                json_decref(w->timings);
        if (w->ips)
                json_decref(w->ips);
        if (w->reported)
                json_decref(w->reported);
        if (w->extra_status)
                json_decref(w->extra_status);
        free(w);
}

void agent_lw_set_message(struct lw *w, const char *fmt, ...)
{
        va_list ap;
        free(w->message);
        va_start(ap, fmt);
        w->message = fmt ? xvasprintf(fmt, ap) : NULL;
        va_end(ap);
}

void agent_job_push(sf_agent *a, enum job_type t, const char *id)
{
        struct job *j = new0(struct job, 1);
        struct lw *w = agent_lw_find(a, id);
        j->type = t;
        snprintf(j->id, sizeof(j->id), "%s", id);
        if (w && !w->busy) {
                w->busy = true;
                w->busy_since = 0; /* queued: set when a worker starts it */
        }
        if (a->jobs_tail)
                a->jobs_tail->next = j;
        else
                a->jobs = j;
        a->jobs_tail = j;
        pthread_cond_signal(&a->job_cond);
}

static bool mine(sf_agent *a, json_t *obj)
{
        const char *n = json_string_value(json_object_get(obj, "node_id"));
        return n && a->node_id && STREQ(n, a->node_id);
}

static bool restart_allowed(struct lw *w)
{
        const char *p = json_string_value(json_object_get(w->spec, "restart_policy")) ?: "never";
        if (STREQ(p, "always"))
                return true;
        if (STREQ(p, "on-failure"))
                return !(w->st.exit_known && w->st.exit_code == 0);
        return false;
}

static const char *phase_of(struct lw *w)
{
        switch (w->state) {
        case LW_NEW:
                return w->busy ? "Creating" : "Pending";
        case LW_RUNNING:
                return "Running";
        case LW_STOPPED:
                return "Stopped";
        case LW_EXITED:
                return "Exited";
        case LW_FAILED:
                return "Failed";
        default:
                return "Terminating";
        }
}

static json_t *status_of(sf_agent *a, struct lw *w)
{
        json_t *s = json_pack("{s:s, s:I, s:i}", "phase", phase_of(w), "observed_generation",
                              (json_int_t) w->generation, "restarts", (int) w->restarts);
        json_object_set_new(s, "message", json_string(w->message ? w->message : ""));
        if (w->state == LW_RUNNING && w->st.pid > 0)
                json_object_set_new(s, "pid", json_integer(w->st.pid));
        else
                json_object_set_new(s, "pid", json_null());
        if ((w->state == LW_EXITED || w->state == LW_STOPPED) && w->st.exit_known)
                json_object_set_new(s, "exit_code", json_integer(w->st.exit_code));
        else
                json_object_set_new(s, "exit_code", json_null());
        json_object_set_new(s, "ips", w->ips ? json_incref(w->ips) : json_array());
        sf_json_set_str(s, "network_ready_at", w->network_ready_at);
        sf_json_set_str(s, "started_at", w->started_at);
        sf_json_set_str(s, "finished_at", w->finished_at);
        json_object_set_new(s, "timings", w->timings ? json_incref(w->timings) : json_object());
        json_object_set_new(s, "runtime", json_string(a->o.runtime ? a->o.runtime : "runc"));
        {
                _cleanup_free_ char *ns = agent_netns_path(a, w->id);
                json_object_set_new(s, "netns", json_string(ns));
        }
        if (w->extra_status) /* kind-specific fields (VMs: vm.c) */
                json_object_update(s, w->extra_status);
        return s;
}

/* Lock held: the reconciler wakes up when w's held-back Creating report is due. */
static void status_due(sf_agent *a, struct lw *w)
{
        uint64_t due = w->busy_since + STATUS_HOLD_USEC;
        if (w->busy_since && (!a->status_due || due < a->status_due)) {
                a->status_due = due;
                pthread_cond_broadcast(&a->cond);
        }
}

/* Every key the agent reports is equal on the controller's side. */
static bool status_matches(json_t *mine_, json_t *theirs)
{
        const char *k;
        json_t *v;
        if (!json_is_object(theirs))
                return false;
        json_object_foreach(mine_, k, v)
                if (!json_equal(v, json_object_get(theirs, k)))
                        return false;
        return true;
}

struct report {
        char id[40];
        json_t *status;
};

static void reconcile_pass(sf_agent *a, sf_httpc *http)
{
        json_auto_t *dp = NULL;
        struct report *reports = NULL;
        size_t n_reports = 0;
        uint64_t now = sf_now_usec();
        const char *id;
        json_t *c;

        agent_lock(a);
        a->dirty = false;
        a->status_due = 0;
        if (!a->synced || !a->node_id) {
                agent_unlock(a);
                return;
        }
        json_object_foreach(agent_cache_kind(a, "container"), id, c) {
                struct lw *w = agent_lw_find(a, id);
                const char *desired;
                int64_t gen = json_integer_value(json_object_get(c, "generation"));
                if (json_is_object(json_object_get(c, "handover")) && agent_handover_dispatch(a, id, c))
                        continue;
                if (!mine(a, c))
                        continue;
                if (json_is_true(json_object_get(c, "deleting"))) {
                        if (!w) {
                                w = agent_lw_add(a, id);
                                w->state = LW_GONE;
                                w->spec = json_incref(c);
                        }
                        if (!w->busy && !w->finalized) {
                                w->deleting = true;
                                agent_job_push(a, JOB_DELETE, id);
                        }
                        continue;
                }
                if (!w) {
                        w = agent_lw_add(a, id);
                        w->spec = json_incref(c);
                        w->name = xstrdup(json_string_value(json_object_get(c, "name")));
                        w->generation = gen;
                        agent_job_push(a, JOB_CREATE, id);
                        continue;
                }
                if (w->busy)
                        continue;
                if (w->spec != c) {
                        json_decref(w->spec);
                        w->spec = json_incref(c);
                }
                desired = json_string_value(json_object_get(c, "desired_state")) ?: "running";
                w->generation = gen;
                switch (w->state) {
                case LW_NEW:
                        agent_job_push(a, JOB_CREATE, id);
                        break;
                case LW_RUNNING:
                        if (STREQ(desired, "stopped"))
                                agent_job_push(a, JOB_STOP, id);
                        break;
                case LW_STOPPED:
                        if (STREQ(desired, "running"))
                                agent_job_push(a, JOB_START, id);
                        break;
                case LW_EXITED:
                        if (STREQ(desired, "stopped")) {
                                w->state = LW_STOPPED;
                                agent_wake(a);
                        } else if (restart_allowed(w) && now >= w->retry_at)
                                agent_job_push(a, JOB_START, id);
                        break;
                case LW_FAILED:
                        if (STREQ(desired, "running") && now >= w->retry_at)
                                agent_job_push(a, JOB_CREATE, id);
                        break;
                default:
                        break;
                }
        }
        /* Workloads the controller no longer wants here: force-deleted, or moved away. */
        for (size_t i = 0; i < a->n_lws; i++) {
                struct lw *w = a->lws[i];
                json_t *want = agent_cache_get(a, "container", w->id);
                if (w->busy)
                        continue;
                /* removed here and no longer this node's (deleted, or moved away): forget it,
                 * so that a later move back starts from a clean slate */
                if (w->state == LW_GONE && (!want || !mine(a, want)) && !w->shadow) {
                        agent_lw_remove(a, w);
                        i--;
                        continue;
                }
                if (w->finalized)
                        continue;
                /* a handover target's prepared copy is not this node's until the cutover */
                if (w->shadow && want && json_is_object(json_object_get(want, "handover")) &&
                    STREQ(json_string_value(json_object_get(json_object_get(want, "handover"), "to")) ?: "", a->node_id))
                        continue;
                if (!want || !mine(a, want)) {
                        if (w->state == LW_GONE) {
                                agent_lw_remove(a, w);
                                i--;
                                continue;
                        }
                        w->deleting = true;
                        agent_job_push(a, JOB_DELETE, w->id);
                }
        }
        /* Port pools: a warm namespace for each idle pooled port of this node (warm.c). A
         * nested node has neither pools nor a data plane of its own: its containers' devices
         * sit on the guest's NIC (workload.c). */
        if (!a->o.nested_mode)
                agent_warm_sync(a);
        /* What the data plane of this node must look like (networks, overlay, policy): built
         * again only when a kind it reads changed (most events of a burst are containers'). */
        if (!a->dp_last || a->dp_gen != a->dp_gen_built) {
                if (a->dp_last)
                        json_decref(a->dp_last);
                a->dp_last = agent_dp_desired(a);
                a->dp_gen_built = a->dp_gen;
        }
        dp = json_incref(a->dp_last);
        /* Status reports: only what changed since the last one. */
        for (size_t i = 0; i < a->n_lws; i++) {
                struct lw *w = a->lws[i];
                json_t *s;
                if (w->deleting || w->state == LW_GONE || w->shadow ||
                    !agent_cache_get(a, "container", w->id) || !mine(a, agent_cache_get(a, "container", w->id)))
                        continue;
                c = agent_cache_get(a, "container", w->id);
                /* A creation that ends within STATUS_HOLD_USEC of its start is reported once,
                 * Running (or Failed), not Creating first: in a burst each report is a store
                 * write and an event to every watcher. A longer one shows Creating from then
                 * on; one still queued stays Pending ("waiting for the node's agent"). */
                if (w->state == LW_NEW && w->busy && (!w->busy_since || now < w->busy_since + STATUS_HOLD_USEC)) {
                        status_due(a, w);
                        continue;
                }
                s = status_of(a, w);
                /* Compare with what the controller holds (not with what was last sent): a
                 * status changed there, e.g. marked by the node lease monitor while this node
                 * was unreachable, is set right again. Unless the cache has not seen our last
                 * report yet (its event is on its way): sending it again would be a copy. */
                if (status_matches(s, json_object_get(c, "status")) ||
                    (w->reported && json_integer_value(json_object_get(c, "revision")) < w->reported_rev &&
                     json_equal(s, w->reported))) {
                        json_decref(s);
                        continue;
                }
                reports = xrealloc(reports, sizeof(*reports) * (n_reports + 1));
                snprintf(reports[n_reports].id, sizeof(reports->id), "%s", w->id);
                reports[n_reports++].status = s;
        }
        agent_unlock(a);

        {
                /* The data plane depends only on dp: sync when it changes, and every 30 s
                 * against drift (someone deleting a bridge or the ruleset by hand). */
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (a->o.nested_mode)
                        ;
                else if (!a->dp_key || (dp != a->dp_key && !json_equal(dp, a->dp_key)) ||
                         now - a->dp_synced > 30000000ULL) {
                        if (agent_dp_sync(a, dp, &e) < 0)
                                log_warn("data plane: %s", sf_err_msg(&e));
                        else {
                                if (a->dp_key)
                                        json_decref(a->dp_key);
                                a->dp_key = json_incref(dp);
                                a->dp_synced = now;
                        }
                }
        }
        for (size_t i = 0; i < n_reports; i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                _cleanup_free_ char *path = xasprintf("/v1/containers/%s", reports[i].id);
                json_auto_t *body = json_pack("{s:O}", "status", reports[i].status), *out = NULL;
                int r = sf_httpc_call(http, "PATCH", path, body, &out, &e);
                agent_lock(a);
                if (r >= 0) {
                        struct lw *w = agent_lw_find(a, reports[i].id);
                        if (w) {
                                if (w->reported)
                                        json_decref(w->reported);
                                w->reported = json_incref(reports[i].status);
                                w->reported_rev = json_integer_value(json_object_get(out, "revision"));
                        }
                } else if (r != -ENOENT)
                        log_debug("status of '%s' not reported: %s", reports[i].id, sf_err_msg(&e));
                agent_unlock(a);
                json_decref(reports[i].status);
        }
        free(reports);
}

static void *reconcile_loop(void *u)
{
        sf_agent *a = u;
        _cleanup_httpc_ sf_httpc *http = NULL;
        if (agent_http_new(a, &http, NULL) < 0)
                return NULL;
        if (a->o.control_nice)
                (void) sf_thread_set_nice(a->o.control_nice);
        sf_httpc_set_timeout(http, 10000);
        while (!a->stopping) {
                uint64_t until;
                reconcile_pass(a, http);
                until = sf_now_usec() + 2000000; /* timers: restarts and retries come due without events */
                agent_lock(a);
                while (!a->dirty && !a->stopping) {
                        /* and a held-back status report (status_due) */
                        uint64_t t = a->status_due && a->status_due < until ? a->status_due : until;
                        struct timespec ts = { .tv_sec = (time_t) (t / 1000000), .tv_nsec = (long) (t % 1000000) * 1000 };
                        if (sf_now_usec() >= t)
                                break;
                        (void) pthread_cond_timedwait(&a->cond, &a->lock, &ts);
                }
                agent_unlock(a);
        }
        return NULL;
}

static void *worker_loop(void *u)
{
        sf_agent *a = u;
        _cleanup_httpc_ sf_httpc *http = NULL;
        if (agent_http_new(a, &http, NULL) < 0)
                return NULL;
        if (a->o.control_nice) /* the processes it spawns drop back (sf_spawn) */
                (void) sf_thread_set_nice(a->o.control_nice);
        sf_httpc_set_timeout(http, 10000);
        for (;;) {
                struct job *j;
                struct lw *w;
                agent_lock(a);
                while (!a->jobs && !a->stopping)
                        pthread_cond_wait(&a->job_cond, &a->lock);
                if (a->stopping) {
                        agent_unlock(a);
                        break;
                }
                j = a->jobs;
                a->jobs = j->next;
                if (!a->jobs)
                        a->jobs_tail = NULL;
                if ((w = agent_lw_find(a, j->id))) {
                        w->busy_since = sf_now_usec();
                        status_due(a, w);
                }
                agent_unlock(a);

                agent_job_run(a, http, j);

                agent_lock(a);
                w = agent_lw_find(a, j->id);
                if (w) {
                        w->busy = false;
                        if (w->reap_pending && !w->deleting) {
                                w->reap_pending = false;
                                agent_job_push(a, JOB_REAP, w->id);
                        }
                }
                agent_wake(a);
                agent_unlock(a);
                free(j);
        }
        return NULL;
}

int agent_reconcile_start(sf_agent *a, sf_err *e)
{
        int r;
        a->workers = new0(pthread_t, a->n_workers);
        for (unsigned i = 0; i < a->n_workers; i++) {
                r = pthread_create(&a->workers[i], NULL, worker_loop, a);
                if (r)
                        return sf_err_errno(e, -r, "start worker");
        }
        r = pthread_create(&a->reconcile_thread, NULL, reconcile_loop, a);
        if (r)
                return sf_err_errno(e, -r, "start reconciler");
        return 0;
}
