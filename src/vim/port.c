/* Ports, with Neutron semantics: a MAC unique in the deployment, fixed IPs allocated or
 * requested and validated, allowed address pairs, device owner/id, binding node and status. */
#include "lib/log.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("vim");

static const char *const port_create_keys[] = {
        "name",      "network",   "mac_address",    "fixed_ips", "allowed_address_pairs",
        "device_owner", "device_id", "node",        "admin_state_up", "description",
        "labels",    NULL
};
static const char *const port_update_keys[] = {
        "name",      "description", "labels", "fixed_ips", "allowed_address_pairs",
        "device_owner", "device_id", "node",  "status",    "admin_state_up",
        NULL
};
static const char *const port_statuses[] = { "DOWN", "BUILD", "ACTIVE", "ERROR", NULL };

static int list_subnets(sf_tx *tx, const char *network_id, json_t **ret, sf_err *e)
{
        struct sf_res_filter f = { .owner = network_id };
        sf_rd rd;
        sf_rd_from_tx(tx, &rd);
        return sf_res_list(&rd, "subnet", &f, ret, e);
}

static void push_ip(json_t *fixed, const struct sf_subnet_info *s, const sf_addr *a)
{
        char buf[SF_ADDR_STRLEN];
        json_array_append_new(fixed, json_pack("{s:s, s:s}", "subnet_id", s->id, "ip_address",
                                               sf_addr_fmt(a, buf)));
}

/* One address of a family from the first subnet that has room. */
static int allocate_auto(sf_vim *v, sf_tx *tx, json_t *subnets, int family, const char *port_id,
                         json_t *fixed, sf_err *e)
{
        _cleanup_err_ sf_err last = SF_ERR_INIT;
        json_t *sn;
        size_t i;
        bool any = false;

        json_array_foreach(subnets, i, sn) {
                struct sf_subnet_info s;
                sf_addr a;
                int r = sf_subnet_info_parse(sn, &s, e);
                if (r < 0)
                        return r;
                if (s.cidr.addr.family != family)
                        continue;
                any = true;
                sf_err_clear(&last);
                r = sf_ipam_allocate(v, tx, &s, port_id, &a, &last);
                if (r == -ENOSPC)
                        continue;
                if (r < 0) {
                        sf_err_move(e, &last);
                        return r;
                }
                push_ip(fixed, &s, &a);
                return 0;
        }
        if (any) {
                sf_err_move(e, &last);
                return -ENOSPC;
        }
        return 0;
}

static int assign_ips(sf_vim *v, sf_tx *tx, json_t *net, const char *port_id, json_t *req,
                      json_t **ret, sf_err *e)
{
        json_auto_t *subnets = NULL, *fixed = json_array();
        const char *net_id = json_string_value(json_object_get(net, "id"));
        json_t *x;
        size_t i;
        int r;

        r = list_subnets(tx, net_id, &subnets, e);
        if (r < 0)
                return r;
        if (!req) {
                r = allocate_auto(v, tx, subnets, AF_INET, port_id, fixed, e);
                if (r >= 0)
                        r = allocate_auto(v, tx, subnets, AF_INET6, port_id, fixed, e);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(fixed);
                return 0;
        }
        if (json_array_size(req) > 16)
                return sf_err_set(e, -EINVAL, "fixed_ips", "at most 16 addresses");
        json_array_foreach(req, i, x) {
                static const char *const keys[] = { "subnet", "ip_address", NULL };
                const char *sref = NULL, *ip = NULL;
                json_auto_t *sn = NULL;
                struct sf_subnet_info s;
                char f[64];
                sf_addr a;

                snprintf(f, sizeof(f), "fixed_ips[%zu]", i);
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "subnet", false, &sref, e);
                if (r >= 0)
                        r = sf_json_str(x, "ip_address", false, &ip, e);
                if (r >= 0 && !sref && !ip)
                        r = sf_err_set(e, -EINVAL, NULL, "needs a subnet, an ip_address or both");
                if (r >= 0 && ip && sf_addr_parse(ip, &a) < 0)
                        r = sf_err_set(e, -EINVAL, "ip_address", "'%.64s' is not an IP address", ip);
                if (r >= 0 && sref) {
                        r = vim_resolve(tx, "subnet", sref, "subnet", &sn, e);
                        if (r >= 0 && !json_equal(json_object_get(sn, "network_id"),
                                                  json_object_get(net, "id")))
                                r = sf_err_set(e, -EINVAL, "subnet",
                                               "subnet '%s' is not on network '%s'", sref,
                                               json_string_value(json_object_get(net, "name")));
                } else if (r >= 0) {
                        json_t *c;
                        size_t j;
                        json_array_foreach(subnets, j, c) {
                                sf_prefix p;
                                if (sf_prefix_parse(json_string_value(json_object_get(c, "cidr")),
                                                    true, &p) >= 0 &&
                                    sf_prefix_contains(&p, &a)) {
                                        sn = json_incref(c);
                                        break;
                                }
                        }
                        if (!sn)
                                r = sf_err_set(e, -EINVAL, "ip_address",
                                               "%s is in no subnet of network '%s'", ip,
                                               json_string_value(json_object_get(net, "name")));
                }
                if (r >= 0)
                        r = sf_subnet_info_parse(sn, &s, e);
                if (r >= 0) {
                        if (ip)
                                r = sf_ipam_reserve(v, tx, &s, port_id, &a, e);
                        else
                                r = sf_ipam_allocate(v, tx, &s, port_id, &a, e);
                }
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                push_ip(fixed, &s, &a);
        }
        *ret = TAKE_PTR(fixed);
        return 0;
}

static int check_pairs(json_t *in, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        json_auto_t *out = json_array();
        size_t i;
        int r = sf_json_array(in, "allowed_address_pairs", false, &arr, e);
        if (r < 0)
                return r;
        if (arr && json_array_size(arr) > 32)
                return sf_err_set(e, -EINVAL, "allowed_address_pairs", "at most 32 pairs");
        json_array_foreach(arr, i, x) {
                static const char *const keys[] = { "ip_address", "mac_address", NULL };
                const char *ip = NULL, *mac = NULL;
                uint8_t m[6];
                sf_prefix p;
                sf_addr a;
                char f[64];
                snprintf(f, sizeof(f), "allowed_address_pairs[%zu]", i);
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "ip_address", true, &ip, e);
                if (r >= 0 && sf_addr_parse(ip, &a) < 0 && sf_prefix_parse(ip, true, &p) < 0)
                        r = sf_err_set(e, -EINVAL, "ip_address",
                                       "'%.64s' is not an IP address or CIDR", ip);
                if (r >= 0)
                        r = sf_json_str(x, "mac_address", false, &mac, e);
                if (r >= 0 && mac && (sf_mac_parse(mac, m) < 0 || sf_mac_is_multicast(m)))
                        r = sf_err_set(e, -EINVAL, "mac_address",
                                       "'%.64s' is not a unicast MAC address", mac);
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_array_append_new(out, mac ? json_pack("{s:s, s:s}", "ip_address", ip,
                                                           "mac_address", mac)
                                                : json_pack("{s:s}", "ip_address", ip));
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int check_str255(json_t *in, const char *key, sf_err *e)
{
        const char *s = NULL;
        int r = sf_json_str(in, key, false, &s, e);
        if (r < 0)
                return r;
        if (s && strlen(s) > 255)
                return sf_err_set(e, -EINVAL, key, "must be at most 255 characters");
        return 0;
}

static int resolve_node(sf_tx *tx, json_t *in, json_t *obj, sf_err *e)
{
        const char *node = NULL;
        json_auto_t *n = NULL;
        int r;
        if (!json_object_get(in, "node"))
                return 0;
        if (json_is_null(json_object_get(in, "node"))) {
                json_object_set_new(obj, "node_id", json_null());
                return 0;
        }
        r = sf_json_str(in, "node", false, &node, e);
        if (r < 0)
                return r;
        r = vim_resolve(tx, "node", node, "node", &n, e);
        if (r < 0)
                return r;
        json_object_set(obj, "node_id", json_object_get(n, "id"));
        return 0;
}

static struct sf_res_cols port_cols(json_t *obj)
{
        return (struct sf_res_cols) {
                .owner = json_string_value(json_object_get(obj, "network_id")),
                .node = json_string_value(json_object_get(obj, "node_id")),
        };
}

int sf_vim_port_create(sf_vim *v, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_object(), *net = NULL, *fixed = NULL, *pairs = NULL;
        const char *network = NULL, *mac_s = NULL, *id;
        json_t *req_ips = NULL;
        bool admin = true;
        char mbuf[SF_MAC_STRLEN];
        uint8_t mac[6];
        int r;

        r = sf_json_only(in, port_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "port", e);
        if (r >= 0)
                r = sf_json_str(in, "network", true, &network, e);
        if (r >= 0)
                r = sf_json_str(in, "mac_address", false, &mac_s, e);
        if (r >= 0)
                r = sf_json_array(in, "fixed_ips", false, &req_ips, e);
        if (r >= 0)
                r = check_pairs(in, &pairs, e);
        if (r >= 0)
                r = check_str255(in, "device_owner", e);
        if (r >= 0)
                r = check_str255(in, "device_id", e);
        if (r >= 0)
                r = sf_json_bool(in, "admin_state_up", false, &admin, e);
        if (r < 0)
                return r;
        if (mac_s && (sf_mac_parse(mac_s, mac) < 0 || sf_mac_is_multicast(mac) ||
                      sf_mac_is_zero(mac)))
                return sf_err_set(e, -EINVAL, "mac_address",
                                  "'%.64s' is not a unicast MAC address such as 02:5f:00:00:00:01",
                                  mac_s);
        r = vim_resolve(tx, "network", network, "network", &net, e);
        if (r < 0)
                return r;
        json_object_set_new(obj, "node_id", json_null());
        r = resolve_node(tx, in, obj, e);
        if (r < 0)
                return r;
        id = json_string_value(json_object_get(obj, "id"));
        r = mac_s ? sf_mac_reserve(tx, id, mac, e) : sf_mac_allocate(tx, id, mac, e);
        if (r < 0)
                return r;
        r = assign_ips(v, tx, net, id, req_ips, &fixed, e);
        if (r < 0)
                return r;

        json_object_set(obj, "network_id", json_object_get(net, "id"));
        json_object_set_new(obj, "mac_address", json_string(sf_mac_fmt(mac, mbuf)));
        json_object_set(obj, "fixed_ips", fixed);
        json_object_set(obj, "allowed_address_pairs", pairs);
        json_object_set_new(obj, "device_owner",
                            json_string(json_string_value(json_object_get(in, "device_owner")) ?: ""));
        json_object_set_new(obj, "device_id",
                            json_string(json_string_value(json_object_get(in, "device_id")) ?: ""));
        json_object_set_new(obj, "admin_state_up", json_boolean(admin));
        json_object_set_new(obj, "status", json_string("DOWN"));
        json_object_set(obj, "mtu", json_object_get(net, "mtu"));
        struct sf_res_cols cols = port_cols(obj);
        r = sf_res_insert(tx, "port", obj, &cols, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int port_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        return sf_vim_port_create(ctx, tx, in, ret, e);
}

static int port_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        sf_vim *v = ctx;
        json_auto_t *obj = json_deep_copy(cur);
        const char *id = json_string_value(json_object_get(cur, "id"));
        const char *status = NULL;
        json_t *val;
        int r;

        r = vim_check_patch_keys(patch, port_update_keys, port_create_keys, e);
        if (r < 0)
                return r;
        r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = check_str255(patch, "device_owner", e);
        if (r >= 0)
                r = check_str255(patch, "device_id", e);
        if (r >= 0)
                r = sf_json_str(patch, "status", false, &status, e);
        if (r < 0)
                return r;
        if (status) {
                bool ok = false;
                for (const char *const *s = port_statuses; *s; s++)
                        ok |= STREQ(*s, status);
                if (!ok)
                        return sf_err_set(e, -EINVAL, "status",
                                          "must be DOWN, BUILD, ACTIVE or ERROR");
                json_object_set_new(obj, "status", json_string(status));
        }
        if ((val = json_object_get(patch, "admin_state_up"))) {
                bool b;
                r = sf_json_bool(patch, "admin_state_up", true, &b, e);
                if (r < 0)
                        return r;
                json_object_set_new(obj, "admin_state_up", json_boolean(b));
        }
        for (const char *const *key = (const char *const[]) { "device_owner", "device_id", NULL };
             *key; key++)
                if ((val = json_object_get(patch, *key)))
                        json_object_set_new(obj, *key,
                                            json_string(json_is_string(val) ? json_string_value(val) : ""));
        r = resolve_node(tx, patch, obj, e);
        if (r < 0)
                return r;
        if (json_object_get(patch, "allowed_address_pairs")) {
                json_auto_t *pairs = NULL;
                r = check_pairs(patch, &pairs, e);
                if (r < 0)
                        return r;
                json_object_set(obj, "allowed_address_pairs", pairs);
        }
        if ((val = json_object_get(patch, "fixed_ips"))) {
                json_auto_t *net = NULL, *fixed = NULL, *none = json_array();
                json_t *req = NULL;
                r = sf_json_array(patch, "fixed_ips", false, &req, e);
                if (r < 0)
                        return r;
                r = vim_resolve(tx, "network", json_string_value(json_object_get(cur, "network_id")),
                                "network", &net, e);
                if (r < 0)
                        return r;
                /* Release first so that addresses the port keeps can be requested again. */
                r = sf_ipam_release_port(tx, id, e);
                if (r < 0)
                        return r;
                /* "fixed_ips": null removes every address, like []. */
                r = assign_ips(v, tx, net, id, req ? req : none, &fixed, e);
                if (r < 0)
                        return r;
                json_object_set(obj, "fixed_ips", fixed);
        }
        r = sf_trunk_port_update(v, tx, cur, obj, e); /* trunk.c: subports follow their parent */
        if (r < 0)
                return r;
        struct sf_res_cols cols = port_cols(obj);
        r = sf_res_update(tx, "port", obj, &cols, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

int sf_vim_port_delete(sf_vim *v, sf_tx *tx, json_t *port, sf_err *e)
{
        const char *id = json_string_value(json_object_get(port, "id"));
        int r = sf_ipam_release_port(tx, id, e);
        if (r >= 0)
                r = sf_mac_release_port(tx, id, e);
        if (r >= 0)
                r = sf_pool_forget_port(tx, id, e); /* an idle pooled port leaves its pool */
        if (r >= 0)
                r = sf_trunk_forget_port(v, tx, id, e); /* a subport leaves its trunk */
        if (r >= 0)
                r = sf_res_delete(tx, "port", id, e);
        return r;
}

static int port_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        const char *owner = json_string_value(json_object_get(cur, "device_owner"));
        const char *dev = json_string_value(json_object_get(cur, "device_id"));
        if (!json_is_true(json_object_get(opts, "force"))) {
                int r = sf_trunk_port_check_delete(tx, cur, e); /* trunk.c */
                if (r < 0)
                        return r;
        }
        if (owner && strncmp(owner, "compute:", 8) == 0 && dev && *dev &&
            !json_is_true(json_object_get(opts, "force")))
                return sf_err_set(e, -EBUSY, NULL,
                                  "port '%s' is used by %s '%s': delete that first (or force)",
                                  json_string_value(json_object_get(cur, "name")), owner + 8, dev);
        return sf_vim_port_delete(ctx, tx, cur, e);
}

static const struct sf_kind_filter port_filters[] = {
        { "network", SF_FILTER_OWNER, "network", NULL },
        { "node", SF_FILTER_NODE, "node", NULL },
        { "device_id", SF_FILTER_BODY, NULL, "device_id" },
        { "device_owner", SF_FILTER_BODY, NULL, "device_owner" },
        { "status", SF_FILTER_BODY, NULL, "status" },
        { "mac_address", SF_FILTER_BODY, NULL, "mac_address" },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind vim_port_kind = {
        .name = "port",
        .plural = "ports",
        .filters = port_filters,
        .create = port_create,
        .update = port_update,
        .remove = port_remove,
        .actions = no_actions,
};
