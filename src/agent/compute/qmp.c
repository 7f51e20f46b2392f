/* QMP client: line-framed JSON over a unix socket, with poll()-bounded reads, command ids
 * and a queue for the events QEMU sends between replies. */
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "agent/compute/qmp.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("qmp");

struct sf_qmp {
        int fd;
        char *buf; /* received, not yet parsed */
        size_t len, cap;
        json_t *version;
        int timeout_ms;
        uint64_t next_id;
        bool broken; /* a reply may still be in flight: no further commands */
        bool eof;
        sf_qmp_event **events; /* FIFO: events[0] is the oldest */
        size_t n_events;
        uint64_t dropped;
};

void sf_qmp_event_free(sf_qmp_event *ev)
{
        if (!ev)
                return;
        free(ev->name);
        json_decref(ev->data);
        free(ev);
}

void sf_qmp_close(sf_qmp *q)
{
        if (!q)
                return;
        closep(&q->fd);
        free(q->buf);
        json_decref(q->version);
        for (size_t i = 0; i < q->n_events; i++)
                sf_qmp_event_free(q->events[i]);
        free(q->events);
        free(q);
}

void sf_qmp_set_timeout(sf_qmp *q, int timeout_ms)
{
        q->timeout_ms = timeout_ms > 0 ? timeout_ms : SF_QMP_DEFAULT_TIMEOUT_MS;
}

json_t *sf_qmp_version(sf_qmp *q) { return q->version; }
int sf_qmp_fd(sf_qmp *q) { return q->fd; }
size_t sf_qmp_events_pending(sf_qmp *q) { return q->n_events; }
uint64_t sf_qmp_events_dropped(sf_qmp *q) { return q->dropped; }

static uint64_t deadline_after(int timeout_ms)
{
        return sf_now_usec() + (uint64_t) MAX(timeout_ms, 0) * 1000;
}

static int remaining_ms(uint64_t deadline)
{
        uint64_t now = sf_now_usec();
        if (now >= deadline)
                return 0;
        return (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
}

/* ---- addresses ---- */

/* Fills addr for path. A path too long for sun_path is reached through its directory:
 * "/proc/self/fd/N/name", with *ret_dirfd holding N (the caller closes it after use). */
static int unix_addr(const char *path, struct sockaddr_un *addr, socklen_t *ret_len,
                     int *ret_dirfd, sf_err *e)
{
        *addr = (struct sockaddr_un) { .sun_family = AF_UNIX };
        *ret_dirfd = -EBADF;
        if (!path || !*path)
                return sf_err_set(e, -EINVAL, NULL, "empty socket path");
        if (strlen(path) < sizeof(addr->sun_path)) {
                strcpy(addr->sun_path, path);
        } else {
                _cleanup_free_ char *d = xstrdup(path), *b = xstrdup(path);
                const char *dir = dirname(d), *base = basename(b);
                int dfd, n;

                dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return sf_err_errno(e, -errno, "open '%s'", dir);
                n = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", dfd,
                             base);
                if (n < 0 || (size_t) n >= sizeof(addr->sun_path)) {
                        close(dfd);
                        return sf_err_set(e, -ENAMETOOLONG, NULL, "socket name '%s' too long",
                                          base);
                }
                *ret_dirfd = dfd;
        }
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) +
                                strlen(addr->sun_path) + 1);
        return 0;
}

int sf_qmp_listen(const char *path, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF, dirfd = -EBADF;
        struct sockaddr_un addr;
        struct stat st;
        socklen_t len;
        int r;

        r = unix_addr(path, &addr, &len, &dirfd, e);
        if (r < 0)
                return r;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return sf_err_set(e, -EEXIST, NULL, "'%s' exists and is not a socket",
                                          path);
                if (unlink(path) < 0)
                        return sf_err_errno(e, -errno, "remove '%s'", path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sf_err_errno(e, -errno, "socket");
        if (bind(fd, (struct sockaddr *) &addr, len) < 0)
                return sf_err_errno(e, -errno, "bind '%s'", path);
        if (chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
                r = -errno;
                unlink(path);
                return sf_err_errno(e, r, "listen '%s'", path);
        }
        return TAKE_FD(fd);
}

/* ---- framing ---- */

static int send_all(sf_qmp *q, const char *data, size_t len, uint64_t deadline, sf_err *e)
{
        while (len > 0) {
                struct pollfd p = { .fd = q->fd, .events = POLLOUT };
                ssize_t n;
                int k = poll(&p, 1, remaining_ms(deadline));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "qmp: poll");
                }
                if (k == 0)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "qmp: send timed out");
                n = send(q->fd, data, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        if (errno == EPIPE || errno == ECONNRESET) {
                                q->eof = true;
                                return sf_err_set(e, -EPIPE, NULL,
                                                  "qmp: QEMU closed the connection");
                        }
                        return sf_err_errno(e, -errno, "qmp: send");
                }
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Parses one complete line out of the buffer, if there is one. Returns 1 with *ret set, 0
 * when no complete line is buffered. Empty lines are skipped. */
static int take_line(sf_qmp *q, json_t **ret, sf_err *e)
{
        for (;;) {
                char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
                size_t n, used;
                json_error_t jerr;
                json_t *j;

                if (!nl)
                        return 0;
                used = (size_t) (nl - q->buf) + 1;
                n = used - 1;
                while (n > 0 && (q->buf[n - 1] == '\r' || q->buf[n - 1] == ' '))
                        n--;
                j = n ? json_loadb(q->buf, n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
                memmove(q->buf, q->buf + used, q->len - used);
                q->len -= used;
                if (!n)
                        continue;
                if (!j || !json_is_object(j)) {
                        json_decref(j);
                        q->broken = true;
                        return sf_err_set(e, -EPROTO, NULL, "qmp: malformed message from QEMU%s%s",
                                          j ? "" : ": ", j ? "" : jerr.text);
                }
                *ret = j;
                return 1;
        }
}

/* Reads one message, waiting until deadline. */
static int read_message(sf_qmp *q, uint64_t deadline, json_t **ret, sf_err *e)
{
        for (;;) {
                struct pollfd p = { .fd = q->fd, .events = POLLIN };
                ssize_t n;
                int k = take_line(q, ret, e);

                if (k != 0)
                        return k < 0 ? k : 0;
                if (q->eof)
                        return sf_err_set(e, -EPIPE, NULL, "qmp: QEMU closed the connection");
                k = poll(&p, 1, remaining_ms(deadline));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "qmp: poll");
                }
                if (k == 0)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "qmp: no message from QEMU");
                if (q->cap - q->len < 4096) {
                        if (q->cap >= SF_QMP_MAX_MESSAGE) {
                                q->broken = true;
                                return sf_err_set(e, -EMSGSIZE, NULL,
                                                  "qmp: message larger than %d bytes",
                                                  SF_QMP_MAX_MESSAGE);
                        }
                        q->cap = q->cap ? q->cap * 2 : 8192;
                        q->buf = xrealloc(q->buf, q->cap);
                }
                n = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        if (errno == ECONNRESET) {
                                q->eof = true;
                                continue;
                        }
                        return sf_err_errno(e, -errno, "qmp: recv");
                }
                if (n == 0) {
                        q->eof = true;
                        continue;
                }
                q->len += (size_t) n;
        }
}

static void queue_event(sf_qmp *q, json_t *msg)
{
        sf_qmp_event *ev = new0(sf_qmp_event, 1);
        json_t *ts = json_object_get(msg, "timestamp");
        json_t *data = json_object_get(msg, "data");

        ev->name = xstrdup(json_string_value(json_object_get(msg, "event")));
        ev->data = json_incref(data);
        if (json_is_object(ts)) {
                json_int_t s = json_integer_value(json_object_get(ts, "seconds"));
                json_int_t us = json_integer_value(json_object_get(ts, "microseconds"));
                if (s > 0 && us >= 0)
                        ev->timestamp_usec = (uint64_t) s * 1000000 + (uint64_t) us;
        }
        log_debug("event %s", ev->name);
        if (q->n_events == SF_QMP_MAX_EVENTS) {
                sf_qmp_event_free(q->events[0]);
                memmove(q->events, q->events + 1, (q->n_events - 1) * sizeof(*q->events));
                q->n_events--;
                q->dropped++;
        }
        q->events = xrealloc(q->events, (q->n_events + 1) * sizeof(*q->events));
        q->events[q->n_events++] = ev;
}

static bool is_event(json_t *msg)
{
        return json_is_string(json_object_get(msg, "event"));
}

static int error_code(const char *cls)
{
        if (!cls)
                return -EIO;
        if (STREQ(cls, "CommandNotFound"))
                return -EOPNOTSUPP;
        if (STREQ(cls, "DeviceNotFound"))
                return -ENOENT;
        if (STREQ(cls, "KVMMissingCap"))
                return -EOPNOTSUPP;
        return -EIO;
}

int sf_qmp_execute_timeout(sf_qmp *q, const char *cmd, json_t *args, int timeout_ms,
                           json_t **ret, sf_err *e)
{
        _cleanup_json_ json_t *req = json_object();
        _cleanup_free_ char *text = NULL;
        uint64_t deadline, id;
        int r;

        if (q->broken)
                return sf_err_set(e, -EPIPE, NULL,
                                  "qmp '%s': the connection is unusable after an earlier error",
                                  cmd);
        if (args && !json_is_object(args))
                return sf_err_set(e, -EINVAL, NULL, "qmp '%s': arguments must be an object",
                                  cmd);
        deadline = deadline_after(timeout_ms < 0 ? q->timeout_ms : timeout_ms);
        id = ++q->next_id;
        json_object_set_new(req, "execute", json_string(cmd));
        if (args)
                json_object_set(req, "arguments", args);
        json_object_set_new(req, "id", json_integer((json_int_t) id));
        text = json_dumps(req, JSON_COMPACT);
        if (!text)
                return sf_err_set(e, -EINVAL, NULL, "qmp '%s': cannot encode the request", cmd);
        text = xrealloc(text, strlen(text) + 2);
        strcat(text, "\n");
        r = send_all(q, text, strlen(text), deadline, e);
        if (r < 0) {
                q->broken = true;
                return sf_err_prefix(e, "qmp '%s'", cmd);
        }
        for (;;) {
                _cleanup_json_ json_t *msg = NULL;
                json_t *rid, *err, *rv;

                r = read_message(q, deadline, &msg, e);
                if (r < 0) {
                        /* The reply may still come: it must not be taken for another's. */
                        q->broken = true;
                        if (r == -ETIMEDOUT)
                                return sf_err_set(e, r, NULL,
                                                  "qmp '%s': no reply from QEMU within %d ms",
                                                  cmd,
                                                  timeout_ms < 0 ? q->timeout_ms : timeout_ms);
                        return sf_err_prefix(e, "qmp '%s'", cmd);
                }
                if (is_event(msg)) {
                        queue_event(q, msg);
                        continue;
                }
                rid = json_object_get(msg, "id");
                if (!rid || !json_is_integer(rid) || (uint64_t) json_integer_value(rid) != id) {
                        log_debug("qmp '%s': ignoring a message that is not our reply", cmd);
                        continue;
                }
                err = json_object_get(msg, "error");
                if (err) {
                        const char *cls = json_string_value(json_object_get(err, "class"));
                        const char *desc = json_string_value(json_object_get(err, "desc"));
                        return sf_err_set(e, error_code(cls), NULL, "qmp '%s': %s", cmd,
                                          desc ? desc : cls ? cls : "error without description");
                }
                rv = json_object_get(msg, "return");
                if (!rv) {
                        q->broken = true;
                        return sf_err_set(e, -EPROTO, NULL,
                                          "qmp '%s': reply has neither return nor error", cmd);
                }
                if (ret)
                        *ret = json_incref(rv);
                return 0;
        }
}

int sf_qmp_execute(sf_qmp *q, const char *cmd, json_t *args, json_t **ret, sf_err *e)
{
        return sf_qmp_execute_timeout(q, cmd, args, -1, ret, e);
}

int sf_qmp_open_fd(int fd, int timeout_ms, sf_qmp **ret, sf_err *e)
{
        _cleanup_(sf_qmp_closep) sf_qmp *q = new0(sf_qmp, 1);
        _cleanup_json_ json_t *greeting = NULL;
        json_t *qmp;
        uint64_t deadline;
        int r, fl;

        q->fd = fd;
        sf_qmp_set_timeout(q, timeout_ms);
        deadline = deadline_after(q->timeout_ms);
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return sf_err_errno(e, -errno, "qmp: fcntl");
        r = read_message(q, deadline, &greeting, e);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        return sf_err_set(e, r, NULL, "qmp: no greeting from QEMU within %d ms",
                                          q->timeout_ms);
                return sf_err_prefix(e, "qmp greeting");
        }
        qmp = json_object_get(greeting, "QMP");
        if (!json_is_object(qmp))
                return sf_err_set(e, -EPROTO, NULL, "qmp: the first message is not a greeting");
        q->version = json_incref(json_object_get(qmp, "version"));
        r = sf_qmp_execute_timeout(q, "qmp_capabilities", NULL, remaining_ms(deadline), NULL,
                                   e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

int sf_qmp_connect(const char *path, int timeout_ms, sf_qmp **ret, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF, dirfd = -EBADF;
        struct sockaddr_un addr;
        socklen_t len;
        uint64_t deadline = deadline_after(timeout_ms > 0 ? timeout_ms
                                                          : SF_QMP_DEFAULT_TIMEOUT_MS);
        int r;

        r = unix_addr(path, &addr, &len, &dirfd, e);
        if (r < 0)
                return sf_err_prefix(e, "qmp connect");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return sf_err_errno(e, -errno, "socket");
        for (;;) {
                if (connect(fd, (struct sockaddr *) &addr, len) == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN && remaining_ms(deadline) > 0) {
                        /* The listen backlog is full: QEMU has not accepted yet. */
                        nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
                        continue;
                }
                return sf_err_errno(e, errno == EAGAIN ? -ETIMEDOUT : -errno,
                                    "qmp: connect '%s'", path);
        }
        return sf_qmp_open_fd(TAKE_FD(fd), remaining_ms(deadline), ret, e);
}

int sf_qmp_poll_events(sf_qmp *q, int timeout_ms, sf_err *e)
{
        uint64_t deadline = deadline_after(timeout_ms);
        for (;;) {
                _cleanup_json_ json_t *msg = NULL;
                int r = read_message(q, deadline, &msg, e);
                if (r == -ETIMEDOUT) {
                        sf_err_clear(e);
                        return (int) q->n_events;
                }
                if (r < 0)
                        return r;
                if (is_event(msg))
                        queue_event(q, msg);
                else
                        log_debug("ignoring a reply without a command");
                /* Once something came, take only what is already there. */
                deadline = sf_now_usec();
        }
}

static sf_qmp_event *dequeue(sf_qmp *q, const char *name)
{
        for (size_t i = 0; i < q->n_events; i++) {
                sf_qmp_event *ev = q->events[i];
                if (name && STRNEQ(ev->name, name))
                        continue;
                memmove(q->events + i, q->events + i + 1,
                        (q->n_events - i - 1) * sizeof(*q->events));
                q->n_events--;
                return ev;
        }
        return NULL;
}

int sf_qmp_wait_event(sf_qmp *q, const char *name, int timeout_ms, sf_qmp_event **ret,
                      sf_err *e)
{
        uint64_t deadline = deadline_after(timeout_ms);
        for (;;) {
                _cleanup_json_ json_t *msg = NULL;
                sf_qmp_event *ev = dequeue(q, name);
                int r;

                if (ev) {
                        *ret = ev;
                        return 0;
                }
                r = read_message(q, deadline, &msg, e);
                if (r == -ETIMEDOUT)
                        return sf_err_set(e, r, NULL, "qmp: no %s event within %d ms",
                                          name ? name : "", timeout_ms);
                if (r < 0)
                        return r;
                if (is_event(msg))
                        queue_event(q, msg);
        }
}

int sf_qmp_next_event(sf_qmp *q, int timeout_ms, sf_qmp_event **ret, sf_err *e)
{
        return sf_qmp_wait_event(q, NULL, timeout_ms, ret, e);
}
