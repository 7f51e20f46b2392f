/* Unit tests for src/net/neigh.c: permanent neighbour entries, VXLAN FDB entries (NDA_DST,
 * NTF_SELF, the all-zeros BUM entry), and the gratuitous ARP / unsolicited NA frames. */
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "lib/macro.h"
#include "net/neigh.h"
#include "nltest.h"

static const uint8_t MAC[6] = { 0x02, 0x42, 0, 0, 0, 2 };

static sf_addr A(const char *s)
{
        sf_addr a;
        assert_int_equal(sf_addr_parse(s, &a), 0);
        return a;
}

static void test_neigh_permanent(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[NDA_MAX + 1];
        const struct ndmsg *ndm;
        const uint8_t ip[4] = { 10, 42, 0, 2 };
        sf_neigh_cfg n = { .ifindex = 2, .addr = A("10.42.0.2") };

        memcpy(n.lladdr, MAC, 6);
        assert_int_equal(sf_neigh_build(r, SF_NL_REPLACE, &n, 0, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_NEWNEIGH);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        ndm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ndm->ndm_family, AF_INET);
        assert_int_equal(ndm->ndm_ifindex, 2);
        assert_int_equal(ndm->ndm_state, NUD_PERMANENT);
        assert_int_equal(ndm->ndm_flags, 0);
        attrs(only_msg(r), sizeof(*ndm), tb, NDA_MAX);
        assert_attr_bytes(tb[NDA_DST], ip, 4);
        assert_attr_bytes(tb[NDA_LLADDR], MAC, 6);
}

static void test_neigh_v6_del(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[NDA_MAX + 1];
        const struct ndmsg *ndm;
        sf_neigh_cfg n = { .ifindex = 4, .addr = A("fd42::2") };

        assert_int_equal(sf_neigh_build(r, SF_NL_DEL, &n, SF_NL_MISSING_OK, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_DELNEIGH);
        ndm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ndm->ndm_family, AF_INET6);
        attrs(only_msg(r), sizeof(*ndm), tb, NDA_MAX);
        assert_attr_bytes(tb[NDA_DST], &n.addr.v6, 16);
        assert_null(tb[NDA_LLADDR]);

        n.ifindex = 0;
        assert_int_equal(sf_neigh_build(r, SF_NL_REPLACE, &n, 0, NULL), -EINVAL);
}

static void test_fdb_append_remote(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[NDA_MAX + 1];
        const struct ndmsg *ndm;
        const uint8_t vtep[4] = { 198, 18, 0, 2 };
        sf_fdb_cfg f = { .ifindex = 6, .dst = A("198.18.0.2") };

        memcpy(f.mac, MAC, 6);
        assert_int_equal(sf_fdb_build(r, SF_NL_APPEND, &f, 0, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_NEWNEIGH);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND);
        assert_string_equal(sf_nlreq_what(r, 0), "append FDB entry 02:42:00:00:00:02 dst 198.18.0.2 on ifindex 6");
        ndm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ndm->ndm_family, AF_BRIDGE);
        assert_int_equal(ndm->ndm_ifindex, 6);
        assert_int_equal(ndm->ndm_flags, NTF_SELF);
        assert_int_equal(ndm->ndm_state, NUD_PERMANENT | NUD_NOARP);
        attrs(only_msg(r), sizeof(*ndm), tb, NDA_MAX);
        assert_attr_bytes(tb[NDA_LLADDR], MAC, 6);
        assert_attr_bytes(tb[NDA_DST], vtep, 4);
        assert_null(tb[NDA_VNI]);
        assert_null(tb[NDA_PORT]);
}

static void test_fdb_bum_entry_v6_vni_port(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[NDA_MAX + 1];
        const uint8_t zero[6] = {};
        sf_fdb_cfg f = { .ifindex = 6, .dst = A("fd00::2"), .vni = 42, .port = 4789 };

        assert_int_equal(sf_fdb_build(r, SF_NL_APPEND, &f, 0, NULL), 0);
        attrs(only_msg(r), sizeof(struct ndmsg), tb, NDA_MAX);
        assert_attr_bytes(tb[NDA_LLADDR], zero, 6);
        assert_attr_bytes(tb[NDA_DST], &f.dst.v6, 16);
        assert_attr_u32(tb[NDA_VNI], 42);
        assert_attr_u16(tb[NDA_PORT], htons(4789));
}

static void test_fdb_del_master(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[NDA_MAX + 1];
        const struct ndmsg *ndm;
        sf_fdb_cfg f = { .ifindex = 6, .master = true };

        memcpy(f.mac, MAC, 6);
        assert_int_equal(sf_fdb_build(r, SF_NL_DEL, &f, SF_NL_MISSING_OK, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_DELNEIGH);
        ndm = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ndm->ndm_flags, NTF_MASTER);
        attrs(only_msg(r), sizeof(*ndm), tb, NDA_MAX);
        assert_null(tb[NDA_DST]);
}

static void test_garp_arp(void **state)
{
        static const uint8_t expected[SF_GARP_ARP_LEN] = {
                0, 1, 8, 0, 6, 4, 0, 1,                 /* Ethernet, IPv4, request */
                0x02, 0x42, 0, 0, 0, 2, 10, 42, 0, 5,   /* sender */
                0, 0, 0, 0, 0, 0, 10, 42, 0, 5,         /* target: same IP */
        };
        uint8_t buf[SF_GARP_ARP_LEN];
        sf_addr a = A("10.42.0.5");

        sf_garp_build_arp(buf, MAC, &a.v4);
        assert_memory_equal(buf, expected, sizeof(expected));
}

static void test_garp_na(void **state)
{
        uint8_t buf[SF_GARP_NA_LEN];
        uint8_t pseudo[40] = {};
        sf_addr a = A("fd42::5");
        uint32_t sum = 0;

        sf_garp_build_na(buf, MAC, &a.v6);
        assert_int_equal(buf[0] >> 4, 6);
        assert_int_equal(buf[4] << 8 | buf[5], 32);
        assert_int_equal(buf[6], 58);  /* ICMPv6 */
        assert_int_equal(buf[7], 255); /* hop limit */
        assert_memory_equal(buf + 8, &a.v6, 16);
        assert_int_equal(buf[24], 0xff);
        assert_int_equal(buf[25], 0x02);
        assert_int_equal(buf[39], 0x01);
        assert_int_equal(buf[40], 136);  /* NA */
        assert_int_equal(buf[44], 0x20); /* override */
        assert_memory_equal(buf + 48, &a.v6, 16);
        assert_int_equal(buf[64], 2);
        assert_int_equal(buf[65], 1);
        assert_memory_equal(buf + 66, MAC, 6);

        /* The checksum over pseudo-header + ICMPv6 message folds to 0xffff. */
        memcpy(pseudo, buf + 8, 32);
        pseudo[35] = 32;
        pseudo[39] = 58;
        for (size_t i = 0; i < 40; i += 2)
                sum += pseudo[i] << 8 | pseudo[i + 1];
        for (size_t i = 40; i < SF_GARP_NA_LEN; i += 2)
                sum += buf[i] << 8 | buf[i + 1];
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        assert_int_equal(sum, 0xffff);
}

static void test_nud_names(void **state)
{
        assert_string_equal(sf_nud_state_name(NUD_PERMANENT), "PERMANENT");
        assert_string_equal(sf_nud_state_name(NUD_REACHABLE), "REACHABLE");
        assert_string_equal(sf_nud_state_name(NUD_STALE), "STALE");
        assert_string_equal(sf_nud_state_name(0), "NONE");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_neigh_permanent),
                cmocka_unit_test(test_neigh_v6_del),
                cmocka_unit_test(test_fdb_append_remote),
                cmocka_unit_test(test_fdb_bum_entry_v6_vni_port),
                cmocka_unit_test(test_fdb_del_master),
                cmocka_unit_test(test_garp_arp),
                cmocka_unit_test(test_garp_na),
                cmocka_unit_test(test_nud_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
