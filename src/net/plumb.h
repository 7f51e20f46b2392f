/* The hot path of container start: plumb a port into a network namespace in as few kernel
 * round trips as possible, and the reverse. */
#pragma once

#include "lib/addr.h"
#include "net/nl.h"
#include "net/route.h"

typedef struct sf_sysctl_kv {
        const char *key; /* see sf_sysctl_write, e.g. "net/ipv6/conf/eth0/disable_ipv6" */
        const char *value;
} sf_sysctl_kv;

/* What the port's interface is. */
typedef enum sf_plumb_kind {
        SF_PLUMB_VETH = 0, /* a veth pair: the host end on a bridge, the peer inside */
        SF_PLUMB_VLAN,     /* nested-vlan: a VLAN device on lower_ifindex with vlan_id, made
                            * inside the namespace; no host end */
        SF_PLUMB_MACVLAN,  /* nested-macvlan: a bridge-mode macvlan on lower_ifindex, made
                            * inside the namespace; no host end */
} sf_plumb_kind;

typedef struct sf_plumb_cfg {
        const char *netns_path;  /* created (sf_netns_create) if absent */
        sf_plumb_kind kind;
        int lower_ifindex;       /* VLAN and macvlan: the device they sit on (the guest's NIC) */
        uint16_t vlan_id;        /* VLAN: 1-4094 */
        const char *host_ifname; /* host end of the veth, e.g. "sfp1a2b3c4d"; for the nested
                                  * kinds, the name the device is made with before it is
                                  * renamed inside (it must not exist where the call runs) */
        const char *bridge;      /* bridge for the host end; NULL if bridge_ifindex is set or none */
        int bridge_ifindex;      /* skips the bridge name lookup when > 0 */
        const char *peer_ifname; /* NULL: "eth0" */
        const uint8_t *mac;      /* the port's MAC (inside); NULL: random */
        const uint8_t *host_mac; /* NULL: random */
        unsigned mtu;            /* 0: kernel default */
        const sf_prefix *addrs;  /* the port's addresses with prefix length, 10.0.0.5/24 */
        size_t n_addrs;
        const sf_addr *gateways; /* default route via each (at most one per family) */
        size_t n_gateways;
        const sf_route_cfg *routes; /* extra routes; oif is set to the port */
        size_t n_routes;
        const sf_sysctl_kv *sysctls; /* written inside the namespace before the batch */
        size_t n_sysctls;
        bool ipv6_dad;           /* false: IPv6 addresses get IFA_F_NODAD (usable at once) */
} sf_plumb_cfg;

typedef struct sf_plumb_result {
        int host_ifindex;
        int peer_ifindex;        /* inside the namespace */
        bool created_netns;
} sf_plumb_result;

/* Plumbs a port, in this order:
 *  1. the namespace file is created if absent;
 *  2. one request on nl (host namespace): a veth whose host end is up and on the bridge and
 *     whose peer (name, MAC, MTU) is created directly inside the namespace; NLM_F_ECHO gives
 *     back the peer's ifindex (a lookup inside the namespace is the fallback); or, for the
 *     nested kinds, the VLAN or macvlan device (MAC, MTU) made inside the namespace on the
 *     lower device under host_ifname, whose ifindex is then looked up inside, and which is
 *     renamed there (one more round trip);
 *  3. the sysctls, if any;
 *  4. one batch on a socket created once inside the namespace: lo up, the addresses, the
 *     peer up, a default route per gateway (onlink when no address prefix covers it), the
 *     extra routes.
 * Round trips: 2 (3 when the bridge is given by name). On failure everything this call made
 * is removed again (the veth, and the namespace if it created it). nl may be NULL: a socket
 * is opened in the calling thread's namespace. ret may be NULL. */
int sf_plumb_port(sf_nl *nl, const sf_plumb_cfg *c, sf_plumb_result *ret, sf_err *e);

/* sf_unplumb_port flag: do not delete the veth, only unmount the namespace. The kernel then
 * destroys the namespace, and the veth with it, in the background (several namespaces in one
 * batch). Returns in microseconds instead of the 15-50 ms one RTM_DELLINK of a veth costs
 * (RCU grace periods), but the host name stays taken until the kernel is done, and forever if
 * a process still holds the namespace. Needs netns_path. */
#define SF_UNPLUMB_ASYNC 1u

/* Deletes the host end of the veth (the peer goes with it; a missing one is fine) and the
 * namespace file (sf_netns_delete; netns_path may be NULL to keep it). nl may be NULL. */
int sf_unplumb_port(sf_nl *nl, const char *host_ifname, const char *netns_path, unsigned flags,
                    sf_err *e);
