/* sfw-http: a minimal HTTP/1.1 server (one request per connection, Connection: close) for the
 * workloads' status and control APIs and for the video server, and a non-blocking HTTP client. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sfw.h"

#define MAX_HEADERS (16 * 1024)
#define MAX_REQ_BODY (64 * 1024)
#define REQ_TIMEOUT_MS 10000
#define LINGER_TIMEOUT_MS 2000

static const char *reason(int status)
{
        switch (status) {
        case 200: return "OK";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 503: return "Service Unavailable";
        default: return status >= 500 ? "Server Error" : "Status";
        }
}

bool sfw_http_header(const char *headers, const char *name, char *out, size_t size)
{
        size_t nlen = strlen(name);
        const char *p = headers;
        while (p && *p) {
                const char *eol = strstr(p, "\r\n");
                size_t llen = eol ? (size_t) (eol - p) : strlen(p);
                if (llen > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
                        const char *v = p + nlen + 1;
                        size_t vlen;
                        while (v < p + llen && (*v == ' ' || *v == '\t'))
                                v++;
                        vlen = (size_t) (p + llen - v);
                        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                                vlen--;
                        if (vlen >= size)
                                vlen = size - 1;
                        memcpy(out, v, vlen);
                        out[vlen] = 0;
                        return true;
                }
                p = eol ? eol + 2 : NULL;
        }
        return false;
}

void sfw_http_error(sfw_http_resp *resp, int status, const char *msg)
{
        resp->status = status;
        resp->body.len = 0;
        sfw_buf_puts(&resp->body, "{\"error\": ");
        sfw_buf_json_str(&resp->body, msg);
        sfw_buf_puts(&resp->body, "}\n");
}

/* ---- server ---- */

typedef struct hconn hconn;
struct sfw_http_server {
        sfw_io io;
        char what[32];
        sfw_http_handler h;
        void *ud;
        hconn *conns;
        size_t n_active;
        bool freeing;
};

struct hconn {
        sfw_io io;
        sfw_timer timer;
        sfw_http_server *srv;
        hconn *prev, *next;
        sfw_buf in;
        size_t hdr_end;   /* offset just after \r\n\r\n, 0 until known */
        size_t body_want; /* Content-Length */
        sfw_buf out;      /* status line, headers, owned body */
        const char *ext;  /* body not owned */
        size_t ext_len, out_off, ext_off;
        int state;        /* 0 reading, 1 writing, 2 lingering */
        char peer[64], local[64];
};

static void hconn_free(hconn *c)
{
        sfw_http_server *s = c->srv;
        sfw_io_close(&c->io);
        sfw_timer_stop(&c->timer);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_active--;
        sfw_buf_free(&c->in);
        sfw_buf_free(&c->out);
        sfw_defer_free(c);
}

static void hconn_timeout(sfw_timer *t)
{
        hconn_free(t->data);
}

static void hconn_respond(hconn *c, const sfw_http_req *req)
{
        sfw_http_resp resp = { .status = 200 };
        size_t blen;
        c->srv->h(req, &resp, c->srv->ud);
        blen = resp.ext_body ? resp.ext_len : resp.body.len;
        sfw_buf_printf(&c->out,
                       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n%s\r\n",
                       resp.status, reason(resp.status),
                       resp.content_type ? resp.content_type : "application/json", blen,
                       resp.headers.p ? resp.headers.p : "");
        if (strcmp(req->method, "HEAD") != 0) {
                if (resp.ext_body) {
                        c->ext = resp.ext_body;
                        c->ext_len = resp.ext_len;
                } else if (resp.body.len)
                        sfw_buf_add(&c->out, resp.body.p, resp.body.len);
        }
        sfw_buf_free(&resp.headers);
        sfw_buf_free(&resp.body);
        c->state = 1;
        sfw_io_want(&c->io, EPOLLOUT);
}

static void simple_error(hconn *c, int status, const char *msg)
{
        sfw_buf_printf(&c->out,
                       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n{\"error\": \"%s\"}\n",
                       status, reason(status), strlen(msg) + 13, msg);
        c->state = 1;
        sfw_io_want(&c->io, EPOLLOUT);
}

/* Parses the request once the headers (and body) are in. */
static void hconn_dispatch(hconn *c)
{
        sfw_http_req req;
        char *line_end, *sp1, *sp2, *q;
        memset(&req, 0, sizeof(req));
        c->in.p[c->hdr_end - 2] = 0; /* headers end with the first \r\n of \r\n\r\n */
        line_end = strstr(c->in.p, "\r\n");
        if (!line_end)
                return simple_error(c, 400, "bad request line");
        *line_end = 0;
        sp1 = strchr(c->in.p, ' ');
        sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || (size_t) (sp1 - c->in.p) >= sizeof(req.method) ||
            (size_t) (sp2 - sp1 - 1) >= sizeof(req.path) || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
                return simple_error(c, 400, "bad request line");
        memcpy(req.method, c->in.p, (size_t) (sp1 - c->in.p));
        memcpy(req.path, sp1 + 1, (size_t) (sp2 - sp1 - 1));
        q = strchr(req.path, '?');
        if (q) {
                snprintf(req.query, sizeof(req.query), "%s", q + 1);
                *q = 0;
        }
        req.headers = line_end + 2;
        req.body = c->in.p + c->hdr_end;
        req.body_len = c->body_want;
        snprintf(req.peer, sizeof(req.peer), "%s", c->peer);
        snprintf(req.local, sizeof(req.local), "%s", c->local);
        hconn_respond(c, &req);
}

static void hconn_cb(sfw_io *io, uint32_t events)
{
        hconn *c = io->data;
        if (c->state == 0) {
                char buf[4096];
                ssize_t n = read(io->fd, buf, sizeof(buf));
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n <= 0)
                        return hconn_free(c);
                sfw_buf_add(&c->in, buf, (size_t) n);
                if (!c->hdr_end) {
                        char *e = strstr(c->in.p, "\r\n\r\n");
                        char v[32];
                        if (!e) {
                                if (c->in.len > MAX_HEADERS)
                                        return simple_error(c, 413, "headers too large");
                                return;
                        }
                        c->hdr_end = (size_t) (e - c->in.p) + 4;
                        c->in.p[c->hdr_end - 1] = 0; /* temporarily, for the header lookup */
                        if (sfw_http_header(strstr(c->in.p, "\r\n") + 2, "Content-Length", v, sizeof(v))) {
                                char *end;
                                unsigned long cl = strtoul(v, &end, 10);
                                if (*end || cl > MAX_REQ_BODY)
                                        return simple_error(c, 413, "body too large");
                                c->body_want = cl;
                        }
                        c->in.p[c->hdr_end - 1] = '\n';
                }
                if (c->in.len >= c->hdr_end + c->body_want) {
                        sfw_timer_arm(&c->timer, REQ_TIMEOUT_MS);
                        hconn_dispatch(c);
                }
                return;
        }
        if (c->state == 1) {
                (void) events;
                while (c->out_off < c->out.len || c->ext_off < c->ext_len) {
                        const char *p;
                        size_t len;
                        ssize_t n;
                        if (c->out_off < c->out.len) {
                                p = c->out.p + c->out_off;
                                len = c->out.len - c->out_off;
                        } else {
                                p = c->ext + c->ext_off;
                                len = c->ext_len - c->ext_off;
                        }
                        n = send(io->fd, p, len, MSG_NOSIGNAL);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                return;
                        if (n <= 0)
                                return hconn_free(c);
                        if (c->out_off < c->out.len)
                                c->out_off += (size_t) n;
                        else
                                c->ext_off += (size_t) n;
                }
                /* all written: half-close and wait for the client's FIN so that unread data on
                 * our side never turns our close into an RST that cuts the response short */
                shutdown(io->fd, SHUT_WR);
                c->state = 2;
                sfw_timer_arm(&c->timer, LINGER_TIMEOUT_MS);
                sfw_io_want(io, EPOLLIN);
                return;
        }
        {
                char buf[1024];
                ssize_t n = read(io->fd, buf, sizeof(buf));
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n <= 0)
                        hconn_free(c);
        }
}

static void accept_cb(sfw_io *io, uint32_t events)
{
        sfw_http_server *s = io->data;
        (void) events;
        for (;;) {
                struct sockaddr_storage ss, ls;
                socklen_t len = sizeof(ss), llen = sizeof(ls);
                int fd = accept4(io->fd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                hconn *c;
                if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                sfw_log("%s: accept: %s", s->what, strerror(errno));
                        return;
                }
                c = sfw_xcalloc(1, sizeof(*c));
                c->srv = s;
                sfw_addr_str((struct sockaddr *) &ss, c->peer, sizeof(c->peer));
                if (getsockname(fd, (struct sockaddr *) &ls, &llen) == 0)
                        sfw_addr_str((struct sockaddr *) &ls, c->local, sizeof(c->local));
                sfw_io_init(&c->io, fd, hconn_cb, c);
                sfw_timer_init(&c->timer, hconn_timeout, c);
                sfw_timer_arm(&c->timer, REQ_TIMEOUT_MS);
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                s->n_active++;
                sfw_io_want(&c->io, EPOLLIN);
        }
}

sfw_http_server *sfw_http_listen(const char *what, const char *addr, sfw_http_handler h, void *ud)
{
        sfw_addr a;
        sfw_http_server *s;
        int fd;
        if (sfw_addr_parse(addr, true, &a) < 0) {
                sfw_log("%s: bad listen address '%s'", what, addr);
                return NULL;
        }
        fd = sfw_listen_tcp(&a, 128);
        if (fd < 0) {
                sfw_log("%s: cannot listen on %s: %s", what, addr, strerror(-fd));
                return NULL;
        }
        s = sfw_xcalloc(1, sizeof(*s));
        snprintf(s->what, sizeof(s->what), "%s", what);
        s->h = h;
        s->ud = ud;
        sfw_io_init(&s->io, fd, accept_cb, s);
        sfw_io_want(&s->io, EPOLLIN);
        return s;
}

void sfw_http_stop_accepting(sfw_http_server *s)
{
        if (s)
                sfw_io_close(&s->io);
}

size_t sfw_http_active(const sfw_http_server *s) { return s ? s->n_active : 0; }

void sfw_http_free(sfw_http_server *s)
{
        if (!s)
                return;
        sfw_io_close(&s->io);
        while (s->conns)
                hconn_free(s->conns);
        sfw_defer_free(s);
}

/* ---- client ---- */

struct sfw_http_call {
        sfw_io io;
        sfw_timer timer, total_timer;
        sfw_http_done done;
        void *ud;
        sfw_buf req, in;
        size_t req_off, hdr_end, max_body;
        long content_length; /* -1 unknown: read to EOF */
        unsigned idle_ms;
        int state; /* 0 connecting, 1 sending, 2 receiving, 3 done */
        sfw_http_result res;
        int pending_err, pending_errno; /* error to report from the timer */
};

const char *sfw_http_err_name(int err)
{
        switch (err) {
        case SFW_HTTP_OK: return "ok";
        case SFW_HTTP_ECONNECT: return "connect";
        case SFW_HTTP_ETIMEOUT: return "timeout";
        case SFW_HTTP_ERESET: return "reset";
        case SFW_HTTP_EPROTO: return "protocol";
        case SFW_HTTP_ESHORT: return "short-read";
        case SFW_HTTP_ETOOBIG: return "too-big";
        default: return "error";
        }
}

char *sfw_http_result_str(const sfw_http_result *r, char *buf, size_t size)
{
        if (r->err == SFW_HTTP_OK)
                snprintf(buf, size, "HTTP %d", r->status);
        else if (r->sys_errno)
                snprintf(buf, size, "%s (%s)", sfw_http_err_name(r->err), strerror(r->sys_errno));
        else
                snprintf(buf, size, "%s", sfw_http_err_name(r->err));
        return buf;
}

static void call_finish(sfw_http_call *c, int err, int sys_errno)
{
        sfw_http_done done = c->done;
        void *ud = c->ud;
        c->res.err = err;
        c->res.sys_errno = sys_errno;
        c->res.t_done_us = sfw_now_us();
        if (c->hdr_end) {
                c->res.headers = c->in.p;
                c->res.body = c->in.p + c->hdr_end;
                c->res.body_len = c->in.len - c->hdr_end;
        } else {
                c->res.headers = "";
                c->res.body = "";
                c->res.body_len = 0;
        }
        if (err == SFW_HTTP_OK)
                sfw_io_close(&c->io);
        else
                sfw_close_reset(&c->io); /* abandoned: tell the other side at once */
        sfw_timer_stop(&c->timer);
        sfw_timer_stop(&c->total_timer);
        c->state = 3;
        done(&c->res, ud);
        sfw_buf_free(&c->req);
        sfw_buf_free(&c->in);
        sfw_defer_free(c);
}

static void call_timeout(sfw_timer *t)
{
        sfw_http_call *c = t->data;
        if (c->pending_err)
                return call_finish(c, c->pending_err, c->pending_errno);
        call_finish(c, c->state == 0 ? SFW_HTTP_ECONNECT : SFW_HTTP_ETIMEOUT, c->state == 0 ? ETIMEDOUT : 0);
}

/* Headers parsed: status and Content-Length. Returns false on a malformed response. */
static bool parse_head(sfw_http_call *c)
{
        char *e = strstr(c->in.p, "\r\n\r\n");
        char v[32];
        int maj, min, status;
        if (!e)
                return true;
        c->hdr_end = (size_t) (e - c->in.p) + 4;
        if (sscanf(c->in.p, "HTTP/%d.%d %d", &maj, &min, &status) != 3 || status < 100 || status > 999)
                return false;
        c->res.status = status;
        e[2] = 0; /* the header block ends at the blank line; restore below */
        if (sfw_http_header(c->in.p, "Content-Length", v, sizeof(v))) {
                char *end;
                c->content_length = strtol(v, &end, 10);
                if (*end || c->content_length < 0) {
                        e[2] = '\r';
                        return false;
                }
        }
        /* keep the NUL: the result's header block is a C string; the body starts after it */
        return true;
}

static void call_cb(sfw_io *io, uint32_t events)
{
        sfw_http_call *c = io->data;
        if (c->state == 0) {
                int r = sfw_connect_result(io->fd);
                if (r < 0)
                        return call_finish(c, SFW_HTTP_ECONNECT, -r);
                if (!(events & EPOLLOUT))
                        return;
                c->res.t_connected_us = sfw_now_us();
                c->state = 1;
        }
        if (c->state == 1) {
                while (c->req_off < c->req.len) {
                        ssize_t n = send(io->fd, c->req.p + c->req_off, c->req.len - c->req_off, MSG_NOSIGNAL);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                                sfw_io_want(io, EPOLLOUT);
                                return;
                        }
                        if (n < 0)
                                return call_finish(c, SFW_HTTP_ERESET, errno);
                        c->req_off += (size_t) n;
                }
                c->state = 2;
                sfw_io_want(io, EPOLLIN);
                sfw_timer_arm(&c->timer, c->idle_ms);
                return;
        }
        for (;;) {
                char buf[65536];
                ssize_t n = read(io->fd, buf, sizeof(buf));
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n < 0)
                        return call_finish(c, SFW_HTTP_ERESET, errno);
                if (n == 0) {
                        if (!c->hdr_end)
                                return call_finish(c, c->in.len ? SFW_HTTP_EPROTO : SFW_HTTP_ERESET,
                                                   c->in.len ? 0 : ECONNRESET);
                        if (c->content_length >= 0 &&
                            c->in.len - c->hdr_end < (size_t) c->content_length)
                                return call_finish(c, SFW_HTTP_ESHORT, 0);
                        return call_finish(c, SFW_HTTP_OK, 0);
                }
                if (!c->res.t_first_byte_us)
                        c->res.t_first_byte_us = sfw_now_us();
                sfw_buf_add(&c->in, buf, (size_t) n);
                sfw_timer_arm(&c->timer, c->idle_ms);
                if (!c->hdr_end) {
                        if (!parse_head(c))
                                return call_finish(c, SFW_HTTP_EPROTO, 0);
                        if (!c->hdr_end) {
                                if (c->in.len > MAX_HEADERS)
                                        return call_finish(c, SFW_HTTP_EPROTO, 0);
                                continue;
                        }
                }
                if (c->in.len - c->hdr_end > c->max_body ||
                    (c->content_length >= 0 && c->in.len - c->hdr_end > (size_t) c->content_length))
                        return call_finish(c, c->in.len - c->hdr_end > c->max_body ? SFW_HTTP_ETOOBIG
                                                                                     : SFW_HTTP_EPROTO, 0);
                if (c->content_length >= 0 && c->in.len - c->hdr_end == (size_t) c->content_length)
                        return call_finish(c, SFW_HTTP_OK, 0);
        }
}

sfw_http_call *sfw_http_request(const sfw_addr *to, const sfw_http_opts *o, sfw_http_done done,
                                void *ud)
{
        sfw_http_call *c = sfw_xcalloc(1, sizeof(*c));
        char hostbuf[64];
        int fd = -1, r;
        c->done = done;
        c->ud = ud;
        c->max_body = o->max_body ? o->max_body : (1 << 20);
        c->content_length = -1;
        c->idle_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 2000;
        c->res.t_start_us = sfw_now_us();
        sfw_buf_printf(&c->req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sf-%s\r\nConnection: close\r\n",
                       o->method ? o->method : "GET", o->path,
                       o->host ? o->host : sfw_addr_str((const struct sockaddr *) &to->ss, hostbuf, sizeof(hostbuf)),
                       sfw_prog);
        if (o->body) {
                sfw_buf_printf(&c->req, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                               o->content_type ? o->content_type : "application/json", o->body_len);
        }
        sfw_buf_puts(&c->req, "\r\n");
        if (o->body)
                sfw_buf_add(&c->req, o->body, o->body_len);
        sfw_timer_init(&c->timer, call_timeout, c);
        sfw_timer_init(&c->total_timer, call_timeout, c);
        r = sfw_connect_tcp(to, &fd);
        if (r < 0) {
                /* report from the loop, never from inside this call */
                sfw_io_init(&c->io, -1, call_cb, c);
                c->pending_err = SFW_HTTP_ECONNECT;
                c->pending_errno = -r;
                sfw_timer_arm(&c->timer, 0);
                return c;
        }
        sfw_io_init(&c->io, fd, call_cb, c);
        sfw_io_want(&c->io, EPOLLOUT);
        sfw_timer_arm(&c->timer, o->connect_timeout_ms ? o->connect_timeout_ms : 1000);
        sfw_timer_arm(&c->total_timer, o->total_timeout_ms ? o->total_timeout_ms : 10000);
        return c;
}

void sfw_http_cancel(sfw_http_call *c)
{
        if (!c || c->state == 3)
                return;
        sfw_close_reset(&c->io);
        sfw_timer_stop(&c->timer);
        sfw_timer_stop(&c->total_timer);
        sfw_buf_free(&c->req);
        sfw_buf_free(&c->in);
        c->state = 3;
        sfw_defer_free(c);
}
