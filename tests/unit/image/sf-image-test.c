/* sf-image-test: a small CLI over the image library for tests/system/image-*.sh. Not installed;
 * the product drives the library through sfd. */
#include <inttypes.h>

#include "agent/image/image.h"
#include "lib/log.h"
#include "lib/util.h"

static int usage(void)
{
        fprintf(stderr,
                "usage: sf-image-test STORE busybox NAME\n"
                "       sf-image-test STORE import-oci NAME PATH\n"
                "       sf-image-test STORE import-rootfs NAME DIR [CMD...]\n"
                "       sf-image-test STORE list|inspect NAME|users NAME|rm NAME\n"
                "       sf-image-test STORE prepare NAME CONTAINER_DIR\n"
                "       sf-image-test - release CONTAINER_DIR | is-mounted CONTAINER_DIR\n"
                "       sf-image-test - write-file ROOTFS PATH CONTENT\n");
        return 2;
}

static void print_json(json_t *j)
{
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        puts(s);
        free(s);
}

int main(int argc, char **argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_image_store_ sf_image_store *s = NULL;
        const char *cmd;
        int r;

        if (getenv("SF_LOG_LEVEL"))
                sf_log_max_level = sf_log_parse_level(getenv("SF_LOG_LEVEL"));
        if (argc < 3)
                return usage();
        cmd = argv[2];
        if (STRNEQ(argv[1], "-")) {
                r = sf_image_store_open(argv[1], &s, &e);
                if (r < 0)
                        goto fail;
        }

        if (STREQ(cmd, "busybox") && argc == 4 && s)
                r = sf_image_create_busybox(s, argv[3], &e);
        else if (STREQ(cmd, "import-oci") && argc == 5 && s)
                r = sf_image_import_oci(s, argv[3], argv[4], &e);
        else if (STREQ(cmd, "import-rootfs") && argc >= 5 && s)
                r = sf_image_import_rootfs(s, argv[3], argv[4], argc > 5 ? argv + 5 : NULL, &e);
        else if (STREQ(cmd, "list") && argc == 3 && s) {
                sf_image_info **a = NULL;
                size_t n = 0;
                r = sf_image_list(s, &a, &n, &e);
                for (size_t i = 0; r >= 0 && i < n; i++)
                        printf("%s\t%s\t%" PRIu64 "\n", a[i]->name, a[i]->id, a[i]->size);
                sf_image_info_array_free(a, n);
        } else if (STREQ(cmd, "inspect") && argc == 4 && s) {
                _cleanup_image_info_ sf_image_info *i = NULL;
                r = sf_image_get(s, argv[3], &i, &e);
                if (r >= 0) {
                        json_t *j = sf_image_info_to_json(i);
                        print_json(j);
                        json_decref(j);
                }
        } else if (STREQ(cmd, "users") && argc == 4 && s) {
                _cleanup_strv_free_ char **ids = NULL;
                r = sf_image_users(s, argv[3], &ids, &e);
                for (size_t i = 0; r >= 0 && ids[i]; i++)
                        puts(ids[i]);
        } else if (STREQ(cmd, "rm") && argc == 4 && s)
                r = sf_image_rm(s, argv[3], &e);
        else if (STREQ(cmd, "prepare") && argc == 5 && s) {
                _cleanup_free_ char *rootfs = NULL;
                r = sf_rootfs_prepare(s, argv[3], argv[4], &rootfs, &e);
                if (r >= 0)
                        puts(rootfs);
        } else if (STREQ(cmd, "release") && argc == 4) {
                r = sf_rootfs_release(argv[3], &e);
                if (r == 1)
                        fprintf(stderr, "warning: '%s' was busy and was detached lazily\n",
                                argv[3]);
        } else if (STREQ(cmd, "is-mounted") && argc == 4) {
                r = sf_rootfs_is_mounted(argv[3], &e);
                if (r >= 0) {
                        puts(r ? "yes" : "no");
                        return r ? 0 : 1;
                }
        } else if (STREQ(cmd, "write-file") && argc == 6)
                r = sf_rootfs_write_file(argv[3], argv[4], argv[5], strlen(argv[5]), 0644,
                                         (uid_t) -1, (gid_t) -1, &e);
        else
                return usage();
fail:
        if (r < 0) {
                fprintf(stderr, "sf-image-test %s: %s\n", cmd, sf_err_msg(&e));
                return 1;
        }
        return 0;
}
