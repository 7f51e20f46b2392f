/* Unit tests for the QMP client against a scripted fake QEMU on a socket pair (and on a unix
 * socket path): greeting and capabilities, replies matched by id, events interleaved with
 * replies and kept in order, error replies with QEMU's text, timeouts, EOF, framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "agent/compute/qmp.h"
#include "lib/util.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 2, \"major\": 7}, " \
                 "\"package\": \"test\"}, \"capabilities\": [\"oob\"]}}\r\n"

/* One step of the fake server: optionally read a request containing expect, then write
 * reply (with "%ID%" replaced by the request's id), then optionally close. */
typedef struct step {
        const char *expect;
        const char *reply;
        bool close_after;
        unsigned delay_ms;
} step;

typedef struct server {
        int fd;
        const step *steps;
        char error[256];
        pthread_t thread;
} server;

static int read_line(int fd, char *buf, size_t max)
{
        size_t n = 0;
        while (n + 1 < max) {
                ssize_t k = read(fd, buf + n, 1);
                if (k <= 0)
                        return -1;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        return (int) n;
}

static void write_all(int fd, const char *s)
{
        size_t len = strlen(s);
        while (len) {
                ssize_t k = write(fd, s, len);
                if (k <= 0)
                        return;
                s += k;
                len -= (size_t) k;
        }
}

static void *serve(void *arg)
{
        server *s = arg;
        char id[64] = ""; /* of the last request: later steps may answer it */
        for (const step *st = s->steps; st->expect || st->reply || st->close_after; st++) {
                char line[4096];
                if (st->expect) {
                        const char *p;
                        if (read_line(s->fd, line, sizeof(line)) < 0) {
                                snprintf(s->error, sizeof(s->error), "EOF before '%s'",
                                         st->expect);
                                break;
                        }
                        if (!strstr(line, st->expect)) {
                                snprintf(s->error, sizeof(s->error), "got '%.120s', want '%.100s'",
                                         line, st->expect);
                                break;
                        }
                        p = strstr(line, "\"id\":");
                        if (p)
                                snprintf(id, sizeof(id), "%.*s", (int) strspn(p + 5, "0123456789"),
                                         p + 5);
                }
                if (st->delay_ms)
                        usleep(st->delay_ms * 1000);
                if (st->reply) {
                        char out[4096];
                        const char *at = strstr(st->reply, "%ID%");
                        if (at)
                                snprintf(out, sizeof(out), "%.*s%s%s", (int) (at - st->reply),
                                         st->reply, id, at + 4);
                        else
                                snprintf(out, sizeof(out), "%s", st->reply);
                        write_all(s->fd, out);
                }
                if (st->close_after) {
                        shutdown(s->fd, SHUT_RDWR);
                        break;
                }
        }
        return NULL;
}

/* Starts the fake server; returns the client's end. */
static int start_server(server *s, const step *steps)
{
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        s->fd = sp[1];
        s->steps = steps;
        s->error[0] = 0;
        assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
        return sp[0];
}

static void stop_server(server *s)
{
        pthread_join(s->thread, NULL);
        close(s->fd);
        if (s->error[0])
                fail_msg("fake server: %s", s->error);
}

static const step handshake[] = {
        { .reply = GREETING },
        { .expect = "\"execute\":\"qmp_capabilities\"", .reply = "{\"return\": {}, \"id\": %ID%}\r\n" },
};

#define HANDSHAKE handshake[0], handshake[1]

static void test_handshake_and_command(void **state)
{
        static const step steps[] = {
                HANDSHAKE,
                { .expect = "\"execute\":\"query-status\"",
                  .reply = "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": %ID%}\r\n" },
                { .expect = "\"arguments\":{\"device\":\"vda\"}",
                  .reply = "{\"return\": {}, \"id\": %ID%}\r\n" },
                {},
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_qmp_ sf_qmp *q = NULL;
        json_t *ret = NULL, *args;
        server s;
        int fd = start_server(&s, steps);

        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(sf_qmp_version(q),
                                                                            "qemu"),
                                                            "major")),
                         7);
        assert_int_equal(sf_qmp_execute(q, "query-status", NULL, &ret, &e), 0);
        assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
        json_decref(ret);
        args = json_pack("{s:s}", "device", "vda");
        assert_int_equal(sf_qmp_execute(q, "eject", args, NULL, &e), 0);
        json_decref(args);
        stop_server(&s);
}

static void test_interleaved_events(void **state)
{
        /* Events before the reply, in one write and split across writes. */
        static const step steps[] = {
                HANDSHAKE,
                { .expect = "\"execute\":\"stop\"",
                  .reply = "{\"timestamp\": {\"seconds\": 1795614350, \"microseconds\": 135849}, "
                           "\"event\": \"STOP\"}\r\n{\"return\": {}, \"id\": %ID%}\r\n" },
                { .expect = "\"execute\":\"system_powerdown\"",
                  .reply = "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"POW" },
                { .reply = "ERDOWN\"}\r\n{\"event\": \"RESET\", \"data\": {\"guest\": false}}\r\n" },
                { .reply = "{\"return\": {}, \"id\": %ID%}\r\n", .delay_ms = 20 },
                { .reply = "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, "
                           "\"reason\": \"guest-shutdown\"}}\r\n" },
                {},
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_qmp_ sf_qmp *q = NULL;
        sf_qmp_event *ev = NULL;
        server s;
        int fd = start_server(&s, steps);

        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), 0);
        assert_int_equal(sf_qmp_execute(q, "stop", NULL, NULL, &e), 0);
        assert_int_equal(sf_qmp_events_pending(q), 1);
        assert_int_equal(sf_qmp_execute(q, "system_powerdown", NULL, NULL, &e), 0);
        assert_int_equal(sf_qmp_events_pending(q), 3);

        /* SHUTDOWN is not there yet: waiting for it keeps the others queued, in order. */
        assert_int_equal(sf_qmp_wait_event(q, "SHUTDOWN", 2000, &ev, &e), 0);
        assert_string_equal(ev->name, "SHUTDOWN");
        assert_true(json_is_true(json_object_get(ev->data, "guest")));
        assert_string_equal(json_string_value(json_object_get(ev->data, "reason")),
                            "guest-shutdown");
        sf_qmp_event_free(ev);

        assert_int_equal(sf_qmp_next_event(q, 0, &ev, &e), 0);
        assert_string_equal(ev->name, "STOP");
        assert_int_equal(ev->timestamp_usec, 1795614350135849ULL);
        assert_null(ev->data);
        sf_qmp_event_free(ev);
        assert_int_equal(sf_qmp_next_event(q, 0, &ev, &e), 0);
        assert_string_equal(ev->name, "POWERDOWN");
        assert_int_equal(ev->timestamp_usec, 1000002ULL);
        sf_qmp_event_free(ev);
        assert_int_equal(sf_qmp_next_event(q, 0, &ev, &e), 0);
        assert_string_equal(ev->name, "RESET");
        sf_qmp_event_free(ev);
        assert_int_equal(sf_qmp_next_event(q, 0, &ev, &e), -ETIMEDOUT);
        stop_server(&s);
}

static void test_error_replies(void **state)
{
        static const step steps[] = {
                HANDSHAKE,
                { .expect = "\"execute\":\"nosuch\"",
                  .reply = "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
                           "nosuch has not been found\"}, \"id\": %ID%}\r\n" },
                { .expect = "\"execute\":\"blockdev-del\"",
                  .reply = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Failed to find "
                           "node with node-name='x'\"}, \"id\": %ID%}\r\n" },
                { .expect = "\"execute\":\"device_del\"",
                  .reply = "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'n9' "
                           "not found\"}, \"id\": %ID%}\r\n" },
                /* A stale reply (another id) is skipped. */
                { .expect = "\"execute\":\"query-name\"",
                  .reply = "{\"return\": {\"name\": \"old\"}, \"id\": 999}\r\n"
                           "{\"return\": {\"name\": \"vm1\"}, \"id\": %ID%}\r\n" },
                {},
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_qmp_ sf_qmp *q = NULL;
        json_t *ret = NULL;
        server s;
        int fd = start_server(&s, steps);

        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), 0);
        assert_int_equal(sf_qmp_execute(q, "nosuch", NULL, NULL, &e), -EOPNOTSUPP);
        assert_string_equal(sf_err_msg(&e), "qmp 'nosuch': The command nosuch has not been found");
        sf_err_clear(&e);
        assert_int_equal(sf_qmp_execute(q, "blockdev-del", NULL, NULL, &e), -EIO);
        assert_string_equal(sf_err_msg(&e),
                            "qmp 'blockdev-del': Failed to find node with node-name='x'");
        sf_err_clear(&e);
        assert_int_equal(sf_qmp_execute(q, "device_del", NULL, NULL, &e), -ENOENT);
        sf_err_clear(&e);
        /* The connection stays usable after error replies. */
        assert_int_equal(sf_qmp_execute(q, "query-name", NULL, &ret, &e), 0);
        assert_string_equal(json_string_value(json_object_get(ret, "name")), "vm1");
        json_decref(ret);
        stop_server(&s);
}

static void test_timeout_breaks_connection(void **state)
{
        static const step steps[] = {
                HANDSHAKE,
                { .expect = "\"execute\":\"slow\"" }, /* never answered */
                {},
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_qmp_ sf_qmp *q = NULL;
        uint64_t t0;
        server s;
        int fd = start_server(&s, steps);

        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), 0);
        t0 = sf_now_usec();
        assert_int_equal(sf_qmp_execute_timeout(q, "slow", NULL, 100, NULL, &e), -ETIMEDOUT);
        assert_true(sf_now_usec() - t0 >= 90000);
        assert_non_null(strstr(sf_err_msg(&e), "no reply from QEMU within 100 ms"));
        sf_err_clear(&e);
        /* A late reply must not be taken for the next command's. */
        assert_int_equal(sf_qmp_execute(q, "query-status", NULL, NULL, &e), -EPIPE);
        stop_server(&s);
}

static void test_eof_and_bad_input(void **state)
{
        static const step quit[] = {
                HANDSHAKE,
                { .expect = "\"execute\":\"quit\"",
                  .reply = "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": "
                           "\"host-qmp-quit\"}}\r\n",
                  .close_after = true },
                {},
        };
        static const step garbage[] = {
                { .reply = "this is not json\r\n" },
                {},
        };
        static const step no_greeting[] = {
                { .reply = "{\"return\": {}}\r\n" },
                {},
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_qmp *q = NULL;
        sf_qmp_event *ev = NULL;
        server s;
        int fd = start_server(&s, quit);

        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), 0);
        /* QEMU closes before answering quit: EPIPE, and the event is still delivered. */
        assert_int_equal(sf_qmp_execute(q, "quit", NULL, NULL, &e), -EPIPE);
        sf_err_clear(&e);
        assert_int_equal(sf_qmp_next_event(q, 0, &ev, &e), 0);
        assert_string_equal(ev->name, "SHUTDOWN");
        sf_qmp_event_free(ev);
        assert_int_equal(sf_qmp_next_event(q, 100, &ev, &e), -EPIPE);
        sf_err_clear(&e);
        sf_qmp_close(q);
        stop_server(&s);

        fd = start_server(&s, garbage);
        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), -EPROTO);
        sf_err_clear(&e);
        stop_server(&s);

        fd = start_server(&s, no_greeting);
        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), -EPROTO);
        assert_non_null(strstr(sf_err_msg(&e), "greeting"));
        sf_err_clear(&e);
        stop_server(&s);

        /* Nothing at all: the greeting times out. */
        {
                static const step silent[] = { {} };
                fd = start_server(&s, silent);
                assert_int_equal(sf_qmp_open_fd(fd, 100, &q, &e), -ETIMEDOUT);
                stop_server(&s);
        }
}

static void test_poll_events(void **state)
{
        static const step steps[] = {
                HANDSHAKE,
                { .reply = "{\"event\": \"RESUME\"}\r\n{\"event\": \"STOP\"}\r\n" },
                {},
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_qmp_ sf_qmp *q = NULL;
        server s;
        int fd = start_server(&s, steps);

        assert_int_equal(sf_qmp_open_fd(fd, 2000, &q, &e), 0);
        assert_int_equal(sf_qmp_poll_events(q, 1000, &e), 2);
        assert_int_equal(sf_qmp_poll_events(q, 0, &e), 2);
        stop_server(&s);
}

typedef struct accept_args {
        int listen_fd;
        server s;
} accept_args;

static void *accept_and_serve(void *arg)
{
        accept_args *a = arg;
        a->s.fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (a->s.fd < 0)
                snprintf(a->s.error, sizeof(a->s.error), "accept: %s", strerror(errno));
        else
                serve(&a->s);
        return NULL;
}

static void test_unix_path(void **state)
{
        static const step steps[] = { HANDSHAKE, {} };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char dir[] = "/tmp/sf-qmp-test.XXXXXX";
        _cleanup_free_ char *deep = NULL, *sock = NULL;
        sf_qmp *q = NULL;
        accept_args a = { 0 };
        pthread_t t;

        assert_non_null(mkdtemp(dir));
        /* A path longer than sun_path (108 bytes) works on both sides. */
        deep = xasprintf("%s/%s", dir, "a-rather-long-directory-name-to-push-the-socket-path-"
                                       "beyond-the-limit-of-sun-path-for-sure");
        assert_int_equal(mkdir(deep, 0700), 0);
        sock = xasprintf("%s/qmp.sock", deep);
        assert_true(strlen(sock) > 108);

        assert_int_equal(sf_qmp_connect(sock, 500, &q, &e), -ENOENT);
        sf_err_clear(&e);

        a.listen_fd = sf_qmp_listen(sock, &e);
        assert_true(a.listen_fd >= 0);
        a.s.steps = steps;
        assert_int_equal(pthread_create(&t, NULL, accept_and_serve, &a), 0);
        assert_int_equal(sf_qmp_connect(sock, 2000, &q, &e), 0);
        sf_qmp_close(q);
        pthread_join(t, NULL);
        close(a.s.fd);
        assert_string_equal(a.s.error, "");
        /* Listening again replaces the stale socket file. */
        close(a.listen_fd);
        a.listen_fd = sf_qmp_listen(sock, &e);
        assert_true(a.listen_fd >= 0);
        close(a.listen_fd);
        /* Nobody listens: refused. */
        assert_int_equal(sf_qmp_connect(sock, 500, &q, &e), -ECONNREFUSED);
        sf_err_clear(&e);
        unlink(sock);
        rmdir(deep);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_handshake_and_command),
                cmocka_unit_test(test_interleaved_events),
                cmocka_unit_test(test_error_replies),
                cmocka_unit_test(test_timeout_breaks_connection),
                cmocka_unit_test(test_eof_and_bad_input),
                cmocka_unit_test(test_poll_events),
                cmocka_unit_test(test_unix_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
