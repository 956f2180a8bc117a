/* SPDX-License-Identifier: Apache-2.0 */
/* rollouts.h — rollouts: groups cut at creation, per-group counts, group start and
 * cancel with rollbacks, each one transaction.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/db/db.h"

struct sdb_rollout {
        int64_t id;
        char name[SDB_NAME_MAX + 1];
        int64_t bundle_id;
        char state[16];         /* ready running paused finished canceled */
        int groups[16];         /* cumulative percentages */
        int n_groups;
        int success_threshold, error_threshold;
        int64_t soak[16];       /* per group: seconds to wait after its success threshold is met */
        char action_type[16];
        char mwindow[32];
        int current_group;      /* -1 before start */
        int64_t threshold_met_at;       /* 0: not yet */
        int64_t fail_baseline;  /* failures acknowledged by resume */
        char reason[256];
        char filter_json[1024];
        bool confirm_required;  /* actions wait for their target's confirmation (consent.h) */
        bool budget_override;   /* actions may go past the agents' data budget (copied into each) */
};

int sdb_rollout_create(struct sdb *db, struct sdb_rollout *r, size_t n_targets, const int64_t *target_ids,
                       const int *grp, berr *e);
int sdb_rollout_get(struct sdb *db, int64_t id, struct sdb_rollout *r);
int sdb_rollout_save(struct sdb *db, const struct sdb_rollout *r);
int sdb_rollouts_ids(struct sdb *db, const char *state, int64_t **ret, size_t *n);
/* Per-group counts: total targets and actions per status. */
struct sdb_group_counts {
        int64_t total;
        int64_t by_status[_ACTION_STATUS_MAX];
        int64_t actions;
        int64_t waiting;        /* open actions waiting for their target's confirmation */
};
int sdb_rollout_group_counts(struct sdb *db, int64_t rollout_id, int grp, struct sdb_group_counts *c);
/* The targets cut into group grp (0-based) when the rollout was created, ordered by
 * target id; *ret is malloc()ed (NULL when the group is empty), the caller frees it. */
int sdb_rollout_group_targets(struct sdb *db, int64_t rollout_id, int grp, int64_t **ret, size_t *n);
/* Creates actions for every target of the group (one transaction). */
int sdb_rollout_start_group(struct sdb *db, const struct sdb_rollout *r, int grp);
/* Cancels open actions of the rollout and schedules rollbacks for targets that succeeded
 * and have a known previous bundle. Returns how many actions it touched. */
int sdb_rollout_cancel(struct sdb *db, const struct sdb_rollout *r);
