/* SPDX-License-Identifier: Apache-2.0 */
/* content.h — containerd's content store (Content service): what it holds, labels
 * (the GC references between blobs), and streaming a blob in with Content.Write,
 * resuming a half-written ingest after a crash.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "containerd/client.h"

/* Content.Info. -ENOENT when containerd does not have digest. *ret_size may be NULL. */
int ctrd_content_info(struct ctrd *c, const char *digest, uint64_t *ret_size, berr *e);
/* Content.Info, true when labels[i].key has exactly labels[i].value for every i. */
int ctrd_content_has_labels(struct ctrd *c, const char *digest, const struct ctrd_label *labels, size_t n,
                            bool *ret, berr *e);
/* Content.Update of just these labels (other labels are kept). */
int ctrd_content_set_labels(struct ctrd *c, const char *digest, const struct ctrd_label *labels, size_t n,
                            berr *e);
struct ctrd_ingest {
        uint64_t offset;        /* bytes written so far */
        uint64_t total;         /* expected size, 0 = unknown */
        char expected[80];      /* expected digest, "" = unknown */
};
/* Content.Status of an ingest; -ENOENT when there is none. */
int ctrd_content_status(struct ctrd *c, const char *ref, struct ctrd_ingest *ret, berr *e);
int ctrd_content_abort(struct ctrd *c, const char *ref, berr *e);

/* Writes size bytes read from fd at src_offset.. (pread; the fd's position is
 * untouched, so the fd may be shared) as the blob
 * digest under ingest ref, committing it with labels. Resumes an existing ingest of
 * the same ref and digest from its offset. Messages carry ≤ 4 MiB. Success also when
 * containerd already has the blob. *ret_sent (may be NULL) = bytes sent. */
int ctrd_content_write_fd(struct ctrd *c, const char *ref, const char *digest, uint64_t size, int fd,
                          uint64_t src_offset, const struct ctrd_label *labels, size_t n_labels, uint64_t *ret_sent, berr *e);
