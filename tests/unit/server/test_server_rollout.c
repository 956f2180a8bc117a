/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_rollout.c — rollout creation (server-stub/rollout): groups cut from the
 * matching targets, and a filter that matches no target refused with a sentence. */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>

#include "server-stub/core/server.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/db.h"
#include "server-stub/db/rollouts.h"
#include "server-stub/db/targets.h"
#include "server-stub/rollout/rollout.h"

struct fixture {
        char *dir;
        struct server s;
        int64_t bundle;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof *f);
        f->dir = test_tmpdir("srvrollout");
        char path[4096];
        snprintf(path, sizeof path, "%s/server.db", f->dir);
        berr e = {0};
        int r = sdb_open(path, &f->s.db, &e);
        if (r < 0)
                fail_msg("sdb_open: %s", berr_msg(&e, r));
        struct sdb_bundle b = {0};
        snprintf(b.name, sizeof b.name, "app");
        b.version = 1;
        snprintf(b.filename, sizeof b.filename, "app-1.berth");
        snprintf(b.path, sizeof b.path, "/nonexistent/app-1.berth");
        memset(b.sha256, 'a', 64);
        memset(b.sha1, 'b', 40);
        memset(b.md5, 'c', 32);
        assert_int_equal(sdb_bundle_add(f->s.db, &b, &e), 0);
        f->bundle = b.id;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        sdb_close(f->s.db);
        test_rmdir(f->dir);
        free(f);
        return 0;
}

static int create(struct fixture *f, const char *filter, int64_t *id, berr *e)
{
        json_t *spec = json_pack("{s:s, s:I, s:o, s:[i,i]}", "name", "r", "bundleId", (json_int_t)f->bundle, "filter",
                                 json_loads(filter, 0, NULL), "groups", 50, 100);
        int r = rollout_create(&f->s, spec, id, e);
        json_decref(spec);
        return r;
}

static void test_no_target_refused(void **state)
{
        struct fixture *f = *state;
        int64_t id = 0;
        berr e = {0};
        /* No target at all, then targets that the filter does not match. */
        int r = create(f, "{}", &id, &e);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(berr_msg(&e, r), "matches no registered target"));
        assert_int_equal(sdb_target_add(f->s.db, "gw-1", "", "{\"site\":\"a\"}", NULL), 0);
        e = (berr){0};
        r = create(f, "{\"site\":\"b*\"}", &id, &e);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(berr_msg(&e, r), "{\"site\":\"b*\"}"));
        int64_t *ids = NULL;
        size_t n = 0;
        assert_int_equal(sdb_rollouts_ids(f->s.db, NULL, &ids, &n), 0);
        assert_int_equal(n, 0); /* nothing stored */
        free(ids);
}

static void test_groups_cut(void **state)
{
        struct fixture *f = *state;
        char cid[16];
        for (int i = 0; i < 4; i++) {
                snprintf(cid, sizeof cid, "gw-%d", i);
                assert_int_equal(sdb_target_add(f->s.db, cid, "", "{\"site\":\"a\"}", NULL), 0);
        }
        assert_int_equal(sdb_target_add(f->s.db, "other", "", "{\"site\":\"b\"}", NULL), 0);
        int64_t id = 0;
        berr e = {0};
        int r = create(f, "{\"site\":\"a\"}", &id, &e);
        if (r < 0)
                fail_msg("rollout_create: %s", berr_msg(&e, r));
        struct sdb_group_counts c;
        assert_int_equal(sdb_rollout_group_counts(f->s.db, id, 0, &c), 0);
        assert_int_equal(c.total, 2);
        assert_int_equal(sdb_rollout_group_counts(f->s.db, id, 1, &c), 0);
        assert_int_equal(c.total, 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_no_target_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_groups_cut, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
