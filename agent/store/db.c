/* SPDX-License-Identifier: Apache-2.0 */
/* db.c — berth's SQLite state (see db.h): open, schema migrations, bundle tables.
 * Statements and error mapping go through store/sql.h. */
#include "store/db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "store/sql.h"

struct berth_db {
        sqlite3 *db;
        char *path;
        berr last;
};

/* Schema migrations: migrations[i] takes the schema from version i to i + 1. */
static const char *const migrations[] = {
        "CREATE TABLE bundles ("
        "  id INTEGER PRIMARY KEY,"
        "  name TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  manifest_digest TEXT NOT NULL,"
        "  manifest BLOB NOT NULL,"
        "  signatures BLOB NOT NULL,"
        "  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL,"
        "  imported_at INTEGER NOT NULL,"
        "  source TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  UNIQUE (name, version));"
        "CREATE TABLE images ("
        "  bundle_id INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,"
        "  ref TEXT NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  media_type TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  PRIMARY KEY (bundle_id, ref));"
        "CREATE TABLE bundle_blobs ("
        "  bundle_id INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,"
        "  digest TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  media_type TEXT NOT NULL,"
        "  PRIMARY KEY (bundle_id, digest));"
        "CREATE INDEX bundle_blobs_digest ON bundle_blobs(digest);",
        /* 2: the agent daemon (agent/store/agentdb.c). */
        "CREATE TABLE agent_kv ("
        "  key TEXT PRIMARY KEY,"
        "  value TEXT NOT NULL);"
        "CREATE TABLE agent_actions ("
        "  id TEXT PRIMARY KEY,"
        "  state TEXT NOT NULL,"
        "  url TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  download_only INTEGER NOT NULL,"
        "  name TEXT,"
        "  version INTEGER,"
        "  head BLOB,"
        "  detail TEXT,"
        "  created INTEGER NOT NULL,"
        "  updated INTEGER NOT NULL);"
        "CREATE TABLE agent_downloads ("
        "  digest TEXT PRIMARY KEY,"
        "  good_bytes INTEGER NOT NULL,"
        "  updated INTEGER NOT NULL);"
        "CREATE TABLE agent_outbox ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  kind TEXT NOT NULL,"
        "  action_id TEXT,"
        "  method TEXT NOT NULL,"
        "  url TEXT NOT NULL,"
        "  body TEXT NOT NULL,"
        "  created INTEGER NOT NULL);",
        /* 3: workload updates (store/wstate.c) */
        "CREATE TABLE workload_updates ("
        "  id INTEGER PRIMARY KEY,"
        "  bundle TEXT NOT NULL,"
        "  from_version INTEGER NOT NULL,"
        "  to_version INTEGER NOT NULL,"
        "  kind TEXT NOT NULL,"
        "  state TEXT NOT NULL,"
        "  started_ms INTEGER NOT NULL,"
        "  state_ms INTEGER NOT NULL,"
        "  probe_until_ms INTEGER NOT NULL DEFAULT 0,"
        "  evidence TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX workload_updates_bundle ON workload_updates(bundle, id);"
        "CREATE TABLE workload_current ("
        "  bundle TEXT PRIMARY KEY,"
        "  version INTEGER NOT NULL,"
        "  previous INTEGER NOT NULL DEFAULT 0);",
        /* 4: telemetry queue (store/agentdb_telemetry.c). seq values are consecutive: they come
         * from telemetry_meta.next_seq, and only the oldest rows are ever deleted. */
        "CREATE TABLE telemetry_queue ("
        "  seq INTEGER PRIMARY KEY,"
        "  ts INTEGER NOT NULL,"
        "  kind TEXT NOT NULL,"
        "  source TEXT NOT NULL,"
        "  text TEXT NOT NULL,"
        "  size INTEGER NOT NULL);"
        "CREATE TABLE telemetry_meta ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  queue_id TEXT NOT NULL,"
        "  next_seq INTEGER NOT NULL,"
        "  dropped INTEGER NOT NULL);"
        "INSERT INTO telemetry_meta VALUES (1, lower(hex(randomblob(8))), 1, 0);",
        /* 5: what an action downloaded, across restarts of the agent (agentdb.c). */
        "ALTER TABLE agent_actions ADD COLUMN fetched INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE agent_actions ADD COLUMN blobs_fetched INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE agent_actions ADD COLUMN total INTEGER NOT NULL DEFAULT 0;",
        /* 6: the HTTP requests an action made to the server's artifact, and the artifact's
         * sha256 from the deployment (agentdb.c). */
        ("ALTER TABLE agent_actions ADD COLUMN requests INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE agent_actions ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';"),
        /* 7: the agent's WAN bytes per UTC day, for the data budget (agentdb_usage.c), and
         * the deployments the server let past it (agentdb.c). */
        ("CREATE TABLE wan_usage (day INTEGER PRIMARY KEY, rx INTEGER NOT NULL, tx INTEGER NOT NULL);"
         "ALTER TABLE agent_actions ADD COLUMN budget_override INTEGER NOT NULL DEFAULT 0;"),
        /* 8: of an action's downloaded bytes, those that came from site peers (agentdb.c). */
        "ALTER TABLE agent_actions ADD COLUMN peer_fetched INTEGER NOT NULL DEFAULT 0;",
        /* 9: layers held only unpacked, by their held key (import/held.h). */
        "CREATE TABLE unpacked_layers (key TEXT PRIMARY KEY, at INTEGER NOT NULL);",
};

static int sq_err(struct berth_db *db, berr *e, const char *what)
{
        return sql_fail(db, sqlite3_errcode(db->db), what, e);
}

const char *db_path(struct berth_db *db)
{
        return db->path ? db->path : "berth.db";
}

const char *db_last_error(struct berth_db *db)
{
        return db->last.msg;
}

int db_last_errno(struct berth_db *db)
{
        return db->last.code;
}

void db_set_last_error(struct berth_db *db, const berr *e)
{
        db->last = *e;
}

void db_close(struct berth_db *db)
{
        if (!db)
                return;
        sqlite3_close_v2(db->db);
        free(db->path);
        free(db);
}

static int exec(struct berth_db *db, const char *sql, berr *e)
{
        return sql_exec(db, sql, e);
}

static int migrate(struct berth_db *db, berr *e)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return sq_err(db, e, "reading schema version");
        int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        int n = (int)ELEMENTSOF(migrations);
        if (v < 0)
                return sq_err(db, e, "reading schema version");
        if (v > n)
                return berr_set(e, -EPROTO, "database schema version %d is newer than this berth understands (%d); "
                                "upgrade berth", v, n);
        for (; v < n; v++) {
                char pragma[64];
                snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", v + 1);
                int r = exec(db, "BEGIN IMMEDIATE", e);
                if (r >= 0)
                        r = exec(db, migrations[v], e);
                if (r >= 0)
                        r = exec(db, pragma, e);
                if (r >= 0)
                        r = exec(db, "COMMIT", e);
                if (r < 0) {
                        sql_rollback(db);
                        return berr_prefix(e, r, "migrating schema to version %d", v + 1);
                }
        }
        return 0;
}

int db_open(const char *state_dir, struct berth_db **ret, berr *e)
{
        int r = mkdir_p(state_dir, 0755);
        if (r < 0)
                return berr_set(e, r, "cannot create state directory %s: %s", state_dir, strerror(-r));
        _cleanup_(db_closep) struct berth_db *db = calloc(1, sizeof *db);
        if (!db)
                return -ENOMEM;
        const char *path = db->path = path_join(state_dir, "berth.db");
        if (!path)
                return -ENOMEM;
        int rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return db->db ? sql_fail(db, rc, "opening the state database", e) : -ENOMEM;
        sqlite3_busy_timeout(db->db, 10000);
        /* WAL + FULL: a committed transaction survives a power cut. */
        r = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", e);
        if (r >= 0)
                r = migrate(db, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(db);
        return 0;
}

struct sqlite3 *db_handle(struct berth_db *db)
{
        return db->db;
}

int db_installed(struct berth_db *db, const char *name, int64_t *ret_version, char ret_digest[DIGEST_STR_LEN + 1])
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db,
                               "SELECT version, manifest_digest FROM bundles WHERE name=? ORDER BY version DESC LIMIT 1",
                               -1, &st, NULL) != SQLITE_OK)
                return sq_err(db, NULL, "reading bundles");
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int k = sqlite3_step(st), r = 0;
        if (k == SQLITE_ROW) {
                if (ret_version)
                        *ret_version = sqlite3_column_int64(st, 0);
                if (ret_digest)
                        snprintf(ret_digest, DIGEST_STR_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 1));
                r = 1;
        } else if (k != SQLITE_DONE)
                r = sq_err(db, NULL, "reading bundles");
        sqlite3_finalize(st);
        return r;
}

int db_record_bundle(struct berth_db *db, const struct bundle_manifest *m, const void *manifest, size_t mlen,
                     const void *sigs, size_t slen, const char *source, int64_t now, berr *e)
{
        int r = exec(db, "BEGIN IMMEDIATE", e);
        if (r < 0)
                return r;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db->db,
                               "INSERT INTO bundles (name, version, manifest_digest, manifest, signatures, created, expires,"
                               " imported_at, source, size) VALUES (?,?,?,?,?,?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                r = sq_err(db, e, "recording bundle");
                goto fail;
        }
        sqlite3_bind_text(st, 1, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, m->version);
        sqlite3_bind_text(st, 3, m->digest, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, manifest, (int)mlen, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, sigs, (int)slen, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, m->created);
        sqlite3_bind_int64(st, 7, m->expires);
        sqlite3_bind_int64(st, 8, now);
        sqlite3_bind_text(st, 9, source ? source : "cli", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)m->total_blob_size);
        if (sqlite3_step(st) != SQLITE_DONE) {
                r = sq_err(db, e, "recording bundle");
                goto fail;
        }
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_int64 id = sqlite3_last_insert_rowid(db->db);

        if (sqlite3_prepare_v2(db->db, "INSERT INTO images (bundle_id, ref, digest, media_type, size) VALUES (?,?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                r = sq_err(db, e, "recording images");
                goto fail;
        }
        for (size_t i = 0; i < m->n_images; i++) {
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_text(st, 2, m->images[i].ref, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, m->images[i].digest, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, m->images[i].media_type, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 5, (sqlite3_int64)m->images[i].size);
                if (sqlite3_step(st) != SQLITE_DONE) {
                        r = sq_err(db, e, "recording images");
                        goto fail;
                }
        }
        sqlite3_finalize(st);
        st = NULL;
        if (sqlite3_prepare_v2(db->db, "INSERT INTO bundle_blobs (bundle_id, digest, size, media_type) VALUES (?,?,?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                r = sq_err(db, e, "recording blobs");
                goto fail;
        }
        for (size_t i = 0; i < m->n_blobs; i++) {
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_text(st, 2, m->blobs[i].digest, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, (sqlite3_int64)m->blobs[i].size);
                sqlite3_bind_text(st, 4, m->blobs[i].media_type, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE) {
                        r = sq_err(db, e, "recording blobs");
                        goto fail;
                }
        }
        sqlite3_finalize(st);
        st = NULL;
        r = exec(db, "COMMIT", e);
        if (r >= 0)
                return 0;
fail:
        sqlite3_finalize(st);
        sql_rollback(db);
        return r;
}

int db_list_bundles(struct berth_db *db, db_bundle_fn fn, void *userdata)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db,
                               "SELECT b.name, b.version, b.manifest_digest, b.created, b.expires, b.imported_at, b.source,"
                               " b.size, (SELECT count(*) FROM images i WHERE i.bundle_id=b.id)"
                               " FROM bundles b ORDER BY b.name, b.version",
                               -1, &st, NULL) != SQLITE_OK)
                return sq_err(db, NULL, "reading bundles");
        int k, r = 0;
        while ((k = sqlite3_step(st)) == SQLITE_ROW) {
                struct db_bundle b = {
                        .name = (char *)sqlite3_column_text(st, 0),
                        .version = sqlite3_column_int64(st, 1),
                        .created = sqlite3_column_int64(st, 3),
                        .expires = sqlite3_column_int64(st, 4),
                        .imported_at = sqlite3_column_int64(st, 5),
                        .source = (char *)sqlite3_column_text(st, 6),
                        .size = (uint64_t)sqlite3_column_int64(st, 7),
                        .n_images = (unsigned)sqlite3_column_int(st, 8),
                };
                snprintf(b.digest, sizeof b.digest, "%s", (const char *)sqlite3_column_text(st, 2));
                r = fn(userdata, &b);
                if (r < 0)
                        break;
        }
        if (r >= 0 && k != SQLITE_DONE && k != SQLITE_ROW)
                r = sq_err(db, NULL, "reading bundles");
        sqlite3_finalize(st);
        return r;
}

static int get_head_column(struct berth_db *db, const char *sql, const char *name, int64_t version, char **ret,
                           size_t *ret_len)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
                return sq_err(db, NULL, "reading bundles");
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, version);
        int r = -ENOENT, k = sqlite3_step(st);
        if (k != SQLITE_ROW && k != SQLITE_DONE)
                r = sq_err(db, NULL, "reading a bundle");
        if (k == SQLITE_ROW) {
                int n = sqlite3_column_bytes(st, 0);
                char *b = malloc((size_t)n + 1);
                if (!b)
                        r = -ENOMEM;
                else {
                        memcpy(b, sqlite3_column_blob(st, 0), (size_t)n);
                        b[n] = 0;
                        *ret = b;
                        *ret_len = (size_t)n;
                        r = 0;
                }
        }
        sqlite3_finalize(st);
        return r;
}

int db_get_manifest(struct berth_db *db, const char *name, int64_t version, char **ret, size_t *ret_len)
{
        return get_head_column(db, "SELECT manifest FROM bundles WHERE name=? AND version=?", name, version, ret,
                               ret_len);
}

int db_get_signatures(struct berth_db *db, const char *name, int64_t version, char **ret, size_t *ret_len)
{
        return get_head_column(db, "SELECT signatures FROM bundles WHERE name=? AND version=?", name, version, ret,
                               ret_len);
}

int db_list_images(struct berth_db *db, const char *name, int64_t version, db_image_fn fn, void *userdata)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->db,
                               "SELECT i.ref, i.digest, i.media_type, i.size FROM images i JOIN bundles b ON b.id=i.bundle_id"
                               " WHERE b.name=? AND b.version=? ORDER BY i.ref",
                               -1, &st, NULL) != SQLITE_OK)
                return sq_err(db, NULL, "reading bundles");
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, version);
        int k, r = 0;
        while ((k = sqlite3_step(st)) == SQLITE_ROW) {
                struct db_image im = {
                        .ref = (const char *)sqlite3_column_text(st, 0),
                        .digest = (const char *)sqlite3_column_text(st, 1),
                        .media_type = (const char *)sqlite3_column_text(st, 2),
                        .size = (uint64_t)sqlite3_column_int64(st, 3),
                };
                r = fn(userdata, &im);
                if (r < 0)
                        break;
        }
        if (r >= 0 && k != SQLITE_DONE && k != SQLITE_ROW)
                r = sq_err(db, NULL, "reading bundles");
        sqlite3_finalize(st);
        return r;
}

int db_unpacked_add(struct berth_db *db, const char *key, int64_t now, berr *e)
{
        _cleanup_sql_ sql_stmt *st = NULL;
        int r = sql_prep(db, "INSERT INTO unpacked_layers(key, at) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET at = excluded.at", &st, e);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        r = sql_step(db, st, e);
        return r < 0 ? r : 0;
}

int db_unpacked_has(struct berth_db *db, const char *key, berr *e)
{
        _cleanup_sql_ sql_stmt *st = NULL;
        int r = sql_prep(db, "SELECT 1 FROM unpacked_layers WHERE key = ?", &st, e);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        return sql_step(db, st, e);
}

int db_unpacked_forget(struct berth_db *db, const char *key, berr *e)
{
        _cleanup_sql_ sql_stmt *st = NULL;
        int r = sql_prep(db, "DELETE FROM unpacked_layers WHERE key = ?", &st, e);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        r = sql_step(db, st, e);
        return r < 0 ? r : 0;
}

int db_blob_last_import(struct berth_db *db, const char *digest, int64_t *ret, berr *e)
{
        _cleanup_sql_ sql_stmt *st = NULL;
        int r = sql_prep(db, "SELECT MAX(b.imported_at) FROM bundle_blobs bb JOIN bundles b ON b.id = bb.bundle_id "
                         "WHERE bb.digest = ?", &st, e);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        r = sql_step(db, st, e);
        if (r <= 0 || sqlite3_column_type(st, 0) == SQLITE_NULL)
                return r < 0 ? r : 0;
        *ret = sqlite3_column_int64(st, 0);
        return 1;
}
