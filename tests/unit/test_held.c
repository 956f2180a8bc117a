/* SPDX-License-Identifier: Apache-2.0 */
/* test_held.c — layers held only unpacked (import/held.h): a layer counts as held when
 * every needed manifest uses it at a position whose chained key is recorded; the key
 * depends on the scope and on every layer below it; forgetting a bundle's keys makes
 * its layers missing again. Real SQLite and content store in a temp dir. */
#include "testutil.h"

#include <errno.h>

#include "base/digest.h"
#include "bundle/manifest.h"
#include "import/held.h"
#include "store/content.h"
#include "store/db.h"

#define SCOPE "containerd k8s.io overlayfs"
#define L(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

struct fx {
        char *dir;
        struct berth_db *db;
        struct content_store *cs;
        char m1[DIGEST_STR_LEN + 1], m2[DIGEST_STR_LEN + 1];
        char *m1_json, *m2_json;
        struct bundle_manifest *m;
};

static const char *const layers[] = {L("a"), L("b"), L("c")};

/* An OCI image manifest with these layers, stored; its digest in d. */
static char *store_manifest(struct fx *f, const char *const *ls, size_t n, char d[DIGEST_STR_LEN + 1])
{
        char *j = strdup("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                         "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" L("f")
                         "\",\"size\":2},\"layers\":[");
        for (size_t i = 0; i < n; i++) {
                char *k = NULL;
                assert_true(asprintf(&k, "%s%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                                     "\"digest\":\"%s\",\"size\":5}", j, i ? "," : "", ls[i]) > 0);
                free(j);
                j = k;
        }
        char *k = NULL;
        assert_true(asprintf(&k, "%s]}", j) > 0);
        free(j);
        assert_int_equal(sha256_buf_str(k, strlen(k), d), 0);
        char path[4096];
        snprintf(path, sizeof path, "%s/m.part", content_partial_dir(f->cs));
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(k, fp);
        fclose(fp);
        berr e = {0};
        assert_int_equal(content_publish_file(f->cs, d, path, &e), 0);
        return k;
}

/* A bundle with two images: m1 = a, b, c; m2 = b alone (b at another position). */
static struct fx *fx_new(void)
{
        struct fx *f = calloc(1, sizeof *f);
        berr e = {0};
        f->dir = test_tmpdir("held");
        assert_int_equal(db_open(f->dir, &f->db, &e), 0);
        assert_int_equal(content_store_open(f->dir, &f->cs, &e), 0);
        f->m1_json = store_manifest(f, layers, 3, f->m1);
        f->m2_json = store_manifest(f, layers + 1, 1, f->m2);
        char *t = NULL;
        const char *mt = "application/vnd.oci.image.manifest.v1+json", *lt = "application/vnd.oci.image.layer.v1.tar+gzip";
        assert_true(asprintf(&t,
                             "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\","
                             "\"name\":\"app\",\"version\":1,\"created\":\"2026-01-01T00:00:00Z\","
                             "\"expires\":\"2027-01-01T00:00:00Z\",\"images\":["
                             "{\"ref\":\"r/one:1\",\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
                             "{\"ref\":\"r/two:1\",\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}],\"blobs\":["
                             "{\"digest\":\"%s\",\"size\":%zu,\"mediaType\":\"%s\"},"
                             "{\"digest\":\"%s\",\"size\":%zu,\"mediaType\":\"%s\"},"
                             "{\"digest\":\"%s\",\"size\":2,\"mediaType\":\"application/vnd.oci.image.config.v1+json\"},"
                             "{\"digest\":\"%s\",\"size\":5,\"mediaType\":\"%s\"},"
                             "{\"digest\":\"%s\",\"size\":5,\"mediaType\":\"%s\"},"
                             "{\"digest\":\"%s\",\"size\":5,\"mediaType\":\"%s\"}]}",
                             mt, f->m1, strlen(f->m1_json), mt, f->m2, strlen(f->m2_json), f->m1, strlen(f->m1_json),
                             mt, f->m2, strlen(f->m2_json), mt, L("f"), layers[0], lt, layers[1], lt, layers[2],
                             lt) > 0);
        assert_int_equal(bundle_manifest_parse(t, strlen(t), &f->m, &e), 0);
        free(t);
        return f;
}

static void fx_free(struct fx *f)
{
        bundle_manifest_free(f->m);
        content_store_free(f->cs);
        db_close(f->db);
        test_rmdir(f->dir);
        free(f->m1_json);
        free(f->m2_json);
        free(f);
}

static size_t idx(const struct fx *f, const char *digest)
{
        for (size_t i = 0; i < f->m->n_blobs; i++)
                if (!strcmp(f->m->blobs[i].digest, digest))
                        return i;
        fail();
        return 0;
}

/* Records the keys of the first n layers of the chain ls under scope. */
static void record(struct fx *f, const char *scope, const char *const *ls, size_t n)
{
        char key[HELD_KEY_LEN + 1] = "";
        berr e = {0};
        for (size_t i = 0; i < n; i++) {
                held_key_next(scope, key, ls[i], key);
                assert_int_equal(strlen(key), DIGEST_STR_LEN);
                assert_int_equal(db_unpacked_add(f->db, key, 1, &e), 0);
        }
}

static void held_of(struct fx *f, const bool *need, bool *held)
{
        berr e = {0};
        assert_int_equal(import_held_layers(f->db, f->cs, SCOPE, f->m, need, held, &e), 0);
}

static void test_chain_keys(void **state)
{
        (void)state;
        char k1[HELD_KEY_LEN + 1], k2[HELD_KEY_LEN + 1], k3[HELD_KEY_LEN + 1], in_place[HELD_KEY_LEN + 1] = "";
        held_key_next(SCOPE, "", layers[0], k1);
        held_key_next(SCOPE, k1, layers[1], k2);
        /* The same layer on another parent, or in another scope, is another key. */
        held_key_next(SCOPE, "", layers[1], k3);
        assert_string_not_equal(k2, k3);
        held_key_next("containerd other overlayfs", "", layers[0], k3);
        assert_string_not_equal(k1, k3);
        /* Computed in place (prev == key), the chain is the same. */
        held_key_next(SCOPE, in_place, layers[0], in_place);
        held_key_next(SCOPE, in_place, layers[1], in_place);
        assert_string_equal(in_place, k2);
}

static void test_held_positions(void **state)
{
        (void)state;
        struct fx *f = fx_new();
        bool held[8];
        size_t a = idx(f, layers[0]), b = idx(f, layers[1]), c = idx(f, layers[2]);

        held_of(f, NULL, held);
        assert_false(held[a] || held[b] || held[c]);

        /* m1's chain a, b committed: a is held; b is not, m2 uses it at the bottom. */
        record(f, SCOPE, layers, 2);
        held_of(f, NULL, held);
        assert_true(held[a]);
        assert_false(held[b]);
        assert_false(held[c]);
        assert_false(held[idx(f, f->m1)]); /* documents are never held */

        /* Only m1 needed: b is held too. */
        bool need[8] = {0};
        need[idx(f, f->m1)] = true;
        held_of(f, need, held);
        assert_true(held[a] && held[b]);
        assert_false(held[c]);

        /* m2's chain committed as well: b held for both; another scope's keys count for nothing. */
        record(f, SCOPE, layers + 1, 1);
        held_of(f, NULL, held);
        assert_true(held[a] && held[b]);
        berr e = {0};
        assert_int_equal(import_held_layers(f->db, f->cs, "containerd other overlayfs", f->m, NULL, held, &e), 0);
        assert_false(held[a] || held[b] || held[c]);

        /* containerd lost them: forgetting the bundle's keys makes every layer missing. */
        assert_int_equal(import_held_forget(f->db, f->cs, SCOPE, f->m, &e), 0);
        held_of(f, NULL, held);
        assert_false(held[a] || held[b] || held[c]);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chain_keys),
                cmocka_unit_test(test_held_positions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
