/* SPDX-License-Identifier: Apache-2.0 */
/* runner.h — the workload engine's runtime (runtime.h) on containerd. runner.c: one
 * workload instance (a workload of one bundle version): its snapshot, container record
 * and task; start (or adopt), stop with the stop signal then SIGKILL after the grace
 * period, exit detection (with OOM kills told apart through the memory cgroup), exec
 * probes, and size-bounded rotated logs. runner_runtime.c: the function table, and
 * what the engine asks of containerd beyond one instance (a bundle's containers, image
 * records, the image config from berth's store).
 *
 * Every operation is idempotent: start on a running task adopts it, stop on a missing
 * task succeeds, remove on a missing container succeeds. No policy lives here (restart,
 * backoff and the update state machine are the engine's).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "containerd/client.h"
#include "workload/runtime.h"
#include "workload/spec.h"

struct content_store;

struct runner_ctx {
        struct ctrd *c;
        struct content_store *cs;       /* berth's store: image manifests and configs */
        const char *data_dir;           /* volumes: <data_dir>/<workload>/<volume> */
        const char *log_dir;            /* <log_dir>/<container id>.log (+ .1 … .keep) */
        uint64_t log_max_bytes;
        unsigned log_keep;
        /* Optional: told of a wait the operator should know about (one sentence). */
        void (*note)(const char *msg);
};

/* The workload runtime (runtime.h) over rc, which must outlive its use. */
void runner_runtime(struct runner_ctx *rc, struct wl_runtime *ret);

/* Fills the derived names of inst (id, cgroup) from bundle, version and spec. */
void runner_init(const struct runner_ctx *rc, struct wl_instance *inst);
/* Makes the task run: creates the volume dirs, snapshot, container and task as
 * needed; adopts a running task. *ret_pid: its process. */
int runner_start(const struct runner_ctx *rc, const struct wl_instance *inst, uint32_t *ret_pid, berr *e);
/* Stops container id's task (sig, SIGKILL after grace_ms) and deletes it; the
 * container and snapshot stay (rollback). */
int runner_stop(const struct runner_ctx *rc, const char *id, int sig, uint64_t grace_ms, berr *e);
/* 1 and the exit status and OOM flag when the task has exited (the task is then deleted), 0
 * while it runs, -ENOENT when there is no task. */
int runner_poll(const struct runner_ctx *rc, const struct wl_instance *inst, int *ret_exit, bool *ret_oom, berr *e);
/* Removes task, container and rootfs snapshot of a container id (any version). */
int runner_remove_id(const struct runner_ctx *rc, const char *id, berr *e);
/* Runs the workload's probe once: 1 healthy, 0 not (reason in inst->last_probe). */
int runner_probe(const struct runner_ctx *rc, struct wl_instance *inst);
/* Rotates the log when it exceeds log_max_bytes (copy, truncate: the shim keeps
 * appending to the same file). */
void runner_rotate_logs(const struct runner_ctx *rc, const struct wl_instance *inst);
