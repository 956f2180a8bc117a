/* SPDX-License-Identifier: Apache-2.0 */
/* mirror_config.h — the runtime side of the mirror: K3s registries.yaml and
 * containerd certs.d/<host>/hosts.toml that make the runtime pull from the local
 * mirror first and from the upstream registry second.
 *
 * Files are written whole and atomically (write_file_atomic); berth owns each file it
 * writes (a registries.yaml with other entries must be merged by hand). Hosts and
 * URLs are validated to a safe character set before they reach YAML/TOML text, so
 * no quoting ambiguity or path traversal is possible.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct mirror_config {
        const char *mirror_url;         /* http(s)://host[:port] of the local mirror */
        const char *const *upstreams;   /* "docker.io", "registry.local", "http://host:port" */
        size_t n_upstreams;
        const char *ca_file;            /* absolute path, for an https mirror with a private CA */
        bool insecure;                  /* https mirror without certificate verification */
        const char *prefix;             /* repository prefix on the mirror (registry.prefix) */
};

/* The text of a K3s registries.yaml. */
int mirror_render_k3s(const struct mirror_config *mc, char **ret, berr *e);
/* The text of certs.d/<host>/hosts.toml for one upstream; *ret_host is the directory name. */
int mirror_render_hosts_toml(const struct mirror_config *mc, const char *upstream, char **ret, char **ret_host,
                             berr *e);

int mirror_write_k3s(const struct mirror_config *mc, const char *path, berr *e);
/* Writes DIR/<host>/hosts.toml for every upstream. */
int mirror_write_containerd(const struct mirror_config *mc, const char *dir, berr *e);
