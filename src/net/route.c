/* Address (RTM_NEWADDR/DELADDR) and route (RTM_NEWROUTE/DELROUTE) requests. */
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "lib/log.h"
#include "net/route.h"

SF_LOG_MODULE("route");

static int check_prefix(const sf_prefix *p, const char *field, sf_err *e)
{
        if (p->addr.family != AF_INET && p->addr.family != AF_INET6)
                return sf_err_set(e, -EINVAL, field, "must be an IPv4 or IPv6 prefix");
        if (p->len > sf_addr_bits(p->addr.family))
                return sf_err_set(e, -EINVAL, field, "prefix length %u is too long", p->len);
        return 0;
}

int sf_ipaddr_build(sf_nlreq *r, sf_nl_mode mode, const sf_ipaddr_cfg *c, unsigned flags, sf_err *e)
{
        char pb[SF_PREFIX_STRLEN];
        struct ifaddrmsg *ifa;
        uint32_t ifa_flags = 0;
        int ret;

        if ((ret = check_prefix(&c->prefix, "prefix", e)) < 0)
                return ret;
        if (c->ifindex <= 0)
                return sf_err_set(e, -EINVAL, "ifindex", "address needs an interface");
        if (mode == SF_NL_APPEND)
                return sf_err_set(e, -EINVAL, NULL, "addresses cannot be appended");

        if (c->nodad && c->prefix.addr.family == AF_INET6)
                ifa_flags |= IFA_F_NODAD;
        if (c->noprefixroute)
                ifa_flags |= IFA_F_NOPREFIXROUTE;

        if (mode == SF_NL_DEL)
                sf_nlreq_begin(r, RTM_DELADDR, 0, "delete address %s on ifindex %d",
                               sf_prefix_fmt(&c->prefix, pb), c->ifindex);
        else
                sf_nlreq_begin(r, RTM_NEWADDR, sf_nl_mode_flags(mode), "%s address %s on ifindex %d",
                               sf_nl_mode_verb(mode), sf_prefix_fmt(&c->prefix, pb), c->ifindex);
        ifa = sf_nlreq_reserve(r, sizeof(*ifa));
        if (ifa) {
                ifa->ifa_family = c->prefix.addr.family;
                ifa->ifa_prefixlen = c->prefix.len;
                ifa->ifa_index = c->ifindex;
                ifa->ifa_flags = ifa_flags & 0xff;
                ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        }
        sf_nlreq_put_addr(r, IFA_LOCAL, &c->prefix.addr);
        sf_nlreq_put_addr(r, IFA_ADDRESS, &c->prefix.addr);
        if (mode != SF_NL_DEL) {
                if (c->broadcast && c->prefix.addr.family == AF_INET && c->prefix.len < 31) {
                        sf_addr b = sf_prefix_last(&c->prefix);
                        sf_nlreq_put_addr(r, IFA_BROADCAST, &b);
                }
                /* Flags above 8 bits (NOPREFIXROUTE) only fit in IFA_FLAGS. */
                if (ifa_flags)
                        sf_nlreq_put_u32(r, IFA_FLAGS, ifa_flags);
        }
        if (mode == SF_NL_DEL && (flags & SF_NL_MISSING_OK))
                sf_nlreq_tolerate(r, EADDRNOTAVAIL);
        return sf_nlreq_end(r, e);
}

static int run(sf_nl *nl, sf_nlreq *r, int built, sf_err *e)
{
        return built < 0 ? built : sf_nl_exec(nl, r, NULL, NULL, e);
}

int sf_ipaddr_add(sf_nl *nl, const sf_ipaddr_cfg *c, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        return run(nl, r, sf_ipaddr_build(r, SF_NL_ADD, c, 0, e), e);
}

int sf_ipaddr_del(sf_nl *nl, const sf_ipaddr_cfg *c, unsigned flags, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        return run(nl, r, sf_ipaddr_build(r, SF_NL_DEL, c, flags, e), e);
}

int sf_route_build(sf_nlreq *r, sf_nl_mode mode, const sf_route_cfg *c, unsigned flags, sf_err *e)
{
        char db[SF_PREFIX_STRLEN], gb[SF_ADDR_STRLEN];
        int family = c->dst.addr.family;
        struct rtmsg *rtm;
        int ret;

        if ((ret = check_prefix(&c->dst, "dst", e)) < 0)
                return ret;
        if (c->gateway.family && c->gateway.family != family)
                return sf_err_set(e, -EINVAL, "gateway", "must be of the destination's family");
        if (c->prefsrc.family && c->prefsrc.family != family)
                return sf_err_set(e, -EINVAL, "prefsrc", "must be of the destination's family");
        if (c->onlink && c->oif <= 0)
                return sf_err_set(e, -EINVAL, "onlink", "an onlink route needs an interface");

        if (c->gateway.family)
                sf_addr_fmt(&c->gateway, gb);
        sf_prefix_fmt(&c->dst, db);
        if (mode == SF_NL_DEL)
                sf_nlreq_begin(r, RTM_DELROUTE, 0, "delete route %s%s%s", c->dst.len ? db : "default",
                               c->gateway.family ? " via " : "", c->gateway.family ? gb : "");
        else
                sf_nlreq_begin(r, RTM_NEWROUTE, sf_nl_mode_flags(mode), "%s route %s%s%s%s",
                               sf_nl_mode_verb(mode), c->dst.len ? db : "default",
                               c->gateway.family ? " via " : "", c->gateway.family ? gb : "",
                               c->onlink ? " onlink" : "");
        rtm = sf_nlreq_reserve(r, sizeof(*rtm));
        if (rtm) {
                rtm->rtm_family = family;
                rtm->rtm_dst_len = c->dst.len;
                rtm->rtm_table = c->table == 0 ? RT_TABLE_MAIN : c->table < 256 ? c->table : RT_TABLE_UNSPEC;
                if (mode == SF_NL_DEL) {
                        /* Zero and NOWHERE are wildcards when deleting. */
                        rtm->rtm_protocol = c->protocol;
                        rtm->rtm_scope = c->scope ? c->scope : RT_SCOPE_NOWHERE;
                        rtm->rtm_type = c->type;
                } else {
                        rtm->rtm_protocol = c->protocol ? c->protocol : RTPROT_STATIC;
                        rtm->rtm_scope = c->scope ? c->scope
                                         : c->gateway.family ? RT_SCOPE_UNIVERSE
                                                             : RT_SCOPE_LINK;
                        rtm->rtm_type = c->type ? c->type : RTN_UNICAST;
                }
                if (c->onlink)
                        rtm->rtm_flags |= RTNH_F_ONLINK;
        }
        if (c->dst.len)
                sf_nlreq_put_addr(r, RTA_DST, &c->dst.addr);
        if (c->gateway.family)
                sf_nlreq_put_addr(r, RTA_GATEWAY, &c->gateway);
        if (c->prefsrc.family)
                sf_nlreq_put_addr(r, RTA_PREFSRC, &c->prefsrc);
        if (c->oif > 0)
                sf_nlreq_put_u32(r, RTA_OIF, c->oif);
        if (c->metric)
                sf_nlreq_put_u32(r, RTA_PRIORITY, c->metric);
        if (c->table)
                sf_nlreq_put_u32(r, RTA_TABLE, c->table);
        if (mode == SF_NL_DEL && (flags & SF_NL_MISSING_OK))
                sf_nlreq_tolerate(r, ESRCH);
        return sf_nlreq_end(r, e);
}

int sf_route_add(sf_nl *nl, const sf_route_cfg *c, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        return run(nl, r, sf_route_build(r, SF_NL_ADD, c, 0, e), e);
}

int sf_route_replace(sf_nl *nl, const sf_route_cfg *c, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        return run(nl, r, sf_route_build(r, SF_NL_REPLACE, c, 0, e), e);
}

int sf_route_del(sf_nl *nl, const sf_route_cfg *c, unsigned flags, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        return run(nl, r, sf_route_build(r, SF_NL_DEL, c, flags, e), e);
}
