/* Unit tests for src/net/nl.c: request building (bounds, nests, flags), error/ext-ACK decoding,
 * and, when a NETLINK_ROUTE socket can be opened, batch error reporting with GET requests
 * (which need no privilege). */
#include <linux/rtnetlink.h>
#include <net/if.h>

#include "lib/macro.h"
#include "nltest.h"

static void test_begin_end(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;
        size_t len;

        sf_nlreq_begin(r, RTM_GETLINK, 0, "get link '%s'", "lo");
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        assert_non_null(ifi);
        sf_nlreq_put_strz(r, IFLA_IFNAME, "lo");
        assert_int_equal(sf_nlreq_end(r, NULL), 0);

        assert_int_equal(sf_nlreq_count(r), 1);
        nlh = sf_nlreq_msg(r, 0);
        assert_int_equal(nlh->nlmsg_type, RTM_GETLINK);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(nlh->nlmsg_seq, 0);
        /* header 16 + ifinfomsg 16 + attr 4 + "lo\0" padded to 4 */
        assert_int_equal(nlh->nlmsg_len, 16 + 16 + 8);
        assert_string_equal(sf_nlreq_what(r, 0), "get link 'lo'");
        sf_nlreq_data(r, &len);
        assert_int_equal(len, 40);
        assert_null(sf_nlreq_msg(r, 1));
        assert_int_equal(sf_nlreq_failed(r), -1);
}

static void test_two_messages_back_to_back(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const uint8_t *data;
        size_t len;

        sf_nlreq_begin(r, RTM_GETLINK, 0, "a");
        sf_nlreq_put_u8(r, 1, 7); /* 5 bytes, padded to 8 */
        assert_int_equal(sf_nlreq_end(r, NULL), 0);
        sf_nlreq_begin(r, RTM_GETADDR, NLM_F_DUMP, "b");
        assert_int_equal(sf_nlreq_end(r, NULL), 0);

        data = sf_nlreq_data(r, &len);
        assert_int_equal(len, 24 + 16);
        assert_ptr_equal(sf_nlreq_msg(r, 1), (const void *) (data + 24));
        assert_int_equal(sf_nlreq_msg(r, 1)->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
        /* the padding byte after the u8 is zero, so the bytes are deterministic */
        assert_int_equal(data[16 + 4], 7);
        assert_int_equal(data[16 + 5], 0);
        assert_int_equal(data[16 + 7], 0);
}

static void test_overflow(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *big = xzalloc(SF_NLMSG_MAX);

        sf_nlreq_begin(r, RTM_NEWLINK, 0, "too big");
        sf_nlreq_put(r, IFLA_IFALIAS, SF_NLMSG_MAX - 100, big);
        sf_nlreq_put(r, IFLA_IFALIAS, 200, big); /* does not fit any more */
        assert_null(sf_nlreq_nest_start(r, IFLA_LINKINFO));
        assert_int_equal(sf_nlreq_end(r, &e), -EMSGSIZE);
        assert_non_null(strstr(sf_err_msg(&e), "too big"));
        assert_int_equal(sf_nlreq_count(r), 0);

        /* the request is still usable */
        sf_nlreq_begin(r, RTM_GETLINK, 0, "small");
        assert_int_equal(sf_nlreq_end(r, NULL), 0);
        assert_int_equal(sf_nlreq_count(r), 1);
}

static void test_end_without_begin(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        assert_int_equal(sf_nlreq_end(r, NULL), -EINVAL);
}

static void test_nest(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        const struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
        struct nlattr *n;

        sf_nlreq_begin(r, RTM_NEWLINK, 0, "nest");
        sf_nlreq_reserve(r, sizeof(struct ifinfomsg));
        n = sf_nlreq_nest_start(r, IFLA_LINKINFO);
        assert_non_null(n);
        sf_nlreq_put_strz(r, IFLA_INFO_KIND, "bridge");
        sf_nlreq_nest_end(r, n);
        assert_int_equal(sf_nlreq_end(r, NULL), 0);

        attrs(only_msg(r), sizeof(struct ifinfomsg), tb, IFLA_MAX);
        nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        assert_attr_str(li[IFLA_INFO_KIND], "bridge");
        assert_int_equal(mnl_attr_get_payload_len(tb[IFLA_LINKINFO]), 12);
}

static void test_begin_drops_unfinished(void **state)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        sf_nlreq_begin(r, RTM_NEWLINK, 0, "dropped");
        sf_nlreq_put_u32(r, IFLA_MTU, 1500);
        sf_nlreq_begin(r, RTM_GETLINK, 0, "kept");
        assert_int_equal(sf_nlreq_end(r, NULL), 0);
        assert_int_equal(sf_nlreq_count(r), 1);
        assert_int_equal(sf_nlreq_msg(r, 0)->nlmsg_type, RTM_GETLINK);
        assert_int_equal(sf_nlreq_msg(r, 0)->nlmsg_len, 16);
}

static void test_mode_flags(void **state)
{
        assert_int_equal(sf_nl_mode_flags(SF_NL_ADD), NLM_F_CREATE | NLM_F_EXCL);
        assert_int_equal(sf_nl_mode_flags(SF_NL_REPLACE), NLM_F_CREATE | NLM_F_REPLACE);
        assert_int_equal(sf_nl_mode_flags(SF_NL_APPEND), NLM_F_CREATE | NLM_F_APPEND);
        assert_int_equal(sf_nl_mode_flags(SF_NL_DEL), 0);
}

/* An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and NETLINK_EXT_ACK. */
static size_t make_error(uint8_t *buf, size_t size, int err, bool capped, const char *kmsg)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nlmsgerr *me;

        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_seq = 5;
        me = mnl_nlmsg_put_extra_header(nlh, sizeof(*me));
        me->error = err;
        me->msg.nlmsg_len = 16 + 20; /* the original request: header and 20 payload bytes */
        me->msg.nlmsg_type = RTM_NEWLINK;
        if (capped)
                nlh->nlmsg_flags |= NLM_F_CAPPED;
        else
                mnl_nlmsg_put_extra_header(nlh, 20); /* the echoed payload */
        if (kmsg) {
                nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
                assert_true(mnl_attr_put_strz_check(nlh, size, NLMSGERR_ATTR_MSG, kmsg));
                assert_true(mnl_attr_put_u32_check(nlh, size, NLMSGERR_ATTR_OFFS, 20));
        }
        return nlh->nlmsg_len;
}

static void test_parse_error_capped(void **state)
{
        uint8_t buf[256];
        const char *kmsg;
        int err;

        make_error(buf, sizeof(buf), -EEXIST, true, "Device already exists");
        assert_int_equal(sf_nl_parse_error((struct nlmsghdr *) buf, &err, &kmsg), 0);
        assert_int_equal(err, -EEXIST);
        assert_non_null(kmsg);
        assert_string_equal(kmsg, "Device already exists");
}

static void test_parse_error_uncapped(void **state)
{
        uint8_t buf[256];
        const char *kmsg;
        int err;

        make_error(buf, sizeof(buf), -EOPNOTSUPP, false, "Unknown device type");
        assert_int_equal(sf_nl_parse_error((struct nlmsghdr *) buf, &err, &kmsg), 0);
        assert_int_equal(err, -EOPNOTSUPP);
        assert_string_equal(kmsg, "Unknown device type");
}

static void test_parse_ack(void **state)
{
        uint8_t buf[256];
        const char *kmsg = "x";
        int err = 1;

        make_error(buf, sizeof(buf), 0, true, NULL);
        assert_int_equal(sf_nl_parse_error((struct nlmsghdr *) buf, &err, &kmsg), 0);
        assert_int_equal(err, 0);
        assert_null(kmsg);
}

static void test_parse_error_truncated(void **state)
{
        uint8_t buf[64] = {};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        int err;
        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_len = 16 + 8; /* shorter than struct nlmsgerr */
        assert_int_equal(sf_nl_parse_error(nlh, &err, NULL), -EBADMSG);
}

static void test_parse_done(void **state)
{
        uint8_t buf[64] = {};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        int *status, err;
        nlh->nlmsg_type = NLMSG_DONE;
        status = mnl_nlmsg_put_extra_header(nlh, sizeof(int));
        *status = -ENOBUFS;
        assert_int_equal(sf_nl_parse_error(nlh, &err, NULL), 0);
        assert_int_equal(err, -ENOBUFS);
}

/* ---- against the kernel: GET requests need no privilege ---- */

static void get_link(sf_nlreq *r, const char *name)
{
        struct ifinfomsg *ifi;
        sf_nlreq_begin(r, RTM_GETLINK, 0, "get link '%s'", name);
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        sf_nlreq_put_strz(r, IFLA_IFNAME, name);
        assert_int_equal(sf_nlreq_end(r, NULL), 0);
}

static int count_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        int *n = userdata;
        if (nlh->nlmsg_type == RTM_NEWLINK)
                n[idx]++;
        return 0;
}

static void test_exec_batch(void **state)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int seen[3] = {};

        if (sf_nl_open(&nl, NULL) < 0)
                skip();
        get_link(r, "lo");
        get_link(r, "sfnosuchlink0");
        get_link(r, "lo");
        assert_int_equal(sf_nl_exec(nl, r, count_cb, seen, &e), -ENODEV);
        assert_int_equal(sf_nlreq_failed(r), 1);
        assert_non_null(strstr(sf_err_msg(&e), "get link 'sfnosuchlink0' (request 2 of 3)"));
        assert_non_null(strstr(sf_err_msg(&e), "No such device"));
        /* the kernel still answered the third request */
        assert_int_equal(seen[0], 1);
        assert_int_equal(seen[1], 0);
        assert_int_equal(seen[2], 1);

        /* the socket is in a clean state for the next exec */
        sf_nlreq_reset(r);
        get_link(r, "lo");
        memset(seen, 0, sizeof(seen));
        assert_int_equal(sf_nl_exec(nl, r, count_cb, seen, NULL), 0);
        assert_int_equal(seen[0], 1);
}

static void test_exec_tolerate(void **state)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct ifinfomsg *ifi;

        if (sf_nl_open(&nl, NULL) < 0)
                skip();
        sf_nlreq_begin(r, RTM_GETLINK, 0, "get missing");
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        sf_nlreq_put_strz(r, IFLA_IFNAME, "sfnosuchlink0");
        sf_nlreq_tolerate(r, ENODEV);
        assert_int_equal(sf_nlreq_end(r, NULL), 0);
        assert_int_equal(sf_nl_exec(nl, r, NULL, NULL, NULL), 0);
        assert_int_equal(sf_nlreq_failed(r), -1);
}

static void test_exec_dump_between(void **state)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct ifinfomsg *ifi;
        int seen[3] = {};

        if (sf_nl_open(&nl, NULL) < 0)
                skip();
        get_link(r, "lo");
        sf_nlreq_begin(r, RTM_GETLINK, NLM_F_DUMP, "list links");
        ifi = sf_nlreq_reserve(r, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        assert_int_equal(sf_nlreq_end(r, NULL), 0);
        get_link(r, "lo");
        assert_int_equal(sf_nl_exec(nl, r, count_cb, seen, NULL), 0);
        assert_int_equal(seen[0], 1);
        assert_true(seen[1] >= 1); /* at least lo */
        assert_int_equal(seen[2], 1);
}

static void test_exec_unfinished(void **state)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        if (sf_nl_open(&nl, NULL) < 0)
                skip();
        sf_nlreq_begin(r, RTM_GETLINK, 0, "half");
        assert_int_equal(sf_nl_exec(nl, r, NULL, NULL, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_begin_end),
                cmocka_unit_test(test_two_messages_back_to_back),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_end_without_begin),
                cmocka_unit_test(test_nest),
                cmocka_unit_test(test_begin_drops_unfinished),
                cmocka_unit_test(test_mode_flags),
                cmocka_unit_test(test_parse_error_capped),
                cmocka_unit_test(test_parse_error_uncapped),
                cmocka_unit_test(test_parse_ack),
                cmocka_unit_test(test_parse_error_truncated),
                cmocka_unit_test(test_parse_done),
                cmocka_unit_test(test_exec_batch),
                cmocka_unit_test(test_exec_tolerate),
                cmocka_unit_test(test_exec_dump_between),
                cmocka_unit_test(test_exec_unfinished),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
