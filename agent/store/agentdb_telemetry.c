/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb_telemetry.c — telemetry_queue and telemetry_meta (see agentdb.h): records
 * waiting for the server, bounded by count, bytes and age; the oldest go first and are
 * counted in telemetry_meta.dropped. Each push, expiry and removal is one IMMEDIATE
 * transaction (tm_tx), so the rows and the dropped count always change together. */
#include "store/agentdb.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/agentdb_int.h"
#include "store/sql.h"

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
