/* Request metrics per route and method: counts by status class and a latency histogram,
 * exposed in the Prometheus text format. */
#pragma once

#include "lib/macro.h"

typedef struct sf_metrics sf_metrics;

sf_metrics *sf_metrics_new(void);
void sf_metrics_free(sf_metrics *m);
void sf_metrics_observe(sf_metrics *m, const char *route, const char *method, unsigned status,
                        uint64_t usec);
/* Writes the request metrics to out. */
void sf_metrics_render(sf_metrics *m, FILE *out);
