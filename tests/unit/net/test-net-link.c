/* Unit tests for src/net/link.c builders: the exact attributes of veth (peer in another
 * namespace), bridge, VXLAN, macvlan, set, bridge port state and delete requests; interface
 * name validation; parsing of RTM_NEWLINK. */
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "lib/macro.h"
#include "net/link.h"
#include "nltest.h"

static const uint8_t MAC1[6] = { 0x02, 0x42, 0, 0, 0, 1 };
static const uint8_t MAC2[6] = { 0x02, 0x42, 0, 0, 0, 2 };

static void test_veth_peer_in_netns(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *data[VETH_INFO_MAX + 1],
                *peer[IFLA_MAX + 1];
        const struct ifinfomsg *ifi, *pifi;
        const struct nlmsghdr *nlh;
        sf_veth_cfg v = {
                .name = "sfv1234",
                .mac = MAC1,
                .mtu = 1450,
                .master = 7,
                .up = true,
                .peer_name = "eth0",
                .peer_mac = MAC2,
                .peer_netns_fd = 42,
        };

        assert_int_equal(sf_link_build_veth(r, &v, NULL), 0);
        nlh = only_msg(r);
        assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_string_equal(sf_nlreq_what(r, 0), "create veth 'sfv1234' (peer 'eth0')");
        ifi = mnl_nlmsg_get_payload(nlh);
        assert_int_equal(ifi->ifi_flags, IFF_UP);
        assert_int_equal(ifi->ifi_change, IFF_UP);
        assert_int_equal(ifi->ifi_index, 0);

        attrs(nlh, sizeof(*ifi), tb, IFLA_MAX);
        assert_attr_str(tb[IFLA_IFNAME], "sfv1234");
        assert_attr_u32(tb[IFLA_MTU], 1450);
        assert_attr_u32(tb[IFLA_MASTER], 7);
        assert_attr_bytes(tb[IFLA_ADDRESS], MAC1, 6);
        assert_null(tb[IFLA_NET_NS_FD]); /* this side stays here */

        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        assert_attr_str(li[IFLA_INFO_KIND], "veth");
        nested(li[IFLA_INFO_DATA], data, VETH_INFO_MAX);
        assert_non_null(data[VETH_INFO_PEER]);
        pifi = nested_with_header(data[VETH_INFO_PEER], sizeof(*pifi), peer, IFLA_MAX);
        assert_int_equal(pifi->ifi_family, AF_UNSPEC);
        assert_int_equal(pifi->ifi_flags, 0);
        assert_int_equal(pifi->ifi_change, 0);
        assert_attr_str(peer[IFLA_IFNAME], "eth0");
        assert_attr_bytes(peer[IFLA_ADDRESS], MAC2, 6);
        assert_attr_u32(peer[IFLA_MTU], 1450);
        assert_attr_u32(peer[IFLA_NET_NS_FD], 42);
        assert_null(peer[IFLA_MASTER]);
}

static void test_veth_minimal(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *data[VETH_INFO_MAX + 1],
                *peer[IFLA_MAX + 1];
        const struct ifinfomsg *pifi;
        sf_veth_cfg v = { .name = "a", .peer_name = "b", .peer_netns_fd = -1 };

        assert_int_equal(sf_link_build_veth(r, &v, NULL), 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        assert_null(tb[IFLA_MTU]);
        assert_null(tb[IFLA_MASTER]);
        assert_null(tb[IFLA_ADDRESS]);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        nested(li[IFLA_INFO_DATA], data, VETH_INFO_MAX);
        pifi = nested_with_header(data[VETH_INFO_PEER], sizeof(*pifi), peer, IFLA_MAX);
        assert_int_equal(pifi->ifi_flags, 0); /* the kernel cannot bring the peer up here */
        assert_null(peer[IFLA_NET_NS_FD]);
        assert_null(peer[IFLA_ADDRESS]);
}

static void test_veth_name_too_long(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_veth_cfg v = { .name = "sf0123456789abcd", .peer_name = "eth0", .peer_netns_fd = -1 };

        assert_int_equal(sf_link_build_veth(r, &v, &e), -EINVAL);
        assert_string_equal(e.field, "name");
        assert_non_null(strstr(e.msg, "'sf0123456789abcd' is 16 bytes long, the maximum is 15"));
        assert_int_equal(sf_nlreq_count(r), 0);

        sf_err_clear(&e);
        v.name = "ok";
        v.peer_name = "bad/name";
        assert_int_equal(sf_link_build_veth(r, &v, &e), -EINVAL);
        assert_string_equal(e.field, "peer_name");
}

static void test_ifname_check(void **state)
{
        assert_int_equal(sf_ifname_check("sf0123456789abc", "n", NULL), 0); /* 15 */
        assert_int_equal(sf_ifname_check("eth0.100", "n", NULL), 0);
        assert_int_equal(sf_ifname_check("sf0123456789abcd", "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check("", "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check(NULL, "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check(".", "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check("..", "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check("a b", "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check("a:1", "n", NULL), -EINVAL);
        assert_int_equal(sf_ifname_check("a\nb", "n", NULL), -EINVAL);
}

static void test_bridge(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *br[IFLA_BR_MAX + 1];
        sf_bridge_cfg b = { .name = "sfbr0", .mtu = 1450, .mac = MAC1 };

        assert_int_equal(sf_link_build_bridge(r, &b, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_int_equal(((struct ifinfomsg *) mnl_nlmsg_get_payload(only_msg(r)))->ifi_change, 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        assert_attr_str(tb[IFLA_IFNAME], "sfbr0");
        assert_attr_u32(tb[IFLA_MTU], 1450);
        assert_attr_bytes(tb[IFLA_ADDRESS], MAC1, 6);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        assert_attr_str(li[IFLA_INFO_KIND], "bridge");
        nested(li[IFLA_INFO_DATA], br, IFLA_BR_MAX);
        assert_attr_u32(br[IFLA_BR_FORWARD_DELAY], 0);
        assert_attr_u32(br[IFLA_BR_STP_STATE], 0);
        assert_null(br[IFLA_BR_VLAN_FILTERING]);

        sf_nlreq_reset(r);
        b.vlan_filtering = true;
        assert_int_equal(sf_link_build_bridge(r, &b, NULL), 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        nested(li[IFLA_INFO_DATA], br, IFLA_BR_MAX);
        assert_attr_u8(br[IFLA_BR_VLAN_FILTERING], 1);
}

static void test_vxlan(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *vx[IFLA_VXLAN_MAX + 1];
        const uint8_t local[4] = { 198, 18, 0, 1 }, port[2] = { 0x12, 0xb5 }; /* 4789 */
        sf_vxlan_cfg x = { .name = "vx42", .vni = 42, .underlay = 3, .master = 5, .up = true, .mtu = 1450 };

        assert_int_equal(sf_addr_parse("198.18.0.1", &x.local), 0);
        assert_int_equal(sf_link_build_vxlan(r, &x, NULL), 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        assert_attr_str(tb[IFLA_IFNAME], "vx42");
        assert_attr_u32(tb[IFLA_MASTER], 5);
        assert_attr_u32(tb[IFLA_MTU], 1450);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        assert_attr_str(li[IFLA_INFO_KIND], "vxlan");
        nested(li[IFLA_INFO_DATA], vx, IFLA_VXLAN_MAX);
        assert_attr_u32(vx[IFLA_VXLAN_ID], 42);
        assert_attr_bytes(vx[IFLA_VXLAN_LOCAL], local, 4);
        assert_null(vx[IFLA_VXLAN_LOCAL6]);
        assert_attr_bytes(vx[IFLA_VXLAN_PORT], port, 2); /* network byte order */
        assert_attr_u8(vx[IFLA_VXLAN_LEARNING], 0);
        assert_attr_u32(vx[IFLA_VXLAN_LINK], 3);
        assert_null(vx[IFLA_VXLAN_TTL]);
}

static void test_vxlan_v6_and_validation(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *vx[IFLA_VXLAN_MAX + 1];
        sf_vxlan_cfg x = { .name = "vx7", .vni = 0xffffff, .dstport = 8472, .learning = true };

        assert_int_equal(sf_addr_parse("fd00::1", &x.local), 0);
        assert_int_equal(sf_link_build_vxlan(r, &x, NULL), 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        nested(li[IFLA_INFO_DATA], vx, IFLA_VXLAN_MAX);
        assert_attr_bytes(vx[IFLA_VXLAN_LOCAL6], &x.local.v6, 16);
        assert_null(vx[IFLA_VXLAN_LOCAL]);
        assert_attr_u16(vx[IFLA_VXLAN_PORT], htons(8472));
        assert_attr_u8(vx[IFLA_VXLAN_LEARNING], 1);
        assert_null(vx[IFLA_VXLAN_LINK]);

        x.vni = 0x1000000;
        assert_int_equal(sf_link_build_vxlan(r, &x, &e), -EINVAL);
        assert_string_equal(e.field, "vni");
}

static void test_macvlan(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *mv[IFLA_MACVLAN_MAX + 1];
        sf_macvlan_cfg m = { .name = "eth1", .parent = 9, .netns_fd = 11, .mac = MAC2 };

        assert_int_equal(sf_link_build_macvlan(r, &m, NULL), 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        assert_attr_u32(tb[IFLA_LINK], 9);
        assert_attr_u32(tb[IFLA_NET_NS_FD], 11);
        assert_attr_bytes(tb[IFLA_ADDRESS], MAC2, 6);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        assert_attr_str(li[IFLA_INFO_KIND], "macvlan");
        nested(li[IFLA_INFO_DATA], mv, IFLA_MACVLAN_MAX);
        assert_attr_u32(mv[IFLA_MACVLAN_MODE], MACVLAN_MODE_BRIDGE);

        m.parent = 0;
        assert_int_equal(sf_link_build_macvlan(r, &m, NULL), -EINVAL);
}

static void test_vlandev(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *vl[IFLA_VLAN_MAX + 1];
        sf_vlandev_cfg v = { .name = "sfq1234abc0100v", .parent = 7, .id = 100, .master = 3, .up = true };

        assert_int_equal(sf_link_build_vlandev(r, &v, NULL), 0);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        assert_attr_str(tb[IFLA_IFNAME], "sfq1234abc0100v");
        assert_attr_u32(tb[IFLA_LINK], 7);
        assert_attr_u32(tb[IFLA_MASTER], 3);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        assert_attr_str(li[IFLA_INFO_KIND], "vlan");
        nested(li[IFLA_INFO_DATA], vl, IFLA_VLAN_MAX);
        assert_int_equal(mnl_attr_get_u16(vl[IFLA_VLAN_ID]), 100);
        assert_int_equal(mnl_attr_get_u16(vl[IFLA_VLAN_PROTOCOL]), htons(ETH_P_8021Q));

        v.id = 4095;
        assert_int_equal(sf_link_build_vlandev(r, &v, &e), -EINVAL);
        assert_string_equal(e.field, "id");
        v.id = 5;
        v.parent = 0;
        assert_int_equal(sf_link_build_vlandev(r, &v, NULL), -EINVAL);
}

static void test_set(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1];
        const struct ifinfomsg *ifi;
        sf_link_change s = SF_LINK_CHANGE_INIT;

        s.up = 0;
        s.master = -1;
        s.mtu = 9000;
        assert_int_equal(sf_link_build_set(r, SF_LINK_IDX(4), &s, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_SETLINK);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        ifi = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ifi->ifi_index, 4);
        assert_int_equal(ifi->ifi_change, IFF_UP);
        assert_int_equal(ifi->ifi_flags, 0);
        attrs(only_msg(r), sizeof(*ifi), tb, IFLA_MAX);
        assert_attr_u32(tb[IFLA_MASTER], 0); /* nomaster */
        assert_attr_u32(tb[IFLA_MTU], 9000);
        assert_null(tb[IFLA_IFNAME]);

        /* by name, only up */
        sf_nlreq_reset(r);
        s = (sf_link_change) SF_LINK_CHANGE_INIT;
        s.up = 1;
        assert_int_equal(sf_link_build_set(r, SF_LINK_NAME("lo"), &s, NULL), 0);
        ifi = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ifi->ifi_index, 0);
        assert_int_equal(ifi->ifi_flags, IFF_UP);
        attrs(only_msg(r), sizeof(*ifi), tb, IFLA_MAX);
        assert_attr_str(tb[IFLA_IFNAME], "lo");
        assert_null(tb[IFLA_MASTER]);
        assert_null(tb[IFLA_MTU]);

        /* renaming needs the ifindex */
        s.new_name = "new0";
        assert_int_equal(sf_link_build_set(r, SF_LINK_NAME("lo"), &s, NULL), -EINVAL);
}

static void test_brport_state(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *pi[IFLA_BRPORT_MAX + 1];
        const struct ifinfomsg *ifi;
        sf_err e = SF_ERR_INIT;

        assert_int_equal(sf_link_build_brport_state(r, 9, BR_STATE_DISABLED, NULL), 0);
        assert_int_equal(only_msg(r)->nlmsg_type, RTM_SETLINK);
        assert_int_equal(only_msg(r)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        ifi = mnl_nlmsg_get_payload(only_msg(r));
        assert_int_equal(ifi->ifi_family, AF_BRIDGE);
        assert_int_equal(ifi->ifi_index, 9);
        attrs(only_msg(r), sizeof(*ifi), tb, IFLA_MAX);
        assert_non_null(tb[IFLA_PROTINFO]);
        /* nested, as the bridge's setlink wants it (else it takes the old single-byte form) */
        assert_true(tb[IFLA_PROTINFO]->nla_type & NLA_F_NESTED);
        nested(tb[IFLA_PROTINFO], pi, IFLA_BRPORT_MAX);
        assert_attr_u8(pi[IFLA_BRPORT_STATE], BR_STATE_DISABLED);

        assert_int_equal(sf_link_build_brport_state(r, 9, BR_STATE_BLOCKING + 1, &e), -EINVAL);
        assert_string_equal(e.field, "state");
        sf_err_clear(&e);
        assert_int_equal(sf_link_build_brport_state(r, 0, BR_STATE_FORWARDING, &e), -EINVAL);
        assert_string_equal(e.field, "ifindex");
        sf_err_clear(&e);
}

static void test_del_bytes(void **state)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        static const uint8_t expected[] = {
                44, 0, 0, 0,         /* nlmsg_len */
                RTM_DELLINK, 0,      /* nlmsg_type */
                NLM_F_REQUEST | NLM_F_ACK, 0,
                0, 0, 0, 0,          /* seq, written at send time */
                0, 0, 0, 0,          /* pid */
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* ifinfomsg */
                9, 0, IFLA_IFNAME, 0, 's', 'f', 'x', '0', 0, 0, 0, 0,
        };
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const void *data;
        size_t len;

        assert_int_equal(sf_link_build_del(r, SF_LINK_NAME("sfx0"), SF_NL_MISSING_OK, NULL), 0);
        data = sf_nlreq_data(r, &len);
        assert_int_equal(len, sizeof(expected));
        assert_memory_equal(data, expected, sizeof(expected));
        assert_string_equal(sf_nlreq_what(r, 0), "delete link 'sfx0'");
#else
        skip();
#endif
}

static void test_del_by_index(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1];
        assert_int_equal(sf_link_build_del(r, SF_LINK_IDX(12), 0, NULL), 0);
        assert_int_equal(((struct ifinfomsg *) mnl_nlmsg_get_payload(only_msg(r)))->ifi_index, 12);
        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        assert_null(tb[IFLA_IFNAME]);
        assert_string_equal(sf_nlreq_what(r, 0), "delete link ifindex 12");
}

static void test_parse(void **state)
{
        uint8_t buf[512];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifinfomsg *ifi;
        struct nlattr *li;
        sf_link_info l;

        nlh->nlmsg_type = RTM_NEWLINK;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_index = 8;
        ifi->ifi_flags = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, "sfc1");
        mnl_attr_put_u32(nlh, IFLA_MTU, 1450);
        mnl_attr_put_u32(nlh, IFLA_MASTER, 3);
        mnl_attr_put_u32(nlh, IFLA_LINK, 2);
        mnl_attr_put_u32(nlh, IFLA_LINK_NETNSID, 0);
        mnl_attr_put(nlh, IFLA_ADDRESS, 6, MAC1);
        li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        mnl_attr_nest_end(nlh, li);

        assert_int_equal(sf_link_parse(nlh, &l), 0);
        assert_int_equal(l.ifindex, 8);
        assert_string_equal(l.name, "sfc1");
        assert_string_equal(l.kind, "veth");
        assert_int_equal(l.mtu, 1450);
        assert_int_equal(l.master, 3);
        assert_int_equal(l.link, 2);
        assert_int_equal(l.link_netnsid, 0);
        assert_int_equal(l.flags & IFF_UP, IFF_UP);
        assert_memory_equal(l.mac, MAC1, 6);
        sf_link_info_done(&l);

        nlh->nlmsg_type = RTM_DELLINK;
        assert_int_equal(sf_link_parse(nlh, &l), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_veth_peer_in_netns),
                cmocka_unit_test(test_veth_minimal),
                cmocka_unit_test(test_veth_name_too_long),
                cmocka_unit_test(test_ifname_check),
                cmocka_unit_test(test_bridge),
                cmocka_unit_test(test_vxlan),
                cmocka_unit_test(test_vxlan_v6_and_validation),
                cmocka_unit_test(test_macvlan),
                cmocka_unit_test(test_vlandev),
                cmocka_unit_test(test_set),
                cmocka_unit_test(test_brport_state),
                cmocka_unit_test(test_del_bytes),
                cmocka_unit_test(test_del_by_index),
                cmocka_unit_test(test_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
