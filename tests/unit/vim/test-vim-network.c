/* Unit tests: VIM networks (VNI allocation and reservation, MTU) and subnets (CIDR, prefix
 * length, gateway, allocation pools, DNS, host routes, overlap within a network, updates),
 * driven through the kinds' create/update/remove inside transactions. */
#include "vim-fixture.h"

static void test_kinds_table(void **state)
{
        static const char *const names[] = { "site", "node", "network", "subnet", "port",
                                             "router", "container", "pool", "trunk", "service", "move" };
        struct sf_kind *const *k = sf_vim_kinds(fx->vim);
        size_t n = 0;
        for (; k[n] && n < ELEMENTSOF(names); n++) {
                /* made by the controller, not through the API */
                bool derived = STREQ(k[n]->name, "pool") || STREQ(k[n]->name, "move");
                assert_string_equal(k[n]->name, names[n]);
                assert_non_null(k[n]->plural);
                assert_true(derived || k[n]->create);
                assert_true(STREQ(k[n]->name, "move") || k[n]->update);
                assert_true(derived || k[n]->remove);
                assert_ptr_equal(k[n]->ctx, fx->vim);
        }
        assert_int_equal(n, ELEMENTSOF(names));
}

static void test_network_defaults(void **state)
{
        json_auto_t *n = create_ok("network", "{'name': 'n1'}");
        assert_string_equal(str(n, "name"), "n1");
        assert_int_equal(num(n, "mtu"), 1450);
        assert_string_equal(str(n, "status"), "ACTIVE");
        assert_string_equal(str(n, "description"), "");
        assert_true(json_is_object(json_object_get(n, "labels")));
        assert_true(num(n, "vni") >= 1000 && num(n, "vni") <= SF_VNI_MAX);
        assert_true(sf_uuid_valid(str(n, "id")));
        json_auto_t *g = get("network", "n1");
        assert_true(json_equal(g, n));

        /* no name: "network-<8 hex of the id>" */
        json_auto_t *anon = create_ok("network", "{}");
        char want[32];
        snprintf(want, sizeof(want), "network-%.8s", str(anon, "id"));
        assert_string_equal(str(anon, "name"), want);

        json_auto_t *big = create_ok("network", "{'name': 'jumbo', 'mtu': 9000, "
                                                "'description': 'd', 'labels': {'env': 'lab'}}");
        assert_int_equal(num(big, "mtu"), 9000);
        assert_string_equal(str(big, "description"), "d");
        assert_string_equal(str(json_object_get(big, "labels"), "env"), "lab");
}

static void test_network_default_mtu_option(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_vim *v = NULL;
        /* a second VIM on the same store takes the kinds' ctx: restore it afterwards */
        assert_int_equal(sf_vim_new(fx->store, &(struct sf_vim_options) { .default_mtu = 1400 }, &v,
                                    &e), 0);
        json_auto_t *n = create_ok("network", "{'name': 'n1'}");
        assert_int_equal(num(n, "mtu"), 1400);
        sf_vim_free(v);
        sf_vim_free(fx->vim);
        assert_int_equal(sf_vim_new(fx->store, NULL, &fx->vim, &e), 0);
        json_auto_t *m = create_ok("network", "{'name': 'n2'}");
        assert_int_equal(num(m, "mtu"), 1450);
}

static void test_network_invalid(void **state)
{
        create_fails("network", "{'name': 'n', 'mtu': 67}", -EINVAL, "mtu", "between 68 and 9000");
        create_fails("network", "{'name': 'n', 'mtu': 9001}", -EINVAL, "mtu", NULL);
        create_fails("network", "{'name': 'n', 'mtu': '1500'}", -EINVAL, "mtu", "integer");
        create_fails("network", "{'name': 'n', 'vni': 0}", -EINVAL, "vni", NULL);
        create_fails("network", "{'name': 'n', 'vni': 16777216}", -EINVAL, "vni", NULL);
        create_fails("network", "{'name': 'n', 'colour': 'red'}", -EINVAL, "colour", "unknown field");
        create_fails("network", "{'name': '-n'}", -EINVAL, "name", "not a valid name");
        create_fails("network", "{'name': 5}", -EINVAL, "name", "must be a string");
        create_fails("network", "{'name': 'n', 'labels': {'bad key': 'x'}}", -EINVAL, "labels", NULL);
        create_fails("network", "{'name': 'n', 'labels': {'k': 1}}", -EINVAL, "labels", NULL);
        create_fails("network", "{'name': 'n', 'labels': []}", -EINVAL, "labels", NULL);
        create_fails("network", "{'name': 'n', 'description': 7}", -EINVAL, "description", NULL);
        json_decref(create_ok("network", "{'name': 'n'}"));
        create_fails("network", "{'name': 'n'}", -EEXIST, "name", "already exists");
}

static void test_vni(void **state)
{
        enum { N = 50 };
        int64_t vnis[N];
        for (int i = 0; i < N; i++) {
                char j[64];
                snprintf(j, sizeof(j), "{'name': 'n%d'}", i);
                json_auto_t *n = create_ok("network", j);
                vnis[i] = num(n, "vni");
                for (int k = 0; k < i; k++)
                        if (vnis[k] == vnis[i])
                                fail_msg("VNI %lld given twice", (long long) vnis[i]);
        }
        /* a requested VNI, then the same again */
        json_auto_t *a = create_ok("network", "{'name': 'a', 'vni': 42}");
        assert_int_equal(num(a, "vni"), 42);
        create_fails("network", "{'name': 'b', 'vni': 42}", -EEXIST, "vni", "VNI 42 is already in use");
        json_decref(create_ok("network", "{'name': 'mx', 'vni': 16777215}"));
        /* an allocated VNI cannot be requested */
        _cleanup_free_ char *j = xasprintf("{'name': 'c', 'vni': %lld}", (long long) vnis[0]);
        create_fails("network", j, -EEXIST, "vni", NULL);
        /* VNIs requested in the allocator's range are skipped by it */
        int64_t next = vnis[N - 1] + 1;
        _cleanup_free_ char *j2 = xasprintf("{'name': 'd', 'vni': %lld}", (long long) next);
        json_decref(create_ok("network", j2));
        json_auto_t *e2 = create_ok("network", "{'name': 'e'}");
        assert_int_not_equal(num(e2, "vni"), next);
        /* deleting a network frees its VNI */
        remove_ok("network", "a");
        json_auto_t *b = create_ok("network", "{'name': 'b', 'vni': 42}");
        assert_int_equal(num(b, "vni"), 42);
}

static void test_network_update(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n = create_ok("network", "{'name': 'n', 'labels': {'a': 'b'}}");
        json_auto_t *u = update_ok("network", "n", "{'mtu': 1400, 'description': 'x'}");
        assert_int_equal(num(u, "mtu"), 1400);
        assert_string_equal(str(u, "description"), "x");
        assert_int_equal(num(u, "vni"), num(n, "vni"));
        assert_int_equal(num(u, "revision"), num(n, "revision") + 1);
        json_auto_t *u2 = update_ok("network", "n", "{'name': 'm', 'labels': null}");
        assert_string_equal(str(u2, "name"), "m");
        assert_int_equal(json_object_size(json_object_get(u2, "labels")), 0);
        assert_int_equal(update("network", "m", "{'vni': 5}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "vni", "cannot be changed");
        assert_int_equal(update("network", "m", "{'mtu': 20}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "mtu", NULL);
        assert_int_equal(update("network", "m", "{'status': 'DOWN'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "status", "unknown field");
        json_decref(create_ok("network", "{'name': 'other'}"));
        assert_int_equal(update("network", "m", "{'name': 'other'}", NULL, &e), -EEXIST);
        check_err(&e, -EEXIST, "name", NULL);
}

/* ---- subnets ---- */

static json_t *subnet(const char *json)
{
        return create_ok("subnet", json);
}

static json_t *pools_of(json_t *s) { return json_object_get(s, "allocation_pools"); }

static void check_pools(json_t *s, const char *want)
{
        json_auto_t *w = J(want);
        if (!json_equal(pools_of(s), w)) {
                _cleanup_free_ char *got = sf_json_dumps(pools_of(s));
                fail_msg("pools %s, expected %s", got, want);
        }
}

static void test_subnet_basic(void **state)
{
        json_auto_t *n = create_ok("network", "{'name': 'n'}");
        json_auto_t *s = subnet("{'name': 's', 'network': 'n', 'cidr': '10.0.0.0/24'}");
        assert_string_equal(str(s, "network_id"), str(n, "id"));
        assert_string_equal(str(s, "cidr"), "10.0.0.0/24");
        assert_int_equal(num(s, "ip_version"), 4);
        assert_string_equal(str(s, "gateway_ip"), "10.0.0.1");
        assert_false(json_is_true(json_object_get(s, "enable_dhcp")));
        assert_int_equal(json_array_size(json_object_get(s, "dns_nameservers")), 0);
        assert_int_equal(json_array_size(json_object_get(s, "host_routes")), 0);
        check_pools(s, "[{'start': '10.0.0.2', 'end': '10.0.0.254'}]");
        /* by network id too, and the CIDR is stored canonically */
        _cleanup_free_ char *j = xasprintf(
                "{'name': 's6', 'network': '%s', 'cidr': 'FD00:0::/64', 'ip_version': 6, "
                "'enable_dhcp': true}", str(n, "id"));
        json_auto_t *s6 = subnet(j);
        assert_string_equal(str(s6, "cidr"), "fd00::/64");
        assert_int_equal(num(s6, "ip_version"), 6);
        assert_string_equal(str(s6, "gateway_ip"), "fd00::1");
        assert_true(json_is_true(json_object_get(s6, "enable_dhcp")));
        check_pools(s6, "[{'start': 'fd00::2', 'end': 'fd00::ffff:ffff:ffff:ffff'}]");

        /* decorate adds the pool usage; a /64 pool does not fit 64 bits and is clamped */
        struct sf_kind *k = kind("subnet");
        _cleanup_rd_ sf_rd rd = { 0 };
        sf_rd_get(fx->store, &rd);
        k->decorate(k->ctx, &rd, s);
        k->decorate(k->ctx, &rd, s6);
        assert_int_equal(num(s, "pool_size"), 253);
        assert_int_equal(num(s, "pool_used"), 0);
        assert_true(num(s6, "pool_size") == INT64_MAX);
}

static void test_subnet_cidr(void **state)
{
        json_decref(create_ok("network", "{'name': 'n'}"));
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.1/24'}", -EINVAL, "cidr",
                     "did you mean 10.0.0.0/24?");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd00::1/64'}", -EINVAL, "cidr",
                     "did you mean fd00::/64?");
        create_fails("subnet", "{'network': 'n', 'cidr': 'banana'}", -EINVAL, "cidr", "not a CIDR");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0'}", -EINVAL, "cidr", "not a CIDR");
        create_fails("subnet", "{'network': 'n', 'cidr': 10}", -EINVAL, "cidr", "must be a string");
        create_fails("subnet", "{'network': 'n'}", -EINVAL, "cidr", "is required");
        create_fails("subnet", "{'cidr': '10.0.0.0/24'}", -EINVAL, "network", "is required");
        create_fails("subnet", "{'network': 'nope', 'cidr': '10.0.0.0/24'}", -EINVAL, "network",
                     "network 'nope' does not exist");
        /* prefix length limits: IPv4 /8 to /30, IPv6 /64 to /126 */
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/7'}", -EINVAL, "cidr", "8 to 30");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/31'}", -EINVAL, "cidr", "8 to 30");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/32'}", -EINVAL, "cidr", "8 to 30");
        create_fails("subnet", "{'network': 'n', 'cidr': '0.0.0.0/0'}", -EINVAL, "cidr", "8 to 30");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd00::/63'}", -EINVAL, "cidr", "64 to 126");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd00::/127'}", -EINVAL, "cidr", "64 to 126");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd00::/128'}", -EINVAL, "cidr", "64 to 126");
        /* ip_version */
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/24', 'ip_version': 6}", -EINVAL,
                     "ip_version", "does not match");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd00::/64', 'ip_version': 4}", -EINVAL,
                     "ip_version", "does not match");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/24', 'ip_version': 5}", -EINVAL,
                     "ip_version", "4 or 6");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/24', 'ip_version': 7}", -EINVAL,
                     "ip_version", NULL);
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/24', 'enable_dhcp': 1}", -EINVAL,
                     "enable_dhcp", NULL);
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/24', 'vlan': 1}", -EINVAL,
                     "vlan", "unknown field");
        /* the edges are fine */
        json_decref(subnet("{'network': 'n', 'cidr': '10.0.0.0/8'}"));
        json_auto_t *b = subnet("{'network': 'n', 'cidr': '192.168.0.0/30'}");
        json_decref(subnet("{'network': 'n', 'cidr': 'fd00::/64'}"));
        json_auto_t *d = subnet("{'network': 'n', 'cidr': 'fd01::/126'}");
        check_pools(b, "[{'start': '192.168.0.2', 'end': '192.168.0.2'}]");
        check_pools(d, "[{'start': 'fd01::2', 'end': 'fd01::3'}]");
}

static void test_subnet_gateway(void **state)
{
        json_decref(create_ok("network", "{'name': 'n'}"));
        /* first (default), middle, last, none */
        json_auto_t *first = subnet("{'network': 'n', 'cidr': '10.0.1.0/24'}");
        check_pools(first, "[{'start': '10.0.1.2', 'end': '10.0.1.254'}]");
        json_auto_t *mid = subnet("{'network': 'n', 'cidr': '10.0.2.0/24', 'gateway_ip': '10.0.2.100'}");
        assert_string_equal(str(mid, "gateway_ip"), "10.0.2.100");
        check_pools(mid, "[{'start': '10.0.2.1', 'end': '10.0.2.99'}, "
                         "{'start': '10.0.2.101', 'end': '10.0.2.254'}]");
        json_auto_t *last = subnet("{'network': 'n', 'cidr': '10.0.3.0/24', 'gateway_ip': '10.0.3.254'}");
        check_pools(last, "[{'start': '10.0.3.1', 'end': '10.0.3.253'}]");
        json_auto_t *none = subnet("{'network': 'n', 'cidr': '10.0.4.0/24', 'gateway_ip': null}");
        assert_true(json_is_null(json_object_get(none, "gateway_ip")));
        check_pools(none, "[{'start': '10.0.4.1', 'end': '10.0.4.254'}]");
        json_auto_t *second = subnet("{'network': 'n', 'cidr': '10.0.5.0/24', 'gateway_ip': '10.0.5.2'}");
        check_pools(second, "[{'start': '10.0.5.1', 'end': '10.0.5.1'}, "
                            "{'start': '10.0.5.3', 'end': '10.0.5.254'}]");
        /* IPv6: the last address is a host (no broadcast) */
        json_auto_t *v6 = subnet("{'network': 'n', 'cidr': 'fd00::/120', 'gateway_ip': 'fd00::ff'}");
        check_pools(v6, "[{'start': 'fd00::1', 'end': 'fd00::fe'}]");
        json_auto_t *v6n = subnet("{'network': 'n', 'cidr': 'fd00:1::/120', 'gateway_ip': null}");
        check_pools(v6n, "[{'start': 'fd00:1::1', 'end': 'fd00:1::ff'}]");

        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': '10.1.1.1'}",
                     -EINVAL, "gateway_ip", "is not in 10.1.0.0/24");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': '10.1.0.0'}",
                     -EINVAL, "gateway_ip", "network or broadcast");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': '10.1.0.255'}",
                     -EINVAL, "gateway_ip", "network or broadcast");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': 'fd00::1'}",
                     -EINVAL, "gateway_ip", "not an IPv4 address");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd02::/64', 'gateway_ip': '10.1.0.1'}",
                     -EINVAL, "gateway_ip", "not an IPv6 address");
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd02::/64', 'gateway_ip': 'fd02::'}",
                     -EINVAL, "gateway_ip", NULL);
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': 'gw'}",
                     -EINVAL, "gateway_ip", "not an IP address");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': 1}",
                     -EINVAL, "gateway_ip", "must be a string");
}

static void test_subnet_pools(void **state)
{
        json_decref(create_ok("network", "{'name': 'n'}"));
        json_auto_t *a = subnet("{'network': 'n', 'cidr': '10.0.0.0/24', 'allocation_pools': ["
                                "{'start': '10.0.0.10', 'end': '10.0.0.19'}, "
                                "{'start': '10.0.0.100', 'end': '10.0.0.100'}]}");
        check_pools(a, "[{'start': '10.0.0.10', 'end': '10.0.0.19'}, "
                       "{'start': '10.0.0.100', 'end': '10.0.0.100'}]");
        /* pools in any order; canonical formatting */
        json_auto_t *b = subnet("{'network': 'n', 'cidr': 'fd00::/64', 'allocation_pools': ["
                                "{'start': 'fd00::1:0', 'end': 'FD00::1:ff'}, "
                                "{'start': 'fd00::10', 'end': 'fd00::20'}]}");
        check_pools(b, "[{'start': 'fd00::1:0', 'end': 'fd00::1:ff'}, "
                       "{'start': 'fd00::10', 'end': 'fd00::20'}]");

#define S "{'network': 'n', 'cidr': '10.1.0.0/24', 'allocation_pools': "
        create_fails("subnet", S "[{'start': '10.1.0.10', 'end': '10.1.0.20'}, "
                               "{'start': '10.1.0.20', 'end': '10.1.0.30'}]}",
                     -EINVAL, "allocation_pools[1]", "overlaps allocation_pools[0]");
        create_fails("subnet", S "[{'start': '10.1.0.10', 'end': '10.1.0.20'}, "
                               "{'start': '10.1.0.2', 'end': '10.1.0.30'}]}",
                     -EINVAL, "allocation_pools[1]", "overlaps allocation_pools[0]");
        create_fails("subnet", S "[{'start': '10.1.0.1', 'end': '10.1.0.20'}]}", -EINVAL,
                     "allocation_pools[0]", "includes the gateway address");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': '10.1.0.50', "
                               "'allocation_pools': [{'start': '10.1.0.2', 'end': '10.1.0.99'}]}",
                     -EINVAL, "allocation_pools[0]", "includes the gateway address");
        create_fails("subnet", S "[{'start': '10.1.0.20', 'end': '10.1.0.10'}]}", -EINVAL,
                     "allocation_pools[0].end", "must not be before start");
        create_fails("subnet", S "[{'start': '10.1.1.2', 'end': '10.1.1.10'}]}", -EINVAL,
                     "allocation_pools[0].start", "is not in 10.1.0.0/24");
        create_fails("subnet", S "[{'start': '10.1.0.2', 'end': '10.1.1.10'}]}", -EINVAL,
                     "allocation_pools[0].end", "is not in 10.1.0.0/24");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.1.0.0/24', 'gateway_ip': null, "
                               "'allocation_pools': [{'start': '10.1.0.0', 'end': '10.1.0.10'}]}",
                     -EINVAL, "allocation_pools[0].start", "network address");
        create_fails("subnet", S "[{'start': '10.1.0.2', 'end': '10.1.0.255'}]}", -EINVAL,
                     "allocation_pools[0].end", "broadcast address");
        create_fails("subnet", S "[{'start': 'fd00::2', 'end': 'fd00::3'}]}", -EINVAL,
                     "allocation_pools[0].start", "not an IPv4 address");
        create_fails("subnet", S "[{'start': '10.1.0.2'}]}", -EINVAL, "allocation_pools[0].end",
                     "is required");
        create_fails("subnet", S "[{'start': '10.1.0.2', 'end': '10.1.0.3', 'x': 1}]}", -EINVAL,
                     "allocation_pools[0].x", "unknown field");
        create_fails("subnet", S "['10.1.0.2-10.1.0.3']}", -EINVAL, "allocation_pools[0]",
                     "must be an object");
        create_fails("subnet", S "[]}", -EINVAL, "allocation_pools", "1 to 16");
        create_fails("subnet", S "{}}", -EINVAL, "allocation_pools", "must be an array");
#undef S
        {
                _cleanup_free_ char *j = xstrdup(
                        "{'network': 'n', 'cidr': '10.1.0.0/24', 'allocation_pools': [");
                for (int i = 0; i < 17; i++) {
                        char *k = xasprintf("%s%s{'start': '10.1.0.%d', 'end': '10.1.0.%d'}", j,
                                            i ? ", " : "", 10 + 2 * i, 10 + 2 * i);
                        free(j);
                        j = k;
                }
                char *k = xasprintf("%s]}", j);
                free(j);
                j = k;
                create_fails("subnet", j, -EINVAL, "allocation_pools", "1 to 16");
        }
        /* IPv6 /64 pools: the subnet-router anycast address is not allowed, the last one is */
        create_fails("subnet", "{'network': 'n', 'cidr': 'fd09::/64', 'gateway_ip': null, "
                               "'allocation_pools': [{'start': 'fd09::', 'end': 'fd09::10'}]}",
                     -EINVAL, "allocation_pools[0].start", NULL);
        json_auto_t *c _unused_ = subnet("{'network': 'n', 'cidr': 'fd09::/64', 'allocation_pools': "
                                "[{'start': 'fd09::ffff:ffff:ffff:fff0', "
                                "'end': 'fd09::ffff:ffff:ffff:ffff'}]}");
}

static void test_subnet_overlap(void **state)
{
        json_decref(create_ok("network", "{'name': 'n'}"));
        json_decref(create_ok("network", "{'name': 'm'}"));
        json_decref(subnet("{'name': 'a', 'network': 'n', 'cidr': '10.0.0.0/16'}"));
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.5.0/24'}", -EEXIST, "cidr",
                     "overlaps subnet 'a' (10.0.0.0/16) of network 'n'");
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/8'}", -EEXIST, "cidr", NULL);
        create_fails("subnet", "{'network': 'n', 'cidr': '10.0.0.0/16'}", -EEXIST, "cidr", NULL);
        /* adjacent is fine, and so is the same CIDR on another network */
        json_decref(subnet("{'network': 'n', 'cidr': '10.1.0.0/16'}"));
        json_decref(subnet("{'network': 'm', 'cidr': '10.0.0.0/16'}"));
        /* IPv4 and IPv6 never overlap */
        json_decref(subnet("{'network': 'n', 'cidr': '::a00:0/120'}"));
        create_fails("subnet", "{'name': 'a', 'network': 'm', 'cidr': '10.9.0.0/16'}", -EEXIST,
                     "name", NULL);
}

static void test_subnet_dns_routes(void **state)
{
        json_decref(create_ok("network", "{'name': 'n'}"));
        json_auto_t *s = subnet("{'network': 'n', 'cidr': '10.0.0.0/24', "
                                "'dns_nameservers': ['10.0.0.53', '8.8.8.8'], "
                                "'host_routes': [{'destination': '192.168.0.0/16', 'nexthop': '10.0.0.254'}]}");
        json_auto_t *wd = J("['10.0.0.53', '8.8.8.8']"),
                    *wr = J("[{'destination': '192.168.0.0/16', 'nexthop': '10.0.0.254'}]");
        assert_true(json_equal(json_object_get(s, "dns_nameservers"), wd));
        assert_true(json_equal(json_object_get(s, "host_routes"), wr));

#define S "{'network': 'n', 'cidr': '10.1.0.0/24', "
        create_fails("subnet", S "'dns_nameservers': ['1.1.1.1', 'x']}", -EINVAL,
                     "dns_nameservers[1]", "must be an IP address");
        create_fails("subnet", S "'dns_nameservers': [1]}", -EINVAL, "dns_nameservers[0]", NULL);
        create_fails("subnet", S "'dns_nameservers': ['1.1.1.1', '1.1.1.2', '1.1.1.3', "
                                 "'1.1.1.4', '1.1.1.5', '1.1.1.6']}", -EINVAL, "dns_nameservers",
                     "at most 5");
        create_fails("subnet", S "'dns_nameservers': '1.1.1.1'}", -EINVAL, "dns_nameservers", NULL);
        create_fails("subnet", S "'host_routes': [{'destination': '10.9.0.1/16', 'nexthop': '10.1.0.1'}]}",
                     -EINVAL, "host_routes[0].destination", "not a CIDR");
        create_fails("subnet", S "'host_routes': [{'destination': 'fd00::/64', 'nexthop': '10.1.0.1'}]}",
                     -EINVAL, "host_routes[0].destination", "IP version");
        create_fails("subnet", S "'host_routes': [{'destination': '0.0.0.0/0', 'nexthop': 'fd00::1'}]}",
                     -EINVAL, "host_routes[0].nexthop", "not an IPv4 address");
        create_fails("subnet", S "'host_routes': [{'destination': '0.0.0.0/0'}]}", -EINVAL,
                     "host_routes[0].nexthop", "is required");
        create_fails("subnet", S "'host_routes': [{'destination': '0.0.0.0/0', 'nexthop': '10.1.0.1', "
                                 "'metric': 1}]}", -EINVAL, "host_routes[0].metric", "unknown field");
        create_fails("subnet", S "'host_routes': [5]}", -EINVAL, "host_routes[0]", "must be an object");
#undef S
}

static void test_subnet_update(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_decref(create_ok("network", "{'name': 'n'}"));
        json_decref(subnet("{'name': 's', 'network': 'n', 'cidr': 'fd00::/64'}"));
        json_auto_t *u = update_ok("subnet", "s", "{'dns_nameservers': ['fd00::53'], "
                                                  "'host_routes': [{'destination': '::/0', 'nexthop': 'fd00::fe'}], "
                                                  "'description': 'v6'}");
        assert_string_equal(json_string_value(json_array_get(json_object_get(u, "dns_nameservers"), 0)),
                            "fd00::53");
        assert_string_equal(str(u, "description"), "v6");
        assert_string_equal(str(u, "cidr"), "fd00::/64");
        json_auto_t *u2 = update_ok("subnet", "s", "{'dns_nameservers': null}");
        assert_int_equal(json_array_size(json_object_get(u2, "dns_nameservers")), 0);
        assert_int_equal(json_array_size(json_object_get(u2, "host_routes")), 1);

        assert_int_equal(update("subnet", "s", "{'cidr': 'fd01::/64'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "cidr", "cannot be changed");
        assert_int_equal(update("subnet", "s", "{'allocation_pools': []}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "allocation_pools", "cannot be changed");
        assert_int_equal(update("subnet", "s", "{'gateway_ip': 'fd00::2'}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "gateway_ip", "cannot be changed");
        assert_int_equal(update("subnet", "s", "{'mtu': 1}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "mtu", "unknown field");
        assert_int_equal(update("subnet", "s", "{'host_routes': [{'destination': '10.0.0.0/8', "
                                               "'nexthop': 'fd00::1'}]}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "host_routes[0].destination", NULL);
        assert_int_equal(update("subnet", "s", "{'dns_nameservers': ['nope']}", NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "dns_nameservers[0]", NULL);
}

static void test_network_delete_cascades(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_decref(create_ok("network", "{'name': 'n', 'vni': 77}"));
        json_decref(subnet("{'name': 'a', 'network': 'n', 'cidr': '10.0.0.0/24'}"));
        json_decref(subnet("{'name': 'b', 'network': 'n', 'cidr': 'fd00::/64'}"));
        json_decref(create_ok("network", "{'name': 'm'}"));
        json_decref(subnet("{'name': 'c', 'network': 'm', 'cidr': '10.0.0.0/24'}"));
        remove_ok("network", "n");
        json_t *g;
        assert_null(g = get("network", "n"));
        assert_null(g = get("subnet", "a"));
        assert_null(g = get("subnet", "b"));
        json_auto_t *gc = get("subnet", "c");
        assert_non_null(gc);
        /* the VNI and the subnet names are free again */
        json_decref(create_ok("network", "{'name': 'n', 'vni': 77}"));
        json_decref(subnet("{'name': 'a', 'network': 'n', 'cidr': '10.0.0.0/24'}"));
        /* subnet delete on its own */
        remove_ok("subnet", "a");
        assert_int_equal(remove_obj("subnet", "a", &e), -ENOENT);
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
#define T(x) cmocka_unit_test_setup_teardown(x, fx_setup, fx_teardown)
        const struct CMUnitTest tests[] = {
                T(test_kinds_table),      T(test_network_defaults), T(test_network_default_mtu_option),
                T(test_network_invalid),  T(test_vni),              T(test_network_update),
                T(test_subnet_basic),     T(test_subnet_cidr),      T(test_subnet_gateway),
                T(test_subnet_pools),     T(test_subnet_overlap),   T(test_subnet_dns_routes),
                T(test_subnet_update),    T(test_network_delete_cascades),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
