/* Netlink plumbing: sockets (optionally inside another network namespace), request buffers
 * built with bounded libmnl puts, batched sending with per-request ACK and extended-ACK errors. */
#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "lib/util.h"
#include "net/internal.h"
#include "net/netns.h"
#include "net/nl.h"

SF_LOG_MODULE("nl");

#define SEND_MAX_BYTES 32768
#define SEND_MAX_MSGS 64
#define RECV_INITIAL 32768

struct sf_nl {
        struct mnl_socket *sock;
        unsigned portid;
        uint32_t seq;
        int protocol;
        uint8_t *rbuf;
        size_t rcap;
};

struct nlreq_msg {
        size_t off;
        char *what;
        int tolerate;
};

struct sf_nlreq {
        uint8_t *buf;
        size_t cap;
        size_t len; /* bytes of finished messages */
        struct nlreq_msg *msgs;
        size_t n, n_alloc;
        struct nlmsghdr *cur; /* message being built */
        char *cur_what;
        int cur_tolerate;
        bool overflow;
        ssize_t failed;
};

/* ---- sockets ---- */

int sf_nl_open_proto(int protocol, int netns_fd, sf_nl **ret, sf_err *e)
{
        struct mnl_socket *sock;
        int saved = -EBADF, r, one = 1;
        sf_nl *nl;

        if (netns_fd >= 0) {
                r = sf_netns_enter(netns_fd, &saved, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "open netlink socket");
        }
        sock = mnl_socket_open2(protocol, SOCK_CLOEXEC);
        r = sock ? 0 : -errno;
        if (netns_fd >= 0)
                sf_netns_leave(saved);
        if (r < 0)
                return sf_err_errno(e, r, "open netlink socket (protocol %d)", protocol);

        if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = -errno;
                mnl_socket_close(sock);
                return sf_err_errno(e, r, "bind netlink socket");
        }
        /* Error text from the kernel, and ACKs that do not echo our whole request. */
        if (mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof(one)) < 0)
                log_debug("NETLINK_EXT_ACK: %m, ignoring");
        if (mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                log_debug("NETLINK_CAP_ACK: %m, ignoring");
        /* Lets dumps be filtered by the kernel (e.g. FDB by device); we filter again anyway. */
        if (mnl_socket_setsockopt(sock, NETLINK_GET_STRICT_CHK, &one, sizeof(one)) < 0)
                log_debug("NETLINK_GET_STRICT_CHK: %m, ignoring");

        nl = new0(sf_nl, 1);
        nl->sock = sock;
        nl->portid = mnl_socket_get_portid(sock);
        nl->seq = (uint32_t) sf_now_usec();
        nl->protocol = protocol;
        nl->rcap = RECV_INITIAL;
        nl->rbuf = xmalloc(nl->rcap);
        *ret = nl;
        return 0;
}

int sf_nl_open(sf_nl **ret, sf_err *e)
{
        return sf_nl_open_proto(NETLINK_ROUTE, -1, ret, e);
}

int sf_nl_open_in_netns(int netns_fd, sf_nl **ret, sf_err *e)
{
        if (netns_fd < 0)
                return sf_err_set(e, -EBADF, NULL, "open netlink socket: invalid netns fd");
        return sf_nl_open_proto(NETLINK_ROUTE, netns_fd, ret, e);
}

void sf_nl_free(sf_nl *nl)
{
        if (!nl)
                return;
        if (nl->sock)
                mnl_socket_close(nl->sock);
        free(nl->rbuf);
        free(nl);
}

int sf_nl_fd(const sf_nl *nl)
{
        return mnl_socket_get_fd(nl->sock);
}

/* ---- requests ---- */

sf_nlreq *sf_nlreq_new(void)
{
        sf_nlreq *r = new0(sf_nlreq, 1);
        r->failed = -1;
        return r;
}

static void drop_current(sf_nlreq *r)
{
        r->cur = NULL;
        r->overflow = false;
        r->cur_tolerate = 0;
        free(r->cur_what);
        r->cur_what = NULL;
}

void sf_nlreq_reset(sf_nlreq *r)
{
        if (!r)
                return;
        drop_current(r);
        for (size_t i = 0; i < r->n; i++)
                free(r->msgs[i].what);
        r->n = 0;
        r->len = 0;
        r->failed = -1;
}

void sf_nlreq_free(sf_nlreq *r)
{
        if (!r)
                return;
        sf_nlreq_reset(r);
        free(r->msgs);
        free(r->buf);
        free(r);
}

size_t sf_nlreq_count(const sf_nlreq *r)
{
        return r->n;
}

const struct nlmsghdr *sf_nlreq_msg(const sf_nlreq *r, size_t i)
{
        if (i >= r->n)
                return NULL;
        return (const struct nlmsghdr *) (r->buf + r->msgs[i].off);
}

struct nlmsghdr *sf_nlreq_msg_mut(sf_nlreq *r, size_t i)
{
        if (i >= r->n)
                return NULL;
        return (struct nlmsghdr *) (r->buf + r->msgs[i].off);
}

const char *sf_nlreq_what(const sf_nlreq *r, size_t i)
{
        if (i >= r->n)
                return NULL;
        return r->msgs[i].what;
}

const void *sf_nlreq_data(const sf_nlreq *r, size_t *ret_len)
{
        if (ret_len)
                *ret_len = r->len;
        return r->buf;
}

ssize_t sf_nlreq_failed(const sf_nlreq *r)
{
        return r->failed;
}

struct nlmsghdr *sf_nlreq_begin(sf_nlreq *r, uint16_t type, uint16_t flags, const char *fmt, ...)
{
        va_list ap;

        drop_current(r);
        if (r->cap - r->len < SF_NLMSG_MAX) {
                size_t cap = MAX(r->cap * 2, r->len + SF_NLMSG_MAX);
                r->buf = xrealloc(r->buf, cap);
                r->cap = cap;
        }
        r->cur = mnl_nlmsg_put_header(r->buf + r->len);
        r->cur->nlmsg_type = type;
        r->cur->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        va_start(ap, fmt);
        r->cur_what = xvasprintf(fmt, ap);
        va_end(ap);
        return r->cur;
}

static bool cur_ok(sf_nlreq *r)
{
        return r->cur && !r->overflow;
}

void *sf_nlreq_reserve(sf_nlreq *r, size_t len)
{
        void *p;
        if (!cur_ok(r))
                return NULL;
        if (r->cur->nlmsg_len + MNL_ALIGN(len) > SF_NLMSG_MAX) {
                r->overflow = true;
                return NULL;
        }
        p = (uint8_t *) r->cur + r->cur->nlmsg_len;
        memset(p, 0, MNL_ALIGN(len));
        r->cur->nlmsg_len += MNL_ALIGN(len);
        return p;
}

void sf_nlreq_put(sf_nlreq *r, uint16_t type, size_t len, const void *data)
{
        size_t room;
        if (!cur_ok(r))
                return;
        room = MNL_ALIGN(MNL_ATTR_HDRLEN + len);
        if (len > UINT16_MAX - MNL_ATTR_HDRLEN || r->cur->nlmsg_len + room > SF_NLMSG_MAX) {
                r->overflow = true;
                return;
        }
        /* Zero the attribute's room first: libmnl < 1.0.5 leaves the padding uninitialised,
         * and the bytes we send must be deterministic. */
        memset(mnl_nlmsg_get_payload_tail(r->cur), 0, room);
        if (!mnl_attr_put_check(r->cur, SF_NLMSG_MAX, type, len, data))
                r->overflow = true;
}

void sf_nlreq_put_u8(sf_nlreq *r, uint16_t type, uint8_t v)
{
        sf_nlreq_put(r, type, sizeof(v), &v);
}

void sf_nlreq_put_u16(sf_nlreq *r, uint16_t type, uint16_t v)
{
        sf_nlreq_put(r, type, sizeof(v), &v);
}

void sf_nlreq_put_u32(sf_nlreq *r, uint16_t type, uint32_t v)
{
        sf_nlreq_put(r, type, sizeof(v), &v);
}

void sf_nlreq_put_strz(sf_nlreq *r, uint16_t type, const char *s)
{
        sf_nlreq_put(r, type, strlen(s) + 1, s);
}

void sf_nlreq_put_addr(sf_nlreq *r, uint16_t type, const sf_addr *a)
{
        sf_nlreq_put(r, type, a->family == AF_INET ? 4 : 16, a->b);
}

struct nlattr *sf_nlreq_nest_start(sf_nlreq *r, uint16_t type)
{
        struct nlattr *n;
        if (!cur_ok(r))
                return NULL;
        n = mnl_attr_nest_start_check(r->cur, SF_NLMSG_MAX, type);
        if (!n)
                r->overflow = true;
        return n;
}

void sf_nlreq_nest_end(sf_nlreq *r, struct nlattr *nest)
{
        if (!cur_ok(r) || !nest)
                return;
        mnl_attr_nest_end(r->cur, nest);
}

void sf_nlreq_tolerate(sf_nlreq *r, int err)
{
        r->cur_tolerate = err < 0 ? -err : err;
}

int sf_nlreq_end(sf_nlreq *r, sf_err *e)
{
        struct nlreq_msg *m;

        if (!r->cur)
                return sf_err_set(e, -EINVAL, NULL, "netlink: no message being built");
        if (r->overflow) {
                int ret = sf_err_set(e, -EMSGSIZE, NULL, "%s: netlink message larger than %d bytes",
                                     r->cur_what, SF_NLMSG_MAX);
                drop_current(r);
                return ret;
        }
        if (r->n == r->n_alloc) {
                r->n_alloc = MAX(8u, r->n_alloc * 2);
                r->msgs = xrealloc(r->msgs, r->n_alloc * sizeof(*r->msgs));
        }
        m = &r->msgs[r->n++];
        m->off = r->len;
        m->what = TAKE_PTR(r->cur_what);
        m->tolerate = r->cur_tolerate;
        r->len += MNL_ALIGN(r->cur->nlmsg_len);
        drop_current(r);
        return 0;
}

uint16_t sf_nl_mode_flags(sf_nl_mode mode)
{
        switch (mode) {
        case SF_NL_ADD:
                return NLM_F_CREATE | NLM_F_EXCL;
        case SF_NL_REPLACE:
                return NLM_F_CREATE | NLM_F_REPLACE;
        case SF_NL_APPEND:
                return NLM_F_CREATE | NLM_F_APPEND;
        case SF_NL_DEL:
        default:
                return 0;
        }
}

const char *sf_nl_mode_verb(sf_nl_mode mode)
{
        switch (mode) {
        case SF_NL_ADD:
                return "add";
        case SF_NL_REPLACE:
                return "replace";
        case SF_NL_APPEND:
                return "append";
        case SF_NL_DEL:
        default:
                return "delete";
        }
}

/* ---- parsing ---- */

struct attr_tb {
        const struct nlattr **tb;
        unsigned maxtype;
};

static int attr_tb_cb(const struct nlattr *a, void *data)
{
        struct attr_tb *t = data;
        uint16_t type = mnl_attr_get_type(a);
        if (type <= t->maxtype)
                t->tb[type] = a;
        return MNL_CB_OK;
}

int sf_nl_parse_attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb,
                      unsigned maxtype)
{
        struct attr_tb t = { tb, maxtype };
        memset(tb, 0, sizeof(*tb) * (maxtype + 1));
        if (nlh->nlmsg_len < NLMSG_HDRLEN + MNL_ALIGN(hdrlen))
                return -EBADMSG;
        return mnl_attr_parse(nlh, MNL_ALIGN(hdrlen), attr_tb_cb, &t) < 0 ? -EBADMSG : 0;
}

int sf_nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned maxtype)
{
        struct attr_tb t = { tb, maxtype };
        memset(tb, 0, sizeof(*tb) * (maxtype + 1));
        return mnl_attr_parse_nested(nest, attr_tb_cb, &t) < 0 ? -EBADMSG : 0;
}

int sf_nl_parse_error(const struct nlmsghdr *nlh, int *ret_err, const char **ret_kmsg)
{
        const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = {};
        size_t off;
        int err;

        if (nlh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *me = mnl_nlmsg_get_payload(nlh);
                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*me))
                        return -EBADMSG;
                err = me->error;
                off = sizeof(*me);
                if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
                        if (me->msg.nlmsg_len < NLMSG_HDRLEN)
                                return -EBADMSG;
                        off += me->msg.nlmsg_len - NLMSG_HDRLEN;
                }
        } else if (nlh->nlmsg_type == NLMSG_DONE) {
                /* A dump's end carries an int status (older kernels may omit it). */
                if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int))
                        memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(int));
                else
                        err = 0;
                off = sizeof(int);
        } else
                return -EBADMSG;

        if (err > 0) /* never from the kernel; keep the convention */
                err = -err;
        *ret_err = err;
        if (ret_kmsg)
                *ret_kmsg = NULL;
        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || !ret_kmsg)
                return 0;
        if (MNL_ALIGN(off) > mnl_nlmsg_get_payload_len(nlh))
                return 0;
        if (sf_nl_parse_attrs(nlh, off, tb, NLMSGERR_ATTR_MAX) < 0)
                return 0; /* the error code is good even if the TLVs are not */
        if (tb[NLMSGERR_ATTR_MSG] && mnl_attr_validate(tb[NLMSGERR_ATTR_MSG], MNL_TYPE_NUL_STRING) >= 0)
                *ret_kmsg = mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]);
        return 0;
}

/* ---- sending ---- */

static bool is_dump(const struct nlmsghdr *nlh)
{
        return (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP &&
               /* NLM_F_DUMP shares bits with NLM_F_REPLACE|NLM_F_EXCL on NEW requests. */
               (nlh->nlmsg_type & 3) == 2 /* RTM_GET* */;
}

static bool msg_is_dump(const sf_nl *nl, const struct nlmsghdr *nlh)
{
        if (nl->protocol == NETLINK_ROUTE)
                return is_dump(nlh);
        /* Other families: a GET-style request with both dump bits and no create bits. */
        return (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP && !(nlh->nlmsg_flags & NLM_F_CREATE);
}

static int set_failure(sf_nlreq *r, size_t idx, int err, const char *kmsg, sf_err *e)
{
        _cleanup_free_ char *which = NULL;

        r->failed = idx;
        if (r->n > 1)
                which = xasprintf(" (request %zu of %zu)", idx + 1, r->n);
        if (kmsg && *kmsg)
                return sf_err_set(e, err, NULL, "%s%s: %s (kernel: %s)", r->msgs[idx].what,
                                  which ? which : "", strerror(-err), kmsg);
        return sf_err_set(e, err, NULL, "%s%s: %s", r->msgs[idx].what, which ? which : "",
                          strerror(-err));
}

/* Receives one datagram into nl->rbuf, growing it to the datagram's size. */
static ssize_t recv_one(sf_nl *nl)
{
        int fd = mnl_socket_get_fd(nl->sock);
        struct sockaddr_nl sa;
        struct iovec iov;
        struct msghdr mh;
        ssize_t n;

        for (;;) {
                n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if ((size_t) n > nl->rcap) {
                        nl->rcap = n;
                        nl->rbuf = xrealloc(nl->rbuf, nl->rcap);
                }
                iov = (struct iovec) { nl->rbuf, nl->rcap };
                mh = (struct msghdr) { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
                                       .msg_iovlen = 1 };
                n = recvmsg(fd, &mh, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (mh.msg_flags & MSG_TRUNC)
                        return -EMSGSIZE;
                if (sa.nl_pid != 0) /* only the kernel talks to us */
                        continue;
                return n;
        }
}

int sf_nl_exec(sf_nl *nl, sf_nlreq *r, sf_nl_reply_cb cb, void *userdata, sf_err *e)
{
        _cleanup_free_ bool *done = NULL;
        int first = 0;
        bool cb_failed = false;
        size_t i = 0;

        if (r->cur)
                return sf_err_set(e, -EINVAL, NULL, "%s: message not finished", r->cur_what);
        r->failed = -1;
        if (r->n == 0)
                return 0;
        done = new0(bool, r->n);

        while (i < r->n) {
                size_t j = i, bytes = 0, pending;
                uint32_t base = nl->seq;
                ssize_t n;

                if (msg_is_dump(nl, sf_nlreq_msg(r, i))) {
                        bytes = MNL_ALIGN(sf_nlreq_msg(r, i)->nlmsg_len);
                        j = i + 1;
                } else {
                        while (j < r->n && j - i < SEND_MAX_MSGS) {
                                const struct nlmsghdr *m = sf_nlreq_msg(r, j);
                                if (msg_is_dump(nl, m) ||
                                    (j > i && bytes + MNL_ALIGN(m->nlmsg_len) > SEND_MAX_BYTES))
                                        break;
                                bytes += MNL_ALIGN(m->nlmsg_len);
                                j++;
                        }
                }
                for (size_t k = i; k < j; k++) {
                        struct nlmsghdr *m = sf_nlreq_msg_mut(r, k);
                        m->nlmsg_seq = base + (uint32_t) (k - i);
                        m->nlmsg_pid = 0;
                }
                nl->seq += (uint32_t) (j - i);

                n = mnl_socket_sendto(nl->sock, r->buf + r->msgs[i].off, bytes);
                if (n < 0) {
                        int err = -errno;
                        if (!first) {
                                r->failed = i;
                                first = sf_err_errno(e, err, "%s: send netlink request", r->msgs[i].what);
                        }
                        return first;
                }

                pending = j - i;
                while (pending > 0) {
                        struct nlmsghdr *nlh;
                        int len;

                        n = recv_one(nl);
                        if (n < 0) {
                                /* Replies are lost (e.g. -ENOBUFS): we cannot tell which
                                 * requests succeeded. */
                                if (!first) {
                                        r->failed = i;
                                        first = sf_err_errno(e, (int) n, "%s: receive netlink replies",
                                                             r->msgs[i].what);
                                }
                                return first;
                        }
                        len = (int) n;
                        for (nlh = (struct nlmsghdr *) nl->rbuf; mnl_nlmsg_ok(nlh, len);
                             nlh = mnl_nlmsg_next(nlh, &len)) {
                                uint32_t off = nlh->nlmsg_seq - base;
                                size_t k = i + off;
                                int err = 0;
                                const char *kmsg = NULL;

                                if (nlh->nlmsg_pid != nl->portid || off >= j - i || done[k]) {
                                        log_debug("ignoring stale netlink message type %u seq %u",
                                                  nlh->nlmsg_type, nlh->nlmsg_seq);
                                        continue;
                                }
                                if (nlh->nlmsg_type == NLMSG_NOOP)
                                        continue;
                                if (nlh->nlmsg_type == NLMSG_OVERRUN) {
                                        if (!first)
                                                first = set_failure(r, k, -ENOBUFS, NULL, e);
                                        continue;
                                }
                                if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
                                        if (sf_nl_parse_error(nlh, &err, &kmsg) < 0)
                                                err = -EBADMSG;
                                        done[k] = true;
                                        pending--;
                                        if (err < 0 && -err != r->msgs[k].tolerate && !first)
                                                first = set_failure(r, k, err, kmsg, e);
                                        continue;
                                }
                                if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) && !first) {
                                        /* The dump may have missed or doubled entries. */
                                        r->failed = k;
                                        first = sf_err_set(e, -EAGAIN, NULL,
                                                           "%s: dump interrupted by a concurrent change, retry",
                                                           r->msgs[k].what);
                                }
                                if (cb && !cb_failed) {
                                        _cleanup_err_ sf_err cbe = SF_ERR_INIT;
                                        int cr = cb(nlh, k, userdata, &cbe);
                                        if (cr < 0) {
                                                cb_failed = true;
                                                if (!first) {
                                                        r->failed = k;
                                                        if (cbe.code)
                                                                sf_err_move(e, &cbe);
                                                        else
                                                                sf_err_errno(e, cr, "parse reply");
                                                        sf_err_prefix(e, "%s", r->msgs[k].what);
                                                        first = cr;
                                                }
                                        }
                                }
                        }
                }
                i = j;
        }
        return first;
}
