/* Placement: picks a node for a workload by readiness, site, node selector, image presence,
 * CPU/memory/workload-count capacity and anti-affinity, and says why when nothing fits. A
 * background loop retries Pending workloads whenever nodes or workloads change. */
#include <inttypes.h>
#include <pthread.h>

#include "lib/log.h"
#include "lib/util.h"
#include "vim/vim-internal.h"

SF_LOG_MODULE("sched");

enum misfit {
        FIT = 0,
        MISFIT_NOT_READY,
        MISFIT_SITE,
        MISFIT_SELECTOR,
        MISFIT_IMAGE,
        MISFIT_CPU,
        MISFIT_MEMORY,
        MISFIT_COUNT,
        MISFIT_AFFINITY,
        MISFIT_KIND,
        MISFIT_NESTED, /* a VM's node, for the containers asked in that VM only (nested.c) */
        N_MISFIT,
};

static char *canonical_image(const char *img)
{
        const char *slash = strrchr(img, '/'), *colon = strrchr(img, ':');
        if (colon && (!slash || colon > slash))
                return xstrdup(img);
        return xasprintf("%s:latest", img);
}

static bool has_image(json_t *node, const char *kind, const char *image)
{
        json_t *info = json_object_get(json_object_get(node, "status"), "info");
        json_t *imgs = json_object_get(info, STREQ(kind, "vm") ? "vm_images" : "images"), *x;
        _cleanup_free_ char *want = canonical_image(image);
        size_t i;
        if (!json_is_array(imgs))
                return true; /* the node does not report images: let its agent decide */
        json_array_foreach(imgs, i, x)
                if (json_is_string(x) && (STREQ(json_string_value(x), want) ||
                                          STREQ(json_string_value(x), image)))
                        return true;
        return false;
}

static bool site_matches(sf_tx *tx, json_t *node, const char *site)
{
        json_auto_t *s = NULL;
        sf_rd rd;
        if (!site)
                return true;
        sf_rd_from_tx(tx, &rd);
        if (sf_res_get(&rd, "site", site, &s, NULL) < 0)
                return false;
        return json_equal(json_object_get(s, "id"), json_object_get(node, "site_id"));
}

static bool selector_matches(json_t *node, json_t *sel)
{
        json_t *labels = json_object_get(node, "labels"), *v;
        const char *k;
        json_object_foreach(sel, k, v)
                if (!json_equal(json_object_get(labels, k), v))
                        return false;
        return true;
}

struct load {
        int64_t cpu, mem, count;
        bool affinity_clash;
};

/* What the node's other containers take: one row of node_usage, which triggers keep in the
 * transactions that change containers (store migration 4), less the workload itself if it is
 * already there (a move's check). Only an anti-affinity label needs the node's rows, and only
 * those of the (kind, node) index. A burst of N placements on one node costs N lookups, not
 * N^2 documents parsed. */
static int node_load(sf_tx *tx, json_t *node, json_t *w, struct load *ret, sf_err *e)
{
        const char *aa = json_string_value(json_object_get(w, "anti_affinity"));
        const char *self = json_string_value(json_object_get(w, "id"));
        const char *nid = json_string_value(json_object_get(node, "id"));
        sf_conn *db = sf_tx_conn(tx);
        int rc;

        *ret = (struct load) { 0 };
        {
                _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                        db,
                        "SELECT u.workloads - (s.id IS NOT NULL),"
                        " u.cpu - coalesce(json_extract(s.body, '$.cpu'), 0),"
                        " u.memory - coalesce(json_extract(s.body, '$.memory'), 0)"
                        " FROM node_usage u LEFT JOIN resources s"
                        " ON s.kind = 'container' AND s.id = ?2 AND s.node = u.node"
                        " WHERE u.node = ?1",
                        e);
                if (!st)
                        return -EIO;
                sqlite3_bind_text(st, 1, nid, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, self, -1, SQLITE_STATIC); /* NULL: joins nothing */
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        *ret = (struct load) {
                                .count = sqlite3_column_int64(st, 0),
                                .cpu = sqlite3_column_int64(st, 1),
                                .mem = sqlite3_column_int64(st, 2),
                        };
                else if (rc != SQLITE_DONE) /* DONE: no container was ever on the node */
                        return sf_sql_err(db, rc, "node load", e);
        }
        if (aa) {
                _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                        db,
                        "SELECT EXISTS (SELECT 1 FROM resources WHERE kind = 'container' AND node = ?1"
                        " AND (?2 IS NULL OR id != ?2) AND json_type(body, '$.anti_affinity') = 'text'"
                        " AND json_extract(body, '$.anti_affinity') = ?3)",
                        e);
                if (!st)
                        return -EIO;
                sqlite3_bind_text(st, 1, nid, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, self, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, aa, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                if (rc != SQLITE_ROW)
                        return sf_sql_err(db, rc, "node anti-affinity", e);
                ret->affinity_clash = sqlite3_column_int(st, 0) != 0;
        }
        return 0;
}

static enum misfit node_fits(sf_tx *tx, json_t *w, json_t *node, struct load *l, sf_err *e)
{
        json_t *cap = json_object_get(node, "capacity");
        const char *state = json_string_value(json_object_get(json_object_get(node, "status"), "state"));
        const char *kind = json_string_value(json_object_get(w, "kind")) ?: "container";
        int64_t ccpu = json_integer_value(json_object_get(cap, "cpu_millis"));
        int64_t cmem = json_integer_value(json_object_get(cap, "memory_bytes"));
        int64_t cmax = json_integer_value(json_object_get(cap, "max_workloads"));
        const char *parent = json_string_value(json_object_get(node, "parent"));
        const char *in_vm = json_string_value(json_object_get(json_object_get(w, "nested"), "vm"));
        json_t *features = json_object_get(node, "features"), *x;
        size_t i;

        if (parent || in_vm) {
                if (!parent || !in_vm || !STREQ(parent, in_vm))
                        return MISFIT_NESTED;
        }
        if (!state || !STREQ(state, "Ready"))
                return MISFIT_NOT_READY;
        if (!site_matches(tx, node, json_string_value(json_object_get(w, "site"))))
                return MISFIT_SITE;
        if (!selector_matches(node, json_object_get(w, "node_selector")))
                return MISFIT_SELECTOR;
        if (STREQ(kind, "vm")) {
                bool qemu = false;
                json_array_foreach(features, i, x)
                        qemu |= json_is_string(x) && STREQ(json_string_value(x), "qemu");
                if (!qemu)
                        return MISFIT_KIND;
        }
        if (!has_image(node, kind, json_string_value(json_object_get(w, "image"))))
                return MISFIT_IMAGE;
        if (node_load(tx, node, w, l, e) < 0)
                return N_MISFIT;
        if (l->affinity_clash)
                return MISFIT_AFFINITY;
        if (cmax > 0 && l->count + 1 > cmax)
                return MISFIT_COUNT;
        if (ccpu > 0 && l->cpu + json_integer_value(json_object_get(w, "cpu")) > ccpu)
                return MISFIT_CPU;
        if (cmem > 0 && l->mem + json_integer_value(json_object_get(w, "memory")) > cmem)
                return MISFIT_MEMORY;
        return FIT;
}

static char *human_bytes(int64_t b)
{
        if (b >= (1LL << 30) && b % (1LL << 30) == 0)
                return xasprintf("%" PRId64 " GiB", b >> 30);
        if (b >= (1LL << 20))
                return xasprintf("%" PRId64 " MiB", b >> 20);
        return xasprintf("%" PRId64 " bytes", b);
}

static char *misfit_text(enum misfit m, json_t *w)
{
        switch (m) {
        case MISFIT_NOT_READY:
                return xstrdup("not Ready");
        case MISFIT_SITE:
                return xstrdup("in another site");
        case MISFIT_SELECTOR:
                return xstrdup("without the selected labels");
        case MISFIT_IMAGE:
                return xasprintf("without image '%s'", json_string_value(json_object_get(w, "image")));
        case MISFIT_CPU:
                return xasprintf("without %" JSON_INTEGER_FORMAT "m CPU free",
                                 json_integer_value(json_object_get(w, "cpu")));
        case MISFIT_MEMORY: {
                _cleanup_free_ char *h = human_bytes(json_integer_value(json_object_get(w, "memory")));
                return xasprintf("without %s free", h);
        }
        case MISFIT_COUNT:
                return xstrdup("at their workload limit");
        case MISFIT_AFFINITY:
                return xasprintf("already running a member of anti-affinity group '%s'",
                                 json_string_value(json_object_get(w, "anti_affinity")));
        case MISFIT_KIND:
                return xstrdup("without QEMU for VMs");
        case MISFIT_NESTED:
                return xstrdup("a VM's node, for the containers asked in that VM only");
        default:
                return xstrdup("unusable");
        }
}

int sf_sched_check_node(sf_vim *v, sf_tx *tx, json_t *w, json_t *node, char **ret_reason, sf_err *e)
{
        struct load l;
        _cleanup_err_ sf_err le = SF_ERR_INIT;
        enum misfit m = node_fits(tx, w, node, &l, &le);
        if (m == N_MISFIT) {
                sf_err_move(e, &le);
                return -EIO;
        }
        if (m == FIT) {
                *ret_reason = NULL;
                return 0;
        }
        {
                _cleanup_free_ char *t = misfit_text(m, w);
                *ret_reason = xasprintf("node '%s' is %s", json_string_value(json_object_get(node, "name")), t);
                /* "node 'x' is without ..." reads badly: */
                if (m != MISFIT_NOT_READY) {
                        free(*ret_reason);
                        *ret_reason = xasprintf("node '%s' does not fit: it is %s",
                                                json_string_value(json_object_get(node, "name")), t);
                }
        }
        return 0;
}

int sf_sched_pick(sf_vim *v, sf_tx *tx, json_t *w, json_t *given, char **ret_node, char **ret_reason,
                  sf_err *e)
{
        json_auto_t *listed = NULL;
        json_t *nodes = given;
        unsigned counts[N_MISFIT] = { 0 };
        const char *site = json_string_value(json_object_get(w, "site"));
        json_t *best = NULL, *n;
        int64_t best_count = INT64_MAX, best_free = -1;
        size_t i, considered = 0;
        sf_rd rd;
        int r;

        if (!nodes) {
                sf_rd_from_tx(tx, &rd);
                r = sf_res_list(&rd, "node", NULL, &listed, e);
                if (r < 0)
                        return r;
                nodes = listed;
        }
        json_array_foreach(nodes, i, n) {
                struct load l = { 0 };
                enum misfit m = node_fits(tx, w, n, &l, e);
                int64_t cmem = json_integer_value(json_object_get(json_object_get(n, "capacity"), "memory_bytes"));
                if (m == N_MISFIT)
                        return -EIO;
                if (m != MISFIT_SITE && m != MISFIT_NESTED)
                        considered++;
                counts[m]++;
                if (m != FIT)
                        continue;
                if (l.count < best_count || (l.count == best_count && cmem - l.mem > best_free)) {
                        best = n;
                        best_count = l.count;
                        best_free = cmem - l.mem;
                }
        }
        if (best) {
                *ret_node = xstrdup(json_string_value(json_object_get(best, "id")));
                *ret_reason = NULL;
                return 0;
        }
        /* Nothing fits: say why, e.g. "site 'edge': 0/1 nodes fit: 1 without 512 MiB free". */
        {
                char *msg = site ? xasprintf("site '%s': 0/%zu nodes fit", site, considered)
                                 : xasprintf("0/%zu nodes fit", considered);
                bool first = true;
                if (considered == 0) {
                        free(msg);
                        msg = site ? xasprintf("site '%s' has no nodes", site)
                                   : xstrdup("no node is registered");
                }
                for (int m = MISFIT_NOT_READY; m < N_MISFIT; m++) {
                        _cleanup_free_ char *t = NULL;
                        char *nm;
                        if (!counts[m] || m == MISFIT_SITE || m == MISFIT_NESTED)
                                continue;
                        t = misfit_text(m, w);
                        nm = xasprintf("%s%s %u %s", msg, first ? ":" : ",", counts[m], t);
                        free(msg);
                        msg = nm;
                        first = false;
                }
                *ret_node = NULL;
                *ret_reason = msg;
        }
        return 0;
}

/* ---- the retry loop ---- */

static int retry_pending(sf_vim *v, sf_err *e)
{
        _cleanup_tx_ sf_tx *tx = NULL;
        json_auto_t *list = NULL;
        json_t *c;
        size_t i;
        bool changed = false;
        sf_rd rd;
        int64_t pending = 0;
        int r;

        /* Cheap check first, without the writer lock. */
        {
                _cleanup_rd_ sf_rd rrd = { 0 };
                sf_rd_get(v->store, &rrd);
                r = sf_res_count(&rrd, "container", &(struct sf_res_filter) { .node_null = true },
                                 &pending, e);
                if (r < 0 || pending == 0)
                        return r;
        }
        r = sf_tx_begin(v->store, &tx, e);
        if (r < 0)
                return r;
        sf_rd_from_tx(tx, &rd);
        r = sf_res_list(&rd, "container", &(struct sf_res_filter) { .node_null = true }, &list, e);
        if (r < 0)
                return r;
        json_array_foreach(list, i, c) {
                _cleanup_free_ char *node = NULL, *reason = NULL;
                json_t *st = json_object_get(c, "status");
                if (!json_is_null(json_object_get(c, "node_id")) || json_is_true(json_object_get(c, "deleting")))
                        continue;
                r = sf_sched_pick(v, tx, c, NULL, &node, &reason, e);
                if (r < 0)
                        return r;
                if (node) {
                        r = sf_vim_container_bind(v, tx, c, node, e);
                        json_object_set_new(st, "message", json_string("waiting for the node's agent"));
                } else if (!STREQ(json_string_value(json_object_get(st, "message")) ?: "", reason)) {
                        json_object_set_new(st, "message", json_string(reason));
                } else
                        continue;
                if (r >= 0)
                        r = sf_res_update(tx, "container", c, &(struct sf_res_cols) { .node = node }, e);
                if (r < 0)
                        return r;
                changed = true;
                if (node)
                        log_info("placed pending %s '%s'", json_string_value(json_object_get(c, "kind")),
                                 json_string_value(json_object_get(c, "name")));
        }
        if (!changed)
                return 0; /* the cleanup aborts the empty transaction */
        return sf_tx_commit(TAKE_PTR(tx), e);
}

static void *sched_loop(void *u)
{
        sf_vim *v = u;
        int64_t seen = -1;
        while (!v->stopping) {
                int64_t rev = sf_store_wait(v->store, seen, 5000);
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                if (v->stopping)
                        break;
                /* Our own writes move the revision too; a pass that changes nothing ends it. */
                seen = rev;
                if (retry_pending(v, &e) < 0)
                        log_warn("scheduling pass failed: %s", sf_err_msg(&e));
                else
                        seen = sf_store_revision(v->store);
                usleep(50000); /* at most 20 passes a second, however busy the store is */
        }
        return NULL;
}

int sf_sched_start(sf_vim *v, sf_err *e)
{
        int r = pthread_create(&v->sched_thread, NULL, sched_loop, v);
        if (r)
                return sf_err_errno(e, -r, "start scheduler");
        v->sched_running = true;
        return 0;
}
