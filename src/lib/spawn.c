/* Child processes for a multi-threaded daemon: posix_spawn with explicit fds, pidfd-based
 * waiting, and run-and-capture with a timeout. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "lib/spawn.h"
#include "lib/util.h"

extern char **environ;

static void spawn_actions_destroy(posix_spawn_file_actions_t **fa)
{
        if (*fa)
                posix_spawn_file_actions_destroy(*fa);
}

static void spawn_attr_destroy(posix_spawnattr_t **a)
{
        if (*a)
                posix_spawnattr_destroy(*a);
}

/* An array of fds closed (and freed) on scope exit. */
typedef struct fd_array {
        int *fds;
        size_t n;
} fd_array;

static void fd_array_done(fd_array *a)
{
        for (size_t i = 0; i < a->n; i++)
                closep(&a->fds[i]);
        free(a->fds);
}

/* argv as one short string for error messages: "runc --root /x state c1". */
static char *argv_str(char *const *argv)
{
        _cleanup_free_ char *s = xstrdup("");
        for (size_t i = 0; argv && argv[i]; i++) {
                char *n = xasprintf("%s%s%s", s, i ? " " : "", argv[i]);
                free(s);
                s = n;
                if (strlen(s) > 200) {
                        n = xasprintf("%.200s...", s);
                        free(s);
                        s = n;
                        break;
                }
        }
        return TAKE_PTR(s);
}

int sf_spawn(const sf_spawn_opts *o, pid_t *ret_pid, sf_err *e)
{
        int base, mine;
        bool base_ok, reniced;
        _cleanup_(spawn_actions_destroy) posix_spawn_file_actions_t *fap = NULL;
        _cleanup_(spawn_attr_destroy) posix_spawnattr_t *attrp = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        _cleanup_(fd_array_done) fd_array copies = { NULL, 0 };
        _cleanup_close_ int devnull = -EBADF;
        sigset_t none, all;
        int max_target = 2, r;
        short flags;
        pid_t pid;

        if (!o || !o->argv || !o->argv[0])
                return sf_err_set(e, -EINVAL, NULL, "spawn: no program given");
        for (size_t i = 0; i < o->n_fds; i++) {
                if (o->fds[i].target < 3 || o->fds[i].fd < 0)
                        return sf_err_set(e, -EINVAL, NULL,
                                          "spawn '%s': bad extra fd %d -> %d", o->argv[0],
                                          o->fds[i].fd, o->fds[i].target);
                for (size_t j = 0; j < i; j++)
                        if (o->fds[j].target == o->fds[i].target)
                                return sf_err_set(e, -EINVAL, NULL,
                                                  "spawn '%s': fd %d passed twice", o->argv[0],
                                                  o->fds[i].target);
                max_target = MAX(max_target, o->fds[i].target);
        }

        /* Every fd the child gets is first duplicated above all targets, so that the dup2()
         * actions cannot clobber each other whatever numbers the caller's fds have. */
        copies.n = 3 + o->n_fds;
        copies.fds = new0(int, copies.n);
        for (size_t i = 0; i < copies.n; i++)
                copies.fds[i] = -EBADF;
        for (size_t i = 0; i < copies.n; i++) {
                int src;
                if (i < 3) {
                        src = o->stdio[i];
                        if (src == SF_SPAWN_INHERIT) {
                                src = (int) i;
                                if (fcntl(src, F_GETFD) < 0)
                                        src = SF_SPAWN_DEVNULL; /* closed in the caller */
                        }
                        if (src == SF_SPAWN_DEVNULL) {
                                if (devnull < 0) {
                                        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                                        if (devnull < 0)
                                                return sf_err_errno(e, -errno,
                                                                    "open '/dev/null'");
                                }
                                src = devnull;
                        }
                } else
                        src = o->fds[i - 3].fd;
                if (src < 0)
                        return sf_err_set(e, -EBADF, NULL, "spawn '%s': bad fd %d for stdio",
                                          o->argv[0], src);
                copies.fds[i] = fcntl(src, F_DUPFD_CLOEXEC, max_target + 1);
                if (copies.fds[i] < 0)
                        return sf_err_errno(e, -errno, "spawn '%s': duplicate fd %d", o->argv[0],
                                            src);
        }

        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return sf_err_errno(e, -r, "spawn '%s'", o->argv[0]);
        fap = &fa;
        for (size_t i = 0; i < copies.n && r == 0; i++)
                r = posix_spawn_file_actions_adddup2(&fa, copies.fds[i],
                                                     i < 3 ? (int) i : o->fds[i - 3].target);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, max_target + 1);
        if (r == 0 && o->cwd)
                r = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
        if (r != 0)
                return sf_err_errno(e, -r, "spawn '%s': file actions", o->argv[0]);

        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return sf_err_errno(e, -r, "spawn '%s'", o->argv[0]);
        attrp = &attr;
        sigemptyset(&none);
        sigfillset(&all);
        flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (o->new_session)
                flags |= POSIX_SPAWN_SETSID;
        r = posix_spawnattr_setflags(&attr, flags);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (r != 0)
                return sf_err_errno(e, -r, "spawn '%s': attributes", o->argv[0]);

        /* A child inherits the spawning thread's nice value: a thread that runs above the
         * others (sfd --control-nice: request threads, which run `runc exec` for sfctl exec)
         * drops to the main thread's value for the spawn, so that no runtime, shim or workload
         * process starts with its priority. */
        errno = 0;
        base = getpriority(PRIO_PROCESS, (id_t) getpid()); /* the main thread's */
        base_ok = errno == 0;
        mine = getpriority(PRIO_PROCESS, (id_t) gettid());
        reniced = base_ok && errno == 0 && mine != base && setpriority(PRIO_PROCESS, (id_t) gettid(), base) == 0;
        if (strchr(o->argv[0], '/'))
                r = posix_spawn(&pid, o->argv[0], &fa, &attr, o->argv,
                                o->envp ? o->envp : environ);
        else
                r = posix_spawnp(&pid, o->argv[0], &fa, &attr, o->argv,
                                 o->envp ? o->envp : environ);
        if (reniced)
                (void) setpriority(PRIO_PROCESS, (id_t) gettid(), mine);
        if (r != 0)
                return sf_err_errno(e, -r, "run '%s'", o->argv[0]);
        *ret_pid = pid;
        return 0;
}

int sf_pidfd_open(pid_t pid, sf_err *e)
{
        int fd = pidfd_open(pid, 0);
        if (fd < 0)
                return sf_err_errno(e, -errno, "pidfd_open %d", (int) pid);
        return fd;
}

/* Milliseconds left until deadline (a CLOCK_MONOTONIC usec value); -1 for no deadline. */
static int remaining_ms(uint64_t deadline)
{
        uint64_t now;
        if (deadline == UINT64_MAX)
                return -1;
        now = sf_now_usec();
        if (now >= deadline)
                return 0;
        return (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
}

static uint64_t deadline_after(int timeout_ms)
{
        return timeout_ms < 0 ? UINT64_MAX : sf_now_usec() + (uint64_t) timeout_ms * 1000;
}

int sf_pidfd_wait(int pidfd, int timeout_ms, sf_err *e)
{
        uint64_t deadline = deadline_after(timeout_ms);
        for (;;) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                int n = poll(&p, 1, remaining_ms(deadline));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "poll pidfd");
                }
                if (n > 0)
                        return 0;
                return sf_err_set(e, -ETIMEDOUT, NULL, "process did not exit within %d ms",
                                  timeout_ms);
        }
}

int sf_pidfd_kill(int pidfd, int sig, sf_err *e)
{
        if (pidfd_send_signal(pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
                return sf_err_errno(e, -errno, "send signal %d", sig);
        return 0;
}

int sf_spawn_wait(pid_t pid, int timeout_ms, int *ret_status, sf_err *e)
{
        _cleanup_close_ int pidfd = sf_pidfd_open(pid, e);
        siginfo_t si = { 0 };
        int r, status;

        if (pidfd < 0)
                return pidfd;
        r = sf_pidfd_wait(pidfd, timeout_ms, e);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        sf_err_set(e, r, NULL, "process %d did not exit within %d ms", (int) pid,
                                   timeout_ms);
                return r;
        }
        while (waitid(P_PIDFD, pidfd, &si, WEXITED) < 0)
                if (errno != EINTR)
                        return sf_err_errno(e, -errno, "wait for process %d", (int) pid);
        switch (si.si_code) {
        case CLD_EXITED:
                status = (si.si_status & 0xff) << 8;
                break;
        case CLD_DUMPED:
                status = (si.si_status & 0x7f) | 0x80;
                break;
        default:
                status = si.si_status & 0x7f;
                break;
        }
        if (ret_status)
                *ret_status = status;
        return 0;
}

char *sf_wait_status_str(int status)
{
        if (WIFEXITED(status))
                return xasprintf("exited with status %d", WEXITSTATUS(status));
        if (WIFSIGNALED(status))
                return xasprintf("killed by signal %d (%s)%s", WTERMSIG(status),
                                 strsignal(WTERMSIG(status)),
                                 WCOREDUMP(status) ? ", core dumped" : "");
        return xasprintf("ended with wait status 0x%x", (unsigned) status);
}

int sf_wait_status_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

/* A growing, bounded output buffer. */
typedef struct capture {
        char *buf;
        size_t len, cap;
        bool truncated;
        int fd; /* read end, non-blocking; -EBADF once at EOF */
} capture;

/* Reads what is available. Returns 1 at EOF, 0 when it would block, <0 on error. */
static int capture_read(capture *c)
{
        for (;;) {
                char tmp[16384];
                ssize_t n = read(c->fd, tmp, sizeof(tmp));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                if (n == 0)
                        return 1;
                if (c->len < SF_CAPTURE_MAX) {
                        size_t take = MIN((size_t) n, SF_CAPTURE_MAX - c->len);
                        if (c->len + take + 1 > c->cap) {
                                c->cap = MAX(c->cap * 2, c->len + take + 1);
                                c->buf = xrealloc(c->buf, c->cap);
                        }
                        memcpy(c->buf + c->len, tmp, take);
                        c->len += take;
                        if (take < (size_t) n)
                                c->truncated = true;
                } else
                        c->truncated = true;
        }
}

static void capture_done(capture *c)
{
        free(c->buf);
        closep(&c->fd);
}

static char *capture_take(capture *c)
{
        char *s = c->buf ? TAKE_PTR(c->buf) : xstrdup("");
        s[c->len] = 0;
        return s;
}

static int pipe_for_capture(int *ret_read, int *ret_write, sf_err *e)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return sf_err_errno(e, -errno, "pipe");
        /* Only our end is non-blocking: the flag lives on the open file description. */
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return sf_err_errno(e, r, "fcntl");
        }
        *ret_read = p[0];
        *ret_write = p[1];
        return 0;
}

/* The last line(s) of stderr, trimmed, for error messages. */
static const char *trimmed_tail(char *s)
{
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
                s[--n] = 0;
        return n > 1000 ? s + n - 1000 : s;
}

int sf_run_capture_opts(const sf_spawn_opts *o, int timeout_ms, char **ret_out, char **ret_err,
                        int *ret_status, sf_err *e)
{
        _cleanup_(capture_done) capture out = { .fd = -EBADF }, err = { .fd = -EBADF };
        _cleanup_close_ int out_w = -EBADF, err_w = -EBADF, pidfd = -EBADF;
        _cleanup_free_ char *what = argv_str(o->argv);
        uint64_t deadline = deadline_after(timeout_ms);
        sf_spawn_opts so = *o;
        bool exited = false;
        int r, status = 0;
        pid_t pid;

        r = pipe_for_capture(&out.fd, &out_w, e);
        if (r < 0)
                return r;
        r = pipe_for_capture(&err.fd, &err_w, e);
        if (r < 0)
                return r;
        so.stdio[1] = out_w;
        so.stdio[2] = err_w;
        r = sf_spawn(&so, &pid, e);
        if (r < 0)
                return r;
        closep(&out_w);
        out_w = -EBADF;
        closep(&err_w);
        err_w = -EBADF;

        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                /* Cannot happen for our own unreaped child; do not leave it behind. */
                r = -errno;
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return sf_err_errno(e, r, "pidfd_open '%s'", what);
        }

        while (!exited) {
                struct pollfd p[3] = {
                        { .fd = pidfd, .events = POLLIN },
                        { .fd = out.fd, .events = POLLIN },
                        { .fd = err.fd, .events = POLLIN },
                };
                int n = poll(p, 3, remaining_ms(deadline));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                        waitid(P_PIDFD, pidfd, &(siginfo_t){ 0 }, WEXITED);
                        return sf_err_errno(e, r, "poll '%s'", what);
                }
                if (n == 0) {
                        pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                        waitid(P_PIDFD, pidfd, &(siginfo_t){ 0 }, WEXITED);
                        return sf_err_set(e, -ETIMEDOUT, NULL,
                                          "'%s' did not finish within %d ms and was killed", what,
                                          timeout_ms);
                }
                for (int i = 1; i < 3; i++) {
                        capture *c = i == 1 ? &out : &err;
                        if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        if (capture_read(c) != 0) { /* EOF or error: stop reading it */
                                closep(&c->fd);
                                c->fd = -EBADF;
                        }
                }
                if (p[0].revents & POLLIN)
                        exited = true;
        }
        /* Everything the child wrote is in the pipes now; take what is there without waiting
         * for grandchildren that may still hold the write ends. */
        if (out.fd >= 0)
                capture_read(&out);
        if (err.fd >= 0)
                capture_read(&err);

        r = sf_spawn_wait(pid, -1, &status, e);
        if (r < 0)
                return r;

        if (!ret_status && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                _cleanup_free_ char *st = sf_wait_status_str(status);
                _cleanup_free_ char *msg = capture_take(&err);
                const char *tail = trimmed_tail(msg);
                return sf_err_set(e, -EIO, NULL, "'%s' %s%s%s", what, st, *tail ? ": " : "",
                                  tail);
        }
        if (ret_out)
                *ret_out = capture_take(&out);
        if (ret_err)
                *ret_err = capture_take(&err);
        if (ret_status)
                *ret_status = status;
        return 0;
}

int sf_run_capture(char *const *argv, int timeout_ms, char **ret_out, char **ret_err,
                   int *ret_status, sf_err *e)
{
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        o.argv = argv;
        return sf_run_capture_opts(&o, timeout_ms, ret_out, ret_err, ret_status, e);
}

int sf_proc_starttime(pid_t pid, uint64_t *ret, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int) pid);
        _cleanup_free_ char *buf = NULL;
        unsigned long long v;
        char *p, *end;
        int r;

        r = sf_read_file(path, 64 * 1024, &buf, NULL, NULL);
        if (r < 0)
                return sf_err_set(e, r == -ENOENT ? -ESRCH : r, NULL,
                                  "process %d: cannot read its start time: %s", (int) pid,
                                  strerror(r == -ENOENT ? ESRCH : -r));
        /* "pid (comm) S ppid ...": comm may hold anything, so parse after the last ')'. */
        p = strrchr(buf, ')');
        if (!p)
                return sf_err_set(e, -EIO, NULL, "%s: unexpected format", path);
        p++;
        /* p is before field 3; starttime is field 22. */
        for (int field = 3; field < 22; field++) {
                p += strspn(p, " ");
                p += strcspn(p, " ");
        }
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno || end == p)
                return sf_err_set(e, -EIO, NULL, "%s: cannot parse start time", path);
        *ret = v;
        return 0;
}

int sf_pidfd_open_verified(pid_t pid, uint64_t starttime, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF;
        uint64_t st;
        int r;

        if (pid <= 0)
                return sf_err_set(e, -ESRCH, NULL, "no process id");
        fd = pidfd_open(pid, 0);
        if (fd < 0)
                return sf_err_errno(e, -errno, "process %d", (int) pid);
        /* The pidfd is taken first: if the start time still matches afterwards, the fd refers
         * to the right process even if the pid is reused later. */
        r = sf_proc_starttime(pid, &st, e);
        if (r < 0)
                return r;
        if (st != starttime)
                return sf_err_set(e, -ESRCH, NULL,
                                  "process %d is gone (the pid now belongs to another process)",
                                  (int) pid);
        return TAKE_FD(fd);
}
