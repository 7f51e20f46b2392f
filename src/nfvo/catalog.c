/* The descriptor catalogue: onboarding VNFDs and NSDs (a SOL006 YAML text, or an OSM package
 * as a base64 .tar.gz) through the descriptor parser, with every validation error and the
 * ignored fields reported; and deletion, refused while a descriptor is in use. */
#include "lib/log.h"
#include "lib/util.h"
#include "nfvo/nfvo-internal.h"

SF_LOG_MODULE("nfvo");

/* ---- base64 ---- */

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

int nfvo_b64_decode(const char *s, size_t len, char **ret, size_t *ret_len)
{
        char *out = xmalloc(len / 4 * 3 + 3);
        size_t n = 0;
        uint32_t acc = 0;
        int bits = 0;
        bool pad = false;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = s[i];
                int v;
                if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
                        continue;
                if (c == '=') {
                        pad = true;
                        continue;
                }
                v = b64_value(c);
                if (v < 0 || pad) {
                        free(out);
                        return -EINVAL;
                }
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (char) ((acc >> bits) & 0xff);
                }
        }
        if (bits >= 6) { /* a lone character: not base64 */
                free(out);
                return -EINVAL;
        }
        *ret = out;
        *ret_len = n;
        return 0;
}

/* ---- onboarding ---- */

struct lookup {
        sf_rd *rd;
        json_t *keep; /* the models handed out, alive until the parse is done */
};

static const json_t *vnfd_lookup(const char *id, void *u)
{
        struct lookup *l = u;
        json_auto_t *v = NULL;
        json_t *model;
        if (sf_res_get(l->rd, "vnfd", id, &v, NULL) < 0)
                return NULL;
        model = json_object_get(v, "model");
        json_array_append(l->keep, model);
        return model;
}

/* A failed parse: "N problems:" and every error on a line of its own, in the golden-file
 * format (LINE:COLUMN: PATH: MESSAGE); field = the path of the first. */
static int fail_errors(int r, json_t *errors, sf_err *e)
{
        _cleanup_free_ char *text = NULL;
        const char *first;
        size_t n;
        if (!errors || json_array_size(errors) == 0)
                return r;
        text = sf_desc_errors_format(errors);
        n = strlen(text);
        if (n && text[n - 1] == '\n')
                text[n - 1] = 0;
        first = jstr(json_array_get(errors, 0), "path");
        return sf_err_set(e, r, first && *first ? first : NULL, "%zu problem%s:\n%s", json_array_size(errors),
                          json_array_size(errors) == 1 ? "" : "s", text);
}

static const char *const onboard_keys[] = { "yaml", "package_base64", "description", NULL };

/* Parses the request into a descriptor; *ret_pkg is set for packages. */
static int parse_request(sf_tx *tx, json_t *in, sf_desc_kind want, sf_desc **ret, sf_desc_pkg **ret_pkg,
                         sf_err *e)
{
        json_t *yaml = json_object_get(in, "yaml"), *pkg = json_object_get(in, "package_base64");
        _cleanup_json_ json_t *errors = NULL, *keep = json_array();
        sf_rd rd;
        struct lookup l = { &rd, keep };
        sf_desc_opts opts = { .vnfd_lookup = vnfd_lookup, .userdata = &l };
        const char *what = want == SF_DESC_VNFD ? "vnfd" : "nsd";
        sf_desc *d = NULL;
        int r = sf_json_only(in, onboard_keys, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        if ((yaml && !json_is_null(yaml)) == (pkg && !json_is_null(pkg)))
                return sf_err_set(e, -EINVAL, NULL, "give either yaml (the %s as YAML text) or package_base64 "
                                                    "(an OSM package, .tar.gz, in base64)", what);
        if (yaml && !json_is_null(yaml)) {
                if (!json_is_string(yaml))
                        return sf_err_set(e, -EINVAL, "yaml", "must be a string");
                r = sf_desc_parse(json_string_value(yaml), json_string_length(yaml), &opts, &d, &errors, e);
                if (r < 0)
                        return fail_errors(r, errors, e);
        } else {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                sf_desc_pkg *p = NULL;
                if (!json_is_string(pkg))
                        return sf_err_set(e, -EINVAL, "package_base64", "must be a string");
                if (nfvo_b64_decode(json_string_value(pkg), json_string_length(pkg), &buf, &len) < 0)
                        return sf_err_set(e, -EINVAL, "package_base64", "is not base64");
                r = sf_desc_load_package_mem(buf, len, &opts, &p, &errors, e);
                if (r < 0)
                        return fail_errors(r, errors, e);
                d = TAKE_PTR(p->desc);
                *ret_pkg = p;
        }
        if (d->kind != want) {
                r = sf_err_set(e, -EINVAL, NULL, "this is %s, not %s: onboard it with POST /v1/%ss (sfctl %s onboard)",
                               d->kind == SF_DESC_VNFD ? "a VNFD" : "an NSD", want == SF_DESC_VNFD ? "a VNFD" : "an NSD",
                               sf_desc_kind_name(d->kind), sf_desc_kind_name(d->kind));
                sf_desc_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static int catalog_create(sf_tx *tx, json_t *in, sf_desc_kind want, json_t **ret, sf_err *e)
{
        _cleanup_desc_ sf_desc *d = NULL;
        _cleanup_desc_pkg_ sf_desc_pkg *pkg = NULL;
        json_auto_t *obj = json_object();
        const char *kind = want == SF_DESC_VNFD ? "vnfd" : "nsd";
        json_t *v, *m;
        size_t i;
        int r;

        r = parse_request(tx, in, want, &d, &pkg, e);
        if (r < 0)
                return r;
        if (json_object_get(in, "description") && (!json_is_string(json_object_get(in, "description")) ||
                                                   json_string_length(json_object_get(in, "description")) > 1024))
                return sf_err_set(e, -EINVAL, "description", "must be a string of at most 1024 characters");
        m = d->model;
        if (!sf_name_valid(d->id)) {
                _cleanup_free_ char *f = xasprintf("%s.id", want == SF_DESC_VNFD ? "vnfd" : "nsd.nsd[0]");
                return sf_err_set(e, -EINVAL, f, "'%s' cannot be used as a name here: use 1-63 letters, digits, "
                                                 "'.', '_' or '-', starting with a letter or digit", d->id);
        }
        /* A bare YAML text has no cloud_init/ folder: a VDU's cloud-init-file needs the package. */
        if (want == SF_DESC_VNFD)
                json_array_foreach(json_object_get(m, "vdus"), i, v)
                        if (jstr(v, "cloud_init_file") && !jstr(v, "cloud_init")) {
                                _cleanup_free_ char *f = xasprintf("vnfd.vdu[%zu].cloud-init-file", i);
                                return sf_err_set(e, -EINVAL, f,
                                                  "file 'cloud_init/%s' is not in the upload: onboard the OSM "
                                                  "package (its folder or .tar.gz) instead of the bare YAML",
                                                  jstr(v, "cloud_init_file"));
                        }
        json_object_set_new(obj, "name", json_string(d->id));
        json_object_set_new(obj, "descriptor_id", json_string(d->id));
        json_object_set(obj, "version", json_object_get(m, "version"));
        json_object_set(obj, want == SF_DESC_VNFD ? "provider" : "designer",
                        json_object_get(m, want == SF_DESC_VNFD ? "provider" : "designer"));
        json_object_set(obj, "description",
                        json_is_string(json_object_get(in, "description")) ? json_object_get(in, "description")
                                                                          : json_object_get(m, "description"));
        json_object_set(obj, "ignored", d->ignored);
        json_object_set_new(obj, "package",
                            pkg ? json_pack("{s:s, s:o, s:O}", "descriptor", pkg->descriptor, "files",
                                            json_array(), "ignored_files", pkg->ignored_files)
                                : json_null());
        if (pkg) {
                const char *k;
                json_object_foreach(pkg->files, k, v)
                        json_array_append_new(json_object_get(json_object_get(obj, "package"), "files"), json_string(k));
        }
        json_object_set_new(obj, "onboarding_state", json_string("ONBOARDED"));
        json_object_set(obj, "model", m);
        json_object_set(obj, "document", d->doc);
        r = sf_res_insert(tx, kind, obj, NULL, e);
        if (r == -EEXIST)
                return sf_err_set(e, -EEXIST, want == SF_DESC_VNFD ? "vnfd.id" : "nsd.nsd[0].id",
                                  "%s '%s' is already onboarded (delete it first to replace it)", kind, d->id);
        if (r < 0)
                return r;
        log_info("onboarded %s '%s' (%zu ignored field%s)", kind, d->id, json_array_size(d->ignored),
                 json_array_size(d->ignored) == 1 ? "" : "s");
        *ret = TAKE_PTR(obj);
        return 0;
}

static int vnfd_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        return catalog_create(tx, in, SF_DESC_VNFD, ret, e);
}

static int nsd_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        return catalog_create(tx, in, SF_DESC_NSD, ret, e);
}

/* The NSDs that refer to a VNFD (by descriptor id). */
static int nsds_using(sf_rd *rd, const char *vnfd_id, json_t **ret, sf_err *e)
{
        json_auto_t *all = NULL;
        json_t *n, *x, *out;
        size_t i, j;
        int r = sf_res_list(rd, "nsd", NULL, &all, e);
        if (r < 0)
                return r;
        out = json_array();
        json_array_foreach(all, i, n)
                json_array_foreach(json_object_get(json_object_get(n, "model"), "vnfd_ids"), j, x)
                        if (STREQ(json_string_value(x) ?: "", vnfd_id))
                                json_array_append(out, json_object_get(n, "name"));
        *ret = out;
        return 0;
}

static int ns_using(sf_rd *rd, const char *nsd_ref, json_t **ret, sf_err *e)
{
        json_auto_t *f = json_pack("{s:s}", "nsd_ref", nsd_ref), *list = NULL;
        json_t *n, *out;
        size_t i;
        int r = sf_res_list(rd, "ns_instance", &(struct sf_res_filter) { .body = f }, &list, e);
        if (r < 0)
                return r;
        out = json_array();
        json_array_foreach(list, i, n)
                json_array_append(out, json_object_get(n, "name"));
        *ret = out;
        return 0;
}

static char *join_names(json_t *names)
{
        char *s = xstrdup("");
        json_t *x;
        size_t i;
        json_array_foreach(names, i, x) {
                char *n = xasprintf("%s%s'%s'", s, i ? ", " : "", json_string_value(x));
                free(s);
                s = n;
        }
        return s;
}

static int vnfd_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        json_auto_t *users = NULL;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = nsds_using(&rd, jstr(cur, "name"), &users, e);
        if (r < 0)
                return r;
        if (json_array_size(users) > 0) {
                _cleanup_free_ char *names = join_names(users);
                return sf_err_set(e, -EBUSY, NULL, "vnfd '%s' is in use by nsd %s: delete %s first", jstr(cur, "name"),
                                  names, json_array_size(users) == 1 ? "it" : "them");
        }
        return sf_res_delete(tx, "vnfd", jstr(cur, "id"), e);
}

static int nsd_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        json_auto_t *users = NULL;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = ns_using(&rd, jstr(cur, "id"), &users, e);
        if (r < 0)
                return r;
        if (json_array_size(users) > 0) {
                _cleanup_free_ char *names = join_names(users);
                return sf_err_set(e, -EBUSY, NULL, "nsd '%s' is in use by NS instance %s: delete %s first",
                                  jstr(cur, "name"), names, json_array_size(users) == 1 ? "it" : "them");
        }
        return sf_res_delete(tx, "nsd", jstr(cur, "id"), e);
}

static void vnfd_decorate(void *ctx, sf_rd *rd, json_t *obj)
{
        json_t *users = NULL;
        if (nsds_using(rd, jstr(obj, "name"), &users, NULL) < 0)
                return;
        json_object_set_new(obj, "usage_state", json_string(json_array_size(users) ? "IN_USE" : "NOT_IN_USE"));
        json_object_set_new(obj, "used_by", users);
}

static void nsd_decorate(void *ctx, sf_rd *rd, json_t *obj)
{
        json_t *users = NULL;
        if (ns_using(rd, jstr(obj, "id"), &users, NULL) < 0)
                return;
        json_object_set_new(obj, "usage_state", json_string(json_array_size(users) ? "IN_USE" : "NOT_IN_USE"));
        json_object_set_new(obj, "used_by", users);
}

int nfvo_vnfds_of(sf_rd *rd, const json_t *nsd_model, json_t **ret, sf_err *e)
{
        json_auto_t *out = json_object();
        json_t *x;
        size_t i;
        json_array_foreach(json_object_get(nsd_model, "vnfd_ids"), i, x) {
                json_t *v = NULL;
                int r = sf_res_get(rd, "vnfd", json_string_value(x), &v, e);
                if (r == -ENOENT)
                        return sf_err_set(e, -EINVAL, "nsd", "vnfd '%s' of nsd '%s' is not onboarded",
                                          json_string_value(x), jstr(nsd_model, "id"));
                if (r < 0)
                        return r;
                json_object_set_new(out, json_string_value(x), v);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static const struct sf_kind_filter vnfd_filters[] = {
        { "provider", SF_FILTER_BODY, NULL, "provider" },
        { NULL },
};
static const struct sf_kind_filter nsd_filters[] = {
        { "designer", SF_FILTER_BODY, NULL, "designer" },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind nfvo_vnfd_kind = {
        .name = "vnfd",
        .plural = "vnfds",
        .filters = vnfd_filters,
        .create = vnfd_create,
        .remove = vnfd_remove,
        .actions = no_actions,
        .decorate = vnfd_decorate,
};

struct sf_kind nfvo_nsd_kind = {
        .name = "nsd",
        .plural = "nsds",
        .filters = nsd_filters,
        .create = nsd_create,
        .remove = nsd_remove,
        .actions = no_actions,
        .decorate = nsd_decorate,
};
