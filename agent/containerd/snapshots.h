/* SPDX-License-Identifier: Apache-2.0 */
/* snapshots.h — containerd snapshotters (the configured one of struct ctrd). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "containerd/client.h"

/* Mounts as returned by Prepare; opaque protobuf mounts for Diff.Apply. */
struct ctrd_mounts {
        void *response; /* the PrepareSnapshotResponse that owns them */
        void **mounts;
        size_t n_mounts;
};
void ctrd_mounts_done(struct ctrd_mounts *m);

/* Snapshots.Stat; -ENOENT when missing. *ret_committed may be NULL. */
int ctrd_snapshot_stat(struct ctrd *c, const char *key, bool *ret_committed, berr *e);
/* Snapshots.Prepare of an active snapshot key on top of parent ("" = none). */
int ctrd_snapshot_prepare(struct ctrd *c, const char *key, const char *parent, const struct ctrd_label *labels,
                          size_t n_labels, struct ctrd_mounts *ret, berr *e);
/* Snapshots.Commit of active key as name. */
int ctrd_snapshot_commit(struct ctrd *c, const char *name, const char *key, const struct ctrd_label *labels,
                         size_t n_labels, berr *e);
/* Snapshots.Remove; a missing one is fine. */
int ctrd_snapshot_remove(struct ctrd *c, const char *key, berr *e);
/* Snapshots.Mounts of an existing (active) snapshot key. */
int ctrd_snapshot_mounts(struct ctrd *c, const char *key, struct ctrd_mounts *ret, berr *e);
