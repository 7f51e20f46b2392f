/* The node's warm pool (beyond Kuryr): for every idle pooled port bound to this node, a
 * pre-plumbed network namespace (veth in place with the port's MAC, addresses, routes and MTU,
 * host end on the network's bridge, neighbour entries both ways; its bridge port disabled while
 * idle), so that a workload that gets the port only has to adopt a ready namespace; its fast
 * lane hands them over as the reconciler sees a new workload, or, in the all-in-one daemon, on
 * the controller's word: claimed inside the transaction, checked clean by the fast lane while
 * it commits, bound at the commit (sf_agent_port_taken).
 *
 * No state crosses workloads: a namespace is used by one workload only and destroyed with it;
 * a recycled port gets a new one. Before a warm namespace is handed out it is checked as an
 * attacker would look for leftovers: no process, socket, learned neighbour or conntrack entry
 * (sf_netns_check), and links, addresses, routes and a set of sysctls exactly as they were
 * right after it was plumbed (its fingerprint). A namespace that fails is destroyed and the
 * port plumbed afresh.
 *
 * Layout: $RUN/warm/<port id> (the namespace) and $RUN/warm/<port id>.json (its fingerprint,
 * written last: a namespace without one is a half-built one). An agent restart recovers them
 * with one directory read and one link dump, whatever their number. */
#include <dirent.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/rtnetlink.h>
#include <search.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/nswatch.h"
#include "net/plumb.h"

SF_LOG_MODULE("warm");

#define POOL_OWNER "compute:pool" /* SF_POOL_OWNER, vim/pool.h */
#define TAKE_WAIT_MS 2000         /* a take waits this long for a namespace being built */
#define LANE_THREADS 2            /* hand-out threads (the fast lane) */
#define ARM_AFTER_USEC 3000000ULL /* a new namespace is armed this long after it was built */
#define HINTS_MAX 1024 /* hints waiting for the agent's lock; beyond, the watch brings them */

enum warm_state {
        W_WANTED,   /* to be built */
        W_BUILDING, /* the warm thread is plumbing it */
        W_READY,    /* built, fingerprinted */
        W_ARMING,   /* ready, and the builder is arming its watch (a take waits for it) */
        W_QUEUED,   /* its port went to a new workload: to be handed out (the fast lane) */
        W_HANDING,  /* being checked and moved to the workload's namespace path */
        W_HANDED,   /* now the workload's namespace; its creation job picks it up */
        W_REFUSED,  /* failed the clean check and destroyed; the job plumbs the port cold */
        W_FAILED,   /* the last build failed; retried at retry_at */
        W_REMOVING, /* no longer wanted: being removed from the kernel */
};

struct warm_ns {
        char port_id[40];
        enum warm_state state;
        bool wanted;  /* an idle pooled port of this node, or taken by a workload not created yet */
        bool claimed; /* a workload took the port cold: never build it for that workload */
        char owner[40]; /* the workload it is handed to (W_QUEUED .. W_REFUSED) */
        json_t *fingerprint;
        /* Armed (W_READY, W_QUEUED): a watch opened inside it, after which it was checked in
         * full; from then on the watch answers for it at the hand-out (see arm_one()). */
        sf_netns_watch *watch;
        bool unwatchable;  /* opening its watch failed: checked from inside at the hand-out */
        bool arm_queued;   /* taken by owner while being armed: queued when armed */
        /* Queued on the controller's hint (agent_warm_hint): the revision from which the
         * cache has its owner; until the cache gets there, kept for it. 0: none. */
        int64_t hint_rev;
        bool at_commit; /* W_HANDING: by a committing request's thread (agent_warm_hint) */
        uint64_t built_at; /* monotonic usec; 0 when recovered from a previous agent */
        int host_ifindex;  /* its veth's host end (port_state); 0 until built or recovered */
        json_t *info;   /* hand-out timings and outcome, for the workload's status */
        char *ready_at; /* when it became the workload's (RFC 3339) */
        uint64_t retry_at;
        unsigned failures;
        char *error;
};

/* A process snapshot shared by hand-outs: valid for every namespace claimed before it was
 * started (a namespace out of reach since its claim cannot gain a process afterwards). */
struct snapshot {
        sf_netns_tasks *tasks;
        uint64_t started;
        unsigned refs;
};

struct hint {
        char node_id[40], port_id[40], wid[40];
        int64_t rev;
};

struct precheck;

struct agent_warm {
        char *dir;
        pthread_t lane_thread[LANE_THREADS], build_thread;
        bool running;
        pthread_mutex_t snap_lock; /* the latest snapshot (never taken with a->lock held) */
        pthread_cond_t snap_cond;
        struct snapshot *snap;
        bool snap_running;
        pthread_cond_t cond; /* with a->lock: state changes */
        struct warm_ns **v;
        size_t n;
        void *index; /* v's entries by port id (tsearch): the event path looks ports up */
        /* statistics */
        unsigned max_armed; /* watches allowed by the open-file limit */
        uint64_t built, hits, misses, dirty, removed, failed, lane, scans, watched, hinted, at_commit;
        double build_ms_sum, check_ms_sum;
        /* Hints (agent_warm_hint) that found a->lock taken, applied by whoever holds it next
         * in the fast lane or agent_warm_sync. n_hints is also read without hint_lock. */
        pthread_mutex_t hint_lock;
        struct hint *hints;
        size_t n_hints;
        /* Hand-outs done by a committing request's thread that then found a->lock taken,
         * recorded by the fast lane (under hint_lock; n_done also read without it). */
        struct handout *done;
        size_t n_done;
        /* Hand-outs claimed inside the transaction that takes their port, checked by the fast
         * lane while it commits (agent_warm_hint), oldest first (under hint_lock). */
        struct precheck *prechecks;
        size_t n_unstarted;  /* of them, not taken by a lane thread (also read without hint_lock) */
        uint64_t prechecked; /* checks done before their commit was known (atomic) */
        /* The netlink socket that opens and closes warm namespaces' ports (port_state). */
        pthread_mutex_t port_lock;
        sf_nl *port_nl;
};

static void hints_drain(sf_agent *a);
static bool precheck_run(sf_agent *a);

/* Lock held: the namespace goes to workload wid, handed out by the fast lane now when ready,
 * or queued by the builder once armed; false when its state allows neither (being built, handed
 * out already, ...: agent_warm_take decides then). wake: the lane is told; a caller that claims
 * it at once, under the same hold of the lock, does not wake every waiting thread for nothing
 * (a wake-up is tens of microseconds on the request's path). */
static bool queue_for(struct agent_warm *w, struct warm_ns *x, const char *wid, bool wake)
{
        if (x->state != W_READY && !(x->state == W_ARMING && !x->arm_queued))
                return false;
        snprintf(x->owner, sizeof(x->owner), "%s", wid);
        if (x->state == W_READY) {
                x->state = W_QUEUED;
                if (wake)
                        pthread_cond_broadcast(&w->cond);
        } else
                x->arm_queued = true; /* the builder queues it when armed */
        return true;
}

/* ---- bookkeeping (a->lock held) ---- */

static int by_port(const void *x, const void *y)
{
        return strcmp(((const struct warm_ns *) x)->port_id, ((const struct warm_ns *) y)->port_id);
}

static struct warm_ns *find(struct agent_warm *w, const char *port_id)
{
        struct warm_ns key, **hit;
        snprintf(key.port_id, sizeof(key.port_id), "%s", port_id);
        hit = tfind(&key, &w->index, by_port);
        return hit ? *hit : NULL;
}

static struct warm_ns *add(struct agent_warm *w, const char *port_id, enum warm_state st)
{
        struct warm_ns *x = new0(struct warm_ns, 1);
        snprintf(x->port_id, sizeof(x->port_id), "%s", port_id);
        x->state = st;
        w->v = xrealloc(w->v, sizeof(*w->v) * (w->n + 1));
        w->v[w->n++] = x;
        if (!tsearch(x, &w->index, by_port))
                sf_oom();
        return x;
}

static void drop(struct agent_warm *w, struct warm_ns *x)
{
        for (size_t i = 0; i < w->n; i++)
                if (w->v[i] == x) {
                        memmove(&w->v[i], &w->v[i + 1], sizeof(*w->v) * (w->n - i - 1));
                        w->n--;
                        break;
                }
        (void) tdelete(x, &w->index, by_port);
        if (x->fingerprint)
                json_decref(x->fingerprint);
        sf_netns_watch_free(x->watch);
        if (x->info)
                json_decref(x->info);
        free(x->ready_at);
        free(x->error);
        free(x);
}

static char *ns_path(struct agent_warm *w, const char *port_id) { return xasprintf("%s/%s", w->dir, port_id); }
static char *fp_path(struct agent_warm *w, const char *port_id) { return xasprintf("%s/%s.json", w->dir, port_id); }

/* Removes a warm namespace from the kernel (veth, namespace file, fingerprint). No lock. */
static void destroy(sf_agent *a, const char *port_id)
{
        _cleanup_free_ char *path = ns_path(a->warm, port_id), *fp = fp_path(a->warm, port_id);
        _cleanup_free_ char *host_if = agent_host_ifname(port_id);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        (void) unlink(fp);
        if (sf_unplumb_port(NULL, host_if, path, 0, &e) < 0)
                log_warn("remove warm namespace of port %s: %s, ignoring", port_id, sf_err_msg(&e));
}

/* ---- fingerprint: what a namespace holds as configuration ---- */

static bool ipv6_kernel_made(const sf_addr *a)
{
        /* Link-local addresses and multicast routes appear on their own (and late) */
        return a->family == AF_INET6 && ((a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80) || a->b[0] == 0xff);
}

static int addr_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        char ***out = userdata;
        const struct ifaddrmsg *ifa = NLMSG_DATA(nlh);
        const struct nlattr *tb[IFA_MAX + 1];
        const struct nlattr *at;
        char buf[SF_ADDR_STRLEN];
        sf_addr a = { .family = ifa->ifa_family };
        if (nlh->nlmsg_type != RTM_NEWADDR || sf_nl_parse_attrs(nlh, sizeof(*ifa), tb, IFA_MAX) < 0)
                return 0;
        at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        if (!at || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
            mnl_attr_get_payload_len(at) != (ifa->ifa_family == AF_INET ? 4u : 16u))
                return 0;
        memcpy(a.b, mnl_attr_get_payload(at), mnl_attr_get_payload_len(at));
        if (ipv6_kernel_made(&a))
                return 0;
        strv_push(out, xasprintf("addr %d %s/%u", (int) ifa->ifa_index, sf_addr_fmt(&a, buf), ifa->ifa_prefixlen));
        return 0;
}

static int route_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        char ***out = userdata;
        const struct rtmsg *rt = NLMSG_DATA(nlh);
        const struct nlattr *tb[RTA_MAX + 1];
        char db[SF_ADDR_STRLEN] = "default", gb[SF_ADDR_STRLEN] = "-";
        sf_addr d = { .family = rt->rtm_family }, g = { .family = rt->rtm_family };
        unsigned table = rt->rtm_table;
        int oif = 0;
        if (nlh->nlmsg_type != RTM_NEWROUTE || sf_nl_parse_attrs(nlh, sizeof(*rt), tb, RTA_MAX) < 0)
                return 0;
        if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6)
                return 0;
        if (tb[RTA_TABLE])
                table = mnl_attr_get_u32(tb[RTA_TABLE]);
        if (tb[RTA_OIF])
                oif = (int) mnl_attr_get_u32(tb[RTA_OIF]);
        if (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) <= sizeof(d.b)) {
                memcpy(d.b, mnl_attr_get_payload(tb[RTA_DST]), mnl_attr_get_payload_len(tb[RTA_DST]));
                if (ipv6_kernel_made(&d))
                        return 0;
                sf_addr_fmt(&d, db);
        }
        if (tb[RTA_GATEWAY] && mnl_attr_get_payload_len(tb[RTA_GATEWAY]) <= sizeof(g.b)) {
                memcpy(g.b, mnl_attr_get_payload(tb[RTA_GATEWAY]), mnl_attr_get_payload_len(tb[RTA_GATEWAY]));
                sf_addr_fmt(&g, gb);
        }
        strv_push(out, xasprintf("route table %u type %u %s/%u via %s dev %d", table, rt->rtm_type, db,
                                 rt->rtm_dst_len, gb, oif));
        return 0;
}

static int dump(sf_nl *nl, uint16_t type, size_t hdr, uint8_t family, sf_nl_reply_cb cb, void *u, sf_err *e)
{
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        uint8_t *h;
        int rc;
        for (int tries = 0;; tries++) {
                sf_nlreq_reset(r);
                sf_nlreq_begin(r, type, NLM_F_DUMP, "dump");
                h = sf_nlreq_reserve(r, hdr);
                if (h)
                        h[0] = family; /* ifa_family / rtm_family: the first byte of both */
                rc = sf_nlreq_end(r, e);
                if (rc >= 0)
                        rc = sf_nl_exec(nl, r, cb, u, e);
                if (rc != -EAGAIN || tries == 3)
                        return rc;
                sf_err_clear(e);
        }
}

/* Sysctls a workload could change to leave something behind (with CAP_NET_ADMIN). */
static const char *const watched_sysctls[] = {
        "net.ipv4.ip_forward",
        "net.ipv4.conf.all.forwarding",
        "net.ipv6.conf.all.forwarding",
        "net.ipv4.ping_group_range",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.all.accept_redirects",
        "net.ipv4.conf.all.route_localnet",
        "net.ipv4.conf.all.proxy_arp",
        "net.ipv4.conf.eth0.proxy_arp",
        "net.ipv4.conf.eth0.arp_notify",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.icmp_echo_ignore_all",
        "net.ipv6.conf.all.disable_ipv6",
        NULL,
};

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *) x, *(char *const *) y); }

struct fp_ctx {
        char **v;
        uint64_t started; /* sf_now_usec() when it began */
        sf_err err;
};

/* Runs inside the namespace (sf_netns_run, or after the clean check on its thread): one
 * thread, one setns for everything. */
static int fingerprint_inside(void *u)
{
        struct fp_ctx *c = u;
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_link_info *links = NULL;
        size_t n = 0;
        int r;
        c->started = sf_now_usec();
        r = sf_nl_open(&nl, &c->err);
        if (r < 0)
                return r;
        for (int tries = 0; (r = sf_link_list(nl, "", &links, &n, &c->err)) == -EAGAIN && tries < 3; tries++)
                sf_err_clear(&c->err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char mb[SF_MAC_STRLEN];
                strv_push(&c->v, xasprintf("link %d %s %s mtu %u mac %s %s", links[i].ifindex, links[i].name,
                                           links[i].kind ? links[i].kind : "-", links[i].mtu,
                                           sf_mac_fmt(links[i].mac, mb), (links[i].flags & IFF_UP) ? "up" : "down"));
        }
        sf_link_info_free_array(links, n);
        r = dump(nl, RTM_GETADDR, sizeof(struct ifaddrmsg), AF_UNSPEC, addr_cb, &c->v, &c->err);
        if (r >= 0)
                r = dump(nl, RTM_GETROUTE, sizeof(struct rtmsg), AF_UNSPEC, route_cb, &c->v, &c->err);
        if (r < 0)
                return r;
        {
                char *vals[ELEMENTSOF(watched_sysctls)];
                size_t n_keys = ELEMENTSOF(watched_sysctls) - 1;
                r = sf_sysctl_read_many(watched_sysctls, n_keys, vals, &c->err);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_keys; i++) {
                        strv_push(&c->v, vals[i] ? xasprintf("sysctl %s = %s", watched_sysctls[i], vals[i])
                                                 : xasprintf("sysctl %s unreadable", watched_sysctls[i]));
                        free(vals[i]);
                }
        }
        return 0;
}

/* What fingerprint_inside collected, sorted, as a JSON array; frees it. */
static json_t *fingerprint_json(struct fp_ctx *c)
{
        json_t *out = json_array();
        sf_err_clear(&c->err);
        qsort(c->v, strv_length(c->v), sizeof(char *), cmp_str);
        for (char **s = c->v; s && *s; s++)
                json_array_append_new(out, json_string(*s));
        strv_free(c->v);
        c->v = NULL;
        return out;
}

static int fingerprint(const char *path, json_t **ret, sf_err *e)
{
        _cleanup_close_ int fd = sf_netns_open(path, e);
        struct fp_ctx c = { .err = SF_ERR_INIT };
        int r;

        if (fd < 0)
                return fd;
        r = sf_netns_run(fd, fingerprint_inside, &c, e);
        if (r < 0) {
                if (c.err.code)
                        sf_err_move(e, &c.err);
                strv_free(c.v);
                return sf_err_wrap(r, e, "fingerprint of '%s'", path);
        }
        *ret = fingerprint_json(&c);
        return 0;
}

/* "+new, -gone" lines between two fingerprints, for the log. */
static char *fingerprint_diff(json_t *was, json_t *now)
{
        char *s = xstrdup("");
        json_t *x;
        size_t i;
        json_array_foreach(now, i, x) {
                bool seen = false;
                json_t *y;
                size_t j;
                json_array_foreach(was, j, y)
                        seen |= json_equal(x, y);
                if (!seen) {
                        char *t = xasprintf("%s%s+ %s", s, *s ? "; " : "", json_string_value(x));
                        free(s);
                        s = t;
                }
        }
        json_array_foreach(was, i, x) {
                bool seen = false;
                json_t *y;
                size_t j;
                json_array_foreach(now, j, y)
                        seen |= json_equal(x, y);
                if (!seen) {
                        char *t = xasprintf("%s%s- %s", s, *s ? "; " : "", json_string_value(x));
                        free(s);
                        s = t;
                }
        }
        return s;
}

/* An idle warm namespace's port is closed: its host end is a disabled port of the bridge, so
 * that nothing on the network reaches it (a peer's ARP request, which its kernel would answer
 * and learn the peer from; a scan) and it sends nothing. It opens (forwarding, as every port of
 * a workload) once checked clean for its workload, before its move. No lock needed. */
static int port_state(sf_agent *a, int host_ifindex, bool open, sf_err *e)
{
        struct agent_warm *w = a->warm;
        int r = 0;
        pthread_mutex_lock(&w->port_lock);
        if (!w->port_nl)
                r = sf_nl_open(&w->port_nl, e);
        if (r >= 0)
                r = sf_link_set_brport_state(w->port_nl, host_ifindex,
                                             open ? BR_STATE_FORWARDING : BR_STATE_DISABLED, e);
        pthread_mutex_unlock(&w->port_lock);
        /* No carrier yet (a namespace handed out right after its build): the bridge enables
         * the port itself when the carrier comes up, as for a cold start's port. */
        if (r == -ENETDOWN && open) {
                sf_err_clear(e);
                r = 0;
        }
        return r;
}

/* Is the warm namespace of port_id exactly as it was built, and empty of state? NULL when
 * clean, else what was found (malloc'd). our_fd: a socket of ours in it (its watch), or -1.
 * No lock. */
static char *verify(sf_agent *a, const char *port_id, const sf_netns_tasks *tasks, json_t *fp_built,
                    int our_fd, double *ret_ms, double *ret_fp_ms)
{
        _cleanup_free_ char *path = ns_path(a->warm, port_id);
        _cleanup_netns_report_ sf_netns_report *rep = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        struct fp_ctx fc = { .err = SF_ERR_INIT };
        json_auto_t *fp = NULL;
        uint64_t t0 = sf_now_usec(), t1;
        char *why = NULL;

        /* The fingerprint is taken on the check's thread, once the check found nothing. */
        if (sf_netns_check_with(path, tasks, &our_fd, our_fd >= 0, fingerprint_inside, &fc, &rep, &e) < 0)
                why = fc.err.code ? xasprintf("fingerprint failed: %s", sf_err_msg(&fc.err))
                                  : xasprintf("check failed: %s", sf_err_msg(&e));
        else if (!sf_netns_report_clean(rep)) {
                _cleanup_free_ char *sum = sf_netns_report_summary(rep);
                why = xasprintf("not empty: %s", sum);
        } else if (!json_equal((fp = fingerprint_json(&fc)), fp_built)) {
                _cleanup_free_ char *d = fingerprint_diff(fp_built, fp);
                why = xasprintf("changed since it was built: %s", d);
        }
        strv_free(fc.v);
        sf_err_clear(&fc.err);
        t1 = sf_now_usec();
        *ret_ms = ((fc.started ? fc.started : t1) - t0) / 1000.0;
        *ret_fp_ms = fc.started ? (t1 - fc.started) / 1000.0 : 0;
        return why;
}

/* Hands warm namespaces over: each is checked clean (processes from one snapshot taken after
 * every one of them was claimed), then moved to its workload's namespace path. Lock NOT held;
 * the entries are in W_HANDING and owned by the caller. */
struct handout {
        char port_id[40];
        char owner[40];
        int host_ifindex;
        char *netns;       /* where it goes: NULL for agent_netns_path(owner) */
        json_t *fingerprint;
        sf_netns_watch *watch; /* its watch, when armed */
        uint64_t claimed;
        /* the clean check (handout_check) */
        double scan_ms, check_ms, fp_ms, port_ms;
        bool scan_shared;
        bool watched;    /* its watch answered for it */
        char *unwatched; /* why its watch could not */
        char *why;       /* not clean, or (handout_move) not moved: why */
        bool port_open;  /* its port opened (port_state), once found clean */
        /* the move (handout_move) */
        json_t *info;
        char *ready_at;
};

static void snapshot_put(struct agent_warm *w, struct snapshot *s)
{
        bool last;
        if (!s)
                return;
        pthread_mutex_lock(&w->snap_lock);
        last = --s->refs == 0;
        pthread_mutex_unlock(&w->snap_lock);
        if (last) {
                sf_netns_tasks_free(s->tasks);
                free(s);
        }
}

/* A snapshot started after claimed (monotonic usec): the latest one if it qualifies, the one
 * being taken if it started late enough, else a new one. Concurrent hand-outs share one. */
static struct snapshot *snapshot_get(struct agent_warm *w, uint64_t claimed, bool *ret_shared)
{
        struct snapshot *s = NULL, *old = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        uint64_t started;
        pthread_mutex_lock(&w->snap_lock);
        for (;;) {
                if (w->snap && w->snap->started >= claimed) {
                        s = w->snap;
                        s->refs++;
                        *ret_shared = true;
                        pthread_mutex_unlock(&w->snap_lock);
                        return s;
                }
                if (!w->snap_running)
                        break;
                pthread_cond_wait(&w->snap_cond, &w->snap_lock);
        }
        w->snap_running = true;
        started = sf_now_usec();
        pthread_mutex_unlock(&w->snap_lock);
        s = new0(struct snapshot, 1);
        s->started = started;
        s->refs = 2; /* the caller's, and the cache's */
        if (sf_netns_tasks_scan(&s->tasks, &e) < 0)
                log_warn_rl("process snapshot: %s (each check scans alone)", sf_err_msg(&e));
        pthread_mutex_lock(&w->snap_lock);
        old = w->snap;
        w->snap = s;
        w->snap_running = false;
        pthread_cond_broadcast(&w->snap_cond);
        pthread_mutex_unlock(&w->snap_lock);
        snapshot_put(w, old);
        *ret_shared = false;
        return s;
}

/* The first half of a hand-out: the clean check. */
static void handout_check(sf_agent *a, struct handout *h, size_t n)
{
        struct agent_warm *w = a->warm;
        uint64_t t_scan = sf_now_usec(), claimed = 0;
        struct snapshot *snap;
        sf_netns_tasks *tasks;
        bool shared = false;
        double scan_ms;
        for (size_t i = 0; i < n; i++)
                claimed = MAX(claimed, h[i].claimed);
        snap = snapshot_get(w, claimed, &shared);
        tasks = snap->tasks; /* NULL when the scan failed: sf_netns_check_with scans itself */
        scan_ms = (sf_now_usec() - t_scan) / 1000.0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = ns_path(a->warm, h[i].port_id);
                uint64_t t0 = sf_now_usec();
                struct stat st;
                h[i].scan_ms = scan_ms;
                h[i].scan_shared = shared;
                /* Armed: clean if its watch saw nothing and no process is inside. Anything
                 * else is a reason to look from inside, which decides. */
                if (!h[i].watch)
                        h[i].unwatched = xstrdup("not armed");
                else if (!tasks)
                        h[i].unwatched = xstrdup("no process snapshot");
                else if (stat(path, &st) < 0)
                        h[i].unwatched = xasprintf("stat: %m");
                else {
                        _cleanup_free_ pid_t *pids = NULL;
                        size_t n_pids = 0;
                        h[i].unwatched = sf_netns_watch_changed(h[i].watch);
                        if (!h[i].unwatched && sf_netns_tasks_pids_in(tasks, &st, &pids, &n_pids) >= 0 && !n_pids)
                                h[i].watched = true;
                        else if (!h[i].unwatched)
                                h[i].unwatched = xstrdup("a process inside");
                }
                if (h[i].unwatched)
                        log_debug("warm namespace of port %s: %s; checking it from inside", h[i].port_id,
                                  h[i].unwatched);
                if (h[i].watched)
                        h[i].check_ms = (sf_now_usec() - t0) / 1000.0;
                else
                        /* With the watch still open: its socket is ours. Closed first, it
                         * could still be there, held for a moment by a child of this process
                         * between its fork and its exec. */
                        h[i].why = verify(a, h[i].port_id, tasks, h[i].fingerprint,
                                          h[i].watch ? sf_netns_watch_fd(h[i].watch) : -1, &h[i].check_ms, &h[i].fp_ms);
                if (!h[i].why) {
                        _cleanup_err_ sf_err e = SF_ERR_INIT;
                        uint64_t t_port = sf_now_usec();
                        int r = port_state(a, h[i].host_ifindex, true, &e);
                        h[i].port_ms = (sf_now_usec() - t_port) / 1000.0;
                        if (r < 0)
                                h[i].why = xasprintf("cannot open its port: %s", sf_err_msg(&e));
                        else
                                h[i].port_open = true;
                }
        }
        snapshot_put(w, snap);
}

/* The second half: the checked namespaces moved to their workloads' paths (the ones found
 * not clean destroyed instead), with their timings in info. */
static void handout_move(sf_agent *a, struct handout *h, size_t n)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = ns_path(a->warm, h[i].port_id);
                _cleanup_free_ char *netns = h[i].netns ? xstrdup(h[i].netns) : agent_netns_path(a, h[i].owner);
                double bind_ms = 0;
                sf_err_clear(&e);
                if (!h[i].why) {
                        /* At its workload's path now; still at the warm one, with its
                         * fingerprint, until handout_unbind: neither is on the way to ready.
                         * (Should the agent stop in between, recover() sees it bound at a
                         * workload's path and drops it from the warm pool.) */
                        uint64_t t_bind = sf_now_usec();
                        if (sf_netns_bind(path, netns, &e) < 0)
                                h[i].why = xasprintf("cannot move it: %s", sf_err_msg(&e));
                        bind_ms = (sf_now_usec() - t_bind) / 1000.0;
                }
                h[i].ready_at = sf_timestamp(sf_realtime_usec());
                /* Its socket has no business in the namespace the workload gets: closed
                 * before the workload's job can see it (handout_done) or it is destroyed. */
                sf_netns_watch_free(TAKE_PTR(h[i].watch));
                if (h[i].why)
                        destroy(a, h[i].port_id);
                h[i].info = json_pack("{s:f, s:b, s:f, s:b, s:f, s:f, s:f}", "process_scan_ms", h[i].scan_ms,
                                      "process_scan_shared", h[i].scan_shared, "netns_check_ms", h[i].check_ms,
                                      "netns_watched", h[i].watched, "fingerprint_ms", h[i].fp_ms, "netns_bind_ms",
                                      bind_ms, "warm_take_ms", (sf_now_usec() - h[i].claimed) / 1000.0);
                json_object_set_new(h[i].info, "warm_batch", json_integer((json_int_t) n));
                json_object_set_new(h[i].info, "port_open_ms", json_real(h[i].port_ms));
                if (h[i].unwatched)
                        json_object_set_new(h[i].info, "netns_unwatched", json_string(h[i].unwatched));
        }
}

static void handout_batch(sf_agent *a, struct handout *h, size_t n)
{
        handout_check(a, h, n);
        handout_move(a, h, n);
}

/* Lock held: records the outcome of hand-outs. */
static void handout_done(sf_agent *a, struct handout *h, size_t n, bool lane)
{
        struct agent_warm *w = a->warm;
        for (size_t i = 0; i < n; i++) {
                struct warm_ns *x = find(w, h[i].port_id);
                if (h[i].why) {
                        w->dirty++;
                        log_warn("warm namespace of port %s refused for workload %s: %s; plumbing a new one",
                                 h[i].port_id, h[i].owner, h[i].why);
                } else {
                        w->hits++;
                        w->watched += h[i].watched;
                        w->lane += lane;
                        w->check_ms_sum += json_real_value(json_object_get(h[i].info, "netns_check_ms")) +
                                           json_real_value(json_object_get(h[i].info, "fingerprint_ms"));
                }
                if (!x)
                        continue;
                x->state = h[i].why ? W_REFUSED : W_HANDED;
                x->at_commit = false;
                x->claimed = true;
                if (x->info)
                        json_decref(x->info);
                x->info = json_incref(h[i].info);
                json_object_set_new(x->info, "warm_lane", json_boolean(lane));
                if (h[i].why)
                        json_object_set_new(x->info, "warm_miss", json_string("refused: not clean"));
                free(x->ready_at);
                x->ready_at = h[i].why ? NULL : xstrdup(h[i].ready_at);
        }
        pthread_cond_broadcast(&w->cond);
}

/* The second half of the hand-outs' moves: their warm paths go. No lock. */
static void handout_unbind(sf_agent *a, struct handout *h, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *fpp = NULL;
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (h[i].why)
                        continue;
                path = ns_path(a->warm, h[i].port_id);
                fpp = fp_path(a->warm, h[i].port_id);
                (void) unlink(fpp); /* first: without it, recover() never takes it for a ready one */
                if (sf_netns_delete(path, &e) < 0)
                        log_warn("%s after handing it out, ignoring", sf_err_msg(&e));
        }
}

static void handout_free(struct handout *h, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (h[i].fingerprint)
                        json_decref(h[i].fingerprint);
                sf_netns_watch_free(h[i].watch);
                if (h[i].info)
                        json_decref(h[i].info);
                free(h[i].why);
                free(h[i].unwatched);
                free(h[i].ready_at);
                free(h[i].netns);
        }
}

/* Lock held: x, queued for its owner, is the caller's to hand out (at netns, NULL for its
 * owner's path). */
static void handout_claim(struct warm_ns *x, struct handout *h, const char *netns)
{
        x->state = W_HANDING;
        *h = (struct handout) { .claimed = sf_now_usec(), .fingerprint = json_incref(x->fingerprint),
                                .netns = netns ? xstrdup(netns) : NULL, .watch = TAKE_PTR(x->watch) };
        snprintf(h->port_id, sizeof(h->port_id), "%s", x->port_id);
        snprintf(h->owner, sizeof(h->owner), "%s", x->owner);
        h->host_ifindex = x->host_ifindex;
}

/* Lock held on entry and on return, dropped meanwhile: hand-outs done before their workloads'
 * jobs ran (which find them W_HANDED) recorded, then their warm paths removed. */
static void handout_finish(sf_agent *a, struct handout *h, size_t n)
{
        handout_done(a, h, n, true);
        agent_unlock(a);
        handout_unbind(a, h, n);
        handout_free(h, n);
        agent_lock(a);
}

/* Lock held on entry and on return, dropped meanwhile: claimed namespaces handed out. */
static void handout_run(sf_agent *a, struct handout *h, size_t n)
{
        agent_raise(a);
        agent_unlock(a);
        handout_batch(a, h, n);
        agent_lock(a);
        agent_lower(a);
        a->warm->scans++;
        handout_finish(a, h, n);
}

/* Lock held on entry and on return: records the hand-outs left by committing requests'
 * threads (agent_warm_hint). */
static void done_drain(sf_agent *a)
{
        struct agent_warm *w = a->warm;
        struct handout *v;
        size_t n;
        if (!__atomic_load_n(&w->n_done, __ATOMIC_ACQUIRE))
                return;
        pthread_mutex_lock(&w->hint_lock);
        v = TAKE_PTR(w->done);
        n = w->n_done;
        __atomic_store_n(&w->n_done, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&w->hint_lock);
        w->scans += n;
        handout_finish(a, v, n);
        free(v);
}

static bool port_in_use_locally(sf_agent *a, const char *port_id)
{
        for (size_t i = 0; i < a->n_lws; i++) {
                json_t *pid;
                size_t k;
                if (a->lws[i]->state == LW_GONE)
                        continue;
                json_array_foreach(json_object_get(a->lws[i]->spec, "port_ids"), k, pid)
                        if (STREQ(json_string_value(pid) ?: "", port_id))
                                return true;
        }
        return false;
}

static void build(sf_agent *a, const char *port_id)
{
        struct agent_warm *w = a->warm;
        struct agent_port_plan pp;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *path = ns_path(w, port_id), *fpp = fp_path(w, port_id), *txt = NULL;
        _cleanup_nl_ sf_nl *nl = NULL;
        json_auto_t *fp = NULL, *rec = NULL;
        sf_plumb_result res = { 0 };
        struct warm_ns *x;
        uint64_t t0 = sf_now_usec();
        bool ok = false;
        int r;

        agent_lock(a);
        r = agent_port_plan_make(a, port_id, 0, &pp, NULL, NULL, NULL, &e);
        agent_unlock(a);
        if (r >= 0) {
                (void) sf_netns_delete(path, NULL); /* a stale one */
                r = sf_nl_open(&nl, &e);
        }
        if (r >= 0)
                r = agent_port_plumb(a, nl, &pp, path, &res, &e);
        if (r >= 0 && (r = sf_link_set_brport_state(nl, res.host_ifindex, BR_STATE_DISABLED, &e)) < 0)
                sf_err_prefix(&e, "close its port");
        if (r >= 0)
                r = fingerprint(path, &fp, &e);
        if (r >= 0) {
                rec = json_pack("{s:s, s:O}", "port", port_id, "fingerprint", fp);
                txt = sf_json_dumps(rec);
                r = sf_write_file_volatile(fpp, txt, strlen(txt), 0600, &e);
        }
        if (r < 0 && r != -EAGAIN)
                destroy(a, port_id);
        agent_port_plan_done(&pp);

        agent_lock(a);
        x = find(w, port_id);
        if (r >= 0) {
                ok = true;
                w->built++;
                w->build_ms_sum += (sf_now_usec() - t0) / 1000.0;
                if (x) {
                        x->state = W_READY;
                        x->fingerprint = json_incref(fp);
                        x->host_ifindex = res.host_ifindex;
                        x->failures = 0;
                        x->built_at = sf_now_usec();
                        x->unwatchable = false;
                }
        } else if (x) {
                x->state = W_FAILED;
                x->failures++;
                /* Not-yet-known dependencies soon; real failures back off to 30 s. */
                x->retry_at = sf_now_usec() + (r == -EAGAIN ? 300000ULL
                                                            : MIN(1000000ULL << MIN(x->failures, 5u), 30000000ULL));
                free(x->error);
                x->error = xstrdup(sf_err_msg(&e));
                w->failed += r != -EAGAIN;
        }
        pthread_cond_broadcast(&w->cond);
        agent_unlock(a);
        if (ok)
                log_debug("warm namespace for port %s ready in %.1f ms", port_id, (sf_now_usec() - t0) / 1000.0);
        else if (r != -EAGAIN)
                log_warn_rl("warm namespace for port %s: %s (retrying)", port_id, sf_err_msg(&e));
}

#define LANE_BATCH 8   /* hand-outs per batch at most (each lane thread takes its share of a burst) */

/* Is the node creating workloads? Then builds and removals wait: they would compete with the
 * workloads' start for the CPU and the kernel's locks, and the pool refills after the burst
 * (a take that finds no warm namespace meanwhile plumbs the port cold). Lock held. */
static bool creating(sf_agent *a)
{
        for (struct job *j = a->jobs; j; j = j->next)
                if (j->type == JOB_CREATE)
                        return true;
        for (size_t i = 0; i < a->n_lws; i++)
                if (a->lws[i]->busy && a->lws[i]->state == LW_NEW)
                        return true;
        return false;
}

static void cond_wait_until(struct agent_warm *w, pthread_mutex_t *m, uint64_t mono_usec)
{
        struct timespec ts = { .tv_sec = (time_t) (mono_usec / 1000000), .tv_nsec = (long) (mono_usec % 1000000) * 1000 };
        pthread_cond_timedwait(&w->cond, m, &ts);
}

/* The fast lane: hands warm namespaces to new workloads as soon as the reconciler sees them,
 * in batches checked against one process snapshot. Normal priority: a workload waits. */
static void *lane_loop(void *u)
{
        sf_agent *a = u;
        struct agent_warm *w = a->warm;
        /* A hand-out is short (well under a millisecond of CPU) and every new workload waits
         * for it: ahead of the runtimes starting other workloads (sfd --control-nice). */
        if (a->o.control_nice && sf_thread_set_nice(a->o.control_nice) < 0)
                log_debug("raise the fast lane's priority: %m, ignoring");
        agent_lock(a);
        while (!a->stopping) {
                struct handout h[LANE_BATCH];
                size_t nh = 0, queued = 0, take;
                done_drain(a);
                hints_drain(a);
                if (__atomic_load_n(&w->n_unstarted, __ATOMIC_ACQUIRE)) {
                        bool ran;
                        /* Raised across (as handout_run): no priority change on the way. */
                        agent_raise(a);
                        agent_unlock(a);
                        ran = precheck_run(a);
                        agent_lock(a);
                        agent_lower(a);
                        if (ran)
                                continue;
                }
                /* An even share of what is queued: a burst's hand-outs go to every lane thread
                 * at once instead of filling one batch while the others idle. */
                for (size_t i = 0; i < w->n; i++)
                        queued += w->v[i]->state == W_QUEUED;
                take = MIN((size_t) LANE_BATCH, (queued + LANE_THREADS - 1) / LANE_THREADS);
                for (size_t i = 0; i < w->n && nh < take; i++) {
                        struct warm_ns *x = w->v[i];
                        if (x->state != W_QUEUED)
                                continue;
                        handout_claim(x, &h[nh++], NULL);
                }
                if (!nh) {
                        /* A committing request's thread leaves its hand-out here when it finds
                         * a->lock taken, and its wake-up, sent without the lock, can come just
                         * before this wait: while one is in flight, look again soon. */
                        bool in_flight = false;
                        for (size_t i = 0; i < w->n && !in_flight; i++)
                                in_flight = w->v[i]->state == W_HANDING && w->v[i]->at_commit;
                        cond_wait_until(w, &a->lock, sf_now_usec() + (in_flight ? 200 : 1000000));
                        continue;
                }
                log_debug("fast lane: handing out %zu warm namespace(s)", nh);
                handout_run(a, h, nh);
        }
        agent_unlock(a);
        return NULL;
}

/* ---- arming: a watch instead of a look from inside at the hand-out ---- */

struct arm_ctx {
        sf_netns_watch *watch;
        sf_err err;
};

static int arm_inside(void *u)
{
        struct arm_ctx *c = u;
        return sf_netns_watch_open(watched_sysctls, ELEMENTSOF(watched_sysctls) - 1, &c->watch, &c->err);
}

/* Arms the namespace of port_id (W_ARMING, set by the caller): opens its watch from inside,
 * then checks it in full (processes from a snapshot taken just before) and its fingerprint. A
 * change before the watch was open is the check's to find; one after, the watch's. Then it
 * is ready again (or queued, if a workload took its port meanwhile). One that fails the check
 * is destroyed: rebuilt, or refused to the workload that took it. Lock held; released while
 * working. */
static void arm_one(sf_agent *a, const char *port_id)
{
        struct agent_warm *w = a->warm;
        _cleanup_free_ char *path = ns_path(w, port_id), *why = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_close_ int fd = -EBADF;
        struct arm_ctx c = { .err = SF_ERR_INIT };
        struct snapshot *snap = NULL;
        struct warm_ns *x = find(w, port_id);
        json_auto_t *fp = json_incref(x->fingerprint);
        bool unwatchable = false, shared;
        int host_ifindex = x->host_ifindex;
        double ms, fp_ms;

        agent_unlock(a);
        /* Closed again first: the bridge enables a disabled port when its carrier comes up,
         * which the kernel may have told it after the build closed it. Whatever reached it
         * meanwhile, the check below finds. */
        if (port_state(a, host_ifindex, false, &e) < 0)
                why = xasprintf("cannot close its port: %s", sf_err_msg(&e));
        else {
                /* The process snapshot first: the thread that opens the watch may still show
                 * as inside for a moment after it was joined (a thread's namespaces go after
                 * the wake-up that ends pthread_join), and would be found as a process of ours
                 * inside. Processes are not the watch's business anyway: each hand-out takes
                 * its own snapshot. */
                snap = snapshot_get(w, sf_now_usec(), &shared);
                fd = sf_netns_open(path, &e);
                if (fd < 0 || sf_netns_run(fd, arm_inside, &c, &e) < 0) {
                        log_warn_rl("cannot watch the warm namespace of port %s: %s (it is checked from inside "
                                    "when handed out)",
                                    port_id, c.err.code ? sf_err_msg(&c.err) : sf_err_msg(&e));
                        unwatchable = true;
                } else
                        why = verify(a, port_id, snap->tasks, fp, sf_netns_watch_fd(c.watch), &ms, &fp_ms);
        }
        if (why) {
                sf_netns_watch_free(TAKE_PTR(c.watch));
                destroy(a, port_id);
        }
        snapshot_put(w, snap);
        sf_err_clear(&c.err);
        agent_lock(a);
        x = find(w, port_id);
        if (!x || x->state != W_ARMING) { /* cannot be: only the builder moves it on */
                sf_netns_watch_free(c.watch);
                return;
        }
        if (why) {
                w->dirty++; /* counted before it is logged: a reader of both sees both */
                log_warn("warm namespace of port %s failed its check when armed: %s; removed it", port_id, why);
                if (x->fingerprint)
                        json_decref(x->fingerprint);
                x->fingerprint = NULL;
                x->state = x->arm_queued ? W_REFUSED : W_WANTED;
                if (x->arm_queued) {
                        x->claimed = true;
                        if (x->info)
                                json_decref(x->info);
                        x->info = json_pack("{s:s}", "warm_miss", "refused: not clean");
                }
        } else {
                x->watch = TAKE_PTR(c.watch);
                x->unwatchable = unwatchable;
                x->state = x->arm_queued ? W_QUEUED : W_READY;
        }
        x->arm_queued = false;
        pthread_cond_broadcast(&w->cond);
}

/* The builder: removes warm namespaces no longer wanted and builds missing ones, in FIFO
 * order (the controller hands out its oldest port first), at a lower priority and only while
 * the node is not creating workloads. */
static void *build_loop(void *u)
{
        sf_agent *a = u;
        struct agent_warm *w = a->warm;
        if (setpriority(PRIO_PROCESS, (id_t) gettid(), 10) < 0)
                log_debug("lower the warm builder's priority: %m, ignoring");
        agent_lock(a);
        while (!a->stopping) {
                uint64_t now = sf_now_usec(), next = now + 1000000;
                char id[40] = "", orphan[40] = "";
                bool remove = false, arming = false;
                unsigned armed = 0;
                if (creating(a)) {
                        cond_wait_until(w, &a->lock, now + 50000);
                        continue;
                }
                /* Removals first: they give addresses and names back. */
                for (size_t i = 0; i < w->n && !*id && !*orphan; i++) {
                        struct warm_ns *x = w->v[i];
                        if (x->wanted)
                                continue;
                        if (x->state == W_WANTED || x->state == W_HANDED || x->state == W_REFUSED) {
                                /* Nothing of it left under the warm directory. A namespace
                                 * handed to a workload that vanished before its creation job
                                 * (created and force-deleted at once) is this one's to remove. */
                                if (x->state == W_HANDED && !*orphan && !agent_lw_find(a, x->owner) &&
                                    !agent_cache_get(a, "container", x->owner))
                                        snprintf(orphan, sizeof(orphan), "%s", x->owner);
                                drop(w, x);
                                i--;
                        } else if (x->state == W_READY || x->state == W_FAILED) {
                                x->state = W_REMOVING;
                                sf_netns_watch_free(TAKE_PTR(x->watch)); /* it holds the namespace */
                                snprintf(id, sizeof(id), "%s", x->port_id);
                                remove = true;
                        }
                }
                for (size_t i = 0; i < w->n && !*id; i++) {
                        struct warm_ns *x = w->v[i];
                        if (!x->wanted || x->claimed || (x->state != W_WANTED && x->state != W_FAILED))
                                continue;
                        if (x->retry_at > now) {
                                next = MIN(next, x->retry_at);
                                continue;
                        }
                        if (port_in_use_locally(a, x->port_id)) {
                                /* Recycled while its last workload is still being torn down. */
                                x->retry_at = now + 200000;
                                next = MIN(next, x->retry_at);
                                continue;
                        }
                        x->state = W_BUILDING;
                        snprintf(id, sizeof(id), "%s", x->port_id);
                }
                /* Nothing to build or remove: arm the ready ones, oldest first, once the kernel
                 * has finished with them (carrier and IPv6 address events come late). */
                for (size_t i = 0; i < w->n; i++)
                        armed += w->v[i]->watch != NULL;
                for (size_t i = 0; i < w->n && !*id && !*orphan && armed < w->max_armed; i++) {
                        struct warm_ns *x = w->v[i];
                        if (x->state != W_READY || x->watch || x->unwatchable || !x->wanted)
                                continue;
                        if (x->built_at && x->built_at + ARM_AFTER_USEC > now) {
                                next = MIN(next, x->built_at + ARM_AFTER_USEC);
                                continue;
                        }
                        x->state = W_ARMING; /* arm_queued is false: arm_one leaves it so */
                        snprintf(id, sizeof(id), "%s", x->port_id);
                        arming = true;
                }
                if (*orphan) {
                        _cleanup_free_ char *ns = agent_netns_path(a, orphan);
                        agent_unlock(a);
                        (void) sf_netns_delete(ns, NULL); /* its veth goes with the namespace */
                        agent_lock(a);
                        continue;
                }
                if (!*id) {
                        cond_wait_until(w, &a->lock, next);
                        continue;
                }
                if (arming) {
                        arm_one(a, id);
                        continue;
                }
                agent_unlock(a);
                if (remove)
                        destroy(a, id);
                else
                        build(a, id);
                agent_lock(a);
                if (remove) {
                        struct warm_ns *x = find(w, id);
                        w->removed++;
                        if (x && x->wanted) { /* pooled again meanwhile: a new one */
                                x->state = W_WANTED;
                                if (x->fingerprint)
                                        json_decref(x->fingerprint);
                                x->fingerprint = NULL;
                        } else if (x)
                                drop(w, x);
                }
        }
        agent_unlock(a);
        return NULL;
}

/* ---- hooks ---- */

void agent_warm_sync(sf_agent *a)
{
        struct agent_warm *w = a->warm;
        json_auto_t *referenced = json_object(), *pending = json_object();
        const char *id;
        json_t *p, *c;
        bool changed = false;

        if (!w || !a->node_id)
                return;
        hints_drain(a);
        /* Ports of local workloads (a recycled port waits for their teardown)... */
        for (size_t i = 0; i < a->n_lws; i++) {
                json_t *pid;
                size_t k;
                if (a->lws[i]->state == LW_GONE)
                        continue;
                json_array_foreach(json_object_get(a->lws[i]->spec, "port_ids"), k, pid)
                        json_object_set_new(referenced, json_string_value(pid), json_true());
        }
        /* ...and the first ports of this node's workloads not created yet: their warm
         * namespace is handed out now (the fast lane), before a worker gets to the job. */
        json_object_foreach(agent_cache_kind(a, "container"), id, c) {
                struct lw *lw = agent_lw_find(a, id);
                const char *pid = json_string_value(json_array_get(json_object_get(c, "port_ids"), 0));
                if (pid && STREQ(json_string_value(json_object_get(c, "node_id")) ?: "", a->node_id) &&
                    (!lw || lw->state == LW_NEW) && !json_is_true(json_object_get(c, "deleting")) &&
                    !STREQ(json_string_value(json_object_get(c, "kind")) ?: "container", "vm"))
                        json_object_set_new(pending, pid, json_string(id));
        }
        for (size_t i = 0; i < w->n; i++)
                w->v[i]->wanted = false;
        json_object_foreach(agent_cache_kind(a, "port"), id, p) {
                const char *owner = json_string_value(json_object_get(p, "device_owner"));
                const char *node = json_string_value(json_object_get(p, "node_id"));
                const char *wid = json_string_value(json_object_get(pending, id));
                struct warm_ns *x;
                if (!node || !STREQ(node, a->node_id) || !owner)
                        continue;
                x = find(w, id);
                if (STREQ(owner, POOL_OWNER)) {
                        if (!x) {
                                x = add(w, id, W_WANTED);
                                changed = true;
                        } else if (x->state == W_HANDED || x->state == W_REFUSED) {
                                /* Handed on the controller's hint to a workload the cache
                                 * does not have yet: kept for it. Otherwise recycled before
                                 * its workload picked it up: removed (build_loop). */
                                if (x->hint_rev > a->revision)
                                        x->wanted = true;
                                continue;
                        }
                        x->wanted = true;
                        if (x->claimed && !json_object_get(referenced, id)) {
                                x->claimed = false; /* recycled: a new namespace for a new workload */
                                changed = true;
                        }
                } else if (x && wid && x->state != W_WANTED && x->state != W_FAILED && x->state != W_REMOVING) {
                        x->wanted = true; /* taken: kept until its workload has it */
                        if (STREQ(owner, "compute:container") && queue_for(w, x, wid, true))
                                log_debug("fast lane: port %.8s queued for workload %.8s", id, wid);
                }
        }
        for (size_t i = 0; i < w->n; i++)
                if (!w->v[i]->wanted && w->v[i]->state != W_BUILDING && w->v[i]->state != W_HANDING &&
                    w->v[i]->state != W_QUEUED && w->v[i]->state != W_REMOVING && w->v[i]->state != W_ARMING)
                        changed = true;
        if (changed)
                pthread_cond_broadcast(&w->cond);
}

bool agent_warm_take(sf_agent *a, const char *wid, const char *port_id, const char *netns, json_t *info)
{
        struct agent_warm *w = a->warm;
        struct warm_ns *x;
        struct timespec deadline;
        struct handout h = { 0 };
        bool ok;

        if (!w)
                return false;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += TAKE_WAIT_MS / 1000;
        agent_lock(a);
        /* One being built, or being handed to this workload by the fast lane, is worth the
         * wait: it is nearly there, and plumbing the port cold meanwhile would race with it.
         * The wait is bounded (far below anything waiting on this job); when it runs out the
         * job fails with the cause and is retried. */
        for (;;) {
                x = find(w, port_id);
                if (!x || !(x->state == W_BUILDING || x->state == W_ARMING ||
                            (x->state == W_HANDING && STREQ(x->owner, wid))))
                        break;
                if (pthread_cond_timedwait(&w->cond, &a->lock, &deadline) == ETIMEDOUT) {
                        agent_unlock(a);
                        json_object_set_new(info, "warm_miss", json_string("still being built"));
                        return false;
                }
        }
        if (x && (x->state == W_HANDED || x->state == W_REFUSED) && STREQ(x->owner, wid)) {
                /* The fast lane did it already. */
                ok = x->state == W_HANDED;
                if (x->info)
                        json_object_update(info, x->info);
                if (ok && x->ready_at)
                        json_object_set_new(info, "ready_at", json_string(x->ready_at));
                drop(w, x);
                pthread_cond_broadcast(&w->cond);
                agent_unlock(a);
                return ok;
        }
        if (!x || (x->state != W_READY && !(x->state == W_QUEUED && STREQ(x->owner, wid)))) {
                if (x)
                        x->claimed = true;
                w->misses++;
                json_object_set_new(info, "warm_miss",
                                    json_string(!x ? "no warm namespace on this node"
                                                   : x->state == W_FAILED ? (x->error ? x->error : "build failed")
                                                                          : "not built yet"));
                agent_unlock(a);
                return false;
        }
        /* Ready, and the fast lane has not got to it: hand it out here, in parallel with the
         * other workers. */
        snprintf(x->owner, sizeof(x->owner), "%s", wid);
        handout_claim(x, &h, netns);
        agent_unlock(a);
        handout_batch(a, &h, 1);
        agent_lock(a);
        w->scans++;
        handout_done(a, &h, 1, false);
        if ((x = find(w, port_id)))
                drop(w, x);
        agent_unlock(a);
        handout_unbind(a, &h, 1);
        ok = !h.why;
        json_object_update(info, h.info);
        json_object_set_new(info, "warm_lane", json_false());
        if (!ok)
                json_object_set_new(info, "warm_miss", json_string("refused: not clean"));
        if (ok)
                json_object_set_new(info, "ready_at", json_string(h.ready_at));
        handout_free(&h, 1);
        return ok;
}

/* Lock held: a hint applied. The same as agent_warm_sync does once the watch brings the
 * workload; a namespace in any other state is left to it (and to agent_warm_take). wake: as
 * queue_for's. */
static struct warm_ns *hint_apply(sf_agent *a, const struct hint *h, bool wake)
{
        struct agent_warm *w = a->warm;
        struct warm_ns *x = a->node_id && STREQ(a->node_id, h->node_id) ? find(w, h->port_id) : NULL;
        if (!x || !queue_for(w, x, h->wid, wake))
                return NULL;
        x->hint_rev = h->rev;
        w->hinted++;
        log_debug("fast lane: port %.8s queued for workload %.8s on the controller's hint", h->port_id, h->wid);
        return x;
}

/* Lock held: the hints that found the lock taken. */
static void hints_drain(sf_agent *a)
{
        struct agent_warm *w = a->warm;
        struct hint *v;
        size_t n;
        if (!__atomic_load_n(&w->n_hints, __ATOMIC_ACQUIRE))
                return;
        pthread_mutex_lock(&w->hint_lock);
        v = TAKE_PTR(w->hints);
        n = w->n_hints;
        __atomic_store_n(&w->n_hints, 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&w->hint_lock);
        for (size_t i = 0; i < n; i++)
                hint_apply(a, &v[i], true);
        free(v);
}

/* Records a hand-out done on the controller's word at a commit: now if the agent's lock is
 * free (or may_wait), else by the fast lane, so that a committing request is answered now. */
static void at_commit_record(sf_agent *a, struct handout *ho, bool may_wait)
{
        struct agent_warm *w = a->warm;
        if (may_wait ? (agent_lock(a), true) : agent_trylock(a)) {
                w->scans++;
                handout_finish(a, ho, 1);
                agent_unlock(a);
                return;
        }
        pthread_mutex_lock(&w->hint_lock);
        w->done = xrealloc(w->done, sizeof(*w->done) * (w->n_done + 1));
        w->done[w->n_done] = *ho;
        __atomic_store_n(&w->n_done, w->n_done + 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&w->hint_lock);
        pthread_cond_broadcast(&w->cond);
}

/* The hint applied, and its namespace handed out here if ready, when the agent's lock is free:
 * false if it is not (the hint is then the caller's to queue). */
static bool hint_now(sf_agent *a, const struct hint *h)
{
        struct agent_warm *w = a->warm;
        struct warm_ns *x;
        struct handout ho;

        if (!agent_trylock(a))
                return false;
        x = !a->stopping ? hint_apply(a, h, false) : NULL;
        /* Ready: handed out here and now, which spares the hand-out a wake-up of the fast
         * lane (a few hundred microseconds in a burst, on two CPUs). */
        if (!x || x->state != W_QUEUED) {
                agent_unlock(a);
                return true;
        }
        handout_claim(x, &ho, NULL);
        x->at_commit = true;
        w->at_commit++;
        agent_unlock(a);
        handout_batch(a, &ho, 1);
        json_object_set_new(ho.info, "warm_at_commit", json_true());
        at_commit_record(a, &ho, false);
        return true;
}

/* ---- prechecks: the clean check while the transaction that takes the port commits ----
 *
 * The controller tells its agent of a pooled port's taking three times (all-in-one daemon):
 * PREPARE inside the transaction, then COMMIT or ABORT. At PREPARE a ready namespace is
 * claimed for the workload (W_HANDING, as at any hand-out) and queued here; a fast-lane
 * thread runs its clean check, on the other CPU, while the request's thread finishes the
 * transaction. Whoever comes second of the check's end and the commit moves it (the bind): so a
 * namespace is never the workload's before its workload is committed, and the check still
 * starts after the claim. At ABORT it goes back to the ready ones (a namespace found not clean
 * is destroyed, as at any hand-out). */
struct precheck {
        struct handout h;
        bool started;                /* a lane thread took it */
        bool checked;                /* ... and its check is done */
        enum sf_agent_take decision; /* SF_AGENT_TAKE_PREPARE: the transaction is still open */
        struct precheck *next;
};

/* hint_lock held: the one of port and wid, if any. */
static struct precheck *precheck_find(struct agent_warm *w, const char *port_id, const char *wid)
{
        for (struct precheck *pc = w->prechecks; pc; pc = pc->next)
                if (STREQ(pc->h.port_id, port_id) && STREQ(pc->h.owner, wid))
                        return pc;
        return NULL;
}

/* hint_lock held. */
static void precheck_unlink(struct agent_warm *w, struct precheck *pc)
{
        for (struct precheck **pp = &w->prechecks; *pp; pp = &(*pp)->next)
                if (*pp == pc) {
                        *pp = pc->next;
                        pc->next = NULL;
                        return;
                }
}

/* The agent's lock held (tried from the request's thread, inside its transaction): claims
 * the port's namespace if ready and queues it for the fast lane; true if it did (the lane is
 * the caller's to wake, once the lock is released: woken now, a lane thread would only wait
 * for the lock). */
static bool precheck_prepare(sf_agent *a, const struct hint *hi)
{
        struct agent_warm *w = a->warm;
        struct warm_ns *x = a->node_id && STREQ(a->node_id, hi->node_id) ? find(w, hi->port_id) : NULL;
        struct precheck *pc, **pp;
        /* Only a ready one: any other state is left to the commit, as without a PREPARE. */
        if (a->stopping || !x || x->state != W_READY || hint_apply(a, hi, false) != x || x->state != W_QUEUED)
                return false;
        pc = new0(struct precheck, 1);
        pc->decision = SF_AGENT_TAKE_PREPARE;
        handout_claim(x, &pc->h, NULL);
        x->at_commit = true;
        w->at_commit++;
        pthread_mutex_lock(&w->hint_lock);
        for (pp = &w->prechecks; *pp; pp = &(*pp)->next)
                ;
        *pp = pc;
        __atomic_store_n(&w->n_unstarted, w->n_unstarted + 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&w->hint_lock);
        return true;
}

/* No lock held: a precheck whose transaction committed, checked (by a lane thread:
 * prechecked), moved and recorded. by_lane: the caller is that thread, not the request's. */
static void precheck_commit(sf_agent *a, struct precheck *pc, bool prechecked, bool by_lane)
{
        handout_move(a, &pc->h, 1);
        json_object_set_new(pc->h.info, "warm_at_commit", json_true());
        json_object_set_new(pc->h.info, "warm_prechecked", json_boolean(prechecked));
        at_commit_record(a, &pc->h, by_lane);
        free(pc);
}

/* No lock held: a precheck whose transaction did not commit: its namespace is a ready one
 * again (with its watch, which saw nothing), or destroyed when found not clean. */
static void precheck_abort(sf_agent *a, struct precheck *pc)
{
        struct agent_warm *w = a->warm;
        struct warm_ns *x;
        if (!pc->h.why && pc->h.port_open) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                /* Whatever reached it while open, its watch saw: checked in full next time. */
                if (port_state(a, pc->h.host_ifindex, false, &e) < 0)
                        pc->h.why = xasprintf("cannot close its port again: %s", sf_err_msg(&e));
        }
        if (pc->h.why) {
                sf_netns_watch_free(TAKE_PTR(pc->h.watch));
                destroy(a, pc->h.port_id);
        }
        agent_lock(a);
        x = find(w, pc->h.port_id);
        if (x && x->state == W_HANDING && STREQ(x->owner, pc->h.owner)) {
                x->at_commit = false;
                x->hint_rev = 0;
                w->at_commit--;
                if (pc->h.why) {
                        /* As a refused hand-out: removed, then built again (agent_warm_sync). */
                        w->dirty++;
                        log_warn("warm namespace of port %s not clean: %s; plumbing a new one", pc->h.port_id,
                                 pc->h.why);
                        x->state = W_REFUSED;
                        x->claimed = true;
                } else {
                        x->state = W_READY;
                        x->owner[0] = 0;
                        x->watch = TAKE_PTR(pc->h.watch);
                }
                pthread_cond_broadcast(&w->cond);
        }
        agent_unlock(a);
        handout_free(&pc->h, 1);
        free(pc);
}

/* A fast-lane thread, no lock held: the oldest precheck not started, if any, checked; moved
 * or given back when its transaction has ended meanwhile. */
static bool precheck_run(sf_agent *a)
{
        struct agent_warm *w = a->warm;
        enum sf_agent_take d;
        struct precheck *pc;
        pthread_mutex_lock(&w->hint_lock);
        for (pc = w->prechecks; pc && pc->started; pc = pc->next)
                ;
        if (pc) {
                pc->started = true;
                __atomic_store_n(&w->n_unstarted, w->n_unstarted - 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&w->hint_lock);
        if (!pc)
                return false;
        agent_raise(a);
        handout_check(a, &pc->h, 1);
        pthread_mutex_lock(&w->hint_lock);
        pc->checked = true;
        d = pc->decision;
        if (d != SF_AGENT_TAKE_PREPARE)
                precheck_unlink(w, pc);
        else
                __atomic_fetch_add(&w->prechecked, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&w->hint_lock);
        if (d == SF_AGENT_TAKE_COMMIT)
                precheck_commit(a, pc, true, true);
        else if (d == SF_AGENT_TAKE_ABORT)
                precheck_abort(a, pc);
        agent_lower(a);
        return true;
}

/* The transaction of a PREPARE ended (d): false if there was no precheck for it. */
static bool precheck_decide(sf_agent *a, const struct hint *hi, enum sf_agent_take d)
{
        struct agent_warm *w = a->warm;
        struct precheck *pc;
        bool prechecked;
        pthread_mutex_lock(&w->hint_lock);
        pc = precheck_find(w, hi->port_id, hi->wid);
        if (pc && pc->started && !pc->checked) {
                pc->decision = d; /* the lane thread checking it finishes it */
                pthread_mutex_unlock(&w->hint_lock);
                return true;
        }
        if (pc) {
                precheck_unlink(w, pc);
                if (!pc->started)
                        __atomic_store_n(&w->n_unstarted, w->n_unstarted - 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&w->hint_lock);
        if (!pc)
                return false;
        if (d == SF_AGENT_TAKE_ABORT) {
                precheck_abort(a, pc);
                return true;
        }
        /* Checked already, or no lane thread got to it: checked here, as without a PREPARE. */
        agent_raise(a);
        prechecked = pc->checked;
        if (!prechecked)
                handout_check(a, &pc->h, 1);
        precheck_commit(a, pc, prechecked, false);
        agent_lower(a);
        return true;
}

void agent_warm_hint(sf_agent *a, enum sf_agent_take phase, const char *node_id, const char *port_id, const char *wid,
                     int64_t revision)
{
        struct agent_warm *w = a->warm;
        struct hint h = { 0 };
        bool done;

        if (!w || strlen(node_id) >= sizeof(h.node_id) || strlen(port_id) >= sizeof(h.port_id) ||
            strlen(wid) >= sizeof(h.wid))
                return;
        snprintf(h.node_id, sizeof(h.node_id), "%s", node_id);
        snprintf(h.port_id, sizeof(h.port_id), "%s", port_id);
        snprintf(h.wid, sizeof(h.wid), "%s", wid);
        h.rev = revision;
        if (phase == SF_AGENT_TAKE_PREPARE) {
                /* Inside the transaction: nothing here may wait. */
                if (agent_trylock(a)) {
                        /* Queued with a->lock held, which a lane thread holds from its look at
                         * n_unstarted to its wait: no wake-up is lost. */
                        bool queued = precheck_prepare(a, &h);
                        agent_unlock(a);
                        if (queued)
                                pthread_cond_broadcast(&w->cond);
                }
                return;
        }
        if (precheck_decide(a, &h, phase) || phase == SF_AGENT_TAKE_ABORT)
                return;
        /* Committed, with no precheck (the lock was taken at PREPARE, or the namespace not
         * ready then). The caller is a request waiting for its answer: the agent's lock, which a reconcile
         * pass can hold for milliseconds in a burst, is not worth waiting for. Taken, the hint
         * waits for the next hand-out thread or sync that holds it; lost, the watch brings the
         * workload a little later, as without hints. The hand-out, like the lock, is short
         * work that a burst's other threads must not keep off the CPU: raised meanwhile. */
        agent_raise(a);
        done = hint_now(a, &h);
        agent_lower(a);
        if (done)
                return;
        pthread_mutex_lock(&w->hint_lock);
        if (w->n_hints < HINTS_MAX) {
                w->hints = xrealloc(w->hints, sizeof(*w->hints) * (w->n_hints + 1));
                w->hints[w->n_hints] = h;
                __atomic_store_n(&w->n_hints, w->n_hints + 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&w->hint_lock);
        pthread_cond_broadcast(&w->cond); /* without the lock: a hand-out thread about to wait misses it */
}

static void warm_metrics(void *u, FILE *f)
{
        sf_agent *a = u;
        struct agent_warm *w = a->warm;
        unsigned ready = 0, building = 0, failed = 0, armed = 0;
        if (!w)
                return;
        agent_lock(a);
        for (size_t i = 0; i < w->n; i++) {
                ready += w->v[i]->state == W_READY || w->v[i]->state == W_ARMING;
                armed += w->v[i]->watch != NULL;
                building += w->v[i]->state == W_BUILDING || (w->v[i]->state == W_WANTED && !w->v[i]->claimed);
                failed += w->v[i]->state == W_FAILED;
        }
        fprintf(f,
                "# HELP sf_warm_namespaces Pre-plumbed namespaces of idle pooled ports on this node.\n"
                "# TYPE sf_warm_namespaces gauge\n"
                "sf_warm_namespaces{state=\"ready\"} %u\nsf_warm_namespaces{state=\"pending\"} %u\n"
                "sf_warm_namespaces{state=\"failed\"} %u\n"
                "# HELP sf_warm_namespaces_watched Ready namespaces armed with a watch (checked without entering them).\n"
                "# TYPE sf_warm_namespaces_watched gauge\nsf_warm_namespaces_watched %u\n"
                "# HELP sf_warm_takes_total Workload starts by what their first port found.\n"
                "# TYPE sf_warm_takes_total counter\n"
                "sf_warm_takes_total{result=\"hit\"} %" PRIu64 "\nsf_warm_takes_total{result=\"miss\"} %" PRIu64 "\n"
                "sf_warm_takes_total{result=\"refused\"} %" PRIu64 "\n"
                "# HELP sf_warm_watched_total Hand-outs whose clean check was their watch's answer.\n"
                "# TYPE sf_warm_watched_total counter\nsf_warm_watched_total %" PRIu64 "\n"
                "# HELP sf_warm_lane_total Hand-outs done before a worker took the job: by the fast lane, or at the "
                "commit (sf_warm_handed_at_commit_total).\n"
                "# TYPE sf_warm_lane_total counter\nsf_warm_lane_total %" PRIu64 "\n"
                "# HELP sf_warm_hinted_total Namespaces queued for the fast lane on the controller's word at the commit "
                "(all-in-one), before the event watch brought their workload.\n"
                "# TYPE sf_warm_hinted_total counter\nsf_warm_hinted_total %" PRIu64 "\n"
                "# HELP sf_warm_handed_at_commit_total Hand-outs done as their workload's transaction committed, on "
                "the controller's word (all-in-one): by the committing request's thread, or by the fast-lane thread "
                "that checked the namespace while the transaction went on, when its check ended after the commit.\n"
                "# TYPE sf_warm_handed_at_commit_total counter\nsf_warm_handed_at_commit_total %" PRIu64 "\n"
                "# HELP sf_warm_prechecked_total Clean checks the fast lane finished before their workload's "
                "transaction committed.\n"
                "# TYPE sf_warm_prechecked_total counter\nsf_warm_prechecked_total %" PRIu64 "\n"
                "# HELP sf_warm_process_scans_total Process snapshots taken for hand-outs (one per batch).\n"
                "# TYPE sf_warm_process_scans_total counter\nsf_warm_process_scans_total %" PRIu64 "\n"
                "# HELP sf_warm_built_total Warm namespaces built.\n# TYPE sf_warm_built_total counter\n"
                "sf_warm_built_total %" PRIu64 "\n"
                "# HELP sf_warm_build_ms_avg Average build time of a warm namespace.\n"
                "# TYPE sf_warm_build_ms_avg gauge\nsf_warm_build_ms_avg %.3f\n"
                "# HELP sf_warm_check_ms_avg Average clean check before a hand-out.\n"
                "# TYPE sf_warm_check_ms_avg gauge\nsf_warm_check_ms_avg %.3f\n"
                "# HELP sf_process_snapshot_info Where process snapshots come from.\n"
                "# TYPE sf_process_snapshot_info gauge\nsf_process_snapshot_info{source=\"%s\"} 1\n",
                ready, building, failed, armed, w->hits, w->misses, w->dirty, w->watched, w->lane, w->hinted, w->at_commit,
                __atomic_load_n(&w->prechecked, __ATOMIC_RELAXED), w->scans,
                w->built,
                w->built ? w->build_ms_sum / (double) w->built : 0.0,
                w->hits ? w->check_ms_sum / (double) w->hits : 0.0,
                STREQ(sf_netns_task_lister_name(), "/proc") ? "proc" : "bpf_task_iter");
        agent_unlock(a);
}

/* The namespaces bound under the agent's netns directory (workloads'), as (dev, ino). */
static struct stat *workload_namespaces(sf_agent *a, size_t *ret_n)
{
        _cleanup_free_ char *dir = agent_netns_path(a, "");
        struct stat *v = NULL;
        struct dirent *de;
        size_t n = 0;
        DIR *d = opendir(dir);
        *ret_n = 0;
        if (!d)
                return NULL;
        while ((de = readdir(d))) {
                struct stat st;
                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                        continue;
                v = xrealloc(v, sizeof(*v) * (n + 1));
                v[n++] = st;
        }
        closedir(d);
        *ret_n = n;
        return v;
}

/* What a previous agent left: ready namespaces are kept (the reconciler drops those whose port
 * is no longer pooled here), half-built ones removed, and one handed out to a workload but
 * still bound here too (the agent stopped between the two halves of the move) only unbound
 * here. One directory read and one link dump. */
static void recover(sf_agent *a)
{
        struct agent_warm *w = a->warm;
        _cleanup_nl_ sf_nl *nl = NULL;
        sf_link_info *links = NULL;
        size_t n_links = 0, n_wl = 0;
        _cleanup_free_ struct stat *wl = workload_namespaces(a, &n_wl);
        unsigned kept = 0, removed = 0;
        uint64_t t0 = sf_now_usec();
        struct stat dst;
        struct dirent *de;
        DIR *d = opendir(w->dir);

        if (!d || stat(w->dir, &dst) < 0) {
                if (d)
                        closedir(d);
                return;
        }
        if (sf_nl_open(&nl, NULL) >= 0)
                for (int tries = 0; sf_link_list(nl, "sfv", &links, &n_links, NULL) == -EAGAIN && tries < 3; tries++)
                        ;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *fpp = NULL, *host_if = NULL;
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *rec = NULL;
                struct stat st;
                bool mounted;
                int host_ifindex = 0;
                size_t len = strlen(de->d_name);
                if (de->d_name[0] == '.')
                        continue;
                if (len > 5 && STREQ(de->d_name + len - 5, ".json")) {
                        _cleanup_free_ char *id = strndup(de->d_name, len - 5);
                        _cleanup_free_ char *p = ns_path(w, id);
                        if (access(p, F_OK) < 0) { /* its namespace is gone */
                                _cleanup_free_ char *f = fp_path(w, id);
                                (void) unlink(f);
                        }
                        continue;
                }
                path = ns_path(w, de->d_name);
                fpp = fp_path(w, de->d_name);
                host_if = agent_host_ifname(de->d_name);
                mounted = stat(path, &st) == 0 && st.st_dev != dst.st_dev;
                for (size_t i = 0; i < n_links; i++)
                        if (STREQ(links[i].name, host_if))
                                host_ifindex = links[i].ifindex;
                if (mounted) {
                        /* With or without its fingerprint: the agent may have stopped right
                         * after the bind (handout_batch), before handout_unbind. */
                        bool handed = false;
                        for (size_t i = 0; i < n_wl && !handed; i++)
                                handed = wl[i].st_dev == st.st_dev && wl[i].st_ino == st.st_ino;
                        if (handed) { /* its veth is the workload's now */
                                (void) unlink(fpp);
                                (void) sf_netns_delete(path, NULL);
                                continue;
                        }
                }
                rec = json_load_file(fpp, 0, NULL);
                if (!mounted || !host_ifindex || !rec || !json_is_array(json_object_get(rec, "fingerprint"))) {
                        destroy(a, de->d_name);
                        removed++;
                        continue;
                }
                /* Closed again: its port may have been opened for a hand-out that the agent
                 * stopped before moving (or built by an agent that left ports open). */
                if (port_state(a, host_ifindex, false, &e) < 0) {
                        log_warn("warm namespace of port %s: cannot close its port (%s); removed it", de->d_name,
                                 sf_err_msg(&e));
                        destroy(a, de->d_name);
                        removed++;
                        continue;
                }
                agent_lock(a);
                {
                        struct warm_ns *x = add(w, de->d_name, W_READY);
                        x->fingerprint = json_incref(json_object_get(rec, "fingerprint"));
                        x->host_ifindex = host_ifindex;
                        x->wanted = true; /* until the first reconcile pass says otherwise */
                }
                agent_unlock(a);
                kept++;
        }
        closedir(d);
        sf_link_info_free_array(links, n_links);
        if (kept || removed)
                log_info("warm namespaces recovered in %.1f ms: %u ready, %u half-built removed",
                         (sf_now_usec() - t0) / 1000.0, kept, removed);
}

/* How many namespaces may be armed: each watch holds SF_NETNS_WATCH_FDS files, all at
 * FD_SETSIZE and above (see nswatch.c). The soft open-file limit is raised to the hard one
 * (up to 65536) first, as a daemon that needs many files does (containers get theirs from
 * their OCI config); three quarters of what lies above FD_SETSIZE go to watches. */
static unsigned max_watches(void)
{
        struct rlimit rl;
        unsigned per = SF_NETNS_WATCH_FDS(ELEMENTSOF(watched_sysctls) - 1), n = 0;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 0;
        if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
                struct rlimit want = { .rlim_cur = MIN(rl.rlim_max, (rlim_t) 65536), .rlim_max = rl.rlim_max };
                if (setrlimit(RLIMIT_NOFILE, &want) == 0)
                        rl = want;
        }
        if (rl.rlim_cur > FD_SETSIZE)
                n = (unsigned) MIN((rlim_t) 1024, (rl.rlim_cur - FD_SETSIZE) / 4 * 3 / per);
        if (n < 64)
                log_info("the open-file limit (%ju) leaves room for %u namespace watches: beyond them, warm "
                         "namespaces are checked from inside when handed out", (uintmax_t) rl.rlim_cur, n);
        return n;
}

int agent_warm_start(sf_agent *a, sf_err *e)
{
        struct agent_warm *w = new0(struct agent_warm, 1);
        pthread_condattr_t ca;
        int r;

        w->dir = xasprintf("%s/warm", a->o.run_dir);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&w->snap_lock, NULL);
        pthread_cond_init(&w->snap_cond, NULL);
        pthread_mutex_init(&w->hint_lock, NULL);
        pthread_mutex_init(&w->port_lock, NULL);
        w->max_armed = max_watches();
        a->warm = w;
        r = sf_mkdir_p(w->dir, 0700, e);
        if (r < 0)
                return r;
        recover(a);
        if (a->api)
                sf_api_add_metrics(a->api, warm_metrics, a);
        for (size_t i = 0; i < LANE_THREADS + 1; i++) {
                r = pthread_create(i < LANE_THREADS ? &w->lane_thread[i] : &w->build_thread, NULL,
                                   i < LANE_THREADS ? lane_loop : build_loop, a);
                if (r) {
                        /* stop the ones started */
                        agent_lock(a);
                        a->stopping = true;
                        pthread_cond_broadcast(&w->cond);
                        agent_unlock(a);
                        for (size_t k = 0; k < i; k++)
                                pthread_join(w->lane_thread[k], NULL);
                        a->stopping = false;
                        return sf_err_errno(e, -r, "start the warm pool");
                }
        }
        w->running = true;
        return 0;
}

void agent_warm_stop(sf_agent *a)
{
        struct agent_warm *w = a->warm;
        if (!w)
                return;
        if (w->running) {
                agent_lock(a);
                pthread_cond_broadcast(&w->cond);
                agent_unlock(a);
                for (size_t i = 0; i < LANE_THREADS; i++)
                        pthread_join(w->lane_thread[i], NULL);
                pthread_join(w->build_thread, NULL);
        }
        /* Hand-outs left by requests' threads (none come after sfd unsets its listener). */
        agent_lock(a);
        done_drain(a);
        agent_unlock(a);
        /* Prechecks whose transaction's end was never told (sfd unset its listener first):
         * their namespaces were not moved. */
        while (w->prechecks) {
                struct precheck *pc = w->prechecks;
                w->prechecks = pc->next;
                handout_free(&pc->h, 1);
                free(pc);
        }
        /* The namespaces stay: a restarted agent recovers them. */
        while (w->n)
                drop(w, w->v[0]);
        free(w->v);
        snapshot_put(w, w->snap);
        pthread_mutex_destroy(&w->snap_lock);
        pthread_cond_destroy(&w->snap_cond);
        pthread_cond_destroy(&w->cond);
        free(w->hints);
        free(w->done);
        pthread_mutex_destroy(&w->hint_lock);
        sf_nl_free(w->port_nl);
        pthread_mutex_destroy(&w->port_lock);
        free(w->dir);
        free(w);
        a->warm = NULL;
}
