/* SPDX-License-Identifier: Apache-2.0 */
/* serve.h — a gateway's verified blobs, served to the other gateways of its site.
 *
 *     GET|HEAD /v2/blobs/sha256:<hex>      Authorization: Berth-Peer … (auth.h)
 *
 * answers 200 with the blob, 206 with one range of it (Range: bytes=a-b, a-, -n), 416
 * for a range outside it, 404 when the content store does not hold it (or for any other
 * path: there is no listing, no state, no status), 401 without a valid site-key
 * request, 405 for other methods. Only blobs under STATE/store/blobs are served: they
 * were digest-checked before they were published there, and they are immutable.
 *
 * libmicrohttpd runs it on threads of its own, a thread per connection, so nothing a
 * peer does reaches the agent's event loop. At most max_connections are open (further
 * ones are refused at accept), at most half of them from one address; a connection idle for
 * idle_timeout_s is closed; the bodies of all connections together are paced to `rate`
 * bytes/s, so serving never starves the gateway's own work.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"
#include "peers/auth.h"
#include "store/content.h"

struct peer_serve_opts {
        const char *listen;             /* "ADDR:PORT", "[ADDR6]:PORT", ":PORT" (every address); PORT may be 0 */
        struct peer_key key;
        struct content_store *cs;       /* read from the server's threads: open() by digest only */
        unsigned max_connections;       /* 0 = 4 */
        uint64_t rate;                  /* bytes/s over every connection; 0 = unlimited */
        unsigned idle_timeout_s;        /* 0 = 30 */
        /* Called from a server thread for each refused or failed request (optional): a
         * sentence naming the client's address. */
        void (*on_refusal)(void *userdata, const char *sentence);
        void *userdata;
};

struct peer_serve_stats {
        uint64_t requests;              /* answered, any status */
        uint64_t blobs;                 /* 200/206 answers */
        uint64_t bytes;                 /* body bytes sent */
        uint64_t unauthorized;          /* 401 */
        uint64_t not_found;             /* 404 */
};

struct peer_server;

int peer_serve_start(const struct peer_serve_opts *o, struct peer_server **ret, berr *e);
/* The port it listens on (the real one when the config said 0). */
uint16_t peer_serve_port(const struct peer_server *s);
void peer_serve_stats(struct peer_server *s, struct peer_serve_stats *out);
/* Closes the socket and every connection, and joins the threads. NULL is fine. */
void peer_serve_stop(struct peer_server *s);

/* Parses a listen address as peer_serve_opts.listen takes it. Pure. */
int peer_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, berr *e);
/* Parses a Range header against a blob of size bytes into [*start, *end]: 0, or
 * -ERANGE when it is not one satisfiable byte range. Pure. */
int peer_parse_range(const char *v, uint64_t size, uint64_t *start, uint64_t *end);
