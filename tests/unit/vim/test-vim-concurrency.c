/* Unit test: concurrent port creation. 8 threads each create 200 ports on one network through
 * sf_tx_begin / create / commit; every port must get a distinct IP address and MAC, and the
 * store must hold exactly the ports and allocations that were committed. */
#include <pthread.h>

#include "vim-fixture.h"

enum { THREADS = 8, PER_THREAD = 200, TOTAL = THREADS * PER_THREAD };

struct worker {
        int idx;
        char *ips[PER_THREAD];
        char *macs[PER_THREAD];
        int failed;
        char err[256];
};

static void *work(void *u)
{
        struct worker *w = u;
        struct sf_kind *k = kind("port");
        for (int i = 0; i < PER_THREAD; i++) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *in = json_pack("{s:s, s:s}", "network", "n", "device_id", "w");
                json_auto_t *p = NULL;
                sf_tx *tx = NULL;
                int r = sf_tx_begin(fx->store, &tx, &e);
                if (r >= 0) {
                        r = k->create(k->ctx, tx, in, &p, &e);
                        if (r < 0)
                                sf_tx_abort(tx);
                        else
                                r = sf_tx_commit(tx, &e);
                }
                if (r < 0) {
                        snprintf(w->err, sizeof(w->err), "thread %d port %d: %s", w->idx, i,
                                 sf_err_msg(&e));
                        w->failed = 1;
                        return NULL;
                }
                w->ips[i] = xstrdup(ip_of(p, 0));
                w->macs[i] = xstrdup(str(p, "mac_address"));
        }
        return NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static size_t count_distinct(char **v, size_t n)
{
        size_t d = n ? 1 : 0;
        qsort(v, n, sizeof(char *), cmp_str);
        for (size_t i = 1; i < n; i++)
                if (STRNEQ(v[i - 1], v[i]))
                        d++;
        return d;
}

static int64_t count_sql(const char *sql)
{
        _cleanup_rd_ sf_rd rd = { 0 };
        sqlite3_stmt *st = NULL;
        int64_t n = -1;
        sf_rd_get(fx->store, &rd);
        assert_int_equal(sqlite3_prepare_v2(sf_conn_db(rd.conn), sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

static void test_concurrent_ports(void **state)
{
        static struct worker w[THREADS];
        pthread_t t[THREADS];
        char *ips[TOTAL], *macs[TOTAL];
        size_t n = 0;
        int64_t rev0;

        /* /20: 4093 addresses in the pool, room for all */
        json_decref(create_ok("network", "{'name': 'n'}"));
        json_decref(create_ok("subnet", "{'name': 's', 'network': 'n', 'cidr': '10.8.0.0/20'}"));
        rev0 = sf_store_revision(fx->store);

        for (int i = 0; i < THREADS; i++) {
                w[i] = (struct worker) { .idx = i };
                assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < THREADS; i++)
                if (w[i].failed)
                        fail_msg("%s", w[i].err);

        for (int i = 0; i < THREADS; i++)
                for (int j = 0; j < PER_THREAD; j++) {
                        ips[n] = w[i].ips[j];
                        macs[n++] = w[i].macs[j];
                }
        assert_int_equal(n, TOTAL);
        assert_int_equal(count_distinct(ips, n), TOTAL);
        assert_int_equal(count_distinct(macs, n), TOTAL);
        /* sequential allocation under the writer lock: exactly the first 1600 pool addresses */
        {
                json_auto_t *s = get("subnet", "s");
                struct sf_subnet_info si;
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                assert_int_equal(sf_subnet_info_parse(s, &si, &e), 0);
                for (size_t i = 0; i < n; i++) {
                        sf_addr a;
                        assert_int_equal(sf_addr_parse(ips[i], &a), 0);
                        assert_true(sf_prefix_contains(&si.cidr, &a));
                        u128 off = sf_addr_to_u128(&a) - sf_addr_to_u128(&si.cidr.addr);
                        if (off < 2 || off >= 2 + TOTAL)
                                fail_msg("%s is not among the first %d pool addresses", ips[i], TOTAL);
                }
        }
        /* the store agrees: one revision per port, and one allocation row per port */
        assert_int_equal(sf_store_revision(fx->store), rev0 + TOTAL);
        assert_int_equal(count_sql("SELECT count(*) FROM resources WHERE kind = 'port'"), TOTAL);
        assert_int_equal(count_sql("SELECT count(*) FROM ip_allocations"), TOTAL);
        assert_int_equal(count_sql("SELECT count(*) FROM mac_allocations"), TOTAL);
        assert_int_equal(count_sql("SELECT count(DISTINCT port_id) FROM ip_allocations"), TOTAL);

        for (size_t i = 0; i < n; i++)
                free(ips[i]), free(macs[i]);
}

int main(void)
{
        sf_log_max_level = SF_LOG_WARN;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_concurrent_ports, fx_setup, fx_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
