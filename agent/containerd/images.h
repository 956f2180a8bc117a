/* SPDX-License-Identifier: Apache-2.0 */
/* images.h — containerd image records: a name pointing at a manifest or index. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "containerd/client.h"

struct ctrd_image_target {
        char media_type[256];
        char digest[80];
        uint64_t size;
};

/* Images.Get; -ENOENT when there is no image of that name. */
int ctrd_image_get(struct ctrd *c, const char *name, struct ctrd_image_target *ret, berr *e);
/* Creates the image record, or points an existing one at target. *ret_changed (may be
 * NULL) tells whether anything changed. */
int ctrd_image_put(struct ctrd *c, const char *name, const struct ctrd_image_target *target, bool *ret_changed,
                   berr *e);
/* Images.Delete (sync: containerd collects the image's content and snapshots before
 * answering, unless something else references them); a missing image is fine. */
int ctrd_image_delete(struct ctrd *c, const char *name, bool sync, berr *e);
