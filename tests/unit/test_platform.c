/* SPDX-License-Identifier: Apache-2.0 */
/* test_platform.c — which blobs one platform needs (bundle/platform.h), against image
 * documents held in memory: the first carried manifest that matches is picked (as
 * containerd picks), a variant counts only when both sides name one, nested indexes are
 * followed, manifests the bundle does not carry are passed over, an index without the
 * platform is -ENOEXEC, plain manifests are needed whole; platform_list() and the
 * parser. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bundle/platform.h"

#define MI "application/vnd.oci.image.index.v1+json"
#define MM "application/vnd.oci.image.manifest.v1+json"
#define MC "application/vnd.oci.image.config.v1+json"
#define ML "application/vnd.oci.image.layer.v1.tar+gzip"
#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* Blobs: 0 index, 1 manifest amd64, 2 manifest arm/v7, 3 config amd, 4 layer amd,
 * 5 config arm, 6 layer arm, 7 shared base layer, 8 nested index (arm64), 9 manifest
 * arm64 (config 5, layer 6); "x/plain:1" is manifest 1 alone. */
static const char *docs[10] = {
        [0] = "{\"manifests\":["
              "{\"mediaType\":\"" MM "\",\"digest\":\"" D("f") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
              "{\"mediaType\":\"" MM "\",\"digest\":\"" D("1") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
              "{\"mediaType\":\"" MM "\",\"digest\":\"" D("2") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
              "{\"mediaType\":\"" MI "\",\"digest\":\"" D("8") "\",\"size\":1}]}",
        [1] = "{\"config\":{\"digest\":\"" D("3") "\",\"size\":1},\"layers\":[{\"digest\":\"" D("7") "\",\"size\":1},{\"digest\":\"" D("4") "\",\"size\":1}]}",
        [2] = "{\"config\":{\"digest\":\"" D("5") "\",\"size\":1},\"layers\":[{\"digest\":\"" D("7") "\",\"size\":1},{\"digest\":\"" D("6") "\",\"size\":1}]}",
        [3] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}",
        [5] = "{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}",
        [8] = "{\"manifests\":[{\"mediaType\":\"" MM "\",\"digest\":\"" D("9") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
        [9] = "{\"config\":{\"digest\":\"" D("5") "\",\"size\":1},\"layers\":[{\"digest\":\"" D("6") "\",\"size\":1}]}",
};

static const char manifest_json[] =
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\",\"name\":\"t\","
        "\"version\":1,\"created\":\"2024-01-01T00:00:00Z\",\"expires\":\"2098-01-01T00:00:00Z\",\"images\":["
        "{\"ref\":\"x/multi:1\",\"mediaType\":\"" MI "\",\"digest\":\"" D("0") "\",\"size\":10}%s],\"blobs\":["
        "{\"digest\":\"" D("0") "\",\"size\":10,\"mediaType\":\"" MI "\"},"
        "{\"digest\":\"" D("1") "\",\"size\":11,\"mediaType\":\"" MM "\"},"
        "{\"digest\":\"" D("2") "\",\"size\":12,\"mediaType\":\"" MM "\"},"
        "{\"digest\":\"" D("3") "\",\"size\":13,\"mediaType\":\"" MC "\"},"
        "{\"digest\":\"" D("4") "\",\"size\":1000,\"mediaType\":\"" ML "\"},"
        "{\"digest\":\"" D("5") "\",\"size\":15,\"mediaType\":\"" MC "\"},"
        "{\"digest\":\"" D("6") "\",\"size\":3000,\"mediaType\":\"" ML "\"},"
        "{\"digest\":\"" D("7") "\",\"size\":500,\"mediaType\":\"" ML "\"},"
        "{\"digest\":\"" D("8") "\",\"size\":18,\"mediaType\":\"" MI "\"},"
        "{\"digest\":\"" D("9") "\",\"size\":19,\"mediaType\":\"" MM "\"}]}";

static int doc(void *ud, const struct bundle_blob *b, json_t **ret, berr *e)
{
        unsigned *reads = ud;
        int i = b->digest[7] - '0';
        if (i < 0 || i > 9 || !docs[i])
                return berr_set(e, -ENOENT, "no document %s", b->digest);
        (*reads)++;
        *ret = json_loads(docs[i], 0, NULL);
        return *ret ? 0 : berr_set(e, -EBADMSG, "bad test document %d", i);
}

static struct bundle_manifest *manifest(const char *extra_images)
{
        char buf[8192];
        snprintf(buf, sizeof buf, manifest_json, extra_images);
        struct bundle_manifest *m = NULL;
        berr e = {0};
        assert_int_equal(bundle_manifest_parse(buf, strlen(buf), &m, &e), 0);
        return m;
}

static void need_of(struct bundle_manifest *m, const char *platform, int expect_r, const char *expect, uint64_t bytes)
{
        struct platform p;
        berr e = {0};
        assert_int_equal(platform_parse(platform, &p, &e), 0);
        bool need[10];
        uint64_t got = 0;
        unsigned reads = 0;
        int r = platform_need(m, &p, doc, &reads, need, &got, &e);
        if (r != expect_r)
                fail_msg("%s: r = %d (%s), expected %d", platform, r, berr_msg(&e, r), expect_r);
        if (r < 0)
                return;
        char s[11] = {0};
        for (int i = 0; i < 10; i++)
                s[i] = need[i] ? '1' : '.';
        assert_string_equal(s, expect);
        assert_int_equal(got, bytes);
}

static void test_need(void **state)
{
        struct bundle_manifest *m = manifest("");
        /* amd64: the index, manifest 1 (the uncarried "f" entry is passed over), config 3,
         * base 7 and layer 4; nothing of arm. */
        need_of(m, "linux/amd64", 0, "11.11..1..", 10 + 11 + 13 + 1000 + 500);
        /* arm/v7 picks manifest 2; plain "arm" (no variant) matches it too. */
        need_of(m, "linux/arm/v7", 0, "1.1..111..", 10 + 12 + 15 + 3000 + 500);
        need_of(m, "linux/arm", 0, "1.1..111..", 10 + 12 + 15 + 3000 + 500);
        need_of(m, "linux/arm/v6", -ENOEXEC, NULL, 0);
        /* arm64 only through the nested index. */
        need_of(m, "linux/arm64", 0, "1....11.11", 10 + 15 + 3000 + 18 + 19);
        need_of(m, "linux/riscv64", -ENOEXEC, NULL, 0);
        bundle_manifest_free(m);

        /* A plain manifest is needed whole, whatever its config says. */
        m = manifest(",{\"ref\":\"x/plain:1\",\"mediaType\":\"" MM "\",\"digest\":\"" D("1") "\",\"size\":11}");
        need_of(m, "linux/arm/v7", 0, "11111111..", 10 + 11 + 12 + 13 + 1000 + 15 + 3000 + 500);
        bundle_manifest_free(m);
}

static void test_enoexec_message(void **state)
{
        struct bundle_manifest *m = manifest("");
        struct platform p;
        berr e = {0};
        bool need[10];
        uint64_t got;
        unsigned reads = 0;
        assert_int_equal(platform_parse("linux/s390x", &p, &e), 0);
        assert_int_equal(platform_need(m, &p, doc, &reads, need, &got, &e), -ENOEXEC);
        assert_string_equal(e.msg, "image x/multi:1 has no manifest for linux/s390x in this bundle");
        /* The byte count is optional. */
        berr e2 = {0};
        assert_int_equal(platform_parse("linux/amd64", &p, &e2), 0);
        assert_int_equal(platform_need(m, &p, doc, &reads, need, NULL, &e2), 0);
        assert_true(need[4] && !need[6]);
        bundle_manifest_free(m);
}

static void test_list(void **state)
{
        struct bundle_manifest *m = manifest(",{\"ref\":\"x/plain:1\",\"mediaType\":\"" MM "\",\"digest\":\"" D("1") "\",\"size\":11}");
        struct platform_bytes *pl = NULL;
        size_t n = 0;
        unsigned reads = 0;
        berr e = {0};
        assert_int_equal(platform_list(m, doc, &reads, &pl, &n, &e), 0);
        assert_int_equal(n, 3);
        char name[PLATFORM_NAME_MAX];
        assert_string_equal(platform_format(&pl[0].platform, name), "linux/amd64");
        assert_false(pl[0].incomplete);
        assert_int_equal(pl[0].n_blobs, 5);
        assert_string_equal(platform_format(&pl[1].platform, name), "linux/arm/v7");
        /* x/plain:1 is amd64: an arm/v7 gateway cannot run every image. */
        assert_true(pl[1].incomplete);
        assert_string_equal(platform_format(&pl[2].platform, name), "linux/arm64");
        assert_true(pl[2].incomplete);
        free(pl);
        bundle_manifest_free(m);
}

static void test_parse(void **state)
{
        struct platform p;
        berr e = {0};
        assert_int_equal(platform_parse("linux/arm/v7", &p, &e), 0);
        assert_string_equal(p.os, "linux");
        assert_string_equal(p.arch, "arm");
        assert_string_equal(p.variant, "v7");
        const char *bad[] = {"", "linux", "linux/", "/amd64", "linux/AMD64", "linux/arm/v7/x", "linux/a b", NULL};
        for (size_t i = 0; bad[i]; i++) {
                berr e2 = {0};
                if (platform_parse(bad[i], &p, &e2) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i]);
                assert_non_null(strstr(e2.msg, "os/architecture[/variant]"));
        }
        platform_host(&p);
        assert_string_equal(p.os, "linux");
        assert_true(p.arch[0] != 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_need),
                cmocka_unit_test(test_enoexec_message),
                cmocka_unit_test(test_list),
                cmocka_unit_test(test_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
