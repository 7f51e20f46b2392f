/* ICMP echo probes for the start benchmarks (see probe.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

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
