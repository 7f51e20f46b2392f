/* Unit tests: port pools (src/vim/pool.c). The arithmetic (refill sizing, batch, max, shrink
 * under address pressure), and against a real store: bulk refill in one transaction, FIFO
 * hand-out, recycling to the tail or release at max, explicit addresses and exhaustion that
 * reclaim idle pooled ports before answering 409, resize/drain/fill, cascades on network and
 * node deletion, recovery of inconsistent pool tables, and the port-taken listener. */
#include "vim-fixture.h"
#include "vim/vim-internal.h"

static struct sf_pool_calc C(unsigned size, unsigned min, unsigned max, unsigned batch, uint64_t free,
                             uint64_t pooled, uint64_t targets)
{
        return (struct sf_pool_calc) { size, min, max, batch, free, pooled, targets };
}

static void test_refill_sizing(void **state)
{
        struct sf_pool_calc c;
        /* at or above min: nothing */
        c = C(5, 5, 10, 4, UINT64_MAX, 5, 5);
        assert_int_equal(sf_pool_refill_count(&c), 0);
        c = C(7, 5, 10, 4, UINT64_MAX, 7, 5);
        assert_int_equal(sf_pool_refill_count(&c), 0);
        /* below min: max(batch, min - size) */
        c = C(4, 5, 10, 4, UINT64_MAX, 4, 5);
        assert_int_equal(sf_pool_refill_count(&c), 4);
        c = C(0, 8, 16, 3, UINT64_MAX, 0, 8);
        assert_int_equal(sf_pool_refill_count(&c), 8);
        /* never past max */
        c = C(3, 5, 6, 10, UINT64_MAX, 3, 5);
        assert_int_equal(sf_pool_refill_count(&c), 3);
        /* min 0: a pool that only collects recycled ports */
        c = C(0, 0, 6, 10, UINT64_MAX, 0, 0);
        assert_int_equal(sf_pool_refill_count(&c), 0);
        /* never more than half of the free addresses */
        c = C(0, 8, 16, 8, 9, 0, 8);
        assert_int_equal(sf_pool_refill_count(&c), 4);
        c = C(0, 8, 16, 8, 1, 0, 8);
        assert_int_equal(sf_pool_refill_count(&c), 0);
        /* above max: the excess goes */
        c = C(9, 2, 6, 2, UINT64_MAX, 9, 2);
        assert_int_equal(sf_pool_excess(&c), 3);
        assert_int_equal(sf_pool_refill_count(&c), 0);
        c = C(6, 2, 6, 2, UINT64_MAX, 6, 2);
        assert_int_equal(sf_pool_excess(&c), 0);
}

static void test_shrink_under_pressure(void **state)
{
        struct sf_pool_calc c;
        /* plenty: the target is min */
        c = C(0, 10, 20, 5, 1000, 0, 30);
        assert_int_equal(sf_pool_target(&c), 10);
        /* three pools of min 10 on a network with 12 free + 3 pooled addresses: each pool's
         * share is 10 * 15 / 30 = 5, and no batch overshoot */
        c = C(1, 10, 20, 8, 12, 3, 30);
        assert_int_equal(sf_pool_target(&c), 5);
        assert_int_equal(sf_pool_refill_count(&c), 4);
        /* the same pool already at its share: nothing */
        c = C(5, 10, 20, 8, 12, 7, 30);
        assert_int_equal(sf_pool_target(&c), 6);
        assert_int_equal(sf_pool_refill_count(&c), 1);
        /* almost nothing left: the pools shrink to what is free */
        c = C(0, 10, 20, 8, 2, 0, 30);
        assert_int_equal(sf_pool_target(&c), 0);
        assert_int_equal(sf_pool_refill_count(&c), 0);
        c = C(0, 4, 8, 4, 3, 0, 4);
        assert_int_equal(sf_pool_target(&c), 3);
        assert_int_equal(sf_pool_refill_count(&c), 1); /* half of 3 */
        /* exhausted */
        c = C(2, 4, 8, 4, 0, 2, 4);
        assert_int_equal(sf_pool_target(&c), 2);
        assert_int_equal(sf_pool_refill_count(&c), 0);
}

/* ---- against a store ---- */

static json_t *node(const char *name)
{
        _cleanup_free_ char *j = xasprintf("{'name': '%s', 'status': {'state': 'Ready'}}", name);
        return create_ok("node", j);
}

/* network 'net' with subnet cidr, pooled with the given settings */
static void pooled_net(const char *name, const char *cidr, const char *settings)
{
        _cleanup_free_ char *n = xasprintf("{'name': '%s', 'port_pool': %s}", name, settings);
        _cleanup_free_ char *s = xasprintf("{'name': '%s-s', 'network': '%s', 'cidr': '%s'}", name, name, cidr);
        json_decref(create_ok("network", n));
        json_decref(create_ok("subnet", s));
}

/* The pool as the API shows it. */
static json_t *pool_view(const char *ref)
{
        json_t *p = get("pool", ref);
        _cleanup_rd_ sf_rd rd = { 0 };
        if (!p)
                fail_msg("no pool '%s'", ref);
        sf_rd_get(fx->store, &rd);
        kind("pool")->decorate(fx->vim, &rd, p);
        return p;
}

static int64_t pool_size(const char *ref)
{
        json_auto_t *p = pool_view(ref);
        return num(p, "size");
}

static int64_t count(const char *kname, const char *body_key, const char *value)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *b = body_key ? json_pack("{s:s}", body_key, value) : NULL;
        int64_t n = -1;
        sf_rd_get(fx->store, &rd);
        assert_int_equal(sf_res_count(&rd, kname, &(struct sf_res_filter) { .body = b }, &n, NULL), 0);
        return n;
}

static void scan(void)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (sf_pool_scan(fx->vim, &e) < 0)
                fail_msg("scan: %s", sf_err_msg(&e));
}

/* The idle ports of a pool, oldest first. */
static json_t *queue_of(const char *pool_id)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        sqlite3_stmt *st;
        json_t *out = json_array();
        sf_rd_get(fx->store, &rd);
        assert_int_equal(sqlite3_prepare_v2(sf_conn_db(rd.conn),
                                            "SELECT port_id FROM pool_ports WHERE pool_id = ? ORDER BY seq",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, pool_id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
                json_array_append_new(out, json_string((const char *) sqlite3_column_text(st, 0)));
        sqlite3_finalize(st);
        return out;
}

static void sql(const char *q)
{
        sf_tx *tx = NULL;
        assert_int_equal(sf_tx_begin(fx->store, &tx, NULL), 0);
        assert_int_equal(sf_sql_exec(sf_tx_conn(tx), q, NULL), 0);
        assert_int_equal(sf_tx_commit(tx, NULL), 0);
}

static json_t *container(const char *name, const char *node_name, const char *networks)
{
        _cleanup_free_ char *j = xasprintf("{'name': '%s', 'image': 'x', 'node': '%s', 'networks': %s}",
                                           name, node_name, networks);
        return create_ok("container", j);
}

static const char *port0(json_t *c)
{
        return json_string_value(json_array_get(json_object_get(c, "port_ids"), 0));
}

static void purge(const char *name)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (remove_opts("container", name, "{'force': true}", &e) != 0)
                fail_msg("delete %s: %s", name, sf_err_msg(&e));
}

static void test_fill_take_fifo_recycle(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n1 = node("n1");
        pooled_net("net", "10.0.0.0/24", "{'enabled': true, 'min': 3, 'max': 5, 'batch': 2}");
        scan();
        /* one pool, filled to min (max(batch 2, 3 - 0) = 3) in one transaction */
        json_auto_t *p = pool_view("net.n1");
        assert_int_equal(num(p, "size"), 3);
        assert_int_equal(num(p, "min"), 3);
        assert_int_equal(num(p, "max"), 5);
        assert_string_equal(str(p, "node"), "n1");
        assert_string_equal(str(p, "network"), "net");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "stats"), "refills")), 1);
        assert_int_equal(count("port", "device_owner", SF_POOL_OWNER), 3);
        /* the pool's id is derived from its key: the same on every controller */
        assert_true(sf_uuid_valid(str(p, "id")));
        assert_int_equal(str(p, "id")[14], '8');
        /* a second scan changes nothing */
        scan();
        assert_int_equal(pool_size("net.n1"), 3);
        assert_int_equal(count("pool", NULL, NULL), 1);

        /* FIFO: containers get the oldest idle ports, in order */
        json_auto_t *q = queue_of(str(p, "id"));
        json_auto_t *a = container("a", "n1", "['net']");
        json_auto_t *b = container("b", "n1", "['net']");
        assert_string_equal(port0(a), json_string_value(json_array_get(q, 0)));
        assert_string_equal(port0(b), json_string_value(json_array_get(q, 1)));
        json_auto_t *pa = get("port", port0(a));
        assert_string_equal(str(pa, "device_owner"), "compute:container");
        assert_string_equal(str(pa, "device_id"), str(a, "id"));
        assert_string_equal(str(pa, "node_id"), str(n1, "id"));
        assert_int_equal(pool_size("net.n1"), 1);
        json_auto_t *p2 = pool_view("net.n1");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(p2, "stats"), "hits")), 2);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(p2, "stats"), "misses")), 0);
        assert_int_equal(num(p2, "in_use"), 2);

        /* an explicit address is never pooled: the cold path */
        json_auto_t *x = container("x", "n1", "[{'network': 'net', 'ip': '10.0.0.200'}]");
        assert_int_equal(pool_size("net.n1"), 1);

        /* a refill (what the background refiller does after a take) */
        scan();
        assert_int_equal(pool_size("net.n1"), 3);

        /* recycling: a's port goes back to the tail of the queue */
        purge("a");
        json_auto_t *q2 = queue_of(str(p, "id"));
        assert_int_equal(json_array_size(q2), 4);
        assert_string_equal(json_string_value(json_array_get(q2, 3)), port0(a));
        json_auto_t *pa2 = get("port", port0(a));
        assert_string_equal(str(pa2, "device_owner"), SF_POOL_OWNER);
        assert_string_equal(str(pa2, "device_id"), "");
        /* at max, a freed port is released */
        purge("b");
        assert_int_equal(pool_size("net.n1"), 5);
        json_auto_t *c = container("c", "n1", "['net']");
        json_auto_t *d = container("d", "n1", "['net']");
        purge("c");
        purge("d");
        assert_int_equal(pool_size("net.n1"), 5);
        assert_int_equal(count("port", "device_owner", SF_POOL_OWNER), 5);
        /* the explicit-address port is not recycled */
        purge("x");
        assert_null(get("port", port0(x)));
        assert_int_equal(pool_size("net.n1"), 5);
        (void) e;
}

struct taken {
        int n, n_prepare, n_abort; /* n: commits */
        enum sf_port_take last;
        bool uncommitted; /* at the last PREPARE, the workload was not committed yet */
        char node[40], port[40], wid[40];
        int64_t rev, prepare_rev;
};

static void on_taken(void *u, enum sf_port_take phase, const char *node_id, const char *port_id, const char *wid,
                     int64_t rev)
{
        struct taken *t = u;
        if (phase == SF_PORT_TAKE_PREPARE) {
                /* inside the transaction: a reader does not see the workload yet */
                _cleanup_rd_ sf_rd rd = { 0 };
                json_auto_t *o = NULL;
                sf_rd_get(fx->store, &rd);
                t->uncommitted = sf_res_get(&rd, "container", wid, &o, NULL) == -ENOENT;
                t->n_prepare++;
                t->prepare_rev = rev;
        } else {
                /* the same port and workload as at PREPARE, and only once */
                assert_int_equal(t->last, SF_PORT_TAKE_PREPARE);
                assert_string_equal(t->port, port_id);
                assert_string_equal(t->wid, wid);
                if (phase == SF_PORT_TAKE_COMMIT)
                        t->n++;
                else
                        t->n_abort++;
        }
        t->last = phase;
        snprintf(t->node, sizeof(t->node), "%s", node_id);
        snprintf(t->port, sizeof(t->port), "%s", port_id);
        snprintf(t->wid, sizeof(t->wid), "%s", wid);
        t->rev = rev;
}

/* The port-taken listener (the all-in-one agent's word at the commit): told once per
 * container whose first port came from a pool, after the commit, and for nothing else. */
static void test_port_taken_listener(void **state)
{
        struct taken t = { .last = SF_PORT_TAKE_COMMIT };
        json_auto_t *n1 = create_ok("node", "{'name': 'n1', 'features': ['qemu'], 'status': {'state': 'Ready'}}");
        pooled_net("net", "10.0.0.0/24", "{'enabled': true, 'min': 4, 'max': 8, 'batch': 4}");
        pooled_net("coldnet", "10.1.0.0/24", "{'enabled': false}");
        scan();
        assert_int_equal(pool_size("net.n1"), 4);
        sf_vim_set_port_taken(fx->vim, on_taken, &t);

        int64_t rev0 = sf_store_revision(fx->store);
        json_auto_t *a = container("a", "n1", "['net', 'coldnet']");
        assert_int_equal(t.n_prepare, 1);
        assert_true(t.uncommitted);
        assert_int_equal(t.n, 1);
        assert_int_equal(t.last, SF_PORT_TAKE_COMMIT);
        assert_string_equal(t.node, str(n1, "id"));
        assert_string_equal(t.port, port0(a));
        assert_string_equal(t.wid, str(a, "id"));
        /* a revision of the transaction that wrote it (the watch brings all of it at once): the
         * port's own, told at PREPARE before its row was written */
        assert_true(t.rev > rev0 && t.rev <= num(a, "revision"));
        {
                json_auto_t *p = NULL;
                _cleanup_rd_ sf_rd rd = { 0 };
                sf_rd_get(fx->store, &rd);
                assert_int_equal(sf_res_get(&rd, "port", port0(a), &p, NULL), 0);
                assert_int_equal(t.rev, num(p, "revision"));
                assert_int_equal(t.prepare_rev, t.rev);
        }
        /* a first port created cold (its network has no pool), even with a pooled second one */
        json_auto_t *b = container("b", "n1", "['coldnet', 'net']");
        assert_int_equal(t.n, 1);
        /* an explicit address: the cold path */
        json_auto_t *c = container("c", "n1", "[{'network': 'net', 'ip': '10.0.0.200'}]");
        assert_int_equal(t.n, 1);
        /* a VM: its pooled port becomes a tap, not a namespace */
        assert_int_equal(pool_size("net.n1"), 2);
        json_auto_t *v = create_ok("container", "{'name': 'v', 'kind': 'vm', 'image': 'x', 'node': 'n1', 'networks': ['net']}");
        assert_int_equal(pool_size("net.n1"), 1);
        assert_int_equal(t.n, 1);
        /* a creation that fails after the take (its name is taken) rolls back: PREPARE, then
         * ABORT, and the port is back in its pool */
        create_fails("container", "{'name': 'a', 'image': 'x', 'node': 'n1', 'networks': ['net']}", -EEXIST, "name",
                     NULL);
        assert_int_equal(t.n_prepare, 2);
        assert_int_equal(t.n_abort, 1);
        assert_int_equal(t.n, 1);
        assert_int_equal(t.last, SF_PORT_TAKE_ABORT);
        assert_int_equal(pool_size("net.n1"), 1);
        /* a transaction that fails after the creation (a bigger one, as a network service's):
         * PREPARE, then ABORT, and the port is back in its pool */
        {
                struct sf_kind *k = kind("container");
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *obj = NULL, *in = J("{'name': 'e', 'image': 'x', 'node': 'n1', 'networks': ['net']}");
                sf_tx *tx = NULL;
                assert_int_equal(sf_tx_begin(fx->store, &tx, &e), 0);
                assert_int_equal(k->create(k->ctx, tx, in, &obj, &e), 0);
                assert_int_equal(t.n_prepare, 3);
                assert_int_equal(t.last, SF_PORT_TAKE_PREPARE);
                assert_string_equal(t.wid, str(obj, "id"));
                sf_tx_abort(tx);
                assert_int_equal(t.n_abort, 2);
                assert_int_equal(t.n, 1);
                assert_int_equal(t.last, SF_PORT_TAKE_ABORT);
                assert_int_equal(pool_size("net.n1"), 1);
        }
        /* unset: no more calls */
        sf_vim_set_port_taken(fx->vim, NULL, NULL);
        json_auto_t *d = container("d", "n1", "['net']");
        assert_int_equal(t.n, 1);
        assert_int_equal(t.n_prepare, 3);
        (void) b, (void) c, (void) v, (void) d;
}

/* When the background refiller refills after a take: not in the middle of the burst that
 * took the ports (its node still starting workloads), unless the pool runs low. */
static void test_refill_waits_for_quiet_node(void **state)
{
        const uint64_t t = 1000000000, ms = 1000;
        json_auto_t *n1 = node("n1"), *n2 = node("n2");
        pooled_net("net", "10.0.0.0/24", "{'enabled': true, 'min': 6, 'max': 8, 'batch': 2}");
        scan();
        json_auto_t *p = pool_view("net.n1");
        const char *pid = str(p, "id");
        assert_int_equal(num(p, "size"), 6);

        /* a container of n1 waits for its start (Pending): the node is busy */
        json_auto_t *a = container("a", "n1", "['net']");
        assert_string_equal(str(json_object_get(a, "status"), "phase"), "Pending");
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 50 * ms), SF_POOL_REFILL_QUIET);
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 200 * ms), SF_POOL_REFILL_BUSY);
        /* not for ever: a node whose agent never answers does not keep its pool short */
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + SF_POOL_QUIET_MAX_USEC), SF_POOL_REFILL_NOW);
        /* Creating is busy too */
        json_decref(update_ok("container", "a", "{'status': {'phase': 'Creating'}}"));
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 200 * ms), SF_POOL_REFILL_BUSY);
        /* started: quiet */
        json_decref(update_ok("container", "a", "{'status': {'phase': 'Running'}}"));
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 200 * ms), SF_POOL_REFILL_NOW);
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 50 * ms), SF_POOL_REFILL_QUIET);
        /* another node's burst is not this pool's business */
        json_auto_t *b = container("b", "n2", "['net']");
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 200 * ms), SF_POOL_REFILL_NOW);
        /* low (below half its min): at once, busy node or not */
        json_auto_t *c = container("c", "n1", "['net']");
        assert_int_equal(pool_size("net.n1"), 4);
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 50 * ms), SF_POOL_REFILL_QUIET);
        json_auto_t *d = container("d", "n1", "['net']");
        json_auto_t *e = container("e", "n1", "['net']");
        assert_int_equal(pool_size("net.n1"), 2);
        assert_int_equal(sf_pool_refill_when(fx->vim, pid, t, t + 50 * ms), SF_POOL_REFILL_NOW);
        (void) n1, (void) n2, (void) b, (void) c, (void) d, (void) e;
}

static void test_resize_fill_drain(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n1 = node("n1"), *out = NULL;
        pooled_net("net", "10.0.0.0/24", "{'enabled': true, 'min': 2, 'max': 4, 'batch': 1}");
        scan();
        assert_int_equal(pool_size("net.n1"), 2);
        /* fill on request: count more, never past max */
        assert_int_equal(sf_pool_fill(fx->vim, "net.n1", 10, &out, &e), 0);
        assert_int_equal(num(out, "size"), 4);
        /* resize below: the excess is released by the next refill */
        json_decref(update_ok("pool", "net.n1", "{'max': 2, 'min': 1}"));
        scan();
        assert_int_equal(pool_size("net.n1"), 2);
        json_auto_t *p = pool_view("net.n1");
        assert_int_equal(num(json_object_get(p, "settings"), "max"), 2);
        assert_true(json_is_null(json_object_get(json_object_get(p, "settings"), "batch")));
        /* invalid resizes */
        assert_true(update("pool", "net.n1", "{'min': 9}", NULL, &e) < 0);
        check_err(&e, -EINVAL, "min", "above max");
        sf_err_clear(&e);
        assert_true(update("pool", "net.n1", "{'size': 9}", NULL, &e) < 0);
        check_err(&e, -EINVAL, "size", NULL);
        sf_err_clear(&e);
        /* drain: idle ports released, the pool disabled and not refilled */
        json_decref(out);
        out = NULL;
        assert_int_equal(sf_pool_drain(fx->vim, "net.n1", &out, &e), 0);
        assert_int_equal(num(out, "size"), 0);
        assert_false(json_is_true(json_object_get(out, "enabled")));
        scan();
        assert_int_equal(pool_size("net.n1"), 0);
        assert_int_equal(count("port", NULL, NULL), 0);
        assert_int_equal(sf_pool_fill(fx->vim, "net.n1", 0, NULL, &e), -EBUSY);
        check_err(&e, -EBUSY, NULL, "disabled");
        sf_err_clear(&e);
        /* enabled again: refilled */
        json_decref(update_ok("pool", "net.n1", "{'enabled': null}"));
        scan();
        assert_int_equal(pool_size("net.n1"), 1);
        /* network settings: disabling the network's pools releases them */
        json_decref(update_ok("network", "net", "{'port_pool': {'enabled': false}}"));
        scan();
        assert_int_equal(pool_size("net.n1"), 0);
        /* pools never exist for nodes that are not Ready */
        json_decref(update_ok("network", "net", "{'port_pool': null}"));
        json_decref(create_ok("node", "{'name': 'down', 'status': {'state': 'NotReady'}}"));
        pooled_net("net2", "10.2.0.0/24", "{'enabled': true}");
        scan();
        assert_null(get("pool", "net2.down"));
        assert_int_equal(pool_size("net2.n1"), MAX(SF_POOL_DEFAULT_MIN, SF_POOL_DEFAULT_BATCH));
        (void) n1;
}

static void test_exhaustion_and_reclaim(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n1 = node("n1"), *n2 = node("n2");
        /* /29: .1 is the gateway, .2-.6 are the 5 addresses */
        pooled_net("small", "10.9.0.0/29", "{'enabled': true, 'min': 2, 'max': 4, 'batch': 2}");
        scan();
        /* two pools of min 2 on 5 addresses: each refill takes at most half of what is free */
        int64_t s1 = pool_size("small.n1"), s2 = pool_size("small.n2");
        assert_true(s1 + s2 <= 4);
        assert_true(s1 >= 1 && s2 >= 1);
        /* n2's idle ports are reclaimed by requests on n1 once the subnet is full: every
         * address ends up with a container, none twice */
        json_auto_t *ips = json_object();
        for (int i = 0; i < 5; i++) {
                _cleanup_free_ char *name = xasprintf("c%d", i);
                json_auto_t *c = container(name, "n1", "['small']");
                json_auto_t *p = get("port", port0(c));
                const char *ip = ip_of(p, 0);
                assert_null(json_object_get(ips, ip));
                json_object_set_new(ips, ip, json_true());
                scan(); /* refills, bounded by what is free */
        }
        assert_int_equal(json_object_size(ips), 5);
        assert_int_equal(pool_size("small.n1") + pool_size("small.n2"), 0);
        /* really exhausted: 409 naming the subnet */
        create_fails("container", "{'name': 'c5', 'image': 'x', 'node': 'n1', 'networks': ['small']}",
                     -ENOSPC, "networks[0]", "subnet 'small-s' (10.9.0.0/29) is exhausted");
        /* an explicit address held by an idle pooled port is freed for the request */
        json_auto_t *c0 = get("container", "c0");
        json_auto_t *c0p = get("port", port0(c0));
        _cleanup_free_ char *ip0 = xstrdup(ip_of(c0p, 0));
        purge("c0");
        purge("c1"); /* both back into n1's pool (max 4) */
        assert_int_equal(pool_size("small.n1"), 2);
        _cleanup_free_ char *want = xasprintf("[{'network': 'small', 'ip': '%s'}]", ip0);
        json_auto_t *named = container("named", "n2", want);
        json_auto_t *np = get("port", port0(named));
        assert_string_equal(ip_of(np, 0), ip0);
        assert_int_equal(pool_size("small.n1"), 1);
        /* so is a requested MAC */
        json_auto_t *pv = pool_view("small.n1");
        json_auto_t *q = queue_of(str(pv, "id"));
        json_auto_t *held = get("port", json_string_value(json_array_get(q, 0)));
        _cleanup_free_ char *wantmac = xasprintf("[{'network': 'small', 'mac': '%s'}]", str(held, "mac_address"));
        json_auto_t *m = container("m", "n2", wantmac);
        json_auto_t *mp = get("port", port0(m));
        assert_string_equal(str(mp, "mac_address"), str(held, "mac_address"));
        assert_null(get("port", str(held, "id")));
        (void) n1;
        (void) n2;
}

static void test_cascades(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n1 = node("n1"), *n2 = node("n2");
        pooled_net("net", "10.0.0.0/24", "{'enabled': true, 'min': 2, 'max': 4, 'batch': 2}");
        scan();
        assert_int_equal(count("port", NULL, NULL), 4);
        /* a new subnet: idle ports lack an address in it, so they are made again */
        json_decref(create_ok("subnet", "{'network': 'net', 'cidr': 'fd00:1::/64'}"));
        assert_int_equal(count("port", NULL, NULL), 0);
        scan();
        assert_int_equal(pool_size("net.n1"), 2);
        json_auto_t *pv = pool_view("net.n1");
        json_auto_t *q = queue_of(str(pv, "id"));
        json_auto_t *p = get("port", json_string_value(json_array_get(q, 0)));
        assert_int_equal(json_array_size(json_object_get(p, "fixed_ips")), 2);
        /* deleting a pooled port by hand takes it out of its pool */
        remove_ok("port", str(p, "id"));
        assert_int_equal(pool_size("net.n1"), 1);
        /* a node goes with its pools */
        remove_ok("node", "n2");
        assert_null(get("pool", "net.n2"));
        /* a network goes with its pools and their idle ports */
        remove_ok("network", "net");
        assert_int_equal(count("pool", NULL, NULL), 0);
        assert_int_equal(count("port", NULL, NULL), 0);
        (void) n1;
        (void) n2;
        (void) e;
}

static void test_recovery(void **state)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *n1 = node("n1");
        unsigned kept = 0;
        pooled_net("net", "10.0.0.0/24", "{'enabled': true, 'min': 4, 'max': 8, 'batch': 4}");
        scan();
        json_auto_t *p = pool_view("net.n1");
        json_auto_t *q = queue_of(str(p, "id"));
        /* consistent: nothing to do */
        assert_int_equal(sf_pool_recover(fx->vim, &kept, &e), 0);
        assert_int_equal(kept, 4);
        /* damage: an entry of a port that is gone, an entry missing, a pool of a node that is
         * gone (its port rows too) */
        json_auto_t *ghost = node("ghost");
        scan();
        assert_int_equal(pool_size("net.ghost"), 4);
        _cleanup_free_ char *q1 = xasprintf("DELETE FROM pool_ports WHERE port_id = '%s'",
                                            json_string_value(json_array_get(q, 1)));
        sql(q1);
        sql("INSERT INTO pool_ports(pool_id, seq, port_id) VALUES ('x', 1, '00000000-0000-4000-8000-000000000000')");
        _cleanup_free_ char *q2 = xasprintf("DELETE FROM resources WHERE kind = 'node' AND id = '%s'", str(ghost, "id"));
        sql(q2);
        assert_int_equal(sf_pool_recover(fx->vim, &kept, &e), 0);
        assert_int_equal(kept, 4);
        assert_null(get("pool", "net.ghost"));
        assert_int_equal(count("port", "device_owner", SF_POOL_OWNER), 4);
        json_auto_t *q3 = queue_of(str(p, "id"));
        assert_int_equal(json_array_size(q3), 4);
        /* the adopted one is at the tail */
        assert_string_equal(json_string_value(json_array_get(q3, 3)), json_string_value(json_array_get(q, 1)));
        /* idempotent */
        assert_int_equal(sf_pool_recover(fx->vim, &kept, &e), 0);
        assert_int_equal(kept, 4);
        (void) n1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refill_sizing),
                cmocka_unit_test(test_shrink_under_pressure),
                cmocka_unit_test_setup_teardown(test_fill_take_fifo_recycle, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_port_taken_listener, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_refill_waits_for_quiet_node, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_resize_fill_drain, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_exhaustion_and_reclaim, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_cascades, fx_setup, fx_teardown),
                cmocka_unit_test_setup_teardown(test_recovery, fx_setup, fx_teardown),
        };
        sf_log_max_level = SF_LOG_WARN;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
