/* The cloud-init NoCloud seed: meta-data and network-config v2 text, and a FAT12/16 image
 * writer (root directory with long file names) to carry them into the VM. */
#include <ctype.h>

#include "agent/compute/vm-seed.h"
#include "lib/addr.h"
#include "lib/util.h"

/* ---- text ---- */

typedef struct strbuf {
        char *s;
        size_t len, cap;
} strbuf;

static void sb_add(strbuf *b, const char *fmt, ...) _printf_(2, 3);
static void sb_add(strbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (b->len + (size_t) n + 1 > b->cap) {
                b->cap = MAX(b->cap * 2, b->len + (size_t) n + 1);
                b->s = xrealloc(b->s, b->cap);
        }
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
}

static bool has_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* A YAML scalar: plain when it is obviously safe, else double-quoted with escapes. */
static void sb_scalar(strbuf *b, const char *s)
{
        bool plain = *s && (isalnum((unsigned char) *s) || *s == '/');
        for (const char *p = s; plain && *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-/", *p))
                        plain = false;
        if (plain && !STREQ(s, "true") && !STREQ(s, "false") && !STREQ(s, "null") &&
            !STREQ(s, "yes") && !STREQ(s, "no") && !STREQ(s, "on") && !STREQ(s, "off")) {
                sb_add(b, "%s", s);
                return;
        }
        sb_add(b, "\"");
        for (const char *p = s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        sb_add(b, "\\%c", *p);
                else
                        sb_add(b, "%c", *p);
        }
        sb_add(b, "\"");
}

static bool hostname_valid(const char *s)
{
        size_t n = strlen(s), label = 0;
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];
                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!isalnum(c) && c != '-')
                        return false;
                if (c == '-' && label == 0)
                        return false;
                if (++label > 63)
                        return false;
        }
        return s[n - 1] != '-' && s[n - 1] != '.';
}

int sf_seed_meta_data(const char *instance_id, const char *hostname,
                      const char *const *ssh_keys, char **ret, sf_err *e)
{
        strbuf b = { 0 };

        if (!instance_id || !*instance_id || has_control(instance_id) ||
            strlen(instance_id) > 255)
                return sf_err_set(e, -EINVAL, "instance_id",
                                  "must be 1-255 printable characters");
        if (!hostname || !hostname_valid(hostname))
                return sf_err_set(e, -EINVAL, "hostname",
                                  "'%s' is not a valid host name (RFC 1123)",
                                  hostname ? hostname : "");
        for (size_t i = 0; ssh_keys && ssh_keys[i]; i++)
                if (!*ssh_keys[i] || has_control(ssh_keys[i])) {
                        char f[32];
                        snprintf(f, sizeof(f), "ssh_keys[%zu]", i);
                        return sf_err_set(e, -EINVAL, f,
                                          "must be one line of printable characters");
                }
        sb_add(&b, "instance-id: ");
        sb_scalar(&b, instance_id);
        sb_add(&b, "\nlocal-hostname: ");
        sb_scalar(&b, hostname);
        sb_add(&b, "\n");
        if (ssh_keys && ssh_keys[0]) {
                sb_add(&b, "public-keys:\n");
                for (size_t i = 0; ssh_keys[i]; i++) {
                        sb_add(&b, "  - ");
                        sb_scalar(&b, ssh_keys[i]);
                        sb_add(&b, "\n");
                }
        }
        *ret = b.s;
        return 0;
}

static bool ifname_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 15)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

static bool domain_valid(const char *s)
{
        return hostname_valid(s);
}

/* Validates one NIC and appends it. Field names are relative to the NIC. */
static int render_nic(strbuf *b, const sf_seed_nic *n, size_t index, sf_err *e)
{
        char name[24], mac[SF_MAC_STRLEN], f[48];
        uint8_t m[6];
        sf_addr a;
        sf_prefix p;

        if (!n->mac || sf_mac_parse(n->mac, m) < 0)
                return sf_err_set(e, -EINVAL, "mac", "'%s' is not a MAC address",
                                  n->mac ? n->mac : "");
        if (sf_mac_is_multicast(m) || sf_mac_is_zero(m))
                return sf_err_set(e, -EINVAL, "mac", "'%s' is not a unicast MAC address",
                                  n->mac);
        if (n->name) {
                if (!ifname_valid(n->name))
                        return sf_err_set(e, -EINVAL, "name",
                                          "'%s' is not a valid interface name", n->name);
                snprintf(name, sizeof(name), "%s", n->name);
        } else
                snprintf(name, sizeof(name), "eth%zu", index);
        if (n->mtu && (n->mtu < 68 || n->mtu > 65535))
                return sf_err_set(e, -EINVAL, "mtu", "must be between 68 and 65535");

        sb_add(b, "  %s:\n    match:\n      macaddress: \"%s\"\n    set-name: %s\n", name,
               sf_mac_fmt(m, mac), name);
        if (n->dhcp4)
                sb_add(b, "    dhcp4: true\n");
        if (n->addresses && n->addresses[0]) {
                sb_add(b, "    addresses:\n");
                for (size_t i = 0; n->addresses[i]; i++) {
                        char s[SF_PREFIX_STRLEN], as[SF_ADDR_STRLEN];
                        if (sf_prefix_parse(n->addresses[i], false, &p) < 0) {
                                snprintf(f, sizeof(f), "addresses[%zu]", i);
                                return sf_err_set(e, -EINVAL, f,
                                                  "'%s' is not an address with a prefix length",
                                                  n->addresses[i]);
                        }
                        snprintf(s, sizeof(s), "%s/%u", sf_addr_fmt(&p.addr, as), p.len);
                        sb_add(b, "      - %s\n", s);
                }
        }
        if (n->gateway4 || n->gateway6) {
                sb_add(b, "    routes:\n");
                for (int v6 = 0; v6 < 2; v6++) {
                        const char *gw = v6 ? n->gateway6 : n->gateway4;
                        char s[SF_ADDR_STRLEN];
                        if (!gw)
                                continue;
                        if (sf_addr_parse(gw, &a) < 0 || a.family != (v6 ? AF_INET6 : AF_INET))
                                return sf_err_set(e, -EINVAL, v6 ? "gateway6" : "gateway4",
                                                  "'%s' is not an IPv%d address", gw,
                                                  v6 ? 6 : 4);
                        sb_add(b, "      - to: %s\n        via: \"%s\"\n",
                               v6 ? "\"::/0\"" : "0.0.0.0/0", sf_addr_fmt(&a, s));
                }
        }
        if (n->mtu)
                sb_add(b, "    mtu: %u\n", n->mtu);
        if ((n->dns_servers && n->dns_servers[0]) || (n->dns_search && n->dns_search[0])) {
                sb_add(b, "    nameservers:\n");
                if (n->dns_servers && n->dns_servers[0]) {
                        sb_add(b, "      addresses:\n");
                        for (size_t i = 0; n->dns_servers[i]; i++) {
                                char s[SF_ADDR_STRLEN];
                                if (sf_addr_parse(n->dns_servers[i], &a) < 0) {
                                        snprintf(f, sizeof(f), "dns_servers[%zu]", i);
                                        return sf_err_set(e, -EINVAL, f,
                                                          "'%s' is not an IP address",
                                                          n->dns_servers[i]);
                                }
                                sb_add(b, "        - \"%s\"\n", sf_addr_fmt(&a, s));
                        }
                }
                if (n->dns_search && n->dns_search[0]) {
                        sb_add(b, "      search:\n");
                        for (size_t i = 0; n->dns_search[i]; i++) {
                                if (!domain_valid(n->dns_search[i])) {
                                        snprintf(f, sizeof(f), "dns_search[%zu]", i);
                                        return sf_err_set(e, -EINVAL, f,
                                                          "'%s' is not a domain name",
                                                          n->dns_search[i]);
                                }
                                sb_add(b, "        - %s\n", n->dns_search[i]);
                        }
                }
        }
        return 0;
}

int sf_seed_network_config(const sf_seed_nic *nics, size_t n, char **ret, sf_err *e)
{
        strbuf b = { 0 };

        sb_add(&b, "version: 2\n");
        if (n)
                sb_add(&b, "ethernets:\n");
        for (size_t i = 0; i < n; i++) {
                char f[32];
                int r = render_nic(&b, &nics[i], i, e);
                if (r < 0) {
                        free(b.s);
                        snprintf(f, sizeof(f), "nics[%zu]", i);
                        sf_err_field_prefix(e, f);
                        return r;
                }
                /* Two NICs with one MAC or one name would configure the same interface. */
                for (size_t j = 0; j < i; j++) {
                        uint8_t a[6], c[6];
                        char ni[24], nj[24];
                        snprintf(ni, sizeof(ni), "%s", nics[i].name ? nics[i].name : "");
                        snprintf(nj, sizeof(nj), "%s", nics[j].name ? nics[j].name : "");
                        if (!nics[i].name)
                                snprintf(ni, sizeof(ni), "eth%zu", i);
                        if (!nics[j].name)
                                snprintf(nj, sizeof(nj), "eth%zu", j);
                        sf_mac_parse(nics[i].mac, a);
                        sf_mac_parse(nics[j].mac, c);
                        if (memcmp(a, c, 6) == 0 || STREQ(ni, nj)) {
                                free(b.s);
                                snprintf(f, sizeof(f), "nics[%zu]", i);
                                return sf_err_set(e, -EINVAL, f,
                                                  "same MAC or name as nics[%zu]", j);
                        }
                }
        }
        *ret = b.s;
        return 0;
}

/* ---- FAT image ---- */

#define SECTOR 512
#define DIRENT 32
#define FAT12_MAX_CLUSTERS 4084
#define FAT16_MAX_CLUSTERS 65524
#define MIN_CLUSTERS 32
/* 2020-01-01 00:00:00 in FAT's date format: reproducible images. */
#define FAT_DATE ((uint16_t) (((2020 - 1980) << 9) | (1 << 5) | 1))

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
        put16(p, (uint16_t) v);
        put16(p + 2, (uint16_t) (v >> 16));
}

static bool fat_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 255 || STREQ(s, ".") || STREQ(s, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];
                if (c < 0x20 || c >= 0x7f || strchr("/\\:*?\"<>|", c))
                        return false;
        }
        return s[n - 1] != ' ' && s[n - 1] != '.';
}

typedef uint8_t sfn_t[11];

/* The 8.3 alias of a long name: BASIS~N.EXT, unique among the first n aliases in sfn. */
static void short_name(const char *name, const sfn_t *sfn, size_t n, uint8_t out[11])
{
        const char *dot = strrchr(name, '.');
        char base[9] = "", ext[4] = "";
        size_t nb = 0, ne = 0;

        if (dot == name)
                dot = NULL; /* ".profile": all base */
        for (const char *p = name; *p && (!dot || p < dot); p++) {
                unsigned char c = toupper((unsigned char) *p);
                if (c == ' ' || c == '.')
                        continue;
                if (strchr("+,;=[]", c))
                        c = '_';
                if (nb < 6)
                        base[nb++] = (char) c;
        }
        for (const char *p = dot ? dot + 1 : ""; *p && ne < 3; p++) {
                unsigned char c = toupper((unsigned char) *p);
                if (c == ' ' || c == '.')
                        continue;
                ext[ne++] = strchr("+,;=[]", c) ? '_' : (char) c;
        }
        if (nb == 0)
                base[nb++] = '_';
        for (unsigned k = 1;; k++) {
                char tail[12];
                size_t tl = (size_t) snprintf(tail, sizeof(tail), "~%u", k);
                size_t keep = MIN(nb, 8 - tl);
                bool dup = false;

                memset(out, ' ', 11);
                memcpy(out, base, keep);
                memcpy(out + keep, tail, tl);
                memcpy(out + 8, ext, ne);
                for (size_t i = 0; i < n && !dup; i++)
                        dup = memcmp(sfn[i], out, 11) == 0;
                if (!dup)
                        return;
        }
}

static uint8_t lfn_checksum(const uint8_t sfn[11])
{
        uint8_t sum = 0;
        for (int i = 0; i < 11; i++)
                sum = (uint8_t) (((sum & 1) << 7) + (sum >> 1) + sfn[i]);
        return sum;
}

static size_t lfn_entries(const char *name)
{
        return (strlen(name) + 12) / 13;
}

/* Writes the long-name entries of name (last part first) followed by its 8.3 entry. */
static uint8_t *write_dirents(uint8_t *d, const char *name, const uint8_t sfn[11],
                              uint32_t cluster, uint32_t size)
{
        static const int slot[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
        size_t len = strlen(name), k = lfn_entries(name);
        uint8_t sum = lfn_checksum(sfn);

        for (size_t e = k; e >= 1; e--) {
                d[0] = (uint8_t) (e | (e == k ? 0x40 : 0));
                d[11] = 0x0f;
                d[12] = 0;
                d[13] = sum;
                put16(d + 26, 0);
                for (int i = 0; i < 13; i++) {
                        size_t at = (e - 1) * 13 + (size_t) i;
                        uint16_t c = at < len ? (uint8_t) name[at] : at == len ? 0 : 0xffff;
                        put16(d + slot[i], c);
                }
                d += DIRENT;
        }
        memcpy(d, sfn, 11);
        d[11] = 0x21; /* read-only, archive */
        put16(d + 16, FAT_DATE); /* created */
        put16(d + 18, FAT_DATE); /* accessed */
        put16(d + 20, (uint16_t) (cluster >> 16));
        put16(d + 24, FAT_DATE); /* written */
        put16(d + 26, (uint16_t) cluster);
        put32(d + 28, size);
        return d + DIRENT;
}

static void fat_set(uint8_t *fat, bool fat12, uint32_t n, uint32_t v)
{
        if (!fat12) {
                put16(fat + n * 2, (uint16_t) v);
                return;
        }
        size_t off = n + n / 2;
        if (n & 1) {
                fat[off] = (uint8_t) ((fat[off] & 0x0f) | ((v & 0x0f) << 4));
                fat[off + 1] = (uint8_t) (v >> 4);
        } else {
                fat[off] = (uint8_t) v;
                fat[off + 1] = (uint8_t) ((fat[off + 1] & 0xf0) | ((v >> 8) & 0x0f));
        }
}

static uint32_t fnv1a(uint32_t h, const void *data, size_t len)
{
        const uint8_t *p = data;
        for (size_t i = 0; i < len; i++)
                h = (h ^ p[i]) * 16777619u;
        return h;
}

int sf_fat_image_build(const char *label, const sf_seed_file *files, size_t n, uint8_t **ret,
                       size_t *ret_len, sf_err *e)
{
        _cleanup_free_ sfn_t *sfn = xzalloc(sizeof(sfn_t) * (n + 1));
        _cleanup_free_ uint8_t *img = NULL;
        size_t entries = 1, root_entries, root_sectors, fat_sectors, data_start, total;
        uint32_t spc, clusters = 0, cluster, volid = 2166136261u;
        bool fat12;
        uint8_t *b, *d;

        if (!label || !*label || strlen(label) > 11 || !fat_name_valid(label))
                return sf_err_set(e, -EINVAL, "label", "must be 1-11 printable characters");
        for (size_t i = 0; i < n; i++) {
                char f[32];
                snprintf(f, sizeof(f), "files[%zu]", i);
                if (!files[i].name || !fat_name_valid(files[i].name))
                        return sf_err_set(e, -EINVAL, f, "'%s' is not a valid file name",
                                          files[i].name ? files[i].name : "");
                if (files[i].len > SF_SEED_FILE_MAX)
                        return sf_err_set(e, -E2BIG, f, "'%s' is larger than %d bytes",
                                          files[i].name, SF_SEED_FILE_MAX);
                for (size_t j = 0; j < i; j++)
                        if (strcasecmp(files[j].name, files[i].name) == 0)
                                return sf_err_set(e, -EEXIST, f, "'%s' given twice",
                                                  files[i].name);
                entries += lfn_entries(files[i].name) + 1;
                volid = fnv1a(volid, files[i].name, strlen(files[i].name));
                volid = fnv1a(volid, files[i].data, files[i].len);
        }
        root_entries = MAX((entries + 15) / 16 * 16, (size_t) 16);
        root_sectors = root_entries * DIRENT / SECTOR;

        /* The smallest cluster that keeps the count within FAT16; FAT12 when it fits. */
        for (spc = 1; spc <= 64; spc *= 2) {
                clusters = 0;
                for (size_t i = 0; i < n; i++)
                        clusters += (uint32_t) ((files[i].len + spc * SECTOR - 1) /
                                                (spc * SECTOR));
                clusters = MAX(clusters + 1, (uint32_t) MIN_CLUSTERS);
                if (clusters <= FAT16_MAX_CLUSTERS)
                        break;
        }
        fat12 = clusters <= FAT12_MAX_CLUSTERS;
        fat_sectors = fat12 ? ((clusters + 2) * 3 / 2 + 1 + SECTOR - 1) / SECTOR
                            : ((clusters + 2) * 2 + SECTOR - 1) / SECTOR;
        data_start = 1 + 2 * fat_sectors + root_sectors;
        total = data_start + (size_t) clusters * spc;

        img = xzalloc(total * SECTOR);
        b = img;
        /* Boot sector with the BIOS parameter block. */
        memcpy(b, "\xeb\x3c\x90" "MSWIN4.1", 11);
        put16(b + 11, SECTOR);
        b[13] = (uint8_t) spc;
        put16(b + 14, 1);               /* reserved sectors */
        b[16] = 2;                      /* FATs */
        put16(b + 17, (uint16_t) root_entries);
        put16(b + 19, total < 65536 ? (uint16_t) total : 0);
        b[21] = 0xf8;                   /* media: fixed disk */
        put16(b + 22, (uint16_t) fat_sectors);
        put16(b + 24, 32);              /* sectors per track */
        put16(b + 26, 64);              /* heads */
        put32(b + 28, 0);               /* hidden sectors */
        put32(b + 32, total < 65536 ? 0 : (uint32_t) total);
        b[36] = 0x80;                   /* drive number */
        b[38] = 0x29;                   /* extended boot signature */
        put32(b + 39, volid);
        memset(b + 43, ' ', 11);
        memcpy(b + 43, label, strlen(label));
        memcpy(b + 54, fat12 ? "FAT12   " : "FAT16   ", 8);
        b[62] = 0xcd;                   /* int 18h: "not a boot disk" */
        b[63] = 0x18;
        b[510] = 0x55;
        b[511] = 0xaa;

        /* Files: one contiguous chain each, from cluster 2; the root directory. */
        {
                uint8_t *fat = img + SECTOR;
                fat_set(fat, fat12, 0, fat12 ? 0xff8 : 0xfff8);
                fat_set(fat, fat12, 1, fat12 ? 0xfff : 0xffff);
                d = img + (1 + 2 * fat_sectors) * SECTOR;
                memset(d, ' ', 11);
                memcpy(d, label, strlen(label));
                d[11] = 0x08; /* volume label */
                put16(d + 24, FAT_DATE);
                d += DIRENT;
                cluster = 2;
                for (size_t i = 0; i < n; i++) {
                        uint32_t k = (uint32_t) ((files[i].len + spc * SECTOR - 1) /
                                                 (spc * SECTOR));
                        short_name(files[i].name, sfn, i, sfn[i]);
                        d = write_dirents(d, files[i].name, sfn[i], k ? cluster : 0,
                                          (uint32_t) files[i].len);
                        if (k) {
                                memcpy(img + (data_start + (size_t) (cluster - 2) * spc) * SECTOR,
                                       files[i].data, files[i].len);
                                for (uint32_t c = 0; c < k; c++)
                                        fat_set(fat, fat12, cluster + c,
                                                c + 1 < k ? cluster + c + 1
                                                          : (fat12 ? 0xfff : 0xffff));
                                cluster += k;
                        }
                }
                memcpy(fat + fat_sectors * SECTOR, fat, fat_sectors * SECTOR);
        }
        *ret_len = total * SECTOR;
        *ret = TAKE_PTR(img);
        return 0;
}

int sf_seed_write(const char *path, const char *meta_data, const char *user_data,
                  const char *network_config, const char *vendor_data, sf_err *e)
{
        return sf_seed_write_extra(path, meta_data, user_data, network_config, vendor_data,
                                   NULL, 0, e);
}

int sf_seed_write_extra(const char *path, const char *meta_data, const char *user_data,
                        const char *network_config, const char *vendor_data,
                        const sf_seed_file *extra, size_t n_extra, sf_err *e)
{
        _cleanup_free_ uint8_t *img = NULL;
        sf_seed_file files[4 + SF_SEED_EXTRA_MAX];
        size_t n = 0, len;
        int r;

        if (!meta_data)
                return sf_err_set(e, -EINVAL, "meta_data", "is required");
        if (!user_data)
                return sf_err_set(e, -EINVAL, "user_data", "is required");
        {
                const char *const texts[] = { meta_data, user_data, network_config,
                                              vendor_data };
                static const char *const fields[] = { "meta_data", "user_data",
                                                      "network_config", "vendor_data" };
                for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                        if (texts[i] && strlen(texts[i]) > SF_SEED_FILE_MAX)
                                return sf_err_set(e, -E2BIG, fields[i],
                                                  "larger than %d bytes", SF_SEED_FILE_MAX);
        }
        files[n++] = (sf_seed_file) { "meta-data", meta_data, strlen(meta_data) };
        files[n++] = (sf_seed_file) { "user-data", user_data, strlen(user_data) };
        if (network_config)
                files[n++] = (sf_seed_file) { "network-config", network_config,
                                              strlen(network_config) };
        if (vendor_data)
                files[n++] = (sf_seed_file) { "vendor-data", vendor_data, strlen(vendor_data) };
        if (n_extra > SF_SEED_EXTRA_MAX)
                return sf_err_set(e, -E2BIG, NULL, "seed: at most %d extra files",
                                  SF_SEED_EXTRA_MAX);
        for (size_t i = 0; i < n_extra; i++) {
                if (extra[i].len > SF_SEED_FILE_MAX)
                        return sf_err_set(e, -E2BIG, extra[i].name, "larger than %d bytes",
                                          SF_SEED_FILE_MAX);
                files[n++] = extra[i];
        }
        r = sf_fat_image_build(SF_SEED_LABEL, files, n, &img, &len, e);
        if (r < 0)
                return sf_err_prefix(e, "seed");
        return sf_write_file_atomic(path, img, len, 0600, e);
}
