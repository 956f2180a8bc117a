/* SPDX-License-Identifier: Apache-2.0 */
/* http.c — libcurl multi interface on sd-event (see http.h).
 *
 * curl tells us which sockets to watch (socket_cb) and when to wake it (timer_cb); we
 * map those onto sd-event io and time sources and call curl_multi_socket_action() from
 * them. Finished transfers are collected with curl_multi_info_read() after every
 * action, outside curl's own callbacks, so on_done may start or cancel requests.
 */
#include "http/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <systemd/sd-event.h>
#include <time.h>

#define ERROR_BODY_MAX (64u * 1024) /* non-2xx bodies of streaming requests (error text) */

struct http_ctx {
        sd_event *ev;
        CURLM *multi;
        sd_event_source *timer;
        struct http_req *reqs;  /* doubly linked list of running requests */
        unsigned n;
};

struct http_req {
        struct http_ctx *ctx;
        struct http_req *prev, *next;
        CURL *easy;
        struct curl_slist *headers;
        char *url, *auth_hdr, *ctype_hdr, *range_hdr, *method, *body;
        char *ca, *cert, *key;
        size_t body_len;
        char *buf;
        size_t len, cap, max;
        uint64_t rate;          /* bytes/s cap for the body, 0 = none */
        uint64_t start_usec;    /* CLOCK_MONOTONIC when the first body byte arrived */
        sd_event_source *resume; /* wakes a transfer paused by the rate limit */
        int data_error;         /* error returned by on_data */
        char errbuf[CURL_ERROR_SIZE];
        struct http_response resp;
        http_data_fn on_data;
        http_done_fn on_done;
        void *userdata;
};

int http_parse_content_range(const char *v, uint64_t *start, uint64_t *end, uint64_t *total)
{
        if (!v)
                return -EBADMSG;
        while (*v == ' ' || *v == '\t')
                v++;
        if (strncasecmp(v, "bytes ", 6))
                return -EBADMSG;
        v += 6;
        while (*v == ' ')
                v++;
        if (*v < '0' || *v > '9')
                return -EBADMSG;
        char *p;
        errno = 0;
        unsigned long long a = strtoull(v, &p, 10);
        if (errno || *p != '-' || p[1] < '0' || p[1] > '9')
                return -EBADMSG;
        unsigned long long b = strtoull(p + 1, &p, 10);
        if (errno || *p != '/' || b < a)
                return -EBADMSG;
        p++;
        unsigned long long n = UINT64_MAX;
        if (*p == '*')
                p++;
        else {
                if (*p < '0' || *p > '9')
                        return -EBADMSG;
                n = strtoull(p, &p, 10);
                if (errno || b >= n)
                        return -EBADMSG;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
        if (*p)
                return -EBADMSG;
        *start = a;
        *end = b;
        *total = n;
        return 0;
}

static void req_free(struct http_req *r)
{
        if (!r)
                return;
        sd_event_source_disable_unref(r->resume);
        if (r->easy) {
                if (r->ctx)
                        curl_multi_remove_handle(r->ctx->multi, r->easy);
                curl_easy_cleanup(r->easy);
        }
        curl_slist_free_all(r->headers);
        free(r->url);
        free(r->auth_hdr);
        free(r->ctype_hdr);
        free(r->range_hdr);
        free(r->method);
        free(r->body);
        free(r->ca);
        free(r->cert);
        free(r->key);
        free(r->buf);
        free(r);
}

static void unlink_req(struct http_req *r)
{
        struct http_ctx *c = r->ctx;
        if (r->prev)
                r->prev->next = r->next;
        else if (c->reqs == r)
                c->reqs = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
        c->n--;
}

void http_req_cancel(struct http_req *r)
{
        if (!r)
                return;
        unlink_req(r);
        req_free(r);
}

unsigned http_running(const struct http_ctx *c)
{
        return c ? c->n : 0;
}

/* curl error → negative errno + sentence naming the URL. */
static int translate(struct http_req *r, CURLcode cc, berr *e)
{
        const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
        int code;
        const char *hint;
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                code = -EHOSTUNREACH, hint = "check the server URL and DNS";
                break;
        case CURLE_COULDNT_CONNECT:
                code = -ECONNREFUSED, hint = "is the server up and reachable?";
                break;
        case CURLE_OPERATION_TIMEDOUT:
                code = -ETIMEDOUT, hint = "the link stalled or is too slow; will retry";
                break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                code = -EKEYREJECTED, hint = "the server's certificate is not trusted: check the CA file (ca_file)";
                break;
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CONNECT_ERROR:
                code = -ECONNABORTED, hint = "TLS handshake failed: check the CA file, client certificate and key";
                break;
        case CURLE_WRITE_ERROR:
                if (r->data_error)
                        return r->data_error; /* on_data already said why */
                code = -EIO, hint = "";
                break;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_FILESIZE_EXCEEDED:
                code = -EFBIG, hint = "the answer is larger than allowed";
                break;
        default:
                code = -ECONNRESET, hint = "the connection broke; will retry";
                break;
        }
        if (r->data_error == -EFBIG)
                return berr_set(e, -EFBIG, "%s %s: the answer is larger than %zu bytes", r->method, r->url, r->max);
        return berr_set(e, code, "%s %s: %s%s%s", r->method, r->url, detail, *hint ? "; " : "", hint);
}

static void check_done(struct http_ctx *c)
{
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                struct http_req *r = NULL;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
                if (!r)
                        continue;
                CURLcode cc = m->data.result;
                long st = 0;
                curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
                r->resp.status = st;
                if (r->buf) {
                        r->buf[r->len] = 0;
                        r->resp.body = r->buf;
                        r->resp.body_len = r->len;
                }
                unlink_req(r);
                berr e = {0};
                int rv = 0;
                if (cc != CURLE_OK)
                        rv = translate(r, cc, &e);
                /* The request leaves the multi before the callback, which may start others. */
                curl_multi_remove_handle(c->multi, r->easy);
                r->ctx = NULL;
                if (r->on_done)
                        r->on_done(r->userdata, rv, &r->resp, &e);
                req_free(r);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct http_ctx *c = ud;
        int action = 0, running;
        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        curl_multi_socket_action(c->multi, fd, action, &running);
        check_done(c);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        struct http_ctx *c = ud;
        int running;
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(c);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *ud, void *socketp)
{
        struct http_ctx *c = ud;
        sd_event_source *s = socketp;
        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        sd_event_source_disable_unref(s);
                        curl_multi_assign(c->multi, fd, NULL);
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
        if (sd_event_add_io(c->ev, &s, fd, events, on_io, c) < 0)
                return -1;
        (void)sd_event_source_set_description(s, "curl-socket");
        curl_multi_assign(c->multi, fd, s);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *ud)
{
        struct http_ctx *c = ud;
        if (timeout_ms < 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        uint64_t now;
        if (sd_event_now(c->ev, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        /* timeout 0 means "as soon as possible": the source fires on the next iteration. */
        if (sd_event_source_set_time(c->timer, now + (uint64_t)timeout_ms * 1000) < 0 ||
            sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

int http_ctx_new(struct sd_event *ev, struct http_ctx **ret, berr *e)
{
        static bool global_done;
        if (!global_done) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return berr_set(e, -EIO, "cannot initialise libcurl");
                global_done = true;
        }
        struct http_ctx *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->ev = sd_event_ref(ev);
        c->multi = curl_multi_init();
        int r = c->multi ? 0 : -ENOMEM;
        if (r >= 0)
                /* accuracy 1 µs: the default (250 ms) would delay curl's timers, e.g. rate limiting */
                r = sd_event_add_time(ev, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, c);
        if (r < 0) {
                http_ctx_free(c);
                return berr_set(e, r, "cannot set up the HTTP client: %s", strerror(-r));
        }
        (void)sd_event_source_set_description(c->timer, "curl-timer");
        (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
        *ret = c;
        return 0;
}

void http_ctx_free(struct http_ctx *c)
{
        if (!c)
                return;
        while (c->reqs)
                http_req_cancel(c->reqs);
        if (c->multi)
                curl_multi_cleanup(c->multi);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->ev);
        free(c);
}

static size_t header_cb(char *data, size_t size, size_t n, void *ud)
{
        struct http_req *r = ud;
        size_t len = size * n;
        if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
                /* A new response (redirect or 100-continue): forget the previous headers. */
                r->resp.has_content_range = false;
                return len;
        }
        if (len > 14 && !strncasecmp(data, "Content-Range:", 14)) {
                char v[128];
                size_t vl = len - 14 < sizeof v - 1 ? len - 14 : sizeof v - 1;
                memcpy(v, data + 14, vl);
                v[vl] = 0;
                r->resp.has_content_range =
                        http_parse_content_range(v, &r->resp.range_start, &r->resp.range_end, &r->resp.range_total) == 0;
        }
        return len;
}

static int buf_append(struct http_req *r, const void *p, size_t len, size_t max)
{
        if (r->len + len > max)
                return -EFBIG;
        if (r->len + len + 1 > r->cap) {
                size_t nc = r->cap ? r->cap * 2 : 4096;
                while (nc < r->len + len + 1)
                        nc *= 2;
                if (nc > max + 1)
                        nc = max + 1;
                char *nb = realloc(r->buf, nc);
                if (!nb)
                        return -ENOMEM;
                r->buf = nb;
                r->cap = nc;
        }
        memcpy(r->buf + r->len, p, len);
        r->len += len;
        return 0;
}

static uint64_t mono_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int on_resume(sd_event_source *s, uint64_t usec, void *ud)
{
        struct http_req *r = ud;
        struct http_ctx *c = r->ctx;
        /* curl may hand over the held-back chunk right here (write_cb may pause again). */
        curl_easy_pause(r->easy, CURLPAUSE_CONT);
        if (c)
                check_done(c);
        return 0;
}

/* Token bucket on the body: the average since the first byte never exceeds the rate
 * by more than one burst. curl's own CURLOPT_MAX_RECV_SPEED_LARGE is not used: with
 * the multi interface it reads everything the socket holds in one go (up to ~1.6 MB)
 * before it looks at the limit, so low caps were overshot by far. Returns the
 * microseconds to wait before len more bytes may be taken, 0 = now. */
static uint64_t rate_wait(struct http_req *r, size_t len)
{
        uint64_t now = mono_usec();
        if (!r->start_usec)
                r->start_usec = now;
        uint64_t burst = r->rate / 8 < 16384 ? 16384 : r->rate / 8;
        uint64_t allowed = (now - r->start_usec) * r->rate / 1000000 + burst;
        uint64_t want = r->resp.bytes_received + len;
        if (want <= allowed)
                return 0;
        return (want - allowed) * 1000000 / r->rate + 1;
}

static size_t write_cb(char *data, size_t size, size_t n, void *ud)
{
        struct http_req *r = ud;
        size_t len = size * n;
        long st = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
        r->resp.status = st;
        int k;
        if (r->on_data && st >= 200 && st < 300 && r->rate) {
                uint64_t wait = rate_wait(r, len);
                if (wait) {
                        /* Not taken: curl delivers the same chunk again after the pause. */
                        if (r->resume)
                                (void)sd_event_source_set_time_relative(r->resume, wait);
                        else if (sd_event_add_time_relative(r->ctx->ev, &r->resume, CLOCK_MONOTONIC, wait, 1000,
                                                            on_resume, r) < 0)
                                return 0; /* cannot wait: abort rather than ignore the cap */
                        (void)sd_event_source_set_enabled(r->resume, SD_EVENT_ONESHOT);
                        return CURL_WRITEFUNC_PAUSE;
                }
        }
        if (r->on_data && st >= 200 && st < 300) {
                r->resp.bytes_received += len;
                k = r->on_data(r->userdata, &r->resp, data, len);
        } else
                k = buf_append(r, data, len, r->on_data ? ERROR_BODY_MAX : r->max);
        if (k < 0) {
                r->data_error = k;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        if (!r->on_data)
                r->resp.bytes_received += len;
        return len;
}

static char *strdup_or_null(const char *s, bool *oom)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

int http_start(struct http_ctx *c, const struct http_req_opts *o, struct http_req **ret, berr *e)
{
        if (!o->url || !o->on_done)
                return -EINVAL;
        struct http_req *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        bool oom = false;
        r->url = strdup_or_null(o->url, &oom);
        r->method = strdup_or_null(o->method ? o->method : "GET", &oom);
        if (o->tls) {
                r->ca = strdup_or_null(o->tls->ca_file, &oom);
                r->cert = strdup_or_null(o->tls->cert_file, &oom);
                r->key = strdup_or_null(o->tls->key_file, &oom);
        }
        if (o->authorization && asprintf(&r->auth_hdr, "Authorization: %s", o->authorization) < 0)
                r->auth_hdr = NULL, oom = true;
        if (o->content_type && asprintf(&r->ctype_hdr, "Content-Type: %s", o->content_type) < 0)
                r->ctype_hdr = NULL, oom = true;
        if (o->has_range && asprintf(&r->range_hdr, "%" PRIu64 "-%" PRIu64, o->range_start, o->range_end) < 0)
                r->range_hdr = NULL, oom = true;
        if (o->body_len) {
                r->body = malloc(o->body_len);
                if (r->body)
                        memcpy(r->body, o->body, o->body_len);
                else
                        oom = true;
                r->body_len = o->body_len;
        }
        r->easy = curl_easy_init();
        if (oom || !r->easy) {
                req_free(r);
                return -ENOMEM;
        }
        r->max = o->max_body ? o->max_body : 1024 * 1024;
        r->on_data = o->on_data;
        r->on_done = o->on_done;
        r->userdata = o->userdata;

        CURL *h = r->easy;
        curl_easy_setopt(h, CURLOPT_URL, r->url);
        curl_easy_setopt(h, CURLOPT_PRIVATE, r);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "berth-agent/" BERTH_VERSION);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
        if (r->ca)
                curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
        if (r->cert)
                curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert);
        if (r->key)
                curl_easy_setopt(h, CURLOPT_SSLKEY, r->key);
        if (r->range_hdr)
                curl_easy_setopt(h, CURLOPT_RANGE, r->range_hdr);
        r->rate = o->max_recv_speed;
        if (o->stall_seconds) {
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)o->stall_seconds);
        }
        if (o->connect_timeout)
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout);
        if (o->timeout)
                curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)o->timeout);
        if (r->auth_hdr && !(r->headers = curl_slist_append(r->headers, r->auth_hdr)))
                oom = true;
        if (!oom && !(r->headers = curl_slist_append(r->headers, "Accept: application/hal+json, application/json, */*")))
                oom = true;
        if (!oom && r->ctype_hdr && !(r->headers = curl_slist_append(r->headers, r->ctype_hdr)))
                oom = true;
        /* No "Expect: 100-continue" round trip for small JSON bodies. */
        if (!oom && !(r->headers = curl_slist_append(r->headers, "Expect:")))
                oom = true;
        if (oom) {
                req_free(r);
                return -ENOMEM;
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
        if (!strcmp(r->method, "GET"))
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        else if (!strcmp(r->method, "HEAD"))
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        }
        r->ctx = c;
        if (curl_multi_add_handle(c->multi, h) != CURLM_OK) {
                r->ctx = NULL;
                req_free(r);
                return berr_set(e, -EIO, "cannot start HTTP request to %s", o->url);
        }
        r->next = c->reqs;
        if (c->reqs)
                c->reqs->prev = r;
        c->reqs = r;
        c->n++;
        if (ret)
                *ret = r;
        return 0;
}
