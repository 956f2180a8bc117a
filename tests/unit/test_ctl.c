/* SPDX-License-Identifier: Apache-2.0 */
/* test_ctl.c — control socket framing: length-prefixed JSON, fd passing (SCM_RIGHTS),
 * oversized and malformed messages, and the peer credential check. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "ctl/ctl.h"

static void test_roundtrip_with_fd(void **state)
{
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        json_t *m = json_pack("{s:s,s:i}", "cmd", "import", "n", 42);
        assert_int_equal(ctl_send(sv[0], m, fd), 0);
        json_decref(m);
        close(fd);
        json_t *got = NULL;
        int rfd = -1;
        assert_int_equal(ctl_recv(sv[1], &got, &rfd), 0);
        assert_string_equal(json_string_value(json_object_get(got, "cmd")), "import");
        assert_int_equal(json_integer_value(json_object_get(got, "n")), 42);
        assert_true(rfd >= 0);
        assert_true(fcntl(rfd, F_GETFD) & FD_CLOEXEC);
        close(rfd);
        json_decref(got);

        /* no fd: -1 */
        m = json_pack("{s:s}", "cmd", "status");
        assert_int_equal(ctl_send(sv[0], m, -1), 0);
        json_decref(m);
        rfd = 5;
        assert_int_equal(ctl_recv(sv[1], &got, &rfd), 0);
        assert_int_equal(rfd, -1);
        json_decref(got);
        close(sv[0]);
        close(sv[1]);
}

static void test_bad_messages(void **state)
{
        int sv[2];
        json_t *got = NULL;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        uint8_t big[4] = {0x7f, 0xff, 0xff, 0xff}; /* 2 GiB announced */
        assert_int_equal(write(sv[0], big, 4), 4);
        assert_int_equal(ctl_recv(sv[1], &got, NULL), -EMSGSIZE);
        uint8_t bad[] = {0, 0, 0, 3, '[', '1', ']'}; /* JSON, but not an object */
        assert_int_equal(write(sv[0], bad, sizeof bad), (ssize_t)sizeof bad);
        assert_int_equal(ctl_recv(sv[1], &got, NULL), -EBADMSG);
        uint8_t trunc[] = {0, 0, 0, 10, '{'};
        assert_int_equal(write(sv[0], trunc, sizeof trunc), (ssize_t)sizeof trunc);
        close(sv[0]);
        assert_int_equal(ctl_recv(sv[1], &got, NULL), -ECONNRESET);
        close(sv[1]);
}

/* The daemon's incremental parse: every prefix is "more", the whole is one request,
 * anything after it or a bad length is refused. */
static void test_parse(void **state)
{
        json_t *m = json_pack("{s:s}", "cmd", "status"), *got = NULL;
        uint8_t *buf;
        size_t n;
        assert_int_equal(ctl_encode(m, &buf, &n), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(ctl_parse(buf, i, &got), 0);
        assert_int_equal(ctl_parse(buf, n, &got), 1);
        assert_string_equal(json_string_value(json_object_get(got, "cmd")), "status");
        json_decref(got);
        uint8_t *two = malloc(n + 1);
        memcpy(two, buf, n);
        two[n] = '{';
        assert_int_equal(ctl_parse(two, n + 1, &got), -EBADMSG);
        free(two);
        uint8_t big[4] = {0x7f, 0xff, 0xff, 0xff}, zero[4] = {0};
        assert_int_equal(ctl_parse(big, 4, &got), -EMSGSIZE);
        assert_int_equal(ctl_parse(zero, 4, &got), -EMSGSIZE);
        uint8_t arr[] = {0, 0, 0, 3, '[', '1', ']'};
        assert_int_equal(ctl_parse(arr, sizeof arr, &got), -EBADMSG);
        free(buf);
        json_decref(m);
}

static void test_peer(void **state)
{
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        berr e = {0};
        int k = ctl_peer_allowed(sv[1], (gid_t)-1, &e);
        if (getuid() == 0)
                assert_int_equal(k, 1);
        else {
                assert_int_equal(k, 0);
                assert_non_null(strstr(e.msg, "permission denied"));
                /* our own primary group is allowed when configured */
                assert_int_equal(ctl_peer_allowed(sv[1], getgid(), &e), 1);
        }
        close(sv[0]);
        close(sv[1]);
}

static void test_no_daemon(void **state)
{
        json_t *req = json_pack("{s:s}", "cmd", "status"), *rep = NULL;
        berr e = {0};
        assert_int_equal(ctl_call("/nonexistent/berth-test.sock", req, -1, 1, &rep, &e), -ENOTCONN);
        json_decref(req);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip_with_fd),
                cmocka_unit_test(test_bad_messages),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_peer),
                cmocka_unit_test(test_no_daemon),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
