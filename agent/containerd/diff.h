/* SPDX-License-Identifier: Apache-2.0 */
/* diff.h — containerd's Diff.Apply: extracts a layer blob from containerd's content
 * store into the mounts of an active snapshot, server-side.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"
#include "containerd/client.h"
#include "containerd/snapshots.h"

/* Applies layer (digest, media type, size) onto mounts; ret_diff_id receives the
 * digest of the uncompressed layer, which the caller checks against the config. */
int ctrd_diff_apply(struct ctrd *c, const char *digest, const char *media_type, uint64_t size,
                    const struct ctrd_mounts *mounts, char ret_diff_id[80], berr *e);
