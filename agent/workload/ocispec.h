/* SPDX-License-Identifier: Apache-2.0 */
/* ocispec.h — builds the OCI runtime spec (config.json for runc) of a workload from
 * its image config (Entrypoint, Cmd, Env, WorkingDir, User) and its workload spec
 * (limits, user, read-only rootfs, mounts — binds read-only recursively —, devices,
 * namespaces, capabilities, no-new-privileges), with containerd's default mounts,
 * masked and read-only paths.
 *
 * Pure: reads the host only to stat listed device nodes and to see whether the
 * memory cgroup accounts swap. Nothing here talks to containerd.
 */
#pragma once

#include <jansson.h>

#include "base/err.h"
#include "workload/spec.h"

struct ocispec_input {
        const struct workload_spec *w;
        json_t *image_config;           /* the image's config blob (OCI image config) */
        const char *cgroups_path;       /* "/<namespace>/<container id>" */
        const char *volume_dir;         /* host dir holding this workload's volumes */
        const char *hostname;
};

/* The spec as JSON text (newly allocated). */
int ocispec_build(const struct ocispec_input *in, char **ret, berr *e);
/* An OCI Process (for Tasks.Exec) running argv with the workload's user, env, cwd,
 * capabilities and no-new-privileges. */
int ocispec_exec_process(const struct ocispec_input *in, char *const *argv, size_t argc, char **ret, berr *e);
/* The user the workload runs as (spec, else a numeric non-root image User, else nobody). */
void ocispec_user(const struct ocispec_input *in, uint32_t *ret_uid, uint32_t *ret_gid);
