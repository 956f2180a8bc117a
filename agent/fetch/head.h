/* SPDX-License-Identifier: Apache-2.0 */
/* head.h — the head of a remote .berth artifact (manifest.json, signatures.json and
 * roots.json when present) fetched into memory with Range requests, on the event loop.
 *
 * The first request asks for 4 KiB (or the artifact's size when smaller); the ustar
 * headers then say how long the head is (fetch_head_need) and one more request fetches
 * the rest, with 4 KiB of slack for the signatures, when the manifest is larger. Nothing is verified here: the caller hands the
 * bytes to import_head_verify().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "net/http.h"

#define HEAD_FIRST_FETCH 4096u /* enough for a small manifest; a larger one costs one more request */

struct head_fetch;

struct head_fetch_opts {
        struct http_loop *http;
        /* URL, credentials, TLS, rate cap, timeouts; range and callbacks are the fetch's
         * own. Copied by head_fetch_start(). */
        const struct http_req_opts *req;
        uint64_t artifact_size;         /* from the deployment; 0 unknown */
        /* r = 0: buf/len is the complete head (the callee takes buf, free() it).
         * Otherwise the reason, with buf NULL:
         *   -EBADMSG  not a .berth (wrong entries or sizes, or it ends inside the head)
         *   -EPROTO   the server refused it for good (HTTP 4xx other than 408/429),
         *             or answered a range it was not asked for
         *   other     transient (network, 5xx, 408/429): worth a retry */
        void (*done)(void *ud, int r, uint8_t *buf, size_t len, const berr *e);
        void *userdata;
};

int head_fetch_start(const struct head_fetch_opts *o, struct head_fetch **ret, berr *e);
/* Stops; done is not called. NULL is fine. */
void head_fetch_free(struct head_fetch *h);
/* HTTP requests this fetch has started (one, or two for a large manifest). */
unsigned head_fetch_requests(const struct head_fetch *h);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct head_fetch *, head_fetch_free)
