/* SPDX-License-Identifier: Apache-2.0 */
/* tasks.h — containerd tasks (Tasks service): the running process of a container
 * (runc through the containerd shim), and extra processes exec'd into it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "containerd/client.h"
#include "containerd/snapshots.h"

#define CTRD_PROCESS_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

enum ctrd_task_status {
        CTRD_TASK_UNKNOWN = 0,
        CTRD_TASK_CREATED = 1,
        CTRD_TASK_RUNNING = 2,
        CTRD_TASK_STOPPED = 3,
        CTRD_TASK_PAUSED = 4,
        CTRD_TASK_PAUSING = 5,
};

struct ctrd_task_info {
        enum ctrd_task_status status;
        uint32_t pid;
        uint32_t exit_status;
};

/* Tasks.Create with the rootfs mounts (from Snapshots.Prepare/Mounts) and stdout/stderr
 * as URIs or paths ("file:///var/log/x.log"; "" = none). -EEXIST if a task exists. */
int ctrd_task_create(struct ctrd *c, const char *id, const struct ctrd_mounts *rootfs, const char *out,
                     const char *err, uint32_t *ret_pid, berr *e);
/* Tasks.Start of the task (exec_id NULL) or of an exec'd process. */
int ctrd_task_start(struct ctrd *c, const char *id, const char *exec_id, uint32_t *ret_pid, berr *e);
/* Tasks.Get; -ENOENT when there is no task. */
int ctrd_task_get(struct ctrd *c, const char *id, const char *exec_id, struct ctrd_task_info *ret, berr *e);
/* Tasks.Kill; all = every process of the container. A missing task is -ENOENT. */
int ctrd_task_kill(struct ctrd *c, const char *id, const char *exec_id, int sig, bool all, berr *e);
/* Tasks.Delete of a stopped task; a missing one is fine (returns 0, exit status 0). */
int ctrd_task_delete(struct ctrd *c, const char *id, uint32_t *ret_exit_status, berr *e);
/* Tasks.Exec of process_json (an OCI runtime-spec Process) as exec_id; then start it.
 * output: NULL (discarded) or a "file:///path" URI the shim appends stdout and stderr to. */
int ctrd_task_exec(struct ctrd *c, const char *id, const char *exec_id, const char *process_json, const char *output,
                   berr *e);
/* Tasks.Wait for a process (exec_id) or the task (NULL), at most timeout_ms (-ETIMEDOUT). */
int ctrd_task_wait(struct ctrd *c, const char *id, const char *exec_id, uint64_t timeout_ms,
                   uint32_t *ret_exit_status, berr *e);
/* Tasks.DeleteProcess of an exec'd process; a missing one is fine. */
int ctrd_task_delete_process(struct ctrd *c, const char *id, const char *exec_id, berr *e);
