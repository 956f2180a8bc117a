/* SPDX-License-Identifier: Apache-2.0 */
/* sql.c — SQLite calls and their error mapping for every agent table (see sql.h).
 * Never logs; a failed statement leaves no open transaction behind once the caller
 * rolls back. */
#include "store/sql.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

int sql_fail(struct berth_db *db, int rc, const char *what, berr *e)
{
        const char *path = db_path(db), *msg = sqlite3_errstr(rc);
        _cleanup_free_ char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
                *slash = 0;
        if (db_handle(db) && sqlite3_errcode(db_handle(db)) == rc)
                msg = sqlite3_errmsg(db_handle(db));
        berr tmp = {0}, *out = e ? e : &tmp;
        const char *sep = what ? ": " : "";
        int r;
        what = what ? what : "";
        switch (rc & 0xff) {
        case SQLITE_FULL:
                r = berr_set(out, -ENOSPC, "%s%sthe state disk is full: free space on %s", what, sep,
                             slash ? dir : ".");
                break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                r = berr_set(out, -EBUSY, "%s%sthe state database %s is locked by another process: "
                             "is another berth running?", what, sep, path);
                break;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                r = berr_set(out, -EBADMSG, "%s%sthe state database %s is damaged: %s, move it away and restart "
                             "to rebuild", what, sep, path, msg);
                break;
        case SQLITE_IOERR:
                r = berr_set(out, -EIO, "%s%sI/O error on the state database %s: %s", what, sep, path, msg);
                break;
        case SQLITE_READONLY:
                r = berr_set(out, -EROFS, "%s%sthe state database %s is read-only: %s; make it writable", what, sep,
                             path, msg);
                break;
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                r = berr_set(out, -EACCES, "%s%scannot access the state database %s: %s; check its directory "
                             "and permissions", what, sep, path, msg);
                break;
        case SQLITE_NOMEM:
                r = berr_set(out, -ENOMEM, "%s%sout of memory", what, sep);
                break;
        default:
                r = berr_set(out, -EIO, "%s%sdatabase %s: %s", what, sep, path, msg);
                break;
        }
        db_set_last_error(db, out);
        return r;
}

int sql_prep(struct berth_db *db, const char *sql, sql_stmt **ret, berr *e)
{
        int rc = sqlite3_prepare_v2(db_handle(db), sql, -1, ret, NULL);
        if (rc == SQLITE_OK)
                return 0;
        *ret = NULL;
        return sql_fail(db, rc, NULL, e);
}

int sql_step(struct berth_db *db, sql_stmt *st, berr *e)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return sql_fail(db, rc, NULL, e);
}

int sql_exec(struct berth_db *db, const char *sql, berr *e)
{
        int rc = sqlite3_exec(db_handle(db), sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : sql_fail(db, rc, NULL, e);
}

int sql_begin(struct berth_db *db, berr *e)
{
        return sql_exec(db, "BEGIN IMMEDIATE", e);
}

int sql_commit(struct berth_db *db, berr *e)
{
        return sql_exec(db, "COMMIT", e);
}

void sql_rollback(struct berth_db *db)
{
        if (!sqlite3_get_autocommit(db_handle(db)))
                (void)sqlite3_exec(db_handle(db), "ROLLBACK", NULL, NULL, NULL);
}

int64_t sql_changes(struct berth_db *db)
{
        return sqlite3_changes(db_handle(db));
}

void sql_finalize(sql_stmt *st)
{
        sqlite3_finalize(st);
}
