/* Unit tests of the VM driver table and sf-vm-monitor together, with fake-qemu in place of
 * QEMU (no root, no KVM, no guest): start, QMP control (pause, resume, reboot, raw QMP),
 * adopt, watch and reap, graceful and forced stop with the exit and its reason recorded,
 * QEMU's start-up errors reaching the caller, double start, list and remove leaving nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include "agent/compute/driver.h"
#include "agent/compute/vm-driver.h"
#include "agent/compute/vm-qemu.h"
#include "lib/spawn.h"
#include "lib/util.h"

typedef struct fixture {
        char dir[64];
        char *root, *state, *kernel;
        sf_compute *c;
        sf_workload_spec w;
} fixture;

static int setup(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        fixture *f = new0(fixture, 1);
        sf_compute_options o = {
                .qemu_binary = getenv("FAKE_QEMU"),
                .vm_accel = "tcg",
                .start_timeout_ms = 10000,
        };

        snprintf(f->dir, sizeof(f->dir), "/tmp/sf-vm-driver-test.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->root = xasprintf("%s/root", f->dir);
        f->state = xasprintf("%s/state with space/vm1", f->dir);
        f->kernel = xasprintf("%s/vmlinuz", f->dir);
        assert_int_equal(sf_write_file_atomic(f->kernel, "kernel", 6, 0644, &e), 0);
        o.vm_root = f->root;
        assert_non_null(o.qemu_binary);
        if (sf_compute_open("vm", &o, &f->c, &e) < 0)
                fail_msg("open: %s", sf_err_msg(&e));
        f->w = (sf_workload_spec) {
                .id = "vm1",
                .kind = "vm",
                .cpu_millicores = 500,
                .memory_bytes = 64ULL << 20,
                .state_dir = f->state,
                .kernel = f->kernel,
                .hostname = "guest-one",
        };
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *log = xasprintf("%s/monitor.log", f->state), *text = NULL;
        /* sf-vm-monitor's own sanitizer reports (in an ASan build) land in its log. */
        if (sf_read_file(log, 1 << 20, &text, NULL, NULL) == 0 && strstr(text, "Sanitizer"))
                fail_msg("sf-vm-monitor: %s", strstr(text, "Sanitizer"));
        sf_compute_close(f->c);
        sf_rm_rf(f->dir, NULL);
        free(f->root);
        free(f->state);
        free(f->kernel);
        free(f);
        return 0;
}

static void info(fixture *f, sf_vm_info *ret)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (sf_vm_info_read(f->state, true, ret, &e) < 0)
                fail_msg("info: %s", sf_err_msg(&e));
}

static bool exists(fixture *f, const char *name)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", f->state, name);
        return access(p, F_OK) == 0;
}

static void start(fixture *f, sf_workload_status *st)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (f->c->driver->prepare(f->c, &f->w, &e) < 0)
                fail_msg("prepare: %s", sf_err_msg(&e));
        if (f->c->driver->start(f->c, &f->w, st, &e) < 0)
                fail_msg("start: %s", sf_err_msg(&e));
}

static void test_lifecycle(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_close_ int wfd = -EBADF;
        sf_workload_status st, st2;
        sf_vm_info i = { 0 };
        json_t *ret = NULL;
        pid_t pid;

        assert_string_equal(sf_vm_accel_get(f->c, NULL), "tcg");
        start(f, &st);
        assert_int_equal(st.state, SF_WORKLOAD_RUNNING);
        assert_true(st.pid > 0 && st.started_usec > 0);
        pid = st.pid;
        assert_true(exists(f, "seed.img") && exists(f, "qmp.sock") && exists(f, "vm.json"));

        info(f, &i);
        assert_string_equal(i.accel, "tcg");
        assert_string_equal(i.cpu, "max");
        assert_int_equal(i.vcpus, 1);
        assert_int_equal(i.memory_bytes, 64ULL << 20);
        assert_int_equal(i.qemu_pid, pid);
        assert_true(i.running);
        assert_false(i.paused);
        assert_string_equal(i.run_state, "running");
        assert_true(i.ready_usec >= i.started_usec);
        sf_vm_info_done(&i);

        assert_int_equal(f->c->driver->list(f->c, &ids, &e), 0);
        assert_string_equal(ids[0], "vm1");
        assert_null(ids[1]);

        /* A second start of a running VM is refused. */
        assert_int_equal(f->c->driver->start(f->c, &f->w, &st2, &e), -EBUSY);
        sf_err_clear(&e);

        /* Pause, resume, reboot, raw QMP. */
        assert_int_equal(sf_vm_pause(f->c, &f->w, &e), 0);
        info(f, &i);
        assert_true(i.paused);
        assert_string_equal(i.run_state, "paused");
        sf_vm_info_done(&i);
        assert_int_equal(sf_vm_pause(f->c, &f->w, &e), 0);
        assert_int_equal(sf_vm_resume(f->c, &f->w, &e), 0);
        info(f, &i);
        assert_false(i.paused);
        sf_vm_info_done(&i);
        assert_int_equal(sf_vm_reboot(f->c, &f->w, &e), 0);
        assert_int_equal(sf_vm_qmp(f->c, &f->w, "query-name", NULL, &ret, &e), 0);
        assert_string_equal(json_string_value(json_object_get(ret, "name")), "vm1");
        json_decref(ret);
        assert_int_equal(sf_vm_qmp(f->c, &f->w, "no-such", NULL, NULL, &e), -EOPNOTSUPP);
        assert_non_null(strstr(sf_err_msg(&e), "has not been found"));
        sf_err_clear(&e);
        assert_int_equal(f->c->driver->exec(f->c, &f->w, (char *[]) { "true", NULL }, NULL, 1000,
                                            NULL, NULL, NULL, &e),
                         -EOPNOTSUPP);
        sf_err_clear(&e);

        /* Adopt, as a restarted agent would (a new driver instance). */
        {
                _cleanup_(sf_compute_closep) sf_compute *c2 = NULL;
                sf_compute_options o = { .qemu_binary = getenv("FAKE_QEMU"), .vm_root = f->root,
                                         .vm_accel = "tcg" };
                assert_int_equal(sf_compute_open("vm", &o, &c2, &e), 0);
                assert_int_equal(c2->driver->adopt(c2, &f->w, &st2, &e), 0);
                assert_int_equal(st2.state, SF_WORKLOAD_RUNNING);
                assert_int_equal(st2.pid, pid);
                assert_int_equal(st2.started_usec, st.started_usec);
        }

        /* Graceful stop: the guest powers off; the watch fd fires; the exit is recorded. */
        assert_int_equal(f->c->driver->watch(f->c, &f->w, &wfd, &e), 0);
        assert_int_equal(f->c->driver->stop(f->c, &f->w, 5000, &e), 0);
        assert_int_equal(poll(&(struct pollfd) { .fd = wfd, .events = POLLIN }, 1, 5000), 1);
        assert_int_equal(f->c->driver->reap(f->c, &f->w, &st2, &e), 0);
        assert_int_equal(st2.state, SF_WORKLOAD_EXITED);
        assert_true(st2.exit_known);
        assert_int_equal(st2.exit_code, 0);
        assert_true(st2.finished_usec >= st2.started_usec);
        info(f, &i);
        assert_false(i.running);
        assert_string_equal(i.run_state, "exited");
        assert_string_equal(i.shutdown_reason, "guest-shutdown");
        assert_true(i.shutdown_guest);
        assert_true(i.resets >= 1);
        sf_vm_info_done(&i);
        assert_false(exists(f, "qmp.sock"));
        {
                int fd2;
                assert_int_equal(f->c->driver->watch(f->c, &f->w, &fd2, &e), -ESRCH);
        }
        sf_err_clear(&e);
        assert_int_equal(f->c->driver->stop(f->c, &f->w, 1000, &e), 0); /* no-op */
        assert_int_equal(sf_vm_pause(f->c, &f->w, &e), -ESRCH);
        sf_err_clear(&e);

        /* A guest that ignores the power button is forced down after the timeout. */
        setenv("FAKE_QEMU_IGNORE_POWERDOWN", "1", 1);
        start(f, &st);
        unsetenv("FAKE_QEMU_IGNORE_POWERDOWN");
        assert_int_equal(f->c->driver->stop(f->c, &f->w, 300, &e), 0);
        assert_int_equal(f->c->driver->adopt(f->c, &f->w, &st2, &e), 0);
        assert_int_equal(st2.state, SF_WORKLOAD_EXITED);
        assert_true(st2.exit_known);
        info(f, &i);
        assert_string_equal(i.shutdown_reason, "host-qmp-quit");
        assert_false(i.shutdown_guest);
        sf_vm_info_done(&i);

        /* Killed from outside: the monitor records the signal. */
        start(f, &st);
        kill(st.pid, SIGKILL);
        assert_int_equal(f->c->driver->reap(f->c, &f->w, &st2, &e), 0);
        assert_true(st2.exit_known);
        assert_int_equal(st2.exit_code, 137);
        assert_int_equal(st2.exit_signal, SIGKILL);

        /* Remove: nothing left but the logs; remove again is fine. */
        start(f, &st);
        assert_int_equal(f->c->driver->remove(f->c, &f->w, &e), 0);
        assert_int_equal(kill(st.pid, 0), -1);
        for (const char *const *n = (const char *const[]) { "seed.img", "qmp.sock", "vm.json",
                                                            "monitor.json", "exit.json", NULL };
             *n; n++)
                assert_false(exists(f, *n));
        strv_free(ids);
        ids = NULL;
        assert_int_equal(f->c->driver->list(f->c, &ids, &e), 0);
        assert_null(ids[0]);
        assert_int_equal(f->c->driver->remove(f->c, &f->w, &e), 0);
        assert_int_equal(f->c->driver->adopt(f->c, &f->w, &st2, &e), -ENOENT);
}

static void test_start_errors(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_(sf_compute_closep) sf_compute *c = NULL;
        sf_compute_options o = { .qemu_binary = getenv("FAKE_QEMU"), .vm_root = f->root,
                                 .vm_accel = "tcg", .vm_cpu = "fail" };
        sf_workload_status st;

        /* Not prepared. */
        assert_int_equal(f->c->driver->start(f->c, &f->w, &st, &e), -ENOENT);
        assert_non_null(strstr(sf_err_msg(&e), "not prepared"));
        sf_err_clear(&e);

        /* QEMU fails at once: its own message is the error; nothing runs afterwards. */
        assert_int_equal(sf_compute_open("vm", &o, &c, &e), 0);
        assert_int_equal(c->driver->prepare(c, &f->w, &e), 0);
        assert_int_equal(c->driver->start(c, &f->w, &st, &e), -EIO);
        assert_non_null(strstr(sf_err_msg(&e), "unable to find CPU model 'fail'"));
        assert_non_null(strstr(sf_err_msg(&e), "start vm 'vm1'"));
        sf_err_clear(&e);
        assert_int_equal(c->driver->adopt(c, &f->w, &st, &e), 0);
        assert_int_equal(st.state, SF_WORKLOAD_EXITED);
        assert_true(st.exit_known);
        assert_int_equal(st.exit_code, 1);
        assert_false(exists(f, "qmp.sock"));

        /* Bad specs are refused by prepare with the field. */
        f->w.kernel = "/nonexistent/vmlinuz";
        assert_int_equal(c->driver->prepare(c, &f->w, &e), -ENOENT);
        assert_string_equal(e.field, "kernel");
        sf_err_clear(&e);
        f->w.kernel = NULL;
        assert_int_equal(c->driver->prepare(c, &f->w, &e), -EINVAL);
        assert_string_equal(e.field, "rootfs");
        sf_err_clear(&e);
        assert_int_equal(c->driver->remove(c, &f->w, &e), 0);

        /* Forcing KVM where it cannot work is an error at open, not a silent fallback. */
        if (access("/dev/kvm", R_OK | W_OK) < 0) {
                sf_compute *k = NULL;
                sf_compute_options ko = { .qemu_binary = getenv("FAKE_QEMU"),
                                          .vm_root = f->root, .vm_accel = "kvm" };
                assert_int_equal(sf_compute_open("vm", &ko, &k, &e), -EOPNOTSUPP);
                assert_null(k);
        }
}

static void test_overlay(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *base = xasprintf("%s/base.raw", f->dir), *other = NULL;
        _cleanup_free_ char *overlay = xasprintf("%s/disk.qcow2", f->state), *backing = NULL;
        char *argv[] = { "qemu-img", "--version", NULL };
        sf_workload_status st;

        if (sf_run_capture(argv, 5000, NULL, NULL, NULL, NULL) < 0) {
                skip(); /* qemu-utils is not installed */
        }
        assert_int_equal(sf_write_file_atomic(base, "\0\0\0\0", 4, 0644, &e), 0);
        assert_int_equal(truncate(base, 1 << 20), 0);
        f->w.rootfs = base;
        start(f, &st);
        assert_int_equal(sf_qcow2_backing_file(overlay, &backing, &e), 0);
        assert_string_equal(backing, base);
        /* Another image for the same VM: refused, its disk is kept. */
        other = xasprintf("%s/other.raw", f->dir);
        assert_int_equal(sf_write_file_atomic(other, "x", 1, 0644, &e), 0);
        f->w.rootfs = other;
        assert_int_equal(f->c->driver->prepare(f->c, &f->w, &e), -EEXIST);
        assert_string_equal(e.field, "rootfs");
        sf_err_clear(&e);
        f->w.rootfs = base;
        assert_int_equal(f->c->driver->remove(f->c, &f->w, &e), 0);
        assert_int_equal(access(overlay, F_OK), -1);
        assert_int_equal(access(base, F_OK), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_overlay, setup, teardown),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
