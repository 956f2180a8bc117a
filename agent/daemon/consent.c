/* SPDX-License-Identifier: Apache-2.0 */
/* consent.c — the consent flow on the gateway (see consent.h). Answers travel through
 * the outbox, so a confirmation given during a WAN outage reaches the server later,
 * in order with the rest of the feedback.
 */
#include "daemon/consent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "daemon/agent_int.h"

static void label_of(const struct ddi_deployment *d, char *buf, size_t n)
{
        if (d->name && d->version)
                snprintf(buf, n, "%s %s", d->name, d->version);
        else if (d->filename)
                snprintf(buf, n, "%s", d->filename);
        else
                snprintf(buf, n, "action %s", d->id);
}

static void on_autoconfirm(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct agent *a = ud;
        a->consent.req = NULL;
        berr e = {0};
        if (r >= 0 && resp->status == 404) {
                log_info("agent: the server offers no confirmationBase; update.auto_confirm has no effect there");
                a->consent.auto_synced = true;
                return;
        }
        if (r < 0 || resp->status != 200) {
                if (r >= 0)
                        r = http_status_error(resp, "confirmationBase", &e);
                log_info("agent: cannot read the server's auto-confirm: %s; asking again at the next poll",
                         berr_msg(r < 0 && he && he->code ? he : &e, r));
                return;
        }
        bool active = false;
        r = ddi_parse_autoconfirm(resp->body, resp->body_len, &active, &e);
        if (r < 0) {
                log_warning("agent: %s", berr_msg(&e, r));
                return;
        }
        a->consent.auto_synced = true;
        if (active == (a->set.auto_confirm == 1))
                return;
        if (a->set.auto_confirm == 1) {
                char who[200];
                snprintf(who, sizeof who, "berth agent %s", a->set.controller_id);
                _cleanup_free_ char *body = ddi_autoconfirm_json(who, "update.auto_confirm = true");
                if (body)
                        outbox_put(a, "autoConfirm", "POST", "/confirmationBase/activateAutoConfirm", body);
        } else
                outbox_put(a, "autoConfirm", "POST", "/confirmationBase/deactivateAutoConfirm", "{}");
        const char *to = a->set.auto_confirm == 1 ? "on" : "off";
        log_notice("agent: turning the server's auto-confirm %s (update.auto_confirm)", to);
        telemetry_event(a, "agent", "auto-confirm turned %s on the server (update.auto_confirm)", to);
}

/* Once per start: the server's auto-confirm is made to match update.auto_confirm (when
 * set: unset leaves what an operator chose on the server alone). */
static void sync_auto(struct agent *a)
{
        if (a->set.auto_confirm < 0 || a->consent.auto_synced || a->consent.req)
                return;
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/confirmationBase", a->base_url) < 0)
                return;
        berr e = {0};
        int r = agent_ddi_get(a, url, NULL, on_autoconfirm, &a->consent.req, &e);
        if (r < 0)
                log_info("agent: cannot ask for the server's auto-confirm: %s", berr_msg(&e, r));
}

void consent_on_poll(struct agent *a, const struct ddi_deployment *d)
{
        sync_auto(a);
        if (!d) {
                a->consent.id[0] = a->consent.denied[0] = 0;
                return;
        }
        if (!strcmp(a->consent.id, d->id))
                return;
        snprintf(a->consent.id, sizeof a->consent.id, "%s", d->id);
        label_of(d, a->consent.label, sizeof a->consent.label);
        if (!strcmp(a->consent.denied, d->id))
                return;
        log_notice("agent: action %s (%s) waits for confirmation on this gateway: 'berth confirm %s', or "
                   "'berth deny %s --reason TEXT'", d->id, a->consent.label, d->id, d->id);
        telemetry_event(a, "agent", "action %s (%s) waits for confirmation", d->id, a->consent.label);
        agent_status(a, "%s waits for confirmation (berth confirm %s)", a->consent.label, d->id);
}

int consent_answer(struct agent *a, const char *id, bool confirmed, const char *who, const char *reason, berr *e)
{
        if (!a->consent.id[0])
                return berr_set(e, -ENOENT, "no action waits for confirmation on this gateway");
        if (strcmp(a->consent.id, id))
                return berr_set(e, -ENOENT, "action %s does not wait for confirmation; action %s (%s) does", id,
                                a->consent.id, a->consent.label);
        char detail[600];
        if (confirmed)
                snprintf(detail, sizeof detail, "confirmed on the gateway by %s", who);
        else
                snprintf(detail, sizeof detail, "denied on the gateway by %s: %s", who,
                         reason && *reason ? reason : "no reason given");
        _cleanup_free_ char *body = ddi_confirmation_json(confirmed, detail);
        char path[200];
        snprintf(path, sizeof path, "/confirmationBase/%s/feedback", id);
        if (!body)
                return berr_set(e, -ENOMEM, "out of memory");
        outbox_put(a, "confirmation", "POST", path, body);
        log_notice("agent: action %s (%s) %s", id, a->consent.label, detail);
        telemetry_event(a, "agent", "action %s (%s) %s", id, a->consent.label, detail);
        if (confirmed)
                a->consent.id[0] = 0;
        else
                snprintf(a->consent.denied, sizeof a->consent.denied, "%s", id);
        agent_status(a, "%s %s", a->consent.label, confirmed ? "confirmed" : "denied");
        poll_schedule(a, 0);
        return 0;
}

json_t *consent_status_json(struct agent *a)
{
        json_t *o = a->set.auto_confirm < 0 ? json_object() : json_pack("{s:b}", "autoConfirm", a->set.auto_confirm == 1);
        if (o && a->consent.id[0])
                json_object_set_new(o, "waiting",
                                    json_pack("{s:s,s:s,s:b}", "id", a->consent.id, "what", a->consent.label, "denied",
                                              !strcmp(a->consent.denied, a->consent.id)));
        return o;
}

void consent_stop(struct agent *a)
{
        http_req_cancel(a->consent.req);
        a->consent.req = NULL;
}
