/* The agent's own API, under /agent/v1 (the controller forwards exec, logs, VM actions and image calls
 * here, as the Kubernetes API server does to the kubelet): exec and logs of local workloads,
 * and the node's image store. */
#include <fcntl.h>
#include <sys/stat.h>

#include "agent/agent-internal.h"
#include "agent/compute/vm-qemu.h"
#include "lib/log.h"
#include "lib/util.h"

SF_LOG_MODULE("agent-api");

#define LOG_MAX (1u << 20)

static int body_of(sf_http_req *req, json_t **ret, sf_err *e)
{
        if (req->body_len == 0) {
                *ret = json_object();
                return 0;
        }
        if (sf_json_parse(req->body, req->body_len, ret, e) < 0)
                return -EINVAL;
        if (!json_is_object(*ret)) {
                json_decref(*ret);
                return sf_err_set(e, -EINVAL, NULL, "request body must be a JSON object");
        }
        return 0;
}

static bool known_workload(sf_agent *a, const char *id)
{
        bool ok;
        agent_lock(a);
        ok = agent_lw_find(a, id) != NULL;
        agent_unlock(a);
        return ok;
}

static void route_exec(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        const char *id = req->segs[3];
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *out = NULL, *err = NULL, *dir = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        json_auto_t *in = NULL;
        json_t *cmd = NULL, *x;
        int64_t timeout = 30;
        sf_workload_spec ws = { 0 };
        size_t i;
        int code = -1, r;

        r = body_of(req, &in, &e);
        if (r >= 0)
                r = sf_json_array(in, "command", true, &cmd, &e);
        if (r >= 0)
                r = sf_json_int(in, "timeout", false, 1, 3600, &timeout, &e);
        if (r >= 0 && json_array_size(cmd) == 0)
                r = sf_err_set(&e, -EINVAL, "command", "must not be empty");
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        argv = new0(char *, 1);
        json_array_foreach(cmd, i, x) {
                if (!json_is_string(x)) {
                        sf_http_resp_errorf(resp, -EINVAL, "command", "must be an array of strings");
                        return;
                }
                strv_push(&argv, xstrdup(json_string_value(x)));
        }
        if (!known_workload(a, id)) {
                sf_http_resp_errorf(resp, -ENOENT, NULL, "no workload %s on this node", id);
                return;
        }
        dir = agent_container_dir(a, id);
        ws.id = id;
        ws.kind = "container";
        ws.state_dir = dir;
        ws.cpu_millicores = 100;
        r = a->containers->driver->exec(a->containers, &ws, argv, NULL, (int) timeout * 1000, &out,
                                        &err, &code, &e);
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        sf_http_resp_json(resp, 200, json_pack("{s:i, s:s, s:s}", "exit_code", code, "stdout",
                                               out ? out : "", "stderr", err ? err : ""));
}

static void route_logs(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        const char *id = req->segs[3];
        const char *tail_s = sf_http_req_query(req, "tail");
        _cleanup_free_ char *dir = agent_container_dir(a, id), *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        long tail = -1;
        off_t off = 0;
        ssize_t n;

        if (tail_s) {
                char *end;
                errno = 0;
                tail = strtol(tail_s, &end, 10);
                if (!*tail_s || *end || errno || tail < 0 || tail > 1000000) {
                        sf_http_resp_errorf(resp, -EINVAL, "tail", "must be a number of lines");
                        return;
                }
        }
        if (!known_workload(a, id)) {
                sf_http_resp_errorf(resp, -ENOENT, NULL, "no workload %s on this node", id);
                return;
        }
        path = xasprintf("%s/console.log", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                sf_http_resp_json(resp, 200, json_pack("{s:s, s:b}", "logs", "", "truncated", 0));
                return;
        }
        if (fstat(fd, &st) == 0 && st.st_size > LOG_MAX)
                off = st.st_size - LOG_MAX;
        buf = xmalloc(LOG_MAX + 1);
        n = pread(fd, buf, LOG_MAX, off);
        if (n < 0)
                n = 0;
        buf[n] = 0;
        {
                const char *start = buf;
                if (tail >= 0) {
                        long lines = 0;
                        for (ssize_t i = n - 1; i >= 0; i--)
                                if (buf[i] == '\n' && i != n - 1 && ++lines == tail) {
                                        start = buf + i + 1;
                                        break;
                                }
                        if (tail == 0)
                                start = buf + n;
                }
                sf_http_resp_json(resp, 200, json_pack("{s:s, s:b}", "logs", start, "truncated", off > 0));
        }
}

/* The controller learns about a new or removed image before the call returns. */
static void report_images(sf_agent *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (agent_node_report(a, &e) < 0)
                log_warn("report images to the controller: %s (the next heartbeat will), ignoring",
                         sf_err_msg(&e));
}

static void route_images_list(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_image_info **v = NULL;
        size_t n = 0;
        json_t *items;
        if (sf_image_list(a->images, &v, &n, &e) < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        items = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *o = sf_image_info_to_json(v[i]);
                json_object_set_new(o, "node", json_string(a->node_name));
                json_object_set_new(o, "kind", json_string("container"));
                json_array_append_new(items, o);
        }
        sf_image_info_array_free(v, n);
        {
                /* VM images (vm-image.c) follow the container images. */
                json_auto_t *vms = NULL;
                json_t *o;
                size_t i;
                if (agent_vm_image_list(a, &vms, &e) < 0) {
                        json_decref(items);
                        sf_http_resp_error(resp, &e);
                        return;
                }
                json_array_foreach(vms, i, o) {
                        json_object_set_new(o, "node", json_string(a->node_name));
                        json_array_append(items, o);
                }
        }
        sf_http_resp_json(resp, 200, json_pack("{s:o}", "items", items));
}

static void route_images_import(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_image_info_ sf_image_info *info = NULL;
        json_auto_t *in = NULL;
        const char *name = NULL, *source = NULL, *format = NULL, *cmdline = NULL;
        static const char *const keys[] = { "name", "source", "format", "cmdline", NULL };
        int r = body_of(req, &in, &e);
        if (r >= 0)
                r = sf_json_only(in, keys, &e);
        if (r >= 0)
                r = sf_json_str(in, "name", true, &name, &e);
        if (r >= 0)
                r = sf_json_str(in, "source", false, &source, &e);
        if (r >= 0)
                r = sf_json_str(in, "format", false, &format, &e);
        if (r >= 0)
                r = sf_json_str(in, "cmdline", false, &cmdline, &e);
        if (r >= 0 && !format)
                format = source ? "auto" : "busybox";
        if (r >= 0 && !STREQ(format, "busybox") && !source)
                r = sf_err_set(&e, -EINVAL, "source", "is required for format '%s'", format);
        if (r >= 0 && source && source[0] != '/')
                r = sf_err_set(&e, -EINVAL, "source", "must be an absolute path on the node");
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        if (STREQ(format, "auto")) {
                struct stat st;
                _cleanup_free_ char *layout = xasprintf("%s/oci-layout", source);
                _cleanup_free_ char *kernel = xasprintf("%s/vmlinuz", source);
                const char *disk_fmt = NULL;
                if (stat(source, &st) < 0)
                        r = sf_err_errno(&e, -errno, "source '%s'", source);
                else if (S_ISDIR(st.st_mode))
                        format = access(layout, F_OK) == 0   ? "oci"
                                 : access(kernel, F_OK) == 0 ? "kernel" /* a VM kernel image */
                                                             : "rootfs";
                else if (sf_vm_image_format(source, &disk_fmt, NULL) == 0 && STREQ(disk_fmt, "qcow2"))
                        format = "qcow2"; /* a VM disk (raw disks need --format raw) */
                else
                        format = "oci"; /* a tar of an OCI layout */
        }
        if (r >= 0 && agent_vm_image_format(format)) {
                /* VM images: their own store (vm-image.c). */
                json_t *o = NULL;
                r = agent_vm_image_import(a, name, source, format, cmdline, &o, &e);
                if (r < 0) {
                        sf_http_resp_error(resp, &e);
                        return;
                }
                json_object_set_new(o, "node", json_string(a->node_name));
                report_images(a);
                sf_http_resp_json(resp, 201, o);
                return;
        }
        if (r >= 0 && cmdline)
                r = sf_err_set(&e, -EINVAL, "cmdline", "only VM kernel images take a kernel command line");
        if (r >= 0) {
                json_auto_t *vm = NULL;
                if (agent_vm_image_get(a, name, &vm, NULL) == 0)
                        r = sf_err_set(&e, -EEXIST, "name", "'%s' is a VM image on node '%s'; a container image needs another name",
                                       json_string_value(json_object_get(vm, "name")), a->node_name);
        }
        if (r >= 0) {
                if (STREQ(format, "oci"))
                        r = sf_image_import_oci(a->images, name, source, &e);
                else if (STREQ(format, "rootfs"))
                        r = sf_image_import_rootfs(a->images, name, source, NULL, &e);
                else if (STREQ(format, "busybox"))
                        r = source ? sf_image_create_busybox_from(a->images, name, source, &e)
                                   : sf_image_create_busybox(a->images, name, &e);
                else
                        r = sf_err_set(&e, -EINVAL, "format",
                                       "must be oci, rootfs or busybox (containers), or qcow2, raw or kernel (VMs)");
        }
        if (r >= 0)
                r = sf_image_get(a->images, name, &info, &e);
        if (r < 0) {
                if (!e.field && (r == -EINVAL || r == -EEXIST) && strstr(sf_err_msg(&e), "name"))
                        e.field = xstrdup("name");
                sf_http_resp_error(resp, &e);
                return;
        }
        agent_refresh_images(a);
        report_images(a);
        {
                json_t *o = sf_image_info_to_json(info);
                json_object_set_new(o, "node", json_string(a->node_name));
                sf_http_resp_json(resp, 201, o);
        }
}

static void route_images_rm(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *name = sf_http_req_query(req, "name");
        int r;
        if (!name) {
                sf_http_resp_errorf(resp, -EINVAL, "name", "is required");
                return;
        }
        r = agent_vm_image_rm(a, name, &e); /* a VM image, else a container image */
        if (r >= 0 || r != -ENOENT) {
                if (r < 0) {
                        sf_http_resp_error(resp, &e);
                        return;
                }
                report_images(a);
                resp->status = 204;
                resp->text = xstrdup("");
                return;
        }
        sf_err_clear(&e);
        if (sf_image_rm(a->images, name, &e) < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        agent_refresh_images(a);
        report_images(a);
        resp->status = 204;
        resp->text = xstrdup("");
}

void agent_routes_register(sf_agent *a)
{
        agent_services_routes(a);
        sf_api_add_route(a->api, "POST", "/agent/v1/containers/*/exec", route_exec, a);
        sf_api_add_route(a->api, "GET", "/agent/v1/containers/*/logs", route_logs, a);
        sf_api_add_route(a->api, "GET", "/agent/v1/vms/*/logs", route_logs, a); /* the serial console */
        agent_vm_routes_register(a);
        sf_api_add_route(a->api, "GET", "/agent/v1/images", route_images_list, a);
        sf_api_add_route(a->api, "POST", "/agent/v1/images", route_images_import, a);
        sf_api_add_route(a->api, "DELETE", "/agent/v1/images", route_images_rm, a);
}
