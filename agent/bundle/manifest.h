/* SPDX-License-Identifier: Apache-2.0 */
/* manifest.h — the signed bundle manifest (JSON), parsed strictly.
 *
 * The manifest's exact bytes are what is signed and what is stored; berth never
 * re-serialises a received manifest, so unknown fields survive untouched. The parsed
 * view below is read-only and owned by the bundle_manifest.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"

struct bundle_blob {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char *media_type;
        /* Byte offset of this blob's tar header within the bundle; set by
         * bundle_manifest_layout() once the head size is known. */
        uint64_t header_offset;
        uint64_t data_offset;
};

struct bundle_image {
        char *ref;              /* reference name, e.g. "registry.local/gw/broker:2.0" */
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        char *media_type;       /* OCI/Docker manifest or index media type */
};

struct bundle_manifest {
        char *name;
        int64_t version;
        int64_t created;
        int64_t expires;
        struct bundle_image *images;
        size_t n_images;
        struct bundle_blob *blobs;
        size_t n_blobs;
        uint64_t total_blob_size;
        json_t *root;           /* the whole document (workloads and unknown fields) */
        char digest[DIGEST_STR_LEN + 1]; /* sha256 of the exact manifest bytes */
};

/* Parses and validates the manifest bytes. Messages name the offending field. */
int bundle_manifest_parse(const void *buf, size_t len, struct bundle_manifest **ret, berr *e);
void bundle_manifest_free(struct bundle_manifest *m);
const struct bundle_blob *bundle_manifest_find_blob(const struct bundle_manifest *m, const char *digest);
/* Where the first blob's header lies: after the manifest and signatures entries and, when
 * roots_size > 0, the roots entry (an empty roots entry is not a valid bundle). */
uint64_t bundle_head_size(uint64_t manifest_size, uint64_t signatures_size, uint64_t roots_size);
/* Computes every blob's tar offsets from the head's size (bundle_head_size). */
void bundle_manifest_layout(struct bundle_manifest *m, uint64_t head_size);
/* Total bundle file size implied by the layout (including the end-of-archive blocks). */
uint64_t bundle_manifest_file_size(const struct bundle_manifest *m, uint64_t head_size);
/* True when name is a valid bundle name: [A-Za-z0-9][A-Za-z0-9._-]*, ≤ BUNDLE_MAX_NAME_LEN. */
bool bundle_name_valid(const char *name);
/* True for plausible image references: printable, no spaces, ≤ BUNDLE_MAX_REF_LEN. */
bool image_ref_valid(const char *ref);
bool media_type_is_index(const char *mt);
bool media_type_is_manifest(const char *mt);
/* An image index or an image manifest: the documents that say which blobs an image needs. */
bool media_type_is_document(const char *mt);
/* An image config (OCI or Docker): the diff IDs of an image's layers. */
bool media_type_is_config(const char *mt);

static inline uint64_t tar_padded(uint64_t n)
{
        return (n + 511u) & ~(uint64_t)511u;
}

#include "base/cleanup.h"
DEFINE_CLEANUP(struct bundle_manifest *, bundle_manifest_free)
