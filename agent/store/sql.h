/* SPDX-License-Identifier: Apache-2.0 */
/* sql.h — the one way agent tables talk to SQLite: prepare, step, exec, transactions.
 *
 * Owns the mapping of SQLite result codes to a negative errno and one sentence naming the
 * state database (full disk, locked, damaged, I/O, permission). Every failure is also kept
 * as the database's last error (db_last_error()) for callers whose API has no berr.
 */
#pragma once

#include "base/err.h"
#include "store/db.h"

typedef struct sqlite3_stmt sql_stmt;

/* Maps an SQLite result code (e.g. from sqlite3_step()) to -errno and sets the sentence
 * ("<what>: the state disk is full: free space on DIR", ...; what may be NULL) in e and in the
 * db's last error. */
int sql_fail(struct berth_db *db, int rc, const char *what, berr *e);
/* Prepares one statement; *ret is NULL on failure. */
int sql_prep(struct berth_db *db, const char *sql, sql_stmt **ret, berr *e);
/* Steps st: 1 for a row, 0 when done, -errno (mapped) on failure. */
int sql_step(struct berth_db *db, sql_stmt *st, berr *e);
/* Runs one or more statements without results. */
int sql_exec(struct berth_db *db, const char *sql, berr *e);
/* BEGIN IMMEDIATE / COMMIT; rollback never fails the caller (it keeps the first error). */
int sql_begin(struct berth_db *db, berr *e);
int sql_commit(struct berth_db *db, berr *e);
void sql_rollback(struct berth_db *db);
/* Rows changed by the last statement. */
int64_t sql_changes(struct berth_db *db);

void sql_finalize(sql_stmt *st);
static inline void sql_finalizep(sql_stmt **st)
{
        sql_finalize(*st);
        *st = NULL;
}
#define _cleanup_sql_ __attribute__((cleanup(sql_finalizep)))
