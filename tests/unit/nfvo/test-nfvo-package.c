/* Unit tests: OSM packages (src/nfvo/package.c) built here with libarchive: the OSM layout with
 * cloud_init/, flat layouts, directories and bare YAML files; cloud-init resolution and its
 * limits; refused archives (path traversal, absolute paths, links, several descriptors). */
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include "lib/util.h"
#include "nfvo-test.h"

typedef struct entry {
        const char *path;
        const char *data;    /* NULL: a directory (or the link target when link is set) */
        size_t size;         /* 0: strlen(data) */
        bool link;
} entry;

/* A .tar.gz of the entries, in memory. */
static void *make_tgz(const entry *ents, size_t *ret_len)
{
        size_t cap = 1 << 20, used = 0;
        char *buf = xmalloc(cap);
        struct archive *a = archive_write_new();

        assert_non_null(a);
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        for (const entry *e = ents; e->path; e++) {
                struct archive_entry *ae = archive_entry_new();
                size_t n = e->data && !e->link ? (e->size ? e->size : strlen(e->data)) : 0;
                archive_entry_set_pathname(ae, e->path);
                if (e->link) {
                        archive_entry_set_filetype(ae, AE_IFLNK);
                        archive_entry_set_symlink(ae, e->data);
                        archive_entry_set_perm(ae, 0777);
                } else if (e->data) {
                        archive_entry_set_filetype(ae, AE_IFREG);
                        archive_entry_set_perm(ae, 0644);
                        archive_entry_set_size(ae, (la_int64_t) n);
                } else {
                        archive_entry_set_filetype(ae, AE_IFDIR);
                        archive_entry_set_perm(ae, 0755);
                }
                assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
                if (n)
                        assert_int_equal(archive_write_data(a, e->data, n), (la_ssize_t) n);
                archive_entry_free(ae);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        *ret_len = used;
        return buf;
}

static char *vnfd_text;  /* osm/monitoring-vnfd.yaml: vdu cloud-init-file cloud-init.cfg */
static const char cloud_init[] = "#cloud-config\npassword: ubuntu\nchpasswd: { expire: False }\n";

static int setup(void **state)
{
        vnfd_text = td_read("osm/monitoring-vnfd.yaml", NULL);
        return 0;
}

static int teardown(void **state)
{
        free(vnfd_text);
        return 0;
}

static int load_mem(const entry *ents, sf_desc_pkg **ret, json_t **errors, sf_err *e)
{
        size_t len;
        _cleanup_free_ void *tgz = make_tgz(ents, &len);
        return sf_desc_load_package_mem(tgz, len, NULL, ret, errors, e);
}

static void expect_fail(const entry *ents, int code, const char *field, const char *msg)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_desc_pkg *p = NULL;
        int r = load_mem(ents, &p, NULL, &e);
        if (r >= 0) {
                sf_desc_pkg_free(p);
                fail_msg("package loaded, expected '%s'", msg);
        }
        assert_null(p);
        assert_int_equal(r, code);
        if (field && (!e.field || STRNEQ(e.field, field)))
                fail_msg("field '%s', expected '%s' (%s)", e.field ? e.field : "(null)", field,
                         sf_err_msg(&e));
        if (!strstr(sf_err_msg(&e), msg))
                fail_msg("message '%s' does not contain '%s'", sf_err_msg(&e), msg);
}

static void test_osm_layout(void **state)
{
        const entry ents[] = {
                { "monitoring_vnf/", NULL, 0, false },
                { "monitoring_vnf/monitoring-vnfd.yaml", vnfd_text, 0, false },
                { "monitoring_vnf/checksums.txt", "abc  monitoring-vnfd.yaml\n", 0, false },
                { "monitoring_vnf/cloud_init/", NULL, 0, false },
                { "monitoring_vnf/cloud_init/cloud-init.cfg", cloud_init, 0, false },
                { "monitoring_vnf/cloud_init/spare.cfg", "#cloud-config\n", 0, false },
                { "monitoring_vnf/charms/", NULL, 0, false },
                { "monitoring_vnf/charms/prometheus-node-exporter/metadata.yaml", "name: x\n", 0, false },
                { "monitoring_vnf/icons/osm.png", "\x89PNG\r\n", 6, false },
                { NULL },
        };
        _cleanup_desc_pkg_ sf_desc_pkg *p = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *ign = NULL;
        json_t *vdu;

        if (load_mem(ents, &p, NULL, &e) < 0)
                fail_msg("%s: %s", e.field ? e.field : "", sf_err_msg(&e));
        assert_string_equal(p->descriptor, "monitoring_vnf/monitoring-vnfd.yaml");
        assert_string_equal(p->desc->id, "monitoring-vnf");
        vdu = json_array_get(json_object_get(p->desc->model, "vdus"), 0);
        assert_string_equal(json_string_value(json_object_get(vdu, "cloud_init")), cloud_init);
        assert_int_equal(json_object_size(p->files), 1);
        assert_string_equal(json_string_value(json_object_get(p->files, "cloud_init/cloud-init.cfg")),
                            cloud_init);
        ign = td_join(p->ignored_files);
        assert_string_equal(ign, "checksums.txt,cloud_init/spare.cfg,charms/,icons/");
}

static void test_flat_layout(void **state)
{
        /* No top folder, "./" prefixes, no explicit directory entries. */
        const entry ents[] = {
                { "./vnfd.yml", vnfd_text, 0, false },
                { "./cloud_init/cloud-init.cfg", cloud_init, 0, false },
                { NULL },
        };
        _cleanup_desc_pkg_ sf_desc_pkg *p = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        if (load_mem(ents, &p, NULL, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_string_equal(p->descriptor, "vnfd.yml");
        assert_int_equal(json_array_size(p->ignored_files), 0);
}

static void test_nsd_package(void **state)
{
        _cleanup_free_ char *nsd = td_read("osm/monitoring-nsd.yaml", NULL);
        const entry ents[] = {
                { "monitoring_ns/monitoring-nsd.yaml", nsd, 0, false },
                { "monitoring_ns/README.md", "hello\n", 0, false },
                { NULL },
        };
        _cleanup_desc_pkg_ sf_desc_pkg *p = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        if (load_mem(ents, &p, NULL, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_int_equal(p->desc->kind, SF_DESC_NSD);
        assert_int_equal(json_object_size(p->files), 0);
}

static void test_cloud_init_problems(void **state)
{
        _cleanup_free_ char *big = xmalloc(SF_DESC_MAX_CLOUD_INIT + 2);
        const entry missing[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/cloud_init/other.cfg", cloud_init, 0, false },
                { NULL },
        };
        const entry too_big[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/cloud_init/cloud-init.cfg", big, SF_DESC_MAX_CLOUD_INIT + 1, false },
                { NULL },
        };
        const entry symlink[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/cloud_init/cloud-init.cfg", "/etc/shadow", 0, true },
                { NULL },
        };
        const entry binary[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/cloud_init/cloud-init.cfg", "a\0b", 3, false },
                { NULL },
        };
        const entry in_charms[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/charms/cloud-init.cfg", cloud_init, 0, false },
                { NULL },
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *errors = NULL;
        sf_desc_pkg *p = NULL;
        _cleanup_free_ char *t = NULL;

        memset(big, 'x', SF_DESC_MAX_CLOUD_INIT + 1);
        big[SF_DESC_MAX_CLOUD_INIT + 1] = 0;
        expect_fail(missing, -EINVAL, "vnfd.vdu[0].cloud-init-file",
                    "file 'cloud_init/cloud-init.cfg' not found");
        expect_fail(too_big, -EINVAL, "vnfd.vdu[0].cloud-init-file", "larger than the 64 KiB limit");
        expect_fail(symlink, -EINVAL, "vnfd.vdu[0].cloud-init-file", "is not a regular file");
        expect_fail(binary, -EINVAL, "vnfd.vdu[0].cloud-init-file", "is not UTF-8 text");
        expect_fail(in_charms, -EINVAL, "vnfd.vdu[0].cloud-init-file", "not found");

        /* The error list has the position of the key in the descriptor. */
        assert_int_equal(load_mem(missing, &p, &errors, &e), -EINVAL);
        t = sf_desc_errors_format(errors);
        assert_string_equal(t, "57:5: vnfd.vdu[0].cloud-init-file: file 'cloud_init/cloud-init.cfg' "
                               "not found\n");
        assert_non_null(strstr(e.msg, "pkg/vnfd.yaml"));
}

static void test_refused(void **state)
{
        const entry traversal[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/../../etc/cron.d/x", "* * * * * root sh\n", 0, false },
                { NULL },
        };
        const entry absolute[] = {
                { "/pkg/vnfd.yaml", vnfd_text, 0, false },
                { NULL },
        };
        const entry two[] = {
                { "pkg/a.yaml", vnfd_text, 0, false },
                { "pkg/b.yaml", vnfd_text, 0, false },
                { NULL },
        };
        const entry none[] = {
                { "pkg/README", "x", 0, false },
                { "pkg/sub/vnfd.yaml", vnfd_text, 0, false },
                { NULL },
        };
        const entry dup[] = {
                { "pkg/vnfd.yaml", vnfd_text, 0, false },
                { "pkg/./vnfd.yaml", vnfd_text, 0, false },
                { NULL },
        };
        const entry link_desc[] = {
                { "pkg/vnfd.yaml", "/etc/passwd", 0, true },
                { NULL },
        };
        const entry broken_yaml[] = {
                { "pkg/vnfd.yaml", "vnfd: [\n", 0, false },
                { NULL },
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_desc_pkg *p = NULL;
        static const char junk[] = "this is not a tar archive at all, just text.";

        expect_fail(traversal, -EINVAL, NULL, "escapes the package ('..')");
        expect_fail(absolute, -EINVAL, NULL, "has an absolute path");
        expect_fail(two, -EINVAL, NULL, "more than one descriptor: 'pkg/a.yaml' and 'pkg/b.yaml'");
        expect_fail(none, -EINVAL, NULL, "no descriptor (*.yaml) found in the package folder pkg/");
        expect_fail(dup, -EINVAL, NULL, "appears twice");
        expect_fail(link_desc, -EINVAL, NULL, "no descriptor");
        expect_fail(broken_yaml, -EINVAL, NULL, "pkg/vnfd.yaml: line 2, column 1");
        assert_true(sf_desc_load_package_mem(junk, sizeof(junk), NULL, &p, NULL, &e) < 0);
        assert_non_null(strstr(e.msg, "not a valid package archive"));
        assert_null(p);
        /* Failures of the package itself still come with a (one-entry) error list. */
        {
                json_auto_t *errors = NULL;
                sf_err_clear(&e);
                assert_int_equal(load_mem(traversal, &p, &errors, &e), -EINVAL);
                assert_int_equal(json_array_size(errors), 1);
                assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "path")), "");
                assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                                    sf_err_msg(&e));
        }
}

static char *tmpdir(void)
{
        char t[] = "/tmp/sf-nfvo-pkg-XXXXXX";
        if (!mkdtemp(t))
                fail_msg("mkdtemp: %s", strerror(errno));
        return xstrdup(t);
}

static void put(const char *dir, const char *rel, const char *data)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        _cleanup_free_ char *d = xstrdup(p);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        *strrchr(d, '/') = 0;
        assert_int_equal(sf_mkdir_p(d, 0755, &e), 0);
        assert_int_equal(sf_write_file_atomic(p, data, strlen(data), 0644, &e), 0);
}

static void test_files(void **state)
{
        _cleanup_free_ char *dir = tmpdir(), *tgz_path = NULL, *pkgdir = NULL, *yaml = NULL;
        _cleanup_free_ char *bare = NULL, *link = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_desc_pkg *p = NULL;
        const entry ents[] = {
                { "monitoring_vnf/monitoring-vnfd.yaml", vnfd_text, 0, false },
                { "monitoring_vnf/cloud_init/cloud-init.cfg", cloud_init, 0, false },
                { NULL },
        };
        size_t len;
        _cleanup_free_ void *tgz = make_tgz(ents, &len);

        /* A .tar.gz on disk. */
        tgz_path = xasprintf("%s/monitoring_vnf.tar.gz", dir);
        assert_int_equal(sf_write_file_atomic(tgz_path, tgz, len, 0644, &e), 0);
        if (sf_desc_load_package(tgz_path, NULL, &p, NULL, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_string_equal(json_string_value(json_object_get(p->files, "cloud_init/cloud-init.cfg")),
                            cloud_init);
        sf_desc_pkg_free(p);
        p = NULL;

        /* A directory laid out as OSM does, given as the package folder or its parent. */
        pkgdir = xasprintf("%s/tree/monitoring_vnf", dir);
        put(pkgdir, "monitoring-vnfd.yaml", vnfd_text);
        put(pkgdir, "cloud_init/cloud-init.cfg", cloud_init);
        put(pkgdir, "charms/x/metadata.yaml", "name: x\n");
        if (sf_desc_load_package(pkgdir, NULL, &p, NULL, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_string_equal(p->descriptor, "monitoring-vnfd.yaml");
        assert_string_equal(json_string_value(json_array_get(p->ignored_files, 0)), "charms/");
        sf_desc_pkg_free(p);
        p = NULL;
        {
                _cleanup_free_ char *parent = xasprintf("%s/tree", dir);
                if (sf_desc_load_package(parent, NULL, &p, NULL, &e) < 0)
                        fail_msg("%s", sf_err_msg(&e));
                assert_string_equal(p->descriptor, "monitoring_vnf/monitoring-vnfd.yaml");
                sf_desc_pkg_free(p);
                p = NULL;
        }

        /* A bare YAML file, with cloud_init/ beside it. */
        yaml = xasprintf("%s/monitoring-vnfd.yaml", pkgdir);
        if (sf_desc_load_package(yaml, NULL, &p, NULL, &e) < 0)
                fail_msg("%s", sf_err_msg(&e));
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
                p->desc->model, "vdus"), 0), "cloud_init")), cloud_init);
        sf_desc_pkg_free(p);
        p = NULL;

        /* ... or without it. */
        bare = xasprintf("%s/alone/vnfd.yaml", dir);
        put(dir, "alone/vnfd.yaml", vnfd_text);
        assert_int_equal(sf_desc_load_package(bare, NULL, &p, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "vnfd.vdu[0].cloud-init-file");

        /* A symlinked cloud-init file in a directory is not followed. */
        link = xasprintf("%s/cloud_init/cloud-init.cfg", pkgdir);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink("/etc/hostname", link), 0);
        sf_err_clear(&e);
        assert_int_equal(sf_desc_load_package(pkgdir, NULL, &p, NULL, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "not a regular file"));
        sf_err_clear(&e);
        assert_int_equal(sf_desc_load_package(yaml, NULL, &p, NULL, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "not a regular file"));

        /* Missing path. */
        sf_err_clear(&e);
        assert_int_equal(sf_desc_load_package("/nonexistent/pkg.tar.gz", NULL, &p, NULL, &e), -ENOENT);
        assert_null(p);

        assert_int_equal(sf_rm_rf(dir, &e), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_osm_layout),
                cmocka_unit_test(test_flat_layout),
                cmocka_unit_test(test_nsd_package),
                cmocka_unit_test(test_cloud_init_problems),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_files),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
