/* SPDX-License-Identifier: Apache-2.0 */
/* quota.c — the rolling byte budget's arithmetic (quota.h). */
#include "sched/quota.h"

static uint64_t day_bytes(const struct quota_day *d)
{
        return d->rx + d->tx;
}

uint64_t quota_used(const struct quota_day *days, size_t n, int64_t today, unsigned period)
{
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
                if (days[i].day > today - (int64_t)period && days[i].day <= today)
                        u += day_bytes(&days[i]);
        return u;
}

int64_t quota_fits_on(const struct quota_day *days, size_t n, int64_t today, unsigned period, uint64_t limit,
                      uint64_t need)
{
        if (need > limit)
                return -1;
        uint64_t u = quota_used(days, n, today, period);
        if (u <= limit - need)
                return today;
        /* A day's bytes leave the period `period` days after that day. */
        for (size_t i = 0; i < n; i++) {
                if (days[i].day <= today - (int64_t)period || days[i].day > today)
                        continue;
                u -= day_bytes(&days[i]);
                if (u <= limit - need)
                        return days[i].day + (int64_t)period;
        }
        return today + (int64_t)period; /* every counted day has aged out by then */
}
