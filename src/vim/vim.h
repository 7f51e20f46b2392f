/* The VIM: the per-deployment network and compute model (sites, nodes, networks, subnets,
 * ports) with Neutron semantics, and the allocators behind it (IPAM, MACs, VNIs). */
#pragma once

#include "lib/addr.h"
#include "store/kind.h"
#include "vim/pool.h"

typedef struct sf_vim sf_vim;

struct sf_vim_options {
        unsigned default_mtu; /* 0: 1450, fits a VXLAN overlay on a 1500-byte underlay */
        unsigned lease_ms;    /* 0: 15000; a node without heartbeat that long is NotReady */
        unsigned evict_ms;    /* 0: 60000; NotReady that much longer: workloads with
                               * reschedule "on-node-failure" move to other nodes */
        struct sf_pool_options pools; /* port pools (vim/pool.h); all zero: off */
};

int sf_vim_new(sf_store *store, const struct sf_vim_options *opts, sf_vim **ret, sf_err *e);
/* Starts the controller loops: scheduling of Pending workloads, node leases. */
int sf_vim_start(sf_vim *v, sf_err *e);
/* Stops the loops (also wakes every watcher of the store: call at shutdown only). */
void sf_vim_stop(sf_vim *v);
void sf_vim_free(sf_vim *v);

/* Told of each container creation whose first port came from the node's pool: the all-in-one
 * daemon's own agent then hands that port's pre-plumbed namespace over at once, instead of
 * when its event watch brings the change (a remote agent has only its watch, which stays the
 * authority: a hint names nothing the watch will not bring, and revision is one of the
 * transaction that writes the workload, all of which the watch brings at once). Told three
 * ways:
 *  - SF_PORT_TAKE_PREPARE: inside the transaction, as soon as the port is chosen, before its row
 *    is written (revision: the one that write gets); the agent may start checking the
 *    namespace while the transaction goes on and commits. The writer lock is held: it must not
 *    block on anything, nor touch the store;
 *  - then SF_PORT_TAKE_COMMIT after the commit, or SF_PORT_TAKE_ABORT when the transaction ends
 *    without one, no lock held; it must not block.
 * Called from the request's thread. NULL fn: none. Setting it again waits for the calls in
 * flight, so the userdata may be freed afterwards; a PREPARE told before then may have its
 * COMMIT or ABORT never told. */
enum sf_port_take { SF_PORT_TAKE_PREPARE, SF_PORT_TAKE_COMMIT, SF_PORT_TAKE_ABORT };
typedef void (*sf_vim_port_taken_fn)(void *userdata, enum sf_port_take phase, const char *node_id,
                                     const char *port_id, const char *workload_id, int64_t revision);
void sf_vim_set_port_taken(sf_vim *v, sf_vim_port_taken_fn fn, void *userdata);

/* The kinds this layer serves: site, node, network, subnet, port, router, container.
 * Terminated by NULL. */
struct sf_kind *const *sf_vim_kinds(sf_vim *v);

/* ---- for other layers (VNFM/NFVO, pools): the same operations without HTTP ---- */
int sf_vim_port_create(sf_vim *v, sf_tx *tx, json_t *in, json_t **ret, sf_err *e);
int sf_vim_port_delete(sf_vim *v, sf_tx *tx, json_t *port, sf_err *e);

/* ---- allocators (ipam.c), used inside a write transaction ---- */
struct sf_subnet_info {
        char id[40];
        char name[64];
        sf_prefix cidr;
        bool has_gateway;
        sf_addr gateway;
        size_t n_pools;
        struct {
                sf_addr start, end;
        } pools[16];
};

int sf_subnet_info_parse(json_t *subnet, struct sf_subnet_info *ret, sf_err *e);
/* Next free address of the subnet's allocation pools; -ENOSPC naming the subnet when full. */
int sf_ipam_allocate(sf_vim *v, sf_tx *tx, const struct sf_subnet_info *s, const char *port_id,
                     sf_addr *ret, sf_err *e);
/* A requested address: must be in the subnet, not reserved, and free (-EEXIST otherwise). */
int sf_ipam_reserve(sf_vim *v, sf_tx *tx, const struct sf_subnet_info *s, const char *port_id,
                    const sf_addr *a, sf_err *e);
int sf_ipam_release_port(sf_tx *tx, const char *port_id, sf_err *e);
int sf_ipam_subnet_used(sf_tx *tx, const char *subnet_id, int64_t *ret, sf_err *e);
/* Number of addresses in the allocation pools, and how many are free. */
int sf_ipam_subnet_usage(sf_rd *rd, const struct sf_subnet_info *s, u128 *ret_size,
                         u128 *ret_used, sf_err *e);

int sf_mac_allocate(sf_tx *tx, const char *port_id, uint8_t ret[6], sf_err *e);
int sf_mac_reserve(sf_tx *tx, const char *port_id, const uint8_t mac[6], sf_err *e);
int sf_mac_release_port(sf_tx *tx, const char *port_id, sf_err *e);

int sf_vni_allocate(sf_vim *v, sf_tx *tx, const char *network_id, uint32_t *ret, sf_err *e);
int sf_vni_reserve(sf_tx *tx, const char *network_id, uint32_t vni, sf_err *e);
int sf_vni_release(sf_tx *tx, uint32_t vni, sf_err *e);

#define SF_VNI_MIN 1
#define SF_VNI_MAX 16777215
#define SF_MAC_PREFIX0 0x02 /* locally administered, unicast */
#define SF_MAC_PREFIX1 0x5f
