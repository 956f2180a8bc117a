/* SPDX-License-Identifier: Apache-2.0 */
/* actions.c — actions and their feedback (see actions.h). Invariant: a target has at
 * most one active action; creating a new one supersedes the old one in the same
 * transaction.
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Stored feedback rows per action are capped; later ones only update the action. */
#define MAX_FEEDBACK_ROWS 200

void sdb_sql_actions(const char *sql[_S_MAX])
{
        sql[S_ACTION_ACTIVE] = "SELECT id, target_id, IFNULL(rollout_id,0), grp, bundle_id, status, active,"
                            " action_type, mwindow, prev_bundle, confirmation, budget_override FROM actions"
                            " WHERE target_id=? AND active=1"
                            " ORDER BY id LIMIT 1";
        sql[S_ACTION_GET] = "SELECT id, target_id, IFNULL(rollout_id,0), grp, bundle_id, status, active,"
                         " action_type, mwindow, prev_bundle, confirmation, budget_override FROM actions"
                         " WHERE target_id=? AND id=?";
        sql[S_ACTION_STATUS_SET] = "UPDATE actions SET status=?, active=?, last_execution=?, progress_cnt=?,"
                                " progress_of=?, n_feedback=n_feedback+1, updated=? WHERE id=? AND active=1";
        sql[S_ACTION_FEEDBACK_ADD] = "INSERT INTO action_status(action_id, time, execution, finished, progress_cnt,"
                                  " progress_of, code, details) SELECT ?1,?2,?3,?4,?5,?6,?7,?8"
                                  " WHERE (SELECT n_feedback FROM actions WHERE id=?1) < ?9";
        sql[S_ACTION_SUPERSEDE] = "UPDATE actions SET status=?, active=0, last_execution='superseded', updated=?"
                               " WHERE target_id=? AND active=1";
        sql[S_ACTION_ADD] = "INSERT INTO actions(target_id, rollout_id, grp, bundle_id, kind, action_type, mwindow,"
                         " status, active, prev_bundle, created, updated, confirmation, budget_override)"
                         " SELECT ?1, NULLIF(?2,0), ?3, ?4, ?5, ?6, ?7, 0, 1, IFNULL(installed_bundle,0), ?8, ?8,"
                         " CASE WHEN ?9=0 THEN '' WHEN auto_confirm=1 THEN 'confirmed' ELSE 'waiting' END, ?10"
                         " FROM targets WHERE id=?1";
        sql[S_ACTION_JSON] =
                "SELECT json_object('id', a.id, 'controllerId', t.controller_id, 'rolloutId', a.rollout_id,"
                /* Groups are numbered from 1 for people, as in the target and rollout answers;
                 * a rollback action has none. */
                " 'group', CASE WHEN a.grp < 0 THEN NULL ELSE a.grp + 1 END, 'bundleId', a.bundle_id,"
                " 'kind', a.kind, 'type', a.action_type,"
                " 'status', a.status, 'active', json(CASE a.active WHEN 1 THEN 'true' ELSE 'false' END),"
                " 'lastExecution', a.last_execution, 'confirmation', NULLIF(a.confirmation, ''),"
                " 'budgetOverride', json(CASE a.budget_override WHEN 1 THEN 'true' ELSE 'false' END),"
                " 'created', a.created, 'updated', a.updated,"
                " 'feedback', (SELECT json_group_array(json_object('time', s.time, 'execution', s.execution,"
                "   'finished', s.finished, 'progress', CASE WHEN s.progress_cnt IS NULL THEN NULL ELSE"
                "   json_object('cnt', s.progress_cnt, 'of', s.progress_of) END, 'code', s.code,"
                "   'details', json(s.details))) FROM (SELECT * FROM action_status WHERE action_id=a.id"
                "   ORDER BY id) s))"
                " FROM actions a JOIN targets t ON t.id=a.target_id WHERE a.id=?";
        sql[S_TARGET_HAS_BUNDLE] = "SELECT 1 FROM actions WHERE target_id=? AND bundle_id=? LIMIT 1";
        sql[S_ACTION_CANCEL] = "UPDATE actions SET status=?, updated=? WHERE id=? AND active=1 AND status IN (?,?)";
        sql[S_ACTION_HISTORY] =
                "SELECT json_group_array(m) FROM (SELECT strftime('%Y-%m-%dT%H:%M:%SZ', time, 'unixepoch') || ' '"
                " || execution || '/' || finished || (SELECT group_concat(' ' || value, '') FROM json_each(details)) AS m"
                " FROM action_status WHERE action_id=? ORDER BY id DESC LIMIT ?)";
}

static int read_action(sqlite3_stmt *s, struct sdb_action *a)
{
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sdb_sqerr(rc);
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(s, 0);
        a->target_id = sqlite3_column_int64(s, 1);
        a->rollout_id = sqlite3_column_int64(s, 2);
        a->grp = sqlite3_column_int(s, 3);
        a->bundle_id = sqlite3_column_int64(s, 4);
        a->status = sqlite3_column_int(s, 5);
        a->active = sqlite3_column_int(s, 6);
        sdb_copy_text(a->action_type, sizeof a->action_type, s, 7);
        sdb_copy_text(a->mwindow, sizeof a->mwindow, s, 8);
        a->prev_bundle = sqlite3_column_int64(s, 9);
        sdb_copy_text(a->confirmation, sizeof a->confirmation, s, 10);
        a->budget_override = sqlite3_column_int(s, 11);
        return 1;
}

int sdb_action_active(struct sdb *db, int64_t target_id, struct sdb_action *a)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_ACTION_ACTIVE);
                sqlite3_bind_int64(s, 1, target_id);
                r = read_action(s, a);
                sqlite3_reset(s);
        }
        return r;
}

int sdb_action_get(struct sdb *db, int64_t target_id, int64_t action_id, struct sdb_action *a)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_ACTION_GET);
                sqlite3_bind_int64(s, 1, target_id);
                sqlite3_bind_int64(s, 2, action_id);
                r = read_action(s, a);
                sqlite3_reset(s);
        }
        return r;
}

int sdb_action_feedback(struct sdb *db, const struct sdb_action *a, const struct sdb_feedback *f, int new_status)
{
        int r;
        int64_t now = (int64_t)time(NULL);
        bool active = new_status == ACTION_SCHEDULED || new_status == ACTION_RUNNING || new_status == ACTION_CANCELING;
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                sqlite3_stmt *s = sdb_stmt(db, S_ACTION_FEEDBACK_ADD);
                sqlite3_bind_int64(s, 1, a->id);
                sqlite3_bind_int64(s, 2, now);
                sqlite3_bind_text(s, 3, f->execution, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 4, f->finished, -1, SQLITE_STATIC);
                sdb_bind_opt(s, 5, f->progress_cnt, -1);
                sdb_bind_opt(s, 6, f->progress_of, -1);
                sdb_bind_opt(s, 7, f->code, INT64_MIN);
                sqlite3_bind_text(s, 8, f->details_json ? f->details_json : "[]", -1, SQLITE_STATIC);
                sqlite3_bind_int(s, 9, MAX_FEEDBACK_ROWS);
                r = sdb_step_done(s);
                if (r >= 0) {
                        s = sdb_stmt(db, S_ACTION_STATUS_SET);
                        sqlite3_bind_int(s, 1, new_status);
                        sqlite3_bind_int(s, 2, active);
                        sqlite3_bind_text(s, 3, f->execution, -1, SQLITE_STATIC);
                        sdb_bind_opt(s, 4, f->progress_cnt, -1);
                        sdb_bind_opt(s, 5, f->progress_of, -1);
                        sqlite3_bind_int64(s, 6, now);
                        sqlite3_bind_int64(s, 7, a->id);
                        r = sdb_step_done(s);
                        /* Closed (or superseded) since the caller read it: nothing to record. */
                        if (r >= 0 && sqlite3_changes(db->h) != 1)
                                r = -ESTALE;
                }
                if (r >= 0 && new_status == ACTION_SUCCESS) {
                        s = sdb_stmt(db, S_TARGET_INSTALLED);
                        sqlite3_bind_int64(s, 1, a->bundle_id);
                        sqlite3_bind_int64(s, 2, a->id);
                        sqlite3_bind_int64(s, 3, a->target_id);
                        r = sdb_step_done(s);
                }
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r;
}

int sdb_action_create_locked(struct sdb *db, int64_t target_id, int64_t rollout_id, int grp, int64_t bundle_id,
                             const char *kind, const char *action_type, const char *mwindow, bool confirm,
                             bool budget_override, int64_t *ret_id)
{
        int64_t now = (int64_t)time(NULL);
        sqlite3_stmt *s = sdb_stmt(db, S_ACTION_SUPERSEDE);
        sqlite3_bind_int(s, 1, ACTION_CANCELED);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, target_id);
        int r = sdb_step_done(s);
        if (r < 0)
                return r;
        s = sdb_stmt(db, S_ACTION_ADD);
        sqlite3_bind_int64(s, 1, target_id);
        sqlite3_bind_int64(s, 2, rollout_id);
        sqlite3_bind_int(s, 3, grp);
        sqlite3_bind_int64(s, 4, bundle_id);
        sqlite3_bind_text(s, 5, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, action_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, mwindow ? mwindow : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 8, now);
        sqlite3_bind_int(s, 9, confirm);
        sqlite3_bind_int(s, 10, budget_override);
        r = sdb_step_done(s);
        if (r < 0)
                return r;
        if (sqlite3_changes(db->h) != 1)
                return -ENOENT;
        int64_t id = sqlite3_last_insert_rowid(db->h);
        if (confirm) {
                /* Confirmed at once by the target's auto-confirm: say so in its history. */
                s = sdb_stmt(db, S_CONFIRM_NOTE_AUTO);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int64(s, 2, now);
                if ((r = sdb_step_done(s)) < 0)
                        return r;
        }
        if (ret_id)
                *ret_id = id;
        return 0;
}

int sdb_action_create(struct sdb *db, int64_t target_id, int64_t rollout_id, int grp, int64_t bundle_id,
                      const char *action_type, const char *mwindow, int64_t *ret_id)
{
        int r;
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                r = sdb_action_create_locked(db, target_id, rollout_id, grp, bundle_id, "update", action_type, mwindow,
                                             false, false, ret_id);
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r;
}

int sdb_action_cancel(struct sdb *db, int64_t action_id)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_ACTION_CANCEL);
                sqlite3_bind_int(s, 1, ACTION_CANCELING);
                sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
                sqlite3_bind_int64(s, 3, action_id);
                sqlite3_bind_int(s, 4, ACTION_SCHEDULED);
                sqlite3_bind_int(s, 5, ACTION_RUNNING);
                r = sdb_step_done(s);
                if (r >= 0)
                        r = sqlite3_changes(db->h);
        }
        return r;
}

int sdb_action_history(struct sdb *db, int64_t action_id, int limit, char **ret)
{
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_ACTION_HISTORY);
                sqlite3_bind_int64(s, 1, action_id);
                sqlite3_bind_int(s, 2, limit);
                if (sqlite3_step(s) == SQLITE_ROW) {
                        const unsigned char *t = sqlite3_column_text(s, 0);
                        *ret = strdup(t ? (const char *)t : "[]");
                        r = *ret ? 1 : -ENOMEM;
                }
                sqlite3_reset(s);
        }
        return r;
}

int sdb_action_json(struct sdb *db, int64_t action_id, char **ret)
{
        return sdb_fetch_json(db, S_ACTION_JSON, action_id, ret);
}

int sdb_target_has_bundle(struct sdb *db, int64_t target_id, int64_t bundle_id)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_HAS_BUNDLE);
                sqlite3_bind_int64(s, 1, target_id);
                sqlite3_bind_int64(s, 2, bundle_id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sdb_sqerr(rc);
                sqlite3_reset(s);
        }
        return r;
}
