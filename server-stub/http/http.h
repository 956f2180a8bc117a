/* SPDX-License-Identifier: Apache-2.0 */
/* http.h — the server's HTTP(S) listener: libmicrohttpd with GnuTLS behind a small API.
 *
 * Only the files of http/ include microhttpd.h and gnutls. A listener calls one handler
 * per request once the whole body is in (in memory up to max_body, or spooled to a file
 * for routes the upload hook selects). The handler answers with exactly one
 * http_reply_*() call. Oversized bodies (413), ambiguous framing (400: conflicting Content-Length headers,
 * Content-Length with Transfer-Encoding) and a path or query that decodes to a NUL or
 * control byte (400) are answered before the handler runs; the handler never sees them.
 * A connection answered before its body was read is drained (http/linger.h), never
 * parsed further.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct http_request;
struct http_server;

typedef void (*http_handler_fn)(void *userdata, struct http_request *r);
/* Called when a request's headers are in, before any body is read: returns 1 to spool the
 * body to a file (bundle uploads), 0 to buffer it in memory, or -1 after answering the
 * request itself (e.g. 401), in which case the body is never read. */
typedef int (*http_spool_fn)(void *userdata, struct http_request *r);

struct http_listen_opts {
        const char *address;            /* "127.0.0.1:8443", "[::1]:0", "0.0.0.0:8443" */
        const char *cert_pem;           /* NULL: plain HTTP */
        const char *key_pem;
        const char *client_ca_pem;      /* request client certificates signed by this CA */
        const char *tls_priorities;     /* GnuTLS priority string; NULL: TLS 1.2 and 1.3 only */
        unsigned threads;               /* thread pool size (epoll); 0 = thread per connection */
        unsigned max_connections;
        unsigned max_per_address;       /* connections from one client address; 0 = no limit */
        unsigned request_timeout;       /* seconds a new connection may stay silent before its first request */
        unsigned idle_timeout;          /* seconds without a byte once a request came (keep-alive, slow bodies) */
        size_t max_body;                /* in-memory request bodies */
        uint64_t max_spool;             /* spooled request bodies */
        const char *spool_dir;
        http_handler_fn handler;
        http_spool_fn spool;
        void *userdata;
};

int http_server_start(const struct http_listen_opts *o, struct http_server **ret, berr *e);
void http_server_stop(struct http_server *s);
unsigned http_server_port(const struct http_server *s);

/* Request accessors; all strings are owned by the request. */
const char *http_method(const struct http_request *r);
const char *http_path(const struct http_request *r);
const char *http_header(const struct http_request *r, const char *name);
const char *http_query(const struct http_request *r, const char *name);
const char *http_body(const struct http_request *r, size_t *len);
/* Path of the spooled body file (NULL unless spooled); the handler may rename it away. */
const char *http_spool_path(const struct http_request *r);
/* Hands the spooled file's path to the caller (who then owns the file and the string). */
char *http_spool_take(struct http_request *r);
/* Common name of a client certificate that verified against the client CA; NULL otherwise. */
const char *http_peer_cn(struct http_request *r);
bool http_is_tls(const struct http_request *r);
/* The local address the request arrived on: the IP literal (IPv6 in brackets) in host,
 * the port in *port, and whether it is a loopback address. -errno when unknown. */
int http_local_address(const struct http_request *r, char *host, size_t size, unsigned *port, bool *loopback);

/* Every 503 and 429 answer carries Retry-After (seconds) unless the handler set one. */
#define HTTP_RETRY_AFTER "10"

/* Adds a header to the coming reply. */
void http_add_header(struct http_request *r, const char *name, const char *value);
/* Replies; each takes ownership of what it is given. */
void http_reply_json(struct http_request *r, unsigned status, json_t *body);
void http_reply_error(struct http_request *r, unsigned status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void http_reply_empty(struct http_request *r, unsigned status);
/* Serves len bytes of fd from off without reading them into memory; takes the fd. */
void http_reply_fd(struct http_request *r, unsigned status, int fd, uint64_t off, uint64_t len);
