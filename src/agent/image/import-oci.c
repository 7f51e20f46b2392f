/* Import of OCI image layouts (a directory or a tar of one): index -> manifest -> config and
 * layers, every blob verified against its sha256 digest, layers flattened into one rootfs. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <sys/stat.h>

#include "agent/image/image-internal.h"
#include "agent/image/oci.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("image");

#define MAX_INDEX_DEPTH 8

static int open_beneath(int layout_fd, const char *rel)
{
        return sf_openat2(layout_fd, rel, O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

static char *blob_path(const char *digest)
{
        return xasprintf("blobs/sha256/%s", digest + strlen("sha256:"));
}

/* Reads a whole small file of the layout (at most max bytes). */
static int read_small(int fd, const char *what, size_t max, char **ret, size_t *ret_len,
                      sf_err *e)
{
        _cleanup_free_ char *buf = xmalloc(max + 2);
        size_t len = 0;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "read %s", what);
                }
                if (n == 0)
                        break;
                len += n;
                if (len > max)
                        return sf_err_set(e, -E2BIG, NULL, "%s is larger than %zu bytes", what, max);
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Reads a JSON blob named by desc and checks its size and digest. */
static int read_blob(int layout_fd, const sf_oci_desc *d, const char *what, char **ret,
                     size_t *ret_len, sf_err *e)
{
        _cleanup_free_ char *path = blob_path(d->digest), *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        char got[SF_DIGEST_STRLEN];
        size_t len;
        int r;

        if (d->size > (int64_t) SF_OCI_JSON_MAX)
                return sf_err_set(e, -E2BIG, NULL, "%s %s is larger than %u bytes", what,
                                  d->digest, SF_OCI_JSON_MAX);
        fd = open_beneath(layout_fd, path);
        if (fd < 0)
                return sf_err_errno(e, fd == -ENOENT ? -EINVAL : fd, "%s %s: open '%s'", what,
                                    d->digest, path);
        r = read_small(fd, what, (size_t) d->size, &buf, &len, e);
        if (r == -E2BIG)
                return sf_err_set(e, -EINVAL, NULL, "%s %s is larger than the %" PRId64
                                  " bytes its descriptor says", what, d->digest, d->size);
        if (r < 0)
                return r;
        if ((int64_t) len != d->size)
                return sf_err_set(e, -EINVAL, NULL,
                                  "%s %s has %zu bytes, its descriptor says %" PRId64, what,
                                  d->digest, len, d->size);
        sf_sha256_digest_str(buf, len, got);
        if (STRNEQ(got, d->digest))
                return sf_err_set(e, -EINVAL, NULL, "%s %s: digest mismatch, content is %s", what,
                                  d->digest, got);
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int check_layout_file(int layout_fd, sf_err *e)
{
        _cleanup_close_ int fd = open_beneath(layout_fd, "oci-layout");
        _cleanup_free_ char *buf = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *v;
        size_t len;
        int r;

        if (fd < 0)
                return sf_err_set(e, -EINVAL, NULL,
                                  "not an OCI image layout: no 'oci-layout' file");
        r = read_small(fd, "oci-layout", 64 * 1024, &buf, &len, e);
        if (r < 0)
                return r;
        j = json_loadb(buf, len, 0, NULL);
        v = json_string_value(json_object_get(j, "imageLayoutVersion"));
        if (!v)
                return sf_err_set(e, -EINVAL, NULL, "'oci-layout' has no imageLayoutVersion");
        if (strncmp(v, "1.", 2) != 0)
                return sf_err_set(e, -EOPNOTSUPP, NULL,
                                  "OCI layout version '%.20s' is not supported (1.x is)", v);
        return 0;
}

/* Follows index.json through nested indexes to one manifest. */
static int find_manifest(int layout_fd, const char *ref, sf_oci_manifest *ret, sf_err *e)
{
        _cleanup_close_ int fd = open_beneath(layout_fd, "index.json");
        _cleanup_free_ char *buf = NULL;
        sf_oci_desc d = { 0 };
        size_t len;
        int r;

        if (fd < 0)
                return sf_err_set(e, -EINVAL, NULL, "not an OCI image layout: no 'index.json'");
        r = read_small(fd, "index.json", SF_OCI_JSON_MAX, &buf, &len, e);
        if (r >= 0)
                r = sf_oci_index_select(buf, len, "linux", sf_oci_host_arch(), ref, &d, e);
        if (r < 0)
                return sf_err_prefix(e, "index.json");
        for (int depth = 0; r >= 0; depth++) {
                sf_oci_kind kind = sf_oci_kind_of_media_type(d.media_type);
                sf_oci_desc next = { 0 };
                free(TAKE_PTR(buf));
                if (depth >= MAX_INDEX_DEPTH) {
                        r = sf_err_set(e, -ELOOP, NULL, "indexes nested more than %d deep",
                                       MAX_INDEX_DEPTH);
                        break;
                }
                r = read_blob(layout_fd, &d, "manifest", &buf, &len, e);
                if (r >= 0 && kind == SF_OCI_UNKNOWN)
                        r = sf_oci_sniff(buf, len, &kind, e);
                if (r < 0)
                        break;
                if (kind == SF_OCI_MANIFEST) {
                        r = sf_oci_manifest_parse(buf, len, ret, e);
                        if (r < 0)
                                sf_err_prefix(e, "manifest %s", d.digest);
                        break;
                }
                if (kind != SF_OCI_INDEX) {
                        r = sf_err_set(e, -EOPNOTSUPP, NULL,
                                       "%s is neither an image index nor an image manifest",
                                       d.digest);
                        break;
                }
                r = sf_oci_index_select(buf, len, "linux", sf_oci_host_arch(), ref, &next, e);
                if (r < 0) {
                        sf_err_prefix(e, "index %s", d.digest);
                        break;
                }
                sf_oci_desc_clear(&d);
                d = next;
        }
        sf_oci_desc_clear(&d);
        return r;
}

static int import_layout(sf_image_staging *st, int layout_fd, sf_err *e)
{
        _cleanup_(sf_oci_manifest_clear) sf_oci_manifest m = { 0 };
        _cleanup_(sf_oci_config_clear) sf_oci_config c = { 0 };
        _cleanup_json_ json_t *meta = json_object(), *layers = json_array();
        _cleanup_free_ char *cbuf = NULL;
        _cleanup_close_ int rootfd = -EBADF;
        const char *tag = strrchr(st->canonical, ':') + 1;
        uint64_t size = 0;
        size_t clen;
        int r;

        r = check_layout_file(layout_fd, e);
        if (r >= 0)
                r = find_manifest(layout_fd, tag, &m, e);
        if (r >= 0)
                r = read_blob(layout_fd, &m.config, "config", &cbuf, &clen, e);
        if (r >= 0) {
                r = sf_oci_config_parse(cbuf, clen, &c, e);
                if (r < 0)
                        sf_err_prefix(e, "config %s", m.config.digest);
        }
        if (r < 0)
                return r;
        if (c.os && *c.os && STRNEQ(c.os, "linux"))
                return sf_err_set(e, -EOPNOTSUPP, NULL, "image is for OS '%.40s', not linux", c.os);
        if (c.architecture && *c.architecture && STRNEQ(c.architecture, sf_oci_host_arch()))
                return sf_err_set(e, -EOPNOTSUPP, NULL,
                                  "image is for architecture '%.40s', this node is '%s'",
                                  c.architecture, sf_oci_host_arch());
        if (c.n_diff_ids != SIZE_MAX && c.n_diff_ids != m.n_layers)
                return sf_err_set(e, -EINVAL, NULL,
                                  "config lists %zu layers (rootfs.diff_ids), manifest %zu",
                                  c.n_diff_ids, m.n_layers);

        for (size_t i = 0; i < m.n_layers; i++) {
                _cleanup_free_ char *path = blob_path(m.layers[i].digest);
                _cleanup_close_ int fd = open_beneath(layout_fd, path);
                if (fd < 0)
                        return sf_err_errno(e, fd == -ENOENT ? -EINVAL : fd,
                                            "layer %zu (%s): open '%s'", i, m.layers[i].digest,
                                            path);
                log_debug("image '%s': applying layer %zu/%zu %s", st->canonical, i + 1,
                          m.n_layers, m.layers[i].digest);
                r = sf_layer_apply(fd, st->rootfs, m.layers[i].digest, m.layers[i].size, e);
                if (r < 0)
                        return sf_err_prefix(e, "layer %zu (%s)", i, m.layers[i].digest);
                json_array_append_new(layers, json_string(m.layers[i].digest));
        }

        rootfd = open(st->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return sf_err_errno(e, -errno, "open '%s'", st->rootfs);
        r = sf_tree_measure(rootfd, &size, NULL, e);
        if (r < 0)
                return r;

        json_object_set_new(meta, "id", json_string(m.config.digest));
        json_object_set_new(meta, "source", json_string("oci"));
        json_object_set(meta, "layers", layers);
        json_object_set(meta, "config", c.config);
        if (c.created && *c.created && strlen(c.created) < 64)
                json_object_set_new(meta, "created", json_string(c.created));
        return sf_image_staging_commit(st, meta, size, e);
}

int sf_image_import_oci(sf_image_store *s, const char *name, const char *path, sf_err *e)
{
        _cleanup_(sf_image_staging_end) sf_image_staging st = { 0 };
        _cleanup_free_ char *extracted = NULL;
        _cleanup_close_ int layout_fd = -EBADF;
        struct stat sb;
        int r;

        if (stat(path, &sb) < 0)
                return sf_err_errno(e, -errno, "import '%s'", path);
        if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
                return sf_err_set(e, -EINVAL, NULL,
                                  "import '%s': not a directory or a tar file", path);
        r = sf_image_staging_begin(s, name, &st, e);
        if (r < 0)
                return r;
        if (S_ISREG(sb.st_mode)) {
                extracted = xasprintf("%s/layout", st.scratch);
                if (mkdir(extracted, 0700) < 0)
                        return sf_err_errno(e, -errno, "mkdir '%s'", extracted);
                r = sf_layout_tar_extract(path, extracted, e);
                if (r < 0)
                        return sf_err_prefix(e, "import '%s'", path);
        }
        layout_fd = open(extracted ? extracted : path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (layout_fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", extracted ? extracted : path);
        r = import_layout(&st, layout_fd, e);
        if (r < 0)
                return sf_err_prefix(e, "import '%s' as image '%s'", path, st.canonical);
        return 0;
}
