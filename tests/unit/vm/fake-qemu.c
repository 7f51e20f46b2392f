/* fake-qemu: stands in for qemu-system-x86_64 in the VM driver's unit tests (no root, no
 * QEMU). It reads the command line the driver builds (QMP on inherited sockets, the console
 * file), writes a line to the console, and answers QMP the way QEMU does for the commands
 * the driver uses, sending the same events. system_powerdown makes the "guest" power off
 * (SHUTDOWN guest-shutdown, exit 0) unless FAKE_QEMU_IGNORE_POWERDOWN is set; quit and
 * SIGTERM exit 0 after SHUTDOWN host-qmp-quit / host-signal. "-cpu fail" exits at once with
 * status 1 and a QEMU-style error on stderr. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <jansson.h>

#include "lib/macro.h"

static int qmp_listen = -1, qmp_client = -1, events = -1;
static bool paused;
static const char *name = "";
static volatile sig_atomic_t got_term;

static void on_term(int sig) { got_term = 1; }

static void send_line(int fd, const char *s)
{
        size_t len = strlen(s);
        if (fd < 0)
                return;
        while (len) {
                ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
                if (n <= 0)
                        return;
                s += n;
                len -= (size_t) n;
        }
        send(fd, "\r\n", 2, MSG_NOSIGNAL);
}

static void send_json(int fd, json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT);
        send_line(fd, s);
        free(s);
        json_decref(j);
}

static void event(const char *ev, json_t *data)
{
        struct timeval tv;
        gettimeofday(&tv, NULL);
        for (int i = 0; i < 2; i++) {
                int fd = i ? qmp_client : events;
                json_t *j = json_pack("{s:s, s:{s:I, s:I}}", "event", ev, "timestamp", "seconds",
                                      (json_int_t) tv.tv_sec, "microseconds",
                                      (json_int_t) tv.tv_usec);
                if (data)
                        json_object_set(j, "data", data);
                send_json(fd, j);
        }
        json_decref(data);
}

static void greet(int fd)
{
        send_line(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                      "\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}");
}

static _noreturn_ void shutdown_exit(bool guest, const char *reason, json_t *reply_id, int fd)
{
        event("SHUTDOWN", json_pack("{s:b, s:s}", "guest", guest, "reason", reason));
        if (reply_id)
                send_json(fd, json_pack("{s:{}, s:O}", "return", "id", reply_id));
        exit(0);
}

static void reply(int fd, json_t *id, json_t *ret)
{
        json_t *j = json_pack("{s:o}", "return", ret ? ret : json_object());
        if (id)
                json_object_set(j, "id", id);
        send_json(fd, j);
}

static void handle(int fd, const char *line)
{
        json_t *req = json_loads(line, 0, NULL);
        const char *cmd = json_string_value(json_object_get(req, "execute"));
        json_t *id = json_object_get(req, "id");

        if (!cmd) {
                json_decref(req);
                return;
        }
        if (STREQ(cmd, "qmp_capabilities")) {
                reply(fd, id, NULL);
        } else if (STREQ(cmd, "query-status")) {
                reply(fd, id, json_pack("{s:s, s:b, s:b}", "status", paused ? "paused" : "running",
                                        "singlestep", 0, "running", !paused));
        } else if (STREQ(cmd, "query-name")) {
                reply(fd, id, json_pack("{s:s}", "name", name));
        } else if (STREQ(cmd, "stop")) {
                if (!paused)
                        event("STOP", NULL);
                paused = true;
                reply(fd, id, NULL);
        } else if (STREQ(cmd, "cont")) {
                if (paused)
                        event("RESUME", NULL);
                paused = false;
                reply(fd, id, NULL);
        } else if (STREQ(cmd, "system_reset")) {
                event("RESET", json_pack("{s:b, s:s}", "guest", 0, "reason", "host-qmp-system-reset"));
                reply(fd, id, NULL);
        } else if (STREQ(cmd, "system_powerdown")) {
                event("POWERDOWN", NULL);
                reply(fd, id, NULL);
                if (!getenv("FAKE_QEMU_IGNORE_POWERDOWN") && !paused)
                        shutdown_exit(true, "guest-shutdown", NULL, fd);
        } else if (STREQ(cmd, "quit")) {
                shutdown_exit(false, "host-qmp-quit", id, fd);
        } else {
                json_t *j = json_pack("{s:{s:s, s:s++}}", "error", "class", "CommandNotFound",
                                      "desc", "The command ", cmd, " has not been found");
                if (id)
                        json_object_set(j, "id", id);
                send_json(fd, j);
        }
        json_decref(req);
}

/* Reads what fd has and handles complete lines; false at EOF. */
static bool serve(int fd, char *buf, size_t *len, size_t cap)
{
        ssize_t n = recv(fd, buf + *len, cap - *len - 1, 0);
        char *nl;
        if (n <= 0)
                return false;
        *len += (size_t) n;
        buf[*len] = 0;
        while ((nl = strchr(buf, '\n'))) {
                *nl = 0;
                handle(fd, buf);
                *len -= (size_t) (nl + 1 - buf);
                memmove(buf, nl + 1, *len + 1);
        }
        return true;
}

/* "a,,b" in a QEMU option value is "a,b". */
static char *opt_value(const char *opts, const char *key)
{
        size_t kl = strlen(key);
        for (const char *p = opts; p && *p;) {
                if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
                        char *v = malloc(strlen(p) + 1), *o = v;
                        for (p += kl + 1; *p; p++) {
                                if (*p == ',') {
                                        if (p[1] != ',')
                                                break;
                                        p++;
                                }
                                *o++ = *p;
                        }
                        *o = 0;
                        return v;
                }
                while (*p && !(*p == ',' && p[1] != ','))
                        p += *p == ',' ? 2 : 1;
                if (*p == ',')
                        p++;
        }
        return NULL;
}

int main(int argc, char **argv)
{
        char *console = NULL;
        char qbuf[65536], ebuf[65536];
        size_t qlen = 0, elen = 0;

        for (int i = 1; i + 1 < argc; i++) {
                const char *v = argv[i + 1];
                if (STREQ(argv[i], "-cpu") && STREQ(v, "fail")) {
                        fprintf(stderr, "qemu-system-x86_64: unable to find CPU model 'fail'\n");
                        return 1;
                }
                if (STREQ(argv[i], "-name")) {
                        char *n = opt_value(v, "guest");
                        if (n)
                                name = n;
                }
                if (STREQ(argv[i], "-chardev")) {
                        char *fd = opt_value(v, "fd");
                        if (strncmp(v, "socket,id=qmp,", 14) == 0 && fd)
                                qmp_listen = atoi(fd);
                        else if (strncmp(v, "socket,id=events,", 17) == 0 && fd)
                                events = atoi(fd);
                        else if (strncmp(v, "file,id=console,", 16) == 0)
                                console = opt_value(v, "path");
                        free(fd);
                }
        }
        if (qmp_listen < 0 || events < 0 || !console) {
                fprintf(stderr, "fake-qemu: missing QMP sockets or console\n");
                return 1;
        }
        signal(SIGTERM, on_term);
        {
                int c = open(console, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
                if (c >= 0) {
                        dprintf(c, "FAKE-GUEST: booted %s\n", name);
                        close(c);
                }
        }
        greet(events);
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = qmp_listen, .events = POLLIN },
                        { .fd = qmp_client, .events = POLLIN },
                        { .fd = events, .events = POLLIN },
                };
                if (qmp_client >= 0)
                        p[0].fd = -1; /* one client at a time, as QEMU */
                if (poll(p, 3, 100) < 0 && errno != EINTR)
                        return 1;
                if (got_term)
                        shutdown_exit(false, "host-signal", NULL, -1);
                if (p[0].revents & POLLIN) {
                        qmp_client = accept4(qmp_listen, NULL, NULL, SOCK_CLOEXEC);
                        qlen = 0;
                        greet(qmp_client);
                }
                if (p[1].revents && !serve(qmp_client, qbuf, &qlen, sizeof(qbuf))) {
                        close(qmp_client);
                        qmp_client = -1;
                }
                if (p[2].revents && !serve(events, ebuf, &elen, sizeof(ebuf)))
                        events = -1;
        }
}
