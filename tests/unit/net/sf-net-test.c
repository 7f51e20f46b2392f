/* sf-net-test: a test-only command line over src/net, so tests/system/net-*.sh can build real
 * topologies with the library and check them with ip(8)/bridge(8). Not installed. */
#include <fcntl.h>
#include <getopt.h>
#include <linux/neighbour.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/addr.h"
#include "lib/err.h"
#include "lib/util.h"
#include "net/features.h"
#include "net/link.h"
#include "net/neigh.h"
#include "net/netns.h"
#include "net/nl.h"
#include "net/nswatch.h"
#include "net/plumb.h"
#include "net/route.h"
#include "net/task-iter.h"

static const char *arg_netns; /* global --netns: operate inside this namespace */

static int fail(sf_err *e)
{
        fprintf(stderr, "sf-net-test: %s%s%s\n", e->field ? e->field : "", e->field ? ": " : "",
                sf_err_msg(e));
        return 1;
}

static int usage(void)
{
        fputs("usage: sf-net-test [--netns PATH] [--bpf-tasks] COMMAND ...\n"
              "  (--bpf-tasks: process snapshots through the BPF task iterator, as sfd takes them)\n"
              "  netns-add PATH | netns-del PATH | netns-pids PATH\n"
              "  netns-again PATH   (add, delete, remove its directory, add again: in one process)\n"
              "  netns-thread PATH SECONDS   (one thread of this process in PATH, the others not)\n"
              "  netns-check PATH [--hold-udp] [--ignore-held]\n"
              "  netns-watch PATH [SYSCTL...]   (arm a watch, wait for a line on stdin, say what changed)\n"
              "  bridge NAME [--mtu N] [--mac M] [--up]\n"
              "  veth NAME PEER [--peer-netns PATH] [--master BR] [--mtu N] [--mac M] [--peer-mac M] [--up]\n"
              "  vxlan NAME VNI [--local IP] [--dev IF] [--master BR] [--mtu N] [--up] [--learning]\n"
              "  macvlan NAME PARENT [--target-netns PATH] [--mac M] [--up]\n"
              "  tap NAME [--persist] [--vnet-hdr] [--master BR] [--mtu N] [--up]\n"
              "  set IF [--up|--down] [--mtu N] [--mac M] [--master BR|--nomaster] [--name NEW]\n"
              "  del IF [--missing-ok] | ifindex IF | list [PREFIX]\n"
              "  addr add|del IF PREFIX [--nodad] [--noprefixroute]\n"
              "  route add|replace|del PREFIX [--via GW] [--dev IF] [--table N] [--onlink] [--metric N]\n"
              "  neigh replace|del IF IP [LLADDR] | neigh list [IF]\n"
              "  fdb append|del IF MAC [--dst IP] [--vni N] | fdb list IF\n"
              "  sysctl KEY [VALUE]\n"
              "  garp IF IP [--count N]\n"
              "  plumb --netns-path P --host IF [--macvlan-on IF|--vlan-on IF --vlan-id N] [--bridge BR]\n"
              "        [--peer IF] [--mac M] [--mtu N]\n"
              "        [--addr PREFIX]... [--gw IP]... [--route PREFIX[,via=IP]]... [--sysctl K=V]...\n"
              "  unplumb HOST [NETNS_PATH]\n"
              "  plumb-many|unplumb-many --dir DIR --prefix P --bridge BR --count N [--threads K] [--async]\n"
              "        (N ports P0..P<N-1> in DIR/P<i>, 10.99.0.0/16, from K threads)\n"
              "  batch-demo     (two requests that succeed around one that fails, on lo)\n"
              "  features\n",
              stderr);
        return 2;
}

static int open_nl(sf_nl **ret, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF;
        if (!arg_netns)
                return sf_nl_open(ret, e);
        fd = sf_netns_open(arg_netns, e);
        if (fd < 0)
                return fd;
        return sf_nl_open_in_netns(fd, ret, e);
}

static int parse_mac(const char *s, uint8_t mac[6], sf_err *e)
{
        if (sf_mac_parse(s, mac) < 0)
                return sf_err_set(e, -EINVAL, "mac", "'%s' is not a MAC address", s);
        return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret, sf_err *e)
{
        char *end;
        unsigned long v;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > max)
                return sf_err_set(e, -EINVAL, NULL, "'%s' is not a number up to %lu", s, max);
        *ret = v;
        return 0;
}

static int parse_addr(const char *s, sf_addr *a, sf_err *e)
{
        if (sf_addr_parse(s, a) < 0)
                return sf_err_set(e, -EINVAL, NULL, "'%s' is not an IP address", s);
        return 0;
}

static int parse_prefix(const char *s, bool strict, sf_prefix *p, sf_err *e)
{
        if (STREQ(s, "default"))
                s = "0.0.0.0/0";
        else if (STREQ(s, "default6"))
                s = "::/0";
        if (sf_prefix_parse(s, strict, p) < 0)
                return sf_err_set(e, -EINVAL, NULL, "'%s' is not a prefix", s);
        return 0;
}

static int ifindex_of(sf_nl *nl, const char *name, sf_err *e)
{
        return sf_link_ifindex(nl, name, e);
}

/* Each subcommand gets argv starting at its name; getopt state is reset. */
#define SUBOPTS(...)                                                      \
        static const struct option opts[] = { __VA_ARGS__, { 0, 0, 0, 0 } }; \
        optind = 0

static int cmd_netns(int argc, char **argv, sf_err *e)
{
        if (argc != 2)
                return usage();
        if (STREQ(argv[0], "netns-add"))
                return sf_netns_create(argv[1], e) < 0 ? fail(e) : 0;
        if (STREQ(argv[0], "netns-del"))
                return sf_netns_delete(argv[1], e) < 0 ? fail(e) : 0;
        if (STREQ(argv[0], "netns-again")) {
                /* The directory, made ready (and a mount of its own) by the first add, goes
                 * away: the second add must make it again, not trust what it knew. */
                _cleanup_free_ char *dir = xstrdup(argv[1]);
                *strrchr(dir, '/') = 0;
                if (sf_netns_create(argv[1], e) < 0 || sf_netns_delete(argv[1], e) < 0)
                        return fail(e);
                if (umount2(dir, MNT_DETACH) < 0 || rmdir(dir) < 0) {
                        sf_err_errno(e, -errno, "remove '%s'", dir);
                        return fail(e);
                }
                return sf_netns_create(argv[1], e) < 0 ? fail(e) : 0;
        }
        if (STREQ(argv[0], "netns-pids")) {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n;
                if (sf_netns_pids(argv[1], &pids, &n, e) < 0)
                        return fail(e);
                for (size_t i = 0; i < n; i++)
                        printf("%d\n", (int) pids[i]);
                return 0;
        }
        return usage();
}

struct thread_in {
        int fd;
        unsigned seconds;
        int err;
        int ready[2]; /* a pipe: the thread writes once it is in (or failed) */
};

static void *thread_in_ns(void *u)
{
        struct thread_in *t = u;
        char c = 0;
        if (setns(t->fd, CLONE_NEWNET) < 0)
                t->err = -errno;
        (void) !write(t->ready[1], &c, 1);
        if (!t->err)
                sleep(t->seconds);
        return NULL;
}

/* One thread of this process in the namespace, the main thread not: a process snapshot must
 * look at every thread. Prints the pid once the thread is in. */
static int cmd_netns_thread(int argc, char **argv, sf_err *e)
{
        struct thread_in t = { .fd = -EBADF };
        pthread_t th;
        unsigned long secs;
        char *end, c;
        if (argc != 3)
                return usage();
        secs = strtoul(argv[2], &end, 10);
        if (*end || secs == 0 || secs > 3600) {
                fprintf(stderr, "sf-net-test: SECONDS: '%s' is not 1..3600\n", argv[2]);
                return 2;
        }
        t.seconds = (unsigned) secs;
        t.fd = sf_netns_open(argv[1], e);
        if (t.fd < 0)
                return fail(e);
        if (pipe2(t.ready, O_CLOEXEC) < 0 || pthread_create(&th, NULL, thread_in_ns, &t) != 0) {
                close(t.fd);
                return 1;
        }
        if (read(t.ready[0], &c, 1) == 1 && !t.err) {
                printf("%d\n", (int) getpid());
                fflush(stdout);
        }
        pthread_join(th, NULL);
        close(t.fd);
        close(t.ready[0]);
        close(t.ready[1]);
        if (t.err) {
                fprintf(stderr, "sf-net-test: setns: %s\n", strerror(-t.err));
                return 1;
        }
        return 0;
}

struct hold {
        int fd;
};

static int open_udp(void *userdata)
{
        struct hold *h = userdata;
        h->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return h->fd < 0 ? -errno : 0;
}

static int cmd_netns_check(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "hold-udp", no_argument, NULL, 'H' }, { "ignore-held", no_argument, NULL, 'I' });
        _cleanup_netns_report_ sf_netns_report *rep = NULL;
        _cleanup_free_ char *sum = NULL;
        _cleanup_close_ int nsfd = -EBADF;
        bool hold = false, ignore = false;
        struct hold h = { .fd = -EBADF };
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'H')
                        hold = true;
                else if (c == 'I')
                        ignore = true;
                else
                        return usage();
        }
        if (optind + 1 != argc)
                return usage();
        if (hold) {
                /* A UDP socket of ours inside the namespace (bound, so it shows up). */
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(40404),
                                          .sin_addr = { htonl(INADDR_LOOPBACK) } };
                nsfd = sf_netns_open(argv[optind], e);
                if (nsfd < 0)
                        return fail(e);
                r = sf_netns_run(nsfd, open_udp, &h, e);
                if (r < 0)
                        return fail(e);
                (void) bind(h.fd, (struct sockaddr *) &sa, sizeof(sa));
        }
        r = sf_netns_check(argv[optind], ignore ? &h.fd : NULL, ignore ? 1 : 0, &rep, e);
        if (h.fd >= 0)
                close(h.fd);
        if (r < 0)
                return fail(e);
        sum = sf_netns_report_summary(rep);
        printf("%s\nconntrack source: %s\nprocesses from: %s\n", sum,
               rep->conntrack_source ? rep->conntrack_source : "none", sf_netns_task_lister_name());
        return sf_netns_report_clean(rep) ? 0 : 3;
}

struct watch_ctx {
        char **sysctls;
        size_t n;
        sf_netns_watch *w;
        sf_err err;
};

static int open_watch(void *u)
{
        struct watch_ctx *c = u;
        return sf_netns_watch_open((const char *const *) c->sysctls, c->n, &c->w, &c->err);
}

/* Opens a watch inside PATH, says "armed", waits for a line on stdin, and prints what the
 * watch says: "unchanged" (exit 0) or what changed (exit 3). */
static int cmd_netns_watch(int argc, char **argv, sf_err *e)
{
        struct watch_ctx c = { .sysctls = argv + 2, .n = argc > 2 ? (size_t) argc - 2 : 0, .err = SF_ERR_INIT };
        _cleanup_close_ int nsfd = -EBADF;
        _cleanup_free_ char *changed = NULL;
        char line[64];
        int r;

        if (argc < 2)
                return usage();
        nsfd = sf_netns_open(argv[1], e);
        if (nsfd < 0)
                return fail(e);
        r = sf_netns_run(nsfd, open_watch, &c, e);
        if (r < 0) {
                if (c.err.code)
                        sf_err_move(e, &c.err);
                return fail(e);
        }
        printf("armed\n");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin))
                line[0] = 0;
        changed = sf_netns_watch_changed(c.w);
        sf_netns_watch_free(c.w);
        printf("%s\n", changed ? changed : "unchanged");
        return changed ? 3 : 0;
}

static int cmd_bridge(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "mtu", required_argument, NULL, 'm' }, { "mac", required_argument, NULL, 'a' },
                { "up", no_argument, NULL, 'u' }, { "vlan-filtering", no_argument, NULL, 'v' });
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_bridge_cfg b = {};
        uint8_t mac[6];
        unsigned long v;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'm' && parse_uint(optarg, 65535, &v, e) >= 0)
                        b.mtu = v;
                else if (c == 'a' && parse_mac(optarg, mac, e) >= 0)
                        b.mac = mac;
                else if (c == 'u')
                        b.up = true;
                else if (c == 'v')
                        b.vlan_filtering = true;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 1 != argc)
                return usage();
        b.name = argv[optind];
        if (open_nl(&nl, e) < 0 || sf_link_create_bridge(nl, &b, e) < 0)
                return fail(e);
        return 0;
}

static int cmd_veth(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "peer-netns", required_argument, NULL, 'n' }, { "master", required_argument, NULL, 'M' },
                { "mtu", required_argument, NULL, 'm' }, { "mac", required_argument, NULL, 'a' },
                { "peer-mac", required_argument, NULL, 'p' }, { "up", no_argument, NULL, 'u' });
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_close_ int pfd = -EBADF;
        const char *master = NULL, *peer_netns = NULL;
        sf_veth_cfg v = { .peer_netns_fd = -1 };
        uint8_t mac[6], pmac[6];
        unsigned long n;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'n')
                        peer_netns = optarg;
                else if (c == 'M')
                        master = optarg;
                else if (c == 'm' && parse_uint(optarg, 65535, &n, e) >= 0)
                        v.mtu = n;
                else if (c == 'a' && parse_mac(optarg, mac, e) >= 0)
                        v.mac = mac;
                else if (c == 'p' && parse_mac(optarg, pmac, e) >= 0)
                        v.peer_mac = pmac;
                else if (c == 'u')
                        v.up = true;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 2 != argc)
                return usage();
        v.name = argv[optind];
        v.peer_name = argv[optind + 1];
        if (open_nl(&nl, e) < 0)
                return fail(e);
        if (master && (v.master = ifindex_of(nl, master, e)) < 0)
                return fail(e);
        if (peer_netns) {
                pfd = sf_netns_open(peer_netns, e);
                if (pfd < 0)
                        return fail(e);
                v.peer_netns_fd = pfd;
        }
        return sf_link_create_veth(nl, &v, e) < 0 ? fail(e) : 0;
}

static int cmd_vxlan(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "local", required_argument, NULL, 'l' }, { "dev", required_argument, NULL, 'd' },
                { "master", required_argument, NULL, 'M' }, { "mtu", required_argument, NULL, 'm' },
                { "up", no_argument, NULL, 'u' }, { "learning", no_argument, NULL, 'L' });
        _cleanup_nl_ sf_nl *nl = NULL;
        const char *dev = NULL, *master = NULL;
        sf_vxlan_cfg x = {};
        unsigned long n;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'l' && parse_addr(optarg, &x.local, e) >= 0)
                        continue;
                else if (c == 'd')
                        dev = optarg;
                else if (c == 'M')
                        master = optarg;
                else if (c == 'm' && parse_uint(optarg, 65535, &n, e) >= 0)
                        x.mtu = n;
                else if (c == 'u')
                        x.up = true;
                else if (c == 'L')
                        x.learning = true;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 2 != argc)
                return usage();
        x.name = argv[optind];
        if (parse_uint(argv[optind + 1], 0xffffff, &n, e) < 0)
                return fail(e);
        x.vni = n;
        if (open_nl(&nl, e) < 0)
                return fail(e);
        if (dev && (x.underlay = ifindex_of(nl, dev, e)) < 0)
                return fail(e);
        if (master && (x.master = ifindex_of(nl, master, e)) < 0)
                return fail(e);
        return sf_link_create_vxlan(nl, &x, e) < 0 ? fail(e) : 0;
}

static int cmd_macvlan(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "target-netns", required_argument, NULL, 'n' }, { "mac", required_argument, NULL, 'a' },
                { "up", no_argument, NULL, 'u' });
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_close_ int tfd = -EBADF;
        sf_macvlan_cfg m = { .netns_fd = -1 };
        const char *target = NULL;
        uint8_t mac[6];
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'n')
                        target = optarg;
                else if (c == 'a' && parse_mac(optarg, mac, e) >= 0)
                        m.mac = mac;
                else if (c == 'u')
                        m.up = true;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 2 != argc)
                return usage();
        m.name = argv[optind];
        if (open_nl(&nl, e) < 0 || (m.parent = ifindex_of(nl, argv[optind + 1], e)) < 0)
                return fail(e);
        if (target) {
                if ((tfd = sf_netns_open(target, e)) < 0)
                        return fail(e);
                m.netns_fd = tfd;
        }
        return sf_link_create_macvlan(nl, &m, e) < 0 ? fail(e) : 0;
}

static int cmd_tap(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "persist", no_argument, NULL, 'p' }, { "vnet-hdr", no_argument, NULL, 'v' },
                { "master", required_argument, NULL, 'M' }, { "mtu", required_argument, NULL, 'm' },
                { "up", no_argument, NULL, 'u' });
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_close_ int nsfd = -EBADF, fd = -EBADF;
        sf_tap_cfg t = { .netns_fd = -1 };
        const char *master = NULL;
        unsigned long n;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'p')
                        t.persist = true;
                else if (c == 'v')
                        t.vnet_hdr = true;
                else if (c == 'M')
                        master = optarg;
                else if (c == 'm' && parse_uint(optarg, 65535, &n, e) >= 0)
                        t.mtu = n;
                else if (c == 'u')
                        t.up = true;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 1 != argc)
                return usage();
        t.name = argv[optind];
        if (open_nl(&nl, e) < 0)
                return fail(e);
        if (arg_netns) {
                if ((nsfd = sf_netns_open(arg_netns, e)) < 0)
                        return fail(e);
                t.netns_fd = nsfd;
        }
        if (master && (t.master = ifindex_of(nl, master, e)) < 0)
                return fail(e);
        return sf_tap_create(nl, &t, &fd, e) < 0 ? fail(e) : 0;
}

static int cmd_set(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "up", no_argument, NULL, 'u' }, { "down", no_argument, NULL, 'd' },
                { "mtu", required_argument, NULL, 'm' }, { "mac", required_argument, NULL, 'a' },
                { "master", required_argument, NULL, 'M' }, { "nomaster", no_argument, NULL, 'N' },
                { "name", required_argument, NULL, 'n' });
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_link_change s = SF_LINK_CHANGE_INIT;
        const char *master = NULL;
        uint8_t mac[6];
        unsigned long n;
        int c, idx;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'u' || c == 'd')
                        s.up = c == 'u';
                else if (c == 'm' && parse_uint(optarg, 65535, &n, e) >= 0)
                        s.mtu = n;
                else if (c == 'a' && parse_mac(optarg, mac, e) >= 0)
                        s.mac = mac;
                else if (c == 'M')
                        master = optarg;
                else if (c == 'N')
                        s.master = -1;
                else if (c == 'n')
                        s.new_name = optarg;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 1 != argc)
                return usage();
        if (open_nl(&nl, e) < 0 || (idx = ifindex_of(nl, argv[optind], e)) < 0)
                return fail(e);
        if (master && (s.master = ifindex_of(nl, master, e)) < 0)
                return fail(e);
        return sf_link_set(nl, SF_LINK_IDX(idx), &s, e) < 0 ? fail(e) : 0;
}

static int cmd_del(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "missing-ok", no_argument, NULL, 'o' });
        _cleanup_nl_ sf_nl *nl = NULL;
        unsigned flags = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'o')
                        flags |= SF_NL_MISSING_OK;
                else
                        return usage();
        }
        if (optind + 1 != argc)
                return usage();
        if (open_nl(&nl, e) < 0 || sf_link_del(nl, SF_LINK_NAME(argv[optind]), flags, e) < 0)
                return fail(e);
        return 0;
}

static int cmd_list(int argc, char **argv, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_link_info *v = NULL;
        size_t n = 0;

        if (argc > 2)
                return usage();
        if (open_nl(&nl, e) < 0 || sf_link_list(nl, argc == 2 ? argv[1] : NULL, &v, &n, e) < 0)
                return fail(e);
        for (size_t i = 0; i < n; i++)
                printf("%d %s %s mtu %u master %d\n", v[i].ifindex, v[i].name,
                       v[i].kind ? v[i].kind : "-", v[i].mtu, v[i].master);
        sf_link_info_free_array(v, n);
        return 0;
}

static int cmd_ifindex(int argc, char **argv, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        int r;
        if (argc != 2)
                return usage();
        if (open_nl(&nl, e) < 0 || (r = sf_link_ifindex(nl, argv[1], e)) < 0)
                return fail(e);
        printf("%d\n", r);
        return 0;
}

static int cmd_addr(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "nodad", no_argument, NULL, 'n' }, { "noprefixroute", no_argument, NULL, 'p' });
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_ipaddr_cfg a = { .broadcast = true };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'n')
                        a.nodad = true;
                else if (c == 'p')
                        a.noprefixroute = true;
                else
                        return usage();
        }
        if (optind + 3 != argc)
                return usage();
        if (parse_prefix(argv[optind + 2], false, &a.prefix, e) < 0)
                return fail(e);
        if (open_nl(&nl, e) < 0 || (a.ifindex = ifindex_of(nl, argv[optind + 1], e)) < 0)
                return fail(e);
        if (STREQ(argv[optind], "add"))
                return sf_ipaddr_add(nl, &a, e) < 0 ? fail(e) : 0;
        if (STREQ(argv[optind], "del"))
                return sf_ipaddr_del(nl, &a, 0, e) < 0 ? fail(e) : 0;
        return usage();
}

static int cmd_route(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "via", required_argument, NULL, 'v' }, { "dev", required_argument, NULL, 'd' },
                { "table", required_argument, NULL, 't' }, { "onlink", no_argument, NULL, 'o' },
                { "metric", required_argument, NULL, 'm' });
        _cleanup_nl_ sf_nl *nl = NULL;
        const char *dev = NULL;
        sf_route_cfg rt = {};
        unsigned long n;
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'v' && parse_addr(optarg, &rt.gateway, e) >= 0)
                        continue;
                else if (c == 'd')
                        dev = optarg;
                else if (c == 't' && parse_uint(optarg, UINT32_MAX, &n, e) >= 0)
                        rt.table = n;
                else if (c == 'o')
                        rt.onlink = true;
                else if (c == 'm' && parse_uint(optarg, UINT32_MAX, &n, e) >= 0)
                        rt.metric = n;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 2 != argc)
                return usage();
        if (STREQ(argv[optind + 1], "default") && rt.gateway.family == AF_INET6)
                argv[optind + 1] = (char *) "default6";
        if (parse_prefix(argv[optind + 1], true, &rt.dst, e) < 0)
                return fail(e);
        if (open_nl(&nl, e) < 0)
                return fail(e);
        if (dev && (rt.oif = ifindex_of(nl, dev, e)) < 0)
                return fail(e);
        if (STREQ(argv[optind], "add"))
                r = sf_route_add(nl, &rt, e);
        else if (STREQ(argv[optind], "replace"))
                r = sf_route_replace(nl, &rt, e);
        else if (STREQ(argv[optind], "del"))
                r = sf_route_del(nl, &rt, 0, e);
        else
                return usage();
        return r < 0 ? fail(e) : 0;
}

static int cmd_neigh(int argc, char **argv, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_neigh_cfg nc = {};

        if (argc < 2)
                return usage();
        if (open_nl(&nl, e) < 0)
                return fail(e);
        if (STREQ(argv[1], "list")) {
                _cleanup_free_ sf_neigh_entry *v = NULL;
                size_t n;
                int idx = 0;
                if (argc == 3 && (idx = ifindex_of(nl, argv[2], e)) < 0)
                        return fail(e);
                if (sf_neigh_list(nl, AF_UNSPEC, idx, &v, &n, e) < 0)
                        return fail(e);
                for (size_t i = 0; i < n; i++) {
                        char ab[SF_ADDR_STRLEN], mb[SF_MAC_STRLEN];
                        printf("%s ifindex %d lladdr %s %s\n", sf_addr_fmt(&v[i].addr, ab),
                               v[i].ifindex, v[i].has_lladdr ? sf_mac_fmt(v[i].lladdr, mb) : "-",
                               sf_nud_state_name(v[i].state));
                }
                return 0;
        }
        if (argc < 4)
                return usage();
        if ((nc.ifindex = ifindex_of(nl, argv[2], e)) < 0 || parse_addr(argv[3], &nc.addr, e) < 0)
                return fail(e);
        if (STREQ(argv[1], "replace")) {
                if (argc != 5 || parse_mac(argv[4], nc.lladdr, e) < 0)
                        return e->code ? fail(e) : usage();
                return sf_neigh_replace(nl, &nc, e) < 0 ? fail(e) : 0;
        }
        if (STREQ(argv[1], "del"))
                return sf_neigh_del(nl, &nc, 0, e) < 0 ? fail(e) : 0;
        return usage();
}

static int cmd_fdb(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "dst", required_argument, NULL, 'd' }, { "vni", required_argument, NULL, 'v' });
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_fdb_cfg f = {};
        unsigned long n;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'd' && parse_addr(optarg, &f.dst, e) >= 0)
                        continue;
                else if (c == 'v' && parse_uint(optarg, 0xffffff, &n, e) >= 0)
                        f.vni = n;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind + 2 > argc)
                return usage();
        if (open_nl(&nl, e) < 0 || (f.ifindex = ifindex_of(nl, argv[optind + 1], e)) < 0)
                return fail(e);
        if (STREQ(argv[optind], "list")) {
                _cleanup_free_ sf_fdb_entry *v = NULL;
                size_t cnt;
                if (sf_fdb_list(nl, f.ifindex, &v, &cnt, e) < 0)
                        return fail(e);
                for (size_t i = 0; i < cnt; i++) {
                        char mb[SF_MAC_STRLEN], ab[SF_ADDR_STRLEN] = "-";
                        if (v[i].dst.family)
                                sf_addr_fmt(&v[i].dst, ab);
                        printf("%s dst %s %s%s%s\n", sf_mac_fmt(v[i].mac, mb), ab,
                               v[i].flags & NTF_SELF ? "self " : "",
                               v[i].flags & NTF_MASTER ? "master " : "",
                               sf_nud_state_name(v[i].state));
                }
                return 0;
        }
        if (optind + 3 != argc || parse_mac(argv[optind + 2], f.mac, e) < 0)
                return e->code ? fail(e) : usage();
        if (STREQ(argv[optind], "append"))
                return sf_fdb_append(nl, &f, e) < 0 ? fail(e) : 0;
        if (STREQ(argv[optind], "del"))
                return sf_fdb_del(nl, &f, 0, e) < 0 ? fail(e) : 0;
        return usage();
}

static int cmd_sysctl(int argc, char **argv, sf_err *e)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *v = NULL;
        if (argc != 2 && argc != 3)
                return usage();
        if (arg_netns && (fd = sf_netns_open(arg_netns, e)) < 0)
                return fail(e);
        if (argc == 3)
                return sf_sysctl_write(fd, argv[1], argv[2], e) < 0 ? fail(e) : 0;
        if (sf_sysctl_read(fd, argv[1], &v, e) < 0)
                return fail(e);
        printf("%s\n", v);
        return 0;
}

static int cmd_garp(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "count", required_argument, NULL, 'c' });
        _cleanup_close_ int fd = -EBADF;
        unsigned long count = 1;
        sf_addr a;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                if (c != 'c' || parse_uint(optarg, 100, &count, e) < 0)
                        return e->code ? fail(e) : usage();
        if (optind + 2 != argc)
                return usage();
        if (parse_addr(argv[optind + 1], &a, e) < 0)
                return fail(e);
        if (arg_netns && (fd = sf_netns_open(arg_netns, e)) < 0)
                return fail(e);
        return sf_garp_send(fd, argv[optind], &a, count, e) < 0 ? fail(e) : 0;
}

static int cmd_plumb(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "netns-path", required_argument, NULL, 'n' }, { "host", required_argument, NULL, 'h' },
                { "bridge", required_argument, NULL, 'b' }, { "peer", required_argument, NULL, 'p' },
                { "mac", required_argument, NULL, 'a' }, { "mtu", required_argument, NULL, 'm' },
                { "addr", required_argument, NULL, 'A' }, { "gw", required_argument, NULL, 'g' },
                { "route", required_argument, NULL, 'r' }, { "sysctl", required_argument, NULL, 's' },
                { "macvlan-on", required_argument, NULL, 'M' }, { "vlan-on", required_argument, NULL, 'V' },
                { "vlan-id", required_argument, NULL, 'i' });
        _cleanup_nl_ sf_nl *nl = NULL;
        const char *lower = NULL;
        _cleanup_free_ sf_prefix *addrs = NULL;
        _cleanup_free_ sf_addr *gws = NULL;
        _cleanup_free_ sf_route_cfg *routes = NULL;
        _cleanup_free_ sf_sysctl_kv *sysctls = NULL;
        sf_plumb_cfg p = {};
        sf_plumb_result res;
        uint8_t mac[6];
        unsigned long n;
        uint64_t t0;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        p.netns_path = optarg;
                        break;
                case 'h':
                        p.host_ifname = optarg;
                        break;
                case 'M':
                case 'V':
                        p.kind = c == 'M' ? SF_PLUMB_MACVLAN : SF_PLUMB_VLAN;
                        lower = optarg;
                        break;
                case 'i':
                        if (parse_uint(optarg, 65535, &n, e) < 0)
                                return fail(e);
                        p.vlan_id = (uint16_t) n;
                        break;
                case 'b':
                        p.bridge = optarg;
                        break;
                case 'p':
                        p.peer_ifname = optarg;
                        break;
                case 'a':
                        if (parse_mac(optarg, mac, e) < 0)
                                return fail(e);
                        p.mac = mac;
                        break;
                case 'm':
                        if (parse_uint(optarg, 65535, &n, e) < 0)
                                return fail(e);
                        p.mtu = n;
                        break;
                case 'A':
                        addrs = xrealloc(addrs, (p.n_addrs + 1) * sizeof(*addrs));
                        if (parse_prefix(optarg, false, &addrs[p.n_addrs], e) < 0)
                                return fail(e);
                        p.n_addrs++;
                        break;
                case 'g':
                        gws = xrealloc(gws, (p.n_gateways + 1) * sizeof(*gws));
                        if (parse_addr(optarg, &gws[p.n_gateways], e) < 0)
                                return fail(e);
                        p.n_gateways++;
                        break;
                case 'r': {
                        _cleanup_free_ char *s = xstrdup(optarg);
                        char *via = strstr(s, ",via=");
                        routes = xrealloc(routes, (p.n_routes + 1) * sizeof(*routes));
                        routes[p.n_routes] = (sf_route_cfg) {};
                        if (via) {
                                *via = 0;
                                if (parse_addr(via + 5, &routes[p.n_routes].gateway, e) < 0)
                                        return fail(e);
                        }
                        if (parse_prefix(s, true, &routes[p.n_routes].dst, e) < 0)
                                return fail(e);
                        p.n_routes++;
                        break;
                }
                case 's': {
                        char *eq = strchr(optarg, '=');
                        if (!eq)
                                return usage();
                        *eq = 0;
                        sysctls = xrealloc(sysctls, (p.n_sysctls + 1) * sizeof(*sysctls));
                        sysctls[p.n_sysctls++] = (sf_sysctl_kv) { optarg, eq + 1 };
                        break;
                }
                default:
                        return usage();
                }
        }
        if (optind != argc || !p.netns_path || !p.host_ifname)
                return usage();
        p.addrs = addrs;
        p.gateways = gws;
        p.routes = routes;
        p.sysctls = sysctls;
        if (open_nl(&nl, e) < 0)
                return fail(e);
        if (lower && (p.lower_ifindex = sf_link_ifindex(nl, lower, e)) < 0)
                return fail(e);
        t0 = sf_now_usec();
        if (sf_plumb_port(nl, &p, &res, e) < 0)
                return fail(e);
        printf("plumbed '%s' (ifindex %d) -> '%s' ifindex %d in %s%s in %llu us\n", p.host_ifname,
               res.host_ifindex, p.peer_ifname ? p.peer_ifname : "eth0", res.peer_ifindex,
               p.netns_path, res.created_netns ? " (new)" : "",
               (unsigned long long) (sf_now_usec() - t0));
        return 0;
}

static int cmd_unplumb(int argc, char **argv, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        if (argc != 2 && argc != 3)
                return usage();
        if (open_nl(&nl, e) < 0)
                return fail(e);
        return sf_unplumb_port(nl, argv[1], argc == 3 ? argv[2] : NULL, 0, e) < 0 ? fail(e) : 0;
}

struct many {
        const char *dir, *prefix, *bridge;
        int bridge_ifindex;
        unsigned count;
        bool unplumb;
        unsigned unplumb_flags;
        atomic_uint next;
        atomic_uint failed;
        pthread_mutex_t lock;
        char *first_error;
};

static void *many_thread(void *userdata)
{
        struct many *m = userdata;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_nl_ sf_nl *nl = NULL; /* one socket per thread: an sf_nl is not thread-safe */
        unsigned i;

        if (open_nl(&nl, &e) < 0) {
                atomic_fetch_add(&m->failed, 1);
                return NULL;
        }
        while ((i = atomic_fetch_add(&m->next, 1)) < m->count) {
                _cleanup_free_ char *host = xasprintf("%s%u", m->prefix, i);
                _cleanup_free_ char *path = xasprintf("%s/%s", m->dir, host);
                uint8_t mac[6] = { 0x02, 0x99, 0, 0, (uint8_t) (i >> 8), (uint8_t) i };
                sf_prefix addr = { .addr = { .family = AF_INET }, .len = 16 };
                sf_addr gw = { .family = AF_INET };
                sf_plumb_cfg p = {
                        .netns_path = path,
                        .host_ifname = host,
                        .bridge_ifindex = m->bridge_ifindex,
                        .mac = mac,
                        .mtu = 1450,
                        .addrs = &addr,
                        .n_addrs = 1,
                        .gateways = &gw,
                        .n_gateways = 1,
                };
                int r;

                addr.addr.v4.s_addr = htonl(0x0a630000u | (i + 1));  /* 10.99.0.0/16 */
                gw.v4.s_addr = htonl(0x0a63fffeu);                   /* 10.99.255.254 */
                r = m->unplumb ? sf_unplumb_port(nl, host, path, m->unplumb_flags, &e)
                               : sf_plumb_port(nl, &p, NULL, &e);
                if (r < 0) {
                        atomic_fetch_add(&m->failed, 1);
                        pthread_mutex_lock(&m->lock);
                        if (!m->first_error)
                                m->first_error = xstrdup(sf_err_msg(&e));
                        pthread_mutex_unlock(&m->lock);
                        sf_err_clear(&e);
                }
        }
        return NULL;
}

static int cmd_plumb_many(int argc, char **argv, sf_err *e)
{
        SUBOPTS({ "dir", required_argument, NULL, 'd' }, { "prefix", required_argument, NULL, 'p' },
                { "bridge", required_argument, NULL, 'b' }, { "count", required_argument, NULL, 'c' },
                { "threads", required_argument, NULL, 't' }, { "async", no_argument, NULL, 'a' });
        struct many m = { .lock = PTHREAD_MUTEX_INITIALIZER, .unplumb = STREQ(argv[0], "unplumb-many") };
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ pthread_t *th = NULL;
        unsigned long n, threads = 1;
        uint64_t t0, dt;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'd')
                        m.dir = optarg;
                else if (c == 'p')
                        m.prefix = optarg;
                else if (c == 'b')
                        m.bridge = optarg;
                else if (c == 'c' && parse_uint(optarg, 65000, &n, e) >= 0)
                        m.count = n;
                else if (c == 't' && parse_uint(optarg, 64, &threads, e) >= 0 && threads > 0)
                        continue;
                else if (c == 'a')
                        m.unplumb_flags |= SF_UNPLUMB_ASYNC;
                else
                        return e->code ? fail(e) : usage();
        }
        if (optind != argc || !m.dir || !m.prefix || !m.bridge || !m.count)
                return usage();
        if (open_nl(&nl, e) < 0 || (m.bridge_ifindex = ifindex_of(nl, m.bridge, e)) < 0)
                return fail(e);
        th = xmalloc(sizeof(*th) * threads);
        t0 = sf_now_usec();
        for (unsigned long i = 0; i < threads; i++)
                if (pthread_create(&th[i], NULL, many_thread, &m) != 0)
                        return 1;
        for (unsigned long i = 0; i < threads; i++)
                pthread_join(th[i], NULL);
        dt = sf_now_usec() - t0;
        printf("%s %u ports with %lu threads in %llu us (%llu us per port), %u failed\n",
               m.unplumb ? "unplumbed" : "plumbed", m.count, threads, (unsigned long long) dt,
               (unsigned long long) (dt / m.count), atomic_load(&m.failed));
        if (m.first_error)
                fprintf(stderr, "sf-net-test: first error: %s\n", m.first_error);
        free(m.first_error);
        return atomic_load(&m.failed) ? 1 : 0;
}

static int cmd_batch_demo(int argc, char **argv, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        sf_ipaddr_cfg a = { .ifindex = 1 };
        sf_ipaddr_cfg b = { .ifindex = 1 };
        int rc;

        (void) argc, (void) argv;
        (void) sf_prefix_parse("192.0.2.1/32", false, &a.prefix);
        (void) sf_prefix_parse("192.0.2.2/32", false, &b.prefix);
        if (open_nl(&nl, e) < 0)
                return fail(e);
        /* add A, add A again (fails: exists), add B (still done by the kernel) */
        if (sf_ipaddr_build(r, SF_NL_ADD, &a, 0, e) < 0 || sf_ipaddr_build(r, SF_NL_ADD, &a, 0, e) < 0 ||
            sf_ipaddr_build(r, SF_NL_ADD, &b, 0, e) < 0)
                return fail(e);
        rc = sf_nl_exec(nl, r, NULL, NULL, e);
        printf("result %d failed-index %zd\n%s\n", rc, sf_nlreq_failed(r), rc < 0 ? sf_err_msg(e) : "ok");
        return 0;
}

static int cmd_features(sf_err *e)
{
        _cleanup_free_ char *have = NULL;
        sf_features f;

        if (sf_features_detect(&f, e) < 0)
                return fail(e);
        have = sf_features_fmt(f.mask);
        printf("detected: %s\n", have);
        for (unsigned i = 0; i < SF_FEAT_COUNT; i++)
                if (f.why[i])
                        printf("missing %s: %s\n", sf_feature_name(1u << i), f.why[i]);
        sf_features_done(&f);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = { { "netns", required_argument, NULL, 'n' },
                                              { "bpf-tasks", no_argument, NULL, 'b' },
                                              { 0, 0, 0, 0 } };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *cmd;
        int c;

        while ((c = getopt_long(argc, argv, "+", opts, NULL)) >= 0) {
                if (c == 'n')
                        arg_netns = optarg;
                else if (c == 'b') {
                        if (sf_task_iter_install(&e) < 0)
                                return fail(&e);
                } else
                        return usage();
        }
        if (optind >= argc)
                return usage();
        argc -= optind;
        argv += optind;
        cmd = argv[0];

        if (STREQ(cmd, "netns-add") || STREQ(cmd, "netns-del") || STREQ(cmd, "netns-again") ||
            STREQ(cmd, "netns-pids"))
                return cmd_netns(argc, argv, &e);
        if (STREQ(cmd, "netns-thread"))
                return cmd_netns_thread(argc, argv, &e);
        if (STREQ(cmd, "netns-check"))
                return cmd_netns_check(argc, argv, &e);
        if (STREQ(cmd, "netns-watch"))
                return cmd_netns_watch(argc, argv, &e);
        if (STREQ(cmd, "bridge"))
                return cmd_bridge(argc, argv, &e);
        if (STREQ(cmd, "veth"))
                return cmd_veth(argc, argv, &e);
        if (STREQ(cmd, "vxlan"))
                return cmd_vxlan(argc, argv, &e);
        if (STREQ(cmd, "macvlan"))
                return cmd_macvlan(argc, argv, &e);
        if (STREQ(cmd, "tap"))
                return cmd_tap(argc, argv, &e);
        if (STREQ(cmd, "set"))
                return cmd_set(argc, argv, &e);
        if (STREQ(cmd, "del"))
                return cmd_del(argc, argv, &e);
        if (STREQ(cmd, "list"))
                return cmd_list(argc, argv, &e);
        if (STREQ(cmd, "ifindex"))
                return cmd_ifindex(argc, argv, &e);
        if (STREQ(cmd, "addr"))
                return cmd_addr(argc, argv, &e);
        if (STREQ(cmd, "route"))
                return cmd_route(argc, argv, &e);
        if (STREQ(cmd, "neigh"))
                return cmd_neigh(argc, argv, &e);
        if (STREQ(cmd, "fdb"))
                return cmd_fdb(argc, argv, &e);
        if (STREQ(cmd, "sysctl"))
                return cmd_sysctl(argc, argv, &e);
        if (STREQ(cmd, "garp"))
                return cmd_garp(argc, argv, &e);
        if (STREQ(cmd, "plumb"))
                return cmd_plumb(argc, argv, &e);
        if (STREQ(cmd, "unplumb"))
                return cmd_unplumb(argc, argv, &e);
        if (STREQ(cmd, "plumb-many") || STREQ(cmd, "unplumb-many"))
                return cmd_plumb_many(argc, argv, &e);
        if (STREQ(cmd, "batch-demo"))
                return cmd_batch_demo(argc, argv, &e);
        if (STREQ(cmd, "features"))
                return cmd_features(&e);
        return usage();
}
