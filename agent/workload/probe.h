/* SPDX-License-Identifier: Apache-2.0 */
/* probe.h — network health probes of a workload: TCP connect and HTTP GET on
 * 127.0.0.1:port, in the host network or inside a container's network namespace
 * (entered by a short-lived child process, so the caller's namespace never changes).
 * Exec probes run through containerd (runner.h).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Returns 1 when healthy, 0 when not (with the reason in evidence), negative errno
 * when the probe could not be run at all. netns_pid 0 = the caller's namespace;
 * otherwise the namespace of that process. path NULL = TCP only. */
int probe_net(pid_t netns_pid, uint16_t port, const char *path, int expect_status, uint64_t timeout_ms,
              char *evidence, size_t evidence_size);
