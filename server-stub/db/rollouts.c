/* SPDX-License-Identifier: Apache-2.0 */
/* rollouts.c — rollouts, their group assignment and counts (see rollouts.h). A group
 * start or a cancel (with its rollbacks) commits with the rollout's new state.
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sdb_sql_rollouts(const char *sql[_S_MAX])
{
        sql[S_ROLLOUT_ADD] = "INSERT INTO rollouts(name, bundle_id, state, groups, success_threshold, error_threshold,"
                          " soak, action_type, mwindow, filter, created, updated, soaks, confirm_required,"
                          " budget_override) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
        sql[S_ROLLOUT_TARGET_ADD] = "INSERT INTO rollout_targets(rollout_id, target_id, grp) VALUES(?,?,?)";
        sql[S_ROLLOUT_GET] = "SELECT id, name, bundle_id, state, groups, success_threshold, error_threshold, soak,"
                          " action_type, mwindow, current_group, threshold_met_at, fail_baseline, reason, filter, soaks,"
                          " confirm_required, budget_override"
                          " FROM rollouts WHERE id=?";
        sql[S_ROLLOUT_SAVE] = "UPDATE rollouts SET state=?, current_group=?, threshold_met_at=?, fail_baseline=?,"
                           " reason=?, updated=? WHERE id=?";
        sql[S_ROLLOUT_IDS] = "SELECT id FROM rollouts WHERE (?='' OR state=?) ORDER BY id";
        sql[S_GROUP_TOTAL] = "SELECT count(*) FROM rollout_targets WHERE rollout_id=? AND grp=?";
        sql[S_GROUP_COUNTS] = "SELECT status, count(*) FROM actions WHERE rollout_id=? AND grp=? AND kind='update'"
                           " GROUP BY status";
        sql[S_GROUP_WAITING] = "SELECT count(*) FROM actions WHERE rollout_id=? AND grp=? AND kind='update'"
                               " AND active=1 AND status IN (0,1) AND confirmation IN ('waiting','denied')";
        sql[S_GROUP_TARGETS] = "SELECT target_id FROM rollout_targets WHERE rollout_id=? AND grp=? ORDER BY target_id";
        sql[S_ROLLOUT_OPEN_ACTIONS] = "UPDATE actions SET status=?, updated=? WHERE rollout_id=? AND active=1"
                                   " AND kind='update' AND status IN (?,?)";
        sql[S_ROLLOUT_SUCCEEDED] = "SELECT a.target_id, a.prev_bundle FROM actions a JOIN targets t ON t.id=a.target_id"
                                " WHERE a.rollout_id=? AND a.kind='update' AND a.status=? AND a.prev_bundle<>0"
                                " AND t.installed_action=a.id";
}

static void list_format(const int64_t *v, int n, char *out, size_t size)
{
        size_t o = 0;
        out[0] = 0;
        for (int i = 0; i < n && o < size; i++)
                o += (size_t)snprintf(out + o, size - o, "%s%" PRId64, i ? "," : "", v[i]);
}

/* Parses "a,b,c" into at most max values; returns how many. */
static int list_parse(const char *s, int64_t *v, int max)
{
        int n = 0;
        while (s && *s && n < max) {
                v[n++] = strtoll(s, NULL, 10);
                s = strchr(s, ',');
                if (s)
                        s++;
        }
        return n;
}

int sdb_rollout_create(struct sdb *db, struct sdb_rollout *ro, size_t n_targets, const int64_t *target_ids,
                       const int *grp, berr *e)
{
        int r;
        char groups[256], soaks[512];
        int64_t g64[16];
        for (int i = 0; i < ro->n_groups; i++)
                g64[i] = ro->groups[i];
        list_format(g64, ro->n_groups, groups, sizeof groups);
        list_format(ro->soak, ro->n_groups, soaks, sizeof soaks);
        int64_t now = (int64_t)time(NULL);
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                sqlite3_stmt *s = sdb_stmt(db, S_ROLLOUT_ADD);
                sqlite3_bind_text(s, 1, ro->name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, ro->bundle_id);
                sqlite3_bind_text(s, 3, "ready", -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 4, groups, -1, SQLITE_STATIC);
                sqlite3_bind_int(s, 5, ro->success_threshold);
                sqlite3_bind_int(s, 6, ro->error_threshold);
                sqlite3_bind_int64(s, 7, ro->soak[0]);
                sqlite3_bind_text(s, 8, ro->action_type, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 9, ro->mwindow, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 10, ro->filter_json, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 11, now);
                sqlite3_bind_int64(s, 12, now);
                sqlite3_bind_text(s, 13, soaks, -1, SQLITE_STATIC);
                sqlite3_bind_int(s, 14, ro->confirm_required);
                sqlite3_bind_int(s, 15, ro->budget_override);
                r = sdb_step_done(s);
                if (r >= 0) {
                        ro->id = sqlite3_last_insert_rowid(db->h);
                        snprintf(ro->state, sizeof ro->state, "ready");
                        ro->current_group = -1;
                }
                for (size_t i = 0; i < n_targets && r >= 0; i++) {
                        s = sdb_stmt(db, S_ROLLOUT_TARGET_ADD);
                        sqlite3_bind_int64(s, 1, ro->id);
                        sqlite3_bind_int64(s, 2, target_ids[i]);
                        sqlite3_bind_int(s, 3, grp[i]);
                        r = sdb_step_done(s);
                }
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0) {
                        berr_set(e, r, "cannot store rollout %s: %s", ro->name, sqlite3_errmsg(db->h));
                        sdb_rollback(db);
                }
        }
        return r;
}

int sdb_rollout_get(struct sdb *db, int64_t id, struct sdb_rollout *ro)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_ROLLOUT_GET);
                sqlite3_bind_int64(s, 1, id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sdb_sqerr(rc);
                if (r == 1) {
                        memset(ro, 0, sizeof *ro);
                        ro->id = sqlite3_column_int64(s, 0);
                        sdb_copy_text(ro->name, sizeof ro->name, s, 1);
                        ro->bundle_id = sqlite3_column_int64(s, 2);
                        sdb_copy_text(ro->state, sizeof ro->state, s, 3);
                        int64_t g64[16];
                        ro->n_groups = list_parse((const char *)sqlite3_column_text(s, 4), g64, 16);
                        for (int i = 0; i < ro->n_groups; i++)
                                ro->groups[i] = (int)g64[i];
                        ro->success_threshold = sqlite3_column_int(s, 5);
                        ro->error_threshold = sqlite3_column_int(s, 6);
                        /* Rows from schema 1 have one soak time for every group. */
                        int64_t one = sqlite3_column_int64(s, 7);
                        for (int i = 0; i < 16; i++)
                                ro->soak[i] = one;
                        list_parse((const char *)sqlite3_column_text(s, 15), ro->soak, 16);
                        sdb_copy_text(ro->action_type, sizeof ro->action_type, s, 8);
                        sdb_copy_text(ro->mwindow, sizeof ro->mwindow, s, 9);
                        ro->current_group = sqlite3_column_int(s, 10);
                        ro->threshold_met_at = sqlite3_column_int64(s, 11);
                        ro->fail_baseline = sqlite3_column_int64(s, 12);
                        sdb_copy_text(ro->reason, sizeof ro->reason, s, 13);
                        sdb_copy_text(ro->filter_json, sizeof ro->filter_json, s, 14);
                        ro->confirm_required = sqlite3_column_int(s, 16);
                        ro->budget_override = sqlite3_column_int(s, 17);
                }
                sqlite3_reset(s);
        }
        return r;
}

static int rollout_save_locked(struct sdb *db, const struct sdb_rollout *ro)
{
        sqlite3_stmt *s = sdb_stmt(db, S_ROLLOUT_SAVE);
        sqlite3_bind_text(s, 1, ro->state, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, ro->current_group);
        sqlite3_bind_int64(s, 3, ro->threshold_met_at);
        sqlite3_bind_int64(s, 4, ro->fail_baseline);
        sqlite3_bind_text(s, 5, ro->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, (int64_t)time(NULL));
        sqlite3_bind_int64(s, 7, ro->id);
        return sdb_step_done(s);
}

int sdb_rollout_save(struct sdb *db, const struct sdb_rollout *ro)
{
        int r;
        LOCKED(db) r = rollout_save_locked(db, ro);
        return r;
}

int sdb_rollouts_ids(struct sdb *db, const char *state, int64_t **ret, size_t *n)
{
        int r = 0;
        *ret = NULL;
        *n = 0;
        size_t cap = 0;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_ROLLOUT_IDS);
                sqlite3_bind_text(s, 1, state ? state : "", -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 2, state ? state : "", -1, SQLITE_STATIC);
                while (sqlite3_step(s) == SQLITE_ROW) {
                        if (*n == cap) {
                                cap = cap ? cap * 2 : 16;
                                int64_t *p = realloc(*ret, cap * sizeof *p);
                                if (!p) {
                                        r = -ENOMEM;
                                        break;
                                }
                                *ret = p;
                        }
                        (*ret)[(*n)++] = sqlite3_column_int64(s, 0);
                }
                sqlite3_reset(s);
        }
        return r;
}

int sdb_rollout_group_counts(struct sdb *db, int64_t rollout_id, int grp, struct sdb_group_counts *c)
{
        memset(c, 0, sizeof *c);
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_GROUP_TOTAL);
                sqlite3_bind_int64(s, 1, rollout_id);
                sqlite3_bind_int(s, 2, grp);
                if (sqlite3_step(s) == SQLITE_ROW)
                        c->total = sqlite3_column_int64(s, 0);
                sqlite3_reset(s);
                s = sdb_stmt(db, S_GROUP_COUNTS);
                sqlite3_bind_int64(s, 1, rollout_id);
                sqlite3_bind_int(s, 2, grp);
                while (sqlite3_step(s) == SQLITE_ROW) {
                        int st_ = sqlite3_column_int(s, 0);
                        int64_t k = sqlite3_column_int64(s, 1);
                        if (st_ >= 0 && st_ < _ACTION_STATUS_MAX)
                                c->by_status[st_] += k;
                        c->actions += k;
                }
                sqlite3_reset(s);
                s = sdb_stmt(db, S_GROUP_WAITING);
                sqlite3_bind_int64(s, 1, rollout_id);
                sqlite3_bind_int(s, 2, grp);
                if (sqlite3_step(s) == SQLITE_ROW)
                        c->waiting = sqlite3_column_int64(s, 0);
                sqlite3_reset(s);
        }
        return r;
}

/* The target ids of one group, ordered by id; the caller holds the lock. */
static int group_targets_locked(struct sdb *db, int64_t rollout_id, int grp, int64_t **ret, size_t *ret_n)
{
        int r = 0;
        int64_t *ids = NULL;
        size_t n = 0, cap = 0;
        sqlite3_stmt *s = sdb_stmt(db, S_GROUP_TARGETS);
        sqlite3_bind_int64(s, 1, rollout_id);
        sqlite3_bind_int(s, 2, grp);
        while (sqlite3_step(s) == SQLITE_ROW) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        int64_t *p = realloc(ids, cap * sizeof *p);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        ids = p;
                }
                ids[n++] = sqlite3_column_int64(s, 0);
        }
        sqlite3_reset(s);
        if (r < 0) {
                free(ids);
                return r;
        }
        *ret = ids;
        *ret_n = n;
        return 0;
}

int sdb_rollout_group_targets(struct sdb *db, int64_t rollout_id, int grp, int64_t **ret, size_t *n)
{
        int r;
        LOCKED(db) r = group_targets_locked(db, rollout_id, grp, ret, n);
        return r;
}

int sdb_rollout_start_group(struct sdb *db, const struct sdb_rollout *ro, int grp)
{
        int r;
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                /* Collect first: the action inserts would disturb a live cursor. */
                int64_t *ids = NULL;
                size_t n = 0;
                r = group_targets_locked(db, ro->id, grp, &ids, &n);
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = sdb_action_create_locked(db, ids[i], ro->id, grp, ro->bundle_id, "update", ro->action_type,
                                                     ro->mwindow, ro->confirm_required, ro->budget_override, NULL);
                free(ids);
                /* The group start and the rollout's new current group commit together. */
                if (r >= 0)
                        r = rollout_save_locked(db, ro);
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r;
}

int sdb_rollout_cancel(struct sdb *db, const struct sdb_rollout *ro)
{
        int r, touched = 0;
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                sqlite3_stmt *s = sdb_stmt(db, S_ROLLOUT_OPEN_ACTIONS);
                sqlite3_bind_int(s, 1, ACTION_CANCELING);
                sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
                sqlite3_bind_int64(s, 3, ro->id);
                sqlite3_bind_int(s, 4, ACTION_SCHEDULED);
                sqlite3_bind_int(s, 5, ACTION_RUNNING);
                r = sdb_step_done(s);
                if (r >= 0)
                        touched += sqlite3_changes(db->h);
                /* Targets that switched to this rollout's bundle go back to what they ran before. */
                struct pair {
                        int64_t target, bundle;
                } *v = NULL;
                size_t n = 0, cap = 0;
                s = sdb_stmt(db, S_ROLLOUT_SUCCEEDED);
                sqlite3_bind_int64(s, 1, ro->id);
                sqlite3_bind_int(s, 2, ACTION_SUCCESS);
                while (r >= 0 && sqlite3_step(s) == SQLITE_ROW) {
                        if (n == cap) {
                                cap = cap ? cap * 2 : 64;
                                struct pair *p = realloc(v, cap * sizeof *p);
                                if (!p) {
                                        r = -ENOMEM;
                                        break;
                                }
                                v = p;
                        }
                        v[n++] = (struct pair){sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)};
                }
                sqlite3_reset(s);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        /* A rollback the operator ordered does not wait for consent; it may
                         * use the WAN as far as the rollout it undoes was allowed to. */
                        r = sdb_action_create_locked(db, v[i].target, ro->id, -1, v[i].bundle, "rollback", "forced", "",
                                                     false, ro->budget_override, NULL);
                        touched++;
                }
                free(v);
                if (r >= 0)
                        r = rollout_save_locked(db, ro);
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r < 0 ? r : touched;
}
