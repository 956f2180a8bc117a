/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb.c — the agent daemon's tables (see agentdb.h). Statements are prepared per
 * call: the agent writes a few rows a second at most, and this keeps no cached state
 * tied to a connection. */
#include "store/agentdb.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "store/sql.h"

/* Errors are mapped by store/sql.c; the sentence is db_last_error(). */
#define _cleanup_stmt_ _cleanup_sql_

static int prep(struct berth_db *db, const char *sql, sqlite3_stmt **st)
{
        return sql_prep(db, sql, st, NULL);
}

static int step_done(struct berth_db *db, sqlite3_stmt *st)
{
        int k = sql_step(db, st, NULL);
        return k < 0 ? k : 0;
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *)t) : NULL;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
        if (s)
                sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, i);
}

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

#define ACTION_COLS "id, state, url, size, download_only, name, version, detail, fetched, blobs_fetched, total, requests, sha256"

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
        if (with_head) {
                const void *h = sqlite3_column_blob(st, 13);
                int n = sqlite3_column_bytes(st, 13);
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
                          bool download_only, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "INSERT INTO agent_actions (id, state, url, size, download_only, created, updated, sha256) "
                     "VALUES (?,'new',?,?,?,?,?,?)", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, id);
        bind_text(st, 2, url);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)size);
        sqlite3_bind_int(st, 4, download_only);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now);
        bind_text(st, 7, sha256 ? sha256 : "");
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
                               int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (prep(db, "UPDATE agent_actions SET fetched=fetched+?, blobs_fetched=blobs_fetched+?, requests=requests+?, "
                 "updated=? WHERE id=?", &st) < 0)
                return -EIO;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)bytes);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)blobs);
        sqlite3_bind_int64(st, 3, requests);
        sqlite3_bind_int64(st, 4, now);
        bind_text(st, 5, id);
        return step_done(db, st);
}

int agentdb_action_set_download_only(struct berth_db *db, const char *id, bool download_only, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (prep(db, "UPDATE agent_actions SET download_only=?, updated=? WHERE id=?", &st) < 0)
                return -EIO;
        sqlite3_bind_int(st, 1, download_only);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, id);
        return step_done(db, st);
}

int agentdb_action_set_total(struct berth_db *db, const char *id, uint64_t total, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (prep(db, "UPDATE agent_actions SET total=?, updated=? WHERE id=?", &st) < 0)
                return -EIO;
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
                r = agentdb_action_insert(db, id, insert_url, 0, "", false, now);
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

void outbox_item_clear(struct outbox_item *it)
{
        if (!it)
                return;
        free(it->action_id);
        free(it->method);
        free(it->url);
        free(it->body);
        memset(it, 0, sizeof *it);
}

int agentdb_outbox_add(struct berth_db *db, const char *kind, const char *action_id, const char *method,
                       const char *url, const char *body, bool replace_kind, int64_t now)
{
        if (replace_kind) {
                _cleanup_stmt_ sqlite3_stmt *up = NULL;
                int r;
                r = prep(db, "UPDATE agent_outbox SET body=?, url=?, method=?, created=? WHERE seq = (SELECT max(seq) FROM "
                             "agent_outbox) AND kind=? AND action_id IS ?", &up);
                if (r < 0)
                        return r;
                bind_text(up, 1, body);
                bind_text(up, 2, url);
                bind_text(up, 3, method);
                sqlite3_bind_int64(up, 4, now);
                bind_text(up, 5, kind);
                bind_text(up, 6, action_id);
                if ((r = step_done(db, up)) < 0)
                        return r;
                if (sql_changes(db) > 0)
                        return 0;
        }
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "INSERT INTO agent_outbox (kind, action_id, method, url, body, created) VALUES (?,?,?,?,?,?)", &st);
        if (r < 0)
                return r;
        bind_text(st, 1, kind);
        bind_text(st, 2, action_id);
        bind_text(st, 3, method);
        bind_text(st, 4, url);
        bind_text(st, 5, body);
        sqlite3_bind_int64(st, 6, now);
        return step_done(db, st);
}

int agentdb_outbox_first(struct berth_db *db, struct outbox_item *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT seq, kind, action_id, method, url, body FROM agent_outbox ORDER BY seq LIMIT 1", &st);
        if (r < 0)
                return r;
        int k = sql_step(db, st, NULL);
        if (k <= 0)
                return k;
        memset(ret, 0, sizeof *ret);
        ret->seq = sqlite3_column_int64(st, 0);
        snprintf(ret->kind, sizeof ret->kind, "%s", (const char *)sqlite3_column_text(st, 1));
        ret->action_id = col_strdup(st, 2);
        ret->method = col_strdup(st, 3);
        ret->url = col_strdup(st, 4);
        ret->body = col_strdup(st, 5);
        if (!ret->method || !ret->url || !ret->body) {
                outbox_item_clear(ret);
                return -ENOMEM;
        }
        return 1;
}

int agentdb_outbox_del(struct berth_db *db, int64_t seq)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "DELETE FROM agent_outbox WHERE seq=?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, seq);
        return step_done(db, st);
}

int agentdb_outbox_count(struct berth_db *db, unsigned *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "SELECT count(*) FROM agent_outbox", &st);
        if (r < 0)
                return r;
        if ((r = sql_step(db, st, NULL)) <= 0)
                return r < 0 ? r : -EIO;
        *ret = (unsigned)sqlite3_column_int(st, 0);
        return 0;
}

/* ---- telemetry queue ---------------------------------------------------------------- */

static int tm_add_dropped(struct berth_db *db, uint64_t n)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        r = prep(db, "UPDATE telemetry_meta SET dropped = dropped + ? WHERE id = 1", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
        return step_done(db, st);
}

/* Deletes the oldest rows while the queue is over a limit; *n += rows deleted;
 * *queued (optional): the rows left. */
static int tm_enforce(struct berth_db *db, const struct tm_limits *l, int64_t now, uint64_t *n, uint64_t *queued)
{
        _cleanup_stmt_ sqlite3_stmt *age = NULL, *cnt = NULL, *del = NULL;
        int r;
        r = prep(db, "DELETE FROM telemetry_queue WHERE ts < ?", &age);
        if (r < 0)
                return r;
        sqlite3_bind_int64(age, 1, now - l->max_age);
        if ((r = step_done(db, age)) < 0)
                return r;
        *n += (uint64_t)sql_changes(db);
        /* Oldest-first: the smallest seq whose suffix fits both limits is the new head. */
        if ((r = prep(db, "SELECT count(*), total(size) FROM telemetry_queue", &cnt)) < 0 ||
            (r = sql_step(db, cnt, NULL)) <= 0)
                return r < 0 ? r : -EIO;
        uint64_t records = (uint64_t)sqlite3_column_int64(cnt, 0), bytes = (uint64_t)sqlite3_column_double(cnt, 1);
        if (queued)
                *queued = records;
        if (records <= l->max_records && bytes <= l->max_bytes)
                return 0;
        r = prep(db, "SELECT seq, size FROM telemetry_queue ORDER BY seq", &del);
        if (r < 0)
                return r;
        int64_t cut = 0;
        while (records > l->max_records || bytes > l->max_bytes) {
                if ((r = sql_step(db, del, NULL)) <= 0)
                        return r < 0 ? r : -EIO;
                cut = sqlite3_column_int64(del, 0);
                bytes -= (uint64_t)sqlite3_column_int64(del, 1);
                records--;
        }
        if (queued)
                *queued = records;
        sql_finalizep(&del);
        r = prep(db, "DELETE FROM telemetry_queue WHERE seq <= ?", &del);
        if (r < 0)
                return r;
        sqlite3_bind_int64(del, 1, cut);
        if ((r = step_done(db, del)) < 0)
                return r;
        *n += (uint64_t)sql_changes(db);
        return 0;
}

static int tm_insert(struct berth_db *db, int64_t ts, const char *kind, const char *source, const char *text)
{
        _cleanup_stmt_ sqlite3_stmt *ins = NULL, *up = NULL;
        int r;
        r = prep(db, "INSERT INTO telemetry_queue (seq, ts, kind, source, text, size) SELECT next_seq, ?, ?, ?, ?, ? "
                     "FROM telemetry_meta WHERE id = 1", &ins);
        if (r >= 0)
                r = prep(db, "UPDATE telemetry_meta SET next_seq = next_seq + 1 WHERE id = 1", &up);
        if (r < 0)
                return r;
        sqlite3_bind_int64(ins, 1, ts);
        bind_text(ins, 2, kind);
        bind_text(ins, 3, source);
        bind_text(ins, 4, text);
        sqlite3_bind_int64(ins, 5, (sqlite3_int64)(strlen(text) + strlen(source) + 32));
        if ((r = step_done(db, ins)) < 0)
                return r;
        if (sql_changes(db) != 1)
                return -EIO;
        return step_done(db, up);
}

/* Runs body() in one IMMEDIATE transaction and adds its drops to the counter. */
static int tm_tx(struct berth_db *db, int (*body)(struct berth_db *, const void *, uint64_t *), const void *arg,
                 uint64_t *ret_dropped)
{
        uint64_t n = 0;
        int r = sql_begin(db, NULL);
        if (r < 0)
                return r;
        r = body(db, arg, &n);
        if (r >= 0 && n)
                r = tm_add_dropped(db, n);
        if (r >= 0)
                r = sql_commit(db, NULL);
        if (r < 0) {
                sql_rollback(db);
                return r;
        }
        if (ret_dropped)
                *ret_dropped = n;
        return 0;
}

struct tm_push_args {
        int64_t ts, now;
        const char *kind, *source, *text;
        const struct tm_limits *l;
        uint64_t *queued;
};

static int tm_push_body(struct berth_db *db, const void *arg, uint64_t *n)
{
        const struct tm_push_args *p = arg;
        int r = tm_insert(db, p->ts, p->kind, p->source, p->text);
        return r < 0 ? r : tm_enforce(db, p->l, p->now, n, p->queued);
}

int agentdb_tm_push(struct berth_db *db, int64_t ts, const char *kind, const char *source, const char *text,
                    const struct tm_limits *l, int64_t now, uint64_t *ret_dropped, uint64_t *ret_queued)
{
        if (strlen(kind) > TM_KIND_MAX || strlen(source) > TM_SOURCE_MAX || strlen(text) > TM_TEXT_MAX)
                return -EINVAL;
        struct tm_push_args p = {.ts = ts, .now = now, .kind = kind, .source = source, .text = text, .l = l,
                                 .queued = ret_queued};
        return tm_tx(db, tm_push_body, &p, ret_dropped);
}

static int tm_expire_body(struct berth_db *db, const void *arg, uint64_t *n)
{
        const struct tm_push_args *p = arg;
        return tm_enforce(db, p->l, p->now, n, NULL);
}

int agentdb_tm_expire(struct berth_db *db, const struct tm_limits *l, int64_t now, uint64_t *ret_dropped)
{
        struct tm_push_args p = {.now = now, .l = l};
        return tm_tx(db, tm_expire_body, &p, ret_dropped);
}

int agentdb_tm_peek(struct berth_db *db, size_t max, struct tm_record *out, size_t *ret_n)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        *ret_n = 0;
        r = prep(db, "SELECT seq, ts, kind, source, text FROM telemetry_queue ORDER BY seq LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
        int k;
        while ((k = sql_step(db, st, NULL)) > 0 && *ret_n < max) {
                struct tm_record *t = &out[(*ret_n)++];
                t->seq = sqlite3_column_int64(st, 0);
                t->ts = sqlite3_column_int64(st, 1);
                snprintf(t->kind, sizeof t->kind, "%s", (const char *)sqlite3_column_text(st, 2));
                snprintf(t->source, sizeof t->source, "%s", (const char *)sqlite3_column_text(st, 3));
                snprintf(t->text, sizeof t->text, "%s", (const char *)sqlite3_column_text(st, 4));
        }
        return k < 0 ? k : 0;
}

struct tm_remove_args {
        int64_t first_seq, last_seq;
        bool counted;
};

static int tm_remove_body(struct berth_db *db, const void *arg, uint64_t *n)
{
        const struct tm_remove_args *p = arg;
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *un = NULL;
        int r;
        r = prep(db, "DELETE FROM telemetry_queue WHERE seq <= ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, p->last_seq);
        if ((r = step_done(db, st)) < 0)
                return r;
        int64_t removed = sql_changes(db);
        if (p->counted) {
                *n += (uint64_t)removed;
                return 0;
        }
        int64_t lost = p->last_seq - p->first_seq + 1 - removed;
        if (lost <= 0)
                return 0;
        r = prep(db, "UPDATE telemetry_meta SET dropped = max(dropped - ?, 0) WHERE id = 1", &un);
        if (r < 0)
                return r;
        sqlite3_bind_int64(un, 1, lost);
        return step_done(db, un);
}

int agentdb_tm_remove(struct berth_db *db, int64_t first_seq, int64_t last_seq, bool counted)
{
        struct tm_remove_args p = {.first_seq = first_seq, .last_seq = last_seq, .counted = counted};
        return tm_tx(db, tm_remove_body, &p, NULL);
}

int agentdb_tm_stats(struct berth_db *db, struct tm_stats *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        memset(ret, 0, sizeof *ret);
        if ((r = prep(db, "SELECT m.queue_id, m.next_seq, m.dropped, (SELECT count(*) FROM telemetry_queue), "
                          "(SELECT total(size) FROM telemetry_queue), (SELECT min(seq) FROM telemetry_queue) "
                          "FROM telemetry_meta m WHERE m.id = 1", &st)) < 0 ||
            (r = sql_step(db, st, NULL)) <= 0)
                return r < 0 ? r : -EIO;
        snprintf(ret->queue_id, sizeof ret->queue_id, "%s", (const char *)sqlite3_column_text(st, 0));
        ret->next_seq = sqlite3_column_int64(st, 1);
        ret->dropped = (uint64_t)sqlite3_column_int64(st, 2);
        ret->records = (uint64_t)sqlite3_column_int64(st, 3);
        ret->bytes = (uint64_t)sqlite3_column_double(st, 4);
        ret->first_seq = sqlite3_column_int64(st, 5);
        return 0;
}
