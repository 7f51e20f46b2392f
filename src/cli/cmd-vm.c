/* sfctl vm (list, show, console, reboot, pause, resume), sfctl console, and the VM parts of
 * sfctl run --vm. A VM is a workload of kind "vm" in the containers collection: stop, start,
 * rm and logs work on it as on a container. */
#include <inttypes.h>

#include "cli/sfctl.h"
#include "lib/util.h"

static char *vm_path(const char *ref, const char *action)
{
        _cleanup_free_ char *e = sf_httpc_escape(ref);
        return action ? xasprintf("/v1/containers/%s/%s", e, action) : xasprintf("/v1/containers/%s", e);
}

/* TEXT, or @FILE for a file's content. */
static int text_or_file(const char *v, const char *opt, size_t max, char **ret, sf_err *e)
{
        if (v[0] == '@') {
                int r = sf_read_file(v + 1, max, ret, NULL, e);
                return r < 0 ? sf_err_prefix(e, "%s", opt) : 0;
        }
        *ret = xstrdup(v);
        return 0;
}

int vm_run_body(struct args *a, json_t *body, sf_err *e)
{
        const char **keys = NULL;
        size_t n;
        int r = 0;

        json_object_set_new(body, "kind", json_string("vm"));
        r = body_int(a, "vcpus", body, "vcpus", e);
        if (r >= 0 && args_get(a, "user-data")) {
                _cleanup_free_ char *ud = NULL;
                r = text_or_file(args_get(a, "user-data"), "--user-data", 256 * 1024, &ud, e);
                if (r >= 0)
                        json_object_set_new(body, "user_data", json_string(ud));
        }
        n = args_all(a, "ssh-key", &keys);
        if (r >= 0 && n) {
                json_t *arr = json_array();
                json_object_set_new(body, "ssh_keys", arr);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        _cleanup_free_ char *k = NULL;
                        r = text_or_file(keys[i], "--ssh-key", 16 * 1024, &k, e);
                        if (r < 0)
                                break;
                        /* A key file ends in a newline; several keys may be in one file. */
                        for (char *save = NULL, *l = strtok_r(k, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                                if (*l && *l != '#')
                                        json_array_append_new(arr, json_string(l));
                }
        }
        free(keys);
        return r;
}

/* After the VM runs: waits until its guest answers (or the agent gave up). since: the
 * reachable_at of an earlier boot (a reboot waits for a newer one); NULL: any. */
int vm_run_wait(struct sfctl *c, const char *ref, const char *since, int timeout_s, json_t **ret,
                sf_err *e)
{
        _cleanup_free_ char *path = vm_path(ref, NULL);
        uint64_t deadline = sf_now_usec() + (uint64_t) timeout_s * 1000000;
        for (;;) {
                json_auto_t *o = NULL;
                json_t *st;
                const char *phase, *guest;
                int r = sf_httpc_call(c->http, "GET", path, NULL, &o, e);
                if (r < 0)
                        return r;
                st = json_object_get(o, "status");
                phase = json_string_value(json_object_get(st, "phase")) ?: "";
                guest = json_string_value(json_object_get(st, "guest")) ?: "";
                if (!STREQ(phase, "Running") || STREQ(guest, "unreachable") || STREQ(guest, "unknown") ||
                    (STREQ(guest, "reachable") &&
                     (!since || STRNEQ(since, json_string_value(json_object_get(st, "reachable_at")) ?: "")))) {
                        if (ret)
                                *ret = json_incref(o);
                        return 0;
                }
                if (sf_now_usec() > deadline)
                        return sf_err_set(e, -ETIMEDOUT, NULL,
                                          "vm '%s' runs, but its guest did not answer within %d s "
                                          "(see 'sfctl console %s')",
                                          ref, timeout_s, ref);
                usleep(50000);
        }
}

void vm_print_run(struct sfctl *c, json_t *o)
{
        json_t *st = json_object_get(o, "status");
        _cleanup_free_ char *npath = xasprintf("/v1/nodes/%s", json_string_value(json_object_get(o, "node_id")) ?: "-");
        json_auto_t *node = NULL;
        _cleanup_free_ char *ips = json_path_text(o, "status.ips[]");
        const char *guest = json_string_value(json_object_get(st, "guest")) ?: "";
        const char *msg = json_string_value(json_object_get(st, "message"));
        sf_httpc_call(c->http, "GET", npath, NULL, &node, NULL);
        printf("%s %s on node %s, %s%s, %s", json_string_value(json_object_get(o, "name")),
               json_string_value(json_object_get(st, "phase")) ?: "-",
               json_string_value(json_object_get(node, "name")) ?: json_string_value(json_object_get(o, "node_id")) ?: "-",
               *ips ? "IP " : "no IP", ips,
               json_string_value(json_object_get(st, "accelerator")) ?: "no accelerator");
        if (STREQ(guest, "reachable") && json_is_number(json_object_get(st, "boot_ms")))
                printf(", guest reachable %.0f ms after the request\n",
                       json_number_value(json_object_get(st, "boot_ms")));
        else
                printf(", guest %s\n", *guest ? guest : "unknown");
        if (msg && *msg)
                printf("  %s\n", msg);
}

/* ---- sfctl vm ---- */

static const struct col vm_cols[] = {
        { "NAME", "name" },
        { "IMAGE", "image" },
        { "NODE", "node_id", "nodes" },
        { "STATUS", "status.phase" },
        { "VM", "status.vm_state" },
        { "GUEST", "status.guest" },
        { "IPS", "status.ips[]" },
        { "VCPUS", "vcpus" },
        { "MEMORY", "memory" },
        { "ACCEL", "status.accelerator" },
        { "BOOT_MS", "status.boot_ms" },
        { "PID", "status.pid" },
        { NULL },
};

static int vm_list(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *q = query_from(a, (const char *const[]) { "node", "image", NULL });
        _cleanup_free_ char *path = xasprintf("/v1/containers?kind=vm%s%s", *q ? "&" : "", q);
        json_auto_t *out = NULL;
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        out_table(c, json_object_get(out, "items"), vm_cols);
        return EXIT_OK;
}

static int get_vm(struct sfctl *c, const char *ref, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *path = vm_path(ref, NULL);
        json_auto_t *o = NULL;
        int r = sf_httpc_call(c->http, "GET", path, NULL, &o, e);
        if (r < 0)
                return r;
        if (!STREQ(json_string_value(json_object_get(o, "kind")) ?: "container", "vm"))
                return sf_err_set(e, -EINVAL, NULL, "'%s' is a container, not a VM", ref);
        *ret = TAKE_PTR(o);
        return 0;
}

static int vm_show(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *o = NULL;
        json_t *st;
        if (a->n_pos != 1)
                return usage_error("vm", "show takes one VM NAME"), EXIT_USAGE;
        if (get_vm(c, a->pos[0], &o, &e) < 0)
                return fail(&e);
        if (c->json || c->quiet) {
                out_object(c, o);
                return EXIT_OK;
        }
        st = json_object_get(o, "status");
        {
                _cleanup_free_ char *ips = json_path_text(o, "status.ips[]");
                _cleanup_free_ char *timings = json_dumps(json_object_get(st, "timings"),
                                                          JSON_COMPACT | JSON_REAL_PRECISION(6));
                const char *tail = json_string_value(json_object_get(st, "console_tail"));
                printf("name:        %s (%s)\n", json_string_value(json_object_get(o, "name")),
                       json_string_value(json_object_get(o, "id")));
                printf("image:       %s\n", json_string_value(json_object_get(o, "image")));
                {
                        _cleanup_free_ char *npath = xasprintf("/v1/nodes/%s",
                                                               json_string_value(json_object_get(o, "node_id")) ?: "-");
                        json_auto_t *node = NULL;
                        sf_httpc_call(c->http, "GET", npath, NULL, &node, NULL);
                        printf("node:        %s\n", json_string_value(json_object_get(node, "name")) ?:
                                                             json_string_value(json_object_get(o, "node_id")) ?: "-");
                }
                printf("phase:       %s (vm %s, guest %s)\n",
                       json_string_value(json_object_get(st, "phase")) ?: "-",
                       json_string_value(json_object_get(st, "vm_state")) ?: "-",
                       json_string_value(json_object_get(st, "guest")) ?: "-");
                printf("vcpus:       %" JSON_INTEGER_FORMAT ", memory %" JSON_INTEGER_FORMAT " MiB\n",
                       json_integer_value(json_object_get(o, "vcpus")),
                       json_integer_value(json_object_get(o, "memory")) >> 20);
                printf("IPs:         %s\n", *ips ? ips : "-");
                printf("accelerator: %s (%s)\n",
                       json_string_value(json_object_get(st, "accelerator")) ?: "-",
                       json_string_value(json_object_get(st, "accelerator_reason")) ?: "-");
                if (json_is_integer(json_object_get(st, "pid")))
                        printf("QEMU pid:    %" JSON_INTEGER_FORMAT "\n",
                               json_integer_value(json_object_get(st, "pid")));
                else
                        printf("QEMU pid:    -\n");
                if (json_is_number(json_object_get(st, "boot_ms")))
                        printf("boot:        %.0f ms, request to guest reachable (%s)\n",
                               json_number_value(json_object_get(st, "boot_ms")),
                               json_string_value(json_object_get(st, "reachable_at")) ?: "");
                printf("timings:     %s\n", timings ? timings : "{}");
                if (json_string_value(json_object_get(st, "message")) &&
                    *json_string_value(json_object_get(st, "message")))
                        printf("message:     %s\n", json_string_value(json_object_get(st, "message")));
                if (tail && *tail)
                        printf("console (tail, when last reported):\n%s%s", tail,
                               tail[strlen(tail) - 1] == '\n' ? "" : "\n");
        }
        return EXIT_OK;
}

static int vm_console(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *p = NULL, *path = NULL, *et = NULL;
        json_auto_t *o = NULL, *out = NULL;
        const char *tail = args_get(a, "tail") ? args_get(a, "tail") : "50";
        if (a->n_pos != 1)
                return usage_error("console", "console takes one VM NAME"), EXIT_USAGE;
        if (get_vm(c, a->pos[0], &o, &e) < 0)
                return fail(&e);
        p = vm_path(a->pos[0], "logs");
        et = STREQ(tail, "all") ? NULL : sf_httpc_escape(tail);
        path = et ? xasprintf("%s?tail=%s", p, et) : xstrdup(p);
        if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                return fail(&e);
        if (c->json)
                out_object(c, out);
        else
                fputs(json_string_value(json_object_get(out, "logs")) ?: "", stdout);
        return EXIT_OK;
}

static int vm_act(struct sfctl *c, struct args *a, const char *action, const char *done)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **before = NULL;
        int rc = EXIT_OK;
        if (a->n_pos < 1)
                return usage_error("vm", "%s takes one or more VM NAMEs", action), EXIT_USAGE;
        before = new0(char *, a->n_pos + 1);
        for (size_t i = 0; i < a->n_pos; i++) {
                _cleanup_free_ char *path = vm_path(a->pos[i], action);
                if (STREQ(action, "reboot")) {
                        /* The guest answers again when it reports a newer reachable_at. */
                        json_auto_t *o = NULL;
                        if (get_vm(c, a->pos[i], &o, &e) < 0) {
                                rc = fail(&e);
                                sf_err_clear(&e);
                                continue;
                        }
                        before[i] = xstrdup(json_string_value(json_object_get(json_object_get(o, "status"),
                                                                              "reachable_at")));
                }
                if (sf_httpc_call(c->http, "POST", path, NULL, NULL, &e) < 0) {
                        rc = fail(&e);
                        sf_err_clear(&e);
                        continue;
                }
                if (STREQ(action, "reboot") && !args_has(a, "no-wait")) {
                        json_auto_t *o = NULL;
                        if (vm_run_wait(c, a->pos[i], before[i] ? before[i] : "", 300, &o, &e) < 0) {
                                rc = fail(&e);
                                sf_err_clear(&e);
                                continue;
                        }
                        if (!c->quiet && !c->json)
                                vm_print_run(c, o);
                        continue;
                }
                if (!c->quiet && !c->json)
                        printf("%s %s\n", a->pos[i], done);
        }
        return rc;
}

static int vm_reboot(struct sfctl *c, const struct verb *v, struct args *a)
{
        return vm_act(c, a, "reboot", "rebooted");
}

static int vm_pause(struct sfctl *c, const struct verb *v, struct args *a)
{
        return vm_act(c, a, "pause", "paused");
}

static int vm_resume(struct sfctl *c, const struct verb *v, struct args *a)
{
        return vm_act(c, a, "resume", "resumed");
}

static const struct opt vm_list_opts[] = {
        { "node", "NODE", "only this node's VMs" },
        { "image", "IMAGE", "only VMs of this image" },
        { NULL },
};
static const struct opt console_opts[] = {
        { "tail", "N|all", "the last N lines (default 50), or all of it" },
        { NULL },
};
static const struct opt reboot_opts[] = {
        { "no-wait", NULL, "return at once instead of waiting until the guest answers again" },
        { NULL },
};
static const struct opt no_opts[] = { { NULL } };

const struct resource res_vm = {
        "vm", "VMs (create with 'sfctl run --vm'; stop, start, rm and logs work as for containers)",
        (const struct verb[]) {
                { "list", "[--node NODE] [--image IMAGE]", "list VMs", vm_list_opts, vm_list },
                { "show", "NAME", "show a VM: accelerator, QEMU pid, boot time, console tail",
                  no_opts, vm_show },
                { "console", "NAME [--tail N|all]", "print the VM's serial console", console_opts,
                  vm_console },
                { "reboot", "NAME...", "reset VMs (ACPI reset) and wait until they answer again",
                  reboot_opts, vm_reboot },
                { "pause", "NAME...", "stop the vCPUs of VMs", no_opts, vm_pause },
                { "resume", "NAME...", "let paused VMs run again", no_opts, vm_resume },
                { NULL },
        },
};

const struct resource res_console = {
        "console", "print a VM's serial console",
        (const struct verb[]) { { "console", "NAME [--tail N|all]", "print a VM's serial console",
                                  console_opts, vm_console },
                                { NULL } },
};
