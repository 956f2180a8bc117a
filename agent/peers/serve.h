/* SPDX-License-Identifier: Apache-2.0 */
/* serve.h — a gateway's verified blobs, served to the other gateways of its site.
 *
 *     GET|HEAD /v2/blobs/sha256:<hex>      Authorization: Berth-Peer … (auth.h)
 *     GET /v2/heads/<name>/<version>      (with head_fn: an installed bundle's signed head)
 *
 * answers 200 with the blob, 206 with one range of it (Range: bytes=a-b, a-, -n), 416
 * for a range outside it, 404 when the content store does not hold it (or for any other
 * path: there is no listing, no state, no status), 401 without a valid site-key
 * request, 503 when more requests came within the replay window than it holds, 405 for
 * other methods. The blobs under STATE/store/blobs were digest-checked
 * before they were published there, and they are immutable.
 *
 * A blob this gateway is still to fetch can be announced (peer_serve_announce): wanted
 * (the update in progress needs it) or fetching (its bytes are arriving in
 * STATE/store/partial/<hex>.part). A GET of such a blob is answered 200 at once and its
 * body follows the download as the bytes arrive, waiting (up to PEER_SERVE_WAIT_S without
 * a byte) for a wanted one to start; if the download is given up the body is cut. So
 * gateways that start an update together follow the one that fetches over the WAN
 * instead of all going there. The follower checks the digest, as always. Every answer
 * names the blob's state here (header Berth-Blob: complete, fetching, wanted) and this
 * gateway (Berth-Peer: its id).
 *
 * libmicrohttpd runs it on threads of its own, a thread per connection, so nothing a
 * peer does reaches the agent's event loop. At most max_connections are open (further
 * ones are refused at accept), all but one at most from one address; a connection idle for
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

#define PEER_SERVE_WAIT_S 20       /* below the 30 s idle timeout of a connection */

enum peer_blob_state {
        PEER_BLOB_NONE,                 /* not announced (withdrawn) */
        PEER_BLOB_WANTED,               /* the update in progress will fetch it */
        PEER_BLOB_FETCHING,             /* its bytes are arriving in its partial file */
};

struct peer_serve_opts {
        const char *id;                 /* this gateway, as peers see it (Berth-Peer), e.g. the controller id */
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
        /* Optional (for `berth import --from-peers`): the signed head of installed bundle
         * name/version as the first entries of a .berth (manifest.json, signatures.json,
         * roots.json with the trust roots this gateway holds), in *ret (malloc'd): 0, or
         * -ENOENT when it is not installed here. Called from a server thread; name
         * is checked against bundle name rules first. The requester verifies it
         * against its own trust root, as a USB import. */
        int (*head_fn)(void *userdata, const char *name, int64_t version, void **ret, size_t *ret_len);
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
/* Announces a blob this gateway does not hold yet (size: its size in the manifest), or
 * withdraws it (PEER_BLOB_NONE: published, or given up: bodies following it end). A
 * published blob is served from the store whatever was announced. Thread-safe. */
int peer_serve_announce(struct peer_server *s, const char *digest, uint64_t size, enum peer_blob_state state);
/* Withdraws every announcement (the update ended). */
void peer_serve_withdraw_all(struct peer_server *s);

/* Parses "<name>/<version>" of a head path into name (bundle name characters, at most
 * BUNDLE_MAX_NAME_LEN) and version: 0 or -EINVAL. Pure. */
int peer_parse_head_path(const char *p, char *name /* BUNDLE_MAX_NAME_LEN + 1 */, int64_t *version);
/* Parses a listen address as peer_serve_opts.listen takes it. Pure. */
int peer_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, berr *e);
/* Parses a Range header against a blob of size bytes into [*start, *end]: 0, or
 * -ERANGE when it is not one satisfiable byte range. Pure. */
int peer_parse_range(const char *v, uint64_t size, uint64_t *start, uint64_t *end);
