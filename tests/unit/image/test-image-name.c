/* Unit tests: image name validation and normalisation, and the store directory key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/image/image-internal.h"

static void test_valid(void **state)
{
        static const struct {
                const char *in, *out;
        } t[] = {
                { "busybox", "busybox:latest" },
                { "busybox:1.35", "busybox:1.35" },
                { "registry.example/x/y:tag", "registry.example/x/y:tag" },
                { "localhost:5000/foo", "localhost:5000/foo:latest" },
                { "localhost/foo:v1", "localhost/foo:v1" },
                { "Registry.Example:443/a/b", "Registry.Example:443/a/b:latest" },
                { "a__b-c---d/e.f_g", "a__b-c---d/e.f_g:latest" },
                { "a.b/c", "a.b/c:latest" }, /* a domain: it has a dot */
                { "x:_Tag.1-2", "x:_Tag.1-2" },
                { "0", "0:latest" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                _cleanup_free_ char *c = NULL;
                int r = sf_image_name_normalize(t[i].in, &c, &e);
                if (r < 0)
                        fail_msg("'%s' rejected: %s", t[i].in, sf_err_msg(&e));
                assert_string_equal(c, t[i].out);
        }
}

static void test_invalid(void **state)
{
        static const struct {
                const char *in, *msg;
        } t[] = {
                { "", "empty" },
                { "BusyBox", "lower-case" },
                { "busybox:", "tag after ':' is empty" },
                { "busybox:-x", "tag must start" },
                { "busybox:a/b", "port" },
                { "busy box", "space" },
                { "busybox@sha256:abcd", "digest references" },
                { "/busybox", "empty path component" },
                { "a//b", "empty path component" },
                { "a/", "empty path component" },
                { "-abc", "start and end" },
                { "a..b", "separators" },
                { "a___b", "separators" },
                { "a.-b", "separators" },
                { "a$b", "character '$'" },
                { "host:99999x/a", "port" },
                { "-host.com/a", "registry host" },
                { "a:b:c", "':' is allowed only" },
                { "a\nb", "non-printable" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                _cleanup_free_ char *c = NULL;
                int r = sf_image_name_normalize(t[i].in, &c, &e);
                if (r != -EINVAL)
                        fail_msg("'%s' accepted as '%s'", t[i].in, c);
                assert_null(c);
                assert_null(e.field);
                if (!strstr(sf_err_msg(&e), t[i].msg))
                        fail_msg("'%s': message '%s' does not mention '%s'", t[i].in,
                                 sf_err_msg(&e), t[i].msg);
        }
}

static void test_too_long(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *c = NULL;
        char name[300];
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        assert_int_equal(sf_image_name_normalize(name, &c, &e), -EINVAL);
        assert_non_null(strstr(sf_err_msg(&e), "longer than 255"));
        assert_int_equal(sf_image_name_normalize(NULL, &c, NULL), -EINVAL);
}

static void test_key(void **state)
{
        _cleanup_free_ char *c = NULL, *k = NULL;
        assert_int_equal(sf_image_name_key("registry.example:5000/x/y", &c, &k, NULL), 0);
        assert_string_equal(c, "registry.example:5000/x/y:latest");
        assert_string_equal(k, "registry.example=5000+x+y=latest");
        assert_null(strpbrk(k, "/:,\\"));
        assert_int_equal(sf_image_check_mount_path("/var/lib/sf/images", "x", NULL), 0);
        assert_int_equal(sf_image_check_mount_path("/var/lib/a:b", "x", NULL), -EINVAL);
        assert_int_equal(sf_image_check_mount_path("/var/lib/a,b", "x", NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_too_long),
                cmocka_unit_test(test_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
