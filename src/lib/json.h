/* jansson helpers: cleanup, and typed getters for validating API input. Every getter names
 * the field in its error, e.g. field "mtu": "must be an integer". */
#pragma once

#include <jansson.h>

#include "lib/err.h"

/* jansson >= 2.9 provides json_decrefp(). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Rejects any key of obj not in the NULL-terminated list allowed. */
int sf_json_only(json_t *obj, const char *const *allowed, sf_err *e);
/* Fails unless j is an object; field names the object in the error. */
int sf_json_is_object(json_t *j, const char *field, sf_err *e);

/* Getters: a missing key (or JSON null) leaves *ret untouched and returns 0, unless required.
 * A wrong type returns -EINVAL naming the key. Returned strings are borrowed from obj. */
int sf_json_str(json_t *obj, const char *key, bool required, const char **ret, sf_err *e);
int sf_json_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                int64_t *ret, sf_err *e);
int sf_json_bool(json_t *obj, const char *key, bool required, bool *ret, sf_err *e);
int sf_json_array(json_t *obj, const char *key, bool required, json_t **ret, sf_err *e);
int sf_json_object(json_t *obj, const char *key, bool required, json_t **ret, sf_err *e);
/* A string that is a valid resource name: 1-63 of [A-Za-z0-9._-], starting alnum. */
int sf_json_name(json_t *obj, const char *key, bool required, const char **ret, sf_err *e);
bool sf_name_valid(const char *s);

/* Parses a request body; on failure the error says where ("line 1, column 7: ..."). */
int sf_json_parse(const char *buf, size_t len, json_t **ret, sf_err *e);

/* Compact serialisation; returns a malloc'd string. */
char *sf_json_dumps(const json_t *j);

/* Sets key to a string only when s is not NULL; otherwise sets JSON null. */
void sf_json_set_str(json_t *obj, const char *key, const char *s);
