/* SPDX-License-Identifier: Apache-2.0 */
/* containers.h — containerd container records (Containers service): the metadata a
 * task runs from (image name, OCI runtime spec, snapshot key, runtime, labels).
 * The workload engine creates one per workload version and finds its own again by
 * label after a restart.
 */
#pragma once

#include <stddef.h>

#include "base/err.h"
#include "containerd/client.h"

#define CTRD_RUNTIME_RUNC "io.containerd.runc.v2"
#define CTRD_SPEC_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Spec"

struct ctrd_container {
        char *id;
        char *image;
        char *snapshot_key;
        struct ctrd_label *labels;      /* owned strings */
        size_t n_labels;
};

/* Containers.Create with runtime io.containerd.runc.v2, the configured snapshotter,
 * and the OCI runtime spec (JSON text) as a google.protobuf.Any. -EEXIST if present. */
int ctrd_container_create(struct ctrd *c, const char *id, const char *image, const char *snapshot_key,
                          const char *spec_json, const struct ctrd_label *labels, size_t n_labels, berr *e);
/* Containers.Delete; a missing one is fine. */
int ctrd_container_delete(struct ctrd *c, const char *id, berr *e);
/* Containers.List with containerd filters (e.g. "labels.\"berth.bundle\"==gw"). */
int ctrd_container_list(struct ctrd *c, const char *const *filters, size_t n_filters, struct ctrd_container **ret,
                        size_t *ret_n, berr *e);
void ctrd_container_list_free(struct ctrd_container *v, size_t n);
const char *ctrd_container_label(const struct ctrd_container *ct, const char *key);
