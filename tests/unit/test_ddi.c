/* SPDX-License-Identifier: Apache-2.0 */
/* test_ddi.c — hawkBit DDI message parsing and building (agent/ddi). */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>

#include "ddi/ddi.h"

#define S(x) x, strlen(x)

static void test_sleep_and_ids(void **state)
{
        int64_t s;
        assert_int_equal(ddi_parse_sleep("00:05:00", &s), 0);
        assert_int_equal(s, 300);
        assert_int_equal(ddi_parse_sleep("12:00:01", &s), 0);
        assert_int_equal(s, 43201);
        assert_int_equal(ddi_parse_sleep("48:00:00", &s), 0); /* a day or more: hours past 24 */
        assert_int_equal(s, 172800);
        assert_int_equal(ddi_parse_sleep("168:00:30", &s), 0);
        assert_int_equal(s, 604830);
        assert_int_equal(ddi_parse_sleep("00:60:00", &s), -EINVAL);
        assert_int_equal(ddi_parse_sleep("5", &s), -EINVAL);
        assert_int_equal(ddi_parse_sleep("00:00:01x", &s), -EINVAL);
        assert_true(ddi_id_valid("gw-0042"));
        assert_false(ddi_id_valid("../x"));
        assert_false(ddi_id_valid(".."));
        assert_false(ddi_id_valid(""));
        assert_false(ddi_id_valid("a b"));
        char id[DDI_MAX_ID + 1];
        assert_int_equal(ddi_link_id("https://h/t/controller/v1/gw/deploymentBase/17?c=99", id), 0);
        assert_string_equal(id, "17");
        assert_int_equal(ddi_link_id("https://h/x/cancelAction/5", id), 0);
        assert_string_equal(id, "5");
        assert_int_equal(ddi_link_id("https://h/x/", id), -EBADMSG);
}

static void test_base(void **state)
{
        struct ddi_base b;
        berr e = {0};
        const char *j = "{\"config\":{\"polling\":{\"sleep\":\"00:00:30\"}},\"_links\":{"
                        "\"deploymentBase\":{\"href\":\"https://s/default/controller/v1/gw/deploymentBase/3?c=1\"},"
                        "\"configData\":{\"href\":\"https://s/default/controller/v1/gw/configData\"}}}";
        assert_int_equal(ddi_parse_base(S(j), &b, &e), 0);
        assert_int_equal(b.sleep, 30);
        assert_non_null(b.deployment);
        assert_non_null(b.config_data);
        assert_null(b.cancel);
        ddi_base_clear(&b);

        assert_int_equal(ddi_parse_base(S("{}"), &b, &e), 0);
        assert_int_equal(b.sleep, -1);
        assert_null(b.deployment);
        ddi_base_clear(&b);

        berr_clear(&e);
        assert_int_equal(ddi_parse_base(S("<html>"), &b, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "not valid JSON"));
        berr_clear(&e);
        assert_int_equal(ddi_parse_base(S("[1]"), &b, &e), -EBADMSG);
        berr_clear(&e);
        assert_int_equal(ddi_parse_base(S("{\"_links\":{\"deploymentBase\":{\"href\":\"file:///etc/passwd\"}}}"), &b, &e),
                         -EBADMSG);
        berr_clear(&e);
        assert_int_equal(ddi_parse_base(S("{\"config\":{\"polling\":{\"sleep\":30}}}"), &b, &e), -EBADMSG);
        berr_clear(&e);
        assert_int_equal(ddi_parse_base(S("{\"a\":1,\"a\":2}"), &b, &e), -EBADMSG); /* duplicate keys */
}

static const char *DEP =
        "{\"id\":\"17\",\"deployment\":{\"download\":\"forced\",\"update\":\"attempt\",\"maintenanceWindow\":\"available\","
        "\"chunks\":[{\"part\":\"bApp\",\"name\":\"gw\",\"version\":\"7\",\"artifacts\":["
        "{\"filename\":\"readme.txt\",\"size\":3,\"_links\":{\"download\":{\"href\":\"https://s/r\"}}},"
        "{\"filename\":\"gw-7.berth\",\"size\":12345,\"hashes\":{\"sha256\":"
        "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
        "\"_links\":{\"download-http\":{\"href\":\"http://s/a\"},\"download\":{\"href\":\"https://s/a\"}}}]}]}}";

static void test_deployment(void **state)
{
        struct ddi_deployment d;
        berr e = {0};
        assert_int_equal(ddi_parse_deployment(S(DEP), &d, &e), 0);
        assert_string_equal(d.id, "17");
        assert_int_equal(d.dl, DDI_FORCED);
        assert_int_equal(d.update, DDI_ATTEMPT);
        assert_int_equal(d.maintenance, 1);
        assert_string_equal(d.filename, "gw-7.berth");
        assert_string_equal(d.download, "https://s/a"); /* https preferred */
        assert_int_equal(d.size, 12345);
        assert_string_equal(d.name, "gw");
        assert_string_equal(d.version, "7");
        assert_int_equal(strlen(d.sha256), 64);
        ddi_deployment_clear(&d);

        /* hawkBit sends numeric ids in some versions; skip/unavailable */
        const char *j2 = "{\"id\":5,\"deployment\":{\"download\":\"forced\",\"update\":\"skip\",\"maintenanceWindow\":"
                         "\"unavailable\",\"chunks\":[{\"artifacts\":[{\"filename\":\"a.berth\",\"_links\":{\"download-http\":"
                         "{\"href\":\"http://s/a\"}}}]}]}}";
        assert_int_equal(ddi_parse_deployment(S(j2), &d, &e), 0);
        assert_string_equal(d.id, "5");
        assert_int_equal(d.update, DDI_SKIP);
        assert_int_equal(d.maintenance, 0);
        assert_int_equal(d.size, 0);
        assert_string_equal(d.download, "http://s/a");
        ddi_deployment_clear(&d);

        /* no .berth artifact, bad handling, bad id, negative size */
        berr_clear(&e);
        assert_int_equal(ddi_parse_deployment(S("{\"id\":\"1\",\"deployment\":{\"chunks\":[]}}"), &d, &e), 0);
        assert_null(d.download);
        assert_non_null(strstr(d.refusal, "deployment 1 carries no .berth artifact (it has none)"));
        ddi_deployment_clear(&d);
        assert_int_equal(ddi_parse_deployment(S("{\"id\":\"2\",\"deployment\":{\"chunks\":[{\"artifacts\":["
                                                "{\"filename\":\"os.swu\"},{\"filename\":\"x.bin\"}]}]}}"),
                                              &d, &e), 0);
        assert_null(d.download);
        assert_non_null(strstr(d.refusal, "(it has: os.swu, x.bin)"));
        assert_string_equal(d.others, "os.swu, x.bin");
        ddi_deployment_clear(&d);
        berr_clear(&e);
        assert_int_equal(ddi_parse_deployment(S("{\"id\":\"1\",\"deployment\":{\"update\":\"now\",\"chunks\":[]}}"), &d, &e),
                         -EBADMSG);
        berr_clear(&e);
        assert_int_equal(ddi_parse_deployment(S("{\"id\":\"../1\",\"deployment\":{\"chunks\":[]}}"), &d, &e), -EBADMSG);
        berr_clear(&e);
        assert_int_equal(ddi_parse_deployment(S("{\"id\":\"1\",\"deployment\":{\"chunks\":[{\"artifacts\":[{\"filename\":"
                                                "\"a.berth\",\"size\":-1,\"_links\":{\"download\":{\"href\":\"https://x\"}}}]}]}}"),
                                              &d, &e),
                         -EBADMSG);
}

static void test_cancel(void **state)
{
        struct ddi_cancel c;
        berr e = {0};
        assert_int_equal(ddi_parse_cancel(S("{\"id\":\"9\",\"cancelAction\":{\"stopId\":\"8\"}}"), &c, &e), 0);
        assert_string_equal(c.id, "9");
        assert_string_equal(c.stop_id, "8");
        assert_int_equal(ddi_parse_cancel(S("{\"id\":9,\"cancelAction\":{\"stopId\":8}}"), &c, &e), 0);
        assert_string_equal(c.stop_id, "8");
        assert_int_equal(ddi_parse_cancel(S("{\"id\":\"9\"}"), &c, &e), -EBADMSG);
}

static void test_consent(void **state)
{
        (void)state;
        berr e = {0};
        struct ddi_base b;
        assert_int_equal(ddi_parse_base(S("{\"_links\":{\"confirmationBase\":{\"href\":\"https://s/c/confirmationBase/5?c=1\"}}}"),
                                         &b, &e), 0);
        assert_string_equal(b.confirmation, "https://s/c/confirmationBase/5?c=1");
        assert_null(b.deployment);
        ddi_base_clear(&b);
        struct ddi_deployment d;
        const char *j = "{\"id\":\"5\",\"confirmation\":{\"download\":\"forced\",\"update\":\"forced\",\"chunks\":[{"
                        "\"part\":\"bApp\",\"name\":\"app\",\"version\":\"3\",\"artifacts\":[{\"filename\":\"app-3.berth\","
                        "\"size\":10,\"_links\":{\"download\":{\"href\":\"https://s/a\"}}}]}]}}";
        assert_int_equal(ddi_parse_confirmation(S(j), &d, &e), 0);
        assert_string_equal(d.id, "5");
        assert_string_equal(d.name, "app");
        ddi_deployment_clear(&d);
        berr e2 = {0};
        /* A deployment document is not a confirmation. */
        assert_int_equal(ddi_parse_confirmation(S("{\"id\":\"5\",\"deployment\":{}}"), &d, &e2), -EBADMSG);
        assert_non_null(strstr(e2.msg, "confirmationBase 5 has no confirmation object"));
        bool active = false;
        assert_int_equal(ddi_parse_autoconfirm(S("{\"autoConfirm\":{\"active\":true},\"_links\":{}}"), &active, &e), 0);
        assert_true(active);
        assert_int_equal(ddi_parse_autoconfirm(S("{\"autoConfirm\":{}}"), &active, &e), -EBADMSG);
        char *s = ddi_confirmation_json(false, "denied on the gateway by uid 0 (root): busy");
        assert_string_equal(s, "{\"confirmation\":\"denied\",\"details\":[\"denied on the gateway by uid 0 (root): busy\"]}");
        free(s);
}

static void test_build(void **state)
{
        const char *details[] = {"one", "two", NULL};
        struct ddi_feedback f = {.execution = "proceeding", .finished = "none", .has_progress = true, .cnt = 5, .of = 10,
                                 .details = details};
        char *s = ddi_feedback_json(&f);
        json_t *o = json_loads(s, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "status"), "execution")), "proceeding");
        json_t *res = json_object_get(json_object_get(o, "status"), "result");
        assert_string_equal(json_string_value(json_object_get(res, "finished")), "none");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "progress"), "of")), 10);
        assert_int_equal(json_array_size(json_object_get(json_object_get(o, "status"), "details")), 2);
        json_decref(o);
        free(s);

        const char *attrs[] = {"hostname", "gw1", "arch", "x86_64", NULL};
        s = ddi_config_data_json(attrs);
        o = json_loads(s, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(o, "mode")), "replace");
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "arch")), "x86_64");
        json_decref(o);
        free(s);

        char longv[300];
        memset(longv, 'x', sizeof longv - 1);
        longv[sizeof longv - 1] = 0;
        const char *attrs2[] = {"bundles", longv, NULL};
        s = ddi_config_data_json(attrs2);
        o = json_loads(s, 0, NULL);
        assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(o, "data"), "bundles"))),
                         DDI_MAX_ATTR_VALUE);
        json_decref(o);
        free(s);

        s = ddi_installed_json("gw", 7);
        assert_string_equal(s, "{\"name\":\"gw\",\"version\":\"7\"}");
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sleep_and_ids), cmocka_unit_test(test_base), cmocka_unit_test(test_deployment),
                cmocka_unit_test(test_cancel),        cmocka_unit_test(test_build), cmocka_unit_test(test_consent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
