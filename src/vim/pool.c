/* Port pools, Kuryr's ports pool: idle ports allocated ahead of time in bulk per (node,
 * network, security-group set), taken in O(1) by workloads, refilled in the background, recycled
 * when their workload goes, and given back when addresses run short.
 *
 * Data model. A pool is an object of kind "pool" (owner column: the network, node column: the
 * node) whose id is derived from its key, so there can never be two pools for one key. Its
 * idle ports are ordinary port rows with device_owner "compute:pool", bound to the pool's node
 * (so the node's agent pre-plumbs a namespace for each), listed in FIFO order in the pool_ports
 * table (migration 2). Every change to a pool happens in the same transaction as the port rows
 * it concerns: a crash at any point leaves either all of a refill or none of it.
 *
 * Settings: sfd's defaults, then the network's "port_pool" object, then the pool's own
 * (sfctl pool resize); null means "inherit". Statistics (hits, misses, refills, latencies) live
 * in memory and restart at zero with sfd, like any Prometheus counter. */
#include <inttypes.h>
#include <time.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("pool");

#define LAT_SAMPLES 64
#define QUEUE_MAX 256
/* While the node of a pool is busy (sf_pool_refill_when), the refiller looks again this often. */
#define BUSY_POLL_USEC 50000

struct pool_cfg {
        bool enabled;
        unsigned min, max, batch;
};

struct pool_stats {
        char id[40];
        uint64_t hits, misses, refills, refill_ports, recycled, released, reclaimed;
        double lat[LAT_SAMPLES]; /* refill latency, ms: from the first request after the pool
                                  * went short to the commit of the refill */
        size_t n_lat, next_lat;
        double lat_max;
        uint64_t due; /* monotonic usec when a refill was first asked for; 0: none pending */
        uint64_t last_take; /* monotonic usec of the last take (hit or miss) */
};

struct sf_pools {
        struct pool_cfg defaults;
        unsigned period_s;
        pthread_mutex_t lock; /* everything below */
        pthread_cond_t cond;
        struct pool_stats *stats;
        size_t n_stats;
        char (*queue)[40]; /* pools to refill, in order of request */
        size_t n_queue;
        bool scan;         /* look at every pool */
        bool running;
        pthread_t thread;
        /* allocations by path, for the control-plane call count */
        uint64_t cold_ports, refill_tx, refill_tx_ports, reclaims;
};

/* ---- arithmetic ---- */

unsigned sf_pool_target(const struct sf_pool_calc *c)
{
        uint64_t t = MIN(c->min, c->max);
        if (c->targets > 0 && c->free != UINT64_MAX && c->free + c->pooled < c->targets)
                t = (uint64_t) c->min * (c->free + c->pooled) / c->targets;
        return (unsigned) MIN(t, (uint64_t) c->max);
}

unsigned sf_pool_refill_count(const struct sf_pool_calc *c)
{
        bool pressure = c->targets > 0 && c->free != UINT64_MAX && c->free + c->pooled < c->targets;
        uint64_t t = sf_pool_target(c), n;
        if (c->size >= t)
                return 0;
        n = pressure ? t - c->size : MAX((uint64_t) c->batch, t - c->size);
        n = MIN(n, (uint64_t) (c->max > c->size ? c->max - c->size : 0));
        if (c->free != UINT64_MAX)
                n = MIN(n, c->free / 2);
        return (unsigned) n;
}

unsigned sf_pool_excess(const struct sf_pool_calc *c)
{
        return c->size > c->max ? c->size - c->max : 0;
}

/* ---- settings ---- */

static void cfg_layer(struct pool_cfg *c, json_t *o)
{
        json_t *x;
        if (!json_is_object(o))
                return;
        if (json_is_boolean(x = json_object_get(o, "enabled")))
                c->enabled = json_is_true(x);
        if (json_is_integer(x = json_object_get(o, "min")))
                c->min = (unsigned) json_integer_value(x);
        if (json_is_integer(x = json_object_get(o, "max")))
                c->max = (unsigned) json_integer_value(x);
        if (json_is_integer(x = json_object_get(o, "batch")))
                c->batch = (unsigned) json_integer_value(x);
}

static struct pool_cfg cfg_of(sf_vim *v, json_t *net, json_t *pool)
{
        struct pool_cfg c = v->pools->defaults;
        cfg_layer(&c, json_object_get(net, "port_pool"));
        cfg_layer(&c, pool);
        c.batch = MAX(c.batch, 1u);
        c.min = MIN(c.min, c.max);
        return c;
}

/* {enabled, min, max, batch}, each optional; min <= max when both are given. */
static int check_settings(json_t *o, bool nulls, sf_err *e)
{
        static const char *const keys[] = { "enabled", "min", "max", "batch", NULL };
        int64_t min = -1, max = -1, batch = 0;
        bool en;
        int r = sf_json_only(o, keys, e);
        if (r >= 0 && !nulls)
                for (const char *const *k = keys; *k; k++)
                        if (json_is_null(json_object_get(o, *k)))
                                return sf_err_set(e, -EINVAL, *k, "must not be null");
        if (r >= 0)
                r = sf_json_bool(o, "enabled", false, &en, e);
        if (r >= 0)
                r = sf_json_int(o, "min", false, 0, SF_POOL_LIMIT, &min, e);
        if (r >= 0)
                r = sf_json_int(o, "max", false, 0, SF_POOL_LIMIT, &max, e);
        if (r >= 0)
                r = sf_json_int(o, "batch", false, 1, SF_POOL_LIMIT, &batch, e);
        if (r >= 0 && min >= 0 && max >= 0 && min > max)
                r = sf_err_set(e, -EINVAL, "min", "%" PRId64 " is above max (%" PRId64 ")", min, max);
        return r;
}

int sf_pool_settings_check(json_t *in, const char *key, json_t **ret, sf_err *e)
{
        json_t *o = NULL;
        int r = sf_json_object(in, key, false, &o, e);
        if (r < 0 || !o)
                return r;
        r = check_settings(o, false, e);
        if (r < 0) {
                sf_err_field_prefix(e, key);
                return r;
        }
        *ret = o;
        return 0;
}

/* ---- identity ---- */

/* A UUID (version 8: vendor-defined) hashed from the pool's key, so that every controller,
 * before and after any restart or failover, names the same pool the same way. */
static void pool_id_of(const char *node_id, const char *net_id, char out[SF_UUID_STRLEN])
{
        const char *parts[] = { "superfluid-pool-v1", node_id, net_id, "" /* security groups */ };
        uint64_t a = 0xcbf29ce484222325ULL, b = 0x6c62272e07bb0142ULL;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                for (const unsigned char *s = (const unsigned char *) parts[i]; ; s++) {
                        unsigned ch = *s ? *s : 0x1ff; /* a separator no byte can be */
                        a = (a ^ ch) * 0x100000001b3ULL;
                        b = (b ^ ch) * 0x100000001b3ULL;
                        b ^= b >> 29;
                        if (!*s)
                                break;
                }
        }
        snprintf(out, SF_UUID_STRLEN, "%08" PRIx32 "-%04x-8%03x-%04x-%012" PRIx64,
                 (uint32_t) (a >> 32), (unsigned) ((a >> 16) & 0xffff), (unsigned) (a & 0xfff),
                 (unsigned) (0x8000 | ((b >> 48) & 0x3fff)), (uint64_t) (b & 0xffffffffffffULL));
}

static const char *sv(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* A VM's node (nested.c) has no port pools: its containers' ports come from the VM's trunk
 * and its subport pools. */
static bool node_ready(json_t *node)
{
        return STREQ(sv(json_object_get(node, "status"), "state") ?: "", "Ready") && !sv(node, "parent");
}

/* ---- the pool_ports table ---- */

static int pp_count(sf_conn *c, const char *pool_id, int64_t *ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(c, "SELECT count(*) FROM pool_ports WHERE pool_id = ?", e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, pool_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return sf_sql_err(c, rc, "pool size", e);
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

/* Idle ports in all pools of a network. */
static int pp_count_network(sf_conn *c, const char *net_id, int64_t *ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                c,
                "SELECT count(*) FROM pool_ports WHERE pool_id IN "
                "(SELECT id FROM resources WHERE kind = 'pool' AND owner = ?)",
                e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, net_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return sf_sql_err(c, rc, "pooled ports", e);
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

/* The oldest (newest with last) idle port of a pool: 1 and its id and sequence, or 0. */
static int pp_end(sf_tx *tx, const char *pool_id, bool last, char port_id[40], int64_t *ret_seq,
                  sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                last ? "SELECT seq, port_id FROM pool_ports WHERE pool_id = ? ORDER BY seq DESC LIMIT 1"
                     : "SELECT seq, port_id FROM pool_ports WHERE pool_id = ? ORDER BY seq LIMIT 1",
                e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, pool_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), rc, "pool lookup", e);
        *ret_seq = sqlite3_column_int64(st, 0);
        snprintf(port_id, 40, "%s", (const char *) sqlite3_column_text(st, 1));
        return 1;
}

static int pp_del(sf_tx *tx, const char *pool_id, int64_t seq, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(sf_tx_conn(tx), "DELETE FROM pool_ports WHERE pool_id = ? AND seq = ?", e);
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, pool_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), sqlite3_errcode(sf_conn_db(sf_tx_conn(tx))),
                                  "pool take", e);
        return 0;
}

/* Appends a port at the tail of the pool's queue. */
static int pp_push(sf_tx *tx, const char *pool_id, const char *port_id, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                "INSERT INTO pool_ports(pool_id, seq, port_id) SELECT ?1, coalesce(max(seq), 0) + 1, ?2 "
                "FROM pool_ports WHERE pool_id = ?1",
                e);
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, pool_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, port_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), sqlite3_errcode(sf_conn_db(sf_tx_conn(tx))),
                                  "pool add", e);
        return 0;
}

int sf_pool_forget_port(sf_tx *tx, const char *port_id, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(sf_tx_conn(tx), "DELETE FROM pool_ports WHERE port_id = ?", e);
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, port_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(sf_tx_conn(tx), sqlite3_errcode(sf_conn_db(sf_tx_conn(tx))),
                                  "pool forget", e);
        return 0;
}

/* The idle pooled port holding a value (an address of the network, or a MAC), if any. */
static int pp_holder(sf_tx *tx, const char *sql, const char *value, char port_id[40], sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(sf_tx_conn(tx), sql, e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), rc, "pool holder", e);
        snprintf(port_id, 40, "%s", (const char *) sqlite3_column_text(st, 0));
        return 1;
}

/* ---- statistics and the refiller's queue (sf_pools.lock) ---- */

static struct pool_stats *stats_for(struct sf_pools *p, const char *id)
{
        for (size_t i = 0; i < p->n_stats; i++)
                if (STREQ(p->stats[i].id, id))
                        return &p->stats[i];
        p->stats = xrealloc(p->stats, sizeof(*p->stats) * (p->n_stats + 1));
        memset(&p->stats[p->n_stats], 0, sizeof(*p->stats));
        snprintf(p->stats[p->n_stats].id, sizeof(p->stats->id), "%s", id);
        return &p->stats[p->n_stats++];
}

static void enqueue_locked(struct sf_pools *p, const char *id)
{
        struct pool_stats *s = stats_for(p, id);
        if (!s->due)
                s->due = sf_now_usec();
        for (size_t i = 0; i < p->n_queue; i++)
                if (STREQ(p->queue[i], id))
                        return;
        if (p->n_queue == QUEUE_MAX) {
                p->scan = true; /* too much at once: look at everything instead */
                return;
        }
        p->queue = xrealloc(p->queue, sizeof(*p->queue) * (p->n_queue + 1));
        snprintf(p->queue[p->n_queue++], sizeof(*p->queue), "%s", id);
        pthread_cond_signal(&p->cond);
}

enum pool_event { EV_HIT, EV_MISS, EV_RECYCLED, EV_RELEASED, EV_RECLAIMED, EV_COLD, EV_KICK };

struct event_hook {
        sf_vim *v;
        char pool_id[40];
        enum pool_event what;
        unsigned n;
};

static void event_commit(void *u)
{
        struct event_hook *h = u;
        struct sf_pools *p = h->v->pools;
        struct pool_stats *s;
        pthread_mutex_lock(&p->lock);
        s = *h->pool_id ? stats_for(p, h->pool_id) : NULL;
        switch (h->what) {
        case EV_HIT:
                s->hits++;
                s->last_take = sf_now_usec();
                enqueue_locked(p, h->pool_id);
                break;
        case EV_MISS:
                s->misses++;
                s->last_take = sf_now_usec();
                enqueue_locked(p, h->pool_id);
                break;
        case EV_RECYCLED:
                s->recycled += h->n;
                break;
        case EV_RELEASED:
                s->released += h->n;
                break;
        case EV_RECLAIMED:
                s->reclaimed += h->n;
                p->reclaims += h->n;
                break;
        case EV_COLD:
                p->cold_ports += h->n;
                break;
        case EV_KICK:
                p->scan = true;
                pthread_cond_signal(&p->cond);
                break;
        }
        pthread_mutex_unlock(&p->lock);
}

/* Counts an event when (and only if) tx commits. */
static void on_commit(sf_vim *v, sf_tx *tx, const char *pool_id, enum pool_event what, unsigned n)
{
        struct event_hook *h = new0(struct event_hook, 1);
        h->v = v;
        h->what = what;
        h->n = n;
        snprintf(h->pool_id, sizeof(h->pool_id), "%s", pool_id ?: "");
        sf_tx_on_commit_owned(tx, event_commit, h);
}

void sf_pool_kick(sf_vim *v, sf_tx *tx)
{
        if (v->pools)
                on_commit(v, tx, NULL, EV_KICK, 0);
}

/* ---- pool objects ---- */

static struct sf_res_cols pool_cols(json_t *pool)
{
        return (struct sf_res_cols) { .owner = sv(pool, "network_id"), .node = sv(pool, "node_id") };
}

static int get_in(sf_tx *tx, const char *kind, const char *id, json_t **ret, sf_err *e)
{
        sf_rd rd;
        sf_rd_from_tx(tx, &rd);
        return sf_res_get(&rd, kind, id, ret, e);
}

/* The pool of (node, network), created when missing. */
static int ensure_pool(sf_tx *tx, json_t *node, json_t *net, json_t **ret, sf_err *e)
{
        char id[SF_UUID_STRLEN];
        json_auto_t *obj = NULL;
        _cleanup_free_ char *name = NULL;
        int r;

        pool_id_of(sv(node, "id"), sv(net, "id"), id);
        r = get_in(tx, "pool", id, ret, NULL);
        if (r != -ENOENT)
                return r;
        name = xasprintf("%s.%s", sv(net, "name"), sv(node, "name"));
        if (!sf_name_valid(name)) {
                free(name);
                name = xasprintf("pool-%.8s", id);
        }
        obj = json_pack("{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:n, s:n}", "id", id, "name", name,
                        "node_id", sv(node, "id"), "network_id", sv(net, "id"), "security_groups",
                        "enabled", "min", "max", "batch");
        struct sf_res_cols cols = pool_cols(obj);
        r = sf_res_insert(tx, "pool", obj, &cols, NULL);
        if (r == -EEXIST) { /* the name is taken (renamed network or node): fall back */
                free(name);
                name = xasprintf("pool-%.8s", id);
                json_object_set_new(obj, "name", json_string(name));
                r = sf_res_insert(tx, "pool", obj, &cols, e);
        }
        if (r < 0)
                return sf_err_wrap(r, e, "create pool '%s'", name);
        log_info("pool '%s' created (node '%s', network '%s')", name, sv(node, "name"), sv(net, "name"));
        *ret = TAKE_PTR(obj);
        return 0;
}

/* Frees a port's resources: the same as deleting it through the API. */
static int release_port(sf_vim *v, sf_tx *tx, const char *port_id, sf_err *e)
{
        json_auto_t *port = NULL;
        int r = get_in(tx, "port", port_id, &port, NULL);
        if (r == -ENOENT)
                return sf_pool_forget_port(tx, port_id, e);
        if (r < 0)
                return sf_err_set(e, r, NULL, "port lookup failed");
        return sf_vim_port_delete(v, tx, port, e);
}

/* Releases up to n idle ports of a pool, newest first (the least likely to be warm on the
 * node); n < 0: all. Returns the number released. */
static int release_idle(sf_vim *v, sf_tx *tx, const char *pool_id, int64_t n, sf_err *e)
{
        int64_t done = 0;
        while (n < 0 || done < n) {
                char pid[40];
                int64_t seq;
                int r = pp_end(tx, pool_id, true, pid, &seq, e);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = pp_del(tx, pool_id, seq, e);
                if (r >= 0)
                        r = release_port(v, tx, pid, e);
                if (r < 0)
                        return r;
                done++;
        }
        if (done)
                on_commit(v, tx, pool_id, EV_RELEASED, (unsigned) done);
        return (int) done;
}

/* The inputs of the arithmetic for a pool of net: free addresses, pooled ports and targets. */
static int calc_for(sf_vim *v, sf_tx *tx, json_t *net, json_t *pool, struct sf_pool_calc *ret,
                    unsigned *ret_n_subnets, sf_err *e)
{
        struct pool_cfg cfg = cfg_of(v, net, pool);
        json_auto_t *subnets = NULL, *pools = NULL;
        struct sf_pool_calc c = { .min = cfg.min, .max = cfg.max, .batch = cfg.batch, .free = UINT64_MAX };
        int64_t size = 0, pooled = 0;
        json_t *x;
        size_t i;
        sf_rd rd;
        int r;

        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "subnet", &(struct sf_res_filter) { .owner = sv(net, "id") }, &subnets, e);
        if (r < 0)
                return r;
        json_array_foreach(subnets, i, x) {
                struct sf_subnet_info si;
                u128 total = 0, used = 0;
                r = sf_subnet_info_parse(x, &si, e);
                if (r >= 0)
                        r = sf_ipam_subnet_usage(&rd, &si, &total, &used, e);
                if (r < 0)
                        return r;
                c.free = MIN(c.free, (uint64_t) MIN(total - used, (u128) UINT64_MAX - 1));
        }
        r = pp_count(sf_tx_conn(tx), sv(pool, "id"), &size, e);
        if (r >= 0)
                r = pp_count_network(sf_tx_conn(tx), sv(net, "id"), &pooled, e);
        if (r >= 0)
                r = sf_res_list(&rd, "pool", &(struct sf_res_filter) { .owner = sv(net, "id") }, &pools, e);
        if (r < 0)
                return r;
        json_array_foreach(pools, i, x) {
                json_auto_t *node = NULL;
                struct pool_cfg pc = cfg_of(v, net, x);
                if (!pc.enabled || get_in(tx, "node", sv(x, "node_id"), &node, NULL) < 0 || !node_ready(node))
                        continue;
                c.targets += pc.min;
        }
        c.size = (unsigned) size;
        c.pooled = (uint64_t) pooled;
        *ret = c;
        if (ret_n_subnets)
                *ret_n_subnets = (unsigned) json_array_size(subnets);
        return 0;
}

/* ---- refill ---- */

/* Brings the pool of (node_id, net_id) to what its settings and the addresses allow, in one
 * transaction. count > 0 (manual fill): that many more. Returns ports added, or the number
 * released (negative in *ret_released) when the pool had to shrink. */
static int refill(sf_vim *v, const char *node_id, const char *net_id, unsigned count, bool manual,
                  unsigned *ret_added, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *node = NULL, *net = NULL, *pool = NULL;
        struct sf_pool_calc c;
        struct pool_cfg cfg;
        unsigned n, n_subnets = 0, excess;
        char pool_id[SF_UUID_STRLEN];
        uint64_t t0 = sf_now_usec();
        int r;

        *ret_added = 0;
        r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        r = get_in(tx, "node", node_id, &node, e);
        if (r >= 0)
                r = get_in(tx, "network", net_id, &net, e);
        if (r < 0)
                return r;
        pool_id_of(node_id, net_id, pool_id);
        if (get_in(tx, "pool", pool_id, &pool, NULL) < 0)
                pool = NULL;
        cfg = cfg_of(v, net, pool);
        if (!cfg.enabled) {
                if (manual)
                        return sf_err_set(e, -EBUSY, NULL,
                                          "pool '%s' is disabled: enable it first (sfctl pool resize --enable)",
                                          pool ? sv(pool, "name") : pool_id);
                if (!pool)
                        return 0;
                /* Disabled since: give its idle ports back. */
                r = release_idle(v, tx, pool_id, -1, e);
                if (r <= 0)
                        return r;
                log_info("pool '%s' is disabled: released %d idle port(s)", sv(pool, "name"), r);
                return sf_tx_commit(TAKE_PTR(tx), e);
        }
        if (!manual && !node_ready(node))
                return 0;
        if (!pool) {
                r = ensure_pool(tx, node, net, &pool, e);
                if (r < 0)
                        return r;
        }
        r = calc_for(v, tx, net, pool, &c, &n_subnets, e);
        if (r < 0)
                return r;
        if (n_subnets == 0) {
                if (manual)
                        return sf_err_set(e, -EINVAL, NULL,
                                          "network '%s' has no subnet: nothing to pool", sv(net, "name"));
                return sf_tx_commit(TAKE_PTR(tx), e); /* keeps a pool just created */
        }
        excess = sf_pool_excess(&c);
        if (excess) {
                r = release_idle(v, tx, pool_id, excess, e);
                if (r < 0)
                        return r;
                log_info("pool '%s' above its max (%u): released %d idle port(s)", sv(pool, "name"),
                         c.max, r);
                c.size -= (unsigned) r;
        }
        if (manual && count) {
                uint64_t room = c.max > c.size ? c.max - c.size : 0;
                n = (unsigned) MIN((uint64_t) count, MIN(room, c.free == UINT64_MAX ? room : c.free));
        } else
                n = sf_pool_refill_count(&c);
        for (unsigned i = 0; i < n; i++) {
                json_auto_t *req = json_pack("{s:s, s:s, s:s, s:s}", "network", net_id, "node", node_id,
                                             "device_owner", SF_POOL_OWNER, "device_id", "");
                json_auto_t *port = NULL;
                r = sf_vim_port_create(v, tx, req, &port, e);
                if (r >= 0)
                        r = pp_push(tx, pool_id, sv(port, "id"), e);
                if (r < 0)
                        return sf_err_wrap(r, e, "refill pool '%s'", sv(pool, "name"));
        }
        if (n == 0 && !excess && !manual) {
                /* Nothing to do after all (another refill was faster). A pool created just now
                 * is kept. */
                pthread_mutex_lock(&v->pools->lock);
                stats_for(v->pools, pool_id)->due = 0;
                pthread_mutex_unlock(&v->pools->lock);
        }
        r = sf_tx_commit(TAKE_PTR(tx), e);
        if (r < 0)
                return r;
        if (n > 0) {
                struct pool_stats *s;
                double ms;
                pthread_mutex_lock(&v->pools->lock);
                s = stats_for(v->pools, pool_id);
                ms = (sf_now_usec() - (s->due ? MIN(s->due, t0) : t0)) / 1000.0;
                s->due = 0;
                s->refills++;
                s->refill_ports += n;
                s->lat[s->next_lat] = ms;
                s->next_lat = (s->next_lat + 1) % LAT_SAMPLES;
                s->n_lat = MIN(s->n_lat + 1, (size_t) LAT_SAMPLES);
                s->lat_max = MAX(s->lat_max, ms);
                v->pools->refill_tx++;
                v->pools->refill_tx_ports += n;
                pthread_mutex_unlock(&v->pools->lock);
                log_debug("pool '%s': +%u port(s) in one transaction, %.1f ms after it ran short (now %u)",
                          sv(pool, "name"), n, ms, c.size + n);
        }
        *ret_added = n;
        return 0;
}

static int resolve_pool(sf_vim *v, const char *ref, json_t **ret, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        sf_rd_get(v->store, &rd);
        return sf_res_get(&rd, "pool", ref, ret, e);
}

static void decorate(void *ctx, sf_rd *rd, json_t *obj);

static int pool_view(sf_vim *v, const char *id, json_t **ret, sf_err *e)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *o = NULL;
        int r;
        if (!ret)
                return 0;
        sf_rd_get(v->store, &rd);
        r = sf_res_get(&rd, "pool", id, &o, e);
        if (r < 0)
                return r;
        decorate(v, &rd, o);
        *ret = o;
        return 0;
}

int sf_pool_fill(sf_vim *v, const char *ref, unsigned count, json_t **ret, sf_err *e)
{
        json_auto_t *pool = NULL;
        unsigned added = 0;
        int r = resolve_pool(v, ref, &pool, e);
        if (r >= 0)
                r = refill(v, sv(pool, "node_id"), sv(pool, "network_id"), count, true, &added, e);
        if (r < 0)
                return r;
        log_info("pool '%s' filled on request: +%u port(s)", sv(pool, "name"), added);
        return pool_view(v, sv(pool, "id"), ret, e);
}

int sf_pool_drain(sf_vim *v, const char *ref, json_t **ret, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *pool = NULL;
        int r = sf_tx_begin(v->store, &tx, e), n;
        if (r >= 0)
                r = get_in(tx, "pool", ref, &pool, e);
        if (r < 0)
                return r;
        n = release_idle(v, tx, sv(pool, "id"), -1, e);
        if (n < 0)
                return n;
        json_object_set_new(pool, "enabled", json_false());
        struct sf_res_cols cols = pool_cols(pool);
        r = sf_res_update(tx, "pool", pool, &cols, e);
        if (r >= 0)
                r = sf_tx_commit(TAKE_PTR(tx), e);
        if (r < 0)
                return r;
        log_info("pool '%s' drained: %d idle port(s) released, pool disabled", sv(pool, "name"), n);
        return pool_view(v, sv(pool, "id"), ret, e);
}

int sf_pool_scan(sf_vim *v, sf_err *e)
{
        json_auto_t *nodes = NULL, *nets = NULL, *pools = NULL, *todo = json_array();
        json_t *n, *net, *x;
        size_t i, j;
        int total = 0, r;

        {
                _cleanup_rd_ sf_rd rd = { 0 };
                sf_rd_get(v->store, &rd);
                r = sf_res_list(&rd, "node", NULL, &nodes, e);
                if (r >= 0)
                        r = sf_res_list(&rd, "network", NULL, &nets, e);
                if (r >= 0)
                        r = sf_res_list(&rd, "pool", NULL, &pools, e);
                if (r < 0)
                        return r;
                /* Reads first; only the pairs that need something get a transaction. */
                json_array_foreach(nets, j, net) {
                        int64_t n_sub = 0;
                        r = sf_res_count(&rd, "subnet", &(struct sf_res_filter) { .owner = sv(net, "id") }, &n_sub, e);
                        if (r < 0)
                                return r;
                        if (n_sub == 0)
                                continue;
                        json_array_foreach(nodes, i, n) {
                                char pid[SF_UUID_STRLEN];
                                json_t *pool = NULL, *p;
                                struct pool_cfg cfg;
                                int64_t size = 0;
                                size_t k;
                                pool_id_of(sv(n, "id"), sv(net, "id"), pid);
                                json_array_foreach(pools, k, p)
                                        if (STREQ(sv(p, "id"), pid))
                                                pool = p;
                                cfg = cfg_of(v, net, pool);
                                if (pool && pp_count(rd.conn, pid, &size, e) < 0)
                                        return -EIO;
                                if (cfg.enabled ? node_ready(n) && (!pool || size < cfg.min || size > cfg.max)
                                                : size > 0)
                                        json_array_append_new(todo, json_pack("{s:s, s:s, s:s}", "node", sv(n, "id"),
                                                                              "network", sv(net, "id"), "name",
                                                                              sv(n, "name")));
                        }
                }
        }
        json_array_foreach(todo, i, x) {
                _cleanup_err_ sf_err le = SF_ERR_INIT;
                unsigned added = 0;
                if (refill(v, sv(x, "node"), sv(x, "network"), 0, false, &added, &le) < 0)
                        log_warn_rl("refill of a pool of node '%s': %s", sv(x, "name"), sf_err_msg(&le));
                total += (int) added;
        }
        return total;
}

/* ---- hooks for the kinds ---- */

/* Takes the oldest idle port of a pool for a workload (req): 1 and the port, or 0 when empty.
 * tell_wid: see sf_pool_port_for. */
static int take(sf_vim *v, sf_tx *tx, const char *pool_id, const char *node_id, json_t *req, const char *tell_wid,
                json_t **ret, sf_err *e)
{
        for (int tries = 0; tries < 16; tries++) {
                json_auto_t *port = NULL;
                char pid[40];
                int64_t seq;
                int r = pp_end(tx, pool_id, false, pid, &seq, e);
                if (r <= 0)
                        return r;
                r = get_in(tx, "port", pid, &port, NULL);
                if (r < 0 && r != -ENOENT)
                        return sf_err_set(e, r, NULL, "pooled port lookup failed");
                if (r == -ENOENT || !STREQ(sv(port, "device_owner") ?: "", SF_POOL_OWNER)) {
                        /* A stale entry: skipped. */
                        r = pp_del(tx, pool_id, seq, e);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* Its row's update just below is the transaction's next write: that is its
                 * revision. */
                if (tell_wid)
                        sf_vim_port_taken_tell(v, tx, node_id, pid, tell_wid, sf_tx_next_revision(tx));
                json_object_set(port, "device_owner", json_object_get(req, "device_owner"));
                json_object_set(port, "device_id", json_object_get(req, "device_id"));
                json_object_set_new(port, "status", json_string("DOWN"));
                r = sf_res_update(tx, "port", port,
                                  &(struct sf_res_cols) { .owner = sv(port, "network_id"), .node = sv(port, "node_id") }, e);
                if (r >= 0)
                        r = pp_del(tx, pool_id, seq, e);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(port);
                return 1;
        }
        return 0;
}

static int savepoint(sf_tx *tx, const char *sql) { return sf_sql_exec(sf_tx_conn(tx), sql, NULL); }

/* Frees an idle pooled port of the network to make room: from the pool with the most idle
 * ports, its newest. 1 when one was freed, 0 when none is left. */
static int reclaim_any(sf_vim *v, sf_tx *tx, const char *net_id, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                sf_tx_conn(tx),
                "SELECT pool_id FROM pool_ports WHERE pool_id IN "
                "(SELECT id FROM resources WHERE kind = 'pool' AND owner = ?) "
                "GROUP BY pool_id ORDER BY count(*) DESC LIMIT 1",
                e);
        char pool_id[40];
        int rc, r;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, net_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sf_sql_err(sf_tx_conn(tx), rc, "reclaim", e);
        snprintf(pool_id, sizeof(pool_id), "%s", (const char *) sqlite3_column_text(st, 0));
        sf_stmt_done(&st);
        r = release_idle(v, tx, pool_id, 1, e);
        if (r > 0)
                on_commit(v, tx, pool_id, EV_RECLAIMED, 1);
        return r > 0 ? 1 : r;
}

/* The requested address or MAC of req held by an idle pooled port: release that port. */
static int reclaim_held(sf_vim *v, sf_tx *tx, json_t *req, const char *field, sf_err *e)
{
        char holder[40];
        int r = 0;
        if (strstr(field, "ip_address")) {
                json_t *f;
                size_t i;
                json_array_foreach(json_object_get(req, "fixed_ips"), i, f) {
                        char buf[SF_ADDR_STRLEN];
                        sf_addr a;
                        if (sf_addr_parse(sv(f, "ip_address") ?: "", &a) < 0)
                                continue;
                        r = pp_holder(tx,
                                      "SELECT a.port_id FROM ip_allocations a JOIN pool_ports p "
                                      "ON p.port_id = a.port_id WHERE a.address = ?",
                                      sf_addr_fmt(&a, buf), holder, e);
                        if (r != 0)
                                break;
                }
        } else if (STREQ(field, "mac_address")) {
                char buf[SF_MAC_STRLEN];
                uint8_t m[6];
                if (sf_mac_parse(sv(req, "mac_address") ?: "", m) >= 0)
                        r = pp_holder(tx,
                                      "SELECT m.port_id FROM mac_allocations m JOIN pool_ports p "
                                      "ON p.port_id = m.port_id WHERE m.mac = ?",
                                      sf_mac_fmt(m, buf), holder, e);
        }
        if (r <= 0)
                return r;
        {
                _cleanup_stmt_ sqlite3_stmt *st =
                        sf_stmt(sf_tx_conn(tx), "SELECT pool_id FROM pool_ports WHERE port_id = ?", e);
                char pool_id[40] = "";
                if (!st)
                        return -EIO;
                sqlite3_bind_text(st, 1, holder, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        snprintf(pool_id, sizeof(pool_id), "%s", (const char *) sqlite3_column_text(st, 0));
                sf_stmt_done(&st);
                r = release_port(v, tx, holder, e);
                if (r < 0)
                        return r;
                on_commit(v, tx, pool_id, EV_RECLAIMED, 1);
        }
        return 1;
}

/* The cold path: a new port. When the subnet is exhausted, or what the request names is held
 * by an idle pooled port, that pooled port is released first (pools never starve real
 * requests); "exhausted" is only answered when no pooled port is left to free. */
static int create_cold(sf_vim *v, sf_tx *tx, json_t *req, json_t **ret, sf_err *e)
{
        _cleanup_free_ char *net_id = NULL;
        for (int attempt = 0;; attempt++) {
                _cleanup_err_ sf_err le = SF_ERR_INIT;
                int r;
                if (savepoint(tx, "SAVEPOINT sf_pool_cold") < 0)
                        return sf_vim_port_create(v, tx, req, ret, e);
                r = sf_vim_port_create(v, tx, req, ret, &le);
                if (r >= 0) {
                        savepoint(tx, "RELEASE sf_pool_cold");
                        if (v->pools)
                                on_commit(v, tx, NULL, EV_COLD, 1);
                        return r;
                }
                savepoint(tx, "ROLLBACK TO sf_pool_cold");
                savepoint(tx, "RELEASE sf_pool_cold");
                if (attempt < 64 && v->pools && (r == -ENOSPC || r == -EEXIST)) {
                        int got = 0;
                        if (!net_id) {
                                json_auto_t *net = NULL;
                                if (vim_resolve(tx, "network", sv(req, "network") ?: "", "network", &net, NULL) >= 0)
                                        net_id = xstrdup(sv(net, "id"));
                        }
                        if (r == -ENOSPC && net_id && !le.field)
                                got = reclaim_any(v, tx, net_id, e);
                        else if (r == -EEXIST && le.field)
                                got = reclaim_held(v, tx, req, le.field, e);
                        if (got < 0)
                                return got;
                        if (got > 0) {
                                log_info("reclaimed an idle pooled port for a request (%s)", sf_err_msg(&le));
                                continue;
                        }
                }
                sf_err_move(e, &le);
                return r;
        }
}

int sf_pool_port_for(sf_vim *v, sf_tx *tx, json_t *req, bool automatic, const char *node_id,
                     const char *tell_wid, json_t **ret, sf_err *e)
{
        if (v->pools && automatic && node_id) {
                json_auto_t *net = NULL, *pool = NULL;
                char pool_id[SF_UUID_STRLEN];
                int r = vim_resolve(tx, "network", sv(req, "network") ?: "", "network", &net, e);
                if (r < 0)
                        return r;
                pool_id_of(node_id, sv(net, "id"), pool_id);
                if (get_in(tx, "pool", pool_id, &pool, NULL) < 0)
                        pool = NULL;
                if (cfg_of(v, net, pool).enabled) {
                        if (pool) {
                                r = take(v, tx, pool_id, node_id, req, tell_wid, ret, e);
                                if (r < 0)
                                        return r;
                                if (r > 0) {
                                        on_commit(v, tx, pool_id, EV_HIT, 1);
                                        return 1;
                                }
                        }
                        /* Empty: this request takes the cold path at once, and the pool refills
                         * in the background (a missing pool is created by the scan). */
                        on_commit(v, tx, pool_id, EV_MISS, 1);
                        if (!pool)
                                sf_pool_kick(v, tx);
                }
        }
        return create_cold(v, tx, req, ret, e);
}

int sf_pool_recycle(sf_vim *v, sf_tx *tx, json_t *port, bool automatic, sf_err *e)
{
        json_auto_t *pool = NULL, *net = NULL;
        const char *node_id = sv(port, "node_id"), *net_id = sv(port, "network_id");
        char pool_id[SF_UUID_STRLEN];
        struct pool_cfg cfg;
        int64_t size = 0;
        int r;

        if (!v->pools || !automatic || !node_id || !net_id)
                return 0;
        pool_id_of(node_id, net_id, pool_id);
        if (get_in(tx, "pool", pool_id, &pool, NULL) < 0 || get_in(tx, "network", net_id, &net, NULL) < 0)
                return 0;
        cfg = cfg_of(v, net, pool);
        if (!cfg.enabled)
                return 0;
        r = pp_count(sf_tx_conn(tx), pool_id, &size, e);
        if (r < 0)
                return r;
        if (size >= cfg.max) {
                on_commit(v, tx, pool_id, EV_RELEASED, 1);
                return 0;
        }
        /* Back to the tail of the queue: the node gives it a new namespace before anyone can
         * take it (the old one is destroyed with its workload). */
        json_object_set_new(port, "device_owner", json_string(SF_POOL_OWNER));
        json_object_set_new(port, "device_id", json_string(""));
        json_object_set_new(port, "status", json_string("DOWN"));
        r = sf_res_update(tx, "port", port, &(struct sf_res_cols) { .owner = net_id, .node = node_id }, e);
        if (r >= 0)
                r = pp_push(tx, pool_id, sv(port, "id"), e);
        if (r < 0)
                return r;
        on_commit(v, tx, pool_id, EV_RECYCLED, 1);
        return 1;
}

static int drain_where(sf_vim *v, sf_tx *tx, const struct sf_res_filter *f, bool remove, sf_err *e)
{
        json_auto_t *pools = NULL;
        json_t *p;
        size_t i;
        sf_rd rd;
        int r;

        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "pool", f, &pools, e);
        if (r < 0)
                return r;
        json_array_foreach(pools, i, p) {
                r = release_idle(v, tx, sv(p, "id"), -1, e);
                if (r >= 0 && remove)
                        r = sf_res_delete(tx, "pool", sv(p, "id"), e);
                if (r < 0)
                        return r;
        }
        if (json_array_size(pools) > 0)
                sf_pool_kick(v, tx);
        return 0;
}

int sf_pool_drain_network(sf_vim *v, sf_tx *tx, const char *network_id, bool remove, sf_err *e)
{
        return drain_where(v, tx, &(struct sf_res_filter) { .owner = network_id }, remove, e);
}

int sf_pool_drain_node(sf_vim *v, sf_tx *tx, const char *node_id, sf_err *e)
{
        return drain_where(v, tx, &(struct sf_res_filter) { .node = node_id }, true, e);
}

/* ---- recovery ---- */

static int exec_changes(sf_tx *tx, const char *sql, int64_t *ret, sf_err *e)
{
        int r = sf_sql_exec(sf_tx_conn(tx), sql, e);
        if (r < 0)
                return r;
        *ret = sqlite3_changes(sf_conn_db(sf_tx_conn(tx)));
        return 0;
}

int sf_pool_recover(sf_vim *v, unsigned *ret_ports, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *orphans = NULL, *unlisted = NULL;
        int64_t stale = 0, ports = 0, pools = 0;
        unsigned adopted = 0, released = 0;
        uint64_t t0 = sf_now_usec();
        json_t *x;
        size_t i;
        sf_rd rd;
        int r;

        r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        /* 1. Entries whose port is gone or no longer idle. */
        r = exec_changes(tx,
                         "DELETE FROM pool_ports WHERE port_id NOT IN (SELECT id FROM resources "
                         "WHERE kind = 'port' AND json_extract(body, '$.device_owner') = '" SF_POOL_OWNER "')",
                         &stale, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        /* 2. Pools whose node or network is gone: their idle ports go with them. */
        {
                _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                        sf_tx_conn(tx),
                        "SELECT id FROM resources WHERE kind = 'pool' AND ("
                        "node NOT IN (SELECT id FROM resources WHERE kind = 'node') OR "
                        "owner NOT IN (SELECT id FROM resources WHERE kind = 'network'))",
                        e);
                if (!st)
                        return -EIO;
                orphans = json_array();
                while (sqlite3_step(st) == SQLITE_ROW)
                        json_array_append_new(orphans, json_string((const char *) sqlite3_column_text(st, 0)));
        }
        json_array_foreach(orphans, i, x) {
                r = release_idle(v, tx, json_string_value(x), -1, e);
                if (r >= 0)
                        released += (unsigned) r;
                if (r >= 0)
                        r = sf_res_delete(tx, "pool", json_string_value(x), e);
                if (r < 0)
                        return r;
        }
        /* 3. Idle pooled ports missing from their pool's queue: adopted at its tail, or
         *    released when their pool is gone. */
        {
                _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                        sf_tx_conn(tx),
                        "SELECT id, owner, node FROM resources WHERE kind = 'port' AND "
                        "json_extract(body, '$.device_owner') = '" SF_POOL_OWNER "' AND "
                        "id NOT IN (SELECT port_id FROM pool_ports)",
                        e);
                if (!st)
                        return -EIO;
                unlisted = json_array();
                while (sqlite3_step(st) == SQLITE_ROW)
                        json_array_append_new(unlisted,
                                              json_pack("{s:s?, s:s?, s:s?}", "id", sqlite3_column_text(st, 0),
                                                        "network", sqlite3_column_text(st, 1), "node",
                                                        sqlite3_column_text(st, 2)));
        }
        json_array_foreach(unlisted, i, x) {
                json_auto_t *pool = NULL;
                char pid[SF_UUID_STRLEN];
                if (sv(x, "node") && sv(x, "network")) {
                        pool_id_of(sv(x, "node"), sv(x, "network"), pid);
                        if (get_in(tx, "pool", pid, &pool, NULL) >= 0) {
                                r = pp_push(tx, pid, sv(x, "id"), e);
                                if (r < 0)
                                        return r;
                                adopted++;
                                continue;
                        }
                }
                r = release_port(v, tx, sv(x, "id"), e);
                if (r < 0)
                        return r;
                released++;
        }
        {
                _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                        sf_tx_conn(tx),
                        "SELECT (SELECT count(*) FROM pool_ports), (SELECT count(*) FROM resources WHERE kind = 'pool')",
                        e);
                if (!st)
                        return -EIO;
                if (sqlite3_step(st) == SQLITE_ROW) {
                        ports = sqlite3_column_int64(st, 0);
                        pools = sqlite3_column_int64(st, 1);
                }
        }
        r = sf_tx_commit(TAKE_PTR(tx), e);
        if (r < 0)
                return r;
        if (pools || stale || adopted || released)
                log_info("port pools recovered in %.1f ms: %" PRId64 " pool(s), %" PRId64
                         " idle port(s); %" PRId64 " stale entr%s dropped, %u adopted, %u released",
                         (sf_now_usec() - t0) / 1000.0, pools, ports, stale, stale == 1 ? "y" : "ies",
                         adopted, released);
        if (ret_ports)
                *ret_ports = (unsigned) ports;
        return 0;
}

/* ---- the refiller ---- */

/* Does a workload of this node still wait for its start? */
static bool node_busy(sf_rd *rd, const char *node_id)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (!node_id)
                return false;
        st = sf_stmt(rd->conn,
                     "SELECT EXISTS (SELECT 1 FROM resources WHERE kind = 'container' AND node = ? "
                     "AND json_extract(body, '$.status.phase') IN ('Pending', 'Creating'))",
                     NULL);
        if (!st)
                return false;
        sqlite3_bind_text(st, 1, node_id, -1, SQLITE_STATIC);
        return sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
}

enum sf_pool_when sf_pool_refill_when(sf_vim *v, const char *pool_id, uint64_t last_take,
                                     uint64_t now)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *pool = NULL, *net = NULL;
        int64_t size = 0;
        struct pool_cfg cfg;
        sf_rd_get(v->store, &rd);
        if (sf_res_get(&rd, "pool", pool_id, &pool, NULL) < 0 ||
            sf_res_get(&rd, "network", sv(pool, "network_id"), &net, NULL) < 0 ||
            pp_count(rd.conn, pool_id, &size, NULL) < 0)
                return SF_POOL_REFILL_NOW;
        cfg = cfg_of(v, net, pool);
        if ((uint64_t) size * 2 < cfg.min || size == 0)
                return SF_POOL_REFILL_NOW;
        if (now < last_take + SF_POOL_QUIET_USEC)
                return SF_POOL_REFILL_QUIET;
        if (now < last_take + SF_POOL_QUIET_MAX_USEC && node_busy(&rd, sv(pool, "node_id")))
                return SF_POOL_REFILL_BUSY;
        return SF_POOL_REFILL_NOW;
}

static void *refiller(void *u)
{
        sf_vim *v = u;
        struct sf_pools *p = v->pools;
        uint64_t next_scan = 0;
        pthread_mutex_lock(&p->lock);
        while (!v->stopping) {
                char id[40] = "";
                bool scan = false;
                uint64_t now = sf_now_usec(), wake;
                if (now >= next_scan)
                        p->scan = true; /* every refill period, whatever else happens */
                wake = next_scan > now ? next_scan : now + (uint64_t) p->period_s * 1000000;
                /* The first queued pool whose quiet moment has come. */
                for (size_t i = 0; i < p->n_queue && !*id; i++) {
                        struct pool_stats *s = stats_for(p, p->queue[i]);
                        if (s->last_take && now < s->last_take + SF_POOL_QUIET_MAX_USEC) {
                                enum sf_pool_when when;
                                uint64_t last_take = s->last_take;
                                char qid[40];
                                snprintf(qid, sizeof(qid), "%s", p->queue[i]);
                                pthread_mutex_unlock(&p->lock);
                                when = sf_pool_refill_when(v, qid, last_take, now);
                                pthread_mutex_lock(&p->lock);
                                if (when == SF_POOL_REFILL_QUIET) {
                                        wake = MIN(wake, stats_for(p, qid)->last_take + SF_POOL_QUIET_USEC);
                                        continue;
                                }
                                if (when == SF_POOL_REFILL_BUSY) {
                                        wake = MIN(wake, now + BUSY_POLL_USEC);
                                        continue;
                                }
                        }
                        snprintf(id, sizeof(id), "%s", p->queue[i]);
                        memmove(&p->queue[i], &p->queue[i + 1], sizeof(*p->queue) * (p->n_queue - i - 1));
                        p->n_queue--;
                }
                if (!*id && p->scan) {
                        p->scan = false;
                        scan = true;
                        next_scan = now + (uint64_t) p->period_s * 1000000;
                }
                if (!*id && !scan) {
                        struct timespec ts = { .tv_sec = (time_t) (wake / 1000000),
                                               .tv_nsec = (long) (wake % 1000000) * 1000 };
                        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
                        continue;
                }
                pthread_mutex_unlock(&p->lock);
                {
                        _cleanup_err_ sf_err e = SF_ERR_INIT;
                        if (scan) {
                                if (sf_pool_scan(v, &e) < 0)
                                        log_warn_rl("pool scan: %s", sf_err_msg(&e));
                        } else {
                                json_auto_t *pool = NULL;
                                unsigned added = 0;
                                if (resolve_pool(v, id, &pool, NULL) < 0) {
                                        pthread_mutex_lock(&p->lock);
                                        p->scan = true; /* not created yet */
                                        continue;
                                }
                                if (refill(v, sv(pool, "node_id"), sv(pool, "network_id"), 0, false, &added, &e) < 0)
                                        log_warn_rl("refill of pool '%s': %s", sv(pool, "name"), sf_err_msg(&e));
                        }
                }
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int sf_pool_init(sf_vim *v, const struct sf_pool_options *o)
{
        struct sf_pools *p = new0(struct sf_pools, 1);
        pthread_condattr_t ca;
        p->defaults = (struct pool_cfg) {
                .enabled = o && o->enabled,
                .min = o && o->min ? o->min : SF_POOL_DEFAULT_MIN,
                .max = o && o->max ? o->max : SF_POOL_DEFAULT_MAX,
                .batch = o && o->batch ? o->batch : SF_POOL_DEFAULT_BATCH,
        };
        if (o && o->enabled && o->min == 0 && o->max)
                p->defaults.min = MIN(SF_POOL_DEFAULT_MIN, o->max);
        p->period_s = o && o->refill_period_s ? o->refill_period_s : SF_POOL_DEFAULT_PERIOD_S;
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        v->pools = p;
        return 0;
}

int sf_pool_start(sf_vim *v, sf_err *e)
{
        int r = sf_pool_recover(v, NULL, e);
        if (r < 0)
                return sf_err_wrap(r, e, "recover port pools");
        v->pools->scan = true; /* pools of nodes and networks that appeared while stopped */
        r = pthread_create(&v->pools->thread, NULL, refiller, v);
        if (r)
                return sf_err_errno(e, -r, "start the pool refiller");
        v->pools->running = true;
        if (v->pools->defaults.enabled)
                log_info("port pools on by default: min %u, max %u, batch %u, checked every %u s",
                         v->pools->defaults.min, v->pools->defaults.max, v->pools->defaults.batch,
                         v->pools->period_s);
        else
                log_info("port pools off by default (networks may enable them)");
        return 0;
}

void sf_pool_stop(sf_vim *v)
{
        struct sf_pools *p = v->pools;
        if (!p || !p->running)
                return;
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        p->running = false;
}

void sf_pool_free(sf_vim *v)
{
        struct sf_pools *p = v->pools;
        if (!p)
                return;
        sf_pool_stop(v);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p->stats);
        free(p->queue);
        free(p);
        v->pools = NULL;
}

/* ---- the API kind ---- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static json_t *stats_json(sf_vim *v, const char *id)
{
        struct pool_stats s = { 0 };
        double sorted[LAT_SAMPLES], p50 = 0;
        pthread_mutex_lock(&v->pools->lock);
        for (size_t i = 0; i < v->pools->n_stats; i++)
                if (STREQ(v->pools->stats[i].id, id))
                        s = v->pools->stats[i];
        pthread_mutex_unlock(&v->pools->lock);
        if (s.n_lat) {
                memcpy(sorted, s.lat, sizeof(double) * s.n_lat);
                qsort(sorted, s.n_lat, sizeof(double), cmp_double);
                p50 = sorted[s.n_lat / 2];
        }
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:f, s:f}}", "hits", (json_int_t) s.hits,
                         "misses", (json_int_t) s.misses, "refills", (json_int_t) s.refills,
                         "refill_ports", (json_int_t) s.refill_ports, "recycled", (json_int_t) s.recycled,
                         "released", (json_int_t) s.released, "reclaimed", (json_int_t) s.reclaimed,
                         "refill_latency_ms", "p50", p50, "max", s.lat_max);
}

static void decorate(void *ctx, sf_rd *rd, json_t *obj)
{
        sf_vim *v = ctx;
        json_auto_t *node = NULL, *net = NULL;
        struct pool_cfg cfg;
        int64_t size = 0, in_use = 0;
        json_t *settings = json_object();

        for (const char *const *k = (const char *const[]) { "enabled", "min", "max", "batch", NULL }; *k; k++)
                json_object_set(settings, *k, json_object_get(obj, *k) ?: json_null());
        json_object_set_new(obj, "settings", settings);
        if (sf_res_get(rd, "network", sv(obj, "network_id"), &net, NULL) < 0)
                net = json_object();
        cfg = cfg_of(v, net, obj);
        (void) pp_count(rd->conn, sv(obj, "id"), &size, NULL);
        {
                json_auto_t *body = json_pack("{s:s}", "device_owner", "compute:container");
                (void) sf_res_count(rd, "port",
                                    &(struct sf_res_filter) { .owner = sv(obj, "network_id"),
                                                              .node = sv(obj, "node_id"), .body = body },
                                    &in_use, NULL);
        }
        json_object_set_new(obj, "enabled", json_boolean(cfg.enabled));
        json_object_set_new(obj, "min", json_integer(cfg.min));
        json_object_set_new(obj, "max", json_integer(cfg.max));
        json_object_set_new(obj, "batch", json_integer(cfg.batch));
        json_object_set_new(obj, "size", json_integer(size));
        json_object_set_new(obj, "in_use", json_integer(in_use));
        json_object_set_new(obj, "network", json_string(sv(net, "name")));
        if (sf_res_get(rd, "node", sv(obj, "node_id"), &node, NULL) >= 0) {
                json_object_set_new(obj, "node", json_string(sv(node, "name")));
                json_object_set_new(obj, "node_ready", json_boolean(node_ready(node)));
        } else
                json_object_set_new(obj, "node", json_null());
        json_object_set_new(obj, "stats", stats_json(v, sv(obj, "id")));
        /* The head of the queue: the ports the next requests will get, in order. */
        {
                _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                        rd->conn, "SELECT port_id FROM pool_ports WHERE pool_id = ? ORDER BY seq LIMIT 4", NULL);
                json_t *next = json_array();
                if (st) {
                        sqlite3_bind_text(st, 1, sv(obj, "id"), -1, SQLITE_STATIC);
                        while (sqlite3_step(st) == SQLITE_ROW)
                                json_array_append_new(next, json_string((const char *) sqlite3_column_text(st, 0)));
                }
                json_object_set_new(obj, "next_ports", next);
        }
}

static int pool_update(void *ctx, sf_tx *tx, json_t *cur, json_t *patch, json_t **ret, sf_err *e)
{
        sf_vim *v = ctx;
        json_auto_t *obj = json_deep_copy(cur), *net = NULL;
        struct pool_cfg cfg;
        const char *k;
        json_t *x;
        int r = check_settings(patch, true, e);
        if (r < 0)
                return r;
        json_object_foreach(patch, k, x)
                json_object_set(obj, k, x);
        r = get_in(tx, "network", sv(obj, "network_id"), &net, e);
        if (r < 0)
                return r;
        cfg = cfg_of(v, net, NULL);
        cfg_layer(&cfg, obj);
        if (cfg.min > cfg.max)
                return sf_err_set(e, -EINVAL, json_object_get(patch, "min") ? "min" : "max",
                                  "min (%u) would be above max (%u)", cfg.min, cfg.max);
        struct sf_res_cols cols = pool_cols(obj);
        r = sf_res_update(tx, "pool", obj, &cols, e);
        if (r < 0)
                return r;
        on_commit(v, tx, sv(obj, "id"), EV_KICK, 0);
        *ret = TAKE_PTR(obj);
        return 0;
}

static int action_fill(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        static const char *const keys[] = { "count", NULL };
        int64_t count = 0;
        int r = sf_json_only(in, keys, e);
        if (r >= 0)
                r = sf_json_int(in, "count", false, 1, SF_POOL_LIMIT, &count, e);
        if (r < 0)
                return r;
        return sf_pool_fill(ctx, sv(cur, "id"), (unsigned) count, ret, e);
}

static int action_drain(void *ctx, sf_store *s, json_t *cur, json_t *in, json_t **ret, sf_err *e)
{
        return sf_pool_drain(ctx, sv(cur, "id"), ret, e);
}

static const struct sf_kind_filter pool_filters[] = {
        { "network", SF_FILTER_OWNER, "network", NULL },
        { "node", SF_FILTER_NODE, "node", NULL },
        { NULL },
};
static const struct sf_kind_action pool_actions[] = {
        { "fill", false, action_fill },
        { "drain", false, action_drain },
        { NULL },
};

/* Pools are made by the controller (a Ready node and a pooled network make one): they cannot
 * be created or deleted through the API, only resized, filled and drained. */
struct sf_kind vim_pool_kind = {
        .name = "pool",
        .plural = "pools",
        .filters = pool_filters,
        .update = pool_update,
        .actions = pool_actions,
        .decorate = decorate,
};

/* ---- metrics ---- */

void sf_vim_pool_metrics(void *vim, FILE *f)
{
        sf_vim *v = vim;
        _cleanup_rd_ sf_rd rd = { 0 };
        json_auto_t *pools = NULL;
        json_t *p;
        size_t i;
        struct sf_pools *ps = v->pools;

        if (!ps)
                return;
        sf_rd_get(v->store, &rd);
        if (sf_res_list(&rd, "pool", NULL, &pools, NULL) < 0)
                return;
        fprintf(f, "# HELP sf_pool_size Idle ports in the pool.\n# TYPE sf_pool_size gauge\n");
        json_array_foreach(pools, i, p) {
                int64_t n = 0;
                (void) pp_count(rd.conn, sv(p, "id"), &n, NULL);
                fprintf(f, "sf_pool_size{pool=\"%s\"} %" PRId64 "\n", sv(p, "name"), n);
        }
        static const struct {
                const char *name, *help;
                size_t off;
        } counters[] = {
                { "hits", "Ports taken from the pool.", offsetof(struct pool_stats, hits) },
                { "misses", "Requests that found the pool empty (cold path).", offsetof(struct pool_stats, misses) },
                { "refills", "Refill transactions.", offsetof(struct pool_stats, refills) },
                { "refill_ports", "Ports allocated by refills.", offsetof(struct pool_stats, refill_ports) },
                { "recycled", "Ports returned to the pool by their workload.", offsetof(struct pool_stats, recycled) },
                { "released", "Idle ports given back (pool full, resized, drained).", offsetof(struct pool_stats, released) },
                { "reclaimed", "Idle ports freed for requests that needed their address.", offsetof(struct pool_stats, reclaimed) },
        };
        pthread_mutex_lock(&ps->lock);
        for (size_t c = 0; c < ELEMENTSOF(counters); c++) {
                fprintf(f, "# HELP sf_pool_%s_total %s\n# TYPE sf_pool_%s_total counter\n", counters[c].name,
                        counters[c].help, counters[c].name);
                json_array_foreach(pools, i, p)
                        for (size_t k = 0; k < ps->n_stats; k++)
                                if (STREQ(ps->stats[k].id, sv(p, "id")))
                                        fprintf(f, "sf_pool_%s_total{pool=\"%s\"} %" PRIu64 "\n", counters[c].name,
                                                sv(p, "name"),
                                                *(const uint64_t *) ((const char *) &ps->stats[k] + counters[c].off));
        }
        fprintf(f, "# HELP sf_pool_refill_latency_ms Refill latency (first shortfall to commit), last %d refills.\n"
                   "# TYPE sf_pool_refill_latency_ms summary\n",
                LAT_SAMPLES);
        json_array_foreach(pools, i, p)
                for (size_t k = 0; k < ps->n_stats; k++) {
                        struct pool_stats *s = &ps->stats[k];
                        double sorted[LAT_SAMPLES];
                        if (!STREQ(s->id, sv(p, "id")) || !s->n_lat)
                                continue;
                        memcpy(sorted, s->lat, sizeof(double) * s->n_lat);
                        qsort(sorted, s->n_lat, sizeof(double), cmp_double);
                        fprintf(f, "sf_pool_refill_latency_ms{pool=\"%s\",quantile=\"0.5\"} %.3f\n", sv(p, "name"),
                                sorted[s->n_lat / 2]);
                        fprintf(f, "sf_pool_refill_latency_ms{pool=\"%s\",quantile=\"1\"} %.3f\n", sv(p, "name"),
                                s->lat_max);
                }
        fprintf(f,
                "# HELP sf_port_allocations_total Ports allocated (IPAM + MAC), by path: cold (one per "
                "request that found no pooled port) or refill (in bulk).\n"
                "# TYPE sf_port_allocations_total counter\n"
                "sf_port_allocations_total{path=\"cold\"} %" PRIu64 "\n"
                "sf_port_allocations_total{path=\"refill\"} %" PRIu64 "\n"
                "# HELP sf_pool_refill_transactions_total Bulk refill transactions (one control-plane "
                "call each, whatever their size).\n"
                "# TYPE sf_pool_refill_transactions_total counter\n"
                "sf_pool_refill_transactions_total %" PRIu64 "\n"
                "# HELP sf_pool_reclaims_total Idle pooled ports freed for requests.\n"
                "# TYPE sf_pool_reclaims_total counter\nsf_pool_reclaims_total %" PRIu64 "\n",
                ps->cold_ports, ps->refill_tx_ports, ps->refill_tx, ps->reclaims);
        pthread_mutex_unlock(&ps->lock);
}
