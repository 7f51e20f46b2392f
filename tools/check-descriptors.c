/* check-descriptors: validates SOL006 VNFDs and NSDs with the product's descriptor parser
 * (src/nfvo/descriptor.h), the NSDs against the VNFDs given with them, and the day-0 templates
 * of every VDU against the NSD: each {{placeholder}} must name something the NS layer can fill
 * (see examples/5g-mec/README.md). With --day0 MEMBER, prints that member's VDU day-0 text.
 *
 *   cc -std=gnu17 -D_GNU_SOURCE -Isrc -o check-descriptors tools/check-descriptors.c \
 *      build/src/nfvo/libsf-nfvo-desc.a build/src/lib/libsf-base.a \
 *      $(pkg-config --libs jansson libfyaml libarchive libcurl) -lpthread -lm
 *   check-descriptors examples/5g-mec/descriptors/NAME.yaml ...
 * Exit status: 0 all valid, 1 problems found, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfvo/descriptor.h"

struct loaded {
        const char *path;
        sf_desc_pkg *pkg;
};

static struct loaded *vnfds;
static size_t n_vnfds;

static const json_t *lookup(const char *id, void *ud)
{
        (void) ud;
        for (size_t i = 0; i < n_vnfds; i++)
                if (strcmp(vnfds[i].pkg->desc->id, id) == 0)
                        return vnfds[i].pkg->desc->model;
        return NULL;
}

static const json_t *by_id(const json_t *arr, const char *key, const char *id)
{
        size_t i;
        json_t *x;
        json_array_foreach(arr, i, x) {
                const char *v = json_string_value(json_object_get(x, key));
                if (v && strcmp(v, id) == 0)
                        return x;
        }
        return NULL;
}

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* Is ext-cpd ext of member m connected to a virtual link in the NSD? */
static bool connected(const json_t *prof, const char *ext)
{
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(prof, "connections"), i, c)
                if (str(c, "cpd") && strcmp(str(c, "cpd"), ext) == 0)
                        return true;
        return false;
}

/* Checks one placeholder key; returns NULL when fine, else a message (static). */
static const char *check_key(const char *key, const json_t *nsd, const json_t *vdu, char *msg, size_t size)
{
        char buf[256], *parts[8];
        size_t n = 0;
        char *save = NULL;
        snprintf(buf, sizeof(buf), "%s", key);
        for (char *t = strtok_r(buf, ".", &save); t && n < 8; t = strtok_r(NULL, ".", &save))
                parts[n++] = t;
        if (n == 2 && strcmp(parts[0], "ns") == 0 && (!strcmp(parts[1], "name") || !strcmp(parts[1], "id")))
                return NULL;
        if (n == 2 && strcmp(parts[0], "self") == 0 &&
            (!strcmp(parts[1], "name") || !strcmp(parts[1], "index") || !strcmp(parts[1], "member") ||
             !strcmp(parts[1], "vdu") || !strcmp(parts[1], "vnf")))
                return NULL;
        if (n == 3 && strcmp(parts[0], "self") == 0 && strcmp(parts[2], "ip") == 0) {
                if (by_id(json_object_get(vdu, "int_cpds"), "id", parts[1]))
                        return NULL;
                snprintf(msg, size, "this VDU has no int-cpd '%s'", parts[1]);
                return msg;
        }
        if (n == 3 && strcmp(parts[0], "vl") == 0 &&
            (!strcmp(parts[2], "cidr") || !strcmp(parts[2], "gateway") || !strcmp(parts[2], "network"))) {
                if (by_id(json_object_get(nsd, "virtual_links"), "id", parts[1]))
                        return NULL;
                snprintf(msg, size, "the NSD has no virtual link '%s'", parts[1]);
                return msg;
        }
        if (n >= 3 && strcmp(parts[0], "vnf") == 0) {
                const json_t *prof = by_id(json_object_get(nsd, "vnf_profiles"), "id", parts[1]);
                const json_t *model;
                if (!prof) {
                        snprintf(msg, size, "the NSD has no vnf-profile (member-vnf-index) '%s'", parts[1]);
                        return msg;
                }
                model = lookup(str(prof, "vnfd_id"), NULL);
                if (n == 3 && (!strcmp(parts[2], "name") || !strcmp(parts[2], "vnfd") || !strcmp(parts[2], "site")))
                        return NULL;
                if (n == 4 && (!strcmp(parts[3], "ip") || !strcmp(parts[3], "ips"))) {
                        if (!by_id(json_object_get(model, "ext_cpds"), "id", parts[2])) {
                                snprintf(msg, size, "vnfd '%s' (member '%s') has no ext-cpd '%s'",
                                         str(prof, "vnfd_id"), parts[1], parts[2]);
                                return msg;
                        }
                        if (!connected(prof, parts[2])) {
                                snprintf(msg, size, "ext-cpd '%s' of member '%s' is on no virtual link: it has no address",
                                         parts[2], parts[1]);
                                return msg;
                        }
                        return NULL;
                }
                if (n >= 5 && strcmp(parts[2], "vdu") == 0) {
                        const json_t *v = by_id(json_object_get(model, "vdus"), "id", parts[3]);
                        if (!v) {
                                snprintf(msg, size, "vnfd '%s' has no vdu '%s'", str(prof, "vnfd_id"), parts[3]);
                                return msg;
                        }
                        if (n == 5 && strcmp(parts[4], "count") == 0)
                                return NULL;
                        if (n == 6 && (!strcmp(parts[5], "ip") || !strcmp(parts[5], "ips")) &&
                            by_id(json_object_get(v, "int_cpds"), "id", parts[4]))
                                return NULL;
                }
        }
        snprintf(msg, size, "not a placeholder the NS layer fills");
        return msg;
}

/* Checks every VDU's day-0 text of every member; returns the number of problems. */
static int check_day0(const char *nsd_path, const json_t *nsd)
{
        int bad = 0;
        size_t i, j;
        json_t *prof, *vdu;
        json_array_foreach(json_object_get(nsd, "vnf_profiles"), i, prof) {
                const json_t *model = lookup(str(prof, "vnfd_id"), NULL);
                json_array_foreach(json_object_get(model, "vdus"), j, vdu) {
                        const char *t = str(vdu, "cloud_init");
                        unsigned line = 1;
                        if (!t)
                                continue;
                        for (const char *p = t; *p; p++) {
                                const char *end;
                                char key[256], msg[256];
                                size_t a, b;
                                if (*p == '\n')
                                        line++;
                                if (p[0] != '{' || p[1] != '{')
                                        continue;
                                end = strstr(p + 2, "}}");
                                if (!end || memchr(p + 2, '\n', (size_t) (end - p - 2))) {
                                        printf("%s: member '%s' vdu '%s' day-0 line %u: '{{' without '}}'\n", nsd_path,
                                               str(prof, "id"), str(vdu, "id"), line);
                                        bad++;
                                        break;
                                }
                                for (a = 2; p + a < end && (p[a] == ' ' || p[a] == '\t'); a++)
                                        ;
                                for (b = (size_t) (end - p); b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'); b--)
                                        ;
                                snprintf(key, sizeof(key), "%.*s", (int) (b - a), p + a);
                                if (check_key(key, nsd, vdu, msg, sizeof(msg))) {
                                        printf("%s: member '%s' vdu '%s' day-0 line %u: {{%s}}: %s\n", nsd_path,
                                               str(prof, "id"), str(vdu, "id"), line, key, msg);
                                        bad++;
                                }
                                p = end + 1;
                        }
                }
        }
        return bad;
}

static sf_desc_pkg *load(const char *path, const sf_desc_opts *opts, int *bad)
{
        sf_err e = SF_ERR_INIT;
        json_t *errors = NULL;
        sf_desc_pkg *p = NULL;
        if (sf_desc_load_package(path, opts, &p, &errors, &e) < 0) {
                char *s = errors ? sf_desc_errors_format(errors) : NULL;
                printf("%s: invalid:\n%s", path, s && *s ? s : "");
                if (!s || !*s)
                        printf("  %s\n", sf_err_msg(&e));
                free(s);
                json_decref(errors);
                sf_err_clear(&e);
                (*bad)++;
                return NULL;
        }
        return p;
}

int main(int argc, char **argv)
{
        const char *day0_member = NULL;
        int bad = 0, first = 1;
        struct loaded *nsds;
        size_t n_nsds = 0;
        sf_desc_opts opts = { .vnfd_lookup = lookup };

        if (argc > 2 && strcmp(argv[1], "--day0") == 0) {
                day0_member = argv[2];
                first = 3;
        }
        if (first >= argc || strcmp(argv[1], "--help") == 0) {
                fprintf(stderr, "usage: check-descriptors [--day0 MEMBER] VNFD-OR-NSD.yaml...\n");
                return 2;
        }
        vnfds = calloc((size_t) argc, sizeof(*vnfds));
        nsds = calloc((size_t) argc, sizeof(*nsds));
        /* VNFDs first (NSDs are checked against them) */
        for (int pass = 0; pass < 2; pass++)
                for (int i = first; i < argc; i++) {
                        sf_desc_pkg *p;
                        FILE *f = fopen(argv[i], "re");
                        char head[4096];
                        size_t n;
                        bool is_nsd = false;
                        if (!f) {
                                printf("%s: %s\n", argv[i], strerror(errno));
                                bad++;
                                continue;
                        }
                        n = fread(head, 1, sizeof(head) - 1, f);
                        head[n] = 0;
                        fclose(f);
                        /* a top-level "nsd:" key at the start of a line */
                        is_nsd = strncmp(head, "nsd:", 4) == 0 || strstr(head, "\nnsd:") || strstr(head, "etsi-nfv-nsd:nsd");
                        if (is_nsd != (pass == 1))
                                continue;
                        p = load(argv[i], pass ? &opts : NULL, &bad);
                        if (!p)
                                continue;
                        if (pass == 0)
                                vnfds[n_vnfds++] = (struct loaded) { argv[i], p };
                        else
                                nsds[n_nsds++] = (struct loaded) { argv[i], p };
                        if (!day0_member)
                                printf("%s: %s '%s' ok%s\n", argv[i], sf_desc_kind_name(p->desc->kind), p->desc->id,
                                       json_array_size(p->desc->ignored) ? " (some fields ignored)" : "");
                }
        for (size_t i = 0; i < n_nsds; i++) {
                const json_t *nsd = nsds[i].pkg->desc->model;
                if (day0_member) {
                        const json_t *prof = by_id(json_object_get(nsd, "vnf_profiles"), "id", day0_member);
                        size_t j;
                        json_t *vdu;
                        if (!prof) {
                                fprintf(stderr, "no member '%s' in nsd '%s'\n", day0_member, nsds[i].pkg->desc->id);
                                return 1;
                        }
                        json_array_foreach(json_object_get(lookup(str(prof, "vnfd_id"), NULL), "vdus"), j, vdu)
                                if (str(vdu, "cloud_init"))
                                        fputs(str(vdu, "cloud_init"), stdout);
                        continue;
                }
                bad += check_day0(nsds[i].path, nsd);
        }
        if (!day0_member)
                printf("%zu VNFD(s), %zu NSD(s): %s\n", n_vnfds, n_nsds, bad ? "PROBLEMS FOUND" : "all valid");
        for (size_t i = 0; i < n_vnfds; i++)
                sf_desc_pkg_free(vnfds[i].pkg);
        for (size_t i = 0; i < n_nsds; i++)
                sf_desc_pkg_free(nsds[i].pkg);
        free(vnfds);
        free(nsds);
        return bad ? 1 : 0;
}
