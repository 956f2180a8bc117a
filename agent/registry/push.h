/* SPDX-License-Identifier: Apache-2.0 */
/* push.h — pushes one image (a manifest or an index and everything it references)
 * from local, verified blobs into a repository of a registry.
 *
 * Order: children before parents (blobs, then manifests, then the index), so the
 * registry never sees a reference to something it lacks; the tag is written last,
 * so a half-pushed image is never visible under its name. Manifests are sent as
 * their exact bytes with their exact media type; nothing is re-serialised.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"
#include "registry/client.h"

/* Opens a verified local blob for reading; -ENOENT when it is not available. */
typedef int (*registry_blob_open_fn)(void *ud, const char *digest, int *ret_fd);

struct registry_image {
        const char *ref;        /* the image reference; decides repository and tag */
        const char *digest;     /* of the top manifest or index */
        const char *media_type; /* may be NULL: taken from the manifest itself */
};

/* Pushes img into its mirror repository (reference.h). A rerun after any failure
 * completes the push; what the registry already has is skipped. */
int registry_push_image(struct registry_client *c, const struct registry_image *img, registry_blob_open_fn open_blob,
                        void *ud, berr *e);
