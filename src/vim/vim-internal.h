/* Shared between the VIM's source files; not for other layers. */
#pragma once

#include <pthread.h>

#include "vim/vim.h"

struct ipam_hint {
        char subnet_id[40];
        u128 next;
};

struct sf_vim {
        sf_store *store;
        unsigned default_mtu;
        /* Allocation cursors, touched only under the store's writer lock. */
        struct ipam_hint *hints;
        size_t n_hints;
        uint32_t vni_next;
        struct sf_kind *kinds[16];
        /* controller loops */
        volatile bool stopping;
        pthread_t sched_thread, lease_thread;
        bool sched_running, lease_running;
        unsigned lease_ms;
        unsigned evict_ms;
        struct sf_pools *pools; /* pool.c */
        /* sf_vim_set_port_taken: read-locked around each call */
        pthread_rwlock_t taken_lock;
        sf_vim_port_taken_fn taken_fn;
        void *taken_data;
        /* moves in flight (move.c): waited for at shutdown */
        pthread_mutex_t move_lock;
        pthread_cond_t move_cond;
        unsigned moves_running;
};

/* Resolves a reference (name or id) of kind in the transaction; the error names field. */
int vim_resolve(sf_tx *tx, const char *kind, const char *ref, const char *field, json_t **ret,
                sf_err *e);
/* Common optional fields every kind accepts. */
int vim_check_description(json_t *in, sf_err *e);
int vim_check_labels(json_t *in, sf_err *e);
/* Name for create: the given one, validated, or a generated one. */
int vim_take_name(json_t *in, json_t *obj, const char *kind, sf_err *e);
/* name (generated when absent), description and labels for a new object. */
int vim_set_common(json_t *in, json_t *obj, const char *kind, sf_err *e);
/* name, description and labels from a patch. */
int vim_patch_common(json_t *obj, json_t *patch, sf_err *e);
/* Rejects keys of a patch that are read-only ("cannot be changed") or unknown. */
int vim_check_patch_keys(json_t *patch, const char *const *writable, const char *const *all,
                         sf_err *e);
/* Applies the writable keys of a merge patch onto a copy of cur. */
json_t *vim_merge(json_t *cur, json_t *patch);

extern struct sf_kind vim_site_kind, vim_node_kind, vim_network_kind, vim_subnet_kind,
        vim_port_kind, vim_container_kind, vim_router_kind, vim_trunk_kind, vim_service_kind,
        vim_move_kind;

/* move.c: checks a move of workload (in: to, strategy, timeout, drain_seconds, spec, dry_run)
 * and starts it in its own thread: 1 with *ret the move resource (PROCESSING), or 0 with what
 * it would be for a dry run; -errno when it cannot work (nothing touched). */
int sf_vim_move_start(sf_vim *v, sf_store *s, json_t *workload, json_t *in, json_t **ret, sf_err *e);
void sf_vim_moves_wait(sf_vim *v);

/* scheduler.c */
/* nodes: the node list if the caller has it (read in tx), or NULL to read it here. */
int sf_sched_pick(sf_vim *v, sf_tx *tx, json_t *workload, json_t *nodes, char **ret_node_id,
                  char **ret_reason, sf_err *e);
int sf_sched_check_node(sf_vim *v, sf_tx *tx, json_t *workload, json_t *node, char **ret_reason,
                        sf_err *e);
int sf_sched_start(sf_vim *v, sf_err *e);
/* lease.c */
int sf_lease_start(sf_vim *v, sf_err *e);
/* container.c */
int sf_vim_container_bind(sf_vim *v, sf_tx *tx, json_t *obj, const char *node_id, sf_err *e);
int sf_vim_container_purge(sf_vim *v, sf_tx *tx, json_t *cur, sf_err *e);
/* agentcall.c: forwards an action to the agent of the workload's node */
int sf_vim_node_call(sf_vim *v, json_t *node, const char *method, const char *path, json_t *in,
                     long timeout_ms, json_t **ret, sf_err *e);
int sf_vim_agent_call(sf_vim *v, sf_store *s, json_t *workload, const char *method,
                      const char *action, json_t *in, json_t **ret, sf_err *e);
/* pool.c: port pools. The hooks below are called from the kinds' operations. */
extern struct sf_kind vim_pool_kind;
int sf_pool_init(sf_vim *v, const struct sf_pool_options *o);
int sf_pool_start(sf_vim *v, sf_err *e); /* recovery, then the refiller thread */
void sf_pool_stop(sf_vim *v);
void sf_pool_free(sf_vim *v);
/* A port for a container on a network: the oldest idle port of the node's pool when the
 * request names no address or MAC (automatic) and the pool has one, otherwise a new port
 * (the cold path) that first reclaims an idle pooled port holding what it needs when the
 * subnet is exhausted or the requested address or MAC is pooled. req is what
 * sf_vim_port_create takes. Returns 1 when the port came from the pool, 0 when created.
 * tell_wid: a pooled port's taking is told (sf_vim_port_taken_tell) for that workload, as soon
 * as the port is chosen, before its row is written: its node's check of the namespace starts
 * that much sooner. */
int sf_pool_port_for(sf_vim *v, sf_tx *tx, json_t *req, bool automatic, const char *node_id,
                     const char *tell_wid, json_t **ret, sf_err *e);
/* Tells the port-taken listener (sf_vim_set_port_taken), if any, that the workload takes the
 * port (now, revision being one of tx's), and then whether tx committed (see
 * sf_vim_port_taken_fn). */
void sf_vim_port_taken_tell(sf_vim *v, sf_tx *tx, const char *node_id, const char *port_id,
                            const char *workload_id, int64_t revision);
/* A port its container no longer needs: back into its pool (1) when the pool wants it,
 * otherwise 0 and the caller deletes it. */
int sf_pool_recycle(sf_vim *v, sf_tx *tx, json_t *port, bool automatic, sf_err *e);
/* Forgets a deleted port (called by sf_vim_port_delete). */
int sf_pool_forget_port(sf_tx *tx, const char *port_id, sf_err *e);
/* Releases the idle ports of the pools of a network (or of a node); remove also deletes the
 * pool objects. The refiller is told to look again after the commit. */
int sf_pool_drain_network(sf_vim *v, sf_tx *tx, const char *network_id, bool remove, sf_err *e);
int sf_pool_drain_node(sf_vim *v, sf_tx *tx, const char *node_id, sf_err *e);
/* After the commit of tx, the refiller looks at every pool (a node became Ready, a network got
 * a subnet or new pool settings). */
void sf_pool_kick(sf_vim *v, sf_tx *tx);
/* Validates a "port_pool" object ({enabled, min, max, batch}) of a network. */
int sf_pool_settings_check(json_t *in, const char *key, json_t **ret, sf_err *e);
/* trunk.c: trunks (Neutron's trunk extension). The hooks below are called by port.c. */
#define SF_TRUNK_SUBPORT_OWNER "trunk:subport" /* device_owner of a subport (device_id: the trunk) */
/* -EBUSY naming the trunk when the port is its parent or one of its subports. */
int sf_trunk_port_check_delete(sf_tx *tx, json_t *port, sf_err *e);
/* A port is being deleted: a subport leaves its trunk; a parent takes its trunk with it (the
 * subports are released). */
int sf_trunk_forget_port(sf_vim *v, sf_tx *tx, const char *port_id, sf_err *e);
/* A port is being updated from cur to port: a subport's binding and owner cannot change; when
 * a parent's binding changes, the trunk and its subports follow it. */
int sf_trunk_port_update(sf_vim *v, sf_tx *tx, json_t *cur, json_t *port, sf_err *e);
/* Nested containers (nested.c). take: a subport on net_id for user from the trunk whose parent
 * is parent_port_id (its pool's oldest idle one, or a new one), with *ret_port the port and
 * *ret_vid its VLAN id. release: the subport goes back to its pool or is deleted (0 when the
 * port is in no trunk any more). ensure: the VM's trunk exists (made, named after the VM,
 * when its first port is not a parent yet). */
int sf_trunk_nested_take(sf_vim *v, sf_tx *tx, const char *parent_port_id, const char *net_id,
                         const char *user, json_t **ret_port, int *ret_vid, sf_err *e);
int sf_trunk_nested_release(sf_vim *v, sf_tx *tx, const char *port_id, sf_err *e);
int sf_trunk_nested_ensure(sf_vim *v, sf_tx *tx, json_t *vm, const char *parent_port_id, sf_err *e);

/* nested.c: nested nodes (a VM whose guest runs an agent) and the containers in them. */
bool sf_nested_mode_valid(const char *mode);
/* A new VM with a nested_mode (ports made): its trunk, and no node holding its name. */
int sf_nested_vm_setup(sf_vim *v, sf_tx *tx, json_t *vm, sf_err *e);
/* A node registering with a parent: the parent is a nested host VM without a node yet, the
 * node is named after it; fills parent, nested_mode and site_id of obj. */
int sf_nested_node_check(sf_tx *tx, const char *parent, json_t *obj, sf_err *e);
/* A container in VM host_vm (mode: nested_mode override or NULL): sets obj's "nested" and
 * *ret_node to the VM's node, or fails with the reason (placement in a VM is not deferred). */
int sf_nested_place(sf_vim *v, sf_tx *tx, json_t *obj, const char *host_vm, const char *mode,
                    char **ret_node, sf_err *e);
/* The port of a nested container for one of its networks entries. */
int sf_nested_port(sf_vim *v, sf_tx *tx, json_t *obj, json_t *net_entry, const char *node_id,
                   json_t **ret, sf_err *e);
/* Gives back the ports of a nested container (subports to their pool; macvlan ports deleted
 * and no longer allowed on the VM's port). */
int sf_nested_release(sf_vim *v, sf_tx *tx, json_t *obj, sf_err *e);
/* -EBUSY when the VM still hosts containers. */
int sf_nested_vm_check_remove(sf_tx *tx, json_t *vm, sf_err *e);
/* A VM is purged: its node goes (and, for a forced delete, the containers in it). */
int sf_nested_vm_purge(sf_vim *v, sf_tx *tx, json_t *vm, sf_err *e);
