/* SPDX-License-Identifier: Apache-2.0 */
/* rebuild.h — the sha256 of a remote .berth artifact, computed without downloading it.
 *
 * The agent fetches only the head and the blobs it lacks, so it never holds the artifact
 * as one file; but a .berth is a pure function of its parts: the head, then for each blob
 * (in manifest order) the canonical ustar header of "blobs/sha256/HEX" (tarheader.h: the
 * reader refuses any other), its bytes and zero padding to 512, then zero blocks to the
 * end of the file. So the artifact's bytes are rebuilt in order from the head and the
 * content store and hashed, and the hash can be held against the one the server's
 * deployment names (DDI `hashes.sha256`).
 */
#pragma once

#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/manifest.h"
#include "store/content.h"

/* out = sha256 (hex, no "sha256:") of the artifact of size artifact_size (0: the size
 * the layout implies) made of head[0..head_len) and m's blobs from cs. -ENOENT when a
 * blob is not in the store; -EBADMSG when artifact_size is smaller than the layout. */
int fetch_rebuild_sha256(const struct bundle_manifest *m, const uint8_t *head, size_t head_len, uint64_t artifact_size,
                         struct content_store *cs, char out[DIGEST_HEX_LEN + 1], berr *e);
