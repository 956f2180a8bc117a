/* SPDX-License-Identifier: Apache-2.0 */
/* test_import_remote.c — the agent's half of the import path: a head verified from
 * bytes (import_head_verify), blobs placed in the store one by one from their byte
 * ranges (content_publish_file), then berth_import_stored records the bundle. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>

#include "fixture.h"
#include "fetch/plan.h"
#include "import/import.h"
#include "store/db.h"

static uint8_t *read_all(const char *path, size_t *len)
{
        char *buf;
        assert_int_equal(read_file_bounded(path, 64 << 20, &buf, len), 0);
        return (uint8_t *)buf;
}

static void test_remote(void **state)
{
        struct fixture f;
        fx_init(&f, 3, 4000);
        char *m = fx_manifest(&f, "app", 1, 4102444800, NULL);
        const struct berth_key *k[] = {&f.k1};
        char *path = fx_bundle(&f, "v1.berth", m, k, 1);
        size_t len;
        uint8_t *file = read_all(path, &len);
        uint64_t need;
        assert_int_equal(fetch_head_need(file, 512, &need), 1);
        assert_int_equal(fetch_head_need(file, len, &need), 0);
        char *state_dir = path_join(f.dir, "state");
        struct import_opts o = {.state_dir = state_dir, .trust_dir = f.trust, .source = "ddi"};
        berr e = {0};

        /* a tampered head is refused */
        uint8_t *bad = malloc(need);
        memcpy(bad, file, need);
        bad[600] ^= 1; /* inside manifest.json */
        struct import_head *h = NULL;
        assert_true(import_head_verify(&o, bad, need, &h, &e) < 0);
        free(bad);

        berr_clear(&e);
        assert_int_equal(import_head_verify(&o, file, need, &h, &e), 0);
        const struct bundle_manifest *man = import_head_manifest(h);
        assert_string_equal(man->name, "app");
        assert_int_equal(man->n_blobs, 3);
        assert_false(import_head_installed(h));
        /* the layout names where each blob lies in the file */
        for (size_t i = 0; i < man->n_blobs; i++)
                assert_memory_equal(file + man->blobs[i].data_offset, f.blob[i], f.blob_len[i]);

        /* nothing stored yet: refused, nothing recorded */
        assert_int_equal(berth_import_stored(&o, file, need, NULL, &e), -ENOENT);
        struct content_store *cs = NULL;
        assert_int_equal(content_store_open(state_dir, &cs, &e), 0);
        for (size_t i = 0; i < man->n_blobs; i++) {
                char *p = path_join(content_partial_dir(cs), "x.part");
                assert_int_equal(write_file_atomic(p, file + man->blobs[i].data_offset, man->blobs[i].size, 0600), 0);
                assert_int_equal(content_publish_file(cs, man->blobs[i].digest, p, &e), 0);
                assert_true(content_has(cs, man->blobs[i].digest, man->blobs[i].size));
                free(p);
        }
        struct import_result res;
        berr_clear(&e);
        assert_int_equal(berth_import_stored(&o, file, need, &res, &e), 0);
        assert_false(res.already_installed);
        assert_int_equal(res.version, 1);
        /* again: already installed, and the head now says so */
        assert_int_equal(berth_import_stored(&o, file, need, &res, &e), 0);
        assert_true(res.already_installed);
        import_head_free(h);
        h = NULL;
        assert_int_equal(import_head_verify(&o, file, need, &h, &e), 0);
        assert_true(import_head_installed(h));
        import_head_free(h);

        /* an older version is refused at the head, before any download */
        char *m0 = fx_manifest(&f, "app", 0 + 1, 4102444800, "{\"note\":\"other\"}");
        char *p0 = fx_bundle(&f, "v1b.berth", m0, k, 1);
        size_t l0;
        uint8_t *f0 = read_all(p0, &l0);
        uint64_t n0;
        assert_int_equal(fetch_head_need(f0, l0, &n0), 0);
        berr_clear(&e);
        h = NULL;
        assert_int_equal(import_head_verify(&o, f0, n0, &h, &e), -ESTALE);
        free(f0);
        free(p0);
        free(m0);
        content_store_free(cs);
        free(file);
        free(path);
        free(m);
        free(state_dir);
        fx_done(&f);
}

/* A signed head whose workload specs this node cannot run is refused before any blob
 * is downloaded, exactly as a file import refuses it. */
static void test_remote_invalid_workloads(void **state)
{
        struct fixture f;
        fx_init(&f, 2, 1000);
        char *m = fx_manifest(&f, "app", 1, 4102444800, "{\"workloads\":[{\"name\":\"web\"}]}");
        const struct berth_key *k[] = {&f.k1};
        char *path = fx_bundle(&f, "bad.berth", m, k, 1);
        size_t len;
        uint8_t *file = read_all(path, &len);
        uint64_t need;
        assert_int_equal(fetch_head_need(file, len, &need), 0);
        char *state_dir = path_join(f.dir, "state");
        struct import_opts o = {.state_dir = state_dir, .trust_dir = f.trust, .source = "ddi"};
        berr e = {0};
        struct import_head *h = NULL;
        assert_true(import_head_verify(&o, file, need, &h, &e) < 0);
        assert_null(h);
        assert_non_null(strstr(e.msg, "invalid workload spec"));
        free(file);
        free(path);
        free(m);
        free(state_dir);
        fx_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_remote),
                cmocka_unit_test(test_remote_invalid_workloads),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
