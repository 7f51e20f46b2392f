/* Unit tests: the SQLite store (src/store/store.c): open and migrations, resources (insert,
 * get, unique names and generated ones that collide, update, delete, list and count with
 * filters), revisions, the event log and its compaction, sf_store_wait, rollback,
 * durability across close and reopen, and WAL checkpoints (only past a threshold, and the
 * WAL started over by the checkpointer, not by the next request), and the per-node usage
 * that triggers keep (migration 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "store/kind.h"
#include "store/migrations.h"
#include "store/store.h"

struct fx {
        char dir[64];
        char *path;
        sf_store *s;
};

static int setup(void **state)
{
        struct fx *f = new0(struct fx, 1);
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        snprintf(f->dir, sizeof(f->dir), "/tmp/sf-test-store-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        f->path = xasprintf("%s/state.db", f->dir);
        if (sf_store_open(f->path, NULL, &f->s, &e) < 0) {
                fprintf(stderr, "open: %s\n", sf_err_msg(&e));
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        sf_store_free(f->s);
        sf_rm_rf(f->dir, NULL);
        free(f->path);
        free(f);
        return 0;
}

static json_t *J(const char *s)
{
        json_error_t je;
        json_t *j = json_loads(s, 0, &je);
        if (!j)
                fail_msg("bad test JSON '%s': %s", s, je.text);
        return j;
}

static void reopen(struct fx *f, const struct sf_store_options *o)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_store_free(f->s);
        f->s = NULL;
        if (sf_store_open(f->path, o, &f->s, &e) < 0)
                fail_msg("reopen: %s", sf_err_msg(&e));
}

static sf_tx *begin(sf_store *s)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_tx *tx = NULL;
        if (sf_tx_begin(s, &tx, &e) < 0)
                fail_msg("begin: %s", sf_err_msg(&e));
        return tx;
}

static void commit(sf_tx *tx)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        if (sf_tx_commit(tx, &e) < 0)
                fail_msg("commit: %s", sf_err_msg(&e));
}

/* Inserts one object in its own transaction; returns it (with id, revision...). */
static json_t *put(sf_store *s, const char *kind, const char *json, const char *owner,
                   const char *node)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *o = J(json);
        sf_tx *tx = begin(s);
        if (sf_res_insert(tx, kind, o, &(struct sf_res_cols) { owner, node }, &e) < 0)
                fail_msg("insert %s: %s", json, sf_err_msg(&e));
        commit(tx);
        return o;
}

static json_t *get(sf_store *s, const char *kind, const char *ref, int want)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *o = NULL;
        int r;
        sf_rd_get(s, &rd);
        r = sf_res_get(&rd, kind, ref, &o, &e);
        if (r != want)
                fail_msg("get %s '%s': %d (%s), expected %d", kind, ref, r, sf_err_msg(&e), want);
        return o;
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static int64_t num(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void test_open_migrations(void **state)
{
        struct fx *f = *state;
        size_t n = 0;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        sf_store_migrations(&n);
        assert_true(n >= 1);
        assert_int_equal(sf_store_schema_version(f->s), (int) n);
        assert_int_equal(sf_store_revision(f->s), 0);

        /* user_version is what the migrations key on */
        assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), (int) n);
        sqlite3_finalize(st);
        sqlite3_close(db);

        /* reopening an up-to-date database migrates nothing and keeps the data */
        json_decref(put(f->s, "thing", "{\"name\": \"a\"}", NULL, NULL));
        reopen(f, NULL);
        assert_int_equal(sf_store_schema_version(f->s), (int) n);
        json_decref(get(f->s, "thing", "a", 0));
}

static void test_newer_schema_refused(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_free_ char *p = xasprintf("%s/newer.db", f->dir);
        sqlite3 *db = NULL;
        sf_store *s = NULL;

        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(sf_store_open(p, NULL, &s, &e), -EPROTO);
        assert_null(s);
        assert_non_null(strstr(sf_err_msg(&e), "999"));

        /* a path that cannot be opened */
        assert_true(sf_store_open("/nonexistent-dir/x/state.db", NULL, &s, &e) < 0);
        assert_null(s);
}

static void test_insert_get(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *a = put(f->s, "thing", "{\"name\": \"a\", \"x\": 1, \"deep\": {\"y\": [1, 2]}}",
                             NULL, NULL);
        const char *id = str(a, "id");

        assert_non_null(id);
        assert_true(sf_uuid_valid(id));
        assert_int_equal(num(a, "revision"), 1);
        assert_non_null(str(a, "created_at"));
        assert_string_equal(str(a, "created_at"), str(a, "updated_at"));
        assert_int_equal(sf_store_revision(f->s), 1);

        json_auto_t *by_id = get(f->s, "thing", id, 0), *by_name = get(f->s, "thing", "a", 0);
        assert_true(json_equal(by_id, a));
        assert_true(json_equal(by_name, a));
        assert_int_equal(num(by_id, "x"), 1);

        /* kinds are separate name spaces */
        json_decref(get(f->s, "other", "a", -ENOENT));
        json_auto_t *a2 = put(f->s, "other", "{\"name\": \"a\"}", NULL, NULL);
        assert_string_not_equal(str(a2, "id"), id);
        assert_int_equal(num(a2, "revision"), 2);

        /* not found names the kind and the reference */
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                json_t *o = NULL;
                sf_rd_get(f->s, &rd);
                assert_int_equal(sf_res_get(&rd, "thing", "zzz", &o, &e), -ENOENT);
                assert_string_equal(sf_err_msg(&e), "thing 'zzz' not found");
                assert_int_equal(sf_res_get(&rd, "thing", "", &o, &e), -ENOENT);
                assert_int_equal(sf_res_get(&rd, "thing", NULL, &o, &e), -ENOENT);
                /* a UUID that is no object's id */
                assert_int_equal(sf_res_get(&rd, "thing", "00000000-0000-4000-8000-000000000000",
                                            &o, &e), -ENOENT);
                assert_null(o);
        }

        /* a given id is kept; a name that looks like a UUID still resolves by name */
        json_auto_t *c _unused_ = put(f->s, "thing",
                             "{\"id\": \"11111111-1111-4111-8111-111111111111\", "
                             "\"name\": \"22222222-2222-4222-8222-222222222222\"}",
                             NULL, NULL);
        json_decref(get(f->s, "thing", "11111111-1111-4111-8111-111111111111", 0));
        json_auto_t *c2 = get(f->s, "thing", "22222222-2222-4222-8222-222222222222", 0);
        assert_string_equal(str(c2, "id"), "11111111-1111-4111-8111-111111111111");

        /* name is required */
        {
                sf_tx *tx = begin(f->s);
                json_auto_t *o = J("{\"x\": 1}");
                assert_int_equal(sf_res_insert(tx, "thing", o, NULL, &e), -EINVAL);
                assert_string_equal(e.field, "name");
                sf_tx_abort(tx);
        }
}

static void test_unique_name(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_decref(put(f->s, "thing", "{\"name\": \"a\"}", NULL, NULL));
        json_auto_t *b = put(f->s, "thing", "{\"name\": \"b\"}", NULL, NULL);
        sf_tx *tx = begin(f->s);
        json_auto_t *dup = J("{\"name\": \"a\"}");

        assert_int_equal(sf_res_insert(tx, "thing", dup, NULL, &e), -EEXIST);
        assert_string_equal(e.field, "name");
        assert_string_equal(sf_err_msg(&e), "a thing named 'a' already exists");
        /* the failed insert used no revision: the next write in the same tx gets 3 */
        json_auto_t *c = J("{\"name\": \"c\"}");
        assert_int_equal(sf_res_insert(tx, "thing", c, NULL, &e), 0);
        assert_int_equal(num(c, "revision"), 3);
        /* renaming onto an existing name is the same conflict */
        json_object_set_new(b, "name", json_string("a"));
        assert_int_equal(sf_res_update(tx, "thing", b, NULL, &e), -EEXIST);
        assert_string_equal(e.field, "name");
        commit(tx);
        assert_int_equal(sf_store_revision(f->s), 3);
}

/* A generated name ("kind-" and 8 characters of the id) that another object already holds
 * becomes "kind-" and the whole id; a name the caller chose is refused as before. */
static void test_default_name_collision(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *id = "b0cf53ae-0000-4000-8000-000000000001";
        _cleanup_free_ char *def = sf_kind_default_name("port", id);
        json_decref(put(f->s, "port", "{\"name\": \"port-b0cf53ae\"}", NULL, NULL));
        sf_tx *tx = begin(f->s);
        json_auto_t *o = json_pack("{s:s, s:s}", "id", id, "name", def);

        assert_string_equal(def, "port-b0cf53ae");
        assert_int_equal(sf_res_insert(tx, "port", o, NULL, &e), 0);
        assert_string_equal(str(o, "name"), "port-b0cf53ae-0000-4000-8000-000000000001");
        assert_int_equal(num(o, "revision"), 2);
        /* the same name with another id is not this id's default: refused */
        json_auto_t *chosen = json_pack("{s:s, s:s}", "id", "c0000000-0000-4000-8000-000000000002",
                                        "name", "port-b0cf53ae");
        assert_int_equal(sf_res_insert(tx, "port", chosen, NULL, &e), -EEXIST);
        assert_string_equal(e.field, "name");
        commit(tx);
        json_auto_t *g = get(f->s, "port", id, 0);
        assert_string_equal(str(g, "name"), "port-b0cf53ae-0000-4000-8000-000000000001");
        assert_int_equal(sf_store_revision(f->s), 2);
}

static void test_update(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *a = put(f->s, "thing", "{\"name\": \"a\", \"x\": 1}", "o1", NULL);
        json_auto_t *old = json_deep_copy(a);
        sf_tx *tx;

        usleep(2000); /* updated_at has microseconds: make it differ for sure */
        tx = begin(f->s);
        json_object_set_new(a, "x", json_integer(2));
        json_object_set_new(a, "name", json_string("renamed"));
        assert_int_equal(sf_res_update(tx, "thing", a, &(struct sf_res_cols) { "o2", NULL }, &e), 0);
        assert_int_equal(num(a, "revision"), 2);
        commit(tx);

        json_auto_t *g = get(f->s, "thing", str(old, "id"), 0);
        assert_int_equal(num(g, "x"), 2);
        assert_int_equal(num(g, "revision"), 2);
        assert_string_equal(str(g, "name"), "renamed");
        assert_string_equal(str(g, "created_at"), str(old, "created_at"));
        assert_string_not_equal(str(g, "updated_at"), str(old, "updated_at"));
        json_decref(get(f->s, "thing", "a", -ENOENT));
        assert_int_equal(sf_store_revision(f->s), 2);

        /* the owner column moved with the update */
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                int64_t n = -1;
                sf_rd_get(f->s, &rd);
                assert_int_equal(sf_res_count(&rd, "thing", &(struct sf_res_filter) { .owner = "o2" },
                                              &n, &e), 0);
                assert_int_equal(n, 1);
                assert_int_equal(sf_res_count(&rd, "thing", &(struct sf_res_filter) { .owner = "o1" },
                                              &n, &e), 0);
                assert_int_equal(n, 0);
        }

        /* updating what does not exist */
        tx = begin(f->s);
        json_auto_t *ghost = J("{\"id\": \"00000000-0000-4000-8000-000000000000\", \"name\": \"g\"}");
        assert_int_equal(sf_res_update(tx, "thing", ghost, NULL, &e), -ENOENT);
        json_auto_t *noid = J("{\"name\": \"g\"}");
        assert_int_equal(sf_res_update(tx, "thing", noid, NULL, &e), -EINVAL);
        commit(tx);
        assert_int_equal(sf_store_revision(f->s), 2); /* nothing was written */
}

static void test_delete(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *a = put(f->s, "thing", "{\"name\": \"a\"}", NULL, NULL);
        sf_tx *tx = begin(f->s);
        assert_int_equal(sf_res_delete(tx, "thing", str(a, "id"), &e), 0);
        assert_int_equal(sf_res_delete(tx, "thing", str(a, "id"), &e), -ENOENT);
        assert_int_equal(sf_res_delete(tx, "other", "nope", &e), -ENOENT);
        commit(tx);
        assert_int_equal(sf_store_revision(f->s), 2);
        json_decref(get(f->s, "thing", "a", -ENOENT));
        /* the name is free again */
        json_auto_t *b = put(f->s, "thing", "{\"name\": \"a\"}", NULL, NULL);
        assert_string_not_equal(str(a, "id"), str(b, "id"));
}

static size_t list(sf_store *s, const char *kind, const struct sf_res_filter *flt, json_t **ret)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *arr = NULL;
        int64_t n = -1;
        size_t size;
        sf_rd_get(s, &rd);
        if (sf_res_list(&rd, kind, flt, &arr, &e) < 0)
                fail_msg("list: %s", sf_err_msg(&e));
        if (sf_res_count(&rd, kind, flt, &n, &e) < 0)
                fail_msg("count: %s", sf_err_msg(&e));
        /* count ignores the limit */
        if (!flt || !flt->limit)
                assert_int_equal(n, json_array_size(arr));
        size = json_array_size(arr);
        if (ret)
                *ret = arr;
        else
                json_decref(arr);
        return size;
}

static void test_list_filters(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_t *x;
        size_t i;
        sf_tx *tx = begin(f->s);
        for (int k = 0; k < 20; k++) {
                _cleanup_free_ char *j = xasprintf(
                        "{\"name\": \"p%02d\", \"color\": \"%s\", \"n\": %d, \"flag\": %s}", k,
                        k % 2 ? "red" : "blue", k % 5, k % 3 ? "true" : "false");
                json_auto_t *o = J(j);
                struct sf_res_cols c = { k < 10 ? "net-a" : "net-b", k % 4 == 0 ? "node-1" : NULL };
                assert_int_equal(sf_res_insert(tx, "port", o, &c, &e), 0);
        }
        json_auto_t *other = J("{\"name\": \"n1\", \"color\": \"red\"}");
        assert_int_equal(sf_res_insert(tx, "network", other, NULL, &e), 0);
        commit(tx);

        json_auto_t *all = NULL;
        assert_int_equal(list(f->s, "port", NULL, &all), 20);
        json_array_foreach(all, i, x) { /* ordered by creation */
                char want[32];
                snprintf(want, sizeof(want), "p%02zu", i);
                assert_string_equal(str(x, "name"), want);
        }
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .owner = "net-a" }, NULL), 10);
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .owner = "net-c" }, NULL), 0);
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .node = "node-1" }, NULL), 5);
        assert_int_equal(list(f->s, "port",
                              &(struct sf_res_filter) { .owner = "net-b", .node = "node-1" }, NULL),
                         2); /* 12, 16 */

        json_auto_t *red = J("{\"color\": \"red\"}"), *n3 = J("{\"n\": 3}"),
                    *n3s = J("{\"n\": \"3\"}"), *both = J("{\"color\": \"red\", \"n\": 3}"),
                    *nokey = J("{\"nokey\": \"x\"}"), *quote = J("{\"a\\\"b\": \"x\"}");
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = red }, NULL), 10);
        /* compared as text: an integer and its decimal string both match */
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = n3 }, NULL), 4);
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = n3s }, NULL), 4);
        json_t *items = NULL;
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = both }, &items), 2);
        assert_string_equal(str(json_array_get(items, 0), "name"), "p03");
        assert_string_equal(str(json_array_get(items, 1), "name"), "p13");
        json_decref(items);
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = nokey }, NULL), 0);
        assert_int_equal(list(f->s, "port",
                              &(struct sf_res_filter) { .owner = "net-a", .body = red }, NULL), 5);
        /* only objects without a node: 20 - 5 */
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .node_null = true }, NULL), 15);
        assert_int_equal(list(f->s, "port",
                              &(struct sf_res_filter) { .owner = "net-a", .node_null = true }, NULL),
                         7); /* 1-3, 5-7, 9 */
        /* a key that needs quoting in the JSON path matches nothing, and does not fail */
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = quote }, NULL), 0);

        /* limit keeps the first ones; count ignores it */
        items = NULL;
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .limit = 3 }, &items), 3);
        assert_string_equal(str(json_array_get(items, 2), "name"), "p02");
        json_decref(items);
        /* more distinct statements (one per limit) than the connection keeps prepared, twice:
         * evicted ones are prepared again, kept ones reused, each answer right */
        for (int pass = 0; pass < 2; pass++)
                for (unsigned l = 1; l <= 24; l++) {
                        items = NULL;
                        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .limit = l, .body = red },
                                              &items),
                                         MIN(l, 10u));
                        assert_string_equal(str(json_array_get(items, 0), "name"), "p01");
                        json_decref(items);
                }
        assert_int_equal(list(f->s, "port", &(struct sf_res_filter) { .body = both }, NULL), 2);
        {
                _cleanup_rd_ sf_rd rd = { 0 };
                int64_t n = 0;
                json_auto_t *counts = NULL;
                sf_rd_get(f->s, &rd);
                assert_int_equal(sf_res_count(&rd, "port", &(struct sf_res_filter) { .limit = 3 }, &n,
                                              &e), 0);
                assert_int_equal(n, 20);
                assert_int_equal(sf_res_count_all(&rd, &counts, &e), 0);
                assert_int_equal(num(counts, "port"), 20);
                assert_int_equal(num(counts, "network"), 1);
                assert_int_equal(json_object_size(counts), 2);
        }
        /* an unknown kind is just empty */
        assert_int_equal(list(f->s, "nothing", NULL, NULL), 0);
}

static json_t *events(sf_store *s, int64_t since, unsigned limit, const char *const *kinds,
                      int want, int64_t *ret_last)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        _cleanup_rd_ sf_rd rd = { 0 };
        json_t *arr = NULL;
        int r;
        sf_rd_get(s, &rd);
        r = sf_events_since(&rd, since, limit, kinds, &arr, ret_last, &e);
        if (r != want)
                fail_msg("events since %lld: %d (%s), expected %d", (long long) since, r,
                         sf_err_msg(&e), want);
        if (r == -ESTALE)
                assert_string_equal(e.field, "since");
        return arr;
}

static void test_events(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *a = put(f->s, "network", "{\"name\": \"n\"}", NULL, NULL);  /* 1 */
        json_auto_t *p = put(f->s, "port", "{\"name\": \"p\", \"v\": 1}", NULL, NULL); /* 2 */
        sf_tx *tx = begin(f->s);
        json_object_set_new(p, "v", json_integer(2));
        assert_int_equal(sf_res_update(tx, "port", p, NULL, &e), 0); /* 3 */
        assert_int_equal(sf_res_delete(tx, "network", str(a, "id"), &e), 0); /* 4 */
        commit(tx);
        int64_t last = -1;

        json_auto_t *all = events(f->s, 0, 0, NULL, 0, &last);
        assert_int_equal(json_array_size(all), 4);
        assert_int_equal(last, 4);
        static const char *const types[] = { "created", "created", "updated", "deleted" };
        static const char *const kinds[] = { "network", "port", "port", "network" };
        for (size_t i = 0; i < 4; i++) {
                json_t *ev = json_array_get(all, i);
                assert_int_equal(num(ev, "revision"), (int64_t) i + 1);
                assert_string_equal(str(ev, "type"), types[i]);
                assert_string_equal(str(ev, "kind"), kinds[i]);
                assert_non_null(str(ev, "id"));
                assert_true(json_is_object(json_object_get(ev, "object")));
                assert_int_equal(num(json_object_get(ev, "object"), "revision"), (int64_t) i + 1);
        }
        assert_int_equal(num(json_object_get(json_array_get(all, 2), "object"), "v"), 2);
        /* the deleted event carries the last state of the object */
        assert_string_equal(str(json_object_get(json_array_get(all, 3), "object"), "name"), "n");

        json_auto_t *after2 = events(f->s, 2, 0, NULL, 0, &last);
        assert_int_equal(json_array_size(after2), 2);
        assert_int_equal(num(json_array_get(after2, 0), "revision"), 3);

        json_auto_t *none = events(f->s, 4, 0, NULL, 0, &last);
        assert_int_equal(json_array_size(none), 0);
        assert_int_equal(last, 4);

        json_auto_t *lim = events(f->s, 0, 2, NULL, 0, &last);
        assert_int_equal(json_array_size(lim), 2);
        assert_int_equal(last, 2);

        static const char *const only_ports[] = { "port", NULL };
        json_auto_t *ports = events(f->s, 0, 0, only_ports, 0, &last);
        assert_int_equal(json_array_size(ports), 2);
        assert_string_equal(str(json_array_get(ports, 0), "kind"), "port");
        assert_string_equal(str(json_array_get(ports, 1), "kind"), "port");
        assert_int_equal(last, 4); /* scanned up to the end even though the last was filtered */

        static const char *const nothing[] = { "site", NULL };
        json_auto_t *sites = events(f->s, 0, 0, nothing, 0, &last);
        assert_int_equal(json_array_size(sites), 0);
        static const char *const empty[] = { NULL };
        json_auto_t *emp = events(f->s, 0, 0, empty, 0, &last);
        assert_int_equal(json_array_size(emp), 0);
}

static void test_events_compaction(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        int64_t last = 0, rev;
        sf_tx *tx;

        reopen(f, &(struct sf_store_options) { .event_retention = 10 });
        /* Compaction runs when a commit crosses a multiple of 1024 revisions. */
        tx = begin(f->s);
        for (int i = 0; i < 1100; i++) {
                char name[32];
                snprintf(name, sizeof(name), "t%d", i);
                json_auto_t *o = json_pack("{s:s}", "name", name);
                assert_int_equal(sf_res_insert(tx, "thing", o, NULL, &e), 0);
        }
        commit(tx);
        rev = sf_store_revision(f->s);
        assert_int_equal(rev, 1100);

        json_decref(events(f->s, 0, 0, NULL, -ESTALE, NULL));
        json_decref(events(f->s, rev - 11, 0, NULL, -ESTALE, NULL));
        json_auto_t *kept = events(f->s, rev - 10, 0, NULL, 0, &last);
        assert_int_equal(json_array_size(kept), 10);
        assert_int_equal(num(json_array_get(kept, 0), "revision"), rev - 9);
        assert_int_equal(last, rev);

        /* the compaction mark survives a restart, and the revision too */
        reopen(f, &(struct sf_store_options) { .event_retention = 10 });
        assert_int_equal(sf_store_revision(f->s), rev);
        json_decref(events(f->s, 0, 0, NULL, -ESTALE, NULL));
        json_auto_t *kept2 = events(f->s, rev - 10, 0, NULL, 0, &last);
        assert_int_equal(json_array_size(kept2), 10);

        /* deleting everything empties the events table of the objects; the revision goes on
         * from the compaction mark even when no event is left */
        tx = begin(f->s);
        for (int i = 0; i < 1100; i++) {
                char name[32];
                snprintf(name, sizeof(name), "t%d", i);
                json_auto_t *o = NULL;
                sf_rd rd;
                sf_rd_from_tx(tx, &rd);
                assert_int_equal(sf_res_get(&rd, "thing", name, &o, &e), 0);
                assert_int_equal(sf_res_delete(tx, "thing", str(o, "id"), &e), 0);
        }
        commit(tx);
        assert_int_equal(sf_store_revision(f->s), 2200);
        json_decref(events(f->s, 1100, 0, NULL, -ESTALE, NULL));
        json_auto_t *kept3 = events(f->s, 2190, 0, NULL, 0, &last);
        assert_int_equal(json_array_size(kept3), 10);
        assert_string_equal(str(json_array_get(kept3, 0), "type"), "deleted");
}

struct waiter {
        sf_store *s;
        int64_t since;
        int timeout_ms;
        int64_t got;
        uint64_t usec;
};

static void *wait_thread(void *u)
{
        struct waiter *w = u;
        uint64_t t0 = sf_now_usec();
        w->got = sf_store_wait(w->s, w->since, w->timeout_ms);
        w->usec = sf_now_usec() - t0;
        return NULL;
}

static void test_wait(void **state)
{
        struct fx *f = *state;
        struct waiter w = { .s = f->s, .since = 0, .timeout_ms = 10000 };
        pthread_t t;
        uint64_t t0;
        int64_t r;

        /* wakes up on a commit from another thread */
        assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
        usleep(50 * 1000);
        json_decref(put(f->s, "thing", "{\"name\": \"a\"}", NULL, NULL));
        pthread_join(t, NULL);
        assert_int_equal(w.got, 1);
        if (w.usec > 5 * 1000000)
                fail_msg("woke up after %llu us", (unsigned long long) w.usec);

        /* already past: returns at once */
        t0 = sf_now_usec();
        assert_int_equal(sf_store_wait(f->s, 0, 10000), 1);
        assert_true(sf_now_usec() - t0 < 1000000);

        /* nothing happens: times out with the current revision */
        t0 = sf_now_usec();
        r = sf_store_wait(f->s, 1, 150);
        assert_int_equal(r, 1);
        assert_true(sf_now_usec() - t0 >= 140 * 1000);

        /* a read-only transaction (no write) does not wake anybody */
        w = (struct waiter) { .s = f->s, .since = 1, .timeout_ms = 300 };
        assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
        usleep(20 * 1000);
        commit(begin(f->s));
        pthread_join(t, NULL);
        assert_int_equal(w.got, 1);
        assert_true(w.usec >= 250 * 1000);

        /* shutdown wakes waiters and makes later waits return at once */
        w = (struct waiter) { .s = f->s, .since = 1, .timeout_ms = 10000 };
        assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
        usleep(20 * 1000);
        sf_store_shutdown(f->s);
        pthread_join(t, NULL);
        assert_true(w.usec < 5 * 1000000);
        t0 = sf_now_usec();
        assert_int_equal(sf_store_wait(f->s, 1, 10000), 1);
        assert_true(sf_now_usec() - t0 < 1000000);
}

static void hook(void *u) { (*(int *) u)++; }

static void test_abort(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *a = put(f->s, "thing", "{\"name\": \"a\", \"x\": 1}", NULL, NULL);
        int hooks = 0, aborted = 0;
        sf_tx *tx = begin(f->s);
        json_auto_t *b = J("{\"name\": \"b\"}");
        assert_int_equal(sf_res_insert(tx, "thing", b, NULL, &e), 0);
        json_object_set_new(a, "x", json_integer(99));
        assert_int_equal(sf_res_update(tx, "thing", a, NULL, &e), 0);
        sf_tx_on_commit(tx, hook, &hooks);
        sf_tx_on_abort(tx, hook, &aborted);
        sf_tx_abort(tx);
        sf_tx_abort(NULL);

        assert_int_equal(hooks, 0);
        assert_int_equal(aborted, 1);
        assert_int_equal(sf_store_revision(f->s), 1);
        json_decref(get(f->s, "thing", "b", -ENOENT));
        json_auto_t *ga = get(f->s, "thing", "a", 0);
        assert_int_equal(num(ga, "x"), 1);
        assert_int_equal(num(ga, "revision"), 1);
        json_auto_t *ev = events(f->s, 0, 0, NULL, 0, NULL);
        assert_int_equal(json_array_size(ev), 1);

        /* the next write takes revision 2: the aborted ones are not burnt */
        json_auto_t *c = put(f->s, "thing", "{\"name\": \"c\"}", NULL, NULL);
        assert_int_equal(num(c, "revision"), 2);

        /* commit hooks run after a commit, in order; abort hooks do not */
        tx = begin(f->s);
        sf_tx_on_commit(tx, hook, &hooks);
        sf_tx_on_abort(tx, hook, &aborted);
        sf_tx_on_commit(tx, hook, &hooks);
        commit(tx);
        assert_int_equal(hooks, 2);
        assert_int_equal(aborted, 1);
}

static void test_reader_isolation(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_decref(put(f->s, "thing", "{\"name\": \"a\"}", NULL, NULL));
        sf_tx *tx = begin(f->s);
        json_auto_t *b = J("{\"name\": \"b\"}");
        assert_int_equal(sf_res_insert(tx, "thing", b, NULL, &e), 0);
        /* inside the transaction its own writes are visible ... */
        {
                sf_rd rd;
                json_auto_t *o = NULL;
                sf_rd_from_tx(tx, &rd);
                assert_int_equal(sf_res_get(&rd, "thing", "b", &o, &e), 0);
                sf_rd_put(&rd); /* no-op for a tx handle */
        }
        /* ... a pooled reader sees the last committed state, while the write is open */
        json_decref(get(f->s, "thing", "b", -ENOENT));
        commit(tx);
        json_decref(get(f->s, "thing", "b", 0));
}

static void test_reopen_durable(void **state)
{
        struct fx *f = *state;
        json_auto_t *a = put(f->s, "thing", "{\"name\": \"a\", \"deep\": {\"k\": [1, \"two\"]}}",
                             "own", "nod");
        json_decref(put(f->s, "thing", "{\"name\": \"b\"}", NULL, NULL));
        reopen(f, &(struct sf_store_options) { .sync_full = true });
        assert_int_equal(sf_store_revision(f->s), 2);
        json_auto_t *g = get(f->s, "thing", "a", 0);
        assert_true(json_equal(g, a));
        assert_int_equal(list(f->s, "thing", &(struct sf_res_filter) { .node = "nod" }, NULL), 1);
        json_auto_t *ev = events(f->s, 0, 0, NULL, 0, NULL);
        assert_int_equal(json_array_size(ev), 2);
        /* and the revision continues */
        json_auto_t *c = put(f->s, "thing", "{\"name\": \"c\"}", NULL, NULL);
        assert_int_equal(num(c, "revision"), 3);
}

static void test_sql_helpers(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        sf_tx *tx = begin(f->s);
        sf_conn *c = sf_tx_conn(tx);
        assert_ptr_equal(sf_tx_store(tx), f->s);
        assert_int_equal(sf_sql_exec(c, "CREATE TEMP TABLE t (a TEXT)", &e), 0);
        assert_int_equal(sf_sql_exec(c, "THIS IS NOT SQL", &e), -EIO);
        assert_non_null(strstr(sf_err_msg(&e), "syntax error"));
        static const char sql[] = "INSERT INTO t VALUES (?)";
        sqlite3_stmt *st = sf_stmt(c, sql, &e);
        assert_non_null(st);
        assert_ptr_equal(sf_stmt(c, sql, &e), st); /* cached by pointer */
        assert_int_equal(sf_bind_text(st, 1, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sf_stmt_done(&st);
        assert_null(st);
        assert_null(sf_stmt(c, "SELECT FROM WHERE", &e));
        assert_int_equal(e.code, -EIO);
        sf_tx_abort(tx);
}

/* How many times the WAL was started over (its header's checkpoint sequence number, which
 * each restart increments) and the application id (through a read-only connection of the
 * test's own, which checkpoints nothing). */
static void wal_state(const char *path, uint32_t *ret_seq, int64_t *ret_app_id)
{
        _cleanup_free_ char *wal = xasprintf("%s-wal", path);
        _cleanup_close_ int fd = open(wal, O_RDONLY | O_CLOEXEC);
        uint8_t h[32];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t) sizeof(h));
        *ret_seq = (uint32_t) h[12] << 24 | (uint32_t) h[13] << 16 | (uint32_t) h[14] << 8 | h[15];
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        *ret_app_id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
}

static void test_checkpoint_restart(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *big = new0(char, 16001);
        uint32_t seq0 = 0, seq = 0;
        int64_t app_id = -1;

        /* A few small writes: below the threshold, the WAL is left alone. */
        for (int i = 0; i < 5; i++) {
                _cleanup_free_ char *name = xasprintf("{\"name\": \"s%d\"}", i);
                json_decref(put(f->s, "thing", name, NULL, NULL));
        }
        wal_state(f->path, &seq0, &app_id);
        usleep(600000);
        wal_state(f->path, &seq, &app_id);
        assert_int_equal(app_id, 0);
        assert_int_equal(seq, seq0);

        /* Past it (about 4 pages per object): checkpointed, and started over by the
         * checkpointer's own write (which sets the application id). */
        memset(big, 'x', 16000);
        for (int i = 0; i < 400; i++) {
                char name[16];
                json_auto_t *o = NULL;
                snprintf(name, sizeof(name), "b%d", i);
                o = json_pack("{s:s, s:s}", "name", name, "data", big);
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                sf_tx *tx = begin(f->s);
                if (sf_res_insert(tx, "thing", o, &(struct sf_res_cols) { 0 }, &e) < 0)
                        fail_msg("insert: %s", sf_err_msg(&e));
                commit(tx);
        }
        for (int i = 0; i < 50; i++) {
                wal_state(f->path, &seq, &app_id);
                if (app_id == 1397122146 && seq != seq0)
                        break;
                usleep(100000);
        }
        assert_int_equal(app_id, 1397122146); /* "SFdb" */
        assert_int_not_equal(seq, seq0);
        /* Nothing lost, and the next write appends to the new WAL. */
        assert_int_equal(list(f->s, "thing", NULL, NULL), 405);
        json_decref(put(f->s, "thing", "{\"name\": \"after\"}", NULL, NULL));
        assert_int_equal(list(f->s, "thing", NULL, NULL), 406);
}

/* node_usage (migration 4) against the sum it stands for, read from the file as committed. */
static void assert_usage_matches(const char *path, int want_rows)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *a = NULL, *b = NULL;
        int rows = 0, ra, rb;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT node, workloads, cpu, memory FROM node_usage"
                                            " WHERE workloads != 0 OR cpu != 0 OR memory != 0 ORDER BY node",
                                            -1, &a, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT node, count(*), coalesce(sum(json_extract(body, '$.cpu')), 0),"
                                            " coalesce(sum(json_extract(body, '$.memory')), 0) FROM resources"
                                            " WHERE kind = 'container' AND node IS NOT NULL GROUP BY node ORDER BY node",
                                            -1, &b, NULL),
                         SQLITE_OK);
        while ((ra = sqlite3_step(a)) == SQLITE_ROW) {
                assert_int_equal(rb = sqlite3_step(b), SQLITE_ROW);
                assert_string_equal(sqlite3_column_text(a, 0), sqlite3_column_text(b, 0));
                for (int i = 1; i < 4; i++)
                        assert_int_equal(sqlite3_column_int64(a, i), sqlite3_column_int64(b, i));
                rows++;
        }
        assert_int_equal(ra, SQLITE_DONE);
        assert_int_equal(sqlite3_step(b), SQLITE_DONE);
        assert_int_equal(rows, want_rows);
        sqlite3_finalize(a);
        sqlite3_finalize(b);
        sqlite3_close(db);
}

static void test_node_usage(void **state)
{
        struct fx *f = *state;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *a = put(f->s, "container", "{\"name\": \"a\", \"cpu\": 500, \"memory\": 1000}", NULL, "n1");
        json_auto_t *b = put(f->s, "container", "{\"name\": \"b\", \"cpu\": 250}", NULL, "n1");
        json_auto_t *c = put(f->s, "container", "{\"name\": \"c\", \"memory\": 64}", NULL, "n2");
        json_auto_t *pend = put(f->s, "container", "{\"name\": \"pending\", \"cpu\": 100}", NULL, NULL);
        json_decref(put(f->s, "port", "{\"name\": \"p\", \"cpu\": 7}", NULL, "n1")); /* not a workload */
        assert_usage_matches(f->path, 2);

        /* a status report (the body changes, not the limits), a new limit, a move */
        sf_tx *tx = begin(f->s);
        json_object_set_new(a, "status", json_pack("{s:s}", "phase", "Running"));
        assert_int_equal(sf_res_update(tx, "container", a, &(struct sf_res_cols) { .node = "n1" }, &e), 0);
        json_object_set_new(b, "cpu", json_integer(300));
        assert_int_equal(sf_res_update(tx, "container", b, &(struct sf_res_cols) { .node = "n1" }, &e), 0);
        assert_int_equal(sf_res_update(tx, "container", c, &(struct sf_res_cols) { .node = "n1" }, &e), 0);
        commit(tx);
        assert_usage_matches(f->path, 1);

        /* unbound, deleted, a pending one placed; an aborted transaction changes nothing */
        tx = begin(f->s);
        assert_int_equal(sf_res_update(tx, "container", c, NULL, &e), 0);
        assert_int_equal(sf_res_delete(tx, "container", str(b, "id"), &e), 0);
        assert_int_equal(sf_res_update(tx, "container", pend, &(struct sf_res_cols) { .node = "n2" }, &e), 0);
        commit(tx);
        assert_usage_matches(f->path, 2);
        tx = begin(f->s);
        assert_int_equal(sf_res_delete(tx, "container", str(a, "id"), &e), 0);
        assert_int_equal(sf_res_update(tx, "container", c, &(struct sf_res_cols) { .node = "n3" }, &e), 0);
        sf_tx_abort(tx);
        assert_usage_matches(f->path, 2);

        /* the migration fills it from the containers already there */
        {
                _cleanup_free_ char *p = xasprintf("%s/old.db", f->dir);
                size_t n = 0;
                const char *const *m = sf_store_migrations(&n);
                sqlite3 *db = NULL;
                sf_store *s = NULL;
                assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
                for (size_t i = 0; i < 3; i++)
                        assert_int_equal(sqlite3_exec(db, m[i], NULL, NULL, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_exec(db,
                                              "PRAGMA user_version=3;"
                                              "INSERT INTO resources VALUES ('container', 'x1', 'x1', 1, '', '', NULL, 'n1',"
                                              "  '{\"cpu\": 100, \"memory\": 5}');"
                                              "INSERT INTO resources VALUES ('container', 'x2', 'x2', 2, '', '', NULL, 'n1',"
                                              "  '{\"cpu\": 20}');"
                                              "INSERT INTO resources VALUES ('container', 'x3', 'x3', 3, '', '', NULL, 'n2', '{}');"
                                              "INSERT INTO resources VALUES ('container', 'x4', 'x4', 4, '', '', NULL, NULL, '{}')",
                                              NULL, NULL, NULL),
                                 SQLITE_OK);
                sqlite3_close(db);
                assert_int_equal(sf_store_open(p, NULL, &s, &e), 0);
                assert_int_equal(sf_store_schema_version(s), (int) n);
                assert_usage_matches(p, 2);
                sf_store_free(s);
        }
}

static int policy(pid_t tid) { return sched_getscheduler(tid) & ~SCHED_RESET_ON_FORK; }

struct rt_waiter {
        sf_store *s;
        int policy_before;
        pid_t tid;
};

static void *wait_and_write(void *u)
{
        struct rt_waiter *w = u;
        w->policy_before = policy(0); /* not the creator's SCHED_FIFO: reset on fork */
        __atomic_store_n(&w->tid, gettid(), __ATOMIC_RELEASE);
        commit(begin(w->s));
        return NULL;
}

static void test_writer_rt(void **state)
{
        struct fx *f = *state;
        struct sched_param rt = { .sched_priority = 1 }, other = { 0 };
        struct rt_waiter w = { 0 };
        pthread_t t;
        sf_tx *tx;

        /* Off by default: the writer keeps its thread's scheduling. */
        tx = begin(f->s);
        assert_int_equal(policy(0), SCHED_OTHER);
        sf_tx_abort(tx);
        /* On needs the privilege (without it, sfd logs it once and goes on without). */
        if (sched_setscheduler(0, SCHED_FIFO, &rt) < 0)
                skip();
        assert_int_equal(sched_setscheduler(0, SCHED_OTHER, &other), 0);

        reopen(f, &(struct sf_store_options) { .writer_rt = true });
        assert_int_equal(setpriority(PRIO_PROCESS, (id_t) gettid(), 5), 0);
        tx = begin(f->s);
        assert_int_equal(policy(0), SCHED_FIFO);
        /* A thread waiting for the lock is raised while it waits. */
        w.s = f->s;
        assert_int_equal(pthread_create(&t, NULL, wait_and_write, &w), 0);
        for (int i = 0; i < 2000 && !(__atomic_load_n(&w.tid, __ATOMIC_ACQUIRE) && policy(w.tid) == SCHED_FIFO); i++)
                usleep(1000);
        assert_int_equal(policy(w.tid), SCHED_FIFO);
        commit(tx);
        /* Back to its own, nice value included, after a commit and after an abort. */
        assert_int_equal(policy(0), SCHED_OTHER);
        errno = 0;
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t) gettid()), 5);
        assert_int_equal(errno, 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(w.policy_before, SCHED_OTHER);
        assert_int_equal(sf_store_revision(f->s), 0);
        tx = begin(f->s);
        assert_int_equal(policy(0), SCHED_FIFO);
        sf_tx_abort(tx);
        assert_int_equal(policy(0), SCHED_OTHER);
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t) gettid()), 5);
        assert_int_equal(setpriority(PRIO_PROCESS, (id_t) gettid(), 0), 0);
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_open_migrations), T(test_newer_schema_refused), T(test_insert_get),
                T(test_unique_name),     T(test_update),               T(test_delete),
                T(test_list_filters),    T(test_events),               T(test_events_compaction),
                T(test_wait),            T(test_abort),                T(test_reader_isolation),
                T(test_reopen_durable),  T(test_sql_helpers),          T(test_default_name_collision),
                T(test_checkpoint_restart), T(test_node_usage),        T(test_writer_rt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
