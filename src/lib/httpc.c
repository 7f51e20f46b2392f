/* libcurl client: JSON in, JSON out, errors mapped back to -errno through lib/errcode; and the
 * in-process transport for a server of this process. */
#include <curl/curl.h>
#include <pthread.h>

#include "lib/errcode.h"
#include "lib/httpc.h"

struct sf_httpc {
        CURL *curl;
        char *base;
        long timeout_ms;
        const volatile bool *cancel;
        bool prefer_local;
};

/* The in-process answerer: read-locked for the length of each call, so that removing it
 * waits for the calls in progress. */
static struct {
        pthread_rwlock_t lock;
        char *base;
        sf_httpc_local_fn fn;
        void *userdata;
} local = { .lock = PTHREAD_RWLOCK_INITIALIZER };

void sf_httpc_local_register(const char *base_url, sf_httpc_local_fn fn, void *userdata)
{
        pthread_rwlock_wrlock(&local.lock);
        free(local.base);
        local.base = fn ? xstrdup(base_url) : NULL;
        if (local.base) /* compared with sf_httpc bases, which lose their trailing slashes */
                for (size_t n = strlen(local.base); n > 0 && local.base[n - 1] == '/';)
                        local.base[--n] = 0;
        local.fn = fn;
        local.userdata = userdata;
        pthread_rwlock_unlock(&local.lock);
}

void sf_httpc_prefer_local(sf_httpc *c, bool on) { c->prefer_local = on; }

bool sf_httpc_is_local(sf_httpc *c)
{
        bool r;
        if (!c->prefer_local)
                return false;
        pthread_rwlock_rdlock(&local.lock);
        r = local.fn && STREQ(local.base, c->base);
        pthread_rwlock_unlock(&local.lock);
        return r;
}

/* 1 and *ret filled when answered in process, 0 when there is no answerer for c. */
static int call_local(sf_httpc *c, const char *method, const char *path, const json_t *body,
                      const char *if_match, struct sf_httpc_resp *ret)
{
        _cleanup_free_ char *data = NULL;
        int r = 0;
        if (body) {
                data = json_dumps(body, JSON_COMPACT);
                if (!data)
                        sf_oom();
        }
        pthread_rwlock_rdlock(&local.lock);
        if (local.fn && STREQ(local.base, c->base)) {
                *ret = (struct sf_httpc_resp) { 0 };
                r = local.fn(local.userdata, method, path, data, if_match, ret);
                r = r < 0 ? r : 1;
        }
        pthread_rwlock_unlock(&local.lock);
        return r;
}

static int on_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
        const sf_httpc *c = u;
        return c->cancel && *c->cancel; /* non-zero aborts the transfer */
}

void sf_httpc_set_cancel(sf_httpc *c, const volatile bool *flag) { c->cancel = flag; }

void sf_httpc_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int sf_httpc_new(const char *base_url, sf_httpc **ret, sf_err *e)
{
        sf_httpc *c;
        size_t n;
        if (!base_url || (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8)))
                return sf_err_set(e, -EINVAL, "endpoint", "'%s' is not an http:// URL",
                                  base_url ? base_url : "");
        c = new0(sf_httpc, 1);
        c->curl = curl_easy_init();
        if (!c->curl)
                sf_oom();
        c->base = xstrdup(base_url);
        n = strlen(c->base);
        while (n > 0 && c->base[n - 1] == '/')
                c->base[--n] = 0;
        c->timeout_ms = 30000;
        *ret = c;
        return 0;
}

void sf_httpc_free(sf_httpc *c)
{
        if (!c)
                return;
        curl_easy_cleanup(c->curl);
        free(c->base);
        free(c);
}

const char *sf_httpc_base(sf_httpc *c) { return c->base; }
void sf_httpc_set_timeout(sf_httpc *c, long ms) { c->timeout_ms = ms; }

void sf_httpc_resp_clear(struct sf_httpc_resp *r)
{
        if (r->json)
                json_decref(r->json);
        free(r->text);
        free(r->etag);
        memset(r, 0, sizeof(*r));
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *u)
{
        struct sf_httpc_resp *r = u;
        size_t n = size * nmemb;
        r->text = xrealloc(r->text, r->len + n + 1);
        memcpy(r->text + r->len, ptr, n);
        r->len += n;
        r->text[r->len] = 0;
        return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *u)
{
        struct sf_httpc_resp *r = u;
        size_t n = size * nitems;
        if (n > 6 && strncasecmp(buf, "ETag:", 5) == 0) {
                const char *v = buf + 5;
                size_t l;
                while (*v == ' ')
                        v++;
                l = n - (v - buf);
                while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n'))
                        l--;
                if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
                        v++;
                        l -= 2;
                }
                free(r->etag);
                r->etag = strndup(v, l);
        }
        return n;
}

int sf_httpc_do(sf_httpc *c, const char *method, const char *path, const json_t *body,
                const char *if_match, struct sf_httpc_resp *ret, sf_err *e)
{
        _cleanup_free_ char *url = xasprintf("%s%s", c->base, path);
        _cleanup_free_ char *data = NULL, *im = NULL;
        struct curl_slist *hdrs = NULL;
        struct sf_httpc_resp r = { 0 };
        CURLcode cc;

        if (c->prefer_local) {
                int lr = call_local(c, method, path, body, if_match, ret);
                if (lr < 0)
                        return sf_err_set(e, lr, NULL, "%s %s: in-process call failed", method, url);
                if (lr > 0)
                        return 0;
        }
        curl_easy_reset(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_URL, url);
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
        curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &r);
        curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
        /* The API is on loopback or a lab network: never through an HTTP proxy. */
        curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");
        if (c->cancel) {
                curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
                curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
        }
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        if (body) {
                data = json_dumps(body, JSON_COMPACT);
                if (!data)
                        sf_oom();
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, data);
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(data));
        } else if (STREQ(method, "HEAD"))
                curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
        if (if_match) {
                im = xasprintf("If-Match: \"%s\"", if_match);
                hdrs = curl_slist_append(hdrs, im);
        }
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
        cc = curl_easy_perform(c->curl);
        curl_slist_free_all(hdrs);
        if (cc != CURLE_OK) {
                int code = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
                           : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                           : cc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED
                                                            : -EIO;
                sf_httpc_resp_clear(&r);
                return sf_err_set(e, code, NULL, "%s %s: %s", method, url, curl_easy_strerror(cc));
        }
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r.status);
        if (r.len > 0)
                r.json = json_loadb(r.text, r.len, 0, NULL);
        *ret = r;
        return 0;
}

int sf_httpc_call(sf_httpc *c, const char *method, const char *path, const json_t *body,
                  json_t **ret, sf_err *e)
{
        return sf_httpc_call_if(c, method, path, body, NULL, ret, e);
}

int sf_httpc_call_if(sf_httpc *c, const char *method, const char *path, const json_t *body,
                     const char *if_match, json_t **ret, sf_err *e)
{
        struct sf_httpc_resp r = { 0 };
        int rc = sf_httpc_do(c, method, path, body, if_match, &r, e);
        if (rc < 0)
                return rc;
        if (r.status >= 200 && r.status < 300) {
                if (ret)
                        *ret = r.json ? json_incref(r.json) : json_object();
                sf_httpc_resp_clear(&r);
                return 0;
        }
        {
                json_t *err = json_object_get(r.json, "error");
                const char *name = json_string_value(json_object_get(err, "code"));
                const char *msg = json_string_value(json_object_get(err, "message"));
                const char *field = json_string_value(json_object_get(err, "field"));
                int code = sf_errcode_from_name(name, (unsigned) r.status);
                if (!msg)
                        msg = r.text && *r.text ? r.text : "no error message";
                rc = sf_err_set(e, code, field, "%s", msg);
        }
        sf_httpc_resp_clear(&r);
        return rc;
}

char *sf_httpc_escape(const char *s)
{
        char *x = curl_easy_escape(NULL, s, 0);
        char *r;
        if (!x)
                sf_oom();
        r = xstrdup(x);
        curl_free(x);
        return r;
}
