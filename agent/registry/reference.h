/* SPDX-License-Identifier: Apache-2.0 */
/* reference.h — image references and the repository naming rule on the mirror.
 *
 * A reference "registry.local/gw/broker:2.0" is split like docker/containerd do:
 * the first path component is a registry host when it contains '.' or ':' or is
 * "localhost"; otherwise the host is docker.io, and a single-component docker.io
 * name gets "library/". On the mirror the repository is the path without the host
 * ("gw/broker", "library/busybox"), optionally under a prefix, because that is the
 * path a runtime asks a mirror for (containerd hosts.toml, K3s registries.yaml).
 */
#pragma once

#include <stdbool.h>

#define REGISTRY_MAX_REPO_LEN 255
#define REGISTRY_MAX_TAG_LEN 128

struct image_ref {
        char *domain;   /* "docker.io", "registry.local:5000" */
        char *path;     /* "library/busybox", "gw/broker" */
        char *tag;      /* "2.0"; NULL when the reference has only a digest */
        char *digest;   /* "sha256:…" or NULL */
};

/* Parses a reference; -EINVAL for anything that is not a valid reference. A reference
 * with neither tag nor digest gets the tag "latest". */
int image_ref_parse(const char *s, struct image_ref *ret);
void image_ref_done(struct image_ref *r);

/* True for a repository path: components [a-z0-9]+ joined by '.', '_', '__' or '-'*,
 * separated by '/', at most REGISTRY_MAX_REPO_LEN bytes. */
bool repository_name_valid(const char *s);
bool tag_valid(const char *s);

/* The repository on the mirror for r: "<prefix>/<path>" or just "<path>". prefix may be
 * NULL or "" and may carry leading/trailing slashes. -EINVAL when the result is invalid. */
int mirror_repository(const struct image_ref *r, const char *prefix, char **ret);
