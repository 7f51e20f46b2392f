/* Watches on network namespaces: see nswatch.h. */
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "net/netns.h"
#include "net/nswatch.h"

struct sf_netns_watch {
        int nl;       /* NETLINK_ROUTE, subscribed to the groups below */
        int sockstat; /* /proc/thread-self/net/sockstat of the namespace */
        int ct_count; /* nf_conntrack_count, or -1 without conntrack */
        size_t n;
        struct {
                char *key, *value; /* the value at open */
                int fd;
        } *sysctls;
};

/* Every rtnetlink group that announces a change of configuration or state in the namespace. */
static const unsigned watched_groups[] = {
        RTNLGRP_LINK,         RTNLGRP_NEIGH,       RTNLGRP_TC,          RTNLGRP_IPV4_IFADDR,
        RTNLGRP_IPV4_ROUTE,   RTNLGRP_IPV4_RULE,   RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE,
        RTNLGRP_IPV6_RULE,    RTNLGRP_IPV6_PREFIX, RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF,
        RTNLGRP_NEXTHOP,      RTNLGRP_MDB,
};

void sf_netns_watch_free(sf_netns_watch *w)
{
        if (!w)
                return;
        if (w->nl >= 0)
                close(w->nl);
        if (w->sockstat >= 0)
                close(w->sockstat);
        if (w->ct_count >= 0)
                close(w->ct_count);
        for (size_t i = 0; i < w->n; i++) {
                if (w->sysctls[i].fd >= 0)
                        close(w->sysctls[i].fd);
                free(w->sysctls[i].key);
                free(w->sysctls[i].value);
        }
        free(w->sysctls);
        free(w);
}

int sf_netns_watch_fd(const sf_netns_watch *w) { return w->nl; }

/* Watches are many and long-lived: their files go at FD_SETSIZE and above, or the watch is
 * not opened (sf_fd_move_high). Takes fd (closed on failure); the new fd or -errno. */
static int move_high(int fd)
{
        int r;
        if (fd < 0)
                return -errno;
        r = sf_fd_move_high(fd);
        if (r < 0)
                close(fd);
        return r;
}

/* The whole of a small /proc file through fd, from offset 0, NUL-terminated; -errno. */
static int pread_all(int fd, char *buf, size_t size)
{
        ssize_t n = pread(fd, buf, size - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

int sf_netns_watch_open(const char *const *sysctls, size_t n_sysctls, sf_netns_watch **ret, sf_err *e)
{
        sf_netns_watch *w = new0(sf_netns_watch, 1);
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        int rcvbuf = 1 << 16;

        w->sockstat = w->ct_count = -1;
        w->nl = move_high(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
        if (w->nl < 0 || bind(w->nl, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = w->nl < 0 ? w->nl : -errno;
                sf_netns_watch_free(w);
                return sf_err_errno(e, r, "open an rtnetlink socket to watch the namespace");
        }
        (void) setsockopt(w->nl, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        for (size_t i = 0; i < ELEMENTSOF(watched_groups); i++)
                if (setsockopt(w->nl, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &watched_groups[i],
                               sizeof(watched_groups[i])) < 0) {
                        int r = -errno;
                        sf_netns_watch_free(w);
                        return sf_err_errno(e, r, "subscribe to rtnetlink group %u", watched_groups[i]);
                }
        w->sockstat = move_high(open("/proc/thread-self/net/sockstat", O_RDONLY | O_CLOEXEC));
        if (w->sockstat < 0) {
                int r = w->sockstat;
                sf_netns_watch_free(w);
                return sf_err_errno(e, r, "open /proc/net/sockstat");
        }
        w->ct_count = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
        if (w->ct_count >= 0 || errno != ENOENT) {
                w->ct_count = move_high(w->ct_count);
                if (w->ct_count < 0) {
                        int r = w->ct_count;
                        sf_netns_watch_free(w);
                        return sf_err_errno(e, r, "open nf_conntrack_count");
                }
        }
        w->sysctls = new0(typeof(*w->sysctls), n_sysctls);
        for (size_t i = 0; i < n_sysctls; i++) {
                _cleanup_free_ char *path = NULL;
                char buf[512];
                int fd;
                if (sf_sysctl_path(sysctls[i], &path, NULL) < 0 ||
                    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                        continue; /* not in this kernel: the fingerprint says so too */
                if (pread_all(fd, buf, sizeof(buf)) < 0) {
                        close(fd);
                        continue;
                }
                fd = move_high(fd);
                if (fd < 0) {
                        sf_netns_watch_free(w);
                        return sf_err_errno(e, fd, "sysctl %s", sysctls[i]);
                }
                w->sysctls[w->n].key = xstrdup(sysctls[i]);
                w->sysctls[w->n].value = xstrdup(buf);
                w->sysctls[w->n].fd = fd;
                w->n++;
        }
        *ret = w;
        return 0;
}

/* "sockets: used N" and the TCP line's "tw N" of sockstat; false if unreadable. */
static bool sockstat_read(int fd, long *ret_used, long *ret_tw)
{
        char buf[1024];
        const char *p;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return false;
        buf[n] = 0;
        if (sscanf(buf, "sockets: used %ld", ret_used) != 1 || !(p = strstr(buf, "\nTCP: ")) ||
            !(p = strstr(p, " tw ")) || sscanf(p, " tw %ld", ret_tw) != 1)
                return false;
        return true;
}

char *sf_netns_watch_changed(sf_netns_watch *w)
{
        char buf[8192], v[512];
        unsigned msgs = 0, first_type = 0;
        long used, tw;
        int len;

        for (;;) {
                ssize_t n = recv(w->nl, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                if (n < 0) /* ENOBUFS: the socket overflowed */
                        return xasprintf("rtnetlink notifications lost (%s)", strerror(errno));
                if (n == 0)
                        break;
                len = (int) n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; NLMSG_OK(h, len);
                     h = NLMSG_NEXT(h, len)) {
                        /* A neighbour's removal leaves nothing behind, and the kernel's
                         * garbage collector removes stale ones on its own (in every namespace
                         * at once: the table and its thresholds are shared, so a burst of
                         * containers elsewhere set it off, and every armed namespace then had
                         * to be checked from inside). One removed by hand is announced first
                         * with its change to FAILED (an RTM_NEWNEIGH), which counts. */
                        if (h->nlmsg_type == RTM_DELNEIGH)
                                continue;
                        if (!msgs++)
                                first_type = h->nlmsg_type;
                }
        }
        if (msgs)
                return xasprintf("%u rtnetlink notification%s (the first of type %u)", msgs,
                                 msgs == 1 ? "" : "s", first_type);
        if (!sockstat_read(w->sockstat, &used, &tw))
                return xstrdup("sockstat unreadable");
        if (used != 1 || tw != 0)
                return xasprintf("%ld sockets besides the watch's own, %ld in TIME_WAIT", used - 1, tw);
        if (w->ct_count >= 0) {
                if (pread_all(w->ct_count, v, sizeof(v)) < 0)
                        return xstrdup("nf_conntrack_count unreadable");
                if (!STREQ(v, "0"))
                        return xasprintf("%s conntrack entries", v);
        }
        for (size_t i = 0; i < w->n; i++) {
                if (pread_all(w->sysctls[i].fd, v, sizeof(v)) < 0)
                        return xasprintf("sysctl %s unreadable", w->sysctls[i].key);
                if (!STREQ(v, w->sysctls[i].value))
                        return xasprintf("sysctl %s changed from %s to %s", w->sysctls[i].key,
                                         w->sysctls[i].value, v);
        }
        return NULL;
}
