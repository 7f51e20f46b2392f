/* Unit test: trunks (src/vim/trunk.c). Validation with field paths, VLAN id allocation
 * (requested first, lowest free, gaps, exhaustion), refusals (duplicates, out of range, a port
 * already in a trunk, deletes while in use), subports following their parent's binding, the
 * store-level uniqueness, and concurrent add_subports from many threads on one trunk. */
#include <pthread.h>

#include "vim-fixture.h"

/* Runs a trunk action (add_subports, remove_subports) as the API does: its own transaction. */
static int action(const char *trunk, const char *name, const char *body, json_t **ret, sf_err *e)
{
        struct sf_kind *k = kind("trunk");
        json_auto_t *cur = get("trunk", trunk), *in = J(body);
        json_t *out = NULL;
        int r;
        assert_non_null(cur);
        for (const struct sf_kind_action *a = k->actions; a->name; a++)
                if (STREQ(a->name, name)) {
                        r = a->fn(k->ctx, fx->store, cur, in, &out, e);
                        if (r >= 0 && ret)
                                *ret = out;
                        else if (out)
                                json_decref(out);
                        return r;
                }
        fail_msg("no action %s", name);
        return -1;
}

static json_t *action_ok(const char *trunk, const char *name, const char *body)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *o = NULL;
        if (action(trunk, name, body, &o, &e) < 0)
                fail_msg("%s %s: %s (field %s)", name, body, sf_err_msg(&e), e.field ? e.field : "-");
        return o;
}

static void action_fails(const char *trunk, const char *name, const char *body, int code,
                         const char *field, const char *msg)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int64_t rev = sf_store_revision(fx->store);
        int r = action(trunk, name, body, NULL, &e);
        if (r >= 0)
                fail_msg("%s %s succeeded, expected %d", name, body, code);
        check_err(&e, code, field, msg);
        assert_int_equal(sf_store_revision(fx->store), rev); /* nothing half-done */
}

static void nets(void)
{
        json_decref(create_ok("network", "{'name': 'a'}"));
        json_decref(create_ok("subnet", "{'name': 'a4', 'network': 'a', 'cidr': '10.1.0.0/16'}"));
        json_decref(create_ok("network", "{'name': 'b'}"));
        json_decref(create_ok("subnet", "{'name': 'b4', 'network': 'b', 'cidr': '10.2.0.0/16'}"));
        json_decref(create_ok("network", "{'name': 'c'}"));
        json_decref(create_ok("subnet", "{'name': 'c4', 'network': 'c', 'cidr': '10.3.0.0/16'}"));
}

static json_t *sub(json_t *trunk, size_t i) { return json_array_get(json_object_get(trunk, "sub_ports"), i); }

static void test_trunk_create(void **state)
{
        nets();
        json_decref(create_ok("node", "{'name': 'n1'}"));
        json_auto_t *parent = port_ok("{'name': 'vm1', 'network': 'a', 'node': 'n1', "
                                      "'device_owner': 'compute:container', 'device_id': 'x'}");
        json_auto_t *s1 = port_ok("{'name': 's1', 'network': 'b'}");
        json_auto_t *s2 = port_ok("{'name': 's2', 'network': 'c'}");
        json_auto_t *t = create_ok("trunk", "{'name': 't1', 'port': 'vm1', 'sub_ports': ["
                                            "{'port': 's1', 'segmentation_type': 'vlan', 'segmentation_id': 100},"
                                            "{'port': 's2'}]}");
        assert_string_equal(str(t, "port_id"), str(parent, "id"));
        assert_string_equal(str(t, "network_id"), str(parent, "network_id"));
        assert_string_equal(str(t, "node_id"), str(parent, "node_id"));
        assert_string_equal(str(t, "status"), "BUILD"); /* bound: its node has work to do */
        assert_true(json_is_true(json_object_get(t, "admin_state_up")));
        assert_int_equal(json_array_size(json_object_get(t, "sub_ports")), 2);
        /* sorted by VLAN id: the allocated one (1, lowest free) first */
        assert_int_equal(num(sub(t, 0), "segmentation_id"), 1);
        assert_string_equal(str(sub(t, 0), "port_id"), str(s2, "id"));
        assert_int_equal(num(sub(t, 1), "segmentation_id"), 100);
        assert_string_equal(str(sub(t, 1), "segmentation_type"), "vlan");
        assert_string_equal(str(sub(t, 1), "network_id"), str(s1, "network_id"));
        assert_string_equal(str(sub(t, 1), "mac_address"), str(s1, "mac_address"));
        /* the subports belong to the trunk and are bound where the parent is */
        json_auto_t *p1 = get("port", "s1");
        assert_string_equal(str(p1, "device_owner"), "trunk:subport");
        assert_string_equal(str(p1, "device_id"), str(t, "id"));
        assert_string_equal(str(p1, "node_id"), str(parent, "node_id"));
        /* unbound parent: DOWN, subports unbound */
        json_decref(port_ok("{'name': 'vm2', 'network': 'a'}"));
        json_decref(port_ok("{'name': 's3', 'network': 'b'}"));
        json_auto_t *t2 = create_ok("trunk", "{'port': 'vm2', 'sub_ports': [{'port': 's3', 'segmentation_id': 100}]}");
        assert_string_equal(str(t2, "status"), "DOWN");
        assert_true(json_is_null(json_object_get(t2, "node_id")));
        assert_true(strncmp(str(t2, "name"), "trunk-", 6) == 0);
        json_auto_t *p3 = get("port", "s3");
        assert_true(json_is_null(json_object_get(p3, "node_id")));
        /* a trunk without subports */
        json_decref(port_ok("{'name': 'vm3', 'network': 'a'}"));
        json_auto_t *t3 = create_ok("trunk", "{'name': 't3', 'port': 'vm3'}");
        assert_int_equal(json_array_size(json_object_get(t3, "sub_ports")), 0);
}

static void test_trunk_validation(void **state)
{
        nets();
        json_decref(port_ok("{'name': 'p', 'network': 'a'}"));
        json_decref(port_ok("{'name': 's1', 'network': 'b'}"));
        json_decref(port_ok("{'name': 's2', 'network': 'c'}"));
        create_fails("trunk", "{'name': 't'}", -EINVAL, "port", "required");
        create_fails("trunk", "{'port': 'nope'}", -EINVAL, "port", "port 'nope' does not exist");
        create_fails("trunk", "{'port': 'p', 'color': 1}", -EINVAL, "color", NULL);
        create_fails("trunk", "{'port': 'p', 'sub_ports': {}}", -EINVAL, "sub_ports", NULL);
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'segmentation_id': 1}, "
                              "{'port': 's2', 'segmentation_id': 4095}]}",
                     -EINVAL, "sub_ports[1].segmentation_id", "4095 is not a VLAN id (1-4094)");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'segmentation_id': 0}]}",
                     -EINVAL, "sub_ports[0].segmentation_id", "0 is not a VLAN id (1-4094)");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'segmentation_id': -7}]}",
                     -EINVAL, "sub_ports[0].segmentation_id", "-7 is not a VLAN id");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'segmentation_id': '5'}]}",
                     -EINVAL, "sub_ports[0].segmentation_id", "must be an integer");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'segmentation_type': 'inherit'}]}",
                     -EINVAL, "sub_ports[0].segmentation_type", "not supported");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'segmentation_id': 5}]}",
                     -EINVAL, "sub_ports[0].port", "required");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'vlan': 5}]}",
                     -EINVAL, "sub_ports[0].vlan", NULL);
        create_fails("trunk", "{'port': 'p', 'sub_ports': [7]}", -EINVAL, "sub_ports[0]", NULL);
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 'ghost'}]}",
                     -EINVAL, "sub_ports[0].port", "port 'ghost' does not exist");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 'p'}]}",
                     -EINVAL, "sub_ports[0].port", "the trunk's parent port");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1'}, {'port': 's1'}]}",
                     -EINVAL, "sub_ports[1].port", "listed twice");
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 's1', 'segmentation_id': 9}, "
                              "{'port': 's2', 'segmentation_id': 9}]}",
                     -EINVAL, "sub_ports[1].segmentation_id", "VLAN 9 is listed twice");
        /* a port used by a workload is no subport */
        json_decref(port_ok("{'name': 'busy', 'network': 'b', 'device_owner': 'compute:container', "
                            "'device_id': 'c1'}"));
        create_fails("trunk", "{'port': 'p', 'sub_ports': [{'port': 'busy'}]}",
                     -EBUSY, "sub_ports[0].port", "port 'busy' is used by container 'c1'");
        /* nothing was left behind by the failures: the same request now works */
        json_decref(create_ok("trunk", "{'name': 't', 'port': 'p', 'sub_ports': [{'port': 's1'}]}"));
}

static void test_trunk_membership(void **state)
{
        nets();
        json_decref(port_ok("{'name': 'p1', 'network': 'a'}"));
        json_decref(port_ok("{'name': 'p2', 'network': 'a'}"));
        json_decref(port_ok("{'name': 'x', 'network': 'b'}"));
        json_decref(port_ok("{'name': 'y', 'network': 'b'}"));
        json_decref(create_ok("trunk", "{'name': 'ta', 'port': 'p1', 'sub_ports': [{'port': 'x', 'segmentation_id': 10}]}"));
        /* a subport belongs to one trunk */
        create_fails("trunk", "{'name': 'tb', 'port': 'p2', 'sub_ports': [{'port': 'y'}, {'port': 'x'}]}",
                     -EBUSY, "sub_ports[1].port", "port 'x' is already a subport of trunk 'ta'");
        /* a parent is in one trunk, and is no subport */
        create_fails("trunk", "{'name': 'tb', 'port': 'p1'}", -EBUSY, "port",
                     "port 'p1' is the parent port of trunk 'ta'");
        create_fails("trunk", "{'name': 'tb', 'port': 'x'}", -EBUSY, "port",
                     "port 'x' is already a subport of trunk 'ta'");
        json_decref(create_ok("trunk", "{'name': 'tb', 'port': 'p2'}"));
        action_fails("tb", "add_subports", "{'sub_ports': [{'port': 'p1'}]}", -EBUSY, "sub_ports[0].port",
                     "port 'p1' is the parent port of trunk 'ta'");
        action_fails("tb", "add_subports", "{'sub_ports': [{'port': 'x'}]}", -EBUSY, "sub_ports[0].port",
                     "port 'x' is already a subport of trunk 'ta'");
        /* VLAN ids are per trunk: 10 again on another trunk is fine, twice on one is not */
        json_auto_t *tb = action_ok("tb", "add_subports", "{'sub_ports': [{'port': 'y', 'segmentation_id': 10}]}");
        assert_int_equal(num(sub(tb, 0), "segmentation_id"), 10);
        json_decref(port_ok("{'name': 'z', 'network': 'c'}"));
        action_fails("ta", "add_subports", "{'sub_ports': [{'port': 'z', 'segmentation_id': 10}]}", -EEXIST,
                     "sub_ports[0].segmentation_id", "VLAN 10 is already used in trunk 'ta' (by port 'x')");
        action_fails("ta", "add_subports", "{'sub_ports': []}", -EINVAL, "sub_ports", "must not be empty");
        action_fails("ta", "add_subports", "{}", -EINVAL, "sub_ports", "required");
        action_fails("ta", "add_subports", "{'sub_ports': [{'port': 'z'}], 'x': 1}", -EINVAL, "x", NULL);
        /* sub_ports are changed through the actions only, and the parent never */
        {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                assert_true(update("trunk", "ta", "{'sub_ports': []}", NULL, &e) < 0);
                check_err(&e, -EINVAL, "sub_ports", "add_subports");
                sf_err_clear(&e);
                assert_true(update("trunk", "ta", "{'port': 'p2'}", NULL, &e) < 0);
                check_err(&e, -EINVAL, "port", "cannot be changed");
        }
        json_auto_t *ta = update_ok("trunk", "ta", "{'description': 'vm one', 'labels': {'k': 'v'}}");
        assert_string_equal(str(ta, "description"), "vm one");
}

static void test_trunk_vlan_allocation(void **state)
{
        nets();
        json_decref(port_ok("{'name': 'p', 'network': 'a'}"));
        for (int i = 0; i < 8; i++) {
                _cleanup_free_ char *j = xasprintf("{'name': 's%d', 'network': 'b'}", i);
                json_decref(port_ok(j));
        }
        /* requested ids are served first, allocation fills the lowest gaps around them */
        json_auto_t *t = create_ok("trunk", "{'name': 't', 'port': 'p', 'sub_ports': ["
                                            "{'port': 's0'}, {'port': 's1', 'segmentation_id': 1}, "
                                            "{'port': 's2'}, {'port': 's3', 'segmentation_id': 3}]}");
        json_auto_t *g = NULL;
        assert_int_equal(num(sub(t, 0), "segmentation_id"), 1);
        assert_int_equal(num(sub(t, 1), "segmentation_id"), 2);
        assert_int_equal(num(sub(t, 2), "segmentation_id"), 3);
        assert_int_equal(num(sub(t, 3), "segmentation_id"), 4);
        json_auto_t *s1 = get("port", "s1");
        assert_string_equal(str(sub(t, 0), "port_id"), str(s1, "id"));
        /* removal frees an id for reuse */
        json_decref(action_ok("t", "remove_subports", "{'sub_ports': [{'port': 's2'}]}"));
        g = action_ok("t", "add_subports", "{'sub_ports': [{'port': 's4'}, {'port': 's5'}]}");
        assert_int_equal(json_array_size(json_object_get(g, "sub_ports")), 5);
        assert_int_equal(num(sub(g, 1), "segmentation_id"), 2);
        assert_int_equal(num(sub(g, 4), "segmentation_id"), 5);
        json_auto_t *s2 = get("port", "s2");
        assert_string_equal(str(s2, "device_owner"), "");
        assert_string_equal(str(s2, "device_id"), "");
        action_fails("t", "remove_subports", "{'sub_ports': [{'port': 's2'}]}", -EINVAL,
                     "sub_ports[0].port", "port 's2' is not a subport of trunk 't'");
        action_fails("t", "remove_subports", "{'sub_ports': [{'port': 'p'}]}", -EINVAL,
                     "sub_ports[0].port", "not a subport");
        /* get_subports */
        {
                struct sf_kind *k = kind("trunk");
                json_auto_t *cur = get("trunk", "t"), *out = NULL, *in = json_object();
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                assert_int_equal(k->actions[2].fn(k->ctx, fx->store, cur, in, &out, &e), 0);
                assert_int_equal(json_array_size(json_object_get(out, "sub_ports")), 5);
        }
}

/* Every VLAN id of one trunk in use: the next allocation says so. Also checks that the store
 * itself refuses a duplicate, whatever the code above it does. */
static void test_trunk_exhaustion_and_store(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *t = NULL;
        sf_tx *tx = NULL;
        nets();
        json_decref(port_ok("{'name': 'p', 'network': 'a'}"));
        t = create_ok("trunk", "{'name': 't', 'port': 'p'}");
        /* Fill 1-4094 straight in the table (4094 real ports would only slow the test). */
        assert_int_equal(sf_tx_begin(fx->store, &tx, &e), 0);
        for (int v = 1; v <= 4094; v++) {
                _cleanup_free_ char *sql = xasprintf("INSERT INTO trunk_ports VALUES ('fake-%d', '%s', %d)", v,
                                                     str(t, "id"), v);
                assert_int_equal(sf_sql_exec(sf_tx_conn(tx), sql, &e), 0);
        }
        assert_int_equal(sf_tx_commit(tx, &e), 0);
        json_decref(port_ok("{'name': 's', 'network': 'b'}"));
        action_fails("t", "add_subports", "{'sub_ports': [{'port': 's'}]}", -ENOSPC,
                     "sub_ports[0].segmentation_id", "no free VLAN id");
        /* the table's own keys */
        assert_int_equal(sf_tx_begin(fx->store, &tx, &e), 0);
        {
                _cleanup_free_ char *dup = xasprintf("INSERT INTO trunk_ports VALUES ('other', '%s', 7)", str(t, "id"));
                _cleanup_free_ char *twice = xasprintf("INSERT INTO trunk_ports VALUES ('fake-1', 'x', 9)");
                _cleanup_free_ char *range = xasprintf("INSERT INTO trunk_ports VALUES ('r', 'x', 4095)");
                assert_true(sf_sql_exec(sf_tx_conn(tx), dup, &e) < 0);
                assert_non_null(strstr(sf_err_msg(&e), "UNIQUE constraint failed"));
                sf_err_clear(&e);
                assert_true(sf_sql_exec(sf_tx_conn(tx), twice, &e) < 0);
                assert_non_null(strstr(sf_err_msg(&e), "UNIQUE constraint failed"));
                sf_err_clear(&e);
                assert_true(sf_sql_exec(sf_tx_conn(tx), range, &e) < 0);
                sf_err_clear(&e);
        }
        sf_tx_abort(tx);
}

static void test_trunk_delete_refusals(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        nets();
        json_decref(port_ok("{'name': 'p', 'network': 'a'}"));
        json_decref(port_ok("{'name': 's1', 'network': 'b'}"));
        json_decref(port_ok("{'name': 's2', 'network': 'c'}"));
        json_decref(create_ok("trunk", "{'name': 't', 'port': 'p', 'sub_ports': [{'port': 's1'}, {'port': 's2'}]}"));
        /* a trunk with subports */
        assert_int_equal(remove_obj("trunk", "t", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "trunk 't' has 2 subports: remove them first");
        sf_err_clear(&e);
        /* ports in a trunk */
        assert_int_equal(remove_obj("port", "s1", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "port 's1' is a subport of trunk 't'");
        sf_err_clear(&e);
        assert_int_equal(remove_obj("port", "p", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "port 'p' is the parent port of trunk 't'");
        sf_err_clear(&e);
        /* forced: a subport leaves its trunk */
        assert_int_equal(remove_opts("port", "s1", "{'force': true}", &e), 0);
        json_auto_t *t = get("trunk", "t");
        assert_int_equal(json_array_size(json_object_get(t, "sub_ports")), 1);
        /* a subport's binding and owner are the trunk's */
        json_decref(create_ok("node", "{'name': 'n1'}"));
        assert_true(update("port", "s2", "{'node': 'n1'}", NULL, &e) < 0);
        check_err(&e, -EBUSY, "node", "its binding follows the trunk");
        sf_err_clear(&e);
        assert_true(update("port", "s2", "{'device_id': 'mine'}", NULL, &e) < 0);
        check_err(&e, -EBUSY, "device_id", NULL);
        sf_err_clear(&e);
        /* removing the last subport makes the trunk deletable; the port is free again */
        json_decref(action_ok("t", "remove_subports", "{'sub_ports': [{'port': 's2'}]}"));
        remove_ok("trunk", "t");
        remove_ok("port", "s2");
        json_auto_t *t2 = create_ok("trunk", "{'name': 't2', 'port': 'p'}");
        (void) t2;
        /* force deletes a trunk with its subports, releasing them */
        json_decref(port_ok("{'name': 's3', 'network': 'b'}"));
        json_decref(action_ok("t2", "add_subports", "{'sub_ports': [{'port': 's3'}]}"));
        assert_int_equal(remove_opts("trunk", "t2", "{'force': true}", &e), 0);
        json_auto_t *s3 = get("port", "s3");
        assert_string_equal(str(s3, "device_owner"), "");
        /* a forced delete of the parent takes the trunk with it */
        json_decref(create_ok("trunk", "{'name': 't3', 'port': 'p', 'sub_ports': [{'port': 's3'}]}"));
        assert_int_equal(remove_opts("port", "p", "{'force': true}", &e), 0);
        assert_null(get("trunk", "t3"));
        json_auto_t *s3b = get("port", "s3");
        assert_string_equal(str(s3b, "device_id"), "");
        remove_ok("port", "s3"); /* free, so deletable */
}

static void test_trunk_binding_follows_parent(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        nets();
        json_auto_t *n1 = create_ok("node", "{'name': 'n1'}");
        json_auto_t *n2 = create_ok("node", "{'name': 'n2'}");
        json_decref(port_ok("{'name': 'p', 'network': 'a'}"));
        json_decref(port_ok("{'name': 's', 'network': 'b'}"));
        json_auto_t *t0 = create_ok("trunk", "{'name': 't', 'port': 'p', 'sub_ports': [{'port': 's'}]}");
        assert_string_equal(str(t0, "status"), "DOWN");
        /* the VM is placed: the parent is bound, the subports and the trunk follow */
        json_decref(update_ok("port", "p", "{'node': 'n1', 'device_owner': 'compute:container', 'device_id': 'vm'}"));
        json_auto_t *t1 = get("trunk", "t");
        assert_string_equal(str(t1, "node_id"), str(n1, "id"));
        assert_string_equal(str(t1, "status"), "BUILD");
        json_auto_t *s1 = get("port", "s");
        assert_string_equal(str(s1, "node_id"), str(n1, "id"));
        /* the node reports: ACTIVE for the current generation only */
        _cleanup_free_ char *old = xasprintf("{'status': 'ACTIVE', 'observed_generation': %" JSON_INTEGER_FORMAT ", "
                                             "'datapath': 'bpf'}", (json_int_t) num(t1, "generation") - 1);
        json_auto_t *t2 = update_ok("trunk", "t", old);
        assert_string_equal(str(t2, "status"), "BUILD");
        _cleanup_free_ char *now = xasprintf("{'status': 'ACTIVE', 'observed_generation': %" JSON_INTEGER_FORMAT "}",
                                             (json_int_t) num(t1, "generation"));
        json_auto_t *t3 = update_ok("trunk", "t", now);
        assert_string_equal(str(t3, "status"), "ACTIVE");
        assert_string_equal(str(t3, "datapath"), "bpf");
        assert_true(update("trunk", "t", "{'status': 'GREEN'}", NULL, &e) < 0);
        check_err(&e, -EINVAL, "status", NULL);
        sf_err_clear(&e);
        assert_true(update("trunk", "t", "{'datapath': 'ovs'}", NULL, &e) < 0);
        check_err(&e, -EINVAL, "datapath", NULL);
        sf_err_clear(&e);
        /* it moves */
        json_decref(update_ok("port", "p", "{'node': 'n2'}"));
        json_auto_t *s2 = get("port", "s");
        assert_string_equal(str(s2, "node_id"), str(n2, "id"));
        /* a disabled trunk keeps its subports as they are */
        json_decref(update_ok("trunk", "t", "{'admin_state_up': false}"));
        json_decref(port_ok("{'name': 'q', 'network': 'c'}"));
        action_fails("t", "add_subports", "{'sub_ports': [{'port': 'q'}]}", -EBUSY, NULL, "is disabled");
        action_fails("t", "remove_subports", "{'sub_ports': [{'port': 's'}]}", -EBUSY, NULL, "is disabled");
        json_decref(update_ok("trunk", "t", "{'admin_state_up': true}"));
        json_decref(action_ok("t", "add_subports", "{'sub_ports': [{'port': 'q'}]}"));
        /* unbound: DOWN */
        json_decref(update_ok("port", "p", "{'node': null}"));
        json_auto_t *t4 = get("trunk", "t");
        assert_string_equal(str(t4, "status"), "DOWN");
        json_auto_t *q = get("port", "q");
        assert_true(json_is_null(json_object_get(q, "node_id")));
}

/* Threads add subports to one trunk at once (automatic and requested VLAN ids): every commit
 * gets distinct ids, the conflicts are refused cleanly, and the table agrees with the object. */
enum { THREADS = 8, PER_THREAD = 40 };

struct worker {
        int idx;
        int ok, conflicts;
        char err[256];
};

static void *add_work(void *u)
{
        struct worker *w = u;
        for (int i = 0; i < PER_THREAD; i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                _cleanup_free_ char *body = NULL;
                json_auto_t *out = NULL;
                int r;
                /* every third request asks for an id that another thread asks for too */
                if (i % 3 == 0)
                        body = xasprintf("{'sub_ports': [{'port': 'w%d-%d', 'segmentation_id': %d}]}", w->idx, i,
                                         1000 + i);
                else
                        body = xasprintf("{'sub_ports': [{'port': 'w%d-%d'}]}", w->idx, i);
                r = action("t", "add_subports", body, &out, &e);
                if (r >= 0)
                        w->ok++;
                else if (r == -EEXIST)
                        w->conflicts++;
                else {
                        snprintf(w->err, sizeof(w->err), "thread %d: %s", w->idx, sf_err_msg(&e));
                        return NULL;
                }
        }
        return NULL;
}

static void test_trunk_concurrent_subports(void **state)
{
        static struct worker w[THREADS];
        pthread_t th[THREADS];
        int ok = 0, conflicts = 0;
        nets();
        json_decref(port_ok("{'name': 'p', 'network': 'a'}"));
        json_decref(create_ok("trunk", "{'name': 't', 'port': 'p'}"));
        for (int k = 0; k < THREADS; k++)
                for (int i = 0; i < PER_THREAD; i++) {
                        _cleanup_free_ char *j = xasprintf("{'name': 'w%d-%d', 'network': 'b'}", k, i);
                        json_decref(port_ok(j));
                }
        for (int k = 0; k < THREADS; k++) {
                w[k] = (struct worker) { .idx = k };
                assert_int_equal(pthread_create(&th[k], NULL, add_work, &w[k]), 0);
        }
        for (int k = 0; k < THREADS; k++) {
                pthread_join(th[k], NULL);
                if (w[k].err[0])
                        fail_msg("%s", w[k].err);
                ok += w[k].ok;
                conflicts += w[k].conflicts;
        }
        /* each requested id (PER_THREAD/3 rounded up of them) went to exactly one thread */
        assert_int_equal(conflicts, (THREADS - 1) * ((PER_THREAD + 2) / 3));
        json_auto_t *t = get("trunk", "t");
        json_t *s;
        size_t i;
        assert_int_equal((int) json_array_size(json_object_get(t, "sub_ports")), ok);
        bool seen[4096] = { false };
        json_array_foreach(json_object_get(t, "sub_ports"), i, s) {
                int v = (int) num(s, "segmentation_id");
                assert_true(v >= 1 && v <= 4094);
                assert_false(seen[v]);
                seen[v] = true;
        }
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                sqlite3_stmt *st = NULL;
                sf_rd_get(fx->store, &rd);
                assert_int_equal(sqlite3_prepare_v2(sf_conn_db(rd.conn),
                                                    "SELECT count(*), count(DISTINCT segmentation_id) FROM trunk_ports "
                                                    "WHERE segmentation_id IS NOT NULL",
                                                    -1, &st, NULL),
                                 SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_int_equal(sqlite3_column_int(st, 0), ok);
                assert_int_equal(sqlite3_column_int(st, 1), ok);
                sqlite3_finalize(st);
        }
}


/* Subport pools: idle subports made in bulk per network, taken in O(1), refilled, released. */
static void test_trunk_subport_pool(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        nets();
        json_decref(create_ok("node", "{'name': 'n1'}"));
        json_decref(port_ok("{'name': 'p', 'network': 'a', 'node': 'n1'}"));
        json_decref(port_ok("{'name': 'manual', 'network': 'c'}"));
        json_auto_t *t = create_ok("trunk", "{'name': 't', 'port': 'p', 'sub_ports': [{'port': 'manual', "
                                            "'segmentation_id': 2}], 'subport_pools': {'b': {'min': 3}}}");
        json_auto_t *b = get("network", "b");
        json_t *x;
        size_t i;
        /* three idle subports on b, VLAN ids allocated around the requested one, bound to n1 */
        assert_int_equal(json_array_size(json_object_get(t, "sub_ports")), 4);
        assert_int_equal(num(sub(t, 0), "segmentation_id"), 1);
        assert_int_equal(num(sub(t, 1), "segmentation_id"), 2);
        assert_null(json_object_get(sub(t, 1), "pool"));
        assert_int_equal(num(sub(t, 2), "segmentation_id"), 3);
        assert_int_equal(num(sub(t, 3), "segmentation_id"), 4);
        assert_string_equal(str(sub(t, 0), "pool"), "idle");
        assert_string_equal(str(sub(t, 0), "network_id"), str(b, "id"));
        assert_int_equal(num(json_object_get(json_object_get(t, "subport_pools"), str(b, "id")), "min"), 3);
        {
                json_auto_t *sp = get("port", str(sub(t, 0), "port_id"));
                json_auto_t *n1 = get("node", "n1");
                assert_string_equal(str(sp, "device_owner"), "trunk:subport");
                assert_string_equal(str(sp, "node_id"), str(n1, "id"));
        }
        /* take: the oldest idle one, with what a nested container needs; the pool refills */
        json_auto_t *tk = action_ok("t", "take_subport", "{'network': 'b', 'user': 'nested-1'}");
        json_t *taken = json_object_get(tk, "sub_port");
        assert_int_equal(num(taken, "segmentation_id"), 1);
        assert_string_equal(str(taken, "pool"), "taken");
        assert_string_equal(str(taken, "user"), "nested-1");
        assert_non_null(str(json_array_get(json_object_get(taken, "fixed_ips"), 0), "ip_address"));
        assert_int_equal(num(taken, "mtu"), 1450);
        json_t *t2 = json_object_get(tk, "trunk");
        assert_int_equal(json_array_size(json_object_get(t2, "sub_ports")), 5);
        size_t idle = 0;
        json_array_foreach(json_object_get(t2, "sub_ports"), i, x)
                idle += STREQ(str(x, "pool") ?: "", "idle");
        assert_int_equal(idle, 3);
        /* cold path: a network without a pool */
        json_auto_t *cold = action_ok("t", "take_subport", "{'network': 'c'}");
        assert_string_equal(str(json_object_get(cold, "sub_port"), "pool"), "taken");
        assert_int_equal(num(json_object_get(cold, "sub_port"), "segmentation_id"), 6);
        action_fails("t", "take_subport", "{'network': 'zz'}", -EINVAL, "network", "does not exist");
        action_fails("t", "take_subport", "{}", -EINVAL, "network", "required");
        /* release: the pool has its min idle already, so the port goes */
        _cleanup_free_ char *rel = xasprintf("{'port': '%s'}", str(taken, "port_id"));
        json_auto_t *after = action_ok("t", "release_subport", rel);
        assert_int_equal(json_array_size(json_object_get(after, "sub_ports")), 5);
        assert_null(get("port", str(taken, "port_id")));
        action_fails("t", "release_subport", "{'port': 'manual'}", -EINVAL, "port", "not taken from a subport pool");
        /* a bigger pool: refilled in bulk at once; a released subport then goes back to idle */
        json_auto_t *big = update_ok("trunk", "t", "{'subport_pools': {'b': {'min': 5}}}");
        idle = 0;
        json_array_foreach(json_object_get(big, "sub_ports"), i, x)
                idle += STREQ(str(x, "pool") ?: "", "idle");
        assert_int_equal(idle, 5);
        assert_string_equal(str(big, "status"), "BUILD");
        assert_true(update("trunk", "t", "{'subport_pools': {'b': {'min': 999}}}", NULL, &e) < 0);
        check_err(&e, -EINVAL, "subport_pools.b.min", NULL);
        sf_err_clear(&e);
        /* deleting the trunk: idle pooled subports do not block it, taken and manual ones do */
        assert_int_equal(remove_obj("trunk", "t", &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "has 2 subports");
        sf_err_clear(&e);
        _cleanup_free_ char *cold_port = xstrdup(str(json_object_get(cold, "sub_port"), "port_id"));
        assert_int_equal(remove_opts("trunk", "t", "{'force': true}", &e), 0);
        assert_null(get("port", cold_port));        /* the pool's ports go with it */
        json_auto_t *m = get("port", "manual");     /* a user's port stays, released */
        assert_string_equal(str(m, "device_owner"), "");
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                int64_t n = -1;
                sf_rd_get(fx->store, &rd);
                assert_int_equal(sf_res_count(&rd, "port", &(struct sf_res_filter) { .owner = str(b, "id") }, &n, &e), 0);
                assert_int_equal(n, 0); /* every pooled port of b is gone */
        }
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
#define T(x) cmocka_unit_test_setup_teardown(x, fx_setup, fx_teardown)
        const struct CMUnitTest tests[] = {
                T(test_trunk_create),           T(test_trunk_validation),
                T(test_trunk_membership),       T(test_trunk_vlan_allocation),
                T(test_trunk_exhaustion_and_store), T(test_trunk_delete_refusals),
                T(test_trunk_binding_follows_parent), T(test_trunk_concurrent_subports),
                T(test_trunk_subport_pool),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
