/* sf-shim: a per-container monitor (like conmon or containerd-shim); also the start-gate
 * hook (`--wait-gate`). It detaches from the
 * agent, starts the container through the OCI runtime, stays its parent (as subreaper) and
 * records its exit status, so that containers and exit codes survive the agent's death. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/compute/cgroup.h"
#include "agent/compute/shim-proto.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

SF_LOG_MODULE("shim");

#define DEFAULT_TIMEOUT_MS 25000
#define RUNTIME_LOG_MAX (1024 * 1024)

typedef struct shim_args {
        const char *id, *bundle, *state_dir, *runtime, *runtime_binary, *runtime_root, *log;
        int status_fd;
        int timeout_ms;
        bool probe;
} shim_args;

static int status_fd = -EBADF;

/* Sends the one status line to the agent and closes the pipe. */
static void report(const char *fmt, ...) _printf_(1, 2);
static void report(const char *fmt, ...)
{
        _cleanup_free_ char *line = NULL;
        va_list ap;
        size_t len, off = 0;

        if (status_fd < 0)
                return;
        va_start(ap, fmt);
        line = xvasprintf(fmt, ap);
        va_end(ap);
        /* One line: a multi-line runtime error must not split the protocol. */
        for (char *s = line; *s; s++)
                if (*s == '\n' || *s == '\r')
                        *s = ' ';
        len = strlen(line);
        line = xrealloc(line, len + 2);
        line[len++] = '\n';
        while (off < len) {
                ssize_t n = write(status_fd, line + off, len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break; /* the agent is gone: nothing to tell */
                }
                off += n;
        }
        close(status_fd);
        status_fd = -EBADF;
}

static _noreturn_ void fail(int code, const char *fmt, ...) _printf_(2, 3);
static _noreturn_ void fail(int code, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        msg = xvasprintf(fmt, ap);
        va_end(ap);
        log_error("%s", msg);
        report("error %d %s", code < 0 ? -code : code, msg);
        exit(EXIT_FAILURE);
}

static int parse_int(const char *s, int min, int max, int *ret)
{
        char *end;
        long v;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static void usage(void)
{
        fputs("usage: sf-shim --id ID --bundle DIR --state-dir DIR --runtime runc|crun\n"
              "               [--runtime-binary PATH] --runtime-root DIR --log FILE\n"
              "               [--status-fd N] [--timeout MS]\n"
              "       sf-shim --probe --runtime crun [--runtime-binary PATH]\n"
              "       sf-shim --wait-gate FIFO   (a container's createRuntime hook)\n",
              stderr);
}

static void parse_args(int argc, char **argv, shim_args *a)
{
        static const struct option opts[] = {
                { "id", required_argument, NULL, 'i' },
                { "bundle", required_argument, NULL, 'b' },
                { "state-dir", required_argument, NULL, 's' },
                { "runtime", required_argument, NULL, 'r' },
                { "runtime-binary", required_argument, NULL, 'B' },
                { "runtime-root", required_argument, NULL, 'R' },
                { "log", required_argument, NULL, 'l' },
                { "status-fd", required_argument, NULL, 'f' },
                { "timeout", required_argument, NULL, 't' },
                { "probe", no_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        *a = (shim_args) { .status_fd = -1, .timeout_ms = DEFAULT_TIMEOUT_MS };
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'i': a->id = optarg; break;
                case 'b': a->bundle = optarg; break;
                case 's': a->state_dir = optarg; break;
                case 'r': a->runtime = optarg; break;
                case 'B': a->runtime_binary = optarg; break;
                case 'R': a->runtime_root = optarg; break;
                case 'l': a->log = optarg; break;
                case 'p': a->probe = true; break;
                case 'f':
                        if (parse_int(optarg, 3, 1 << 20, &a->status_fd) < 0) {
                                fprintf(stderr, "sf-shim: bad --status-fd '%s'\n", optarg);
                                exit(2);
                        }
                        break;
                case 't':
                        if (parse_int(optarg, 1, 3600 * 1000, &a->timeout_ms) < 0) {
                                fprintf(stderr, "sf-shim: bad --timeout '%s'\n", optarg);
                                exit(2);
                        }
                        break;
                case 'h':
                        usage();
                        exit(0);
                default:
                        usage();
                        exit(2);
                }
        }
        if (a->status_fd >= 0) {
                status_fd = a->status_fd;
                if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0)
                        status_fd = -EBADF;
        }
        if (optind < argc)
                fail(-EINVAL, "unexpected argument '%s'", argv[optind]);
        if (!a->runtime || (STRNEQ(a->runtime, "runc") && STRNEQ(a->runtime, "crun")))
                fail(-EINVAL, "--runtime must be runc or crun");
        if (!a->runtime_binary)
                a->runtime_binary = a->runtime;
        if (a->probe)
                return;
        if (!a->id || !a->bundle || !a->state_dir || !a->runtime_root || !a->log)
                fail(-EINVAL, "--id, --bundle, --state-dir, --runtime-root and --log are "
                              "required");
        if (!sf_name_valid(a->id))
                fail(-EINVAL, "invalid container id '%s'", a->id);
        if (a->bundle[0] != '/' || a->state_dir[0] != '/' || a->runtime_root[0] != '/' ||
            a->log[0] != '/')
                fail(-EINVAL, "--bundle, --state-dir, --runtime-root and --log must be absolute");
}

/* Steps of starting crun with the cgroup v2 tree hidden, for error messages. */
enum { STEP_UNSHARE, STEP_RSLAVE, STEP_UMOUNT, STEP_DUP, STEP_EXEC };
static const char *const step_names[] = {
        [STEP_UNSHARE] = "unshare(CLONE_NEWNS)",
        [STEP_RSLAVE] = "make / rslave",
        [STEP_UMOUNT] = "umount " SF_CGROUP_ROOT "/unified",
        [STEP_DUP] = "dup2",
        [STEP_EXEC] = "exec",
};

/* crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported"). It works when
 * it cannot see the v2 tree: a private mount namespace, propagation from the host kept
 * (slave), /sys/fs/cgroup/unified unmounted. Done in the short-lived child that execs crun,
 * so the shim itself stays in the host's mount namespace and pins no mounts. */
static int hide_cgroup2(int *ret_step)
{
        *ret_step = STEP_UNSHARE;
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        *ret_step = STEP_RSLAVE;
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return -errno;
        *ret_step = STEP_UMOUNT;
        /* EINVAL: not a mount point (hidden already, in a namespace we were started in). */
        if (umount2(SF_CGROUP_ROOT "/unified", MNT_DETACH) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

static char *hybrid_error(int step, int err)
{
        return xasprintf("crun: cgroups in hybrid mode not supported, and the shim cannot hide "
                         "the v2 tree in a private mount namespace (%s: %s); use runc",
                         step_names[step], strerror(err));
}

static bool needs_hidden_cgroup2(const shim_args *a)
{
        sf_cgroup_mode m;
        return STREQ(a->runtime, "crun") && sf_cgroup_mode_detect(&m, NULL) == 0 &&
               m == SF_CGROUP_HYBRID;
}

/* Starts the runtime with stdin from /dev/null and stdout/stderr on log_fd; with hide set, in
 * a private mount namespace without the cgroup v2 tree. */
static int spawn_runtime(char *const *argv, int log_fd, bool hide, pid_t *ret_pid, sf_err *e)
{
        _cleanup_close_ int devnull = -EBADF;
        int errpipe[2], err[2] = { 0, 0 }; /* errno, step */
        ssize_t n;
        pid_t pid;

        if (!hide) {
                sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
                o.argv = argv;
                o.stdio[1] = log_fd;
                o.stdio[2] = log_fd;
                return sf_spawn(&o, ret_pid, e);
        }

        /* The shim is single-threaded: fork is fine here. The child reports a failure before
         * exec through a close-on-exec pipe. */
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0)
                return sf_err_errno(e, -errno, "open '/dev/null'");
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return sf_err_errno(e, -errno, "pipe");
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(errpipe[0]);
                close(errpipe[1]);
                return sf_err_errno(e, r, "fork");
        }
        if (pid == 0) {
                static const int ign[] = { SIGHUP, SIGINT, SIGPIPE };
                int step, r;
                close(errpipe[0]);
                for (size_t i = 0; i < ELEMENTSOF(ign); i++)
                        signal(ign[i], SIG_DFL);
                r = hide_cgroup2(&step);
                if (r == 0) {
                        step = STEP_DUP;
                        if (dup2(devnull, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
                                r = -errno;
                        else {
                                step = STEP_EXEC;
                                execvp(argv[0], argv);
                                r = -errno;
                        }
                }
                err[0] = -r;
                err[1] = step;
                (void) !write(errpipe[1], err, sizeof(err));
                _exit(127);
        }
        close(errpipe[1]);
        do
                n = read(errpipe[0], err, sizeof(err));
        while (n < 0 && errno == EINTR);
        close(errpipe[0]);
        if (n == (ssize_t) sizeof(err)) {
                waitpid(pid, NULL, 0);
                if (err[1] <= STEP_UMOUNT) {
                        _cleanup_free_ char *m = hybrid_error(err[1], err[0]);
                        return sf_err_set(e, -EOPNOTSUPP, NULL, "%s", m);
                }
                return sf_err_set(e, -err[0], NULL, "%s '%s': %s", step_names[err[1]], argv[0],
                                  strerror(err[0]));
        }
        *ret_pid = pid;
        return 0;
}

/* The runtime's own error messages: "error"-level lines of its JSON log, else what it
 * printed to the container log since log_start. */
static char *runtime_error(const shim_args *a, int log_fd, off_t log_start)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", a->state_dir, SF_SHIM_RUNTIME_LOG_FILE);
        _cleanup_free_ char *buf = NULL;
        char *msg = NULL;

        if (sf_read_file(path, RUNTIME_LOG_MAX, &buf, NULL, NULL) == 0) {
                char *save = NULL;
                for (char *line = strtok_r(buf, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        _cleanup_json_ json_t *j = json_loads(line, 0, NULL);
                        const char *level = json_string_value(json_object_get(j, "level"));
                        const char *m = json_string_value(json_object_get(j, "msg"));
                        char *n;
                        if (!level || !m || (STRNEQ(level, "error") && STRNEQ(level, "fatal")))
                                continue;
                        n = xasprintf("%s%s%s", msg ? msg : "", msg ? "; " : "", m);
                        free(msg);
                        msg = n;
                }
        }
        if (!msg) {
                struct stat st;
                if (fstat(log_fd, &st) == 0 && st.st_size > log_start) {
                        size_t len = (size_t) MIN(st.st_size - log_start, 4096);
                        char *t = xmalloc(len + 1);
                        ssize_t n = pread(log_fd, t, len, st.st_size - (off_t) len);
                        t[n > 0 ? n : 0] = 0;
                        while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' '))
                                t[--n] = 0;
                        if (n > 0)
                                msg = t;
                        else
                                free(t);
                }
        }
        return msg;
}

static int read_pid_file(const shim_args *a, pid_t *ret, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", a->state_dir, SF_SHIM_PID_FILE);
        _cleanup_free_ char *buf = NULL;
        int pid, r;

        r = sf_read_file(path, 64, &buf, NULL, e);
        if (r < 0)
                return r;
        buf[strcspn(buf, "\n")] = 0;
        if (parse_int(buf, 1, INT32_MAX, &pid) < 0)
                return sf_err_set(e, -EIO, NULL, "'%s': not a pid: '%s'", path, buf);
        *ret = pid;
        return 0;
}

/* The pid from the runtime's own state (`RUNTIME state ID`), for when its pid file is not
 * there: crun 1.8 now and then exits 0 from `run --detach` without having written it (about
 * one run in seven of tests/system/agent-crun.sh on this machine). */
static int state_pid(const shim_args *a, pid_t *ret, sf_err *e)
{
        char *argv[] = { (char *) a->runtime_binary, "--root", (char *) a->runtime_root, "state", (char *) a->id,
                         NULL };
        _cleanup_free_ char *out = NULL;
        _cleanup_json_ json_t *j = NULL;
        json_int_t pid;
        int status = 0, r = sf_run_capture(argv, 10000, &out, NULL, &status, e);
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return sf_err_set(e, -EIO, NULL, "%s state '%s' failed", a->runtime, a->id);
        j = json_loads(out ? out : "", 0, NULL);
        pid = json_integer_value(json_object_get(j, "pid"));
        if (pid <= 0 || pid > INT32_MAX)
                return sf_err_set(e, -EIO, NULL, "%s state '%s': no pid", a->runtime, a->id);
        *ret = (pid_t) pid;
        return 0;
}

/* Removes what a failed or timed-out start may have left in the runtime. */
static void runtime_cleanup(const shim_args *a)
{
        char *argv[] = { (char *) a->runtime_binary, "--root", (char *) a->runtime_root,
                         "delete", "--force", (char *) a->id, NULL };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (sf_run_capture(argv, 10000, NULL, NULL, NULL, &e) < 0)
                log_warn("cleanup after failed start: %s, ignoring", sf_err_msg(&e));
}

static _noreturn_ void probe(const shim_args *a)
{
        int step, r;
        if (needs_hidden_cgroup2(a)) {
                r = hide_cgroup2(&step);
                if (r < 0) {
                        _cleanup_free_ char *m = hybrid_error(step, -r);
                        fprintf(stderr, "%s\n", m);
                        exit(EXIT_FAILURE);
                }
        }
        execlp(a->runtime_binary, a->runtime_binary, "--version", (char *) NULL);
        fprintf(stderr, "%s: cannot run '%s': %m\n", a->runtime, a->runtime_binary);
        exit(EXIT_FAILURE);
}

/* The start gate (createRuntime hook, run by the runtime while it creates the container):
 * GO on the FIFO means the agent has plumbed the network and the container's process may
 * run; FAIL, or no writer left (the agent died, before or after this opened the FIFO), means
 * the start must fail. Opened without blocking, so that a dead agent is noticed at once (a
 * blocking open would wait for a writer that never comes); the agent holds the FIFO open
 * read-write from before it starts the shim. The runtime's hook timeout bounds the wait. */
static _noreturn_ void wait_gate(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        char c;
        if (fd < 0) {
                fprintf(stderr, "sf-shim: start gate '%s': %m\n", path);
                exit(EXIT_FAILURE);
        }
        for (;;) {
                ssize_t n = read(fd, &c, 1);
                if (n == 1 && c == SF_SHIM_GATE_GO[0])
                        exit(EXIT_SUCCESS);
                if (n == 1 || n == 0) {
                        fprintf(stderr, "sf-shim: start gate '%s': %s\n", path,
                                n ? "the agent could not prepare the container's network"
                                  : "closed: the agent is gone");
                        exit(EXIT_FAILURE);
                }
                if (errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        if (poll(&p, 1, -1) >= 0 || errno == EINTR)
                                continue;
                } else if (errno == EINTR)
                        continue;
                fprintf(stderr, "sf-shim: start gate '%s': %m\n", path);
                exit(EXIT_FAILURE);
        }
}

int main(int argc, char **argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *runtime_log = NULL, *pid_file = NULL, *shim_log = NULL;
        _cleanup_close_ int log_fd = -EBADF;
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        sf_exit_record rec;
        shim_args a;
        struct stat lst;
        int r, status;
        pid_t pid, runtime_pid, cpid = 0;

        if (argc == 3 && STREQ(argv[1], "--wait-gate"))
                wait_gate(argv[2]);
        parse_args(argc, argv, &a);
        if (a.probe)
                probe(&a);

        /* Detach: the intermediate process exits at once and is reaped by the agent; this one
         * gets its own session and is reparented away from the agent. */
        pid = fork();
        if (pid < 0)
                fail(-errno, "fork: %m");
        if (pid > 0)
                _exit(EXIT_SUCCESS);
        if (setsid() < 0)
                log_debug("setsid: %m, ignoring");
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        umask(022);
        if (chdir("/") < 0)
                fail(-errno, "chdir /: %m");
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                fail(-errno, "PR_SET_CHILD_SUBREAPER: %m");

        shim_log = xasprintf("%s/%s", a.state_dir, SF_SHIM_LOG_FILE);
        r = open(shim_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (r < 0)
                fail(-errno, "open '%s': %m", shim_log);
        if (r != STDERR_FILENO) {
                dup2(r, STDERR_FILENO);
                close(r);
        }
        sf_log_set_prefix(a.id);

        st.id = xstrdup(a.id);
        st.runtime = xstrdup(a.runtime);
        st.shim_pid = getpid();
        if (sf_proc_starttime(st.shim_pid, &st.shim_starttime, &e) < 0 ||
            sf_shim_state_write(a.state_dir, &st, &e) < 0)
                fail(e.code, "%s", sf_err_msg(&e));

        log_fd = open(a.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (log_fd < 0)
                fail(-errno, "open log '%s': %m", a.log);
        if (fstat(log_fd, &lst) < 0)
                fail(-errno, "stat log '%s': %m", a.log);

        runtime_log = xasprintf("%s/%s", a.state_dir, SF_SHIM_RUNTIME_LOG_FILE);
        pid_file = xasprintf("%s/%s", a.state_dir, SF_SHIM_PID_FILE);
        unlink(runtime_log);
        unlink(pid_file);
        {
                _cleanup_free_ char *log_arg = STREQ(a.runtime, "crun")
                                                       ? xasprintf("--log=file:%s", runtime_log)
                                                       : xasprintf("--log=%s", runtime_log);
                char *rargv[] = {
                        (char *) a.runtime_binary, "--root", (char *) a.runtime_root, log_arg,
                        "--log-format=json", "run", "--detach", "--pid-file", pid_file,
                        "--bundle", (char *) a.bundle, (char *) a.id, NULL,
                };
                r = spawn_runtime(rargv, log_fd, needs_hidden_cgroup2(&a), &runtime_pid, &e);
                if (r < 0)
                        fail(r, "%s", sf_err_msg(&e));
        }
        r = sf_spawn_wait(runtime_pid, a.timeout_ms, &status, &e);
        if (r == -ETIMEDOUT) {
                kill(runtime_pid, SIGKILL);
                sf_spawn_wait(runtime_pid, -1, &status, NULL);
                runtime_cleanup(&a);
                fail(-ETIMEDOUT, "%s run did not finish within %d ms and was killed", a.runtime,
                     a.timeout_ms);
        }
        if (r < 0)
                fail(r, "%s", sf_err_msg(&e));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                _cleanup_free_ char *st_str = sf_wait_status_str(status);
                _cleanup_free_ char *msg = runtime_error(&a, log_fd, lst.st_size);
                int code = -EIO;
                if (msg && strstr(msg, "hybrid mode not supported"))
                        code = -EOPNOTSUPP;
                runtime_cleanup(&a);
                if (code == -EOPNOTSUPP)
                        fail(code, "crun: cgroups in hybrid mode not supported (%s); use runc",
                             msg);
                fail(code, "%s run %s%s%s", a.runtime, st_str, msg ? ": " : "", msg ? msg : "");
        }
        close(log_fd); /* the container holds its own copy */
        log_fd = -EBADF;

        r = read_pid_file(&a, &cpid, &e);
        if (r == -ENOENT) {
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                if (state_pid(&a, &cpid, &e2) >= 0) {
                        log_warn("%s run left no pid file; pid %d from its state", a.runtime, (int) cpid);
                        sf_err_clear(&e);
                        r = 0;
                }
        }
        if (r < 0 || sf_proc_starttime(cpid, &st.pid_starttime, &e) < 0) {
                /* Unmonitored containers must not exist: take it down again. */
                runtime_cleanup(&a);
                fail(e.code, "%s run succeeded but: %s", a.runtime, sf_err_msg(&e));
        }
        st.pid = cpid;
        st.started_usec = sf_realtime_usec();
        if (sf_shim_state_write(a.state_dir, &st, &e) < 0)
                fail(e.code, "%s", sf_err_msg(&e));
        report("started %d", (int) cpid);
        log_info("container '%s' started, pid %d", a.id, (int) cpid);

        /* The container's init was reparented to us (subreaper) when the runtime exited.
         * Reap everything; stop when it is the init. */
        for (;;) {
                pid_t p = waitpid(-1, &status, 0);
                if (p < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("wait for pid %d: %m; its exit status is lost", (int) cpid);
                        return EXIT_FAILURE;
                }
                if (p == cpid)
                        break;
        }
        sf_exit_record_from_status(cpid, status, sf_realtime_usec(), &rec);
        if (sf_exit_record_write(a.state_dir, &rec, &e) < 0) {
                log_error("%s", sf_err_msg(&e));
                return EXIT_FAILURE;
        }
        {
                _cleanup_free_ char *s = sf_wait_status_str(status);
                log_info("container '%s' %s", a.id, s);
        }
        return EXIT_SUCCESS;
}
