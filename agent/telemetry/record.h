/* SPDX-License-Identifier: Apache-2.0 */
/* record.h — telemetry records on the wire (pure; see agent/telemetry/README.md):
 * sanitising what goes into a record, the 128-byte record value
 * "<seq> <ts> <kind> <source> <text>", and the DDI configData body that carries a batch
 * of consecutive records (keys tm.v, tm.queue, tm.first, tm.last, tm.dropped,
 * tm.pending, tm.r00…). Every value fits hawkBit's attribute limits (128 bytes).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store/agentdb.h"

#define TM_VALUE_MAX 128        /* bytes of one record value */
#define TM_BATCH_MAX 32         /* records per configData request */

/* Copies src into dst (at most max bytes plus NUL) as printable UTF-8: control
 * characters (C0, DEL, C1) become spaces, invalid UTF-8 bytes '?', runs of whitespace one space,
 * and the cut never splits a character. Returns the length written. */
size_t tm_sanitize(char *dst, size_t max, const char *src);
/* A source name for the wire: [A-Za-z0-9._-], 1..TM_SOURCE_MAX; other bytes become
 * '_' and an empty name "unknown". */
void tm_source_name(char dst[TM_SOURCE_MAX + 1], const char *src);
/* The record value, truncating the text (at a character boundary) so that it fits
 * TM_VALUE_MAX bytes. Returns its length. */
size_t tm_record_value(char dst[TM_VALUE_MAX + 1], const struct tm_record *r);
/* The configData body for n (1..TM_BATCH_MAX) consecutive records; NULL on ENOMEM or
 * when the records are not consecutive. */
char *tm_batch_json(const char *queue_id, const struct tm_record *r, size_t n, uint64_t dropped, uint64_t pending);
