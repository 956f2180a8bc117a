/* SPDX-License-Identifier: Apache-2.0 */
/* test_registry_mirror_config.c — K3s registries.yaml and containerd hosts.toml text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry/mirror_config.h"

static void test_k3s(void **state)
{
        const char *ups[] = {"docker.io", "registry.local:5000"};
        struct mirror_config mc = {.mirror_url = "https://10.0.0.5:5000", .upstreams = ups, .n_upstreams = 2,
                                   .ca_file = "/etc/berth/mirror-ca.pem", .prefix = "site1"};
        char *t = NULL;
        berr e = {0};
        assert_int_equal(mirror_render_k3s(&mc, &t, &e), 0);
        assert_non_null(strstr(t, "mirrors:\n  \"docker.io\":\n    endpoint:\n      - \"https://10.0.0.5:5000\"\n"
                                  "    rewrite:\n      \"^(.*)$\": \"site1/$1\"\n"));
        assert_non_null(strstr(t, "  \"registry.local:5000\":\n    endpoint:\n"));
        assert_non_null(strstr(t, "configs:\n  \"10.0.0.5:5000\":\n    tls:\n      ca_file: \"/etc/berth/mirror-ca.pem\"\n"));
        free(t);
}

static void test_hosts_toml(void **state)
{
        const char *ups[] = {"docker.io"};
        struct mirror_config mc = {.mirror_url = "http://10.0.0.5:5000", .upstreams = ups, .n_upstreams = 1};
        char *t = NULL, *host = NULL;
        berr e = {0};
        assert_int_equal(mirror_render_hosts_toml(&mc, "docker.io", &t, &host, &e), 0);
        assert_string_equal(host, "docker.io");
        assert_non_null(strstr(t, "server = \"https://registry-1.docker.io\"\n"));
        assert_non_null(strstr(t, "[host.\"http://10.0.0.5:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"));
        assert_null(strstr(t, "override_path"));
        free(t), free(host);

        mc.prefix = "site1";
        mc.insecure = true;
        assert_int_equal(mirror_render_hosts_toml(&mc, "http://registry.local:5000", &t, &host, &e), 0);
        assert_string_equal(host, "registry.local:5000");
        assert_non_null(strstr(t, "server = \"http://registry.local:5000\"\n"));
        assert_non_null(strstr(t, "[host.\"http://10.0.0.5:5000/v2/site1\"]\n"));
        assert_non_null(strstr(t, "  override_path = true\n"));
        assert_non_null(strstr(t, "  skip_verify = true\n"));
        free(t), free(host);
}

static void test_rejects(void **state)
{
        char *t = NULL, *host = NULL;
        const char *bad_up[] = {"../etc", "a/b", "x\"y", "", "ftp://x"};
        for (size_t i = 0; i < sizeof bad_up / sizeof bad_up[0]; i++) {
                const char *ups[] = {bad_up[i]};
                struct mirror_config mc = {.mirror_url = "http://m:5000", .upstreams = ups, .n_upstreams = 1};
                berr e = {0};
                assert_int_not_equal(mirror_render_hosts_toml(&mc, bad_up[i], &t, &host, &e), 0);
                assert_int_not_equal(mirror_render_k3s(&mc, &t, &e), 0);
                assert_true(e.msg[0] != 0);
        }
        const char *ups[] = {"docker.io"};
        struct mirror_config mc = {.mirror_url = "http://m:5000/path\"", .upstreams = ups, .n_upstreams = 1};
        berr e = {0};
        assert_int_not_equal(mirror_render_k3s(&mc, &t, &e), 0);
        mc.mirror_url = "http://m:5000";
        mc.ca_file = "relative.pem";
        assert_int_not_equal(mirror_render_k3s(&mc, &t, &e), 0);
        mc.ca_file = NULL;
        mc.n_upstreams = 0;
        assert_int_not_equal(mirror_render_k3s(&mc, &t, &e), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_k3s),
                cmocka_unit_test(test_hosts_toml),
                cmocka_unit_test(test_rejects),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
