/* SPDX-License-Identifier: Apache-2.0 */
/* plan.h — what preloading a bundle into containerd means, worked out from the
 * verified OCI manifests, indexes and configs in berth's content store before
 * containerd is touched: the blobs to write (children before parents) with the GC
 * labels containerd's own tools set, and, per image manifest for this host's
 * platform, the layers to unpack with their diff IDs and chain IDs. The manifest picked
 * in an index is the one bundle/platform.h picks (variants included), so what is
 * unpacked is what a gateway fetched.
 *
 * Reads only from the berth content store (verified blobs); JSON documents are
 * bounded (4 MiB) and every digest is validated before use.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/manifest.h"
#include "containerd/client.h"
#include "store/content.h"

#define PLAN_MAX_JSON (4u * 1024u * 1024u)
#define PLAN_MAX_LABELS 1024

struct ctrd_plan_blob {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char *media_type;
        bool in_store;                  /* berth holds it (else only containerd may) */
        char **label_keys;              /* GC labels: containerd.io/gc.ref.content.* */
        char **label_values;
        size_t n_labels;
};

struct ctrd_plan_layer {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char *media_type;
        char diff_id[DIGEST_STR_LEN + 1];
        char chain_id[DIGEST_STR_LEN + 1];
};

struct ctrd_plan_unpack {
        char manifest[DIGEST_STR_LEN + 1];
        char config[DIGEST_STR_LEN + 1];
        struct ctrd_plan_layer *layers;
        size_t n_layers;
};

struct ctrd_plan {
        struct ctrd_plan_blob *blobs;        /* write order: children first */
        size_t n_blobs;
        struct ctrd_plan_unpack *unpacks;    /* one per image manifest for this platform */
        size_t n_unpacks;
};

/* Builds the plan for every image of m. */
int ctrd_plan_build(const struct bundle_manifest *m, struct content_store *cs, struct ctrd_plan **ret, berr *e);
/* Same for a single image (used by status); _on: for a node of platform host (tests). */
struct platform;
int ctrd_plan_build_image_on(const struct platform *host, const char *digest, const char *media_type, uint64_t size,
                             struct content_store *cs, struct ctrd_plan **ret, berr *e);
int ctrd_plan_build_image(const char *digest, const char *media_type, uint64_t size, struct content_store *cs,
                     struct ctrd_plan **ret, berr *e);
void ctrd_plan_free(struct ctrd_plan *p);

/* Labels of a blob as ctrd_label pairs (borrowed; caller frees the array). */
struct ctrd_label *ctrd_plan_blob_labels(const struct ctrd_plan_blob *b);

/* chain[0] = diff[0]; chain[i] = sha256(chain[i-1] + " " + diff[i]) (OCI image spec). */
int ctrd_plan_chain_ids(const char (*diff_ids)[DIGEST_STR_LEN + 1], size_t n, char (*chain)[DIGEST_STR_LEN + 1]);
/* This host's OCI architecture (amd64, arm64, arm, ...). */
const char *ctrd_plan_host_arch(void);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct ctrd_plan *, ctrd_plan_free)
