/* Network namespaces: create named ones bound to a file (like `ip netns add`, in any
 * directory), enter them from a thread, run code inside them, write sysctls there, and check
 * that a namespace is empty and carries no state (for recycled pre-plumbed namespaces). */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include "lib/err.h"

/* Creates a new network namespace and bind-mounts it at path. Missing parent directories are
 * created (0755). The parent directory is made a shared mount (a bind mount of itself the
 * first time, as iproute2 does for /run/netns) so the mount propagates to other mount
 * namespaces and an unmount anywhere frees the namespace. The namespace is created by a
 * short-lived thread, so the calling thread's namespace never changes. -EEXIST if path
 * exists. */
int sf_netns_create(const char *path, sf_err *e);
/* Moves a namespace bound at from (by sf_netns_create) to the new path to, which must not
 * exist (its directory is created and made shared as by sf_netns_create): a bind mount at to,
 * then from is unmounted and removed. The namespace itself never stops being held, so
 * nothing in it changes. Used to hand a pre-plumbed namespace to a workload. */
int sf_netns_move(const char *from, const char *to, sf_err *e);
/* The first half of a move: the namespace at from is bound at to as well, and stays at from
 * until sf_netns_delete(from) (an unmount, which can take a few hundred microseconds: a
 * caller in a hurry does it afterwards). */
int sf_netns_bind(const char *from, const char *to, sf_err *e);
/* Opens a namespace file (or /proc/PID/ns/net) O_RDONLY|O_CLOEXEC; returns the fd. */
int sf_netns_open(const char *path, sf_err *e);
/* Unmounts (MNT_DETACH) and removes path. A missing or already unmounted path is fine. The
 * namespace itself disappears when nothing else holds it (processes, open fds, sockets). */
int sf_netns_delete(const char *path, sf_err *e);

/* Runs fn(userdata) in a new thread that joined the namespace netns_fd, waits for it, and
 * returns what fn returned (fn reports its own errors, e.g. through userdata). Returns a
 * negative errno and fills e only when the thread could not be started or could not join. */
int sf_netns_run(int netns_fd, int (*fn)(void *userdata), void *userdata, sf_err *e);

/* Moves the calling thread into netns_fd and stores an fd of its original namespace in
 * *ret_saved. Pair with sf_netns_leave() right after the namespace-bound call (socket(),
 * open() of /proc/sys/net/..., /dev/net/tun): keep the section short and never return with
 * the thread still inside. */
int sf_netns_enter(int netns_fd, int *ret_saved, sf_err *e);
/* Returns the calling thread to the namespace saved by sf_netns_enter and closes saved. If
 * that is impossible the process aborts: continuing would silently configure the wrong
 * namespace. */
void sf_netns_leave(int saved);

/* The PIDs (thread group ids, sorted, unique) of processes any of whose threads is in the
 * namespace at path (compared by nsfs device and inode over /proc/PID/task/TID/ns/net). The
 * calling thread is skipped. *ret is malloc'd (NULL when empty). */
int sf_netns_pids(const char *path, pid_t **ret, size_t *ret_n, sf_err *e);

/* What sf_netns_check() found. Every list is a NULL-terminated strv (NULL when empty) of
 * human-readable lines. */
typedef struct sf_netns_report {
        pid_t *pids; /* processes inside (see sf_netns_pids) */
        size_t n_pids;
        char **sockets;    /* e.g. "udp 10.0.0.5:5353 -> 0.0.0.0:0 inode 12345" */
        char **neighbours; /* non-permanent neighbour entries: "10.0.0.7 ifindex 2 REACHABLE" */
        char **conntrack;  /* conntrack entries: "ipv4 icmp 10.0.0.5 -> 10.0.0.6" */
        /* How conntrack was read: "nf_conntrack_count" (the namespace's counter said 0),
         * "ctnetlink" (a NETLINK_NETFILTER dump), or "/proc/net/nf_conntrack" as a fallback,
         * or NULL when neither was available (then conntrack is not checked). */
        const char *conntrack_source;
} sf_netns_report;

/* Checks that the namespace at path carries no state:
 *  - no processes (sf_netns_pids);
 *  - no sockets, read from /proc/thread-self/net/{tcp,tcp6,udp,udp6,raw,raw6,unix,packet,
 *    netlink} by a thread inside the namespace; sockets whose inode matches one of our_fds
 *    (sockets the caller keeps there, e.g. an sf_nl) are ours and skipped, and so are
 *    kernel netlink sockets (port id 0); TIME_WAIT TCP sockets count;
 *  - no neighbour entries (IPv4/IPv6) except NUD_PERMANENT and NUD_NOARP ones, i.e. the
 *    static entries we configure and multicast/loopback ones the kernel makes;
 *  - no conntrack entries: a ctnetlink dump from inside the namespace, or
 *    /proc/net/nf_conntrack if ctnetlink is not there.
 * The namespace's own counters (sockets allocated in it, TIME_WAIT sockets, conntrack
 * entries) are read first: the shared kernel tables are only walked, to list what is there,
 * when a counter is not zero. A clean namespace is checked in well under a millisecond.
 * Links, addresses and routes are configuration, not state, and are not checked. Returns 0
 * (the report tells whether it is clean) or a negative errno if the check itself failed. */
int sf_netns_check(const char *path, const int *our_fds, size_t n_our_fds, sf_netns_report **ret,
                   sf_err *e);
/* Where every task is: checking many namespaces against one snapshot costs one scan in all.
 * A snapshot only proves something about namespaces that already existed, and were out of
 * reach, when it was taken. The calling thread is skipped. The scan walks /proc (syscall-bound:
 * about a millisecond per hundred processes, and every /proc file it stats leaves a dentry the
 * kernel invalidates when that process exits) unless a task lister was installed: sfd installs
 * the BPF task iterator (net/task-iter.h), one pass in the kernel, and /proc stays the fallback
 * when the lister fails. */
typedef struct sf_netns_tasks sf_netns_tasks;
int sf_netns_tasks_scan(sf_netns_tasks **ret, sf_err *e);
void sf_netns_tasks_free(sf_netns_tasks *t);
/* The processes of a snapshot in the namespace whose nsfs inode target is (stat of its
 * path), sorted, each once. */
int sf_netns_tasks_pids_in(const sf_netns_tasks *t, const struct stat *target, pid_t **ret, size_t *ret_n);
/* For task listers: an empty snapshot, and one task (pid = its thread group) in the network
 * namespace whose nsfs inode is (dev, ino). */
sf_netns_tasks *sf_netns_tasks_new(void);
void sf_netns_tasks_add(sf_netns_tasks *t, pid_t pid, dev_t dev, ino_t ino);
/* Fills t with every task but the calling thread; 0 or a negative errno. */
typedef int (*sf_netns_task_lister)(sf_netns_tasks *t, sf_err *e);
/* Installs a lister for every later sf_netns_tasks_scan (NULL: back to /proc). Call it before
 * other threads scan; name says what it is, for the messages. */
void sf_netns_set_task_lister(sf_netns_task_lister fn, const char *name);
/* The lister in use: "/proc" or the installed one's name. */
const char *sf_netns_task_lister_name(void);
/* sf_netns_check with the processes taken from a snapshot (NULL: scan now); also (may be NULL)
 * runs inside the namespace, on the check's thread, when the check found it clean: one entry
 * into the namespace for both. Its negative return fails the call (its message is its own to
 * keep: e gets only "check network namespace ..."). */
int sf_netns_check_with(const char *path, const sf_netns_tasks *tasks, const int *our_fds,
                        size_t n_our_fds, int (*also)(void *u), void *also_u, sf_netns_report **ret,
                        sf_err *e);
bool sf_netns_report_clean(const sf_netns_report *r);
/* "clean", or e.g. "1 process (pid 12); 2 sockets (udp ..., tcp ...); 1 neighbour (...)". */
char *sf_netns_report_summary(const sf_netns_report *r);
void sf_netns_report_free(sf_netns_report *r);
static inline void sf_netns_report_freep(sf_netns_report **r) { sf_netns_report_free(*r); }
#define _cleanup_netns_report_ _cleanup_(sf_netns_report_freep)

/* Sysctls inside a namespace. key is "net.ipv4.ip_forward" (dots become slashes) or, when it
 * contains a slash, a path below /proc/sys such as "net/ipv4/conf/eth0.100/proxy_arp" (needed
 * when an interface name has a dot). Only keys under net/ are accepted: those are the ones
 * that are per namespace. netns_fd < 0 means the calling thread's namespace. The file is
 * opened inside the namespace (the namespace is bound at open time) and written after the
 * thread is back. */
int sf_sysctl_write(int netns_fd, const char *key, const char *value, sf_err *e);
/* Reads a sysctl; the trailing newline is removed. */
int sf_sysctl_read(int netns_fd, const char *key, char **ret, sf_err *e);
/* The /proc/sys path of key (see sf_sysctl_write), validated: -EINVAL for keys outside net/,
 * with ".." components or empty components. */
int sf_sysctl_path(const char *key, char **ret, sf_err *e);
/* Reads keys[0..n) of the calling thread's namespace into values[i] (trailing newline removed;
 * NULL for a key that is invalid or cannot be read), opening each directory once: a lookup
 * under /proc/sys/net costs in proportion to the number of namespaces on the machine (each has
 * its own entries under the same names), and a full path per key walked 6-7 of them. -errno
 * only when /proc/sys/net itself cannot be opened. */
int sf_sysctl_read_many(const char *const *keys, size_t n, char **values, sf_err *e);
