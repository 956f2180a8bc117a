/* SPDX-License-Identifier: Apache-2.0 */
/* daemon.c — the agent's event loop: setup (settings, store, DB, backends, HTTP, control
 * socket), signals, sd_notify (READY/STATUS; WATCHDOG=1 from sd-event's watchdog
 * support), and orderly teardown. The parts it drives live in poll.c, update.c,
 * outbox.c and control.c.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "daemon/agent_int.h"
#include "containerd/preload.h"
#include "import/backends.h"

int64_t agent_now(void)
{
        return now_seconds();
}

uint64_t agent_mono_usec(struct agent *a)
{
        uint64_t t = 0;
        (void)sd_event_now(a->ev, CLOCK_MONOTONIC, &t);
        return t;
}

uint32_t agent_random(void)
{
        uint32_t v;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
                v = (uint32_t)random();
        return v;
}

void agent_status(struct agent *a, const char *fmt, ...)
{
        char buf[sizeof a->status];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (!strcmp(buf, a->status))
                return;
        memcpy(a->status, buf, sizeof buf);
        (void)sd_notifyf(0, "STATUS=%s", buf);
}

struct http_req_opts agent_server_req(struct agent *a, const char *url)
{
        return (struct http_req_opts){
                .url = url,
                .peer = "the rollout server",
                .authorization = a->set.authorization,
                .plain_credentials = a->set.insecure,
                .tls = &a->tls,
                .accept = "application/hal+json, application/json, */*",
                .connect_timeout_ms = (uint64_t)a->set.connect_timeout * 1000,
                .follow_redirects = true,
                .meter = &a->budget.meter,
                .userdata = a,
        };
}

int agent_ddi_get(struct agent *a, const char *url, const char *const *headers, http_done_fn done,
                  struct http_req **ret, berr *e)
{
        struct http_req_opts o = agent_server_req(a, url);
        o.headers = headers;
        o.timeout_ms = 120000;
        o.max_body = DDI_MAX_BODY;
        o.on_done = done;
        return http_start(a->http, &o, ret, e);
}

int agent_timer(struct agent *a, sd_event_source **s, uint64_t delay_ms,
                int (*cb)(sd_event_source *, uint64_t, void *), const char *what)
{
        uint64_t when = agent_mono_usec(a) + delay_ms * 1000;
        if (*s) {
                int r = sd_event_source_set_time(*s, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
                return r;
        }
        int r = sd_event_add_time(a->ev, s, CLOCK_MONOTONIC, when, 10 * 1000, cb, a);
        if (r >= 0)
                (void)sd_event_source_set_description(*s, what);
        return r;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
        struct agent *a = ud;
        log_info("agent: %s received, stopping", strsignal((int)si->ssi_signo));
        (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
        return sd_event_exit(a->ev, 0);
}

/* SIGHUP (systemctl reload): the configuration is read at start only, so say so; and
 * take the hint to talk to the server now (poll, flush the outbox). */
static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
        struct agent *a = ud;
        log_notice("agent: SIGHUP: configuration changes need a restart (systemctl restart berth-agent); "
                   "polling the server now");
        poll_schedule(a, 0);
        outbox_kick(a);
        return 0;
}

/* Preload targets named in update.backends ("store" is implicit: every bundle lands in
 * the content store first). Layers containerd unpacked leave berth's store (at once, or
 * after peers.keep_for on a gateway serving site peers: layers.h). */
static int make_backends(struct agent *a, berr *e)
{
        const struct import_backends_opts o = {.names = a->set.backends};
        return import_backends_new(a->cfg, &o, a->backends, &a->n_backends, e);
}

static void agent_free(struct agent *a)
{
        update_stop(a);
        layers_stop(a);
        peers_stop(a); /* its server threads read the content store */
        poll_stop(a);
        consent_stop(a);
        telemetry_stop(a);
        metrics_stop(a);
        outbox_stop(a);
        control_stop(a);
        workloads_stop(a);
        budget_stop(a); /* the loop's last counts */
        http_loop_free(a->http);
        import_backends_free(a->backends, a->n_backends);
        content_store_free(a->cs);
        db_close(a->db);
        free(a->base_url);
        agent_settings_clear(&a->set);
        sd_event_unref(a->ev);
}

int agent_main(const struct berth_config *cfg, berr *e)
{
        struct agent a = {.cfg = cfg, .ctl = {.conns = {.listen_fd = -1}}, .metrics = {.endpoint = {.listen_fd = -1}},
                          .wl = {.lock = -1}, .upd = {.update_allowed = -1, .download_allowed = -1, .last_pct = -1}};
        int r = agent_settings_load(cfg, &a.set, e);
        if (r < 0)
                return r;
        a.tls = (struct http_tls){.ca_file = a.set.ca_file, .cert_file = a.set.cert_file, .key_file = a.set.key_file,
                                  .ca_setting = "server.ca_file"};
        srandom((unsigned)agent_random());
        if (a.set.server_url) {
                const char *u = a.set.server_url;
                size_t n = strlen(u);
                while (n && u[n - 1] == '/')
                        n--;
                if (asprintf(&a.base_url, "%.*s/%s/controller/v1/%s", (int)n, u, a.set.tenant, a.set.controller_id) < 0)
                        return -ENOMEM;
        }
        r = db_open(a.set.state_dir, &a.db, e);
        if (r >= 0)
                r = content_store_open(a.set.state_dir, &a.cs, e);
        if (r >= 0)
                r = make_backends(&a, e);
        if (r >= 0)
                r = sd_event_default(&a.ev) < 0 ? berr_set(e, -EIO, "cannot create the event loop") : 0;
        if (r >= 0) {
                sigset_t ss;
                sigemptyset(&ss);
                sigaddset(&ss, SIGTERM);
                sigaddset(&ss, SIGINT);
                sigaddset(&ss, SIGHUP);
                sigprocmask(SIG_BLOCK, &ss, NULL);
                signal(SIGPIPE, SIG_IGN);
                if (sd_event_add_signal(a.ev, NULL, SIGTERM, on_signal, &a) < 0 ||
                    sd_event_add_signal(a.ev, NULL, SIGINT, on_signal, &a) < 0 ||
                    sd_event_add_signal(a.ev, NULL, SIGHUP, on_hup, &a) < 0)
                        r = berr_set(e, -EIO, "cannot watch SIGTERM/SIGINT/SIGHUP");
        }
        /* WATCHDOG=1 at half of WATCHDOG_USEC, sent from the loop itself: a stuck loop
         * stops the pings and systemd restarts us. */
        if (r >= 0)
                (void)sd_event_set_watchdog(a.ev, true);
        if (r >= 0)
                r = http_loop_new(a.ev, &a.http, e);
        if (r >= 0)
                r = budget_start(&a, e);
        if (r >= 0)
                r = workloads_start(&a, e);
        if (r >= 0)
                r = control_start(&a, e);
        if (r >= 0)
                r = metrics_start(&a, e);
        if (r >= 0) {
                /* Site peers save WAN bytes; they never cost the gateway its updates. */
                berr pe = {0};
                int pr = peers_start(&a, &pe);
                if (pr < 0) {
                        log_error("agent: site peers are off: %s", berr_msg(&pe, pr));
                        peers_stop(&a);
                        a.peers = (struct peers_state){.disc_fd = -1};
                }
        }
        if (r >= 0) {
                berr le = {0};
                int lr = layers_start(&a, &le);
                if (lr < 0)
                        log_error("agent: the layers kept for site peers are not dropped later: %s", berr_msg(&le, lr));
        }
        if (r >= 0)
                r = telemetry_start(&a, e);
        if (r < 0) {
                agent_free(&a);
                return r;
        }
        update_resume(&a);
        if (a.base_url) {
                log_info("agent: polling %s as %s every %llu-%llu s", a.set.server_url, a.set.controller_id,
                         (unsigned long long)(a.set.poll.min_ms / 1000), (unsigned long long)(a.set.poll.max_ms / 1000));
                /* Said once, loudly: a token in clear text is a key to the fleet. */
                if (a.set.authorization && !strncasecmp(a.set.server_url, "http://", 7))
                        log_error("agent: server.url is plain http://: %s", a.set.insecure
                                  ? "the token travels in clear text (server.insecure = true); use https:// outside tests"
                                  : "the token would travel in clear text, so no request is sent; use an https:// URL "
                                    "(or server.insecure = true, for tests only)");
                poll_schedule(&a, 0);
        } else
                log_info("agent: no server.url configured; serving the control socket only");
        if (!a.status[0])
                agent_status(&a, a.base_url ? "polling" : "idle (no server configured)");
        (void)sd_notifyf(0, "READY=1\nMAINPID=%d", (int)getpid());
        log_info("agent: ready (state %s, control socket %s)", a.set.state_dir, a.set.socket_path);
        r = sd_event_loop(a.ev);
        agent_free(&a);
        if (r < 0)
                return berr_set(e, r, "event loop failed: %s", strerror(-r));
        return 0;
}
