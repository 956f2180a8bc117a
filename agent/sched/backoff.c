/* SPDX-License-Identifier: Apache-2.0 */
/* backoff.c — polling interval with jitter and exponential backoff (see backoff.h). */
#include "sched/backoff.h"

uint64_t poll_delay_ms(const struct poll_bounds *b, int64_t server_sleep_s, uint32_t rnd)
{
        uint64_t base = server_sleep_s < 0 ? b->max_ms : (uint64_t)server_sleep_s * 1000;
        if (base < b->min_ms)
                base = b->min_ms;
        if (base > b->max_ms)
                base = b->max_ms;
        unsigned pct = b->jitter_pct > 50 ? 50 : b->jitter_pct;
        uint64_t span = base * pct / 100;       /* jitter in [-span, +span] */
        if (span == 0)
                return base;
        uint64_t off = (uint64_t)rnd % (2 * span + 1);
        return base - span + off;
}

uint64_t backoff_delay_ms(const struct poll_bounds *b, unsigned failures, uint32_t rnd)
{
        uint64_t d = b->retry_min_ms ? b->retry_min_ms : 1000;
        for (unsigned i = 1; i < failures && d < b->retry_max_ms; i++)
                d *= 2;
        if (d > b->retry_max_ms)
                d = b->retry_max_ms;
        /* Equal jitter: never less than half the step, so backoff still backs off. */
        uint64_t half = d / 2;
        return half + (half ? (uint64_t)rnd % (half + 1) : 0);
}
