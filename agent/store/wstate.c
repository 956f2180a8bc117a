/* SPDX-License-Identifier: Apache-2.0 */
/* wstate.c — persisted workload update states (see wstate.h). One transaction per
 * call; the schema lives in db.c's migrations (schema version 3).
 */
#include "store/wstate.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "store/sql.h"

static const char *const names[] = {"staged", "switching", "probing", "committed", "rolling_back", "rolled_back"};

const char *wstate_name(enum wstate_state s)
{
        return s < _WSTATE_MAX ? names[s] : "unknown";
}

static enum wstate_state state_from(const char *s)
{
        for (int i = 0; i < _WSTATE_MAX; i++)
                if (s && !strcmp(s, names[i]))
                        return (enum wstate_state)i;
        return WSTATE_ROLLED_BACK;
}

/* The last statement's failure, mapped once by store/sql.c. */
static int sq(struct berth_db *db, berr *e, const char *what)
{
        return sql_fail(db, sqlite3_errcode(db_handle(db)), what, e);
}

static int exec(struct berth_db *db, const char *sql, berr *e)
{
        return sql_exec(db, sql, e);
}

static void row_to(sqlite3_stmt *st, struct wstate_update *u)
{
        memset(u, 0, sizeof *u);
        u->id = sqlite3_column_int64(st, 0);
        snprintf(u->bundle, sizeof u->bundle, "%s", (const char *)sqlite3_column_text(st, 1));
        u->from_version = sqlite3_column_int64(st, 2);
        u->to_version = sqlite3_column_int64(st, 3);
        snprintf(u->kind, sizeof u->kind, "%s", (const char *)sqlite3_column_text(st, 4));
        u->state = state_from((const char *)sqlite3_column_text(st, 5));
        u->started_ms = sqlite3_column_int64(st, 6);
        u->state_ms = sqlite3_column_int64(st, 7);
        u->probe_until_ms = sqlite3_column_int64(st, 8);
        snprintf(u->evidence, sizeof u->evidence, "%s", (const char *)sqlite3_column_text(st, 9));
}

#define COLS "id, bundle, from_version, to_version, kind, state, started_ms, state_ms, probe_until_ms, evidence"

int wstate_latest(struct berth_db *db, const char *bundle, bool unfinished_only, struct wstate_update *ret)
{
        sqlite3_stmt *st;
        const char *sql = unfinished_only ? "SELECT " COLS " FROM workload_updates WHERE bundle=? AND state NOT IN "
                                            "('committed','rolled_back') ORDER BY id DESC LIMIT 1"
                                          : "SELECT " COLS " FROM workload_updates WHERE bundle=? ORDER BY id DESC LIMIT 1";
        if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
                return sq(db, NULL, "reading workload state");
        sqlite3_bind_text(st, 1, bundle, -1, SQLITE_STATIC);
        int k = sqlite3_step(st), r = 0;
        if (k == SQLITE_ROW) {
                row_to(st, ret);
                r = 1;
        } else if (k != SQLITE_DONE)
                r = sq(db, NULL, "reading workload state");
        sqlite3_finalize(st);
        return r;
}

int wstate_begin(struct berth_db *db, const char *bundle, int64_t from, int64_t to, const char *kind,
                 int64_t now_ms, struct wstate_update *ret, berr *e)
{
        struct wstate_update cur;
        int r = exec(db, "BEGIN IMMEDIATE", e);
        if (r < 0)
                return r;
        r = wstate_latest(db, bundle, true, &cur);
        if (r > 0) {
                sql_rollback(db);
                return berr_set(e, -EBUSY, "bundle %s: an update to version %lld is still %s; finish it first", bundle,
                                (long long)cur.to_version, wstate_name(cur.state));
        }
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db),
                               "INSERT INTO workload_updates (bundle, from_version, to_version, kind, state, started_ms, "
                               "state_ms) VALUES (?,?,?,?,'staged',?,?)",
                               -1, &st, NULL) != SQLITE_OK) {
                r = sq(db, e, "recording an update");
                sql_rollback(db);
                return r;
        }
        sqlite3_bind_text(st, 1, bundle, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now_ms);
        sqlite3_bind_int64(st, 6, now_ms);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : sq(db, e, "recording an update");
        sqlite3_finalize(st);
        if (r >= 0)
                r = exec(db, "COMMIT", e);
        if (r < 0) {
                sql_rollback(db);
                return r;
        }
        r = wstate_latest(db, bundle, true, ret);
        return r > 0 ? 0 : berr_set(e, -EIO, "database: the update just recorded for %s is gone", bundle);
}

static int set_row(struct berth_db *db, struct wstate_update *u, enum wstate_state state, int64_t probe_until_ms,
                   const char *evidence, int64_t now_ms, berr *e)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db),
                               "UPDATE workload_updates SET state=?, state_ms=?, probe_until_ms=?, evidence=? WHERE id=?",
                               -1, &st, NULL) != SQLITE_OK)
                return sq(db, e, "updating an update's state");
        int64_t pu = probe_until_ms ? probe_until_ms : u->probe_until_ms;
        const char *ev = evidence ? evidence : u->evidence;
        sqlite3_bind_text(st, 1, wstate_name(state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_int64(st, 3, pu);
        sqlite3_bind_text(st, 4, ev, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, u->id);
        int r = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db_handle(db)) == 1
                        ? 0
                        : sq(db, e, "updating an update's state");
        sqlite3_finalize(st);
        if (r < 0)
                return r;
        u->state = state;
        u->state_ms = now_ms;
        u->probe_until_ms = pu;
        if (ev != u->evidence)
                snprintf(u->evidence, sizeof u->evidence, "%s", ev);
        return 0;
}

int wstate_set(struct berth_db *db, struct wstate_update *u, enum wstate_state state, int64_t probe_until_ms,
               const char *evidence, int64_t now_ms, berr *e)
{
        return set_row(db, u, state, probe_until_ms, evidence, now_ms, e);
}

int wstate_commit(struct berth_db *db, struct wstate_update *u, const char *evidence, int64_t now_ms, berr *e)
{
        int r = exec(db, "BEGIN IMMEDIATE", e);
        if (r < 0)
                return r;
        struct wstate_update copy = *u;
        r = set_row(db, &copy, WSTATE_COMMITTED, 0, evidence, now_ms, e);
        if (r >= 0) {
                sqlite3_stmt *st;
                if (sqlite3_prepare_v2(db_handle(db),
                                       "INSERT INTO workload_current (bundle, version, previous) VALUES (?,?,?) "
                                       "ON CONFLICT(bundle) DO UPDATE SET version=excluded.version, "
                                       "previous=excluded.previous",
                                       -1, &st, NULL) != SQLITE_OK)
                        r = sq(db, e, "recording the current version");
                else {
                        sqlite3_bind_text(st, 1, u->bundle, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 2, u->to_version);
                        sqlite3_bind_int64(st, 3, u->from_version);
                        r = sqlite3_step(st) == SQLITE_DONE ? 0 : sq(db, e, "recording the current version");
                        sqlite3_finalize(st);
                }
        }
        if (r >= 0)
                r = exec(db, "COMMIT", e);
        if (r < 0) {
                sql_rollback(db);
                return r;
        }
        *u = copy;
        return 0;
}

int wstate_current(struct berth_db *db, const char *bundle, int64_t *ret_version, int64_t *ret_previous)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db), "SELECT version, previous FROM workload_current WHERE bundle=?", -1, &st,
                               NULL) != SQLITE_OK)
                return sq(db, NULL, "reading workload state");
        sqlite3_bind_text(st, 1, bundle, -1, SQLITE_STATIC);
        int r = 0;
        if (sqlite3_step(st) == SQLITE_ROW) {
                if (ret_version)
                        *ret_version = sqlite3_column_int64(st, 0);
                if (ret_previous)
                        *ret_previous = sqlite3_column_int64(st, 1);
                r = 1;
        }
        sqlite3_finalize(st);
        return r;
}

int wstate_list_bundles(struct berth_db *db, wstate_bundle_fn fn, void *ud)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db),
                               "SELECT bundle FROM workload_current UNION SELECT bundle FROM workload_updates ORDER BY 1",
                               -1, &st, NULL) != SQLITE_OK)
                return sq(db, NULL, "reading workload state");
        int r = 0;
        while (r >= 0 && sqlite3_step(st) == SQLITE_ROW)
                r = fn(ud, (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

int wstate_list_versions(struct berth_db *db, const char *bundle, wstate_version_fn fn, void *ud)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db), "SELECT version FROM bundles WHERE name=? ORDER BY version", -1, &st,
                               NULL) != SQLITE_OK)
                return sq(db, NULL, "reading workload state");
        sqlite3_bind_text(st, 1, bundle, -1, SQLITE_STATIC);
        int r = 0;
        while (r >= 0 && sqlite3_step(st) == SQLITE_ROW)
                r = fn(ud, sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

struct strlist {
        char **v;
        size_t n;
};

static void strlist_done(struct strlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
}

static int collect(struct berth_db *db, const char *sql, int64_t id, int cols, struct strlist *out)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
                return sq(db, NULL, "reading workload state");
        sqlite3_bind_int64(st, 1, id);
        int r = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
                char **nv = realloc(out->v, (out->n + (size_t)cols) * sizeof *nv);
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                out->v = nv;
                for (int c = 0; c < cols; c++)
                        out->v[out->n++] = strdup((const char *)sqlite3_column_text(st, c));
        }
        sqlite3_finalize(st);
        for (size_t i = 0; i < out->n; i++)
                if (!out->v[i])
                        r = -ENOMEM;
        return r;
}

int wstate_forget_version(struct berth_db *db, const char *bundle, int64_t version, wstate_gc_fn fn, void *ud,
                          berr *e)
{
        struct strlist blobs = {0}, images = {0};
        sqlite3_stmt *st;
        int64_t id = -1;
        int r = exec(db, "BEGIN IMMEDIATE", e);
        if (r < 0)
                return r;
        if (sqlite3_prepare_v2(db_handle(db), "SELECT id FROM bundles WHERE name=? AND version=?", -1, &st, NULL) !=
            SQLITE_OK) {
                r = sq(db, e, "finding a bundle version");
                goto finish;
        }
        sqlite3_bind_text(st, 1, bundle, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, version);
        if (sqlite3_step(st) == SQLITE_ROW)
                id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (id < 0)
                goto finish; /* already forgotten */
        r = collect(db,
                    "SELECT digest FROM bundle_blobs WHERE bundle_id=?1 AND digest NOT IN "
                    "(SELECT digest FROM bundle_blobs WHERE bundle_id != ?1)",
                    id, 1, &blobs);
        if (r >= 0)
                r = collect(db,
                            "SELECT ref, digest FROM images i WHERE bundle_id=?1 AND NOT EXISTS "
                            "(SELECT 1 FROM images j WHERE j.bundle_id != ?1 AND j.ref=i.ref AND j.digest=i.digest)",
                            id, 2, &images);
        if (r < 0) {
                r = berr_set(e, r, "database: cannot list what bundle %s version %lld references", bundle,
                             (long long)version);
                goto finish;
        }
        if (sqlite3_prepare_v2(db_handle(db), "DELETE FROM bundles WHERE id=?", -1, &st, NULL) != SQLITE_OK) {
                r = sq(db, e, "deleting a bundle version");
                goto finish;
        }
        sqlite3_bind_int64(st, 1, id);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : sq(db, e, "deleting a bundle version");
        sqlite3_finalize(st);
finish:
        if (r >= 0)
                r = exec(db, "COMMIT", e);
        if (r < 0)
                sql_rollback(db);
        else {
                for (size_t i = 0; i < blobs.n; i++)
                        fn(ud, "blob", blobs.v[i], NULL);
                for (size_t i = 0; i + 1 < images.n; i += 2)
                        fn(ud, "image", images.v[i], images.v[i + 1]);
        }
        strlist_done(&blobs);
        strlist_done(&images);
        return r;
}

int wstate_unreferenced_blob(struct berth_db *db, const char *digest)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db_handle(db), "SELECT 1 FROM bundle_blobs WHERE digest=? LIMIT 1", -1, &st, NULL) !=
            SQLITE_OK)
                return sq(db, NULL, "reading workload state");
        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        int r = sqlite3_step(st) == SQLITE_ROW ? 0 : 1;
        sqlite3_finalize(st);
        return r;
}

int wstate_record_current(struct berth_db *db, const char *bundle, int64_t version, int64_t now_ms, berr *e)
{
        int64_t cur = 0, prev = 0;
        int r = wstate_current(db, bundle, &cur, &prev);
        if (r < 0)
                return berr_set(e, r, "database: cannot read the current version of %s", bundle);
        if (r > 0 && cur == version)
                return 0;
        struct wstate_update u;
        r = wstate_latest(db, bundle, true, &u);
        if (r < 0)
                return berr_set(e, r, "database: cannot read the updates of %s", bundle);
        if (r > 0 && (u.to_version != version || u.state != WSTATE_STAGED))
                return berr_set(e, -EBUSY, "bundle %s: an update to version %lld is still %s; finish it first", bundle,
                                (long long)u.to_version, wstate_name(u.state));
        if (r == 0 && (r = wstate_begin(db, bundle, cur, version, "update", now_ms, &u, e)) < 0)
                return r;
        return wstate_commit(db, &u, "recorded as current (no workload engine on this node)", now_ms, e);
}
