/* SPDX-License-Identifier: Apache-2.0 */
/* telemetry.c — the agent's telemetry store-and-forward:
 *
 *   producers  events (agent start, update steps, workload restarts and health
 *              changes, server back after an outage) and a sample of the agent and of
 *              every workload each telemetry.interval;
 *   queue      telemetry_queue in berth.db, bounded by telemetry.max_records,
 *              max_bytes and max_age; the oldest records go first and are counted;
 *   sender     batches of ≤ 32 consecutive records as DDI configData (tm.* keys, see
 *              agent/telemetry/README.md), one request at a time, only while the server
 *              answers polls, the outbox (feedback) is empty and no download runs:
 *              updates first on a thin link.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "daemon/agent_int.h"
#include "telemetry/record.h"
#include "workload/engine.h"

static void tm_push(struct agent *a, const char *kind, const char *source, const char *text)
{
        if (!a->set.tm_enabled || !a->base_url)
                return; /* without a server nobody would read it: spare the flash */
        char src[TM_SOURCE_MAX + 1], txt[TM_TEXT_MAX + 1];
        tm_source_name(src, source);
        tm_sanitize(txt, TM_TEXT_MAX, text);
        uint64_t dropped = 0, queued = 0;
        int64_t now = agent_now();
        int r = agentdb_tm_push(a->db, now, kind, src, txt, &a->set.tm_limits, now, &dropped, &queued);
        if (r < 0) {
                log_warning("agent: cannot queue telemetry (%s %s): database error", kind, src);
                return;
        }
        if (dropped && !a->tm.dropping) {
                log_warning("agent: the telemetry queue is full (telemetry.max_records/max_bytes/max_age); dropping "
                            "the oldest records until the server takes them");
                a->tm.dropping = true;
        }
        if (queued >= TM_BATCH_MAX)
                telemetry_kick(a);
}

void telemetry_event(struct agent *a, const char *source, const char *fmt, ...)
{
        char text[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        tm_push(a, "event", source, text);
}

/* ---- workload observer --------------------------------------------------------------- */

/* What the last engine round showed of one workload instance. */
struct wl_seen {
        char key[200];          /* bundle/name/version */
        int64_t restarts;
        bool healthy;
        bool mark;
};

static struct wl_seen *seen_find(struct agent *a, const char *key)
{
        for (size_t i = 0; i < a->tm.n_seen; i++)
                if (!strcmp(a->tm.seen[i].key, key))
                        return &a->tm.seen[i];
        return NULL;
}

static void observe_one(struct agent *a, const char *bundle, json_t *w)
{
        const char *name = json_string_value(json_object_get(w, "name"));
        if (!name)
                return;
        char key[200];
        snprintf(key, sizeof key, "%s/%s/%" JSON_INTEGER_FORMAT, bundle, name,
                 json_integer_value(json_object_get(w, "version")));
        json_int_t version = json_integer_value(json_object_get(w, "version"));
        int64_t restarts = json_integer_value(json_object_get(w, "restarts"));
        bool healthy = json_is_true(json_object_get(w, "healthy"));
        struct wl_seen *s = seen_find(a, key);
        if (!s) {
                struct wl_seen *nv = realloc(a->tm.seen, (a->tm.n_seen + 1) * sizeof *nv);
                if (!nv)
                        return;
                a->tm.seen = nv;
                s = &a->tm.seen[a->tm.n_seen++];
                snprintf(s->key, sizeof s->key, "%s", key);
                s->restarts = restarts;
                s->healthy = healthy;
        }
        s->mark = true;
        if (restarts > s->restarts) {
                json_t *ex = json_object_get(w, "lastExit");
                telemetry_event(a, name,
                                "version %" JSON_INTEGER_FORMAT " restarted (restart %" PRId64
                                "; exit %" JSON_INTEGER_FORMAT "%s)",
                                version, restarts, json_is_integer(ex) ? json_integer_value(ex) : -1,
                                json_is_true(json_object_get(w, "oomKilled")) ? ", OOM killed" : "");
        }
        if (healthy != s->healthy)
                telemetry_event(a, name, healthy ? "version %" JSON_INTEGER_FORMAT " healthy%.0s"
                                                 : "version %" JSON_INTEGER_FORMAT " unhealthy: %s",
                                version, json_string_value(json_object_get(w, "lastProbe")) ?: "");
        s->restarts = restarts;
        s->healthy = healthy;
}

/* A bundle's last engine update, as "kind from to state". */
struct upd_seen {
        char bundle[129];
        char sig[96];
};

/* Updates the server did not ask for (berth activate / rollback on the gateway) have no
 * action whose events tell their outcome: say it here. */
static void observe_update(struct agent *a, const char *bundle, json_t *u)
{
        const char *kind = json_string_value(json_object_get(u, "kind"));
        const char *state = json_string_value(json_object_get(u, "state"));
        if (!kind || !state)
                return;
        json_int_t from = json_integer_value(json_object_get(u, "from"));
        json_int_t to = json_integer_value(json_object_get(u, "to"));
        char sig[96];
        snprintf(sig, sizeof sig, "%s %" JSON_INTEGER_FORMAT " %" JSON_INTEGER_FORMAT " %s", kind, from, to, state);
        struct upd_seen *s = NULL;
        for (size_t i = 0; i < a->tm.n_useen && !s; i++)
                if (!strcmp(a->tm.useen[i].bundle, bundle))
                        s = &a->tm.useen[i];
        if (!s) {
                struct upd_seen *nv = realloc(a->tm.useen, (a->tm.n_useen + 1) * sizeof *nv);
                if (!nv)
                        return;
                a->tm.useen = nv;
                s = &a->tm.useen[a->tm.n_useen++];
                snprintf(s->bundle, sizeof s->bundle, "%s", bundle);
                snprintf(s->sig, sizeof s->sig, "%s", sig); /* the state found at start: no event */
                return;
        }
        if (!strcmp(s->sig, sig))
                return;
        snprintf(s->sig, sizeof s->sig, "%s", sig);
        bool finished = !strcmp(state, "committed") || !strcmp(state, "rolled_back");
        const char *open = update_bundle(a, NULL);
        bool server_action = open && !strcmp(open, bundle);
        if (finished && !server_action)
                telemetry_event(a, "agent",
                                "%s %s %" JSON_INTEGER_FORMAT " -> %" JSON_INTEGER_FORMAT " on the gateway: %s: %s",
                                bundle, kind, from, to, state,
                                json_string_value(json_object_get(u, "evidence")) ?: "");
}

void telemetry_on_workloads(struct agent *a)
{
        if (!a->eng || !a->set.tm_enabled)
                return;
        json_t *st = workload_engine_status(a->eng);
        for (size_t i = 0; i < a->tm.n_seen; i++)
                a->tm.seen[i].mark = false;
        size_t i;
        json_t *b;
        json_array_foreach(st, i, b) {
                const char *bundle = json_string_value(json_object_get(b, "bundle"));
                if (bundle && json_is_object(json_object_get(b, "lastUpdate")))
                        observe_update(a, bundle, json_object_get(b, "lastUpdate"));
                size_t k;
                json_t *w;
                json_array_foreach(json_object_get(b, "workloads"), k, w) observe_one(a, bundle ? bundle : "", w);
        }
        json_decref(st);
        /* Forget instances that are gone (old versions). */
        size_t o = 0;
        for (size_t k = 0; k < a->tm.n_seen; k++)
                if (a->tm.seen[k].mark)
                        a->tm.seen[o++] = a->tm.seen[k];
        a->tm.n_seen = o;
}

/* ---- samples ------------------------------------------------------------------------- */

static long rss_kb(void)
{
        char *buf = NULL;
        size_t len;
        long kb = -1;
        if (read_file_bounded("/proc/self/status", 64 * 1024, &buf, &len) < 0)
                return -1;
        const char *p = strstr(buf, "\nVmRSS:");
        if (p)
                kb = strtol(p + 7, NULL, 10);
        free(buf);
        return kb;
}

static void sample(struct agent *a)
{
        struct tm_stats st;
        if (agentdb_tm_stats(a->db, &st) < 0)
                return;
        char text[256];
        snprintf(text, sizeof text,
                 "up=%" PRIu64 " rss_kb=%ld polls_ok=%" PRIu64 " polls_failed=%" PRIu64 " queue=%" PRIu64
                 " dropped=%" PRIu64 " update=%s",
                 (agent_mono_usec(a) - a->tm.start_usec) / 1000000, rss_kb(), a->metrics.polls_ok,
                 a->metrics.polls_failed, st.records, st.dropped, update_state_name(a));
        tm_push(a, "sample", "agent", text);
        /* The WAN usage of the budget period (a record of its own: a value holds 100 bytes). */
        uint64_t used = budget_used(a), lim = a->set.budget_limit;
        if (lim)
                snprintf(text, sizeof text, "used=%" PRIu64 " left=%" PRIu64 " limit=%" PRIu64 " low=%d", used,
                         used < lim ? lim - used : 0, lim, budget_low(a));
        else
                snprintf(text, sizeof text, "used=%" PRIu64, used);
        tm_push(a, "sample", "wan", text);
        json_t *tr = trustroots_json(a);
        json_t *root = json_object_get(tr, "root");
        if (root) {
                snprintf(text, sizeof text, "root=%" JSON_INTEGER_FORMAT " expires=%s expired=%d untrusted=%zu",
                         json_integer_value(json_object_get(root, "version")),
                         json_string_value(json_object_get(root, "expires")) ?: "never",
                         json_is_true(json_object_get(root, "expired")), json_array_size(json_object_get(tr, "untrusted")));
                tm_push(a, "sample", "trust", text);
        } else if (tr)
                tm_push(a, "sample", "trust", json_string_value(json_object_get(tr, "error")) ?: "trust root unreadable");
        json_decref(tr);
        if (!a->eng)
                return;
        json_t *ws = workload_engine_status(a->eng);
        size_t i;
        json_t *b;
        json_array_foreach(ws, i, b) {
                size_t k;
                json_t *w;
                json_array_foreach(json_object_get(b, "workloads"), k, w) {
                        snprintf(text, sizeof text,
                                 "v=%" JSON_INTEGER_FORMAT " state=%s healthy=%d restarts=%" JSON_INTEGER_FORMAT
                                 " probes_ok=%" JSON_INTEGER_FORMAT " probes_failed=%" JSON_INTEGER_FORMAT,
                                 json_integer_value(json_object_get(w, "version")),
                                 json_string_value(json_object_get(w, "state")) ?: "?",
                                 json_is_true(json_object_get(w, "healthy")),
                                 json_integer_value(json_object_get(w, "restarts")),
                                 json_integer_value(json_object_get(w, "probesOk")),
                                 json_integer_value(json_object_get(w, "probesFailed")));
                        tm_push(a, "sample", json_string_value(json_object_get(w, "name")) ?: "workload", text);
                }
        }
        json_decref(ws);
}

uint64_t telemetry_interval_ms(struct agent *a)
{
        /* A low data budget: samples four times less often; events are kept. */
        return a->set.tm_interval_ms * (budget_low(a) ? 4 : 1);
}

static int on_sample(sd_event_source *s, uint64_t usec, void *ud)
{
        struct agent *a = ud;
        sample(a);
        uint64_t expired = 0;
        (void)agentdb_tm_expire(a->db, &a->set.tm_limits, agent_now(), &expired);
        /* A fixed rate: the next sample is due one interval after this one was (after
         * a stall of the loop: one interval from now, no burst of catch-up samples). */
        uint64_t iv = telemetry_interval_ms(a) * 1000;
        uint64_t next = usec + iv, now = agent_mono_usec(a);
        (void)sd_event_source_set_time(s, next > now ? next : now + iv);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* ---- sender ---------------------------------------------------------------------------- */

static void on_batch_sent(void *ud, int r, const struct http_response *resp, const berr *he);

/* Updates first: no telemetry while feedback waits or an update downloads, nor while
 * the server is known to be unreachable (the next good poll kicks us). */
static bool may_send(struct agent *a)
{
        if (!a->base_url || a->tm.req || a->poll.failures || !a->poll.last_ok)
                return false;
        if (outbox_sending(a))
                return false;
        unsigned q = 0;
        if (agentdb_outbox_count(a->db, &q) < 0 || q)
                return false;
        if (update_downloading(a))
                return false;
        return true;
}

static void send_batch(struct agent *a)
{
        if (!may_send(a))
                return;
        struct tm_record recs[TM_BATCH_MAX];
        size_t n = 0;
        struct tm_stats st;
        if (agentdb_tm_peek(a->db, TM_BATCH_MAX, recs, &n) < 0 || n == 0 || agentdb_tm_stats(a->db, &st) < 0)
                return;
        free(a->tm.body);
        a->tm.body = tm_batch_json(st.queue_id, recs, n, st.dropped, st.records - n);
        if (!a->tm.body)
                return;
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/configData", a->base_url) < 0)
                return;
        struct http_req_opts o = agent_server_req(a, url);
        o.method = "PUT";
        o.content_type = "application/json";
        o.body = a->tm.body;
        o.body_len = strlen(a->tm.body);
        o.timeout_ms = 60000;
        o.max_body = 64 * 1024;
        o.on_done = on_batch_sent;
        a->tm.last = recs[n - 1].seq;
        a->tm.n = n;
        berr e = {0};
        int r = http_start(a->http, &o, &a->tm.req, &e);
        if (r < 0)
                log_warning("agent: cannot send telemetry: %s", berr_msg(&e, r));
}

static void on_batch_sent(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct agent *a = ud;
        a->tm.req = NULL;
        if (outbox_answer_is_transient(r, resp)) {
                if (!a->tm.failures++) {
                        if (r < 0)
                                log_info("agent: telemetry kept for later: %s", berr_msg(he, r));
                        else
                                log_info("agent: telemetry kept for later: the server answered HTTP %ld", resp->status);
                }
                return;
        }
        a->tm.failures = 0;
        if (resp->status >= 300) {
                /* Refused for good (a hawkBit quota, a server without telemetry): these
                 * records are dropped and counted, so the queue does not stall. */
                log_warning("agent: the server refused %zu telemetry record(s) (HTTP %ld: %.200s); dropping them",
                            a->tm.n, resp->status, resp->body ? resp->body : "");
                (void)agentdb_tm_remove(a->db, a->tm.last - (int64_t)a->tm.n + 1, a->tm.last, true);
        } else {
                (void)agentdb_tm_remove(a->db, a->tm.last - (int64_t)a->tm.n + 1, a->tm.last, false);
                a->metrics.tm_sent += a->tm.n;
                a->tm.dropping = false;
        }
        telemetry_kick(a);
}

static int on_tm_kick(sd_event_source *s, uint64_t usec, void *ud)
{
        send_batch(ud);
        return 0;
}

/* Deferred to the loop: kicks come from inside curl callbacks. */
void telemetry_kick(struct agent *a)
{
        if (!a->base_url || a->tm.req || !a->set.tm_enabled)
                return;
        (void)agent_timer(a, &a->tm.kick, 0, on_tm_kick, "telemetry-kick");
}

int telemetry_start(struct agent *a, berr *e)
{
        a->tm.start_usec = agent_mono_usec(a);
        if (!a->set.tm_enabled || !a->base_url)
                return 0;
        telemetry_event(a, "agent", "agent started (berth %s, controller %s)", BERTH_VERSION, a->set.controller_id);
        if (a->set.tm_interval_ms &&
            sd_event_add_time_relative(a->ev, &a->tm.sample, CLOCK_MONOTONIC, a->set.tm_interval_ms * 1000, 1000,
                                       on_sample, a) < 0)
                return berr_set(e, -EIO, "cannot arm the telemetry sample timer");
        if (a->tm.sample) {
                (void)sd_event_source_set_enabled(a->tm.sample, SD_EVENT_ON);
                (void)sd_event_source_set_description(a->tm.sample, "telemetry-sample");
        }
        return 0;
}

void telemetry_stop(struct agent *a)
{
        http_req_cancel(a->tm.req);
        a->tm.req = NULL;
        a->tm.kick = sd_event_source_disable_unref(a->tm.kick);
        a->tm.sample = sd_event_source_disable_unref(a->tm.sample);
        free(a->tm.body);
        a->tm.body = NULL;
        free(a->tm.seen);
        a->tm.seen = NULL;
        a->tm.n_seen = 0;
        free(a->tm.useen);
        a->tm.useen = NULL;
        a->tm.n_useen = 0;
}
