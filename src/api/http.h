/* A small HTTP/JSON server on libmicrohttpd: one thread per connection (long-polls block in
 * their own thread), request bodies bounded, errors mapped from -errno to HTTP statuses in one
 * table. */
#pragma once

#include <microhttpd.h>

#include "lib/json.h"

typedef struct sf_http_server sf_http_server;

#define SF_HTTP_MAX_SEGS 8

struct sf_http_local;

typedef struct sf_http_req {
        const char *method;
        const char *url;
        struct MHD_Connection *conn;        /* NULL for a request answered in process */
        const struct sf_http_local *local;  /* its query arguments and headers then */
        const char *body;
        size_t body_len;
        bool body_too_large;
        char *segs[SF_HTTP_MAX_SEGS]; /* path split on '/', percent-decoded by MHD */
        size_t n_segs;
        bool too_many_segs;
} sf_http_req;

typedef struct sf_http_resp {
        unsigned status;
        json_t *json;        /* owned; serialised when set */
        char *text;          /* owned; used when json is NULL */
        const char *content_type;
        char *etag;          /* owned; sent as ETag: "<etag>" */
        const char *allow;   /* for 405 */
        char *route;         /* owned; metrics label chosen by the handler */
} sf_http_resp;

typedef void (*sf_http_handler)(void *userdata, sf_http_req *req, sf_http_resp *resp);

struct sf_http_options {
        const char *listen; /* "127.0.0.1:7480", "[::1]:7480"; port 0 = any free port */
        size_t max_body;    /* bytes; 0 = 1 MiB */
        sf_http_handler handler;
        void *userdata;
        /* Called after each request with its route label, method, status and duration. */
        void (*observe)(void *userdata, const char *route, const char *method, unsigned status,
                        uint64_t usec);
        /* The nice value of the listening thread and of the request threads (one per
         * connection, from its accept on); 0 leaves them at the caller's. */
        int thread_nice;
};

int sf_http_server_start(const struct sf_http_options *opts, sf_http_server **ret, sf_err *e);
/* Stops accepting, waits for in-flight requests and frees. NULL-safe. */
void sf_http_server_stop(sf_http_server *s);
/* "http://127.0.0.1:7480", with the port actually bound. */
const char *sf_http_server_url(sf_http_server *s);
/* Answers, from now on, the sf_httpc requests to this server's URL that prefer it in process
 * (sf_httpc_prefer_local) with the same handler, in the caller's thread, and observes them
 * like the others; until sf_http_server_stop. One server per process. */
void sf_http_server_serve_local(sf_http_server *s);

/* Splits "host:port" / "[v6]:port"; fills a sockaddr. */
int sf_http_parse_listen(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len,
                         sf_err *e);

const char *sf_http_req_query(sf_http_req *req, const char *key);
const char *sf_http_req_header(sf_http_req *req, const char *key);
/* Calls fn for every query argument; stops at the first negative return. */
int sf_http_req_query_foreach(sf_http_req *req, int (*fn)(void *u, const char *k, const char *v),
                              void *u);

unsigned sf_http_status_of(int code);
const char *sf_http_code_name(int code);
/* {"error": {"code": "...", "message": "...", "field": "..."}} with the mapped status. */
void sf_http_resp_error(sf_http_resp *resp, const sf_err *err);
void sf_http_resp_errorf(sf_http_resp *resp, int code, const char *field, const char *fmt, ...)
        _printf_(4, 5);
/* Takes ownership of body. */
void sf_http_resp_json(sf_http_resp *resp, unsigned status, json_t *body);
