/* Unit tests for the shim's state files: exit records and shim state, formatting, parsing
 * (including malformed input) and reading from a state directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "agent/compute/shim-proto.h"
#include "lib/util.h"

static void test_exit_from_status(void **state)
{
        sf_exit_record r;
        sf_exit_record_from_status(42, W_EXITCODE(3, 0), 1, &r);
        assert_int_equal(r.pid, 42);
        assert_int_equal(r.exit_code, 3);
        assert_int_equal(r.signal, 0);
        assert_false(r.core_dumped);

        sf_exit_record_from_status(42, W_EXITCODE(0, SIGTERM), 1, &r);
        assert_int_equal(r.exit_code, 143);
        assert_int_equal(r.signal, SIGTERM);

        sf_exit_record_from_status(42, W_EXITCODE(0, SIGSEGV) | 0x80, 1, &r);
        assert_int_equal(r.exit_code, 139);
        assert_true(r.core_dumped);
}

static void test_exit_roundtrip(void **state)
{
        sf_exit_record in = { .pid = 1234, .exit_code = 137, .signal = 9,
                              .finished_usec = 1795611240123456ULL };
        sf_exit_record out;
        _cleanup_free_ char *text = sf_exit_record_format(&in);
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        assert_non_null(strstr(text, "\"finished_at\":\"2026-11-25T"));
        assert_int_equal(sf_exit_record_parse(text, strlen(text), &out, &e), 0);
        assert_int_equal(out.pid, 1234);
        assert_int_equal(out.exit_code, 137);
        assert_int_equal(out.signal, 9);
        assert_false(out.core_dumped);
        assert_int_equal(out.finished_usec, in.finished_usec);
}

static void test_exit_parse_fixed(void **state)
{
        /* The format as written by a shim of this version: keep it readable forever. */
        static const char text[] =
                "{\"pid\":77,\"exit_code\":0,\"signal\":null,\"core_dumped\":false,"
                "\"finished_usec\":1000000,\"finished_at\":\"1970-01-01T00:00:01.000000Z\"}";
        sf_exit_record r;
        assert_int_equal(sf_exit_record_parse(text, strlen(text), &r, NULL), 0);
        assert_int_equal(r.pid, 77);
        assert_int_equal(r.exit_code, 0);
        assert_int_equal(r.signal, 0);
        assert_int_equal(r.finished_usec, 1000000);
}

static void test_exit_parse_errors(void **state)
{
        static const struct {
                const char *text;
                const char *field; /* NULL: no field */
                const char *msg;
        } cases[] = {
                { "", NULL, "exit.json" },
                { "[1]", NULL, "not a JSON object" },
                { "{\"exit_code\":0,\"finished_usec\":1}", "pid", "is required" },
                { "{\"pid\":0,\"exit_code\":0,\"finished_usec\":1}", "pid", "between 1" },
                { "{\"pid\":1,\"exit_code\":256,\"finished_usec\":1}", "exit_code", "between 0" },
                { "{\"pid\":1,\"exit_code\":\"0\",\"finished_usec\":1}", "exit_code", "integer" },
                { "{\"pid\":1,\"exit_code\":1,\"signal\":9,\"finished_usec\":1}", "exit_code",
                  "128 + signal" },
                { "{\"pid\":1,\"exit_code\":0}", "finished_usec", "is required" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                sf_exit_record r;
                assert_int_equal(sf_exit_record_parse(cases[i].text, strlen(cases[i].text), &r,
                                                      &e),
                                 -EINVAL);
                if (cases[i].field && (!e.field || STRNEQ(e.field, cases[i].field)))
                        fail_msg("case %zu: field %s, want %s", i, e.field, cases[i].field);
                if (!strstr(sf_err_msg(&e), cases[i].msg))
                        fail_msg("case %zu: '%s' lacks '%s'", i, sf_err_msg(&e), cases[i].msg);
        }
}

static void test_state_dir_files(void **state)
{
        char tmpl[] = "/tmp/sf-test-shim-XXXXXX";
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_shim_state_ sf_shim_state out = { 0 };
        sf_shim_state in = {
                .id = "c1", .runtime = "runc", .shim_pid = 100, .shim_starttime = 5,
                .pid = 101, .pid_starttime = 6, .started_usec = 1795611240000000ULL,
        };
        sf_exit_record r = { .pid = 101, .exit_code = 0, .finished_usec = 2 }, r2;

        assert_non_null(mkdtemp(tmpl));
        assert_int_equal(sf_shim_state_read(tmpl, &out, &e), -ENOENT);
        assert_int_equal(sf_exit_record_read(tmpl, &r2, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "no exit.json in"));

        assert_int_equal(sf_shim_state_write(tmpl, &in, NULL), 0);
        assert_int_equal(sf_shim_state_read(tmpl, &out, NULL), 0);
        assert_string_equal(out.id, "c1");
        assert_string_equal(out.runtime, "runc");
        assert_int_equal(out.shim_pid, 100);
        assert_int_equal(out.shim_starttime, 5);
        assert_int_equal(out.pid, 101);
        assert_int_equal(out.pid_starttime, 6);
        assert_int_equal(out.started_usec, in.started_usec);

        assert_int_equal(sf_exit_record_write(tmpl, &r, NULL), 0);
        assert_int_equal(sf_exit_record_read(tmpl, &r2, NULL), 0);
        assert_int_equal(r2.pid, 101);
        assert_int_equal(sf_rm_rf(tmpl, NULL), 0);
}

static void test_state_parse_errors(void **state)
{
        static const char *const bad[] = {
                "{}",
                "{\"id\":\"c1\",\"shim_pid\":0,\"shim_starttime\":1,\"pid\":0}",
                "{\"id\":\"c1\",\"shim_pid\":1,\"shim_starttime\":-1,\"pid\":0}",
                "{\"id\":5,\"shim_pid\":1,\"shim_starttime\":1,\"pid\":0}",
                "nonsense",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                sf_shim_state s = { 0 };
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                assert_int_equal(sf_shim_state_parse(bad[i], strlen(bad[i]), &s, &e), -EINVAL);
                assert_null(s.id);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_from_status),
                cmocka_unit_test(test_exit_roundtrip),
                cmocka_unit_test(test_exit_parse_fixed),
                cmocka_unit_test(test_exit_parse_errors),
                cmocka_unit_test(test_state_dir_files),
                cmocka_unit_test(test_state_parse_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
