/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_auth.c — Authorization parsing, keyed token hashes (and the legacy unsalted
 * ones they replace), comparison, maintenance windows (server-stub/auth, server-stub/rollout). */
#include "testutil.h"

#include <errno.h>

#include "base/digest.h"
#include "server-stub/auth/auth.h"
#include "server-stub/rollout/rollout.h"

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
        char a[33], b[33];
        assert_int_equal(auth_token_new(a), 0);
        assert_int_equal(auth_token_new(b), 0);
        assert_int_equal(strlen(a), 32);
        assert_string_not_equal(a, b);
}

static void test_keyed_hash(void **state)
{
        /* RFC 4231, test case 2. */
        uint8_t d[32];
        char hex[65];
        assert_int_equal(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), 0);
        hex_encode(d, sizeof d, hex);
        assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

        uint8_t k1[AUTH_KEY_LEN], k2[AUTH_KEY_LEN], back[AUTH_KEY_LEN];
        char h1[AUTH_HASH_SIZE], h2[AUTH_HASH_SIZE], again[AUTH_HASH_SIZE], text[2 * AUTH_KEY_LEN + 1];
        assert_int_equal(auth_key_new(k1), 0);
        assert_int_equal(auth_key_new(k2), 0);
        assert_int_equal(auth_token_hash(k1, "abc", h1), 0);
        assert_int_equal(auth_token_hash(k1, "abc", again), 0);
        assert_int_equal(auth_token_hash(k2, "abc", h2), 0);
        assert_int_equal(strlen(h1), 67);
        assert_memory_equal(h1, "h1:", 3);
        assert_string_equal(h1, again);
        assert_string_not_equal(h1, h2); /* the key matters: no table of hashes fits two servers */
        assert_string_not_equal(h1 + 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        assert_int_equal(auth_token_check(k1, "abc", h1), AUTH_MATCH);
        assert_int_equal(auth_token_check(k1, "abd", h1), AUTH_NO_MATCH);
        assert_int_equal(auth_token_check(k2, "abc", h1), AUTH_NO_MATCH);
        assert_int_equal(auth_token_check(k1, "abc", ""), AUTH_NO_MATCH);
        /* A hash stored before the token key existed: plain sha256("abc"). */
        const char *legacy = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_int_equal(auth_token_check(k1, "abc", legacy), AUTH_MATCH_LEGACY);
        assert_int_equal(auth_token_check(k1, "abd", legacy), AUTH_NO_MATCH);

        auth_key_format(k1, text);
        assert_int_equal(auth_key_parse(text, back), 0);
        assert_memory_equal(back, k1, AUTH_KEY_LEN);
        assert_int_equal(auth_key_parse("abc", back), -EBADMSG);
        text[5] = 'X';
        assert_int_equal(auth_key_parse(text, back), -EBADMSG);
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
                cmocka_unit_test(test_keyed_hash),
                cmocka_unit_test(test_mwindow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
