/* SPDX-License-Identifier: Apache-2.0 */
/* download.c — resumable, verified Range download of one blob (see download.h). */
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

struct blob_download {
        struct blob_download_opts o;   /* o.req is not kept */
        char *url;                      /* for messages */
        char digest[DIGEST_STR_LEN + 1];
        char *path;
        int fd;
        sha256_ctx *h;
        uint64_t have;          /* bytes in the file and in the hash */
        uint64_t journaled;     /* bytes known durable */
        uint64_t req_start;     /* artifact offset asked for */
        uint64_t skip;          /* bytes to drop before the blob (server ignored Range) */
        uint64_t fetched, resumed;
        bool complete;
        struct http_req *req;
};

static int journal(struct blob_download *d)
{
        if (d->have == d->journaled)
                return 0;
        /* Data first, then the journal row that points at it. */
        if (fdatasync(d->fd) < 0)
                return -errno;
        int r = agentdb_download_set(d->o.db, d->digest, d->have, now_seconds());
        if (r < 0)
                return r;
        d->journaled = d->have;
        return 0;
}

void blob_download_free(struct blob_download *d)
{
        if (!d)
                return;
        http_req_cancel(d->req);
        if (d->fd >= 0) {
                (void)journal(d);
                close(d->fd);
        }
        sha256_free(d->h);
        free(d->path);
        free(d->url);
        free(d);
}

uint64_t blob_download_fetched(const struct blob_download *d)
{
        return d->fetched;
}

uint64_t blob_download_durable(const struct blob_download *d)
{
        return d->journaled;
}

uint64_t blob_download_resumed(const struct blob_download *d)
{
        return d->resumed;
}

static void drop_partial(struct blob_download *d)
{
        if (d->fd >= 0)
                close(d->fd);
        d->fd = -1;
        unlink(d->path);
        (void)agentdb_download_del(d->o.db, d->digest);
}

static int on_data(void *ud, const struct http_response *resp, const void *buf, size_t len)
{
        struct blob_download *d = ud;
        const uint8_t *p = buf;
        int r = fetch_range_first(resp, len, d->req_start, &d->skip);
        if (r < 0)
                return r;
        fetch_range_skip(&d->skip, &p, &len);
        if (len > d->o.size - d->have)
                len = (size_t)(d->o.size - d->have);
        if (len) {
                r = write_all(d->fd, p, len);
                if (r < 0)
                        return r;
                if (sha256_update(d->h, p, len) < 0)
                        return -EIO;
                d->have += len;
                d->fetched += len;
                if (d->have - d->journaled >= d->o.chunk_size && (r = journal(d)) < 0)
                        return r;
                if (d->o.progress)
                        d->o.progress(d->o.userdata, d->have);
        }
        if (d->have == d->o.size) {
                d->complete = true;
                return -ECANCELED; /* everything we need is here; stop a 200 stream early */
        }
        return 0;
}

static void finish(struct blob_download *d, int r, const berr *e)
{
        void (*done)(void *, int, const berr *) = d->o.done;
        void *ud = d->o.userdata;
        done(ud, r, e);
}

static void on_done(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct blob_download *d = ud;
        d->req = NULL;
        berr e = {0};
        if (d->complete) {
                char got[DIGEST_STR_LEN + 1];
                if (sha256_final_str(d->h, got) < 0) {
                        finish(d, berr_set(&e, -EIO, "hashing failed"), &e);
                        return;
                }
                if (strcmp(got, d->digest)) {
                        drop_partial(d);
                        finish(d, berr_set(&e, -EBADMSG, "blob %s from %s is corrupt (its content hashes to %s); "
                                           "the partial download was dropped", d->digest, d->url, got), &e);
                        return;
                }
                int q = close(d->fd) < 0 ? -errno : 0;
                d->fd = -1;
                if (q >= 0)
                        q = content_publish_file(d->o.cs, d->digest, d->path, &e);
                if (q >= 0)
                        (void)agentdb_download_del(d->o.db, d->digest);
                finish(d, q, &e);
                return;
        }
        int jr = journal(d);
        if (r < 0 && r != -ECANCELED) {
                /* Keep the error text of the transfer; the bytes so far are journaled. */
                e = *he;
                finish(d, r, &e);
                return;
        }
        if (jr < 0) {
                finish(d, berr_set(&e, jr, "cannot journal the download of %s: %s", d->digest, strerror(-jr)), &e);
                return;
        }
        if (resp->status == 416)
                r = berr_set(&e, -EPROTO, "%s: the server refused the byte range %llu-%llu (HTTP 416): the artifact is "
                             "shorter than its manifest says", d->url, (unsigned long long)d->req_start,
                             (unsigned long long)(d->o.offset + d->o.size - 1));
        else if (resp->status < 200 || resp->status >= 300)
                r = berr_set(&e, resp->status >= 500 ? -EAGAIN : -EPROTO, "%s: HTTP %ld while fetching blob %s", d->url,
                             resp->status, d->digest);
        else if (r == -ECANCELED)
                r = berr_set(&e, -EPROTO, "%s: the server's answer did not match the requested range", d->url);
        else
                r = berr_set(&e, -ECONNRESET, "%s: the transfer ended after %llu of %llu bytes of blob %s; will resume",
                             d->url, (unsigned long long)d->have, (unsigned long long)d->o.size, d->digest);
        finish(d, r, &e);
}

static int sha256_new_reset(struct blob_download *d)
{
        sha256_free(d->h);
        d->h = NULL;
        return sha256_new(&d->h);
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

int blob_download_start(const struct blob_download_opts *o, struct blob_download **ret, berr *e)
{
        if (!digest_valid(o->digest) || o->size == 0 || !o->done)
                return -EINVAL;
        struct blob_download *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->o = *o;
        d->o.req = NULL;
        d->fd = -1;
        d->url = strdup(o->req->url);
        if (!d->url) {
                free(d);
                return -ENOMEM;
        }
        if (!d->o.chunk_size)
                d->o.chunk_size = 1024 * 1024;
        memcpy(d->digest, o->digest, sizeof d->digest);
        d->o.digest = d->digest;
        char name[DIGEST_HEX_LEN + 8];
        snprintf(name, sizeof name, "%s.part", digest_hex(d->digest));
        d->path = path_join(content_partial_dir(o->cs), name);
        if (!d->path || sha256_new(&d->h) < 0) {
                blob_download_free(d);
                return -ENOMEM;
        }
        d->fd = open(d->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (d->fd < 0) {
                int r = berr_set(e, -errno, "cannot open %s: %s", d->path, strerror(errno));
                blob_download_free(d);
                return r;
        }
        uint64_t good = 0;
        struct stat st;
        if (agentdb_download_get(o->db, d->digest, &good) <= 0 || fstat(d->fd, &st) < 0 || (uint64_t)st.st_size < good ||
            good > o->size)
                good = 0;
        /* Whatever lies beyond the journaled length may not have reached the disk. */
        int r = ftruncate(d->fd, (off_t)good) < 0 ? -errno : 0;
        if (r >= 0)
                r = rehash(d, good);
        if (r >= 0 && lseek(d->fd, (off_t)good, SEEK_SET) < 0)
                r = -errno;
        if (r < 0) {
                r = berr_set(e, r, "cannot resume the download in %s: %s", d->path, strerror(-r));
                blob_download_free(d);
                return r;
        }
        d->have = d->journaled = d->resumed = good;
        if (good == o->size) {
                /* Killed between the last byte and the publish: verify and publish now. */
                char got[DIGEST_STR_LEN + 1];
                if (sha256_final_str(d->h, got) >= 0 && !strcmp(got, d->digest)) {
                        close(d->fd);
                        d->fd = -1;
                        r = content_publish_file(o->cs, d->digest, d->path, e);
                        if (r >= 0)
                                (void)agentdb_download_del(o->db, d->digest);
                        blob_download_free(d);
                        return r < 0 ? r : 1;
                }
                /* Corrupt on disk: start over. */
                if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0 || sha256_new_reset(d) < 0) {
                        blob_download_free(d);
                        return berr_set(e, -EIO, "cannot restart the download in %s", d->path);
                }
                d->have = d->journaled = d->resumed = good = 0;
        }
        d->req_start = o->offset + good;
        struct http_req_opts ho = *o->req;
        ho.has_range = true;
        ho.range_start = d->req_start;
        ho.range_end = o->offset + o->size - 1;
        ho.on_data = on_data;
        ho.on_done = on_done;
        ho.userdata = d;
        r = http_start(o->http, &ho, &d->req, e);
        if (r < 0) {
                blob_download_free(d);
                return r;
        }
        *ret = d;
        return 0;
}
