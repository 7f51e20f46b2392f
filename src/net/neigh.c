/* Neighbour and FDB entries over rtnetlink, and gratuitous ARP / unsolicited NA frames sent
 * through an AF_PACKET socket created inside the target namespace. */
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "net/internal.h"
#include "net/link.h"
#include "net/neigh.h"
#include "net/netns.h"

SF_LOG_MODULE("neigh");

static const char *fmt_addr(const sf_addr *a, char buf[static SF_ADDR_STRLEN])
{
        if (a->family != AF_INET && a->family != AF_INET6)
                return "-";
        return sf_addr_fmt(a, buf);
}

/* ---- neighbours ---- */

int sf_neigh_build(sf_nlreq *r, sf_nl_mode mode, const sf_neigh_cfg *c, unsigned flags, sf_err *e)
{
        char ab[SF_ADDR_STRLEN], mb[SF_MAC_STRLEN];
        struct ndmsg *ndm;

        if (c->ifindex <= 0)
                return sf_err_set(e, -EINVAL, "ifindex", "neighbour needs an interface");
        if (c->addr.family != AF_INET && c->addr.family != AF_INET6)
                return sf_err_set(e, -EINVAL, "addr", "neighbour needs an IPv4 or IPv6 address");

        if (mode == SF_NL_DEL)
                sf_nlreq_begin(r, RTM_DELNEIGH, 0, "delete neighbour %s on ifindex %d",
                               sf_addr_fmt(&c->addr, ab), c->ifindex);
        else
                sf_nlreq_begin(r, RTM_NEWNEIGH, sf_nl_mode_flags(mode),
                               "%s neighbour %s lladdr %s on ifindex %d", sf_nl_mode_verb(mode),
                               sf_addr_fmt(&c->addr, ab), sf_mac_fmt(c->lladdr, mb), c->ifindex);
        ndm = sf_nlreq_reserve(r, sizeof(*ndm));
        if (ndm) {
                ndm->ndm_family = c->addr.family;
                ndm->ndm_ifindex = c->ifindex;
                ndm->ndm_state = c->state ? c->state : NUD_PERMANENT;
                ndm->ndm_type = RTN_UNICAST;
        }
        sf_nlreq_put_addr(r, NDA_DST, &c->addr);
        if (mode != SF_NL_DEL)
                sf_nlreq_put(r, NDA_LLADDR, 6, c->lladdr);
        if (mode == SF_NL_DEL && (flags & SF_NL_MISSING_OK))
                sf_nlreq_tolerate(r, ENOENT);
        return sf_nlreq_end(r, e);
}

static int run_one(sf_nl *nl, sf_nlreq *r, sf_err *e)
{
        return sf_nl_exec(nl, r, NULL, NULL, e);
}

int sf_neigh_replace(sf_nl *nl, const sf_neigh_cfg *c, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        int ret = sf_neigh_build(r, SF_NL_REPLACE, c, 0, e);
        return ret < 0 ? ret : run_one(nl, r, e);
}

int sf_neigh_del(sf_nl *nl, const sf_neigh_cfg *c, unsigned flags, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        int ret = sf_neigh_build(r, SF_NL_DEL, c, flags, e);
        return ret < 0 ? ret : run_one(nl, r, e);
}

struct neigh_list {
        int family, ifindex;
        sf_neigh_entry *v;
        size_t n;
};

static int get_addr_attr(const struct nlattr *a, int family, sf_addr *ret)
{
        size_t want = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
        if (!a || !want || mnl_attr_get_payload_len(a) != want)
                return -EBADMSG;
        *ret = (sf_addr) { .family = family };
        memcpy(ret->b, mnl_attr_get_payload(a), want);
        return 0;
}

static int neigh_list_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        struct neigh_list *l = userdata;
        const struct nlattr *tb[NDA_MAX + 1];
        const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
        sf_neigh_entry n = {};

        if (nlh->nlmsg_type != RTM_NEWNEIGH)
                return 0;
        if (sf_nl_parse_attrs(nlh, sizeof(*ndm), tb, NDA_MAX) < 0)
                return sf_err_set(e, -EBADMSG, NULL, "malformed neighbour message");
        if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6)
                return 0;
        if (l->family != AF_UNSPEC && ndm->ndm_family != l->family)
                return 0;
        if (l->ifindex && ndm->ndm_ifindex != l->ifindex)
                return 0;
        if (get_addr_attr(tb[NDA_DST], ndm->ndm_family, &n.addr) < 0)
                return 0;
        n.ifindex = ndm->ndm_ifindex;
        n.state = ndm->ndm_state;
        n.flags = ndm->ndm_flags;
        if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6) {
                memcpy(n.lladdr, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
                n.has_lladdr = true;
        }
        l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = n;
        return 0;
}

int sf_neigh_list(sf_nl *nl, int family, int ifindex, sf_neigh_entry **ret, size_t *ret_n, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct neigh_list l = { .family = family, .ifindex = ifindex };
        struct ndmsg *ndm;
        int ret_code;

        sf_nlreq_begin(r, RTM_GETNEIGH, NLM_F_DUMP, "list neighbours");
        ndm = sf_nlreq_reserve(r, sizeof(*ndm));
        if (ndm)
                ndm->ndm_family = family;
        if (ifindex > 0)
                sf_nlreq_put_u32(r, NDA_IFINDEX, ifindex);
        ret_code = sf_nlreq_end(r, e);
        if (ret_code >= 0)
                ret_code = sf_nl_exec(nl, r, neigh_list_cb, &l, e);
        if (ret_code < 0) {
                free(l.v);
                return ret_code;
        }
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

const char *sf_nud_state_name(uint16_t state)
{
        static const struct {
                uint16_t bit;
                const char *name;
        } names[] = {
                { NUD_PERMANENT, "PERMANENT" }, { NUD_NOARP, "NOARP" },   { NUD_STALE, "STALE" },
                { NUD_FAILED, "FAILED" },       { NUD_PROBE, "PROBE" },   { NUD_DELAY, "DELAY" },
                { NUD_REACHABLE, "REACHABLE" }, { NUD_INCOMPLETE, "INCOMPLETE" },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (state & names[i].bit)
                        return names[i].name;
        return "NONE";
}

/* ---- FDB ---- */

int sf_fdb_build(sf_nlreq *r, sf_nl_mode mode, const sf_fdb_cfg *c, unsigned flags, sf_err *e)
{
        char mb[SF_MAC_STRLEN], ab[SF_ADDR_STRLEN];
        struct ndmsg *ndm;

        if (c->ifindex <= 0)
                return sf_err_set(e, -EINVAL, "ifindex", "FDB entry needs a device");
        if (c->dst.family && c->dst.family != AF_INET && c->dst.family != AF_INET6)
                return sf_err_set(e, -EINVAL, "dst", "remote must be IPv4 or IPv6");

        if (mode == SF_NL_DEL)
                sf_nlreq_begin(r, RTM_DELNEIGH, 0, "delete FDB entry %s dst %s on ifindex %d",
                               sf_mac_fmt(c->mac, mb), fmt_addr(&c->dst, ab), c->ifindex);
        else
                sf_nlreq_begin(r, RTM_NEWNEIGH, sf_nl_mode_flags(mode),
                               "%s FDB entry %s dst %s on ifindex %d", sf_nl_mode_verb(mode),
                               sf_mac_fmt(c->mac, mb), fmt_addr(&c->dst, ab), c->ifindex);
        ndm = sf_nlreq_reserve(r, sizeof(*ndm));
        if (ndm) {
                ndm->ndm_family = AF_BRIDGE;
                ndm->ndm_ifindex = c->ifindex;
                ndm->ndm_state = c->state ? c->state : NUD_PERMANENT | NUD_NOARP;
                ndm->ndm_flags = c->master ? NTF_MASTER : NTF_SELF;
        }
        sf_nlreq_put(r, NDA_LLADDR, 6, c->mac);
        if (c->dst.family)
                sf_nlreq_put_addr(r, NDA_DST, &c->dst);
        if (c->port)
                sf_nlreq_put_u16(r, NDA_PORT, htons(c->port));
        if (c->vni)
                sf_nlreq_put_u32(r, NDA_VNI, c->vni);
        if (mode == SF_NL_DEL && (flags & SF_NL_MISSING_OK))
                sf_nlreq_tolerate(r, ENOENT);
        return sf_nlreq_end(r, e);
}

int sf_fdb_append(sf_nl *nl, const sf_fdb_cfg *c, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        int ret = sf_fdb_build(r, SF_NL_APPEND, c, 0, e);
        return ret < 0 ? ret : run_one(nl, r, e);
}

int sf_fdb_del(sf_nl *nl, const sf_fdb_cfg *c, unsigned flags, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        int ret = sf_fdb_build(r, SF_NL_DEL, c, flags, e);
        return ret < 0 ? ret : run_one(nl, r, e);
}

struct fdb_list {
        int ifindex;
        sf_fdb_entry *v;
        size_t n;
};

static int fdb_list_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        struct fdb_list *l = userdata;
        const struct nlattr *tb[NDA_MAX + 1];
        const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
        sf_fdb_entry f = {};

        if (nlh->nlmsg_type != RTM_NEWNEIGH)
                return 0;
        if (sf_nl_parse_attrs(nlh, sizeof(*ndm), tb, NDA_MAX) < 0)
                return sf_err_set(e, -EBADMSG, NULL, "malformed FDB message");
        if (ndm->ndm_family != AF_BRIDGE)
                return 0;
        if (l->ifindex && ndm->ndm_ifindex != l->ifindex)
                return 0;
        if (!tb[NDA_LLADDR] || mnl_attr_get_payload_len(tb[NDA_LLADDR]) != 6)
                return 0;
        memcpy(f.mac, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
        f.ifindex = ndm->ndm_ifindex;
        f.state = ndm->ndm_state;
        f.flags = ndm->ndm_flags;
        if (tb[NDA_DST]) {
                size_t len = mnl_attr_get_payload_len(tb[NDA_DST]);
                (void) get_addr_attr(tb[NDA_DST], len == 4 ? AF_INET : AF_INET6, &f.dst);
        }
        if (tb[NDA_VNI] && mnl_attr_get_payload_len(tb[NDA_VNI]) == 4)
                f.vni = mnl_attr_get_u32(tb[NDA_VNI]);
        if (tb[NDA_VLAN] && mnl_attr_get_payload_len(tb[NDA_VLAN]) == 2)
                f.vlan = mnl_attr_get_u16(tb[NDA_VLAN]);
        if (tb[NDA_MASTER] && mnl_attr_get_payload_len(tb[NDA_MASTER]) == 4)
                f.master = (int) mnl_attr_get_u32(tb[NDA_MASTER]);
        l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = f;
        return 0;
}

int sf_fdb_list(sf_nl *nl, int ifindex, sf_fdb_entry **ret, size_t *ret_n, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct fdb_list l = { .ifindex = ifindex };
        struct ndmsg *ndm;
        int rc;

        sf_nlreq_begin(r, RTM_GETNEIGH, NLM_F_DUMP, "list FDB entries");
        ndm = sf_nlreq_reserve(r, sizeof(*ndm));
        if (ndm) {
                ndm->ndm_family = AF_BRIDGE;
                /* With strict checking the kernel only walks this device. */
                ndm->ndm_ifindex = ifindex > 0 ? ifindex : 0;
        }
        rc = sf_nlreq_end(r, e);
        if (rc >= 0)
                rc = sf_nl_exec(nl, r, fdb_list_cb, &l, e);
        if (rc < 0) {
                free(l.v);
                return rc;
        }
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

/* ---- gratuitous ARP / unsolicited NA ---- */

void sf_garp_build_arp(uint8_t buf[static SF_GARP_ARP_LEN], const uint8_t mac[6], const struct in_addr *ip)
{
        memset(buf, 0, SF_GARP_ARP_LEN);
        buf[0] = 0, buf[1] = 1;       /* hardware type: Ethernet */
        buf[2] = 0x08, buf[3] = 0x00; /* protocol type: IPv4 */
        buf[4] = 6, buf[5] = 4;       /* address lengths */
        buf[6] = 0, buf[7] = 1;       /* operation: request */
        memcpy(buf + 8, mac, 6);      /* sender MAC */
        memcpy(buf + 14, ip, 4);      /* sender IP */
        /* target MAC stays zero (RFC 5227 announcement) */
        memcpy(buf + 24, ip, 4); /* target IP = sender IP */
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t) p[i] << 8 | p[i + 1];
        if (len & 1)
                sum += (uint32_t) p[len - 1] << 8;
        return sum;
}

void sf_garp_build_na(uint8_t buf[static SF_GARP_NA_LEN], const uint8_t mac[6], const struct in6_addr *ip)
{
        static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };
        uint8_t *icmp = buf + 40, pseudo[8] = { 0, 0, 0, 32, 0, 0, 0, IPPROTO_ICMPV6 };
        uint32_t sum = 0;

        memset(buf, 0, SF_GARP_NA_LEN);
        buf[0] = 0x60;         /* version 6 */
        buf[4] = 0, buf[5] = 32; /* payload length: NA (24) + target link-layer option (8) */
        buf[6] = IPPROTO_ICMPV6;
        buf[7] = 255; /* hop limit, required by RFC 4861 */
        memcpy(buf + 8, ip, 16);
        memcpy(buf + 24, all_nodes, 16);

        icmp[0] = 136;  /* neighbour advertisement */
        icmp[4] = 0x20; /* flags: override */
        memcpy(icmp + 8, ip, 16);
        icmp[24] = 2; /* option: target link-layer address */
        icmp[25] = 1; /* length in units of 8 bytes */
        memcpy(icmp + 26, mac, 6);

        sum = csum_add(sum, buf + 8, 32); /* source and destination */
        sum = csum_add(sum, pseudo, sizeof(pseudo));
        sum = csum_add(sum, icmp, 32);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        sum = ~sum & 0xffff;
        icmp[2] = sum >> 8;
        icmp[3] = sum & 0xff;
}

int sf_garp_send(int netns_fd, const char *ifname, const sf_addr *addr, unsigned count, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF;
        uint8_t frame[SF_GARP_NA_LEN > SF_GARP_ARP_LEN ? SF_GARP_NA_LEN : SF_GARP_ARP_LEN];
        struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = 6 };
        struct ifreq ifr = {};
        uint16_t proto;
        size_t len;
        int saved = -EBADF, r;

        r = sf_ifname_check(ifname, "ifname", e);
        if (r < 0)
                return r;
        if (addr->family != AF_INET && addr->family != AF_INET6)
                return sf_err_set(e, -EINVAL, "addr", "must be IPv4 or IPv6");
        proto = addr->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6;

        if (netns_fd >= 0) {
                r = sf_netns_enter(netns_fd, &saved, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "gratuitous ARP");
        }
        fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(proto));
        r = fd < 0 ? -errno : 0;
        if (netns_fd >= 0)
                sf_netns_leave(saved);
        if (r < 0)
                return sf_err_errno(e, r, "open packet socket");

        /* The ioctls resolve the name in the socket's namespace. */
        memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
                return sf_err_errno(e, -errno, "interface '%s'", ifname);
        sll.sll_ifindex = ifr.ifr_ifindex;
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
                return sf_err_errno(e, -errno, "MAC address of '%s'", ifname);
        sll.sll_protocol = htons(proto);

        if (addr->family == AF_INET) {
                sf_garp_build_arp(frame, (const uint8_t *) ifr.ifr_hwaddr.sa_data, &addr->v4);
                len = SF_GARP_ARP_LEN;
                memset(sll.sll_addr, 0xff, 6);
        } else {
                static const uint8_t mc[6] = { 0x33, 0x33, 0, 0, 0, 1 };
                sf_garp_build_na(frame, (const uint8_t *) ifr.ifr_hwaddr.sa_data, &addr->v6);
                len = SF_GARP_NA_LEN;
                memcpy(sll.sll_addr, mc, 6);
        }
        for (unsigned i = 0; i < MAX(count, 1u); i++)
                if (sendto(fd, frame, len, 0, (struct sockaddr *) &sll, sizeof(sll)) < 0)
                        return sf_err_errno(e, -errno, "send gratuitous %s on '%s'",
                                            addr->family == AF_INET ? "ARP" : "NA", ifname);
        return 0;
}
