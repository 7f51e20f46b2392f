/* Unit tests for the parts of src/net/{netns,plumb,features}.c that need no privilege: sysctl
 * key validation and reading many keys at once, path checks, process snapshots as task listers fill them, the clean-report
 * summary, plumb input validation, feature names. */
#include "lib/macro.h"
#include "lib/util.h"
#include "net/features.h"
#include "net/netns.h"
#include "net/plumb.h"
#include "nltest.h"

static void test_sysctl_path(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *p = NULL;

        assert_int_equal(sf_sysctl_path("net.ipv4.ip_forward", &p, NULL), 0);
        assert_string_equal(p, "/proc/sys/net/ipv4/ip_forward");
        free(p);
        assert_int_equal(sf_sysctl_path("net/ipv4/conf/eth0.100/proxy_arp", &p, NULL), 0);
        assert_string_equal(p, "/proc/sys/net/ipv4/conf/eth0.100/proxy_arp");
        free(p);

        assert_int_equal(sf_sysctl_path("kernel.hostname", &p, &e), -EINVAL);
        assert_string_equal(e.field, "sysctl");
        assert_int_equal(sf_sysctl_path("net/../kernel/hostname", &p, NULL), -EINVAL);
        assert_int_equal(sf_sysctl_path("net/ipv4//ip_forward", &p, NULL), -EINVAL);
        assert_int_equal(sf_sysctl_path("net/ipv4/./ip_forward", &p, NULL), -EINVAL);
        assert_int_equal(sf_sysctl_path("net.ipv4.", &p, NULL), -EINVAL);
        assert_int_equal(sf_sysctl_path("", &p, NULL), -EINVAL);
        assert_int_equal(sf_sysctl_write(-1, "kernel/hostname", "x", NULL), -EINVAL);
}

/* Many keys, in many directories: each value as a plain read of its file gives it; invalid
 * and missing keys give NULL. */
static void test_sysctl_read_many(void **state)
{
        static const char *const keys[] = {
                "net.ipv4.ip_forward", "net.ipv4.ip_local_port_range", "kernel.hostname",
                "net.ipv4.no_such_key", "net/ipv4/../ipv4/ip_forward",
                "net.ipv4.conf.all.forwarding", "net.ipv4.conf.default.rp_filter", "net.ipv4.conf.lo.proxy_arp",
                "net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.forwarding", "net.ipv6.conf.lo.mtu",
                "net.ipv4.neigh.default.gc_thresh1", "net.ipv4.neigh.lo.retrans_time_ms",
                "net.ipv6.neigh.default.gc_thresh1", "net.ipv6.neigh.lo.retrans_time_ms", "net.core.somaxconn",
                "net.unix.max_dgram_qlen", "net.ipv4.route.mtu_expires", "net.ipv6.route.mtu_expires",
                "net.ipv6.icmp.ratelimit", "net.ipv4.tcp_syn_retries", "net.ipv4.conf.all.proxy_arp",
        };
        enum { N = ELEMENTSOF(keys) };
        char *v[N];
        size_t got = 0;
        assert_int_equal(sf_sysctl_read_many(keys, N, v, NULL), 0);
        for (size_t i = 0; i < N; i++) {
                _cleanup_free_ char *path = NULL, *want = NULL;
                if (sf_sysctl_path(keys[i], &path, NULL) < 0 || sf_read_file(path, 4096, &want, NULL, NULL) < 0) {
                        if (v[i])
                                fail_msg("%s: '%s', expected nothing", keys[i], v[i]);
                        continue;
                }
                want[strcspn(want, "\n")] = 0;
                if (!v[i] || !STREQ(v[i], want))
                        fail_msg("%s: '%s', expected '%s'", keys[i], v[i] ? v[i] : "(null)", want);
                got++;
                free(v[i]);
        }
        assert_null(v[2]); /* outside net */
        assert_null(v[3]);
        assert_null(v[4]); /* ".." */
        assert_true(got >= 15);
}

static void test_netns_paths(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        assert_int_equal(sf_netns_create("relative/ns", &e), -EINVAL);
        assert_string_equal(e.field, "netns");
        assert_int_equal(sf_netns_create("/", NULL), -EINVAL);
        assert_int_equal(sf_netns_create("/run/x/", NULL), -EINVAL);
        assert_int_equal(sf_netns_delete("x", NULL), -EINVAL);
        /* A path that does not exist is fine to delete. */
        assert_int_equal(sf_netns_delete("/nonexistent-sf-test/ns", NULL), 0);
}

/* A snapshot as a task lister fills it: threads in thread id order, so one process's threads
 * need not be next to each other; growth past the doubling steps. */
static void test_tasks_pids_in(void **state)
{
        sf_netns_tasks *t = sf_netns_tasks_new();
        struct stat target = { .st_dev = 4, .st_ino = 4026532000 };
        pid_t *pids = NULL;
        size_t n = 9;

        assert_int_equal(sf_netns_tasks_pids_in(t, &target, &pids, &n), 0);
        assert_int_equal(n, 0);
        free(pids);
        for (pid_t i = 1; i <= 1000; i++) /* 1000 tasks elsewhere */
                sf_netns_tasks_add(t, i, 4, 4026531840);
        sf_netns_tasks_add(t, 2000, 4, 4026532000); /* process 2000's first thread */
        sf_netns_tasks_add(t, 1500, 4, 4026532000);
        sf_netns_tasks_add(t, 2000, 4, 4026532000); /* consecutive: kept once */
        sf_netns_tasks_add(t, 1500, 9, 4026532000); /* another device: not the target */
        sf_netns_tasks_add(t, 2000, 4, 4026532000); /* a later thread of 2000 */
        sf_netns_tasks_add(t, 1200, 4, 4026532000);
        assert_int_equal(sf_netns_tasks_pids_in(t, &target, &pids, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(pids[0], 1200);
        assert_int_equal(pids[1], 1500);
        assert_int_equal(pids[2], 2000);
        free(pids);
        sf_netns_tasks_free(t);
}

static void test_report_summary(void **state)
{
        sf_netns_report r = { .conntrack_source = "ctnetlink" };
        pid_t pids[] = { 12, 14 };
        char *s;

        s = sf_netns_report_summary(&r);
        assert_string_equal(s, "clean");
        assert_true(sf_netns_report_clean(&r));
        free(s);

        r.pids = pids;
        r.n_pids = 2;
        strv_push(&r.sockets, xstrdup("udp 127.0.0.1:40404 -> 0.0.0.0:0 inode 7"));
        strv_push(&r.neighbours, xstrdup("10.0.0.7 ifindex 2 lladdr - REACHABLE"));
        strv_push(&r.neighbours, xstrdup("10.0.0.8 ifindex 2 lladdr - STALE"));
        assert_false(sf_netns_report_clean(&r));
        s = sf_netns_report_summary(&r);
        assert_string_equal(s, "2 processes (pid 12, 14); 1 socket (udp 127.0.0.1:40404 -> 0.0.0.0:0 "
                               "inode 7); 2 neighbours (10.0.0.7 ifindex 2 lladdr - REACHABLE, "
                               "10.0.0.8 ifindex 2 lladdr - STALE)");
        free(s);
        strv_free(r.sockets);
        strv_free(r.neighbours);

        r = (sf_netns_report) {};
        strv_push(&r.conntrack, xstrdup("ipv4 proto 1 10.0.0.1 -> 10.0.0.2"));
        s = sf_netns_report_summary(&r);
        assert_string_equal(s, "1 conntrack entry (ipv4 proto 1 10.0.0.1 -> 10.0.0.2); conntrack not "
                               "checked (neither ctnetlink nor /proc/net/nf_conntrack)");
        free(s);
        strv_free(r.conntrack);
}

static void test_plumb_validation(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_addr gws[2];
        sf_plumb_cfg c = { .netns_path = "/run/sf-unit/ns", .host_ifname = "sfp0123456789abcd" };

        assert_int_equal(sf_plumb_port(NULL, &c, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "host_ifname");

        sf_err_clear(&e);
        c.host_ifname = "sfp0";
        c.peer_ifname = "";
        assert_int_equal(sf_plumb_port(NULL, &c, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "peer_ifname");

        sf_err_clear(&e);
        c.peer_ifname = NULL;
        assert_int_equal(sf_addr_parse("10.0.0.1", &gws[0]), 0);
        assert_int_equal(sf_addr_parse("10.0.0.2", &gws[1]), 0);
        c.gateways = gws;
        c.n_gateways = 2;
        assert_int_equal(sf_plumb_port(NULL, &c, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "gateways");

        sf_err_clear(&e);
        c.n_gateways = 0;
        c.netns_path = "ns";
        assert_int_equal(sf_plumb_port(NULL, &c, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "netns_path");
}

static void test_feature_names(void **state)
{
        char *s;
        assert_string_equal(sf_feature_name(SF_FEAT_VETH), "veth");
        assert_string_equal(sf_feature_name(SF_FEAT_VLAN), "8021q");
        assert_string_equal(sf_feature_name(SF_FEAT_KVM), "kvm");
        assert_null(sf_feature_name(0));
        assert_null(sf_feature_name(SF_FEAT_VETH | SF_FEAT_BRIDGE));
        assert_null(sf_feature_name(1u << SF_FEAT_COUNT));
        s = sf_features_fmt(SF_FEAT_VETH | SF_FEAT_VXLAN | SF_FEAT_CLS_BPF);
        assert_string_equal(s, "veth vxlan cls_bpf");
        free(s);
        s = sf_features_fmt(0);
        assert_string_equal(s, "");
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sysctl_path),
                cmocka_unit_test(test_sysctl_read_many),
                cmocka_unit_test(test_netns_paths),
                cmocka_unit_test(test_tasks_pids_in),
                cmocka_unit_test(test_report_summary),
                cmocka_unit_test(test_plumb_validation),
                cmocka_unit_test(test_feature_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
