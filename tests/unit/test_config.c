/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c — the INI config parser. */
#include "testutil.h"

#include <errno.h>

#include "config/config.h"

static char *write_tmp(const char *dir, const char *text)
{
        char *p = path_join(dir, "agent.conf");
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
        return p;
}

static void test_parse(void **state)
{
        char *dir = test_tmpdir("config");
        char *p = write_tmp(dir, "# comment\nstate_dir = /var/lib/x\n\n[containerd]\naddress = \"/run/c.sock\"\n"
                                 "namespace=k8s.io ; not a comment here\n[registry]\nurl = http://127.0.0.1:5000\n"
                                 "insecure = yes\nmax = 42\n");
        struct berth_config *c = NULL;
        berr e = {0};
        assert_int_equal(config_load(p, false, &c, &e), 0);
        assert_string_equal(config_get(c, "state_dir", NULL), "/var/lib/x");
        assert_string_equal(config_get(c, "containerd.address", NULL), "/run/c.sock");
        assert_string_equal(config_get(c, "containerd.namespace", NULL), "k8s.io ; not a comment here");
        assert_string_equal(config_get(c, "missing.key", "dflt"), "dflt");
        bool b;
        uint64_t u;
        assert_int_equal(config_get_bool(c, "registry.insecure", false, &b, &e), 0);
        assert_true(b);
        assert_int_equal(config_get_u64(c, "registry.max", 0, &u, &e), 0);
        assert_int_equal(u, 42);
        assert_int_equal(config_get_u64(c, "registry.url", 0, &u, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "registry.url"));
        assert_int_equal(config_set(c, "containerd.address", "/other"), 0);
        assert_string_equal(config_get(c, "containerd.address", NULL), "/other");
        config_free(c);
        free(p);
        test_rmdir(dir);
}

static void test_errors(void **state)
{
        char *dir = test_tmpdir("config");
        char *p = write_tmp(dir, "[ok]\nkey value without equals\n");
        struct berth_config *c = NULL;
        berr e = {0};
        assert_int_equal(config_load(p, false, &c, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, ":2:"));
        free(p);
        berr e2 = {0};
        char *missing = path_join(dir, "nope.conf");
        assert_int_equal(config_load(missing, true, &c, &e2), 0);
        assert_null(config_get(c, "x", NULL));
        config_free(c);
        assert_true(config_load(missing, false, &c, &e2) < 0);
        free(missing);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_errors)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
