/* SPDX-License-Identifier: Apache-2.0 */
/* plan.h — where the bytes an agent needs lie inside a remote .berth artifact.
 *
 * The head (manifest.json + signatures.json entries, and roots.json when the bundle
 * carries trust roots) starts at byte 0; its length follows from the ustar headers
 * (fetch_head_need), the third of which says whether roots.json is there. Once the manifest is verified,
 * bundle_manifest_layout() fixes every blob's offset, and fetch_plan() lists the byte
 * ranges of the blobs the node lacks, in file order. Pure functions: no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle/manifest.h"

/* How much of the artifact's head is needed. Given the first len bytes of the file
 * (at least the header after the signatures entry must be seen):
 * returns 0 with *need = the exact head length (≤ len means the head is complete), or
 * 1 with *need = bytes to fetch before more can be said, or -EBADMSG (not a .berth:
 * wrong entry names, non-octal or oversized sizes). */
int fetch_head_need(const uint8_t *buf, size_t len, uint64_t *need);

struct fetch_range {
        size_t blob;            /* index in m->blobs */
        uint64_t offset;        /* first byte of the blob's data in the artifact */
        uint64_t length;        /* = blob size */
};

typedef bool (*fetch_have_fn)(void *userdata, const struct bundle_blob *b);

/* Lists the ranges of the blobs for which have() is false (m laid out). *ret is
 * malloc'd (NULL when nothing is missing); *bytes = sum of the lengths. */
int fetch_plan(const struct bundle_manifest *m, fetch_have_fn have, void *userdata, struct fetch_range **ret,
               size_t *n, uint64_t *bytes);
