/* Helpers shared by the nfvo unit tests (see nfvo-test.h). */
#include "lib/util.h"
#include "nfvo-test.h"

char *td_read(const char *rel, size_t *len)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", SF_TEST_DATA, rel);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *buf = NULL;
        size_t n = 0;
        if (sf_read_file(path, 16 << 20, &buf, &n, &e) < 0)
                fail_msg("%s: %s", path, sf_err_msg(&e));
        if (len)
                *len = n;
        return buf;
}

int td_parse(const char *rel, const sf_desc_opts *opts, sf_desc **ret, json_t **errors)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        size_t len;
        _cleanup_free_ char *buf = td_read(rel, &len);
        int r = sf_desc_parse(buf, len, opts, ret, errors, &e);
        if (r < 0) {
                assert_int_equal(r, e.code);
                assert_non_null(e.msg);
        }
        return r;
}

static sf_desc *demo[3];

static const json_t *demo_lookup(const char *id, void *userdata)
{
        for (size_t i = 0; i < ELEMENTSOF(demo); i++)
                if (demo[i] && STREQ(demo[i]->id, id))
                        return demo[i]->model;
        return NULL;
}

static const sf_desc_opts demo_opts = { .vnfd_lookup = demo_lookup };

const sf_desc_opts *td_demo_opts(void)
{
        static const char *const files[] = { "descriptors/demo-client-vnfd.yaml",
                                             "descriptors/demo-router-vnfd.yaml",
                                             "descriptors/demo-video-vnfd.yaml" };
        for (size_t i = 0; i < ELEMENTSOF(demo); i++)
                if (!demo[i] && td_parse(files[i], NULL, &demo[i], NULL) < 0)
                        fail_msg("%s does not parse", files[i]);
        return &demo_opts;
}

void td_demo_free(void)
{
        for (size_t i = 0; i < ELEMENTSOF(demo); i++) {
                sf_desc_free(demo[i]);
                demo[i] = NULL;
        }
}

void td_assert_has(const json_t *array, const char *s)
{
        size_t i;
        json_t *v;
        json_array_foreach(array, i, v)
                if (json_is_string(v) && STREQ(json_string_value(v), s))
                        return;
        {
                _cleanup_free_ char *all = td_join(array);
                fail_msg("'%s' not in [%s]", s, all);
        }
}

char *td_join(const json_t *array)
{
        char *out = xstrdup("");
        size_t i;
        json_t *v;
        json_array_foreach(array, i, v) {
                char *n = xasprintf("%s%s%s", out, i ? "," : "",
                                    json_is_string(v) ? json_string_value(v) : "?");
                free(out);
                out = n;
        }
        return out;
}
