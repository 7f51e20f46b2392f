/* Unit tests: the typed JSON getters used to validate API input, sf_json_only, request body
 * parsing (duplicate keys rejected) and serialisation (src/lib/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/json.h"

static json_t *J(const char *s)
{
        json_error_t je;
        json_t *j = json_loads(s, 0, &je);
        if (!j)
                fail_msg("bad test JSON '%s': %s", s, je.text);
        return j;
}

/* Asserts the error's code and field (NULL = none) and that its message contains msg. */
static void check_err(const sf_err *e, int code, const char *field, const char *msg)
{
        assert_int_equal(e->code, code);
        if (field) {
                assert_non_null(e->field);
                assert_string_equal(e->field, field);
        } else if (e->field)
                fail_msg("unexpected field '%s'", e->field);
        if (msg && !strstr(sf_err_msg(e), msg))
                fail_msg("message '%s' does not contain '%s'", sf_err_msg(e), msg);
}

static void test_str(void **state)
{
        json_auto_t *o = J("{\"a\": \"x\", \"n\": 5, \"z\": null}");
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *s = "untouched";
        /* jansson refuses \u0000 when parsing, but an object built in code can hold one */
        json_object_set_new(o, "nul", json_stringn("a\0b", 3));
        assert_int_equal(sf_json_str(o, "a", true, &s, &e), 0);
        assert_string_equal(s, "x");
        s = "untouched";
        assert_int_equal(sf_json_str(o, "missing", false, &s, &e), 0);
        assert_string_equal(s, "untouched");
        assert_int_equal(sf_json_str(o, "z", false, &s, &e), 0); /* null = missing */
        assert_string_equal(s, "untouched");
        assert_int_equal(e.code, 0);
        assert_int_equal(sf_json_str(o, "missing", true, &s, &e), -EINVAL);
        check_err(&e, -EINVAL, "missing", "is required");
        assert_int_equal(sf_json_str(o, "z", true, &s, &e), -EINVAL);
        check_err(&e, -EINVAL, "z", "is required");
        assert_int_equal(sf_json_str(o, "n", false, &s, &e), -EINVAL);
        check_err(&e, -EINVAL, "n", "must be a string");
        assert_int_equal(sf_json_str(o, "nul", false, &s, &e), -EINVAL);
        check_err(&e, -EINVAL, "nul", "NUL");
        assert_string_equal(s, "untouched");
        assert_int_equal(sf_json_str(o, "n", false, &s, NULL), -EINVAL);
}

static void test_int(void **state)
{
        json_auto_t *o = J("{\"lo\": 68, \"hi\": 9000, \"under\": 67, \"over\": 9001, "
                           "\"real\": 1.5, \"str\": \"5\", \"neg\": -9223372036854775808, "
                           "\"bool\": true}");
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int64_t v = -1;
        assert_int_equal(sf_json_int(o, "lo", true, 68, 9000, &v, &e), 0);
        assert_int_equal(v, 68);
        assert_int_equal(sf_json_int(o, "hi", true, 68, 9000, &v, &e), 0);
        assert_int_equal(v, 9000);
        v = -1;
        assert_int_equal(sf_json_int(o, "under", true, 68, 9000, &v, &e), -EINVAL);
        check_err(&e, -EINVAL, "under", "must be between 68 and 9000");
        assert_int_equal(sf_json_int(o, "over", true, 68, 9000, &v, &e), -EINVAL);
        check_err(&e, -EINVAL, "over", "must be between 68 and 9000");
        assert_int_equal(sf_json_int(o, "real", true, 0, 10, &v, &e), -EINVAL);
        check_err(&e, -EINVAL, "real", "must be an integer");
        assert_int_equal(sf_json_int(o, "str", true, 0, 10, &v, &e), -EINVAL);
        check_err(&e, -EINVAL, "str", "must be an integer");
        assert_int_equal(sf_json_int(o, "bool", true, 0, 10, &v, &e), -EINVAL);
        assert_int_equal(sf_json_int(o, "neg", true, INT64_MIN, 0, &v, &e), 0);
        assert_true(v == INT64_MIN);
        v = 7;
        assert_int_equal(sf_json_int(o, "missing", false, 0, 10, &v, &e), 0);
        assert_int_equal(v, 7);
        assert_int_equal(sf_json_int(o, "missing", true, 0, 10, &v, &e), -EINVAL);
        check_err(&e, -EINVAL, "missing", "is required");
}

static void test_bool_array_object(void **state)
{
        json_auto_t *o = J("{\"b\": false, \"a\": [1], \"o\": {}, \"s\": \"true\", \"n\": 0}");
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        bool b = true;
        json_t *x = NULL;
        assert_int_equal(sf_json_bool(o, "b", true, &b, &e), 0);
        assert_false(b);
        assert_int_equal(sf_json_bool(o, "s", true, &b, &e), -EINVAL);
        check_err(&e, -EINVAL, "s", "must be true or false");
        assert_int_equal(sf_json_bool(o, "n", true, &b, &e), -EINVAL);
        assert_int_equal(sf_json_array(o, "a", true, &x, &e), 0);
        assert_true(json_is_array(x));
        assert_int_equal(sf_json_array(o, "o", true, &x, &e), -EINVAL);
        check_err(&e, -EINVAL, "o", "must be an array");
        assert_int_equal(sf_json_object(o, "o", true, &x, &e), 0);
        assert_true(json_is_object(x));
        assert_int_equal(sf_json_object(o, "a", true, &x, &e), -EINVAL);
        check_err(&e, -EINVAL, "a", "must be an object");
        x = NULL;
        assert_int_equal(sf_json_object(o, "missing", false, &x, &e), 0);
        assert_null(x);
        assert_int_equal(sf_json_array(o, "missing", true, &x, &e), -EINVAL);
        check_err(&e, -EINVAL, "missing", "is required");

        json_auto_t *arr = J("[1]");
        assert_int_equal(sf_json_is_object(arr, "body", &e), -EINVAL);
        check_err(&e, -EINVAL, "body", "must be an object");
        assert_int_equal(sf_json_is_object(o, "body", &e), 0);
        assert_int_equal(sf_json_is_object(NULL, NULL, &e), -EINVAL);
}

static void test_names(void **state)
{
        static const char *const good[] = { "a", "net1", "A.b_c-d", "0", "9-x",
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" /* 63 */ };
        static const char *const bad[] = { "", "-a", ".a", "_a", "a b", "a/b", "a:b", "ä", "a\n",
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl" /* 64 */ };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!sf_name_valid(good[i]))
                        fail_msg("'%s' rejected", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (sf_name_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);

        json_auto_t *o = J("{\"name\": \"net-1\", \"bad\": \"-x\", \"num\": 1}");
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *s = NULL;
        assert_int_equal(sf_json_name(o, "name", true, &s, &e), 0);
        assert_string_equal(s, "net-1");
        s = NULL;
        assert_int_equal(sf_json_name(o, "bad", true, &s, &e), -EINVAL);
        check_err(&e, -EINVAL, "bad", "'-x' is not a valid name");
        assert_null(s);
        assert_int_equal(sf_json_name(o, "num", true, &s, &e), -EINVAL);
        check_err(&e, -EINVAL, "num", "must be a string");
        assert_int_equal(sf_json_name(o, "missing", false, &s, &e), 0);
        assert_null(s);
}

static void test_only(void **state)
{
        static const char *const allowed[] = { "name", "mtu", NULL };
        json_auto_t *ok = J("{\"name\": \"x\", \"mtu\": 1}"), *empty = J("{}"),
                    *bad = J("{\"name\": \"x\", \"mtu\": 1, \"colour\": \"red\"}");
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        assert_int_equal(sf_json_only(ok, allowed, &e), 0);
        assert_int_equal(sf_json_only(empty, allowed, &e), 0);
        assert_int_equal(sf_json_only(bad, allowed, &e), -EINVAL);
        check_err(&e, -EINVAL, "colour", "unknown field (known: name, mtu)");
}

static void test_parse(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *j = NULL;
        const char body[] = "{\"a\": 1}trailing garbage that is not part of len";

        assert_int_equal(sf_json_parse(body, 8, &j, &e), 0);
        assert_true(json_is_object(j));
        assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
        json_decref(j);
        j = NULL;

        assert_int_equal(sf_json_parse("", 0, &j, &e), -EINVAL);
        check_err(&e, -EINVAL, NULL, "empty");
        assert_null(j);

        assert_int_equal(sf_json_parse("{\"a\": 1,\n \"b\": }", 17, &j, &e), -EINVAL);
        check_err(&e, -EINVAL, NULL, "malformed JSON at line 2");
        assert_null(j);

        /* duplicate keys are an error, not "last one wins" */
        const char dup[] = "{\"mtu\": 1500, \"mtu\": 9000}";
        assert_int_equal(sf_json_parse(dup, strlen(dup), &j, &e), -EINVAL);
        check_err(&e, -EINVAL, NULL, "duplicate");
        assert_null(j);
        const char nested_dup[] = "{\"a\": {\"x\": 1, \"x\": 2}}";
        assert_int_equal(sf_json_parse(nested_dup, strlen(nested_dup), &j, &e), -EINVAL);

        /* any JSON value parses (the API checks for an object itself) */
        assert_int_equal(sf_json_parse("[1,2]", 5, &j, &e), 0);
        assert_true(json_is_array(j));
        json_decref(j);
        j = NULL;

        /* an embedded NUL stops nothing silently: it is malformed */
        assert_int_equal(sf_json_parse("{}\0{}", 5, &j, &e), -EINVAL);
}

static void test_dumps_set_str(void **state)
{
        json_auto_t *o = json_object();
        _cleanup_free_ char *s = NULL, *t = NULL;
        sf_json_set_str(o, "a", "x");
        sf_json_set_str(o, "b", NULL);
        s = sf_json_dumps(o);
        assert_string_equal(s, "{\"a\":\"x\",\"b\":null}");
        json_auto_t *n = json_integer(3);
        t = sf_json_dumps(n); /* any value, not only objects */
        assert_string_equal(t, "3");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_str),   cmocka_unit_test(test_int),
                cmocka_unit_test(test_bool_array_object), cmocka_unit_test(test_names),
                cmocka_unit_test(test_only),  cmocka_unit_test(test_parse),
                cmocka_unit_test(test_dumps_set_str),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
