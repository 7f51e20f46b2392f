/* The REST API v1: routes /v1/<kind plural>[/<ref>[/<action>]] onto the kinds registered by
 * the VIM, VNFM and NFVO layers, plus /v1/events (long-poll watch), /healthz and /metrics. */
#pragma once

#include "api/http.h"
#include "store/kind.h"

typedef struct sf_api sf_api;

/* store may be NULL (an agent-only daemon): then only /healthz, /metrics and added routes. */
int sf_api_new(sf_store *store, sf_api **ret, sf_err *e);
void sf_api_free(sf_api *api);
/* Registers a NULL-terminated table of kinds; the tables must outlive the API. */
void sf_api_add_kinds(sf_api *api, struct sf_kind *const *kinds);

/* Extra routes outside the kind tables (e.g. agent-side endpoints). A route matches when the
 * method matches and the path has the same number of segments with equal literals; a "*"
 * segment matches anything. */
typedef void (*sf_api_route_fn)(void *userdata, sf_http_req *req, sf_http_resp *resp);
void sf_api_add_route(sf_api *api, const char *method, const char *pattern, sf_api_route_fn fn,
                      void *userdata);

/* A function that appends more Prometheus metrics to /metrics (e.g. port pools); up to four,
 * rendered in the order they were added. */
void sf_api_add_metrics(sf_api *api, void (*fn)(void *userdata, FILE *out), void *userdata);

/* The sf_http_options handler and observe callbacks, with the sf_api as userdata. */
void sf_api_handle(void *api, sf_http_req *req, sf_http_resp *resp);
void sf_api_observe(void *api, const char *route, const char *method, unsigned status,
                    uint64_t usec);

/* Sets the route label for metrics. */
void sf_api_set_route(sf_http_resp *resp, const char *fmt, ...) _printf_(2, 3);
