/* SPDX-License-Identifier: Apache-2.0 */
/* reader_tar.c — the byte stream and the tar entries under the .berth reader: every
 * byte read from the fd passes through here (libarchive's read callback), padding and
 * end-of-archive ranges are checked to be zero as they stream past, and each header
 * is checked against the canonical layout. Knows nothing about manifests or trust. */
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

int reader_expect_zero(struct bundle_reader *r, uint64_t start, uint64_t end)
{
        return expect_range(r, start, end, CHECK_ZERO);
}

int reader_bad_byte(struct bundle_reader *r, berr *e)
{
        return reader_fail(r, e, -EBADMSG, "byte %llu should be zero padding but is not: the file was altered",
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
ssize_t reader_fill(struct bundle_reader *r)
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

la_ssize_t reader_read_cb(struct archive *a, void *ud, const void **buf)
{
        struct bundle_reader *r = ud;
        ssize_t n = reader_fill(r);
        if (n < 0) {
                archive_set_error(a, -r->io_error, "read error: %s", strerror(-r->io_error));
                return -1;
        }
        *buf = r->buf;
        return n;
}

int reader_fail(struct bundle_reader *r, berr *e, int code, const char *fmt, ...)
{
        char msg[640];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        r->state = RS_FAILED;
        return berr_set(e, code, "bundle %s: %s", r->name, msg);
}

int reader_fail_archive(struct bundle_reader *r, berr *e, const char *what)
{
        if (r->io_error)
                return reader_fail(r, e, r->io_error, "%s: read error at byte %llu: %s", what,
                                   (unsigned long long)r->total, strerror(-r->io_error));
        const char *s = archive_error_string(r->a);
        if (r->total == 0)
                return reader_fail(r, e, -EBADMSG, "the file is empty; not a .berth bundle");
        if (archive_file_count(r->a) == 0 && !r->m)
                return reader_fail(r, e, -EBADMSG, "not a .berth bundle (not a plain tar archive: %s)", s ? s : "unknown format");
        return reader_fail(r, e, -EBADMSG, "%s: the file is truncated or damaged near byte %llu (%s); get a fresh copy",
                           what, (unsigned long long)r->total, s ? s : "unreadable");
}

/* Reads the next header (captured raw at want_offset) and checks what no entry may be:
 * 0 at the end of the archive, 1 with *ret set. */
int reader_read_header(struct bundle_reader *r, uint64_t want_offset, const char *what, struct archive_entry **ret,
                       berr *e)
{
        /* Read-ahead may have seen a bad byte further on; report it only once the reader
         * gets there, so the message names the first defect (e.g. a symlink entry, not
         * the trailer it shifted). finish() reports any bad byte in the end. */
        if (r->zero_bad && r->zero_bad_at < want_offset)
                return reader_bad_byte(r, e);
        /* Capture the header block's raw bytes as they stream past; libarchive only
         * exposes the fields it parses, and parses some leniently. */
        memset(r->hdr, 0, sizeof r->hdr);
        int c = expect_range(r, want_offset, want_offset + TAR_HEADER_SIZE, CHECK_CAPTURE);
        if (c < 0)
                return reader_fail(r, e, c, "internal error tracking headers");
        struct archive_entry *ent;
        int k = archive_read_next_header(r->a, &ent);
        if (k == ARCHIVE_EOF)
                return 0;
        /* A bad padding byte right before an unparseable header is the first defect. */
        if (k != ARCHIVE_OK && r->zero_bad && r->zero_bad_at < want_offset + BUNDLE_TAR_BLOCK)
                return reader_bad_byte(r, e);
        if (k != ARCHIVE_OK)
                return reader_fail_archive(r, e, what);
        const char *p = archive_entry_pathname(ent);
        if (!p)
                p = "(no name)";
        if (archive_format(r->a) != ARCHIVE_FORMAT_TAR_USTAR)
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' is not a plain ustar entry (pax/GNU extensions are not allowed)", p);
        mode_t type = archive_entry_filetype(ent);
        if (type != AE_IFREG || archive_entry_hardlink(ent) || archive_entry_symlink(ent))
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' is a link, directory or device; only regular files are allowed", p);
        if (p[0] == '/' || strstr(p, ".."))
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' has an absolute or '..' path", p);
        *ret = ent;
        return 1;
}

/* Checks a header read by reader_read_header() against everything the canonical layout fixes:
 * 1 when it is want_name, 2 when it is another entry (the caller explains). */
int reader_check_entry(struct bundle_reader *r, struct archive_entry *ent, const char *want_name, uint64_t want_offset,
                       berr *e)
{
        const char *p = archive_entry_pathname(ent);
        if (!p || strcmp(p, want_name) != 0)
                return 2;
        if (!archive_entry_size_is_set(ent) || archive_entry_size(ent) < 0)
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' has no size", p);
        if ((archive_entry_perm(ent) & 07777) != 0644 || archive_entry_uid(ent) != 0 || archive_entry_gid(ent) != 0 ||
            archive_entry_mtime(ent) != 0 || (archive_entry_uname(ent) && *archive_entry_uname(ent)) ||
            (archive_entry_gname(ent) && *archive_entry_gname(ent)))
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' has non-canonical metadata (mode, owner or time)", p);
        int64_t pos = archive_read_header_position(r->a);
        if (pos < 0 || (uint64_t)pos != want_offset)
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' starts at byte %lld, the layout puts it at %llu", p,
                                   (long long)pos, (unsigned long long)want_offset);
        uint64_t size = (uint64_t)archive_entry_size(ent);
        /* Everything libarchive checked is right; now the exact bytes. A header is a
         * pure function of name and size, so any other difference (a field libarchive
         * ignores, a re-encoded number, the checksum field's terminators) is damage. */
        uint8_t canon[TAR_HEADER_SIZE];
        if (!tar_canonical_header(canon, p, size))
                return reader_fail(r, e, -EBADMSG, "entry '%.100s' cannot be a bundle entry (name or size too long)", p);
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
                return reader_fail(r, e, -EBADMSG, "the tar header of '%.100s' is non-canonical (byte %llu differs from the "
                                   "canonical header): the file was altered", p, (unsigned long long)(want_offset + (unsigned)diff));
        /* Bytes between the end of this entry's data and the next 512-byte block. */
        int z = reader_expect_zero(r, want_offset + BUNDLE_TAR_BLOCK + size, want_offset + BUNDLE_TAR_BLOCK + tar_padded(size));
        if (z < 0)
                return reader_fail(r, e, z, "internal error tracking padding");
        return 1;
}

/* Reads the next header and checks it: 0 at the end, 1 when it is want_name (or any
 * entry when want_name is NULL), 2 when it is another entry; *ret set for 1 and 2. */
int reader_next_entry(struct bundle_reader *r, const char *want_name, uint64_t want_offset, struct archive_entry **ret,
                      berr *e)
{
        int k = reader_read_header(r, want_offset, want_name ? want_name : "end of archive", ret, e);
        if (k <= 0 || !want_name)
                return k;
        return reader_check_entry(r, *ret, want_name, want_offset, e);
}

int reader_read_small(struct bundle_reader *r, const char *what, size_t max, uint64_t size, char **ret, berr *e)
{
        if (size > max)
                return reader_fail(r, e, -EFBIG, "%s is %llu bytes, over the limit of %zu", what, (unsigned long long)size, max);
        char *b = malloc(size + 1);
        if (!b)
                return -ENOMEM;
        size_t got = 0;
        while (got < size) {
                la_ssize_t n = archive_read_data(r->a, b + got, size - got);
                if (n < 0) {
                        free(b);
                        return reader_fail_archive(r, e, what);
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        if (got != size) {
                free(b);
                return reader_fail(r, e, -EBADMSG, "%s is truncated", what);
        }
        b[size] = 0;
        *ret = b;
        return 0;
}
