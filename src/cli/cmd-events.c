/* sfctl events: print changes after a revision, once or continuously (--watch). */
#include <inttypes.h>

#include "cli/sfctl.h"

static int events_run(struct sfctl *c, const struct verb *v, struct args *a)
{
        _cleanup_err_ sf_err e = SF_ERR_INIT;
        const char *since_s = args_get(a, "since"), *kinds = args_get(a, "kinds");
        bool watch = args_has(a, "watch");
        int64_t since = 0;
        char *end;

        if (since_s) {
                errno = 0;
                since = strtoll(since_s, &end, 10);
                if (!*since_s || *end || errno || since < 0)
                        return usage_error("events", "--since: '%s' is not a revision", since_s),
                               EXIT_USAGE;
        } else {
                json_auto_t *h = NULL;
                if (sf_httpc_call(c->http, "GET", "/healthz", NULL, &h, &e) < 0)
                        return fail(&e);
                since = watch ? json_integer_value(json_object_get(h, "revision")) : 0;
        }
        sf_httpc_set_timeout(c->http, 0);
        for (;;) {
                _cleanup_free_ char *ek = kinds ? sf_httpc_escape(kinds) : NULL;
                _cleanup_free_ char *path = xasprintf(
                        "/v1/events?since=%" PRId64 "&timeout=%d%s%s", since, watch ? 60 : 0,
                        ek ? "&kinds=" : "", ek ? ek : "");
                json_auto_t *out = NULL;
                json_t *ev;
                size_t i;

                if (sf_httpc_call(c->http, "GET", path, NULL, &out, &e) < 0)
                        return fail(&e);
                json_array_foreach(json_object_get(out, "events"), i, ev) {
                        if (c->json) {
                                char *s = json_dumps(ev, JSON_COMPACT);
                                puts(s);
                                free(s);
                        } else
                                printf("%-8" JSON_INTEGER_FORMAT " %-8s %-10s %s\n",
                                       json_integer_value(json_object_get(ev, "revision")),
                                       json_string_value(json_object_get(ev, "type")),
                                       json_string_value(json_object_get(ev, "kind")),
                                       json_string_value(json_object_get(
                                               json_object_get(ev, "object"), "name")));
                }
                fflush(stdout);
                if (json_integer_value(json_object_get(out, "revision")) > since)
                        since = json_integer_value(json_object_get(out, "revision"));
                else if (!watch)
                        break;
                if (!watch && json_array_size(json_object_get(out, "events")) == 0)
                        break;
        }
        return EXIT_OK;
}

static const struct opt events_opts[] = {
        { "since", "REVISION", "changes after this revision (default: all kept, or now with --watch)" },
        { "kinds", "KIND[,KIND...]", "only these kinds, e.g. port,network" },
        { "watch", NULL, "keep waiting for new changes" },
        { NULL },
};

const struct resource res_events = {
        "events", "the change log: every write, by revision",
        (const struct verb[]) {
                { "list", "[--since REV] [--kinds K] [--watch]", "print changes", events_opts,
                  events_run, NULL },
                { NULL },
        },
};
