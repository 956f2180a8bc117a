/* SPDX-License-Identifier: Apache-2.0 */
/* bundles.c — the bundles table (see bundles.h): uploaded .berth files and their
 * hashes; a row is written only after the file is in place.
 */
#include "server-stub/db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sdb_sql_bundles(const char *sql[_S_MAX])
{
        sql[S_BUNDLE_ADD] = "INSERT INTO bundles(name, version, filename, path, size, sha256, sha1, md5, created)"
                         " VALUES(?,?,?,?,?,?,?,?,?)";
        sql[S_BUNDLE_GET] = "SELECT id, name, version, filename, path, size, sha256, sha1, md5 FROM bundles WHERE id=?";
        sql[S_BUNDLE_LIST] = "SELECT id, name, version, filename, path, size, sha256, sha1, md5 FROM bundles ORDER BY id";
}

static void read_bundle(sqlite3_stmt *s, struct sdb_bundle *b)
{
        memset(b, 0, sizeof *b);
        b->id = sqlite3_column_int64(s, 0);
        sdb_copy_text(b->name, sizeof b->name, s, 1);
        b->version = sqlite3_column_int64(s, 2);
        sdb_copy_text(b->filename, sizeof b->filename, s, 3);
        sdb_copy_text(b->path, sizeof b->path, s, 4);
        b->size = (uint64_t)sqlite3_column_int64(s, 5);
        sdb_copy_text(b->sha256, sizeof b->sha256, s, 6);
        sdb_copy_text(b->sha1, sizeof b->sha1, s, 7);
        sdb_copy_text(b->md5, sizeof b->md5, s, 8);
}

int sdb_bundle_add(struct sdb *db, struct sdb_bundle *b, berr *e)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_BUNDLE_ADD);
                sqlite3_bind_text(s, 1, b->name, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, b->version);
                sqlite3_bind_text(s, 3, b->filename, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 4, b->path, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 5, (int64_t)b->size);
                sqlite3_bind_text(s, 6, b->sha256, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 7, b->sha1, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 8, b->md5, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 9, (int64_t)time(NULL));
                r = sdb_step_done(s);
                if (r == -EEXIST)
                        berr_set(e, r, "bundle %s version %" PRId64 " was already uploaded", b->name, b->version);
                else if (r < 0)
                        berr_set(e, r, "cannot store bundle %s: %s", b->name, sqlite3_errmsg(db->h));
                else
                        b->id = sqlite3_last_insert_rowid(db->h);
        }
        return r;
}

int sdb_bundle_get(struct sdb *db, int64_t id, struct sdb_bundle *b)
{
        int r;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_BUNDLE_GET);
                sqlite3_bind_int64(s, 1, id);
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sdb_sqerr(rc);
                if (r == 1)
                        read_bundle(s, b);
                sqlite3_reset(s);
        }
        return r;
}

int sdb_bundles_list(struct sdb *db, int (*fn)(void *ud, const struct sdb_bundle *b), void *ud)
{
        int r = 0;
        struct sdb_bundle b;
        LOCKED(db) {
                sqlite3_stmt *s = sdb_stmt(db, S_BUNDLE_LIST);
                while (r >= 0 && sqlite3_step(s) == SQLITE_ROW) {
                        read_bundle(s, &b);
                        r = fn(ud, &b);
                }
                sqlite3_reset(s);
        }
        return r;
}
