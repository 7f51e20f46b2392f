/* Shared internals of the image store: not part of the public API. */
#pragma once

#include <sys/stat.h>

#include "agent/image/image.h"
#include "lib/json.h"
#include "lib/macro.h"

#define SF_SHA256_SIZE 32
#define SF_SHA256_HEX 64
/* "sha256:" + 64 hex + NUL */
#define SF_DIGEST_STRLEN (7 + SF_SHA256_HEX + 1)

#define SF_IMAGE_REF_FILE "image-ref.json"

struct sf_image_store {
        char *root;   /* realpath */
        char *images; /* root/images */
        char *tmp;    /* root/tmp */
        char *locks;  /* root/locks */
};

/* sha256.c: a thin wrapper so the hash library appears in one file only. */
typedef struct sf_sha256 {
        uint64_t state[16]; /* storage for the library's context (checked at compile time) */
} sf_sha256;
void sf_sha256_init(sf_sha256 *h);
void sf_sha256_update(sf_sha256 *h, const void *data, size_t len);
void sf_sha256_final(sf_sha256 *h, uint8_t out[SF_SHA256_SIZE]);
/* "sha256:<hex>" */
void sf_sha256_fmt(const uint8_t d[SF_SHA256_SIZE], char buf[static SF_DIGEST_STRLEN]);
void sf_sha256_digest_str(const void *data, size_t len, char buf[static SF_DIGEST_STRLEN]);

/* name.c */
/* The directory key of a canonical name: '/' -> '+', ':' -> '='. */
char *sf_image_key(const char *canonical);
/* Normalises name and returns its canonical form and key. */
int sf_image_name_key(const char *name, char **ret_canonical, char **ret_key, sf_err *e);
/* Paths that end up in overlayfs mount options must not contain ',', ':', '\\' or newline. */
int sf_image_check_mount_path(const char *path, const char *what, sf_err *e);
/* Copies a file's data (src and dst at offset 0): a reflink where the filesystem has them, else
 * copy_file_range, else (across filesystems, or where it is missing) read and write through
 * buf (128 KiB; NULL: allocated when needed). rel names the file in errors. */
int sf_image_copy_data(int src, int dst, uint8_t *buf, const char *rel, sf_err *e);

/* store.c: staging of a new image and its atomic commit. */
typedef struct sf_image_staging {
        sf_image_store *store;
        char *canonical;
        char *key;
        int lock_fd;    /* locks/<key>.lock, flock LOCK_EX */
        char *dir;      /* tmp/import-XXXXXX */
        int dir_fd;     /* flock LOCK_EX, so cleanup at open leaves it alone */
        char *rootfs;   /* dir/rootfs, created */
        char *scratch;  /* dir/scratch, created: importer's own temporary space */
        bool committed;
} sf_image_staging;

/* Validates the name, takes the import lock (-EEXIST if held or the image exists) and creates
 * the staging dir. */
int sf_image_staging_begin(sf_image_store *s, const char *name, sf_image_staging *ret,
                           sf_err *e);
/* meta: the metadata object without "name", "imported", "size" (filled here). Removes scratch,
 * syncs, renames into images/<key> with RENAME_NOREPLACE. */
int sf_image_staging_commit(sf_image_staging *st, json_t *meta, uint64_t size, sf_err *e);
/* Removes the staging dir unless committed and releases the lock. Safe on a zeroed struct. */
void sf_image_staging_end(sf_image_staging *st);

/* Opens images/<key> and flocks it (LOCK_SH or LOCK_EX), making sure it was not renamed away
 * meanwhile. -ENOENT "image 'x' not found". */
int sf_image_open_locked(sf_image_store *s, const char *canonical, const char *key, int lockop,
                         int *ret_fd, sf_err *e);
char *sf_image_dir(sf_image_store *s, const char *key);

/* tree.c */
/* Recursive copy of src_fd's contents into dst_fd (both directories). */
int sf_tree_copy(int src_fd, int dst_fd, sf_err *e);
/* Total size of regular files (hard links counted once); with digest non-NULL also a sha256
 * over paths, types, modes, owners, contents and link targets in sorted order. */
int sf_tree_measure(int dir_fd, uint64_t *ret_size, uint8_t digest[SF_SHA256_SIZE], sf_err *e);
/* A config object with Env PATH and the given Cmd (may be NULL). */
json_t *sf_image_default_config(char *const *cmd);
/* xattrs a layer or a copied tree must not carry into an overlay lower dir. */
bool sf_xattr_allowed(const char *name);

/* layer.c */
/* Applies one layer (a tar stream, possibly compressed, read from fd) onto rootfs_dir (a
 * realpath without symlinks), honouring whiteouts. The fd's content is hashed as it is read;
 * the digest and byte count are compared with expect_digest and expect_size (-1: any). */
int sf_layer_apply(int fd, const char *rootfs_dir, const char *expect_digest,
                   int64_t expect_size, sf_err *e);
/* Extracts an OCI layout tar (regular files and directories only) into dir. */
int sf_layout_tar_extract(const char *tar_path, const char *dir, sf_err *e);

/* openat2() with RESOLVE_BENEATH semantics; how: RESOLVE_* flags. */
int sf_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);

/* Small helpers. */
int sf_flock(int fd, int op); /* retries on EINTR; returns -errno */
int sf_fsync_path(const char *path, sf_err *e);
/* A strv from a JSON array of strings (NULL when j is NULL or not an array). */
char **sf_strv_from_json(json_t *j);
json_t *sf_strv_to_json(char *const *v);
