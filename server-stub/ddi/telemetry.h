/* SPDX-License-Identifier: Apache-2.0 */
/* telemetry.h — the agent's telemetry batches inside a DDI configData request
 * (wire format version 1, described under "Telemetry" in server-stub/README.md).
 *
 * Pure and strict: tm_take() validates every `tm.*` key of a configData "data" object
 * and removes them, so they are never stored as target attributes. No db, no HTTP.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TM_MAX_RECORDS 32               /* tm.last - tm.first ≤ 31 */
#define TM_MAX_SEQ (INT64_C(1) << 53)   /* seqs and counters stay exact in a JSON number */
#define TM_MAX_RECORD 128               /* bytes of one tm.rNN value */
#define TM_MAX_SOURCE 32
#define TM_MAX_TEXT 100

struct tm_record {
        int64_t seq;
        int64_t ts;                     /* unix seconds, when the agent recorded it */
        char kind[8];                   /* event | sample */
        char source[TM_MAX_SOURCE + 1]; /* [A-Za-z0-9._-]{1,32} */
        char text[TM_MAX_TEXT + 1];     /* printable, may be empty */
};

struct tm_batch {
        char queue[17];                 /* 16 lowercase hex chars */
        int64_t first, last;            /* seqs of the first and last record */
        int64_t dropped;                /* cumulative, reported by the agent */
        int64_t pending;                /* still queued on the agent after this batch */
        size_t n;                       /* last - first + 1 */
        struct tm_record rec[TM_MAX_RECORDS];
};

/* Takes the telemetry out of a configData data object. Returns 0 when data has no
 * `tm.*` key (data untouched), 1 when *ret holds a valid batch and every `tm.*` key was
 * removed from data, -EINVAL with a sentence naming the offending key otherwise (data
 * untouched, *ret not written). */
int tm_take(json_t *data, struct tm_batch *ret, berr *e);
