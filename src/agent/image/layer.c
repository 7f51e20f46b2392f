/* Applying image layers (tar streams) onto a flattened rootfs with whiteouts, safely: paths are
 * normalised and checked before libarchive sees them, and nothing is written through symlinks.
 * Also extraction of OCI layout tar files. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <sys/stat.h>

#include "agent/image/image-internal.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("image");

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define READ_BUF (128u * 1024)

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}
#define _cleanup_archive_read_ _cleanup_(archive_freep)

static void archive_write_freep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}
#define _cleanup_archive_write_ _cleanup_(archive_write_freep)

/* ---- the blob as libarchive reads it: hashed and counted on the way ---- */

typedef struct blob_src {
        int fd;
        sf_sha256 h;
        uint64_t n;
        int64_t limit; /* expected size, or -1 */
        bool too_big;
        uint8_t *buf;
} blob_src;

static ssize_t blob_fill(blob_src *b)
{
        ssize_t n;
        do
                n = read(b->fd, b->buf, READ_BUF);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        sf_sha256_update(&b->h, b->buf, n);
        b->n += n;
        if (b->limit >= 0 && b->n > (uint64_t) b->limit) {
                b->too_big = true;
                return -EFBIG;
        }
        return n;
}

static la_ssize_t blob_read(struct archive *a, void *p, const void **buf)
{
        blob_src *b = p;
        ssize_t n = blob_fill(b);
        if (n < 0) {
                archive_set_error(a, (int) -n, "read: %s",
                                  n == -EFBIG ? "blob is larger than its descriptor says"
                                              : strerror((int) -n));
                return -1;
        }
        *buf = b->buf;
        return n;
}

/* Reads what libarchive left (tar padding, trailing data) and checks size and digest. The
 * result takes precedence over an extraction error: corrupt data explains a broken tar. */
static int blob_verify(blob_src *b, const char *what, const char *digest, sf_err *e)
{
        uint8_t d[SF_SHA256_SIZE];
        char got[SF_DIGEST_STRLEN];
        ssize_t n = 0;

        while (!b->too_big && (n = blob_fill(b)) > 0)
                ;
        if (b->too_big)
                return sf_err_set(e, -EINVAL, NULL, "%s is larger than the %" PRId64
                                  " bytes its descriptor says", what, b->limit);
        if (n < 0)
                return sf_err_errno(e, (int) n, "read %s", what);
        if (b->limit >= 0 && b->n != (uint64_t) b->limit)
                return sf_err_set(e, -EINVAL, NULL,
                                  "%s has %" PRIu64 " bytes, its descriptor says %" PRId64, what,
                                  b->n, b->limit);
        sf_sha256_final(&b->h, d);
        sf_sha256_fmt(d, got);
        if (digest && STRNEQ(got, digest))
                return sf_err_set(e, -EINVAL, NULL, "%s: digest mismatch, content is %s", what,
                                  got);
        return 0;
}

/* ---- paths ---- */

/* "./a//b/" -> "a/b"; "" is the root. Absolute paths and ".." are refused. */
static int norm_path(const char *p, char **ret, sf_err *e)
{
        _cleanup_free_ char *out = xmalloc(strlen(p) + 1);
        size_t o = 0;

        if (p[0] == '/')
                return sf_err_set(e, -EINVAL, NULL, "entry '%.200s' has an absolute path", p);
        for (const char *s = p; *s;) {
                const char *end = strchrnul(s, '/');
                size_t n = end - s;
                if (n == 2 && s[0] == '.' && s[1] == '.')
                        return sf_err_set(e, -EINVAL, NULL,
                                          "entry '%.200s' has a '..' component", p);
                if (n > 0 && !(n == 1 && s[0] == '.')) {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, s, n);
                        o += n;
                }
                s = *end ? end + 1 : end;
        }
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Opens the directory rel (relative to the rootfs) refusing any symlink on the way. */
static int open_dir_nofollow(int rootfd, const char *rel, int flags)
{
        return sf_openat2(rootfd, *rel ? rel : ".", flags | O_DIRECTORY, 0,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

static char *dir_of(const char *rel)
{
        const char *slash = strrchr(rel, '/');
        return slash ? xasprintf("%.*s", (int) (slash - rel), rel) : xstrdup("");
}

static const char *base_of(const char *rel)
{
        const char *slash = strrchr(rel, '/');
        return slash ? slash + 1 : rel;
}

bool sf_xattr_allowed(const char *n)
{
        if (strncmp(n, "user.", 5) == 0)
                return strncmp(n, "user.overlay.", 13) != 0;
        if (strncmp(n, "trusted.", 8) == 0)
                return strncmp(n, "trusted.overlay.", 16) != 0;
        return STREQ(n, "security.capability") || strncmp(n, "system.posix_acl_", 17) == 0;
}

/* ---- one layer ---- */

typedef struct layer {
        const char *rootfs; /* absolute, no symlinks */
        int rootfd;
        json_t *mine; /* set of paths this layer wrote, with their ancestors */
        bool root;    /* euid 0: restore owners, create device nodes */
} layer;

static void mark_mine(layer *L, const char *rel)
{
        _cleanup_free_ char *p = xstrdup(rel);
        for (;;) {
                char *slash;
                if (json_object_get(L->mine, p))
                        return; /* ancestors are in already */
                json_object_set_new_nocheck(L->mine, p, json_true());
                slash = strrchr(p, '/');
                if (!slash)
                        return;
                *slash = 0;
        }
}

static bool is_mine(layer *L, const char *rel)
{
        return json_object_get(L->mine, rel) != NULL;
}

static int rm_path(layer *L, int pfd, const char *rel, sf_err *e)
{
        struct stat st;
        if (fstatat(pfd, base_of(rel), &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : sf_err_errno(e, -errno, "stat '%s'", rel);
        if (S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *abs = xasprintf("%s/%s", L->rootfs, rel);
                return sf_rm_rf(abs, e);
        }
        if (unlinkat(pfd, base_of(rel), 0) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "remove '%s'", rel);
        return 0;
}

/* Hides everything below directory rel that lower layers put there, keeping what this layer
 * wrote: the effect of an opaque whiteout, whatever the order of entries in the tar. */
static int purge_lower(layer *L, const char *rel, int depth, sf_err *e)
{
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > 256)
                return sf_err_set(e, -ELOOP, NULL, "'%s': directories nested too deep", rel);
        dfd = open_dir_nofollow(L->rootfd, rel, O_RDONLY);
        if (dfd == -ENOENT || dfd == -ENOTDIR)
                return 0;
        if (dfd < 0)
                return sf_err_errno(e, dfd, "open '%s'", rel);
        d = fdopendir(dfd);
        if (!d)
                return sf_err_errno(e, -errno, "open '%s'", rel);
        dfd = -EBADF;
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *child = NULL;
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                child = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
                if (is_mine(L, child)) {
                        struct stat st;
                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISDIR(st.st_mode))
                                r = purge_lower(L, child, depth + 1, e);
                        continue;
                }
                r = rm_path(L, dirfd(d), child, e);
        }
        closedir(d);
        return r;
}

/* ".wh.<name>" in dir: remove <name> of lower layers. */
static int whiteout(layer *L, const char *dir, const char *name, sf_err *e)
{
        _cleanup_free_ char *rel = *dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
        _cleanup_close_ int pfd = -EBADF;
        struct stat st;

        if (!*name || STREQ(name, ".") || STREQ(name, ".."))
                return sf_err_set(e, -EINVAL, NULL, "whiteout '%s/.wh.%s' names nothing", dir,
                                  name);
        pfd = open_dir_nofollow(L->rootfd, dir, O_PATH);
        if (pfd == -ENOENT)
                return 0;
        if (pfd == -ELOOP)
                return sf_err_set(e, -EINVAL, NULL, "whiteout for '%s' goes through a symlink",
                                  rel);
        if (pfd < 0)
                return sf_err_errno(e, pfd, "open '%s'", dir);
        if (!is_mine(L, rel))
                return rm_path(L, pfd, rel, e);
        /* This layer also wrote rel: only what lies below it from lower layers goes. */
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                return purge_lower(L, rel, 0, e);
        return 0;
}

static void filter_xattrs(struct archive_entry *en)
{
        const char *n;
        const void *v;
        size_t sz;
        size_t count = 0, kept = 0;
        struct kv {
                char *name;
                void *value;
                size_t size;
        } *keep = NULL;

        if (archive_entry_xattr_reset(en) == 0)
                return;
        while (archive_entry_xattr_next(en, &n, &v, &sz) == ARCHIVE_OK) {
                count++;
                if (!sf_xattr_allowed(n))
                        continue;
                keep = xrealloc(keep, sizeof(*keep) * (kept + 1));
                keep[kept].name = xstrdup(n);
                keep[kept].value = xmalloc(sz);
                memcpy(keep[kept].value, v, sz);
                keep[kept].size = sz;
                kept++;
        }
        if (kept != count) {
                archive_entry_xattr_clear(en);
                for (size_t i = 0; i < kept; i++)
                        archive_entry_xattr_add_entry(en, keep[i].name, keep[i].value,
                                                      keep[i].size);
        }
        for (size_t i = 0; i < kept; i++) {
                free(keep[i].name);
                free(keep[i].value);
        }
        free(keep);
}

static int copy_data(struct archive *a, struct archive *w, const char *rel, sf_err *e)
{
        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t off;
                int r = archive_read_data_block(a, &buf, &size, &off);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return sf_err_set(e, -EIO, NULL, "read '%s': %s", rel,
                                          archive_error_string(a));
                if (archive_write_data_block(w, buf, size, off) < ARCHIVE_WARN)
                        return sf_err_set(e, -EIO, NULL, "write '%s': %s", rel,
                                          archive_error_string(w));
        }
}

static int apply_entry(layer *L, struct archive *a, struct archive *w, struct archive_entry *en,
                       sf_err *e)
{
        _cleanup_free_ char *rel = NULL, *dir = NULL, *abs = NULL, *link_rel = NULL;
        _cleanup_close_ int pfd = -EBADF;
        const char *raw = archive_entry_pathname(en), *base, *hl;
        mode_t type = archive_entry_filetype(en);
        struct stat st;
        int r;

        if (!raw)
                return sf_err_set(e, -EINVAL, NULL, "entry with an unreadable name");
        r = norm_path(raw, &rel, e);
        if (r < 0)
                return r;
        if (!*rel)
                return 0; /* the root itself: keep ours */
        dir = dir_of(rel);
        base = base_of(rel);

        /* AUFS hard-link bookkeeping (".wh..wh.plnk" etc.) is not content. */
        if (strstr(rel, WH_META_PREFIX) && !STREQ(base, WH_OPAQUE))
                return 0;
        if (STREQ(base, WH_OPAQUE)) {
                pfd = open_dir_nofollow(L->rootfd, dir, O_PATH);
                if (pfd == -ELOOP)
                        return sf_err_set(e, -EINVAL, NULL,
                                          "opaque whiteout in '%s' goes through a symlink", dir);
                if (*dir)
                        mark_mine(L, dir);
                return pfd == -ENOENT ? 0 : purge_lower(L, dir, 0, e);
        }
        if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
                return whiteout(L, dir, base + strlen(WH_PREFIX), e);

        if (type == AE_IFSOCK || ((type == AE_IFCHR || type == AE_IFBLK) && !L->root)) {
                log_debug("layer entry '%s': %s, skipping", rel,
                          type == AE_IFSOCK ? "socket" : "device node needs root");
                return 0;
        }

        /* Never write through a symlink: every existing parent must be a real directory. */
        pfd = open_dir_nofollow(L->rootfd, dir, O_PATH);
        if (pfd == -ELOOP)
                return sf_err_set(e, -EINVAL, NULL,
                                  "entry '%.200s' would be written through a symlink", raw);
        if (pfd == -ENOTDIR)
                return sf_err_set(e, -EINVAL, NULL, "entry '%.200s': a parent is not a directory",
                                  raw);
        if (pfd < 0 && pfd != -ENOENT)
                return sf_err_errno(e, pfd, "open '%s'", dir);

        hl = archive_entry_hardlink(en);
        if (hl) {
                _cleanup_free_ char *ldir = NULL;
                _cleanup_close_ int lfd = -EBADF;
                r = norm_path(hl, &link_rel, e);
                if (r < 0)
                        return sf_err_prefix(e, "hard link '%.200s'", raw);
                if (!*link_rel || STREQ(link_rel, rel))
                        return sf_err_set(e, -EINVAL, NULL, "hard link '%.200s' to '%.200s' is invalid",
                                          raw, hl);
                ldir = dir_of(link_rel);
                lfd = open_dir_nofollow(L->rootfd, ldir, O_PATH);
                if (lfd < 0)
                        return sf_err_set(e, -EINVAL, NULL,
                                          "hard link '%.200s': target '%.200s' is not a file of "
                                          "the image",
                                          raw, hl);
                abs = xasprintf("%s/%s", L->rootfs, link_rel);
                archive_entry_copy_hardlink(en, abs);
                free(TAKE_PTR(abs));
        }

        /* Replace what lower layers have at this path, unless both are directories (merge). */
        if (pfd >= 0 && fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !(S_ISDIR(st.st_mode) && type == AE_IFDIR && !hl)) {
                r = rm_path(L, pfd, rel, e);
                if (r < 0)
                        return r;
        }

        abs = xasprintf("%s/%s", L->rootfs, rel);
        archive_entry_copy_pathname(en, abs);
        filter_xattrs(en);
        mark_mine(L, rel);

        r = archive_write_header(w, en);
        if (r < ARCHIVE_WARN)
                return sf_err_set(e, -EIO, NULL, "extract '%.200s': %s", raw,
                                  archive_error_string(w));
        if (r == ARCHIVE_WARN)
                log_debug("extract '%s': %s", rel, archive_error_string(w));
        if (archive_entry_size(en) > 0 && type == AE_IFREG) {
                r = copy_data(a, w, rel, e);
                if (r < 0)
                        return r;
        }
        r = archive_write_finish_entry(w);
        if (r < ARCHIVE_WARN)
                return sf_err_set(e, -EIO, NULL, "extract '%.200s': %s", raw,
                                  archive_error_string(w));
        return 0;
}

int sf_layer_apply(int fd, const char *rootfs, const char *expect_digest, int64_t expect_size,
                   sf_err *e)
{
        _cleanup_archive_read_ struct archive *a = archive_read_new();
        _cleanup_archive_write_ struct archive *w = archive_write_disk_new();
        _cleanup_json_ json_t *mine = json_object();
        _cleanup_free_ uint8_t *buf = xmalloc(READ_BUF);
        _cleanup_close_ int rootfd = -EBADF;
        _cleanup_err_ sf_err ve = SF_ERR_INIT;
        blob_src src = { .fd = fd, .limit = expect_size, .buf = buf };
        layer L = { .rootfs = rootfs, .mine = mine, .root = geteuid() == 0 };
        int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR |
                    ARCHIVE_EXTRACT_UNLINK | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                    ARCHIVE_EXTRACT_SECURE_NODOTDOT;
        int r = 0, vr;

        if (!a || !w)
                sf_oom();
        rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return sf_err_errno(e, -errno, "open '%s'", rootfs);
        L.rootfd = rootfd;
        if (L.root)
                flags |= ARCHIVE_EXTRACT_OWNER; /* numeric ids: no lookup in the host's passwd */
        archive_write_disk_set_options(w, flags);
        sf_sha256_init(&src.h);
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open(a, &src, NULL, blob_read, NULL) != ARCHIVE_OK)
                r = sf_err_set(e, -EINVAL, NULL, "not a tar archive: %s", archive_error_string(a));
        while (r >= 0) {
                struct archive_entry *en;
                int ar = archive_read_next_header(a, &en);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = sf_err_set(e, -EINVAL, NULL, "read tar: %s", archive_error_string(a));
                        break;
                }
                r = apply_entry(&L, a, w, en, e);
        }
        if (archive_write_close(w) < ARCHIVE_WARN && r >= 0)
                r = sf_err_set(e, -EIO, NULL, "finish extraction: %s", archive_error_string(w));
        vr = blob_verify(&src, "layer", expect_digest, &ve);
        if (vr < 0) {
                sf_err_move(e, &ve);
                return vr;
        }
        return r;
}

/* ---- OCI layout tar ---- */

static bool layout_member(const char *rel)
{
        return STREQ(rel, "oci-layout") || STREQ(rel, "index.json") || STREQ(rel, "blobs") ||
               strncmp(rel, "blobs/", 6) == 0;
}

static int extract_file(struct archive *a, const char *abs, const char *rel, sf_err *e)
{
        _cleanup_close_ int fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                      0644);
        if (fd < 0)
                return sf_err_errno(e, -errno, "create '%s'", abs);
        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t off;
                int r = archive_read_data_block(a, &buf, &size, &off);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return sf_err_set(e, -EINVAL, NULL, "read '%s': %s", rel,
                                          archive_error_string(a));
                for (const char *p = buf; size > 0;) {
                        ssize_t n = pwrite(fd, p, size, off);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return sf_err_errno(e, -errno, "write '%s'", abs);
                        }
                        p += n;
                        off += n;
                        size -= n;
                }
        }
}

int sf_layout_tar_extract(const char *tar_path, const char *dir, sf_err *e)
{
        _cleanup_archive_read_ struct archive *a = archive_read_new();
        _cleanup_close_ int fd = open(tar_path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = xmalloc(READ_BUF);
        blob_src src = { .fd = fd, .limit = -1, .buf = buf };

        if (!a)
                sf_oom();
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", tar_path);
        sf_sha256_init(&src.h);
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open(a, &src, NULL, blob_read, NULL) != ARCHIVE_OK)
                return sf_err_set(e, -EINVAL, NULL, "'%s' is not a tar archive: %s", tar_path,
                                  archive_error_string(a));
        for (;;) {
                _cleanup_free_ char *rel = NULL, *abs = NULL, *parent = NULL;
                struct archive_entry *en;
                const char *raw;
                int r = archive_read_next_header(a, &en);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return sf_err_set(e, -EINVAL, NULL, "read '%s': %s", tar_path,
                                          archive_error_string(a));
                raw = archive_entry_pathname(en);
                if (!raw)
                        return sf_err_set(e, -EINVAL, NULL, "'%s': entry with an unreadable name",
                                          tar_path);
                r = norm_path(raw, &rel, e);
                if (r < 0)
                        return sf_err_prefix(e, "'%s'", tar_path);
                if (!*rel || !layout_member(rel))
                        continue;
                abs = xasprintf("%s/%s", dir, rel);
                if (archive_entry_filetype(en) == AE_IFDIR) {
                        r = sf_mkdir_p(abs, 0755, e);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (archive_entry_filetype(en) != AE_IFREG || archive_entry_hardlink(en))
                        continue; /* the layout needs plain files only */
                parent = dir_of(abs);
                r = sf_mkdir_p(parent, 0755, e);
                if (r < 0)
                        return r;
                r = extract_file(a, abs, rel, e);
                if (r < 0)
                        return r;
        }
}
