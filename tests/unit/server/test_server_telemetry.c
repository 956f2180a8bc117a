/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_telemetry.c — the configData telemetry parser (server-stub/ddi/telemetry.c):
 * valid batches come out whole and leave no tm.* key behind; every rejection class of the
 * wire format is refused with a sentence naming the key; configData without tm.* keys
 * is untouched. */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>

#include "server-stub/ddi/body.h"
#include "server-stub/ddi/telemetry.h"

/* A valid batch of records first … last (queue 0123456789abcdef) plus {"site": "a"}. */
static json_t *batch(long long first, long long last)
{
        json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "site", "a", "tm.v", "1", "tm.queue",
                              "0123456789abcdef", "tm.dropped", "3", "tm.pending", "7", "tm.first", "", "tm.last", "");
        char v[64], k[32];
        snprintf(v, sizeof v, "%lld", first);
        json_object_set_new(d, "tm.first", json_string(v));
        snprintf(v, sizeof v, "%lld", last);
        json_object_set_new(d, "tm.last", json_string(v));
        for (long long s = first; s <= last; s++) {
                snprintf(k, sizeof k, "tm.r%02lld", s - first);
                snprintf(v, sizeof v, "%lld 1700000000 event agent text %lld", s, s);
                json_object_set_new(d, k, json_string(v));
        }
        return d;
}

static void set(json_t *d, const char *k, const char *v)
{
        json_object_set_new(d, k, json_string(v));
}

/* Asserts that tm_take refuses d with a message that names key; frees d. */
static void reject(json_t *d, const char *key)
{
        struct tm_batch b;
        berr e = {0};
        int r = tm_take(d, &b, &e);
        if (r != -EINVAL || !strstr(e.msg, key))
                fail_msg("expected -EINVAL naming '%s', got %d: %s", key, r, e.msg);
        json_decref(d);
}

/* batch(first, last) with key set to value (stolen; NULL: key deleted) must be refused
 * naming named. */
static void reject_value(long long first, long long last, const char *key, json_t *value, const char *named)
{
        json_t *d = batch(first, last);
        if (value)
                json_object_set_new(d, key, value);
        else
                json_object_del(d, key);
        reject(d, named);
}

static void reject_with(const char *key, const char *value, const char *named)
{
        reject_value(1, 1, key, json_string(value), named);
}

static void test_valid(void **state)
{
        struct tm_batch b;
        berr e = {0};
        json_t *d = batch(5, 7);
        assert_int_equal(tm_take(d, &b, &e), 1);
        assert_string_equal(b.queue, "0123456789abcdef");
        assert_int_equal(b.first, 5);
        assert_int_equal(b.last, 7);
        assert_int_equal(b.dropped, 3);
        assert_int_equal(b.pending, 7);
        assert_int_equal(b.n, 3);
        for (size_t i = 0; i < 3; i++) {
                char t[32];
                snprintf(t, sizeof t, "text %zu", i + 5);
                assert_int_equal(b.rec[i].seq, 5 + (int64_t)i);
                assert_int_equal(b.rec[i].ts, 1700000000);
                assert_string_equal(b.rec[i].kind, "event");
                assert_string_equal(b.rec[i].source, "agent");
                assert_string_equal(b.rec[i].text, t);
        }
        /* Only the normal attribute is left. */
        assert_int_equal(json_object_size(d), 1);
        assert_string_equal(json_string_value(json_object_get(d, "site")), "a");
        json_decref(d);

        /* 32 records, the largest seq, samples, empty texts (with and without the space),
         * text with spaces and UTF-8, a 32-char source. */
        long long top = INT64_C(1) << 53;
        d = batch(top - 31, top);
        set(d, "tm.r00", "9007199254740961 0 sample broker.v2_x-1 ");
        set(d, "tm.r01", "9007199254740962 5 event agent");
        set(d, "tm.r02", "9007199254740963 5 sample abcdefghijklmnopqrstuvwxyz012345 up=1  rss_kb=2 ✓ Grüße");
        assert_int_equal(tm_take(d, &b, &e), 1);
        assert_int_equal(b.n, 32);
        assert_int_equal(b.rec[31].seq, top);
        assert_string_equal(b.rec[0].kind, "sample");
        assert_string_equal(b.rec[0].source, "broker.v2_x-1");
        assert_string_equal(b.rec[0].text, "");
        assert_string_equal(b.rec[1].text, "");
        assert_string_equal(b.rec[2].source, "abcdefghijklmnopqrstuvwxyz012345");
        assert_string_equal(b.rec[2].text, "up=1  rss_kb=2 ✓ Grüße");
        assert_int_equal(json_object_size(d), 1);
        json_decref(d);

        /* A 100-byte text in a 128-byte record is the limit. */
        d = batch(1, 1);
        char v[160];
        snprintf(v, sizeof v, "1 1700000000 event agent %0100d", 0);
        assert_int_equal(strlen(v), 125);
        set(d, "tm.r00", v);
        assert_int_equal(tm_take(d, &b, &e), 1);
        assert_int_equal(strlen(b.rec[0].text), 100);
        json_decref(d);

        /* No tm.* key: 0, data untouched. */
        d = json_pack("{s:s, s:s}", "tmx", "1", "t.v", "2");
        assert_int_equal(tm_take(d, &b, &e), 0);
        assert_int_equal(json_object_size(d), 2);
        json_decref(d);
}

static void test_reject_headers(void **state)
{
        json_t *d = batch(1, 2);
        json_object_del(d, "tm.v");
        reject(d, "needs tm.v");
        d = json_pack("{s:s}", "tm.r00", "1 1 event agent x");
        reject(d, "tm.r00");
        reject_with("tm.v", "2", "tm.v");
        reject_with("tm.v", "01", "tm.v");
        reject_value(1, 1, "tm.v", json_integer(1), "tm.v");

        const char *queues[] = {"0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg", "", NULL};
        for (int i = 0; queues[i]; i++)
                reject_with("tm.queue", queues[i], "tm.queue");
        reject_value(1, 1, "tm.queue", NULL, "tm.queue");

        const char *bad_nums[] = {"", "-1", "+1", "01", "1.0", " 1", "1 ", "0x1", "9007199254740993", "99999999999999999999",
                                  NULL};
        const char *num_keys[] = {"tm.first", "tm.last", "tm.dropped", "tm.pending", NULL};
        for (int k = 0; num_keys[k]; k++) {
                for (int i = 0; bad_nums[i]; i++)
                        reject_with(num_keys[k], bad_nums[i], num_keys[k]);
                reject_value(1, 1, num_keys[k], NULL, num_keys[k]);
                reject_value(1, 1, num_keys[k], json_integer(1), num_keys[k]);
        }
        reject_with("tm.first", "0", "tm.first");
        reject_with("tm.last", "0", "tm.last");
        /* tm.last before tm.first, and a batch of 33. */
        reject_value(5, 5, "tm.last", json_string("4"), "tm.last");
        json_t *d33 = batch(1, 33);     /* 33 records */
        reject(d33, "tm.last");
}

static void test_reject_keys(void **state)
{
        json_t *d = batch(1, 3);
        json_object_del(d, "tm.r01");
        reject(d, "tm.r01");
        reject_value(1, 2, "tm.r02", json_string("3 1 event agent x"), "tm.r02");
        reject_value(1, 2, "tm.r31", json_string("32 1 event agent x"), "tm.r31");
        const char *unknown[] = {"tm.foo", "tm.r5", "tm.r000", "tm.r-1", "tm.", "tm.V", "tm.r0a", NULL};
        for (int i = 0; unknown[i]; i++)
                reject_with(unknown[i], "1", unknown[i]);
        /* Telemetry only in merge mode (through the configData parser). */
        const char *body = "{\"mode\":\"replace\",\"data\":{\"tm.v\":\"1\",\"tm.queue\":\"0123456789abcdef\","
                           "\"tm.first\":\"1\",\"tm.last\":\"1\",\"tm.dropped\":\"0\",\"tm.pending\":\"0\","
                           "\"tm.r00\":\"1 1 event agent x\"}}";
        char *out = NULL;
        struct tm_batch b;
        berr e = {0};
        assert_int_equal(ddi_apply_config_data(body, strlen(body), "{}", &out, &b, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "tm.v"));
        assert_null(out);
}

static void test_reject_records(void **state)
{
        struct {
                const char *value;
                const char *key;
        } bad[] = {
                {"2 1700000000 event agent x", "tm.r00"},       /* seq is not tm.first + 0 */
                {"01 1700000000 event agent x", "tm.r00"},
                {"1", "tm.r00"},
                {"", "tm.r00"},
                {" 1 1700000000 event agent x", "tm.r00"},
                {"1 x event agent x", "tm.r00"},
                {"1 -5 event agent x", "tm.r00"},
                {"1 1700000000", "tm.r00"},
                {"1 1700000000 metric agent x", "tm.r00"},
                {"1 1700000000 Event agent x", "tm.r00"},
                {"1 1700000000 event", "tm.r00"},
                {"1 1700000000 event  x", "tm.r00"},            /* empty source */
                {"1 1700000000 event a/b x", "tm.r00"},
                {"1 1700000000 event abcdefghijklmnopqrstuvwxyz0123456 x", "tm.r00"}, /* 33 chars */
                {"1 1700000000 event agent line\nbreak", "tm.r00"},
                {"1 1700000000 event agent tab\there", "tm.r00"},
                {"1 1700000000 event agent del\x7f", "tm.r00"},
                {"1 1700000000 event agent c1\xc2\x85", "tm.r00"},
                {NULL, NULL},
        };
        for (int i = 0; bad[i].value; i++) {
                json_t *d = batch(1, 1);
                set(d, "tm.r00", bad[i].value);
                assert_non_null(json_object_get(d, "tm.r00"));
                reject(d, bad[i].key);
        }
        /* A NUL inside the string, a number instead of a string. */
        json_t *d = batch(1, 1);
        json_object_set_new(d, "tm.r00", json_stringn("1 1 event agent a\0b", 19));
        reject(d, "tm.r00");
        reject_value(1, 1, "tm.r00", json_integer(1), "tm.r00");
        /* Text over 100 bytes; record over 128 bytes. */
        char v[200];
        snprintf(v, sizeof v, "1 1 event agent %0101d", 0);
        reject_with("tm.r00", v, "tm.r00");
        snprintf(v, sizeof v, "1 1700000000 event abcdefghijklmnopqrstuvwxyz012345 %096d", 0);
        assert_true(strlen(v) > 128);
        reject_with("tm.r00", v, "tm.r00");
        /* The error in the second record is reported for that record. */
        reject_value(4, 5, "tm.r01", json_string("6 1 event agent x"), "tm.r01");
}

/* Through the configData parser: the batch comes out, the attributes never hold tm.*,
 * and a request with nothing but telemetry says so (2). */
static void test_config_data(void **state)
{
        struct tm_batch b;
        berr e = {0};
        char *out = NULL;
        json_t *req = json_pack("{s:s, s:o}", "mode", "merge", "data", batch(1, 2));
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        assert_int_equal(ddi_apply_config_data(body, strlen(body), "{\"hw\":\"1\"}", &out, &b, &e), 1);
        assert_string_equal(out, "{\"hw\":\"1\",\"site\":\"a\"}");
        assert_int_equal(b.n, 2);
        free(out);
        free(body);
        json_t *d = batch(1, 1);
        json_object_del(d, "site");
        req = json_pack("{s:o}", "data", d); /* no mode: merge */
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        assert_int_equal(ddi_apply_config_data(body, strlen(body), "{\"hw\":\"1\"}", &out, &b, &e), 2);
        assert_string_equal(out, "{\"hw\":\"1\"}");
        free(out);
        free(body);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_reject_headers),
                cmocka_unit_test(test_reject_keys),
                cmocka_unit_test(test_reject_records),
                cmocka_unit_test(test_config_data),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
