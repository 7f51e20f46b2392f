/* Unit tests: the NFVO's kinds on a real store with a VIM and a VNFM, driven through their
 * sf_kind function pointers inside transactions as the API does: onboarding VNFDs and NSDs
 * (every error with its YAML path, ignored fields listed, refusals), deletion refused while in
 * use, NS instances created with checked parameters, the VM-VDU check, and the lifecycle
 * actions' refusals. Operations that need a node agent are covered by the system tests. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/log.h"
#include "lib/util.h"
#include "nfvo/nfvo.h"

static struct {
        char dir[64];
        sf_store *store;
        sf_vim *vim;
        sf_vnfm *vnfm;
        sf_nfvo *nfvo;
} fx;

static struct sf_kind *kind(const char *name)
{
        struct sf_kind *const *tables[] = { sf_vim_kinds(fx.vim), sf_vnfm_kinds(fx.vnfm), sf_nfvo_kinds(fx.nfvo) };
        for (size_t t = 0; t < ELEMENTSOF(tables); t++)
                for (struct sf_kind *const *k = tables[t]; *k; k++)
                        if (STREQ((*k)->name, name))
                                return *k;
        fail_msg("no kind '%s'", name);
        return NULL;
}

static int setup(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        snprintf(fx.dir, sizeof(fx.dir), "/tmp/sf-test-nfvo-XXXXXX");
        if (!mkdtemp(fx.dir))
                return -1;
        path = xasprintf("%s/state.db", fx.dir);
        if (sf_store_open(path, NULL, &fx.store, &e) < 0 || sf_vim_new(fx.store, NULL, &fx.vim, &e) < 0 ||
            sf_vnfm_new(fx.store, fx.vim, NULL, &fx.vnfm, &e) < 0 ||
            sf_nfvo_new(fx.store, fx.vim, fx.vnfm, NULL, &fx.nfvo, &e) < 0) {
                fprintf(stderr, "setup: %s\n", sf_err_msg(&e));
                return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        sf_nfvo_free(fx.nfvo);
        sf_vnfm_free(fx.vnfm);
        sf_vim_free(fx.vim);
        sf_store_free(fx.store);
        sf_rm_rf(fx.dir, NULL);
        return 0;
}

static int create(const char *kname, json_t *in, json_t **ret, sf_err *e)
{
        struct sf_kind *k = kind(kname);
        json_auto_t *i = in;
        json_t *obj = NULL;
        sf_tx *tx = NULL;
        int r = sf_tx_begin(fx.store, &tx, e);
        if (r < 0)
                return r;
        r = k->create(k->ctx, tx, i, &obj, e);
        if (r < 0) {
                sf_tx_abort(tx);
                assert_null(obj);
                return r;
        }
        r = sf_tx_commit(tx, e);
        if (ret)
                *ret = obj;
        else
                json_decref(obj);
        return r;
}

static int remove_ref(const char *kname, const char *ref, sf_err *e)
{
        struct sf_kind *k = kind(kname);
        json_auto_t *cur = NULL, *opts = json_object();
        sf_tx *tx = NULL;
        sf_rd rd;
        int r = sf_tx_begin(fx.store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, kname, ref, &cur, e);
        if (r >= 0)
                r = k->remove(k->ctx, tx, cur, opts, e);
        if (r < 0) {
                sf_tx_abort(tx);
                return r;
        }
        return sf_tx_commit(tx, e);
}

static void check_err(const sf_err *e, int code, const char *field, const char *msg)
{
        if (e->code != code)
                fail_msg("error %d (%s), expected %d", e->code, sf_err_msg(e), code);
        if (field && (!e->field || STRNEQ(e->field, field)))
                fail_msg("field '%s' (%s), expected '%s'", e->field ?: "(none)", sf_err_msg(e), field);
        if (msg && !strstr(sf_err_msg(e), msg))
                fail_msg("message '%s' does not contain '%s'", sf_err_msg(e), msg);
}

static json_t *yaml_body(const char *rel)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", SF_TEST_DATA, rel), *buf = NULL;
        size_t len = 0;
        if (sf_read_file(path, 1 << 22, &buf, &len, NULL) < 0)
                fail_msg("cannot read %s", path);
        return json_pack("{s:s%}", "yaml", buf, len);
}

static char *b64(const unsigned char *p, size_t n)
{
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = xzalloc((n + 2) / 3 * 4 + 1), *o = out;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
                *o++ = tab[v >> 18];
                *o++ = tab[(v >> 12) & 63];
                *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? tab[v & 63] : '=';
        }
        return out;
}

/* {"package_base64"}: an OSM package <name>/<name>.yaml (the test data file rel) with
 * <name>/cloud_init/<ci> holding a day-0 text, and a charms/ folder. */
static json_t *package_body(const char *rel, const char *name, const char *ci)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", SF_TEST_DATA, rel), *buf = NULL, *tar = NULL, *enc = NULL;
        const char *content = "#cloud-config\npassword: osm4u\n";
        size_t len = 0, tlen = 0;
        struct archive *a = archive_write_new();
        FILE *f = open_memstream(&tar, &tlen);
        struct { const char *name; const char *data; size_t len; bool dir; } ents[4];
        _cleanup_free_ char *n0 = xasprintf("%s/%s.yaml", name, name), *n1 = xasprintf("%s/cloud_init/%s", name, ci);
        _cleanup_free_ char *n2 = xasprintf("%s/charms/", name);

        if (sf_read_file(path, 1 << 22, &buf, &len, NULL) < 0)
                fail_msg("cannot read %s", path);
        ents[0].name = n0, ents[0].data = buf, ents[0].len = len, ents[0].dir = false;
        ents[1].name = n1, ents[1].data = content, ents[1].len = strlen(content), ents[1].dir = false;
        ents[2].name = n2, ents[2].data = "", ents[2].len = 0, ents[2].dir = true;
        archive_write_add_filter_gzip(a);
        archive_write_set_format_pax_restricted(a);
        archive_write_open_FILE(a, f);
        for (size_t i = 0; i < 3; i++) {
                struct archive_entry *en = archive_entry_new();
                archive_entry_set_pathname(en, ents[i].name);
                archive_entry_set_filetype(en, ents[i].dir ? AE_IFDIR : AE_IFREG);
                archive_entry_set_perm(en, 0644);
                archive_entry_set_size(en, (la_int64_t) ents[i].len);
                archive_write_header(a, en);
                if (ents[i].len)
                        archive_write_data(a, ents[i].data, ents[i].len);
                archive_entry_free(en);
        }
        archive_write_close(a);
        archive_write_free(a);
        fclose(f);
        enc = b64((const unsigned char *) tar, tlen);
        return json_pack("{s:s}", "package_base64", enc);
}

static json_t *onboard_ok(const char *kname, const char *rel)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *o = NULL;
        if (create(kname, yaml_body(rel), &o, &e) < 0)
                fail_msg("onboard %s: %s", rel, sf_err_msg(&e));
        return o;
}

static void onboard_demo(void)
{
        json_decref(onboard_ok("vnfd", "descriptors/demo-client-vnfd.yaml"));
        json_decref(onboard_ok("vnfd", "descriptors/demo-router-vnfd.yaml"));
        json_decref(onboard_ok("vnfd", "descriptors/demo-video-vnfd.yaml"));
        json_decref(onboard_ok("nsd", "descriptors/demo-nsd.yaml"));
}

static void test_onboarding(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *mon = NULL, *nsd = NULL;

        /* OSM's examples, as packages: accepted, what is not acted on listed. */
        assert_int_equal(create("vnfd", package_body("osm/test-vnfd-fixed.yaml", "test_vnfd", "cloud-init"), &mon, &e), 0);
        assert_string_equal(json_string_value(json_object_get(mon, "name")), "test-vnf");
        assert_true(json_array_size(json_object_get(mon, "ignored")) > 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(mon, "ignored"), 0)),
                            "vnfd.df[0].lcm-operations-configuration");
        assert_non_null(json_object_get(mon, "model"));
        assert_string_equal(json_string_value(json_object_get(mon, "onboarding_state")), "ONBOARDED");
        assert_string_equal(json_string_value(json_object_get(json_object_get(mon, "package"), "descriptor")),
                            "test_vnfd/test_vnfd.yaml");
        assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(mon, "package"), "files"), 0)),
                            "cloud_init/cloud-init");
        assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(mon, "package"),
                                                                             "ignored_files"), 0)),
                            "charms/");
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(mon, "model"),
                                                                                                 "vdus"), 0),
                                                                 "cloud_init")),
                               "osm4u"));
        nsd = onboard_ok("nsd", "osm/test-nsd.yaml");
        /* a package whose cloud-init file is missing */
        assert_int_equal(create("vnfd", package_body("osm/monitoring-vnfd.yaml", "mon", "other.cfg"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "vnfd.vdu[0].cloud-init-file", "file 'cloud_init/cloud-init.cfg' not found");

        /* A cloud-init-file needs the package. */
        assert_int_equal(create("vnfd", yaml_body("osm/monitoring-vnfd.yaml"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "vnfd.vdu[0].cloud-init-file", "file 'cloud_init/cloud-init.cfg' is not in the upload");

        /* Every error with its position and path, the first one as the field. */
        assert_int_equal(create("vnfd", yaml_body("descriptors/broken/vnfd-unknown-refs.yaml"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "vnfd.vdu[1].sw-image-desc",
                  "5 problems:\n10:5: vnfd.vdu[1].sw-image-desc: unknown sw-image-desc 'nosuch-img'\n");
        assert_non_null(strstr(sf_err_msg(&e), "\n33:7: vnfd.df[0].vdu-profile[1].id: unknown vdu 'x'"));

        /* Twice, the wrong kind, both or neither of yaml and package_base64, bad base64. */
        assert_int_equal(create("vnfd", package_body("osm/test-vnfd-fixed.yaml", "t", "cloud-init"), NULL, &e), -EEXIST);
        check_err(&e, -EEXIST, "vnfd.id", "already onboarded");
        assert_int_equal(create("vnfd", yaml_body("osm/test-nsd.yaml"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, NULL, "this is an NSD, not a VNFD");
        assert_int_equal(create("vnfd", json_pack("{s:s, s:s}", "yaml", "x", "package_base64", "eA=="), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, NULL, "give either yaml");
        assert_int_equal(create("vnfd", json_pack("{s:s}", "package_base64", "@@@"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "package_base64", "is not base64");
        assert_int_equal(create("vnfd", json_pack("{s:s}", "package_base64", "aGVsbG8="), NULL, &e), -EINVAL);
        assert_int_equal(create("vnfd", json_pack("{s:s, s:s}", "yaml", "x", "tags", "y"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "tags", "unknown field");

        /* An NSD whose VNFD is not onboarded. */
        assert_int_equal(create("nsd", yaml_body("osm/monitoring-nsd.yaml"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, NULL, "monitoring-vnf");

        /* In use: refused (409); free again once the NSD is gone. */
        assert_int_equal(remove_ref("vnfd", "test-vnf", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "vnfd 'test-vnf' is in use by nsd 'test-ns'");
        assert_int_equal(remove_ref("nsd", "test-ns", &e), 0);
        assert_int_equal(remove_ref("vnfd", "test-vnf", &e), 0);
}

static json_t *node(const char *name, const char *site, const char *features)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *j = xasprintf("{\"name\": \"%s\", \"site\": \"%s\", \"status\": {\"state\": \"Ready\"}, "
                                           "\"features\": %s}",
                                           name, site, features);
        json_t *o = NULL;
        if (create("node", json_loads(j, 0, NULL), &o, &e) < 0)
                fail_msg("node: %s", sf_err_msg(&e));
        return o;
}

static void test_ns(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *ns = NULL, *op = NULL;
        struct sf_kind *k;

        onboard_demo();
        assert_int_equal(create("site", json_pack("{s:s}", "name", "core"), NULL, &e), 0);
        assert_int_equal(create("site", json_pack("{s:s, s:s}", "name", "edge", "kind", "edge"), NULL, &e), 0);
        json_decref(node("core-1", "core", "[]"));
        json_decref(node("edge-1", "edge", "[]"));

        /* Parameters are checked against the NSD and the deployment; errors say where. */
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s, s:s}", "name", "d", "nsd", "demo-ns", "config_yaml",
                                                         "vnf:\n- member-vnf-index: 1\n  site: mars\n"),
                                NULL, &e),
                         -EINVAL);
        check_err(&e, -EINVAL, "config.vnf[0].site", "site 'mars' does not exist");
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s, s:s}", "name", "d", "nsd", "demo-ns", "config_yaml",
                                                         "vnf:\n- member-vnf-index: 7\n"),
                                NULL, &e),
                         -EINVAL);
        check_err(&e, -EINVAL, "config.vnf[0].member-vnf-index", "no vnf-profile with member-vnf-index '7'");
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s, s:s}", "name", "d", "nsd", "demo-ns", "config_yaml",
                                                         "vnf: [\n"),
                                NULL, &e),
                         -EINVAL);
        check_err(&e, -EINVAL, "config_yaml", "line");
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s}", "name", "d", "nsd", "nope"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "nsd", "nsd 'nope' is not onboarded");
        assert_int_equal(create("ns_instance", json_pack("{s:s}", "nsd", "demo-ns"), NULL, &e), -EINVAL);
        check_err(&e, -EINVAL, "name", "is required");

        assert_int_equal(create("ns_instance",
                                json_pack("{s:s, s:s, s:s}", "name", "d", "nsd", "demo-ns", "config_yaml",
                                          "site: core\nvnf:\n- member-vnf-index: '3'\n  site: edge\n"),
                                &ns, &e),
                         0);
        assert_string_equal(json_string_value(json_object_get(ns, "state")), "NOT_INSTANTIATED");
        assert_string_equal(json_string_value(json_object_get(ns, "nsd")), "demo-ns");
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s}", "name", "d", "nsd", "demo-ns"), NULL, &e), -EEXIST);

        /* In use: the NSD cannot go, nor its VNFDs. */
        assert_int_equal(remove_ref("nsd", "demo-ns", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "in use by NS instance 'd'");
        assert_int_equal(remove_ref("vnfd", "demo-video-vnf", &e), -EBUSY);

        /* Lifecycle refusals that need no agent. */
        k = kind("ns_instance");
        for (const struct sf_kind_action *a = k->actions; a->name; a++) {
                json_auto_t *in = NULL;
                if (STREQ(a->name, "scale")) {
                        in = json_pack("{s:s, s:s, s:s}", "vnf", "3", "aspect", "video-scale", "direction", "out");
                        assert_int_equal(a->fn(k->ctx, fx.store, ns, in, &op, &e), -EBUSY);
                        check_err(&e, -EBUSY, NULL, "is NOT_INSTANTIATED: instantiate it first");
                        json_decref(in);
                        in = json_pack("{s:s, s:s, s:s}", "vnf", "3", "aspect", "video-scale", "direction", "up");
                        assert_int_equal(a->fn(k->ctx, fx.store, ns, in, &op, &e), -EINVAL);
                        check_err(&e, -EINVAL, "direction", "out or in");
                } else if (STREQ(a->name, "terminate")) {
                        in = json_object();
                        assert_int_equal(a->fn(k->ctx, fx.store, ns, in, &op, &e), -EINVAL);
                        check_err(&e, -EINVAL, NULL, "is not instantiated");
                } else if (STREQ(a->name, "instantiate")) {
                        in = json_pack("{s:i}", "timeout", 0);
                        assert_int_equal(a->fn(k->ctx, fx.store, ns, in, &op, &e), -EINVAL);
                        check_err(&e, -EINVAL, "timeout", NULL);
                }
                assert_null(op);
        }
        assert_int_equal(remove_ref("ns_instance", "d", &e), 0);
        assert_int_equal(remove_ref("nsd", "demo-ns", &e), 0);
}

/* VM VDUs: refused, naming the VDU, until a node runs VMs. */
static void test_vm_vdu(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        assert_int_equal(create("vnfd", package_body("osm/test-vnfd-fixed.yaml", "t", "cloud-init"), NULL, &e), 0);
        json_decref(onboard_ok("nsd", "osm/test-nsd.yaml"));
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s}", "name", "t", "nsd", "test-ns"), NULL, &e),
                         -EOPNOTSUPP);
        check_err(&e, -EOPNOTSUPP, "vnfd.vdu[0]",
                  "vnf-profile '1' (vnfd 'test-vnf'): vnfd.vdu[0] 'test': VM VDUs are not supported yet");
        json_decref(node("kvm-1", "core", "[\"qemu\"]"));
        assert_int_equal(create("ns_instance", json_pack("{s:s, s:s}", "name", "t", "nsd", "test-ns"), NULL, &e), 0);
        assert_int_equal(remove_ref("ns_instance", "t", &e), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_onboarding),
                cmocka_unit_test(test_ns),
                cmocka_unit_test(test_vm_vdu),
        };
        sf_log_max_level = SF_LOG_WARN;
        return cmocka_run_group_tests(tests, setup, teardown);
}
