/* SPDX-License-Identifier: Apache-2.0 */
/* test_store_sql.c — store/sql.c's error mapping, seen through the agent tables: a real
 * SQLITE_FULL (PRAGMA max_page_count) reads as -ENOSPC and "the state disk is full" for
 * agentdb and wstate writes, a held write lock as -EBUSY, a damaged file as -EBADMSG. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/agentdb.h"
#include "store/wstate.h"

/* Caps the database at the pages it has now: the next page it needs is SQLITE_FULL. */
static void cap_pages(struct berth_db *db)
{
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db_handle(db), "PRAGMA page_count", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%d", n);
        assert_int_equal(sqlite3_exec(db_handle(db), sql, NULL, NULL, NULL), SQLITE_OK);
}

static void assert_full_sentence(const char *msg, const char *dir)
{
        char want[512];
        snprintf(want, sizeof want, "the state disk is full: free space on %s", dir);
        if (!strstr(msg, want))
                fail_msg("'%s' does not contain '%s'", msg, want);
}

static void test_full_agentdb(void **state)
{
        char *dir = test_tmpdir("sqlfull");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_action_insert(db, "1", "https://s/a.berth", 10, "", false, false, 100), 0);
        cap_pages(db);
        char body[16384];
        memset(body, 'x', sizeof body - 1);
        body[sizeof body - 1] = 0;
        assert_int_equal(agentdb_outbox_add(db, "feedback", "1", "POST", "https://s/fb", body, false, 101), -ENOSPC);
        assert_int_equal(db_last_errno(db), -ENOSPC);
        assert_full_sentence(db_last_error(db), dir);
        /* Nothing half-written: the outbox is still empty and the action still readable. */
        unsigned n = 99;
        assert_int_equal(agentdb_outbox_count(db, &n), 0);
        assert_int_equal(n, 0);
        struct agent_action a;
        assert_int_equal(agentdb_action_get(db, "1", &a), 1);
        agent_action_clear(&a);
        assert_true(sqlite3_get_autocommit(db_handle(db)));
        db_close(db);
        free(dir);
        (void)state;
}

static void test_full_wstate(void **state)
{
        char *dir = test_tmpdir("sqlfullws");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        /* Fill the capped file with rows smaller than the one wstate_begin() writes. */
        cap_pages(db);
        int rc, rows = 0;
        while ((rc = sqlite3_exec(db_handle(db),
                                  "INSERT INTO workload_updates (bundle, from_version, to_version, kind, state, "
                                  "started_ms, state_ms) VALUES ('o', 0, 1, 'u', 'committed', 1, 1)",
                                  NULL, NULL, NULL)) == SQLITE_OK)
                rows++;
        assert_int_equal(rc, SQLITE_FULL);
        assert_true(rows > 0);
        struct wstate_update u;
        assert_int_equal(wstate_begin(db, "gw", 1, 2, "update", 100, &u, &e), -ENOSPC);
        assert_int_equal(e.code, -ENOSPC);
        assert_full_sentence(e.msg, dir);
        assert_int_equal(wstate_latest(db, "gw", false, &u), 0);
        assert_true(sqlite3_get_autocommit(db_handle(db)));
        db_close(db);
        free(dir);
        (void)state;
}

static void test_busy(void **state)
{
        char *dir = test_tmpdir("sqlbusy");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        sqlite3_busy_timeout(db_handle(db), 0);
        _cleanup_free_ char *path = path_join(dir, "berth.db");
        sqlite3 *other;
        assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO agent_kv VALUES ('a', 'b');", NULL, NULL,
                                      NULL),
                         SQLITE_OK);
        assert_int_equal(agentdb_kv_set(db, "k", "v"), -EBUSY);
        assert_non_null(strstr(db_last_error(db), "is locked by another process: is another berth running?"));
        assert_non_null(strstr(db_last_error(db), path));
        struct wstate_update u;
        berr we = {0};
        assert_int_equal(wstate_begin(db, "gw", 1, 2, "update", 100, &u, &we), -EBUSY);
        assert_non_null(strstr(we.msg, "is another berth running?"));
        assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        assert_int_equal(agentdb_kv_set(db, "k", "v"), 0);
        db_close(db);
        free(dir);
        (void)state;
}

static void test_corrupt(void **state)
{
        char *dir = test_tmpdir("sqlcorrupt");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_kv_set(db, "k", "v"), 0);
        db_close(db);
        db = NULL;
        _cleanup_free_ char *path = path_join(dir, "berth.db");
        int fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        char junk[8192];
        memset(junk, 0x5a, sizeof junk);
        assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
        close(fd);
        assert_int_equal(db_open(dir, &db, &e), -EBADMSG);
        assert_null(db);
        assert_non_null(strstr(e.msg, "is damaged"));
        assert_non_null(strstr(e.msg, "move it away and restart to rebuild"));
        assert_non_null(strstr(e.msg, path));
        free(dir);
        (void)state;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_agentdb),
                cmocka_unit_test(test_full_wstate),
                cmocka_unit_test(test_busy),
                cmocka_unit_test(test_corrupt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
