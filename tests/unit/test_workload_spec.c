/* SPDX-License-Identifier: Apache-2.0 */
/* test_workload_spec.c — workload specs: defaults, every field's validation naming the
 * field, durations/sizes/CPU forms, start order and cycles, the --workloads file forms,
 * and the OCI runtime spec built from a spec and an image config.
 */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>

#include "workload/ocispec.h"
#include "workload/spec.h"

static const struct bundle_image images[] = {
        {.ref = (char *)"reg.local/gw/app:1"},
        {.ref = (char *)"reg.local/gw/db:1"},
};

static const char *base_wl = "{\"name\": \"app\", \"image\": \"reg.local/gw/app:1\","
                             " \"resources\": {\"memory\": \"64M\", \"cpu\": 0.5}}";

/* Parses {"workloads": [base with key set to value_json (NULL: removed)]}. */
static int parse_field(const char *key, const char *value_json, struct workload_set **ret, berr *e)
{
        json_t *w = json_loads(base_wl, 0, NULL);
        assert_non_null(w);
        if (value_json) {
                json_t *v = json_loads(value_json, JSON_DECODE_ANY, NULL);
                assert_non_null(v);
                json_object_set_new(w, key, v);
        } else
                json_object_del(w, key);
        json_t *root = json_pack("{s:[o]}", "workloads", w);
        struct workload_set *s = NULL;
        int r = workload_set_parse(root, images, 2, &s, e);
        json_decref(root);
        if (ret)
                *ret = s;
        else
                workload_set_free(s);
        return r;
}

static void expect_error(const char *key, const char *value_json, const char *msg)
{
        berr e = {0};
        int r = parse_field(key, value_json, NULL, &e);
        assert_int_equal(r, -EBADMSG);
        if (!strstr(e.msg, msg))
                fail_msg("expected '%s' in '%s'", msg, e.msg);
}

static void test_defaults(void **state)
{
        (void)state;
        struct workload_set *s = NULL;
        berr e = {0};
        assert_int_equal(parse_field("env", "{\"A\": \"1\"}", &s, &e), 0);
        assert_int_equal(s->n, 1);
        const struct workload_spec *w = &s->w[0];
        assert_string_equal(w->name, "app");
        assert_true(w->read_only_rootfs);
        assert_true(w->no_new_privileges);
        assert_false(w->user_set);
        assert_int_equal(w->network, WL_NET_NONE);
        assert_int_equal(w->memory_bytes, 64u << 20);
        assert_int_equal(w->cpu_millis, 500);
        assert_int_equal(w->restart, WL_RESTART_ALWAYS);
        assert_int_equal(w->stop_signal, SIGTERM);
        assert_int_equal(w->stop_grace_ms, 10000);
        assert_int_equal(w->n_cap_add, 0);
        assert_int_equal(w->probe.kind, WL_PROBE_NONE);
        assert_string_equal(w->env[0], "A=1");
        assert_int_equal(s->soak_ms, WL_DEFAULT_SOAK_MS);
        workload_set_free(s);
}

static void test_field_errors(void **state)
{
        (void)state;
        expect_error("resources", NULL, "workloads[0].resources: required");
        expect_error("resources", "{\"cpu\": 1}", "workloads[0].resources.memory: required");
        expect_error("resources", "{\"memory\": \"64M\"}", "workloads[0].resources.cpu: required");
        expect_error("resources", "{\"memory\": \"1M\", \"cpu\": 1}", "workloads[0].resources.memory: must be");
        expect_error("resources", "{\"memory\": \"64X\", \"cpu\": 1}", "workloads[0].resources.memory");
        expect_error("resources", "{\"memory\": \"64M\", \"cpu\": \"5m\"}", "workloads[0].resources.cpu");
        expect_error("name", NULL, "workloads[0].name: required");
        expect_error("name", "\"Bad_Name\"", "workloads[0].name: must be");
        expect_error("image", "\"other:1\"", "workloads[0].image: 'other:1' is not one of the bundle's images");
        expect_error("user", "\"root\"", "workloads[0].user");
        expect_error("network", "\"bridge\"", "workloads[0].network");
        expect_error("readOnlyRootfs", "\"yes\"", "workloads[0].readOnlyRootfs");
        expect_error("readonlyRootfs", "true", "workloads[0].readonlyRootfs: unknown field");
        expect_error("tmpfs", "[{\"path\": \"tmp\"}]", "workloads[0].tmpfs[0].path");
        expect_error("tmpfs", "[{\"path\": \"/a/../b\"}]", "workloads[0].tmpfs[0].path");
        expect_error("volumes", "[{\"path\": \"/data\"}]", "workloads[0].volumes[0].name: required");
        expect_error("volumes", "[{\"name\": \"d\", \"path\": \"/a\"}, {\"name\": \"d\", \"path\": \"/b\"}]",
                     "workloads[0].volumes[1].name: volume 'd' is listed twice");
        expect_error("binds", "[{\"path\": \"/x\"}]", "workloads[0].binds[0].source: required");
        expect_error("binds", "[{\"source\": \"/x\", \"path\": \"/x\", \"readOnly\": 0}]",
                     "workloads[0].binds[0].readOnly: must be true or false");
        expect_error("devices", "[{\"path\": \"/etc/passwd\"}]", "workloads[0].devices[0].path: must be under /dev/");
        expect_error("devices", "[{\"path\": \"/dev/ttyS0\", \"permissions\": \"rx\"}]",
                     "workloads[0].devices[0].permissions");
        expect_error("capabilities", "{\"add\": [\"CAP_FLY\"]}", "workloads[0].capabilities.add[0]: unknown capability");
        expect_error("capabilities", "{\"drop\": []}", "workloads[0].capabilities.drop: unknown field");
        expect_error("restart", "{\"policy\": \"sometimes\"}", "workloads[0].restart.policy");
        expect_error("restart", "{\"backoff\": \"10s\", \"maxBackoff\": \"1s\"}", "workloads[0].restart.maxBackoff");
        expect_error("stop", "{\"signal\": \"SIGFOO\"}", "workloads[0].stop.signal");
        expect_error("stop", "{\"grace\": \"ten\"}", "workloads[0].stop.grace");
        expect_error("probe", "{}", "workloads[0].probe: must have exactly one");
        expect_error("probe", "{\"http\": {\"path\": \"/\"}}", "workloads[0].probe.http.port: required");
        expect_error("probe", "{\"tcp\": {\"port\": 70000}}", "workloads[0].probe.tcp.port");
        expect_error("probe", "{\"http\": {\"port\": 80, \"status\": 999}}", "workloads[0].probe.http.status");
        expect_error("probe", "{\"exec\": {\"command\": []}}", "workloads[0].probe.exec.command");
        expect_error("probe", "{\"tcp\": {\"port\": 80}, \"period\": \"50ms\"}", "workloads[0].probe.period");
        expect_error("probe", "{\"tcp\": {\"port\": 80}, \"failureThreshold\": 0}",
                     "workloads[0].probe.failureThreshold");
        expect_error("dependsOn", "[\"ghost\"]", "workloads[0].dependsOn[0]: no workload named 'ghost'");
        expect_error("dependsOn", "[\"app\"]", "workloads[0].dependsOn[0]: a workload cannot depend on itself");
        expect_error("env", "{\"1X\": \"a\"}", "workloads[0].env.1X");
        expect_error("args", "[1]", "workloads[0].args[0]");
}

static void test_full(void **state)
{
        (void)state;
        const char *doc =
                "{\"update\": {\"soak\": \"2m\"}, \"workloads\": ["
                "{\"name\": \"db\", \"image\": \"reg.local/gw/db:1\", \"user\": \"1000:2000\","
                " \"resources\": {\"memory\": \"1Gi\", \"cpu\": \"250m\"}, \"network\": \"host\","
                " \"capabilities\": {\"add\": [\"net_bind_service\", \"CAP_NET_RAW\"]},"
                " \"tmpfs\": [{\"path\": \"/tmp\", \"size\": \"16M\"}],"
                " \"volumes\": [{\"name\": \"data\", \"path\": \"/var/lib/db\"}],"
                " \"binds\": [{\"source\": \"/etc/ssl/certs\", \"path\": \"/etc/ssl/certs\"}],"
                " \"devices\": [{\"path\": \"/dev/ttyUSB0\", \"permissions\": \"rw\"}],"
                " \"restart\": {\"policy\": \"on-failure\", \"backoff\": \"500ms\", \"maxBackoff\": \"30s\"},"
                " \"stop\": {\"signal\": \"SIGINT\", \"grace\": 5},"
                " \"probe\": {\"http\": {\"port\": 8080, \"path\": \"/healthz\", \"status\": 204},"
                "  \"initialDelay\": \"1s\", \"period\": \"2s\", \"timeout\": \"500ms\","
                "  \"failureThreshold\": 4, \"successThreshold\": 2}},"
                "{\"name\": \"app\", \"image\": \"reg.local/gw/app:1\", \"dependsOn\": [\"db\"],"
                " \"resources\": {\"memory\": 67108864, \"cpu\": 2},"
                " \"probe\": {\"exec\": {\"command\": [\"/bin/check\"]}}}]}";
        json_t *root = json_loads(doc, 0, NULL);
        struct workload_set *s = NULL;
        berr e = {0};
        assert_int_equal(workload_set_parse(root, images, 2, &s, &e), 0);
        assert_int_equal(s->soak_ms, 120000);
        const struct workload_spec *db = workload_set_find(s, "db");
        assert_non_null(db);
        assert_true(db->user_set);
        assert_int_equal(db->uid, 1000);
        assert_int_equal(db->gid, 2000);
        assert_int_equal(db->memory_bytes, 1u << 30);
        assert_int_equal(db->cpu_millis, 250);
        assert_int_equal(db->n_cap_add, 2);
        assert_string_equal(db->cap_add[0], "CAP_NET_BIND_SERVICE");
        assert_string_equal(db->cap_add[1], "CAP_NET_RAW");
        assert_int_equal(db->tmpfs[0].size, 16u << 20);
        assert_string_equal(db->devices[0].perms, "rw");
        assert_true(db->binds[0].read_only); /* binds are read-only unless written otherwise */
        assert_int_equal(db->restart, WL_RESTART_ON_FAILURE);
        assert_int_equal(db->backoff_ms, 500);
        assert_int_equal(db->stop_signal, SIGINT);
        assert_int_equal(db->stop_grace_ms, 5000);
        assert_int_equal(db->probe.kind, WL_PROBE_HTTP);
        assert_int_equal(db->probe.status, 204);
        assert_int_equal(db->probe.timeout_ms, 500);
        assert_int_equal(db->probe.failure_threshold, 4);
        assert_int_equal(db->probe.success_threshold, 2);
        assert_int_equal(workload_set_find(s, "app")->cpu_millis, 2000);
        /* Start order: the dependency (db) first. */
        assert_string_equal(s->w[s->order[0]].name, "db");
        assert_string_equal(s->w[s->order[1]].name, "app");
        workload_set_free(s);
        json_decref(root);
}

static void test_order_and_cycles(void **state)
{
        (void)state;
#define FMT "{\"workloads\": [" \
                    "{\"name\": \"c\", \"image\": \"reg.local/gw/app:1\", \"dependsOn\": [\"b\"], %s}," \
                    "{\"name\": \"b\", \"image\": \"reg.local/gw/app:1\", \"dependsOn\": [\"a\"], %s}," \
                    "{\"name\": \"a\", \"image\": \"reg.local/gw/app:1\", %s %s}]}"
        const char *res = "\"resources\": {\"memory\": \"8M\", \"cpu\": 1}";
        char buf[2048];
        snprintf(buf, sizeof buf, FMT, res, res, res, "");
        json_t *root = json_loads(buf, 0, NULL);
        assert_non_null(root);
        struct workload_set *s = NULL;
        berr e = {0};
        assert_int_equal(workload_set_parse(root, images, 2, &s, &e), 0);
        assert_string_equal(s->w[s->order[0]].name, "a");
        assert_string_equal(s->w[s->order[1]].name, "b");
        assert_string_equal(s->w[s->order[2]].name, "c");
        workload_set_free(s);
        json_decref(root);

        snprintf(buf, sizeof buf, FMT, res, res, res, ", \"dependsOn\": [\"c\"]");
        root = json_loads(buf, 0, NULL);
        s = NULL;
        assert_int_equal(workload_set_parse(root, images, 2, &s, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "dependency cycle"));
        assert_null(s);
        json_decref(root);
}

static void test_file_forms(void **state)
{
        (void)state;
        const char *refs[] = {"reg.local/gw/app:1"};
        json_t *wl = NULL, *up = NULL;
        berr e = {0};
        char doc[512];
        snprintf(doc, sizeof doc, "[%s]", base_wl);
        json_t *arr = json_loads(doc, 0, NULL);
        assert_int_equal(workload_file_check(arr, refs, 1, &wl, &up, &e), 0);
        assert_true(json_is_array(wl));
        assert_null(up);
        json_decref(wl);
        json_decref(arr);

        snprintf(doc, sizeof doc, "{\"soak\": \"45s\", \"workloads\": [%s]}", base_wl);
        json_t *obj = json_loads(doc, 0, NULL);
        assert_int_equal(workload_file_check(obj, refs, 1, &wl, &up, &e), 0);
        assert_int_equal(json_array_size(wl), 1);
        assert_string_equal(json_string_value(json_object_get(up, "soak")), "45s");
        json_decref(wl);
        json_decref(up);
        json_decref(obj);

        snprintf(doc, sizeof doc, "{\"soak\": \"forever\", \"workloads\": [%s]}", base_wl);
        obj = json_loads(doc, 0, NULL);
        assert_int_equal(workload_file_check(obj, refs, 1, &wl, &up, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "update.soak"));
        json_decref(obj);

        json_t *num = json_integer(3);
        assert_int_equal(workload_file_check(num, refs, 1, &wl, &up, &e), -EBADMSG);
        json_decref(num);
}

static void test_durations(void **state)
{
        (void)state;
        uint64_t ms;
        json_t *v;
        v = json_string("250ms");
        assert_int_equal(wl_parse_duration(v, &ms), 0);
        assert_int_equal(ms, 250);
        json_decref(v);
        v = json_string("3h");
        assert_int_equal(wl_parse_duration(v, &ms), 0);
        assert_int_equal(ms, 3 * 3600000);
        json_decref(v);
        v = json_integer(7);
        assert_int_equal(wl_parse_duration(v, &ms), 0);
        assert_int_equal(ms, 7000);
        json_decref(v);
        v = json_string("-1s");
        assert_true(wl_parse_duration(v, &ms) < 0);
        json_decref(v);
        v = json_string("1d");
        assert_true(wl_parse_duration(v, &ms) < 0);
        json_decref(v);
        v = json_string("99999999999999999999s");
        assert_true(wl_parse_duration(v, &ms) < 0);
        json_decref(v);
}

static void test_ocispec(void **state)
{
        (void)state;
        struct workload_set *s = NULL;
        berr e = {0};
        assert_int_equal(parse_field("capabilities", "{\"add\": [\"NET_BIND_SERVICE\"]}", &s, &e), 0);
        json_t *cfg = json_loads("{\"config\": {\"Entrypoint\": [\"/bin/app\"], \"Cmd\": [\"--serve\"],"
                                 " \"Env\": [\"PATH=/bin\", \"MODE=img\"], \"WorkingDir\": \"/srv\", \"User\": \"1000\"}}",
                                 0, NULL);
        struct ocispec_input in = {.w = &s->w[0], .image_config = cfg, .cgroups_path = "/ns/app-v1-app",
                                   .volume_dir = "/var/lib/berth/data/app", .hostname = "app"};
        char *out = NULL;
        assert_int_equal(ocispec_build(&in, &out, &e), 0);
        json_t *spec = json_loads(out, 0, NULL);
        assert_non_null(spec);
        json_t *p = json_object_get(spec, "process");
        assert_string_equal(json_string_value(json_array_get(json_object_get(p, "args"), 0)), "/bin/app");
        assert_string_equal(json_string_value(json_array_get(json_object_get(p, "args"), 1)), "--serve");
        assert_string_equal(json_string_value(json_object_get(p, "cwd")), "/srv");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "uid")), 1000);
        assert_true(json_is_true(json_object_get(p, "noNewPrivileges")));
        json_t *caps = json_object_get(p, "capabilities");
        assert_int_equal(json_array_size(json_object_get(caps, "bounding")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(caps, "ambient"), 0)),
                            "CAP_NET_BIND_SERVICE");
        assert_true(json_is_true(json_object_get(json_object_get(spec, "root"), "readonly")));
        json_t *lin = json_object_get(spec, "linux");
        assert_string_equal(json_string_value(json_object_get(lin, "cgroupsPath")), "/ns/app-v1-app");
        json_t *res = json_object_get(lin, "resources");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")), 64 << 20);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")), 50000);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")), 100000);
        /* network none = its own network namespace */
        bool netns = false;
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(lin, "namespaces"), i, n)
                netns |= !strcmp(json_string_value(json_object_get(n, "type")), "network");
        assert_true(netns);
        assert_true(json_array_size(json_object_get(lin, "maskedPaths")) > 5);
        json_decref(spec);
        free(out);

        /* A root image user is never the default: nobody. */
        json_object_set_new(json_object_get(cfg, "config"), "User", json_string("0"));
        uint32_t uid, gid;
        ocispec_user(&in, &uid, &gid);
        assert_int_equal(uid, WL_DEFAULT_UID);
        json_decref(cfg);
        workload_set_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),        cmocka_unit_test(test_field_errors),
                cmocka_unit_test(test_full),            cmocka_unit_test(test_order_and_cycles),
                cmocka_unit_test(test_file_forms),      cmocka_unit_test(test_durations),
                cmocka_unit_test(test_ocispec),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
