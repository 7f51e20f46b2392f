/* Unit tests for the pure parts of the VM driver: spec checks (with field names), vCPUs and
 * memory, MACs, the QEMU command line (golden files in data/, one argument per line;
 * SF_UPDATE_GOLDEN=1 rewrites them), the accelerator choice, image format detection, the
 * qcow2 backing file name, and the monitor's state file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>

#include "agent/compute/vm-qemu.h"
#include "lib/util.h"

static int dummy_fds[2] = { 10, 11 };

static sf_workload_spec base_spec(void)
{
        static char *args[] = { "quiet", "sf.test=1", NULL };
        static const char *macs[] = { NULL, "02:AA:BB:CC:DD:02", NULL };
        return (sf_workload_spec) {
                .id = "vm1",
                .kind = "vm",
                .rootfs = "/var/lib/superfluid/images/debian.qcow2",
                .args = args,
                .cpu_millicores = 1500,
                .memory_bytes = 300ULL << 20,
                .tap_fds = dummy_fds,
                .n_tap_fds = 2,
                .tap_macs = macs,
                .state_dir = "/run/superfluid/workloads/vm1",
                .kernel = "/boot/vmlinuz",
                .initrd = "/boot/initrd.img",
                .cmdline = "console=ttyS0 panic=-1",
        };
}

static void check_golden(char **argv, const char *name)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", SF_TEST_DATA, name);
        _cleanup_free_ char *want = NULL, *got = xstrdup("");
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        for (size_t i = 0; argv[i]; i++) {
                char *n = xasprintf("%s%s\n", got, argv[i]);
                free(got);
                got = n;
        }
        if (getenv("SF_UPDATE_GOLDEN")) {
                assert_int_equal(sf_write_file_atomic(path, got, strlen(got), 0644, &e), 0);
                return;
        }
        assert_int_equal(sf_read_file(path, 1 << 20, &want, NULL, &e), 0);
        assert_string_equal(got, want);
}

static void test_argv_kernel_boot(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **argv = NULL;
        sf_workload_spec w = base_spec();
        sf_vm_host h = { .qemu = "/usr/bin/qemu-system-x86_64", .accel = SF_VM_ACCEL_TCG,
                         .disk_format = "qcow2" };

        assert_int_equal(sf_vm_qemu_argv(&w, &h, &argv, &e), 0);
        check_golden(argv, "argv-kernel-tcg.txt");
}

static void test_argv_disk_boot(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **argv = NULL;
        sf_workload_spec w = base_spec();
        sf_vm_host h = { .qemu = "qemu-system-x86_64", .accel = SF_VM_ACCEL_KVM,
                         .disk_format = "raw" };

        /* Disk boot of a read-only raw image, no NICs, a log path with a comma (QEMU option
         * values double it), default memory, a fraction of a CPU. */
        w.kernel = w.initrd = w.cmdline = NULL;
        w.args = NULL;
        w.rootfs = "/images/base,v2.raw";
        w.readonly_rootfs = true;
        w.n_tap_fds = 0;
        w.memory_bytes = 0;
        w.cpu_millicores = 250;
        w.log_path = "/var/log/superfluid/vm1,console.log";
        assert_int_equal(sf_vm_qemu_argv(&w, &h, &argv, &e), 0);
        check_golden(argv, "argv-disk-kvm.txt");
}

static void test_argv_cpu_override(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **argv = NULL;
        sf_workload_spec w = base_spec();
        sf_vm_host h = { .qemu = "q", .accel = SF_VM_ACCEL_KVM, .cpu = "host,-arch-capabilities",
                         .disk_format = "qcow2" };
        size_t i;

        w.rootfs = NULL;
        assert_int_equal(sf_vm_qemu_argv(&w, &h, &argv, &e), 0);
        for (i = 0; argv[i] && STRNEQ(argv[i], "-cpu"); i++)
                ;
        assert_string_equal(argv[i + 1], "host,-arch-capabilities");
        for (i = 0; argv[i]; i++)
                assert_null(strstr(argv[i], "disk0"));
}

/* Breaks base_spec() in case i; returns the field the error must name, NULL past the end. */
static const char *break_spec(int i, sf_workload_spec *w)
{
        static int bad_fds[] = { 3, -1 };
        static const char *mcast[] = { NULL, "01:00:5e:00:00:01" };
        static const char *dup[] = { "02:00:00:00:00:01", "02:00:00:00:00:01" };
        switch (i) {
        case 0: w->id = "bad id"; return "id";
        case 1: w->state_dir = "relative"; return "state_dir";
        case 2: w->cpu_millicores = 0; return "cpu";
        case 3: w->cpu_millicores = 64001; return "cpu";
        case 4: w->memory_bytes = 16 << 20; return "memory";
        case 5:
                w->rootfs = w->kernel = w->initrd = w->cmdline = NULL;
                w->args = NULL;
                return "rootfs";
        case 6: w->rootfs = "disk.qcow2"; return "rootfs";
        case 7: w->kernel = "vmlinuz"; return "kernel";
        case 8: w->kernel = NULL; return "initrd";
        case 9: w->cmdline = "a\nb"; return "cmdline";
        case 10: w->netns_path = "/run/netns/x"; return "netns_path";
        case 11: w->tap_fds = bad_fds; return "tap_fds[1]";
        case 12: w->tap_macs = mcast; return "tap_macs[1]";
        case 13: w->tap_macs = dup; return "tap_macs[1]";
        case 14: w->log_path = "console.log"; return "log_path";
        default: return NULL;
        }
}

static void test_spec_check(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_spec ok = base_spec();
        const char *field;

        assert_int_equal(sf_vm_spec_check(&ok, &e), 0);
        for (int i = 0;; i++) {
                sf_workload_spec w = base_spec();
                if (!(field = break_spec(i, &w)))
                        break;
                assert_true(sf_vm_spec_check(&w, &e) < 0);
                assert_non_null(e.field);
                assert_string_equal(e.field, field);
                sf_err_clear(&e);
        }
        {
                sf_workload_mount m = { "/a", "/b", false };
                sf_workload_spec w = base_spec();
                w.mounts = &m;
                w.n_mounts = 1;
                assert_int_equal(sf_vm_spec_check(&w, &e), -EOPNOTSUPP);
        }
}

static void test_sizes_and_macs(void **state)
{
        sf_workload_spec w = base_spec();
        char mac[18], mac2[18];

        w.cpu_millicores = 1;
        assert_int_equal(sf_vm_vcpus(&w), 1);
        w.cpu_millicores = 1000;
        assert_int_equal(sf_vm_vcpus(&w), 1);
        w.cpu_millicores = 1001;
        assert_int_equal(sf_vm_vcpus(&w), 2);
        w.cpu_millicores = 64000;
        assert_int_equal(sf_vm_vcpus(&w), 64);
        w.memory_bytes = 0;
        assert_int_equal(sf_vm_memory_mib(&w), 512);
        w.memory_bytes = (64ULL << 20) + 1;
        assert_int_equal(sf_vm_memory_mib(&w), 65);

        sf_vm_nic_mac(&w, 1, mac);
        assert_string_equal(mac, "02:aa:bb:cc:dd:02");
        sf_vm_nic_mac(&w, 0, mac);
        assert_int_equal(strncmp(mac, "52:54:00:", 9), 0);
        sf_vm_nic_mac(&w, 0, mac2);
        assert_string_equal(mac, mac2); /* stable */
        w.id = "vm2";
        sf_vm_nic_mac(&w, 0, mac2);
        assert_string_not_equal(mac, mac2);
}

static void test_accel_choice(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_kvm_probe good = { .hw_virt = true };
        sf_kvm_probe none = { .open_error = ENOENT };
        sf_kvm_probe denied = { .open_error = EACCES, .hw_virt = true };
        sf_kvm_probe nocreate = { .create_error = EINVAL, .hw_virt = true };
        sf_kvm_probe emulated = { .hw_virt = false };
        sf_vm_accel a;
        char *why = NULL;

        assert_int_equal(sf_vm_accel_choose(NULL, &good, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_KVM);
        free(why);
        assert_int_equal(sf_vm_accel_choose("auto", &none, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_TCG);
        assert_non_null(strstr(why, "/dev/kvm: No such file or directory"));
        free(why);
        assert_int_equal(sf_vm_accel_choose(NULL, &denied, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_TCG);
        assert_non_null(strstr(why, "Permission denied"));
        free(why);
        assert_int_equal(sf_vm_accel_choose(NULL, &nocreate, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_TCG);
        assert_non_null(strstr(why, "cannot create VMs"));
        free(why);
        /* /dev/kvm without vmx/svm: emulated, slower than TCG: auto takes TCG, says why. */
        assert_int_equal(sf_vm_accel_choose(NULL, &emulated, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_TCG);
        assert_non_null(strstr(why, "vmx/svm"));
        free(why);
        /* Forced. */
        assert_int_equal(sf_vm_accel_choose("kvm", &emulated, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_KVM);
        free(why);
        assert_int_equal(sf_vm_accel_choose("tcg", &good, &a, &why, &e), 0);
        assert_int_equal(a, SF_VM_ACCEL_TCG);
        free(why);
        why = NULL;
        assert_int_equal(sf_vm_accel_choose("kvm", &none, &a, &why, &e), -EOPNOTSUPP);
        assert_string_equal(e.field, "accel");
        assert_non_null(strstr(sf_err_msg(&e), "KVM requested but /dev/kvm"));
        sf_err_clear(&e);
        assert_int_equal(sf_vm_accel_choose("hvf", &good, &a, &why, &e), -EINVAL);
        assert_null(why);
        assert_string_equal(sf_vm_accel_str(SF_VM_ACCEL_KVM), "kvm");
        assert_string_equal(sf_vm_accel_str(SF_VM_ACCEL_TCG), "tcg");
}

static void write_bytes(const char *path, const void *data, size_t len)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        assert_int_equal(sf_write_file_atomic(path, data, len, 0644, &e), 0);
}

static void test_image_format(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char dir[] = "/tmp/sf-vm-img.XXXXXX";
        _cleanup_free_ char *p = NULL;
        uint8_t hdr[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
        const char *name = "/images/base.raw";
        const char *fmt;
        char *backing = NULL;

        assert_non_null(mkdtemp(dir));
        p = xasprintf("%s/img", dir);

        /* qcow2 with a backing file name at offset 200. */
        hdr[15] = 200;                          /* backing_file_offset (BE u64) */
        hdr[19] = (uint8_t) strlen(name);       /* backing_file_size (BE u32) */
        memcpy(hdr + 200, name, strlen(name));
        write_bytes(p, hdr, sizeof(hdr));
        assert_int_equal(sf_vm_image_format(p, &fmt, &e), 0);
        assert_string_equal(fmt, "qcow2");
        assert_int_equal(sf_qcow2_backing_file(p, &backing, &e), 0);
        assert_string_equal(backing, name);
        free(backing);

        /* qcow2 without a backing file. */
        memset(hdr + 8, 0, 12);
        write_bytes(p, hdr, sizeof(hdr));
        assert_int_equal(sf_qcow2_backing_file(p, &backing, &e), 0);
        assert_null(backing);

        write_bytes(p, "\0\0\0\0 anything else", 18);
        assert_int_equal(sf_vm_image_format(p, &fmt, &e), 0);
        assert_string_equal(fmt, "raw");
        assert_int_equal(sf_qcow2_backing_file(p, &backing, &e), -EINVAL);
        sf_err_clear(&e);

        write_bytes(p, "KDMV\1\0\0\0", 8);
        assert_int_equal(sf_vm_image_format(p, &fmt, &e), -EOPNOTSUPP);
        assert_non_null(strstr(sf_err_msg(&e), "vmdk"));
        sf_err_clear(&e);

        unlink(p);
        assert_int_equal(sf_vm_image_format(p, &fmt, &e), -ENOENT);
        sf_err_clear(&e);
        assert_int_equal(sf_vm_image_format(dir, &fmt, &e), -EINVAL);
        rmdir(dir);
}

static void test_monitor_state(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_vm_monitor_state_ sf_vm_monitor_state out = { 0 };
        sf_vm_monitor_state in = {
                .id = "vm1", .monitor_pid = 100, .monitor_starttime = 5, .qemu_pid = 101,
                .qemu_starttime = 6, .started_usec = 1795611240123456ULL,
                .ready_usec = 1795611240223456ULL, .run_state = "paused",
                .shutdown_reason = "guest-shutdown", .shutdown_guest = true, .resets = 2,
        };
        _cleanup_free_ char *text = sf_vm_monitor_state_format(&in);

        assert_int_equal(sf_vm_monitor_state_parse(text, strlen(text), &out, &e), 0);
        assert_string_equal(out.id, "vm1");
        assert_int_equal(out.monitor_pid, 100);
        assert_int_equal(out.qemu_pid, 101);
        assert_int_equal(out.qemu_starttime, 6);
        assert_int_equal(out.ready_usec, in.ready_usec);
        assert_string_equal(out.run_state, "paused");
        assert_string_equal(out.shutdown_reason, "guest-shutdown");
        assert_true(out.shutdown_guest);
        assert_int_equal(out.resets, 2);
        sf_vm_monitor_state_done(&out);

        assert_true(sf_vm_monitor_state_parse("{\"id\":\"x\"}", 10, &out, &e) < 0);
        assert_string_equal(e.field, "monitor_pid");
        sf_err_clear(&e);
        assert_true(sf_vm_monitor_state_parse("[1]", 3, &out, &e) < 0);
}

/* A nested host (issue #9): the management NIC after the data NICs (restricted user
 * networking, a guestfwd to the controller through socat, a hostfwd to the guest agent),
 * spawn allowed by the sandbox, the seed's superfluid-agent file, controller URL checks. */
static void test_nested_host(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *cfg = NULL, *host = NULL;
        sf_workload_spec w = base_spec();
        sf_vm_host h = { .qemu = "qemu-system-x86_64", .accel = SF_VM_ACCEL_TCG,
                         .disk_format = "qcow2", .socat = "/usr/bin/socat",
                         .agent_fwd_port = 41234 };
        unsigned port;
        size_t n;

        w.name = "nh1";
        w.nested_mode = "vlan";
        w.nested_controller = "http://127.0.0.1:7480";
        w.nested_agent_addr = "127.0.0.1";
        assert_int_equal(sf_vm_spec_check(&w, &e), 0);
        assert_int_equal(sf_vm_qemu_argv(&w, &h, &argv, &e), 0);
        n = strv_length(argv);
        assert_string_equal(argv[n - 3],
                            "user,id=sfmgmt,restrict=on,net=10.0.2.0/24,host=10.0.2.2,"
                            "guestfwd=tcp:10.0.2.100:80-cmd:/usr/bin/socat STDIO "
                            "TCP:127.0.0.1:7480,hostfwd=tcp:127.0.0.1:41234-10.0.2.15:7470");
        assert_string_equal(argv[n - 1], "virtio-net-pci,netdev=sfmgmt,mac=52:54:00:5f:00:02");
        for (size_t i = 0; argv[i]; i++)
                if (STREQ(argv[i], "-sandbox"))
                        assert_string_equal(argv[i + 1], "on,obsolete=deny,elevateprivileges=allow,"
                                                         "spawn=allow,resourcecontrol=deny");
        cfg = sf_vm_agent_config(&w, 41234);
        assert_string_equal(cfg, "controller=http://10.0.2.100:80\nnode=nh1\nparent=vm1\n"
                                 "mode=vlan\nlink_mac=52:54:00:fc:6f:e5\n"
                                 "mgmt_mac=52:54:00:5f:00:02\nmgmt_ip=10.0.2.15/24\n"
                                 "agent_url=http://127.0.0.1:41234\n");

        /* without socat; bad modes; no NIC; controller URLs */
        h.socat = NULL;
        strv_free(argv);
        argv = NULL;
        assert_int_equal(sf_vm_qemu_argv(&w, &h, &argv, &e), -ENOENT);
        w.nested_mode = "bridge";
        sf_err_clear(&e);
        assert_int_equal(sf_vm_spec_check(&w, &e), -EINVAL);
        assert_string_equal(e.field, "nested_mode");
        w.nested_mode = "macvlan";
        w.n_tap_fds = 0;
        sf_err_clear(&e);
        assert_int_equal(sf_vm_spec_check(&w, &e), -EINVAL);
        w.n_tap_fds = 2;
        w.nested_controller = "https://ctl:7480";
        sf_err_clear(&e);
        assert_int_equal(sf_vm_spec_check(&w, &e), -EINVAL);
        assert_string_equal(e.field, "controller");
        static const char *bad[] = { "http://", "http://a b:1", "http://x;rm:1", "http://h:0",
                                     "http://h:99999", "http://h:1/api", "ftp://h" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                sf_err_clear(&e);
                assert_true(sf_vm_controller_target(bad[i], &host, &port, &e) < 0);
        }
        assert_int_equal(sf_vm_controller_target("http://ctl.example:81/", &host, &port, &e), 0);
        assert_string_equal(host, "ctl.example");
        assert_int_equal(port, 81);
        free(host);
        assert_int_equal(sf_vm_controller_target("http://[fd00::1]", &host, &port, &e), 0);
        assert_string_equal(host, "fd00::1");
        assert_int_equal(port, 80);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv_kernel_boot),
                cmocka_unit_test(test_argv_disk_boot),
                cmocka_unit_test(test_argv_cpu_override),
                cmocka_unit_test(test_spec_check),
                cmocka_unit_test(test_sizes_and_macs),
                cmocka_unit_test(test_accel_choice),
                cmocka_unit_test(test_image_format),
                cmocka_unit_test(test_monitor_state),
                cmocka_unit_test(test_nested_host),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
