/* SPDX-License-Identifier: Apache-2.0 */
/* probe.c — TCP / HTTP probes (see probe.h). The HTTP check is a bounded HTTP/1.0
 * GET whose status line alone is read: the probe judges the status code, not the body.
 */
#include "workload/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short ev, uint64_t deadline)
{
        for (;;) {
                uint64_t now = mono_ms();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = ev};
                int k = poll(&p, 1, (int)(deadline - now));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

/* 1 healthy, 0 not (evidence set). */
static int check(uint16_t port, const char *path, int expect, uint64_t timeout_ms, char *ev, size_t evn)
{
        uint64_t deadline = mono_ms() + timeout_ms;
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
                snprintf(ev, evn, "connect to 127.0.0.1:%u: %s", port, strerror(errno));
                return 0;
        }
        int r = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
                r = -soerr;
        if (r < 0) {
                snprintf(ev, evn, "connect to 127.0.0.1:%u: %s", port, strerror(-r));
                return 0;
        }
        if (!path) {
                snprintf(ev, evn, "tcp 127.0.0.1:%u: connected", port);
                return 1;
        }
        char req[1200];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\nUser-Agent: berth-probe\r\n"
                                          "Connection: close\r\n\r\n", path, port);
        if (n < 0 || (size_t)n >= sizeof req)
                return -EINVAL;
        for (size_t off = 0; off < (size_t)n;) {
                ssize_t k = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
                                break;
                        continue;
                }
                if (k < 0) {
                        r = -errno;
                        break;
                }
                off += (size_t)k;
        }
        char buf[64];
        size_t got = 0;
        /* The status line fits in 64 bytes: "HTTP/1.1 200 OK". */
        while (r >= 0 && got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
                ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        r = wait_fd(fd, POLLIN, deadline);
                        continue;
                }
                if (k <= 0) {
                        r = k < 0 ? -errno : -ECONNRESET;
                        break;
                }
                got += (size_t)k;
        }
        buf[got] = 0;
        int status = 0;
        if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
                snprintf(ev, evn, "GET http://127.0.0.1:%u%s: %s", port, path,
                         r < 0 ? strerror(-r) : "no HTTP status line");
                return 0;
        }
        snprintf(ev, evn, "GET http://127.0.0.1:%u%s: status %d (expected %d)", port, path, status, expect);
        return status == expect;
}

int probe_net(pid_t netns_pid, uint16_t port, const char *path, int expect_status, uint64_t timeout_ms,
              char *evidence, size_t evidence_size)
{
        if (netns_pid <= 0)
                return check(port, path, expect_status, timeout_ms, evidence, evidence_size);

        char nspath[64];
        snprintf(nspath, sizeof nspath, "/proc/%d/ns/net", (int)netns_pid);
        _cleanup_close_ int nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0) {
                snprintf(evidence, evidence_size, "cannot open %s: %s", nspath, strerror(errno));
                return 0;
        }
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pfd[0]);
                close(pfd[1]);
                return r;
        }
        if (pid == 0) {
                /* Child: enter the container's network namespace, probe, report. */
                char ev[512] = "";
                int r = setns(nsfd, CLONE_NEWNET) < 0 ? -errno : check(port, path, expect_status, timeout_ms, ev,
                                                                          sizeof ev);
                if (r < 0 && !ev[0])
                        snprintf(ev, sizeof ev, "probe in the container's network: %s", strerror(-r));
                char out[520];
                int n = snprintf(out, sizeof out, "%d %s", r, ev);
                if (write(pfd[1], out, (size_t)n) < 0)
                        _exit(2);
                _exit(0);
        }
        close(pfd[1]);
        char out[520];
        size_t got = 0;
        uint64_t deadline = mono_ms() + timeout_ms + 1000;
        for (;;) {
                if (wait_fd(pfd[0], POLLIN, deadline) < 0)
                        break;
                ssize_t k = read(pfd[0], out + got, sizeof out - 1 - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += (size_t)k;
        }
        close(pfd[0]);
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        out[got] = 0;
        int r;
        char *sp = strchr(out, ' ');
        if (!got || !sp || sscanf(out, "%d", &r) != 1) {
                snprintf(evidence, evidence_size, "probe helper for 127.0.0.1:%u gave no answer in time", port);
                return 0;
        }
        snprintf(evidence, evidence_size, "%s", sp + 1);
        return r < 0 ? 0 : r;
}
