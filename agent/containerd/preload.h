/* SPDX-License-Identifier: Apache-2.0 */
/* preload.h — the containerd preload backend of berth import: makes every image of a
 * verified, stored bundle present *and unpacked* in containerd, through its gRPC API,
 * so a container can start with no pull and no further work.
 *
 * In one lease (deterministic id, so a rerun after a crash continues it): blobs that
 * containerd already has are skipped (Content.Info); the others are streamed from
 * berth's content store (verified blobs only) with Content.Write, resuming a half
 * written ingest; GC labels are set as containerd's own tools set them; each layer of
 * this platform's manifests is unpacked (Snapshots.Prepare → Diff.Apply → Commit as
 * the chain ID) unless its snapshot exists; the image records are created or updated
 * last, so an image name in containerd always means "complete". Idempotent.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "config/config.h"
#include "import/import.h"
#include "store/content.h"

struct containerd_backend_opts {
        const char *address;            /* NULL: config containerd.address or the default */
        const char *ns;                 /* NULL: config containerd.namespace or k8s.io */
        const char *snapshotter;        /* NULL: config containerd.snapshotter or overlayfs */
        /* After a successful preload, drop layer blobs from berth's store (containerd
         * now holds them, referenced by the image): one copy on disk, not two. Only
         * safe when no later backend reads them. */
        bool prune_layers;
        /* Who writes layers into snapshots: "berth" (NULL: config containerd.unpack, else
         * berth) reads them from its store or the bundle and unpacks them itself, so
         * containerd never stores them compressed; "containerd" writes every blob into
         * containerd's content store and lets Diff.Apply unpack, as ctr does. */
        const char *unpack;
};

/* What the last preload did (for the CLI and tests). */
struct containerd_preload_stats {
        unsigned blobs_written;
        unsigned blobs_present;         /* containerd had them already */
        unsigned blobs_early;           /* of those: shipped while the bundle was still read */
        uint64_t bytes_written;
        unsigned layers_unpacked;
        unsigned layers_direct;         /* of those: by berth's applier, no compressed copy in containerd */
        uint64_t bytes_unpacked;        /* file data berth's applier wrote */
        unsigned layers_present;        /* snapshot existed already */
        unsigned images_changed;        /* image records created or re-pointed */
        unsigned blobs_pruned;          /* removed from berth's store afterwards */
};

int containerd_backend_new(const struct containerd_backend_opts *o, struct import_backend **ret, berr *e);
/* Fills unset options from cfg (containerd.address, containerd.namespace,
 * containerd.snapshotter, containerd.unpack; containerd.keep_layers = true disables
 * pruning). */
void containerd_backend_opts_from_config(struct containerd_backend_opts *o, const struct berth_config *cfg);
const struct containerd_preload_stats *containerd_backend_stats(const struct import_backend *b);

/* Per image, for berth status: does containerd have the image record pointing at
 * digest, and is its rootfs (this platform) unpacked in the snapshotter? */
struct containerd_image_state {
        bool reachable;                 /* containerd answered */
        bool present;                   /* image record → digest, all blobs there */
        bool unpacked;                  /* top snapshot (chain ID) committed */
};
int containerd_image_state(const struct containerd_backend_opts *o, struct content_store *cs, const char *ref,
                           const char *digest, const char *media_type, uint64_t size,
                           struct containerd_image_state *ret, berr *e);
