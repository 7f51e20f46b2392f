/* Network interfaces over rtnetlink: bridges, veth pairs (peer created directly in the
 * target namespace), VXLAN, macvlan, tap devices; setting state, MTU, master, MAC and name;
 * bridge port states; deleting; listing by name prefix.
 *
 * Each create/set/delete exists twice: sf_link_build_*() appends the request to an sf_nlreq
 * (for batching and byte-level tests), and the plain function builds and runs it on an sf_nl.
 * The sf_nl decides the namespace the request acts in. */
#pragma once

#include <net/if.h>

#include "lib/addr.h"
#include "net/nl.h"

/* 0 if name is a valid interface name: 1 to 15 bytes (IFNAMSIZ - 1), no '/', ':' or
 * whitespace, not "." or "..". Otherwise -EINVAL naming field. */
int sf_ifname_check(const char *name, const char *field, sf_err *e);

/* A link is named by ifindex (> 0) or, when ifindex is 0, by name. */
typedef struct sf_link_id {
        int ifindex;
        const char *name;
} sf_link_id;
#define SF_LINK_IDX(i) ((sf_link_id) { .ifindex = (i) })
#define SF_LINK_NAME(n) ((sf_link_id) { .name = (n) })

/* ---- create ---- */

typedef struct sf_bridge_cfg {
        const char *name;
        unsigned mtu;       /* 0: kernel default */
        const uint8_t *mac; /* NULL: kernel's choice */
        bool up;
        bool vlan_filtering; /* IFLA_BR_VLAN_FILTERING=1 (not in every kernel) */
} sf_bridge_cfg;
/* A bridge with STP off and forward_delay 0 (ports forward at once). -EEXIST if the name is
 * taken. */
int sf_link_build_bridge(sf_nlreq *r, const sf_bridge_cfg *c, sf_err *e);
int sf_link_create_bridge(sf_nl *nl, const sf_bridge_cfg *c, sf_err *e);

typedef struct sf_veth_cfg {
        const char *name;    /* this side, in the sf_nl's namespace */
        const uint8_t *mac;  /* NULL: random */
        unsigned mtu;        /* both sides; 0: kernel default */
        int master;          /* ifindex of the bridge for this side; 0: none */
        bool up;             /* this side */
        const char *peer_name;
        const uint8_t *peer_mac; /* NULL: random */
        int peer_netns_fd;       /* where the peer is created (IFLA_NET_NS_FD); < 0: here */
} sf_veth_cfg;
/* A veth pair, one request: the peer is created directly inside peer_netns_fd with its name,
 * MAC and MTU, and this side is enslaved to master at creation. The peer is always created
 * down: the kernel cannot bring it up in the same request (veth_open() fails with ENOTCONN
 * before the two ends are linked), so bring it up with sf_link_set_up() from its namespace. */
int sf_link_build_veth(sf_nlreq *r, const sf_veth_cfg *c, sf_err *e);
int sf_link_create_veth(sf_nl *nl, const sf_veth_cfg *c, sf_err *e);

typedef struct sf_vxlan_cfg {
        const char *name;
        uint32_t vni;      /* 1..16777215 */
        sf_addr local;     /* underlay source address (IFLA_VXLAN_LOCAL or LOCAL6); family 0: none */
        uint16_t dstport;  /* 0: 4789 */
        int underlay;      /* ifindex of the underlay device (IFLA_VXLAN_LINK); 0: none */
        bool learning;     /* false: nolearning (FDB filled by us, l2population) */
        bool proxy;        /* ARP/ND suppression: requests are answered from the device's own
                            * neighbour table and never sent through the tunnel */
        uint8_t ttl;       /* 0: kernel default */
        unsigned mtu;      /* 0: kernel default (underlay MTU - 50) */
        const uint8_t *mac;
        int master;        /* bridge ifindex; 0: none */
        bool up;
} sf_vxlan_cfg;
int sf_link_build_vxlan(sf_nlreq *r, const sf_vxlan_cfg *c, sf_err *e);
int sf_link_create_vxlan(sf_nl *nl, const sf_vxlan_cfg *c, sf_err *e);

typedef struct sf_macvlan_cfg {
        const char *name;
        int parent;        /* ifindex of the lower device, in the sf_nl's namespace */
        uint32_t mode;     /* MACVLAN_MODE_*; 0: bridge */
        int netns_fd;      /* create it there (IFLA_NET_NS_FD); < 0: next to the parent */
        const uint8_t *mac;
        unsigned mtu;
        bool up;
} sf_macvlan_cfg;
int sf_link_build_macvlan(sf_nlreq *r, const sf_macvlan_cfg *c, sf_err *e);
int sf_link_create_macvlan(sf_nl *nl, const sf_macvlan_cfg *c, sf_err *e);

typedef struct sf_vlandev_cfg {
        const char *name;
        int parent;        /* ifindex of the device carrying the tagged frames (e.g. a VM's tap) */
        uint16_t id;       /* VLAN id, 1..4094 (802.1Q) */
        unsigned mtu;      /* 0: the parent's */
        int master;        /* bridge ifindex; 0: none */
        const uint8_t *mac; /* NULL: the parent's */
        int netns_fd;      /* > 0: create it in that namespace (IFLA_NET_NS_FD), where the
                            * parent is not (a nested container's eth0 on the guest's NIC) */
        bool up;
} sf_vlandev_cfg;
/* An 802.1Q VLAN device (kind "vlan", needs the 8021q module): frames of the parent tagged
 * with id come out of it untagged, and what it sends goes out of the parent tagged. */
int sf_link_build_vlandev(sf_nlreq *r, const sf_vlandev_cfg *c, sf_err *e);
int sf_link_create_vlandev(sf_nl *nl, const sf_vlandev_cfg *c, sf_err *e);

typedef struct sf_tap_cfg {
        const char *name;
        bool vnet_hdr;      /* IFF_VNET_HDR (virtio-net offloads, for QEMU) */
        bool multi_queue;   /* IFF_MULTI_QUEUE */
        bool persist;       /* TUNSETPERSIST: the device outlives the fd */
        int netns_fd;       /* create it there; < 0: the calling thread's namespace */
        unsigned mtu;
        const uint8_t *mac;
        int master;         /* bridge ifindex; 0: none */
        bool up;
} sf_tap_cfg;
/* Creates a tap device (IFF_TAP|IFF_NO_PI) through /dev/net/tun, then sets MTU, MAC, master
 * and up state through nl (which must be in the same namespace as the tap). *ret_fd gets the
 * queue fd (O_CLOEXEC); ret_fd may be NULL only with persist. If a persistent tap of that name
 * already exists with the same flags, TUNSETIFF attaches to it (as QEMU does) instead of
 * failing. On failure a persistent tap made here is removed again. */
int sf_tap_create(sf_nl *nl, const sf_tap_cfg *c, int *ret_fd, sf_err *e);

/* ---- change ---- */

typedef struct sf_link_change {
        int up;              /* 1 up, 0 down, -1 unchanged */
        unsigned mtu;        /* 0: unchanged */
        const uint8_t *mac;  /* NULL: unchanged */
        int master;          /* > 0 enslave, -1 release (nomaster), 0 unchanged */
        const char *new_name; /* NULL: unchanged (needs the link named by ifindex) */
        int netns_fd;        /* >= 0: move the link there; -1 unchanged */
        bool no_ipv6_addrs;  /* IPv6 address generation off (IN6_ADDR_GEN_MODE_NONE): no
                              * link-local address, so no DAD, router solicitations or MLD
                              * reports from this link; for bridge ports, which need none */
} sf_link_change;
#define SF_LINK_CHANGE_INIT { .up = -1, .netns_fd = -1 }
int sf_link_build_set(sf_nlreq *r, sf_link_id id, const sf_link_change *s, sf_err *e);
int sf_link_set(sf_nl *nl, sf_link_id id, const sf_link_change *s, sf_err *e);
int sf_link_set_up(sf_nl *nl, sf_link_id id, bool up, sf_err *e);
int sf_link_set_mtu(sf_nl *nl, sf_link_id id, unsigned mtu, sf_err *e);
int sf_link_set_master(sf_nl *nl, sf_link_id id, int master, sf_err *e); /* -1: nomaster */
int sf_link_set_mac(sf_nl *nl, sf_link_id id, const uint8_t mac[6], sf_err *e);
int sf_link_set_name(sf_nl *nl, int ifindex, const char *new_name, sf_err *e);
/* Sets a bridge port's state by hand (RTM_SETLINK of family AF_BRIDGE, IFLA_PROTINFO's
 * IFLA_BRPORT_STATE, as `bridge link set dev X state N`), on a bridge without kernel STP:
 * BR_STATE_DISABLED keeps every frame off the port both ways (the bridge neither forwards to
 * it nor learns from it) until BR_STATE_FORWARDING. (BR_STATE_BLOCKING would not hold: without
 * STP the bridge makes a blocking port forward again at once; and a port whose carrier comes
 * up is enabled again.) -EOPNOTSUPP when the link is no bridge's port. */
int sf_link_build_brport_state(sf_nlreq *r, int ifindex, uint8_t state, sf_err *e);
int sf_link_set_brport_state(sf_nl *nl, int ifindex, uint8_t state, sf_err *e);

/* Deletes a link. With SF_NL_MISSING_OK a missing one (-ENODEV) is success. Deleting one end
 * of a veth deletes the other. */
int sf_link_build_del(sf_nlreq *r, sf_link_id id, unsigned flags, sf_err *e);
int sf_link_del(sf_nl *nl, sf_link_id id, unsigned flags, sf_err *e);

/* ---- query ---- */

typedef struct sf_link_info {
        int ifindex;
        char name[IFNAMSIZ];
        char *kind;     /* IFLA_INFO_KIND ("veth", "bridge", "vxlan", ...), NULL if none */
        unsigned flags; /* IFF_* */
        unsigned mtu;
        uint8_t mac[6];
        int master;     /* 0 if none */
        int link;       /* IFLA_LINK: veth peer / lower device ifindex, 0 if none */
        int link_netnsid; /* IFLA_LINK_NETNSID, -1 if the link is in the same namespace */
} sf_link_info;
void sf_link_info_done(sf_link_info *l);
void sf_link_info_free_array(sf_link_info *v, size_t n);

/* ifindex of name (> 0), or -ENODEV (with a message) when there is none. */
int sf_link_ifindex(sf_nl *nl, const char *name, sf_err *e);
/* One link; -ENODEV if absent. */
int sf_link_get(sf_nl *nl, sf_link_id id, sf_link_info *ret, sf_err *e);
/* Every link whose name starts with prefix ("" or NULL: all), in ifindex order. *ret is
 * malloc'd (NULL when empty); free with sf_link_info_free_array. */
int sf_link_list(sf_nl *nl, const char *prefix, sf_link_info **ret, size_t *ret_n, sf_err *e);
/* Parses an RTM_NEWLINK message (from a dump, a GET or an NLM_F_ECHO). */
int sf_link_parse(const struct nlmsghdr *nlh, sf_link_info *ret);
