/* NS instantiation parameters: where each member VNF runs (site or node, as OSM's vim-account
 * per member-vnf-index), per-VDU image and command overrides, virtual-link CIDRs and existing
 * networks, the CPU request per vCPU. Checked against the NSD and its VNFDs; errors name the
 * parameter's path (vnf[1].site). */
#include <inttypes.h>

#include "lib/util.h"
#include "nfvo/nfvo-internal.h"

static char *ids_list(const json_t *list)
{
        char *s = xstrdup("");
        json_t *x;
        size_t i;
        json_array_foreach(list, i, x) {
                char *n;
                if (i == 12) {
                        n = xasprintf("%s, ...", s);
                        free(s);
                        return n;
                }
                n = xasprintf("%s%s%s", s, i ? ", " : "", jstr(x, "id"));
                free(s);
                s = n;
        }
        return s;
}

static json_t *by_id(const json_t *list, const char *id)
{
        json_t *x;
        size_t i;
        json_array_foreach(list, i, x)
                if (STREQ(jstr(x, "id") ?: "", id))
                        return x;
        return NULL;
}

/* A member-vnf-index or VL name: a string, or an integer as YAML writes 1 for "1". */
static int key_str(json_t *o, const char *key, char **ret, sf_err *e)
{
        json_t *v = json_object_get(o, key);
        if (!v || json_is_null(v))
                return sf_err_set(e, -EINVAL, key, "is required");
        if (json_is_integer(v)) {
                *ret = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return 0;
        }
        if (!json_is_string(v) || !*json_string_value(v) || json_string_length(v) > 255)
                return sf_err_set(e, -EINVAL, key, "must be a string");
        *ret = xstrdup(json_string_value(v));
        return 0;
}

/* site and node of o into out, each checked to exist. */
static int placement(json_t *o, const struct nfvo_exists *x, json_t *out, sf_err *e)
{
        const char *site = NULL, *node = NULL;
        int r = sf_json_str(o, "site", false, &site, e);
        if (r >= 0)
                r = sf_json_str(o, "node", false, &node, e);
        if (r < 0)
                return r;
        if (site && node)
                return sf_err_set(e, -EINVAL, "node", "give site or node, not both (a node is in one site)");
        if (site && x && x->fn && !x->fn(x->u, "site", site))
                return sf_err_set(e, -EINVAL, "site", "site '%s' does not exist", site);
        if (node && x && x->fn && !x->fn(x->u, "node", node))
                return sf_err_set(e, -EINVAL, "node", "node '%s' does not exist", node);
        json_object_set_new(out, "site", site ? json_string(site) : json_null());
        json_object_set_new(out, "node", node ? json_string(node) : json_null());
        return 0;
}

static int check_vdus(json_t *list, const json_t *vnfd_model, const char *vnfd_id, json_t *out, sf_err *e)
{
        static const char *const keys[] = { "id", "image", "command", NULL };
        json_t *x;
        size_t i;
        if (!json_is_array(list))
                return sf_err_set(e, -EINVAL, "vdu", "must be a list of {id, image, command}");
        json_array_foreach(list, i, x) {
                _cleanup_free_ char *f = xasprintf("vdu[%zu]", i);
                const char *id = NULL, *image = NULL, *cmd = NULL;
                json_t *vdu;
                int r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "id", true, &id, e);
                if (r >= 0)
                        r = sf_json_str(x, "image", false, &image, e);
                if (r >= 0)
                        r = sf_json_str(x, "command", false, &cmd, e);
                if (r >= 0 && image && (!*image || strlen(image) > 255))
                        r = sf_err_set(e, -EINVAL, "image", "must be 1 to 255 characters");
                if (r >= 0 && cmd && (!*cmd || strlen(cmd) > 4096))
                        r = sf_err_set(e, -EINVAL, "command", "must be 1 to 4096 characters");
                if (r >= 0 && !(vdu = by_id(json_object_get(vnfd_model, "vdus"), id))) {
                        _cleanup_free_ char *known = ids_list(json_object_get(vnfd_model, "vdus"));
                        r = sf_err_set(e, -EINVAL, "id", "vnfd '%s' has no vdu '%s' (vdus: %s)", vnfd_id, id, known);
                }
                if (r >= 0 && json_object_get(out, id))
                        r = sf_err_set(e, -EINVAL, "id", "vdu '%s' is listed twice", id);
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_object_set_new(out, id, json_pack("{s:s?, s:s?}", "image", image, "command", cmd));
        }
        return 0;
}

static int check_vnfs(json_t *list, const json_t *nsd, const json_t *vnfds, const struct nfvo_exists *x,
                      json_t *out, sf_err *e)
{
        static const char *const keys[] = { "member-vnf-index", "site", "node", "vdu", NULL };
        json_t *profiles = json_object_get(nsd, "vnf_profiles"), *v;
        size_t i;
        if (!json_is_array(list))
                return sf_err_set(e, -EINVAL, "vnf", "must be a list of {member-vnf-index, site|node, vdu}");
        json_array_foreach(list, i, v) {
                _cleanup_free_ char *f = xasprintf("vnf[%zu]", i), *member = NULL;
                json_auto_t *o = json_object(), *vdus = json_object();
                json_t *prof = NULL, *vdul;
                int r = sf_json_is_object(v, NULL, e);
                if (r >= 0)
                        r = sf_json_only(v, keys, e);
                if (r >= 0)
                        r = key_str(v, "member-vnf-index", &member, e);
                if (r >= 0 && !(prof = by_id(profiles, member))) {
                        _cleanup_free_ char *known = ids_list(profiles);
                        r = sf_err_set(e, -EINVAL, "member-vnf-index",
                                       "nsd '%s' has no vnf-profile with member-vnf-index '%s' (it has: %s)",
                                       jstr(nsd, "id"), member, known);
                }
                if (r >= 0 && json_object_get(out, member))
                        r = sf_err_set(e, -EINVAL, "member-vnf-index", "member-vnf-index '%s' is listed twice",
                                       member);
                if (r >= 0)
                        r = placement(v, x, o, e);
                if (r >= 0 && (vdul = json_object_get(v, "vdu")) && !json_is_null(vdul)) {
                        const char *vid = jstr(prof, "vnfd_id");
                        const json_t *vnfd = json_object_get(json_object_get(vnfds, vid), "model");
                        r = check_vdus(vdul, vnfd, vid, vdus, e);
                }
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_object_set(o, "vdu", vdus);
                json_object_set(out, member, o);
        }
        return 0;
}

static int check_vlds(json_t *list, const json_t *nsd, const struct nfvo_exists *x, json_t *out, sf_err *e)
{
        static const char *const keys[] = { "name", "cidr", "vim-network-name", NULL };
        json_t *vls = json_object_get(nsd, "virtual_links"), *v;
        size_t i;
        if (!json_is_array(list))
                return sf_err_set(e, -EINVAL, "vld", "must be a list of {name, cidr, vim-network-name}");
        json_array_foreach(list, i, v) {
                _cleanup_free_ char *f = xasprintf("vld[%zu]", i), *name = NULL;
                const char *cidr = NULL, *net = NULL;
                int r = sf_json_is_object(v, NULL, e);
                if (r >= 0)
                        r = sf_json_only(v, keys, e);
                if (r >= 0)
                        r = key_str(v, "name", &name, e);
                if (r >= 0 && !by_id(vls, name)) {
                        _cleanup_free_ char *known = ids_list(vls);
                        r = sf_err_set(e, -EINVAL, "name", "nsd '%s' has no virtual link '%s' (it has: %s)",
                                       jstr(nsd, "id"), name, known);
                }
                if (r >= 0 && json_object_get(out, name))
                        r = sf_err_set(e, -EINVAL, "name", "virtual link '%s' is listed twice", name);
                if (r >= 0)
                        r = sf_json_str(v, "cidr", false, &cidr, e);
                if (r >= 0)
                        r = sf_json_str(v, "vim-network-name", false, &net, e);
                if (r >= 0 && cidr) {
                        sf_prefix p;
                        int q = sf_prefix_parse(cidr, true, &p);
                        if (q == -EDOM)
                                r = sf_err_set(e, -EINVAL, "cidr", "'%s' has host bits set", cidr);
                        else if (q < 0)
                                r = sf_err_set(e, -EINVAL, "cidr", "'%.64s' is not a CIDR such as 10.30.0.0/24",
                                               cidr);
                        else if (p.addr.family == AF_INET && (p.len < 8 || p.len > 30))
                                r = sf_err_set(e, -EINVAL, "cidr", "IPv4 prefix length must be 8 to 30");
                        else if (p.addr.family == AF_INET6 && (p.len < 64 || p.len > 126))
                                r = sf_err_set(e, -EINVAL, "cidr", "IPv6 prefix length must be 64 to 126");
                }
                if (r >= 0 && cidr && net && *net)
                        r = sf_err_set(e, -EINVAL, "cidr", "give cidr (a new network) or vim-network-name "
                                                           "(an existing one), not both");
                if (r >= 0 && net && *net && x && x->fn && !x->fn(x->u, "network", net))
                        r = sf_err_set(e, -EINVAL, "vim-network-name", "network '%s' does not exist", net);
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_object_set_new(out, name, json_pack("{s:s?, s:s?}", "cidr", cidr, "vim_network_name", net));
        }
        return 0;
}

int nfvo_params_check(json_t *in, const json_t *nsd, const json_t *vnfds, const struct nfvo_exists *x,
                      json_t **ret, sf_err *e)
{
        static const char *const keys[] = { "site", "node", "vcpu-millis", "stop-grace-seconds", "vnf", "vld", NULL };
        json_auto_t *out = json_object(), *vnf = json_object(), *vld = json_object();
        json_t *l;
        int64_t vm = 1000, grace = -1;
        int r;

        if (in && !json_is_null(in)) {
                r = sf_json_is_object(in, NULL, e);
                if (r >= 0)
                        r = sf_json_only(in, keys, e);
                if (r >= 0)
                        r = placement(in, x, out, e);
                if (r >= 0)
                        r = sf_json_int(in, "vcpu-millis", false, 1, 64000, &vm, e);
                if (r >= 0)
                        r = sf_json_int(in, "stop-grace-seconds", false, 0, 300, &grace, e);
                if (r >= 0 && (l = json_object_get(in, "vnf")) && !json_is_null(l))
                        r = check_vnfs(l, nsd, vnfds, x, vnf, e);
                if (r >= 0 && (l = json_object_get(in, "vld")) && !json_is_null(l))
                        r = check_vlds(l, nsd, x, vld, e);
                if (r < 0)
                        return r;
        } else {
                json_object_set_new(out, "site", json_null());
                json_object_set_new(out, "node", json_null());
        }
        json_object_set_new(out, "vcpu_millis", json_integer(vm));
        json_object_set_new(out, "stop_grace_seconds", grace >= 0 ? json_integer(grace) : json_null());
        json_object_set(out, "vnf", vnf);
        json_object_set(out, "vld", vld);
        *ret = TAKE_PTR(out);
        return 0;
}
