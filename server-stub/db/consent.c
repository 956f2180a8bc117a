/* SPDX-License-Identifier: Apache-2.0 */
/* consent.c — confirmation of actions and auto-confirm per target (see consent.h).
 * Every answer and every automatic confirmation leaves an action_status row (execution
 * "confirmation"), so `action show` tells who let an update go ahead, and when.
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void sdb_sql_consent(const char *sql[_S_MAX])
{
        sql[S_CONFIRM_SET] = "UPDATE actions SET confirmation=?1, updated=?2 WHERE id=?3 AND active=1"
                             " AND confirmation IN ('waiting','denied')";
        sql[S_CONFIRM_NOTE] = "INSERT INTO action_status(action_id, time, execution, finished, code, details)"
                              " VALUES(?, ?, 'confirmation', ?, ?, ?)";
        /* The row that says an action was confirmed by the target's auto-confirm. */
        sql[S_CONFIRM_NOTE_AUTO] =
                "INSERT INTO action_status(action_id, time, execution, finished, details)"
                " SELECT a.id, ?2, 'confirmation', 'confirmed', json_array('confirmed automatically: auto-confirm was"
                " turned on by ' || IFNULL(NULLIF(t.auto_confirm_initiator, ''), 'the device') ||"
                " CASE WHEN IFNULL(t.auto_confirm_remark, '') = '' THEN ''"
                " ELSE ' (' || t.auto_confirm_remark || ')' END)"
                " FROM actions a JOIN targets t ON t.id=a.target_id WHERE a.id=?1 AND a.confirmation='confirmed'";
        sql[S_AUTOCONF_GET] = "SELECT auto_confirm, IFNULL(auto_confirm_initiator,''), IFNULL(auto_confirm_remark,''),"
                              " auto_confirm_at FROM targets WHERE id=?";
        sql[S_AUTOCONF_SET] = "UPDATE targets SET auto_confirm=?2, auto_confirm_initiator=?3, auto_confirm_remark=?4,"
                              " auto_confirm_at=?5 WHERE id=?1 AND auto_confirm<>?2";
        sql[S_AUTOCONF_WAITING] = "SELECT id FROM actions WHERE target_id=? AND active=1"
                                  " AND confirmation IN ('waiting','denied')";
}

int sdb_autoconfirm_get(struct sdb *db, int64_t target_id, struct sdb_autoconfirm *ret)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_AUTOCONF_GET);
                sqlite3_bind_int64(s, 1, target_id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sdb_sqerr(rc);
                if (r == 1) {
                        memset(ret, 0, sizeof *ret);
                        ret->active = sqlite3_column_int(s, 0);
                        sdb_copy_text(ret->initiator, sizeof ret->initiator, s, 1);
                        sdb_copy_text(ret->remark, sizeof ret->remark, s, 2);
                        ret->activated_at = sqlite3_column_int64(s, 3);
                }
                sqlite3_reset(s);
        }
        return r;
}

int sdb_autoconfirm_set(struct sdb *db, int64_t target_id, bool on, const char *initiator, const char *remark)
{
        int r;
        int64_t now = (int64_t)time(NULL);
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                sqlite3_stmt *s = sdb_stmt(db, S_AUTOCONF_SET);
                sqlite3_bind_int64(s, 1, target_id);
                sqlite3_bind_int(s, 2, on);
                if (on) {
                        sqlite3_bind_text(s, 3, initiator, -1, SQLITE_STATIC);
                        sqlite3_bind_text(s, 4, remark, -1, SQLITE_STATIC);
                } else {
                        sqlite3_bind_null(s, 3);
                        sqlite3_bind_null(s, 4);
                }
                sqlite3_bind_int64(s, 5, on ? now : 0);
                r = sdb_step_done(s);
                if (r >= 0 && sqlite3_changes(db->h) != 1)
                        r = -EALREADY;
                /* On: the action waiting now goes ahead too, as hawkBit does. */
                int64_t waiting = 0;
                if (r >= 0 && on) {
                        s = sdb_stmt(db, S_AUTOCONF_WAITING);
                        sqlite3_bind_int64(s, 1, target_id);
                        int rc = sqlite3_step(s);
                        if (rc == SQLITE_ROW)
                                waiting = sqlite3_column_int64(s, 0);
                        else if (rc != SQLITE_DONE)
                                r = sdb_sqerr(rc);
                        sqlite3_reset(s);
                }
                if (r >= 0 && waiting) {
                        s = sdb_stmt(db, S_CONFIRM_SET);
                        sqlite3_bind_text(s, 1, "confirmed", -1, SQLITE_STATIC);
                        sqlite3_bind_int64(s, 2, now);
                        sqlite3_bind_int64(s, 3, waiting);
                        if ((r = sdb_step_done(s)) >= 0) {
                                s = sdb_stmt(db, S_CONFIRM_NOTE_AUTO);
                                sqlite3_bind_int64(s, 1, waiting);
                                sqlite3_bind_int64(s, 2, now);
                                r = sdb_step_done(s);
                        }
                }
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r;
}

int sdb_action_confirm(struct sdb *db, const struct sdb_action *a, bool confirmed, int64_t code,
                       const char *details_json)
{
        int r;
        int64_t now = (int64_t)time(NULL);
        const char *state = confirmed ? "confirmed" : "denied";
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                sqlite3_stmt *s = sdb_stmt(db, S_CONFIRM_SET);
                sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, now);
                sqlite3_bind_int64(s, 3, a->id);
                r = sdb_step_done(s);
                if (r >= 0 && sqlite3_changes(db->h) != 1)
                        r = -ESTALE;
                if (r >= 0) {
                        s = sdb_stmt(db, S_CONFIRM_NOTE);
                        sqlite3_bind_int64(s, 1, a->id);
                        sqlite3_bind_int64(s, 2, now);
                        sqlite3_bind_text(s, 3, state, -1, SQLITE_STATIC);
                        sdb_bind_opt(s, 4, code, INT64_MIN);
                        sqlite3_bind_text(s, 5, details_json ? details_json : "[]", -1, SQLITE_STATIC);
                        r = sdb_step_done(s);
                }
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r;
}
