/* Node-side image store and container root filesystems.
 *
 * STORE LAYOUT (everything under one root directory, e.g. <state-dir>/images):
 *
 *   images/<key>/meta.json   image metadata (name, id, created, size, layers, OCI config defaults)
 *   images/<key>/rootfs/     the flattened, read-only root filesystem: the overlay lowerdir
 *   images/<key>/users/<id>  one symlink per container using the image -> its container dir
 *   locks/<key>.lock         held (flock) by the import of that name while it runs
 *   tmp/                     staging dirs of imports and dirs being removed; stale ones (whose
 *                            owner died) are removed by sf_image_store_open()
 *
 * <key> is the canonical name ("busybox:latest") with '/' written as '+' and ':' as '=', so it
 * is one path component and can appear in overlayfs mount options (which split on ':' and ',').
 *
 * FLATTENING, NOT ONE LOWERDIR PER LAYER. Layers are applied in order into a single directory
 * (whiteouts honoured) at import time. Costs: no sharing of common base layers between images on
 * disk, and import does all the work. Gains: container start mounts an overlay with exactly one
 * lowerdir, whatever the image's layer count, so mount time and the mount-option length are
 * constant (the overlay option string is limited to one page, and stacking is limited to 500
 * lowers); there is no layer reference counting; and an image is one directory that is removed
 * atomically. Startup latency is what this product is measured on, and NF images are few, so
 * the trade is worth it. Each tag is its own copy.
 *
 * HOT PATH. Looking up an image (sf_rootfs_prepare, sf_image_get) goes straight to
 * images/<key>/: no index to parse, no scan of other images, no cache to keep coherent with
 * other processes. sf_rootfs_prepare does not even read meta.json.
 *
 * CONCURRENCY. The store handle is immutable after open: any thread may use it. Between
 * processes and threads: imports of one name exclude each other (the loser gets -EEXIST);
 * sf_rootfs_prepare holds a shared flock on the image dir while it registers itself and mounts;
 * sf_image_rm holds an exclusive one while it checks users and renames the image dir away.
 *
 * WHO USES AN IMAGE. sf_rootfs_prepare() writes <container_dir>/image-ref.json and a symlink
 * images/<key>/users/<basename(container_dir)> -> <container_dir>; the basename is taken to be the
 * container id. A user entry counts only while the container dir's image-ref.json still names
 * this store and image, so a container dir deleted behind our back (crash, manual rm) does not
 * pin the image forever. Two live container dirs with the same basename cannot use one image
 * (-EEXIST): container ids are expected to be unique. sf_image_users() lists the ids; sf_image_rm() refuses with -EBUSY and
 * names them.
 *
 * All functions return 0 (or a documented non-negative value) or a negative errno, and fill
 * sf_err *e (may be NULL). Paths given to the store and container dirs must not contain ',', ':'
 * or '\\' (overlayfs mount option syntax). */
#pragma once

#include <sys/types.h>

#include <jansson.h>

#include "lib/err.h"

typedef struct sf_image_store sf_image_store;

typedef struct sf_image_info {
        char *name;         /* canonical name, e.g. "busybox:latest" */
        char *id;           /* "sha256:<hex>": digest of the OCI config, or of the content */
        char *created;      /* RFC 3339: from the image config, or the import time */
        char *imported;     /* RFC 3339: when this node imported it */
        char *source;       /* "oci", "rootfs" or "busybox" */
        uint64_t size;      /* bytes of regular files in the flattened rootfs (hard links once) */
        char **layers;      /* layer blob digests in apply order; empty (not NULL) if none */
        /* OCI image config defaults; NULL when the image does not set them. */
        char **entrypoint;
        char **cmd;
        char **env;         /* "KEY=value" */
        char *working_dir;
        char *user;
        char **exposed_ports; /* "80/tcp" */
        char *rootfs;       /* absolute path of the read-only flattened rootfs (overlay lower) */
} sf_image_info;

void sf_image_info_free(sf_image_info *info);
static inline void sf_image_info_freep(sf_image_info **p) { sf_image_info_free(*p); }
#define _cleanup_image_info_ _cleanup_(sf_image_info_freep)
/* The metadata as a JSON object (the same keys as meta.json, plus "rootfs"). */
json_t *sf_image_info_to_json(const sf_image_info *info);

/* Validates an image reference and returns its canonical form. Accepted:
 *   [domain[:port]/]path[/path...][:tag]
 * path components are lower-case [a-z0-9] runs joined by '.', '_', '__' or '-'; the tag is
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; the whole name is at most 255 characters. A missing tag
 * becomes ":latest". Digest references ("name@sha256:...") are refused. The error message names
 * the problem; field is left unset (callers add theirs with sf_err_field_prefix). */
int sf_image_name_normalize(const char *name, char **ret_canonical, sf_err *e);

/* Opens (creating if needed) the store rooted at root. Removes leftovers of imports and removals
 * that died. The root is resolved with realpath(). */
int sf_image_store_open(const char *root, sf_image_store **ret, sf_err *e);
void sf_image_store_free(sf_image_store *s);
static inline void sf_image_store_freep(sf_image_store **p) { sf_image_store_free(*p); }
#define _cleanup_image_store_ _cleanup_(sf_image_store_freep)
const char *sf_image_store_root(const sf_image_store *s);

/* Imports an OCI image layout (https://github.com/opencontainers/image-spec, layout.md), given
 * either as a directory or as a tar file of one (optionally compressed). Follows index.json to a
 * manifest, through nested indexes, choosing linux/<host arch> (amd64 on x86-64) when several
 * are offered. Every blob's size and sha256 digest is checked. Layers may be tar, tar+gzip,
 * tar+zstd (anything libarchive's filters read). Entries with absolute paths, ".." components,
 * or that would be written through a symlink are refused. Atomic: on failure nothing is left.
 * -EEXIST when the name exists or is being imported by someone else. */
int sf_image_import_oci(sf_image_store *s, const char *name, const char *path, sf_err *e);

/* Imports a plain root filesystem directory by copying it (reflinks where the filesystem can,
 * else copy_file_range): not hard links, which would share inodes with the source so that a
 * later edit of the source would silently change the image under running containers. Owners,
 * modes, times, xattrs, hard links, symlinks and (as root) device nodes are kept. Does not cross
 * mount points (a mounted /proc in the source becomes an empty dir). cmd (NULL-terminated, may
 * be NULL) becomes the default Cmd. The id is a digest of the content (paths, types, modes,
 * owners, data, link targets; not times), so importing the same tree twice gives the same id. */
int sf_image_import_rootfs(sf_image_store *s, const char *name, const char *src_dir,
                           char *const *cmd, sf_err *e);

/* Builds an image from the host's static busybox (/bin/busybox, Debian's busybox-static): the
 * binary, one relative symlink per applet (from `busybox --list-full`), /etc/passwd, group,
 * hosts, hostname and resolv.conf placeholders, /tmp, /proc, /sys, /dev, /run mount points and
 * /var/www/index.html for httpd. Cmd ["sh"]. -ENOEXEC if the binary is dynamically linked. */
int sf_image_create_busybox(sf_image_store *s, const char *name, sf_err *e);
/* Same, from a given busybox binary. */
int sf_image_create_busybox_from(sf_image_store *s, const char *name, const char *busybox,
                                 sf_err *e);

/* -ENOENT "image 'x' not found". */
int sf_image_get(sf_image_store *s, const char *name, sf_image_info **ret, sf_err *e);
/* All images, sorted by name. *ret_n may be 0 (then *ret is an empty array, not NULL). */
int sf_image_list(sf_image_store *s, sf_image_info ***ret, size_t *ret_n, sf_err *e);
void sf_image_info_array_free(sf_image_info **a, size_t n);
/* Container ids whose root filesystem uses the image (sorted; empty array if none). Stale user
 * entries are removed on the way. */
int sf_image_users(sf_image_store *s, const char *name, char ***ret_ids, sf_err *e);
/* Removes an image. -EBUSY (naming the containers) while a container rootfs uses it. */
int sf_image_rm(sf_image_store *s, const char *name, sf_err *e);

/* Container root filesystems. container_dir is the container's own directory (typically its OCI
 * bundle dir), created if missing; this module owns container_dir/{upper,work,rootfs} and
 * container_dir/image-ref.json, and leaves anything else in it alone.
 *
 * Mounts overlayfs (lowerdir = the image rootfs, upperdir, workdir, index=off) on
 * container_dir/rootfs and returns that path. Idempotent: when the same image is already mounted
 * there, returns the path; after a crash, an existing upper dir is kept (so files written into
 * it before the crash, such as day-0 configuration, survive). -EBUSY when container_dir already
 * holds a rootfs of another image. Needs CAP_SYS_ADMIN. */
int sf_rootfs_prepare(sf_image_store *s, const char *image_name, const char *container_dir,
                      char **ret_rootfs, sf_err *e);
/* Unmounts container_dir/rootfs and removes upper, work, rootfs and the image reference.
 * Idempotent: missing pieces are fine. A plain umount is tried first; only if that fails with
 * EBUSY (a process still has its cwd or a file there) is the mount detached lazily
 * (MNT_DETACH); then 1 is returned instead of 0 so the caller can warn (the kernel frees the
 * overlay when its last user goes). */
int sf_rootfs_release(const char *container_dir, sf_err *e);
/* 1 if container_dir/rootfs is an overlay mount point, 0 if not (or missing), or -errno. */
int sf_rootfs_is_mounted(const char *container_dir, sf_err *e);
/* The canonical image name recorded by sf_rootfs_prepare in container_dir; -ENOENT if none. */
int sf_rootfs_image_name(const char *container_dir, char **ret, sf_err *e);

/* Writes a file into a container's root filesystem, e.g. day-0 configuration before start.
 * rootfs is the path returned by sf_rootfs_prepare (write through the mounted overlay, never into
 * upper directly: the overlay must see the change). path is interpreted inside the container:
 * symlinks are resolved as the container would (an absolute symlink cannot lead out of rootfs),
 * missing parent directories are created (0755), and the file is replaced atomically. mode is
 * applied exactly; uid/gid (uid_t/gid_t)-1 leave the owner as the caller. */
int sf_rootfs_write_file(const char *rootfs, const char *path, const void *data, size_t len,
                         mode_t mode, uid_t uid, gid_t gid, sf_err *e);
