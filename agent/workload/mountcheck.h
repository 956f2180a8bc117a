/* SPDX-License-Identifier: Apache-2.0 */
/* mountcheck.h — proof that a container's read-only binds are read-only all the way down.
 *
 * ocispec.c asks runc for recursive read-only binds ("rro": mount_setattr with
 * AT_RECURSIVE, runc ≥ 1.1 on Linux ≥ 5.12). A runtime without it makes only the top
 * mount read-only and leaves the mounts below it writable, silently. So the runner reads
 * the mount table of the created (not yet started) task and this module checks it
 * against the OCI spec. Pure: text in, verdict out; nothing here reads the host.
 */
#pragma once

#include "base/err.h"

/* oci_spec: the OCI runtime spec text (its "mounts" array is used); mountinfo: the
 * contents of /proc/PID/mountinfo of the container's init process (mount points are
 * then paths inside the container). Every mount at or below the destination of a
 * bind mount that the spec marks "ro" must be read-only, unless a later spec mount
 * (a tmpfs, a writable volume) sits closer above it. 0 when so; -EPERM with a sentence
 * naming the workload, the bind and the first writable mount below it otherwise;
 * -EBADMSG when either text cannot be read. */
int mountcheck_readonly(const char *oci_spec, const char *mountinfo, const char *workload, berr *e);
