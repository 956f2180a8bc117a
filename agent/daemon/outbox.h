/* SPDX-License-Identifier: Apache-2.0 */
/* outbox.h — requests that change server state (deployment and cancel feedback,
 * configData, installedBase), queued in agent_outbox and sent in order, one at a time
 * (outbox.c). Its state is outbox.c's own.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ddi/ddi.h"
#include "net/http.h"

struct agent;
struct sd_event_source;

struct outbox_state {
        struct http_req *req;           /* the request in flight */
        struct sd_event_source *timer;
        unsigned failures;
        int64_t sent;                   /* seq of the row in flight */
};

void outbox_feedback(struct agent *a, const char *action_id, const struct ddi_feedback *f, bool progress);
/* The action's final state and its final feedback, recorded together (agentdb.h). */
int outbox_finish(struct agent *a, const char *action_id, const char *state, const char *detail,
                  const struct ddi_feedback *f);
/* A deployment refused before it began: recorded as failed with its final feedback. */
int outbox_refuse(struct agent *a, const char *action_id, const char *detail, const struct ddi_feedback *f);
void outbox_put(struct agent *a, const char *kind, const char *method, const char *path, const char *body);
void outbox_kick(struct agent *a);
void outbox_stop(struct agent *a);
/* A request is on its way to the server. */
bool outbox_sending(const struct agent *a);
/* An answer that keeps a request for later: no answer, 5xx, 401/403 (credentials may be
 * fixed), 429. Anything else is final (2xx delivered, other 4xx refused). */
bool outbox_answer_is_transient(int r, const struct http_response *resp);
