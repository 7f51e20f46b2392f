/* Unit tests for src/net/route.c builders: addresses (v4 broadcast, v6 NODAD and
 * NOPREFIXROUTE in IFA_FLAGS) and routes (default via an onlink gateway, direct routes,
 * deletes with wildcards, big table ids). */
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "lib/macro.h"
#include "net/route.h"
#include "nltest.h"

static sf_prefix P(const char *s)
{
        sf_prefix p;
        assert_int_equal(sf_prefix_parse(s, false, &p), 0);
        return p;
}

static sf_addr A(const char *s)
{
        sf_addr a;
        assert_int_equal(sf_addr_parse(s, &a), 0);
        return a;
}

static void test_addr_v4(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFA_MAX + 1];
        const struct ifaddrmsg *ifa;
        const uint8_t local[4] = { 10, 42, 0, 5 }, brd[4] = { 10, 42, 0, 255 };
        sf_ipaddr_cfg a = { .ifindex = 2, .prefix = P("10.42.0.5/24"), .broadcast = true, .nodad = true };

        assert_int_equal(sf_ipaddr_build(r, SF_NL_REPLACE, &a, 0, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_NEWADDR);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        assert_string_equal(sf_nlreq_what(r, 0), "replace address 10.42.0.5/24 on ifindex 2");
        ifa = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ifa->ifa_family, AF_INET);
        assert_int_equal(ifa->ifa_prefixlen, 24);
        assert_int_equal(ifa->ifa_index, 2);
        assert_int_equal(ifa->ifa_flags, 0); /* NODAD is IPv6 only */
        attrs(only_msg(r), sizeof(*ifa), tb, IFA_MAX);
        assert_attr_bytes(tb[IFA_LOCAL], local, 4);
        assert_attr_bytes(tb[IFA_ADDRESS], local, 4);
        assert_attr_bytes(tb[IFA_BROADCAST], brd, 4);
        assert_null(tb[IFA_FLAGS]);
}

static void test_addr_v6_flags(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFA_MAX + 1];
        const struct ifaddrmsg *ifa;
        sf_ipaddr_cfg a = { .ifindex = 3, .prefix = P("fd42::5/64"), .nodad = true, .noprefixroute = true,
                            .broadcast = true };

        assert_int_equal(sf_ipaddr_build(r, SF_NL_ADD, &a, 0, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        ifa = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ifa->ifa_family, AF_INET6);
        assert_int_equal(ifa->ifa_prefixlen, 64);
        assert_int_equal(ifa->ifa_flags, IFA_F_NODAD);
        attrs(only_msg(r), sizeof(*ifa), tb, IFA_MAX);
        assert_attr_bytes(tb[IFA_LOCAL], &a.prefix.addr.v6, 16);
        assert_attr_u32(tb[IFA_FLAGS], IFA_F_NODAD | IFA_F_NOPREFIXROUTE);
        assert_null(tb[IFA_BROADCAST]);
}

static void test_addr_del_and_invalid(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const struct nlattr *tb[IFA_MAX + 1];
        sf_ipaddr_cfg a = { .ifindex = 3, .prefix = P("10.0.0.1/32"), .broadcast = true };

        assert_int_equal(sf_ipaddr_build(r, SF_NL_DEL, &a, SF_NL_MISSING_OK, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_DELADDR);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        attrs(only_msg(r), sizeof(struct ifaddrmsg), tb, IFA_MAX);
        assert_non_null(tb[IFA_LOCAL]);
        assert_null(tb[IFA_BROADCAST]);

        a.ifindex = 0;
        assert_int_equal(sf_ipaddr_build(r, SF_NL_ADD, &a, 0, &e), -EINVAL);
        assert_string_equal(e.field, "ifindex");
        a.ifindex = 1;
        assert_int_equal(sf_ipaddr_build(r, SF_NL_APPEND, &a, 0, NULL), -EINVAL);
        a.prefix.addr.family = 0;
        assert_int_equal(sf_ipaddr_build(r, SF_NL_ADD, &a, 0, NULL), -EINVAL);
        assert_int_equal(sf_nlreq_count(r), 1);
}

static void test_route_default_onlink(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[RTA_MAX + 1];
        const struct rtmsg *rtm;
        const uint8_t gw[4] = { 10, 42, 0, 254 };
        sf_route_cfg rt = { .dst = P("0.0.0.0/0"), .gateway = A("10.42.0.254"), .oif = 2, .onlink = true };

        assert_int_equal(sf_route_build(r, SF_NL_REPLACE, &rt, 0, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_NEWROUTE);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        assert_string_equal(sf_nlreq_what(r, 0), "replace route default via 10.42.0.254 onlink");
        rtm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(rtm->rtm_family, AF_INET);
        assert_int_equal(rtm->rtm_dst_len, 0);
        assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
        assert_int_equal(rtm->rtm_protocol, RTPROT_STATIC);
        assert_int_equal(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
        assert_int_equal(rtm->rtm_type, RTN_UNICAST);
        assert_int_equal(rtm->rtm_flags, RTNH_F_ONLINK);
        attrs(only_msg(r), sizeof(*rtm), tb, RTA_MAX);
        assert_null(tb[RTA_DST]);
        assert_attr_bytes(tb[RTA_GATEWAY], gw, 4);
        assert_attr_u32(tb[RTA_OIF], 2);
        assert_null(tb[RTA_TABLE]);
        assert_null(tb[RTA_PRIORITY]);
}

static void test_route_direct_v6_table(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[RTA_MAX + 1];
        const struct rtmsg *rtm;
        sf_route_cfg rt = { .dst = P("fd00:1::/48"), .oif = 5, .table = 1000, .metric = 100 };

        assert_int_equal(sf_route_build(r, SF_NL_ADD, &rt, 0, NULL), 0);
        rtm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(rtm->rtm_family, AF_INET6);
        assert_int_equal(rtm->rtm_dst_len, 48);
        assert_int_equal(rtm->rtm_scope, RT_SCOPE_LINK);
        assert_int_equal(rtm->rtm_table, RT_TABLE_UNSPEC); /* > 255: only in RTA_TABLE */
        attrs(only_msg(r), sizeof(*rtm), tb, RTA_MAX);
        assert_attr_bytes(tb[RTA_DST], &rt.dst.addr.v6, 16);
        assert_attr_u32(tb[RTA_TABLE], 1000);
        assert_attr_u32(tb[RTA_PRIORITY], 100);
        assert_null(tb[RTA_GATEWAY]);
}

static void test_route_del_wildcards(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct rtmsg *rtm;
        sf_route_cfg rt = { .dst = P("192.0.2.0/24"), .gateway = A("10.0.0.1") };

        assert_int_equal(sf_route_build(r, SF_NL_DEL, &rt, SF_NL_MISSING_OK, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_DELROUTE);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        rtm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(rtm->rtm_scope, RT_SCOPE_NOWHERE);
        assert_int_equal(rtm->rtm_type, 0);
        assert_int_equal(rtm->rtm_protocol, 0);
        assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
}

static void test_route_invalid(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_route_cfg rt = { .dst = P("0.0.0.0/0"), .gateway = A("fe80::1") };

        assert_int_equal(sf_route_build(r, SF_NL_ADD, &rt, 0, &e), -EINVAL);
        assert_string_equal(e.field, "gateway");
        rt.gateway = A("10.0.0.1");
        rt.onlink = true; /* without oif */
        assert_int_equal(sf_route_build(r, SF_NL_ADD, &rt, 0, NULL), -EINVAL);
        assert_int_equal(sf_nlreq_count(r), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr_v4),
                cmocka_unit_test(test_addr_v6_flags),
                cmocka_unit_test(test_addr_del_and_invalid),
                cmocka_unit_test(test_route_default_onlink),
                cmocka_unit_test(test_route_direct_v6_table),
                cmocka_unit_test(test_route_del_wildcards),
                cmocka_unit_test(test_route_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
