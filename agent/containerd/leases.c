/* SPDX-License-Identifier: Apache-2.0 */
/* leases.c — see leases.h. */
#include "containerd/leases.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "base/timeutil.h"
#include "containerd/services/leases.pb-c.h"
#include "grpc/grpc.h"

#define M_LEASES "/containerd.services.leases.v1.Leases/"

int ctrd_lease_create(struct ctrd *c, const char *id, uint64_t expire_s, berr *e)
{
        Containerd__Services__Leases__V1__CreateRequest req = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
        char expire[64];
        void **entries = NULL;
        struct tm tm;
        time_t t = time(NULL) + (time_t)expire_s;

        gmtime_r(&t, &tm);
        strftime(expire, sizeof expire, "%Y-%m-%dT%H:%M:%SZ", &tm);
        struct ctrd_label l[] = { { "containerd.io/gc.expire", expire } };
        int r = ctrd_map_new(&containerd__services__leases__v1__create_request__labels_entry__descriptor, l, 1,
                             &entries);
        if (r < 0)
                return berr_set(e, r, "out of memory");
        req.id = (char *)id;
        req.labels = (Containerd__Services__Leases__V1__CreateRequest__LabelsEntry **)entries;
        req.n_labels = 1;
        berr tmp = {0};
        r = grpc_unary(ctrd_grpc(c), M_LEASES "Create", &req.base,
                       &containerd__services__leases__v1__create_response__descriptor, 0, NULL, &tmp);
        ctrd_map_free(entries, 1);
        if (r == -EEXIST)
                return 0;
        if (r < 0 && e)
                *e = tmp;
        return r;
}

int ctrd_lease_delete(struct ctrd *c, const char *id, berr *e)
{
        Containerd__Services__Leases__V1__DeleteRequest req = CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        req.id = (char *)id;
        berr tmp = {0};
        int r = grpc_unary(ctrd_grpc(c), M_LEASES "Delete", &req.base, &google__protobuf__empty__descriptor, 0, NULL,
                           &tmp);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && e)
                *e = tmp;
        return r;
}
