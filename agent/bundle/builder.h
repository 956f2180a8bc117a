/* SPDX-License-Identifier: Apache-2.0 */
/* builder.h — makes .berth bundles: create from OCI image archives, co-sign.
 *
 * Output is written to OUT.tmp.<pid> beside OUT, fsynced and renamed, so a failed or
 * interrupted build never leaves a partial OUT. Every blob copied into a bundle is
 * hashed on the way and must match its digest.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/keys.h"
#include "bundle/rootchain.h"

/* One --image. A ref given more than once names single-platform archives of one image
 * (one per platform): the bundle carries an image index over them, written by
 * bundle_create (manifests in argument order, each with its platform). */
struct bundle_image_arg {
        const char *ref;        /* name the image gets on the node */
        const char *archive;    /* OCI image-layout tar */
};

struct bundle_create_opts {
        const char *name;
        int64_t version;
        int64_t created;
        int64_t expires;
        const struct bundle_image_arg *images;
        size_t n_images;
        const struct berth_key *keys;   /* at least one, with secrets */
        size_t n_keys;
        json_t *workloads;              /* optional, copied verbatim as "workloads" */
        json_t *update;                 /* optional, copied verbatim as "update" (soak time) */
        const struct root_chain *roots; /* optional: the trust roots the bundle carries (checked) */
        const char *output;
};

struct bundle_create_result {
        size_t n_blobs;
        uint64_t total_size;
        char manifest_digest[72];
        /* With roots: the release signatures valid under the chain's last root, and needed. */
        int64_t root_version;
        unsigned release_valid, release_threshold;
};

int bundle_create(const struct bundle_create_opts *o, struct bundle_create_result *res, berr *e);
/* Copies IN to OUT adding (or replacing) key k's signature (k may be NULL) and, when roots
 * is not NULL, replacing the trust roots it carries; every blob is re-verified. */
int bundle_cosign(const char *in, const char *out, const struct berth_key *k, const struct root_chain *roots,
                  struct bundle_create_result *res, berr *e);
