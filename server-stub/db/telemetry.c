/* SPDX-License-Identifier: Apache-2.0 */
/* telemetry.c — agent telemetry per target (see telemetry.h): one configData request
 * stores its attributes and its batch in one transaction; resends, gaps, a new queue id
 * and the keep bound are decided here.
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sdb_sql_telemetry(const char *sql[_S_MAX])
{
        sql[S_TM_STATE] = "SELECT queue, last_seq, dropped, gaps FROM telemetry_state WHERE target_id=?";
        sql[S_TM_RESET] = "DELETE FROM telemetry_records WHERE target_id=?";
        sql[S_TM_ADD] = "INSERT INTO telemetry_records(target_id, seq, ts, kind, source, text, received) VALUES(?,?,?,?,?,?,?)";
        sql[S_TM_STATE_SET] = "INSERT INTO telemetry_state(target_id, queue, last_seq, dropped, pending, gaps, updated)"
                           " VALUES(?,?,?,?,?,?,?) ON CONFLICT(target_id) DO UPDATE SET queue=excluded.queue,"
                           " last_seq=excluded.last_seq, dropped=excluded.dropped, pending=excluded.pending,"
                           " gaps=excluded.gaps, updated=excluded.updated";
        /* Everything at or below the (keep+1)-th newest seq goes. */
        sql[S_TM_PRUNE] = "DELETE FROM telemetry_records WHERE target_id=?1 AND seq<=(SELECT seq FROM telemetry_records"
                       " WHERE target_id=?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)";
        /* "latest" relies on SQLite taking the bare columns of a MAX() aggregate from the
         * row that holds the maximum. */
        sql[S_TM_JSON] =
                "SELECT json_object('controllerId', t.controller_id, 'queue', s.queue, 'lastSeq', IFNULL(s.last_seq,0),"
                " 'dropped', IFNULL(s.dropped,0), 'pending', IFNULL(s.pending,0), 'gaps', IFNULL(s.gaps,0),"
                " 'updated', s.updated,"
                " 'latest', json((SELECT json_group_object(source, json_object('seq', seq, 'ts', ts, 'kind', kind,"
                "   'text', text)) FROM (SELECT source, MAX(seq) AS seq, ts, kind, text FROM telemetry_records"
                "   WHERE target_id=t.id GROUP BY source ORDER BY source))),"
                " 'records', json((SELECT json_group_array(json_object('seq', seq, 'ts', ts, 'kind', kind,"
                "   'source', source, 'text', text, 'received', received)) FROM (SELECT * FROM telemetry_records"
                "   WHERE target_id=t.id AND seq>?2 ORDER BY seq LIMIT ?3))))"
                " FROM targets t LEFT JOIN telemetry_state s ON s.target_id=t.id WHERE t.controller_id=?1";
}

/* Stores what is new in one batch; called inside the configData transaction. */
static int tm_ingest_locked(struct sdb *db, int64_t id, const struct sdb_tm_batch *b, unsigned keep, int64_t now)
{
        int64_t last = 0, dropped = 0, gaps = 0;
        bool same_queue = false;
        sqlite3_stmt *s = sdb_stmt(db, S_TM_STATE);
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
                return sdb_sqerr(rc);
        int r;
        if (!same_queue) {
                /* A new queue id: the agent's state was wiped, its seqs start over. */
                if (rc == SQLITE_ROW) {
                        s = sdb_stmt(db, S_TM_RESET);
                        sqlite3_bind_int64(s, 1, id);
                        if ((r = sdb_step_done(s)) < 0)
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
                s = sdb_stmt(db, S_TM_ADD);
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int64(s, 2, x->seq);
                sqlite3_bind_int64(s, 3, x->ts);
                sqlite3_bind_text(s, 4, x->kind, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 5, x->source, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 6, x->text, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 7, now);
                if ((r = sdb_step_done(s)) < 0)
                        return r;
                added++;
        }
        s = sdb_stmt(db, S_TM_STATE_SET);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_text(s, 2, b->queue, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, b->last);
        sqlite3_bind_int64(s, 4, b->dropped > dropped ? b->dropped : dropped); /* never decreases */
        sqlite3_bind_int64(s, 5, b->pending);
        sqlite3_bind_int64(s, 6, gaps);
        sqlite3_bind_int64(s, 7, now);
        if ((r = sdb_step_done(s)) < 0)
                return r;
        s = sdb_stmt(db, S_TM_PRUNE);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, keep);
        if ((r = sdb_step_done(s)) < 0)
                return r;
        return added;
}

int sdb_target_config_data(struct sdb *db, int64_t id, const char *attrs_json, const struct sdb_tm_batch *tm,
                           unsigned keep)
{
        int r;
        int64_t now = (int64_t)time(NULL);
        LOCKED(db) {
                if ((r = sdb_begin(db)) < 0)
                        break;
                if (attrs_json) {
                        sqlite3_stmt *s = sdb_stmt(db, S_TARGET_ATTRS_SET);
                        sqlite3_bind_text(s, 1, attrs_json, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(s, 2, id);
                        r = sdb_step_done(s);
                }
                int added = 0;
                if (r >= 0 && tm)
                        r = added = tm_ingest_locked(db, id, tm, keep, now);
                if (r >= 0)
                        r = sdb_commit(db);
                if (r < 0)
                        sdb_rollback(db);
                else
                        r = added;
        }
        return r;
}

int sdb_target_telemetry_json(struct sdb *db, const char *cid, int64_t after, unsigned limit, char **ret)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_TM_JSON);
                sqlite3_bind_text(s, 1, cid, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, after);
                sqlite3_bind_int(s, 3, (int)limit);
                r = sdb_step_json(s, ret);
        }
        return r;
}
