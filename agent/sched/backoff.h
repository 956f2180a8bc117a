/* SPDX-License-Identifier: Apache-2.0 */
/* backoff.h — when to talk to the server next: the polling interval (the server's sleep
 * within configured bounds, plus jitter so a fleet does not poll in lockstep) and the
 * exponential backoff after failures (capped, "equal jitter": half fixed, half random).
 *
 * Pure functions; the caller supplies the random number, so tests are deterministic.
 */
#pragma once

#include <stdint.h>

struct poll_bounds {
        uint64_t min_ms, max_ms;        /* the server's sleep is clamped to [min, max] */
        unsigned jitter_pct;            /* ± this percentage of the interval (0–50) */
        uint64_t retry_min_ms, retry_max_ms; /* backoff after the first failure … cap */
};

/* Next poll after a successful one; server_sleep_s < 0 = not given (use max). */
uint64_t poll_delay_ms(const struct poll_bounds *b, int64_t server_sleep_s, uint32_t rnd);
/* Delay after the n-th consecutive failure (n ≥ 1). */
uint64_t backoff_delay_ms(const struct poll_bounds *b, unsigned failures, uint32_t rnd);
