/* SPDX-License-Identifier: Apache-2.0 */
/* download.h — consecutive blobs fetched as one byte range of a remote .berth artifact,
 * each verified as it streams and resumable across cuts and restarts.
 *
 * A span is one blob, or several that lie close together in the artifact (only tar
 * headers and padding between them): one request fetches them all, so an update costs a
 * request per run of missing blobs, not per blob (hawkBit records an action status for
 * each, and caps them). Bytes between the blobs are read and dropped.
 *
 * Each blob's bytes go to STATE/store/partial/<hex>.part and through SHA-256. Every
 * chunk_size bytes (and whenever the transfer stops) the file is fdatasync'ed and the
 * durable length journaled in agent_downloads, so a restart re-reads (not re-fetches)
 * what it has and asks the server only for the rest: at most one chunk is fetched twice
 * after a crash, nothing after a broken connection. When a blob's last byte arrives its
 * digest is checked and, only if it matches, it is published into the content store at
 * once (a cut later in the span keeps it). A mismatch removes that partial file and ends
 * the span (the next attempt starts that blob over).
 *
 * Servers without Range support (200 instead of 206) work too: the bytes before the
 * span are skipped, the transfer is stopped after it.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"
#include "net/http.h"
#include "store/agentdb.h"
#include "store/content.h"

struct blob_download;

struct blob_span_item {
        const char *digest;
        uint64_t size;
        uint64_t offset;                /* first data byte of the blob in the artifact */
};

struct blob_download_opts {
        struct http_loop *http;
        /* The artifact's URL, credentials, TLS, rate cap and timeouts; the range and the
         * callbacks are the download's own. Copied by blob_download_start(). */
        const struct http_req_opts *req;
        uint64_t chunk_size;            /* journal granularity */
        struct berth_db *db;
        struct content_store *cs;
        /* The span, in artifact order (copied). Only the first may have a partial file to
         * resume: the others start from their first byte. */
        const struct blob_span_item *blobs;
        size_t n_blobs;
        /* bytes of blob i now on disk (resumed + fetched) */
        void (*progress)(void *ud, size_t i, uint64_t have);
        /* blob i is verified and published; fetched = its bytes from the network */
        void (*blob_done)(void *ud, size_t i, uint64_t fetched);
        /* r = 0: every blob published. Otherwise the reason; what was fetched is kept. */
        void (*done)(void *ud, int r, const berr *e);
        void *userdata;
        /* The Authorization header of the request (optional), written into out (n bytes)
         * once the range is known: range is the Range header's value ("bytes=a-b"). A
         * site peer's requests are signed over it (peers/auth.h). */
        int (*authorize)(void *authorize_ud, const char *range, char *out, size_t n);
        void *authorize_ud;
        /* Optional, for a span of one blob: its bytes go to sink(sink_ud, …) instead of a
         * partial file, from byte sink_offset of the blob on (what the sink took before a
         * break), unhashed and unjournaled: the sink checks them (containerd/layer_stream.h).
         * sink returns 0 (taken), -EAGAIN (not now: the transfer pauses and offers the
         * same bytes again) or an error (the download ends with it). blob_done is called
         * when the last byte was taken; nothing is published. */
        int (*sink)(void *sink_ud, const void *p, size_t n);
        void *sink_ud;
        uint64_t sink_offset;
};

/* 0 with *ret running; 1 when the span was a single blob already complete on disk that
 * has just been verified and published (no request, no callback, *ret untouched). */
int blob_download_start(const struct blob_download_opts *o, struct blob_download **ret, berr *e);
/* Removes digest's partial file and its journal row: the next download starts it over
 * (bytes from a source that failed are not resumed from another one). */
void blob_partial_drop(struct content_store *cs, struct berth_db *db, const char *digest);
/* Stops (journaling what is on disk); done is not called. NULL is fine. */
void blob_download_free(struct blob_download *d);
/* The blob in progress (index in the span), its bytes from the network in this
 * request, and its bytes that are durable (fsynced and journaled: what a crash keeps). */
size_t blob_download_current(const struct blob_download *d);
uint64_t blob_download_fetched(const struct blob_download *d);
uint64_t blob_download_durable(const struct blob_download *d);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct blob_download *, blob_download_free)
