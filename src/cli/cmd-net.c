/* sfctl network, subnet and port. */
#include "cli/sfctl.h"

#define COMMON_CREATE_OPTS                                                             \
        { "description", "TEXT", "free text" },                                        \
        { "label", "KEY=VALUE", "a label", true }
#define COMMON_UPDATE_OPTS                                                             \
        { "rename", "NAME", "new name" }, { "description", "TEXT", "free text" },     \
        { "label", "KEY=VALUE", "replace labels", true },                              \
        { "if-match", "REVISION", "only if the object is still at this revision" }

/* ---- network ---- */

/* --pool on|off, --pool-min, --pool-max, --pool-batch: the network's "port_pool". */
static int pool_body(struct args *a, json_t *body, sf_err *e)
{
        json_auto_t *pp = json_object();
        const char *on = args_get(a, "pool");
        int r = body_int(a, "pool-min", pp, "min", e);
        if (r >= 0)
                r = body_int(a, "pool-max", pp, "max", e);
        if (r >= 0)
                r = body_int(a, "pool-batch", pp, "batch", e);
        if (r < 0)
                return r;
        if (on && !STREQ(on, "on") && !STREQ(on, "off"))
                return sf_err_set(e, -EINVAL, "--pool", "'%s' is not on or off", on);
        if (on)
                json_object_set_new(pp, "enabled", json_boolean(STREQ(on, "on")));
        if (json_object_size(pp) > 0)
                json_object_set(body, "port_pool", pp);
        return 0;
}

static int network_create_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        int r = body_int(a, "mtu", body, "mtu", e);
        if (r >= 0)
                r = body_int(a, "vni", body, "vni", e);
        if (r >= 0)
                r = pool_body(a, body, e);
        return r;
}

/* `network create NAME --cidr X` also creates the network's first subnet. */
static int network_create(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = json_object(), *net = NULL, *sub = NULL, *sbody = NULL;
        const char *cidr = args_get(a, "cidr");
        int r;

        if (a->n_pos != 1)
                return usage_error("network", "create takes exactly one NAME"), EXIT_USAGE;
        json_object_set_new(body, "name", json_string(a->pos[0]));
        body_str(a, "description", body, "description");
        r = body_labels(a, body, &e);
        if (r >= 0)
                r = network_create_body(c, a, body, &e);
        if (r >= 0)
                r = sf_httpc_call(c->http, "POST", "/v1/networks", body, &net, &e);
        if (r < 0)
                return fail(&e);
        if (cidr) {
                _cleanup_free_ char *sname = xasprintf("%s-v%c", a->pos[0], strchr(cidr, ':') ? '6' : '4');
                sbody = json_pack("{s:s, s:s, s:s}", "name", sname, "network", a->pos[0], "cidr", cidr);
                if (args_get(a, "gateway"))
                        json_object_set_new(sbody, "gateway_ip",
                                            STREQ(args_get(a, "gateway"), "none")
                                                    ? json_null()
                                                    : json_string(args_get(a, "gateway")));
                r = sf_httpc_call(c->http, "POST", "/v1/subnets", sbody, &sub, &e);
                if (r < 0) {
                        /* Do not leave a half-made network behind. */
                        _cleanup_free_ char *p = xasprintf("/v1/networks/%s",
                                                           json_string_value(json_object_get(net, "id")));
                        sf_httpc_call(c->http, "DELETE", p, NULL, NULL, NULL);
                        return fail(&e);
                }
                json_object_set_new(net, "subnets", json_pack("[O]", sub));
        }
        out_object(c, net);
        return EXIT_OK;
}

static const struct col network_cols[] = {
        { "NAME", "name" }, { "VNI", "vni" }, { "MTU", "mtu" }, { "STATUS", "status" },
        { "ID", "id" }, { NULL },
};
static const struct crud network_crud = { "network", "networks", network_cols,
                                          network_create_body, network_create_body, NULL };
#define NETWORK_POOL_OPTS                                                                  \
        { "pool", "on|off", "pool this network's ports on every node (default: sfd's --pools)" }, \
        { "pool-min", "N", "idle ports per node to refill to" },                           \
        { "pool-max", "N", "idle ports per node to keep at most" },                        \
        { "pool-batch", "N", "ports a refill allocates at least" }
static const struct opt network_create_opts[] = {
        { "cidr", "CIDR", "also create a subnet, e.g. 10.1.0.0/24" },
        { "gateway", "IP|none", "gateway of that subnet (default: first address)" },
        { "mtu", "BYTES", "MTU (default 1450, fits a VXLAN overlay on 1500)" },
        { "vni", "N", "VXLAN network identifier (default: allocated)" },
        NETWORK_POOL_OPTS,
        COMMON_CREATE_OPTS,
        { NULL },
};
static const struct opt network_update_opts[] = {
        { "mtu", "BYTES", "MTU" }, NETWORK_POOL_OPTS, COMMON_UPDATE_OPTS, { NULL },
};

const struct resource res_network = {
        "network", "virtual networks (one VXLAN segment each)",
        (const struct verb[]) {
                { "create", "NAME [--cidr CIDR] [OPTIONS]", "create a network", network_create_opts,
                  network_create, &network_crud },
                { "list", "", "list networks", crud_ref_opts, crud_list, &network_crud },
                { "show", "NAME|ID", "show a network", crud_ref_opts, crud_show, &network_crud },
                { "update", "NAME|ID [OPTIONS]", "change a network", network_update_opts,
                  crud_update, &network_crud },
                { "delete", "NAME|ID...", "delete networks (refused while ports exist)",
                  crud_delete_opts, crud_delete, &network_crud },
                { NULL },
        },
};

/* ---- subnet ---- */

static int split_pair(const char *s, char sep, char **a, char **b)
{
        const char *p = strchr(s, sep);
        if (!p)
                return -EINVAL;
        *a = strndup(s, p - s);
        *b = xstrdup(p + 1);
        return 0;
}

static int subnet_lists(struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n;

        n = args_all(a, "dns", &v);
        if (n) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, json_string(v[i]));
                json_object_set_new(body, "dns_nameservers", arr);
        }
        free(v);
        n = args_all(a, "route", &v);
        if (n) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *d = NULL, *h = NULL;
                        if (split_pair(v[i], ',', &d, &h) < 0) {
                                json_decref(arr);
                                free(v);
                                return sf_err_set(e, -EINVAL, "--route",
                                                  "'%s' is not DESTINATION,NEXTHOP", v[i]);
                        }
                        json_array_append_new(arr, json_pack("{s:s, s:s}", "destination", d,
                                                             "nexthop", h));
                }
                json_object_set_new(body, "host_routes", arr);
        }
        free(v);
        return 0;
}

static int subnet_create_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n;
        body_str(a, "network", body, "network");
        body_str(a, "cidr", body, "cidr");
        if (args_get(a, "gateway"))
                json_object_set_new(body, "gateway_ip",
                                    STREQ(args_get(a, "gateway"), "none")
                                            ? json_null()
                                            : json_string(args_get(a, "gateway")));
        n = args_all(a, "pool", &v);
        if (n) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *s = NULL, *t = NULL;
                        if (split_pair(v[i], '-', &s, &t) < 0) {
                                json_decref(arr);
                                free(v);
                                return sf_err_set(e, -EINVAL, "--pool", "'%s' is not START-END",
                                                  v[i]);
                        }
                        json_array_append_new(arr, json_pack("{s:s, s:s}", "start", s, "end", t));
                }
                json_object_set_new(body, "allocation_pools", arr);
        }
        free(v);
        return subnet_lists(a, body, e);
}

static int subnet_update_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        return subnet_lists(a, body, e);
}

static char *subnet_query(struct args *a)
{
        return query_from(a, (const char *const[]) { "network", NULL });
}

static const struct col subnet_cols[] = {
        { "NAME", "name" }, { "NETWORK", "network_id", "networks" }, { "CIDR", "cidr" },
        { "GATEWAY", "gateway_ip" }, { "USED", "pool_used" }, { "SIZE", "pool_size" },
        { "ID", "id" }, { NULL },
};
static const struct crud subnet_crud = { "subnet", "subnets", subnet_cols, subnet_create_body,
                                         subnet_update_body, subnet_query };
static const struct opt subnet_create_opts[] = {
        { "network", "NETWORK", "the network (name or id)" },
        { "cidr", "CIDR", "e.g. 10.1.0.0/24 or fd00:1::/64" },
        { "gateway", "IP|none", "gateway address (default: first address)" },
        { "pool", "START-END", "allocation pool (default: the whole subnet)", true },
        { "dns", "IP", "DNS server", true },
        { "route", "DST,NEXTHOP", "host route", true },
        COMMON_CREATE_OPTS,
        { NULL },
};
static const struct opt subnet_update_opts[] = {
        { "dns", "IP", "DNS server (replaces the list)", true },
        { "route", "DST,NEXTHOP", "host route (replaces the list)", true },
        COMMON_UPDATE_OPTS,
        { NULL },
};
static const struct opt subnet_list_opts[] = {
        { "network", "NETWORK", "only this network's subnets" }, { NULL },
};

const struct resource res_subnet = {
        "subnet", "IP subnets of networks, with their address pools",
        (const struct verb[]) {
                { "create", "[NAME] --network NET --cidr CIDR [OPTIONS]", "create a subnet",
                  subnet_create_opts, crud_create, &subnet_crud },
                { "list", "[--network NET]", "list subnets", subnet_list_opts, crud_list,
                  &subnet_crud },
                { "show", "NAME|ID", "show a subnet", crud_ref_opts, crud_show, &subnet_crud },
                { "update", "NAME|ID [OPTIONS]", "change a subnet", subnet_update_opts,
                  crud_update, &subnet_crud },
                { "delete", "NAME|ID...", "delete subnets (refused while addresses are in use)",
                  crud_delete_opts, crud_delete, &subnet_crud },
                { NULL },
        },
};

/* ---- port ---- */

static int port_body(struct sfctl *c, struct args *a, json_t *body, bool create, sf_err *e)
{
        const char **v = NULL;
        size_t n;

        if (create) {
                body_str(a, "network", body, "network");
                body_str(a, "mac", body, "mac_address");
        } else
                body_str(a, "status", body, "status");
        body_str(a, "node", body, "node");
        body_str(a, "device-owner", body, "device_owner");
        body_str(a, "device-id", body, "device_id");
        n = args_all(a, "ip", &v);
        if (n || args_has(a, "no-ip")) {
                json_t *arr = json_array();
                /* --ip ADDRESS, --ip SUBNET: or --ip SUBNET:ADDRESS (IPv6 uses '@'). */
                for (size_t i = 0; i < n; i++) {
                        const char *at = strchr(v[i], '@');
                        if (at)
                                json_array_append_new(
                                        arr, json_pack("{s:s%, s:s}", "subnet", v[i],
                                                       (size_t) (at - v[i]), "ip_address", at + 1));
                        else if (strchr(v[i], '.') && !strchr(v[i], ':') &&
                                 v[i][strspn(v[i], "0123456789.")] == 0)
                                json_array_append_new(arr, json_pack("{s:s}", "ip_address", v[i]));
                        else if (strchr(v[i], ':'))
                                json_array_append_new(arr, json_pack("{s:s}", "ip_address", v[i]));
                        else
                                json_array_append_new(arr, json_pack("{s:s}", "subnet", v[i]));
                }
                json_object_set_new(body, "fixed_ips", arr);
        }
        free(v);
        n = args_all(a, "allowed-address", &v);
        if (n) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        const char *comma = strchr(v[i], ',');
                        if (comma)
                                json_array_append_new(
                                        arr, json_pack("{s:s%, s:s}", "ip_address", v[i],
                                                       (size_t) (comma - v[i]), "mac_address",
                                                       comma + 1));
                        else
                                json_array_append_new(arr, json_pack("{s:s}", "ip_address", v[i]));
                }
                json_object_set_new(body, "allowed_address_pairs", arr);
        }
        free(v);
        return 0;
}

static int port_create_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        return port_body(c, a, body, true, e);
}

static int port_update_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        return port_body(c, a, body, false, e);
}

static char *port_query(struct args *a)
{
        return query_from(a, (const char *const[]) { "network", "node", "device-id:device_id", "status", NULL });
}

static const struct col port_cols[] = {
        { "NAME", "name" },
        { "NETWORK", "network_id", "networks" },
        { "MAC", "mac_address" },
        { "IPS", "fixed_ips[].ip_address" },
        { "NODE", "node_id", "nodes" },
        { "STATUS", "status" },
        { "DEVICE", "device_id" },
        { NULL },
};
static const struct crud port_crud = { "port", "ports", port_cols, port_create_body,
                                       port_update_body, port_query };
#define PORT_COMMON_OPTS                                                                   \
        { "ip", "IP|SUBNET|SUBNET@IP", "fixed IP: an address, a subnet to allocate from, " \
                                       "or both", true },                                  \
        { "no-ip", NULL, "no fixed IP at all" },                                            \
        { "allowed-address", "IP[/LEN][,MAC]", "allowed address pair", true },             \
        { "node", "NODE", "binding node" },                                                 \
        { "device-owner", "TEXT", "what owns the port (e.g. compute:container)" },          \
        { "device-id", "ID", "the owning device's id" }
static const struct opt port_create_opts[] = {
        { "network", "NETWORK", "the network (name or id)" },
        { "mac", "MAC", "MAC address (default: allocated, 02:5f:...)" },
        PORT_COMMON_OPTS,
        COMMON_CREATE_OPTS,
        { NULL },
};
static const struct opt port_update_opts[] = {
        PORT_COMMON_OPTS,
        { "status", "STATUS", "DOWN, BUILD, ACTIVE or ERROR" },
        COMMON_UPDATE_OPTS,
        { NULL },
};
static const struct opt port_list_opts[] = {
        { "network", "NETWORK", "only ports of this network" },
        { "node", "NODE", "only ports bound to this node" },
        { "device-id", "ID", "only ports of this device" },
        { "status", "STATUS", "only ports in this status" },
        { NULL },
};

const struct resource res_port = {
        "port", "ports: a MAC and fixed IPs on a network",
        (const struct verb[]) {
                { "create", "[NAME] --network NET [OPTIONS]", "create a port", port_create_opts,
                  crud_create, &port_crud },
                { "list", "[FILTERS]", "list ports", port_list_opts, crud_list, &port_crud },
                { "show", "NAME|ID", "show a port", crud_ref_opts, crud_show, &port_crud },
                { "update", "NAME|ID [OPTIONS]", "change a port", port_update_opts, crud_update,
                  &port_crud },
                { "delete", "NAME|ID...", "delete ports and free their addresses", crud_delete_opts,
                  crud_delete, &port_crud },
                { NULL },
        },
};
