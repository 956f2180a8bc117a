/* SPDX-License-Identifier: Apache-2.0 */
/* db_int.h — what the files of db/ share, and nothing outside db/ includes: the
 * connection struct, the ids of the prepared statements (each family file gives the SQL
 * of its own), and the helpers that map SQLite's results to negative errno once.
 */
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include "base/cleanup.h"
#include "server-stub/db/actions.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/consent.h"
#include "server-stub/db/db.h"
#include "server-stub/db/rollouts.h"
#include "server-stub/db/targets.h"
#include "server-stub/db/telemetry.h"

enum stmt_id {
        /* targets.c */
        S_TARGET_BY_CID, S_TARGET_BY_ID, S_TARGET_ADD, S_TARGET_UPSERT, S_TARGET_ATTRS_SET, S_TARGET_ATTRS,
        S_TARGET_POLL, S_TARGET_REPORTED, S_TARGET_LIST, S_TARGET_ALL, S_TARGET_INSTALLED, S_TARGET_KEYED,
        S_TARGET_REKEY,
        /* actions.c */
        S_ACTION_ACTIVE, S_ACTION_GET, S_ACTION_STATUS_SET, S_ACTION_FEEDBACK_ADD, S_ACTION_SUPERSEDE,
        S_ACTION_ADD, S_ACTION_JSON, S_TARGET_HAS_BUNDLE, S_ACTION_CANCEL, S_ACTION_HISTORY,
        /* bundles.c */
        S_BUNDLE_ADD, S_BUNDLE_GET, S_BUNDLE_LIST,
        /* rollouts.c */
        S_ROLLOUT_ADD, S_ROLLOUT_TARGET_ADD, S_ROLLOUT_GET, S_ROLLOUT_SAVE, S_ROLLOUT_IDS,
        S_GROUP_TOTAL, S_GROUP_COUNTS, S_GROUP_TARGETS, S_ROLLOUT_OPEN_ACTIONS, S_ROLLOUT_SUCCEEDED,
        /* telemetry.c */
        S_TM_STATE, S_TM_RESET, S_TM_ADD, S_TM_STATE_SET, S_TM_PRUNE, S_TM_JSON,
        /* consent.c */
        S_CONFIRM_SET, S_CONFIRM_NOTE, S_CONFIRM_NOTE_AUTO, S_AUTOCONF_GET, S_AUTOCONF_SET, S_AUTOCONF_WAITING,
        /* rollouts.c */
        S_GROUP_WAITING,
        _S_MAX
};

struct sdb {
        sqlite3 *h;
        pthread_mutex_t lock;
        sqlite3_stmt *stmts[_S_MAX];
        pthread_mutex_t poll_lock;
        struct poll_note {
                int64_t id, t;
        } *polls;
        size_t n_polls, cap_polls;
};

/* Each family fills sql[id] for its statements; sdb_open() prepares them all. */
void sdb_sql_targets(const char *sql[_S_MAX]);
void sdb_sql_telemetry(const char *sql[_S_MAX]);
void sdb_sql_actions(const char *sql[_S_MAX]);
void sdb_sql_bundles(const char *sql[_S_MAX]);
void sdb_sql_rollouts(const char *sql[_S_MAX]);
void sdb_sql_consent(const char *sql[_S_MAX]);

/* SQLite result code → 0 or negative errno (constraint → -EEXIST, busy → -EBUSY, …). */
int sdb_sqerr(int rc);
/* The prepared statement id, reset and with its bindings cleared. */
sqlite3_stmt *sdb_stmt(struct sdb *db, enum stmt_id id);
int sdb_exec(struct sdb *db, const char *q);
int sdb_begin(struct sdb *db);
int sdb_commit(struct sdb *db);
void sdb_rollback(struct sdb *db);
/* Steps a statement that returns no row, then resets it. */
int sdb_step_done(sqlite3_stmt *s);
/* Steps a bound statement that answers one JSON text: 1 with a copy in *ret, 0 for no row. */
int sdb_step_json(sqlite3_stmt *s, char **ret);
/* Copies a text column (NULL as "") into dst of n bytes. */
void sdb_copy_text(char *dst, size_t n, sqlite3_stmt *s, int col);
/* Binds v, or NULL when v == absent. */
void sdb_bind_opt(sqlite3_stmt *s, int i, int64_t v, int64_t absent);
/* Runs statement id with one integer key; 1 with the JSON text in *ret, 0 for no row. */
int sdb_fetch_json(struct sdb *db, enum stmt_id id, int64_t key, char **ret);

/* Creates an action inside the caller's transaction, superseding the target's open one
 * (actions.c; rollouts.c starts groups and rollbacks with it). With confirm, the action
 * waits for the target's confirmation, unless the target's auto-confirm is on. With
 * budget_override, its deployment may go past the agent's data budget. */
int sdb_action_create_locked(struct sdb *db, int64_t target_id, int64_t rollout_id, int grp, int64_t bundle_id,
                             const char *kind, const char *action_type, const char *mwindow, bool confirm,
                             bool budget_override, int64_t *ret_id);

/* LOCKED(db) { ... } holds the connection mutex for the block; `break` leaves it unlocked. */
struct lockguard {
        pthread_mutex_t *m;
        int once;
};
static inline void lockguard_release(struct lockguard *g) { pthread_mutex_unlock(g->m); }
static inline struct lockguard lockguard_take(pthread_mutex_t *m)
{
        pthread_mutex_lock(m);
        return (struct lockguard){m, 1};
}
#define LOCKED(db)                                                                                                 \
        for (_cleanup_(lockguard_release) struct lockguard _g = lockguard_take(&(db)->lock); _g.once; _g.once = 0)
