/* SPDX-License-Identifier: Apache-2.0 */
/* test_peers_discover.c — the peer discovery datagrams (peers/discover.h): HELLO and WHO
 * round-trip; another site's key, a time outside the window, a cut, a changed byte,
 * trailing bytes, a bad id or kind are refused; the nonce window for WHO replays. */
#include "testutil.h"

#include <errno.h>

#include "peers/discover.h"

#define NOW 1765000000u

static struct peer_key key(uint8_t x)
{
        struct peer_key k;
        memset(k.k, x, sizeof k.k);
        return k;
}

static void test_roundtrip(void **state)
{
        (void)state;
        struct peer_key k = key(7);
        struct peer_discover_msg m = {.kind = PEER_HELLO, .port = 7379, .time = NOW, .nonce = {1, 2, 3}}, got;
        snprintf(m.id, sizeof m.id, "gw-0042");
        uint8_t buf[PEER_DISCOVER_MAX];
        int len = peer_discover_encode(&k, &m, buf);
        assert_true(len > 0 && len <= PEER_DISCOVER_MAX);
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len, NOW + 3, &got), 0);
        assert_int_equal(got.kind, PEER_HELLO);
        assert_int_equal(got.port, 7379);
        assert_int_equal(got.time, NOW);
        assert_string_equal(got.id, "gw-0042");
        assert_memory_equal(got.nonce, m.nonce, PEER_NONCE_LEN);
        m.kind = PEER_WHO;
        m.port = 0;
        len = peer_discover_encode(&k, &m, buf);
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len, NOW, &got), 0);
        assert_int_equal(got.kind, PEER_WHO);
}

static void test_refusals(void **state)
{
        (void)state;
        struct peer_key k = key(7), other = key(8);
        struct peer_discover_msg m = {.kind = PEER_HELLO, .port = 1, .time = NOW}, got;
        snprintf(m.id, sizeof m.id, "gw-1");
        uint8_t buf[PEER_DISCOVER_MAX + 1];
        int len = peer_discover_encode(&k, &m, buf);
        assert_int_equal(peer_discover_decode(&other, buf, (size_t)len, NOW, &got), -EACCES);
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len, NOW + PEER_AUTH_WINDOW_S + 1, &got), -ETIME);
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len, NOW - PEER_AUTH_WINDOW_S - 1, &got), -ETIME);
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len - 1, NOW, &got), -EBADMSG);
        buf[len] = 0;
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len + 1, NOW, &got), -EBADMSG);
        for (int i = 0; i < len; i++) {
                buf[i] ^= 0x20;
                assert_true(peer_discover_decode(&k, buf, (size_t)len, NOW, &got) < 0);
                buf[i] ^= 0x20;
        }
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len, NOW, &got), 0);
        assert_int_equal(peer_discover_decode(&k, buf, 3, NOW, &got), -EBADMSG);
        /* a HELLO names its port */
        m.port = 0;
        len = peer_discover_encode(&k, &m, buf);
        assert_int_equal(peer_discover_decode(&k, buf, (size_t)len, NOW, &got), -EBADMSG);
        /* ids: printable, not empty, not too long */
        snprintf(m.id, sizeof m.id, "gw 1");
        assert_int_equal(peer_discover_encode(&k, &m, buf), -EINVAL);
        m.id[0] = 0;
        assert_int_equal(peer_discover_encode(&k, &m, buf), -EINVAL);
        m.kind = 9;
        snprintf(m.id, sizeof m.id, "x");
        assert_int_equal(peer_discover_encode(&k, &m, buf), -EINVAL);
}

static void test_replay_window(void **state)
{
        (void)state;
        struct peer_replay *rp;
        assert_int_equal(peer_replay_new(16, &rp), 0);
        uint8_t n[PEER_NONCE_LEN] = {9};
        assert_int_equal(peer_replay_check(rp, n, NOW, NOW), 0);
        assert_int_equal(peer_replay_check(rp, n, NOW, NOW + 1), -EALREADY);
        assert_int_equal(peer_replay_check(rp, n, NOW, NOW + PEER_AUTH_WINDOW_S + 1), -ETIME);
        n[0] = 10;
        assert_int_equal(peer_replay_check(rp, n, NOW + 100, NOW), -ETIME);
        peer_replay_free(rp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_replay_window),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
