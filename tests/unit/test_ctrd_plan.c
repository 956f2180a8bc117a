/* SPDX-License-Identifier: Apache-2.0 */
/* test_ctrd_plan.c — containerd/plan.c picks, in an image index, the manifest that
 * bundle/platform.h picks for the node: with arm/v6 and arm/v7 both in the store (an
 * agent fetches every image document first), an arm/v7 node unpacks the v7 manifest's
 * layers, an arm/v6 one the v6's, an arm64 one nothing. Before, plan.c matched the
 * architecture alone and took v6 on
 * a v7 node, whose layers the agent had not fetched: the preload failed, forever. Real
 * content store in a temp dir, no containerd. */
#include "testutil.h"

#include <errno.h>

#include "base/digest.h"
#include "bundle/platform.h"
#include "containerd/plan.h"
#include "store/content.h"

#define IDX_MT "application/vnd.oci.image.index.v1+json"
#define MAN_MT "application/vnd.oci.image.manifest.v1+json"
#define CFG_MT "application/vnd.oci.image.config.v1+json"
#define LAY_MT "application/vnd.oci.image.layer.v1.tar+gzip"
#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

struct doc {
        char digest[DIGEST_STR_LEN + 1];
        size_t size;
};

static void put(struct content_store *cs, const char *json, struct doc *d)
{
        d->size = strlen(json);
        assert_int_equal(sha256_buf_str(json, d->size, d->digest), 0);
        char path[4096];
        snprintf(path, sizeof path, "%s/doc.part", content_partial_dir(cs));
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(json, fp);
        fclose(fp);
        berr e = {0};
        assert_int_equal(content_publish_file(cs, d->digest, path, &e), 0);
}

/* A config and a one-layer manifest for arm/VARIANT; the manifest's doc in m. */
static void put_image(struct content_store *cs, const char *variant, const char *layer, const char *diff,
                      struct doc *m)
{
        char j[1024];
        struct doc c;
        snprintf(j, sizeof j, "{\"architecture\":\"arm\",\"variant\":\"%s\",\"os\":\"linux\",\"rootfs\":"
                 "{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", variant, diff);
        put(cs, j, &c);
        snprintf(j, sizeof j, "{\"schemaVersion\":2,\"mediaType\":\"" MAN_MT "\",\"config\":{\"mediaType\":\"" CFG_MT
                 "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"" LAY_MT "\",\"digest\":\"%s\","
                 "\"size\":5}]}", c.digest, c.size, layer);
        put(cs, j, m);
}

struct fx {
        char *dir;
        struct content_store *cs;
        struct doc v6, v7, idx;
};

static struct fx *fx_new(void)
{
        struct fx *f = calloc(1, sizeof *f);
        berr e = {0};
        f->dir = test_tmpdir("ctrdplan");
        assert_int_equal(content_store_open(f->dir, &f->cs, &e), 0);
        put_image(f->cs, "v6", D("6"), D("a"), &f->v6);
        put_image(f->cs, "v7", D("7"), D("b"), &f->v7);
        char j[1024];
        snprintf(j, sizeof j, "{\"schemaVersion\":2,\"mediaType\":\"" IDX_MT "\",\"manifests\":["
                 "{\"mediaType\":\"" MAN_MT "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":\"arm\","
                 "\"os\":\"linux\",\"variant\":\"v6\"}},"
                 "{\"mediaType\":\"" MAN_MT "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":\"arm\","
                 "\"os\":\"linux\",\"variant\":\"v7\"}}]}", f->v6.digest, f->v6.size, f->v7.digest, f->v7.size);
        put(f->cs, j, &f->idx);
        return f;
}

static void fx_free(struct fx *f)
{
        content_store_free(f->cs);
        test_rmdir(f->dir);
        free(f);
}

/* What the plan unpacks on a node of platform s: the manifest's digest, or "" for none. */
static void picked(struct fx *f, const char *s, char out[DIGEST_STR_LEN + 1])
{
        struct platform host;
        berr e = {0};
        assert_int_equal(platform_parse(s, &host, &e), 0);
        struct ctrd_plan *p = NULL;
        assert_int_equal(ctrd_plan_build_image_on(&host, f->idx.digest, IDX_MT, f->idx.size, f->cs, &p, &e), 0);
        assert_true(p->n_unpacks <= 1);
        out[0] = 0;
        if (p->n_unpacks) {
                snprintf(out, DIGEST_STR_LEN + 1, "%s", p->unpacks[0].manifest);
                assert_int_equal(p->unpacks[0].n_layers, 1);
        }
        ctrd_plan_free(p);
}

static void test_variant_picks(void **state)
{
        struct fx *f = fx_new();
        char got[DIGEST_STR_LEN + 1];
        picked(f, "linux/arm/v7", got);
        assert_string_equal(got, f->v7.digest);
        picked(f, "linux/arm/v6", got);
        assert_string_equal(got, f->v6.digest);
        picked(f, "linux/arm", got); /* no variant: the first arm one, as platform_need */
        assert_string_equal(got, f->v6.digest);
        picked(f, "linux/arm64", got);
        assert_string_equal(got, "");
        fx_free(f);
}

static void test_layers_and_chain(void **state)
{
        struct fx *f = fx_new();
        struct platform host;
        berr e = {0};
        assert_int_equal(platform_parse("linux/arm/v7", &host, &e), 0);
        struct ctrd_plan *p = NULL;
        assert_int_equal(ctrd_plan_build_image_on(&host, f->idx.digest, IDX_MT, f->idx.size, f->cs, &p, &e), 0);
        assert_int_equal(p->n_unpacks, 1);
        const struct ctrd_plan_layer *l = &p->unpacks[0].layers[0];
        assert_string_equal(l->digest, D("7"));
        assert_string_equal(l->diff_id, D("b"));
        assert_string_equal(l->chain_id, D("b")); /* a base layer's chain ID is its diff ID */
        ctrd_plan_free(p);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_variant_picks),
                cmocka_unit_test(test_layers_and_chain),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
