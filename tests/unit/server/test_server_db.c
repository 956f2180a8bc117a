/* test_server_db.c — berth-server's SQLite layer (server-stub/db): migrations on reopen,
 * target/action isolation, one active action per target, feedback transitions, rollout
 * groups and cancellation with rollback. */
#include "testutil.h"

#include <errno.h>
#include <sqlite3.h>

#include "db/db.h"

static struct sdb *open_db(const char *dir)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/server.db", dir);
        struct sdb *db = NULL;
        berr e = {0};
        int r = sdb_open(path, &db, &e);
        if (r < 0)
                fail_msg("sdb_open: %s", berr_msg(&e, r));
        return db;
}

static int64_t add_bundle(struct sdb *db, const char *name, int64_t version)
{
        struct sdb_bundle b = {0};
        snprintf(b.name, sizeof b.name, "%s", name);
        b.version = version;
        snprintf(b.filename, sizeof b.filename, "%s-%lld.berth", name, (long long)version);
        snprintf(b.path, sizeof b.path, "/nonexistent/%s", b.filename);
        b.size = 10;
        memset(b.sha256, 'a', 64);
        memset(b.sha1, 'b', 40);
        memset(b.md5, 'c', 32);
        berr e = {0};
        assert_int_equal(sdb_bundle_add(db, &b, &e), 0);
        assert_true(b.id > 0);
        return b.id;
}

static void test_targets_and_actions(void **state)
{
        char *dir = test_tmpdir("srvdb");
        struct sdb *db = open_db(dir);
        int64_t a_id, b_id;
        assert_int_equal(sdb_target_add(db, "a", "hash-a", "{}", &a_id), 0);
        assert_int_equal(sdb_target_add(db, "b", "hash-b", NULL, &b_id), 0);
        assert_int_equal(sdb_target_add(db, "a", "x", NULL, NULL), -EEXIST);
        struct sdb_target t;
        assert_int_equal(sdb_target_get(db, "a", &t), 1);
        assert_string_equal(t.token_hash, "hash-a");
        assert_true(t.attrs_requested);
        assert_int_equal(sdb_target_get(db, "nope", &t), 0);

        int64_t bundle = add_bundle(db, "gw", 1);
        int64_t act1, act2;
        assert_int_equal(sdb_action_create(db, a_id, 0, 0, bundle, "forced", "", &act1), 0);
        struct sdb_action a;
        assert_int_equal(sdb_action_get(db, b_id, act1, &a), 0);   /* b cannot see a's action */
        assert_int_equal(sdb_action_get(db, a_id, act1, &a), 1);
        assert_int_equal(sdb_target_has_bundle(db, a_id, bundle), 1);
        assert_int_equal(sdb_target_has_bundle(db, b_id, bundle), 0);

        /* A second action supersedes the first: one active action per target. */
        assert_int_equal(sdb_action_create(db, a_id, 0, 0, bundle, "soft", "", &act2), 0);
        assert_int_equal(sdb_action_active(db, a_id, &a), 1);
        assert_int_equal(a.id, act2);
        assert_int_equal(sdb_action_get(db, a_id, act1, &a), 1);
        assert_false(a.active);
        assert_int_equal(a.status, ACTION_CANCELED);

        struct sdb_feedback f = {.execution = "closed", .finished = "success", .progress_cnt = -1,
                                 .progress_of = -1, .code = INT64_MIN, .details_json = "[\"ok\"]"};
        assert_int_equal(sdb_action_get(db, a_id, act2, &a), 1);
        assert_int_equal(sdb_action_feedback(db, &a, &f, ACTION_SUCCESS), 0);
        assert_int_equal(sdb_action_active(db, a_id, &a), 0);
        assert_int_equal(sdb_target_get(db, "a", &t), 1);
        assert_int_equal(t.installed_bundle, bundle);
        assert_int_equal(t.installed_action, act2);
        char *json = NULL;
        assert_int_equal(sdb_action_json(db, act2, &json), 1);
        assert_non_null(strstr(json, "\"details\":[\"ok\"]"));
        free(json);

        /* Poll notes are batched and flushed. */
        sdb_note_poll(db, a_id, 12345);
        assert_int_equal(sdb_flush_polls(db), 0);
        assert_int_equal(sdb_target_get(db, "a", &t), 1);
        assert_int_equal(t.last_poll, 12345);
        sdb_close(db);

        /* Reopening runs no migration twice and keeps everything. */
        db = open_db(dir);
        assert_int_equal(sdb_target_get(db, "a", &t), 1);
        assert_int_equal(t.installed_action, act2);
        sdb_close(db);
        test_rmdir(dir);
}

static void test_rollout_groups_and_cancel(void **state)
{
        char *dir = test_tmpdir("srvdb");
        struct sdb *db = open_db(dir);
        int64_t old = add_bundle(db, "gw", 1), new = add_bundle(db, "gw", 2);
        int64_t ids[4];
        int grp[4] = {0, 1, 1, 1};
        for (int i = 0; i < 4; i++) {
                char cid[8];
                snprintf(cid, sizeof cid, "t%d", i);
                assert_int_equal(sdb_target_add(db, cid, "", "{}", &ids[i]), 0);
        }
        /* t0 runs the old bundle already. */
        int64_t a0;
        struct sdb_action a;
        struct sdb_feedback ok = {.execution = "closed", .finished = "success", .progress_cnt = -1,
                                  .progress_of = -1, .code = INT64_MIN};
        assert_int_equal(sdb_action_create(db, ids[0], 0, 0, old, "forced", "", &a0), 0);
        assert_int_equal(sdb_action_get(db, ids[0], a0, &a), 1);
        assert_int_equal(sdb_action_feedback(db, &a, &ok, ACTION_SUCCESS), 0);

        struct sdb_rollout ro = {.bundle_id = new, .groups = {50, 100}, .n_groups = 2, .success_threshold = 100};
        snprintf(ro.name, sizeof ro.name, "r");
        snprintf(ro.action_type, sizeof ro.action_type, "forced");
        snprintf(ro.filter_json, sizeof ro.filter_json, "{}");
        berr e = {0};
        assert_int_equal(sdb_rollout_create(db, &ro, 4, ids, grp, &e), 0);
        struct sdb_group_counts c;
        assert_int_equal(sdb_rollout_group_counts(db, ro.id, 1, &c), 0);
        assert_int_equal(c.total, 3);
        assert_int_equal(c.actions, 0);

        snprintf(ro.state, sizeof ro.state, "running");
        ro.current_group = 0;
        assert_int_equal(sdb_rollout_start_group(db, &ro, 0), 0);
        assert_int_equal(sdb_rollout_group_counts(db, ro.id, 0, &c), 0);
        assert_int_equal(c.by_status[ACTION_SCHEDULED], 1);
        assert_int_equal(sdb_action_active(db, ids[0], &a), 1);
        assert_int_equal(a.prev_bundle, old);
        assert_int_equal(sdb_action_feedback(db, &a, &ok, ACTION_SUCCESS), 0);

        ro.current_group = 1;
        assert_int_equal(sdb_rollout_start_group(db, &ro, 1), 0);
        struct sdb_rollout back;
        assert_int_equal(sdb_rollout_get(db, ro.id, &back), 1);
        assert_int_equal(back.current_group, 1);
        assert_string_equal(back.state, "running");
        assert_int_equal(back.n_groups, 2);
        assert_int_equal(back.groups[1], 100);

        /* Cancel: three open actions → canceling, t0 (switched, had gw 1) → rollback. */
        snprintf(ro.state, sizeof ro.state, "canceled");
        assert_int_equal(sdb_rollout_cancel(db, &ro), 4);
        assert_int_equal(sdb_rollout_group_counts(db, ro.id, 1, &c), 0);
        assert_int_equal(c.by_status[ACTION_CANCELING], 3);
        assert_int_equal(sdb_action_active(db, ids[0], &a), 1);
        assert_int_equal(a.bundle_id, old);
        assert_int_equal(a.grp, -1);
        sdb_close(db);
        test_rmdir(dir);
}

/* A database written by schema 1 (one soak time per rollout) is migrated on open. */
static void test_migration_from_v1(void **state)
{
        char *dir = test_tmpdir("srvdb");
        struct sdb *db = open_db(dir);
        int64_t b = add_bundle(db, "gw", 1);
        sdb_close(db);
        char path[4096];
        snprintf(path, sizeof path, "%s/server.db", dir);
        sqlite3 *h;
        assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "ALTER TABLE rollouts DROP COLUMN soaks; PRAGMA user_version=1;"
                 "INSERT INTO rollouts(name, bundle_id, state, groups, success_threshold, error_threshold, soak,"
                 " action_type, created, updated) VALUES('old', %lld, 'ready', '10,100', 90, 5, 77, 'forced', 1, 1);",
                 (long long)b);
        assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(h);

        db = open_db(dir);
        struct sdb_rollout ro;
        assert_int_equal(sdb_rollout_get(db, 1, &ro), 1);
        assert_string_equal(ro.name, "old");
        assert_int_equal(ro.n_groups, 2);
        assert_int_equal(ro.groups[0], 10);
        assert_int_equal(ro.soak[0], 77);
        assert_int_equal(ro.soak[1], 77);
        sdb_close(db);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_targets_and_actions),
                cmocka_unit_test(test_rollout_groups_and_cancel),
                cmocka_unit_test(test_migration_from_v1),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
