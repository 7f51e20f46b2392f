/* OCI config.json generation and validation for containers, and the per-container /etc
 * files. Defaults mirror `runc spec` plus Docker's capability set. */
#include <ctype.h>
#include <inttypes.h>

#include "agent/compute/cgroup.h"
#include "agent/compute/oci-spec.h"
#include "lib/json.h"
#include "lib/util.h"

#define NOFILE_MAX (1U << 20) /* the kernel's default fs.nr_open */

/* Docker's default set (moby oci/caps/defaults.go), which includes CAP_NET_RAW. */
static const char *const default_caps[] = {
        "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",          "CAP_FOWNER",
        "CAP_MKNOD",  "CAP_NET_RAW",      "CAP_SETGID",          "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",   "CAP_AUDIT_WRITE",
};

/* As in `runc spec`. */
static const char *const masked_paths[] = {
        "/proc/acpi",     "/proc/asound",      "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/sys/firmware",  "/proc/scsi",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

#define PING_GROUP_RANGE "net.ipv4.ping_group_range"

static bool path_ok(const char *p)
{
        if (!p || p[0] != '/')
                return false;
        /* No ".." component: a bind mount must not climb out of the container root. */
        for (const char *s = p; (s = strstr(s, "..")); s += 2)
                if (s[-1] == '/' && (s[2] == '/' || s[2] == 0))
                        return false;
        return !strchr(p, '\n');
}

static bool hostname_ok(const char *h)
{
        size_t n = strlen(h);
        if (n == 0 || n > 63 || !isalnum((unsigned char) h[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) h[i]) && h[i] != '-' && h[i] != '.')
                        return false;
        return true;
}

static bool sysctl_key_ok(const char *k)
{
        if (!k || !*k || !isalpha((unsigned char) k[0]))
                return false;
        for (const char *s = k; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("._-/", *s))
                        return false;
        return true;
}

static int field_err(sf_err *e, const char *array, size_t i, const char *member, const char *msg)
{
        _cleanup_free_ char *f = member ? xasprintf("%s[%zu].%s", array, i, member)
                                        : xasprintf("%s[%zu]", array, i);
        return sf_err_set(e, -EINVAL, f, "%s", msg);
}

int sf_oci_config_validate(const sf_oci_config *c, sf_err *e)
{
        if (!c->id || !sf_name_valid(c->id))
                return sf_err_set(e, -EINVAL, "id",
                                  "must be 1-63 characters of [A-Za-z0-9._-], starting with a "
                                  "letter or digit");
        if (!path_ok(c->rootfs))
                return sf_err_set(e, -EINVAL, "rootfs", "must be an absolute path");
        if (!c->args || !c->args[0] || !c->args[0][0])
                return sf_err_set(e, -EINVAL, "args", "must name a program to run");
        for (size_t i = 0; c->env && c->env[i]; i++) {
                const char *eq = strchr(c->env[i], '=');
                if (!eq || eq == c->env[i])
                        return field_err(e, "env", i, NULL, "must be KEY=VALUE");
        }
        if (c->cwd && !path_ok(c->cwd))
                return sf_err_set(e, -EINVAL, "cwd", "must be an absolute path");
        if (c->hostname && !hostname_ok(c->hostname))
                return sf_err_set(e, -EINVAL, "hostname",
                                  "must be 1-63 characters of [A-Za-z0-9.-], starting with a "
                                  "letter or digit");
        if (c->create_hook && (!c->create_hook[0] || !path_ok(c->create_hook[0])))
                return sf_err_set(e, -EINVAL, "create_hook", "must start with an absolute path");
        if (c->netns_path && c->host_network)
                return sf_err_set(e, -EINVAL, "netns_path",
                                  "cannot join a network namespace with host networking");
        if (c->netns_path && !path_ok(c->netns_path))
                return sf_err_set(e, -EINVAL, "netns_path", "must be an absolute path");
        if (c->cpu_millicores > SF_OCI_CPU_MAX_MILLICORES)
                return sf_err_set(e, -EINVAL, "cpu",
                                  "must be between 1 and %d millicores (at most %d cores), or 0 for no limit",
                                  SF_OCI_CPU_MAX_MILLICORES, SF_OCI_CPU_MAX_MILLICORES / 1000);
        if (c->memory_bytes && c->memory_bytes < SF_OCI_MEMORY_MIN)
                return sf_err_set(e, -EINVAL, "memory", "must be at least 4 MiB");
        if (c->memory_bytes > (uint64_t) INT64_MAX)
                return sf_err_set(e, -EINVAL, "memory", "is too large");
        if (c->pids_limit > INT32_MAX)
                return sf_err_set(e, -EINVAL, "pids", "is too large");
        if (c->nofile > NOFILE_MAX)
                return sf_err_set(e, -EINVAL, "nofile", "must be at most %u", NOFILE_MAX);
        for (size_t i = 0; i < c->n_mounts; i++) {
                if (!path_ok(c->mounts[i].source))
                        return field_err(e, "mounts", i, "source", "must be an absolute path");
                if (!path_ok(c->mounts[i].destination) || STREQ(c->mounts[i].destination, "/"))
                        return field_err(e, "mounts", i, "destination",
                                         "must be an absolute path below /, without '..'");
        }
        for (size_t i = 0; i < c->n_sysctls; i++) {
                if (!sysctl_key_ok(c->sysctls[i].key))
                        return field_err(e, "sysctls", i, "key", "must be a sysctl name");
                if (!c->sysctls[i].value || strchr(c->sysctls[i].value, '\n'))
                        return field_err(e, "sysctls", i, "value",
                                         "must be a value on one line");
                if (c->host_network && strncmp(c->sysctls[i].key, "net.", 4) == 0)
                        return field_err(e, "sysctls", i, "key",
                                         "net.* sysctls need a container network namespace");
        }
        if ((c->hosts_file && !path_ok(c->hosts_file)) ||
            (c->resolv_file && !path_ok(c->resolv_file)) ||
            (c->hostname_file && !path_ok(c->hostname_file)))
                return sf_err_set(e, -EINVAL, "etc", "prepared files must have absolute paths");
        return 0;
}

static json_t *str_array(const char *const *v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *mount_new(const char *dest, const char *type, const char *source,
                         const char *const *options, size_t n_options)
{
        json_t *m = json_object();
        json_object_set_new(m, "destination", json_string(dest));
        json_object_set_new(m, "type", json_string(type));
        json_object_set_new(m, "source", json_string(source));
        if (n_options)
                json_object_set_new(m, "options", str_array(options, n_options));
        return m;
}

static json_t *bind_mount_new(const char *dest, const char *source, bool readonly)
{
        const char *opts[] = { "rbind", "rprivate", readonly ? "ro" : "rw" };
        return mount_new(dest, "bind", source, opts, ELEMENTSOF(opts));
}

static json_t *mounts_new(const sf_oci_config *c)
{
        static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k" };
        static const char *const pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                           "mode=0620", "gid=5" };
        static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777",
                                           "size=65536k" };
        static const char *const mq[] = { "nosuid", "noexec", "nodev" };
        static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro" };
        static const char *const cg[] = { "nosuid", "noexec", "nodev", "relatime", "ro" };
        json_t *a = json_array();

        json_array_append_new(a, mount_new("/proc", "proc", "proc", NULL, 0));
        json_array_append_new(a, mount_new("/dev", "tmpfs", "tmpfs", dev, ELEMENTSOF(dev)));
        json_array_append_new(a, mount_new("/dev/pts", "devpts", "devpts", pts,
                                           ELEMENTSOF(pts)));
        json_array_append_new(a, mount_new("/dev/shm", "tmpfs", "shm", shm, ELEMENTSOF(shm)));
        json_array_append_new(a, mount_new("/dev/mqueue", "mqueue", "mqueue", mq,
                                           ELEMENTSOF(mq)));
        json_array_append_new(a, mount_new("/sys", "sysfs", "sysfs", sys, ELEMENTSOF(sys)));
        json_array_append_new(a, mount_new("/sys/fs/cgroup", "cgroup", "cgroup", cg,
                                           ELEMENTSOF(cg)));
        if (c->hosts_file)
                json_array_append_new(a, bind_mount_new("/etc/hosts", c->hosts_file, false));
        if (c->resolv_file)
                json_array_append_new(a, bind_mount_new("/etc/resolv.conf", c->resolv_file,
                                                        false));
        if (c->hostname_file)
                json_array_append_new(a, bind_mount_new("/etc/hostname", c->hostname_file,
                                                        false));
        for (size_t i = 0; i < c->n_mounts; i++)
                json_array_append_new(a, bind_mount_new(c->mounts[i].destination,
                                                        c->mounts[i].source,
                                                        c->mounts[i].readonly));
        return a;
}

static json_t *process_new(const sf_oci_config *c)
{
        json_t *p = json_object(), *user = json_object(), *env = json_array();
        json_t *caps = json_object();
        bool has_path = false;

        json_object_set_new(p, "terminal", json_false());
        json_object_set_new(user, "uid", json_integer(c->uid));
        json_object_set_new(user, "gid", json_integer(c->gid));
        json_object_set_new(p, "user", user);
        json_object_set_new(p, "args", str_array((const char *const *) c->args,
                                                 strv_length(c->args)));
        for (size_t i = 0; c->env && c->env[i]; i++)
                if (strncmp(c->env[i], "PATH=", 5) == 0)
                        has_path = true;
        if (!has_path)
                json_array_append_new(env, json_string(SF_OCI_DEFAULT_PATH));
        for (size_t i = 0; c->env && c->env[i]; i++)
                json_array_append_new(env, json_string(c->env[i]));
        json_object_set_new(p, "env", env);
        json_object_set_new(p, "cwd", json_string(c->cwd ? c->cwd : "/"));
        json_object_set_new(caps, "bounding", str_array(default_caps, ELEMENTSOF(default_caps)));
        json_object_set_new(caps, "effective", str_array(default_caps,
                                                         ELEMENTSOF(default_caps)));
        json_object_set_new(caps, "permitted", str_array(default_caps,
                                                         ELEMENTSOF(default_caps)));
        json_object_set_new(p, "capabilities", caps);
        if (c->nofile) {
                json_t *rl = json_object(), *rlimits = json_array();
                json_object_set_new(rl, "type", json_string("RLIMIT_NOFILE"));
                json_object_set_new(rl, "hard", json_integer((json_int_t) c->nofile));
                json_object_set_new(rl, "soft", json_integer((json_int_t) c->nofile));
                json_array_append_new(rlimits, rl);
                json_object_set_new(p, "rlimits", rlimits);
        }
        json_object_set_new(p, "noNewPrivileges", json_true());
        return p;
}

static json_t *resources_new(const sf_oci_config *c)
{
        json_t *r = json_object(), *devices = json_array(), *deny = json_object();
        json_t *cpu = json_object();

        json_object_set_new(deny, "allow", json_false());
        json_object_set_new(deny, "access", json_string("rwm"));
        json_array_append_new(devices, deny);
        json_object_set_new(r, "devices", devices);

        /* Shares as Kubernetes computes them (1000m = 1024 shares, at least 2); the quota is
         * the hard limit over a 100 ms period. */
        if (c->cpu_millicores) {
                json_object_set_new(cpu, "shares",
                                    json_integer(MAX(2, (json_int_t) c->cpu_millicores * 1024 / 1000)));
                json_object_set_new(cpu, "quota", json_integer((json_int_t) c->cpu_millicores *
                                                               SF_OCI_CPU_PERIOD_US / 1000));
                json_object_set_new(cpu, "period", json_integer(SF_OCI_CPU_PERIOD_US));
                json_object_set_new(r, "cpu", cpu);
        } else
                json_decref(cpu); /* best effort: no share or quota, as Kubernetes without requests */
        if (c->memory_bytes) {
                json_t *m = json_object();
                json_object_set_new(m, "limit", json_integer((json_int_t) c->memory_bytes));
                json_object_set_new(r, "memory", m);
        }
        if (c->pids_limit) {
                json_t *p = json_object();
                json_object_set_new(p, "limit", json_integer(c->pids_limit));
                json_object_set_new(r, "pids", p);
        }
        return r;
}

static json_t *namespaces_new(const sf_oci_config *c)
{
        static const char *const types[] = { "pid", "ipc", "uts", "mount" };
        json_t *a = json_array();
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                json_t *ns = json_object();
                json_object_set_new(ns, "type", json_string(types[i]));
                json_array_append_new(a, ns);
        }
        if (!c->host_network) {
                json_t *ns = json_object();
                json_object_set_new(ns, "type", json_string("network"));
                if (c->netns_path)
                        json_object_set_new(ns, "path", json_string(c->netns_path));
                json_array_append_new(a, ns);
        }
        return a;
}

static json_t *sysctls_new(const sf_oci_config *c)
{
        json_t *s = json_object();
        /* As Docker does: unprivileged ICMP echo sockets for every group, so ping works for
         * non-root users too. Only in a container network namespace. */
        if (!c->host_network)
                json_object_set_new(s, PING_GROUP_RANGE, json_string("0 2147483647"));
        for (size_t i = 0; i < c->n_sysctls; i++)
                json_object_set_new(s, c->sysctls[i].key, json_string(c->sysctls[i].value));
        return s;
}

int sf_oci_spec_build(const sf_oci_config *c, json_t **ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *cgpath = NULL;
        json_t *root, *linux_, *ann;
        int r;

        r = sf_oci_config_validate(c, e);
        if (r < 0)
                return r;

        j = json_object();
        json_object_set_new(j, "ociVersion", json_string("1.0.2"));
        json_object_set_new(j, "process", process_new(c));
        root = json_object();
        json_object_set_new(root, "path", json_string(c->rootfs));
        json_object_set_new(root, "readonly", json_boolean(c->readonly_rootfs));
        json_object_set_new(j, "root", root);
        json_object_set_new(j, "hostname", json_string(c->hostname ? c->hostname : c->id));
        json_object_set_new(j, "mounts", mounts_new(c));

        linux_ = json_object();
        cgpath = sf_cgroup_path(c->id);
        json_object_set_new(linux_, "cgroupsPath", json_string(cgpath));
        json_object_set_new(linux_, "resources", resources_new(c));
        json_object_set_new(linux_, "namespaces", namespaces_new(c));
        json_object_set_new(linux_, "sysctl", sysctls_new(c));
        json_object_set_new(linux_, "maskedPaths",
                            str_array(masked_paths, ELEMENTSOF(masked_paths)));
        json_object_set_new(linux_, "readonlyPaths",
                            str_array(readonly_paths, ELEMENTSOF(readonly_paths)));
        json_object_set_new(j, "linux", linux_);

        if (c->create_hook) {
                json_t *h = json_object(), *args = json_array();
                for (size_t i = 0; c->create_hook[i]; i++)
                        json_array_append_new(args, json_string(c->create_hook[i]));
                json_object_set_new(h, "path", json_string(c->create_hook[0]));
                json_object_set_new(h, "args", args);
                if (c->create_hook_timeout_s)
                        json_object_set_new(h, "timeout", json_integer(c->create_hook_timeout_s));
                json_object_set_new(j, "hooks",
                                    json_pack("{s:[o]}", "createRuntime", h));
        }

        ann = json_object();
        json_object_set_new(ann, "org.superfluid.id", json_string(c->id));
        json_object_set_new(j, "annotations", ann);

        *ret = TAKE_PTR(j);
        return 0;
}

static void append(char **s, const char *fmt, ...) _printf_(2, 3);
static void append(char **s, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *add = NULL;
        char *n;
        va_start(ap, fmt);
        add = xvasprintf(fmt, ap);
        va_end(ap);
        n = xasprintf("%s%s", *s ? *s : "", add);
        free(*s);
        *s = n;
}

char *sf_oci_hosts_content(const sf_oci_etc *etc)
{
        char *s = NULL;
        append(&s, "127.0.0.1\tlocalhost\n");
        append(&s, "::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (size_t i = 0; etc && etc->hosts && etc->hosts[i]; i++)
                append(&s, "%s\n", etc->hosts[i]);
        return s;
}

static void append_words(char **s, const char *key, char *const *v)
{
        if (!v || !v[0])
                return;
        append(s, "%s", key);
        for (size_t i = 0; v[i]; i++)
                append(s, " %s", v[i]);
        append(s, "\n");
}

char *sf_oci_resolv_content(const sf_oci_etc *etc)
{
        char *s = xstrdup("");
        for (size_t i = 0; etc && etc->dns_servers && etc->dns_servers[i]; i++)
                append(&s, "nameserver %s\n", etc->dns_servers[i]);
        if (etc) {
                append_words(&s, "search", etc->dns_search);
                append_words(&s, "options", etc->dns_options);
        }
        return s;
}

static bool lines_ok(char *const *v)
{
        for (size_t i = 0; v && v[i]; i++)
                if (!v[i][0] || strchr(v[i], '\n'))
                        return false;
        return true;
}

int sf_oci_bundle_write(const char *dir, const sf_oci_config *c, const sf_oci_etc *etc,
                        sf_err *e)
{
        _cleanup_free_ char *etc_dir = xasprintf("%s/etc", dir);
        _cleanup_free_ char *hosts = xasprintf("%s/hosts", etc_dir);
        _cleanup_free_ char *resolv = xasprintf("%s/resolv.conf", etc_dir);
        _cleanup_free_ char *hostname = xasprintf("%s/hostname", etc_dir);
        _cleanup_free_ char *config = xasprintf("%s/config.json", dir);
        _cleanup_free_ char *hosts_text = NULL, *resolv_text = NULL, *hostname_text = NULL;
        _cleanup_free_ char *json_text = NULL;
        _cleanup_json_ json_t *j = NULL;
        sf_oci_config cc = *c;
        int r;

        if (!path_ok(dir))
                return sf_err_set(e, -EINVAL, "bundle", "must be an absolute path");
        if (etc && (!lines_ok(etc->dns_servers) || !lines_ok(etc->dns_search) ||
                    !lines_ok(etc->dns_options) || !lines_ok(etc->hosts)))
                return sf_err_set(e, -EINVAL, "dns", "entries must be single, non-empty lines");
        cc.hosts_file = hosts;
        cc.resolv_file = resolv;
        cc.hostname_file = hostname;
        r = sf_oci_spec_build(&cc, &j, e);
        if (r < 0)
                return r;

        r = sf_mkdir_p(etc_dir, 0755, e);
        if (r < 0)
                return r;
        hosts_text = sf_oci_hosts_content(etc);
        resolv_text = sf_oci_resolv_content(etc);
        hostname_text = xasprintf("%s\n", cc.hostname ? cc.hostname : cc.id);
        if ((r = sf_write_file_volatile(hosts, hosts_text, strlen(hosts_text), 0644, e)) < 0 ||
            (r = sf_write_file_volatile(resolv, resolv_text, strlen(resolv_text), 0644, e)) < 0 ||
            (r = sf_write_file_volatile(hostname, hostname_text, strlen(hostname_text), 0644,
                                      e)) < 0)
                return r;
        json_text = json_dumps(j, JSON_INDENT(2));
        if (!json_text)
                sf_oom();
        return sf_write_file_volatile(config, json_text, strlen(json_text), 0600, e);
}
