/* Generic sfctl verbs over /v1/<plural>: create, list, show, update, delete. */
#include "cli/sfctl.h"

const struct opt crud_ref_opts[] = { { NULL } };
const struct opt crud_delete_opts[] = {
        { "force", NULL, "delete even if in use or not confirmed by the node" },
        { NULL },
};

int body_str(struct args *a, const char *opt, json_t *body, const char *key)
{
        const char *v = args_get(a, opt);
        if (v)
                json_object_set_new(body, key, json_string(v));
        return 0;
}

int body_int(struct args *a, const char *opt, json_t *body, const char *key, sf_err *e)
{
        const char *v = args_get(a, opt);
        char *end;
        long long n;
        if (!v)
                return 0;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (!*v || *end || errno) {
                _cleanup_free_ char *f = xasprintf("--%s", opt);
                return sf_err_set(e, -EINVAL, f, "'%s' is not an integer", v);
        }
        json_object_set_new(body, key, json_integer(n));
        return 0;
}

int body_labels(struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n = args_all(a, "label", &v);
        json_t *labels;
        if (n == 0) {
                free(v);
                return 0;
        }
        labels = json_object();
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(v[i], '=');
                _cleanup_free_ char *k = NULL;
                if (!eq) {
                        json_decref(labels);
                        free(v);
                        return sf_err_set(e, -EINVAL, "--label", "'%s' is not KEY=VALUE", v[i]);
                }
                k = strndup(v[i], eq - v[i]);
                json_object_set_new(labels, k, json_string(eq + 1));
        }
        json_object_set_new(body, "labels", labels);
        free(v);
        return 0;
}

char *query_from(struct args *a, const char *const *names)
{
        char *q = xstrdup("");
        /* Each name is an option name, or "option:parameter" when they differ. */
        for (const char *const *n = names; *n; n++) {
                const char *colon = strchr(*n, ':');
                _cleanup_free_ char *opt = colon ? strndup(*n, colon - *n) : xstrdup(*n);
                const char *param = colon ? colon + 1 : *n;
                const char *v = args_get(a, opt);
                _cleanup_free_ char *ev = NULL;
                char *nq;
                if (!v)
                        continue;
                ev = sf_httpc_escape(v);
                nq = xasprintf("%s%s%s=%s", q, *q ? "&" : "", param, ev);
                free(q);
                q = nq;
        }
        return q;
}

static char *obj_path(const struct crud *d, const char *ref)
{
        _cleanup_free_ char *e = sf_httpc_escape(ref);
        return xasprintf("/v1/%s/%s", d->plural, e);
}

int crud_create(struct sfctl *c, const struct verb *v, struct args *a)
{
        const struct crud *d = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = xasprintf("/v1/%s", d->plural);
        json_auto_t *body = json_object(), *out = NULL;
        int r;

        if (a->n_pos > 1)
                return usage_error(d->kind, "create takes one NAME, got %zu arguments", a->n_pos),
                       EXIT_USAGE;
        if (a->n_pos == 1)
                json_object_set_new(body, "name", json_string(a->pos[0]));
        r = body_labels(a, body, &e);
        if (r >= 0)
                body_str(a, "description", body, "description");
        if (r >= 0 && d->create_body)
                r = d->create_body(c, a, body, &e);
        if (r >= 0)
                r = sf_httpc_call(c->http, "POST", path, body, &out, &e);
        if (r < 0)
                return fail(&e);
        out_object(c, out);
        return EXIT_OK;
}

int crud_list(struct sfctl *c, const struct verb *v, struct args *a)
{
        const struct crud *d = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *q = d->list_query ? d->list_query(a) : xstrdup("");
        _cleanup_free_ char *path = xasprintf("/v1/%s%s%s", d->plural, *q ? "?" : "", q);
        json_auto_t *out = NULL;

        if (a->n_pos > 0)
                return usage_error(d->kind, "list takes no arguments"), EXIT_USAGE;
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        out_table(c, json_object_get(out, "items"), d->cols);
        return EXIT_OK;
}

int crud_show(struct sfctl *c, const struct verb *v, struct args *a)
{
        const struct crud *d = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        json_auto_t *out = NULL;

        if (a->n_pos != 1)
                return usage_error(d->kind, "show takes exactly one NAME or ID"), EXIT_USAGE;
        path = obj_path(d, a->pos[0]);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        out_object(c, out);
        return EXIT_OK;
}

int crud_update(struct sfctl *c, const struct verb *v, struct args *a)
{
        const struct crud *d = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = json_object(), *out = NULL;
        int r;

        if (a->n_pos != 1)
                return usage_error(d->kind, "update takes exactly one NAME or ID"), EXIT_USAGE;
        path = obj_path(d, a->pos[0]);
        body_str(a, "rename", body, "name");
        body_str(a, "description", body, "description");
        r = body_labels(a, body, &e);
        if (r >= 0 && d->update_body)
                r = d->update_body(c, a, body, &e);
        if (r < 0)
                return fail(&e);
        if (json_object_size(body) == 0)
                return usage_error(d->kind, "update: nothing to change"), EXIT_USAGE;
        r = sf_httpc_call_if(c->http, "PATCH", path, body, args_get(a, "if-match"), &out, &e);
        if (r < 0)
                return fail(&e);
        out_object(c, out);
        return EXIT_OK;
}

int crud_delete(struct sfctl *c, const struct verb *v, struct args *a)
{
        const struct crud *d = v->data;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int rc = EXIT_OK;

        if (a->n_pos < 1)
                return usage_error(d->kind, "delete takes one or more NAMEs or IDs"), EXIT_USAGE;
        for (size_t i = 0; i < a->n_pos; i++) {
                _cleanup_free_ char *p = obj_path(d, a->pos[i]);
                _cleanup_free_ char *path = xasprintf("%s%s", p, args_has(a, "force") ? "?force=true" : "");
                if (sf_httpc_call(c->http, "DELETE", path, NULL, NULL, &e) < 0) {
                        rc = fail(&e);
                        sf_err_clear(&e);
                } else if (!c->json)
                        printf("deleted %s '%s'\n", d->kind, a->pos[i]);
        }
        return rc;
}
