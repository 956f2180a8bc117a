/* SPDX-License-Identifier: Apache-2.0 */
/* db.h — berth-server's persistent state in SQLite (WAL, foreign keys, migrations).
 *
 * The only module that includes sqlite3.h. One connection guarded by a mutex; every
 * statement on the poll path is prepared once at open. Every state transition is one
 * transaction. Last-poll times are batched in memory and flushed by the engine tick, so a
 * poll never writes. Functions return 0/1 (not found/found) or a negative errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define SDB_CID_MAX 128
#define SDB_NAME_MAX 128

struct sdb;

enum action_status {
        ACTION_SCHEDULED = 0,   /* created, target has not reported yet */
        ACTION_RUNNING,         /* target reported progress */
        ACTION_CANCELING,       /* cancel requested, target not yet confirmed */
        ACTION_SUCCESS,
        ACTION_FAILURE,
        ACTION_CANCELED,
        _ACTION_STATUS_MAX,
};
const char *action_status_str(int s);

struct sdb_target {
        int64_t id;
        char cid[SDB_CID_MAX + 1];
        char token_hash[72];    /* "h1:" + keyed hash, or a legacy bare sha256 (auth.h); empty: none */
        bool attrs_requested;
        int64_t last_poll;
        int64_t installed_bundle;       /* 0: unknown */
        int64_t installed_action;       /* last successful action */
};

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
};

struct sdb_bundle {
        int64_t id;
        char name[SDB_NAME_MAX + 1];
        int64_t version;
        char filename[SDB_NAME_MAX + 40];
        char path[4096];
        uint64_t size;
        char sha256[65], sha1[41], md5[33];
};

struct sdb_feedback {
        const char *execution;
        const char *finished;
        int64_t progress_cnt, progress_of;      /* -1: absent */
        int64_t code;                           /* INT64_MIN: absent */
        const char *details_json;               /* JSON array text */
};

int sdb_open(const char *path, struct sdb **ret, berr *e);
void sdb_close(struct sdb *db);

/* --- targets --- */
int sdb_target_get(struct sdb *db, const char *cid, struct sdb_target *t);
int sdb_target_get_by_id(struct sdb *db, int64_t id, struct sdb_target *t);
/* Adds a target; -EEXIST when the controllerId is taken. */
int sdb_target_add(struct sdb *db, const char *cid, const char *token_hash, const char *attrs_json, int64_t *ret_id);
/* How many targets have a keyed token hash ("h1:…"). */
int sdb_targets_keyed(struct sdb *db, int64_t *ret);
/* Replaces a target's token hash, only while it is still old_hash. */
int sdb_target_rekey(struct sdb *db, int64_t id, const char *old_hash, const char *new_hash);
/* Adds many targets in one transaction; existing ones are updated (token, attributes). */
int sdb_targets_add_batch(struct sdb *db, size_t n, const char *const *cids, const char *const *token_hashes,
                          const char *const *attrs, berr *e);
/* One telemetry batch as the DDI layer validated it (see ddi/telemetry.h). */
struct sdb_tm_record {
        int64_t seq, ts;
        const char *kind, *source, *text;
};
struct sdb_tm_batch {
        const char *queue;
        int64_t first, last, dropped, pending;
        size_t n;
        const struct sdb_tm_record *rec;        /* seqs first … last, ascending */
};
/* A configData request: stores the new attributes (unless attrs_json is NULL; storing
 * them also ends the server's request for attributes) and, when tm is not NULL, the
 * batch, in one transaction. Records with seq ≤ the stored last seq of the same queue are ignored;
 * a new queue id deletes the old queue's records and starts a new sequence space. At
 * most keep records per target are kept (the newest). Returns how many records were new. */
int sdb_target_config_data(struct sdb *db, int64_t id, const char *attrs_json, const struct sdb_tm_batch *tm,
                           unsigned keep);
/* JSON object text of the target's telemetry: summary, newest record per source and the
 * records with seq > after (ascending, at most limit). 0 when the target is unknown. */
int sdb_target_telemetry_json(struct sdb *db, const char *cid, int64_t after, unsigned limit, char **ret);
/* Returns a newly allocated JSON object text of the target's attributes. */
int sdb_target_attrs(struct sdb *db, int64_t id, char **ret);
void sdb_note_poll(struct sdb *db, int64_t target_id, int64_t now);
int sdb_flush_polls(struct sdb *db);
/* Installed version reported by the target itself (installedBase PUT). */
int sdb_target_set_reported(struct sdb *db, int64_t id, const char *name, const char *version);
/* Calls fn with the JSON text of each target (ordered by id, after after_id, at most
 * limit; only controllerId cid unless cid is ""). Returns the number of rows. */
int sdb_targets_list_filtered(struct sdb *db, int64_t after_id, unsigned limit, const char *cid,
                              int (*fn)(void *ud, const char *json), void *ud);
/* Calls fn(ud, id, cid, attrs_json) for every target. */
int sdb_targets_foreach(struct sdb *db, int (*fn)(void *ud, int64_t id, const char *cid, const char *attrs), void *ud);

/* --- actions --- */
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

/* --- bundles --- */
int sdb_bundle_add(struct sdb *db, struct sdb_bundle *b, berr *e);
int sdb_bundle_get(struct sdb *db, int64_t id, struct sdb_bundle *b);
int sdb_bundles_list(struct sdb *db, int (*fn)(void *ud, const struct sdb_bundle *b), void *ud);

/* --- rollouts --- */
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
};
int sdb_rollout_group_counts(struct sdb *db, int64_t rollout_id, int grp, struct sdb_group_counts *c);
/* Creates actions for every target of the group (one transaction). */
int sdb_rollout_start_group(struct sdb *db, const struct sdb_rollout *r, int grp);
/* Cancels open actions of the rollout and schedules rollbacks for targets that succeeded
 * and have a known previous bundle. Returns how many actions it touched. */
int sdb_rollout_cancel(struct sdb *db, const struct sdb_rollout *r);
