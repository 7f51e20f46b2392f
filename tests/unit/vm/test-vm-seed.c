/* Unit tests for the NoCloud seed: meta-data and network-config text (exact output and
 * validation errors with field names) and the FAT image, read back with a small independent
 * FAT reader (boot sector, label, long names, cluster chains, contents). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ctype.h>

#include "agent/compute/vm-seed.h"
#include "lib/util.h"

static void test_meta_data(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *m = NULL, *k = NULL;
        const char *keys[] = { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 user@host", NULL };

        assert_int_equal(sf_seed_meta_data("vm1", "vm1", NULL, &m, &e), 0);
        assert_string_equal(m, "instance-id: vm1\nlocal-hostname: vm1\n");
        assert_int_equal(sf_seed_meta_data("i-0/\"x\"", "edge-1.example.org", keys, &k, &e), 0);
        assert_string_equal(k, "instance-id: \"i-0/\\\"x\\\"\"\n"
                               "local-hostname: edge-1.example.org\n"
                               "public-keys:\n"
                               "  - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 user@host\"\n");
}

static void test_meta_data_invalid(void **state)
{
        static const char *const bad_hosts[] = { "", "-a", "a-", "a..b", "a_b", "a b",
                                                 "x.", NULL };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *bad_key[] = { "ssh-rsa AAA\nrm -rf", NULL };
        char *m = NULL;

        for (size_t i = 0; bad_hosts[i]; i++) {
                assert_int_equal(sf_seed_meta_data("vm1", bad_hosts[i], NULL, &m, &e), -EINVAL);
                assert_string_equal(e.field, "hostname");
                sf_err_clear(&e);
        }
        assert_int_equal(sf_seed_meta_data("vm\n1", "vm1", NULL, &m, &e), -EINVAL);
        assert_string_equal(e.field, "instance_id");
        sf_err_clear(&e);
        assert_int_equal(sf_seed_meta_data("vm1", "vm1", bad_key, &m, &e), -EINVAL);
        assert_string_equal(e.field, "ssh_keys[0]");
        assert_null(m);
}

static void test_network_config(void **state)
{
        const char *a0[] = { "10.0.0.5/24", "fd00::5/64", NULL };
        const char *a1[] = { "192.168.7.9/28", NULL };
        const char *dns[] = { "10.0.0.1", NULL };
        const char *search[] = { "lab.example", NULL };
        sf_seed_nic nics[] = {
                { .mac = "52:54:00:AA:BB:01", .addresses = a0, .gateway4 = "10.0.0.1",
                  .gateway6 = "fd00::1", .mtu = 1450, .dns_servers = dns, .dns_search = search },
                { .mac = "02:00:00:00:00:02", .name = "data0", .addresses = a1 },
                { .mac = "02:00:00:00:00:03", .dhcp4 = true },
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *n = NULL, *empty = NULL;

        assert_int_equal(sf_seed_network_config(nics, 3, &n, &e), 0);
        assert_string_equal(n,
                            "version: 2\n"
                            "ethernets:\n"
                            "  eth0:\n"
                            "    match:\n"
                            "      macaddress: \"52:54:00:aa:bb:01\"\n"
                            "    set-name: eth0\n"
                            "    addresses:\n"
                            "      - 10.0.0.5/24\n"
                            "      - fd00::5/64\n"
                            "    routes:\n"
                            "      - to: 0.0.0.0/0\n"
                            "        via: \"10.0.0.1\"\n"
                            "      - to: \"::/0\"\n"
                            "        via: \"fd00::1\"\n"
                            "    mtu: 1450\n"
                            "    nameservers:\n"
                            "      addresses:\n"
                            "        - \"10.0.0.1\"\n"
                            "      search:\n"
                            "        - lab.example\n"
                            "  data0:\n"
                            "    match:\n"
                            "      macaddress: \"02:00:00:00:00:02\"\n"
                            "    set-name: data0\n"
                            "    addresses:\n"
                            "      - 192.168.7.9/28\n"
                            "  eth2:\n"
                            "    match:\n"
                            "      macaddress: \"02:00:00:00:00:03\"\n"
                            "    set-name: eth2\n"
                            "    dhcp4: true\n");
        assert_int_equal(sf_seed_network_config(NULL, 0, &empty, &e), 0);
        assert_string_equal(empty, "version: 2\n");
}

static void test_network_config_invalid(void **state)
{
        const char *bad_addr[] = { "10.0.0.5/24", "10.0.0.300/24", NULL };
        const char *no_len[] = { "10.0.0.5", NULL };
        const char *bad_dns[] = { "dns.example", NULL };
        struct {
                sf_seed_nic nic;
                const char *field;
        } cases[] = {
                { { .mac = "52:54:00:aa:bb" }, "nics[0].mac" },
                { { .mac = "01:00:5e:00:00:01" }, "nics[0].mac" },
                { { .mac = "00:00:00:00:00:00" }, "nics[0].mac" },
                { { .mac = "52:54:00:aa:bb:01", .addresses = bad_addr }, "nics[0].addresses[1]" },
                { { .mac = "52:54:00:aa:bb:01", .addresses = no_len }, "nics[0].addresses[0]" },
                { { .mac = "52:54:00:aa:bb:01", .gateway4 = "fd00::1" }, "nics[0].gateway4" },
                { { .mac = "52:54:00:aa:bb:01", .gateway6 = "10.0.0.1" }, "nics[0].gateway6" },
                { { .mac = "52:54:00:aa:bb:01", .mtu = 20 }, "nics[0].mtu" },
                { { .mac = "52:54:00:aa:bb:01", .name = "a-name-too-long-for-linux" },
                  "nics[0].name" },
                { { .mac = "52:54:00:aa:bb:01", .dns_servers = bad_dns },
                  "nics[0].dns_servers[0]" },
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *n = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(sf_seed_network_config(&cases[i].nic, 1, &n, &e), -EINVAL);
                assert_non_null(e.field);
                assert_string_equal(e.field, cases[i].field);
                sf_err_clear(&e);
        }
        {
                sf_seed_nic dup[] = { { .mac = "52:54:00:aa:bb:01" },
                                      { .mac = "52:54:00:AA:BB:01" } };
                assert_int_equal(sf_seed_network_config(dup, 2, &n, &e), -EINVAL);
                assert_string_equal(e.field, "nics[1]");
                sf_err_clear(&e);
        }
        assert_null(n);
}

/* ---- an independent FAT reader ---- */

static unsigned le16(const uint8_t *p) { return p[0] | p[1] << 8; }
static unsigned le32(const uint8_t *p) { return le16(p) | (unsigned) le16(p + 2) << 16; }

typedef struct fatfs {
        const uint8_t *img;
        size_t len;
        unsigned spc, fat_start, fat_sectors, root_start, root_entries, data_start, clusters;
        bool fat12;
} fatfs;

static void fat_open(fatfs *f, const uint8_t *img, size_t len)
{
        unsigned total;
        *f = (fatfs) { .img = img, .len = len };
        assert_true(len % 512 == 0 && len >= 512 * 8);
        assert_memory_equal(img, "\xeb\x3c\x90", 3);
        assert_int_equal(le16(img + 11), 512);
        assert_int_equal(img[510], 0x55);
        assert_int_equal(img[511], 0xaa);
        f->spc = img[13];
        assert_true(f->spc && !(f->spc & (f->spc - 1)));
        f->fat_start = le16(img + 14);
        assert_int_equal(img[16], 2);
        f->root_entries = le16(img + 17);
        assert_int_equal(f->root_entries % 16, 0);
        total = le16(img + 19) ? le16(img + 19) : le32(img + 32);
        assert_int_equal((size_t) total * 512, len);
        assert_int_equal(img[21], 0xf8);
        f->fat_sectors = le16(img + 22);
        f->root_start = f->fat_start + 2 * f->fat_sectors;
        f->data_start = f->root_start + f->root_entries * 32 / 512;
        f->clusters = (total - f->data_start) / f->spc;
        /* The type follows from the cluster count (as Linux decides it). */
        f->fat12 = f->clusters < 4085;
        assert_memory_equal(img + 54, f->fat12 ? "FAT12   " : "FAT16   ", 8);
        assert_true(f->fat_sectors * 512 * 8 / (f->fat12 ? 12 : 16) >= f->clusters + 2);
        /* Both FAT copies agree. */
        assert_memory_equal(img + f->fat_start * 512, img + (f->fat_start + f->fat_sectors) * 512,
                            f->fat_sectors * 512);
}

static unsigned fat_next(const fatfs *f, unsigned c)
{
        const uint8_t *fat = f->img + f->fat_start * 512;
        if (!f->fat12)
                return le16(fat + c * 2);
        unsigned v = le16(fat + c + c / 2);
        return c & 1 ? v >> 4 : v & 0xfff;
}

/* Finds name (by its long name) in the root directory; returns its contents (malloc'd). */
static uint8_t *fat_read(const fatfs *f, const char *name, size_t *ret_len)
{
        const uint8_t *d = f->img + f->root_start * 512;
        char lfn[256] = "";
        for (unsigned i = 0; i < f->root_entries; i++, d += 32) {
                if (d[0] == 0)
                        break;
                if (d[11] == 0x0f) {
                        static const int slot[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
                        unsigned ord = d[0] & 0x1f;
                        if (d[0] & 0x40)
                                memset(lfn, 0, sizeof(lfn));
                        for (int k = 0; k < 13; k++) {
                                unsigned ch = le16(d + slot[k]);
                                if (ch != 0 && ch != 0xffff)
                                        lfn[(ord - 1) * 13 + k] = (char) ch;
                        }
                        continue;
                }
                if (d[11] & 0x08) /* volume label */
                        continue;
                if (strcmp(lfn, name) == 0) {
                        size_t size = le32(d + 28), got = 0;
                        unsigned c = le16(d + 26);
                        uint8_t *buf = xzalloc(size + 1);
                        /* The 8.3 alias is upper case, with a ~N tail. */
                        for (int k = 0; k < 11; k++)
                                assert_false(islower(d[k]));
                        assert_non_null(memchr(d, '~', 8));
                        while (got < size) {
                                size_t n = MIN(size - got, (size_t) f->spc * 512);
                                assert_true(c >= 2 && c < f->clusters + 2);
                                memcpy(buf + got, f->img + (f->data_start + (c - 2) * f->spc) * 512,
                                       n);
                                got += n;
                                c = fat_next(f, c);
                        }
                        assert_true(c >= (f->fat12 ? 0xff8u : 0xfff8u) || size == 0);
                        *ret_len = size;
                        return buf;
                }
                lfn[0] = 0;
        }
        return NULL;
}

static void test_fat_image(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ uint8_t *img = NULL, *img2 = NULL, *data = NULL;
        _cleanup_free_ char *big = xmalloc(3 * 1024 * 1024);
        sf_seed_file files[] = {
                { "meta-data", "instance-id: vm1\n", 17 },
                { "user-data", "#!/bin/sh\necho hi\n", 19 },
                { "network-config", "version: 2\n", 11 },
                { "empty", "", 0 },
                { "network-config.bak", "x", 1 }, /* same 8.3 basis: NETWOR~2 */
        };
        size_t len, len2, n;
        fatfs f;

        assert_int_equal(sf_fat_image_build("cidata", files, ELEMENTSOF(files), &img, &len, &e),
                         0);
        fat_open(&f, img, len);
        assert_true(f.fat12);
        assert_memory_equal(img + 43, "cidata     ", 11);
        /* The label entry comes first in the root directory. */
        assert_memory_equal(img + f.root_start * 512, "cidata     ", 11);
        assert_int_equal(img[f.root_start * 512 + 11], 0x08);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                uint8_t *got = fat_read(&f, files[i].name, &n);
                assert_non_null(got);
                assert_int_equal(n, files[i].len);
                assert_memory_equal(got, files[i].data, n);
                free(got);
        }
        assert_null(fat_read(&f, "vendor-data", &n));
        /* Reproducible. */
        assert_int_equal(sf_fat_image_build("cidata", files, ELEMENTSOF(files), &img2, &len2, &e),
                         0);
        assert_int_equal(len, len2);
        assert_memory_equal(img, img2, len);

        /* A file too big for FAT12 with small clusters. */
        for (size_t i = 0; i < 3 * 1024 * 1024; i++)
                big[i] = (char) ('a' + i % 26);
        free(img);
        img = NULL;
        files[1] = (sf_seed_file) { "user-data", big, 3 * 1024 * 1024 };
        assert_int_equal(sf_fat_image_build("cidata", files, 2, &img, &len, &e), 0);
        fat_open(&f, img, len);
        assert_false(f.fat12);
        data = fat_read(&f, "user-data", &n);
        assert_non_null(data);
        assert_int_equal(n, 3 * 1024 * 1024);
        assert_memory_equal(data, big, n);
}

static void test_fat_image_invalid(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        uint8_t *img = NULL;
        size_t len;
        sf_seed_file bad[] = { { "a/b", "x", 1 } };
        sf_seed_file dup[] = { { "meta-data", "x", 1 }, { "META-DATA", "y", 1 } };

        assert_int_equal(sf_fat_image_build("a-label-too-long", NULL, 0, &img, &len, &e), -EINVAL);
        assert_string_equal(e.field, "label");
        sf_err_clear(&e);
        assert_int_equal(sf_fat_image_build("cidata", bad, 1, &img, &len, &e), -EINVAL);
        assert_string_equal(e.field, "files[0]");
        sf_err_clear(&e);
        assert_int_equal(sf_fat_image_build("cidata", dup, 2, &img, &len, &e), -EEXIST);
        assert_string_equal(e.field, "files[1]");
        assert_null(img);
}

static void test_seed_write(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char dir[] = "/tmp/sf-seed-test.XXXXXX";
        _cleanup_free_ char *path = NULL, *buf = NULL, *meta = NULL, *net = NULL;
        size_t len, n;
        fatfs f;

        assert_non_null(mkdtemp(dir));
        path = xasprintf("%s/seed.img", dir);
        assert_int_equal(sf_seed_write(path, NULL, "#cloud-config\n", NULL, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "meta_data");
        sf_err_clear(&e);
        assert_int_equal(sf_seed_write(path, "instance-id: a\n", "#cloud-config\n",
                                       "version: 2\n", NULL, &e),
                         0);
        assert_int_equal(sf_read_file(path, 1 << 24, &buf, &len, &e), 0);
        fat_open(&f, (uint8_t *) buf, len);
        meta = (char *) fat_read(&f, "meta-data", &n);
        assert_string_equal(meta, "instance-id: a\n");
        net = (char *) fat_read(&f, "network-config", &n);
        assert_string_equal(net, "version: 2\n");
        assert_null(fat_read(&f, "vendor-data", &n));
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_meta_data),
                cmocka_unit_test(test_meta_data_invalid),
                cmocka_unit_test(test_network_config),
                cmocka_unit_test(test_network_config_invalid),
                cmocka_unit_test(test_fat_image),
                cmocka_unit_test(test_fat_image_invalid),
                cmocka_unit_test(test_seed_write),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
