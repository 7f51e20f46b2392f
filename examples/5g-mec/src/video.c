/* video: the video streaming service of the 5G/MEC demonstrator. Real HTTP segment streaming: a
 * generated VOD "video" of N MPEG-TS-framed segments (deterministic content, so every instance
 * serves identical bytes), an HLS playlist listing them with checksums, and X-Served-By/X-Site
 * headers so the UE can tell which instance served each segment. Optionally registers with the
 * MEO as a MEC application instance, and deregisters and drains on SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfw.h"

#define TS_PACKET 188

struct segment {
        uint8_t *data;
        size_t len;
        uint64_t sum;
        uint64_t served;
};

static struct segment *segs;
static size_t n_segs;
static sfw_buf playlist;
static const char *name, *site, *service;
static double seg_duration;
static sfw_http_server *srv, *status_srv;
static bool log_requests;
static uint64_t requests, segments_served, playlists_served, bytes_served, not_found;
static sfw_timer report_timer, register_timer, stop_timer;
static unsigned report_s, register_ms, linger_ms, drain_ms;
static sfw_addr meo;
static bool have_meo, meo_ok, stopping, deregistered;
static sfw_http_call *reg_call;
static uint64_t meo_errors, stop_start_us;
static char advertise[64];
static uint16_t listen_port;

static uint64_t xorshift(uint64_t *s)
{
        uint64_t x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        return x * 0x2545f4914f6cdd1dULL;
}

/* Segment i: TS packets (sync byte 0x47, PID 0x100, continuity counter), the first carrying a
 * readable tag, the rest pseudo-random payload seeded by (seed, i). */
static void make_segment(struct segment *sg, size_t i, size_t bytes, const char *seed)
{
        size_t npk = bytes / TS_PACKET;
        uint64_t st = sfw_fnv1a64(seed, strlen(seed)) ^ ((uint64_t) (i + 1) * 0x9e3779b97f4a7c15ULL);
        if (!st)
                st = 1;
        sg->len = npk * TS_PACKET;
        sg->data = sfw_xmalloc(sg->len);
        for (size_t k = 0; k < npk; k++) {
                uint8_t *p = sg->data + k * TS_PACKET;
                p[0] = 0x47;
                p[1] = (uint8_t) ((k == 0 ? 0x40 : 0x00) | 0x01);
                p[2] = 0x00;
                p[3] = (uint8_t) (0x10 | (k & 0x0f));
                for (size_t j = 4; j < TS_PACKET; j += 8) {
                        uint64_t v = xorshift(&st);
                        size_t n = TS_PACKET - j < 8 ? TS_PACKET - j : 8;
                        memcpy(p + j, &v, n);
                }
                if (k == 0)
                        snprintf((char *) p + 4, TS_PACKET - 4, "SFVIDEO segment=%zu seed=%s", i, seed);
        }
        sg->sum = sfw_fnv1a64(sg->data, sg->len);
}

static void add_headers(sfw_http_resp *resp)
{
        sfw_buf_printf(&resp->headers, "X-Served-By: %s\r\nX-Site: %s\r\nCache-Control: no-store\r\n", name, site);
}

static void video_handler(const sfw_http_req *req, sfw_http_resp *resp, void *ud)
{
        size_t i;
        char *end;
        (void) ud;
        requests++;
        add_headers(resp);
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
                return sfw_http_error(resp, 405, "only GET");
        if (strcmp(req->path, "/playlist.m3u8") == 0) {
                resp->content_type = "application/vnd.apple.mpegurl";
                resp->ext_body = playlist.p;
                resp->ext_len = playlist.len;
                playlists_served++;
                bytes_served += playlist.len;
                if (log_requests)
                        sfw_log("playlist to %s", req->peer);
                return;
        }
        if (strncmp(req->path, "/seg-", 5) == 0 && (i = strtoul(req->path + 5, &end, 10), end != req->path + 5) &&
            strcmp(end, ".ts") == 0 && i < n_segs) {
                struct segment *sg = &segs[i];
                resp->content_type = "video/mp2t";
                resp->ext_body = sg->data;
                resp->ext_len = sg->len;
                sfw_buf_printf(&resp->headers, "X-Checksum: fnv1a64=%016llx\r\n", (unsigned long long) sg->sum);
                sg->served++;
                segments_served++;
                bytes_served += sg->len;
                if (log_requests)
                        sfw_log("segment %zu (%zu B) to %s", i, sg->len, req->peer);
                return;
        }
        if (strcmp(req->path, "/healthz") == 0) {
                sfw_buf_printf(&resp->body, "{\"ok\": true}\n");
                return;
        }
        not_found++;
        sfw_http_error(resp, 404, "no such segment");
}

static void counters_json(sfw_buf *b)
{
        sfw_buf_puts(b, "{");
        sfw_json_ident(b);
        sfw_buf_puts(b, "\"instance\": ");
        sfw_buf_json_str(b, name);
        sfw_buf_puts(b, ", \"site\": ");
        sfw_buf_json_str(b, site);
        sfw_buf_puts(b, ", \"service\": ");
        sfw_buf_json_str(b, service);
        sfw_buf_printf(b,
                       ", \"segments\": %zu, \"segment_bytes\": %zu, \"requests\": %llu, "
                       "\"segments_served\": %llu, \"playlists_served\": %llu, \"bytes_served\": %llu, "
                       "\"not_found\": %llu, \"active_connections\": %zu, \"meo_registered\": %s, "
                       "\"meo_errors\": %llu, \"stopping\": %s}\n",
                       n_segs, n_segs ? segs[0].len : 0, (unsigned long long) requests,
                       (unsigned long long) segments_served, (unsigned long long) playlists_served,
                       (unsigned long long) bytes_served, (unsigned long long) not_found,
                       sfw_http_active(srv), meo_ok ? "true" : "false", (unsigned long long) meo_errors,
                       stopping ? "true" : "false");
}

static void status_handler(const sfw_http_req *req, sfw_http_resp *resp, void *ud)
{
        (void) ud;
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
                return sfw_http_error(resp, 405, "only GET");
        if (strcmp(req->path, "/counters") == 0 || strcmp(req->path, "/") == 0)
                return counters_json(&resp->body);
        if (strcmp(req->path, "/healthz") == 0) {
                sfw_buf_printf(&resp->body, "{\"ok\": %s}\n", stopping ? "false" : "true");
                if (stopping)
                        resp->status = 503;
                return;
        }
        sfw_http_error(resp, 404, "no such path: try /counters or /healthz");
}

static void report(sfw_timer *t)
{
        sfw_log("counters: requests %llu, segments served %llu, playlists %llu, bytes %llu, not found %llu, "
                "active %zu",
                (unsigned long long) requests, (unsigned long long) segments_served,
                (unsigned long long) playlists_served, (unsigned long long) bytes_served,
                (unsigned long long) not_found, sfw_http_active(srv));
        if (t && report_s)
                sfw_timer_arm(t, report_s * 1000ull);
}

/* ---- MEO registration ---- */

static void reg_body(sfw_buf *b, const char *kind)
{
        sfw_buf_printf(b, "{\"kind\": \"%s\", \"service\": ", kind);
        sfw_buf_json_str(b, service);
        sfw_buf_puts(b, ", \"name\": ");
        sfw_buf_json_str(b, name);
        sfw_buf_puts(b, ", \"site\": ");
        sfw_buf_json_str(b, site);
        sfw_buf_printf(b, ", \"port\": %u", listen_port);
        if (advertise[0]) {
                sfw_buf_puts(b, ", \"address\": ");
                sfw_buf_json_str(b, advertise);
        }
        sfw_buf_puts(b, "}");
}

static void stop_step(sfw_timer *t);

static void reg_done(const sfw_http_result *r, void *ud)
{
        bool dereg = ud != NULL;
        char rbuf[128];
        reg_call = NULL;
        if (r->err == SFW_HTTP_OK && r->status == 200) {
                if (dereg) {
                        sfw_log("deregistered from the MEO; serving on for %u ms while traffic moves", linger_ms);
                        deregistered = true;
                } else if (!meo_ok)
                        sfw_log("registered with the MEO as '%s' at site '%s'", name, site);
                meo_ok = !dereg;
        } else {
                meo_errors++;
                if (meo_ok || meo_errors == 1 || dereg)
                        sfw_log("MEO %s failed: %s", dereg ? "deregistration" : "registration",
                                sfw_http_result_str(r, rbuf, sizeof(rbuf)));
                meo_ok = false;
                if (dereg)
                        deregistered = true; /* give up: the MEO expires us anyway */
        }
}

static void do_register(sfw_timer *t)
{
        sfw_buf body = { 0 };
        sfw_http_opts o = { .method = "POST", .path = "/register", .connect_timeout_ms = 1000,
                            .idle_timeout_ms = 1000, .total_timeout_ms = 2000 };
        if (stopping)
                return;
        sfw_timer_arm(t, register_ms);
        if (reg_call)
                return;
        reg_body(&body, "app");
        o.body = body.p;
        o.body_len = body.len;
        reg_call = sfw_http_request(&meo, &o, reg_done, NULL);
        sfw_buf_free(&body);
}

/* ---- graceful stop: deregister, linger, stop accepting, drain ---- */

static int stop_phase; /* 1 deregistering+lingering, 2 draining */

static void stop_step(sfw_timer *t)
{
        uint64_t el_ms = (sfw_now_us() - stop_start_us) / 1000;
        if (stop_phase == 1) {
                if ((!deregistered && el_ms < linger_ms + 1000) || (deregistered && el_ms < linger_ms)) {
                        sfw_timer_arm(t, 20);
                        return;
                }
                sfw_http_stop_accepting(srv);
                stop_phase = 2;
                stop_start_us = sfw_now_us();
                sfw_log("not accepting any more; draining %zu connection(s)", sfw_http_active(srv));
                el_ms = 0;
        }
        if (sfw_http_active(srv) == 0 || el_ms >= drain_ms) {
                if (sfw_http_active(srv))
                        sfw_log("drain timeout: closing %zu connection(s)", sfw_http_active(srv));
                sfw_loop_quit();
                return;
        }
        sfw_timer_arm(t, 20);
}

static void on_stop(void)
{
        stopping = true;
        stop_start_us = sfw_now_us();
        sfw_timer_stop(&register_timer);
        if (have_meo) {
                sfw_buf body = { 0 };
                sfw_http_opts o = { .method = "POST", .path = "/deregister", .connect_timeout_ms = 500,
                                    .idle_timeout_ms = 500, .total_timeout_ms = 1000 };
                sfw_http_cancel(reg_call);
                reg_body(&body, "app");
                o.body = body.p;
                o.body_len = body.len;
                reg_call = sfw_http_request(&meo, &o, reg_done, (void *) 1);
                sfw_buf_free(&body);
                stop_phase = 1;
        } else
                stop_phase = 2, sfw_http_stop_accepting(srv);
        stop_step(&stop_timer);
}

int main(int argc, char **argv)
{
        static sfw_opt opts[] = {
                { "listen", "IP:PORT", "the HTTP streaming port", "0.0.0.0:8080", 0, NULL, 0, 0 },
                { "status", "IP:PORT", "status endpoint: GET /counters, GET /healthz", "0.0.0.0:9090", 0, NULL, 0, 0 },
                { "segments", "N", "number of segments in the video", "30", 0, NULL, 0, 0 },
                { "segment-kib", "KIB", "segment size (rounded down to whole 188-byte TS packets)", "256", 0, NULL, 0, 0 },
                { "segment-duration", "SECONDS", "play time of one segment (for the playlist)", "2", 0, NULL, 0, 0 },
                { "seed", "TEXT", "content seed: instances with the same seed serve identical bytes", "superfluid", 0, NULL, 0, 0 },
                { "name", "NAME", "instance name in X-Served-By (default: the host name)", NULL, 0, NULL, 0, 0 },
                { "site", "SITE", "site name in X-Site and for the MEO", "unknown", 0, NULL, 0, 0 },
                { "service", "NAME", "service name registered with the MEO", "video", 0, NULL, 0, 0 },
                { "meo", "IP:PORT", "register with this MEO as a MEC application instance", NULL, 0, NULL, 0, 0 },
                { "advertise", "IP:PORT", "address the MEO gives the TOF (default: the address the MEO sees + --listen port)", NULL, 0, NULL, 0, 0 },
                { "register-interval", "MS", "MEO registration heartbeat", "1000", 0, NULL, 0, 0 },
                { "linger", "MS", "on SIGTERM with --meo: keep serving this long after deregistering", "1000", 0, NULL, 0, 0 },
                { "drain-timeout", "MS", "on SIGTERM: wait this long for requests in progress", "5000", 0, NULL, 0, 0 },
                { "report-interval", "SECONDS", "print the counters this often (0: never)", "10", 0, NULL, 0, 0 },
                { "log-requests", NULL, "log every request (--log-requests=0 to stop)", "1", SFW_OPT_BOOL, NULL, 0, 0 },
                { NULL, NULL, NULL, NULL, 0, NULL, 0, 0 },
        };
        size_t seg_bytes;
        sfw_addr la;

        sfw_prog = "video";
        sfw_role = "video streaming server";
        sfw_options_parse(argc, argv, opts,
                          "Video streaming service of the 5G/MEC demonstrator: real HTTP segment streaming\n"
                          "(HLS-style). At start it generates a VOD video of --segments segments of\n"
                          "MPEG-TS packets with deterministic content (same --seed: same bytes on every\n"
                          "instance) and serves:\n"
                          "  GET /playlist.m3u8   the playlist; each #EXTINF title is \"fnv1a64=HEX size=N\"\n"
                          "  GET /seg-<n>.ts      segment n (Content-Length, X-Checksum)\n"
                          "Every response carries X-Served-By (--name) and X-Site (--site).",
                          "With --meo it registers as an instance of --service every --register-interval,\n"
                          "and on SIGTERM deregisters, keeps serving for --linger ms (the MEO steers the\n"
                          "TOF elsewhere meanwhile), stops accepting, drains requests in progress, exits 0.\n"
                          "Example: video --name video-core --site core --meo 10.61.5.2:9090\n");
        name = sfw_opt_str(opts, "name") ? sfw_opt_str(opts, "name") : sfw_hostname;
        site = sfw_opt_str(opts, "site");
        service = sfw_opt_str(opts, "service");
        n_segs = (size_t) sfw_opt_int(opts, "segments", 1, 10000);
        seg_bytes = (size_t) sfw_opt_int(opts, "segment-kib", 1, 65536) * 1024;
        seg_duration = sfw_opt_double(opts, "segment-duration", 0.001, 3600);
        report_s = (unsigned) sfw_opt_int(opts, "report-interval", 0, 86400);
        register_ms = (unsigned) sfw_opt_int(opts, "register-interval", 100, 600000);
        linger_ms = (unsigned) sfw_opt_int(opts, "linger", 0, 600000);
        drain_ms = (unsigned) sfw_opt_int(opts, "drain-timeout", 0, 600000);
        log_requests = sfw_opt_bool(opts, "log-requests");
        if (sfw_addr_parse(sfw_opt_str(opts, "listen"), true, &la) < 0)
                sfw_usage_die("listen", "'%s' is not IP:PORT", sfw_opt_str(opts, "listen"));
        listen_port = sfw_addr_port((struct sockaddr *) &la.ss);
        if (sfw_opt_str(opts, "meo")) {
                if (sfw_addr_parse(sfw_opt_str(opts, "meo"), false, &meo) < 0)
                        sfw_usage_die("meo", "'%s' is not a numeric IP:PORT", sfw_opt_str(opts, "meo"));
                have_meo = true;
        }
        if (sfw_opt_str(opts, "advertise")) {
                sfw_addr tmp;
                if (sfw_addr_parse(sfw_opt_str(opts, "advertise"), false, &tmp) < 0)
                        sfw_usage_die("advertise", "'%s' is not a numeric IP:PORT", sfw_opt_str(opts, "advertise"));
                snprintf(advertise, sizeof(advertise), "%s", sfw_opt_str(opts, "advertise"));
        }
        if (seg_bytes < TS_PACKET)
                sfw_usage_die("segment-kib", "too small");

        segs = sfw_xcalloc(n_segs, sizeof(*segs));
        sfw_buf_printf(&playlist, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%.0f\n"
                                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
                       seg_duration < 1 ? 1 : seg_duration + 0.5);
        for (size_t i = 0; i < n_segs; i++) {
                make_segment(&segs[i], i, seg_bytes, sfw_opt_str(opts, "seed"));
                sfw_buf_printf(&playlist, "#EXTINF:%.3f,fnv1a64=%016llx size=%zu\nseg-%zu.ts\n", seg_duration,
                               (unsigned long long) segs[i].sum, segs[i].len, i);
        }
        sfw_buf_printf(&playlist, "#EXT-X-ENDLIST\n");

        sfw_loop_init();
        srv = sfw_http_listen("video", sfw_opt_str(opts, "listen"), video_handler, NULL);
        status_srv = sfw_http_listen("status", sfw_opt_str(opts, "status"), status_handler, NULL);
        if (!srv || !status_srv)
                return 1;
        sfw_log("%s '%s' at site '%s': %zu segments of %zu B (%.1f s each) on %s; status on %s%s%s", sfw_role,
                name, site, n_segs, segs[0].len, seg_duration, sfw_opt_str(opts, "listen"),
                sfw_opt_str(opts, "status"), have_meo ? "; MEO " : "", have_meo ? sfw_opt_str(opts, "meo") : "");
        sfw_on_stop = on_stop;
        sfw_timer_init(&report_timer, report, NULL);
        sfw_timer_init(&register_timer, do_register, NULL);
        sfw_timer_init(&stop_timer, stop_step, NULL);
        if (report_s)
                sfw_timer_arm(&report_timer, report_s * 1000ull);
        if (have_meo)
                sfw_timer_arm(&register_timer, 0);
        sfw_loop_run();
        report(NULL);
        sfw_http_cancel(reg_call);
        sfw_http_free(srv);
        sfw_http_free(status_srv);
        sfw_loop_finish();
        for (size_t i = 0; i < n_segs; i++)
                free(segs[i].data);
        free(segs);
        sfw_buf_free(&playlist);
        sfw_options_free(opts);
        sfw_log("stopped");
        return 0;
}
