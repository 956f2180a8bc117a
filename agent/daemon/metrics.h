/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.h — the agent's Prometheus endpoint (metrics.c) and the counters it exposes.
 * The counters count from this process's start and are incremented where their events
 * happen (poll.c, update.c, update_fetch.c, telemetry.c); the endpoint is metrics.c's own.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "daemon/connset.h"

struct agent;

struct metrics_state {
        uint64_t polls_ok, polls_failed;
        uint64_t bytes_downloaded, blobs_verified, blobs_corrupt;
        uint64_t layers_streamed, layers_streamed_bytes; /* unpacked as they arrived (update_stream.c) */
        uint64_t updates_ok, updates_failed, updates_canceled;
        uint64_t tm_sent;
        struct connset endpoint;        /* the listener and its connections */
};

int metrics_start(struct agent *a, berr *e);
void metrics_stop(struct agent *a);
/* The Prometheus text exposition of the agent's metrics (malloc'd). */
char *metrics_render(struct agent *a, size_t *ret_len);
