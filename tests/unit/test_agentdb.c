/* SPDX-License-Identifier: Apache-2.0 */
/* test_agentdb.c — the agent's tables: schema migration, action state, download
 * journal, the outbox's order and progress coalescing, and the telemetry queue's
 * bounds (count, bytes, age), drop-oldest order and persistent dropped counter. */
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
        const char *sha = "6ae8a75555209fd6c44157c0aed8016e763ff435a19cf186f76863140143ff72";
        assert_int_equal(agentdb_action_insert(db, "7", "https://s/a.berth", 1234, sha, true, false, 100), 0);
        assert_int_equal(agentdb_action_insert(db, "7", "https://s/a.berth", 1234, "", true, false, 100), -EIO); /* unique */
        assert_int_equal(agentdb_action_get(db, "7", &a), 1);
        assert_string_equal(a.state, ACTION_NEW);
        assert_true(a.download_only);
        assert_int_equal(a.size, 1234);
        assert_string_equal(a.sha256, sha);
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

/* The final state and the final feedback are one transaction; what an action
 * downloaded adds up over restarts (reopens of the database). */
static void test_action_finish(void **state)
{
        (void)state;
        char *dir = test_tmpdir("agentdb-finish");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_action_insert(db, "9", "https://s/a.berth", 10, "", false, true, 100), 0);
        assert_int_equal(agentdb_action_add_fetched(db, "9", 1000, 1, 2, 600, 101), 0);
        db_close(db);
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_action_add_fetched(db, "9", 500, 0, 1, 0, 102), 0);
        assert_int_equal(agentdb_action_add_fetched(db, "9", 24, 1, 0, 24, 103), 0);
        struct agent_action a;
        assert_int_equal(agentdb_action_get(db, "9", &a), 1);
        assert_int_equal(a.fetched, 1524);
        assert_int_equal(a.blobs_fetched, 2);
        assert_int_equal(a.requests, 3); /* kept across the reopen */
        assert_int_equal(a.peer_fetched, 624); /* of the 1524, from site peers */
        assert_true(a.budget_override);
        agent_action_clear(&a);

        struct agentdb_request fb = {.kind = "feedback", .method = "POST", .url = "https://s/fb", .body = "{}"};
        assert_int_equal(agentdb_action_finish(db, "nope", ACTION_FAILED, "x", &fb, 104), -ENOENT);
        unsigned n = 9;
        assert_int_equal(agentdb_outbox_count(db, &n), 0);
        assert_int_equal(n, 0); /* rolled back with the missing action */
        assert_int_equal(agentdb_action_finish(db, "9", ACTION_INSTALLED, "installed", &fb, 105), 0);
        assert_int_equal(agentdb_outbox_count(db, &n), 0);
        assert_int_equal(n, 1);
        struct outbox_item it;
        assert_int_equal(agentdb_outbox_first(db, &it), 1);
        assert_string_equal(it.kind, "feedback");
        assert_string_equal(it.action_id, "9");
        outbox_item_clear(&it);
        assert_int_equal(agentdb_action_get(db, "9", &a), 1);
        assert_string_equal(a.state, ACTION_INSTALLED);
        assert_string_equal(a.detail, "installed");
        agent_action_clear(&a);
        assert_int_equal(agentdb_action_open(db, &a), 0);

        /* A refused deployment is never an open action, and its feedback is queued. */
        assert_int_equal(agentdb_action_refuse(db, "10", "no .berth", &fb, 106), 0);
        assert_int_equal(agentdb_action_get(db, "10", &a), 1);
        assert_string_equal(a.state, ACTION_FAILED);
        assert_string_equal(a.detail, "no .berth");
        agent_action_clear(&a);
        assert_int_equal(agentdb_action_open(db, &a), 0);
        assert_int_equal(agentdb_outbox_count(db, &n), 0);
        assert_int_equal(n, 2);
        assert_true(agentdb_action_refuse(db, "10", "again", &fb, 107) < 0); /* known: nothing changes */
        assert_int_equal(agentdb_outbox_count(db, &n), 0);
        assert_int_equal(n, 2);
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

static void push_n(struct berth_db *db, int n, int64_t ts, const struct tm_limits *l, uint64_t *dropped)
{
        for (int i = 0; i < n; i++) {
                char text[32];
                snprintf(text, sizeof text, "n=%d", i);
                uint64_t d = 0, q = 0;
                assert_int_equal(agentdb_tm_push(db, ts, "sample", "agent", text, l, ts, &d, &q), 0);
                *dropped += d;
                struct tm_stats st;
                assert_int_equal(agentdb_tm_stats(db, &st), 0);
                assert_int_equal(q, st.records); /* what the push reports is what the queue holds */
        }
}

static void test_telemetry_queue(void **state)
{
        char *dir = test_tmpdir("agentdb-tm");
        struct berth_db *db = NULL;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        struct tm_stats st;
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(strlen(st.queue_id), 16);
        char qid[17];
        memcpy(qid, st.queue_id, sizeof qid);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.first_seq, 0);

        /* count bound: 10 records kept, the 15 oldest dropped, seqs stay consecutive */
        struct tm_limits l = {.max_records = 10, .max_bytes = 1 << 20, .max_age = 3600};
        uint64_t dropped = 0;
        push_n(db, 25, 1000, &l, &dropped);
        assert_int_equal(dropped, 15);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.records, 10);
        assert_int_equal(st.dropped, 15);
        assert_int_equal(st.first_seq, 16);
        assert_int_equal(st.next_seq, 26);
        struct tm_record r[32];
        size_t n = 0;
        assert_int_equal(agentdb_tm_peek(db, 32, r, &n), 0);
        assert_int_equal(n, 10);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(r[i].seq, 16 + (int64_t)i);
                char want[16];
                snprintf(want, sizeof want, "n=%zu", 15 + i);
                assert_string_equal(r[i].text, want);
                assert_string_equal(r[i].kind, "sample");
                assert_string_equal(r[i].source, "agent");
        }

        /* delivered: removed without counting; refused: removed and counted */
        assert_int_equal(agentdb_tm_remove(db, 16, 20, false), 0);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.records, 5);
        assert_int_equal(st.dropped, 15);
        assert_int_equal(agentdb_tm_remove(db, 21, 21, true), 0);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.records, 4);
        assert_int_equal(st.dropped, 16);
        assert_int_equal(st.first_seq, 22);

        /* a batch 22..25 in flight while the bound drops 22 and 23: once delivered, the
         * server has them, so they come back off the dropped counter */
        struct tm_limits l4 = {.max_records = 4, .max_bytes = 1 << 20, .max_age = 3600};
        dropped = 0;
        push_n(db, 2, 1000, &l4, &dropped);
        assert_int_equal(dropped, 2);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.first_seq, 24);
        assert_int_equal(st.dropped, 18);
        assert_int_equal(agentdb_tm_remove(db, 22, 25, false), 0);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.dropped, 16);
        assert_int_equal(st.records, 2);
        assert_int_equal(st.first_seq, 26);
        assert_int_equal(agentdb_tm_remove(db, 26, 27, false), 0);

        /* byte bound: each record counts text + source + 32 = 3 + 5 + 32 = 40 bytes */
        struct tm_limits lb = {.max_records = 1000, .max_bytes = 200, .max_age = 3600};
        dropped = 0;
        push_n(db, 10, 1000, &lb, &dropped);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.records, 5);
        assert_int_equal(st.bytes, 200);
        assert_int_equal(dropped, 5);

        /* age bound: records older than max_age go at the next push or expire */
        struct tm_limits la = {.max_records = 1000, .max_bytes = 1 << 20, .max_age = 60};
        assert_int_equal(agentdb_tm_expire(db, &la, 1000 + 60, &dropped), 0);
        assert_int_equal(dropped, 0);
        assert_int_equal(agentdb_tm_expire(db, &la, 1000 + 61, &dropped), 0);
        assert_int_equal(dropped, 5);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.dropped, 26);

        /* oversized fields are refused, not truncated here (the daemon sanitises) */
        char big[TM_TEXT_MAX + 2];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        assert_int_equal(agentdb_tm_push(db, 1, "event", "agent", big, &l, 1, NULL, NULL), -EINVAL);

        /* everything survives a reopen: queue id, counter, sequence */
        db_close(db);
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_tm_stats(db, &st), 0);
        assert_string_equal(st.queue_id, qid);
        assert_int_equal(st.dropped, 26);
        assert_int_equal(st.next_seq, 38);
        db_close(db);
        test_rmdir(dir);
}

static int sum_usage(void *ud, int64_t day, uint64_t rx, uint64_t tx)
{
        uint64_t *v = ud;
        v[0]++;
        v[1] += rx;
        v[2] += tx;
        v[3] = (uint64_t)day;
        return 0;
}

static void test_wan_usage(void **state)
{
        (void)state;
        char *dir = test_tmpdir("agentdb-usage");
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(agentdb_usage_add(db, 20000, 100, 10), 0);
        assert_int_equal(agentdb_usage_add(db, 20000, 50, 5), 0);
        assert_int_equal(agentdb_usage_add(db, 20001, 7, 3), 0);
        assert_int_equal(agentdb_usage_add(db, 20030, 1000, 1), 0);
        db_close(db);
        assert_int_equal(db_open(dir, &db, &e), 0);
        uint64_t v[4] = {0};
        assert_int_equal(agentdb_usage_list(db, 20001, sum_usage, v), 0);
        assert_int_equal(v[0], 2);
        assert_int_equal(v[1], 1007);
        assert_int_equal(v[2], 4);
        assert_int_equal(v[3], 20030);
        memset(v, 0, sizeof v);
        assert_int_equal(agentdb_usage_list(db, 0, sum_usage, v), 0);
        assert_int_equal(v[1], 1157); /* the same day's bytes add up */
        assert_int_equal(agentdb_usage_prune(db, 20001), 0);
        memset(v, 0, sizeof v);
        assert_int_equal(agentdb_usage_list(db, 0, sum_usage, v), 0);
        assert_int_equal(v[0], 2);
        db_close(db);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_actions),
                cmocka_unit_test(test_action_finish),
                cmocka_unit_test(test_outbox),
                cmocka_unit_test(test_telemetry_queue),
                cmocka_unit_test(test_wan_usage),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
