/* sfctl vnfd, nsd and ns: onboarding descriptors (a YAML file, an OSM package folder or a
 * .tar.gz, uploaded as they are), NS instances and their lifecycle operations, waited for
 * with their progress. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "cli/sfctl.h"
#include "lib/util.h"

#define MAX_UPLOAD ((size_t) 4 << 20)

/* ---- reading what to upload ---- */

static char *b64_encode(const unsigned char *p, size_t n)
{
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
        size_t i;
        for (i = 0; i + 2 < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
                *o++ = tab[v >> 18];
                *o++ = tab[(v >> 12) & 63];
                *o++ = tab[(v >> 6) & 63];
                *o++ = tab[v & 63];
        }
        if (i < n) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0);
                *o++ = tab[v >> 18];
                *o++ = tab[(v >> 12) & 63];
                *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *o++ = '=';
        }
        *o = 0;
        return out;
}

static bool has_suffix(const char *s, const char *suf)
{
        size_t a = strlen(s), b = strlen(suf);
        return a >= b && STREQ(s + a - b, suf);
}

static bool is_yaml(const char *s)
{
        return has_suffix(s, ".yaml") || has_suffix(s, ".yml");
}

static int add_entry(struct archive *a, const char *name, const char *data, size_t len, bool dir, sf_err *e)
{
        struct archive_entry *en = archive_entry_new();
        int r = 0;
        archive_entry_set_pathname(en, name);
        archive_entry_set_filetype(en, dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(en, dir ? 0755 : 0644);
        archive_entry_set_size(en, dir ? 0 : (la_int64_t) len);
        if (archive_write_header(a, en) != ARCHIVE_OK ||
            (!dir && len && archive_write_data(a, data, len) != (la_ssize_t) len))
                r = sf_err_set(e, -EIO, NULL, "packing '%s': %s", name, archive_error_string(a));
        archive_entry_free(en);
        return r;
}

static int add_file(struct archive *a, const char *path, const char *name, sf_err *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = sf_read_file(path, MAX_UPLOAD, &buf, &len, e);
        if (r < 0)
                return r;
        return add_entry(a, name, buf, len, false, e);
}

/* An OSM package folder as a .tar.gz in memory: the descriptor (*.yaml at the top) and
 * cloud_init/ with their content; any other entry by name only (empty), so that sfd can list
 * what it does not use without the upload carrying charms or images. With yaml_only set,
 * dir is a folder holding a bare descriptor `yaml_only` next to cloud_init/. */
static int pack(const char *dir, const char *yaml_only, char **ret, size_t *ret_len, sf_err *e)
{
        _cleanup_free_ char *copy = xstrdup(dir), *base = NULL, *buf = NULL;
        struct archive *a = archive_write_new();
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        DIR *d = NULL;
        struct dirent *de;
        int r = 0;
        char *slash;

        if (!f)
                sf_oom();
        while ((slash = strrchr(copy, '/')) && slash[1] == 0 && slash != copy)
                *slash = 0;
        base = xstrdup(strrchr(copy, '/') ? strrchr(copy, '/') + 1 : copy);
        if (yaml_only || !*base || STREQ(base, ".") || STREQ(base, ".."))
                free(base), base = xstrdup("package");
        archive_write_add_filter_gzip(a);
        archive_write_set_format_pax_restricted(a);
        if (archive_write_open_FILE(a, f) != ARCHIVE_OK) {
                r = sf_err_set(e, -EIO, NULL, "packing: %s", archive_error_string(a));
                goto out;
        }
        r = add_entry(a, base, NULL, 0, true, e);
        d = opendir(dir);
        if (!d && r >= 0)
                r = sf_err_errno(e, -errno, "open '%s'", dir);
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name), *name = xasprintf("%s/%s", base, de->d_name);
                struct stat st;
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, "..") || lstat(p, &st) < 0)
                        continue;
                if (S_ISREG(st.st_mode) && is_yaml(de->d_name)) {
                        if (!yaml_only || STREQ(de->d_name, yaml_only))
                                r = add_file(a, p, name, e);
                } else if (S_ISDIR(st.st_mode) && STREQ(de->d_name, "cloud_init")) {
                        DIR *ci = opendir(p);
                        struct dirent *ce;
                        r = add_entry(a, name, NULL, 0, true, e);
                        while (ci && r >= 0 && (ce = readdir(ci))) {
                                _cleanup_free_ char *cp = xasprintf("%s/%s", p, ce->d_name);
                                _cleanup_free_ char *cn = xasprintf("%s/%s", name, ce->d_name);
                                struct stat cs;
                                if (lstat(cp, &cs) == 0 && S_ISREG(cs.st_mode))
                                        r = add_file(a, cp, cn, e);
                        }
                        if (ci)
                                closedir(ci);
                } else if (!yaml_only)
                        r = add_entry(a, name, NULL, 0, S_ISDIR(st.st_mode), e);
        }
        if (d)
                closedir(d);
out:
        if (archive_write_close(a) != ARCHIVE_OK && r >= 0)
                r = sf_err_set(e, -EIO, NULL, "packing: %s", archive_error_string(a));
        archive_write_free(a);
        fclose(f);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* The body for POST /v1/vnfds or /v1/nsds from PATH: {"yaml"} for a bare YAML file,
 * {"package_base64"} for a folder, an archive, or a YAML file with a cloud_init/ folder beside. */
static int upload_body(const char *path, json_t *body, sf_err *e)
{
        _cleanup_free_ char *buf = NULL, *b64 = NULL;
        size_t len = 0;
        struct stat st;
        int r;

        if (stat(path, &st) < 0)
                return sf_err_errno(e, -errno, "'%s'", path);
        if (S_ISDIR(st.st_mode))
                r = pack(path, NULL, &buf, &len, e);
        else if (is_yaml(path)) {
                _cleanup_free_ char *dir = strrchr(path, '/') ? strndup(path, strrchr(path, '/') - path) : xstrdup(".");
                _cleanup_free_ char *ci = xasprintf("%s/cloud_init", *dir ? dir : "/");
                struct stat cs;
                if (stat(ci, &cs) == 0 && S_ISDIR(cs.st_mode))
                        r = pack(*dir ? dir : "/", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, &buf, &len, e);
                else {
                        json_t *s;
                        r = sf_read_file(path, MAX_UPLOAD, &buf, &len, e);
                        if (r < 0)
                                return r;
                        s = json_stringn(buf, len);
                        if (!s)
                                return sf_err_set(e, -EINVAL, NULL, "'%s' is not UTF-8 text", path);
                        json_object_set_new(body, "yaml", s);
                        return 0;
                }
        } else
                r = sf_read_file(path, MAX_UPLOAD, &buf, &len, e);
        if (r < 0)
                return r;
        b64 = b64_encode((const unsigned char *) buf, len);
        json_object_set_new(body, "package_base64", json_string(b64));
        return 0;
}

/* ---- vnfd and nsd ---- */

static void print_lines(const char *title, json_t *arr)
{
        json_t *x;
        size_t i;
        if (json_array_size(arr) == 0)
                return;
        printf("%s\n", title);
        json_array_foreach(arr, i, x)
                printf("  %s\n", json_string_value(x));
}

static int onboard(struct sfctl *c, const struct verb *v, struct args *a)
{
        const char *kind = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = xasprintf("/v1/%ss", kind);
        json_auto_t *body = json_object(), *out = NULL;
        json_t *model, *x, *pkg;
        size_t i;
        int r;

        if (a->n_pos != 1)
                return usage_error(kind, "onboard takes one PATH (a .yaml file, a package folder or a .tar.gz)"),
                       EXIT_USAGE;
        r = upload_body(a->pos[0], body, &e);
        if (r >= 0)
                body_str(a, "description", body, "description");
        if (r >= 0)
                r = sf_httpc_call(c->http, "POST", path, body, &out, &e);
        if (r < 0) {
                if (e.msg && strchr(e.msg, '\n')) {
                        /* The descriptor's problems, one per line: LINE:COLUMN: PATH: MESSAGE */
                        fprintf(stderr, "sfctl: %s '%s': %s\n", kind, a->pos[0], e.msg);
                        return e.code == -EEXIST ? EXIT_CONFLICT : EXIT_FAIL;
                }
                return fail(&e);
        }
        if (c->json || c->quiet) {
                out_object(c, out);
                return EXIT_OK;
        }
        model = json_object_get(out, "model");
        printf("onboarded %s '%s'", kind, json_string_value(json_object_get(out, "name")));
        if (json_is_string(json_object_get(out, "version")))
                printf(" version %s", json_string_value(json_object_get(out, "version")));
        if (STREQ(kind, "vnfd")) {
                printf(": %zu VDU%s (", json_array_size(json_object_get(model, "vdus")),
                       json_array_size(json_object_get(model, "vdus")) == 1 ? "" : "s");
                json_array_foreach(json_object_get(model, "vdus"), i, x)
                        printf("%s%s %s", i ? ", " : "", json_string_value(json_object_get(x, "id")),
                               json_string_value(json_object_get(x, "kind")));
                printf(")\n");
        } else {
                printf(": %zu VNF profile%s, %zu virtual link%s\n", json_array_size(json_object_get(model, "vnf_profiles")),
                       json_array_size(json_object_get(model, "vnf_profiles")) == 1 ? "" : "s",
                       json_array_size(json_object_get(model, "virtual_links")),
                       json_array_size(json_object_get(model, "virtual_links")) == 1 ? "" : "s");
        }
        pkg = json_object_get(out, "package");
        if (json_is_object(pkg)) {
                printf("package: descriptor %s", json_string_value(json_object_get(pkg, "descriptor")));
                json_array_foreach(json_object_get(pkg, "files"), i, x)
                        printf("%s%s", i ? ", " : "; uses ", json_string_value(x));
                printf("\n");
                print_lines("not used from the package:", json_object_get(pkg, "ignored_files"));
        }
        print_lines("ignored (valid SOL006, not acted on):", json_object_get(out, "ignored"));
        return EXIT_OK;
}

static int desc_show(struct sfctl *c, const struct verb *v, struct args *a)
{
        const char *kind = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *ref = NULL, *path = NULL;
        json_auto_t *out = NULL;
        if (a->n_pos != 1)
                return usage_error(kind, "show takes exactly one ID"), EXIT_USAGE;
        ref = sf_httpc_escape(a->pos[0]);
        path = xasprintf("/v1/%ss/%s", kind, ref);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        if (!c->json && !args_has(a, "document"))
                json_object_del(out, "document"); /* the descriptor as written: -o json or --document */
        out_object(c, out);
        return EXIT_OK;
}

static const struct col vnfd_cols[] = {
        { "NAME", "name" },        { "VERSION", "version" },  { "PROVIDER", "provider" },
        { "VDUS", "model.vdus[].id" }, { "USAGE", "usage_state" }, { "ID", "id" },
        { NULL },
};
static const struct col nsd_cols[] = {
        { "NAME", "name" },  { "VERSION", "version" }, { "VNFDS", "model.vnfd_ids" },
        { "USAGE", "usage_state" }, { "ID", "id" },
        { NULL },
};
static const struct crud vnfd_crud = { "vnfd", "vnfds", vnfd_cols, NULL, NULL, NULL };
static const struct crud nsd_crud = { "nsd", "nsds", nsd_cols, NULL, NULL, NULL };
static const struct opt onboard_opts[] = {
        { "description", "TEXT", "replaces the descriptor's description" },
        { NULL },
};
static const struct opt show_opts[] = {
        { "document", NULL, "also print the descriptor as written" },
        { NULL },
};
static const struct opt no_opts[] = { { NULL } };

const struct resource res_vnfd = {
        "vnfd", "VNF descriptors (ETSI SOL006, OSM packages)",
        (const struct verb[]) {
                { "onboard", "PATH", "onboard a VNFD: a .yaml file, an OSM package folder or .tar.gz", onboard_opts,
                  onboard, "vnfd" },
                { "list", "", "list onboarded VNFDs", no_opts, crud_list, &vnfd_crud },
                { "show", "ID", "show a VNFD: ignored fields and the normalized model", show_opts, desc_show, "vnfd" },
                { "delete", "ID...", "delete VNFDs (refused while an NSD uses them)", no_opts, crud_delete, &vnfd_crud },
                { NULL },
        },
};

const struct resource res_nsd = {
        "nsd", "network-service descriptors (ETSI SOL006, OSM packages)",
        (const struct verb[]) {
                { "onboard", "PATH", "onboard an NSD (its VNFDs first): a .yaml file, a package folder or .tar.gz",
                  onboard_opts, onboard, "nsd" },
                { "list", "", "list onboarded NSDs", no_opts, crud_list, &nsd_crud },
                { "show", "ID", "show an NSD: ignored fields and the normalized model", show_opts, desc_show, "nsd" },
                { "delete", "ID...", "delete NSDs (refused while an NS instance uses them)", no_opts, crud_delete,
                  &nsd_crud },
                { NULL },
        },
};

/* ---- ns ---- */

static char *ns_path(const char *ref, const char *action)
{
        _cleanup_free_ char *e = sf_httpc_escape(ref);
        return action ? xasprintf("/v1/ns_instances/%s/%s", e, action) : xasprintf("/v1/ns_instances/%s", e);
}

static const char *js(json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

static int ns_create(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = json_object(), *out = NULL;
        const char *cfg = args_get(a, "config");
        json_t *x;
        size_t i;
        int r = 0;

        if (a->n_pos != 1)
                return usage_error("ns", "create takes one NAME"), EXIT_USAGE;
        if (!args_get(a, "nsd"))
                return usage_error("ns", "create needs --nsd ID"), EXIT_USAGE;
        json_object_set_new(body, "name", json_string(a->pos[0]));
        body_str(a, "nsd", body, "nsd");
        body_str(a, "description", body, "description");
        if (cfg) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                json_t *s;
                r = sf_read_file(cfg, MAX_UPLOAD, &buf, &len, &e);
                if (r >= 0 && !(s = json_stringn(buf, len)))
                        r = sf_err_set(&e, -EINVAL, "--config", "'%s' is not UTF-8 text", cfg);
                else if (r >= 0)
                        json_object_set_new(body, "config_yaml", s);
        }
        if (r >= 0)
                r = sf_httpc_call(c->http, "POST", "/v1/ns_instances", body, &out, &e);
        if (r < 0)
                return fail(&e);
        if (c->json || c->quiet) {
                out_object(c, out);
                return EXIT_OK;
        }
        printf("created NS '%s' from nsd '%s' (%s)\n", js(out, "name"), js(out, "nsd"), js(out, "state"));
        json_array_foreach(json_object_get(out, "notes"), i, x)
                printf("note: %s\n", json_string_value(x));
        return EXIT_OK;
}

static int ns_show(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        json_auto_t *out = NULL, *rows = json_array();
        json_t *vnf, *vdu, *inst, *lo, *x;
        size_t i, j, k;

        if (a->n_pos != 1)
                return usage_error("ns", "show takes exactly one NAME"), EXIT_USAGE;
        path = ns_path(a->pos[0], NULL);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        if (c->json || c->quiet) {
                out_object(c, out);
                return EXIT_OK;
        }
        printf("NS %s (nsd %s): %s", js(out, "name"), js(out, "nsd"), js(out, "state"));
        if (js(out, "instantiated_at"))
                printf(" since %s", js(out, "instantiated_at"));
        printf(", %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " VDU instances running\n",
               json_integer_value(json_object_get(json_object_get(out, "vdu_instances"), "running")),
               json_integer_value(json_object_get(json_object_get(out, "vdu_instances"), "total")));
        if ((lo = json_object_get(out, "operation_state")))
                printf("operation: %s %s (%s)\n", js(lo, "operation"), js(lo, "state"),
                       js(json_object_get(lo, "progress"), "step") ?: "");
        else if ((lo = json_object_get(out, "last_operation")) && json_is_object(lo))
                printf("last operation: %s %s\n", js(lo, "operation"), js(lo, "state"));
        json_array_foreach(json_object_get(out, "notes"), i, x)
                printf("note: %s\n", json_string_value(x));
        if (json_array_size(json_object_get(out, "virtual_links"))) {
                static const struct col cols[] = { { "VIRTUAL-LINK", "vl" }, { "VNF", "member" }, { "NETWORK", "network" },
                                                   { "CIDR", "cidr" }, { "GATEWAY", "gateway" }, { "EXISTING", "external" },
                                                   { NULL } };
                printf("\nVirtual links:\n");
                out_table(c, json_object_get(out, "virtual_links"), cols);
        }
        if (json_array_size(json_object_get(out, "vnfs"))) {
                static const struct col cols[] = { { "VNF", "member_vnf_index" }, { "NAME", "name" }, { "VNFD", "vnfd" },
                                                   { "SITE", "site" }, { "NODE", "node" }, { "HEALTH", "health" },
                                                   { "SCALE", "scale" }, { NULL } };
                static const struct col icols[] = { { "VDU-INSTANCE", "name" }, { "VNF", "vnf" }, { "VDU", "vdu" },
                                                    { "NODE", "status.node" }, { "SITE", "status.site" },
                                                    { "PHASE", "status.phase" }, { "IPS", "cps[].ip" }, { NULL } };
                json_array_foreach(json_object_get(out, "vnfs"), i, vnf) {
                        _cleanup_free_ char *lv = xstrdup("");
                        const char *ak;
                        json_object_foreach(json_object_get(vnf, "scale_levels"), ak, x) {
                                char *n = xasprintf("%s%s%s=%" JSON_INTEGER_FORMAT, lv, *lv ? "," : "", ak,
                                                    json_integer_value(x));
                                free(lv);
                                lv = n;
                        }
                        json_object_set_new(vnf, "scale", json_string(lv));
                        json_array_foreach(json_object_get(vnf, "vdus"), j, vdu)
                                json_array_foreach(json_object_get(vdu, "instances"), k, inst) {
                                        json_object_set(inst, "vnf", json_object_get(vnf, "member_vnf_index"));
                                        json_object_set(inst, "vdu", json_object_get(vdu, "id"));
                                        json_array_append(rows, inst);
                                }
                }
                printf("\nVNF instances:\n");
                out_table(c, json_object_get(out, "vnfs"), cols);
                printf("\nVDU instances:\n");
                out_table(c, rows, icols);
        }
        return EXIT_OK;
}

/* Follows an operation occurrence until it ends; prints its steps (unless -o json/-q). */
int ns_follow(struct sfctl *c, json_t *op, int timeout_s)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL, *esc = sf_httpc_escape(js(op, "id"));
        json_auto_t *cur = json_incref(op);
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_s * 1000000;
        size_t shown = 0;
        const char *st;

        path = xasprintf("/v1/ns_lcm_op_occs/%s", esc);
        for (;;) {
                json_t *log = json_object_get(cur, "log"), *x;
                st = js(cur, "state");
                if (!c->json && !c->quiet)
                        for (; shown < json_array_size(log); shown++) {
                                x = json_array_get(log, shown);
                                printf("  [%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "] %s\n",
                                       json_integer_value(json_object_get(x, "done")),
                                       json_integer_value(json_object_get(x, "total")), js(x, "message"));
                                fflush(stdout);
                        }
                if (STREQ(st, "COMPLETED") || STREQ(st, "FAILED") || STREQ(st, "ROLLED_BACK"))
                        break;
                if (sf_now_usec() > deadline) {
                        fprintf(stderr, "sfctl: operation '%s' still %s after %d s (it goes on: 'sfctl ns op %s')\n",
                                js(cur, "name"), st, timeout_s, js(cur, "name"));
                        return EXIT_SERVER;
                }
                usleep(50000);
                json_decref(cur);
                cur = NULL;
                if (sf_httpc_call(c->http, "GET", path, NULL, &cur, &e) < 0)
                        return fail(&e);
        }
        if (c->json)
                out_object(c, cur);
        else if (c->quiet)
                puts(js(cur, "name"));
        if (STREQ(st, "COMPLETED")) {
                if (!c->json && !c->quiet)
                        printf("%s of NS '%s' COMPLETED (%s)\n", js(cur, "operation"), js(cur, "ns"), js(cur, "name"));
                return EXIT_OK;
        }
        {
                json_t *err = json_object_get(cur, "error");
                fprintf(stderr, "sfctl: %s of NS '%s' %s: %s%s%s%s%s\n", js(cur, "operation"), js(cur, "ns"), st,
                        js(err, "message") ?: "unknown error", js(err, "field") ? " (field " : "", js(err, "field") ?: "",
                        js(err, "field") ? ")" : "", "");
                if (js(err, "rollback_error"))
                        fprintf(stderr, "sfctl: the rollback failed too: %s\n", js(err, "rollback_error"));
        }
        return EXIT_FAIL;
}

static int action(struct sfctl *c, struct args *a, const char *act, json_t *body)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        json_auto_t *op = NULL;
        const char *t = args_get(a, "wait-timeout");
        int timeout_s = t ? atoi(t) : 900;

        if (a->n_pos != 1)
                return usage_error("ns", "%s takes one NAME", act), EXIT_USAGE;
        if (args_get(a, "timeout")) {
                int r = body_int(a, "timeout", body, "timeout", &e);
                if (r < 0)
                        return fail(&e);
        }
        path = ns_path(a->pos[0], act);
        if (sf_httpc_call(c->http, "POST", path, body, &op, &e) < 0)
                return fail(&e);
        if (args_has(a, "no-wait")) {
                if (c->json || c->quiet)
                        out_object(c, op);
                else
                        printf("%s of NS '%s' accepted: operation '%s'\n", js(op, "operation"), a->pos[0], js(op, "name"));
                return EXIT_OK;
        }
        return ns_follow(c, op, timeout_s > 0 ? timeout_s : 900);
}

static int ns_instantiate(struct sfctl *c, const struct verb *v, struct args *a)
{
        json_auto_t *body = json_object();
        return action(c, a, "instantiate", body);
}

static int ns_terminate(struct sfctl *c, const struct verb *v, struct args *a)
{
        json_auto_t *body = json_object();
        return action(c, a, "terminate", body);
}

static int ns_scale(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = json_object();
        bool out = args_has(a, "out"), in = args_has(a, "in");
        if (!args_get(a, "vnf") || !args_get(a, "aspect") || out == in)
                return usage_error("ns", "scale needs --vnf MEMBER, --aspect ASPECT and one of --out or --in"),
                       EXIT_USAGE;
        body_str(a, "vnf", body, "vnf");
        body_str(a, "aspect", body, "aspect");
        json_object_set_new(body, "direction", json_string(out ? "out" : "in"));
        if (body_int(a, "steps", body, "steps", &e) < 0)
                return fail(&e);
        return action(c, a, "scale", body);
}

static int ns_move(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = json_object();
        if (!args_get(a, "vnf") || !args_get(a, "to"))
                return usage_error("ns", "move needs --vnf MEMBER and --to SITE|NODE"), EXIT_USAGE;
        body_str(a, "vnf", body, "vnf");
        body_str(a, "vdu", body, "vdu");
        body_str(a, "instance", body, "instance");
        body_str(a, "to", body, "to");
        body_str(a, "strategy", body, "strategy");
        if (body_int(a, "drain", body, "drain_seconds", &e) < 0)
                return fail(&e);
        return action(c, a, "move", body);
}

static const struct col op_cols[] = {
        { "NAME", "name" },         { "OPERATION", "operation" }, { "STATE", "state" },
        { "DONE", "progress.done" }, { "OF", "progress.total" },   { "STARTED", "start_time" },
        { "ENDED", "end_time" },     { "ERROR", "error.message" },
        { NULL },
};

static int ns_ops(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *esc = NULL, *path = NULL;
        json_auto_t *out = NULL;
        if (a->n_pos != 1)
                return usage_error("ns", "ops takes one NAME"), EXIT_USAGE;
        esc = sf_httpc_escape(a->pos[0]);
        path = xasprintf("/v1/ns_lcm_op_occs?ns=%s", esc);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        out_table(c, json_object_get(out, "items"), op_cols);
        return EXIT_OK;
}

static int ns_op(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *esc = NULL, *path = NULL;
        json_auto_t *out = NULL;
        if (a->n_pos != 1)
                return usage_error("ns", "op takes one operation NAME or ID"), EXIT_USAGE;
        esc = sf_httpc_escape(a->pos[0]);
        path = xasprintf("/v1/ns_lcm_op_occs/%s", esc);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        out_object(c, out);
        return EXIT_OK;
}

static const struct col ns_cols[] = {
        { "NAME", "name" },
        { "NSD", "nsd" },
        { "STATE", "state" },
        { "RUNNING", "vdu_instances.running" },
        { "OF", "vdu_instances.total" },
        { "LAST-OPERATION", "last_operation.operation" },
        { "RESULT", "last_operation.state" },
        { NULL },
};
static const struct crud ns_crud = { "ns", "ns_instances", ns_cols, NULL, NULL, NULL };
static const struct opt ns_create_opts[] = {
        { "nsd", "ID", "the onboarded NSD" },
        { "config", "FILE", "instantiation parameters (YAML): site/node per member-vnf-index, ..." },
        { "description", "TEXT", "free text" },
        { NULL },
};
#define WAIT_OPTS                                                                                  \
        { "timeout", "SECONDS", "how long VDU instances may take to run before the operation fails" }, \
        { "no-wait", NULL, "return once the operation is accepted" },                                \
        { "wait-timeout", "SECONDS", "stop following the operation after that long (default 900)" }
static const struct opt ns_inst_opts[] = { WAIT_OPTS, { NULL } };
static const struct opt ns_term_opts[] = {
        { "no-wait", NULL, "return once the operation is accepted" },
        { "wait-timeout", "SECONDS", "stop following the operation after that long (default 900)" },
        { NULL },
};
static const struct opt ns_scale_opts[] = {
        { "vnf", "MEMBER", "the VNF (its member-vnf-index)" },
        { "aspect", "ASPECT", "the VNFD's scaling aspect" },
        { "out", NULL, "add instances" },
        { "in", NULL, "remove instances" },
        { "steps", "N", "scaling steps (default 1)" },
        WAIT_OPTS,
        { NULL },
};

static const struct opt ns_move_opts[] = {
        { "vnf", "MEMBER", "the VNF (its member-vnf-index)" },
        { "to", "SITE|NODE", "where to" },
        { "vdu", "VDU", "only the instances of this VDU" },
        { "instance", "NAME", "only this VDU instance (container name)" },
        { "strategy", "S", "make-before-break or handover (default: each VDU's, from its descriptor)" },
        { "drain", "SECONDS", "make-before-break: most time for old connections to finish (default 10)" },
        WAIT_OPTS,
        { NULL },
};

const struct resource res_ns = {
        "ns", "network-service instances: create, instantiate, scale, move, terminate",
        (const struct verb[]) {
                { "create", "NAME --nsd ID [--config FILE]", "create an NS instance (not instantiated)", ns_create_opts,
                  ns_create, NULL },
                { "list", "", "list NS instances", no_opts, crud_list, &ns_crud },
                { "show", "NAME", "show an NS: VNFs, VDU instances and virtual links", no_opts, ns_show, NULL },
                { "instantiate", "NAME", "deploy it (networks, then VDU instances), waiting for the operation",
                  ns_inst_opts, ns_instantiate, NULL },
                { "scale", "NAME --vnf MEMBER --aspect ASPECT --out|--in", "scale a VNF by a scaling aspect",
                  ns_scale_opts, ns_scale, NULL },
                { "move", "NAME --vnf MEMBER --to SITE|NODE", "move a VNF (or some of its VDU instances) to "
                  "another site or node, without dropping its users", ns_move_opts, ns_move, NULL },
                { "terminate", "NAME", "remove everything it deployed", ns_term_opts, ns_terminate, NULL },
                { "ops", "NAME", "its lifecycle operation occurrences", no_opts, ns_ops, NULL },
                { "op", "OPERATION", "show one operation occurrence", no_opts, ns_op, NULL },
                { "delete", "NAME...", "delete NS instances (terminated ones)", no_opts, crud_delete, &ns_crud },
                { NULL },
        },
};
