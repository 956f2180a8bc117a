/* SPDX-License-Identifier: Apache-2.0 */
/* test_ctrd_client.c — the containerd client without a containerd: ctrd_new() checks its
 * arguments, and a call to a socket nobody listens on fails with -ENOENT and a sentence
 * naming the socket. The calls against a real containerd are an integration test
 * (tests/integration/containerd_grpc.{c,sh}).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "containerd/client.h"

static void test_unreachable_socket_is_named(void **state)
{
        (void)state;
        struct ctrd *c = NULL;
        berr e = {0};
        assert_int_equal(ctrd_new("/tmp/berth-no-such-containerd.sock", "x", NULL, &c, &e), 0);
        int r = ctrd_version(c, NULL, &e);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(e.msg, "cannot connect to /tmp/berth-no-such-containerd.sock"));
        ctrd_free(c);
}

static void test_new_checks_arguments(void **state)
{
        (void)state;
        struct ctrd *c = NULL;
        berr e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0};
        assert_int_equal(ctrd_new("relative.sock", NULL, NULL, &c, &e1), -EINVAL);
        assert_null(c);
        assert_non_null(strstr(e1.msg, "must be an absolute unix socket path"));
        assert_int_equal(ctrd_new(NULL, "bad namespace", NULL, &c, &e2), -EINVAL);
        assert_null(c);
        assert_non_null(strstr(e2.msg, "namespace \"bad namespace\""));
        assert_int_equal(ctrd_new(NULL, NULL, "over/lay", &c, &e3), -EINVAL);
        assert_null(c);
        assert_non_null(strstr(e3.msg, "snapshotter \"over/lay\""));
        /* A unix:// URL is the same socket; defaults fill what is not given. */
        assert_int_equal(ctrd_new("unix:///tmp/berth-no-such-containerd.sock", NULL, NULL, &c, &e4), 0);
        assert_non_null(c);
        ctrd_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unreachable_socket_is_named),
                cmocka_unit_test(test_new_checks_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
