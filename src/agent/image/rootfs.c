/* Container root filesystems: an overlay of the image's flattened rootfs (read-only lower) and a
 * per-container upper dir, mounted on <container_dir>/rootfs; plus writing files into one. */
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "agent/image/image-internal.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("image");

#define REF_MAX (64u * 1024)

typedef struct cpaths {
        char *dir; /* realpath of the container dir */
        char *id;  /* its basename: the container id */
        char *rootfs, *upper, *work, *ref;
} cpaths;

static void cpaths_clear(cpaths *p)
{
        free(p->dir);
        free(p->id);
        free(p->rootfs);
        free(p->upper);
        free(p->work);
        free(p->ref);
}

/* -ENOENT when the container dir does not exist. */
static int cpaths_get(const char *container_dir, cpaths *ret, sf_err *e)
{
        char *real = realpath(container_dir, NULL);
        const char *slash;
        if (!real)
                return sf_err_errno(e, -errno, "container dir '%s'", container_dir);
        slash = strrchr(real, '/');
        *ret = (cpaths) {
                .dir = real,
                .id = xstrdup(slash && slash[1] ? slash + 1 : real),
                .rootfs = xasprintf("%s/rootfs", real),
                .upper = xasprintf("%s/upper", real),
                .work = xasprintf("%s/work", real),
                .ref = xasprintf("%s/" SF_IMAGE_REF_FILE, real),
        };
        return 0;
}

/* 1 if path is the root of a mount, 0 if not or missing. */
static int is_mount_point(const char *path, sf_err *e)
{
        struct statx sx, parent;
        _cleanup_free_ char *up = NULL;
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
                return errno == ENOENT ? 0 : sf_err_errno(e, -errno, "stat '%s'", path);
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        /* Kernels before 5.8: a different device than the parent's. */
        up = xasprintf("%s/..", path);
        if (statx(AT_FDCWD, up, 0, STATX_BASIC_STATS, &parent) < 0)
                return sf_err_errno(e, -errno, "stat '%s'", up);
        return sx.stx_dev_major != parent.stx_dev_major || sx.stx_dev_minor != parent.stx_dev_minor;
}

int sf_rootfs_is_mounted(const char *container_dir, sf_err *e)
{
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", container_dir);
        struct statfs sfs;
        int r = is_mount_point(rootfs, e);
        if (r <= 0)
                return r;
        if (statfs(rootfs, &sfs) < 0)
                return sf_err_errno(e, -errno, "statfs '%s'", rootfs);
        return sfs.f_type == OVERLAYFS_SUPER_MAGIC;
}

typedef struct imgref {
        char *store, *image, *key;
} imgref;

static void imgref_clear(imgref *r)
{
        free(r->store);
        free(r->image);
        free(r->key);
}

/* Reads container_dir's image reference; -ENOENT when there is none. */
static int ref_read(const char *path, imgref *ret, sf_err *e)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *s, *i, *k;
        size_t len;
        int r = sf_read_file(path, REF_MAX, &buf, &len, NULL);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return sf_err_errno(e, r, "read '%s'", path);
        j = json_loadb(buf, len, 0, NULL);
        s = json_string_value(json_object_get(j, "store"));
        i = json_string_value(json_object_get(j, "image"));
        k = json_string_value(json_object_get(j, "key"));
        if (!s || !i || !k || strchr(k, '/'))
                return sf_err_set(e, -EINVAL, NULL, "'%s' is malformed", path);
        *ret = (imgref) { xstrdup(s), xstrdup(i), xstrdup(k) };
        return 0;
}

int sf_rootfs_image_name(const char *container_dir, char **ret, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/" SF_IMAGE_REF_FILE, container_dir);
        _cleanup_(imgref_clear) imgref ref = { 0 };
        int r = ref_read(path, &ref, e);
        if (r == -ENOENT)
                return sf_err_set(e, -ENOENT, NULL, "'%s' holds no container root filesystem",
                                  container_dir);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ref.image);
        return 0;
}

/* users/<id> -> container dir. Another container dir with the same id that still uses the image
 * is a conflict; a stale entry is replaced. */
static int user_add(int image_fd, const cpaths *cp, const char *canonical, bool *ret_created,
                    sf_err *e)
{
        _cleanup_free_ char *link = xasprintf("users/%s", cp->id);
        *ret_created = false;
        for (int attempt = 0; attempt < 2; attempt++) {
                char target[PATH_MAX];
                ssize_t n;
                if (symlinkat(cp->dir, image_fd, link) == 0) {
                        *ret_created = true;
                        return 0;
                }
                if (errno != EEXIST)
                        return sf_err_errno(e, -errno, "register container '%s' as a user of '%s'",
                                            cp->id, canonical);
                n = readlinkat(image_fd, link, target, sizeof(target) - 1);
                if (n >= 0) {
                        target[n] = 0;
                        if (STREQ(target, cp->dir))
                                return 0;
                        _cleanup_free_ char *other = xasprintf("%s/" SF_IMAGE_REF_FILE, target);
                        if (access(other, F_OK) == 0)
                                return sf_err_set(e, -EEXIST, NULL,
                                                  "container id '%s' already uses image '%s' "
                                                  "from '%s'",
                                                  cp->id, canonical, target);
                }
                (void) unlinkat(image_fd, link, 0);
        }
        return sf_err_set(e, -EEXIST, NULL, "cannot register container '%s' as a user of '%s'",
                          cp->id, canonical);
}

static int ref_write(sf_image_store *s, const cpaths *cp, const char *canonical, const char *key,
                     sf_err *e)
{
        _cleanup_json_ json_t *j = json_object();
        _cleanup_free_ char *buf = NULL, *lower = xasprintf("%s/%s/rootfs", s->images, key);
        json_object_set_new(j, "store", json_string(s->root));
        json_object_set_new(j, "image", json_string(canonical));
        json_object_set_new(j, "key", json_string(key));
        json_object_set_new(j, "lowerdir", json_string(lower));
        buf = json_dumps(j, JSON_INDENT(2));
        if (!buf)
                sf_oom();
        /* Written by rename, not fsync'd: this is the container-start hot path, and after a
         * host crash (mounts gone anyway) a lost or empty reference is simply rewritten by the
         * next prepare, and its user entry then counts as stale. */
        {
                _cleanup_free_ char *tmp = xasprintf("%s.tmp", cp->ref);
                _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
                                                           O_CLOEXEC, 0644);
                size_t len = strlen(buf);
                if (fd < 0)
                        return sf_err_errno(e, -errno, "create '%s'", tmp);
                if (write(fd, buf, len) != (ssize_t) len || rename(tmp, cp->ref) < 0) {
                        int r = errno ? -errno : -EIO;
                        (void) unlink(tmp);
                        return sf_err_errno(e, r, "write '%s'", cp->ref);
                }
        }
        return 0;
}

static int mkdir_new(const char *path, mode_t mode, bool *created, sf_err *e)
{
        *created = false;
        if (mkdir(path, mode) == 0) {
                *created = true;
                return 0;
        }
        if (errno == EEXIST)
                return 0;
        return sf_err_errno(e, -errno, "mkdir '%s'", path);
}

static int mount_overlay(const char *lower, const cpaths *cp, sf_err *e)
{
        _cleanup_free_ char *data = NULL;
        long page = sysconf(_SC_PAGESIZE);
        /* index=off: the lower dir is shared by many overlays; we need no hard-link index
         * (and no nfs export), and index=on would tie the lower to this upper's origin. */
        data = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off", lower, cp->upper,
                         cp->work);
        if ((long) strlen(data) >= page)
                return sf_err_set(e, -ENAMETOOLONG, NULL,
                                  "overlay options for '%s' are longer than a page", cp->rootfs);
        if (mount("overlay", cp->rootfs, "overlay", 0, data) == 0)
                return 0;
        if (errno == EPERM)
                return sf_err_errno(e, -errno, "mount overlay on '%s' (needs CAP_SYS_ADMIN)",
                                    cp->rootfs);
        if (errno == EINVAL)
                return sf_err_errno(e, -errno,
                                    "mount overlay on '%s' (the kernel log says why: upper dir on "
                                    "an unsupported filesystem, or nested overlay?)",
                                    cp->rootfs);
        return sf_err_errno(e, -errno, "mount overlay on '%s'", cp->rootfs);
}

int sf_rootfs_prepare(sf_image_store *s, const char *image_name, const char *container_dir,
                      char **ret_rootfs, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL, *lower = NULL;
        _cleanup_(cpaths_clear) cpaths cp = { 0 };
        _cleanup_(imgref_clear) imgref old = { 0 };
        _cleanup_close_ int ifd = -EBADF;
        bool wrote_ref = false, linked = false, mk_upper = false, mk_work = false, mk_root = false;
        int r, mounted;

        r = sf_image_name_key(image_name, &canonical, &key, e);
        if (r < 0)
                return r;
        /* Shared lock: sf_image_rm cannot remove the image between our check and our mount.
         * Taken first, so a missing image fails before anything is created. */
        r = sf_image_open_locked(s, canonical, key, LOCK_SH, &ifd, e);
        if (r < 0)
                return r;
        r = sf_mkdir_p(container_dir, 0755, e);
        if (r >= 0)
                r = cpaths_get(container_dir, &cp, e);
        if (r >= 0)
                r = sf_image_check_mount_path(cp.dir, "container dir", e);
        if (r < 0)
                return r;

        r = ref_read(cp.ref, &old, NULL);
        if (r == -EINVAL) /* torn by a crash: ours to rewrite */
                r = -ENOENT;
        else if (r < 0 && r != -ENOENT)
                return sf_err_errno(e, r, "read '%s'", cp.ref);
        if (r >= 0 && (STRNEQ(old.store, s->root) || STRNEQ(old.key, key)))
                return sf_err_set(e, -EBUSY, NULL,
                                  "'%s' holds a root filesystem of image '%s'; release it first",
                                  cp.dir, old.image);
        mounted = is_mount_point(cp.rootfs, e);
        if (mounted < 0)
                return mounted;
        if (mounted && r == -ENOENT)
                return sf_err_set(e, -EBUSY, NULL, "'%s' is already a mount point", cp.rootfs);

        if (!old.key) {
                r = ref_write(s, &cp, canonical, key, e);
                if (r < 0)
                        return r;
                wrote_ref = true;
        }
        r = user_add(ifd, &cp, canonical, &linked, e);
        if (r < 0)
                goto fail;
        if (mounted) {
                *ret_rootfs = TAKE_PTR(cp.rootfs);
                return 0;
        }
        r = mkdir_new(cp.upper, 0755, &mk_upper, e);
        if (r >= 0)
                r = mkdir_new(cp.work, 0700, &mk_work, e);
        if (r >= 0)
                r = mkdir_new(cp.rootfs, 0755, &mk_root, e);
        if (r < 0)
                goto fail;
        lower = xasprintf("%s/%s/rootfs", s->images, key);
        r = mount_overlay(lower, &cp, e);
        if (r < 0)
                goto fail;
        log_debug("container '%s': rootfs of image '%s' mounted on '%s'", cp.id, canonical,
                  cp.rootfs);
        *ret_rootfs = TAKE_PTR(cp.rootfs);
        return 0;
fail:
        /* Leave the container dir as we found it. */
        if (mk_root)
                (void) rmdir(cp.rootfs);
        if (mk_work)
                (void) sf_rm_rf(cp.work, NULL);
        if (mk_upper)
                (void) sf_rm_rf(cp.upper, NULL);
        if (linked) {
                _cleanup_free_ char *link = xasprintf("users/%s", cp.id);
                (void) unlinkat(ifd, link, 0);
        }
        if (wrote_ref)
                (void) unlink(cp.ref);
        return r;
}

/* Unmounts everything stacked on rootfs. Returns 1 if a lazy detach was needed. */
static int unmount_all(const char *rootfs, sf_err *e)
{
        bool lazy = false;
        for (int i = 0; i < 16; i++) {
                int m = is_mount_point(rootfs, e);
                if (m < 0)
                        return m;
                if (m == 0)
                        return lazy;
                if (umount2(rootfs, UMOUNT_NOFOLLOW) == 0)
                        continue;
                if (errno == EINVAL)
                        return lazy; /* not a mount point after all (raced) */
                if (errno != EBUSY)
                        return sf_err_errno(e, -errno, "unmount '%s'", rootfs);
                /* Something still has a file open, a cwd or a mount below. Detach it from the
                 * tree now; the kernel frees it when the last user goes away. */
                log_debug("unmount '%s': busy, detaching lazily", rootfs);
                if (umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return sf_err_errno(e, -errno, "detach '%s'", rootfs);
                lazy = true;
        }
        return sf_err_set(e, -EBUSY, NULL, "'%s': more than 16 mounts stacked", rootfs);
}

int sf_rootfs_release(const char *container_dir, sf_err *e)
{
        _cleanup_(cpaths_clear) cpaths cp = { 0 };
        _cleanup_(imgref_clear) imgref ref = { 0 };
        int r, lazy;

        r = cpaths_get(container_dir, &cp, e);
        if (r == -ENOENT) {
                sf_err_clear(e);
                return 0;
        }
        if (r < 0)
                return r;
        lazy = unmount_all(cp.rootfs, e);
        if (lazy < 0)
                return lazy;
        r = sf_rm_rf(cp.upper, e);
        if (r >= 0)
                r = sf_rm_rf(cp.work, e);
        if (r >= 0 && rmdir(cp.rootfs) < 0 && errno != ENOENT)
                r = sf_err_errno(e, -errno, "remove '%s'", cp.rootfs);
        if (r < 0)
                return sf_err_prefix(e, "release rootfs of '%s'", cp.dir);

        r = ref_read(cp.ref, &ref, e);
        if (r == -ENOENT)
                return lazy;
        if (r == -EINVAL) {
                /* Torn by a crash: its user entry is stale and goes at the next scan. */
                sf_err_clear(e);
        } else if (r < 0)
                return r;
        else {
                _cleanup_free_ char *link = xasprintf("%s/images/%s/users/%s", ref.store, ref.key,
                                                      cp.id);
                char target[PATH_MAX];
                ssize_t n = readlink(link, target, sizeof(target) - 1);
                if (n >= 0) {
                        target[n] = 0;
                        if (STREQ(target, cp.dir) && unlink(link) < 0 && errno != ENOENT)
                                return sf_err_errno(e, -errno, "unregister '%s'", link);
                }
        }
        if (unlink(cp.ref) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "remove '%s'", cp.ref);
        {
                _cleanup_free_ char *tmp = xasprintf("%s.tmp", cp.ref);
                (void) unlink(tmp);
        }
        log_debug("container '%s': rootfs released%s", cp.id, lazy ? " (lazily detached)" : "");
        return lazy;
}

/* ---- writing into a container rootfs ---- */

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

int sf_rootfs_write_file(const char *rootfs, const char *path, const void *data, size_t len,
                         mode_t mode, uid_t uid, gid_t gid, sf_err *e)
{
        _cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int parent = -EBADF, fd = -EBADF;
        _cleanup_free_ char *rel = NULL, *tmp = NULL;
        const char *base;
        char uuid[SF_UUID_STRLEN];
        const uint8_t *p = data;
        int r;

        if (root < 0)
                return sf_err_errno(e, -errno, "open '%s'", rootfs);
        while (*path == '/')
                path++;
        rel = xstrdup(path);
        while (*rel && rel[strlen(rel) - 1] == '/')
                rel[strlen(rel) - 1] = 0;
        base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        if (!*rel || STREQ(base, ".") || STREQ(base, ".."))
                return sf_err_set(e, -EINVAL, NULL, "'%s' does not name a file", path);

        /* Walk down the parents as the container would see them, creating missing ones in the
         * directory they resolve to. */
        parent = sf_openat2(root, ".", O_PATH | O_DIRECTORY, 0, IN_ROOT);
        for (char *s = rel; parent >= 0 && s < base;) {
                char *slash = strchr(s, '/');
                _cleanup_free_ char *prefix = xasprintf("%.*s", (int) (slash - rel), rel);
                _cleanup_free_ char *comp = xasprintf("%.*s", (int) (slash - s), s);
                int next = sf_openat2(root, prefix, O_PATH | O_DIRECTORY, 0, IN_ROOT);
                if (next == -ENOENT && *comp) {
                        if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST)
                                return sf_err_errno(e, -errno, "mkdir '/%s' in '%s'", prefix,
                                                    rootfs);
                        next = sf_openat2(root, prefix, O_PATH | O_DIRECTORY, 0, IN_ROOT);
                }
                if (next < 0)
                        return sf_err_errno(e, next, "open '/%s' in '%s'", prefix, rootfs);
                close(parent);
                parent = next;
                s = slash + 1;
        }
        if (parent < 0)
                return sf_err_errno(e, parent, "open '%s'", rootfs);

        sf_uuid(uuid);
        tmp = xasprintf(".sf-write-%s", uuid);
        fd = openat(parent, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sf_err_errno(e, -errno, "create '/%s' in '%s'", rel, rootfs);
        r = 0;
        while (len > 0 && r == 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = sf_err_errno(e, -errno, "write '/%s' in '%s'", rel, rootfs);
                else {
                        p += n;
                        len -= n;
                }
        }
        if (r == 0 && (uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
                r = sf_err_errno(e, -errno, "chown '/%s' in '%s'", rel, rootfs);
        if (r == 0 && fchmod(fd, mode & 07777) < 0)
                r = sf_err_errno(e, -errno, "chmod '/%s' in '%s'", rel, rootfs);
        if (r == 0 && renameat(parent, tmp, parent, base) < 0)
                r = sf_err_errno(e, -errno, "write '/%s' in '%s'", rel, rootfs);
        if (r < 0)
                (void) unlinkat(parent, tmp, 0);
        return r;
}
