/* Port pools (Kuryr's ports pool): ports allocated ahead of time, in bulk, per (node, network,
 * security-group set), so that a workload takes a ready port in O(1) instead of waiting for
 * IPAM and MAC allocation. The public part: options, metrics, the pool arithmetic (pure
 * functions, unit-tested) and the operations the API actions and the tests call. */
#pragma once

#include <stdio.h>

#include "store/kind.h"

typedef struct sf_vim sf_vim;

/* Global defaults (sfd --pools, --pool-min, ...); a network's "port_pool" object and a pool's
 * own settings (sfctl pool resize) override them, in that order. */
struct sf_pool_options {
        bool enabled;             /* false: no pools unless a network or pool enables them */
        unsigned min;             /* 0 with enabled: SF_POOL_DEFAULT_MIN */
        unsigned max;             /* 0: SF_POOL_DEFAULT_MAX */
        unsigned batch;           /* 0: SF_POOL_DEFAULT_BATCH */
        unsigned refill_period_s; /* 0: SF_POOL_DEFAULT_PERIOD_S; every pool is checked that often */
};
#define SF_POOL_DEFAULT_MIN 4
#define SF_POOL_DEFAULT_MAX 32
#define SF_POOL_DEFAULT_BATCH 8
#define SF_POOL_DEFAULT_PERIOD_S 20
#define SF_POOL_LIMIT 4096 /* largest min or max a pool may have */

/* device_owner of an idle pooled port (its device_id is empty). */
#define SF_POOL_OWNER "compute:pool"

/* ---- arithmetic ---- */

struct sf_pool_calc {
        unsigned size;     /* idle ports in this pool */
        unsigned min, max, batch;
        uint64_t free;     /* free addresses in the network's subnet with the fewest (UINT64_MAX:
                            * no subnet limits it) */
        uint64_t pooled;   /* idle ports in all pools of the network, this one included */
        uint64_t targets;  /* sum of the mins of the network's active pools, this one included */
};

/* The size a refill aims at: min, or under address pressure (the free and pooled addresses
 * together cannot bring every pool of the network to its min) the pool's share of them,
 * min * (free + pooled) / targets, rounded down. Never above max. */
unsigned sf_pool_target(const struct sf_pool_calc *c);
/* Ports one refill allocates: nothing while size >= target; otherwise max(batch, target -
 * size) (just target - size under pressure: no overshoot when addresses are scarce), never
 * past max, and never more than half of the free addresses: the other half stays free for
 * requests that name an address or run where no pool is. */
unsigned sf_pool_refill_count(const struct sf_pool_calc *c);
/* Idle ports to release at once because the pool is above its max (after a resize). */
unsigned sf_pool_excess(const struct sf_pool_calc *c);

/* ---- operations ---- */

/* Refills one pool now, in one transaction: count ports (0: what the arithmetic says, i.e.
 * up to the pool's min), never past max or the free addresses. ret (may be NULL) gets the
 * pool as the API shows it. -EBUSY when the pool is disabled. */
int sf_pool_fill(sf_vim *v, const char *pool_ref, unsigned count, json_t **ret, sf_err *e);
/* Releases every idle port of the pool and disables it (until resized with enabled). */
int sf_pool_drain(sf_vim *v, const char *pool_ref, json_t **ret, sf_err *e);
/* Creates the pools of every Ready node and pooled network that lack one and refills those
 * below their min; what the background refiller does every refill period. Returns the number
 * of ports allocated. */
int sf_pool_scan(sf_vim *v, sf_err *e);
/* Makes the pool tables agree with the port rows after a restart, in one transaction and a
 * fixed number of statements whatever the number of ports: drops entries whose port is gone
 * or taken, adopts pooled ports missing from their pool, and removes pools (and their idle
 * ports) whose node or network is gone. *ret_ports (may be NULL) gets the idle ports kept. */
int sf_pool_recover(sf_vim *v, unsigned *ret_ports, sf_err *e);

/* When the background refiller may refill a pool last taken from at last_take (monotonic
 * usec), at now. A refill waits for a quiet moment, so that it does not compete with the
 * starts that triggered it: SF_POOL_QUIET_USEC after the last take, and once no workload of
 * the pool's node still waits for its start (phase Pending or Creating: a burst in progress),
 * or at the latest SF_POOL_QUIET_MAX_USEC after the last take; at once if the pool runs low
 * (below half its min, or empty). */
#define SF_POOL_QUIET_USEC 100000
#define SF_POOL_QUIET_MAX_USEC 2000000
enum sf_pool_when {
        SF_POOL_REFILL_NOW,
        SF_POOL_REFILL_QUIET, /* too soon after the last take */
        SF_POOL_REFILL_BUSY,  /* the node still starts workloads */
};
enum sf_pool_when sf_pool_refill_when(sf_vim *v, const char *pool_id, uint64_t last_take,
                                     uint64_t now);

/* Appends the pools' Prometheus metrics; for sf_api_add_metrics (userdata: the sf_vim). */
void sf_vim_pool_metrics(void *vim, FILE *out);
