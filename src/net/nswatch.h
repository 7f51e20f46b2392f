/* A watch on a network namespace: opened once by a thread inside it, it tells later, from any
 * thread and without entering the namespace again, whether anything in it may have changed
 * since. It holds, all bound to that namespace:
 *  - an rtnetlink socket subscribed to every group that reports configuration or state:
 *    links, addresses, routes, rules, next hops, neighbours, qdiscs and filters, IPv4/IPv6
 *    netconf (forwarding, rp_filter, proxy_arp...). The kernel sends a notification for any
 *    change, so an empty socket proves there was none (an overflow counts as a change). A
 *    neighbour's removal is not one: it leaves nothing behind, the kernel's garbage collector
 *    does it on its own, and a removal by hand is announced first as a change to FAILED;
 *  - /proc/net/sockstat: the number of sockets allocated in the namespace (every family) and
 *    of TIME_WAIT ones;
 *  - /proc/sys/net/netfilter/nf_conntrack_count (absent without conntrack);
 *  - one file per watched sysctl, read again with pread and compared with its value at open.
 * Answering costs a recv and a few preads (microseconds) where a full look from inside
 * (sf_netns_check plus a dump of the configuration) costs a thread, a setns and the dumps.
 * It is proof of "nothing changed", never of a leftover: whatever it reports is a reason to
 * look closer. The watch's own socket lives in the namespace (pass sf_netns_watch_fd to
 * sf_netns_check as one of ours) and holds it alive: free the watch before the namespace is
 * handed over or deleted. */
#pragma once

#include <stddef.h>

#include "lib/err.h"

typedef struct sf_netns_watch sf_netns_watch;

/* Opens a watch on the calling thread's network namespace (run it inside, e.g. through
 * sf_netns_run). sysctls[0..n) are keys as for sf_sysctl_read_many; their values now are the
 * baseline (a key that cannot be read is left out). -errno if the socket or sockstat cannot
 * be opened. */
int sf_netns_watch_open(const char *const *sysctls, size_t n_sysctls, sf_netns_watch **ret, sf_err *e);
/* The watch's socket, for sf_netns_check's our_fds. */
int sf_netns_watch_fd(const sf_netns_watch *w);
/* NULL when nothing changed since the watch was opened: no notification queued, no socket in
 * the namespace but the watch's own, no TIME_WAIT socket, no conntrack entry, every sysctl as
 * it was. Else what differs (malloc'd), e.g. "3 rtnetlink notifications (RTM_NEWADDR...)".
 * Notifications are consumed: a watch answers once. */
char *sf_netns_watch_changed(sf_netns_watch *w);
void sf_netns_watch_free(sf_netns_watch *w);
static inline void sf_netns_watch_freep(sf_netns_watch **w) { sf_netns_watch_free(*w); }
#define _cleanup_netns_watch_ _cleanup_(sf_netns_watch_freep)
/* File descriptors a watch holds with n_sysctls sysctls (at most). */
#define SF_NETNS_WATCH_FDS(n_sysctls) ((n_sysctls) + 3)
