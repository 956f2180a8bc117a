/* SPDX-License-Identifier: Apache-2.0 */
/* discover.h — finding the site's peers on a LAN segment without configuration: small
 * UDP datagrams on a multicast group, each signed with the site key.
 *
 *     WHO     "who serves blobs here?"                    (to the group, before an update)
 *     HELLO   "I serve blobs on TCP port P, and I am ID"  (the answer, to the asker, with
 *             the WHO's nonce: the asker takes only answers to its own question)
 *
 * A datagram is: "BPD1", its kind (1 HELLO, 2 WHO), the sender's TCP port (2 bytes, big
 * endian; 0 in WHO), its time (8 bytes, Unix seconds, big endian), a 16-byte nonce, the
 * id's length (1 byte) and the id (≤ PEER_DISCOVER_ID_MAX bytes, printable ASCII), then
 * an HMAC-SHA256 under the site key of "berth-peer-discover v1" and all the bytes before
 * it. The receiver takes it only with a valid MAC and a time within PEER_AUTH_WINDOW_S of
 * its own; a peer's address is the datagram's source address. Pure: no sockets here.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peers/auth.h"

#define PEER_DISCOVER_GROUP "239.255.66.77:7380"    /* the default group (peers.group) */
#define PEER_DISCOVER_ID_MAX 64
#define PEER_DISCOVER_MAX 160   /* the largest datagram */

enum peer_discover_kind {
        PEER_HELLO = 1,
        PEER_WHO = 2,
};

struct peer_discover_msg {
        enum peer_discover_kind kind;
        uint16_t port;
        uint64_t time;
        uint8_t nonce[PEER_NONCE_LEN];
        char id[PEER_DISCOVER_ID_MAX + 1];
};

/* Writes m into buf (PEER_DISCOVER_MAX bytes); its length, or -EINVAL (bad id). */
int peer_discover_encode(const struct peer_key *key, const struct peer_discover_msg *m, uint8_t *buf);
/* Reads a datagram: 0 with *m, -EBADMSG (not one), -EACCES (MAC: another site key),
 * -ETIME (its time is outside the window around now). */
int peer_discover_decode(const struct peer_key *key, const uint8_t *buf, size_t len, uint64_t now,
                         struct peer_discover_msg *m);
