/* What an NS instance is made of, computed from its NSD, VNFDs and parameters: the networks
 * (one per virtual link, CIDRs from the parameters, the NSD's l3 data or a pool), the VNF
 * instances with their VDUs, instance counts, interfaces and day-0 content; and the day-0
 * context that placeholders resolve against. Pure: no store writes. */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "nfvo/nfvo-internal.h"
#include "nfvo/yaml.h"

SF_LOG_MODULE("nfvo");

/* ---- names ---- */

char *nfvo_name(const char *a, const char *b, const char *c, const char *d)
{
        const char *parts[] = { a, b, c, d };
        char *s = xstrdup(""), *out;
        uint32_t h = 2166136261u;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                char *x;
                if (!parts[i])
                        continue;
                x = xasprintf("%s%s%s", s, *s ? "-" : "", parts[i]);
                free(s);
                s = x;
        }
        for (char *p = s; *p; p++) {
                unsigned char ch = *p;
                h = (h ^ ch) * 16777619u;
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '-' || ch == '_' || ch == '.'))
                        *p = '-';
        }
        n = strlen(s);
        if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9'))) {
                char *x = xasprintf("x%s", s);
                free(s);
                s = x;
                n++;
        }
        if (n <= 63)
                return s;
        out = xasprintf("%.54s-%08x", s, h);
        free(s);
        return out;
}

/* ---- CIDRs ---- */

int nfvo_cidr_pick(const sf_prefix *pool, unsigned prefix, const json_t *used, char **ret, sf_err *e)
{
        char buf[SF_PREFIX_STRLEN], pb[SF_PREFIX_STRLEN];
        u128 base = sf_addr_to_u128(&pool->addr), count;
        unsigned bits = sf_addr_bits(pool->addr.family);

        if (prefix < pool->len || prefix > bits)
                return sf_err_set(e, -EINVAL, NULL, "/%u blocks do not fit pool %s", prefix, sf_prefix_fmt(pool, pb));
        if (prefix - pool->len > 24)
                return sf_err_set(e, -EINVAL, NULL, "pool %s has too many /%u blocks", sf_prefix_fmt(pool, pb), prefix);
        count = (u128) 1 << (prefix - pool->len);
        for (u128 i = 0; i < count; i++) {
                sf_prefix cand = { .addr = sf_addr_from_u128(pool->addr.family, base + (i << (bits - prefix))),
                                   .len = prefix };
                json_t *u;
                size_t j;
                bool clash = false;
                json_array_foreach(used, j, u) {
                        sf_prefix p;
                        if (!json_is_string(u) || sf_prefix_parse(json_string_value(u), false, &p) < 0)
                                continue;
                        p = sf_prefix_masked(&p);
                        if (p.addr.family == cand.addr.family && sf_prefix_overlaps(&p, &cand)) {
                                clash = true;
                                break;
                        }
                }
                if (!clash) {
                        *ret = xstrdup(sf_prefix_fmt(&cand, buf));
                        return 0;
                }
        }
        return sf_err_set(e, -ENOSPC, NULL, "no /%u left in the virtual-link pool %s (sfd --ns-cidr-pool)", prefix,
                          sf_prefix_fmt(pool, pb));
}

/* ---- plan ---- */

static json_t *by_id(const json_t *list, const char *id)
{
        json_t *x;
        size_t i;
        if (!id)
                return NULL;
        json_array_foreach(list, i, x)
                if (STREQ(jstr(x, "id") ?: "", id))
                        return x;
        return NULL;
}

static void note(json_t *plan, const char *fmt, ...) _printf_(2, 3);
static void note(json_t *plan, const char *fmt, ...)
{
        va_list ap;
        char *s;
        va_start(ap, fmt);
        s = xvasprintf(fmt, ap);
        va_end(ap);
        json_array_append_new(json_object_get(plan, "notes"), json_string(s));
        free(s);
}

/* The l3 data of the virtual-link-profile of vl in the NSD's first df, or NULL. */
static json_t *vl_l3(const json_t *nsd, const char *vl)
{
        json_t *p;
        size_t i;
        json_array_foreach(json_object_get(nsd, "virtual_link_profiles"), i, p)
                if (STREQ(jstr(p, "virtual_link") ?: "", vl) && json_is_object(json_object_get(p, "l3")))
                        return json_object_get(p, "l3");
        return NULL;
}

/* write_files of a #cloud-config text, for container VDUs. Other cloud-config modules are
 * noted as not applied. */
static int cloud_config(json_t *plan, const char *what, const char *text, json_t *ret_files, sf_err *e)
{
        static const char *const wf_keys[] = { "path", "content", "permissions", "owner", "encoding",
                                               "append", "defer", NULL };
        json_auto_t *doc = NULL;
        json_t *wf, *x;
        const char *k;
        size_t i;
        int r;

        if (strncmp(text, "#cloud-config", 13) != 0)
                return 0;
        r = sf_yaml_to_json(text, strlen(text), &doc, e);
        if (r < 0)
                return sf_err_wrap(r, e, "#cloud-config is not valid YAML (quote values that start with '{{')");
        if (!json_is_object(doc))
                return doc && !json_is_null(doc) ? sf_err_set(e, -EINVAL, NULL, "#cloud-config must be a mapping") : 0;
        json_object_foreach(doc, k, x)
                if (!STREQ(k, "write_files"))
                        note(plan, "%s: cloud-config '%s' is not applied to container VDUs (only write_files is)",
                             what, k);
        wf = json_object_get(doc, "write_files");
        if (!wf || json_is_null(wf))
                return 0;
        if (!json_is_array(wf))
                return sf_err_set(e, -EINVAL, NULL, "#cloud-config write_files must be a list");
        json_array_foreach(wf, i, x) {
                const char *path = NULL, *content = "", *enc = NULL;
                json_t *perm;
                int64_t mode = 0644;
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, wf_keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "path", true, &path, e);
                if (r >= 0)
                        r = sf_json_str(x, "content", false, &content, e);
                if (r >= 0)
                        r = sf_json_str(x, "encoding", false, &enc, e);
                if (r >= 0 && enc && !STREQ(enc, "text/plain"))
                        r = sf_err_set(e, -EINVAL, "encoding", "'%s' is not supported (write the content as text)", enc);
                if (r >= 0 && path[0] != '/')
                        r = sf_err_set(e, -EINVAL, "path", "must be an absolute path");
                perm = json_object_get(x, "permissions");
                if (r >= 0 && perm && !json_is_null(perm)) {
                        char *end;
                        if (json_is_integer(perm))
                                mode = json_integer_value(perm); /* written as 0644 in YAML 1.2: decimal 644 */
                        if (json_is_integer(perm) && mode > 0777) {
                                _cleanup_free_ char *s = xasprintf("%" PRId64, mode);
                                mode = strtol(s, &end, 8);
                        } else if (json_is_string(perm)) {
                                errno = 0;
                                mode = strtol(json_string_value(perm), &end, 8);
                                if (errno || *end || mode < 0 || mode > 07777)
                                        r = sf_err_set(e, -EINVAL, "permissions", "must be an octal mode such as '0644'");
                        } else if (!json_is_integer(perm))
                                r = sf_err_set(e, -EINVAL, "permissions", "must be an octal mode such as '0644'");
                }
                if (r < 0) {
                        _cleanup_free_ char *f = xasprintf("write_files[%zu]", i);
                        sf_err_field_prefix(e, f);
                        return sf_err_wrap(r, e, "#cloud-config");
                }
                for (const char *const *o = (const char *const[]) { "owner", "append", "defer", NULL }; *o; o++)
                        if (json_object_get(x, *o))
                                note(plan, "%s: cloud-config write_files[%zu].%s is not applied", what, i, *o);
                json_array_append_new(ret_files, json_pack("{s:s, s:s, s:I}", "path", path, "content", content,
                                                           "mode", (json_int_t) (mode & 07777)));
        }
        return 0;
}

/* VDUs in interface order: int-cpds sorted by order (unordered ones last, as written). */
static json_t *sorted_cpds(const json_t *vdu)
{
        json_t *in = json_object_get(vdu, "int_cpds"), *out = json_array(), *x;
        size_t i, n = json_array_size(in);
        bool *taken = new0(bool, n + 1);
        for (;;) {
                json_int_t best = -1;
                size_t bi = SIZE_MAX;
                json_array_foreach(in, i, x) {
                        json_t *o = json_object_get(x, "order");
                        if (taken[i] || !json_is_integer(o))
                                continue;
                        if (bi == SIZE_MAX || json_integer_value(o) < best) {
                                best = json_integer_value(o);
                                bi = i;
                        }
                }
                if (bi == SIZE_MAX)
                        break;
                taken[bi] = true;
                json_array_append(out, json_array_get(in, bi));
        }
        json_array_foreach(in, i, x)
                if (!taken[i])
                        json_array_append(out, x);
        free(taken);
        return out;
}

static int plan_vnf(sf_rd *rd, json_t *plan, const char *ns_name, const json_t *nsd, const json_t *prof,
                    const json_t *vnfds, const json_t *params, sf_err *e)
{
        const char *member = jstr(prof, "id"), *vnfd_id = jstr(prof, "vnfd_id");
        json_t *stored = json_object_get(vnfds, vnfd_id), *model = json_object_get(stored, "model");
        json_t *pv = json_object_get(json_object_get(params, "vnf"), member);
        json_auto_t *attach = json_object(), *ivl = json_object(), *ext = json_object(), *vdus = json_array();
        json_t *df, *level = NULL, *c, *x, *vdu;
        const char *flavour, *level_id;
        _cleanup_free_ char *vname = nfvo_name(ns_name, member, NULL, NULL);
        size_t i;
        int r;

        if (!model)
                return sf_err_set(e, -EINVAL, NULL, "vnf-profile '%s': vnfd '%s' is not onboarded", member, vnfd_id);
        if (json_integer_value(json_object_get(prof, "min_instances")) > 1)
                return sf_err_set(e, -EOPNOTSUPP, NULL,
                                  "vnf-profile '%s': min-number-of-instances %" JSON_INTEGER_FORMAT
                                  ": one VNF instance per vnf-profile is supported (scale the VNF by its "
                                  "scaling aspects instead)",
                                  member, json_integer_value(json_object_get(prof, "min_instances")));
        flavour = jstr(prof, "flavour_id") ?: jstr(model, "df");
        df = by_id(json_object_get(model, "deployment_flavours"), flavour);
        if (!df)
                return sf_err_set(e, -EINVAL, NULL, "vnf-profile '%s': vnfd '%s' has no deployment flavour '%s'",
                                  member, vnfd_id, flavour);
        level_id = jstr(prof, "instantiation_level") ?: jstr(df, "default_instantiation_level");
        if (!level_id && json_array_size(json_object_get(df, "instantiation_levels")) == 1)
                level_id = jstr(json_array_get(json_object_get(df, "instantiation_levels"), 0), "id");
        if (level_id && !(level = by_id(json_object_get(df, "instantiation_levels"), level_id)))
                return sf_err_set(e, -EINVAL, NULL, "vnf-profile '%s': vnfd '%s' has no instantiation level '%s'",
                                  member, vnfd_id, level_id);

        /* External connection points: a VDU's int-cpd joins the NS virtual link; an internal
         * virtual link exposed as an ext-cpd becomes that NS virtual link. */
        json_array_foreach(json_object_get(model, "ext_cpds"), i, x)
                if (jstr(x, "vdu"))
                        json_object_set_new(ext, jstr(x, "id"), json_pack("{s:O, s:O}", "vdu", json_object_get(x, "vdu"),
                                                                          "cpd", json_object_get(x, "int_cpd")));
        json_array_foreach(json_object_get(prof, "connections"), i, c) {
                json_t *ec = by_id(json_object_get(model, "ext_cpds"), jstr(c, "cpd"));
                _cleanup_free_ char *key = xasprintf("vl/%s", jstr(c, "virtual_link"));
                if (!ec)
                        continue; /* checked at onboarding */
                if (jstr(ec, "vdu")) {
                        _cleanup_free_ char *k = xasprintf("%s/%s", jstr(ec, "vdu"), jstr(ec, "int_cpd"));
                        json_object_set_new(attach, k, json_string(key));
                } else if (jstr(ec, "int_virtual_link"))
                        json_object_set_new(ivl, jstr(ec, "int_virtual_link"), json_string(key));
        }
        json_array_foreach(json_object_get(model, "int_virtual_links"), i, x) {
                _cleanup_free_ char *key = NULL, *name = NULL;
                if (json_object_get(ivl, jstr(x, "id")))
                        continue;
                key = xasprintf("ivl/%s/%s", member, jstr(x, "id"));
                name = nfvo_name(ns_name, member, jstr(x, "id"), NULL);
                json_array_append_new(json_object_get(plan, "networks"),
                                      json_pack("{s:s, s:O, s:s, s:s, s:n, s:n, s:b}", "key", key, "vl",
                                                json_object_get(x, "id"), "member", member, "name", name, "cidr",
                                                "gateway", "external", false));
                json_object_set_new(ivl, jstr(x, "id"), json_string(key));
        }

        json_array_foreach(json_object_get(model, "vdus"), i, vdu) {
                const char *vid = jstr(vdu, "id");
                json_t *vp = by_id(json_object_get(df, "vdu_profiles"), vid), *lv = NULL, *cp;
                json_auto_t *cps = json_array(), *cpds = NULL, *files = json_array();
                json_t *over = json_object_get(json_object_get(pv, "vdu"), vid);
                int64_t count, min, max;
                const char *text = jstr(vdu, "cloud_init");
                size_t j;

                if (!vp) {
                        note(plan, "vnf '%s': vdu '%s' has no vdu-profile in flavour '%s': not deployed", member, vid,
                             flavour);
                        continue;
                }
                if (rd) {
                        r = sf_vnfm_vdu_check(rd, vdu, i, e);
                        if (r < 0)
                                return sf_err_wrap(r, e, "vnf-profile '%s' (vnfd '%s')", member, vnfd_id);
                }
                min = json_integer_value(json_object_get(vp, "min_instances"));
                max = json_integer_value(json_object_get(vp, "max_instances"));
                if (level)
                        lv = by_id(json_object_get(level, "vdus"), vid);
                count = lv ? json_integer_value(json_object_get(lv, "number_of_instances")) : min;
                cpds = sorted_cpds(vdu);
                json_array_foreach(cpds, j, cp) {
                        _cleanup_free_ char *k = xasprintf("%s/%s", vid, jstr(cp, "id"));
                        json_t *key = json_object_get(attach, k);
                        if (!key && jstr(cp, "int_virtual_link"))
                                key = json_object_get(ivl, jstr(cp, "int_virtual_link"));
                        if (key)
                                json_array_append_new(cps, json_pack("{s:O, s:O}", "cpd", json_object_get(cp, "id"),
                                                                     "net", key));
                }
                if (!text && jstr(vdu, "cloud_init_file")) {
                        note(plan, "vnf '%s': vdu '%s': cloud-init file '%s' was not uploaded with the VNFD", member,
                             vid, jstr(vdu, "cloud_init_file"));
                }
                if (text) {
                        _cleanup_free_ char *what = xasprintf("vnf '%s' vdu '%s'", member, vid);
                        r = cloud_config(plan, what, text, files, e);
                        if (r < 0)
                                return sf_err_wrap(r, e, "vnf-profile '%s' (vnfd '%s'): vnfd.vdu[%zu] '%s' cloud-init",
                                                   member, vnfd_id, i, vid);
                }
                json_array_append_new(vdus, json_pack("{s:s, s:I, s:O, s:I, s:I, s:I, s:O, s:o, s:O, s:O?, s:O?, s:O}",
                                                      "id", vid, "pos", (json_int_t) i, "kind", json_object_get(vdu, "kind"),
                                                      "count", (json_int_t) count, "min", (json_int_t) min, "max",
                                                      (json_int_t) max, "model", vdu, "over",
                                                      over ? json_deep_copy(over) : json_object(), "cps", cps,
                                                      "cloud_init", json_object_get(vdu, "cloud_init"),
                                                      "cloud_init_file", json_object_get(vdu, "cloud_init_file"),
                                                      "write_files", files));
        }
        {
                json_t *site = pv ? json_object_get(pv, "site") : json_object_get(params, "site");
                json_t *node = pv ? json_object_get(pv, "node") : json_object_get(params, "node");
                json_auto_t *nsite = NULL;
                if (pv && json_is_null(site) && json_is_null(node)) {
                        site = json_object_get(params, "site");
                        node = json_object_get(params, "node");
                }
                /* Placed on a node: its site is known too (for {{vnf.<member>.site}}). */
                if (rd && json_is_string(node)) {
                        json_auto_t *n = NULL, *st = NULL;
                        if (sf_res_get(rd, "node", json_string_value(node), &n, NULL) >= 0 && jstr(n, "site_id") &&
                            sf_res_get(rd, "site", jstr(n, "site_id"), &st, NULL) >= 0)
                                nsite = json_incref(json_object_get(st, "name"));
                }
                if (!json_is_string(site) && nsite)
                        site = nsite;
                json_array_append_new(json_object_get(plan, "vnfs"),
                                      json_pack("{s:s, s:s, s:s, s:O?, s:s, s:s?, s:O?, s:O?, s:O, s:O, s:O}", "member",
                                                member, "name", vname, "vnfd", vnfd_id, "vnfd_ref",
                                                json_object_get(stored, "id"), "flavour", flavour, "level", level_id,
                                                "site", site, "node", node, "aspects",
                                                json_object_get(df, "scaling_aspects") ?: json_array(), "ext_cpds", ext,
                                                "vdus", vdus));
        }
        return 0;
}

/* Dummy records standing for the VNF instances, to check templates before anything exists:
 * every VDU with max(count, 1) instances and an address on each connection point. */
static json_t *dummy_vnfs(const json_t *plan)
{
        json_t *out = json_object(), *pv, *pd, *cp;
        size_t i, j, k;
        json_array_foreach(json_object_get(plan, "vnfs"), i, pv) {
                json_t *vdus = json_array();
                json_array_foreach(json_object_get(pv, "vdus"), j, pd) {
                        json_t *insts = json_array();
                        int64_t n = MAX(json_integer_value(json_object_get(pd, "count")), 1);
                        for (int64_t x = 0; x < n; x++) {
                                json_t *cps = json_array();
                                json_array_foreach(json_object_get(pd, "cps"), k, cp)
                                        json_array_append_new(cps, json_pack("{s:O, s:s}", "cpd", json_object_get(cp, "cpd"),
                                                                             "ip", "192.0.2.1"));
                                json_array_append_new(insts, json_pack("{s:I, s:o}", "index", (json_int_t) x, "cps", cps));
                        }
                        json_array_append_new(vdus, json_pack("{s:O, s:o}", "id", json_object_get(pd, "id"), "instances", insts));
                }
                json_object_set_new(out, jstr(pv, "member"), json_pack("{s:o}", "vdus", vdus));
        }
        return out;
}

static int check_templates(json_t *plan, const char *ns_name, const char *ns_id, sf_err *e)
{
        json_auto_t *nets = json_object(), *vnfs = dummy_vnfs(plan), *ctx = NULL, *refs = json_object();
        json_t *net, *pv, *pd;
        const char *k;
        size_t i, j;
        bool needs = false;

        json_array_foreach(json_object_get(plan, "networks"), i, net)
                json_object_set_new(nets, jstr(net, "key"),
                                    json_pack("{s:s, s:s, s:O}", "cidr", "192.0.2.0/24", "gateway", "192.0.2.254",
                                              "network", json_object_get(net, "name")));
        ctx = nfvo_context(plan, ns_name, ns_id, nets, vnfs);
        json_array_foreach(json_object_get(plan, "vnfs"), i, pv)
                json_array_foreach(json_object_get(pv, "vdus"), j, pd) {
                        json_auto_t *files = NULL, *cps = json_array();
                        _cleanup_err_ sf_err le = SF_ERR_INIT;
                        json_t *cp, *f;
                        size_t c;
                        int r;
                        if (!jstr(pd, "cloud_init"))
                                continue;
                        r = sf_day0_refs(jstr(pd, "cloud_init"), refs, &le);
                        json_array_foreach(json_object_get(pd, "write_files"), c, f)
                                if (r >= 0)
                                        r = sf_day0_refs(jstr(f, "path"), refs, &le);
                        json_array_foreach(json_object_get(pd, "cps"), c, cp)
                                json_array_append_new(cps, json_pack("{s:O, s:s}", "cpd", json_object_get(cp, "cpd"), "ip",
                                                                     "192.0.2.1"));
                        if (r >= 0)
                                r = nfvo_day0_files(pd, ctx, jstr(pv, "member"), jstr(pv, "name"), "instance", 0, cps,
                                                    &files, &le);
                        if (r < 0) {
                                _cleanup_free_ char *field = xasprintf("vnfd.vdu[%" JSON_INTEGER_FORMAT "].%s",
                                                                       json_integer_value(json_object_get(pd, "pos")),
                                                                       jstr(pd, "cloud_init_file") ? "cloud-init-file"
                                                                                                   : "cloud-init");
                                return sf_err_set(e, r, field, "vnf-profile '%s' (vnfd '%s') vdu '%s' day-0: %s",
                                                  jstr(pv, "member"), jstr(pv, "vnfd"), jstr(pd, "id"),
                                                  sf_err_msg(&le));
                        }
                }
        json_object_foreach(refs, k, net) {
                size_t n = strlen(k);
                if ((n > 3 && STREQ(k + n - 3, ".ip")) || (n > 4 && STREQ(k + n - 4, ".ips")))
                        needs = true;
        }
        json_object_set_new(plan, "needs_ips", json_boolean(needs));
        json_object_set_new(plan, "refs", json_incref(refs));
        return 0;
}

int nfvo_plan(sf_rd *rd, const char *ns_name, const char *ns_id, const json_t *nsd, const json_t *vnfds,
              const json_t *params, json_t **ret, sf_err *e)
{
        json_auto_t *plan = json_pack("{s:[], s:[], s:[]}", "networks", "vnfs", "notes");
        json_t *vl, *prof, *vld = json_object_get(params, "vld");
        size_t i;
        int r;

        json_array_foreach(json_object_get(nsd, "virtual_links"), i, vl) {
                const char *id = jstr(vl, "id");
                json_t *p = json_object_get(vld, id), *l3 = vl_l3(nsd, id);
                const char *ext = jstr(p, "vim_network_name");
                const char *cidr = jstr(p, "cidr");
                const char *gw = NULL;
                _cleanup_free_ char *key = xasprintf("vl/%s", id), *name = NULL;
                if (!ext)
                        ext = jstr(vl, "vim_network_name");
                if (ext && !*ext)
                        ext = NULL; /* vim-network-name: "" in the parameters: create it after all */
                if (!cidr && !ext && l3) {
                        cidr = jstr(l3, "cidr");
                        gw = jstr(l3, "gateway_ip");
                }
                name = ext ? xstrdup(ext) : nfvo_name(ns_name, id, NULL, NULL);
                json_array_append_new(json_object_get(plan, "networks"),
                                      json_pack("{s:s, s:s, s:n, s:s, s:s?, s:s?, s:b}", "key", key, "vl", id, "member",
                                                "name", name, "cidr", cidr, "gateway", gw, "external", ext != NULL));
        }
        json_array_foreach(json_object_get(nsd, "vnf_profiles"), i, prof) {
                r = plan_vnf(rd, plan, ns_name, nsd, prof, vnfds, params, e);
                if (r < 0)
                        return r;
        }
        r = check_templates(plan, ns_name, ns_id, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(plan);
        return 0;
}

/* ---- day-0 context ---- */

static void put(json_t *ctx, const char *value, const char *fmt, ...) _printf_(3, 4);
static void put(json_t *ctx, const char *value, const char *fmt, ...)
{
        va_list ap;
        char *k;
        if (!value)
                return;
        va_start(ap, fmt);
        k = xvasprintf(fmt, ap);
        va_end(ap);
        json_object_set_new(ctx, k, json_string(value));
        free(k);
}

json_t *nfvo_context(const json_t *plan, const char *ns_name, const char *ns_id, const json_t *nets,
                     const json_t *vnfs)
{
        json_t *ctx = json_object(), *net, *pv, *rv, *inst, *cp;
        const char *eid;
        size_t i, j, k, c;

        put(ctx, ns_name, "ns.name");
        put(ctx, ns_id, "ns.id");
        json_array_foreach(json_object_get(plan, "networks"), i, net) {
                json_t *info = json_object_get(nets, jstr(net, "key"));
                _cleanup_free_ char *pre = jstr(net, "member")
                                                   ? xasprintf("vnf.%s.vl.%s", jstr(net, "member"), jstr(net, "vl"))
                                                   : xasprintf("vl.%s", jstr(net, "vl"));
                put(ctx, jstr(info, "cidr"), "%s.cidr", pre);
                put(ctx, jstr(info, "gateway"), "%s.gateway", pre);
                put(ctx, jstr(info, "network") ?: jstr(net, "name"), "%s.network", pre);
        }
        json_array_foreach(json_object_get(plan, "vnfs"), i, pv) {
                const char *m = jstr(pv, "member");
                json_t *rec = json_object_get(vnfs, m), *ext = json_object_get(pv, "ext_cpds"), *map;
                put(ctx, jstr(pv, "name"), "vnf.%s.name", m);
                put(ctx, jstr(pv, "vnfd"), "vnf.%s.vnfd", m);
                put(ctx, jstr(pv, "site") ?: "", "vnf.%s.site", m);
                json_array_foreach(json_object_get(rec, "vdus"), j, rv) {
                        json_auto_t *ips = json_object(); /* cpd -> [ips] */
                        const char *vid = jstr(rv, "id"), *cpd;
                        _cleanup_free_ char *count = xasprintf("%zu", json_array_size(json_object_get(rv, "instances")));
                        put(ctx, count, "vnf.%s.vdu.%s.count", m, vid);
                        json_array_foreach(json_object_get(rv, "instances"), k, inst)
                                json_array_foreach(json_object_get(inst, "cps"), c, cp) {
                                        json_t *l;
                                        if (!jstr(cp, "ip"))
                                                continue;
                                        if (!(l = json_object_get(ips, jstr(cp, "cpd"))))
                                                json_object_set_new(ips, jstr(cp, "cpd"), l = json_array());
                                        json_array_append(l, json_object_get(cp, "ip"));
                                }
                        json_object_foreach(ips, cpd, map) {
                                _cleanup_free_ char *all = xstrdup("");
                                json_t *ip;
                                size_t q;
                                json_array_foreach(map, q, ip) {
                                        char *n = xasprintf("%s%s%s", all, q ? " " : "", json_string_value(ip));
                                        free(all);
                                        all = n;
                                }
                                put(ctx, json_string_value(json_array_get(map, 0)), "vnf.%s.vdu.%s.%s.ip", m, vid, cpd);
                                put(ctx, all, "vnf.%s.vdu.%s.%s.ips", m, vid, cpd);
                        }
                }
                json_object_foreach(ext, eid, map) {
                        _cleanup_free_ char *ip = xasprintf("vnf.%s.vdu.%s.%s.ip", m, jstr(map, "vdu"), jstr(map, "cpd"));
                        _cleanup_free_ char *ips = xasprintf("%ss", ip);
                        put(ctx, jstr(ctx, ip), "vnf.%s.%s.ip", m, eid);
                        put(ctx, jstr(ctx, ips), "vnf.%s.%s.ips", m, eid);
                }
        }
        return ctx;
}

int nfvo_day0_files(const json_t *pvdu, const json_t *ctx, const char *member, const char *vnf_name,
                    const char *inst_name, int64_t index, const json_t *cps, json_t **ret, sf_err *e)
{
        json_auto_t *self = json_deep_copy(ctx), *files = json_array();
        _cleanup_free_ char *idx = xasprintf("%" PRId64, index);
        const char *text = jstr(pvdu, "cloud_init");
        json_t *cp, *f;
        size_t i;
        int r;

        put(self, inst_name, "self.name");
        put(self, idx, "self.index");
        put(self, member, "self.member");
        put(self, jstr(pvdu, "id"), "self.vdu");
        put(self, vnf_name, "self.vnf");
        {
                _cleanup_free_ char *k = xasprintf("vnf.%s.site", member);
                put(self, jstr(ctx, k) ?: "", "self.site");
        }
        json_array_foreach(cps, i, cp)
                put(self, jstr(cp, "ip"), "self.%s.ip", jstr(cp, "cpd"));
        if (text) {
                _cleanup_free_ char *out = NULL;
                r = sf_day0_render(text, self, &out, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "cloud-init");
                json_array_append_new(files, json_pack("{s:s, s:s, s:i}", "path", "/etc/superfluid/cloud-init",
                                                       "content", out, "mode", 0644));
                if (jstr(pvdu, "cloud_init_file")) {
                        _cleanup_free_ char *p = xasprintf("/etc/superfluid/cloud_init/%s", jstr(pvdu, "cloud_init_file"));
                        json_array_append_new(files, json_pack("{s:s, s:s, s:i}", "path", p, "content", out, "mode", 0644));
                }
        }
        json_array_foreach(json_object_get(pvdu, "write_files"), i, f) {
                _cleanup_free_ char *path = NULL, *content = NULL;
                r = sf_day0_render(jstr(f, "path"), self, &path, e);
                if (r >= 0)
                        r = sf_day0_render(jstr(f, "content"), self, &content, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "write_files[%zu] ('%s')", i, jstr(f, "path"));
                json_array_append_new(files, json_pack("{s:s, s:s, s:O}", "path", path, "content", content, "mode",
                                                       json_object_get(f, "mode")));
        }
        *ret = TAKE_PTR(files);
        return 0;
}
