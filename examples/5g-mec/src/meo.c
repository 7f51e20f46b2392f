/* meo: MEC orchestrator stand-in of the 5G/MEC demonstrator, at the Core. Keeps a registry of
 * MEC application instances (which register themselves with a heartbeat) and of TOFs, decides
 * for every TOF and service which instance gets the traffic (an instance at the TOF's own site
 * first, else any; a manual pin overrides), and tells the TOFs through their control API
 * (POST /steer). Level-triggered: it compares its decision with what each TOF reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfw.h"

#define MAX_APPS 64
#define MAX_TOFS 16
#define MAX_SVC 8
#define MAX_PINS 16

struct app {
        bool used;
        char service[32], name[64], site[32], address[64];
        uint64_t seq, last_seen_us;
};

struct tof;
struct tof_svc {
        struct tof *owner;
        char name[32];
        char reported[64]; /* the TOF's current target, "" when none */
        sfw_http_call *push;
        char pushing[64];
        bool failure_logged;
};

struct tof {
        bool used;
        char name[64], site[32], control[64];
        sfw_addr control_addr;
        uint64_t last_seen_us;
        struct tof_svc svc[MAX_SVC];
        size_t n_svc;
};

struct pin {
        char service[32], target[64];
};

static struct app apps[MAX_APPS];
static struct tof tofs[MAX_TOFS];
static struct pin pins[MAX_PINS];
static size_t n_pins;
static uint64_t seq;
static unsigned ttl_ms, report_s;
static bool prefer_local;
static sfw_http_server *api;
static sfw_timer reconcile_timer, report_timer;
static uint64_t registrations, deregistrations, expirations, steers_pushed, push_failures;

static const char *pin_of(const char *service)
{
        for (size_t i = 0; i < n_pins; i++)
                if (strcmp(pins[i].service, service) == 0)
                        return pins[i].target;
        return NULL;
}

static bool live(const struct app *a) { return a->used && sfw_now_us() - a->last_seen_us < ttl_ms * 1000ull; }

/* The instance a TOF at site should send service's traffic to, or NULL (no opinion). */
static const char *choose(const struct tof *t, const struct tof_svc *ts)
{
        const char *p = pin_of(ts->name);
        const struct app *best = NULL;
        bool have_local = false;
        if (p)
                return p;
        for (size_t i = 0; i < MAX_APPS; i++)
                if (live(&apps[i]) && strcmp(apps[i].service, ts->name) == 0 && strcmp(apps[i].site, t->site) == 0)
                        have_local = true;
        for (size_t i = 0; i < MAX_APPS; i++) {
                const struct app *a = &apps[i];
                if (!live(a) || strcmp(a->service, ts->name) != 0)
                        continue;
                if (prefer_local && have_local && strcmp(a->site, t->site) != 0)
                        continue;
                if (strcmp(a->address, ts->reported) == 0)
                        return a->address; /* keep the current one while it qualifies */
                if (!best || a->seq > best->seq)
                        best = a; /* else the newest */
        }
        return best ? best->address : NULL;
}

static void reconcile(void);

static void push_done(const sfw_http_result *r, void *ud)
{
        struct tof_svc *ts = ud;
        struct tof *t = ts->owner;
        char rbuf[128];
        ts->push = NULL;
        if (r->err == SFW_HTTP_OK && r->status == 200) {
                sfw_log("TOF '%s' (site '%s'): '%s' now -> %s", t->name, t->site, ts->name, ts->pushing);
                snprintf(ts->reported, sizeof(ts->reported), "%s", ts->pushing);
                steers_pushed++;
                ts->failure_logged = false;
        } else {
                push_failures++;
                if (ts->failure_logged)
                        return;
                ts->failure_logged = true;
                sfw_log("TOF '%s': steering '%s' to %s failed: %s", t->name, ts->name, ts->pushing,
                        sfw_http_result_str(r, rbuf, sizeof(rbuf)));
                sfw_log("(further failures of this push are not logged)");
        }
}

static void reconcile(void)
{
        uint64_t now = sfw_now_us();
        for (size_t i = 0; i < MAX_APPS; i++)
                if (apps[i].used && now - apps[i].last_seen_us >= ttl_ms * 1000ull) {
                        sfw_log("app instance '%s' (%s, site '%s') expired", apps[i].name, apps[i].address, apps[i].site);
                        apps[i].used = false;
                        expirations++;
                }
        for (size_t i = 0; i < MAX_TOFS; i++) {
                struct tof *t = &tofs[i];
                if (!t->used)
                        continue;
                if (now - t->last_seen_us >= ttl_ms * 1000ull) {
                        bool busy = false;
                        for (size_t k = 0; k < t->n_svc; k++)
                                busy |= t->svc[k].push != NULL;
                        if (!busy) {
                                sfw_log("TOF '%s' (%s) expired", t->name, t->control);
                                t->used = false;
                                expirations++;
                        }
                        continue;
                }
                for (size_t k = 0; k < t->n_svc; k++) {
                        struct tof_svc *ts = &t->svc[k];
                        const char *want = choose(t, ts);
                        sfw_buf body = { 0 };
                        sfw_http_opts o = { .method = "POST", .path = "/steer", .connect_timeout_ms = 1000,
                                            .idle_timeout_ms = 1000, .total_timeout_ms = 2000 };
                        if (!want || ts->push || strcmp(want, ts->reported) == 0)
                                continue;
                        if (strcmp(ts->pushing, want) != 0)
                                ts->failure_logged = false;
                        snprintf(ts->pushing, sizeof(ts->pushing), "%s", want);
                        sfw_buf_puts(&body, "{\"service\": ");
                        sfw_buf_json_str(&body, ts->name);
                        sfw_buf_puts(&body, ", \"to\": ");
                        sfw_buf_json_str(&body, want);
                        sfw_buf_puts(&body, ", \"by\": \"meo\"}");
                        o.body = body.p;
                        o.body_len = body.len;
                        ts->push = sfw_http_request(&t->control_addr, &o, push_done, ts);
                        sfw_buf_free(&body);
                }
        }
}

static void reconcile_tick(sfw_timer *t)
{
        reconcile();
        sfw_timer_arm(t, 250);
}

/* ---- API ---- */

static void apps_json(sfw_buf *b)
{
        bool first = true;
        sfw_buf_puts(b, "[");
        for (size_t i = 0; i < MAX_APPS; i++) {
                const struct app *a = &apps[i];
                if (!a->used)
                        continue;
                sfw_buf_puts(b, first ? "{\"service\": " : ", {\"service\": ");
                first = false;
                sfw_buf_json_str(b, a->service);
                sfw_buf_puts(b, ", \"name\": ");
                sfw_buf_json_str(b, a->name);
                sfw_buf_puts(b, ", \"site\": ");
                sfw_buf_json_str(b, a->site);
                sfw_buf_puts(b, ", \"address\": ");
                sfw_buf_json_str(b, a->address);
                sfw_buf_printf(b, ", \"live\": %s, \"age_ms\": %llu}", live(a) ? "true" : "false",
                               (unsigned long long) ((sfw_now_us() - a->last_seen_us) / 1000));
        }
        sfw_buf_puts(b, "]");
}

static void tofs_json(sfw_buf *b)
{
        bool first = true;
        sfw_buf_puts(b, "[");
        for (size_t i = 0; i < MAX_TOFS; i++) {
                const struct tof *t = &tofs[i];
                if (!t->used)
                        continue;
                sfw_buf_puts(b, first ? "{\"name\": " : ", {\"name\": ");
                first = false;
                sfw_buf_json_str(b, t->name);
                sfw_buf_puts(b, ", \"site\": ");
                sfw_buf_json_str(b, t->site);
                sfw_buf_puts(b, ", \"control\": ");
                sfw_buf_json_str(b, t->control);
                sfw_buf_puts(b, ", \"services\": {");
                for (size_t k = 0; k < t->n_svc; k++) {
                        const char *want = choose(t, &t->svc[k]);
                        if (k)
                                sfw_buf_puts(b, ", ");
                        sfw_buf_json_str(b, t->svc[k].name);
                        sfw_buf_puts(b, ": {\"current\": ");
                        sfw_buf_json_str(b, t->svc[k].reported[0] ? t->svc[k].reported : NULL);
                        sfw_buf_puts(b, ", \"wanted\": ");
                        sfw_buf_json_str(b, want);
                        sfw_buf_puts(b, "}");
                }
                sfw_buf_puts(b, "}}");
        }
        sfw_buf_puts(b, "]");
}

static void counters_json(sfw_buf *b)
{
        sfw_buf_puts(b, "{");
        sfw_json_ident(b);
        sfw_buf_printf(b,
                       "\"registrations\": %llu, \"deregistrations\": %llu, \"expirations\": %llu, "
                       "\"steers_pushed\": %llu, \"push_failures\": %llu, \"apps\": ",
                       (unsigned long long) registrations, (unsigned long long) deregistrations,
                       (unsigned long long) expirations, (unsigned long long) steers_pushed,
                       (unsigned long long) push_failures);
        apps_json(b);
        sfw_buf_puts(b, ", \"tofs\": ");
        tofs_json(b);
        sfw_buf_puts(b, ", \"pins\": {");
        for (size_t i = 0; i < n_pins; i++) {
                if (i)
                        sfw_buf_puts(b, ", ");
                sfw_buf_json_str(b, pins[i].service);
                sfw_buf_puts(b, ": ");
                sfw_buf_json_str(b, pins[i].target);
        }
        sfw_buf_puts(b, "}}\n");
}

/* The peer's IP with the given port. */
static void peer_with_port(const char *peer, const char *port, char *out, size_t size)
{
        const char *colon = strrchr(peer, ':');
        snprintf(out, size, "%.*s:%s", (int) (colon ? colon - peer : (long) strlen(peer)), peer, port);
}

static int get(const sfw_http_req *req, const char *key, char *out, size_t size)
{
        return sfw_json_get(req->body, req->body_len, key, out, size);
}

static void handle_register(const sfw_http_req *req, sfw_http_resp *resp, bool dereg)
{
        char kind[16], name[64] = "", site[32] = "", port[16] = "", address[64] = "", service[32] = "";
        sfw_addr tmp;
        if (get(req, "kind", kind, sizeof(kind)) <= 0)
                return sfw_http_error(resp, 400, "missing \"kind\" (\"app\" or \"tof\"), or the body is not a flat JSON object");
        get(req, "name", name, sizeof(name));
        get(req, "site", site, sizeof(site));
        if (strcmp(kind, "app") == 0) {
                struct app *a = NULL, *fresh = NULL;
                if (get(req, "service", service, sizeof(service)) <= 0 || !*service)
                        return sfw_http_error(resp, 400, "missing \"service\"");
                if (get(req, "address", address, sizeof(address)) <= 0) {
                        if (get(req, "port", port, sizeof(port)) <= 0)
                                return sfw_http_error(resp, 400, "missing \"port\" or \"address\"");
                        peer_with_port(req->peer, port, address, sizeof(address));
                }
                if (sfw_addr_parse(address, false, &tmp) < 0)
                        return sfw_http_error(resp, 400, "\"address\" must be a numeric IP:PORT");
                for (size_t i = 0; i < MAX_APPS; i++) {
                        if (apps[i].used && strcmp(apps[i].address, address) == 0 &&
                            strcmp(apps[i].service, service) == 0)
                                a = &apps[i];
                        else if (!apps[i].used && !fresh)
                                fresh = &apps[i];
                }
                if (dereg) {
                        if (a) {
                                sfw_log("app instance '%s' (%s, site '%s') deregistered", a->name, a->address, a->site);
                                a->used = false;
                                deregistrations++;
                        }
                } else {
                        if (!a) {
                                if (!fresh)
                                        return sfw_http_error(resp, 503, "registry full");
                                a = fresh;
                                memset(a, 0, sizeof(*a));
                                a->used = true;
                                a->seq = ++seq;
                                snprintf(a->service, sizeof(a->service), "%s", service);
                                snprintf(a->address, sizeof(a->address), "%s", address);
                                registrations++;
                                sfw_log("app instance '%s' of '%s' registered: %s at site '%s'", name, service,
                                        address, site);
                        }
                        snprintf(a->name, sizeof(a->name), "%s", name);
                        snprintf(a->site, sizeof(a->site), "%s", site);
                        a->last_seen_us = sfw_now_us();
                }
                reconcile();
                sfw_buf_printf(&resp->body, "{\"ok\": true, \"address\": \"%s\"}\n", address);
                return;
        }
        if (strcmp(kind, "tof") == 0) {
                char svcs[512] = "", *save = NULL;
                struct tof *t = NULL, *fresh = NULL;
                if (get(req, "control_port", port, sizeof(port)) <= 0)
                        return sfw_http_error(resp, 400, "missing \"control_port\"");
                peer_with_port(req->peer, port, address, sizeof(address));
                get(req, "control", address, sizeof(address));
                if (sfw_addr_parse(address, false, &tmp) < 0)
                        return sfw_http_error(resp, 400, "bad control address");
                for (size_t i = 0; i < MAX_TOFS; i++) {
                        if (tofs[i].used && strcmp(tofs[i].control, address) == 0)
                                t = &tofs[i];
                        else if (!tofs[i].used && !fresh)
                                fresh = &tofs[i];
                }
                if (dereg) {
                        if (t && !t->n_svc)
                                t->used = false;
                        sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                        return;
                }
                if (!t) {
                        if (!fresh)
                                return sfw_http_error(resp, 503, "registry full");
                        t = fresh;
                        memset(t, 0, sizeof(*t));
                        t->used = true;
                        snprintf(t->control, sizeof(t->control), "%s", address);
                        t->control_addr = tmp;
                        registrations++;
                        sfw_log("TOF '%s' registered: control %s, site '%s'", name, address, site);
                }
                snprintf(t->name, sizeof(t->name), "%s", name);
                snprintf(t->site, sizeof(t->site), "%s", site);
                t->last_seen_us = sfw_now_us();
                /* "services": "video=10.0.0.5:8080 other=none" */
                get(req, "services", svcs, sizeof(svcs));
                for (char *tok = strtok_r(svcs, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                        char *eq = strchr(tok, '=');
                        struct tof_svc *ts = NULL;
                        sfw_addr ta;
                        if (!eq || eq == tok || (strcmp(eq + 1, "none") != 0 && sfw_addr_parse(eq + 1, false, &ta) < 0))
                                continue; /* not NAME=IP:PORT or NAME=none: ignored */
                        *eq = 0;
                        for (size_t k = 0; k < t->n_svc; k++)
                                if (strcmp(t->svc[k].name, tok) == 0)
                                        ts = &t->svc[k];
                        if (!ts) {
                                if (t->n_svc == MAX_SVC || strlen(tok) >= sizeof(ts->name))
                                        continue;
                                ts = &t->svc[t->n_svc++];
                                memset(ts, 0, sizeof(*ts));
                                ts->owner = t;
                                snprintf(ts->name, sizeof(ts->name), "%s", tok);
                        }
                        if (!ts->push) /* a report sent before our push landed must not undo it */
                                snprintf(ts->reported, sizeof(ts->reported), "%s",
                                         strcmp(eq + 1, "none") == 0 ? "" : eq + 1);
                }
                reconcile();
                sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                return;
        }
        sfw_http_error(resp, 400, "\"kind\" must be \"app\" or \"tof\"");
}

static void handle_steer(const sfw_http_req *req, sfw_http_resp *resp)
{
        char service[32], to[64];
        sfw_addr tmp;
        size_t i;
        if (get(req, "service", service, sizeof(service)) <= 0 || !*service)
                return sfw_http_error(resp, 400, "missing \"service\"");
        if (get(req, "to", to, sizeof(to)) <= 0 && get(req, "target", to, sizeof(to)) <= 0)
                return sfw_http_error(resp, 400, "missing \"to\": IP:PORT, or \"auto\" to let the MEO choose");
        for (i = 0; i < n_pins && strcmp(pins[i].service, service) != 0; i++)
                ;
        if (strcmp(to, "auto") == 0) {
                if (i < n_pins) {
                        pins[i] = pins[--n_pins];
                        sfw_log("'%s': back to automatic steering", service);
                }
        } else {
                if (sfw_addr_parse(to, false, &tmp) < 0)
                        return sfw_http_error(resp, 400, "\"to\" must be a numeric IP:PORT or \"auto\"");
                if (i == n_pins) {
                        if (n_pins == MAX_PINS)
                                return sfw_http_error(resp, 503, "too many pins");
                        n_pins++;
                }
                snprintf(pins[i].service, sizeof(pins[i].service), "%s", service);
                snprintf(pins[i].target, sizeof(pins[i].target), "%s", to);
                sfw_log("'%s' pinned to %s by %s", service, to, req->peer);
        }
        reconcile();
        sfw_buf_printf(&resp->body, "{\"ok\": true, \"service\": ");
        sfw_buf_json_str(&resp->body, service);
        sfw_buf_puts(&resp->body, ", \"to\": ");
        sfw_buf_json_str(&resp->body, to);
        sfw_buf_puts(&resp->body, "}\n");
}

static void api_handler(const sfw_http_req *req, sfw_http_resp *resp, void *ud)
{
        (void) ud;
        if (strcmp(req->method, "POST") == 0) {
                if (strcmp(req->path, "/register") == 0)
                        return handle_register(req, resp, false);
                if (strcmp(req->path, "/deregister") == 0)
                        return handle_register(req, resp, true);
                if (strcmp(req->path, "/steer") == 0)
                        return handle_steer(req, resp);
                return sfw_http_error(resp, 404, "POST /register, /deregister or /steer");
        }
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
                return sfw_http_error(resp, 405, "GET or POST");
        if (strcmp(req->path, "/counters") == 0 || strcmp(req->path, "/") == 0)
                return counters_json(&resp->body);
        if (strcmp(req->path, "/apps") == 0) {
                apps_json(&resp->body);
                sfw_buf_puts(&resp->body, "\n");
                return;
        }
        if (strcmp(req->path, "/tofs") == 0) {
                tofs_json(&resp->body);
                sfw_buf_puts(&resp->body, "\n");
                return;
        }
        if (strcmp(req->path, "/healthz") == 0) {
                sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                return;
        }
        sfw_http_error(resp, 404, "GET /counters, /apps, /tofs, /healthz");
}

static void report(sfw_timer *t)
{
        size_t na = 0, nt = 0;
        for (size_t i = 0; i < MAX_APPS; i++)
                na += live(&apps[i]);
        for (size_t i = 0; i < MAX_TOFS; i++)
                nt += tofs[i].used;
        sfw_log("counters: %zu live app instance(s), %zu TOF(s), steers pushed %llu, push failures %llu",
                na, nt, (unsigned long long) steers_pushed, (unsigned long long) push_failures);
        if (t && report_s)
                sfw_timer_arm(t, report_s * 1000ull);
}

int main(int argc, char **argv)
{
        static sfw_opt opts[] = {
                { "listen", "IP:PORT", "the MEO API (and status): POST /register, /deregister, /steer; GET /counters", "0.0.0.0:9090", 0, NULL, 0, 0 },
                { "ttl", "MS", "an instance or TOF not heard from this long is dropped", "4000", 0, NULL, 0, 0 },
                { "prefer-local", NULL, "steer a TOF to an instance at its own site when there is one (--prefer-local=0: newest anywhere)", "1", SFW_OPT_BOOL, NULL, 0, 0 },
                { "report-interval", "SECONDS", "print the counters this often (0: never)", "10", 0, NULL, 0, 0 },
                { NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
        };
        sfw_prog = "meo";
        sfw_role = "MEO stand-in (MEC orchestrator)";
        sfw_options_parse(argc, argv, opts,
                          "MEO stand-in (MEC orchestrator) of the 5G/MEC demonstrator, at the Core.\n"
                          "Keeps a registry of MEC application instances and TOFs (both register with a\n"
                          "heartbeat), chooses for every TOF and service where the traffic goes (an\n"
                          "instance at the TOF's own site first, else any; a manual pin overrides), and\n"
                          "steers the TOFs through their control API (POST /steer).",
                          "API (on --listen):\n"
                          "  POST /register   {\"kind\": \"app\", \"service\": \"video\", \"name\": N, \"site\": S, \"port\": 8080}\n"
                          "                   (the address is the caller's IP and port, or \"address\": \"IP:PORT\")\n"
                          "                   {\"kind\": \"tof\", \"name\": N, \"site\": S, \"control_port\": 9090,\n"
                          "                    \"services\": \"video=IP:PORT other=none\"}\n"
                          "  POST /deregister the same body: the instance is forgotten at once\n"
                          "  POST /steer      {\"service\": \"video\", \"to\": \"IP:PORT\"} pins; \"to\": \"auto\" unpins\n"
                          "  GET  /counters   registry, TOFs with current and wanted targets, pins; also /apps, /tofs\n"
                          "Choice per TOF and service: the pin if any; else among live instances, those at the\n"
                          "TOF's site if there are any; the TOF's current target if it is among them, else the\n"
                          "most recently registered. Example: meo --listen 0.0.0.0:9090\n");
        ttl_ms = (unsigned) sfw_opt_int(opts, "ttl", 100, 3600000);
        prefer_local = sfw_opt_bool(opts, "prefer-local");
        report_s = (unsigned) sfw_opt_int(opts, "report-interval", 0, 86400);
        sfw_loop_init();
        api = sfw_http_listen("api", sfw_opt_str(opts, "listen"), api_handler, NULL);
        if (!api)
                return 1;
        sfw_log("%s: API on %s", sfw_role, sfw_opt_str(opts, "listen"));
        sfw_timer_init(&reconcile_timer, reconcile_tick, NULL);
        sfw_timer_arm(&reconcile_timer, 250);
        sfw_timer_init(&report_timer, report, NULL);
        if (report_s)
                sfw_timer_arm(&report_timer, report_s * 1000ull);
        sfw_loop_run();
        report(NULL);
        for (size_t i = 0; i < MAX_TOFS; i++)
                for (size_t k = 0; k < tofs[i].n_svc; k++)
                        if (tofs[i].svc[k].push) {
                                sfw_http_cancel(tofs[i].svc[k].push);
                                tofs[i].svc[k].push = NULL;
                        }
        sfw_http_free(api);
        sfw_loop_finish();
        sfw_options_free(opts);
        sfw_log("stopped");
        return 0;
}
