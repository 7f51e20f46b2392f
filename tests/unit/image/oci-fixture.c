/* Test fixtures for the image store tests: tar layers and OCI layouts built on the fly. */
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "agent/image/image-internal.h"
#include "agent/image/oci.h"
#include "lib/util.h"
#include "oci-fixture.h"

static la_ssize_t mem_write(struct archive *a, void *p, const void *buf, size_t n)
{
        layer_builder *l = p;
        if (l->len + n > l->cap) {
                l->cap = (l->len + n) * 2;
                l->buf = xrealloc(l->buf, l->cap);
        }
        memcpy(l->buf + l->len, buf, n);
        l->len += n;
        return n;
}

layer_builder *layer_new(const char *compression)
{
        layer_builder *l = new0(layer_builder, 1);
        l->a = archive_write_new();
        archive_write_set_format_pax_restricted(l->a);
        if (STREQ(compression, "gzip"))
                archive_write_add_filter_gzip(l->a);
        else if (STREQ(compression, "zstd"))
                archive_write_add_filter_zstd(l->a);
        archive_write_set_bytes_in_last_block(l->a, 1);
        if (archive_write_open(l->a, l, NULL, mem_write, NULL) != ARCHIVE_OK)
                abort();
        return l;
}

static void add(layer_builder *l, const char *path, mode_t type, unsigned mode, const char *content,
                const char *symlink, const char *hardlink)
{
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, path);
        archive_entry_set_filetype(en, type);
        archive_entry_set_perm(en, mode);
        archive_entry_set_uid(en, 0);
        archive_entry_set_gid(en, 0);
        archive_entry_set_mtime(en, 1700000000, 0);
        if (symlink)
                archive_entry_set_symlink(en, symlink);
        if (hardlink)
                archive_entry_set_hardlink(en, hardlink);
        archive_entry_set_size(en, content ? strlen(content) : 0);
        if (archive_write_header(l->a, en) != ARCHIVE_OK)
                abort();
        if (content && *content)
                archive_write_data(l->a, content, strlen(content));
        archive_entry_free(en);
}

void layer_file(layer_builder *l, const char *path, const char *content, unsigned mode)
{
        add(l, path, AE_IFREG, mode, content, NULL, NULL);
}

void layer_dir(layer_builder *l, const char *path, unsigned mode)
{
        add(l, path, AE_IFDIR, mode, NULL, NULL, NULL);
}

void layer_symlink(layer_builder *l, const char *path, const char *target)
{
        add(l, path, AE_IFLNK, 0777, NULL, target, NULL);
}

void layer_hardlink(layer_builder *l, const char *path, const char *target)
{
        add(l, path, AE_IFREG, 0644, NULL, NULL, target);
}

char *layer_finish(layer_builder *l, size_t *ret_len)
{
        char *b;
        archive_write_close(l->a);
        archive_write_free(l->a);
        b = l->buf;
        *ret_len = l->len;
        free(l);
        return b;
}

static void write_all(const char *path, const void *buf, size_t len)
{
        _cleanup_free_ char *dir = xstrdup(path);
        *strrchr(dir, '/') = 0;
        if (sf_mkdir_p(dir, 0755, NULL) < 0 ||
            sf_write_file_atomic(path, buf, len, 0644, NULL) < 0)
                abort();
}

void file_write(const char *path, const char *content)
{
        write_all(path, content, strlen(content));
}

char *blob_put(const char *layout, const void *buf, size_t len)
{
        char d[SF_DIGEST_STRLEN];
        _cleanup_free_ char *path = NULL;
        sf_sha256_digest_str(buf, len, d);
        path = xasprintf("%s/blobs/sha256/%s", layout, d + 7);
        write_all(path, buf, len);
        return xstrdup(d);
}

json_t *desc_new(const char *media_type, const char *digest, size_t size)
{
        return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
                         (json_int_t) size);
}

static char *put_json(const char *layout, json_t *j, size_t *ret_len)
{
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
        *ret_len = strlen(s);
        return blob_put(layout, s, *ret_len);
}

char *layout_write(const char *layout, char **bufs, size_t *lens, const char **types, size_t n,
                   json_t *config_extra)
{
        _cleanup_json_ json_t *config = NULL, *manifest = NULL, *index = NULL;
        json_t *layers = json_array(), *diff_ids = json_array(), *cc;
        _cleanup_free_ char *cdigest = NULL, *idx = NULL;
        _cleanup_free_ char *ipath = xasprintf("%s/index.json", layout);
        _cleanup_free_ char *lpath = xasprintf("%s/oci-layout", layout);
        char *mdigest;
        size_t clen, mlen;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *d = blob_put(layout, bufs[i], lens[i]);
                json_array_append_new(layers, desc_new(types[i], d, lens[i]));
                json_array_append_new(diff_ids, json_string(d)); /* not checked by the importer */
        }
        cc = json_pack("{s:[s], s:[s,s], s:[s], s:s, s:s, s:{s:{}}}", "Entrypoint", "/bin/sh",
                       "Cmd", "-c", "echo hi", "Env", "PATH=/bin", "WorkingDir", "/srv", "User",
                       "1000:1000", "ExposedPorts", "80/tcp");
        if (config_extra)
                json_object_update(cc, config_extra);
        config = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:o}}", "created",
                           "2024-01-02T03:04:05Z", "architecture", sf_oci_host_arch(),
                           "os", "linux", "config", cc, "rootfs", "type", "layers", "diff_ids",
                           diff_ids);
        cdigest = put_json(layout, config, &clen);
        manifest = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
                             "application/vnd.oci.image.manifest.v1+json", "config",
                             desc_new("application/vnd.oci.image.config.v1+json", cdigest, clen),
                             "layers", layers);
        mdigest = put_json(layout, manifest, &mlen);
        index = json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests",
                          desc_new("application/vnd.oci.image.manifest.v1+json", mdigest, mlen));
        idx = json_dumps(index, JSON_COMPACT);
        file_write(ipath, idx);
        file_write(lpath, "{\"imageLayoutVersion\":\"1.0.0\"}");
        return mdigest;
}

char *tmpdir_new(void)
{
        const char *t = getenv("TMPDIR");
        char *d = xasprintf("%s/sf-image-test-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(d))
                abort();
        return d;
}

void tmpdir_rm(char *dir)
{
        if (dir)
                (void) sf_rm_rf(dir, NULL);
        free(dir);
}

bool path_exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

char *file_read(const char *path)
{
        char *buf = NULL;
        if (sf_read_file(path, 1 << 20, &buf, NULL, NULL) < 0)
                return NULL;
        return buf;
}

size_t dir_count(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        size_t n = 0;
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (STRNEQ(de->d_name, ".") && STRNEQ(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}
