/* SPDX-License-Identifier: Apache-2.0 */
/* http.h — asynchronous HTTP(S) client for the agent: libcurl's multi interface driven
 * by an sd-event loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION → io and time sources).
 *
 * The only agent module besides registry/ that includes curl/curl.h; curl's errors are
 * translated here, once, into a negative errno plus one sentence. A request either
 * collects its body in memory (bounded by max_body) or hands every chunk to on_data
 * (downloads). on_done is called exactly once per started request, from the loop,
 * unless the request was cancelled with http_req_cancel().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct sd_event;
struct http_ctx;
struct http_req;

struct http_tls {
        const char *ca_file;    /* NULL = system CAs */
        const char *cert_file;  /* client certificate (PEM), optional */
        const char *key_file;
};

struct http_response {
        long status;                    /* 0 when no HTTP answer arrived */
        const char *body;               /* in-memory body (NUL-terminated), NULL with on_data */
        size_t body_len;
        bool has_content_range;         /* a valid "Content-Range: bytes a-b/n" was received */
        uint64_t range_start, range_end, range_total;
        uint64_t bytes_received;        /* body bytes passed on by this request */
};

/* Body chunk of a streaming request (status known: resp->status). Return <0 to abort
 * the transfer with that error (reported to on_done). */
typedef int (*http_data_fn)(void *userdata, const struct http_response *resp, const void *buf, size_t len);
/* r = 0 when an HTTP answer arrived (any status), else a negative errno with e set. */
typedef void (*http_done_fn)(void *userdata, int r, const struct http_response *resp, const berr *e);

struct http_req_opts {
        const char *method;             /* "GET" default */
        const char *url;
        const char *authorization;      /* value of the Authorization header, optional */
        const char *content_type;
        const void *body;               /* request body (copied) */
        size_t body_len;
        const struct http_tls *tls;
        bool has_range;                 /* Range: bytes=range_start-range_end (inclusive) */
        uint64_t range_start, range_end;
        uint64_t max_recv_speed;        /* body bytes/s, 0 = unlimited (token bucket: the transfer
                                         * is paused, not curl's MAX_RECV_SPEED, see http.c) */
        unsigned stall_seconds;         /* abort when < 1 byte/s for this long; 0 = off */
        unsigned connect_timeout;       /* seconds, 0 = curl default */
        unsigned timeout;               /* whole request, seconds, 0 = none */
        size_t max_body;                /* in-memory bodies larger than this fail (-EFBIG) */
        http_data_fn on_data;           /* streaming; NULL = collect in memory */
        http_done_fn on_done;
        void *userdata;
};

int http_ctx_new(struct sd_event *ev, struct http_ctx **ret, berr *e);
/* Cancels every request still running (without callbacks). NULL is fine. */
void http_ctx_free(struct http_ctx *c);
/* Starts a request; *ret (optional) stays valid until on_done or http_req_cancel. */
int http_start(struct http_ctx *c, const struct http_req_opts *o, struct http_req **ret, berr *e);
/* Stops a running request; its on_done is not called. NULL is fine. */
void http_req_cancel(struct http_req *r);
/* Requests in flight. */
unsigned http_running(const struct http_ctx *c);

/* Parses "bytes a-b/n" (n may be "*"; then *total = UINT64_MAX). 0 or -EBADMSG. Pure. */
int http_parse_content_range(const char *v, uint64_t *start, uint64_t *end, uint64_t *total);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct http_ctx *, http_ctx_free)
