/* Unit tests: IPv4/IPv6 address and prefix parsing, formatting and arithmetic (src/lib/addr.c),
 * and MAC addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/addr.h"

static sf_addr A(const char *s)
{
        sf_addr a;
        if (sf_addr_parse(s, &a) < 0)
                fail_msg("'%s' does not parse", s);
        return a;
}

static sf_prefix P(const char *s)
{
        sf_prefix p;
        int r = sf_prefix_parse(s, true, &p);
        if (r < 0)
                fail_msg("'%s' does not parse: %d", s, r);
        return p;
}

static const char *fmt(const sf_addr *a)
{
        static char buf[4][SF_ADDR_STRLEN];
        static int i;
        return sf_addr_fmt(a, buf[i++ % 4]);
}

static void test_addr_parse_v4(void **state)
{
        sf_addr a = A("10.1.2.3");
        assert_int_equal(a.family, AF_INET);
        assert_int_equal(a.b[0], 10);
        assert_int_equal(a.b[1], 1);
        assert_int_equal(a.b[2], 2);
        assert_int_equal(a.b[3], 3);
        assert_string_equal(fmt(&a), "10.1.2.3");
        a = A("0.0.0.0");
        assert_string_equal(fmt(&a), "0.0.0.0");
        a = A("255.255.255.255");
        assert_string_equal(fmt(&a), "255.255.255.255");
        assert_int_equal(sf_addr_bits(AF_INET), 32);
}

static void test_addr_parse_v6(void **state)
{
        sf_addr a = A("fd00::1");
        assert_int_equal(a.family, AF_INET6);
        assert_int_equal(a.b[0], 0xfd);
        assert_int_equal(a.b[15], 1);
        assert_string_equal(fmt(&a), "fd00::1");
        a = A("FD00:0:0:0:0:0:0:1"); /* upper case and long form: formatted canonically */
        assert_string_equal(fmt(&a), "fd00::1");
        a = A("::");
        assert_string_equal(fmt(&a), "::");
        a = A("::ffff:1.2.3.4"); /* a v4-mapped address stays IPv6 */
        assert_int_equal(a.family, AF_INET6);
        assert_string_equal(fmt(&a), "::ffff:1.2.3.4");
        assert_int_equal(sf_addr_bits(AF_INET6), 128);
}

static void test_addr_parse_invalid(void **state)
{
        static const char *const bad[] = {
                "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-1", " 1.2.3.4", "1.2.3.4 ",
                "1.2.3.4/32", "fd00:::1", "fd00::1::2", "g::1", "1:2:3:4:5:6:7:8:9", "localhost",
                "0x01020304",
        };
        sf_addr a = { .family = 12345 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (sf_addr_parse(bad[i], &a) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_int_equal(a.family, 12345); /* untouched on failure */
        }
        assert_int_equal(sf_addr_parse(NULL, &a), -EINVAL);
}

static void test_prefix_parse(void **state)
{
        char buf[SF_PREFIX_STRLEN];
        sf_prefix p = P("10.0.0.0/24");
        assert_int_equal(p.addr.family, AF_INET);
        assert_int_equal(p.len, 24);
        assert_string_equal(sf_prefix_fmt(&p, buf), "10.0.0.0/24");
        p = P("fd00:1::/64");
        assert_int_equal(p.addr.family, AF_INET6);
        assert_int_equal(p.len, 64);
        assert_string_equal(sf_prefix_fmt(&p, buf), "fd00:1::/64");
        p = P("0.0.0.0/0");
        assert_int_equal(p.len, 0);
        p = P("::/0");
        assert_int_equal(p.len, 0);
        p = P("10.0.0.7/32");
        assert_int_equal(p.len, 32);
        p = P("fd00::7/128");
        assert_int_equal(p.len, 128);
}

static void test_prefix_host_bits(void **state)
{
        char buf[SF_PREFIX_STRLEN];
        sf_prefix p = { 0 };
        /* strict: host bits set is -EDOM, distinct from a syntax error */
        assert_int_equal(sf_prefix_parse("10.0.0.1/24", true, &p), -EDOM);
        assert_int_equal(p.len, 0); /* untouched */
        assert_int_equal(sf_prefix_parse("1.0.0.0/0", true, &p), -EDOM);
        assert_int_equal(sf_prefix_parse("10.0.0.1/31", true, &p), -EDOM);
        assert_int_equal(sf_prefix_parse("fd00::1/64", true, &p), -EDOM);
        assert_int_equal(sf_prefix_parse("fd00::1/127", true, &p), -EDOM);
        assert_int_equal(sf_prefix_parse("::1/0", true, &p), -EDOM);
        /* non-strict keeps the address as written */
        assert_int_equal(sf_prefix_parse("10.0.0.1/24", false, &p), 0);
        assert_string_equal(sf_prefix_fmt(&p, buf), "10.0.0.1/24");
        p = sf_prefix_masked(&p);
        assert_string_equal(sf_prefix_fmt(&p, buf), "10.0.0.0/24");
        assert_int_equal(sf_prefix_parse("fd00::1:2:3/64", false, &p), 0);
        p = sf_prefix_masked(&p);
        assert_string_equal(sf_prefix_fmt(&p, buf), "fd00::/64");
        /* the last bit of a /31 and /127 is a host bit, and /32 has none */
        assert_int_equal(sf_prefix_parse("10.0.0.1/32", true, &p), 0);
        assert_int_equal(sf_prefix_parse("fd00::1/128", true, &p), 0);
}

static void test_prefix_parse_invalid(void **state)
{
        static const char *const bad[] = {
                "10.0.0.0",      "10.0.0.0/",    "10.0.0.0/33",  "10.0.0.0/-1",
                "10.0.0.0/+8",   "10.0.0.0/ 8",  "10.0.0.0/8x",  "10.0.0.0/8/8",
                "/8",            "fd00::/129",   "fd00::/1000",  "10.0.0/8",
                "10.0.0.0/99999999999999999999999", "10.0.0.0/0x8", "",
                "banana/8",
        };
        sf_prefix p;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                for (int strict = 0; strict < 2; strict++) {
                        int r = sf_prefix_parse(bad[i], strict, &p);
                        if (r != -EINVAL)
                                fail_msg("'%s' (strict=%d): %d, expected -EINVAL", bad[i], strict,
                                         r);
                }
        assert_int_equal(sf_prefix_parse(NULL, true, &p), -EINVAL);
}

static void test_contains(void **state)
{
        sf_prefix p = P("10.0.0.0/24"), all4 = P("0.0.0.0/0"), all6 = P("::/0");
        sf_prefix h = P("10.0.0.7/32"), v6 = P("fd00::/64"), h6 = P("fd00::7/128");
        sf_addr in = A("10.0.0.255"), in0 = A("10.0.0.0"), out = A("10.0.1.0"),
                out2 = A("9.255.255.255"), six = A("fd00::ffff:ffff:ffff:ffff"),
                six_out = A("fd00:0:0:1::");
        assert_true(sf_prefix_contains(&p, &in));
        assert_true(sf_prefix_contains(&p, &in0));
        assert_false(sf_prefix_contains(&p, &out));
        assert_false(sf_prefix_contains(&p, &out2));
        assert_false(sf_prefix_contains(&p, &six)); /* other family */
        assert_true(sf_prefix_contains(&all4, &out2));
        assert_true(sf_prefix_contains(&all4, &in));
        assert_false(sf_prefix_contains(&all4, &six));
        assert_true(sf_prefix_contains(&all6, &six));
        assert_false(sf_prefix_contains(&all6, &in));
        sf_addr seven = A("10.0.0.7"), eight = A("10.0.0.8");
        assert_true(sf_prefix_contains(&h, &seven));
        assert_false(sf_prefix_contains(&h, &eight));
        assert_true(sf_prefix_contains(&v6, &six));
        assert_false(sf_prefix_contains(&v6, &six_out));
        sf_addr s7 = A("fd00::7"), s8 = A("fd00::8");
        assert_true(sf_prefix_contains(&h6, &s7));
        assert_false(sf_prefix_contains(&h6, &s8));
}

static void test_overlaps(void **state)
{
        static const struct {
                const char *a, *b;
                bool overlap;
        } t[] = {
                { "10.0.0.0/8", "10.1.0.0/16", true },
                { "10.0.0.0/24", "10.0.1.0/24", false },
                { "10.0.0.0/23", "10.0.1.0/24", true },
                { "10.0.0.0/24", "10.0.0.0/24", true },
                { "10.0.0.0/31", "10.0.0.2/31", false },
                { "10.0.0.1/32", "10.0.0.0/31", true },
                { "0.0.0.0/0", "192.168.0.0/16", true },
                { "10.0.0.0/8", "fd00::/8", false },
                { "::/0", "fd00::/64", true },
                { "fd00::/64", "fd00:0:0:1::/64", false },
                { "fd00::/63", "fd00:0:0:1::/64", true },
                { "fd00::1/128", "fd00::/127", true },
                { "fd00::2/128", "fd00::/127", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                sf_prefix a = P(t[i].a), b = P(t[i].b);
                if (sf_prefix_overlaps(&a, &b) != t[i].overlap ||
                    sf_prefix_overlaps(&b, &a) != t[i].overlap)
                        fail_msg("%s vs %s: expected overlap=%d", t[i].a, t[i].b, t[i].overlap);
        }
}

static void test_first_last(void **state)
{
        static const struct {
                const char *p, *first, *last;
        } t[] = {
                { "0.0.0.0/0", "0.0.0.0", "255.255.255.255" },
                { "10.0.0.0/8", "10.0.0.0", "10.255.255.255" },
                { "192.168.1.0/24", "192.168.1.0", "192.168.1.255" },
                { "10.0.0.4/30", "10.0.0.4", "10.0.0.7" },
                { "10.0.0.2/31", "10.0.0.2", "10.0.0.3" },
                { "10.0.0.9/32", "10.0.0.9", "10.0.0.9" },
                { "255.255.255.255/32", "255.255.255.255", "255.255.255.255" },
                { "::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
                { "fd00::/8", "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
                { "fd00:1:2:3::/64", "fd00:1:2:3::", "fd00:1:2:3:ffff:ffff:ffff:ffff" },
                { "fd00::/127", "fd00::", "fd00::1" },
                { "fd00::5/128", "fd00::5", "fd00::5" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                sf_prefix p = P(t[i].p);
                sf_addr f = sf_prefix_first(&p), l = sf_prefix_last(&p);
                assert_string_equal(fmt(&f), t[i].first);
                assert_string_equal(fmt(&l), t[i].last);
                assert_int_equal(f.family, p.addr.family);
                assert_int_equal(l.family, p.addr.family);
                assert_true(sf_prefix_contains(&p, &f));
                assert_true(sf_prefix_contains(&p, &l));
        }
        /* first/last of a non-strict prefix mask the host bits */
        sf_prefix p;
        assert_int_equal(sf_prefix_parse("10.1.2.3/16", false, &p), 0);
        sf_addr f = sf_prefix_first(&p), l = sf_prefix_last(&p);
        assert_string_equal(fmt(&f), "10.1.0.0");
        assert_string_equal(fmt(&l), "10.1.255.255");
}

static void test_u128(void **state)
{
        sf_addr a = A("10.0.0.1"), b;
        assert_true(sf_addr_to_u128(&a) == 0x0a000001);
        b = sf_addr_from_u128(AF_INET, 0x0a000001);
        assert_true(sf_addr_eq(&a, &b));
        a = A("255.255.255.255");
        assert_true(sf_addr_to_u128(&a) == 0xffffffffu);
        a = A("::");
        assert_true(sf_addr_to_u128(&a) == 0);
        a = A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        assert_true(sf_addr_to_u128(&a) == ~(u128) 0);
        b = sf_addr_from_u128(AF_INET6, ~(u128) 0);
        assert_true(sf_addr_eq(&a, &b));
        a = A("fd00::1:0");
        assert_true(sf_addr_to_u128(&a) == (((u128) 0xfd00 << 112) | 0x10000));
        /* arithmetic across a byte and a 64-bit boundary */
        a = A("fd00::ffff:ffff:ffff:ffff");
        b = sf_addr_from_u128(AF_INET6, sf_addr_to_u128(&a) + 1);
        assert_string_equal(fmt(&b), "fd00:0:0:1::");
        a = A("10.0.0.255");
        b = sf_addr_from_u128(AF_INET, sf_addr_to_u128(&a) + 1);
        assert_string_equal(fmt(&b), "10.0.1.0");
        /* a pseudo-random round trip */
        u128 v = 0x0123456789abcdefULL;
        for (int i = 0; i < 1000; i++) {
                v = v * 6364136223846793005ULL + 1442695040888963407ULL;
                u128 w = (v << 64) ^ (v * 3);
                sf_addr x = sf_addr_from_u128(AF_INET6, w), y;
                assert_true(sf_addr_to_u128(&x) == w);
                assert_int_equal(sf_addr_parse(fmt(&x), &y), 0);
                assert_true(sf_addr_eq(&x, &y));
                x = sf_addr_from_u128(AF_INET, w & 0xffffffffu);
                assert_true(sf_addr_to_u128(&x) == (w & 0xffffffffu));
                assert_int_equal(sf_addr_parse(fmt(&x), &y), 0);
                assert_true(sf_addr_eq(&x, &y));
        }
}

static void test_cmp_eq(void **state)
{
        sf_addr a = A("10.0.0.1"), b = A("10.0.0.2"), c = A("10.0.0.1"), d = A("::a00:1");
        assert_int_equal(sf_addr_cmp(&a, &b), -1);
        assert_int_equal(sf_addr_cmp(&b, &a), 1);
        assert_int_equal(sf_addr_cmp(&a, &c), 0);
        assert_true(sf_addr_eq(&a, &c));
        assert_false(sf_addr_eq(&a, &b));
        /* same integer value, different family: never equal, v4 sorts first */
        assert_true(sf_addr_to_u128(&a) == sf_addr_to_u128(&d));
        assert_false(sf_addr_eq(&a, &d));
        assert_int_equal(sf_addr_cmp(&a, &d), -1);
        assert_int_equal(sf_addr_cmp(&d, &a), 1);
        a = A("9.255.255.255");
        b = A("10.0.0.0");
        assert_int_equal(sf_addr_cmp(&a, &b), -1);
}

static void test_mac(void **state)
{
        uint8_t m[6], z[6] = { 0 };
        char buf[SF_MAC_STRLEN];
        assert_int_equal(sf_mac_parse("02:5f:00:00:00:01", m), 0);
        assert_int_equal(m[0], 0x02);
        assert_int_equal(m[1], 0x5f);
        assert_int_equal(m[5], 0x01);
        assert_string_equal(sf_mac_fmt(m, buf), "02:5f:00:00:00:01");
        assert_true(sf_mac_is_local(m));
        assert_false(sf_mac_is_multicast(m));
        assert_false(sf_mac_is_zero(m));
        assert_int_equal(sf_mac_parse("AA:bb:CC:dd:EE:ff", m), 0);
        assert_string_equal(sf_mac_fmt(m, buf), "aa:bb:cc:dd:ee:ff");
        assert_false(sf_mac_is_multicast(m));
        assert_int_equal(sf_mac_parse("01:00:5e:00:00:01", m), 0);
        assert_true(sf_mac_is_multicast(m));
        assert_false(sf_mac_is_local(m));
        assert_int_equal(sf_mac_parse("ff:ff:ff:ff:ff:ff", m), 0);
        assert_true(sf_mac_is_multicast(m));
        assert_int_equal(sf_mac_parse("00:00:00:00:00:00", m), 0);
        assert_true(sf_mac_is_zero(m));
        assert_true(sf_mac_is_zero(z));
        assert_string_equal(sf_mac_fmt(z, buf), "00:00:00:00:00:00");

        static const char *const bad[] = {
                "",                   "02:5f:00:00:00",     "02:5f:00:00:00:01:",
                "02-5f-00-00-00-01",  "02:5f:00:00:00:0g",  "02:5f:00:00:00:011",
                "025f:00:00:00:00:1", " 2:5f:00:00:00:01",  "02:5f:0:000:00:01",
                "02:5f:00:00:00:01 ", "0x:5f:00:00:00:01",  "02.5f.00.00.00.01",
        };
        uint8_t keep[6] = { 1, 2, 3, 4, 5, 6 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memcpy(m, keep, 6);
                if (sf_mac_parse(bad[i], m) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_memory_equal(m, keep, 6);
        }
        assert_int_equal(sf_mac_parse(NULL, m), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr_parse_v4),    cmocka_unit_test(test_addr_parse_v6),
                cmocka_unit_test(test_addr_parse_invalid), cmocka_unit_test(test_prefix_parse),
                cmocka_unit_test(test_prefix_host_bits), cmocka_unit_test(test_prefix_parse_invalid),
                cmocka_unit_test(test_contains),         cmocka_unit_test(test_overlaps),
                cmocka_unit_test(test_first_last),       cmocka_unit_test(test_u128),
                cmocka_unit_test(test_cmp_eq),           cmocka_unit_test(test_mac),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
