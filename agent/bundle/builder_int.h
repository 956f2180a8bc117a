/* SPDX-License-Identifier: Apache-2.0 */
/* builder_int.h — what builder.c (writing and signing a bundle), builder_plan.c (which
 * blobs go in) and builder_index.c (the image index over several archives of one image)
 * share: the plan and the calls between them. Internal to agent/bundle/; nothing
 * outside includes it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/oci_archive.h"

/* plan_blob.archive of a blob no archive holds (an index bundle create writes). */
#define PLAN_IN_MEMORY SIZE_MAX

/* One blob of the bundle being planned. */
struct plan_blob {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char *media_type;
        size_t archive;         /* index into plan.archives (its first user), or PLAN_IN_MEMORY */
        size_t position;        /* position within that archive (in memory: order added) */
        char *data;             /* PLAN_IN_MEMORY: the blob's size bytes, owned */
};

struct plan {
        struct oci_archive **archives;
        size_t n_archives;
        struct plan_blob *blobs;
        size_t n_blobs, cap;
};

struct desc {
        const char *digest, *media_type;
        uint64_t size;
};

/* Releases what p holds (not p). */
void builder_plan_done(struct plan *p);
/* Picks the descriptor in index.json that is the image called ref. */
int builder_pick_image(struct oci_archive *a, const char *ref, struct desc *d, berr *e);
/* Walks manifests/indexes from the n roots in archive ai breadth first, one archive pass
 * per level. */
int builder_plan_walk(struct plan *p, size_t ai, const struct desc *roots, size_t n, berr *e);
/* Adds a blob no archive holds, taking data (len bytes, malloc'd; freed at once when the
 * plan already has that digest). */
int builder_plan_add_data(struct plan *p, const char *digest, const char *media_type, char *data, size_t len, berr *e);
/* One image given with several archives (p->archives[ais[0..n-1]], argument order): picks
 * it in each, walks its blobs into p and adds an image index over its manifests, each
 * with its platform; *root becomes that index's descriptor, its digest in digest (which
 * the caller keeps). -EINVAL when two archives hold one platform. */
int builder_index_merge(struct plan *p, const char *ref, const size_t *ais, size_t n, char digest[DIGEST_STR_LEN + 1],
                        struct desc *root, berr *e);
/* qsort order of plan blobs: by archive, then by position in it (blobs in memory last). */
int builder_cmp_plan_blob(const void *x, const void *y);
