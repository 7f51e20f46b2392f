/* Netlink sockets and requests. A request (sf_nlreq) is built first, then sent (sf_nl_exec):
 * builders are pure functions over bytes, testable without root, and several requests can go
 * to the kernel in one sendmsg (a batch) with one ACK collected per request.
 *
 * Every request asks for an ACK. Replies are checked against the socket's port id and the
 * request's sequence number. NETLINK_EXT_ACK is on, so an error reads like
 *   "create veth 'sfv1234': File exists (kernel: ...)". */
#pragma once

#include <linux/netlink.h>
#include <sys/types.h>

#include "lib/addr.h"
#include "lib/err.h"

typedef struct sf_nl sf_nl;
typedef struct sf_nlreq sf_nlreq;

/* Largest single request message a builder may produce. */
#define SF_NLMSG_MAX 16384

/* ---- sockets ---- */

/* A NETLINK_ROUTE socket in the calling thread's network namespace. */
int sf_nl_open(sf_nl **ret, sf_err *e);
/* A NETLINK_ROUTE socket inside the network namespace netns_fd. The calling thread joins that
 * namespace with setns() only while it creates the socket, then returns to its own; this is
 * thread-safe (the network namespace is per thread). The socket stays bound to the target
 * namespace for its whole life. */
int sf_nl_open_in_netns(int netns_fd, sf_nl **ret, sf_err *e);
/* Any netlink protocol (NETLINK_ROUTE, NETLINK_NETFILTER, ...); netns_fd < 0 means the calling
 * thread's namespace. */
int sf_nl_open_proto(int protocol, int netns_fd, sf_nl **ret, sf_err *e);
void sf_nl_free(sf_nl *nl);
static inline void sf_nl_freep(sf_nl **nl) { sf_nl_free(*nl); }
#define _cleanup_nl_ _cleanup_(sf_nl_freep)
int sf_nl_fd(const sf_nl *nl);

/* ---- requests ---- */

sf_nlreq *sf_nlreq_new(void);
void sf_nlreq_free(sf_nlreq *r);
static inline void sf_nlreq_freep(sf_nlreq **r) { sf_nlreq_free(*r); }
#define _cleanup_nlreq_ _cleanup_(sf_nlreq_freep)
/* Forgets every message; keeps the buffer. */
void sf_nlreq_reset(sf_nlreq *r);
/* Number of finished messages. */
size_t sf_nlreq_count(const sf_nlreq *r);
/* The i-th finished message and its description. */
const struct nlmsghdr *sf_nlreq_msg(const sf_nlreq *r, size_t i);
struct nlmsghdr *sf_nlreq_msg_mut(sf_nlreq *r, size_t i);
const char *sf_nlreq_what(const sf_nlreq *r, size_t i);
/* All finished messages, back to back, as they will be sent (sequence numbers are written
 * at send time; before that they are 0). */
const void *sf_nlreq_data(const sf_nlreq *r, size_t *ret_len);
/* After sf_nl_exec: index of the first request that failed, or -1. */
ssize_t sf_nlreq_failed(const sf_nlreq *r);

/* Building one message. sf_nlreq_begin starts a message (NLM_F_REQUEST|NLM_F_ACK are always
 * added to flags) and names it for error messages ("create veth 'x'"). Puts are bounded:
 * when the message would exceed SF_NLMSG_MAX the request remembers it, and sf_nlreq_end
 * fails with -EMSGSIZE. sf_nlreq_end appends the message to the request. Beginning a new
 * message drops an unfinished one. */
struct nlmsghdr *sf_nlreq_begin(sf_nlreq *r, uint16_t type, uint16_t flags, const char *fmt, ...)
        _printf_(4, 5);
/* Reserves len zeroed bytes at the end of the current message (fixed headers such as
 * ifinfomsg, or a nested one); NULL when it does not fit. */
void *sf_nlreq_reserve(sf_nlreq *r, size_t len);
void sf_nlreq_put(sf_nlreq *r, uint16_t type, size_t len, const void *data);
void sf_nlreq_put_u8(sf_nlreq *r, uint16_t type, uint8_t v);
void sf_nlreq_put_u16(sf_nlreq *r, uint16_t type, uint16_t v);
void sf_nlreq_put_u32(sf_nlreq *r, uint16_t type, uint32_t v);
void sf_nlreq_put_strz(sf_nlreq *r, uint16_t type, const char *s);
/* 4 or 16 bytes, depending on the family. */
void sf_nlreq_put_addr(sf_nlreq *r, uint16_t type, const sf_addr *a);
struct nlattr *sf_nlreq_nest_start(sf_nlreq *r, uint16_t type);
void sf_nlreq_nest_end(sf_nlreq *r, struct nlattr *nest);
/* The kernel answering this message with -err (err > 0, e.g. ENODEV for a delete) counts as
 * success. */
void sf_nlreq_tolerate(sf_nlreq *r, int err);
int sf_nlreq_end(sf_nlreq *r, sf_err *e);

/* ---- sending ---- */

/* Called for every reply to request number idx that is not an ACK, error or DONE (dump
 * entries, NLM_F_ECHO copies, GET answers). A negative return stops further callbacks;
 * the replies are still drained and exec returns that error. */
typedef int (*sf_nl_reply_cb)(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e);

/* Sends every message of r and waits until each one is answered. Consecutive non-dump
 * messages go in one sendmsg (up to 64 messages or 32 KiB per send); a dump goes alone and
 * completes on NLMSG_DONE. Returns 0 when every request succeeded, otherwise the error of the
 * first one that failed (see sf_nlreq_failed); when the batch holds more than one request the
 * message says which: "set address 10.0.0.2/24 on ifindex 2 (request 3 of 5): File exists".
 * The kernel keeps processing the requests that follow a failed one. A dump the kernel marks
 * as interrupted (NLM_F_DUMP_INTR: the table changed meanwhile) fails with -EAGAIN; retry it.
 * An sf_nl is not thread-safe: use one per thread (they are cheap). */
int sf_nl_exec(sf_nl *nl, sf_nlreq *r, sf_nl_reply_cb cb, void *userdata, sf_err *e);

/* Decodes an NLMSG_ERROR or NLMSG_DONE message: *ret_err gets 0 or a negative errno and
 * *ret_kmsg the kernel's extended-ACK text (NULL if none; points into nlh). -EBADMSG when the
 * message is malformed. */
int sf_nl_parse_error(const struct nlmsghdr *nlh, int *ret_err, const char **ret_kmsg);

/* Parses the attributes of a message after a fixed header of hdrlen bytes into
 * tb[0..maxtype]; unknown types are ignored. */
int sf_nl_parse_attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb,
                      unsigned maxtype);
int sf_nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned maxtype);
/* Request modes for objects (addresses, routes, neighbours, FDB entries). */
typedef enum sf_nl_mode {
        SF_NL_ADD,     /* create, fail with -EEXIST if present */
        SF_NL_REPLACE, /* create or replace */
        SF_NL_APPEND,  /* create, adding to existing entries (FDB remotes, multipath) */
        SF_NL_DEL,     /* delete */
} sf_nl_mode;
/* Delete flag: a missing object is fine. */
#define SF_NL_MISSING_OK 1u

uint16_t sf_nl_mode_flags(sf_nl_mode mode);
const char *sf_nl_mode_verb(sf_nl_mode mode);
