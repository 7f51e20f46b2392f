/* Unit tests: plain rootfs import (copy, hard links, content id), the busybox image, writing
 * files into a container rootfs, and image users blocking removal. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "agent/image/image-internal.h"
#include "lib/util.h"
#include "oci-fixture.h"

typedef struct fixture {
        char *tmp, *store_dir, *src;
        sf_image_store *store;
} fixture;

static int setup(void **state)
{
        fixture *f = new0(fixture, 1);
        f->tmp = tmpdir_new();
        f->store_dir = xasprintf("%s/store", f->tmp);
        f->src = xasprintf("%s/src", f->tmp);
        assert_int_equal(sf_image_store_open(f->store_dir, &f->store, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        sf_image_store_free(f->store);
        free(f->store_dir);
        free(f->src);
        tmpdir_rm(f->tmp);
        free(f);
        return 0;
}

static char *sp(fixture *f, const char *rel)
{
        return xasprintf("%s/%s", f->src, rel);
}

static char *ip(fixture *f, const char *key, const char *rel)
{
        return xasprintf("%s/images/%s/rootfs/%s", f->store_dir, key, rel);
}

static void test_import_rootfs(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_(sf_image_info_freep) sf_image_info *a = NULL, *b = NULL;
        _cleanup_free_ char *file = sp(f, "etc/app.conf"), *hl = sp(f, "etc/app-hl");
        _cleanup_free_ char *lnk = sp(f, "bin/app"), *fifo = sp(f, "run/fifo");
        _cleanup_free_ char *ro = sp(f, "ro");
        char *const cmd[] = { (char *) "/bin/app", (char *) "--serve", NULL };
        struct stat s1, s2;

        file_write(file, "key=value\n");
        assert_int_equal(chmod(file, 0640), 0);
        assert_int_equal(link(file, hl), 0);
        assert_int_equal(sf_mkdir_p(f->src, 0755, NULL), 0);
        {
                _cleanup_free_ char *bin = sp(f, "bin"), *run = sp(f, "run");
                assert_int_equal(mkdir(bin, 0755), 0);
                assert_int_equal(mkdir(run, 0755), 0);
        }
        assert_int_equal(symlink("/etc/app.conf", lnk), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        (void) setxattr(file, "user.test", "v", 1, 0); /* not every fs has user xattrs */
        assert_int_equal(mkdir(ro, 0500), 0);

        if (sf_image_import_rootfs(f->store, "app:1", f->src, cmd, &e) < 0)
                fail_msg("import: %s", sf_err_msg(&e));
        {
                _cleanup_free_ char *c = ip(f, "app=1", "etc/app.conf"), *h = ip(f, "app=1", "etc/app-hl");
                _cleanup_free_ char *l = ip(f, "app=1", "bin/app"), *q = ip(f, "app=1", "run/fifo");
                _cleanup_free_ char *r = ip(f, "app=1", "ro"), *content = file_read(c);
                char t[64], v[8];
                ssize_t n;
                assert_string_equal(content, "key=value\n");
                assert_int_equal(stat(c, &s1), 0);
                assert_int_equal(stat(h, &s2), 0);
                assert_int_equal(s1.st_ino, s2.st_ino); /* hard link kept */
                assert_int_equal(s1.st_mode & 07777, 0640);
                assert_int_equal(lstat(l, &s1), 0);
                assert_true(S_ISLNK(s1.st_mode));
                n = readlink(l, t, sizeof(t) - 1);
                t[n > 0 ? n : 0] = 0;
                assert_string_equal(t, "/etc/app.conf");
                assert_int_equal(lstat(q, &s1), 0);
                assert_true(S_ISFIFO(s1.st_mode));
                assert_int_equal(stat(r, &s1), 0);
                assert_int_equal(s1.st_mode & 07777, 0500);
                if (getxattr(file, "user.test", v, sizeof(v)) == 1)
                        assert_int_equal(getxattr(c, "user.test", v, sizeof(v)), 1);
        }
        /* Same content, same id; the copy does not share inodes with the source. */
        assert_int_equal(sf_image_import_rootfs(f->store, "app:2", f->src, NULL, NULL), 0);
        assert_int_equal(sf_image_get(f->store, "app:1", &a, NULL), 0);
        assert_int_equal(sf_image_get(f->store, "app:2", &b, NULL), 0);
        assert_string_equal(a->id, b->id);
        assert_string_equal(a->source, "rootfs");
        assert_string_equal(a->cmd[0], "/bin/app");
        assert_string_equal(a->cmd[1], "--serve");
        assert_null(b->cmd);
        assert_int_equal(a->size, strlen("key=value\n"));
        assert_int_equal(strv_length(a->layers), 0);
        {
                _cleanup_free_ char *c = ip(f, "app=1", "etc/app.conf");
                assert_int_equal(stat(file, &s1), 0);
                assert_int_equal(stat(c, &s2), 0);
                assert_true(s1.st_ino != s2.st_ino || s1.st_dev != s2.st_dev);
        }
        /* Different content, different id. */
        file_write(file, "key=other\n");
        assert_int_equal(sf_image_import_rootfs(f->store, "app:3", f->src, NULL, NULL), 0);
        sf_image_info_free(b);
        b = NULL;
        assert_int_equal(sf_image_get(f->store, "app:3", &b, NULL), 0);
        assert_string_not_equal(a->id, b->id);

        assert_int_equal(sf_image_import_rootfs(f->store, "app:4", "/nonexistent", NULL, &e),
                         -ENOENT);
        assert_int_equal(sf_image_import_rootfs(f->store, "Bad Name", f->src, NULL, &e), -EINVAL);
        sf_err_clear(&e);
        assert_int_equal(sf_image_import_rootfs(f->store, "self", f->tmp, NULL, &e), -EINVAL);
        assert_non_null(strstr(sf_err_msg(&e), "contains the image store"));
        {
                _cleanup_free_ char *inside = xasprintf("%s/images", f->store_dir);
                assert_int_equal(sf_image_import_rootfs(f->store, "self", inside, NULL, NULL),
                                 -EINVAL);
        }
}

static void test_busybox(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_(sf_image_info_freep) sf_image_info *info = NULL;
        _cleanup_free_ char *sh = ip(f, "busybox=latest", "bin/sh");
        _cleanup_free_ char *wget = ip(f, "busybox=latest", "usr/bin/wget");
        _cleanup_free_ char *passwd = ip(f, "busybox=latest", "etc/passwd");
        _cleanup_free_ char *index = ip(f, "busybox=latest", "var/www/index.html");
        _cleanup_free_ char *tmp = ip(f, "busybox=latest", "tmp");
        _cleanup_free_ char *c = NULL;
        struct stat st;
        char t[64];
        ssize_t n;

        if (access("/bin/busybox", X_OK) < 0)
                skip();
        if (sf_image_create_busybox(f->store, "busybox", &e) < 0)
                fail_msg("create: %s", sf_err_msg(&e));
        n = readlink(sh, t, sizeof(t) - 1);
        assert_true(n > 0);
        t[n] = 0;
        assert_string_equal(t, "busybox");
        assert_int_equal(stat(sh, &st), 0); /* resolves, on the host too */
        assert_int_equal(stat(wget, &st), 0);
        c = file_read(passwd);
        assert_non_null(strstr(c, "root:x:0:0:"));
        assert_true(path_exists(index));
        assert_int_equal(stat(tmp, &st), 0);
        assert_int_equal(st.st_mode & 07777, 01777);
        assert_int_equal(sf_image_get(f->store, "busybox", &info, NULL), 0);
        assert_string_equal(info->cmd[0], "sh");
        assert_null(info->cmd[1]);
        assert_string_equal(info->source, "busybox");
        assert_true(info->size > 100000);

        /* A dynamically linked binary is refused with a hint. */
        if (access("/bin/true", X_OK) == 0) {
                sf_err_clear(&e);
                assert_int_equal(sf_image_create_busybox_from(f->store, "bb2", "/bin/true", &e),
                                 -ENOEXEC);
                assert_non_null(strstr(sf_err_msg(&e), "busybox-static"));
        }
        assert_int_equal(sf_image_create_busybox(f->store, "busybox", NULL), -EEXIST);
}

static void test_write_file(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *root = xasprintf("%s/root", f->tmp), *outside = xasprintf("%s/outside", f->tmp);
        _cleanup_free_ char *etc = NULL, *c = NULL, *p = NULL, *esc = NULL;
        struct stat st;

        assert_int_equal(mkdir(root, 0755), 0);
        assert_int_equal(mkdir(outside, 0755), 0);
        /* /etc is an absolute symlink: inside the container it means <root>/real-etc. */
        etc = xasprintf("%s/etc", root);
        assert_int_equal(symlink("/real-etc", etc), 0);
        p = xasprintf("%s/real-etc", root);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);

        assert_int_equal(sf_rootfs_write_file(root, "/etc/app/app.conf", "a=1\n", 4, 0640,
                                              (uid_t) -1, (gid_t) -1, &e), 0);
        p = xasprintf("%s/real-etc/app/app.conf", root);
        c = file_read(p);
        assert_string_equal(c, "a=1\n");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        free(c);
        /* Replaced atomically, no temporary left behind. */
        assert_int_equal(sf_rootfs_write_file(root, "etc/app/app.conf", "a=2\n", 4, 0600,
                                              (uid_t) -1, (gid_t) -1, &e), 0);
        c = file_read(p);
        assert_string_equal(c, "a=2\n");
        {
                _cleanup_free_ char *d = xasprintf("%s/real-etc/app", root);
                assert_int_equal(dir_count(d), 1);
        }

        /* Symlinks leading out of the rootfs are resolved inside it. */
        esc = xasprintf("%s/esc", root);
        assert_int_equal(symlink(outside, esc), 0);
        /* Dangling inside the container (like mkdir -p in a chroot): refused. */
        assert_int_equal(sf_rootfs_write_file(root, "/esc/x", "x", 1, 0644, (uid_t) -1,
                                              (gid_t) -1, &e), -ENOENT);
        assert_int_equal(dir_count(outside), 0);
        {
                _cleanup_free_ char *in = xasprintf("%s%s", root, outside);
                assert_int_equal(sf_mkdir_p(in, 0755, NULL), 0);
        }
        assert_int_equal(sf_rootfs_write_file(root, "/esc/x", "x", 1, 0644, (uid_t) -1,
                                              (gid_t) -1, &e), 0);
        assert_int_equal(dir_count(outside), 0);
        {
                _cleanup_free_ char *in = xasprintf("%s%s/x", root, outside);
                assert_true(path_exists(in));
        }
        /* "../" cannot climb out either. */
        assert_int_equal(sf_rootfs_write_file(root, "/../../../y", "y", 1, 0644, (uid_t) -1,
                                              (gid_t) -1, &e), 0);
        {
                _cleanup_free_ char *in = xasprintf("%s/y", root);
                _cleanup_free_ char *out = xasprintf("%s/y", f->tmp);
                assert_true(path_exists(in));
                assert_false(path_exists(out));
        }
        /* A final-component symlink is replaced, not followed. */
        {
                _cleanup_free_ char *l = xasprintf("%s/lnk", root);
                _cleanup_free_ char *victim = xasprintf("%s/victim", outside);
                file_write(victim, "keep");
                assert_int_equal(symlink(victim, l), 0);
                assert_int_equal(sf_rootfs_write_file(root, "/lnk", "new", 3, 0644, (uid_t) -1,
                                                      (gid_t) -1, &e), 0);
                free(c);
                c = file_read(victim);
                assert_string_equal(c, "keep");
                assert_int_equal(lstat(l, &st), 0);
                assert_true(S_ISREG(st.st_mode));
        }
        assert_int_equal(sf_rootfs_write_file(root, "/", "", 0, 0644, (uid_t) -1, (gid_t) -1, &e),
                         -EINVAL);
}

/* Users are recorded by sf_rootfs_prepare (needs root, see tests/system/image-rootfs.sh); here
 * we lay the same records down by hand to test the bookkeeping. */
static void test_users(void **state)
{
        fixture *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_free_ char *cdir = xasprintf("%s/containers/c1", f->tmp);
        _cleanup_free_ char *ref = xasprintf("%s/" SF_IMAGE_REF_FILE, cdir);
        _cleanup_free_ char *link1 = NULL, *link2 = NULL, *content = NULL, *name = NULL;

        _cleanup_free_ char *srcfile = sp(f, "hello");
        file_write(ref, "{}"); /* creates cdir */
        file_write(srcfile, "hello");
        assert_int_equal(sf_image_import_rootfs(f->store, "img", f->src, NULL, NULL), 0);
        link1 = xasprintf("%s/images/img=latest/users/c1", f->store_dir);
        link2 = xasprintf("%s/images/img=latest/users/gone", f->store_dir);
        assert_int_equal(symlink(cdir, link1), 0);
        assert_int_equal(symlink("/nonexistent/gone", link2), 0);

        /* c1's ref does not name this image yet: both are stale. */
        assert_int_equal(sf_image_users(f->store, "img", &ids, NULL), 0);
        assert_null(ids[0]);
        assert_false(path_exists(link1));
        assert_false(path_exists(link2));
        strv_free(TAKE_PTR(ids));

        assert_int_equal(symlink(cdir, link1), 0);
        content = xasprintf("{\"store\":\"%s\",\"image\":\"img:latest\",\"key\":\"img=latest\"}",
                            sf_image_store_root(f->store));
        file_write(ref, content);
        assert_int_equal(sf_image_users(f->store, "img", &ids, NULL), 0);
        assert_string_equal(ids[0], "c1");
        assert_null(ids[1]);
        assert_int_equal(sf_rootfs_image_name(cdir, &name, NULL), 0);
        assert_string_equal(name, "img:latest");

        assert_int_equal(sf_image_rm(f->store, "img", &e), -EBUSY);
        assert_non_null(strstr(sf_err_msg(&e), "'c1'"));
        {
                _cleanup_free_ char *d = xasprintf("%s/images/img=latest/rootfs", f->store_dir);
                assert_true(path_exists(d));
        }
        /* Releasing a container dir that has no mount removes the record. */
        assert_int_equal(sf_rootfs_release(cdir, NULL), 0);
        assert_false(path_exists(ref));
        assert_false(path_exists(link1));
        assert_int_equal(sf_rootfs_release(cdir, NULL), 0);
        assert_int_equal(sf_rootfs_release("/nonexistent/container", NULL), 0);
        assert_int_equal(sf_rootfs_is_mounted(cdir, NULL), 0);
        assert_int_equal(sf_image_rm(f->store, "img", NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_import_rootfs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_busybox, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
