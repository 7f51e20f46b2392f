/* ICMP echo probes for the start benchmarks (see probe.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "probe.h"

int sf_probe_open(void)
{
        int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        return fd < 0 ? -errno : fd;
}

static uint16_t csum(const void *p, size_t n)
{
        const uint16_t *w = p;
        uint32_t s = 0;
        for (; n > 1; n -= 2)
                s += *w++;
        if (n)
                s += *(const uint8_t *) w;
        s = (s >> 16) + (s & 0xffff);
        s += s >> 16;
        return (uint16_t) ~s;
}

void sf_probe_send(int fd, const char *ip, uint16_t id, uint16_t seq)
{
        struct icmphdr h = { .type = ICMP_ECHO };
        struct sockaddr_in to = { .sin_family = AF_INET };
        if (inet_pton(AF_INET, ip, &to.sin_addr) != 1)
                return;
        h.un.echo.id = htons(id);
        h.un.echo.sequence = htons(seq);
        h.checksum = csum(&h, sizeof(h));
        (void) sendto(fd, &h, sizeof(h), MSG_DONTWAIT, (struct sockaddr *) &to, sizeof(to));
}

int sf_probe_recv(int fd, int timeout_ms, char from[SF_ADDR_STRLEN])
{
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        for (;;) {
                uint8_t buf[256];
                struct sockaddr_in src;
                socklen_t sl = sizeof(src);
                const struct icmphdr *h;
                ssize_t r;
                size_t ihl;
                int p = poll(&pfd, 1, timeout_ms);
                if (p < 0)
                        return errno == EINTR ? 0 : -errno;
                if (p == 0)
                        return 0;
                r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *) &src, &sl);
                if (r < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                ihl = (size_t) (buf[0] & 0xf) * 4;
                if ((size_t) r < ihl + sizeof(*h))
                        continue;
                h = (const struct icmphdr *) (buf + ihl);
                if (h->type != ICMP_ECHOREPLY)
                        continue;
                inet_ntop(AF_INET, &src.sin_addr, from, SF_ADDR_STRLEN);
                return 1;
        }
}

bool sf_probe_address_from_status(struct sf_probe_target *t, json_t *status)
{
        const char *ip = json_string_value(json_array_get(json_object_get(status, "ips"), 0));
        if (__atomic_load_n(&t->have_ip, __ATOMIC_ACQUIRE))
                return true;
        if (!ip)
                return false;
        snprintf(t->ip, sizeof(t->ip), "%s", ip);
        __atomic_store_n(&t->have_ip, true, __ATOMIC_RELEASE);
        return true;
}

void sf_probe_running(int fd, uint16_t id, struct sf_probe_target *t, uint16_t seq)
{
        if (!__atomic_load_n(&t->have_ip, __ATOMIC_ACQUIRE))
                return; /* the loop sends it once the address is known */
        sf_probe_send(fd, t->ip, id, seq);
        __atomic_store_n(&t->t_probe, sf_now_usec(), __ATOMIC_RELAXED);
}

void sf_probe_loop(int fd, uint16_t id, struct sf_probe_target *const *targets, int n,
                   const volatile bool *settled, uint64_t deadline)
{
        int left = n;
        while (left > 0 && sf_now_usec() < deadline) {
                uint64_t now = sf_now_usec();
                char a[SF_ADDR_STRLEN];
                int failed = 0;
                for (int i = 0; i < n; i++) {
                        struct sf_probe_target *t = targets[i];
                        failed += __atomic_load_n(&t->failed, __ATOMIC_ACQUIRE) && !t->t_ping;
                        if (!t->t_ping && __atomic_load_n(&t->t_running, __ATOMIC_ACQUIRE) &&
                            __atomic_load_n(&t->have_ip, __ATOMIC_ACQUIRE) &&
                            now >= __atomic_load_n(&t->t_probe, __ATOMIC_RELAXED) + 2000) {
                                sf_probe_send(fd, t->ip, id, (uint16_t) i);
                                __atomic_store_n(&t->t_probe, now, __ATOMIC_RELAXED);
                        }
                }
                if (*settled && failed >= left)
                        break;
                while (sf_probe_recv(fd, 2, a) > 0)
                        for (int i = 0; i < n; i++) {
                                struct sf_probe_target *t = targets[i];
                                if (!t->t_ping && __atomic_load_n(&t->have_ip, __ATOMIC_ACQUIRE) && STREQ(t->ip, a)) {
                                        t->t_ping = sf_now_usec();
                                        left--;
                                }
                        }
        }
}
