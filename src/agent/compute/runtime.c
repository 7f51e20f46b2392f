/* OCI runtime driver: container lifecycle through sf-shim and the runc/crun command line,
 * with pidfd-based waiting and cgroup leak checks; the start gate (a FIFO the bundle's
 * createRuntime hook waits on) that overlaps work with the runtime's. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sf-config.h"

#include "agent/compute/cgroup.h"
#include "agent/compute/runtime.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

SF_LOG_MODULE("runtime");

#define DEFAULT_ROOT_DIR "/run/superfluid"
#define DEFAULT_START_TIMEOUT_MS 30000
#define DEFAULT_CMD_TIMEOUT_MS 10000
#define KILL_TIMEOUT_MS 10000     /* after SIGKILL */
#define SHIM_EXIT_TIMEOUT_MS 5000 /* for the shim to write the exit record */
#define STATUS_LINE_MAX 65536

struct sf_runtime {
        sf_runtime_kind kind;
        char *binary;
        char *root;
        char *shim;
        char *exec_dir;
        char *cgroup_root; /* NULL: the real one */
        int start_timeout_ms;
        int cmd_timeout_ms;

        /* Starts in flight: the empty prefix cgroup is only removed when there are none, or
         * a runtime could find its parent directory gone between two mkdir()s. */
        pthread_mutex_t lock;
        unsigned starting;
};

int sf_runtime_kind_parse(const char *s, sf_runtime_kind *ret)
{
        if (STREQ(s, "runc"))
                *ret = SF_RUNTIME_RUNC;
        else if (STREQ(s, "crun"))
                *ret = SF_RUNTIME_CRUN;
        else
                return -EINVAL;
        return 0;
}

const char *sf_runtime_kind_str(sf_runtime_kind k)
{
        return k == SF_RUNTIME_CRUN ? "crun" : "runc";
}

const char *sf_container_status_str(sf_container_status s)
{
        static const char *const names[] = {
                [SF_CONTAINER_UNKNOWN] = "unknown", [SF_CONTAINER_CREATING] = "creating",
                [SF_CONTAINER_CREATED] = "created", [SF_CONTAINER_RUNNING] = "running",
                [SF_CONTAINER_PAUSED] = "paused",   [SF_CONTAINER_STOPPED] = "stopped",
        };
        return (size_t) s < ELEMENTSOF(names) ? names[s] : "unknown";
}

static bool executable(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int find_binary(const char *name, char **ret, sf_err *e)
{
        _cleanup_free_ char *path = NULL;
        char *save = NULL;

        if (strchr(name, '/')) {
                if (!executable(name))
                        return sf_err_set(e, -ENOENT, NULL, "'%s' is not an executable file",
                                          name);
                *ret = xstrdup(name);
                return 0;
        }
        path = xasprintf("%s:/usr/sbin:/usr/bin:/sbin:/bin",
                         getenv("PATH") ? getenv("PATH") : "");
        for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = xasprintf("%s/%s", d, name);
                if (*d == '/' && executable(p)) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return sf_err_set(e, -ENOENT, NULL, "'%s' not found in PATH", name);
}

int sf_shim_path(char **ret, sf_err *e)
{
        _cleanup_strv_free_ char **tried = NULL;
        _cleanup_free_ char *exe = NULL, *list = NULL;
        const char *env = getenv("SF_SHIM");
        char buf[4096];
        ssize_t n;

        if (env && *env) {
                if (!executable(env))
                        return sf_err_set(e, -ENOENT, NULL,
                                          "SF_SHIM='%s' is not an executable file", env);
                *ret = xstrdup(env);
                return 0;
        }
        n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n > 0 && (size_t) n < sizeof(buf) - 1) {
                buf[n] = 0;
                exe = xstrdup(dirname(buf));
                strv_push(&tried, xasprintf("%s/../shim/sf-shim", exe));
                strv_push(&tried, xasprintf("%s/sf-shim", exe));
        }
        strv_push(&tried, xstrdup(SF_LIBEXECDIR "/sf-shim"));
        for (char **p = tried; *p; p++)
                if (executable(*p)) {
                        *ret = realpath(*p, NULL);
                        if (!*ret)
                                *ret = xstrdup(*p);
                        return 0;
                }
        list = xstrdup("");
        for (char **p = tried; *p; p++) {
                char *l = xasprintf("%s%s'%s'", list, *list ? ", " : "", *p);
                free(list);
                list = l;
        }
        return sf_err_set(e, -ENOENT, NULL, "sf-shim not found (set SF_SHIM; tried %s)", list);
}

void sf_runtime_free(sf_runtime *rt)
{
        if (!rt)
                return;
        pthread_mutex_destroy(&rt->lock);
        free(rt->binary);
        free(rt->root);
        free(rt->shim);
        free(rt->exec_dir);
        free(rt->cgroup_root);
        free(rt);
}

sf_runtime_kind sf_runtime_get_kind(const sf_runtime *rt) { return rt->kind; }
const char *sf_runtime_get_root(const sf_runtime *rt) { return rt->root; }
const char *sf_runtime_get_binary(const sf_runtime *rt) { return rt->binary; }

/* crun cannot run on hybrid cgroups unless the shim hides the v2 tree; make sure it can,
 * once, so that the failure is reported up front and clearly. */
static int probe_crun(sf_runtime *rt, sf_err *e)
{
        char *argv[] = { rt->shim, "--probe", "--runtime", "crun", "--runtime-binary",
                         rt->binary, NULL };
        _cleanup_free_ char *err = NULL;
        sf_cgroup_mode mode;
        int status, r;

        if (sf_cgroup_mode_detect(&mode, NULL) < 0 || mode != SF_CGROUP_HYBRID)
                return 0;
        r = sf_run_capture(argv, rt->cmd_timeout_ms, NULL, &err, &status, e);
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                err[strcspn(err, "\n")] = 0;
                return sf_err_set(e, -EOPNOTSUPP, NULL, "%s",
                                  *err ? err : "crun: cgroups in hybrid mode not supported; "
                                               "use runc");
        }
        log_debug("crun on hybrid cgroups: the shim runs it with %s/unified hidden",
                  SF_CGROUP_ROOT);
        return 0;
}

int sf_runtime_new(const sf_runtime_config *c, sf_runtime **ret, sf_err *e)
{
        _cleanup_(sf_runtime_freep) sf_runtime *rt = new0(sf_runtime, 1);
        int r;

        pthread_mutex_init(&rt->lock, NULL);
        rt->kind = c->kind;
        rt->start_timeout_ms = c->start_timeout_ms > 0 ? c->start_timeout_ms
                                                       : DEFAULT_START_TIMEOUT_MS;
        rt->cmd_timeout_ms = c->cmd_timeout_ms > 0 ? c->cmd_timeout_ms : DEFAULT_CMD_TIMEOUT_MS;
        r = find_binary(c->binary ? c->binary : sf_runtime_kind_str(c->kind), &rt->binary, e);
        if (r < 0)
                return sf_err_prefix(e, "runtime %s", sf_runtime_kind_str(c->kind));
        if (c->shim)
                r = find_binary(c->shim, &rt->shim, e);
        else
                r = sf_shim_path(&rt->shim, e);
        if (r < 0)
                return r;
        if ((c->root && c->root[0] != '/') || (c->exec_dir && c->exec_dir[0] != '/'))
                return sf_err_set(e, -EINVAL, "root", "runtime root and exec dir must be absolute");
        rt->root = c->root ? xstrdup(c->root)
                           : xasprintf(DEFAULT_ROOT_DIR "/%s", sf_runtime_kind_str(c->kind));
        rt->exec_dir = xstrdup(c->exec_dir ? c->exec_dir : DEFAULT_ROOT_DIR "/exec");
        rt->cgroup_root = xstrdup(c->cgroup_root);
        if ((r = sf_mkdir_p(rt->root, 0700, e)) < 0 || (r = sf_mkdir_p(rt->exec_dir, 0700, e)) < 0)
                return r;
        if (rt->kind == SF_RUNTIME_CRUN && (r = probe_crun(rt, e)) < 0)
                return r;
        *ret = TAKE_PTR(rt);
        return 0;
}

/* argv of `<runtime> --root R <args...>`; args is NULL-terminated. */
static char **runtime_argv(const sf_runtime *rt, const char *const *args)
{
        char **v = NULL;
        strv_push(&v, xstrdup(rt->binary));
        strv_push(&v, xstrdup("--root"));
        strv_push(&v, xstrdup(rt->root));
        for (size_t i = 0; args[i]; i++)
                strv_push(&v, xstrdup(args[i]));
        return v;
}

static bool not_found_msg(const char *s)
{
        return s && (strstr(s, "does not exist") || strstr(s, "No such file or directory") ||
                     strstr(s, "not found"));
}

static void start_begin(sf_runtime *rt)
{
        pthread_mutex_lock(&rt->lock);
        rt->starting++;
        pthread_mutex_unlock(&rt->lock);
}

static void start_end(sf_runtime *rt)
{
        pthread_mutex_lock(&rt->lock);
        rt->starting--;
        pthread_mutex_unlock(&rt->lock);
}

static void remove_prefix_if_idle(sf_runtime *rt)
{
        pthread_mutex_lock(&rt->lock);
        if (rt->starting == 0)
                sf_cgroup_remove_prefix(rt->cgroup_root);
        pthread_mutex_unlock(&rt->lock);
}

/* Reads one line from fd until deadline. -EPIPE at EOF without a line. */
static int read_status_line(int fd, uint64_t deadline, char **ret, sf_err *e)
{
        _cleanup_free_ char *buf = xmalloc(STATUS_LINE_MAX + 1);
        size_t len = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = sf_now_usec();
                int n = poll(&p, 1, now >= deadline ? 0 : (int) ((deadline - now) / 1000 + 1));
                ssize_t k;
                char *nl;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "poll shim status");
                }
                if (n == 0)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "no status from the shim");
                k = read(fd, buf + len, STATUS_LINE_MAX - len);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return sf_err_errno(e, -errno, "read shim status");
                }
                if (k == 0)
                        return sf_err_set(e, -EPIPE, NULL, "the shim exited without a status");
                len += k;
                buf[len] = 0;
                nl = strchr(buf, '\n');
                if (nl || len == STATUS_LINE_MAX) {
                        if (nl)
                                *nl = 0;
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
        }
}

/* The last lines of the shim's own log, for errors when it died without a word. */
static char *shim_log_tail(const char *state_dir)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", state_dir, SF_SHIM_LOG_FILE);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if (sf_read_file(p, 1 << 20, &buf, &len, NULL) < 0 || len == 0)
                return NULL;
        while (len > 0 && buf[len - 1] == '\n')
                buf[--len] = 0;
        return xstrdup(len > 500 ? buf + len - 500 : buf);
}

/* Kills a shim that did not answer in time (its process group: the shim and the runtime it
 * runs), then removes whatever the runtime created. */
static void abort_start(sf_runtime *rt, const char *id, const char *state_dir)
{
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        if (sf_shim_state_read(state_dir, &st, NULL) == 0) {
                _cleanup_close_ int fd = sf_pidfd_open_verified(st.shim_pid, st.shim_starttime,
                                                                NULL);
                if (fd >= 0) {
                        kill(-st.shim_pid, SIGKILL); /* its group: it called setsid() */
                        sf_pidfd_kill(fd, SIGKILL, NULL);
                        sf_pidfd_wait(fd, KILL_TIMEOUT_MS, NULL);
                }
        }
        sf_runtime_delete(rt, id, true, NULL);
}

static int parse_status_line(const char *line, pid_t *ret_pid, sf_err *e)
{
        char *end;
        long v;
        if (strncmp(line, "started ", 8) == 0) {
                errno = 0;
                v = strtol(line + 8, &end, 10);
                if (errno || *end || v <= 0 || v > INT32_MAX)
                        return sf_err_set(e, -EIO, NULL, "bad status from the shim: '%s'",
                                          line);
                *ret_pid = (pid_t) v;
                return 0;
        }
        if (strncmp(line, "error ", 6) == 0) {
                errno = 0;
                v = strtol(line + 6, &end, 10);
                if (errno || end == line + 6 || *end != ' ' || v <= 0 || v > 4095)
                        return sf_err_set(e, -EIO, NULL, "%s", line + 6);
                return sf_err_set(e, (int) -v, NULL, "%s", end + 1);
        }
        return sf_err_set(e, -EIO, NULL, "bad status from the shim: '%s'", line);
}

char **sf_runtime_gate_hook(const sf_runtime *rt, const char *state_dir, uint32_t *ret_timeout_s)
{
        char **v = new0(char *, 4);
        *ret_timeout_s = (uint32_t) MAX(1, rt->start_timeout_ms * 3 / 5 / 1000);
        v[0] = xstrdup(rt->shim);
        v[1] = xstrdup("--wait-gate");
        v[2] = xasprintf("%s/%s", state_dir, SF_SHIM_GATE_FILE);
        return v;
}

int sf_runtime_start(sf_runtime *rt, const char *id, const char *bundle, const char *state_dir,
                     const char *log_path, pid_t *ret_pid, sf_err *e)
{
        return sf_runtime_start_gated(rt, id, bundle, state_dir, log_path, NULL, ret_pid, e);
}

/* Creates the gate FIFO in state_dir (*ret_path) and opens it read-write: the open does not
 * wait for the hook, and a hook that has it open sees EOF if the agent dies before its
 * verdict. */
static int gate_open(const char *state_dir, char **ret_path, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, SF_SHIM_GATE_FILE);
        int fd;
        if (unlink(path) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "remove '%s'", path);
        if (mkfifo(path, 0600) < 0)
                return sf_err_errno(e, -errno, "mkfifo '%s'", path);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                fd = sf_err_errno(e, -errno, "open '%s'", path);
                unlink(path);
                return fd;
        }
        *ret_path = TAKE_PTR(path);
        return fd;
}

int sf_runtime_start_gated(sf_runtime *rt, const char *id, const char *bundle,
                           const char *state_dir, const char *log_path,
                           const sf_runtime_gate *gate, pid_t *ret_pid, sf_err *e)
{
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF, gfd = -EBADF;
        _cleanup_free_ char *line = NULL, *shim_timeout = NULL, *gate_path = NULL;
        _cleanup_err_ sf_err gate_e = SF_ERR_INIT;
        int gate_r = 0;
        uint64_t deadline = sf_now_usec() + (uint64_t) rt->start_timeout_ms * 1000;
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        sf_spawn_fd fds[1];
        int p[2], r, status;
        pid_t shim, pid = 0;

        if (!sf_name_valid(id))
                return sf_err_set(e, -EINVAL, "id", "invalid container id '%s'", id);
        /* The shim runs in "/": relative paths would mean something else there. */
        if (bundle[0] != '/' || state_dir[0] != '/' || log_path[0] != '/')
                return sf_err_set(e, -EINVAL, NULL,
                                  "start container '%s': bundle, state and log paths must be "
                                  "absolute", id);
        r = sf_mkdir_p(state_dir, 0700, e);
        if (r < 0)
                return r;
        /* Files of a previous run in this state dir must not describe the new one. */
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *f = xasprintf("%s/%s", state_dir,
                                                   i ? SF_SHIM_STATE_FILE : SF_SHIM_EXIT_FILE);
                if (unlink(f) < 0 && errno != ENOENT)
                        return sf_err_errno(e, -errno, "remove '%s'", f);
        }
        if (gate) {
                gfd = gate_open(state_dir, &gate_path, e);
                if (gfd < 0)
                        return sf_err_prefix(e, "start container '%s': start gate", id);
        }
        if (pipe2(p, O_CLOEXEC) < 0) {
                r = sf_err_errno(e, -errno, "pipe");
                goto out_gate;
        }
        rfd = p[0];
        wfd = p[1];

        /* The shim gives up on the runtime a little before we give up on the shim, so that
         * its message (with the runtime's own words) reaches the caller. */
        shim_timeout = xasprintf("%d", MAX(rt->start_timeout_ms - 2000,
                                           rt->start_timeout_ms * 4 / 5));
        {
                char fdnum[16];
                char *argv[] = {
                        rt->shim, "--id", (char *) id, "--bundle", (char *) bundle,
                        "--state-dir", (char *) state_dir, "--runtime",
                        (char *) sf_runtime_kind_str(rt->kind), "--runtime-binary", rt->binary,
                        "--runtime-root", rt->root, "--log", (char *) log_path, "--status-fd",
                        fdnum, "--timeout", shim_timeout, NULL,
                };
                snprintf(fdnum, sizeof(fdnum), "%d", SF_SHIM_STATUS_FD);
                fds[0] = (sf_spawn_fd) { .fd = wfd, .target = SF_SHIM_STATUS_FD };
                o.argv = argv;
                o.fds = fds;
                o.n_fds = 1;
                o.new_session = true;
                start_begin(rt);
                r = sf_spawn(&o, &shim, e);
        }
        if (r < 0) {
                start_end(rt);
                r = sf_err_prefix(e, "start container '%s'", id);
                goto out_gate;
        }
        closep(&wfd);
        wfd = -EBADF;

        /* The first shim process forks the real one and exits at once. */
        r = sf_spawn_wait(shim, rt->start_timeout_ms, &status, e);
        if (r < 0) {
                kill(shim, SIGKILL);
                sf_spawn_wait(shim, -1, NULL, NULL);
        } else {
                if (gate) {
                        /* Meanwhile the runtime creates the container, up to the hook. The
                         * verdict is one byte; the fd stays open until the shim's status, as
                         * a FIFO drops its data when its last open fd closes, and the hook
                         * may not have opened it yet. */
                        gate_r = gate->fn(gate->userdata, &gate_e);
                        if (write(gfd, gate_r >= 0 ? SF_SHIM_GATE_GO : SF_SHIM_GATE_FAIL, 1) != 1 &&
                            gate_r >= 0)
                                gate_r = sf_err_errno(&gate_e, -errno, "open the start gate");
                }
                r = read_status_line(rfd, deadline, &line, e);
        }
        if (r == 0) {
                r = parse_status_line(line, &pid, e);
                if (r == 0 && gate_r < 0)
                        abort_start(rt, id, state_dir); /* the hook failed: it cannot run */
        } else if (r == -EPIPE) {
                _cleanup_free_ char *tail = shim_log_tail(state_dir);
                r = sf_err_set(e, -EIO, NULL, "the shim exited without reporting a status%s%s",
                               tail ? "; its log ends with: " : "", tail ? tail : "");
        } else if (r == -ETIMEDOUT) {
                abort_start(rt, id, state_dir);
                r = sf_err_set(e, -ETIMEDOUT, NULL, "no answer from the shim within %d ms",
                               rt->start_timeout_ms);
        }
        if (gate_r < 0) {
                /* The hook saw EOF, so the runtime failed: why matters more than its words. */
                sf_err_move(e, &gate_e);
                r = gate_r;
        }
        start_end(rt);
        if (r < 0) {
                /* A failed runtime may leave empty cgroups behind (runc does). */
                sf_cgroup_remove(rt->cgroup_root, id, NULL);
                remove_prefix_if_idle(rt);
                r = sf_err_prefix(e, "start container '%s'", id);
                goto out_gate;
        }
        *ret_pid = pid;
        r = 0;
out_gate:
        if (gate_path)
                unlink(gate_path);
        return r;
}

int sf_runtime_kill(sf_runtime *rt, const char *id, int sig, sf_err *e)
{
        char signum[16];
        const char *args[] = { "kill", id, signum, NULL };
        _cleanup_strv_free_ char **argv = NULL;
        snprintf(signum, sizeof(signum), "%d", sig);
        argv = runtime_argv(rt, args);
        return sf_run_capture(argv, rt->cmd_timeout_ms, NULL, NULL, NULL, e);
}

/* Waits until the shim has exited (it then has written the exit record). */
static void wait_shim(const sf_shim_state *st, int timeout_ms)
{
        _cleanup_close_ int fd = sf_pidfd_open_verified(st->shim_pid, st->shim_starttime, NULL);
        if (fd >= 0)
                sf_pidfd_wait(fd, timeout_ms, NULL);
}

int sf_runtime_stop(sf_runtime *rt, const char *id, const char *state_dir, int timeout_ms,
                    sf_err *e)
{
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = sf_shim_state_read(state_dir, &st, e);
        if (r < 0)
                return sf_err_prefix(e, "stop container '%s'", id);
        if (st.pid == 0)
                return sf_err_set(e, -ESRCH, NULL, "stop container '%s': it never ran", id);
        fd = sf_pidfd_open_verified(st.pid, st.pid_starttime, NULL);
        if (fd >= 0) {
                /* Signals go through the verified pidfd: no pid reuse race, no runtime exec. */
                r = sf_pidfd_kill(fd, SIGTERM, e);
                if (r == 0 && sf_pidfd_wait(fd, timeout_ms, NULL) == -ETIMEDOUT) {
                        log_debug("container '%s' did not stop within %d ms, killing", id,
                                  timeout_ms);
                        r = sf_pidfd_kill(fd, SIGKILL, e);
                        if (r == 0 && sf_pidfd_wait(fd, KILL_TIMEOUT_MS, NULL) == -ETIMEDOUT)
                                r = sf_err_set(e, -ETIMEDOUT, NULL,
                                               "pid %d survived SIGKILL for %d ms", (int) st.pid,
                                               KILL_TIMEOUT_MS);
                }
                if (r < 0)
                        return sf_err_prefix(e, "stop container '%s'", id);
        }
        wait_shim(&st, SHIM_EXIT_TIMEOUT_MS);
        return 0;
}

int sf_runtime_delete(sf_runtime *rt, const char *id, bool force, sf_err *e)
{
        const char *args[] = { "delete", force ? "--force" : id, force ? id : NULL, NULL };
        _cleanup_strv_free_ char **argv = runtime_argv(rt, args);
        _cleanup_free_ char *err = NULL;
        int status, r;

        if (!sf_name_valid(id))
                return sf_err_set(e, -EINVAL, "id", "invalid container id '%s'", id);
        r = sf_run_capture(argv, rt->cmd_timeout_ms, NULL, &err, &status, e);
        if (r < 0)
                return sf_err_prefix(e, "delete container '%s'", id);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                err[strcspn(err, "\n")] = 0;
                if (!not_found_msg(err))
                        return sf_err_set(e, strstr(err, "running") ? -EBUSY : -EIO, NULL,
                                          "delete container '%s': %s: %s", id, rt->binary, err);
        }
        r = sf_cgroup_remove(rt->cgroup_root, id, e);
        if (r < 0)
                return sf_err_prefix(e, "delete container '%s'", id);
        remove_prefix_if_idle(rt);
        return 0;
}

static sf_container_status status_parse(const char *s)
{
        static const struct {
                const char *name;
                sf_container_status status;
        } map[] = {
                { "creating", SF_CONTAINER_CREATING }, { "created", SF_CONTAINER_CREATED },
                { "running", SF_CONTAINER_RUNNING },   { "paused", SF_CONTAINER_PAUSED },
                { "stopped", SF_CONTAINER_STOPPED },
        };
        for (size_t i = 0; s && i < ELEMENTSOF(map); i++)
                if (STREQ(s, map[i].name))
                        return map[i].status;
        return SF_CONTAINER_UNKNOWN;
}

int sf_runtime_state(sf_runtime *rt, const char *id, sf_container_state *ret, sf_err *e)
{
        const char *args[] = { "state", id, NULL };
        _cleanup_strv_free_ char **argv = runtime_argv(rt, args);
        _cleanup_free_ char *out = NULL, *err = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *status = NULL;
        int64_t pid = 0;
        int st, r;

        r = sf_run_capture(argv, rt->cmd_timeout_ms, &out, &err, &st, e);
        if (r < 0)
                return r;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                err[strcspn(err, "\n")] = 0;
                if (not_found_msg(err))
                        return sf_err_set(e, -ENOENT, NULL, "container '%s' does not exist", id);
                return sf_err_set(e, -EIO, NULL, "state of container '%s': %s", id, err);
        }
        r = sf_json_parse(out, strlen(out), &j, e);
        if (r < 0 || (r = sf_json_str(j, "status", true, &status, e)) < 0 ||
            (r = sf_json_int(j, "pid", false, 0, INT32_MAX, &pid, e)) < 0)
                return sf_err_prefix(e, "state of container '%s'", id);
        ret->status = status_parse(status);
        ret->pid = ret->status == SF_CONTAINER_STOPPED ? 0 : (pid_t) pid;
        return 0;
}

/* True if pid is in the cgroup of container id (any hierarchy). */
static bool pid_in_container(pid_t pid, const char *id)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/cgroup", (int) pid);
        _cleanup_free_ char *buf = NULL, *needle = xasprintf(":/%s/%s\n", sf_cgroup_prefix(), id);
        if (sf_read_file(path, 1 << 16, &buf, NULL, NULL) < 0)
                return false;
        return strstr(buf, needle) != NULL;
}

int sf_runtime_exec(sf_runtime *rt, const char *id, char *const *argv, char *const *env,
                    int timeout_ms, char **ret_out, char **ret_err, int *ret_exit_code,
                    sf_err *e)
{
        char tmpl[] = "/exec-XXXXXX";
        _cleanup_free_ char *dir = xasprintf("%s%s", rt->exec_dir, tmpl);
        _cleanup_free_ char *pid_file = NULL, *out = NULL, *err = NULL;
        _cleanup_strv_free_ char **v = NULL;
        int status, r;

        if (!argv || !argv[0])
                return sf_err_set(e, -EINVAL, "argv", "must name a program to run");
        if (!mkdtemp(dir))
                return sf_err_errno(e, -errno, "mkdtemp '%s'", dir);
        pid_file = xasprintf("%s/pid", dir);
        strv_push(&v, xstrdup(rt->binary));
        strv_push(&v, xstrdup("--root"));
        strv_push(&v, xstrdup(rt->root));
        strv_push(&v, xstrdup("exec"));
        strv_push(&v, xstrdup("--pid-file"));
        strv_push(&v, xstrdup(pid_file));
        for (size_t i = 0; env && env[i]; i++) {
                strv_push(&v, xstrdup("--env"));
                strv_push(&v, xstrdup(env[i]));
        }
        strv_push(&v, xstrdup(id));
        for (size_t i = 0; argv[i]; i++)
                strv_push(&v, xstrdup(argv[i]));

        r = sf_run_capture(v, timeout_ms, &out, &err, &status, e);
        if (r == -ETIMEDOUT) {
                /* The runtime is dead; the process it started lives on in the container
                 * (reparented): kill it too, if it is still the one in that container. */
                _cleanup_free_ char *buf = NULL;
                long pid;
                if (sf_read_file(pid_file, 64, &buf, NULL, NULL) == 0 &&
                    (pid = strtol(buf, NULL, 10)) > 0) {
                        _cleanup_close_ int fd = pidfd_open((pid_t) pid, 0);
                        if (fd >= 0 && pid_in_container((pid_t) pid, id))
                                sf_pidfd_kill(fd, SIGKILL, NULL);
                }
        }
        unlink(pid_file);
        rmdir(dir);
        if (r < 0)
                return sf_err_prefix(e, "exec in container '%s'", id);
        if (!ret_exit_code && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                _cleanup_free_ char *s = sf_wait_status_str(status);
                size_t n = strlen(err);
                while (n > 0 && err[n - 1] == '\n')
                        err[--n] = 0;
                return sf_err_set(e, -EIO, NULL, "exec in container '%s': '%s' %s%s%s", id,
                                  argv[0], s, n ? ": " : "", err);
        }
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        if (ret_err)
                *ret_err = TAKE_PTR(err);
        if (ret_exit_code)
                *ret_exit_code = sf_wait_status_code(status);
        return 0;
}

int sf_runtime_pidfd(const char *state_dir, sf_err *e)
{
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        int r = sf_shim_state_read(state_dir, &st, e);
        if (r < 0)
                return r;
        if (st.pid == 0)
                return sf_err_set(e, -ESRCH, NULL, "container '%s' never ran", st.id);
        return sf_pidfd_open_verified(st.pid, st.pid_starttime, e);
}

int sf_runtime_wait_exit(const char *state_dir, int timeout_ms, sf_exit_record *ret, sf_err *e)
{
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = sf_exit_record_read(state_dir, ret, e);
        if (r != -ENOENT)
                return r;
        r = sf_shim_state_read(state_dir, &st, e);
        if (r < 0)
                return r;
        fd = sf_pidfd_open_verified(st.shim_pid, st.shim_starttime, NULL);
        if (fd >= 0) {
                r = sf_pidfd_wait(fd, timeout_ms, e);
                if (r < 0)
                        return sf_err_set(e, r, NULL,
                                          "container '%s': no exit record within %d ms", st.id,
                                          timeout_ms);
        }
        r = sf_exit_record_read(state_dir, ret, e);
        if (r == -ENOENT)
                return sf_err_set(e, -ENOENT, NULL,
                                  "container '%s': exit status lost (its shim, pid %d, is gone)",
                                  st.id, (int) st.shim_pid);
        return r;
}

/* A pidfd of a process that has not exited (a zombie has: it only waits to be reaped). */
static bool running(int pidfd)
{
        return pidfd >= 0 && sf_pidfd_wait(pidfd, 0, NULL) == -ETIMEDOUT;
}

int sf_runtime_adopt(sf_runtime *rt, const char *id, const char *state_dir,
                     sf_container_info *ret, sf_err *e)
{
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        _cleanup_close_ int pidfd = -EBADF, shimfd = -EBADF;
        sf_container_info info = { 0 };
        int r;

        r = sf_shim_state_read(state_dir, &st, e);
        if (r == -ENOENT) {
                /* Started by something else, or the state dir was lost: ask the runtime. */
                sf_container_state rs;
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                r = sf_runtime_state(rt, id, &rs, &e2);
                if (r < 0) {
                        if (r == -ENOENT)
                                return sf_err_set(e, -ENOENT, NULL,
                                                  "container '%s' is unknown (no shim state in "
                                                  "'%s', unknown to %s)",
                                                  id, state_dir, rt->binary);
                        sf_err_move(e, &e2);
                        return r;
                }
                info.status = rs.status;
                info.pid = rs.pid;
                *ret = info;
                return 0;
        }
        if (r < 0)
                return r;
        if (STRNEQ(st.id, id))
                return sf_err_set(e, -EINVAL, NULL, "'%s' holds container '%s', not '%s'",
                                  state_dir, st.id, id);

        info.pid = st.pid;
        info.pid_starttime = st.pid_starttime;
        info.shim_pid = st.shim_pid;
        info.started_usec = st.started_usec;
        shimfd = sf_pidfd_open_verified(st.shim_pid, st.shim_starttime, NULL);
        info.shim_alive = running(shimfd);

        r = sf_exit_record_read(state_dir, &info.exit, NULL);
        if (r == 0) {
                info.status = SF_CONTAINER_STOPPED;
                info.exit_known = true;
                *ret = info;
                return 0;
        }
        if (st.pid == 0) {
                /* The shim died before the container ran, or is starting it right now. */
                info.status = SF_CONTAINER_UNKNOWN;
                *ret = info;
                return 0;
        }
        pidfd = sf_pidfd_open_verified(st.pid, st.pid_starttime, NULL);
        if (running(pidfd)) {
                info.status = SF_CONTAINER_RUNNING;
                *ret = info;
                return 0;
        }
        /* Gone. A live shim is about to write the record. */
        info.status = SF_CONTAINER_STOPPED;
        if (info.shim_alive)
                sf_pidfd_wait(shimfd, SHIM_EXIT_TIMEOUT_MS, NULL);
        if (sf_exit_record_read(state_dir, &info.exit, NULL) == 0)
                info.exit_known = true;
        info.shim_alive = running(shimfd);
        *ret = info;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int sf_runtime_list(sf_runtime *rt, char ***ret_ids, sf_err *e)
{
        _cleanup_strv_free_ char **ids = NULL;
        DIR *d = opendir(rt->root);
        struct dirent *de;

        if (!d) {
                if (errno != ENOENT)
                        return sf_err_errno(e, -errno, "open '%s'", rt->root);
        } else {
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && sf_name_valid(de->d_name))
                                strv_push(&ids, xstrdup(de->d_name));
                closedir(d);
        }
        if (!ids)
                ids = new0(char *, 1);
        qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
        *ret_ids = TAKE_PTR(ids);
        return 0;
}
