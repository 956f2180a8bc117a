/* test_agentdb.c — the agent's tables: schema migration, action state, download
 * journal, and the outbox's order and progress coalescing. */
#include "testutil.h"

#include <errno.h>

#include "store/agentdb.h"

static void test_actions(void **state)
{
        char *dir = test_tmpdir("agentdb");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        struct agent_action a;
        assert_int_equal(agentdb_action_open(db, &a), 0);
        assert_int_equal(agentdb_action_insert(db, "7", "https://s/a.berth", 1234, true, 100), 0);
        assert_int_equal(agentdb_action_insert(db, "7", "https://s/a.berth", 1234, true, 100), -EIO); /* unique */
        assert_int_equal(agentdb_action_get(db, "7", &a), 1);
        assert_string_equal(a.state, ACTION_NEW);
        assert_true(a.download_only);
        assert_int_equal(a.size, 1234);
        assert_null(a.head);
        agent_action_clear(&a);
        assert_int_equal(agentdb_action_set_head(db, "7", "HEAD", 4, "gw", 3, 101), 0);
        assert_int_equal(agentdb_action_open(db, &a), 1);
        assert_string_equal(a.state, ACTION_FETCHING);
        assert_int_equal(a.head_len, 4);
        assert_memory_equal(a.head, "HEAD", 4);
        assert_string_equal(a.name, "gw");
        assert_int_equal(a.version, 3);
        agent_action_clear(&a);
        assert_int_equal(agentdb_action_set_state(db, "7", ACTION_INSTALLED, "done", 102), 0);
        assert_true(agent_action_final(ACTION_INSTALLED));
        assert_false(agent_action_final(ACTION_STAGED));
        assert_int_equal(agentdb_action_open(db, &a), 0); /* final actions are not open */
        assert_int_equal(agentdb_action_get(db, "7", &a), 1);
        assert_string_equal(a.detail, "done");
        agent_action_clear(&a);

        uint64_t good = 0;
        const char *d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_int_equal(agentdb_download_get(db, d, &good), 0);
        assert_int_equal(agentdb_download_set(db, d, 65536, 1), 0);
        assert_int_equal(agentdb_download_set(db, d, 131072, 2), 0);
        assert_int_equal(agentdb_download_get(db, d, &good), 1);
        assert_int_equal(good, 131072);
        assert_int_equal(agentdb_download_clear(db), 0);
        assert_int_equal(agentdb_download_get(db, d, &good), 0);

        char *v = NULL;
        assert_int_equal(agentdb_kv_get(db, "k", &v), 0);
        assert_int_equal(agentdb_kv_set(db, "k", "1"), 0);
        assert_int_equal(agentdb_kv_set(db, "k", "2"), 0);
        assert_int_equal(agentdb_kv_get(db, "k", &v), 1);
        assert_string_equal(v, "2");
        free(v);
        db_close(db);
        test_rmdir(dir);
}

static void test_outbox(void **state)
{
        char *dir = test_tmpdir("outbox");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_outbox_add(db, "feedback", "1", "POST", "u1", "accepted", false, 1), 0);
        assert_int_equal(agentdb_outbox_add(db, "progress", "1", "POST", "u1", "p10", true, 2), 0);
        assert_int_equal(agentdb_outbox_add(db, "progress", "1", "POST", "u1", "p20", true, 3), 0); /* replaces p10 */
        assert_int_equal(agentdb_outbox_add(db, "feedback", "1", "POST", "u1", "closed", false, 4), 0);
        assert_int_equal(agentdb_outbox_add(db, "progress", "1", "POST", "u1", "p99", true, 5), 0); /* new: after closed */
        unsigned n = 0;
        assert_int_equal(agentdb_outbox_count(db, &n), 0);
        assert_int_equal(n, 4);
        db_close(db);
        /* survives reopening: it is the store-and-forward queue */
        db = NULL;
        assert_int_equal(db_open(dir, &db, &e), 0);
        const char *want[] = {"accepted", "p20", "closed", "p99"};
        for (int i = 0; i < 4; i++) {
                struct outbox_item it;
                assert_int_equal(agentdb_outbox_first(db, &it), 1);
                assert_string_equal(it.body, want[i]);
                assert_string_equal(it.method, "POST");
                assert_int_equal(agentdb_outbox_del(db, it.seq), 0);
                outbox_item_clear(&it);
        }
        struct outbox_item it;
        assert_int_equal(agentdb_outbox_first(db, &it), 0);
        db_close(db);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_actions),
                cmocka_unit_test(test_outbox),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
