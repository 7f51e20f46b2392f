/* The VM compute driver: workload spec -> overlay disk, NoCloud seed and QEMU command line
 * (vm-qemu, vm-seed) -> QEMU under sf-vm-monitor, controlled over QMP (qmp). See
 * vm-driver.h for the design. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/compute/qmp.h"
#include "agent/compute/shim-proto.h"
#include "agent/compute/vm-driver.h"
#include "agent/compute/vm-qemu.h"
#include "agent/compute/vm-seed.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

SF_LOG_MODULE("vm");

#define DEFAULT_ROOT "/run/superfluid/vm"
#define DEFAULT_START_TIMEOUT_MS 30000
#define QMP_TIMEOUT_MS 5000
#define QEMU_IMG_TIMEOUT_MS 60000
#define POWERDOWN_REPEAT_MS 5000 /* a guest still booting may miss the first button press */
#define QUIT_TIMEOUT_MS 5000
#define KILL_TIMEOUT_MS 10000
#define MONITOR_EXIT_TIMEOUT_MS 5000
#define STATUS_LINE_MAX 8192
#define CONFIG_FILE_MAX (256 * 1024)

typedef struct vm_compute {
        sf_compute base; /* first */
        char *qemu, *qemu_img, *monitor, *root, *cpu;
        sf_vm_accel accel;
        char *accel_reason;
        int start_timeout_ms;
} vm_compute;

static vm_compute *vc_of(sf_compute *c)
{
        return (vm_compute *) c;
}

static bool executable(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int find_binary(const char *name, char **ret, sf_err *e)
{
        _cleanup_free_ char *path = NULL;
        char *save = NULL;

        if (strchr(name, '/')) {
                if (!executable(name))
                        return sf_err_set(e, -ENOENT, NULL, "'%s' is not an executable file",
                                          name);
                *ret = xstrdup(name);
                return 0;
        }
        path = xasprintf("%s:/usr/bin:/usr/sbin:/bin:/sbin",
                         getenv("PATH") ? getenv("PATH") : "");
        for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = xasprintf("%s/%s", d, name);
                if (*d == '/' && executable(p)) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return sf_err_set(e, -ENOENT, NULL, "'%s' not found in PATH", name);
}

/* ---- open / close ---- */

static void vm_close(sf_compute *c)
{
        vm_compute *vc = vc_of(c);
        if (!vc)
                return;
        free(vc->qemu);
        free(vc->qemu_img);
        free(vc->monitor);
        free(vc->root);
        free(vc->cpu);
        free(vc->accel_reason);
        free(vc);
}

static int vm_open(const sf_compute_options *o, sf_compute **ret, sf_err *e)
{
        _cleanup_(sf_compute_closep) sf_compute *c = NULL;
        vm_compute *vc = new0(vm_compute, 1);
        const char *accel = o->vm_accel ? o->vm_accel : getenv("SF_VM_ACCEL");
        sf_kvm_probe probe;
        int r;

        vc->base.driver = &sf_vm_driver;
        c = &vc->base;
        vc->start_timeout_ms = o->start_timeout_ms > 0 ? o->start_timeout_ms
                                                       : DEFAULT_START_TIMEOUT_MS;
        r = find_binary(o->qemu_binary ? o->qemu_binary : "qemu-system-x86_64", &vc->qemu, e);
        if (r < 0)
                return sf_err_prefix(e, "vm driver (install qemu-system-x86)");
        /* qemu-img is only needed for overlays: its absence is reported by prepare(). */
        {
                _cleanup_free_ char *dir = xstrdup(vc->qemu);
                char *slash = strrchr(dir, '/');
                _cleanup_free_ char *next = NULL;
                if (slash)
                        *slash = 0;
                next = xasprintf("%s/qemu-img", dir);
                if (executable(next))
                        vc->qemu_img = TAKE_PTR(next);
                else
                        find_binary("qemu-img", &vc->qemu_img, NULL);
        }
        if (o->vm_monitor)
                r = find_binary(o->vm_monitor, &vc->monitor, e);
        else
                r = sf_vm_monitor_path(&vc->monitor, e);
        if (r < 0)
                return sf_err_prefix(e, "vm driver");
        if (o->vm_root && o->vm_root[0] != '/')
                return sf_err_set(e, -EINVAL, "vm_root", "must be an absolute path");
        vc->root = xstrdup(o->vm_root ? o->vm_root : DEFAULT_ROOT);
        r = sf_mkdir_p(vc->root, 0700, e);
        if (r < 0)
                return r;
        vc->cpu = xstrdup(o->vm_cpu);
        sf_kvm_probe_host(&probe);
        r = sf_vm_accel_choose(accel, &probe, &vc->accel, &vc->accel_reason, e);
        if (r < 0)
                return sf_err_prefix(e, "vm driver");
        log_debug("accelerator %s: %s", sf_vm_accel_str(vc->accel), vc->accel_reason);
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- helpers ---- */

static int check_ref(const sf_workload_spec *w, sf_err *e)
{
        if (!w->id || !sf_name_valid(w->id))
                return sf_err_set(e, -EINVAL, "id", "must be a valid name");
        if (!w->state_dir || w->state_dir[0] != '/')
                return sf_err_set(e, -EINVAL, "state_dir", "must be an absolute path");
        return 0;
}

static char *state_file(const char *state_dir, const char *name)
{
        return xasprintf("%s/%s", state_dir, name);
}

static bool file_exists(const char *p)
{
        return access(p, F_OK) == 0;
}

/* A pidfd of a process that has not exited (a zombie has). */
static bool alive(int pidfd)
{
        return pidfd >= 0 && sf_pidfd_wait(pidfd, 0, NULL) == -ETIMEDOUT;
}

/* QEMU's pidfd when it still runs (checked against its recorded start time), else -ESRCH. */
static int qemu_pidfd(const sf_vm_monitor_state *st)
{
        int fd;
        if (st->qemu_pid <= 0)
                return -ESRCH;
        fd = sf_pidfd_open_verified(st->qemu_pid, st->qemu_starttime, NULL);
        if (fd < 0)
                return -ESRCH;
        if (!alive(fd)) {
                close(fd);
                return -ESRCH;
        }
        return fd;
}

/* Waits for the monitor to finish (it then has written exit.json). */
static void wait_monitor(const sf_vm_monitor_state *st, int timeout_ms)
{
        _cleanup_close_ int fd = sf_pidfd_open_verified(st->monitor_pid, st->monitor_starttime,
                                                        NULL);
        if (fd >= 0)
                sf_pidfd_wait(fd, timeout_ms, NULL);
}

static int qmp_connect(const char *state_dir, const char *id, sf_qmp **ret, sf_err *e)
{
        _cleanup_free_ char *sock = state_file(state_dir, SF_VM_QMP_SOCKET);
        int r = sf_qmp_connect(sock, QMP_TIMEOUT_MS, ret, e);
        if (r == -ETIMEDOUT)
                return sf_err_prefix(e, "vm '%s' (is another QMP client connected to '%s'?)",
                                     id, sock);
        if (r < 0)
                return sf_err_prefix(e, "vm '%s'", id);
        return 0;
}

/* Connects to the QMP socket of a running VM. -ESRCH when it does not run. */
static int connect_running(const sf_workload_spec *w, sf_qmp **ret, sf_err *e)
{
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        _cleanup_close_ int fd = -EBADF;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        r = sf_vm_monitor_state_read(w->state_dir, &st, NULL);
        if (r == 0)
                fd = qemu_pidfd(&st);
        if (r < 0 || fd < 0)
                return sf_err_set(e, -ESRCH, NULL, "vm '%s' is not running", w->id);
        return qmp_connect(w->state_dir, w->id, ret, e);
}

/* spec->hostname, else the id made a host name: ids may hold '_' and end in '-' or '.'. */
static char *hostname_of(const sf_workload_spec *w)
{
        char *h = xstrdup(w->hostname ? w->hostname : w->id);
        size_t n;
        if (w->hostname)
                return h;
        for (char *p = h; *p; p++)
                if (*p == '_')
                        *p = '-';
        n = strlen(h);
        while (n > 1 && (h[n - 1] == '-' || h[n - 1] == '.'))
                h[--n] = 0;
        return h;
}

/* ---- prepare ---- */

static int field_errno(sf_err *e, int code, const char *field, const char *path)
{
        sf_err_errno(e, code, "'%s'", path);
        if (e && !e->field)
                e->field = xstrdup(field);
        return code;
}

static int make_overlay(vm_compute *vc, const sf_workload_spec *w, sf_err *e)
{
        _cleanup_free_ char *overlay = state_file(w->state_dir, SF_VM_OVERLAY_FILE);
        _cleanup_free_ char *tmp = NULL, *backing = NULL;
        const char *fmt;
        int r;

        r = sf_vm_image_format(w->rootfs, &fmt, e);
        if (r < 0) {
                if (e && !e->field)
                        e->field = xstrdup("rootfs");
                return r;
        }
        if (file_exists(overlay)) {
                r = sf_qcow2_backing_file(overlay, &backing, e);
                if (r < 0)
                        return r;
                if (backing && STREQ(backing, w->rootfs))
                        return 0; /* the VM's disk from an earlier prepare: keep it */
                return sf_err_set(e, -EEXIST, "rootfs",
                                  "the disk of vm '%s' was made from '%s'; remove the VM to "
                                  "change its image",
                                  w->id, backing ? backing : "(nothing)");
        }
        if (!vc->qemu_img)
                return sf_err_set(e, -ENOENT, NULL, "qemu-img not found (install qemu-utils)");
        tmp = xasprintf("%s.tmp", overlay);
        unlink(tmp);
        {
                char *argv[] = { vc->qemu_img, "create", "-q", "-f", "qcow2", "-F", (char *) fmt,
                                 "-b", (char *) w->rootfs, tmp, NULL };
                r = sf_run_capture(argv, QEMU_IMG_TIMEOUT_MS, NULL, NULL, NULL, e);
        }
        if (r < 0) {
                unlink(tmp);
                return sf_err_prefix(e, "create the disk overlay of vm '%s'", w->id);
        }
        if (rename(tmp, overlay) < 0) {
                r = -errno;
                unlink(tmp);
                return sf_err_errno(e, r, "rename '%s'", tmp);
        }
        return 0;
}

/* agent_fwd_port: a nested host's forward to its guest agent (0: none yet). */
static int write_seed(const sf_workload_spec *w, unsigned agent_fwd_port, sf_err *e)
{
        _cleanup_free_ char *seed = state_file(w->state_dir, SF_VM_SEED_FILE);
        _cleanup_free_ char *meta = NULL, *host = NULL, *agent = NULL;
        sf_seed_file extra[1];
        size_t n_extra = 0;
        int r;

        if (w->nested_mode) {
                agent = sf_vm_agent_config(w, agent_fwd_port);
                extra[n_extra++] = (sf_seed_file) { SF_VM_AGENT_SEED_FILE, agent, strlen(agent) };
        }

        if (!w->meta_data) {
                host = hostname_of(w);
                r = sf_seed_meta_data(w->id, host, NULL, &meta, e);
                if (r < 0)
                        return r;
        }
        return sf_seed_write_extra(seed, w->meta_data ? w->meta_data : meta,
                                   w->user_data ? w->user_data : "#cloud-config\n",
                                   w->network_config, NULL, extra, n_extra, e);
}

/* A free TCP port on addr (IPv4), for a nested host's forward to its guest agent. QEMU binds
 * it right after; a port taken in between makes QEMU fail with its own message. */
static int free_port(const char *addr, unsigned *ret, sf_err *e)
{
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);

        if (fd < 0)
                return sf_err_errno(e, -errno, "socket");
        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return sf_err_set(e, -EINVAL, "nested_agent_addr", "'%s' is not an IPv4 address",
                                  addr);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return sf_err_errno(e, -errno, "a free port on %s", addr);
        *ret = ntohs(sa.sin_port);
        return 0;
}

static int register_vm(vm_compute *vc, const sf_workload_spec *w, sf_err *e)
{
        _cleanup_free_ char *link = xasprintf("%s/%s", vc->root, w->id);
        _cleanup_free_ char *tmp = NULL;
        char buf[4096];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);

        if (n > 0) {
                buf[n] = 0;
                if (STREQ(buf, w->state_dir))
                        return 0;
        }
        tmp = xasprintf("%s/.%s.tmp", vc->root, w->id);
        unlink(tmp);
        if (symlink(w->state_dir, tmp) < 0 || rename(tmp, link) < 0) {
                int r = -errno;
                unlink(tmp);
                return sf_err_errno(e, r, "register vm '%s' in '%s'", w->id, vc->root);
        }
        return 0;
}

static int vm_prepare(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        vm_compute *vc = vc_of(c);
        const char *fmt;
        int r = sf_vm_spec_check(w, e);

        if (r < 0)
                return r;
        if (w->kernel && access(w->kernel, R_OK) < 0)
                return field_errno(e, -errno, "kernel", w->kernel);
        if (w->initrd && access(w->initrd, R_OK) < 0)
                return field_errno(e, -errno, "initrd", w->initrd);
        r = sf_mkdir_p(w->state_dir, 0700, e);
        if (r < 0)
                return r;
        if (w->rootfs) {
                if (w->readonly_rootfs)
                        r = sf_vm_image_format(w->rootfs, &fmt, e);
                else
                        r = make_overlay(vc, w, e);
                if (r < 0)
                        return r;
        }
        r = write_seed(w, 0, e);
        if (r < 0)
                return sf_err_prefix(e, "vm '%s'", w->id);
        return register_vm(vc, w, e);
}

/* ---- start ---- */

static int read_status_line(int fd, uint64_t deadline, char **ret, sf_err *e)
{
        _cleanup_free_ char *buf = xmalloc(STATUS_LINE_MAX + 1);
        size_t len = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = sf_now_usec();
                int n = poll(&p, 1, now >= deadline ? 0 : (int) ((deadline - now) / 1000 + 1));
                ssize_t k;
                char *nl;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sf_err_errno(e, -errno, "poll monitor status");
                }
                if (n == 0)
                        return sf_err_set(e, -ETIMEDOUT, NULL, "no status from sf-vm-monitor");
                k = read(fd, buf + len, STATUS_LINE_MAX - len);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return sf_err_errno(e, -errno, "read monitor status");
                }
                if (k == 0)
                        return sf_err_set(e, -EPIPE, NULL,
                                          "sf-vm-monitor exited without a status");
                len += (size_t) k;
                buf[len] = 0;
                nl = strchr(buf, '\n');
                if (nl || len == STATUS_LINE_MAX) {
                        if (nl)
                                *nl = 0;
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
        }
}

static int parse_status_line(const char *line, pid_t *ret_pid, sf_err *e)
{
        char *end;
        long v;
        if (strncmp(line, "started ", 8) == 0) {
                errno = 0;
                v = strtol(line + 8, &end, 10);
                if (errno || *end || v <= 0 || v > INT32_MAX)
                        return sf_err_set(e, -EIO, NULL, "bad status from sf-vm-monitor: '%s'",
                                          line);
                *ret_pid = (pid_t) v;
                return 0;
        }
        if (strncmp(line, "error ", 6) == 0) {
                errno = 0;
                v = strtol(line + 6, &end, 10);
                if (errno || end == line + 6 || *end != ' ' || v <= 0 || v > 4095)
                        return sf_err_set(e, -EIO, NULL, "%s", line + 6);
                return sf_err_set(e, (int) -v, NULL, "%s", end + 1);
        }
        return sf_err_set(e, -EIO, NULL, "bad status from sf-vm-monitor: '%s'", line);
}

static char *file_tail(const char *path, size_t max)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if (sf_read_file(path, 1 << 20, &buf, &len, NULL) < 0 || len == 0)
                return NULL;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = 0;
        return xstrdup(len > max ? buf + len - max : buf);
}

/* Kills whatever a failed start left running: QEMU and its monitor (by verified pidfds). */
static void abort_start(const char *state_dir)
{
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        if (sf_vm_monitor_state_read(state_dir, &st, NULL) < 0)
                return;
        {
                _cleanup_close_ int q = qemu_pidfd(&st);
                if (q >= 0) {
                        sf_pidfd_kill(q, SIGKILL, NULL);
                        sf_pidfd_wait(q, KILL_TIMEOUT_MS, NULL);
                }
        }
        {
                _cleanup_close_ int m = sf_pidfd_open_verified(st.monitor_pid,
                                                               st.monitor_starttime, NULL);
                if (m >= 0 && sf_pidfd_wait(m, MONITOR_EXIT_TIMEOUT_MS, NULL) == -ETIMEDOUT) {
                        sf_pidfd_kill(m, SIGKILL, NULL);
                        sf_pidfd_wait(m, KILL_TIMEOUT_MS, NULL);
                }
        }
}

static int write_config(vm_compute *vc, const sf_workload_spec *w, const sf_vm_host *h,
                        char *const *argv, sf_err *e)
{
        _cleanup_json_ json_t *j = json_object(), *a = json_array();
        _cleanup_free_ char *path = state_file(w->state_dir, SF_VM_CONFIG_FILE);
        _cleanup_free_ char *sock = state_file(w->state_dir, SF_VM_QMP_SOCKET);
        _cleanup_free_ char *qlog = state_file(w->state_dir, SF_VM_QEMU_LOG);
        _cleanup_free_ char *console = sf_vm_console_path(w), *text = NULL;

        sf_json_set_str(j, "id", w->id);
        sf_json_set_str(j, "accel", sf_vm_accel_str(h->accel));
        sf_json_set_str(j, "accel_reason", vc->accel_reason);
        sf_json_set_str(j, "cpu", h->cpu ? h->cpu
                                         : h->accel == SF_VM_ACCEL_KVM ? "host" : "max");
        json_object_set_new(j, "vcpus", json_integer(sf_vm_vcpus(w)));
        json_object_set_new(j, "memory_mib", json_integer((json_int_t) sf_vm_memory_mib(w)));
        sf_json_set_str(j, "qmp_socket", sock);
        sf_json_set_str(j, "console_log", console);
        {
                /* The log is appended to across runs: this run's output starts here. */
                struct stat st;
                json_object_set_new(j, "console_offset",
                                    json_integer(stat(console, &st) == 0 ? (json_int_t) st.st_size
                                                                         : 0));
        }
        sf_json_set_str(j, "qemu_log", qlog);
        for (size_t i = 0; argv[i]; i++)
                json_array_append_new(a, json_string(argv[i]));
        json_object_set(j, "argv", a);
        text = sf_json_dumps(j);
        return sf_write_file_atomic(path, text, strlen(text), 0644, e);
}

static int vm_start(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                    sf_err *e)
{
        vm_compute *vc = vc_of(c);
        _cleanup_strv_free_ char **qargv = NULL, **margv = NULL;
        _cleanup_close_ int listen_fd = -EBADF, rfd = -EBADF, wfd = -EBADF;
        _cleanup_free_ char *line = NULL, *timeout = NULL, *seed = NULL, *socat = NULL;
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        _cleanup_qmp_ sf_qmp *q = NULL;
        _cleanup_json_ json_t *status = NULL;
        uint64_t deadline = sf_now_usec() + (uint64_t) vc->start_timeout_ms * 1000;
        sf_spawn_fd fds[SF_VM_MAX_NICS + 2];
        sf_spawn_opts o = SF_SPAWN_OPTS_INIT;
        sf_vm_host h = { .qemu = vc->qemu, .accel = vc->accel, .cpu = vc->cpu };
        size_t n_fds = 0;
        pid_t pid = 0, mpid;
        int p[2], r;

        r = sf_vm_spec_check(w, e);
        if (r < 0)
                return r;
        seed = state_file(w->state_dir, SF_VM_SEED_FILE);
        if (!file_exists(seed))
                return sf_err_set(e, -ENOENT, NULL, "start vm '%s': not prepared (no '%s')",
                                  w->id, seed);
        if (sf_vm_monitor_state_read(w->state_dir, &st, NULL) == 0) {
                _cleanup_close_ int fd = qemu_pidfd(&st);
                if (fd >= 0)
                        return sf_err_set(e, -EBUSY, NULL, "start vm '%s': it runs already "
                                                           "(QEMU pid %d)",
                                          w->id, (int) st.qemu_pid);
                wait_monitor(&st, MONITOR_EXIT_TIMEOUT_MS);
        }
        sf_vm_monitor_state_done(&st);
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *f = state_file(w->state_dir,
                                                    i ? SF_VM_MONITOR_FILE : SF_VM_EXIT_FILE);
                if (unlink(f) < 0 && errno != ENOENT)
                        return sf_err_errno(e, -errno, "remove '%s'", f);
        }
        if (w->rootfs) {
                if (w->readonly_rootfs) {
                        r = sf_vm_image_format(w->rootfs, &h.disk_format, e);
                        if (r < 0)
                                return sf_err_prefix(e, "start vm '%s'", w->id);
                } else {
                        _cleanup_free_ char *ov = state_file(w->state_dir, SF_VM_OVERLAY_FILE);
                        if (!file_exists(ov))
                                return sf_err_set(e, -ENOENT, NULL,
                                                  "start vm '%s': not prepared (no '%s')",
                                                  w->id, ov);
                        h.disk_format = "qcow2";
                }
        }
        if (w->nested_mode) {
                /* A nested host: socat for the management channel, a port for the forward
                 * to the guest agent, and the seed again with that port in it. */
                r = find_binary("socat", &socat, e);
                if (r < 0)
                        return sf_err_prefix(e, "start vm '%s': a nested host's management "
                                                "channel needs socat (Debian package socat)",
                                             w->id);
                h.socat = socat;
                if (w->nested_agent_addr) {
                        r = free_port(w->nested_agent_addr, &h.agent_fwd_port, e);
                        if (r < 0)
                                return sf_err_prefix(e, "start vm '%s'", w->id);
                }
                r = write_seed(w, h.agent_fwd_port, e);
                if (r < 0)
                        return sf_err_prefix(e, "start vm '%s'", w->id);
        }
        r = sf_vm_qemu_argv(w, &h, &qargv, e);
        if (r < 0)
                return r;
        r = write_config(vc, w, &h, qargv, e);
        if (r < 0)
                return sf_err_prefix(e, "start vm '%s'", w->id);
        {
                _cleanup_free_ char *sock = state_file(w->state_dir, SF_VM_QMP_SOCKET);
                listen_fd = sf_qmp_listen(sock, e);
                if (listen_fd < 0)
                        return sf_err_prefix(e, "start vm '%s'", w->id);
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return sf_err_errno(e, -errno, "pipe");
        rfd = p[0];
        wfd = p[1];

        /* The monitor gives up on QEMU a little before we give up on the monitor, so that
         * its message reaches the caller. */
        timeout = xasprintf("%d", MAX(vc->start_timeout_ms - 2000,
                                      vc->start_timeout_ms * 4 / 5));
        strv_push(&margv, xstrdup(vc->monitor));
        strv_push(&margv, xstrdup("--id"));
        strv_push(&margv, xstrdup(w->id));
        strv_push(&margv, xstrdup("--state-dir"));
        strv_push(&margv, xstrdup(w->state_dir));
        strv_push(&margv, xstrdup("--timeout"));
        strv_push(&margv, xstrdup(timeout));
        strv_push(&margv, xstrdup("--pass-fd"));
        strv_push(&margv, xasprintf("%d", SF_VM_QMP_FD));
        fds[n_fds++] = (sf_spawn_fd) { .fd = wfd, .target = SF_VM_STATUS_FD };
        fds[n_fds++] = (sf_spawn_fd) { .fd = listen_fd, .target = SF_VM_QMP_FD };
        for (size_t i = 0; i < w->n_tap_fds; i++) {
                int target = SF_VM_TAP_FD_BASE + (int) i;
                strv_push(&margv, xstrdup("--pass-fd"));
                strv_push(&margv, xasprintf("%d", target));
                fds[n_fds++] = (sf_spawn_fd) { .fd = w->tap_fds[i], .target = target };
        }
        strv_push(&margv, xstrdup("--"));
        for (size_t i = 0; qargv[i]; i++)
                strv_push(&margv, xstrdup(qargv[i]));
        o.argv = margv;
        o.fds = fds;
        o.n_fds = n_fds;
        o.new_session = true;
        r = sf_spawn(&o, &mpid, e);
        closep(&wfd);
        wfd = -EBADF;
        closep(&listen_fd); /* the monitor (and then QEMU) holds it */
        listen_fd = -EBADF;
        if (r < 0)
                goto fail;

        /* The first monitor process forks the real one and exits at once. */
        r = sf_spawn_wait(mpid, vc->start_timeout_ms, NULL, e);
        if (r < 0) {
                kill(mpid, SIGKILL);
                sf_spawn_wait(mpid, -1, NULL, NULL);
                goto fail;
        }
        r = read_status_line(rfd, deadline, &line, e);
        if (r == 0)
                r = parse_status_line(line, &pid, e);
        else if (r == -EPIPE) {
                _cleanup_free_ char *mlog = state_file(w->state_dir, SF_VM_MONITOR_LOG);
                _cleanup_free_ char *tail = file_tail(mlog, 500);
                r = sf_err_set(e, -EIO, NULL, "sf-vm-monitor exited without a status%s%s",
                               tail ? "; its log ends with: " : "", tail ? tail : "");
        } else if (r == -ETIMEDOUT)
                r = sf_err_set(e, -ETIMEDOUT, NULL, "no answer from sf-vm-monitor within %d ms",
                               vc->start_timeout_ms);
        if (r < 0)
                goto fail;

        /* QEMU is set up (its QMP greeting reached the monitor); make sure ours works. */
        r = qmp_connect(w->state_dir, w->id, &q, e);
        if (r == 0)
                r = sf_qmp_execute(q, "query-status", NULL, &status, e);
        if (r < 0)
                goto fail;
        r = sf_vm_monitor_state_read(w->state_dir, &st, e);
        if (r < 0)
                goto fail;
        log_debug("vm '%s' started: QEMU pid %d, %s", w->id, (int) pid,
                  sf_vm_accel_str(vc->accel));
        *ret = (sf_workload_status) {
                .state = SF_WORKLOAD_RUNNING,
                .pid = pid,
                .started_usec = st.started_usec ? st.started_usec : sf_realtime_usec(),
        };
        return 0;

fail:
        abort_start(w->state_dir);
        {
                _cleanup_free_ char *sock = state_file(w->state_dir, SF_VM_QMP_SOCKET);
                unlink(sock);
        }
        return sf_err_prefix(e, "start vm '%s'", w->id);
}

/* ---- stop / remove ---- */

/* Presses the power button until QEMU exits or the deadline passes. */
static void powerdown(sf_qmp *q, int pidfd, uint64_t deadline, const char *id)
{
        _cleanup_json_ json_t *status = NULL;
        const char *s;

        if (sf_qmp_execute(q, "query-status", NULL, &status, NULL) == 0 &&
            (s = json_string_value(json_object_get(status, "status"))) && STREQ(s, "paused")) {
                /* A paused guest cannot see the button: let it run to shut down. */
                sf_qmp_execute(q, "cont", NULL, NULL, NULL);
        }
        for (;;) {
                uint64_t now = sf_now_usec();
                int left;
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                if (now >= deadline)
                        return;
                if (sf_qmp_execute(q, "system_powerdown", NULL, NULL, &e2) < 0) {
                        log_debug("vm '%s': %s", id, sf_err_msg(&e2));
                        return;
                }
                left = (int) ((deadline - now) / 1000);
                if (sf_pidfd_wait(pidfd, MIN(left, POWERDOWN_REPEAT_MS), NULL) == 0)
                        return;
        }
}

/* Forces QEMU down: QMP quit, then SIGKILL. */
static int force_down(sf_qmp *q, int pidfd, const sf_workload_spec *w, pid_t pid, sf_err *e)
{
        if (q) {
                /* QEMU may close the connection before it answers: only its exit counts. */
                sf_qmp_execute_timeout(q, "quit", NULL, QUIT_TIMEOUT_MS, NULL, NULL);
                if (sf_pidfd_wait(pidfd, QUIT_TIMEOUT_MS, NULL) == 0)
                        return 0;
        }
        sf_pidfd_kill(pidfd, SIGKILL, NULL);
        if (sf_pidfd_wait(pidfd, KILL_TIMEOUT_MS, NULL) == -ETIMEDOUT)
                return sf_err_set(e, -ETIMEDOUT, NULL,
                                  "vm '%s': QEMU (pid %d) survived SIGKILL for %d ms", w->id,
                                  (int) pid, KILL_TIMEOUT_MS);
        return 0;
}

static int vm_stop(sf_compute *c, const sf_workload_spec *w, int timeout_ms, sf_err *e)
{
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_qmp_ sf_qmp *q = NULL;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        r = sf_vm_monitor_state_read(w->state_dir, &st, e);
        if (r == -ENOENT) {
                sf_err_clear(e);
                return 0; /* never started: nothing runs */
        }
        if (r < 0)
                return sf_err_prefix(e, "stop vm '%s'", w->id);
        fd = qemu_pidfd(&st);
        if (fd >= 0) {
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                uint64_t deadline = sf_now_usec() + (uint64_t) MAX(timeout_ms, 0) * 1000;
                if (qmp_connect(w->state_dir, w->id, &q, &e2) < 0)
                        log_debug("%s; killing it", sf_err_msg(&e2));
                else
                        powerdown(q, fd, deadline, w->id);
                if (alive(fd)) {
                        log_debug("vm '%s' did not power off within %d ms, forcing it", w->id,
                                  timeout_ms);
                        r = force_down(q, fd, w, st.qemu_pid, e);
                        if (r < 0)
                                return sf_err_prefix(e, "stop vm '%s'", w->id);
                }
        }
        wait_monitor(&st, MONITOR_EXIT_TIMEOUT_MS);
        return 0;
}

static char *registered_state_dir(vm_compute *vc, const char *id)
{
        _cleanup_free_ char *link = xasprintf("%s/%s", vc->root, id);
        char buf[4096];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return xstrdup(buf);
}

static int vm_remove(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        static const char *const files[] = {
                SF_VM_OVERLAY_FILE, SF_VM_OVERLAY_FILE ".tmp", SF_VM_SEED_FILE,
                SF_VM_QMP_SOCKET,   SF_VM_CONFIG_FILE,          SF_VM_MONITOR_FILE,
                SF_VM_EXIT_FILE,
        };
        vm_compute *vc = vc_of(c);
        _cleanup_free_ char *link = NULL, *reg = NULL;
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        const char *dir;

        if (!w->id || !sf_name_valid(w->id))
                return sf_err_set(e, -EINVAL, "id", "must be a valid name");
        if (w->state_dir && w->state_dir[0] != '/')
                return sf_err_set(e, -EINVAL, "state_dir", "must be an absolute path");
        reg = registered_state_dir(vc, w->id);
        dir = w->state_dir ? w->state_dir : reg;
        if (dir && sf_vm_monitor_state_read(dir, &st, NULL) == 0) {
                _cleanup_close_ int fd = qemu_pidfd(&st);
                if (fd >= 0) {
                        int r = force_down(NULL, fd, w, st.qemu_pid, e);
                        if (r < 0)
                                return sf_err_prefix(e, "remove vm '%s'", w->id);
                }
                {
                        _cleanup_close_ int m = sf_pidfd_open_verified(st.monitor_pid,
                                                                       st.monitor_starttime,
                                                                       NULL);
                        if (m >= 0 &&
                            sf_pidfd_wait(m, MONITOR_EXIT_TIMEOUT_MS, NULL) == -ETIMEDOUT) {
                                sf_pidfd_kill(m, SIGKILL, NULL);
                                sf_pidfd_wait(m, KILL_TIMEOUT_MS, NULL);
                        }
                }
        }
        for (size_t i = 0; dir && i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *f = state_file(dir, files[i]);
                if (unlink(f) < 0 && errno != ENOENT)
                        return sf_err_errno(e, -errno, "remove vm '%s': '%s'", w->id, f);
        }
        link = xasprintf("%s/%s", vc->root, w->id);
        if (unlink(link) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "remove vm '%s': '%s'", w->id, link);
        return 0;
}

/* ---- adopt / watch / reap ---- */

static void status_from_exit(const sf_vm_monitor_state *st, const sf_exit_record *rec,
                             sf_workload_status *ret)
{
        *ret = (sf_workload_status) {
                .state = SF_WORKLOAD_EXITED,
                .pid = st->qemu_pid,
                .started_usec = st->started_usec,
        };
        if (rec) {
                ret->exit_known = true;
                ret->exit_code = rec->exit_code;
                ret->exit_signal = rec->signal;
                ret->finished_usec = rec->finished_usec;
        }
}

static int vm_adopt(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                    sf_err *e)
{
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        _cleanup_close_ int fd = -EBADF;
        sf_exit_record rec;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        r = sf_vm_monitor_state_read(w->state_dir, &st, e);
        if (r == -ENOENT) {
                _cleanup_free_ char *seed = state_file(w->state_dir, SF_VM_SEED_FILE);
                sf_err_clear(e);
                if (file_exists(seed)) {
                        *ret = (sf_workload_status) { .state = SF_WORKLOAD_CREATED };
                        return 0;
                }
                return sf_err_set(e, -ENOENT, NULL, "vm '%s' is unknown (nothing in '%s')",
                                  w->id, w->state_dir);
        }
        if (r < 0)
                return r;
        if (STRNEQ(st.id, w->id))
                return sf_err_set(e, -EINVAL, NULL, "'%s' holds vm '%s', not '%s'",
                                  w->state_dir, st.id, w->id);
        if (sf_exit_record_read(w->state_dir, &rec, NULL) == 0) {
                status_from_exit(&st, &rec, ret);
                return 0;
        }
        if (st.qemu_pid == 0) {
                /* The monitor died before QEMU ran, or is starting it right now. */
                *ret = (sf_workload_status) { .state = SF_WORKLOAD_UNKNOWN };
                return 0;
        }
        fd = qemu_pidfd(&st);
        if (fd >= 0) {
                /* Reconnect to QMP: proves the VM is ours and answering. */
                _cleanup_qmp_ sf_qmp *q = NULL;
                _cleanup_json_ json_t *status = NULL;
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                if (qmp_connect(w->state_dir, w->id, &q, &e2) < 0 ||
                    sf_qmp_execute(q, "query-status", NULL, &status, &e2) < 0)
                        log_debug("adopt: %s", sf_err_msg(&e2));
                *ret = (sf_workload_status) {
                        .state = SF_WORKLOAD_RUNNING,
                        .pid = st.qemu_pid,
                        .started_usec = st.started_usec,
                };
                return 0;
        }
        /* QEMU is gone; a live monitor is about to write the record. */
        wait_monitor(&st, MONITOR_EXIT_TIMEOUT_MS);
        status_from_exit(&st, sf_exit_record_read(w->state_dir, &rec, NULL) == 0 ? &rec : NULL,
                         ret);
        return 0;
}

static int vm_watch(sf_compute *c, const sf_workload_spec *w, int *ret_fd, sf_err *e)
{
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        int fd, r = check_ref(w, e);

        if (r < 0)
                return r;
        r = sf_vm_monitor_state_read(w->state_dir, &st, e);
        if (r < 0)
                return r == -ENOENT ? sf_err_set(e, -ESRCH, NULL, "vm '%s' never ran", w->id)
                                    : r;
        if (st.qemu_pid == 0)
                return sf_err_set(e, -ESRCH, NULL, "vm '%s' is not running", w->id);
        fd = sf_pidfd_open_verified(st.qemu_pid, st.qemu_starttime, e);
        if (fd < 0)
                return sf_err_set(e, -ESRCH, NULL, "vm '%s' is not running", w->id);
        *ret_fd = fd;
        return 0;
}

static int vm_reap(sf_compute *c, const sf_workload_spec *w, sf_workload_status *ret,
                   sf_err *e)
{
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        sf_exit_record rec;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        r = sf_vm_monitor_state_read(w->state_dir, &st, e);
        if (r < 0)
                return r;
        if (sf_exit_record_read(w->state_dir, &rec, NULL) < 0) {
                wait_monitor(&st, MONITOR_EXIT_TIMEOUT_MS);
                if (sf_exit_record_read(w->state_dir, &rec, NULL) < 0) {
                        /* A lost exit status is reported as exit_known = false. */
                        status_from_exit(&st, NULL, ret);
                        return 0;
                }
        }
        status_from_exit(&st, &rec, ret);
        return 0;
}

static int vm_exec(sf_compute *c, const sf_workload_spec *w, char *const *argv,
                   char *const *env, int timeout_ms, char **ret_out, char **ret_err,
                   int *ret_exit_code, sf_err *e)
{
        return sf_err_set(e, -EOPNOTSUPP, NULL,
                          "exec in vm '%s': not supported (no guest agent)",
                          w->id ? w->id : "");
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int vm_list(sf_compute *c, char ***ret_ids, sf_err *e)
{
        vm_compute *vc = vc_of(c);
        _cleanup_strv_free_ char **ids = NULL;
        DIR *d = opendir(vc->root);
        struct dirent *de;

        if (!d) {
                if (errno != ENOENT)
                        return sf_err_errno(e, -errno, "open '%s'", vc->root);
        } else {
                while ((de = readdir(d)))
                        if (de->d_type == DT_LNK && sf_name_valid(de->d_name))
                                strv_push(&ids, xstrdup(de->d_name));
                closedir(d);
        }
        if (!ids)
                ids = new0(char *, 1);
        qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
        *ret_ids = TAKE_PTR(ids);
        return 0;
}

/* ---- VM-only operations ---- */

static int simple_command(sf_compute *c, const sf_workload_spec *w, const char *cmd,
                          const char *what, sf_err *e)
{
        _cleanup_qmp_ sf_qmp *q = NULL;
        int r = connect_running(w, &q, e);
        if (r == 0)
                r = sf_qmp_execute(q, cmd, NULL, NULL, e);
        if (r < 0)
                return sf_err_wrap(r, e, "%s vm '%s'", what, w->id ? w->id : "");
        return 0;
}

static int check_driver(sf_compute *c, sf_err *e)
{
        if (!c || c->driver != &sf_vm_driver)
                return sf_err_set(e, -EINVAL, "kind", "not a vm driver instance");
        return 0;
}

const char *sf_vm_accel_get(sf_compute *c, const char **ret_reason)
{
        vm_compute *vc = vc_of(c);
        if (ret_reason)
                *ret_reason = vc->accel_reason;
        return sf_vm_accel_str(vc->accel);
}

int sf_vm_reboot(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        int r = check_driver(c, e);
        return r < 0 ? r : simple_command(c, w, "system_reset", "reboot", e);
}

int sf_vm_pause(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        int r = check_driver(c, e);
        return r < 0 ? r : simple_command(c, w, "stop", "pause", e);
}

int sf_vm_resume(sf_compute *c, const sf_workload_spec *w, sf_err *e)
{
        int r = check_driver(c, e);
        return r < 0 ? r : simple_command(c, w, "cont", "resume", e);
}

int sf_vm_qmp(sf_compute *c, const sf_workload_spec *w, const char *cmd, json_t *args,
              json_t **ret, sf_err *e)
{
        _cleanup_qmp_ sf_qmp *q = NULL;
        int r = check_driver(c, e);
        if (r < 0)
                return r;
        if (!cmd || !*cmd)
                return sf_err_set(e, -EINVAL, "command", "must name a QMP command");
        r = connect_running(w, &q, e);
        if (r == 0)
                r = sf_qmp_execute(q, cmd, args, ret, e);
        return r;
}

void sf_vm_info_done(sf_vm_info *i)
{
        if (!i)
                return;
        free(i->accel_reason);
        free(i->cpu);
        free(i->run_state);
        free(i->qmp_socket);
        free(i->console_log);
        free(i->qemu_log);
        free(i->shutdown_reason);
        *i = (sf_vm_info) { 0 };
}

int sf_vm_info_read(const char *state_dir, bool live, sf_vm_info *ret, sf_err *e)
{
        _cleanup_(sf_vm_info_done) sf_vm_info info = { 0 };
        _cleanup_vm_monitor_state_ sf_vm_monitor_state st = { 0 };
        _cleanup_free_ char *cfg_path = NULL, *buf = NULL;
        _cleanup_json_ json_t *cfg = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *s;
        int64_t v = 0;
        size_t len;
        int r;

        if (!state_dir || state_dir[0] != '/')
                return sf_err_set(e, -EINVAL, "state_dir", "must be an absolute path");
        cfg_path = state_file(state_dir, SF_VM_CONFIG_FILE);
        r = sf_read_file(cfg_path, CONFIG_FILE_MAX, &buf, &len, e);
        if (r < 0)
                return r == -ENOENT ? sf_err_set(e, r, NULL, "no vm started in '%s'", state_dir)
                                    : r;
        r = sf_json_parse(buf, len, &cfg, e);
        if (r < 0)
                return sf_err_prefix(e, "%s", cfg_path);
        if (sf_json_str(cfg, "accel", false, &s, NULL) == 0 && s)
                snprintf(info.accel, sizeof(info.accel), "%s", s);
        s = NULL;
        sf_json_str(cfg, "accel_reason", false, &s, NULL);
        info.accel_reason = xstrdup(s);
        s = NULL;
        sf_json_str(cfg, "cpu", false, &s, NULL);
        info.cpu = xstrdup(s);
        if (sf_json_int(cfg, "vcpus", false, 0, 1024, &v, NULL) == 0)
                info.vcpus = (unsigned) v;
        v = 0;
        if (sf_json_int(cfg, "memory_mib", false, 0, INT64_MAX >> 20, &v, NULL) == 0)
                info.memory_bytes = (uint64_t) v << 20;
        s = NULL;
        sf_json_str(cfg, "qmp_socket", false, &s, NULL);
        info.qmp_socket = xstrdup(s);
        s = NULL;
        sf_json_str(cfg, "console_log", false, &s, NULL);
        info.console_log = xstrdup(s);
        s = NULL;
        sf_json_str(cfg, "qemu_log", false, &s, NULL);
        info.qemu_log = xstrdup(s);
        v = 0;
        if (sf_json_int(cfg, "console_offset", false, 0, INT64_MAX, &v, NULL) == 0)
                info.console_offset = (uint64_t) v;

        if (sf_vm_monitor_state_read(state_dir, &st, NULL) == 0) {
                info.qemu_pid = st.qemu_pid;
                info.monitor_pid = st.monitor_pid;
                info.started_usec = st.started_usec;
                info.ready_usec = st.ready_usec;
                info.shutdown_reason = xstrdup(st.shutdown_reason);
                info.shutdown_guest = st.shutdown_guest;
                info.resets = st.resets;
                info.run_state = xstrdup(st.run_state);
                fd = qemu_pidfd(&st);
        }
        info.running = fd >= 0;
        if (!info.running && (!info.run_state || STRNEQ(info.run_state, "exited"))) {
                free(info.run_state);
                info.run_state = xstrdup(st.qemu_pid ? "exited" : "unknown");
        }
        if (live && info.running) {
                _cleanup_qmp_ sf_qmp *q = NULL;
                _cleanup_json_ json_t *status = NULL;
                r = sf_qmp_connect(info.qmp_socket, QMP_TIMEOUT_MS, &q, e);
                if (r == 0)
                        r = sf_qmp_execute(q, "query-status", NULL, &status, e);
                if (r < 0)
                        return sf_err_prefix(e, "vm in '%s'", state_dir);
                s = json_string_value(json_object_get(status, "status"));
                free(info.run_state);
                info.run_state = xstrdup(s ? s : "unknown");
        }
        info.paused = info.running && info.run_state && STREQ(info.run_state, "paused");
        *ret = info;
        info = (sf_vm_info) { 0 };
        return 0;
}

int sf_vm_console_tail(const sf_workload_spec *w, size_t max, char **ret, sf_err *e)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len;
        ssize_t n;
        char *start;
        int r = check_ref(w, e);

        if (r < 0)
                return r;
        path = sf_vm_console_path(w);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", path);
        if (fstat(fd, &st) < 0)
                return sf_err_errno(e, -errno, "stat '%s'", path);
        len = (size_t) MIN((uint64_t) st.st_size, (uint64_t) max);
        buf = xmalloc(len + 1);
        n = pread(fd, buf, len, st.st_size - (off_t) len);
        if (n < 0)
                return sf_err_errno(e, -errno, "read '%s'", path);
        buf[n] = 0;
        start = buf;
        if ((off_t) len < st.st_size) {
                char *nl = memchr(buf, '\n', (size_t) n);
                if (nl && nl + 1 < buf + n)
                        start = nl + 1;
        }
        *ret = xstrdup(start);
        return 0;
}

const struct sf_compute_driver sf_vm_driver = {
        .kind = "vm",
        .open = vm_open,
        .close = vm_close,
        .prepare = vm_prepare,
        .start = vm_start,
        .stop = vm_stop,
        .remove = vm_remove,
        .adopt = vm_adopt,
        .watch = vm_watch,
        .reap = vm_reap,
        .exec = vm_exec,
        .list = vm_list,
};
