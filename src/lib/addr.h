/* IPv4/IPv6 addresses, prefixes and MAC addresses: parsing, formatting, arithmetic. */
#pragma once

#include <netinet/in.h>
#include <arpa/inet.h>

#include "lib/macro.h"

typedef unsigned __int128 u128;

typedef struct sf_addr {
        int family; /* AF_INET or AF_INET6 */
        union {
                struct in_addr v4;
                struct in6_addr v6;
                uint8_t b[16];
        };
} sf_addr;

typedef struct sf_prefix {
        sf_addr addr;
        unsigned len;
} sf_prefix;

#define SF_ADDR_STRLEN INET6_ADDRSTRLEN
#define SF_PREFIX_STRLEN (INET6_ADDRSTRLEN + 4)
#define SF_MAC_STRLEN 18

int sf_addr_parse(const char *s, sf_addr *ret);
/* "10.0.0.0/24". Fails with -EINVAL if host bits are set (strict) or the syntax is wrong. */
int sf_prefix_parse(const char *s, bool strict, sf_prefix *ret);
const char *sf_addr_fmt(const sf_addr *a, char buf[static SF_ADDR_STRLEN]);
const char *sf_prefix_fmt(const sf_prefix *p, char buf[static SF_PREFIX_STRLEN]);
unsigned sf_addr_bits(int family);
u128 sf_addr_to_u128(const sf_addr *a);
sf_addr sf_addr_from_u128(int family, u128 v);
bool sf_addr_eq(const sf_addr *a, const sf_addr *b);
int sf_addr_cmp(const sf_addr *a, const sf_addr *b);
bool sf_prefix_contains(const sf_prefix *p, const sf_addr *a);
bool sf_prefix_overlaps(const sf_prefix *a, const sf_prefix *b);
sf_addr sf_prefix_first(const sf_prefix *p); /* network address */
sf_addr sf_prefix_last(const sf_prefix *p);  /* broadcast address for IPv4 */
sf_prefix sf_prefix_masked(const sf_prefix *p);

int sf_mac_parse(const char *s, uint8_t ret[6]);
const char *sf_mac_fmt(const uint8_t m[6], char buf[static SF_MAC_STRLEN]);
static inline bool sf_mac_is_multicast(const uint8_t m[6]) { return m[0] & 1; }
static inline bool sf_mac_is_local(const uint8_t m[6]) { return m[0] & 2; }
static inline bool sf_mac_is_zero(const uint8_t m[6])
{
        return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}
