/* SQLite-backed resource store: connections, transactions (with hooks run after a commit or
 * after an abort), the resources table, revisions and the event log. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/util.h"
#include "store/migrations.h"
#include "store/kind.h"
#include "store/store.h"

SF_LOG_MODULE("store");

#define READERS 8
#define STMT_CACHE 48
#define DYN_CACHE 16 /* statements whose text is built at run time (lists with filters) */
#define DEFAULT_RETENTION 100000
#define CHECKPOINT_FRAMES 1000 /* WAL pages (4 MiB) before a checkpoint */
#define APPLICATION_ID "1397122146" /* 0x53466462, "SFdb": PRAGMA application_id of our databases */

struct sf_conn {
        sqlite3 *db;
        struct {
                const char *sql;
                sqlite3_stmt *st;
        } cache[STMT_CACHE];
        struct {
                char *sql;
                sqlite3_stmt *st;
        } dyn[DYN_CACHE];
        unsigned dyn_next; /* the slot to reuse when all are taken */
};

struct sf_store {
        sf_conn writer;
        pthread_mutex_t write_lock;

        sf_conn readers[READERS];
        bool reader_busy[READERS];
        pthread_mutex_t pool_lock;
        pthread_cond_t pool_cond;

        bool writer_rt; /* sf_store_options.writer_rt, until refused (atomic) */

        pthread_mutex_t rev_lock; /* guards revision, compacted, shutdown */
        pthread_cond_t rev_cond;
        int64_t revision;
        int64_t compacted; /* events with revision <= compacted are gone */
        bool shutdown;

        unsigned retention;
        int schema_version;

        /* WAL checkpoints run here, off the request path (a commit that happens to cross
         * SQLite's auto-checkpoint threshold would otherwise pay for it: a 5-10 ms spike),
         * and so does the start of the WAL over that follows them (see restart_wal). */
        sf_conn checkpointer;
        pthread_t checkpoint_thread;
        bool checkpoint_running;
        int wal_frames; /* frames in the WAL after the last commit (atomic) */
};

struct commit_hook {
        void (*fn)(void *);
        void *userdata;
        bool owned; /* userdata is free()d when the transaction ends */
        bool on_abort; /* runs when it ends without a commit, instead of after one */
};

struct sf_tx {
        sf_store *store;
        struct sf_rt_boost boost;
        int64_t rev; /* last revision used by this transaction */
        int64_t compacted;
        struct commit_hook *hooks;
        size_t n_hooks;
};

sqlite3 *sf_conn_db(sf_conn *c) { return c->db; }

int sf_sql_err(sf_conn *c, int rc, const char *what, sf_err *e)
{
        int code;
        switch (rc & 0xff) {
        case SQLITE_CONSTRAINT:
                code = -EEXIST;
                break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                code = -EAGAIN;
                break;
        case SQLITE_FULL:
                code = -ENOSPC;
                break;
        case SQLITE_NOMEM:
                sf_oom();
        case SQLITE_READONLY:
                code = -EROFS;
                break;
        default:
                code = -EIO;
        }
        return sf_err_set(e, code, NULL, "%s: %s", what, c ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
}

int sf_sql_exec(sf_conn *c, const char *sql, sf_err *e)
{
        char *msg = NULL;
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                int r = sf_err_set(e, rc == SQLITE_BUSY ? -EAGAIN : -EIO, NULL, "sql: %s",
                                   msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return r;
        }
        return 0;
}

sqlite3_stmt *sf_stmt(sf_conn *c, const char *sql, sf_err *e)
{
        size_t i;
        sqlite3_stmt *st = NULL;
        int rc;

        for (i = 0; i < STMT_CACHE && c->cache[i].sql; i++)
                if (c->cache[i].sql == sql)
                        return c->cache[i].st;
        rc = sqlite3_prepare_v3(c->db, sql, -1, i < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0,
                                &st, NULL);
        if (rc != SQLITE_OK) {
                sf_sql_err(c, rc, "prepare", e);
                return NULL;
        }
        if (i < STMT_CACHE) {
                c->cache[i].sql = sql;
                c->cache[i].st = st;
        } else
                log_warn_rl("statement cache full, preparing uncached");
        return st;
}

/* Like sf_stmt, for SQL built at run time: looked up by its text. The statement is the
 * connection's until the next call with another text replaces it: reset it (sf_stmt_done)
 * before any other statement of the connection is prepared. */
static sqlite3_stmt *stmt_dyn(sf_conn *c, const char *sql, int *ret_rc)
{
        sqlite3_stmt *st = NULL;
        unsigned i;
        for (i = 0; i < DYN_CACHE && c->dyn[i].sql; i++)
                if (STREQ(c->dyn[i].sql, sql))
                        return c->dyn[i].st;
        *ret_rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (*ret_rc != SQLITE_OK)
                return NULL;
        if (i == DYN_CACHE) {
                i = c->dyn_next++ % DYN_CACHE;
                sqlite3_finalize(c->dyn[i].st);
                free(c->dyn[i].sql);
        }
        c->dyn[i].sql = xstrdup(sql);
        c->dyn[i].st = st;
        return st;
}

void sf_stmt_done(sqlite3_stmt **st)
{
        if (!*st)
                return;
        sqlite3_reset(*st);
        sqlite3_clear_bindings(*st);
        *st = NULL;
}

int sf_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
        return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

static void conn_close(sf_conn *c)
{
        for (size_t i = 0; i < STMT_CACHE && c->cache[i].sql; i++)
                sqlite3_finalize(c->cache[i].st);
        memset(c->cache, 0, sizeof(c->cache));
        for (size_t i = 0; i < DYN_CACHE && c->dyn[i].sql; i++) {
                sqlite3_finalize(c->dyn[i].st);
                free(c->dyn[i].sql);
        }
        memset(c->dyn, 0, sizeof(c->dyn));
        c->dyn_next = 0;
        if (c->db)
                sqlite3_close(c->db);
        c->db = NULL;
}

static int conn_open(sf_conn *c, const char *path, bool readonly, bool sync_full, sf_err *e)
{
        int flags = SQLITE_OPEN_NOMUTEX |
                    (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
        if (rc != SQLITE_OK) {
                int r = sf_err_set(e, -EIO, NULL, "open database '%s': %s", path,
                                   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                conn_close(c);
                return r;
        }
        sqlite3_extended_result_codes(c->db, 1);
        sqlite3_busy_timeout(c->db, 5000);
        if (!readonly) {
                int r = sf_sql_exec(c, "PRAGMA journal_mode=WAL", e);
                if (r >= 0)
                        r = sf_sql_exec(c, "PRAGMA wal_autocheckpoint=0", e);
                if (r >= 0)
                        r = sf_sql_exec(c, sync_full ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL",
                                        e);
                if (r < 0) {
                        conn_close(c);
                        return sf_err_prefix(e, "database '%s'", path);
                }
        }
        return 0;
}

static int64_t query_int(sf_conn *c, const char *sql, int64_t dflt)
{
        sqlite3_stmt *st = NULL;
        int64_t v = dflt;
        if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
                return dflt;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static int migrate(sf_store *s, sf_err *e)
{
        int version = (int) query_int(&s->writer, "PRAGMA user_version", 0);
        size_t n = 0;
        const char *const *m = sf_store_migrations(&n);

        if ((size_t) version > n)
                return sf_err_set(e, -EPROTO, NULL,
                                  "database schema version %d is newer than this sfd knows "
                                  "(%zu): refusing to touch it",
                                  version, n);
        for (size_t i = version; i < n; i++) {
                _cleanup_free_ char *sql = xasprintf("BEGIN IMMEDIATE; %s; PRAGMA user_version=%zu; COMMIT;",
                                                     m[i], i + 1);
                int r = sf_sql_exec(&s->writer, sql, e);
                if (r < 0) {
                        sf_sql_exec(&s->writer, "ROLLBACK", NULL);
                        return sf_err_prefix(e, "schema migration %zu", i + 1);
                }
                log_info("database schema migrated to version %zu", i + 1);
        }
        s->schema_version = (int) n;
        return 0;
}

/* The writer lock, taken at real-time priority when writer_rt (see sf_store_options): raised
 * before the wait, so that the holder's successor runs as soon as it is woken, and back to
 * its own after the unlock (never before: lowered while holding it, it could be preempted
 * right there). SCHED_RESET_ON_FORK: a child forked meanwhile starts at normal priority. */
static void writer_lock(sf_store *s, struct sf_rt_boost *b)
{
        *b = (struct sf_rt_boost) { 0 };
        if (__atomic_load_n(&s->writer_rt, __ATOMIC_RELAXED)) {
                int r = sf_rt_boost_begin(b);
                if (r < 0 && __atomic_exchange_n(&s->writer_rt, false, __ATOMIC_RELAXED))
                        log_info("store: the writer cannot run at real-time priority (%s); it keeps its thread's",
                                 strerror(-r));
        }
        pthread_mutex_lock(&s->write_lock);
}

static void boost_end(const struct sf_rt_boost *b)
{
        int r = sf_rt_boost_end(b);
        if (r < 0)
                log_warn_rl("store: cannot set the writer's thread back to its priority: %s", strerror(-r));
}

static void writer_unlock(sf_store *s, const struct sf_rt_boost *b)
{
        pthread_mutex_unlock(&s->write_lock);
        boost_end(b);
}

static int wal_hook(void *u, sqlite3 *db, const char *name, int frames)
{
        sf_store *s = u;
        __atomic_store_n(&s->wal_frames, frames, __ATOMIC_RELAXED);
        return SQLITE_OK;
}

/* Once a checkpoint has copied the whole WAL into the database, the next write transaction
 * starts the WAL over, and SQLite syncs its new header then (an fdatasync even with
 * synchronous=NORMAL: 0.3-0.5 ms here). That is done here with a write of our own (setting
 * the application id, which marks the file as ours, dirties the header page), so that no
 * request pays it. If a reader still uses the WAL, the write just appends and a later one
 * starts it over. */
static void restart_wal(sf_store *s)
{
        struct sf_rt_boost b;
        writer_lock(s, &b);
        if (sf_sql_exec(&s->checkpointer, "BEGIN IMMEDIATE; PRAGMA application_id=" APPLICATION_ID "; COMMIT", NULL) < 0)
                (void) sf_sql_exec(&s->checkpointer, "ROLLBACK", NULL);
        writer_unlock(s, &b);
}

static void *checkpoint_loop(void *u)
{
        sf_store *s = u;
        for (;;) {
                bool stop;
                int log = 0, done = 0, frames = __atomic_load_n(&s->wal_frames, __ATOMIC_RELAXED);
                pthread_mutex_lock(&s->rev_lock);
                stop = s->shutdown;
                pthread_mutex_unlock(&s->rev_lock);
                if (stop)
                        break;
                /* PASSIVE: copies what it can without blocking readers or the writer. Only once
                 * the WAL has grown: every checkpoint costs a WAL restart (above). */
                if (frames >= CHECKPOINT_FRAMES &&
                    sqlite3_wal_checkpoint_v2(s->checkpointer.db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
                            SQLITE_OK &&
                    log > 0 && done == log)
                        restart_wal(s);
                usleep(frames > 4 * CHECKPOINT_FRAMES ? 50000 : 250000);
        }
        return NULL;
}

int sf_store_open(const char *path, const struct sf_store_options *opts, sf_store **ret,
                  sf_err *e)
{
        sf_store *s = new0(sf_store, 1);
        int r;

        pthread_mutex_init(&s->write_lock, NULL);
        pthread_mutex_init(&s->pool_lock, NULL);
        pthread_cond_init(&s->pool_cond, NULL);
        pthread_mutex_init(&s->rev_lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->rev_cond, &ca);
        pthread_condattr_destroy(&ca);
        s->retention = opts && opts->event_retention ? opts->event_retention : DEFAULT_RETENTION;
        s->writer_rt = opts && opts->writer_rt;

        r = conn_open(&s->writer, path, false, opts && opts->sync_full, e);
        if (r < 0)
                goto fail;
        r = migrate(s, e);
        if (r < 0)
                goto fail;
        for (int i = 0; i < READERS; i++) {
                r = conn_open(&s->readers[i], path, true, false, e);
                if (r < 0)
                        goto fail;
        }
        r = conn_open(&s->checkpointer, path, false, opts && opts->sync_full, e);
        if (r >= 0) {
                /* After PRAGMA wal_autocheckpoint=0 (conn_open), which would unset them. */
                sqlite3_wal_hook(s->writer.db, wal_hook, s);
                sqlite3_wal_hook(s->checkpointer.db, wal_hook, s);
        }
        if (r < 0)
                goto fail;
        r = pthread_create(&s->checkpoint_thread, NULL, checkpoint_loop, s);
        if (r) {
                r = sf_err_errno(e, -r, "start checkpoint thread");
                goto fail;
        }
        s->checkpoint_running = true;
        s->compacted = query_int(&s->writer, "SELECT value FROM meta WHERE key='compacted'", 0);
        s->revision = MAX(query_int(&s->writer, "SELECT max(revision) FROM events", 0),
                          s->compacted);
        *ret = s;
        return 0;
fail:
        sf_store_free(s);
        return r;
}

void sf_store_free(sf_store *s)
{
        if (!s)
                return;
        if (s->checkpoint_running) {
                sf_store_shutdown(s);
                pthread_join(s->checkpoint_thread, NULL);
        }
        conn_close(&s->checkpointer);
        for (int i = 0; i < READERS; i++)
                conn_close(&s->readers[i]);
        conn_close(&s->writer);
        pthread_mutex_destroy(&s->write_lock);
        pthread_mutex_destroy(&s->pool_lock);
        pthread_cond_destroy(&s->pool_cond);
        pthread_mutex_destroy(&s->rev_lock);
        pthread_cond_destroy(&s->rev_cond);
        free(s);
}

void sf_store_shutdown(sf_store *s)
{
        pthread_mutex_lock(&s->rev_lock);
        s->shutdown = true;
        pthread_cond_broadcast(&s->rev_cond);
        pthread_mutex_unlock(&s->rev_lock);
}

int64_t sf_store_revision(sf_store *s)
{
        int64_t r;
        pthread_mutex_lock(&s->rev_lock);
        r = s->revision;
        pthread_mutex_unlock(&s->rev_lock);
        return r;
}

int sf_store_schema_version(sf_store *s) { return s->schema_version; }

/* ---- transactions ---- */

int sf_tx_begin(sf_store *s, sf_tx **ret, sf_err *e)
{
        struct sf_rt_boost b;
        sf_tx *tx;
        int r;

        writer_lock(s, &b);
        r = sf_sql_exec(&s->writer, "BEGIN IMMEDIATE", e);
        if (r < 0) {
                writer_unlock(s, &b);
                return r;
        }
        tx = new0(sf_tx, 1);
        tx->store = s;
        tx->boost = b;
        pthread_mutex_lock(&s->rev_lock);
        tx->rev = s->revision;
        tx->compacted = s->compacted;
        pthread_mutex_unlock(&s->rev_lock);
        *ret = tx;
        return 0;
}

sf_conn *sf_tx_conn(sf_tx *tx) { return &tx->store->writer; }
sf_store *sf_tx_store(sf_tx *tx) { return tx->store; }

int64_t sf_tx_next_revision(sf_tx *tx) { return tx->rev + 1; }

void sf_tx_on_commit(sf_tx *tx, void (*fn)(void *), void *userdata)
{
        tx->hooks = xrealloc(tx->hooks, sizeof(*tx->hooks) * (tx->n_hooks + 1));
        tx->hooks[tx->n_hooks++] = (struct commit_hook) { fn, userdata, false, false };
}

void sf_tx_on_abort(sf_tx *tx, void (*fn)(void *), void *userdata)
{
        tx->hooks = xrealloc(tx->hooks, sizeof(*tx->hooks) * (tx->n_hooks + 1));
        tx->hooks[tx->n_hooks++] = (struct commit_hook) { fn, userdata, false, true };
}

static void run_hooks(sf_tx *tx, bool committed)
{
        for (size_t i = 0; i < tx->n_hooks; i++)
                if (tx->hooks[i].on_abort != committed)
                        tx->hooks[i].fn(tx->hooks[i].userdata);
}

void sf_tx_on_commit_owned(sf_tx *tx, void (*fn)(void *), void *userdata)
{
        sf_tx_on_commit(tx, fn, userdata);
        tx->hooks[tx->n_hooks - 1].owned = true;
}

static int compact(sf_tx *tx, sf_err *e)
{
        sf_store *s = tx->store;
        int64_t upto = tx->rev - (int64_t) s->retention;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        if (upto <= tx->compacted)
                return 0;
        st = sf_stmt(&s->writer, "DELETE FROM events WHERE revision <= ?", e);
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, upto);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(&s->writer, sqlite3_errcode(s->writer.db), "compact events", e);
        sf_stmt_done(&st);
        st = sf_stmt(&s->writer,
                     "INSERT INTO meta(key, value) VALUES ('compacted', ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     e);
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, upto);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(&s->writer, sqlite3_errcode(s->writer.db), "compact events", e);
        tx->compacted = upto;
        return 0;
}

static void tx_free(sf_tx *tx)
{
        for (size_t i = 0; i < tx->n_hooks; i++)
                if (tx->hooks[i].owned)
                        free(tx->hooks[i].userdata);
        free(tx->hooks);
        free(tx);
}

int sf_tx_commit(sf_tx *tx, sf_err *e)
{
        sf_store *s = tx->store;
        bool changed;
        int r = 0;

        /* Compact in batches so that it costs nothing on most commits. */
        if (tx->rev / 1024 != s->revision / 1024)
                r = compact(tx, e);
        if (r >= 0)
                r = sf_sql_exec(&s->writer, "COMMIT", e);
        if (r < 0) {
                sf_tx_abort(tx);
                return r;
        }
        pthread_mutex_lock(&s->rev_lock);
        changed = tx->rev != s->revision;
        s->revision = tx->rev;
        s->compacted = tx->compacted;
        if (changed)
                pthread_cond_broadcast(&s->rev_cond);
        pthread_mutex_unlock(&s->rev_lock);
        /* The hooks run after the next writer may start, but still at the writer's priority:
         * short work (counters, a warm namespace's hand-out) that a request waits for. */
        pthread_mutex_unlock(&s->write_lock);
        run_hooks(tx, true);
        boost_end(&tx->boost);
        tx_free(tx);
        return 0;
}

void sf_tx_abort(sf_tx *tx)
{
        if (!tx)
                return;
        sf_sql_exec(&tx->store->writer, "ROLLBACK", NULL);
        pthread_mutex_unlock(&tx->store->write_lock);
        run_hooks(tx, false);
        boost_end(&tx->boost);
        tx_free(tx);
}

/* ---- readers ---- */

void sf_rd_get(sf_store *s, sf_rd *ret)
{
        int slot = -1;
        pthread_mutex_lock(&s->pool_lock);
        for (;;) {
                for (int i = 0; i < READERS; i++)
                        if (!s->reader_busy[i]) {
                                slot = i;
                                break;
                        }
                if (slot >= 0)
                        break;
                pthread_cond_wait(&s->pool_cond, &s->pool_lock);
        }
        s->reader_busy[slot] = true;
        pthread_mutex_unlock(&s->pool_lock);
        *ret = (sf_rd) { .store = s, .conn = &s->readers[slot], .slot = slot };
}

void sf_rd_from_tx(sf_tx *tx, sf_rd *ret)
{
        *ret = (sf_rd) { .store = tx->store, .conn = &tx->store->writer, .slot = -1 };
}

void sf_rd_put(sf_rd *rd)
{
        sf_store *s = rd->store;
        if (!s || rd->slot < 0)
                return;
        pthread_mutex_lock(&s->pool_lock);
        s->reader_busy[rd->slot] = false;
        pthread_cond_signal(&s->pool_cond);
        pthread_mutex_unlock(&s->pool_lock);
        rd->store = NULL;
}

/* ---- resources ---- */

static const char *const store_keys[] = { "id", "name", "revision", "created_at", "updated_at",
                                          NULL };

static char *body_of(json_t *obj)
{
        json_auto_t *b = json_deep_copy(obj);
        for (const char *const *k = store_keys; *k; k++)
                json_object_del(b, *k);
        return sf_json_dumps(b);
}

static int add_event(sf_tx *tx, const char *type, const char *kind, const char *id, json_t *obj,
                     sf_err *e)
{
        sf_conn *c = &tx->store->writer;
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(
                c, "INSERT INTO events(revision, type, kind, id, object) VALUES (?, ?, ?, ?, ?)", e);
        _cleanup_free_ char *o = NULL;
        if (!st)
                return -EIO;
        o = sf_json_dumps(obj);
        sqlite3_bind_int64(st, 1, tx->rev);
        sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, o, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(c, sqlite3_errcode(c->db), "record event", e);
        return 0;
}

/* Whether 'name' is the one sf_kind_default_name() gives this kind and id. */
static bool is_default_name(const char *kind, const char *id, const char *name)
{
        _cleanup_free_ char *def = sf_kind_default_name(kind, id);
        return STREQ(def, name);
}

int sf_res_insert(sf_tx *tx, const char *kind, json_t *obj, const struct sf_res_cols *cols,
                  sf_err *e)
{
        sf_conn *c = &tx->store->writer;
        char idbuf[SF_UUID_STRLEN];
        const char *id = json_string_value(json_object_get(obj, "id"));
        const char *name = json_string_value(json_object_get(obj, "name"));
        _cleanup_free_ char *ts = sf_timestamp(sf_realtime_usec()), *body = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc;

        if (!name)
                return sf_err_set(e, -EINVAL, "name", "is required");
        if (!id) {
                sf_uuid(idbuf);
                id = idbuf;
                json_object_set_new(obj, "id", json_string(id));
                id = json_string_value(json_object_get(obj, "id"));
        }
        body = body_of(obj);
        st = sf_stmt(c,
                     "INSERT INTO resources(kind, id, name, revision, created_at, updated_at, "
                     "owner, node, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     e);
        if (!st)
                return -EIO;
        tx->rev++;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, tx->rev);
        sqlite3_bind_text(st, 5, ts, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, ts, -1, SQLITE_STATIC);
        sf_bind_text(st, 7, cols ? cols->owner : NULL);
        sf_bind_text(st, 8, cols ? cols->node : NULL);
        sqlite3_bind_text(st, 9, body, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT && is_default_name(kind, id, name)) {
                /* The generated name carries 32 bits of the id: among thousands of unnamed
                 * objects two can share it (1600 ports: 3 in 10 000). The whole id cannot,
                 * so the caller who named nothing is never refused for a name. */
                _cleanup_free_ char *full = xasprintf("%s-%s", kind, id);
                log_debug("%s name '%s' taken, naming it '%s'", kind, name, full);
                json_object_set_new(obj, "name", json_string(full));
                name = json_string_value(json_object_get(obj, "name"));
                sqlite3_reset(st);
                sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE) {
                tx->rev--;
                if ((rc & 0xff) == SQLITE_CONSTRAINT)
                        return sf_err_set(e, -EEXIST, "name", "a %s named '%s' already exists",
                                          kind, name);
                return sf_sql_err(c, rc, "insert", e);
        }
        json_object_set_new(obj, "revision", json_integer(tx->rev));
        json_object_set_new(obj, "created_at", json_string(ts));
        json_object_set_new(obj, "updated_at", json_string(ts));
        return add_event(tx, "created", kind, id, obj, e);
}

int sf_res_update(sf_tx *tx, const char *kind, json_t *obj, const struct sf_res_cols *cols,
                  sf_err *e)
{
        sf_conn *c = &tx->store->writer;
        const char *id = json_string_value(json_object_get(obj, "id"));
        const char *name = json_string_value(json_object_get(obj, "name"));
        _cleanup_free_ char *ts = sf_timestamp(sf_realtime_usec()), *body = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc;

        if (!id || !name)
                return sf_err_set(e, -EINVAL, NULL, "update without id or name");
        body = body_of(obj);
        st = sf_stmt(c,
                     "UPDATE resources SET name = ?, revision = ?, updated_at = ?, owner = ?, "
                     "node = ?, body = ? WHERE kind = ? AND id = ?",
                     e);
        if (!st)
                return -EIO;
        tx->rev++;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, tx->rev);
        sqlite3_bind_text(st, 3, ts, -1, SQLITE_STATIC);
        sf_bind_text(st, 4, cols ? cols->owner : NULL);
        sf_bind_text(st, 5, cols ? cols->node : NULL);
        sqlite3_bind_text(st, 6, body, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
                tx->rev--;
                if ((rc & 0xff) == SQLITE_CONSTRAINT)
                        return sf_err_set(e, -EEXIST, "name", "a %s named '%s' already exists",
                                          kind, name);
                return sf_sql_err(c, rc, "update", e);
        }
        if (sqlite3_changes(c->db) == 0) {
                tx->rev--;
                return sf_err_set(e, -ENOENT, NULL, "%s '%s' not found", kind, id);
        }
        json_object_set_new(obj, "revision", json_integer(tx->rev));
        json_object_set_new(obj, "updated_at", json_string(ts));
        return add_event(tx, "updated", kind, id, obj, e);
}

static json_t *row_to_json(sqlite3_stmt *st, int col0, sf_err *e)
{
        /* columns: id, name, revision, created_at, updated_at, body */
        json_error_t je;
        const char *body = (const char *) sqlite3_column_text(st, col0 + 5);
        json_t *o = json_loads(body ? body : "{}", 0, &je);
        if (!o) {
                sf_err_set(e, -EIO, NULL, "corrupt object body in store: %s", je.text);
                return NULL;
        }
        json_object_set_new(o, "id", json_string((const char *) sqlite3_column_text(st, col0)));
        json_object_set_new(o, "name",
                            json_string((const char *) sqlite3_column_text(st, col0 + 1)));
        json_object_set_new(o, "revision", json_integer(sqlite3_column_int64(st, col0 + 2)));
        json_object_set_new(o, "created_at",
                            json_string((const char *) sqlite3_column_text(st, col0 + 3)));
        json_object_set_new(o, "updated_at",
                            json_string((const char *) sqlite3_column_text(st, col0 + 4)));
        return o;
}

#define RES_COLS "id, name, revision, created_at, updated_at, body"

static int get_by(sf_conn *c, const char *sql, const char *kind, const char *key, json_t **ret,
                  sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st = sf_stmt(c, sql, e);
        int rc;
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return sf_sql_err(c, rc, "get", e);
        *ret = row_to_json(st, 0, e);
        return *ret ? 0 : -EIO;
}

int sf_res_get(sf_rd *rd, const char *kind, const char *ref, json_t **ret, sf_err *e)
{
        int r = -ENOENT;
        if (!ref || !*ref)
                return sf_err_set(e, -ENOENT, NULL, "%s '' not found", kind);
        if (sf_uuid_valid(ref))
                r = get_by(rd->conn,
                           "SELECT " RES_COLS " FROM resources WHERE kind = ? AND id = ?", kind,
                           ref, ret, e);
        if (r == -ENOENT)
                r = get_by(rd->conn,
                           "SELECT " RES_COLS " FROM resources WHERE kind = ? AND name = ?",
                           kind, ref, ret, e);
        if (r == -ENOENT)
                return sf_err_set(e, -ENOENT, NULL, "%s '%s' not found", kind, ref);
        return r;
}

int sf_res_delete(sf_tx *tx, const char *kind, const char *id, sf_err *e)
{
        sf_rd rd;
        json_auto_t *old = NULL;
        sf_conn *c = &tx->store->writer;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        sf_rd_from_tx(tx, &rd);
        r = get_by(c, "SELECT " RES_COLS " FROM resources WHERE kind = ? AND id = ?", kind, id,
                   &old, e);
        if (r == -ENOENT)
                return sf_err_set(e, -ENOENT, NULL, "%s '%s' not found", kind, id);
        if (r < 0)
                return r;
        st = sf_stmt(c, "DELETE FROM resources WHERE kind = ? AND id = ?", e);
        if (!st)
                return -EIO;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                return sf_sql_err(c, sqlite3_errcode(c->db), "delete", e);
        tx->rev++;
        json_object_set_new(old, "revision", json_integer(tx->rev));
        return add_event(tx, "deleted", kind, id, old, e);
}

/* Builds "WHERE kind = ?1 [AND owner = ?2] [AND node = ?3] [AND json_extract(body, ?) = ?]..." */
static char *where_clause(const struct sf_res_filter *f)
{
        char *w = xstrdup("kind = ?1");
        if (!f)
                return w;
        if (f->owner) {
                char *n = xasprintf("%s AND owner = ?2", w);
                free(w);
                w = n;
        }
        if (f->node) {
                char *n = xasprintf("%s AND node = ?3", w);
                free(w);
                w = n;
        }
        if (f->node_null) {
                char *n = xasprintf("%s AND node IS NULL", w);
                free(w);
                w = n;
        }
        if (f->body) {
                size_t i = 0;
                const char *k;
                json_t *v;
                json_object_foreach(f->body, k, v) {
                        char *n = xasprintf("%s AND CAST(json_extract(body, ?%zu) AS TEXT) = ?%zu", w, 4 + 2 * i,
                                            5 + 2 * i);
                        free(w);
                        w = n;
                        i++;
                }
        }
        return w;
}

static int bind_filter(sqlite3_stmt *st, const char *kind, const struct sf_res_filter *f)
{
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        if (!f)
                return 0;
        if (f->owner)
                sqlite3_bind_text(st, 2, f->owner, -1, SQLITE_STATIC);
        if (f->node)
                sqlite3_bind_text(st, 3, f->node, -1, SQLITE_STATIC);
        if (f->body) {
                size_t i = 0;
                const char *k;
                json_t *v;
                json_object_foreach(f->body, k, v) {
                        _cleanup_free_ char *path = xasprintf("$.\"%s\"", k);
                        sqlite3_bind_text(st, 4 + 2 * i, path, -1, SQLITE_TRANSIENT);
                        /* Compared as text: query parameters are strings. */
                        if (json_is_string(v))
                                sqlite3_bind_text(st, 5 + 2 * i, json_string_value(v), -1,
                                                  SQLITE_TRANSIENT);
                        else if (json_is_integer(v)) {
                                _cleanup_free_ char *n = xasprintf("%" JSON_INTEGER_FORMAT,
                                                                   json_integer_value(v));
                                sqlite3_bind_text(st, 5 + 2 * i, n, -1, SQLITE_TRANSIENT);
                        } else
                                sqlite3_bind_null(st, 5 + 2 * i);
                        i++;
                }
        }
        return 0;
}

int sf_res_list(sf_rd *rd, const char *kind, const struct sf_res_filter *f, json_t **ret,
                sf_err *e)
{
        _cleanup_free_ char *w = where_clause(f);
        _cleanup_free_ char *sql = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *arr = json_array();
        int rc = SQLITE_OK, r = 0;

        if (f && f->limit)
                sql = xasprintf("SELECT " RES_COLS " FROM resources WHERE %s ORDER BY rowid LIMIT %u",
                                w, f->limit);
        else
                sql = xasprintf("SELECT " RES_COLS " FROM resources WHERE %s ORDER BY rowid", w);
        st = stmt_dyn(rd->conn, sql, &rc);
        if (!st)
                return sf_sql_err(rd->conn, rc, "list", e);
        bind_filter(st, kind, f);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *o = row_to_json(st, 0, e);
                if (!o) {
                        r = -EIO;
                        break;
                }
                json_array_append_new(arr, o);
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sf_sql_err(rd->conn, rc, "list", e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

int sf_res_count(sf_rd *rd, const char *kind, const struct sf_res_filter *f, int64_t *ret,
                 sf_err *e)
{
        _cleanup_free_ char *w = where_clause(f);
        _cleanup_free_ char *sql = xasprintf("SELECT count(*) FROM resources WHERE %s", w);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc = SQLITE_OK;
        st = stmt_dyn(rd->conn, sql, &rc);
        if (!st)
                return sf_sql_err(rd->conn, rc, "count", e);
        bind_filter(st, kind, f);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        return rc == SQLITE_ROW ? 0 : sf_sql_err(rd->conn, rc, "count", e);
}

int sf_res_count_all(sf_rd *rd, json_t **ret, sf_err *e)
{
        _cleanup_stmt_ sqlite3_stmt *st =
                sf_stmt(rd->conn, "SELECT kind, count(*) FROM resources GROUP BY kind", e);
        json_auto_t *o = json_object();
        int rc;
        if (!st)
                return -EIO;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                json_object_set_new(o, (const char *) sqlite3_column_text(st, 0),
                                    json_integer(sqlite3_column_int64(st, 1)));
        if (rc != SQLITE_DONE)
                return sf_sql_err(rd->conn, rc, "count", e);
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- events ---- */

int64_t sf_store_wait(sf_store *s, int64_t since, int timeout_ms)
{
        struct timespec deadline;
        int64_t rev;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->rev_lock);
        while (s->revision <= since && !s->shutdown)
                if (pthread_cond_timedwait(&s->rev_cond, &s->rev_lock, &deadline) == ETIMEDOUT)
                        break;
        rev = s->revision;
        pthread_mutex_unlock(&s->rev_lock);
        return rev;
}

int sf_events_since(sf_rd *rd, int64_t since, unsigned limit, const char *const *kinds,
                    json_t **ret, int64_t *ret_last, sf_err *e)
{
        sf_store *s = rd->store;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *arr = json_array();
        int64_t compacted, last = since;
        int rc;

        pthread_mutex_lock(&s->rev_lock);
        compacted = s->compacted;
        pthread_mutex_unlock(&s->rev_lock);
        if (since < compacted)
                return sf_err_set(e, -ESTALE, "since",
                                  "revision %" PRId64 " is older than the oldest event kept "
                                  "(%" PRId64 "): list again and watch from the list's revision",
                                  since, compacted + 1);
        st = sf_stmt(rd->conn,
                     "SELECT revision, type, kind, id, object FROM events WHERE revision > ? "
                     "ORDER BY revision LIMIT ?",
                     e);
        if (!st)
                return -EIO;
        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, limit ? limit : 1000);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *kind = (const char *) sqlite3_column_text(st, 2);
                bool want = !kinds;
                json_error_t je;
                json_t *obj, *ev;

                last = sqlite3_column_int64(st, 0);
                for (const char *const *k = kinds; k && *k; k++)
                        if (STREQ(*k, kind)) {
                                want = true;
                                break;
                        }
                if (!want)
                        continue;
                obj = json_loads((const char *) sqlite3_column_text(st, 4), 0, &je);
                ev = json_pack("{s:I, s:s, s:s, s:s, s:o*}", "revision", (json_int_t) last, "type",
                               (const char *) sqlite3_column_text(st, 1), "kind", kind, "id",
                               (const char *) sqlite3_column_text(st, 3), "object", obj);
                json_array_append_new(arr, ev);
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return sf_sql_err(rd->conn, rc, "events", e);
        *ret = TAKE_PTR(arr);
        if (ret_last)
                *ret_last = last;
        return 0;
}

char *sf_kind_default_name(const char *kind, const char *id)
{
        return xasprintf("%s-%.8s", kind, id);
}
