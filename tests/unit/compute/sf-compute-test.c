/* sf-compute-test: a small CLI over the compute driver table for system tests and quick
 * measurements (stands in for the agent). Not installed. */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "agent/compute/cgroup.h"
#include "agent/compute/driver.h"
#include "agent/compute/oci-spec.h"
#include "agent/compute/runtime.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

SF_LOG_MODULE("sf-compute-test");

typedef struct opts {
        sf_compute_options copts;
        sf_workload_spec w;
        const char *bundle;
        char **env, **dns, **hosts, **args;
        sf_workload_mount *mounts;
        int timeout_ms;
        bool wait;
        unsigned count;
        unsigned settle_ms;
        const char *work;
} opts;

static void opts_done(opts *o)
{
        strv_free(o->env);
        strv_free(o->dns);
        strv_free(o->hosts);
        strv_free(o->args);
        for (size_t i = 0; i < o->w.n_mounts; i++)
                free((char *) o->mounts[i].source); /* destination points into it */
        free(o->mounts);
}

static _noreturn_ void usage(int code)
{
        fputs("usage: sf-compute-test [--runtime runc|crun] [--runtime-root DIR] [--shim PATH]\n"
              "                       [--exec-dir DIR] COMMAND [OPTIONS] [-- ARGS]\n"
              "commands:\n"
              "  bundle  --id ID --rootfs DIR --bundle DIR [spec options] -- CMD...\n"
              "  start   --id ID --rootfs DIR --state-dir DIR [--log F] [--wait] [spec] -- CMD\n"
              "  adopt   --id ID --state-dir DIR\n"
              "  watch   --id ID --state-dir DIR        wait for exit, print the status\n"
              "  exec    --id ID --state-dir DIR [--timeout MS] -- CMD...\n"
              "  stop    --id ID --state-dir DIR [--timeout MS]\n"
              "  remove  --id ID [--state-dir DIR]\n"
              "  list\n"
              "  bench   --rootfs DIR --work DIR [--count N] [--settle MS] [--netns PATH]\n"
              "spec options: --netns PATH --cpu MILLI --memory SIZE --pids N --hostname H\n"
              "              --env K=V --dns IP --host 'IP NAME' --mount SRC:DST[:ro] --readonly\n",
              stderr);
        exit(code);
}

static _noreturn_ void die(const sf_err *e, const char *what)
{
        fprintf(stderr, "sf-compute-test: %s: %s%s%s\n", what, e->field ? e->field : "",
                e->field ? ": " : "", sf_err_msg(e));
        exit(1);
}

static unsigned long num(const char *s, const char *what)
{
        char *end;
        unsigned long v;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end) {
                fprintf(stderr, "sf-compute-test: bad %s '%s'\n", what, s);
                exit(2);
        }
        return v;
}

static void parse(int argc, char **argv, opts *o)
{
        static const struct option lo[] = {
                { "runtime", required_argument, NULL, 'r' },
                { "runtime-root", required_argument, NULL, 'R' },
                { "shim", required_argument, NULL, 'S' },
                { "exec-dir", required_argument, NULL, 'X' },
                { "id", required_argument, NULL, 'i' },
                { "rootfs", required_argument, NULL, 'f' },
                { "bundle", required_argument, NULL, 'b' },
                { "state-dir", required_argument, NULL, 's' },
                { "log", required_argument, NULL, 'l' },
                { "netns", required_argument, NULL, 'n' },
                { "cpu", required_argument, NULL, 'c' },
                { "memory", required_argument, NULL, 'm' },
                { "pids", required_argument, NULL, 'p' },
                { "hostname", required_argument, NULL, 'H' },
                { "env", required_argument, NULL, 'e' },
                { "dns", required_argument, NULL, 'd' },
                { "host", required_argument, NULL, 'a' },
                { "mount", required_argument, NULL, 'M' },
                { "readonly", no_argument, NULL, 'o' },
                { "timeout", required_argument, NULL, 't' },
                { "wait", no_argument, NULL, 'w' },
                { "count", required_argument, NULL, 'C' },
                { "work", required_argument, NULL, 'W' },
                { "settle", required_argument, NULL, 'Z' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        size_t n_mounts = 0;
        int c;

        o->w.kind = "container";
        o->w.cpu_millicores = 1000;
        o->timeout_ms = 10000;
        o->count = 20;
        while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
                switch (c) {
                case 'r': o->copts.runtime = optarg; break;
                case 'R': o->copts.runtime_root = optarg; break;
                case 'S': o->copts.shim = optarg; break;
                case 'X': o->copts.exec_dir = optarg; break;
                case 'i': o->w.id = optarg; break;
                case 'f': o->w.rootfs = optarg; break;
                case 'b': o->bundle = optarg; break;
                case 's': o->w.state_dir = optarg; break;
                case 'l': o->w.log_path = optarg; break;
                case 'n': o->w.netns_path = optarg; break;
                case 'c': o->w.cpu_millicores = (uint32_t) num(optarg, "cpu"); break;
                case 'm':
                        if (sf_parse_size(optarg, &o->w.memory_bytes) < 0) {
                                fprintf(stderr, "sf-compute-test: bad memory '%s'\n", optarg);
                                exit(2);
                        }
                        break;
                case 'p': o->w.pids_limit = (uint32_t) num(optarg, "pids"); break;
                case 'H': o->w.hostname = optarg; break;
                case 'e': strv_push(&o->env, xstrdup(optarg)); break;
                case 'd': strv_push(&o->dns, xstrdup(optarg)); break;
                case 'a': strv_push(&o->hosts, xstrdup(optarg)); break;
                case 'M': {
                        char *s = xstrdup(optarg), *d = strchr(s, ':'), *ro;
                        if (!d) {
                                fprintf(stderr, "sf-compute-test: --mount SRC:DST[:ro]\n");
                                exit(2);
                        }
                        *d++ = 0;
                        ro = strchr(d, ':');
                        if (ro)
                                *ro++ = 0;
                        o->mounts = xrealloc(o->mounts, sizeof(*o->mounts) * (n_mounts + 1));
                        o->mounts[n_mounts++] = (sf_workload_mount) {
                                s, d, ro && STREQ(ro, "ro") };
                        break;
                }
                case 'o': o->w.readonly_rootfs = true; break;
                case 't': o->timeout_ms = (int) num(optarg, "timeout"); break;
                case 'w': o->wait = true; break;
                case 'C': o->count = (unsigned) num(optarg, "count"); break;
                case 'W': o->work = optarg; break;
                case 'Z': o->settle_ms = (unsigned) num(optarg, "settle"); break;
                case 'h': usage(0);
                default: usage(2);
                }
        }
        for (; optind < argc; optind++)
                strv_push(&o->args, xstrdup(argv[optind]));
        o->w.args = o->args;
        o->w.env = o->env;
        o->w.dns_servers = o->dns;
        o->w.hosts = o->hosts;
        o->w.mounts = o->mounts;
        o->w.n_mounts = n_mounts;
}

static void print_status(const sf_workload_status *s)
{
        printf("state=%s pid=%d", sf_workload_state_str(s->state), (int) s->pid);
        if (s->exit_known)
                printf(" exit_code=%d signal=%d", s->exit_code, s->exit_signal);
        else if (s->state == SF_WORKLOAD_EXITED)
                printf(" exit_code=unknown");
        printf("\n");
        fflush(stdout);
}

static int cmd_bundle(opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_oci_mount *m = new0(sf_oci_mount, o->w.n_mounts);
        sf_oci_config c = {
                .id = o->w.id, .rootfs = o->w.rootfs, .readonly_rootfs = o->w.readonly_rootfs,
                .args = o->w.args, .env = o->w.env, .hostname = o->w.hostname,
                .netns_path = o->w.netns_path, .cpu_millicores = o->w.cpu_millicores,
                .memory_bytes = o->w.memory_bytes, .pids_limit = o->w.pids_limit,
                .mounts = m, .n_mounts = o->w.n_mounts,
        };
        sf_oci_etc etc = { .dns_servers = o->dns, .hosts = o->hosts };
        for (size_t i = 0; i < o->w.n_mounts; i++)
                m[i] = (sf_oci_mount) { o->mounts[i].source, o->mounts[i].destination,
                                        o->mounts[i].readonly };
        if (!o->bundle)
                usage(2);
        if (sf_oci_bundle_write(o->bundle, &c, &etc, &e) < 0)
                die(&e, "bundle");
        free(m);
        return 0;
}

/* Blocks until the workload exits (like the agent's event loop would), then reaps it. */
static int wait_exit(sf_compute *c, const sf_workload_spec *w)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status s;
        int fd;

        if (c->driver->watch(c, w, &fd, &e) < 0) {
                if (e.code != -ESRCH)
                        die(&e, "watch");
        } else {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                while (poll(&p, 1, -1) < 0 && errno == EINTR)
                        ;
                close(fd);
        }
        if (c->driver->reap(c, w, &s, &e) < 0)
                die(&e, "reap");
        print_status(&s);
        return 0;
}

static int cmd_start(sf_compute *c, opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status s;
        if (c->driver->prepare(c, &o->w, &e) < 0)
                die(&e, "prepare");
        if (c->driver->start(c, &o->w, &s, &e) < 0)
                die(&e, "start");
        print_status(&s);
        return o->wait ? wait_exit(c, &o->w) : 0;
}

static int cmd_exec(sf_compute *c, opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *out = NULL, *err = NULL;
        int code;
        if (c->driver->exec(c, &o->w, o->args, NULL, o->timeout_ms, &out, &err, &code, &e) < 0)
                die(&e, "exec");
        fputs(out, stdout);
        fputs(err, stderr);
        return code;
}

static double ms_since(uint64_t t0)
{
        return (double) (sf_now_usec() - t0) / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, unsigned n)
{
        double sum = 0;
        for (unsigned i = 0; i < n; i++)
                sum += v[i];
        qsort(v, n, sizeof(double), cmp_double);
        printf("%-34s n=%u total=%8.1f ms  mean=%6.1f  median=%6.1f  min=%6.1f  max=%6.1f\n",
               what, n, sum, sum / n, v[n / 2], v[0], v[n - 1]);
}

/* `<runtime> run -d` directly, as the shim would run it (for crun on hybrid cgroups: in a
 * forked child with the v2 tree hidden; this CLI is single-threaded). */
static int direct_run(sf_runtime *rt, char **argv, int logfd, sf_err *e)
{
        sf_cgroup_mode mode;
        int status, r;
        pid_t pid;

        if (sf_runtime_get_kind(rt) == SF_RUNTIME_CRUN && sf_cgroup_mode_detect(&mode, NULL) == 0 &&
            mode == SF_CGROUP_HYBRID) {
                pid = fork();
                if (pid < 0)
                        return sf_err_errno(e, -errno, "fork");
                if (pid == 0) {
                        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (unshare(CLONE_NEWNS) < 0 ||
                            mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
                            umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0)
                                _exit(126);
                        dup2(null, 0);
                        dup2(logfd, 1);
                        dup2(logfd, 2);
                        execv(argv[0], argv);
                        _exit(127);
                }
        } else {
                sf_spawn_opts so = SF_SPAWN_OPTS_INIT;
                so.argv = argv;
                so.stdio[1] = logfd;
                so.stdio[2] = logfd;
                r = sf_spawn(&so, &pid, e);
                if (r < 0)
                        return r;
        }
        r = sf_spawn_wait(pid, 30000, &status, e);
        if (r < 0)
                return r;
        if (status != 0)
                return sf_err_set(e, -EIO, NULL, "direct run failed (status 0x%x)", status);
        return 0;
}

/* Sequential starts through the driver (prepare + start) vs `<runtime> run -d` directly on
 * one prepared bundle. Each start is timed alone and the two kinds alternate, so that load
 * from elsewhere hits both alike; containers are stopped and deleted (untimed) in between. */
static int cmd_bench(sf_compute *c, opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *args[] = { "sleep", "3600", NULL };
        double *drv = new0(double, o->count), *drv_start = new0(double, o->count);
        double *raw = new0(double, o->count);
        _cleanup_free_ char *dsd = NULL, *bundle = NULL, *pidf = NULL, *logp = NULL;
        sf_runtime *rt;

        if (!o->work || !o->w.rootfs)
                usage(2);
        {
                sf_runtime_config rc = { .root = o->copts.runtime_root, .shim = o->copts.shim,
                                         .exec_dir = o->copts.exec_dir };
                if (o->copts.runtime)
                        sf_runtime_kind_parse(o->copts.runtime, &rc.kind);
                if (sf_runtime_new(&rc, &rt, &e) < 0)
                        die(&e, "runtime");
        }
        dsd = xasprintf("%s/direct", o->work);
        bundle = xasprintf("%s/bundle", dsd);
        pidf = xasprintf("%s/pid", dsd);
        logp = xasprintf("%s/log", dsd);
        {
                sf_workload_spec w = { .id = "sfbench-direct", .kind = "container",
                                       .rootfs = o->w.rootfs, .args = args,
                                       .cpu_millicores = 1000, .netns_path = o->w.netns_path,
                                       .state_dir = dsd };
                if (c->driver->prepare(c, &w, &e) < 0)
                        die(&e, "prepare");
        }
        for (unsigned i = 0; i < o->count; i++) {
                _cleanup_free_ char *id = xasprintf("sfbench-%u", i);
                _cleanup_free_ char *dir = xasprintf("%s/%s", o->work, id);
                sf_workload_spec w = { .id = id, .kind = "container", .rootfs = o->w.rootfs,
                                       .args = args, .cpu_millicores = 1000,
                                       .netns_path = o->w.netns_path, .state_dir = dir };
                char *rargv[] = { (char *) sf_runtime_get_binary(rt), "--root",
                                  (char *) sf_runtime_get_root(rt), "run", "--detach",
                                  "--pid-file", pidf, "--bundle", bundle, "sfbench-direct",
                                  NULL };
                _cleanup_close_ int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                                 0644);
                sf_workload_status s;
                uint64_t t0 = sf_now_usec(), t1;

                if (c->driver->prepare(c, &w, &e) < 0)
                        die(&e, "prepare");
                t1 = sf_now_usec();
                if (c->driver->start(c, &w, &s, &e) < 0)
                        die(&e, "start");
                drv[i] = ms_since(t0);
                drv_start[i] = ms_since(t1);
                if (c->driver->stop(c, &w, 0, &e) < 0 || c->driver->remove(c, &w, &e) < 0)
                        die(&e, "cleanup");
                sf_rm_rf(dir, NULL);
                if (o->settle_ms)
                        usleep(o->settle_ms * 1000);

                t0 = sf_now_usec();
                if (direct_run(rt, rargv, logfd, &e) < 0)
                        die(&e, "runtime run");
                raw[i] = ms_since(t0);
                /* Tear down exactly as the driver's stop + remove do (kill, wait for the exit,
                 * delete), so that neither kind of start pays for the other's teardown. */
                {
                        _cleanup_free_ char *buf = NULL;
                        _cleanup_close_ int fd = -EBADF;
                        if (sf_read_file(pidf, 64, &buf, NULL, &e) < 0)
                                die(&e, "pid file");
                        fd = sf_pidfd_open((pid_t) strtol(buf, NULL, 10), &e);
                        if (fd < 0 || sf_pidfd_kill(fd, SIGKILL, &e) < 0 ||
                            sf_pidfd_wait(fd, 10000, &e) < 0)
                                die(&e, "kill");
                }
                if (sf_runtime_delete(rt, "sfbench-direct", true, &e) < 0)
                        die(&e, "delete");
                if (o->settle_ms)
                        usleep(o->settle_ms * 1000);
        }
        sf_rm_rf(dsd, NULL);
        printf("runtime %s, %u sequential starts, busybox 'sleep 3600'%s\n",
               sf_runtime_get_binary(rt), o->count,
               o->w.netns_path ? ", joining a netns" : "");
        report("driver prepare+start (ms)", drv, o->count);
        report("driver start only (ms)", drv_start, o->count);
        report("runtime run -d directly (ms)", raw, o->count);
        sf_runtime_free(rt);
        free(drv);
        free(drv_start);
        free(raw);
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_compute_ sf_compute *c = NULL;
        const char *cmd;
        _cleanup_(opts_done) opts o = { 0 };
        int i;

        /* Global options come before the command, the command's own after it. */
        for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
                const char *v = argv[i + 1];
                if (STREQ(argv[i], "--runtime"))
                        o.copts.runtime = v;
                else if (STREQ(argv[i], "--runtime-root"))
                        o.copts.runtime_root = v;
                else if (STREQ(argv[i], "--shim"))
                        o.copts.shim = v;
                else if (STREQ(argv[i], "--exec-dir"))
                        o.copts.exec_dir = v;
                else
                        usage(2);
        }
        if (i >= argc)
                usage(2);
        cmd = argv[i];
        optind = 1;
        parse(argc - i, argv + i, &o);
        if (getenv("SF_LOG_LEVEL"))
                sf_log_max_level = sf_log_parse_level(getenv("SF_LOG_LEVEL"));

        if (STREQ(cmd, "bundle"))
                return cmd_bundle(&o);
        if (sf_compute_open("container", &o.copts, &c, &e) < 0)
                die(&e, "open the container driver");
        if (STREQ(cmd, "start"))
                return cmd_start(c, &o);
        if (STREQ(cmd, "adopt")) {
                sf_workload_status s;
                if (c->driver->adopt(c, &o.w, &s, &e) < 0)
                        die(&e, "adopt");
                print_status(&s);
                return 0;
        }
        if (STREQ(cmd, "watch"))
                return wait_exit(c, &o.w);
        if (STREQ(cmd, "exec"))
                return cmd_exec(c, &o);
        if (STREQ(cmd, "stop")) {
                if (c->driver->stop(c, &o.w, o.timeout_ms, &e) < 0)
                        die(&e, "stop");
                return wait_exit(c, &o.w);
        }
        if (STREQ(cmd, "remove")) {
                if (c->driver->remove(c, &o.w, &e) < 0)
                        die(&e, "remove");
                return 0;
        }
        if (STREQ(cmd, "list")) {
                _cleanup_strv_free_ char **ids = NULL;
                if (c->driver->list(c, &ids, &e) < 0)
                        die(&e, "list");
                for (char **p = ids; *p; p++)
                        printf("%s\n", *p);
                return 0;
        }
        if (STREQ(cmd, "bench"))
                return cmd_bench(c, &o);
        usage(2);
}
