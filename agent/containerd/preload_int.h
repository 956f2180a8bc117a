/* SPDX-License-Identifier: Apache-2.0 */
/* preload_int.h — what preload.c (containerd calls) and preload_backend.c (the import
 * adapter) share: the backend object, the early-writer queue and the calls between
 * them. Internal to agent/containerd/; nothing outside includes it. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "containerd/client.h"
#include "containerd/plan.h"
#include "containerd/preload.h"
#include "import/held.h"

#define LEASE_EXPIRE_S (24u * 3600u)
/* Blob writes run in this many threads (one gRPC connection each) while the main
 * thread unpacks the layers already written, so containerd hashes/writes and
 * extracts at the same time instead of one after the other (ctr's order). This only
 * shortens the wall time when containerd has a spare core; the work is the same. */
#define PRELOAD_WRITERS 2

static inline bool preload_is_layer(const char *mt)
{
        return mt && (strstr(mt, ".layer.") || strstr(mt, ".image.rootfs."));
}

struct early_item {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        uint64_t offset;        /* in the bundle file */
        enum { EARLY_QUEUED, EARLY_BUSY, EARLY_DONE } state;
};

/* Layer blobs shipped while the import is still reading the bundle (blob_verified). */
struct early {
        bool active;
        char manifest[DIGEST_STR_LEN + 1];
        char lease[96];
        int fd;                 /* our dup of the bundle fd */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct early_item *queue;
        size_t n_queued;
        const struct ctrd_plan *order;       /* set by preload(): take layers in unpack order */
        bool closing;
        pthread_t threads[2];
        size_t n_threads;
        unsigned written;       /* protected by lock */
        uint64_t bytes;
};

struct containerd_backend {
        struct import_backend base;
        char *address, *ns, *snapshotter;
        bool prune_layers;
        bool containerd_unpacks;        /* unpack = containerd: every blob goes into its content store */
        struct containerd_preload_stats stats;
        struct early early;
        char *scope;                    /* import_backend.layer_scope */
        char (*held)[HELD_KEY_LEN + 1]; /* the held keys of the last successful preload */
        size_t n_held;
};
/* preload_backend.c: where the bundle being imported holds digest (for blobs berth did not store). */
bool preload_early_lookup(struct early *ea, const char *digest, uint64_t *ret_offset);
/* Blocks while an early writer has digest queued or in flight. */
void preload_early_wait(struct early *ea, const char *digest);
/* Waits for the early writers to finish their queue; keeps their counts. */
void preload_early_finish(struct containerd_backend *b);

/* preload.c: puts one blob of the plan into containerd (present, written from the store,
 * or from the bundle being imported). */
int preload_sync_blob(struct containerd_preload_stats *stats, struct ctrd *c, struct content_store *cs,
                      struct early *ea, const struct ctrd_plan *p, const struct ctrd_plan_blob *pb, berr *e);
/* preload.c: the preload of manifest m once its plan exists. */
int preload_plan(struct containerd_backend *b, const struct bundle_manifest *m, struct content_store *cs,
                 const struct ctrd_plan *p, berr *e);
