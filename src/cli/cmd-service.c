/* sfctl service (stable virtual addresses in front of workloads) and sfctl move (move a
 * running workload to another site or node). */
#include "cli/sfctl.h"
#include "lib/util.h"

static int service_body(struct sfctl *c, struct args *a, json_t *body, bool create, sf_err *e)
{
        const char **v = NULL;
        size_t n;
        if (create) {
                body_str(a, "network", body, "network");
                body_str(a, "vip", body, "vip");
                body_str(a, "node", body, "node");
        }
        n = args_all(a, "port", &v);
        if (n) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        /* PORT[:TARGET][/udp] */
                        char *end;
                        long p = strtol(v[i], &end, 10), tp = p;
                        const char *proto = "tcp";
                        if (*end == ':')
                                tp = strtol(end + 1, &end, 10);
                        if (STREQ(end, "/udp"))
                                proto = "udp";
                        else if (*end && !STREQ(end, "/tcp")) {
                                json_decref(arr);
                                free(v);
                                return sf_err_set(e, -EINVAL, "--port", "'%s' is not PORT[:TARGET][/tcp|/udp]", v[i]);
                        }
                        json_array_append_new(arr, json_pack("{s:i, s:i, s:s}", "port", (int) p, "target_port", (int) tp,
                                                             "protocol", proto));
                }
                json_object_set_new(body, "ports", arr);
        }
        free(v);
        n = args_all(a, "backend", &v);
        if (n || args_has(a, "no-backends")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, json_string(v[i]));
                json_object_set_new(body, "backends", arr);
        }
        free(v);
        return 0;
}

static int service_create_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        return service_body(c, a, body, true, e);
}

static int service_update_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        return service_body(c, a, body, false, e);
}

static const struct col service_cols[] = {
        { "NAME", "name" }, { "NETWORK", "network_id", "networks" }, { "VIP", "vip" },
        { "PORTS", "ports[].port" }, { "BACKENDS", "backend_ids[]", "containers" },
        { "NODE", "node_id", "nodes" }, { NULL },
};
static const struct crud service_crud = { "service", "services", service_cols, service_create_body,
                                          service_update_body, NULL };
static const struct opt service_create_opts[] = {
        { "network", "NETWORK", "the network of the address" },
        { "vip", "IP", "the address (default: allocated from the network)" },
        { "port", "PORT[:TARGET][/udp]", "a port clients use, and the workloads' port", true },
        { "backend", "WORKLOAD", "a workload behind the address", true },
        { "node", "NODE", "where the address lives (default: the first backend's node)" },
        { "description", "TEXT", "free text" },
        { NULL },
};
static const struct opt service_update_opts[] = {
        { "backend", "WORKLOAD", "the workloads behind the address (replaces the list)", true },
        { "no-backends", NULL, "no workload behind it" },
        { "port", "PORT[:TARGET][/udp]", "the ports (replaces the list)", true },
        { NULL },
};

const struct resource res_service = {
        "service", "stable addresses (VIPs) in front of workloads",
        (const struct verb[]) {
                { "create", "NAME --network NET --port P [--backend W]...", "create a service", service_create_opts,
                  crud_create, &service_crud },
                { "list", "", "list services", crud_ref_opts, crud_list, &service_crud },
                { "show", "NAME|ID", "show a service", crud_ref_opts, crud_show, &service_crud },
                { "update", "NAME|ID [--backend W]...", "change a service's backends or ports", service_update_opts,
                  crud_update, &service_crud },
                { "delete", "NAME|ID...", "delete services", crud_delete_opts, crud_delete, &service_crud },
                { NULL },
        },
};

/* ---- move ---- */

static void print_move(json_t *m)
{
        json_t *st;
        size_t i;
        printf("move %s of '%s' (%s): %s\n", json_string_value(json_object_get(m, "name")),
               json_string_value(json_object_get(m, "workload_name")),
               json_string_value(json_object_get(m, "strategy")), json_string_value(json_object_get(m, "state")));
        json_array_foreach(json_object_get(m, "steps"), i, st) {
                const char *d = json_string_value(json_object_get(st, "detail"));
                printf("  %-26s %8.1f ms%s%s\n", json_string_value(json_object_get(st, "step")),
                       json_real_value(json_object_get(st, "ms")), d && *d ? "  " : "", d ? d : "");
        }
        if (json_object_get(m, "gap_ms"))
                printf("  gap: %.1f ms (the function was not answering)\n", json_real_value(json_object_get(m, "gap_ms")));
        if (json_object_get(m, "note"))
                printf("  note: %s\n", json_string_value(json_object_get(m, "note")));
        if (json_object_get(m, "error"))
                printf("  error: %s\n", json_string_value(json_object_get(m, "error")));
}

/* A VNF instance, or a VDU instance (a container of an NS), moves through its NS: the move is
 * an NS operation occurrence, and the NS's records follow. */
static int move_in_ns(struct sfctl *c, struct args *a, const char *ns, json_t *body)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *esc = sf_httpc_escape(ns), *path = xasprintf("/v1/ns_instances/%s/move", esc);
        json_auto_t *op = NULL;
        if (sf_httpc_call(c->http, "POST", path, body, &op, &e) < 0)
                return fail(&e);
        if (args_has(a, "no-wait")) {
                out_object(c, op);
                return EXIT_OK;
        }
        return ns_follow(c, op, 3600);
}

static int run_move(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL, *mpath = NULL, *ref = NULL, *cpath = NULL;
        json_auto_t *body = json_object(), *m = NULL, *w = NULL;
        uint64_t deadline;
        int r;
        if (a->n_pos != 1 || !args_get(a, "to"))
                return usage_error("move", "move takes a workload NAME and --to SITE|NODE"), EXIT_USAGE;
        ref = sf_httpc_escape(a->pos[0]);
        body_str(a, "to", body, "to");
        body_str(a, "strategy", body, "strategy");
        r = body_int(a, "timeout", body, "timeout", &e);
        if (r >= 0)
                r = body_int(a, "drain", body, "drain_seconds", &e);
        if (r < 0)
                return fail(&e);
        /* What is TARGET: a container (maybe a VDU instance of an NS), else a VNF instance. */
        cpath = xasprintf("/v1/containers/%s", ref);
        r = sf_httpc_call(c->http, "GET", cpath, NULL, &w, &e);
        if (r == -ENOENT) {
                json_auto_t *vnf = NULL;
                _cleanup_free_ char *vpath = xasprintf("/v1/vnf_instances/%s", ref);
                sf_err_clear(&e);
                r = sf_httpc_call(c->http, "GET", vpath, NULL, &vnf, &e);
                if (r == -ENOENT) {
                        sf_err_set(&e, -ENOENT, NULL, "no container, VDU instance or VNF instance '%s'", a->pos[0]);
                        return fail(&e);
                }
                if (r < 0)
                        return fail(&e);
                json_object_set(body, "vnf", json_object_get(vnf, "member_vnf_index"));
                return move_in_ns(c, a, json_string_value(json_object_get(vnf, "ns_instance_id")), body);
        }
        if (r < 0)
                return fail(&e);
        {
                json_t *labels = json_object_get(w, "labels");
                const char *ns = json_string_value(json_object_get(labels, "superfluid.ns"));
                if (ns && json_object_get(labels, "superfluid.vnf")) {
                        json_object_set(body, "vnf", json_object_get(labels, "superfluid.vnf"));
                        json_object_set(body, "instance", json_object_get(w, "name"));
                        return move_in_ns(c, a, ns, body);
                }
        }
        path = xasprintf("/v1/containers/%s/move", ref);
        r = sf_httpc_call(c->http, "POST", path, body, &m, &e);
        if (r < 0)
                return fail(&e);
        if (args_has(a, "no-wait")) {
                out_object(c, m);
                return EXIT_OK;
        }
        mpath = xasprintf("/v1/moves/%s", json_string_value(json_object_get(m, "id")));
        deadline = sf_now_usec() + 3600ULL * 1000000;
        while (STREQ(json_string_value(json_object_get(m, "state")) ?: "", "PROCESSING") && sf_now_usec() < deadline) {
                json_t *n = NULL;
                usleep(50000);
                if (sf_httpc_call(c->http, "GET", mpath, NULL, &n, &e) < 0)
                        return fail(&e);
                json_decref(m);
                m = n;
        }
        if (c->json || c->quiet)
                out_object(c, m);
        else
                print_move(m);
        return STREQ(json_string_value(json_object_get(m, "state")) ?: "", "COMPLETED") ? EXIT_OK : EXIT_SERVER;
}

static const struct opt move_opts[] = {
        { "to", "SITE|NODE", "where to" },
        { "strategy", "S", "make-before-break (default: the workload's) or handover" },
        { "timeout", "SECONDS", "for each step (default 60)" },
        { "drain", "SECONDS", "most time for the old instance's connections to finish (default 10)" },
        { "no-wait", NULL, "return at once" },
        { NULL },
};

const struct resource res_move = {
        "move", "move a running workload to another site or node",
        (const struct verb[]) { { "move", "TARGET --to SITE|NODE [--strategy S]",
                                  "move a container, a VDU instance or a VNF instance (the last two as an "
                                  "operation of their NS)", move_opts, run_move }, { NULL } },
};

static const struct col move_cols[] = {
        { "NAME", "name" }, { "WORKLOAD", "workload_name" }, { "STRATEGY", "strategy" }, { "TO", "to" },
        { "STATE", "state" }, { "GAP(ms)", "gap_ms" }, { "ERROR", "error" }, { NULL },
};
static const struct crud move_crud = { "move", "moves", move_cols, NULL, NULL, NULL };
const struct resource res_moves = {
        "moves", "past and running moves",
        (const struct verb[]) {
                { "list", "", "list moves", crud_ref_opts, crud_list, &move_crud },
                { "show", "NAME|ID", "show a move", crud_ref_opts, crud_show, &move_crud },
                { NULL },
        },
};
