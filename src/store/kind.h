/* A resource kind as the API sees it: its names, the list filters it accepts and its
 * validated operations. The VIM, VNFM and NFVO layers each provide a table of kinds; the API
 * layer routes /v1/<plural>[/<ref>[/<action>]] to them without knowing any kind. */
#pragma once

#include "store/store.h"

enum sf_filter_where {
        SF_FILTER_OWNER, /* the indexed owner column */
        SF_FILTER_NODE,  /* the indexed node column */
        SF_FILTER_BODY,  /* a top-level key of the body */
};

struct sf_kind_filter {
        const char *param;    /* query parameter, e.g. "network" */
        enum sf_filter_where where;
        const char *ref_kind; /* when set, the value is a name or id of this kind, resolved to an id */
        const char *body_key; /* for SF_FILTER_BODY */
};

/* An action: POST /v1/<plural>/<ref>/<name> (or GET when get is true). The action runs its own
 * transactions. in is the request body (an empty object when there was none). fn returns 0
 * (200 with *ret), or 1 when the request was accepted and completes in the background (202
 * with *ret, e.g. the operation occurrence of an NS lifecycle operation). */
struct sf_kind_action {
        const char *name;
        bool get;
        int (*fn)(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e);
};

struct sf_kind {
        const char *name;   /* singular, as stored: "network" */
        const char *plural; /* URL segment: "networks" */
        const struct sf_kind_filter *filters; /* terminated by { NULL } */
        /* Validates in and writes the new object through tx; *ret is the stored object. */
        int (*create)(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e);
        /* Applies patch (a JSON merge patch) to cur; NULL when the kind is immutable. */
        int (*update)(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e);
        /* Deletes cur, refusing with -EBUSY when something depends on it. opts holds the query
         * arguments (e.g. "force": true). Returns 0 when deleted, 1 when the deletion was
         * accepted and completes later (the object is then marked, e.g. Terminating). */
        int (*remove)(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e);
        const struct sf_kind_action *actions; /* terminated by { NULL } */
        /* Optional: adds derived fields to an object before it is returned (never stored). */
        void (*decorate)(void *ctx, sf_rd *rd, json_t *obj);
        void *ctx;
};

/* Generates "<kind>-<8 hex>" for objects created without a name. */
char *sf_kind_default_name(const char *kind, const char *id);
