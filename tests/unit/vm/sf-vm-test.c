/* sf-vm-test: a small CLI over the VM compute driver for tests/system/vm-*.sh and boot-time
 * measurements. It stands in for the agent: it creates each NIC's tap on a bridge inside a
 * network namespace (src/net, the way the agent does), renders the NoCloud seed, and drives
 * the driver table plus the VM-only calls of vm-driver.h. Not installed. */
#include <fcntl.h>
#include <getopt.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent/compute/driver.h"
#include "agent/compute/vm-driver.h"
#include "agent/compute/vm-qemu.h"
#include "agent/compute/vm-seed.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/nl.h"

SF_LOG_MODULE("sf-vm-test");

#define MAX_NICS 8

typedef struct opts {
        sf_compute_options copts;
        sf_workload_spec w;
        const char *netns, *bridge;
        const char *taps[MAX_NICS];
        const char *macs[MAX_NICS + 1];
        const char *ips[MAX_NICS];
        size_t n_taps, n_macs, n_ips;
        const char *gateway;
        const char *meta_file, *user_file, *netcfg_file;
        char *meta, *user, *netcfg;
        char **args, **keys;
        const char *wait_text;
        const char *ping;
        int timeout_ms;
        unsigned runs;
        bool hold, raw;
        int tap_fds[MAX_NICS];
} opts;

static void opts_done(opts *o)
{
        free(o->meta);
        free(o->user);
        free(o->netcfg);
        strv_free(o->args);
        strv_free(o->keys);
        for (size_t i = 0; i < o->n_taps; i++)
                closep(&o->tap_fds[i]);
}

static _noreturn_ void usage(int code)
{
        fputs("usage: sf-vm-test [--root DIR] [--accel kvm|tcg|auto] [--cpu-model M]\n"
              "                  [--monitor PATH] [--qemu PATH] COMMAND [OPTIONS]\n"
              "commands:\n"
              "  start   --id ID --state-dir DIR [spec] [--wait TEXT] [--ping IP] [--hold]\n"
              "  adopt   --id ID --state-dir DIR       status as JSON\n"
              "  info    --state-dir DIR               sf_vm_info as JSON (live)\n"
              "  pause | resume | reboot  --id ID --state-dir DIR\n"
              "  stop    --id ID --state-dir DIR [--timeout MS]\n"
              "  watch   --id ID --state-dir DIR       wait for exit, print the status\n"
              "  remove  --id ID [--state-dir DIR]\n"
              "  list\n"
              "  accel | accel-reason                  the accelerator the driver takes, why\n"
              "  qmp     --id ID --state-dir DIR -- COMMAND [JSON-ARGS]\n"
              "  console --id ID --state-dir DIR\n"
              "  bench   --state-dir DIR [spec] --ping IP [--runs N] [--raw]\n"
              "spec: --kernel F --initrd F --cmdline S --arg A --disk IMG --readonly --cpu MILLI\n"
              "      --memory SIZE --hostname H --log F\n"
              "      --netns PATH --bridge BR --tap NAME [--mac MAC] [--ip ADDR/LEN] (per NIC)\n"
              "      --gateway IP --ssh-key KEY --meta-data F --user-data F --network-config F\n",
              stderr);
        exit(code);
}

static _noreturn_ void die(const sf_err *e, const char *what)
{
        fprintf(stderr, "sf-vm-test: %s: %s%s%s\n", what, e->field ? e->field : "",
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
                fprintf(stderr, "sf-vm-test: bad %s '%s'\n", what, s);
                exit(2);
        }
        return v;
}

static char *read_text(const char *path)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        char *buf;
        if (sf_read_file(path, SF_SEED_FILE_MAX, &buf, NULL, &e) < 0)
                die(&e, path);
        return buf;
}

static void parse(int argc, char **argv, opts *o)
{
        static const struct option lo[] = {
                { "root", required_argument, NULL, 'R' },
                { "accel", required_argument, NULL, 'A' },
                { "cpu-model", required_argument, NULL, 'M' },
                { "monitor", required_argument, NULL, 'O' },
                { "qemu", required_argument, NULL, 'Q' },
                { "id", required_argument, NULL, 'i' },
                { "state-dir", required_argument, NULL, 's' },
                { "log", required_argument, NULL, 'l' },
                { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'I' },
                { "cmdline", required_argument, NULL, 'C' },
                { "arg", required_argument, NULL, 'a' },
                { "disk", required_argument, NULL, 'd' },
                { "readonly", no_argument, NULL, 'o' },
                { "cpu", required_argument, NULL, 'c' },
                { "memory", required_argument, NULL, 'm' },
                { "hostname", required_argument, NULL, 'H' },
                { "netns", required_argument, NULL, 'n' },
                { "bridge", required_argument, NULL, 'b' },
                { "tap", required_argument, NULL, 't' },
                { "mac", required_argument, NULL, 'x' },
                { "ip", required_argument, NULL, 'p' },
                { "gateway", required_argument, NULL, 'g' },
                { "ssh-key", required_argument, NULL, 'K' },
                { "meta-data", required_argument, NULL, '1' },
                { "user-data", required_argument, NULL, '2' },
                { "network-config", required_argument, NULL, '3' },
                { "wait", required_argument, NULL, 'w' },
                { "ping", required_argument, NULL, 'P' },
                { "timeout", required_argument, NULL, 'T' },
                { "runs", required_argument, NULL, 'r' },
                { "hold", no_argument, NULL, 'h' },
                { "raw", no_argument, NULL, 'W' },
                { "help", no_argument, NULL, '?' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
                switch (c) {
                case 'R': o->copts.vm_root = optarg; break;
                case 'A': o->copts.vm_accel = optarg; break;
                case 'M': o->copts.vm_cpu = optarg; break;
                case 'O': o->copts.vm_monitor = optarg; break;
                case 'Q': o->copts.qemu_binary = optarg; break;
                case 'i': o->w.id = optarg; break;
                case 's': o->w.state_dir = optarg; break;
                case 'l': o->w.log_path = optarg; break;
                case 'k': o->w.kernel = optarg; break;
                case 'I': o->w.initrd = optarg; break;
                case 'C': o->w.cmdline = optarg; break;
                case 'a': strv_push(&o->args, xstrdup(optarg)); break;
                case 'd': o->w.rootfs = optarg; break;
                case 'o': o->w.readonly_rootfs = true; break;
                case 'c': o->w.cpu_millicores = (uint32_t) num(optarg, "cpu"); break;
                case 'm':
                        if (sf_parse_size(optarg, &o->w.memory_bytes) < 0) {
                                fprintf(stderr, "sf-vm-test: bad memory '%s'\n", optarg);
                                exit(2);
                        }
                        break;
                case 'H': o->w.hostname = optarg; break;
                case 'n': o->netns = optarg; break;
                case 'b': o->bridge = optarg; break;
                case 't':
                        if (o->n_taps == MAX_NICS)
                                usage(2);
                        o->taps[o->n_taps++] = optarg;
                        break;
                case 'x':
                        if (o->n_macs == MAX_NICS)
                                usage(2);
                        o->macs[o->n_macs++] = optarg;
                        break;
                case 'p':
                        if (o->n_ips == MAX_NICS)
                                usage(2);
                        o->ips[o->n_ips++] = optarg;
                        break;
                case 'g': o->gateway = optarg; break;
                case 'K': strv_push(&o->keys, xstrdup(optarg)); break;
                case '1': o->meta_file = optarg; break;
                case '2': o->user_file = optarg; break;
                case '3': o->netcfg_file = optarg; break;
                case 'w': o->wait_text = optarg; break;
                case 'P': o->ping = optarg; break;
                case 'T': o->timeout_ms = (int) num(optarg, "timeout"); break;
                case 'r': o->runs = (unsigned) num(optarg, "runs"); break;
                case 'h': o->hold = true; break;
                case 'W': o->raw = true; break;
                default: usage(c == '?' ? 0 : 2);
                }
        }
        o->w.args = o->args;
}

static void opts_init(opts *o)
{
        o->w.kind = "vm";
        o->w.cpu_millicores = 1000;
        o->w.memory_bytes = 256ULL << 20;
        o->timeout_ms = 60000;
        o->runs = 3;
        for (size_t i = 0; i < MAX_NICS; i++)
                o->tap_fds[i] = -EBADF;
}

/* ---- taps and seed ---- */

static void make_taps(opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int ns = -EBADF;
        _cleanup_(sf_nl_freep) sf_nl *nl = NULL;
        int br = 0;

        if (!o->n_taps)
                return;
        if (!o->netns || !o->bridge) {
                fprintf(stderr, "sf-vm-test: --tap needs --netns and --bridge\n");
                exit(2);
        }
        ns = sf_netns_open(o->netns, &e);
        if (ns < 0 || sf_nl_open_in_netns(ns, &nl, &e) < 0)
                die(&e, "netns");
        br = sf_link_ifindex(nl, o->bridge, &e);
        if (br < 0)
                die(&e, "bridge");
        for (size_t i = 0; i < o->n_taps; i++) {
                sf_tap_cfg tc = {
                        .name = o->taps[i],
                        .vnet_hdr = true,
                        .netns_fd = ns,
                        .master = br,
                        .up = true,
                };
                if (sf_tap_create(nl, &tc, &o->tap_fds[i], &e) < 0)
                        die(&e, "tap");
        }
        o->w.tap_fds = o->tap_fds;
        o->w.n_tap_fds = o->n_taps;
        o->w.tap_macs = o->n_macs ? o->macs : NULL;
}

static void make_seed(opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;

        if (o->meta_file)
                o->meta = read_text(o->meta_file);
        else if (o->keys) {
                const char *host = o->w.hostname ? o->w.hostname : o->w.id;
                if (sf_seed_meta_data(o->w.id, host, (const char *const *) o->keys, &o->meta,
                                      &e) < 0)
                        die(&e, "meta-data");
        }
        if (o->user_file)
                o->user = read_text(o->user_file);
        if (o->netcfg_file)
                o->netcfg = read_text(o->netcfg_file);
        else if (o->n_ips) {
                sf_seed_nic nics[MAX_NICS];
                const char *addrs[MAX_NICS][2];
                for (size_t i = 0; i < o->n_ips; i++) {
                        char *mac = xmalloc(18);
                        sf_vm_nic_mac(&o->w, i, mac);
                        addrs[i][0] = o->ips[i];
                        addrs[i][1] = NULL;
                        nics[i] = (sf_seed_nic) {
                                .mac = mac,
                                .addresses = addrs[i],
                                .gateway4 = i == 0 ? o->gateway : NULL,
                        };
                }
                if (sf_seed_network_config(nics, o->n_ips, &o->netcfg, &e) < 0)
                        die(&e, "network-config");
                for (size_t i = 0; i < o->n_ips; i++)
                        free((char *) nics[i].mac);
        }
        o->w.meta_data = o->meta;
        o->w.user_data = o->user;
        o->w.network_config = o->netcfg;
}

/* ---- output ---- */

static void print_status(const sf_workload_status *s)
{
        _cleanup_json_ json_t *j = json_object();
        _cleanup_free_ char *text = NULL;
        json_object_set_new(j, "state", json_string(sf_workload_state_str(s->state)));
        json_object_set_new(j, "pid", json_integer(s->pid));
        json_object_set_new(j, "exit_known", json_boolean(s->exit_known));
        json_object_set_new(j, "exit_code", json_integer(s->exit_code));
        json_object_set_new(j, "exit_signal", json_integer(s->exit_signal));
        json_object_set_new(j, "started_usec", json_integer((json_int_t) s->started_usec));
        json_object_set_new(j, "finished_usec", json_integer((json_int_t) s->finished_usec));
        text = sf_json_dumps(j);
        printf("%s\n", text);
        fflush(stdout);
}

static void print_info(const sf_vm_info *i)
{
        _cleanup_json_ json_t *j = json_object();
        _cleanup_free_ char *text = NULL;
        sf_json_set_str(j, "accel", i->accel);
        sf_json_set_str(j, "accel_reason", i->accel_reason);
        sf_json_set_str(j, "cpu", i->cpu);
        json_object_set_new(j, "vcpus", json_integer(i->vcpus));
        json_object_set_new(j, "memory_bytes", json_integer((json_int_t) i->memory_bytes));
        json_object_set_new(j, "qemu_pid", json_integer(i->qemu_pid));
        json_object_set_new(j, "monitor_pid", json_integer(i->monitor_pid));
        json_object_set_new(j, "running", json_boolean(i->running));
        json_object_set_new(j, "paused", json_boolean(i->paused));
        sf_json_set_str(j, "run_state", i->run_state);
        sf_json_set_str(j, "qmp_socket", i->qmp_socket);
        sf_json_set_str(j, "console_log", i->console_log);
        sf_json_set_str(j, "qemu_log", i->qemu_log);
        json_object_set_new(j, "console_offset", json_integer((json_int_t) i->console_offset));
        json_object_set_new(j, "started_usec", json_integer((json_int_t) i->started_usec));
        json_object_set_new(j, "ready_usec", json_integer((json_int_t) i->ready_usec));
        sf_json_set_str(j, "shutdown_reason", i->shutdown_reason);
        json_object_set_new(j, "shutdown_guest", json_boolean(i->shutdown_guest));
        json_object_set_new(j, "resets", json_integer(i->resets));
        text = sf_json_dumps(j);
        printf("%s\n", text);
        fflush(stdout);
}

/* ---- waiting for the guest ---- */

/* Waits until the console log contains text; returns the time (CLOCK_MONOTONIC usec) it was
 * first seen, 0 on timeout or when process pid (if > 0) is gone. */
static uint64_t wait_console(const char *path, const char *text, pid_t pid, off_t off,
                             uint64_t deadline)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        int fd = -EBADF;

        while (sf_now_usec() < deadline) {
                char tmp[16384];
                ssize_t n;
                if (fd < 0)
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        while ((n = pread(fd, tmp, sizeof(tmp), off)) > 0) {
                                if (len + (size_t) n + 1 > cap) {
                                        cap = MAX(cap * 2, len + (size_t) n + 1);
                                        buf = xrealloc(buf, cap);
                                }
                                memcpy(buf + len, tmp, (size_t) n);
                                len += (size_t) n;
                                buf[len] = 0;
                                off += n;
                        }
                        if (buf && strstr(buf, text)) {
                                close(fd);
                                return sf_now_usec();
                        }
                }
                if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH) {
                        fprintf(stderr, "sf-vm-test: QEMU (pid %d) is gone\n", (int) pid);
                        break;
                }
                usleep(2000);
        }
        if (fd >= 0)
                close(fd);
        return 0;
}

typedef struct pinger {
        int fd;
        struct sockaddr_in to;
        uint16_t seq;
} pinger;

static uint16_t csum(const void *data, size_t len)
{
        const uint8_t *p = data;
        uint32_t s = 0;
        for (size_t i = 0; i + 1 < len; i += 2)
                s += (uint32_t) (p[i] << 8 | p[i + 1]);
        if (len & 1)
                s += (uint32_t) p[len - 1] << 8;
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return htons((uint16_t) ~s);
}

/* Pings ip from inside the namespace (a raw ICMP socket created there) until it answers;
 * returns the time of the first reply, 0 on timeout. */
static uint64_t wait_ping(const char *netns, const char *ip, uint64_t deadline)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int ns = -EBADF, fd = -EBADF;
        struct sockaddr_in to = { .sin_family = AF_INET };
        uint16_t id = (uint16_t) getpid(), seq = 0;
        int saved;

        if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) {
                fprintf(stderr, "sf-vm-test: bad --ping '%s'\n", ip);
                exit(2);
        }
        ns = sf_netns_open(netns, &e);
        if (ns < 0 || sf_netns_enter(ns, &saved, &e) < 0)
                die(&e, "ping");
        fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        sf_netns_leave(saved);
        if (fd < 0) {
                perror("sf-vm-test: ping socket");
                exit(1);
        }
        while (sf_now_usec() < deadline) {
                struct icmphdr h = { .type = ICMP_ECHO, .un.echo = { htons(id), htons(++seq) } };
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t until = sf_now_usec() + 20000;
                h.checksum = csum(&h, sizeof(h));
                sendto(fd, &h, sizeof(h), 0, (struct sockaddr *) &to, sizeof(to));
                while (sf_now_usec() < until) {
                        uint8_t buf[1500];
                        ssize_t n;
                        if (poll(&p, 1, (int) ((until - sf_now_usec()) / 1000) + 1) <= 0)
                                break;
                        n = recv(fd, buf, sizeof(buf), 0);
                        if (n >= 28) {
                                size_t ihl = (size_t) (buf[0] & 0xf) * 4;
                                struct icmphdr *r = (struct icmphdr *) (buf + ihl);
                                if ((size_t) n >= ihl + sizeof(*r) && r->type == ICMP_ECHOREPLY &&
                                    ntohs(r->un.echo.id) == id &&
                                    memcmp(buf + 12, &to.sin_addr, 4) == 0)
                                        return sf_now_usec();
                        }
                }
        }
        return 0;
}

/* ---- commands ---- */

static int cmd_start(sf_compute *c, opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status st;
        uint64_t t0, t_started, t_ready = 0, t_ping = 0, deadline;

        make_taps(o);
        make_seed(o);
        if (c->driver->prepare(c, &o->w, &e) < 0)
                die(&e, "prepare");
        t0 = sf_now_usec();
        deadline = t0 + (uint64_t) o->timeout_ms * 1000;
        if (c->driver->start(c, &o->w, &st, &e) < 0)
                die(&e, "start");
        t_started = sf_now_usec();
        print_status(&st);
        /* The taps now live on in QEMU; ours go, as the agent's would after a restart. */
        for (size_t i = 0; i < o->n_taps; i++)
                closep(&o->tap_fds[i]);
        if (o->wait_text) {
                _cleanup_free_ char *console = sf_vm_console_path(&o->w);
                _cleanup_vm_info_ sf_vm_info info = { 0 };
                if (sf_vm_info_read(o->w.state_dir, false, &info, &e) < 0)
                        die(&e, "info");
                t_ready = wait_console(console, o->wait_text, st.pid,
                                       (off_t) info.console_offset, deadline);
                if (!t_ready) {
                        fprintf(stderr, "sf-vm-test: '%s' not on the console within %d ms\n",
                                o->wait_text, o->timeout_ms);
                        return 1;
                }
        }
        if (o->ping) {
                t_ping = wait_ping(o->netns, o->ping, deadline);
                if (!t_ping) {
                        fprintf(stderr, "sf-vm-test: %s did not answer within %d ms\n", o->ping,
                                o->timeout_ms);
                        return 1;
                }
        }
        printf("{\"start_ms\":%.1f,\"ready_ms\":%.1f,\"ping_ms\":%.1f}\n",
               (double) (t_started - t0) / 1000, t_ready ? (double) (t_ready - t0) / 1000 : -1,
               t_ping ? (double) (t_ping - t0) / 1000 : -1);
        fflush(stdout);
        if (o->hold)
                for (;;)
                        pause(); /* an agent that keeps running, until killed */
        return 0;
}

static int cmd_adopt(sf_compute *c, opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status st;
        if (c->driver->adopt(c, &o->w, &st, &e) < 0)
                die(&e, "adopt");
        print_status(&st);
        return 0;
}

static int cmd_info(opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_vm_info_ sf_vm_info i = { 0 };
        if (sf_vm_info_read(o->w.state_dir, true, &i, &e) < 0)
                die(&e, "info");
        print_info(&i);
        return 0;
}

static int cmd_watch(sf_compute *c, opts *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int fd = -EBADF;
        sf_workload_status st;
        struct pollfd p;

        if (c->driver->watch(c, &o->w, &fd, &e) < 0)
                die(&e, "watch");
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        while (poll(&p, 1, o->timeout_ms) < 0 && errno == EINTR)
                ;
        if (!(p.revents & POLLIN)) {
                fprintf(stderr, "sf-vm-test: still running after %d ms\n", o->timeout_ms);
                return 1;
        }
        if (c->driver->reap(c, &o->w, &st, &e) < 0)
                die(&e, "reap");
        print_status(&st);
        return 0;
}

static int cmd_list(sf_compute *c)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_strv_free_ char **ids = NULL;
        if (c->driver->list(c, &ids, &e) < 0)
                die(&e, "list");
        for (char **i = ids; *i; i++)
                printf("%s\n", *i);
        return 0;
}

static int cmd_qmp(sf_compute *c, opts *o, char **rest)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_json_ json_t *args = NULL, *ret = NULL;
        _cleanup_free_ char *text = NULL;
        if (!rest[0])
                usage(2);
        if (rest[1] && sf_json_parse(rest[1], strlen(rest[1]), &args, &e) < 0)
                die(&e, "arguments");
        if (sf_vm_qmp(c, &o->w, rest[0], args, &ret, &e) < 0)
                die(&e, "qmp");
        text = json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%s\n", text ? text : "null");
        return 0;
}

/* ---- bench: boot time through the driver vs QEMU started directly ---- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void summary(const char *what, double *v, unsigned n)
{
        double s = 0;
        if (!n)
                return;
        qsort(v, n, sizeof(double), cmp_double);
        for (unsigned i = 0; i < n; i++)
                s += v[i];
        printf("%-28s n=%u  min %.0f  median %.0f  mean %.0f  max %.0f ms\n", what, n, v[0],
               v[n / 2], s / n, v[n - 1]);
}

/* QEMU with the driver's command line, without the monitor and the two QMP channels. */
static int raw_spawn(opts *o, pid_t *ret, sf_err *e)
{
        _cleanup_strv_free_ char **argv = NULL, **raw = NULL;
        _cleanup_close_ int log = -EBADF;
        _cleanup_free_ char *qlog = sf_vm_path(&o->w, "raw-qemu.log");
        sf_spawn_fd fds[MAX_NICS];
        sf_spawn_opts so = SF_SPAWN_OPTS_INIT;
        sf_vm_host h = { 0 };
        int r;

        /* The accelerator and CPU the driver would choose. */
        h.qemu = o->copts.qemu_binary ? o->copts.qemu_binary : "qemu-system-x86_64";
        {
                sf_kvm_probe p;
                _cleanup_free_ char *why = NULL;
                const char *acc = o->copts.vm_accel ? o->copts.vm_accel : getenv("SF_VM_ACCEL");
                sf_kvm_probe_host(&p);
                r = sf_vm_accel_choose(acc, &p, &h.accel, &why, e);
                if (r < 0)
                        return r;
        }
        h.cpu = o->copts.vm_cpu;
        h.disk_format = "qcow2";
        r = sf_vm_qemu_argv(&o->w, &h, &argv, e);
        if (r < 0)
                return r;
        for (size_t i = 0; argv[i]; i++) {
                if ((STREQ(argv[i], "-chardev") && argv[i + 1] &&
                     strncmp(argv[i + 1], "socket,", 7) == 0) ||
                    (STREQ(argv[i], "-mon") && argv[i + 1] &&
                     (strstr(argv[i + 1], "chardev=qmp") || strstr(argv[i + 1], "chardev=events")))) {
                        i++;
                        continue;
                }
                strv_push(&raw, xstrdup(argv[i]));
        }
        log = open(qlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        for (size_t i = 0; i < o->n_taps; i++)
                fds[i] = (sf_spawn_fd) { .fd = o->tap_fds[i], .target = SF_VM_TAP_FD_BASE + (int) i };
        so.argv = raw;
        so.fds = fds;
        so.n_fds = o->n_taps;
        so.stdio[1] = so.stdio[2] = log >= 0 ? log : SF_SPAWN_DEVNULL;
        return sf_spawn(&so, ret, e);
}

static int cmd_bench(sf_compute *c, opts *o)
{
        _cleanup_free_ double *start = new0(double, o->runs), *ready = new0(double, o->runs),
                              *ping = new0(double, o->runs);
        _cleanup_free_ char *console = NULL;
        unsigned n = 0;

        if (!o->ping || !o->w.state_dir || !o->w.id) {
                fprintf(stderr, "sf-vm-test: bench needs --id, --state-dir and --ping\n");
                return 2;
        }
        console = sf_vm_console_path(&o->w);
        for (unsigned run = 0; run < o->runs; run++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                uint64_t t0, t1, tr, tp, deadline;
                sf_workload_status st = { 0 };
                pid_t raw_pid = 0;

                make_taps(o);
                if (run == 0)
                        make_seed(o);
                if (c->driver->prepare(c, &o->w, &e) < 0)
                        die(&e, "prepare");
                unlink(console);
                t0 = sf_now_usec();
                deadline = t0 + (uint64_t) o->timeout_ms * 1000;
                if (o->raw) {
                        if (raw_spawn(o, &raw_pid, &e) < 0)
                                die(&e, "raw qemu");
                } else if (c->driver->start(c, &o->w, &st, &e) < 0)
                        die(&e, "start");
                t1 = sf_now_usec();
                for (size_t i = 0; i < o->n_taps; i++)
                        closep(&o->tap_fds[i]);
                tr = wait_console(console, "SF-GUEST: ready", o->raw ? raw_pid : st.pid, 0,
                                  deadline);
                tp = tr ? wait_ping(o->netns, o->ping, deadline) : 0;
                if (o->raw) {
                        kill(raw_pid, SIGKILL);
                        sf_spawn_wait(raw_pid, -1, NULL, NULL);
                } else if (c->driver->stop(c, &o->w, 0, &e) < 0)
                        die(&e, "stop");
                if (!tr || !tp) {
                        fprintf(stderr, "run %u: no %s within %d ms\n", run,
                                tr ? "ping" : "ready marker", o->timeout_ms);
                        continue;
                }
                start[n] = (double) (t1 - t0) / 1000;
                ready[n] = (double) (tr - t0) / 1000;
                ping[n] = (double) (tp - t0) / 1000;
                printf("run %u: %s %.0f ms, ready %.0f ms, ping %.0f ms\n", run,
                       o->raw ? "spawn" : "start()", start[n], ready[n], ping[n]);
                fflush(stdout);
                n++;
        }
        {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (c->driver->remove(c, &o->w, &e) < 0)
                        die(&e, "remove");
        }
        printf("%s, %s\n", o->raw ? "raw QEMU" : "driver",
               o->copts.vm_accel ? o->copts.vm_accel : "auto");
        summary(o->raw ? "spawn returned" : "start() returned", start, n);
        summary("console 'SF-GUEST: ready'", ready, n);
        summary("ping answered", ping, n);
        return n == o->runs ? 0 : 1;
}

int main(int argc, char **argv)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_(opts_done) opts o = { 0 };
        _cleanup_(sf_compute_closep) sf_compute *c = NULL;
        const char *cmd;
        int r;

        signal(SIGPIPE, SIG_IGN);
        if (getenv("SF_LOG_LEVEL"))
                sf_log_max_level = sf_log_parse_level(getenv("SF_LOG_LEVEL"));
        opts_init(&o);
        parse(argc, argv, &o);
        if (optind >= argc)
                usage(2);
        cmd = argv[optind++];
        /* Options may also follow the command. */
        if (optind < argc && argv[optind][0] == '-' && STRNEQ(argv[optind], "--")) {
                int n = argc - optind + 1;
                char **v = argv + optind - 1;
                optind = 1;
                parse(n, v, &o);
                optind += (int) (v - argv);
        }
        if (optind < argc && STREQ(argv[optind], "--"))
                optind++;

        if (STREQ(cmd, "info"))
                return cmd_info(&o);
        if (STREQ(cmd, "console")) {
                _cleanup_free_ char *t = NULL;
                if (sf_vm_console_tail(&o.w, 64 * 1024, &t, &e) < 0)
                        die(&e, "console");
                fputs(t, stdout);
                return 0;
        }
        if (sf_compute_open("vm", &o.copts, &c, &e) < 0)
                die(&e, "open");
        if (STREQ(cmd, "start"))
                r = cmd_start(c, &o);
        else if (STREQ(cmd, "adopt"))
                r = cmd_adopt(c, &o);
        else if (STREQ(cmd, "watch"))
                r = cmd_watch(c, &o);
        else if (STREQ(cmd, "accel") || STREQ(cmd, "accel-reason")) {
                const char *why;
                const char *a = sf_vm_accel_get(c, &why);
                printf("%s\n", STREQ(cmd, "accel") ? a : why);
                r = 0;
        } else if (STREQ(cmd, "list"))
                r = cmd_list(c);
        else if (STREQ(cmd, "qmp"))
                r = cmd_qmp(c, &o, argv + optind);
        else if (STREQ(cmd, "bench"))
                r = cmd_bench(c, &o);
        else if (STREQ(cmd, "stop")) {
                if (c->driver->stop(c, &o.w, o.timeout_ms, &e) < 0)
                        die(&e, "stop");
                r = 0;
        } else if (STREQ(cmd, "remove")) {
                if (c->driver->remove(c, &o.w, &e) < 0)
                        die(&e, "remove");
                r = 0;
        } else if (STREQ(cmd, "pause") || STREQ(cmd, "resume") || STREQ(cmd, "reboot")) {
                int (*f)(sf_compute *, const sf_workload_spec *, sf_err *) =
                        STREQ(cmd, "pause") ? sf_vm_pause : STREQ(cmd, "resume") ? sf_vm_resume
                                                                                 : sf_vm_reboot;
                if (f(c, &o.w, &e) < 0)
                        die(&e, cmd);
                r = 0;
        } else
                usage(2);
        return r;
}
