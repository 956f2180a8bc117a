/* SPDX-License-Identifier: Apache-2.0 */
/* db.c — SQLite storage for berth-server (see db.h).
 *
 * Owns the connection, the schema migrations (PRAGMA user_version) and a cache of
 * prepared statements. Invariant: a target has at most one active action; creating a new
 * one supersedes the old one inside the same transaction.
 */
#include "db/db.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"

enum stmt_id {
        S_TARGET_BY_CID, S_TARGET_BY_ID, S_TARGET_ADD, S_TARGET_UPSERT, S_TARGET_ATTRS_SET, S_TARGET_ATTRS,
        S_TARGET_POLL, S_TARGET_REPORTED, S_TARGET_LIST, S_TARGET_ALL, S_TARGET_INSTALLED,
        S_ACTION_ACTIVE, S_ACTION_GET, S_ACTION_STATUS_SET, S_ACTION_FEEDBACK_ADD, S_ACTION_SUPERSEDE,
        S_ACTION_ADD, S_ACTION_JSON, S_TARGET_HAS_BUNDLE,
        S_BUNDLE_ADD, S_BUNDLE_GET, S_BUNDLE_LIST,
        S_ROLLOUT_ADD, S_ROLLOUT_TARGET_ADD, S_ROLLOUT_GET, S_ROLLOUT_SAVE, S_ROLLOUT_IDS,
        S_GROUP_TOTAL, S_GROUP_COUNTS, S_GROUP_TARGETS, S_ROLLOUT_OPEN_ACTIONS, S_ROLLOUT_SUCCEEDED,
        S_ACTION_CANCEL, S_ACTION_HISTORY,
        S_TM_STATE, S_TM_RESET, S_TM_ADD, S_TM_STATE_SET, S_TM_PRUNE, S_TM_JSON,
        S_TARGET_KEYED, S_TARGET_REKEY,
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

static const char *const migrations[] = {
        /* 1: initial schema */
        "CREATE TABLE targets ("
        "  id INTEGER PRIMARY KEY,"
        "  controller_id TEXT NOT NULL UNIQUE,"
        "  token_hash TEXT NOT NULL DEFAULT '',"
        "  attributes TEXT NOT NULL DEFAULT '{}',"
        "  attrs_requested INTEGER NOT NULL DEFAULT 1,"
        "  created INTEGER NOT NULL,"
        "  last_poll INTEGER NOT NULL DEFAULT 0,"
        "  installed_bundle INTEGER REFERENCES bundles(id),"
        "  installed_action INTEGER NOT NULL DEFAULT 0,"
        "  reported_name TEXT, reported_version TEXT);"
        "CREATE TABLE bundles ("
        "  id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL,"
        "  filename TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,"
        "  sha256 TEXT NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, created INTEGER NOT NULL,"
        "  UNIQUE(name, version));"
        "CREATE TABLE rollouts ("
        "  id INTEGER PRIMARY KEY, name TEXT NOT NULL, bundle_id INTEGER NOT NULL REFERENCES bundles(id),"
        "  state TEXT NOT NULL, groups TEXT NOT NULL, success_threshold INTEGER NOT NULL,"
        "  error_threshold INTEGER NOT NULL, soak INTEGER NOT NULL DEFAULT 0,"
        "  action_type TEXT NOT NULL, mwindow TEXT NOT NULL DEFAULT '', filter TEXT NOT NULL DEFAULT '{}',"
        "  current_group INTEGER NOT NULL DEFAULT -1, threshold_met_at INTEGER NOT NULL DEFAULT 0,"
        "  fail_baseline INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
        "  created INTEGER NOT NULL, updated INTEGER NOT NULL);"
        "CREATE TABLE rollout_targets ("
        "  rollout_id INTEGER NOT NULL REFERENCES rollouts(id), target_id INTEGER NOT NULL REFERENCES targets(id),"
        "  grp INTEGER NOT NULL, PRIMARY KEY(rollout_id, target_id));"
        "CREATE INDEX rollout_targets_grp ON rollout_targets(rollout_id, grp);"
        "CREATE TABLE actions ("
        "  id INTEGER PRIMARY KEY, target_id INTEGER NOT NULL REFERENCES targets(id),"
        "  rollout_id INTEGER REFERENCES rollouts(id), grp INTEGER NOT NULL DEFAULT 0,"
        "  bundle_id INTEGER NOT NULL REFERENCES bundles(id), kind TEXT NOT NULL DEFAULT 'update',"
        "  action_type TEXT NOT NULL, mwindow TEXT NOT NULL DEFAULT '',"
        "  status INTEGER NOT NULL, active INTEGER NOT NULL, prev_bundle INTEGER NOT NULL DEFAULT 0,"
        "  last_execution TEXT NOT NULL DEFAULT '', progress_cnt INTEGER, progress_of INTEGER,"
        "  n_feedback INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
        "CREATE INDEX actions_target_active ON actions(target_id, active);"
        "CREATE INDEX actions_rollout ON actions(rollout_id, grp, status);"
        "CREATE INDEX actions_target_bundle ON actions(target_id, bundle_id);"
        "CREATE TABLE action_status ("
        "  id INTEGER PRIMARY KEY, action_id INTEGER NOT NULL REFERENCES actions(id), time INTEGER NOT NULL,"
        "  execution TEXT NOT NULL, finished TEXT NOT NULL, progress_cnt INTEGER, progress_of INTEGER,"
        "  code INTEGER, details TEXT NOT NULL DEFAULT '[]');"
        "CREATE INDEX action_status_action ON action_status(action_id);",
        /* 2: soak time per group ("0,3600,7200"); rollouts.soak stays the first group's */
        "ALTER TABLE rollouts ADD COLUMN soaks TEXT NOT NULL DEFAULT '';",
        /* 3: agent telemetry (configData tm.* keys): a summary per target and its newest
         * records; seqs are per queue id, and only the current queue's records are kept */
        "CREATE TABLE telemetry_state ("
        "  target_id INTEGER PRIMARY KEY REFERENCES targets(id), queue TEXT NOT NULL,"
        "  last_seq INTEGER NOT NULL, dropped INTEGER NOT NULL, pending INTEGER NOT NULL,"
        "  gaps INTEGER NOT NULL, updated INTEGER NOT NULL);"
        "CREATE TABLE telemetry_records ("
        "  target_id INTEGER NOT NULL REFERENCES targets(id), seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
        "  kind TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL, received INTEGER NOT NULL,"
        "  PRIMARY KEY(target_id, seq)) WITHOUT ROWID;",
};

/* Stored feedback rows per action are capped; later ones only update the action. */
#define MAX_FEEDBACK_ROWS 200

static const char *const sql[_S_MAX] = {
        [S_TARGET_BY_CID] = "SELECT id, controller_id, token_hash, attrs_requested, last_poll,"
                            " IFNULL(installed_bundle,0), installed_action FROM targets WHERE controller_id=?",
        [S_TARGET_BY_ID] = "SELECT id, controller_id, token_hash, attrs_requested, last_poll,"
                           " IFNULL(installed_bundle,0), installed_action FROM targets WHERE id=?",
        [S_TARGET_ADD] = "INSERT INTO targets(controller_id, token_hash, attributes, created) VALUES(?,?,?,?)",
        [S_TARGET_UPSERT] = "INSERT INTO targets(controller_id, token_hash, attributes, created) VALUES(?,?,?,?)"
                            " ON CONFLICT(controller_id) DO UPDATE SET token_hash=excluded.token_hash,"
                            " attributes=excluded.attributes",
        [S_TARGET_ATTRS_SET] = "UPDATE targets SET attributes=?, attrs_requested=0 WHERE id=?",
        [S_TARGET_ATTRS] = "SELECT attributes FROM targets WHERE id=?",
        [S_TARGET_POLL] = "UPDATE targets SET last_poll=?2 WHERE id=?1 AND last_poll<?2",
        [S_TARGET_REPORTED] = "UPDATE targets SET reported_name=?, reported_version=? WHERE id=?",
        [S_TARGET_LIST] =
                "SELECT t.id, json_object('id', t.id, 'controllerId', t.controller_id,"
                " 'attributes', json(t.attributes), 'lastPoll', t.last_poll, 'created', t.created,"
                " 'installed', CASE WHEN b.id IS NULL THEN NULL ELSE"
                "   json_object('bundleId', b.id, 'name', b.name, 'version', b.version) END,"
                " 'reported', CASE WHEN t.reported_name IS NULL THEN NULL ELSE"
                "   json_object('name', t.reported_name, 'version', t.reported_version) END,"
                " 'currentAction', (SELECT json_object('id', a.id, 'status', a.status, 'rolloutId', a.rollout_id, 'group', a.grp + 1,"
                "   'bundleId', a.bundle_id, 'lastExecution', a.last_execution) FROM actions a"
                "   WHERE a.target_id=t.id ORDER BY a.active DESC, a.id DESC LIMIT 1),"
                " 'telemetry', json((SELECT json_object('lastSeq', s.last_seq, 'dropped', s.dropped, 'pending', s.pending,"
                "   'gaps', s.gaps, 'updated', s.updated) FROM telemetry_state s WHERE s.target_id=t.id)))"
                " FROM targets t LEFT JOIN bundles b ON b.id=t.installed_bundle"
                " WHERE t.id>? AND (?='' OR t.controller_id=?) ORDER BY t.id LIMIT ?",
        [S_TARGET_ALL] = "SELECT id, controller_id, attributes FROM targets ORDER BY id",
        [S_TARGET_INSTALLED] = "UPDATE targets SET installed_bundle=?, installed_action=?, attrs_requested=1 WHERE id=?",
        [S_ACTION_ACTIVE] = "SELECT id, target_id, IFNULL(rollout_id,0), grp, bundle_id, status, active,"
                            " action_type, mwindow, prev_bundle FROM actions WHERE target_id=? AND active=1"
                            " ORDER BY id LIMIT 1",
        [S_ACTION_GET] = "SELECT id, target_id, IFNULL(rollout_id,0), grp, bundle_id, status, active,"
                         " action_type, mwindow, prev_bundle FROM actions WHERE target_id=? AND id=?",
        [S_ACTION_STATUS_SET] = "UPDATE actions SET status=?, active=?, last_execution=?, progress_cnt=?,"
                                " progress_of=?, n_feedback=n_feedback+1, updated=? WHERE id=? AND active=1",
        [S_ACTION_FEEDBACK_ADD] = "INSERT INTO action_status(action_id, time, execution, finished, progress_cnt,"
                                  " progress_of, code, details) SELECT ?1,?2,?3,?4,?5,?6,?7,?8"
                                  " WHERE (SELECT n_feedback FROM actions WHERE id=?1) < ?9",
        [S_ACTION_SUPERSEDE] = "UPDATE actions SET status=?, active=0, last_execution='superseded', updated=?"
                               " WHERE target_id=? AND active=1",
        [S_ACTION_ADD] = "INSERT INTO actions(target_id, rollout_id, grp, bundle_id, kind, action_type, mwindow,"
                         " status, active, prev_bundle, created, updated)"
                         " SELECT ?1, NULLIF(?2,0), ?3, ?4, ?5, ?6, ?7, 0, 1, IFNULL(installed_bundle,0), ?8, ?8"
                         " FROM targets WHERE id=?1",
        [S_ACTION_JSON] =
                "SELECT json_object('id', a.id, 'controllerId', t.controller_id, 'rolloutId', a.rollout_id,"
                " 'group', a.grp, 'bundleId', a.bundle_id, 'kind', a.kind, 'type', a.action_type,"
                " 'status', a.status, 'active', json(CASE a.active WHEN 1 THEN 'true' ELSE 'false' END),"
                " 'lastExecution', a.last_execution, 'created', a.created, 'updated', a.updated,"
                " 'feedback', (SELECT json_group_array(json_object('time', s.time, 'execution', s.execution,"
                "   'finished', s.finished, 'progress', CASE WHEN s.progress_cnt IS NULL THEN NULL ELSE"
                "   json_object('cnt', s.progress_cnt, 'of', s.progress_of) END, 'code', s.code,"
                "   'details', json(s.details))) FROM (SELECT * FROM action_status WHERE action_id=a.id"
                "   ORDER BY id) s))"
                " FROM actions a JOIN targets t ON t.id=a.target_id WHERE a.id=?",
        [S_TARGET_HAS_BUNDLE] = "SELECT 1 FROM actions WHERE target_id=? AND bundle_id=? LIMIT 1",
        [S_BUNDLE_ADD] = "INSERT INTO bundles(name, version, filename, path, size, sha256, sha1, md5, created)"
                         " VALUES(?,?,?,?,?,?,?,?,?)",
        [S_BUNDLE_GET] = "SELECT id, name, version, filename, path, size, sha256, sha1, md5 FROM bundles WHERE id=?",
        [S_BUNDLE_LIST] = "SELECT id, name, version, filename, path, size, sha256, sha1, md5 FROM bundles ORDER BY id",
        [S_ROLLOUT_ADD] = "INSERT INTO rollouts(name, bundle_id, state, groups, success_threshold, error_threshold,"
                          " soak, action_type, mwindow, filter, created, updated, soaks) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [S_ROLLOUT_TARGET_ADD] = "INSERT INTO rollout_targets(rollout_id, target_id, grp) VALUES(?,?,?)",
        [S_ROLLOUT_GET] = "SELECT id, name, bundle_id, state, groups, success_threshold, error_threshold, soak,"
                          " action_type, mwindow, current_group, threshold_met_at, fail_baseline, reason, filter, soaks"
                          " FROM rollouts WHERE id=?",
        [S_ROLLOUT_SAVE] = "UPDATE rollouts SET state=?, current_group=?, threshold_met_at=?, fail_baseline=?,"
                           " reason=?, updated=? WHERE id=?",
        [S_ROLLOUT_IDS] = "SELECT id FROM rollouts WHERE (?='' OR state=?) ORDER BY id",
        [S_GROUP_TOTAL] = "SELECT count(*) FROM rollout_targets WHERE rollout_id=? AND grp=?",
        [S_GROUP_COUNTS] = "SELECT status, count(*) FROM actions WHERE rollout_id=? AND grp=? AND kind='update'"
                           " GROUP BY status",
        [S_GROUP_TARGETS] = "SELECT target_id FROM rollout_targets WHERE rollout_id=? AND grp=? ORDER BY target_id",
        [S_ROLLOUT_OPEN_ACTIONS] = "UPDATE actions SET status=?, updated=? WHERE rollout_id=? AND active=1"
                                   " AND kind='update' AND status IN (?,?)",
        [S_ACTION_HISTORY] =
                "SELECT json_group_array(m) FROM (SELECT strftime('%Y-%m-%dT%H:%M:%SZ', time, 'unixepoch') || ' '"
                " || execution || '/' || finished || (SELECT group_concat(' ' || value, '') FROM json_each(details)) AS m"
                " FROM action_status WHERE action_id=? ORDER BY id DESC LIMIT ?)",
        [S_ACTION_CANCEL] = "UPDATE actions SET status=?, updated=? WHERE id=? AND active=1 AND status IN (?,?)",
        [S_TM_STATE] = "SELECT queue, last_seq, dropped, gaps FROM telemetry_state WHERE target_id=?",
        [S_TM_RESET] = "DELETE FROM telemetry_records WHERE target_id=?",
        [S_TM_ADD] = "INSERT INTO telemetry_records(target_id, seq, ts, kind, source, text, received) VALUES(?,?,?,?,?,?,?)",
        [S_TM_STATE_SET] = "INSERT INTO telemetry_state(target_id, queue, last_seq, dropped, pending, gaps, updated)"
                           " VALUES(?,?,?,?,?,?,?) ON CONFLICT(target_id) DO UPDATE SET queue=excluded.queue,"
                           " last_seq=excluded.last_seq, dropped=excluded.dropped, pending=excluded.pending,"
                           " gaps=excluded.gaps, updated=excluded.updated",
        /* Everything at or below the (keep+1)-th newest seq goes. */
        [S_TM_PRUNE] = "DELETE FROM telemetry_records WHERE target_id=?1 AND seq<=(SELECT seq FROM telemetry_records"
                       " WHERE target_id=?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        /* "latest" relies on SQLite taking the bare columns of a MAX() aggregate from the
         * row that holds the maximum. */
        [S_TM_JSON] =
                "SELECT json_object('controllerId', t.controller_id, 'queue', s.queue, 'lastSeq', IFNULL(s.last_seq,0),"
                " 'dropped', IFNULL(s.dropped,0), 'pending', IFNULL(s.pending,0), 'gaps', IFNULL(s.gaps,0),"
                " 'updated', s.updated,"
                " 'latest', json((SELECT json_group_object(source, json_object('seq', seq, 'ts', ts, 'kind', kind,"
                "   'text', text)) FROM (SELECT source, MAX(seq) AS seq, ts, kind, text FROM telemetry_records"
                "   WHERE target_id=t.id GROUP BY source ORDER BY source))),"
                " 'records', json((SELECT json_group_array(json_object('seq', seq, 'ts', ts, 'kind', kind,"
                "   'source', source, 'text', text, 'received', received)) FROM (SELECT * FROM telemetry_records"
                "   WHERE target_id=t.id AND seq>?2 ORDER BY seq LIMIT ?3))))"
                " FROM targets t LEFT JOIN telemetry_state s ON s.target_id=t.id WHERE t.controller_id=?1",
        [S_TARGET_KEYED] = "SELECT count(*) FROM targets WHERE token_hash LIKE 'h1:%'",
        [S_TARGET_REKEY] = "UPDATE targets SET token_hash=?3 WHERE id=?1 AND token_hash=?2",
        [S_ROLLOUT_SUCCEEDED] = "SELECT a.target_id, a.prev_bundle FROM actions a JOIN targets t ON t.id=a.target_id"
                                " WHERE a.rollout_id=? AND a.kind='update' AND a.status=? AND a.prev_bundle<>0"
                                " AND t.installed_action=a.id",
};

static const char *const status_names[_ACTION_STATUS_MAX] = {
        "scheduled", "running", "canceling", "success", "failure", "canceled",
};

const char *action_status_str(int s)
{
        return s >= 0 && s < _ACTION_STATUS_MAX ? status_names[s] : "unknown";
}

static int sq_err(int rc)
{
        switch (rc) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        default:
                return -EIO;
        }
}

static sqlite3_stmt *st(struct sdb *db, enum stmt_id id)
{
        sqlite3_stmt *s = db->stmts[id];
        if (!s)
                return NULL;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
}

static int exec(struct sdb *db, const char *q)
{
        return sq_err(sqlite3_exec(db->h, q, NULL, NULL, NULL));
}

static int begin(struct sdb *db) { return exec(db, "BEGIN IMMEDIATE"); }
static int commit(struct sdb *db) { return exec(db, "COMMIT"); }
static void rollback(struct sdb *db) { (void)exec(db, "ROLLBACK"); }

static int step_done(sqlite3_stmt *s)
{
        int rc = sqlite3_step(s);
        int r = rc == SQLITE_DONE ? 0 : sq_err(rc ? rc : SQLITE_ERROR);
        sqlite3_reset(s);
        return r;
}

/* Steps a bound statement that answers one JSON text: 1 with a copy in *ret, 0 for no row. */
static int step_json(sqlite3_stmt *s, char **ret)
{
        int r = 0, rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                *ret = strdup((const char *)sqlite3_column_text(s, 0));
                r = *ret ? 1 : -ENOMEM;
        } else if (rc != SQLITE_DONE)
                r = sq_err(rc);
        sqlite3_reset(s);
        return r;
}

static void copy_text(char *dst, size_t n, sqlite3_stmt *s, int col)
{
        const unsigned char *t = sqlite3_column_text(s, col);
        snprintf(dst, n, "%s", t ? (const char *)t : "");
}

int sdb_open(const char *path, struct sdb **ret, berr *e)
{
        _cleanup_free_ struct sdb *db = calloc(1, sizeof *db);
        if (!db)
                return -ENOMEM;
        int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                berr_set(e, -EIO, "cannot open database %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
                sqlite3_close(db->h);
                return -EIO;
        }
        sqlite3_busy_timeout(db->h, 5000);
        int r = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
        if (r < 0)
                goto fail;

        sqlite3_stmt *v;
        int version = 0;
        if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK) {
                if (sqlite3_step(v) == SQLITE_ROW)
                        version = sqlite3_column_int(v, 0);
                sqlite3_finalize(v);
        }
        if (version > (int)ELEMENTSOF(migrations)) {
                berr_set(e, -EPROTO, "database %s has schema version %d, newer than this berth-server (%zu); upgrade berth-server",
                         path, version, ELEMENTSOF(migrations));
                r = -EPROTO;
                goto fail;
        }
        /* Each migration and its version bump commit together. */
        for (int i = version; i < (int)ELEMENTSOF(migrations); i++) {
                char bump[64];
                snprintf(bump, sizeof bump, "PRAGMA user_version=%d", i + 1);
                if ((r = begin(db)) < 0 || (r = exec(db, migrations[i])) < 0 || (r = exec(db, bump)) < 0 ||
                    (r = commit(db)) < 0) {
                        berr_set(e, r, "database %s: schema migration %d failed: %s", path, i + 1, sqlite3_errmsg(db->h));
                        rollback(db);
                        goto fail;
                }
        }
        for (int i = 0; i < _S_MAX; i++) {
                rc = sqlite3_prepare_v3(db->h, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->stmts[i], NULL);
                if (rc != SQLITE_OK) {
                        r = berr_set(e, -EIO, "database %s: cannot prepare statement %d: %s", path, i, sqlite3_errmsg(db->h));
                        goto fail;
                }
        }
        pthread_mutex_init(&db->lock, NULL);
        pthread_mutex_init(&db->poll_lock, NULL);
        *ret = TAKE_PTR(db);
        return 0;
fail:
        berr_set(e, r, "cannot initialise database %s: %s", path, sqlite3_errmsg(db->h));
        for (int i = 0; i < _S_MAX; i++)
                sqlite3_finalize(db->stmts[i]);
        sqlite3_close(db->h);
        return r;
}

void sdb_close(struct sdb *db)
{
        if (!db)
                return;
        sdb_flush_polls(db);
        for (int i = 0; i < _S_MAX; i++)
                sqlite3_finalize(db->stmts[i]);
        sqlite3_close(db->h);
        pthread_mutex_destroy(&db->lock);
        pthread_mutex_destroy(&db->poll_lock);
        free(db->polls);
        free(db);
}

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
#define LOCKED(db) for (_cleanup_(lockguard_release) struct lockguard _g = lockguard_take(&(db)->lock); _g.once; _g.once = 0)

/* --- targets --- */

static int read_target(sqlite3_stmt *s, struct sdb_target *t)
{
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sq_err(rc);
        memset(t, 0, sizeof *t);
        t->id = sqlite3_column_int64(s, 0);
        copy_text(t->cid, sizeof t->cid, s, 1);
        copy_text(t->token_hash, sizeof t->token_hash, s, 2);
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
                sqlite3_stmt *s = st(db, S_TARGET_BY_CID);
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
                sqlite3_stmt *s = st(db, S_TARGET_BY_ID);
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
                sqlite3_stmt *s = st(db, S_TARGET_KEYED);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 0 : sq_err(rc ? rc : SQLITE_ERROR);
                *ret = r == 0 ? sqlite3_column_int64(s, 0) : 0;
                sqlite3_reset(s);
        }
        return r;
}

int sdb_target_rekey(struct sdb *db, int64_t id, const char *old_hash, const char *new_hash)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TARGET_REKEY);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_text(s, 2, old_hash, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 3, new_hash, -1, SQLITE_STATIC);
                r = step_done(s);
        }
        return r;
}

int sdb_target_add(struct sdb *db, const char *cid, const char *token_hash, const char *attrs_json, int64_t *ret_id)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TARGET_ADD);
                sqlite3_bind_text(s, 1, cid, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 2, token_hash ? token_hash : "", -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 3, attrs_json ? attrs_json : "{}", -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
                r = step_done(s);
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
                r = begin(db);
                if (r < 0)
                        break;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        sqlite3_stmt *s = st(db, S_TARGET_UPSERT);
                        sqlite3_bind_text(s, 1, cids[i], -1, SQLITE_STATIC);
                        sqlite3_bind_text(s, 2, token_hashes[i] ? token_hashes[i] : "", -1, SQLITE_STATIC);
                        sqlite3_bind_text(s, 3, attrs[i] ? attrs[i] : "{}", -1, SQLITE_STATIC);
                        sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
                        r = step_done(s);
                        if (r < 0)
                                berr_set(e, r, "cannot store target '%s': %s", cids[i], sqlite3_errmsg(db->h));
                }
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
        }
        return r;
}

/* Stores what is new in one batch; called inside the configData transaction. */
static int tm_ingest_locked(struct sdb *db, int64_t id, const struct sdb_tm_batch *b, unsigned keep, int64_t now)
{
        int64_t last = 0, dropped = 0, gaps = 0;
        bool same_queue = false;
        sqlite3_stmt *s = st(db, S_TM_STATE);
        sqlite3_bind_int64(s, 1, id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                const unsigned char *q = sqlite3_column_text(s, 0);
                same_queue = q && !strcmp((const char *)q, b->queue);
                last = sqlite3_column_int64(s, 1);
                dropped = sqlite3_column_int64(s, 2);
                gaps = sqlite3_column_int64(s, 3);
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return sq_err(rc);
        int r;
        if (!same_queue) {
                /* A new queue id: the agent's state was wiped, its seqs start over. */
                if (rc == SQLITE_ROW) {
                        s = st(db, S_TM_RESET);
                        sqlite3_bind_int64(s, 1, id);
                        if ((r = step_done(s)) < 0)
                                return r;
                }
                last = dropped = gaps = 0;
        }
        /* A resend whose answer the agent lost: nothing new, nothing changes. */
        if (b->last <= last)
                return 0;
        if (b->first > last + 1)
                gaps += b->first - last - 1;
        int added = 0;
        for (size_t i = 0; i < b->n; i++) {
                const struct sdb_tm_record *x = &b->rec[i];
                if (x->seq <= last)
                        continue;
                s = st(db, S_TM_ADD);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int64(s, 2, x->seq);
                sqlite3_bind_int64(s, 3, x->ts);
                sqlite3_bind_text(s, 4, x->kind, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 5, x->source, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 6, x->text, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 7, now);
                if ((r = step_done(s)) < 0)
                        return r;
                added++;
        }
        s = st(db, S_TM_STATE_SET);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, b->queue, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, b->last);
        sqlite3_bind_int64(s, 4, b->dropped > dropped ? b->dropped : dropped); /* never decreases */
        sqlite3_bind_int64(s, 5, b->pending);
        sqlite3_bind_int64(s, 6, gaps);
        sqlite3_bind_int64(s, 7, now);
        if ((r = step_done(s)) < 0)
                return r;
        s = st(db, S_TM_PRUNE);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, keep);
        if ((r = step_done(s)) < 0)
                return r;
        return added;
}

int sdb_target_config_data(struct sdb *db, int64_t id, const char *attrs_json, const struct sdb_tm_batch *tm,
                           unsigned keep)
{
        int r;
        int64_t now = (int64_t)time(NULL);
        LOCKED(db) {
                if ((r = begin(db)) < 0)
                        break;
                if (attrs_json) {
                        sqlite3_stmt *s = st(db, S_TARGET_ATTRS_SET);
                        sqlite3_bind_text(s, 1, attrs_json, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(s, 2, id);
                        r = step_done(s);
                }
                int added = 0;
                if (r >= 0 && tm)
                        r = added = tm_ingest_locked(db, id, tm, keep, now);
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
                else
                        r = added;
        }
        return r;
}

int sdb_target_telemetry_json(struct sdb *db, const char *cid, int64_t after, unsigned limit, char **ret)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TM_JSON);
                sqlite3_bind_text(s, 1, cid, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, after);
                sqlite3_bind_int(s, 3, (int)limit);
                r = step_json(s, ret);
        }
        return r;
}

int sdb_target_attrs(struct sdb *db, int64_t id, char **ret)
{
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TARGET_ATTRS);
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
                sqlite3_stmt *s = st(db, S_TARGET_REPORTED);
                sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 2, version, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, id);
                r = step_done(s);
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
                r = begin(db);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        sqlite3_stmt *s = st(db, S_TARGET_POLL);
                        sqlite3_bind_int64(s, 1, p[i].id);
                        sqlite3_bind_int64(s, 2, p[i].t);
                        r = step_done(s);
                }
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
        }
        free(p);
        return r;
}

int sdb_targets_list_filtered(struct sdb *db, int64_t after_id, unsigned limit, const char *cid,
                              int (*fn)(void *ud, const char *json), void *ud)
{
        int r = 0, n = 0;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TARGET_LIST);
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
                        r = sq_err(rc);
                sqlite3_reset(s);
        }
        return r < 0 ? r : n;
}

int sdb_targets_foreach(struct sdb *db, int (*fn)(void *ud, int64_t id, const char *cid, const char *attrs), void *ud)
{
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TARGET_ALL);
                int rc;
                while (r >= 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
                        r = fn(ud, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                               (const char *)sqlite3_column_text(s, 2));
                sqlite3_reset(s);
        }
        return r;
}

/* --- actions --- */

static int read_action(sqlite3_stmt *s, struct sdb_action *a)
{
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sq_err(rc);
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(s, 0);
        a->target_id = sqlite3_column_int64(s, 1);
        a->rollout_id = sqlite3_column_int64(s, 2);
        a->grp = sqlite3_column_int(s, 3);
        a->bundle_id = sqlite3_column_int64(s, 4);
        a->status = sqlite3_column_int(s, 5);
        a->active = sqlite3_column_int(s, 6);
        copy_text(a->action_type, sizeof a->action_type, s, 7);
        copy_text(a->mwindow, sizeof a->mwindow, s, 8);
        a->prev_bundle = sqlite3_column_int64(s, 9);
        return 1;
}

int sdb_action_active(struct sdb *db, int64_t target_id, struct sdb_action *a)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_ACTION_ACTIVE);
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
                sqlite3_stmt *s = st(db, S_ACTION_GET);
                sqlite3_bind_int64(s, 1, target_id);
                sqlite3_bind_int64(s, 2, action_id);
                r = read_action(s, a);
                sqlite3_reset(s);
        }
        return r;
}

static void bind_opt(sqlite3_stmt *s, int i, int64_t v, int64_t absent)
{
        if (v == absent)
                sqlite3_bind_null(s, i);
        else
                sqlite3_bind_int64(s, i, v);
}

int sdb_action_feedback(struct sdb *db, const struct sdb_action *a, const struct sdb_feedback *f, int new_status)
{
        int r;
        int64_t now = (int64_t)time(NULL);
        bool active = new_status == ACTION_SCHEDULED || new_status == ACTION_RUNNING || new_status == ACTION_CANCELING;
        LOCKED(db) {
                if ((r = begin(db)) < 0)
                        break;
                sqlite3_stmt *s = st(db, S_ACTION_FEEDBACK_ADD);
                sqlite3_bind_int64(s, 1, a->id);
                sqlite3_bind_int64(s, 2, now);
                sqlite3_bind_text(s, 3, f->execution, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 4, f->finished, -1, SQLITE_STATIC);
                bind_opt(s, 5, f->progress_cnt, -1);
                bind_opt(s, 6, f->progress_of, -1);
                bind_opt(s, 7, f->code, INT64_MIN);
                sqlite3_bind_text(s, 8, f->details_json ? f->details_json : "[]", -1, SQLITE_STATIC);
                sqlite3_bind_int(s, 9, MAX_FEEDBACK_ROWS);
                r = step_done(s);
                if (r >= 0) {
                        s = st(db, S_ACTION_STATUS_SET);
                        sqlite3_bind_int(s, 1, new_status);
                        sqlite3_bind_int(s, 2, active);
                        sqlite3_bind_text(s, 3, f->execution, -1, SQLITE_STATIC);
                        bind_opt(s, 4, f->progress_cnt, -1);
                        bind_opt(s, 5, f->progress_of, -1);
                        sqlite3_bind_int64(s, 6, now);
                        sqlite3_bind_int64(s, 7, a->id);
                        r = step_done(s);
                        /* Closed (or superseded) since the caller read it: nothing to record. */
                        if (r >= 0 && sqlite3_changes(db->h) != 1)
                                r = -ESTALE;
                }
                if (r >= 0 && new_status == ACTION_SUCCESS) {
                        s = st(db, S_TARGET_INSTALLED);
                        sqlite3_bind_int64(s, 1, a->bundle_id);
                        sqlite3_bind_int64(s, 2, a->id);
                        sqlite3_bind_int64(s, 3, a->target_id);
                        r = step_done(s);
                }
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
        }
        return r;
}

static int action_create_locked(struct sdb *db, int64_t target_id, int64_t rollout_id, int grp, int64_t bundle_id,
                                const char *kind, const char *action_type, const char *mwindow, int64_t *ret_id)
{
        int64_t now = (int64_t)time(NULL);
        sqlite3_stmt *s = st(db, S_ACTION_SUPERSEDE);
        sqlite3_bind_int(s, 1, ACTION_CANCELED);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, target_id);
        int r = step_done(s);
        if (r < 0)
                return r;
        s = st(db, S_ACTION_ADD);
        sqlite3_bind_int64(s, 1, target_id);
        sqlite3_bind_int64(s, 2, rollout_id);
        sqlite3_bind_int(s, 3, grp);
        sqlite3_bind_int64(s, 4, bundle_id);
        sqlite3_bind_text(s, 5, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, action_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, mwindow ? mwindow : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 8, now);
        r = step_done(s);
        if (r < 0)
                return r;
        if (sqlite3_changes(db->h) != 1)
                return -ENOENT;
        if (ret_id)
                *ret_id = sqlite3_last_insert_rowid(db->h);
        return 0;
}

int sdb_action_create(struct sdb *db, int64_t target_id, int64_t rollout_id, int grp, int64_t bundle_id,
                      const char *action_type, const char *mwindow, int64_t *ret_id)
{
        int r;
        LOCKED(db) {
                if ((r = begin(db)) < 0)
                        break;
                r = action_create_locked(db, target_id, rollout_id, grp, bundle_id, "update", action_type, mwindow, ret_id);
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
        }
        return r;
}

static int fetch_json(struct sdb *db, enum stmt_id id, int64_t key, char **ret)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, id);
                sqlite3_bind_int64(s, 1, key);
                r = step_json(s, ret);
        }
        return r;
}

int sdb_action_cancel(struct sdb *db, int64_t action_id)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_ACTION_CANCEL);
                sqlite3_bind_int(s, 1, ACTION_CANCELING);
                sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
                sqlite3_bind_int64(s, 3, action_id);
                sqlite3_bind_int(s, 4, ACTION_SCHEDULED);
                sqlite3_bind_int(s, 5, ACTION_RUNNING);
                r = step_done(s);
                if (r >= 0)
                        r = sqlite3_changes(db->h);
        }
        return r;
}

int sdb_action_history(struct sdb *db, int64_t action_id, int limit, char **ret)
{
        int r = 0;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_ACTION_HISTORY);
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
        return fetch_json(db, S_ACTION_JSON, action_id, ret);
}

int sdb_target_has_bundle(struct sdb *db, int64_t target_id, int64_t bundle_id)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_TARGET_HAS_BUNDLE);
                sqlite3_bind_int64(s, 1, target_id);
                sqlite3_bind_int64(s, 2, bundle_id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sq_err(rc);
                sqlite3_reset(s);
        }
        return r;
}

/* --- bundles --- */

static void read_bundle(sqlite3_stmt *s, struct sdb_bundle *b)
{
        memset(b, 0, sizeof *b);
        b->id = sqlite3_column_int64(s, 0);
        copy_text(b->name, sizeof b->name, s, 1);
        b->version = sqlite3_column_int64(s, 2);
        copy_text(b->filename, sizeof b->filename, s, 3);
        copy_text(b->path, sizeof b->path, s, 4);
        b->size = (uint64_t)sqlite3_column_int64(s, 5);
        copy_text(b->sha256, sizeof b->sha256, s, 6);
        copy_text(b->sha1, sizeof b->sha1, s, 7);
        copy_text(b->md5, sizeof b->md5, s, 8);
}

int sdb_bundle_add(struct sdb *db, struct sdb_bundle *b, berr *e)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_BUNDLE_ADD);
                sqlite3_bind_text(s, 1, b->name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, b->version);
                sqlite3_bind_text(s, 3, b->filename, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 4, b->path, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 5, (int64_t)b->size);
                sqlite3_bind_text(s, 6, b->sha256, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 7, b->sha1, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 8, b->md5, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 9, (int64_t)time(NULL));
                r = step_done(s);
                if (r == -EEXIST)
                        berr_set(e, r, "bundle %s version %" PRId64 " was already uploaded", b->name, b->version);
                else if (r < 0)
                        berr_set(e, r, "cannot store bundle %s: %s", b->name, sqlite3_errmsg(db->h));
                else
                        b->id = sqlite3_last_insert_rowid(db->h);
        }
        return r;
}

int sdb_bundle_get(struct sdb *db, int64_t id, struct sdb_bundle *b)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_BUNDLE_GET);
                sqlite3_bind_int64(s, 1, id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sq_err(rc);
                if (r == 1)
                        read_bundle(s, b);
                sqlite3_reset(s);
        }
        return r;
}

int sdb_bundles_list(struct sdb *db, int (*fn)(void *ud, const struct sdb_bundle *b), void *ud)
{
        int r = 0;
        struct sdb_bundle b;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_BUNDLE_LIST);
                while (r >= 0 && sqlite3_step(s) == SQLITE_ROW) {
                        read_bundle(s, &b);
                        r = fn(ud, &b);
                }
                sqlite3_reset(s);
        }
        return r;
}

/* --- rollouts --- */

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
                if ((r = begin(db)) < 0)
                        break;
                sqlite3_stmt *s = st(db, S_ROLLOUT_ADD);
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
                r = step_done(s);
                if (r >= 0) {
                        ro->id = sqlite3_last_insert_rowid(db->h);
                        snprintf(ro->state, sizeof ro->state, "ready");
                        ro->current_group = -1;
                }
                for (size_t i = 0; i < n_targets && r >= 0; i++) {
                        s = st(db, S_ROLLOUT_TARGET_ADD);
                        sqlite3_bind_int64(s, 1, ro->id);
                        sqlite3_bind_int64(s, 2, target_ids[i]);
                        sqlite3_bind_int(s, 3, grp[i]);
                        r = step_done(s);
                }
                if (r >= 0)
                        r = commit(db);
                if (r < 0) {
                        berr_set(e, r, "cannot store rollout %s: %s", ro->name, sqlite3_errmsg(db->h));
                        rollback(db);
                }
        }
        return r;
}

int sdb_rollout_get(struct sdb *db, int64_t id, struct sdb_rollout *ro)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = st(db, S_ROLLOUT_GET);
                sqlite3_bind_int64(s, 1, id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sq_err(rc);
                if (r == 1) {
                        memset(ro, 0, sizeof *ro);
                        ro->id = sqlite3_column_int64(s, 0);
                        copy_text(ro->name, sizeof ro->name, s, 1);
                        ro->bundle_id = sqlite3_column_int64(s, 2);
                        copy_text(ro->state, sizeof ro->state, s, 3);
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
                        copy_text(ro->action_type, sizeof ro->action_type, s, 8);
                        copy_text(ro->mwindow, sizeof ro->mwindow, s, 9);
                        ro->current_group = sqlite3_column_int(s, 10);
                        ro->threshold_met_at = sqlite3_column_int64(s, 11);
                        ro->fail_baseline = sqlite3_column_int64(s, 12);
                        copy_text(ro->reason, sizeof ro->reason, s, 13);
                        copy_text(ro->filter_json, sizeof ro->filter_json, s, 14);
                }
                sqlite3_reset(s);
        }
        return r;
}

static int rollout_save_locked(struct sdb *db, const struct sdb_rollout *ro)
{
        sqlite3_stmt *s = st(db, S_ROLLOUT_SAVE);
        sqlite3_bind_text(s, 1, ro->state, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, ro->current_group);
        sqlite3_bind_int64(s, 3, ro->threshold_met_at);
        sqlite3_bind_int64(s, 4, ro->fail_baseline);
        sqlite3_bind_text(s, 5, ro->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, (int64_t)time(NULL));
        sqlite3_bind_int64(s, 7, ro->id);
        return step_done(s);
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
                sqlite3_stmt *s = st(db, S_ROLLOUT_IDS);
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
                sqlite3_stmt *s = st(db, S_GROUP_TOTAL);
                sqlite3_bind_int64(s, 1, rollout_id);
                sqlite3_bind_int(s, 2, grp);
                if (sqlite3_step(s) == SQLITE_ROW)
                        c->total = sqlite3_column_int64(s, 0);
                sqlite3_reset(s);
                s = st(db, S_GROUP_COUNTS);
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
        }
        return r;
}

int sdb_rollout_start_group(struct sdb *db, const struct sdb_rollout *ro, int grp)
{
        int r;
        LOCKED(db) {
                if ((r = begin(db)) < 0)
                        break;
                /* Collect first: the action inserts would disturb a live cursor. */
                int64_t *ids = NULL;
                size_t n = 0, cap = 0;
                sqlite3_stmt *s = st(db, S_GROUP_TARGETS);
                sqlite3_bind_int64(s, 1, ro->id);
                sqlite3_bind_int(s, 2, grp);
                while (r >= 0 && sqlite3_step(s) == SQLITE_ROW) {
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
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = action_create_locked(db, ids[i], ro->id, grp, ro->bundle_id, "update", ro->action_type,
                                                 ro->mwindow, NULL);
                free(ids);
                /* The group start and the rollout's new current group commit together. */
                if (r >= 0)
                        r = rollout_save_locked(db, ro);
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
        }
        return r;
}

int sdb_rollout_cancel(struct sdb *db, const struct sdb_rollout *ro)
{
        int r, touched = 0;
        LOCKED(db) {
                if ((r = begin(db)) < 0)
                        break;
                sqlite3_stmt *s = st(db, S_ROLLOUT_OPEN_ACTIONS);
                sqlite3_bind_int(s, 1, ACTION_CANCELING);
                sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
                sqlite3_bind_int64(s, 3, ro->id);
                sqlite3_bind_int(s, 4, ACTION_SCHEDULED);
                sqlite3_bind_int(s, 5, ACTION_RUNNING);
                r = step_done(s);
                if (r >= 0)
                        touched += sqlite3_changes(db->h);
                /* Targets that switched to this rollout's bundle go back to what they ran before. */
                struct pair {
                        int64_t target, bundle;
                } *v = NULL;
                size_t n = 0, cap = 0;
                s = st(db, S_ROLLOUT_SUCCEEDED);
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
                        r = action_create_locked(db, v[i].target, ro->id, -1, v[i].bundle, "rollback", "forced", "", NULL);
                        touched++;
                }
                free(v);
                if (r >= 0)
                        r = rollout_save_locked(db, ro);
                if (r >= 0)
                        r = commit(db);
                if (r < 0)
                        rollback(db);
        }
        return r < 0 ? r : touched;
}
