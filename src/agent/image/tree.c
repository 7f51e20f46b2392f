/* Directory trees: copying a plain rootfs into the store (reflink or copy_file_range, keeping
 * owners, modes, times, xattrs and hard links) and measuring one (size, content digest). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "agent/image/image-internal.h"
#include "lib/log.h"

SF_LOG_MODULE("image");

#define MAX_DEPTH 256
#define BUF_SIZE (128u * 1024)

/* Sorted names of a directory's entries, without "." and "..". */
static int list_dir(int dfd, char ***ret, sf_err *e);

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int list_dir(int dfd, char ***ret, sf_err *e)
{
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_strv_free_ char **names = new0(char *, 1);
        size_t n = 0;
        DIR *d;
        struct dirent *de;

        if (fd < 0)
                return sf_err_errno(e, -errno, "open directory");
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return sf_err_errno(e, -errno, "open directory");
        }
        while ((de = readdir(d))) {
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                names = xrealloc(names, sizeof(char *) * (n + 2));
                names[n++] = xstrdup(de->d_name);
                names[n] = NULL;
        }
        closedir(d);
        qsort(names, n, sizeof(char *), cmp_str);
        *ret = TAKE_PTR(names);
        return 0;
}

static char *join(const char *rel, const char *name)
{
        return *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
}

static char *inode_key(const struct stat *st)
{
        return xasprintf("%lu:%lu", (unsigned long) st->st_dev, (unsigned long) st->st_ino);
}

static int read_link(int dfd, const char *name, size_t hint, char **ret, sf_err *e)
{
        size_t cap = hint + 2;
        for (;;) {
                _cleanup_free_ char *buf = xmalloc(cap);
                ssize_t n = readlinkat(dfd, name, buf, cap);
                if (n < 0)
                        return sf_err_errno(e, -errno, "readlink '%s'", name);
                if ((size_t) n < cap) {
                        buf[n] = 0;
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
                cap *= 2;
        }
}

/* ---- measuring ---- */

typedef struct measure {
        uint64_t size;
        sf_sha256 *h; /* NULL: size only */
        json_t *seen; /* hard-linked inodes already counted */
        uint8_t *buf;
} measure;

static int hash_file(measure *m, int dfd, const char *name, sf_err *e)
{
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", name);
        for (;;) {
                ssize_t n = read(fd, m->buf, BUF_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "read '%s'", name);
                }
                if (n == 0)
                        return 0;
                sf_sha256_update(m->h, m->buf, n);
        }
}

static int measure_dir(measure *m, int dfd, const char *rel, int depth, sf_err *e)
{
        _cleanup_strv_free_ char **names = NULL;
        int r;

        if (depth > MAX_DEPTH)
                return sf_err_set(e, -ELOOP, NULL, "'%s': directories nested too deep", rel);
        r = list_dir(dfd, &names, e);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *crel = join(rel, *n);
                struct stat st;
                if (fstatat(dfd, *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return sf_err_errno(e, -errno, "stat '%s'", crel);
                if (m->h) {
                        _cleanup_free_ char *meta = xasprintf(
                                "%o %u %u %" PRIu64, (unsigned) st.st_mode, (unsigned) st.st_uid,
                                (unsigned) st.st_gid,
                                S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0);
                        sf_sha256_update(m->h, crel, strlen(crel) + 1);
                        sf_sha256_update(m->h, meta, strlen(meta) + 1);
                }
                if (S_ISREG(st.st_mode)) {
                        bool counted = false;
                        if (st.st_nlink > 1) {
                                _cleanup_free_ char *k = inode_key(&st);
                                counted = json_object_get(m->seen, k) != NULL;
                                if (!counted)
                                        json_object_set_new(m->seen, k, json_true());
                        }
                        if (!counted)
                                m->size += st.st_size;
                        if (m->h) {
                                r = hash_file(m, dfd, *n, e);
                                if (r < 0)
                                        return r;
                        }
                } else if (S_ISLNK(st.st_mode) && m->h) {
                        _cleanup_free_ char *t = NULL;
                        r = read_link(dfd, *n, st.st_size, &t, e);
                        if (r < 0)
                                return r;
                        sf_sha256_update(m->h, t, strlen(t) + 1);
                } else if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && m->h) {
                        _cleanup_free_ char *dev = xasprintf("%u:%u", major(st.st_rdev),
                                                             minor(st.st_rdev));
                        sf_sha256_update(m->h, dev, strlen(dev) + 1);
                } else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dfd, *n, O_RDONLY | O_DIRECTORY |
                                                                    O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return sf_err_errno(e, -errno, "open '%s'", crel);
                        r = measure_dir(m, sub, crel, depth + 1, e);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int sf_tree_measure(int dir_fd, uint64_t *ret_size, uint8_t digest[SF_SHA256_SIZE], sf_err *e)
{
        _cleanup_json_ json_t *seen = json_object();
        _cleanup_free_ uint8_t *buf = xmalloc(BUF_SIZE);
        sf_sha256 h;
        measure m = { .seen = seen, .buf = buf, .h = digest ? &h : NULL };
        int r;

        if (digest)
                sf_sha256_init(&h);
        r = measure_dir(&m, dir_fd, "", 0, e);
        if (r < 0)
                return r;
        if (digest)
                sf_sha256_final(&h, digest);
        *ret_size = m.size;
        return 0;
}

/* ---- copying ---- */

typedef struct copy {
        dev_t dev;     /* the source tree's filesystem: we do not cross mount points */
        int dst_root;  /* for hard links */
        json_t *links; /* "dev:ino" of the source -> path relative to dst_root */
        bool root;
        uint8_t *buf;
} copy;

static int copy_xattrs(int src, int dst, const char *rel, sf_err *e)
{
        ssize_t n = flistxattr(src, NULL, 0);
        _cleanup_free_ char *names = NULL;

        if (n <= 0)
                return 0; /* none, or not supported */
        names = xmalloc(n);
        n = flistxattr(src, names, n);
        if (n < 0)
                return 0; /* changed meanwhile: a rootfs being copied is not changing */
        for (char *p = names; p < names + n; p += strlen(p) + 1) {
                _cleanup_free_ char *v = NULL;
                ssize_t vn;
                if (!sf_xattr_allowed(p))
                        continue;
                vn = fgetxattr(src, p, NULL, 0);
                if (vn < 0)
                        continue;
                v = xmalloc(vn + 1);
                vn = fgetxattr(src, p, v, vn);
                if (vn < 0)
                        continue;
                if (fsetxattr(dst, p, v, vn, 0) < 0) {
                        if (errno == ENOTSUP || errno == EPERM) {
                                log_debug("'%s': cannot set xattr '%s', ignoring", rel, p);
                                continue;
                        }
                        return sf_err_errno(e, -errno, "'%s': set xattr '%s'", rel, p);
                }
        }
        return 0;
}

/* Owner first (chown clears set-id bits and file capabilities), then mode, xattrs, times. */
static int apply_meta_fd(copy *c, int src, int dst, const struct stat *st, const char *rel,
                         sf_err *e)
{
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        int r;
        if (c->root && fchown(dst, st->st_uid, st->st_gid) < 0)
                return sf_err_errno(e, -errno, "chown '%s'", rel);
        if (fchmod(dst, st->st_mode & 07777) < 0)
                return sf_err_errno(e, -errno, "chmod '%s'", rel);
        r = copy_xattrs(src, dst, rel, e);
        if (r < 0)
                return r;
        if (futimens(dst, ts) < 0)
                return sf_err_errno(e, -errno, "set times of '%s'", rel);
        return 0;
}

static int apply_meta_at(copy *c, int dfd, const char *name, const struct stat *st,
                         const char *rel, sf_err *e)
{
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        if (c->root && fchownat(dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return sf_err_errno(e, -errno, "chown '%s'", rel);
        if (!S_ISLNK(st->st_mode) && fchmodat(dfd, name, st->st_mode & 07777, 0) < 0)
                return sf_err_errno(e, -errno, "chmod '%s'", rel);
        if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return sf_err_errno(e, -errno, "set times of '%s'", rel);
        return 0;
}

/* A reflink, else copy_file_range, else read and write with buf (BUF_SIZE bytes; NULL: one
 * is allocated if needed). */
int sf_image_copy_data(int src, int dst, uint8_t *buf, const char *rel, sf_err *e)
{
        _cleanup_free_ uint8_t *own = NULL;
        bool first = true;
        if (ioctl(dst, FICLONE, src) == 0)
                return 0;
        for (;;) {
                ssize_t n = copy_file_range(src, NULL, dst, NULL, 1u << 30, 0);
                if (n == 0)
                        return 0;
                if (n > 0) {
                        first = false;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (first && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                              errno == EOPNOTSUPP))
                        break;
                return sf_err_errno(e, -errno, "copy '%s'", rel);
        }
        if (!buf)
                buf = own = xmalloc(BUF_SIZE);
        for (;;) {
                ssize_t n = read(src, buf, BUF_SIZE);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return sf_err_errno(e, -errno, "read '%s'", rel);
                if (n == 0)
                        return 0;
                for (uint8_t *p = buf; n > 0;) {
                        ssize_t w = write(dst, p, n);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return sf_err_errno(e, -errno, "write '%s'", rel);
                        p += w;
                        n -= w;
                }
        }
}

static int copy_dir(copy *c, int sfd, int dfd, const char *rel, int depth, sf_err *e);

static int copy_entry(copy *c, int sfd, int dfd, const char *name, const char *rel, int depth,
                      sf_err *e)
{
        struct stat st;
        int r;

        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return sf_err_errno(e, -errno, "stat '%s'", rel);

        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int s = -EBADF, d = -EBADF;
                if (mkdirat(dfd, name, 0700) < 0)
                        return sf_err_errno(e, -errno, "mkdir '%s'", rel);
                if (st.st_dev != c->dev) {
                        log_debug("'%s' is a mount point: copying it as an empty dir", rel);
                        return fchmodat(dfd, name, 0755, 0) < 0
                                       ? sf_err_errno(e, -errno, "chmod '%s'", rel) : 0;
                }
                s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return sf_err_errno(e, -errno, "open '%s'", rel);
                r = copy_dir(c, s, d, rel, depth + 1, e);
                if (r < 0)
                        return r;
                return apply_meta_fd(c, s, d, &st, rel, e);
        }
        if (S_ISREG(st.st_mode)) {
                _cleanup_free_ char *k = NULL;
                _cleanup_close_ int s = -EBADF, d = -EBADF;
                if (st.st_dev != c->dev)
                        return 0; /* a file bind-mounted into the tree: not ours */
                if (st.st_nlink > 1) {
                        json_t *first;
                        k = inode_key(&st);
                        first = json_object_get(c->links, k);
                        if (first) {
                                if (linkat(c->dst_root, json_string_value(first), dfd, name, 0) < 0)
                                        return sf_err_errno(e, -errno, "link '%s'", rel);
                                return 0;
                        }
                }
                s = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0)
                        return sf_err_errno(e, -errno, "open '%s'", rel);
                d = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (d < 0)
                        return sf_err_errno(e, -errno, "create '%s'", rel);
                r = sf_image_copy_data(s, d, c->buf, rel, e);
                if (r >= 0)
                        r = apply_meta_fd(c, s, d, &st, rel, e);
                if (r < 0)
                        return r;
                if (k)
                        json_object_set_new(c->links, k, json_string(rel));
                return 0;
        }
        if (S_ISLNK(st.st_mode)) {
                _cleanup_free_ char *t = NULL;
                r = read_link(sfd, name, st.st_size, &t, e);
                if (r < 0)
                        return r;
                if (symlinkat(t, dfd, name) < 0)
                        return sf_err_errno(e, -errno, "symlink '%s'", rel);
                return apply_meta_at(c, dfd, name, &st, rel, e);
        }
        if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                if (!S_ISFIFO(st.st_mode) && !c->root) {
                        log_debug("'%s': device node needs root, skipping", rel);
                        return 0;
                }
                if (mknodat(dfd, name, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0)
                        return sf_err_errno(e, -errno, "mknod '%s'", rel);
                return apply_meta_at(c, dfd, name, &st, rel, e);
        }
        log_debug("'%s': socket, skipping", rel);
        return 0;
}

static int copy_dir(copy *c, int sfd, int dfd, const char *rel, int depth, sf_err *e)
{
        _cleanup_strv_free_ char **names = NULL;
        int r;
        if (depth > MAX_DEPTH)
                return sf_err_set(e, -ELOOP, NULL, "'%s': directories nested too deep", rel);
        r = list_dir(sfd, &names, e);
        if (r < 0)
                return r;
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *crel = join(rel, *n);
                r = copy_entry(c, sfd, dfd, *n, crel, depth, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sf_tree_copy(int src_fd, int dst_fd, sf_err *e)
{
        _cleanup_json_ json_t *links = json_object();
        _cleanup_free_ uint8_t *buf = xmalloc(BUF_SIZE);
        struct stat st;
        copy c = { .dst_root = dst_fd, .links = links, .root = geteuid() == 0, .buf = buf };
        if (fstat(src_fd, &st) < 0)
                return sf_err_errno(e, -errno, "stat source");
        c.dev = st.st_dev;
        return copy_dir(&c, src_fd, dst_fd, "", 0, e);
}

json_t *sf_image_default_config(char *const *cmd)
{
        json_t *c = json_object(), *env = json_array();
        json_array_append_new(env,
                              json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        json_object_set_new(c, "Env", env);
        if (cmd && cmd[0])
                json_object_set_new(c, "Cmd", sf_strv_to_json(cmd));
        json_object_set_new(c, "WorkingDir", json_string("/"));
        return c;
}

int sf_image_import_rootfs(sf_image_store *s, const char *name, const char *src_dir,
                           char *const *cmd, sf_err *e)
{
        _cleanup_(sf_image_staging_end) sf_image_staging st = { 0 };
        _cleanup_close_ int sfd = -EBADF, dfd = -EBADF;
        _cleanup_json_ json_t *meta = json_object();
        uint8_t digest[SF_SHA256_SIZE];
        char id[SF_DIGEST_STRLEN];
        uint64_t size;
        int r;

        sfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
                return sf_err_errno(e, -errno, "import rootfs '%s'", src_dir);
        {
                /* Copying the store into itself would never end. */
                _cleanup_free_ char *real = realpath(src_dir, NULL);
                size_t n = real ? strlen(real) : 0;
                const char *root = sf_image_store_root(s);
                if (real && (strncmp(root, real, n) == 0 && (root[n] == '/' || root[n] == 0 || n == 1)))
                        return sf_err_set(e, -EINVAL, NULL,
                                          "import rootfs '%s': it contains the image store '%s'",
                                          src_dir, root);
                if (real && strncmp(real, root, strlen(root)) == 0 && real[strlen(root)] == '/')
                        return sf_err_set(e, -EINVAL, NULL,
                                          "import rootfs '%s': it is inside the image store",
                                          src_dir);
        }
        r = sf_image_staging_begin(s, name, &st, e);
        if (r < 0)
                return r;
        dfd = open(st.rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return sf_err_errno(e, -errno, "open '%s'", st.rootfs);
        r = sf_tree_copy(sfd, dfd, e);
        if (r >= 0)
                r = sf_tree_measure(dfd, &size, digest, e);
        if (r < 0)
                return sf_err_prefix(e, "import rootfs '%s' as image '%s'", src_dir, st.canonical);
        sf_sha256_fmt(digest, id);
        json_object_set_new(meta, "id", json_string(id));
        json_object_set_new(meta, "source", json_string("rootfs"));
        json_object_set_new(meta, "layers", json_array());
        json_object_set_new(meta, "config", sf_image_default_config(cmd));
        return sf_image_staging_commit(&st, meta, size, e);
}
