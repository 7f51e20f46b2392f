/* Unit tests: SOL006 descriptors (src/nfvo): the four OSM examples (model and ignored list), the
 * three-VNF demo service against its onboarded VNFDs, module-prefixed top keys, defaults, the
 * error list and sf_err, and the size limit. */
#include "nfvo-test.h"

static json_t *vdu0(sf_desc *d)
{
        return json_array_get(json_object_get(d->model, "vdus"), 0);
}

static const char *mstr(const json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        if (!v)
                fail_msg("model has no key '%s'", k);
        return json_is_null(v) ? NULL : json_string_value(v);
}

static json_int_t mint(const json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        if (!json_is_integer(v))
                fail_msg("model key '%s' is not an integer", k);
        return json_integer_value(v);
}

static void assert_ignored(sf_desc *d, const char *const *want)
{
        size_t n = 0;
        _cleanup_free_ char *all = td_join(d->ignored);
        for (; want[n]; n++)
                td_assert_has(d->ignored, want[n]);
        if (json_array_size(d->ignored) != n)
                fail_msg("ignored has %zu entries, expected %zu: %s", json_array_size(d->ignored), n,
                         all);
        assert_ptr_equal(d->ignored, json_object_get(d->model, "ignored"));
}

static void test_osm_monitoring_vnfd(void **state)
{
        _cleanup_desc_ sf_desc *d = NULL;
        json_t *v, *cp;
        static const char *const ignored[] = {
                "vnfd.df[0].lcm-operations-configuration",
                "vnfd.vdu[0].int-cpd[0].virtual-network-interface-requirement",
                NULL,
        };

        assert_int_equal(td_parse("osm/monitoring-vnfd.yaml", NULL, &d, NULL), 0);
        assert_int_equal(d->kind, SF_DESC_VNFD);
        assert_string_equal(d->id, "monitoring-vnf");
        assert_string_equal(mstr(d->model, "kind"), "vnfd");
        assert_string_equal(mstr(d->model, "name"), "monitoring-vnf");
        assert_string_equal(mstr(d->model, "description"), "A VNF with Monitoring");
        assert_string_equal(mstr(d->model, "version"), "1.0");
        assert_null(mstr(d->model, "provider"));
        assert_string_equal(mstr(d->model, "mgmt_cp"), "vnf-cp0-ext");
        assert_string_equal(mstr(d->model, "df"), "default-df");
        assert_string_equal(mstr(d->model, "instantiation_level"), "default-instantiation-level");

        v = vdu0(d);
        assert_string_equal(mstr(v, "id"), "monitoring-vdu");
        assert_string_equal(mstr(v, "kind"), "vm");
        assert_string_equal(mstr(v, "image"), "Ubuntu Server 20.04");
        assert_string_equal(mstr(v, "container_format"), "bare");
        assert_string_equal(mstr(v, "disk_format"), "qcow2");
        /* Numbers written as strings ("2", "2.0", "20"), as YANG's JSON encoding does. */
        assert_int_equal(mint(v, "vcpus"), 2);
        assert_int_equal(mint(v, "memory_bytes"), 2LL << 30);
        assert_int_equal(mint(v, "storage_bytes"), 20LL << 30);
        assert_string_equal(mstr(v, "cloud_init_file"), "cloud-init.cfg");
        assert_null(mstr(v, "cloud_init"));
        assert_string_equal(mstr(v, "move_strategy"), "make-before-break");
        assert_null(mstr(v, "command"));
        assert_int_equal(mint(v, "min_instances"), 1);
        assert_int_equal(mint(v, "max_instances"), 1);
        assert_int_equal(mint(v, "initial_instances"), 1);
        assert_string_equal(mstr(json_array_get(json_object_get(v, "int_cpds"), 0), "id"),
                            "vdu-eth0-int");

        cp = json_array_get(json_object_get(d->model, "ext_cpds"), 0);
        assert_string_equal(mstr(cp, "id"), "vnf-cp0-ext");
        assert_string_equal(mstr(cp, "vdu"), "monitoring-vdu");
        assert_string_equal(mstr(cp, "int_cpd"), "vdu-eth0-int");
        assert_null(mstr(cp, "int_virtual_link"));

        /* The juju charm and day-1/2 primitives, and the OSM interface type, are not acted on. */
        assert_ignored(d, ignored);
        /* The document is kept as written. */
        assert_string_equal(json_string_value(json_object_get(
                json_array_get(json_object_get(json_object_get(d->doc, "vnfd"), "virtual-compute-desc"), 0),
                "id")), "monitoring-vnf-compute");
}

static void test_osm_test_vnfd(void **state)
{
        _cleanup_desc_ sf_desc *d = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *errors = NULL;
        _cleanup_free_ char *text = NULL, *buf = NULL;
        size_t len;
        json_t *cp, *v;
        static const char *const ignored[] = {
                "vnfd.df[0].lcm-operations-configuration",
                "vnfd.ext-cpd[0].layer-protocol",
                "vnfd.ext-cpd[0].protocol",
                "vnfd.vdu[0].int-cpd[0].virtual-network-interface-requirement",
                NULL,
        };

        /* As published, its df refers to a vdu 'testVdu' while the vdu is 'test'. */
        buf = td_read("osm/test-vnfd.yaml", &len);
        assert_int_equal(sf_desc_parse(buf, len, NULL, &d, &errors, &e), -EINVAL);
        assert_null(d);
        text = sf_desc_errors_format(errors);
        assert_string_equal(text,
                "9:9: vnfd.df[0].instantiation-level[0].vdu-level[0].vdu-id: unknown vdu 'testVdu'\n"
                "11:7: vnfd.df[0].vdu-profile[0].id: unknown vdu 'testVdu'\n");
        assert_string_equal(e.field, "vnfd.df[0].instantiation-level[0].vdu-level[0].vdu-id");
        assert_string_equal(e.msg, "unknown vdu 'testVdu' (and 1 more error)");

        /* With the vdu id fixed, it is valid. */
        assert_int_equal(td_parse("osm/test-vnfd-fixed.yaml", NULL, &d, NULL), 0);
        v = vdu0(d);
        assert_string_equal(mstr(v, "id"), "test");
        assert_int_equal(mint(v, "vcpus"), 1);
        assert_int_equal(mint(v, "memory_bytes"), 1LL << 30);
        assert_int_equal(mint(v, "storage_bytes"), 10LL << 30);
        assert_string_equal(mstr(json_array_get(json_object_get(v, "int_cpds"), 0), "int_virtual_link"),
                            "testVld");
        cp = json_array_get(json_object_get(d->model, "ext_cpds"), 0);
        assert_string_equal(mstr(cp, "int_virtual_link"), "testVld");
        assert_null(mstr(cp, "vdu"));
        assert_null(mstr(cp, "int_cpd"));
        assert_string_equal(mstr(json_array_get(json_object_get(d->model, "int_virtual_links"), 0), "id"),
                            "testVld");
        assert_ignored(d, ignored);
}

static void test_osm_nsds(void **state)
{
        _cleanup_desc_ sf_desc *d = NULL, *vnfd = NULL;
        json_auto_t *errors = NULL;
        json_t *vp, *c, *vl;
        static const char *const onboarded[] = { "monitoring-vnf", NULL };
        static const char *const other[] = { "something-else", NULL };
        sf_desc_opts opts = { .vnfd_ids = onboarded };
        static const char *const none[] = { NULL };

        assert_int_equal(td_parse("osm/monitoring-nsd.yaml", NULL, &d, NULL), 0);
        assert_int_equal(d->kind, SF_DESC_NSD);
        assert_string_equal(d->id, "monitoring-ns");
        assert_string_equal(mstr(d->model, "kind"), "nsd");
        assert_string_equal(mstr(d->model, "df"), "default-df");
        assert_string_equal(json_string_value(json_array_get(json_object_get(d->model, "vnfd_ids"), 0)),
                            "monitoring-vnf");
        vl = json_array_get(json_object_get(d->model, "virtual_links"), 0);
        assert_string_equal(mstr(vl, "id"), "mgmtnet_2");
        assert_true(json_is_true(json_object_get(vl, "mgmt_network")));
        assert_string_equal(mstr(vl, "vim_network_name"), "proj_net");
        vp = json_array_get(json_object_get(d->model, "vnf_profiles"), 0);
        assert_string_equal(mstr(vp, "id"), "1");
        assert_string_equal(mstr(vp, "vnfd_id"), "monitoring-vnf");
        assert_int_equal(mint(vp, "min_instances"), 1);
        assert_int_equal(mint(vp, "max_instances"), 1);
        c = json_array_get(json_object_get(vp, "connections"), 0);
        /* OSM names the virtual-link-desc directly as the virtual-link-profile-id. */
        assert_string_equal(mstr(c, "virtual_link"), "mgmtnet_2");
        assert_string_equal(mstr(c, "virtual_link_profile"), "mgmtnet_2");
        assert_string_equal(mstr(c, "cpd"), "vnf-cp0-ext");
        assert_ignored(d, none);
        sf_desc_free(d);
        d = NULL;

        /* Against a list of onboarded VNFDs. */
        assert_int_equal(td_parse("osm/monitoring-nsd.yaml", &opts, &d, NULL), 0);
        sf_desc_free(d);
        d = NULL;
        opts.vnfd_ids = other;
        assert_int_equal(td_parse("osm/monitoring-nsd.yaml", &opts, &d, &errors), -EINVAL);
        {
                _cleanup_free_ char *t = sf_desc_errors_format(errors);
                assert_string_equal(t, "22:7: nsd.nsd[0].vnfd-id[0]: unknown vnfd 'monitoring-vnf' (not onboarded)\n");
        }

        /* Against the VNFD's model: the constituent cpd is one of its ext-cpds. */
        assert_int_equal(td_parse("osm/test-nsd.yaml", NULL, &d, NULL), 0);
        c = json_array_get(json_object_get(json_array_get(json_object_get(d->model, "vnf_profiles"), 0),
                                           "connections"), 0);
        assert_string_equal(mstr(c, "cpd"), "eth0-ext");
        assert_string_equal(mstr(c, "virtual_link"), "mgmtnet");
        sf_desc_free(d);
        d = NULL;
        (void) vnfd;
}

static const json_t *one_lookup(const char *id, void *userdata)
{
        sf_desc *v = userdata;
        return STREQ(id, v->id) ? v->model : NULL;
}

static void test_osm_pair(void **state)
{
        _cleanup_desc_ sf_desc *vnfd = NULL, *nsd = NULL;
        json_auto_t *errors = NULL;
        sf_desc_opts opts = { .vnfd_lookup = one_lookup };

        assert_int_equal(td_parse("osm/test-vnfd-fixed.yaml", NULL, &vnfd, NULL), 0);
        opts.userdata = vnfd;
        assert_int_equal(td_parse("osm/test-nsd.yaml", &opts, &nsd, NULL), 0);
        /* The monitoring NSD refers to a VNFD the lookup does not know. */
        assert_int_equal(td_parse("osm/monitoring-nsd.yaml", &opts, &nsd, &errors), -EINVAL);
        assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                            "unknown vnfd 'monitoring-vnf' (not onboarded)");
}

static void test_demo(void **state)
{
        const sf_desc_opts *opts = td_demo_opts();
        _cleanup_desc_ sf_desc *d = NULL, *video = NULL;
        json_t *vps, *vp, *conns, *c, *vlps, *v, *sa, *delta;
        static const char *const none[] = { NULL };

        assert_int_equal(td_parse("descriptors/demo-video-vnfd.yaml", NULL, &video, NULL), 0);
        v = vdu0(video);
        assert_string_equal(mstr(v, "kind"), "container");
        assert_string_equal(mstr(v, "image"), "busybox");
        assert_string_equal(mstr(v, "container_format"), "docker");
        assert_string_equal(mstr(v, "move_strategy"), "handover");
        assert_string_equal(mstr(v, "command"),
                            "mkdir -p /www && echo segment > /www/seg1.ts && httpd -f -p 80 -h /www");
        assert_int_equal(mint(v, "vcpus"), 2);
        assert_int_equal(mint(v, "memory_bytes"), 512LL << 20);
        assert_true(json_is_null(json_object_get(v, "storage_bytes")));
        assert_int_equal(mint(v, "min_instances"), 1);
        assert_int_equal(mint(v, "max_instances"), 3);
        assert_int_equal(mint(v, "initial_instances"), 1);
        sa = json_array_get(json_object_get(video->model, "scaling_aspects"), 0);
        assert_string_equal(mstr(sa, "id"), "video-scale");
        assert_int_equal(mint(sa, "max_scale_level"), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(sa, "step_deltas"), 0)),
                            "one-more");
        delta = json_array_get(json_object_get(sa, "deltas"), 0);
        assert_string_equal(mstr(delta, "id"), "one-more");
        assert_string_equal(mstr(json_array_get(json_object_get(delta, "vdus"), 0), "id"), "video");
        assert_int_equal(mint(json_array_get(json_object_get(delta, "vdus"), 0), "number_of_instances"), 1);
        assert_ignored(video, none);

        assert_int_equal(td_parse("descriptors/demo-nsd.yaml", opts, &d, NULL), 0);
        assert_string_equal(d->id, "demo-ns");
        assert_int_equal(json_array_size(json_object_get(d->model, "virtual_links")), 2);
        vps = json_object_get(d->model, "vnf_profiles");
        assert_int_equal(json_array_size(vps), 3);
        vp = json_array_get(vps, 1);
        assert_string_equal(mstr(vp, "id"), "2");
        assert_string_equal(mstr(vp, "vnfd_id"), "demo-router-vnf");
        assert_string_equal(mstr(vp, "flavour_id"), "default-df");
        assert_string_equal(mstr(vp, "instantiation_level"), "default");
        conns = json_object_get(vp, "connections");
        assert_int_equal(json_array_size(conns), 2);
        c = json_array_get(conns, 0);
        assert_string_equal(mstr(c, "virtual_link"), "access-net");
        assert_string_equal(mstr(c, "virtual_link_profile"), "access");
        assert_string_equal(mstr(c, "cpd"), "access-ext");
        c = json_array_get(conns, 1);
        assert_string_equal(mstr(c, "virtual_link"), "core-net");
        assert_string_equal(mstr(c, "cpd"), "core-ext");
        vlps = json_object_get(d->model, "virtual_link_profiles");
        assert_int_equal(json_array_size(vlps), 2);
        assert_string_equal(mstr(json_object_get(json_array_get(vlps, 1), "l3"), "cidr"), "10.22.0.0/24");
        assert_string_equal(mstr(json_object_get(json_array_get(vlps, 1), "l3"), "ip_version"), "ipv4");
        assert_string_equal(mstr(json_array_get(vlps, 1), "virtual_link"), "core-net");
        assert_int_equal(json_array_size(json_object_get(d->model, "deployment_flavours")), 1);
        assert_ignored(d, none);
        td_demo_free();
}

static void test_prefixed(void **state)
{
        const char *y = "etsi-nfv-vnfd:vnfd:\n  id: p\n  vdu:\n  - id: v\n    sw-image-desc: i\n"
                        "    monitoring-parameter: []\n  sw-image-desc:\n  - id: i\n    image: busybox\n"
                        "  df:\n  - id: df\n    vdu-profile:\n    - id: v\n";
        const char *n = "etsi-nfv-nsd:nsd:\n  nsd:\n  - id: n\n    df:\n    - id: df\n";
        _cleanup_desc_ sf_desc *d = NULL, *ns = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        assert_int_equal(sf_desc_parse(y, strlen(y), NULL, &d, NULL, &e), 0);
        assert_int_equal(d->kind, SF_DESC_VNFD);
        td_assert_has(d->ignored, "etsi-nfv-vnfd:vnfd.vdu[0].monitoring-parameter");
        assert_int_equal(sf_desc_parse(n, strlen(n), NULL, &ns, NULL, &e), 0);
        assert_int_equal(ns->kind, SF_DESC_NSD);
        assert_string_equal(ns->id, "n");
        assert_string_equal(sf_desc_kind_name(ns->kind), "nsd");
}

static void test_defaults(void **state)
{
        /* b has no vdu-profile in the first df; there is no instantiation level; no compute. */
        const char *y = "vnfd:\n  id: d\n  vdu:\n  - id: a\n    sw-image-desc: i\n  - id: b\n"
                        "    sw-image-desc: i\n  sw-image-desc:\n  - id: i\n    name: disk\n"
                        "  virtual-compute-desc:\n  - id: c\n  df:\n  - id: df\n    vdu-profile:\n"
                        "    - id: a\n      min-number-of-instances: 2\n      max-number-of-instances: 4\n"
                        "  - id: big\n    vdu-profile:\n    - id: b\n";
        _cleanup_desc_ sf_desc *d = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *a, *b, *sw;

        assert_int_equal(sf_desc_parse(y, strlen(y), NULL, &d, NULL, &e), 0);
        a = json_array_get(json_object_get(d->model, "vdus"), 0);
        b = json_array_get(json_object_get(d->model, "vdus"), 1);
        assert_string_equal(mstr(a, "name"), "a");
        assert_string_equal(mstr(a, "image"), "disk"); /* no image: the name */
        assert_string_equal(mstr(a, "kind"), "vm");
        assert_true(json_is_null(json_object_get(a, "vcpus")));
        assert_true(json_is_null(json_object_get(a, "memory_bytes")));
        assert_int_equal(mint(a, "min_instances"), 2);
        assert_int_equal(mint(a, "max_instances"), 4);
        assert_int_equal(mint(a, "initial_instances"), 2);
        assert_int_equal(mint(b, "min_instances"), 0);
        assert_int_equal(mint(b, "max_instances"), 0);
        assert_int_equal(mint(b, "initial_instances"), 0);
        assert_true(json_is_null(json_object_get(d->model, "instantiation_level")));
        assert_int_equal(json_array_size(json_object_get(d->model, "deployment_flavours")), 2);
        /* A compute desc without cpu or memory gets SOL006's defaults. */
        assert_int_equal(mint(json_array_get(json_object_get(d->model, "virtual_computes"), 0), "vcpus"), 1);
        assert_int_equal(mint(json_array_get(json_object_get(d->model, "virtual_computes"), 0), "memory_bytes"),
                         1LL << 30);
        sw = json_array_get(json_object_get(d->model, "sw_images"), 0);
        assert_string_equal(mstr(sw, "container_format"), "bare");
        assert_true(json_is_null(json_object_get(sw, "checksum")));
        assert_string_equal(mstr(d->model, "name"), "d");
}

static void test_error_list(void **state)
{
        /* Three problems, written out of order of discovery; sorted by position. */
        const char *y = "vnfd:\n  id: x\n  vdu:\n  - id: v\n    sw-image-desc: nope\n"
                        "  df:\n  - id: df\n    vdu-profile:\n    - id: w\n  typo: 1\n";
        _cleanup_desc_ sf_desc *d = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *errors = NULL;
        _cleanup_free_ char *t = NULL;
        json_t *first;
        sf_desc *sentinel = (sf_desc *) 0x1;

        d = sentinel;
        assert_int_equal(sf_desc_parse(y, strlen(y), NULL, &d, &errors, &e), -EINVAL);
        assert_ptr_equal(d, sentinel); /* untouched on failure */
        d = NULL;
        assert_int_equal(json_array_size(errors), 3);
        first = json_array_get(errors, 0);
        assert_string_equal(json_string_value(json_object_get(first, "path")), "vnfd.vdu[0].sw-image-desc");
        assert_int_equal(json_integer_value(json_object_get(first, "line")), 5);
        assert_int_equal(json_integer_value(json_object_get(first, "column")), 5);
        assert_string_equal(json_string_value(json_object_get(first, "message")),
                            "unknown sw-image-desc 'nope'");
        assert_string_equal(e.field, "vnfd.vdu[0].sw-image-desc");
        assert_string_equal(e.msg, "unknown sw-image-desc 'nope' (and 2 more errors)");
        t = sf_desc_errors_format(errors);
        assert_string_equal(t, "5:5: vnfd.vdu[0].sw-image-desc: unknown sw-image-desc 'nope'\n"
                               "9:7: vnfd.df[0].vdu-profile[0].id: unknown vdu 'w'\n"
                               "10:3: vnfd.typo: unknown key 'typo' in vnfd\n");

        /* Without an error list, the sf_err alone. */
        sf_err_clear(&e);
        assert_int_equal(sf_desc_parse(y, strlen(y), NULL, &d, NULL, &e), -EINVAL);
        assert_int_equal(e.code, -EINVAL);
        assert_null(d);
        /* And without either. */
        assert_int_equal(sf_desc_parse(y, strlen(y), NULL, &d, NULL, NULL), -EINVAL);

        /* A YAML error is a one-entry list with its position. */
        json_decref(errors);
        errors = NULL;
        sf_err_clear(&e);
        assert_int_equal(sf_desc_parse("vnfd: [", 7, NULL, &d, &errors, &e), -EINVAL);
        assert_int_equal(json_array_size(errors), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(errors, 0), "line")), 2);
        assert_non_null(strstr(e.msg, "line 2, column 1: "));

        /* On success the list is left alone. */
        json_decref(errors);
        errors = NULL;
        assert_int_equal(td_parse("osm/monitoring-vnfd.yaml", NULL, &d, &errors), 0);
        assert_null(errors);
        {
                _cleanup_free_ char *empty = sf_desc_errors_format(NULL);
                assert_string_equal(empty, "");
        }
}

static void test_size_limit(void **state)
{
        size_t n = SF_DESC_MAX_SIZE + 1;
        _cleanup_free_ char *big = xmalloc(n);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *errors = NULL;
        sf_desc *d = NULL;

        memset(big, ' ', n);
        assert_int_equal(sf_desc_parse(big, n, NULL, &d, &errors, &e), -E2BIG);
        assert_non_null(strstr(e.msg, "larger than the limit of 4 MiB"));
        assert_int_equal(json_array_size(errors), 1);
        assert_null(d);
}

static void test_not_a_descriptor(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_desc *d = NULL;
        assert_int_equal(sf_desc_parse("{}", 2, NULL, &d, NULL, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "'vnfd' or an 'nsd'"));
        sf_err_clear(&e);
        assert_int_equal(sf_desc_parse("---\n", 4, NULL, &d, NULL, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "must be a mapping"));
        sf_err_clear(&e);
        assert_int_equal(sf_desc_parse("vnfd: 3\n", 8, NULL, &d, NULL, &e), -EINVAL);
        assert_string_equal(e.field, "vnfd");
        assert_null(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_osm_monitoring_vnfd),
                cmocka_unit_test(test_osm_test_vnfd),
                cmocka_unit_test(test_osm_nsds),
                cmocka_unit_test(test_osm_pair),
                cmocka_unit_test(test_demo),
                cmocka_unit_test(test_prefixed),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_error_list),
                cmocka_unit_test(test_size_limit),
                cmocka_unit_test(test_not_a_descriptor),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
