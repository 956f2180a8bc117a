/* SPDX-License-Identifier: Apache-2.0 */
/* oci_archive.h — reads OCI image-layout tar archives (skopeo oci-archive:, ctr images
 * export, docker save ≥ 25), gzip/zstd/xz-compressed archives included.
 *
 * Entry names are only compared against expected strings, never used as paths.
 * The archive is read sequentially: scan (entries + index.json), then any number of
 * read_json passes for manifests/indexes, then one stream pass for blob contents.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"

struct oci_blob_entry {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        size_t position; /* index in archive order */
};

struct oci_archive {
        char *path;
        json_t *index;                  /* index.json */
        struct oci_blob_entry *blobs;   /* every blobs/sha256/<hex> entry, archive order */
        size_t n_blobs;
};

int oci_archive_scan(const char *path, struct oci_archive **ret, berr *e);
void oci_archive_free(struct oci_archive *a);
const struct oci_blob_entry *oci_archive_find(const struct oci_archive *a, const char *digest);
/* Reads and parses the JSON blobs named in digests (≤ 4 MiB each); out[i] receives a
 * new reference (NULL-initialised by the caller). */
int oci_archive_read_json(struct oci_archive *a, const char *const *digests, size_t n, json_t **out, berr *e);

/* Called for every wanted blob in archive order: begin (size known), data chunks, end. */
struct oci_blob_sink {
        bool (*want)(void *ud, const char *digest);
        int (*begin)(void *ud, const char *digest, uint64_t size);
        int (*data)(void *ud, const void *buf, size_t len);
        int (*end)(void *ud, const char *digest);
        void *ud;
};
int oci_archive_stream(struct oci_archive *a, const struct oci_blob_sink *sink, berr *e);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct oci_archive *, oci_archive_free)
