/* SPDX-License-Identifier: Apache-2.0 */
/* test_fetch.c — head length from tar headers, missing-blob range planning, HTTP
 * Content-Range parsing and size settings. */
#include "testutil.h"

#include <errno.h>

#include "bundle/format.h"
#include "daemon/settings.h"
#include "fetch/plan.h"
#include "net/http.h"

static void tar_header(uint8_t *h, const char *name, uint64_t size)
{
        memset(h, 0, 512);
        snprintf((char *)h, 100, "%s", name);
        snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
}

static void test_head_need(void **state)
{
        uint8_t buf[8192] = {0};
        uint64_t need;
        assert_int_equal(fetch_head_need(buf, 100, &need), 1);
        assert_int_equal(need, 512);
        tar_header(buf, "manifest.json", 1500);
        /* manifest header only: we need up to the signatures header */
        assert_int_equal(fetch_head_need(buf, 512, &need), 1);
        assert_int_equal(need, 512 + 1536 + 512);
        tar_header(buf + 512 + 1536, "signatures.json", 200);
        assert_int_equal(fetch_head_need(buf, 4096, &need), 0);
        assert_int_equal(need, 512 + 1536 + 512 + 512);
        /* The header after the signatures decides whether roots.json belongs to the head. */
        uint64_t third = 512 + 1536 + 512 + 512;
        assert_int_equal(fetch_head_need(buf, third, &need), 1);
        assert_int_equal(need, third + 512);
        tar_header(buf + third, "roots.json", 1000);
        assert_int_equal(fetch_head_need(buf, third + 512, &need), 0);
        assert_int_equal(need, third + 512 + 1024);
        tar_header(buf + third, "roots.json", 0);
        assert_int_equal(fetch_head_need(buf, third + 512, &need), -EBADMSG);
        tar_header(buf + third, "roots.json", BUNDLE_MAX_ROOTS_SIZE + 1ULL);
        assert_int_equal(fetch_head_need(buf, third + 512, &need), -EBADMSG);
        tar_header(buf + third, "blobs/sha256/aa", 10);
        assert_int_equal(fetch_head_need(buf, third + 512, &need), 0);
        assert_int_equal(need, third);
        memset(buf + third, 0, 512);

        /* wrong names, sizes over the limits, non-octal sizes */
        tar_header(buf, "blobs/sha256/aa", 10);
        assert_int_equal(fetch_head_need(buf, 4096, &need), -EBADMSG);
        tar_header(buf, "manifest.json", BUNDLE_MAX_MANIFEST_SIZE + 1ULL);
        assert_int_equal(fetch_head_need(buf, 4096, &need), -EBADMSG);
        tar_header(buf, "manifest.json", 10);
        memcpy(buf + 124, "9999", 4);
        assert_int_equal(fetch_head_need(buf, 4096, &need), -EBADMSG);
        tar_header(buf, "manifest.json", 10);
        tar_header(buf + 1024, "signatures.json", BUNDLE_MAX_SIGNATURES_SIZE + 1ULL);
        assert_int_equal(fetch_head_need(buf, 4096, &need), -EBADMSG);
        tar_header(buf + 1024, "signatures.jsonx", 10);
        assert_int_equal(fetch_head_need(buf, 4096, &need), -EBADMSG);
}

static bool have_even(void *ud, const struct bundle_blob *b)
{
        (void)ud;
        return (b->size % 2) == 0;
}

static void test_plan(void **state)
{
        struct bundle_blob blobs[4] = {0};
        uint64_t sizes[4] = {100, 2000, 301, 7};
        for (int i = 0; i < 4; i++)
                blobs[i].size = sizes[i];
        struct bundle_manifest m = {.blobs = blobs, .n_blobs = 4};
        bundle_manifest_layout(&m, bundle_head_size(1500, 200, 0));
        /* layout: first blob header right after the head */
        assert_int_equal(blobs[0].header_offset, 512 + 1536 + 512 + 512);
        assert_int_equal(blobs[0].data_offset, blobs[0].header_offset + 512);
        assert_int_equal(blobs[1].header_offset, blobs[0].data_offset + 512);

        struct fetch_range *r = NULL;
        size_t n = 0;
        uint64_t bytes = 0;
        assert_int_equal(fetch_plan(&m, have_even, NULL, &r, &n, &bytes), 0);
        assert_int_equal(n, 2); /* the odd-sized ones are missing */
        assert_int_equal(r[0].blob, 2);
        assert_int_equal(r[0].offset, blobs[2].data_offset);
        assert_int_equal(r[0].length, 301);
        assert_int_equal(r[1].blob, 3);
        assert_int_equal(bytes, 308);
        free(r);

        assert_int_equal(fetch_plan(&m, NULL, NULL, &r, &n, &bytes), 0);
        assert_int_equal(n, 4);
        assert_int_equal(bytes, 2408);
        free(r);
}

static bool have_all(void *ud, const struct bundle_blob *b)
{
        return true;
}

static void test_plan_nothing(void **state)
{
        struct bundle_blob blobs[1] = {{.size = 5}};
        struct bundle_manifest m = {.blobs = blobs, .n_blobs = 1};
        struct fetch_range *r = (void *)1;
        size_t n = 9;
        uint64_t bytes = 9;
        assert_int_equal(fetch_plan(&m, have_all, NULL, &r, &n, &bytes), 0);
        assert_null(r);
        assert_int_equal(n, 0);
        assert_int_equal(bytes, 0);
}

static void test_content_range(void **state)
{
        uint64_t a, b, n;
        assert_int_equal(http_parse_content_range("bytes 0-99/1000", &a, &b, &n), 0);
        assert_int_equal(a, 0);
        assert_int_equal(b, 99);
        assert_int_equal(n, 1000);
        assert_int_equal(http_parse_content_range(" bytes 5-5/*\r\n", &a, &b, &n), 0);
        assert_int_equal(n, UINT64_MAX);
        assert_int_equal(http_parse_content_range("bytes 9-5/100", &a, &b, &n), -EBADMSG);
        assert_int_equal(http_parse_content_range("bytes 0-100/100", &a, &b, &n), -EBADMSG);
        assert_int_equal(http_parse_content_range("bytes */100", &a, &b, &n), -EBADMSG);
        assert_int_equal(http_parse_content_range("items 0-1/2", &a, &b, &n), -EBADMSG);
        assert_int_equal(http_parse_content_range("bytes -1-2/3", &a, &b, &n), -EBADMSG);
}

static void test_sizes(void **state)
{
        uint64_t v;
        assert_int_equal(parse_size("1024", &v), 0);
        assert_int_equal(v, 1024);
        assert_int_equal(parse_size("512k", &v), 0);
        assert_int_equal(v, 512 * 1024);
        assert_int_equal(parse_size("1M", &v), 0);
        assert_int_equal(v, 1048576);
        assert_int_equal(parse_size("2GiB", &v), 0);
        assert_int_equal(v, 2ULL << 30);
        assert_int_equal(parse_size("-1", &v), -EINVAL);
        assert_int_equal(parse_size("1T", &v), -EINVAL);
        assert_int_equal(parse_size("", &v), -EINVAL);
        assert_int_equal(parse_size("99999999999999999999G", &v), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_head_need),     cmocka_unit_test(test_plan), cmocka_unit_test(test_plan_nothing),
                cmocka_unit_test(test_content_range), cmocka_unit_test(test_sizes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
