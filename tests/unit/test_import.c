/* SPDX-License-Identifier: Apache-2.0 */
/* test_import.c — the import pipeline: no-op, downgrade, failures change nothing,
 * backends run after the bundle is stored. */
#include "fixture.h"

#include <errno.h>

#include "import/import.h"
#include "store/db.h"

#include <sqlite3.h>

struct fake_backend {
        struct import_backend b;
        int calls;
        int fail;
};

static int fake_preload(struct import_backend *b, const struct bundle_manifest *m, struct content_store *cs, berr *e)
{
        struct fake_backend *f = (struct fake_backend *)b;
        f->calls++;
        /* Everything the backend needs is already stored when it runs. */
        for (size_t i = 0; i < m->n_blobs; i++)
                assert_true(content_has(cs, m->blobs[i].digest, m->blobs[i].size));
        return f->fail ? berr_set(e, -ECONNREFUSED, "backend down") : 0;
}

static char *snapshot(const char *state)
{
        /* Store listing + every DB row: a change anywhere changes the string. */
        struct berth_db *db;
        berr e = {0};
        assert_int_equal(db_open(state, &db, &e), 0);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        sqlite3_stmt *st;
        sqlite3_prepare_v2((sqlite3 *)db_handle(db),
                           "SELECT name, version, manifest_digest FROM bundles ORDER BY id", -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW)
                fprintf(f, "%s %lld %s\n", sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                        sqlite3_column_text(st, 2));
        sqlite3_finalize(st);
        db_close(db);
        char *cmd;
        assert_true(asprintf(&cmd, "cd '%s/store' && find . -type f | sort && sha256sum blobs/sha256/* 2>/dev/null",
                             state) > 0);
        FILE *p = popen(cmd, "r");
        char line[512];
        while (p && fgets(line, sizeof line, p))
                fputs(line, f);
        pclose(p);
        free(cmd);
        fclose(f);
        return out;
}

static void test_import_lifecycle(void **state)
{
        struct fixture f;
        fx_init(&f, 3, 5000);
        char *st = path_join(f.dir, "state");
        struct fake_backend fb = {.b = {.name = "fake", .preload = fake_preload}};
        struct import_backend *bs[] = {&fb.b};
        struct import_opts o = {.state_dir = st, .trust_dir = f.trust, .source = "test", .backends = bs, .n_backends = 1};
        char *v2 = fx_default_bundle(&f, "v2.berth", 2);
        struct import_result res;
        berr e = {0};
        assert_int_equal(berth_import_file(&o, v2, &res, &e), 0);
        assert_false(res.already_installed);
        assert_int_equal(res.blobs_stored, 3);
        assert_int_equal(fb.calls, 1);
        char *before = snapshot(st);

        /* Same bundle again: no-op for the store, backends run again (idempotent). */
        assert_int_equal(berth_import_file(&o, v2, &res, &e), 0);
        assert_true(res.already_installed);
        assert_int_equal(fb.calls, 2);
        /* A damaged copy of the installed bundle is reported as damaged, not as installed. */
        uint8_t *raw;
        size_t rawlen;
        assert_int_equal(read_file_bounded(v2, 1 << 20, (char **)&raw, &rawlen), 0);
        raw[rawlen - 1500] ^= 0x40;
        char *dmg = path_join(f.dir, "damaged.berth");
        assert_int_equal(write_file_atomic(dmg, raw, rawlen, 0644), 0);
        berr ed = {0};
        assert_int_equal(berth_import_file(&o, dmg, &res, &ed), -EBADMSG);
        assert_int_equal(fb.calls, 2);
        free(raw);
        free(dmg);

        /* Downgrade refused, nothing changed. */
        char *v1 = fx_default_bundle(&f, "v1.berth", 1);
        berr e2 = {0};
        assert_int_equal(berth_import_file(&o, v1, &res, &e2), -ESTALE);
        assert_non_null(strstr(e2.msg, "older than the installed version 2"));
        /* Same version, different content refused. */
        char *m = fx_manifest(&f, "app", 2, 4102444800, "{\"note\":\"different\"}");
        const struct berth_key *k[] = {&f.k1};
        char *v2b = fx_bundle(&f, "v2b.berth", m, k, 1);
        berr e3 = {0};
        assert_int_equal(berth_import_file(&o, v2b, &res, &e3), -ESTALE);
        assert_non_null(strstr(e3.msg, "different content"));
        char *after = snapshot(st);
        assert_string_equal(before, after);

        /* v3 shares every blob: all verified, none written again. */
        char *v3 = fx_default_bundle(&f, "v3.berth", 3);
        assert_int_equal(berth_import_file(&o, v3, &res, &e), 0);
        assert_int_equal(res.blobs_stored, 0);
        assert_int_equal(res.blobs_present, 3);

        /* A failing backend: the bundle stays stored and recorded; a rerun completes. */
        fb.fail = 1;
        char *v4 = fx_default_bundle(&f, "v4.berth", 4);
        berr e4 = {0};
        assert_int_equal(berth_import_file(&o, v4, &res, &e4), -ECONNREFUSED);
        assert_non_null(strstr(e4.msg, "import again"));
        fb.fail = 0;
        assert_int_equal(berth_import_file(&o, v4, &res, &e), 0);
        assert_true(res.already_installed);
        free(before);
        free(after);
        free(m);
        free(v1);
        free(v2);
        free(v2b);
        free(v3);
        free(v4);
        free(st);
        fx_done(&f);
}

static void test_corrupt_blob_changes_nothing(void **state)
{
        struct fixture f;
        fx_init(&f, 4, 3000);
        char *st = path_join(f.dir, "state");
        struct import_opts o = {.state_dir = st, .trust_dir = f.trust, .source = "test"};
        char *v1 = fx_default_bundle(&f, "v1.berth", 1);
        struct import_result res;
        berr e = {0};
        assert_int_equal(berth_import_file(&o, v1, &res, &e), 0);
        char *before = snapshot(st);
        /* v2 with new blobs, the last one corrupt: the earlier new blobs must not appear. */
        for (size_t i = 1; i < 4; i++) {
                f.blob[i][0] ^= 0xff;
                sha256_buf_str(f.blob[i], f.blob_len[i], f.digest[i]);
        }
        char *m = fx_manifest(&f, "app", 2, 4102444800, NULL);
        f.blob[3][10] ^= 0x01; /* after the digest was taken */
        const struct berth_key *k[] = {&f.k1};
        char *v2 = fx_bundle(&f, "v2.berth", m, k, 1);
        berr e2 = {0};
        assert_int_equal(berth_import_file(&o, v2, &res, &e2), -EBADMSG);
        assert_non_null(strstr(e2.msg, "corrupt"));
        char *after = snapshot(st);
        assert_string_equal(before, after);
        free(before);
        free(after);
        free(m);
        free(v1);
        free(v2);
        free(st);
        fx_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_import_lifecycle),
                                           cmocka_unit_test(test_corrupt_blob_changes_nothing)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
