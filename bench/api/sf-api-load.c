/* sf-api-load: drives sfd's API with concurrent port creates over keep-alive connections and
 * reports throughput and latency percentiles. Used by bench/api and by the API tests (which
 * use --ack-file: one line per acknowledged create, written as soon as the 201 arrives). */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>

#include "lib/httpc.h"
#include "lib/util.h"

struct shared {
        const char *endpoint;
        const char *network;
        int total;
        int next; /* guarded by lock */
        pthread_mutex_t lock;
        FILE *ack;
        uint64_t *lat; /* usec per request */
        int done, failed;
};

static void *worker(void *u)
{
        struct shared *s = u;
        _cleanup_httpc_ sf_httpc *c = NULL;
        if (sf_httpc_new(s->endpoint, &c, NULL) < 0)
                return NULL;
        for (;;) {
                _cleanup_err_ sf_err e = SF_ERR_INIT;
                json_auto_t *body = NULL, *out = NULL;
                uint64_t t0;
                int i, r;

                pthread_mutex_lock(&s->lock);
                i = s->next < s->total ? s->next++ : -1;
                pthread_mutex_unlock(&s->lock);
                if (i < 0)
                        break;
                body = json_pack("{s:s}", "network", s->network);
                t0 = sf_now_usec();
                r = sf_httpc_call(c, "POST", "/v1/ports", body, &out, &e);
                s->lat[i] = sf_now_usec() - t0;
                pthread_mutex_lock(&s->lock);
                if (r < 0) {
                        s->failed++;
                        if (s->failed <= 5)
                                fprintf(stderr, "create %d failed: %s\n", i, sf_err_msg(&e));
                } else {
                        s->done++;
                        if (s->ack) {
                                fprintf(s->ack, "%s %s %s\n",
                                        json_string_value(json_object_get(out, "id")),
                                        json_string_value(json_object_get(out, "mac_address")),
                                        json_string_value(json_object_get(
                                                json_array_get(json_object_get(out, "fixed_ips"), 0),
                                                "ip_address")) ?: "-");
                                fflush(s->ack);
                        }
                }
                pthread_mutex_unlock(&s->lock);
        }
        return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "endpoint", required_argument, NULL, 'e' },
                { "network", required_argument, NULL, 'n' },
                { "count", required_argument, NULL, 'c' },
                { "clients", required_argument, NULL, 'j' },
                { "ack-file", required_argument, NULL, 'a' },
                { "json", no_argument, NULL, 'J' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct shared s = { .endpoint = "http://127.0.0.1:7480", .total = 1000 };
        int clients = 4, o;
        bool json = false;
        pthread_t *th;
        uint64_t t0, el;

        pthread_mutex_init(&s.lock, NULL);
        while ((o = getopt_long(argc, argv, "e:n:c:j:a:Jh", opts, NULL)) >= 0) {
                switch (o) {
                case 'e':
                        s.endpoint = optarg;
                        break;
                case 'n':
                        s.network = optarg;
                        break;
                case 'c':
                        s.total = (int) strtol(optarg, NULL, 10);
                        break;
                case 'j':
                        clients = (int) strtol(optarg, NULL, 10);
                        break;
                case 'a':
                        s.ack = fopen(optarg, "we");
                        if (!s.ack) {
                                perror(optarg);
                                return 2;
                        }
                        break;
                case 'J':
                        json = true;
                        break;
                case 'h':
                        printf("Usage: sf-api-load --network NET [--endpoint URL] [--count N] "
                               "[--clients N] [--ack-file F] [--json]\n"
                               "Creates N ports on NET from N concurrent keep-alive clients and "
                               "prints throughput and latency percentiles.\n");
                        return 0;
                default:
                        return 2;
                }
        }
        if (!s.network || s.total <= 0 || clients <= 0 || clients > 256) {
                fprintf(stderr, "sf-api-load: --network is required; --count > 0; --clients 1-256\n");
                return 2;
        }
        sf_httpc_global_init();
        s.lat = new0(uint64_t, s.total);
        th = new0(pthread_t, clients);
        t0 = sf_now_usec();
        for (int i = 0; i < clients; i++)
                pthread_create(&th[i], NULL, worker, &s);
        for (int i = 0; i < clients; i++)
                pthread_join(th[i], NULL);
        el = sf_now_usec() - t0;
        qsort(s.lat, s.total, sizeof(uint64_t), cmp_u64);
        {
                double rate = s.done / (el / 1e6);
                double p50 = s.lat[s.total / 2] / 1000.0, p99 = s.lat[(s.total * 99) / 100] / 1000.0;
                double mx = s.lat[s.total - 1] / 1000.0, mn = s.lat[0] / 1000.0;
                if (json)
                        printf("{\"count\":%d,\"ok\":%d,\"failed\":%d,\"clients\":%d,\"seconds\":%.3f,"
                               "\"per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"min_ms\":%.3f,"
                               "\"max_ms\":%.3f}\n",
                               s.total, s.done, s.failed, clients, el / 1e6, rate, p50, p99, mn, mx);
                else
                        printf("%d creates (%d failed) from %d clients in %.3f s: %.0f/s, p50 %.2f ms, "
                               "p99 %.2f ms, max %.2f ms\n",
                               s.total, s.failed, clients, el / 1e6, rate, p50, p99, mx);
        }
        if (s.ack)
                fclose(s.ack);
        free(th);
        free(s.lat);
        return s.failed ? 1 : 0;
}
