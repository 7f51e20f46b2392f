/* sf-vm-monitor: the parent of one QEMU process (as sf-shim is of a container). It detaches
 * from the agent, starts QEMU with the fds the agent handed down, watches it through its own
 * QMP channel (run state, the reason of the last SHUTDOWN), reaps it and records its exit
 * status in the state directory, so that VMs and their exit codes survive the agent's death.
 * The protocol and files are described in vm-qemu.h. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/compute/qmp.h"
#include "agent/compute/shim-proto.h"
#include "agent/compute/vm-qemu.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

SF_LOG_MODULE("vm-monitor");

#define DEFAULT_TIMEOUT_MS 25000
#define EXIT_WAIT_MS 3000
#define LOG_TAIL_MAX 2000

typedef struct monitor_args {
        const char *id, *state_dir;
        int timeout_ms;
        int pass_fds[SF_VM_MAX_NICS + 2];
        size_t n_pass_fds;
        char **qemu_argv;
} monitor_args;

static int status_fd = SF_VM_STATUS_FD;

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
                        break; /* the agent is gone */
                }
                off += (size_t) n;
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

static void parse_args(int argc, char **argv, monitor_args *a)
{
        static const struct option opts[] = {
                { "id", required_argument, NULL, 'i' },
                { "state-dir", required_argument, NULL, 's' },
                { "timeout", required_argument, NULL, 't' },
                { "pass-fd", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c, v;

        *a = (monitor_args) { .timeout_ms = DEFAULT_TIMEOUT_MS };
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                switch (c) {
                case 'i': a->id = optarg; break;
                case 's': a->state_dir = optarg; break;
                case 't':
                        if (parse_int(optarg, 1, INT32_MAX, &a->timeout_ms) < 0)
                                fail(-EINVAL, "bad --timeout '%s'", optarg);
                        break;
                case 'p':
                        if (parse_int(optarg, 4, 1 << 20, &v) < 0 || v == SF_VM_EVENT_FD ||
                            a->n_pass_fds == ELEMENTSOF(a->pass_fds))
                                fail(-EINVAL, "bad --pass-fd '%s'", optarg);
                        if (fcntl(v, F_GETFD) < 0)
                                fail(-EBADF, "--pass-fd %d is not open", v);
                        a->pass_fds[a->n_pass_fds++] = v;
                        break;
                case 'h':
                        fputs("usage: sf-vm-monitor --id ID --state-dir DIR [--timeout MS]\n"
                              "                     [--pass-fd N]... -- QEMU ARGS...\n"
                              "(the status pipe is fd 3; see src/agent/compute/vm-qemu.h)\n",
                              stdout);
                        exit(EXIT_SUCCESS);
                default:
                        fail(-EINVAL, "bad arguments");
                }
        }
        if (!a->id || !sf_name_valid(a->id))
                fail(-EINVAL, "--id must be a valid name");
        if (!a->state_dir || a->state_dir[0] != '/')
                fail(-EINVAL, "--state-dir must be an absolute path");
        if (optind >= argc)
                fail(-EINVAL, "no QEMU command line after --");
        a->qemu_argv = argv + optind;
}

static void cloexec(int fd)
{
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0)
                fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* What QEMU wrote to its log since offset start: its own error messages. */
static char *log_tail(const char *path, off_t start)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        size_t len;
        char *t;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= start)
                return NULL;
        len = (size_t) MIN(st.st_size - start, LOG_TAIL_MAX);
        t = xmalloc(len + 1);
        n = pread(fd, t, len, st.st_size - (off_t) len);
        if (n <= 0) {
                free(t);
                return NULL;
        }
        t[n] = 0;
        while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' '))
                t[--n] = 0;
        for (char *s = t; *s; s++)
                if (*s == '\n')
                        *s = ';';
        return t;
}

typedef struct monitor {
        monitor_args a;
        sf_vm_monitor_state st;
        sf_qmp *qmp;
        pid_t qemu;
        int pidfd;
        char *qemu_log;
        off_t log_start;
} monitor;

static void save_state(monitor *m)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (sf_vm_monitor_state_write(m->a.state_dir, &m->st, &e) < 0)
                log_error("%s", sf_err_msg(&e));
}

static void set_run_state(monitor *m, const char *s)
{
        free(m->st.run_state);
        m->st.run_state = xstrdup(s);
}

/* Applies the queued QMP events to the record. Returns true if anything changed. */
static bool handle_events(monitor *m)
{
        sf_qmp_event *ev;
        bool changed = false;

        while (m->qmp && sf_qmp_next_event(m->qmp, 0, &ev, NULL) == 0) {
                _cleanup_qmp_event_ sf_qmp_event *x = ev;
                log_debug("event %s", x->name);
                if (STREQ(x->name, "SHUTDOWN")) {
                        const char *reason = json_string_value(json_object_get(x->data,
                                                                               "reason"));
                        free(m->st.shutdown_reason);
                        m->st.shutdown_reason = xstrdup(reason ? reason : "unknown");
                        m->st.shutdown_guest = json_is_true(json_object_get(x->data, "guest"));
                        set_run_state(m, "shutdown");
                } else if (STREQ(x->name, "STOP")) {
                        set_run_state(m, "paused");
                } else if (STREQ(x->name, "RESUME")) {
                        set_run_state(m, "running");
                } else if (STREQ(x->name, "RESET")) {
                        m->st.resets++;
                } else
                        continue;
                log_info("event %s%s%s", x->name, m->st.shutdown_reason && STREQ(x->name, "SHUTDOWN") ? ": " : "",
                         m->st.shutdown_reason && STREQ(x->name, "SHUTDOWN") ? m->st.shutdown_reason : "");
                changed = true;
        }
        return changed;
}

/* Reaps QEMU and records its exit. */
static _noreturn_ void finish(monitor *m, bool report_error)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *sock = xasprintf("%s/%s", m->a.state_dir, SF_VM_QMP_SOCKET);
        sf_exit_record rec;
        int status;

        while (waitpid(m->qemu, &status, 0) < 0) {
                if (errno != EINTR) {
                        log_error("wait for QEMU (pid %d): %m; its exit status is lost",
                                  (int) m->qemu);
                        exit(EXIT_FAILURE);
                }
        }
        /* A SHUTDOWN event sent just before QEMU exited may still be in the socket. */
        if (m->qmp) {
                sf_qmp_poll_events(m->qmp, 0, NULL);
                handle_events(m);
        }
        sf_exit_record_from_status(m->qemu, status, sf_realtime_usec(), &rec);
        set_run_state(m, "exited");
        save_state(m);
        if (sf_exit_record_write(m->a.state_dir, &rec, &e) < 0)
                log_error("%s", sf_err_msg(&e));
        unlink(sock); /* nothing listens there any more */
        free(sock);
        {
                _cleanup_free_ char *s = sf_wait_status_str(status);
                log_info("QEMU (pid %d) %s%s%s", (int) m->qemu, s,
                         m->st.shutdown_reason ? ", shutdown reason " : "",
                         m->st.shutdown_reason ? m->st.shutdown_reason : "");
                if (report_error) {
                        _cleanup_free_ char *tail = log_tail(m->qemu_log, m->log_start);
                        fail(-EIO, "QEMU %s%s%s", s, tail ? ": " : "", tail ? tail : "");
                }
        }
        exit(EXIT_SUCCESS);
}

static void start_qemu(monitor *m)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int log_fd = -EBADF;
        sf_spawn_fd fds[SF_VM_MAX_NICS + 3];
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        struct stat st;
        int sp[2], r;
        size_t n = 0;

        m->qemu_log = xasprintf("%s/%s", m->a.state_dir, SF_VM_QEMU_LOG);
        log_fd = open(m->qemu_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (log_fd < 0)
                fail(-errno, "open '%s': %m", m->qemu_log);
        if (fstat(log_fd, &st) == 0)
                m->log_start = st.st_size;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                fail(-errno, "socketpair: %m");
        for (size_t i = 0; i < m->a.n_pass_fds; i++)
                fds[n++] = (sf_spawn_fd) { .fd = m->a.pass_fds[i], .target = m->a.pass_fds[i] };
        fds[n++] = (sf_spawn_fd) { .fd = sp[1], .target = SF_VM_EVENT_FD };
        o.argv = m->a.qemu_argv;
        o.stdio[1] = log_fd;
        o.stdio[2] = log_fd;
        o.fds = fds;
        o.n_fds = n;
        r = sf_spawn(&o, &m->qemu, &e);
        close(sp[1]);
        for (size_t i = 0; i < m->a.n_pass_fds; i++)
                close(m->a.pass_fds[i]); /* QEMU has them now */
        if (r < 0) {
                close(sp[0]);
                fail(r, "%s", sf_err_msg(&e));
        }
        m->st.qemu_pid = m->qemu;
        m->st.started_usec = sf_realtime_usec();
        m->pidfd = sf_pidfd_open(m->qemu, &e);
        if (m->pidfd < 0 || sf_proc_starttime(m->qemu, &m->st.qemu_starttime, &e) < 0) {
                kill(m->qemu, SIGKILL);
                finish(m, true);
        }
        save_state(m);
        log_info("QEMU started, pid %d", (int) m->qemu);

        /* The greeting comes once QEMU has set up every device: before that, a bad disk or
         * option makes it exit, and the socket closes. */
        r = sf_qmp_open_fd(sp[0], m->a.timeout_ms, &m->qmp, &e);
        if (r < 0) {
                if (sf_pidfd_wait(m->pidfd, EXIT_WAIT_MS, NULL) == -ETIMEDOUT) {
                        log_error("no QMP greeting from QEMU: %s; killing it", sf_err_msg(&e));
                        sf_pidfd_kill(m->pidfd, SIGKILL, NULL);
                        report("error %d QEMU did not become ready: %s", ETIMEDOUT,
                               sf_err_msg(&e));
                        finish(m, false);
                }
                finish(m, true);
        }
        {
                _cleanup_json_ json_t *status = NULL;
                const char *s = NULL;
                if (sf_qmp_execute(m->qmp, "query-status", NULL, &status, &e) == 0)
                        s = json_string_value(json_object_get(status, "status"));
                set_run_state(m, s && STREQ(s, "running") ? "running"
                                 : s && STREQ(s, "paused") ? "paused"
                                 : s ? s : "running");
        }
        handle_events(m);
        m->st.ready_usec = sf_realtime_usec();
        save_state(m);
}

int main(int argc, char **argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *mon_log;
        monitor m = { .pidfd = -EBADF };
        pid_t pid;
        int r;

        if (fcntl(SF_VM_STATUS_FD, F_GETFD) < 0)
                status_fd = -EBADF; /* started by hand */
        cloexec(SF_VM_STATUS_FD);
        parse_args(argc, argv, &m.a);
        for (size_t i = 0; i < m.a.n_pass_fds; i++)
                cloexec(m.a.pass_fds[i]); /* QEMU gets them through sf_spawn only */

        /* Detach: the intermediate process exits at once (the agent reaps it); this one
         * leads its own session and is reparented away from the agent. */
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
        umask(027);
        if (chdir("/") < 0)
                fail(-errno, "chdir /: %m");

        mon_log = xasprintf("%s/%s", m.a.state_dir, SF_VM_MONITOR_LOG);
        r = open(mon_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (r < 0)
                fail(-errno, "open '%s': %m", mon_log);
        free(mon_log);
        if (r != STDERR_FILENO) {
                dup2(r, STDERR_FILENO);
                close(r);
        }
        {
                int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (devnull >= 0) {
                        dup2(devnull, STDIN_FILENO);
                        dup2(devnull, STDOUT_FILENO);
                        close(devnull);
                }
        }
        sf_log_set_prefix(m.a.id);

        m.st.id = xstrdup(m.a.id);
        m.st.monitor_pid = getpid();
        set_run_state(&m, "starting");
        if (sf_proc_starttime(m.st.monitor_pid, &m.st.monitor_starttime, &e) < 0 ||
            sf_vm_monitor_state_write(m.a.state_dir, &m.st, &e) < 0)
                fail(e.code, "%s", sf_err_msg(&e));

        start_qemu(&m);
        report("started %d", (int) m.qemu);

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = m.pidfd, .events = POLLIN },
                        { .fd = m.qmp ? sf_qmp_fd(m.qmp) : -1, .events = POLLIN },
                };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll: %m");
                        break;
                }
                if (p[1].revents) {
                        r = sf_qmp_poll_events(m.qmp, 0, &e);
                        if (handle_events(&m))
                                save_state(&m);
                        if (r < 0) {
                                /* QEMU closed its end: it is exiting. */
                                log_debug("QMP channel: %s", sf_err_msg(&e));
                                sf_err_clear(&e);
                                sf_qmp_close(m.qmp);
                                m.qmp = NULL;
                        }
                }
                if (p[0].revents & POLLIN)
                        break;
        }
        finish(&m, false);
}
