/* SPDX-License-Identifier: Apache-2.0 */
/* timeutil.h — RFC 3339 timestamps (UTC, "Z") and relative durations. */
#pragma once

#include <stdint.h>
#include <time.h>

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC only). -EINVAL otherwise. */
int time_parse_rfc3339(const char *s, int64_t *ret);
/* Formats as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void time_format_rfc3339(int64_t t, char out[32]);
/* Parses "90d", "12h", "30m", "45s" (or a bare number of seconds). */
int duration_parse(const char *s, int64_t *ret);
/* Seconds since the epoch; honours BERTH_NOW (tests) when set. */
int64_t now_seconds(void);
