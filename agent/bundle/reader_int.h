/* SPDX-License-Identifier: Apache-2.0 */
/* reader_int.h — what reader.c (the .berth layout: head, verification, blobs) and
 * reader_tar.c (the checked byte stream and tar entries) share: the reader object and
 * the calls between them. Internal to agent/bundle/; nothing outside includes it. */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bundle/reader.h"
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

/* Fails the reader (state RS_FAILED) with a sentence naming the bundle; returns code. */
int reader_fail(struct bundle_reader *r, berr *e, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Fails with libarchive's explanation (or the read error) while doing what. */
int reader_fail_archive(struct bundle_reader *r, berr *e, const char *what);
/* Registers [start, end) as bytes that must be zero as they stream past. */
int reader_expect_zero(struct bundle_reader *r, uint64_t start, uint64_t end);
/* Reports the first non-zero byte where zeros were required. */
int reader_bad_byte(struct bundle_reader *r, berr *e);
/* Reads the next chunk into buf; 0 at EOF. */
ssize_t reader_fill(struct bundle_reader *r);
la_ssize_t reader_read_cb(struct archive *a, void *ud, const void **buf);
/* Reads the next header (captured raw at want_offset) and checks what no entry may be. */
int reader_read_header(struct bundle_reader *r, uint64_t want_offset, const char *what, struct archive_entry **ret,
                       berr *e);
/* Checks a header read by reader_read_header() against everything the canonical layout fixes:
 * 1 when it is want_name, 2 when it is another entry (the caller explains). */
int reader_check_entry(struct bundle_reader *r, struct archive_entry *ent, const char *want_name, uint64_t want_offset,
                       berr *e);
/* Reads the next header and checks it: 0 at the end, 1 when it is want_name (or any
 * entry when want_name is NULL), 2 when it is another entry; *ret set for 1 and 2. */
int reader_next_entry(struct bundle_reader *r, const char *want_name, uint64_t want_offset, struct archive_entry **ret,
                      berr *e);
/* Reads a small entry (at most max bytes) whole into *ret. */
int reader_read_small(struct bundle_reader *r, const char *what, size_t max, uint64_t size, char **ret, berr *e);
