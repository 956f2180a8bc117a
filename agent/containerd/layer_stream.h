/* SPDX-License-Identifier: Apache-2.0 */
/* layer_stream.h — a layer blob unpacked into its containerd snapshot while it is being
 * downloaded, so the compressed layer is never written to flash (README.md, "Streaming
 * layers from a download").
 *
 * The download (on the event loop) pushes the blob's bytes into a bounded ring; a
 * worker thread runs berth's applier (layer.h) on them, straight into a prepared
 * snapshot. Nothing is committed before the last byte has hashed to the digest the
 * signed manifest names and the uncompressed stream to the diff ID the image config
 * names; any failure removes the prepared snapshot. Bytes whose digest is not checked
 * yet may not unpack to more than LAYER_STREAM_MAX_RATIO times their size (plus
 * LAYER_STREAM_SLACK): past that the stream fails with -EFBIG and the caller stores the
 * layer the old way (verified first, no cap).
 *
 * The state lives in memory only: a broken connection resumes where it stopped (the
 * caller asks for the bytes from layer_stream_pushed() on), a restarted agent starts the
 * layer over (prepare removes what a killed run left). The snapshots sit under the lease
 * layer_stream_lease() names, which the preload of the image deletes once its record
 * points at them (or which expires after LAYER_STREAM_LEASE_S).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/digest.h"
#include "base/err.h"

#define LAYER_STREAM_RING (4u * 1024u * 1024u)
#define LAYER_STREAM_MAX_RATIO 64u
#define LAYER_STREAM_SLACK (64ull * 1024 * 1024)
#define LAYER_STREAM_LEASE_S (30u * 24u * 3600u)

struct layer_stream_spec {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char media_type[128];
        char diff_id[DIGEST_STR_LEN + 1];       /* from the verified image config */
        char chain_id[DIGEST_STR_LEN + 1];      /* the snapshot it becomes */
        char parent[DIGEST_STR_LEN + 1];        /* the chain ID below it; "" for a base layer */
};

struct layer_stream;

/* Not connected yet: prepare does that. */
int layer_stream_new(const char *address, const char *ns, const char *snapshotter,
                     const struct layer_stream_spec *spec, struct layer_stream **ret, berr *e);
void layer_stream_free(struct layer_stream *s);
const struct layer_stream_spec *layer_stream_spec(const struct layer_stream *s);

/* ---- on a worker thread (gRPC calls, file system writes) ---- */

/* 1: the chain is committed already (nothing to fetch). 0: prepared, bytes may be
 * pushed and layer_stream_apply() run. -EOPNOTSUPP: this layer cannot be streamed (its
 * media type, the snapshotter's mounts, its parent not committed): store it instead.
 * Other errors: containerd (unreachable, …). */
int layer_stream_prepare(struct layer_stream *s, berr *e);
/* After prepare returned 0: unpacks the bytes as they are pushed, checks both digests,
 * syncs the file system and commits. On failure nothing is committed and the prepared
 * snapshot is gone:
 *   -EBADMSG           the bytes do not hash to the digest (damaged or a lie: fetch again)
 *   -EILSEQ            they do not unpack (gzip, tar) before their digest is known: store
 *                      the layer and verify it first, which tells which it is
 *   -EFBIG             the cap above: store it and unpack it verified
 *   -EOPNOTSUPP        something only containerd's applier does: store it
 *   -ENOTRECOVERABLE   the right bytes, but not the diff ID the signed config names
 *   -ECANCELED         aborted; or containerd's or the file system's error. */
int layer_stream_apply(struct layer_stream *s, berr *e);
/* Removes the prepared snapshot when apply never ran (blocking: shutdown only). */
void layer_stream_discard(struct layer_stream *s);

/* ---- on the loop ---- */

/* Takes all n bytes (0), none because the ring is full (-EAGAIN: push them again
 * later), or none because the applier stopped (-EPIPE: its result says why). */
int layer_stream_push(struct layer_stream *s, const void *p, size_t n);
uint64_t layer_stream_pushed(const struct layer_stream *s);
/* The applier stops at its next read with -ECANCELED. */
void layer_stream_abort(struct layer_stream *s);

/* The lease the stream's snapshots live under until an image record points at them. */
void layer_stream_lease(const char *chain_id, char out[64]);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct layer_stream *, layer_stream_free)
