/* sfw-relay: one hop of the demonstrator's data path. Accepts TCP sessions, opens one upstream
 * connection per session, and moves bytes both ways with back-pressure, optionally decoding and
 * encoding GTP-U-like frames on either side (see sfw.h). Half-closes are propagated (FIN), errors
 * become resets (RST) on the other side, so a failure anywhere on the path reaches the UE fast. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sfw.h"

#define RBUF (SFW_GTP_HDR + 65535 + 16)
#define WBUF (SFW_GTP_HDR + 65535 + 16)
#define PLAIN_READ 16384

struct dir {
        uint8_t rbuf[RBUF];
        size_t rlen;
        uint8_t wbuf[WBUF];
        size_t woff, wlen;
        bool in_framed, out_framed;
        bool eof_in, shut_out;
        bool up; /* uplink: downstream -> upstream */
};

struct sfw_relay_conn {
        sfw_relay *r;
        sfw_io down, up;
        sfw_timer timer;
        struct dir ud, du; /* ud: down -> up (uplink); du: up -> down (downlink) */
        bool connected, closed;
        uint32_t teid;
        bool teid_known;
        uint64_t id, t_start_us, last_activity_us;
        sfw_relay_stats *ts; /* per-target stats, may be NULL */
        uint64_t bytes_up, bytes_down, pkts_up, pkts_down;
        char peer[64], target[64];
        sfw_relay_conn *prev, *next;
};

struct sfw_relay {
        sfw_relay_cfg cfg;
        char name[32];
        sfw_addr upstream;
        sfw_io lio;
        sfw_relay_stats st;
        sfw_relay_conn *conns;
        uint64_t next_id;
};

static void update_interest(sfw_relay_conn *c);

static void conn_free(sfw_relay_conn *c, bool reset, const char *why)
{
        sfw_relay *r = c->r;
        if (c->closed)
                return;
        c->closed = true;
        if (reset) {
                sfw_close_reset(&c->down);
                sfw_close_reset(&c->up);
                r->st.resets++;
                if (c->ts)
                        c->ts->resets++;
        } else {
                sfw_io_close(&c->down);
                sfw_io_close(&c->up);
        }
        sfw_timer_stop(&c->timer);
        r->st.sessions_active--;
        if (c->ts)
                c->ts->sessions_active--;
        if (r->cfg.log_sessions || reset)
                sfw_log("%s session %llu %s%s%s: up %llu B/%llu pkts, down %llu B/%llu pkts, %.1f ms",
                        r->name, (unsigned long long) c->id, reset ? "reset" : "closed",
                        why ? ": " : "", why ? why : "", (unsigned long long) c->bytes_up,
                        (unsigned long long) c->pkts_up, (unsigned long long) c->bytes_down,
                        (unsigned long long) c->pkts_down,
                        (double) (sfw_now_us() - c->t_start_us) / 1000.0);
        if (c->prev)
                c->prev->next = c->next;
        else
                r->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        sfw_defer_free(c);
}

static void put_hdr(uint8_t *p, size_t len, uint32_t teid)
{
        p[0] = SFW_GTP_FLAGS;
        p[1] = SFW_GTP_GPDU;
        p[2] = (uint8_t) (len >> 8);
        p[3] = (uint8_t) len;
        p[4] = (uint8_t) (teid >> 24);
        p[5] = (uint8_t) (teid >> 16);
        p[6] = (uint8_t) (teid >> 8);
        p[7] = (uint8_t) teid;
}

/* Appends one payload to d's write buffer (framed or not) and counts it. */
static void emit(sfw_relay_conn *c, struct dir *d, const uint8_t *p, size_t n, bool count)
{
        if (d->out_framed) {
                put_hdr(d->wbuf + d->wlen, n, c->teid);
                d->wlen += SFW_GTP_HDR;
        }
        if (n)
                memcpy(d->wbuf + d->wlen, p, n);
        d->wlen += n;
        if (!count)
                return;
        if (d->up) {
                c->bytes_up += n;
                c->pkts_up++;
                c->r->st.bytes_up += n;
                c->r->st.packets_up++;
                if (c->ts) {
                        c->ts->bytes_up += n;
                        c->ts->packets_up++;
                }
        } else {
                c->bytes_down += n;
                c->pkts_down++;
                c->r->st.bytes_down += n;
                c->r->st.packets_down++;
                if (c->ts) {
                        c->ts->bytes_down += n;
                        c->ts->packets_down++;
                }
        }
}

/* Moves what is in d->rbuf to d->wbuf. Returns false on a protocol error. */
static bool transform(sfw_relay_conn *c, struct dir *d)
{
        size_t off = 0;
        if (!d->in_framed) {
                if (d->rlen)
                        emit(c, d, d->rbuf, d->rlen, true);
                d->rlen = 0;
                return true;
        }
        while (d->rlen - off >= SFW_GTP_HDR) {
                const uint8_t *h = d->rbuf + off;
                size_t len = (size_t) h[2] << 8 | h[3];
                uint32_t teid = (uint32_t) h[4] << 24 | (uint32_t) h[5] << 16 | (uint32_t) h[6] << 8 | h[7];
                if (h[0] != SFW_GTP_FLAGS || h[1] != SFW_GTP_GPDU) {
                        sfw_log("%s session %llu: bad frame header %02x %02x", c->r->name,
                                (unsigned long long) c->id, h[0], h[1]);
                        return false;
                }
                if (!c->teid_known) {
                        c->teid = teid;
                        c->teid_known = true;
                        if (c->r->cfg.log_sessions)
                                sfw_log("%s session %llu: tunnel teid 0x%08x", c->r->name,
                                        (unsigned long long) c->id, teid);
                } else if (teid != c->teid) {
                        sfw_log("%s session %llu: frame for teid 0x%08x on tunnel 0x%08x", c->r->name,
                                (unsigned long long) c->id, teid, c->teid);
                        return false;
                }
                if (d->rlen - off < SFW_GTP_HDR + len)
                        break;
                /* zero-length G-PDUs open the tunnel: pass them on between framed links only */
                if (len || d->out_framed)
                        emit(c, d, h + SFW_GTP_HDR, len, len > 0);
                off += SFW_GTP_HDR + len;
        }
        if (off) {
                memmove(d->rbuf, d->rbuf + off, d->rlen - off);
                d->rlen -= off;
        }
        return true;
}

/* Runs one direction as far as it can go without blocking. Returns false when the session was
 * torn down. */
static bool pump(sfw_relay_conn *c, struct dir *d)
{
        sfw_io *in = d->up ? &c->down : &c->up;
        sfw_io *out = d->up ? &c->up : &c->down;
        for (;;) {
                while (d->woff < d->wlen) {
                        ssize_t n = send(out->fd, d->wbuf + d->woff, d->wlen - d->woff, MSG_NOSIGNAL);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                return true;
                        if (n < 0) {
                                conn_free(c, true, strerror(errno));
                                return false;
                        }
                        d->woff += (size_t) n;
                        c->last_activity_us = sfw_now_us();
                }
                d->woff = d->wlen = 0;
                if (d->eof_in) {
                        if (!d->shut_out) {
                                if (d->rlen) {
                                        c->r->st.protocol_errors++;
                                        conn_free(c, true, "truncated frame at end of stream");
                                        return false;
                                }
                                shutdown(out->fd, SHUT_WR);
                                d->shut_out = true;
                        }
                        return true;
                }
                {
                        size_t room = sizeof(d->rbuf) - d->rlen;
                        ssize_t n;
                        if (!d->in_framed && room > PLAIN_READ)
                                room = PLAIN_READ;
                        n = read(in->fd, d->rbuf + d->rlen, room);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                return true;
                        if (n < 0) {
                                conn_free(c, true, strerror(errno));
                                return false;
                        }
                        c->last_activity_us = sfw_now_us();
                        if (n == 0) {
                                d->eof_in = true;
                                continue;
                        }
                        d->rlen += (size_t) n;
                }
                if (!transform(c, d)) {
                        c->r->st.protocol_errors++;
                        conn_free(c, true, "protocol error");
                        return false;
                }
        }
}

static void maybe_done(sfw_relay_conn *c)
{
        if (c->closed)
                return;
        if (c->ud.shut_out && c->du.shut_out && c->ud.wlen == 0 && c->du.wlen == 0)
                conn_free(c, false, NULL);
}

static void update_interest(sfw_relay_conn *c)
{
        uint32_t dn = 0, up = 0;
        if (c->closed)
                return;
        if (!c->connected) {
                sfw_io_want(&c->down, 0);
                sfw_io_want(&c->up, EPOLLOUT);
                return;
        }
        /* read from a side when the direction from it has nothing pending to write */
        if (!c->ud.eof_in && c->ud.wlen == 0)
                dn |= EPOLLIN;
        if (!c->du.eof_in && c->du.wlen == 0)
                up |= EPOLLIN;
        if (c->ud.wlen > c->ud.woff)
                up |= EPOLLOUT;
        if (c->du.wlen > c->du.woff)
                dn |= EPOLLOUT;
        sfw_io_want(&c->down, dn);
        sfw_io_want(&c->up, up);
}

static void run(sfw_relay_conn *c)
{
        if (!pump(c, &c->ud) || !pump(c, &c->du))
                return;
        maybe_done(c);
        update_interest(c);
}

static void conn_cb(sfw_io *io, uint32_t events)
{
        sfw_relay_conn *c = io->data;
        if (c->closed)
                return;
        if (!c->connected) {
                int r;
                if (io == &c->down) { /* downstream closed before upstream answered */
                        if (events & (EPOLLHUP | EPOLLERR))
                                conn_free(c, true, "downstream gone while connecting");
                        return;
                }
                r = sfw_connect_result(io->fd);
                if (r < 0) {
                        c->r->st.connect_failures++;
                        if (c->ts)
                                c->ts->connect_failures++;
                        sfw_log("%s session %llu: connect to %s failed: %s", c->r->name,
                                (unsigned long long) c->id, c->target, strerror(-r));
                        conn_free(c, true, "upstream unreachable");
                        return;
                }
                c->connected = true;
                sfw_timer_stop(&c->timer);
                if (c->r->cfg.idle_timeout_ms)
                        sfw_timer_arm(&c->timer, c->r->cfg.idle_timeout_ms);
        }
        run(c);
}

static void conn_timer(sfw_timer *t)
{
        sfw_relay_conn *c = t->data;
        if (!c->connected) {
                c->r->st.connect_failures++;
                if (c->ts)
                        c->ts->connect_failures++;
                sfw_log("%s session %llu: connect to %s timed out", c->r->name,
                        (unsigned long long) c->id, c->target);
                conn_free(c, true, "upstream connect timeout");
                return;
        }
        uint64_t idle_us = sfw_now_us() - c->last_activity_us;
        if (idle_us >= (uint64_t) c->r->cfg.idle_timeout_ms * 1000) {
                c->r->st.idle_timeouts++;
                conn_free(c, true, "idle timeout");
                return;
        }
        sfw_timer_arm_us(t, (uint64_t) c->r->cfg.idle_timeout_ms * 1000 - idle_us);
}

static void accept_cb(sfw_io *io, uint32_t events)
{
        sfw_relay *r = io->data;
        (void) events;
        for (;;) {
                struct sockaddr_storage ss;
                socklen_t len = sizeof(ss);
                int fd = accept4(io->fd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                int ufd = -1, rr;
                sfw_relay_conn *c;
                sfw_addr to;
                if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                sfw_log("%s: accept: %s", r->name, strerror(errno));
                        return;
                }
                c = sfw_xcalloc(1, sizeof(*c));
                c->r = r;
                c->id = ++r->next_id;
                c->t_start_us = c->last_activity_us = sfw_now_us();
                c->ud.up = true;
                c->ud.in_framed = r->cfg.down_framed;
                c->ud.out_framed = r->cfg.up_framed;
                c->du.in_framed = r->cfg.up_framed;
                c->du.out_framed = r->cfg.down_framed;
                sfw_addr_str((struct sockaddr *) &ss, c->peer, sizeof(c->peer));
                sfw_io_init(&c->down, fd, conn_cb, c);
                sfw_io_init(&c->up, -1, conn_cb, c);
                sfw_timer_init(&c->timer, conn_timer, c);
                c->next = r->conns;
                if (r->conns)
                        r->conns->prev = c;
                r->conns = c;
                r->st.sessions_total++;
                r->st.sessions_active++;
                if (!r->cfg.down_framed) { /* this hop opens the tunnel: allocate its TEID */
                        c->teid = r->cfg.teid_base + (uint32_t) c->id;
                        c->teid_known = true;
                }
                if (r->cfg.pick) {
                        if (!r->cfg.pick(r, c, &to, &c->ts, r->cfg.pick_ud)) {
                                snprintf(c->target, sizeof(c->target), "(none)");
                                conn_free(c, true, "no target");
                                continue;
                        }
                } else
                        to = r->upstream;
                sfw_addr_str((struct sockaddr *) &to.ss, c->target, sizeof(c->target));
                if (c->ts) {
                        c->ts->sessions_total++;
                        c->ts->sessions_active++;
                }
                if (r->cfg.log_sessions)
                        sfw_log("%s session %llu from %s -> %s%s", r->name, (unsigned long long) c->id,
                                c->peer, c->target, r->cfg.up_framed && !r->cfg.down_framed ? " (new tunnel)" : "");
                rr = sfw_connect_tcp(&to, &ufd);
                if (rr < 0) {
                        r->st.connect_failures++;
                        if (c->ts)
                                c->ts->connect_failures++;
                        sfw_log("%s session %llu: connect to %s: %s", r->name, (unsigned long long) c->id,
                                c->target, strerror(-rr));
                        conn_free(c, true, "upstream unreachable");
                        continue;
                }
                sfw_io_init(&c->up, ufd, conn_cb, c);
                if (r->cfg.up_framed && !r->cfg.down_framed)
                        emit(c, &c->ud, NULL, 0, false); /* zero-length G-PDU: tunnel open */
                sfw_timer_arm(&c->timer, r->cfg.connect_timeout_ms ? r->cfg.connect_timeout_ms : 2000);
                sfw_io_want(&c->down, 0); /* errors and hang-ups are still reported */
                sfw_io_want(&c->up, EPOLLOUT);
        }
}

sfw_relay *sfw_relay_start(const sfw_relay_cfg *cfg)
{
        sfw_relay *r = sfw_xcalloc(1, sizeof(*r));
        sfw_addr la;
        int fd;
        r->cfg = *cfg;
        snprintf(r->name, sizeof(r->name), "%s", cfg->name ? cfg->name : "relay");
        if (sfw_addr_parse(cfg->listen, true, &la) < 0) {
                sfw_log("%s: bad listen address '%s'", r->name, cfg->listen);
                free(r);
                return NULL;
        }
        if (!cfg->pick && (!cfg->upstream || sfw_addr_parse(cfg->upstream, false, &r->upstream) < 0)) {
                sfw_log("%s: bad upstream address '%s'", r->name, cfg->upstream ? cfg->upstream : "");
                free(r);
                return NULL;
        }
        fd = sfw_listen_tcp(&la, 256);
        if (fd < 0) {
                sfw_log("%s: cannot listen on %s: %s", r->name, cfg->listen, strerror(-fd));
                free(r);
                return NULL;
        }
        sfw_io_init(&r->lio, fd, accept_cb, r);
        sfw_io_want(&r->lio, EPOLLIN);
        return r;
}

const sfw_relay_stats *sfw_relay_get_stats(const sfw_relay *r) { return &r->st; }
uint32_t sfw_relay_conn_teid(const sfw_relay_conn *c) { return c->teid; }
const char *sfw_relay_conn_peer(const sfw_relay_conn *c) { return c->peer; }

void sfw_relay_stats_json(sfw_buf *b, const sfw_relay_stats *s)
{
        sfw_buf_printf(b,
                       "\"sessions_total\": %llu, \"sessions_active\": %llu, \"bytes_up\": %llu, "
                       "\"bytes_down\": %llu, \"packets_up\": %llu, \"packets_down\": %llu, "
                       "\"connect_failures\": %llu, \"protocol_errors\": %llu, \"resets\": %llu, "
                       "\"idle_timeouts\": %llu",
                       (unsigned long long) s->sessions_total, (unsigned long long) s->sessions_active,
                       (unsigned long long) s->bytes_up, (unsigned long long) s->bytes_down,
                       (unsigned long long) s->packets_up, (unsigned long long) s->packets_down,
                       (unsigned long long) s->connect_failures, (unsigned long long) s->protocol_errors,
                       (unsigned long long) s->resets, (unsigned long long) s->idle_timeouts);
}

void sfw_relay_free(sfw_relay *r)
{
        if (!r)
                return;
        sfw_io_close(&r->lio);
        while (r->conns)
                conn_free(r->conns, false, "shutting down");
        sfw_defer_free(r);
}
