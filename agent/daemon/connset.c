/* SPDX-License-Identifier: Apache-2.0 */
/* connset.c — request/answer connections on the event loop, bounded in number and time
 * (see connset.h). */
#include "daemon/connset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "base/log.h"
#include "ctl/ctl.h"

struct conn {
        struct connset *set;
        struct conn *next, **pprev;
        int fd, passed_fd;
        sd_event_source *io, *timer;
        uint8_t *in;
        size_t in_len, in_cap;
        uint8_t *out;
        size_t out_len, out_off;
        bool answering;
        bool deferred;          /* on_input() answers later (conn_answer_later) */
};

static void conn_free(struct conn *c)
{
        if (!c)
                return;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        if (c->passed_fd >= 0)
                close(c->passed_fd);
        free(c->in);
        free(c->out);
        if (c->next)
                c->next->pprev = c->pprev;
        *c->pprev = c->next;
        c->set->n--;
        free(c);
}

int conn_fd(const struct conn *c)
{
        return c->fd;
}

int conn_take_passed_fd(struct conn *c)
{
        int fd = c->passed_fd;
        c->passed_fd = -1;
        return fd;
}

static int rearm(struct conn *c)
{
        uint64_t now;
        if (sd_event_now(c->set->ev, CLOCK_MONOTONIC, &now) < 0)
                return -EIO;
        return sd_event_source_set_time(c->timer, now + c->set->deadline_usec);
}

/* Writes what the socket takes now: 1 when all is written, 0 for more later, <0 on error. */
static int flush(struct conn *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? 0 : -errno;
                c->out_off += (size_t)n;
        }
        return 1;
}

void conn_reply(struct conn *c, void *buf, size_t len)
{
        free(c->out);
        c->out = buf;
        c->out_len = len;
        c->out_off = 0;
        c->answering = true;
}

/* After an answer was set: write it, or wait for the socket with a fresh deadline. */
static void answer(struct conn *c)
{
        int r = flush(c);
        if (r != 0 || rearm(c) < 0 || sd_event_source_set_io_events(c->io, EPOLLOUT) < 0)
                conn_free(c);
}

void conn_answer_later(struct conn *c, void *buf, size_t len)
{
        conn_reply(c, buf, len);
        c->deferred = false;
        if (sd_event_source_set_enabled(c->io, SD_EVENT_ON) < 0 ||
            sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0) {
                conn_free(c);
                return;
        }
        answer(c);
}

/* Reads what is there, keeping the first passed fd: >0 bytes read, 0 none yet (EAGAIN),
 * <0 end of stream or error. */
static ssize_t read_some(struct conn *c)
{
        if (c->in_len == c->in_cap) {
                size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
                if (cap > c->set->max_in)
                        cap = c->set->max_in;
                uint8_t *p = realloc(c->in, cap);
                if (!p)
                        return -ENOMEM;
                c->in = p;
                c->in_cap = cap;
        }
        struct iovec iov = {.iov_base = c->in + c->in_len, .iov_len = c->in_cap - c->in_len};
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } cm;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
        ssize_t n;
        do
                n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        ctl_take_fds(&mh, &c->passed_fd);
        if (n == 0)
                return -ECONNRESET;
        c->in_len += (size_t)n;
        return n;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct conn *c = ud;
        if (c->answering) {
                int r = flush(c);
                if (r != 0)
                        conn_free(c);
                return 0;
        }
        for (;;) {
                ssize_t n = read_some(c);
                if (n == 0)
                        return 0;
                if (n < 0) {
                        conn_free(c);
                        return 0;
                }
                int r = c->set->on_input(c, c->in, c->in_len, c->set->userdata);
                if (r == 2 && !c->answering) {
                        /* Neither read nor timed out until the owner answers. */
                        c->deferred = true;
                        (void)sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                        (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                        return 0;
                }
                if (r < 0 || (r == 0 && c->in_len >= c->set->max_in) || (r > 0 && !c->answering)) {
                        conn_free(c);
                        return 0;
                }
                if (r > 0) {
                        answer(c);
                        return 0;
                }
        }
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *ud)
{
        struct conn *c = ud;
        struct connset *set = c->set;
        if (set->log_timeouts)
                log_warning("agent: %s: closed a connection that did not %s within %.0f s", set->what,
                            c->answering ? "read its answer" : "send a complete request",
                            (double)set->deadline_usec / 1e6);
        conn_free(c);
        return 0;
}

/* At the limit: the oldest connection still waiting for its request makes room. */
static bool make_room(struct connset *s)
{
        struct conn *oldest = NULL;
        for (struct conn *c = s->conns; c; c = c->next)
                if (!c->answering && !c->deferred)
                        oldest = c;
        if (!oldest)
                return false;
        if (s->log_timeouts)
                log_warning("agent: %s: %u connections open; closed the oldest idle one", s->what, s->n);
        conn_free(oldest);
        return true;
}

static int on_accept(sd_event_source *src, int lfd, uint32_t revents, void *ud)
{
        struct connset *s = ud;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
                return 0;
        if (s->n >= s->max && !make_room(s)) {
                close(fd);
                return 0;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
                close(fd);
                return 0;
        }
        c->set = s;
        c->fd = fd;
        c->passed_fd = -1;
        c->next = s->conns;
        if (c->next)
                c->next->pprev = &c->next;
        c->pprev = &s->conns;
        s->conns = c;
        s->n++;
        if (sd_event_add_io(s->ev, &c->io, fd, EPOLLIN, on_io, c) < 0 ||
            sd_event_add_time_relative(s->ev, &c->timer, CLOCK_MONOTONIC, s->deadline_usec, 0, on_deadline, c) < 0) {
                conn_free(c);
                return 0;
        }
        if (s->on_open) {
                int r = s->on_open(c, s->userdata);
                if (r < 0)
                        conn_free(c);
                else if (c->answering)
                        answer(c);
        }
        return 0;
}

int connset_start(struct connset *s, int listen_fd, berr *e)
{
        s->listen_fd = listen_fd;
        s->conns = NULL;
        s->n = 0;
        int r = sd_event_add_io(s->ev, &s->src, listen_fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return berr_set(e, r, "cannot watch the %s: %s", s->what, strerror(-r));
        (void)sd_event_source_set_description(s->src, s->what);
        return 0;
}

void connset_stop(struct connset *s)
{
        while (s->conns)
                conn_free(s->conns);
        s->src = sd_event_source_disable_unref(s->src);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        s->listen_fd = -1;
}
