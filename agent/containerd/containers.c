/* SPDX-License-Identifier: Apache-2.0 */
/* containers.c — see containers.h. */
#include "containerd/containers.h"

#include <errno.h>
#include <string.h>

#include "containerd/services/containers.pb-c.h"
#include "grpc/grpc.h"

#define M_CT "/containerd.services.containers.v1.Containers/"

int ctrd_container_create(struct ctrd *c, const char *id, const char *image, const char *snapshot_key,
                          const char *spec_json, const struct ctrd_label *labels, size_t n_labels, berr *e)
{
        Containerd__Services__Containers__V1__CreateContainerRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
        Containerd__Services__Containers__V1__Container ct = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
        Containerd__Services__Containers__V1__Container__Runtime rt =
                CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
        Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        void **entries = NULL;

        int r = ctrd_map_new(&containerd__services__containers__v1__container__labels_entry__descriptor, labels,
                             n_labels, &entries);
        if (r < 0)
                return berr_set(e, r, "out of memory");
        rt.name = (char *)CTRD_RUNTIME_RUNC;
        spec.type_url = (char *)CTRD_SPEC_TYPE_URL;
        spec.value.data = (uint8_t *)spec_json;
        spec.value.len = strlen(spec_json);
        ct.id = (char *)id;
        ct.image = (char *)image;
        ct.runtime = &rt;
        ct.spec = &spec;
        ct.snapshotter = (char *)ctrd_snapshotter(c);
        ct.snapshot_key = (char *)snapshot_key;
        ct.labels = (Containerd__Services__Containers__V1__Container__LabelsEntry **)entries;
        ct.n_labels = n_labels;
        req.container = &ct;
        r = grpc_unary(ctrd_grpc(c), M_CT "Create", &req.base,
                       &containerd__services__containers__v1__create_container_response__descriptor, 0, &resp, e);
        ctrd_map_free(entries, n_labels);
        return r;
}

int ctrd_container_delete(struct ctrd *c, const char *id, berr *e)
{
        Containerd__Services__Containers__V1__DeleteContainerRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
        berr tmp = {0};
        req.id = (char *)id;
        int r = grpc_unary(ctrd_grpc(c), M_CT "Delete", &req.base, &google__protobuf__empty__descriptor, 0, NULL, &tmp);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && e)
                *e = tmp;
        return r;
}

void ctrd_container_list_free(struct ctrd_container *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].id);
                free(v[i].image);
                free(v[i].snapshot_key);
                for (size_t k = 0; k < v[i].n_labels; k++) {
                        free((char *)v[i].labels[k].key);
                        free((char *)v[i].labels[k].value);
                }
                free(v[i].labels);
        }
        free(v);
}

const char *ctrd_container_label(const struct ctrd_container *ct, const char *key)
{
        for (size_t k = 0; k < ct->n_labels; k++)
                if (!strcmp(ct->labels[k].key, key))
                        return ct->labels[k].value;
        return NULL;
}

int ctrd_container_list(struct ctrd *c, const char *const *filters, size_t n_filters, struct ctrd_container **ret,
                        size_t *ret_n, berr *e)
{
        Containerd__Services__Containers__V1__ListContainersRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        req.filters = (char **)filters;
        req.n_filters = n_filters;
        int r = grpc_unary(ctrd_grpc(c), M_CT "List", &req.base,
                           &containerd__services__containers__v1__list_containers_response__descriptor, 0, &resp, e);
        if (r < 0)
                return r;
        const Containerd__Services__Containers__V1__ListContainersResponse *l = (const void *)resp;
        struct ctrd_container *v = calloc(l->n_containers + 1, sizeof *v);
        if (!v)
                return berr_set(e, -ENOMEM, "out of memory");
        size_t n = 0;
        for (size_t i = 0; i < l->n_containers; i++, n++) {
                const Containerd__Services__Containers__V1__Container *ct = l->containers[i];
                v[i].id = strdup(ct->id ? ct->id : "");
                v[i].image = strdup(ct->image ? ct->image : "");
                v[i].snapshot_key = strdup(ct->snapshot_key ? ct->snapshot_key : "");
                v[i].labels = calloc(ct->n_labels + 1, sizeof *v[i].labels);
                bool oom = !v[i].id || !v[i].image || !v[i].snapshot_key || !v[i].labels;
                for (size_t k = 0; !oom && k < ct->n_labels; k++) {
                        v[i].labels[k].key = strdup(ct->labels[k]->key ? ct->labels[k]->key : "");
                        v[i].labels[k].value = strdup(ct->labels[k]->value ? ct->labels[k]->value : "");
                        v[i].n_labels++;
                        oom = !v[i].labels[k].key || !v[i].labels[k].value;
                }
                if (oom) {
                        ctrd_container_list_free(v, n + 1);
                        return berr_set(e, -ENOMEM, "out of memory");
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
