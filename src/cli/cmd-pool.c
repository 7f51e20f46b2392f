/* sfctl pool: port pools (list, show, resize, fill, drain). Pools are made by the controller
 * for every Ready node and pooled network; these verbs look at them and steer them. */
#include "cli/sfctl.h"

static char *pool_query(struct args *a)
{
        return query_from(a, (const char *const[]) { "node", "network", NULL });
}

static const struct col pool_cols[] = {
        { "NAME", "name" },
        { "NODE", "node" },
        { "NETWORK", "network" },
        { "SIZE", "size" },
        { "IN_USE", "in_use" },
        { "MIN", "min" },
        { "MAX", "max" },
        { "BATCH", "batch" },
        { "ENABLED", "enabled" },
        { "HITS", "stats.hits" },
        { "MISSES", "stats.misses" },
        { "REFILLS", "stats.refills" },
        { "REFILL_P50_MS", "stats.refill_latency_ms.p50" },
        { NULL },
};

static int resize_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        int r = body_int(a, "min", body, "min", e);
        if (r >= 0)
                r = body_int(a, "max", body, "max", e);
        if (r >= 0)
                r = body_int(a, "batch", body, "batch", e);
        if (r < 0)
                return r;
        if (args_has(a, "enable") && args_has(a, "disable"))
                return sf_err_set(e, -EINVAL, "--enable", "conflicts with --disable");
        if (args_has(a, "enable"))
                json_object_set_new(body, "enabled", json_true());
        if (args_has(a, "disable"))
                json_object_set_new(body, "enabled", json_false());
        /* "inherit": back to the network's (or sfd's) settings */
        if (args_has(a, "inherit"))
                for (const char *const *k = (const char *const[]) { "enabled", "min", "max", "batch", NULL }; *k; k++)
                        if (!json_object_get(body, *k))
                                json_object_set_new(body, *k, json_null());
        return 0;
}

static const struct crud pool_crud = { "pool", "pools", pool_cols, NULL, resize_body, pool_query };

/* POST /v1/pools/NAME/ACTION for each NAME. */
static int pool_action(struct sfctl *c, struct args *a, const char *action, json_t *body)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int rc = EXIT_OK;
        if (a->n_pos < 1)
                return usage_error("pool", "%s takes one or more pool NAMEs", action), EXIT_USAGE;
        for (size_t i = 0; i < a->n_pos; i++) {
                _cleanup_free_ char *ep = sf_httpc_escape(a->pos[i]);
                _cleanup_free_ char *path = xasprintf("/v1/pools/%s/%s", ep, action);
                json_auto_t *out = NULL;
                if (sf_httpc_call(c->http, "POST", path, body, &out, &e) < 0) {
                        rc = fail(&e);
                        sf_err_clear(&e);
                        continue;
                }
                if (c->json || c->quiet)
                        out_object(c, out);
                else
                        printf("pool '%s': %" JSON_INTEGER_FORMAT " idle port(s) (min %" JSON_INTEGER_FORMAT
                               ", max %" JSON_INTEGER_FORMAT ")%s\n",
                               json_string_value(json_object_get(out, "name")),
                               json_integer_value(json_object_get(out, "size")),
                               json_integer_value(json_object_get(out, "min")),
                               json_integer_value(json_object_get(out, "max")),
                               json_is_true(json_object_get(out, "enabled")) ? "" : ", disabled");
        }
        return rc;
}

static int pool_fill(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = json_object();
        if (body_int(a, "count", body, "count", &e) < 0)
                return fail(&e);
        /* A long fill may take a while on a busy controller: allow it. */
        sf_httpc_set_timeout(c->http, 120000);
        return pool_action(c, a, "fill", body);
}

static int pool_drain(struct sfctl *c, const struct verb *v, struct args *a)
{
        return pool_action(c, a, "drain", NULL);
}

static const struct opt pool_list_opts[] = {
        { "node", "NODE", "only this node's pools" },
        { "network", "NETWORK", "only this network's pools" },
        { NULL },
};
static const struct opt pool_resize_opts[] = {
        { "min", "N", "idle ports to refill to" },
        { "max", "N", "idle ports to keep at most (more are released)" },
        { "batch", "N", "ports a refill allocates at least" },
        { "enable", NULL, "pool ports on this node and network" },
        { "disable", NULL, "stop pooling (idle ports are released)" },
        { "inherit", NULL, "settings not given follow the network's and sfd's again" },
        { "if-match", "REVISION", "only if the pool is still at this revision" },
        { NULL },
};
static const struct opt pool_fill_opts[] = {
        { "count", "N", "add N ports now (default: refill up to min)" },
        { NULL },
};

const struct resource res_pool = {
        "pool", "port pools: ports allocated ahead per node and network (Kuryr's ports pool)",
        (const struct verb[]) {
                { "list", "[--node NODE] [--network NETWORK]", "list pools", pool_list_opts, crud_list,
                  &pool_crud },
                { "show", "NAME|ID", "show a pool, with its statistics", crud_ref_opts, crud_show,
                  &pool_crud },
                { "resize", "NAME|ID [--min N] [--max N] [--batch N] [--enable|--disable]",
                  "change a pool's settings", pool_resize_opts, crud_update, &pool_crud },
                { "fill", "NAME|ID... [--count N]", "allocate ports now, in one transaction",
                  pool_fill_opts, pool_fill, &pool_crud },
                { "drain", "NAME|ID...", "release every idle port and disable the pool",
                  crud_ref_opts, pool_drain, &pool_crud },
                { NULL },
        },
};
