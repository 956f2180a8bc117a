/* SPDX-License-Identifier: Apache-2.0 */
/* outbox.c — every request the agent makes to change server state (deployment and
 * cancel feedback, configData, installedBase) is first a row in agent_outbox, then
 * sent in order, one at a time. A row leaves the outbox only when the server answered:
 * 2xx = delivered; 404/409/410 = the server no longer wants it (action closed or
 * superseded); other 4xx = refused for good (logged). Network errors and 5xx keep the
 * row and stop the queue until the next kick (every successful poll, every new item),
 * so feedback reaches the server in order once it is back, across restarts too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "base/log.h"
#include "daemon/agent_int.h"

void outbox_put(struct agent *a, const char *kind, const char *method, const char *path, const char *body)
{
        if (!a->base_url)
                return;
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%s", a->base_url, path) < 0)
                return;
        int r = agentdb_outbox_add(a->db, kind, NULL, method, url, body, false, agent_now());
        if (r < 0)
                log_error("agent: cannot queue %s for the server: database error", kind);
        outbox_kick(a);
}

void outbox_feedback(struct agent *a, const char *action_id, const struct ddi_feedback *f, bool progress)
{
        if (!a->base_url)
                return;
        _cleanup_free_ char *body = ddi_feedback_json(f);
        _cleanup_free_ char *url = NULL;
        if (!body || asprintf(&url, "%s/deploymentBase/%s/feedback", a->base_url, action_id) < 0)
                return;
        int r = agentdb_outbox_add(a->db, progress ? "progress" : "feedback", action_id, "POST", url, body, progress,
                                   agent_now());
        if (r < 0)
                log_error("agent: cannot queue feedback for action %s: database error", action_id);
        outbox_kick(a);
}

static int finish(struct agent *a, const char *action_id, const char *state, const char *detail,
                  const struct ddi_feedback *f, bool refuse)
{
        _cleanup_free_ char *body = NULL, *url = NULL;
        struct agentdb_request req = {.kind = "feedback", .method = "POST"};
        if (a->base_url && f) {
                body = ddi_feedback_json(f);
                if (!body || asprintf(&url, "%s/deploymentBase/%s/feedback", a->base_url, action_id) < 0) {
                        url = NULL;
                        return -ENOMEM;
                }
                req.url = url;
                req.body = body;
        }
        int r = refuse ? agentdb_action_refuse(a->db, action_id, detail, url ? &req : NULL, agent_now())
                       : agentdb_action_finish(a->db, action_id, state, detail, url ? &req : NULL, agent_now());
        if (r >= 0)
                outbox_kick(a);
        return r;
}

int outbox_finish(struct agent *a, const char *action_id, const char *state, const char *detail,
                  const struct ddi_feedback *f)
{
        return finish(a, action_id, state, detail, f, false);
}

int outbox_refuse(struct agent *a, const char *action_id, const char *detail, const struct ddi_feedback *f)
{
        return finish(a, action_id, ACTION_FAILED, detail, f, true);
}

bool outbox_sending(const struct agent *a)
{
        return a->outbox.req != NULL;
}

static void on_sent(void *ud, int r, const struct http_response *resp, const berr *he);

static void send_next(struct agent *a)
{
        struct outbox_item it;
        int k = agentdb_outbox_first(a->db, &it);
        if (k == 0)
                telemetry_kick(a); /* feedback first, then telemetry */
        if (k <= 0)
                return;
        struct http_req_opts o = agent_server_req(a, it.url);
        o.method = it.method;
        o.content_type = "application/json";
        o.body = it.body;
        o.body_len = strlen(it.body);
        o.timeout_ms = 60000;
        o.max_body = 64 * 1024;
        o.on_done = on_sent;
        berr e = {0};
        a->outbox.sent = it.seq;
        int r = http_start(a->http, &o, &a->outbox.req, &e);
        if (r < 0)
                log_warning("agent: cannot send queued %s: %s", it.kind, berr_msg(&e, r));
        outbox_item_clear(&it);
}

bool outbox_answer_is_transient(int r, const struct http_response *resp)
{
        return r < 0 || resp->status >= 500 || resp->status == 401 || resp->status == 403 || resp->status == 429 ||
               resp->status == 0;
}

static void on_sent(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct agent *a = ud;
        a->outbox.req = NULL;
        if (outbox_answer_is_transient(r, resp)) {
                a->outbox.failures++;
                if (a->outbox.failures == 1) {
                        if (r < 0)
                                log_warning("agent: feedback kept for later: %s", berr_msg(he, r));
                        else
                                log_warning("agent: feedback kept for later: server answered HTTP %ld", resp->status);
                }
                return; /* stays queued; the next successful poll kicks the queue */
        }
        if (resp->status >= 300)
                log_warning("agent: the server refused a queued request (HTTP %ld: %.200s); dropping it", resp->status,
                            resp->body ? resp->body : "");
        a->outbox.failures = 0;
        (void)agentdb_outbox_del(a->db, a->outbox.sent);
        send_next(a);
}

static int on_kick(sd_event_source *s, uint64_t usec, void *ud)
{
        struct agent *a = ud;
        if (!a->outbox.req)
                send_next(a);
        return 0;
}

/* Deferred to the loop: kicks come from inside curl callbacks (progress), where no
 * new transfer may be started. */
void outbox_kick(struct agent *a)
{
        if (!a->base_url || a->outbox.req)
                return;
        (void)agent_timer(a, &a->outbox.timer, 0, on_kick, "outbox-kick");
}

void outbox_stop(struct agent *a)
{
        http_req_cancel(a->outbox.req);
        a->outbox.req = NULL;
        a->outbox.timer = sd_event_source_disable_unref(a->outbox.timer);
}
