/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb.c — the agent daemon's tables (see agentdb.h): agent_kv, agent_actions (the
 * update state machine's rows) and agent_downloads (the resume journal); the outbox is in
 * agentdb_outbox.c, the telemetry queue in agentdb_telemetry.c. Statements are prepared
 * per call: the agent writes a few rows a second at most, and this keeps no cached state
 * tied to a connection. */
#include "store/agentdb.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/agentdb_int.h"
#include "store/sql.h"

void agent_action_clear(struct agent_action *a)
{
        if (!a)
                return;
        free(a->url);
        free(a->name);
        free(a->head);
        free(a->detail);
        memset(a, 0, sizeof *a);
}

bool agent_action_final(const char *state)
{
        return !strcmp(state, ACTION_INSTALLED) || !strcmp(state, ACTION_FAILED) || !strcmp(state, ACTION_CANCELED);
}

int agentdb_kv_get(struct berth_db *db, const char *key, char **ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT value FROM agent_kv WHERE key=?", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, key);
        int k = sql_step(db, st, NULL);
        if (k <= 0)
                return k;
        *ret = col_strdup(st, 0);
        return *ret ? 1 : -ENOMEM;
}

int agentdb_kv_set(struct berth_db *db, const char *key, const char *value)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "INSERT INTO agent_kv (key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET "
                     "value=excluded.value", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, key);
        bind_text(st, 2, value);
        return step_done(db, st);
}

#define ACTION_COLS \
        "id, state, url, size, download_only, name, version, detail, fetched, blobs_fetched, total, requests, sha256, " \
        "budget_override, peer_fetched"

static int read_action(sqlite3_stmt *st, struct agent_action *a, bool with_head)
{
        memset(a, 0, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(a->state, sizeof a->state, "%s", (const char *)sqlite3_column_text(st, 1));
        a->url = col_strdup(st, 2);
        a->size = (uint64_t)sqlite3_column_int64(st, 3);
        a->download_only = sqlite3_column_int(st, 4) != 0;
        a->name = col_strdup(st, 5);
        a->version = sqlite3_column_int64(st, 6);
        a->detail = col_strdup(st, 7);
        a->fetched = (uint64_t)sqlite3_column_int64(st, 8);
        a->blobs_fetched = (uint64_t)sqlite3_column_int64(st, 9);
        a->total = (uint64_t)sqlite3_column_int64(st, 10);
        a->requests = (uint64_t)sqlite3_column_int64(st, 11);
        const unsigned char *sha = sqlite3_column_text(st, 12);
        snprintf(a->sha256, sizeof a->sha256, "%s", sha ? (const char *)sha : "");
        a->budget_override = sqlite3_column_int(st, 13) != 0;
        a->peer_fetched = (uint64_t)sqlite3_column_int64(st, 14);
        if (with_head) {
                const void *h = sqlite3_column_blob(st, 15);
                int n = sqlite3_column_bytes(st, 15);
                if (h && n > 0) {
                        a->head = malloc((size_t)n);
                        if (!a->head) {
                                agent_action_clear(a);
                                return -ENOMEM;
                        }
                        memcpy(a->head, h, (size_t)n);
                        a->head_len = (size_t)n;
                }
        }
        if (!a->url) {
                agent_action_clear(a);
                return -ENOMEM;
        }
        return 1;
}

int agentdb_action_get(struct berth_db *db, const char *id, struct agent_action *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT " ACTION_COLS ", head FROM agent_actions WHERE id=?", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, id);
        int k = sql_step(db, st, NULL);
        if (k <= 0)
                return k;
        return read_action(st, ret, true);
}

int agentdb_action_open(struct berth_db *db, struct agent_action *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT " ACTION_COLS ", head FROM agent_actions WHERE state NOT IN ('installed','failed','canceled') "
                     "ORDER BY created DESC, rowid DESC LIMIT 1", &st);
        if (r < 0)
                return r;
        int k = sql_step(db, st, NULL);
        if (k <= 0)
                return k;
        return read_action(st, ret, true);
}

int agentdb_action_insert(struct berth_db *db, const char *id, const char *url, uint64_t size, const char *sha256,
                          bool download_only, bool budget_override, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "INSERT INTO agent_actions (id, state, url, size, download_only, created, updated, sha256, "
                     "budget_override) VALUES (?,'new',?,?,?,?,?,?,?)", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, id);
        bind_text(st, 2, url);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
        sqlite3_bind_int(st, 4, download_only);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now);
        bind_text(st, 7, sha256 ? sha256 : "");
        sqlite3_bind_int(st, 8, budget_override);
        return step_done(db, st);
}

int agentdb_action_set_state(struct berth_db *db, const char *id, const char *state, const char *detail, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "UPDATE agent_actions SET state=?, detail=coalesce(?, detail), updated=? WHERE id=?", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, state);
        bind_text(st, 2, detail);
        sqlite3_bind_int64(st, 3, now);
        bind_text(st, 4, id);
        return step_done(db, st);
}

int agentdb_action_add_fetched(struct berth_db *db, const char *id, uint64_t bytes, uint64_t blobs, unsigned requests,
                               uint64_t peer_bytes, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prep(db, "UPDATE agent_actions SET fetched=fetched+?, blobs_fetched=blobs_fetched+?, "
                     "requests=requests+?, peer_fetched=peer_fetched+?, updated=? WHERE id=?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)bytes);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)blobs);
        sqlite3_bind_int64(st, 3, requests);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)peer_bytes);
        sqlite3_bind_int64(st, 5, now);
        bind_text(st, 6, id);
        return step_done(db, st);
}

int agentdb_action_set_download_only(struct berth_db *db, const char *id, bool download_only, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prep(db, "UPDATE agent_actions SET download_only=?, updated=? WHERE id=?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int(st, 1, download_only);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, id);
        return step_done(db, st);
}

int agentdb_action_set_total(struct berth_db *db, const char *id, uint64_t total, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prep(db, "UPDATE agent_actions SET total=?, updated=? WHERE id=?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)total);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, id);
        return step_done(db, st);
}

/* In one transaction: (insert the action first when insert_url is given) its final
 * state, detail and final feedback. */
static int finish_tx(struct berth_db *db, const char *id, const char *insert_url, const char *state,
                     const char *detail, const struct agentdb_request *fb, int64_t now)
{
        int r = sql_begin(db, NULL);
        if (r < 0)
                return r;
        if (insert_url)
                r = agentdb_action_insert(db, id, insert_url, 0, "", false, false, now);
        if (r >= 0)
                r = agentdb_action_set_state(db, id, state, detail, now);
        if (r >= 0 && sql_changes(db) != 1)
                r = -ENOENT;
        if (r >= 0 && fb)
                r = agentdb_outbox_add(db, fb->kind, id, fb->method, fb->url, fb->body, false, now);
        if (r >= 0)
                r = sql_commit(db, NULL);
        if (r < 0)
                sql_rollback(db);
        return r;
}

int agentdb_action_finish(struct berth_db *db, const char *id, const char *state, const char *detail,
                          const struct agentdb_request *fb, int64_t now)
{
        return finish_tx(db, id, NULL, state, detail, fb, now);
}

int agentdb_action_refuse(struct berth_db *db, const char *id, const char *detail, const struct agentdb_request *fb,
                          int64_t now)
{
        return finish_tx(db, id, "", ACTION_FAILED, detail, fb, now);
}

int agentdb_action_set_head(struct berth_db *db, const char *id, const void *head, size_t len, const char *name,
                            int64_t version, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "UPDATE agent_actions SET state='fetching', head=?, name=?, version=?, updated=? WHERE id=?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_blob64(st, 1, head, len, SQLITE_TRANSIENT);
        bind_text(st, 2, name);
        sqlite3_bind_int64(st, 3, version);
        sqlite3_bind_int64(st, 4, now);
        bind_text(st, 5, id);
        return step_done(db, st);
}

int agentdb_action_list(struct berth_db *db, unsigned n, agentdb_action_fn fn, void *ud)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT " ACTION_COLS " FROM agent_actions ORDER BY created DESC, rowid DESC LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int(st, 1, (int)n);
        int k;
        while ((k = sql_step(db, st, NULL)) > 0) {
                struct agent_action a;
                r = read_action(st, &a, false);
                if (r < 0)
                        return r;
                r = fn(ud, &a);
                agent_action_clear(&a);
                if (r < 0)
                        return r;
        }
        return k;
}

int agentdb_download_get(struct berth_db *db, const char *digest, uint64_t *good)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT good_bytes FROM agent_downloads WHERE digest=?", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, digest);
        int k = sql_step(db, st, NULL);
        if (k <= 0)
                return k;
        *good = (uint64_t)sqlite3_column_int64(st, 0);
        return 1;
}

int agentdb_download_set(struct berth_db *db, const char *digest, uint64_t good, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "INSERT INTO agent_downloads (digest, good_bytes, updated) VALUES (?,?,?) "
                     "ON CONFLICT(digest) DO UPDATE SET good_bytes=excluded.good_bytes, updated=excluded.updated", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, digest);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)good);
        sqlite3_bind_int64(st, 3, now);
        return step_done(db, st);
}

int agentdb_download_del(struct berth_db *db, const char *digest)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "DELETE FROM agent_downloads WHERE digest=?", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, digest);
        return step_done(db, st);
}

int agentdb_download_clear(struct berth_db *db)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "DELETE FROM agent_downloads", &st);
        if (r < 0)
                return r;
        return step_done(db, st);
}
