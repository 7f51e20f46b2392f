/* A lab's live status: its daemons (alive by pid and start time), namespaces and bridge, the
 * controller's health, and each node's state as the controller sees it. */
#include "lab/lab-internal.h"
#include "net/link.h"

int sf_lab_status(sf_lab *lab, json_t **ret, sf_err *e)
{
        json_auto_t *j = sf_lab_to_json(lab), *nodes = NULL, *sites = NULL;
        _cleanup_httpc_ sf_httpc *http = NULL;
        _cleanup_nl_ sf_nl *nl = NULL;
        json_t *ctl = json_object_get(j, "controller"), *h;
        bool running = sf_lab_proc_alive(&lab->controller), healthy = false, all = true;
        _cleanup_free_ char *err = NULL;
        size_t i;

        if (lab_http(lab, 2000, &http, e) < 0)
                return -EIO;
        if (running) {
                struct sf_httpc_resp resp = { 0 };
                _cleanup_err_ sf_err he = SF_ERR_INIT;
                if (sf_httpc_do(http, "GET", "/healthz", NULL, NULL, &resp, &he) >= 0)
                        healthy = resp.status == 200;
                if (!healthy)
                        err = he.code ? xstrdup(sf_err_msg(&he)) : xasprintf("/healthz answers %ld", resp.status);
                sf_httpc_resp_clear(&resp);
                if (healthy && (sf_httpc_call(http, "GET", "/v1/nodes", NULL, &nodes, &he) < 0 ||
                                sf_httpc_call(http, "GET", "/v1/sites", NULL, &sites, &he) < 0)) {
                        healthy = false;
                        err = xstrdup(sf_err_msg(&he));
                }
        }
        json_object_set_new(ctl, "running", json_boolean(running));
        json_object_set_new(ctl, "healthy", json_boolean(healthy));
        sf_json_set_str(ctl, "error", running ? err : "not running");
        all = running && healthy;

        if (sf_nl_open(&nl, NULL) >= 0)
                json_object_set_new(json_object_get(j, "bridge"), "present",
                                    json_boolean(sf_link_ifindex(nl, lab->bridge, NULL) > 0));
        all = all && json_is_true(json_object_get(json_object_get(j, "bridge"), "present"));

        json_array_foreach(json_object_get(j, "hosts"), i, h) {
                sf_lab_host *lh = &lab->hosts[i];
                bool ar = sf_lab_proc_alive(&lh->agent), ns = access(lh->netns_path, F_OK) == 0;
                json_t *node = NULL, *n, *x;
                size_t k;
                json_object_set_new(h, "agent_running", json_boolean(ar));
                json_object_set_new(h, "netns_present", json_boolean(ns));
                json_array_foreach(json_object_get(nodes, "items"), k, n)
                        if (STREQ(json_string_value(json_object_get(n, "name")) ?: "", lh->name))
                                node = n;
                if (node) {
                        json_t *st = json_object_get(node, "status");
                        const char *site = NULL;
                        json_array_foreach(json_object_get(sites, "items"), k, x)
                                if (json_equal(json_object_get(x, "id"), json_object_get(node, "site_id")))
                                        site = json_string_value(json_object_get(x, "name"));
                        x = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
                                      json_string_value(json_object_get(node, "id")), "state",
                                      json_string_value(json_object_get(st, "state")), "reason",
                                      json_string_value(json_object_get(st, "reason")), "heartbeat_at",
                                      json_string_value(json_object_get(st, "heartbeat_at")), "site", site);
                        json_object_set_new(h, "node", x);
                        all = all && STREQ(json_string_value(json_object_get(st, "state")) ?: "", "Ready");
                } else {
                        json_object_set_new(h, "node", json_null());
                        all = false;
                }
                all = all && ar && ns;
        }
        json_object_set_new(j, "healthy", json_boolean(all && STREQ(lab->phase, "up")));
        *ret = json_incref(j);
        return 0;
}
