/* sfw: the small runtime shared by the 5G/MEC demonstrator workloads (rrh, bbu, epc, tof, meo,
 * video, ue): options from flags, a day-0 file and the environment; an epoll loop with timers and
 * SIGTERM handling; a tiny HTTP/1.1 server and client; the TCP relay used by every hop; and JSON
 * helpers. No dynamic linking needs (no NSS, no dlopen): the programs link statically with glibc.
 * Numeric addresses only. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SFW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging and time ---- */

extern const char *sfw_prog; /* "rrh" */
extern const char *sfw_role; /* "RRH stand-in" */
extern char sfw_hostname[64];

/* One line on stdout (line-buffered): "HH:MM:SS.mmm PROG: message". */
void sfw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t sfw_now_us(void); /* CLOCK_MONOTONIC */
static inline uint64_t sfw_now_ms(void) { return sfw_now_us() / 1000; }

void *sfw_xmalloc(size_t n);
void *sfw_xcalloc(size_t n, size_t size);
void *sfw_xrealloc(void *p, size_t n);
char *sfw_xstrdup(const char *s);

/* ---- growable buffer ---- */

typedef struct sfw_buf {
        char *p;
        size_t len, cap;
} sfw_buf;

void sfw_buf_add(sfw_buf *b, const void *data, size_t n);
void sfw_buf_puts(sfw_buf *b, const char *s);
void sfw_buf_printf(sfw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sfw_buf_free(sfw_buf *b);
/* Appends s as a JSON string literal (quoted, escaped). NULL gives null. */
void sfw_buf_json_str(sfw_buf *b, const char *s);

/* Reads one value from a flat JSON object ({"k": "v", "n": 3, "b": true, "x": null}; nested
 * objects and arrays are refused). A string value is unescaped (\uXXXX only below 0x80); other
 * values are copied as written. Returns 1 when found, 0 when absent, -1 for a syntax error or a
 * value longer than out_size - 1. */
int sfw_json_get(const char *json, size_t len, const char *key, char *out, size_t out_size);

/* ---- options ---- */

enum {
        SFW_OPT_MULTI = 1, /* may be given several times */
        SFW_OPT_BOOL = 2,  /* takes no argument on the command line; value "1" */
};

typedef struct sfw_opt {
        const char *name;    /* long name without "--", e.g. "upstream" */
        const char *metavar; /* "IP:PORT" */
        const char *help;
        const char *def; /* default value, or NULL */
        int flags;
        /* filled by sfw_options_parse: */
        char **vals;
        size_t n;
        int src; /* 0 default, 1 environment, 2 config file, 3 command line */
} sfw_opt;

/* Parses options, highest precedence first: the command line (--name VALUE or --name=VALUE),
 * the day-0 file given by --config FILE (lines "name=value"; '#' starts a comment; blank lines
 * ignored), the environment (SF_NAME with '-' written as '_', upper case; a MULTI option splits
 * on spaces), then the default. A source that sets a MULTI option replaces the lower ones'
 * values. --help prints usage built from the table and exits 0; bad usage exits 2.
 * opts is terminated by an entry with name == NULL. */
void sfw_options_parse(int argc, char **argv, sfw_opt *opts, const char *summary,
                       const char *details);
void sfw_options_free(sfw_opt *opts);
const char *sfw_opt_str(const sfw_opt *opts, const char *name);   /* last value or NULL */
long long sfw_opt_int(const sfw_opt *opts, const char *name, long long min, long long max);
double sfw_opt_double(const sfw_opt *opts, const char *name, double min, double max);
bool sfw_opt_bool(const sfw_opt *opts, const char *name);
const sfw_opt *sfw_opt_find(const sfw_opt *opts, const char *name);
/* Exits 2 with "PROG: --NAME: message". */
void sfw_usage_die(const char *opt, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* ---- addresses ---- */

typedef struct sfw_addr {
        struct sockaddr_storage ss;
        socklen_t len;
} sfw_addr;

/* "IP:PORT", "[IPv6]:PORT", or (allow_port_only) "PORT" meaning 0.0.0.0:PORT. Numeric only. */
int sfw_addr_parse(const char *s, bool allow_port_only, sfw_addr *ret);
/* "10.0.0.1:80" into buf (at least 64 bytes); returns buf. */
char *sfw_addr_str(const struct sockaddr *sa, char *buf, size_t size);
/* Just the IP. */
char *sfw_addr_ip(const struct sockaddr *sa, char *buf, size_t size);
uint16_t sfw_addr_port(const struct sockaddr *sa);

/* ---- event loop ---- */

typedef struct sfw_io sfw_io;
typedef void (*sfw_io_cb)(sfw_io *io, uint32_t events);
struct sfw_io {
        int fd; /* -1 when closed: its callback is not called any more */
        sfw_io_cb cb;
        uint32_t events; /* current interest */
        bool added;
        void *data;
};

typedef struct sfw_timer sfw_timer;
struct sfw_timer {
        uint64_t when_us;
        void (*cb)(sfw_timer *t);
        void *data;
        bool armed;
        sfw_timer *next;
};

/* Installs SIGTERM/SIGINT/SIGHUP handlers (a real handler: PID 1 in a container gets no default
 * action) and ignores SIGPIPE. The first SIGTERM/SIGINT calls sfw_on_stop (default: quit the
 * loop); a second one exits at once with status 0. */
void sfw_loop_init(void);
extern void (*sfw_on_stop)(void);
/* Runs until sfw_loop_quit(). Returns 0. Then free what you own (deferred frees are honoured)
 * and call sfw_loop_finish(). */
int sfw_loop_run(void);
void sfw_loop_finish(void);
void sfw_loop_quit(void);
bool sfw_stopping(void); /* a stop signal arrived */

void sfw_io_init(sfw_io *io, int fd, sfw_io_cb cb, void *data);
void sfw_io_want(sfw_io *io, uint32_t events); /* EPOLLIN|EPOLLOUT; 0 to pause */
void sfw_io_close(sfw_io *io);                 /* deregisters and closes; fd = -1 */

void sfw_timer_init(sfw_timer *t, void (*cb)(sfw_timer *), void *data);
void sfw_timer_arm(sfw_timer *t, uint64_t delay_ms);
void sfw_timer_arm_us(sfw_timer *t, uint64_t delay_us);
void sfw_timer_stop(sfw_timer *t);

/* Frees p after the current batch of events has been dispatched (so an io embedded in p that
 * still has a pending event is not touched after free: its fd is already -1). */
void sfw_defer_free(void *p);

/* Socket helpers: non-blocking, close-on-exec. */
int sfw_listen_tcp(const sfw_addr *a, int backlog); /* -errno */
/* Starts a non-blocking connect; 0 or -EINPROGRESS leave *ret_fd set; other -errno on failure. */
int sfw_connect_tcp(const sfw_addr *a, int *ret_fd);
/* The connect result after EPOLLOUT: 0 or -errno. */
int sfw_connect_result(int fd);
/* Closes with an RST instead of a FIN (SO_LINGER 0). */
void sfw_close_reset(sfw_io *io);

/* ---- HTTP server (status and control APIs, and the video server) ---- */

typedef struct sfw_http_req {
        char method[16];
        char path[512]; /* without the query string */
        char query[512];
        const char *headers; /* raw header block, NUL-terminated */
        const char *body;
        size_t body_len;
        char peer[64];  /* "IP:PORT" of the client */
        char local[64]; /* "IP:PORT" the request arrived on */
} sfw_http_req;

typedef struct sfw_http_resp {
        int status;
        const char *content_type; /* default application/json */
        sfw_buf headers;          /* extra header lines, each ending in \r\n */
        sfw_buf body;
        const void *ext_body; /* or a body the handler does not own (must outlive the response) */
        size_t ext_len;
} sfw_http_resp;

typedef void (*sfw_http_handler)(const sfw_http_req *req, sfw_http_resp *resp, void *ud);
typedef struct sfw_http_server sfw_http_server;

/* Listens on addr ("IP:PORT" or "PORT"). One request per connection (Connection: close). */
sfw_http_server *sfw_http_listen(const char *what, const char *addr, sfw_http_handler h, void *ud);
/* Stops accepting; connections in progress finish. */
void sfw_http_stop_accepting(sfw_http_server *s);
size_t sfw_http_active(const sfw_http_server *s);
void sfw_http_free(sfw_http_server *s); /* closes everything */
/* The value of header name in a raw header block, or false. */
bool sfw_http_header(const char *headers, const char *name, char *out, size_t size);
/* Convenience: a JSON error body. */
void sfw_http_error(sfw_http_resp *resp, int status, const char *msg);

/* ---- HTTP client ---- */

enum sfw_http_err {
        SFW_HTTP_OK = 0,
        SFW_HTTP_ECONNECT,  /* connect failed or timed out */
        SFW_HTTP_ETIMEOUT,  /* no progress within the idle timeout, or the total timeout */
        SFW_HTTP_ERESET,    /* connection reset or error after connecting */
        SFW_HTTP_EPROTO,    /* malformed response */
        SFW_HTTP_ESHORT,    /* closed before Content-Length bytes arrived */
        SFW_HTTP_ETOOBIG,   /* body larger than max_body */
};
const char *sfw_http_err_name(int err);

typedef struct sfw_http_result {
        int err;         /* enum sfw_http_err */
        int sys_errno;   /* for ECONNECT/ERESET */
        int status;      /* HTTP status when headers arrived, else 0 */
        const char *headers;
        const char *body;
        size_t body_len;
        uint64_t t_start_us, t_connected_us, t_first_byte_us, t_done_us;
} sfw_http_result;

/* "HTTP 404", "connect (Connection refused)", "timeout"... into buf; returns buf. */
char *sfw_http_result_str(const sfw_http_result *r, char *buf, size_t size);

typedef struct sfw_http_call sfw_http_call;
typedef void (*sfw_http_done)(const sfw_http_result *r, void *ud);

typedef struct sfw_http_opts {
        const char *method;  /* default GET */
        const char *path;
        const char *host;    /* Host header; default the address */
        const char *content_type;
        const char *body;
        size_t body_len;
        size_t max_body;     /* default 1 MiB */
        unsigned connect_timeout_ms; /* default 1000 */
        unsigned idle_timeout_ms;    /* no bytes for this long: ETIMEOUT; default 2000 */
        unsigned total_timeout_ms;   /* default 10000 */
} sfw_http_opts;

/* Starts a request; done is always called later from the loop (never from inside this call),
 * exactly once, unless the call is cancelled first. */
sfw_http_call *sfw_http_request(const sfw_addr *to, const sfw_http_opts *o, sfw_http_done done,
                                void *ud);
void sfw_http_cancel(sfw_http_call *c);

/* ---- TCP relay: one hop of the data path ---- */

/* GTP-U-like framing used on the tunnel links (fronthaul and backhaul): each frame is the 8-byte
 * GTP-U v1 header (flags 0x30, message type 0xFF = G-PDU, 16-bit payload length, 32-bit TEID,
 * all big-endian) followed by the payload, carried over TCP. A zero-length G-PDU opens the tunnel
 * and announces its TEID. */
#define SFW_GTP_FLAGS 0x30
#define SFW_GTP_GPDU 0xff
#define SFW_GTP_HDR 8
#define SFW_GTP_MAX_PAYLOAD 16384 /* what we emit; up to 65535 is accepted */

typedef struct sfw_relay_stats {
        uint64_t sessions_total, sessions_active;
        uint64_t bytes_up, bytes_down;     /* payload bytes, uplink = toward the service */
        uint64_t packets_up, packets_down; /* frames on a framed side, reads on a plain one */
        uint64_t connect_failures, protocol_errors, resets, idle_timeouts;
} sfw_relay_stats;

typedef struct sfw_relay sfw_relay;
typedef struct sfw_relay_conn sfw_relay_conn;

/* Where a new session goes: fills *to and the per-target stats to count it in (may be NULL).
 * Returns false to refuse the session (the downstream connection is reset). */
typedef bool (*sfw_relay_pick)(sfw_relay *r, const sfw_relay_conn *c, sfw_addr *to,
                               sfw_relay_stats **target_stats, void *ud);

typedef struct sfw_relay_cfg {
        const char *name;         /* for logs: "radio", "sgi" */
        const char *listen;       /* "IP:PORT" */
        bool down_framed;         /* the accepted side speaks frames */
        bool up_framed;           /* the upstream side speaks frames */
        sfw_relay_pick pick;      /* or NULL: always upstream */
        void *pick_ud;
        const char *upstream;     /* "IP:PORT" when pick is NULL */
        unsigned connect_timeout_ms;
        unsigned idle_timeout_ms; /* 0: none */
        bool log_sessions;
        uint32_t teid_base;       /* TEIDs this relay allocates (down plain, up framed) */
} sfw_relay_cfg;

sfw_relay *sfw_relay_start(const sfw_relay_cfg *cfg);
const sfw_relay_stats *sfw_relay_get_stats(const sfw_relay *r);
/* Appends "sessions_total": .., "bytes_up": .., ... (no braces). */
void sfw_relay_stats_json(sfw_buf *b, const sfw_relay_stats *s);
void sfw_relay_free(sfw_relay *r); /* closes the listener and all sessions */
uint32_t sfw_relay_conn_teid(const sfw_relay_conn *c);
const char *sfw_relay_conn_peer(const sfw_relay_conn *c);

/* ---- common status endpoint ---- */

/* Adds "program", "role", "name", "uptime_s" members (no braces, trailing comma). */
void sfw_json_ident(sfw_buf *b);

/* FNV-1a 64-bit. */
uint64_t sfw_fnv1a64(const void *data, size_t n);
