/* Agent lifecycle: set-up of its directories, image store (with the busybox image made from
 * Debian's busybox-static when missing), compute driver and data plane; adoption of what runs
 * already; then the threads: watch, reconcile, workers, exits, heartbeats; the agent's lock
 * (at real-time priority while waited for or held). */
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/compute/cgroup.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/features.h"
#include "net/link.h"
#include "net/task-iter.h"

SF_LOG_MODULE("agent");

json_t *agent_detect_features(void);

/* The calling thread's own scheduling while it waits for or holds a->lock, or is raised for
 * a hand-out (agent_raise): the first of these raises it, the last one out sets it back. */
static __thread struct sf_rt_boost lock_boost;
static __thread unsigned boost_refs;

static void boost(sf_agent *a)
{
        int r;
        if (boost_refs++ > 0 || !__atomic_load_n(&a->o.lock_rt, __ATOMIC_RELAXED))
                return;
        r = sf_rt_boost_begin(&lock_boost);
        if (r < 0 && __atomic_exchange_n(&a->o.lock_rt, false, __ATOMIC_RELAXED))
                log_info("the agent's lock cannot be taken at real-time priority (%s); its threads keep theirs",
                         strerror(-r));
}

static void unboost(void)
{
        int r;
        if (--boost_refs > 0)
                return;
        r = sf_rt_boost_end(&lock_boost);
        if (r < 0)
                log_warn_rl("cannot set a thread back to its priority after the agent's lock: %s", strerror(-r));
        lock_boost.on = false;
}

void agent_raise(sf_agent *a) { boost(a); }
void agent_lower(sf_agent *a) { unboost(); }

void agent_lock(sf_agent *a)
{
        boost(a);
        pthread_mutex_lock(&a->lock);
}

bool agent_trylock(sf_agent *a)
{
        boost(a);
        if (pthread_mutex_trylock(&a->lock) == 0)
                return true;
        unboost();
        return false;
}

void agent_unlock(sf_agent *a)
{
        pthread_mutex_unlock(&a->lock);
        unboost();
}

int agent_http_new(sf_agent *a, sf_httpc **ret, sf_err *e)
{
        int r = sf_httpc_new(a->o.controller, ret, e);
        if (r >= 0)
                sf_httpc_prefer_local(*ret, a->o.controller_local);
        return r;
}

/* The run directory holds volatile state that is written on every container start (bundles,
 * runtime and shim state, overlay upper dirs): it belongs in memory, as /run normally is. When
 * it is not on tmpfs (some VMs have /run on disk), mount one there, once: the mount outlives
 * sfd so a restarted agent finds its state, and goes away with a reboot, like the workloads. */
static int ensure_tmpfs(const char *dir, sf_err *e)
{
        struct statfs fs;
        int r = sf_mkdir_p(dir, 0700, e);
        if (r < 0)
                return r;
        if (statfs(dir, &fs) < 0)
                return sf_err_errno(e, -errno, "statfs '%s'", dir);
        if (fs.f_type == TMPFS_MAGIC)
                return 0;
        if (mount("sf-run", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
                return sf_err_errno(e, -errno, "mount a tmpfs on the run directory '%s'", dir);
        log_info("run directory '%s' was not on tmpfs: mounted one (volatile state belongs in memory)",
                 dir);
        return 0;
}

int sf_agent_start(const struct sf_agent_options *o, sf_api *api, sf_agent **ret, sf_err *e)
{
        sf_agent *a = new0(sf_agent, 1);
        _cleanup_free_ char *images = NULL, *rt_root = NULL, *exec_dir = NULL;
        _cleanup_image_info_ sf_image_info *bb = NULL;
        char host[256];
        int r;

        a->o = *o;
        a->api = api;
        a->exit_epfd = a->exit_wakefd = -1;
        if (!a->o.run_dir)
                a->o.run_dir = "/run/superfluid";
        if (!a->o.state_dir)
                a->o.state_dir = "/var/lib/superfluid";
        if (!a->o.runtime)
                a->o.runtime = "runc";
        if (!a->o.workers)
                a->o.workers = 16;
        if (!a->o.heartbeat_ms)
                a->o.heartbeat_ms = 5000;
        a->n_workers = a->o.workers;
        {
                /* the CPUs this process may run on (a cpuset may hold fewer than are online) */
                cpu_set_t cs;
                a->ncpus = sched_getaffinity(0, sizeof(cs), &cs) == 0 && CPU_COUNT(&cs) > 0
                                   ? (unsigned) CPU_COUNT(&cs)
                                   : (unsigned) MAX(sysconf(_SC_NPROCESSORS_ONLN), 1L);
        }
        if (o->node)
                a->node_name = xstrdup(o->node);
        else {
                if (gethostname(host, sizeof(host) - 1) < 0)
                        snprintf(host, sizeof(host), "node");
                host[sizeof(host) - 1] = 0;
                a->node_name = xstrdup(host);
        }
        if (!sf_name_valid(a->node_name)) {
                r = sf_err_set(e, -EINVAL, "node", "'%s' is not a valid node name", a->node_name);
                goto fail;
        }
        a->self_url = xstrdup(o->agent_url);
        pthread_mutex_init(&a->lock, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&a->cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        pthread_cond_init(&a->job_cond, NULL);

        r = ensure_tmpfs(a->o.run_dir, e);
        if (r < 0)
                goto fail;
        for (const char *const *d = (const char *const[]) { "containers", "netns", NULL }; *d; d++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", a->o.run_dir, *d);
                r = sf_mkdir_p(p, 0700, e);
                if (r < 0)
                        goto fail;
        }
        images = xasprintf("%s/images", a->o.state_dir);
        r = sf_mkdir_p(images, 0700, e);
        if (r >= 0)
                r = sf_image_store_open(images, &a->images, e);
        if (r < 0)
                goto fail;
        if (sf_image_get(a->images, "busybox", &bb, NULL) == -ENOENT) {
                r = sf_image_create_busybox(a->images, "busybox", e);
                if (r < 0 && r != -EEXIST) {
                        sf_err_prefix(e, "create the busybox image (is busybox-static installed?)");
                        goto fail;
                }
                log_info("image 'busybox' created from the host's busybox-static");
        }
        agent_refresh_images(a);

        if (o->cgroup_parent)
                sf_cgroup_set_prefix(o->cgroup_parent);
        rt_root = xasprintf("%s/%s", a->o.run_dir, a->o.runtime);
        exec_dir = xasprintf("%s/exec", a->o.run_dir);
        r = sf_compute_open("container",
                            &(sf_compute_options) { .runtime = a->o.runtime,
                                                    .runtime_root = rt_root,
                                                    .exec_dir = exec_dir },
                            &a->containers, e);
        if (r < 0)
                goto fail;
        a->features = agent_detect_features();
        /* VMs: the driver next to the container one (a node without QEMU runs containers
         * only), the VM image store and the boot prober. */
        r = agent_vm_init(a, e);
        if (r >= 0)
                r = agent_dp_init(a, e);
        if (r >= 0 && a->o.nested_mode) {
                /* a nested node's ports all sit on this NIC of the guest */
                _cleanup_nl_ sf_nl *nl = NULL;
                r = sf_nl_open(&nl, e);
                if (r >= 0)
                        r = a->nested_ifindex = sf_link_ifindex(nl, a->o.nested_link, e);
                if (r < 0)
                        sf_err_prefix(e, "--nested-link '%s'", a->o.nested_link);
        }
        if (r >= 0)
                r = agent_trunk_init(a, e); /* trunk.c: VLAN subports of VM taps */
        if (r >= 0) {
                /* Process snapshots (the clean check of warm namespaces, leftovers at removal)
                 * through a BPF task iterator when the kernel allows it, else from /proc. */
                _cleanup_err_ sf_err te = SF_ERR_INIT;
                if (sf_task_iter_install(&te) < 0)
                        log_warn("process snapshots read /proc (slower: about a millisecond per hundred "
                                 "processes): %s",
                                 sf_err_msg(&te));
        }
        /* The exit watcher runs before adoption, so that adopted workloads' exits are seen. */
        if (r >= 0)
                r = agent_exit_watch_start(a, e);
        if (r >= 0)
                r = agent_warm_start(a, e); /* port pools: pre-plumbed namespaces */
        if (r >= 0)
                r = agent_adopt_all(a, e);
        if (r < 0)
                goto fail;
        agent_routes_register(a);
        r = agent_cache_start(a, e);
        if (r >= 0)
                r = agent_reconcile_start(a, e);
        if (r >= 0)
                r = agent_heartbeat_start(a, e);
        if (r < 0)
                goto fail;
        log_info("agent for node '%s' started (runtime %s, controller %s)", a->node_name,
                 a->o.runtime, a->o.controller);
        *ret = a;
        return 0;
fail:
        sf_agent_stop(a);
        return r;
}

void sf_agent_port_taken(sf_agent *a, enum sf_agent_take phase, const char *node_id, const char *port_id,
                         const char *workload_id, int64_t revision)
{
        agent_warm_hint(a, phase, node_id, port_id, workload_id, revision);
}

void sf_agent_stop(sf_agent *a)
{
        if (!a)
                return;
        agent_lock(a);
        a->stopping = true;
        pthread_cond_broadcast(&a->cond);
        pthread_cond_broadcast(&a->job_cond);
        agent_unlock(a);
        if (a->exit_wakefd >= 0) {
                uint64_t one = 1;
                (void) !write(a->exit_wakefd, &one, sizeof(one));
        }
        if (a->watch_thread)
                pthread_join(a->watch_thread, NULL);
        if (a->reconcile_thread)
                pthread_join(a->reconcile_thread, NULL);
        if (a->heartbeat_thread)
                pthread_join(a->heartbeat_thread, NULL);
        for (unsigned i = 0; a->workers && i < a->n_workers; i++)
                if (a->workers[i])
                        pthread_join(a->workers[i], NULL);
        if (a->exit_thread)
                pthread_join(a->exit_thread, NULL);
        agent_warm_stop(a);
        agent_vm_stop(a);
        agent_trunk_free(a);
        while (a->n_lws)
                agent_lw_remove(a, a->lws[0]);
        free(a->lws);
        while (a->jobs) {
                struct job *j = a->jobs;
                a->jobs = j->next;
                free(j);
        }
        if (a->exit_epfd >= 0)
                close(a->exit_epfd);
        if (a->exit_wakefd >= 0)
                close(a->exit_wakefd);
        sf_compute_close(a->containers);
        sf_image_store_free(a->images);
        if (a->cache)
                json_decref(a->cache);
        if (a->image_names)
                json_decref(a->image_names);
        if (a->vm_image_names)
                json_decref(a->vm_image_names);
        if (a->features)
                json_decref(a->features);
        if (a->dp_key)
                json_decref(a->dp_key);
        if (a->dp_last)
                json_decref(a->dp_last);
        if (a->bridge_used)
                json_decref(a->bridge_used);
        if (a->dp_bridges_key)
                json_decref(a->dp_bridges_key);
        free(a->workers);
        free(a->nft_applied);
        free(a->node_name);
        free(a->node_id);
        free(a->self_url);
        free(a);
}
