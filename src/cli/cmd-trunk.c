/* sfctl trunk: trunks (Neutron's trunk extension): a VM's port carrying subports of other
 * networks as VLANs, for containers nested in the VM. create, list, show, update, add-subport,
 * remove-subport, take-subport and release-subport (subport pools), delete. */
#include "cli/sfctl.h"

/* "PORT" or "PORT:VLAN" -> {"port", "segmentation_type": "vlan"[, "segmentation_id"]} */
static int subport_arg(const char *arg, const char *field, json_t **ret, sf_err *e)
{
        const char *colon = strrchr(arg, ':');
        _cleanup_free_ char *port = colon ? strndup(arg, (size_t) (colon - arg)) : xstrdup(arg);
        json_t *o;
        if (!*port)
                return sf_err_set(e, -EINVAL, field, "'%s' is not PORT or PORT:VLAN", arg);
        o = json_pack("{s:s, s:s}", "port", port, "segmentation_type", "vlan");
        if (colon) {
                char *end;
                long v;
                errno = 0;
                v = strtol(colon + 1, &end, 10);
                if (!colon[1] || *end || errno) {
                        json_decref(o);
                        return sf_err_set(e, -EINVAL, field, "'%s': the VLAN id after ':' is not a number", arg);
                }
                /* the range is the controller's to check: one message for API and CLI */
                json_object_set_new(o, "segmentation_id", json_integer(v));
        }
        *ret = o;
        return 0;
}

/* --subport-pool NET:MIN (repeatable) -> "subport_pools": {NET: {"min": MIN}} */
static int pools_body(struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n = args_all(a, "subport-pool", &v);
        json_t *pools = json_object();
        for (size_t i = 0; i < n; i++) {
                const char *colon = strrchr(v[i], ':');
                _cleanup_free_ char *net = colon ? strndup(v[i], (size_t) (colon - v[i])) : NULL;
                char *end;
                long min;
                errno = 0;
                min = colon ? strtol(colon + 1, &end, 10) : -1;
                if (!colon || !*net || !colon[1] || *end || errno || min < 0) {
                        json_decref(pools);
                        free(v);
                        return sf_err_set(e, -EINVAL, "--subport-pool", "'%s' is not NETWORK:MIN", v[i]);
                }
                json_object_set_new(pools, net, json_pack("{s:I}", "min", (json_int_t) min));
        }
        free(v);
        if (n)
                json_object_set(body, "subport_pools", pools);
        json_decref(pools);
        return 0;
}

static int trunk_create_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n = args_all(a, "subport", &v);
        json_t *subs = json_array();
        int r = 0;
        body_str(a, "port", body, "port");
        if (args_has(a, "disabled"))
                json_object_set_new(body, "admin_state_up", json_false());
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_t *s = NULL;
                r = subport_arg(v[i], "--subport", &s, e);
                if (r >= 0)
                        json_array_append_new(subs, s);
        }
        free(v);
        if (n)
                json_object_set(body, "sub_ports", subs);
        json_decref(subs);
        return r < 0 ? r : pools_body(a, body, e);
}

static int trunk_update_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        if (args_has(a, "enable") && args_has(a, "disable"))
                return sf_err_set(e, -EINVAL, "--enable", "conflicts with --disable");
        if (args_has(a, "enable"))
                json_object_set_new(body, "admin_state_up", json_true());
        if (args_has(a, "disable"))
                json_object_set_new(body, "admin_state_up", json_false());
        return pools_body(a, body, e);
}

static char *trunk_query(struct args *a)
{
        return query_from(a, (const char *const[]) { "port", "node", "status", NULL });
}

static const struct col trunk_cols[] = {
        { "NAME", "name" },
        { "PARENT", "port_id", "ports" },
        { "NODE", "node_id", "nodes" },
        { "STATUS", "status" },
        { "DATAPATH", "datapath" },
        { "VLANS", "sub_ports[].segmentation_id" },
        { NULL },
};
static const struct crud trunk_crud = { "trunk", "trunks", trunk_cols, trunk_create_body,
                                        trunk_update_body, trunk_query };

static void print_trunk(struct sfctl *c, json_t *t)
{
        json_t *s;
        size_t i;
        if (c->json || c->quiet) {
                out_object(c, t);
                return;
        }
        printf("trunk '%s': %zu subport(s)\n", json_string_value(json_object_get(t, "name")),
               json_array_size(json_object_get(t, "sub_ports")));
        json_array_foreach(json_object_get(t, "sub_ports"), i, s)
                printf("  VLAN %-4" JSON_INTEGER_FORMAT "  port %s  (%s)\n",
                       json_integer_value(json_object_get(s, "segmentation_id")),
                       json_string_value(json_object_get(s, "port_id")),
                       json_string_value(json_object_get(s, "mac_address")));
}

/* POST /v1/trunks/TRUNK/ACTION with {"sub_ports": [...]} from the positionals after TRUNK. */
static int subports_action(struct sfctl *c, struct args *a, const char *action, bool with_vlan)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *et = NULL, *path = NULL;
        json_auto_t *body = json_object(), *subs = json_array(), *out = NULL;
        if (a->n_pos < 2)
                return usage_error("trunk", "%s takes a TRUNK and one or more PORT%s", action,
                                   with_vlan ? "[:VLAN]" : ""),
                       EXIT_USAGE;
        for (size_t i = 1; i < a->n_pos; i++) {
                json_t *s = NULL;
                if (with_vlan) {
                        if (subport_arg(a->pos[i], "PORT", &s, &e) < 0)
                                return fail(&e);
                } else
                        s = json_pack("{s:s}", "port", a->pos[i]);
                json_array_append_new(subs, s);
        }
        json_object_set(body, "sub_ports", subs);
        et = sf_httpc_escape(a->pos[0]);
        path = xasprintf("/v1/trunks/%s/%s", et, action);
        if (sf_httpc_call(c->http, "POST", path, body, &out, &e) < 0)
                return fail(&e);
        print_trunk(c, out);
        return EXIT_OK;
}

static int trunk_take(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *et = NULL, *path = NULL;
        json_auto_t *body = json_object(), *out = NULL;
        json_t *s, *ip;
        size_t i;
        if (a->n_pos != 1 || !args_get(a, "network"))
                return usage_error("trunk", "take-subport takes a TRUNK and --network NET"), EXIT_USAGE;
        body_str(a, "network", body, "network");
        body_str(a, "user", body, "user");
        et = sf_httpc_escape(a->pos[0]);
        path = xasprintf("/v1/trunks/%s/take_subport", et);
        if (sf_httpc_call(c->http, "POST", path, body, &out, &e) < 0)
                return fail(&e);
        s = json_object_get(out, "sub_port");
        if (c->json || c->quiet) {
                out_object(c, out);
                return EXIT_OK;
        }
        printf("VLAN %" JSON_INTEGER_FORMAT "  port %s  MAC %s  MTU %" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(s, "segmentation_id")),
               json_string_value(json_object_get(s, "port_name")), json_string_value(json_object_get(s, "mac_address")),
               json_integer_value(json_object_get(s, "mtu")));
        json_array_foreach(json_object_get(s, "fixed_ips"), i, ip)
                printf("  %s", json_string_value(json_object_get(ip, "ip_address")));
        printf("\n");
        return EXIT_OK;
}

static int trunk_release(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int rc = EXIT_OK;
        if (a->n_pos < 2)
                return usage_error("trunk", "release-subport takes a TRUNK and one or more PORTs"), EXIT_USAGE;
        for (size_t i = 1; i < a->n_pos; i++) {
                _cleanup_free_ char *et = sf_httpc_escape(a->pos[0]);
                _cleanup_free_ char *path = xasprintf("/v1/trunks/%s/release_subport", et);
                json_auto_t *body = json_pack("{s:s}", "port", a->pos[i]), *out = NULL;
                if (sf_httpc_call(c->http, "POST", path, body, &out, &e) < 0) {
                        rc = fail(&e);
                        sf_err_clear(&e);
                } else if (!c->json)
                        printf("released subport '%s'\n", a->pos[i]);
        }
        return rc;
}

static int trunk_add(struct sfctl *c, const struct verb *v, struct args *a)
{
        return subports_action(c, a, "add_subports", true);
}

static int trunk_remove(struct sfctl *c, const struct verb *v, struct args *a)
{
        return subports_action(c, a, "remove_subports", false);
}

static const struct opt trunk_create_opts[] = {
        { "port", "PORT", "the parent port: the VM's port (name or id)" },
        { "subport", "PORT[:VLAN]", "a subport; the VLAN id is allocated when not given", true },
        { "disabled", NULL, "create it with admin_state_up false (subports cannot change)" },
        { "subport-pool", "NETWORK:MIN", "keep MIN idle subports on NETWORK (subport pool)", true },
        { "description", "TEXT", "free text" },
        { "label", "KEY=VALUE", "a label", true },
        { NULL },
};
static const struct opt trunk_update_opts[] = {
        { "enable", NULL, "admin_state_up true" },
        { "disable", NULL, "admin_state_up false: subports cannot change" },
        { "subport-pool", "NETWORK:MIN", "keep MIN idle subports on NETWORK (0: no pool)", true },
        { "rename", "NAME", "new name" },
        { "description", "TEXT", "free text" },
        { "label", "KEY=VALUE", "replace labels", true },
        { "if-match", "REVISION", "only if the trunk is still at this revision" },
        { NULL },
};
static const struct opt trunk_take_opts[] = {
        { "network", "NETWORK", "the network the nested container joins" },
        { "user", "TEXT", "who takes it (e.g. the nested container's name)" },
        { NULL },
};
static const struct opt trunk_list_opts[] = {
        { "port", "PORT", "the trunk of this parent port" },
        { "node", "NODE", "trunks whose parent port is bound to this node" },
        { "status", "STATUS", "DOWN, BUILD, ACTIVE, DEGRADED or ERROR" },
        { NULL },
};

const struct resource res_trunk = {
        "trunk", "trunks: a VM's port carrying subports of other networks as VLANs (nested containers)",
        (const struct verb[]) {
                { "create", "[NAME] --port PORT [--subport PORT[:VLAN]]...", "create a trunk",
                  trunk_create_opts, crud_create, &trunk_crud },
                { "list", "[--port PORT] [--node NODE] [--status STATUS]", "list trunks", trunk_list_opts,
                  crud_list, &trunk_crud },
                { "show", "NAME|ID", "show a trunk and its subports", crud_ref_opts, crud_show, &trunk_crud },
                { "update", "NAME|ID [--enable|--disable] [--rename NAME] ...", "change a trunk",
                  trunk_update_opts, crud_update, &trunk_crud },
                { "add-subport", "TRUNK PORT[:VLAN]...", "add subports (VLAN ids allocated when not given)",
                  crud_ref_opts, trunk_add, &trunk_crud },
                { "remove-subport", "TRUNK PORT...", "remove subports (the ports stay, unbound)", crud_ref_opts,
                  trunk_remove, &trunk_crud },
                { "take-subport", "TRUNK --network NET [--user TEXT]",
                  "take an idle pooled subport (or make one): VLAN, MAC and IPs for a nested container",
                  trunk_take_opts, trunk_take, &trunk_crud },
                { "release-subport", "TRUNK PORT...", "give taken subports back to their pool",
                  crud_ref_opts, trunk_release, &trunk_crud },
                { "delete", "NAME|ID... [--force]", "delete trunks (refused while they have subports, unless forced)",
                  crud_delete_opts, crud_delete, &trunk_crud },
                { NULL },
        },
};
