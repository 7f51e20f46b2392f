/* Unit tests for OCI config.json generation: golden files, validation errors, resource math,
 * and bundle writing. Set SF_UPDATE_GOLDEN=1 to rewrite the golden files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "agent/compute/oci-spec.h"
#include "lib/json.h"
#include "lib/util.h"

static char *const basic_args[] = { "httpd", "-f", "-p", "8080", NULL };

static sf_oci_config basic(void)
{
        return (sf_oci_config) {
                .id = "c1",
                .rootfs = "/var/lib/superfluid/rootfs/c1",
                .args = basic_args,
                .cpu_millicores = 500,
        };
}

static void check_golden(json_t *got, const char *name)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", SF_TEST_DATA, name);
        _cleanup_json_ json_t *want = NULL;
        json_error_t err;

        if (getenv("SF_UPDATE_GOLDEN")) {
                assert_int_equal(json_dump_file(got, path, JSON_INDENT(2)), 0);
                return;
        }
        want = json_load_file(path, 0, &err);
        if (!want)
                fail_msg("%s: %s (line %d)", path, err.text, err.line);
        if (!json_equal(got, want)) {
                _cleanup_free_ char *g = json_dumps(got, JSON_INDENT(2));
                _cleanup_free_ char *w = json_dumps(want, JSON_INDENT(2));
                fail_msg("%s differs.\n--- want:\n%s\n--- got:\n%s", name, w, g);
        }
}

static void test_golden_basic(void **state)
{
        _cleanup_json_ json_t *j = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_oci_config c = basic();
        assert_int_equal(sf_oci_spec_build(&c, &j, &e), 0);
        check_golden(j, "oci-basic.json");
}

static void test_golden_full(void **state)
{
        static char *const env[] = { "PATH=/bin", "MODE=edge", NULL };
        static const sf_oci_mount mounts[] = {
                { "/var/lib/superfluid/day0/c2/vnf.conf", "/etc/vnf/vnf.conf", true },
                { "/var/lib/superfluid/data/c2", "/data", false },
        };
        static const sf_oci_sysctl sysctls[] = {
                { "net.ipv4.ip_forward", "1" },
                { "net.ipv4.ping_group_range", "0 0" },
        };
        static char *const hook[] = { "/usr/libexec/superfluid/sf-shim", "--wait-gate",
                                      "/run/superfluid/c2/start-gate", NULL };
        _cleanup_json_ json_t *j = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_oci_config c = {
                .id = "epc-1.sgw",
                .rootfs = "/var/lib/superfluid/rootfs/c2",
                .readonly_rootfs = true,
                .args = basic_args,
                .env = env,
                .cwd = "/srv",
                .uid = 1000,
                .gid = 1000,
                .hostname = "sgw",
                .netns_path = "/run/superfluid/netns/sfp-1234",
                .cpu_millicores = 2500,
                .memory_bytes = 64ULL << 20,
                .pids_limit = 100,
                .nofile = 1024,
                .mounts = mounts,
                .n_mounts = ELEMENTSOF(mounts),
                .sysctls = sysctls,
                .n_sysctls = ELEMENTSOF(sysctls),
                .hosts_file = "/run/superfluid/c2/bundle/etc/hosts",
                .resolv_file = "/run/superfluid/c2/bundle/etc/resolv.conf",
                .hostname_file = "/run/superfluid/c2/bundle/etc/hostname",
                .create_hook = hook,
                .create_hook_timeout_s = 18,
        };
        assert_int_equal(sf_oci_spec_build(&c, &j, &e), 0);
        check_golden(j, "oci-full.json");
}

static void test_host_network(void **state)
{
        _cleanup_json_ json_t *j = NULL;
        sf_oci_config c = basic();
        json_t *ns, *v;
        size_t i;

        c.host_network = true;
        assert_int_equal(sf_oci_spec_build(&c, &j, NULL), 0);
        ns = json_object_get(json_object_get(j, "linux"), "namespaces");
        assert_int_equal(json_array_size(ns), 4);
        json_array_foreach(ns, i, v)
                assert_string_not_equal(json_string_value(json_object_get(v, "type")),
                                        "network");
        assert_int_equal(json_object_size(json_object_get(json_object_get(j, "linux"),
                                                          "sysctl")),
                         0);
}

static json_t *path(json_t *j, const char *a, const char *b, const char *c)
{
        j = json_object_get(j, a);
        j = json_object_get(j, b);
        return c ? json_object_get(j, c) : j;
}

static void test_cpu_math(void **state)
{
        static const struct {
                uint32_t m;
                int64_t shares, quota;
        } cases[] = {
                { 1, 2, 100 }, { 250, 256, 25000 }, { 1000, 1024, 100000 },
                { 64000, 65536, 6400000 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ json_t *j = NULL;
                json_t *cpu;
                sf_oci_config c = basic();
                c.cpu_millicores = cases[i].m;
                assert_int_equal(sf_oci_spec_build(&c, &j, NULL), 0);
                cpu = path(json_object_get(j, "linux"), "resources", "cpu", NULL);
                assert_int_equal(json_integer_value(json_object_get(cpu, "shares")),
                                 cases[i].shares);
                assert_int_equal(json_integer_value(json_object_get(cpu, "quota")),
                                 cases[i].quota);
                assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
        }
}

static void test_capabilities(void **state)
{
        _cleanup_json_ json_t *j = NULL;
        sf_oci_config c = basic();
        bool raw = false;
        json_t *v;
        size_t i;

        assert_int_equal(sf_oci_spec_build(&c, &j, NULL), 0);
        json_array_foreach(path(j, "process", "capabilities", "effective"), i, v)
                if (STREQ(json_string_value(v), "CAP_NET_RAW"))
                        raw = true;
        assert_true(raw);
        assert_null(path(j, "process", "capabilities", "inheritable"));
        assert_null(path(j, "process", "capabilities", "ambient"));
}

typedef void (*mutator)(sf_oci_config *c);
static char *const env_bad[] = { "A=1", "NOEQUALS", NULL };
static char *const args_empty[] = { NULL };
static const sf_oci_mount mounts_bad_dest[] = { { "/a", "/b", false }, { "/c", "../etc", true } };
static const sf_oci_mount mounts_dotdot[] = { { "/a", "/x/../../etc", false } };
static const sf_oci_mount mounts_bad_src[] = { { "relative", "/b", false } };
static const sf_oci_sysctl sysctl_bad[] = { { "net.ipv4 .x", "1" } };
static const sf_oci_sysctl sysctl_net[] = { { "net.ipv4.ip_forward", "1" } };
static const sf_oci_sysctl sysctl_nl[] = { { "kernel.msgmax", "1\n2" } };

static void m_mem_small(sf_oci_config *c) { c->memory_bytes = (4ULL << 20) - 1; }
static void m_cpu_big(sf_oci_config *c) { c->cpu_millicores = 64001; }
static void m_id_empty(sf_oci_config *c) { c->id = ""; }
static void m_id_slash(sf_oci_config *c) { c->id = "a/b"; }
static void m_id_null(sf_oci_config *c) { c->id = NULL; }
static void m_rootfs(sf_oci_config *c) { c->rootfs = "rootfs"; }
static void m_args_null(sf_oci_config *c) { c->args = NULL; }
static void m_args_empty(sf_oci_config *c) { c->args = args_empty; }
static void m_env(sf_oci_config *c) { c->env = env_bad; }
static void m_cwd(sf_oci_config *c) { c->cwd = "srv"; }
static void m_hostname(sf_oci_config *c) { c->hostname = "-bad"; }
static void m_netns_both(sf_oci_config *c) { c->netns_path = "/run/netns/x", c->host_network = true; }
static void m_netns_rel(sf_oci_config *c) { c->netns_path = "netns/x"; }
static char *const hook_rel[] = { "sf-shim", "--wait-gate", "/x", NULL };
static void m_hook_rel(sf_oci_config *c) { c->create_hook = hook_rel; }
static void m_mount_dest(sf_oci_config *c) { c->mounts = mounts_bad_dest, c->n_mounts = 2; }
static void m_mount_dotdot(sf_oci_config *c) { c->mounts = mounts_dotdot, c->n_mounts = 1; }
static void m_mount_src(sf_oci_config *c) { c->mounts = mounts_bad_src, c->n_mounts = 1; }
static void m_sysctl_key(sf_oci_config *c) { c->sysctls = sysctl_bad, c->n_sysctls = 1; }
static void m_sysctl_host(sf_oci_config *c)
{
        c->sysctls = sysctl_net, c->n_sysctls = 1, c->host_network = true;
}
static void m_sysctl_nl(sf_oci_config *c) { c->sysctls = sysctl_nl, c->n_sysctls = 1; }
static void m_nofile(sf_oci_config *c) { c->nofile = (1U << 20) + 1; }

static void test_validation(void **state)
{
        static const struct {
                mutator m;
                const char *field;
                const char *msg; /* substring */
        } cases[] = {
                { m_mem_small, "memory", "must be at least 4 MiB" },
                { m_cpu_big, "cpu", "at most 64 cores" },
                { m_id_empty, "id", "1-63 characters" },
                { m_id_slash, "id", "1-63 characters" },
                { m_id_null, "id", "1-63 characters" },
                { m_rootfs, "rootfs", "absolute path" },
                { m_args_null, "args", "program" },
                { m_args_empty, "args", "program" },
                { m_env, "env[1]", "KEY=VALUE" },
                { m_cwd, "cwd", "absolute" },
                { m_hostname, "hostname", "letter or digit" },
                { m_netns_both, "netns_path", "host networking" },
                { m_netns_rel, "netns_path", "absolute" },
                { m_hook_rel, "create_hook", "absolute path" },
                { m_mount_dest, "mounts[1].destination", "absolute path" },
                { m_mount_dotdot, "mounts[0].destination", "'..'" },
                { m_mount_src, "mounts[0].source", "absolute path" },
                { m_sysctl_key, "sysctls[0].key", "sysctl name" },
                { m_sysctl_host, "sysctls[0].key", "network namespace" },
                { m_sysctl_nl, "sysctls[0].value", "one line" },
                { m_nofile, "nofile", "at most" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_t *j = NULL;
                sf_oci_config c = basic();
                cases[i].m(&c);
                assert_int_equal(sf_oci_spec_build(&c, &j, &e), -EINVAL);
                assert_null(j);
                if (!e.field || STRNEQ(e.field, cases[i].field) ||
                    !strstr(e.msg, cases[i].msg))
                        fail_msg("case %zu: want %s: ...%s..., got %s: %s", i, cases[i].field,
                                 cases[i].msg, e.field ? e.field : "(none)", sf_err_msg(&e));
        }
}

static void test_valid_edges(void **state)
{
        sf_oci_config c = basic();
        c.memory_bytes = 4ULL << 20;
        c.cpu_millicores = 64000;
        c.hostname = "a";
        assert_int_equal(sf_oci_config_validate(&c, NULL), 0);
        c.memory_bytes = 0; /* no limit */
        assert_int_equal(sf_oci_config_validate(&c, NULL), 0);
        c.cpu_millicores = 0; /* no limit either: best effort, no cpu section in the spec */
        assert_int_equal(sf_oci_config_validate(&c, NULL), 0);
        {
                json_auto_t *j = NULL;
                assert_int_equal(sf_oci_spec_build(&c, &j, NULL), 0);
                assert_null(json_object_get(json_object_get(json_object_get(j, "linux"), "resources"), "cpu"));
        }
}

static void test_etc_content(void **state)
{
        static char *const dns[] = { "10.0.0.2", "10.0.0.3", NULL };
        static char *const search[] = { "edge.local", "core.local", NULL };
        static char *const opts[] = { "ndots:2", NULL };
        static char *const hosts[] = { "10.0.0.5 sgw sgw.edge.local", NULL };
        sf_oci_etc etc = { dns, search, opts, hosts };
        _cleanup_free_ char *h = sf_oci_hosts_content(&etc);
        _cleanup_free_ char *r = sf_oci_resolv_content(&etc);
        _cleanup_free_ char *r0 = sf_oci_resolv_content(NULL);

        assert_string_equal(h, "127.0.0.1\tlocalhost\n"
                               "::1\tlocalhost ip6-localhost ip6-loopback\n"
                               "10.0.0.5 sgw sgw.edge.local\n");
        assert_string_equal(r, "nameserver 10.0.0.2\nnameserver 10.0.0.3\n"
                               "search edge.local core.local\noptions ndots:2\n");
        assert_string_equal(r0, "");
}

static void test_bundle_write(void **state)
{
        static char *const dns[] = { "192.0.2.53", NULL };
        char tmpl[] = "/tmp/sf-test-bundle-XXXXXX";
        _cleanup_free_ char *dir = NULL, *cfg = NULL, *text = NULL, *hn = NULL, *rs = NULL;
        _cleanup_json_ json_t *j = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_oci_etc etc = { .dns_servers = dns };
        sf_oci_config c = basic();
        json_t *m, *v;
        size_t i, len;
        bool hosts = false;
        struct stat st;

        assert_non_null(mkdtemp(tmpl));
        dir = xasprintf("%s/bundle", tmpl);
        c.hostname = "web1";
        if (sf_oci_bundle_write(dir, &c, &etc, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        cfg = xasprintf("%s/config.json", dir);
        assert_int_equal(sf_read_file(cfg, 1 << 20, &text, &len, NULL), 0);
        assert_int_equal(stat(cfg, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(sf_json_parse(text, len, &j, NULL), 0);
        json_array_foreach(json_object_get(j, "mounts"), i, m) {
                _cleanup_free_ char *want = xasprintf("%s/etc/hosts", dir);
                v = json_object_get(m, "destination");
                if (STREQ(json_string_value(v), "/etc/hosts")) {
                        assert_string_equal(json_string_value(json_object_get(m, "source")),
                                            want);
                        hosts = true;
                }
        }
        assert_true(hosts);
        {
                _cleanup_free_ char *p = xasprintf("%s/etc/hostname", dir);
                _cleanup_free_ char *q = xasprintf("%s/etc/resolv.conf", dir);
                assert_int_equal(sf_read_file(p, 4096, &hn, NULL, NULL), 0);
                assert_int_equal(sf_read_file(q, 4096, &rs, NULL, NULL), 0);
        }
        assert_string_equal(hn, "web1\n");
        assert_string_equal(rs, "nameserver 192.0.2.53\n");

        /* Invalid input writes nothing and names the field. */
        {
                _cleanup_free_ char *dir2 = xasprintf("%s/bad", tmpl);
                c.memory_bytes = 1;
                assert_int_equal(sf_oci_bundle_write(dir2, &c, NULL, &e), -EINVAL);
                assert_string_equal(e.field, "memory");
                assert_int_equal(access(dir2, F_OK), -1);
        }
        assert_int_equal(sf_rm_rf(tmpl, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_basic),  cmocka_unit_test(test_golden_full),
                cmocka_unit_test(test_host_network),  cmocka_unit_test(test_cpu_math),
                cmocka_unit_test(test_capabilities),  cmocka_unit_test(test_validation),
                cmocka_unit_test(test_valid_edges),   cmocka_unit_test(test_etc_content),
                cmocka_unit_test(test_bundle_write),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
