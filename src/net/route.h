/* IP addresses and routes over rtnetlink (IPv4 and IPv6). */
#pragma once

#include "lib/addr.h"
#include "net/nl.h"

typedef struct sf_ipaddr_cfg {
        int ifindex;
        sf_prefix prefix;   /* the address and its prefix length: 10.0.0.5/24 (host bits set) */
        bool nodad;         /* IPv6: IFA_F_NODAD, usable at once */
        bool noprefixroute; /* IFA_F_NOPREFIXROUTE: no route for the prefix */
        bool broadcast;     /* IPv4: set IFA_BROADCAST to the prefix's broadcast address */
} sf_ipaddr_cfg;

/* RTM_NEWADDR (ADD fails with -EEXIST, REPLACE does not) or RTM_DELADDR (flags may hold
 * SF_NL_MISSING_OK: a missing address, -EADDRNOTAVAIL, is fine). */
int sf_ipaddr_build(sf_nlreq *r, sf_nl_mode mode, const sf_ipaddr_cfg *c, unsigned flags, sf_err *e);
int sf_ipaddr_add(sf_nl *nl, const sf_ipaddr_cfg *c, sf_err *e);
int sf_ipaddr_del(sf_nl *nl, const sf_ipaddr_cfg *c, unsigned flags, sf_err *e);

typedef struct sf_route_cfg {
        sf_prefix dst;     /* length 0 is the default route; its family is the route's */
        sf_addr gateway;   /* family 0: none (a direct route); same family as dst */
        sf_addr prefsrc;   /* family 0: none */
        int oif;           /* 0: none */
        uint32_t table;    /* 0: main */
        uint8_t scope;     /* 0: RT_SCOPE_UNIVERSE with a gateway, RT_SCOPE_LINK without */
        uint8_t protocol;  /* 0: RTPROT_STATIC */
        uint8_t type;      /* 0: RTN_UNICAST */
        uint32_t metric;   /* RTA_PRIORITY; 0: none */
        bool onlink;       /* RTNH_F_ONLINK: the gateway is on the link even if no prefix covers it */
} sf_route_cfg;

/* RTM_NEWROUTE (ADD, REPLACE, APPEND) or RTM_DELROUTE (SF_NL_MISSING_OK: a missing route,
 * -ESRCH, is fine). */
int sf_route_build(sf_nlreq *r, sf_nl_mode mode, const sf_route_cfg *c, unsigned flags, sf_err *e);
int sf_route_add(sf_nl *nl, const sf_route_cfg *c, sf_err *e);
int sf_route_replace(sf_nl *nl, const sf_route_cfg *c, sf_err *e);
int sf_route_del(sf_nl *nl, const sf_route_cfg *c, unsigned flags, sf_err *e);
