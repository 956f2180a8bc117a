/* SPDX-License-Identifier: Apache-2.0 */
/* poll.c — DDI polling: GET the controller base, follow its links (cancelAction first,
 * then deploymentBase, or confirmationBase for an action that waits for consent;
 * trustRoots alongside), send configData when asked or when
 * attributes changed, and schedule the next poll: the server's sleep within
 * [poll_min, poll_max] plus jitter, or exponential backoff with jitter after a failure,
 * never sooner than a 429/503 answer's Retry-After. The base is asked for with
 * If-None-Match when the server gave it an ETag; 304 reuses the base kept in memory.
 * Every failure is logged once per change of cause, with the cause in a sentence;
 * nothing is lost while the server is away (feedback waits in the outbox).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "daemon/agent_int.h"
#include "daemon/poll.h"
#include "sched/backoff.h"

/* The longest Retry-After honoured: a server asking for more is still polled daily. */
#define RETRY_AFTER_MAX_S (24 * 3600)

static void poll_start(struct agent *a);

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        poll_start(ud);
        return 0;
}

void poll_schedule(struct agent *a, uint64_t delay_ms)
{
        if (!a->base_url)
                return;
        if (agent_timer(a, &a->poll.timer, delay_ms, on_poll_timer, "ddi-poll") < 0)
                log_error("agent: cannot arm the poll timer");
}

static void forget_base(struct agent *a)
{
        free(a->poll.base);
        a->poll.base = NULL;
        a->poll.etag[0] = 0;
}

void poll_stop(struct agent *a)
{
        http_req_cancel(a->poll.req);
        a->poll.req = NULL;
        trustroots_stop(a);
        a->poll.timer = sd_event_source_disable_unref(a->poll.timer);
        forget_base(a);
}

/* A failed poll. resp: the server's answer when there was one (NULL: none arrived). */
static void poll_failed(struct agent *a, int r, const char *msg, const struct http_response *resp)
{
        a->poll.failures++;
        a->metrics.polls_failed++;
        uint64_t d = backoff_delay_ms(&a->set.poll, a->poll.failures, agent_random());
        if (resp && (resp->status == 429 || resp->status == 503) && resp->retry_after >= 0) {
                int64_t ra = resp->retry_after < RETRY_AFTER_MAX_S ? resp->retry_after : RETRY_AFTER_MAX_S;
                if ((uint64_t)ra * 1000 > d)
                        d = (uint64_t)ra * 1000;
        }
        if (strcmp(msg, a->poll.last_error)) {
                log_warning("agent: polling %s failed: %s; retrying with backoff (next in %.1f s)", a->base_url, msg,
                            (double)d / 1000);
                snprintf(a->poll.last_error, sizeof a->poll.last_error, "%s", msg);
        } else
                log_debug("agent: poll failed again (%u): %s", a->poll.failures, msg);
        if (update_transferring(a))
                ;
        else if (resp)
                agent_status(a, "%s; retry in %.1f s", msg, (double)d / 1000);
        else
                agent_status(a, "server unreachable (%s); retry in %.1f s", strerror(-r), (double)d / 1000);
        poll_schedule(a, d);
}

static void poll_succeeded(struct agent *a)
{
        if (a->poll.failures) {
                log_info("agent: server %s answers again after %u failed poll(s)", a->set.server_url, a->poll.failures);
                telemetry_event(a, "agent", "server reachable again after %u failed poll(s)", a->poll.failures);
        }
        a->poll.failures = 0;
        a->metrics.polls_ok++;
        a->poll.last_error[0] = 0;
        a->poll.last_ok = agent_now();
        if (!update_transferring(a) && update_idle(a))
                agent_status(a, "polling");
        poll_schedule(a, poll_delay_ms(&a->set.poll, a->poll.sleep, agent_random()));
        outbox_kick(a);
        telemetry_kick(a);
}

/* One sentence for an HTTP answer that is not the expected 200. */
static int http_problem(struct agent *a, const char *what, const struct http_response *resp, char *buf, size_t n)
{
        if (resp->status == 401 || resp->status == 403)
                snprintf(buf, n, "%s: the server refused our credentials (HTTP %ld); check server.token(_file) or "
                         "server.cert/key for controller %s", what, resp->status, a->set.controller_id);
        else if (resp->status == 404)
                snprintf(buf, n, "%s: HTTP 404; is controller %s registered on the server, and tenant '%s' right?", what,
                         a->set.controller_id, a->set.tenant);
        else if (resp->status >= 500)
                snprintf(buf, n, "%s: server error HTTP %ld", what, resp->status);
        else
                snprintf(buf, n, "%s: unexpected HTTP %ld", what, resp->status);
        return resp->status >= 500 ? -EAGAIN : -EPROTO;
}

static int get(struct agent *a, const char *url, const char *const *headers, http_done_fn done)
{
        berr e = {0};
        int r = agent_ddi_get(a, url, headers, done, &a->poll.req, &e);
        if (r < 0)
                poll_failed(a, r, berr_msg(&e, r), NULL);
        return r;
}

enum followup { FOLLOW_CANCEL, FOLLOW_DEPLOYMENT, FOLLOW_CONFIRMATION };

static void on_followup(void *ud, int r, const struct http_response *resp, const berr *he, enum followup kind)
{
        struct agent *a = ud;
        a->poll.req = NULL;
        char msg[512];
        berr e = {0};
        const char *what = kind == FOLLOW_CANCEL ? "cancelAction" : kind == FOLLOW_DEPLOYMENT ? "deploymentBase"
                                                                                            : "confirmationBase";
        if (r < 0) {
                poll_failed(a, r, berr_msg(he, r), NULL);
                return;
        }
        if (resp->status != 200) {
                r = http_problem(a, what, resp, msg, sizeof msg);
                poll_failed(a, r, msg, resp);
                return;
        }
        if (kind == FOLLOW_CANCEL) {
                struct ddi_cancel c;
                r = ddi_parse_cancel(resp->body, resp->body_len, &c, &e);
                if (r >= 0)
                        update_on_cancel(a, &c);
        } else if (kind == FOLLOW_CONFIRMATION) {
                struct ddi_deployment d;
                r = ddi_parse_confirmation(resp->body, resp->body_len, &d, &e);
                if (r >= 0) {
                        consent_on_poll(a, &d);
                        ddi_deployment_clear(&d);
                }
        } else {
                struct ddi_deployment d;
                r = ddi_parse_deployment(resp->body, resp->body_len, &d, &e);
                if (r >= 0) {
                        update_on_deployment(a, &d);
                        ddi_deployment_clear(&d);
                }
        }
        if (r < 0) {
                poll_failed(a, r, berr_msg(&e, r), resp);
                return;
        }
        poll_succeeded(a);
}

static void on_deployment(void *ud, int r, const struct http_response *resp, const berr *he)
{
        on_followup(ud, r, resp, he, FOLLOW_DEPLOYMENT);
}

static void on_cancel(void *ud, int r, const struct http_response *resp, const berr *he)
{
        on_followup(ud, r, resp, he, FOLLOW_CANCEL);
}

static void on_confirmation(void *ud, int r, const struct http_response *resp, const berr *he)
{
        on_followup(ud, r, resp, he, FOLLOW_CONFIRMATION);
}

/* configData when the server asks (first contact, after updates) or attributes changed. */
static void maybe_send_attrs(struct agent *a, bool asked)
{
        char **attrs = attrs_collect(a);
        if (!attrs)
                return;
        _cleanup_free_ char *body = ddi_config_data_json((const char *const *)attrs);
        attrs_free(attrs);
        if (!body)
                return;
        _cleanup_free_ char *sent = NULL;
        bool changed = agentdb_kv_get(a->db, "attributes", &sent) <= 0 || strcmp(sent, body);
        if (!asked && !changed)
                return;
        outbox_put(a, "configData", "PUT", "/configData", body);
        (void)agentdb_kv_set(a->db, "attributes", body);
}

/* Keeps a base that came with an ETag for the next poll's If-None-Match. */
static void keep_base(struct agent *a, const struct http_response *resp)
{
        forget_base(a);
        if (!resp->etag[0] || !resp->body)
                return;
        a->poll.base = malloc(resp->body_len + 1);
        if (!a->poll.base)
                return;
        memcpy(a->poll.base, resp->body, resp->body_len + 1);
        a->poll.base_len = resp->body_len;
        snprintf(a->poll.etag, sizeof a->poll.etag, "%s", resp->etag);
}

static void on_base(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct agent *a = ud;
        a->poll.req = NULL;
        char msg[512];
        if (r < 0) {
                poll_failed(a, r, berr_msg(he, r), NULL);
                return;
        }
        const char *body = resp->body;
        size_t len = resp->body_len;
        if (resp->status == 304 && a->poll.base) {
                a->poll.not_modified++;
                body = a->poll.base;
                len = a->poll.base_len;
        } else if (resp->status != 200) {
                r = http_problem(a, "poll", resp, msg, sizeof msg);
                poll_failed(a, r, msg, resp);
                return;
        } else
                keep_base(a, resp);
        struct ddi_base b;
        berr e = {0};
        r = ddi_parse_base(body, len, &b, &e);
        if (r < 0) {
                forget_base(a);
                poll_failed(a, r, berr_msg(&e, r), resp);
                return;
        }
        a->poll.sleep = b.sleep;
        maybe_send_attrs(a, b.config_data != NULL);
        attrs_report_installed(a);
        if (b.trust_roots)
                trustroots_on_link(a, b.trust_roots);
        if (b.cancel)
                r = get(a, b.cancel, NULL, on_cancel);
        else if (b.deployment) {
                consent_on_poll(a, NULL);
                r = get(a, b.deployment, NULL, on_deployment);
        } else if (b.confirmation)
                r = get(a, b.confirmation, NULL, on_confirmation);
        else {
                /* No action for us: an update we still hold open was withdrawn. */
                consent_on_poll(a, NULL);
                update_on_deployment(a, NULL);
                poll_succeeded(a);
        }
        ddi_base_clear(&b);
}

static void poll_start(struct agent *a)
{
        if (a->poll.req)
                return;
        log_debug("agent: polling %s", a->base_url);
        char inm[sizeof "If-None-Match: " + HTTP_ETAG_MAX];
        snprintf(inm, sizeof inm, "If-None-Match: %s", a->poll.etag);
        (void)get(a, a->base_url, a->poll.etag[0] ? (const char *const[]){inm, NULL} : NULL, on_base);
}
