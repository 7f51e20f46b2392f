/* The image store on disk: opening it, staging and atomically committing new images, reading
 * metadata, listing, tracking which containers use an image, and removal. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "agent/image/image-internal.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("image");

#define META_MAX (4u * 1024 * 1024)
#define REF_MAX (64u * 1024)

int sf_flock(int fd, int op)
{
        while (flock(fd, op) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

int sf_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
        struct open_how how = { .flags = (uint64_t) flags | O_CLOEXEC, .mode = mode,
                                .resolve = resolve };
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        return fd < 0 ? -errno : (int) fd;
}

int sf_fsync_path(const char *path, sf_err *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return sf_err_errno(e, -errno, "sync '%s'", path);
        return 0;
}

char **sf_strv_from_json(json_t *j)
{
        char **v = NULL;
        json_t *x;
        size_t i;
        if (!json_is_array(j))
                return NULL;
        v = new0(char *, 1);
        json_array_foreach(j, i, x)
                if (json_is_string(x))
                        strv_push(&v, xstrdup(json_string_value(x)));
        return v;
}

json_t *sf_strv_to_json(char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

const char *sf_image_store_root(const sf_image_store *s)
{
        return s->root;
}

char *sf_image_dir(sf_image_store *s, const char *key)
{
        return xasprintf("%s/%s", s->images, key);
}

void sf_image_store_free(sf_image_store *s)
{
        if (!s)
                return;
        free(s->root);
        free(s->images);
        free(s->tmp);
        free(s->locks);
        free(s);
}

/* Removes tmp/ entries nobody holds a lock on: leftovers of imports or removals that died.
 * Importers create their staging dir and lock it while holding a shared lock on tmp/, so the
 * exclusive lock here cannot see a staging dir between its creation and its locking. */
static void clean_tmp(sf_image_store *s)
{
        _cleanup_close_ int tfd = open(s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;

        if (tfd < 0 || sf_flock(tfd, LOCK_EX) < 0)
                return;
        d = opendir(s->tmp);
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                _cleanup_close_ int fd = -EBADF;
                if (de->d_name[0] == '.')
                        continue;
                p = xasprintf("%s/%s", s->tmp, de->d_name);
                fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        (void) unlink(p);
                        continue;
                }
                if (sf_flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue; /* a live import or removal */
                log_debug("removing leftover '%s'", p);
                (void) sf_rm_rf(p, NULL);
        }
        closedir(d);
}

int sf_image_store_open(const char *root, sf_image_store **ret, sf_err *e)
{
        _cleanup_free_ char *real = NULL;
        sf_image_store *s;
        int r;

        r = sf_mkdir_p(root, 0700, e);
        if (r < 0)
                return sf_err_prefix(e, "image store");
        real = realpath(root, NULL);
        if (!real)
                return sf_err_errno(e, -errno, "image store: resolve '%s'", root);
        r = sf_image_check_mount_path(real, "image store path", e);
        if (r < 0)
                return r;
        s = new0(sf_image_store, 1);
        s->root = TAKE_PTR(real);
        s->images = xasprintf("%s/images", s->root);
        s->tmp = xasprintf("%s/tmp", s->root);
        s->locks = xasprintf("%s/locks", s->root);
        const char *dirs[] = { s->images, s->tmp, s->locks };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST) {
                        r = sf_err_errno(e, -errno, "image store: mkdir '%s'", dirs[i]);
                        sf_image_store_free(s);
                        return r;
                }
        clean_tmp(s);
        *ret = s;
        return 0;
}

/* ---- staging and commit ---- */

int sf_image_staging_begin(sf_image_store *s, const char *name, sf_image_staging *ret,
                           sf_err *e)
{
        sf_image_staging st = { .store = s, .lock_fd = -EBADF, .dir_fd = -EBADF };
        _cleanup_free_ char *lock = NULL, *idir = NULL;
        _cleanup_close_ int tfd = -EBADF;
        int r;

        r = sf_image_name_key(name, &st.canonical, &st.key, e);
        if (r < 0)
                return r;
        lock = xasprintf("%s/%s.lock", s->locks, st.key);
        st.lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (st.lock_fd < 0) {
                r = sf_err_errno(e, -errno, "open '%s'", lock);
                goto fail;
        }
        r = sf_flock(st.lock_fd, LOCK_EX | LOCK_NB);
        if (r == -EWOULDBLOCK) {
                r = sf_err_set(e, -EEXIST, NULL, "image '%s' is already being imported",
                               st.canonical);
                goto fail;
        }
        if (r < 0) {
                r = sf_err_errno(e, r, "lock '%s'", lock);
                goto fail;
        }
        idir = sf_image_dir(s, st.key);
        if (access(idir, F_OK) == 0) {
                r = sf_err_set(e, -EEXIST, NULL, "image '%s' already exists", st.canonical);
                goto fail;
        }

        tfd = open(s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0 || sf_flock(tfd, LOCK_SH) < 0) {
                r = sf_err_errno(e, -errno, "open '%s'", s->tmp);
                goto fail;
        }
        st.dir = xasprintf("%s/import-XXXXXX", s->tmp);
        if (!mkdtemp(st.dir)) {
                r = sf_err_errno(e, -errno, "create staging dir in '%s'", s->tmp);
                free(TAKE_PTR(st.dir));
                goto fail;
        }
        st.dir_fd = open(st.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (st.dir_fd < 0 || sf_flock(st.dir_fd, LOCK_EX) < 0) {
                r = sf_err_errno(e, -errno, "open '%s'", st.dir);
                goto fail;
        }
        close(TAKE_FD(tfd)); /* releases the shared lock on tmp/ */
        if (mkdirat(st.dir_fd, "rootfs", 0755) < 0 || mkdirat(st.dir_fd, "scratch", 0700) < 0 ||
            mkdirat(st.dir_fd, "users", 0700) < 0 || fchmod(st.dir_fd, 0755) < 0) {
                r = sf_err_errno(e, -errno, "populate '%s'", st.dir);
                goto fail;
        }
        st.rootfs = xasprintf("%s/rootfs", st.dir);
        st.scratch = xasprintf("%s/scratch", st.dir);
        *ret = st;
        return 0;
fail:
        sf_image_staging_end(&st);
        return r;
}

void sf_image_staging_end(sf_image_staging *st)
{
        if (!st || !st->store)
                return;
        if (st->dir && !st->committed)
                (void) sf_rm_rf(st->dir, NULL);
        if (st->dir_fd >= 0)
                close(st->dir_fd);
        if (st->lock_fd >= 0)
                close(st->lock_fd);
        free(st->canonical);
        free(st->key);
        free(st->dir);
        free(st->rootfs);
        free(st->scratch);
        *st = (sf_image_staging) { .lock_fd = -EBADF, .dir_fd = -EBADF };
}

int sf_image_staging_commit(sf_image_staging *st, json_t *meta, uint64_t size, sf_err *e)
{
        _cleanup_free_ char *meta_path = NULL, *dst = NULL, *buf = NULL, *now = NULL;
        int r;

        r = sf_rm_rf(st->scratch, e);
        if (r < 0)
                return r;
        now = sf_timestamp(sf_realtime_usec());
        json_object_set_new(meta, "name", json_string(st->canonical));
        json_object_set_new(meta, "imported", json_string(now));
        if (!json_is_string(json_object_get(meta, "created")))
                json_object_set_new(meta, "created", json_string(now));
        json_object_set_new(meta, "size", json_integer((json_int_t) size));
        buf = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!buf)
                sf_oom();
        meta_path = xasprintf("%s/meta.json", st->dir);
        r = sf_write_file_atomic(meta_path, buf, strlen(buf), 0644, e);
        if (r < 0)
                return r;
        /* The image must be complete on disk before its name appears. */
        if (syncfs(st->dir_fd) < 0)
                return sf_err_errno(e, -errno, "sync '%s'", st->dir);
        dst = sf_image_dir(st->store, st->key);
        if (renameat2(AT_FDCWD, st->dir, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
                if (errno == EEXIST || errno == ENOTEMPTY)
                        return sf_err_set(e, -EEXIST, NULL, "image '%s' already exists",
                                          st->canonical);
                return sf_err_errno(e, -errno, "rename '%s' to '%s'", st->dir, dst);
        }
        st->committed = true;
        (void) sf_fsync_path(st->store->images, NULL);
        return 0;
}

/* ---- metadata ---- */

void sf_image_info_free(sf_image_info *i)
{
        if (!i)
                return;
        free(i->name);
        free(i->id);
        free(i->created);
        free(i->imported);
        free(i->source);
        strv_free(i->layers);
        strv_free(i->entrypoint);
        strv_free(i->cmd);
        strv_free(i->env);
        free(i->working_dir);
        free(i->user);
        strv_free(i->exposed_ports);
        free(i->rootfs);
        free(i);
}

void sf_image_info_array_free(sf_image_info **a, size_t n)
{
        for (size_t i = 0; a && i < n; i++)
                sf_image_info_free(a[i]);
        free(a);
}

static int info_from_json(json_t *j, const char *rootfs, sf_image_info **ret, sf_err *e)
{
        sf_image_info *i;
        json_t *c = json_object_get(j, "config"), *ports;
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *id = json_string_value(json_object_get(j, "id"));
        json_int_t size = json_integer_value(json_object_get(j, "size"));

        if (!name || !id)
                return sf_err_set(e, -EINVAL, NULL, "metadata has no name or id");
        i = new0(sf_image_info, 1);
        i->name = xstrdup(name);
        i->id = xstrdup(id);
        i->created = xstrdup(json_string_value(json_object_get(j, "created")));
        i->imported = xstrdup(json_string_value(json_object_get(j, "imported")));
        i->source = xstrdup(json_string_value(json_object_get(j, "source")));
        i->size = size > 0 ? (uint64_t) size : 0;
        i->layers = sf_strv_from_json(json_object_get(j, "layers"));
        if (!i->layers)
                i->layers = new0(char *, 1);
        i->entrypoint = sf_strv_from_json(json_object_get(c, "Entrypoint"));
        i->cmd = sf_strv_from_json(json_object_get(c, "Cmd"));
        i->env = sf_strv_from_json(json_object_get(c, "Env"));
        i->working_dir = xstrdup(json_string_value(json_object_get(c, "WorkingDir")));
        i->user = xstrdup(json_string_value(json_object_get(c, "User")));
        ports = json_object_get(c, "ExposedPorts");
        if (json_is_object(ports)) {
                const char *k;
                json_t *v;
                i->exposed_ports = new0(char *, 1);
                json_object_foreach(ports, k, v)
                        strv_push(&i->exposed_ports, xstrdup(k));
        }
        i->rootfs = xstrdup(rootfs);
        *ret = i;
        return 0;
}

json_t *sf_image_info_to_json(const sf_image_info *i)
{
        json_t *j = json_object(), *c = json_object();
        sf_json_set_str(j, "name", i->name);
        sf_json_set_str(j, "id", i->id);
        sf_json_set_str(j, "created", i->created);
        sf_json_set_str(j, "imported", i->imported);
        sf_json_set_str(j, "source", i->source);
        json_object_set_new(j, "size", json_integer((json_int_t) i->size));
        json_object_set_new(j, "layers", sf_strv_to_json(i->layers));
        if (i->entrypoint)
                json_object_set_new(c, "Entrypoint", sf_strv_to_json(i->entrypoint));
        if (i->cmd)
                json_object_set_new(c, "Cmd", sf_strv_to_json(i->cmd));
        if (i->env)
                json_object_set_new(c, "Env", sf_strv_to_json(i->env));
        if (i->working_dir)
                json_object_set_new(c, "WorkingDir", json_string(i->working_dir));
        if (i->user)
                json_object_set_new(c, "User", json_string(i->user));
        if (i->exposed_ports) {
                json_t *p = json_object();
                for (char **k = i->exposed_ports; *k; k++)
                        json_object_set_new(p, *k, json_object());
                json_object_set_new(c, "ExposedPorts", p);
        }
        json_object_set_new(j, "config", c);
        sf_json_set_str(j, "rootfs", i->rootfs);
        return j;
}

static int read_meta(const char *dir, sf_image_info **ret, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/meta.json", dir), *buf = NULL;
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
        _cleanup_json_ json_t *j = NULL;
        json_error_t je;
        size_t len;
        int r;

        r = sf_read_file(path, META_MAX, &buf, &len, e);
        if (r < 0)
                return r;
        j = json_loadb(buf, len, 0, &je);
        if (!j)
                return sf_err_set(e, -EINVAL, NULL, "'%s': malformed JSON: %s", path, je.text);
        r = info_from_json(j, rootfs, ret, e);
        if (r < 0)
                return sf_err_prefix(e, "'%s'", path);
        return 0;
}

int sf_image_open_locked(sf_image_store *s, const char *canonical, const char *key, int lockop,
                         int *ret_fd, sf_err *e)
{
        _cleanup_free_ char *dir = sf_image_dir(s, key);
        for (int attempt = 0; attempt < 8; attempt++) {
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct stat a, b;
                int r;
                if (fd < 0) {
                        if (errno == ENOENT)
                                break;
                        return sf_err_errno(e, -errno, "open '%s'", dir);
                }
                r = sf_flock(fd, lockop);
                if (r < 0)
                        return sf_err_errno(e, r, "lock '%s'", dir);
                /* Removal renames the dir away under an exclusive lock: check we still hold
                 * the dir that carries the name. */
                if (fstat(fd, &a) < 0)
                        return sf_err_errno(e, -errno, "stat '%s'", dir);
                if (lstat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
        }
        return sf_err_set(e, -ENOENT, NULL, "image '%s' not found", canonical);
}

int sf_image_get(sf_image_store *s, const char *name, sf_image_info **ret, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL, *dir = NULL;
        int r = sf_image_name_key(name, &canonical, &key, e);
        if (r < 0)
                return r;
        dir = sf_image_dir(s, key);
        r = read_meta(dir, ret, e);
        if (r == -ENOENT)
                return sf_err_set(e, -ENOENT, NULL, "image '%s' not found", canonical);
        return r;
}

static int cmp_info(const void *a, const void *b)
{
        return strcmp((*(sf_image_info *const *) a)->name, (*(sf_image_info *const *) b)->name);
}

int sf_image_list(sf_image_store *s, sf_image_info ***ret, size_t *ret_n, sf_err *e)
{
        DIR *d = opendir(s->images);
        struct dirent *de;
        sf_image_info **a = NULL;
        size_t n = 0;

        if (!d)
                return sf_err_errno(e, -errno, "open '%s'", s->images);
        while ((de = readdir(d))) {
                _cleanup_free_ char *dir = NULL;
                sf_image_info *i = NULL;
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                if (de->d_name[0] == '.')
                        continue;
                dir = xasprintf("%s/%s", s->images, de->d_name);
                if (read_meta(dir, &i, &e2) < 0) {
                        log_debug("skipping '%s': %s", dir, sf_err_msg(&e2));
                        continue;
                }
                a = xrealloc(a, sizeof(*a) * (n + 1));
                a[n++] = i;
        }
        closedir(d);
        if (!a)
                a = new0(sf_image_info *, 1);
        qsort(a, n, sizeof(*a), cmp_info);
        *ret = a;
        *ret_n = n;
        return 0;
}

/* ---- users ---- */

/* Is the container dir that users/<id> points at still holding a rootfs of this image? */
static bool user_live(sf_image_store *s, const char *key, const char *target)
{
        _cleanup_free_ char *path = xasprintf("%s/" SF_IMAGE_REF_FILE, target), *buf = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *rs, *rk;
        size_t len;

        if (sf_read_file(path, REF_MAX, &buf, &len, NULL) < 0)
                return false;
        j = json_loadb(buf, len, 0, NULL);
        rs = json_string_value(json_object_get(j, "store"));
        rk = json_string_value(json_object_get(j, "key"));
        return rs && rk && STREQ(rs, s->root) && STREQ(rk, key);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Lists live users of the image whose dir is open as dfd, removing stale entries. */
static int scan_users(sf_image_store *s, int dfd, const char *key, char ***ret, sf_err *e)
{
        _cleanup_strv_free_ char **ids = new0(char *, 1);
        int ufd = openat(dfd, "users", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *de;

        if (ufd < 0)
                return sf_err_errno(e, -errno, "open users of image '%s'", key);
        d = fdopendir(ufd);
        if (!d) {
                close(ufd);
                return sf_err_errno(e, -errno, "open users of image '%s'", key);
        }
        while ((de = readdir(d))) {
                char target[PATH_MAX];
                ssize_t n;
                if (de->d_name[0] == '.')
                        continue;
                n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n >= 0) {
                        target[n] = 0;
                        if (user_live(s, key, target)) {
                                strv_push(&ids, xstrdup(de->d_name));
                                continue;
                        }
                }
                log_debug("image '%s': dropping stale user '%s'", key, de->d_name);
                (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
        qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(ids);
        return 0;
}

int sf_image_users(sf_image_store *s, const char *name, char ***ret_ids, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r = sf_image_name_key(name, &canonical, &key, e);
        if (r >= 0)
                r = sf_image_open_locked(s, canonical, key, LOCK_SH, &fd, e);
        if (r < 0)
                return r;
        return scan_users(s, fd, key, ret_ids, e);
}

int sf_image_rm(sf_image_store *s, const char *name, sf_err *e)
{
        _cleanup_free_ char *canonical = NULL, *key = NULL, *dir = NULL, *trash = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_close_ int fd = -EBADF;
        char uuid[SF_UUID_STRLEN];
        int r;

        r = sf_image_name_key(name, &canonical, &key, e);
        if (r >= 0)
                r = sf_image_open_locked(s, canonical, key, LOCK_EX, &fd, e);
        if (r >= 0)
                r = scan_users(s, fd, key, &ids, e);
        if (r < 0)
                return r;
        if (ids[0]) {
                _cleanup_free_ char *list = NULL;
                size_t n = strv_length(ids);
                for (size_t i = 0; i < n && i < 8; i++) {
                        char *l = xasprintf("%s%s'%s'", list ? list : "", list ? ", " : "", ids[i]);
                        free(list);
                        list = l;
                }
                return sf_err_set(e, -EBUSY, NULL, "image '%s' is in use by %zu container%s: %s%s",
                                  canonical, n, n == 1 ? "" : "s", list, n > 8 ? ", ..." : "");
        }
        /* Make the name disappear atomically, then delete at leisure. We keep the exclusive
         * lock on the dir (now in tmp/), so tmp cleanup elsewhere leaves it alone. */
        dir = sf_image_dir(s, key);
        sf_uuid(uuid);
        trash = xasprintf("%s/rm-%s", s->tmp, uuid);
        if (rename(dir, trash) < 0)
                return sf_err_errno(e, -errno, "rename '%s' to '%s'", dir, trash);
        (void) sf_fsync_path(s->images, NULL);
        r = sf_rm_rf(trash, e);
        if (r < 0)
                return sf_err_prefix(e, "image '%s' is removed but its files are not", canonical);
        return 0;
}
