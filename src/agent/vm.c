/* VM workloads on the node (kind "vm"): the same workload model, jobs and networks as
 * containers, run by the QEMU compute driver. Each port is a tap device on its network's bridge
 * (next to the containers' veths), handed to QEMU as an fd; day-0 configuration (hostname,
 * network-config v2, SSH keys, user-data) goes into the NoCloud seed. After QEMU runs, a prober
 * pings the guest's first IPv4 address from the node until it answers: that moment is "guest
 * reachable", and request -> reachable is the VM's boot_ms. The agent's API gets the VM-only
 * actions (reboot, pause, resume); adoption after an agent restart goes through QMP. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#include "agent/agent-internal.h"
#include "agent/compute/vm-driver.h"
#include "agent/compute/vm-qemu.h"
#include "agent/compute/vm-seed.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/neigh.h"
#include "net/plumb.h"

SF_LOG_MODULE("vm");

#define MAX_NICS 8
#define RAW_ICMP_FILTER 1 /* ICMP_FILTER of linux/icmp.h, which clashes with netinet/ip_icmp.h */
#define TAP_PREFIX "sft"
#define PROBE_INTERVAL_USEC 10000ULL        /* one echo request per 10 ms per booting VM */
#define PROBE_TIMEOUT_USEC 300000000ULL     /* TCG boots of real cloud images take minutes */
#define CONSOLE_TAIL_BYTES 2048
#define STATUS_FILE "vm-status.json"

struct probe {
        char id[40];
        struct in_addr addr;
        uint16_t ident, seq;
        uint64_t t_job;     /* monotonic: this boot's job began (0: unknown) */
        uint64_t t_ready;   /* monotonic: QEMU answered on QMP (0: unknown) */
        uint64_t t_request; /* realtime: the request this boot answers (0: unknown) */
        uint64_t deadline, next_send;
};

struct agent_vm {
        sf_compute *c;        /* NULL: this node runs no VMs (why_not says why) */
        char *why_not;
        pthread_mutex_t plock; /* the probes; never held while taking a->lock */
        struct probe *probes;
        size_t n_probes;
        uint16_t next_ident;
        pthread_t thread;
        bool thread_started;
        int wakefd, icmp;
};

/* ---- small helpers ---- */

bool agent_spec_is_vm(json_t *spec)
{
        const char *k = json_string_value(json_object_get(spec, "kind"));
        return k && STREQ(k, "vm");
}

sf_compute *agent_compute_for(sf_agent *a, json_t *spec)
{
        if (agent_spec_is_vm(spec) && a->vm && a->vm->c)
                return a->vm->c;
        return a->containers;
}

char *agent_tap_name(const char *port_id)
{
        char hex[13];
        size_t n = 0;
        for (const char *p = port_id; *p && n < 12; p++)
                if (*p != '-')
                        hex[n++] = *p;
        hex[n] = 0;
        return xasprintf(TAP_PREFIX "%s", hex);
}

static double ms(uint64_t usec) { return usec / 1000.0; }

static json_t *timestamp_json(uint64_t realtime_usec)
{
        _cleanup_free_ char *ts = sf_timestamp(realtime_usec);
        return json_string(ts);
}

/* RFC 3339 UTC ("2026-11-25T12:54:00.123456Z") -> realtime usec; 0 when unparseable. */
static uint64_t parse_timestamp(const char *s)
{
        struct tm tm = { 0 };
        unsigned long frac = 0;
        int digits = 0;
        const char *p;
        time_t t;
        if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
                return 0;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        p = strchr(s, '.');
        if (p)
                for (p++; *p >= '0' && *p <= '9'; p++)
                        if (digits < 6) {
                                frac = frac * 10 + (unsigned long) (*p - '0');
                                digits++;
                        }
        while (digits++ < 6)
                frac *= 10;
        t = timegm(&tm);
        return t < 0 ? 0 : (uint64_t) t * 1000000ULL + frac;
}

/* A host name from a workload name: '_' is not allowed in one. */
static char *hostname_from(const char *name, const char *id)
{
        char *h = xstrdup(name ? name : id);
        size_t n;
        for (char *p = h; *p; p++)
                if (*p == '_')
                        *p = '-';
        n = strlen(h);
        while (n > 1 && (h[n - 1] == '-' || h[n - 1] == '.'))
                h[--n] = 0;
        return h;
}

static char *base64(const char *s, size_t n)
{
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *u = (const unsigned char *) s;
        char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) u[i] << 16 | (i + 1 < n ? (uint32_t) u[i + 1] << 8 : 0) |
                             (i + 2 < n ? u[i + 2] : 0);
                *o++ = t[v >> 18 & 63];
                *o++ = t[v >> 12 & 63];
                *o++ = i + 1 < n ? t[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? t[v & 63] : '=';
        }
        *o = 0;
        return out;
}

/* Day-0 files of a VM ({path, content, mode}) as cloud-config write_files (base64, so that
 * any content survives YAML). */
static char *files_cloud_config(json_t *files)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_t *x;
        size_t i;
        if (!f)
                sf_oom();
        fputs("#cloud-config\nwrite_files:\n", f);
        json_array_foreach(files, i, x) {
                const char *c = json_string_value(json_object_get(x, "content")) ?: "";
                json_int_t mode = json_is_integer(json_object_get(x, "mode"))
                                          ? json_integer_value(json_object_get(x, "mode"))
                                          : 0644;
                _cleanup_free_ char *b = base64(c, strlen(c));
                fprintf(f, "  - path: \"%s\"\n    permissions: '0%o'\n    encoding: b64\n    content: %s\n",
                        json_string_value(json_object_get(x, "path")), (unsigned) mode, b);
        }
        fclose(f);
        return buf;
}

/* ---- what a job needs, copied out of the cache under the lock ---- */

struct vm_nic {
        char port[40];
        char *tap;
        char mac[SF_MAC_STRLEN];
        uint8_t macb[6];
        unsigned mtu;
        json_t *network, *subnets, *ips;
        char *addrs[5];         /* "10.0.0.5/24", NULL-terminated */
        sf_addr addr[4];
        size_t n_addrs;
        char *gw4, *gw6;
};

struct vm_plan {
        json_t *spec;
        struct vm_nic nics[MAX_NICS];
        size_t n;
        char **dns;
        uint64_t t_request;
};

static void plan_done(struct vm_plan *p)
{
        if (p->spec)
                json_decref(p->spec);
        for (size_t i = 0; i < p->n; i++) {
                struct vm_nic *n = &p->nics[i];
                free(n->tap);
                json_decref(n->network);
                json_decref(n->subnets);
                json_decref(n->ips);
                for (size_t k = 0; k < n->n_addrs; k++)
                        free(n->addrs[k]);
                free(n->gw4);
                free(n->gw6);
        }
        strv_free(p->dns);
        memset(p, 0, sizeof(*p));
}

/* Lock held. */
static int plan_make(sf_agent *a, struct lw *w, struct vm_plan *p, sf_err *e)
{
        json_t *pid;
        size_t i;

        p->spec = json_deep_copy(w->spec);
        p->t_request = parse_timestamp(json_string_value(
                json_object_get(json_object_get(w->spec, "status"), "requested_at")));
        json_array_foreach(json_object_get(w->spec, "port_ids"), i, pid) {
                json_t *port = agent_cache_get(a, "port", json_string_value(pid)), *net, *fip, *s;
                const char *sid;
                struct vm_nic *n;
                size_t j;
                if (i >= MAX_NICS)
                        return sf_err_set(e, -EINVAL, "ports", "a VM takes at most %d ports", MAX_NICS);
                if (!port)
                        return sf_err_set(e, -EAGAIN, NULL, "port %s is not known yet",
                                          json_string_value(pid));
                net = agent_cache_get(a, "network", json_string_value(json_object_get(port, "network_id")));
                if (!net)
                        return sf_err_set(e, -EAGAIN, NULL, "network of port %s is not known yet",
                                          json_string_value(pid));
                n = &p->nics[p->n++];
                snprintf(n->port, sizeof(n->port), "%s", json_string_value(pid));
                n->tap = agent_tap_name(n->port);
                if (sf_mac_parse(json_string_value(json_object_get(port, "mac_address")), n->macb) < 0)
                        return sf_err_set(e, -EINVAL, NULL, "port %s has no valid MAC", n->port);
                sf_mac_fmt(n->macb, n->mac);
                n->mtu = (unsigned) json_integer_value(json_object_get(net, "mtu"));
                n->network = json_deep_copy(net);
                n->subnets = json_array();
                n->ips = json_array();
                json_object_foreach(agent_cache_kind(a, "subnet"), sid, s)
                        if (json_equal(json_object_get(s, "network_id"), json_object_get(net, "id")))
                                json_array_append_new(n->subnets, json_deep_copy(s));
                json_array_foreach(json_object_get(port, "fixed_ips"), j, fip) {
                        json_t *sub = agent_cache_get(a, "subnet", json_string_value(json_object_get(fip, "subnet_id"))), *d;
                        const char *ip = json_string_value(json_object_get(fip, "ip_address"));
                        const char *gw = json_string_value(json_object_get(sub, "gateway_ip"));
                        sf_prefix cidr;
                        sf_addr addr, g;
                        size_t k;
                        if (!sub || !ip || sf_addr_parse(ip, &addr) < 0 ||
                            sf_prefix_parse(json_string_value(json_object_get(sub, "cidr")), true, &cidr) < 0 ||
                            n->n_addrs == ELEMENTSOF(n->addr))
                                continue;
                        n->addr[n->n_addrs] = addr;
                        n->addrs[n->n_addrs++] = xasprintf("%s/%u", ip, cidr.len);
                        json_array_append_new(n->ips, json_string(ip));
                        /* The default routes and name servers come from the first port. */
                        if (i == 0 && gw && sf_addr_parse(gw, &g) >= 0) {
                                if (g.family == AF_INET && !n->gw4)
                                        n->gw4 = xstrdup(gw);
                                else if (g.family == AF_INET6 && !n->gw6)
                                        n->gw6 = xstrdup(gw);
                        }
                        json_array_foreach(json_object_get(sub, "dns_nameservers"), k, d)
                                if (i == 0 && json_is_string(d) && strv_length(p->dns) < 3)
                                        strv_push(&p->dns, xstrdup(json_string_value(d)));
                }
        }
        if (!p->dns)
                p->dns = new0(char *, 1);
        return 0;
}

/* ---- local record: what was made, for teardown after restarts ---- */

static int local_write(sf_agent *a, struct lw *w, struct vm_plan *p, sf_err *e)
{
        _cleanup_free_ char *dir = agent_container_dir(a, w->id);
        _cleanup_free_ char *path = xasprintf("%s/local.json", dir), *txt = NULL;
        json_auto_t *rec = json_pack("{s:O, s:I, s:[], s:[], s:[]}", "spec", p->spec, "generation",
                                     (json_int_t) w->generation, "host_ifs", "ips", "vm_nics");
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *br = agent_bridge_name(p->nics[i].network);
                json_array_append_new(json_object_get(rec, "host_ifs"), json_string(p->nics[i].tap));
                json_array_extend(json_object_get(rec, "ips"), p->nics[i].ips);
                json_array_append_new(json_object_get(rec, "vm_nics"),
                                      json_pack("{s:s, s:s, s:s, s:O}", "tap", p->nics[i].tap,
                                                "bridge", br, "mac", p->nics[i].mac, "ips",
                                                p->nics[i].ips));
        }
        txt = sf_json_dumps(rec);
        return sf_write_file_volatile(path, txt, strlen(txt), 0600, e);
}

static json_t *local_read(sf_agent *a, const char *id)
{
        _cleanup_free_ char *dir = agent_container_dir(a, id);
        _cleanup_free_ char *path = xasprintf("%s/local.json", dir);
        return json_load_file(path, 0, NULL);
}

/* The VM's status fields, kept next to its state so that an adopting agent reports them. */
static void status_persist(sf_agent *a, const char *id, json_t *extra, json_t *timings)
{
        _cleanup_free_ char *dir = agent_container_dir(a, id);
        _cleanup_free_ char *path = xasprintf("%s/" STATUS_FILE, dir), *txt = NULL;
        json_auto_t *rec = json_pack("{s:O, s:O}", "status", extra ? extra : json_object(),
                                     "timings", timings ? timings : json_object());
        txt = sf_json_dumps(rec);
        if (sf_write_file_volatile(path, txt, strlen(txt), 0600, NULL) < 0)
                log_debug("cannot write '%s', ignoring", path);
}

static json_t *status_load(sf_agent *a, const char *id)
{
        _cleanup_free_ char *dir = agent_container_dir(a, id);
        _cleanup_free_ char *path = xasprintf("%s/" STATUS_FILE, dir);
        return json_load_file(path, 0, NULL);
}

/* Lock held: w->extra_status, created with what every VM reports. */
static json_t *extra_of(sf_agent *a, struct lw *w)
{
        if (!w->extra_status) {
                const char *why = NULL;
                const char *acc = a->vm->c ? sf_vm_accel_get(a->vm->c, &why) : NULL;
                w->extra_status = json_pack("{s:s, s:n, s:s?, s:s?, s:s, s:s, s:n, s:n, s:s}",
                                            "runtime", "qemu", "netns", "accelerator", acc,
                                            "accelerator_reason", why, "vm_state", "stopped",
                                            "guest", "unknown", "boot_ms", "reachable_at",
                                            "console_tail", "");
        }
        return w->extra_status;
}

/* Lock held. */
static void console_tail_update(sf_agent *a, struct lw *w)
{
        _cleanup_free_ char *dir = agent_container_dir(a, w->id), *tail = NULL;
        sf_workload_spec ws = { .id = w->id, .kind = "vm", .state_dir = dir, .cpu_millicores = 1000 };
        if (sf_vm_console_tail(&ws, CONSOLE_TAIL_BYTES, &tail, NULL) >= 0)
                json_object_set_new(extra_of(a, w), "console_tail", json_string(tail));
}

static void persist_of(sf_agent *a, const char *id)
{
        json_auto_t *extra = NULL, *timings = NULL;
        struct lw *w;
        agent_lock(a);
        w = agent_lw_find(a, id);
        if (w) {
                extra = json_deep_copy(extra_of(a, w));
                timings = w->timings ? json_deep_copy(w->timings) : NULL;
        }
        agent_unlock(a);
        if (extra)
                status_persist(a, id, extra, timings);
}

/* ---- boot probes: ICMP echo from the node until the guest answers ---- */

static uint16_t cksum(const void *p, size_t n)
{
        const uint8_t *b = p;
        uint32_t s = 0;
        for (size_t i = 0; i + 1 < n; i += 2)
                s += (uint32_t) b[i] << 8 | b[i + 1];
        if (n & 1)
                s += (uint32_t) b[n - 1] << 8;
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return htons((uint16_t) ~s);
}

static void wake_prober(struct agent_vm *v)
{
        uint64_t one = 1;
        if (v->wakefd >= 0)
                (void) !write(v->wakefd, &one, sizeof(one));
}

static void probe_remove(sf_agent *a, const char *id)
{
        struct agent_vm *v = a->vm;
        pthread_mutex_lock(&v->plock);
        for (size_t i = 0; i < v->n_probes; i++)
                if (STREQ(v->probes[i].id, id)) {
                        v->probes[i] = v->probes[--v->n_probes];
                        break;
                }
        pthread_mutex_unlock(&v->plock);
}

/* Starts (or restarts) the probe of a VM; false when it has no IPv4 address to probe. */
static bool probe_add(sf_agent *a, const char *id, json_t *ips, uint64_t t_job, uint64_t t_ready,
                      uint64_t t_request)
{
        struct agent_vm *v = a->vm;
        struct in_addr addr = { 0 };
        bool found = false;
        json_t *x;
        size_t i;
        json_array_foreach(ips, i, x)
                if (!found && json_is_string(x) && inet_pton(AF_INET, json_string_value(x), &addr) == 1)
                        found = true;
        probe_remove(a, id);
        if (!found || v->icmp < 0)
                return false;
        pthread_mutex_lock(&v->plock);
        v->probes = xrealloc(v->probes, sizeof(*v->probes) * (v->n_probes + 1));
        v->probes[v->n_probes++] = (struct probe) {
                .addr = addr,
                .ident = ++v->next_ident,
                .t_job = t_job,
                .t_ready = t_ready,
                .t_request = t_request,
                .deadline = sf_now_usec() + PROBE_TIMEOUT_USEC,
        };
        snprintf(v->probes[v->n_probes - 1].id, sizeof(v->probes->id), "%s", id);
        pthread_mutex_unlock(&v->plock);
        wake_prober(v);
        return true;
}

/* A probe ended: the guest answered at t (monotonic), or not before its deadline (t = 0). */
static void probe_done(sf_agent *a, const struct probe *p, uint64_t t)
{
        uint64_t now_real = sf_realtime_usec(), now = sf_now_usec();
        char ip[INET_ADDRSTRLEN];
        _cleanup_free_ char *name = NULL;
        double boot = 0;
        json_t *x;
        struct lw *w;

        inet_ntop(AF_INET, &p->addr, ip, sizeof(ip));
        agent_lock(a);
        w = agent_lw_find(a, p->id);
        if (!w || w->state != LW_RUNNING || w->deleting ||
            !json_is_string(json_object_get(extra_of(a, w), "guest")) ||
            STRNEQ(json_string_value(json_object_get(extra_of(a, w), "guest")), "booting")) {
                agent_unlock(a);
                return;
        }
        x = extra_of(a, w);
        if (t) {
                uint64_t reply_real = now_real - (now - t);
                /* boot_ms: from the request when it is known, else from when this boot began. */
                boot = p->t_request && reply_real > p->t_request ? ms(reply_real - p->t_request)
                       : p->t_job                               ? ms(t - p->t_job)
                                                                : 0;
                json_object_set_new(x, "guest", json_string("reachable"));
                json_object_set_new(x, "boot_ms", json_real(boot));
                json_object_set_new(x, "reachable_at", timestamp_json(reply_real));
                {
                        /* A new object: the last report shares the old one. */
                        json_t *tm = w->timings ? json_deep_copy(w->timings) : json_object();
                        if (p->t_ready)
                                json_object_set_new(tm, "guest_ms", json_real(ms(t - p->t_ready)));
                        if (p->t_job)
                                json_object_set_new(tm, "node_ms", json_real(ms(t - p->t_job)));
                        if (w->timings)
                                json_decref(w->timings);
                        w->timings = tm;
                }
                agent_lw_set_message(w, NULL);
        } else {
                json_object_set_new(x, "guest", json_string("unreachable"));
                agent_lw_set_message(w, "the guest did not answer ping at %s within %llu s (see its console)",
                                     ip, (unsigned long long) (PROBE_TIMEOUT_USEC / 1000000));
        }
        console_tail_update(a, w);
        name = xstrdup(w->name ? w->name : w->id);
        agent_wake(a);
        agent_unlock(a);
        if (t)
                log_info("vm '%s' reachable at %s: boot %.0f ms", name, ip, boot);
        else
                log_warn("vm '%s': no answer from %s", name, ip);
        persist_of(a, p->id);
}

static void probe_recv(sf_agent *a)
{
        struct agent_vm *v = a->vm;
        for (;;) {
                uint8_t buf[1500];
                struct sockaddr_in from;
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(v->icmp, buf, sizeof(buf), 0, (struct sockaddr *) &from, &fl);
                uint64_t t = sf_now_usec();
                const struct icmphdr *ic;
                size_t hl;
                struct probe done = { 0 };
                bool hit = false;
                if (n < 0)
                        return;
                hl = (size_t) (buf[0] & 0x0f) * 4;
                if ((size_t) n < hl + sizeof(*ic))
                        continue;
                ic = (const struct icmphdr *) (buf + hl);
                if (ic->type != ICMP_ECHOREPLY)
                        continue;
                pthread_mutex_lock(&v->plock);
                for (size_t i = 0; i < v->n_probes; i++)
                        if (v->probes[i].addr.s_addr == from.sin_addr.s_addr &&
                            v->probes[i].ident == ntohs(ic->un.echo.id)) {
                                done = v->probes[i];
                                v->probes[i] = v->probes[--v->n_probes];
                                hit = true;
                                break;
                        }
                pthread_mutex_unlock(&v->plock);
                if (hit)
                        probe_done(a, &done, t);
        }
}

static void *probe_loop(void *u)
{
        sf_agent *a = u;
        struct agent_vm *v = a->vm;
        while (!a->stopping) {
                uint64_t now = sf_now_usec(), next = now + 1000000;
                struct probe *expired = NULL;
                size_t n_expired = 0;
                struct pollfd pf[2] = { { .fd = v->icmp, .events = POLLIN },
                                        { .fd = v->wakefd, .events = POLLIN } };
                pthread_mutex_lock(&v->plock);
                for (size_t i = 0; i < v->n_probes;) {
                        struct probe *p = &v->probes[i];
                        if (now >= p->deadline) {
                                expired = xrealloc(expired, sizeof(*expired) * (n_expired + 1));
                                expired[n_expired++] = *p;
                                *p = v->probes[--v->n_probes];
                                continue;
                        }
                        if (now >= p->next_send) {
                                struct icmphdr ic = { .type = ICMP_ECHO };
                                struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = p->addr };
                                ic.un.echo.id = htons(p->ident);
                                ic.un.echo.sequence = htons(++p->seq);
                                ic.checksum = cksum(&ic, sizeof(ic));
                                /* Errors (no route yet, no neighbour) are the guest not being
                                 * reachable yet: try again at the next interval. */
                                (void) !sendto(v->icmp, &ic, sizeof(ic), MSG_DONTWAIT,
                                               (struct sockaddr *) &to, sizeof(to));
                                p->next_send = now + PROBE_INTERVAL_USEC;
                        }
                        next = MIN(next, MIN(p->next_send, p->deadline));
                        i++;
                }
                pthread_mutex_unlock(&v->plock);
                for (size_t i = 0; i < n_expired; i++)
                        probe_done(a, &expired[i], 0);
                free(expired);
                now = sf_now_usec();
                if (poll(pf, 2, next > now ? (int) ((next - now + 999) / 1000) : 0) < 0 && errno != EINTR)
                        break;
                if (pf[0].revents & POLLIN)
                        probe_recv(a);
                if (pf[1].revents & POLLIN) {
                        uint64_t x;
                        (void) !read(v->wakefd, &x, sizeof(x));
                }
        }
        return NULL;
}

/* ---- taps ---- */

/* The tap's own (host side) MAC: the port's with the first byte set to 0xfe, as libvirt does.
 * It differs from the guest NIC's (the port's MAC), and the bridge never takes it as its
 * address (the bridge's MAC is set explicitly, the network's gateway MAC). */
static void tap_host_mac(const uint8_t port_mac[6], uint8_t ret[6])
{
        memcpy(ret, port_mac, 6);
        ret[0] = 0xfe;
}

static void taps_close(int *fds, size_t n)
{
        for (size_t i = 0; i < n; i++)
                closep(&fds[i]);
}

/* Port pools: a pooled port may come with a pre-plumbed namespace (warm.c), a veth with the
 * port's MAC on the network's bridge. A VM's port is a tap, so that namespace is taken (the
 * warm pool then never builds it again for this workload) and destroyed: two interfaces with
 * the guest's MAC must never be on one bridge. */
static int warm_discard(sf_agent *a, const char *id, struct vm_plan *p, sf_err *e)
{
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *tmp = xasprintf("%s/netns/%s.warm%zu", a->o.run_dir, id, i);
                _cleanup_free_ char *host_if = agent_host_ifname(p->nics[i].port);
                json_auto_t *info = json_object();
                if (agent_warm_take(a, id, p->nics[i].port, tmp, info)) {
                        /* Asynchronously: the kernel destroys the veth with the namespace in
                         * the background (its name is not the tap's, so nothing waits). */
                        if (sf_unplumb_port(NULL, host_if, tmp, SF_UNPLUMB_ASYNC, e) < 0)
                                return sf_err_prefix(e, "discard the warm namespace of port %s",
                                                     p->nics[i].port);
                } else if (STREQ(json_string_value(json_object_get(info, "warm_miss")) ?: "",
                                 "still being built"))
                        return sf_err_set(e, -EAGAIN, NULL,
                                          "the warm namespace of port %s is still being built",
                                          p->nics[i].port);
        }
        return 0;
}

/* Tap devices on the networks' bridges (one per port, fds in fds[]) and the neighbour entries
 * of the VM's addresses on each bridge, so that the node never waits for ARP. */
static int taps_up(sf_agent *a, struct vm_plan *p, int *fds, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        int r = sf_nl_open(&nl, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n; i++) {
                struct vm_nic *n = &p->nics[i];
                uint8_t hmac[6];
                int br = agent_dp_network_up(a, nl, n->network, n->subnets, e);
                if (br < 0)
                        return br;
                /* A tap left by a crash (taps go with QEMU's fd, so rarely) is made again. */
                sf_link_del(nl, SF_LINK_NAME(n->tap), SF_NL_MISSING_OK, NULL);
                tap_host_mac(n->macb, hmac);
                r = sf_tap_create(nl,
                                  &(sf_tap_cfg) { .name = n->tap, .vnet_hdr = true, .netns_fd = -1,
                                                  .mtu = n->mtu, .mac = hmac, .master = br,
                                                  .up = true },
                                  &fds[i], e);
                if (r < 0)
                        return sf_err_prefix(e, "tap '%s'", n->tap);
                for (size_t k = 0; k < n->n_addrs; k++) {
                        sf_neigh_cfg c = { .ifindex = br, .addr = n->addr[k] };
                        memcpy(c.lladdr, n->macb, 6);
                        r = sf_neigh_replace(nl, &c, e);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Removes the taps (normally gone with QEMU already) and the neighbour entries. */
static void taps_down(json_t *vm_nics)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        json_t *n, *ip;
        size_t i, k;
        if (sf_nl_open(&nl, NULL) < 0)
                return;
        json_array_foreach(vm_nics, i, n) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                const char *tap = json_string_value(json_object_get(n, "tap"));
                const char *bridge = json_string_value(json_object_get(n, "bridge"));
                int br = bridge ? sf_link_ifindex(nl, bridge, NULL) : -1;
                if (tap && sf_link_del(nl, SF_LINK_NAME(tap), SF_NL_MISSING_OK, &e) < 0)
                        log_warn("remove tap '%s': %s, ignoring", tap, sf_err_msg(&e));
                json_array_foreach(json_object_get(n, "ips"), k, ip) {
                        sf_neigh_cfg c = { .ifindex = br };
                        if (br > 0 && sf_addr_parse(json_string_value(ip), &c.addr) >= 0)
                                sf_neigh_del(nl, &c, SF_NL_MISSING_OK, NULL);
                }
        }
}

/* ---- the driver's view of a VM ---- */

struct vspec {
        sf_workload_spec ws;
        char *dir, *hostname, *meta, *netcfg, *user_data, *agent_addr;
        const char *macs[MAX_NICS + 1];
        char **args, **keys;
        json_t *image;
};

static void vspec_done(struct vspec *s)
{
        free(s->dir);
        free(s->hostname);
        free(s->meta);
        free(s->netcfg);
        free(s->user_data);
        free(s->agent_addr);
        strv_free(s->args);
        strv_free(s->keys);
        if (s->image)
                json_decref(s->image);
        memset(s, 0, sizeof(*s));
}

static void vspec_min(sf_agent *a, const char *id, struct vspec *s)
{
        memset(s, 0, sizeof(*s));
        s->dir = agent_container_dir(a, id);
        s->ws.id = id;
        s->ws.kind = "vm";
        s->ws.state_dir = s->dir;
        s->ws.cpu_millicores = 1000;
}

static char **strv_of(json_t *arr)
{
        char **v = new0(char *, 1);
        json_t *x;
        size_t i;
        json_array_foreach(arr, i, x)
                if (json_is_string(x))
                        strv_push(&v, xstrdup(json_string_value(x)));
        return v;
}

/* "http://10.0.0.1:7470" -> "10.0.0.1"; NULL when the host is not an IPv4 address. */
static char *url_ipv4_host(const char *url)
{
        struct in_addr in;
        char host[16];
        size_t n;
        if (!url || strncmp(url, "http://", 7) != 0)
                return NULL;
        url += 7;
        n = strcspn(url, ":/");
        if (n == 0 || n >= sizeof(host))
                return NULL;
        memcpy(host, url, n);
        host[n] = 0;
        if (inet_pton(AF_INET, host, &in) != 1 || in.s_addr == htonl(INADDR_ANY))
                return NULL;
        return xstrdup(host);
}

static int vspec_full(sf_agent *a, const char *id, struct vm_plan *p, const int *fds,
                      struct vspec *s, sf_err *e)
{
        json_t *spec = p->spec, *files = json_object_get(spec, "files");
        const char *policy = json_string_value(json_object_get(spec, "restart_policy")) ?: "never";
        const char *ud = json_string_value(json_object_get(spec, "user_data"));
        const char *disk, *kernel;
        sf_seed_nic nics[MAX_NICS];
        const char *dns[4] = { 0 };
        int64_t cpu = json_integer_value(json_object_get(spec, "cpu"));
        int r;

        vspec_min(a, id, s);
        r = agent_vm_image_get(a, json_string_value(json_object_get(spec, "image")), &s->image, e);
        if (r < 0)
                return r;
        disk = json_string_value(json_object_get(s->image, "disk"));
        kernel = json_string_value(json_object_get(s->image, "kernel"));
        s->hostname = hostname_from(json_string_value(json_object_get(spec, "hostname")) ?:
                                            json_string_value(json_object_get(spec, "name")),
                                    id);
        s->keys = strv_of(json_object_get(spec, "ssh_keys"));
        r = sf_seed_meta_data(id, s->hostname, (const char *const *) s->keys, &s->meta, e);
        if (r < 0)
                return r;
        for (size_t i = 0; p->dns && p->dns[i] && i < 3; i++)
                dns[i] = p->dns[i];
        for (size_t i = 0; i < p->n; i++) {
                struct vm_nic *n = &p->nics[i];
                nics[i] = (sf_seed_nic) {
                        .mac = n->mac,
                        .addresses = (const char *const *) n->addrs,
                        .gateway4 = n->gw4,
                        .gateway6 = n->gw6,
                        .mtu = n->mtu,
                        .dns_servers = i == 0 && dns[0] ? dns : NULL,
                };
                s->macs[i] = n->mac;
        }
        {
                char names[MAX_NICS][24];
                for (size_t i = 0; i < p->n; i++) {
                        snprintf(names[i], sizeof(names[i]), "eth%zu", i);
                        nics[i].name = names[i];
                }
                if (p->n) {
                        r = sf_seed_network_config(nics, p->n, &s->netcfg, e);
                        if (r < 0)
                                return sf_err_prefix(e, "network-config");
                }
        }
        if (ud)
                s->user_data = xstrdup(ud);
        else if (json_array_size(files) > 0)
                s->user_data = files_cloud_config(files);
        s->args = strv_of(json_object_get(spec, "command"));

        s->ws.name = json_string_value(json_object_get(spec, "name"));
        s->ws.rootfs = disk;
        s->ws.kernel = kernel;
        s->ws.initrd = json_string_value(json_object_get(s->image, "initrd"));
        s->ws.cmdline = kernel ? json_string_value(json_object_get(s->image, "cmdline")) : NULL;
        s->ws.args = kernel && s->args[0] ? s->args : NULL;
        if (!kernel && s->args[0])
                return sf_err_set(e, -EINVAL, "command",
                                  "kernel arguments need an image that boots a kernel directly "
                                  "('%s' boots from its disk)",
                                  json_string_value(json_object_get(spec, "image")));
        s->ws.hostname = s->hostname;
        s->ws.cpu_millicores = cpu > 0 ? (uint32_t) cpu : 1000;
        s->ws.memory_bytes = (uint64_t) json_integer_value(json_object_get(spec, "memory"));
        s->ws.tap_fds = fds;
        s->ws.n_tap_fds = p->n;
        s->ws.tap_macs = p->n ? s->macs : NULL;
        s->ws.meta_data = s->meta;
        s->ws.user_data = s->user_data;
        s->ws.network_config = s->netcfg;
        if (json_is_string(json_object_get(spec, "nested_mode"))) {
                /* A nested host (issue #9): its agent reaches our controller through the VM
                 * driver's management channel; our controller reaches its API through a
                 * forward on the address our own API answers on (IPv4 only, else none). */
                s->ws.nested_mode = json_string_value(json_object_get(spec, "nested_mode"));
                s->ws.nested_controller = a->o.controller;
                s->ws.nested_node = s->ws.name;
                s->agent_addr = url_ipv4_host(a->self_url);
                s->ws.nested_agent_addr = s->agent_addr;
        }
        s->ws.restart = STREQ(policy, "always")       ? SF_RESTART_ALWAYS
                        : STREQ(policy, "on-failure") ? SF_RESTART_ON_FAILURE
                                                      : SF_RESTART_NEVER;
        return 0;
}

/* ---- jobs ---- */

static void set_failed(sf_agent *a, const char *id, const sf_err *err, uint64_t retry_in_usec)
{
        struct lw *w;
        agent_lock(a);
        w = agent_lw_find(a, id);
        if (w) {
                w->state = LW_FAILED;
                agent_lw_set_message(w, "%s", sf_err_msg(err));
                w->retry_at = sf_now_usec() + retry_in_usec;
                json_object_set_new(extra_of(a, w), "vm_state", json_string("failed"));
                console_tail_update(a, w);
        }
        agent_unlock(a);
}

static int grace_of(sf_agent *a, const char *id)
{
        json_t *g;
        int ms = 10000;
        struct lw *w;
        agent_lock(a);
        w = agent_lw_find(a, id);
        g = w ? json_object_get(w->spec, "stop_grace_seconds") : NULL;
        if (json_is_integer(g))
                ms = (int) json_integer_value(g) * 1000;
        agent_unlock(a);
        return ms;
}

/* Boots a VM: taps, seed and disk, QEMU; then the probe. create: the first boot (state dir
 * and local record are made, leftovers of an earlier attempt removed). */
static void vm_boot(sf_agent *a, struct job *j, bool create)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id);
        json_auto_t *ips = json_array(), *vm_nics = NULL, *local = NULL;
        int fds[MAX_NICS];
        struct vm_plan p = { 0 };
        struct vspec s = { 0 };
        sf_workload_status st = { 0 };
        uint64_t t0 = sf_now_usec(), t1 = 0, t2 = 0, t3 = 0;
        bool restart = false;
        const char *why = NULL;
        struct lw *w;
        int r;

        for (size_t i = 0; i < MAX_NICS; i++)
                fds[i] = -EBADF;
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        r = w ? plan_make(a, w, &p, &e) : -ENOENT;
        if (w) {
                restart = !create && w->state == LW_EXITED;
                if (create)
                        w->state = LW_NEW;
                agent_lw_set_message(w, create ? "creating" : "starting");
        }
        agent_unlock(a);
        if (r == -ENOENT) {
                plan_done(&p);
                return;
        }
        for (size_t i = 0; i < p.n; i++)
                json_array_extend(ips, p.nics[i].ips);
        if (r < 0)
                goto fail;
        if (!a->vm->c) {
                r = sf_err_set(&e, -EOPNOTSUPP, NULL, "node '%s' cannot run VMs: %s", a->node_name,
                               a->vm->why_not);
                goto fail;
        }
        if (create) {
                r = sf_mkdir_p(dir, 0700, &e);
                agent_lock(a);
                w = agent_lw_find(a, j->id);
                if (r >= 0 && w)
                        r = local_write(a, w, &p, &e);
                agent_unlock(a);
                if (r < 0)
                        goto fail;
        }
        /* Whatever an earlier attempt left running goes (the disk overlay stays). */
        vspec_min(a, j->id, &s);
        if (create && a->vm->c->driver->remove(a->vm->c, &s.ws, &e) < 0)
                goto fail;
        vspec_done(&s);

        if (create) {
                r = warm_discard(a, j->id, &p, &e);
                if (r < 0)
                        goto fail;
        }
        r = taps_up(a, &p, fds, &e);
        if (r < 0)
                goto fail;
        t1 = sf_now_usec();
        r = vspec_full(a, j->id, &p, fds, &s, &e);
        if (r >= 0)
                r = a->vm->c->driver->prepare(a->vm->c, &s.ws, &e);
        if (r < 0) {
                sf_err_prefix(&e, "on node '%s'", a->node_name);
                goto fail;
        }
        t2 = sf_now_usec();
        r = a->vm->c->driver->start(a->vm->c, &s.ws, &st, &e);
        if (r < 0)
                goto fail;
        t3 = sf_now_usec();
        /* QEMU holds the taps now: they live exactly as long as it does. */
        taps_close(fds, MAX_NICS);

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                json_t *x = extra_of(a, w);
                bool probing;
                w->state = LW_RUNNING;
                w->st = st;
                if (restart)
                        w->restarts++;
                free(w->network_ready_at);
                w->network_ready_at = sf_timestamp(sf_realtime_usec() - (sf_now_usec() - t1));
                free(w->started_at);
                w->started_at = sf_timestamp(sf_realtime_usec());
                free(w->finished_at);
                w->finished_at = NULL;
                if (w->ips)
                        json_decref(w->ips);
                w->ips = json_incref(ips);
                if (w->timings)
                        json_decref(w->timings);
                w->timings = json_pack("{s:f, s:f, s:f}", "network_ms", ms(t1 - t0), "disk_ms",
                                       ms(t2 - t1), "qemu_ms", ms(t3 - t2));
                /* What the orchestration costs before the guest can start: request (or this
                 * job) -> QEMU spawned. */
                if (create && p.t_request && st.started_usec > p.t_request)
                        json_object_set_new(w->timings, "request_to_qemu_ms",
                                            json_real(ms(st.started_usec - p.t_request)));
                else if (st.started_usec)
                        json_object_set_new(w->timings, "job_to_qemu_ms",
                                            json_real(ms(st.started_usec - (sf_realtime_usec() - (sf_now_usec() - t0)))));
                sf_vm_accel_get(a->vm->c, &why);
                json_object_set_new(x, "accelerator", json_string(sf_vm_accel_get(a->vm->c, NULL)));
                json_object_set_new(x, "accelerator_reason", json_string(why));
                json_object_set_new(x, "vm_state", json_string("running"));
                json_object_set_new(x, "boot_ms", json_null());
                json_object_set_new(x, "reachable_at", json_null());
                json_object_set_new(x, "console_tail", json_string(""));
                probing = probe_add(a, j->id, ips, t0, t3, create ? p.t_request : 0);
                json_object_set_new(x, "guest", json_string(probing ? "booting" : "unknown"));
                agent_lw_set_message(w, probing ? "booting" : NULL);
                agent_exit_watch_add(a, w);
        }
        agent_unlock(a);
        persist_of(a, j->id);
        log_info("vm '%s' %s (QEMU pid %d, %s) in %.1f ms: network %.1f, disk and seed %.1f, QEMU %.1f",
                 json_string_value(json_object_get(p.spec, "name")),
                 create ? "created" : restart ? "restarted" : "started", (int) st.pid,
                 sf_vm_accel_get(a->vm->c, NULL), ms(sf_now_usec() - t0), ms(t1 - t0),
                 ms(t2 - t1), ms(t3 - t2));
        vspec_done(&s);
        plan_done(&p);
        return;
fail:
        log_warn("vm '%s': %s", p.spec ? json_string_value(json_object_get(p.spec, "name")) : j->id,
                 sf_err_msg(&e));
        taps_close(fds, MAX_NICS);
        local = local_read(a, j->id);
        vm_nics = json_incref(json_object_get(local, "vm_nics") ?: json_array());
        if (a->vm->c) {
                _cleanup_err_ sf_err e2 = SF_ERR_INIT;
                struct vspec m;
                vspec_min(a, j->id, &m);
                if (a->vm->c->driver->remove(a->vm->c, &m.ws, &e2) < 0)
                        log_warn("remove vm %s: %s, ignoring", j->id, sf_err_msg(&e2));
                vspec_done(&m);
        }
        taps_down(vm_nics);
        if (create && r != -EAGAIN)
                sf_rm_rf(dir, NULL);
        /* Not-yet-known dependencies are retried soon; real failures back off. */
        set_failed(a, j->id, &e, r == -EAGAIN ? 500000 : 10000000);
        vspec_done(&s);
        plan_done(&p);
}

static void record_exit(sf_agent *a, const char *id, const sf_workload_status *st,
                        enum lw_state state)
{
        struct lw *w;
        probe_remove(a, id);
        agent_lock(a);
        w = agent_lw_find(a, id);
        if (w) {
                json_t *x = extra_of(a, w);
                uint64_t ran = 0;
                w->st = *st;
                w->state = state;
                free(w->finished_at);
                w->finished_at = sf_timestamp(st->finished_usec ? st->finished_usec : sf_realtime_usec());
                if (st->started_usec && st->finished_usec > st->started_usec)
                        ran = st->finished_usec - st->started_usec;
                w->retry_at = sf_now_usec() +
                              (ran > 10000000 ? 500000 : MIN(500000ULL << MIN(w->restarts, 6u), 30000000ULL));
                json_object_set_new(x, "vm_state", json_string(state == LW_STOPPED ? "stopped" : "exited"));
                if (STREQ(json_string_value(json_object_get(x, "guest")) ?: "", "booting"))
                        json_object_set_new(x, "guest", json_string("unknown"));
                console_tail_update(a, w);
                if (state == LW_EXITED)
                        agent_lw_set_message(w, "QEMU exited with status %d", st->exit_code);
                else {
                        agent_lw_set_message(w, NULL);
                        w->reap_pending = false;
                        if (w->exit_fd >= 0) {
                                close(w->exit_fd);
                                w->exit_fd = -1;
                        }
                }
        }
        agent_unlock(a);
        persist_of(a, id);
}

static void vm_job_stop(sf_agent *a, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status st = { 0 };
        struct vspec s;
        vspec_min(a, j->id, &s);
        if (a->vm->c) {
                if (a->vm->c->driver->stop(a->vm->c, &s.ws, grace_of(a, j->id), &e) < 0)
                        log_warn("stop vm %s: %s", j->id, sf_err_msg(&e));
                sf_err_clear(&e);
                if (a->vm->c->driver->adopt(a->vm->c, &s.ws, &st, &e) < 0)
                        st.state = SF_WORKLOAD_EXITED;
        }
        record_exit(a, j->id, &st, LW_STOPPED);
        vspec_done(&s);
}

static void vm_job_reap(sf_agent *a, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status st = { 0 };
        struct vspec s;
        vspec_min(a, j->id, &s);
        if (!a->vm->c || a->vm->c->driver->reap(a->vm->c, &s.ws, &st, &e) < 0) {
                log_warn("exit status of vm %s: %s", j->id, sf_err_msg(&e));
                st.state = SF_WORKLOAD_EXITED;
        }
        record_exit(a, j->id, &st, LW_EXITED);
        log_info("vm %s: QEMU exited (status %d)", j->id, st.exit_code);
        vspec_done(&s);
}

static void vm_job_delete(sf_agent *a, sf_httpc *http, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id);
        json_auto_t *local = local_read(a, j->id);
        bool finalize;
        struct vspec s;
        struct lw *w;

        probe_remove(a, j->id);
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w && w->exit_fd >= 0) {
                close(w->exit_fd); /* epoll forgets a closed fd */
                w->exit_fd = -1;
        }
        finalize = agent_cache_get(a, "container", j->id) &&
                   json_is_true(json_object_get(agent_cache_get(a, "container", j->id), "deleting"));
        agent_unlock(a);

        vspec_min(a, j->id, &s);
        if (a->vm->c) {
                if (a->vm->c->driver->stop(a->vm->c, &s.ws, grace_of(a, j->id), &e) < 0)
                        log_warn("stop vm %s: %s, ignoring", j->id, sf_err_msg(&e));
                sf_err_clear(&e);
                if (a->vm->c->driver->remove(a->vm->c, &s.ws, &e) < 0)
                        log_warn("remove vm %s: %s, ignoring", j->id, sf_err_msg(&e));
        }
        vspec_done(&s);
        taps_down(json_object_get(local, "vm_nics"));
        sf_err_clear(&e);
        if (sf_rm_rf(dir, &e) < 0)
                log_warn("remove %s: %s, ignoring", dir, sf_err_msg(&e));
        if (finalize) {
                _cleanup_free_ char *path = xasprintf("/v1/containers/%s/finalize", j->id);
                sf_err_clear(&e);
                if (sf_httpc_call(http, "POST", path, NULL, NULL, &e) < 0 && e.code != -ENOENT)
                        log_warn("confirm deletion of vm %s: %s (will retry)", j->id, sf_err_msg(&e));
                else
                        finalize = false;
        }
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                w->state = LW_GONE;
                w->finalized = !finalize;
        }
        agent_unlock(a);
        log_info("vm %s removed", j->id);
}

bool agent_vm_job_run(sf_agent *a, sf_httpc *http, struct job *j)
{
        struct lw *w;
        bool vm;
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        vm = w && agent_spec_is_vm(w->spec);
        agent_unlock(a);
        if (!vm)
                return false;
        switch (j->type) {
        case JOB_CREATE:
                vm_boot(a, j, true);
                break;
        case JOB_START:
                vm_boot(a, j, false);
                break;
        case JOB_STOP:
                vm_job_stop(a, j);
                break;
        case JOB_REAP:
                vm_job_reap(a, j);
                break;
        case JOB_DELETE:
                vm_job_delete(a, http, j);
                break;
        default:
                /* handover jobs: the controller refuses handover moves of VMs */
                break;
        }
        return true;
}

/* ---- adoption after an agent restart ---- */

int agent_vm_adopt(sf_agent *a, const char *id, json_t *local)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *saved = status_load(a, id);
        sf_workload_status st = { 0 };
        struct vspec s;
        struct lw *w;

        vspec_min(a, id, &s);
        if (!a->vm->c)
                log_warn("vm %s: cannot adopt it, this node runs no VMs now (%s)", id, a->vm->why_not);
        else if (a->vm->c->driver->adopt(a->vm->c, &s.ws, &st, &e) < 0) {
                log_warn("adopt vm %s: %s", id, sf_err_msg(&e));
                st.state = SF_WORKLOAD_UNKNOWN;
        }
        vspec_done(&s);
        agent_lock(a);
        w = agent_lw_add(a, id);
        w->spec = json_incref(json_object_get(local, "spec"));
        w->name = xstrdup(json_string_value(json_object_get(w->spec, "name")));
        w->generation = json_integer_value(json_object_get(local, "generation"));
        w->ips = json_incref(json_object_get(local, "ips") ?: json_array());
        w->st = st;
        if (json_is_object(json_object_get(saved, "status")))
                w->extra_status = json_deep_copy(json_object_get(saved, "status"));
        if (json_is_object(json_object_get(saved, "timings")) &&
            json_object_size(json_object_get(saved, "timings")))
                w->timings = json_deep_copy(json_object_get(saved, "timings"));
        switch (st.state) {
        case SF_WORKLOAD_RUNNING: {
                json_t *x = extra_of(a, w);
                w->state = LW_RUNNING;
                w->started_at = st.started_usec ? sf_timestamp(st.started_usec) : NULL;
                agent_exit_watch_add(a, w);
                if (STREQ(json_string_value(json_object_get(x, "guest")) ?: "", "booting") &&
                    !probe_add(a, id, w->ips, 0, 0, st.started_usec))
                        json_object_set_new(x, "guest", json_string("unknown"));
                if (STREQ(json_string_value(json_object_get(x, "vm_state")) ?: "", "paused"))
                        agent_lw_set_message(w, "paused");
                else if (STREQ(json_string_value(json_object_get(x, "guest")) ?: "", "booting"))
                        agent_lw_set_message(w, "booting");
                break;
        }
        case SF_WORKLOAD_EXITED:
                w->state = LW_EXITED;
                w->finished_at = st.finished_usec ? sf_timestamp(st.finished_usec) : NULL;
                json_object_set_new(extra_of(a, w), "vm_state", json_string("exited"));
                break;
        default:
                w->state = LW_NEW; /* the reconciler creates it again */
                break;
        }
        agent_unlock(a);
        log_info("adopted vm '%s' (%s%s%d)", w->name ? w->name : id, sf_workload_state_str(st.state),
                 st.pid ? ", QEMU pid " : "", (int) st.pid);
        return 0;
}

/* ---- agent API: reboot, pause, resume; exec is refused ---- */

static void route_vm_exec(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_http_resp_errorf(resp, -EOPNOTSUPP, NULL,
                            "exec in a VM is not supported (there is no guest agent): use "
                            "'sfctl console', or SSH with the VM's ssh_keys");
}

static void route_vm_action(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        const char *id = req->segs[3], *action = req->segs[4];
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *name = NULL;
        json_auto_t *ips = NULL;
        struct vspec s;
        struct lw *w;
        int r;

        agent_lock(a);
        w = agent_lw_find(a, id);
        if (!w || w->state == LW_GONE || w->deleting)
                r = sf_err_set(&e, -ENOENT, NULL, "no VM %s on this node", id);
        else if (!agent_spec_is_vm(w->spec))
                r = sf_err_set(&e, -EINVAL, NULL, "%s: only VMs can be %s", w->name ? w->name : id,
                               STREQ(action, "reboot") ? "rebooted" : STREQ(action, "pause") ? "paused" : "resumed");
        else if (w->busy)
                r = sf_err_set(&e, -EBUSY, NULL, "vm '%s' is busy (being created, started or stopped): try again",
                               w->name ? w->name : id);
        else if (w->state != LW_RUNNING)
                r = sf_err_set(&e, -EBUSY, NULL, "vm '%s' is not running", w->name ? w->name : id);
        else if (!a->vm->c)
                r = sf_err_set(&e, -EOPNOTSUPP, NULL, "this node runs no VMs: %s", a->vm->why_not);
        else {
                r = 0;
                w->busy = true; /* no job for it while QMP is in use (one QMP client at a time) */
                name = xstrdup(w->name ? w->name : id);
                ips = json_incref(w->ips);
        }
        agent_unlock(a);
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        vspec_min(a, id, &s);
        if (STREQ(action, "reboot"))
                r = sf_vm_reboot(a->vm->c, &s.ws, &e);
        else if (STREQ(action, "pause"))
                r = sf_vm_pause(a->vm->c, &s.ws, &e);
        else
                r = sf_vm_resume(a->vm->c, &s.ws, &e);
        vspec_done(&s);
        agent_lock(a);
        w = agent_lw_find(a, id);
        if (w) {
                json_t *x = extra_of(a, w);
                if (r >= 0 && STREQ(action, "pause")) {
                        json_object_set_new(x, "vm_state", json_string("paused"));
                        agent_lw_set_message(w, "paused");
                } else if (r >= 0 && STREQ(action, "resume")) {
                        json_object_set_new(x, "vm_state", json_string("running"));
                        agent_lw_set_message(w, STREQ(json_string_value(json_object_get(x, "guest")) ?: "", "booting")
                                                        ? "booting" : NULL);
                } else if (r >= 0) {
                        /* A reboot is a new boot: measured from this request. */
                        bool probing = probe_add(a, id, ips, sf_now_usec(), sf_now_usec(), sf_realtime_usec());
                        json_object_set_new(x, "vm_state", json_string("running"));
                        json_object_set_new(x, "guest", json_string(probing ? "booting" : "unknown"));
                        json_object_set_new(x, "boot_ms", json_null());
                        json_object_set_new(x, "reachable_at", json_null());
                        agent_lw_set_message(w, probing ? "booting" : NULL);
                }
                w->busy = false;
                if (w->reap_pending && !w->deleting) {
                        w->reap_pending = false;
                        agent_job_push(a, JOB_REAP, w->id);
                }
                agent_wake(a);
        }
        agent_unlock(a);
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        persist_of(a, id);
        log_info("vm '%s': %s", name, action);
        sf_http_resp_json(resp, 200, json_pack("{s:s, s:s}", "name", name, "action", action));
}

void agent_vm_routes_register(sf_agent *a)
{
        sf_api_add_route(a->api, "POST", "/agent/v1/vms/*/reboot", route_vm_action, a);
        sf_api_add_route(a->api, "POST", "/agent/v1/vms/*/pause", route_vm_action, a);
        sf_api_add_route(a->api, "POST", "/agent/v1/vms/*/resume", route_vm_action, a);
        sf_api_add_route(a->api, "POST", "/agent/v1/vms/*/exec", route_vm_exec, a);
}

/* ---- node status ---- */

void agent_vm_node_info(sf_agent *a, json_t *info)
{
        const char *why = NULL;
        if (a->vm_image_names)
                json_object_set(info, "vm_images", a->vm_image_names);
        else
                json_object_set_new(info, "vm_images", json_array());
        if (a->vm && a->vm->c) {
                json_object_set_new(info, "vm_accelerator", json_string(sf_vm_accel_get(a->vm->c, &why)));
                json_object_set_new(info, "vm_accelerator_reason", json_string(why));
        } else
                json_object_set_new(info, "vm_unsupported",
                                    json_string(a->vm && a->vm->why_not ? a->vm->why_not : "not initialised"));
}

/* ---- set-up and tear-down ---- */

int agent_vm_init(sf_agent *a, sf_err *e)
{
        _cleanup_err_ sf_err oe = SF_ERR_INIT;
        _cleanup_free_ char *root = xasprintf("%s/vm", a->o.run_dir);
        struct agent_vm *v = new0(struct agent_vm, 1);
        int r;

        v->wakefd = v->icmp = -1;
        pthread_mutex_init(&v->plock, NULL);
        a->vm = v;
        r = agent_vm_image_store_init(a, e);
        if (r < 0)
                return sf_err_prefix(e, "VM image store");
        r = sf_compute_open("vm", &(sf_compute_options) { .vm_root = root }, &v->c, &oe);
        if (r < 0) {
                /* A node without QEMU still runs containers: it just does not offer VMs. */
                v->why_not = xstrdup(sf_err_msg(&oe));
                log_warn("no VMs on this node: %s", v->why_not);
        } else {
                const char *why = NULL;
                const char *acc = sf_vm_accel_get(v->c, &why);
                log_info("VM driver: accelerator %s (%s)", acc, why);
        }
        /* The "qemu" feature means: this agent runs VMs. */
        if (json_is_array(a->features)) {
                for (size_t i = json_array_size(a->features); i-- > 0;)
                        if (STREQ(json_string_value(json_array_get(a->features, i)) ?: "", "qemu"))
                                json_array_remove(a->features, i);
                if (v->c)
                        json_array_append_new(a->features, json_string("qemu"));
        }
        v->icmp = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
        if (v->icmp < 0)
                log_warn("no ICMP socket (%s): VM boot times will not be measured, ignoring",
                         strerror(errno));
        else {
                /* Only echo replies reach the prober, not every ICMP message of the node. */
                uint32_t f = ~(1u << ICMP_ECHOREPLY); /* struct icmp_filter, linux/icmp.h */
                if (setsockopt(v->icmp, SOL_RAW, RAW_ICMP_FILTER, &f, sizeof(f)) < 0)
                        log_debug("ICMP_FILTER: %s, ignoring", strerror(errno));
        }
        v->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->wakefd < 0)
                return sf_err_errno(e, -errno, "eventfd");
        if (v->c && v->icmp >= 0) {
                r = pthread_create(&v->thread, NULL, probe_loop, a);
                if (r)
                        return sf_err_errno(e, -r, "start the VM boot prober");
                v->thread_started = true;
        }
        return 0;
}

void agent_vm_stop(sf_agent *a)
{
        struct agent_vm *v = a->vm;
        if (!v)
                return;
        wake_prober(v);
        if (v->thread_started)
                pthread_join(v->thread, NULL);
        if (v->icmp >= 0)
                close(v->icmp);
        if (v->wakefd >= 0)
                close(v->wakefd);
        sf_compute_close(v->c);
        pthread_mutex_destroy(&v->plock);
        free(v->probes);
        free(v->why_not);
        free(v);
        a->vm = NULL;
}
