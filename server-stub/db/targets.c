/* SPDX-License-Identifier: Apache-2.0 */
/* targets.c — the targets table (see targets.h): registration, tokens, attributes,
 * reported versions, listing, and the batched last-poll times (a poll never writes).
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sdb_sql_targets(const char *sql[_S_MAX])
{
        sql[S_TARGET_BY_CID] = "SELECT id, controller_id, token_hash, attrs_requested, last_poll,"
                            " IFNULL(installed_bundle,0), installed_action FROM targets WHERE controller_id=?";
        sql[S_TARGET_BY_ID] = "SELECT id, controller_id, token_hash, attrs_requested, last_poll,"
                           " IFNULL(installed_bundle,0), installed_action FROM targets WHERE id=?";
        sql[S_TARGET_ADD] = "INSERT INTO targets(controller_id, token_hash, attributes, created) VALUES(?,?,?,?)";
        sql[S_TARGET_UPSERT] = "INSERT INTO targets(controller_id, token_hash, attributes, created) VALUES(?,?,?,?)"
                            " ON CONFLICT(controller_id) DO UPDATE SET token_hash=excluded.token_hash,"
                            " attributes=excluded.attributes";
        sql[S_TARGET_ATTRS_SET] = "UPDATE targets SET attributes=?, attrs_requested=0 WHERE id=?";
        sql[S_TARGET_ATTRS] = "SELECT attributes FROM targets WHERE id=?";
        sql[S_TARGET_POLL] = "UPDATE targets SET last_poll=?2 WHERE id=?1 AND last_poll<?2";
        sql[S_TARGET_REPORTED] = "UPDATE targets SET reported_name=?, reported_version=? WHERE id=?";
        sql[S_TARGET_LIST] =
                "SELECT t.id, json_object('id', t.id, 'controllerId', t.controller_id,"
                " 'attributes', json(t.attributes), 'lastPoll', t.last_poll, 'created', t.created,"
                " 'installed', CASE WHEN b.id IS NULL THEN NULL ELSE"
                "   json_object('bundleId', b.id, 'name', b.name, 'type', b.module_type, 'version',"
                "   CASE b.kind WHEN 'plain' THEN b.module_version ELSE b.version END) END,"
                " 'reported', CASE WHEN t.reported_name IS NULL THEN NULL ELSE"
                "   json_object('name', t.reported_name, 'version', t.reported_version) END,"
                " 'currentAction', (SELECT json_object('id', a.id, 'status', a.status, 'rolloutId', a.rollout_id,"
                "   'group', CASE WHEN a.grp < 0 THEN NULL ELSE a.grp + 1 END, 'confirmation', NULLIF(a.confirmation, ''),"
                "   'bundleId', a.bundle_id, 'lastExecution', a.last_execution) FROM actions a"
                "   WHERE a.target_id=t.id ORDER BY a.active DESC, a.id DESC LIMIT 1),"
                " 'autoConfirm', json_object('active', json(CASE t.auto_confirm WHEN 1 THEN 'true' ELSE 'false' END),"
                "   'initiator', t.auto_confirm_initiator, 'remark', t.auto_confirm_remark,"
                "   'activatedAt', NULLIF(t.auto_confirm_at, 0)),"
                " 'telemetry', json((SELECT json_object('lastSeq', s.last_seq, 'dropped', s.dropped, 'pending', s.pending,"
                "   'gaps', s.gaps, 'updated', s.updated) FROM telemetry_state s WHERE s.target_id=t.id)))"
                " FROM targets t LEFT JOIN bundles b ON b.id=t.installed_bundle"
                " WHERE t.id>? AND (?='' OR t.controller_id=?) ORDER BY t.id LIMIT ?";
        sql[S_TARGET_ALL] = "SELECT id, controller_id, attributes FROM targets ORDER BY id";
        sql[S_TARGET_INSTALLED] = "UPDATE targets SET installed_bundle=?, installed_action=?, attrs_requested=1 WHERE id=?";
        sql[S_TARGET_KEYED] = "SELECT count(*) FROM targets WHERE token_hash LIKE 'h1:%'";
        sql[S_TARGET_REKEY] = "UPDATE targets SET token_hash=?3 WHERE id=?1 AND token_hash=?2";
}

static int read_target(sqlite3_stmt *s, struct sdb_target *t)
{
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sdb_sqerr(rc);
        memset(t, 0, sizeof *t);
        t->id = sqlite3_column_int64(s, 0);
        sdb_copy_text(t->cid, sizeof t->cid, s, 1);
        sdb_copy_text(t->token_hash, sizeof t->token_hash, s, 2);
        t->attrs_requested = sqlite3_column_int(s, 3);
        t->last_poll = sqlite3_column_int64(s, 4);
        t->installed_bundle = sqlite3_column_int64(s, 5);
        t->installed_action = sqlite3_column_int64(s, 6);
        return 1;
}

int sdb_target_get(struct sdb *db, const char *cid, struct sdb_target *t)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_BY_CID);
                sqlite3_bind_text(s, 1, cid, -1, SQLITE_STATIC);
                r = read_target(s, t);
                sqlite3_reset(s);
        }
        return r;
}

int sdb_target_get_by_id(struct sdb *db, int64_t id, struct sdb_target *t)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_BY_ID);
                sqlite3_bind_int64(s, 1, id);
                r = read_target(s, t);
                sqlite3_reset(s);
        }
        return r;
}

int sdb_targets_keyed(struct sdb *db, int64_t *ret)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_KEYED);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 0 : sdb_sqerr(rc ? rc : SQLITE_ERROR);
                *ret = r == 0 ? sqlite3_column_int64(s, 0) : 0;
                sqlite3_reset(s);
        }
        return r;
}

int sdb_target_rekey(struct sdb *db, int64_t id, const char *old_hash, const char *new_hash)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_REKEY);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_text(s, 2, old_hash, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 3, new_hash, -1, SQLITE_STATIC);
                r = sdb_step_done(s);
        }
        return r;
}

int sdb_target_add(struct sdb *db, const char *cid, const char *token_hash, const char *attrs_json, int64_t *ret_id)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_ADD);
                sqlite3_bind_text(s, 1, cid, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 2, token_hash ? token_hash : "", -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 3, attrs_json ? attrs_json : "{}", -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
                r = sdb_step_done(s);
                if (r == 0 && ret_id)
                        *ret_id = sqlite3_last_insert_rowid(db->h);
        }
        return r;
}

int sdb_targets_add_batch(struct sdb *db, size_t n, const char *const *cids, const char *const *token_hashes,
                          const char *const *attrs, berr *e)
{
        int r;
        LOCKED(db) {
                r = sdb_begin(db);
                if (r < 0)
                        break;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        sqlite3_stmt *s = sdb_stmt(db, S_TARGET_UPSERT);
                        sqlite3_bind_text(s, 1, cids[i], -1, SQLITE_STATIC);
                        sqlite3_bind_text(s, 2, token_hashes[i] ? token_hashes[i] : "", -1, SQLITE_STATIC);
                        sqlite3_bind_text(s, 3, attrs[i] ? attrs[i] : "{}", -1, SQLITE_STATIC);
                        sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
                        r = sdb_step_done(s);
                        if (r < 0)
                                berr_set(e, r, "cannot store target '%s': %s", cids[i], sqlite3_errmsg(db->h));
                }
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        return r;
}

int sdb_target_attrs(struct sdb *db, int64_t id, char **ret)
{
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_ATTRS);
                sqlite3_bind_int64(s, 1, id);
                if (sqlite3_step(s) == SQLITE_ROW) {
                        const unsigned char *t = sqlite3_column_text(s, 0);
                        *ret = strdup(t ? (const char *)t : "{}");
                        r = *ret ? 1 : -ENOMEM;
                }
                sqlite3_reset(s);
        }
        return r;
}

int sdb_target_set_reported(struct sdb *db, int64_t id, const char *name, const char *version)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_REPORTED);
                sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 2, version, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, id);
                r = sdb_step_done(s);
        }
        return r;
}

void sdb_note_poll(struct sdb *db, int64_t target_id, int64_t now)
{
        pthread_mutex_lock(&db->poll_lock);
        if (db->n_polls == db->cap_polls && db->cap_polls < 1000000) {
                size_t cap = db->cap_polls ? db->cap_polls * 2 : 4096;
                struct poll_note *p = realloc(db->polls, cap * sizeof *p);
                if (p) {
                        db->polls = p;
                        db->cap_polls = cap;
                }
        }
        /* When full (a stalled flush), the note is dropped: last-poll is advisory. */
        if (db->n_polls < db->cap_polls)
                db->polls[db->n_polls++] = (struct poll_note){target_id, now};
        pthread_mutex_unlock(&db->poll_lock);
}

int sdb_flush_polls(struct sdb *db)
{
        pthread_mutex_lock(&db->poll_lock);
        struct poll_note *p = db->polls;
        size_t n = db->n_polls;
        db->polls = NULL;
        db->n_polls = db->cap_polls = 0;
        pthread_mutex_unlock(&db->poll_lock);
        if (n == 0) {
                free(p);
                return 0;
        }
        int r;
        LOCKED(db) {
                r = sdb_begin(db);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        sqlite3_stmt *s = sdb_stmt(db, S_TARGET_POLL);
                        sqlite3_bind_int64(s, 1, p[i].id);
                        sqlite3_bind_int64(s, 2, p[i].t);
                        r = sdb_step_done(s);
                }
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
        }
        free(p);
        return r;
}

int sdb_targets_list_filtered(struct sdb *db, int64_t after_id, unsigned limit, const char *cid,
                              int (*fn)(void *ud, const char *json), void *ud)
{
        int r = 0, n = 0;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_LIST);
                sqlite3_bind_int64(s, 1, after_id);
                sqlite3_bind_text(s, 2, cid, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 3, cid, -1, SQLITE_STATIC);
                sqlite3_bind_int(s, 4, (int)limit);
                int rc;
                while (r >= 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
                        r = fn(ud, (const char *)sqlite3_column_text(s, 1));
                        if (r >= 0)
                                n++;
                }
                if (r >= 0 && rc != SQLITE_DONE)
                        r = sdb_sqerr(rc);
                sqlite3_reset(s);
        }
        return r < 0 ? r : n;
}

int sdb_targets_foreach(struct sdb *db, int (*fn)(void *ud, int64_t id, const char *cid, const char *attrs), void *ud)
{
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TARGET_ALL);
                int rc;
                while (r >= 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
                        r = fn(ud, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                               (const char *)sqlite3_column_text(s, 2));
                sqlite3_reset(s);
        }
        return r;
}
