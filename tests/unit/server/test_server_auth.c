/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_auth.c — Authorization parsing, token hashing and comparison, maintenance
 * windows (server-stub/auth, server-stub/rollout). */
#include "testutil.h"

#include "auth/auth.h"
#include "rollout/rollout.h"

static void test_parse(void **state)
{
        const char *t;
        assert_int_equal(auth_parse(NULL, &t), AUTH_NONE);
        assert_null(t);
        assert_int_equal(auth_parse("TargetToken abc", &t), AUTH_TARGET_TOKEN);
        assert_string_equal(t, "abc");
        assert_int_equal(auth_parse("targettoken   abc", &t), AUTH_TARGET_TOKEN);
        assert_string_equal(t, "abc");
        assert_int_equal(auth_parse("GatewayToken g", &t), AUTH_GATEWAY_TOKEN);
        assert_int_equal(auth_parse("Bearer x", &t), AUTH_BEARER);
        assert_int_equal(auth_parse("TargetToken ", &t), AUTH_OTHER);
        assert_int_equal(auth_parse("Basic dXNlcg==", &t), AUTH_OTHER);
        assert_int_equal(auth_parse("TargetTokenabc", &t), AUTH_OTHER);
}

static void test_equal_and_hash(void **state)
{
        assert_true(auth_equal("abc", "abc"));
        assert_false(auth_equal("abc", "abd"));
        assert_false(auth_equal("abc", "ab"));
        assert_false(auth_equal("ab", "abc"));
        assert_true(auth_equal("", ""));
        char h[65];
        assert_int_equal(auth_token_hash("abc", h), 0);
        assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        char a[33], b[33];
        assert_int_equal(auth_token_new(a), 0);
        assert_int_equal(auth_token_new(b), 0);
        assert_int_equal(strlen(a), 32);
        assert_string_not_equal(a, b);
}

static void test_mwindow(void **state)
{
        assert_true(mwindow_valid(""));
        assert_true(mwindow_valid("02:00-04:30"));
        assert_true(mwindow_valid("22:00-02:00"));
        assert_false(mwindow_valid("2:00-4:00"));
        assert_false(mwindow_valid("24:00-01:00"));
        assert_false(mwindow_valid("02:60-03:00"));
        assert_false(mwindow_valid("02:00-03:00x"));
        int64_t day = 20000 * 86400LL;
        assert_true(mwindow_open("", day));
        assert_true(mwindow_open("02:00-04:00", day + 2 * 3600));
        assert_true(mwindow_open("02:00-04:00", day + 4 * 3600 - 1));
        assert_false(mwindow_open("02:00-04:00", day + 4 * 3600));
        assert_false(mwindow_open("02:00-04:00", day + 1 * 3600));
        assert_true(mwindow_open("22:00-02:00", day + 23 * 3600));   /* wraps midnight */
        assert_true(mwindow_open("22:00-02:00", day + 1 * 3600));
        assert_false(mwindow_open("22:00-02:00", day + 12 * 3600));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_equal_and_hash),
                cmocka_unit_test(test_mwindow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
