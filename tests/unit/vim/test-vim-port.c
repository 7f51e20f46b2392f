/* Unit tests: VIM ports and the allocators behind them: IPAM (sequential allocation, reserved
 * addresses, requested addresses, release and reuse, exhaustion, /30), MAC addresses, port
 * updates of fixed_ips, and the refusals of network, subnet, node and site deletes. */
#include "vim-fixture.h"

/* A network 'n' with one subnet 's' of cidr (and more JSON members in extra). */
static void net(const char *cidr, const char *extra)
{
        json_decref(create_ok("network", "{'name': 'n'}"));
        _cleanup_free_ char *j = xasprintf("{'name': 's', 'network': 'n', 'cidr': '%s'%s%s}", cidr,
                                           extra ? ", " : "", extra ? extra : "");
        json_decref(create_ok("subnet", j));
}

static void port_fails(const char *json, int code, const char *field, const char *msg)
{
        create_fails("port", json, code, field, msg);
}

static void test_port_defaults(void **state)
{
        net("10.0.0.0/24", NULL);
        json_auto_t *n = get("network", "n"), *s = get("subnet", "s");
        json_auto_t *p = port_ok("{'name': 'p', 'network': 'n'}");
        assert_string_equal(str(p, "network_id"), str(n, "id"));
        assert_string_equal(str(p, "status"), "DOWN");
        assert_true(json_is_true(json_object_get(p, "admin_state_up")));
        assert_true(json_is_null(json_object_get(p, "node_id")));
        assert_string_equal(str(p, "device_owner"), "");
        assert_string_equal(str(p, "device_id"), "");
        assert_int_equal(num(p, "mtu"), 1450);
        assert_int_equal(json_array_size(json_object_get(p, "fixed_ips")), 1);
        assert_string_equal(str(json_array_get(json_object_get(p, "fixed_ips"), 0), "subnet_id"),
                            str(s, "id"));
        assert_string_equal(ip_of(p, 0), "10.0.0.2");
        assert_int_equal(json_array_size(json_object_get(p, "allowed_address_pairs")), 0);

        json_auto_t *q = port_ok("{'network': 'n', 'device_owner': 'compute:vnf', 'device_id': 'vm1', "
                                 "'admin_state_up': false, 'allowed_address_pairs': ["
                                 "{'ip_address': '10.0.0.100'}, "
                                 "{'ip_address': '10.9.0.0/16', 'mac_address': '02:00:00:00:00:09'}]}");
        assert_string_equal(str(q, "device_owner"), "compute:vnf");
        assert_false(json_is_true(json_object_get(q, "admin_state_up")));
        assert_int_equal(json_array_size(json_object_get(q, "allowed_address_pairs")), 2);
        assert_string_equal(ip_of(q, 0), "10.0.0.3");

        /* a network without subnets gives ports without addresses */
        json_decref(create_ok("network", "{'name': 'bare'}"));
        json_auto_t *r = port_ok("{'network': 'bare'}");
        assert_int_equal(json_array_size(json_object_get(r, "fixed_ips")), 0);

        /* dual stack: one address of each family */
        json_decref(create_ok("subnet", "{'network': 'n', 'cidr': 'fd00::/64'}"));
        json_auto_t *d = port_ok("{'network': 'n'}");
        assert_int_equal(json_array_size(json_object_get(d, "fixed_ips")), 2);
        assert_string_equal(ip_of(d, 0), "10.0.0.4");
        assert_string_equal(ip_of(d, 1), "fd00::2");
}

static void test_port_invalid(void **state)
{
        net("10.0.0.0/24", NULL);
        port_fails("{}", -EINVAL, "network", "is required");
        port_fails("{'network': 'nope'}", -EINVAL, "network", "does not exist");
        port_fails("{'network': 'n', 'mac_address': '01:00:5e:00:00:01'}", -EINVAL, "mac_address",
                   "unicast");
        port_fails("{'network': 'n', 'mac_address': '00:00:00:00:00:00'}", -EINVAL, "mac_address", NULL);
        port_fails("{'network': 'n', 'mac_address': 'zz'}", -EINVAL, "mac_address", NULL);
        port_fails("{'network': 'n', 'fixed_ips': {}}", -EINVAL, "fixed_ips", "must be an array");
        port_fails("{'network': 'n', 'fixed_ips': [{}]}", -EINVAL, "fixed_ips[0]",
                   "needs a subnet, an ip_address or both");
        port_fails("{'network': 'n', 'fixed_ips': [5]}", -EINVAL, "fixed_ips[0]", "must be an object");
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': 'x'}]}", -EINVAL,
                   "fixed_ips[0].ip_address", "not an IP address");
        port_fails("{'network': 'n', 'fixed_ips': [{'subnet': 'nope'}]}", -EINVAL,
                   "fixed_ips[0].subnet", "does not exist");
        port_fails("{'network': 'n', 'fixed_ips': [{'subnet': 's', 'port': 1}]}", -EINVAL,
                   "fixed_ips[0].port", "unknown field");
        port_fails("{'network': 'n', 'allowed_address_pairs': [{'ip_address': 'x'}]}", -EINVAL,
                   "allowed_address_pairs[0].ip_address", "not an IP address or CIDR");
        port_fails("{'network': 'n', 'allowed_address_pairs': [{'ip_address': '10.0.0.1/24'}]}",
                   -EINVAL, "allowed_address_pairs[0].ip_address", NULL);
        port_fails("{'network': 'n', 'allowed_address_pairs': [{'mac_address': '02:00:00:00:00:01'}]}",
                   -EINVAL, "allowed_address_pairs[0].ip_address", "is required");
        port_fails("{'network': 'n', 'allowed_address_pairs': [{'ip_address': '10.0.0.9', "
                   "'mac_address': 'ff:ff:ff:ff:ff:ff'}]}",
                   -EINVAL, "allowed_address_pairs[0].mac_address", NULL);
        port_fails("{'network': 'n', 'node': 'nope'}", -EINVAL, "node", "does not exist");
        port_fails("{'network': 'n', 'node': 1}", -EINVAL, "node", NULL);
        port_fails("{'network': 'n', 'admin_state_up': 'yes'}", -EINVAL, "admin_state_up", NULL);
        port_fails("{'network': 'n', 'status': 'ACTIVE'}", -EINVAL, "status", "unknown field");
        {
                _cleanup_free_ char *j = xasprintf("{'network': 'n', 'device_id': '%0256d'}", 0);
                port_fails(j, -EINVAL, "device_id", "at most 255");
        }
        {
                _cleanup_free_ char *j = xstrdup("{'network': 'n', 'fixed_ips': [");
                for (int i = 0; i < 17; i++) {
                        char *k = xasprintf("%s%s{'subnet': 's'}", j, i ? ", " : "");
                        free(j);
                        j = k;
                }
                char *k = xasprintf("%s]}", j);
                free(j);
                j = k;
                port_fails(j, -EINVAL, "fixed_ips", "at most 16");
        }
        /* nothing was allocated by the failures */
        json_auto_t *p = port_ok("{'network': 'n'}");
        assert_string_equal(ip_of(p, 0), "10.0.0.2");
}

static void test_ipam_sequential(void **state)
{
        /* gateway in the middle: pools .1-.4 and .6-.254 */
        net("10.0.0.0/24", "'gateway_ip': '10.0.0.5'");
        /* a requested address in the way is skipped by the allocator */
        json_auto_t *fixed = port_ok("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.3'}]}");
        assert_string_equal(ip_of(fixed, 0), "10.0.0.3");
        static const char *const want[] = { "10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.6",
                                            "10.0.0.7" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                json_auto_t *p = port_ok("{'network': 'n'}");
                assert_string_equal(ip_of(p, 0), want[i]);
        }
        /* subnet chosen, address allocated */
        json_auto_t *q = port_ok("{'network': 'n', 'fixed_ips': [{'subnet': 's'}, {'subnet': 's'}]}");
        assert_string_equal(ip_of(q, 0), "10.0.0.8");
        assert_string_equal(ip_of(q, 1), "10.0.0.9");

        /* usage counts addresses inside the pools only */
        json_auto_t *s = get("subnet", "s");
        struct sf_kind *k = kind("subnet");
        _cleanup_rd_ sf_rd rd = { 0 };
        sf_rd_get(fx->store, &rd);
        k->decorate(k->ctx, &rd, s);
        assert_int_equal(num(s, "pool_size"), 253);
        assert_int_equal(num(s, "pool_used"), 8);
}

static void test_ipam_requested(void **state)
{
        net("10.0.0.0/24", NULL);
        json_decref(create_ok("network", "{'name': 'm'}"));
        json_decref(create_ok("subnet", "{'name': 'o', 'network': 'm', 'cidr': '10.0.1.0/24'}"));
#define F(ip) "{'network': 'n', 'fixed_ips': [{'ip_address': '" ip "'}]}"
#define FS(ip) "{'network': 'n', 'fixed_ips': [{'subnet': 's', 'ip_address': '" ip "'}]}"
        port_fails(F("10.0.0.0"), -EINVAL, "fixed_ips[0].ip_address", "network address");
        port_fails(F("10.0.0.255"), -EINVAL, "fixed_ips[0].ip_address", "broadcast address");
        port_fails(F("10.0.0.1"), -EINVAL, "fixed_ips[0].ip_address", "is the gateway of 10.0.0.0/24");
        port_fails(F("10.0.1.5"), -EINVAL, "fixed_ips[0].ip_address", "is in no subnet of network 'n'");
        port_fails(FS("10.0.1.5"), -EINVAL, "fixed_ips[0].ip_address", "is not in subnet 10.0.0.0/24");
        port_fails(F("fd00::5"), -EINVAL, "fixed_ips[0].ip_address", NULL);
        port_fails("{'network': 'n', 'fixed_ips': [{'subnet': 'o'}]}", -EINVAL, "fixed_ips[0].subnet",
                   "subnet 'o' is not on network 'n'");
        /* outside the pools but inside the subnet is fine (Neutron does the same) */
        json_auto_t *a = port_ok(F("10.0.0.200"));
        assert_string_equal(ip_of(a, 0), "10.0.0.200");
        port_fails(F("10.0.0.200"), -EEXIST, "fixed_ips[0].ip_address",
                   "10.0.0.200 is already allocated in subnet 's' (10.0.0.0/24)");
        port_fails(FS("10.0.0.200"), -EEXIST, "fixed_ips[0].ip_address", NULL);
        /* the same address twice in one request */
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.9'}, {'ip_address': '10.0.0.9'}]}",
                   -EEXIST, "fixed_ips[1].ip_address", NULL);
        /* ... and the failed request left nothing behind */
        json_decref(port_ok(F("10.0.0.9")));
#undef F
#undef FS
        /* IPv6: the subnet-router anycast address is refused, the last address is fine */
        json_decref(create_ok("subnet", "{'name': 's6', 'network': 'n', 'cidr': 'fd00::/64'}"));
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': 'fd00::'}]}", -EINVAL,
                   "fixed_ips[0].ip_address", "anycast");
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': 'fd00::1'}]}", -EINVAL,
                   "fixed_ips[0].ip_address", "gateway");
        json_decref(port_ok("{'network': 'n', 'fixed_ips': [{'ip_address': 'fd00::ffff:ffff:ffff:ffff'}]}"));
        json_auto_t *d = port_ok("{'network': 'n', 'fixed_ips': [{'ip_address': 'FD00::0:1:2'}]}");
        assert_string_equal(ip_of(d, 0), "fd00::1:2");
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': 'fd00::1:2'}]}", -EEXIST,
                   "fixed_ips[0].ip_address", NULL);
}

static void test_ipam_release_reuse(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        /* /29: .0 network, .1 gateway, .7 broadcast: pool .2-.6 */
        net("10.0.0.0/29", NULL);
        json_t *p[5];
        for (int i = 0; i < 5; i++) {
                char name[8], want[16];
                snprintf(name, sizeof(name), "p%d", i);
                snprintf(want, sizeof(want), "10.0.0.%d", i + 2);
                _cleanup_free_ char *j = xasprintf("{'name': '%s', 'network': 'n'}", name);
                p[i] = port_ok(j);
                assert_string_equal(ip_of(p[i], 0), want);
        }
        port_fails("{'network': 'n'}", -ENOSPC, NULL, "subnet 's' (10.0.0.0/29) is exhausted");
        port_fails("{'network': 'n', 'fixed_ips': [{'subnet': 's'}]}", -ENOSPC, "fixed_ips[0]",
                   "subnet 's'");
        /* a delete frees the address and the allocator finds it again */
        remove_ok("port", "p1");
        json_auto_t *again = port_ok("{'network': 'n'}");
        assert_string_equal(ip_of(again, 0), "10.0.0.3");
        /* a requested address is freed by delete too */
        remove_ok("port", "p3");
        json_decref(port_ok("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.5'}]}"));
        port_fails("{'network': 'n'}", -ENOSPC, NULL, NULL);
        for (int i = 0; i < 5; i++)
                json_decref(p[i]);
        assert_int_equal(remove_obj("port", "p1", &e), -ENOENT);
}

static void test_ipam_slash30(void **state)
{
        /* /30: network .0, gateway .1, one host .2, broadcast .3 */
        net("10.0.0.0/30", NULL);
        json_auto_t *s = get("subnet", "s");
        json_auto_t *w = J("[{'start': '10.0.0.2', 'end': '10.0.0.2'}]");
        assert_true(json_equal(json_object_get(s, "allocation_pools"), w));
        json_auto_t *p = port_ok("{'name': 'p', 'network': 'n'}");
        assert_string_equal(ip_of(p, 0), "10.0.0.2");
        port_fails("{'network': 'n'}", -ENOSPC, NULL, "subnet 's' (10.0.0.0/30) is exhausted");
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.3'}]}", -EINVAL,
                   "fixed_ips[0].ip_address", "broadcast");
        remove_ok("port", "p");
        json_auto_t *q = port_ok("{'network': 'n'}");
        assert_string_equal(ip_of(q, 0), "10.0.0.2");
        /* without a gateway a /30 has two hosts */
        json_decref(create_ok("network", "{'name': 'm'}"));
        json_decref(create_ok("subnet", "{'network': 'm', 'cidr': '10.0.1.0/30', 'gateway_ip': null}"));
        json_auto_t *a = port_ok("{'network': 'm'}"), *b = port_ok("{'network': 'm'}");
        assert_string_equal(ip_of(a, 0), "10.0.1.1");
        assert_string_equal(ip_of(b, 0), "10.0.1.2");
        port_fails("{'network': 'm'}", -ENOSPC, NULL, NULL);
}

static void test_ipam_spill_to_next_subnet(void **state)
{
        /* the first subnet of the family with room is used */
        net("10.0.0.0/30", NULL);
        json_decref(create_ok("subnet", "{'name': 's2', 'network': 'n', 'cidr': '10.0.1.0/30'}"));
        json_auto_t *a = port_ok("{'network': 'n'}"), *b = port_ok("{'network': 'n'}");
        assert_string_equal(ip_of(a, 0), "10.0.0.2");
        assert_string_equal(ip_of(b, 0), "10.0.1.2");
        port_fails("{'network': 'n'}", -ENOSPC, NULL, "exhausted");
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void check_unique(char **v, size_t n, const char *what)
{
        qsort(v, n, sizeof(char *), cmp_str);
        for (size_t i = 1; i < n; i++)
                if (STREQ(v[i - 1], v[i]))
                        fail_msg("%s '%s' given twice", what, v[i]);
}

static void test_ipam_many_unique(void **state)
{
        enum { N = 600 };
        char *ips[N], *macs[N];
        net("10.0.0.0/22", NULL);
        sf_tx *tx = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        struct sf_kind *k = kind("port");
        /* in a few big transactions, as a bulk create would */
        for (int i = 0; i < N; i++) {
                json_auto_t *in = J("{'network': 'n'}");
                json_auto_t *p = NULL;
                if (i % 100 == 0)
                        assert_int_equal(sf_tx_begin(fx->store, &tx, &e), 0);
                if (k->create(k->ctx, tx, in, &p, &e) < 0)
                        fail_msg("port %d: %s", i, sf_err_msg(&e));
                ips[i] = xstrdup(ip_of(p, 0));
                macs[i] = xstrdup(str(p, "mac_address"));
                if (i % 100 == 99)
                        assert_int_equal(sf_tx_commit(tx, &e), 0);
        }
        assert_string_equal(ips[0], "10.0.0.2");
        assert_string_equal(ips[N - 1], "10.0.2.89"); /* 2 + 599 = 601 = 2*256 + 89 */
        check_unique(ips, N, "address");
        check_unique(macs, N, "MAC");
        for (int i = 0; i < N; i++)
                free(ips[i]), free(macs[i]);
}

static void test_mac(void **state)
{
        net("10.0.0.0/24", NULL);
        json_auto_t *p = port_ok("{'name': 'p', 'network': 'n'}");
        uint8_t m[6];
        assert_int_equal(sf_mac_parse(str(p, "mac_address"), m), 0);
        assert_int_equal(m[0], SF_MAC_PREFIX0);
        assert_int_equal(m[1], SF_MAC_PREFIX1);
        assert_int_equal(strncmp(str(p, "mac_address"), "02:5f:", 6), 0);

        json_auto_t *q = port_ok("{'name': 'q', 'network': 'n', 'mac_address': '02:AA:bb:cc:dd:ee'}");
        assert_string_equal(str(q, "mac_address"), "02:aa:bb:cc:dd:ee"); /* canonical */
        port_fails("{'network': 'n', 'mac_address': '02:aa:bb:cc:dd:ee'}", -EEXIST, "mac_address",
                   "02:aa:bb:cc:dd:ee is already in use");
        port_fails("{'network': 'n', 'mac_address': '02:AA:BB:CC:DD:EE'}", -EEXIST, "mac_address", NULL);
        /* an allocated MAC is taken too, across networks */
        json_decref(create_ok("network", "{'name': 'm'}"));
        _cleanup_free_ char *j = xasprintf("{'network': 'm', 'mac_address': '%s'}", str(p, "mac_address"));
        port_fails(j, -EEXIST, "mac_address", NULL);
        /* released on delete */
        remove_ok("port", "q");
        json_decref(port_ok("{'network': 'm', 'mac_address': '02:aa:bb:cc:dd:ee'}"));
}

static void test_port_update_fixed_ips(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        net("10.0.0.0/24", NULL);
        json_auto_t *p = port_ok("{'name': 'p', 'network': 'n', 'fixed_ips': ["
                                 "{'ip_address': '10.0.0.10'}, {'ip_address': '10.0.0.11'}]}");
        /* keep .10, change .11 to .12 */
        json_auto_t *u = update_ok("port", "p", "{'fixed_ips': [{'ip_address': '10.0.0.10'}, "
                                                "{'ip_address': '10.0.0.12'}]}");
        assert_int_equal(json_array_size(json_object_get(u, "fixed_ips")), 2);
        assert_string_equal(ip_of(u, 0), "10.0.0.10");
        assert_string_equal(ip_of(u, 1), "10.0.0.12");
        assert_string_equal(str(u, "mac_address"), str(p, "mac_address"));
        /* .11 is free now, .10 and .12 are not */
        json_decref(port_ok("{'name': 'q', 'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.11'}]}"));
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.12'}]}", -EEXIST,
                   "fixed_ips[0].ip_address", NULL);
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.10'}]}", -EEXIST,
                   "fixed_ips[0].ip_address", NULL);
        /* taking another port's address fails and keeps the port as it was */
        assert_int_equal(update("port", "p", "{'fixed_ips': [{'ip_address': '10.0.0.11'}]}", NULL, &e),
                         -EEXIST);
        check_err(&e, -EEXIST, "fixed_ips[0].ip_address", NULL);
        json_auto_t *g = get("port", "p");
        assert_string_equal(ip_of(g, 0), "10.0.0.10");
        assert_string_equal(ip_of(g, 1), "10.0.0.12");
        port_fails("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.12'}]}", -EEXIST,
                   "fixed_ips[0].ip_address", NULL);
        /* an allocated address in the new list */
        json_auto_t *u2 = update_ok("port", "p", "{'fixed_ips': [{'ip_address': '10.0.0.12'}, {'subnet': 's'}]}");
        assert_string_equal(ip_of(u2, 0), "10.0.0.12");
        assert_int_equal(json_array_size(json_object_get(u2, "fixed_ips")), 2);
        /* no addresses at all: [] and null */
        json_auto_t *u3 = update_ok("port", "p", "{'fixed_ips': []}");
        assert_int_equal(json_array_size(json_object_get(u3, "fixed_ips")), 0);
        json_decref(update_ok("port", "p", "{'fixed_ips': [{'ip_address': '10.0.0.12'}]}"));
        json_auto_t *u5 = update_ok("port", "p", "{'fixed_ips': null}");
        assert_int_equal(json_array_size(json_object_get(u5, "fixed_ips")), 0);
        json_decref(port_ok("{'network': 'n', 'fixed_ips': [{'ip_address': '10.0.0.12'}]}"));
}

static void test_port_update_other(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        net("10.0.0.0/24", NULL);
        json_auto_t *node = create_ok("node", "{'name': 'node1'}");
        json_auto_t *p = port_ok("{'name': 'p', 'network': 'n'}");
        json_auto_t *u = update_ok("port", "p", "{'status': 'ACTIVE', 'admin_state_up': false, "
                                                "'node': 'node1', 'device_owner': 'x', "
                                                "'allowed_address_pairs': [{'ip_address': '10.0.0.77'}]}");
        assert_string_equal(str(u, "status"), "ACTIVE");
        assert_false(json_is_true(json_object_get(u, "admin_state_up")));
        assert_string_equal(str(u, "node_id"), str(node, "id"));
        assert_string_equal(str(u, "device_owner"), "x");
        assert_string_equal(ip_of(u, 0), ip_of(p, 0)); /* untouched */
        json_auto_t *u2 = update_ok("port", "p", "{'node': null, 'device_owner': null}");
        assert_true(json_is_null(json_object_get(u2, "node_id")));
        assert_string_equal(str(u2, "device_owner"), "");

        assert_int_equal(update("port", "p", "{'status': 'UP'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "status", "DOWN, BUILD, ACTIVE or ERROR");
        assert_int_equal(update("port", "p", "{'network': 'm'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "network", "cannot be changed");
        assert_int_equal(update("port", "p", "{'mac_address': '02:00:00:00:00:01'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "mac_address", "cannot be changed");
        assert_int_equal(update("port", "p", "{'vlan': 3}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "vlan", "unknown field");
        assert_int_equal(update("port", "p", "{'admin_state_up': 1}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "admin_state_up", NULL);
        assert_int_equal(update("port", "p", "{'node': 'nope'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "node", "does not exist");
        assert_int_equal(update("port", "p", "{'fixed_ips': 'x'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "fixed_ips", NULL);
        assert_int_equal(update("port", "p", "{'allowed_address_pairs': [{}]}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "allowed_address_pairs[0].ip_address", NULL);
}

static void test_network_delete_refused(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        net("10.0.0.0/24", NULL);
        json_auto_t *a _unused_ = port_ok("{'name': 'pa', 'network': 'n'}"),
                    *b _unused_ = port_ok("{'name': 'pb', 'network': 'n'}");
        assert_int_equal(remove_obj("network", "n", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "network 'n' still has 2 port(s): 'pa', 'pb'");
        /* the subnet has addresses in use */
        assert_int_equal(remove_obj("subnet", "s", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "subnet 's' has 2 address(es) in use by ports");
        json_t *g;
        assert_non_null(g = get("subnet", "s"));
        json_decref(g);
        /* more than ten are summarised */
        for (int i = 0; i < 11; i++) {
                json_decref(port_ok("{'network': 'n'}"));
        }
        assert_int_equal(remove_obj("network", "n", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "still has 13 port(s)");
        check_err(&e, -EBUSY, NULL, "and 3 more");
        /* emptied: the delete goes through and takes the subnet along */
        json_auto_t *ports = NULL;
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                sf_rd_get(fx->store, &rd);
                assert_int_equal(sf_res_list(&rd, "port", NULL, &ports, &e), 0);
        }
        size_t i;
        json_t *p;
        json_array_foreach(ports, i, p)
                remove_ok("port", str(p, "id"));
        remove_ok("network", "n");
        assert_null(g = get("subnet", "s"));
        assert_null(g = get("network", "n"));
}

static void test_node_site(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *site = create_ok("site", "{'name': 'edge1', 'kind': 'edge'}");
        assert_string_equal(str(site, "kind"), "edge");
        json_auto_t *core = create_ok("site", "{'name': 'c'}");
        assert_string_equal(str(core, "kind"), "core");
        create_fails("site", "{'kind': 'cloud'}", -EINVAL, "kind", "not a site kind");

        json_auto_t *node = create_ok("node", "{'name': 'node1', 'site': 'edge1', 'underlay_ip': '192.0.2.1', "
                                              "'agent_url': 'http://192.0.2.1:7481', "
                                              "'capacity': {'cpu_millis': 4000, 'memory_bytes': 8589934592}, "
                                              "'features': ['vxlan'], "
                                              "'status': {'state': 'Ready', 'reason': 'ok'}}");
        assert_string_equal(str(node, "site_id"), str(site, "id"));
        assert_int_equal(num(json_object_get(node, "capacity"), "cpu_millis"), 4000);
        assert_int_equal(num(json_object_get(node, "capacity"), "max_workloads"), 0);
        assert_string_equal(str(json_object_get(node, "status"), "state"), "Ready");
        json_auto_t *bare = create_ok("node", "{'name': 'node2'}");
        assert_string_equal(str(json_object_get(bare, "status"), "state"), "Unknown");
        assert_true(json_is_null(json_object_get(bare, "site_id")));

        create_fails("node", "{'site': 'nope'}", -EINVAL, "site", "does not exist");
        create_fails("node", "{'underlay_ip': '1.2.3'}", -EINVAL, "underlay_ip", NULL);
        create_fails("node", "{'agent_url': 'ftp://x'}", -EINVAL, "agent_url", "http");
        create_fails("node", "{'capacity': {'cpu_millis': -1}}", -EINVAL, "capacity.cpu_millis", NULL);
        create_fails("node", "{'capacity': {'gpus': 1}}", -EINVAL, "capacity.gpus", "unknown field");
        create_fails("node", "{'capacity': 5}", -EINVAL, "capacity", NULL);
        create_fails("node", "{'features': [1]}", -EINVAL, "features", NULL);
        create_fails("node", "{'status': {'state': 'Up'}}", -EINVAL, "status.state", NULL);
        create_fails("node", "{'status': {'reason': 'x'}}", -EINVAL, "status.state", "is required");
        create_fails("node", "{'status': {'state': 'Ready', 'x': 1}}", -EINVAL, "status.x", NULL);

        json_auto_t *u = update_ok("node", "node2", "{'status': {'state': 'NotReady', 'reason': 'gone'}, "
                                                   "'site': 'c'}");
        assert_string_equal(str(json_object_get(u, "status"), "state"), "NotReady");
        assert_string_equal(str(u, "site_id"), str(core, "id"));
        assert_int_equal(update("node", "node2", "{'parent': 'x'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "parent", NULL);
        json_auto_t *us = update_ok("site", "c", "{'kind': 'aggregation'}");
        assert_string_equal(str(us, "kind"), "aggregation");

        /* refusals: a site with nodes, a node with bound ports */
        net("10.0.0.0/24", NULL);
        json_decref(port_ok("{'name': 'p', 'network': 'n', 'node': 'node1'}"));
        assert_int_equal(remove_obj("site", "edge1", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "site 'edge1' still has 1 node(s)");
        assert_int_equal(remove_obj("node", "node1", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "node 'node1' still has 1 bound port(s)");
        json_decref(update_ok("port", "p", "{'node': null}"));
        remove_ok("node", "node1");
        remove_ok("site", "edge1");
        remove_ok("node", "node2");
        remove_ok("site", "c");
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
#define T(x) cmocka_unit_test_setup_teardown(x, fx_setup, fx_teardown)
        const struct CMUnitTest tests[] = {
                T(test_port_defaults),        T(test_port_invalid),
                T(test_ipam_sequential),      T(test_ipam_requested),
                T(test_ipam_release_reuse),   T(test_ipam_slash30),
                T(test_ipam_spill_to_next_subnet), T(test_ipam_many_unique),
                T(test_mac),                  T(test_port_update_fixed_ips),
                T(test_port_update_other),    T(test_network_delete_refused),
                T(test_node_site),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
