/* SPDX-License-Identifier: Apache-2.0 */
/* http.h — berth's one HTTP transport, the only code that includes curl/curl.h.
 *
 * A request is described once (struct http_req_opts) and driven one of two ways: on an
 * sd-event loop (http_loop: libcurl's multi interface, for the agent daemon) or blocking
 * (http_session: one easy handle, for CLI paths and worker threads; one session per
 * thread). Both set up TLS, client certificates, timeouts, the rate cap and unix sockets
 * the same way, refuse to send credentials over plain HTTP unless told otherwise, and
 * translate every failure into a negative errno plus one sentence the same way:
 *
 *   -EHOSTUNREACH  name not resolved          -ECONNREFUSED  nobody listens (-ENOENT: no socket file)
 *   -ETIMEDOUT     connect/stall/deadline     -EKEYREJECTED  server certificate not trusted
 *   -ECONNABORTED  TLS handshake failed       -ECONNRESET    connection broke mid-request
 *   -EFBIG         answer larger than allowed -ECANCELED     cancelled by the caller
 *   -EPERM         credentials refused over plain HTTP
 *   callback errors are passed through unchanged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct sd_event;
struct http_loop;
struct http_req;
struct http_session;

struct http_tls {
        const char *ca_file;    /* NULL = system CAs */
        const char *cert_file;  /* client certificate (PEM), optional */
        const char *key_file;
        bool insecure;          /* no certificate verification (registry.insecure only) */
        const char *ca_setting; /* names the setting in errors, e.g. "server.ca_file" */
};

enum http_version {
        HTTP_VERSION_DEFAULT,           /* HTTP/1.1, or HTTP/2 when TLS ALPN offers it */
        HTTP_VERSION_1_1,
        HTTP_VERSION_2_PRIOR_KNOWLEDGE, /* h2c without upgrade (gRPC on a unix socket) */
};

#define HTTP_ETAG_MAX 128

struct http_response {
        long status;                    /* 0 when no HTTP answer arrived */
        const char *body;               /* collected body, NUL-terminated (NULL when streamed) */
        size_t body_len;
        bool has_content_range;         /* a valid "Content-Range: bytes a-b/n" was received */
        uint64_t range_start, range_end, range_total;
        int64_t retry_after;            /* seconds from Retry-After, -1 when absent */
        char etag[HTTP_ETAG_MAX];       /* ETag header, "" when absent or too long */
        uint64_t bytes_received;        /* body bytes passed on by this request */
        uint64_t bytes_sent;            /* request body bytes sent */
        uint64_t wire_bytes;            /* headers + bodies in both directions (TLS excluded) */
};

/* Body chunk (status known: resp->status). <0 aborts the request with that error. With a
 * rate cap, chunks of a 2xx answer arrive no faster than the cap. HTTP_DATA_PAUSE (loop
 * driver only) takes nothing: the transfer pauses for HTTP_DATA_PAUSE_USEC and the same
 * chunk comes again (resp->bytes_received does not count it meanwhile), so a consumer
 * slower than the link holds the sender back instead of buffering. */
#define HTTP_DATA_PAUSE 1
#define HTTP_DATA_PAUSE_USEC 10000
typedef int (*http_data_fn)(void *userdata, const struct http_response *resp, const void *buf, size_t len);
/* One raw header line ("HTTP/1.1 200 OK", "Name: value", trailers too), CRLF included.
 * <0 aborts the request with that error. */
typedef int (*http_header_fn)(void *userdata, const char *line, size_t len);
/* Fills buf with up to cap bytes of the request body: >0 bytes, 0 at the end, <0 error. */
typedef ssize_t (*http_read_fn)(void *userdata, char *buf, size_t cap);
/* Rewinds the request body to offset (curl resends it on a fresh connection). 0 or <0. */
typedef int (*http_seek_fn)(void *userdata, uint64_t offset);
/* Loop driver: r = 0 when an HTTP answer arrived (any status), else a negative errno
 * with e set. resp and its body are valid during the call only. */
typedef void (*http_done_fn)(void *userdata, int r, const struct http_response *resp, const berr *e);

/* What a class of requests (the rollout server's, say) cost on the network: the TCP
 * payload of the connections they opened, both ways, TLS records, handshakes and
 * retransmissions included (the kernel's TCP_INFO), plus the IP and TCP headers of
 * every segment (52 bytes with IPv4, 72 with IPv6, timestamps on). What a metered link
 * bills, short of the link layer. Loop driver only; updated when a request of the loop
 * ends, when a connection closes, and by http_loop_meter_sync(). */
struct http_meter {
        uint64_t rx, tx;
};

struct http_req_opts {
        const char *method;             /* "GET" default, "HEAD", "POST", "PUT", "PATCH", … */
        const char *url;
        const char *name;               /* how errors name the other end: "registry https://host" (default: the URL) */
        const char *peer;               /* what answers, for hints: "the rollout server", "containerd" */
        const char *unix_socket;        /* connect to this socket instead of the URL's host */
        enum http_version version;
        const char *authorization;      /* value of the Authorization header, optional */
        bool plain_credentials;         /* allow authorization over http:// (tests, insecure setups) */
        const char *content_type;
        const char *accept;             /* Accept header value, optional */
        const char *const *headers;     /* more "Name: value" lines, NULL-terminated, optional */
        const void *body;               /* request body (copied); or: */
        size_t body_len;
        http_read_fn on_read;           /* a streamed body of upload_size bytes */
        http_seek_fn on_seek;
        uint64_t upload_size;           /* with on_read; UINT64_MAX = unknown (chunked / h2 stream) */
        const struct http_tls *tls;
        bool has_range;                 /* Range: bytes=range_start-range_end (inclusive) */
        uint64_t range_start, range_end;
        uint64_t max_recv_speed;        /* body bytes/s, 0 = unlimited (token bucket, see request.c) */
        unsigned stall_seconds;         /* abort when < 1 byte/s for this long; 0 = off */
        uint64_t connect_timeout_ms;    /* 0 = curl's default */
        uint64_t timeout_ms;            /* whole request, 0 = none */
        size_t max_body;                /* collected bodies larger than this fail (-EFBIG); 0 = 1 MiB */
        bool follow_redirects;          /* at most 5; never from https to http */
        bool fresh_connection;          /* no connection reuse (curl #10634: h2c before 8.0) */
        struct http_meter *meter;       /* loop: counts the connections this request opens */
        const int *cancel;              /* blocking: another thread sets *cancel → -ECANCELED */
        http_header_fn on_header;
        http_data_fn on_data;           /* streaming; NULL = collect in memory */
        http_done_fn on_done;           /* loop driver only */
        void *userdata;
};

/* ---- on an sd-event loop ------------------------------------------------------------ */

int http_loop_new(struct sd_event *ev, struct http_loop **ret, berr *e);
/* Cancels every request still running (without callbacks). NULL is fine. */
void http_loop_free(struct http_loop *l);
/* Starts a request; *ret (optional) stays valid until on_done or http_req_cancel. */
int http_start(struct http_loop *l, const struct http_req_opts *o, struct http_req **ret, berr *e);
/* Stops a running request; its on_done is not called. NULL is fine. */
void http_req_cancel(struct http_req *r);
/* Requests in flight. */
unsigned http_running(const struct http_loop *l);
/* Bytes on the wire (headers and bodies, both directions) of every finished request. */
uint64_t http_loop_wire_bytes(const struct http_loop *l);
/* Brings every meter up to date with its open connections. */
void http_loop_meter_sync(struct http_loop *l);

/* ---- blocking ---------------------------------------------------------------------- */

int http_session_new(struct http_session **ret, berr *e);
void http_session_free(struct http_session *s);
/* Performs one request (on_done is not used). Returns 0 when an HTTP answer arrived
 * (any status: see resp->status), else a negative errno with e set. A collected body
 * is owned by resp until http_response_clear(). */
int http_session_perform(struct http_session *s, const struct http_req_opts *o, struct http_response *resp,
                         berr *e);
void http_response_clear(struct http_response *resp);

/* ---- helpers ----------------------------------------------------------------------- */

/* One sentence and errno for an HTTP status that is not what the caller wanted:
 * 401/403 -EACCES, 404/410 -ENOENT, 408/429/5xx -EAGAIN, 413 -EFBIG, 416 -ERANGE,
 * other 4xx -EPROTO. The start of a text body is quoted. */
int http_status_error(const struct http_response *resp, const char *what, berr *e);
/* Parses "bytes a-b/n" (n may be "*"; then *total = UINT64_MAX). 0 or -EBADMSG. Pure. */
int http_parse_content_range(const char *v, uint64_t *start, uint64_t *end, uint64_t *total);
/* Retry-After as seconds: delta-seconds or an HTTP date relative to now; -1 invalid. Pure. */
int64_t http_parse_retry_after(const char *v, int64_t now);
/* Whether libcurl can run HTTP/2 with prior knowledge on a unix socket: 1 when a
 * connection can also be reused between requests (libcurl ≥ 8.0, curl #10634), 0 when
 * each request needs a fresh one, <0 (-EOPNOTSUPP, e set) when it cannot at all. */
int http_h2c_support(berr *e);
/* Percent-encodes s for a URL path segment or query value (malloc'd, NULL on OOM). */
char *http_escape(const char *s);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct http_loop *, http_loop_free)
DEFINE_CLEANUP(struct http_session *, http_session_free)
