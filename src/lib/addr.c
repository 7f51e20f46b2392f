/* Address parsing and arithmetic on 128-bit integers, shared by IPv4 and IPv6. */
#include <ctype.h>

#include "lib/addr.h"

unsigned sf_addr_bits(int family) { return family == AF_INET ? 32 : 128; }

int sf_addr_parse(const char *s, sf_addr *ret)
{
        sf_addr a = { 0 };
        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, &a.v4) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, &a.v6) == 1)
                a.family = AF_INET6;
        else
                return -EINVAL;
        *ret = a;
        return 0;
}

u128 sf_addr_to_u128(const sf_addr *a)
{
        u128 v = 0;
        unsigned n = a->family == AF_INET ? 4 : 16;
        for (unsigned i = 0; i < n; i++)
                v = (v << 8) | a->b[i];
        return v;
}

sf_addr sf_addr_from_u128(int family, u128 v)
{
        sf_addr a = { .family = family };
        unsigned n = family == AF_INET ? 4 : 16;
        for (unsigned i = n; i-- > 0;) {
                a.b[i] = v & 0xff;
                v >>= 8;
        }
        return a;
}

static u128 hostmask_of(int family, unsigned len)
{
        unsigned host = sf_addr_bits(family) - MIN(len, sf_addr_bits(family));
        if (host == 0)
                return 0;
        if (host == 128)
                return ~(u128) 0;
        return (((u128) 1) << host) - 1;
}

static u128 mask_of(int family, unsigned len)
{
        return hostmask_of(family, 0) & ~hostmask_of(family, len);
}

int sf_prefix_parse(const char *s, bool strict, sf_prefix *ret)
{
        _cleanup_free_ char *copy = NULL;
        char *slash, *end;
        unsigned long len;
        sf_prefix p = { 0 };

        if (!s)
                return -EINVAL;
        copy = xstrdup(s);
        slash = strchr(copy, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        if (sf_addr_parse(copy, &p.addr) < 0)
                return -EINVAL;
        if (!isdigit((unsigned char) slash[1]))
                return -EINVAL;
        errno = 0;
        len = strtoul(slash + 1, &end, 10);
        if (errno || *end || len > sf_addr_bits(p.addr.family))
                return -EINVAL;
        p.len = len;
        if (strict && (sf_addr_to_u128(&p.addr) & hostmask_of(p.addr.family, p.len)))
                return -EDOM;
        *ret = p;
        return 0;
}

const char *sf_addr_fmt(const sf_addr *a, char buf[static SF_ADDR_STRLEN])
{
        if (!inet_ntop(a->family, a->b, buf, SF_ADDR_STRLEN))
                snprintf(buf, SF_ADDR_STRLEN, "?");
        return buf;
}

const char *sf_prefix_fmt(const sf_prefix *p, char buf[static SF_PREFIX_STRLEN])
{
        char a[SF_ADDR_STRLEN];
        snprintf(buf, SF_PREFIX_STRLEN, "%s/%u", sf_addr_fmt(&p->addr, a), p->len);
        return buf;
}

bool sf_addr_eq(const sf_addr *a, const sf_addr *b)
{
        return a->family == b->family &&
               memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16) == 0;
}

int sf_addr_cmp(const sf_addr *a, const sf_addr *b)
{
        u128 x, y;
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        x = sf_addr_to_u128(a);
        y = sf_addr_to_u128(b);
        return x < y ? -1 : x > y ? 1 : 0;
}

bool sf_prefix_contains(const sf_prefix *p, const sf_addr *a)
{
        u128 m;
        if (p->addr.family != a->family)
                return false;
        m = mask_of(p->addr.family, p->len);
        return (sf_addr_to_u128(a) & m) == (sf_addr_to_u128(&p->addr) & m);
}

bool sf_prefix_overlaps(const sf_prefix *a, const sf_prefix *b)
{
        unsigned len;
        u128 m;
        if (a->addr.family != b->addr.family)
                return false;
        len = MIN(a->len, b->len);
        m = mask_of(a->addr.family, len);
        return (sf_addr_to_u128(&a->addr) & m) == (sf_addr_to_u128(&b->addr) & m);
}

sf_addr sf_prefix_first(const sf_prefix *p)
{
        return sf_addr_from_u128(p->addr.family,
                                 sf_addr_to_u128(&p->addr) & mask_of(p->addr.family, p->len));
}

sf_addr sf_prefix_last(const sf_prefix *p)
{
        return sf_addr_from_u128(p->addr.family, (sf_addr_to_u128(&p->addr) &
                                                  mask_of(p->addr.family, p->len)) |
                                                         hostmask_of(p->addr.family, p->len));
}

sf_prefix sf_prefix_masked(const sf_prefix *p)
{
        sf_prefix r = *p;
        r.addr = sf_prefix_first(p);
        return r;
}

int sf_mac_parse(const char *s, uint8_t ret[6])
{
        uint8_t m[6];
        if (!s || strlen(s) != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++) {
                const char *p = s + i * 3;
                if (!isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]))
                        return -EINVAL;
                if (i < 5 && p[2] != ':')
                        return -EINVAL;
                char h[3] = { p[0], p[1], 0 };
                m[i] = (uint8_t) strtoul(h, NULL, 16);
        }
        memcpy(ret, m, 6);
        return 0;
}

const char *sf_mac_fmt(const uint8_t m[6], char buf[static SF_MAC_STRLEN])
{
        snprintf(buf, SF_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
                 m[4], m[5]);
        return buf;
}
