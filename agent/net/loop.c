/* SPDX-License-Identifier: Apache-2.0 */
/* loop.c — the sd-event driver of net/http.h: libcurl's multi interface.
 *
 * curl tells us which sockets to watch (socket_cb) and when to wake it (timer_cb); we map
 * those onto sd-event io and time sources and call curl_multi_socket_action() from them.
 * Finished transfers are collected with curl_multi_info_read() after every action,
 * outside curl's own callbacks, so on_done may start or cancel requests. The multi keeps
 * connections and a share keeps TLS sessions and DNS answers between requests, so a
 * poll after a short sleep reuses its connection and a later one resumes its TLS session.
 */
#include "net/http_int.h"

#include <errno.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

/* A metered connection and what its counters said when last read. */
struct msock {
        curl_socket_t fd;
        unsigned hdr;                   /* IP + TCP header bytes per segment */
        struct http_meter *meter;
        uint64_t rx, tx;                /* as counted into meter so far */
};

struct http_loop {
        sd_event *ev;
        CURLM *multi;
        CURLSH *share;
        sd_event_source *timer;
        struct http_req *reqs;  /* doubly linked list of running requests */
        unsigned n;
        uint64_t wire_bytes;
        struct msock *socks;
        size_t n_socks;
};

/* ---- meters --------------------------------------------------------------------------- */

static void msock_sync(struct msock *m)
{
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (getsockopt(m->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
                return;
        /* bytes_sent counts retransmissions too (Linux 4.19); bytes_acked before it. */
        uint64_t sent = len > offsetof(struct tcp_info, tcpi_bytes_sent) && ti.tcpi_bytes_sent ? ti.tcpi_bytes_sent
                                                                                                : ti.tcpi_bytes_acked;
        uint64_t rx = ti.tcpi_bytes_received + (uint64_t)ti.tcpi_segs_in * m->hdr;
        uint64_t tx = sent + (uint64_t)ti.tcpi_segs_out * m->hdr;
        if (rx > m->rx)
                m->meter->rx += rx - m->rx, m->rx = rx;
        if (tx > m->tx)
                m->meter->tx += tx - m->tx, m->tx = tx;
}

void http_loop_meter_sync(struct http_loop *l)
{
        for (size_t i = 0; l && i < l->n_socks; i++)
                msock_sync(&l->socks[i]);
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
        struct http_req *r = ud;
        curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        if (fd < 0 || purpose != CURLSOCKTYPE_IPCXN || !r->loop || !r->meter ||
            (a->family != AF_INET && a->family != AF_INET6))
                return fd;
        struct http_loop *l = r->loop;
        struct msock *n = realloc(l->socks, (l->n_socks + 1) * sizeof *n);
        if (!n)
                return fd; /* uncounted rather than failed */
        l->socks = n;
        l->socks[l->n_socks++] = (struct msock) {.fd = fd, .hdr = a->family == AF_INET6 ? 72 : 52, .meter = r->meter};
        return fd;
}

static int close_socket(void *ud, curl_socket_t fd)
{
        struct http_loop *l = ud;
        for (size_t i = 0; i < l->n_socks; i++)
                if (l->socks[i].fd == fd) {
                        msock_sync(&l->socks[i]);
                        l->socks[i] = l->socks[--l->n_socks];
                        break;
                }
        return close(fd);
}

static void req_free(struct http_req *r)
{
        if (!r)
                return;
        sd_event_source_disable_unref(r->resume);
        if (r->easy) {
                if (r->loop)
                        curl_multi_remove_handle(r->loop->multi, r->easy);
                curl_easy_cleanup(r->easy);
        }
        req_clear(r);
        free(r);
}

static void unlink_req(struct http_req *r)
{
        struct http_loop *l = r->loop;
        if (r->prev)
                r->prev->next = r->next;
        else if (l->reqs == r)
                l->reqs = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
        l->n--;
}

void http_req_cancel(struct http_req *r)
{
        if (!r)
                return;
        unlink_req(r);
        req_free(r);
}

unsigned http_running(const struct http_loop *l)
{
        return l ? l->n : 0;
}

uint64_t http_loop_wire_bytes(const struct http_loop *l)
{
        return l ? l->wire_bytes : 0;
}

/* A finished transfer: out of the multi, then its callback, which may start others. */
static void finish(struct http_loop *l, struct http_req *r, CURLcode cc)
{
        unlink_req(r);
        berr e = {0};
        int rv = req_result(r, cc, &e);
        l->wire_bytes += r->resp.wire_bytes;
        http_loop_meter_sync(l);
        curl_multi_remove_handle(l->multi, r->easy);
        r->loop = NULL;
        if (r->on_done)
                r->on_done(r->userdata, rv, &r->resp, &e);
        req_free(r);
}

static void check_done(struct http_loop *l)
{
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(l->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                struct http_req *r = NULL;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
                if (r)
                        finish(l, r, m->data.result);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct http_loop *l = ud;
        int action = 0, running;
        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        curl_multi_socket_action(l->multi, fd, action, &running);
        check_done(l);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        struct http_loop *l = ud;
        int running;
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(l);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *ud, void *socketp)
{
        struct http_loop *l = ud;
        sd_event_source *s = socketp;
        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        sd_event_source_disable_unref(s);
                        curl_multi_assign(l->multi, fd, NULL);
                }
                return 0;
        }
        uint32_t events = 0;
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;
        if (s) {
                if (sd_event_source_set_io_events(s, events) < 0)
                        return -1;
                return sd_event_source_set_enabled(s, SD_EVENT_ON) < 0 ? -1 : 0;
        }
        if (sd_event_add_io(l->ev, &s, fd, events, on_io, l) < 0)
                return -1;
        (void)sd_event_source_set_description(s, "curl-socket");
        curl_multi_assign(l->multi, fd, s);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *ud)
{
        struct http_loop *l = ud;
        if (timeout_ms < 0)
                return sd_event_source_set_enabled(l->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        uint64_t now;
        if (sd_event_now(l->ev, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        /* timeout 0 means "as soon as possible": the source fires on the next iteration. */
        if (sd_event_source_set_time(l->timer, now + (uint64_t)timeout_ms * 1000) < 0 ||
            sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static int on_resume(sd_event_source *s, uint64_t usec, void *ud)
{
        struct http_req *r = ud;
        struct http_loop *l = r->loop;
        /* curl may hand over the held-back chunk right here (write_cb may pause again). */
        CURLcode cc = curl_easy_pause(r->easy, CURLPAUSE_CONT);
        if (!l)
                return 0;
        if (cc != CURLE_OK) {
                /* The held-back chunk was refused (the download is complete and stops
                 * early, or the disk is full): the transfer ended inside the call, but
                 * curl reports it through the multi only when something drives this
                 * handle again, and an idle connection never does. Finish it here. */
                finish(l, r, cc);
                return 0;
        }
        /* Then let curl run the transfer now: bytes it already holds (in the TLS layer, or
         * the rest of a response the server finished sending) make no socket event, and
         * waiting for curl's next timer left a capped download idle until the connect
         * timeout fired. */
        int running;
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(l);
        return 0;
}

int http_loop_pause(struct http_req *r, uint64_t wait_usec)
{
        sd_event_source **s = (sd_event_source **)&r->resume;
        if (*s)
                (void)sd_event_source_set_time_relative(*s, wait_usec);
        else if (sd_event_add_time_relative(r->loop->ev, s, CLOCK_MONOTONIC, wait_usec, 1000, on_resume, r) < 0)
                return -ENOMEM;
        (void)sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
        return 0;
}

int http_loop_new(struct sd_event *ev, struct http_loop **ret, berr *e)
{
        int r = http_global_init(e);
        if (r < 0)
                return r;
        struct http_loop *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->ev = sd_event_ref(ev);
        l->multi = curl_multi_init();
        l->share = curl_share_init();
        r = l->multi && l->share ? 0 : -ENOMEM;
        if (r >= 0)
                /* accuracy 1 µs: the default (250 ms) would delay curl's timers, e.g. rate limiting */
                r = sd_event_add_time(ev, &l->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, l);
        if (r < 0) {
                http_loop_free(l);
                return berr_set(e, r, "cannot set up the HTTP client: %s", strerror(-r));
        }
        (void)sd_event_source_set_description(l->timer, "curl-timer");
        (void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
        curl_share_setopt(l->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(l->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
        curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
        *ret = l;
        return 0;
}

void http_loop_free(struct http_loop *l)
{
        if (!l)
                return;
        while (l->reqs)
                http_req_cancel(l->reqs);
        if (l->multi)
                curl_multi_cleanup(l->multi);
        if (l->share)
                curl_share_cleanup(l->share);
        sd_event_source_disable_unref(l->timer);
        sd_event_unref(l->ev);
        free(l->socks);
        free(l);
}

int http_start(struct http_loop *l, const struct http_req_opts *o, struct http_req **ret, berr *e)
{
        if (!o->on_done)
                return berr_set(e, -EINVAL, "an HTTP request on the loop needs on_done");
        struct http_req *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        CURL *h = curl_easy_init();
        if (!h) {
                free(r);
                return -ENOMEM;
        }
        int k = req_setup(r, h, o, e);
        if (k < 0) {
                r->easy = h;
                req_free(r);
                return k;
        }
        curl_easy_setopt(h, CURLOPT_SHARE, l->share);
        if (o->meter) {
                r->meter = o->meter;
                curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
                curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, r);
        }
        /* Every connection of the loop closes through it: a metered one may be closed
         * by any later request, or by the multi's cleanup. */
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, l);
        r->loop = l;
        if (curl_multi_add_handle(l->multi, h) != CURLM_OK) {
                r->loop = NULL;
                req_free(r);
                return berr_set(e, -EIO, "cannot start HTTP request to %s", o->url);
        }
        r->next = l->reqs;
        if (l->reqs)
                l->reqs->prev = r;
        l->reqs = r;
        l->n++;
        if (ret)
                *ret = r;
        return 0;
}
