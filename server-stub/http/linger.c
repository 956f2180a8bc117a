/* SPDX-License-Identifier: Apache-2.0 */
/* linger.c — the draining thread for sockets answered early (see linger.h).
 *
 * One thread per listener waits on an epoll set of at most LINGER_MAX_SOCKETS sockets
 * and an eventfd (new socket or stop). Each socket has a deadline for the whole drain and
 * one for the next byte; the epoll timeout is the nearest of them, so an empty set sleeps.
 */
#include "server-stub/http/linger.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

struct slot {
        int fd;                 /* -1: free */
        uint64_t bytes;
        int64_t end_ms;         /* whole drain */
        int64_t idle_ms;        /* next byte */
};

struct linger {
        pthread_t thread;
        pthread_mutex_t lock;
        int epfd, wakefd;
        bool stop;
        struct slot s[LINGER_MAX_SOCKETS];
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void slot_close(struct linger *l, struct slot *s)
{
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
}

/* Reads what is there; closes the socket on EOF, error or the byte bound. */
static void drain(struct linger *l, struct slot *s, int64_t now)
{
        char buf[16384];
        for (;;) {
                ssize_t n = read(s->fd, buf, sizeof buf);
                if (n > 0) {
                        s->bytes += (uint64_t)n;
                        s->idle_ms = now + LINGER_IDLE_SECONDS * 1000;
                        if (s->bytes > LINGER_MAX_BYTES) {
                                slot_close(l, s);
                                return;
                        }
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                slot_close(l, s); /* EOF: the client is done; or an error */
                return;
        }
}

static void *linger_main(void *p)
{
        struct linger *l = p;
        for (;;) {
                int64_t now = mono_ms(), next = -1;
                pthread_mutex_lock(&l->lock);
                if (l->stop) {
                        pthread_mutex_unlock(&l->lock);
                        break;
                }
                for (size_t i = 0; i < LINGER_MAX_SOCKETS; i++) {
                        struct slot *s = &l->s[i];
                        if (s->fd < 0)
                                continue;
                        if (now >= s->end_ms || now >= s->idle_ms) {
                                slot_close(l, s);
                                continue;
                        }
                        int64_t d = s->end_ms < s->idle_ms ? s->end_ms : s->idle_ms;
                        if (next < 0 || d < next)
                                next = d;
                }
                pthread_mutex_unlock(&l->lock);

                struct epoll_event ev[16];
                int n = epoll_wait(l->epfd, ev, (int)ELEMENTSOF(ev), next < 0 ? -1 : (int)(next - now + 1));
                if (n < 0 && errno != EINTR)
                        break;
                now = mono_ms();
                pthread_mutex_lock(&l->lock);
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.u32 == UINT32_MAX) {
                                uint64_t v;
                                (void)!read(l->wakefd, &v, sizeof v);
                                continue;
                        }
                        struct slot *s = &l->s[ev[i].data.u32];
                        if (s->fd >= 0)
                                drain(l, s, now);
                }
                pthread_mutex_unlock(&l->lock);
        }
        return NULL;
}

int linger_start(struct linger **ret, berr *e)
{
        _cleanup_free_ struct linger *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < LINGER_MAX_SOCKETS; i++)
                l->s[i].fd = -1;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
        if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
                int r = -errno;
                if (l->epfd >= 0)
                        close(l->epfd);
                if (l->wakefd >= 0)
                        close(l->wakefd);
                return berr_set(e, r, "cannot set up the connection drain: %s", strerror(-r));
        }
        pthread_mutex_init(&l->lock, NULL);
        int k = pthread_create(&l->thread, NULL, linger_main, l);
        if (k != 0) {
                close(l->epfd);
                close(l->wakefd);
                pthread_mutex_destroy(&l->lock);
                return berr_set(e, -k, "cannot start the connection drain thread: %s", strerror(k));
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void wake(struct linger *l)
{
        uint64_t one = 1;
        (void)!write(l->wakefd, &one, sizeof one);
}

void linger_add(struct linger *l, int fd)
{
        if (!l) {
                close(fd);
                return;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                close(fd);
                return;
        }
        int64_t now = mono_ms();
        pthread_mutex_lock(&l->lock);
        size_t i = 0;
        while (i < LINGER_MAX_SOCKETS && l->s[i].fd >= 0)
                i++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
        if (l->stop || i == LINGER_MAX_SOCKETS || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                pthread_mutex_unlock(&l->lock);
                close(fd);
                return;
        }
        l->s[i] = (struct slot){.fd = fd, .end_ms = now + LINGER_MAX_SECONDS * 1000,
                                .idle_ms = now + LINGER_IDLE_SECONDS * 1000};
        pthread_mutex_unlock(&l->lock);
        wake(l);
}

void linger_stop(struct linger *l)
{
        if (!l)
                return;
        pthread_mutex_lock(&l->lock);
        l->stop = true;
        pthread_mutex_unlock(&l->lock);
        wake(l);
        pthread_join(l->thread, NULL);
        for (size_t i = 0; i < LINGER_MAX_SOCKETS; i++)
                if (l->s[i].fd >= 0)
                        close(l->s[i].fd);
        close(l->epfd);
        close(l->wakefd);
        pthread_mutex_destroy(&l->lock);
        free(l);
}
