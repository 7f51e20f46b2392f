/* sfw: logging, options, event loop, timers, signals, buffers and JSON helpers shared by the
 * demonstrator workloads. The HTTP server/client and the relay are in sfw-http.c and
 * sfw-relay.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sfw.h"

const char *sfw_prog = "sfw";
const char *sfw_role = "";
char sfw_hostname[64] = "";
static uint64_t start_us;

/* ---- memory ---- */

static void oom(void)
{
        fputs("out of memory\n", stderr);
        abort();
}

void *sfw_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *sfw_xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *sfw_xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                oom();
        return p;
}

char *sfw_xstrdup(const char *s)
{
        char *p = strdup(s);
        if (!p)
                oom();
        return p;
}

/* ---- logging and time ---- */

uint64_t sfw_now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void sfw_log(const char *fmt, ...)
{
        struct timespec ts;
        struct tm tm;
        char line[2048];
        va_list ap;
        int n;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, sfw_prog);
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
        va_end(ap);
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
}

/* ---- buffers ---- */

static void buf_reserve(sfw_buf *b, size_t extra)
{
        if (b->len + extra + 1 <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1)
                cap *= 2;
        b->p = sfw_xrealloc(b->p, cap);
        b->cap = cap;
}

void sfw_buf_add(sfw_buf *b, const void *data, size_t n)
{
        buf_reserve(b, n);
        memcpy(b->p + b->len, data, n);
        b->len += n;
        b->p[b->len] = 0;
}

void sfw_buf_puts(sfw_buf *b, const char *s)
{
        sfw_buf_add(b, s, strlen(s));
}

void sfw_buf_printf(sfw_buf *b, const char *fmt, ...)
{
        char tmp[512];
        va_list ap;
        int n;
        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n < sizeof(tmp)) {
                sfw_buf_add(b, tmp, (size_t) n);
                return;
        }
        buf_reserve(b, (size_t) n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
}

void sfw_buf_free(sfw_buf *b)
{
        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
}

void sfw_buf_json_str(sfw_buf *b, const char *s)
{
        if (!s) {
                sfw_buf_puts(b, "null");
                return;
        }
        sfw_buf_puts(b, "\"");
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"': sfw_buf_puts(b, "\\\""); break;
                case '\\': sfw_buf_puts(b, "\\\\"); break;
                case '\n': sfw_buf_puts(b, "\\n"); break;
                case '\r': sfw_buf_puts(b, "\\r"); break;
                case '\t': sfw_buf_puts(b, "\\t"); break;
                default:
                        if (*p < 0x20)
                                sfw_buf_printf(b, "\\u%04x", *p);
                        else
                                sfw_buf_add(b, p, 1);
                }
        }
        sfw_buf_puts(b, "\"");
}

/* ---- flat JSON reader ---- */

struct jr {
        const char *p, *end;
};

static void jr_ws(struct jr *j)
{
        while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
                j->p++;
}

/* Reads a string literal into out (may be NULL to skip). */
static int jr_string(struct jr *j, char *out, size_t size)
{
        size_t n = 0;
        if (j->p >= j->end || *j->p != '"')
                return -1;
        j->p++;
        while (j->p < j->end && *j->p != '"') {
                char c = *j->p++;
                if ((unsigned char) c < 0x20)
                        return -1;
                if (c == '\\') {
                        if (j->p >= j->end)
                                return -1;
                        c = *j->p++;
                        switch (c) {
                        case '"': case '\\': case '/': break;
                        case 'n': c = '\n'; break;
                        case 't': c = '\t'; break;
                        case 'r': c = '\r'; break;
                        case 'b': c = '\b'; break;
                        case 'f': c = '\f'; break;
                        case 'u': {
                                unsigned v = 0;
                                if (j->end - j->p < 4)
                                        return -1;
                                for (int i = 0; i < 4; i++) {
                                        char h = *j->p++;
                                        v <<= 4;
                                        if (h >= '0' && h <= '9') v |= (unsigned) (h - '0');
                                        else if (h >= 'a' && h <= 'f') v |= (unsigned) (h - 'a' + 10);
                                        else if (h >= 'A' && h <= 'F') v |= (unsigned) (h - 'A' + 10);
                                        else return -1;
                                }
                                if (v == 0 || v >= 0x80)
                                        return -1;
                                c = (char) v;
                                break;
                        }
                        default: return -1;
                        }
                }
                if (out) {
                        if (n + 1 >= size)
                                return -1;
                        out[n] = c;
                }
                n++;
        }
        if (j->p >= j->end)
                return -1;
        j->p++;
        if (out)
                out[n] = 0;
        return 0;
}

/* A scalar that is not a string: number, true, false, null. */
static int jr_scalar(struct jr *j, char *out, size_t size)
{
        const char *s = j->p;
        while (j->p < j->end && (isalnum((unsigned char) *j->p) || *j->p == '-' || *j->p == '+' ||
                                 *j->p == '.'))
                j->p++;
        size_t n = (size_t) (j->p - s);
        if (n == 0)
                return -1;
        if (out) {
                if (n + 1 > size)
                        return -1;
                memcpy(out, s, n);
                out[n] = 0;
        }
        return 0;
}

int sfw_json_get(const char *json, size_t len, const char *key, char *out, size_t out_size)
{
        struct jr j = { json, json + len };
        int found = 0;
        char k[128];
        jr_ws(&j);
        if (j.p >= j.end || *j.p != '{')
                return -1;
        j.p++;
        jr_ws(&j);
        if (j.p < j.end && *j.p == '}')
                j.p++;
        else
                for (;;) {
                        bool want;
                        jr_ws(&j);
                        if (jr_string(&j, k, sizeof(k)) < 0)
                                return -1;
                        jr_ws(&j);
                        if (j.p >= j.end || *j.p != ':')
                                return -1;
                        j.p++;
                        jr_ws(&j);
                        want = !found && strcmp(k, key) == 0;
                        if (j.p < j.end && *j.p == '"') {
                                if (jr_string(&j, want ? out : NULL, out_size) < 0)
                                        return -1;
                        } else if (jr_scalar(&j, want ? out : NULL, out_size) < 0)
                                return -1;
                        if (want)
                                found = 1;
                        jr_ws(&j);
                        if (j.p < j.end && *j.p == ',') {
                                j.p++;
                                continue;
                        }
                        if (j.p < j.end && *j.p == '}') {
                                j.p++;
                                break;
                        }
                        return -1;
                }
        jr_ws(&j);
        return j.p == j.end ? found : -1;
}

/* ---- options ---- */

const sfw_opt *sfw_opt_find(const sfw_opt *opts, const char *name)
{
        for (const sfw_opt *o = opts; o->name; o++)
                if (strcmp(o->name, name) == 0)
                        return o;
        return NULL;
}

static sfw_opt *opt_find_mut(sfw_opt *opts, const char *name, size_t nlen)
{
        for (sfw_opt *o = opts; o->name; o++)
                if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
                        return o;
        return NULL;
}

void sfw_usage_die(const char *opt, const char *fmt, ...)
{
        va_list ap;
        if (opt)
                fprintf(stderr, "%s: --%s: ", sfw_prog, opt);
        else
                fprintf(stderr, "%s: ", sfw_prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (try --help)\n");
        exit(2);
}

static void opt_set(sfw_opt *o, const char *v, int src)
{
        if (o->src != src) { /* a higher-precedence source replaces what lower ones set */
                for (size_t i = 0; i < o->n; i++)
                        free(o->vals[i]);
                o->n = 0;
                o->src = src;
        }
        if (!(o->flags & SFW_OPT_MULTI) && o->n == 1) {
                free(o->vals[0]);
                o->n = 0;
        }
        o->vals = sfw_xrealloc(o->vals, (o->n + 1) * sizeof(char *));
        o->vals[o->n++] = sfw_xstrdup(v);
}

static void print_help(const sfw_opt *opts, const char *summary, const char *details)
{
        printf("Usage: %s [OPTIONS]\n\n%s\n\n", sfw_prog, summary);
        printf("Options (each also read from the day-0 file as NAME=VALUE, or from the environment "
               "as SF_NAME):\n");
        for (const sfw_opt *o = opts; o->name; o++) {
                char left[64];
                snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
                printf("  %-28s %s", left, o->help);
                if (o->def && *o->def)
                        printf(" (default: %s)", o->def);
                if (o->flags & SFW_OPT_MULTI)
                        printf(" [repeatable]");
                printf("\n");
        }
        printf("  %-28s %s\n", "--config FILE", "day-0 file of NAME=VALUE lines, '#' comments (default: $SF_CONFIG)");
        printf("  %-28s %s\n", "--help", "this text");
        if (details)
                printf("\n%s", details);
}

static void env_name(const char *name, char *out, size_t size)
{
        size_t i = 0;
        out[i++] = 'S';
        out[i++] = 'F';
        out[i++] = '_';
        for (const char *p = name; *p && i + 1 < size; p++)
                out[i++] = *p == '-' ? '_' : (char) toupper((unsigned char) *p);
        out[i] = 0;
}

static void load_config(sfw_opt *opts, const char *path)
{
        FILE *f = fopen(path, "re");
        char line[4096];
        unsigned lineno = 0;
        if (!f) {
                fprintf(stderr, "%s: --config: cannot open '%s': %s\n", sfw_prog, path, strerror(errno));
                exit(2);
        }
        while (fgets(line, sizeof(line), f)) {
                char *s = line, *eq, *e;
                sfw_opt *o;
                lineno++;
                if (!strchr(line, '\n') && !feof(f)) {
                        fprintf(stderr, "%s: %s:%u: line too long\n", sfw_prog, path, lineno);
                        exit(2);
                }
                while (isspace((unsigned char) *s))
                        s++;
                if (!*s || *s == '#')
                        continue;
                e = s + strlen(s);
                while (e > s && isspace((unsigned char) e[-1]))
                        *--e = 0;
                eq = strchr(s, '=');
                if (!eq) {
                        fprintf(stderr, "%s: %s:%u: expected NAME=VALUE\n", sfw_prog, path, lineno);
                        exit(2);
                }
                e = eq;
                while (e > s && isspace((unsigned char) e[-1]))
                        e--;
                o = opt_find_mut(opts, s, (size_t) (e - s));
                if (!o) {
                        fprintf(stderr, "%s: %s:%u: unknown setting '%.*s'\n", sfw_prog, path, lineno,
                                (int) (e - s), s);
                        exit(2);
                }
                eq++;
                while (isspace((unsigned char) *eq))
                        eq++;
                if (strstr(eq, "{{")) {
                        fprintf(stderr, "%s: %s:%u: unresolved placeholder in '%s' (the day-0 "
                                        "template was not rendered)\n", sfw_prog, path, lineno, eq);
                        exit(2);
                }
                opt_set(o, eq, 2);
        }
        fclose(f);
}

void sfw_options_parse(int argc, char **argv, sfw_opt *opts, const char *summary,
                       const char *details)
{
        const char *config = NULL;
        struct cl {
                sfw_opt *o;
                const char *v;
        } *cl = sfw_xcalloc((size_t) argc + 1, sizeof(*cl));
        size_t ncl = 0;

        if (gethostname(sfw_hostname, sizeof(sfw_hostname) - 1) < 0 || !*sfw_hostname)
                snprintf(sfw_hostname, sizeof(sfw_hostname), "%s", sfw_prog);
        start_us = sfw_now_us();

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *eq, *v = NULL;
                sfw_opt *o;
                size_t nlen;
                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        print_help(opts, summary, details);
                        exit(0);
                }
                if (strncmp(a, "--", 2) != 0)
                        sfw_usage_die(NULL, "unexpected argument '%s'", a);
                a += 2;
                eq = strchr(a, '=');
                nlen = eq ? (size_t) (eq - a) : strlen(a);
                if (nlen == 6 && strncmp(a, "config", 6) == 0) {
                        if (eq)
                                config = eq + 1;
                        else if (i + 1 < argc)
                                config = argv[++i];
                        else
                                sfw_usage_die("config", "needs a FILE");
                        continue;
                }
                o = opt_find_mut(opts, a, nlen);
                if (!o)
                        sfw_usage_die(NULL, "unknown option '--%.*s'", (int) nlen, a);
                if (o->flags & SFW_OPT_BOOL) {
                        v = eq ? eq + 1 : "1";
                } else if (eq) {
                        v = eq + 1;
                } else {
                        if (i + 1 >= argc)
                                sfw_usage_die(o->name, "needs a value (%s)", o->metavar ? o->metavar : "VALUE");
                        v = argv[++i];
                }
                cl[ncl].o = o;
                cl[ncl++].v = v;
        }
        /* lowest first: default, environment, config file, command line */
        for (sfw_opt *o = opts; o->name; o++) {
                char en[128];
                const char *ev;
                if (o->def)
                        opt_set(o, o->def, 0);
                env_name(o->name, en, sizeof(en));
                ev = getenv(en);
                if (ev && *ev) {
                        if (o->flags & SFW_OPT_MULTI) {
                                char *copy = sfw_xstrdup(ev), *save = NULL;
                                for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
                                        opt_set(o, t, 1);
                                free(copy);
                        } else
                                opt_set(o, ev, 1);
                }
        }
        if (!config && getenv("SF_CONFIG") && *getenv("SF_CONFIG"))
                config = getenv("SF_CONFIG");
        if (config)
                load_config(opts, config);
        for (size_t i = 0; i < ncl; i++)
                opt_set(cl[i].o, cl[i].v, 3);
        free(cl);
}

const char *sfw_opt_str(const sfw_opt *opts, const char *name)
{
        const sfw_opt *o = sfw_opt_find(opts, name);
        if (!o) {
                fprintf(stderr, "%s: internal: no option '%s'\n", sfw_prog, name);
                abort();
        }
        return o->n ? o->vals[o->n - 1] : NULL;
}

long long sfw_opt_int(const sfw_opt *opts, const char *name, long long min, long long max)
{
        const char *s = sfw_opt_str(opts, name);
        char *end;
        long long v;
        if (!s)
                sfw_usage_die(name, "is required");
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                sfw_usage_die(name, "'%s' is not an integer from %lld to %lld", s, min, max);
        return v;
}

double sfw_opt_double(const sfw_opt *opts, const char *name, double min, double max)
{
        const char *s = sfw_opt_str(opts, name);
        char *end;
        double v;
        if (!s)
                sfw_usage_die(name, "is required");
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= min && v <= max))
                sfw_usage_die(name, "'%s' is not a number from %g to %g", s, min, max);
        return v;
}

bool sfw_opt_bool(const sfw_opt *opts, const char *name)
{
        const char *s = sfw_opt_str(opts, name);
        return s && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0);
}

/* ---- addresses ---- */

int sfw_addr_parse(const char *s, bool allow_port_only, sfw_addr *ret)
{
        char host[64];
        const char *port;
        char *end;
        unsigned long p;
        memset(ret, 0, sizeof(*ret));
        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *rb = strchr(s, ']');
                if (!rb || rb[1] != ':' || (size_t) (rb - s - 1) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, (size_t) (rb - s - 1));
                host[rb - s - 1] = 0;
                port = rb + 2;
        } else {
                const char *colon = strrchr(s, ':');
                if (!colon) {
                        if (!allow_port_only)
                                return -EINVAL;
                        strcpy(host, "0.0.0.0");
                        port = s;
                } else {
                        if ((size_t) (colon - s) >= sizeof(host) || colon == s)
                                return -EINVAL;
                        memcpy(host, s, (size_t) (colon - s));
                        host[colon - s] = 0;
                        port = colon + 1;
                }
        }
        errno = 0;
        p = strtoul(port, &end, 10);
        if (errno || end == port || *end || p > 65535)
                return -EINVAL;
        if (strchr(host, ':')) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ret->ss;
                if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
                        return -EINVAL;
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t) p);
                ret->len = sizeof(*a6);
        } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *) &ret->ss;
                if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
                        return -EINVAL;
                a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t) p);
                ret->len = sizeof(*a4);
        }
        return 0;
}

char *sfw_addr_ip(const struct sockaddr *sa, char *buf, size_t size)
{
        if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, (socklen_t) size);
        else if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) size);
        else
                snprintf(buf, size, "?");
        return buf;
}

uint16_t sfw_addr_port(const struct sockaddr *sa)
{
        if (sa->sa_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
        if (sa->sa_family == AF_INET)
                return ntohs(((const struct sockaddr_in *) sa)->sin_port);
        return 0;
}

char *sfw_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
        char ip[INET6_ADDRSTRLEN];
        sfw_addr_ip(sa, ip, sizeof(ip));
        if (sa->sa_family == AF_INET6)
                snprintf(buf, size, "[%s]:%u", ip, sfw_addr_port(sa));
        else
                snprintf(buf, size, "%s:%u", ip, sfw_addr_port(sa));
        return buf;
}

/* ---- event loop ---- */

static int epfd = -1;
static int sigpipe_fds[2] = { -1, -1 };
static volatile sig_atomic_t stop_signals;
static bool quit;
static sfw_timer *timers;
static void **deferred;
static size_t n_deferred, cap_deferred;
static sfw_io sig_io;

static void default_on_stop(void) { sfw_loop_quit(); }
void (*sfw_on_stop)(void) = default_on_stop;

static void on_signal(int sig)
{
        int saved = errno;
        char c = (char) sig;
        stop_signals++;
        if (stop_signals > 1 && sig != SIGHUP)
                _exit(0);
        if (write(sigpipe_fds[1], &c, 1) < 0) {
                /* pipe full: a wake-up is already pending */
        }
        errno = saved;
}

static void sig_cb(sfw_io *io, uint32_t events)
{
        char buf[16];
        ssize_t n;
        (void) events;
        while ((n = read(io->fd, buf, sizeof(buf))) > 0)
                for (ssize_t i = 0; i < n; i++) {
                        if (buf[i] == SIGHUP)
                                continue;
                        static bool once;
                        if (!once) {
                                once = true;
                                sfw_log("%s received, stopping", buf[i] == SIGINT ? "SIGINT" : "SIGTERM");
                                sfw_on_stop();
                        }
                }
}

void sfw_loop_init(void)
{
        struct sigaction sa;
        setvbuf(stdout, NULL, _IOLBF, 0);
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0 || pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
                perror("epoll/pipe");
                exit(1);
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
        sfw_io_init(&sig_io, sigpipe_fds[0], sig_cb, NULL);
        sfw_io_want(&sig_io, EPOLLIN);
}

bool sfw_stopping(void) { return stop_signals > 0; }
void sfw_loop_quit(void) { quit = true; }

void sfw_io_init(sfw_io *io, int fd, sfw_io_cb cb, void *data)
{
        io->fd = fd;
        io->cb = cb;
        io->events = 0;
        io->added = false;
        io->data = data;
}

void sfw_io_want(sfw_io *io, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = io };
        if (io->fd < 0)
                return;
        if (!io->added) {
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0) {
                        sfw_log("epoll_ctl add fd %d: %s", io->fd, strerror(errno));
                        abort();
                }
                io->added = true;
        } else if (events != io->events) {
                if (epoll_ctl(epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0) {
                        sfw_log("epoll_ctl mod fd %d: %s", io->fd, strerror(errno));
                        abort();
                }
        }
        io->events = events;
}

void sfw_io_close(sfw_io *io)
{
        if (io->fd < 0)
                return;
        if (io->added)
                epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
        close(io->fd);
        io->fd = -1;
        io->added = false;
}

void sfw_close_reset(sfw_io *io)
{
        struct linger l = { 1, 0 };
        if (io->fd >= 0)
                setsockopt(io->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        sfw_io_close(io);
}

void sfw_timer_init(sfw_timer *t, void (*cb)(sfw_timer *), void *data)
{
        memset(t, 0, sizeof(*t));
        t->cb = cb;
        t->data = data;
}

void sfw_timer_stop(sfw_timer *t)
{
        if (!t->armed)
                return;
        for (sfw_timer **pp = &timers; *pp; pp = &(*pp)->next)
                if (*pp == t) {
                        *pp = t->next;
                        break;
                }
        t->armed = false;
        t->next = NULL;
}

void sfw_timer_arm_us(sfw_timer *t, uint64_t delay_us)
{
        sfw_timer **pp;
        sfw_timer_stop(t);
        t->when_us = sfw_now_us() + delay_us;
        for (pp = &timers; *pp && (*pp)->when_us <= t->when_us; pp = &(*pp)->next)
                ;
        t->next = *pp;
        *pp = t;
        t->armed = true;
}

void sfw_timer_arm(sfw_timer *t, uint64_t delay_ms) { sfw_timer_arm_us(t, delay_ms * 1000); }

void sfw_defer_free(void *p)
{
        if (n_deferred == cap_deferred) {
                cap_deferred = cap_deferred ? cap_deferred * 2 : 16;
                deferred = sfw_xrealloc(deferred, cap_deferred * sizeof(void *));
        }
        deferred[n_deferred++] = p;
}

static void run_deferred(void)
{
        for (size_t i = 0; i < n_deferred; i++)
                free(deferred[i]);
        n_deferred = 0;
}

int sfw_loop_run(void)
{
        struct epoll_event evs[64];
        while (!quit) {
                int timeout = -1, n;
                uint64_t now = sfw_now_us();
                if (timers)
                        timeout = timers->when_us <= now ? 0 : (int) ((timers->when_us - now + 999) / 1000);
                n = epoll_wait(epfd, evs, (int) SFW_ARRAY_SIZE(evs), timeout);
                if (n < 0 && errno != EINTR) {
                        sfw_log("epoll_wait: %s", strerror(errno));
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        sfw_io *io = evs[i].data.ptr;
                        if (io->fd >= 0)
                                io->cb(io, evs[i].events);
                }
                run_deferred();
                now = sfw_now_us();
                while (timers && timers->when_us <= now && !quit) {
                        sfw_timer *t = timers;
                        timers = t->next;
                        t->armed = false;
                        t->next = NULL;
                        t->cb(t);
                }
                run_deferred();
        }
        run_deferred();
        return 0;
}

void sfw_loop_finish(void)
{
        while (timers)
                sfw_timer_stop(timers);
        run_deferred();
        free(deferred);
        deferred = NULL;
        cap_deferred = 0;
        sfw_io_close(&sig_io);
        if (sigpipe_fds[1] >= 0)
                close(sigpipe_fds[1]);
        sigpipe_fds[1] = -1;
        close(epfd);
        epfd = -1;
}

void sfw_options_free(sfw_opt *opts)
{
        for (sfw_opt *o = opts; o->name; o++) {
                for (size_t i = 0; i < o->n; i++)
                        free(o->vals[i]);
                free(o->vals);
                o->vals = NULL;
                o->n = 0;
        }
}

/* ---- sockets ---- */

int sfw_listen_tcp(const sfw_addr *a, int backlog)
{
        int one = 1;
        int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *) &a->ss, a->len) < 0 || listen(fd, backlog) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int sfw_connect_tcp(const sfw_addr *a, int *ret_fd)
{
        int one = 1;
        int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (const struct sockaddr *) &a->ss, a->len) < 0 && errno != EINPROGRESS) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

int sfw_connect_result(int fd)
{
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return -errno;
        return -err;
}

/* ---- misc ---- */

void sfw_json_ident(sfw_buf *b)
{
        sfw_buf_puts(b, "\"program\": ");
        sfw_buf_json_str(b, sfw_prog);
        sfw_buf_puts(b, ", \"role\": ");
        sfw_buf_json_str(b, sfw_role);
        sfw_buf_puts(b, ", \"name\": ");
        sfw_buf_json_str(b, sfw_hostname);
        sfw_buf_printf(b, ", \"uptime_s\": %.1f, ", (double) (sfw_now_us() - start_us) / 1e6);
}

uint64_t sfw_fnv1a64(const void *data, size_t n)
{
        const unsigned char *p = data;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}
