/* SPDX-License-Identifier: Apache-2.0 */
/* test_db.c — schema creation, recording bundles, persistence across reopen. */
#include "testutil.h"

#include <errno.h>
#include <sqlite3.h>

#include "bundle/manifest.h"
#include "store/db.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define MTEXT \
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\",\"name\":\"app\"," \
        "\"version\":%d,\"created\":\"2026-01-01T00:00:00Z\",\"expires\":\"2027-01-01T00:00:00Z\"," \
        "\"images\":[{\"ref\":\"r/app:1\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," \
        "\"digest\":\"" D1 "\",\"size\":10}]," \
        "\"blobs\":[{\"digest\":\"" D1 "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}]}"

static struct bundle_manifest *mk(int version, char **text)
{
        assert_true(asprintf(text, MTEXT, version) > 0);
        struct bundle_manifest *m = NULL;
        berr e = {0};
        assert_int_equal(bundle_manifest_parse(*text, strlen(*text), &m, &e), 0);
        return m;
}

static int count_cb(void *ud, const struct db_bundle *b)
{
        (*(int *)ud)++;
        return 0;
}

static void test_record_and_reopen(void **state)
{
        char *dir = test_tmpdir("db");
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(db_installed(db, "app", NULL, NULL), 0);
        char *t1, *t2;
        struct bundle_manifest *m1 = mk(1, &t1), *m2 = mk(2, &t2);
        assert_int_equal(db_record_bundle(db, m1, t1, strlen(t1), "{}", 2, "cli", 100, &e), 0);
        assert_int_equal(db_record_bundle(db, m2, t2, strlen(t2), "{}", 2, "usb", 200, &e), 0);
        /* The same name+version twice violates the schema and rolls back. */
        berr e2 = {0};
        assert_true(db_record_bundle(db, m2, t2, strlen(t2), "{}", 2, "usb", 300, &e2) < 0);
        db_close(db);

        assert_int_equal(db_open(dir, &db, &e), 0);
        int64_t v;
        char d[DIGEST_STR_LEN + 1];
        assert_int_equal(db_installed(db, "app", &v, d), 1);
        assert_int_equal(v, 2);
        assert_string_equal(d, m2->digest);
        int n = 0;
        assert_int_equal(db_list_bundles(db, count_cb, &n), 0);
        assert_int_equal(n, 2);
        char *back;
        size_t bl;
        assert_int_equal(db_get_manifest(db, "app", 1, &back, &bl), 0);
        assert_int_equal(bl, strlen(t1));
        assert_memory_equal(back, t1, bl);
        free(back);
        assert_int_equal(db_get_manifest(db, "app", 9, &back, &bl), -ENOENT);
        /* WAL and synchronous=FULL are in force. */
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db_handle(db), "PRAGMA journal_mode", -1, &st, NULL);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
        sqlite3_prepare_v2(db_handle(db), "PRAGMA synchronous", -1, &st, NULL);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 2);
        sqlite3_finalize(st);
        db_close(db);
        bundle_manifest_free(m1);
        bundle_manifest_free(m2);
        free(t1);
        free(t2);
        test_rmdir(dir);
}

static void test_newer_schema_refused(void **state)
{
        char *dir = test_tmpdir("db");
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        sqlite3_exec(db_handle(db), "PRAGMA user_version=999", NULL, NULL, NULL);
        db_close(db);
        berr e2 = {0};
        assert_int_equal(db_open(dir, &db, &e2), -EPROTO);
        assert_non_null(strstr(e2.msg, "upgrade berth"));
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_record_and_reopen),
                                           cmocka_unit_test(test_newer_schema_refused)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
