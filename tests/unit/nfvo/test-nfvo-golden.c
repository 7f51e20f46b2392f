/* Golden tests: every tests/data/descriptors/broken/NAME.yaml must fail to parse with exactly
 * the error lines in NAME.err (sf_desc_errors_format), NSDs being checked against the onboarded
 * demo VNFDs. SF_TEST_REGENERATE=1 rewrites the .err files from the current output (review the
 * diff before committing). */
#include <dirent.h>

#include "lib/util.h"
#include "nfvo-test.h"

#define BROKEN "descriptors/broken"

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names in dir ending with suffix, without it. */
static char **list(const char *suffix)
{
        _cleanup_free_ char *dir = xasprintf("%s/%s", SF_TEST_DATA, BROKEN);
        DIR *d = opendir(dir);
        struct dirent *de;
        char **v = NULL;

        if (!d)
                fail_msg("opendir %s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name), s = strlen(suffix);
                if (n > s && STREQ(de->d_name + n - s, suffix))
                        strv_push(&v, strndup(de->d_name, n - s));
        }
        closedir(d);
        if (v)
                qsort(v, strv_length(v), sizeof(char *), cmp);
        return v;
}

/* The first line where a and b differ, for the failure message. */
static char *first_diff(const char *want, const char *got)
{
        size_t line = 1;
        const char *a = want, *b = got;
        while (*a && *a == *b) {
                if (*a == '\n')
                        line++;
                a++, b++;
        }
        while (a > want && a[-1] != '\n')
                a--, b--;
        return xasprintf("line %zu:\n  expected: %.*s\n  got:      %.*s", line,
                         (int) strcspn(a, "\n"), a, (int) strcspn(b, "\n"), b);
}

static void test_broken(void **state)
{
        _cleanup_strv_free_ char **names = list(".yaml");
        _cleanup_strv_free_ char **errs = list(".err");
        bool regen = getenv("SF_TEST_REGENERATE") && STREQ(getenv("SF_TEST_REGENERATE"), "1");
        const sf_desc_opts *opts = td_demo_opts();
        size_t failures = 0, n = 0;

        assert_non_null(names);
        for (char **p = names; *p; p++, n++) {
                _cleanup_free_ char *rel = xasprintf("%s/%s.yaml", BROKEN, *p);
                _cleanup_free_ char *golden = xasprintf("%s/%s/%s.err", SF_TEST_DATA, BROKEN, *p);
                _cleanup_free_ char *got = NULL, *want = NULL;
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *errors = NULL;
                sf_desc *d = NULL;
                int r;

                r = td_parse(rel, opts, &d, &errors);
                if (r >= 0) {
                        print_error("%s: parsed, but it is meant to be broken\n", rel);
                        sf_desc_free(d);
                        failures++;
                        continue;
                }
                got = sf_desc_errors_format(errors);
                if (regen) {
                        if (sf_write_file_atomic(golden, got, strlen(got), 0644, &e) < 0)
                                fail_msg("%s", sf_err_msg(&e));
                        continue;
                }
                if (sf_read_file(golden, 1 << 20, &want, NULL, &e) < 0) {
                        print_error("%s: no golden file (%s); run with SF_TEST_REGENERATE=1\n", rel,
                                    sf_err_msg(&e));
                        failures++;
                        continue;
                }
                if (STRNEQ(want, got)) {
                        _cleanup_free_ char *diff = first_diff(want, got);
                        print_error("%s: errors differ from %s.err at %s\n--- got:\n%s", rel, *p,
                                    diff, got);
                        failures++;
                }
        }
        /* No stale golden files. */
        for (char **p = errs; p && *p; p++)
                if (!strv_length(names) || !bsearch(p, names, strv_length(names), sizeof(char *), cmp)) {
                        print_error("%s.err has no %s.yaml\n", *p, *p);
                        failures++;
                }
        td_demo_free();
        print_message("%zu broken descriptors checked\n", n);
        assert_int_equal(failures, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_broken),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
