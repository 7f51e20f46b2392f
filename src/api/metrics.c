/* Prometheus text rendering of per-route request counters and latency histograms. */
#include <inttypes.h>
#include <pthread.h>

#include "api/metrics.h"

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
        char *route;
        char *method;
        uint64_t by_status[6]; /* index: status / 100 */
        uint64_t count;
        uint64_t bucket[N_BUCKETS];
        double sum;
};

struct sf_metrics {
        pthread_mutex_t lock;
        struct series *s;
        size_t n;
};

sf_metrics *sf_metrics_new(void)
{
        sf_metrics *m = new0(sf_metrics, 1);
        pthread_mutex_init(&m->lock, NULL);
        return m;
}

void sf_metrics_free(sf_metrics *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                free(m->s[i].route);
                free(m->s[i].method);
        }
        free(m->s);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

void sf_metrics_observe(sf_metrics *m, const char *route, const char *method, unsigned status,
                        uint64_t usec)
{
        struct series *s = NULL;
        double sec = usec / 1e6;
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n; i++)
                if (STREQ(m->s[i].route, route) && STREQ(m->s[i].method, method)) {
                        s = &m->s[i];
                        break;
                }
        if (!s) {
                m->s = xrealloc(m->s, sizeof(*m->s) * (m->n + 1));
                s = &m->s[m->n++];
                memset(s, 0, sizeof(*s));
                s->route = xstrdup(route);
                s->method = xstrdup(method);
        }
        s->count++;
        s->sum += sec;
        s->by_status[MIN(status / 100, 5u)]++;
        for (size_t b = 0; b < N_BUCKETS; b++)
                if (sec <= buckets[b])
                        s->bucket[b]++;
        pthread_mutex_unlock(&m->lock);
}

void sf_metrics_render(sf_metrics *m, FILE *buf)
{
        pthread_mutex_lock(&m->lock);
        fprintf(buf, "# HELP sf_http_requests_total HTTP requests by route, method and "
                          "status class.\n# TYPE sf_http_requests_total counter\n");
        for (size_t i = 0; i < m->n; i++)
                for (unsigned c = 1; c <= 5; c++)
                        if (m->s[i].by_status[c])
                                fprintf(buf,
                                             "sf_http_requests_total{route=\"%s\",method=\"%s\","
                                             "code=\"%uxx\"} %" PRIu64 "\n",
                                             m->s[i].route, m->s[i].method, c,
                                             m->s[i].by_status[c]);
        fprintf(buf, "# HELP sf_http_request_duration_seconds HTTP request latency.\n"
                          "# TYPE sf_http_request_duration_seconds histogram\n");
        for (size_t i = 0; i < m->n; i++) {
                struct series *s = &m->s[i];
                for (size_t b = 0; b < N_BUCKETS; b++)
                        fprintf(buf,
                                     "sf_http_request_duration_seconds_bucket{route=\"%s\","
                                     "method=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                                     s->route, s->method, buckets[b], s->bucket[b]);
                fprintf(buf,
                             "sf_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                             "le=\"+Inf\"} %" PRIu64 "\n"
                             "sf_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
                             "sf_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} "
                             "%" PRIu64 "\n",
                             s->route, s->method, s->count, s->route, s->method, s->sum, s->route,
                             s->method, s->count);
        }
        pthread_mutex_unlock(&m->lock);
}
