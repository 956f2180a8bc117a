/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h — who may fetch blobs from a gateway's peer server: holders of the site key.
 *
 * A request carries one header,
 *
 *     Authorization: Berth-Peer v=1, t=UNIX_SECONDS, n=NONCE, mac=HMAC
 *
 * NONCE 16 random bytes and HMAC an HMAC-SHA256 under the 32-byte site key, both in
 * lower-case hex, over "berth-peer v1\n" METHOD "\n" PATH "\n" RANGE "\n" t "\n" n (RANGE
 * the Range header's value, "" without one). The server accepts a request whose time is
 * within PEER_AUTH_WINDOW_S of its own and whose nonce it has not accepted in that window:
 * a captured request cannot be replayed, nor turned into another one (other blob, other
 * range). The key never travels. Nothing here does I/O but peer_key_load(); the caller
 * passes the time and the randomness, so the module is deterministic under test.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PEER_KEY_LEN 32
#define PEER_NONCE_LEN 16
#define PEER_AUTH_WINDOW_S 30
/* "Berth-Peer v=1, t=" + 20 digits + ", n=" + 32 + ", mac=" + 64 + NUL */
#define PEER_AUTH_MAX 160

struct peer_key {
        uint8_t k[PEER_KEY_LEN];
};

/* Parses 64 hex digits (surrounding white space allowed); -EINVAL with a sentence. */
int peer_key_parse(const char *text, size_t len, struct peer_key *key, berr *e);
/* Reads the site key file: owned by this user, not readable by group or others, one key
 * as peer_key_parse() takes it. */
int peer_key_load(const char *path, struct peer_key *key, berr *e);

/* Writes the Authorization header value for a request into out. -EINVAL when method,
 * path or range holds a control character (they could not be told apart). */
int peer_auth_sign(const struct peer_key *key, const char *method, const char *path, const char *range,
                   uint64_t now, const uint8_t nonce[PEER_NONCE_LEN], char out[PEER_AUTH_MAX]);

/* The nonces a server accepted within the window. */
struct peer_replay;
/* capacity: how many requests the window may hold (rounded up to a power of two). */
int peer_replay_new(size_t capacity, struct peer_replay **ret);
void peer_replay_free(struct peer_replay *rp);

/* Remembers a nonce seen with time t (now: this gateway's clock): 0, or -ETIME (t outside
 * the window), -EALREADY (seen within it), -EBUSY (the window is full). For messages
 * that carry their own MAC (peers/discover.h). */
int peer_replay_check(struct peer_replay *rp, const uint8_t nonce[PEER_NONCE_LEN], uint64_t t, uint64_t now);

/* Checks header (NULL: none) for a request. 0: accepted, and its nonce is remembered.
 * Otherwise, with a sentence for the server's log (the client gets only a status):
 * -EACCES no header, not a Berth-Peer header, or a MAC that does not match (wrong key,
 * or another request's); -ETIME a time outside the window (the clocks differ, or a
 * replay after the window); -EALREADY a nonce already accepted (a replay); -EBUSY the
 * window holds `capacity` requests already. */
int peer_auth_verify(const struct peer_key *key, struct peer_replay *rp, const char *header, const char *method,
                     const char *path, const char *range, uint64_t now, berr *e);
