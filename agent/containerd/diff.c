/* SPDX-License-Identifier: Apache-2.0 */
/* diff.c — see diff.h. */
#include "containerd/diff.h"

#include <errno.h>
#include <stdio.h>

#include "containerd/services/diff.pb-c.h"
#include "grpc/grpc.h"

/* Extracting a big layer onto slow flash takes a while. */
#define APPLY_TIMEOUT_MS (30u * 60u * 1000u)

int ctrd_diff_apply(struct ctrd *c, const char *digest, const char *media_type, uint64_t size,
                    const struct ctrd_mounts *mounts, char ret_diff_id[80], berr *e)
{
        Containerd__Services__Diff__V1__ApplyRequest req = CONTAINERD__SERVICES__DIFF__V1__APPLY_REQUEST__INIT;
        Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;

        d.digest = (char *)digest;
        d.media_type = (char *)media_type;
        d.size = (int64_t)size;
        req.diff = &d;
        req.mounts = (Containerd__Types__Mount **)mounts->mounts;
        req.n_mounts = mounts->n_mounts;
        int r = grpc_unary(ctrd_grpc(c), "/containerd.services.diff.v1.Diff/Apply", &req.base,
                           &containerd__services__diff__v1__apply_response__descriptor, APPLY_TIMEOUT_MS, &resp, e);
        if (r < 0)
                return r;
        const Containerd__Services__Diff__V1__ApplyResponse *a = (const void *)resp;
        if (!a->applied || !a->applied->digest)
                return berr_set(e, -EPROTO, "containerd applied layer %s but did not say its diff ID", digest);
        snprintf(ret_diff_id, 80, "%s", a->applied->digest);
        return 0;
}
