/* SPDX-License-Identifier: Apache-2.0 */
/* peers.h — the agent's site peers ([peers]; agent/peers/README.md): the blob server it
 * runs for the other gateways, and where the update finds a missing blob on the plant
 * network before it goes to the WAN.
 *
 * Before an update's blobs are fetched, this gateway announces them as wanted on its own
 * peer server, waits PEERS_SETTLE_MS (so gateways that start within that time all see
 * each other's wants), then asks every peer of the static list (HEAD, signed with the site key)
 * for every missing blob; the answers say which peer holds which blob (complete), is
 * fetching it, or wants it too. update_fetch.c then takes each blob from, in this order:
 * a peer that holds it; a peer that is fetching it; a peer that wants it and whose id is
 * smaller than this gateway's (it will fetch it: gateways that start together follow the
 * smallest one instead of all going to the WAN); else the rollout server. A gateway that
 * fetches a blob from the server or from a complete copy announces it as fetching; one
 * that follows a download still in progress keeps it as wanted, so following never goes
 * round in a circle (every edge goes to a fetching peer, whose source is no follower, or
 * to a smaller id). Whatever served it, a blob is stored only once its digest matches. A
 * peer that serves bytes that do not verify, refuses the site key or cannot be reached
 * is avoided for a while.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/manifest.h"
#include "fetch/plan.h"
#include "peers/auth.h"
#include "peers/serve.h"

struct agent;
struct peer_server;
struct http_req;

#define PEERS_MAX 32
#define PEERS_SETTLE_MS 500

struct peer_entry {
        char host[64];                  /* as configured or learned: "10.0.0.5:7379", "[fd00::5]:7379" */
        bool learned;                   /* from a HELLO (peers_discover.c), not from peers.peers */
        uint64_t seen_usec;             /* learned: its last HELLO */
        char id[128];                   /* what it calls itself (Berth-Peer), "" before it answered */
        uint64_t avoid_until_usec;      /* monotonic; 0 = usable */
        uint64_t bytes, blobs, failures;
};

/* One blob's sources, from the last locate: bit i for peers.list[i]. */
struct peer_holding {
        char digest[72];
        uint32_t complete, fetching, wanted;
};

/* What a source of a blob is (peers_holder()). */
enum peer_source {
        PEER_SRC_COMPLETE,              /* holds it */
        PEER_SRC_FETCHING,              /* is downloading it */
        PEER_SRC_WANTED,                /* wants it and has a smaller id: it will fetch it */
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
        void **probe_ud;                /* each probe's data, freed with a cancel */
        size_t n_probes, probes_left;
        size_t next_blob[PEERS_MAX];    /* per peer: the next blob to ask it about */
        bool probing[PEERS_MAX];        /* per peer: a probe in flight */
        struct sd_event_source *settle;  /* between announcing the wants and asking */
        void (*located)(struct agent *a);
        /* discovery on the LAN segment (peers_discover.c) */
        int disc_fd;                    /* -1: off */
        struct sd_event_source *disc_src;
        struct sockaddr_in group;
        struct peer_replay *disc_replay;
        uint8_t who_nonce[PEER_NONCE_LEN];      /* of the last WHO; HELLOs must carry it */
        uint64_t who_usec;
        /* process counters for metrics */
        uint64_t fetched_bytes, fetched_blobs, failures;
};

int peers_start(struct agent *a, berr *e);
void peers_stop(struct agent *a);

/* peers_discover.c: [peers] discovery, group, interface. Off without a site key; learns
 * peers from their HELLOs into list (learned entries are added, and removed only while
 * no update is in progress, so the holdings' indices stay right). */
int peers_discover_start(struct agent *a, berr *e);
void peers_discover_stop(struct agent *a);
/* Asks the group who serves (before an update; the answers come within the settle time). */
void peers_discover_who(struct agent *a);

/* Asks every usable peer for the missing blobs of plan (HEAD each); calls done once the
 * answers are in (or after a few seconds). 0 when nothing needs asking (no peers, or
 * already located for this action): done is then not called. */
int peers_locate(struct agent *a, const struct bundle_manifest *m, const struct fetch_range *plan, size_t n,
                 void (*done)(struct agent *a));
/* Forgets the holdings and stops a locate in flight (the action ended). */
void peers_forget(struct agent *a);
/* The next source of digest at or after (*kind, *pos), in the order: complete holders,
 * fetching peers (both in list order), wanting peers with a smaller id (smallest first):
 * its index in list, with *kind and *pos set to where it stands; -1 when none is left. */
int peers_holder(struct agent *a, const char *digest, size_t *kind, size_t *pos);
/* Whether any usable peer is a source of digest. */
bool peers_have_source(struct agent *a, const char *digest);
/* Announces a blob of the update on this gateway's peer server (no-op when not serving). */
void peers_announce(struct agent *a, const char *digest, uint64_t size, enum peer_blob_state state);
/* Bytes of plan that usable peers hold complete (the budget counts only the rest). */
uint64_t peers_held_bytes(struct agent *a, const struct bundle_manifest *m, const struct fetch_range *plan, size_t n);
/* The URL of digest on peer i into url (n bytes). */
void peers_blob_url(struct agent *a, size_t i, const char *digest, char *url, size_t n);
/* A download's authorize hook (fetch/download.h): ud = the blob URL's path. */
int peers_authorize(void *ud, const char *range, char *out, size_t n);
/* Peer i served (part of) a blob: bytes (and blob = 1 when it completed one). */
void peers_served(struct agent *a, size_t i, uint64_t bytes, bool blob);
/* Peer i failed a blob with r (e: why): logged, counted, and the peer avoided for a while
 * (longer when its bytes did not verify or it refused the site key). */
/* What this gateway calls itself to its peers: the controller id, else the host name. */
const char *peers_my_id(const struct agent *a);
void peers_failed(struct agent *a, size_t i, const char *digest, int r, const char *why);
