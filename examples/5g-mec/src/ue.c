/* ue: the mobile device of the 5G/MEC demonstrator. Attached to the RRH (it connects to the RRH's
 * radio address, which relays through BBU, EPC and TOF to the video service), it plays the video:
 * fetches the playlist, then one segment per --interval, verifying each (HTTP 200, full length,
 * checksum from the playlist), retrying within a per-segment deadline, and records latency,
 * throughput, failures and which instance served each segment. Counters on GET /stats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfw.h"

#define MAX_SERVERS 32
#define MAX_LAT 100000

enum reason {
        R_CONNECT, R_TIMEOUT, R_RESET, R_PROTOCOL, R_SHORT, R_TOOBIG, R_HTTP, R_SIZE, R_CHECKSUM, R_COUNT
};
static const char *const reason_names[R_COUNT] = {
        "connect", "timeout", "reset", "protocol", "short_read", "too_big", "http_status", "size", "checksum",
};

struct seginfo {
        char uri[260];
        uint64_t sum;
        size_t size;
};

struct server {
        char name[64], site[32];
        uint64_t segments;
};

static sfw_addr attach;
static char attach_s[64];
static const char *host, *playlist_path;
static double interval_s, deadline_s;
static unsigned connect_ms, io_ms, retry_ms, report_s;
static uint64_t count;
static bool log_segments;

static struct seginfo *plist;
static size_t n_plist;

/* current fetch */
static enum { F_PLAYLIST, F_SEGMENT } fetch_kind;
static size_t cur_index;  /* segment index in the playlist */
static uint64_t cur_seq;  /* segments attempted so far (the current one's number) */
static uint64_t cur_start_us, cur_deadline_us;
static unsigned cur_attempts;
static char cur_last_err[96];
static sfw_http_call *call;
static sfw_timer fetch_timer, report_timer;
static uint64_t next_start_us, play_start_us;

/* stats */
static uint64_t seg_ok, seg_failed, retries, attempts, playlists_ok, playlists_failed, bytes_total;
static uint64_t reason_count[R_COUNT];
static double *lat;
static size_t n_lat, lat_pos;
static double last_lat_ms, max_lat_ms, sum_lat_ms, max_gap_ms;
static uint64_t last_ok_done_us;
static double sum_mbps;
static struct server servers[MAX_SERVERS];
static size_t n_servers;
static char last_served_by[64];
static uint64_t switches;
static sfw_http_server *status_srv;

static void start_fetch(void);

static void record_server(const char *name, const char *site)
{
        struct server *s = NULL;
        for (size_t i = 0; i < n_servers; i++)
                if (strcmp(servers[i].name, name) == 0)
                        s = &servers[i];
        if (!s && n_servers < MAX_SERVERS) {
                s = &servers[n_servers++];
                snprintf(s->name, sizeof(s->name), "%s", name);
        }
        if (s) {
                snprintf(s->site, sizeof(s->site), "%s", site);
                s->segments++;
        }
        if (last_served_by[0] && strcmp(last_served_by, name) != 0) {
                switches++;
                sfw_log("now served by '%s' (site '%s'), was '%s'", name, site, last_served_by);
        }
        snprintf(last_served_by, sizeof(last_served_by), "%s", name);
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p)
{
        size_t k;
        if (!n)
                return 0;
        k = (size_t) ceil(p / 100.0 * (double) n);
        if (k < 1)
                k = 1;
        return sorted[k - 1];
}

static void stats_json(sfw_buf *b)
{
        double *sorted = NULL;
        sfw_buf_puts(b, "{");
        sfw_json_ident(b);
        if (n_lat) {
                sorted = sfw_xmalloc(n_lat * sizeof(double));
                memcpy(sorted, lat, n_lat * sizeof(double));
                qsort(sorted, n_lat, sizeof(double), cmp_double);
        }
        sfw_buf_puts(b, "\"attach\": ");
        sfw_buf_json_str(b, attach_s);
        sfw_buf_printf(b,
                       ", \"segments_ok\": %llu, \"segments_failed\": %llu, \"segments_total\": %llu, "
                       "\"attempts\": %llu, \"retries\": %llu, \"playlists_ok\": %llu, \"playlists_failed\": %llu, "
                       "\"bytes\": %llu, \"last_latency_ms\": %.3f, \"mean_latency_ms\": %.3f, "
                       "\"p50_latency_ms\": %.3f, \"p99_latency_ms\": %.3f, \"max_latency_ms\": %.3f, "
                       "\"mean_throughput_mbps\": %.2f, \"max_gap_ms\": %.1f, \"server_switches\": %llu, "
                       "\"attempt_errors\": {",
                       (unsigned long long) seg_ok, (unsigned long long) seg_failed,
                       (unsigned long long) (seg_ok + seg_failed), (unsigned long long) attempts,
                       (unsigned long long) retries, (unsigned long long) playlists_ok,
                       (unsigned long long) playlists_failed, (unsigned long long) bytes_total, last_lat_ms,
                       seg_ok ? sum_lat_ms / (double) seg_ok : 0.0, percentile(sorted, n_lat, 50),
                       percentile(sorted, n_lat, 99), max_lat_ms, seg_ok ? sum_mbps / (double) seg_ok : 0.0,
                       max_gap_ms, (unsigned long long) switches);
        for (int i = 0; i < R_COUNT; i++)
                sfw_buf_printf(b, "%s\"%s\": %llu", i ? ", " : "", reason_names[i],
                               (unsigned long long) reason_count[i]);
        sfw_buf_puts(b, "}, \"served_by\": {");
        for (size_t i = 0; i < n_servers; i++) {
                if (i)
                        sfw_buf_puts(b, ", ");
                sfw_buf_json_str(b, servers[i].name);
                sfw_buf_printf(b, ": %llu", (unsigned long long) servers[i].segments);
        }
        sfw_buf_puts(b, "}, \"served_by_site\": {");
        for (size_t i = 0; i < n_servers; i++) {
                if (i)
                        sfw_buf_puts(b, ", ");
                sfw_buf_json_str(b, servers[i].name);
                sfw_buf_puts(b, ": ");
                sfw_buf_json_str(b, servers[i].site);
        }
        sfw_buf_puts(b, "}, \"last_served_by\": ");
        sfw_buf_json_str(b, last_served_by[0] ? last_served_by : NULL);
        sfw_buf_printf(b, ", \"failure_rule\": \"a segment fails only when no attempt delivered it complete "
                          "and verified within %.1f s of its first attempt\"}\n", deadline_s);
        free(sorted);
}

static void status_handler(const sfw_http_req *req, sfw_http_resp *resp, void *ud)
{
        (void) ud;
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
                return sfw_http_error(resp, 405, "only GET");
        if (strcmp(req->path, "/stats") == 0 || strcmp(req->path, "/counters") == 0 || strcmp(req->path, "/") == 0)
                return stats_json(&resp->body);
        if (strcmp(req->path, "/healthz") == 0) {
                sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                return;
        }
        sfw_http_error(resp, 404, "no such path: try /stats or /healthz");
}

static void summary(void)
{
        sfw_buf b = { 0 };
        for (size_t i = 0; i < n_servers; i++)
                sfw_buf_printf(&b, "%s%s (%s) %llu", i ? ", " : "", servers[i].name, servers[i].site,
                               (unsigned long long) servers[i].segments);
        sfw_log("summary: segments ok %llu, failed %llu, retries %llu, playlists %llu ok/%llu failed, "
                "max latency %.1f ms, max gap %.1f ms, served by: %s",
                (unsigned long long) seg_ok, (unsigned long long) seg_failed, (unsigned long long) retries,
                (unsigned long long) playlists_ok, (unsigned long long) playlists_failed, max_lat_ms,
                max_gap_ms, b.p ? b.p : "nobody");
        sfw_buf_free(&b);
}

static void report(sfw_timer *t)
{
        summary();
        if (report_s)
                sfw_timer_arm(t, report_s * 1000ull);
}

/* "#EXTINF:2.000,fnv1a64=HEX size=N" then the URI line. Returns false when unusable. */
static bool parse_playlist(const char *body, size_t len)
{
        struct seginfo *list = NULL;
        size_t n = 0;
        uint64_t sum = 0;
        size_t size = 0;
        bool have_info = false;
        const char *p = body, *end = body + len;
        if (len < 7 || strncmp(body, "#EXTM3U", 7) != 0)
                return false;
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                size_t l = eol ? (size_t) (eol - p) : (size_t) (end - p);
                char line[256];
                if (l && p[l - 1] == '\r')
                        l--;
                if (l >= sizeof(line))
                        l = sizeof(line) - 1;
                memcpy(line, p, l);
                line[l] = 0;
                p = eol ? eol + 1 : end;
                if (strncmp(line, "#EXTINF:", 8) == 0) {
                        const char *f = strstr(line, "fnv1a64="), *s = strstr(line, "size=");
                        unsigned long long v;
                        have_info = f && s && sscanf(f + 8, "%16llx", &v) == 1;
                        if (have_info) {
                                sum = v;
                                size = (size_t) strtoull(s + 5, NULL, 10);
                        }
                } else if (line[0] && line[0] != '#') {
                        if (!have_info || strlen(line) + 2 >= sizeof(list->uri)) {
                                free(list);
                                return false;
                        }
                        list = sfw_xrealloc(list, (n + 1) * sizeof(*list));
                        snprintf(list[n].uri, sizeof(list[n].uri), "%s%s", line[0] == '/' ? "" : "/", line);
                        list[n].sum = sum;
                        list[n].size = size;
                        n++;
                        have_info = false;
                }
        }
        if (!n) {
                free(list);
                return false;
        }
        free(plist);
        plist = list;
        n_plist = n;
        return true;
}

static void finish_segment(bool ok, const sfw_http_result *r)
{
        uint64_t now = sfw_now_us();
        if (ok) {
                double ms = (double) (now - cur_start_us) / 1000.0;
                double xfer_s = (double) (r->t_done_us - r->t_start_us) / 1e6;
                double mbps = xfer_s > 0 ? (double) r->body_len * 8 / xfer_s / 1e6 : 0;
                char by[64] = "?", site[32] = "?";
                sfw_http_header(r->headers, "X-Served-By", by, sizeof(by));
                sfw_http_header(r->headers, "X-Site", site, sizeof(site));
                seg_ok++;
                bytes_total += r->body_len;
                last_lat_ms = ms;
                sum_lat_ms += ms;
                sum_mbps += mbps;
                if (ms > max_lat_ms)
                        max_lat_ms = ms;
                if (n_lat < MAX_LAT)
                        lat[n_lat++] = ms;
                else
                        lat[lat_pos++ % MAX_LAT] = ms;
                if (last_ok_done_us) {
                        double gap = (double) (now - last_ok_done_us) / 1000.0;
                        if (gap > max_gap_ms)
                                max_gap_ms = gap;
                }
                last_ok_done_us = now;
                record_server(by, site);
                if (log_segments)
                        sfw_log("segment %llu (%s) ok: %zu B in %.1f ms (%.1f Mbit/s), served by %s (site %s), "
                                "attempts %u",
                                (unsigned long long) cur_seq, plist[cur_index].uri + 1, r->body_len, ms, mbps, by,
                                site, cur_attempts);
        } else {
                seg_failed++;
                sfw_log("segment %llu (%s) FAILED: not fetched within %.1f s, %u attempt(s), last error: %s",
                        (unsigned long long) cur_seq, plist[cur_index].uri + 1, deadline_s, cur_attempts,
                        cur_last_err);
        }
        if (count && seg_ok + seg_failed >= count) {
                summary();
                sfw_loop_quit();
                return;
        }
        /* pace: segment k starts at play_start + k * interval, never earlier than now */
        cur_index++;
        if (cur_index >= n_plist) {
                cur_index = 0;
                fetch_kind = F_PLAYLIST; /* refresh the playlist at the end of each loop */
        } else
                fetch_kind = F_SEGMENT;
        next_start_us = play_start_us + (uint64_t) ((double) (seg_ok + seg_failed) * interval_s * 1e6);
        if (next_start_us < now) {
                if (interval_s > 0 && now - next_start_us > (uint64_t) (interval_s * 1e6))
                        play_start_us += now - next_start_us; /* fell behind: rebase, do not burst */
                next_start_us = now;
        }
        cur_attempts = 0;
        cur_start_us = 0;
        sfw_timer_arm_us(&fetch_timer, next_start_us - now);
}

static void fetch_done(const sfw_http_result *r, void *ud)
{
        int reason = -1;
        uint64_t now = sfw_now_us();
        (void) ud;
        call = NULL;
        switch (r->err) {
        case SFW_HTTP_OK: break;
        case SFW_HTTP_ECONNECT: reason = R_CONNECT; break;
        case SFW_HTTP_ETIMEOUT: reason = R_TIMEOUT; break;
        case SFW_HTTP_ERESET: reason = R_RESET; break;
        case SFW_HTTP_ESHORT: reason = R_SHORT; break;
        case SFW_HTTP_ETOOBIG: reason = R_TOOBIG; break;
        default: reason = R_PROTOCOL; break;
        }
        if (reason < 0 && r->status != 200)
                reason = R_HTTP;
        if (reason < 0 && fetch_kind == F_SEGMENT) {
                const struct seginfo *si = &plist[cur_index];
                if (r->body_len != si->size)
                        reason = R_SIZE;
                else if (sfw_fnv1a64(r->body, r->body_len) != si->sum)
                        reason = R_CHECKSUM;
        }
        if (reason < 0 && fetch_kind == F_PLAYLIST && !parse_playlist(r->body, r->body_len))
                reason = R_PROTOCOL;
        if (reason < 0) {
                if (fetch_kind == F_PLAYLIST) {
                        playlists_ok++;
                        if (log_segments)
                                sfw_log("playlist: %zu segments", n_plist);
                        fetch_kind = F_SEGMENT;
                        cur_attempts = 0;
                        cur_start_us = 0;
                        if (!play_start_us) {
                                play_start_us = sfw_now_us();
                                sfw_timer_arm(&fetch_timer, 0);
                        } else
                                start_fetch(); /* the playlist refresh does not cost the segment's slot */
                        return;
                }
                finish_segment(true, r);
                return;
        }
        reason_count[reason]++;
        if (reason == R_HTTP)
                snprintf(cur_last_err, sizeof(cur_last_err), "HTTP %d", r->status);
        else if (r->sys_errno)
                snprintf(cur_last_err, sizeof(cur_last_err), "%s (%s)", reason_names[reason], strerror(r->sys_errno));
        else
                snprintf(cur_last_err, sizeof(cur_last_err), "%s", reason_names[reason]);
        if (now + retry_ms * 1000ull < cur_deadline_us) {
                retries++;
                if (log_segments)
                        sfw_log("%s attempt %u failed (%s), retrying in %u ms",
                                fetch_kind == F_PLAYLIST ? "playlist" : "segment", cur_attempts, cur_last_err, retry_ms);
                sfw_timer_arm(&fetch_timer, retry_ms);
                return;
        }
        if (fetch_kind == F_PLAYLIST) {
                playlists_failed++;
                sfw_log("playlist FAILED within %.1f s (%s)%s", deadline_s, cur_last_err,
                        n_plist ? "; keeping the previous one" : "; trying again");
                cur_attempts = 0;
                cur_start_us = 0;
                if (n_plist)
                        fetch_kind = F_SEGMENT;
                sfw_timer_arm(&fetch_timer, n_plist ? 0 : (uint64_t) (interval_s * 1000) + retry_ms);
                return;
        }
        finish_segment(false, r);
}

static void start_fetch(void)
{
        uint64_t now = sfw_now_us(), left_ms;
        sfw_http_opts o = { .method = "GET", .host = host, .connect_timeout_ms = connect_ms,
                            .idle_timeout_ms = io_ms };
        if (!cur_start_us) {
                cur_start_us = now;
                cur_deadline_us = now + (uint64_t) (deadline_s * 1e6);
                if (fetch_kind == F_SEGMENT)
                        cur_seq++;
        }
        left_ms = cur_deadline_us > now ? (cur_deadline_us - now + 999) / 1000 : 1;
        if (fetch_kind == F_PLAYLIST) {
                o.path = playlist_path;
                o.max_body = 1 << 20;
        } else {
                o.path = plist[cur_index].uri;
                o.max_body = plist[cur_index].size + 1;
        }
        o.total_timeout_ms = (unsigned) left_ms;
        if (o.connect_timeout_ms > left_ms)
                o.connect_timeout_ms = (unsigned) left_ms;
        cur_attempts++;
        attempts++;
        call = sfw_http_request(&attach, &o, fetch_done, NULL);
}

static void fetch_tick(sfw_timer *t)
{
        (void) t;
        if (!call)
                start_fetch();
}

int main(int argc, char **argv)
{
        static sfw_opt opts[] = {
                { "attach", "IP:PORT", "the RRH's radio address (the UE's attachment; required)", NULL, 0, NULL, 0, 0 },
                { "host", "NAME", "Host header of the requests", "video", 0, NULL, 0, 0 },
                { "playlist", "PATH", "playlist path", "/playlist.m3u8", 0, NULL, 0, 0 },
                { "interval", "SECONDS", "one segment every this long (0: back to back)", "2", 0, NULL, 0, 0 },
                { "deadline", "SECONDS", "a segment not fetched this long after its first attempt has failed", "5", 0, NULL, 0, 0 },
                { "connect-timeout", "MS", "per attempt", "1000", 0, NULL, 0, 0 },
                { "io-timeout", "MS", "abandon an attempt that received nothing for this long", "1500", 0, NULL, 0, 0 },
                { "retry-delay", "MS", "pause before retrying a failed attempt", "100", 0, NULL, 0, 0 },
                { "count", "N", "stop after N segments (0: run until SIGTERM); exit 1 if any failed", "0", 0, NULL, 0, 0 },
                { "status", "IP:PORT", "status endpoint: GET /stats (JSON), GET /healthz", "0.0.0.0:9090", 0, NULL, 0, 0 },
                { "report-interval", "SECONDS", "print a summary this often (0: never)", "10", 0, NULL, 0, 0 },
                { "log-segments", NULL, "log every segment (--log-segments=0 to stop)", "1", SFW_OPT_BOOL, NULL, 0, 0 },
                { NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
        };
        int rc;

        sfw_prog = "ue";
        sfw_role = "UE (mobile device)";
        sfw_options_parse(argc, argv, opts,
                          "UE (mobile device) of the 5G/MEC demonstrator. Attached to the RRH (--attach is\n"
                          "the RRH's radio address; the RRH relays through BBU, EPC and TOF to the video\n"
                          "service), it plays the video: fetches the playlist, then one segment every\n"
                          "--interval (a new TCP connection per request), and checks each one: HTTP 200,\n"
                          "the full length, and the checksum the playlist gives. It records latency,\n"
                          "throughput, failures, and which instance served it (X-Served-By, X-Site).",
                          "Failure rule: a failed attempt (connect error, reset, timeout, HTTP error, short\n"
                          "read, wrong size or checksum) is retried after --retry-delay for as long as the\n"
                          "segment's --deadline (counted from its first attempt) allows; the segment counts\n"
                          "as failed only when no attempt delivered it complete and verified by then. Retries\n"
                          "and attempt errors are counted separately. Latency is from the first attempt to\n"
                          "the last byte, retries included. The playlist is fetched again after the last\n"
                          "segment and the video loops.\n"
                          "GET /stats: segments_ok, segments_failed, retries, attempt_errors, p50/p99/max\n"
                          "latency, max_gap_ms (longest time between two segments arriving), served_by.\n"
                          "Example: ue --attach 10.61.1.2:7000 --interval 2\n");
        if (!sfw_opt_str(opts, "attach"))
                sfw_usage_die("attach", "is required (the RRH's radio IP:PORT)");
        if (sfw_addr_parse(sfw_opt_str(opts, "attach"), false, &attach) < 0)
                sfw_usage_die("attach", "'%s' is not a numeric IP:PORT", sfw_opt_str(opts, "attach"));
        snprintf(attach_s, sizeof(attach_s), "%s", sfw_opt_str(opts, "attach"));
        host = sfw_opt_str(opts, "host");
        playlist_path = sfw_opt_str(opts, "playlist");
        interval_s = sfw_opt_double(opts, "interval", 0, 3600);
        deadline_s = sfw_opt_double(opts, "deadline", 0.01, 3600);
        connect_ms = (unsigned) sfw_opt_int(opts, "connect-timeout", 1, 600000);
        io_ms = (unsigned) sfw_opt_int(opts, "io-timeout", 1, 600000);
        retry_ms = (unsigned) sfw_opt_int(opts, "retry-delay", 0, 600000);
        count = (uint64_t) sfw_opt_int(opts, "count", 0, 1000000000);
        report_s = (unsigned) sfw_opt_int(opts, "report-interval", 0, 86400);
        log_segments = sfw_opt_bool(opts, "log-segments");
        lat = sfw_xmalloc(MAX_LAT * sizeof(double));

        sfw_loop_init();
        status_srv = sfw_http_listen("status", sfw_opt_str(opts, "status"), status_handler, NULL);
        if (!status_srv)
                return 1;
        sfw_log("%s attached to the RRH at %s: one segment every %.1f s, deadline %.1f s; stats on %s", sfw_role,
                attach_s, interval_s, deadline_s, sfw_opt_str(opts, "status"));
        sfw_timer_init(&fetch_timer, fetch_tick, NULL);
        sfw_timer_init(&report_timer, report, NULL);
        fetch_kind = F_PLAYLIST;
        sfw_timer_arm(&fetch_timer, 0);
        if (report_s)
                sfw_timer_arm(&report_timer, report_s * 1000ull);
        sfw_loop_run();
        if (!count || seg_ok + seg_failed < count)
                summary();
        rc = count && seg_ok + seg_failed >= count && seg_failed ? 1 : 0;
        sfw_http_cancel(call);
        sfw_http_free(status_srv);
        sfw_loop_finish();
        free(plist);
        free(lat);
        sfw_options_free(opts);
        sfw_log("stopped");
        return rc;
}
