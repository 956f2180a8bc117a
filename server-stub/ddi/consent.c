/* SPDX-License-Identifier: Apache-2.0 */
/* consent.c — hawkBit's confirmationBase: an action of a rollout that asks for consent is
 * linked from the poll as confirmationBase (not deploymentBase) until the target confirms
 * it; the target may deny it (it keeps waiting) or turn auto-confirm on and off. The
 * shapes are hawkBit DDI's; every answer is recorded (db/consent.h).
 */
#include "server-stub/ddi/ddi_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "server-stub/core/server.h"
#include "server-stub/db/consent.h"
#include "server-stub/ddi/body.h"
#include "server-stub/http/http.h"
#include "server-stub/rollout/rollout.h"

void ddi_confirmation_base(struct ddi_ctx *c)
{
        struct sdb_autoconfirm ac;
        struct sdb_action a;
        int k = sdb_autoconfirm_get(c->s->db, c->t.id, &ac);
        int w = k > 0 ? sdb_action_active(c->s->db, c->t.id, &a) : k;
        if (k <= 0 || w < 0) {
                http_reply_error(c->r, 503, "server.db", "database unavailable, retry later");
                return;
        }
        json_t *state = json_pack("{s:b}", "active", ac.active);
        if (ac.active) {
                if (ac.initiator[0])
                        json_object_set_new(state, "initiator", json_string(ac.initiator));
                if (ac.remark[0])
                        json_object_set_new(state, "remark", json_string(ac.remark));
                /* hawkBit gives milliseconds since the epoch. */
                json_object_set_new(state, "activatedAt", json_integer((json_int_t)ac.activated_at * 1000));
        }
        json_t *links = json_object();
        const char *toggle = ac.active ? "deactivateAutoConfirm" : "activateAutoConfirm";
        json_object_set_new(links, toggle, ddi_href(c->base, "/confirmationBase/%s", toggle));
        if (w == 1 && a.status != ACTION_CANCELING && sdb_confirmation_pending(a.confirmation))
                json_object_set_new(links, "confirmationBase",
                                    ddi_href(c->base, "/confirmationBase/%" PRId64 "?c=%" PRId64, a.id,
                                             a.id * 31 + a.bundle_id));
        http_reply_json(c->r, 200, json_pack("{s:o, s:o}", "autoConfirm", state, "_links", links));
}

/* Loads an action that waits for this target's confirmation: 1, or 0 after answering
 * 404 (not waiting) or 410 (closed). */
static int load_waiting(struct ddi_ctx *c, const char *id_s, struct sdb_action *a)
{
        int k = ddi_load_action(c, id_s, a);
        if (k <= 0)
                return 0;
        if (!a->active) {
                http_reply_error(c->r, 410, "action.closed", "action %s is already closed (%s)", id_s,
                                 action_status_str(a->status));
                return 0;
        }
        if (a->status == ACTION_CANCELING || !sdb_confirmation_pending(a->confirmation)) {
                http_reply_error(c->r, 404, "action.notAwaitingConfirmation",
                                 "action %s of target %s does not wait for confirmation", id_s, c->cid);
                return 0;
        }
        return 1;
}

void ddi_confirmation_action(struct ddi_ctx *c, const char *id_s)
{
        struct sdb_action a;
        struct sdb_bundle b;
        if (!load_waiting(c, id_s, &a))
                return;
        if (sdb_bundle_get(c->s->db, a.bundle_id, &b) <= 0) {
                http_reply_error(c->r, 404, "bundle.notFound", "the bundle of action %s no longer exists", id_s);
                return;
        }
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, a.id);
        json_t *j = json_pack("{s:s, s:o}", "id", id, "confirmation", ddi_deployment_json(c, &a, &b, false));
        ddi_add_history(c, &a, j);
        http_reply_json(c->r, 200, j);
}

void ddi_confirmation_feedback(struct ddi_ctx *c, const char *id_s)
{
        struct sdb_action a;
        size_t len;
        const char *body = http_body(c->r, &len);
        struct ddi_confirmation conf;
        berr e = {0};
        int k = ddi_parse_confirmation(body, len, &conf, &e);
        if (k < 0) {
                ddi_bad_body(c, k, &e, "confirmation.invalid");
                return;
        }
        if (!load_waiting(c, id_s, &a)) {
                ddi_confirmation_done(&conf);
                return;
        }
        k = sdb_action_confirm(c->s->db, &a, conf.confirmed, conf.code, conf.details_json);
        ddi_confirmation_done(&conf);
        if (k == -ESTALE)
                http_reply_error(c->r, 410, "action.closed", "action %s was closed or answered meanwhile", id_s);
        else if (k < 0)
                http_reply_error(c->r, 503, "server.db", "cannot store the confirmation, retry later");
        else {
                log_info("target %s %s action %s", c->cid, conf.confirmed ? "confirmed" : "denied", id_s);
                http_reply_empty(c->r, 200);
        }
}

void ddi_autoconfirm(struct ddi_ctx *c, bool on)
{
        char initiator[DDI_MAX_INITIATOR + 1] = "", remark[DDI_MAX_REMARK + 1] = "";
        berr e = {0};
        size_t len;
        const char *body = http_body(c->r, &len);
        int k = on ? ddi_parse_autoconfirm(body, len, initiator, remark, &e) : 0;
        if (k < 0) {
                ddi_bad_body(c, k, &e, "autoConfirm.invalid");
                return;
        }
        k = sdb_autoconfirm_set(c->s->db, c->t.id, on, initiator, remark);
        if (k == -EALREADY && on) {
                http_reply_error(c->r, 409, "autoConfirm.active", "auto-confirm is already active for target %s",
                                 c->cid);
                return;
        }
        if (k < 0 && k != -EALREADY) {
                http_reply_error(c->r, 503, "server.db", "cannot store auto-confirm, retry later");
                return;
        }
        if (k >= 0) {
                log_info("target %s turned auto-confirm %s%s%s", c->cid, on ? "on" : "off", initiator[0] ? " for " : "",
                         initiator);
                engine_kick(c->s->engine);
        }
        http_reply_empty(c->r, 200);
}
