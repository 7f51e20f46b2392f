/* SOL006 descriptors: from YAML text to a validated VNFD or NSD with its normalized model; error
 * lists and their text form. */
#include <inttypes.h>

#include "lib/log.h"
#include "nfvo/desc-internal.h"
#include "nfvo/yaml.h"

SF_LOG_MODULE("nfvo");

const char *sf_desc_kind_name(sf_desc_kind k)
{
        switch (k) {
        case SF_DESC_VNFD: return "vnfd";
        case SF_DESC_NSD: return "nsd";
        }
        return "unknown";
}

void sf_desc_free(sf_desc *d)
{
        if (!d)
                return;
        free(d->id);
        json_decref(d->doc);
        json_decref(d->model);
        json_decref(d->ignored);
        free(d);
}

char *sf_desc_errors_format(const json_t *errors)
{
        char *out = xstrdup("");
        size_t i;
        json_t *e;

        json_array_foreach(errors, i, e) {
                const char *path = json_string_value(json_object_get(e, "path"));
                const char *msg = json_string_value(json_object_get(e, "message"));
                json_int_t line = json_integer_value(json_object_get(e, "line"));
                json_int_t col = json_integer_value(json_object_get(e, "column"));
                _cleanup_free_ char *where = NULL;
                char *n;
                if (path && *path)
                        where = xasprintf("%s: ", path);
                else
                        where = xstrdup("");
                if (line > 0)
                        n = xasprintf("%s%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT ": %s%s\n", out,
                                      line, col, where, msg ? msg : "");
                else
                        n = xasprintf("%s%s%s\n", out, where, msg ? msg : "");
                free(out);
                out = n;
        }
        return out;
}

/* Fills sf_err from the first error of a non-empty list. */
static int fail_with_list(json_t *errors, int code, sf_err *e)
{
        json_t *first = json_array_get(errors, 0);
        const char *path = json_string_value(json_object_get(first, "path"));
        const char *msg = json_string_value(json_object_get(first, "message"));
        size_t more = json_array_size(errors) - 1;

        if (more == 0)
                return sf_err_set(e, code, path && *path ? path : NULL, "%s", msg);
        return sf_err_set(e, code, path && *path ? path : NULL, "%s (and %zu more error%s)", msg,
                          more, more == 1 ? "" : "s");
}

int dc_fail(dctx *c, int code, json_t **ret_errors, sf_err *e)
{
        dc_sort_errors(c);
        if (ret_errors)
                *ret_errors = json_incref(c->errors);
        return fail_with_list(c->errors, code, e);
}

static const char *const top_keys[] = { "vnfd", "etsi-nfv-vnfd:vnfd", "nsd", "etsi-nfv-nsd:nsd",
                                        NULL };

/* Checks the document's top level and runs the VNFD or NSD checks. */
static void check_document(dctx *c, json_t *doc, sf_desc_kind *kind, const char **root,
                           json_t **model)
{
        const char *key, *found = NULL;
        json_t *v;

        if (!json_is_object(doc)) {
                dc_err(c, "", "a descriptor must be a mapping with a 'vnfd' or an 'nsd' key");
                return;
        }
        json_object_foreach(doc, key, v) {
                bool known = false;
                for (const char *const *k = top_keys; *k; k++)
                        known = known || STREQ(*k, key);
                if (!known) {
                        const char *sug = dc_suggest(key, top_keys);
                        if (strstr(key, "-catalog"))
                                dc_err(c, key, "unknown key '%s': this is the OSM descriptor format "
                                       "from before SOL006 (release 8 and older), which is not "
                                       "supported", key);
                        else if (sug)
                                dc_err(c, key, "unknown key '%s' (did you mean '%s'?)", key, sug);
                        else
                                dc_err(c, key, "unknown key '%s' (a descriptor has one key, 'vnfd' "
                                       "or 'nsd')", key);
                        continue;
                }
                if (found) {
                        dc_err(c, key, "a descriptor holds one vnfd or one nsd ('%s' is already "
                               "here)", found);
                        continue;
                }
                found = key;
        }
        if (!found) {
                if (json_object_size(doc) == 0)
                        dc_err(c, "", "a descriptor must be a mapping with a 'vnfd' or an 'nsd' key");
                return;
        }
        v = json_object_get(doc, found);
        *root = found;
        if (strstr(found, "vnfd")) {
                *kind = SF_DESC_VNFD;
                sf_vnfd_check(c, found, v, model);
        } else {
                *kind = SF_DESC_NSD;
                sf_nsd_check(c, found, v, model);
        }
}

int sf_desc_validate_doc(json_t *doc, json_t *pos, const sf_desc_opts *opts, sf_desc **ret,
                         json_t **ret_errors, sf_err *e)
{
        _cleanup_json_ json_t *model = NULL;
        sf_desc_kind kind = 0;
        const char *root = NULL;
        dctx c;
        sf_desc *d;
        int r;

        dc_init(&c, pos, opts);
        check_document(&c, doc, &kind, &root, &model);
        if (dc_nerrors(&c) > 0 || !model) {
                if (dc_nerrors(&c) == 0)
                        dc_err(&c, "", "no descriptor found");
                r = dc_fail(&c, -EINVAL, ret_errors, e);
                dc_done(&c);
                return r;
        }
        d = new0(sf_desc, 1);
        d->kind = kind;
        d->id = xstrdup(json_string_value(json_object_get(model, "id")));
        d->doc = json_incref(doc);
        d->ignored = json_incref(c.ignored);
        d->model = TAKE_PTR(model);
        dc_done(&c);
        *ret = d;
        return 0;
}

int sf_desc_parse_pos(const char *yaml, size_t len, const sf_desc_opts *opts, sf_desc **ret,
                      json_t **ret_pos, json_t **ret_errors, sf_err *e)
{
        _cleanup_json_ json_t *doc = NULL, *pos = NULL;
        sf_yaml_diag diag = { 0 };
        int r;

        if (len > SF_DESC_MAX_SIZE) {
                r = sf_err_set(e, -E2BIG, NULL, "the descriptor is %zu bytes, larger than the "
                               "limit of %zu MiB", len, SF_DESC_MAX_SIZE >> 20);
                if (ret_errors)
                        *ret_errors = json_pack("[{s:s, s:i, s:i, s:s}]", "path", "", "line", 0,
                                                "column", 0, "message", sf_err_msg(e));
                return r;
        }
        r = sf_yaml_to_json_pos(yaml, len, &doc, &pos, &diag, e);
        if (r < 0) {
                if (ret_errors)
                        *ret_errors = json_pack("[{s:s, s:i, s:i, s:s}]", "path",
                                                diag.path ? diag.path : "", "line", diag.line,
                                                "column", diag.column, "message",
                                                diag.msg ? diag.msg : sf_err_msg(e));
                sf_yaml_diag_clear(&diag);
                return r;
        }
        sf_yaml_diag_clear(&diag);
        r = sf_desc_validate_doc(doc, pos, opts, ret, ret_errors, e);
        if (r >= 0 && ret_pos)
                *ret_pos = TAKE_PTR(pos);
        return r;
}

int sf_desc_parse(const char *yaml, size_t len, const sf_desc_opts *opts, sf_desc **ret,
                  json_t **ret_errors, sf_err *e)
{
        return sf_desc_parse_pos(yaml, len, opts, ret, NULL, ret_errors, e);
}
