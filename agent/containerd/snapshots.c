/* SPDX-License-Identifier: Apache-2.0 */
/* snapshots.c — see snapshots.h. */
#include "containerd/snapshots.h"

#include <errno.h>

#include "containerd/services/snapshots.pb-c.h"
#include "grpc/grpc.h"

#define M_SNAP "/containerd.services.snapshots.v1.Snapshots/"

void ctrd_mounts_done(struct ctrd_mounts *m)
{
        if (m->response)
                protobuf_c_message_free_unpacked(m->response, NULL);
        *m = (struct ctrd_mounts) { 0 };
}

int ctrd_snapshot_stat(struct ctrd *c, const char *key, bool *ret_committed, berr *e)
{
        Containerd__Services__Snapshots__V1__StatSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        berr tmp = {0};

        req.snapshotter = (char *)ctrd_snapshotter(c);
        req.key = (char *)key;
        int r = grpc_unary(ctrd_grpc(c), M_SNAP "Stat", &req.base,
                           &containerd__services__snapshots__v1__stat_snapshot_response__descriptor, 0, &resp, &tmp);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                if (e)
                        *e = tmp;
                return r;
        }
        const Containerd__Services__Snapshots__V1__StatSnapshotResponse *s = (const void *)resp;
        if (ret_committed)
                *ret_committed = s->info && s->info->kind == CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED;
        return 0;
}

int ctrd_snapshot_prepare(struct ctrd *c, const char *key, const char *parent, const struct ctrd_label *labels,
                          size_t n_labels, struct ctrd_mounts *ret, berr *e)
{
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        void **entries = NULL;

        int r = ctrd_map_new(&containerd__services__snapshots__v1__prepare_snapshot_request__labels_entry__descriptor,
                             labels, n_labels, &entries);
        if (r < 0)
                return berr_set(e, r, "out of memory");
        req.snapshotter = (char *)ctrd_snapshotter(c);
        req.key = (char *)key;
        req.parent = (char *)parent;
        req.labels = (Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry **)entries;
        req.n_labels = n_labels;
        r = grpc_unary(ctrd_grpc(c), M_SNAP "Prepare", &req.base,
                       &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor, 0, &resp, e);
        ctrd_map_free(entries, n_labels);
        if (r < 0)
                return r;
        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = (void *)resp;
        *ret = (struct ctrd_mounts) { .response = resp, .mounts = (void **)p->mounts, .n_mounts = p->n_mounts };
        return 0;
}

int ctrd_snapshot_commit(struct ctrd *c, const char *name, const char *key, const struct ctrd_label *labels,
                         size_t n_labels, berr *e)
{
        Containerd__Services__Snapshots__V1__CommitSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
        void **entries = NULL;

        int r = ctrd_map_new(&containerd__services__snapshots__v1__commit_snapshot_request__labels_entry__descriptor,
                             labels, n_labels, &entries);
        if (r < 0)
                return berr_set(e, r, "out of memory");
        req.snapshotter = (char *)ctrd_snapshotter(c);
        req.name = (char *)name;
        req.key = (char *)key;
        req.labels = (Containerd__Services__Snapshots__V1__CommitSnapshotRequest__LabelsEntry **)entries;
        req.n_labels = n_labels;
        r = grpc_unary(ctrd_grpc(c), M_SNAP "Commit", &req.base, &google__protobuf__empty__descriptor, 0, NULL, e);
        ctrd_map_free(entries, n_labels);
        return r;
}

int ctrd_snapshot_remove(struct ctrd *c, const char *key, berr *e)
{
        Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
        berr tmp = {0};
        req.snapshotter = (char *)ctrd_snapshotter(c);
        req.key = (char *)key;
        int r = grpc_unary(ctrd_grpc(c), M_SNAP "Remove", &req.base, &google__protobuf__empty__descriptor, 0, NULL,
                           &tmp);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && e)
                *e = tmp;
        return r;
}

int ctrd_snapshot_mounts(struct ctrd *c, const char *key, struct ctrd_mounts *ret, berr *e)
{
        Containerd__Services__Snapshots__V1__MountsRequest req = CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.snapshotter = (char *)ctrd_snapshotter(c);
        req.key = (char *)key;
        int r = grpc_unary(ctrd_grpc(c), M_SNAP "Mounts", &req.base,
                           &containerd__services__snapshots__v1__mounts_response__descriptor, 0, &resp, e);
        if (r < 0)
                return r;
        Containerd__Services__Snapshots__V1__MountsResponse *p = (void *)resp;
        *ret = (struct ctrd_mounts) { .response = resp, .mounts = (void **)p->mounts, .n_mounts = p->n_mounts };
        return 0;
}
