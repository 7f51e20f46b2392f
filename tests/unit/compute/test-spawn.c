/* Unit tests for lib/spawn: posix_spawn set-up (stdio, extra fds, closed fds, session, signal
 * state), pidfd waiting, and run-and-capture (output, errors, bound, timeout kill). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "lib/spawn.h"
#include "lib/util.h"

static char *read_all(int fd)
{
        char *buf = NULL;
        size_t len = 0;
        for (;;) {
                char tmp[4096];
                ssize_t n = read(fd, tmp, sizeof(tmp));
                if (n < 0 && errno == EINTR)
                        continue;
                assert_true(n >= 0);
                if (n == 0)
                        break;
                buf = xrealloc(buf, len + n + 1);
                memcpy(buf + len, tmp, n);
                len += n;
        }
        if (!buf)
                buf = xstrdup("");
        buf[len] = 0;
        return buf;
}

/* Runs argv with stdout on a pipe; returns what it printed and its wait status. */
static char *run_stdout(sf_spawn_opts *o, int *ret_status)
{
        int p[2];
        pid_t pid;
        char *out;
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        o->stdio[1] = p[1];
        if (sf_spawn(o, &pid, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        close(p[1]);
        out = read_all(p[0]);
        close(p[0]);
        assert_int_equal(sf_spawn_wait(pid, 5000, ret_status, NULL), 0);
        return out;
}

static void test_exit_status(void **state)
{
        char *argv[] = { "sh", "-c", "exit 3", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        int status;
        pid_t pid;
        o.argv = argv;
        assert_int_equal(sf_spawn(&o, &pid, NULL), 0);
        assert_int_equal(sf_spawn_wait(pid, 5000, &status, NULL), 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 3);
        assert_int_equal(sf_wait_status_code(status), 3);
}

static void test_killed_status(void **state)
{
        char *argv[] = { "sh", "-c", "kill -9 $$", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_free_ char *s = NULL;
        int status;
        pid_t pid;
        o.argv = argv;
        assert_int_equal(sf_spawn(&o, &pid, NULL), 0);
        assert_int_equal(sf_spawn_wait(pid, 5000, &status, NULL), 0);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        assert_int_equal(sf_wait_status_code(status), 137);
        s = sf_wait_status_str(status);
        assert_string_equal(s, "killed by signal 9 (Killed)");
}

static void test_stdio_and_extra_fd(void **state)
{
        /* stdout and stderr on one pipe; a second pipe passed as fd 5. */
        char *argv[] = { "sh", "-c", "echo out; echo err >&2; echo five >&5", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_free_ char *out = NULL, *five = NULL;
        sf_spawn_fd fds[1];
        int p5[2], status;

        assert_int_equal(pipe2(p5, O_CLOEXEC), 0);
        fds[0] = (sf_spawn_fd) { .fd = p5[1], .target = 5 };
        o.argv = argv;
        o.fds = fds;
        o.n_fds = 1;
        {
                int p[2];
                pid_t pid;
                assert_int_equal(pipe2(p, O_CLOEXEC), 0);
                o.stdio[1] = p[1];
                o.stdio[2] = p[1];
                assert_int_equal(sf_spawn(&o, &pid, NULL), 0);
                close(p[1]);
                close(p5[1]);
                out = read_all(p[0]);
                five = read_all(p5[0]);
                close(p[0]);
                close(p5[0]);
                assert_int_equal(sf_spawn_wait(pid, 5000, &status, NULL), 0);
        }
        assert_string_equal(out, "out\nerr\n");
        assert_string_equal(five, "five\n");
}

static void test_colliding_fds(void **state)
{
        /* The caller's stdout source is its fd 9, and fd 9 in the child must be another
         * pipe: whatever order the dup2()s run in, neither may clobber the other. (9: sh only
         * redirects single-digit fds.) */
        char *argv[] = { "sh", "-c", "echo to1; echo to9 >&9", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_free_ char *ra = NULL, *rb = NULL;
        sf_spawn_fd fds[1];
        int a[2], b[2], status;
        pid_t pid;

        assert_int_equal(pipe2(a, O_CLOEXEC), 0);
        assert_int_equal(pipe2(b, O_CLOEXEC), 0);
        assert_int_equal(fcntl(9, F_GETFD), -1); /* free */
        assert_int_equal(dup3(b[1], 9, O_CLOEXEC), 9);
        close(b[1]);
        o.argv = argv;
        o.stdio[1] = 9;
        fds[0] = (sf_spawn_fd) { .fd = a[1], .target = 9 };
        o.fds = fds;
        o.n_fds = 1;
        assert_int_equal(sf_spawn(&o, &pid, NULL), 0);
        close(a[1]);
        close(9);
        ra = read_all(a[0]);
        rb = read_all(b[0]);
        close(a[0]);
        close(b[0]);
        assert_int_equal(sf_spawn_wait(pid, 5000, &status, NULL), 0);
        assert_string_equal(rb, "to1\n");
        assert_string_equal(ra, "to9\n");
}

static void test_other_fds_closed(void **state)
{
        /* An fd opened without O_CLOEXEC by "some library" must not reach the child. */
        int leak = open("/dev/null", O_RDONLY); /* deliberately no O_CLOEXEC */
        _cleanup_free_ char *cmd = NULL, *out = NULL;
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        char *argv[] = { "sh", "-c", NULL, NULL };
        int status;

        assert_true(leak >= 0);
        cmd = xasprintf("test -e /proc/self/fd/%d && echo open || echo closed", leak);
        argv[2] = cmd;
        o.argv = argv;
        out = run_stdout(&o, &status);
        close(leak);
        assert_string_equal(out, "closed\n");
}

static void test_session_and_signals(void **state)
{
        char *argv[] = { "cat", "/proc/self/status", NULL };
        char *argv2[] = { "cat", "/proc/self/stat", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_free_ char *status_text = NULL, *stat_text = NULL;
        sigset_t block, old;
        int status, pid = 0, sid = -1;
        char *p;

        /* A blocked and an ignored signal in the parent must not leak into the child. */
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
        signal(SIGUSR2, SIG_IGN);
        o.argv = argv;
        status_text = run_stdout(&o, &status);
        o.argv = argv2;
        o.new_session = true;
        stat_text = run_stdout(&o, &status);
        signal(SIGUSR2, SIG_DFL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);

        assert_non_null(strstr(status_text, "SigBlk:\t0000000000000000\n"));
        /* glibc's posix_spawn leaves its two internal signals (32, 33) ignored: sigfillset()
         * cannot name them. Every other signal must be at its default. */
        {
                const char *ign = strstr(status_text, "SigIgn:\t");
                assert_non_null(ign);
                assert_int_equal(strtoull(ign + 8, NULL, 16) & ~0x180000000ULL, 0);
        }
        /* "pid (cat) S ppid pgrp session ..." */
        p = strrchr(stat_text, ')');
        assert_non_null(p);
        assert_int_equal(sscanf(stat_text, "%d", &pid), 1);
        assert_int_equal(sscanf(p + 2, "%*c %*d %*d %d", &sid), 1);
        assert_int_equal(sid, pid);
}

static void test_not_found(void **state)
{
        char *argv[] = { "/nonexistent/program", NULL };
        char *argv2[] = { "sf-no-such-program-anywhere", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        pid_t pid;
        int r;
        o.argv = argv;
        assert_int_equal(sf_spawn(&o, &pid, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "/nonexistent/program"));
        o.argv = argv2;
        r = sf_spawn(&o, &pid, &e);
        /* EACCES when a PATH entry is unreadable for this user (e.g. /root/... as nobody). */
        assert_true(r == -ENOENT || r == -EACCES);
}

static void test_wait_timeout(void **state)
{
        char *argv[] = { "sleep", "10", NULL };
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        uint64_t t0 = sf_now_usec();
        int status;
        pid_t pid;

        o.argv = argv;
        assert_int_equal(sf_spawn(&o, &pid, NULL), 0);
        assert_int_equal(sf_spawn_wait(pid, 100, &status, &e), -ETIMEDOUT);
        assert_true(sf_now_usec() - t0 < 2000000);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(sf_spawn_wait(pid, 5000, &status, NULL), 0);
        assert_true(WIFSIGNALED(status));
}

static void test_capture(void **state)
{
        char *argv[] = { "sh", "-c", "echo out; echo err >&2", NULL };
        _cleanup_free_ char *out = NULL, *err = NULL;
        int status;
        assert_int_equal(sf_run_capture(argv, 5000, &out, &err, &status, NULL), 0);
        assert_string_equal(out, "out\n");
        assert_string_equal(err, "err\n");
        assert_int_equal(status, 0);
}

static void test_capture_failure(void **state)
{
        char *argv[] = { "sh", "-c", "echo partial; echo 'it broke' >&2; exit 4", NULL };
        _cleanup_free_ char *out = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int status;

        /* Without ret_status: an error carrying stderr, and no output. */
        assert_int_equal(sf_run_capture(argv, 5000, &out, NULL, NULL, &e), -EIO);
        assert_null(out);
        assert_non_null(strstr(e.msg, "exited with status 4: it broke"));
        /* With ret_status: success and the status. */
        assert_int_equal(sf_run_capture(argv, 5000, &out, NULL, &status, NULL), 0);
        assert_string_equal(out, "partial\n");
        assert_int_equal(WEXITSTATUS(status), 4);
}

static void test_capture_timeout(void **state)
{
        char *argv[] = { "sleep", "30", NULL };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *out = NULL;
        uint64_t t0 = sf_now_usec();

        assert_int_equal(sf_run_capture(argv, 200, &out, NULL, NULL, &e), -ETIMEDOUT);
        assert_true(sf_now_usec() - t0 < 3000000);
        assert_null(out);
        assert_non_null(strstr(e.msg, "'sleep 30' did not finish within 200 ms and was killed"));
}

static void test_capture_bounded(void **state)
{
        char *argv[] = { "sh", "-c", "yes | head -c 3000000", NULL };
        _cleanup_free_ char *out = NULL;
        assert_int_equal(sf_run_capture(argv, 10000, &out, NULL, NULL, NULL), 0);
        assert_int_equal(strlen(out), SF_CAPTURE_MAX);
}

static void test_capture_grandchild_keeps_pipe(void **state)
{
        /* A background process holding stdout must not make the capture wait for it. */
        char *argv[] = { "sh", "-c", "sleep 3 & echo done", NULL };
        _cleanup_free_ char *out = NULL;
        uint64_t t0 = sf_now_usec();
        assert_int_equal(sf_run_capture(argv, 10000, &out, NULL, NULL, NULL), 0);
        assert_string_equal(out, "done\n");
        assert_true(sf_now_usec() - t0 < 2000000);
}

static void test_starttime_and_verified_pidfd(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        uint64_t st = 0;
        int fd;

        assert_int_equal(sf_proc_starttime(getpid(), &st, NULL), 0);
        assert_true(st > 0);
        fd = sf_pidfd_open_verified(getpid(), st, NULL);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(sf_pidfd_open_verified(getpid(), st + 1, &e), -ESRCH);
        assert_int_equal(sf_proc_starttime(0x7ffffff0, &st, NULL), -ESRCH);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_status),
                cmocka_unit_test(test_killed_status),
                cmocka_unit_test(test_stdio_and_extra_fd),
                cmocka_unit_test(test_colliding_fds),
                cmocka_unit_test(test_other_fds_closed),
                cmocka_unit_test(test_session_and_signals),
                cmocka_unit_test(test_not_found),
                cmocka_unit_test(test_wait_timeout),
                cmocka_unit_test(test_capture),
                cmocka_unit_test(test_capture_failure),
                cmocka_unit_test(test_capture_timeout),
                cmocka_unit_test(test_capture_bounded),
                cmocka_unit_test(test_capture_grandchild_keeps_pipe),
                cmocka_unit_test(test_starttime_and_verified_pidfd),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
