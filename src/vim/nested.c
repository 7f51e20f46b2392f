/* Nested nodes (VMs whose guest runs the Superfluid agent) and the containers placed in them
 * with one encapsulation. A VM (kind vm, nested_mode vlan or macvlan) has a node registered by
 * its guest's agent, whose parent is the VM; containers asked "in VM X" (host_vm) go there, as
 * Kuryr's nested pods do:
 *  - nested-vlan (default): the container's port is a subport of the VM's trunk (made with
 *    the VM, named after it), taken from the trunk's subport pool; the container's record
 *    carries its VLAN id for the guest's agent, which makes a VLAN device on the guest's NIC;
 *  - nested-macvlan: the container's port is on the VM's network and listed in the VM port's
 *    allowed_address_pairs with its MAC; the guest's agent makes a macvlan.
 * Placement in a VM is decided when the container is created (the VM's node must be Ready and
 * fit); the scheduler never puts other workloads on a nested node. */
#include <inttypes.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("nested");

static const char *sv(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

bool sf_nested_mode_valid(const char *mode)
{
        return mode && (STREQ(mode, "vlan") || STREQ(mode, "macvlan"));
}

/* The nested node of VM vm_id (1, *ret set) or 0. */
static int node_of_vm(sf_tx *tx, const char *vm_id, json_t **ret, sf_err *e)
{
        json_auto_t *nodes = NULL;
        json_t *n;
        size_t i;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "node", NULL, &nodes, e);
        if (r < 0)
                return r;
        json_array_foreach(nodes, i, n)
                if (STREQ(sv(n, "parent") ?: "", vm_id)) {
                        *ret = json_incref(n);
                        return 1;
                }
        return 0;
}

int sf_nested_vm_setup(sf_vim *v, sf_tx *tx, json_t *vm, sf_err *e)
{
        json_t *first = json_array_get(json_object_get(vm, "port_ids"), 0);
        json_auto_t *clash = NULL;
        if (!sv(vm, "nested_mode"))
                return 0;
        if (!json_is_string(first))
                return sf_err_set(e, -EINVAL, "networks",
                                  "a nested host VM (nested_mode) needs a network: its first port "
                                  "carries its nested containers");
        /* Its agent registers a node named after it. */
        if (vim_resolve(tx, "node", sv(vm, "name"), "name", &clash, NULL) >= 0)
                return sf_err_set(e, -EEXIST, "name",
                                  "a node named '%s' exists: a nested host VM's node takes the VM's name",
                                  sv(vm, "name"));
        return sf_trunk_nested_ensure(v, tx, vm, json_string_value(first), e);
}

int sf_nested_node_check(sf_tx *tx, const char *parent, json_t *obj, sf_err *e)
{
        json_auto_t *vm = NULL, *vm_node = NULL, *other = NULL;
        sf_rd rd;
        int r = vim_resolve(tx, "container", parent, "parent", &vm, e);
        if (r < 0)
                return r;
        if (!STREQ(sv(vm, "kind") ?: "", "vm") || !sv(vm, "nested_mode"))
                return sf_err_set(e, -EINVAL, "parent", "'%s' is not a VM with a nested_mode", parent);
        if (json_is_true(json_object_get(vm, "deleting")))
                return sf_err_set(e, -EBUSY, "parent", "vm '%s' is being deleted", sv(vm, "name"));
        if (!STREQ(sv(obj, "name") ?: "", sv(vm, "name")))
                return sf_err_set(e, -EINVAL, "name", "the node of VM '%s' must be named after it",
                                  sv(vm, "name"));
        r = node_of_vm(tx, sv(vm, "id"), &other, e);
        if (r < 0)
                return r;
        if (r > 0)
                return sf_err_set(e, -EEXIST, "parent", "vm '%s' has a node already", sv(vm, "name"));
        json_object_set(obj, "parent", json_object_get(vm, "id"));
        json_object_set(obj, "nested_mode", json_object_get(vm, "nested_mode"));
        json_object_set(obj, "underlay_ip", json_null());
        /* Where the VM is, so is its node. */
        sf_rd_from_tx(tx, &rd);
        if (sv(vm, "node_id") && sf_res_get(&rd, "node", sv(vm, "node_id"), &vm_node, NULL) >= 0)
                json_object_set(obj, "site_id", json_object_get(vm_node, "site_id"));
        return 0;
}

int sf_nested_place(sf_vim *v, sf_tx *tx, json_t *obj, const char *host_vm, const char *mode,
                    char **ret_node, sf_err *e)
{
        json_auto_t *vm = NULL, *node = NULL;
        _cleanup_free_ char *reason = NULL;
        int r = vim_resolve(tx, "container", host_vm, "host_vm", &vm, e);
        if (r < 0)
                return r;
        if (!STREQ(sv(vm, "kind") ?: "", "vm") || !sv(vm, "nested_mode"))
                return sf_err_set(e, -EINVAL, "host_vm",
                                  "'%s' is not a VM that hosts containers (create it with nested_mode)",
                                  host_vm);
        if (json_is_true(json_object_get(vm, "deleting")))
                return sf_err_set(e, -EBUSY, "host_vm", "vm '%s' is being deleted", sv(vm, "name"));
        if (mode && !sf_nested_mode_valid(mode))
                return sf_err_set(e, -EINVAL, "nested_mode", "must be vlan or macvlan");
        json_object_set_new(obj, "nested",
                            json_pack("{s:O, s:O, s:s, s:{}}", "vm", json_object_get(vm, "id"), "vm_name",
                                      json_object_get(vm, "name"), "mode", mode ?: sv(vm, "nested_mode"),
                                      "vlans"));
        r = node_of_vm(tx, sv(vm, "id"), &node, e);
        if (r < 0)
                return r;
        if (r == 0)
                return sf_err_set(e, -ENOSPC, "host_vm",
                                  "vm '%s' has no node yet: its agent registers once the guest has booted",
                                  sv(vm, "name"));
        r = sf_sched_check_node(v, tx, obj, node, &reason, e);
        if (r < 0)
                return r;
        if (reason)
                return sf_err_set(e, -ENOSPC, "host_vm", "%s", reason);
        *ret_node = xstrdup(sv(node, "id"));
        return 0;
}

/* The VM's port that carries its nested containers: its first one. */
static int vm_port(sf_tx *tx, json_t *obj, json_t **ret_vm, json_t **ret_port, sf_err *e)
{
        json_t *nested = json_object_get(obj, "nested");
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "container", sv(nested, "vm"), ret_vm, e);
        if (r < 0)
                return r;
        return sf_res_get(&rd, "port", json_string_value(json_array_get(json_object_get(*ret_vm, "port_ids"), 0)),
                          ret_port, e);
}

int sf_nested_port(sf_vim *v, sf_tx *tx, json_t *obj, json_t *net_entry, const char *node_id,
                   json_t **ret, sf_err *e)
{
        json_t *nested = json_object_get(obj, "nested"), *fip, *pairs;
        json_auto_t *vm = NULL, *vport = NULL, *net = NULL, *req = NULL, *upd = NULL, *patch = NULL;
        const char *cid = sv(obj, "id");
        size_t k;
        int r = vim_resolve(tx, "network", sv(net_entry, "network"), "network", &net, e);
        if (r >= 0)
                r = vm_port(tx, obj, &vm, &vport, e);
        if (r < 0)
                return r;
        if (STREQ(sv(nested, "mode"), "vlan")) {
                int vid = 0;
                if (json_object_get(net_entry, "ip") || json_object_get(net_entry, "mac"))
                        return sf_err_set(e, -EINVAL, json_object_get(net_entry, "ip") ? "ip" : "mac",
                                          "a nested-vlan port comes from the VM's subport pool: its "
                                          "address cannot be chosen");
                r = sf_trunk_nested_take(v, tx, sv(vport, "id"), sv(net, "id"), cid, ret, &vid, e);
                if (r >= 0)
                        json_object_set_new(json_object_get(nested, "vlans"), sv(*ret, "id"), json_integer(vid));
                return r;
        }
        /* macvlan: on the VM's own network, allowed on the VM's port. */
        if (!json_equal(json_object_get(net, "id"), json_object_get(vport, "network_id")))
                return sf_err_set(e, -EINVAL, "network",
                                  "a nested-macvlan container of vm '%s' can only be on the VM's network",
                                  sv(vm, "name"));
        req = json_pack("{s:O, s:s, s:s, s:s}", "network", json_object_get(net, "id"), "device_owner",
                        "compute:container", "device_id", cid, "node", node_id);
        if (json_object_get(net_entry, "ip"))
                json_object_set_new(req, "fixed_ips",
                                    json_pack("[{s:O}]", "ip_address", json_object_get(net_entry, "ip")));
        if (json_object_get(net_entry, "mac"))
                json_object_set(req, "mac_address", json_object_get(net_entry, "mac"));
        r = sf_vim_port_create(v, tx, req, ret, e);
        if (r < 0)
                return r;
        pairs = json_deep_copy(json_object_get(vport, "allowed_address_pairs"));
        if (!json_is_array(pairs)) {
                json_decref(pairs);
                pairs = json_array();
        }
        json_array_foreach(json_object_get(*ret, "fixed_ips"), k, fip)
                json_array_append_new(pairs, json_pack("{s:O, s:O}", "ip_address",
                                                       json_object_get(fip, "ip_address"), "mac_address",
                                                       json_object_get(*ret, "mac_address")));
        patch = json_pack("{s:o}", "allowed_address_pairs", pairs);
        r = vim_port_kind.update(v, tx, vport, patch, &upd, e);
        if (r < 0)
                sf_err_wrap(r, e, "allowing the container's address on vm '%s''s port", sv(vm, "name"));
        return r;
}

int sf_nested_release(sf_vim *v, sf_tx *tx, json_t *obj, sf_err *e)
{
        json_t *pid;
        size_t i;
        json_array_foreach(json_object_get(obj, "port_ids"), i, pid) {
                json_auto_t *port = NULL, *vm = NULL, *vport = NULL;
                sf_rd rd;
                int r;
                sf_rd_from_tx(tx, &rd);
                r = sf_res_get(&rd, "port", json_string_value(pid), &port, NULL);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return sf_err_set(e, r, NULL, "port lookup failed");
                if (STREQ(sv(port, "device_owner") ?: "", SF_TRUNK_SUBPORT_OWNER)) {
                        r = sf_trunk_nested_release(v, tx, sv(port, "id"), e);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* macvlan: no longer allowed on the VM's port (which may be gone already). */
                if (vm_port(tx, obj, &vm, &vport, NULL) >= 0) {
                        json_t *keep = json_array(), *x;
                        json_auto_t *upd = NULL, *patch = NULL;
                        size_t k;
                        json_array_foreach(json_object_get(vport, "allowed_address_pairs"), k, x)
                                if (!json_equal(json_object_get(x, "mac_address"), json_object_get(port, "mac_address")))
                                        json_array_append(keep, x);
                        patch = json_pack("{s:o}", "allowed_address_pairs", keep);
                        r = vim_port_kind.update(v, tx, vport, patch, &upd, e);
                        if (r < 0)
                                return r;
                }
                r = sf_vim_port_delete(v, tx, port, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sf_nested_vm_check_remove(sf_tx *tx, json_t *vm, sf_err *e)
{
        json_auto_t *node = NULL;
        int64_t n = 0;
        sf_rd rd;
        int r;
        if (!sv(vm, "nested_mode"))
                return 0;
        r = node_of_vm(tx, sv(vm, "id"), &node, e);
        if (r <= 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_count(&rd, "container", &(struct sf_res_filter) { .node = sv(node, "id") }, &n, e);
        if (r < 0)
                return r;
        if (n > 0)
                return sf_err_set(e, -EBUSY, NULL, "vm '%s' hosts %" PRId64 " container%s: delete %s first",
                                  sv(vm, "name"), n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
        return 0;
}

int sf_nested_vm_purge(sf_vim *v, sf_tx *tx, json_t *vm, sf_err *e)
{
        json_auto_t *node = NULL, *cs = NULL;
        json_t *c;
        size_t i;
        sf_rd rd;
        int r;
        if (!sv(vm, "nested_mode"))
                return 0;
        r = node_of_vm(tx, sv(vm, "id"), &node, e);
        if (r <= 0)
                return r;
        /* A forced delete takes the containers in it along (their agent went with the VM). */
        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "container", &(struct sf_res_filter) { .node = sv(node, "id") }, &cs, e);
        json_array_foreach(cs, i, c)
                if (r >= 0)
                        r = sf_vim_container_purge(v, tx, c, e);
        if (r < 0)
                return r;
        log_info("node '%s' goes with its VM", sv(node, "name"));
        return vim_node_kind.remove(v, tx, node, NULL, e);
}
