/* SPDX-License-Identifier: Apache-2.0 */
/* peers.h — the agent's site peers ([peers]; agent/peers/README.md): the blob server it
 * runs for the other gateways, and where the update finds a missing blob on the plant
 * network before it goes to the WAN.
 *
 * Before an update's blobs are fetched, every peer of the static list is asked (HEAD,
 * signed with the site key) for every missing blob; the answers say which peer holds
 * which blob. update_fetch.c then fetches each blob a peer holds from that peer, and the
 * rest, or what no peer could deliver, from the rollout server. Whatever served it, a
 * blob is stored only once its digest matches. A peer that serves bytes that do not
 * verify, refuses the site key or cannot be reached is avoided for a while.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/manifest.h"
#include "fetch/plan.h"
#include "peers/auth.h"

struct agent;
struct peer_server;
struct http_req;

#define PEERS_MAX 32

struct peer_entry {
        char host[64];                  /* as configured: "10.0.0.5:7379", "[fd00::5]:7379" */
        uint64_t avoid_until_usec;      /* monotonic; 0 = usable */
        uint64_t bytes, blobs, failures;
};

/* One blob's holders, from the last locate. */
struct peer_holding {
        char digest[72];
        uint32_t mask;                  /* bit i: peers.list[i] has it */
};

struct peers_state {
        bool enabled;                   /* a site key and something to do with it */
        struct peer_key key;
        struct peer_server *server;     /* NULL: not serving */
        struct peer_entry list[PEERS_MAX];
        size_t n;
        /* the locate of the update in progress */
        struct peer_holding *hold;
        size_t n_hold;
        char located_for[80];           /* action id the holdings are for */
        struct http_req **probes;
        size_t n_probes, probes_left, next_pair;
        void (*located)(struct agent *a);
        /* process counters for metrics */
        uint64_t fetched_bytes, fetched_blobs, failures;
};

int peers_start(struct agent *a, berr *e);
void peers_stop(struct agent *a);

/* Asks every usable peer for the missing blobs of plan (HEAD each); calls done once the
 * answers are in (or after a few seconds). 0 when nothing needs asking (no peers, or
 * already located for this action): done is then not called. */
int peers_locate(struct agent *a, const struct bundle_manifest *m, const struct fetch_range *plan, size_t n,
                 void (*done)(struct agent *a));
/* Forgets the holdings and stops a locate in flight (the action ended). */
void peers_forget(struct agent *a);
/* The first usable peer at index ≥ from that holds digest, or -1. */
int peers_holder(struct agent *a, const char *digest, size_t from);
/* Bytes of plan that usable peers hold (the budget counts only the rest). */
uint64_t peers_held_bytes(struct agent *a, const struct bundle_manifest *m, const struct fetch_range *plan, size_t n);
/* The URL of digest on peer i into url (n bytes). */
void peers_blob_url(struct agent *a, size_t i, const char *digest, char *url, size_t n);
/* A download's authorize hook (fetch/download.h): ud = the blob URL's path. */
int peers_authorize(void *ud, const char *range, char *out, size_t n);
/* Peer i served (part of) a blob: bytes (and blob = 1 when it completed one). */
void peers_served(struct agent *a, size_t i, uint64_t bytes, bool blob);
/* Peer i failed a blob with r (e: why): logged, counted, and the peer avoided for a while
 * (longer when its bytes did not verify or it refused the site key). */
void peers_failed(struct agent *a, size_t i, const char *digest, int r, const char *why);
