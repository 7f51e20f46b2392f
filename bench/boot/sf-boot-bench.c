/* sf-boot-bench: times container starts through sfd, from the API request to "process running
 * and answering ping": it posts N containers at once (each on its own keep-alive connection;
 * with --base-ip at consecutive addresses from it, without at addresses the controller chooses,
 * which lets a request take a pooled port), follows the event stream for the Running status,
 * and then probes each one's address with ICMP echo from the node's namespace (a peer on the
 * same network) until it answers. Prints one JSON object per container and a summary. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/socket.h>

#include "bench/lib/probe.h"
#include "lib/addr.h"
#include "lib/httpc.h"
#include "lib/util.h"

struct item {
        char name[64];
        struct sf_probe_target p; /* ip, Running, answered */
        uint64_t t_req, t_ack;
        json_t *timings;
};

struct ctx {
        const char *endpoint, *network, *image, *prefix, *base_ip;
        int n;
        struct item *items;
        int64_t rev0;
        int settled; /* Running, Failed, or not created: the watcher waits for no more */
        volatile bool acks_done;
        int icmp; /* raw ICMP socket */
        pthread_mutex_t lock;
};

static struct ctx *G;

static void *create_one(void *u)
{
        struct item *it = u;
        _cleanup_httpc_ sf_httpc *c = NULL;
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        json_auto_t *body = NULL, *out = NULL;
        if (sf_httpc_new(G->endpoint, &c, NULL) < 0)
                return NULL;
        if (G->base_ip)
                body = json_pack("{s:s, s:s, s:[s,s], s:[{s:s,s:s}], s:i}", "name", it->name, "image", G->image,
                                 "command", "sleep", "3600", "networks", "network", G->network, "ip", it->p.ip,
                                 "stop_grace_seconds", 0);
        else
                body = json_pack("{s:s, s:s, s:[s,s], s:[s], s:i}", "name", it->name, "image", G->image,
                                 "command", "sleep", "3600", "networks", G->network, "stop_grace_seconds", 0);
        it->t_req = sf_now_usec();
        if (sf_httpc_call(c, "POST", "/v1/containers", body, &out, &e) < 0) {
                fprintf(stderr, "create %s: %s\n", it->name, sf_err_msg(&e));
                __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                __atomic_add_fetch(&G->settled, 1, __ATOMIC_RELAXED); /* no Running to wait for */
        }
        it->t_ack = sf_now_usec();
        /* Without --base-ip, the address the controller chose comes with the Running status
         * (the watcher), when the probes start: no read on the burst's path. */
        return NULL;
}

static void *pinger(void *u)
{
        struct ctx *x = u;
        struct sf_probe_target **t = new0(struct sf_probe_target *, x->n);
        for (int i = 0; i < x->n; i++)
                t[i] = &x->items[i].p;
        sf_probe_loop(x->icmp, 0x5f00, t, x->n, &x->acks_done, sf_now_usec() + 120000000ULL);
        free(t);
        return NULL;
}

static void *watcher(void *u)
{
        struct ctx *x = u;
        _cleanup_httpc_ sf_httpc *c = NULL;
        int64_t since = x->rev0;
        uint64_t deadline = sf_now_usec() + 120000000ULL;
        if (sf_httpc_new(x->endpoint, &c, NULL) < 0)
                return NULL;
        while (__atomic_load_n(&x->settled, __ATOMIC_RELAXED) < x->n && sf_now_usec() < deadline) {
                _cleanup_free_ char *path = xasprintf("/v1/events?since=%" PRId64 "&timeout=5&kinds=container", since);
                json_auto_t *out = NULL;
                json_t *ev;
                size_t k;
                if (sf_httpc_call(c, "GET", path, NULL, &out, NULL) < 0)
                        continue;
                since = json_integer_value(json_object_get(out, "revision"));
                json_array_foreach(json_object_get(out, "events"), k, ev) {
                        json_t *o = json_object_get(ev, "object");
                        const char *name = json_string_value(json_object_get(o, "name"));
                        const char *phase = json_string_value(json_object_get(json_object_get(o, "status"), "phase"));
                        if (!name || !phase)
                                continue;
                        for (int i = 0; i < x->n; i++) {
                                struct item *it = &x->items[i];
                                if (it->p.t_running || !STREQ(it->name, name))
                                        continue;
                                if (STREQ(phase, "Running")) {
                                        it->timings = json_incref(json_object_get(json_object_get(o, "status"), "timings"));
                                        if (!sf_probe_address_from_status(&it->p, json_object_get(o, "status"))) {
                                                fprintf(stderr, "%s: Running without an address\n", name);
                                                __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                                        }
                                        __atomic_store_n(&it->p.t_running, sf_now_usec(), __ATOMIC_RELEASE);
                                        sf_probe_running(x->icmp, 0x5f00, &it->p, (uint16_t) (it - x->items));
                                        __atomic_add_fetch(&x->settled, 1, __ATOMIC_RELAXED);
                                } else if (STREQ(phase, "Failed")) {
                                        __atomic_store_n(&it->p.failed, true, __ATOMIC_RELEASE);
                                        __atomic_add_fetch(&x->settled, 1, __ATOMIC_RELAXED);
                                }
                        }
                }
        }
        return NULL;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "endpoint", required_argument, NULL, 'e' }, { "network", required_argument, NULL, 'n' },
                { "count", required_argument, NULL, 'c' },    { "prefix", required_argument, NULL, 'p' },
                { "base-ip", required_argument, NULL, 'b' },  { "image", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' },           {},
        };
        struct ctx x = { .endpoint = "http://127.0.0.1:7480", .image = "busybox", .prefix = "bb", .n = 1 };
        pthread_t *th, pt, wt;
        sf_addr base = {};
        int o, failed = 0;

        while ((o = getopt_long(argc, argv, "e:n:c:p:b:i:h", opts, NULL)) >= 0) {
                switch (o) {
                case 'e': x.endpoint = optarg; break;
                case 'n': x.network = optarg; break;
                case 'c': x.n = (int) strtol(optarg, NULL, 10); break;
                case 'p': x.prefix = optarg; break;
                case 'b': x.base_ip = optarg; break;
                case 'i': x.image = optarg; break;
                case 'h':
                        printf("Usage: sf-boot-bench --network NET [--base-ip IP] [--count N] [--prefix P] "
                               "[--endpoint URL]\nStarts N containers at once (addresses from IP up, or "
                               "chosen by the controller, which may take pooled ports) and prints "
                               "request->running and request->ping times. Run it in the node's network "
                               "namespace (it pings from there).\n");
                        return 0;
                default: return 2;
                }
        }
        if (!x.network || (x.base_ip && sf_addr_parse(x.base_ip, &base) < 0) || x.n < 1 || x.n > 1000) {
                fprintf(stderr, "sf-boot-bench: --network is required, --base-ip must be IPv4, --count 1-1000\n");
                return 2;
        }
        sf_httpc_global_init();
        G = &x;
        x.items = new0(struct item, x.n);
        for (int i = 0; i < x.n; i++) {
                snprintf(x.items[i].name, sizeof(x.items[i].name), "%s-%d", x.prefix, i);
                if (x.base_ip) {
                        sf_addr a = sf_addr_from_u128(AF_INET, sf_addr_to_u128(&base) + i);
                        sf_addr_fmt(&a, x.items[i].p.ip);
                        x.items[i].p.have_ip = true;
                }
        }
        {
                _cleanup_httpc_ sf_httpc *c = NULL;
                json_auto_t *h = NULL;
                if (sf_httpc_new(x.endpoint, &c, NULL) < 0 || sf_httpc_call(c, "GET", "/healthz", NULL, &h, NULL) < 0) {
                        fprintf(stderr, "sf-boot-bench: sfd not reachable at %s\n", x.endpoint);
                        return 1;
                }
                x.rev0 = json_integer_value(json_object_get(h, "revision"));
        }
        x.icmp = sf_probe_open();
        if (x.icmp < 0) {
                fprintf(stderr, "sf-boot-bench: raw ICMP socket: %s\n", strerror(-x.icmp));
                return 1;
        }
        pthread_create(&wt, NULL, watcher, &x);
        pthread_create(&pt, NULL, pinger, &x);
        th = new0(pthread_t, x.n);
        for (int i = 0; i < x.n; i++)
                pthread_create(&th[i], NULL, create_one, &x.items[i]);
        for (int i = 0; i < x.n; i++)
                pthread_join(th[i], NULL);
        x.acks_done = true;
        pthread_join(pt, NULL);
        pthread_join(wt, NULL);
        {
                uint64_t t0 = UINT64_MAX, t_all = 0;
                for (int i = 0; i < x.n; i++) {
                        struct item *it = &x.items[i];
                        uint64_t ready = MAX(it->p.t_ping, it->p.t_running);
                        t0 = MIN(t0, it->t_req);
                        if (it->p.failed || !it->p.t_ping || !it->p.t_running) {
                                failed++;
                                continue;
                        }
                        t_all = MAX(t_all, ready);
                        printf("{\"name\":\"%s\",\"ack_ms\":%.3f,\"ping_ms\":%.3f,\"running_ms\":%.3f,"
                               "\"ready_ms\":%.3f,\"agent\":%s}\n",
                               it->name, (it->t_ack - it->t_req) / 1e3, (it->p.t_ping - it->t_req) / 1e3,
                               (it->p.t_running - it->t_req) / 1e3, (ready - it->t_req) / 1e3,
                               it->timings ? sf_json_dumps(it->timings) : "{}");
                }
                printf("{\"summary\":true,\"count\":%d,\"failed\":%d,\"all_ready_ms\":%.3f}\n", x.n, failed,
                       t_all ? (t_all - t0) / 1e3 : -1.0);
        }
        return failed ? 1 : 0;
}
