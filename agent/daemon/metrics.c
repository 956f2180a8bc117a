/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c — the agent's Prometheus endpoint: `GET /metrics` on a loopback TCP port
 * (metrics.listen, off by default), in the text exposition format 0.0.4.
 *
 * A deliberately small HTTP/1.x server on the agent's event loop (connset.h): at most
 * METRICS_MAX_CONN connections (a new one closes the oldest idle one at the limit), a
 * request head of at most 8 KiB read within 5 s, one answer written within 5 s, then
 * the connection is closed. Only loopback addresses may be configured, so
 * nothing here is reachable from the plant network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "base/log.h"
#include "daemon/agent_int.h"
#include "net/addr.h"
#include "peers/serve.h"
#include "telemetry/prom.h"
#include "workload/engine.h"

#define METRICS_MAX_CONN 8
#define METRICS_MAX_HEAD 8192
#define METRICS_TIMEOUT_US (5 * 1000000ULL)

/* ---- the exposition ---------------------------------------------------------------- */

static void counter(struct prom *p, const char *name, const char *help, double v)
{
        prom_family(p, name, "counter", help);
        prom_sample(p, name, NULL, v);
}

static void gauge(struct prom *p, const char *name, const char *help, double v)
{
        prom_family(p, name, "gauge", help);
        prom_sample(p, name, NULL, v);
}

static const char *const update_states[] = {"idle",        ACTION_NEW,       ACTION_FETCHING, ACTION_STAGED,
                                            ACTION_SWITCHING, ACTION_INSTALLED, ACTION_FAILED,   ACTION_CANCELED};

static void workload_metrics(struct agent *a, struct prom *p)
{
        json_t *st = a->eng ? workload_engine_status(a->eng) : json_array();
        static const struct {
                const char *name, *type, *help;
        } fam[] = {
                {"berth_bundle_version", "gauge", "Committed version of each bundle's workloads."},
                {"berth_workload_running", "gauge", "1 while the workload's task runs."},
                {"berth_workload_healthy", "gauge", "1 while the workload's probe passes."},
                {"berth_workload_restarts_total", "counter", "Restarts of the workload by its restart policy."},
                {"berth_workload_probes_total", "counter", "Health probe results of the workload."},
        };
        for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
                prom_family(p, fam[f].name, fam[f].type, fam[f].help);
                size_t i;
                json_t *b;
                json_array_foreach(st, i, b) {
                        const char *bundle = json_string_value(json_object_get(b, "bundle")) ?: "";
                        if (f == 0) {
                                prom_sample(p, fam[f].name, (const char *[]){"bundle", bundle, NULL},
                                            (double)json_integer_value(json_object_get(b, "current")));
                                continue;
                        }
                        size_t k;
                        json_t *w;
                        json_array_foreach(json_object_get(b, "workloads"), k, w) {
                                const char *name = json_string_value(json_object_get(w, "name")) ?: "";
                                const char *l[] = {"bundle", bundle, "workload", name, NULL, NULL, NULL};
                                const char *state = json_string_value(json_object_get(w, "state")) ?: "";
                                if (f == 1)
                                        prom_sample(p, fam[f].name, l, !strcmp(state, "running"));
                                else if (f == 2)
                                        prom_sample(p, fam[f].name, l, json_is_true(json_object_get(w, "healthy")));
                                else if (f == 3)
                                        prom_sample(p, fam[f].name, l,
                                                    (double)json_integer_value(json_object_get(w, "restarts")));
                                else {
                                        l[4] = "result";
                                        l[5] = "ok";
                                        prom_sample(p, fam[f].name, l,
                                                    (double)json_integer_value(json_object_get(w, "probesOk")));
                                        l[5] = "failed";
                                        prom_sample(p, fam[f].name, l,
                                                    (double)json_integer_value(json_object_get(w, "probesFailed")));
                                }
                        }
                }
        }
        json_decref(st);
}

char *metrics_render(struct agent *a, size_t *ret_len)
{
        struct prom p = {0};
        prom_family(&p, "berth_info", "gauge", "berth version of this agent (value 1).");
        prom_sample(&p, "berth_info", (const char *[]){"version", BERTH_VERSION, "controller", a->set.controller_id, NULL},
                    1);
        prom_family(&p, "berth_polls_total", "counter", "Polls of the rollout server by result.");
        prom_sample(&p, "berth_polls_total", (const char *[]){"result", "ok", NULL}, (double)a->metrics.polls_ok);
        prom_sample(&p, "berth_polls_total", (const char *[]){"result", "error", NULL},
                    (double)a->metrics.polls_failed);
        gauge(&p, "berth_last_poll_success_timestamp_seconds", "Unix time of the last successful poll (0: none).",
              (double)a->poll.last_ok);
        counter(&p, "berth_download_bytes_total", "Bytes of bundle blobs downloaded from the server.",
                (double)a->metrics.bytes_downloaded);
        http_loop_meter_sync(a->http);
        prom_family(&p, "berth_wan_bytes_total", "counter",
                    "Bytes exchanged with the rollout server on the wire (TLS and TCP/IP headers included).");
        prom_sample(&p, "berth_wan_bytes_total", (const char *[]){"direction", "rx", NULL},
                    (double)a->budget.meter.rx);
        prom_sample(&p, "berth_wan_bytes_total", (const char *[]){"direction", "tx", NULL},
                    (double)a->budget.meter.tx);
        gauge(&p, "berth_budget_used_bytes", "WAN bytes of the current budget period (both ways).",
              (double)budget_used(a));
        gauge(&p, "berth_budget_limit_bytes", "The data budget per period (0: none).", (double)a->set.budget_limit);
        gauge(&p, "berth_telemetry_sample_interval_seconds", "Seconds between telemetry samples now (0: none).",
              (double)telemetry_interval_ms(a) / 1000.0);
        counter(&p, "berth_layers_streamed_total",
                "Layers unpacked into containerd as they were downloaded, never stored compressed.",
                (double)a->metrics.layers_streamed);
        counter(&p, "berth_layers_streamed_bytes_total", "Compressed bytes of the layers unpacked as they arrived.",
                (double)a->metrics.layers_streamed_bytes);
        counter(&p, "berth_layers_dropped_bytes_total",
                "Compressed layer bytes dropped from berth's store because containerd holds them unpacked.",
                (double)a->layers.dropped_bytes);
        gauge(&p, "berth_layers_kept_for_peers",
              "Compressed layers containerd holds unpacked that berth's store keeps for site peers (peers.keep_for).",
              (double)a->layers.kept);
        counter(&p, "berth_peer_download_bytes_total", "Bytes of bundle blobs downloaded from site peers.",
                (double)a->peers.fetched_bytes);
        counter(&p, "berth_peer_download_failures_total",
                "Blob downloads from site peers that failed (unreachable, cut, refused, bytes that did not verify).",
                (double)a->peers.failures);
        if (a->peers.server) {
                struct peer_serve_stats ps;
                peer_serve_stats(a->peers.server, &ps);
                counter(&p, "berth_peer_served_bytes_total", "Bytes of blobs this gateway served to site peers.",
                        (double)ps.bytes);
                prom_family(&p, "berth_peer_requests_total", "counter", "Requests of site peers by answer.");
                prom_sample(&p, "berth_peer_requests_total", (const char *[]){"answer", "blob", NULL}, (double)ps.blobs);
                prom_sample(&p, "berth_peer_requests_total", (const char *[]){"answer", "not_found", NULL},
                            (double)ps.not_found);
                prom_sample(&p, "berth_peer_requests_total", (const char *[]){"answer", "unauthorized", NULL},
                            (double)ps.unauthorized);
        }
        prom_family(&p, "berth_blobs_total", "counter", "Downloaded blobs by verification result.");
        prom_sample(&p, "berth_blobs_total", (const char *[]){"result", "verified", NULL},
                    (double)a->metrics.blobs_verified);
        prom_sample(&p, "berth_blobs_total", (const char *[]){"result", "corrupt", NULL},
                    (double)a->metrics.blobs_corrupt);
        prom_family(&p, "berth_update_state", "gauge", "1 for the state of the current update, idle when none.");
        const char *cur = update_state_name(a);
        for (size_t i = 0; i < sizeof update_states / sizeof update_states[0]; i++)
                prom_sample(&p, "berth_update_state", (const char *[]){"state", update_states[i], NULL},
                            !strcmp(cur, update_states[i]));
        prom_family(&p, "berth_updates_total", "counter", "Finished updates by outcome.");
        prom_sample(&p, "berth_updates_total", (const char *[]){"result", "installed", NULL},
                    (double)a->metrics.updates_ok);
        prom_sample(&p, "berth_updates_total", (const char *[]){"result", "failed", NULL},
                    (double)a->metrics.updates_failed);
        prom_sample(&p, "berth_updates_total", (const char *[]){"result", "canceled", NULL},
                    (double)a->metrics.updates_canceled);
        unsigned outbox = 0;
        (void)agentdb_outbox_count(a->db, &outbox);
        gauge(&p, "berth_outbox_requests", "Feedback requests waiting for the server.", outbox);
        workload_metrics(a, &p);
        struct tm_stats st = {0};
        (void)agentdb_tm_stats(a->db, &st);
        gauge(&p, "berth_telemetry_queue_records", "Telemetry records waiting for the server.", (double)st.records);
        gauge(&p, "berth_telemetry_queue_bytes", "Accounted size of the queued telemetry records.", (double)st.bytes);
        counter(&p, "berth_telemetry_dropped_total",
                "Telemetry records dropped, oldest first, because the queue was full or too old (persistent).",
                (double)st.dropped);
        counter(&p, "berth_telemetry_sent_total", "Telemetry records delivered to the server by this process.",
                (double)a->metrics.tm_sent);
        if (p.failed) {
                prom_free(&p);
                return NULL;
        }
        *ret_len = p.len;
        return p.buf;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static void respond(struct conn *c, int status, const char *reason, const char *ctype, const char *body, size_t len)
{
        char *out = NULL;
        int n = asprintf(&out,
                         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                         "Cache-Control: no-store\r\n\r\n",
                         status, reason, ctype, len);
        if (n < 0)
                return;
        char *o = realloc(out, (size_t)n + len);
        if (!o) {
                free(out);
                return;
        }
        memcpy(o + n, body, len);
        conn_reply(c, o, (size_t)n + len);
}

static void respond_text(struct conn *c, int status, const char *reason, const char *msg)
{
        respond(c, status, reason, "text/plain", msg, strlen(msg));
}

static void handle_request(struct agent *a, struct conn *c, const char *head)
{
        char method[8] = "", target[256] = "";
        if (sscanf(head, "%7s %255s", method, target) != 2 || !strstr(head, " HTTP/1.")) {
                respond_text(c, 400, "Bad Request", "malformed request\n");
                return;
        }
        char *q = strchr(target, '?');
        if (q)
                *q = 0;
        if (strcmp(target, "/metrics")) {
                respond_text(c, 404, "Not Found", "not found: the agent serves only /metrics\n");
                return;
        }
        if (strcmp(method, "GET")) {
                respond_text(c, 405, "Method Not Allowed", "only GET is supported\n");
                return;
        }
        size_t len = 0;
        char *body = metrics_render(a, &len);
        if (!body) {
                respond_text(c, 500, "Internal Server Error", "out of memory\n");
                return;
        }
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
        free(body);
}

/* The request head, once it is complete (an empty line); nothing after it is read. */
static int on_input(struct conn *c, const uint8_t *in, size_t len, void *ud)
{
        char head[METRICS_MAX_HEAD + 1];
        size_t n = len < METRICS_MAX_HEAD ? len : METRICS_MAX_HEAD;
        memcpy(head, in, n);
        head[n] = 0;
        if (strlen(head) != n) {
                respond_text(c, 400, "Bad Request", "malformed request\n");
                return 1;
        }
        if (!strstr(head, "\r\n\r\n") && !strstr(head, "\n\n")) {
                if (n < METRICS_MAX_HEAD)
                        return 0;
                respond_text(c, 431, "Request Header Fields Too Large", "request head too large\n");
                return 1;
        }
        handle_request(ud, c, head);
        return 1;
}

/* "127.0.0.1:9464", "[::1]:9464" or "localhost:9464"; loopback only. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, berr *e)
{
        char buf[80];
        if (!strncmp(s, "localhost:", 10) && strlen(s) < sizeof buf - 1) {
                snprintf(buf, sizeof buf, "127.0.0.1:%s", s + 10);
                s = buf;
        }
        if (addr_parse(s, false, ss, len) < 0)
                return berr_set(e, -EINVAL, "config metrics.listen = '%s': expected 127.0.0.1:PORT or [::1]:PORT", s);
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        if (ss->ss_family == AF_INET ? (ntohl(v4->sin_addr.s_addr) >> 24) != 127 : !IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
                return berr_set(e, -EINVAL, "config metrics.listen = '%s': the metrics endpoint listens on loopback "
                                "only (127.0.0.0/8 or ::1); scrape it through a local Prometheus agent or an SSH "
                                "tunnel", s);
        return 0;
}

int metrics_start(struct agent *a, berr *e)
{
        if (!a->set.metrics_listen)
                return 0;
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int r = parse_listen(a->set.metrics_listen, &ss, &len, e);
        if (r < 0)
                return r;
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_set(e, -errno, "metrics endpoint: socket: %s", strerror(errno));
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
                r = berr_set(e, -errno, "metrics endpoint: cannot listen on %s: %s", a->set.metrics_listen,
                             strerror(errno));
                close(fd);
                return r;
        }
        a->metrics.endpoint = (struct connset){
                .ev = a->ev,
                .what = "metrics endpoint",
                .max = METRICS_MAX_CONN,
                .deadline_usec = METRICS_TIMEOUT_US,
                .max_in = METRICS_MAX_HEAD,
                .on_input = on_input,
                .userdata = a,
        };
        r = connset_start(&a->metrics.endpoint, fd, e);
        if (r < 0)
                return r;
        /* The real port (metrics.listen may say :0, as the tests do). */
        struct sockaddr_storage bound = {0};
        socklen_t bl = sizeof bound;
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0) {
                if (bound.ss_family == AF_INET6) {
                        struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&bound;
                        inet_ntop(AF_INET6, &b6->sin6_addr, host, sizeof host);
                        port = ntohs(b6->sin6_port);
                } else {
                        struct sockaddr_in *b4 = (struct sockaddr_in *)&bound;
                        inet_ntop(AF_INET, &b4->sin_addr, host, sizeof host);
                        port = ntohs(b4->sin_port);
                }
        }
        log_info("agent: Prometheus metrics on http://%s%s%s:%u/metrics", bound.ss_family == AF_INET6 ? "[" : "",
                 host, bound.ss_family == AF_INET6 ? "]" : "", port);
        return 0;
}

void metrics_stop(struct agent *a)
{
        connset_stop(&a->metrics.endpoint);
}
