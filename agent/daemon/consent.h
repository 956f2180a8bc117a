/* SPDX-License-Identifier: Apache-2.0 */
/* consent.h — hawkBit's consent flow (confirmationBase) on the gateway: an action that
 * waits for confirmation is shown in the status and answered locally (berth confirm /
 * deny, through the control socket, logged with who answered), or the server confirms
 * it itself when update.auto_confirm is true (the agent switches the server's auto-confirm
 * to match the setting once per start; unset, the server's setting is left alone). Its
 * state is consent.c's own.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "ddi/ddi.h"

struct agent;
struct http_req;

struct consent_state {
        char id[DDI_MAX_ID + 1];        /* the action waiting for consent, "" none */
        char label[300];                /* what it installs ("app 3" or the artifact's name) */
        char denied[DDI_MAX_ID + 1];    /* denied on the gateway; the server keeps it waiting */
        struct http_req *req;           /* GET confirmationBase (auto-confirm check) */
        bool auto_synced;               /* the server's auto-confirm matches update.auto_confirm */
};

/* A poll: d is the action behind the base's confirmationBase link, or NULL when the base
 * links none (nothing waits). */
void consent_on_poll(struct agent *a, const struct ddi_deployment *d);
/* Answers the waiting action id. who names the local user ("uid 0 (root)"); reason:
 * the deny's reason, optional. 0, or -errno with e set (no such action waits). */
int consent_answer(struct agent *a, const char *id, bool confirmed, const char *who, const char *reason, berr *e);
json_t *consent_status_json(struct agent *a);
void consent_stop(struct agent *a);
