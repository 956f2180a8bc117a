/* SPDX-License-Identifier: Apache-2.0 */
/* runtime.h — what the workload engine needs from a container runtime, as a table of
 * function pointers: the seam between the engine's policy (supervision, restarts,
 * probes, the update state machine, GC) and the runtime that carries it out.
 *
 * runner_runtime() (runner.h) is the real one: containerd over gRPC, images read from
 * berth's content store. Unit tests of the engine pass their own table, with a clock
 * they move, so soak times and backoffs are tested without waiting.
 *
 * Every operation is idempotent: start on a running task adopts it, stop on a missing
 * task succeeds, remove on a missing container succeeds. The runtime keeps no policy
 * and no supervision state: the engine sets running, started_ms, healthy and the rest.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/manifest.h"
#include "workload/spec.h"

#define WL_LABEL_BUNDLE "berth.bundle"
#define WL_LABEL_VERSION "berth.version"
#define WL_LABEL_WORKLOAD "berth.workload"

/* One workload of one bundle version. */
struct wl_instance {
        char bundle[129];
        int64_t version;
        const struct workload_spec *spec;       /* owned by the version's workload_set */
        json_t *image_config;                   /* owned */
        char chain_id[DIGEST_STR_LEN + 1];      /* the image's top snapshot */
        char id[80];                            /* container id, also snapshot key and task */
        char cgroup[200];                       /* cgroupsPath: /<namespace>/<id> */

        /* supervision (the engine's) */
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
        char last_probe[384];                   /* written by the runtime's probe */
};

/* A container the runtime holds for a bundle. */
struct wl_container_ref {
        char id[80];
        int64_t version;                        /* its version label; -1 when missing */
};

struct wl_runtime_ops {
        /* Fills the derived names of in (id, cgroup) from bundle, version and spec. */
        void (*init)(void *ud, struct wl_instance *in);
        /* The image config and top chain ID of image ref of manifest m, for this
         * platform. */
        int (*image)(void *ud, const struct bundle_manifest *m, const char *ref, json_t **ret_config,
                     char ret_chain[DIGEST_STR_LEN + 1], berr *e);
        /* Makes in's task run (creating volumes, rootfs, container and task as needed),
         * or adopts it when it runs; *ret_pid its process. */
        int (*start)(void *ud, const struct wl_instance *in, uint32_t *ret_pid, berr *e);
        /* Stops container id's task (sig, then SIGKILL after grace_ms) and deletes the
         * task; the container and its rootfs stay (rollback). */
        int (*stop)(void *ud, const char *id, int sig, uint64_t grace_ms, berr *e);
        /* 1 with the exit status and OOM flag when in's task has exited (the task is then
         * deleted), 0 while it runs, -ENOENT when there is no task. */
        int (*poll)(void *ud, const struct wl_instance *in, int *ret_exit, bool *ret_oom, berr *e);
        /* Read-only: 1 and the pid when container id's task runs, 0 when it exists but
         * does not run, -ENOENT when there is none. */
        int (*peek)(void *ud, const char *id, uint32_t *ret_pid);
        /* Runs in's probe once: 1 healthy, 0 not; the reason goes to in->last_probe. */
        int (*probe)(void *ud, struct wl_instance *in);
        /* Keeps in's log within its size limit. */
        void (*rotate_logs)(void *ud, const struct wl_instance *in);
        /* The containers labelled with bundle, any version (free *ret). */
        int (*list)(void *ud, const char *bundle, struct wl_container_ref **ret, size_t *ret_n, berr *e);
        /* Removes task, container and rootfs of container id. */
        int (*remove)(void *ud, const char *id, berr *e);
        /* Drops the runtime's image record name while it still points at digest. */
        int (*image_forget)(void *ud, const char *name, const char *digest, berr *e);
        /* CLOCK_MONOTONIC and CLOCK_REALTIME milliseconds. */
        uint64_t (*mono_ms)(void *ud);
        int64_t (*wall_ms)(void *ud);
};

struct wl_runtime {
        const struct wl_runtime_ops *ops;
        void *ud;
};
