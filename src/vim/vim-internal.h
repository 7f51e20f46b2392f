/* Shared between the VIM's source files; not for other layers. */
#pragma once

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
        struct sf_kind *kinds[8];
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
        vim_port_kind;
