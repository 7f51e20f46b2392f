/* Unit tests: sf_parse_size, sf_uuid and sf_uuid_valid, timestamps, the file helpers and
 * sf_fd_move_high (src/lib/util.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib/util.h"

static void test_parse_size(void **state)
{
        static const struct {
                const char *s;
                uint64_t v;
        } good[] = {
                { "0", 0 },
                { "65536", 65536 },
                { "10B", 10 },
                { "1K", 1000 },
                { "1Ki", 1024 },
                { "3M", 3000000 },
                { "512Mi", 512ULL << 20 },
                { "1G", 1000000000ULL },
                { "2Gi", 2ULL << 30 },
                { "1Ti", 1ULL << 40 },
                { "18446744073709551615", UINT64_MAX },
                { "16777215Ti", 16777215ULL << 40 },
        };
        static const struct {
                const char *s;
                int r;
        } bad[] = {
                { "", -EINVAL },     { "K", -EINVAL },     { "-1", -EINVAL },
                { "+1", -EINVAL },   { " 1", -EINVAL },    { "1 G", -EINVAL },
                { "1.5G", -EINVAL }, { "1k", -EINVAL },    { "1g", -EINVAL },
                { "1Kib", -EINVAL }, { "1T", -EINVAL },    { "1GiB", -EINVAL },
                { "18446744073709551616", -EINVAL }, /* does not fit 64 bits */
                { "16777216Ti", -ERANGE },           /* fits, but not once multiplied */
                { "18446744073709551615K", -ERANGE },
        };
        uint64_t v;
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                v = 12345;
                if (sf_parse_size(good[i].s, &v) < 0)
                        fail_msg("'%s' rejected", good[i].s);
                assert_int_equal(v, good[i].v);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = 12345;
                int r = sf_parse_size(bad[i].s, &v);
                if (r != bad[i].r)
                        fail_msg("'%s': %d, expected %d", bad[i].s, r, bad[i].r);
                assert_int_equal(v, 12345);
        }
        assert_int_equal(sf_parse_size(NULL, &v), -EINVAL);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void test_uuid(void **state)
{
        enum { N = 2000 };
        char(*ids)[SF_UUID_STRLEN] = calloc(N, SF_UUID_STRLEN);
        for (int i = 0; i < N; i++) {
                sf_uuid(ids[i]);
                assert_int_equal(strlen(ids[i]), 36);
                assert_true(sf_uuid_valid(ids[i]));
                assert_int_equal(ids[i][14], '4'); /* version 4 */
                assert_non_null(strchr("89ab", ids[i][19])); /* RFC 4122 variant */
                for (int j = 0; j < 36; j++)
                        if (ids[i][j] >= 'A' && ids[i][j] <= 'Z')
                                fail_msg("'%s' is not lower-case", ids[i]);
        }
        qsort(ids, N, SF_UUID_STRLEN, cmp_str);
        for (int i = 1; i < N; i++)
                if (STREQ(ids[i - 1], ids[i]))
                        fail_msg("duplicate uuid '%s'", ids[i]);
        free(ids);
}

static void test_uuid_valid(void **state)
{
        assert_true(sf_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
        assert_true(sf_uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
        assert_false(sf_uuid_valid(""));
        assert_false(sf_uuid_valid("net1"));
        assert_false(sf_uuid_valid("123e4567-e89b-12d3-a456-42661417400"));   /* short */
        assert_false(sf_uuid_valid("123e4567-e89b-12d3-a456-4266141740000")); /* long */
        assert_false(sf_uuid_valid("123e4567e-89b-12d3-a456-426614174000"));  /* dash moved */
        assert_false(sf_uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
        assert_false(sf_uuid_valid("123e4567-e89b-12d3-a456_426614174000"));
}

static void test_timestamp(void **state)
{
        _cleanup_free_ char *a = sf_timestamp(0), *b = sf_timestamp(1794574440123456ULL);
        assert_string_equal(a, "1970-01-01T00:00:00.000000Z");
        assert_string_equal(b, "2026-11-13T12:54:00.123456Z");
        assert_true(sf_now_usec() > 0);
        assert_true(sf_realtime_usec() > 1700000000ULL * 1000000);
}

static void test_files(void **state)
{
        char tmpl[] = "/tmp/sf-test-util-XXXXXX";
        char *dir = mkdtemp(tmpl);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *deep = NULL, *file = NULL, *data = NULL;
        size_t len = 0;
        struct stat st;

        assert_non_null(dir);
        deep = xasprintf("%s/a/b/c", dir);
        assert_int_equal(sf_mkdir_p(deep, 0755, &e), 0);
        assert_int_equal(sf_mkdir_p(deep, 0755, &e), 0); /* existing is fine */
        assert_int_equal(stat(deep, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        file = xasprintf("%s/a/f", dir);
        assert_int_equal(sf_write_file_atomic(file, "hello", 5, 0600, &e), 0);
        assert_int_equal(sf_read_file(file, 100, &data, &len, &e), 0);
        assert_int_equal(len, 5);
        assert_string_equal(data, "hello");
        free(data);
        data = NULL;
        assert_int_equal(sf_read_file(file, 4, &data, &len, &e), -EFBIG);
        assert_null(data);
        assert_int_equal(sf_write_file_atomic(file, "", 0, 0600, &e), 0);
        assert_int_equal(sf_read_file(file, 4, &data, &len, &e), 0);
        assert_int_equal(len, 0);
        assert_string_equal(data, "");
        free(data);
        data = NULL;

        _cleanup_free_ char *missing = xasprintf("%s/nope", dir);
        assert_int_equal(sf_read_file(missing, 4, &data, NULL, &e), -ENOENT);
        assert_non_null(strstr(sf_err_msg(&e), "nope"));

        assert_int_equal(sf_rm_rf(dir, &e), 0);
        assert_int_equal(stat(dir, &st), -1);
        assert_int_equal(sf_rm_rf(dir, &e), 0); /* missing is fine */
}

/* Above FD_SETSIZE, close-on-exec, the old fd closed; with no room up there, -EMFILE and the
 * fd untouched (the limit lowered in a child, which then reports). */
static void test_fd_move_high(void **state)
{
        struct rlimit rl;
        int fd, h, status;
        pid_t pid;

        assert_int_equal(sf_fd_move_high(-1), -EBADF);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        fd = open("/dev/null", O_RDONLY);
        assert_true(fd >= 0 && fd < FD_SETSIZE);
        if (rl.rlim_cur > FD_SETSIZE + 1) {
                h = sf_fd_move_high(fd);
                assert_true(h >= FD_SETSIZE);
                assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
                assert_true(fcntl(h, F_GETFD) & FD_CLOEXEC);
                assert_int_equal(sf_fd_move_high(h), h); /* already there */
                close(h);
        } else
                close(fd);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct rlimit low = { .rlim_cur = 64, .rlim_max = rl.rlim_max };
                int f = open("/dev/null", O_RDONLY);
                if (setrlimit(RLIMIT_NOFILE, &low) < 0 || f < 0)
                        _exit(2);
                _exit(sf_fd_move_high(f) == -EMFILE && fcntl(f, F_GETFD) >= 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* Raised for a critical section and back to its own, nice value included; sections nest
 * (the inner one leaves the thread as it found it); a child forked meanwhile is not raised. */
static void test_rt_boost(void **state)
{
        struct sf_rt_boost outer, inner;
        int status;
        pid_t pid;

        assert_int_equal(setpriority(PRIO_PROCESS, (id_t) gettid(), 3), 0);
        if (sf_rt_boost_begin(&outer) == -EPERM)
                skip(); /* needs CAP_SYS_NICE: callers log it and go on without */
        assert_true(outer.on);
        assert_int_equal(sched_getscheduler(0) & ~SCHED_RESET_ON_FORK, SCHED_FIFO);
        assert_int_equal(sf_rt_boost_begin(&inner), 0);
        assert_false(inner.on);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(sched_getscheduler(0) == SCHED_OTHER ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(sf_rt_boost_end(&inner), 0);
        assert_int_equal(sched_getscheduler(0) & ~SCHED_RESET_ON_FORK, SCHED_FIFO);
        assert_int_equal(sf_rt_boost_end(&outer), 0);
        assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
        errno = 0;
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t) gettid()), 3);
        assert_int_equal(errno, 0);
        assert_int_equal(setpriority(PRIO_PROCESS, (id_t) gettid(), 0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_size), cmocka_unit_test(test_uuid),
                cmocka_unit_test(test_uuid_valid), cmocka_unit_test(test_timestamp),
                cmocka_unit_test(test_files),      cmocka_unit_test(test_fd_move_high),
                cmocka_unit_test(test_rt_boost),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
