/* SPDX-License-Identifier: Apache-2.0 */
/* layers.h — one copy of every layer on an agent with the containerd backend: berth's
 * store drops the compressed copy of a layer once containerd holds it unpacked
 * (import/held.h), so flash holds each layer once and deltas still fetch only new ones.
 *
 * Without site peers the preload drops them at once (import/backends.h). A gateway that
 * serves its site's peers ([peers] listen) needs the compressed layers of a new bundle
 * while its site rolls it out: it keeps them for peers.keep_for (default 3d) after the
 * newest bundle naming them was installed, then this sweep drops them. The sweep also
 * drops what a failed or interrupted preload left behind. Off with a registry mirror
 * backend or containerd.keep_layers = true (both read layers from the store).
 *
 * Runs on the loop (manifests from the DB, a stat and an unlink per layer), never while
 * an update is in progress; every interval (a quarter of keep_for, at most an hour) and
 * right after an update is installed.
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
        uint64_t dropped_blobs, dropped_bytes;  /* since start, for status and tests */
};

int layers_start(struct agent *a, berr *e);
void layers_stop(struct agent *a);
/* A bundle was installed: sweep soon (its own layers wait for keep_for). */
void layers_kick(struct agent *a);
