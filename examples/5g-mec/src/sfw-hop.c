/* sfw-hop: the main program shared by the radio and core stand-ins (rrh, bbu, epc): one relay
 * from a downstream link to an upstream peer, a status endpoint and a periodic counters line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfw-hop.h"

static const struct sfw_hop_desc *hop;
static sfw_relay *relay;
static sfw_http_server *status_srv;
static sfw_timer report_timer;
static unsigned report_s;
static char listen_s[64], upstream_s[64];

static void counters_json(sfw_buf *b)
{
        sfw_buf_puts(b, "{");
        sfw_json_ident(b);
        sfw_buf_puts(b, "\"listen\": ");
        sfw_buf_json_str(b, listen_s);
        sfw_buf_puts(b, ", \"upstream\": ");
        sfw_buf_json_str(b, upstream_s);
        sfw_buf_printf(b, ", \"downstream_link\": \"%s\", \"upstream_link\": \"%s\", "
                          "\"downstream_framing\": \"%s\", \"upstream_framing\": \"%s\", ",
                       hop->down_link, hop->up_link, hop->down_framed ? "gtpu" : "plain",
                       hop->up_framed ? "gtpu" : "plain");
        sfw_relay_stats_json(b, sfw_relay_get_stats(relay));
        sfw_buf_puts(b, "}\n");
}

static void status_handler(const sfw_http_req *req, sfw_http_resp *resp, void *ud)
{
        (void) ud;
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
                return sfw_http_error(resp, 405, "only GET");
        if (strcmp(req->path, "/counters") == 0 || strcmp(req->path, "/") == 0)
                return counters_json(&resp->body);
        if (strcmp(req->path, "/healthz") == 0) {
                sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                return;
        }
        sfw_http_error(resp, 404, "no such path: try /counters or /healthz");
}

static void report(sfw_timer *t)
{
        const sfw_relay_stats *s = sfw_relay_get_stats(relay);
        sfw_log("counters: sessions %llu (%llu active), up %llu B/%llu pkts, down %llu B/%llu pkts, "
                "connect failures %llu, protocol errors %llu, resets %llu",
                (unsigned long long) s->sessions_total, (unsigned long long) s->sessions_active,
                (unsigned long long) s->bytes_up, (unsigned long long) s->packets_up,
                (unsigned long long) s->bytes_down, (unsigned long long) s->packets_down,
                (unsigned long long) s->connect_failures, (unsigned long long) s->protocol_errors,
                (unsigned long long) s->resets);
        sfw_timer_arm(t, report_s * 1000ull);
}

int sfw_hop_main(int argc, char **argv, const struct sfw_hop_desc *d)
{
        static sfw_opt opts[] = {
                { "listen", "IP:PORT", "where the downstream peer connects (its link)", NULL, 0, NULL, 0, 0 },
                { "upstream", "IP:PORT", "the next hop (required)", NULL, 0, NULL, 0, 0 },
                { "status", "IP:PORT", "status endpoint: GET /counters, GET /healthz", "0.0.0.0:9090", 0, NULL, 0, 0 },
                { "connect-timeout", "MS", "upstream connect timeout", "2000", 0, NULL, 0, 0 },
                { "idle-timeout", "MS", "reset a session idle this long (0: never)", "60000", 0, NULL, 0, 0 },
                { "report-interval", "SECONDS", "print the counters this often (0: never)", "10", 0, NULL, 0, 0 },
                { "log-sessions", NULL, "log each session's start and end (--log-sessions=0 to stop)", "1", SFW_OPT_BOOL, NULL, 0, 0 },
                { NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
        };
        sfw_relay_cfg rc;
        const char *up;
        sfw_addr tmp;

        hop = d;
        opts[0].def = d->listen_def;
        sfw_prog = d->prog;
        sfw_role = d->role;
        sfw_options_parse(argc, argv, opts, d->summary, d->details);
        up = sfw_opt_str(opts, "upstream");
        if (!up)
                sfw_usage_die("upstream", "is required (IP:PORT of the %s)", d->up_peer);
        if (sfw_addr_parse(up, false, &tmp) < 0)
                sfw_usage_die("upstream", "'%s' is not a numeric IP:PORT", up);
        if (sfw_addr_parse(sfw_opt_str(opts, "listen"), true, &tmp) < 0)
                sfw_usage_die("listen", "'%s' is not IP:PORT or PORT", sfw_opt_str(opts, "listen"));
        snprintf(listen_s, sizeof(listen_s), "%s", sfw_opt_str(opts, "listen"));
        snprintf(upstream_s, sizeof(upstream_s), "%s", up);
        report_s = (unsigned) sfw_opt_int(opts, "report-interval", 0, 86400);

        sfw_loop_init();
        memset(&rc, 0, sizeof(rc));
        rc.name = d->down_link;
        rc.listen = listen_s;
        rc.upstream = upstream_s;
        rc.down_framed = d->down_framed;
        rc.up_framed = d->up_framed;
        rc.connect_timeout_ms = (unsigned) sfw_opt_int(opts, "connect-timeout", 1, 600000);
        rc.idle_timeout_ms = (unsigned) sfw_opt_int(opts, "idle-timeout", 0, 86400000);
        rc.log_sessions = sfw_opt_bool(opts, "log-sessions");
        rc.teid_base = ((uint32_t) getpid() & 0xffffu) << 16;
        relay = sfw_relay_start(&rc);
        if (!relay)
                return 1;
        status_srv = sfw_http_listen("status", sfw_opt_str(opts, "status"), status_handler, NULL);
        if (!status_srv)
                return 1;
        sfw_log("%s: %s link %s (%s) -> %s link %s (%s); status on %s", d->role, d->down_link,
                listen_s, d->down_framed ? "GTP-U-like frames over TCP" : "plain TCP", d->up_link,
                upstream_s, d->up_framed ? "GTP-U-like frames over TCP" : "plain TCP",
                sfw_opt_str(opts, "status"));
        sfw_timer_init(&report_timer, report, NULL);
        if (report_s)
                sfw_timer_arm(&report_timer, report_s * 1000ull);
        sfw_loop_run();
        report(&report_timer);
        sfw_timer_stop(&report_timer);
        sfw_relay_free(relay);
        sfw_http_free(status_srv);
        sfw_loop_finish();
        sfw_options_free(opts);
        sfw_log("stopped");
        return 0;
}
