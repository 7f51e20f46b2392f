/* HTTP/JSON client on libcurl, used by sfctl and by agents talking to the controller;
 * requests to a server of the same process may be answered in process (sfd all-in-one). One
 * sf_httpc per thread (it keeps its connection alive between requests). */
#pragma once

#include "lib/json.h"

typedef struct sf_httpc sf_httpc;

/* Call once per process before any thread starts. */
void sf_httpc_global_init(void);

int sf_httpc_new(const char *base_url, sf_httpc **ret, sf_err *e);
void sf_httpc_free(sf_httpc *c);
static inline void sf_httpc_freep(sf_httpc **c) { sf_httpc_free(*c); }
#define _cleanup_httpc_ _cleanup_(sf_httpc_freep)
const char *sf_httpc_base(sf_httpc *c);
/* Whole-request timeout in milliseconds (default 30 s); 0 = none. */
void sf_httpc_set_timeout(sf_httpc *c, long ms);
/* When *flag becomes true, a request in progress is aborted (-ECANCELED) within a second. */
void sf_httpc_set_cancel(sf_httpc *c, const volatile bool *flag);

struct sf_httpc_resp {
        long status;
        json_t *json; /* parsed body when it was JSON, else NULL */
        char *text;   /* raw body */
        size_t len;
        char *etag;
};
void sf_httpc_resp_clear(struct sf_httpc_resp *r);

/* Sends a request. Any HTTP answer is success (check r->status); a transport failure is
 * -ECONNREFUSED / -ETIMEDOUT / -EIO with a message that names the URL. */
int sf_httpc_do(sf_httpc *c, const char *method, const char *path, const json_t *body,
                const char *if_match, struct sf_httpc_resp *ret, sf_err *e);

/* Like sf_httpc_do, but a non-2xx answer becomes an error carrying the server's -errno, field
 * and message. ret (may be NULL) gets the body of a 2xx answer. */
int sf_httpc_call(sf_httpc *c, const char *method, const char *path, const json_t *body,
                  json_t **ret, sf_err *e);

/* The same with an If-Match revision (NULL for none). */
int sf_httpc_call_if(sf_httpc *c, const char *method, const char *path, const json_t *body,
                     const char *if_match, json_t **ret, sf_err *e);

/* ---- in-process transport ----
 *
 * A server in this process may answer requests for its own base URL directly, without a
 * socket, HTTP framing, or the answer's JSON written out and parsed again (sfd all-in-one:
 * the agent's calls to its controller). fn answers one request as the server would over a
 * socket: path with its query string (percent-encoded, as on the wire), body a JSON text or
 * NULL, if_match NULL or a revision; it fills ret (status; json, owned, for a JSON answer, or
 * text and len; etag) and returns 0. */
typedef int (*sf_httpc_local_fn)(void *userdata, const char *method, const char *path,
                                 const char *body, const char *if_match,
                                 struct sf_httpc_resp *ret);
/* Registers fn as the in-process answerer for base_url (one at a time), or with fn NULL
 * removes it, after the in-process calls in progress have returned. */
void sf_httpc_local_register(const char *base_url, sf_httpc_local_fn fn, void *userdata);
/* From now on c's requests go to the in-process answerer of its base URL when there is one at
 * the time of the request, and over the socket otherwise. Off by default. A request answered
 * in process has no timeout and no cancellation: its handler returns by itself (a long poll at
 * its own timeout). */
void sf_httpc_prefer_local(sf_httpc *c, bool on);
/* Whether c's next request would be answered in process. */
bool sf_httpc_is_local(sf_httpc *c);

/* Percent-encodes a path segment or query value. */
char *sf_httpc_escape(const char *s);
