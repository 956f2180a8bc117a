/* SPDX-License-Identifier: Apache-2.0 */
/* engine_int.h — the workload engine's state, shared by its parts (private to
 * agent/workload/):
 *   engine.c            lifecycle, the public calls, converging after a start, ticks,
 *                       containerd events, the blocking runs, status;
 *   engine_supervise.c  running a set: start/stop in order, exits, restarts with
 *                       backoff, probes, logs;
 *   engine_update.c     the update state machine (staged → switching → probing →
 *                       committed, or rolling_back → rolled_back);
 *   engine_gc.c         what a commit or rollback leaves behind.
 * The runtime (runtime.h) does the work in containerd; the engine only decides.
 */
#pragma once

#include <pthread.h>

#include "workload/engine.h"
#include "workload/runner.h"
#include "workload/runtime.h"
#include "workload/spec.h"

struct wl_version {
        int64_t version;
        struct workload_set *set;
        struct wl_instance *inst;       /* same index as set->w */
};

struct wl_bundle {
        char name[129];
        int64_t current, previous;      /* 0 = none */
        struct wl_version *cur;         /* the committed set (current version) */
        struct wl_version *next;        /* the target of an unfinished update */
        bool has_upd;
        struct wstate_update upd;
        bool proceed;
        uint64_t fail_ms;               /* when the failure threshold was reached */
        bool await_old_healthy;
        double rollback_s;
        char error[512];                /* last error the engine met for this bundle */
};

struct workload_engine {
        struct berth_db *db;
        struct content_store *cs;
        struct wl_runtime rt;
        struct runner_ctx rc;           /* the containerd runtime's, unless opts gave one */
        struct ctrd *ctrd;              /* for the event thread; NULL with another runtime */
        char *data_dir, *log_dir;
        uint64_t supervise_ms;
        uint64_t log_check_ms;
        struct wl_bundle *b;
        size_t n_b;
        bool started;
        bool poll_now;                  /* this round asks the runtime about every task */
        uint64_t next_poll_ms;
        /* containerd events (/tasks/exit, /tasks/oom) watched by a thread that only
         * writes a byte into a pipe: the engine stays single-threaded. */
        bool watching;
        int cancel;
        int evfd[2];
        pthread_t thread;
};

static inline uint64_t eng_mono_ms(const struct workload_engine *eng)
{
        return eng->rt.ops->mono_ms(eng->rt.ud);
}

static inline int64_t eng_wall_ms(const struct workload_engine *eng)
{
        return eng->rt.ops->wall_ms(eng->rt.ud);
}

/* engine.c */
struct wl_bundle *eng_bundle_find(struct workload_engine *eng, const char *name);
struct wl_bundle *eng_bundle_get(struct workload_engine *eng, const char *name);
/* Records the last error met for b (shown in the status). */
void eng_note(struct wl_bundle *b, const berr *e, int r);
int eng_version_load(struct workload_engine *eng, const char *bundle, int64_t version, struct wl_version **ret,
                     berr *e);
void eng_version_free(struct wl_version *v);

/* engine_supervise.c */
/* One instance up (adopting a running task) or down, with its supervision state. */
int eng_inst_start(struct workload_engine *eng, struct wl_instance *in, berr *e);
/* 1 exited (status, OOM), 0 runs, -ENOENT no task; marks it not running on exit. */
int eng_inst_poll(struct workload_engine *eng, struct wl_instance *in, int *ret_exit, bool *ret_oom, berr *e);
/* A set in dependency order (why: which workload did not start), and down in reverse. */
int eng_set_start(struct workload_engine *eng, struct wl_version *v, char *why, size_t why_n, berr *e);
int eng_set_stop(struct workload_engine *eng, struct wl_version *v, berr *e);
/* Stops every task of the bundle whose version is not in keep (a crash may have left a
 * set half switched). */
int eng_stop_others(struct workload_engine *eng, const char *bundle, const int64_t *keep, size_t n_keep, berr *e);
bool eng_set_all_healthy(const struct wl_version *v);
/* Watches a set: exits (restarted per policy when restart is true), logs, probes. */
void eng_supervise(struct workload_engine *eng, struct wl_bundle *b, struct wl_version *v, bool restart,
                   uint64_t now);

/* engine_update.c */
/* Loads the target version, persists the transition's first state (staged) and arms
 * the bundle for the ticks that carry it out. */
int eng_begin_transition(struct workload_engine *eng, struct wl_bundle *b, const char *bundle, int64_t to,
                         const char *kind, bool proceed, berr *e);
int eng_begin_rollback(struct workload_engine *eng, struct wl_bundle *b, const char *evidence, berr *e);
/* One round of b: supervision, or the next step of its update. */
int eng_step_bundle(struct workload_engine *eng, struct wl_bundle *b, uint64_t now, berr *e);
/* After a start: brings b back to what its persisted state says should run. */
int eng_converge_bundle(struct workload_engine *eng, struct wl_bundle *b, berr *e);

/* engine_gc.c */
/* Keeps current, previous and the versions of an unfinished update; removes the
 * containers of every other version, and forgets versions older than current. */
void eng_gc_bundle(struct workload_engine *eng, struct wl_bundle *b);
