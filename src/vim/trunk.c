/* Trunks, with Neutron's trunk semantics: a parent port (a VM's port: its untagged traffic
 * stays on its own network) and subports, each a port of any network carried over the
 * parent's link with its own VLAN id, so that containers nested in the VM get ports on the
 * virtual networks with one encapsulation, not two.
 *
 * Data model. A trunk is an object of kind "trunk" (owner column: the parent port; node
 * column: the parent's binding node) whose sub_ports list {port_id, segmentation_type "vlan",
 * segmentation_id, network_id, mac_address}. Which port is in which trunk lives in the
 * trunk_ports table (migration 3), written in the same transaction as the objects: its primary
 * key is the port (a port is in at most one trunk, as parent or as subport) and UNIQUE
 * (trunk_id, segmentation_id) keeps a VLAN id once per trunk, whatever the concurrency (the
 * checks before the inserts only make the messages clear). A subport is owned by its trunk
 * (device_owner "trunk:subport", device_id the trunk's id) and bound where the parent is:
 * when the parent moves, its subports move in the same transaction (sf_trunk_port_update).
 *
 * Subport pools (Kuryr's nested ports pool, per VM and network): a trunk's "subport_pools"
 * ({network: {min}}) keeps that many idle subports per network, made in bulk (ports
 * allocated, VLAN ids allocated, attached, all in one transaction, so the node plumbs them in
 * one sync). take_subport hands out the oldest idle one (or makes one: the cold path) and
 * refills; release_subport gives it back (idle again while the pool is below its min, else
 * its port is deleted). A pooled subport's entry carries "pool": "idle" or "taken" (and
 * "user", free text); subports added by hand have no "pool". */
#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("trunk");

#define VLAN_MIN 1
#define VLAN_MAX 4094

static const char *const trunk_create_keys[] = { "name", "description", "labels", "port", "sub_ports",
                                                 "admin_state_up", "subport_pools", NULL };
static const char *const trunk_update_keys[] = { "name", "description", "labels", "admin_state_up",
                                                 "status", "status_message", "datapath",
                                                 "observed_generation", "subport_pools", NULL };
#define POOL_MIN_MAX 256 /* idle subports a pool keeps at most per network */
static const char *const trunk_statuses[] = { "DOWN", "BUILD", "ACTIVE", "DEGRADED", "ERROR", NULL };

static const char *sv(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* ---- trunk_ports ---- */

struct tp_row {
        char trunk_id[40];
        int vid; /* 0: the parent port */
};

/* The trunk row of a port: 1 (ret filled) or 0 when the port is in no trunk. */
static int tp_get(sf_tx *tx, const char *port_id, struct tp_row *ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx), "SELECT trunk_id, segmentation_id FROM trunk_ports WHERE port_id = ?", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, port_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), rc, "trunk lookup", e);
        snprintf(ret->trunk_id, sizeof(ret->trunk_id), "%s", (const char *) sqlite3_column_text(st, 0));
        ret->vid = sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 1);
        return 1;
}

static int tp_insert(sf_tx *tx, const char *port_id, const char *trunk_id, int vid, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                "INSERT INTO trunk_ports(port_id, trunk_id, segmentation_id) VALUES (?, ?, ?)", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, port_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, trunk_id, -1, SQLITE_STATIC);
        if (vid)
                sqlite3_bind_int(st, 3, vid);
        else
                sqlite3_bind_null(st, 3);
        rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return -EEXIST; /* the caller says which: the checks before make this rare */
        if (rc != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), rc, "trunk insert", e);
        return 0;
}

static int tp_exec(sf_tx *tx, const char *sql, const char *arg, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(sf_tx_conn(tx), sql, e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), rc, "trunk update", e);
        return 0;
}

/* The port holding VLAN vid in a trunk: 1 (port_id filled) or 0. */
static int tp_vid_holder(sf_tx *tx, const char *trunk_id, int vid, char port_id[40], sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                "SELECT port_id FROM trunk_ports WHERE trunk_id = ? AND segmentation_id = ?", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, trunk_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, vid);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), rc, "trunk lookup", e);
        snprintf(port_id, 40, "%s", (const char *) sqlite3_column_text(st, 0));
        return 1;
}

/* The lowest VLAN id >= from that the trunk does not use: one indexed query (the first id
 * from, or the end of the first run of used ids from there). -ENOSPC when none is left. */
static int tp_free_vid(sf_tx *tx, const char *trunk_id, int from, int *ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM trunk_ports WHERE trunk_id = ?1 AND "
                "segmentation_id = ?2) THEN ?2 ELSE (SELECT min(t.segmentation_id) + 1 FROM "
                "trunk_ports t WHERE t.trunk_id = ?1 AND t.segmentation_id >= ?2 AND NOT EXISTS "
                "(SELECT 1 FROM trunk_ports u WHERE u.trunk_id = ?1 AND u.segmentation_id = "
                "t.segmentation_id + 1)) END",
                e);
        int rc, vid;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, trunk_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, from);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), rc, "VLAN id allocation", e);
        vid = sqlite3_column_int(st, 0);
        if (vid < VLAN_MIN || vid > VLAN_MAX)
                return -ENOSPC;
        *ret = vid;
        return 0;
}

/* ---- helpers ---- */

static char *trunk_name(sf_tx *tx, const char *trunk_id)
{
        json_auto_t *t = NULL;
        sf_rd rd;
        sf_rd_from_tx(tx, &rd);
        if (sf_res_get(&rd, "trunk", trunk_id, &t, NULL) < 0)
                return xstrdup(trunk_id);
        return xstrdup(sv(t, "name") ?: trunk_id);
}

static char *port_name(sf_tx *tx, const char *port_id)
{
        json_auto_t *p = NULL;
        sf_rd rd;
        sf_rd_from_tx(tx, &rd);
        if (sf_res_get(&rd, "port", port_id, &p, NULL) < 0)
                return xstrdup(port_id);
        return xstrdup(sv(p, "name") ?: port_id);
}

/* Refuses a port that is in a trunk already (as parent or subport) or an idle pooled one;
 * field names it. */
static int check_port_free(sf_tx *tx, json_t *port, const char *field, sf_err *e)
{
        struct tp_row row;
        const char *owner = sv(port, "device_owner") ?: "";
        int r = tp_get(tx, sv(port, "id"), &row, e);
        if (r < 0)
                return r;
        if (r > 0) {
                _cleanup_free_ char *t = trunk_name(tx, row.trunk_id);
                return sf_err_set(e, -EBUSY, field, row.vid ? "port '%s' is already a subport of trunk '%s'"
                                                            : "port '%s' is the parent port of trunk '%s'",
                                  sv(port, "name"), t);
        }
        if (STREQ(owner, SF_POOL_OWNER))
                return sf_err_set(e, -EBUSY, field, "port '%s' is an idle port of a port pool",
                                  sv(port, "name"));
        return 0;
}

static struct sf_res_cols trunk_cols(json_t *t)
{
        return (struct sf_res_cols) { .owner = sv(t, "port_id"), .node = sv(t, "node_id") };
}

/* Writes a port row directly: the trunk owns the binding of its subports. */
static int port_write(sf_tx *tx, json_t *port, sf_err *e)
{
        return sf_res_update(tx, "port", port,
                             &(struct sf_res_cols) { .owner = sv(port, "network_id"), .node = sv(port, "node_id") },
                             e);
}

/* A subport joins trunk t: owned by it, bound where the parent is. */
static int subport_take(sf_tx *tx, json_t *t, json_t *port, sf_err *e)
{
        json_auto_t *p = json_deep_copy(port);
        json_t *node = json_object_get(t, "node_id");
        json_object_set_new(p, "device_owner", json_string(SF_TRUNK_SUBPORT_OWNER));
        json_object_set(p, "device_id", json_object_get(t, "id"));
        json_object_set(p, "node_id", node ? node : json_null());
        return port_write(tx, p, e);
}

/* A subport leaves its trunk: free again, unbound. */
static int subport_release(sf_tx *tx, const char *port_id, sf_err *e)
{
        json_auto_t *p = NULL;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "port", port_id, &p, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return sf_err_set(e, r, NULL, "port lookup failed");
        json_object_set_new(p, "device_owner", json_string(""));
        json_object_set_new(p, "device_id", json_string(""));
        json_object_set_new(p, "node_id", json_null());
        json_object_set_new(p, "status", json_string("DOWN"));
        return port_write(tx, p, e);
}

static int cmp_subport(const void *x, const void *y)
{
        json_t *a = *(json_t *const *) x, *b = *(json_t *const *) y;
        return (int) (json_integer_value(json_object_get(a, "segmentation_id")) -
                      json_integer_value(json_object_get(b, "segmentation_id")));
}

/* Keeps sub_ports ordered by VLAN id. */
static void sort_subports(json_t *t)
{
        json_t *arr = json_object_get(t, "sub_ports"), *x;
        size_t n = json_array_size(arr), i;
        _cleanup_free_ json_t **v = n ? new0(json_t *, n) : NULL;
        json_t *sorted = json_array();
        json_array_foreach(arr, i, x)
                v[i] = x;
        if (n)
                qsort(v, n, sizeof(*v), cmp_subport);
        for (i = 0; i < n; i++)
                json_array_append(sorted, v[i]);
        json_object_set_new(t, "sub_ports", sorted);
}

/* The trunk changed in a way its node acts on: BUILD until the node reports (DOWN while the
 * parent is bound nowhere). */
static void bump(json_t *t)
{
        json_object_set_new(t, "generation", json_integer(json_integer_value(json_object_get(t, "generation")) + 1));
        json_object_set_new(t, "status", json_string(json_is_string(json_object_get(t, "node_id")) ? "BUILD" : "DOWN"));
}

/* ---- adding subports ---- */

struct sub_req {
        json_t *port; /* resolved */
        int vid;      /* requested, 0: allocate */
};

static void sub_reqs_free(struct sub_req *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                json_decref(v[i].port);
        free(v);
}

/* Validates the sub_ports of a request against the trunk and its parent; every error names
 * its entry (sub_ports[1].segmentation_id). */
static int parse_subports(sf_tx *tx, json_t *t, json_t *arr, struct sub_req **ret, size_t *ret_n,
                          sf_err *e)
{
        struct sub_req *v = NULL;
        size_t n = json_array_size(arr), i;
        json_t *x;
        int r = 0;

        if (n > VLAN_MAX)
                return sf_err_set(e, -EINVAL, "sub_ports", "at most %d subports", VLAN_MAX);
        v = n ? new0(struct sub_req, n) : NULL;
        json_array_foreach(arr, i, x) {
                static const char *const keys[] = { "port", "segmentation_type", "segmentation_id", NULL };
                const char *ref = NULL, *type = NULL;
                json_t *sid;
                char f[64];

                snprintf(f, sizeof(f), "sub_ports[%zu]", i);
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "port", true, &ref, e);
                if (r >= 0)
                        r = sf_json_str(x, "segmentation_type", false, &type, e);
                if (r >= 0 && type && !STREQ(type, "vlan"))
                        r = sf_err_set(e, -EINVAL, "segmentation_type",
                                       "'%.32s' is not supported: subports are VLANs (vlan)", type);
                sid = json_object_get(x, "segmentation_id");
                if (r >= 0 && sid && !json_is_null(sid)) {
                        if (!json_is_integer(sid))
                                r = sf_err_set(e, -EINVAL, "segmentation_id", "must be an integer");
                        else if (json_integer_value(sid) < VLAN_MIN || json_integer_value(sid) > VLAN_MAX)
                                r = sf_err_set(e, -EINVAL, "segmentation_id",
                                               "%" JSON_INTEGER_FORMAT " is not a VLAN id (1-4094)",
                                               json_integer_value(sid));
                        else
                                v[i].vid = (int) json_integer_value(sid);
                }
                if (r >= 0)
                        r = vim_resolve(tx, "port", ref, "port", &v[i].port, e);
                if (r >= 0 && STREQ(sv(v[i].port, "id"), sv(t, "port_id")))
                        r = sf_err_set(e, -EINVAL, "port", "port '%s' is the trunk's parent port", ref);
                if (r >= 0)
                        r = check_port_free(tx, v[i].port, "port", e);
                if (r >= 0 && *(sv(v[i].port, "device_id") ?: "")) {
                        const char *owner = sv(v[i].port, "device_owner") ?: "";
                        r = sf_err_set(e, -EBUSY, "port", "port '%s' is used by %s '%s'", ref,
                                       strncmp(owner, "compute:", 8) == 0 ? owner + 8 : (*owner ? owner : "device"),
                                       sv(v[i].port, "device_id"));
                }
                for (size_t k = 0; r >= 0 && k < i; k++) {
                        if (json_equal(json_object_get(v[k].port, "id"), json_object_get(v[i].port, "id")))
                                r = sf_err_set(e, -EINVAL, "port", "port '%s' is listed twice (sub_ports[%zu])",
                                               ref, k);
                        else if (v[i].vid && v[k].vid == v[i].vid)
                                r = sf_err_set(e, -EINVAL, "segmentation_id",
                                               "VLAN %d is listed twice (sub_ports[%zu])", v[i].vid, k);
                }
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        sub_reqs_free(v, n);
                        return r;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Adds validated subports to t (a private copy, written by the caller): requested VLAN ids
 * first, then allocated ones, lowest free first, so an allocation never takes an id that a
 * later entry of the same request asks for. */
static int add_subports(sf_tx *tx, json_t *t, struct sub_req *v, size_t n, sf_err *e)
{
        const char *tid = sv(t, "id");
        int cursor = VLAN_MIN, r;

        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        char f[64];
                        int vid = v[i].vid;
                        if ((pass == 0) != (vid != 0))
                                continue;
                        snprintf(f, sizeof(f), "sub_ports[%zu]", i);
                        if (pass == 0) {
                                char holder[40];
                                r = tp_vid_holder(tx, tid, vid, holder, e);
                                if (r > 0) {
                                        _cleanup_free_ char *pn = port_name(tx, holder);
                                        r = sf_err_set(e, -EEXIST, "segmentation_id",
                                                       "VLAN %d is already used in trunk '%s' (by port '%s')",
                                                       vid, sv(t, "name"), pn);
                                }
                        } else {
                                r = tp_free_vid(tx, tid, cursor, &vid, e);
                                if (r == -ENOSPC)
                                        r = sf_err_set(e, -ENOSPC, "segmentation_id",
                                                       "trunk '%s' has no free VLAN id left (1-4094)",
                                                       sv(t, "name"));
                                cursor = vid + 1;
                        }
                        if (r >= 0) {
                                r = tp_insert(tx, sv(v[i].port, "id"), tid, vid, e);
                                if (r == -EEXIST) /* a check above raced with nothing: a bug */
                                        r = sf_err_set(e, -EEXIST, "segmentation_id",
                                                       "VLAN %d or port '%s' is taken in trunk '%s'", vid,
                                                       sv(v[i].port, "name"), sv(t, "name"));
                        }
                        if (r >= 0)
                                r = subport_take(tx, t, v[i].port, e);
                        if (r < 0) {
                                sf_err_field_prefix(e, f);
                                return r;
                        }
                        json_array_append_new(json_object_get(t, "sub_ports"),
                                              json_pack("{s:O, s:s, s:i, s:O, s:O}", "port_id",
                                                        json_object_get(v[i].port, "id"), "segmentation_type",
                                                        "vlan", "segmentation_id", vid, "network_id",
                                                        json_object_get(v[i].port, "network_id"), "mac_address",
                                                        json_object_get(v[i].port, "mac_address")));
                }
        return 0;
}

/* ---- subport pools ---- */

/* {network ref: {"min": N}} -> merged into t's subport_pools ({network id: {"min": N}});
 * null or min 0 removes a network's pool. */
static int pools_settings(sf_tx *tx, json_t *t, json_t *in, sf_err *e)
{
        json_t *pools = json_object_get(in, "subport_pools"), *x, *cur;
        const char *ref;
        if (!pools || json_is_null(pools))
                return 0;
        if (!json_is_object(pools))
                return sf_err_set(e, -EINVAL, "subport_pools", "must be an object {network: {\"min\": N}}");
        cur = json_object_get(t, "subport_pools");
        if (!json_is_object(cur)) {
                cur = json_object();
                json_object_set_new(t, "subport_pools", cur);
        }
        json_object_foreach(pools, ref, x) {
                json_auto_t *net = NULL;
                int64_t min = 0;
                _cleanup_free_ char *f = xasprintf("subport_pools.%s", ref);
                int r = vim_resolve(tx, "network", ref, "network", &net, e);
                if (r >= 0 && !json_is_null(x)) {
                        r = sf_json_is_object(x, NULL, e);
                        if (r >= 0)
                                r = sf_json_only(x, (const char *const[]) { "min", NULL }, e);
                        if (r >= 0)
                                r = sf_json_int(x, "min", true, 0, POOL_MIN_MAX, &min, e);
                }
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                if (min > 0)
                        json_object_set_new(cur, sv(net, "id"), json_pack("{s:I}", "min", (json_int_t) min));
                else
                        json_object_del(cur, sv(net, "id"));
        }
        return 0;
}

static size_t pool_count(json_t *t, const char *net_id, const char *state)
{
        json_t *x;
        size_t i, n = 0;
        json_array_foreach(json_object_get(t, "sub_ports"), i, x)
                n += STREQ(sv(x, "network_id") ?: "", net_id) && STREQ(sv(x, "pool") ?: "", state);
        return n;
}

static int add_subports(sf_tx *tx, json_t *t, struct sub_req *v, size_t n, sf_err *e);

/* n new subports on a network, made by the pool: ports allocated, VLAN ids allocated, attached,
 * marked with state. Returns the first new entry's index in sub_ports. */
static int pool_make(sf_vim *v, sf_tx *tx, json_t *t, const char *net_id, size_t n, const char *state,
                     sf_err *e)
{
        struct sub_req *reqs = new0(struct sub_req, n);
        size_t first = json_array_size(json_object_get(t, "sub_ports"));
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_auto_t *req = json_pack("{s:s}", "network", net_id);
                r = sf_vim_port_create(v, tx, req, &reqs[i].port, e);
        }
        if (r >= 0)
                r = add_subports(tx, t, reqs, n, e);
        for (size_t i = 0; i < n; i++)
                json_decref(reqs[i].port);
        free(reqs);
        if (r < 0)
                return r;
        for (size_t i = first; i < json_array_size(json_object_get(t, "sub_ports")); i++)
                json_object_set_new(json_array_get(json_object_get(t, "sub_ports"), i), "pool", json_string(state));
        return (int) first;
}

/* Brings every pool of t to its min, in bulk; best effort (a full subnet stops a refill, it
 * does not fail the request that caused it: each network's refill is a savepoint). Returns
 * the number of subports made. */
static int pools_refill(sf_vim *v, sf_tx *tx, json_t *t)
{
        json_t *cfg;
        const char *net_id;
        int made = 0;
        json_object_foreach(json_object_get(t, "subport_pools"), net_id, cfg) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                size_t idle = pool_count(t, net_id, "idle");
                size_t min = (size_t) json_integer_value(json_object_get(cfg, "min"));
                json_auto_t *before = NULL;
                if (idle >= min)
                        continue;
                before = json_deep_copy(json_object_get(t, "sub_ports"));
                if (sf_sql_exec(sf_tx_conn(tx), "SAVEPOINT trunk_pool", &e) < 0)
                        break;
                if (pool_make(v, tx, t, net_id, min - idle, "idle", &e) < 0) {
                        log_warn("trunk '%s': subport pool of network %s not refilled: %s", sv(t, "name"), net_id,
                                 sf_err_msg(&e));
                        (void) sf_sql_exec(sf_tx_conn(tx), "ROLLBACK TO trunk_pool", NULL);
                        json_object_set(t, "sub_ports", before);
                } else
                        made += (int) (min - idle);
                (void) sf_sql_exec(sf_tx_conn(tx), "RELEASE trunk_pool", NULL);
        }
        return made;
}

/* ---- the kind ---- */

static int trunk_create(void *ctx, sf_tx *tx, json_t *in, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_object(), *parent = NULL;
        struct sub_req *subs = NULL;
        size_t n_subs = 0;
        const char *pref = NULL;
        json_t *arr = NULL;
        bool admin = true;
        int r;

        r = sf_json_only(in, trunk_create_keys, e);
        if (r >= 0)
                r = vim_set_common(in, obj, "trunk", e);
        if (r >= 0)
                r = sf_json_str(in, "port", true, &pref, e);
        if (r >= 0)
                r = sf_json_array(in, "sub_ports", false, &arr, e);
        if (r >= 0)
                r = sf_json_bool(in, "admin_state_up", false, &admin, e);
        if (r >= 0)
                r = vim_resolve(tx, "port", pref, "port", &parent, e);
        if (r >= 0)
                r = check_port_free(tx, parent, "port", e);
        if (r >= 0 && STREQ(sv(parent, "device_owner") ?: "", SF_TRUNK_SUBPORT_OWNER))
                r = sf_err_set(e, -EBUSY, "port", "port '%s' is a subport", pref);
        if (r < 0)
                return r;
        json_object_set(obj, "port_id", json_object_get(parent, "id"));
        json_object_set(obj, "network_id", json_object_get(parent, "network_id"));
        json_object_set(obj, "node_id", json_is_string(json_object_get(parent, "node_id"))
                                                ? json_object_get(parent, "node_id") : json_null());
        json_object_set_new(obj, "admin_state_up", json_boolean(admin));
        json_object_set_new(obj, "sub_ports", json_array());
        json_object_set_new(obj, "generation", json_integer(0));
        json_object_set_new(obj, "observed_generation", json_integer(0));
        json_object_set_new(obj, "status_message", json_string(""));
        json_object_set_new(obj, "datapath", json_null());
        bump(obj);
        r = tp_insert(tx, sv(parent, "id"), sv(obj, "id"), 0, e);
        if (r == -EEXIST)
                r = sf_err_set(e, -EBUSY, "port", "port '%s' is already in a trunk", pref);
        if (r >= 0 && arr)
                r = parse_subports(tx, obj, arr, &subs, &n_subs, e);
        if (r >= 0)
                r = add_subports(tx, obj, subs, n_subs, e);
        sub_reqs_free(subs, n_subs);
        if (r >= 0)
                r = pools_settings(tx, obj, in, e);
        if (r < 0)
                return r;
        pools_refill(ctx, tx, obj);
        sort_subports(obj);
        struct sf_res_cols cols = trunk_cols(obj);
        r = sf_res_insert(tx, "trunk", obj, &cols, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int trunk_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        json_auto_t *obj = json_deep_copy(cur);
        const char *status = NULL, *msg = NULL, *dp = NULL;
        int64_t observed = -1;
        bool admin;
        int r;

        if (json_object_get(patch, "sub_ports"))
                return sf_err_set(e, -EINVAL, "sub_ports",
                                  "cannot be changed here: use the add_subports and remove_subports actions");
        r = vim_check_patch_keys(patch, trunk_update_keys, trunk_create_keys, e);
        if (r >= 0)
                r = vim_patch_common(obj, patch, e);
        if (r >= 0)
                r = sf_json_str(patch, "status", false, &status, e);
        if (r >= 0)
                r = sf_json_str(patch, "status_message", false, &msg, e);
        if (r >= 0)
                r = sf_json_str(patch, "datapath", false, &dp, e);
        if (r >= 0)
                r = sf_json_int(patch, "observed_generation", false, 0, INT64_MAX, &observed, e);
        if (r < 0)
                return r;
        if (json_object_get(patch, "admin_state_up")) {
                r = sf_json_bool(patch, "admin_state_up", true, &admin, e);
                if (r < 0)
                        return r;
                json_object_set_new(obj, "admin_state_up", json_boolean(admin));
        }
        if (status) {
                bool ok = false;
                for (const char *const *s = trunk_statuses; *s; s++)
                        ok |= STREQ(*s, status);
                if (!ok)
                        return sf_err_set(e, -EINVAL, "status", "must be DOWN, BUILD, ACTIVE, DEGRADED or ERROR");
                /* A node's report about an older generation does not make the trunk ACTIVE. */
                if (STREQ(status, "ACTIVE") && observed >= 0 &&
                    observed < json_integer_value(json_object_get(obj, "generation")))
                        status = "BUILD";
                json_object_set_new(obj, "status", json_string(status));
        }
        if (msg) {
                if (strlen(msg) > 1024)
                        return sf_err_set(e, -EINVAL, "status_message", "must be at most 1024 characters");
                json_object_set_new(obj, "status_message", json_string(msg));
        }
        if (dp) {
                if (!STREQ(dp, "vlan") && !STREQ(dp, "bpf") && !STREQ(dp, "none"))
                        return sf_err_set(e, -EINVAL, "datapath", "must be vlan, bpf or none");
                json_object_set_new(obj, "datapath", json_string(dp));
        }
        if (observed >= 0)
                json_object_set_new(obj, "observed_generation", json_integer(observed));
        if (json_object_get(patch, "subport_pools")) {
                if (!json_is_true(json_object_get(obj, "admin_state_up")))
                        return sf_err_set(e, -EBUSY, "subport_pools",
                                          "trunk '%s' is disabled (admin_state_up false): its subports cannot change",
                                          sv(obj, "name"));
                if (json_is_null(json_object_get(patch, "subport_pools")))
                        json_object_set_new(obj, "subport_pools", json_object());
                r = pools_settings(tx, obj, patch, e);
                if (r < 0)
                        return r;
                if (pools_refill(ctx, tx, obj) > 0) {
                        sort_subports(obj);
                        bump(obj);
                }
        }
        struct sf_res_cols cols = trunk_cols(obj);
        r = sf_res_update(tx, "trunk", obj, &cols, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

/* Releases every subport (the ports a pool made are deleted) and deletes the trunk. */
static int trunk_purge(sf_vim *v, sf_tx *tx, json_t *t, sf_err *e)
{
        json_t *x;
        size_t i;
        int r = tp_exec(tx, "DELETE FROM trunk_ports WHERE trunk_id = ?", sv(t, "id"), e);
        json_array_foreach(json_object_get(t, "sub_ports"), i, x) {
                if (r < 0)
                        return r;
                if (json_object_get(x, "pool")) {
                        json_auto_t *port = NULL;
                        sf_rd rd;
                        sf_rd_from_tx(tx, &rd);
                        if (sf_res_get(&rd, "port", sv(x, "port_id"), &port, NULL) >= 0)
                                r = sf_vim_port_delete(v, tx, port, e);
                } else
                        r = subport_release(tx, sv(x, "port_id"), e);
        }
        if (r >= 0)
                r = sf_res_delete(tx, "trunk", sv(t, "id"), e);
        return r;
}

static int trunk_remove(void *ctx, sf_tx *tx, json_t *cur, json_t *opts, sf_err *e)
{
        json_t *x;
        size_t i, n = 0;
        /* Idle pooled subports are the pool's, not a user's: they go with the trunk. */
        json_array_foreach(json_object_get(cur, "sub_ports"), i, x)
                n += !STREQ(sv(x, "pool") ?: "", "idle");
        if (n > 0 && !json_is_true(json_object_get(opts, "force")))
                return sf_err_set(e, -EBUSY, NULL,
                                  "trunk '%s' has %zu subport%s: remove %s first (remove_subports), or force",
                                  sv(cur, "name"), n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
        return trunk_purge(ctx, tx, cur, e);
}

/* An action's transaction: the trunk as it is now, changed by fn (which returns > 0 when the
 * node has work: subports came or went), written. The answer is the trunk, or what fn put in
 * *out. */
typedef int (*trunk_fn)(sf_vim *v, sf_tx *tx, json_t *t, json_t *in, json_t **out, sf_err *e);
static int with_trunk(sf_vim *v, sf_store *s, json_t *cur, json_t *in, trunk_fn fn, json_t **ret, sf_err *e)
{
        json_auto_t *out = NULL;
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *t = NULL;
        sf_rd rd;
        int r = sf_tx_begin(s, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "trunk", sv(cur, "id"), &t, e);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(t, "admin_state_up")))
                return sf_err_set(e, -EBUSY, NULL,
                                  "trunk '%s' is disabled (admin_state_up false): its subports cannot change",
                                  sv(t, "name"));
        r = fn(v, tx, t, in, &out, e);
        if (r < 0)
                return r;
        sort_subports(t);
        if (r > 0)
                bump(t);
        struct sf_res_cols cols = trunk_cols(t);
        r = sf_res_update(tx, "trunk", t, &cols, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        if (r < 0)
                return r;
        *ret = out ? TAKE_PTR(out) : TAKE_PTR(t);
        return 0;
}

static int do_add(sf_vim *v, sf_tx *tx, json_t *t, json_t *in, json_t **out, sf_err *e)
{
        struct sub_req *subs = NULL;
        size_t n = 0;
        json_t *arr = NULL;
        int r = sf_json_only(in, (const char *const[]) { "sub_ports", NULL }, e);
        if (r >= 0)
                r = sf_json_array(in, "sub_ports", true, &arr, e);
        if (r >= 0 && json_array_size(arr) == 0)
                r = sf_err_set(e, -EINVAL, "sub_ports", "must not be empty");
        if (r >= 0 && json_array_size(json_object_get(t, "sub_ports")) + json_array_size(arr) > VLAN_MAX)
                r = sf_err_set(e, -ENOSPC, "sub_ports", "a trunk carries at most %d subports", VLAN_MAX);
        if (r >= 0)
                r = parse_subports(tx, t, arr, &subs, &n, e);
        if (r >= 0)
                r = add_subports(tx, t, subs, n, e);
        sub_reqs_free(subs, n);
        return r < 0 ? r : 1;
}

static int do_remove(sf_vim *v, sf_tx *tx, json_t *t, json_t *in, json_t **out, sf_err *e)
{
        json_t *arr = NULL, *x, *keep;
        size_t i;
        int r = sf_json_only(in, (const char *const[]) { "sub_ports", NULL }, e);
        if (r >= 0)
                r = sf_json_array(in, "sub_ports", true, &arr, e);
        if (r >= 0 && json_array_size(arr) == 0)
                r = sf_err_set(e, -EINVAL, "sub_ports", "must not be empty");
        if (r < 0)
                return r;
        json_array_foreach(arr, i, x) {
                static const char *const keys[] = { "port", "segmentation_type", "segmentation_id", NULL };
                json_auto_t *port = NULL;
                const char *ref = NULL;
                struct tp_row row;
                char f[64];
                snprintf(f, sizeof(f), "sub_ports[%zu]", i);
                r = sf_json_is_object(x, NULL, e);
                if (r >= 0)
                        r = sf_json_only(x, keys, e);
                if (r >= 0)
                        r = sf_json_str(x, "port", true, &ref, e);
                if (r >= 0)
                        r = vim_resolve(tx, "port", ref, "port", &port, e);
                if (r >= 0) {
                        r = tp_get(tx, sv(port, "id"), &row, e);
                        if (r == 0 || (r > 0 && (!STREQ(row.trunk_id, sv(t, "id")) || !row.vid)))
                                r = sf_err_set(e, -EINVAL, "port", "port '%s' is not a subport of trunk '%s'",
                                               ref, sv(t, "name"));
                }
                if (r >= 0)
                        r = tp_exec(tx, "DELETE FROM trunk_ports WHERE port_id = ?", sv(port, "id"), e);
                if (r >= 0)
                        r = subport_release(tx, sv(port, "id"), e);
                if (r < 0) {
                        sf_err_field_prefix(e, f);
                        return r;
                }
                keep = json_array();
                {
                        json_t *s;
                        size_t k;
                        json_array_foreach(json_object_get(t, "sub_ports"), k, s)
                                if (!json_equal(json_object_get(s, "port_id"), json_object_get(port, "id")))
                                        json_array_append(keep, s);
                }
                json_object_set_new(t, "sub_ports", keep);
        }
        return 1;
}

/* The answer of take_subport: the subport with what a nested container needs (its VLAN id,
 * MAC, addresses, MTU), and the trunk. */
static int taken_view(sf_tx *tx, json_t *t, size_t idx, json_t **out, sf_err *e)
{
        json_t *entry = json_array_get(json_object_get(t, "sub_ports"), idx);
        json_auto_t *port = NULL;
        sf_rd rd;
        int r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "port", sv(entry, "port_id"), &port, e);
        if (r < 0)
                return r;
        *out = json_pack("{s:o, s:O}", "sub_port", json_deep_copy(entry), "trunk", t);
        json_object_set(json_object_get(*out, "sub_port"), "fixed_ips", json_object_get(port, "fixed_ips"));
        json_object_set(json_object_get(*out, "sub_port"), "mtu", json_object_get(port, "mtu"));
        json_object_set(json_object_get(*out, "sub_port"), "port_name", json_object_get(port, "name"));
        return 0;
}

/* take_subport {"network", "user"}: the oldest idle pooled subport on network, or a new one
 * (the cold path); then the pool is refilled in the same transaction. */
static int do_take(sf_vim *v, sf_tx *tx, json_t *t, json_t *in, json_t **out, sf_err *e)
{
        json_auto_t *net = NULL;
        const char *ref = NULL, *user = NULL, *port_id = NULL;
        json_t *x;
        size_t i;
        bool cold = true;
        int r = sf_json_only(in, (const char *const[]) { "network", "user", NULL }, e);
        if (r >= 0)
                r = sf_json_str(in, "network", true, &ref, e);
        if (r >= 0)
                r = sf_json_str(in, "user", false, &user, e);
        if (r >= 0 && user && strlen(user) > 255)
                r = sf_err_set(e, -EINVAL, "user", "must be at most 255 characters");
        if (r >= 0)
                r = vim_resolve(tx, "network", ref, "network", &net, e);
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(t, "sub_ports"), i, x)
                if (STREQ(sv(x, "network_id") ?: "", sv(net, "id")) && STREQ(sv(x, "pool") ?: "", "idle")) {
                        json_object_set_new(x, "pool", json_string("taken"));
                        cold = false;
                        break;
                }
        if (cold) {
                r = pool_make(v, tx, t, sv(net, "id"), 1, "taken", e);
                if (r < 0) {
                        sf_err_field_prefix(e, "network");
                        return r;
                }
                x = json_array_get(json_object_get(t, "sub_ports"), (size_t) r);
        }
        json_object_set_new(x, "user", json_string(user ?: ""));
        port_id = sv(x, "port_id");
        {
                _cleanup_free_ char *pid = xstrdup(port_id);
                int made = pools_refill(v, tx, t);
                sort_subports(t);
                json_array_foreach(json_object_get(t, "sub_ports"), i, x)
                        if (STREQ(sv(x, "port_id"), pid))
                                break;
                r = taken_view(tx, t, i, out, e);
                return r < 0 ? r : (cold || made > 0);
        }
}

/* release_subport {"port"}: a taken pooled subport goes back to idle while its pool is below
 * its min; otherwise it leaves the trunk and its port is deleted. */
static int do_release(sf_vim *v, sf_tx *tx, json_t *t, json_t *in, json_t **out, sf_err *e)
{
        json_auto_t *port = NULL;
        const char *ref = NULL;
        json_t *x = NULL, *cfg;
        size_t i;
        bool found = false;
        int r = sf_json_only(in, (const char *const[]) { "port", NULL }, e);
        if (r >= 0)
                r = sf_json_str(in, "port", true, &ref, e);
        if (r >= 0)
                r = vim_resolve(tx, "port", ref, "port", &port, e);
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(t, "sub_ports"), i, x)
                if (json_equal(json_object_get(x, "port_id"), json_object_get(port, "id"))) {
                        found = true;
                        break;
                }
        if (!found || !STREQ(sv(x, "pool") ?: "", "taken"))
                return sf_err_set(e, -EINVAL, "port",
                                  found ? "port '%s' was not taken from a subport pool: use remove_subports"
                                        : "port '%s' is not a subport of trunk '%s'",
                                  ref, sv(t, "name"));
        cfg = json_object_get(json_object_get(t, "subport_pools"), sv(x, "network_id"));
        if (pool_count(t, sv(x, "network_id"), "idle") < (size_t) json_integer_value(json_object_get(cfg, "min"))) {
                json_object_set_new(x, "pool", json_string("idle"));
                json_object_del(x, "user");
                return 0; /* plumbed already: nothing for the node to do */
        }
        json_array_remove(json_object_get(t, "sub_ports"), i);
        r = tp_exec(tx, "DELETE FROM trunk_ports WHERE port_id = ?", sv(port, "id"), e);
        if (r >= 0)
                r = sf_vim_port_delete(v, tx, port, e);
        return r < 0 ? r : 1;
}

static int action_add(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return with_trunk(ctx, s, cur, in, do_add, ret, e);
}

static int action_remove(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return with_trunk(ctx, s, cur, in, do_remove, ret, e);
}

static int action_take(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return with_trunk(ctx, s, cur, in, do_take, ret, e);
}

static int action_release(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return with_trunk(ctx, s, cur, in, do_release, ret, e);
}

/* GET /v1/trunks/X/get_subports, as Neutron has it. */
static int action_get(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        *ret = json_pack("{s:O}", "sub_ports", json_object_get(cur, "sub_ports"));
        return 0;
}

/* ---- nested containers (nested.c) ---- */

/* The trunk whose parent is parent_port_id, in tx; -ENOENT naming field when there is none. */
static int trunk_of_parent(sf_tx *tx, const char *parent_port_id, const char *field, json_t **ret, sf_err *e)
{
        struct tp_row row;
        sf_rd rd;
        int r = tp_get(tx, parent_port_id, &row, e);
        if (r < 0)
                return r;
        if (r == 0 || row.vid != 0)
                return sf_err_set(e, -ENOENT, field, "the VM's port is not the parent of a trunk");
        sf_rd_from_tx(tx, &rd);
        return sf_res_get(&rd, "trunk", row.trunk_id, ret, e);
}

static int trunk_write(sf_tx *tx, json_t *t, int changed, sf_err *e)
{
        struct sf_res_cols cols;
        sort_subports(t);
        if (changed > 0)
                bump(t);
        cols = trunk_cols(t);
        return sf_res_update(tx, "trunk", t, &cols, e);
}

int sf_trunk_nested_take(sf_vim *v, sf_tx *tx, const char *parent_port_id, const char *net_id,
                         const char *user, json_t **ret_port, int *ret_vid, sf_err *e)
{
        json_auto_t *t = NULL, *out = NULL, *in = json_pack("{s:s, s:s}", "network", net_id, "user", user);
        json_t *sub;
        sf_rd rd;
        int r = trunk_of_parent(tx, parent_port_id, "host_vm", &t, e);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(t, "admin_state_up")))
                return sf_err_set(e, -EBUSY, "host_vm", "trunk '%s' is disabled (admin_state_up false)",
                                  sv(t, "name"));
        r = do_take(v, tx, t, in, &out, e);
        if (r >= 0)
                r = trunk_write(tx, t, r, e);
        if (r < 0)
                return r;
        sub = json_object_get(out, "sub_port");
        *ret_vid = (int) json_integer_value(json_object_get(sub, "segmentation_id"));
        sf_rd_from_tx(tx, &rd);
        return sf_res_get(&rd, "port", sv(sub, "port_id"), ret_port, e);
}

int sf_trunk_nested_release(sf_vim *v, sf_tx *tx, const char *port_id, sf_err *e)
{
        json_auto_t *t = NULL, *out = NULL, *in = json_pack("{s:s}", "port", port_id);
        struct tp_row row;
        sf_rd rd;
        int r = tp_get(tx, port_id, &row, e);
        if (r <= 0)
                return r; /* no longer a subport (its trunk went with a forced delete) */
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "trunk", row.trunk_id, &t, e);
        if (r >= 0)
                r = do_release(v, tx, t, in, &out, e);
        if (r >= 0)
                r = trunk_write(tx, t, r, e);
        return r;
}

int sf_trunk_nested_ensure(sf_vim *v, sf_tx *tx, json_t *vm, const char *parent_port_id, sf_err *e)
{
        json_auto_t *t = NULL, *in = NULL;
        struct tp_row row;
        int r = tp_get(tx, parent_port_id, &row, e);
        if (r < 0)
                return r;
        if (r > 0) {
                if (row.vid != 0)
                        return sf_err_set(e, -EBUSY, "nested_mode", "the VM's first port is a subport of a trunk");
                return 0; /* the user made its trunk already */
        }
        in = json_pack("{s:s, s:s, s:s}", "port", parent_port_id, "name",
                       sv(vm, "name"), "description", "nested containers of this VM (nested_mode)");
        r = trunk_create(v, tx, in, &t, e);
        if (r < 0)
                sf_err_field_prefix(e, "nested_mode");
        return r;
}

/* ---- hooks for ports (port.c) ---- */

int sf_trunk_port_check_delete(sf_tx *tx, json_t *port, sf_err *e)
{
        struct tp_row row;
        int r = tp_get(tx, sv(port, "id"), &row, e);
        if (r <= 0)
                return r;
        {
                _cleanup_free_ char *t = trunk_name(tx, row.trunk_id);
                return sf_err_set(e, -EBUSY, NULL,
                                  row.vid ? "port '%s' is a subport of trunk '%s': remove it from the trunk first "
                                            "(remove_subports), or force"
                                          : "port '%s' is the parent port of trunk '%s': delete the trunk first, or force",
                                  sv(port, "name"), t);
        }
}

int sf_trunk_forget_port(sf_vim *v, sf_tx *tx, const char *port_id, sf_err *e)
{
        json_auto_t *t = NULL;
        struct tp_row row;
        sf_rd rd;
        int r = tp_get(tx, port_id, &row, e);
        if (r <= 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "trunk", row.trunk_id, &t, e);
        if (r < 0)
                return r;
        if (!row.vid) {
                /* The parent goes (forced, or with a workload that owned it): so does the trunk. */
                log_info("trunk '%s' deleted with its parent port", sv(t, "name"));
                return trunk_purge(v, tx, t, e);
        }
        {
                json_t *keep = json_array(), *s;
                size_t k;
                json_array_foreach(json_object_get(t, "sub_ports"), k, s)
                        if (!STREQ(sv(s, "port_id") ?: "", port_id))
                                json_array_append(keep, s);
                json_object_set_new(t, "sub_ports", keep);
        }
        bump(t);
        r = tp_exec(tx, "DELETE FROM trunk_ports WHERE port_id = ?", port_id, e);
        if (r >= 0) {
                struct sf_res_cols cols = trunk_cols(t);
                r = sf_res_update(tx, "trunk", t, &cols, e);
        }
        return r;
}

int sf_trunk_port_update(sf_vim *v, sf_tx *tx, json_t *cur, json_t *port, sf_err *e)
{
        json_auto_t *t = NULL;
        struct tp_row row;
        json_t *x;
        size_t i;
        sf_rd rd;
        int r = tp_get(tx, sv(port, "id"), &row, e);
        if (r <= 0)
                return r;
        if (row.vid) {
                /* A subport's binding and owner are its trunk's. */
                for (const char *const *k = (const char *const[]) { "node_id", "device_owner", "device_id", NULL }; *k; k++)
                        if (!json_equal(json_object_get(cur, *k), json_object_get(port, *k))) {
                                _cleanup_free_ char *tn = trunk_name(tx, row.trunk_id);
                                return sf_err_set(e, -EBUSY, STREQ(*k, "node_id") ? "node" : *k,
                                                  "port '%s' is a subport of trunk '%s': its %s follows the trunk",
                                                  sv(cur, "name"), tn,
                                                  STREQ(*k, "node_id") ? "binding" : "owner");
                        }
                return 0;
        }
        if (json_equal(json_object_get(cur, "node_id"), json_object_get(port, "node_id")))
                return 0;
        /* The parent moved (its VM was placed, moved or went): the trunk and its subports follow. */
        sf_rd_from_tx(tx, &rd);
        r = sf_res_get(&rd, "trunk", row.trunk_id, &t, e);
        if (r < 0)
                return r;
        x = json_object_get(port, "node_id");
        json_object_set(t, "node_id", json_is_string(x) ? x : json_null());
        bump(t);
        json_array_foreach(json_object_get(t, "sub_ports"), i, x) {
                json_auto_t *sp = NULL;
                r = sf_res_get(&rd, "port", sv(x, "port_id"), &sp, e);
                if (r >= 0)
                        r = subport_take(tx, t, sp, e);
                if (r < 0)
                        return r;
        }
        struct sf_res_cols cols = trunk_cols(t);
        return sf_res_update(tx, "trunk", t, &cols, e);
}

static const struct sf_kind_filter trunk_filters[] = {
        { "port", SF_FILTER_OWNER, "port", NULL },
        { "node", SF_FILTER_NODE, "node", NULL },
        { "status", SF_FILTER_BODY, NULL, "status" },
        { NULL },
};
static const struct sf_kind_action trunk_actions[] = {
        { "add_subports", false, action_add },
        { "remove_subports", false, action_remove },
        { "get_subports", true, action_get },
        { "take_subport", false, action_take },
        { "release_subport", false, action_release },
        { NULL },
};

struct sf_kind vim_trunk_kind = {
        .name = "trunk",
        .plural = "trunks",
        .filters = trunk_filters,
        .create = trunk_create,
        .update = trunk_update,
        .remove = trunk_remove,
        .actions = trunk_actions,
};
