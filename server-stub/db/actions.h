/* SPDX-License-Identifier: Apache-2.0 */
/* actions.h — actions (a bundle assigned to a target) and their feedback. A target
 * only ever sees its own actions; it has at most one active one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/db/db.h"

struct sdb_action {
        int64_t id;
        int64_t target_id;
        int64_t rollout_id;     /* 0: none */
        int grp;
        int64_t bundle_id;
        int status;             /* enum action_status */
        bool active;
        char action_type[16];   /* forced | soft | downloadonly */
        char mwindow[32];       /* "" or "HH:MM-HH:MM" (UTC) */
        int64_t prev_bundle;    /* what the target ran before (for rollback) */
        char confirmation[12];  /* "" (none asked), waiting, denied, confirmed (consent.h) */
        bool budget_override;   /* may go past the agent's data budget (its rollout's budgetOverride) */
};

struct sdb_feedback {
        const char *execution;
        const char *finished;
        int64_t progress_cnt, progress_of;      /* -1: absent */
        int64_t code;                           /* INT64_MIN: absent */
        const char *details_json;               /* JSON array text */
};

int sdb_action_active(struct sdb *db, int64_t target_id, struct sdb_action *a);
/* Looks up an action of this target only (other targets' actions are "not found"). */
int sdb_action_get(struct sdb *db, int64_t target_id, int64_t action_id, struct sdb_action *a);
/* Stores a feedback row and moves the action to new_status; on SUCCESS also records the
 * installed bundle on the target. -ESTALE (nothing stored) when the action is no longer
 * active. */
int sdb_action_feedback(struct sdb *db, const struct sdb_action *a, const struct sdb_feedback *f, int new_status);
/* Creates an update action; supersedes (cancels) any open action of the target. */
int sdb_action_create(struct sdb *db, int64_t target_id, int64_t rollout_id, int grp, int64_t bundle_id,
                      const char *action_type, const char *mwindow, int64_t *ret_id);
/* Asks the target to stop an open action (scheduled/running → canceling); 1 when it did,
 * 0 when the action is not open. */
int sdb_action_cancel(struct sdb *db, int64_t action_id);
/* JSON array text of the action's last limit feedback messages, newest first
 * ("<time> <execution>/<finished> <details...>"), for DDI's actionHistory. */
int sdb_action_history(struct sdb *db, int64_t action_id, int limit, char **ret);
/* JSON text of an action with its feedback history. */
int sdb_action_json(struct sdb *db, int64_t action_id, char **ret);
/* Whether the target was ever assigned this bundle (artifact download authorisation). */
int sdb_target_has_bundle(struct sdb *db, int64_t target_id, int64_t bundle_id);
