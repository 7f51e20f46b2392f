/* Routers, Neutron style: a router joins subnets, and only joined subnets route to each other.
 * Every node is the router for its own workloads (the subnet gateways live on each node, as in
 * Neutron DVR or OVN), so a router is just the policy the agents enforce. */
#include "lib/log.h"
#include "vim/vim-internal.h"

static const char *const router_keys[] = { "name", "subnets", "description", "labels", NULL };

static int router_subnets(sf_tx *tx, json_t *in, json_t *obj, sf_err *e)
{
        json_t *arr = NULL, *x;
        json_auto_t *ids = json_array(), *prefixes = json_array();
        size_t i;
        int r = sf_json_array(in, "subnets", false, &arr, e);
        if (r < 0 || !arr)
                return r;
        if (json_array_size(arr) > 64)
                return sf_err_set(e, -EINVAL, "subnets", "at most 64 subnets");
        json_array_foreach(arr, i, x) {
                _cleanup_free_ char *f = xasprintf("subnets[%zu]", i);
                json_auto_t *sn = NULL;
                sf_prefix p;
                json_t *y;
                size_t j;
                if (!json_is_string(x))
                        return sf_err_set(e, -EINVAL, f, "must be a subnet name or id");
                r = vim_resolve(tx, "subnet", json_string_value(x), f, &sn, e);
                if (r < 0)
                        return r;
                if (json_is_null(json_object_get(sn, "gateway_ip")))
                        return sf_err_set(e, -EINVAL, f, "subnet '%s' has no gateway to route through",
                                          json_string_value(x));
                sf_prefix_parse(json_string_value(json_object_get(sn, "cidr")), true, &p);
                json_array_foreach(ids, j, y)
                        if (json_equal(y, json_object_get(sn, "id")))
                                return sf_err_set(e, -EINVAL, f, "subnet '%s' is listed twice",
                                                  json_string_value(x));
                json_array_foreach(prefixes, j, y) {
                        sf_prefix q;
                        sf_prefix_parse(json_string_value(y), true, &q);
                        if (sf_prefix_overlaps(&p, &q))
                                return sf_err_set(e, -EINVAL, f,
                                                  "%s overlaps %s, also on this router",
                                                  json_string_value(json_object_get(sn, "cidr")),
                                                  json_string_value(y));
                }
                json_array_append(ids, json_object_get(sn, "id"));
                json_array_append(prefixes, json_object_get(sn, "cidr"));
        }
        json_object_set(obj, "subnet_ids", ids);
        return 0;
}

static int router_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_object();
        int r = sf_json_only(in, router_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "router", e);
        json_object_set_new(obj, "subnet_ids", json_array());
        if (r >= 0)
                r = router_subnets(tx, in, obj, e);
        if (r >= 0)
                r = sf_res_insert(tx, "router", obj, NULL, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int router_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur);
        int r = sf_json_only(patch, router_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = router_subnets(tx, patch, obj, e);
        if (r >= 0)
                r = sf_res_update(tx, "router", obj, NULL, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int router_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        return sf_res_delete(tx, "router", json_string_value(json_object_get(cur, "id")), e);
}

static const struct sf_kind_filter router_filters[] = { { NULL } };
static const struct sf_kind_action no_actions[] = { { NULL } };

struct sf_kind vim_router_kind = {
        .name = "router",
        .plural = "routers",
        .filters = router_filters,
        .create = router_create,
        .update = router_update,
        .remove = router_remove,
        .actions = no_actions,
};
