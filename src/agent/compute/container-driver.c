/* The container compute driver: workload spec -> OCI bundle (oci-spec) -> OCI runtime through
 * sf-shim (runtime). */
#include <sys/resource.h>

#include "agent/compute/driver.h"
#include "agent/compute/oci-spec.h"
#include "agent/compute/runtime.h"
#include "lib/json.h"
#include "lib/util.h"

#define REAP_TIMEOUT_MS 5000
#define NOFILE_WANTED 65536

typedef struct container_compute {
        sf_compute base; /* first */
        sf_runtime *rt;
} container_compute;

static container_compute *cc_of(sf_compute *c)
{
        return (container_compute *) c;
}

static int container_open(const sf_compute_options *o, sf_compute **ret, sf_err *e)
{
        _cleanup_free_ container_compute *cc = new0(container_compute, 1);
        sf_runtime_config rc = {
                .binary = o->runtime_binary,
                .root = o->runtime_root,
                .shim = o->shim,
                .exec_dir = o->exec_dir,
                .start_timeout_ms = o->start_timeout_ms,
        };
        int r;

        if (o->runtime && sf_runtime_kind_parse(o->runtime, &rc.kind) < 0)
                return sf_err_set(e, -EINVAL, "runtime", "must be runc or crun, not '%s'",
                                  o->runtime);
        r = sf_runtime_new(&rc, &cc->rt, e);
        if (r < 0)
                return r;
        cc->base.driver = &sf_container_driver;
        *ret = &TAKE_PTR(cc)->base;
        return 0;
}

static void container_close(sf_compute *c)
{
        container_compute *cc = cc_of(c);
        sf_runtime_free(cc->rt);
        free(cc);
}

static char *bundle_dir(const sf_workload_spec *w)
{
        return xasprintf("%s/bundle", w->state_dir);
}

static char *log_path(const sf_workload_spec *w)
{
        return w->log_path ? xstrdup(w->log_path) : xasprintf("%s/console.log", w->state_dir);
}

static int check_ref(const sf_workload_spec *w, sf_err *e)
{
        if (!w->id || !sf_name_valid(w->id))
                return sf_err_set(e, -EINVAL, "id", "must be a valid name");
        if (!w->state_dir || w->state_dir[0] != '/')
                return sf_err_set(e, -EINVAL, "state_dir", "must be an absolute path");
        return 0;
}

/* Containers get 65536 open files, or the most the agent itself may have: raising the hard
 * limit needs CAP_SYS_RESOURCE, which the agent may lack (then runc would fail with EPERM). */
static uint64_t nofile_limit(void)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
                return NOFILE_WANTED;
        return MIN((uint64_t) NOFILE_WANTED, (uint64_t) rl.rlim_max);
}

static int container_prepare(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        _cleanup_free_ sf_oci_mount *mounts = new0(sf_oci_mount, w->n_mounts);
        _cleanup_free_ char *bundle = NULL;
        _cleanup_strv_free_ char **hook = NULL;
        uint32_t hook_timeout = 0;
        sf_oci_config oc;
        sf_oci_etc etc = {
                .dns_servers = w->dns_servers,
                .dns_search = w->dns_search,
                .hosts = w->hosts,
        };
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        if (w->n_tap_fds)
                return sf_err_set(e, -EINVAL, "tap_fds", "containers take a netns, not taps");
        for (size_t i = 0; i < w->n_mounts; i++)
                mounts[i] = (sf_oci_mount) { w->mounts[i].source, w->mounts[i].destination,
                                             w->mounts[i].readonly };
        if (w->while_creating) {
                if (!w->netns_path)
                        return sf_err_set(e, -EINVAL, "while_creating",
                                          "needs a network namespace (netns_path) to plumb");
                hook = sf_runtime_gate_hook(cc_of(c)->rt, w->state_dir, &hook_timeout);
        }
        oc = (sf_oci_config) {
                .id = w->id,
                .rootfs = w->rootfs,
                .readonly_rootfs = w->readonly_rootfs,
                .args = w->args,
                .env = w->env,
                .cwd = w->cwd,
                .uid = w->uid,
                .gid = w->gid,
                .hostname = w->hostname,
                .netns_path = w->netns_path,
                .cpu_millicores = w->cpu_millicores,
                .memory_bytes = w->memory_bytes,
                .pids_limit = w->pids_limit,
                .nofile = nofile_limit(),
                .mounts = mounts,
                .n_mounts = w->n_mounts,
                .create_hook = hook,
                .create_hook_timeout_s = hook_timeout,
        };
        bundle = bundle_dir(w);
        r = sf_mkdir_p(w->state_dir, 0700, e);
        if (r < 0)
                return r;
        return sf_oci_bundle_write(bundle, &oc, &etc, e);
}

static int container_start(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                           sf_err *e)
{
        _cleanup_free_ char *bundle = NULL, *log = NULL;
        pid_t pid;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        bundle = bundle_dir(w);
        log = log_path(w);
        r = sf_runtime_start_gated(cc_of(c)->rt, w->id, bundle, w->state_dir, log,
                                   w->while_creating ? &(sf_runtime_gate) { w->while_creating,
                                                                            w->while_creating_data }
                                                     : NULL,
                                   &pid, e);
        if (r < 0)
                return r;
        *ret = (sf_workload_status) {
                .state = SF_WORKLOAD_RUNNING,
                .pid = pid,
                .started_usec = sf_realtime_usec(),
        };
        return 0;
}

static int container_stop(sf_compute *c, const sf_workload_spec *w, int timeout_ms, sf_err *e)
{
        int r = check_ref(w, e);
        if (r < 0)
                return r;
        r = sf_runtime_stop(cc_of(c)->rt, w->id, w->state_dir, timeout_ms, e);
        if (r == -ENOENT || r == -ESRCH) {
                /* Never started through the shim: nothing runs for us to stop. */
                sf_err_clear(e);
                return 0;
        }
        return r;
}

static int container_remove(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        _cleanup_free_ char *bundle = NULL;
        int r;

        if (!w->id || !sf_name_valid(w->id))
                return sf_err_set(e, -EINVAL, "id", "must be a valid name");
        r = sf_runtime_delete(cc_of(c)->rt, w->id, true, e);
        if (r < 0)
                return r;
        if (!w->state_dir)
                return 0;
        bundle = bundle_dir(w);
        return sf_rm_rf(bundle, e);
}

static void status_from_info(const sf_container_info *i, sf_workload_status *ret)
{
        *ret = (sf_workload_status) {
                .pid = i->pid,
                .started_usec = i->started_usec,
        };
        switch (i->status) {
        case SF_CONTAINER_RUNNING:
        case SF_CONTAINER_PAUSED:
                ret->state = SF_WORKLOAD_RUNNING;
                break;
        case SF_CONTAINER_CREATING:
        case SF_CONTAINER_CREATED:
                ret->state = SF_WORKLOAD_CREATED;
                break;
        case SF_CONTAINER_STOPPED:
                ret->state = SF_WORKLOAD_EXITED;
                break;
        default:
                ret->state = SF_WORKLOAD_UNKNOWN;
                break;
        }
        if (i->exit_known) {
                ret->exit_known = true;
                ret->exit_code = i->exit.exit_code;
                ret->exit_signal = i->exit.signal;
                ret->finished_usec = i->exit.finished_usec;
        }
}

static int container_adopt(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                           sf_err *e)
{
        sf_container_info info;
        int r = check_ref(w, e);
        if (r < 0)
                return r;
        r = sf_runtime_adopt(cc_of(c)->rt, w->id, w->state_dir, &info, e);
        if (r < 0)
                return r;
        status_from_info(&info, ret);
        return 0;
}

static int container_watch(sf_compute *c, const sf_workload_spec *w, int *ret_fd, sf_err *e)
{
        int fd, r = check_ref(w, e);
        if (r < 0)
                return r;
        fd = sf_runtime_pidfd(w->state_dir, e);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

static int container_reap(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                          sf_err *e)
{
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        sf_exit_record rec;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        sf_shim_state_read(w->state_dir, &st, NULL);
        r = sf_runtime_wait_exit(w->state_dir, REAP_TIMEOUT_MS, &rec, e);
        if (r < 0 && r != -ENOENT)
                return r;
        *ret = (sf_workload_status) {
                .state = SF_WORKLOAD_EXITED,
                .pid = st.pid,
                .started_usec = st.started_usec,
        };
        if (r == 0) {
                ret->exit_known = true;
                ret->exit_code = rec.exit_code;
                ret->exit_signal = rec.signal;
                ret->finished_usec = rec.finished_usec;
        }
        sf_err_clear(e); /* a lost exit status is reported as exit_known = false */
        return 0;
}

static int container_exec(sf_compute *c, const sf_workload_spec *w, char *const *argv,
                          char *const *env, int timeout_ms, char **ret_out, char **ret_err,
                          int *ret_exit_code, sf_err *e)
{
        if (!w->id || !sf_name_valid(w->id))
                return sf_err_set(e, -EINVAL, "id", "must be a valid name");
        return sf_runtime_exec(cc_of(c)->rt, w->id, argv, env, timeout_ms, ret_out, ret_err,
                               ret_exit_code, e);
}

static int container_list(sf_compute *c, char ***ret_ids, sf_err *e)
{
        return sf_runtime_list(cc_of(c)->rt, ret_ids, e);
}

const struct sf_compute_driver sf_container_driver = {
        .kind = "container",
        .open = container_open,
        .close = container_close,
        .prepare = container_prepare,
        .start = container_start,
        .stop = container_stop,
        .remove = container_remove,
        .adopt = container_adopt,
        .watch = container_watch,
        .reap = container_reap,
        .exec = container_exec,
        .list = container_list,
};
