/* This node in the controller: registration (capacity, detected kernel features, images,
 * underlay address, agent URL) and heartbeats that keep its lease. */
#include <sys/sysinfo.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/features.h"

SF_LOG_MODULE("node");

void agent_refresh_images(sf_agent *a)
{
        sf_image_info **v = NULL;
        size_t n = 0;
        json_t *names = json_array();
        if (sf_image_list(a->images, &v, &n, NULL) >= 0)
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(names, json_string(v[i]->name));
        sf_image_info_array_free(v, n);
        agent_lock(a);
        if (a->image_names)
                json_decref(a->image_names);
        a->image_names = names;
        agent_unlock(a);
}

static json_t *status_json(sf_agent *a)
{
        _cleanup_free_ char *ts = sf_timestamp(sf_realtime_usec());
        json_t *info;
        unsigned running = 0;
        agent_lock(a);
        for (size_t i = 0; i < a->n_lws; i++)
                running += a->lws[i]->state == LW_RUNNING;
        info = json_pack("{s:o, s:s, s:i, s:b}", "images", a->image_names ? json_incref(a->image_names) : json_array(),
                         "runtime", a->o.runtime ? a->o.runtime : "runc", "workloads_running",
                         (int) running, "controller_connected", a->connected);
        agent_vm_node_info(a, info); /* VM hook: vm_images, vm_accelerator */
        agent_trunk_node_info(a, info); /* trunk hook: trunk_datapath, trunks (counters) */
        agent_unlock(a);
        return json_pack("{s:s, s:s, s:s, s:o}", "state", "Ready", "reason", "agent running",
                         "heartbeat_at", ts, "info", info);
}

static json_t *capacity_json(void)
{
        struct sysinfo si;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        json_int_t mem = 0;
        if (sysinfo(&si) == 0)
                mem = (json_int_t) si.totalram * si.mem_unit;
        return json_pack("{s:I, s:I, s:i}", "cpu_millis", (json_int_t) (cpus > 0 ? cpus : 1) * 1000,
                         "memory_bytes", mem, "max_workloads", 500);
}

static json_t *labels_json(const char *s)
{
        json_t *o = json_object();
        _cleanup_free_ char *copy = s ? xstrdup(s) : NULL;
        char *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(t, '=');
                if (!eq)
                        continue;
                *eq = 0;
                json_object_set_new(o, t, json_string(eq + 1));
        }
        return o;
}

int agent_node_register(sf_agent *a, sf_httpc *http, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("/v1/nodes/%s", a->node_name);
        json_auto_t *body = json_object(), *out = NULL, *existing = NULL;
        int r;

        json_object_set_new(body, "agent_url", json_string(a->self_url));
        json_object_set_new(body, "capacity", capacity_json());
        json_object_set(body, "features", a->features);
        json_object_set_new(body, "status", status_json(a));
        if (a->o.underlay_ip)
                json_object_set_new(body, "underlay_ip", json_string(a->o.underlay_ip));
        if (a->o.site)
                json_object_set_new(body, "site", json_string(a->o.site));
        if (a->o.labels)
                json_object_set_new(body, "labels", labels_json(a->o.labels));
        r = sf_httpc_call(http, "GET", path, NULL, &existing, e);
        if (r == -ENOENT && a->o.site) {
                /* A site named on the command line that nobody created yet: create it (kind
                 * core; an operator can change the kind), rather than refuse to join. */
                _cleanup_free_ char *sp = NULL, *es = sf_httpc_escape(a->o.site);
                json_auto_t *site = json_pack("{s:s}", "name", a->o.site);
                sp = xasprintf("/v1/sites/%s", es);
                if (sf_httpc_call(http, "GET", sp, NULL, NULL, NULL) == -ENOENT) {
                        if (sf_httpc_call(http, "POST", "/v1/sites", site, NULL, NULL) >= 0)
                                log_warn("site '%s' did not exist: created it (kind core)", a->o.site);
                }
        }
        if (r == -ENOENT) {
                sf_err_clear(e);
                json_object_set_new(body, "name", json_string(a->node_name));
                if (a->o.parent) /* a VM's node: its site and mode are the VM's */
                        json_object_set_new(body, "parent", json_string(a->o.parent));
                r = sf_httpc_call(http, "POST", "/v1/nodes", body, &out, e);
        } else if (r >= 0)
                r = sf_httpc_call(http, "PATCH", path, body, &out, e);
        if (r < 0)
                return sf_err_wrap(r, e, "register node '%s'", a->node_name);
        agent_lock(a);
        free(a->node_id);
        a->node_id = xstrdup(json_string_value(json_object_get(out, "id")));
        agent_wake(a);
        agent_unlock(a);
        log_info("node '%s' registered (%s)", a->node_name, a->node_id);
        return 0;
}

int agent_node_report(sf_agent *a, sf_err *e)
{
        _cleanup_httpc_ sf_httpc *http = NULL;
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = NULL;
        int r;
        agent_lock(a);
        path = a->node_id ? xasprintf("/v1/nodes/%s", a->node_id) : NULL;
        agent_unlock(a);
        if (!path)
                return 0; /* not registered yet: registration reports it */
        r = agent_http_new(a, &http, e);
        if (r < 0)
                return r;
        sf_httpc_set_timeout(http, 5000);
        body = json_pack("{s:o}", "status", status_json(a));
        return sf_httpc_call(http, "PATCH", path, body, NULL, e);
}

/* Beat at least three times per lease the controller answered with (a 7 s lease and a 5 s
 * beat leave one late beat from NotReady), never more often than once a second. */
static unsigned heartbeat_interval(sf_agent *a, json_t *node)
{
        json_int_t lease = json_integer_value(json_object_get(json_object_get(node, "status"), "lease_seconds"));
        unsigned ms = a->o.heartbeat_ms;
        if (lease > 0 && (json_int_t) ms > lease * 1000 / 3)
                ms = (unsigned) (lease * 1000 / 3);
        return ms < 1000 ? 1000 : ms;
}

static void *heartbeat_loop(void *u)
{
        sf_agent *a = u;
        _cleanup_httpc_ sf_httpc *http = NULL;
        bool registered = a->node_id != NULL;
        unsigned interval = a->o.heartbeat_ms;
        if (agent_http_new(a, &http, NULL) < 0)
                return NULL;
        sf_httpc_set_timeout(http, 5000);
        while (!a->stopping) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *out = NULL;
                int r;
                if (!registered) {
                        r = agent_node_register(a, http, &e);
                        if (r >= 0)
                                interval = 1000; /* the next beat learns the lease */
                } else {
                        _cleanup_free_ char *path = xasprintf("/v1/nodes/%s", a->node_id);
                        json_auto_t *body = json_pack("{s:o}", "status", status_json(a));
                        r = sf_httpc_call(http, "PATCH", path, body, &out, &e);
                        if (r == -ENOENT) {
                                /* Deleted by someone, or a new controller: register again. */
                                registered = false;
                                continue;
                        }
                }
                if (r >= 0) {
                        registered = true;
                        a->last_heartbeat_ok = sf_now_usec();
                        if (out) {
                                unsigned ms = heartbeat_interval(a, out);
                                if (ms != interval)
                                        log_info("heartbeat every %u ms (the controller's lease is %" JSON_INTEGER_FORMAT " s)",
                                                 ms, json_integer_value(json_object_get(json_object_get(out, "status"), "lease_seconds")));
                                interval = ms;
                        }
                } else if (!registered)
                        log_warn_rl("cannot register with the controller: %s", sf_err_msg(&e));
                else
                        log_debug("heartbeat: %s", sf_err_msg(&e));
                for (unsigned slept = 0; slept < interval && !a->stopping; slept += 100)
                        usleep(100000);
        }
        return NULL;
}

int agent_heartbeat_start(sf_agent *a, sf_err *e)
{
        int r = pthread_create(&a->heartbeat_thread, NULL, heartbeat_loop, a);
        if (r)
                return sf_err_errno(e, -r, "start heartbeats");
        return 0;
}

/* Kernel features as names, plus the compute capabilities of this node. */
json_t *agent_detect_features(void);
json_t *agent_detect_features(void)
{
        sf_features f = { 0 };
        json_t *out = json_array();
        if (sf_features_detect(&f, NULL) >= 0)
                for (unsigned b = 0; b < SF_FEAT_COUNT; b++)
                        if (f.mask & (1u << b))
                                json_array_append_new(out, json_string(sf_feature_name(1u << b)));
        sf_features_done(&f);
        if (access("/usr/bin/qemu-system-x86_64", X_OK) == 0)
                json_array_append_new(out, json_string("qemu"));
        return out;
}
