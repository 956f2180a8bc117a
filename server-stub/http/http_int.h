/* SPDX-License-Identifier: Apache-2.0 */
/* http_int.h — the listener's state shared by http.c (the request lifecycle) and reply.c
 * (answers and accessors); nothing outside http/ includes it.
 */
#pragma once

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "server-stub/http/http.h"

#define MAX_REPLY_HEADERS 8

struct http_server {
        struct MHD_Daemon *daemon;
        struct http_listen_opts o;
        char *spool_dir;
        bool tls;
        bool client_ca;
        gnutls_datum_t ticket_key;      /* TLS session tickets (resumption) */
        struct linger *linger;
};

/* One per connection (MHD's socket context), from accept to close. */
struct http_conn {
        bool bad_uri;           /* this request's URL decodes to a NUL or control byte */
        bool linger;            /* answered before its body was read: drain before closing */
        bool seen_request;      /* the idle timeout replaced the request timeout */
};

struct http_request {
        struct http_server *srv;
        struct MHD_Connection *conn;
        char *method;
        char *path;
        char *body;
        size_t len, cap;
        int spool_fd;
        char *spool_path;
        uint64_t spooled;
        uint64_t discarded;             /* body bytes read and dropped after too_large */
        bool too_large;
        bool io_error;
        struct MHD_Response *resp;
        unsigned status;
        struct {
                char *name, *value;
        } hdrs[MAX_REPLY_HEADERS];
        size_t n_hdrs;
        bool peer_checked;
        char *peer_cn;
};

/* The state of the connection a request came on (MHD's socket context); NULL if none. */
struct http_conn *http_conn_of(struct MHD_Connection *c);
