/* Node data plane, through netlink: one Linux bridge per network in use on this node, with
 * the network's subnet gateways on it (the distributed gateway: every node routes for its own
 * workloads, as Neutron DVR and OVN do), and the routing policy in nftables (through
 * libnftables, which speaks netlink): traffic between two networks is forwarded only when a
 * router joins their subnets, and nothing from a workload network is forwarded to any other
 * interface of the node, so no lab or workload traffic ever leaves the machine. Forwarding is
 * enabled per bridge only, never globally. */
#include <inttypes.h>
#include <nftables/libnftables.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/route.h"

SF_LOG_MODULE("dataplane");

#define BRIDGE_PREFIX "sfb"

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
        r = ifindex;
out:
        pthread_mutex_unlock(&a->dp_lock);
        return r;
}

/* The nftables ruleset for the routing policy. */
static char *policy_ruleset(json_t *in_use, json_t *routers, json_t *subnets)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        bool first = true;
        const char *id;
        json_t *net, *rt;

        if (!f)
                sf_oom();
        fprintf(f, "table inet superfluid\ndelete table inet superfluid\n"
                   "table inet superfluid {\n  set routed {\n    type ifname . ifname\n");
        /* Each bridge may forward to itself (two subnets of one network share its L2), and
         * to the bridges its routers join it with. */
        json_object_foreach(in_use, id, net) {
                _cleanup_free_ char *br = NULL;
                if (!json_is_object(net))
                        continue;
                br = agent_bridge_name(net);
                fprintf(f, "%s\"%s\" . \"%s\"", first ? "    elements = { " : ", ", br, br);
                first = false;
        }
        json_object_foreach(routers, id, rt) {
                json_t *x, *y;
                size_t i, j;
                json_array_foreach(json_object_get(rt, "subnet_ids"), i, x) {
                        json_t *sx = json_object_get(subnets, json_string_value(x));
                        json_t *nx = json_object_get(in_use, json_string_value(json_object_get(sx, "network_id")));
                        _cleanup_free_ char *bx = NULL;
                        if (!json_is_object(nx))
                                continue;
                        bx = agent_bridge_name(nx);
                        json_array_foreach(json_object_get(rt, "subnet_ids"), j, y) {
                                json_t *sy = json_object_get(subnets, json_string_value(y));
                                json_t *ny = json_object_get(in_use, json_string_value(json_object_get(sy, "network_id")));
                                _cleanup_free_ char *by = NULL;
                                if (i == j || !json_is_object(ny))
                                        continue;
                                by = agent_bridge_name(ny);
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

int agent_dp_sync(sf_agent *a, json_t *in_use, json_t *routers, json_t *subnets, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_free_ char *ruleset = NULL;
        sf_link_info *links = NULL;
        size_t n = 0;
        int r;

        r = sf_nl_open(&nl, e);
        if (r < 0)
                return r;
        pthread_mutex_lock(&a->dp_lock);
        /* Bridges of networks without local ports go, once nothing is attached to them. */
        /* A dump races with concurrent link changes (other workers plumbing ports): retry. */
        for (int tries = 0; (r = sf_link_list(nl, BRIDGE_PREFIX, &links, &n, e)) == -EAGAIN && tries < 5; tries++)
                sf_err_clear(e);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                const char *id;
                json_t *net;
                bool used = false;
                if (!links[i].kind || !STREQ(links[i].kind, "bridge"))
                        continue;
                json_object_foreach(in_use, id, net) {
                        _cleanup_free_ char *br = json_is_object(net) ? agent_bridge_name(net) : NULL;
                        if (br && STREQ(br, links[i].name))
                                used = true;
                }
                if (used)
                        continue;
                {
                        sf_link_info *ports = NULL;
                        size_t np = 0;
                        bool busy = false;
                        /* Anything still enslaved (a workload being torn down) keeps it. */
                        if (sf_link_list(nl, "", &ports, &np, NULL) >= 0)
                                for (size_t k = 0; k < np; k++)
                                        busy |= ports[k].master == links[i].ifindex;
                        sf_link_info_free_array(ports, np);
                        if (busy)
                                continue;
                }
                r = sf_link_del(nl, SF_LINK_IDX(links[i].ifindex), SF_NL_MISSING_OK, e);
                if (r < 0)
                        goto out;
                log_info("bridge %s removed: no port of its network is on this node", links[i].name);
        }
        ruleset = policy_ruleset(in_use, routers, subnets);
        if (!a->nft_applied || !STREQ(a->nft_applied, ruleset)) {
                r = nft_apply(ruleset, e);
                if (r < 0)
                        goto out;
                free(a->nft_applied);
                a->nft_applied = xstrdup(ruleset);
        }
        r = 0;
out:
        sf_link_info_free_array(links, n);
        pthread_mutex_unlock(&a->dp_lock);
        return r;
}

int agent_dp_init(sf_agent *a, sf_err *e)
{
        pthread_mutex_init(&a->dp_lock, NULL);
        return 0;
}
