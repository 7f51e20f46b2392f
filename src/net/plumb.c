/* Plumbing a container port in one veth request plus one batch inside the namespace, and
 * removing it. */
#include <fcntl.h>
#include <linux/rtnetlink.h>

#include "lib/log.h"
#include "net/internal.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/plumb.h"

SF_LOG_MODULE("plumb");

struct echo {
        const char *host_ifname;
        int host_ifindex;
        int peer_ifindex;
};

static int echo_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        struct echo *x = userdata;
        sf_link_info info;

        if (nlh->nlmsg_type != RTM_NEWLINK || sf_link_parse(nlh, &info) < 0)
                return 0;
        if (STREQ(info.name, x->host_ifname)) {
                x->host_ifindex = info.ifindex;
                if (info.link > 0 && info.link != info.ifindex)
                        x->peer_ifindex = info.link;
        }
        sf_link_info_done(&info);
        return 0;
}

static int validate(const sf_plumb_cfg *c, const char *peer, sf_err *e)
{
        bool gw4 = false, gw6 = false;
        int r;

        if (!c->netns_path || c->netns_path[0] != '/')
                return sf_err_set(e, -EINVAL, "netns_path", "must be an absolute path");
        if ((r = sf_ifname_check(c->host_ifname, "host_ifname", e)) < 0)
                return r;
        if ((r = sf_ifname_check(peer, "peer_ifname", e)) < 0)
                return r;
        if (c->kind != SF_PLUMB_VETH && c->lower_ifindex <= 0)
                return sf_err_set(e, -EINVAL, "lower_ifindex", "a nested port needs the device it sits on");
        if (c->kind == SF_PLUMB_VLAN && (c->vlan_id < 1 || c->vlan_id > 4094))
                return sf_err_set(e, -EINVAL, "vlan_id", "%u is not a VLAN id (1-4094)", c->vlan_id);
        if (c->bridge && (r = sf_ifname_check(c->bridge, "bridge", e)) < 0)
                return r;
        for (size_t i = 0; i < c->n_addrs; i++)
                if (c->addrs[i].addr.family != AF_INET && c->addrs[i].addr.family != AF_INET6)
                        return sf_err_set(e, -EINVAL, "addrs", "address %zu is not IPv4 or IPv6", i);
        for (size_t i = 0; i < c->n_gateways; i++) {
                bool *seen = c->gateways[i].family == AF_INET ? &gw4 : &gw6;
                if (c->gateways[i].family != AF_INET && c->gateways[i].family != AF_INET6)
                        return sf_err_set(e, -EINVAL, "gateways", "gateway %zu is not IPv4 or IPv6", i);
                if (*seen)
                        return sf_err_set(e, -EINVAL, "gateways", "more than one gateway per family");
                *seen = true;
        }
        return 0;
}

static bool covered(const sf_plumb_cfg *c, const sf_addr *gw)
{
        for (size_t i = 0; i < c->n_addrs; i++)
                if (c->addrs[i].addr.family == gw->family && sf_prefix_contains(&c->addrs[i], gw))
                        return true;
        return false;
}

/* The batch run inside the namespace. */
static int build_inside(sf_nlreq *r, const sf_plumb_cfg *c, int peer, sf_err *e)
{
        sf_link_change up = SF_LINK_CHANGE_INIT;
        int rc;

        up.up = 1;
        if ((rc = sf_link_build_set(r, SF_LINK_NAME("lo"), &up, e)) < 0)
                return rc;
        for (size_t i = 0; i < c->n_addrs; i++) {
                sf_ipaddr_cfg a = {
                        .ifindex = peer,
                        .prefix = c->addrs[i],
                        .nodad = !c->ipv6_dad,
                        .broadcast = true,
                };
                if ((rc = sf_ipaddr_build(r, SF_NL_REPLACE, &a, 0, e)) < 0)
                        return rc;
        }
        if ((rc = sf_link_build_set(r, SF_LINK_IDX(peer), &up, e)) < 0)
                return rc;
        for (size_t i = 0; i < c->n_gateways; i++) {
                sf_route_cfg rt = {
                        .dst = { .addr = { .family = c->gateways[i].family }, .len = 0 },
                        .gateway = c->gateways[i],
                        .oif = peer,
                        .onlink = !covered(c, &c->gateways[i]),
                };
                if ((rc = sf_route_build(r, SF_NL_REPLACE, &rt, 0, e)) < 0)
                        return rc;
        }
        for (size_t i = 0; i < c->n_routes; i++) {
                sf_route_cfg rt = c->routes[i];
                rt.oif = peer;
                if ((rc = sf_route_build(r, SF_NL_REPLACE, &rt, 0, e)) < 0) {
                        sf_err_field_prefix(e, "routes");
                        return rc;
                }
        }
        return 0;
}

static void rollback(sf_nl *nl, const sf_plumb_cfg *c, bool veth, bool netns)
{
        /* A nested port's device is inside the namespace and goes with it. */
        if (veth && c->kind == SF_PLUMB_VETH)
                (void) sf_link_del(nl, SF_LINK_NAME(c->host_ifname), SF_NL_MISSING_OK, NULL);
        if (netns)
                (void) sf_netns_delete(c->netns_path, NULL);
}

int sf_plumb_port(sf_nl *nl, const sf_plumb_cfg *c, sf_plumb_result *ret, sf_err *e)
{
        _cleanup_nl_ sf_nl *own = NULL, *inner = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_close_ int nsfd = -EBADF;
        const char *peer = c->peer_ifname ? c->peer_ifname : "eth0";
        const char *what = c->host_ifname;
        struct echo x = { .host_ifname = c->host_ifname };
        bool created = false;
        int master = c->bridge_ifindex, rc;
        sf_veth_cfg v;

        if ((rc = validate(c, peer, e)) < 0)
                return rc;
        if (!nl) {
                if ((rc = sf_nl_open(&own, e)) < 0)
                        return sf_err_wrap(rc, e, "plumb port '%s'", what);
                nl = own;
        }
        if (master <= 0 && c->bridge) {
                master = sf_link_ifindex(nl, c->bridge, e);
                if (master < 0)
                        return sf_err_wrap(master, e, "plumb port '%s': bridge", what);
        }

        nsfd = open(c->netns_path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 && errno == ENOENT) {
                if ((rc = sf_netns_create(c->netns_path, e)) < 0)
                        return sf_err_wrap(rc, e, "plumb port '%s'", what);
                created = true;
                nsfd = open(c->netns_path, O_RDONLY | O_CLOEXEC);
        }
        if (nsfd < 0) {
                rc = sf_err_errno(e, -errno, "plumb port '%s': open '%s'", what,
                                  c->netns_path);
                rollback(nl, c, false, created);
                return rc;
        }

        /* A nested port's device is made under its temporary name (host_ifname), renamed
         * inside: the kernel looks the new name up where the request is made too, and the
         * guest's own NIC is often called eth0. */
        if (c->kind == SF_PLUMB_VLAN)
                rc = sf_link_build_vlandev(r,
                                           &(sf_vlandev_cfg) { .name = c->host_ifname, .parent = c->lower_ifindex,
                                                               .id = c->vlan_id, .mtu = c->mtu,
                                                               .mac = c->mac, .netns_fd = nsfd },
                                           e);
        else if (c->kind == SF_PLUMB_MACVLAN)
                rc = sf_link_build_macvlan(r,
                                           &(sf_macvlan_cfg) { .name = c->host_ifname, .parent = c->lower_ifindex,
                                                               .mtu = c->mtu, .mac = c->mac,
                                                               .netns_fd = nsfd },
                                           e);
        if (c->kind != SF_PLUMB_VETH) {
                if (rc >= 0)
                        rc = sf_nl_exec(nl, r, NULL, NULL, e);
                if (rc < 0) {
                        rollback(nl, c, false, created);
                        return sf_err_wrap(rc, e, "plumb nested port '%s'", c->host_ifname);
                }
                goto inside;
        }

        v = (sf_veth_cfg) {
                .name = c->host_ifname,
                .mac = c->host_mac,
                .mtu = c->mtu,
                .master = master,
                .up = true,
                .peer_name = peer,
                .peer_mac = c->mac,
                .peer_netns_fd = nsfd,
        };
        rc = sf_link_build_veth(r, &v, e);
        if (rc >= 0) {
                sf_nlreq_msg_mut(r, 0)->nlmsg_flags |= NLM_F_ECHO;
                rc = sf_nl_exec(nl, r, echo_cb, &x, e);
        }
        if (rc < 0) {
                rollback(nl, c, false, created);
                return sf_err_wrap(rc, e, "plumb port '%s'", what);
        }

inside:
        rc = sf_nl_open_in_netns(nsfd, &inner, e);
        if (rc >= 0 && x.peer_ifindex <= 0) {
                /* Kernels before 6.3 do not echo new links: ask. */
                rc = sf_link_ifindex(inner, c->kind == SF_PLUMB_VETH ? peer : c->host_ifname, e);
                if (rc > 0)
                        x.peer_ifindex = rc;
                if (rc > 0 && x.host_ifindex <= 0 && c->kind == SF_PLUMB_VETH) {
                        rc = sf_link_ifindex(nl, c->host_ifname, e);
                        if (rc > 0)
                                x.host_ifindex = rc;
                }
        }
        if (rc >= 0 && c->kind == SF_PLUMB_VETH && x.host_ifindex > 0) {
                /* The host end is a bridge port and needs no IPv6 address: without its
                 * link-local one it sends no DAD, router solicitations or MLD reports, which
                 * the bridge would flood to every other port (measured: 8-10 % of the CPU of
                 * a burst of 50 starts). Set before the peer is up: until then the host end
                 * has no carrier and addrconf has not started. Kernels without IPv6 refuse
                 * it, and have nothing to turn off. */
                sf_link_change nv = SF_LINK_CHANGE_INIT;
                nv.no_ipv6_addrs = true;
                rc = sf_link_set(nl, SF_LINK_IDX(x.host_ifindex), &nv, e);
                if (rc == -EAFNOSUPPORT) {
                        sf_err_clear(e);
                        rc = 0;
                }
        }
        if (rc >= 0 && c->kind != SF_PLUMB_VETH) {
                /* its real name, before the sysctls that use it */
                sf_link_change rn = SF_LINK_CHANGE_INIT;
                rn.new_name = peer;
                rc = sf_link_set(inner, SF_LINK_IDX(x.peer_ifindex), &rn, e);
        }
        for (size_t i = 0; rc >= 0 && i < c->n_sysctls; i++)
                rc = sf_sysctl_write(nsfd, c->sysctls[i].key, c->sysctls[i].value, e);
        if (rc >= 0) {
                sf_nlreq_reset(r);
                rc = build_inside(r, c, x.peer_ifindex, e);
        }
        if (rc >= 0)
                rc = sf_nl_exec(inner, r, NULL, NULL, e);
        if (rc < 0) {
                rollback(nl, c, true, created);
                if (c->kind != SF_PLUMB_VETH && !created && inner && x.peer_ifindex > 0) /* inside */
                        (void) sf_link_del(inner, SF_LINK_IDX(x.peer_ifindex), SF_NL_MISSING_OK, NULL);
                return sf_err_wrap(rc, e, "plumb port '%s'", what);
        }
        if (ret)
                *ret = (sf_plumb_result) {
                        .host_ifindex = x.host_ifindex,
                        .peer_ifindex = x.peer_ifindex,
                        .created_netns = created,
                };
        return 0;
}

int sf_unplumb_port(sf_nl *nl, const char *host_ifname, const char *netns_path, unsigned flags,
                    sf_err *e)
{
        _cleanup_nl_ sf_nl *own = NULL;
        int r;

        if ((r = sf_ifname_check(host_ifname, "host_ifname", e)) < 0)
                return r;
        if ((flags & SF_UNPLUMB_ASYNC) && netns_path) {
                r = sf_netns_delete(netns_path, e);
                return r < 0 ? sf_err_wrap(r, e, "unplumb port '%s'", host_ifname) : 0;
        }
        if (!nl) {
                if ((r = sf_nl_open(&own, e)) < 0)
                        return sf_err_wrap(r, e, "unplumb port '%s'", host_ifname);
                nl = own;
        }
        r = sf_link_del(nl, SF_LINK_NAME(host_ifname), SF_NL_MISSING_OK, e);
        if (r < 0)
                return sf_err_wrap(r, e, "unplumb port '%s'", host_ifname);
        if (netns_path && (r = sf_netns_delete(netns_path, e)) < 0)
                return sf_err_wrap(r, e, "unplumb port '%s'", host_ifname);
        return 0;
}
