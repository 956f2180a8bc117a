/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_db.c — berth-server's SQLite layer (server-stub/db): migrations on reopen,
 * target/action isolation, one active action per target, feedback transitions, rollout
 * groups and cancellation with rollback, telemetry ingestion (duplicates, gaps, queue
 * reset, keep bound, one transaction with the attributes). */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>

#include "server-stub/db/actions.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/db.h"
#include "server-stub/db/rollouts.h"
#include "server-stub/db/targets.h"
#include "server-stub/db/telemetry.h"

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

static int append_json(void *ud, const char *text)
{
        json_t *o = json_loads(text, 0, NULL);
        return o ? json_array_append_new(ud, o) : -EBADMSG;
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
        assert_false(a.budget_override);
        assert_int_equal(sdb_action_feedback(db, &a, &ok, ACTION_SUCCESS), 0);

        struct sdb_rollout ro = {.bundle_id = new, .groups = {50, 100}, .n_groups = 2, .success_threshold = 100,
                                 .budget_override = true};
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
        assert_true(a.budget_override);
        assert_int_equal(sdb_action_feedback(db, &a, &ok, ACTION_SUCCESS), 0);

        ro.current_group = 1;
        assert_int_equal(sdb_rollout_start_group(db, &ro, 1), 0);
        struct sdb_rollout back;
        assert_int_equal(sdb_rollout_get(db, ro.id, &back), 1);
        assert_int_equal(back.current_group, 1);
        assert_string_equal(back.state, "running");
        assert_int_equal(back.n_groups, 2);
        assert_int_equal(back.groups[1], 100);
        assert_true(back.budget_override);

        /* Cancel: three open actions → canceling, t0 (switched, had gw 1) → rollback. */
        snprintf(ro.state, sizeof ro.state, "canceled");
        assert_int_equal(sdb_rollout_cancel(db, &ro), 4);
        assert_int_equal(sdb_rollout_group_counts(db, ro.id, 1, &c), 0);
        assert_int_equal(c.by_status[ACTION_CANCELING], 3);
        assert_int_equal(sdb_action_active(db, ids[0], &a), 1);
        assert_int_equal(a.bundle_id, old);
        assert_int_equal(a.grp, -1);
        assert_true(a.budget_override);
        sdb_close(db);
        test_rmdir(dir);
}

/* Ingests records first … last of queue q (odd seqs from source "a", even ones from "b")
 * with attributes attrs (NULL: a telemetry-only request). */
static int ingest(struct sdb *db, int64_t id, const char *attrs, const char *q, int64_t first, int64_t last,
                  int64_t dropped, unsigned keep)
{
        struct sdb_tm_record rec[32];
        char text[32][16];
        size_t n = (size_t)(last - first + 1);
        for (size_t i = 0; i < n; i++) {
                snprintf(text[i], sizeof text[i], "t%lld", (long long)(first + (int64_t)i));
                rec[i] = (struct sdb_tm_record){first + (int64_t)i, 1700000000 + first + (int64_t)i,
                                                i % 2 ? "sample" : "event", (first + (int64_t)i) % 2 ? "a" : "b", text[i]};
        }
        struct sdb_tm_batch b = {.queue = q, .first = first, .last = last, .dropped = dropped, .pending = 100 - last,
                                 .n = n, .rec = rec};
        return sdb_target_config_data(db, id, attrs, &b, keep);
}

static json_t *telemetry(struct sdb *db, const char *cid, int64_t after, unsigned limit)
{
        char *text = NULL;
        assert_int_equal(sdb_target_telemetry_json(db, cid, after, limit, &text), 1);
        json_t *j = json_loads(text, 0, NULL);
        assert_non_null(j);
        free(text);
        return j;
}

static int64_t num(json_t *j, const char *path)
{
        json_t *v = json_object_get(j, path);
        assert_true(json_is_integer(v));
        return json_integer_value(v);
}

/* The seqs of .records, e.g. "3,4,5". */
static void seqs(json_t *j, char *out, size_t n)
{
        size_t i, o = 0;
        json_t *r;
        out[0] = 0;
        json_array_foreach(json_object_get(j, "records"), i, r)
                o += (size_t)snprintf(out + o, n - o, "%s%lld", i ? "," : "", (long long)num(r, "seq"));
}

static void test_telemetry(void **state)
{
        char *dir = test_tmpdir("srvdb");
        struct sdb *db = open_db(dir);
        int64_t id, id2;
        char s[512];
        assert_int_equal(sdb_target_add(db, "gw", "h", "{}", &id), 0);
        const char *qa = "00000000000000aa", *qb = "00000000000000bb";

        /* Never sent: same shape, nulls and zeros. */
        json_t *j = telemetry(db, "gw", 0, 100);
        assert_true(json_is_null(json_object_get(j, "queue")) && json_is_null(json_object_get(j, "updated")));
        assert_int_equal(num(j, "lastSeq") + num(j, "dropped") + num(j, "pending") + num(j, "gaps"), 0);
        assert_int_equal(json_object_size(json_object_get(j, "latest")), 0);
        assert_int_equal(json_array_size(json_object_get(j, "records")), 0);
        json_decref(j);
        char *none = NULL;
        assert_int_equal(sdb_target_telemetry_json(db, "nope", 0, 100, &none), 0);
        assert_null(none);

        assert_int_equal(ingest(db, id, "{\"k\":\"v\"}", qa, 1, 3, 0, 1000), 3);
        assert_int_equal(ingest(db, id, "{\"k\":\"v\"}", qa, 1, 3, 0, 1000), 0);    /* resend */
        assert_int_equal(ingest(db, id, "{\"k\":\"v\"}", qa, 2, 5, 1, 1000), 2);    /* overlap: 4, 5 new */
        assert_int_equal(ingest(db, id, "{\"k\":\"v\"}", qa, 8, 9, 2, 1000), 2);    /* 6, 7 missing */
        assert_int_equal(ingest(db, id, "{\"k\":\"v\"}", qa, 8, 8, 0, 1000), 0);    /* stale resend */
        j = telemetry(db, "gw", 0, 100);
        assert_string_equal(json_string_value(json_object_get(j, "queue")), qa);
        assert_int_equal(num(j, "lastSeq"), 9);
        assert_int_equal(num(j, "gaps"), 2);
        assert_int_equal(num(j, "dropped"), 2);
        assert_int_equal(num(j, "pending"), 91);
        assert_true(num(j, "updated") > 0);
        seqs(j, s, sizeof s);
        assert_string_equal(s, "1,2,3,4,5,8,9");
        /* The newest record per source: odd seqs are "a", even "b". */
        json_t *la = json_object_get(json_object_get(j, "latest"), "a");
        json_t *lb = json_object_get(json_object_get(j, "latest"), "b");
        assert_int_equal(json_object_size(json_object_get(j, "latest")), 2);
        assert_int_equal(num(la, "seq"), 9);
        assert_string_equal(json_string_value(json_object_get(la, "text")), "t9");
        assert_int_equal(num(la, "ts"), 1700000009);
        assert_int_equal(num(lb, "seq"), 8);
        assert_string_equal(json_string_value(json_object_get(lb, "kind")), "event");
        json_decref(j);

        /* after and limit page through the records. */
        j = telemetry(db, "gw", 3, 2);
        seqs(j, s, sizeof s);
        assert_string_equal(s, "4,5");
        json_decref(j);

        /* A batch that fails to store leaves the attributes as they were: one transaction. */
        struct sdb_tm_record dup[2] = {{10, 1, "event", "a", "x"}, {10, 1, "event", "a", "x"}};
        struct sdb_tm_batch bad = {.queue = qa, .first = 10, .last = 11, .n = 2, .rec = dup};
        assert_true(sdb_target_config_data(db, id, "{\"k\":\"changed\"}", &bad, 1000) < 0);
        char *attrs = NULL;
        assert_int_equal(sdb_target_attrs(db, id, &attrs), 1);
        assert_string_equal(attrs, "{\"k\":\"v\"}");
        free(attrs);
        j = telemetry(db, "gw", 0, 100);
        assert_int_equal(num(j, "lastSeq"), 9);
        json_decref(j);

        /* Telemetry alone (attrs NULL) leaves the attributes and the request for them. */
        struct sdb_target tg;
        assert_int_equal(sdb_target_add(db, "fresh", "h", "{\"a\":\"1\"}", &id2), 0);
        assert_int_equal(ingest(db, id2, NULL, qa, 1, 1, 0, 1000), 1);
        assert_int_equal(sdb_target_get(db, "fresh", &tg), 1);
        assert_true(tg.attrs_requested);
        assert_int_equal(sdb_target_attrs(db, id2, &attrs), 1);
        assert_string_equal(attrs, "{\"a\":\"1\"}");
        free(attrs);
        assert_int_equal(ingest(db, id2, "{\"a\":\"2\"}", qa, 2, 2, 0, 1000), 1);
        assert_int_equal(sdb_target_get(db, "fresh", &tg), 1);
        assert_false(tg.attrs_requested);

        /* A new queue id starts a new sequence space; the old queue's records go. */
        assert_int_equal(ingest(db, id, "{}", qb, 1, 2, 0, 1000), 2);
        j = telemetry(db, "gw", 0, 100);
        seqs(j, s, sizeof s);
        assert_string_equal(s, "1,2");
        assert_int_equal(num(j, "gaps") + num(j, "dropped"), 0);
        assert_string_equal(json_string_value(json_object_get(j, "queue")), qb);
        json_decref(j);

        /* keep: only the newest records stay. */
        assert_int_equal(ingest(db, id, "{}", qb, 3, 34, 0, 5), 32);
        j = telemetry(db, "gw", 0, 100);
        seqs(j, s, sizeof s);
        assert_string_equal(s, "30,31,32,33,34");
        json_decref(j);

        /* The target list carries the summary; a target without telemetry has null. */
        assert_int_equal(sdb_target_add(db, "quiet", "h", "{}", NULL), 0);
        json_t *arr = json_array();
        assert_int_equal(sdb_targets_list_filtered(db, 0, 10, "", append_json, arr), 3); /* the row count */
        assert_int_equal(json_array_size(arr), 3);
        json_t *t0 = json_object_get(json_array_get(arr, 0), "telemetry");
        assert_int_equal(num(t0, "lastSeq"), 34);
        assert_true(json_is_null(json_object_get(json_array_get(arr, 2), "telemetry")));
        json_decref(arr);
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
        char sql[2560];
        /* Back to schema 1: undo migrations 2 (soaks), 3 (telemetry), 4 (consent), 5
         * (bundles rebuilt with kinds) and 6 (budget override). */
        snprintf(sql, sizeof sql,
                 "CREATE TABLE b1 (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL,"
                 " filename TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
                 " sha1 TEXT NOT NULL, md5 TEXT NOT NULL, created INTEGER NOT NULL, UNIQUE(name, version));"
                 " INSERT INTO b1 SELECT id, name, version, filename, path, size, sha256, sha1, md5, created FROM bundles;"
                 " DROP TABLE bundles; ALTER TABLE b1 RENAME TO bundles;"
                 "ALTER TABLE rollouts DROP COLUMN soaks; DROP TABLE telemetry_records; DROP TABLE telemetry_state;"
                 " ALTER TABLE rollouts DROP COLUMN confirm_required; ALTER TABLE actions DROP COLUMN confirmation;"
                 " ALTER TABLE targets DROP COLUMN auto_confirm; ALTER TABLE targets DROP COLUMN auto_confirm_initiator;"
                 " ALTER TABLE targets DROP COLUMN auto_confirm_remark; ALTER TABLE targets DROP COLUMN auto_confirm_at;"
                 " ALTER TABLE rollouts DROP COLUMN budget_override; ALTER TABLE actions DROP COLUMN budget_override;"
                 " PRAGMA user_version=1;"
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
        assert_false(ro.confirm_required);
        assert_false(ro.budget_override);
        struct sdb_bundle bb;
        assert_int_equal(sdb_bundle_get(db, b, &bb), 1);
        assert_string_equal(bb.kind, "berth");
        assert_string_equal(bb.module_type, "bApp");
        assert_string_equal(bb.module_version, "1");
        assert_string_equal(bb.name, "gw");
        sdb_close(db);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_targets_and_actions),
                cmocka_unit_test(test_rollout_groups_and_cancel),
                cmocka_unit_test(test_migration_from_v1),
                cmocka_unit_test(test_telemetry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
