/* Internals of the descriptor layer: the validation context (errors and ignored paths), the
 * key schemas walked by dc_check(), tolerant getters, and the VNFD/NSD checkers. */
#pragma once

#include "lib/json.h"
#include "nfvo/descriptor.h"

typedef struct dctx {
        json_t *errors;  /* array of {path, line, column, message} */
        json_t *ignored; /* array of paths */
        json_t *pos;     /* path -> position (see nfvo/yaml.h); may be NULL */
        const sf_desc_opts *opts;
} dctx;

void dc_init(dctx *c, json_t *pos, const sf_desc_opts *opts);
void dc_done(dctx *c);
void dc_err(dctx *c, const char *path, const char *fmt, ...) _printf_(3, 4);
void dc_ignore(dctx *c, const char *path);
size_t dc_nerrors(const dctx *c);
/* Sorts the errors by position (stable; unknown positions last). */
void dc_sort_errors(dctx *c);

char *dc_key(const char *parent, const char *key); /* "parent.key" (or "key") */
char *dc_idx(const char *parent, size_t i);         /* "parent[i]" */

enum dc_type {
        T_STR,      /* string */
        T_UINT,     /* unsigned integer (or a string of digits) in [min, max] */
        T_DEC,      /* non-negative decimal number (or a string holding one) */
        T_BOOL,     /* boolean (or "true"/"false") */
        T_ENUM,     /* string among enums */
        T_STRS,     /* list of distinct strings (leaf-list) */
        T_STR_STRS, /* a string or a list of distinct strings */
        T_LIST,     /* list of mappings, keyed by sub->key, entries checked against sub */
        T_CONT,     /* mapping checked against sub */
        T_IGN,      /* valid SOL006/OSM but not acted on: listed as ignored, not checked */
};

#define F_REQ 1u      /* must be present (and not null) */
#define F_NONEMPTY 2u /* T_LIST/T_STRS: at least one entry; T_STR: not "" */

typedef struct dc_schema dc_schema;

typedef struct dc_field {
        const char *name;
        enum dc_type type;
        unsigned flags;
        const dc_schema *sub;
        uint64_t min, max;
        const char *const *enums;
} dc_field;

struct dc_schema {
        const char *what;   /* name of an entry, for messages: "vdu", "int-cpd" */
        const char *key;    /* key leaf of a list entry ("id"), or NULL */
        const dc_field *fields; /* terminated by a field with name NULL */
};

/* Checks obj (must be a mapping) against s: unknown keys, required keys, types, nested lists
 * and containers (duplicate list keys included); ignored keys are recorded. */
void dc_check(dctx *c, const char *path, json_t *obj, const dc_schema *s);

/* Tolerant getters for the semantic checks, which run after dc_check: a value of the wrong type
 * reads as absent (dc_check has reported it). */
const char *dc_str(json_t *o, const char *k);
bool dc_uint(json_t *o, const char *k, uint64_t *v);
bool dc_dec(json_t *o, const char *k, double *v);
int dc_bool(json_t *o, const char *k); /* 1, 0, or -1 when absent */
/* An array, or NULL when absent: json_array_foreach and json_array_size accept NULL. */
json_t *dc_list(json_t *o, const char *k);
json_t *dc_obj(json_t *o, const char *k);  /* an object or NULL */
bool dc_value_uint(json_t *v, uint64_t *out);
bool dc_value_dec(json_t *v, double *out);
/* Index of list entries by key: an object key -> entry (first occurrence wins). */
json_t *dc_index_by(json_t *list, const char *key);
/* A string or a list of strings as a list of strings (new reference). */
json_t *dc_strs(json_t *o, const char *k);
/* "did you mean 'x'?" among the names, or NULL. */
const char *dc_suggest(const char *word, const char *const *names);

/* JSON helpers for building models. */
void dc_set_str(json_t *o, const char *k, const char *s); /* null when s is NULL */
void dc_set_int(json_t *o, const char *k, int64_t v);
void dc_set_uint_or_null(json_t *o, const char *k, bool have, uint64_t v);

/* VNFD and NSD: structural and semantic checks into c; on no errors *ret_model is built. */
void sf_vnfd_check(dctx *c, const char *root, json_t *vnfd, json_t **ret_model);
void sf_nsd_check(dctx *c, const char *root, json_t *nsd, json_t **ret_model);

/* Validates a converted document (pos may be NULL). As sf_desc_parse. */
int sf_desc_validate_doc(json_t *doc, json_t *pos, const sf_desc_opts *opts, sf_desc **ret,
                         json_t **ret_errors, sf_err *e);
/* sf_desc_parse that also returns the position map on success (see nfvo/yaml.h). */
int sf_desc_parse_pos(const char *yaml, size_t len, const sf_desc_opts *opts, sf_desc **ret,
                      json_t **ret_pos, json_t **ret_errors, sf_err *e);
/* Errors of c as sf_err (first one, with a count of the others). c must have errors. */
int dc_fail(dctx *c, int code, json_t **ret_errors, sf_err *e);

#define GIB ((uint64_t) 1 << 30)
#define SF_MAX_GB ((uint64_t) 8589934591) /* GB * 2^30 still fits in int64 */
