/* SPDX-License-Identifier: Apache-2.0 */
/* db.c — SQLite storage for berth-server: the connection (see db.h, db_int.h).
 *
 * Owns the connection, the schema migrations (PRAGMA user_version), the cache of prepared
 * statements (each table family's file gives its SQL) and the helpers every family uses.
 * The families: targets.c, telemetry.c, actions.c, bundles.c, rollouts.c.
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"

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
        /* 4: consent (hawkBit confirmationBase): a rollout may ask its targets to confirm;
         * an action then waits ('waiting', 'denied') until 'confirmed'; a target may have
         * every action confirmed automatically (auto-confirm, who turned it on and why) */
        "ALTER TABLE rollouts ADD COLUMN confirm_required INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE actions ADD COLUMN confirmation TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE targets ADD COLUMN auto_confirm INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE targets ADD COLUMN auto_confirm_initiator TEXT;"
        "ALTER TABLE targets ADD COLUMN auto_confirm_remark TEXT;"
        "ALTER TABLE targets ADD COLUMN auto_confirm_at INTEGER NOT NULL DEFAULT 0;",
        /* 5: plain artifacts beside .berth bundles: a software module (type, name, version
         * text) with any file. The table is rebuilt (SQLite cannot drop its UNIQUE(name,
         * version)): each kind keeps its own uniqueness in a partial index. */
        "CREATE TABLE bundles_new ("
        "  id INTEGER PRIMARY KEY, kind TEXT NOT NULL DEFAULT 'berth', name TEXT NOT NULL, version INTEGER NOT NULL,"
        "  module_type TEXT NOT NULL DEFAULT 'bApp', module_version TEXT NOT NULL DEFAULT '',"
        "  filename TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,"
        "  sha256 TEXT NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, created INTEGER NOT NULL);"
        "INSERT INTO bundles_new(id, kind, name, version, module_type, module_version, filename, path, size,"
        "  sha256, sha1, md5, created) SELECT id, 'berth', name, version, 'bApp', CAST(version AS TEXT), filename,"
        "  path, size, sha256, sha1, md5, created FROM bundles;"
        "DROP TABLE bundles;"
        "ALTER TABLE bundles_new RENAME TO bundles;"
        "CREATE UNIQUE INDEX bundles_berth ON bundles(name, version) WHERE kind='berth';"
        "CREATE UNIQUE INDEX bundles_plain ON bundles(module_type, name, module_version) WHERE kind='plain';",
        /* 6: data budgets: a rollout may let its deployments go past the agents' WAN data
         * budget (chunk metadata berth.budget = override); each action keeps its own copy.
         * In parentheses: one element of two statements, not a missing comma (clang's
         * -Wstring-concatenation). */
        ("ALTER TABLE rollouts ADD COLUMN budget_override INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE actions ADD COLUMN budget_override INTEGER NOT NULL DEFAULT 0;"),
};

static const char *const status_names[_ACTION_STATUS_MAX] = {
        "scheduled", "running", "canceling", "success", "failure", "canceled",
};

const char *action_status_str(int s)
{
        return s >= 0 && s < _ACTION_STATUS_MAX ? status_names[s] : "unknown";
}

int sdb_sqerr(int rc)
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

sqlite3_stmt *sdb_stmt(struct sdb *db, enum stmt_id id)
{
        sqlite3_stmt *s = db->stmts[id];
        if (!s)
                return NULL;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
}

int sdb_exec(struct sdb *db, const char *q)
{
        return sdb_sqerr(sqlite3_exec(db->h, q, NULL, NULL, NULL));
}

int sdb_begin(struct sdb *db) { return sdb_exec(db, "BEGIN IMMEDIATE"); }
int sdb_commit(struct sdb *db) { return sdb_exec(db, "COMMIT"); }
void sdb_rollback(struct sdb *db) { (void)sdb_exec(db, "ROLLBACK"); }

int sdb_step_done(sqlite3_stmt *s)
{
        int rc = sqlite3_step(s);
        int r = rc == SQLITE_DONE ? 0 : sdb_sqerr(rc ? rc : SQLITE_ERROR);
        sqlite3_reset(s);
        return r;
}

/* Steps a bound statement that answers one JSON text: 1 with a copy in *ret, 0 for no row. */
int sdb_step_json(sqlite3_stmt *s, char **ret)
{
        int r = 0, rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                *ret = strdup((const char *)sqlite3_column_text(s, 0));
                r = *ret ? 1 : -ENOMEM;
        } else if (rc != SQLITE_DONE)
                r = sdb_sqerr(rc);
        sqlite3_reset(s);
        return r;
}

void sdb_copy_text(char *dst, size_t n, sqlite3_stmt *s, int col)
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
        int r = sdb_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
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
        /* Each migration and its version bump commit together. Foreign keys are off meanwhile
         * (a rebuilt table is dropped and renamed; SQLite checks them only outside a
         * transaction) and checked once at the end. */
        if (version < (int)ELEMENTSOF(migrations) && (r = sdb_exec(db, "PRAGMA foreign_keys=OFF")) < 0)
                goto fail;
        for (int i = version; i < (int)ELEMENTSOF(migrations); i++) {
                char bump[64];
                snprintf(bump, sizeof bump, "PRAGMA user_version=%d", i + 1);
                if ((r = sdb_begin(db)) < 0 || (r = sdb_exec(db, migrations[i])) < 0 || (r = sdb_exec(db, bump)) < 0 ||
                    (r = sdb_commit(db)) < 0) {
                        berr_set(e, r, "database %s: schema migration %d failed: %s", path, i + 1, sqlite3_errmsg(db->h));
                        sdb_rollback(db);
                        goto fail;
                }
        }
        if (version < (int)ELEMENTSOF(migrations)) {
                sqlite3_stmt *fk;
                bool broken = false;
                if (sqlite3_prepare_v2(db->h, "PRAGMA foreign_key_check", -1, &fk, NULL) == SQLITE_OK) {
                        broken = sqlite3_step(fk) == SQLITE_ROW;
                        sqlite3_finalize(fk);
                }
                if ((r = sdb_exec(db, "PRAGMA foreign_keys=ON")) < 0)
                        goto fail;
                if (broken) {
                        r = berr_set(e, -EPROTO, "database %s: a reference between tables is broken after the schema "
                                                 "migration; restore the database from a backup", path);
                        goto fail;
                }
        }
        /* Every statement of every family is prepared once, here. */
        const char *sql[_S_MAX] = {0};
        sdb_sql_targets(sql);
        sdb_sql_telemetry(sql);
        sdb_sql_actions(sql);
        sdb_sql_bundles(sql);
        sdb_sql_rollouts(sql);
        sdb_sql_consent(sql);
        for (int i = 0; i < _S_MAX; i++) {
                if (!sql[i]) {
                        r = berr_set(e, -EINVAL, "database %s: statement %d has no SQL", path, i);
                        goto fail;
                }
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

void sdb_bind_opt(sqlite3_stmt *s, int i, int64_t v, int64_t absent)
{
        if (v == absent)
                sqlite3_bind_null(s, i);
        else
                sqlite3_bind_int64(s, i, v);
}

int sdb_fetch_json(struct sdb *db, enum stmt_id id, int64_t key, char **ret)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, id);
                sqlite3_bind_int64(s, 1, key);
                r = sdb_step_json(s, ret);
        }
        return r;
}
