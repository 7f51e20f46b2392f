/* bench/vm helper: writes a NoCloud seed for QEMU started by hand, and times a command until a
 * guest answers ping ("reachable"), the same way for QEMU started by hand and for a VM
 * requested from Superfluid, so that both numbers come from one clock and one prober.
 *   sf-vm-bench seed OUT --hostname H --mac MAC --ip ADDR/LEN [--gateway IP]
 *   sf-vm-bench time --ip IP [--interval-ms 5] [--timeout-s 300] -- COMMAND [ARGS...]
 * time prints one JSON line: {"reachable_ms", "cmd_ms", "cmd_exit", "cmd_pid"}; cmd_exit is
 * null while the command still runs (QEMU in the foreground), cmd_ms then too. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "agent/compute/vm-seed.h"
#include "lib/spawn.h"
#include "lib/util.h"

static _noreturn_ void die(const char *what, const sf_err *e)
{
        fprintf(stderr, "sf-vm-bench: %s%s%s\n", what, e ? ": " : "", e ? sf_err_msg(e) : "");
        exit(1);
}

static int cmd_seed(int argc, char **argv)
{
        static const struct option lo[] = {
                { "hostname", required_argument, NULL, 'h' },
                { "mac", required_argument, NULL, 'm' },
                { "ip", required_argument, NULL, 'i' },
                { "gateway", required_argument, NULL, 'g' },
                { NULL, 0, NULL, 0 },
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *meta = NULL, *net = NULL;
        const char *host = "raw", *mac = NULL, *ip = NULL, *gw = NULL, *out;
        int c;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1)
                switch (c) {
                case 'h': host = optarg; break;
                case 'm': mac = optarg; break;
                case 'i': ip = optarg; break;
                case 'g': gw = optarg; break;
                default: exit(2);
                }
        if (optind != argc - 1 || !mac || !ip)
                die("usage: seed OUT --mac MAC --ip ADDR/LEN [--hostname H] [--gateway IP]", NULL);
        out = argv[optind];
        {
                const char *addrs[] = { ip, NULL };
                sf_seed_nic nic = { .mac = mac, .name = "eth0", .addresses = addrs, .gateway4 = gw };
                if (sf_seed_meta_data(host, host, NULL, &meta, &e) < 0 ||
                    sf_seed_network_config(&nic, 1, &net, &e) < 0 ||
                    sf_seed_write(out, meta, "#cloud-config\n", net, NULL, &e) < 0)
                        die("seed", &e);
        }
        return 0;
}

static uint16_t cksum(const void *p, size_t n)
{
        const uint8_t *b = p;
        uint32_t s = 0;
        for (size_t i = 0; i + 1 < n; i += 2)
                s += (uint32_t) b[i] << 8 | b[i + 1];
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return htons((uint16_t) ~s);
}

static int cmd_time(int argc, char **argv)
{
        static const struct option lo[] = {
                { "ip", required_argument, NULL, 'i' },
                { "interval-ms", required_argument, NULL, 'n' },
                { "timeout-s", required_argument, NULL, 't' },
                { NULL, 0, NULL, 0 },
        };
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_in to = { .sin_family = AF_INET };
        uint64_t t0, t_cmd = 0, t_reply = 0, deadline, next = 0;
        unsigned interval = 5, timeout = 300;
        uint16_t ident = (uint16_t) getpid(), seq = 0;
        sf_spawn_opts so = SF_SPAWN_OPTS_INIT;
        int status = -1, c;
        pid_t pid;

        while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1)
                switch (c) {
                case 'i':
                        if (inet_pton(AF_INET, optarg, &to.sin_addr) != 1)
                                die("--ip: not an IPv4 address", NULL);
                        break;
                case 'n': interval = (unsigned) atoi(optarg); break;
                case 't': timeout = (unsigned) atoi(optarg); break;
                default: exit(2);
                }
        if (!to.sin_addr.s_addr || optind >= argc)
                die("usage: time --ip IP [--interval-ms N] [--timeout-s N] -- COMMAND...", NULL);
        fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
        if (fd < 0)
                die("raw ICMP socket (needs root)", NULL);
        so.argv = argv + optind;
        so.stdio[2] = SF_SPAWN_INHERIT; /* stdout stays ours: the result line */
        t0 = sf_now_usec();
        if (sf_spawn(&so, &pid, &e) < 0)
                die("spawn", &e);
        deadline = t0 + (uint64_t) timeout * 1000000;
        while (!t_reply) {
                uint64_t now = sf_now_usec();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (now > deadline)
                        die("timeout: no answer", NULL);
                if (!t_cmd && waitpid(pid, &status, WNOHANG) == pid)
                        t_cmd = sf_now_usec();
                if (t_cmd && status != 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
                        die("the command failed", NULL);
                if (now >= next) {
                        struct icmphdr ic = { .type = ICMP_ECHO };
                        ic.un.echo.id = htons(ident);
                        ic.un.echo.sequence = htons(++seq);
                        ic.checksum = cksum(&ic, sizeof(ic));
                        (void) !sendto(fd, &ic, sizeof(ic), 0, (struct sockaddr *) &to, sizeof(to));
                        next = now + interval * 1000ULL;
                }
                if (poll(&p, 1, (int) ((next > now ? next - now : 0) / 1000) + 1) > 0) {
                        uint8_t buf[1500];
                        struct sockaddr_in from;
                        socklen_t fl = sizeof(from);
                        ssize_t n;
                        while ((n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &from, &fl)) > 0) {
                                size_t hl = (size_t) (buf[0] & 0x0f) * 4;
                                const struct icmphdr *ic = (const struct icmphdr *) (buf + hl);
                                if ((size_t) n >= hl + sizeof(*ic) && ic->type == ICMP_ECHOREPLY &&
                                    from.sin_addr.s_addr == to.sin_addr.s_addr &&
                                    ntohs(ic->un.echo.id) == ident) {
                                        t_reply = sf_now_usec();
                                        break;
                                }
                        }
                }
        }
        if (!t_cmd && waitpid(pid, &status, WNOHANG) == pid)
                t_cmd = sf_now_usec();
        printf("{\"reachable_ms\": %.1f, \"cmd_ms\": ", (t_reply - t0) / 1000.0);
        if (t_cmd)
                printf("%.1f, \"cmd_exit\": %d, ", (t_cmd - t0) / 1000.0,
                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        else
                printf("null, \"cmd_exit\": null, ");
        printf("\"cmd_pid\": %d}\n", (int) pid);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: sf-vm-bench seed|time ...\n");
                return 2;
        }
        if (STREQ(argv[1], "seed"))
                return cmd_seed(argc - 1, argv + 1);
        if (STREQ(argv[1], "time"))
                return cmd_time(argc - 1, argv + 1);
        fprintf(stderr, "sf-vm-bench: unknown command '%s'\n", argv[1]);
        return 2;
}
