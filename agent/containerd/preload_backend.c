/* SPDX-License-Identifier: Apache-2.0 */
/* preload_backend.c — the containerd preload as an import backend (import/import.h):
 * the backend object and its options, and the early writers that ship verified layer
 * blobs while the import still reads the bundle. Talks to containerd only through
 * preload.c's calls and the gRPC client; never decides the preload order itself. */
#include "containerd/preload.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "containerd/client.h"
#include "containerd/content.h"
#include "containerd/diff.h"
#include "containerd/images.h"
#include "containerd/leases.h"
#include "containerd/plan.h"
#include "containerd/snapshots.h"
#include "containerd/layer_stream.h"
#include "containerd/preload_int.h"

#define EARLY_QUEUE_MAX 4096

/* Where the bundle being imported holds digest (for blobs berth did not store). */
bool preload_early_lookup(struct early *ea, const char *digest, uint64_t *ret_offset)
{
        bool found = false;
        if (!ea->active)
                return false;
        pthread_mutex_lock(&ea->lock);
        for (size_t i = 0; i < ea->n_queued && !found; i++)
                if (!strcmp(ea->queue[i].digest, digest)) {
                        *ret_offset = ea->queue[i].offset;
                        found = true;
                }
        pthread_mutex_unlock(&ea->lock);
        return found;
}


/* The queued item to write next: in unpack order once preload() told us the plan
 * (so the unpacker never waits behind a big blob it does not need yet), else FIFO. */
static struct early_item *early_pick(struct early *ea)
{
        if (ea->order)
                for (size_t u = 0; u < ea->order->n_unpacks; u++)
                        for (size_t l = 0; l < ea->order->unpacks[u].n_layers; l++)
                                for (size_t i = 0; i < ea->n_queued; i++)
                                        if (ea->queue[i].state == EARLY_QUEUED &&
                                            !strcmp(ea->queue[i].digest, ea->order->unpacks[u].layers[l].digest))
                                                return &ea->queue[i];
        for (size_t i = 0; i < ea->n_queued; i++)
                if (ea->queue[i].state == EARLY_QUEUED)
                        return &ea->queue[i];
        return NULL;
}

static void *early_main(void *ud)
{
        struct containerd_backend *b = ud;
        struct early *ea = &b->early;
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;
        bool usable = ctrd_new(b->address, b->ns, b->snapshotter, &c, NULL) >= 0 && ctrd_use_lease(c, ea->lease) >= 0;

        for (;;) {
                pthread_mutex_lock(&ea->lock);
                struct early_item *it;
                while (!(it = early_pick(ea)) && !ea->closing)
                        pthread_cond_wait(&ea->cond, &ea->lock);
                if (!it) {
                        pthread_mutex_unlock(&ea->lock);
                        return NULL;
                }
                it->state = EARLY_BUSY;
                struct early_item copy = *it;
                pthread_mutex_unlock(&ea->lock);

                /* Failures here are not errors: preload() writes whatever is missing. */
                uint64_t have = 0, sent = 0;
                int r = -EIO;
                if (usable && ctrd_content_info(c, copy.digest, &have, NULL) < 0) {
                        char ref[128];
                        snprintf(ref, sizeof ref, "berth-%s", copy.digest);
                        /* containerd checks digest and size again before it commits. */
                        r = ctrd_content_write_fd(c, ref, copy.digest, copy.size, ea->fd, copy.offset, NULL, 0, &sent,
                                                  NULL);
                }
                pthread_mutex_lock(&ea->lock);
                ea->bytes += sent;
                if (r >= 0)
                        ea->written++;
                it->state = EARLY_DONE;
                pthread_cond_broadcast(&ea->cond);
                pthread_mutex_unlock(&ea->lock);
        }
}

/* Blocks while an early writer has digest queued or in flight. */
void preload_early_wait(struct early *ea, const char *digest)
{
        if (!ea->active)
                return;
        pthread_mutex_lock(&ea->lock);
        for (size_t i = 0; i < ea->n_queued; i++)
                if (!strcmp(ea->queue[i].digest, digest))
                        while (ea->queue[i].state != EARLY_DONE)
                                pthread_cond_wait(&ea->cond, &ea->lock);
        pthread_mutex_unlock(&ea->lock);
}

/* Waits for the early writers to finish their queue; keeps their counts. */
void preload_early_finish(struct containerd_backend *b)
{
        struct early *ea = &b->early;
        if (!ea->active)
                return;
        pthread_mutex_lock(&ea->lock);
        ea->closing = true;
        pthread_cond_broadcast(&ea->cond);
        pthread_mutex_unlock(&ea->lock);
        for (size_t i = 0; i < ea->n_threads; i++)
                pthread_join(ea->threads[i], NULL);
        pthread_cond_destroy(&ea->cond);
        pthread_mutex_destroy(&ea->lock);
        if (ea->fd >= 0)
                close(ea->fd);
        free(ea->queue);
        unsigned written = ea->written;
        uint64_t bytes = ea->bytes;
        *ea = (struct early) { .fd = -1, .written = written, .bytes = bytes };
}

static int early_start(struct containerd_backend *b, const struct bundle_manifest *m, int fd)
{
        struct early *ea = &b->early;
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;

        *ea = (struct early) { .fd = -1 };
        snprintf(ea->manifest, sizeof ea->manifest, "%s", m->digest);
        snprintf(ea->lease, sizeof ea->lease, "berth-preload-%.16s", digest_hex(m->digest));
        /* The same lease preload() uses, so nothing written early is collected. */
        if (ctrd_new(b->address, b->ns, b->snapshotter, &c, NULL) < 0 ||
            ctrd_lease_create(c, ea->lease, LEASE_EXPIRE_S, NULL) < 0)
                return -EIO;
        ea->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ea->queue = calloc(EARLY_QUEUE_MAX, sizeof *ea->queue);
        if (ea->fd < 0 || !ea->queue) {
                if (ea->fd >= 0)
                        close(ea->fd);
                free(ea->queue);
                *ea = (struct early) { .fd = -1 };
                return -ENOMEM;
        }
        pthread_mutex_init(&ea->lock, NULL);
        pthread_cond_init(&ea->cond, NULL);
        ea->active = true;
        for (; ea->n_threads < ELEMENTSOF(ea->threads); ea->n_threads++)
                if (pthread_create(&ea->threads[ea->n_threads], NULL, early_main, b) != 0)
                        break;
        if (ea->n_threads == 0) {
                /* Nobody would ever take an item: no early shipping then. */
                preload_early_finish(b);
                return -EAGAIN;
        }
        return 0;
}

/* import_backend.blob_verified: ship verified layer blobs while the import goes on. */
static void blob_verified(struct import_backend *ib, const struct bundle_manifest *m, const struct bundle_blob *blob,
                          int bundle_fd)
{
        struct containerd_backend *b = (struct containerd_backend *)ib;
        struct early *ea = &b->early;

        if (!preload_is_layer(blob->media_type) || blob->data_offset == 0)
                return;
        if (ea->active && strcmp(ea->manifest, m->digest) != 0)
                preload_early_finish(b);
        if (!ea->active && early_start(b, m, bundle_fd) < 0)
                return;
        pthread_mutex_lock(&ea->lock);
        if (ea->n_queued < EARLY_QUEUE_MAX) {
                struct early_item *it = &ea->queue[ea->n_queued++];
                snprintf(it->digest, sizeof it->digest, "%s", blob->digest);
                it->size = blob->size;
                it->offset = blob->data_offset;
                /* Unless containerd unpacks, layers go from the bundle into their snapshots
                 * (preload.c, unpack_direct): only remember where they are. */
                if (!b->containerd_unpacks)
                        it->state = EARLY_DONE;
                pthread_cond_broadcast(&ea->cond);
        }
        pthread_mutex_unlock(&ea->lock);
}

/* import_backend.takes_blob: with pruning on, berth keeps no copy of layers that go
 * to containerd: the import only checks them and they are shipped from the bundle. */
static bool takes_blob(struct import_backend *ib, const struct bundle_manifest *m, const struct bundle_blob *blob,
                       int bundle_fd)
{
        struct containerd_backend *b = (struct containerd_backend *)ib;
        struct early *ea = &b->early;

        if (!b->prune_layers || !preload_is_layer(blob->media_type) || blob->data_offset == 0)
                return false;
        if (ea->active && strcmp(ea->manifest, m->digest) != 0)
                preload_early_finish(b);
        /* Only when containerd answers and the lease exists; otherwise berth stores it. */
        return ea->active || early_start(b, m, bundle_fd) >= 0;
}

/* Every layer of the plan is committed now: its held key (import/held.h), for unpacked(). */
static int remember_held(struct containerd_backend *b, const struct ctrd_plan *p, berr *e)
{
        size_t n = 0;
        for (size_t u = 0; u < p->n_unpacks; u++)
                n += p->unpacks[u].n_layers;
        free(b->held);
        b->held = calloc(n ? n : 1, sizeof *b->held);
        b->n_held = 0;
        if (!b->held)
                return berr_set(e, -ENOMEM, "out of memory");
        for (size_t u = 0; u < p->n_unpacks; u++) {
                const char *prev = "";
                for (size_t i = 0; i < p->unpacks[u].n_layers; i++) {
                        held_key_next(b->scope, prev, p->unpacks[u].layers[i].digest, b->held[b->n_held]);
                        if (!b->held[b->n_held][0])
                                return berr_set(e, -ENOMEM, "out of memory");
                        prev = b->held[b->n_held++];
                }
        }
        return 0;
}

static int unpacked(struct import_backend *ib, int (*fn)(void *ud, const char *key), void *ud)
{
        struct containerd_backend *b = (struct containerd_backend *)ib;
        for (size_t i = 0; i < b->n_held; i++) {
                int r = fn(ud, b->held[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int preload(struct import_backend *ib, const struct bundle_manifest *m, struct content_store *cs, berr *e)
{
        struct containerd_backend *b = (struct containerd_backend *)ib;
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = NULL;
        int r;

        /* Blobs shipped while the import read them may still be in flight: the writers
         * below wait for those and do whatever the early writers did not finish. */
        if (b->early.active && strcmp(b->early.manifest, m->digest) != 0)
                preload_early_finish(b);
        if (!b->early.active)
                b->early.written = 0;
        if (!b->early.active)
                b->early.bytes = 0;
        b->stats = (struct containerd_preload_stats) { 0 };
        r = ctrd_plan_build(m, cs, &p, e);
        if (r < 0) {
                preload_early_finish(b);
                return r;
        }
        if (b->early.active) {
                pthread_mutex_lock(&b->early.lock);
                b->early.order = p;
                pthread_cond_broadcast(&b->early.cond);
                pthread_mutex_unlock(&b->early.lock);
        }
        /* The early writers point into p: they must be done before it is freed. */
        r = preload_plan(b, m, cs, p, e);
        preload_early_finish(b);
        if (r >= 0)
                r = remember_held(b, p, e);
        return r;
}

static void backend_free(struct import_backend *ib)
{
        struct containerd_backend *b = (struct containerd_backend *)ib;
        if (!b)
                return;
        preload_early_finish(b);
        free(b->address);
        free(b->ns);
        free(b->snapshotter);
        free(b->scope);
        free(b->held);
        free(b);
}

void containerd_backend_opts_from_config(struct containerd_backend_opts *o, const struct berth_config *cfg)
{
        if (!cfg)
                return;
        if (!o->address)
                o->address = config_get(cfg, "containerd.address", NULL);
        if (!o->ns)
                o->ns = config_get(cfg, "containerd.namespace", NULL);
        if (!o->snapshotter)
                o->snapshotter = config_get(cfg, "containerd.snapshotter", NULL);
        if (!o->unpack)
                o->unpack = config_get(cfg, "containerd.unpack", NULL);
        bool keep = false;
        if (config_get_bool(cfg, "containerd.keep_layers", false, &keep, NULL) >= 0 && keep)
                o->prune_layers = false;
}

/* import_backend.stream_layer: only set when berth unpacks and keeps no copy. */
static int stream_layer(struct import_backend *ib, const struct layer_stream_spec *spec, struct layer_stream **ret,
                        berr *e)
{
        struct containerd_backend *b = (struct containerd_backend *)ib;
        return layer_stream_new(b->address, b->ns, b->snapshotter, spec, ret, e);
}

int containerd_backend_new(const struct containerd_backend_opts *o, struct import_backend **ret, berr *e)
{
        _cleanup_(ctrd_freep) struct ctrd *probe = NULL;

        /* Validate the options now (no connection yet): errors belong to the command line. */
        int r = ctrd_new(o->address, o->ns, o->snapshotter, &probe, e);
        if (r < 0)
                return r;
        if (o->unpack && strcmp(o->unpack, "berth") && strcmp(o->unpack, "containerd"))
                return berr_set(e, -EINVAL, "containerd.unpack is '%s'; use berth (the default: no compressed copy in "
                                "containerd) or containerd (its own applier, as ctr)", o->unpack);
        struct containerd_backend *b = calloc(1, sizeof *b);
        if (!b)
                return berr_set(e, -ENOMEM, "out of memory");
        b->base.name = "containerd";
        b->base.preload = preload;
        b->base.free = backend_free;
        b->base.blob_verified = blob_verified;
        b->base.takes_blob = takes_blob;
        b->early.fd = -1;
        b->address = strdup(ctrd_address(probe));
        b->ns = strdup(ctrd_namespace(probe));
        b->snapshotter = strdup(ctrd_snapshotter(probe));
        b->prune_layers = o->prune_layers;
        b->containerd_unpacks = o->unpack && !strcmp(o->unpack, "containerd");
        if (b->address && b->ns && b->snapshotter && asprintf(&b->scope, "containerd %s %s", b->ns, b->snapshotter) < 0)
                b->scope = NULL;
        b->base.layer_scope = b->scope;
        b->base.unpacked = unpacked;
        if (b->prune_layers && !b->containerd_unpacks)
                b->base.stream_layer = stream_layer;
        if (!b->address || !b->ns || !b->snapshotter || !b->scope) {
                backend_free(&b->base);
                return berr_set(e, -ENOMEM, "out of memory");
        }
        *ret = &b->base;
        return 0;
}

const struct containerd_preload_stats *containerd_backend_stats(const struct import_backend *ib)
{
        return &((const struct containerd_backend *)ib)->stats;
}
