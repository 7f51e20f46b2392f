/* Network namespaces bound to files, threads that run inside them, per-namespace sysctls, and
 * the "is this namespace clean" check used before a recycled namespace is handed out. */
#include <dirent.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/neighbour.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "lib/addr.h"
#include "lib/util.h"
#include "lib/log.h"
#include "net/internal.h"
#include "net/neigh.h"
#include "net/netns.h"
#include "net/nl.h"

SF_LOG_MODULE("netns");

static pthread_mutex_t shared_dir_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- enter / leave / run ---- */

int sf_netns_enter(int netns_fd, int *ret_saved, sf_err *e)
{
        int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), r;
        if (saved < 0)
                return sf_err_errno(e, -errno, "open the current network namespace");
        if (setns(netns_fd, CLONE_NEWNET) < 0) {
                r = -errno;
                close(saved);
                return sf_err_errno(e, r, "enter network namespace");
        }
        *ret_saved = saved;
        return 0;
}

void sf_netns_leave(int saved)
{
        if (setns(saved, CLONE_NEWNET) < 0) {
                static const char m[] = "superfluid: cannot return to the original network "
                                        "namespace, aborting\n";
                (void) !write(STDERR_FILENO, m, sizeof(m) - 1);
                abort();
        }
        close(saved);
}

struct run_args {
        int fd;
        int (*fn)(void *);
        void *userdata;
        int setns_err;
        int ret;
};

static void *run_thread(void *p)
{
        struct run_args *a = p;
        if (setns(a->fd, CLONE_NEWNET) < 0) {
                a->setns_err = -errno;
                return NULL;
        }
        a->ret = a->fn(a->userdata);
        return NULL;
}

int sf_netns_run(int netns_fd, int (*fn)(void *userdata), void *userdata, sf_err *e)
{
        struct run_args a = { .fd = netns_fd, .fn = fn, .userdata = userdata };
        pthread_t t;
        int r;

        r = pthread_create(&t, NULL, run_thread, &a);
        if (r != 0)
                return sf_err_errno(e, -r, "start a thread for the network namespace");
        pthread_join(t, NULL);
        if (a.setns_err < 0)
                return sf_err_errno(e, a.setns_err, "enter network namespace");
        return a.ret;
}

/* ---- create / open / delete ---- */

/* As iproute2 does for /run/netns: the directory becomes a shared mount point, so that the
 * namespaces bound under it appear in mount namespaces copied from this one later. Unlike
 * iproute2, the bind mount onto itself gets a peer group of its own (made private, then
 * shared): it would otherwise join its parent's (a shared /run), and every namespace bound
 * under it would be propagated to the parent too, hidden under the bind mount: two entries
 * in the mount table per namespace, which every mount operation and every runtime reading
 * /proc/self/mountinfo (runc does, several times per container) pays for. */
static int make_dir_shared(const char *dir, sf_err *e)
{
        bool made = false;
        for (;;) {
                if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
                        return 0;
                /* EINVAL: not a mount point yet. Make it one, once. */
                if (errno != EINVAL || made)
                        return sf_err_errno(e, -errno, "make '%s' a shared mount", dir);
                if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
                        return sf_err_errno(e, -errno, "bind-mount '%s' onto itself", dir);
                if (mount("", dir, "none", MS_PRIVATE, NULL) < 0)
                        return sf_err_errno(e, -errno, "make '%s' a private mount", dir);
                made = true;
        }
}

/* Directories made ready (made, and shared as above) by this process: the next namespace
 * under one of them skips the mkdirs and the mount call, a few tens of microseconds on the way
 * to a namespace being ready. One is forgotten, and made ready again, when a namespace file
 * cannot be made in it (ENOENT: it was removed). One removed and made again by someone else
 * meanwhile stays unshared: namespaces under it still work, at the cost above. */
static char *ready_dirs[16];
static size_t n_ready_dirs;

static int dir_ready(const char *path, bool again, sf_err *e)
{
        _cleanup_free_ char *dir = xstrdup(path);
        int r = 0;
        *strrchr(dir, '/') = 0;
        if (!*dir)
                return 0;
        pthread_mutex_lock(&shared_dir_lock);
        for (size_t i = 0; i < n_ready_dirs; i++)
                if (STREQ(ready_dirs[i], dir)) {
                        if (!again)
                                goto out;
                        free(ready_dirs[i]);
                        ready_dirs[i] = ready_dirs[--n_ready_dirs];
                        break;
                }
        r = sf_mkdir_p(dir, 0755, e);
        if (r >= 0)
                r = make_dir_shared(dir, e);
        if (r >= 0 && n_ready_dirs < ELEMENTSOF(ready_dirs))
                ready_dirs[n_ready_dirs++] = TAKE_PTR(dir);
out:
        pthread_mutex_unlock(&shared_dir_lock);
        return r;
}

/* The empty file a namespace is bound onto, in a ready directory. what: for errors. */
static int ns_file_create(const char *path, const char *what, sf_err *e)
{
        for (bool again = false;; again = true) {
                int fd, r = dir_ready(path, again, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "%s '%s'", what, path);
                fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
                if (fd >= 0) {
                        close(fd);
                        return 0;
                }
                if (errno == ENOENT && !again)
                        continue;
                if (errno == EEXIST)
                        return sf_err_set(e, -EEXIST, NULL, "network namespace '%s' already exists", path);
                return sf_err_errno(e, -errno, "%s '%s'", what, path);
        }
}

struct create_args {
        const char *path;
        int err;
        const char *step;
};

static void *create_thread(void *p)
{
        struct create_args *a = p;
        if (unshare(CLONE_NEWNET) < 0) {
                a->err = -errno;
                a->step = "unshare";
                return NULL;
        }
        if (mount("/proc/thread-self/ns/net", a->path, "none", MS_BIND, NULL) < 0) {
                a->err = -errno;
                a->step = "bind-mount";
        }
        return NULL;
}

static int check_path(const char *path, sf_err *e)
{
        if (!path || path[0] != '/' || path[1] == 0)
                return sf_err_set(e, -EINVAL, "netns", "'%s' is not an absolute path",
                                  path ? path : "");
        if (path[strlen(path) - 1] == '/')
                return sf_err_set(e, -EINVAL, "netns", "'%s' ends with a slash", path);
        return 0;
}

int sf_netns_create(const char *path, sf_err *e)
{
        struct create_args a = { .path = path };
        pthread_t t;
        int r;

        if ((r = check_path(path, e)) < 0)
                return r;
        if ((r = ns_file_create(path, "create network namespace", e)) < 0)
                return r;

        r = pthread_create(&t, NULL, create_thread, &a);
        if (r != 0) {
                unlink(path);
                return sf_err_errno(e, -r, "create network namespace '%s': start thread", path);
        }
        pthread_join(t, NULL);
        if (a.err < 0) {
                (void) umount2(path, MNT_DETACH);
                unlink(path);
                return sf_err_errno(e, a.err, "create network namespace '%s': %s", path, a.step);
        }
        return 0;
}

int sf_netns_open(const char *path, sf_err *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return sf_err_errno(e, -errno, "open network namespace '%s'", path);
        return fd;
}

int sf_netns_delete(const char *path, sf_err *e)
{
        int r;
        if ((r = check_path(path, e)) < 0)
                return r;
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return sf_err_errno(e, -errno, "unmount network namespace '%s'", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return sf_err_errno(e, -errno, "remove network namespace '%s'", path);
        return 0;
}

int sf_netns_bind(const char *from, const char *to, sf_err *e)
{
        int r;

        if ((r = check_path(from, e)) < 0 || (r = check_path(to, e)) < 0)
                return r;
        if ((r = ns_file_create(to, "move network namespace to", e)) < 0)
                return r;
        if (mount(from, to, "none", MS_BIND, NULL) < 0) {
                r = -errno;
                unlink(to);
                return sf_err_errno(e, r, "move network namespace '%s' to '%s'", from, to);
        }
        return 0;
}

int sf_netns_move(const char *from, const char *to, sf_err *e)
{
        _cleanup_err_ sf_err e2 = SF_ERR_INIT;
        int r = sf_netns_bind(from, to, e);
        if (r < 0)
                return r;
        /* The namespace is held by the new mount now: the old one can go. */
        if (sf_netns_delete(from, &e2) < 0)
                log_warn("%s after moving it, ignoring", sf_err_msg(&e2));
        return 0;
}

/* ---- processes ---- */

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

static int cmp_pid(const void *a, const void *b)
{
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;
        return (x > y) - (x < y);
}

struct sf_netns_tasks {
        struct task_ns {
                pid_t pid; /* thread group */
                dev_t dev;
                ino_t ino;
        } *v;
        size_t n;
};

sf_netns_tasks *sf_netns_tasks_new(void)
{
        return new0(sf_netns_tasks, 1);
}

void sf_netns_tasks_add(sf_netns_tasks *t, pid_t pid, dev_t dev, ino_t ino)
{
        if (t->n && t->v[t->n - 1].pid == pid && t->v[t->n - 1].dev == dev && t->v[t->n - 1].ino == ino)
                return;
        if ((t->n & (t->n - 1)) == 0) /* 0, 1, 2, 4, ...: doubling */
                t->v = xrealloc(t->v, (t->n ? 2 * t->n : 1) * sizeof(*t->v));
        t->v[t->n++] = (struct task_ns) { pid, dev, ino };
}

static void tasks_add(sf_netns_tasks *t, pid_t pid, const struct stat *st)
{
        sf_netns_tasks_add(t, pid, st->st_dev, st->st_ino);
}

static sf_netns_task_lister task_lister;
static const char *task_lister_name_;

void sf_netns_set_task_lister(sf_netns_task_lister fn, const char *name)
{
        task_lister_name_ = fn ? name : NULL;
        task_lister = fn;
}

const char *sf_netns_task_lister_name(void)
{
        return task_lister ? task_lister_name_ : "/proc";
}

static int tasks_scan_proc(sf_netns_tasks **ret, sf_err *e);

int sf_netns_tasks_scan(sf_netns_tasks **ret, sf_err *e)
{
        sf_netns_task_lister fn = task_lister;
        if (fn) {
                _cleanup_err_ sf_err le = SF_ERR_INIT;
                sf_netns_tasks *t = sf_netns_tasks_new();
                if (fn(t, &le) >= 0) {
                        *ret = t;
                        return 0;
                }
                sf_netns_tasks_free(t);
                log_warn_rl("process snapshot through %s: %s; reading /proc instead", task_lister_name_,
                            sf_err_msg(&le));
        }
        return tasks_scan_proc(ret, e);
}

static int tasks_scan_proc(sf_netns_tasks **ret, sf_err *e)
{
        sf_netns_tasks *t = sf_netns_tasks_new();
        _cleanup_close_ int procfd = -EBADF;
        pid_t self = gettid();
        struct dirent *de;
        DIR *d;

        procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        d = procfd >= 0 ? opendir("/proc") : NULL;
        if (!d) {
                sf_netns_tasks_free(t);
                return sf_err_errno(e, -errno, "open /proc");
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *task = NULL, *ns = NULL;
                pid_t pid;
                struct stat st;
                int fd;
                DIR *td;
                struct dirent *te;
                if (!all_digits(de->d_name))
                        continue;
                pid = (pid_t) strtol(de->d_name, NULL, 10);
                /* One thread (the task directory's link count is 2 + threads): its ns/net
                 * says it all, one stat instead of a directory scan. */
                task = xasprintf("%s/task", de->d_name);
                ns = xasprintf("%s/ns/net", de->d_name);
                if (fstatat(procfd, task, &st, 0) == 0 && st.st_nlink == 3 && pid != self) {
                        if (fstatat(procfd, ns, &st, 0) == 0)
                                tasks_add(t, pid, &st);
                        continue;
                }
                fd = openat(procfd, task, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                td = fdopendir(fd);
                if (!td) {
                        close(fd);
                        continue;
                }
                while ((te = readdir(td))) {
                        _cleanup_free_ char *tns = NULL;
                        if (!all_digits(te->d_name) || strtol(te->d_name, NULL, 10) == self)
                                continue;
                        tns = xasprintf("%s/ns/net", te->d_name);
                        if (fstatat(dirfd(td), tns, &st, 0) == 0) /* else gone, or a kernel thread */
                                tasks_add(t, pid, &st);
                }
                closedir(td);
        }
        closedir(d);
        *ret = t;
        return 0;
}

void sf_netns_tasks_free(sf_netns_tasks *t)
{
        if (!t)
                return;
        free(t->v);
        free(t);
}

int sf_netns_tasks_pids_in(const sf_netns_tasks *t, const struct stat *target, pid_t **ret, size_t *ret_n)
{
        _cleanup_free_ pid_t *v = NULL;
        size_t n = 0;
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++) {
                if (t->v[i].dev != target->st_dev || t->v[i].ino != target->st_ino)
                        continue;
                if (n && v[n - 1] == t->v[i].pid)
                        continue;
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = t->v[i].pid;
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_pid);
        /* A process's threads need not be listed together (a task lister walks threads in
         * thread id order): one entry per process. */
        for (size_t i = 0; i < n; i++)
                if (k == 0 || v[k - 1] != v[i])
                        v[k++] = v[i];
        n = k;
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int sf_netns_pids(const char *path, pid_t **ret, size_t *ret_n, sf_err *e)
{
        sf_netns_tasks *t = NULL;
        struct stat target;
        int r;

        if (stat(path, &target) < 0)
                return sf_err_errno(e, -errno, "network namespace '%s'", path);
        r = sf_netns_tasks_scan(&t, e);
        if (r < 0)
                return r;
        r = sf_netns_tasks_pids_in(t, &target, ret, ret_n);
        sf_netns_tasks_free(t);
        return r;
}

/* ---- clean check ---- */

struct check_ctx {
        sf_netns_report *rep;
        ino_t *ours;
        size_t n_ours;
        int (*also)(void *u); /* run after a clean check, on the same thread */
        void *also_u;
        sf_err err;
};

static bool is_ours(const struct check_ctx *c, unsigned long ino)
{
        for (size_t i = 0; i < c->n_ours; i++)
                if (c->ours[i] == ino)
                        return true;
        return false;
}

/* "0100007F:0035" (as /proc/net/{tcp,udp,raw} print them) -> "127.0.0.1:53". */
static char *fmt_proc_endpoint(const char *s, bool v6)
{
        char ab[SF_ADDR_STRLEN];
        sf_addr a = { .family = v6 ? AF_INET6 : AF_INET };
        const char *colon = strchr(s, ':');
        size_t words = v6 ? 4 : 1;
        unsigned long port;

        if (!colon || (size_t) (colon - s) != words * 8)
                return xstrdup(s);
        for (size_t i = 0; i < words; i++) {
                char w[9];
                uint32_t x;
                memcpy(w, s + i * 8, 8);
                w[8] = 0;
                /* Each word is printed as the native-endian value of 4 network-order bytes. */
                x = (uint32_t) strtoul(w, NULL, 16);
                memcpy(a.b + i * 4, &x, 4);
        }
        port = strtoul(colon + 1, NULL, 16);
        return v6 ? xasprintf("[%s]:%lu", sf_addr_fmt(&a, ab), port)
                  : xasprintf("%s:%lu", sf_addr_fmt(&a, ab), port);
}

static const char *tcp_state_name(unsigned long st)
{
        static const char *const names[] = {
                "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
        };
        return st < ELEMENTSOF(names) ? names[st] : "?";
}

/* Splits a line on blanks into at most max fields (in place). */
static size_t split_fields(char *line, char **f, size_t max)
{
        size_t n = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
                f[n++] = t;
        return n;
}

enum proc_kind { PK_INET, PK_INET6, PK_UNIX, PK_PACKET, PK_NETLINK };

static int scan_proc_net(struct check_ctx *c, const char *file, const char *label, enum proc_kind k)
{
        _cleanup_free_ char *path = xasprintf("/proc/thread-self/net/%s", file);
        _cleanup_free_ char *buf = NULL;
        char *save = NULL, *line;
        bool first = true;
        int r;

        r = sf_read_file(path, 64u << 20, &buf, NULL, &c->err);
        if (r == -ENOENT) {
                sf_err_clear(&c->err);
                return 0; /* e.g. no IPv6 in this kernel */
        }
        if (r < 0)
                return r;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[16];
                size_t n;
                unsigned long ino;

                if (first) { /* header */
                        first = false;
                        continue;
                }
                n = split_fields(line, f, ELEMENTSOF(f));
                switch (k) {
                case PK_INET:
                case PK_INET6: {
                        _cleanup_free_ char *l = NULL, *rem = NULL;
                        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
                        if (n < 10)
                                continue;
                        ino = strtoul(f[9], NULL, 10);
                        if (ino && is_ours(c, ino))
                                continue;
                        l = fmt_proc_endpoint(f[1], k == PK_INET6);
                        rem = fmt_proc_endpoint(f[2], k == PK_INET6);
                        if (STREQ(label, "tcp") || STREQ(label, "tcp6"))
                                strv_push(&c->rep->sockets,
                                          xasprintf("%s %s -> %s %s inode %lu", label, l, rem,
                                                    tcp_state_name(strtoul(f[3], NULL, 16)), ino));
                        else
                                strv_push(&c->rep->sockets, xasprintf("%s %s -> %s inode %lu",
                                                                      label, l, rem, ino));
                        break;
                }
                case PK_UNIX:
                        /* Num RefCount Protocol Flags Type St Inode [Path] */
                        if (n < 7)
                                continue;
                        ino = strtoul(f[6], NULL, 10);
                        if (is_ours(c, ino))
                                continue;
                        strv_push(&c->rep->sockets, xasprintf("unix %s inode %lu",
                                                              n > 7 ? f[7] : "(unnamed)", ino));
                        break;
                case PK_PACKET:
                        /* sk RefCnt Type Proto Iface R Rmem User Inode */
                        if (n < 9)
                                continue;
                        ino = strtoul(f[8], NULL, 10);
                        if (is_ours(c, ino))
                                continue;
                        strv_push(&c->rep->sockets, xasprintf("packet proto 0x%s ifindex %s inode %lu",
                                                              f[3], f[4], ino));
                        break;
                case PK_NETLINK:
                        /* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode; port id 0 is the
                         * kernel's own socket of that protocol. */
                        if (n < 10 || STREQ(f[2], "0"))
                                continue;
                        ino = strtoul(f[9], NULL, 10);
                        if (is_ours(c, ino))
                                continue;
                        strv_push(&c->rep->sockets, xasprintf("netlink protocol %s portid %s inode %lu",
                                                              f[1], f[2], ino));
                        break;
                }
        }
        return 0;
}

static int check_neighbours(struct check_ctx *c)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ sf_neigh_entry *v = NULL;
        size_t n = 0;
        int r;

        r = sf_nl_open(&nl, &c->err);
        if (r < 0)
                return r;
        r = sf_neigh_list(nl, AF_UNSPEC, 0, &v, &n, &c->err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char ab[SF_ADDR_STRLEN], mb[SF_MAC_STRLEN];
                if (v[i].state & (NUD_PERMANENT | NUD_NOARP))
                        continue;
                strv_push(&c->rep->neighbours,
                          xasprintf("%s ifindex %d lladdr %s %s", sf_addr_fmt(&v[i].addr, ab),
                                    v[i].ifindex, v[i].has_lladdr ? sf_mac_fmt(v[i].lladdr, mb) : "-",
                                    sf_nud_state_name(v[i].state)));
        }
        return 0;
}

/* One conntrack entry -> "ipv4 proto 1 10.0.0.1 -> 10.0.0.2". */
static int ct_entry_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        struct check_ctx *c = userdata;
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[CTA_MAX + 1], *tt[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1],
                *pr[CTA_PROTO_MAX + 1];
        char sb[SF_ADDR_STRLEN] = "?", db[SF_ADDR_STRLEN] = "?";
        unsigned proto = 0;

        if ((nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
                return 0;
        if (sf_nl_parse_attrs(nlh, sizeof(*nfg), tb, CTA_MAX) < 0)
                return sf_err_set(e, -EBADMSG, NULL, "malformed conntrack message");
        if (tb[CTA_TUPLE_ORIG] && sf_nl_parse_nested(tb[CTA_TUPLE_ORIG], tt, CTA_TUPLE_MAX) == 0) {
                if (tt[CTA_TUPLE_IP] && sf_nl_parse_nested(tt[CTA_TUPLE_IP], ip, CTA_IP_MAX) == 0) {
                        sf_addr a;
                        const struct nlattr *s = ip[CTA_IP_V4_SRC] ? ip[CTA_IP_V4_SRC] : ip[CTA_IP_V6_SRC];
                        const struct nlattr *d = ip[CTA_IP_V4_DST] ? ip[CTA_IP_V4_DST] : ip[CTA_IP_V6_DST];
                        if (s && (mnl_attr_get_payload_len(s) == 4 || mnl_attr_get_payload_len(s) == 16)) {
                                a = (sf_addr) { .family = mnl_attr_get_payload_len(s) == 4 ? AF_INET : AF_INET6 };
                                memcpy(a.b, mnl_attr_get_payload(s), mnl_attr_get_payload_len(s));
                                sf_addr_fmt(&a, sb);
                        }
                        if (d && (mnl_attr_get_payload_len(d) == 4 || mnl_attr_get_payload_len(d) == 16)) {
                                a = (sf_addr) { .family = mnl_attr_get_payload_len(d) == 4 ? AF_INET : AF_INET6 };
                                memcpy(a.b, mnl_attr_get_payload(d), mnl_attr_get_payload_len(d));
                                sf_addr_fmt(&a, db);
                        }
                }
                if (tt[CTA_TUPLE_PROTO] && sf_nl_parse_nested(tt[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) == 0 &&
                    pr[CTA_PROTO_NUM] && mnl_attr_get_payload_len(pr[CTA_PROTO_NUM]) == 1)
                        proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
        }
        strv_push(&c->rep->conntrack, xasprintf("%s proto %u %s -> %s",
                                                nfg->nfgen_family == AF_INET6 ? "ipv6" : "ipv4",
                                                proto, sb, db));
        return 0;
}

static int check_conntrack_netlink(struct check_ctx *c)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct nfgenmsg *nfg;
        int rc;

        rc = sf_nl_open_proto(NETLINK_NETFILTER, -1, &nl, &c->err);
        if (rc < 0)
                return rc;
        sf_nlreq_begin(r, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_DUMP,
                       "list conntrack entries");
        nfg = sf_nlreq_reserve(r, sizeof(*nfg));
        if (nfg) {
                nfg->nfgen_family = AF_UNSPEC;
                nfg->version = NFNETLINK_V0;
        }
        rc = sf_nlreq_end(r, &c->err);
        if (rc < 0)
                return rc;
        return sf_nl_exec(nl, r, ct_entry_cb, c, &c->err);
}

static int check_conntrack_proc(struct check_ctx *c)
{
        _cleanup_free_ char *buf = NULL;
        char *save = NULL;
        int r = sf_read_file("/proc/thread-self/net/nf_conntrack", 64u << 20, &buf, NULL, &c->err);
        if (r < 0)
                return r;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                strv_push(&c->rep->conntrack, xstrdup(l));
        return 0;
}

/* The namespace's own counters answer "is there anything at all" in O(1): the sockets of
 * each protocol in it (/proc/net/protocols, per namespace, counted as the tables listed below
 * count them, and decremented at close), TCP TIME_WAIT sockets (/proc/net/sockstat) and
 * conntrack entries (nf_conntrack_count). Listing sockets or entries walks kernel tables
 * shared by every namespace (milliseconds each on a busy host), so it is only done when a
 * counter says there is something to list. -1: unknown (old kernel, no conntrack). */
static void sockstat_counts(long *ret_used, long *ret_tw)
{
        _cleanup_free_ char *buf = NULL, *tw = NULL;
        char *save = NULL, *line;
        const char *p;
        long used = 0;
        *ret_used = *ret_tw = -1;
        if (sf_read_file("/proc/thread-self/net/protocols", 64 * 1024, &buf, NULL, NULL) < 0 ||
            sf_read_file("/proc/thread-self/net/sockstat", 4096, &tw, NULL, NULL) < 0)
                return;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[4], *end;
                long n;
                if (split_fields(line, f, ELEMENTSOF(f)) < 3 || STREQ(f[0], "protocol"))
                        continue;
                n = strtol(f[2], &end, 10);
                if (*end || n < 0)
                        return;
                used += n;
        }
        if ((p = strstr(tw, "TCP: ")) && (p = strstr(p, " tw ")))
                *ret_tw = strtol(p + 4, NULL, 10);
        *ret_used = used;
}

static long conntrack_count(void)
{
        _cleanup_free_ char *buf = NULL;
        if (sf_read_file("/proc/sys/net/netfilter/nf_conntrack_count", 64, &buf, NULL, NULL) < 0)
                return -1;
        return strtol(buf, NULL, 10);
}

static int check_state(struct check_ctx *c)
{
        static const struct {
                const char *file, *label;
                enum proc_kind kind;
        } files[] = {
                { "tcp", "tcp", PK_INET },      { "tcp6", "tcp6", PK_INET6 },
                { "udp", "udp", PK_INET },      { "udp6", "udp6", PK_INET6 },
                { "raw", "raw", PK_INET },      { "raw6", "raw6", PK_INET6 },
                { "unix", "unix", PK_UNIX },    { "packet", "packet", PK_PACKET },
                { "netlink", "netlink", PK_NETLINK },
        };
        long used, tw;
        int r;

        /* Sockets first: the netlink sockets this check opens below do not exist yet. When
         * the namespace's counters say there is none besides ours, nothing to list. */
        sockstat_counts(&used, &tw);
        if (used < 0 || tw != 0 || (size_t) used > c->n_ours)
                for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                        r = scan_proc_net(c, files[i].file, files[i].label, files[i].kind);
                        if (r < 0)
                                return sf_err_wrap(r, &c->err, "list sockets");
                }
        r = check_neighbours(c);
        if (r < 0)
                return sf_err_wrap(r, &c->err, "list neighbours");
        if (conntrack_count() == 0) {
                c->rep->conntrack_source = "nf_conntrack_count";
                return 0;
        }

        r = check_conntrack_netlink(c);
        if (r >= 0) {
                c->rep->conntrack_source = "ctnetlink";
                return 0;
        }
        strv_free(c->rep->conntrack);
        c->rep->conntrack = NULL;
        sf_err_clear(&c->err);
        if (check_conntrack_proc(c) >= 0)
                c->rep->conntrack_source = "/proc/net/nf_conntrack";
        sf_err_clear(&c->err);
        return 0;
}

static int check_inside(void *userdata)
{
        struct check_ctx *c = userdata;
        int r = check_state(c);
        if (r >= 0 && c->also && sf_netns_report_clean(c->rep))
                r = c->also(c->also_u);
        return r;
}

int sf_netns_check(const char *path, const int *our_fds, size_t n_our_fds, sf_netns_report **ret,
                   sf_err *e)
{
        return sf_netns_check_with(path, NULL, our_fds, n_our_fds, NULL, NULL, ret, e);
}

int sf_netns_check_with(const char *path, const sf_netns_tasks *tasks, const int *our_fds,
                        size_t n_our_fds, int (*also)(void *u), void *also_u, sf_netns_report **ret,
                        sf_err *e)
{
        _cleanup_netns_report_ sf_netns_report *rep = new0(sf_netns_report, 1);
        _cleanup_free_ ino_t *ours = new0(ino_t, n_our_fds);
        struct check_ctx c = { .rep = rep, .ours = ours, .also = also, .also_u = also_u, .err = SF_ERR_INIT };
        _cleanup_close_ int fd = -EBADF;
        struct stat target;
        int r;

        if (tasks) {
                if (stat(path, &target) < 0)
                        return sf_err_errno(e, -errno, "check network namespace '%s'", path);
                r = sf_netns_tasks_pids_in(tasks, &target, &rep->pids, &rep->n_pids);
        } else
                r = sf_netns_pids(path, &rep->pids, &rep->n_pids, e);
        if (r < 0)
                return sf_err_wrap(r, e, "check network namespace");
        fd = sf_netns_open(path, e);
        if (fd < 0)
                return sf_err_wrap(fd, e, "check network namespace");
        for (size_t i = 0; i < n_our_fds; i++) {
                struct stat st;
                if (our_fds[i] >= 0 && fstat(our_fds[i], &st) == 0 && S_ISSOCK(st.st_mode))
                        c.ours[c.n_ours++] = st.st_ino;
        }
        r = sf_netns_run(fd, check_inside, &c, e);
        if (r < 0 && c.err.code)
                sf_err_move(e, &c.err);
        sf_err_clear(&c.err);
        if (r < 0)
                return sf_err_wrap(r, e, "check network namespace '%s'", path);
        *ret = TAKE_PTR(rep);
        return 0;
}

bool sf_netns_report_clean(const sf_netns_report *r)
{
        return r->n_pids == 0 && !r->sockets && !r->neighbours && !r->conntrack;
}

static void append_list(char **s, const char *one, const char *many, char **v)
{
        size_t n = strv_length(v);
        char *t;
        if (!n)
                return;
        t = xasprintf("%s%s%zu %s (", *s ? *s : "", *s ? "; " : "", n, n == 1 ? one : many);
        for (size_t i = 0; i < n; i++) {
                char *u = xasprintf("%s%s%s", t, i ? ", " : "", v[i]);
                free(t);
                t = u;
        }
        free(*s);
        *s = xasprintf("%s)", t);
        free(t);
}

char *sf_netns_report_summary(const sf_netns_report *r)
{
        char *s = NULL;
        if (r->n_pids) {
                s = xasprintf("%zu process%s (pid", r->n_pids, r->n_pids == 1 ? "" : "es");
                for (size_t i = 0; i < r->n_pids; i++) {
                        char *u = xasprintf("%s%s %d", s, i ? "," : "", (int) r->pids[i]);
                        free(s);
                        s = u;
                }
                char *u = xasprintf("%s)", s);
                free(s);
                s = u;
        }
        append_list(&s, "socket", "sockets", r->sockets);
        append_list(&s, "neighbour", "neighbours", r->neighbours);
        append_list(&s, "conntrack entry", "conntrack entries", r->conntrack);
        if (!r->conntrack_source) {
                char *u = xasprintf("%s; conntrack not checked (neither ctnetlink nor "
                                    "/proc/net/nf_conntrack)", s ? s : "clean");
                free(s);
                s = u;
        }
        return s ? s : xstrdup("clean");
}

void sf_netns_report_free(sf_netns_report *r)
{
        if (!r)
                return;
        free(r->pids);
        strv_free(r->sockets);
        strv_free(r->neighbours);
        strv_free(r->conntrack);
        free(r);
}

/* ---- sysctl ---- */

int sf_sysctl_path(const char *key, char **ret, sf_err *e)
{
        _cleanup_free_ char *k = NULL;

        if (!key || !*key)
                return sf_err_set(e, -EINVAL, "sysctl", "empty key");
        k = xstrdup(key);
        if (!strchr(key, '/'))
                for (char *p = k; *p; p++)
                        if (*p == '.')
                                *p = '/';
        if (strncmp(k, "net/", 4) != 0 || k[strlen(k) - 1] == '/')
                return sf_err_set(e, -EINVAL, "sysctl", "'%s' is not a network sysctl (net.*)", key);
        for (char *p = k, *end; *p; p = *end ? end + 1 : end) {
                end = strchrnul(p, '/');
                if (end == p || (end - p == 2 && p[0] == '.' && p[1] == '.') ||
                    (end - p == 1 && p[0] == '.'))
                        return sf_err_set(e, -EINVAL, "sysctl", "'%s' is not a valid key", key);
        }
        *ret = xasprintf("/proc/sys/%s", k);
        return 0;
}

int sf_sysctl_read_many(const char *const *keys, size_t n, char **values, sf_err *e)
{
        struct dir {
                char *name; /* below /proc/sys/net */
                int fd;
        } *dirs = NULL;
        size_t n_dirs = 0;
        _cleanup_close_ int net = open("/proc/sys/net", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (net < 0)
                return sf_err_errno(e, -errno, "open /proc/sys/net");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -EBADF;
                char *rel, *base, buf[512];
                int dfd = net;
                ssize_t len;

                values[i] = NULL;
                if (sf_sysctl_path(keys[i], &path, NULL) < 0 || strncmp(path, "/proc/sys/net/", 14) != 0)
                        continue;
                rel = path + 14;
                base = strrchr(rel, '/');
                if (base) {
                        size_t j;
                        *base++ = 0;
                        for (j = 0; j < n_dirs && !STREQ(dirs[j].name, rel); j++)
                                ;
                        if (j == n_dirs) {
                                int d = openat(net, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
                                if (d < 0)
                                        continue;
                                dirs = xrealloc(dirs, sizeof(*dirs) * (n_dirs + 1));
                                dirs[n_dirs++] = (struct dir) { xstrdup(rel), d };
                        }
                        dfd = dirs[j].fd;
                } else
                        base = rel;
                fd = openat(dfd, base, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || (len = read(fd, buf, sizeof(buf) - 1)) < 0)
                        continue;
                buf[len] = 0;
                buf[strcspn(buf, "\n")] = 0;
                values[i] = xstrdup(buf);
        }
        for (size_t j = 0; j < n_dirs; j++) {
                close(dirs[j].fd);
                free(dirs[j].name);
        }
        free(dirs);
        return 0;
}

static int sysctl_open(int netns_fd, const char *key, int flags, char **ret_path, sf_err *e)
{
        _cleanup_free_ char *path = NULL;
        int saved = -EBADF, fd, r;

        r = sf_sysctl_path(key, &path, e);
        if (r < 0)
                return r;
        if (netns_fd >= 0) {
                r = sf_netns_enter(netns_fd, &saved, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "sysctl '%s'", key);
        }
        fd = open(path, flags | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        if (netns_fd >= 0)
                sf_netns_leave(saved);
        if (r < 0)
                return sf_err_errno(e, r, "sysctl '%s'", key);
        *ret_path = TAKE_PTR(path);
        return fd;
}

int sf_sysctl_write(int netns_fd, const char *key, const char *value, sf_err *e)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = sysctl_open(netns_fd, key, O_WRONLY, &path, e);
        size_t len = strlen(value);
        ssize_t n;

        if (fd < 0)
                return fd;
        n = write(fd, value, len);
        if (n < 0)
                return sf_err_errno(e, -errno, "sysctl '%s' = '%s'", key, value);
        if ((size_t) n != len)
                return sf_err_set(e, -EIO, NULL, "sysctl '%s' = '%s': short write", key, value);
        return 0;
}

int sf_sysctl_read(int netns_fd, const char *key, char **ret, sf_err *e)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = sysctl_open(netns_fd, key, O_RDONLY, &path, e);
        size_t len = 0, cap = 0;

        if (fd < 0)
                return fd;
        for (;;) {
                ssize_t n;
                if (cap - len < 256) {
                        cap = cap ? cap * 2 : 512;
                        buf = xrealloc(buf, cap + 1);
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return sf_err_errno(e, -errno, "read sysctl '%s'", key);
                if (n == 0)
                        break;
                len += n;
        }
        if (!buf)
                buf = xmalloc(1);
        buf[len] = 0;
        while (len > 0 && buf[len - 1] == '\n')
                buf[--len] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}
