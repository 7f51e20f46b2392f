/* Link requests (RTM_NEWLINK/SETLINK/DELLINK/GETLINK) for bridges, veth, VXLAN, macvlan and
 * tap devices, bridge port states, and link queries. */
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/ioctl.h>

#include "lib/log.h"
#include "net/internal.h"
#include "net/link.h"
#include "net/netns.h"

SF_LOG_MODULE("link");

int sf_ifname_check(const char *name, const char *field, sf_err *e)
{
        size_t len;
        if (!name || !*name)
                return sf_err_set(e, -EINVAL, field, "interface name must not be empty");
        len = strlen(name);
        if (len >= IFNAMSIZ)
                return sf_err_set(e, -EINVAL, field,
                                  "interface name '%s' is %zu bytes long, the maximum is %d", name,
                                  len, IFNAMSIZ - 1);
        if (STREQ(name, ".") || STREQ(name, ".."))
                return sf_err_set(e, -EINVAL, field, "interface name '%s' is not allowed", name);
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || *p == ' ' || *p == '\t' || *p == '\n' ||
                    (unsigned char) *p < 0x20 || (unsigned char) *p == 0x7f)
                        return sf_err_set(e, -EINVAL, field,
                                          "interface name '%s' contains an invalid character",
                                          name);
        return 0;
}

static int check_mtu(unsigned mtu, sf_err *e)
{
        if (mtu && (mtu < 68 || mtu > 65535))
                return sf_err_set(e, -EINVAL, "mtu", "must be between 68 and 65535");
        return 0;
}

/* Starts an RTM_NEWLINK that creates a device: the ifinfomsg with the up flag, the name, MTU,
 * MAC and master, and the IFLA_LINKINFO nest with the kind; returns the nest. */
static struct nlattr *begin_create(sf_nlreq *r, const char *kind, const char *name, bool up,
                                   unsigned mtu, const uint8_t *mac, int master)
{
        struct ifinfomsg *ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        struct nlattr *li;

        if (ifi) {
                ifi->ifi_family = AF_UNSPEC;
                if (up) {
                        ifi->ifi_flags = IFF_UP;
                        ifi->ifi_change = IFF_UP;
                }
        }
        sf_nlreq_put_strz(r, IFLA_IFNAME, name);
        if (mtu)
                sf_nlreq_put_u32(r, IFLA_MTU, mtu);
        if (mac)
                sf_nlreq_put(r, IFLA_ADDRESS, 6, mac);
        if (master > 0)
                sf_nlreq_put_u32(r, IFLA_MASTER, master);
        li = sf_nlreq_nest_start(r, IFLA_LINKINFO);
        sf_nlreq_put_strz(r, IFLA_INFO_KIND, kind);
        return li;
}

static int run(sf_nl *nl, sf_nlreq *r, int built, sf_err *e)
{
        if (built < 0)
                return built;
        return sf_nl_exec(nl, r, NULL, NULL, e);
}

#define RUN_BUILD(nl, build, ...)                                        \
        ({                                                               \
                _cleanup_nlreq_ sf_nlreq *_r = sf_nlreq_new();           \
                int _b = build(_r, __VA_ARGS__);                         \
                run((nl), _r, _b, e);                                    \
        })

/* ---- bridge ---- */

int sf_link_build_bridge(sf_nlreq *r, const sf_bridge_cfg *c, sf_err *e)
{
        struct nlattr *li, *data;
        int ret;

        if ((ret = sf_ifname_check(c->name, "name", e)) < 0 || (ret = check_mtu(c->mtu, e)) < 0)
                return ret;
        sf_nlreq_begin(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, "create bridge '%s'", c->name);
        li = begin_create(r, "bridge", c->name, c->up, c->mtu, c->mac, 0);
        data = sf_nlreq_nest_start(r, IFLA_INFO_DATA);
        sf_nlreq_put_u32(r, IFLA_BR_FORWARD_DELAY, 0);
        sf_nlreq_put_u32(r, IFLA_BR_STP_STATE, 0);
        if (c->vlan_filtering)
                sf_nlreq_put_u8(r, IFLA_BR_VLAN_FILTERING, 1);
        sf_nlreq_nest_end(r, data);
        sf_nlreq_nest_end(r, li);
        return sf_nlreq_end(r, e);
}

int sf_link_create_bridge(sf_nl *nl, const sf_bridge_cfg *c, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_bridge, c, e);
}

/* ---- veth ---- */

int sf_link_build_veth(sf_nlreq *r, const sf_veth_cfg *c, sf_err *e)
{
        struct nlattr *li, *data, *peer;
        struct ifinfomsg *pifi;
        int ret;

        if ((ret = sf_ifname_check(c->name, "name", e)) < 0 ||
            (ret = sf_ifname_check(c->peer_name, "peer_name", e)) < 0 ||
            (ret = check_mtu(c->mtu, e)) < 0)
                return ret;
        sf_nlreq_begin(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, "create veth '%s' (peer '%s')",
                       c->name, c->peer_name);
        li = begin_create(r, "veth", c->name, c->up, c->mtu, c->mac, c->master);
        data = sf_nlreq_nest_start(r, IFLA_INFO_DATA);
        peer = sf_nlreq_nest_start(r, VETH_INFO_PEER);
        /* The peer's attributes follow its own ifinfomsg inside the nest. */
        pifi = sf_nlreq_reserve(r, sizeof(*pifi));
        if (pifi)
                pifi->ifi_family = AF_UNSPEC;
        sf_nlreq_put_strz(r, IFLA_IFNAME, c->peer_name);
        if (c->mtu)
                sf_nlreq_put_u32(r, IFLA_MTU, c->mtu);
        if (c->peer_mac)
                sf_nlreq_put(r, IFLA_ADDRESS, 6, c->peer_mac);
        if (c->peer_netns_fd >= 0)
                sf_nlreq_put_u32(r, IFLA_NET_NS_FD, (uint32_t) c->peer_netns_fd);
        sf_nlreq_nest_end(r, peer);
        sf_nlreq_nest_end(r, data);
        sf_nlreq_nest_end(r, li);
        return sf_nlreq_end(r, e);
}

int sf_link_create_veth(sf_nl *nl, const sf_veth_cfg *c, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_veth, c, e);
}

/* ---- vxlan ---- */

int sf_link_build_vxlan(sf_nlreq *r, const sf_vxlan_cfg *c, sf_err *e)
{
        struct nlattr *li, *data;
        int ret;

        if ((ret = sf_ifname_check(c->name, "name", e)) < 0 || (ret = check_mtu(c->mtu, e)) < 0)
                return ret;
        if (c->vni == 0 || c->vni > 0xffffff)
                return sf_err_set(e, -EINVAL, "vni", "must be between 1 and 16777215");
        if (c->local.family && c->local.family != AF_INET && c->local.family != AF_INET6)
                return sf_err_set(e, -EINVAL, "local", "must be IPv4 or IPv6");

        sf_nlreq_begin(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, "create vxlan '%s' (vni %u)",
                       c->name, c->vni);
        li = begin_create(r, "vxlan", c->name, c->up, c->mtu, c->mac, c->master);
        data = sf_nlreq_nest_start(r, IFLA_INFO_DATA);
        sf_nlreq_put_u32(r, IFLA_VXLAN_ID, c->vni);
        if (c->local.family == AF_INET)
                sf_nlreq_put(r, IFLA_VXLAN_LOCAL, 4, &c->local.v4);
        else if (c->local.family == AF_INET6)
                sf_nlreq_put(r, IFLA_VXLAN_LOCAL6, 16, &c->local.v6);
        if (c->underlay > 0)
                sf_nlreq_put_u32(r, IFLA_VXLAN_LINK, c->underlay);
        sf_nlreq_put_u16(r, IFLA_VXLAN_PORT, htons(c->dstport ? c->dstport : 4789));
        sf_nlreq_put_u8(r, IFLA_VXLAN_LEARNING, c->learning ? 1 : 0);
        if (c->proxy)
                sf_nlreq_put_u8(r, IFLA_VXLAN_PROXY, 1);
        if (c->ttl)
                sf_nlreq_put_u8(r, IFLA_VXLAN_TTL, c->ttl);
        sf_nlreq_nest_end(r, data);
        sf_nlreq_nest_end(r, li);
        return sf_nlreq_end(r, e);
}

int sf_link_create_vxlan(sf_nl *nl, const sf_vxlan_cfg *c, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_vxlan, c, e);
}

/* ---- macvlan ---- */

int sf_link_build_macvlan(sf_nlreq *r, const sf_macvlan_cfg *c, sf_err *e)
{
        struct nlattr *li, *data;
        int ret;

        if ((ret = sf_ifname_check(c->name, "name", e)) < 0 || (ret = check_mtu(c->mtu, e)) < 0)
                return ret;
        if (c->parent <= 0)
                return sf_err_set(e, -EINVAL, "parent", "macvlan needs a parent device");
        sf_nlreq_begin(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                       "create macvlan '%s' on ifindex %d", c->name, c->parent);
        li = begin_create(r, "macvlan", c->name, c->up, c->mtu, c->mac, 0);
        data = sf_nlreq_nest_start(r, IFLA_INFO_DATA);
        sf_nlreq_put_u32(r, IFLA_MACVLAN_MODE, c->mode ? c->mode : MACVLAN_MODE_BRIDGE);
        sf_nlreq_nest_end(r, data);
        sf_nlreq_nest_end(r, li);
        /* The parent is looked up in the requester's namespace, the device made in netns_fd. */
        sf_nlreq_put_u32(r, IFLA_LINK, c->parent);
        if (c->netns_fd >= 0)
                sf_nlreq_put_u32(r, IFLA_NET_NS_FD, (uint32_t) c->netns_fd);
        return sf_nlreq_end(r, e);
}

int sf_link_create_macvlan(sf_nl *nl, const sf_macvlan_cfg *c, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_macvlan, c, e);
}

int sf_link_build_vlandev(sf_nlreq *r, const sf_vlandev_cfg *c, sf_err *e)
{
        struct nlattr *li, *data;
        int ret;

        if ((ret = sf_ifname_check(c->name, "name", e)) < 0 || (ret = check_mtu(c->mtu, e)) < 0)
                return ret;
        if (c->parent <= 0)
                return sf_err_set(e, -EINVAL, "parent", "a VLAN device needs a parent device");
        if (c->id < 1 || c->id > 4094)
                return sf_err_set(e, -EINVAL, "id", "%u is not a VLAN id (1-4094)", c->id);
        sf_nlreq_begin(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                       "create VLAN %u device '%s' on ifindex %d", c->id, c->name, c->parent);
        li = begin_create(r, "vlan", c->name, c->up, c->mtu, c->mac, c->master);
        data = sf_nlreq_nest_start(r, IFLA_INFO_DATA);
        sf_nlreq_put_u16(r, IFLA_VLAN_ID, c->id);
        sf_nlreq_put_u16(r, IFLA_VLAN_PROTOCOL, htons(ETH_P_8021Q));
        sf_nlreq_nest_end(r, data);
        sf_nlreq_nest_end(r, li);
        sf_nlreq_put_u32(r, IFLA_LINK, c->parent);
        if (c->netns_fd > 0)
                sf_nlreq_put_u32(r, IFLA_NET_NS_FD, (uint32_t) c->netns_fd);
        return sf_nlreq_end(r, e);
}

int sf_link_create_vlandev(sf_nl *nl, const sf_vlandev_cfg *c, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_vlandev, c, e);
}

/* ---- set / delete ---- */

static struct ifinfomsg *begin_id(sf_nlreq *r, sf_link_id id)
{
        struct ifinfomsg *ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        if (ifi) {
                ifi->ifi_family = AF_UNSPEC;
                ifi->ifi_index = id.ifindex > 0 ? id.ifindex : 0;
        }
        if (id.ifindex <= 0)
                sf_nlreq_put_strz(r, IFLA_IFNAME, id.name);
        return ifi;
}

static int check_id(sf_link_id id, sf_err *e)
{
        if (id.ifindex > 0)
                return 0;
        return sf_ifname_check(id.name, "name", e);
}

/* "'eth0'" or "ifindex 3", for messages. */
static char *id_fmt(sf_link_id id)
{
        return id.ifindex > 0 ? xasprintf("ifindex %d", id.ifindex) : xasprintf("'%s'", id.name);
}

int sf_link_build_set(sf_nlreq *r, sf_link_id id, const sf_link_change *s, sf_err *e)
{
        _cleanup_free_ char *idf = NULL;
        struct ifinfomsg *ifi;
        int ret;

        if ((ret = check_id(id, e)) < 0 || (ret = check_mtu(s->mtu, e)) < 0)
                return ret;
        if (s->new_name) {
                if (id.ifindex <= 0)
                        return sf_err_set(e, -EINVAL, "new_name", "renaming needs the ifindex");
                if ((ret = sf_ifname_check(s->new_name, "new_name", e)) < 0)
                        return ret;
        }
        idf = id_fmt(id);
        sf_nlreq_begin(r, RTM_SETLINK, 0, "set link %s%s%s%s%s%s%s", idf,
                       s->up > 0 ? " up" : s->up == 0 ? " down" : "", s->mtu ? " mtu" : "",
                       s->mac ? " address" : "", s->master ? " master" : "",
                       s->new_name ? " name" : s->netns_fd >= 0 ? " netns" : "",
                       s->no_ipv6_addrs ? " addrgenmode none" : "");
        ifi = begin_id(r, id);
        if (ifi && s->up >= 0) {
                ifi->ifi_change = IFF_UP;
                ifi->ifi_flags = s->up ? IFF_UP : 0;
        }
        if (s->new_name)
                sf_nlreq_put_strz(r, IFLA_IFNAME, s->new_name);
        if (s->mtu)
                sf_nlreq_put_u32(r, IFLA_MTU, s->mtu);
        if (s->mac)
                sf_nlreq_put(r, IFLA_ADDRESS, 6, s->mac);
        if (s->master)
                sf_nlreq_put_u32(r, IFLA_MASTER, s->master > 0 ? (uint32_t) s->master : 0);
        if (s->netns_fd >= 0)
                sf_nlreq_put_u32(r, IFLA_NET_NS_FD, (uint32_t) s->netns_fd);
        if (s->no_ipv6_addrs) {
                struct nlattr *af = sf_nlreq_nest_start(r, IFLA_AF_SPEC);
                struct nlattr *in6 = sf_nlreq_nest_start(r, AF_INET6);
                sf_nlreq_put_u8(r, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
                sf_nlreq_nest_end(r, in6);
                sf_nlreq_nest_end(r, af);
        }
        return sf_nlreq_end(r, e);
}

int sf_link_set(sf_nl *nl, sf_link_id id, const sf_link_change *s, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_set, id, s, e);
}

int sf_link_build_brport_state(sf_nlreq *r, int ifindex, uint8_t state, sf_err *e)
{
        struct ifinfomsg *ifi;
        struct nlattr *pi;
        if (ifindex <= 0)
                return sf_err_set(e, -EINVAL, "ifindex", "must be positive");
        if (state > BR_STATE_BLOCKING)
                return sf_err_set(e, -EINVAL, "state", "%u is no bridge port state", (unsigned) state);
        sf_nlreq_begin(r, RTM_SETLINK, 0, "set bridge port ifindex %d state %u", ifindex, (unsigned) state);
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        if (ifi) {
                ifi->ifi_family = AF_BRIDGE;
                ifi->ifi_index = ifindex;
        }
        pi = sf_nlreq_nest_start(r, IFLA_PROTINFO);
        sf_nlreq_put_u8(r, IFLA_BRPORT_STATE, state);
        sf_nlreq_nest_end(r, pi);
        return sf_nlreq_end(r, e);
}

int sf_link_set_brport_state(sf_nl *nl, int ifindex, uint8_t state, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_brport_state, ifindex, state, e);
}

int sf_link_set_up(sf_nl *nl, sf_link_id id, bool up, sf_err *e)
{
        sf_link_change s = SF_LINK_CHANGE_INIT;
        s.up = up;
        return sf_link_set(nl, id, &s, e);
}

int sf_link_set_mtu(sf_nl *nl, sf_link_id id, unsigned mtu, sf_err *e)
{
        sf_link_change s = SF_LINK_CHANGE_INIT;
        if (!mtu)
                return sf_err_set(e, -EINVAL, "mtu", "must be between 68 and 65535");
        s.mtu = mtu;
        return sf_link_set(nl, id, &s, e);
}

int sf_link_set_master(sf_nl *nl, sf_link_id id, int master, sf_err *e)
{
        sf_link_change s = SF_LINK_CHANGE_INIT;
        s.master = master > 0 ? master : -1;
        return sf_link_set(nl, id, &s, e);
}

int sf_link_set_mac(sf_nl *nl, sf_link_id id, const uint8_t mac[6], sf_err *e)
{
        sf_link_change s = SF_LINK_CHANGE_INIT;
        s.mac = mac;
        return sf_link_set(nl, id, &s, e);
}

int sf_link_set_name(sf_nl *nl, int ifindex, const char *new_name, sf_err *e)
{
        sf_link_change s = SF_LINK_CHANGE_INIT;
        s.new_name = new_name;
        return sf_link_set(nl, SF_LINK_IDX(ifindex), &s, e);
}

int sf_link_build_del(sf_nlreq *r, sf_link_id id, unsigned flags, sf_err *e)
{
        _cleanup_free_ char *idf = NULL;
        int ret = check_id(id, e);
        if (ret < 0)
                return ret;
        idf = id_fmt(id);
        sf_nlreq_begin(r, RTM_DELLINK, 0, "delete link %s", idf);
        begin_id(r, id);
        if (flags & SF_NL_MISSING_OK)
                sf_nlreq_tolerate(r, ENODEV);
        return sf_nlreq_end(r, e);
}

int sf_link_del(sf_nl *nl, sf_link_id id, unsigned flags, sf_err *e)
{
        return RUN_BUILD(nl, sf_link_build_del, id, flags, e);
}

/* ---- tap ---- */

int sf_tap_create(sf_nl *nl, const sf_tap_cfg *c, int *ret_fd, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF;
        sf_link_change s = SF_LINK_CHANGE_INIT;
        struct ifreq ifr = {};
        int saved = -EBADF, r;

        if ((r = sf_ifname_check(c->name, "name", e)) < 0 || (r = check_mtu(c->mtu, e)) < 0)
                return r;
        if (!ret_fd && !c->persist)
                return sf_err_set(e, -EINVAL, "persist",
                                  "a tap that is not persistent needs its fd kept");

        /* The tap is created in the namespace the fd was opened in. */
        if (c->netns_fd >= 0) {
                r = sf_netns_enter(c->netns_fd, &saved, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "create tap '%s'", c->name);
        }
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        if (c->netns_fd >= 0)
                sf_netns_leave(saved);
        if (r < 0)
                return sf_err_errno(e, r, "create tap '%s': open /dev/net/tun", c->name);

        memcpy(ifr.ifr_name, c->name, strlen(c->name) + 1);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (c->vnet_hdr)
                ifr.ifr_flags |= IFF_VNET_HDR;
        if (c->multi_queue)
                ifr.ifr_flags |= IFF_MULTI_QUEUE;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return sf_err_errno(e, -errno, "create tap '%s': TUNSETIFF", c->name);
        if (c->persist && ioctl(fd, TUNSETPERSIST, 1) < 0)
                return sf_err_errno(e, -errno, "create tap '%s': TUNSETPERSIST", c->name);

        s.up = c->up ? 1 : -1;
        s.mtu = c->mtu;
        s.mac = c->mac;
        s.master = c->master > 0 ? c->master : 0;
        if (s.up > 0 || s.mtu || s.mac || s.master) {
                r = sf_link_set(nl, SF_LINK_NAME(c->name), &s, e);
                if (r < 0) {
                        if (c->persist)
                                (void) ioctl(fd, TUNSETPERSIST, 0);
                        return sf_err_wrap(r, e, "create tap '%s'", c->name);
                }
        }
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        return 0;
}

/* ---- query ---- */

void sf_link_info_done(sf_link_info *l)
{
        if (!l)
                return;
        free(l->kind);
        l->kind = NULL;
}

void sf_link_info_free_array(sf_link_info *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                sf_link_info_done(&v[i]);
        free(v);
}

int sf_link_parse(const struct nlmsghdr *nlh, sf_link_info *ret)
{
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        sf_link_info l = { .link_netnsid = -1 };

        if (nlh->nlmsg_type != RTM_NEWLINK || sf_nl_parse_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX) < 0)
                return -EBADMSG;
        if (!tb[IFLA_IFNAME] || mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING) < 0)
                return -EBADMSG;
        l.ifindex = ifi->ifi_index;
        l.flags = ifi->ifi_flags;
        snprintf(l.name, sizeof(l.name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
        if (tb[IFLA_MTU] && mnl_attr_get_payload_len(tb[IFLA_MTU]) == 4)
                l.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
        if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6)
                memcpy(l.mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
        if (tb[IFLA_MASTER] && mnl_attr_get_payload_len(tb[IFLA_MASTER]) == 4)
                l.master = (int) mnl_attr_get_u32(tb[IFLA_MASTER]);
        if (tb[IFLA_LINK] && mnl_attr_get_payload_len(tb[IFLA_LINK]) == 4)
                l.link = (int) mnl_attr_get_u32(tb[IFLA_LINK]);
        if (tb[IFLA_LINK_NETNSID] && mnl_attr_get_payload_len(tb[IFLA_LINK_NETNSID]) == 4)
                l.link_netnsid = (int) mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]);
        if (tb[IFLA_LINKINFO] && sf_nl_parse_nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX) == 0 &&
            li[IFLA_INFO_KIND] && mnl_attr_validate(li[IFLA_INFO_KIND], MNL_TYPE_NUL_STRING) == 0)
                l.kind = xstrdup(mnl_attr_get_str(li[IFLA_INFO_KIND]));
        *ret = l;
        return 0;
}

struct link_list {
        const char *prefix;
        sf_link_info *v;
        size_t n;
};

static int link_list_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        struct link_list *l = userdata;
        sf_link_info info;

        if (nlh->nlmsg_type != RTM_NEWLINK)
                return 0;
        if (sf_link_parse(nlh, &info) < 0)
                return sf_err_set(e, -EBADMSG, NULL, "malformed link message");
        if (l->prefix && strncmp(info.name, l->prefix, strlen(l->prefix)) != 0) {
                sf_link_info_done(&info);
                return 0;
        }
        l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = info;
        return 0;
}


int sf_link_get(sf_nl *nl, sf_link_id id, sf_link_info *ret, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_free_ char *idf = NULL;
        struct link_list l = {};
        int rc;

        if ((rc = check_id(id, e)) < 0)
                return rc;
        idf = id_fmt(id);
        sf_nlreq_begin(r, RTM_GETLINK, 0, "get link %s", idf);
        begin_id(r, id);
        sf_nlreq_put_u32(r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        rc = sf_nlreq_end(r, e);
        if (rc >= 0)
                rc = sf_nl_exec(nl, r, link_list_cb, &l, e);
        if (rc >= 0 && l.n != 1)
                rc = sf_err_set(e, -ENODEV, NULL, "get link %s: no answer", idf);
        if (rc < 0) {
                sf_link_info_free_array(l.v, l.n);
                return rc;
        }
        *ret = l.v[0];
        free(l.v);
        return 0;
}

int sf_link_ifindex(sf_nl *nl, const char *name, sf_err *e)
{
        sf_link_info info;
        int r = sf_link_get(nl, SF_LINK_NAME(name), &info, e);
        if (r < 0)
                return r;
        sf_link_info_done(&info);
        return info.ifindex;
}

int sf_link_list(sf_nl *nl, const char *prefix, sf_link_info **ret, size_t *ret_n, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct link_list l = { .prefix = prefix && *prefix ? prefix : NULL };
        struct ifinfomsg *ifi;
        int rc;

        sf_nlreq_begin(r, RTM_GETLINK, NLM_F_DUMP, "list links");
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        if (ifi)
                ifi->ifi_family = AF_UNSPEC;
        sf_nlreq_put_u32(r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        rc = sf_nlreq_end(r, e);
        if (rc >= 0)
                rc = sf_nl_exec(nl, r, link_list_cb, &l, e);
        if (rc < 0) {
                sf_link_info_free_array(l.v, l.n);
                return rc;
        }
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}
