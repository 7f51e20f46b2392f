/* The pure parts of running QEMU for the VM driver: accelerator probe and choice, image
 * format detection, spec validation, spec -> argv, and the monitor's state file. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "sf-config.h"

#include "agent/compute/vm-qemu.h"
#include "lib/addr.h"
#include "lib/json.h"
#include "lib/util.h"

#define STATE_FILE_MAX (64 * 1024)

const char *sf_vm_accel_str(sf_vm_accel a)
{
        return a == SF_VM_ACCEL_KVM ? "kvm" : "tcg";
}

/* ---- accelerator ---- */

static bool cpu_has_hw_virt(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
        char line[8192];

        if (!f)
                return false;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "flags", 5) != 0)
                        continue;
                for (char *save = NULL, *t = strtok_r(strchr(line, ':') ? strchr(line, ':') + 1
                                                                       : line,
                                                      " \t\n", &save);
                     t; t = strtok_r(NULL, " \t\n", &save))
                        if (STREQ(t, "vmx") || STREQ(t, "svm"))
                                return true;
                return false; /* the first CPU's flags are enough */
        }
        return false;
}

void sf_kvm_probe_host(sf_kvm_probe *ret)
{
        _cleanup_close_ int fd = -EBADF, vm = -EBADF;
        int v;

        *ret = (sf_kvm_probe) { .hw_virt = cpu_has_hw_virt() };
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                ret->open_error = errno;
                return;
        }
        v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v != KVM_API_VERSION) {
                ret->create_error = v < 0 ? errno : EPROTO;
                return;
        }
        vm = ioctl(fd, KVM_CREATE_VM, 0);
        if (vm < 0)
                ret->create_error = errno;
}

int sf_vm_accel_choose(const char *requested, const sf_kvm_probe *p, sf_vm_accel *ret,
                       char **ret_reason, sf_err *e)
{
        _cleanup_free_ char *why_not = NULL;

        if (p->open_error)
                why_not = xasprintf("/dev/kvm: %s", strerror(p->open_error));
        else if (p->create_error)
                why_not = xasprintf("/dev/kvm cannot create VMs: %s",
                                    strerror(p->create_error));

        if (requested && STREQ(requested, "tcg")) {
                *ret = SF_VM_ACCEL_TCG;
                *ret_reason = xstrdup("TCG requested");
                return 0;
        }
        if (requested && STREQ(requested, "kvm")) {
                if (why_not)
                        return sf_err_set(e, -EOPNOTSUPP, "accel", "KVM requested but %s",
                                          why_not);
                *ret = SF_VM_ACCEL_KVM;
                *ret_reason = xstrdup(p->hw_virt ? "KVM requested"
                                                 : "KVM requested (the CPU reports no vmx/svm: "
                                                   "KVM is emulated and slow here)");
                return 0;
        }
        if (requested && *requested && STRNEQ(requested, "auto"))
                return sf_err_set(e, -EINVAL, "accel", "must be kvm, tcg or auto, not '%s'",
                                  requested);
        if (why_not) {
                *ret = SF_VM_ACCEL_TCG;
                *ret_reason = xasprintf("no KVM (%s): using TCG", why_not);
        } else if (!p->hw_virt) {
                *ret = SF_VM_ACCEL_TCG;
                *ret_reason = xstrdup("/dev/kvm works but the CPU reports no hardware "
                                      "virtualisation (vmx/svm): KVM would be emulated and "
                                      "slower than TCG; using TCG (accel=kvm forces KVM)");
        } else {
                *ret = SF_VM_ACCEL_KVM;
                *ret_reason = xstrdup("KVM available");
        }
        return 0;
}

/* ---- images ---- */

int sf_vm_image_format(const char *path, const char **ret, sf_err *e)
{
        static const struct {
                const char *magic;
                size_t off, len;
                const char *name;
        } other[] = {
                { "KDMV", 0, 4, "vmdk" },
                { "# Disk DescriptorFile", 0, 21, "vmdk" },
                { "vhdxfile", 0, 8, "vhdx" },
                { "conectix", 0, 8, "vpc" },
                { "<<< Oracle VM VirtualBox Disk Image >>>", 0, 39, "vdi" },
                { "LUKS\xba\xbe", 0, 6, "luks" },
                { "QEVM", 0, 4, "qed" },
        };
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        uint8_t b[512] = { 0 };
        struct stat st;
        ssize_t n;

        if (fd < 0)
                return sf_err_errno(e, -errno, "open image '%s'", path);
        if (fstat(fd, &st) < 0)
                return sf_err_errno(e, -errno, "stat image '%s'", path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return sf_err_set(e, -EINVAL, NULL,
                                  "image '%s' is not a regular file or block device", path);
        n = pread(fd, b, sizeof(b), 0);
        if (n < 0)
                return sf_err_errno(e, -errno, "read image '%s'", path);
        if (n >= 4 && memcmp(b, "QFI\xfb", 4) == 0) {
                *ret = "qcow2";
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(other); i++)
                if ((size_t) n >= other[i].off + other[i].len &&
                    memcmp(b + other[i].off, other[i].magic, other[i].len) == 0)
                        return sf_err_set(e, -EOPNOTSUPP, NULL,
                                          "image '%s' is %s; convert it to qcow2 or raw "
                                          "(qemu-img convert -O qcow2)",
                                          path, other[i].name);
        *ret = "raw";
        return 0;
}

static uint64_t be64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int sf_qcow2_backing_file(const char *path, char **ret, sf_err *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *name = NULL;
        uint8_t h[72];
        uint64_t off;
        uint32_t len;

        if (fd < 0)
                return sf_err_errno(e, -errno, "open '%s'", path);
        if (pread(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h) || memcmp(h, "QFI\xfb", 4) != 0)
                return sf_err_set(e, -EINVAL, NULL, "'%s' is not a qcow2 image", path);
        off = be64(h + 8);
        len = be32(h + 16);
        if (off == 0 || len == 0) {
                *ret = NULL;
                return 0;
        }
        if (len > 1023)
                return sf_err_set(e, -EINVAL, NULL, "'%s': backing file name too long", path);
        name = xzalloc(len + 1);
        if (pread(fd, name, len, (off_t) off) != (ssize_t) len)
                return sf_err_set(e, -EIO, NULL, "'%s': cannot read the backing file name",
                                  path);
        *ret = TAKE_PTR(name);
        return 0;
}

/* ---- spec ---- */

static bool absolute(const char *p)
{
        return p && p[0] == '/';
}

static bool has_newline(const char *s)
{
        return s && strpbrk(s, "\n\r");
}

int sf_vm_spec_check(const sf_workload_spec *w, sf_err *e)
{
        if (!w->id || !sf_name_valid(w->id))
                return sf_err_set(e, -EINVAL, "id", "must be a valid name");
        if (!absolute(w->state_dir))
                return sf_err_set(e, -EINVAL, "state_dir", "must be an absolute path");
        if (w->log_path && !absolute(w->log_path))
                return sf_err_set(e, -EINVAL, "log_path", "must be an absolute path");
        if (w->while_creating)
                return sf_err_set(e, -EINVAL, "while_creating",
                                  "is for containers: a VM's taps are plumbed before it starts");
        if (w->cpu_millicores < 1 || w->cpu_millicores > 64000)
                return sf_err_set(e, -EINVAL, "cpu", "must be between 1 and 64000 millicores");
        if (w->memory_bytes &&
            (w->memory_bytes < SF_VM_MIN_MEMORY || w->memory_bytes > SF_VM_MAX_MEMORY))
                return sf_err_set(e, -EINVAL, "memory",
                                  "a VM needs between 32 MiB and 1 TiB (0: 512 MiB)");
        if (!w->rootfs && !w->kernel)
                return sf_err_set(e, -EINVAL, "rootfs",
                                  "a VM needs a disk image or a kernel to boot");
        if (w->rootfs && !absolute(w->rootfs))
                return sf_err_set(e, -EINVAL, "rootfs", "must be an absolute path");
        if (w->kernel && !absolute(w->kernel))
                return sf_err_set(e, -EINVAL, "kernel", "must be an absolute path");
        if (w->initrd && !absolute(w->initrd))
                return sf_err_set(e, -EINVAL, "initrd", "must be an absolute path");
        if (!w->kernel && (w->initrd || w->cmdline || (w->args && w->args[0])))
                return sf_err_set(e, -EINVAL, w->initrd ? "initrd" : w->cmdline ? "cmdline" : "args",
                                  "needs a kernel (direct kernel boot)");
        if (has_newline(w->cmdline))
                return sf_err_set(e, -EINVAL, "cmdline", "must be one line");
        for (size_t i = 0; w->args && w->args[i]; i++)
                if (has_newline(w->args[i]) || !*w->args[i]) {
                        char f[32];
                        snprintf(f, sizeof(f), "args[%zu]", i);
                        return sf_err_set(e, -EINVAL, f, "must be a non-empty single line");
                }
        if (w->netns_path)
                return sf_err_set(e, -EINVAL, "netns_path", "VMs take tap fds, not a netns");
        if (w->n_mounts)
                return sf_err_set(e, -EOPNOTSUPP, "mounts",
                                  "host directories cannot be mounted into VMs; use the seed");
        if (w->n_tap_fds > SF_VM_MAX_NICS)
                return sf_err_set(e, -EINVAL, "tap_fds", "at most %d NICs", SF_VM_MAX_NICS);
        if (w->nested_mode) {
                _cleanup_free_ char *host = NULL;
                unsigned port;
                const char *node = w->nested_node ? w->nested_node : w->name ? w->name : w->id;
                int r;
                if (STRNEQ(w->nested_mode, "vlan") && STRNEQ(w->nested_mode, "macvlan"))
                        return sf_err_set(e, -EINVAL, "nested_mode",
                                          "must be vlan or macvlan, not '%s'", w->nested_mode);
                if (w->n_tap_fds == 0)
                        return sf_err_set(e, -EINVAL, "nested_mode",
                                          "a nested host needs a port: its first NIC carries "
                                          "the nested containers");
                if (!w->nested_controller)
                        return sf_err_set(e, -EINVAL, "controller",
                                          "a nested host needs the controller's URL");
                r = sf_vm_controller_target(w->nested_controller, &host, &port, e);
                if (r < 0)
                        return r;
                if (!sf_name_valid(node))
                        return sf_err_set(e, -EINVAL, "name",
                                          "'%s' cannot be the nested host's node name", node);
                if (w->nested_agent_addr) {
                        sf_addr a;
                        if (sf_addr_parse(w->nested_agent_addr, &a) < 0 ||
                            !strchr(w->nested_agent_addr, '.') ||
                            strchr(w->nested_agent_addr, '/'))
                                return sf_err_set(e, -EINVAL, "nested_agent_addr",
                                                  "'%s' is not an IPv4 address",
                                                  w->nested_agent_addr);
                }
        }
        for (size_t i = 0; i < w->n_tap_fds; i++) {
                char f[32];
                uint8_t m[6];
                if (!w->tap_fds || w->tap_fds[i] < 0) {
                        snprintf(f, sizeof(f), "tap_fds[%zu]", i);
                        return sf_err_set(e, -EBADF, f, "not an open fd");
                }
                if (!w->tap_macs || !w->tap_macs[i])
                        continue;
                snprintf(f, sizeof(f), "tap_macs[%zu]", i);
                if (sf_mac_parse(w->tap_macs[i], m) < 0 || sf_mac_is_multicast(m) ||
                    sf_mac_is_zero(m))
                        return sf_err_set(e, -EINVAL, f, "'%s' is not a unicast MAC address",
                                          w->tap_macs[i]);
                for (size_t j = 0; j < i; j++) {
                        char other[18];
                        sf_vm_nic_mac(w, j, other);
                        if (strcasecmp(other, w->tap_macs[i]) == 0)
                                return sf_err_set(e, -EINVAL, f, "same MAC as NIC %zu", j);
                }
        }
        return 0;
}

unsigned sf_vm_vcpus(const sf_workload_spec *w)
{
        return MAX((w->cpu_millicores + 999) / 1000, 1u);
}

uint64_t sf_vm_memory_mib(const sf_workload_spec *w)
{
        uint64_t b = w->memory_bytes ? w->memory_bytes : SF_VM_DEFAULT_MEMORY;
        return (b + (1 << 20) - 1) >> 20;
}

void sf_vm_nic_mac(const sf_workload_spec *w, size_t i, char buf[static 18])
{
        uint8_t m[6] = { 0x52, 0x54, 0x00 };
        uint32_t h = 2166136261u;

        if (w->tap_macs && w->tap_macs[i] && sf_mac_parse(w->tap_macs[i], m) == 0) {
                sf_mac_fmt(m, buf);
                return;
        }
        for (const char *p = w->id; p && *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        h = (h ^ (uint8_t) i) * 16777619u;
        m[3] = (uint8_t) (h >> 16);
        m[4] = (uint8_t) (h >> 8);
        m[5] = (uint8_t) h;
        sf_mac_fmt(m, buf);
}

char *sf_vm_kernel_cmdline(const sf_workload_spec *w)
{
        char *s = xstrdup(w->cmdline ? w->cmdline : SF_VM_DEFAULT_CMDLINE);
        for (size_t i = 0; w->args && w->args[i]; i++) {
                char *n = xasprintf("%s%s%s", s, *s ? " " : "", w->args[i]);
                free(s);
                s = n;
        }
        return s;
}

char *sf_vm_path(const sf_workload_spec *w, const char *file)
{
        return xasprintf("%s/%s", w->state_dir, file);
}

char *sf_vm_console_path(const sf_workload_spec *w)
{
        return w->log_path ? xstrdup(w->log_path) : sf_vm_path(w, SF_VM_CONSOLE_LOG);
}

/* ---- nested hosts ---- */

int sf_vm_controller_target(const char *url, char **ret_host, unsigned *ret_port, sf_err *e)
{
        const char *h, *end, *p;
        unsigned long port = 80;
        size_t len;

        if (!url || strncmp(url, "http://", 7) != 0)
                return sf_err_set(e, -EINVAL, "controller",
                                  "a nested host reaches the controller through a plain TCP "
                                  "forward: only http:// URLs are supported, not '%s'",
                                  url ? url : "(none)");
        h = url + 7;
        if (*h == '[') {
                end = strchr(h, ']');
                if (!end || end == h + 1)
                        return sf_err_set(e, -EINVAL, "controller", "bad IPv6 host in '%s'", url);
                for (p = h + 1; p < end; p++)
                        if (!strchr("0123456789abcdefABCDEF:.", *p))
                                return sf_err_set(e, -EINVAL, "controller",
                                                  "bad IPv6 host in '%s'", url);
                len = (size_t) (end - h - 1);
                h++;
                end++;
        } else {
                end = h + strcspn(h, ":/");
                len = (size_t) (end - h);
                if (len == 0 || len > 253)
                        return sf_err_set(e, -EINVAL, "controller", "no host in '%s'", url);
                for (p = h; p < end; p++)
                        if (!isalnum((unsigned char) *p) && *p != '.' && *p != '-')
                                return sf_err_set(e, -EINVAL, "controller",
                                                  "bad host name in '%s'", url);
        }
        if (*end == ':') {
                char *q;
                errno = 0;
                port = strtoul(end + 1, &q, 10);
                if (errno || q == end + 1 || port == 0 || port > 65535 || (*q && *q != '/'))
                        return sf_err_set(e, -EINVAL, "controller", "bad port in '%s'", url);
                end = q;
        }
        if (*end && *end != '/')
                return sf_err_set(e, -EINVAL, "controller", "bad URL '%s'", url);
        if (*end == '/' && end[1])
                return sf_err_set(e, -EINVAL, "controller",
                                  "'%s': a URL with a path cannot be forwarded to the guest", url);
        *ret_host = xasprintf("%.*s", (int) len, h);
        *ret_port = (unsigned) port;
        return 0;
}

char *sf_vm_agent_config(const sf_workload_spec *w, unsigned agent_fwd_port)
{
        char link[18];
        _cleanup_free_ char *agent = agent_fwd_port && w->nested_agent_addr
                                             ? xasprintf("agent_url=http://%s:%u\n",
                                                         w->nested_agent_addr, agent_fwd_port)
                                             : xstrdup("");

        sf_vm_nic_mac(w, 0, link);
        return xasprintf("controller=http://%s:%d\n"
                         "node=%s\n"
                         "parent=%s\n"
                         "mode=%s\n"
                         "link_mac=%s\n"
                         "mgmt_mac=%s\n"
                         "mgmt_ip=%s/%d\n"
                         "%s",
                         SF_VM_MGMT_CONTROLLER_IP, SF_VM_MGMT_CONTROLLER_PORT,
                         w->nested_node ? w->nested_node : w->name ? w->name : w->id, w->id,
                         w->nested_mode, link, SF_VM_MGMT_MAC, SF_VM_MGMT_GUEST_IP,
                         SF_VM_MGMT_PREFIX, agent);
}

/* A value inside a QEMU option list: commas are doubled. */
static char *opt_escape(const char *s)
{
        size_t n = 0;
        char *r, *p;
        for (const char *q = s; *q; q++)
                n += *q == ',' ? 2 : 1;
        r = p = xmalloc(n + 1);
        for (const char *q = s; *q; q++) {
                *p++ = *q;
                if (*q == ',')
                        *p++ = ',';
        }
        *p = 0;
        return r;
}

static void push(char ***v, const char *s)
{
        strv_push(v, xstrdup(s));
}

static void pushf(char ***v, const char *fmt, ...) _printf_(2, 3);
static void pushf(char ***v, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        strv_push(v, xvasprintf(fmt, ap));
        va_end(ap);
}

int sf_vm_qemu_argv(const sf_workload_spec *w, const sf_vm_host *h, char ***ret, sf_err *e)
{
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_free_ char *console = NULL, *console_e = NULL, *seed = NULL, *seed_e = NULL;
        int r = sf_vm_spec_check(w, e);

        if (r < 0)
                return r;
        if (w->rootfs && !w->readonly_rootfs && !h->disk_format)
                return sf_err_set(e, -EINVAL, "rootfs", "disk format unknown");
        push(&v, h->qemu);
        push(&v, "-name");
        pushf(&v, "guest=%s,debug-threads=on", w->id);
        push(&v, "-machine");
        pushf(&v, "q35,accel=%s", sf_vm_accel_str(h->accel));
        push(&v, "-cpu");
        push(&v, h->cpu ? h->cpu : h->accel == SF_VM_ACCEL_KVM ? "host" : "max");
        push(&v, "-smp");
        pushf(&v, "%u", sf_vm_vcpus(w));
        push(&v, "-m");
        pushf(&v, "%" PRIu64, sf_vm_memory_mib(w));
        push(&v, "-nodefaults");
        push(&v, "-no-user-config");
        push(&v, "-display");
        push(&v, "none");
        if (w->nested_mode && !h->socat)
                return sf_err_set(e, -ENOENT, "nested_mode",
                                  "a nested host's management channel needs socat");
        push(&v, "-sandbox");
        /* A nested host's guestfwd runs socat per connection: libslirp forks, calls setsid
         * (in QEMU's "elevateprivileges" group) and execs: both must be allowed. */
        pushf(&v, "on,obsolete=deny,elevateprivileges=%s,spawn=%s,resourcecontrol=deny",
              w->nested_mode ? "allow" : "deny", w->nested_mode ? "allow" : "deny");
        push(&v, "-msg");
        push(&v, "timestamp=on");
        /* QMP for the driver (a listening socket it bound) and for the monitor (a socket pair
         * end): both inherited, so no path has to fit sun_path and nothing races. */
        push(&v, "-chardev");
        pushf(&v, "socket,id=qmp,fd=%d,server=on,wait=off", SF_VM_QMP_FD);
        push(&v, "-mon");
        push(&v, "chardev=qmp,mode=control");
        push(&v, "-chardev");
        pushf(&v, "socket,id=events,fd=%d", SF_VM_EVENT_FD);
        push(&v, "-mon");
        push(&v, "chardev=events,mode=control");
        console = sf_vm_console_path(w);
        console_e = opt_escape(console);
        push(&v, "-chardev");
        pushf(&v, "file,id=console,path=%s,append=on", console_e);
        push(&v, "-serial");
        push(&v, "chardev:console");
        if (w->kernel) {
                _cleanup_free_ char *cmdline = sf_vm_kernel_cmdline(w);
                push(&v, "-kernel");
                push(&v, w->kernel);
                if (w->initrd) {
                        push(&v, "-initrd");
                        push(&v, w->initrd);
                }
                push(&v, "-append");
                push(&v, cmdline);
        }
        if (w->rootfs) {
                _cleanup_free_ char *disk = w->readonly_rootfs
                                                    ? xstrdup(w->rootfs)
                                                    : sf_vm_path(w, SF_VM_OVERLAY_FILE);
                _cleanup_free_ char *disk_e = opt_escape(disk);
                push(&v, "-drive");
                if (w->readonly_rootfs)
                        pushf(&v, "file=%s,format=%s,if=none,id=disk0,readonly=on", disk_e,
                              h->disk_format ? h->disk_format : "raw");
                else
                        pushf(&v, "file=%s,format=qcow2,if=none,id=disk0,discard=unmap",
                              disk_e);
                push(&v, "-device");
                pushf(&v, "virtio-blk-pci,drive=disk0%s", w->kernel ? "" : ",bootindex=1");
        }
        seed = sf_vm_path(w, SF_VM_SEED_FILE);
        seed_e = opt_escape(seed);
        push(&v, "-drive");
        pushf(&v, "file=%s,format=raw,if=none,id=seed,readonly=on", seed_e);
        push(&v, "-device");
        push(&v, "virtio-blk-pci,drive=seed");
        for (size_t i = 0; i < w->n_tap_fds; i++) {
                char mac[18];
                sf_vm_nic_mac(w, i, mac);
                push(&v, "-netdev");
                pushf(&v, "tap,id=net%zu,fd=%zu", i, SF_VM_TAP_FD_BASE + i);
                push(&v, "-device");
                pushf(&v, "virtio-net-pci,netdev=net%zu,mac=%s", i, mac);
        }
        if (w->nested_mode) {
                /* After the data NICs, so that the guest's NIC order keeps theirs. */
                _cleanup_free_ char *host = NULL, *target = NULL, *cmd = NULL, *fwd = NULL;
                unsigned port;
                r = sf_vm_controller_target(w->nested_controller, &host, &port, e);
                if (r < 0)
                        return r;
                target = strchr(host, ':') ? xasprintf("TCP6:[%s]:%u", host, port)
                                           : xasprintf("TCP:%s:%u", host, port);
                for (const char *q = h->socat; *q; q++)
                        if (!isalnum((unsigned char) *q) && !strchr("/._+-", *q))
                                return sf_err_set(e, -EINVAL, "nested_mode",
                                                  "unusual socat path '%s'", h->socat);
                /* The command goes through /bin/sh -c: every part of it was checked above. */
                cmd = xasprintf("%s STDIO %s", h->socat, target);
                _cleanup_free_ char *cmd_e = opt_escape(cmd);
                if (h->agent_fwd_port && w->nested_agent_addr)
                        fwd = xasprintf(",hostfwd=tcp:%s:%u-%s:%d", w->nested_agent_addr,
                                        h->agent_fwd_port, SF_VM_MGMT_GUEST_IP,
                                        SF_VM_GUEST_AGENT_PORT);
                push(&v, "-netdev");
                pushf(&v, "user,id=sfmgmt,restrict=on,net=%s,host=%s,guestfwd=tcp:%s:%d-cmd:%s%s",
                      SF_VM_MGMT_NET, SF_VM_MGMT_HOST_IP, SF_VM_MGMT_CONTROLLER_IP,
                      SF_VM_MGMT_CONTROLLER_PORT, cmd_e, fwd ? fwd : "");
                push(&v, "-device");
                pushf(&v, "virtio-net-pci,netdev=sfmgmt,mac=%s", SF_VM_MGMT_MAC);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- monitor state ---- */

void sf_vm_monitor_state_done(sf_vm_monitor_state *s)
{
        if (!s)
                return;
        free(s->id);
        free(s->run_state);
        free(s->shutdown_reason);
        *s = (sf_vm_monitor_state) { 0 };
}

char *sf_vm_monitor_state_format(const sf_vm_monitor_state *s)
{
        _cleanup_json_ json_t *j = json_object();
        _cleanup_free_ char *started = s->started_usec ? sf_timestamp(s->started_usec) : NULL;

        sf_json_set_str(j, "id", s->id);
        json_object_set_new(j, "monitor_pid", json_integer(s->monitor_pid));
        json_object_set_new(j, "monitor_starttime",
                            json_integer((json_int_t) s->monitor_starttime));
        json_object_set_new(j, "qemu_pid", json_integer(s->qemu_pid));
        json_object_set_new(j, "qemu_starttime", json_integer((json_int_t) s->qemu_starttime));
        json_object_set_new(j, "started_usec", json_integer((json_int_t) s->started_usec));
        sf_json_set_str(j, "started_at", started);
        json_object_set_new(j, "ready_usec", json_integer((json_int_t) s->ready_usec));
        sf_json_set_str(j, "run_state", s->run_state);
        sf_json_set_str(j, "shutdown_reason", s->shutdown_reason);
        json_object_set_new(j, "shutdown_guest", json_boolean(s->shutdown_guest));
        json_object_set_new(j, "resets", json_integer(s->resets));
        return sf_json_dumps(j);
}

int sf_vm_monitor_state_parse(const char *buf, size_t len, sf_vm_monitor_state *ret,
                              sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        const char *id = NULL, *run_state = NULL, *reason = NULL;
        int64_t mpid = 0, mst = 0, qpid = 0, qst = 0, started = 0, ready = 0, resets = 0;
        bool guest = false;
        int r;

        r = sf_json_parse(buf, len, &j, e);
        if (r < 0)
                return sf_err_prefix(e, SF_VM_MONITOR_FILE);
        if (!json_is_object(j))
                return sf_err_set(e, -EINVAL, NULL, SF_VM_MONITOR_FILE ": not a JSON object");
        if ((r = sf_json_str(j, "id", true, &id, e)) < 0 ||
            (r = sf_json_int(j, "monitor_pid", true, 1, INT32_MAX, &mpid, e)) < 0 ||
            (r = sf_json_int(j, "monitor_starttime", true, 0, INT64_MAX, &mst, e)) < 0 ||
            (r = sf_json_int(j, "qemu_pid", true, 0, INT32_MAX, &qpid, e)) < 0 ||
            (r = sf_json_int(j, "qemu_starttime", false, 0, INT64_MAX, &qst, e)) < 0 ||
            (r = sf_json_int(j, "started_usec", false, 0, INT64_MAX, &started, e)) < 0 ||
            (r = sf_json_int(j, "ready_usec", false, 0, INT64_MAX, &ready, e)) < 0 ||
            (r = sf_json_str(j, "run_state", false, &run_state, e)) < 0 ||
            (r = sf_json_str(j, "shutdown_reason", false, &reason, e)) < 0 ||
            (r = sf_json_bool(j, "shutdown_guest", false, &guest, e)) < 0 ||
            (r = sf_json_int(j, "resets", false, 0, UINT32_MAX, &resets, e)) < 0)
                return sf_err_prefix(e, SF_VM_MONITOR_FILE);
        *ret = (sf_vm_monitor_state) {
                .id = xstrdup(id),
                .monitor_pid = (pid_t) mpid,
                .monitor_starttime = (uint64_t) mst,
                .qemu_pid = (pid_t) qpid,
                .qemu_starttime = (uint64_t) qst,
                .started_usec = (uint64_t) started,
                .ready_usec = (uint64_t) ready,
                .run_state = xstrdup(run_state),
                .shutdown_reason = xstrdup(reason),
                .shutdown_guest = guest,
                .resets = (unsigned) resets,
        };
        return 0;
}

int sf_vm_monitor_state_read(const char *state_dir, sf_vm_monitor_state *ret, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, SF_VM_MONITOR_FILE);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = sf_read_file(path, STATE_FILE_MAX, &buf, &len, e);
        if (r < 0)
                return r;
        return sf_vm_monitor_state_parse(buf, len, ret, e);
}

int sf_vm_monitor_state_write(const char *state_dir, const sf_vm_monitor_state *s, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, SF_VM_MONITOR_FILE);
        _cleanup_free_ char *text = sf_vm_monitor_state_format(s);
        return sf_write_file_atomic(path, text, strlen(text), 0644, e);
}

/* ---- the monitor binary ---- */

static bool executable(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int sf_vm_monitor_path(char **ret, sf_err *e)
{
        _cleanup_strv_free_ char **tried = NULL;
        _cleanup_free_ char *list = NULL;
        const char *env = getenv("SF_VM_MONITOR");
        char buf[4096];
        ssize_t n;

        if (env && *env) {
                if (!executable(env))
                        return sf_err_set(e, -ENOENT, NULL,
                                          "SF_VM_MONITOR='%s' is not an executable file", env);
                *ret = xstrdup(env);
                return 0;
        }
        n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n > 0 && (size_t) n < sizeof(buf) - 1) {
                buf[n] = 0;
                char *dir = dirname(buf);
                strv_push(&tried, xasprintf("%s/sf-vm-monitor", dir));
                strv_push(&tried, xasprintf("%s/../agent/compute/sf-vm-monitor", dir));
        }
        strv_push(&tried, xstrdup(SF_LIBEXECDIR "/sf-vm-monitor"));
        for (char **p = tried; *p; p++)
                if (executable(*p)) {
                        *ret = realpath(*p, NULL);
                        if (!*ret)
                                *ret = xstrdup(*p);
                        return 0;
                }
        list = xstrdup("");
        for (char **p = tried; *p; p++) {
                char *l = xasprintf("%s%s'%s'", list, *list ? ", " : "", *p);
                free(list);
                list = l;
        }
        return sf_err_set(e, -ENOENT, NULL, "sf-vm-monitor not found (set SF_VM_MONITOR; "
                                            "tried %s)",
                          list);
}
