/* Trunks on this node, the host side of Neutron trunks: a VM's tap (on its parent port's
 * network bridge) carries its subports as 802.1Q VLANs; untagged frames stay on the parent's
 * network, frames tagged with a subport's VLAN id reach the subport's network with the tag
 * popped, and the reverse direction pushes the tag, so containers nested in the VM are on the
 * virtual networks with one encapsulation (the node's VXLAN), never two.
 *
 * Two datapaths, chosen once per node from its kernel features (and reported as
 * status.info.trunk_datapath):
 *   - "vlan" (8021q): a kernel VLAN device per subport on the tap ("sfq<port><vid>v"), on the
 *     subport network's bridge; when tc BPF works too, the BPF program runs in filter mode on
 *     the tap so that frames of unknown VLAN ids are dropped and counted rather than flooded
 *     tagged onto the parent's network;
 *   - "bpf" (no 8021q, clsact and eBPF sched_cls): per subport a veth pair "sfq<port><vid>a"
 *     (program side) / "sfq<port><vid>b" (on the subport network's bridge), and one BPF object
 *     per tap (src/net/vlan-bpf.c): sf_vlan_demux on the tap's ingress pops and redirects by
 *     VLAN id through a map, sf_vlan_mux on each "a" end pushes the tag and redirects to the
 *     tap; a subport is a map entry, not a program. Unknown VLAN ids are dropped and counted.
 * <port> is the first 7 hex digits of the parent port's id and <vid> the VLAN id in 4
 * digits, so every object of a trunk is found by its name, and nothing is left behind when a
 * trunk, a subport or a tap goes (the sweep also removes what an earlier agent left).
 *
 * Driven by the data plane sync (dataplane.c): agent_trunk_desired() adds what the cache
 * wants to the data plane's inputs, agent_trunk_sync() makes the kernel match and reports
 * each trunk's status to the controller. */
#include <inttypes.h>

#include "agent/agent-internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/vlan-bpf.h"

SF_LOG_MODULE("trunk");

#define TRUNK_PREFIX "sfq"
#define KEY_LEN 7

struct agent_trunk {
        char id[40];
        char key[KEY_LEN + 1]; /* of the parent port: the names' middle */
        char *name;
        char *tap;
        int tap_ifindex;
        sf_vlan_bpf *bpf;      /* NULL: none (yet) */
        json_t *plumbed;       /* [{vid, port_id, bridge, devices: [...]}] */
        const char *status;    /* DOWN, ACTIVE, DEGRADED, ERROR */
        char *message;
        int64_t generation;
        bool reported;         /* the controller has this status */
};

struct agent_trunks {
        pthread_mutex_t lock;  /* everything here; never held while taking a->lock */
        const char *datapath;  /* "vlan", "bpf" or "none" */
        bool bpf;              /* tc BPF works (the "bpf" datapath, or the filter of "vlan") */
        struct agent_trunk **v;
        size_t n;
};

static const char *sv(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void key_of(const char *port_id, char out[KEY_LEN + 1])
{
        size_t n = 0;
        for (const char *p = port_id; p && *p && n < KEY_LEN; p++)
                if (*p != '-')
                        out[n++] = *p;
        out[n] = 0;
}

static char *dev_name(const char *key, unsigned vid, char kind)
{
        return xasprintf(TRUNK_PREFIX "%s%04u%c", key, vid, kind);
}

/* "sfq<key><vid><kind>" -> key, vid, kind; false for other names. */
static bool parse_name(const char *name, char key[KEY_LEN + 1], unsigned *vid, char *kind)
{
        size_t plen = strlen(TRUNK_PREFIX);
        if (strlen(name) != plen + KEY_LEN + 4 + 1 || strncmp(name, TRUNK_PREFIX, plen) != 0)
                return false;
        memcpy(key, name + plen, KEY_LEN);
        key[KEY_LEN] = 0;
        *vid = 0;
        for (int i = 0; i < 4; i++) {
                char c = name[plen + KEY_LEN + i];
                if (c < '0' || c > '9')
                        return false;
                *vid = *vid * 10 + (unsigned) (c - '0');
        }
        *kind = name[plen + KEY_LEN + 4];
        return *kind == 'a' || *kind == 'b' || *kind == 'v';
}

static bool has_feature(sf_agent *a, const char *name)
{
        json_t *x;
        size_t i;
        json_array_foreach(a->features, i, x)
                if (STREQ(json_string_value(x) ?: "", name))
                        return true;
        return false;
}

/* ---- state ---- */

static struct agent_trunk *find(struct agent_trunks *tk, const char *id)
{
        for (size_t i = 0; i < tk->n; i++)
                if (STREQ(tk->v[i]->id, id))
                        return tk->v[i];
        return NULL;
}

static void trunk_free(struct agent_trunk *t)
{
        if (!t)
                return;
        sf_vlan_bpf_free(t->bpf);
        free(t->name);
        free(t->tap);
        free(t->message);
        if (t->plumbed)
                json_decref(t->plumbed);
        free(t);
}

static void forget(struct agent_trunks *tk, struct agent_trunk *t)
{
        for (size_t i = 0; i < tk->n; i++)
                if (tk->v[i] == t) {
                        tk->v[i] = tk->v[--tk->n];
                        break;
                }
        trunk_free(t);
}

static void set_status(struct agent_trunk *t, const char *status, const char *fmt, ...) _printf_(3, 4);
static void set_status(struct agent_trunk *t, const char *status, const char *fmt, ...)
{
        va_list ap;
        char *m;
        va_start(ap, fmt);
        m = xvasprintf(fmt, ap);
        va_end(ap);
        if (!t->status || !STREQ(t->status, status) || !t->message || !STREQ(t->message, m))
                t->reported = false;
        t->status = status;
        free(t->message);
        t->message = m;
}

int agent_trunk_init(sf_agent *a, sf_err *e)
{
        struct agent_trunks *tk = new0(struct agent_trunks, 1);
        const char *force = getenv("SUPERFLUID_TRUNK_DATAPATH"); /* tests: "bpf" on an 8021q host */
        pthread_mutex_init(&tk->lock, NULL);
        tk->bpf = has_feature(a, "clsact") && has_feature(a, "bpf_sched_cls");
        bool want_bpf = force && STREQ(force, "bpf");
        if (has_feature(a, "8021q") && !(want_bpf && tk->bpf))
                tk->datapath = "vlan";
        else if (tk->bpf) {
                tk->datapath = "bpf";
                if (has_feature(a, "8021q"))
                        log_info("SUPERFLUID_TRUNK_DATAPATH=bpf: trunk subports use the BPF VLAN datapath "
                                 "although 8021q is available");
                else
                        log_info("8021q is not available: trunk subports use the BPF VLAN datapath");
        } else {
                tk->datapath = "none";
                log_warn("neither 8021q nor tc BPF (clsact, eBPF sched_cls) is available: trunk "
                         "subports cannot be carried on this node");
        }
        if (STREQ(tk->datapath, "vlan") && !tk->bpf)
                log_warn("tc BPF is not available: trunk subports use VLAN devices, but frames of "
                         "unknown VLAN ids from VMs are not filtered");
        a->trunks = tk;
        sf_api_add_route(a->api, "GET", "/agent/v1/trunks", agent_trunk_route_list, a);
        sf_api_add_metrics(a->api, agent_trunk_metrics, a);
        return 0;
}

void agent_trunk_free(sf_agent *a)
{
        struct agent_trunks *tk = a ? a->trunks : NULL;
        if (!tk)
                return;
        /* The kernel keeps the datapath: a restarted agent takes it over. */
        while (tk->n)
                forget(tk, tk->v[0]);
        free(tk->v);
        pthread_mutex_destroy(&tk->lock);
        free(tk);
        a->trunks = NULL;
}

/* ---- desired state (a->lock held) ---- */

json_t *agent_trunk_desired(sf_agent *a)
{
        json_t *out = json_object(), *t;
        const char *id;
        json_object_foreach(agent_cache_kind(a, "trunk"), id, t) {
                json_t *parent = agent_cache_get(a, "port", sv(t, "port_id"));
                json_t *subs, *s;
                const char *dev;
                struct lw *w;
                char key[KEY_LEN + 1];
                size_t i;
                if (!a->node_id || !STREQ(sv(t, "node_id") ?: "", a->node_id) || !parent)
                        continue;
                subs = json_array();
                json_array_foreach(json_object_get(t, "sub_ports"), i, s) {
                        json_t *net = agent_cache_get(a, "network", sv(s, "network_id"));
                        json_t *sns = json_array(), *sn;
                        const char *sid;
                        if (!net)
                                continue;
                        json_object_foreach(agent_cache_kind(a, "subnet"), sid, sn)
                                if (STREQ(sv(sn, "network_id") ?: "", sv(net, "id")))
                                        json_array_append_new(sns, json_deep_copy(sn));
                        json_array_append_new(subs, json_pack("{s:O, s:O, s:o, s:o}", "vid",
                                                              json_object_get(s, "segmentation_id"), "port_id",
                                                              json_object_get(s, "port_id"), "network",
                                                              json_deep_copy(net), "subnets", sns));
                }
                _cleanup_free_ char *tap = agent_tap_name(sv(parent, "id"));
                key_of(sv(parent, "id"), key);
                dev = sv(parent, "device_id");
                w = dev && *dev ? agent_lw_find(a, dev) : NULL;
                json_object_set_new(out, id,
                                    json_pack("{s:O, s:O, s:s, s:s, s:O, s:i, s:o}", "name", json_object_get(t, "name"),
                                              "parent", json_object_get(parent, "id"), "key", key, "tap", tap,
                                              "generation",
                                              json_object_get(t, "generation"),
                                              /* the VM's state: its tap comes and goes with it */
                                              "device_state", w ? (int) w->state : -1, "subports", subs));
        }
        return out;
}

/* ---- kernel ---- */

static sf_link_info *link_named(sf_link_info *links, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (STREQ(links[i].name, name))
                        return &links[i];
        return NULL;
}

static void disable_ipv6(const char *ifname)
{
        /* The veth ends are plumbing: no link-local addresses, no router solicitations leaking
         * onto the subport network. A kernel without IPv6 has nothing to disable. */
        _cleanup_free_ char *k = xasprintf("net/ipv6/conf/%s/disable_ipv6", ifname);
        (void) sf_sysctl_write(-1, k, "1", NULL);
}

/* The subport's device on the bridge: a veth pair (bpf) or a VLAN device on the tap (vlan).
 * Returns the ifindex the VLAN map points at: the "a" end, or the VLAN device. */
static int plumb_subport(sf_agent *a, sf_nl *nl, struct agent_trunk *t, json_t *sub, sf_link_info *links,
                         size_t n, json_t *devs, sf_err *e)
{
        json_t *net = json_object_get(sub, "network");
        unsigned vid = (unsigned) json_integer_value(json_object_get(sub, "vid"));
        unsigned mtu = (unsigned) json_integer_value(json_object_get(net, "mtu"));
        _cleanup_free_ char *na = dev_name(t->key, vid, 'a'), *nb = dev_name(t->key, vid, 'b'),
                             *nv = dev_name(t->key, vid, 'v');
        sf_link_info *la, *lb, *lv;
        int br, r;

        br = agent_dp_network_up(a, nl, net, json_object_get(sub, "subnets"), e);
        if (br < 0)
                return br;
        if (STREQ(a->trunks->datapath, "vlan")) {
                json_array_append_new(devs, json_string(nv));
                lv = link_named(links, n, nv);
                if (lv && lv->link != t->tap_ifindex) {
                        r = sf_link_del(nl, SF_LINK_IDX(lv->ifindex), SF_NL_MISSING_OK, e);
                        if (r < 0)
                                return r;
                        lv = NULL;
                }
                if (!lv) {
                        r = sf_link_create_vlandev(nl, &(sf_vlandev_cfg) { .name = nv, .parent = t->tap_ifindex,
                                                                           .id = (uint16_t) vid, .mtu = mtu },
                                                   e);
                        if (r < 0)
                                return r;
                        disable_ipv6(nv);
                        log_info("trunk '%s': VLAN %u on %s -> bridge of network '%s' (VLAN device %s)",
                                 t->name, vid, t->tap, sv(net, "name"), nv);
                } else if (lv->master == br && (lv->flags & IFF_UP))
                        return lv->ifindex;
                r = sf_link_set(nl, SF_LINK_NAME(nv), &(sf_link_change) { .up = 1, .master = br, .netns_fd = -1 }, e);
                return r < 0 ? r : sf_link_ifindex(nl, nv, e);
        }
        json_array_append_new(devs, json_string(na));
        json_array_append_new(devs, json_string(nb));
        la = link_named(links, n, na);
        lb = link_named(links, n, nb);
        if (!la || !lb || la->link != lb->ifindex) {
                /* Missing or half there: make the pair again. */
                if (la)
                        sf_link_del(nl, SF_LINK_IDX(la->ifindex), SF_NL_MISSING_OK, NULL);
                if (lb)
                        sf_link_del(nl, SF_LINK_IDX(lb->ifindex), SF_NL_MISSING_OK, NULL);
                r = sf_link_create_veth(nl, &(sf_veth_cfg) { .name = na, .mtu = mtu, .peer_name = nb,
                                                             .peer_netns_fd = -1 },
                                        e);
                if (r < 0)
                        return r;
                disable_ipv6(na);
                disable_ipv6(nb);
                log_info("trunk '%s': VLAN %u on %s -> bridge of network '%s' (BPF, veth %s/%s)", t->name,
                         vid, t->tap, sv(net, "name"), na, nb);
        } else if (lb->master == br && (lb->flags & IFF_UP) && (la->flags & IFF_UP))
                return la->ifindex;
        r = sf_link_set(nl, SF_LINK_NAME(nb), &(sf_link_change) { .up = 1, .master = br, .netns_fd = -1 }, e);
        if (r >= 0)
                r = sf_link_set_up(nl, SF_LINK_NAME(na), true, e);
        return r < 0 ? r : sf_link_ifindex(nl, na, e);
}

/* Deletes the devices of key (every VLAN id, or only those not in keep). */
static void remove_devices(sf_nl *nl, const char *key, sf_link_info *links, size_t n, json_t *keep)
{
        for (size_t i = 0; i < n; i++) {
                char k[KEY_LEN + 1], kind;
                unsigned vid;
                bool kept = false;
                json_t *x;
                size_t j;
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (!parse_name(links[i].name, k, &vid, &kind) || !STREQ(k, key) || kind == 'b')
                        continue; /* a "b" end goes with its "a" end */
                json_array_foreach(keep, j, x)
                        kept |= (unsigned) json_integer_value(json_object_get(x, "vid")) == vid;
                if (kept)
                        continue;
                if (sf_link_del(nl, SF_LINK_IDX(links[i].ifindex), SF_NL_MISSING_OK, &e) < 0)
                        log_warn("remove %s: %s, ignoring", links[i].name, sf_err_msg(&e));
                else
                        log_info("VLAN %u device %s removed", vid, links[i].name);
        }
        /* An orphan "b" end (its pair was cut) */
        for (size_t i = 0; i < n; i++) {
                char k[KEY_LEN + 1], kind;
                unsigned vid;
                bool kept = false;
                json_t *x;
                size_t j;
                if (!parse_name(links[i].name, k, &vid, &kind) || !STREQ(k, key) || kind != 'b' || links[i].link > 0)
                        continue;
                json_array_foreach(keep, j, x)
                        kept |= (unsigned) json_integer_value(json_object_get(x, "vid")) == vid;
                if (!kept)
                        sf_link_del(nl, SF_LINK_IDX(links[i].ifindex), SF_NL_MISSING_OK, NULL);
        }
}

/* Makes one trunk's tap match d. tk->lock held. */
static void sync_one(sf_agent *a, sf_nl *nl, struct agent_trunk *t, json_t *d, sf_link_info *links, size_t n)
{
        struct agent_trunks *tk = a->trunks;
        sf_link_info *tap = link_named(links, n, sv(d, "tap"));
        json_t *subs = json_object_get(d, "subports"), *s, *plumbed = json_array();
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        size_t i, ok = 0;
        _cleanup_free_ char *first_err = NULL;

        free(t->tap);
        t->tap = xstrdup(sv(d, "tap"));
        free(t->name);
        t->name = xstrdup(sv(d, "name") ?: t->id);
        t->generation = json_integer_value(json_object_get(d, "generation"));
        if (!tap) {
                /* No VM here (yet, or any more): whatever was plumbed for it goes. */
                sf_vlan_bpf_free(t->bpf); /* its filter went with the tap */
                t->bpf = NULL;
                t->tap_ifindex = 0;
                remove_devices(nl, t->key, links, n, NULL);
                set_status(t, "DOWN", "tap %s of the parent port is not on this node (its VM is not running)", t->tap);
                json_decref(plumbed);
                return;
        }
        if (t->tap_ifindex != tap->ifindex) {
                sf_vlan_bpf_free(t->bpf); /* a new tap: a new program (or the one left by an earlier agent) */
                t->bpf = NULL;
                t->tap_ifindex = tap->ifindex;
        }
        if (STREQ(tk->datapath, "none")) {
                set_status(t, "ERROR", "this node has neither 8021q nor tc BPF: subports cannot be carried");
                json_decref(plumbed);
                return;
        }
        if (!t->bpf && tk->bpf &&
            sf_vlan_bpf_open(tap->ifindex, STREQ(tk->datapath, "bpf") ? SF_VLAN_BPF_REDIRECT : SF_VLAN_BPF_FILTER,
                             true, &t->bpf, &e) < 0) {
                set_status(t, "ERROR", "BPF VLAN datapath on %s: %s", t->tap, sf_err_msg(&e));
                log_warn("trunk '%s': %s", t->name, t->message);
                json_decref(plumbed);
                return;
        }
        json_array_foreach(subs, i, s) {
                unsigned vid = (unsigned) json_integer_value(json_object_get(s, "vid"));
                json_t *devs = json_array();
                int ifindex = plumb_subport(a, nl, t, s, links, n, devs, &e);
                if (ifindex >= 0 && t->bpf)
                        ifindex = sf_vlan_bpf_set(t->bpf, vid, ifindex, &e);
                if (ifindex < 0) {
                        log_warn("trunk '%s': VLAN %u: %s", t->name, vid, sf_err_msg(&e));
                        if (!first_err)
                                first_err = xasprintf("VLAN %u: %s", vid, sf_err_msg(&e));
                        sf_err_clear(&e);
                        json_decref(devs);
                        continue;
                }
                ok++;
                json_array_append_new(plumbed, json_pack("{s:i, s:O, s:s, s:o}", "vid", (int) vid, "port_id",
                                                         json_object_get(s, "port_id"), "network",
                                                         sv(json_object_get(s, "network"), "name") ?: "",
                                                         "devices", devs));
        }
        /* VLAN ids no longer wanted: out of the map first (their frames are dropped and counted
         * from now on), then their devices. */
        if (t->bpf) {
                _cleanup_free_ sf_vlan_bpf_entry *have = NULL;
                size_t nh = 0;
                if (sf_vlan_bpf_list(t->bpf, &have, &nh, &e) >= 0)
                        for (size_t k = 0; k < nh; k++) {
                                bool want = false;
                                json_array_foreach(plumbed, i, s)
                                        want |= (unsigned) json_integer_value(json_object_get(s, "vid")) == have[k].vid;
                                if (!want && sf_vlan_bpf_unset(t->bpf, have[k].vid, &e) < 0) {
                                        log_warn("trunk '%s': %s, ignoring", t->name, sf_err_msg(&e));
                                        sf_err_clear(&e);
                                }
                        }
                sf_err_clear(&e);
        }
        remove_devices(nl, t->key, links, n, plumbed);
        if (t->plumbed)
                json_decref(t->plumbed);
        t->plumbed = plumbed;
        if (ok == json_array_size(subs))
                set_status(t, "ACTIVE", "%s", "");
        else
                set_status(t, ok ? "DEGRADED" : "ERROR", "%zu of %zu subports failed; %s",
                           json_array_size(subs) - ok, json_array_size(subs), first_err ?: "");
}

/* A trunk no longer here (deleted, or its VM moved away): everything of it goes. */
static void teardown(sf_nl *nl, struct agent_trunk *t, sf_link_info *links, size_t n)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (t->bpf && sf_vlan_bpf_remove(TAKE_PTR(t->bpf), &e) < 0)
                log_warn("trunk '%s': %s, ignoring", t->name ? t->name : t->id, sf_err_msg(&e));
        remove_devices(nl, t->key, links, n, NULL);
        log_info("trunk '%s' removed from this node", t->name ? t->name : t->id);
}

/* Reports each trunk's status when the controller's copy differs. Locks: none held. */
static void report(sf_agent *a, json_t *reports)
{
        _cleanup_httpc_ sf_httpc *http = NULL;
        const char *id;
        json_t *body;
        if (json_object_size(reports) == 0 || agent_http_new(a, &http, NULL) < 0)
                return;
        sf_httpc_set_timeout(http, 5000);
        json_object_foreach(reports, id, body) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                _cleanup_free_ char *path = xasprintf("/v1/trunks/%s", id);
                int r = sf_httpc_call(http, "PATCH", path, body, NULL, &e);
                if (r < 0 && r != -ENOENT)
                        log_debug("status of trunk %s not reported: %s", id, sf_err_msg(&e));
                else if (r >= 0) {
                        pthread_mutex_lock(&a->trunks->lock);
                        struct agent_trunk *t = find(a->trunks, id);
                        if (t)
                                t->reported = true;
                        pthread_mutex_unlock(&a->trunks->lock);
                }
        }
}

bool agent_trunk_active(sf_agent *a, json_t *dp)
{
        struct agent_trunks *tk = a->trunks;
        bool active;
        if (!tk)
                return false;
        pthread_mutex_lock(&tk->lock);
        active = tk->n > 0 || json_object_size(json_object_get(dp, "trunks")) > 0;
        pthread_mutex_unlock(&tk->lock);
        return active;
}

void agent_trunk_sync(sf_agent *a, sf_nl *nl, json_t *dp, sf_link_info *links, size_t n)
{
        struct agent_trunks *tk = a->trunks;
        json_t *want = json_object_get(dp, "trunks"), *d;
        json_auto_t *reports = json_object();
        const char *id;

        if (!tk)
                return;
        pthread_mutex_lock(&tk->lock);
        json_object_foreach(want, id, d) {
                struct agent_trunk *t = find(tk, id);
                if (!t) {
                        t = new0(struct agent_trunk, 1);
                        snprintf(t->id, sizeof(t->id), "%s", id);
                        tk->v = xrealloc(tk->v, sizeof(*tk->v) * (tk->n + 1));
                        tk->v[tk->n++] = t;
                }
                snprintf(t->key, sizeof(t->key), "%s", sv(d, "key") ?: "");
                sync_one(a, nl, t, d, links, n);
        }
        for (size_t i = 0; i < tk->n; i++)
                if (!json_object_get(want, tk->v[i]->id)) {
                        teardown(nl, tk->v[i], links, n);
                        forget(tk, tk->v[i]);
                        i--;
                }
        /* What no trunk here wants, left by an earlier agent or a crash: devices with our
         * prefix and our program on taps. */
        for (size_t i = 0; i < n; i++) {
                char k[KEY_LEN + 1], kind;
                unsigned vid;
                bool known = false;
                if (!parse_name(links[i].name, k, &vid, &kind))
                        continue;
                json_object_foreach(want, id, d)
                        known |= STREQ(sv(d, "key") ?: "", k);
                if (!known && (kind != 'b' || links[i].link <= 0)) {
                        log_info("removing %s: no trunk on this node wants it", links[i].name);
                        sf_link_del(nl, SF_LINK_IDX(links[i].ifindex), SF_NL_MISSING_OK, NULL);
                }
        }
        if (tk->bpf)
                for (size_t i = 0; i < n; i++) {
                        uint32_t prog = 0;
                        bool known = false;
                        if (strncmp(links[i].name, "sft", 3) != 0)
                                continue;
                        json_object_foreach(want, id, d)
                                known |= STREQ(sv(d, "tap") ?: "", links[i].name);
                        if (known || sf_vlan_bpf_query(links[i].ifindex, &prog, NULL) < 0 || !prog)
                                continue;
                        log_info("removing the VLAN program from %s: no trunk on this node wants it", links[i].name);
                        sf_vlan_bpf_detach(links[i].ifindex, true, NULL);
                }
        for (size_t i = 0; i < tk->n; i++) {
                struct agent_trunk *t = tk->v[i];
                json_object_set_new(reports, t->id,
                                    json_pack("{s:s, s:s, s:s, s:I}", "status", t->status ?: "DOWN", "status_message",
                                              t->message ?: "", "datapath", tk->datapath, "observed_generation",
                                              (json_int_t) t->generation));
        }
        pthread_mutex_unlock(&tk->lock);

        /* Only what the controller does not have yet. */
        agent_lock(a);
        {
                json_t *body;
                void *tmp;
                json_object_foreach_safe(reports, tmp, id, body) {
                        json_t *cur = agent_cache_get(a, "trunk", id);
                        bool same = cur != NULL;
                        const char *k;
                        json_t *v;
                        json_object_foreach(body, k, v)
                                same &= json_equal(v, json_object_get(cur, k));
                        if (same || !cur)
                                json_object_del(reports, id);
                }
        }
        agent_unlock(a);
        report(a, reports);
}

/* ---- what the node reports ---- */

static json_t *stats_json(struct agent_trunk *t)
{
        sf_vlan_bpf_stats st;
        if (!t->bpf || sf_vlan_bpf_get_stats(t->bpf, &st, NULL) < 0)
                return json_null();
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "demuxed_packets", (json_int_t) st.demux_packets,
                         "demuxed_bytes", (json_int_t) st.demux_bytes, "muxed_packets", (json_int_t) st.mux_packets,
                         "muxed_bytes", (json_int_t) st.mux_bytes, "dropped_unknown_vlan",
                         (json_int_t) st.drop_unknown_vlan_packets, "dropped_other", (json_int_t) st.drop_other_packets);
}

void agent_trunk_node_info(sf_agent *a, json_t *info)
{
        struct agent_trunks *tk = a->trunks;
        json_t *trunks;
        if (!tk)
                return;
        json_object_set_new(info, "trunk_datapath", json_string(tk->datapath));
        /* a->lock is held: never wait for a sync in progress (the next heartbeat has it). */
        if (pthread_mutex_trylock(&tk->lock) != 0)
                return;
        trunks = json_object();
        for (size_t i = 0; i < tk->n; i++) {
                struct agent_trunk *t = tk->v[i];
                json_object_set_new(trunks, t->id,
                                    json_pack("{s:s, s:s?, s:s, s:I, s:o}", "name", t->name ?: t->id, "tap", t->tap,
                                              "status", t->status ?: "DOWN", "subports",
                                              (json_int_t) json_array_size(t->plumbed), "counters", stats_json(t)));
        }
        pthread_mutex_unlock(&tk->lock);
        json_object_set_new(info, "trunks", trunks);
}

void agent_trunk_route_list(void *u, sf_http_req *req, sf_http_resp *resp)
{
        sf_agent *a = u;
        struct agent_trunks *tk = a->trunks;
        json_t *out = json_object(), *list = json_array();
        pthread_mutex_lock(&tk->lock);
        json_object_set_new(out, "datapath", json_string(tk->datapath));
        for (size_t i = 0; i < tk->n; i++) {
                struct agent_trunk *t = tk->v[i];
                json_t *o = json_pack("{s:s, s:s, s:s?, s:i, s:s, s:s, s:I, s:O, s:o}", "id", t->id, "name",
                                      t->name ?: t->id, "tap", t->tap, "tap_ifindex", t->tap_ifindex, "status",
                                      t->status ?: "DOWN", "message", t->message ?: "", "generation",
                                      (json_int_t) t->generation, "subports", t->plumbed ? t->plumbed : json_array(),
                                      "counters", stats_json(t));
                if (t->bpf) {
                        sf_vlan_bpf_ids ids;
                        sf_vlan_bpf_get_ids(t->bpf, &ids);
                        json_object_set_new(o, "bpf",
                                            json_pack("{s:s, s:[i, i], s:[i, i, i, i]}", "mode",
                                                      sf_vlan_bpf_get_mode(t->bpf) == SF_VLAN_BPF_REDIRECT ? "redirect" : "filter",
                                                      "prog_ids", (int) ids.demux_prog, (int) ids.mux_prog, "map_ids",
                                                      (int) ids.cfg_map, (int) ids.vid2if_map, (int) ids.if2vid_map,
                                                      (int) ids.cnt_map));
                }
                json_array_append_new(list, o);
        }
        pthread_mutex_unlock(&tk->lock);
        json_object_set_new(out, "trunks", list);
        sf_http_resp_json(resp, 200, out);
}

static void metric_line(FILE *f, const char *metric, struct agent_trunk *t, const char *lk, const char *lv,
                        uint64_t v)
{
        fprintf(f, "%s{trunk=\"%s\",%s=\"%s\"} %" PRIu64 "\n", metric, t->name ? t->name : t->id, lk, lv, v);
}

void agent_trunk_metrics(void *u, FILE *f)
{
        sf_agent *a = u;
        struct agent_trunks *tk = a->trunks;
        if (!tk)
                return;
        fprintf(f, "# HELP sf_trunk_vlan_packets_total Frames the node's trunk datapath moved, by direction.\n"
                   "# TYPE sf_trunk_vlan_packets_total counter\n");
        pthread_mutex_lock(&tk->lock);
        for (size_t i = 0; i < tk->n; i++) {
                sf_vlan_bpf_stats st;
                if (!tk->v[i]->bpf || sf_vlan_bpf_get_stats(tk->v[i]->bpf, &st, NULL) < 0)
                        continue;
                metric_line(f, "sf_trunk_vlan_packets_total", tk->v[i], "direction", "from_vm", st.demux_packets);
                metric_line(f, "sf_trunk_vlan_packets_total", tk->v[i], "direction", "to_vm", st.mux_packets);
        }
        fprintf(f, "# HELP sf_trunk_vlan_dropped_total Frames from VMs the trunk datapath dropped: "
                   "unknown_vlan is a VLAN id that is none of the trunk's subports (anti-spoofing).\n"
                   "# TYPE sf_trunk_vlan_dropped_total counter\n");
        for (size_t i = 0; i < tk->n; i++) {
                sf_vlan_bpf_stats st;
                if (!tk->v[i]->bpf || sf_vlan_bpf_get_stats(tk->v[i]->bpf, &st, NULL) < 0)
                        continue;
                metric_line(f, "sf_trunk_vlan_dropped_total", tk->v[i], "reason", "unknown_vlan",
                            st.drop_unknown_vlan_packets);
                metric_line(f, "sf_trunk_vlan_dropped_total", tk->v[i], "reason", "other", st.drop_other_packets);
        }
        pthread_mutex_unlock(&tk->lock);
}
