/* SPDX-License-Identifier: Apache-2.0 */
/* test_telemetry.c — agent/telemetry: sanitising record text, the 128-byte record
 * value, the configData batch body (the wire contract of agent/telemetry/README.md),
 * and the Prometheus text writer. */
#include "testutil.h"

#include <jansson.h>

#include "telemetry/prom.h"
#include "telemetry/record.h"

static void test_sanitize(void **state)
{
        char b[64];
        assert_int_equal(tm_sanitize(b, 63, "  probe\tfailed:\n\nstatus 404  "), 24);
        assert_string_equal(b, "probe failed: status 404");
        tm_sanitize(b, 63, "bad \xff utf8 \xc0\xaf and \xe2\x82\xac ok");
        assert_string_equal(b, "bad ? utf8 ?? and \xe2\x82\xac ok");
        /* the cut never splits a character: "€" is 3 bytes */
        assert_int_equal(tm_sanitize(b, 5, "abc\xe2\x82\xac"), 3);
        assert_string_equal(b, "abc");
        assert_int_equal(tm_sanitize(b, 6, "abc\xe2\x82\xac"), 6);
        tm_sanitize(b, 63, "\x7f\x01");
        assert_string_equal(b, "");
        tm_sanitize(b, 63, "a\xc2\x85" "b\xc2\xa0" "c"); /* NEL is a control, NBSP is not */
        assert_string_equal(b, "a b\xc2\xa0" "c");
        char src[TM_SOURCE_MAX + 1];
        tm_source_name(src, "web server/1");
        assert_string_equal(src, "web_server_1");
        tm_source_name(src, "");
        assert_string_equal(src, "unknown");
        tm_source_name(src, "0123456789012345678901234567890123456789");
        assert_int_equal(strlen(src), TM_SOURCE_MAX);
}

static void test_record_value(void **state)
{
        struct tm_record r = {.seq = 42, .ts = 1795000000, .kind = "event", .source = "broker"};
        snprintf(r.text, sizeof r.text, "restarted (restart 3; exit 137, OOM killed)");
        char v[TM_VALUE_MAX + 1];
        tm_record_value(v, &r);
        assert_string_equal(v, "42 1795000000 event broker restarted (restart 3; exit 137, OOM killed)");
        /* the longest fields still fit 128 bytes */
        r.seq = 9007199254740992LL;
        r.ts = 99999999999LL;
        memset(r.source, 's', TM_SOURCE_MAX);
        r.source[TM_SOURCE_MAX] = 0;
        memset(r.text, 't', TM_TEXT_MAX);
        r.text[TM_TEXT_MAX] = 0;
        assert_int_equal(tm_record_value(v, &r), TM_VALUE_MAX);
        assert_int_equal(strlen(v), TM_VALUE_MAX);
        assert_int_equal(strncmp(v, "9007199254740992 99999999999 event ", 35), 0);
}

static void test_batch(void **state)
{
        struct tm_record r[3] = {
                {.seq = 7, .ts = 100, .kind = "sample", .source = "agent", .text = "up=1"},
                {.seq = 8, .ts = 101, .kind = "event", .source = "web", .text = "healthy"},
                {.seq = 9, .ts = 102, .kind = "sample", .source = "web", .text = ""},
        };
        char *s = tm_batch_json("0123456789abcdef", r, 3, 5, 12);
        assert_non_null(s);
        json_t *j = json_loads(s, 0, NULL);
        free(s);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "mode")), "merge");
        json_t *d = json_object_get(j, "data");
        assert_int_equal(json_object_size(d), 9);
        assert_string_equal(json_string_value(json_object_get(d, "tm.v")), "1");
        assert_string_equal(json_string_value(json_object_get(d, "tm.queue")), "0123456789abcdef");
        assert_string_equal(json_string_value(json_object_get(d, "tm.first")), "7");
        assert_string_equal(json_string_value(json_object_get(d, "tm.last")), "9");
        assert_string_equal(json_string_value(json_object_get(d, "tm.dropped")), "5");
        assert_string_equal(json_string_value(json_object_get(d, "tm.pending")), "12");
        assert_string_equal(json_string_value(json_object_get(d, "tm.r00")), "7 100 sample agent up=1");
        assert_string_equal(json_string_value(json_object_get(d, "tm.r01")), "8 101 event web healthy");
        assert_string_equal(json_string_value(json_object_get(d, "tm.r02")), "9 102 sample web ");
        json_decref(j);
        /* not consecutive, empty, too many: refused */
        r[2].seq = 11;
        assert_null(tm_batch_json("0123456789abcdef", r, 3, 0, 0));
        assert_null(tm_batch_json("0123456789abcdef", r, 0, 0, 0));
        assert_null(tm_batch_json("0123456789abcdef", r, TM_BATCH_MAX + 1, 0, 0));
}

static void test_prom(void **state)
{
        struct prom p = {0};
        prom_family(&p, "berth_x_total", "counter", "A help\\text\nwith a newline.");
        prom_sample(&p, "berth_x_total", (const char *[]){"workload", "we\"b\\1\n", "result", "ok", NULL}, 3);
        prom_sample(&p, "berth_x_total", NULL, 0.25);
        prom_sample(&p, "berth_x_total", NULL, 1e20);
        assert_false(p.failed);
        assert_string_equal(p.buf, "# HELP berth_x_total A help\\\\text\\nwith a newline.\n"
                                   "# TYPE berth_x_total counter\n"
                                   "berth_x_total{workload=\"we\\\"b\\\\1\\n\",result=\"ok\"} 3\n"
                                   "berth_x_total 0.25\n"
                                   "berth_x_total 1e+20\n");
        assert_int_equal(p.len, strlen(p.buf));
        prom_free(&p);
        assert_null(p.buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sanitize),
                cmocka_unit_test(test_record_value),
                cmocka_unit_test(test_batch),
                cmocka_unit_test(test_prom),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
