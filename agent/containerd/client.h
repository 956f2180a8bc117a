/* SPDX-License-Identifier: Apache-2.0 */
/* client.h — a connection to containerd's gRPC API: socket, namespace, snapshotter and
 * the lease every call runs under. The per-service wrappers (content.h, images.h,
 * leases.h, snapshots.h, diff.h) take a struct ctrd.
 *
 * Errors name the containerd call and carry containerd's own message; a missing
 * object is -ENOENT, an existing one -EEXIST (see grpc/frame.h for the mapping).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define CTRD_DEFAULT_ADDRESS "/run/containerd/containerd.sock"
#define CTRD_DEFAULT_NAMESPACE "k8s.io"
#define CTRD_DEFAULT_SNAPSHOTTER "overlayfs"

struct ctrd;
struct grpc_client;

struct ctrd_label {
        const char *key;
        const char *value;
};

int ctrd_new(const char *address, const char *ns, const char *snapshotter, struct ctrd **ret, berr *e);
void ctrd_free(struct ctrd *c);
const char *ctrd_address(const struct ctrd *c);
const char *ctrd_namespace(const struct ctrd *c);
const char *ctrd_snapshotter(const struct ctrd *c);
struct grpc_client *ctrd_grpc(struct ctrd *c);

/* Runs every later call under lease id (containerd-lease header); NULL: no lease. */
int ctrd_use_lease(struct ctrd *c, const char *lease_id);

/* Version.Version; *ret_version is newly allocated ("1.6.20~ds1"). Also the cheapest
 * way to check that containerd answers. */
int ctrd_version(struct ctrd *c, char **ret_version, berr *e);

/* Builds the entries of a protobuf map<string,string> field from labels, for the map
 * entry type entry_desc. *ret is an array of n message pointers; free with
 * ctrd_map_free(). Keys and values are borrowed, not copied. */
int ctrd_map_new(const void *entry_desc, const struct ctrd_label *labels, size_t n, void ***ret);
void ctrd_map_free(void **entries, size_t n);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct ctrd *, ctrd_free)
