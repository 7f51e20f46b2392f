/* Workload jobs, run by the agent's workers: create (prepare the root filesystem, write day-0
 * files, start through the compute driver, plumbing the ports' network namespace while the
 * runtime works), start, stop, reap an exit, delete (the reverse, then confirm to the
 * controller), and adoption of what already runs after an agent restart. Every step that fails undoes what the job did. */
#include <dirent.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "agent/agent-internal.h"
#include "agent/compute/shim-proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/neigh.h"
#include "net/netns.h"
#include "net/plumb.h"

SF_LOG_MODULE("workload");

#define MAX_PORTS 8
/* The workload's grace period between SIGTERM and SIGKILL (stop_grace_seconds, 10 s by
 * default, as Docker's). Lock held or spec private. */
static int grace_ms(json_t *spec)
{
        json_t *g = json_object_get(spec, "stop_grace_seconds");
        return json_is_integer(g) ? (int) json_integer_value(g) * 1000 : 10000;
}

static int grace_of(sf_agent *a, const char *id)
{
        int ms;
        struct lw *w;
        agent_lock(a);
        w = agent_lw_find(a, id);
        ms = grace_ms(w ? w->spec : NULL);
        agent_unlock(a);
        return ms;
}

char *agent_container_dir(sf_agent *a, const char *id)
{
        return xasprintf("%s/containers/%s", a->o.run_dir, id);
}

char *agent_netns_path(sf_agent *a, const char *id)
{
        return xasprintf("%s/netns/%s", a->o.run_dir, id);
}

static double ms_since(uint64_t t0) { return (sf_now_usec() - t0) / 1000.0; }

/* ---- what a job needs, copied out of the cache under the lock ---- */

struct plan {
        json_t *spec;
        struct agent_port_plan ports[MAX_PORTS];
        size_t n_ports;
        char **dns;
        char **hosts;
};

void agent_port_plan_done(struct agent_port_plan *pp)
{
        free(pp->host_if);
        if (pp->network)
                json_decref(pp->network);
        if (pp->subnets)
                json_decref(pp->subnets);
        if (pp->ips)
                json_decref(pp->ips);
        memset(pp, 0, sizeof(*pp));
}

static void plan_done(struct plan *p)
{
        if (p->spec)
                json_decref(p->spec);
        for (size_t i = 0; i < p->n_ports; i++)
                agent_port_plan_done(&p->ports[i]);
        strv_free(p->dns);
        strv_free(p->hosts);
        memset(p, 0, sizeof(*p));
}

/* Lock held. */
int agent_port_plan_make(sf_agent *a, const char *port_id, size_t i, struct agent_port_plan *pp,
                         const char *hostname, char ***hosts, char ***dns, sf_err *e)
{
        json_t *port = agent_cache_get(a, "port", port_id), *net, *fip;
        size_t j;

        memset(pp, 0, sizeof(*pp));
        if (!port)
                return sf_err_set(e, -EAGAIN, NULL, "port %s is not known yet", port_id);
        net = agent_cache_get(a, "network", json_string_value(json_object_get(port, "network_id")));
        if (!net)
                return sf_err_set(e, -EAGAIN, NULL, "network of port %s is not known yet", port_id);
        snprintf(pp->id, sizeof(pp->id), "%s", port_id);
        pp->host_if = agent_host_ifname(pp->id);
        snprintf(pp->peer, sizeof(pp->peer), "eth%zu", i);
        sf_mac_parse(json_string_value(json_object_get(port, "mac_address")), pp->mac);
        pp->mtu = (unsigned) json_integer_value(json_object_get(net, "mtu"));
        pp->network = json_deep_copy(net);
        pp->subnets = json_array();
        pp->ips = json_array();
        {
                const char *sid;
                json_t *s;
                json_object_foreach(agent_cache_kind(a, "subnet"), sid, s)
                        if (json_equal(json_object_get(s, "network_id"), json_object_get(net, "id")))
                                json_array_append_new(pp->subnets, json_deep_copy(s));
        }
        json_array_foreach(json_object_get(port, "fixed_ips"), j, fip) {
                json_t *s = agent_cache_get(a, "subnet", json_string_value(json_object_get(fip, "subnet_id")));
                const char *ip = json_string_value(json_object_get(fip, "ip_address"));
                sf_prefix cidr;
                sf_addr addr, gw;
                json_t *hr;
                size_t k;
                if (!s || !ip || sf_addr_parse(ip, &addr) < 0 ||
                    sf_prefix_parse(json_string_value(json_object_get(s, "cidr")), true, &cidr) < 0 ||
                    pp->n_addrs == ELEMENTSOF(pp->addrs))
                        continue;
                pp->addrs[pp->n_addrs++] = (sf_prefix) { .addr = addr, .len = cidr.len };
                json_array_append_new(pp->ips, json_string(ip));
                if (hosts && hostname && j == 0) {
                        _cleanup_free_ char *h = xasprintf("%s %s", ip, hostname);
                        strv_push(hosts, TAKE_PTR(h));
                }
                /* The default route goes through the first port only. */
                if (i == 0 && pp->n_gws < ELEMENTSOF(pp->gws) &&
                    sf_addr_parse(json_string_value(json_object_get(s, "gateway_ip")), &gw) >= 0) {
                        bool dup = false;
                        for (size_t g = 0; g < pp->n_gws; g++)
                                dup |= pp->gws[g].family == gw.family;
                        if (!dup)
                                pp->gws[pp->n_gws++] = gw;
                }
                json_array_foreach(json_object_get(s, "dns_nameservers"), k, hr)
                        if (dns && i == 0 && json_is_string(hr) && strv_length(*dns) < 3)
                                strv_push(dns, xstrdup(json_string_value(hr)));
                json_array_foreach(json_object_get(s, "host_routes"), k, hr) {
                        sf_route_cfg *rc;
                        if (pp->n_routes == ELEMENTSOF(pp->routes))
                                break;
                        rc = &pp->routes[pp->n_routes];
                        memset(rc, 0, sizeof(*rc));
                        if (sf_prefix_parse(json_string_value(json_object_get(hr, "destination")), true, &rc->dst) < 0 ||
                            sf_addr_parse(json_string_value(json_object_get(hr, "nexthop")), &rc->gateway) < 0)
                                continue;
                        pp->n_routes++;
                }
        }
        return 0;
}

/* Lock held. */
static int plan_make(sf_agent *a, struct lw *w, struct plan *p, sf_err *e)
{
        json_t *pid;
        size_t i;
        const char *hostname = json_string_value(json_object_get(w->spec, "hostname"));

        p->spec = json_deep_copy(w->spec);
        json_array_foreach(json_object_get(w->spec, "port_ids"), i, pid) {
                int r;
                if (i >= MAX_PORTS)
                        return sf_err_set(e, -EINVAL, "ports", "at most %d ports", MAX_PORTS);
                r = agent_port_plan_make(a, json_string_value(pid), i, &p->ports[p->n_ports], hostname,
                                         &p->hosts, &p->dns, e);
                if (r < 0)
                        return r;
                /* In a VM (the controller's nested.c): the port's VLAN id on the guest's NIC. */
                p->ports[p->n_ports].vlan_id = (uint16_t) json_integer_value(
                        json_object_get(json_object_get(json_object_get(w->spec, "nested"), "vlans"),
                                        json_string_value(pid)));
                p->n_ports++;
        }
        return 0;
}

/* ---- local record: what was made, for teardown after restarts ---- */

static int local_write(sf_agent *a, struct lw *w, struct plan *p, sf_err *e)
{
        _cleanup_free_ char *dir = agent_container_dir(a, w->id);
        _cleanup_free_ char *path = xasprintf("%s/local.json", dir);
        _cleanup_free_ char *txt = NULL;
        json_auto_t *rec = json_pack("{s:O, s:I, s:[]}", "spec", p->spec, "generation",
                                     (json_int_t) w->generation, "host_ifs");
        for (size_t i = 0; i < p->n_ports; i++)
                json_array_append_new(json_object_get(rec, "host_ifs"), json_string(p->ports[i].host_if));
        json_object_set_new(rec, "ips", json_array());
        for (size_t i = 0; i < p->n_ports; i++)
                json_array_extend(json_object_get(rec, "ips"), p->ports[i].ips);
        txt = sf_json_dumps(rec);
        return sf_write_file_volatile(path, txt, strlen(txt), 0600, e);
}

static json_t *local_read(sf_agent *a, const char *id)
{
        _cleanup_free_ char *dir = agent_container_dir(a, id);
        _cleanup_free_ char *path = xasprintf("%s/local.json", dir);
        return json_load_file(path, 0, NULL);
}

/* ---- the driver's view of a workload ---- */

struct wspec {
        sf_workload_spec ws;
        char *dir, *netns, *rootfs, *hostname, *cwd;
        char **args, **env;
};

static void wspec_done(struct wspec *s)
{
        free(s->dir);
        free(s->netns);
        free(s->rootfs);
        free(s->hostname);
        free(s->cwd);
        strv_free(s->args);
        strv_free(s->env);
        memset(s, 0, sizeof(*s));
}

/* The minimal spec for stop/remove/adopt/exec: id and state dir. */
static void wspec_min(sf_agent *a, const char *id, struct wspec *s)
{
        memset(s, 0, sizeof(*s));
        s->dir = agent_container_dir(a, id);
        s->ws.id = id;
        s->ws.kind = "container";
        s->ws.state_dir = s->dir;
        s->ws.cpu_millicores = 100;
}

static char **strv_from_json(json_t *arr)
{
        char **v = NULL;
        json_t *x;
        size_t i;
        strv_push(&v, NULL);
        free(v);
        v = new0(char *, 1);
        json_array_foreach(arr, i, x)
                if (json_is_string(x))
                        strv_push(&v, xstrdup(json_string_value(x)));
        return v;
}

static int wspec_full(sf_agent *a, struct lw *w, struct plan *p, const char *rootfs,
                      sf_image_info *img, struct wspec *s, sf_err *e)
{
        json_t *spec = p->spec, *env = json_object_get(spec, "env"), *v;
        const char *k, *wd = json_string_value(json_object_get(spec, "workdir"));
        const char *policy = json_string_value(json_object_get(spec, "restart_policy")) ?: "never";

        wspec_min(a, w->id, s);
        s->netns = agent_netns_path(a, w->id);
        s->rootfs = xstrdup(rootfs);
        s->hostname = xstrdup(json_string_value(json_object_get(spec, "hostname")) ?: w->id);
        /* Docker semantics: the command replaces the image's Entrypoint + Cmd. */
        if (json_array_size(json_object_get(spec, "command")) > 0)
                s->args = strv_from_json(json_object_get(spec, "command"));
        else {
                s->args = new0(char *, 1);
                for (char **x = img->entrypoint; x && *x; x++)
                        strv_push(&s->args, xstrdup(*x));
                for (char **x = img->cmd; x && *x; x++)
                        strv_push(&s->args, xstrdup(*x));
        }
        if (strv_length(s->args) == 0)
                return sf_err_set(e, -EINVAL, "command",
                                  "no command given and image '%s' has no default command",
                                  img->name);
        s->env = new0(char *, 1);
        for (char **x = img->env; x && *x; x++)
                strv_push(&s->env, xstrdup(*x));
        strv_push(&s->env, xasprintf("HOSTNAME=%s", s->hostname));
        json_object_foreach(env, k, v)
                strv_push(&s->env, xasprintf("%s=%s", k, json_string_value(v)));
        s->cwd = xstrdup(wd ? wd : img->working_dir && *img->working_dir ? img->working_dir : "/");

        s->ws.name = json_string_value(json_object_get(spec, "name"));
        s->ws.rootfs = s->rootfs;
        s->ws.args = s->args;
        s->ws.env = s->env;
        s->ws.cwd = s->cwd;
        s->ws.hostname = s->hostname;
        s->ws.cpu_millicores = (uint32_t) json_integer_value(json_object_get(spec, "cpu"));
        s->ws.memory_bytes = (uint64_t) json_integer_value(json_object_get(spec, "memory"));
        s->ws.netns_path = s->netns;
        s->ws.dns_servers = p->dns;
        s->ws.hosts = p->hosts;
        s->ws.restart = STREQ(policy, "always")       ? SF_RESTART_ALWAYS
                        : STREQ(policy, "on-failure") ? SF_RESTART_ON_FAILURE
                                                      : SF_RESTART_NEVER;
        return 0;
}

/* ---- pieces ---- */

/* Neighbour entries both ways, from what the controller already knows, so that neither the
 * node (the gateway) nor the workload waits for ARP: the node learns the port's MAC for each
 * of its addresses, the workload learns the gateway's MAC (the same on every node). */
static int neigh_prepopulate(sf_nl *nl, int bridge, const sf_plumb_result *res, const char *netns,
                             struct agent_port_plan *pp, sf_err *e)
{
        _cleanup_nl_ sf_nl *inner = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t gwmac[6];
        int r;
        for (size_t k = 0; bridge > 0 && k < pp->n_addrs; k++) {
                sf_neigh_cfg c = { .ifindex = bridge, .addr = pp->addrs[k].addr };
                memcpy(c.lladdr, pp->mac, 6);
                r = sf_neigh_replace(nl, &c, e);
                if (r < 0)
                        return r;
        }
        if (pp->n_gws == 0)
                return 0;
        fd = sf_netns_open(netns, e);
        if (fd < 0)
                return fd;
        r = sf_nl_open_in_netns(fd, &inner, e);
        if (r < 0)
                return r;
        agent_gateway_mac(pp->network, gwmac);
        for (size_t k = 0; k < pp->n_gws; k++) {
                sf_neigh_cfg c = { .ifindex = res->peer_ifindex, .addr = pp->gws[k] };
                memcpy(c.lladdr, gwmac, 6);
                r = sf_neigh_replace(inner, &c, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A port on a bare-metal node: a veth whose host end is on the network's bridge. On a
 * nested node (the agent in a VM's guest): a VLAN device with the subport's VLAN id, or a
 * macvlan, on the guest's NIC, made inside the namespace; no bridge, no host end. Either
 * way with the port's MAC, addresses, MTU and routes, and neighbour entries. */
int agent_port_plumb(sf_agent *a, sf_nl *nl, struct agent_port_plan *pp, const char *netns,
                     sf_plumb_result *ret, sf_err *e)
{
        sf_plumb_result res = { 0 };
        /* arp_notify: the interface announces itself (gratuitous ARP) when it comes up,
         * so peers waiting on ARP, or holding a stale entry for a reused address,
         * learn the new MAC at once instead of after a retry or timeout. */
        _cleanup_free_ char *notify = xasprintf("net/ipv4/conf/%s/arp_notify", pp->peer);
        sf_sysctl_kv sysctls[] = { { notify, "1" } };
        sf_plumb_cfg c = { .netns_path = netns,
                           .host_ifname = pp->host_if, /* nested: its name until renamed */
                           .peer_ifname = pp->peer,
                           .mac = pp->mac,
                           .mtu = pp->mtu,
                           .addrs = pp->addrs,
                           .n_addrs = pp->n_addrs,
                           .gateways = pp->gws,
                           .n_gateways = pp->n_gws,
                           .routes = pp->routes,
                           .n_routes = pp->n_routes,
                           .sysctls = sysctls,
                           .n_sysctls = ELEMENTSOF(sysctls) };
        int r;
        if (a->o.nested_mode) {
                c.kind = pp->vlan_id > 0 ? SF_PLUMB_VLAN : SF_PLUMB_MACVLAN;
                c.lower_ifindex = a->nested_ifindex;
                c.vlan_id = pp->vlan_id;
        } else {
                c.bridge_ifindex = agent_dp_network_up(a, nl, pp->network, pp->subnets, e);
                if (c.bridge_ifindex < 0)
                        return c.bridge_ifindex;
                /* A port plumbed before a crash is plumbed again from scratch. */
                sf_unplumb_port(nl, pp->host_if, NULL, 0, NULL);
        }
        r = sf_plumb_port(nl, &c, &res, e);
        if (r < 0)
                return r;
        r = neigh_prepopulate(nl, c.bridge_ifindex, &res, netns, pp, e);
        if (r >= 0 && ret)
                *ret = res;
        return r;
}

/* Plumbs every port of the plan into the workload's namespace; the first one is skipped when
 * it came pre-plumbed from the node's warm pool (warm.c). */
static int plumb_all(sf_agent *a, struct lw *w, struct plan *p, bool first_warm, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ char *netns = agent_netns_path(a, w->id);
        int r = sf_nl_open(&nl, e);
        if (r < 0)
                return r;
        if (p->n_ports == 0) {
                /* No network: a namespace with only loopback, like Docker's --network none. */
                _cleanup_nl_ sf_nl *inner = NULL;
                _cleanup_close_ int fd = -EBADF;
                r = sf_netns_create(netns, e);
                if (r < 0 && r != -EEXIST)
                        return r;
                fd = sf_netns_open(netns, e);
                if (fd < 0)
                        return fd;
                r = sf_nl_open_in_netns(fd, &inner, e);
                if (r >= 0)
                        r = sf_link_set_up(inner, SF_LINK_NAME("lo"), true, e);
                return r;
        }
        for (size_t i = first_warm ? 1 : 0; i < p->n_ports; i++) {
                r = agent_port_plumb(a, nl, &p->ports[i], netns, NULL, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void unplumb_all(sf_agent *a, const char *id, json_t *host_ifs)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ char *netns = agent_netns_path(a, id);
        json_t *h;
        size_t i;
        if (sf_nl_open(&nl, NULL) < 0)
                return;
        json_array_foreach(host_ifs, i, h) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (sf_unplumb_port(nl, json_string_value(h), NULL, 0, &e) < 0)
                        log_warn("remove port interface '%s': %s, ignoring", json_string_value(h),
                                 sf_err_msg(&e));
        }
        {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (sf_netns_delete(netns, &e) < 0)
                        log_warn("remove network namespace '%s': %s, ignoring", netns, sf_err_msg(&e));
        }
}

static int write_files(const char *rootfs, json_t *files, sf_err *e)
{
        json_t *f;
        size_t i;
        json_array_foreach(files, i, f) {
                const char *path = json_string_value(json_object_get(f, "path"));
                const char *content = json_string_value(json_object_get(f, "content"));
                json_int_t mode = json_is_integer(json_object_get(f, "mode"))
                                          ? json_integer_value(json_object_get(f, "mode"))
                                          : 0644;
                int r = sf_rootfs_write_file(rootfs, path, content, strlen(content), (mode_t) mode,
                                             (uid_t) -1, (gid_t) -1, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "day-0 file '%s'", path);
        }
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
        }
        agent_unlock(a);
}

static void teardown(sf_agent *a, const char *id, json_t *host_ifs)
{
        struct wspec s;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        wspec_min(a, id, &s);
        if (a->containers->driver->remove(a->containers, &s.ws, &e) < 0)
                log_warn("remove workload %s: %s, ignoring", id, sf_err_msg(&e));
        sf_err_clear(&e);
        if (sf_rootfs_release(s.dir, &e) < 0)
                log_warn("release root filesystem of %s: %s, ignoring", id, sf_err_msg(&e));
        unplumb_all(a, id, host_ifs);
        wspec_done(&s);
}

static void creating_done(sf_agent *a)
{
        agent_lock(a);
        a->creating--;
        agent_unlock(a);
}

/* The start gate's work (driver.h, while_creating): the ports plumbed while the runtime
 * creates the container. */
struct gate_plumb {
        sf_agent *a;
        struct lw *w;
        struct plan *p;
        bool first_warm;
        uint64_t t_begin, t_end, done_realtime;
};

static int gate_plumb(void *userdata, sf_err *e)
{
        struct gate_plumb *g = userdata;
        int r;
        g->t_begin = sf_now_usec();
        r = plumb_all(g->a, g->w, g->p, g->first_warm, e);
        g->t_end = sf_now_usec();
        g->done_realtime = sf_realtime_usec();
        return r;
}

static void job_create(sf_agent *a, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_image_info_ sf_image_info *img = NULL;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id), *rootfs = NULL;
        _cleanup_free_ char *t_net = NULL, *warm_ready_at = NULL;
        json_auto_t *host_ifs = json_array(), *ips = json_array(), *warm_info = json_object();
        struct plan p = { 0 };
        struct wspec s = { 0 };
        sf_workload_status st = { 0 };
        uint64_t t0 = sf_now_usec(), t1, t2, t3, t_prep;
        struct gate_plumb gate = { 0 };
        bool warm = false, overlap = false, cpu_idle;
        struct lw *w;
        int r;

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        r = w ? plan_make(a, w, &p, &e) : -ENOENT;
        if (w) {
                w->state = LW_NEW;
                agent_lw_set_message(w, "creating");
        }
        /* Overlapping the plumbing with the runtime's work (the start gate) pays when a CPU
         * would otherwise wait; when every CPU has a creation of its own, the gate's hook (a
         * process the runtime starts, and its state on stdin) is only more work. */
        cpu_idle = ++a->creating <= a->ncpus;
        agent_unlock(a);
        if (r == -ENOENT) {
                creating_done(a);
                return;
        }
        for (size_t i = 0; i < p.n_ports; i++) {
                json_array_append_new(host_ifs, json_string(p.ports[i].host_if));
                json_array_extend(ips, p.ports[i].ips);
        }
        if (r < 0)
                goto fail;
        r = sf_mkdir_p(dir, 0700, &e);
        if (r < 0)
                goto fail;
        r = local_write(a, w, &p, &e);
        if (r < 0)
                goto fail;

        /* Port pools (warm.c): the first port may come pre-plumbed from this node's warm pool;
         * its namespace, checked clean, becomes the workload's, and only the other ports are
         * plumbed here. */
        if (p.n_ports > 0) {
                _cleanup_free_ char *netns = agent_netns_path(a, j->id);
                warm = agent_warm_take(a, j->id, p.ports[0].id, netns, warm_info);
                warm_ready_at = xstrdup(json_string_value(json_object_get(warm_info, "ready_at")) ?: "");
                json_object_del(warm_info, "ready_at");
                if (!warm && STREQ(json_string_value(json_object_get(warm_info, "warm_miss")) ?: "", "still being built")) {
                        r = sf_err_set(&e, -EAGAIN, NULL, "the warm namespace of port %s is still being built", p.ports[0].id);
                        goto fail;
                }
        }
        /* Ports still to plumb are plumbed while the runtime creates the container (the
         * start gate, see driver.h): its process runs only once they are ready. On a busy
         * node (cpu_idle false) they are plumbed first, and the runtime starts ungated. */
        overlap = p.n_ports > (warm ? 1u : 0u) && cpu_idle;
        if (overlap) {
                _cleanup_free_ char *netns = agent_netns_path(a, j->id);
                r = sf_netns_create(netns, &e);
                if (r == -EEXIST) /* from before a crash: plumbed again from scratch */
                        sf_err_clear(&e), r = 0;
                if (r < 0)
                        goto fail;
        } else {
                r = plumb_all(a, w, &p, warm, &e);
                if (r < 0)
                        goto fail;
                /* A warm namespace handed over before this job ran was ready then, unless
                 * other ports were plumbed into it just now (a busy node: no start gate). */
                t_net = warm && p.n_ports == 1 && warm_ready_at && *warm_ready_at
                                ? TAKE_PTR(warm_ready_at)
                                : sf_timestamp(sf_realtime_usec());
        }
        t1 = sf_now_usec();

        r = sf_image_get(a->images, json_string_value(json_object_get(p.spec, "image")), &img, &e);
        if (r < 0) {
                sf_err_prefix(&e, "on node '%s'", a->node_name);
                goto fail;
        }
        r = sf_rootfs_prepare(a->images, img->name, dir, &rootfs, &e);
        if (r < 0)
                goto fail;
        r = write_files(rootfs, json_object_get(p.spec, "files"), &e);
        if (r < 0)
                goto fail;
        t2 = sf_now_usec();

        r = wspec_full(a, w, &p, rootfs, img, &s, &e);
        if (overlap) {
                gate = (struct gate_plumb) { .a = a, .w = w, .p = &p, .first_warm = warm };
                s.ws.while_creating = gate_plumb;
                s.ws.while_creating_data = &gate;
        }
        if (r >= 0)
                r = a->containers->driver->prepare(a->containers, &s.ws, &e);
        t_prep = sf_now_usec();
        if (r >= 0)
                r = a->containers->driver->start(a->containers, &s.ws, &st, &e);
        if (r < 0)
                goto fail;
        t3 = sf_now_usec();
        if (overlap)
                t_net = sf_timestamp(gate.done_realtime);

        agent_lock(a);
        a->creating--;
        w = agent_lw_find(a, j->id);
        if (w) {
                w->state = LW_RUNNING;
                w->st = st;
                agent_lw_set_message(w, NULL);
                free(w->network_ready_at);
                w->network_ready_at = TAKE_PTR(t_net);
                free(w->started_at);
                w->started_at = sf_timestamp(sf_realtime_usec());
                free(w->finished_at);
                w->finished_at = NULL;
                if (w->ips)
                        json_decref(w->ips);
                w->ips = json_incref(ips);
                if (w->timings)
                        json_decref(w->timings);
                /* network_ms: the plumbing; when it overlapped the runtime's work
                 * (network_overlapped), it is part of runtime_ms, not before it. */
                w->timings = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:b}", "network_ms",
                                       overlap ? (gate.t_end - gate.t_begin) / 1000.0
                                               : (t1 - t0) / 1000.0,
                                       "rootfs_ms", (t2 - t1) / 1000.0,
                                       "bundle_ms", (t_prep - t2) / 1000.0, "runtime_start_ms",
                                       (t3 - t_prep) / 1000.0, "runtime_ms", (t3 - t2) / 1000.0,
                                       "total_ms", ms_since(t0), "network_overlapped", overlap);
                json_object_set_new(w->timings, "warm", json_boolean(warm));
                json_object_update(w->timings, warm_info);
                agent_exit_watch_add(a, w);
        }
        agent_unlock(a);
        log_info("container '%s' running (pid %d) in %.1f ms: network %.1f%s, rootfs %.1f, runtime %.1f",
                 json_string_value(json_object_get(p.spec, "name")), (int) st.pid, ms_since(t0),
                 overlap ? (gate.t_end - gate.t_begin) / 1000.0 : (t1 - t0) / 1000.0,
                 overlap ? " (during the runtime's)" : warm ? " (warm)" : "", (t2 - t1) / 1000.0,
                 (t3 - t2) / 1000.0);
        wspec_done(&s);
        plan_done(&p);
        return;
fail:
        creating_done(a);
        log_warn("container '%s': %s", p.spec ? json_string_value(json_object_get(p.spec, "name")) : j->id,
                 sf_err_msg(&e));
        teardown(a, j->id, host_ifs);
        if (r != -EAGAIN)
                sf_rm_rf(dir, NULL);
        /* Not-yet-known dependencies are retried soon; real failures back off. */
        set_failed(a, j->id, &e, r == -EAGAIN ? 500000 : 10000000);
        wspec_done(&s);
        plan_done(&p);
}

/* Starts an exited or stopped workload again, reusing its namespace and root filesystem. */
static void job_start(sf_agent *a, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_image_info_ sf_image_info *img = NULL;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id), *rootfs = NULL;
        struct plan p = { 0 };
        struct wspec s = { 0 };
        sf_workload_status st = { 0 };
        bool restart;
        struct lw *w;
        int r;

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        r = w ? plan_make(a, w, &p, &e) : -ENOENT;
        restart = w && w->state == LW_EXITED;
        agent_unlock(a);
        if (r == -ENOENT)
                return;
        if (r < 0)
                goto fail;
        r = sf_image_get(a->images, json_string_value(json_object_get(p.spec, "image")), &img, &e);
        if (r >= 0)
                r = sf_rootfs_prepare(a->images, img->name, dir, &rootfs, &e);
        if (r >= 0)
                r = wspec_full(a, w, &p, rootfs, img, &s, &e);
        if (r >= 0)
                r = a->containers->driver->remove(a->containers, &s.ws, &e);
        if (r >= 0)
                r = a->containers->driver->prepare(a->containers, &s.ws, &e);
        if (r >= 0)
                r = a->containers->driver->start(a->containers, &s.ws, &st, &e);
        if (r < 0)
                goto fail;
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                w->state = LW_RUNNING;
                w->st = st;
                if (restart)
                        w->restarts++;
                agent_lw_set_message(w, NULL);
                free(w->started_at);
                w->started_at = sf_timestamp(sf_realtime_usec());
                free(w->finished_at);
                w->finished_at = NULL;
                agent_exit_watch_add(a, w);
        }
        agent_unlock(a);
        log_info("container '%s' %s (pid %d)", json_string_value(json_object_get(p.spec, "name")),
                 restart ? "restarted" : "started", (int) st.pid);
        wspec_done(&s);
        plan_done(&p);
        return;
fail:
        log_warn("start container %s: %s", j->id, sf_err_msg(&e));
        set_failed(a, j->id, &e, 10000000);
        wspec_done(&s);
        plan_done(&p);
}

static void record_exit(sf_agent *a, const char *id, const sf_workload_status *st, enum lw_state state)
{
        struct lw *w;
        agent_lock(a);
        w = agent_lw_find(a, id);
        if (w) {
                uint64_t ran = 0;
                w->st = *st;
                w->state = state;
                free(w->finished_at);
                w->finished_at = sf_timestamp(st->finished_usec ? st->finished_usec : sf_realtime_usec());
                if (st->started_usec && st->finished_usec > st->started_usec)
                        ran = st->finished_usec - st->started_usec;
                /* Quick crashes back off (0.5 s doubling to 30 s); a long run resets it. */
                w->retry_at = sf_now_usec() +
                              (ran > 10000000 ? 500000 : MIN(500000ULL << MIN(w->restarts, 6u), 30000000ULL));
                if (state == LW_EXITED)
                        agent_lw_set_message(w, "exited with status %d", st->exit_code);
                else {
                        /* Stopped on request: its exit is accounted for here. */
                        agent_lw_set_message(w, NULL);
                        w->reap_pending = false;
                        if (w->exit_fd >= 0) {
                                close(w->exit_fd);
                                w->exit_fd = -1;
                        }
                }
        }
        agent_unlock(a);
}

static void job_stop(sf_agent *a, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status st = { 0 };
        struct wspec s;
        wspec_min(a, j->id, &s);
        if (a->containers->driver->stop(a->containers, &s.ws, grace_of(a, j->id), &e) < 0)
                log_warn("stop %s: %s", j->id, sf_err_msg(&e));
        sf_err_clear(&e);
        if (a->containers->driver->adopt(a->containers, &s.ws, &st, &e) < 0)
                st.state = SF_WORKLOAD_EXITED;
        record_exit(a, j->id, &st, LW_STOPPED);
        wspec_done(&s);
}

static void job_reap(sf_agent *a, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_workload_status st = { 0 };
        struct wspec s;
        wspec_min(a, j->id, &s);
        if (a->containers->driver->reap(a->containers, &s.ws, &st, &e) < 0) {
                log_warn("exit status of %s: %s", j->id, sf_err_msg(&e));
                st.state = SF_WORKLOAD_EXITED;
        }
        record_exit(a, j->id, &st, LW_EXITED);
        log_info("container %s exited (status %d)", j->id, st.exit_code);
        wspec_done(&s);
}

static void job_delete(sf_agent *a, sf_httpc *http, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id);
        json_auto_t *local = local_read(a, j->id), *host_ifs = NULL;
        bool finalize;
        struct wspec s;
        struct lw *w;

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w && w->exit_fd >= 0) {
                close(w->exit_fd); /* epoll forgets a closed fd */
                w->exit_fd = -1;
        }
        finalize = agent_cache_get(a, "container", j->id) &&
                   json_is_true(json_object_get(agent_cache_get(a, "container", j->id), "deleting"));
        agent_unlock(a);

        wspec_min(a, j->id, &s);
        if (a->containers->driver->stop(a->containers, &s.ws, grace_of(a, j->id), &e) < 0)
                log_warn("stop %s: %s, ignoring", j->id, sf_err_msg(&e));
        wspec_done(&s);
        host_ifs = json_incref(json_object_get(local, "host_ifs") ?: json_array());
        teardown(a, j->id, host_ifs);
        sf_err_clear(&e);
        if (sf_rm_rf(dir, &e) < 0)
                log_warn("remove %s: %s, ignoring", dir, sf_err_msg(&e));
        if (finalize) {
                _cleanup_free_ char *path = xasprintf("/v1/containers/%s/finalize", j->id);
                sf_err_clear(&e);
                if (sf_httpc_call(http, "POST", path, NULL, NULL, &e) < 0 && e.code != -ENOENT)
                        log_warn("confirm deletion of %s: %s (will retry)", j->id, sf_err_msg(&e));
                else
                        finalize = false;
        }
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                w->state = LW_GONE;
                w->finalized = !finalize; /* a failed confirmation is retried by the reconciler */
        }
        agent_unlock(a);
        log_info("container %s removed", j->id);
}

/* ---- handover: a move that keeps the workload's IP and MAC (see src/vim/move.c) ----
 *
 * target (prepare): the ports are plumbed with their MAC and IP, held down; the root
 *   filesystem and bundle are made; without a state hook the process starts right away (it
 *   cannot talk yet), with one it waits for the state.
 * old node (release): the export hook runs (its output is the state), the process is killed
 *   at once, the interfaces go down: from here the function does not answer.
 * target (cutover, once the controller moved the ports' binding here): the state is written
 *   where the hook says, the process starts if it did not, the interfaces come up (arp_notify
 *   announces them). */

static int report_handover(sf_httpc *http, const char *id, json_t *ho)
{
        _cleanup_free_ char *path = xasprintf("/v1/containers/%s", id);
        json_auto_t *body = json_pack("{s:{s:O}}", "status", "handover", ho);
        return sf_httpc_call(http, "PATCH", path, body, NULL, NULL);
}

/* All of a workload's interfaces inside its namespace up or down (eth0, eth1, ...). */
static int links_set(sf_agent *a, const char *id, size_t n, bool up, sf_err *e)
{
        _cleanup_free_ char *netns = agent_netns_path(a, id);
        _cleanup_close_ int fd = sf_netns_open(netns, e);
        _cleanup_nl_ sf_nl *nl = NULL;
        int r;
        if (fd < 0)
                return fd;
        r = sf_nl_open_in_netns(fd, &nl, e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char ifn[16];
                snprintf(ifn, sizeof(ifn), "eth%u", (unsigned) (i % 100));
                r = sf_link_set_up(nl, SF_LINK_NAME(ifn), up, e);
        }
        return r;
}

static void job_ho_prepare(sf_agent *a, sf_httpc *http, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_image_info_ sf_image_info *img = NULL;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id), *rootfs = NULL, *move = NULL;
        struct plan p = { 0 };
        struct wspec s = { 0 };
        sf_workload_status st = { 0 };
        bool start;
        struct lw *w;
        int r;

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        r = w ? plan_make(a, w, &p, &e) : -ENOENT;
        move = w && w->ho_move ? xstrdup(w->ho_move) : NULL;
        agent_unlock(a);
        if (r == -ENOENT)
                return;
        start = !json_is_object(json_object_get(p.spec, "handover_hook"));
        if (r >= 0)
                r = sf_mkdir_p(dir, 0700, &e);
        if (r >= 0)
                r = local_write(a, w, &p, &e);
        if (r >= 0)
                r = plumb_all(a, w, &p, false, &e);
        if (r >= 0)
                r = links_set(a, j->id, p.n_ports, false, &e);
        if (r >= 0)
                r = sf_image_get(a->images, json_string_value(json_object_get(p.spec, "image")), &img, &e);
        if (r >= 0)
                r = sf_rootfs_prepare(a->images, img->name, dir, &rootfs, &e);
        if (r >= 0)
                r = write_files(rootfs, json_object_get(p.spec, "files"), &e);
        if (r >= 0)
                r = wspec_full(a, w, &p, rootfs, img, &s, &e);
        if (r >= 0)
                r = a->containers->driver->prepare(a->containers, &s.ws, &e);
        if (r >= 0 && start)
                r = a->containers->driver->start(a->containers, &s.ws, &st, &e);
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w && r >= 0) {
                w->state = LW_PREPARED;
                w->ho_started = start;
                w->st = st;
        } else if (w)
                w->state = LW_FAILED;
        agent_unlock(a);
        if (r < 0) {
                json_auto_t *x = NULL;
                log_warn("handover of %s: prepare: %s", j->id, sf_err_msg(&e));
                x = json_pack("{s:s, s:s*, s:s, s:s}", "phase", "failed", "move", move, "node", a->node_name,
                              "message", sf_err_msg(&e));
                report_handover(http, j->id, x);
        } else {
                json_auto_t *x = json_pack("{s:s, s:s*, s:s, s:b}", "phase", "prepared", "move", move,
                                           "node", a->node_name, "process_started", start);
                log_info("handover of '%s': prepared here (interfaces held down%s)",
                         json_string_value(json_object_get(p.spec, "name")), start ? ", process running" : "");
                report_handover(http, j->id, x);
        }
        wspec_done(&s);
        plan_done(&p);
}

static void job_ho_release(sf_agent *a, sf_httpc *http, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *out = NULL, *err = NULL, *move = NULL;
        json_auto_t *hook = NULL, *x = NULL;
        struct wspec s;
        size_t n_ports = 0;
        int code = 0;
        uint64_t t0 = sf_now_usec();
        struct lw *w;

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                hook = json_incref(json_object_get(w->spec, "handover_hook"));
                n_ports = json_array_size(json_object_get(w->spec, "port_ids"));
                move = w->ho_move ? xstrdup(w->ho_move) : NULL;
                if (w->exit_fd >= 0) {
                        close(w->exit_fd); /* this exit is expected: no reap, no restart */
                        w->exit_fd = -1;
                }
        }
        agent_unlock(a);
        if (!w)
                return;
        wspec_min(a, j->id, &s);
        /* 1. the function hands its state over (in-memory state cannot be carried otherwise:
         *    no checkpoint/restore on this kernel) */
        if (json_is_object(hook)) {
                _cleanup_strv_free_ char **argv = NULL;
                json_t *arg;
                size_t i;
                argv = new0(char *, 1);
                json_array_foreach(json_object_get(hook, "export"), i, arg)
                        strv_push(&argv, xstrdup(json_string_value(arg)));
                if (a->containers->driver->exec(a->containers, &s.ws, argv, NULL, 10000, &out, &err, &code, &e) < 0 || code != 0)
                        log_warn("handover of %s: the export hook failed (%d): %s", j->id, code,
                                 e.code ? sf_err_msg(&e) : err ? err : "");
        }
        /* 2. stop at once, 3. interfaces down */
        sf_err_clear(&e);
        if (a->containers->driver->stop(a->containers, &s.ws, 0, &e) < 0)
                log_warn("handover of %s: stop: %s", j->id, sf_err_msg(&e));
        sf_err_clear(&e);
        if (links_set(a, j->id, n_ports, false, &e) < 0)
                log_warn("handover of %s: interfaces down: %s", j->id, sf_err_msg(&e));
        wspec_done(&s);
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                w->ho_released = true;
                w->state = LW_STOPPED;
        }
        agent_unlock(a);
        x = json_pack("{s:s, s:s*, s:s, s:f}", "phase", "released", "move", move, "node", a->node_name,
                      "release_ms", (sf_now_usec() - t0) / 1000.0);
        if (out)
                json_object_set_new(x, "state", json_string(out));
        log_info("handover of %s: released (%.1f ms)", j->id, (sf_now_usec() - t0) / 1000.0);
        report_handover(http, j->id, x);
}

static void job_ho_cutover(sf_agent *a, sf_httpc *http, struct job *j)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_image_info_ sf_image_info *img = NULL;
        _cleanup_free_ char *dir = agent_container_dir(a, j->id), *rootfs = NULL, *move = NULL;
        json_auto_t *hook = NULL, *state = NULL, *x = NULL;
        struct plan p = { 0 };
        struct wspec s = { 0 };
        sf_workload_status st = { 0 };
        uint64_t t0 = sf_now_usec();
        bool started;
        struct lw *w;
        int r;

        agent_lock(a);
        w = agent_lw_find(a, j->id);
        r = w ? plan_make(a, w, &p, &e) : -ENOENT;
        if (w) {
                started = w->ho_started;
                st = w->st;
                move = w->ho_move ? xstrdup(w->ho_move) : NULL;
                hook = json_incref(json_object_get(w->spec, "handover_hook"));
                state = json_incref(json_object_get(json_object_get(agent_cache_get(a, "container", j->id), "handover"), "state"));
        }
        agent_unlock(a);
        if (r == -ENOENT)
                return;
        if (r >= 0 && !started) {
                /* the state first, then the process */
                r = sf_image_get(a->images, json_string_value(json_object_get(p.spec, "image")), &img, &e);
                if (r >= 0)
                        r = sf_rootfs_prepare(a->images, img->name, dir, &rootfs, &e);
                if (r >= 0 && json_is_object(hook)) {
                        const char *data = json_is_string(state) ? json_string_value(state) : "";
                        r = sf_rootfs_write_file(rootfs, json_string_value(json_object_get(hook, "import_path")),
                                                 data, strlen(data), 0600, (uid_t) -1, (gid_t) -1, &e);
                }
                if (r >= 0)
                        r = wspec_full(a, w, &p, rootfs, img, &s, &e);
                if (r >= 0)
                        r = a->containers->driver->start(a->containers, &s.ws, &st, &e);
        }
        if (r >= 0)
                r = links_set(a, j->id, p.n_ports, true, &e);
        agent_lock(a);
        w = agent_lw_find(a, j->id);
        if (w) {
                if (r >= 0) {
                        json_t *ips = json_array();
                        w->shadow = false;
                        w->state = LW_RUNNING;
                        w->st = st;
                        free(w->started_at);
                        w->started_at = sf_timestamp(sf_realtime_usec());
                        for (size_t i = 0; i < p.n_ports; i++)
                                json_array_extend(ips, p.ports[i].ips);
                        if (w->ips)
                                json_decref(w->ips);
                        w->ips = ips;
                        agent_lw_set_message(w, NULL);
                        agent_exit_watch_add(a, w);
                } else
                        w->state = LW_FAILED;
        }
        agent_unlock(a);
        if (r < 0) {
                log_warn("handover of %s: cutover: %s", j->id, sf_err_msg(&e));
                x = json_pack("{s:s, s:s*, s:s, s:s}", "phase", "failed", "move", move, "node", a->node_name,
                              "message", sf_err_msg(&e));
        } else {
                log_info("handover of '%s': running here after %.1f ms of cutover",
                         json_string_value(json_object_get(p.spec, "name")), (sf_now_usec() - t0) / 1000.0);
                x = json_pack("{s:s, s:s*, s:s, s:f}", "phase", "running", "move", move, "node", a->node_name,
                              "cutover_ms", (sf_now_usec() - t0) / 1000.0);
        }
        report_handover(http, j->id, x);
        wspec_done(&s);
        plan_done(&p);
}

bool agent_handover_dispatch(sf_agent *a, const char *id, json_t *c)
{
        json_t *ho = json_object_get(c, "handover");
        const char *phase = json_string_value(json_object_get(ho, "phase")) ?: "";
        const char *to = json_string_value(json_object_get(ho, "to")) ?: "";
        const char *from = json_string_value(json_object_get(ho, "from")) ?: "";
        const char *move = json_string_value(json_object_get(ho, "move")) ?: "";
        const char *node = json_string_value(json_object_get(c, "node_id")) ?: "";
        struct lw *w = agent_lw_find(a, id);

        if (!a->node_id)
                return false;
        if (STREQ(to, a->node_id)) {
                if (STREQ(phase, "prepare")) {
                        if (w && !w->busy && !w->shadow && w->state == LW_GONE) {
                                agent_lw_remove(a, w); /* left over from an earlier move away */
                                w = NULL;
                        }
                        if (!w) {
                                w = agent_lw_add(a, id);
                                w->shadow = true;
                                w->spec = json_incref(c);
                                w->name = xstrdup(json_string_value(json_object_get(c, "name")));
                        }
                        if (!w->busy && w->shadow && (!w->ho_move || !STREQ(w->ho_move, move))) {
                                free(w->ho_move);
                                w->ho_move = xstrdup(move);
                                agent_job_push(a, JOB_HO_PREPARE, id);
                        }
                } else if (STREQ(phase, "cutover") && STREQ(node, a->node_id) && w && !w->busy &&
                           w->state == LW_PREPARED) {
                        if (w->spec != c) {
                                json_decref(w->spec);
                                w->spec = json_incref(c);
                        }
                        agent_job_push(a, JOB_HO_CUTOVER, id);
                }
                /* until the cutover is done the normal path must not create or delete it */
                return !w || w->shadow || w->state == LW_PREPARED || w->busy;
        }
        if (STREQ(from, a->node_id) && STREQ(node, a->node_id)) {
                if (STREQ(phase, "prepare"))
                        return false; /* it keeps serving meanwhile */
                if (STREQ(phase, "release") && w && !w->busy && !w->ho_released) {
                        free(w->ho_move);
                        w->ho_move = xstrdup(move);
                        agent_job_push(a, JOB_HO_RELEASE, id);
                }
                return true; /* released: no restart, no status race */
        }
        return false;
}

void agent_job_run(sf_agent *a, sf_httpc *http, struct job *j)
{
        if (agent_vm_job_run(a, http, j)) /* VM hook: kind "vm" runs in vm.c */
                return;
        switch (j->type) {
        case JOB_CREATE:
                job_create(a, j);
                break;
        case JOB_START:
                job_start(a, j);
                break;
        case JOB_STOP:
                job_stop(a, j);
                break;
        case JOB_REAP:
                job_reap(a, j);
                break;
        case JOB_DELETE:
                job_delete(a, http, j);
                break;
        case JOB_HO_PREPARE:
                job_ho_prepare(a, http, j);
                break;
        case JOB_HO_RELEASE:
                job_ho_release(a, http, j);
                break;
        case JOB_HO_CUTOVER:
                job_ho_cutover(a, http, j);
                break;
        }
}

/* ---- exits ---- */

void agent_exit_watch_add(sf_agent *a, struct lw *w)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        struct wspec s;
        int fd = -1;
        sf_compute *c = agent_compute_for(a, w->spec); /* VM hook: the kind's driver */
        wspec_min(a, w->id, &s);
        if (c->driver->watch(c, &s.ws, &fd, &e) < 0) {
                /* Exited already: reap at once, or after the job that runs now. */
                if (!w->busy)
                        agent_job_push(a, JOB_REAP, w->id);
                else
                        w->reap_pending = true;
        } else {
                struct epoll_event ev;
                int high = sf_fd_move_high(fd); /* one per workload: out of select()'s way */
                if (high >= 0)
                        fd = high;
                ev = (struct epoll_event) { .events = EPOLLIN, .data.fd = fd };
                if (w->exit_fd >= 0)
                        close(w->exit_fd);
                w->exit_fd = fd;
                epoll_ctl(a->exit_epfd, EPOLL_CTL_ADD, fd, &ev);
        }
        wspec_done(&s);
}

static void *exit_loop(void *u)
{
        sf_agent *a = u;
        while (!a->stopping) {
                struct epoll_event evs[16];
                int n = epoll_wait(a->exit_epfd, evs, ELEMENTSOF(evs), -1);
                if (n < 0 && errno != EINTR)
                        break;
                agent_lock(a);
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (fd == a->exit_wakefd)
                                continue;
                        epoll_ctl(a->exit_epfd, EPOLL_CTL_DEL, fd, NULL);
                        for (size_t k = 0; k < a->n_lws; k++) {
                                struct lw *w = a->lws[k];
                                if (w->exit_fd != fd)
                                        continue;
                                close(fd);
                                w->exit_fd = -1;
                                if (w->deleting)
                                        ;
                                else if (!w->busy)
                                        agent_job_push(a, JOB_REAP, w->id);
                                else
                                        w->reap_pending = true;
                                break;
                        }
                }
                agent_unlock(a);
        }
        return NULL;
}

int agent_exit_watch_start(sf_agent *a, sf_err *e)
{
        struct epoll_event ev = { .events = EPOLLIN };
        int r;
        a->exit_epfd = epoll_create1(EPOLL_CLOEXEC);
        if (a->exit_epfd < 0)
                return sf_err_errno(e, -errno, "epoll");
        a->exit_wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (a->exit_wakefd < 0)
                return sf_err_errno(e, -errno, "eventfd");
        ev.data.fd = a->exit_wakefd;
        epoll_ctl(a->exit_epfd, EPOLL_CTL_ADD, a->exit_wakefd, &ev);
        r = pthread_create(&a->exit_thread, NULL, exit_loop, a);
        if (r)
                return sf_err_errno(e, -r, "start exit watcher");
        return 0;
}

/* ---- adoption after a restart ---- */

int agent_adopt_all(sf_agent *a, sf_err *e)
{
        _cleanup_free_ char *root = xasprintf("%s/containers", a->o.run_dir);
        DIR *d = opendir(root);
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return errno == ENOENT ? 0 : sf_err_errno(e, -errno, "open '%s'", root);
        while ((de = readdir(d))) {
                _cleanup_err_ sf_err le = SF_ERR_INIT;
                json_auto_t *local = NULL;
                sf_workload_status st = { 0 };
                struct wspec s;
                struct lw *w;
                if (de->d_name[0] == '.')
                        continue;
                local = local_read(a, de->d_name);
                if (!local) {
                        /* Never got as far as a record: remove whatever part exists. */
                        teardown(a, de->d_name, NULL);
                        {
                                _cleanup_free_ char *dir = agent_container_dir(a, de->d_name);
                                sf_rm_rf(dir, NULL);
                        }
                        continue;
                }
                if (agent_spec_is_vm(json_object_get(local, "spec"))) { /* VM hook */
                        if (agent_vm_adopt(a, de->d_name, local) >= 0)
                                n++;
                        continue;
                }
                {
                        /* The start gate of a start the previous agent did not see through:
                         * the start went on (its verdict was written) or failed without it. */
                        _cleanup_free_ char *gate = xasprintf("%s/%s/%s", root, de->d_name,
                                                              SF_SHIM_GATE_FILE);
                        (void) unlink(gate);
                }
                wspec_min(a, de->d_name, &s);
                if (a->containers->driver->adopt(a->containers, &s.ws, &st, &le) < 0)
                        st.state = SF_WORKLOAD_UNKNOWN;
                wspec_done(&s);
                agent_lock(a);
                w = agent_lw_add(a, de->d_name);
                w->spec = json_incref(json_object_get(local, "spec"));
                w->name = xstrdup(json_string_value(json_object_get(w->spec, "name")));
                w->generation = json_integer_value(json_object_get(local, "generation"));
                w->ips = json_incref(json_object_get(local, "ips") ?: json_array());
                w->st = st;
                switch (st.state) {
                case SF_WORKLOAD_RUNNING:
                        w->state = LW_RUNNING;
                        w->started_at = st.started_usec ? sf_timestamp(st.started_usec) : NULL;
                        agent_exit_watch_add(a, w);
                        break;
                case SF_WORKLOAD_EXITED:
                        w->state = LW_EXITED;
                        w->finished_at = st.finished_usec ? sf_timestamp(st.finished_usec) : NULL;
                        break;
                default:
                        /* Its monitor is gone: create it again (the reconciler does). */
                        w->state = LW_NEW;
                        break;
                }
                agent_unlock(a);
                log_info("adopted container '%s' (%s)", w->name ? w->name : de->d_name,
                         sf_workload_state_str(st.state));
                n++;
        }
        closedir(d);
        if (n)
                log_info("adopted %u workload(s) from a previous run", n);
        return 0;
}
