/* SPDX-License-Identifier: Apache-2.0 */
/* images.c — see images.h. */
#include "containerd/images.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "containerd/services/images.pb-c.h"
#include "grpc/grpc.h"

#define M_IMAGES "/containerd.services.images.v1.Images/"

int ctrd_image_get(struct ctrd *c, const char *name, struct ctrd_image_target *ret, berr *e)
{
        Containerd__Services__Images__V1__GetImageRequest req = CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;
        berr tmp = {0};

        req.name = (char *)name;
        int r = grpc_unary(ctrd_grpc(c), M_IMAGES "Get", &req.base,
                           &containerd__services__images__v1__get_image_response__descriptor, 0, &resp, &tmp);
        if (r == -ENOENT)
                return r;
        if (r < 0) {
                if (e)
                        *e = tmp;
                return r;
        }
        const Containerd__Services__Images__V1__GetImageResponse *g = (const void *)resp;
        if (!g->image || !g->image->target)
                return -ENOENT;
        const Containerd__Types__Descriptor *t = g->image->target;
        *ret = (struct ctrd_image_target) { .size = t->size > 0 ? (uint64_t)t->size : 0 };
        snprintf(ret->media_type, sizeof ret->media_type, "%s", t->media_type ? t->media_type : "");
        snprintf(ret->digest, sizeof ret->digest, "%s", t->digest ? t->digest : "");
        return 0;
}

int ctrd_image_put(struct ctrd *c, const char *name, const struct ctrd_image_target *target, bool *ret_changed,
                   berr *e)
{
        struct ctrd_image_target cur;
        Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
        Containerd__Services__Images__V1__Image im = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
        int r;

        if (ret_changed)
                *ret_changed = false;
        r = ctrd_image_get(c, name, &cur, e);
        if (r < 0 && r != -ENOENT)
                return r;
        bool exists = r == 0;
        if (exists && strcmp(cur.digest, target->digest) == 0 && strcmp(cur.media_type, target->media_type) == 0 &&
            cur.size == target->size)
                return 0;

        d.media_type = (char *)target->media_type;
        d.digest = (char *)target->digest;
        d.size = (int64_t)target->size;
        im.name = (char *)name;
        im.target = &d;
        if (!exists) {
                Containerd__Services__Images__V1__CreateImageRequest req =
                        CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
                req.image = &im;
                berr tmp = {0};
                r = grpc_unary(ctrd_grpc(c), M_IMAGES "Create", &req.base,
                               &containerd__services__images__v1__create_image_response__descriptor, 0, NULL, &tmp);
                if (r == 0) {
                        if (ret_changed)
                                *ret_changed = true;
                        return 0;
                }
                if (r != -EEXIST) {
                        if (e)
                                *e = tmp;
                        return r;
                }
                /* Created meanwhile by someone else: update it below. */
        }

        Containerd__Services__Images__V1__UpdateImageRequest req = CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
        Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        char *paths[] = { (char *)"target" };
        mask.paths = paths;
        mask.n_paths = 1;
        req.image = &im;
        req.update_mask = &mask;
        r = grpc_unary(ctrd_grpc(c), M_IMAGES "Update", &req.base,
                       &containerd__services__images__v1__update_image_response__descriptor, 0, NULL, e);
        if (r < 0)
                return r;
        if (ret_changed)
                *ret_changed = true;
        return 0;
}

int ctrd_image_delete(struct ctrd *c, const char *name, bool sync, berr *e)
{
        Containerd__Services__Images__V1__DeleteImageRequest req = CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
        berr tmp = {0};
        req.name = (char *)name;
        req.sync = sync;
        int r = grpc_unary(ctrd_grpc(c), M_IMAGES "Delete", &req.base, &google__protobuf__empty__descriptor, 60000,
                           NULL, &tmp);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && e)
                *e = tmp;
        return r;
}
