/* YAML to JSON conversion (libfyaml events to jansson), faithful to YAML 1.2's core schema, with
 * a map from each node's path to where it was written, for error messages. */
#pragma once

#include <jansson.h>

#include "lib/err.h"

#define SF_YAML_MAX_SIZE ((size_t) 4 << 20) /* bytes of input */
#define SF_YAML_MAX_NODES 100000            /* nodes after aliases are expanded */
#define SF_YAML_MAX_DEPTH 64                /* nesting of mappings and sequences */

/* Where a conversion failed: 1-based line and column (0 when unknown), the path of the node being
 * built ("" when unknown) and the message without position. */
typedef struct sf_yaml_diag {
        int line;
        int column;
        char *path;
        char *msg;
} sf_yaml_diag;

void sf_yaml_diag_clear(sf_yaml_diag *d);

/* Converts one YAML document to JSON.
 * - Plain scalars resolve as YAML 1.2's core schema: null (~, null, empty), booleans (true,
 *   false), integers (decimal, 0o octal, 0x hex; must fit in 64 bits) and floats; everything
 *   quoted, literal or folded is a string. Explicit tags !!str, !!int, !!float, !!bool, !!null,
 *   !!map and !!seq are honoured; any other tag is an error.
 * - Anchors and aliases are resolved by copying; merge keys (<<) are applied.
 * - Errors: input larger than SF_YAML_MAX_SIZE (-E2BIG), more than one document, duplicate keys,
 *   keys that are not strings, NUL characters or invalid UTF-8 in strings, floats that JSON cannot
 *   represent (.inf, .nan), integers out of range, unknown anchors, more than SF_YAML_MAX_NODES
 *   nodes (-E2BIG) or SF_YAML_MAX_DEPTH levels, and YAML syntax errors. The message starts with
 *   "line L, column C: ".
 * An empty stream is an error; a document whose root is null converts to JSON null. */
int sf_yaml_to_json(const char *yaml, size_t len, json_t **ret, sf_err *e);

/* The same, also returning ret_pos: an object mapping each key's or item's path ("vnfd",
 * "vnfd.vdu", "vnfd.vdu[0]", "vnfd.vdu[0].id") to its position as an integer
 * (line << 32 | column, both 1-based). Nodes copied from an alias or a merge key map to the
 * alias. On failure *diag (if not NULL) says where, and sf_err carries the same text. */
int sf_yaml_to_json_pos(const char *yaml, size_t len, json_t **ret, json_t **ret_pos,
                        sf_yaml_diag *diag, sf_err *e);

static inline json_int_t sf_yaml_pos_make(int line, int column)
{
        return ((json_int_t) line << 32) | (json_int_t) (uint32_t) column;
}
static inline int sf_yaml_pos_line(json_int_t p) { return (int) (p >> 32); }
static inline int sf_yaml_pos_column(json_int_t p) { return (int) (p & 0xffffffff); }
