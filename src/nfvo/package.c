/* OSM packages: reads a directory, a tar(.gz) or a bare YAML file into memory (descriptor and
 * cloud_init/ files only, bounded, never written to disk) and resolves the VDUs' cloud-init files. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "nfvo/desc-internal.h"

SF_LOG_MODULE("nfvo");

#define PKG_MAX_ENTRIES 10000
#define PKG_MAX_TOTAL ((uint64_t) 1 << 30) /* sum of the entries' sizes in an archive */
#define PKG_MAX_CANDIDATES 32               /* YAML files read while looking for the descriptor */
#define PKG_MAX_CLOUD_INIT_FILES 256
#define PKG_MAX_DEPTH 3

typedef struct pkg_file {
        char *path;    /* normalized, relative */
        bool regular;
        bool dir;
        bool too_big;  /* regular, but larger than we read */
        uint64_t size;
        char *data;    /* NULL when not read */
        size_t len;
} pkg_file;

typedef struct pkg_files {
        pkg_file *v;
        size_t n;
        json_t *index;  /* path -> position in v */
        size_t candidates, cloud_inits;
        uint64_t total;
} pkg_files;

static void files_clear(pkg_files *f)
{
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].path);
                free(f->v[i].data);
        }
        free(f->v);
        json_decref(f->index);
        *f = (pkg_files) { 0 };
}

static pkg_file *files_find(pkg_files *f, const char *path)
{
        json_t *i = f->index ? json_object_get(f->index, path) : NULL;
        return i ? &f->v[json_integer_value(i)] : NULL;
}

static bool has_suffix(const char *s, const char *suf)
{
        size_t a = strlen(s), b = strlen(suf);
        return a >= b && STREQ(s + a - b, suf);
}

static bool is_yaml_name(const char *s)
{
        return has_suffix(s, ".yaml") || has_suffix(s, ".yml");
}

static size_t depth_of(const char *p)
{
        size_t d = 1;
        for (; *p; p++)
                d += *p == '/';
        return d;
}

/* Normalizes an archive path: strips "./" and trailing "/", collapses "//"; refuses absolute
 * paths and "..". Returns NULL for "." itself. */
static int normalize(const char *in, char **ret, sf_err *e)
{
        _cleanup_free_ char *out = xzalloc(strlen(in) + 1);
        const char *p = in;
        size_t n = 0;

        if (in[0] == '/')
                return sf_err_set(e, -EINVAL, NULL, "package entry '%s' has an absolute path", in);
        while (*p) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t) (slash - p) : strlen(p);
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return sf_err_set(e, -EINVAL, NULL,
                                          "package entry '%s' escapes the package ('..')", in);
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
                if (*p == '/')
                        p++;
        }
        out[n] = 0;
        *ret = n ? TAKE_PTR(out) : NULL;
        return 0;
}

/* Should the content of this regular file be read? *max gets the limit. */
static bool wanted(pkg_files *f, const char *path, size_t *max)
{
        size_t d = depth_of(path);
        const char *ci = strstr(path, "cloud_init/");
        if (d <= 2 && is_yaml_name(path) && f->candidates < PKG_MAX_CANDIDATES) {
                *max = SF_DESC_MAX_SIZE;
                return true;
        }
        if (ci && (ci == path || ci[-1] == '/') && d <= 3 && f->cloud_inits < PKG_MAX_CLOUD_INIT_FILES &&
            depth_of(ci) == 2) {
                *max = SF_DESC_MAX_CLOUD_INIT;
                return true;
        }
        return false;
}

static int files_add(pkg_files *f, const char *raw, bool regular, bool dir, uint64_t size,
                     pkg_file **ret, sf_err *e)
{
        _cleanup_free_ char *path = NULL;
        pkg_file *x;
        int r;

        r = normalize(raw, &path, e);
        if (r < 0)
                return r;
        if (!path) {
                *ret = NULL;
                return 0;
        }
        x = files_find(f, path);
        if (x) {
                if (x->dir && dir) {
                        *ret = NULL;
                        return 0;
                }
                return sf_err_set(e, -EINVAL, NULL, "package entry '%s' appears twice", path);
        }
        if (f->n >= PKG_MAX_ENTRIES)
                return sf_err_set(e, -E2BIG, NULL, "package has more than %d entries",
                                  PKG_MAX_ENTRIES);
        f->total += size;
        if (f->total > PKG_MAX_TOTAL)
                return sf_err_set(e, -E2BIG, NULL, "package content is larger than %" PRIu64 " MiB",
                                  PKG_MAX_TOTAL >> 20);
        if (!f->index && !(f->index = json_object()))
                sf_oom();
        json_object_set_new(f->index, path, json_integer((json_int_t) f->n));
        f->v = xrealloc(f->v, sizeof(pkg_file) * (f->n + 1));
        x = &f->v[f->n++];
        *x = (pkg_file) { .path = TAKE_PTR(path), .regular = regular, .dir = dir, .size = size };
        *ret = x;
        return 0;
}

/* --- archives --- */

static int read_archive(struct archive *a, pkg_files *f, sf_err *e)
{
        struct archive_entry *ent;
        int r;

        for (;;) {
                const char *name;
                pkg_file *x;
                mode_t type;
                bool regular;
                size_t max;
                int64_t size;

                r = archive_read_next_header(a, &ent);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return sf_err_set(e, -EINVAL, NULL, "not a valid package archive: %s",
                                          archive_error_string(a) ? archive_error_string(a)
                                                                  : "read error");
                name = archive_entry_pathname(ent);
                if (!name)
                        return sf_err_set(e, -EINVAL, NULL, "package entry without a name");
                type = archive_entry_filetype(ent);
                regular = type == AE_IFREG && !archive_entry_hardlink(ent);
                size = archive_entry_size_is_set(ent) ? archive_entry_size(ent) : 0;
                if (size < 0)
                        size = 0;
                r = files_add(f, name, regular, type == AE_IFDIR, (uint64_t) size, &x, e);
                if (r < 0)
                        return r;
                if (x && regular && wanted(f, x->path, &max)) {
                        if ((uint64_t) size > max)
                                x->too_big = true;
                        else {
                                size_t cap = (size_t) size, len = 0;
                                x->data = xmalloc(cap + 1);
                                while (len < cap) {
                                        la_ssize_t n = archive_read_data(a, x->data + len, cap - len);
                                        if (n < 0)
                                                return sf_err_set(e, -EINVAL, NULL,
                                                                  "reading package entry '%s': %s",
                                                                  x->path,
                                                                  archive_error_string(a) ?
                                                                  archive_error_string(a) : "error");
                                        if (n == 0)
                                                break;
                                        len += (size_t) n;
                                }
                                x->data[len] = 0;
                                x->len = len;
                                if (is_yaml_name(x->path) && depth_of(x->path) <= 2)
                                        f->candidates++;
                                else
                                        f->cloud_inits++;
                        }
                }
                if (archive_read_data_skip(a) != ARCHIVE_OK)
                        return sf_err_set(e, -EINVAL, NULL, "not a valid package archive: %s",
                                          archive_error_string(a) ? archive_error_string(a)
                                                                  : "read error");
        }
        return 0;
}

static struct archive *archive_new(void)
{
        struct archive *a = archive_read_new();
        if (!a)
                sf_oom();
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_none(a);
        archive_read_support_format_tar(a);
        return a;
}

static int files_from_archive_mem(const void *buf, size_t len, pkg_files *f, sf_err *e)
{
        struct archive *a = archive_new();
        int r;

        if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK)
                r = sf_err_set(e, -EINVAL, NULL, "not a valid package archive: %s",
                               archive_error_string(a) ? archive_error_string(a) : "open error");
        else
                r = read_archive(a, f, e);
        archive_read_free(a);
        return r;
}

static int files_from_archive_file(const char *path, pkg_files *f, sf_err *e)
{
        struct archive *a = archive_new();
        int r;

        if (archive_read_open_filename(a, path, 64 << 10) != ARCHIVE_OK)
                r = sf_err_set(e, -EINVAL, NULL, "'%s' is not a valid package archive: %s", path,
                               archive_error_string(a) ? archive_error_string(a) : "open error");
        else
                r = read_archive(a, f, e);
        archive_read_free(a);
        return r;
}

/* --- directories --- */

/* Reads at most max bytes of a regular file at dfd/name, without following links. */
static int read_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_len, bool *too_big,
                   sf_err *e)
{
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        *too_big = false;
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", name);
        if (fstat(fd, &st) < 0)
                return sf_err_errno(e, -errno, "stat '%s'", name);
        if (!S_ISREG(st.st_mode))
                return sf_err_set(e, -EINVAL, NULL, "'%s' is not a regular file", name);
        if ((uint64_t) st.st_size > max) {
                *too_big = true;
                return 0;
        }
        buf = xmalloc(max + 2);
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "read '%s'", name);
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max) {
                        *too_big = true;
                        return 0;
                }
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int walk_dir(int dfd, const char *prefix, size_t depth, pkg_files *f, sf_err *e)
{
        _cleanup_close_ int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (fd < 0)
                return sf_err_errno(e, -errno, "open directory");
        d = fdopendir(fd);
        if (!d)
                return sf_err_errno(e, -errno, "open directory");
        fd = -EBADF;
        while ((de = readdir(d))) {
                _cleanup_free_ char *rel = NULL;
                struct stat st;
                pkg_file *x;
                size_t max;

                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                rel = *prefix ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
                r = files_add(f, rel, S_ISREG(st.st_mode), S_ISDIR(st.st_mode),
                              S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0, &x, e);
                if (r < 0)
                        break;
                if (!x)
                        continue;
                if (x->regular && wanted(f, x->path, &max)) {
                        bool big;
                        r = read_at(dirfd(d), de->d_name, max, &x->data, &x->len, &big, e);
                        if (r < 0)
                                break;
                        x->too_big = big;
                        if (!big) {
                                if (is_yaml_name(x->path) && depth_of(x->path) <= 2)
                                        f->candidates++;
                                else
                                        f->cloud_inits++;
                        }
                }
                if (x->dir && depth < PKG_MAX_DEPTH) {
                        _cleanup_close_ int sub = openat(dirfd(d), de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                                         O_NOFOLLOW);
                        if (sub < 0)
                                continue;
                        r = walk_dir(sub, x->path, depth + 1, f, e);
                        if (r < 0)
                                break;
                }
        }
        closedir(d);
        return r;
}

static int files_from_dir(const char *path, pkg_files *f, sf_err *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", path);
        return walk_dir(fd, "", 1, f, e);
}

/* --- assembly --- */

/* The folder the package content sits in: "<top>/" when every entry is under one folder. */
static char *find_base(pkg_files *f)
{
        _cleanup_free_ char *top = NULL;
        bool top_is_dir = false;

        for (size_t i = 0; i < f->n; i++) {
                const char *p = f->v[i].path, *slash = strchr(p, '/');
                size_t len = slash ? (size_t) (slash - p) : strlen(p);
                if (!top)
                        top = strndup(p, len);
                else if (strlen(top) != len || strncmp(top, p, len) != 0)
                        return xstrdup("");
                if (!slash && !f->v[i].dir)
                        return xstrdup(""); /* a file at the top */
                top_is_dir = true;
        }
        if (!top || !top_is_dir)
                return xstrdup("");
        return xasprintf("%s/", top);
}

static int find_descriptor(pkg_files *f, const char *base, pkg_file **ret, sf_err *e)
{
        pkg_file *found = NULL;
        size_t blen = strlen(base);

        for (size_t i = 0; i < f->n; i++) {
                pkg_file *x = &f->v[i];
                if (strncmp(x->path, base, blen) != 0 || strchr(x->path + blen, '/') ||
                    !is_yaml_name(x->path) || !x->regular)
                        continue;
                if (found)
                        return sf_err_set(e, -EINVAL, NULL, "package has more than one descriptor: "
                                          "'%s' and '%s'", found->path, x->path);
                found = x;
        }
        if (!found)
                return sf_err_set(e, -EINVAL, NULL, "no descriptor (*.yaml) found in the package%s%s",
                                  *base ? " folder " : "", base);
        if (found->too_big)
                return sf_err_set(e, -E2BIG, NULL, "descriptor '%s' is larger than %zu MiB",
                                  found->path, SF_DESC_MAX_SIZE >> 20);
        if (!found->data)
                return sf_err_set(e, -EINVAL, NULL, "descriptor '%s' could not be read", found->path);
        *ret = found;
        return 0;
}

void sf_desc_pkg_free(sf_desc_pkg *p)
{
        if (!p)
                return;
        sf_desc_free(p->desc);
        free(p->descriptor);
        json_decref(p->files);
        json_decref(p->ignored_files);
        free(p);
}

/* The document's top key ("vnfd" or "etsi-nfv-vnfd:vnfd"). */
static const char *doc_root(sf_desc *d)
{
        void *it = json_object_iter(d->doc);
        return it ? json_object_iter_key(it) : "vnfd";
}

typedef pkg_file *(*lookup_fn)(void *ud, const char *name, sf_err *e);

/* Resolves cloud-init-file of every VDU through lookup; errors go to c. */
static void resolve_cloud_init(dctx *c, sf_desc *d, lookup_fn lookup, void *ud, json_t *files)
{
        _cleanup_free_ char *vp = dc_key(doc_root(d), "vdu");
        json_t *vdus = json_object_get(d->model, "vdus"), *v;
        size_t i;

        json_array_foreach(vdus, i, v) {
                const char *name = dc_str(v, "cloud_init_file");
                _cleanup_free_ char *p = NULL, *q = NULL;
                _cleanup_err_ sf_err le = SF_ERR_INIT;
                pkg_file *x;
                json_t *content;

                if (!name)
                        continue;
                p = dc_idx(vp, i);
                q = dc_key(p, "cloud-init-file");
                x = lookup(ud, name, &le);
                if (!x) {
                        if (le.code)
                                dc_err(c, q, "cloud_init/%s: %s", name, sf_err_msg(&le));
                        else
                                dc_err(c, q, "file 'cloud_init/%s' not found", name);
                        continue;
                }
                if (!x->regular) {
                        dc_err(c, q, "'cloud_init/%s' is not a regular file", name);
                        continue;
                }
                if (x->too_big) {
                        dc_err(c, q, "'cloud_init/%s' is larger than the %zu KiB limit", name,
                               SF_DESC_MAX_CLOUD_INIT >> 10);
                        continue;
                }
                if (!x->data || memchr(x->data, 0, x->len) ||
                    !(content = json_stringn(x->data, x->len))) {
                        dc_err(c, q, "'cloud_init/%s' is not UTF-8 text", name);
                        continue;
                }
                json_object_set(v, "cloud_init", content);
                {
                        _cleanup_free_ char *key = xasprintf("cloud_init/%s", name);
                        json_object_set_new(files, key, content);
                }
        }
}

typedef struct mem_lookup {
        pkg_files *f;
        const char *base;
} mem_lookup;

static pkg_file *lookup_mem(void *ud, const char *name, sf_err *e)
{
        mem_lookup *m = ud;
        _cleanup_free_ char *p = xasprintf("%scloud_init/%s", m->base, name);
        return files_find(m->f, p);
}

static json_t *ignored_files(pkg_files *f, const char *base, const char *descriptor, json_t *used)
{
        _cleanup_json_ json_t *seen = json_object();
        json_t *out = json_array();
        size_t blen = strlen(base);

        for (size_t i = 0; i < f->n; i++) {
                const char *rel = f->v[i].path + blen;
                const char *slash;
                _cleanup_free_ char *name = NULL;

                if (strncmp(f->v[i].path, base, blen) != 0 || !*rel ||
                    STREQ(f->v[i].path, descriptor))
                        continue;
                slash = strchr(rel, '/');
                if (STREQ(rel, "cloud_init") && f->v[i].dir)
                        continue;
                if (slash && (size_t) (slash - rel) == strlen("cloud_init") &&
                    strncmp(rel, "cloud_init", strlen("cloud_init")) == 0) {
                        if (json_object_get(used, rel))
                                continue;
                        name = xstrdup(rel); /* a cloud-init file no VDU uses */
                } else if (slash)
                        name = xasprintf("%.*s/", (int) (slash - rel), rel);
                else
                        name = f->v[i].dir ? xasprintf("%s/", rel) : xstrdup(rel);
                if (!json_object_get(seen, name)) {
                        json_object_set_new(seen, name, json_true());
                        json_array_append_new(out, json_string(name));
                }
        }
        return out;
}

static int finish(pkg_files *f, const sf_desc_opts *opts, sf_desc_pkg **ret, json_t **ret_errors,
                  sf_err *e)
{
        _cleanup_free_ char *base = find_base(f);
        _cleanup_desc_ sf_desc *d = NULL;
        _cleanup_json_ json_t *pos = NULL, *files = json_object();
        pkg_file *desc = NULL;
        mem_lookup ml = { f, base };
        sf_desc_pkg *p;
        dctx c;
        int r;

        r = find_descriptor(f, base, &desc, e);
        if (r < 0)
                return r;
        r = sf_desc_parse_pos(desc->data, desc->len, opts, &d, &pos, ret_errors, e);
        if (r < 0)
                return sf_err_wrap(r, e, "%s", desc->path);
        dc_init(&c, pos, opts);
        resolve_cloud_init(&c, d, lookup_mem, &ml, files);
        if (dc_nerrors(&c) > 0) {
                r = dc_fail(&c, -EINVAL, ret_errors, e);
                dc_done(&c);
                return sf_err_wrap(r, e, "%s", desc->path);
        }
        dc_done(&c);
        p = new0(sf_desc_pkg, 1);
        p->descriptor = xstrdup(desc->path);
        p->ignored_files = ignored_files(f, base, desc->path, files);
        p->files = TAKE_PTR(files);
        p->desc = TAKE_PTR(d);
        *ret = p;
        return 0;
}

/* Hands the error list out on failure; failures before the descriptor was parsed get a one-entry
 * list. Takes errs. */
static int fail_list(int r, json_t *errs, json_t **ret_errors, sf_err *e)
{
        if (r >= 0 || !ret_errors) {
                json_decref(errs);
                return r;
        }
        if (!errs) {
                errs = json_pack("[{s:s, s:i, s:i, s:s}]", "path", e->field ? e->field : "", "line", 0,
                                 "column", 0, "message", sf_err_msg(e));
                if (!errs)
                        sf_oom();
        }
        *ret_errors = errs;
        return r;
}

int sf_desc_load_package_mem(const void *buf, size_t len, const sf_desc_opts *opts,
                             sf_desc_pkg **ret, json_t **ret_errors, sf_err *e)
{
        _cleanup_err_ sf_err le = SF_ERR_INIT;
        json_t *errs = NULL;
        pkg_files f = { 0 };
        int r;

        if (!e)
                e = &le;
        r = files_from_archive_mem(buf, len, &f, e);
        if (r >= 0)
                r = finish(&f, opts, ret, &errs, e);
        files_clear(&f);
        return fail_list(r, errs, ret_errors, e);
}

typedef struct dir_lookup {
        int dfd;
        pkg_file file;
} dir_lookup;

static pkg_file *lookup_dir(void *ud, const char *name, sf_err *e)
{
        dir_lookup *l = ud;
        _cleanup_free_ char *p = xasprintf("cloud_init/%s", name);
        _cleanup_close_ int ci = openat(l->dfd, "cloud_init", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                        O_NOFOLLOW);
        struct stat st;
        bool big = false;
        int r;

        free(l->file.data);
        free(l->file.path);
        l->file = (pkg_file) { .path = TAKE_PTR(p) };
        if (ci < 0 || fstatat(ci, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return NULL;
        if (!S_ISREG(st.st_mode))
                return &l->file;
        l->file.regular = true;
        r = read_at(ci, name, SF_DESC_MAX_CLOUD_INIT, &l->file.data, &l->file.len, &big, e);
        if (r < 0)
                return NULL;
        l->file.too_big = big;
        return &l->file;
}

static int load_bare_yaml(const char *path, const sf_desc_opts *opts, sf_desc_pkg **ret,
                          json_t **ret_errors, sf_err *e)
{
        _cleanup_free_ char *buf = NULL, *dir = NULL;
        _cleanup_desc_ sf_desc *d = NULL;
        _cleanup_json_ json_t *pos = NULL, *files = json_object();
        _cleanup_close_ int dfd = -EBADF;
        dir_lookup dl = { 0 };
        const char *slash;
        bool big;
        sf_desc_pkg *p;
        size_t len = 0;
        dctx c;
        int r;

        slash = strrchr(path, '/');
        dir = slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path)) : xstrdup(".");
        if (!dir)
                sf_oom();
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return sf_err_errno(e, -errno, "open '%s'", dir);
        r = read_at(dfd, slash ? slash + 1 : path, SF_DESC_MAX_SIZE, &buf, &len, &big, e);
        if (r < 0)
                return r;
        if (big)
                return sf_err_set(e, -E2BIG, NULL, "'%s' is larger than %zu MiB", path,
                                  SF_DESC_MAX_SIZE >> 20);
        r = sf_desc_parse_pos(buf, len, opts, &d, &pos, ret_errors, e);
        if (r < 0)
                return r;
        dl.dfd = dfd;
        dc_init(&c, pos, opts);
        resolve_cloud_init(&c, d, lookup_dir, &dl, files);
        free(dl.file.data);
        free(dl.file.path);
        if (dc_nerrors(&c) > 0) {
                r = dc_fail(&c, -EINVAL, ret_errors, e);
                dc_done(&c);
                return r;
        }
        dc_done(&c);
        p = new0(sf_desc_pkg, 1);
        p->descriptor = xstrdup(slash ? slash + 1 : path);
        p->ignored_files = json_array();
        p->files = TAKE_PTR(files);
        p->desc = TAKE_PTR(d);
        *ret = p;
        return 0;
}

int sf_desc_load_package(const char *path, const sf_desc_opts *opts, sf_desc_pkg **ret,
                         json_t **ret_errors, sf_err *e)
{
        _cleanup_err_ sf_err le = SF_ERR_INIT;
        json_t *errs = NULL;
        pkg_files f = { 0 };
        struct stat st;
        int r;

        if (!e)
                e = &le;
        if (stat(path, &st) < 0)
                return fail_list(sf_err_errno(e, -errno, "'%s'", path), NULL, ret_errors, e);
        if (S_ISDIR(st.st_mode))
                r = files_from_dir(path, &f, e);
        else if (!S_ISREG(st.st_mode))
                return fail_list(sf_err_set(e, -EINVAL, NULL, "'%s' is neither a file nor a directory",
                                            path), NULL, ret_errors, e);
        else if (is_yaml_name(path)) {
                r = load_bare_yaml(path, opts, ret, &errs, e);
                return fail_list(r, errs, ret_errors, e);
        } else
                r = files_from_archive_file(path, &f, e);
        if (r >= 0)
                r = finish(&f, opts, ret, &errs, e);
        files_clear(&f);
        if (r < 0)
                sf_err_prefix(e, "package '%s'", path);
        return fail_list(r, errs, ret_errors, e);
}
