/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb_usage.c — wan_usage (agentdb.h): what the agent sent and received over the
 * WAN, one row per UTC day. The data budget (daemon/budget.c) sums the days of its
 * period; one row per day keeps the writes few (the budget flushes in batches).
 */
#include <errno.h>

#include "store/agentdb_int.h"

int agentdb_usage_add(struct berth_db *db, int64_t day, uint64_t rx, uint64_t tx)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prep(db, "INSERT INTO wan_usage(day, rx, tx) VALUES (?, ?, ?) "
                     "ON CONFLICT(day) DO UPDATE SET rx = rx + excluded.rx, tx = tx + excluded.tx", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, day);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)rx);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)tx);
        return step_done(db, st);
}

int agentdb_usage_list(struct berth_db *db, int64_t since, agentdb_usage_fn fn, void *ud)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prep(db, "SELECT day, rx, tx FROM wan_usage WHERE day >= ? ORDER BY day", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, since);
        while ((r = sql_step(db, st, NULL)) > 0) {
                r = fn(ud, sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
                       (uint64_t)sqlite3_column_int64(st, 2));
                if (r < 0)
                        return r;
        }
        return r;
}

int agentdb_usage_prune(struct berth_db *db, int64_t before)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prep(db, "DELETE FROM wan_usage WHERE day < ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, before);
        return step_done(db, st);
}
