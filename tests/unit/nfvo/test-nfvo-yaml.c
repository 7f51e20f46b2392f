/* Unit tests: YAML to JSON (src/nfvo/yaml.c): core-schema scalar types, anchors, aliases and
 * merge keys, positions, and the errors (duplicate keys, several documents, non-string keys,
 * size, node and depth limits, tags, NUL, UTF-8) with their line:column. */
#include "nfvo-test.h"
#include "nfvo/yaml.h"

static json_t *conv(const char *yaml)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *j = NULL;
        if (sf_yaml_to_json(yaml, strlen(yaml), &j, &e) < 0)
                fail_msg("'%s' does not convert: %s", yaml, sf_err_msg(&e));
        return j;
}

static void expect_json(const char *yaml, const char *json)
{
        json_auto_t *j = conv(yaml);
        json_auto_t *want = json_loads(json, JSON_DECODE_ANY, NULL);
        if (!want)
                fail_msg("bad test JSON %s", json);
        if (!json_equal(j, want)) {
                _cleanup_free_ char *got = json_dumps(j, JSON_ENCODE_ANY | JSON_SORT_KEYS);
                fail_msg("'%s' gave %s, expected %s", yaml, got, json);
        }
}

/* Conversion fails with code; the message contains msg (which includes the position). */
static void expect_fail(const char *yaml, size_t len, int code, const char *field, const char *msg)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *j = NULL;
        int r = sf_yaml_to_json(yaml, len, &j, &e);
        if (r >= 0) {
                _cleanup_free_ char *got = json_dumps(j, JSON_ENCODE_ANY);
                json_decref(j);
                fail_msg("'%s' converted to %s, expected an error", yaml, got);
        }
        assert_null(j);
        assert_int_equal(r, code);
        assert_int_equal(e.code, code);
        if (field) {
                if (!e.field || STRNEQ(e.field, field))
                        fail_msg("field '%s', expected '%s' (%s)", e.field ? e.field : "(null)", field,
                                 sf_err_msg(&e));
        }
        if (!strstr(sf_err_msg(&e), msg))
                fail_msg("message '%s' does not contain '%s'", sf_err_msg(&e), msg);
}

static void test_scalars(void **state)
{
        expect_json("a: 1\nb: -7\nc: 0x1f\nd: 0o17\ne: 1.5\nf: 1e3\ng: true\nh: False\ni: ~\nj:\n"
                    "k: null\nl: hello\nm: '1'\nn: \"true\"\no: 007\n",
                    "{\"a\":1,\"b\":-7,\"c\":31,\"d\":15,\"e\":1.5,\"f\":1000.0,\"g\":true,"
                    "\"h\":false,\"i\":null,\"j\":null,\"k\":null,\"l\":\"hello\",\"m\":\"1\","
                    "\"n\":\"true\",\"o\":7}");
        /* YAML 1.1 booleans are strings in the 1.2 core schema; so are versions and dates. */
        expect_json("a: yes\nb: on\nc: 1.0.0\nd: 2024-01-01\ne: .5\nf: +3\n",
                    "{\"a\":\"yes\",\"b\":\"on\",\"c\":\"1.0.0\",\"d\":\"2024-01-01\",\"e\":0.5,"
                    "\"f\":3}");
        /* Block scalars and explicit tags. */
        expect_json("a: |\n  line1\n  line2\nb: >\n  folded\n  text\nc: !!str 12\nd: !!int \"12\"\n"
                    "e: !!float 2\nf: !!bool true\ng: !!null ''\nh: ! 12\n",
                    "{\"a\":\"line1\\nline2\\n\",\"b\":\"folded text\\n\",\"c\":\"12\",\"d\":12,"
                    "\"e\":2.0,\"f\":true,\"g\":null,\"h\":\"12\"}");
        expect_json("- 1\n- [a, {b: c}]\n- {}\n", "[1,[\"a\",{\"b\":\"c\"}],{}]");
        expect_json("just a string\n", "\"just a string\"");
        expect_json("---\n", "null");
        expect_json("a: 9223372036854775807\nb: -9223372036854775808\n",
                    "{\"a\":9223372036854775807,\"b\":-9223372036854775808}");
        /* Unicode survives. */
        expect_json("a: \"caf\\u00e9 \\u2603\"\n", "{\"a\":\"caf\\u00e9 \\u2603\"}");
}

static void test_order_kept(void **state)
{
        json_auto_t *j = conv("z: 1\na: 2\nm: 3\n");
        const char *k;
        json_t *v;
        char order[4] = { 0 };
        size_t n = 0;
        json_object_foreach(j, k, v)
                order[n++] = k[0];
        assert_string_equal(order, "zam");
}

static void test_anchors(void **state)
{
        expect_json("a: &x [1, 2]\nb: *x\nc: &s hi\nd: *s\n",
                    "{\"a\":[1,2],\"b\":[1,2],\"c\":\"hi\",\"d\":\"hi\"}");
        /* The copy is independent of the anchored node. */
        {
                json_auto_t *j = conv("a: &x {k: 1}\nb: *x\n");
                assert_ptr_not_equal(json_object_get(j, "a"), json_object_get(j, "b"));
        }
        /* Merge keys: explicit keys win wherever they are; earlier merged mappings win. */
        expect_json("base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\n"
                    "m1:\n  x: 0\n  <<: *b\nm2:\n  <<: [*o, *b]\n  w: 5\n",
                    "{\"base\":{\"x\":1,\"y\":2},\"other\":{\"y\":3,\"z\":4},"
                    "\"m1\":{\"x\":0,\"y\":2},\"m2\":{\"w\":5,\"y\":3,\"z\":4,\"x\":1}}");
        /* A quoted "<<" is an ordinary key. */
        expect_json("\"<<\": 1\n", "{\"<<\":1}");
        /* An anchor can be redefined; an alias refers to the latest definition. */
        expect_json("a: &x 1\nb: &x 2\nc: *x\n", "{\"a\":1,\"b\":2,\"c\":2}");
        /* An alias as a key (to a string). */
        expect_json("a: &k name\n*k : v\n", "{\"a\":\"name\",\"name\":\"v\"}");
}

static void test_positions(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *j = NULL, *pos = NULL;
        const char *y = "vnfd:\n  id: x\n  vdu:\n  - id: a\n    name: b\n  -   id: c\n";
        json_int_t p;

        assert_int_equal(sf_yaml_to_json_pos(y, strlen(y), &j, &pos, NULL, &e), 0);
        p = json_integer_value(json_object_get(pos, "vnfd.id"));
        assert_int_equal(sf_yaml_pos_line(p), 2);
        assert_int_equal(sf_yaml_pos_column(p), 3);
        p = json_integer_value(json_object_get(pos, "vnfd.vdu[0].name"));
        assert_int_equal(sf_yaml_pos_line(p), 5);
        assert_int_equal(sf_yaml_pos_column(p), 5);
        p = json_integer_value(json_object_get(pos, "vnfd.vdu[1]"));
        assert_int_equal(sf_yaml_pos_line(p), 6);
        assert_int_equal(sf_yaml_pos_column(p), 7);
        p = json_integer_value(json_object_get(pos, "vnfd.vdu[1].id"));
        assert_int_equal(sf_yaml_pos_line(p), 6);
        assert_int_equal(sf_yaml_pos_column(p), 7);
}

static void test_errors(void **state)
{
        const char *s;

        expect_fail("a: 1\nb: 2\na: 3\n", 15, -EINVAL, "a",
                    "line 3, column 1: duplicate key 'a' (first at line 1, column 1)");
        expect_fail("x:\n  - {k: 1, k: 2}\n", 20, -EINVAL, "x[0].k", "line 2, column 12: duplicate key 'k'");
        expect_fail("a: 1\n---\nb: 2\n", 14, -EINVAL, NULL,
                    "line 2, column 1: more than one YAML document");
        expect_fail("a: 1\n...\n---\nb: 2\n", 18, -EINVAL, NULL, "more than one YAML document");
        expect_fail("1: a\n", 5, -EINVAL, NULL,
                    "line 1, column 1: mapping keys must be strings, not an integer");
        expect_fail("x:\n  true: a\n", 12, -EINVAL, "x", "line 2, column 3: mapping keys must be strings, not a boolean");
        expect_fail("x:\n  ~: a\n", 9, -EINVAL, "x", "mapping keys must be strings, not null");
        expect_fail("? [a]\n: b\n", 10, -EINVAL, NULL, "mapping keys must be strings, not a sequence");
        expect_fail("{a: 1}: b\n", 10, -EINVAL, NULL, "mapping keys must be strings, not a mapping");
        expect_fail("a: [1, 2\n", 9, -EINVAL, NULL, "line 2, column 1:");
        expect_fail("a: b: c\n", 8, -EINVAL, NULL, "line 1, column 5:");
        expect_fail("", 0, -EINVAL, NULL, "empty input");
        expect_fail("# only a comment\n", 17, -EINVAL, NULL, "empty input");
        expect_fail("a: *nope\n", 9, -EINVAL, "a", "line 1, column 5: unknown anchor 'nope'");
        expect_fail("a: &a [*a]\n", 11, -EINVAL, "a[0]", "unknown anchor 'a'");
        expect_fail("a: !foo 1\n", 10, -EINVAL, "a", "line 1, column 4: unsupported tag '!foo'");
        expect_fail("a: !!binary aGk=\n", 16, -EINVAL, "a", "unsupported tag 'tag:yaml.org,2002:binary'");
        expect_fail("a: !!set {x}\n", 13, -EINVAL, "a", "unsupported tag");
        expect_fail("a: !!int x\n", 11, -EINVAL, "a", "'x' is not an integer");
        expect_fail("a: 99999999999999999999\n", 24, -EINVAL, "a", "integer out of range");
        expect_fail("a: 0xffffffffffffffffff\n", 23, -EINVAL, "a", "integer out of range");
        expect_fail("a: .inf\n", 8, -EINVAL, "a", "cannot be represented in JSON");
        expect_fail("a: -.Inf\n", 9, -EINVAL, "a", "cannot be represented in JSON");
        expect_fail("a: .nan\n", 8, -EINVAL, "a", "cannot be represented in JSON");
        expect_fail("a: 1e999\n", 9, -EINVAL, "a", "cannot be represented in JSON");
        expect_fail("a: \"x\\0y\"\n", 10, -EINVAL, "a", "NUL characters");
        s = "a: b\xff\n";
        expect_fail(s, strlen(s), -EINVAL, NULL, "line 1, column 5: the input is not valid UTF-8");
        s = "a: 1\nb: \xed\xa0\x80\n"; /* a UTF-16 surrogate */
        expect_fail(s, strlen(s), -EINVAL, NULL, "line 2, column 4: the input is not valid UTF-8");
        s = "\xff\xfe" "a\0:\0 \0" "1\0";
        expect_fail(s, 10, -EINVAL, NULL, "line 1, column 1: the input is not valid UTF-8");
        expect_fail("a: 1\0b: 2\n", 10, -EINVAL, NULL, "line 1, column 5: NUL character in the input");
        expect_fail("a: [1]\nb:\n  <<: 3\n", 18, -EINVAL, "b.<<", "a merge key (<<) takes a mapping");
        expect_fail("b:\n  <<: [{x: 1}, 2]\n", 21, -EINVAL, "b.<<", "takes mappings, not an integer");
        expect_fail("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", 33, -EINVAL, "b.<<", "duplicate merge key");
}

static void test_limits(void **state)
{
        _cleanup_free_ char *big = NULL, *many = NULL, *deep = NULL, *bomb = NULL;
        size_t n;

        /* Size: one byte over 4 MiB. */
        n = SF_YAML_MAX_SIZE + 1;
        big = xmalloc(n + 1);
        memset(big, '#', n);
        big[n] = 0;
        expect_fail(big, n, -E2BIG, NULL, "more than the 4 MiB limit");

        /* Nodes: a flat sequence longer than the limit. */
        n = SF_YAML_MAX_NODES + 10;
        many = xmalloc(n * 2 + 8);
        {
                char *p = many;
                *p++ = '[';
                for (size_t i = 0; i < n; i++) {
                        *p++ = '1';
                        *p++ = ',';
                }
                strcpy(p, "1]");
        }
        expect_fail(many, strlen(many), -E2BIG, NULL, "more than 100000 nodes");

        /* Depth. */
        deep = xzalloc(2 * (SF_YAML_MAX_DEPTH + 5) + 1);
        for (int i = 0; i < SF_YAML_MAX_DEPTH + 5; i++)
                deep[i] = '[';
        for (int i = 0; i < SF_YAML_MAX_DEPTH + 5; i++)
                deep[SF_YAML_MAX_DEPTH + 5 + i] = ']';
        expect_fail(deep, strlen(deep), -EINVAL, NULL, "levels deep");

        /* Billion laughs: each level doubles, the node limit stops it. */
        {
                char *p;
                bomb = xzalloc(4096);
                p = bomb + sprintf(bomb, "a0: &a0 [x, x]\n");
                for (int i = 1; i < 40; i++)
                        p += sprintf(p, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1, i - 1);
                expect_fail(bomb, strlen(bomb), -E2BIG, NULL, "nodes (aliases included)");
        }
}

static void test_diag(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_yaml_diag d = { 0 };
        json_t *j = NULL, *pos = NULL;
        const char *y = "a:\n  b: 1\n  b: 2\n";

        assert_int_equal(sf_yaml_to_json_pos(y, strlen(y), &j, &pos, &d, &e), -EINVAL);
        assert_int_equal(d.line, 3);
        assert_int_equal(d.column, 3);
        assert_string_equal(d.path, "a.b");
        assert_string_equal(d.msg, "duplicate key 'b' (first at line 2, column 3)");
        assert_null(j);
        assert_null(pos);
        sf_yaml_diag_clear(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scalars),
                cmocka_unit_test(test_order_kept),
                cmocka_unit_test(test_anchors),
                cmocka_unit_test(test_positions),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_diag),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
