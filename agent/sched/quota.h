/* SPDX-License-Identifier: Apache-2.0 */
/* quota.h — a rolling byte budget over days: usage in per-day buckets, the sum of a
 * period, and the first day an amount fits again once old days age out of the period.
 * Pure functions; the agent's data budget (daemon/budget.c) keeps the buckets.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct quota_day {
        int64_t day;                    /* days since 1970-01-01 (UTC) */
        uint64_t rx, tx;
};

/* Bytes of the days in the period of `period` days that ends with `today`. */
uint64_t quota_used(const struct quota_day *days, size_t n, int64_t today, unsigned period);
/* The first day (≥ today) on which `need` more bytes fit under `limit`, assuming no
 * further use: today when they fit now, -1 when they never fit (need > limit). days
 * are sorted oldest first. */
int64_t quota_fits_on(const struct quota_day *days, size_t n, int64_t today, unsigned period, uint64_t limit,
                      uint64_t need);
