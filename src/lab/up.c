/* Bringing a lab up: the underlay bridge, the controller, the sites, then per host a network
 * namespace with its underlay veth and an agent; then waiting until every node is Ready. */
#include <sys/stat.h>

#include "lab/lab-internal.h"
#include "lib/util.h"
#include "net/link.h"
#include "net/netns.h"
#include "net/plumb.h"
#include "net/route.h"

static int wait_controller(sf_lab *lab, uint64_t deadline, sf_err *e)
{
        _cleanup_httpc_ sf_httpc *http = NULL;
        int r = lab_http(lab, 1000, &http, e);
        if (r < 0)
                return r;
        for (;;) {
                struct sf_httpc_resp resp = { 0 };
                _cleanup_free_ char *how = NULL;
                if (lab_proc_exited(&lab->controller, &how)) {
                        _cleanup_free_ char *tail = lab_log_tail(lab->controller.log, 15);
                        return sf_err_set(e, -EIO, NULL, "the controller %s at start%s%s", how,
                                          *tail ? "; the end of its log:" : " (its log is empty)", tail);
                }
                r = sf_httpc_do(http, "GET", "/healthz", NULL, NULL, &resp, NULL);
                if (r >= 0 && resp.status == 200) {
                        sf_httpc_resp_clear(&resp);
                        return 0;
                }
                sf_httpc_resp_clear(&resp);
                if (sf_now_usec() > deadline) {
                        _cleanup_free_ char *tail = lab_log_tail(lab->controller.log, 15);
                        return sf_err_set(e, -ETIMEDOUT, NULL, "the controller does not answer on %s%s%s",
                                          lab->controller_url, *tail ? "; the end of its log:" : "", tail);
                }
                usleep(30000);
        }
}

static int create_sites(sf_lab *lab, sf_err *e)
{
        _cleanup_httpc_ sf_httpc *http = NULL;
        int r = lab_http(lab, 10000, &http, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < lab->n_sites; i++) {
                json_auto_t *body = json_pack("{s:s, s:s, s:s}", "name", lab->sites[i].name, "kind",
                                              lab->sites[i].kind, "description", "lab site");
                r = sf_httpc_call(http, "POST", "/v1/sites", body, NULL, e);
                if (r == -EEXIST) { /* a lab brought up again on its kept state */
                        _cleanup_free_ char *path = xasprintf("/v1/sites/%s", lab->sites[i].name);
                        json_auto_t *patch = json_pack("{s:s}", "kind", lab->sites[i].kind);
                        sf_err_clear(e);
                        r = sf_httpc_call(http, "PATCH", path, patch, NULL, e);
                }
                if (r < 0)
                        return sf_err_wrap(r, e, "create site '%s'", lab->sites[i].name);
        }
        return 0;
}

static int plumb_host(sf_lab *lab, sf_nl *nl, int bridge, sf_lab_host *h, sf_err *e)
{
        sf_prefix a = { .addr = h->ip, .len = lab->subnet.len };
        sf_plumb_cfg pc = {
                .netns_path = h->netns_path,
                .host_ifname = h->veth,
                .bridge_ifindex = bridge,
                .peer_ifname = SF_LAB_HOST_IFNAME,
                .addrs = &a,
                .n_addrs = 1,
        };
        int r = sf_mkdir_p(h->state_dir, 0700, e);
        if (r >= 0)
                r = sf_mkdir_p(h->run_dir, 0700, e);
        if (r >= 0)
                r = sf_plumb_port(nl, &pc, NULL, e);
        return r < 0 ? sf_err_wrap(r, e, "host '%s'", h->name) : 0;
}

/* Why host h is not there yet ("has not registered", ...), NULL when its node is Ready in
 * its site. */
static const char *node_pending(const sf_lab_host *h, json_t *nodes, json_t *sites)
{
        json_t *n, *s, *node = NULL;
        const char *site_id = NULL;
        size_t k;
        json_array_foreach(json_object_get(nodes, "items"), k, n)
                if (STREQ(json_string_value(json_object_get(n, "name")) ?: "", h->name))
                        node = n;
        json_array_foreach(json_object_get(sites, "items"), k, s)
                if (STREQ(json_string_value(json_object_get(s, "name")) ?: "", h->site))
                        site_id = json_string_value(json_object_get(s, "id"));
        if (!node)
                return "has not registered";
        if (!site_id || !STREQ(json_string_value(json_object_get(node, "site_id")) ?: "", site_id))
                return "is not in its site";
        if (!STREQ(json_string_value(json_object_get(json_object_get(node, "status"), "state")) ?: "", "Ready"))
                return "is not Ready";
        return NULL;
}

/* Every host's node is Ready, in its site. */
static int wait_nodes(sf_lab *lab, uint64_t deadline, sf_err *e)
{
        _cleanup_httpc_ sf_httpc *http = NULL;
        int r = lab_http(lab, 5000, &http, e);
        if (r < 0)
                return r;
        for (;;) {
                json_auto_t *nodes = NULL, *sites = NULL;
                const sf_lab_host *late = NULL;
                const char *why = "the controller does not answer";
                size_t ready = 0;
                for (size_t i = 0; i < lab->n_hosts; i++) {
                        sf_lab_host *h = &lab->hosts[i];
                        _cleanup_free_ char *how = NULL;
                        if (lab_proc_exited(&h->agent, &how)) {
                                _cleanup_free_ char *tail = lab_log_tail(h->agent.log, 15);
                                return sf_err_set(e, -EIO, NULL, "the agent of '%s' %s at start%s%s", h->name, how,
                                                  *tail ? "; the end of its log:" : " (its log is empty)", tail);
                        }
                }
                if (sf_httpc_call(http, "GET", "/v1/nodes", NULL, &nodes, NULL) >= 0 &&
                    sf_httpc_call(http, "GET", "/v1/sites", NULL, &sites, NULL) >= 0) {
                        for (size_t i = 0; i < lab->n_hosts; i++) {
                                const char *w = node_pending(&lab->hosts[i], nodes, sites);
                                if (!w)
                                        ready++;
                                else if (!late) {
                                        late = &lab->hosts[i];
                                        why = w;
                                }
                        }
                        if (ready == lab->n_hosts)
                                return 0;
                }
                if (sf_now_usec() > deadline) {
                        _cleanup_free_ char *tail = late ? lab_log_tail(late->agent.log, 15) : xstrdup("");
                        return sf_err_set(e, -ETIMEDOUT, NULL, "%zu of %zu nodes Ready in time: %s%s%s %s%s%s", ready,
                                          lab->n_hosts, late ? "node '" : "", late ? late->name : "", late ? "'" : "",
                                          why, *tail ? "; the end of its agent's log:" : "", tail);
                }
                usleep(100000);
        }
}

static int bring_up(sf_lab *lab, const sf_lab_config *c, sf_err *e)
{
        _cleanup_nl_ sf_nl *nl = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        char ip[SF_ADDR_STRLEN], pfx[SF_PREFIX_STRLEN];
        uint64_t deadline = sf_now_usec() + (uint64_t) (c->timeout_s > 0 ? c->timeout_s : 60) * 1000000;
        int br, r;

        sf_addr_fmt(&lab->bridge_ip, ip);
        r = sf_nl_open(&nl, e);
        if (r < 0)
                return r;
        r = sf_link_create_bridge(nl, &(sf_bridge_cfg) { .name = lab->bridge, .up = true }, e);
        if (r < 0)
                return r;
        br = sf_link_ifindex(nl, lab->bridge, e);
        if (br < 0)
                return br;
        r = sf_ipaddr_add(nl,
                          &(sf_ipaddr_cfg) { .ifindex = br,
                                             .prefix = { .addr = lab->bridge_ip, .len = lab->subnet.len },
                                             .broadcast = true },
                          e);
        if (r < 0)
                return sf_err_wrap(r, e, "address the bridge '%s'", lab->bridge);
        /* Nothing that enters through the bridge is routed on, whatever the host's ip_forward
         * says: the lab's traffic stays in the lab. */
        {
                _cleanup_free_ char *key = xasprintf("net/ipv4/conf/%s/forwarding", lab->bridge);
                r = sf_sysctl_write(-1, key, "0", e);
                if (r < 0)
                        return r;
        }
        lab_progress(c->progress, c->userdata, "underlay: bridge %s %s/%u (subnet %s, not connected to any host interface)",
                     lab->bridge, ip, lab->subnet.len, sf_prefix_fmt(&lab->subnet, pfx));

        strv_push(&argv, xstrdup(lab->sfd));
        strv_push(&argv, xstrdup("--role=controller"));
        strv_push(&argv, xasprintf("--listen=%s:%d", ip, SF_LAB_CONTROLLER_PORT));
        strv_push(&argv, xasprintf("--state-dir=%s", lab->controller_state_dir));
        if (lab->lease_s)
                strv_push(&argv, xasprintf("--lease=%u", lab->lease_s));
        if (lab->log_level)
                strv_push(&argv, xasprintf("--log-level=%s", lab->log_level));
        r = sf_mkdir_p(lab->controller_state_dir, 0700, e);
        if (r >= 0)
                r = lab_proc_spawn(argv, &lab->controller, e);
        if (r < 0)
                return sf_err_wrap(r, e, "start the controller");
        r = sf_lab_save(lab, e);
        if (r < 0)
                return r;
        r = wait_controller(lab, deadline, e);
        if (r < 0)
                return r;
        lab_progress(c->progress, c->userdata, "controller: %s (pid %d)", lab->controller_url, (int) lab->controller.pid);
        r = create_sites(lab, e);
        if (r < 0)
                return r;

        for (size_t i = 0; i < lab->n_hosts; i++) {
                sf_lab_host *h = &lab->hosts[i];
                _cleanup_strv_free_ char **aargv = NULL;
                r = plumb_host(lab, nl, br, h, e);
                if (r < 0)
                        return r;
                aargv = lab_agent_argv(lab, h);
                r = lab_proc_spawn(aargv, &h->agent, e);
                if (r < 0)
                        return sf_err_wrap(r, e, "start the agent of '%s'", h->name);
                r = sf_lab_save(lab, e);
                if (r < 0)
                        return r;
        }
        lab_progress(c->progress, c->userdata, "hosts: %zu network namespace%s, each with an agent; waiting for the nodes to be Ready",
                     lab->n_hosts, lab->n_hosts == 1 ? "" : "s");
        return wait_nodes(lab, deadline, e);
}

int sf_lab_up(const sf_lab_config *c, sf_lab **ret, sf_err *e)
{
        _cleanup_lab_ sf_lab *lab = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ char *state = NULL, *link = NULL;
        bool reuse;
        int r;

        if (geteuid() != 0)
                return sf_err_set(e, -EPERM, NULL,
                                  "a lab needs root: it creates network namespaces, interfaces and containers");
        r = sf_lab_plan(c, &lab, e);
        if (r < 0)
                return r;
        {
                /* Plan again under the lock: another 'lab up' may have made it meanwhile. */
                _cleanup_free_ char *dir = xstrdup(lab->dir);
                bool existed = access(dir, F_OK) == 0;
                sf_lab_free(TAKE_PTR(lab));
                lock = sf_lab_lock(dir, e);
                if (lock < 0)
                        return lock;
                r = sf_lab_plan(c, &lab, e);
                if (r < 0) {
                        if (!existed)
                                sf_rm_rf(dir, NULL);
                        return r;
                }
        }
        state = xasprintf("%s/lab.json", lab->dir);
        reuse = access(state, F_OK) == 0; /* the plan allows it only for a lab that is down */
        /* From here on the state file names everything, and a failure removes it all. */
        r = sf_lab_save(lab, e);
        if (r < 0) {
                if (!reuse)
                        sf_rm_rf(lab->dir, NULL);
                return r;
        }
        r = sf_mkdir_p(lab->run_root, 0755, e);
        if (r >= 0) {
                link = xasprintf("%s/lab.json", lab->run_root);
                if (symlink(state, link) < 0)
                        r = sf_err_errno(e, -errno, "symlink '%s'", link);
        }
        if (r >= 0)
                r = bring_up(lab, c, e);
        if (r < 0) {
                _cleanup_err_ sf_err de = SF_ERR_INIT;
                free(lab->phase);
                lab->phase = xstrdup("failed");
                sf_lab_save(lab, NULL);
                lab_progress(c->progress, c->userdata, "failed: removing what was made");
                if (sf_lab_down(lab, &(sf_lab_down_opts) { .keep_state = reuse, .wait_s = -1, .stop_timeout_s = 5,
                                                           .locked = true },
                                &de) < 0) {
                        _cleanup_free_ char *msg = xstrdup(sf_err_msg(e));
                        sf_err_set(e, r, NULL, "%s; removing the lab failed too: %s (try 'sfctl lab down%s%s')", msg,
                                   sf_err_msg(&de), STREQ(lab->name, SF_LAB_DEFAULT_NAME) ? "" : " --name ",
                                   STREQ(lab->name, SF_LAB_DEFAULT_NAME) ? "" : lab->name);
                }
                return r;
        }
        free(lab->phase);
        lab->phase = xstrdup("up");
        r = sf_lab_save(lab, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(lab);
        return 0;
}
