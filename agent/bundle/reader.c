/* SPDX-License-Identifier: Apache-2.0 */
/* reader.c — single-pass strict .berth reader (see reader.h and README.md).
 *
 * libarchive parses the tar (ustar only, no filters, no seeking: every byte passes
 * through read_cb). On top of libarchive's header checksums and the blob digests, the
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

#define READ_BUF_SIZE (64u * 1024) /* stays in L2 between the kernel's copy and the hash (measured: 1 MiB costs 45% more CPU) */
#define MAX_CHECK_RANGES 8
/* Byte ranges checked as they stream past, because no hash covers them. */
enum check_kind {
        CHECK_ZERO,     /* padding and end-of-archive blocks: all zero */
        CHECK_CAPTURE,  /* a header block: copied to r->hdr, compared once parsed */
};

struct check_range {
        uint64_t start, end;
        uint64_t origin;        /* offset of the range's first byte */
        enum check_kind kind;
};

enum reader_state { RS_NEW, RS_HEAD, RS_PARSED, RS_BLOB, RS_BLOB_DONE, RS_FINISHED, RS_FAILED };

struct bundle_reader {
        int fd;
        char *name;
        struct archive *a;
        uint8_t *buf;
        uint64_t buf_start;  /* absolute offset of buf[0] */
        size_t buf_len;
        uint64_t total;      /* bytes read from fd so far */
        bool eof;
        int io_error;        /* -errno from read(2), reported instead of libarchive's text */
        /* Fixed-value ranges that have not fully passed through buf yet. */
        struct check_range zr[MAX_CHECK_RANGES];
        size_t n_zr;
        bool zero_bad;
        uint64_t zero_bad_at;
        uint8_t hdr[TAR_HEADER_SIZE]; /* raw bytes of the header being read */

        char *manifest_raw, *sigs_raw, *roots_raw;
        size_t mlen, slen, rlen;        /* rlen 0: no roots entry */
        uint64_t head_size;             /* offset of the first blob's header */
        /* The header after the head when it is not the roots entry: read ahead to find
         * out, and checked as the first blob's header by next_blob(). */
        struct archive_entry *pending;
        bool head_eof;                  /* the archive ended right after the head */
        struct bundle_manifest *m;
        struct bundle_signatures *sigs;
        unsigned valid_sigs;
        size_t next_blob;
        const struct bundle_blob *cur;
        sha256_ctx *h;
        enum reader_state state;
};

static int fail(struct bundle_reader *r, berr *e, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Checks the part of z inside the retained buffer; leaves the part not yet seen. */
static void zero_check_buf(struct bundle_reader *r, struct check_range *z)
{
        uint64_t be = r->buf_start + r->buf_len;
        if (z->start >= be || z->end <= r->buf_start)
                return;
        uint64_t s = z->start > r->buf_start ? z->start : r->buf_start;
        uint64_t e = z->end < be ? z->end : be;
        if (z->kind == CHECK_CAPTURE)
                memcpy(r->hdr + (s - z->origin), r->buf + (s - r->buf_start), e - s);
        else
                for (uint64_t o = s; o < e; o++)
                        if (r->buf[o - r->buf_start] != 0) {
                                if (!r->zero_bad || o < r->zero_bad_at) {
                                        r->zero_bad = true;
                                        r->zero_bad_at = o;
                                }
                                break;
                        }
        if (e >= z->end)
                z->start = z->end; /* fully checked */
        else
                z->start = e;
}

static int expect_range(struct bundle_reader *r, uint64_t start, uint64_t end, enum check_kind kind)
{
        if (start >= end)
                return 0;
        /* Ranges are only ever added at or after the consumer's position, which lies
         * within the retained buffer or after it (see the file comment). */
        if (start < r->buf_start)
                return -EFAULT;
        struct check_range z = {start, end, start, kind};
        zero_check_buf(r, &z);
        if (z.start >= z.end)
                return 0;
        if (r->n_zr == MAX_CHECK_RANGES)
                return -ENOBUFS;
        r->zr[r->n_zr++] = z;
        return 0;
}

static int expect_zero(struct bundle_reader *r, uint64_t start, uint64_t end)
{
        return expect_range(r, start, end, CHECK_ZERO);
}

static int bad_byte(struct bundle_reader *r, berr *e)
{
        return fail(r, e, -EBADMSG, "byte %llu should be zero padding but is not: the file was altered",
                    (unsigned long long)r->zero_bad_at);
}

static void zero_check_pending(struct bundle_reader *r)
{
        size_t w = 0;
        for (size_t i = 0; i < r->n_zr; i++) {
                zero_check_buf(r, &r->zr[i]);
                if (r->zr[i].start < r->zr[i].end)
                        r->zr[w++] = r->zr[i];
        }
        r->n_zr = w;
}

/* Reads the next chunk into buf; 0 at EOF. */
static ssize_t fill(struct bundle_reader *r)
{
        if (r->eof)
                return 0;
        ssize_t n;
        do
                n = read(r->fd, r->buf, READ_BUF_SIZE);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                r->io_error = -errno;
                return -1;
        }
        r->buf_start = r->total;
        r->buf_len = (size_t)n;
        r->total += (uint64_t)n;
        if (n == 0)
                r->eof = true;
        zero_check_pending(r);
        return n;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf)
{
        struct bundle_reader *r = ud;
        ssize_t n = fill(r);
        if (n < 0) {
                archive_set_error(a, -r->io_error, "read error: %s", strerror(-r->io_error));
                return -1;
        }
        *buf = r->buf;
        return n;
}

static int fail_archive(struct bundle_reader *r, berr *e, const char *what);

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
        if (archive_read_open(r->a, r, NULL, read_cb, NULL) != ARCHIVE_OK)
                return fail_archive(r, e, "header"); /* libarchive already read the first blocks */
        *ret = TAKE_PTR(r);
        return 0;
}

static int fail(struct bundle_reader *r, berr *e, int code, const char *fmt, ...)
{
        char msg[640];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        r->state = RS_FAILED;
        return berr_set(e, code, "bundle %s: %s", r->name, msg);
}

static int fail_archive(struct bundle_reader *r, berr *e, const char *what)
{
        if (r->io_error)
                return fail(r, e, r->io_error, "%s: read error at byte %llu: %s", what,
                            (unsigned long long)r->total, strerror(-r->io_error));
        const char *s = archive_error_string(r->a);
        if (r->total == 0)
                return fail(r, e, -EBADMSG, "the file is empty; not a .berth bundle");
        if (archive_file_count(r->a) == 0 && !r->m)
                return fail(r, e, -EBADMSG, "not a .berth bundle (not a plain tar archive: %s)", s ? s : "unknown format");
        return fail(r, e, -EBADMSG, "%s: the file is truncated or damaged near byte %llu (%s); get a fresh copy",
                    what, (unsigned long long)r->total, s ? s : "unreadable");
}

/* Reads the next header (captured raw at want_offset) and checks what no entry may be:
 * 0 at the end of the archive, 1 with *ret set. */
static int read_header(struct bundle_reader *r, uint64_t want_offset, const char *what, struct archive_entry **ret,
                       berr *e)
{
        /* Read-ahead may have seen a bad byte further on; report it only once the reader
         * gets there, so the message names the first defect (e.g. a symlink entry, not
         * the trailer it shifted). finish() reports any bad byte in the end. */
        if (r->zero_bad && r->zero_bad_at < want_offset)
                return bad_byte(r, e);
        /* Capture the header block's raw bytes as they stream past; libarchive only
         * exposes the fields it parses, and parses some leniently. */
        memset(r->hdr, 0, sizeof r->hdr);
        int c = expect_range(r, want_offset, want_offset + TAR_HEADER_SIZE, CHECK_CAPTURE);
        if (c < 0)
                return fail(r, e, c, "internal error tracking headers");
        struct archive_entry *ent;
        int k = archive_read_next_header(r->a, &ent);
        if (k == ARCHIVE_EOF)
                return 0;
        /* A bad padding byte right before an unparseable header is the first defect. */
        if (k != ARCHIVE_OK && r->zero_bad && r->zero_bad_at < want_offset + BUNDLE_TAR_BLOCK)
                return bad_byte(r, e);
        if (k != ARCHIVE_OK)
                return fail_archive(r, e, what);
        const char *p = archive_entry_pathname(ent);
        if (!p)
                p = "(no name)";
        if (archive_format(r->a) != ARCHIVE_FORMAT_TAR_USTAR)
                return fail(r, e, -EBADMSG, "entry '%.100s' is not a plain ustar entry (pax/GNU extensions are not allowed)", p);
        mode_t type = archive_entry_filetype(ent);
        if (type != AE_IFREG || archive_entry_hardlink(ent) || archive_entry_symlink(ent))
                return fail(r, e, -EBADMSG, "entry '%.100s' is a link, directory or device; only regular files are allowed", p);
        if (p[0] == '/' || strstr(p, ".."))
                return fail(r, e, -EBADMSG, "entry '%.100s' has an absolute or '..' path", p);
        *ret = ent;
        return 1;
}

/* Checks a header read by read_header() against everything the canonical layout fixes:
 * 1 when it is want_name, 2 when it is another entry (the caller explains). */
static int check_entry(struct bundle_reader *r, struct archive_entry *ent, const char *want_name, uint64_t want_offset,
                       berr *e)
{
        const char *p = archive_entry_pathname(ent);
        if (!p || strcmp(p, want_name) != 0)
                return 2;
        if (!archive_entry_size_is_set(ent) || archive_entry_size(ent) < 0)
                return fail(r, e, -EBADMSG, "entry '%.100s' has no size", p);
        if ((archive_entry_perm(ent) & 07777) != 0644 || archive_entry_uid(ent) != 0 || archive_entry_gid(ent) != 0 ||
            archive_entry_mtime(ent) != 0 || (archive_entry_uname(ent) && *archive_entry_uname(ent)) ||
            (archive_entry_gname(ent) && *archive_entry_gname(ent)))
                return fail(r, e, -EBADMSG, "entry '%.100s' has non-canonical metadata (mode, owner or time)", p);
        int64_t pos = archive_read_header_position(r->a);
        if (pos < 0 || (uint64_t)pos != want_offset)
                return fail(r, e, -EBADMSG, "entry '%.100s' starts at byte %lld, the layout puts it at %llu", p,
                            (long long)pos, (unsigned long long)want_offset);
        uint64_t size = (uint64_t)archive_entry_size(ent);
        /* Everything libarchive checked is right; now the exact bytes. A header is a
         * pure function of name and size, so any other difference (a field libarchive
         * ignores, a re-encoded number, the checksum field's terminators) is damage. */
        uint8_t canon[TAR_HEADER_SIZE];
        if (!tar_canonical_header(canon, p, size))
                return fail(r, e, -EBADMSG, "entry '%.100s' cannot be a bundle entry (name or size too long)", p);
        /* Name the first differing field byte; the checksum field (148..155) only if
         * nothing else differs, since a forged field usually comes with a new sum. */
        int diff = -1;
        for (unsigned i = 0; i < TAR_HEADER_SIZE && diff < 0; i++)
                if ((i < 148 || i >= 156) && canon[i] != r->hdr[i])
                        diff = (int)i;
        for (unsigned i = 148; i < 156 && diff < 0; i++)
                if (canon[i] != r->hdr[i])
                        diff = (int)i;
        if (diff >= 0)
                return fail(r, e, -EBADMSG, "the tar header of '%.100s' is non-canonical (byte %llu differs from the "
                            "canonical header): the file was altered", p, (unsigned long long)(want_offset + (unsigned)diff));
        /* Bytes between the end of this entry's data and the next 512-byte block. */
        int z = expect_zero(r, want_offset + BUNDLE_TAR_BLOCK + size, want_offset + BUNDLE_TAR_BLOCK + tar_padded(size));
        if (z < 0)
                return fail(r, e, z, "internal error tracking padding");
        return 1;
}

/* Reads the next header and checks it: 0 at the end, 1 when it is want_name (or any
 * entry when want_name is NULL), 2 when it is another entry; *ret set for 1 and 2. */
static int next_entry(struct bundle_reader *r, const char *want_name, uint64_t want_offset, struct archive_entry **ret,
                      berr *e)
{
        int k = read_header(r, want_offset, want_name ? want_name : "end of archive", ret, e);
        if (k <= 0 || !want_name)
                return k;
        return check_entry(r, *ret, want_name, want_offset, e);
}

static int read_small(struct bundle_reader *r, const char *what, size_t max, uint64_t size, char **ret, berr *e)
{
        if (size > max)
                return fail(r, e, -EFBIG, "%s is %llu bytes, over the limit of %zu", what, (unsigned long long)size, max);
        char *b = malloc(size + 1);
        if (!b)
                return -ENOMEM;
        size_t got = 0;
        while (got < size) {
                la_ssize_t n = archive_read_data(r->a, b + got, size - got);
                if (n < 0) {
                        free(b);
                        return fail_archive(r, e, what);
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        if (got != size) {
                free(b);
                return fail(r, e, -EBADMSG, "%s is truncated", what);
        }
        b[size] = 0;
        *ret = b;
        return 0;
}

int bundle_reader_read_head(struct bundle_reader *r, berr *e)
{
        if (r->state != RS_NEW)
                return -EINVAL;
        struct archive_entry *ent;
        int k = next_entry(r, BUNDLE_MANIFEST_ENTRY, 0, &ent, e);
        if (k == 0)
                return r->total == 0 ? fail(r, e, -EBADMSG, "the file is empty; not a .berth bundle")
                                     : fail(r, e, -EBADMSG, "archive holds no entries; not a .berth bundle");
        if (k == 2)
                return fail(r, e, -EBADMSG, "first entry is '%.100s', expected '%s' (not a .berth bundle, or entries out of order)",
                            archive_entry_pathname(ent), BUNDLE_MANIFEST_ENTRY);
        if (k < 0)
                return k;
        uint64_t msize = (uint64_t)archive_entry_size(ent);
        int q = read_small(r, "manifest", BUNDLE_MAX_MANIFEST_SIZE, msize, &r->manifest_raw, e);
        if (q < 0)
                return q;
        r->mlen = msize;

        k = next_entry(r, BUNDLE_SIGNATURES_ENTRY, BUNDLE_TAR_BLOCK + tar_padded(msize), &ent, e);
        if (k == 0)
                return fail(r, e, -EBADMSG, "'%s' is missing: the bundle is unsigned or truncated", BUNDLE_SIGNATURES_ENTRY);
        if (k == 2)
                return fail(r, e, -EBADMSG, "second entry is '%.100s', expected '%s'", archive_entry_pathname(ent),
                            BUNDLE_SIGNATURES_ENTRY);
        if (k < 0)
                return k;
        uint64_t ssize = (uint64_t)archive_entry_size(ent);
        q = read_small(r, "signatures", BUNDLE_MAX_SIGNATURES_SIZE, ssize, &r->sigs_raw, e);
        if (q < 0)
                return q;
        r->slen = ssize;
        r->head_size = bundle_head_size(msize, ssize, 0);

        /* The optional roots entry. Whatever header comes instead is the first blob's
         * (or the end of a head-only buffer): kept for next_blob() to check. */
        uint64_t off = r->head_size;
        k = read_header(r, off, "the entry after " BUNDLE_SIGNATURES_ENTRY, &ent, e);
        if (k < 0)
                return k;
        if (k == 0)
                r->head_eof = true;
        else if (archive_entry_pathname(ent) && !strcmp(archive_entry_pathname(ent), BUNDLE_ROOTS_ENTRY)) {
                k = check_entry(r, ent, BUNDLE_ROOTS_ENTRY, off, e);
                if (k < 0)
                        return k;
                uint64_t rsize = (uint64_t)archive_entry_size(ent);
                if (rsize == 0)
                        return fail(r, e, -EBADMSG, "'%s' is empty", BUNDLE_ROOTS_ENTRY);
                q = read_small(r, BUNDLE_ROOTS_ENTRY, BUNDLE_MAX_ROOTS_SIZE, rsize, &r->roots_raw, e);
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
                return fail(r, e, q, "%s", berr_msg(&sub, q));
        bundle_manifest_layout(r->m, r->head_size);
        /* Everything after the last blob is the two zero blocks of end-of-archive. */
        uint64_t end = bundle_manifest_file_size(r->m, r->head_size);
        q = expect_zero(r, end - 2 * BUNDLE_TAR_BLOCK, end);
        if (q < 0)
                return fail(r, e, q, "internal error tracking the trailer");
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
                return fail(r, e, -EKEYEXPIRED, "%s expired at %s: no bundle is accepted until a newer trust root "
                            "arrives (in a bundle, from the server or with 'berth trust install'; see 'Rotating and "
                            "revoking keys' in the README)", t->dir, ts);
        }
        berr sub = {0};
        int q = signatures_parse(r->sigs_raw, r->slen, &r->sigs, &sub);
        if (q < 0)
                return fail(r, e, q, "%s", berr_msg(&sub, q));
        /* The signatures are checked over the raw bytes before the manifest is parsed. */
        q = signatures_verify(r->sigs, t, r->manifest_raw, r->mlen, &r->valid_sigs, &sub);
        if (q < 0)
                return fail(r, e, q, "%s", berr_msg(&sub, q));
        q = parse_manifest(r, e);
        if (q < 0)
                return q;
        if (now >= r->m->expires) {
                char ts[32];
                time_format_rfc3339(r->m->expires, ts);
                return fail(r, e, -EKEYEXPIRED, "%s version %lld expired at %s; ask the publisher for a fresh bundle",
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
                return fail(r, e, q, "%s", berr_msg(&sub, q));
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
                                return fail(r, e, -EBADMSG, "blob %s appears twice", d);
                        if (b)
                                return fail(r, e, -EBADMSG, "blob %s is out of order (expected %s next)", d, want->digest);
                        return fail(r, e, -EBADMSG, "entry '%.100s' is not listed in the manifest", p);
                }
        }
        return fail(r, e, -EBADMSG, "unexpected entry '%.100s' (expected blob %s)", p, want->digest);
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
                k = check_entry(r, ent, want, b->header_offset, e);
        } else if (r->head_eof)
                k = 0;
        else
                k = next_entry(r, want, b->header_offset, &ent, e);
        if (k == 0)
                return fail(r, e, -EBADMSG, "truncated: blob %s (%zu of %zu) is missing", b->digest, r->next_blob + 1,
                            r->m->n_blobs);
        if (k == 2)
                return wrong_blob(r, archive_entry_pathname(ent), b, e);
        if (k < 0)
                return k;
        if ((uint64_t)archive_entry_size(ent) != b->size)
                return fail(r, e, -EBADMSG, "blob %s is %lld bytes in the archive but %llu in the manifest", b->digest,
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
                        return fail_archive(r, e, r->cur->digest);
                if ((uint64_t)off != got)
                        return fail(r, e, -EBADMSG, "blob %s has a hole", r->cur->digest);
                if (sha256_update(r->h, p, n) < 0)
                        return fail(r, e, -EIO, "hashing failed");
                if (sink) {
                        int q = sink(userdata, p, n);
                        if (q < 0)
                                return q; /* the sink reports its own error */
                }
                got += n;
        }
        char d[DIGEST_STR_LEN + 1];
        if (sha256_final_str(r->h, d) < 0)
                return fail(r, e, -EIO, "hashing failed");
        if (got != r->cur->size)
                return fail(r, e, -EBADMSG, "blob %s is truncated (%llu of %llu bytes)", r->cur->digest,
                            (unsigned long long)got, (unsigned long long)r->cur->size);
        if (strcmp(d, r->cur->digest) != 0)
                return fail(r, e, -EBADMSG, "blob %s is corrupt (its content hashes to %s); get a fresh copy",
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
                k = next_entry(r, NULL, end - 2 * BUNDLE_TAR_BLOCK, &ent, e);
        if (k < 0)
                return k;
        if (k > 0)
                return fail(r, e, -EBADMSG, "unexpected extra entry '%.100s' after the last blob",
                            archive_entry_pathname(ent));
        /* libarchive may stop at the first zero block; read the rest ourselves so the
         * whole file has been seen and checked. */
        while (!r->eof) {
                if (fill(r) < 0)
                        return fail(r, e, r->io_error, "read error: %s", strerror(-r->io_error));
                if (r->total > end)
                        break;
        }
        if (r->total < end)
                return fail(r, e, -EBADMSG, "truncated: the end-of-archive blocks are missing (%llu of %llu bytes)",
                            (unsigned long long)r->total, (unsigned long long)end);
        if (r->total > end)
                return fail(r, e, -EBADMSG, "unexpected data after the end of the archive (file is longer than %llu bytes)",
                            (unsigned long long)end);
        if (r->zero_bad)
                return bad_byte(r, e);
        if (r->n_zr)
                return fail(r, e, -EBADMSG, "internal error: padding not fully checked");
        r->state = RS_FINISHED;
        return 0;
}
