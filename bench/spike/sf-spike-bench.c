/* sf-spike-bench: one burst of N containers posted at once (each on its own connection), with
 * addresses chosen by the controller (so port pools apply), timed from its API request to
 * "process running and answering ping from the node" (probed once it is reported Running). Also reports, per container, when its
 * network namespace was ready (status.network_ready_at - the request's time) and whether it
 * came from the node's warm pool; and for the burst, the calls made to the network control
 * plane (from the controller's /metrics and its event log). Prints one JSON object per
 * container and a summary. Run it in the node's network namespace (it pings from there). */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "bench/lib/probe.h"
#include "lib/addr.h"
#include "lib/httpc.h"
#include "lib/util.h"

struct item {
        char name[64];
        struct sf_probe_target p; /* ip, Running, answered */
        uint64_t t_req, t_ack;
        int64_t t_req_rt;     /* realtime usec of the request, to place the node's timestamps */
        double net_ready_ms;  /* request -> status.network_ready_at */
        double started_ms;    /* request -> status.started_at (the process runs) */
        json_t *timings;
};

struct ctx {
        const char *endpoint, *network, *image, *prefix;
        int n;
        struct item *items;
        int64_t rev0;
        volatile int running_seen;
        volatile bool acks_done;
        int icmp;                /* raw ICMP socket */
        bool connected;          /* --connected: each connection opened before the burst */
        pthread_barrier_t ready; /* with --connected: every connection open */
};

static struct ctx *G;

/* RFC 3339 with microseconds ("2026-11-25T12:54:00.123456Z") -> usec since the epoch. */
static int64_t parse_ts(const char *s)
{
        struct tm tm = { 0 };
        const char *rest;
        long usec = 0;
        if (!s || !(rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
                return -1;
        if (*rest == '.') {
                char frac[7] = "000000";
                size_t n = 0;
                for (rest++; *rest >= '0' && *rest <= '9'; rest++)
                        if (n < 6)
                                frac[n++] = *rest;
                usec = strtol(frac, NULL, 10);
        }
        return (int64_t) timegm(&tm) * 1000000 + usec;
}

static void *create_one(void *u)
{
        struct item *it = u;
        _cleanup_httpc_ sf_httpc *c = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = NULL, *out = NULL;
        if (sf_httpc_new(G->endpoint, &c, NULL) < 0) {
                __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                if (G->connected)
                        pthread_barrier_wait(&G->ready);
                return NULL;
        }
        sf_httpc_set_timeout(c, 120000);
        body = json_pack("{s:s, s:s, s:[s,s], s:[s], s:i}", "name", it->name, "image", G->image, "command",
                         "sleep", "3600", "networks", G->network, "stop_grace_seconds", 0);
        if (G->connected) {
                /* A client that holds its connection open (a controller, an operator's
                 * client): the TCP handshake and the server's connection thread are not part
                 * of the request. Every thread connects, then the burst goes at once. */
                json_auto_t *h = NULL;
                if (sf_httpc_call(c, "GET", "/healthz", NULL, &h, &e) < 0)
                        fprintf(stderr, "connect %s: %s\n", it->name, sf_err_msg(&e));
                pthread_barrier_wait(&G->ready);
        }
        it->t_req = sf_now_usec();
        it->t_req_rt = (int64_t) sf_realtime_usec();
        if (sf_httpc_call(c, "POST", "/v1/containers", body, &out, &e) < 0) {
                fprintf(stderr, "create %s: %s\n", it->name, sf_err_msg(&e));
                __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                return NULL;
        }
        it->t_ack = sf_now_usec();
        /* Its address comes with its Running status (the watcher): no read on the burst's path. */
        return NULL;
}

static void *pinger(void *u)
{
        struct ctx *x = u;
        struct sf_probe_target **t = new0(struct sf_probe_target *, x->n);
        for (int i = 0; i < x->n; i++)
                t[i] = &x->items[i].p;
        sf_probe_loop(x->icmp, 0x5f01, t, x->n, &x->acks_done, sf_now_usec() + 300000000ULL);
        free(t);
        return NULL;
}

static void *watcher(void *u)
{
        struct ctx *x = u;
        _cleanup_httpc_ sf_httpc *c = NULL;
        int64_t since = x->rev0;
        uint64_t deadline = sf_now_usec() + 300000000ULL;
        if (sf_httpc_new(x->endpoint, &c, NULL) < 0)
                return NULL;
        while (x->running_seen < x->n && sf_now_usec() < deadline) {
                /* Short polls: when requests fail no event comes, and the loop must see that
                 * (below) within a second, not at the end of a long one. */
                _cleanup_free_ char *path =
                        xasprintf("/v1/events?since=%" PRId64 "&timeout=1&kinds=container&limit=5000", since);
                json_auto_t *out = NULL;
                json_t *ev;
                size_t k;
                int failed = 0;
                for (int i = 0; i < x->n; i++)
                        failed += x->items[i].p.failed && !x->items[i].p.t_running;
                if (x->acks_done && x->running_seen + failed >= x->n)
                        break;
                if (sf_httpc_call(c, "GET", path, NULL, &out, NULL) < 0)
                        continue;
                since = json_integer_value(json_object_get(out, "revision"));
                json_array_foreach(json_object_get(out, "events"), k, ev) {
                        json_t *o = json_object_get(ev, "object"), *st = json_object_get(o, "status");
                        const char *name = json_string_value(json_object_get(o, "name"));
                        const char *phase = json_string_value(json_object_get(st, "phase"));
                        if (!name || !phase)
                                continue;
                        for (int i = 0; i < x->n; i++) {
                                struct item *it = &x->items[i];
                                if (it->p.t_running || !STREQ(it->name, name))
                                        continue;
                                if (STREQ(phase, "Running")) {
                                        int64_t nr = parse_ts(json_string_value(json_object_get(st, "network_ready_at")));
                                        int64_t sa = parse_ts(json_string_value(json_object_get(st, "started_at")));
                                        it->timings = json_incref(json_object_get(st, "timings"));
                                        /* Same machine, same clock: from the client's request. */
                                        it->net_ready_ms = nr > 0 && it->t_req_rt ? (nr - it->t_req_rt) / 1000.0 : -1;
                                        it->started_ms = sa > 0 && it->t_req_rt ? (sa - it->t_req_rt) / 1000.0 : -1;
                                        if (!sf_probe_address_from_status(&it->p, st)) {
                                                fprintf(stderr, "%s: Running without an address\n", name);
                                                __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                                        }
                                        __atomic_store_n(&it->p.t_running, sf_now_usec(), __ATOMIC_RELEASE);
                                        sf_probe_running(x->icmp, 0x5f01, &it->p, (uint16_t) (it - x->items));
                                        x->running_seen++;
                                } else if (STREQ(phase, "Failed")) {
                                        __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                                        fprintf(stderr, "%s failed: %s\n", name,
                                                json_string_value(json_object_get(st, "message")) ?: "");
                                }
                        }
                }
        }
        return NULL;
}

/* Counters from the controller's /metrics (absent ones are 0). */
struct counters {
        double cold, refill_tx, refill_ports, reclaims, hits, misses;
};

static double metric_sum(const char *text, const char *name)
{
        double s = 0;
        size_t nl = strlen(name);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (strncmp(p, name, nl) == 0 && (p[nl] == ' ' || p[nl] == '{')) {
                        const char *v = strchr(p, ' ');
                        if (v)
                                s += strtod(v + 1, NULL);
                }
        }
        return s;
}

static int counters_read(const char *endpoint, struct counters *ret)
{
        _cleanup_httpc_ sf_httpc *c = NULL;
        struct sf_httpc_resp r = { 0 };
        const char *text;
        if (sf_httpc_new(endpoint, &c, NULL) < 0 || sf_httpc_do(c, "GET", "/metrics", NULL, NULL, &r, NULL) < 0)
                return -EIO;
        text = r.text ? r.text : "";
        *ret = (struct counters) {
                .cold = metric_sum(text, "sf_port_allocations_total{path=\"cold\"}"),
                .refill_tx = metric_sum(text, "sf_pool_refill_transactions_total"),
                .refill_ports = metric_sum(text, "sf_port_allocations_total{path=\"refill\"}"),
                .reclaims = metric_sum(text, "sf_pool_reclaims_total"),
                .hits = metric_sum(text, "sf_pool_hits_total"),
                .misses = metric_sum(text, "sf_pool_misses_total"),
        };
        sf_httpc_resp_clear(&r);
        return 0;
}

/* Port rows written since rev0 (store writes of kind port), by event type. */
static void port_writes(const char *endpoint, int64_t rev0, int64_t *created, int64_t *updated, int64_t *deleted)
{
        _cleanup_httpc_ sf_httpc *c = NULL;
        int64_t since = rev0;
        *created = *updated = *deleted = 0;
        if (sf_httpc_new(endpoint, &c, NULL) < 0)
                return;
        for (;;) {
                _cleanup_free_ char *path =
                        xasprintf("/v1/events?since=%" PRId64 "&timeout=0&kinds=port&limit=10000", since);
                json_auto_t *out = NULL;
                json_t *ev;
                size_t k;
                if (sf_httpc_call(c, "GET", path, NULL, &out, NULL) < 0)
                        return;
                json_array_foreach(json_object_get(out, "events"), k, ev) {
                        const char *t = json_string_value(json_object_get(ev, "type")) ?: "";
                        *created += STREQ(t, "created");
                        *updated += STREQ(t, "updated");
                        *deleted += STREQ(t, "deleted");
                }
                if (json_array_size(json_object_get(out, "events")) == 0 ||
                    json_integer_value(json_object_get(out, "revision")) <= since)
                        return;
                since = json_integer_value(json_object_get(out, "revision"));
        }
}

static int cmp_d(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "endpoint", required_argument, NULL, 'e' }, { "network", required_argument, NULL, 'n' },
                { "count", required_argument, NULL, 'c' },    { "prefix", required_argument, NULL, 'p' },
                { "image", required_argument, NULL, 'i' },    { "connected", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },           {},
        };
        struct ctx x = { .endpoint = "http://127.0.0.1:7480", .image = "busybox", .prefix = "sp", .n = 1 };
        struct counters c0 = { 0 }, c1 = { 0 };
        pthread_t *th, pt, wt;
        int o, failed = 0, warm = 0, dup = 0;
        uint64_t t_end;

        while ((o = getopt_long(argc, argv, "e:n:c:p:i:Ch", opts, NULL)) >= 0) {
                switch (o) {
                case 'e': x.endpoint = optarg; break;
                case 'n': x.network = optarg; break;
                case 'c': x.n = (int) strtol(optarg, NULL, 10); break;
                case 'p': x.prefix = optarg; break;
                case 'i': x.image = optarg; break;
                case 'C': x.connected = true; break;
                case 'h':
                        printf("Usage: sf-spike-bench --network NET [--count N] [--prefix P] [--endpoint URL] [--connected]\n"
                               "Starts N containers at once on NET (addresses chosen by the controller) and prints\n"
                               "per-container and summary timings. Run it in the node's network namespace.\n"
                               "--connected: each request goes on a connection opened before the burst.\n");
                        return 0;
                default: return 2;
                }
        }
        if (!x.network || x.n < 1 || x.n > 2000) {
                fprintf(stderr, "sf-spike-bench: --network is required; --count 1-2000\n");
                return 2;
        }
        sf_httpc_global_init();
        G = &x;
        x.items = new0(struct item, x.n);
        for (int i = 0; i < x.n; i++)
                snprintf(x.items[i].name, sizeof(x.items[i].name), "%s-%d", x.prefix, i);
        {
                _cleanup_httpc_ sf_httpc *c = NULL;
                json_auto_t *h = NULL;
                if (sf_httpc_new(x.endpoint, &c, NULL) < 0 || sf_httpc_call(c, "GET", "/healthz", NULL, &h, NULL) < 0) {
                        fprintf(stderr, "sf-spike-bench: sfd not reachable at %s\n", x.endpoint);
                        return 1;
                }
                x.rev0 = json_integer_value(json_object_get(h, "revision"));
        }
        x.icmp = sf_probe_open();
        if (x.icmp < 0) {
                fprintf(stderr, "sf-spike-bench: raw ICMP socket: %s\n", strerror(-x.icmp));
                return 1;
        }
        counters_read(x.endpoint, &c0);
        pthread_create(&wt, NULL, watcher, &x);
        pthread_create(&pt, NULL, pinger, &x);
        th = new0(pthread_t, x.n);
        if (x.connected)
                pthread_barrier_init(&x.ready, NULL, (unsigned) x.n);
        for (int i = 0; i < x.n; i++)
                pthread_create(&th[i], NULL, create_one, &x.items[i]);
        for (int i = 0; i < x.n; i++)
                pthread_join(th[i], NULL);
        x.acks_done = true;
        pthread_join(pt, NULL);
        pthread_join(wt, NULL);
        t_end = sf_now_usec();
        /* The calls made to the network control plane until the burst was served. */
        counters_read(x.endpoint, &c1);
        {
                uint64_t t0 = UINT64_MAX, t_all = 0, t_run = 0;
                double started_max = 0;
                double *nr = new0(double, x.n);
                int n_nr = 0;
                json_auto_t *ips = json_object();
                int64_t pc = 0, pu = 0, pd = 0;
                port_writes(x.endpoint, x.rev0, &pc, &pu, &pd);
                for (int i = 0; i < x.n; i++) {
                        struct item *it = &x.items[i];
                        uint64_t ready = MAX(it->p.t_ping, it->p.t_running);
                        t0 = MIN(t0, it->t_req);
                        if (it->p.failed || !it->p.t_ping || !it->p.t_running) {
                                failed++;
                                continue;
                        }
                        if (json_object_get(ips, it->p.ip))
                                dup++;
                        json_object_set_new(ips, it->p.ip, json_true());
                        t_all = MAX(t_all, ready);
                        t_run = MAX(t_run, it->p.t_running);
                        /* relative to the burst's first request */
                        started_max = MAX(started_max, it->started_ms + (it->t_req - t0) / 1000.0);
                        warm += json_is_true(json_object_get(it->timings, "warm"));
                        if (it->net_ready_ms >= 0)
                                nr[n_nr++] = it->net_ready_ms;
                        {
                                _cleanup_free_ char *t = it->timings ? sf_json_dumps(it->timings) : xstrdup("{}");
                                printf("{\"name\":\"%s\",\"ip\":\"%s\",\"ack_ms\":%.3f,\"ping_ms\":%.3f,\"running_ms\":%.3f,"
                                       "\"ready_ms\":%.3f,\"net_ready_ms\":%.3f,\"started_ms\":%.3f,\"agent\":%s}\n",
                                       it->name, it->p.ip, (it->t_ack - it->t_req) / 1e3, (it->p.t_ping - it->t_req) / 1e3,
                                       (it->p.t_running - it->t_req) / 1e3, (ready - it->t_req) / 1e3, it->net_ready_ms,
                                       it->started_ms, t);
                        }
                }
                qsort(nr, n_nr, sizeof(double), cmp_d);
                printf("{\"summary\":true,\"count\":%d,\"failed\":%d,\"duplicate_ips\":%d,\"warm\":%d,"
                       "\"all_ready_ms\":%.3f,\"all_running_ms\":%.3f,\"all_started_ms\":%.3f,"
                       "\"net_ready_p50_ms\":%.3f,\"net_ready_max_ms\":%.3f,"
                       "\"cp_cold_allocations\":%.0f,\"cp_refill_transactions\":%.0f,\"cp_refill_ports\":%.0f,"
                       "\"cp_reclaims\":%.0f,\"pool_hits\":%.0f,\"pool_misses\":%.0f,"
                       "\"port_rows_created\":%" PRId64 ",\"port_rows_updated\":%" PRId64 ",\"port_rows_deleted\":%" PRId64
                       ",\"window_ms\":%.3f}\n",
                       x.n, failed, dup, warm, t_all ? (t_all - t0) / 1e3 : -1.0, t_run ? (t_run - t0) / 1e3 : -1.0,
                       started_max,
                       n_nr ? nr[n_nr / 2] : -1.0, n_nr ? nr[n_nr - 1] : -1.0, c1.cold - c0.cold,
                       c1.refill_tx - c0.refill_tx, c1.refill_ports - c0.refill_ports, c1.reclaims - c0.reclaims,
                       c1.hits - c0.hits, c1.misses - c0.misses, pc, pu, pd, (t_end - t0) / 1e3);
                free(nr);
        }
        fflush(stdout);
        for (int i = 0; i < x.n; i++)
                if (x.items[i].timings)
                        json_decref(x.items[i].timings);
        free(x.items);
        free(th);
        return failed || dup ? 1 : 0;
}
