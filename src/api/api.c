/* REST API v1 router: generic list/get/create/update/delete/action handlers over the kinds
 * of every layer, optimistic concurrency with If-Match, the event watch, health and metrics. */
#include <inttypes.h>
#include <pthread.h>

#include "sf-config.h"
#include "api/api.h"
#include "api/metrics.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("api");

#define MAX_KIND_TABLES 8
#define MAX_ROUTES 32

struct route {
        const char *method;
        char *segs[SF_HTTP_MAX_SEGS];
        size_t n_segs;
        char *pattern; /* tokenised in place into segs */
        char *label;   /* the pattern as given, for metrics */
        sf_api_route_fn fn;
        void *userdata;
};

struct sf_api {
        sf_store *store;
        struct sf_kind *const *tables[MAX_KIND_TABLES];
        size_t n_tables;
        struct route routes[MAX_ROUTES];
        size_t n_routes;
        sf_metrics *metrics;
        uint64_t started;
        struct {
                void (*fn)(void *userdata, FILE *out);
                void *userdata;
        } extra_metrics[4]; /* e.g. the controller's port pools and the agent's warm namespaces */
        size_t n_extra_metrics;
};

void sf_api_add_metrics(sf_api *a, void (*fn)(void *userdata, FILE *out), void *userdata)
{
        if (a->n_extra_metrics == ELEMENTSOF(a->extra_metrics))
                abort(); /* a programming error: raise the array size */
        a->extra_metrics[a->n_extra_metrics].fn = fn;
        a->extra_metrics[a->n_extra_metrics++].userdata = userdata;
}

int sf_api_new(sf_store *store, sf_api **ret, sf_err *e)
{
        sf_api *a = new0(sf_api, 1);
        a->store = store;
        a->metrics = sf_metrics_new();
        a->started = sf_realtime_usec();
        *ret = a;
        return 0;
}

void sf_api_free(sf_api *a)
{
        if (!a)
                return;
        for (size_t i = 0; i < a->n_routes; i++)
                free(a->routes[i].pattern), free(a->routes[i].label);
        sf_metrics_free(a->metrics);
        free(a);
}

void sf_api_add_kinds(sf_api *a, struct sf_kind *const *kinds)
{
        if (a->n_tables < MAX_KIND_TABLES)
                a->tables[a->n_tables++] = kinds;
}

void sf_api_add_route(sf_api *a, const char *method, const char *pattern, sf_api_route_fn fn,
                      void *userdata)
{
        struct route *r;
        char *save = NULL, *tok;
        if (a->n_routes == MAX_ROUTES)
                abort(); /* a programming error: raise MAX_ROUTES */
        r = &a->routes[a->n_routes++];
        r->method = method;
        r->pattern = xstrdup(pattern);
        r->label = xstrdup(pattern);
        for (tok = strtok_r(r->pattern, "/", &save); tok && r->n_segs < SF_HTTP_MAX_SEGS;
             tok = strtok_r(NULL, "/", &save))
                r->segs[r->n_segs++] = tok;
        r->fn = fn;
        r->userdata = userdata;
}

void sf_api_set_route(sf_http_resp *resp, const char *fmt, ...)
{
        va_list ap;
        free(resp->route);
        va_start(ap, fmt);
        resp->route = xvasprintf(fmt, ap);
        va_end(ap);
}

static struct sf_kind *find_kind(sf_api *a, const char *plural)
{
        for (size_t t = 0; t < a->n_tables; t++)
                for (struct sf_kind *const *k = a->tables[t]; *k; k++)
                        if (STREQ((*k)->plural, plural))
                                return *k;
        return NULL;
}

static void decorate(struct sf_kind *k, sf_rd *rd, json_t *obj)
{
        if (k->decorate)
                k->decorate(k->ctx, rd, obj);
}

/* ---- list ---- */

struct list_query {
        sf_api *api;
        struct sf_kind *kind;
        struct sf_res_filter f;
        json_t *body;
        char *owner, *node; /* resolved ids */
        sf_rd *rd;
        sf_err *e;
};

static int list_param(void *u, const char *key, const char *value)
{
        struct list_query *q = u;
        const struct sf_kind_filter *flt;
        char *end;

        if (STREQ(key, "limit")) {
                unsigned long l;
                errno = 0;
                l = strtoul(value, &end, 10);
                if (!*value || *end || errno || l == 0 || l > 100000)
                        return sf_err_set(q->e, -EINVAL, "limit", "must be 1 to 100000");
                q->f.limit = l;
                return 0;
        }
        for (flt = q->kind->filters; flt && flt->param; flt++)
                if (STREQ(flt->param, key))
                        break;
        if (!flt || !flt->param)
                return sf_err_set(q->e, -EINVAL, key, "unknown filter for %s", q->kind->plural);
        if (flt->where == SF_FILTER_BODY) {
                if (!q->body)
                        q->body = json_object();
                json_object_set_new(q->body, flt->body_key, json_string(value));
                return 0;
        }
        {
                char **slot = flt->where == SF_FILTER_OWNER ? &q->owner : &q->node;
                json_auto_t *ref = NULL;
                if (flt->ref_kind) {
                        int r = sf_res_get(q->rd, flt->ref_kind, value, &ref, q->e);
                        if (r == -ENOENT) {
                                /* Filtering on something that does not exist matches nothing. */
                                free(*slot);
                                *slot = xstrdup("-");
                                sf_err_clear(q->e);
                                return 0;
                        }
                        if (r < 0)
                                return r;
                        value = json_string_value(json_object_get(ref, "id"));
                }
                free(*slot);
                *slot = xstrdup(value);
        }
        return 0;
}

static void handle_list(sf_api *a, struct sf_kind *k, sf_http_req *req, sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        struct list_query q = { .api = a, .kind = k, .rd = &rd, .e = &e };
        json_auto_t *items = NULL;
        int64_t rev = sf_store_revision(a->store);
        json_t *o;
        size_t i;
        int r;

        sf_rd_get(a->store, &rd);
        r = sf_http_req_query_foreach(req, list_param, &q);
        q.f.owner = q.owner;
        q.f.node = q.node;
        q.f.body = q.body;
        if (r >= 0)
                r = sf_res_list(&rd, k->name, &q.f, &items, &e);
        if (r >= 0)
                json_array_foreach(items, i, o)
                        decorate(k, &rd, o);
        free(q.owner);
        free(q.node);
        if (q.body)
                json_decref(q.body);
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        sf_http_resp_json(resp, 200,
                          json_pack("{s:O, s:I}", "items", items, "revision", (json_int_t) rev));
}

/* ---- get / create / update / delete ---- */

static void handle_get(sf_api *a, struct sf_kind *k, const char *ref, sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *obj = NULL;
        sf_rd_get(a->store, &rd);
        if (sf_res_get(&rd, k->name, ref, &obj, &e) < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        decorate(k, &rd, obj);
        resp->etag = xasprintf("%" JSON_INTEGER_FORMAT,
                               json_integer_value(json_object_get(obj, "revision")));
        sf_http_resp_json(resp, 200, obj);
}

static int parse_body(sf_http_req *req, bool allow_empty, json_t **ret, sf_err *e)
{
        int r;
        if (req->body_len == 0 && allow_empty) {
                *ret = json_object();
                return 0;
        }
        r = sf_json_parse(req->body, req->body_len, ret, e);
        if (r < 0)
                return r;
        if (!json_is_object(*ret)) {
                json_decref(*ret);
                *ret = NULL;
                return sf_err_set(e, -EINVAL, NULL, "request body must be a JSON object");
        }
        return 0;
}

static void handle_create(sf_api *a, struct sf_kind *k, sf_http_req *req, sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *in = NULL;
        json_t *obj = NULL;
        int r;

        if (!k->create) {
                resp->allow = "GET";
                sf_http_resp_errorf(resp, -ENOSYS, NULL, "%s cannot be created through the API",
                                    k->plural);
                return;
        }
        r = parse_body(req, false, &in, &e);
        if (r >= 0)
                r = sf_tx_begin(a->store, &tx, &e);
        if (r >= 0)
                r = k->create(k->ctx, tx, in, &obj, &e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), &e);
        if (r < 0) {
                if (obj)
                        json_decref(obj);
                sf_http_resp_error(resp, &e);
                return;
        }
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                sf_rd_get(a->store, &rd);
                decorate(k, &rd, obj);
        }
        resp->etag = xasprintf("%" JSON_INTEGER_FORMAT,
                               json_integer_value(json_object_get(obj, "revision")));
        sf_http_resp_json(resp, 201, obj);
}

/* If-Match: "12", 12 or W/"12". */
static int check_if_match(sf_http_req *req, json_t *cur, sf_err *e)
{
        const char *h = sf_http_req_header(req, MHD_HTTP_HEADER_IF_MATCH);
        int64_t have = json_integer_value(json_object_get(cur, "revision"));
        char *end;
        long long want;
        if (!h || STREQ(h, "*"))
                return 0;
        if (strncmp(h, "W/", 2) == 0)
                h += 2;
        if (*h == '"')
                h++;
        errno = 0;
        want = strtoll(h, &end, 10);
        if (errno || end == h || (*end && !STREQ(end, "\"")))
                return sf_err_set(e, -EINVAL, "If-Match", "must be a revision number");
        if (want != have)
                return sf_err_set(e, -ESTALE, "If-Match",
                                  "%s '%s' is at revision %" PRId64 ", not %lld: read it again",
                                  "object", json_string_value(json_object_get(cur, "name")), have,
                                  want);
        return 0;
}

static void handle_update(sf_api *a, struct sf_kind *k, const char *ref, sf_http_req *req,
                          sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *in = NULL, *cur = NULL;
        json_t *obj = NULL;
        sf_rd rd;
        int r;

        if (!k->update) {
                resp->allow = "GET, DELETE";
                sf_http_resp_errorf(resp, -ENOSYS, NULL, "%s cannot be changed; delete and create",
                                    k->plural);
                return;
        }
        r = parse_body(req, false, &in, &e);
        if (r >= 0)
                r = sf_tx_begin(a->store, &tx, &e);
        if (r >= 0) {
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, k->name, ref, &cur, &e);
        }
        if (r >= 0)
                r = check_if_match(req, cur, &e);
        if (r >= 0)
                r = k->update(k->ctx, tx, cur, in, &obj, &e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), &e);
        if (r < 0) {
                if (obj)
                        json_decref(obj);
                sf_http_resp_error(resp, &e);
                return;
        }
        {
                _cleanup_rd_ sf_rd rd2 = { 0 };
                sf_rd_get(a->store, &rd2);
                decorate(k, &rd2, obj);
        }
        resp->etag = xasprintf("%" JSON_INTEGER_FORMAT,
                               json_integer_value(json_object_get(obj, "revision")));
        sf_http_resp_json(resp, 200, obj);
}

static int delete_opt(void *u, const char *k, const char *v)
{
        json_t *opts = u;
        if (STREQ(k, "force")) {
                if (!STREQ(v, "true") && !STREQ(v, "1") && !STREQ(v, "false") && !STREQ(v, "0"))
                        return -EINVAL;
                json_object_set_new(opts, "force", json_boolean(STREQ(v, "true") || STREQ(v, "1")));
                return 0;
        }
        return -ENOENT;
}

static void handle_delete(sf_api *a, struct sf_kind *k, const char *ref, sf_http_req *req,
                          sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *cur = NULL, *opts = json_object();
        sf_rd rd;
        int r;

        if (!k->remove) {
                resp->allow = "GET";
                sf_http_resp_errorf(resp, -ENOSYS, NULL, "%s cannot be deleted", k->plural);
                return;
        }
        r = sf_http_req_query_foreach(req, delete_opt, opts);
        if (r == -EINVAL) {
                sf_http_resp_errorf(resp, -EINVAL, "force", "must be true or false");
                return;
        }
        if (r < 0) {
                sf_http_resp_errorf(resp, -EINVAL, NULL, "DELETE accepts only the 'force' parameter");
                return;
        }
        r = sf_tx_begin(a->store, &tx, &e);
        if (r >= 0) {
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, k->name, ref, &cur, &e);
        }
        if (r >= 0)
                r = check_if_match(req, cur, &e);
        if (r >= 0)
                r = k->remove(k->ctx, tx, cur, opts, &e);
        if (r == 1) {
                /* Accepted: completes once the node confirms. Answer with the marked object. */
                json_auto_t *now = NULL;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, k->name, json_string_value(json_object_get(cur, "id")), &now, &e);
                if (r >= 0)
                        r = sf_tx_commit(TAKE_PTR(tx), &e);
                if (r >= 0) {
                        sf_http_resp_json(resp, 202, json_incref(now));
                        return;
                }
        } else if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), &e);
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        resp->status = 204;
        resp->text = xstrdup("");
}

static int query_to_json(void *u, const char *k, const char *v)
{
        json_object_set_new(u, k, json_string(v));
        return 0;
}

static void handle_action(sf_api *a, struct sf_kind *k, const char *ref, const char *action,
                          sf_http_req *req, sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *in = NULL, *cur = NULL;
        const struct sf_kind_action *act;
        bool is_get = STREQ(req->method, "GET");
        json_t *out = NULL;
        int r;

        for (act = k->actions; act && act->name; act++)
                if (STREQ(act->name, action))
                        break;
        if (!act || !act->name) {
                sf_api_set_route(resp, "other");
                sf_http_resp_errorf(resp, -ENOENT, NULL, "%s have no action '%.64s'", k->plural,
                                    action);
                return;
        }
        sf_api_set_route(resp, "/v1/%s/{id}/%s", k->plural, act->name);
        if (act->get != is_get) {
                resp->allow = act->get ? "GET" : "POST";
                sf_http_resp_errorf(resp, -ENOSYS, NULL, "use %s for %s/%s", resp->allow,
                                    k->plural, action);
                return;
        }
        r = is_get ? 0 : parse_body(req, true, &in, &e);
        if (is_get)
                in = json_object();
        if (r >= 0) {
                _cleanup_rd_ sf_rd rd = { 0 };
                sf_rd_get(a->store, &rd);
                r = sf_res_get(&rd, k->name, ref, &cur, &e);
        }
        if (r >= 0) {
                /* Query arguments reach GET actions as string members of in. */
                if (is_get)
                        sf_http_req_query_foreach(req, query_to_json, in);
                r = act->fn(k->ctx, a->store, cur, in, &out, &e);
        }
        if (r < 0) {
                if (out)
                        json_decref(out);
                sf_http_resp_error(resp, &e);
                return;
        }
        /* 1: accepted, completes in the background (e.g. an NS lifecycle operation). */
        sf_http_resp_json(resp, r == 1 ? 202 : 200, out ? out : json_object());
}

/* ---- events ---- */

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        char *end;
        long long v;
        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void handle_events(sf_api *a, sf_http_req *req, sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *since_s = sf_http_req_query(req, "since");
        const char *timeout_s = sf_http_req_query(req, "timeout");
        const char *kinds_s = sf_http_req_query(req, "kinds");
        const char *limit_s = sf_http_req_query(req, "limit");
        int64_t since, timeout = 30, limit = 1000, last = 0;
        _cleanup_strv_free_ char **kinds = NULL;
        json_auto_t *events = NULL;
        int r;

        if (since_s) {
                if (parse_i64(since_s, 0, INT64_MAX, &since) < 0) {
                        sf_http_resp_errorf(resp, -EINVAL, "since",
                                            "must be a revision number (0 or more)");
                        return;
                }
        } else
                since = sf_store_revision(a->store);
        if (timeout_s && parse_i64(timeout_s, 0, 300, &timeout) < 0) {
                sf_http_resp_errorf(resp, -EINVAL, "timeout", "must be 0 to 300 seconds");
                return;
        }
        if (limit_s && parse_i64(limit_s, 1, 10000, &limit) < 0) {
                sf_http_resp_errorf(resp, -EINVAL, "limit", "must be 1 to 10000");
                return;
        }
        if (kinds_s) {
                _cleanup_free_ char *copy = xstrdup(kinds_s);
                char *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        strv_push(&kinds, xstrdup(t));
        }

        /* A long-poll ends with the first matching events, or at the timeout: writes of other
         * kinds move the revision on but do not answer a watch filtered by kind. */
        for (uint64_t deadline = sf_now_usec() + (uint64_t) timeout * 1000000;;) {
                uint64_t now = sf_now_usec();
                int64_t rev = sf_store_wait(a->store, since, now < deadline ? (int) ((deadline - now) / 1000) : 0);
                {
                        _cleanup_rd_ sf_rd rd = { 0 };
                        sf_rd_get(a->store, &rd);
                        json_decref(events);
                        events = NULL;
                        r = sf_events_since(&rd, since, (unsigned) limit, (const char *const *) kinds,
                                            &events, &last, &e);
                }
                if (r < 0 || json_array_size(events) > 0 || !kinds || sf_now_usec() >= deadline ||
                    rev <= since /* timed out, or shutting down */)
                        break;
                since = last > since ? last : rev;
        }
        if (r == -ESTALE) {
                e.code = -ENODATA; /* 410 Gone, as Kubernetes does for an expired watch */
                sf_http_resp_error(resp, &e);
                return;
        }
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        sf_http_resp_json(resp, 200, json_pack("{s:I, s:O}", "revision", (json_int_t) last,
                                               "events", events));
}

static void handle_metrics(sf_api *a, sf_http_resp *resp)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *counts = NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        const char *k;
        json_t *v;

        if (!f)
                sf_oom();
        sf_metrics_render(a->metrics, f);
        if (a->store) {
                sf_rd_get(a->store, &rd);
                fprintf(f, "# HELP sf_resources Objects stored, by kind.\n# TYPE sf_resources gauge\n");
                if (sf_res_count_all(&rd, &counts, NULL) >= 0)
                        json_object_foreach(counts, k, v)
                                fprintf(f, "sf_resources{kind=\"%s\"} %" JSON_INTEGER_FORMAT "\n", k,
                                        json_integer_value(v));
                fprintf(f,
                        "# HELP sf_store_revision Current global revision.\n# TYPE sf_store_revision "
                        "gauge\nsf_store_revision %" PRId64 "\n",
                        sf_store_revision(a->store));
        }
        for (size_t i = 0; i < a->n_extra_metrics; i++)
                a->extra_metrics[i].fn(a->extra_metrics[i].userdata, f);
        fprintf(f,
                "# HELP sf_start_time_seconds Start time of the process.\n# TYPE "
                "sf_start_time_seconds gauge\nsf_start_time_seconds %" PRIu64 "\n",
                a->started / 1000000);
        fclose(f);
        resp->status = 200;
        resp->text = buf;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static bool route_match(const struct route *r, sf_http_req *req)
{
        if (!STREQ(r->method, req->method) || r->n_segs != req->n_segs)
                return false;
        for (size_t i = 0; i < r->n_segs; i++)
                if (!STREQ(r->segs[i], "*") && !STREQ(r->segs[i], req->segs[i]))
                        return false;
        return true;
}

void sf_api_handle(void *userdata, sf_http_req *req, sf_http_resp *resp)
{
        sf_api *a = userdata;
        /* HEAD is answered as GET; libmicrohttpd drops the body. */
        const char *m = STREQ(req->method, "HEAD") ? "GET" : req->method;
        struct sf_kind *k;

        for (size_t i = 0; i < a->n_routes; i++)
                if (route_match(&a->routes[i], req)) {
                        sf_api_set_route(resp, "%s", a->routes[i].label);
                        a->routes[i].fn(a->routes[i].userdata, req, resp);
                        return;
                }

        if (req->n_segs == 1 && STREQ(req->segs[0], "healthz")) {
                sf_api_set_route(resp, "/healthz");
                if (!a->store)
                        sf_http_resp_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "role", "agent"));
                else
                        sf_http_resp_json(resp, 200,
                                          json_pack("{s:s, s:I, s:i}", "status", "ok", "revision",
                                                    (json_int_t) sf_store_revision(a->store),
                                                    "schema_version", sf_store_schema_version(a->store)));
                return;
        }
        if (req->n_segs == 1 && STREQ(req->segs[0], "metrics")) {
                sf_api_set_route(resp, "/metrics");
                handle_metrics(a, resp);
                return;
        }
        if (req->n_segs < 1 || !STREQ(req->segs[0], "v1") || !a->store) {
                sf_api_set_route(resp, "other");
                sf_http_resp_errorf(resp, -ENOENT, NULL, "no such path '%.200s'; the API is under /v1",
                                    req->url);
                return;
        }
        if (req->n_segs == 1) {
                json_t *kinds = json_array();
                sf_api_set_route(resp, "/v1");
                for (size_t t = 0; t < a->n_tables; t++)
                        for (struct sf_kind *const *kk = a->tables[t]; *kk; kk++)
                                json_array_append_new(kinds, json_string((*kk)->plural));
                sf_http_resp_json(resp, 200,
                                  json_pack("{s:s, s:s, s:o}", "name", "superfluid", "version",
                                            SF_VERSION, "resources", kinds));
                return;
        }
        if (req->n_segs == 2 && STREQ(req->segs[1], "events")) {
                sf_api_set_route(resp, "/v1/events");
                if (!STREQ(m, "GET")) {
                        resp->allow = "GET";
                        sf_http_resp_errorf(resp, -ENOSYS, NULL, "use GET for /v1/events");
                        return;
                }
                handle_events(a, req, resp);
                return;
        }
        k = find_kind(a, req->segs[1]);
        if (!k) {
                sf_api_set_route(resp, "other");
                sf_http_resp_errorf(resp, -ENOENT, NULL, "no resource type '%.64s'", req->segs[1]);
                return;
        }
        if (req->n_segs == 2) {
                sf_api_set_route(resp, "/v1/%s", k->plural);
                if (STREQ(m, "GET"))
                        handle_list(a, k, req, resp);
                else if (STREQ(m, "POST"))
                        handle_create(a, k, req, resp);
                else {
                        resp->allow = "GET, POST";
                        sf_http_resp_errorf(resp, -ENOSYS, NULL, "use GET or POST on /v1/%s",
                                            k->plural);
                }
                return;
        }
        if (req->n_segs == 3) {
                sf_api_set_route(resp, "/v1/%s/{id}", k->plural);
                if (STREQ(m, "GET"))
                        handle_get(a, k, req->segs[2], resp);
                else if (STREQ(m, "PATCH"))
                        handle_update(a, k, req->segs[2], req, resp);
                else if (STREQ(m, "DELETE"))
                        handle_delete(a, k, req->segs[2], req, resp);
                else {
                        resp->allow = "GET, PATCH, DELETE";
                        sf_http_resp_errorf(resp, -ENOSYS, NULL,
                                            "use GET, PATCH or DELETE on /v1/%s/ID", k->plural);
                }
                return;
        }
        if (req->n_segs == 4) {
                handle_action(a, k, req->segs[2], req->segs[3], req, resp);
                return;
        }
        sf_api_set_route(resp, "other");
        sf_http_resp_errorf(resp, -ENOENT, NULL, "no such path '%.200s'", req->url);
}

void sf_api_observe(void *userdata, const char *route, const char *method, unsigned status,
                    uint64_t usec)
{
        sf_api *a = userdata;
        sf_metrics_observe(a->metrics, route, method, status, usec);
}
