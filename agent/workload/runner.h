/* SPDX-License-Identifier: Apache-2.0 */
/* runner.h — one workload instance (a workload of one bundle version) in containerd:
 * its snapshot, container record and task; start (or adopt), stop with the stop
 * signal then SIGKILL after the grace period, exit detection (with OOM kills told
 * apart through the memory cgroup), exec probes, and size-bounded rotated logs.
 *
 * Every operation is idempotent: start on a running task adopts it, stop on a missing
 * task succeeds, remove on a missing container succeeds. No policy lives here (restart,
 * backoff and the update state machine are engine.c's).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "containerd/client.h"
#include "workload/spec.h"

#define WL_LABEL_BUNDLE "berth.bundle"
#define WL_LABEL_VERSION "berth.version"
#define WL_LABEL_WORKLOAD "berth.workload"

struct runner_ctx {
        struct ctrd *c;
        const char *data_dir;           /* volumes: <data_dir>/<workload>/<volume> */
        const char *log_dir;            /* <log_dir>/<container id>.log (+ .1 … .keep) */
        uint64_t log_max_bytes;
        unsigned log_keep;
        /* Optional: told of a wait the operator should know about (one sentence). */
        void (*note)(const char *msg);
};

struct wl_instance {
        char bundle[129];
        int64_t version;
        const struct workload_spec *spec;       /* owned by the version's workload_set */
        json_t *image_config;                   /* owned */
        char chain_id[DIGEST_STR_LEN + 1];      /* the image's top snapshot */
        char id[80];                            /* container id, also snapshot key and task */
        char cgroup[200];                       /* cgroupsPath: /<namespace>/<id> */

        /* supervision (engine.c) */
        bool running;
        uint32_t pid;
        uint64_t started_ms;
        unsigned restarts;
        uint64_t backoff_ms, restart_at_ms;
        bool given_up;                          /* exited; policy says no restart */
        int last_exit;                          /* -1: none yet */
        bool last_oom;
        /* health */
        uint64_t next_probe_ms;
        unsigned ok_streak, fail_streak;
        uint64_t probes_ok, probes_failed;      /* probe results since the engine started */
        bool healthy;
        char last_probe[384];
};

/* Fills the derived names of inst (id, cgroup) from bundle, version and spec. */
void runner_init(const struct runner_ctx *rc, struct wl_instance *inst);
/* Makes the task run: creates the volume dirs, snapshot, container and task as
 * needed; adopts a running task. *ret_adopted tells which. */
int runner_start(const struct runner_ctx *rc, struct wl_instance *inst, bool *ret_adopted, berr *e);
/* Stops the task (stop signal, SIGKILL after the grace period) and deletes it;
 * the container and snapshot stay (rollback). */
int runner_stop(const struct runner_ctx *rc, struct wl_instance *inst, berr *e);
/* 1 and the exit status and OOM flag when the task has exited (the task is then deleted), 0
 * while it runs, -ENOENT when there is no task. */
int runner_poll(const struct runner_ctx *rc, struct wl_instance *inst, int *ret_exit, bool *ret_oom, berr *e);
/* Removes task, container and rootfs snapshot of a container id (any version). */
int runner_remove_id(const struct runner_ctx *rc, const char *id, berr *e);
/* Runs the workload's probe once: 1 healthy, 0 not (reason in inst->last_probe). */
int runner_probe(const struct runner_ctx *rc, struct wl_instance *inst);
/* Rotates the log when it exceeds log_max_bytes (copy, truncate: the shim keeps
 * appending to the same file). */
void runner_rotate_logs(const struct runner_ctx *rc, const struct wl_instance *inst);
