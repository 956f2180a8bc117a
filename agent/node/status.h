/* SPDX-License-Identifier: Apache-2.0 */
/* status.h — what this node holds, as JSON: installed bundles with their images and the
 * content store's usage. Shared by `berth status` (direct mode) and the agent daemon
 * (status over the control socket), so both print the same thing.
 */
#pragma once

#include <jansson.h>

#include "store/content.h"
#include "store/db.h"

/* {"stateDir", "store": {"blobs", "bytes"}, "bundles": [{name, version, manifestDigest,
 *  importedAt, expires, source, size, images: [{ref, digest, mediaType, size}]}]} */
json_t *node_status_json(struct berth_db *db, struct content_store *cs, const char *state_dir);
/* Prints a node status (as built above, plus an optional "agent" and "update" object
 * from the daemon, and "trust": node_trust_json() of node/trust.h) as text. */
void node_status_print(const json_t *st);
