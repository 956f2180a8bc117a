/* SPDX-License-Identifier: Apache-2.0 */
/* test_registry_reference.c — image reference parsing and the mirror repository rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry/reference.h"

static void check(const char *ref, const char *prefix, const char *domain, const char *repo, const char *tag,
                  const char *digest)
{
        struct image_ref r;
        assert_int_equal(image_ref_parse(ref, &r), 0);
        assert_string_equal(r.domain, domain);
        if (tag)
                assert_string_equal(r.tag, tag);
        else
                assert_null(r.tag);
        if (digest)
                assert_string_equal(r.digest, digest);
        else
                assert_null(r.digest);
        char *m = NULL;
        assert_int_equal(mirror_repository(&r, prefix, &m), 0);
        assert_string_equal(m, repo);
        free(m);
        image_ref_done(&r);
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_naming(void **state)
{
        check("registry.local/gw/broker:2.0", NULL, "registry.local", "gw/broker", "2.0", NULL);
        check("busybox", NULL, "docker.io", "library/busybox", "latest", NULL);
        check("busybox:1.36", "", "docker.io", "library/busybox", "1.36", NULL);
        check("docker.io/library/busybox:1", NULL, "docker.io", "library/busybox", "1", NULL);
        check("index.docker.io/eclipse-mosquitto:2", NULL, "docker.io", "library/eclipse-mosquitto", "2", NULL);
        check("docker.io/eclipse/mosquitto:2", NULL, "docker.io", "eclipse/mosquitto", "2", NULL);
        check("localhost/app", NULL, "localhost", "app", "latest", NULL);
        check("localhost:5000/a/b/c:v1-rc.2", NULL, "localhost:5000", "a/b/c", "v1-rc.2", NULL);
        check("10.0.0.5:5000/gw/broker@" D, NULL, "10.0.0.5:5000", "gw/broker", NULL, D);
        check("registry.local/gw/broker:2.0@" D, NULL, "registry.local", "gw/broker", "2.0", D);
        check("gw/broker:2.0", "/site1/", "docker.io", "site1/gw/broker", "2.0", NULL);
        check("registry.local/my_app__x.y-z---w:1", "a/b", "registry.local", "a/b/my_app__x.y-z---w", "1", NULL);
}

static void test_invalid(void **state)
{
        const char *bad[] = {
                "", "UPPER/case", "registry.local/", "registry.local/gw//broker", "a:", "a:-tag", "a@sha256:12",
                "a/b c", "registry.local/.hidden", "registry.local/a_/b", ("a/b:" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                "a/b/../c", "http://registry.local/a", "a___b",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                struct image_ref r;
                if (image_ref_parse(bad[i], &r) == 0) {
                        print_error("accepted '%s'\n", bad[i]);
                        fail();
                }
        }
        struct image_ref r;
        assert_int_equal(image_ref_parse("gw/broker", &r), 0);
        char *m = NULL;
        assert_int_equal(mirror_repository(&r, "Bad Prefix", &m), -22);
        assert_null(m);
        image_ref_done(&r);
}

static void test_validators(void **state)
{
        assert_true(repository_name_valid("a"));
        assert_true(repository_name_valid("a0/b-c/d.e/f_g/h__i"));
        assert_false(repository_name_valid("a-"));
        assert_false(repository_name_valid("-a"));
        assert_false(repository_name_valid("a..b"));
        assert_false(repository_name_valid("/a"));
        assert_true(tag_valid("latest"));
        assert_true(tag_valid("_x.Y-1"));
        assert_false(tag_valid(".x"));
        assert_false(tag_valid("a/b"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_naming),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_validators),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
