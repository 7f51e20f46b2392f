/* Unit tests: VIM routers (subnet joins) and containers (spec validation, CPU/memory parsing,
 * placement by the scheduler and its reasons, the ports created for a container, two-phase
 * delete), driven through the kinds inside transactions. */
#include "vim-fixture.h"

static void test_router(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_decref(create_ok("network", "{'name': 'n'}"));
        json_decref(create_ok("network", "{'name': 'm'}"));
        json_auto_t *a = create_ok("subnet", "{'name': 'a', 'network': 'n', 'cidr': '10.0.0.0/24'}");
        json_decref(create_ok("subnet", "{'name': 'b', 'network': 'm', 'cidr': '10.1.0.0/24'}"));
        json_decref(create_ok("subnet", "{'name': 'c', 'network': 'm', 'cidr': '10.0.0.0/25'}"));
        json_auto_t *d _unused_ = create_ok("subnet", "{'name': 'd', 'network': 'm', 'cidr': '10.2.0.0/24', "
                                             "'gateway_ip': null}");
        json_auto_t *r = create_ok("router", "{'name': 'r', 'subnets': ['a', 'b']}");
        json_t *ids = json_object_get(r, "subnet_ids");
        assert_int_equal(json_array_size(ids), 2);
        assert_string_equal(json_string_value(json_array_get(ids, 0)), str(a, "id"));
        json_auto_t *empty = create_ok("router", "{}");
        assert_int_equal(json_array_size(json_object_get(empty, "subnet_ids")), 0);

        create_fails("router", "{'subnets': ['a', 'a']}", -EINVAL, "subnets[1]", "listed twice");
        create_fails("router", "{'subnets': ['a', 'c']}", -EINVAL, "subnets[1]", "overlaps");
        create_fails("router", "{'subnets': ['d']}", -EINVAL, "subnets[0]", "no gateway");
        create_fails("router", "{'subnets': ['nope']}", -EINVAL, "subnets[0]", "does not exist");
        create_fails("router", "{'subnets': [1]}", -EINVAL, "subnets[0]", NULL);
        create_fails("router", "{'subnets': 'a'}", -EINVAL, "subnets", NULL);
        create_fails("router", "{'routes': []}", -EINVAL, "routes", "unknown field");

        json_auto_t *u = update_ok("router", "r", "{'subnets': ['c'], 'description': 'x'}");
        assert_int_equal(json_array_size(json_object_get(u, "subnet_ids")), 1);
        assert_int_equal(update("router", "r", "{'subnets': ['c', 'a']}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "subnets[1]", "overlaps");
        remove_ok("router", "r");
}

/* A Ready node with capacity. */
static json_t *node(const char *name, int cpu_millis, const char *extra)
{
        _cleanup_free_ char *j = xasprintf("{'name': '%s', 'status': {'state': 'Ready'}, "
                                           "'capacity': {'cpu_millis': %d, 'memory_bytes': 1073741824}%s%s}",
                                           name, cpu_millis, extra ? ", " : "", extra ?: "");
        return create_ok("node", j);
}

static void test_container_validation(void **state)
{
        static const struct {
                const char *json, *field, *msg;
        } bad[] = {
                { "{}", "image", "is required" },
                { "{'image': ''}", "image", "1 to 255" },
                { "{'image': 'x', 'kind': 'pod'}", "kind", "container or vm" },
                { "{'image': 'x', 'command': []}", "command", "must not be empty" },
                { "{'image': 'x', 'command': ['a', 1]}", "command[1]", NULL },
                { "{'image': 'x', 'env': {'A=B': 'x'}}", "env.A=B", "not a valid variable name" },
                { "{'image': 'x', 'env': {'A': 1}}", "env.A", NULL },
                { "{'image': 'x', 'workdir': 'rel'}", "workdir", "absolute" },
                { "{'image': 'x', 'hostname': '-h'}", "hostname", NULL },
                { "{'image': 'x', 'restart_policy': 'sometimes'}", "restart_policy", NULL },
                { "{'image': 'x', 'runtime': 'kata'}", "runtime", "runc or crun" },
                { "{'image': 'x', 'cpu': 0}", "cpu", NULL },
                { "{'image': 'x', 'cpu': 64001}", "cpu", NULL },
                { "{'image': 'x', 'cpu': 1.5}", "cpu", NULL },
                { "{'image': 'x', 'cpu': 'lots'}", "cpu", "not a CPU amount" },
                { "{'image': 'x', 'cpu': '2x'}", "cpu", "not a CPU amount" },
                { "{'image': 'x', 'cpu': '0.0001'}", "cpu", "between 1m and 64 cores" },
                { "{'image': 'x', 'cpu': '65'}", "cpu", "between 1m and 64 cores" },
                { "{'image': 'x', 'cpu': 'inf'}", "cpu", "between 1m and 64 cores" },
                /* NaN compares false with everything: it used to pass the range check */
                { "{'image': 'x', 'cpu': 'nan'}", "cpu", "between 1m and 64 cores" },
                { "{'image': 'x', 'cpu': '-nanm'}", "cpu", "between 1m and 64 cores" },
                { "{'image': 'x', 'memory': '1Mi'}", "memory", "at least 4Mi" },
                { "{'image': 'x', 'memory': '5Ti'}", "memory", "at most 4Ti" },
                { "{'image': 'x', 'memory': -1}", "memory", NULL },
                { "{'image': 'x', 'memory': '64MB'}", "memory", NULL },
                { "{'image': 'x', 'vcpus': 65}", "vcpus", NULL },
                { "{'image': 'x', 'files': [{'path': 'etc/x', 'content': ''}]}", "files[0].path", NULL },
                { "{'image': 'x', 'files': [{'path': '/a/../b', 'content': ''}]}", "files[0].path", NULL },
                { "{'image': 'x', 'files': [{'path': '/a'}]}", "files[0].content", "is required" },
                { "{'image': 'x', 'files': [{'path': '/a', 'content': '', 'mode': 65536}]}",
                  "files[0].mode", NULL },
                { "{'image': 'x', 'networks': [{'ip': '10.0.0.1'}]}", "networks[0].network", "is required" },
                { "{'image': 'x', 'networks': [1]}", "networks[0]", NULL },
                { "{'image': 'x', 'networks': ['nope']}", "networks[0].network", "does not exist" },
                { "{'image': 'x', 'ports': ['nope']}", "ports[0]", "does not exist" },
                { "{'image': 'x', 'node': 'nope'}", "node", "does not exist" },
                { "{'image': 'x', 'anti_affinity': 'a b'}", "anti_affinity", NULL },
                { "{'image': 'x', 'node_selector': []}", "node_selector", NULL },
                { "{'image': 'x', 'privileged': true}", "privileged", "unknown field" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                create_fails("container", bad[i].json, -EINVAL, bad[i].field, bad[i].msg);
}

static void test_container_cpu_memory(void **state)
{
        static const struct {
                const char *cpu;
                int64_t millis;
        } t[] = {
                { "500", 500 }, { "'500m'", 500 }, { "'0.5'", 500 }, { "'2'", 2000 },
                { "'1m'", 1 },  { "'64'", 64000 }, { "64000", 64000 }, { "'0.0015'", 2 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *j = xasprintf("{'image': 'x', 'cpu': %s}", t[i].cpu);
                json_auto_t *c = create_ok("container", j);
                if (num(c, "cpu") != t[i].millis)
                        fail_msg("cpu %s: %lld millicores, expected %lld", t[i].cpu,
                                 (long long) num(c, "cpu"), (long long) t[i].millis);
        }
        json_auto_t *m = create_ok("container", "{'image': 'x', 'memory': '64Mi'}");
        assert_int_equal(num(m, "memory"), 64 << 20);
        json_auto_t *m2 = create_ok("container", "{'image': 'x', 'memory': 4194304}");
        assert_int_equal(num(m2, "memory"), 4 << 20);
        /* defaults; a VM gets 256 MiB, and vcpus raise the CPU */
        json_auto_t *d = create_ok("container", "{'image': 'x'}");
        assert_int_equal(num(d, "cpu"), 0); /* best effort: no request, no limit */
        assert_int_equal(num(d, "memory"), 0);
        assert_int_equal(json_array_size(json_object_get(d, "networks")), 0);
        assert_int_equal(json_array_size(json_object_get(d, "command")), 0);
        assert_string_equal(str(d, "restart_policy"), "never");
        assert_string_equal(str(d, "desired_state"), "running");
        json_auto_t *vm = create_ok("container", "{'image': 'x', 'kind': 'vm', 'vcpus': 2}");
        assert_int_equal(num(vm, "memory"), 256 << 20);
        assert_int_equal(num(vm, "cpu"), 2000);
}

static void test_container_scheduling(void **state)
{
        /* no node at all: Pending with the reason */
        json_auto_t *p = create_ok("container", "{'name': 'p', 'image': 'x'}");
        assert_true(json_is_null(json_object_get(p, "node_id")));
        assert_string_equal(str(json_object_get(p, "status"), "phase"), "Pending");
        assert_string_equal(str(json_object_get(p, "status"), "message"), "no node is registered");

        json_auto_t *n1 = node("n1", 1000, "'labels': {'role': 'edge'}");
        json_decref(node("n2", 4000, NULL));
        json_decref(create_ok("node", "{'name': 'down', 'status': {'state': 'NotReady'}}"));
        /* the least loaded fitting node */
        json_auto_t *a = create_ok("container", "{'name': 'a', 'image': 'x', 'cpu': 800}");
        assert_non_null(str(a, "node_id"));
        json_auto_t *b = create_ok("container", "{'name': 'b', 'image': 'x', 'cpu': 800}");
        assert_string_not_equal(str(a, "node_id"), str(b, "node_id"));
        /* selector */
        json_auto_t *s = create_ok("container", "{'name': 's', 'image': 'x', 'cpu': 100, "
                                                "'node_selector': {'role': 'edge'}}");
        assert_string_equal(str(s, "node_id"), str(n1, "id"));
        /* nothing fits: the reason counts the misfits */
        json_auto_t *big = create_ok("container", "{'name': 'big', 'image': 'x', 'cpu': 5000}");
        assert_true(json_is_null(json_object_get(big, "node_id")));
        const char *msg = str(json_object_get(big, "status"), "message");
        if (!strstr(msg, "0/3 nodes fit") || !strstr(msg, "1 not Ready") ||
            !strstr(msg, "2 without 5000m CPU free"))
                fail_msg("reason: %s", msg);
        /* an explicit node that does not fit is an error, not Pending */
        create_fails("container", "{'image': 'x', 'cpu': 2000, 'node': 'n1'}", -ENOSPC, "node",
                     "node 'n1' does not fit");
        create_fails("container", "{'image': 'x', 'node': 'down'}", -ENOSPC, "node", "not Ready");
        /* anti-affinity: two members never share a node */
        json_auto_t *g1 = create_ok("container", "{'image': 'x', 'anti_affinity': 'grp'}");
        json_auto_t *g2 = create_ok("container", "{'image': 'x', 'anti_affinity': 'grp'}");
        json_auto_t *g3 = create_ok("container", "{'image': 'x', 'anti_affinity': 'grp'}");
        assert_non_null(str(g1, "node_id"));
        assert_non_null(str(g2, "node_id"));
        assert_string_not_equal(str(g1, "node_id"), str(g2, "node_id"));
        assert_true(json_is_null(json_object_get(g3, "node_id")));
        assert_non_null(strstr(str(json_object_get(g3, "status"), "message"), "anti-affinity group 'grp'"));
}

/* The load the scheduler sums per node (memory and the workload count; CPU and
 * anti-affinity above), excluding the workload being placed. */
static void test_container_scheduling_memory_count(void **state)
{
        json_auto_t *n = node("n", 64000, "'labels': {'x': 'y'}");
        json_auto_t *a = create_ok("container", "{'name': 'a', 'image': 'x', 'memory': 600000000}");
        assert_string_equal(str(a, "node_id"), str(n, "id"));
        json_auto_t *b = create_ok("container", "{'name': 'b', 'image': 'x', 'memory': 600000000}");
        assert_true(json_is_null(json_object_get(b, "node_id")));
        const char *msg = str(json_object_get(b, "status"), "message");
        if (!strstr(msg, "0/1 nodes fit") || !strstr(msg, "1 without 572 MiB free"))
                fail_msg("reason: %s", msg);
        json_auto_t *c = create_ok("container", "{'name': 'c', 'image': 'x', 'memory': 400000000}");
        assert_string_equal(str(c, "node_id"), str(n, "id"));

        json_auto_t *m = create_ok("node", "{'name': 'm', 'status': {'state': 'Ready'}, 'labels': {'max': 'two'}, "
                                           "'capacity': {'cpu_millis': 64000, 'memory_bytes': 1073741824, "
                                           "'max_workloads': 2}}");
        for (int i = 0; i < 2; i++) {
                json_auto_t *w = create_ok("container", "{'image': 'x', 'node_selector': {'max': 'two'}}");
                assert_string_equal(str(w, "node_id"), str(m, "id"));
        }
        json_auto_t *full = create_ok("container", "{'image': 'x', 'node_selector': {'max': 'two'}}");
        assert_true(json_is_null(json_object_get(full, "node_id")));
}

static void test_container_ports_and_delete(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n1 = node("n1", 4000, NULL);
        json_decref(create_ok("network", "{'name': 'net'}"));
        json_decref(create_ok("subnet", "{'name': 'sub', 'network': 'net', 'cidr': '10.0.0.0/24'}"));
        json_decref(port_ok("{'name': 'given', 'network': 'net'}"));
        json_auto_t *c = create_ok("container", "{'name': 'c', 'image': 'x', 'networks': ['net', "
                                                "{'network': 'net', 'ip': '10.0.0.50', 'mac': '02:00:00:00:00:50'}], "
                                                "'ports': ['given']}");
        json_t *ids = json_object_get(c, "port_ids");
        assert_int_equal(json_array_size(ids), 3);
        assert_int_equal(num(c, "owned_ports"), 2);
        assert_string_equal(str(c, "node_id"), str(n1, "id"));
        json_auto_t *p0 = get("port", json_string_value(json_array_get(ids, 0)));
        json_auto_t *p1 = get("port", json_string_value(json_array_get(ids, 1)));
        json_auto_t *p2 = get("port", "given");
        assert_string_equal(str(p0, "device_owner"), "compute:container");
        assert_string_equal(str(p0, "device_id"), str(c, "id"));
        assert_string_equal(str(p0, "node_id"), str(n1, "id"));
        assert_string_equal(ip_of(p1, 0), "10.0.0.50");
        assert_string_equal(str(p1, "mac_address"), "02:00:00:00:00:50");
        assert_string_equal(str(p2, "device_id"), str(c, "id"));
        assert_string_equal(str(p2, "node_id"), str(n1, "id"));
        /* a port in use elsewhere cannot be given again, nor deleted without force */
        create_fails("container", "{'image': 'x', 'ports': ['given']}", -EBUSY, "ports[0]", "already used");
        assert_int_equal(remove_obj("port", "given", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "used by container");
        /* a bad request address fails the whole create, with the entry named */
        create_fails("container", "{'image': 'x', 'networks': [{'network': 'net', 'ip': '10.0.0.50'}]}",
                     -EEXIST, "networks[0].fixed_ips[0].ip_address", NULL);

        /* update: desired state bumps the generation; status is merged */
        json_auto_t *u = update_ok("container", "c", "{'desired_state': 'stopped', "
                                                     "'status': {'phase': 'Stopped', 'pid': 0}}");
        assert_int_equal(num(u, "generation"), num(c, "generation") + 1);
        assert_string_equal(str(json_object_get(u, "status"), "phase"), "Stopped");
        json_auto_t *u2 = update_ok("container", "c", "{'desired_state': 'stopped'}");
        assert_int_equal(num(u2, "generation"), num(u, "generation")); /* no change */
        assert_int_equal(update("container", "c", "{'status': {'phase': 'Dancing'}}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "status.phase", NULL);
        assert_int_equal(update("container", "c", "{'status': {'colour': 1}}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "status.colour", NULL);
        assert_int_equal(update("container", "c", "{'image': 'y'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "image", "cannot be changed");

        /* placed: the delete is accepted (1) and marks the container */
        assert_int_equal(remove_obj("container", "c", &e), 1);
        json_auto_t *t = get("container", "c");
        assert_true(json_is_true(json_object_get(t, "deleting")));
        assert_string_equal(str(json_object_get(t, "status"), "phase"), "Terminating");
        assert_int_equal(remove_obj("container", "c", &e), 1);
        assert_int_equal(update("container", "c", "{'desired_state': 'running'}", NULL, &e), -EBUSY);
        /* force purges: owned ports deleted, the given one released */
        assert_int_equal(remove_opts("container", "c", "{'force': true}", &e), 0);
        json_t *gone;
        assert_null(gone = get("container", "c"));
        assert_null(gone = get("port", str(p0, "id")));
        assert_null(gone = get("port", str(p1, "id")));
        json_auto_t *rel = get("port", "given");
        assert_string_equal(str(rel, "device_id"), "");
        assert_string_equal(str(rel, "status"), "DOWN");
        remove_ok("port", "given");
        /* the addresses are free again */
        json_auto_t *again _unused_ = port_ok("{'network': 'net', 'fixed_ips': [{'ip_address': '10.0.0.50'}], "
                                     "'mac_address': '02:00:00:00:00:50'}");

        /* not placed: deleted at once */
        json_auto_t *pend = create_ok("container", "{'name': 'pend', 'image': 'x', 'cpu': 64000}");
        assert_true(json_is_null(json_object_get(pend, "node_id")));
        assert_int_equal(remove_obj("container", "pend", &e), 0);
        assert_null(gone = get("container", "pend"));
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
#define T(x) cmocka_unit_test_setup_teardown(x, fx_setup, fx_teardown)
        const struct CMUnitTest tests[] = {
                T(test_router),               T(test_container_validation),
                T(test_container_cpu_memory), T(test_container_scheduling), T(test_container_scheduling_memory_count),
                T(test_container_ports_and_delete),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
