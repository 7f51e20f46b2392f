/* Networks and subnets, with Neutron semantics: unique VNI per network, MTU fitting the
 * overlay, IPv4/IPv6 subnets with gateway, allocation pools, DNS servers and host routes. */
#include <inttypes.h>

#include "lib/log.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("vim");

/* ---- networks ---- */

static const char *const network_create_keys[] = { "name", "mtu", "vni", "description",
                                                   "labels", "port_pool", NULL };
static const char *const network_update_keys[] = { "name", "mtu", "description", "labels",
                                                   "port_pool", NULL };

static int network_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        sf_vim *v = ctx;
        json_auto_t *obj = json_object();
        json_t *pool = NULL;
        int64_t mtu = v->default_mtu, vni = 0;
        uint32_t got;
        const char *id;
        int r;

        r = sf_json_only(in, network_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "network", e);
        if (r >= 0)
                r = sf_json_int(in, "mtu", false, 68, 9000, &mtu, e);
        if (r >= 0)
                r = sf_json_int(in, "vni", false, SF_VNI_MIN, SF_VNI_MAX, &vni, e);
        if (r >= 0)
                r = sf_pool_settings_check(in, "port_pool", &pool, e);
        if (r < 0)
                return r;
        if (pool) /* this network's port pool settings (pool.c); absent: sfd's defaults */
                json_object_set(obj, "port_pool", pool);
        id = json_string_value(json_object_get(obj, "id"));
        if (vni) {
                r = sf_vni_reserve(tx, id, (uint32_t) vni, e);
                got = (uint32_t) vni;
        } else
                r = sf_vni_allocate(v, tx, id, &got, e);
        if (r < 0)
                return r;
        json_object_set_new(obj, "mtu", json_integer(mtu));
        json_object_set_new(obj, "vni", json_integer(got));
        json_object_set_new(obj, "status", json_string("ACTIVE"));
        r = sf_res_insert(tx, "network", obj, NULL, e);
        if (r < 0)
                return r;
        sf_pool_kick(v, tx); /* pools fill once the network has a subnet */
        *ret = TAKE_PTR(obj);
        return 0;
}

static int network_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret,
                          sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur);
        json_t *pool = NULL;
        int64_t mtu = -1;
        int r;

        if (json_object_get(patch, "vni"))
                return sf_err_set(e, -EINVAL, "vni", "cannot be changed");
        r = sf_json_only(patch, network_update_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = sf_json_int(patch, "mtu", false, 68, 9000, &mtu, e);
        if (r >= 0)
                r = sf_pool_settings_check(patch, "port_pool", &pool, e);
        if (r < 0)
                return r;
        /* Port pools: new settings take effect at once; a new MTU means the idle ports (and
         * their pre-plumbed namespaces) are made again. */
        if (json_object_get(patch, "port_pool")) {
                if (pool)
                        json_object_set(obj, "port_pool", pool);
                else
                        json_object_del(obj, "port_pool");
                sf_pool_kick(ctx, tx);
        }
        if (mtu > 0 && mtu != json_integer_value(json_object_get(cur, "mtu"))) {
                r = sf_pool_drain_network(ctx, tx, json_string_value(json_object_get(cur, "id")), false, e);
                if (r < 0)
                        return r;
        }
        if (mtu > 0)
                json_object_set_new(obj, "mtu", json_integer(mtu));
        r = sf_res_update(tx, "network", obj, NULL, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

/* "a, b, c and 4 more" from the names of objects. */
static char *names_of(json_t *arr, size_t max)
{
        char *s = xstrdup("");
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o) {
                char *n;
                if (i == max) {
                        n = xasprintf("%s and %zu more", s, json_array_size(arr) - max);
                        free(s);
                        return n;
                }
                n = xasprintf("%s%s'%s'", s, i ? ", " : "",
                              json_string_value(json_object_get(o, "name")));
                free(s);
                s = n;
        }
        return s;
}

static int network_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        const char *id = json_string_value(json_object_get(cur, "id"));
        const char *name = json_string_value(json_object_get(cur, "name"));
        struct sf_res_filter f = { .owner = id };
        json_auto_t *ports = NULL, *subnets = NULL;
        json_t *s;
        size_t i;
        sf_rd rd;
        int r;

        /* Idle pooled ports are the network's own: they go with it, and so do its pools. */
        r = sf_pool_drain_network(ctx, tx, id, true, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "port", &f, &ports, e);
        if (r < 0)
                return r;
        if (json_array_size(ports) > 0) {
                _cleanup_free_ char *names = names_of(ports, 10);
                return sf_err_set(e, -EBUSY, NULL, "network '%s' still has %zu port(s): %s", name,
                                  json_array_size(ports), names);
        }
        r = sf_res_list(&rd, "subnet", &f, &subnets, e);
        if (r < 0)
                return r;
        json_array_foreach(subnets, i, s) {
                r = sf_res_delete(tx, "subnet", json_string_value(json_object_get(s, "id")), e);
                if (r < 0)
                        return r;
        }
        r = sf_vni_release(tx, (uint32_t) json_integer_value(json_object_get(cur, "vni")), e);
        if (r < 0)
                return r;
        return sf_res_delete(tx, "network", id, e);
}

/* ---- subnets ---- */

static const char *const subnet_create_keys[] = {
        "name",       "network",         "cidr",        "ip_version", "gateway_ip",
        "allocation_pools", "dns_nameservers", "host_routes", "description", "labels",
        "enable_dhcp", NULL
};
static const char *const subnet_update_keys[] = { "name", "description", "labels",
                                                  "dns_nameservers", "host_routes", NULL };

static int parse_addr_field(json_t *obj, const char *key, int family, sf_addr *ret, sf_err *e)
{
        const char *s = NULL;
        int r = sf_json_str(obj, key, true, &s, e);
        if (r < 0)
                return r;
        if (sf_addr_parse(s, ret) < 0)
                return sf_err_set(e, -EINVAL, key, "'%.64s' is not an IP address", s);
        if (family && ret->family != family)
                return sf_err_set(e, -EINVAL, key, "'%s' is not an IPv%d address", s,
                                  family == AF_INET ? 4 : 6);
        return 0;
}

static int check_dns(json_t *in, int family, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        size_t i;
        int r = sf_json_array(in, "dns_nameservers", false, &arr, e);
        if (r < 0)
                return r;
        *ret = json_array();
        if (!arr)
                return 0;
        if (json_array_size(arr) > 5)
                return sf_err_set(e, -EINVAL, "dns_nameservers", "at most 5 servers");
        json_array_foreach(arr, i, x) {
                sf_addr a;
                char f[64];
                snprintf(f, sizeof(f), "dns_nameservers[%zu]", i);
                if (!json_is_string(x) || sf_addr_parse(json_string_value(x), &a) < 0)
                        return sf_err_set(e, -EINVAL, f, "must be an IP address");
                json_array_append(*ret, x);
        }
        (void) family;
        return 0;
}

static int check_routes(json_t *in, int family, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        size_t i;
        int r = sf_json_array(in, "host_routes", false, &arr, e);
        if (r < 0)
                return r;
        *ret = json_array();
        if (!arr)
                return 0;
        if (json_array_size(arr) > 32)
                return sf_err_set(e, -EINVAL, "host_routes", "at most 32 routes");
        json_array_foreach(arr, i, x) {
                static const char *const keys[] = { "destination", "nexthop", NULL };
                const char *dst = NULL;
                sf_prefix p;
                sf_addr nh;
                char f[64];
                snprintf(f, sizeof(f), "host_routes[%zu]", i);
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "destination", true, &dst, e);
                if (r >= 0 && sf_prefix_parse(dst, true, &p) < 0)
                        r = sf_err_set(e, -EINVAL, "destination", "'%.64s' is not a CIDR", dst);
                if (r >= 0 && p.addr.family != family)
                        r = sf_err_set(e, -EINVAL, "destination",
                                       "must be of the subnet's IP version");
                if (r >= 0)
                        r = parse_addr_field(x, "nexthop", family, &nh, e);
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_array_append_new(*ret, json_pack("{s:s, s:s}", "destination", dst, "nexthop",
                                                      json_string_value(json_object_get(x, "nexthop"))));
        }
        return 0;
}

static int check_pool_range(const sf_prefix *cidr, const sf_addr *gw, const sf_addr *start,
                            const sf_addr *end, sf_err *e)
{
        char cb[SF_PREFIX_STRLEN];
        sf_addr first = sf_prefix_first(cidr), last = sf_prefix_last(cidr);
        sf_prefix_fmt(cidr, cb);
        if (!sf_prefix_contains(cidr, start))
                return sf_err_set(e, -EINVAL, "start", "is not in %s", cb);
        if (!sf_prefix_contains(cidr, end))
                return sf_err_set(e, -EINVAL, "end", "is not in %s", cb);
        if (sf_addr_cmp(start, end) > 0)
                return sf_err_set(e, -EINVAL, "end", "must not be before start");
        if (sf_addr_eq(start, &first))
                return sf_err_set(e, -EINVAL, "start", "is the network address of %s", cb);
        if (cidr->addr.family == AF_INET && sf_addr_eq(end, &last))
                return sf_err_set(e, -EINVAL, "end", "is the broadcast address of %s", cb);
        if (gw && sf_addr_cmp(gw, start) >= 0 && sf_addr_cmp(gw, end) <= 0)
                return sf_err_set(e, -EINVAL, NULL, "includes the gateway address");
        return 0;
}

static void push_pool(json_t *pools, int family, u128 a, u128 b)
{
        char x[SF_ADDR_STRLEN], y[SF_ADDR_STRLEN];
        sf_addr s = sf_addr_from_u128(family, a), t = sf_addr_from_u128(family, b);
        if (a > b)
                return;
        json_array_append_new(pools, json_pack("{s:s, s:s}", "start", sf_addr_fmt(&s, x), "end",
                                               sf_addr_fmt(&t, y)));
}

static int subnet_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_object(), *net = NULL, *others = NULL, *pools = json_array(),
                    *dns = NULL, *routes = NULL;
        const char *network = NULL, *cidr_s = NULL;
        char buf[SF_PREFIX_STRLEN], gbuf[SF_ADDR_STRLEN];
        json_t *jgw, *jpools = NULL, *o;
        int64_t ipv = 0;
        bool has_gw = false, dhcp = false;
        sf_prefix cidr;
        sf_addr gw = { 0 };
        size_t i;
        int r;
        sf_rd rd;

        r = sf_json_only(in, subnet_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "subnet", e);
        if (r >= 0)
                r = sf_json_str(in, "network", true, &network, e);
        if (r >= 0)
                r = sf_json_str(in, "cidr", true, &cidr_s, e);
        if (r >= 0)
                r = sf_json_int(in, "ip_version", false, 4, 6, &ipv, e);
        if (r >= 0)
                r = sf_json_bool(in, "enable_dhcp", false, &dhcp, e);
        if (r < 0)
                return r;
        r = sf_prefix_parse(cidr_s, true, &cidr);
        if (r == -EDOM) {
                sf_prefix_parse(cidr_s, false, &cidr);
                cidr = sf_prefix_masked(&cidr);
                return sf_err_set(e, -EINVAL, "cidr", "'%s' has host bits set; did you mean %s?",
                                  cidr_s, sf_prefix_fmt(&cidr, buf));
        }
        if (r < 0)
                return sf_err_set(e, -EINVAL, "cidr",
                                  "'%.64s' is not a CIDR such as 10.1.0.0/24 or fd00::/64", cidr_s);
        if (ipv && ipv != 4 && ipv != 6)
                return sf_err_set(e, -EINVAL, "ip_version", "must be 4 or 6");
        if (ipv && (ipv == 4) != (cidr.addr.family == AF_INET))
                return sf_err_set(e, -EINVAL, "ip_version", "does not match cidr %s", cidr_s);
        if (cidr.addr.family == AF_INET && (cidr.len < 8 || cidr.len > 30))
                return sf_err_set(e, -EINVAL, "cidr", "IPv4 prefix length must be 8 to 30");
        if (cidr.addr.family == AF_INET6 && (cidr.len < 64 || cidr.len > 126))
                return sf_err_set(e, -EINVAL, "cidr", "IPv6 prefix length must be 64 to 126");
        r = vim_resolve(tx, "network", network, "network", &net, e);
        if (r < 0)
                return r;

        /* Gateway: absent = first host, null = none. */
        jgw = json_object_get(in, "gateway_ip");
        if (!jgw) {
                gw = sf_addr_from_u128(cidr.addr.family, sf_addr_to_u128(&cidr.addr) + 1);
                has_gw = true;
        } else if (!json_is_null(jgw)) {
                sf_addr first = sf_prefix_first(&cidr), last = sf_prefix_last(&cidr);
                r = parse_addr_field(in, "gateway_ip", cidr.addr.family, &gw, e);
                if (r < 0)
                        return r;
                if (!sf_prefix_contains(&cidr, &gw))
                        return sf_err_set(e, -EINVAL, "gateway_ip", "is not in %s", cidr_s);
                if (sf_addr_eq(&gw, &first) ||
                    (cidr.addr.family == AF_INET && sf_addr_eq(&gw, &last)))
                        return sf_err_set(e, -EINVAL, "gateway_ip",
                                          "must not be the network or broadcast address");
                has_gw = true;
        }

        r = sf_json_array(in, "allocation_pools", false, &jpools, e);
        if (r < 0)
                return r;
        if (jpools) {
                json_t *p;
                if (json_array_size(jpools) == 0 || json_array_size(jpools) > 16)
                        return sf_err_set(e, -EINVAL, "allocation_pools",
                                          "must have 1 to 16 ranges");
                json_array_foreach(jpools, i, p) {
                        static const char *const keys[] = { "start", "end", NULL };
                        sf_addr a, b;
                        char f[64];
                        snprintf(f, sizeof(f), "allocation_pools[%zu]", i);
                        r = sf_json_is_object(p, NULL, e);
                        if (r >= 0)
                                r = sf_json_only(p, keys, e);
                        if (r >= 0)
                                r = parse_addr_field(p, "start", cidr.addr.family, &a, e);
                        if (r >= 0)
                                r = parse_addr_field(p, "end", cidr.addr.family, &b, e);
                        if (r >= 0)
                                r = check_pool_range(&cidr, has_gw ? &gw : NULL, &a, &b, e);
                        if (r < 0) {
                                sf_err_field_prefix(e, f);
                                return r;
                        }
                        for (size_t j = 0; j < i; j++) {
                                json_t *q = json_array_get(pools, j);
                                sf_addr c, d;
                                sf_addr_parse(json_string_value(json_object_get(q, "start")), &c);
                                sf_addr_parse(json_string_value(json_object_get(q, "end")), &d);
                                if (sf_addr_cmp(&a, &d) <= 0 && sf_addr_cmp(&c, &b) <= 0)
                                        return sf_err_set(e, -EINVAL, f,
                                                          "overlaps allocation_pools[%zu]", j);
                        }
                        push_pool(pools, cidr.addr.family, sf_addr_to_u128(&a),
                                  sf_addr_to_u128(&b));
                }
        } else {
                sf_addr last = sf_prefix_last(&cidr);
                u128 lo = sf_addr_to_u128(&cidr.addr) + 1;
                u128 hi = sf_addr_to_u128(&last) - (cidr.addr.family == AF_INET ? 1 : 0);
                if (has_gw) {
                        u128 g = sf_addr_to_u128(&gw);
                        push_pool(pools, cidr.addr.family, lo, g - 1);
                        push_pool(pools, cidr.addr.family, g + 1, hi);
                } else
                        push_pool(pools, cidr.addr.family, lo, hi);
        }

        r = check_dns(in, cidr.addr.family, &dns, e);
        if (r >= 0)
                r = check_routes(in, cidr.addr.family, &routes, e);
        if (r < 0)
                return r;

        /* No two subnets of one network may overlap. */
        sf_rd_from_tx(tx, &rd);
        {
                struct sf_res_filter f = { .owner = json_string_value(json_object_get(net, "id")) };
                r = sf_res_list(&rd, "subnet", &f, &others, e);
                if (r < 0)
                        return r;
        }
        json_array_foreach(others, i, o) {
                sf_prefix op;
                if (sf_prefix_parse(json_string_value(json_object_get(o, "cidr")), true, &op) < 0)
                        continue;
                if (sf_prefix_overlaps(&op, &cidr))
                        return sf_err_set(e, -EEXIST, "cidr",
                                          "%s overlaps subnet '%s' (%s) of network '%s'", cidr_s,
                                          json_string_value(json_object_get(o, "name")),
                                          json_string_value(json_object_get(o, "cidr")),
                                          json_string_value(json_object_get(net, "name")));
        }

        json_object_set(obj, "network_id", json_object_get(net, "id"));
        json_object_set_new(obj, "cidr", json_string(sf_prefix_fmt(&cidr, buf)));
        json_object_set_new(obj, "ip_version", json_integer(cidr.addr.family == AF_INET ? 4 : 6));
        json_object_set_new(obj, "gateway_ip", has_gw ? json_string(sf_addr_fmt(&gw, gbuf)) : json_null());
        json_object_set(obj, "allocation_pools", pools);
        json_object_set(obj, "dns_nameservers", dns);
        json_object_set(obj, "host_routes", routes);
        json_object_set_new(obj, "enable_dhcp", json_boolean(dhcp));
        r = sf_res_insert(tx, "subnet", obj,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(net, "id")) },
                          e);
        if (r < 0)
                return r;
        /* Port pools: idle ports have no address in the new subnet; pool again. */
        r = sf_pool_drain_network(ctx, tx, json_string_value(json_object_get(net, "id")), false, e);
        if (r < 0)
                return r;
        sf_pool_kick(ctx, tx);
        *ret = TAKE_PTR(obj);
        return 0;
}

static int subnet_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret,
                         sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur), *dns = NULL, *routes = NULL;
        int family = json_integer_value(json_object_get(cur, "ip_version")) == 6 ? AF_INET6 : AF_INET;
        int r;

        r = vim_check_patch_keys(patch, subnet_update_keys, subnet_create_keys, e);
        if (r < 0)
                return r;
        r = vim_patch_common(obj, patch, e);
        if (r < 0)
                return r;
        if (json_object_get(patch, "dns_nameservers")) {
                r = check_dns(patch, family, &dns, e);
                if (r < 0)
                        return r;
                json_object_set(obj, "dns_nameservers", dns);
        }
        if (json_object_get(patch, "host_routes")) {
                r = check_routes(patch, family, &routes, e);
                if (r < 0)
                        return r;
                json_object_set(obj, "host_routes", routes);
        }
        r = sf_res_update(tx, "subnet", obj,
                          &(struct sf_res_cols) { .owner = json_string_value(json_object_get(obj, "network_id")) },
                          e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int subnet_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        const char *id = json_string_value(json_object_get(cur, "id"));
        int64_t used = 0;
        /* Port pools: idle ports holding addresses of the subnet are released first. */
        int r = sf_pool_drain_network(ctx, tx, json_string_value(json_object_get(cur, "network_id")), false, e);
        if (r >= 0)
                r = sf_ipam_subnet_used(tx, id, &used, e);
        if (r < 0)
                return r;
        if (used > 0)
                return sf_err_set(e, -EBUSY, NULL,
                                  "subnet '%s' has %" PRId64 " address(es) in use by ports",
                                  json_string_value(json_object_get(cur, "name")), used);
        return sf_res_delete(tx, "subnet", id, e);
}

static void subnet_decorate(void *ctx, sf_rd *rd, json_t *obj)
{
        struct sf_subnet_info s;
        u128 size = 0, used = 0;
        if (sf_subnet_info_parse(obj, &s, NULL) < 0 ||
            sf_ipam_subnet_usage(rd, &s, &size, &used, NULL) < 0)
                return;
        /* JSON integers are 64-bit: clamp huge IPv6 pools. */
        json_object_set_new(obj, "pool_size",
                            json_integer(size > INT64_MAX ? INT64_MAX : (json_int_t) size));
        json_object_set_new(obj, "pool_used", json_integer((json_int_t) used));
}

static const struct sf_kind_filter network_filters[] = { { NULL } };
static const struct sf_kind_filter subnet_filters[] = {
        { "network", SF_FILTER_OWNER, "network", NULL },
        { "ip_version", SF_FILTER_BODY, NULL, "ip_version" },
        { NULL },
};
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind vim_network_kind = {
        .name = "network",
        .plural = "networks",
        .filters = network_filters,
        .create = network_create,
        .update = network_update,
        .remove = network_remove,
        .actions = no_actions,
};

struct sf_kind vim_subnet_kind = {
        .name = "subnet",
        .plural = "subnets",
        .filters = subnet_filters,
        .create = subnet_create,
        .update = subnet_update,
        .remove = subnet_remove,
        .actions = no_actions,
        .decorate = subnet_decorate,
};
