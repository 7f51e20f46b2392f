/* sha256 for blob digests and content ids, through nettle.
 * Why nettle: Debian's libarchive already links libnettle, so it adds no runtime package; its
 * API is plain C with a caller-allocated context (no library init, no allocation, no global
 * state) and it uses the CPU's SHA extensions where present. libcrypto would also do, at the
 * cost of heap-allocated EVP contexts. nettle is LGPLv3+/GPLv2+, linked dynamically. */
#include <nettle/sha2.h>
#include <nettle/version.h>

#include "agent/image/image-internal.h"

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(sf_sha256), "sf_sha256 too small");
_Static_assert(_Alignof(struct sha256_ctx) <= _Alignof(sf_sha256), "sf_sha256 misaligned");

void sf_sha256_init(sf_sha256 *h)
{
        sha256_init((struct sha256_ctx *) h);
}

void sf_sha256_update(sf_sha256 *h, const void *data, size_t len)
{
        sha256_update((struct sha256_ctx *) h, len, data);
}

void sf_sha256_final(sf_sha256 *h, uint8_t out[SF_SHA256_SIZE])
{
#if NETTLE_VERSION_MAJOR > 3 || (NETTLE_VERSION_MAJOR == 3 && NETTLE_VERSION_MINOR >= 10)
        sha256_digest((struct sha256_ctx *) h, out);
#else
        sha256_digest((struct sha256_ctx *) h, SF_SHA256_SIZE, out);
#endif
}

void sf_sha256_fmt(const uint8_t d[SF_SHA256_SIZE], char buf[static SF_DIGEST_STRLEN])
{
        static const char hex[] = "0123456789abcdef";
        memcpy(buf, "sha256:", 7);
        for (size_t i = 0; i < SF_SHA256_SIZE; i++) {
                buf[7 + 2 * i] = hex[d[i] >> 4];
                buf[7 + 2 * i + 1] = hex[d[i] & 15];
        }
        buf[SF_DIGEST_STRLEN - 1] = 0;
}

void sf_sha256_digest_str(const void *data, size_t len, char buf[static SF_DIGEST_STRLEN])
{
        sf_sha256 h;
        uint8_t d[SF_SHA256_SIZE];
        sf_sha256_init(&h);
        sf_sha256_update(&h, data, len);
        sf_sha256_final(&h, d);
        sf_sha256_fmt(d, buf);
}
