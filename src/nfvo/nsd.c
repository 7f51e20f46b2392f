/* SOL006 NSD: the keys each level may hold (from etsi-nfv-ns.yang and the OSM extensions), the
 * reference rules (within the NSD and against onboarded VNFDs), and the normalized model. */
#include <inttypes.h>

#include "lib/log.h"
#include "nfvo/desc-internal.h"

SF_LOG_MODULE("nfvo");

#define S(n, fl) { .name = n, .type = T_STR, .flags = (fl) }
#define U(n, fl, lo, hi) { .name = n, .type = T_UINT, .flags = (fl), .min = (lo), .max = (hi) }
#define B(n) { .name = n, .type = T_BOOL }
#define E(n, en) { .name = n, .type = T_ENUM, .enums = (en) }
#define SL(n, fl) { .name = n, .type = T_STRS, .flags = (fl) }
#define L(n, fl, s) { .name = n, .type = T_LIST, .flags = (fl), .sub = &(s) }
#define C(n, fl, s) { .name = n, .type = T_CONT, .flags = (fl), .sub = &(s) }
#define I(n) { .name = n, .type = T_IGN }
#define END { .name = NULL }

#define ID_REQ (F_REQ | F_NONEMPTY)

static const char *const ip_versions[] = { "ipv4", "ipv6", NULL };

static const dc_field cpd_id_f[] = {
        S("constituent-base-element-id", ID_REQ), S("constituent-cpd-id", ID_REQ),
        /* OSM */
        I("ip-address"),
        END
};
static const dc_schema cpd_id_s = { "constituent-cpd-id", "constituent-base-element-id", cpd_id_f };

static const dc_field vlc_f[] = {
        S("virtual-link-profile-id", ID_REQ), L("constituent-cpd-id", 0, cpd_id_s),
        I("affinity-or-anti-affinity-group-id"),
        END
};
static const dc_schema vlc_s = { "virtual-link-connectivity", "virtual-link-profile-id", vlc_f };

static const dc_field vnf_profile_f[] = {
        S("id", ID_REQ), S("vnfd-id", ID_REQ), S("flavour-id", 0), S("instantiation-level", 0),
        U("min-number-of-instances", 0, 0, 65535), U("max-number-of-instances", 0, 0, 65535),
        L("virtual-link-connectivity", 0, vlc_s),
        I("vnfd-ext-invariant-id"), I("target-vnf-scale-level-info"),
        I("local-affinity-or-anti-affinity-rule"), I("affinity-or-anti-affinity-group-id"),
        I("service-availability-level"), I("version-dependency"),
        END
};
static const dc_schema vnf_profile_s = { "vnf-profile", "id", vnf_profile_f };

static const dc_field l3_f[] = {
        S("name", 0), E("ip-version", ip_versions), S("cidr", 0), SL("ip-allocation-pools", 0),
        /* SOL006 2.x */
        S("gateway-ip", 0), B("dhcp-enabled"), I("ipv6-address-mode"),
        END
};
static const dc_schema l3_s = { "l3-protocol-data", NULL, l3_f };

static const dc_field vlpd_f[] = {
        I("associated-layer-protocol"), I("l2-protocol-data"), C("l3-protocol-data", 0, l3_s),
        END
};
static const dc_schema vlpd_s = { "virtual-link-protocol-data", NULL, vlpd_f };

static const dc_field vlp_f[] = {
        S("id", ID_REQ), S("virtual-link-desc-id", ID_REQ), S("flavour-id", 0),
        C("virtual-link-protocol-data", 0, vlpd_s),
        I("local-affinity-or-anti-affinity-rule"), I("affinity-or-anti-affinity-group-id"),
        I("max-bitrate-requirements"), I("min-bitrate-requirements"), I("data-flow-mirroring"),
        END
};
static const dc_schema vlp_s = { "virtual-link-profile", "id", vlp_f };

static const dc_field df_f[] = {
        S("id", ID_REQ), L("vnf-profile", 0, vnf_profile_s), L("virtual-link-profile", 0, vlp_s),
        I("flavour-key"), I("pnf-profile"), I("scaling-aspect"),
        I("affinity-or-anti-affinity-group"), I("ns-instantiation-level"),
        I("default-instantiation-level"), I("ns-lcm-additional-params"), I("ns-profile"),
        I("dependencies"), I("monitored-info"), I("priority"), I("service-availability-level"),
        END
};
static const dc_schema df_s = { "df", "id", df_f };

static const dc_field conn_type_f[] = { SL("layer-protocol", 0), I("flow-pattern"), END };
static const dc_schema conn_type_s = { "connectivity-type", NULL, conn_type_f };

static const dc_field vld_df_f[] = { S("id", ID_REQ), I("qos"), I("service-availability-level"), END };
static const dc_schema vld_df_s = { "df", "id", vld_df_f };

static const dc_field vld_f[] = {
        S("id", ID_REQ), S("description", 0), C("connectivity-type", 0, conn_type_s),
        L("df", 0, vld_df_s), I("test-access"),
        /* OSM */
        B("mgmt-network"), S("vim-network-name", 0),
        END
};
static const dc_schema vld_s = { "virtual-link-desc", "id", vld_f };

static const dc_field nsd_f[] = {
        S("id", ID_REQ), S("name", 0), S("version", 0), S("designer", 0), SL("vnfd-id", 0),
        L("virtual-link-desc", 0, vld_s), L("df", F_REQ | F_NONEMPTY, df_s),
        I("invariant-id"), I("ext-invariant-id"), I("nested-nsd-id"), I("pnfd-id"), I("sapd"),
        I("security-group-rule"), I("vnffgd"), I("autoscale-rule"),
        I("lifecycle-management-script"), I("signature"), I("algorithm"), I("certificate"),
        /* OSM */
        S("description", 0), I("ns-configuration"),
        END
};
static const dc_schema nsd_s = { "nsd", "id", nsd_f };

static const dc_field top_f[] = { L("nsd", F_REQ | F_NONEMPTY, nsd_s), END };
static const dc_schema top_s = { "nsd", NULL, top_f };

/* --- semantic checks --- */

/* -1: not onboarded, 0: unknown (nothing to check against), 1: onboarded. *model is set when
 * the caller's lookup gave one. */
static int vnfd_onboarded(dctx *c, const char *id, const json_t **model)
{
        *model = NULL;
        if (!c->opts)
                return 0;
        if (c->opts->vnfd_lookup) {
                *model = c->opts->vnfd_lookup(id, c->opts->userdata);
                if (*model)
                        return 1;
                if (!c->opts->vnfd_ids)
                        return -1;
        }
        if (c->opts->vnfd_ids) {
                for (const char *const *p = c->opts->vnfd_ids; *p; p++)
                        if (STREQ(*p, id))
                                return 1;
                return -1;
        }
        return 0;
}

static bool model_has(const json_t *list, const char *key, const char *value)
{
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
                if (dc_str(e, key) && STREQ(dc_str(e, key), value))
                        return true;
        return false;
}

static const json_t *model_find(const json_t *list, const char *key, const char *value)
{
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
                if (dc_str(e, key) && STREQ(dc_str(e, key), value))
                        return e;
        return NULL;
}

/* The virtual-link-desc a virtual-link-profile-id designates: a virtual-link-profile of the df,
 * or (as OSM writes it) a virtual-link-desc. */
static const char *resolve_vl(json_t *vlps, json_t *vlds, const char *id)
{
        json_t *vlp = json_object_get(vlps, id);
        if (vlp)
                return dc_str(vlp, "virtual-link-desc-id");
        if (json_object_get(vlds, id))
                return id;
        return NULL;
}

static void check_vnf_profile(dctx *c, const char *p, json_t *vp, json_t *vnfd_ids, json_t *vlps,
                              json_t *vlds, json_t *cpd_links)
{
        const char *id = dc_str(vp, "id"), *vnfd = dc_str(vp, "vnfd-id");
        const char *flavour = dc_str(vp, "flavour-id"), *level = dc_str(vp, "instantiation-level");
        _cleanup_free_ char *vlcp = dc_key(p, "virtual-link-connectivity");
        const json_t *model = NULL;
        uint64_t min = 1, max = 1;
        bool max_default;
        size_t i, j;
        json_t *vlc, *cc;

        if (vnfd && !json_object_get(vnfd_ids, vnfd)) {
                _cleanup_free_ char *q = dc_key(p, "vnfd-id");
                dc_err(c, q, "unknown vnfd '%s' (not listed in the nsd's vnfd-id)", vnfd);
        } else if (vnfd)
                (void) vnfd_onboarded(c, vnfd, &model);

        (void) dc_uint(vp, "min-number-of-instances", &min);
        max_default = !dc_uint(vp, "max-number-of-instances", &max);
        if (min > max) {
                _cleanup_free_ char *q = dc_key(p, "min-number-of-instances");
                dc_err(c, q, "must not exceed max-number-of-instances (%" PRIu64 " > %" PRIu64 "%s)",
                       min, max, max_default ? ", the default" : "");
        }

        if (model) {
                const json_t *dfs = json_object_get(model, "deployment_flavours");
                const json_t *df = flavour ? model_find(dfs, "id", flavour) : json_array_get(dfs, 0);
                if (flavour && !df) {
                        _cleanup_free_ char *q = dc_key(p, "flavour-id");
                        dc_err(c, q, "unknown df '%s' of vnfd '%s'", flavour, vnfd);
                }
                if (df && level &&
                    !model_has(json_object_get(df, "instantiation_levels"), "id", level)) {
                        _cleanup_free_ char *q = dc_key(p, "instantiation-level");
                        dc_err(c, q, "unknown instantiation-level '%s' of df '%s' of vnfd '%s'", level,
                               dc_str((json_t *) df, "id"), vnfd);
                }
        }

        json_array_foreach(dc_list(vp, "virtual-link-connectivity"), i, vlc) {
                _cleanup_free_ char *q = dc_idx(vlcp, i);
                _cleanup_free_ char *ccp = dc_key(q, "constituent-cpd-id");
                const char *vlpid = dc_str(vlc, "virtual-link-profile-id");
                const char *vl = vlpid ? resolve_vl(vlps, vlds, vlpid) : NULL;
                if (vlpid && !vl) {
                        _cleanup_free_ char *qq = dc_key(q, "virtual-link-profile-id");
                        dc_err(c, qq, "unknown virtual-link-profile '%s' (neither a "
                               "virtual-link-profile of this df nor a virtual-link-desc)", vlpid);
                }
                json_array_foreach(dc_list(vlc, "constituent-cpd-id"), j, cc) {
                        _cleanup_free_ char *qq = dc_idx(ccp, j);
                        const char *be = dc_str(cc, "constituent-base-element-id");
                        const char *cpd = dc_str(cc, "constituent-cpd-id");
                        if (be && id && STRNEQ(be, id)) {
                                _cleanup_free_ char *qqq = dc_key(qq, "constituent-base-element-id");
                                dc_err(c, qqq, "must be the id of its vnf-profile ('%s'), not '%s'",
                                       id, be);
                        }
                        if (!cpd)
                                continue;
                        if (model && !model_has(json_object_get(model, "ext_cpds"), "id", cpd)) {
                                _cleanup_free_ char *qqq = dc_key(qq, "constituent-cpd-id");
                                dc_err(c, qqq, "unknown ext-cpd '%s' of vnfd '%s'", cpd, vnfd);
                        }
                        if (vl) {
                                const char *prev = dc_str(cpd_links, cpd);
                                if (prev && STRNEQ(prev, vl)) {
                                        _cleanup_free_ char *qqq = dc_key(qq, "constituent-cpd-id");
                                        dc_err(c, qqq, "ext-cpd '%s' is already connected to "
                                               "virtual link '%s'", cpd, prev);
                                } else
                                        json_object_set_new(cpd_links, cpd, json_string(vl));
                        }
                }
        }
}

static void check_nsd(dctx *c, const char *p, json_t *nsd)
{
        _cleanup_json_ json_t *vnfd_ids = json_object(), *vlds = NULL;
        _cleanup_free_ char *vip = dc_key(p, "vnfd-id");
        _cleanup_free_ char *dfp = dc_key(p, "df");
        size_t i, j;
        json_t *e, *df;

        json_array_foreach(dc_list(nsd, "vnfd-id"), i, e) {
                const json_t *model;
                _cleanup_free_ char *q = dc_idx(vip, i);
                if (!json_is_string(e))
                        continue;
                json_object_set_new(vnfd_ids, json_string_value(e), json_true());
                if (vnfd_onboarded(c, json_string_value(e), &model) < 0)
                        dc_err(c, q, "unknown vnfd '%s' (not onboarded)", json_string_value(e));
        }
        vlds = dc_index_by(dc_list(nsd, "virtual-link-desc"), "id");

        json_array_foreach(dc_list(nsd, "df"), i, df) {
                _cleanup_free_ char *q = dc_idx(dfp, i);
                _cleanup_free_ char *vlpp = dc_key(q, "virtual-link-profile");
                _cleanup_free_ char *vpp = dc_key(q, "vnf-profile");
                _cleanup_json_ json_t *vlps = NULL, *cpd_links = json_object();
                json_t *vlp, *vp;

                if (!json_is_object(df))
                        continue;
                vlps = dc_index_by(dc_list(df, "virtual-link-profile"), "id");
                json_array_foreach(dc_list(df, "virtual-link-profile"), j, vlp) {
                        _cleanup_free_ char *qq = dc_idx(vlpp, j);
                        const char *vld = dc_str(vlp, "virtual-link-desc-id");
                        const char *fl = dc_str(vlp, "flavour-id");
                        json_t *vldd = vld ? json_object_get(vlds, vld) : NULL;
                        if (vld && !vldd) {
                                _cleanup_free_ char *qqq = dc_key(qq, "virtual-link-desc-id");
                                dc_err(c, qqq, "unknown virtual-link-desc '%s'", vld);
                        }
                        if (vldd && fl) {
                                _cleanup_json_ json_t *fls = dc_index_by(dc_list(vldd, "df"), "id");
                                if (!json_object_get(fls, fl)) {
                                        _cleanup_free_ char *qqq = dc_key(qq, "flavour-id");
                                        dc_err(c, qqq, "unknown df '%s' of virtual-link-desc '%s'",
                                               fl, vld);
                                }
                        }
                }
                json_array_foreach(dc_list(df, "vnf-profile"), j, vp) {
                        _cleanup_free_ char *qq = dc_idx(vpp, j);
                        if (json_is_object(vp))
                                check_vnf_profile(c, qq, vp, vnfd_ids, vlps, vlds, cpd_links);
                }
        }
}

/* --- the model --- */

static json_t *vlp_model(json_t *vlp)
{
        json_t *m = json_object();
        json_t *pd = dc_obj(vlp, "virtual-link-protocol-data");
        json_t *l3 = dc_obj(pd, "l3-protocol-data");
        dc_set_str(m, "id", dc_str(vlp, "id"));
        dc_set_str(m, "virtual_link", dc_str(vlp, "virtual-link-desc-id"));
        dc_set_str(m, "flavour_id", dc_str(vlp, "flavour-id"));
        if (l3) {
                json_t *l = json_object();
                int dhcp = dc_bool(l3, "dhcp-enabled");
                dc_set_str(l, "name", dc_str(l3, "name"));
                dc_set_str(l, "ip_version", dc_str(l3, "ip-version") ? dc_str(l3, "ip-version") : "ipv4");
                dc_set_str(l, "cidr", dc_str(l3, "cidr"));
                dc_set_str(l, "gateway_ip", dc_str(l3, "gateway-ip"));
                json_object_set_new(l, "dhcp_enabled", dhcp < 0 ? json_null() : json_boolean(dhcp));
                json_object_set_new(l, "ip_allocation_pools", dc_strs(l3, "ip-allocation-pools"));
                json_object_set_new(m, "l3", l);
        } else
                json_object_set_new(m, "l3", json_null());
        return m;
}

static json_t *vnf_profile_model(json_t *vp, json_t *vlps, json_t *vlds)
{
        json_t *m = json_object(), *conns = json_array(), *vlc, *cc;
        uint64_t min = 1, max = 1;
        size_t i, j;

        (void) dc_uint(vp, "min-number-of-instances", &min);
        (void) dc_uint(vp, "max-number-of-instances", &max);
        dc_set_str(m, "id", dc_str(vp, "id"));
        dc_set_str(m, "vnfd_id", dc_str(vp, "vnfd-id"));
        dc_set_str(m, "flavour_id", dc_str(vp, "flavour-id"));
        dc_set_str(m, "instantiation_level", dc_str(vp, "instantiation-level"));
        dc_set_int(m, "min_instances", (int64_t) min);
        dc_set_int(m, "max_instances", (int64_t) max);
        json_array_foreach(dc_list(vp, "virtual-link-connectivity"), i, vlc) {
                const char *vlpid = dc_str(vlc, "virtual-link-profile-id");
                const char *vl = resolve_vl(vlps, vlds, vlpid);
                json_array_foreach(dc_list(vlc, "constituent-cpd-id"), j, cc)
                        json_array_append_new(conns, json_pack("{s:s?, s:s, s:s}", "virtual_link", vl,
                                                               "virtual_link_profile", vlpid, "cpd",
                                                               dc_str(cc, "constituent-cpd-id")));
        }
        json_object_set_new(m, "connections", conns);
        return m;
}

static json_t *df_model(json_t *df, json_t *vlds)
{
        _cleanup_json_ json_t *vlps = dc_index_by(dc_list(df, "virtual-link-profile"), "id");
        json_t *m = json_object(), *vps = json_array(), *ls = json_array(), *e;
        size_t i;

        dc_set_str(m, "id", dc_str(df, "id"));
        json_array_foreach(dc_list(df, "vnf-profile"), i, e)
                json_array_append_new(vps, vnf_profile_model(e, vlps, vlds));
        json_array_foreach(dc_list(df, "virtual-link-profile"), i, e)
                json_array_append_new(ls, vlp_model(e));
        json_object_set_new(m, "vnf_profiles", vps);
        json_object_set_new(m, "virtual_link_profiles", ls);
        return m;
}

static json_t *build_model(json_t *nsd, json_t *ignored)
{
        _cleanup_json_ json_t *vlds = dc_index_by(dc_list(nsd, "virtual-link-desc"), "id");
        json_t *m = json_object(), *a, *e, *dfm;
        const char *name = dc_str(nsd, "name");
        size_t i;

        dc_set_str(m, "kind", "nsd");
        dc_set_str(m, "id", dc_str(nsd, "id"));
        dc_set_str(m, "name", name ? name : dc_str(nsd, "id"));
        dc_set_str(m, "description", dc_str(nsd, "description"));
        dc_set_str(m, "version", dc_str(nsd, "version"));
        dc_set_str(m, "designer", dc_str(nsd, "designer"));
        json_object_set_new(m, "vnfd_ids", dc_strs(nsd, "vnfd-id"));

        a = json_array();
        json_array_foreach(dc_list(nsd, "virtual-link-desc"), i, e) {
                json_t *v = json_object(), *fl = json_array(), *f;
                size_t j;
                dc_set_str(v, "id", dc_str(e, "id"));
                dc_set_str(v, "description", dc_str(e, "description"));
                json_object_set_new(v, "mgmt_network", json_boolean(dc_bool(e, "mgmt-network") == 1));
                dc_set_str(v, "vim_network_name", dc_str(e, "vim-network-name"));
                json_object_set_new(v, "layer_protocols",
                                    dc_strs(dc_obj(e, "connectivity-type"), "layer-protocol"));
                json_array_foreach(dc_list(e, "df"), j, f)
                        json_array_append_new(fl, json_string(dc_str(f, "id")));
                json_object_set_new(v, "flavours", fl);
                json_array_append_new(a, v);
        }
        json_object_set_new(m, "virtual_links", a);

        a = json_array();
        json_array_foreach(dc_list(nsd, "df"), i, e)
                json_array_append_new(a, df_model(e, vlds));
        dfm = json_array_get(a, 0);
        dc_set_str(m, "df", dc_str(dfm, "id"));
        json_object_set(m, "vnf_profiles", json_object_get(dfm, "vnf_profiles"));
        json_object_set(m, "virtual_link_profiles", json_object_get(dfm, "virtual_link_profiles"));
        json_object_set_new(m, "deployment_flavours", a);
        json_object_set(m, "ignored", ignored);
        return m;
}

void sf_nsd_check(dctx *c, const char *root, json_t *top, json_t **ret_model)
{
        _cleanup_free_ char *lp = dc_key(root, "nsd");
        _cleanup_free_ char *p = dc_idx(lp, 0);
        json_t *nsds, *nsd;

        if (!json_is_object(top)) {
                dc_err(c, root, "must be a mapping holding 'nsd: [ ... ]'");
                return;
        }
        dc_check(c, root, top, &top_s);
        nsds = dc_list(top, "nsd");
        if (json_array_size(nsds) > 1)
                dc_err(c, lp, "holds %zu nsds; a descriptor holds exactly one", json_array_size(nsds));
        nsd = json_array_get(nsds, 0);
        if (!json_is_object(nsd))
                return;
        check_nsd(c, p, nsd);
        if (dc_nerrors(c) == 0)
                *ret_model = build_model(nsd, c->ignored);
}
