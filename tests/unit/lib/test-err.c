/* Unit tests: sf_err (set, errno, prefix, field_prefix, move, msg) and the -errno <-> HTTP
 * status / code name table (src/lib/err.c, src/lib/errcode.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/err.h"
#include "lib/errcode.h"

static void test_set(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        assert_int_equal(sf_err_set(&e, -EINVAL, "mtu", "must be between %d and %d", 68, 9000),
                         -EINVAL);
        assert_int_equal(e.code, -EINVAL);
        assert_string_equal(e.field, "mtu");
        assert_string_equal(e.msg, "must be between 68 and 9000");
        assert_string_equal(sf_err_msg(&e), "must be between 68 and 9000");
        /* replacing frees the previous field and message (ASan checks) */
        assert_int_equal(sf_err_set(&e, -ENOENT, NULL, "gone"), -ENOENT);
        assert_int_equal(e.code, -ENOENT);
        assert_null(e.field);
        assert_string_equal(e.msg, "gone");
        /* NULL e: only the code */
        assert_int_equal(sf_err_set(NULL, -EBUSY, "x", "y"), -EBUSY);
        sf_err_clear(&e);
        assert_int_equal(e.code, 0);
        assert_null(e.field);
        assert_null(e.msg);
        sf_err_clear(NULL);
}

static void test_errno(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *want = xasprintf("open '/x': %s", strerror(ENOENT));
        assert_int_equal(sf_err_errno(&e, -ENOENT, "open '%s'", "/x"), -ENOENT);
        assert_string_equal(e.msg, want);
        assert_null(e.field);
        assert_int_equal(sf_err_errno(NULL, -EIO, "x"), -EIO);
}

static void test_prefix(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_err_set(&e, -EINVAL, "mtu", "too big");
        assert_int_equal(sf_err_prefix(&e, "create network '%s'", "n1"), -EINVAL);
        assert_string_equal(e.msg, "create network 'n1': too big");
        assert_string_equal(e.field, "mtu"); /* the field is not touched */
        sf_err_prefix(&e, "api");
        assert_string_equal(e.msg, "api: create network 'n1': too big");
        /* no message yet: strerror of the code is the old message */
        sf_err_clear(&e);
        e.code = -ENOENT;
        sf_err_prefix(&e, "load");
        _cleanup_free_ char *want = xasprintf("load: %s", strerror(ENOENT));
        assert_string_equal(e.msg, want);
        /* never 0: a NULL or unset error still means failure */
        assert_int_equal(sf_err_prefix(NULL, "x"), -EIO);
        sf_err_clear(&e);
        assert_int_equal(sf_err_prefix(&e, "x"), -EIO);
        /* sf_err_wrap keeps the caller's code whatever e is */
        assert_int_equal(sf_err_wrap(-ENOENT, NULL, "load '%s'", "x"), -ENOENT);
        sf_err_set(&e, -EBUSY, NULL, "busy");
        assert_int_equal(sf_err_wrap(-EAGAIN, &e, "retry"), -EAGAIN);
        assert_string_equal(e.msg, "retry: busy");
}

static void test_field_prefix(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_err_set(&e, -EINVAL, "ip_address", "bad");
        sf_err_field_prefix(&e, "fixed_ips[1]");
        assert_string_equal(e.field, "fixed_ips[1].ip_address");
        sf_err_field_prefix(&e, "port");
        assert_string_equal(e.field, "port.fixed_ips[1].ip_address");
        /* no field yet: the prefix becomes the field */
        sf_err_set(&e, -EINVAL, NULL, "needs something");
        sf_err_field_prefix(&e, "fixed_ips[0]");
        assert_string_equal(e.field, "fixed_ips[0]");
        /* an index field joins without a dot */
        sf_err_set(&e, -EINVAL, "[2]", "bad");
        sf_err_field_prefix(&e, "dns_nameservers");
        assert_string_equal(e.field, "dns_nameservers[2]");
        sf_err_field_prefix(&e, NULL); /* no-op */
        assert_string_equal(e.field, "dns_nameservers[2]");
        sf_err_field_prefix(NULL, "x");
        assert_string_equal(e.msg, "bad");
}

static void test_move(void **state)
{
        _cleanup_err_ sf_err a = SF_ERR_INIT, b = SF_ERR_INIT;
        sf_err_set(&a, -EEXIST, "name", "taken");
        sf_err_set(&b, -EINVAL, "old", "old message"); /* freed by the move */
        sf_err_move(&b, &a);
        assert_int_equal(b.code, -EEXIST);
        assert_string_equal(b.field, "name");
        assert_string_equal(b.msg, "taken");
        assert_int_equal(a.code, 0);
        assert_null(a.field);
        assert_null(a.msg);
        /* NULL dst: the source is released */
        sf_err_set(&a, -EIO, "f", "m");
        sf_err_move(NULL, &a);
        assert_int_equal(a.code, 0);
        assert_null(a.msg);
}

static void test_msg(void **state)
{
        sf_err e = SF_ERR_INIT;
        assert_string_equal(sf_err_msg(NULL), "unknown error");
        assert_string_equal(sf_err_msg(&e), "no error");
        e.code = -EBUSY;
        assert_string_equal(sf_err_msg(&e), strerror(EBUSY));
}

/* The table in docs/HACKING.md. */
static void test_errcode_status(void **state)
{
        static const struct {
                int code;
                unsigned status;
                const char *name;
        } t[] = {
                { -EINVAL, 400, "invalid" },        { -EDOM, 400, "invalid" },
                { -ENOENT, 404, "not_found" },      { -EEXIST, 409, "conflict" },
                { -EBUSY, 409, "in_use" },          { -ENOTEMPTY, 409, "in_use" },
                { -ENOSPC, 409, "exhausted" },      { -ESTALE, 412, "revision_mismatch" },
                { -E2BIG, 413, "too_large" },       { -EMSGSIZE, 413, "too_large" },
                { -EPERM, 403, "forbidden" },       { -EACCES, 403, "forbidden" },
                { -EOPNOTSUPP, 501, "not_supported" }, { -ETIMEDOUT, 504, "timeout" },
                { -EAGAIN, 503, "unavailable" },    { -ENOSYS, 405, "method_not_allowed" },
                { -ECONNREFUSED, 502, "unreachable" }, { -EHOSTUNREACH, 502, "unreachable" },
                { -ENODATA, 410, "expired" },       { -EIO, 500, "internal" },
                { -ENOMEM, 500, "internal" },       { -EPROTO, 500, "internal" },
                { 0, 500, "internal" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                if (sf_errcode_status(t[i].code) != t[i].status)
                        fail_msg("%s: status %u, expected %u", strerror(-t[i].code),
                                 sf_errcode_status(t[i].code), t[i].status);
                assert_string_equal(sf_errcode_name(t[i].code), t[i].name);
        }
}

static void test_errcode_round_trip(void **state)
{
        /* A client turns (name, status) back into the same -errno for canonical codes, and
         * into the canonical code for aliases. */
        static const struct {
                int code, back;
        } t[] = {
                { -EINVAL, -EINVAL },   { -ENOENT, -ENOENT },     { -EEXIST, -EEXIST },
                { -EBUSY, -EBUSY },     { -ENOSPC, -ENOSPC },     { -ESTALE, -ESTALE },
                { -E2BIG, -E2BIG },     { -EPERM, -EPERM },       { -EOPNOTSUPP, -EOPNOTSUPP },
                { -ENOSYS, -ENOSYS },   { -ETIMEDOUT, -ETIMEDOUT }, { -EAGAIN, -EAGAIN },
                { -ECONNREFUSED, -ECONNREFUSED }, { -ENODATA, -ENODATA },
                { -EDOM, -EINVAL },     { -ENOTEMPTY, -EBUSY },   { -EMSGSIZE, -E2BIG },
                { -EACCES, -EPERM },    { -EHOSTUNREACH, -ECONNREFUSED },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                int back = sf_errcode_from_name(sf_errcode_name(t[i].code),
                                                sf_errcode_status(t[i].code));
                if (back != t[i].back)
                        fail_msg("%s -> %s/%u -> %s", strerror(-t[i].code),
                                 sf_errcode_name(t[i].code), sf_errcode_status(t[i].code),
                                 strerror(-back));
        }
        /* no or unknown name: the status decides, then -EIO */
        assert_int_equal(sf_errcode_from_name(NULL, 404), -ENOENT);
        assert_int_equal(sf_errcode_from_name("teapot", 409), -EEXIST);
        assert_int_equal(sf_errcode_from_name(NULL, 418), -EIO);
        assert_int_equal(sf_errcode_from_name("internal", 500), -EIO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set),          cmocka_unit_test(test_errno),
                cmocka_unit_test(test_prefix),       cmocka_unit_test(test_field_prefix),
                cmocka_unit_test(test_move),         cmocka_unit_test(test_msg),
                cmocka_unit_test(test_errcode_status), cmocka_unit_test(test_errcode_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
