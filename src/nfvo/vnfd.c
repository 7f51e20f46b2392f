/* SOL006 VNFD: the keys each level may hold (from etsi-nfv-vnf.yang and the OSM extensions), the
 * cross-reference and range rules, and the normalized model built from a valid VNFD. */
#include <inttypes.h>
#include <math.h>

#include "lib/log.h"
#include "nfvo/desc-internal.h"

SF_LOG_MODULE("nfvo");

#define S(n, fl) { .name = n, .type = T_STR, .flags = (fl) }
#define U(n, fl, lo, hi) { .name = n, .type = T_UINT, .flags = (fl), .min = (lo), .max = (hi) }
#define D(n, fl, hi) { .name = n, .type = T_DEC, .flags = (fl), .max = (hi) }
#define B(n) { .name = n, .type = T_BOOL }
#define E(n, en) { .name = n, .type = T_ENUM, .enums = (en) }
#define SL(n, fl) { .name = n, .type = T_STRS, .flags = (fl) }
#define SS(n) { .name = n, .type = T_STR_STRS }
#define L(n, fl, s) { .name = n, .type = T_LIST, .flags = (fl), .sub = &(s) }
#define C(n, fl, s) { .name = n, .type = T_CONT, .flags = (fl), .sub = &(s) }
#define I(n) { .name = n, .type = T_IGN }
#define END { .name = NULL }

#define ID_REQ (F_REQ | F_NONEMPTY)

static const char *const container_formats[] = { "aki", "ami", "ari", "bare", "docker", "ova",
                                                  "ovf", NULL };
static const char *const disk_formats[] = { "aki", "ami", "ari", "iso", "qcow2", "raw", "vdi",
                                            "vhd", "vhdx", "vmdk", NULL };

#define MOVE_KEY "superfluid-move-strategy"
#define COMMAND_KEY "superfluid-command"
#define HOST_VM_KEY "superfluid-host-vm"
#define NESTED_MODE_KEY "superfluid-nested-mode"
static const char *const superfluid_props[] = { MOVE_KEY, COMMAND_KEY, HOST_VM_KEY, NESTED_MODE_KEY, NULL };
static const char *const move_strategies[] = { "make-before-break", "handover", NULL };

static const dc_field cfgprop_f[] = { S("key", ID_REQ), S("value", 0), END };
static const dc_schema cfgprop_s = { "configurable-property", "key", cfgprop_f };

static const dc_field int_cpd_f[] = {
        S("id", ID_REQ), S("int-virtual-link-desc", 0), S("description", 0),
        U("order", 0, 0, UINT32_MAX),
        I("bitrate-requirement"), I("virtual-network-interface-requirement"),
        I("nicio-requirements"), I("vnic-type"), I("layer-protocol"), I("role"), I("protocol"),
        I("trunk-mode"), I("security-group-rule-id"),
        /* OSM */
        I("port-security-enabled"), I("port-security-disable-strategy"),
        END
};
static const dc_schema int_cpd_s = { "int-cpd", "id", int_cpd_f };

static const dc_field vdu_f[] = {
        S("id", ID_REQ), S("name", 0), S("description", 0), L("int-cpd", 0, int_cpd_s),
        S("virtual-compute-desc", 0), SL("virtual-storage-desc", 0), S("sw-image-desc", F_REQ),
        L("configurable-properties", 0, cfgprop_s),
        I("boot-order"), I("nfvi-constraint"), I("monitoring-parameter"), I("boot-data"),
        I("trunk-port"), I("logical-node"), I("request-additional-capability"),
        I("mcio-constraint-params"), I("mcio-identification-data"), I("os-container-desc"),
        /* OSM */
        S("cloud-init-file", 0), S("cloud-init", 0), I("alarm"), I("pdu-type"),
        I("supplemental-boot-data"), I("alternative-sw-image-desc"),
        END
};
static const dc_schema vdu_s = { "vdu", "id", vdu_f };

static const dc_field vmem_f[] = {
        D("size", 0, SF_MAX_GB), I("over-subscription-policy"), I("vdu-mem-requirements"),
        I("numa-enabled"),
        /* OSM */
        I("mempage-size"), I("numa-node-policy"),
        END
};
static const dc_schema vmem_s = { "virtual-memory", NULL, vmem_f };

static const dc_field vcpu_f[] = {
        U("num-virtual-cpu", 0, 1, 65535), I("cpu-architecture"), I("clock"),
        I("oversubscription-policy"), I("vdu-cpu-requirements"), I("pinning"),
        END
};
static const dc_schema vcpu_s = { "virtual-cpu", NULL, vcpu_f };

static const dc_field vcd_f[] = {
        S("id", ID_REQ), C("virtual-memory", 0, vmem_s), C("virtual-cpu", 0, vcpu_s),
        I("logical-node"), I("request-additional-capability"), I("compute-requirements"),
        I("virtual-disk"),
        END
};
static const dc_schema vcd_s = { "virtual-compute-desc", "id", vcd_f };

static const dc_field block_f[] = {
        U("size-of-storage", 0, 0, SF_MAX_GB), I("vdu-storage-requirements"), I("rdma-enabled"),
        I("sw-image-desc"),
        END
};
static const dc_schema block_s = { "block-storage-data", NULL, block_f };

static const dc_field vsd_f[] = {
        S("id", ID_REQ), S("type-of-storage", 0), C("block-storage-data", 0, block_s),
        I("object-storage-data"), I("file-storage-data"), I("nfvi-maintenance-info"),
        I("per-vnfc-instance"),
        /* SOL006 2.x, as OSM writes it */
        U("size-of-storage", 0, 0, SF_MAX_GB), I("vdu-storage-requirements"), I("rdma-enabled"),
        I("sw-image-desc"),
        END
};
static const dc_schema vsd_s = { "virtual-storage-desc", "id", vsd_f };

static const dc_field checksum_f[] = { S("algorithm", F_REQ), S("hash", F_REQ), END };
static const dc_schema checksum_s = { "checksum", NULL, checksum_f };

static const dc_field sw_f[] = {
        S("id", ID_REQ), S("name", 0), S("version", 0), S("provider", 0),
        C("checksum", 0, checksum_s), E("container-format", container_formats),
        E("disk-format", disk_formats), U("min-disk", 0, 0, SF_MAX_GB), D("min-ram", 0, SF_MAX_GB),
        U("size", 0, 0, SF_MAX_GB), S("image", 0), S("operating-system", 0),
        I("supported-virtualization-environment"),
        END
};
static const dc_schema sw_s = { "sw-image-desc", "id", sw_f };

static const dc_field conn_type_f[] = { SL("layer-protocol", 0), I("flow-pattern"), END };
static const dc_schema conn_type_s = { "connectivity-type", NULL, conn_type_f };

static const dc_field ivld_f[] = {
        S("id", ID_REQ), S("description", 0), C("connectivity-type", 0, conn_type_s),
        I("flavour"), I("test-access"), I("monitoring-parameters"), I("nfvi-maintenance-info"),
        I("externally-managed"),
        END
};
static const dc_schema ivld_s = { "int-virtual-link-desc", "id", ivld_f };

static const dc_field ext_int_cpd_f[] = { S("vdu-id", ID_REQ), S("cpd", ID_REQ), END };
static const dc_schema ext_int_cpd_s = { "int-cpd", NULL, ext_int_cpd_f };

static const dc_field ext_cpd_f[] = {
        S("id", ID_REQ), S("int-virtual-link-desc", 0), C("int-cpd", 0, ext_int_cpd_s),
        S("description", 0),
        I("vip-cpd"), I("virtual-cpd"), I("virtual-network-interface-requirement"),
        I("nicio-requirements"), I("layer-protocol"), I("role"), I("protocol"), I("trunk-mode"),
        I("security-group-rule-id"),
        /* OSM */
        I("port-security-enabled"), I("port-security-disable-strategy"),
        END
};
static const dc_schema ext_cpd_s = { "ext-cpd", "id", ext_cpd_f };

static const dc_field vdu_profile_f[] = {
        S("id", ID_REQ), U("min-number-of-instances", 0, 0, 65535),
        U("max-number-of-instances", 0, 0, 65535), I("local-affinity-or-anti-affinity-rule"),
        I("affinity-or-anti-affinity-group-id"), I("nfvi-maintenance-info"),
        END
};
static const dc_schema vdu_profile_s = { "vdu-profile", "id", vdu_profile_f };

static const dc_field vdu_level_f[] = {
        S("vdu-id", ID_REQ), U("number-of-instances", 0, 0, 65535), END
};
static const dc_schema vdu_level_s = { "vdu-level", "vdu-id", vdu_level_f };

static const dc_field inst_level_f[] = {
        S("id", ID_REQ), S("description", 0), L("vdu-level", F_NONEMPTY, vdu_level_s),
        I("vip-cp-level"), I("scaling-info"),
        END
};
static const dc_schema inst_level_s = { "instantiation-level", "id", inst_level_f };

static const dc_field vdu_delta_f[] = {
        S("id", ID_REQ), U("number-of-instances", 0, 0, UINT32_MAX), END
};
static const dc_schema vdu_delta_s = { "vdu-delta", "id", vdu_delta_f };

static const dc_field delta_f[] = {
        S("id", ID_REQ), L("vdu-delta", 0, vdu_delta_s), I("virtual-link-bit-rate-delta"),
        I("vip-cp-delta"),
        /* OSM */
        I("kdu-resource-delta"),
        END
};
static const dc_schema delta_s = { "delta", "id", delta_f };

static const dc_field add_f[] = { L("deltas", F_NONEMPTY, delta_s), SS("step-deltas"), END };
static const dc_schema add_s = { "aspect-delta-details", NULL, add_f };

static const dc_field scaling_f[] = {
        S("id", ID_REQ), S("name", 0), S("description", 0),
        U("max-scale-level", 0, 1, UINT32_MAX), C("aspect-delta-details", 0, add_s),
        /* OSM */
        I("scaling-policy"), I("scaling-config-action"),
        END
};
static const dc_schema scaling_s = { "scaling-aspect", "id", scaling_f };

static const dc_field df_f[] = {
        S("id", ID_REQ), S("description", 0), L("vdu-profile", F_REQ | F_NONEMPTY, vdu_profile_s),
        L("instantiation-level", 0, inst_level_s), S("default-instantiation-level", 0),
        L("scaling-aspect", 0, scaling_s),
        I("virtual-link-profile"), I("vip-cp-profile"), I("mciop-profile"),
        I("supported-operation"), I("lcm-operations-configuration"),
        I("affinity-or-anti-affinity-group"), I("indicator"), I("supported-vnf-interfaces"),
        I("supported-coordination-actions"), I("monitoring-parameter"), I("dependencies"),
        /* OSM */
        I("healing-aspect"), I("kdu-resource-profile"),
        END
};
static const dc_schema df_s = { "df", "id", df_f };

static const dc_field vnfd_f[] = {
        S("id", ID_REQ), S("provider", 0), S("product-name", 0), S("software-version", 0),
        S("version", 0), L("vdu", F_REQ | F_NONEMPTY, vdu_s),
        L("virtual-compute-desc", 0, vcd_s), L("virtual-storage-desc", 0, vsd_s),
        L("sw-image-desc", 0, sw_s), L("int-virtual-link-desc", 0, ivld_s),
        L("ext-cpd", 0, ext_cpd_s), L("df", F_REQ | F_NONEMPTY, df_s),
        I("product-info-name"), I("product-info-description"), I("vnfm-info"),
        I("localization-language"), I("default-localization-language"),
        I("security-group-rule"), I("vip-cpd"), I("virtual-cpd"), I("os-container-desc"),
        I("configurable-properties"), I("modifiable-attributes"),
        I("lifecycle-management-script"), I("element-group"), I("indicator"), I("auto-scale"),
        I("vnf-package-change-info"), I("lcm-operations-coordination"), I("mciop-id"),
        /* OSM */
        S("description", 0), S("mgmt-cp", 0), I("kdu"), I("k8s-cluster"),
        END
};
static const dc_schema vnfd_s = { "vnfd", NULL, vnfd_f };

/* --- semantic checks --- */

typedef struct vnfd_idx {
        json_t *vdus, *sws, *vcds, *vsds, *ivlds, *ext_cpds;
} vnfd_idx;

static void idx_clear(vnfd_idx *x)
{
        json_decref(x->vdus);
        json_decref(x->sws);
        json_decref(x->vcds);
        json_decref(x->vsds);
        json_decref(x->ivlds);
        json_decref(x->ext_cpds);
}

static bool cloud_init_name_ok(const char *s)
{
        return *s && !strchr(s, '/') && !STREQ(s, ".") && !STREQ(s, "..") && strlen(s) <= 255;
}

static bool storage_gb(json_t *vsd, uint64_t *gb)
{
        json_t *block = dc_obj(vsd, "block-storage-data");
        if (dc_uint(vsd, "size-of-storage", gb))
                return true;
        if (block && dc_uint(block, "size-of-storage", gb))
                return true;
        return false;
}

static double vcd_memory_gb(json_t *vcd, bool *have)
{
        json_t *mem = dc_obj(vcd, "virtual-memory");
        double d = 1; /* YANG default */
        *have = vcd != NULL;
        if (mem)
                (void) dc_dec(mem, "size", &d);
        return d;
}

static void check_vdus(dctx *c, const char *root, json_t *vnfd, vnfd_idx *x)
{
        _cleanup_free_ char *vp = dc_key(root, "vdu");
        size_t i, j;
        json_t *vdu, *e;

        json_array_foreach(dc_list(vnfd, "vdu"), i, vdu) {
                _cleanup_free_ char *p = dc_idx(vp, i);
                const char *sw = dc_str(vdu, "sw-image-desc");
                const char *vcd = dc_str(vdu, "virtual-compute-desc");
                const char *cif = dc_str(vdu, "cloud-init-file");
                json_t *swd = NULL, *vcdd = NULL;

                if (!json_is_object(vdu))
                        continue;
                if (sw && !(swd = json_object_get(x->sws, sw))) {
                        _cleanup_free_ char *q = dc_key(p, "sw-image-desc");
                        dc_err(c, q, "unknown sw-image-desc '%s'", sw);
                }
                if (vcd && !(vcdd = json_object_get(x->vcds, vcd))) {
                        _cleanup_free_ char *q = dc_key(p, "virtual-compute-desc");
                        dc_err(c, q, "unknown virtual-compute-desc '%s'", vcd);
                }
                if (swd && vcdd) {
                        double min_ram, mem;
                        bool have;
                        mem = vcd_memory_gb(vcdd, &have);
                        if (dc_dec(swd, "min-ram", &min_ram) && mem < min_ram) {
                                _cleanup_free_ char *q = dc_key(p, "virtual-compute-desc");
                                dc_err(c, q, "virtual-compute-desc '%s' has %g GB of memory, less "
                                       "than the min-ram %g GB of sw-image-desc '%s'", vcd, mem,
                                       min_ram, sw);
                        }
                }
                if (json_is_array(json_object_get(vdu, "virtual-storage-desc"))) {
                        _cleanup_free_ char *q = dc_key(p, "virtual-storage-desc");
                        uint64_t total = 0, gb;
                        json_array_foreach(json_object_get(vdu, "virtual-storage-desc"), j, e) {
                                _cleanup_free_ char *qq = dc_idx(q, j);
                                json_t *vsd;
                                if (!json_is_string(e))
                                        continue;
                                vsd = json_object_get(x->vsds, json_string_value(e));
                                if (!vsd)
                                        dc_err(c, qq, "unknown virtual-storage-desc '%s'",
                                               json_string_value(e));
                                else if (storage_gb(vsd, &gb) && gb <= SF_MAX_GB)
                                        total += gb; /* larger sizes are reported on their own */
                        }
                        if (total > SF_MAX_GB)
                                dc_err(c, q, "the storages add up to %" PRIu64 " GB, more than %"
                                       PRIu64, total, SF_MAX_GB);
                }
                json_array_foreach(dc_list(vdu, "int-cpd"), j, e) {
                        const char *vl = dc_str(e, "int-virtual-link-desc");
                        if (vl && !json_object_get(x->ivlds, vl)) {
                                _cleanup_free_ char *q = dc_key(p, "int-cpd");
                                _cleanup_free_ char *qq = dc_idx(q, j);
                                _cleanup_free_ char *qqq = dc_key(qq, "int-virtual-link-desc");
                                dc_err(c, qqq, "unknown int-virtual-link-desc '%s'", vl);
                        }
                }
                if (cif && !cloud_init_name_ok(cif)) {
                        _cleanup_free_ char *q = dc_key(p, "cloud-init-file");
                        dc_err(c, q, "must be the name of a file in the package's cloud_init/ "
                               "folder (no '/', not '..')");
                }
                if (cif && dc_str(vdu, "cloud-init"))
                        dc_err(c, p, "cloud-init and cloud-init-file are mutually exclusive");
                bool has_host_vm = false, has_nested_mode = false;
                json_array_foreach(dc_list(vdu, "configurable-properties"), j, e) {
                        _cleanup_free_ char *q = dc_key(p, "configurable-properties");
                        _cleanup_free_ char *qq = dc_idx(q, j);
                        const char *k = dc_str(e, "key"), *v = dc_str(e, "value");
                        if (!k)
                                continue;
                        has_host_vm |= STREQ(k, HOST_VM_KEY);
                        has_nested_mode |= STREQ(k, NESTED_MODE_KEY);
                        if (strncmp(k, "superfluid-", strlen("superfluid-")) != 0) {
                                dc_ignore(c, qq);
                                continue;
                        }
                        if (STREQ(k, MOVE_KEY)) {
                                bool ok = false;
                                _cleanup_free_ char *vq = dc_key(qq, "value");
                                for (const char *const *m = move_strategies; *m; m++)
                                        ok = ok || (v && STREQ(v, *m));
                                if (!ok)
                                        dc_err(c, vq, "move strategy must be make-before-break or "
                                               "handover (not '%s')", v ? v : "");
                        } else if (STREQ(k, COMMAND_KEY)) {
                                _cleanup_free_ char *vq = dc_key(qq, "value");
                                const char *fmt = dc_str(swd, "container-format");
                                if (!v || !*v)
                                        dc_err(c, vq, "the command must not be empty");
                                else if (swd && !(fmt && STREQ(fmt, "docker")))
                                        dc_err(c, qq, "%s applies to container vdus only (the "
                                               "sw-image-desc '%s' is not container-format docker)",
                                               COMMAND_KEY, sw);
                        } else if (STREQ(k, HOST_VM_KEY) || STREQ(k, NESTED_MODE_KEY)) {
                                _cleanup_free_ char *vq = dc_key(qq, "value");
                                const char *fmt = dc_str(swd, "container-format");
                                if (STREQ(k, HOST_VM_KEY) && (!v || !sf_name_valid(v)))
                                        dc_err(c, vq, "must be the name of a VM that hosts containers");
                                if (STREQ(k, NESTED_MODE_KEY) && (!v || (!STREQ(v, "vlan") && !STREQ(v, "macvlan"))))
                                        dc_err(c, vq, "must be vlan or macvlan (not '%s')", v ? v : "");
                                if (swd && !(fmt && STREQ(fmt, "docker")))
                                        dc_err(c, qq, "%s applies to container vdus only (the "
                                               "sw-image-desc '%s' is not container-format docker)",
                                               k, sw);
                        } else {
                                _cleanup_free_ char *kq = dc_key(qq, "key");
                                const char *sug = dc_suggest(k, superfluid_props);
                                if (sug)
                                        dc_err(c, kq, "unknown Superfluid property '%s' (did you "
                                               "mean '%s'?)", k, sug);
                                else
                                        dc_err(c, kq, "unknown Superfluid property '%s' (known: "
                                               "%s, %s, %s, %s)", k, MOVE_KEY, COMMAND_KEY,
                                               HOST_VM_KEY, NESTED_MODE_KEY);
                        }
                }
                if (has_nested_mode && !has_host_vm) {
                        _cleanup_free_ char *q = dc_key(p, "configurable-properties");
                        dc_err(c, q, "%s needs %s (the VM the container runs in)", NESTED_MODE_KEY,
                               HOST_VM_KEY);
                }
        }
}

static void check_ext_cpds(dctx *c, const char *root, json_t *vnfd, vnfd_idx *x)
{
        _cleanup_free_ char *ep = dc_key(root, "ext-cpd");
        const char *mgmt = dc_str(vnfd, "mgmt-cp");
        size_t i;
        json_t *cp;

        json_array_foreach(dc_list(vnfd, "ext-cpd"), i, cp) {
                _cleanup_free_ char *p = dc_idx(ep, i);
                json_t *ic = dc_obj(cp, "int-cpd");
                const char *vl = dc_str(cp, "int-virtual-link-desc");
                if (!json_is_object(cp))
                        continue;
                if (ic && json_object_get(cp, "int-virtual-link-desc"))
                        dc_err(c, p, "int-cpd and int-virtual-link-desc are mutually exclusive");
                else if (!ic && !json_object_get(cp, "int-virtual-link-desc") &&
                         !json_object_get(cp, "int-cpd")) {
                        if (json_object_get(cp, "vip-cpd") || json_object_get(cp, "virtual-cpd"))
                                dc_err(c, p, "must connect to an int-cpd or an int-virtual-link-desc "
                                       "(vip-cpd and virtual-cpd are not supported)");
                        else
                                dc_err(c, p, "must connect to an int-cpd or an int-virtual-link-desc");
                }
                if (vl && !json_object_get(x->ivlds, vl)) {
                        _cleanup_free_ char *q = dc_key(p, "int-virtual-link-desc");
                        dc_err(c, q, "unknown int-virtual-link-desc '%s'", vl);
                }
                if (ic) {
                        const char *vdu_id = dc_str(ic, "vdu-id"), *cpd = dc_str(ic, "cpd");
                        _cleanup_free_ char *q = dc_key(p, "int-cpd");
                        json_t *vdu = vdu_id ? json_object_get(x->vdus, vdu_id) : NULL;
                        if (vdu_id && !vdu) {
                                _cleanup_free_ char *qq = dc_key(q, "vdu-id");
                                dc_err(c, qq, "unknown vdu '%s'", vdu_id);
                        }
                        if (vdu && cpd) {
                                _cleanup_json_ json_t *cpds = dc_index_by(dc_list(vdu, "int-cpd"), "id");
                                if (!json_object_get(cpds, cpd)) {
                                        _cleanup_free_ char *qq = dc_key(q, "cpd");
                                        dc_err(c, qq, "unknown int-cpd '%s' of vdu '%s'", cpd, vdu_id);
                                }
                        }
                }
        }
        if (mgmt && !json_object_get(x->ext_cpds, mgmt)) {
                _cleanup_free_ char *q = dc_key(root, "mgmt-cp");
                dc_err(c, q, "unknown ext-cpd '%s'", mgmt);
        }
}

/* min/max of a vdu-profile with the YANG defaults (1, 1). */
static void profile_range(json_t *prof, uint64_t *min, uint64_t *max, bool *max_default)
{
        *min = 1;
        *max = 1;
        (void) dc_uint(prof, "min-number-of-instances", min);
        *max_default = !dc_uint(prof, "max-number-of-instances", max);
}

static void check_dfs(dctx *c, const char *root, json_t *vnfd, vnfd_idx *x)
{
        _cleanup_free_ char *dp = dc_key(root, "df");
        size_t i, j, k, l;
        json_t *df, *e, *f, *g;

        json_array_foreach(dc_list(vnfd, "df"), i, df) {
                _cleanup_free_ char *p = dc_idx(dp, i);
                _cleanup_free_ char *vpp = dc_key(p, "vdu-profile");
                _cleanup_free_ char *ilp = dc_key(p, "instantiation-level");
                _cleanup_free_ char *sap = dc_key(p, "scaling-aspect");
                _cleanup_json_ json_t *profiles = NULL, *levels = NULL;
                const char *dil = dc_str(df, "default-instantiation-level");

                if (!json_is_object(df))
                        continue;
                profiles = dc_index_by(dc_list(df, "vdu-profile"), "id");
                levels = dc_index_by(dc_list(df, "instantiation-level"), "id");

                json_array_foreach(dc_list(df, "vdu-profile"), j, e) {
                        _cleanup_free_ char *q = dc_idx(vpp, j);
                        const char *id = dc_str(e, "id");
                        uint64_t min, max;
                        bool max_default;
                        if (id && !json_object_get(x->vdus, id)) {
                                _cleanup_free_ char *qq = dc_key(q, "id");
                                dc_err(c, qq, "unknown vdu '%s'", id);
                        }
                        profile_range(e, &min, &max, &max_default);
                        if (min > max) {
                                _cleanup_free_ char *qq = dc_key(q, "min-number-of-instances");
                                dc_err(c, qq, "must not exceed max-number-of-instances (%" PRIu64
                                       " > %" PRIu64 "%s)", min, max,
                                       max_default ? ", the default" : "");
                        }
                }

                json_array_foreach(dc_list(df, "instantiation-level"), j, e) {
                        _cleanup_free_ char *q = dc_idx(ilp, j);
                        _cleanup_free_ char *vlp = dc_key(q, "vdu-level");
                        json_array_foreach(dc_list(e, "vdu-level"), k, f) {
                                _cleanup_free_ char *qq = dc_idx(vlp, k);
                                const char *vdu = dc_str(f, "vdu-id");
                                json_t *prof;
                                uint64_t n = 1, min, max;
                                bool max_default;
                                if (!vdu)
                                        continue;
                                if (!json_object_get(x->vdus, vdu)) {
                                        _cleanup_free_ char *qqq = dc_key(qq, "vdu-id");
                                        dc_err(c, qqq, "unknown vdu '%s'", vdu);
                                        continue;
                                }
                                prof = json_object_get(profiles, vdu);
                                if (!prof) {
                                        _cleanup_free_ char *qqq = dc_key(qq, "vdu-id");
                                        dc_err(c, qqq, "vdu '%s' has no vdu-profile in this df", vdu);
                                        continue;
                                }
                                (void) dc_uint(f, "number-of-instances", &n);
                                profile_range(prof, &min, &max, &max_default);
                                if (min <= max && (n < min || n > max)) {
                                        _cleanup_free_ char *qqq = dc_key(qq, "number-of-instances");
                                        dc_err(c, qqq, "%" PRIu64 " is outside the vdu-profile range of "
                                               "vdu '%s' (%" PRIu64 "..%" PRIu64 ")", n, vdu, min, max);
                                }
                        }
                }
                if (dil && !json_object_get(levels, dil)) {
                        _cleanup_free_ char *q = dc_key(p, "default-instantiation-level");
                        dc_err(c, q, "unknown instantiation-level '%s'", dil);
                }
                if (!dil && json_array_size(dc_list(df, "instantiation-level")) > 1)
                        dc_err(c, p, "default-instantiation-level is required when there are several "
                               "instantiation-levels");

                json_array_foreach(dc_list(df, "scaling-aspect"), j, e) {
                        _cleanup_free_ char *q = dc_idx(sap, j);
                        _cleanup_free_ char *adp = dc_key(q, "aspect-delta-details");
                        _cleanup_free_ char *dlp = dc_key(adp, "deltas");
                        json_t *add = dc_obj(e, "aspect-delta-details");
                        _cleanup_json_ json_t *deltas = NULL, *steps = NULL;
                        if (!add)
                                continue;
                        deltas = dc_index_by(dc_list(add, "deltas"), "id");
                        json_array_foreach(dc_list(add, "deltas"), k, f) {
                                _cleanup_free_ char *qq = dc_idx(dlp, k);
                                _cleanup_free_ char *vdp = dc_key(qq, "vdu-delta");
                                json_array_foreach(dc_list(f, "vdu-delta"), l, g) {
                                        _cleanup_free_ char *qqq = dc_idx(vdp, l);
                                        _cleanup_free_ char *idp = dc_key(qqq, "id");
                                        const char *vdu = dc_str(g, "id");
                                        if (!vdu)
                                                continue;
                                        if (!json_object_get(x->vdus, vdu))
                                                dc_err(c, idp, "unknown vdu '%s'", vdu);
                                        else if (!json_object_get(profiles, vdu))
                                                dc_err(c, idp, "vdu '%s' has no vdu-profile in this df",
                                                       vdu);
                                }
                        }
                        steps = dc_strs(add, "step-deltas");
                        json_array_foreach(steps, k, f) {
                                _cleanup_free_ char *sp = dc_key(adp, "step-deltas");
                                if (json_is_array(json_object_get(add, "step-deltas"))) {
                                        char *t = dc_idx(sp, k);
                                        free(sp);
                                        sp = t;
                                }
                                if (!json_object_get(deltas, json_string_value(f)))
                                        dc_err(c, sp, "unknown delta '%s'", json_string_value(f));
                        }
                }
        }
}

/* --- the model --- */

static json_t *scaling_model(json_t *df)
{
        json_t *out = json_array(), *sa;
        size_t i, j, k;

        json_array_foreach(dc_list(df, "scaling-aspect"), i, sa) {
                json_t *add = dc_obj(sa, "aspect-delta-details"), *d, *vd;
                json_t *m = json_object(), *deltas = json_array();
                uint64_t msl;
                bool have = dc_uint(sa, "max-scale-level", &msl);
                dc_set_str(m, "id", dc_str(sa, "id"));
                dc_set_str(m, "name", dc_str(sa, "name"));
                dc_set_str(m, "description", dc_str(sa, "description"));
                dc_set_uint_or_null(m, "max_scale_level", have, msl);
                json_object_set_new(m, "step_deltas", dc_strs(add, "step-deltas"));
                json_array_foreach(dc_list(add, "deltas"), j, d) {
                        json_t *dm = json_object(), *vdus = json_array();
                        dc_set_str(dm, "id", dc_str(d, "id"));
                        json_array_foreach(dc_list(d, "vdu-delta"), k, vd) {
                                uint64_t n = 1;
                                (void) dc_uint(vd, "number-of-instances", &n);
                                json_array_append_new(vdus, json_pack("{s:s, s:I}", "id",
                                                                      dc_str(vd, "id"),
                                                                      "number_of_instances",
                                                                      (json_int_t) n));
                        }
                        json_object_set_new(dm, "vdus", vdus);
                        json_array_append_new(deltas, dm);
                }
                json_object_set_new(m, "deltas", deltas);
                json_array_append_new(out, m);
        }
        return out;
}

/* The instantiation level in effect: the default one, else the first, else NULL. */
static json_t *effective_level(json_t *df)
{
        const char *dil = dc_str(df, "default-instantiation-level");
        json_t *lv;
        size_t i;
        json_array_foreach(dc_list(df, "instantiation-level"), i, lv)
                if (!dil || (dc_str(lv, "id") && STREQ(dc_str(lv, "id"), dil)))
                        return lv;
        return NULL;
}

static json_t *df_model(json_t *df)
{
        json_t *m = json_object(), *profiles = json_array(), *levels = json_array(), *e, *f;
        size_t i, j;

        dc_set_str(m, "id", dc_str(df, "id"));
        dc_set_str(m, "description", dc_str(df, "description"));
        dc_set_str(m, "default_instantiation_level", dc_str(df, "default-instantiation-level"));
        json_array_foreach(dc_list(df, "vdu-profile"), i, e) {
                uint64_t min, max;
                bool md;
                profile_range(e, &min, &max, &md);
                json_array_append_new(profiles, json_pack("{s:s, s:I, s:I}", "id", dc_str(e, "id"),
                                                          "min_instances", (json_int_t) min,
                                                          "max_instances", (json_int_t) max));
        }
        json_object_set_new(m, "vdu_profiles", profiles);
        json_array_foreach(dc_list(df, "instantiation-level"), i, e) {
                json_t *lm = json_object(), *vdus = json_array();
                dc_set_str(lm, "id", dc_str(e, "id"));
                dc_set_str(lm, "description", dc_str(e, "description"));
                json_array_foreach(dc_list(e, "vdu-level"), j, f) {
                        uint64_t n = 1;
                        (void) dc_uint(f, "number-of-instances", &n);
                        json_array_append_new(vdus, json_pack("{s:s, s:I}", "id", dc_str(f, "vdu-id"),
                                                              "number_of_instances", (json_int_t) n));
                }
                json_object_set_new(lm, "vdus", vdus);
                json_array_append_new(levels, lm);
        }
        json_object_set_new(m, "instantiation_levels", levels);
        json_object_set_new(m, "scaling_aspects", scaling_model(df));
        return m;
}

static uint64_t gb_to_bytes(double gb)
{
        return (uint64_t) llround(gb * (double) GIB);
}

static json_t *vdu_model(json_t *vdu, vnfd_idx *x, json_t *df0)
{
        json_t *m = json_object(), *cpds = json_array(), *e, *sw, *vcd, *prof = NULL;
        const char *name = dc_str(vdu, "name"), *swid = dc_str(vdu, "sw-image-desc");
        const char *fmt, *move = "make-before-break", *id = dc_str(vdu, "id"), *command = NULL,
                   *host_vm = NULL, *nested_mode = NULL;
        _cleanup_json_ json_t *storages = dc_strs(vdu, "virtual-storage-desc");
        uint64_t total = 0, gb, min = 0, max = 0, initial = 0;
        bool have_storage = false;
        size_t i;

        sw = swid ? json_object_get(x->sws, swid) : NULL;
        vcd = dc_str(vdu, "virtual-compute-desc") ?
                json_object_get(x->vcds, dc_str(vdu, "virtual-compute-desc")) : NULL;
        fmt = dc_str(sw, "container-format");

        dc_set_str(m, "id", id);
        dc_set_str(m, "name", name ? name : id);
        dc_set_str(m, "description", dc_str(vdu, "description"));
        dc_set_str(m, "kind", fmt && STREQ(fmt, "docker") ? "container" : "vm");
        dc_set_str(m, "sw_image", swid);
        dc_set_str(m, "image", dc_str(sw, "image") ? dc_str(sw, "image") : dc_str(sw, "name"));
        dc_set_str(m, "image_version", dc_str(sw, "version"));
        dc_set_str(m, "container_format", fmt ? fmt : "bare");
        dc_set_str(m, "disk_format", dc_str(sw, "disk-format") ? dc_str(sw, "disk-format") : "qcow2");
        dc_set_str(m, "virtual_compute", dc_str(vdu, "virtual-compute-desc"));
        if (vcd) {
                json_t *cpu = dc_obj(vcd, "virtual-cpu");
                uint64_t n = 1;
                bool have;
                double mem = vcd_memory_gb(vcd, &have);
                if (cpu)
                        (void) dc_uint(cpu, "num-virtual-cpu", &n);
                dc_set_int(m, "vcpus", (int64_t) n);
                dc_set_int(m, "memory_bytes", (int64_t) gb_to_bytes(mem));
        } else {
                json_object_set_new(m, "vcpus", json_null());
                json_object_set_new(m, "memory_bytes", json_null());
        }
        json_object_set(m, "virtual_storages", storages);
        json_array_foreach(storages, i, e) {
                json_t *vsd = json_object_get(x->vsds, json_string_value(e));
                if (vsd && storage_gb(vsd, &gb)) {
                        total += gb;
                        have_storage = true;
                }
        }
        dc_set_uint_or_null(m, "storage_bytes", have_storage, total * GIB);
        json_array_foreach(dc_list(vdu, "int-cpd"), i, e) {
                json_t *cm = json_object();
                uint64_t order;
                bool have = dc_uint(e, "order", &order);
                dc_set_str(cm, "id", dc_str(e, "id"));
                dc_set_str(cm, "int_virtual_link", dc_str(e, "int-virtual-link-desc"));
                dc_set_str(cm, "description", dc_str(e, "description"));
                dc_set_uint_or_null(cm, "order", have, order);
                json_array_append_new(cpds, cm);
        }
        json_object_set_new(m, "int_cpds", cpds);
        dc_set_str(m, "cloud_init_file", dc_str(vdu, "cloud-init-file"));
        dc_set_str(m, "cloud_init", dc_str(vdu, "cloud-init"));
        json_array_foreach(dc_list(vdu, "configurable-properties"), i, e) {
                const char *k = dc_str(e, "key");
                if (k && STREQ(k, MOVE_KEY) && dc_str(e, "value"))
                        move = dc_str(e, "value");
                if (k && STREQ(k, COMMAND_KEY))
                        command = dc_str(e, "value");
                if (k && STREQ(k, HOST_VM_KEY))
                        host_vm = dc_str(e, "value");
                if (k && STREQ(k, NESTED_MODE_KEY))
                        nested_mode = dc_str(e, "value");
        }
        dc_set_str(m, "move_strategy", move);
        dc_set_str(m, "command", command);
        dc_set_str(m, "host_vm", host_vm);
        dc_set_str(m, "nested_mode", nested_mode);

        /* Instance counts from the first df. */
        json_array_foreach(dc_list(df0, "vdu-profile"), i, e)
                if (id && dc_str(e, "id") && STREQ(dc_str(e, "id"), id)) {
                        prof = e;
                        break;
                }
        if (prof) {
                json_t *lv = effective_level(df0);
                bool md;
                profile_range(prof, &min, &max, &md);
                initial = min;
                json_array_foreach(dc_list(lv, "vdu-level"), i, e)
                        if (dc_str(e, "vdu-id") && STREQ(dc_str(e, "vdu-id"), id)) {
                                initial = 1;
                                (void) dc_uint(e, "number-of-instances", &initial);
                        }
        }
        dc_set_int(m, "min_instances", (int64_t) min);
        dc_set_int(m, "max_instances", (int64_t) max);
        dc_set_int(m, "initial_instances", (int64_t) initial);
        return m;
}

static json_t *build_model(json_t *v, vnfd_idx *x, json_t *ignored)
{
        json_t *m = json_object(), *a, *e, *df0 = json_array_get(dc_list(v, "df"), 0);
        const char *pn = dc_str(v, "product-name");
        size_t i;

        dc_set_str(m, "kind", "vnfd");
        dc_set_str(m, "id", dc_str(v, "id"));
        dc_set_str(m, "name", pn ? pn : dc_str(v, "id"));
        dc_set_str(m, "description", dc_str(v, "description"));
        dc_set_str(m, "version", dc_str(v, "version"));
        dc_set_str(m, "provider", dc_str(v, "provider"));
        dc_set_str(m, "product_name", pn);
        dc_set_str(m, "software_version", dc_str(v, "software-version"));

        a = json_array();
        json_array_foreach(dc_list(v, "vdu"), i, e)
                json_array_append_new(a, vdu_model(e, x, df0));
        json_object_set_new(m, "vdus", a);

        a = json_array();
        json_array_foreach(dc_list(v, "sw-image-desc"), i, e) {
                json_t *s = json_object(), *ck = dc_obj(e, "checksum");
                uint64_t u;
                double d;
                bool have;
                const char *img = dc_str(e, "image");
                dc_set_str(s, "id", dc_str(e, "id"));
                dc_set_str(s, "name", dc_str(e, "name"));
                dc_set_str(s, "image", img ? img : dc_str(e, "name"));
                dc_set_str(s, "version", dc_str(e, "version"));
                dc_set_str(s, "provider", dc_str(e, "provider"));
                dc_set_str(s, "container_format", dc_str(e, "container-format") ?
                           dc_str(e, "container-format") : "bare");
                dc_set_str(s, "disk_format", dc_str(e, "disk-format") ?
                           dc_str(e, "disk-format") : "qcow2");
                dc_set_str(s, "operating_system", dc_str(e, "operating-system"));
                have = dc_uint(e, "size", &u);
                dc_set_uint_or_null(s, "size_bytes", have, u * GIB);
                have = dc_uint(e, "min-disk", &u);
                dc_set_uint_or_null(s, "min_disk_bytes", have, u * GIB);
                have = dc_dec(e, "min-ram", &d);
                dc_set_uint_or_null(s, "min_ram_bytes", have, have ? gb_to_bytes(d) : 0);
                json_object_set_new(s, "checksum", ck ? json_pack("{s:s?, s:s?}", "algorithm",
                                                                  dc_str(ck, "algorithm"), "hash",
                                                                  dc_str(ck, "hash"))
                                                      : json_null());
                json_array_append_new(a, s);
        }
        json_object_set_new(m, "sw_images", a);

        a = json_array();
        json_array_foreach(dc_list(v, "virtual-compute-desc"), i, e) {
                json_t *cpu = dc_obj(e, "virtual-cpu");
                uint64_t n = 1;
                bool have;
                double mem = vcd_memory_gb(e, &have);
                if (cpu)
                        (void) dc_uint(cpu, "num-virtual-cpu", &n);
                json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "id", dc_str(e, "id"), "vcpus",
                                                   (json_int_t) n, "memory_bytes",
                                                   (json_int_t) gb_to_bytes(mem)));
        }
        json_object_set_new(m, "virtual_computes", a);

        a = json_array();
        json_array_foreach(dc_list(v, "virtual-storage-desc"), i, e) {
                json_t *s = json_object();
                uint64_t gb;
                bool have = storage_gb(e, &gb);
                dc_set_str(s, "id", dc_str(e, "id"));
                dc_set_str(s, "type", dc_str(e, "type-of-storage"));
                dc_set_uint_or_null(s, "size_bytes", have, have ? gb * GIB : 0);
                json_array_append_new(a, s);
        }
        json_object_set_new(m, "virtual_storages", a);

        a = json_array();
        json_array_foreach(dc_list(v, "int-virtual-link-desc"), i, e) {
                json_t *s = json_object();
                dc_set_str(s, "id", dc_str(e, "id"));
                dc_set_str(s, "description", dc_str(e, "description"));
                json_object_set_new(s, "layer_protocols",
                                    dc_strs(dc_obj(e, "connectivity-type"), "layer-protocol"));
                json_array_append_new(a, s);
        }
        json_object_set_new(m, "int_virtual_links", a);

        a = json_array();
        json_array_foreach(dc_list(v, "ext-cpd"), i, e) {
                json_t *s = json_object(), *ic = dc_obj(e, "int-cpd");
                dc_set_str(s, "id", dc_str(e, "id"));
                dc_set_str(s, "description", dc_str(e, "description"));
                dc_set_str(s, "vdu", dc_str(ic, "vdu-id"));
                dc_set_str(s, "int_cpd", dc_str(ic, "cpd"));
                dc_set_str(s, "int_virtual_link", dc_str(e, "int-virtual-link-desc"));
                json_array_append_new(a, s);
        }
        json_object_set_new(m, "ext_cpds", a);
        dc_set_str(m, "mgmt_cp", dc_str(v, "mgmt-cp"));

        dc_set_str(m, "df", dc_str(df0, "id"));
        {
                json_t *lv = effective_level(df0);
                dc_set_str(m, "instantiation_level", lv ? dc_str(lv, "id") : NULL);
        }
        json_object_set_new(m, "scaling_aspects", scaling_model(df0));
        a = json_array();
        json_array_foreach(dc_list(v, "df"), i, e)
                json_array_append_new(a, df_model(e));
        json_object_set_new(m, "deployment_flavours", a);
        json_object_set(m, "ignored", ignored);
        return m;
}

void sf_vnfd_check(dctx *c, const char *root, json_t *vnfd, json_t **ret_model)
{
        vnfd_idx x = { 0 };

        if (!json_is_object(vnfd)) {
                dc_err(c, root, "must be a mapping (the VNFD)");
                return;
        }
        dc_check(c, root, vnfd, &vnfd_s);
        x.vdus = dc_index_by(dc_list(vnfd, "vdu"), "id");
        x.sws = dc_index_by(dc_list(vnfd, "sw-image-desc"), "id");
        x.vcds = dc_index_by(dc_list(vnfd, "virtual-compute-desc"), "id");
        x.vsds = dc_index_by(dc_list(vnfd, "virtual-storage-desc"), "id");
        x.ivlds = dc_index_by(dc_list(vnfd, "int-virtual-link-desc"), "id");
        x.ext_cpds = dc_index_by(dc_list(vnfd, "ext-cpd"), "id");

        check_vdus(c, root, vnfd, &x);
        check_ext_cpds(c, root, vnfd, &x);
        check_dfs(c, root, vnfd, &x);

        {
                size_t i;
                json_t *sw;
                _cleanup_free_ char *sp = dc_key(root, "sw-image-desc");
                json_array_foreach(dc_list(vnfd, "sw-image-desc"), i, sw) {
                        _cleanup_free_ char *p = dc_idx(sp, i);
                        if (json_is_object(sw) && !dc_str(sw, "image") && !dc_str(sw, "name") &&
                            !json_object_get(sw, "image") && !json_object_get(sw, "name"))
                                dc_err(c, p, "needs an image or a name (the image to run)");
                }
        }

        if (dc_nerrors(c) == 0)
                *ret_model = build_model(vnfd, &x, c->ignored);
        idx_clear(&x);
}
