/* SPDX-License-Identifier: Apache-2.0 */
/* builder_int.h — what builder.c (writing and signing a bundle) and builder_plan.c
 * (which blobs go in) share: the plan and the calls between them. Internal to
 * agent/bundle/; nothing outside includes it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/oci_archive.h"

/* One blob of the bundle being planned. */
struct plan_blob {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char *media_type;
        size_t archive;         /* index into plan.archives (its first user) */
        size_t position;        /* position within that archive */
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
/* Walks manifests/indexes breadth first, one archive pass per level. */
int builder_plan_walk(struct plan *p, size_t ai, const struct desc *root, berr *e);
/* qsort order of plan blobs: by archive, then by position in it. */
int builder_cmp_plan_blob(const void *x, const void *y);
