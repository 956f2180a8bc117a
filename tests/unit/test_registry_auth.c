/* SPDX-License-Identifier: Apache-2.0 */
/* test_registry_auth.c — WWW-Authenticate challenges and token answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry/auth.h"

static void test_bearer(void **state)
{
        struct auth_challenge c;
        assert_int_equal(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                                              "scope=\"repository:samalba/my-app:pull,push\"",
                                              &c),
                         0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BEARER);
        assert_string_equal(c.realm, "https://auth.docker.io/token");
        assert_string_equal(c.service, "registry.docker.io");
        assert_string_equal(c.scope, "repository:samalba/my-app:pull,push");
        assert_null(c.error);
        auth_challenge_done(&c);

        /* Case-insensitive scheme and names, spaces around separators, bare values,
         * escaped quotes, unknown parameters, an error parameter. */
        assert_int_equal(auth_challenge_parse("  bearer  REALM = \"http://127.0.0.1:9/t?x=1\" , service=reg ,foo=\"a\\\"b\","
                                              "error=\"insufficient_scope\", scope=\"repository:a:pull repository:b:pull\"",
                                              &c),
                         0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BEARER);
        assert_string_equal(c.realm, "http://127.0.0.1:9/t?x=1");
        assert_string_equal(c.service, "reg");
        assert_string_equal(c.error, "insufficient_scope");
        assert_string_equal(c.scope, "repository:a:pull repository:b:pull");
        auth_challenge_done(&c);
}

static void test_basic(void **state)
{
        struct auth_challenge c;
        assert_int_equal(auth_challenge_parse("Basic realm=\"basic-realm\"", &c), 0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BASIC);
        assert_string_equal(c.realm, "basic-realm");
        auth_challenge_done(&c);
        assert_int_equal(auth_challenge_parse("Negotiate", &c), 0);
        assert_int_equal(c.scheme, AUTH_SCHEME_UNKNOWN);
        auth_challenge_done(&c);
}

static void test_malformed(void **state)
{
        const char *bad[] = {
                "", "Bearer service=\"x\"" /* no realm */, "Bearer realm=\"unterminated", "Bearer realm",
                "Bearer =x", "Bearer realm=\"a\" junk", "Bearer realm=\"a\",scope=\"b\"c",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                struct auth_challenge c;
                if (auth_challenge_parse(bad[i], &c) == 0) {
                        print_error("accepted '%s'\n", bad[i]);
                        fail();
                }
        }
        char *big = malloc(AUTH_MAX_HEADER_LEN + 100);
        memcpy(big, "Bearer realm=\"", 14);
        memset(big + 14, 'a', AUTH_MAX_HEADER_LEN);
        strcpy(big + 14 + AUTH_MAX_HEADER_LEN, "\"");
        struct auth_challenge c;
        assert_int_equal(auth_challenge_parse(big, &c), -74 /* EBADMSG */);
        free(big);
}

static void test_token(void **state)
{
        char *t = NULL;
        const char *a = "{\"token\":\"abc.def\",\"expires_in\":60}";
        assert_int_equal(auth_token_parse(a, strlen(a), &t), 0);
        assert_string_equal(t, "abc.def");
        free(t);
        const char *b = "{\"access_token\":\"xyz\"}";
        assert_int_equal(auth_token_parse(b, strlen(b), &t), 0);
        assert_string_equal(t, "xyz");
        free(t);
        const char *bad[] = {"{}", "{\"token\":\"\"}", "{\"token\":\"a b\"}", "{\"token\":1}", "not json",
                             "{\"token\":\"a\\r\\nX-Injected: 1\"}"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_not_equal(auth_token_parse(bad[i], strlen(bad[i]), &t), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bearer),
                cmocka_unit_test(test_basic),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_token),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
