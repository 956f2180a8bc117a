/* SPDX-License-Identifier: Apache-2.0 */
/* writer.h — writes the canonical .berth tar layout (libarchive, ustar).
 *
 * Order is enforced: head (manifest + signatures) once, optionally the roots entry, then
 * every blob of the manifest in manifest order, then close. Every entry gets the canonical metadata
 * (regular file, mode 0644, uid/gid 0, no names, mtime 0), so identical inputs give
 * byte-identical files. The writer does not check digests: callers hash what they
 * feed (bundle_create, bundle_cosign).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct bundle_writer;

int bundle_writer_new(int fd, struct bundle_writer **ret, berr *e);
void bundle_writer_free(struct bundle_writer *w);
int bundle_writer_head(struct bundle_writer *w, const void *manifest, size_t mlen, const void *sigs, size_t slen,
                       berr *e);
/* The optional roots.json entry (len > 0): right after the head, before any blob. */
int bundle_writer_roots(struct bundle_writer *w, const void *roots, size_t len, berr *e);
int bundle_writer_blob_begin(struct bundle_writer *w, const char *digest, uint64_t size, berr *e);
int bundle_writer_blob_data(struct bundle_writer *w, const void *buf, size_t len, berr *e);
int bundle_writer_close(struct bundle_writer *w, berr *e);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct bundle_writer *, bundle_writer_free)
