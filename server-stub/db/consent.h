/* SPDX-License-Identifier: Apache-2.0 */
/* consent.h — user consent (hawkBit's confirmationBase): an action of a rollout that asks
 * for confirmation waits until its target confirms it; a target may confirm everything
 * automatically (auto-confirm, with who turned it on and why). Each change is one
 * transaction with the action_status row that records it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "server-stub/db/actions.h"
#include "server-stub/db/db.h"

/* sdb_action.confirmation: "" (none asked), "waiting", "denied" (still waiting), "confirmed". */
static inline bool sdb_confirmation_pending(const char *c)
{
        return c[0] && (c[0] == 'w' || c[0] == 'd');
}

struct sdb_autoconfirm {
        bool active;
        char initiator[129];
        char remark[257];
        int64_t activated_at;           /* unix seconds; 0 when inactive */
};

/* 1 with the target's state, 0 when the target does not exist. */
int sdb_autoconfirm_get(struct sdb *db, int64_t target_id, struct sdb_autoconfirm *ret);
/* Turns auto-confirm on (with initiator and remark, may be "") or off. Turning it on
 * also confirms the target's waiting action. -EALREADY when it already was in that state. */
int sdb_autoconfirm_set(struct sdb *db, int64_t target_id, bool on, const char *initiator, const char *remark);
/* Records the target's answer to a waiting action: confirmed (it goes ahead) or denied
 * (it keeps waiting). -ESTALE when the action is closed or no longer waits. */
int sdb_action_confirm(struct sdb *db, const struct sdb_action *a, bool confirmed, int64_t code,
                       const char *details_json);
