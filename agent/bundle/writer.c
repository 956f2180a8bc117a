/* SPDX-License-Identifier: Apache-2.0 */
/* writer.c — canonical .berth tar writer (see writer.h). */
#include "bundle/writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#include "base/digest.h"
#include "bundle/format.h"

struct bundle_writer {
        struct archive *a;
        unsigned entries;   /* entries begun so far */
        uint64_t remaining; /* bytes still owed to the current entry */
        bool open_entry;
        bool closed;
};

void bundle_writer_free(struct bundle_writer *w)
{
        if (!w)
                return;
        if (w->a)
                archive_write_free(w->a); /* closes if needed; output is discarded by the caller */
        free(w);
}

int bundle_writer_new(int fd, struct bundle_writer **ret, berr *e)
{
        struct bundle_writer *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->a = archive_write_new();
        if (!w->a || archive_write_set_format_ustar(w->a) != ARCHIVE_OK ||
            archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(w->a, 64 * 1024) != ARCHIVE_OK ||
            /* No padding after the end-of-archive blocks: the file ends right there. */
            archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(w->a, fd) != ARCHIVE_OK) {
                int r = berr_set(e, -EIO, "cannot start bundle output: %s",
                                 w->a ? archive_error_string(w->a) : "out of memory");
                bundle_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

static int finish_entry(struct bundle_writer *w, berr *e)
{
        if (!w->open_entry)
                return 0;
        if (w->remaining)
                return berr_set(e, -EINVAL, "bundle writer: entry is %llu bytes short", (unsigned long long)w->remaining);
        if (archive_write_finish_entry(w->a) != ARCHIVE_OK)
                return berr_set(e, -EIO, "cannot write bundle: %s", archive_error_string(w->a));
        w->open_entry = false;
        return 0;
}

static int begin_entry(struct bundle_writer *w, const char *path, uint64_t size, berr *e)
{
        int r = finish_entry(w, e);
        if (r < 0)
                return r;
        if (size > BUNDLE_MAX_BLOB_SIZE)
                return berr_set(e, -EFBIG, "entry %s is %llu bytes; a bundle entry can hold at most %llu", path,
                                (unsigned long long)size, (unsigned long long)BUNDLE_MAX_BLOB_SIZE);
        struct archive_entry *ent = archive_entry_new();
        if (!ent)
                return -ENOMEM;
        archive_entry_set_pathname(ent, path);
        archive_entry_set_filetype(ent, AE_IFREG);
        archive_entry_set_perm(ent, 0644);
        archive_entry_set_uid(ent, 0);
        archive_entry_set_gid(ent, 0);
        archive_entry_set_mtime(ent, 0, 0);
        archive_entry_set_size(ent, (la_int64_t)size);
        int k = archive_write_header(w->a, ent);
        archive_entry_free(ent);
        if (k != ARCHIVE_OK)
                return berr_set(e, -EIO, "cannot write bundle entry %s: %s", path, archive_error_string(w->a));
        w->entries++;
        w->remaining = size;
        w->open_entry = true;
        return 0;
}

static int put(struct bundle_writer *w, const void *buf, size_t len, berr *e)
{
        if (len > w->remaining)
                return berr_set(e, -EINVAL, "bundle writer: more data than the entry size");
        const char *p = buf;
        while (len) {
                la_ssize_t n = archive_write_data(w->a, p, len);
                if (n <= 0)
                        return berr_set(e, -EIO, "cannot write bundle: %s", archive_error_string(w->a));
                p += n;
                len -= (size_t)n;
                w->remaining -= (uint64_t)n;
        }
        return 0;
}

int bundle_writer_head(struct bundle_writer *w, const void *manifest, size_t mlen, const void *sigs, size_t slen,
                       berr *e)
{
        int r = begin_entry(w, BUNDLE_MANIFEST_ENTRY, mlen, e);
        if (r >= 0)
                r = put(w, manifest, mlen, e);
        if (r >= 0)
                r = begin_entry(w, BUNDLE_SIGNATURES_ENTRY, slen, e);
        if (r >= 0)
                r = put(w, sigs, slen, e);
        return r;
}

int bundle_writer_roots(struct bundle_writer *w, const void *roots, size_t len, berr *e)
{
        if (w->entries != 2 || len == 0)
                return berr_set(e, -EINVAL, "bundle writer: the roots entry goes right after the head, not empty");
        int r = begin_entry(w, BUNDLE_ROOTS_ENTRY, len, e);
        return r < 0 ? r : put(w, roots, len, e);
}

int bundle_writer_blob_begin(struct bundle_writer *w, const char *digest, uint64_t size, berr *e)
{
        if (!digest_valid(digest))
                return berr_set(e, -EINVAL, "invalid digest '%s'", digest);
        char path[sizeof(BUNDLE_BLOB_DIR) + DIGEST_HEX_LEN];
        snprintf(path, sizeof path, "%s%s", BUNDLE_BLOB_DIR, digest_hex(digest));
        return begin_entry(w, path, size, e);
}

int bundle_writer_blob_data(struct bundle_writer *w, const void *buf, size_t len, berr *e)
{
        return put(w, buf, len, e);
}

int bundle_writer_close(struct bundle_writer *w, berr *e)
{
        int r = finish_entry(w, e);
        if (r < 0)
                return r;
        if (archive_write_close(w->a) != ARCHIVE_OK)
                return berr_set(e, -EIO, "cannot finish bundle: %s", archive_error_string(w->a));
        w->closed = true;
        return 0;
}
