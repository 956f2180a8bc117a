/* SPDX-License-Identifier: Apache-2.0 */
/* import.h — the one path by which a bundle enters a node (USB, CLI, and later the
 * agent's downloads).
 *
 * Order: read head → advance the node's trust root with the roots the bundle carries
 * (bundle/rootstore.h; kept whatever becomes of the bundle) → the root is not expired →
 * verify signatures (its release threshold) → parse → expiry → workload specs against
 * the node policy ([policy]) → refuse a version
 * not newer than the installed one (same version + same manifest digest = no-op) →
 * stream every blob through SHA-256 into a stage (blobs already stored are only
 * hashed; of a multi-platform image only this node's platform's blobs are stored, the
 * others only hashed, unless a registry mirror backend wants every platform) → check
 * end of archive → publish the stage → record in the DB → run the
 * preload backends. A failure before the DB commit changes nothing visible; a backend
 * failure leaves the bundle stored and recorded, and rerunning the import completes
 * the preload (backends are idempotent).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/keys.h"
#include "bundle/format.h"
#include "bundle/manifest.h"
#include "config/config.h"
#include "store/content.h"
#include "workload/policy.h"

/* A preload target (containerd, registry mirror). */
struct layer_stream;
struct layer_stream_spec;

struct import_backend {
        const char *name;
        /* Makes every image of m available from the backend, reading blobs from cs.
         * Must be idempotent: it runs again when the same bundle is imported again. */
        int (*preload)(struct import_backend *b, const struct bundle_manifest *m, struct content_store *cs,
                       berr *e);
        void (*free)(struct import_backend *b);
        /* Optional: the import calls this as soon as one blob has been read from the
         * bundle and its digest checked against the verified manifest (before the
         * rest of the bundle is read), with the bundle's fd: the blob's bytes are at
         * blob->data_offset. A backend may start shipping the blob in the background
         * (reading with pread only); preload() still runs afterwards and must not
         * depend on it. Not called for bundles read from pipes. */
        void (*blob_verified)(struct import_backend *b, const struct bundle_manifest *m,
                              const struct bundle_blob *blob, int bundle_fd);
        /* Optional, with blob_verified: asked before a blob that the store lacks is
         * read. True means "I will keep this blob (from blob_verified) and berth needs
         * no copy of its own": the import then only checks its digest and does not
         * store it. Only for data that the node keeps elsewhere (containerd layers);
         * a bundle whose backend fails afterwards needs its file imported again. */
        bool (*takes_blob)(struct import_backend *b, const struct bundle_manifest *m,
                           const struct bundle_blob *blob, int bundle_fd);
        /* Optional, for backends that unpack layers (containerd): where they hold them
         * (e.g. "containerd k8s.io overlayfs"), and, after a successful preload, the held
         * key (import/held.h) of every layer it now holds unpacked, one fn call each. The
         * import records them, so a later bundle needs no copy of those layers. */
        const char *layer_scope;
        int (*unpacked)(struct import_backend *b, int (*fn)(void *ud, const char *key), void *ud);
        /* Optional, for backends that unpack layers and keep no compressed copy: a layer
         * taken as its bytes are downloaded (containerd/layer_stream.h), so berth never
         * writes it to flash. NULL when the backend keeps compressed layers (keep_layers,
         * a gateway serving site peers, unpack = containerd). */
        int (*stream_layer)(struct import_backend *b, const struct layer_stream_spec *spec,
                            struct layer_stream **ret, berr *e);
};

struct import_opts {
        const char *state_dir;
        const char *trust_dir;          /* the anchor; accepted roots live in STATE/trust */
        const char *source;             /* recorded in the DB, e.g. "usb", "cli", "ddi" */
        struct import_backend **backends;
        size_t n_backends;
        int64_t now;                    /* 0 = current time */
        /* The node policy every workload spec must fit (workload/policy.h), checked with
         * the head, before any blob is read or fetched. NULL: the [policy] of config,
         * parsed per import; config NULL too: the built-in defaults. There is no "off". */
        const struct wl_policy *policy;
        const struct berth_config *config;
};

struct import_result {
        char name[BUNDLE_MAX_NAME_LEN + 1];
        int64_t version;
        char digest[DIGEST_STR_LEN + 1];
        bool already_installed;
        unsigned n_images;
        unsigned blobs_stored;          /* new blobs written to the store */
        unsigned blobs_present;         /* blobs the store already had (verified, not written) */
        unsigned blobs_shipped;         /* verified and handed to a backend that keeps them (takes_blob) */
        unsigned blobs_other_platforms; /* verified, not stored: other platforms' (import_platform_need) */
        uint64_t bytes_read;
        uint64_t bytes_stored;
};

int berth_import_file(const struct import_opts *o, const char *path, struct import_result *res, berr *e);
int berth_import_fd(const struct import_opts *o, int fd, const char *display_name, struct import_result *res,
                    berr *e);

/* ---- Remote bundles (the agent's Range downloads) -------------------------------
 *
 * The agent fetches the head (manifest.json + signatures.json entries, the first bytes
 * of the .berth) and verifies it with import_head_verify(): the same reader and checks
 * as a file import (signature threshold, strict parse, expiry, installed version).
 * It then downloads only the blobs the store lacks, verifying and publishing each one
 * as it completes (content_publish_file), and finishes with berth_import_stored(),
 * which re-checks the head, requires every blob in the store, records the bundle and
 * runs the preload backends — the tail of a file import. */
struct import_head;

/* head/len: exactly the head bytes (fetch_head_need). *ret owns a copy. */
int import_head_verify(const struct import_opts *o, const void *head, size_t len, struct import_head **ret, berr *e);
/* The verified, laid-out manifest (blob offsets within the artifact). */
const struct bundle_manifest *import_head_manifest(const struct import_head *h);
/* True when this exact bundle (name, version, manifest digest) is already recorded. */
bool import_head_installed(const struct import_head *h);
void import_head_free(struct import_head *h);
int berth_import_stored(const struct import_opts *o, const void *head, size_t len, struct import_result *res,
                        berr *e);

/* The signed head of installed bundle name/version, rebuilt as the first entries of a
 * .berth (manifest.json and signatures.json as recorded, roots.json with the trust roots
 * this node accepted beyond its anchor) and the end of the archive: what a site peer
 * hands `berth import --from-peers` (peers/serve.h). *ret is malloc'd. -ENOENT when it
 * is not installed. Opens its own DB connection (any thread). */
int import_installed_head(const char *state_dir, const char *trust_dir, const char *name, int64_t version, void **ret,
                          size_t *ret_len, berr *e);

/* The blobs of m this node needs (bundle/platform.h: of a multi-platform image, only the
 * manifest for this node's platform with its config and layers), judged from the image
 * documents already in cs: need[i] for m->blobs[i], *bytes their total (may be NULL).
 * -ENOENT while an index or manifest is not in the store yet; -ENOEXEC (a sentence
 * naming the image and the platform) when an image has nothing for this platform. */
int import_platform_need(struct content_store *cs, const struct bundle_manifest *m, bool *need, uint64_t *bytes,
                         berr *e);
/* Whether one of these backends is a registry mirror, which serves (so gets) every
 * platform of an image. */
bool import_mirrors_every_platform(struct import_backend *const *backends, size_t n_backends);
/* Whether a node with these backends picks its own platform's blobs of m: m has an image
 * index (multi-platform images), and no registry mirror backend wants every platform. */
bool import_picks_platform(struct import_backend *const *backends, size_t n_backends,
                           const struct bundle_manifest *m);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct import_head *, import_head_free)
