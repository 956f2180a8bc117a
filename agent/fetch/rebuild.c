/* SPDX-License-Identifier: Apache-2.0 */
/* rebuild.c — the artifact's sha256 from its head and the stored blobs (see rebuild.h). */
#include "fetch/rebuild.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "bundle/format.h"
#include "bundle/tarheader.h"

static int hash_zeros(sha256_ctx *h, uint64_t n)
{
        static const uint8_t zero[BUNDLE_TAR_BLOCK];
        while (n) {
                size_t k = n < sizeof zero ? (size_t)n : sizeof zero;
                if (sha256_update(h, zero, k) < 0)
                        return -EIO;
                n -= k;
        }
        return 0;
}

static int hash_blob(sha256_ctx *h, struct content_store *cs, const struct bundle_blob *b, berr *e)
{
        char name[sizeof(BUNDLE_BLOB_DIR) + DIGEST_HEX_LEN];
        snprintf(name, sizeof name, "%s%s", BUNDLE_BLOB_DIR, digest_hex(b->digest));
        uint8_t hdr[TAR_HEADER_SIZE];
        if (!tar_canonical_header(hdr, name, b->size))
                return berr_set(e, -EBADMSG, "blob %s cannot be a bundle entry", b->digest);
        if (sha256_update(h, hdr, sizeof hdr) < 0)
                return -EIO;
        _cleanup_close_ int fd = -1;
        int r = content_open(cs, b->digest, &fd);
        if (r < 0)
                return berr_set(e, r, "blob %s is not in the store: %s", b->digest, strerror(-r));
        uint8_t buf[64 * 1024];
        uint64_t left = b->size;
        while (left) {
                ssize_t n = read(fd, buf, left < sizeof buf ? (size_t)left : sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return berr_set(e, n < 0 ? -errno : -EIO, "cannot read blob %s from the store", b->digest);
                if (sha256_update(h, buf, (size_t)n) < 0)
                        return -EIO;
                left -= (uint64_t)n;
        }
        return hash_zeros(h, tar_padded(b->size) - b->size);
}

int fetch_rebuild_sha256(const struct bundle_manifest *m, const uint8_t *head, size_t head_len, uint64_t artifact_size,
                         struct content_store *cs, char out[DIGEST_HEX_LEN + 1], berr *e)
{
        uint64_t implied = bundle_manifest_file_size(m, head_len);
        if (!artifact_size)
                artifact_size = implied;
        if (artifact_size < implied)
                return berr_set(e, -EBADMSG, "the artifact is %llu bytes, fewer than the %llu its manifest lays out",
                                (unsigned long long)artifact_size, (unsigned long long)implied);
        sha256_ctx *h = NULL;
        if (sha256_new(&h) < 0)
                return -ENOMEM;
        int r = sha256_update(h, head, head_len) < 0 ? -EIO : 0;
        for (size_t i = 0; r >= 0 && i < m->n_blobs; i++)
                r = hash_blob(h, cs, &m->blobs[i], e);
        if (r >= 0)
                r = hash_zeros(h, artifact_size - implied + 2 * BUNDLE_TAR_BLOCK);
        char full[DIGEST_STR_LEN + 1];
        if (r >= 0 && sha256_final_str(h, full) < 0)
                r = -EIO;
        sha256_free(h);
        if (r < 0)
                return r;
        memcpy(out, digest_hex(full), DIGEST_HEX_LEN + 1);
        return 0;
}
