/* SPDX-License-Identifier: Apache-2.0 */
/* range.h — the one check of a ranged answer's first bytes, shared by the head fetch
 * and the blob downloads: a 206 must start where it was asked to; a 200 (a server
 * without Range support) carries the whole file, so the bytes before the range are
 * skipped. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

/* Call on every data callback; acts on the first one only. -EPROTO for a 206 that does
 * not start at req_start. */
static inline int fetch_range_first(const struct http_response *resp, size_t len, uint64_t req_start, uint64_t *skip)
{
        if (resp->bytes_received != len)
                return 0;
        if (resp->status == 206)
                return resp->has_content_range && resp->range_start == req_start ? 0 : -EPROTO;
        *skip = req_start;
        return 0;
}

/* Drops the first *skip bytes of buf (as many as it holds). */
static inline void fetch_range_skip(uint64_t *skip, const uint8_t **p, size_t *len)
{
        size_t k = *len < *skip ? *len : (size_t)*skip;
        *skip -= k;
        *p += k;
        *len -= k;
}
