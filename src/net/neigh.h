/* Neighbour entries (ARP/NDP), bridge/VXLAN forwarding database entries (l2population by
 * hand: a MAC behind a remote VTEP), and gratuitous ARP / unsolicited neighbour
 * advertisements (announcing that an address moved, for handover). */
#pragma once

#include "lib/addr.h"
#include "net/nl.h"

/* ---- neighbours ---- */

typedef struct sf_neigh_cfg {
        int ifindex;
        sf_addr addr;      /* IPv4 or IPv6 */
        uint8_t lladdr[6]; /* ignored when deleting */
        uint16_t state;    /* NUD_*; 0 means NUD_PERMANENT */
} sf_neigh_cfg;

/* Appends an RTM_NEWNEIGH (mode ADD/REPLACE) or RTM_DELNEIGH (mode DEL; flags may hold
 * SF_NL_MISSING_OK) to r. */
int sf_neigh_build(sf_nlreq *r, sf_nl_mode mode, const sf_neigh_cfg *c, unsigned flags, sf_err *e);
/* Creates or replaces a (by default permanent) neighbour entry. */
int sf_neigh_replace(sf_nl *nl, const sf_neigh_cfg *c, sf_err *e);
int sf_neigh_del(sf_nl *nl, const sf_neigh_cfg *c, unsigned flags, sf_err *e);

typedef struct sf_neigh_entry {
        int ifindex;
        sf_addr addr;
        uint8_t lladdr[6];
        bool has_lladdr;
        uint16_t state; /* NUD_* */
        uint8_t flags;  /* NTF_* */
} sf_neigh_entry;

/* IPv4 and/or IPv6 neighbour entries (family AF_INET, AF_INET6 or AF_UNSPEC for both),
 * optionally only those of ifindex (0: all). *ret is malloc'd (NULL when empty). */
int sf_neigh_list(sf_nl *nl, int family, int ifindex, sf_neigh_entry **ret, size_t *ret_n,
                  sf_err *e);
/* "PERMANENT", "REACHABLE", ... (the most significant state bit), or "NONE". */
const char *sf_nud_state_name(uint16_t state);

/* ---- forwarding database (bridge fdb) ---- */

typedef struct sf_fdb_cfg {
        int ifindex;    /* the VXLAN device (or a bridge port) */
        uint8_t mac[6]; /* 00:00:00:00:00:00 is the default entry: BUM traffic goes to dst */
        sf_addr dst;    /* remote VTEP (NDA_DST); family 0: none */
        uint32_t vni;   /* NDA_VNI; 0: the device's VNI */
        uint16_t port;  /* NDA_PORT; 0: the device's port */
        bool master;    /* NTF_MASTER (the bridge's table) instead of NTF_SELF (the device's) */
        uint16_t state; /* 0 means NUD_PERMANENT|NUD_NOARP, as `bridge fdb ... permanent` */
} sf_fdb_cfg;

/* Appends an RTM_NEWNEIGH/RTM_DELNEIGH of family AF_BRIDGE. Mode APPEND is what adds one more
 * remote for the same MAC (several VTEPs for the all-zeros entry); DEL with dst set removes
 * only that remote. */
int sf_fdb_build(sf_nlreq *r, sf_nl_mode mode, const sf_fdb_cfg *c, unsigned flags, sf_err *e);
int sf_fdb_append(sf_nl *nl, const sf_fdb_cfg *c, sf_err *e);
int sf_fdb_del(sf_nl *nl, const sf_fdb_cfg *c, unsigned flags, sf_err *e);

typedef struct sf_fdb_entry {
        int ifindex;
        int master; /* bridge ifindex, 0 if none */
        uint8_t mac[6];
        sf_addr dst; /* family 0 if none */
        uint32_t vni; /* 0 if not reported */
        uint16_t vlan;
        uint16_t state;
        uint8_t flags; /* NTF_SELF, NTF_MASTER, ... */
} sf_fdb_entry;

/* The FDB entries of device ifindex (0: all devices): the device's own (NTF_SELF, e.g. VXLAN
 * remotes) and those of the bridge it is a port of. */
int sf_fdb_list(sf_nl *nl, int ifindex, sf_fdb_entry **ret, size_t *ret_n, sf_err *e);

/* ---- gratuitous ARP / unsolicited neighbour advertisement ---- */

/* Announces addr from interface ifname inside the namespace netns_fd (< 0: the calling
 * thread's): for IPv4 a gratuitous ARP request (sender = target = addr), for IPv6 an
 * unsolicited neighbour advertisement (override flag set) to ff02::1. Sent count times (at
 * least once) through an AF_PACKET socket, with the interface's own MAC. */
int sf_garp_send(int netns_fd, const char *ifname, const sf_addr *addr, unsigned count, sf_err *e);

/* The frames' payloads, exposed for tests. ARP: 28 bytes. NA: the IPv6 packet, 72 bytes. */
#define SF_GARP_ARP_LEN 28
#define SF_GARP_NA_LEN 72
void sf_garp_build_arp(uint8_t buf[static SF_GARP_ARP_LEN], const uint8_t mac[6],
                       const struct in_addr *ip);
void sf_garp_build_na(uint8_t buf[static SF_GARP_NA_LEN], const uint8_t mac[6],
                      const struct in6_addr *ip);
