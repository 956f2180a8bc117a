/* SPDX-License-Identifier: Apache-2.0 */
/* layers.h — one copy of every layer on an agent with the containerd backend: berth's
 * store drops the compressed copy of a layer once containerd holds it unpacked
 * (import/held.h), so flash holds each layer once and deltas still fetch only new ones.
 *
 * Without site peers the preload drops them at once (import/backends.h). A gateway that
 * serves its site's peers ([peers] listen) needs the compressed layers of a new bundle
 * while its site rolls it out: it keeps them for peers.keep_for (default 3d) after the
 * newest bundle naming them was installed, then this sweep drops them. The sweep also
 * drops what a failed or interrupted preload left behind. A layer is dropped only when
 * every installed bundle that lists it uses it where containerd holds it, and not within
 * 10 minutes of its publication (a `berth import --from-peers` may be about to record
 * the bundle that needs it). Off with a registry mirror
 * backend or containerd.keep_layers = true (both read layers from the store).
 *
 * Runs on the loop (manifests from the DB, a stat and an unlink per layer), never while
 * an update is in progress or an import holds the state lock; every quarter of keep_for
 * (at least a second, at most an hour; hourly without peers) and right after an update
 * ends.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct agent;
struct sd_event_source;

#define LAYERS_KEEP_FOR_DEFAULT (3 * 86400)

struct layers_state {
        const char *scope;              /* NULL: no sweeping */
        int64_t keep_for;               /* seconds */
        uint64_t interval_usec;
        struct sd_event_source *timer;
        int lock_fd;                    /* the state lock, held during a sweep */
        uint64_t dropped_bytes;         /* since start (metrics) */
        unsigned kept;                  /* at the last sweep: held, kept for the peers */
};

int layers_start(struct agent *a, berr *e);
void layers_stop(struct agent *a);
/* An update ended: sweep soon (a new bundle's own layers wait for keep_for). */
void layers_kick(struct agent *a);
