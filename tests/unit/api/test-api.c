/* Unit tests: the REST API (src/api) served in-process by sf_http_server on 127.0.0.1 with a
 * free port, over a VIM and a store on a temporary file, driven with sf_httpc and raw libcurl:
 * error mapping (status, error.code, error.field), body limit, HEAD and ETag, If-Match,
 * unknown paths, methods (405 with Allow), two-phase delete, events and metrics. All of it
 * twice: sf_httpc's requests over the socket, then answered in process
 * (sf_http_server_serve_local, as sfd all-in-one's agent calls its controller), which must
 * not make any difference a client can see; raw libcurl requests go over the socket both
 * times (and see what the in-process ones did, the metrics included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "api/api.h"
#include "lib/httpc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim.h"

#define MAX_BODY 4096

static struct {
        char dir[64];
        sf_store *store;
        sf_vim *vim;
        sf_api *api;
        sf_http_server *http;
        sf_httpc *c;
        bool local;
} g;

static int group_setup(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        int r;
        sf_httpc_global_init();
        snprintf(g.dir, sizeof(g.dir), "/tmp/sf-test-api-XXXXXX");
        if (!mkdtemp(g.dir))
                return -1;
        path = xasprintf("%s/state.db", g.dir);
        r = sf_store_open(path, NULL, &g.store, &e);
        if (r >= 0)
                r = sf_vim_new(g.store, NULL, &g.vim, &e);
        if (r >= 0)
                r = sf_api_new(g.store, &g.api, &e);
        if (r >= 0) {
                sf_api_add_kinds(g.api, sf_vim_kinds(g.vim));
                r = sf_http_server_start(&(struct sf_http_options) { .listen = "127.0.0.1:0",
                                                                     .max_body = MAX_BODY,
                                                                     .handler = sf_api_handle,
                                                                     .observe = sf_api_observe,
                                                                     .userdata = g.api },
                                         &g.http, &e);
        }
        if (r >= 0)
                r = sf_httpc_new(sf_http_server_url(g.http), &g.c, &e);
        if (r < 0) {
                fprintf(stderr, "setup: %s\n", sf_err_msg(&e));
                return -1;
        }
        sf_httpc_set_timeout(g.c, 10000);
        if (g.local) {
                sf_httpc_prefer_local(g.c, true);
                if (sf_httpc_is_local(g.c)) {
                        fprintf(stderr, "setup: in process before the server offers it\n");
                        return -1;
                }
                sf_http_server_serve_local(g.http);
                if (!sf_httpc_is_local(g.c)) {
                        fprintf(stderr, "setup: not in process\n");
                        return -1;
                }
        }
        return 0;
}

static int group_teardown(void **state)
{
        sf_httpc_free(g.c);
        sf_http_server_stop(g.http);
        sf_api_free(g.api);
        sf_vim_free(g.vim);
        sf_store_free(g.store);
        sf_rm_rf(g.dir, NULL);
        curl_global_cleanup();
        return 0;
}

static json_t *J(const char *s)
{
        _cleanup_free_ char *c = xstrdup(s);
        json_error_t je;
        json_t *j;
        for (char *p = c; *p; p++)
                if (*p == '\'')
                        *p = '"';
        j = json_loads(c, 0, &je);
        if (!j)
                fail_msg("bad test JSON '%s': %s", c, je.text);
        return j;
}

/* A request through sf_httpc; body is JSON with ' for " (or NULL). */
static void req(const char *method, const char *path, const char *body, const char *if_match,
                struct sf_httpc_resp *r)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *b = body ? J(body) : NULL;
        if (sf_httpc_do(g.c, method, path, b, if_match, r, &e) < 0)
                fail_msg("%s %s: %s", method, path, sf_err_msg(&e));
}

static json_t *error_of(struct sf_httpc_resp *r)
{
        return json_object_get(r->json, "error");
}

/* Asserts status, error.code and error.field (NULL = absent). */
static void expect_error(const char *method, const char *path, const char *body, long status,
                         const char *code, const char *field)
{
        struct sf_httpc_resp r = { 0 };
        json_t *err;
        req(method, path, body, NULL, &r);
        if (r.status != status)
                fail_msg("%s %s: status %ld, expected %ld: %s", method, path, r.status, status,
                         r.text ? r.text : "");
        err = error_of(&r);
        assert_non_null(err);
        assert_string_equal(json_string_value(json_object_get(err, "code")), code);
        assert_non_null(json_string_value(json_object_get(err, "message")));
        if (field)
                assert_string_equal(json_string_value(json_object_get(err, "field")) ?: "(none)",
                                    field);
        else
                assert_null(json_object_get(err, "field"));
        sf_httpc_resp_clear(&r);
}

static json_t *call_ok(const char *method, const char *path, const char *body)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *b = body ? J(body) : NULL;
        json_t *out = NULL;
        if (sf_httpc_call(g.c, method, path, b, &out, &e) < 0)
                fail_msg("%s %s: %s (field %s)", method, path, sf_err_msg(&e), e.field ?: "-");
        return out;
}

/* ---- raw libcurl, for bodies that are not JSON and for response headers ---- */

struct raw {
        long status;
        char *headers;
        size_t hlen;
        char *body;
        size_t blen;
};

static size_t raw_append(char **buf, size_t *len, const char *p, size_t n)
{
        *buf = xrealloc(*buf, *len + n + 1);
        memcpy(*buf + *len, p, n);
        *len += n;
        (*buf)[*len] = 0;
        return n;
}

static size_t raw_body(char *p, size_t s, size_t n, void *u)
{
        struct raw *r = u;
        return raw_append(&r->body, &r->blen, p, s * n);
}

static size_t raw_header(char *p, size_t s, size_t n, void *u)
{
        struct raw *r = u;
        return raw_append(&r->headers, &r->hlen, p, s * n);
}

static void raw_req(const char *method, const char *path, const char *body, size_t len,
                    const char *header, struct raw *r)
{
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        _cleanup_free_ char *url = xasprintf("%s%s", sf_http_server_url(g.http), path);
        CURLcode cc;
        memset(r, 0, sizeof(*r));
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        if (STREQ(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        h = curl_slist_append(h, "Expect:");
        if (header)
                h = curl_slist_append(h, header);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) len);
        }
        cc = curl_easy_perform(c);
        if (cc != CURLE_OK)
                fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (!r->body)
                r->body = xstrdup("");
        if (!r->headers)
                r->headers = xstrdup("");
}

static void raw_clear(struct raw *r)
{
        free(r->headers);
        free(r->body);
        memset(r, 0, sizeof(*r));
}

/* The value of a response header (case-insensitive name), or NULL; caller frees. */
static char *raw_header_value(struct raw *r, const char *name)
{
        size_t n = strlen(name);
        for (char *l = r->headers; l && *l;) {
                char *eol = strstr(l, "\r\n");
                size_t ll = eol ? (size_t) (eol - l) : strlen(l);
                if (ll > n && strncasecmp(l, name, n) == 0 && l[n] == ':') {
                        const char *v = l + n + 1;
                        while (*v == ' ')
                                v++;
                        return strndup(v, ll - (v - l));
                }
                l = eol ? eol + 2 : NULL;
        }
        return NULL;
}

static void raw_expect_error(struct raw *r, long status, const char *code)
{
        json_auto_t *j = json_loads(r->body, 0, NULL);
        if (r->status != status)
                fail_msg("status %ld, expected %ld: %s", r->status, status, r->body);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                            code);
}

/* ---- tests ---- */

static void test_error_mapping(void **state)
{
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'err-net'}"));
        expect_error("POST", "/v1/networks", "{'name': 'x', 'mtu': 1}", 400, "invalid", "mtu");
        expect_error("POST", "/v1/networks", "{'name': 'x', 'colour': 1}", 400, "invalid", "colour");
        expect_error("POST", "/v1/networks", "{'name': 'err-net'}", 409, "conflict", "name");
        expect_error("GET", "/v1/networks/nope", NULL, 404, "not_found", NULL);
        expect_error("DELETE", "/v1/networks/nope", NULL, 404, "not_found", NULL);
        expect_error("PATCH", "/v1/networks/nope", "{}", 404, "not_found", NULL);
        expect_error("POST", "/v1/subnets", "{'network': 'nope', 'cidr': '10.0.0.0/24'}", 400,
                     "invalid", "network");
        expect_error("POST", "/v1/subnets", "{'network': 'err-net', 'cidr': '10.0.0.1/24'}", 400,
                     "invalid", "cidr");
        expect_error("POST", "/v1/subnets", "{'network': 'err-net', 'cidr': '10.0.0.0/30', "
                                            "'allocation_pools': [{'start': '10.0.0.1', 'end': '10.0.0.2'}]}",
                     400, "invalid", "allocation_pools[0]");
        json_auto_t *s _unused_ = call_ok("POST", "/v1/subnets", "{'name': 'err-sub', 'network': 'err-net', "
                                                        "'cidr': '10.0.0.0/30'}");
        json_decref(call_ok("POST", "/v1/ports", "{'name': 'err-port', 'network': 'err-net'}"));
        expect_error("POST", "/v1/ports", "{'network': 'err-net'}", 409, "exhausted", NULL);
        expect_error("POST", "/v1/ports", "{'network': 'err-net', 'fixed_ips': [{'ip_address': '10.0.0.2'}]}",
                     409, "conflict", "fixed_ips[0].ip_address");
        expect_error("DELETE", "/v1/networks/err-net", NULL, 409, "in_use", NULL);
        expect_error("DELETE", "/v1/subnets/err-sub", NULL, 409, "in_use", NULL);
        expect_error("GET", "/v1/networks?limit=0", NULL, 400, "invalid", "limit");
        expect_error("GET", "/v1/networks?colour=red", NULL, 400, "invalid", "colour");
        expect_error("GET", "/v1/events?since=abc", NULL, 400, "invalid", "since");
        expect_error("GET", "/v1/events?timeout=301", NULL, 400, "invalid", "timeout");
        expect_error("DELETE", "/v1/ports/err-port?force=maybe", NULL, 400, "invalid", "force");
        expect_error("DELETE", "/v1/ports/err-port?cascade=1", NULL, 400, "invalid", NULL);

        /* the client maps the answer back to the same -errno, field and message */
        {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *b = J("{'name': 'err-net'}");
                assert_int_equal(sf_httpc_call(g.c, "POST", "/v1/networks", b, NULL, &e), -EEXIST);
                assert_string_equal(e.field, "name");
                assert_non_null(strstr(sf_err_msg(&e), "already exists"));
                assert_int_equal(sf_httpc_call(g.c, "GET", "/v1/ports/nope", NULL, NULL, &e), -ENOENT);
                json_auto_t *pb = J("{'network': 'err-net'}");
                assert_int_equal(sf_httpc_call(g.c, "POST", "/v1/ports", pb, NULL, &e), -ENOSPC);
        }

        /* bodies that are not a JSON object */
        struct raw r;
        raw_req("POST", "/v1/networks", "{\"name\": ", 9, NULL, &r);
        raw_expect_error(&r, 400, "invalid");
        assert_non_null(strstr(r.body, "malformed JSON"));
        raw_clear(&r);
        raw_req("POST", "/v1/networks", "[1]", 3, NULL, &r);
        raw_expect_error(&r, 400, "invalid");
        assert_non_null(strstr(r.body, "must be a JSON object"));
        raw_clear(&r);
        raw_req("POST", "/v1/networks", "", 0, NULL, &r);
        raw_expect_error(&r, 400, "invalid");
        raw_clear(&r);
        raw_req("POST", "/v1/networks", "{\"a\": 1, \"a\": 2}", 16, NULL, &r);
        raw_expect_error(&r, 400, "invalid");
        assert_non_null(strstr(r.body, "duplicate"));
        raw_clear(&r);
}

static void test_body_too_large(void **state)
{
        size_t n = 3 * MAX_BODY;
        _cleanup_free_ char *big = xmalloc(n + 1);
        struct raw r;
        /* a valid JSON object, only too large */
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        big[n] = 0;
        raw_req("POST", "/v1/networks", big, n, NULL, &r);
        raw_expect_error(&r, 413, "too_large");
        raw_clear(&r);
        /* just under the limit is fine */
        big[MAX_BODY - 1] = '}';
        raw_req("POST", "/v1/networks", big, MAX_BODY, NULL, &r);
        assert_int_equal(r.status, 201);
        raw_clear(&r);
}

static void test_head_etag(void **state)
{
        json_auto_t *n = call_ok("POST", "/v1/networks", "{'name': 'etag-net'}");
        _cleanup_free_ char *rev = xasprintf("%" JSON_INTEGER_FORMAT,
                                             json_integer_value(json_object_get(n, "revision")));
        struct sf_httpc_resp r = { 0 };
        req("GET", "/v1/networks/etag-net", NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(r.etag);
        assert_string_equal(r.etag, rev);
        sf_httpc_resp_clear(&r);
        req("HEAD", "/v1/networks/etag-net", NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(r.etag);
        assert_string_equal(r.etag, rev);
        assert_int_equal(r.len, 0);
        sf_httpc_resp_clear(&r);
        /* by id too; and HEAD of something missing is a bare 404 */
        _cleanup_free_ char *path = xasprintf("/v1/networks/%s",
                                              json_string_value(json_object_get(n, "id")));
        req("HEAD", path, NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.etag, rev);
        sf_httpc_resp_clear(&r);
        req("HEAD", "/v1/networks/nope", NULL, NULL, &r);
        assert_int_equal(r.status, 404);
        assert_null(r.etag);
        sf_httpc_resp_clear(&r);
        /* the raw header is quoted */
        struct raw w;
        raw_req("GET", "/v1/networks/etag-net", NULL, 0, NULL, &w);
        _cleanup_free_ char *et = raw_header_value(&w, "ETag");
        _cleanup_free_ char *want = xasprintf("\"%s\"", rev);
        assert_non_null(et);
        assert_string_equal(et, want);
        raw_clear(&w);
}

static void test_if_match(void **state)
{
        json_auto_t *n = call_ok("POST", "/v1/networks", "{'name': 'im-net'}");
        int64_t rev = json_integer_value(json_object_get(n, "revision"));
        _cleanup_free_ char *good = xasprintf("%lld", (long long) rev),
                            *stale = xasprintf("%lld", (long long) rev - 1);
        struct sf_httpc_resp r = { 0 };

        req("PATCH", "/v1/networks/im-net", "{'mtu': 1400}", stale, &r);
        assert_int_equal(r.status, 412);
        assert_string_equal(json_string_value(json_object_get(error_of(&r), "code")), "revision_mismatch");
        assert_string_equal(json_string_value(json_object_get(error_of(&r), "field")), "If-Match");
        sf_httpc_resp_clear(&r);
        /* nothing changed */
        json_auto_t *g1 = call_ok("GET", "/v1/networks/im-net", NULL);
        assert_int_equal(json_integer_value(json_object_get(g1, "mtu")), 1450);

        req("PATCH", "/v1/networks/im-net", "{'mtu': 1400}", good, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "mtu")), 1400);
        assert_non_null(r.etag);
        assert_int_not_equal(atoll(r.etag), rev);
        _cleanup_free_ char *now = xstrdup(r.etag);
        sf_httpc_resp_clear(&r);

        /* the old revision is stale now, for DELETE too */
        req("DELETE", "/v1/networks/im-net", NULL, good, &r);
        assert_int_equal(r.status, 412);
        sf_httpc_resp_clear(&r);

        /* If-Match forms: 12, "12", W/"12", *; garbage is a 400 */
        struct raw w;
        _cleanup_free_ char *weak = xasprintf("If-Match: W/\"%s\"", now),
                            *bare = xasprintf("If-Match: %s", now);
        raw_req("PATCH", "/v1/networks/im-net", "{\"description\": \"a\"}", 20, weak, &w);
        assert_int_equal(w.status, 200);
        raw_clear(&w);
        raw_req("PATCH", "/v1/networks/im-net", "{\"description\": \"b\"}", 20, bare, &w);
        raw_expect_error(&w, 412, "revision_mismatch"); /* the previous PATCH moved it on */
        raw_clear(&w);
        raw_req("PATCH", "/v1/networks/im-net", "{\"description\": \"c\"}", 20, "If-Match: *", &w);
        assert_int_equal(w.status, 200);
        raw_clear(&w);
        raw_req("PATCH", "/v1/networks/im-net", "{\"description\": \"d\"}", 20, "If-Match: abc", &w);
        raw_expect_error(&w, 400, "invalid");
        raw_clear(&w);
        raw_req("PATCH", "/v1/networks/im-net", "{\"description\": \"d\"}", 20, "If-Match: \"12x\"", &w);
        raw_expect_error(&w, 400, "invalid");
        raw_clear(&w);

        json_auto_t *g2 = call_ok("GET", "/v1/networks/im-net", NULL);
        _cleanup_free_ char *cur = xasprintf("%" JSON_INTEGER_FORMAT,
                                             json_integer_value(json_object_get(g2, "revision")));
        req("DELETE", "/v1/networks/im-net", NULL, cur, &r);
        assert_int_equal(r.status, 204);
        sf_httpc_resp_clear(&r);
}

static void test_unknown_paths(void **state)
{
        expect_error("GET", "/", NULL, 404, "not_found", NULL);
        expect_error("GET", "/nope", NULL, 404, "not_found", NULL);
        expect_error("GET", "/v2/networks", NULL, 404, "not_found", NULL);
        expect_error("GET", "/v1/bogus", NULL, 404, "not_found", NULL);
        expect_error("GET", "/v1/bogus/x", NULL, 404, "not_found", NULL);
        expect_error("GET", "/v1/networks/a/b/c", NULL, 404, "not_found", NULL);
        expect_error("POST", "/v1/networks/a/frobnicate", NULL, 404, "not_found", NULL);
        expect_error("GET", "/a/b/c/d/e/f/g/h/i/j", NULL, 404, "not_found", NULL);
        json_auto_t *h = call_ok("GET", "/healthz", NULL);
        assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
        json_auto_t *root = call_ok("GET", "/v1", NULL);
        assert_true(json_array_size(json_object_get(root, "resources")) >= 5);
}

static void test_method_not_allowed(void **state)
{
        static const struct {
                const char *method, *path, *allow;
        } t[] = {
                { "PUT", "/v1/networks", "GET, POST" },
                { "DELETE", "/v1/networks", "GET, POST" },
                { "PUT", "/v1/networks/x", "GET, PATCH, DELETE" },
                { "POST", "/v1/networks/x", "GET, PATCH, DELETE" },
                { "POST", "/v1/events", "GET" },
                { "GET", "/v1/containers/x/stop", "POST" },
                { "POST", "/v1/containers/x/logs", "GET" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                struct raw r;
                _cleanup_free_ char *allow = NULL;
                raw_req(t[i].method, t[i].path, NULL, 0, NULL, &r);
                if (r.status != 405)
                        fail_msg("%s %s: %ld, expected 405", t[i].method, t[i].path, r.status);
                raw_expect_error(&r, 405, "method_not_allowed");
                allow = raw_header_value(&r, "Allow");
                if (!allow || STRNEQ(allow, t[i].allow))
                        fail_msg("%s %s: Allow '%s', expected '%s'", t[i].method, t[i].path,
                                 allow ?: "(none)", t[i].allow);
                raw_clear(&r);
        }
}

static void test_list_filters(void **state)
{
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'lf-a'}"));
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'lf-b'}"));
        json_decref(call_ok("POST", "/v1/subnets", "{'network': 'lf-a', 'cidr': '10.1.0.0/24'}"));
        json_decref(call_ok("POST", "/v1/subnets", "{'network': 'lf-b', 'cidr': 'fd00::/64'}"));
        json_auto_t *l1 = call_ok("GET", "/v1/subnets?network=lf-a", NULL);
        assert_int_equal(json_array_size(json_object_get(l1, "items")), 1);
        assert_true(json_integer_value(json_object_get(l1, "revision")) > 0);
        /* decorated */
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(l1, "items"), 0),
                                                            "pool_size")), 253);
        json_auto_t *l2 = call_ok("GET", "/v1/subnets?ip_version=6", NULL);
        assert_int_equal(json_array_size(json_object_get(l2, "items")), 1);
        json_auto_t *l3 = call_ok("GET", "/v1/subnets?network=nope", NULL);
        assert_int_equal(json_array_size(json_object_get(l3, "items")), 0);
        json_auto_t *l4 = call_ok("GET", "/v1/networks?limit=1", NULL);
        assert_int_equal(json_array_size(json_object_get(l4, "items")), 1);
}

/* Paths and query arguments are percent-decoded ('+' is a space in an argument). */
static void test_percent_decoding(void **state)
{
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'pd-net'}"));
        json_auto_t *n = call_ok("GET", "/v1/networks/pd%2Dnet", NULL);
        assert_string_equal(json_string_value(json_object_get(n, "name")), "pd-net");
        json_decref(call_ok("POST", "/v1/subnets", "{'network': 'pd-net', 'cidr': '10.9.0.0/24'}"));
        json_auto_t *l = call_ok("GET", "/v1/subnets?net%77ork=pd%2dnet&limit=%35", NULL);
        assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
        json_auto_t *l2 = call_ok("GET", "/v1/subnets?network=pd+net", NULL);
        assert_int_equal(json_array_size(json_object_get(l2, "items")), 0);
        expect_error("GET", "/v1/networks?limit=1+", NULL, 400, "invalid", "limit");
        expect_error("GET", "/v1/networks?limit=%zz", NULL, 400, "invalid", "limit");
}

static void test_container_two_phase_delete(void **state)
{
        json_auto_t *node = call_ok("POST", "/v1/nodes", "{'name': 'api-node', "
                                                         "'status': {'state': 'Ready'}, "
                                                         "'capacity': {'cpu_millis': 4000}}");
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'ct-net'}"));
        json_decref(call_ok("POST", "/v1/subnets", "{'network': 'ct-net', 'cidr': '10.2.0.0/24'}"));
        json_auto_t *c = call_ok("POST", "/v1/containers", "{'name': 'ct1', 'image': 'busybox', "
                                                           "'command': ['sleep', '1'], 'networks': ['ct-net']}");
        assert_string_equal(json_string_value(json_object_get(c, "node_id")),
                            json_string_value(json_object_get(node, "id")));
        /* its port is in use by the container */
        json_auto_t *ports = call_ok("GET", "/v1/ports?network=ct-net", NULL);
        assert_int_equal(json_array_size(json_object_get(ports, "items")), 1);
        _cleanup_free_ char *ppath = xasprintf(
                "/v1/ports/%s", json_string_value(json_object_get(
                                        json_array_get(json_object_get(ports, "items"), 0), "id")));
        expect_error("DELETE", ppath, NULL, 409, "in_use", NULL);
        /* placed on a node: the delete is accepted, then finalized by the agent */
        struct sf_httpc_resp r = { 0 };
        req("DELETE", "/v1/containers/ct1", NULL, NULL, &r);
        assert_int_equal(r.status, 202);
        assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "status"), "phase")),
                            "Terminating");
        sf_httpc_resp_clear(&r);
        req("DELETE", "/v1/containers/ct1", NULL, NULL, &r); /* again: still accepted */
        assert_int_equal(r.status, 202);
        sf_httpc_resp_clear(&r);
        json_decref(call_ok("POST", "/v1/containers/ct1/finalize", NULL));
        expect_error("GET", "/v1/containers/ct1", NULL, 404, "not_found", NULL);
        json_auto_t *after = call_ok("GET", "/v1/ports?network=ct-net", NULL);
        assert_int_equal(json_array_size(json_object_get(after, "items")), 0);
        expect_error("POST", "/v1/containers", "{'image': 'x', 'cpu': 'lots'}", 400, "invalid", "cpu");
}

static void test_events(void **state)
{
        json_auto_t *h = call_ok("GET", "/healthz", NULL);
        int64_t rev = json_integer_value(json_object_get(h, "revision"));
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'ev-net'}"));
        _cleanup_free_ char *path = xasprintf("/v1/events?since=%lld&timeout=0&kinds=network",
                                              (long long) rev);
        json_auto_t *ev = call_ok("GET", path, NULL);
        json_t *list = json_object_get(ev, "events");
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "type")), "created");
        assert_int_equal(json_integer_value(json_object_get(ev, "revision")), rev + 1);
}

static void test_metrics(void **state)
{
        json_decref(call_ok("POST", "/v1/networks", "{'name': 'm-net'}"));
        json_decref(call_ok("GET", "/v1/networks/m-net", NULL));
        expect_error("GET", "/nope", NULL, 404, "not_found", NULL);
        struct raw r;
        raw_req("GET", "/metrics", NULL, 0, NULL, &r);
        assert_int_equal(r.status, 200);
        _cleanup_free_ char *ct = raw_header_value(&r, "Content-Type");
        assert_non_null(ct);
        assert_non_null(strstr(ct, "text/plain"));
        static const char *const want[] = {
                "sf_http_requests_total{route=\"/v1/networks\",method=\"POST\",code=\"2xx\"}",
                "sf_http_requests_total{route=\"/v1/networks/{id}\",method=\"GET\",code=\"2xx\"}",
                "sf_http_requests_total{route=\"other\",method=\"GET\",code=\"4xx\"}",
                "sf_http_request_duration_seconds_bucket{route=\"/v1/networks\",method=\"POST\",le=\"+Inf\"}",
                "sf_http_request_duration_seconds_count{route=\"/v1/networks/{id}\",method=\"GET\"}",
                "sf_resources{kind=\"network\"}",
                "sf_store_revision ",
                "sf_start_time_seconds ",
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                if (!strstr(r.body, want[i]))
                        fail_msg("metrics lack '%s':\n%s", want[i], r.body);
        raw_clear(&r);
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_mapping),   cmocka_unit_test(test_body_too_large),
                cmocka_unit_test(test_head_etag),       cmocka_unit_test(test_if_match),
                cmocka_unit_test(test_unknown_paths),   cmocka_unit_test(test_method_not_allowed),
                cmocka_unit_test(test_list_filters),    cmocka_unit_test(test_container_two_phase_delete),
                cmocka_unit_test(test_events),          cmocka_unit_test(test_metrics),
                cmocka_unit_test(test_percent_decoding),
        };
        int failed = cmocka_run_group_tests_name("over the socket", tests, group_setup, group_teardown);
        g.local = true;
        return failed + cmocka_run_group_tests_name("in process", tests, group_setup, group_teardown);
}
