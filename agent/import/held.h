/* SPDX-License-Identifier: Apache-2.0 */
/* held.h — layers a node holds only unpacked: committed in containerd's snapshots, with
 * no compressed copy in berth's store (containerd/README.md, "One copy on disk").
 *
 * The held key of the layer at position n of an image manifest is
 * sha256(scope, digest of layer 0, …, digest of layer n), chained: it names the same
 * snapshot as containerd's chain ID (a layer's diff ID follows from its verified
 * compressed bytes) but is computed from the manifest alone, before any config or layer
 * is read. A backend that unpacks layers reports the keys of what it committed after a
 * successful preload (import_backend.unpacked); the import records them in the DB
 * (unpacked_layers). The agent's fetch plan and berth_import_stored then count a layer
 * blob as present when every needed manifest that uses it has its key: berth's store
 * may drop the compressed copy, and a delta still fetches only the new layers.
 *
 * If containerd lost a snapshot after all, its preload fails with -ENOENT; the import
 * then forgets the bundle's keys (import_held_forget) and the agent plans again, which
 * now fetches those layers.
 */
#pragma once

#include <stdbool.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/manifest.h"
#include "import/import.h"
#include "store/content.h"
#include "store/db.h"

#define HELD_KEY_LEN DIGEST_STR_LEN

/* key of the layer after prev (prev NULL or "": the first layer of a manifest). */
void held_key_next(const char *scope, const char *prev, const char *layer_digest, char key[HELD_KEY_LEN + 1]);

/* The layer scope of the first backend that unpacks layers; NULL when none does, or when
 * a registry mirror backend needs every layer in berth's store. */
const char *import_held_scope(struct import_backend *const *backends, size_t n_backends);

/* held[i] (for every m->blobs[i]) = blob i is a layer that every needed manifest of m
 * (need NULL: every manifest) in cs uses only at positions whose key is recorded; false
 * for anything else. A manifest not in cs yet holds nothing. Whether the blob is also in
 * cs is not looked at. */
int import_held_layers(struct berth_db *db, struct content_store *cs, const char *scope,
                       const struct bundle_manifest *m, const bool *need, bool *held, berr *e);

/* Forgets the keys of every layer of m's manifests in cs (after a preload found one
 * missing). */
int import_held_forget(struct berth_db *db, struct content_store *cs, const char *scope,
                       const struct bundle_manifest *m, berr *e);
