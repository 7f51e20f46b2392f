/* OCI image-layout JSON documents: index, manifest and image config. Pure parsing and
 * validation, no I/O, so it can be fuzzed on its own (tests/fuzz/fuzz-oci-manifest.c). */
#pragma once

#include <jansson.h>

#include "lib/err.h"

/* Upper bound for an index, manifest or config blob. Real ones are a few KiB. */
#define SF_OCI_JSON_MAX (4u * 1024 * 1024)
#define SF_OCI_MAX_LAYERS 1024

typedef enum sf_oci_kind {
        SF_OCI_UNKNOWN,
        SF_OCI_INDEX,
        SF_OCI_MANIFEST,
} sf_oci_kind;

typedef struct sf_oci_desc {
        char *media_type; /* NULL when absent */
        char *digest;     /* validated: "sha256:" and 64 lower-case hex digits */
        int64_t size;
} sf_oci_desc;

typedef struct sf_oci_manifest {
        sf_oci_desc config;
        sf_oci_desc *layers;
        size_t n_layers;
} sf_oci_manifest;

typedef struct sf_oci_config {
        char *created;      /* NULL when absent */
        char *os;           /* NULL when absent */
        char *architecture; /* NULL when absent */
        json_t *config;     /* only Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts */
        size_t n_diff_ids;  /* -1 (SIZE_MAX) when rootfs.diff_ids is absent */
} sf_oci_config;

void sf_oci_desc_clear(sf_oci_desc *d);
void sf_oci_manifest_clear(sf_oci_manifest *m);
void sf_oci_config_clear(sf_oci_config *c);

/* GOARCH-style name of the architecture this was compiled for ("amd64", "arm64", ...). */
const char *sf_oci_host_arch(void);

/* "sha256:<64 lower-case hex>"; other algorithms give -EOPNOTSUPP. */
int sf_oci_digest_valid(const char *digest, sf_err *e);

/* What a descriptor's media type points at; SF_OCI_UNKNOWN when absent or not an index or
 * manifest type. */
sf_oci_kind sf_oci_kind_of_media_type(const char *media_type);
/* What a blob is, from its own mediaType or, failing that, its shape. */
int sf_oci_sniff(const char *buf, size_t len, sf_oci_kind *ret, sf_err *e);

/* Parses an index (index.json or an image-index blob) and selects one entry: the one for
 * os/arch, else the only entry without a platform. ref (may be NULL) breaks ties in favour of
 * the entry annotated org.opencontainers.image.ref.name = ref. */
int sf_oci_index_select(const char *buf, size_t len, const char *os, const char *arch,
                        const char *ref, sf_oci_desc *ret, sf_err *e);
int sf_oci_manifest_parse(const char *buf, size_t len, sf_oci_manifest *ret, sf_err *e);
int sf_oci_config_parse(const char *buf, size_t len, sf_oci_config *ret, sf_err *e);
