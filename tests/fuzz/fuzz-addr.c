/* libFuzzer target for address, prefix and MAC parsing and formatting (src/lib/addr.c). The
 * input is tried as text (each parser, and format(parse(x)) must parse back to the same value)
 * and, when long enough, as raw bytes of an address and a prefix length (the arithmetic of
 * first/last/contains/overlaps/masked must agree). Any disagreement aborts. */
#include "lib/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                      \
        do {                                                                          \
                if (!(x)) {                                                           \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                      \
                }                                                                     \
        } while (0)

static void check_prefix(const sf_prefix *p)
{
        char buf[SF_PREFIX_STRLEN];
        sf_prefix q, m = sf_prefix_masked(p);
        sf_addr first = sf_prefix_first(p), last = sf_prefix_last(p);
        unsigned bits = sf_addr_bits(p->addr.family);

        CHECK(p->len <= bits);
        CHECK(sf_addr_cmp(&first, &last) <= 0);
        CHECK(sf_prefix_contains(p, &first));
        CHECK(sf_prefix_contains(p, &last));
        CHECK(sf_prefix_contains(p, &p->addr));
        CHECK(sf_prefix_overlaps(p, &m) && sf_prefix_overlaps(&m, p));
        CHECK(sf_addr_eq(&m.addr, &first));
        /* the number of addresses is 2^(bits-len) */
        if (bits - p->len < 128)
                CHECK(sf_addr_to_u128(&last) - sf_addr_to_u128(&first) ==
                      (((u128) 1) << (bits - p->len)) - 1);
        else
                CHECK(sf_addr_to_u128(&last) - sf_addr_to_u128(&first) == ~(u128) 0);
        /* just outside, when there is an outside */
        if (sf_addr_to_u128(&last) != (bits == 32 ? 0xffffffffu : ~(u128) 0)) {
                sf_addr after = sf_addr_from_u128(p->addr.family, sf_addr_to_u128(&last) + 1);
                CHECK(!sf_prefix_contains(p, &after));
        }
        if (sf_addr_to_u128(&first) != 0) {
                sf_addr before = sf_addr_from_u128(p->addr.family, sf_addr_to_u128(&first) - 1);
                CHECK(!sf_prefix_contains(p, &before));
        }
        /* masked formats to a strict prefix; the original formats to a non-strict one */
        CHECK(sf_prefix_parse(sf_prefix_fmt(&m, buf), true, &q) == 0);
        CHECK(sf_addr_eq(&q.addr, &m.addr) && q.len == m.len);
        CHECK(sf_prefix_parse(sf_prefix_fmt(p, buf), false, &q) == 0);
        CHECK(sf_addr_eq(&q.addr, &p->addr) && q.len == p->len);
        CHECK(sf_prefix_parse(buf, true, &q) == (sf_addr_eq(&m.addr, &p->addr) ? 0 : -EDOM));
}

static void check_addr(const sf_addr *a)
{
        char buf[SF_ADDR_STRLEN];
        sf_addr b;
        CHECK(a->family == AF_INET || a->family == AF_INET6);
        CHECK(sf_addr_parse(sf_addr_fmt(a, buf), &b) == 0);
        CHECK(sf_addr_eq(a, &b));
        CHECK(sf_addr_cmp(a, &b) == 0);
        b = sf_addr_from_u128(a->family, sf_addr_to_u128(a));
        CHECK(sf_addr_eq(a, &b));
}

static void text(const char *s)
{
        sf_addr a;
        sf_prefix p, q;
        uint8_t m[6], m2[6];
        char buf[SF_MAC_STRLEN];
        int strict, loose;

        if (sf_addr_parse(s, &a) == 0)
                check_addr(&a);
        strict = sf_prefix_parse(s, true, &p);
        loose = sf_prefix_parse(s, false, &q);
        CHECK(strict == 0 || strict == -EINVAL || strict == -EDOM);
        CHECK(loose == 0 || loose == -EINVAL);
        /* strict accepts a subset of what non-strict accepts, -EDOM exactly for host bits */
        CHECK((strict == 0 || strict == -EDOM) == (loose == 0));
        if (strict == 0) {
                CHECK(sf_addr_eq(&p.addr, &q.addr) && p.len == q.len);
                check_prefix(&p);
        }
        if (loose == 0) {
                check_addr(&q.addr);
                check_prefix(&q);
        }
        if (sf_mac_parse(s, m) == 0) {
                CHECK(sf_mac_parse(sf_mac_fmt(m, buf), m2) == 0);
                CHECK(memcmp(m, m2, 6) == 0);
                CHECK(strlen(buf) == 17);
        }
}

static void raw(const uint8_t *data, size_t size)
{
        /* byte 0: family and prefix length; bytes 1..16: the address */
        sf_addr a = { .family = data[0] & 1 ? AF_INET6 : AF_INET };
        sf_prefix p;
        memcpy(a.b, data + 1, 16);
        if (a.family == AF_INET)
                memset(a.b + 4, 0, 12);
        check_addr(&a);
        p.addr = a;
        p.len = (data[0] >> 1) % (sf_addr_bits(a.family) + 1);
        check_prefix(&p);
        if (size >= 34) {
                sf_prefix o = { .addr = { .family = a.family } };
                memcpy(o.addr.b, data + 18, a.family == AF_INET ? 4 : 16);
                o.len = data[17] % (sf_addr_bits(a.family) + 1);
                /* overlap is symmetric and means one contains the other's first address */
                sf_addr f1 = sf_prefix_first(&p), f2 = sf_prefix_first(&o);
                bool ov = sf_prefix_overlaps(&p, &o);
                CHECK(ov == sf_prefix_overlaps(&o, &p));
                CHECK(ov == (sf_prefix_contains(&p, &f2) || sf_prefix_contains(&o, &f1)));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s;
        if (size > 256)
                return 0;
        s = strndup((const char *) data, size);
        if (!s)
                abort();
        text(s);
        free(s);
        if (size >= 17)
                raw(data, size);
        return 0;
}
