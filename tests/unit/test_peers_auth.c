/* SPDX-License-Identifier: Apache-2.0 */
/* test_peers_auth.c — site-key authentication of peer requests (peers/auth.h): a signed
 * request is accepted once; another key, another method, path or range, a time outside
 * the window, a replayed nonce, a full window, a malformed or missing header are
 * refused with their own errors; the MAC matches an independent HMAC-SHA256 (libcrypto);
 * the key parser and the key file's ownership and mode checks. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include "peers/auth.h"

#define NOW 1765000000u

static const char KEY_HEX[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static struct peer_key key(void)
{
        struct peer_key k;
        berr e = {0};
        assert_int_equal(peer_key_parse(KEY_HEX, strlen(KEY_HEX), &k, &e), 0);
        return k;
}

static void nonce_n(uint8_t n[PEER_NONCE_LEN], unsigned i)
{
        memset(n, 0, PEER_NONCE_LEN);
        memcpy(n, &i, sizeof i);
        n[PEER_NONCE_LEN - 1] = 0xa5;
}

static const char *PATH = "/v2/blobs/sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

static void test_accepted_once(void **state)
{
        (void)state;
        struct peer_key k = key();
        struct peer_replay *rp;
        assert_int_equal(peer_replay_new(64, &rp), 0);
        uint8_t n[PEER_NONCE_LEN];
        char h[PEER_AUTH_MAX];
        nonce_n(n, 1);
        assert_int_equal(peer_auth_sign(&k, "GET", PATH, "bytes=0-99", NOW, n, h), 0);
        berr e = {0};
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", PATH, "bytes=0-99", NOW + 5, &e), 0);
        /* the same request again: a replay */
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", PATH, "bytes=0-99", NOW + 6, &e), -EALREADY);
        assert_non_null(strstr(berr_msg(&e, -EALREADY), "replayed"));
        /* after the window it is refused by its time */
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", PATH, "bytes=0-99", NOW + PEER_AUTH_WINDOW_S + 1, &e),
                         -ETIME);
        /* no Range is signed as "" and must be verified as such */
        nonce_n(n, 2);
        assert_int_equal(peer_auth_sign(&k, "HEAD", PATH, NULL, NOW, n, h), 0);
        assert_int_equal(peer_auth_verify(&k, rp, h, "HEAD", PATH, NULL, NOW, &e), 0);
        peer_replay_free(rp);
}

static void test_bound_to_request_and_key(void **state)
{
        (void)state;
        struct peer_key k = key(), other = key();
        other.k[7] ^= 1;
        struct peer_replay *rp;
        assert_int_equal(peer_replay_new(64, &rp), 0);
        uint8_t n[PEER_NONCE_LEN];
        char h[PEER_AUTH_MAX];
        nonce_n(n, 3);
        assert_int_equal(peer_auth_sign(&k, "GET", PATH, "bytes=0-99", NOW, n, h), 0);
        berr e = {0};
        assert_int_equal(peer_auth_verify(&other, rp, h, "GET", PATH, "bytes=0-99", NOW, &e), -EACCES);
        assert_non_null(strstr(berr_msg(&e, -EACCES), "another site key"));
        assert_int_equal(peer_auth_verify(&k, rp, h, "HEAD", PATH, "bytes=0-99", NOW, &e), -EACCES);
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", "/v2/blobs/sha256:00", "bytes=0-99", NOW, &e), -EACCES);
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", PATH, "bytes=0-", NOW, &e), -EACCES);
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", PATH, NULL, NOW, &e), -EACCES);
        /* a time changed in the header breaks the MAC, it does not move the window */
        char h2[PEER_AUTH_MAX];
        snprintf(h2, sizeof h2, "%s", h);
        char *t = strstr(h2, "t=") + 2;
        t[9] = t[9] == '9' ? '8' : (char)(t[9] + 1);
        assert_int_equal(peer_auth_verify(&k, rp, h2, "GET", PATH, "bytes=0-99", NOW, &e), -EACCES);
        /* refusals did not use up the nonce: the real request still passes */
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", PATH, "bytes=0-99", NOW, &e), 0);
        peer_replay_free(rp);
}

/* Signs GET PATH (no Range) with nonce i at time t_sign and verifies it at t_verify;
 * verify's result, its sentence in last_msg. */
static char last_msg[512];
static int roundtrip(struct peer_replay *rp, unsigned i, uint64_t t_sign, uint64_t t_verify)
{
        struct peer_key k = key();
        uint8_t n[PEER_NONCE_LEN];
        char h[PEER_AUTH_MAX];
        berr e = {0};
        nonce_n(n, i);
        assert_int_equal(peer_auth_sign(&k, "GET", PATH, NULL, t_sign, n, h), 0);
        int r = peer_auth_verify(&k, rp, h, "GET", PATH, NULL, t_verify, &e);
        snprintf(last_msg, sizeof last_msg, "%s", r < 0 ? berr_msg(&e, r) : "");
        return r;
}

static void test_window(void **state)
{
        (void)state;
        struct peer_replay *rp;
        assert_int_equal(peer_replay_new(64, &rp), 0);
        assert_int_equal(roundtrip(rp, 4, NOW + PEER_AUTH_WINDOW_S + 1, NOW), -ETIME);
        assert_non_null(strstr(last_msg, "31 s from this gateway's clock"));
        assert_int_equal(roundtrip(rp, 4, NOW - PEER_AUTH_WINDOW_S - 1, NOW), -ETIME);
        assert_non_null(strstr(last_msg, "-31 s"));
        /* the edges are inside */
        assert_int_equal(roundtrip(rp, 4, NOW + PEER_AUTH_WINDOW_S, NOW), 0);
        assert_int_equal(roundtrip(rp, 5, NOW - PEER_AUTH_WINDOW_S, NOW), 0);
        peer_replay_free(rp);
}

static void test_window_full_then_expires(void **state)
{
        (void)state;
        struct peer_replay *rp;
        assert_int_equal(peer_replay_new(16, &rp), 0);
        for (unsigned i = 0; i < 16; i++)
                assert_int_equal(roundtrip(rp, 100 + i, NOW, NOW), 0);
        assert_int_equal(roundtrip(rp, 200, NOW, NOW), -EBUSY);
        assert_non_null(strstr(last_msg, "more than 16 peer requests"));
        /* a replay of an accepted one is still told as a replay while the window is full */
        assert_int_equal(roundtrip(rp, 107, NOW, NOW + 1), -EALREADY);
        /* once they are older than the window, their slots are taken again */
        uint64_t later = NOW + PEER_AUTH_WINDOW_S + 1;
        for (unsigned i = 0; i < 16; i++)
                assert_int_equal(roundtrip(rp, 300 + i, later, later), 0);
        /* and the new ones are remembered */
        assert_int_equal(roundtrip(rp, 315, later, later + 1), -EALREADY);
        peer_replay_free(rp);
}

static void test_malformed(void **state)
{
        (void)state;
        struct peer_key k = key();
        struct peer_replay *rp;
        assert_int_equal(peer_replay_new(16, &rp), 0);
        uint8_t n[PEER_NONCE_LEN];
        char h[PEER_AUTH_MAX];
        berr e = {0};
        nonce_n(n, 9);
        assert_int_equal(peer_auth_sign(&k, "GET", PATH, NULL, NOW, n, h), 0);
        assert_int_equal(peer_auth_verify(&k, rp, NULL, "GET", PATH, NULL, NOW, &e), -EACCES);
        assert_non_null(strstr(berr_msg(&e, -EACCES), "no Authorization"));
        const char *bad[] = {
                "", "Bearer abc", "Berth-Peer v=2, t=1, n=00, mac=00", "Berth-Peer v=1, t=, n=",
                "Berth-Peer v=1, t=01765000000, n=00000000000000000000000000000000, mac=",
                "Berth-Peer v=1, t=99999999999999999999, n=00000000000000000000000000000000, mac=00",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                assert_int_equal(peer_auth_verify(&k, rp, bad[i], "GET", PATH, NULL, NOW, &e), -EACCES);
        /* cut short, trailing bytes, a non-hex digit */
        char h2[PEER_AUTH_MAX + 2];
        snprintf(h2, sizeof h2, "%.*s", (int)strlen(h) - 1, h);
        assert_int_equal(peer_auth_verify(&k, rp, h2, "GET", PATH, NULL, NOW, &e), -EACCES);
        snprintf(h2, sizeof h2, "%s ", h);
        assert_int_equal(peer_auth_verify(&k, rp, h2, "GET", PATH, NULL, NOW, &e), -EACCES);
        snprintf(h2, sizeof h2, "%s", h);
        strstr(h2, "n=")[2] = 'g';
        assert_int_equal(peer_auth_verify(&k, rp, h2, "GET", PATH, NULL, NOW, &e), -EACCES);
        /* a path that smuggles a newline cannot be signed, nor verified */
        assert_int_equal(peer_auth_sign(&k, "GET", "/v2/blobs/x\nGET", NULL, NOW, n, h2), -EINVAL);
        assert_int_equal(peer_auth_verify(&k, rp, h, "GET", "/v2/blobs/x\nGET", NULL, NOW, &e), -EACCES);
        peer_replay_free(rp);
}

/* The MAC is HMAC-SHA256 over the documented string, computed here with libcrypto. */
static void test_mac_is_documented_hmac(void **state)
{
        (void)state;
        struct peer_key k = key();
        uint8_t n[PEER_NONCE_LEN];
        char h[PEER_AUTH_MAX];
        nonce_n(n, 7);
        assert_int_equal(peer_auth_sign(&k, "GET", PATH, "bytes=5-9", NOW, n, h), 0);
        char nhex[2 * PEER_NONCE_LEN + 1], msg[512];
        for (unsigned i = 0; i < PEER_NONCE_LEN; i++)
                snprintf(nhex + 2 * i, 3, "%02x", n[i]);
        int l = snprintf(msg, sizeof msg, "berth-peer v1\nGET\n%s\nbytes=5-9\n%u\n%s", PATH, NOW, nhex);
        unsigned char mac[32];
        unsigned mlen = 0;
        assert_non_null(HMAC(EVP_sha256(), k.k, sizeof k.k, (const unsigned char *)msg, (size_t)l, mac, &mlen));
        char want[PEER_AUTH_MAX], hex[65];
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", mac[i]);
        snprintf(want, sizeof want, "Berth-Peer v=1, t=%u, n=%s, mac=%s", NOW, nhex, hex);
        assert_string_equal(h, want);
}

static void test_key_parse_and_file(void **state)
{
        (void)state;
        struct peer_key k;
        berr e = {0};
        char buf[80];
        snprintf(buf, sizeof buf, "  %s\n", KEY_HEX);
        assert_int_equal(peer_key_parse(buf, strlen(buf), &k, &e), 0);
        assert_int_equal(k.k[31], 0x1f);
        assert_int_equal(peer_key_parse(KEY_HEX, 63, &k, &e), -EINVAL);
        assert_non_null(strstr(berr_msg(&e, -EINVAL), "64 hex digits"));
        snprintf(buf, sizeof buf, "%sz", KEY_HEX);
        assert_int_equal(peer_key_parse(buf, strlen(buf), &k, &e), -EINVAL);

        char *dir = test_tmpdir("peers-key");
        char path[512];
        snprintf(path, sizeof path, "%s/site.key", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, KEY_HEX, 64), 64);
        close(fd);
        assert_int_equal(peer_key_load(path, &k, &e), 0);
        assert_int_equal(k.k[1], 0x01);
        assert_int_equal(chmod(path, 0640), 0);
        e = (berr){0};
        assert_int_equal(peer_key_load(path, &k, &e), -EPERM);
        assert_non_null(strstr(berr_msg(&e, -EPERM), "chmod 600"));
        char missing[600];
        snprintf(missing, sizeof missing, "%s/none.key", dir);
        assert_int_equal(peer_key_load(missing, &k, &e), -ENOENT);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accepted_once),
                cmocka_unit_test(test_bound_to_request_and_key),
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_window_full_then_expires),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_mac_is_documented_hmac),
                cmocka_unit_test(test_key_parse_and_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
