/* SPDX-License-Identifier: Apache-2.0 */
/* reader.h — single-pass, strict reader of .berth bundles.
 *
 * The reader owns the input fd and reads it once, front to back, through libarchive
 * (tar only, no filters). Order of use:
 *
 *   bundle_reader_new(fd)
 *   bundle_reader_read_head()          manifest.json + signatures.json (+ roots.json) as bytes
 *   (the caller advances its trust roots with bundle_reader_roots(): rootstore.h)
 *   bundle_reader_verify(trust, now)   root expiry, signature threshold, THEN parse, then expiry
 *     (or bundle_reader_parse_unverified() for `inspect`)
 *   loop: bundle_reader_next_blob() → bundle_reader_stream_blob(sink)
 *   bundle_reader_finish()             end of archive, canonical padding, file size
 *
 * Nothing in the manifest is looked at before the signatures are checked. Each blob is
 * hashed while it streams; the sink sees unverified bytes, so a sink must stage them
 * and only publish after stream_blob() returned 0. Every byte of the file — headers,
 * padding and trailer — is checked against the canonical layout.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/keys.h"
#include "bundle/manifest.h"
#include "bundle/signature.h"

struct bundle_reader;

/* Sink for blob bytes; return <0 to abort. */
typedef int (*bundle_sink_fn)(void *userdata, const void *buf, size_t len);

int bundle_reader_new(int fd, const char *display_name, struct bundle_reader **ret, berr *e);
void bundle_reader_free(struct bundle_reader *r);
int bundle_reader_read_head(struct bundle_reader *r, berr *e);
int bundle_reader_verify(struct bundle_reader *r, const struct trust *t, int64_t now, berr *e);
int bundle_reader_parse_unverified(struct bundle_reader *r, berr *e);
/* Valid after verify/parse. */
struct bundle_manifest *bundle_reader_manifest(struct bundle_reader *r);
const struct bundle_signatures *bundle_reader_signatures(struct bundle_reader *r);
void bundle_reader_head_bytes(struct bundle_reader *r, const void **manifest, size_t *mlen,
                              const void **sigs, size_t *slen);
unsigned bundle_reader_valid_signatures(struct bundle_reader *r);
/* The roots.json entry's bytes, NULL/0 when the bundle carries none. Valid after read_head. */
void bundle_reader_roots(struct bundle_reader *r, const void **roots, size_t *len);
/* Offset of the first blob's header (the head's length). Valid after read_head. */
uint64_t bundle_reader_head_size(struct bundle_reader *r);
/* Advances to the next blob entry; returns 1 with *ret set, 0 when every blob was seen. */
int bundle_reader_next_blob(struct bundle_reader *r, const struct bundle_blob **ret, berr *e);
/* Streams the current blob into sink (may be NULL to only verify). */
int bundle_reader_stream_blob(struct bundle_reader *r, bundle_sink_fn sink, void *userdata, berr *e);
int bundle_reader_finish(struct bundle_reader *r, berr *e);
uint64_t bundle_reader_bytes_read(struct bundle_reader *r);

DEFINE_CLEANUP(struct bundle_reader *, bundle_reader_free)
