/* sfctl site and node. */
#include "cli/sfctl.h"
#include "lib/util.h"

static int site_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        body_str(a, "kind", body, "kind");
        return 0;
}

static const struct col site_cols[] = {
        { "NAME", "name" }, { "KIND", "kind" }, { "DESCRIPTION", "description" }, { "ID", "id" },
        { NULL },
};
static const struct crud site_crud = { "site", "sites", site_cols, site_body, site_body, NULL };
static const struct opt site_create_opts[] = {
        { "kind", "KIND", "core, aggregation or edge (default: core)" },
        { "description", "TEXT", "free text" },
        { "label", "KEY=VALUE", "a label", true },
        { NULL },
};
static const struct opt site_update_opts[] = {
        { "kind", "KIND", "core, aggregation or edge" },
        { "rename", "NAME", "new name" },
        { "description", "TEXT", "free text" },
        { "label", "KEY=VALUE", "replace labels", true },
        { "if-match", "REVISION", "only if the object is still at this revision" },
        { NULL },
};

const struct resource res_site = {
        "site", "sites: groups of nodes (core, aggregation, edge)",
        (const struct verb[]) {
                { "create", "NAME [--kind KIND]", "create a site", site_create_opts, crud_create,
                  &site_crud },
                { "list", "", "list sites", crud_ref_opts, crud_list, &site_crud },
                { "show", "NAME|ID", "show a site", crud_ref_opts, crud_show, &site_crud },
                { "update", "NAME|ID [OPTIONS]", "change a site", site_update_opts, crud_update,
                  &site_crud },
                { "delete", "NAME|ID...", "delete sites (refused while they have nodes)",
                  crud_delete_opts, crud_delete, &site_crud },
                { NULL },
        },
};

static int node_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        json_t *cap = NULL;
        const char *v;
        body_str(a, "site", body, "site");
        body_str(a, "underlay-ip", body, "underlay_ip");
        body_str(a, "agent-url", body, "agent_url");
        if ((v = args_get(a, "cpu")) || args_get(a, "memory") || args_get(a, "max-workloads")) {
                int r;
                cap = json_object();
                json_object_set_new(body, "capacity", cap);
                r = body_int(a, "cpu", cap, "cpu_millis", e);
                if (r >= 0)
                        r = body_int(a, "max-workloads", cap, "max_workloads", e);
                if (r < 0)
                        return r;
                if ((v = args_get(a, "memory"))) {
                        uint64_t bytes;
                        if (sf_parse_size(v, &bytes) < 0)
                                return sf_err_set(e, -EINVAL, "--memory",
                                                  "'%s' is not a size such as 512Mi or 4Gi", v);
                        json_object_set_new(cap, "memory_bytes", json_integer((json_int_t) bytes));
                }
        }
        return 0;
}

static char *node_query(struct args *a)
{
        return query_from(a, (const char *const[]) { "site", NULL });
}

static const struct col node_cols[] = {
        { "NAME", "name" },
        { "SITE", "site_id", "sites" },
        { "UNDERLAY", "underlay_ip" },
        { "STATE", "status.state" },
        { "REASON", "status.reason" },
        { "CPU(m)", "capacity.cpu_millis" },
        { "MEMORY", "capacity.memory_bytes" },
        { NULL },
};
static const struct crud node_crud = { "node", "nodes", node_cols, node_body, node_body,
                                       node_query };
#define NODE_OPTS                                                                   \
        { "site", "SITE", "the site (name or id)" },                                \
        { "underlay-ip", "IP", "underlay (VTEP) address" },                         \
        { "agent-url", "URL", "where the node's agent answers" },                   \
        { "cpu", "MILLICORES", "CPU capacity" },                                    \
        { "memory", "SIZE", "memory capacity, e.g. 8Gi" },                          \
        { "max-workloads", "N", "most workloads on the node" },                     \
        { "description", "TEXT", "free text" }, { "label", "KEY=VALUE", "a label", true }
static const struct opt node_create_opts[] = { NODE_OPTS, { NULL } };
static const struct opt node_update_opts[] = {
        NODE_OPTS,
        { "rename", "NAME", "new name" },
        { "if-match", "REVISION", "only if the object is still at this revision" },
        { NULL },
};
static const struct opt node_list_opts[] = { { "site", "SITE", "only this site's nodes" }, { NULL } };

const struct resource res_node = {
        "node", "nodes: hosts that run workloads (registered by their agents)",
        (const struct verb[]) {
                { "create", "NAME [OPTIONS]", "register a node by hand", node_create_opts,
                  crud_create, &node_crud },
                { "list", "[--site SITE]", "list nodes", node_list_opts, crud_list, &node_crud },
                { "show", "NAME|ID", "show a node", crud_ref_opts, crud_show, &node_crud },
                { "update", "NAME|ID [OPTIONS]", "change a node", node_update_opts, crud_update,
                  &node_crud },
                { "delete", "NAME|ID...", "delete nodes (refused while ports are bound)",
                  crud_delete_opts, crud_delete, &node_crud },
                { NULL },
        },
};
