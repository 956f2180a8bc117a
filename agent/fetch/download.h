/* SPDX-License-Identifier: Apache-2.0 */
/* download.h — one blob fetched as a byte range of a remote .berth artifact, verified
 * as it streams and resumable across cuts and restarts.
 *
 * Bytes go to STATE/store/partial/<hex>.part and through SHA-256. Every chunk_size
 * bytes (and whenever the transfer stops) the file is fdatasync'ed and the durable
 * length journaled in agent_downloads, so a restart re-reads (not re-fetches) what it
 * has and asks the server only for the rest: at most one chunk is fetched twice after
 * a crash, nothing after a broken connection. When the last byte arrives the digest is
 * checked; only a matching blob is published into the content store. A mismatch
 * removes the partial file (the next attempt starts over).
 *
 * Servers without Range support (200 instead of 206) work too: the bytes before the
 * blob are skipped, the transfer is stopped after it.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"
#include "net/http.h"
#include "store/agentdb.h"
#include "store/content.h"

struct blob_download;

struct blob_download_opts {
        struct http_loop *http;
        /* The artifact's URL, credentials, TLS, rate cap and timeouts; the range and the
         * callbacks are the download's own. Copied by blob_download_start(). */
        const struct http_req_opts *req;
        uint64_t chunk_size;            /* journal granularity */
        struct berth_db *db;
        struct content_store *cs;
        const char *digest;
        uint64_t size;
        uint64_t offset;                /* first data byte of the blob in the artifact */
        /* bytes of this blob now on disk (resumed + fetched) */
        void (*progress)(void *ud, uint64_t have);
        /* r = 0: verified and published. Otherwise the reason; what was fetched is kept. */
        void (*done)(void *ud, int r, const berr *e);
        void *userdata;
};

/* 0 with *ret running; 1 when the blob was already complete on disk and has just been
 * verified and published (no request, no callback, *ret untouched). */
int blob_download_start(const struct blob_download_opts *o, struct blob_download **ret, berr *e);
/* Stops (journaling what is on disk); done is not called. NULL is fine. */
void blob_download_free(struct blob_download *d);
/* Bytes this download took from the network / found already on disk at start. */
uint64_t blob_download_fetched(const struct blob_download *d);
uint64_t blob_download_resumed(const struct blob_download *d);
/* Bytes of this blob that are durable (fsynced and journaled): what a crash keeps. */
uint64_t blob_download_durable(const struct blob_download *d);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct blob_download *, blob_download_free)
