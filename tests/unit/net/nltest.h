/* Helpers shared by the src/net unit tests: find attributes in built netlink messages. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>

#include "net/nl.h"

/* The only message of r, asserting there is exactly one. */
static inline const struct nlmsghdr *only_msg(const sf_nlreq *r)
{
        assert_int_equal(sf_nlreq_count(r), 1);
        return sf_nlreq_msg(r, 0);
}

/* Attributes of msg after a fixed header of hdrlen bytes. */
static inline void attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb, unsigned max)
{
        assert_int_equal(sf_nl_parse_attrs(nlh, hdrlen, tb, max), 0);
}

static inline void nested(const struct nlattr *a, const struct nlattr **tb, unsigned max)
{
        assert_non_null(a);
        assert_int_equal(sf_nl_parse_nested(a, tb, max), 0);
}

struct tb_ctx {
        const struct nlattr **tb;
        unsigned max;
};

static inline int tb_cb(const struct nlattr *a, void *data)
{
        struct tb_ctx *c = data;
        if (mnl_attr_get_type(a) <= c->max)
                c->tb[mnl_attr_get_type(a)] = a;
        return MNL_CB_OK;
}

/* A nest whose payload starts with a fixed header (VETH_INFO_PEER: an ifinfomsg). */
static inline const void *nested_with_header(const struct nlattr *a, size_t hdrlen,
                                             const struct nlattr **tb, unsigned max)
{
        struct tb_ctx c = { tb, max };
        const uint8_t *p = mnl_attr_get_payload(a);
        size_t len = mnl_attr_get_payload_len(a);
        memset(tb, 0, sizeof(*tb) * (max + 1));
        assert_true(len >= MNL_ALIGN(hdrlen));
        assert_int_equal(mnl_attr_parse_payload(p + MNL_ALIGN(hdrlen), len - MNL_ALIGN(hdrlen),
                                                tb_cb, &c),
                         MNL_CB_OK);
        return p;
}

static inline void assert_attr_u32(const struct nlattr *a, uint32_t v)
{
        assert_non_null(a);
        assert_int_equal(mnl_attr_get_payload_len(a), 4);
        assert_int_equal(mnl_attr_get_u32(a), v);
}

static inline void assert_attr_u16(const struct nlattr *a, uint16_t v)
{
        assert_non_null(a);
        assert_int_equal(mnl_attr_get_payload_len(a), 2);
        assert_int_equal(mnl_attr_get_u16(a), v);
}

static inline void assert_attr_u8(const struct nlattr *a, uint8_t v)
{
        assert_non_null(a);
        assert_int_equal(mnl_attr_get_payload_len(a), 1);
        assert_int_equal(mnl_attr_get_u8(a), v);
}

static inline void assert_attr_str(const struct nlattr *a, const char *s)
{
        assert_non_null(a);
        assert_int_equal(mnl_attr_get_payload_len(a), strlen(s) + 1);
        assert_string_equal(mnl_attr_get_str(a), s);
}

static inline void assert_attr_bytes(const struct nlattr *a, const void *b, size_t len)
{
        assert_non_null(a);
        assert_int_equal(mnl_attr_get_payload_len(a), len);
        assert_memory_equal(mnl_attr_get_payload(a), b, len);
}
