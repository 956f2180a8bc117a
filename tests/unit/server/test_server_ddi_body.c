/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_ddi_body.c — DDI request body parsers (server-stub/ddi/body.c): feedback,
 * configData, installedBase, confirmation feedback and activateAutoConfirm. */
#include "testutil.h"

#include <errno.h>

#include "base/cleanup.h"
#include "server-stub/ddi/body.h"

static int fb(const char *s, struct ddi_feedback *f)
{
        berr e = {0};
        int r = ddi_parse_feedback(s, strlen(s), f, &e);
        if (r < 0)
                assert_true(e.msg[0] != 0); /* every refusal says why */
        return r;
}

static void test_feedback(void **state)
{
        struct ddi_feedback f;
        assert_int_equal(fb("{\"id\":\"1\",\"time\":\"x\",\"status\":{\"execution\":\"proceeding\",\"result\":{\"finished\":"
                            "\"none\",\"progress\":{\"cnt\":2,\"of\":5}},\"details\":[\"a\",\"b\"],\"code\":7}}", &f), 0);
        assert_string_equal(f.execution, "proceeding");
        assert_string_equal(f.finished, "none");
        assert_int_equal(f.progress_cnt, 2);
        assert_int_equal(f.progress_of, 5);
        assert_int_equal(f.code, 7);
        assert_string_equal(f.details_json, "[\"a\",\"b\"]");
        ddi_feedback_done(&f);

        assert_int_equal(fb("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"success\"}}}", &f), 0);
        assert_int_equal(f.progress_cnt, -1);
        assert_int_equal(f.code, INT64_MIN);
        assert_null(f.details_json);
        ddi_feedback_done(&f);

        assert_int_equal(fb("{\"status\":", &f), -EBADMSG);
        assert_int_equal(fb("", &f), -EBADMSG);
        assert_int_equal(fb("[]", &f), -EINVAL);
        assert_int_equal(fb("{\"status\":{\"execution\":\"done\",\"result\":{\"finished\":\"success\"}}}", &f), -EINVAL);
        assert_int_equal(fb("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"maybe\"}}}", &f), -EINVAL);
        assert_int_equal(fb("{\"status\":{\"execution\":\"closed\"}}", &f), -EINVAL);
        assert_int_equal(fb("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"success\","
                            "\"progress\":{\"cnt\":-1}}}}", &f), -EINVAL);
        assert_int_equal(fb("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"success\"},\"details\":[1]}}", &f),
                         -EINVAL);
        assert_int_equal(fb("{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"success\"},\"code\":\"x\"}}", &f),
                         -EINVAL);
        assert_int_equal(fb("{\"status\":{},\"status\":{}}", &f), -EBADMSG); /* duplicate keys */
        /* Too many details. */
        char big[4096] = "{\"status\":{\"execution\":\"closed\",\"result\":{\"finished\":\"success\"},\"details\":[";
        for (int i = 0; i <= DDI_MAX_DETAILS; i++)
                strcat(big, i ? ",\"x\"" : "\"x\"");
        strcat(big, "]}}");
        assert_int_equal(fb(big, &f), -EINVAL);
}

static void test_config_data(void **state)
{
        struct tm_batch tm;
        char *out = NULL;
        berr e = {0};
        const char *m = "{\"mode\":\"merge\",\"data\":{\"b\":\"2\",\"a\":\"1\"}}";
        assert_int_equal(ddi_apply_config_data(m, strlen(m), "{\"c\":\"3\",\"a\":\"0\"}", &out, &tm, &e), 0);
        assert_string_equal(out, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}");
        free(out);
        const char *r = "{\"mode\":\"replace\",\"data\":{\"x\":\"y\"}}";
        assert_int_equal(ddi_apply_config_data(r, strlen(r), "{\"c\":\"3\"}", &out, &tm, &e), 0);
        assert_string_equal(out, "{\"x\":\"y\"}");
        free(out);
        const char *d = "{\"mode\":\"remove\",\"data\":{\"c\":\"\"}}";
        assert_int_equal(ddi_apply_config_data(d, strlen(d), "{\"c\":\"3\",\"k\":\"v\"}", &out, &tm, &e), 0);
        assert_string_equal(out, "{\"k\":\"v\"}");
        free(out);
        const char *nomode = "{\"id\":\"\",\"status\":{},\"data\":{\"hw\":\"2\"}}"; /* older suricatta shape */
        assert_int_equal(ddi_apply_config_data(nomode, strlen(nomode), "not json", &out, &tm, &e), 0);
        assert_string_equal(out, "{\"hw\":\"2\"}");
        free(out);
        const char *bad[] = {"{\"data\":{\"a\":1}}", "{\"data\":[]}", "{\"mode\":\"add\",\"data\":{}}",
                             "{\"mode\":3,\"data\":{}}", "{}", NULL};
        for (int i = 0; bad[i]; i++) {
                berr_clear(&e);
                assert_int_equal(ddi_apply_config_data(bad[i], strlen(bad[i]), "{}", &out, &tm, &e), -EINVAL);
        }
        assert_int_equal(ddi_apply_config_data("{", 1, "{}", &out, &tm, &e), -EBADMSG);
}

static void test_installed(void **state)
{
        char n[DDI_MAX_NAME + 1], v[DDI_MAX_VERSION + 1];
        berr e = {0};
        const char *ok = "{\"name\":\"gw\",\"version\":\"7\"}";
        assert_int_equal(ddi_parse_installed(ok, strlen(ok), n, v, &e), 0);
        assert_string_equal(n, "gw");
        assert_string_equal(v, "7");
        const char *bad = "{\"name\":\"gw\",\"version\":7}";
        assert_int_equal(ddi_parse_installed(bad, strlen(bad), n, v, &e), -EINVAL);
        assert_int_equal(ddi_parse_installed("x", 1, n, v, &e), -EBADMSG);
}

static void test_confirmation(void **state)
{
        struct ddi_confirmation c;
        berr e = {0};
        const char *ok = "{\"confirmation\":\"denied\",\"code\":7,\"details\":[\"busy\"]}";
        assert_int_equal(ddi_parse_confirmation(ok, strlen(ok), &c, &e), 0);
        assert_false(c.confirmed);
        assert_int_equal(c.code, 7);
        assert_string_equal(c.details_json, "[\"busy\"]");
        ddi_confirmation_done(&c);
        const char *min = "{\"confirmation\":\"confirmed\"}";
        assert_int_equal(ddi_parse_confirmation(min, strlen(min), &c, &e), 0);
        assert_true(c.confirmed);
        assert_int_equal(c.code, INT64_MIN);
        assert_null(c.details_json);
        static const char *const bad[] = {
                "{}", "{\"confirmation\":\"Confirmed\"}", "{\"confirmation\":true}", "[\"confirmed\"]",
                "{\"confirmation\":\"denied\",\"code\":\"7\"}", "{\"confirmation\":\"denied\",\"details\":[1]}",
                "{\"confirmation\":\"denied\",\"details\":\"x\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                e = (berr){0};
                assert_int_equal(ddi_parse_confirmation(bad[i], strlen(bad[i]), &c, &e), -EINVAL);
                assert_true(e.msg[0] != 0);
        }
        assert_int_equal(ddi_parse_confirmation("{", 1, &c, &e), -EBADMSG);
}

static void test_autoconfirm(void **state)
{
        char who[DDI_MAX_INITIATOR + 1], why[DDI_MAX_REMARK + 1];
        berr e = {0};
        assert_int_equal(ddi_parse_autoconfirm("", 0, who, why, &e), 0);
        assert_string_equal(who, "");
        const char *ok = "{\"initiator\":\"night shift\",\"remark\":\"line 4\"}";
        assert_int_equal(ddi_parse_autoconfirm(ok, strlen(ok), who, why, &e), 0);
        assert_string_equal(who, "night shift");
        assert_string_equal(why, "line 4");
        const char *nulls = "{\"initiator\":null}";
        assert_int_equal(ddi_parse_autoconfirm(nulls, strlen(nulls), who, why, &e), 0);
        assert_string_equal(who, "");
        char big[400];
        snprintf(big, sizeof big, "{\"initiator\":\"%0200d\"}", 0);
        assert_int_equal(ddi_parse_autoconfirm(big, strlen(big), who, why, &e), -EINVAL);
        const char *num = "{\"remark\":5}";
        assert_int_equal(ddi_parse_autoconfirm(num, strlen(num), who, why, &e), -EINVAL);
        assert_int_equal(ddi_parse_autoconfirm("x", 1, who, why, &e), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_feedback),
                cmocka_unit_test(test_config_data),
                cmocka_unit_test(test_installed),
                cmocka_unit_test(test_confirmation),
                cmocka_unit_test(test_autoconfirm),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
