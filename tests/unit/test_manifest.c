/* SPDX-License-Identifier: Apache-2.0 */
/* test_manifest.c — strict manifest parsing: every field checked, unknown ones kept. */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>

#include "bundle/manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static const char *good =
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\",\"name\":\"gw-stack\","
        "\"version\":7,\"created\":\"2026-01-01T00:00:00Z\",\"expires\":\"2027-01-01T00:00:00Z\","
        "\"images\":[{\"ref\":\"reg.local/gw/app:7\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" D1 "\",\"size\":100}],"
        "\"blobs\":[{\"digest\":\"" D1 "\",\"size\":100,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"},"
        "{\"digest\":\"" D2 "\",\"size\":1000,\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\"}],"
        "\"futureField\":{\"x\":[1,2,3]}}";

/* Parses good with one field replaced (value NULL = removed); returns the error code. */
static int parse_with(const char *key, const char *value_json, berr *e)
{
        json_t *m = json_loads(good, 0, NULL);
        assert_non_null(m);
        if (value_json)
                json_object_set_new(m, key, json_loads(value_json, JSON_DECODE_ANY, NULL));
        else
                json_object_del(m, key);
        char *s = json_dumps(m, 0);
        json_decref(m);
        struct bundle_manifest *bm = NULL;
        int r = bundle_manifest_parse(s, strlen(s), &bm, e);
        free(s);
        bundle_manifest_free(bm);
        return r;
}

static void test_good(void **state)
{
        struct bundle_manifest *m = NULL;
        berr e = {0};
        assert_int_equal(bundle_manifest_parse(good, strlen(good), &m, &e), 0);
        assert_string_equal(m->name, "gw-stack");
        assert_int_equal(m->version, 7);
        assert_int_equal(m->n_images, 1);
        assert_int_equal(m->n_blobs, 2);
        assert_int_equal(m->total_blob_size, 1100);
        assert_string_equal(m->images[0].ref, "reg.local/gw/app:7");
        /* Unknown fields are kept in the document. */
        assert_non_null(json_object_get(m->root, "futureField"));
        /* Layout: 512 + pad(mlen) + 512 + pad(slen) for the head. */
        bundle_manifest_layout(m, bundle_head_size(1000, 100, 0));
        assert_int_equal(m->blobs[0].header_offset, 512 + 1024 + 512 + 512);
        assert_int_equal(m->blobs[1].header_offset, m->blobs[0].header_offset + 512 + 512);
        assert_int_equal(m->blobs[1].data_offset, m->blobs[1].header_offset + 512);
        assert_int_equal(bundle_manifest_file_size(m, bundle_head_size(1000, 100, 0)),
                         m->blobs[1].data_offset + 1024 + 1024);
        bundle_manifest_free(m);
}

static void test_rejects(void **state)
{
        static const struct {
                const char *key, *value, *expect;
                int code;
        } cases[] = {
                {"schemaVersion", "2", "schemaVersion", -EBADMSG},
                {"mediaType", "\"application/json\"", "mediaType", -EBADMSG},
                {"name", NULL, "\"name\"", -EBADMSG},
                {"name", "\"../etc\"", "name", -EBADMSG},
                {"name", "\"\"", "name", -EBADMSG},
                {"version", "0", "version", -EBADMSG},
                {"version", "9007199254740992", "version", -EBADMSG},
                {"version", "\"7\"", "version", -EBADMSG},
                {"created", "\"yesterday\"", "created", -EBADMSG},
                {"expires", "\"2025-01-01T00:00:00Z\"", "expires must be later", -EBADMSG},
                {"images", "[]", "at least one image", -EBADMSG},
                {"images", "{}", "\"images\"", -EBADMSG},
                {"blobs", NULL, "\"blobs\"", -EBADMSG},
                {"workloads", "{}", "workloads", -EBADMSG},
                {"images", "[{\"ref\":\"a:1\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2
                           "\",\"size\":999}]", "disagrees", -EBADMSG},
                {"images", "[{\"ref\":\"a:1\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\""
                           "sha256:3333333333333333333333333333333333333333333333333333333333333333\",\"size\":1}]",
                 "not among the blobs", -EBADMSG},
                {"images", "[{\"ref\":\"a b\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
                           "\",\"size\":100}]", "ref", -EBADMSG},
                {"images", "[{\"ref\":\"a:1\",\"mediaType\":\"text/plain\",\"digest\":\"" D1 "\",\"size\":100}]",
                 "not an OCI", -EBADMSG},
                {"blobs", "[{\"digest\":\"" D1 "\",\"size\":100,\"mediaType\":\"a/b\"},{\"digest\":\"" D1
                          "\",\"size\":100,\"mediaType\":\"a/b\"}]", "listed twice", -EBADMSG},
                {"blobs", "[{\"digest\":\"sha256:XYZ\",\"size\":1,\"mediaType\":\"a/b\"}]", "digest", -EBADMSG},
                {"blobs", "[{\"digest\":\"" D1 "\",\"size\":-1,\"mediaType\":\"a/b\"}]", "non-negative", -EBADMSG},
                {"blobs", "[{\"digest\":\"" D1 "\",\"size\":8589934592,\"mediaType\":\"a/b\"}]", "limit", -EFBIG},
                {"blobs", "[{\"digest\":\"" D1 "\",\"size\":100}]", "mediaType", -EBADMSG},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                berr e = {0};
                int r = parse_with(cases[i].key, cases[i].value, &e);
                if (r != cases[i].code || !strstr(e.msg, cases[i].expect))
                        fail_msg("case %zu (%s=%s): got %d '%s', want %d containing '%s'", i, cases[i].key,
                                 cases[i].value ? cases[i].value : "(removed)", r, e.msg, cases[i].code, cases[i].expect);
        }
}

static void test_not_json(void **state)
{
        struct bundle_manifest *m = NULL;
        berr e = {0};
        assert_int_equal(bundle_manifest_parse("{\"a\":1,\"a\":2}", 13, &m, &e), -EBADMSG);
        berr e2 = {0};
        assert_int_equal(bundle_manifest_parse("[1,2]", 5, &m, &e2), -EBADMSG);
        berr e3 = {0};
        assert_int_equal(bundle_manifest_parse(good, strlen(good) - 1, &m, &e3), -EBADMSG);
        assert_null(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_good), cmocka_unit_test(test_rejects),
                                           cmocka_unit_test(test_not_json)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
