/* sfctl run, ps, logs, exec, stop, start, rm, and the container resource; sfctl image. */
#include <inttypes.h>
#include <time.h>

#include "cli/sfctl.h"
#include "lib/util.h"

static char *path_of(const char *ref, const char *action)
{
        _cleanup_free_ char *e = sf_httpc_escape(ref);
        return action ? xasprintf("/v1/containers/%s/%s", e, action) : xasprintf("/v1/containers/%s", e);
}

/* Waits until the container leaves Pending/Creating, or is gone (gone = true). */
static int wait_phase(struct sfctl *c, const char *ref, bool gone, int timeout_s, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *path = path_of(ref, NULL);
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_s * 1000000;
        for (;;) {
                json_auto_t *o = NULL;
                const char *phase;
                int r = sf_httpc_call(c->http, "GET", path, NULL, &o, e);
                if (gone && r == -ENOENT) {
                        sf_err_clear(e);
                        return 0;
                }
                if (r < 0)
                        return r;
                phase = json_string_value(json_object_get(json_object_get(o, "status"), "phase")) ?: "";
                if (!gone && !STREQ(phase, "Pending") && !STREQ(phase, "Creating")) {
                        if (ret)
                                *ret = json_incref(o);
                        return 0;
                }
                if (!gone && STREQ(phase, "Pending") && json_is_null(json_object_get(o, "node_id"))) {
                        /* Unschedulable now: say why instead of waiting. It stays queued. */
                        const char *msg = json_string_value(json_object_get(json_object_get(o, "status"), "message"));
                        return sf_err_set(e, -EBUSY, NULL,
                                          "'%s' is Pending: %s (it starts when a node fits; "
                                          "'sfctl rm %s' gives up)",
                                          json_string_value(json_object_get(o, "name")),
                                          msg && *msg ? msg : "no node fits", json_string_value(json_object_get(o, "name")));
                }
                if (sf_now_usec() > deadline) {
                        const char *msg = json_string_value(json_object_get(json_object_get(o, "status"), "message"));
                        return sf_err_set(e, -ETIMEDOUT, NULL, "'%s' still %s after %d s%s%s", ref, phase,
                                          timeout_s, msg && *msg ? ": " : "", msg ? msg : "");
                }
                usleep(20000);
        }
}

static int parse_kv_list(struct args *a, const char *opt, json_t *out, sf_err *e)
{
        const char **v = NULL;
        size_t n = args_all(a, opt, &v);
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(v[i], '=');
                _cleanup_free_ char *k = NULL, *f = xasprintf("--%s", opt);
                if (!eq || eq == v[i]) {
                        free(v);
                        return sf_err_set(e, -EINVAL, f, "'%s' is not KEY=VALUE", v[i]);
                }
                k = strndup(v[i], eq - v[i]);
                json_object_set_new(out, k, json_string(eq + 1));
        }
        free(v);
        return 0;
}

/* --file PATH=@LOCALFILE or PATH=CONTENT: a day-0 file written into the container. */
static int parse_files(struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n = args_all(a, "file", &v);
        json_t *files;
        if (!n) {
                free(v);
                return 0;
        }
        files = json_array();
        json_object_set_new(body, "files", files);
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(v[i], '=');
                _cleanup_free_ char *p = NULL, *content = NULL;
                if (!eq) {
                        free(v);
                        return sf_err_set(e, -EINVAL, "--file", "'%s' is not PATH=CONTENT or PATH=@FILE", v[i]);
                }
                p = strndup(v[i], eq - v[i]);
                if (eq[1] == '@') {
                        int r = sf_read_file(eq + 2, 256 * 1024, &content, NULL, e);
                        if (r < 0) {
                                free(v);
                                return r;
                        }
                } else
                        content = xstrdup(eq + 1);
                json_array_append_new(files, json_pack("{s:s, s:s}", "path", p, "content", content));
        }
        free(v);
        return 0;
}

static int run_run(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = json_object(), *out = NULL, *final = NULL, *env = json_object();
        const char **nets = NULL, **ports = NULL;
        size_t nn, np;
        int r;

        if (a->n_pos != 1)
                return usage_error("run", "run takes one IMAGE (then -- COMMAND...)"), EXIT_USAGE;
        json_object_set_new(body, "image", json_string(a->pos[0]));
        body_str(a, "name", body, "name");
        body_str(a, "node", body, "node");
        body_str(a, "site", body, "site");
        body_str(a, "restart", body, "restart_policy");
        body_str(a, "workdir", body, "workdir");
        body_str(a, "hostname", body, "hostname");
        body_str(a, "runtime", body, "runtime");
        body_str(a, "memory", body, "memory");
        body_str(a, "cpu", body, "cpu");
        body_str(a, "anti-affinity", body, "anti_affinity");
        body_str(a, "reschedule", body, "reschedule");
        body_str(a, "move-strategy", body, "move_strategy");
        body_str(a, "host-vm", body, "host_vm");
        body_str(a, "nested-mode", body, "nested_mode");
        if (!args_get(a, "handover-export") != !args_get(a, "handover-import")) {
                sf_err_set(&e, -EINVAL, args_get(a, "handover-export") ? "--handover-import" : "--handover-export",
                           "is required too: the state goes from the export command's output to this path");
                return fail(&e);
        }
        if (args_get(a, "handover-export")) {
                /* the export command runs in the old instance through /bin/sh; its output
                 * lands at the import path in the new one */
                json_object_set_new(body, "handover_hook",
                                    json_pack("{s:[s,s,s], s:s}", "export", "/bin/sh", "-c",
                                              args_get(a, "handover-export"), "import_path",
                                              args_get(a, "handover-import")));
        }
        body_labels(a, body, &e);
        r = body_int(a, "stop-grace", body, "stop_grace_seconds", &e);
        if (r >= 0 && args_has(a, "vm"))
                r = vm_run_body(a, body, &e); /* kind vm, vcpus, user_data, ssh_keys */
        else if (r >= 0 && (args_get(a, "vcpus") || args_get(a, "user-data") || args_get(a, "ssh-key")))
                r = sf_err_set(&e, -EINVAL, NULL, "--vcpus, --user-data and --ssh-key are for VMs (--vm)");
        if (r >= 0)
                r = parse_kv_list(a, "env", env, &e);
        if (r >= 0)
                r = parse_files(a, body, &e);
        if (r < 0)
                return fail(&e);
        if (json_object_size(env))
                json_object_set(body, "env", env);
        nn = args_all(a, "network", &nets);
        if (nn) {
                json_t *arr = json_array();
                for (size_t i = 0; i < nn; i++) {
                        /* NET or NET=IP */
                        const char *eq = strchr(nets[i], '=');
                        if (eq)
                                json_array_append_new(arr, json_pack("{s:s%, s:s}", "network", nets[i],
                                                                     (size_t) (eq - nets[i]), "ip", eq + 1));
                        else
                                json_array_append_new(arr, json_string(nets[i]));
                }
                json_object_set_new(body, "networks", arr);
        }
        free(nets);
        np = args_all(a, "port", &ports);
        if (np) {
                json_t *arr = json_array();
                for (size_t i = 0; i < np; i++)
                        json_array_append_new(arr, json_string(ports[i]));
                json_object_set_new(body, "ports", arr);
        }
        free(ports);
        if (a->n_rest) {
                json_t *cmd = json_array();
                for (size_t i = 0; i < a->n_rest; i++)
                        json_array_append_new(cmd, json_string(a->rest[i]));
                json_object_set_new(body, "command", cmd);
        }
        r = sf_httpc_call(c->http, "POST", "/v1/containers", body, &out, &e);
        if (r < 0)
                return fail(&e);
        if (args_has(a, "detach")) {
                out_object(c, out);
                return EXIT_OK;
        }
        r = wait_phase(c, json_string_value(json_object_get(out, "id")), false, 120, &final, &e);
        if (r >= 0 && args_has(a, "vm")) {
                /* A VM runs once QEMU does; wait for its guest to answer too. */
                json_decref(final);
                final = NULL;
                r = vm_run_wait(c, json_string_value(json_object_get(out, "id")), NULL, 300, &final, &e);
                if (r >= 0 && !c->json && !c->quiet) {
                        vm_print_run(c, final);
                        r = 1;
                }
        }
        if (r < 0)
                return fail(&e);
        if (r == 1)
                ;
        else if (c->json || c->quiet)
                out_object(c, final);
        else {
                json_t *st = json_object_get(final, "status");
                const char *msg = json_string_value(json_object_get(st, "message"));
                _cleanup_free_ char *ips = json_path_text(final, "status.ips[]");
                _cleanup_free_ char *npath = xasprintf("/v1/nodes/%s",
                                                       json_string_value(json_object_get(final, "node_id")) ?: "-");
                json_auto_t *node = NULL;
                sf_httpc_call(c->http, "GET", npath, NULL, &node, NULL);
                printf("%s %s on node %s, %s%s\n", json_string_value(json_object_get(final, "name")),
                       json_string_value(json_object_get(st, "phase")),
                       json_string_value(json_object_get(node, "name")) ?: "-", *ips ? "IP " : "no IP", ips);
                if (msg && *msg)
                        printf("  %s\n", msg);
        }
        {
                const char *phase = json_string_value(json_object_get(json_object_get(final, "status"), "phase"));
                return phase && STREQ(phase, "Failed") ? EXIT_SERVER : EXIT_OK;
        }
}

static const struct col ps_cols[] = {
        { "NAME", "name" },       { "IMAGE", "image" },          { "NODE", "node_id", "nodes" },
        { "STATUS", "status.phase" }, { "IPS", "status.ips[]" }, { "RESTARTS", "status.restarts" },
        { "MESSAGE", "status.message" }, { NULL },
};

static int run_ps(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *q = query_from(a, (const char *const[]) { "node", "image", NULL });
        _cleanup_free_ char *path = xasprintf("/v1/containers%s%s", *q ? "?" : "", q);
        json_auto_t *out = NULL;
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        out_table(c, json_object_get(out, "items"), ps_cols);
        return EXIT_OK;
}

static int run_logs(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *p = NULL, *path = NULL, *et = NULL;
        json_auto_t *out = NULL;
        if (a->n_pos != 1)
                return usage_error("logs", "logs takes one container NAME"), EXIT_USAGE;
        p = path_of(a->pos[0], "logs");
        et = args_get(a, "tail") ? sf_httpc_escape(args_get(a, "tail")) : NULL;
        path = et ? xasprintf("%s?tail=%s", p, et) : xstrdup(p);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        if (c->json)
                out_object(c, out);
        else
                fputs(json_string_value(json_object_get(out, "logs")) ?: "", stdout);
        return EXIT_OK;
}

static int run_exec(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = NULL, *out = NULL, *cmd = json_array();
        int timeout = 30;
        if (a->n_pos != 1 || a->n_rest == 0)
                return usage_error("exec", "exec takes a container NAME, then -- COMMAND..."), EXIT_USAGE;
        if (args_get(a, "timeout"))
                timeout = atoi(args_get(a, "timeout")) > 0 ? atoi(args_get(a, "timeout")) : 30;
        for (size_t i = 0; i < a->n_rest; i++)
                json_array_append_new(cmd, json_string(a->rest[i]));
        body = json_pack("{s:O, s:i}", "command", cmd, "timeout", timeout);
        path = path_of(a->pos[0], "exec");
        sf_httpc_set_timeout(c->http, (timeout + 10) * 1000L);
        if (sf_httpc_call(c->http, "POST", path, body, &out, &e) < 0)
                return fail(&e);
        if (c->json) {
                out_object(c, out);
                return EXIT_OK;
        }
        fputs(json_string_value(json_object_get(out, "stdout")) ?: "", stdout);
        fputs(json_string_value(json_object_get(out, "stderr")) ?: "", stderr);
        /* The command's own exit status, as docker exec and kubectl exec do. */
        return (int) json_integer_value(json_object_get(out, "exit_code"));
}

static int run_state(struct sfctl *c, struct args *a, const char *action, const char *want)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int rc = EXIT_OK;
        if (a->n_pos < 1)
                return usage_error(action, "%s takes one or more container NAMEs", action), EXIT_USAGE;
        for (size_t i = 0; i < a->n_pos; i++) {
                _cleanup_free_ char *path = path_of(a->pos[i], action);
                _cleanup_free_ char *opath = path_of(a->pos[i], NULL);
                uint64_t deadline = sf_now_usec() + 60000000ULL;
                if (sf_httpc_call(c->http, "POST", path, NULL, NULL, &e) < 0) {
                        rc = fail(&e);
                        sf_err_clear(&e);
                        continue;
                }
                /* Wait for the node to get there. */
                for (;;) {
                        json_auto_t *o = NULL;
                        const char *phase;
                        if (sf_httpc_call(c->http, "GET", opath, NULL, &o, &e) < 0) {
                                rc = fail(&e);
                                sf_err_clear(&e);
                                break;
                        }
                        phase = json_string_value(json_object_get(json_object_get(o, "status"), "phase")) ?: "";
                        if (STREQ(phase, want) || (STREQ(want, "Stopped") && STREQ(phase, "Exited")) ||
                            (STREQ(want, "Running") && STREQ(phase, "Failed"))) {
                                if (!c->quiet && !c->json)
                                        printf("%s %s\n", a->pos[i], phase);
                                break;
                        }
                        if (sf_now_usec() > deadline) {
                                sf_err_set(&e, -ETIMEDOUT, NULL, "'%s' is still %s", a->pos[i], phase);
                                rc = fail(&e);
                                sf_err_clear(&e);
                                break;
                        }
                        usleep(50000);
                }
        }
        return rc;
}

static int run_stop(struct sfctl *c, const struct verb *v, struct args *a)
{
        return run_state(c, a, "stop", "Stopped");
}

static int run_start(struct sfctl *c, const struct verb *v, struct args *a)
{
        return run_state(c, a, "start", "Running");
}

static int run_rm(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int rc = EXIT_OK;
        if (a->n_pos < 1)
                return usage_error("rm", "rm takes one or more container NAMEs"), EXIT_USAGE;
        for (size_t i = 0; i < a->n_pos; i++) {
                _cleanup_free_ char *p = path_of(a->pos[i], NULL);
                _cleanup_free_ char *path = xasprintf("%s%s", p, args_has(a, "force") ? "?force=true" : "");
                if (sf_httpc_call(c->http, "DELETE", path, NULL, NULL, &e) < 0 ||
                    (!args_has(a, "no-wait") && wait_phase(c, a->pos[i], true, 120, NULL, &e) < 0)) {
                        rc = fail(&e);
                        sf_err_clear(&e);
                        continue;
                }
                if (!c->quiet && !c->json)
                        printf("removed %s\n", a->pos[i]);
        }
        return rc;
}

static const struct opt run_opts[] = {
        { "name", "NAME", "container name (default: generated)" },
        { "network", "NET[=IP]", "attach a new port on this network (optionally with this IP)", true },
        { "port", "PORT", "attach an existing port", true },
        { "node", "NODE", "run on this node" },
        { "site", "SITE", "run in this site" },
        { "cpu", "CPU", "CPU limit: 500m, 0.5, 2" },
        { "memory", "SIZE", "memory limit: 64Mi, 1Gi" },
        { "env", "KEY=VALUE", "environment variable", true },
        { "file", "PATH=CONTENT|PATH=@FILE", "day-0 file written into the container", true },
        { "restart", "POLICY", "never (default), on-failure or always" },
        { "stop-grace", "SECONDS", "SIGTERM to SIGKILL grace on stop and rm (default 10)" },
        { "workdir", "DIR", "working directory" },
        { "hostname", "NAME", "host name (default: the container name)" },
        { "runtime", "NAME", "runc or crun (default: the node's)" },
        { "anti-affinity", "GROUP", "never on a node with another member of GROUP" },
        { "reschedule", "POLICY", "never (default) or on-node-failure: move when the node dies" },
        { "move-strategy", "S", "how it moves (sfctl move): make-before-break (default) or handover" },
        { "handover-export", "CMD", "handover: a shell command whose output is the state to hand over" },
        { "handover-import", "PATH", "handover: where that state is written in the new instance" },
        { "label", "KEY=VALUE", "a label", true },
        { "detach", NULL, "return at once instead of waiting until it runs" },
        { "vm", NULL, "run a VM (QEMU) from a VM image; -- ARGS are extra kernel arguments" },
        { "vcpus", "N", "VM: virtual CPUs (default 1)" },
        { "user-data", "TEXT|@FILE", "VM: cloud-init user-data (a #cloud-config or a script)" },
        { "ssh-key", "KEY|@FILE", "VM: an SSH public key for the guest", true },
        { "host-vm", "VM", "run the container inside this VM (one made with --nested-mode)" },
        { "nested-mode", "MODE", "VM: host containers, in mode vlan or macvlan; in a VM: not its mode" },
        { NULL },
};
static const struct opt ps_opts[] = {
        { "node", "NODE", "only this node's containers" },
        { "image", "IMAGE", "only containers of this image" },
        { NULL },
};
static const struct opt logs_opts[] = { { "tail", "N", "only the last N lines" }, { NULL } };
static const struct opt exec_opts[] = { { "timeout", "SECONDS", "kill the command after this (default 30)" }, { NULL } };
static const struct opt rm_opts[] = {
        { "force", NULL, "delete at once, without waiting for the node to confirm" },
        { "no-wait", NULL, "return before the node has cleaned up" },
        { NULL },
};

const struct resource res_run = { "run", "run a container or (--vm) a VM: sfctl run [OPTIONS] IMAGE [-- COMMAND...]",
        (const struct verb[]) { { "run", "[OPTIONS] IMAGE [-- COMMAND ARGS...]", "run a container, or a VM with --vm", run_opts, run_run }, { NULL } } };
const struct resource res_ps = { "ps", "list containers",
        (const struct verb[]) { { "ps", "[--node NODE]", "list containers", ps_opts, run_ps }, { NULL } } };
const struct resource res_logs = { "logs", "print a container's output",
        (const struct verb[]) { { "logs", "NAME [--tail N]", "print a container's output", logs_opts, run_logs }, { NULL } } };
const struct resource res_exec = { "exec", "run a command in a container",
        (const struct verb[]) { { "exec", "NAME -- COMMAND [ARGS...]", "run a command in a container", exec_opts, run_exec }, { NULL } } };
const struct resource res_stop = { "stop", "stop containers (they keep their network and files)",
        (const struct verb[]) { { "stop", "NAME...", "stop containers", crud_ref_opts, run_stop }, { NULL } } };
const struct resource res_start = { "start", "start stopped containers",
        (const struct verb[]) { { "start", "NAME...", "start containers", crud_ref_opts, run_start }, { NULL } } };
const struct resource res_rm = { "rm", "remove containers and everything they used",
        (const struct verb[]) { { "rm", "NAME... [--force]", "remove containers", rm_opts, run_rm }, { NULL } } };

static const struct crud container_crud = { "container", "containers", ps_cols, NULL, NULL, NULL };
const struct resource res_container = {
        "container", "containers (see also run, ps, logs, exec, stop, start, rm)",
        (const struct verb[]) {
                { "list", "", "list containers", crud_ref_opts, crud_list, &container_crud },
                { "show", "NAME|ID", "show a container", crud_ref_opts, crud_show, &container_crud },
                { NULL },
        },
};

/* ---- images ---- */

static json_t *nodes_for(struct sfctl *c, struct args *a, sf_err *e)
{
        json_auto_t *out = NULL;
        json_t *names = json_array(), *n;
        size_t i;
        if (args_get(a, "node")) {
                json_array_append_new(names, json_string(args_get(a, "node")));
                return names;
        }
        if (sf_httpc_call(c->http, "GET", "/v1/nodes", NULL, &out, e) < 0) {
                json_decref(names);
                return NULL;
        }
        json_array_foreach(json_object_get(out, "items"), i, n)
                json_array_append(names, json_object_get(n, "name"));
        return names;
}

static int image_import(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *nodes = NULL;
        json_t *n;
        size_t i;
        int rc = EXIT_OK;
        char *abs;
        if (a->n_pos != 1 || !args_get(a, "name"))
                return usage_error("image", "import takes a PATH and --name NAME"), EXIT_USAGE;
        abs = realpath(a->pos[0], NULL);
        if (!abs) {
                sf_err_errno(&e, -errno, "'%s'", a->pos[0]);
                return fail(&e);
        }
        nodes = nodes_for(c, a, &e);
        if (!nodes) {
                free(abs);
                return fail(&e);
        }
        sf_httpc_set_timeout(c->http, 600000);
        json_array_foreach(nodes, i, n) {
                _cleanup_free_ char *en = sf_httpc_escape(json_string_value(n));
                _cleanup_free_ char *path = xasprintf("/v1/nodes/%s/import-image", en);
                json_auto_t *body = json_pack("{s:s, s:s}", "name", args_get(a, "name"), "source", abs);
                json_auto_t *out = NULL;
                if (args_get(a, "format"))
                        json_object_set_new(body, "format", json_string(args_get(a, "format")));
                if (args_get(a, "cmdline"))
                        json_object_set_new(body, "cmdline", json_string(args_get(a, "cmdline")));
                if (sf_httpc_call(c->http, "POST", path, body, &out, &e) < 0) {
                        sf_err_prefix(&e, "node '%s'", json_string_value(n));
                        rc = fail(&e);
                        sf_err_clear(&e);
                        continue;
                }
                if (!c->quiet && !c->json)
                        printf("imported %s on node %s (%s)\n", json_string_value(json_object_get(out, "name")),
                               json_string_value(n),
                               json_string_value(json_object_get(out, "id")) ?: json_string_value(json_object_get(out, "source")) ?: "-");
                else
                        out_object(c, out);
        }
        free(abs);
        return rc;
}

static const struct col image_cols[] = {
        { "NODE", "node" }, { "NAME", "name" }, { "ID", "id" }, { "SIZE", "size" },
        { "SOURCE", "source" }, { NULL },
};

static int image_list(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *nodes = nodes_for(c, a, &e), *all = json_array();
        json_t *n;
        size_t i;
        if (!nodes)
                return fail(&e);
        json_array_foreach(nodes, i, n) {
                _cleanup_free_ char *en = sf_httpc_escape(json_string_value(n));
                _cleanup_free_ char *path = xasprintf("/v1/nodes/%s/images", en);
                json_auto_t *out = NULL;
                if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0) {
                        fprintf(stderr, "sfctl: node '%s': %s\n", json_string_value(n), sf_err_msg(&e));
                        sf_err_clear(&e);
                        continue;
                }
                json_array_extend(all, json_object_get(out, "items"));
        }
        out_table(c, all, image_cols);
        return EXIT_OK;
}

static int image_rm(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *nodes = NULL;
        json_t *n;
        size_t i;
        int rc = EXIT_OK;
        if (a->n_pos != 1)
                return usage_error("image", "rm takes one image NAME"), EXIT_USAGE;
        nodes = nodes_for(c, a, &e);
        if (!nodes)
                return fail(&e);
        json_array_foreach(nodes, i, n) {
                _cleanup_free_ char *en = sf_httpc_escape(json_string_value(n));
                _cleanup_free_ char *path = xasprintf("/v1/nodes/%s/remove-image", en);
                json_auto_t *body = json_pack("{s:s}", "name", a->pos[0]);
                if (sf_httpc_call(c->http, "POST", path, body, NULL, &e) < 0) {
                        sf_err_prefix(&e, "node '%s'", json_string_value(n));
                        rc = fail(&e);
                        sf_err_clear(&e);
                        continue;
                }
                if (!c->quiet && !c->json)
                        printf("removed image %s from node %s\n", a->pos[0], json_string_value(n));
        }
        return rc;
}

static const struct opt image_import_opts[] = {
        { "name", "NAME", "the image name, e.g. video:1.0" },
        { "format", "FORMAT", "containers: oci (layout dir or tar), rootfs (a directory) or busybox; "
                              "VMs: qcow2 or raw (a disk image), kernel (a directory with vmlinuz, "
                              "initrd.img and optionally disk.qcow2); default: guessed (raw: never)" },
        { "cmdline", "ARGS", "kernel images: the kernel command line (default: the directory's "
                             "cmdline file, else console=ttyS0)" },
        { "node", "NODE", "only this node (default: every node)" },
        { NULL },
};
static const struct opt image_node_opts[] = { { "node", "NODE", "only this node (default: every node)" }, { NULL } };

const struct resource res_image = {
        "image", "container and VM images in each node's local stores",
        (const struct verb[]) {
                { "import", "PATH --name NAME [--format F] [--node NODE]",
                  "import an OCI layout/tar or a root filesystem, or a VM disk or kernel image",
                  image_import_opts, image_import },
                { "list", "[--node NODE]", "list images", image_node_opts, image_list },
                { "rm", "NAME [--node NODE]", "remove an image (refused while containers use it)",
                  image_node_opts, image_rm },
                { NULL },
        },
};

/* ---- routers ---- */

static int router_body(struct sfctl *c, struct args *a, json_t *body, sf_err *e)
{
        const char **v = NULL;
        size_t n = args_all(a, "subnet", &v);
        if (n) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, json_string(v[i]));
                json_object_set_new(body, "subnets", arr);
        }
        free(v);
        return 0;
}

static const struct col router_cols[] = {
        { "NAME", "name" }, { "SUBNETS", "subnet_ids[]" }, { "ID", "id" }, { NULL },
};
static const struct crud router_crud = { "router", "routers", router_cols, router_body, router_body, NULL };
static const struct opt router_opts[] = {
        { "subnet", "SUBNET", "a subnet to route (give all of them on update)", true },
        { "description", "TEXT", "free text" },
        { NULL },
};

const struct resource res_router = {
        "router", "routers: subnets they join can reach each other",
        (const struct verb[]) {
                { "create", "NAME --subnet S --subnet S2...", "create a router", router_opts, crud_create, &router_crud },
                { "list", "", "list routers", crud_ref_opts, crud_list, &router_crud },
                { "show", "NAME|ID", "show a router", crud_ref_opts, crud_show, &router_crud },
                { "update", "NAME|ID --subnet S...", "change a router's subnets", router_opts, crud_update, &router_crud },
                { "delete", "NAME|ID...", "delete routers", crud_delete_opts, crud_delete, &router_crud },
                { NULL },
        },
};
