/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb_outbox.c — agent_outbox (see agentdb.h): requests for the server (feedback,
 * configData, installedBase) in send order, deleted only once the server answered. A
 * progress report replaces the newest row when that row is its own kind and action,
 * instead of queuing behind it. The final feedback of an action is queued together with
 * its final state by agentdb_action_finish() (agentdb.c). */
#include "store/agentdb.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/agentdb_int.h"
#include "store/sql.h"

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
