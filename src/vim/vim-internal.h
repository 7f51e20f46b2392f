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
        struct sf_kind *kinds[12];
        /* controller loops */
        volatile bool stopping;
        pthread_t sched_thread, lease_thread;
        bool sched_running, lease_running;
        unsigned lease_ms;
        unsigned evict_ms;
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
        vim_port_kind, vim_container_kind, vim_router_kind;

/* scheduler.c */
int sf_sched_pick(sf_vim *v, sf_tx *tx, json_t *workload, char **ret_node_id, char **ret_reason,
                  sf_err *e);
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
