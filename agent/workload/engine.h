/* SPDX-License-Identifier: Apache-2.0 */
/* engine.h — the workload engine: runs each bundle's committed workloads through
 * containerd, keeps them up (restart policy with exponential backoff, OOM and crash
 * detection, health probes), and carries out updates as a persisted state machine:
 *
 *   staged → switching (stop the old set in reverse start order, start the new set in
 *   order) → probing (for the bundle's soak time) → committed
 *                                               ↘ rolling_back (stop the new set, start
 *                                                 the previous committed set) → rolled_back
 *
 * Every state is written to the DB (store/wstate.h) before its side effects, and every
 * side effect is idempotent, so workload_engine_start() after a crash resumes the
 * persisted state and converges to either the new version committed or the old one
 * running, never a mix. After a commit the previous version is kept (manual rollback)
 * and older versions are garbage-collected: DB rows, berth store blobs, containerd
 * containers, snapshots and images.
 *
 * Single-threaded and driven by the caller: the daemon calls workload_engine_tick()
 * from its event loop (a timer at the returned deadline); the CLI uses the blocking
 * workload_update_run(). Probes block for at most their timeout.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "config/config.h"
#include "containerd/client.h"
#include "store/content.h"
#include "store/db.h"
#include "store/wstate.h"
#include "workload/runtime.h"

#define WL_DEFAULT_DATA_DIR "/var/lib/berth/data"
#define WL_DEFAULT_LOG_MAX (1u << 20)
#define WL_DEFAULT_LOG_KEEP 3

struct workload_engine;

struct workload_engine_opts {
        const char *data_dir;           /* NULL: config workloads.data_dir or WL_DEFAULT_DATA_DIR */
        const char *log_dir;            /* NULL: config workloads.log_dir or <state_dir>/logs */
        const char *state_dir;          /* for the default log dir */
        uint64_t log_max_bytes;         /* 0: config workloads.log_max_bytes or 1 MiB */
        unsigned log_keep;              /* 0: config workloads.log_keep or 3 */
        uint64_t supervise_ms;          /* 0: config workloads.supervise_ms or 500 */
        void (*note)(const char *msg);  /* optional: a wait worth telling (the caller logs it) */
        /* NULL: containerd (ctrd) with images from cs; else this runtime (runtime.h),
         * copied: unit tests pass one with a clock of their own */
        const struct wl_runtime *runtime;
        /* config workloads.log_check_ms (1000): how often log sizes are checked */
};

/* The engine borrows db, cs and ctrd (they must outlive it). */
int workload_engine_new(const struct workload_engine_opts *o, const struct berth_config *cfg, struct berth_db *db,
                        struct content_store *cs, struct ctrd *ctrd, struct workload_engine **ret, berr *e);
void workload_engine_free(struct workload_engine *eng);

/* Loads every bundle's persisted state and converges: adopts running workloads (never
 * restarts them), stops what must not run, resumes an interrupted update. */
int workload_engine_start(struct workload_engine *eng, berr *e);
/* One round of supervision, probes and update steps. *ret_next_ms: CLOCK_MONOTONIC
 * milliseconds at which to call again. Errors of single workloads are recorded in the
 * status, not returned; a negative return means the engine cannot go on (DB). */
int workload_engine_tick(struct workload_engine *eng, uint64_t *ret_next_ms, berr *e);

/* Follows containerd's /tasks/exit and /tasks/oom events of the engine's namespace
 * (Events.Subscribe on a thread of its own, reconnecting when containerd restarts), so
 * exits are handled at once instead of at the next periodic round (which then runs
 * only every 10 × supervise_ms as a safety net). The daemon adds
 * workload_engine_event_fd() to its event loop and calls workload_engine_tick() when
 * it is readable; the tick drains it. */
int workload_engine_watch_events(struct workload_engine *eng, berr *e);
int workload_engine_event_fd(const struct workload_engine *eng);
/* Waits until until_ms (CLOCK_MONOTONIC ms) or an event (1). For blocking callers. */
int workload_engine_wait(struct workload_engine *eng, uint64_t until_ms);

/* Records an update of bundle to version (state staged; the version must be imported).
 * It switches at the next tick if proceed is true, else when workload_update_proceed()
 * is called (maintenance window). */
int workload_update_start(struct workload_engine *eng, const char *bundle, int64_t version, bool proceed, berr *e);
int workload_update_proceed(struct workload_engine *eng, const char *bundle, berr *e);
/* Manual rollback to the previous committed version (an update with kind "rollback"). */
int workload_rollback(struct workload_engine *eng, const char *bundle, bool proceed, berr *e);
/* Drops a staged update that has not begun switching (the update state above moved
 * on to another version): recorded as rolled back with why as evidence. 1 dropped,
 * 0 nothing staged, -EBUSY when it is already switching. */
int workload_update_abandon(struct workload_engine *eng, const char *bundle, const char *why, berr *e);
/* True while bundle has an unfinished update. */
bool workload_update_busy(struct workload_engine *eng, const char *bundle);

struct workload_update_report {
        enum wstate_state state;        /* committed or rolled_back */
        int64_t from_version, to_version;
        char evidence[1024];
        double rollback_s;              /* failure threshold → previous version healthy; <0 unknown */
};
/* Blocking (CLI): start (or resume) the update of bundle to version, switch at once,
 * tick until committed or rolled back (and, after a rollback, until the previous
 * version is healthy again or its probes time out). */
int workload_update_run(struct workload_engine *eng, const char *bundle, int64_t version, bool rollback,
                        struct workload_update_report *ret, berr *e);
/* Blocking: tick until no bundle has an unfinished update. */
int workload_engine_settle(struct workload_engine *eng, berr *e);

/* Status as JSON: per bundle current/previous version, the last update (state,
 * evidence), and per workload of the running set: container id, state, pid, restarts,
 * last exit, OOM, health and last probe result. New reference. */
json_t *workload_engine_status(struct workload_engine *eng);
