/* Test fixtures: small tar layers built in memory with libarchive, OCI layouts with correct
 * digests, and temporary directories. */
#pragma once

#include <archive.h>
#include <jansson.h>

#include "lib/macro.h"

typedef struct layer_builder {
        struct archive *a;
        char *buf;
        size_t len, cap;
} layer_builder;

/* compression: "none", "gzip" or "zstd" */
layer_builder *layer_new(const char *compression);
void layer_file(layer_builder *l, const char *path, const char *content, unsigned mode);
void layer_dir(layer_builder *l, const char *path, unsigned mode);
void layer_symlink(layer_builder *l, const char *path, const char *target);
void layer_hardlink(layer_builder *l, const char *path, const char *target);
/* Finishes and frees the builder; returns the bytes. */
char *layer_finish(layer_builder *l, size_t *ret_len);

/* Writes buf as blobs/sha256/<hex> in layout dir; returns "sha256:<hex>" (malloc'd). */
char *blob_put(const char *layout, const void *buf, size_t len);
/* A descriptor object for a blob. */
json_t *desc_new(const char *media_type, const char *digest, size_t size);
/* Writes config, manifest, index.json and oci-layout for the given layer blobs.
 * config_extra: merged into the config's "config" object (may be NULL). Returns the manifest
 * descriptor digest. */
char *layout_write(const char *layout, char **layer_bufs, size_t *layer_lens,
                   const char **layer_types, size_t n, json_t *config_extra);

char *tmpdir_new(void); /* mkdtemp under $TMPDIR or /tmp */
void tmpdir_rm(char *dir); /* rm -rf, then free */
bool path_exists(const char *path);
char *file_read(const char *path); /* whole file, or NULL */
size_t dir_count(const char *path); /* entries, without . and .. */
/* Writes a file (creating parents). */
void file_write(const char *path, const char *content);
