/* Unit tests of the lab's plan and state (src/lab/lab.c): lab names, site specs, the plan's
 * names and addresses, the state file round trip and its guard against foreign names, and
 * log tails (src/lab/proc.c). No root: nothing is created. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lab/lab-internal.h"
#include "lib/spawn.h"
#include "lib/util.h"

static void test_names(void **state)
{
        const char *good[] = { "default", "a", "t1234", "demo", "x9" };
        const char *bad[] = { "", "ul", "toolong", "1abc", "A", "a-b", "a.b", "a/b", "Ab" };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (sf_lab_name_check(good[i], NULL) < 0)
                        fail_msg("'%s' rejected", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                sf_err e = SF_ERR_INIT;
                if (sf_lab_name_check(bad[i], &e) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_string_equal(e.field, "name");
                sf_err_clear(&e);
        }
        assert_int_equal(sf_lab_name_check(NULL, NULL), -EINVAL);
}

static void test_sites(void **state)
{
        sf_lab_site *v = NULL;
        size_t n = 0;
        assert_int_equal(sf_lab_parse_sites("core:2,edge:1", &v, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].name, "core");
        assert_string_equal(v[0].kind, "core");
        assert_int_equal(v[0].hosts, 2);
        assert_string_equal(v[1].name, "edge");
        assert_string_equal(v[1].kind, "edge");
        assert_int_equal(v[1].hosts, 1);
        sf_lab_sites_free(v, n);

        assert_int_equal(sf_lab_parse_sites("paris:3:core,agg-1:1:aggregation,aggregation:1", &v, &n, NULL), 0);
        assert_int_equal(n, 3);
        assert_string_equal(v[0].name, "paris");
        assert_string_equal(v[0].kind, "core");
        assert_string_equal(v[1].kind, "aggregation");
        assert_string_equal(v[2].kind, "aggregation");
        sf_lab_sites_free(v, n);

        static const struct {
                const char *spec;
                const char *msg;
        } bad[] = {
                { "", "no sites" },
                { ",", "no sites" },
                { "core", "is not SITE:HOSTS[:KIND]" },
                { "core:0", "is not a number of hosts" },
                { "core:-1", "is not a number of hosts" },
                { "core:1x", "is not a number of hosts" },
                { "core:251", "is not a number of hosts" },
                { "core:", "is not a number of hosts" },
                { "paris:1", "give its kind, e.g. paris:1:edge" },
                { "paris:1:metro", "'metro' is not a site kind" },
                { "core:1,core:2", "site 'core' is given twice" },
                { "core:200,edge:51", "more than 250 hosts" },
                { "bad/name:1:edge", "is not a site name" },
                { "-x:1:edge", "is not a site name" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                sf_err e = SF_ERR_INIT;
                v = NULL;
                n = 0;
                if (sf_lab_parse_sites(bad[i].spec, &v, &n, &e) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i].spec);
                if (!strstr(sf_err_msg(&e), bad[i].msg))
                        fail_msg("'%s': message '%s' lacks '%s'", bad[i].spec, sf_err_msg(&e), bad[i].msg);
                assert_string_equal(e.field, "sites");
                assert_null(v);
                sf_err_clear(&e);
        }
        assert_int_equal(sf_lab_parse_sites(NULL, &v, &n, NULL), -EINVAL);
}

static sf_lab *plan(const char *name, const char *sites, const char *subnet)
{
        char tmpl[] = "/tmp/sftest-lab.XXXXXX";
        sf_err e = SF_ERR_INIT;
        sf_lab *lab = NULL;
        char *dir;
        assert_non_null(mkdtemp(tmpl));
        dir = xasprintf("%s/lab", tmpl);
        if (sf_lab_plan(&(sf_lab_config) { .name = name, .dir = dir, .sites = sites, .subnet = subnet,
                                           .sfd = "/usr/sbin/sfd", .lease_s = 7, .runtime = "crun" },
                        &lab, &e) < 0)
                fail_msg("plan: %s", sf_err_msg(&e));
        free(dir);
        rmdir(tmpl);
        return lab;
}

static void test_plan_default(void **state)
{
        sf_lab *lab;
        if (access(SF_LAB_RUN_ROOT "/" SF_LAB_DEFAULT_NAME, F_OK) == 0)
                skip(); /* the default lab is up on this machine: its names are taken */
        lab = plan(NULL, "core:2,edge:1", "10.254.200.0/24");
        char b[SF_ADDR_STRLEN];
        assert_string_equal(lab->name, "default");
        assert_string_equal(lab->bridge, "sflab-ul");
        assert_string_equal(lab->phase, "starting");
        assert_string_equal(lab->run_root, SF_LAB_RUN_ROOT "/default");
        assert_string_equal(lab->controller_url, "http://10.254.200.1:7480");
        assert_string_equal(sf_addr_fmt(&lab->bridge_ip, b), "10.254.200.1");
        assert_int_equal(lab->n_hosts, 3);
        assert_string_equal(lab->hosts[0].name, "core-1");
        assert_string_equal(lab->hosts[1].name, "core-2");
        assert_string_equal(lab->hosts[2].name, "edge-1");
        assert_string_equal(lab->hosts[2].site, "edge");
        assert_string_equal(lab->hosts[0].netns, "sflab-core-1");
        assert_string_equal(lab->hosts[0].netns_path, "/run/netns/sflab-core-1");
        assert_string_equal(lab->hosts[2].veth, "sflab-ul-3");
        assert_string_equal(sf_addr_fmt(&lab->hosts[0].ip, b), "10.254.200.2");
        assert_string_equal(sf_addr_fmt(&lab->hosts[2].ip, b), "10.254.200.4");
        assert_string_equal(lab->hosts[1].run_dir, SF_LAB_RUN_ROOT "/default/core-2");
        assert_non_null(strstr(lab->hosts[1].state_dir, "/lab/hosts/core-2/state"));
        assert_non_null(strstr(lab->hosts[1].agent.log, "/lab/logs/core-2.log"));
        sf_lab_free(lab);
}

static void test_plan_named(void **state)
{
        sf_lab *lab = plan("t42", "paris:1:core,edge:2", "10.254.201.0/29");
        assert_string_equal(lab->bridge, "sflab-t42");
        assert_string_equal(lab->hosts[0].netns, "sflab-t42-paris-1");
        assert_string_equal(lab->hosts[2].veth, "sflab-t42-3");
        assert_string_equal(lab->hosts[2].run_dir, SF_LAB_RUN_ROOT "/t42/edge-2");
        sf_lab_free(lab);
}

static void test_plan_bad(void **state)
{
        static const struct {
                const char *name, *sites, *subnet, *field, *msg;
        } bad[] = {
                { "TOOLONG", "core:1", NULL, "name", "is not a lab name" },
                { NULL, "core:1", "10.254.0.0/30", "subnet", "from /16 to /29" },
                { NULL, "core:6", "10.254.0.0/29", "subnet", "room for 5 hosts, not 6" },
                { NULL, "core:1", "10.254.0.1/24", "subnet", "is not an IPv4 prefix" },
                { NULL, "core:1", "fd00::/64", "subnet", "is not an IPv4 prefix" },
                { NULL, "core:1", "127.0.0.0/24", "subnet", "is not in a private range" },
                { NULL, "core:1", "8.8.8.0/24", "subnet", "is not in a private range" },
                { NULL, "core:1", "10.0.0.0/7", "subnet", "is not in a private range" },
                { NULL, "edge", NULL, "sites", "SITE:HOSTS" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                sf_err e = SF_ERR_INIT;
                sf_lab *lab = NULL;
                int r = sf_lab_plan(&(sf_lab_config) { .name = bad[i].name, .dir = "/nonexistent/sftest-lab",
                                                       .sites = bad[i].sites, .subnet = bad[i].subnet,
                                                       .sfd = "/usr/sbin/sfd" },
                                    &lab, &e);
                if (r >= 0)
                        fail_msg("case %zu accepted", i);
                if (!e.field || !STREQ(e.field, bad[i].field) || !strstr(sf_err_msg(&e), bad[i].msg))
                        fail_msg("case %zu: %s: %s", i, e.field ? e.field : "-", sf_err_msg(&e));
                assert_null(lab);
                sf_err_clear(&e);
        }
}

static void test_json_roundtrip(void **state)
{
        sf_lab *lab = plan("rt", "core:1,edge:2", "10.254.202.0/24"), *back = NULL;
        json_t *j, *j2;
        lab->controller.pid = 1234;
        lab->controller.starttime = 99887766;
        lab->hosts[1].agent.pid = 4321;
        lab->hosts[1].agent.starttime = 5;
        j = sf_lab_to_json(lab);
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
        assert_string_equal(json_string_value(json_object_get(j, "subnet")), "10.254.202.0/24");
        assert_int_equal(json_integer_value(json_object_get(j, "lease")), 7);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "hosts"), 2), "agent_url")),
                            "http://10.254.202.4:7481");
        assert_int_equal(sf_lab_from_json(j, &back, NULL), 0);
        j2 = sf_lab_to_json(back);
        assert_true(json_equal(j, j2));
        assert_int_equal(back->hosts[1].agent.pid, 4321);
        assert_int_equal(back->controller.starttime, 99887766);
        assert_string_equal(back->runtime, "crun");
        json_decref(j2);

        /* A state file that names things outside the lab is refused: down would remove them. */
        {
                static const struct {
                        const char *key, *value;
                } evil[] = {
                        { "netns_path", "/run/netns/other" },
                        { "veth", "eth0" },
                        { "run_dir", "/var/lib" },
                        { "run_dir", SF_LAB_RUN_ROOT "/rt/../../../etc" },
                };
                for (size_t i = 0; i < ELEMENTSOF(evil); i++) {
                        json_t *c = json_deep_copy(j);
                        sf_lab *x = NULL;
                        json_object_set_new(json_array_get(json_object_get(c, "hosts"), 0), evil[i].key,
                                            json_string(evil[i].value));
                        if (sf_lab_from_json(c, &x, NULL) != -EINVAL)
                                fail_msg("%s=%s accepted", evil[i].key, evil[i].value);
                        json_decref(c);
                }
                json_t *c = json_deep_copy(j);
                sf_lab *x = NULL;
                json_object_set_new(json_object_get(c, "bridge"), "name", json_string("eth0"));
                assert_int_equal(sf_lab_from_json(c, &x, NULL), -EINVAL);
                json_decref(c);
                c = json_deep_copy(j);
                json_object_set_new(c, "version", json_integer(2));
                assert_int_equal(sf_lab_from_json(c, &x, NULL), -EINVAL);
                json_decref(c);
        }
        json_decref(j);
        sf_lab_free(back);
        sf_lab_free(lab);
}

static void test_log_tail(void **state)
{
        char path[] = "/tmp/sftest-lab-log.XXXXXX";
        int fd = mkstemp(path);
        char *t;
        static const char text[] = "one\ntwo\nthree\nfour\n\n";
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t) sizeof(text) - 1);
        close(fd);
        t = lab_log_tail(path, 2);
        assert_string_equal(t, "\n    three\n    four");
        free(t);
        t = lab_log_tail(path, 10);
        assert_string_equal(t, "\n    one\n    two\n    three\n    four");
        free(t);
        unlink(path);
        t = lab_log_tail(path, 2);
        assert_string_equal(t, "");
        free(t);
        t = lab_log_tail(NULL, 2);
        assert_string_equal(t, "");
        free(t);
}

static void test_proc(void **state)
{
        sf_lab_proc none = { 0 }, self = { .pid = getpid() }, wrong;
        uint64_t st;
        assert_false(sf_lab_proc_alive(&none));
        assert_int_equal(sf_proc_starttime(getpid(), &st, NULL), 0);
        self.starttime = st;
        assert_true(sf_lab_proc_alive(&self));
        wrong = self;
        wrong.starttime = st + 1; /* a recycled pid */
        assert_false(sf_lab_proc_alive(&wrong));
        assert_int_equal(sf_lab_proc_stop(&wrong, 10, NULL), 0); /* not signalled: we are still here */
        assert_int_equal(sf_lab_proc_stop(&none, 10, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),         cmocka_unit_test(test_sites),
                cmocka_unit_test(test_plan_default),  cmocka_unit_test(test_plan_named),
                cmocka_unit_test(test_plan_bad),      cmocka_unit_test(test_json_roundtrip),
                cmocka_unit_test(test_log_tail),      cmocka_unit_test(test_proc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
