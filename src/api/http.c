/* HTTP server plumbing over libmicrohttpd: body accumulation with a size limit, path
 * splitting, response building, the errno -> HTTP status table, and per-request timing; the
 * same handler for requests answered in process (query arguments decoded as libmicrohttpd
 * does). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "api/http.h"
#include "lib/errcode.h"
#include "lib/httpc.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("http");

struct sf_http_server {
        struct MHD_Daemon *mhd;
        struct sf_http_options opts;
        int fd;
        char *url;
        bool serves_local;
};

/* A request answered in process: its query arguments (decoded as libmicrohttpd decodes them)
 * and its one header a handler reads. */
struct sf_http_local {
        size_t n;
        char **keys, **values; /* a value is NULL when its argument had no '=' */
        char *if_match;        /* as on the wire: quoted */
};

struct req_state {
        sf_http_req req;
        char *buf;
        size_t len, cap;
        char *path;
        uint64_t start;
};

unsigned sf_http_status_of(int code) { return sf_errcode_status(code); }
const char *sf_http_code_name(int code) { return sf_errcode_name(code); }

void sf_http_resp_json(sf_http_resp *resp, unsigned status, json_t *body)
{
        if (resp->json)
                json_decref(resp->json);
        resp->status = status;
        resp->json = body;
}

void sf_http_resp_error(sf_http_resp *resp, const sf_err *err)
{
        int code = err && err->code ? err->code : -EIO;
        json_t *o = json_pack("{s:s, s:s}", "code", sf_http_code_name(code), "message",
                              sf_err_msg(err));
        if (err && err->field)
                json_object_set_new(o, "field", json_string(err->field));
        sf_http_resp_json(resp, sf_http_status_of(code), json_pack("{s:o}", "error", o));
}

void sf_http_resp_errorf(sf_http_resp *resp, int code, const char *field, const char *fmt, ...)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        sf_err_set(&e, code, field, "%s", m);
        sf_http_resp_error(resp, &e);
}

const char *sf_http_req_query(sf_http_req *req, const char *key)
{
        if (req->local) {
                for (size_t i = 0; i < req->local->n; i++)
                        if (STREQ(req->local->keys[i], key))
                                return req->local->values[i];
                return NULL;
        }
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *sf_http_req_header(sf_http_req *req, const char *key)
{
        if (req->local)
                return strcasecmp(key, MHD_HTTP_HEADER_IF_MATCH) == 0 ? req->local->if_match : NULL;
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, key);
}

struct foreach_ctx {
        int (*fn)(void *u, const char *k, const char *v);
        void *u;
        int r;
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
        struct foreach_ctx *c = cls;
        c->r = c->fn(c->u, key, value ? value : "");
        return c->r < 0 ? MHD_NO : MHD_YES;
}

int sf_http_req_query_foreach(sf_http_req *req, int (*fn)(void *u, const char *k, const char *v),
                              void *u)
{
        struct foreach_ctx c = { fn, u, 0 };
        if (req->local) {
                for (size_t i = 0; i < req->local->n && c.r >= 0; i++)
                        c.r = fn(u, req->local->keys[i], req->local->values[i] ? req->local->values[i] : "");
                return c.r;
        }
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_iter, &c);
        return c.r;
}

static void split_path(struct req_state *st)
{
        char *save = NULL, *tok;
        st->path = xstrdup(st->req.url);
        for (tok = strtok_r(st->path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (st->req.n_segs == SF_HTTP_MAX_SEGS) {
                        st->req.too_many_segs = true;
                        break;
                }
                st->req.segs[st->req.n_segs++] = tok;
        }
}

static void resp_clear(sf_http_resp *r)
{
        if (r->json)
                json_decref(r->json);
        free(r->text);
        free(r->etag);
        free(r->route);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, sf_http_resp *r)
{
        struct MHD_Response *mr;
        enum MHD_Result ret;
        char *body;
        size_t len;

        if (r->json) {
                body = json_dumps(r->json, JSON_COMPACT);
                if (!body)
                        sf_oom();
                len = strlen(body);
                /* A trailing newline keeps curl output readable. */
                body = xrealloc(body, len + 2);
                body[len++] = '\n';
                body[len] = 0;
                if (!r->content_type)
                        r->content_type = "application/json";
        } else {
                body = r->text ? TAKE_PTR(r->text) : xstrdup("");
                len = strlen(body);
                if (!r->content_type)
                        r->content_type = "text/plain; charset=utf-8";
        }
        mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!mr) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
        if (r->etag) {
                _cleanup_free_ char *et = xasprintf("\"%s\"", r->etag);
                MHD_add_response_header(mr, MHD_HTTP_HEADER_ETAG, et);
        }
        if (r->allow)
                MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, r->allow);
        ret = MHD_queue_response(conn, r->status ? r->status : 500, mr);
        MHD_destroy_response(mr);
        return ret;
}

/* The request, whole (body included), to its handler. */
static void dispatch(sf_http_server *s, struct req_state *st, sf_http_resp *resp)
{
        split_path(st);
        if (st->req.body_too_large)
                sf_http_resp_errorf(resp, -E2BIG, NULL,
                                    "request body is larger than %zu bytes", s->opts.max_body);
        else if (st->req.too_many_segs)
                sf_http_resp_errorf(resp, -ENOENT, NULL, "no such path '%.200s'", st->req.url);
        else
                s->opts.handler(s->opts.userdata, &st->req, resp);
}

static void observe(sf_http_server *s, struct req_state *st, sf_http_resp *resp)
{
        if (s->opts.observe)
                s->opts.observe(s->opts.userdata, resp->route ? resp->route : "other",
                                st->req.method, resp->status, sf_now_usec() - st->start);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        sf_http_server *s = cls;
        struct req_state *st = *con_cls;
        sf_http_resp resp = { 0 };
        enum MHD_Result ret;

        if (!st) {
                st = new0(struct req_state, 1);
                st->start = sf_now_usec();
                st->req.method = method;
                st->req.url = url;
                st->req.conn = conn;
                *con_cls = st;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                if (!st->req.body_too_large) {
                        if (st->len + n > s->opts.max_body) {
                                st->req.body_too_large = true;
                        } else {
                                if (st->len + n + 1 > st->cap) {
                                        st->cap = MAX(st->cap * 2, st->len + n + 1);
                                        st->buf = xrealloc(st->buf, st->cap);
                                }
                                memcpy(st->buf + st->len, upload_data, n);
                                st->len += n;
                                st->buf[st->len] = 0;
                        }
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        st->req.body = st->buf ? st->buf : "";
        st->req.body_len = st->len;
        dispatch(s, st, &resp);
        ret = send_resp(conn, &resp);
        observe(s, st, &resp);
        resp_clear(&resp);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct req_state *st = *con_cls;
        if (!st)
                return;
        free(st->buf);
        free(st->path);
        free(st);
        *con_cls = NULL;
}

/* ---- requests answered in process ---- */

static int hexval(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F'                              ? c - 'A' + 10
                                                                   : -1;
}

/* In place, as libmicrohttpd does: %XX to its byte (a malformed one is kept as it is), and in
 * query arguments '+' to a space first. */
static void unescape(char *s, bool plus)
{
        char *w = s;
        for (const char *r = s; *r; r++) {
                if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
                        *w++ = (char) (hexval(r[1]) * 16 + hexval(r[2]));
                        r += 2;
                } else
                        *w++ = plus && *r == '+' ? ' ' : *r;
        }
        *w = 0;
}

static void local_clear(struct sf_http_local *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->keys[i]);
                free(l->values[i]);
        }
        free(l->keys);
        free(l->values);
        free(l->if_match);
}

static void parse_query(struct sf_http_local *l, const char *q)
{
        _cleanup_free_ char *copy = xstrdup(q);
        char *save = NULL;
        for (char *t = strtok_r(copy, "&", &save); t; t = strtok_r(NULL, "&", &save)) {
                char *eq = strchr(t, '=');
                if (eq)
                        *eq = 0;
                l->keys = xrealloc(l->keys, sizeof(*l->keys) * (l->n + 1));
                l->values = xrealloc(l->values, sizeof(*l->values) * (l->n + 1));
                l->keys[l->n] = xstrdup(t);
                l->values[l->n] = eq ? xstrdup(eq + 1) : NULL;
                unescape(l->keys[l->n], true);
                if (l->values[l->n])
                        unescape(l->values[l->n], true);
                l->n++;
        }
}

static int local_call(void *userdata, const char *method, const char *path, const char *body,
                      const char *if_match, struct sf_httpc_resp *ret)
{
        sf_http_server *s = userdata;
        struct sf_http_local loc = { 0 };
        struct req_state st = { .start = sf_now_usec() };
        sf_http_resp resp = { 0 };
        const char *q = strchr(path, '?');
        _cleanup_free_ char *url = q ? strndup(path, (size_t) (q - path)) : xstrdup(path);

        if (!url)
                sf_oom();
        unescape(url, false);
        if (q)
                parse_query(&loc, q + 1);
        if (if_match)
                loc.if_match = xasprintf("\"%s\"", if_match);
        st.req.method = method;
        st.req.url = url;
        st.req.local = &loc;
        st.req.body = body ? body : "";
        st.req.body_len = strlen(st.req.body);
        st.req.body_too_large = st.req.body_len > s->opts.max_body;
        dispatch(s, &st, &resp);
        ret->status = resp.status ? resp.status : 500;
        if (!STREQ(method, "HEAD")) { /* as over a socket: no body */
                if (resp.json)
                        ret->json = TAKE_PTR(resp.json);
                else if (resp.text) {
                        ret->text = TAKE_PTR(resp.text);
                        ret->len = strlen(ret->text);
                }
        }
        ret->etag = TAKE_PTR(resp.etag);
        observe(s, &st, &resp);
        resp_clear(&resp);
        free(st.path);
        local_clear(&loc);
        return 0;
}

void sf_http_server_serve_local(sf_http_server *s)
{
        sf_httpc_local_register(s->url, local_call, s);
        s->serves_local = true;
}

_printf_(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        size_t n = strlen(m);
        if (n && m[n - 1] == '\n')
                m[n - 1] = 0;
        log_debug("libmicrohttpd: %s", m);
}

int sf_http_parse_listen(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len,
                         sf_err *e)
{
        _cleanup_free_ char *host = NULL;
        const char *colon, *port_s;
        char *end;
        unsigned long port;

        memset(ret, 0, sizeof(*ret));
        if (listen[0] == '[') {
                const char *close = strchr(listen, ']');
                if (!close || close[1] != ':')
                        return sf_err_set(e, -EINVAL, "listen",
                                          "'%s' is not [ADDRESS]:PORT", listen);
                host = strndup(listen + 1, close - listen - 1);
                port_s = close + 2;
        } else {
                colon = strrchr(listen, ':');
                if (!colon)
                        return sf_err_set(e, -EINVAL, "listen", "'%s' is not ADDRESS:PORT",
                                          listen);
                host = strndup(listen, colon - listen);
                port_s = colon + 1;
        }
        if (!host)
                sf_oom();
        errno = 0;
        port = strtoul(port_s, &end, 10);
        if (!*port_s || *end || errno || port > 65535)
                return sf_err_set(e, -EINVAL, "listen", "'%s': bad port", listen);
        if (!*host)
                free(host), host = xstrdup("127.0.0.1");
        {
                struct sockaddr_in *in4 = (struct sockaddr_in *) ret;
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
                if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                        in4->sin_family = AF_INET;
                        in4->sin_port = htons(port);
                        *ret_len = sizeof(*in4);
                } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                        in6->sin6_family = AF_INET6;
                        in6->sin6_port = htons(port);
                        *ret_len = sizeof(*in6);
                } else
                        return sf_err_set(e, -EINVAL, "listen",
                                          "'%s' is not an IP address (names are not resolved)",
                                          host);
        }
        return 0;
}

int sf_http_server_start(const struct sf_http_options *opts, sf_http_server **ret, sf_err *e)
{
        sf_http_server *s;
        struct sockaddr_storage ss, bound;
        socklen_t sl, bl = sizeof(bound);
        _cleanup_close_ int fd = -EBADF;
        char host[INET6_ADDRSTRLEN];
        int one = 1, r;

        r = sf_http_parse_listen(opts->listen, &ss, &sl, e);
        if (r < 0)
                return r;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sf_err_errno(e, -errno, "socket");
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &ss, sl) < 0)
                return sf_err_errno(e, -errno, "bind %s", opts->listen);
        if (listen(fd, 1024) < 0)
                return sf_err_errno(e, -errno, "listen %s", opts->listen);
        if (getsockname(fd, (struct sockaddr *) &bound, &bl) < 0)
                return sf_err_errno(e, -errno, "getsockname");

        s = new0(sf_http_server, 1);
        s->opts = *opts;
        if (!s->opts.max_body)
                s->opts.max_body = 1 << 20;
        if (bound.ss_family == AF_INET) {
                struct sockaddr_in *in4 = (struct sockaddr_in *) &bound;
                inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
                s->url = xasprintf("http://%s:%u", host, ntohs(in4->sin_port));
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &bound;
                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                s->url = xasprintf("http://[%s]:%u", host, ntohs(in6->sin6_port));
        }
        s->fd = fd;
        /* Linux threads inherit their creator's nice value: the listening thread gets it from
         * this one, and each connection's thread from it, from its accept on. */
        errno = 0;
        int was_nice = getpriority(PRIO_PROCESS, (id_t) gettid());
        bool niced = false;
        if (opts->thread_nice && errno == 0) {
                int nr = sf_thread_set_nice(opts->thread_nice);
                if (nr < 0)
                        log_debug("request threads: nice %d: %s, ignoring", opts->thread_nice, strerror(-nr));
                niced = nr >= 0;
        }
        s->mhd = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                        MHD_USE_ERROR_LOG | MHD_USE_ITC,
                0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 600, MHD_OPTION_END);
        if (niced)
                (void) sf_thread_set_nice(was_nice);
        if (!s->mhd) {
                free(s->url);
                free(s);
                return sf_err_set(e, -EIO, NULL, "cannot start HTTP server on %s", opts->listen);
        }
        fd = -EBADF; /* MHD closes it */
        *ret = s;
        return 0;
}

void sf_http_server_stop(sf_http_server *s)
{
        if (!s)
                return;
        if (s->serves_local)
                sf_httpc_local_register(NULL, NULL, NULL);
        MHD_stop_daemon(s->mhd);
        free(s->url);
        free(s);
}

const char *sf_http_server_url(sf_http_server *s) { return s->url; }
