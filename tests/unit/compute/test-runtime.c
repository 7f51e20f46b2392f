/* Unit tests (no root) for the runtime driver and sf-shim together, with a fake OCI runtime
 * (fake-runtime.sh) whose "containers" are plain processes: the status protocol, detaching,
 * state and exit records, stop, adopt, exec, errors and timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/compute/runtime.h"
#include "lib/spawn.h"
#include "lib/util.h"

typedef struct fixture {
        char dir[64];
        char *root, *bundle, *state, *log;
        sf_runtime *rt;
} fixture;

static int setup(void **state)
{
        fixture *f = new0(fixture, 1);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_runtime_config c = { .kind = SF_RUNTIME_RUNC, .binary = getenv("SF_FAKE_RUNTIME"),
                                .start_timeout_ms = 1500 };

        snprintf(f->dir, sizeof(f->dir), "/tmp/sf-test-runtime-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->root = xasprintf("%s/root", f->dir);
        f->bundle = xasprintf("%s/bundle", f->dir);
        f->state = xasprintf("%s/state", f->dir);
        f->log = xasprintf("%s/console.log", f->dir);
        c.root = f->root;
        c.exec_dir = f->dir;
        c.cgroup_root = f->dir; /* no cgroups here: leave the real ones alone */
        assert_int_equal(sf_mkdir_p(f->bundle, 0755, NULL), 0);
        if (sf_runtime_new(&c, &f->rt, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        sf_runtime_stop(f->rt, "t1", f->state, 0, NULL);
        sf_runtime_delete(f->rt, "t1", true, NULL);
        sf_runtime_free(f->rt);
        sf_rm_rf(f->dir, NULL);
        free(f->root);
        free(f->bundle);
        free(f->state);
        free(f->log);
        free(f);
        return 0;
}

static void set_mode(fixture *f, const char *mode)
{
        _cleanup_free_ char *p = xasprintf("%s/mode", f->bundle);
        assert_int_equal(sf_write_file_atomic(p, mode, strlen(mode), 0644, NULL), 0);
}

static pid_t start(fixture *f)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        pid_t pid = 0;
        if (sf_runtime_start(f->rt, "t1", f->bundle, f->state, f->log, &pid, &e) < 0)
                fail_msg("start: %s", sf_err_msg(&e));
        assert_true(pid > 0);
        return pid;
}

static pid_t ppid_of(pid_t pid)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int) pid), *buf = NULL;
        int ppid = -1;
        assert_int_equal(sf_read_file(path, 4096, &buf, NULL, NULL), 0);
        assert_int_equal(sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid), 1);
        return ppid;
}

static void test_start_stop(void **state)
{
        fixture *f = *state;
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        _cleanup_free_ char *log = NULL;
        sf_container_info info;
        sf_exit_record rec;
        pid_t pid = start(f);

        assert_int_equal(sf_shim_state_read(f->state, &st, NULL), 0);
        assert_int_equal(st.pid, pid);
        assert_string_equal(st.id, "t1");
        assert_true(st.started_usec > 0);
        /* Detached: neither the shim nor the container is our child. */
        assert_int_not_equal(ppid_of(st.shim_pid), getpid());
        assert_int_equal(ppid_of(pid), st.shim_pid); /* the shim is its subreaper */

        assert_int_equal(sf_runtime_adopt(f->rt, "t1", f->state, &info, NULL), 0);
        assert_int_equal(info.status, SF_CONTAINER_RUNNING);
        assert_int_equal(info.pid, pid);
        assert_true(info.shim_alive);
        assert_false(info.exit_known);

        /* The container writes straight into the log. */
        assert_int_equal(sf_read_file(f->log, 1 << 20, &log, NULL, NULL), 0);
        assert_non_null(strstr(log, "fake container t1 started"));

        /* sleep dies of SIGTERM; the shim records it. */
        assert_int_equal(sf_runtime_stop(f->rt, "t1", f->state, 5000, NULL), 0);
        assert_int_equal(sf_exit_record_read(f->state, &rec, NULL), 0);
        assert_int_equal(rec.pid, pid);
        assert_int_equal(rec.signal, SIGTERM);
        assert_int_equal(rec.exit_code, 143);
        assert_int_equal(sf_runtime_adopt(f->rt, "t1", f->state, &info, NULL), 0);
        assert_int_equal(info.status, SF_CONTAINER_STOPPED);
        assert_true(info.exit_known);
        assert_int_equal(info.exit.exit_code, 143);
        /* Stopping again is fine. */
        assert_int_equal(sf_runtime_stop(f->rt, "t1", f->state, 5000, NULL), 0);

        assert_int_equal(sf_runtime_delete(f->rt, "t1", true, NULL), 0);
        assert_int_equal(sf_runtime_delete(f->rt, "t1", false, NULL), 0); /* idempotent */
}

static void test_watch_exit(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_exit_record rec;
        struct pollfd p;
        pid_t pid;
        int fd;

        set_mode(f, "exit7");
        pid = start(f);
        fd = sf_runtime_pidfd(f->state, &e);
        if (fd < 0)
                fail_msg("%s", sf_err_msg(&e));
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 5000), 1);
        close(fd);
        if (sf_runtime_wait_exit(f->state, 5000, &rec, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_int_equal(rec.pid, pid);
        assert_int_equal(rec.exit_code, 7);
        assert_int_equal(rec.signal, 0);
        /* Gone now: no pidfd for it. */
        assert_int_equal(sf_runtime_pidfd(f->state, NULL), -ESRCH);
}

static void test_start_error(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        pid_t pid = 0;

        set_mode(f, "fail");
        assert_int_equal(sf_runtime_start(f->rt, "t1", f->bundle, f->state, f->log, &pid, &e),
                         -EIO);
        assert_int_equal(pid, 0);
        /* The runtime's own words, error lines only. */
        if (!strstr(e.msg, "start container 't1': runc run exited with status 1: fake: cannot "
                           "start t1: no such thing") ||
            strstr(e.msg, "warning"))
                fail_msg("%s", e.msg);
}

/* The start gate: the bundle's hook (the real `sf-shim --wait-gate`) holds the process back
 * until the gate's work is done; a failing gate fails the start with its own error. */
struct gate_ctx {
        fixture *f;
        bool ran, started_early;
        int fail;
};

static int gate_fn(void *u, sf_err *e)
{
        struct gate_ctx *g = u;
        _cleanup_free_ char *log = NULL;
        usleep(200 * 1000); /* the runtime is well past its start by now, but for the gate */
        if (sf_read_file(g->f->log, 1 << 20, &log, NULL, NULL) == 0 &&
            strstr(log, "fake container t1 started"))
                g->started_early = true;
        g->ran = true;
        return g->fail ? sf_err_set(e, g->fail, "ports[0]", "plumbing broke") : 0;
}

static void write_hook(fixture *f)
{
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *p = xasprintf("%s/hook", f->bundle), *line = NULL;
        uint32_t timeout_s = 0;
        argv = sf_runtime_gate_hook(f->rt, f->state, &timeout_s);
        assert_true(timeout_s >= 1);
        assert_string_equal(argv[1], "--wait-gate");
        line = xasprintf("%s %s %s", argv[0], argv[1], argv[2]);
        assert_int_equal(sf_write_file_atomic(p, line, strlen(line), 0644, NULL), 0);
}

static void test_gated_start(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *log = NULL, *gate = xasprintf("%s/start-gate", f->state);
        struct gate_ctx g = { .f = f };
        pid_t pid = 0;

        write_hook(f);
        if (sf_runtime_start_gated(f->rt, "t1", f->bundle, f->state, f->log,
                                   &(sf_runtime_gate) { gate_fn, &g }, &pid, &e) < 0)
                fail_msg("start: %s", sf_err_msg(&e));
        assert_true(pid > 0);
        assert_true(g.ran);
        assert_false(g.started_early);
        assert_int_equal(sf_read_file(f->log, 1 << 20, &log, NULL, NULL), 0);
        assert_non_null(strstr(log, "fake container t1 started"));
        assert_int_equal(access(gate, F_OK), -1); /* removed */
}

static void test_gated_start_fails(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *log = NULL, *gate = xasprintf("%s/start-gate", f->state);
        struct gate_ctx g = { .f = f, .fail = -ENXIO };
        sf_container_info info;
        pid_t pid = 0;

        write_hook(f);
        assert_int_equal(sf_runtime_start_gated(f->rt, "t1", f->bundle, f->state, f->log,
                                                &(sf_runtime_gate) { gate_fn, &g }, &pid, &e),
                         -ENXIO);
        assert_int_equal(pid, 0);
        assert_true(g.ran);
        /* the gate's error, not the runtime's report of the hook that it made fail */
        if (!strstr(e.msg, "plumbing broke") || strstr(e.msg, "hook"))
                fail_msg("%s", e.msg);
        assert_string_equal(e.field, "ports[0]");
        if (sf_read_file(f->log, 1 << 20, &log, NULL, NULL) == 0)
                assert_null(strstr(log, "fake container t1 started"));
        assert_int_equal(access(gate, F_OK), -1);
        /* nothing runs */
        if (sf_runtime_adopt(f->rt, "t1", f->state, &info, NULL) == 0)
                assert_int_not_equal(info.status, SF_CONTAINER_RUNNING);
}

/* The hook on its own: a dead agent (no writer on the FIFO) fails it at once instead of
 * leaving it blocked until the runtime's hook timeout. */
static int run_hook(fixture *f, const char *verdict, bool writer)
{
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_close_ int w = -EBADF;
        uint32_t timeout_s;
        pid_t pid;
        int status;
        argv = sf_runtime_gate_hook(f->rt, f->state, &timeout_s);
        assert_int_equal(sf_mkdir_p(f->state, 0700, NULL), 0);
        unlink(argv[2]);
        assert_int_equal(mkfifo(argv[2], 0600), 0);
        if (writer) {
                w = open(argv[2], O_RDWR | O_CLOEXEC);
                assert_true(w >= 0);
        }
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                alarm(5);
                execv(argv[0], argv);
                _exit(127);
        }
        if (verdict) {
                usleep(50 * 1000);
                assert_int_equal(write(w, verdict, 1), 1);
        } else if (writer) {
                usleep(50 * 1000);
                closep(&w);
                w = -EBADF;
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status)); /* not killed by the alarm */
        return WEXITSTATUS(status);
}

static void test_gate_hook(void **state)
{
        fixture *f = *state;
        assert_int_equal(run_hook(f, "g", true), 0);
        assert_int_equal(run_hook(f, "x", true), 1);
        assert_int_equal(run_hook(f, NULL, true), 1);  /* the agent died while it waited */
        assert_int_equal(run_hook(f, NULL, false), 1); /* ... or before it started */
}

static void test_start_timeout(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        uint64_t t0 = sf_now_usec();
        pid_t pid = 0;

        set_mode(f, "hang");
        assert_int_equal(sf_runtime_start(f->rt, "t1", f->bundle, f->state, f->log, &pid, &e),
                         -ETIMEDOUT);
        assert_true(sf_now_usec() - t0 < 3000000);
        assert_non_null(strstr(e.msg, "did not finish within 1200 ms and was killed"));
}

static void test_shim_killed(void **state)
{
        fixture *f = *state;
        _cleanup_shim_state_ sf_shim_state st = { 0 };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int shimfd = -EBADF;
        sf_container_info info;
        sf_exit_record rec;
        pid_t pid = start(f);

        assert_int_equal(sf_shim_state_read(f->state, &st, NULL), 0);
        shimfd = sf_pidfd_open_verified(st.shim_pid, st.shim_starttime, NULL);
        assert_true(shimfd >= 0);
        assert_int_equal(sf_pidfd_kill(shimfd, SIGKILL, NULL), 0);
        assert_int_equal(sf_pidfd_wait(shimfd, 5000, NULL), 0);

        assert_int_equal(sf_runtime_adopt(f->rt, "t1", f->state, &info, NULL), 0);
        assert_int_equal(info.status, SF_CONTAINER_RUNNING);
        assert_int_equal(info.pid, pid);
        assert_false(info.shim_alive);
        assert_int_equal(sf_runtime_stop(f->rt, "t1", f->state, 5000, NULL), 0);
        assert_int_equal(sf_runtime_wait_exit(f->state, 1000, &rec, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "exit status lost"));
}

static void test_exec(void **state)
{
        fixture *f = *state;
        char *argv[] = { "sh", "-c", "echo $FOO; echo oops >&2; exit 3", NULL };
        char *env[] = { "FOO=bar", NULL };
        char *slow[] = { "sleep", "30", NULL };
        _cleanup_free_ char *out = NULL, *err = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int code;

        start(f);
        assert_int_equal(sf_runtime_exec(f->rt, "t1", argv, env, 5000, &out, &err, &code, &e),
                         0);
        assert_string_equal(out, "bar\n");
        assert_string_equal(err, "oops\n");
        assert_int_equal(code, 3);
        /* Without ret_exit_code a failure is an error with stderr. */
        assert_int_equal(sf_runtime_exec(f->rt, "t1", argv, env, 5000, NULL, NULL, NULL, &e),
                         -EIO);
        assert_non_null(strstr(e.msg, "'sh' exited with status 3: oops"));
        assert_int_equal(sf_runtime_exec(f->rt, "t1", slow, NULL, 200, NULL, NULL, &code, &e),
                         -ETIMEDOUT);
}

static void test_list_and_state(void **state)
{
        fixture *f = *state;
        _cleanup_strv_free_ char **ids = NULL;
        sf_container_state cs;
        pid_t pid = start(f);

        assert_int_equal(sf_runtime_list(f->rt, &ids, NULL), 0);
        assert_int_equal(strv_length(ids), 1);
        assert_string_equal(ids[0], "t1");
        assert_int_equal(sf_runtime_state(f->rt, "t1", &cs, NULL), 0);
        assert_int_equal(cs.status, SF_CONTAINER_RUNNING);
        assert_int_equal(cs.pid, pid);
        assert_int_equal(sf_runtime_state(f->rt, "nope", &cs, NULL), -ENOENT);
}

static void test_kill(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_exit_record rec;
        pid_t pid = start(f);

        if (sf_runtime_kill(f->rt, "t1", SIGUSR1, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        if (sf_runtime_wait_exit(f->state, 5000, &rec, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_int_equal(rec.pid, pid);
        assert_int_equal(rec.signal, SIGUSR1);
        assert_int_equal(rec.exit_code, 128 + SIGUSR1);
}

static void test_bad_input(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_container_info info;
        pid_t pid;
        assert_int_equal(sf_runtime_start(f->rt, "../x", f->bundle, f->state, f->log, &pid, &e),
                         -EINVAL);
        assert_int_equal(sf_runtime_adopt(f->rt, "t9", f->state, &info, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "container 't9' is unknown"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_start_stop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_exit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gated_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gated_start_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gate_hook, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shim_killed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_and_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        };
        if (!getenv("SF_FAKE_RUNTIME") || !getenv("SF_SHIM")) {
                fprintf(stderr, "SF_FAKE_RUNTIME and SF_SHIM must be set (meson test does)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
