/* Node data plane, through netlink: one Linux bridge per network in use on this node, with
 * the network's subnet gateways on it (the distributed gateway: every node routes for its own
 * workloads, as Neutron DVR and OVN do); one VXLAN device per network (its VNI) on that
 * bridge when the node has an underlay address, with the forwarding and neighbour entries
 * pre-populated from the controller's port data (l2population: unicast never depends on
 * flooding, and ARP is answered locally by the VXLAN device, so it never crosses the
 * underlay); and the routing policy in nftables (through
 * libnftables, which speaks netlink): traffic between two networks is forwarded only when a
 * router joins their subnets, and nothing from a workload network is forwarded to any other
 * interface of the node, so no lab or workload traffic ever leaves the machine; idle bridges
 * and trunk devices are looked for (a dump of the node's links) on a full sync every 30 s and
 * when the networks in use change, not for every port. Forwarding is enabled per bridge only,
 * never globally. */
#include <inttypes.h>
#include <linux/neighbour.h>
#include <nftables/libnftables.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/neigh.h"
#include "net/netns.h"
#include "net/route.h"

SF_LOG_MODULE("dataplane");

#define BRIDGE_PREFIX "sfb"
#define VXLAN_PREFIX "sfx"
#define VXLAN_PORT 4789
#define BRIDGE_IDLE_USEC (60 * 1000000ULL)
/* A sync that lists the node's links, against drift: a little under the reconciler's 30 s, so
 * that its periodic sync is always one. */
#define DP_FULL_USEC (25 * 1000000ULL)

static char *vxlan_name(json_t *network)
{
        return xasprintf(VXLAN_PREFIX "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(network, "vni")));
}

char *agent_bridge_name(json_t *network)
{
        return xasprintf(BRIDGE_PREFIX "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(network, "vni")));
}

char *agent_host_ifname(const char *port_id)
{
        char hex[13];
        size_t n = 0;
        for (const char *p = port_id; *p && n < 12; p++)
                if (*p != '-')
                        hex[n++] = *p;
        hex[n] = 0;
        return xasprintf("sfv%s", hex);
}

/* The same gateway MAC on every node for a network: a workload sees one gateway wherever it
 * runs, and answers from several nodes agree. */
void agent_gateway_mac(json_t *network, uint8_t mac[6])
{
        uint32_t vni = (uint32_t) json_integer_value(json_object_get(network, "vni"));
        mac[0] = 0x02;
        mac[1] = 0x5f;
        mac[2] = 0xfe;
        mac[3] = (vni >> 16) & 0xff;
        mac[4] = (vni >> 8) & 0xff;
        mac[5] = vni & 0xff;
}

/* The network's VXLAN device on its bridge, when this node has an underlay address. dp_lock
 * held. Returns its ifindex, 0 without an underlay. */
static int vxlan_up(sf_agent *a, sf_nl *nl, json_t *network, int bridge, sf_err *e)
{
        _cleanup_free_ char *name = vxlan_name(network);
        unsigned mtu = (unsigned) json_integer_value(json_object_get(network, "mtu"));
        sf_addr local;
        int ifindex, r;

        if (!a->o.underlay_ip || sf_addr_parse(a->o.underlay_ip, &local) < 0)
                return 0;
        ifindex = sf_link_ifindex(nl, name, NULL);
        if (ifindex > 0)
                return ifindex;
        r = sf_link_create_vxlan(nl,
                                 &(sf_vxlan_cfg) { .name = name,
                                                   .vni = (uint32_t) json_integer_value(json_object_get(network, "vni")),
                                                   .local = local,
                                                   .dstport = VXLAN_PORT,
                                                   .learning = false,
                                                   .proxy = true,
                                                   .mtu = mtu,
                                                   .master = bridge,
                                                   .up = true },
                                 e);
        if (r < 0 && r != -EEXIST)
                return sf_err_wrap(r, e, "VXLAN device for network '%s'",
                                   json_string_value(json_object_get(network, "name")));
        return sf_link_ifindex(nl, name, e);
}

int agent_dp_network_up(sf_agent *a, sf_nl *nl, json_t *network, json_t *subnets, sf_err *e)
{
        _cleanup_free_ char *br = agent_bridge_name(network);
        unsigned mtu = (unsigned) json_integer_value(json_object_get(network, "mtu"));
        uint8_t mac[6];
        json_t *s;
        size_t i;
        int ifindex, r;

        pthread_mutex_lock(&a->dp_lock);
        ifindex = sf_link_ifindex(nl, br, NULL);
        if (ifindex == -ENODEV) {
                agent_gateway_mac(network, mac);
                r = sf_link_create_bridge(nl, &(sf_bridge_cfg) { .name = br, .mtu = mtu, .mac = mac,
                                                                 .up = true },
                                          e);
                if (r < 0 && r != -EEXIST)
                        goto out;
                ifindex = sf_link_ifindex(nl, br, e);
                if (ifindex < 0) {
                        r = ifindex;
                        goto out;
                }
                for (const char *const *k = (const char *const[]) { "forwarding", "arp_notify", NULL }; *k; k++) {
                        _cleanup_free_ char *key = xasprintf("net/ipv4/conf/%s/%s", br, *k);
                        r = sf_sysctl_write(-1, key, "1", e);
                        if (r < 0)
                                goto out;
                }
                log_info("network '%s': bridge %s (VNI %" JSON_INTEGER_FORMAT ", MTU %u)",
                         json_string_value(json_object_get(network, "name")), br,
                         json_integer_value(json_object_get(network, "vni")), mtu);
        } else if (ifindex < 0) {
                r = sf_err_errno(e, ifindex, "look up bridge '%s'", br);
                goto out;
        }
        json_array_foreach(subnets, i, s) {
                sf_prefix cidr;
                sf_addr gw;
                const char *g = json_string_value(json_object_get(s, "gateway_ip"));
                if (!g || sf_addr_parse(g, &gw) < 0 ||
                    sf_prefix_parse(json_string_value(json_object_get(s, "cidr")), true, &cidr) < 0)
                        continue;
                r = sf_ipaddr_add(nl, &(sf_ipaddr_cfg) { .ifindex = ifindex,
                                                         .prefix = { .addr = gw, .len = cidr.len },
                                                         .nodad = true, .broadcast = true },
                                  e);
                if (r == -EEXIST) {
                        sf_err_clear(e);
                        r = 0;
                }
                if (r < 0)
                        goto out;
        }
        r = vxlan_up(a, nl, network, ifindex, e);
        if (r >= 0)
                r = ifindex;
out:
        pthread_mutex_unlock(&a->dp_lock);
        return r;
}

/* The nftables ruleset for the routing policy. */
/* ---- desired state ---- */

static bool is_workload_port(json_t *p)
{
        const char *owner = json_string_value(json_object_get(p, "device_owner"));
        /* trunk subports (bound where their VM is) are on the node like its own ports, and so
         * are service addresses (service.c) */
        return owner && (strncmp(owner, "compute:", 8) == 0 || STREQ(owner, "trunk:subport") ||
                         STREQ(owner, "network:service"));
}

static json_t *port_entry(json_t *p, const char *vtep)
{
        json_t *ips = json_array(), *f;
        size_t i;
        json_array_foreach(json_object_get(p, "fixed_ips"), i, f)
                json_array_append(ips, json_object_get(f, "ip_address"));
        return json_pack("{s:O, s:o, s:s*}", "mac", json_object_get(p, "mac_address"), "ips", ips,
                         "vtep", vtep);
}

/* A port's entries for l2population: its own MAC and fixed IPs, then each allowed address pair
 * that has a MAC of its own (a nested-macvlan container in a VM: its MAC and address live
 * behind the VM's port, so they are wherever that port is bound, and follow it when the VM
 * moves). Pairs without a MAC of their own (a VIP that moves between ports at failover) are
 * left to ARP: a permanent entry would pin them to one port. A pair's address is published
 * when it is one address (a CIDR gets the FDB entry only). */
static void port_entries(json_t *out, json_t *p, const char *vtep)
{
        uint8_t own[6] = { 0 }, m[6];
        json_t *x, *pairs = json_object_get(p, "allowed_address_pairs");
        size_t i;
        json_array_append_new(out, port_entry(p, vtep));
        if (json_array_size(pairs) == 0 ||
            sf_mac_parse(json_string_value(json_object_get(p, "mac_address")) ?: "", own) < 0)
                return;
        json_array_foreach(pairs, i, x) {
                const char *ip = json_string_value(json_object_get(x, "ip_address"));
                char mac[SF_MAC_STRLEN], one[SF_ADDR_STRLEN];
                json_t *ips;
                sf_prefix pf;
                if (sf_mac_parse(json_string_value(json_object_get(x, "mac_address")) ?: "", m) < 0 ||
                    memcmp(m, own, 6) == 0)
                        continue;
                sf_mac_fmt(m, mac); /* the form the FDB listing compares with */
                ips = json_array();
                if (ip && sf_addr_parse(ip, &pf.addr) >= 0)
                        json_array_append_new(ips, json_string(sf_addr_fmt(&pf.addr, one)));
                else if (ip && sf_prefix_parse(ip, true, &pf) >= 0 && pf.len == sf_addr_bits(pf.addr.family))
                        json_array_append_new(ips, json_string(sf_addr_fmt(&pf.addr, one)));
                json_array_append_new(out, json_pack("{s:s, s:o, s:s*}", "mac", mac, "ips", ips, "vtep", vtep));
        }
}

json_t *agent_dp_desired(sf_agent *a)
{
        json_t *dp = json_object(), *nets = json_object(), *routers = json_object();
        json_t *ports = agent_cache_kind(a, "port"), *p, *r, *x;
        const char *id;
        size_t i;

        json_object_set_new(dp, "underlay", a->o.underlay_ip ? json_string(a->o.underlay_ip) : json_null());
        /* 1. Networks with a port of this node's workloads. */
        json_object_foreach(ports, id, p) {
                const char *net = json_string_value(json_object_get(p, "network_id"));
                const char *node = json_string_value(json_object_get(p, "node_id"));
                if (!is_workload_port(p) || !net || !node || !STREQ(node, a->node_id))
                        continue;
                if (agent_cache_get(a, "network", net) && !json_object_get(nets, net))
                        json_object_set_new(nets, net, json_object());
        }
        /* 2. Networks a router joins to those: this node routes for its workloads (DVR), so it
         *    needs their bridge and gateway too. */
        json_object_foreach(agent_cache_kind(a, "router"), id, r) {
                bool touches = false;
                json_array_foreach(json_object_get(r, "subnet_ids"), i, x) {
                        json_t *sn = agent_cache_get(a, "subnet", json_string_value(x));
                        if (sn && json_object_get(nets, json_string_value(json_object_get(sn, "network_id"))))
                                touches = true;
                }
                if (!touches)
                        continue;
                json_object_set(routers, id, r);
                json_array_foreach(json_object_get(r, "subnet_ids"), i, x) {
                        json_t *sn = agent_cache_get(a, "subnet", json_string_value(x));
                        const char *net = json_string_value(json_object_get(sn, "network_id"));
                        if (net && agent_cache_get(a, "network", net) && !json_object_get(nets, net))
                                json_object_set_new(nets, net, json_object());
                }
        }
        /* 3. For each: its subnets, its ports here and elsewhere (with the VTEP they are behind). */
        json_object_foreach(nets, id, x) {
                json_t *local = json_array(), *remote = json_array(), *vteps = json_array(), *sns = json_array();
                const char *sid, *pid;
                json_t *sn;
                json_object_set_new(x, "network", json_deep_copy(agent_cache_get(a, "network", id)));
                json_object_foreach(agent_cache_kind(a, "subnet"), sid, sn)
                        if (STREQ(json_string_value(json_object_get(sn, "network_id")) ?: "", id))
                                json_array_append_new(sns, json_deep_copy(sn));
                json_object_foreach(ports, pid, p) {
                        const char *node = json_string_value(json_object_get(p, "node_id"));
                        json_t *n;
                        const char *vtep;
                        if (!is_workload_port(p) || !node ||
                            !STREQ(json_string_value(json_object_get(p, "network_id")) ?: "", id))
                                continue;
                        if (STREQ(node, a->node_id)) {
                                port_entries(local, p, NULL);
                                continue;
                        }
                        n = agent_cache_get(a, "node", node);
                        vtep = json_string_value(json_object_get(n, "underlay_ip"));
                        if (!vtep || !a->o.underlay_ip || STREQ(vtep, a->o.underlay_ip))
                                continue;
                        port_entries(remote, p, vtep);
                        {
                                bool seen = false;
                                json_t *v;
                                size_t k;
                                json_array_foreach(vteps, k, v)
                                        seen |= STREQ(json_string_value(v), vtep);
                                if (!seen)
                                        json_array_append_new(vteps, json_string(vtep));
                        }
                }
                json_object_set_new(x, "subnets", sns);
                json_object_set_new(x, "local", local);
                json_object_set_new(x, "remote", remote);
                json_object_set_new(x, "vteps", vteps);
        }
        json_object_set_new(dp, "networks", nets);
        /* Bridges of networks that still exist: an idle one is kept a while (see agent_dp_sync). */
        {
                json_t *known = json_array(), *net;
                const char *nid;
                json_object_foreach(agent_cache_kind(a, "network"), nid, net) {
                        _cleanup_free_ char *br = agent_bridge_name(net);
                        json_array_append_new(known, json_string(br));
                }
                json_object_set_new(dp, "known_bridges", known);
        }
        json_object_set_new(dp, "routers", json_deep_copy(routers));
        json_decref(routers);
        json_object_set_new(dp, "trunks", agent_trunk_desired(a)); /* trunk.c */
        json_object_set_new(dp, "services", agent_services_desired(a)); /* service.c */
        return dp;
}

/* ---- routing policy (nftables) ---- */

/* The ruleset: each bridge may forward to itself (two subnets of one network share its L2),
 * and to the bridges its routers join it with; nothing else to or from a workload network. */
static char *policy_ruleset(json_t *nets, json_t *routers)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        bool first = true;
        const char *id;
        json_t *n, *rt;

        if (!f)
                sf_oom();
        fprintf(f, "table inet superfluid\ndelete table inet superfluid\n"
                   "table inet superfluid {\n  set routed {\n    type ifname . ifname\n");
        json_object_foreach(nets, id, n) {
                _cleanup_free_ char *br = agent_bridge_name(json_object_get(n, "network"));
                fprintf(f, "%s\"%s\" . \"%s\"", first ? "    elements = { " : ", ", br, br);
                first = false;
        }
        json_object_foreach(routers, id, rt) {
                json_t *x, *y;
                size_t i, j;
                json_array_foreach(json_object_get(rt, "subnet_ids"), i, x)
                        json_array_foreach(json_object_get(rt, "subnet_ids"), j, y) {
                                json_t *nx = NULL, *ny = NULL, *nn, *sn;
                                const char *nid;
                                size_t k;
                                if (i == j)
                                        continue;
                                /* find the networks of the two subnets among ours */
                                json_object_foreach(nets, nid, nn)
                                        json_array_foreach(json_object_get(nn, "subnets"), k, sn) {
                                                if (json_equal(json_object_get(sn, "id"), x))
                                                        nx = json_object_get(nn, "network");
                                                if (json_equal(json_object_get(sn, "id"), y))
                                                        ny = json_object_get(nn, "network");
                                        }
                                if (nx && ny) {
                                        _cleanup_free_ char *bx = agent_bridge_name(nx), *by = agent_bridge_name(ny);
                                        fprintf(f, "%s\"%s\" . \"%s\"", first ? "    elements = { " : ", ", bx, by);
                                        first = false;
                                }
                        }
        }
        if (!first)
                fprintf(f, " }\n");
        fprintf(f, "  }\n"
                   "  chain forward {\n"
                   "    type filter hook forward priority 0; policy accept;\n"
                   "    iifname \"" BRIDGE_PREFIX "*\" oifname \"" BRIDGE_PREFIX "*\" iifname . oifname @routed accept\n"
                   "    iifname \"" BRIDGE_PREFIX "*\" counter drop comment \"not routed, or leaving the node\"\n"
                   "    oifname \"" BRIDGE_PREFIX "*\" counter drop comment \"from outside the workload networks\"\n"
                   "  }\n}\n");
        fclose(f);
        return buf;
}

static int nft_apply(const char *ruleset, sf_err *e)
{
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        int r = 0;
        if (!ctx)
                return sf_err_set(e, -ENOMEM, NULL, "nftables context");
        nft_ctx_buffer_output(ctx);
        nft_ctx_buffer_error(ctx);
        if (nft_run_cmd_from_buffer(ctx, ruleset) != 0) {
                const char *err = nft_ctx_get_error_buffer(ctx);
                r = sf_err_set(e, -EIO, NULL, "nftables: %s", err && *err ? err : "failed");
        }
        nft_ctx_free(ctx);
        return r;
}

/* ---- l2population ---- */

static bool mac_eq(const uint8_t a[6], const uint8_t b[6]) { return memcmp(a, b, 6) == 0; }

/* FDB entries on the VXLAN device: one per remote MAC (its VTEP), plus the all-zeros entry
 * per remote VTEP for broadcast and multicast (head-end replication); ARP never needs it,
 * since the device answers ARP itself (proxy). */
static int sync_fdb(sf_nl *nl, int vx, json_t *nd, sf_err *e)
{
        sf_fdb_entry *have = NULL;
        size_t n_have = 0;
        json_t *want = json_array(), *x;
        size_t i;
        int r;

        json_array_foreach(json_object_get(nd, "remote"), i, x)
                json_array_append_new(want, json_pack("{s:O, s:O}", "mac", json_object_get(x, "mac"),
                                                      "dst", json_object_get(x, "vtep")));
        json_array_foreach(json_object_get(nd, "vteps"), i, x)
                json_array_append_new(want, json_pack("{s:s, s:O}", "mac", "00:00:00:00:00:00", "dst", x));

        for (int tries = 0; (r = sf_fdb_list(nl, vx, &have, &n_have, e)) == -EAGAIN && tries < 5; tries++)
                sf_err_clear(e);
        if (r < 0)
                goto out;
        /* Remove what is not wanted (only entries with a remote: the device's own are not ours). */
        for (size_t k = 0; k < n_have; k++) {
                char mac[SF_MAC_STRLEN], dst[SF_ADDR_STRLEN];
                bool keep = false;
                if (have[k].ifindex != vx || !(have[k].flags & NTF_SELF) || !have[k].dst.family)
                        continue;
                sf_mac_fmt(have[k].mac, mac);
                sf_addr_fmt(&have[k].dst, dst);
                json_array_foreach(want, i, x)
                        if (STREQ(json_string_value(json_object_get(x, "mac")), mac) &&
                            STREQ(json_string_value(json_object_get(x, "dst")), dst)) {
                                keep = true;
                                json_object_set_new(x, "present", json_true());
                        }
                if (keep)
                        continue;
                r = sf_fdb_del(nl, &(sf_fdb_cfg) { .ifindex = vx, .dst = have[k].dst,
                                                   .mac = { have[k].mac[0], have[k].mac[1], have[k].mac[2],
                                                            have[k].mac[3], have[k].mac[4], have[k].mac[5] } },
                               SF_NL_MISSING_OK, e);
                if (r < 0)
                        goto out;
        }
        json_array_foreach(want, i, x) {
                sf_fdb_cfg c = { .ifindex = vx };
                if (json_is_true(json_object_get(x, "present")))
                        continue;
                if (sf_mac_parse(json_string_value(json_object_get(x, "mac")), c.mac) < 0 ||
                    sf_addr_parse(json_string_value(json_object_get(x, "dst")), &c.dst) < 0)
                        continue;
                r = sf_fdb_append(nl, &c, e);
                if (r == -EEXIST) {
                        sf_err_clear(e);
                        r = 0;
                }
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        free(have);
        json_decref(want);
        return r;
}

/* Permanent neighbour entries on a device: want is [{mac, ips}]; entries we did not make
 * (not permanent) are left alone. */
static int sync_neigh(sf_nl *nl, int ifindex, json_t *want_ports, sf_err *e)
{
        sf_neigh_entry *have = NULL;
        size_t n_have = 0;
        json_t *x, *ip;
        size_t i, j;
        int r;

        for (int tries = 0; (r = sf_neigh_list(nl, AF_INET, ifindex, &have, &n_have, e)) == -EAGAIN && tries < 5; tries++)
                sf_err_clear(e);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n_have; k++) {
                char a[SF_ADDR_STRLEN], m[SF_MAC_STRLEN];
                bool keep = false;
                if (have[k].ifindex != ifindex || !(have[k].state & NUD_PERMANENT))
                        continue;
                sf_addr_fmt(&have[k].addr, a);
                sf_mac_fmt(have[k].lladdr, m);
                json_array_foreach(want_ports, i, x)
                        json_array_foreach(json_object_get(x, "ips"), j, ip)
                                if (STREQ(json_string_value(ip), a) &&
                                    STREQ(json_string_value(json_object_get(x, "mac")), m))
                                        keep = true;
                if (keep)
                        continue;
                r = sf_neigh_del(nl, &(sf_neigh_cfg) { .ifindex = ifindex, .addr = have[k].addr },
                                 SF_NL_MISSING_OK, e);
                if (r < 0)
                        goto out;
        }
        json_array_foreach(want_ports, i, x)
                json_array_foreach(json_object_get(x, "ips"), j, ip) {
                        sf_neigh_cfg c = { .ifindex = ifindex };
                        bool present = false;
                        if (sf_addr_parse(json_string_value(ip), &c.addr) < 0 || c.addr.family != AF_INET ||
                            sf_mac_parse(json_string_value(json_object_get(x, "mac")), c.lladdr) < 0)
                                continue;
                        for (size_t k = 0; k < n_have; k++)
                                present |= have[k].ifindex == ifindex && (have[k].state & NUD_PERMANENT) &&
                                           sf_addr_eq(&have[k].addr, &c.addr) && mac_eq(have[k].lladdr, c.lladdr);
                        if (present)
                                continue;
                        r = sf_neigh_replace(nl, &c, e);
                        if (r < 0)
                                goto out;
                }
        r = 0;
out:
        free(have);
        return r;
}

/* ---- sync ---- */

static bool wanted(json_t *nets, const char *ifname, const char *prefix)
{
        const char *id;
        json_t *n;
        json_object_foreach(nets, id, n) {
                _cleanup_free_ char *name = STREQ(prefix, BRIDGE_PREFIX) ? agent_bridge_name(json_object_get(n, "network"))
                                                                         : vxlan_name(json_object_get(n, "network"));
                if (STREQ(name, ifname))
                        return true;
        }
        return false;
}

/* What decides whether idle bridges may have to go: the bridges in use and those of networks
 * that still exist. */
static json_t *bridges_key(json_t *dp)
{
        json_t *inuse = json_array(), *nd;
        const char *id;
        json_object_foreach(json_object_get(dp, "networks"), id, nd) {
                _cleanup_free_ char *br = agent_bridge_name(json_object_get(nd, "network"));
                json_array_append_new(inuse, json_string(br));
        }
        return json_pack("{s:o, s:O?}", "in_use", inuse, "known", json_object_get(dp, "known_bridges"));
}

int agent_dp_sync(sf_agent *a, json_t *dp, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ char *ruleset = NULL;
        _cleanup_err_ sf_err le = SF_ERR_INIT;
        json_t *nets = json_object_get(dp, "networks"), *nd;
        json_auto_t *bkey = bridges_key(dp);
        sf_link_info *links = NULL;
        size_t n = 0;
        const char *id;
        uint64_t now = sf_now_usec();
        bool full, trunks, collect, pending = false;
        int r, lr = 0;

        r = sf_nl_open(&nl, e);
        if (r < 0)
                return r;
        /* Networks in use: bridge, gateways, VXLAN, FDB, neighbours. */
        json_object_foreach(nets, id, nd) {
                json_t *all = json_array();
                int br, vx = 0;
                br = agent_dp_network_up(a, nl, json_object_get(nd, "network"), json_object_get(nd, "subnets"), e);
                if (br < 0) {
                        json_decref(all);
                        return br;
                }
                pthread_mutex_lock(&a->dp_lock);
                if (a->o.underlay_ip) {
                        _cleanup_free_ char *vn = vxlan_name(json_object_get(nd, "network"));
                        vx = sf_link_ifindex(nl, vn, e);
                        r = vx < 0 ? vx : sync_fdb(nl, vx, nd, e);
                        if (r >= 0)
                                r = sync_neigh(nl, vx, json_object_get(nd, "remote"), e);
                } else
                        r = 0;
                /* The gateway (this node) knows every port's MAC, here and elsewhere. */
                json_array_extend(all, json_object_get(nd, "local"));
                json_array_extend(all, json_object_get(nd, "remote"));
                if (r >= 0)
                        r = sync_neigh(nl, br, all, e);
                pthread_mutex_unlock(&a->dp_lock);
                json_decref(all);
                if (r < 0)
                        return sf_err_wrap(r, e, "network '%s'",
                                           json_string_value(json_object_get(json_object_get(nd, "network"), "name")));
        }

        /* The node's links are listed (one dump for the trunks and the idle bridges) only when
         * something may have to go: on a full sync (the first, then every DP_FULL_USEC, which
         * also removes what a crash left behind), while trunks exist, and when the bridges in
         * use or the networks changed. Not for each port of a burst: a dump costs every link
         * of the node, and a node with many workloads has many. */
        full = !a->dp_full_at || now - a->dp_full_at >= DP_FULL_USEC;
        trunks = full || agent_trunk_active(a, dp);
        collect = full || !a->dp_bridges_key || !json_equal(bkey, a->dp_bridges_key);
        if (trunks || collect) {
                for (int tries = 0; (lr = sf_link_list(nl, "sf", &links, &n, &le)) == -EAGAIN && tries < 5; tries++)
                        sf_err_clear(&le);
                if (lr < 0) /* the rest is synced; the error makes the next pass try again */
                        trunks = collect = full = false;
        }
        if (trunks)
                agent_trunk_sync(a, nl, dp, links, n); /* trunk.c: VLAN subports, before idle bridges go */
        {
                _cleanup_err_ sf_err se = SF_ERR_INIT;
                if (agent_services_sync(a, nl, dp, &se) < 0) /* service.c: VIP namespaces */
                        log_warn("services: %s", sf_err_msg(&se));
        }

        pthread_mutex_lock(&a->dp_lock);
        {
                json_t *br;
                size_t i;
                json_array_foreach(json_object_get(bkey, "in_use"), i, br)
                        json_object_set_new(a->bridge_used, json_string_value(br), json_integer((json_int_t) now));
        }
        /* Bridges and VXLAN devices of networks no longer in use go, once no workload
         * interface is attached to the bridge (one being torn down keeps it a little longer). */
        for (size_t i = 0; collect && i < n; i++) {
                bool busy = false, known = false;
                json_t *x;
                size_t kb;
                if (!links[i].kind || !STREQ(links[i].kind, "bridge") ||
                    strncmp(links[i].name, BRIDGE_PREFIX, strlen(BRIDGE_PREFIX)) != 0)
                        continue;
                if (wanted(nets, links[i].name, BRIDGE_PREFIX))
                        continue;
                pending = true; /* kept (below) or removed: looked at again next time */
                /* The network still exists: keep its idle bridge for a minute, so that a burst
                 * of short-lived workloads does not recreate it each time. A deleted network's
                 * bridge goes at once. */
                json_array_foreach(json_object_get(dp, "known_bridges"), kb, x)
                        known |= STREQ(json_string_value(x), links[i].name);
                x = json_object_get(a->bridge_used, links[i].name);
                if (known && (!x || sf_now_usec() - (uint64_t) json_integer_value(x) < BRIDGE_IDLE_USEC)) {
                        if (!x)
                                json_object_set_new(a->bridge_used, links[i].name, json_integer((json_int_t) sf_now_usec()));
                        continue;
                }
                for (size_t k = 0; k < n; k++)
                        busy |= links[k].master == links[i].ifindex &&
                                !(links[k].kind && STREQ(links[k].kind, "vxlan"));
                if (busy)
                        continue;
                for (size_t k = 0; k < n; k++)
                        if (links[k].master == links[i].ifindex && links[k].kind &&
                            STREQ(links[k].kind, "vxlan")) {
                                r = sf_link_del(nl, SF_LINK_IDX(links[k].ifindex), SF_NL_MISSING_OK, e);
                                if (r < 0)
                                        goto out;
                        }
                r = sf_link_del(nl, SF_LINK_IDX(links[i].ifindex), SF_NL_MISSING_OK, e);
                if (r < 0)
                        goto out;
                json_object_del(a->bridge_used, links[i].name);
                log_info("bridge %s removed: no workload of its network is on this node", links[i].name);
        }
        ruleset = policy_ruleset(nets, json_object_get(dp, "routers"));
        if (!a->nft_applied || !STREQ(a->nft_applied, ruleset)) {
                r = nft_apply(ruleset, e);
                if (r < 0)
                        goto out;
                free(a->nft_applied);
                a->nft_applied = xstrdup(ruleset);
        }
        /* Nothing left to collect: the next syncs skip the dump until the bridges in use or
         * the networks change (or the next full sync). */
        if (collect) {
                if (a->dp_bridges_key)
                        json_decref(a->dp_bridges_key);
                a->dp_bridges_key = pending ? NULL : json_incref(bkey);
        }
        if (full)
                a->dp_full_at = now;
        r = 0;
        if (lr < 0)
                sf_err_move(e, &le), r = lr;
out:
        sf_link_info_free_array(links, n);
        pthread_mutex_unlock(&a->dp_lock);
        return r;
}

int agent_dp_init(sf_agent *a, sf_err *e)
{
        pthread_mutex_init(&a->dp_lock, NULL);
        a->bridge_used = json_object();
        return 0;
}
