/* Unit tests: OCI layout import — whiteouts and opaque dirs, nested indexes, compression,
 * digest checks, path traversal, atomicity, concurrency, listing and removal. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <archive_entry.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "agent/image/image-internal.h"
#include "agent/image/oci.h"
#include "lib/util.h"
#include "oci-fixture.h"

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZST "application/vnd.oci.image.layer.v1.tar+zstd"

typedef struct fixture {
        char *tmp;
        char *store_dir;
        char *layout;
        sf_image_store *store;
} fixture;

static int setup(void **state)
{
        fixture *f = new0(fixture, 1);
        f->tmp = tmpdir_new();
        f->store_dir = xasprintf("%s/store", f->tmp);
        f->layout = xasprintf("%s/layout", f->tmp);
        assert_int_equal(sf_image_store_open(f->store_dir, &f->store, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        sf_image_store_free(f->store);
        free(f->store_dir);
        free(f->layout);
        tmpdir_rm(f->tmp);
        free(f);
        return 0;
}

static char *rpath(fixture *f, const char *image_key, const char *rel)
{
        return xasprintf("%s/images/%s/rootfs/%s", f->store_dir, image_key, rel);
}

static bool exists_in(fixture *f, const char *key, const char *rel)
{
        _cleanup_free_ char *p = rpath(f, key, rel);
        return path_exists(p);
}

/* The store holds no image and no staging leftovers. */
static void assert_store_empty(fixture *f)
{
        _cleanup_free_ char *images = xasprintf("%s/images", f->store_dir);
        _cleanup_free_ char *tmp = xasprintf("%s/tmp", f->store_dir);
        assert_int_equal(dir_count(images), 0);
        assert_int_equal(dir_count(tmp), 0);
}

static int import_layers(fixture *f, const char *name, layer_builder **ls, const char **types,
                         size_t n, sf_err *e)
{
        char *bufs[8];
        size_t lens[8];
        _cleanup_free_ char *m = NULL;
        for (size_t i = 0; i < n; i++)
                bufs[i] = layer_finish(ls[i], &lens[i]);
        m = layout_write(f->layout, bufs, lens, types, n, NULL);
        for (size_t i = 0; i < n; i++)
                free(bufs[i]);
        return sf_image_import_oci(f->store, name, f->layout, e);
}

static void test_whiteouts(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_(sf_image_info_freep) sf_image_info *info = NULL;
        layer_builder *l[3];
        const char *types[3] = { MT_TAR, MT_GZ, MT_ZST };
        struct stat st;

        l[0] = layer_new("none");
        layer_dir(l[0], "a", 0755);
        layer_file(l[0], "a/keep", "keep\n", 0644);
        layer_file(l[0], "a/gone", "gone\n", 0644);
        layer_dir(l[0], "b", 0755);
        layer_file(l[0], "b/x", "x", 0644);
        layer_dir(l[0], "b/sub", 0700);
        layer_file(l[0], "b/sub/y", "y", 0644);
        layer_dir(l[0], "c", 0755);
        layer_file(l[0], "c/old", "old", 0644);
        layer_file(l[0], "d", "d", 0644);
        layer_dir(l[0], "e", 0755);
        layer_file(l[0], "e/inner", "inner", 0644);
        layer_symlink(l[0], "link", "/a/keep");
        layer_file(l[0], "./dotted", "dot", 0600);
        layer_hardlink(l[0], "a/keep-hl", "a/keep");
        layer_file(l[0], "bin/tool", "#!/bin/sh\n", 04755);

        l[1] = layer_new("gzip");
        layer_file(l[1], "a/.wh.gone", "", 0644);  /* plain whiteout */
        layer_file(l[1], "b/.wh..wh..opq", "", 0644); /* opaque before new content */
        layer_file(l[1], "b/new", "new", 0644);
        layer_file(l[1], "c/new", "cnew", 0644); /* new content before the opaque marker */
        layer_file(l[1], "c/.wh..wh..opq", "", 0644);
        layer_file(l[1], ".wh.d", "", 0644);
        layer_file(l[1], "e", "now a file", 0644); /* a file replaces a directory */
        layer_file(l[1], "f/.wh.never-existed", "", 0644);
        layer_file(l[1], ".wh..wh.plnk/123", "aufs", 0644); /* AUFS metadata: ignored */

        l[2] = layer_new("zstd");
        layer_file(l[2], "a/fresh", "fresh", 0644); /* re-added in the layer that removes a */
        layer_file(l[2], ".wh.a", "", 0644);
        layer_file(l[2], "c/.wh.new", "", 0644);
        layer_dir(l[2], "c/new", 0755);  /* and a dir now where c/new was a file */

        if (import_layers(f, "test/whiteouts:1", l, types, 3, &e) < 0)
                fail_msg("import: %s", sf_err_msg(&e));

        const char *k = "test+whiteouts=1";
        /* .wh.a in layer 3 hides layer 1's a/ but keeps layer 3's a/fresh */
        assert_true(exists_in(f, k, "a/fresh"));
        assert_false(exists_in(f, k, "a/keep"));
        assert_false(exists_in(f, k, "a/gone"));
        assert_false(exists_in(f, k, "a/keep-hl"));
        /* b opaque: only the new entry */
        assert_true(exists_in(f, k, "b/new"));
        assert_false(exists_in(f, k, "b/x"));
        assert_false(exists_in(f, k, "b/sub"));
        /* c opaque after c/new in the same layer: c/new survives layer 2; layer 3 replaced it
         * by a directory */
        assert_false(exists_in(f, k, "c/old"));
        {
                _cleanup_free_ char *p = rpath(f, k, "c/new");
                assert_int_equal(lstat(p, &st), 0);
                assert_true(S_ISDIR(st.st_mode));
        }
        assert_false(exists_in(f, k, "d"));
        {
                _cleanup_free_ char *p = rpath(f, k, "e");
                _cleanup_free_ char *c = file_read(p);
                assert_non_null(c);
                assert_string_equal(c, "now a file");
        }
        assert_false(exists_in(f, k, "f/.wh.never-existed"));
        assert_false(exists_in(f, k, ".wh..wh.plnk"));
        assert_true(exists_in(f, k, "dotted"));
        {
                _cleanup_free_ char *p = rpath(f, k, "link");
                char t[64];
                ssize_t n = readlink(p, t, sizeof(t) - 1);
                assert_true(n > 0);
                t[n] = 0;
                assert_string_equal(t, "/a/keep"); /* dangling now, and never followed */
        }
        {
                _cleanup_free_ char *p = rpath(f, k, "bin/tool");
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_mode & 0777, 0755);
                assert_int_equal(st.st_mtime, 1700000000);
        }

        assert_int_equal(sf_image_get(f->store, "test/whiteouts:1", &info, &e), 0);
        assert_string_equal(info->name, "test/whiteouts:1");
        assert_int_equal(strv_length(info->layers), 3);
        assert_non_null(info->cmd);
        assert_string_equal(info->cmd[0], "-c");
        assert_string_equal(info->cmd[1], "echo hi");
        assert_string_equal(info->entrypoint[0], "/bin/sh");
        assert_string_equal(info->working_dir, "/srv");
        assert_string_equal(info->user, "1000:1000");
        assert_string_equal(info->exposed_ports[0], "80/tcp");
        assert_string_equal(info->created, "2024-01-02T03:04:05Z");
        assert_string_equal(info->source, "oci");
        assert_true(strncmp(info->id, "sha256:", 7) == 0);
        assert_true(info->size > 0);
        {
                _cleanup_json_ json_t *j = sf_image_info_to_json(info);
                assert_string_equal(json_string_value(json_object_get(j, "name")),
                                    "test/whiteouts:1");
        }
        /* The layout is left alone. */
        assert_true(path_exists(f->layout));
}

/* index.json -> image index (arm64 first, host arch second) -> manifest. */
static void test_nested_index(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_(sf_image_info_freep) sf_image_info *info = NULL;
        _cleanup_json_ json_t *idx = NULL, *top = NULL, *extra = NULL;
        _cleanup_free_ char *mdigest = NULL, *idigest = NULL, *mpath = NULL, *mbuf = NULL;
        _cleanup_free_ char *ipath = xasprintf("%s/index.json", f->layout), *s = NULL;
        layer_builder *l = layer_new("gzip");
        const char *types[1] = { MT_GZ };
        char *buf;
        size_t len, mlen;
        const char *other = STREQ(sf_oci_host_arch(), "arm64") ? "amd64" : "arm64";

        layer_file(l, "hello", "world", 0644);
        buf = layer_finish(l, &len);
        extra = json_pack("{s:[s]}", "Cmd", "nested");
        mdigest = layout_write(f->layout, &buf, &len, types, 1, extra);
        free(buf);
        mpath = xasprintf("%s/blobs/sha256/%s", f->layout, mdigest + 7);
        mbuf = file_read(mpath);
        mlen = strlen(mbuf);
        idx = json_pack(
                "{s:i, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:s}}, {s:s, s:s, s:I, s:{s:s, s:s}}]}",
                "schemaVersion", 2, "mediaType", "application/vnd.oci.image.index.v1+json",
                "manifests", "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest",
                "sha256:0000000000000000000000000000000000000000000000000000000000000000", "size",
                10, "platform", "os", "linux", "architecture", other, "mediaType",
                "application/vnd.oci.image.manifest.v1+json", "digest", mdigest, "size",
                (json_int_t) mlen, "platform", "os", "linux", "architecture", sf_oci_host_arch());
        s = json_dumps(idx, JSON_COMPACT);
        idigest = blob_put(f->layout, s, strlen(s));
        top = json_pack("{s:i, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "manifests",
                        "mediaType", "application/vnd.oci.image.index.v1+json", "digest", idigest,
                        "size", (json_int_t) strlen(s));
        free(s);
        s = json_dumps(top, JSON_COMPACT);
        file_write(ipath, s);

        if (sf_image_import_oci(f->store, "nested", f->layout, &e) < 0)
                fail_msg("import: %s", sf_err_msg(&e));
        assert_int_equal(sf_image_get(f->store, "nested:latest", &info, &e), 0);
        assert_string_equal(info->cmd[0], "nested");
        assert_true(exists_in(f, "nested=latest", "hello"));
}

static void test_digest_mismatch(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL, *m = NULL;
        layer_builder *l = layer_new("none");
        const char *types[1] = { MT_TAR };
        char *buf;
        size_t len;
        int fd;

        layer_file(l, "file", "original content", 0644);
        buf = layer_finish(l, &len);
        m = layout_write(f->layout, &buf, &len, types, 1, NULL);
        {
                char d[SF_DIGEST_STRLEN];
                sf_sha256_digest_str(buf, len, d);
                path = xasprintf("%s/blobs/sha256/%s", f->layout, d + 7);
        }
        free(buf);
        /* Same size, one byte different: a valid tar, wrong digest. */
        fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "O", 1, 512), 1);
        close(fd);
        assert_int_equal(sf_image_import_oci(f->store, "bad", f->layout, &e), -EINVAL);
        assert_non_null(strstr(sf_err_msg(&e), "digest mismatch"));
        assert_store_empty(f);

        /* A manifest whose bytes changed is refused before anything is unpacked. */
        {
                _cleanup_free_ char *mp = xasprintf("%s/blobs/sha256/%s", f->layout, m + 7);
                _cleanup_free_ char *mb = file_read(mp);
                mb[strlen(mb) - 1] = ' '; /* "}" -> " ": same size, different digest */
                file_write(mp, mb);
                sf_err_clear(&e);
                assert_int_equal(sf_image_import_oci(f->store, "bad", f->layout, &e), -EINVAL);
                assert_non_null(strstr(sf_err_msg(&e), "digest mismatch"));
                assert_store_empty(f);
        }
}

static void test_size_mismatch(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *m = NULL, *path = NULL;
        layer_builder *l = layer_new("gzip");
        const char *types[1] = { MT_GZ };
        char *buf;
        size_t len;

        layer_file(l, "file", "x", 0644);
        buf = layer_finish(l, &len);
        m = layout_write(f->layout, &buf, &len, types, 1, NULL);
        {
                char d[SF_DIGEST_STRLEN];
                sf_sha256_digest_str(buf, len, d);
                path = xasprintf("%s/blobs/sha256/%s", f->layout, d + 7);
        }
        /* Append garbage: larger than the descriptor says. */
        {
                _cleanup_free_ char *big = xmalloc(len + 100);
                memcpy(big, buf, len);
                memset(big + len, 0, 100);
                assert_int_equal(sf_write_file_atomic(path, big, len + 100, 0644, NULL), 0);
        }
        free(buf);
        assert_int_equal(sf_image_import_oci(f->store, "big", f->layout, &e), -EINVAL);
        assert_non_null(strstr(sf_err_msg(&e), "descriptor says"));
        assert_store_empty(f);
}

/* Each layer must be refused and leave nothing, neither in the store nor outside it. */
static void expect_refused(fixture *f, layer_builder *l0, layer_builder *l1, const char *what,
                           const char *needle)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        layer_builder *ls[2] = { l0, l1 };
        const char *types[2] = { MT_TAR, MT_TAR };
        int r = import_layers(f, "evil", ls, types, l1 ? 2 : 1, &e);
        if (r != -EINVAL)
                fail_msg("%s: import returned %d (%s)", what, r, sf_err_msg(&e));
        if (!strstr(sf_err_msg(&e), needle))
                fail_msg("%s: '%s' does not say '%s'", what, sf_err_msg(&e), needle);
        assert_store_empty(f);
        (void) sf_rm_rf(f->layout, NULL);
}

static void test_traversal(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *outside = xasprintf("%s/outside", f->tmp);
        _cleanup_free_ char *evil = xasprintf("%s/evil", f->tmp);
        _cleanup_free_ char *target = NULL;
        layer_builder *l, *l2;

        assert_int_equal(mkdir(outside, 0755), 0);

        l = layer_new("none");
        layer_file(l, "../evil", "pwned", 0644);
        expect_refused(f, l, NULL, "../evil", "'..' component");

        l = layer_new("none");
        layer_file(l, "a/../../../../evil", "pwned", 0644);
        expect_refused(f, l, NULL, "a/../../evil", "'..' component");

        l = layer_new("none");
        layer_file(l, "/abs", "pwned", 0644);
        expect_refused(f, l, NULL, "/abs", "absolute path");

        /* An absolute symlink to a host dir, then a file through it: same layer... */
        l = layer_new("none");
        layer_symlink(l, "esc", outside);
        layer_file(l, "esc/pwned", "pwned", 0644);
        expect_refused(f, l, NULL, "absolute symlink, same layer", "through a symlink");

        /* ... and in the next layer, and with a relative symlink. */
        l = layer_new("none");
        layer_symlink(l, "esc", outside);
        l2 = layer_new("none");
        layer_file(l2, "esc/pwned", "pwned", 0644);
        expect_refused(f, l, l2, "absolute symlink, next layer", "through a symlink");

        target = xasprintf("../../../../../../../../../../../..%s", outside);
        l = layer_new("none");
        layer_dir(l, "d", 0755);
        layer_symlink(l, "d/rel", target);
        l2 = layer_new("none");
        layer_file(l2, "d/rel/pwned", "pwned", 0644);
        expect_refused(f, l, l2, "relative symlink", "through a symlink");

        /* Whiteouts through a symlink must not delete host files. */
        {
                _cleanup_free_ char *victim = xasprintf("%s/victim", outside);
                file_write(victim, "keep me");
                l = layer_new("none");
                layer_symlink(l, "esc", outside);
                l2 = layer_new("none");
                layer_file(l2, "esc/.wh.victim", "", 0644);
                expect_refused(f, l, l2, "whiteout through symlink", "through a symlink");
                l = layer_new("none");
                layer_symlink(l, "esc", outside);
                l2 = layer_new("none");
                layer_file(l2, "esc/.wh..wh..opq", "", 0644);
                expect_refused(f, l, l2, "opaque through symlink", "through a symlink");
                assert_true(path_exists(victim));
        }

        /* Hard links out of the rootfs. */
        l = layer_new("none");
        layer_hardlink(l, "hl", "../../../../../../../../etc/passwd");
        expect_refused(f, l, NULL, "hard link ..", "'..' component");
        l = layer_new("none");
        layer_hardlink(l, "hl", "/etc/passwd");
        expect_refused(f, l, NULL, "hard link absolute", "absolute path");

        assert_false(path_exists(evil));
        assert_int_equal(dir_count(outside), 1); /* only the victim */
}

static void test_atomic_failure(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *m = NULL;
        layer_builder *l0 = layer_new("none"), *l1 = layer_new("gzip");
        const char *types[2] = { MT_TAR, MT_GZ };
        char *bufs[2];
        size_t lens[2];

        layer_file(l0, "first", "1", 0644);
        for (int i = 0; i < 50; i++) {
                char p[32];
                snprintf(p, sizeof(p), "many/%d", i);
                layer_file(l1, p, "some content that compresses", 0644);
        }
        bufs[0] = layer_finish(l0, &lens[0]);
        bufs[1] = layer_finish(l1, &lens[1]);
        lens[1] /= 2; /* truncated gzip, with the digest of the truncated bytes */
        m = layout_write(f->layout, bufs, lens, types, 2, NULL);
        free(bufs[0]);
        free(bufs[1]);
        assert_true(sf_image_import_oci(f->store, "trunc", f->layout, &e) < 0);
        assert_non_null(strstr(sf_err_msg(&e), "layer 1"));
        assert_store_empty(f);
        sf_err_clear(&e);
        {
                sf_image_info *info = NULL;
                assert_int_equal(sf_image_get(f->store, "trunc", &info, &e), -ENOENT);
                assert_null(info);
        }
        assert_non_null(strstr(sf_err_msg(&e), "not found"));

        /* Not a layout at all. */
        sf_err_clear(&e);
        assert_int_equal(sf_image_import_oci(f->store, "x", f->tmp, &e), -EINVAL);
        assert_non_null(strstr(sf_err_msg(&e), "oci-layout"));
        assert_store_empty(f);
}

/* A tar of the layout directory imports the same. */
static void test_layout_tar(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *tar = xasprintf("%s/layout.tar", f->tmp), *m = NULL;
        layer_builder *l = layer_new("zstd");
        const char *types[1] = { MT_ZST };
        struct archive *a, *disk;
        char *buf;
        size_t len;

        layer_file(l, "etc/motd", "hello from a tar", 0644);
        buf = layer_finish(l, &len);
        m = layout_write(f->layout, &buf, &len, types, 1, NULL);
        free(buf);

        /* tar -C layout . */
        a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        assert_int_equal(archive_write_open_filename(a, tar), ARCHIVE_OK);
        disk = archive_read_disk_new();
        assert_int_equal(archive_read_disk_open(disk, f->layout), ARCHIVE_OK);
        for (;;) {
                struct archive_entry *en = archive_entry_new();
                char data[8192];
                ssize_t n;
                int fd;
                if (archive_read_next_header2(disk, en) != ARCHIVE_OK) {
                        archive_entry_free(en);
                        break;
                }
                archive_read_disk_descend(disk);
                const char *p = archive_entry_pathname(en) + strlen(f->layout);
                _cleanup_free_ char *src = xstrdup(archive_entry_sourcepath(en));
                _cleanup_free_ char *rel = xstrdup(*p ? p + 1 : ".");
                archive_entry_set_pathname(en, rel);
                archive_write_header(a, en);
                if (archive_entry_filetype(en) == AE_IFREG) {
                        fd = open(src, O_RDONLY | O_CLOEXEC);
                        while ((n = read(fd, data, sizeof(data))) > 0)
                                archive_write_data(a, data, n);
                        close(fd);
                }
                archive_entry_free(en);
        }
        archive_read_free(disk);
        archive_write_close(a);
        archive_write_free(a);

        if (sf_image_import_oci(f->store, "fromtar", tar, &e) < 0)
                fail_msg("import: %s", sf_err_msg(&e));
        {
                _cleanup_free_ char *p = rpath(f, "fromtar=latest", "etc/motd");
                _cleanup_free_ char *c = file_read(p);
                assert_string_equal(c, "hello from a tar");
        }
        {
                _cleanup_free_ char *tmp = xasprintf("%s/tmp", f->store_dir);
                assert_int_equal(dir_count(tmp), 0);
        }
}

typedef struct race {
        fixture *f;
        int r;
} race;

static void *race_import(void *p)
{
        race *r = p;
        r->r = sf_image_import_oci(r->f->store, "race:1", r->f->layout, NULL);
        return NULL;
}

static void test_concurrent_and_rm(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *m = NULL;
        sf_image_info **list = NULL;
        size_t n = 0;
        layer_builder *l = layer_new("gzip");
        const char *types[1] = { MT_GZ };
        pthread_t th[4];
        race rs[4];
        int ok = 0, exist = 0;
        char *buf;
        size_t len;

        for (int i = 0; i < 200; i++) {
                char p[32];
                snprintf(p, sizeof(p), "d/%d", i);
                layer_file(l, p, "content", 0644);
        }
        buf = layer_finish(l, &len);
        m = layout_write(f->layout, &buf, &len, types, 1, NULL);
        free(buf);
        for (int i = 0; i < 4; i++) {
                rs[i] = (race) { .f = f };
                assert_int_equal(pthread_create(&th[i], NULL, race_import, &rs[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(th[i], NULL);
                ok += rs[i].r == 0;
                exist += rs[i].r == -EEXIST;
        }
        assert_int_equal(ok, 1);
        assert_int_equal(exist, 3);

        assert_int_equal(sf_image_import_oci(f->store, "race:1", f->layout, &e), -EEXIST);
        assert_non_null(strstr(sf_err_msg(&e), "already exists"));
        assert_int_equal(sf_image_import_oci(f->store, "race:2", f->layout, NULL), 0);

        assert_int_equal(sf_image_list(f->store, &list, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0]->name, "race:1");
        assert_string_equal(list[1]->name, "race:2");
        assert_string_equal(list[0]->id, list[1]->id);
        sf_image_info_array_free(list, n);

        assert_int_equal(sf_image_rm(f->store, "race:1", NULL), 0);
        sf_err_clear(&e);
        assert_int_equal(sf_image_rm(f->store, "race:1", &e), -ENOENT);
        assert_int_equal(sf_image_rm(f->store, "race:2", NULL), 0);
        assert_store_empty(f);
}

static void test_bad_documents(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *ipath = xasprintf("%s/index.json", f->layout);
        _cleanup_free_ char *lpath = xasprintf("%s/oci-layout", f->layout);
        sf_oci_desc d = { 0 };

        file_write(lpath, "{\"imageLayoutVersion\":\"1.0.0\"}");
        file_write(ipath, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                          "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
                          "\"sha512:abcd\",\"size\":3}]}");
        assert_int_equal(sf_image_import_oci(f->store, "x", f->layout, &e), -EOPNOTSUPP);
        assert_non_null(strstr(sf_err_msg(&e), "sha512"));
        assert_store_empty(f);

        sf_err_clear(&e);
        file_write(ipath, "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:"
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                          "\"size\":3}]}");
        assert_int_equal(sf_image_import_oci(f->store, "x", f->layout, &e), -EINVAL);
        assert_non_null(strstr(sf_err_msg(&e), "open"));
        assert_store_empty(f);

        /* Platform selection errors name what was offered. */
        {
                const char *doc =
                        "{\"schemaVersion\":2,\"manifests\":["
                        "{\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                        "\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x\"}},"
                        "{\"digest\":\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
                        "\"size\":1,\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}}]}";
                sf_err_clear(&e);
                assert_int_equal(sf_oci_index_select(doc, strlen(doc), "linux", "amd64", NULL, &d, &e),
                                 -EINVAL);
                assert_non_null(strstr(sf_err_msg(&e), "linux/s390x"));
                /* ... and picks the right one when it is there. */
                assert_int_equal(sf_oci_index_select(doc, strlen(doc), "linux", "s390x", NULL, &d, NULL),
                                 0);
                assert_string_equal(d.digest, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        }
        sf_oci_desc_clear(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nested_index, setup, teardown),
                cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_traversal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_atomic_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_layout_tar, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_and_rm, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_documents, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
