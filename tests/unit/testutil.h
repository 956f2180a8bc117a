/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.h — small helpers shared by the cmocka unit tests. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"

/* A fresh directory under $BERTH_TEST_TMP (or /tmp); caller frees and rm_rf()s it. */
static inline char *test_tmpdir(const char *tag)
{
        const char *base = getenv("BERTH_TEST_TMP");
        if (!base || !*base)
                base = "/tmp";
        (void)mkdir_p(base, 0755);
        char *p;
        if (asprintf(&p, "%s/unit-%s-XXXXXX", base, tag) < 0)
                return NULL;
        if (!mkdtemp(p)) {
                free(p);
                return NULL;
        }
        return p;
}

static inline void test_rmdir(char *p)
{
        if (p) {
                rm_rf(p);
                free(p);
        }
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A listening TCP socket on 127.0.0.1 and a free port, for in-process test servers. */
static inline int test_listen_loopback(int *port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(listen(fd, 4), 0);
        socklen_t al = sizeof a;
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
        *port = ntohs(a.sin_port);
        return fd;
}

#include <pthread.h>

/* A loopback listener served by fn(arg) on a thread; fn accepts until accept() fails,
 * which test_server_stop() causes. */
struct test_server {
        int fd, port;
        pthread_t th;
};

static inline void test_server_start(struct test_server *t, void *(*fn)(void *), void *arg)
{
        t->fd = test_listen_loopback(&t->port);
        assert_int_equal(pthread_create(&t->th, NULL, fn, arg), 0);
}

static inline void test_server_stop(struct test_server *t)
{
        shutdown(t->fd, SHUT_RDWR);
        pthread_join(t->th, NULL);
        close(t->fd);
}
