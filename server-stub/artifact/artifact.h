/* SPDX-License-Identifier: Apache-2.0 */
/* artifact.h — bundles as downloadable artifacts: hashes, verification, Range serving.
 *
 * An uploaded .berth file is verified against the server's trust directory before it is
 * ever recorded; a file that fails stays in the spool and is deleted. Serving streams the
 * file from disk (single byte ranges, strong ETag = sha256, If-Range).
 */
#pragma once

#include <stdint.h>

#include "base/err.h"

struct http_request;

struct artifact_hashes {
        char sha256[65], sha1[41], md5[33];
        uint64_t size;
};

/* Hashes a whole file (sha256, sha1, md5) in one pass. */
int artifact_hash_file(const char *path, struct artifact_hashes *h, berr *e);

/* Verifies a .berth file (the roots it carries against the server's trust root in
 * trust_dir + state_dir/trust, signatures against the resulting root, every blob,
 * canonical layout) and returns the signed name and version. -EOPNOTSUPP when this build
 * has no bundle reader. */
int artifact_verify_bundle(const char *path, const char *trust_dir, const char *state_dir, char **ret_name,
                           int64_t *ret_version, berr *e);

struct byte_range {
        uint64_t off, len;
};
/* Parses a Range header for a resource of size bytes:
 *   0        no Range, another unit, or several ranges (serve the whole file)
 *   1        one satisfiable range in *r
 *   -ERANGE  malformed or unsatisfiable (answer 416) */
int artifact_parse_range(const char *header, uint64_t size, struct byte_range *r);

/* Answers a GET/HEAD for the file at path (expected size and sha256 from the db). */
void artifact_serve(struct http_request *req, const char *path, const char *filename, uint64_t size,
                    const char *sha256);
