/* Forwards workload actions that only the node can do (exec, logs) to that node's agent, the
 * way the Kubernetes API server proxies to the kubelet. */
#include "lib/httpc.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

int sf_vim_node_call(sf_vim *v, json_t *node, const char *method, const char *path, json_t *in,
                     long timeout_ms, json_t **ret, sf_err *e)
{
        const char *url = json_string_value(json_object_get(node, "agent_url"));
        _cleanup_httpc_ sf_httpc *c = NULL;
        int r;
        if (!url)
                return sf_err_set(e, -EAGAIN, NULL, "node '%s' has no agent address",
                                  json_string_value(json_object_get(node, "name")));
        r = sf_httpc_new(url, &c, e);
        if (r < 0)
                return r;
        sf_httpc_set_timeout(c, timeout_ms);
        r = sf_httpc_call(c, method, path, in, ret, e);
        if (r < 0 && (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO) && !e->field)
                sf_err_prefix(e, "agent of node '%s'", json_string_value(json_object_get(node, "name")));
        return r;
}

int sf_vim_agent_call(sf_vim *v, sf_store *s, json_t *w, const char *method, const char *action,
                      json_t *in, json_t **ret, sf_err *e)
{
        const char *node_id = json_string_value(json_object_get(w, "node_id"));
        const char *wid = json_string_value(json_object_get(w, "id"));
        const char *kind = json_string_value(json_object_get(w, "kind")) ?: "container";
        _cleanup_httpc_ sf_httpc *c = NULL;
        _cleanup_free_ char *path = NULL;
        json_auto_t *node = NULL;
        const char *url;
        int64_t timeout = 30;
        int r;

        if (!node_id)
                return sf_err_set(e, -EAGAIN, NULL, "%s '%s' is not placed on a node yet", kind,
                                  json_string_value(json_object_get(w, "name")));
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                sf_rd_get(s, &rd);
                r = sf_res_get(&rd, "node", node_id, &node, e);
                if (r < 0)
                        return r;
        }
        url = json_string_value(json_object_get(node, "agent_url"));
        if (!url)
                return sf_err_set(e, -EAGAIN, NULL, "node '%s' has no agent address",
                                  json_string_value(json_object_get(node, "name")));
        if (json_is_integer(json_object_get(in, "timeout")))
                timeout = json_integer_value(json_object_get(in, "timeout"));
        r = sf_httpc_new(url, &c, e);
        if (r < 0)
                return r;
        /* The agent's own deadline is the caller's minus a margin, so its error arrives first. */
        sf_httpc_set_timeout(c, (timeout + 5) * 1000);
        if (STREQ(method, "GET")) {
                const char *tail = json_string_value(json_object_get(in, "tail"));
                _cleanup_free_ char *et = tail ? sf_httpc_escape(tail) : NULL;
                path = xasprintf("/agent/v1/%ss/%s/%s%s%s", kind, wid, action, et ? "?tail=" : "",
                                 et ? et : "");
                r = sf_httpc_call(c, "GET", path, NULL, ret, e);
        } else {
                path = xasprintf("/agent/v1/%ss/%s/%s", kind, wid, action);
                r = sf_httpc_call(c, method, path, in, ret, e);
        }
        if (r < 0 && (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO) && !e->field)
                sf_err_prefix(e, "agent of node '%s'", json_string_value(json_object_get(node, "name")));
        return r;
}
