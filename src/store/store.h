/* The state store: SQLite in WAL mode. Resources of every kind share one table (id, kind,
 * unique name, revision, timestamps, JSON body), every write bumps a global revision and
 * appends an event, and watchers can block until the revision moves past a point.
 *
 * Concurrency: one writer connection behind a mutex (sf_tx holds it from begin to commit or
 * abort), and a small pool of reader connections for reads outside a transaction (WAL lets
 * them run while a write is in progress; each read sees the last committed state).
 *
 * Durability: synchronous=NORMAL in WAL mode: a committed transaction survives a crash or
 * kill -9 of the process at any point (the OS has the data); with --sync=full it also survives
 * power loss, at a cost in write latency. */
#pragma once

#include <sqlite3.h>

#include "lib/json.h"

typedef struct sf_store sf_store;
typedef struct sf_tx sf_tx;
typedef struct sf_conn sf_conn; /* a connection with its prepared-statement cache */

struct sf_store_options {
        bool sync_full; /* PRAGMA synchronous=FULL instead of NORMAL */
        unsigned event_retention; /* events kept; 0 = default (100000) */
        /* The thread that waits for or holds the writer lock runs at real-time priority
         * (SCHED_FIFO 1) meanwhile, back to its own once it lets go: every write waits for the
         * holder, which a saturated CPU (a burst of container starts) would otherwise keep
         * off it for milliseconds while it holds the lock. Without the privilege, logged once
         * and off. A transaction therefore ends in the thread that began it. */
        bool writer_rt;
};

int sf_store_open(const char *path, const struct sf_store_options *opts, sf_store **ret,
                  sf_err *e);
void sf_store_free(sf_store *s);
static inline void sf_store_freep(sf_store **s) { sf_store_free(*s); }
#define _cleanup_store_ _cleanup_(sf_store_freep)

/* Wakes all watchers and makes further sf_store_wait calls return at once (shutdown). */
void sf_store_shutdown(sf_store *s);

int64_t sf_store_revision(sf_store *s);
int sf_store_schema_version(sf_store *s);

/* Write transactions. begin takes the writer lock and BEGIN IMMEDIATE; commit makes the
 * writes durable and wakes watchers; abort rolls back. Both end the transaction and free tx
 * (abort accepts NULL). */
int sf_tx_begin(sf_store *s, sf_tx **ret, sf_err *e);
int sf_tx_commit(sf_tx *tx, sf_err *e);
void sf_tx_abort(sf_tx *tx);
static inline void sf_tx_abortp(sf_tx **tx) { sf_tx_abort(*tx); }
#define _cleanup_tx_ _cleanup_(sf_tx_abortp)
sf_conn *sf_tx_conn(sf_tx *tx);
sf_store *sf_tx_store(sf_tx *tx);
/* The revision the transaction's next write of a resource will have. */
int64_t sf_tx_next_revision(sf_tx *tx);
/* Runs fn after a successful commit (never after abort), outside the writer lock. */
void sf_tx_on_commit(sf_tx *tx, void (*fn)(void *), void *userdata);
/* The same, and userdata (malloc'd) is freed when the transaction ends, committed or not. */
void sf_tx_on_commit_owned(sf_tx *tx, void (*fn)(void *), void *userdata);
/* Runs fn when the transaction ends without committing (aborted, or its commit failed), after
 * the rollback, outside the writer lock. userdata is not freed (an owned commit hook's may be
 * shared: it is freed after both kinds ran). */
void sf_tx_on_abort(sf_tx *tx, void (*fn)(void *), void *userdata);

/* A read handle: either a transaction's connection or a pooled reader. */
typedef struct sf_rd {
        sf_store *store;
        sf_conn *conn;
        int slot; /* -1 when borrowed from a tx */
} sf_rd;
void sf_rd_get(sf_store *s, sf_rd *ret);
void sf_rd_from_tx(sf_tx *tx, sf_rd *ret);
void sf_rd_put(sf_rd *rd);
static inline void sf_rd_putp(sf_rd *rd) { sf_rd_put(rd); }
#define _cleanup_rd_ _cleanup_(sf_rd_putp)

/* Resources. An object is a JSON object; the store owns the keys id, name, revision,
 * created_at, updated_at and fills them; every other key is the kind's body. owner and node
 * are indexed columns used for filters and cascades (e.g. a port's network and binding
 * node); NULL when not applicable. */
struct sf_res_cols {
        const char *owner;
        const char *node;
};

/* Inserts obj (which must carry "name"; "id" is generated when absent). On success obj has
 * the store-owned keys set. -EEXIST (field "name") when the name is taken in its kind. */
int sf_res_insert(sf_tx *tx, const char *kind, json_t *obj, const struct sf_res_cols *cols,
                  sf_err *e);
/* Replaces the body of an existing object (by obj's "id"), bumping its revision. */
int sf_res_update(sf_tx *tx, const char *kind, json_t *obj, const struct sf_res_cols *cols,
                  sf_err *e);
int sf_res_delete(sf_tx *tx, const char *kind, const char *id, sf_err *e);

/* Looks up by id, or by name when ref is not a UUID (or no id matched). -ENOENT names the
 * kind and ref. ret is a new reference. */
int sf_res_get(sf_rd *rd, const char *kind, const char *ref, json_t **ret, sf_err *e);
/* Lists objects of a kind ordered by creation. Filters: owner and node match the indexed
 * columns (NULL = any); body is an object of {top-level body key: value}, compared as text. ret is a new JSON array. */
struct sf_res_filter {
        const char *owner;
        const char *node;
        json_t *body; /* may be NULL */
        unsigned limit; /* 0 = all */
        bool node_null; /* only objects without a node */
};
int sf_res_list(sf_rd *rd, const char *kind, const struct sf_res_filter *f, json_t **ret,
                sf_err *e);
int sf_res_count(sf_rd *rd, const char *kind, const struct sf_res_filter *f, int64_t *ret,
                 sf_err *e);
/* Counts of every kind, as {kind: n}. */
int sf_res_count_all(sf_rd *rd, json_t **ret, sf_err *e);

/* Events. */
/* Blocks until the revision is greater than since, timeout_ms passes, or shutdown. Returns
 * the current revision. */
int64_t sf_store_wait(sf_store *s, int64_t since, int timeout_ms);
/* Events with revision > since, at most limit, as a JSON array of
 * {revision, type: created|updated|deleted, kind, id, object}. -ESTALE when since is older
 * than the oldest event kept (the client must list again). kinds: NULL or a NULL-terminated
 * list of kinds to include. */
int sf_events_since(sf_rd *rd, int64_t since, unsigned limit, const char *const *kinds,
                    json_t **ret, int64_t *ret_last, sf_err *e);

/* SQL helpers. sf_stmt returns a cached prepared statement for sql (which must be a string
 * literal or otherwise live forever: the pointer is the cache key), reset and unbound; release
 * it with sf_stmt_done (or the _cleanup_stmt_ attribute). NULL on a prepare error, which is
 * then in e. A cached statement must not be used twice at once on one connection. */
sqlite3_stmt *sf_stmt(sf_conn *c, const char *sql, sf_err *e);
void sf_stmt_done(sqlite3_stmt **st);
#define _cleanup_stmt_ _cleanup_(sf_stmt_done)
sqlite3 *sf_conn_db(sf_conn *c);
int sf_sql_exec(sf_conn *c, const char *sql, sf_err *e);
int sf_sql_err(sf_conn *c, int rc, const char *what, sf_err *e);
/* Binds text or NULL. */
int sf_bind_text(sqlite3_stmt *st, int idx, const char *s);
