/* SPDX-License-Identifier: Apache-2.0 */
/* test_workload_policy.c — the node policy ([policy] in agent.conf): one case per key,
 * each with a spec the key accepts and one it refuses (with the sentence naming the
 * workload, the field and the key), under the default and under a set value; malformed
 * values and unknown keys are refused naming the key; the example gateway stack fits the
 * defaults; several violations are reported together.
 */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>

#include "workload/policy.h"

static const struct bundle_image images[] = {{.ref = (char *)"reg.local/gw/app:1"}};

/* A workload set from the fields of one workload (JSON object text without braces). */
static struct workload_set *set_of(const char *fields)
{
        char doc[4096];
        snprintf(doc, sizeof doc,
                 "{\"workloads\": [{\"name\": \"poller\", \"image\": \"reg.local/gw/app:1\","
                 " \"resources\": {\"memory\": \"16M\", \"cpu\": \"100m\"}%s%s}]}",
                 fields[0] ? ", " : "", fields);
        json_t *root = json_loads(doc, 0, NULL);
        assert_non_null(root);
        struct workload_set *s = NULL;
        berr e = {0};
        if (workload_set_parse(root, images, 1, &s, &e) < 0)
                fail_msg("spec does not parse: %s (%s)", e.msg, doc);
        json_decref(root);
        return s;
}

/* The policy from "key=value" pairs (NULL-terminated), under [policy]. */
static struct wl_policy *policy_of(const char *const *kv)
{
        struct berth_config *c = config_new_empty();
        assert_non_null(c);
        for (size_t i = 0; kv && kv[i]; i += 2) {
                char key[128];
                snprintf(key, sizeof key, "policy.%s", kv[i]);
                assert_int_equal(config_set(c, key, kv[i + 1]), 0);
        }
        struct wl_policy *p = NULL;
        berr e = {0};
        if (wl_policy_from_config(c, &p, &e) < 0)
                fail_msg("policy does not parse: %s", e.msg);
        config_free(c);
        return p;
}

static void accepts(const struct wl_policy *p, const char *fields)
{
        struct workload_set *s = set_of(fields);
        berr e = {0};
        int r = wl_policy_check(p, s, &e);
        if (r != 0)
                fail_msg("refused %s: %s", fields, e.msg);
        workload_set_free(s);
}

static void refuses(const struct wl_policy *p, const char *fields, const char *msg)
{
        struct workload_set *s = set_of(fields);
        berr e = {0};
        assert_int_equal(wl_policy_check(p, s, &e), -EPERM);
        if (!strstr(e.msg, msg))
                fail_msg("expected '%s' in '%s'", msg, e.msg);
        workload_set_free(s);
}

/* A bad value for key is refused when the policy is parsed, naming the key. */
static void bad_value(const char *key, const char *value)
{
        struct berth_config *c = config_new_empty();
        char full[128];
        snprintf(full, sizeof full, "policy.%s", key);
        assert_int_equal(config_set(c, full, value), 0);
        struct wl_policy *p = NULL;
        berr e = {0};
        assert_int_equal(wl_policy_from_config(c, &p, &e), -EINVAL);
        assert_null(p);
        if (!strstr(e.msg, full))
                fail_msg("expected '%s' in '%s'", full, e.msg);
        config_free(c);
}

static void test_users(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"user\": \"1000:1000\"");
        accepts(d, "\"user\": \"65534\"");
        accepts(d, ""); /* no user: the image's non-root user or nobody */
        refuses(d, "\"user\": \"0\"", "workload poller: user 0 is not allowed by [policy] users = 1000-65534");
        refuses(d, "\"user\": \"999:1000\"", "user 999 is not allowed");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"users", "0, 2000-2001", "groups", "0-65534", NULL});
        accepts(p, "\"user\": \"0\"");
        accepts(p, "\"user\": \"2001:0\"");
        refuses(p, "\"user\": \"1000\"", "user 1000 is not allowed by [policy] users = 0, 2000-2001");
        wl_policy_free(p);
        p = policy_of((const char *const[]){"users", "", NULL});
        refuses(p, "\"user\": \"1000\"", "[policy] users = (none)");
        wl_policy_free(p);
        bad_value("users", "root");
        bad_value("users", "10-5");
        bad_value("users", "1000-");
}

static void test_groups(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"user\": \"1000:2000\"");
        refuses(d, "\"user\": \"1000:0\"",
                "workload poller: group 0 (user \"1000:0\") is not allowed by [policy] groups = 1000-65534");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"groups", "20", NULL});
        accepts(p, "\"user\": \"1000:20\"");
        refuses(p, "\"user\": \"1000:1000\"", "group 1000 (user \"1000:1000\") is not allowed by [policy] groups = 20");
        wl_policy_free(p);
        bad_value("groups", "-1");
}

static void test_capabilities(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"capabilities\": {\"add\": []}");
        refuses(d, "\"capabilities\": {\"add\": [\"SYS_ADMIN\"]}",
                "workload poller: capabilities.add CAP_SYS_ADMIN is not allowed by [policy] capabilities = (none)");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"capabilities", "net_bind_service, CAP_NET_RAW", NULL});
        accepts(p, "\"capabilities\": {\"add\": [\"CAP_NET_BIND_SERVICE\", \"NET_RAW\"]}");
        refuses(p, "\"capabilities\": {\"add\": [\"NET_BIND_SERVICE\", \"BPF\"]}",
                "capabilities.add CAP_BPF is not allowed by [policy] capabilities = net_bind_service, CAP_NET_RAW");
        wl_policy_free(p);
        bad_value("capabilities", "NET_BIND_SERVICE, FLY");
}

static void test_devices(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"devices\": []");
        refuses(d, "\"devices\": [{\"path\": \"/dev/mem\", \"permissions\": \"rwm\"}]",
                "workload poller: device /dev/mem with permissions \"rwm\" is not allowed by [policy] devices = "
                "(none)");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"devices", "/dev/ttyUSB*:rw, /dev/gpiochip0", NULL});
        accepts(p, "\"devices\": [{\"path\": \"/dev/ttyUSB3\", \"permissions\": \"r\"},"
                   " {\"path\": \"/dev/gpiochip0\"}]");
        refuses(p, "\"devices\": [{\"path\": \"/dev/ttyUSB0\", \"permissions\": \"rwm\"}]",
                "device /dev/ttyUSB0 with permissions \"rwm\" is not allowed by [policy] devices = /dev/ttyUSB*:rw");
        refuses(p, "\"devices\": [{\"path\": \"/dev/sda\"}]", "device /dev/sda with permissions \"rw\"");
        /* '*' does not cross '/' */
        refuses(p, "\"devices\": [{\"path\": \"/dev/ttyUSB0/x\"}]", "device /dev/ttyUSB0/x");
        wl_policy_free(p);
        bad_value("devices", "/etc/passwd:r");
        bad_value("devices", "/dev/ttyS0:rx");
        bad_value("devices", "/dev/../mem");
}

static void test_binds(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"binds\": []");
        refuses(d, "\"binds\": [{\"source\": \"/\", \"path\": \"/host\"}]",
                "workload poller: read-only bind of host path / is not allowed by [policy] binds = (none)");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"binds", "/etc/gateway, /srv/exchange:rw", NULL});
        accepts(p, "\"binds\": [{\"source\": \"/etc/gateway\", \"path\": \"/etc/gw\"},"
                   " {\"source\": \"/etc/gateway/certs\", \"path\": \"/certs\"},"
                   " {\"source\": \"/srv/exchange/in\", \"path\": \"/in\", \"readOnly\": false}]");
        refuses(p, "\"binds\": [{\"source\": \"/etc/gateway\", \"path\": \"/g\", \"readOnly\": false}]",
                "writable bind of host path /etc/gateway is not allowed by [policy] binds = /etc/gateway, "
                "/srv/exchange:rw");
        /* prefixes are whole path components */
        refuses(p, "\"binds\": [{\"source\": \"/etc/gatewayx\", \"path\": \"/g\"}]", "host path /etc/gatewayx");
        refuses(p, "\"binds\": [{\"source\": \"/etc\", \"path\": \"/g\"}]", "read-only bind of host path /etc");
        wl_policy_free(p);
        bad_value("binds", "etc/gateway");
        bad_value("binds", "/etc/gateway/");
        bad_value("binds", "/srv/../etc");
        bad_value("binds", "/srv:rx");
}

static void test_host_network(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"network\": \"host\"");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"host_network", "false", NULL});
        accepts(p, "\"network\": \"none\"");
        refuses(p, "\"network\": \"host\"",
                "workload poller: network \"host\" is not allowed by [policy] host_network = false");
        wl_policy_free(p);
        bad_value("host_network", "maybe");
}

static void test_writable_rootfs(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"readOnlyRootfs\": true");
        refuses(d, "\"readOnlyRootfs\": false",
                "workload poller: readOnlyRootfs false is not allowed by [policy] writable_rootfs = false");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"writable_rootfs", "yes", NULL});
        accepts(p, "\"readOnlyRootfs\": false");
        wl_policy_free(p);
        bad_value("writable_rootfs", "2");
}

static void test_new_privileges(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"noNewPrivileges\": true");
        refuses(d, "\"noNewPrivileges\": false",
                "workload poller: noNewPrivileges false is not allowed by [policy] new_privileges = false");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"new_privileges", "true", NULL});
        accepts(p, "\"noNewPrivileges\": false");
        wl_policy_free(p);
        bad_value("new_privileges", "");
}

static void test_env_refused(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"env\": {\"TZ\": \"UTC\", \"XLD_PRELOAD\": \"1\"}");
        refuses(d, "\"env\": {\"LD_PRELOAD\": \"/tmp/x.so\"}",
                "workload poller: env LD_PRELOAD is not allowed by [policy] env_refused = LD_*, GCONV_PATH, "
                "GLIBC_TUNABLES");
        refuses(d, "\"env\": {\"LD_LIBRARY_PATH\": \"/x\"}", "env LD_LIBRARY_PATH is not allowed");
        refuses(d, "\"env\": {\"GLIBC_TUNABLES\": \"x\"}", "env GLIBC_TUNABLES is not allowed");
        wl_policy_free(d);
        struct wl_policy *p = policy_of((const char *const[]){"env_refused", "none", NULL});
        accepts(p, "\"env\": {\"LD_PRELOAD\": \"/x.so\"}");
        wl_policy_free(p);
        p = policy_of((const char *const[]){"env_refused", "PYTHON*", NULL});
        refuses(p, "\"env\": {\"PYTHONPATH\": \"/x\"}",
                "env PYTHONPATH is not allowed by [policy] env_refused = PYTHON*");
        wl_policy_free(p);
        bad_value("env_refused", "LD_PRELOAD=1");
}

static void test_unknown_key(void **state)
{
        (void)state;
        bad_value("user", "0-65534");
        /* keys of other sections are not the policy's business */
        struct berth_config *c = config_new_empty();
        assert_int_equal(config_set(c, "server.url", "https://x"), 0);
        struct wl_policy *p = NULL;
        assert_int_equal(wl_policy_from_config(c, &p, NULL), 0);
        assert_false(p->writable_rootfs);
        assert_true(p->host_network);
        wl_policy_free(p);
        config_free(c);
        assert_int_equal(wl_policy_from_config(NULL, &p, NULL), 0);
        assert_string_equal(p->text[WL_POLICY_USERS], wl_policy_key_default(WL_POLICY_USERS));
        assert_string_equal(wl_policy_key_name(WL_POLICY_ENV_REFUSED), "env_refused");
        wl_policy_free(p);
}

/* What scripts/make-gateway-stack.sh writes (broker + poller) fits the defaults. */
static void test_example_stack_fits_defaults(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        accepts(d, "\"user\": \"1883:1883\", \"readOnlyRootfs\": true, \"network\": \"host\","
                   " \"noNewPrivileges\": true, \"tmpfs\": [{\"path\": \"/run/mosquitto\", \"size\": \"1M\"}],"
                   " \"volumes\": [{\"name\": \"data\", \"path\": \"/var/lib/mosquitto\"},"
                   " {\"name\": \"site\", \"path\": \"/etc/gateway\", \"readOnly\": true}],"
                   " \"env\": {\"LISTEN_PORT\": \"1883\", \"UPSTREAM\": \"127.0.0.1:18883\"}");
        wl_policy_free(d);
}

static void test_all_violations_reported(void **state)
{
        (void)state;
        struct wl_policy *d = policy_of(NULL);
        refuses(d, "\"user\": \"0:0\", \"capabilities\": {\"add\": [\"SYS_MODULE\"]}, \"readOnlyRootfs\": false",
                "workload poller: user 0 is not allowed by [policy] users = 1000-65534; workload poller: group 0 "
                "(user \"0:0\") is not allowed by [policy] groups = 1000-65534; workload poller: capabilities.add "
                "CAP_SYS_MODULE is not allowed by [policy] capabilities = (none); workload poller: readOnlyRootfs "
                "false is not allowed by [policy] writable_rootfs = false");
        /* more than fit in one message: counted at the end */
        char env[4096] = "\"env\": {";
        for (int i = 0; i < 40; i++)
                snprintf(env + strlen(env), sizeof env - strlen(env), "%s\"LD_X%02d\": \"1\"", i ? ", " : "", i);
        strcat(env, "}");
        refuses(d, env, " more");
        wl_policy_free(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_users),           cmocka_unit_test(test_groups),
                cmocka_unit_test(test_capabilities),    cmocka_unit_test(test_devices),
                cmocka_unit_test(test_binds),           cmocka_unit_test(test_host_network),
                cmocka_unit_test(test_writable_rootfs), cmocka_unit_test(test_new_privileges),
                cmocka_unit_test(test_env_refused),     cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_example_stack_fits_defaults),
                cmocka_unit_test(test_all_violations_reported),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
