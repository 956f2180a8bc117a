/* SPDX-License-Identifier: Apache-2.0 */
/* test_wstate.c — persisted workload update states: one unfinished update per bundle,
 * transitions survive a reopen, commit sets current/previous in the same transaction,
 * forgetting a version reports only blobs and images nobody else uses.
 */
#include "testutil.h"

#include <errno.h>

#include "bundle/manifest.h"
#include "store/db.h"
#include "store/wstate.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define MTEXT \
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\",\"name\":\"app\"," \
        "\"version\":%d,\"created\":\"2026-01-01T00:00:00Z\",\"expires\":\"2027-01-01T00:00:00Z\"," \
        "\"images\":[{\"ref\":\"r/app:1\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," \
        "\"digest\":\"%s\",\"size\":10}]," \
        "\"blobs\":[{\"digest\":\"%s\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}]}"

static void record(struct berth_db *db, int version, const char *digest)
{
        char *t;
        assert_true(asprintf(&t, MTEXT, version, digest, digest) > 0);
        struct bundle_manifest *m = NULL;
        berr e = {0};
        assert_int_equal(bundle_manifest_parse(t, strlen(t), &m, &e), 0);
        assert_int_equal(db_record_bundle(db, m, t, strlen(t), "{}", 2, "cli", 100, &e), 0);
        bundle_manifest_free(m);
        free(t);
}

static void test_lifecycle(void **state)
{
        (void)state;
        char *dir = test_tmpdir("wstate");
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        struct wstate_update u, v;
        assert_int_equal(wstate_latest(db, "app", false, &u), 0);
        assert_int_equal(wstate_current(db, "app", NULL, NULL), 0);

        assert_int_equal(wstate_begin(db, "app", 0, 1, "update", 1000, &u, &e), 0);
        assert_int_equal(u.state, WSTATE_STAGED);
        berr e2 = {0};
        assert_int_equal(wstate_begin(db, "app", 0, 2, "update", 1001, &v, &e2), -EBUSY);
        assert_non_null(strstr(e2.msg, "still staged"));
        assert_int_equal(wstate_set(db, &u, WSTATE_SWITCHING, 0, NULL, 1002, &e), 0);
        assert_int_equal(wstate_set(db, &u, WSTATE_PROBING, 5000, NULL, 1003, &e), 0);
        db_close(db);

        /* A restart finds the update where it was. */
        assert_int_equal(db_open(dir, &db, &e), 0);
        assert_int_equal(wstate_latest(db, "app", true, &v), 1);
        assert_int_equal(v.id, u.id);
        assert_int_equal(v.state, WSTATE_PROBING);
        assert_int_equal(v.probe_until_ms, 5000);
        assert_int_equal(wstate_commit(db, &v, "all healthy", 6000, &e), 0);
        assert_int_equal(wstate_latest(db, "app", true, &v), 0);
        int64_t cur = 0, prev = -1;
        assert_int_equal(wstate_current(db, "app", &cur, &prev), 1);
        assert_int_equal(cur, 1);
        assert_int_equal(prev, 0);

        /* A failed update: rolled back, current unchanged, evidence kept. */
        assert_int_equal(wstate_begin(db, "app", 1, 2, "update", 7000, &u, &e), 0);
        assert_int_equal(wstate_set(db, &u, WSTATE_ROLLING_BACK, 0, "probe failed: 404", 7100, &e), 0);
        assert_int_equal(wstate_set(db, &u, WSTATE_ROLLED_BACK, 0, NULL, 7200, &e), 0);
        assert_int_equal(wstate_latest(db, "app", false, &v), 1);
        assert_int_equal(v.state, WSTATE_ROLLED_BACK);
        assert_string_equal(v.evidence, "probe failed: 404");
        assert_int_equal(wstate_current(db, "app", &cur, &prev), 1);
        assert_int_equal(cur, 1);
        db_close(db);
        rm_rf(dir);
        free(dir);
}

struct seen {
        int blobs, images;
        char last_blob[80];
};

static void gc_cb(void *ud, const char *kind, const char *a, const char *b)
{
        struct seen *s = ud;
        (void)b;
        if (!strcmp(kind, "blob")) {
                s->blobs++;
                snprintf(s->last_blob, sizeof s->last_blob, "%s", a);
        } else
                s->images++;
}

static int count_versions(void *ud, int64_t v)
{
        (void)v;
        (*(int *)ud)++;
        return 0;
}

/* A node without a workload engine records its current version in the same table. */
static void test_record_current(void **state)
{
        (void)state;
        char *dir = test_tmpdir("wstate-current");
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        record(db, 1, D1);
        record(db, 2, D2);
        int64_t v = 0, p = 0;
        assert_int_equal(wstate_record_current(db, "app", 1, 1000, &e), 0);
        assert_int_equal(wstate_current(db, "app", &v, &p), 1);
        assert_int_equal(v, 1);
        assert_int_equal(p, 0);
        assert_int_equal(wstate_record_current(db, "app", 1, 1001, &e), 0); /* idempotent */
        /* A staged row for the same version, left by a crash, is committed. */
        struct wstate_update u;
        assert_int_equal(wstate_begin(db, "app", 1, 2, "update", 1002, &u, &e), 0);
        assert_int_equal(wstate_record_current(db, "app", 2, 1003, &e), 0);
        assert_int_equal(wstate_current(db, "app", &v, &p), 1);
        assert_int_equal(v, 2);
        assert_int_equal(p, 1);
        assert_int_equal(wstate_latest(db, "app", true, &u), 0);
        /* One for another version is not overridden. */
        assert_int_equal(wstate_begin(db, "app", 2, 1, "rollback", 1004, &u, &e), 0);
        assert_int_equal(wstate_record_current(db, "app", 2, 1005, &e), 0); /* already current */
        record(db, 3, D1);
        assert_int_equal(wstate_record_current(db, "app", 3, 1006, &e), -EBUSY);
        db_close(db);
        test_rmdir(dir);
}

static void test_forget(void **state)
{
        (void)state;
        char *dir = test_tmpdir("wstate-gc");
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(dir, &db, &e), 0);
        record(db, 1, D1);
        record(db, 2, D1); /* same image as v1 */
        record(db, 3, D2);
        struct seen s = {0};
        /* v1 shares everything with v2: nothing to remove but its rows. */
        assert_int_equal(wstate_forget_version(db, "app", 1, gc_cb, &s, &e), 0);
        assert_int_equal(s.blobs, 0);
        assert_int_equal(s.images, 0);
        /* v2 is now the only user of D1. */
        assert_int_equal(wstate_forget_version(db, "app", 2, gc_cb, &s, &e), 0);
        assert_int_equal(s.blobs, 1);
        assert_string_equal(s.last_blob, D1);
        assert_int_equal(s.images, 1);
        assert_int_equal(wstate_unreferenced_blob(db, D1), 1);
        assert_int_equal(wstate_unreferenced_blob(db, D2), 0);
        /* Forgetting twice is a no-op. */
        assert_int_equal(wstate_forget_version(db, "app", 2, gc_cb, &s, &e), 0);
        assert_int_equal(s.blobs, 1);
        int n = 0;
        assert_int_equal(wstate_list_versions(db, "app", count_versions, &n), 0);
        assert_int_equal(n, 1);
        db_close(db);
        rm_rf(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lifecycle),
                cmocka_unit_test(test_record_current),
                cmocka_unit_test(test_forget),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
