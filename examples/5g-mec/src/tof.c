/* tof: traffic offloading function of the 5G/MEC demonstrator. Sits on the UE's data path
 * after the EPC (its SGi next hop): each service has a port here, and every new TCP session to
 * it is relayed to the service's current target, the core instance or an edge (MEC) instance.
 * The target is switched at run time through an HTTP control API (by the MEO, or by hand);
 * sessions in progress keep their target until they end (drain). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfw.h"

#define MAX_SERVICES 8
#define MAX_TARGETS 32

struct target {
        char addr_s[64];
        sfw_relay_stats st;
};

struct service {
        char name[32];
        char listen_s[64];
        sfw_relay *relay;
        bool has_target;
        sfw_addr target;
        char target_s[64];
        struct target targets[MAX_TARGETS];
        size_t n_targets;
        uint64_t steers, no_target;
};

static struct service services[MAX_SERVICES];
static size_t n_services;
static sfw_http_server *ctl;
static sfw_timer report_timer, register_timer;
static unsigned report_s, register_ms;
static sfw_addr meo;
static bool have_meo, meo_ok;
static sfw_http_call *reg_call;
static const char *site;
static uint64_t meo_errors;
static uint16_t control_port;

static struct service *find_service(const char *name)
{
        for (size_t i = 0; i < n_services; i++)
                if (strcmp(services[i].name, name) == 0)
                        return &services[i];
        return NULL;
}

static struct target *target_stats(struct service *s, const char *addr_s)
{
        for (size_t i = 0; i < s->n_targets; i++)
                if (strcmp(s->targets[i].addr_s, addr_s) == 0)
                        return &s->targets[i];
        if (s->n_targets == MAX_TARGETS) {
                /* reuse an idle slot in place: sessions hold pointers to their slot */
                for (size_t i = 0; i < s->n_targets; i++)
                        if (s->targets[i].st.sessions_active == 0 &&
                            strcmp(s->targets[i].addr_s, s->target_s) != 0) {
                                memset(&s->targets[i], 0, sizeof(s->targets[i]));
                                snprintf(s->targets[i].addr_s, sizeof(s->targets[i].addr_s), "%s", addr_s);
                                return &s->targets[i];
                        }
                return NULL;
        }
        struct target *t = &s->targets[s->n_targets++];
        memset(t, 0, sizeof(*t));
        snprintf(t->addr_s, sizeof(t->addr_s), "%s", addr_s);
        return t;
}

static bool pick(sfw_relay *r, const sfw_relay_conn *c, sfw_addr *to, sfw_relay_stats **ts, void *ud)
{
        struct service *s = ud;
        struct target *t;
        (void) r;
        (void) c;
        if (!s->has_target) {
                if (!s->no_target++)
                        sfw_log("service '%s': no target yet, refusing sessions (counted in no_target)", s->name);
                return false;
        }
        *to = s->target;
        t = target_stats(s, s->target_s);
        *ts = t ? &t->st : NULL;
        return true;
}

/* "IP:PORT", or "none"/"" to clear. */
static int steer(struct service *s, const char *to, const char *by)
{
        sfw_addr a;
        if (!to || !*to || strcmp(to, "none") == 0) {
                if (s->has_target)
                        sfw_log("steer '%s': %s -> none (by %s)", s->name, s->target_s, by);
                s->has_target = false;
                s->target_s[0] = 0;
                s->steers++;
                return 0;
        }
        if (sfw_addr_parse(to, false, &a) < 0)
                return -1;
        if (s->has_target && strcmp(s->target_s, to) == 0)
                return 0;
        sfw_log("steer '%s': %s -> %s (by %s); sessions in progress stay where they are", s->name,
                s->has_target ? s->target_s : "none", to, by);
        s->target = a;
        snprintf(s->target_s, sizeof(s->target_s), "%s", to);
        s->has_target = true;
        s->steers++;
        target_stats(s, s->target_s);
        return 0;
}

static void service_json(sfw_buf *b, const struct service *s)
{
        sfw_buf_puts(b, "{\"name\": ");
        sfw_buf_json_str(b, s->name);
        sfw_buf_puts(b, ", \"listen\": ");
        sfw_buf_json_str(b, s->listen_s);
        sfw_buf_puts(b, ", \"target\": ");
        sfw_buf_json_str(b, s->has_target ? s->target_s : NULL);
        sfw_buf_printf(b, ", \"steers\": %llu, \"no_target\": %llu, ", (unsigned long long) s->steers,
                       (unsigned long long) s->no_target);
        sfw_relay_stats_json(b, sfw_relay_get_stats(s->relay));
        sfw_buf_puts(b, ", \"targets\": [");
        for (size_t i = 0; i < s->n_targets; i++) {
                sfw_buf_puts(b, i ? ", {\"address\": " : "{\"address\": ");
                sfw_buf_json_str(b, s->targets[i].addr_s);
                sfw_buf_puts(b, ", ");
                sfw_relay_stats_json(b, &s->targets[i].st);
                sfw_buf_puts(b, "}");
        }
        sfw_buf_puts(b, "]}");
}

static void counters_json(sfw_buf *b)
{
        sfw_buf_puts(b, "{");
        sfw_json_ident(b);
        sfw_buf_puts(b, "\"site\": ");
        sfw_buf_json_str(b, site);
        sfw_buf_printf(b, ", \"meo_registered\": %s, \"meo_errors\": %llu, \"services\": [",
                       meo_ok ? "true" : "false", (unsigned long long) meo_errors);
        for (size_t i = 0; i < n_services; i++) {
                if (i)
                        sfw_buf_puts(b, ", ");
                service_json(b, &services[i]);
        }
        sfw_buf_puts(b, "]}\n");
}

static void ctl_handler(const sfw_http_req *req, sfw_http_resp *resp, void *ud)
{
        (void) ud;
        if (strcmp(req->path, "/steer") == 0) {
                char svc[64], to[128], by[96];
                struct service *s;
                int r;
                if (strcmp(req->method, "POST") != 0)
                        return sfw_http_error(resp, 405, "POST {\"service\": NAME, \"to\": \"IP:PORT\"}");
                r = sfw_json_get(req->body, req->body_len, "service", svc, sizeof(svc));
                if (r <= 0)
                        return sfw_http_error(resp, 400, r < 0 ? "body is not a flat JSON object" : "missing \"service\"");
                r = sfw_json_get(req->body, req->body_len, "to", to, sizeof(to));
                if (r == 0)
                        r = sfw_json_get(req->body, req->body_len, "target", to, sizeof(to));
                if (r <= 0)
                        return sfw_http_error(resp, 400, "missing \"to\" (IP:PORT, or \"none\")");
                if (strcmp(to, "null") == 0)
                        to[0] = 0;
                s = find_service(svc);
                if (!s)
                        return sfw_http_error(resp, 404, "no such service");
                if (sfw_json_get(req->body, req->body_len, "by", by, sizeof(by)) <= 0)
                        snprintf(by, sizeof(by), "%s", req->peer);
                if (steer(s, to, by) < 0)
                        return sfw_http_error(resp, 400, "\"to\" must be a numeric IP:PORT or \"none\"");
                service_json(&resp->body, s);
                sfw_buf_puts(&resp->body, "\n");
                return;
        }
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
                return sfw_http_error(resp, 405, "only GET here");
        if (strcmp(req->path, "/counters") == 0 || strcmp(req->path, "/services") == 0 ||
            strcmp(req->path, "/") == 0)
                return counters_json(&resp->body);
        if (strcmp(req->path, "/healthz") == 0) {
                sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                return;
        }
        sfw_http_error(resp, 404, "no such path: GET /counters, POST /steer, GET /healthz");
}

static void report(sfw_timer *t)
{
        for (size_t i = 0; i < n_services; i++) {
                const struct service *s = &services[i];
                const sfw_relay_stats *st = sfw_relay_get_stats(s->relay);
                sfw_buf b = { 0 };
                for (size_t j = 0; j < s->n_targets; j++)
                        sfw_buf_printf(&b, "%s%s=%llu", j ? ", " : "", s->targets[j].addr_s,
                                       (unsigned long long) s->targets[j].st.sessions_total);
                sfw_log("counters: service '%s' -> %s: sessions %llu (%llu active), up %llu B, down %llu B, "
                        "no target %llu, connect failures %llu; sessions per target: %s",
                        s->name, s->has_target ? s->target_s : "none",
                        (unsigned long long) st->sessions_total, (unsigned long long) st->sessions_active,
                        (unsigned long long) st->bytes_up, (unsigned long long) st->bytes_down,
                        (unsigned long long) s->no_target, (unsigned long long) st->connect_failures,
                        b.p ? b.p : "none");
                sfw_buf_free(&b);
        }
        if (t && report_s)
                sfw_timer_arm(t, report_s * 1000ull);
}

static void reg_done(const sfw_http_result *r, void *ud)
{
        char rbuf[128];
        (void) ud;
        reg_call = NULL;
        if (r->err == SFW_HTTP_OK && r->status == 200) {
                if (!meo_ok)
                        sfw_log("registered with the MEO");
                meo_ok = true;
        } else {
                meo_errors++;
                if (meo_ok || meo_errors == 1)
                        sfw_log("MEO registration failed: %s", sfw_http_result_str(r, rbuf, sizeof(rbuf)));
                meo_ok = false;
        }
}

static void do_register(sfw_timer *t)
{
        sfw_buf body = { 0 };
        sfw_http_opts o = { .method = "POST", .path = "/register", .connect_timeout_ms = 1000,
                            .idle_timeout_ms = 1000, .total_timeout_ms = 2000 };
        sfw_timer_arm(t, register_ms);
        if (reg_call)
                return;
        sfw_buf_puts(&body, "{\"kind\": \"tof\", \"name\": ");
        sfw_buf_json_str(&body, sfw_hostname);
        sfw_buf_puts(&body, ", \"site\": ");
        sfw_buf_json_str(&body, site);
        sfw_buf_printf(&body, ", \"control_port\": %u, \"services\": \"", control_port);
        for (size_t i = 0; i < n_services; i++)
                sfw_buf_printf(&body, "%s%s=%s", i ? " " : "", services[i].name,
                               services[i].has_target ? services[i].target_s : "none");
        sfw_buf_puts(&body, "\"}");
        o.body = body.p;
        o.body_len = body.len;
        reg_call = sfw_http_request(&meo, &o, reg_done, NULL);
        sfw_buf_free(&body);
}

static void on_stop(void)
{
        sfw_loop_quit();
}

int main(int argc, char **argv)
{
        static sfw_opt opts[] = {
                { "service", "NAME:PORT[=IP:PORT]", "a steered service: its port here and its initial target", NULL, SFW_OPT_MULTI, NULL, 0, 0 },
                { "listen-ip", "IP", "address the service ports listen on", "0.0.0.0", 0, NULL, 0, 0 },
                { "status", "IP:PORT", "control API: GET /counters, POST /steer, GET /healthz", "0.0.0.0:9090", 0, NULL, 0, 0 },
                { "meo", "IP:PORT", "register with this MEO (which then steers this TOF)", NULL, 0, NULL, 0, 0 },
                { "site", "SITE", "the site this TOF serves, told to the MEO", "edge", 0, NULL, 0, 0 },
                { "register-interval", "MS", "MEO registration heartbeat", "1000", 0, NULL, 0, 0 },
                { "connect-timeout", "MS", "connect timeout toward a target", "2000", 0, NULL, 0, 0 },
                { "idle-timeout", "MS", "reset a session idle this long (0: never)", "60000", 0, NULL, 0, 0 },
                { "report-interval", "SECONDS", "print the counters this often (0: never)", "10", 0, NULL, 0, 0 },
                { "log-sessions", NULL, "log each session's start and end (--log-sessions=0 to stop)", "1", SFW_OPT_BOOL, NULL, 0, 0 },
                { NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
        };
        const sfw_opt *so;
        sfw_addr tmp;
        bool log_sessions;
        unsigned cto, ito;
        const char *lip;

        sfw_prog = "tof";
        sfw_role = "TOF (traffic offloading function)";
        sfw_options_parse(argc, argv, opts,
                          "TOF (traffic offloading function) of the 5G/MEC demonstrator, at the Edge.\n"
                          "The EPC's SGi next hop: every service has a TCP port here; each new session\n"
                          "to it is relayed to the service's current target (the core instance, or a MEC\n"
                          "instance at the edge). The target changes at run time through the control API\n"
                          "(POST /steer, by the MEO or by hand); sessions in progress finish on their old\n"
                          "target (drain). Counts sessions and bytes per service and per target.",
                          "Control API (on --status):\n"
                          "  POST /steer {\"service\": \"video\", \"to\": \"10.0.5.3:8080\"}   (\"none\" clears)\n"
                          "  GET  /counters   services, current targets, per-target counters\n"
                          "With --meo, the TOF registers every --register-interval (its site, control\n"
                          "port and current targets) and the MEO steers it.\n"
                          "Example: tof --service video:8080=10.61.5.10:8080 --meo 10.61.5.2:9090 --site edge\n");
        so = sfw_opt_find(opts, "service");
        if (!so->n)
                sfw_usage_die("service", "at least one is required (NAME:PORT[=IP:PORT])");
        site = sfw_opt_str(opts, "site");
        report_s = (unsigned) sfw_opt_int(opts, "report-interval", 0, 86400);
        register_ms = (unsigned) sfw_opt_int(opts, "register-interval", 100, 600000);
        cto = (unsigned) sfw_opt_int(opts, "connect-timeout", 1, 600000);
        ito = (unsigned) sfw_opt_int(opts, "idle-timeout", 0, 86400000);
        log_sessions = sfw_opt_bool(opts, "log-sessions");
        lip = sfw_opt_str(opts, "listen-ip");
        if (sfw_opt_str(opts, "meo")) {
                if (sfw_addr_parse(sfw_opt_str(opts, "meo"), false, &meo) < 0)
                        sfw_usage_die("meo", "'%s' is not a numeric IP:PORT", sfw_opt_str(opts, "meo"));
                have_meo = true;
        }
        if (sfw_addr_parse(sfw_opt_str(opts, "status"), true, &tmp) < 0)
                sfw_usage_die("status", "'%s' is not IP:PORT", sfw_opt_str(opts, "status"));
        control_port = sfw_addr_port((struct sockaddr *) &tmp.ss);

        sfw_loop_init();
        for (size_t i = 0; i < so->n; i++) {
                const char *spec = so->vals[i], *colon = strchr(spec, ':'), *eq = strchr(spec, '=');
                struct service *s;
                char port[16];
                sfw_relay_cfg rc;
                if (n_services == MAX_SERVICES)
                        sfw_usage_die("service", "at most %d services", MAX_SERVICES);
                if (!colon || colon == spec || (size_t) (colon - spec) >= sizeof(s->name) ||
                    (eq && eq < colon))
                        sfw_usage_die("service", "'%s' is not NAME:PORT[=IP:PORT]", spec);
                s = &services[n_services];
                memcpy(s->name, spec, (size_t) (colon - spec));
                if (find_service(s->name))
                        sfw_usage_die("service", "'%s' given twice", s->name);
                snprintf(port, sizeof(port), "%.*s", (int) (eq ? eq - colon - 1 : (long) strlen(colon + 1)), colon + 1);
                if (lip[0] != '[' && strchr(lip, ':'))
                        snprintf(s->listen_s, sizeof(s->listen_s), "[%s]:%s", lip, port);
                else
                        snprintf(s->listen_s, sizeof(s->listen_s), "%s:%s", lip, port);
                if (sfw_addr_parse(s->listen_s, false, &tmp) < 0)
                        sfw_usage_die("service", "'%s': bad port", spec);
                if (eq && steer(s, eq + 1, "command line") < 0)
                        sfw_usage_die("service", "'%s': the target must be a numeric IP:PORT", spec);
                s->steers = 0;
                memset(&rc, 0, sizeof(rc));
                rc.name = s->name;
                rc.listen = s->listen_s;
                rc.pick = pick;
                rc.pick_ud = s;
                rc.connect_timeout_ms = cto;
                rc.idle_timeout_ms = ito;
                rc.log_sessions = log_sessions;
                s->relay = sfw_relay_start(&rc);
                if (!s->relay)
                        return 1;
                n_services++;
                sfw_log("service '%s' on %s -> %s", s->name, s->listen_s, s->has_target ? s->target_s : "none yet");
        }
        ctl = sfw_http_listen("control", sfw_opt_str(opts, "status"), ctl_handler, NULL);
        if (!ctl)
                return 1;
        sfw_log("%s at site '%s': control API on %s%s%s", sfw_role, site, sfw_opt_str(opts, "status"),
                have_meo ? ", registering with the MEO at " : "", have_meo ? sfw_opt_str(opts, "meo") : "");
        sfw_on_stop = on_stop;
        sfw_timer_init(&report_timer, report, NULL);
        if (report_s)
                sfw_timer_arm(&report_timer, report_s * 1000ull);
        sfw_timer_init(&register_timer, do_register, NULL);
        if (have_meo)
                sfw_timer_arm(&register_timer, 0);
        sfw_loop_run();
        report(NULL);
        sfw_http_cancel(reg_call);
        for (size_t i = 0; i < n_services; i++)
                sfw_relay_free(services[i].relay);
        sfw_http_free(ctl);
        sfw_loop_finish();
        sfw_options_free(opts);
        sfw_log("stopped");
        return 0;
}
