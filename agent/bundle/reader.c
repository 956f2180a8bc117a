/* SPDX-License-Identifier: Apache-2.0 */
/* reader.c — single-pass strict .berth reader (see reader.h and README.md).
 *
 * libarchive parses the tar (ustar only, no filters, no seeking: every byte passes
 * through reader_read_cb()). On top of libarchive's header checksums and the blob digests, the
 * reader checks the canonical layout: each header sits at the offset the manifest
 * implies, entry metadata is the canonical one, every padding byte and the
 * end-of-archive blocks are zero, and the file ends exactly there. So no byte of the
 * file can change without the bundle being rejected.
 */
#include "bundle/reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "bundle/format.h"
#include "bundle/tarheader.h"
#include "bundle/reader_int.h"

void bundle_reader_free(struct bundle_reader *r)
{
        if (!r)
                return;
        if (r->a)
                archive_read_free(r->a);
        if (r->fd >= 0)
                close(r->fd);
        free(r->buf);
        free(r->name);
        free(r->manifest_raw);
        free(r->sigs_raw);
        free(r->roots_raw);
        bundle_manifest_free(r->m);
        signatures_free(r->sigs);
        sha256_free(r->h);
        free(r);
}

int bundle_reader_new(int fd, const char *display_name, struct bundle_reader **ret, berr *e)
{
        _cleanup_(bundle_reader_freep) struct bundle_reader *r = calloc(1, sizeof *r);
        if (!r) {
                close(fd);
                return -ENOMEM;
        }
        r->fd = fd;
        r->name = strdup(display_name ? display_name : "bundle");
        r->buf = malloc(READ_BUF_SIZE);
        if (!r->name || !r->buf || sha256_new(&r->h) < 0)
                return -ENOMEM;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                return berr_set(e, -EISDIR, "%s is a directory, not a .berth bundle", r->name);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        r->a = archive_read_new();
        if (!r->a)
                return -ENOMEM;
        /* Plain tar only: no compression filters, no other formats. */
        archive_read_support_format_tar(r->a);
        if (archive_read_open(r->a, r, NULL, reader_read_cb, NULL) != ARCHIVE_OK)
                return reader_fail_archive(r, e, "header"); /* libarchive already read the first blocks */
        *ret = TAKE_PTR(r);
        return 0;
}

int bundle_reader_read_head(struct bundle_reader *r, berr *e)
{
        if (r->state != RS_NEW)
                return -EINVAL;
        struct archive_entry *ent;
        int k = reader_next_entry(r, BUNDLE_MANIFEST_ENTRY, 0, &ent, e);
        if (k == 0)
                return r->total == 0 ? reader_fail(r, e, -EBADMSG, "the file is empty; not a .berth bundle")
                                     : reader_fail(r, e, -EBADMSG, "archive holds no entries; not a .berth bundle");
        if (k == 2)
                return reader_fail(r, e, -EBADMSG, "first entry is '%.100s', expected '%s' (not a .berth bundle, or entries out of order)",
                                   archive_entry_pathname(ent), BUNDLE_MANIFEST_ENTRY);
        if (k < 0)
                return k;
        uint64_t msize = (uint64_t)archive_entry_size(ent);
        int q = reader_read_small(r, "manifest", BUNDLE_MAX_MANIFEST_SIZE, msize, &r->manifest_raw, e);
        if (q < 0)
                return q;
        r->mlen = msize;

        k = reader_next_entry(r, BUNDLE_SIGNATURES_ENTRY, BUNDLE_TAR_BLOCK + tar_padded(msize), &ent, e);
        if (k == 0)
                return reader_fail(r, e, -EBADMSG, "'%s' is missing: the bundle is unsigned or truncated", BUNDLE_SIGNATURES_ENTRY);
        if (k == 2)
                return reader_fail(r, e, -EBADMSG, "second entry is '%.100s', expected '%s'", archive_entry_pathname(ent),
                                   BUNDLE_SIGNATURES_ENTRY);
        if (k < 0)
                return k;
        uint64_t ssize = (uint64_t)archive_entry_size(ent);
        q = reader_read_small(r, "signatures", BUNDLE_MAX_SIGNATURES_SIZE, ssize, &r->sigs_raw, e);
        if (q < 0)
                return q;
        r->slen = ssize;
        r->head_size = bundle_head_size(msize, ssize, 0);

        /* The optional roots entry. Whatever header comes instead is the first blob's
         * (or the end of a head-only buffer): kept for next_blob() to check. */
        uint64_t off = r->head_size;
        k = reader_read_header(r, off, "the entry after " BUNDLE_SIGNATURES_ENTRY, &ent, e);
        if (k < 0)
                return k;
        if (k == 0)
                r->head_eof = true;
        else if (archive_entry_pathname(ent) && !strcmp(archive_entry_pathname(ent), BUNDLE_ROOTS_ENTRY)) {
                k = reader_check_entry(r, ent, BUNDLE_ROOTS_ENTRY, off, e);
                if (k < 0)
                        return k;
                uint64_t rsize = (uint64_t)archive_entry_size(ent);
                if (rsize == 0)
                        return reader_fail(r, e, -EBADMSG, "'%s' is empty", BUNDLE_ROOTS_ENTRY);
                q = reader_read_small(r, BUNDLE_ROOTS_ENTRY, BUNDLE_MAX_ROOTS_SIZE, rsize, &r->roots_raw, e);
                if (q < 0)
                        return q;
                r->rlen = rsize;
                r->head_size = bundle_head_size(msize, ssize, rsize);
        } else
                r->pending = ent;
        r->state = RS_HEAD;
        return 0;
}

static int parse_manifest(struct bundle_reader *r, berr *e)
{
        berr sub = {0};
        int q = bundle_manifest_parse(r->manifest_raw, r->mlen, &r->m, &sub);
        if (q < 0)
                return reader_fail(r, e, q, "%s", berr_msg(&sub, q));
        bundle_manifest_layout(r->m, r->head_size);
        /* Everything after the last blob is the two zero blocks of end-of-archive. */
        uint64_t end = bundle_manifest_file_size(r->m, r->head_size);
        q = reader_expect_zero(r, end - 2 * BUNDLE_TAR_BLOCK, end);
        if (q < 0)
                return reader_fail(r, e, q, "internal error tracking the trailer");
        r->state = RS_PARSED;
        return 0;
}

int bundle_reader_verify(struct bundle_reader *r, const struct trust *t, int64_t now, berr *e)
{
        if (r->state != RS_HEAD)
                return -EINVAL;
        /* Freeze protection: while the trust root is expired, nothing it vouches for is
         * accepted; only a newer root (which the caller advanced to before) ends that. */
        if (t->expires && now >= t->expires) {
                char ts[32];
                time_format_rfc3339(t->expires, ts);
                return reader_fail(r, e, -EKEYEXPIRED, "%s expired at %s: no bundle is accepted until a newer trust root "
                                   "arrives (in a bundle, from the server or with 'berth trust install'; see 'Rotating and "
                                   "revoking keys' in the README)", t->dir, ts);
        }
        berr sub = {0};
        int q = signatures_parse(r->sigs_raw, r->slen, &r->sigs, &sub);
        if (q < 0)
                return reader_fail(r, e, q, "%s", berr_msg(&sub, q));
        /* The signatures are checked over the raw bytes before the manifest is parsed. */
        q = signatures_verify(r->sigs, t, r->manifest_raw, r->mlen, &r->valid_sigs, &sub);
        if (q < 0)
                return reader_fail(r, e, q, "%s", berr_msg(&sub, q));
        q = parse_manifest(r, e);
        if (q < 0)
                return q;
        if (now >= r->m->expires) {
                char ts[32];
                time_format_rfc3339(r->m->expires, ts);
                return reader_fail(r, e, -EKEYEXPIRED, "%s version %lld expired at %s; ask the publisher for a fresh bundle",
                                   r->m->name, (long long)r->m->version, ts);
        }
        return 0;
}

int bundle_reader_parse_unverified(struct bundle_reader *r, berr *e)
{
        if (r->state != RS_HEAD)
                return -EINVAL;
        berr sub = {0};
        int q = signatures_parse(r->sigs_raw, r->slen, &r->sigs, &sub);
        if (q < 0)
                return reader_fail(r, e, q, "%s", berr_msg(&sub, q));
        return parse_manifest(r, e);
}

struct bundle_manifest *bundle_reader_manifest(struct bundle_reader *r)
{
        return r->m;
}

const struct bundle_signatures *bundle_reader_signatures(struct bundle_reader *r)
{
        return r->sigs;
}

unsigned bundle_reader_valid_signatures(struct bundle_reader *r)
{
        return r->valid_sigs;
}

void bundle_reader_head_bytes(struct bundle_reader *r, const void **manifest, size_t *mlen, const void **sigs,
                              size_t *slen)
{
        *manifest = r->manifest_raw;
        *mlen = r->mlen;
        *sigs = r->sigs_raw;
        *slen = r->slen;
}

void bundle_reader_roots(struct bundle_reader *r, const void **roots, size_t *len)
{
        *roots = r->roots_raw;
        *len = r->rlen;
}

uint64_t bundle_reader_head_size(struct bundle_reader *r)
{
        return r->head_size;
}

uint64_t bundle_reader_bytes_read(struct bundle_reader *r)
{
        return r->total;
}

/* Explains why an entry is not the blob the layout expects next. */
static int wrong_blob(struct bundle_reader *r, const char *p, const struct bundle_blob *want, berr *e)
{
        char d[DIGEST_STR_LEN + 1];
        size_t pl = strlen(BUNDLE_BLOB_DIR);
        if (strncmp(p, BUNDLE_BLOB_DIR, pl) == 0) {
                snprintf(d, sizeof d, "sha256:%s", p + pl);
                if (digest_valid(d)) {
                        const struct bundle_blob *b = bundle_manifest_find_blob(r->m, d);
                        if (b && b < want)
                                return reader_fail(r, e, -EBADMSG, "blob %s appears twice", d);
                        if (b)
                                return reader_fail(r, e, -EBADMSG, "blob %s is out of order (expected %s next)", d, want->digest);
                        return reader_fail(r, e, -EBADMSG, "entry '%.100s' is not listed in the manifest", p);
                }
        }
        return reader_fail(r, e, -EBADMSG, "unexpected entry '%.100s' (expected blob %s)", p, want->digest);
}

int bundle_reader_next_blob(struct bundle_reader *r, const struct bundle_blob **ret, berr *e)
{
        if (r->state != RS_PARSED && r->state != RS_BLOB_DONE)
                return -EINVAL;
        if (r->next_blob == r->m->n_blobs)
                return 0;
        const struct bundle_blob *b = &r->m->blobs[r->next_blob];
        char want[sizeof(BUNDLE_BLOB_DIR) + DIGEST_HEX_LEN];
        snprintf(want, sizeof want, "%s%s", BUNDLE_BLOB_DIR, digest_hex(b->digest));
        struct archive_entry *ent;
        int k;
        if (r->pending) {
                ent = TAKE_PTR(r->pending);
                k = reader_check_entry(r, ent, want, b->header_offset, e);
        } else if (r->head_eof)
                k = 0;
        else
                k = reader_next_entry(r, want, b->header_offset, &ent, e);
        if (k == 0)
                return reader_fail(r, e, -EBADMSG, "truncated: blob %s (%zu of %zu) is missing", b->digest, r->next_blob + 1,
                                   r->m->n_blobs);
        if (k == 2)
                return wrong_blob(r, archive_entry_pathname(ent), b, e);
        if (k < 0)
                return k;
        if ((uint64_t)archive_entry_size(ent) != b->size)
                return reader_fail(r, e, -EBADMSG, "blob %s is %lld bytes in the archive but %llu in the manifest", b->digest,
                                   (long long)archive_entry_size(ent), (unsigned long long)b->size);
        r->cur = b;
        r->next_blob++;
        r->state = RS_BLOB;
        *ret = b;
        return 1;
}

int bundle_reader_stream_blob(struct bundle_reader *r, bundle_sink_fn sink, void *userdata, berr *e)
{
        if (r->state != RS_BLOB)
                return -EINVAL;
        uint64_t got = 0;
        for (;;) {
                const void *p;
                size_t n;
                la_int64_t off;
                int k = archive_read_data_block(r->a, &p, &n, &off);
                if (k == ARCHIVE_EOF)
                        break;
                if (k != ARCHIVE_OK)
                        return reader_fail_archive(r, e, r->cur->digest);
                if ((uint64_t)off != got)
                        return reader_fail(r, e, -EBADMSG, "blob %s has a hole", r->cur->digest);
                if (sha256_update(r->h, p, n) < 0)
                        return reader_fail(r, e, -EIO, "hashing failed");
                if (sink) {
                        int q = sink(userdata, p, n);
                        if (q < 0)
                                return q; /* the sink reports its own error */
                }
                got += n;
        }
        char d[DIGEST_STR_LEN + 1];
        if (sha256_final_str(r->h, d) < 0)
                return reader_fail(r, e, -EIO, "hashing failed");
        if (got != r->cur->size)
                return reader_fail(r, e, -EBADMSG, "blob %s is truncated (%llu of %llu bytes)", r->cur->digest,
                                   (unsigned long long)got, (unsigned long long)r->cur->size);
        if (strcmp(d, r->cur->digest) != 0)
                return reader_fail(r, e, -EBADMSG, "blob %s is corrupt (its content hashes to %s); get a fresh copy",
                                   r->cur->digest, d);
        r->state = RS_BLOB_DONE;
        return 0;
}

int bundle_reader_finish(struct bundle_reader *r, berr *e)
{
        if (r->state != RS_BLOB_DONE && !(r->state == RS_PARSED && r->m->n_blobs == 0))
                return -EINVAL;
        if (r->next_blob != r->m->n_blobs)
                return -EINVAL;
        struct archive_entry *ent;
        uint64_t end = bundle_manifest_file_size(r->m, r->head_size);
        int k;
        if (r->pending) {
                /* No blob: the header read after the head is where the end belongs. */
                ent = TAKE_PTR(r->pending);
                k = 1;
        } else if (r->head_eof)
                k = 0;
        else
                k = reader_next_entry(r, NULL, end - 2 * BUNDLE_TAR_BLOCK, &ent, e);
        if (k < 0)
                return k;
        if (k > 0)
                return reader_fail(r, e, -EBADMSG, "unexpected extra entry '%.100s' after the last blob",
                                   archive_entry_pathname(ent));
        /* libarchive may stop at the first zero block; read the rest ourselves so the
         * whole file has been seen and checked. */
        while (!r->eof) {
                if (reader_fill(r) < 0)
                        return reader_fail(r, e, r->io_error, "read error: %s", strerror(-r->io_error));
                if (r->total > end)
                        break;
        }
        if (r->total < end)
                return reader_fail(r, e, -EBADMSG, "truncated: the end-of-archive blocks are missing (%llu of %llu bytes)",
                                   (unsigned long long)r->total, (unsigned long long)end);
        if (r->total > end)
                return reader_fail(r, e, -EBADMSG, "unexpected data after the end of the archive (file is longer than %llu bytes)",
                                   (unsigned long long)end);
        if (r->zero_bad)
                return reader_bad_byte(r, e);
        if (r->n_zr)
                return reader_fail(r, e, -EBADMSG, "internal error: padding not fully checked");
        r->state = RS_FINISHED;
        return 0;
}
