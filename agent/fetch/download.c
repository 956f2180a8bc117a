/* SPDX-License-Identifier: Apache-2.0 */
/* download.c — resumable, verified Range download of a span of blobs (see download.h). */
#include "fetch/download.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "base/timeutil.h"
#include "fetch/range.h"

struct span_blob {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size, offset;
};

struct blob_download {
        struct blob_download_opts o;   /* o.req and o.blobs are not kept */
        struct span_blob *blobs;
        size_t n, i;                    /* the span; the blob in progress */
        char *url;                      /* for messages */
        /* the blob in progress */
        char *path;
        int fd;
        sha256_ctx *h;
        uint64_t have;          /* bytes in the file and in the hash */
        uint64_t journaled;     /* bytes known durable */
        uint64_t fetched;       /* bytes from the network in this request */
        /* the request */
        uint64_t req_start;     /* artifact offset asked for */
        uint64_t pos;           /* artifact offset of the next byte received */
        bool complete;          /* every blob published */
        int err;                /* a blob failed inside the transfer: why */
        berr e;
        struct http_req *req;
        char auth[256];         /* the Authorization header, when o.authorize set it */
};

static int journal(struct blob_download *d)
{
        if (d->fd < 0 || d->have == d->journaled)
                return 0;
        /* Data first, then the journal row that points at it. */
        if (fdatasync(d->fd) < 0)
                return -errno;
        int r = agentdb_download_set(d->o.db, d->blobs[d->i].digest, d->have, now_seconds());
        if (r < 0)
                return r;
        d->journaled = d->have;
        return 0;
}

static void close_blob(struct blob_download *d)
{
        if (d->fd >= 0) {
                (void)journal(d);
                close(d->fd);
        }
        d->fd = -1;
        sha256_free(d->h);
        d->h = NULL;
        free(d->path);
        d->path = NULL;
}

void blob_download_free(struct blob_download *d)
{
        if (!d)
                return;
        http_req_cancel(d->req);
        close_blob(d);
        free(d->blobs);
        free(d->url);
        free(d);
}

size_t blob_download_current(const struct blob_download *d)
{
        return d->i;
}

uint64_t blob_download_fetched(const struct blob_download *d)
{
        return d->fetched;
}

uint64_t blob_download_durable(const struct blob_download *d)
{
        return d->journaled;
}

void blob_partial_drop(struct content_store *cs, struct berth_db *db, const char *digest)
{
        char name[DIGEST_STR_LEN + 8];
        snprintf(name, sizeof name, "%s.part", digest_hex(digest));
        _cleanup_free_ char *path = path_join(content_partial_dir(cs), name);
        (void)agentdb_download_del(db, digest); /* the row first: a file without one is truncated */
        if (path)
                unlink(path);
}

static void drop_partial(struct blob_download *d)
{
        if (d->fd >= 0)
                close(d->fd);
        d->fd = -1;
        unlink(d->path);
        (void)agentdb_download_del(d->o.db, d->blobs[d->i].digest);
}

/* Re-reads the durable part of the partial file into the hash. */
static int rehash(struct blob_download *d, uint64_t good)
{
        uint8_t buf[64 * 1024];
        uint64_t done = 0;
        while (done < good) {
                size_t want = good - done < sizeof buf ? (size_t)(good - done) : sizeof buf;
                ssize_t n = pread(d->fd, buf, want, (off_t)done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                if (sha256_update(d->h, buf, (size_t)n) < 0)
                        return -EIO;
                done += (uint64_t)n;
        }
        return 0;
}

/* Opens blob i's partial file: resumed from its journaled length (resume), or empty. */
static int open_blob(struct blob_download *d, size_t i, bool resume, berr *e)
{
        close_blob(d);
        d->i = i;
        d->have = d->journaled = d->fetched = 0;
        const struct span_blob *b = &d->blobs[i];
        char name[DIGEST_HEX_LEN + 8];
        snprintf(name, sizeof name, "%s.part", digest_hex(b->digest));
        d->path = path_join(content_partial_dir(d->o.cs), name);
        if (!d->path || sha256_new(&d->h) < 0)
                return -ENOMEM;
        d->fd = open(d->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (d->fd < 0)
                return berr_set(e, -errno, "cannot open %s: %s", d->path, strerror(errno));
        uint64_t good = 0;
        struct stat st;
        if (!resume || agentdb_download_get(d->o.db, b->digest, &good) <= 0 || fstat(d->fd, &st) < 0 ||
            (uint64_t)st.st_size < good || good > b->size)
                good = 0;
        /* Whatever lies beyond the journaled length may not have reached the disk. */
        int r = ftruncate(d->fd, (off_t)good) < 0 ? -errno : 0;
        if (r >= 0)
                r = rehash(d, good);
        if (r >= 0 && lseek(d->fd, (off_t)good, SEEK_SET) < 0)
                r = -errno;
        if (r < 0)
                return berr_set(e, r, "cannot resume the download in %s: %s", d->path, strerror(-r));
        d->have = d->journaled = good;
        return 0;
}

/* The blob in progress has all its bytes: verify, publish, go on to the next one. */
static int finish_blob(struct blob_download *d, berr *e)
{
        const struct span_blob *b = &d->blobs[d->i];
        char got[DIGEST_STR_LEN + 1];
        if (sha256_final_str(d->h, got) < 0)
                return berr_set(e, -EIO, "hashing failed");
        if (strcmp(got, b->digest)) {
                drop_partial(d);
                return berr_set(e, -EBADMSG, "blob %s from %s is corrupt (its content hashes to %s); the partial "
                                "download was dropped", b->digest, d->url, got);
        }
        int r = close(d->fd) < 0 ? -errno : 0;
        d->fd = -1;
        if (r < 0)
                return berr_set(e, r, "cannot write %s: %s", d->path, strerror(-r));
        r = content_publish_file(d->o.cs, b->digest, d->path, e);
        if (r < 0)
                return r;
        (void)agentdb_download_del(d->o.db, b->digest);
        if (d->o.blob_done)
                d->o.blob_done(d->o.userdata, d->i, d->fetched);
        if (d->i + 1 == d->n) {
                d->complete = true;
                close_blob(d);
                return 0;
        }
        return open_blob(d, d->i + 1, false, e);
}

/* Sink mode (one blob): the chunk's bytes of the blob go to the sink in one call, before
 * anything here changes, so a chunk the sink cannot take now comes again unchanged. */
static int on_data_sink(struct blob_download *d, const uint8_t *p, size_t len)
{
        const struct span_blob *b = &d->blobs[0];
        uint64_t lo = b->offset + d->have, hi = b->offset + b->size;
        uint64_t from = d->pos > lo ? d->pos : lo, to = d->pos + len < hi ? d->pos + len : hi;
        if (d->pos > lo)
                return -EPROTO; /* a gap: bytes of the blob were skipped */
        if (from < to) {
                int r = d->o.sink(d->o.sink_ud, p + (from - d->pos), (size_t)(to - from));
                if (r == -EAGAIN)
                        return HTTP_DATA_PAUSE;
                if (r < 0) {
                        d->err = r;
                        berr_set(&d->e, r, "blob %s: the consumer of its bytes stopped (%s)", b->digest, strerror(-r));
                        return r;
                }
                d->have += to - from;
                d->fetched += to - from;
        }
        d->pos += len;
        if (d->o.progress && from < to)
                d->o.progress(d->o.userdata, 0, d->have);
        if (d->have == b->size) {
                d->complete = true;
                if (d->o.blob_done)
                        d->o.blob_done(d->o.userdata, 0, d->fetched);
                return -ECANCELED; /* stops a 200 stream early; a finished 206 never gets here again */
        }
        return 0;
}

static int on_data(void *ud, const struct http_response *resp, const void *buf, size_t len)
{
        struct blob_download *d = ud;
        const uint8_t *p = buf;
        uint64_t skip = 0;
        int r = fetch_range_first(resp, len, d->req_start, &skip);
        if (r < 0)
                return r;
        if (skip)
                d->pos = 0; /* a 200: the whole file from its first byte */
        if (d->o.sink)
                return on_data_sink(d, p, len);
        while (len && !d->complete) {
                const struct span_blob *b = &d->blobs[d->i];
                uint64_t want = b->offset + d->have;
                if (d->pos < want) {
                        /* before the blob: another blob's tar header and padding */
                        size_t k = want - d->pos < len ? (size_t)(want - d->pos) : len;
                        d->pos += k, p += k, len -= k;
                        continue;
                }
                size_t k = b->size - d->have < len ? (size_t)(b->size - d->have) : len;
                r = write_all(d->fd, p, k);
                if (r < 0)
                        return r;
                if (sha256_update(d->h, p, k) < 0)
                        return -EIO;
                d->have += k, d->fetched += k, d->pos += k, p += k, len -= k;
                if (d->have - d->journaled >= d->o.chunk_size && (r = journal(d)) < 0)
                        return r;
                if (d->o.progress)
                        d->o.progress(d->o.userdata, d->i, d->have);
                if (d->have == b->size && (r = finish_blob(d, &d->e)) < 0) {
                        d->err = r;
                        return r;
                }
        }
        /* Everything we need is here: stop (a 200 stream) early. */
        return d->complete ? -ECANCELED : 0;
}

static void on_done(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct blob_download *d = ud;
        d->req = NULL;
        void (*done)(void *, int, const berr *) = d->o.done;
        void *udata = d->o.userdata;
        berr e = {0};
        if (d->complete) {
                done(udata, 0, &e);
                return;
        }
        if (d->err) {
                /* A copy: done() may free d (and d->e with it) before it reads the sentence. */
                e = d->e;
                done(udata, d->err, &e);
                return;
        }
        const struct span_blob *b = &d->blobs[d->i];
        int jr = journal(d);
        if (r < 0 && r != -ECANCELED) {
                /* Keep the error text of the transfer; the bytes so far are journaled. */
                e = *he;
                done(udata, r, &e);
                return;
        }
        if (jr < 0) {
                done(udata, berr_set(&e, jr, "cannot journal the download of %s: %s", b->digest, strerror(-jr)), &e);
                return;
        }
        const struct span_blob *last = &d->blobs[d->n - 1];
        if (resp->status == 416)
                r = berr_set(&e, -EPROTO, "%s: the server refused the byte range %llu-%llu (HTTP 416): the artifact is "
                             "shorter than its manifest says", d->url, (unsigned long long)d->req_start,
                             (unsigned long long)(last->offset + last->size - 1));
        else if (resp->status < 200 || resp->status >= 300)
                r = berr_set(&e, resp->status >= 500 ? -EAGAIN : -EPROTO, "%s: HTTP %ld while fetching blob %s", d->url,
                             resp->status, b->digest);
        else if (r == -ECANCELED)
                r = berr_set(&e, -EPROTO, "%s: the server's answer did not match the requested range", d->url);
        else
                r = berr_set(&e, -ECONNRESET, "%s: the transfer ended after %llu of %llu bytes of blob %s; will resume",
                             d->url, (unsigned long long)d->have, (unsigned long long)b->size, b->digest);
        done(udata, r, &e);
}

int blob_download_start(const struct blob_download_opts *o, struct blob_download **ret, berr *e)
{
        if (!o->n_blobs || !o->done)
                return -EINVAL;
        for (size_t i = 0; i < o->n_blobs; i++) {
                const struct blob_span_item *b = &o->blobs[i];
                if (!digest_valid(b->digest) || b->size == 0 ||
                    (i && b->offset < o->blobs[i - 1].offset + o->blobs[i - 1].size))
                        return -EINVAL;
        }
        struct blob_download *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->o = *o;
        d->o.req = NULL;
        d->o.blobs = NULL;
        d->fd = -1;
        d->n = o->n_blobs;
        d->blobs = calloc(d->n, sizeof *d->blobs);
        d->url = strdup(o->req->url);
        if (!d->blobs || !d->url) {
                blob_download_free(d);
                return -ENOMEM;
        }
        for (size_t i = 0; i < d->n; i++) {
                memcpy(d->blobs[i].digest, o->blobs[i].digest, sizeof d->blobs[i].digest);
                d->blobs[i].size = o->blobs[i].size;
                d->blobs[i].offset = o->blobs[i].offset;
        }
        if (!d->o.chunk_size)
                d->o.chunk_size = 1024 * 1024;
        int r = 0;
        if (o->sink) {
                if (d->n != 1 || o->sink_offset >= d->blobs[0].size) {
                        blob_download_free(d);
                        return -EINVAL;
                }
                d->i = 0;
                d->have = o->sink_offset;
        } else if ((r = open_blob(d, 0, true, e)) < 0) {
                blob_download_free(d);
                return r;
        }
        if (!o->sink && d->have == d->blobs[0].size) {
                /* Killed between the last byte and the publish: verify and publish now. */
                char got[DIGEST_STR_LEN + 1];
                if (sha256_final_str(d->h, got) >= 0 && !strcmp(got, d->blobs[0].digest)) {
                        close(d->fd);
                        d->fd = -1;
                        r = content_publish_file(o->cs, d->blobs[0].digest, d->path, e);
                        if (r >= 0)
                                (void)agentdb_download_del(o->db, d->blobs[0].digest);
                        blob_download_free(d);
                        return r < 0 ? r : 1;
                }
                /* Corrupt on disk: start over. */
                r = open_blob(d, 0, false, e);
                if (r < 0) {
                        blob_download_free(d);
                        return r;
                }
        }
        const struct span_blob *last = &d->blobs[d->n - 1];
        d->req_start = d->pos = d->blobs[0].offset + d->have;
        struct http_req_opts ho = *o->req;
        ho.has_range = true;
        ho.range_start = d->req_start;
        ho.range_end = last->offset + last->size - 1;
        ho.on_data = on_data;
        ho.on_done = on_done;
        ho.userdata = d;
        if (o->authorize) {
                char range[64];
                snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)ho.range_start,
                         (unsigned long long)ho.range_end);
                r = o->authorize(o->authorize_ud, range, d->auth, sizeof d->auth);
                d->o.authorize = NULL; /* used once, here: its data need not outlive the start */
                d->o.authorize_ud = NULL;
                if (r < 0) {
                        blob_download_free(d);
                        return berr_set(e, r, "cannot sign the request for %s", o->req->url);
                }
                ho.authorization = d->auth;
        }
        r = http_start(o->http, &ho, &d->req, e);
        if (r < 0) {
                blob_download_free(d);
                return r;
        }
        *ret = d;
        return 0;
}
