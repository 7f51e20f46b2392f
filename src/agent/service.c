/* Service addresses on this node (see src/vim/service.c): each service bound here gets a
 * network namespace holding its VIP port (plumbed like a workload's port), with forwarding on
 * and an nftables ruleset that sends each new connection to one of the current backends
 * (DNAT, round robin) and answers from the VIP (masquerade). Conntrack keeps existing
 * connections on the backend they started with, so replacing a backend drains the old one.
 * Also: the agent API's connection counts per backend (for draining) and TCP probes (for
 * health checks of a new instance). */
#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sys/socket.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/plumb.h"

SF_LOG_MODULE("service");

static char *svc_netns(sf_agent *a, const char *id)
{
        return xasprintf("%s/netns/svc-%s", a->o.run_dir, id);
}

static char *svc_ifname(const char *port_id)
{
        char hex[13];
        size_t n = 0;
        for (const char *p = port_id; *p && n < 12; p++)
                if (*p != '-')
                        hex[n++] = *p;
        hex[n] = 0;
        return xasprintf("sfs%s", hex);
}

/* The IP of workload wid on network net (from its ports in the cache). Lock held. */
static const char *backend_ip(sf_agent *a, const char *wid, const char *net)
{
        json_t *w = agent_cache_get(a, "container", wid), *pid;
        size_t i;
        json_array_foreach(json_object_get(w, "port_ids"), i, pid) {
                json_t *p = agent_cache_get(a, "port", json_string_value(pid));
                if (p && STREQ(json_string_value(json_object_get(p, "network_id")) ?: "", net))
                        return json_string_value(json_object_get(json_array_get(json_object_get(p, "fixed_ips"), 0),
                                                                 "ip_address"));
        }
        return NULL;
}

json_t *agent_services_desired(sf_agent *a)
{
        json_t *out = json_object(), *s;
        const char *id;
        json_object_foreach(agent_cache_kind(a, "service"), id, s) {
                const char *net = json_string_value(json_object_get(s, "network_id"));
                json_t *vip = agent_cache_get(a, "port", json_string_value(json_object_get(s, "vip_port_id")));
                json_t *backends = json_array(), *b, *subnets = json_array(), *sn;
                const char *sid;
                size_t i;
                if (!STREQ(json_string_value(json_object_get(s, "node_id")) ?: "", a->node_id ? a->node_id : "") ||
                    !vip || !agent_cache_get(a, "network", net)) {
                        json_decref(backends);
                        json_decref(subnets);
                        continue;
                }
                json_array_foreach(json_object_get(s, "backend_ids"), i, b) {
                        json_t *w = agent_cache_get(a, "container", json_string_value(b));
                        const char *ip = backend_ip(a, json_string_value(b), net);
                        /* only backends that run (a new instance joins once it is Running) */
                        if (ip && w && STREQ(json_string_value(json_object_get(json_object_get(w, "status"), "phase")) ?: "", "Running"))
                                json_array_append_new(backends, json_string(ip));
                }
                json_object_foreach(agent_cache_kind(a, "subnet"), sid, sn)
                        if (STREQ(json_string_value(json_object_get(sn, "network_id")) ?: "", net))
                                json_array_append_new(subnets, json_deep_copy(sn));
                json_object_set_new(out, id, json_pack("{s:O, s:O, s:O, s:o, s:o, s:O}", "vip", json_object_get(s, "vip"),
                                                       "port", vip, "ports", json_object_get(s, "ports"),
                                                       "backends", backends, "subnets", subnets, "network",
                                                       agent_cache_get(a, "network", net)));
        }
        return out;
}

static char *ruleset(json_t *svc)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_t *backends = json_object_get(svc, "backends"), *p, *b;
        size_t i, k, n = json_array_size(backends);
        if (!f)
                sf_oom();
        fprintf(f, "table ip sfsvc\ndelete table ip sfsvc\ntable ip sfsvc {\n");
        json_array_foreach(json_object_get(svc, "ports"), i, p) {
                json_int_t tp = json_integer_value(json_object_get(p, "target_port"));
                const char *proto = json_string_value(json_object_get(p, "protocol")) ?: "tcp";
                json_array_foreach(backends, k, b)
                        fprintf(f, "  chain p%zu_b%zu {\n    meta l4proto %s dnat to %s:%" JSON_INTEGER_FORMAT "\n  }\n",
                                i, k, proto, json_string_value(b), tp);
        }
        fprintf(f, "  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n");
        json_array_foreach(json_object_get(svc, "ports"), i, p) {
                const char *proto = json_string_value(json_object_get(p, "protocol")) ?: "tcp";
                json_int_t port = json_integer_value(json_object_get(p, "port"));
                if (n == 0)
                        continue; /* no backend: connections are refused by the VIP itself */
                fprintf(f, "    ip daddr %s %s dport %" JSON_INTEGER_FORMAT " numgen inc mod %zu vmap { ",
                        json_string_value(json_object_get(svc, "vip")), proto, port, n);
                for (k = 0; k < n; k++)
                        fprintf(f, "%s%zu : jump p%zu_b%zu", k ? ", " : "", k, i, k);
                fprintf(f, " }\n");
        }
        fprintf(f, "  }\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n"
                   "    ct status dnat masquerade\n  }\n}\n");
        fclose(f);
        return buf;
}

struct nft_job {
        const char *text;
        sf_err *e;
};

static int nft_inside(void *u)
{
        struct nft_job *j = u;
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        int r = 0;
        if (!ctx)
                return sf_err_set(j->e, -ENOMEM, NULL, "nftables context");
        nft_ctx_buffer_output(ctx);
        nft_ctx_buffer_error(ctx);
        if (nft_run_cmd_from_buffer(ctx, j->text) != 0) {
                const char *err = nft_ctx_get_error_buffer(ctx);
                r = sf_err_set(j->e, -EIO, NULL, "nftables: %s", err && *err ? err : "failed");
        }
        nft_ctx_free(ctx);
        return r;
}

static int service_up(sf_agent *a, sf_nl *nl, const char *id, json_t *svc, sf_err *e)
{
        _cleanup_free_ char *ns = svc_netns(a, id), *ifn = NULL, *text = NULL;
        json_t *port = json_object_get(svc, "port"), *sn;
        _cleanup_close_ int fd = -EBADF;
        sf_prefix addr = { 0 };
        sf_addr gw = { 0 };
        uint8_t mac[6];
        bool fresh = access(ns, F_OK) != 0;
        size_t i;
        int br, r;

        ifn = svc_ifname(json_string_value(json_object_get(port, "id")));
        if (fresh || sf_link_ifindex(nl, ifn, NULL) < 0) {
                br = agent_dp_network_up(a, nl, json_object_get(svc, "network"), json_object_get(svc, "subnets"), e);
                if (br < 0)
                        return br;
                if (sf_addr_parse(json_string_value(json_object_get(svc, "vip")), &addr.addr) < 0 ||
                    sf_mac_parse(json_string_value(json_object_get(port, "mac_address")), mac) < 0)
                        return sf_err_set(e, -EINVAL, NULL, "service %s: bad VIP port", id);
                json_array_foreach(json_object_get(svc, "subnets"), i, sn) {
                        sf_prefix c;
                        if (sf_prefix_parse(json_string_value(json_object_get(sn, "cidr")), true, &c) >= 0 &&
                            sf_prefix_contains(&c, &addr.addr)) {
                                addr.len = c.len;
                                sf_addr_parse(json_string_value(json_object_get(sn, "gateway_ip")), &gw);
                        }
                }
                sf_unplumb_port(nl, ifn, NULL, 0, NULL);
                {
                        sf_sysctl_kv sys[] = { { "net/ipv4/ip_forward", "1" }, { "net/ipv4/conf/eth0/arp_notify", "1" } };
                        r = sf_plumb_port(nl, &(sf_plumb_cfg) { .netns_path = ns, .host_ifname = ifn, .bridge_ifindex = br,
                                                                .peer_ifname = "eth0", .mac = mac,
                                                                .mtu = (unsigned) json_integer_value(json_object_get(json_object_get(svc, "network"), "mtu")),
                                                                .addrs = &addr, .n_addrs = 1,
                                                                .gateways = gw.family ? &gw : NULL, .n_gateways = gw.family ? 1 : 0,
                                                                .sysctls = sys, .n_sysctls = ELEMENTSOF(sys) },
                                          NULL, e);
                }
                if (r < 0)
                        return sf_err_wrap(r, e, "service %s", id);
                log_info("service %s: address %s", id, json_string_value(json_object_get(svc, "vip")));
        }
        text = ruleset(svc);
        fd = sf_netns_open(ns, e);
        if (fd < 0)
                return fd;
        {
                struct nft_job j = { text, e };
                r = sf_netns_run(fd, nft_inside, &j, NULL);
        }
        return r;
}

static void service_down(sf_agent *a, sf_nl *nl, const char *name)
{
        /* name: "svc-<id>" under run_dir/netns; the host end is found by the namespace's peer */
        _cleanup_free_ char *ns = xasprintf("%s/netns/%s", a->o.run_dir, name);
        sf_link_info *links = NULL;
        size_t n = 0;
        _cleanup_close_ int fd = sf_netns_open(ns, NULL);
        /* Host ends are "sfs..." links whose peer lives in that namespace: delete all of ours
         * that are not wanted (the caller passes only unwanted names). */
        if (sf_link_list(nl, "sfs", &links, &n, NULL) >= 0)
                for (size_t i = 0; i < n; i++) {
                        _cleanup_nl_ sf_nl *inner = NULL;
                        if (fd < 0 || sf_nl_open_in_netns(fd, &inner, NULL) < 0)
                                break;
                        if (links[i].link_netnsid >= 0 && sf_link_ifindex(inner, "eth0", NULL) == links[i].link)
                                sf_link_del(nl, SF_LINK_IDX(links[i].ifindex), SF_NL_MISSING_OK, NULL);
                }
        sf_link_info_free_array(links, n);
        sf_netns_delete(ns, NULL);
        log_info("service namespace %s removed", name);
}

int agent_services_sync(sf_agent *a, sf_nl *nl, json_t *dp, sf_err *e)
{
        json_t *svcs = json_object_get(dp, "services"), *svc;
        _cleanup_free_ char *dir = xasprintf("%s/netns", a->o.run_dir);
        const char *id;
        DIR *d;
        struct dirent *de;
        int first = 0;

        json_object_foreach(svcs, id, svc) {
                _cleanup_err_ sf_err le = SF_ERR_INIT;
                int r = service_up(a, nl, id, svc, &le);
                if (r < 0 && first == 0) {
                        first = r;
                        sf_err_move(e, &le);
                }
        }
        d = opendir(dir);
        while (d && (de = readdir(d))) {
                if (strncmp(de->d_name, "svc-", 4) != 0 || json_object_get(svcs, de->d_name + 4))
                        continue;
                service_down(a, nl, de->d_name);
        }
        if (d)
                closedir(d);
        return first;
}

/* ---- agent API ---- */

struct ct_count {
        json_t *by_ip;
};

static int ct_cb(const struct nlmsghdr *nlh, size_t idx, void *userdata, sf_err *e)
{
        struct ct_count *c = userdata;
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[CTA_MAX + 1], *tt[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1];
        char b[SF_ADDR_STRLEN];
        if ((nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
                return 0;
        if (sf_nl_parse_attrs(nlh, sizeof(*nfg), tb, CTA_MAX) < 0 || !tb[CTA_TUPLE_REPLY] ||
            sf_nl_parse_nested(tb[CTA_TUPLE_REPLY], tt, CTA_TUPLE_MAX) < 0 || !tt[CTA_TUPLE_IP] ||
            sf_nl_parse_nested(tt[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 || !ip[CTA_IP_V4_SRC] ||
            mnl_attr_get_payload_len(ip[CTA_IP_V4_SRC]) != 4)
                return 0;
        /* a TCP connection in TIME_WAIT or CLOSE is over: conntrack only remembers it */
        if (tb[CTA_PROTOINFO]) {
                const struct nlattr *pi[CTA_PROTOINFO_MAX + 1], *tcp[CTA_PROTOINFO_TCP_MAX + 1];
                if (sf_nl_parse_nested(tb[CTA_PROTOINFO], pi, CTA_PROTOINFO_MAX) >= 0 && pi[CTA_PROTOINFO_TCP] &&
                    sf_nl_parse_nested(pi[CTA_PROTOINFO_TCP], tcp, CTA_PROTOINFO_TCP_MAX) >= 0 &&
                    tcp[CTA_PROTOINFO_TCP_STATE]) {
                        uint8_t st = mnl_attr_get_u8(tcp[CTA_PROTOINFO_TCP_STATE]);
                        if (st == TCP_CONNTRACK_TIME_WAIT || st == TCP_CONNTRACK_CLOSE)
                                return 0;
                }
        }
        inet_ntop(AF_INET, mnl_attr_get_payload(ip[CTA_IP_V4_SRC]), b, sizeof(b));
        json_object_set_new(c->by_ip, b, json_integer(json_integer_value(json_object_get(c->by_ip, b)) + 1));
        return 0;
}

static void route_connections(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *ns = svc_netns(a, req->segs[3]);
        _cleanup_close_ int fd = sf_netns_open(ns, &e);
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_nlreq_ sf_nlreq *r = sf_nlreq_new();
        struct ct_count c = { json_object() };
        struct nfgenmsg *nfg;
        int rc;

        if (fd < 0) {
                json_decref(c.by_ip);
                sf_http_resp_errorf(resp, -ENOENT, NULL, "no service %s on this node", req->segs[3]);
                return;
        }
        rc = sf_nl_open_proto(NETLINK_NETFILTER, fd, &nl, &e);
        if (rc >= 0) {
                sf_nlreq_begin(r, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_DUMP, "list connections");
                nfg = sf_nlreq_reserve(r, sizeof(*nfg));
                if (nfg) {
                        nfg->nfgen_family = AF_INET;
                        nfg->version = NFNETLINK_V0;
                }
                rc = sf_nlreq_end(r, &e);
        }
        if (rc >= 0)
                rc = sf_nl_exec(nl, r, ct_cb, &c, &e);
        if (rc < 0) {
                json_decref(c.by_ip);
                sf_http_resp_error(resp, &e);
                return;
        }
        sf_http_resp_json(resp, 200, json_pack("{s:o}", "backends", c.by_ip));
}

/* POST /agent/v1/probe {"ip", "port", "timeout_ms"}: a TCP connect from this node (the
 * gateway of the workload's network), retried until it succeeds or the time is up. */
static void route_probe(void *u, sf_http_req *req, sf_http_resp *resp)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *in = NULL;
        const char *ip = NULL;
        int64_t port = 0, timeout = 5000;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        uint64_t t0 = sf_now_usec(), deadline;
        int r = sf_json_parse(req->body, req->body_len, &in, &e);
        if (r >= 0)
                r = sf_json_str(in, "ip", true, &ip, &e);
        if (r >= 0)
                r = sf_json_int(in, "port", true, 1, 65535, &port, &e);
        if (r >= 0)
                r = sf_json_int(in, "timeout_ms", false, 1, 600000, &timeout, &e);
        if (r >= 0 && inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
                r = sf_err_set(&e, -EINVAL, "ip", "'%s' is not an IPv4 address", ip);
        if (r < 0) {
                sf_http_resp_error(resp, &e);
                return;
        }
        sa.sin_port = htons((uint16_t) port);
        deadline = t0 + (uint64_t) timeout * 1000;
        for (;;) {
                _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                int err = ECONNREFUSED;
                socklen_t l = sizeof(err);
                if (fd >= 0 && (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 ||
                                (errno == EINPROGRESS && poll(&p, 1, 500) == 1 &&
                                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err == 0))) {
                        sf_http_resp_json(resp, 200, json_pack("{s:b, s:f}", "ok", 1,
                                                               "ms", (sf_now_usec() - t0) / 1000.0));
                        return;
                }
                if (sf_now_usec() >= deadline) {
                        sf_http_resp_errorf(resp, -ETIMEDOUT, NULL, "%s:%" PRId64 " did not accept a connection within %" PRId64 " ms",
                                            ip, port, timeout);
                        return;
                }
                usleep(50000);
        }
}

void agent_services_routes(sf_agent *a)
{
        sf_api_add_route(a->api, "GET", "/agent/v1/services/*/connections", route_connections, a);
        sf_api_add_route(a->api, "POST", "/agent/v1/probe", route_probe, a);
}
