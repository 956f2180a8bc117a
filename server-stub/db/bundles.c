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
        sql[S_BUNDLE_ADD] = "INSERT INTO bundles(name, version, filename, path, size, sha256, sha1, md5, created,"
                            " kind, module_type, module_version) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)";
        sql[S_BUNDLE_GET] = "SELECT id, name, version, filename, path, size, sha256, sha1, md5, kind, module_type,"
                            " module_version FROM bundles WHERE id=?";
        sql[S_BUNDLE_LIST] = "SELECT id, name, version, filename, path, size, sha256, sha1, md5, kind, module_type,"
                             " module_version FROM bundles ORDER BY id";
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
        sdb_copy_text(b->kind, sizeof b->kind, s, 9);
        sdb_copy_text(b->module_type, sizeof b->module_type, s, 10);
        sdb_copy_text(b->module_version, sizeof b->module_version, s, 11);
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
                /* A bundle given without kind and module is a .berth one. */
                bool plain = !strcmp(b->kind, "plain");
                char v[32];
                snprintf(v, sizeof v, "%" PRId64, b->version);
                sqlite3_bind_text(s, 10, plain ? "plain" : "berth", -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 11, plain ? b->module_type : "bApp", -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 12, plain ? b->module_version : v, -1, SQLITE_TRANSIENT);
                r = sdb_step_done(s);
                if (r == -EEXIST && plain)
                        berr_set(e, r, "artifact %s of type %s version %s was already uploaded", b->name, b->module_type,
                                 b->module_version);
                else if (r == -EEXIST)
                        berr_set(e, r, "bundle %s version %" PRId64 " was already uploaded", b->name, b->version);
                else if (r < 0)
                        berr_set(e, r, "cannot store bundle %s: %s", b->name, sqlite3_errmsg(db->h));
                else {
                        b->id = sqlite3_last_insert_rowid(db->h);
                        snprintf(b->kind, sizeof b->kind, "%s", plain ? "plain" : "berth");
                        if (!plain) {
                                snprintf(b->module_type, sizeof b->module_type, "bApp");
                                snprintf(b->module_version, sizeof b->module_version, "%s", v);
                        }
                }
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
