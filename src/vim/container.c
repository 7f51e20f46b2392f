/* Containers as the controller sees them: a validated spec (image, command, env, networks or
 * ports, CPU and memory, restart policy, day-0 files), the ports created for it, the node it is
 * placed on, and the status its node's agent reports. Deletion is two-phase: the container is
 * marked Terminating and its agent confirms with the finalize action once the node is clean. */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("vim");

static const char *const container_create_keys[] = {
        "name", "image", "command", "env", "workdir", "hostname", "networks", "ports", "node",
        "site", "node_selector", "cpu", "memory", "restart_policy", "runtime", "files",
        "description", "labels", "anti_affinity", "kind", "vcpus", "stop_grace_seconds", "reschedule",
        "move_strategy", "handover_hook", "host_vm", "nested_mode",
        "user_data", "ssh_keys", NULL
};
static const char *const container_update_keys[] = {
        "name", "description", "labels", "restart_policy", "desired_state", "status", NULL
};
static const char *const restart_policies[] = { "never", "on-failure", "always", NULL };
static const char *const container_phases[] = { "Pending", "Creating", "Running", "Stopped",
                                                "Exited", "Failed", "Terminating", NULL };

static bool one_of(const char *s, const char *const *set)
{
        for (; *set; set++)
                if (STREQ(*set, s))
                        return true;
        return false;
}

/* "500m", "0.5", "2" or an integer of millicores. */
static int parse_cpu(json_t *in, int64_t *ret, sf_err *e)
{
        json_t *v = json_object_get(in, "cpu");
        const char *s;
        char *end;
        double d;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 1 || json_integer_value(v) > 64000)
                        return sf_err_set(e, -EINVAL, "cpu", "must be 1 to 64000 millicores");
                *ret = json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v))
                return sf_err_set(e, -EINVAL, "cpu", "must be millicores (500) or a string such as \"500m\" or \"0.5\"");
        s = json_string_value(v);
        errno = 0;
        d = strtod(s, &end);
        if (errno || end == s)
                return sf_err_set(e, -EINVAL, "cpu", "'%.32s' is not a CPU amount such as 500m or 0.5", s);
        if (STREQ(end, "m"))
                d /= 1000.0;
        else if (*end)
                return sf_err_set(e, -EINVAL, "cpu", "'%.32s' is not a CPU amount such as 500m or 0.5", s);
        if (!(d * 1000 >= 1 && d <= 64)) /* written so that NaN fails too */
                return sf_err_set(e, -EINVAL, "cpu", "must be between 1m and 64 cores");
        *ret = (int64_t) (d * 1000 + 0.5);
        return 0;
}

/* "64Mi", "1G" or an integer of bytes; at least 4 MiB. */
static int parse_memory(json_t *in, const char *key, int64_t *ret, sf_err *e)
{
        json_t *v = json_object_get(in, key);
        uint64_t b;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0)
                b = json_integer_value(v);
        else if (!json_is_string(v) || sf_parse_size(json_string_value(v), &b) < 0)
                return sf_err_set(e, -EINVAL, key, "must be bytes or a size such as \"64Mi\" or \"1Gi\"");
        if (b < (4u << 20))
                return sf_err_set(e, -EINVAL, key, "must be at least 4Mi");
        if (b > (1ULL << 42))
                return sf_err_set(e, -EINVAL, key, "must be at most 4Ti");
        *ret = (int64_t) b;
        return 0;
}

static int check_strv(json_t *in, const char *key, size_t max_n, bool nonempty, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        size_t i;
        int r = sf_json_array(in, key, false, &arr, e);
        if (r < 0 || !arr)
                return r;
        if (nonempty && json_array_size(arr) == 0)
                return sf_err_set(e, -EINVAL, key, "must not be empty");
        if (json_array_size(arr) > max_n)
                return sf_err_set(e, -EINVAL, key, "at most %zu entries", max_n);
        json_array_foreach(arr, i, x)
                if (!json_is_string(x) || json_string_length(x) > 4096 ||
                    strlen(json_string_value(x)) != json_string_length(x)) {
                        _cleanup_free_ char *f = xasprintf("%s[%zu]", key, i);
                        return sf_err_set(e, -EINVAL, f, "must be a string of at most 4096 bytes");
                }
        *ret = arr;
        return 0;
}

static int check_env(json_t *in, json_t **ret, sf_err *e)
{
        json_t *env = NULL, *v;
        const char *k;
        int r = sf_json_object(in, "env", false, &env, e);
        if (r < 0 || !env)
                return r;
        if (json_object_size(env) > 256)
                return sf_err_set(e, -EINVAL, "env", "at most 256 variables");
        json_object_foreach(env, k, v) {
                _cleanup_free_ char *f = xasprintf("env.%s", k);
                if (!*k || strchr(k, '=') || strlen(k) > 255)
                        return sf_err_set(e, -EINVAL, f, "is not a valid variable name");
                if (!json_is_string(v) || json_string_length(v) > 32768 ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return sf_err_set(e, -EINVAL, f, "must be a string of at most 32 KiB");
        }
        *ret = env;
        return 0;
}

/* Day-0 files: [{path, content, mode}]: written into the container before it starts. */
static int check_files(json_t *in, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        size_t i, total = 0;
        int r = sf_json_array(in, "files", false, &arr, e);
        if (r < 0 || !arr)
                return r;
        if (json_array_size(arr) > 32)
                return sf_err_set(e, -EINVAL, "files", "at most 32 files");
        json_array_foreach(arr, i, x) {
                static const char *const keys[] = { "path", "content", "mode", NULL };
                _cleanup_free_ char *f = xasprintf("files[%zu]", i);
                const char *path = NULL, *content = NULL;
                int64_t mode = 0644;
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "path", true, &path, e);
                if (r >= 0)
                        r = sf_json_str(x, "content", true, &content, e);
                if (r >= 0)
                        r = sf_json_int(x, "mode", false, 0, 07777, &mode, e);
                if (r >= 0 && (path[0] != '/' || strstr(path, "/../") || strlen(path) > 1024))
                        r = sf_err_set(e, -EINVAL, "path", "must be an absolute path without '..'");
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                total += strlen(content);
        }
        if (total > 256 * 1024)
                return sf_err_set(e, -EINVAL, "files", "at most 256 KiB in all");
        *ret = arr;
        return 0;
}

/* handover_hook: {"export": [argv run in the old instance; its stdout is the state],
 *                 "import_path": where the state is written in the new one before it starts} */
static int check_handover_hook(json_t *in, json_t **ret, sf_err *e)
{
        static const char *const keys[] = { "export", "import_path", NULL };
        json_t *h = NULL, *argv = NULL;
        const char *path = NULL;
        int r = sf_json_object(in, "handover_hook", false, &h, e);
        if (r < 0 || !h)
                return r;
        r = sf_json_only(h, keys, e);
        if (r >= 0)
                r = check_strv(h, "export", 64, true, &argv, e);
        if (r >= 0 && !argv)
                r = sf_err_set(e, -EINVAL, "export", "is required");
        if (r >= 0)
                r = sf_json_str(h, "import_path", true, &path, e);
        if (r >= 0 && (path[0] != '/' || strstr(path, "..")))
                r = sf_err_set(e, -EINVAL, "import_path", "must be an absolute path without '..'");
        if (r < 0) {
                sf_err_field_prefix(e, "handover_hook");
                return r;
        }
        *ret = h;
        return 0;
}

/* networks: ["net1", {"network": "net2", "ip": "10.0.0.5"}] */
static int check_networks(json_t *in, json_t **ret, sf_err *e)
{
        json_t *arr = NULL, *x;
        json_auto_t *out = json_array();
        size_t i;
        int r = sf_json_array(in, "networks", false, &arr, e);
        if (r < 0 || !arr)
                return r;
        if (json_array_size(arr) > 8)
                return sf_err_set(e, -EINVAL, "networks", "at most 8 networks");
        json_array_foreach(arr, i, x) {
                _cleanup_free_ char *f = xasprintf("networks[%zu]", i);
                if (json_is_string(x)) {
                        json_array_append_new(out, json_pack("{s:O}", "network", x));
                        continue;
                }
                {
                        static const char *const keys[] = { "network", "ip", "mac", NULL };
                        const char *n = NULL, *ip = NULL, *mac = NULL;
                        r = sf_json_is_object(x, NULL, e);
                        if (r >= 0)
                                r = sf_json_only(x, keys, e);
                        if (r >= 0)
                                r = sf_json_str(x, "network", true, &n, e);
                        if (r >= 0)
                                r = sf_json_str(x, "ip", false, &ip, e);
                        if (r >= 0)
                                r = sf_json_str(x, "mac", false, &mac, e);
                        if (r < 0) {
                                sf_err_field_prefix(e, f);
                                return r;
                        }
                        json_array_append(out, x);
                }
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* An image that no node has is a mistake in the request, not a placement problem: images are
 * imported into node stores, never pulled, so waiting would not help. Only decided when every
 * node reports its images. */
static int check_image_known(json_t *nodes, json_t *w, sf_err *e)
{
        json_auto_t *have = json_array();
        const char *kind = json_string_value(json_object_get(w, "kind"));
        const char *img = json_string_value(json_object_get(w, "image"));
        const char *key = STREQ(kind, "vm") ? "vm_images" : "images";
        _cleanup_free_ char *want = NULL, *list = xstrdup("");
        json_t *n, *x;
        size_t i, j;

        if (json_array_size(nodes) == 0)
                return 0;
        want = strchr(img, ':') && (!strrchr(img, '/') || strrchr(img, ':') > strrchr(img, '/'))
                       ? xstrdup(img)
                       : xasprintf("%s:latest", img);
        json_array_foreach(nodes, i, n) {
                json_t *imgs = json_object_get(json_object_get(json_object_get(n, "status"), "info"), key);
                if (!json_is_array(imgs))
                        return 0; /* a node that does not say: let placement decide */
                json_array_foreach(imgs, j, x) {
                        if (json_is_string(x) && (STREQ(json_string_value(x), want) ||
                                                  STREQ(json_string_value(x), img)))
                                return 0;
                        if (json_is_string(x) && json_array_size(have) < 10) {
                                char *nl = xasprintf("%s%s%s", list, *list ? ", " : "", json_string_value(x));
                                free(list);
                                list = nl;
                                json_array_append(have, x);
                        }
                }
        }
        return sf_err_set(e, -EINVAL, "image",
                          "'%s' is in no node's image store (import it with 'sfctl image import'; "
                          "known: %s)",
                          img, *list ? list : "none");
}

static json_t *port_request(json_t *net_entry, const char *cid, const char *node_id)
{
        json_t *req = json_pack("{s:O, s:s, s:s}", "network", json_object_get(net_entry, "network"),
                                "device_owner", "compute:container", "device_id", cid);
        if (node_id)
                json_object_set_new(req, "node", json_string(node_id));
        if (json_object_get(net_entry, "ip"))
                json_object_set_new(req, "fixed_ips",
                                    json_pack("[{s:O}]", "ip_address", json_object_get(net_entry, "ip")));
        if (json_object_get(net_entry, "mac"))
                json_object_set(req, "mac_address", json_object_get(net_entry, "mac"));
        return req;
}

int sf_vim_container_bind(sf_vim *v, sf_tx *tx, json_t *obj, const char *node_id, sf_err *e)
{
        /* Binds the container and every port it owns to the node. */
        json_t *pid;
        size_t i;
        json_object_set_new(obj, "node_id", json_string(node_id));
        json_array_foreach(json_object_get(obj, "port_ids"), i, pid) {
                json_auto_t *port = NULL, *upd = NULL, *patch = NULL;
                int r = vim_resolve(tx, "port", json_string_value(pid), "ports", &port, e);
                if (r < 0)
                        return r;
                patch = json_pack("{s:s}", "node", node_id);
                r = vim_port_kind.update(v, tx, port, patch, &upd, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* What only VMs take (user_data: the cloud-init user-data; ssh_keys: public keys for the
 * NoCloud meta-data), and what only containers take (env, workdir, runtime). Day-0
 * files of a VM become cloud-config write_files on its node, so a VM gives files or user_data,
 * not both. Nothing is ignored silently. */
static int check_kind_fields(json_t *in, const char *kind, const char **ret_user_data,
                             json_t **ret_keys, sf_err *e)
{
        static const char *const vm_only[] = { "user_data", "ssh_keys", NULL };
        static const char *const container_only[] = { "env", "workdir", "runtime", "host_vm", NULL };
        bool vm = STREQ(kind, "vm");
        const char *ud = NULL;
        json_t *keys = NULL, *x;
        size_t i;
        int r;

        for (const char *const *k = vm ? container_only : vm_only; *k; k++) {
                json_t *v = json_object_get(in, *k);
                if (v && !json_is_null(v) && !(json_is_object(v) && !json_object_size(v)) &&
                    !(json_is_array(v) && !json_array_size(v)))
                        return sf_err_set(e, -EINVAL, *k, "is for %s only",
                                          vm ? "containers" : "VMs (kind vm)");
        }
        if (!vm)
                return 0;
        r = sf_json_str(in, "user_data", false, &ud, e);
        if (r < 0)
                return r;
        if (ud && (strlen(ud) > 256 * 1024 || strlen(ud) == 0))
                return sf_err_set(e, -EINVAL, "user_data", "must be 1 byte to 256 KiB");
        if (ud && json_array_size(json_object_get(in, "files")) > 0)
                return sf_err_set(e, -EINVAL, "files",
                                  "a VM takes user_data or files (which become cloud-config "
                                  "write_files), not both");
        r = sf_json_array(in, "ssh_keys", false, &keys, e);
        if (r < 0)
                return r;
        if (json_array_size(keys) > 16)
                return sf_err_set(e, -EINVAL, "ssh_keys", "at most 16 keys");
        json_array_foreach(keys, i, x) {
                const char *k = json_string_value(x);
                if (!k || !*k || strlen(k) > 8192 || strpbrk(k, "\r\n")) {
                        _cleanup_free_ char *f = xasprintf("ssh_keys[%zu]", i);
                        return sf_err_set(e, -EINVAL, f, "must be one line (an OpenSSH public key)");
                }
        }
        *ret_user_data = ud;
        *ret_keys = keys;
        return 0;
}

static int container_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        sf_vim *v = ctx;
        json_auto_t *obj = json_object(), *nets = NULL, *port_ids = json_array(), *status = NULL, *nodes = NULL;
        json_t *cmd = NULL, *env = NULL, *files = NULL, *ports = NULL, *sel = NULL, *x;
        const char *image = NULL, *workdir = NULL, *hostname = NULL, *restart = "never",
                   *node = NULL, *site = NULL, *runtime = NULL, *kind = "container", *aa = NULL,
                   *resched = "never", *mstrategy = "make-before-break", *host_vm = NULL,
                   *nmode = NULL;
        json_t *hook = NULL;
        int64_t cpu = 0, mem = 0, vcpus = 0, grace = 10;
        const char *user_data = NULL;
        json_t *ssh_keys = NULL;
        _cleanup_free_ char *ts = sf_timestamp(sf_realtime_usec());
        _cleanup_free_ char *node_id = NULL, *reason = NULL, *parent_vm = NULL;
        const char *cid;
        size_t i;
        sf_rd rd;
        int r;

        r = sf_json_only(in, container_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "container", e);
        if (r >= 0)
                r = sf_json_str(in, "kind", false, &kind, e);
        if (r >= 0 && !STREQ(kind, "container") && !STREQ(kind, "vm"))
                r = sf_err_set(e, -EINVAL, "kind", "must be container or vm");
        if (r >= 0)
                r = check_kind_fields(in, kind, &user_data, &ssh_keys, e);
        if (r >= 0)
                r = sf_json_str(in, "image", true, &image, e);
        if (r >= 0 && (strlen(image) == 0 || strlen(image) > 255))
                r = sf_err_set(e, -EINVAL, "image", "must be 1 to 255 characters");
        if (r >= 0)
                r = check_strv(in, "command", 256, true, &cmd, e);
        if (r >= 0)
                r = check_env(in, &env, e);
        if (r >= 0)
                r = sf_json_str(in, "workdir", false, &workdir, e);
        if (r >= 0 && workdir && workdir[0] != '/')
                r = sf_err_set(e, -EINVAL, "workdir", "must be an absolute path");
        if (r >= 0)
                r = sf_json_name(in, "hostname", false, &hostname, e);
        if (r >= 0)
                r = sf_json_str(in, "restart_policy", false, &restart, e);
        if (r >= 0 && !one_of(restart, restart_policies))
                r = sf_err_set(e, -EINVAL, "restart_policy", "must be never, on-failure or always");
        if (r >= 0)
                r = sf_json_str(in, "reschedule", false, &resched, e);
        if (r >= 0 && !STREQ(resched, "never") && !STREQ(resched, "on-node-failure"))
                r = sf_err_set(e, -EINVAL, "reschedule", "must be never or on-node-failure");
        if (r >= 0)
                r = sf_json_str(in, "move_strategy", false, &mstrategy, e);
        if (r >= 0 && !STREQ(mstrategy, "make-before-break") && !STREQ(mstrategy, "handover"))
                r = sf_err_set(e, -EINVAL, "move_strategy", "must be make-before-break or handover");
        if (r >= 0)
                r = check_handover_hook(in, &hook, e);
        if (r >= 0)
                r = sf_json_str(in, "runtime", false, &runtime, e);
        if (r >= 0 && runtime && !STREQ(runtime, "runc") && !STREQ(runtime, "crun"))
                r = sf_err_set(e, -EINVAL, "runtime", "must be runc or crun");
        if (r >= 0)
                r = parse_cpu(in, &cpu, e);
        if (r >= 0)
                r = sf_json_int(in, "vcpus", false, 1, 64, &vcpus, e);
        if (r >= 0)
                r = sf_json_int(in, "stop_grace_seconds", false, 0, 300, &grace, e);
        if (r >= 0)
                r = parse_memory(in, "memory", &mem, e);
        if (r >= 0)
                r = check_files(in, &files, e);
        if (r >= 0)
                r = check_networks(in, &nets, e);
        if (r >= 0)
                r = check_strv(in, "ports", 8, false, &ports, e);
        if (r >= 0)
                r = sf_json_str(in, "node", false, &node, e);
        if (r >= 0)
                r = sf_json_str(in, "site", false, &site, e);
        if (r >= 0)
                r = sf_json_object(in, "node_selector", false, &sel, e);
        if (r >= 0)
                r = sf_json_str(in, "anti_affinity", false, &aa, e);
        if (r >= 0 && aa && !sf_name_valid(aa))
                r = sf_err_set(e, -EINVAL, "anti_affinity", "must be a group name");
        if (r >= 0)
                r = sf_json_str(in, "host_vm", false, &host_vm, e);
        if (r >= 0)
                r = sf_json_str(in, "nested_mode", false, &nmode, e);
        if (r >= 0 && nmode && !sf_nested_mode_valid(nmode))
                r = sf_err_set(e, -EINVAL, "nested_mode", "must be vlan or macvlan");
        if (r < 0)
                return r;
        if (STREQ(kind, "vm") && mem == 0)
                mem = 256 << 20;
        if (STREQ(kind, "vm") && !vcpus)
                vcpus = MAX((cpu + 999) / 1000, 1); /* a VM has whole vCPUs: 1 by default */
        if (vcpus)
                cpu = MAX(cpu, vcpus * 1000);
        cid = json_string_value(json_object_get(obj, "id"));

        /* Placement: an explicit node, or the scheduler. A request that cannot be placed now
         * stays Pending with the reason; the scheduler retries as nodes change. */
        json_object_set_new(obj, "kind", json_string(kind));
        json_object_set_new(obj, "image", json_string(image));
        if (STREQ(kind, "vm")) {
                json_object_set_new(obj, "vcpus", json_integer(vcpus));
                json_object_set_new(obj, "user_data", user_data ? json_string(user_data) : json_null());
                json_object_set_new(obj, "ssh_keys", ssh_keys ? json_deep_copy(ssh_keys) : json_array());
        }
        json_object_set_new(obj, "command", cmd ? json_deep_copy(cmd) : json_array());
        json_object_set_new(obj, "env", env ? json_deep_copy(env) : json_object());
        json_object_set_new(obj, "workdir", workdir ? json_string(workdir) : json_null());
        json_object_set_new(obj, "hostname", json_string(hostname ? hostname
                                                                  : json_string_value(json_object_get(obj, "name"))));
        json_object_set_new(obj, "restart_policy", json_string(restart));
        json_object_set_new(obj, "reschedule", json_string(resched));
        json_object_set_new(obj, "move_strategy", json_string(mstrategy));
        json_object_set_new(obj, "handover_hook", hook ? json_deep_copy(hook) : json_null());
        json_object_set_new(obj, "runtime", runtime ? json_string(runtime) : json_null());
        json_object_set_new(obj, "cpu", json_integer(cpu));
        json_object_set_new(obj, "memory", json_integer(mem));
        json_object_set_new(obj, "stop_grace_seconds", json_integer(grace));
        json_object_set_new(obj, "files", files ? json_deep_copy(files) : json_array());
        json_object_set_new(obj, "networks", nets ? json_incref(nets) : json_array());
        json_object_set_new(obj, "site", site ? json_string(site) : json_null());
        json_object_set_new(obj, "node_selector", sel ? json_deep_copy(sel) : json_object());
        json_object_set_new(obj, "anti_affinity", aa ? json_string(aa) : json_null());
        json_object_set_new(obj, "desired_state", json_string("running"));
        json_object_set_new(obj, "generation", json_integer(1));

        json_object_set_new(obj, "nested_mode", STREQ(kind, "vm") && nmode ? json_string(nmode) : json_null());
        json_object_set_new(obj, "nested", json_null());

        /* The nodes, read once for the image check and the placement. */
        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "node", NULL, &nodes, e);
        if (r < 0)
                return r;
        r = check_image_known(nodes, obj, e);
        if (r < 0)
                return r;
        /* A container in a VM (nested.c): named by host_vm, or by a node that is a VM's. */
        if (node && !STREQ(kind, "vm")) {
                json_auto_t *n = NULL;
                const char *parent;
                r = vim_resolve(tx, "node", node, "node", &n, e);
                if (r < 0)
                        return r;
                parent = json_string_value(json_object_get(n, "parent"));
                if (parent && host_vm)
                        return sf_err_set(e, -EINVAL, "node", "give node or host_vm, not both");
                if (parent) {
                        host_vm = parent_vm = xstrdup(parent);
                        node = NULL;
                }
        }
        if (nmode && !STREQ(kind, "vm") && !host_vm)
                return sf_err_set(e, -EINVAL, "nested_mode",
                                  "is for VMs that host containers and for containers in them (host_vm)");
        if (host_vm) {
                if (node || site || json_object_size(sel))
                        return sf_err_set(e, -EINVAL, node ? "node" : site ? "site" : "node_selector",
                                          "a container in a VM (host_vm) is placed by its VM");
                if (json_array_size(ports) > 0)
                        return sf_err_set(e, -EINVAL, "ports",
                                          "a container in a VM (host_vm) takes networks, not existing ports");
                if (STREQ(resched, "on-node-failure"))
                        return sf_err_set(e, -EINVAL, "reschedule",
                                          "a container in a VM (host_vm) stays in it: use never");
                r = sf_nested_place(v, tx, obj, host_vm, nmode, &node_id, e);
                if (r < 0)
                        return r;
        } else if (node) {
                json_auto_t *n = NULL;
                r = vim_resolve(tx, "node", node, "node", &n, e);
                if (r < 0)
                        return r;
                r = sf_sched_check_node(v, tx, obj, n, &reason, e);
                if (r < 0)
                        return r;
                if (reason)
                        return sf_err_set(e, -ENOSPC, "node", "%s", reason);
                node_id = xstrdup(json_string_value(json_object_get(n, "id")));
        } else {
                r = sf_sched_pick(v, tx, obj, nodes, &node_id, &reason, e);
                if (r < 0)
                        return r;
        }

        /* Ports: new ones on the requested networks, or existing ones attached. */
        json_array_foreach(nets, i, x) {
                json_auto_t *req = port_request(x, cid, node_id), *port = NULL;
                _cleanup_free_ char *f = xasprintf("networks[%zu]", i);
                /* Port pools (pool.c): a port without a requested IP or MAC is taken from the
                 * node's pool when it has one; otherwise created here (the cold path). */
                if (host_vm)
                        r = sf_nested_port(v, tx, obj, x, node_id, &port, e);
                else
                        /* A container's first port from the pool: its node may have the
                         * namespace built already, checked while this transaction goes on, and
                         * handed over as soon as it commits. */
                        r = sf_pool_port_for(v, tx, req, !json_object_get(x, "ip") && !json_object_get(x, "mac"),
                                             node_id, i == 0 && STREQ(kind, "container") ? cid : NULL, &port, e);
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                json_array_append(port_ids, json_object_get(port, "id"));
        }
        json_array_foreach(ports, i, x) {
                json_auto_t *port = NULL, *upd = NULL, *patch = NULL;
                _cleanup_free_ char *f = xasprintf("ports[%zu]", i);
                const char *dev, *bound;
                r = vim_resolve(tx, "port", json_string_value(x), f, &port, e);
                if (r < 0)
                        return r;
                dev = json_string_value(json_object_get(port, "device_id"));
                bound = json_string_value(json_object_get(port, "node_id"));
                if (dev && *dev)
                        return sf_err_set(e, -EBUSY, f, "port '%s' is already used by '%s'",
                                          json_string_value(x), dev);
                if (bound && node_id && !STREQ(bound, node_id))
                        return sf_err_set(e, -EINVAL, f,
                                          "port '%s' is bound to another node than the container's",
                                          json_string_value(x));
                patch = json_pack("{s:s, s:s}", "device_id", cid, "device_owner", "compute:container");
                if (node_id)
                        json_object_set_new(patch, "node", json_string(node_id));
                r = vim_port_kind.update(v, tx, port, patch, &upd, e);
                if (r < 0)
                        return r;
                json_array_append(port_ids, json_object_get(port, "id"));
        }
        json_object_set(obj, "port_ids", port_ids);
        json_object_set_new(obj, "owned_ports", json_integer(json_array_size(nets)));
        json_object_set_new(obj, "node_id", node_id ? json_string(node_id) : json_null());
        r = sf_nested_vm_setup(v, tx, obj, e);
        if (r < 0)
                return r;
        status = json_pack("{s:s, s:s, s:s}", "phase", "Pending", "requested_at", ts, "message",
                           reason ? reason : (node_id ? "waiting for the node's agent" : ""));
        json_object_set(obj, "status", status);
        r = sf_res_insert(tx, "container", obj,
                          &(struct sf_res_cols) { .node = node_id }, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

/* The agent's status report, merged into the current status. */
static int merge_status(json_t *obj, json_t *patch, sf_err *e)
{
        static const char *const keys[] = { "phase", "message", "pid", "exit_code", "restarts",
                                             "ips", "requested_at", "network_ready_at",
                                             "started_at", "finished_at", "observed_generation",
                                             "timings", "runtime", "netns", "accelerator",
                                             "console_tail", "boot_ms", "accelerator_reason",
                                             "vm_state", "guest", "reachable_at", "handover", NULL };
        json_t *st = NULL, *cur = json_object_get(obj, "status"), *phase;
        const char *k;
        json_t *v;
        int r = sf_json_object(patch, "status", false, &st, e);
        if (r < 0 || !st)
                return r;
        r = sf_json_only(st, keys, e);
        if (r < 0) {
                sf_err_field_prefix(e, "status");
                return r;
        }
        phase = json_object_get(st, "phase");
        if (phase && (!json_is_string(phase) || !one_of(json_string_value(phase), container_phases)))
                return sf_err_set(e, -EINVAL, "status.phase", "must be one of Pending, Creating, "
                                                              "Running, Stopped, Exited, Failed");
        if (!json_is_object(cur)) {
                cur = json_object();
                json_object_set_new(obj, "status", cur);
        }
        json_object_foreach(st, k, v)
                json_object_set(cur, k, v);
        return 0;
}

static int container_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret,
                            sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur);
        const char *restart = NULL, *desired = NULL;
        int r;

        r = vim_check_patch_keys(patch, container_update_keys, container_create_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = sf_json_str(patch, "restart_policy", false, &restart, e);
        if (r >= 0 && restart && !one_of(restart, restart_policies))
                r = sf_err_set(e, -EINVAL, "restart_policy", "must be never, on-failure or always");
        if (r >= 0)
                r = sf_json_str(patch, "desired_state", false, &desired, e);
        if (r >= 0 && desired && !STREQ(desired, "running") && !STREQ(desired, "stopped"))
                r = sf_err_set(e, -EINVAL, "desired_state", "must be running or stopped");
        if (r >= 0)
                r = merge_status(obj, patch, e);
        if (r < 0)
                return r;
        if (restart)
                json_object_set_new(obj, "restart_policy", json_string(restart));
        if (desired && !STREQ(json_string_value(json_object_get(obj, "desired_state")) ?: "", desired)) {
                if (json_is_true(json_object_get(obj, "deleting")))
                        return sf_err_set(e, -EBUSY, "desired_state", "the container is being deleted");
                json_object_set_new(obj, "desired_state", json_string(desired));
                json_object_set_new(obj, "generation",
                                    json_integer(json_integer_value(json_object_get(obj, "generation")) + 1));
        }
        r = sf_res_update(tx, "container", obj,
                          &(struct sf_res_cols) { .node = json_string_value(json_object_get(obj, "node_id")) },
                          e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

/* Deletes the container and the ports it created; ports it was given are released. */
int sf_vim_container_purge(sf_vim *v, sf_tx *tx, json_t *cur, sf_err *e)
{
        json_t *pid;
        size_t i, owned = json_integer_value(json_object_get(cur, "owned_ports"));
        int r = sf_nested_vm_purge(v, tx, cur, e);
        if (r < 0)
                return r;
        if (json_is_object(json_object_get(cur, "nested"))) {
                r = sf_nested_release(v, tx, cur, e);
                if (r < 0)
                        return r;
                return sf_res_delete(tx, "container", json_string_value(json_object_get(cur, "id")), e);
        }
        json_array_foreach(json_object_get(cur, "port_ids"), i, pid) {
                json_auto_t *port = NULL;
                sf_rd rd;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, "port", json_string_value(pid), &port, NULL);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return sf_err_set(e, r, NULL, "port lookup failed");
                if (i < owned) {
                        /* Port pools: an automatic port goes back to its node's pool when the
                         * pool wants it (the node re-plumbs it in a new namespace). */
                        json_t *net = json_array_get(json_object_get(cur, "networks"), i);
                        r = sf_pool_recycle(v, tx, port, !json_object_get(net, "ip") && !json_object_get(net, "mac"), e);
                        if (r == 0)
                                r = sf_vim_port_delete(v, tx, port, e);
                } else {
                        json_auto_t *upd = NULL;
                        json_auto_t *patch = json_pack("{s:s, s:s, s:s}", "device_id", "",
                                                       "device_owner", "", "status", "DOWN");
                        r = vim_port_kind.update(v, tx, port, patch, &upd, e);
                }
                if (r < 0)
                        return r;
        }
        return sf_res_delete(tx, "container", json_string_value(json_object_get(cur, "id")), e);
}

static int container_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        sf_vim *v = ctx;
        json_auto_t *obj = NULL;
        bool force = json_is_true(json_object_get(opts, "force"));
        const char *node = json_string_value(json_object_get(cur, "node_id"));
        int r;

        if (!force) {
                r = sf_nested_vm_check_remove(tx, cur, e);
                if (r < 0)
                        return r;
        }
        /* Nothing runs anywhere yet, or the caller insists: delete at once. */
        if (force || !node)
                return sf_vim_container_purge(v, tx, cur, e);
        if (json_is_true(json_object_get(cur, "deleting")))
                return 1;
        obj = json_deep_copy(cur);
        json_object_set_new(obj, "deleting", json_true());
        json_object_set_new(obj, "generation",
                            json_integer(json_integer_value(json_object_get(obj, "generation")) + 1));
        json_object_set_new(json_object_get(obj, "status"), "phase", json_string("Terminating"));
        r = sf_res_update(tx, "container", obj, &(struct sf_res_cols) { .node = node }, e);
        return r < 0 ? r : 1;
}

/* POST /v1/containers/X/finalize: the agent confirms that the node is clean. */
static int container_finalize(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *now = NULL;
        sf_rd rd;
        int r = sf_tx_begin(s, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "container", json_string_value(json_object_get(cur, "id")), &now, e);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(now, "deleting")))
                return sf_err_set(e, -EINVAL, NULL, "container '%s' is not being deleted",
                                  json_string_value(json_object_get(now, "name")));
        r = sf_vim_container_purge(ctx, tx, now, e);
        if (r < 0)
                return r;
        return sf_tx_commit(TAKE_PTR(tx), e);
}

static int set_desired(sf_store *s, void *ctx, json_t *cur, const char *state, json_t **ret, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *now = NULL, *patch = json_pack("{s:s}", "desired_state", state);
        sf_rd rd;
        int r = sf_tx_begin(s, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "container", json_string_value(json_object_get(cur, "id")), &now, e);
        if (r >= 0)
                r = container_update(ctx, tx, now, patch, ret, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        return r;
}

static int container_stop(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return set_desired(s, ctx, cur, "stopped", ret, e);
}

static int container_start(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return set_desired(s, ctx, cur, "running", ret, e);
}

static int container_exec(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return sf_vim_agent_call(ctx, s, cur, "POST", "exec", in, ret, e);
}

static int container_logs(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return sf_vim_agent_call(ctx, s, cur, "GET", "logs", in, ret, e);
}

/* POST /v1/containers/X/{reboot,pause,resume}: VM actions, done by the VM's node. */
static int vm_action(void *ctx, sf_store *s, json_t *cur, const char *action, json_t *in,
                     json_t **ret, sf_err *e)
{
        const char *kind = json_string_value(json_object_get(cur, "kind")) ?: "container";
        if (!STREQ(kind, "vm"))
                return sf_err_set(e, -EINVAL, NULL, "'%s' is a container: only VMs can %s",
                                  json_string_value(json_object_get(cur, "name")), action);
        if (json_is_true(json_object_get(cur, "deleting")))
                return sf_err_set(e, -EBUSY, NULL, "vm '%s' is being deleted",
                                  json_string_value(json_object_get(cur, "name")));
        return sf_vim_agent_call(ctx, s, cur, "POST", action, in, ret, e);
}

static int container_reboot(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return vm_action(ctx, s, cur, "reboot", in, ret, e);
}

static int container_pause(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return vm_action(ctx, s, cur, "pause", in, ret, e);
}

static int container_resume(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return vm_action(ctx, s, cur, "resume", in, ret, e);
}

static const struct sf_kind_filter container_filters[] = {
        { "node", SF_FILTER_NODE, "node", NULL },
        { "image", SF_FILTER_BODY, NULL, "image" },
        { "kind", SF_FILTER_BODY, NULL, "kind" },
        { NULL },
};
static int container_move(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return sf_vim_move_start(ctx, s, cur, in, ret, e);
}

static const struct sf_kind_action container_actions[] = {
        { "move", false, container_move },
        { "finalize", false, container_finalize },
        { "stop", false, container_stop },
        { "start", false, container_start },
        { "exec", false, container_exec },
        { "logs", true, container_logs },
        { "reboot", false, container_reboot },
        { "pause", false, container_pause },
        { "resume", false, container_resume },
        { NULL },
};

struct sf_kind vim_container_kind = {
        .name = "container",
        .plural = "containers",
        .filters = container_filters,
        .create = container_create,
        .update = container_update,
        .remove = container_remove,
        .actions = container_actions,
};
