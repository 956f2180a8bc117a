/* SPDX-License-Identifier: Apache-2.0 */
/* workloads.h — the workload engine inside the agent (workloads.c): its containerd
 * client, the lock that keeps `berth activate` out, and the engine's rounds on the
 * event loop. The engine itself (struct agent's eng) is shared: update.c drives its
 * updates, control, metrics and telemetry read its status.
 */
#pragma once

#include "base/err.h"

struct agent;
struct ctrd;
struct sd_event_source;

struct workloads_state {
        struct ctrd *ctrd;
        int lock;                       /* workloads.lock, -1 when not held */
        struct sd_event_source *io, *timer;
};

int workloads_start(struct agent *a, berr *e);
void workloads_stop(struct agent *a);
/* Runs an engine round soon (after workload_update_start). */
void workloads_kick(struct agent *a);
