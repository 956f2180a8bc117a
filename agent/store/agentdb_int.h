/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb_int.h — what the files behind agentdb.h share: statement helpers over
 * store/sql.h (errors mapped there; the sentence is db_last_error()). Private to
 * agent/store/agentdb*.c.
 */
#pragma once

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "store/agentdb.h"
#include "store/sql.h"

#define _cleanup_stmt_ _cleanup_sql_

static inline int prep(struct berth_db *db, const char *sql, sqlite3_stmt **st)
{
        return sql_prep(db, sql, st, NULL);
}

/* Steps a statement that returns no rows: 0 or -errno. */
static inline int step_done(struct berth_db *db, sqlite3_stmt *st)
{
        int k = sql_step(db, st, NULL);
        return k < 0 ? k : 0;
}

/* A text column, malloc'd; NULL for SQL NULL or out of memory. */
static inline char *col_strdup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *)t) : NULL;
}

/* Binds s, or SQL NULL when s is NULL. */
static inline void bind_text(sqlite3_stmt *st, int i, const char *s)
{
        if (s)
                sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, i);
}
