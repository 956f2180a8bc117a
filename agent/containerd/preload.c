/* SPDX-License-Identifier: Apache-2.0 */
/* preload.c — see preload.h.
 *
 * Ordering (why): blobs children-first, each committed with its GC labels, so any
 * blob containerd has is already wired to what it references; the lease covers the
 * gap until the image record exists. Snapshots are committed under their chain ID
 * only after Diff.Apply returned the expected diff ID. Image records come last. The
 * lease is deleted only after success; after a failure it keeps the partial work
 * (and expires by itself after a day), and a rerun continues under the same id.
 */
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

#define LEASE_EXPIRE_S (24u * 3600u)
/* Blob writes run in this many threads (one gRPC connection each) while the main
 * thread unpacks the layers already written, so containerd hashes/writes and
 * extracts at the same time instead of one after the other (ctr's order). This only
 * shortens the wall time when containerd has a spare core; the work is the same. */
#define PRELOAD_WRITERS 2

static bool is_layer(const char *mt)
{
        return mt && (strstr(mt, ".layer.") || strstr(mt, ".image.rootfs."));
}

#define EARLY_QUEUE_MAX 4096

struct early_item {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
        uint64_t offset;        /* in the bundle file */
        enum { EARLY_QUEUED, EARLY_BUSY, EARLY_DONE } state;
};

/* Layer blobs shipped while the import is still reading the bundle (blob_verified). */
struct early {
        bool active;
        char manifest[DIGEST_STR_LEN + 1];
        char lease[96];
        int fd;                 /* our dup of the bundle fd */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct early_item *queue;
        size_t n_queued;
        const struct plan *order;       /* set by preload(): take layers in unpack order */
        bool closing;
        pthread_t threads[2];
        size_t n_threads;
        unsigned written;       /* protected by lock */
        uint64_t bytes;
};

struct ctrd_backend {
        struct import_backend base;
        char *address, *ns, *snapshotter;
        bool prune_layers;
        struct containerd_preload_stats stats;
        struct early early;
};

static int connect_ctrd(const char *address, const char *ns, const char *snapshotter, struct ctrd **ret, berr *e)
{
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;
        _cleanup_free_ char *version = NULL;

        int r = ctrd_new(address, ns, snapshotter, &c, e);
        if (r < 0)
                return r;
        r = ctrd_version(c, &version, e);
        if (r < 0)
                return berr_prefix(e, r, "containerd at %s is not reachable", ctrd_address(c));
        *ret = TAKE_PTR(c);
        return 0;
}

/* The chain ID of the snapshot that a layer blob was unpacked into, if it is one. */
static const char *layer_chain(const struct plan *p, const char *digest)
{
        for (size_t i = 0; i < p->n_unpacks; i++)
                for (size_t j = 0; j < p->unpacks[i].n_layers; j++)
                        if (!strcmp(p->unpacks[i].layers[j].digest, digest))
                                return p->unpacks[i].layers[j].chain_id;
        return NULL;
}

/* Where the bundle being imported holds digest (for blobs berth did not store). */
static bool early_lookup(struct early *ea, const char *digest, uint64_t *ret_offset)
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

static int sync_blob(struct containerd_preload_stats *stats, struct ctrd *c, struct content_store *cs,
                     struct early *ea, const struct plan *p, const struct plan_blob *pb, berr *e)
{
        uint64_t size = 0;
        _cleanup_free_ struct ctrd_label *labels = plan_blob_labels(pb);
        int r;

        if (!labels)
                return berr_set(e, -ENOMEM, "out of memory");
        r = ctrd_content_info(c, pb->digest, &size, e);
        if (r == 0 && size == pb->size) {
                stats->blobs_present++;
                bool ok = true;
                if (pb->n_labels > 0) {
                        r = ctrd_content_has_labels(c, pb->digest, labels, pb->n_labels, &ok, e);
                        if (r < 0)
                                return r;
                }
                return ok ? 0 : ctrd_content_set_labels(c, pb->digest, labels, pb->n_labels, e);
        }
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0)
                return berr_set(e, -EBADMSG, "containerd holds blob %s with %llu bytes instead of %llu", pb->digest,
                                (unsigned long long)size, (unsigned long long)pb->size);

        if (!pb->in_store) {
                /* A layer whose snapshot exists needs no blob: containerd itself drops
                 * unpacked layers on 'ctr content prune references'. */
                const char *chain = layer_chain(p, pb->digest);
                bool committed = false;
                if (chain && ctrd_snapshot_stat(c, chain, &committed, NULL) == 0 && committed) {
                        stats->blobs_present++;
                        return 0;
                }
                /* Not stored because it was to be shipped from the bundle (takes_blob),
                 * and the early writer did not manage: try once more from the bundle. */
                uint64_t off = 0;
                if (early_lookup(ea, pb->digest, &off)) {
                        char ref[128];
                        snprintf(ref, sizeof ref, "berth-%s", pb->digest);
                        uint64_t sent = 0;
                        r = ctrd_content_write_fd(c, ref, pb->digest, pb->size, ea->fd, off, labels, pb->n_labels,
                                                  &sent, e);
                        stats->bytes_written += sent;
                        if (r < 0)
                                return r;
                        stats->blobs_written++;
                        return 0;
                }
                return berr_set(e, -ENOENT,
                                "blob %s is in neither containerd nor berth's store (berth dropped its copy "
                                "after an earlier preload); import the bundle file again to restore it",
                                pb->digest);
        }
        _cleanup_close_ int fd = -1;
        r = content_open(cs, pb->digest, &fd);
        if (r < 0)
                return berr_set(e, r, "opening blob %s in berth's store failed", pb->digest);
        char ref[128];
        snprintf(ref, sizeof ref, "berth-%s", pb->digest);
        uint64_t sent = 0;
        r = ctrd_content_write_fd(c, ref, pb->digest, pb->size, fd, 0, labels, pb->n_labels, &sent, e);
        stats->bytes_written += sent;
        if (r < 0)
                return r;
        stats->blobs_written++;
        return 0;
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
        struct ctrd_backend *b = ud;
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
static void early_wait(struct early *ea, const char *digest)
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
static void early_finish(struct ctrd_backend *b)
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

static int early_start(struct ctrd_backend *b, const struct bundle_manifest *m, int fd)
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
                early_finish(b);
                return -EAGAIN;
        }
        return 0;
}

/* import_backend.blob_verified: ship verified layer blobs while the import goes on. */
static void blob_verified(struct import_backend *ib, const struct bundle_manifest *m, const struct bundle_blob *blob,
                          int bundle_fd)
{
        struct ctrd_backend *b = (struct ctrd_backend *)ib;
        struct early *ea = &b->early;

        if (!is_layer(blob->media_type) || blob->data_offset == 0)
                return;
        if (ea->active && strcmp(ea->manifest, m->digest) != 0)
                early_finish(b);
        if (!ea->active && early_start(b, m, bundle_fd) < 0)
                return;
        pthread_mutex_lock(&ea->lock);
        if (ea->n_queued < EARLY_QUEUE_MAX) {
                struct early_item *it = &ea->queue[ea->n_queued++];
                snprintf(it->digest, sizeof it->digest, "%s", blob->digest);
                it->size = blob->size;
                it->offset = blob->data_offset;
                pthread_cond_broadcast(&ea->cond);
        }
        pthread_mutex_unlock(&ea->lock);
}

/* import_backend.takes_blob: with pruning on, berth keeps no copy of layers that go
 * to containerd: the import only checks them and they are shipped from the bundle. */
static bool takes_blob(struct import_backend *ib, const struct bundle_manifest *m, const struct bundle_blob *blob,
                       int bundle_fd)
{
        struct ctrd_backend *b = (struct ctrd_backend *)ib;
        struct early *ea = &b->early;

        if (!b->prune_layers || !is_layer(blob->media_type) || blob->data_offset == 0)
                return false;
        if (ea->active && strcmp(ea->manifest, m->digest) != 0)
                early_finish(b);
        /* Only when containerd answers and the lease exists; otherwise berth stores it. */
        return ea->active || early_start(b, m, bundle_fd) >= 0;
}

/* Blob writers and the unpacker share this; lock protects everything below it. */
struct pipeline {
        struct ctrd_backend *b;
        struct content_store *cs;
        const struct plan *p;
        const char *lease;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t next;            /* next blob index to write */
        bool *done;             /* per blob: written (or present) */
        bool stop;
        int error;              /* first failure */
        berr err;
};

static void pipeline_fail(struct pipeline *pl, int r, const berr *e)
{
        pthread_mutex_lock(&pl->lock);
        if (!pl->error) {
                pl->error = r;
                pl->err = *e;
        }
        pthread_cond_broadcast(&pl->cond);
        pthread_mutex_unlock(&pl->lock);
}

static void *writer_main(void *ud)
{
        struct pipeline *pl = ud;
        struct ctrd_backend *b = pl->b;
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;
        berr e = {0};

        int r = ctrd_new(b->address, b->ns, b->snapshotter, &c, &e);
        if (r >= 0 && ctrd_use_lease(c, pl->lease) < 0)
                r = berr_set(&e, -ENOMEM, "cannot use lease %s", pl->lease);
        if (r < 0) {
                pipeline_fail(pl, r, &e);
                return NULL;
        }
        for (;;) {
                pthread_mutex_lock(&pl->lock);
                if (pl->stop || pl->error || pl->next >= pl->p->n_blobs) {
                        pthread_mutex_unlock(&pl->lock);
                        return NULL;
                }
                size_t i = pl->next++;
                pthread_mutex_unlock(&pl->lock);

                struct containerd_preload_stats st = { 0 };
                berr be = {0};
                early_wait(&b->early, pl->p->blobs[i].digest);
                r = sync_blob(&st, c, pl->cs, &b->early, pl->p, &pl->p->blobs[i], &be);
                pthread_mutex_lock(&pl->lock);
                b->stats.blobs_written += st.blobs_written;
                b->stats.blobs_present += st.blobs_present;
                b->stats.bytes_written += st.bytes_written;
                if (r < 0 && !pl->error) {
                        pl->error = r;
                        pl->err = be;
                }
                pl->done[i] = r >= 0;
                pthread_cond_broadcast(&pl->cond);
                pthread_mutex_unlock(&pl->lock);
                if (r < 0)
                        return NULL;
        }
}

/* Waits until the writers have put digest into containerd; negative if they failed. */
static int pipeline_wait(struct pipeline *pl, const char *digest, berr *e)
{
        size_t i;
        for (i = 0; i < pl->p->n_blobs; i++)
                if (!strcmp(pl->p->blobs[i].digest, digest))
                        break;
        if (i == pl->p->n_blobs)
                return berr_set(e, -ENOENT, "layer %s is not among the image's blobs", digest);
        pthread_mutex_lock(&pl->lock);
        while (!pl->done[i] && !pl->error)
                pthread_cond_wait(&pl->cond, &pl->lock);
        int r = pl->done[i] ? 0 : pl->error;
        pthread_mutex_unlock(&pl->lock);
        return r < 0 ? berr_set(e, r, "writing blob %s failed", digest) : 0;
}

static int ensure_labels(struct ctrd *c, const char *digest, const struct ctrd_label *l, size_t n, berr *e)
{
        bool ok = false;
        berr tmp = {0};
        int r = ctrd_content_has_labels(c, digest, l, n, &ok, &tmp);
        if (r == -ENOENT)
                return 0; /* a pruned, unpacked layer (see sync_blob) */
        if (r < 0 && e)
                *e = tmp;
        if (r < 0)
                return r;
        return ok ? 0 : ctrd_content_set_labels(c, digest, l, n, e);
}

static int unpack_layer(struct ctrd *c, const struct plan_layer *l, const char *parent, berr *e)
{
        static unsigned counter;
        char key[256];
        struct ctrd_mounts mounts = { 0 };
        struct ctrd_label labels[] = { { "containerd.io/snapshot.ref", l->chain_id } };
        char diff_id[80];
        int r;

        /* containerd's unpack key format: "extract-<unique> <chain ID>". */
        snprintf(key, sizeof key, "extract-berth-%d-%u %s", (int)getpid(), counter++, l->chain_id);
        r = ctrd_snapshot_prepare(c, key, parent, labels, ELEMENTSOF(labels), &mounts, e);
        if (r < 0)
                return berr_prefix(e, r, "preparing a snapshot for layer %s", l->digest);

        r = ctrd_diff_apply(c, l->digest, l->media_type, l->size, &mounts, diff_id, e);
        ctrd_mounts_done(&mounts);
        if (r < 0) {
                berr_prefix(e, r, "unpacking layer %s", l->digest);
                goto fail;
        }
        if (strcmp(diff_id, l->diff_id) != 0) {
                r = berr_set(e, -EBADMSG, "layer %s unpacked to diff ID %s, but the image config says %s", l->digest,
                             diff_id, l->diff_id);
                goto fail;
        }
        r = ctrd_snapshot_commit(c, l->chain_id, key, labels, ELEMENTSOF(labels), e);
        if (r == -EEXIST) {
                /* Someone unpacked the same chain meanwhile: theirs is as good. */
                berr_clear(e);
                r = 0;
                goto fail;
        }
        if (r < 0) {
                berr_prefix(e, r, "committing the snapshot of layer %s", l->digest);
                goto fail;
        }
        return 0;

fail:
        ctrd_snapshot_remove(c, key, NULL);
        return r;
}

static int unpack_image(struct pipeline *pl, struct ctrd *c, const struct plan_unpack *u, berr *e)
{
        struct ctrd_backend *b = pl->b;
        int r;

        for (size_t i = 0; i < u->n_layers; i++) {
                const struct plan_layer *l = &u->layers[i];
                bool committed = false;
                r = pipeline_wait(pl, l->digest, e);
                if (r < 0)
                        return r;
                r = ctrd_snapshot_stat(c, l->chain_id, &committed, e);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == 0 && committed) {
                        pthread_mutex_lock(&pl->lock);
                        b->stats.layers_present++;
                        pthread_mutex_unlock(&pl->lock);
                }
                else {
                        r = unpack_layer(c, l, i > 0 ? u->layers[i - 1].chain_id : "", e);
                        if (r < 0)
                                return r;
                        pthread_mutex_lock(&pl->lock);
                        b->stats.layers_unpacked++;
                        pthread_mutex_unlock(&pl->lock);
                }
                /* As containerd's unpacker: the layer blob knows its uncompressed digest. */
                struct ctrd_label ul[] = { { "containerd.io/uncompressed", l->diff_id } };
                r = ensure_labels(c, l->digest, ul, 1, e);
                if (r < 0)
                        return r;
        }
        if (u->n_layers == 0)
                return 0;
        char key[128];
        snprintf(key, sizeof key, "containerd.io/gc.ref.snapshot.%s", ctrd_snapshotter(c));
        struct ctrd_label sl[] = { { key, u->layers[u->n_layers - 1].chain_id } };
        r = pipeline_wait(pl, u->config, e);
        if (r < 0)
                return r;
        return ensure_labels(c, u->config, sl, 1, e);
}



/* preload() once the plan exists. */
static int preload_plan(struct ctrd_backend *b, const struct bundle_manifest *m, struct content_store *cs,
                        const struct plan *p, berr *e)
{
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;
        char lease[96];
        int r;

        r = connect_ctrd(b->address, b->ns, b->snapshotter, &c, e);
        if (r < 0)
                return r;

        snprintf(lease, sizeof lease, "berth-preload-%.16s", digest_hex(m->digest));
        r = ctrd_lease_create(c, lease, LEASE_EXPIRE_S, e);
        if (r < 0)
                return berr_prefix(e, r, "creating containerd lease %s", lease);
        r = ctrd_use_lease(c, lease);
        if (r < 0)
                return berr_set(e, r, "cannot use lease %s", lease);

        /* Writers stream blobs in plan order (children first, layers in order);
         * this thread unpacks each layer as soon as its blob is in. */
        struct pipeline pl = { .b = b, .cs = cs, .p = p, .lease = lease };
        _cleanup_free_ bool *done = calloc(p->n_blobs + 1, sizeof *done);
        if (!done)
                return berr_set(e, -ENOMEM, "out of memory");
        pl.done = done;
        pthread_mutex_init(&pl.lock, NULL);
        pthread_cond_init(&pl.cond, NULL);
        pthread_t threads[PRELOAD_WRITERS];
        size_t n_threads = 0;
        for (; n_threads < PRELOAD_WRITERS && n_threads < p->n_blobs; n_threads++)
                if (pthread_create(&threads[n_threads], NULL, writer_main, &pl) != 0)
                        break;
        if (n_threads == 0 && p->n_blobs > 0)
                r = berr_set(e, -EAGAIN, "cannot start a thread to write blobs");
        else
                r = 0;
        for (size_t i = 0; r >= 0 && i < p->n_unpacks; i++) {
                r = unpack_image(&pl, c, &p->unpacks[i], e);
                if (r < 0)
                        berr_prefix(e, r, "unpacking image manifest %s into snapshotter %s", p->unpacks[i].manifest,
                                    ctrd_snapshotter(c));
        }
        pthread_mutex_lock(&pl.lock);
        if (r < 0)
                pl.stop = true;
        pthread_mutex_unlock(&pl.lock);
        for (size_t i = 0; i < n_threads; i++)
                pthread_join(threads[i], NULL);
        pthread_cond_destroy(&pl.cond);
        pthread_mutex_destroy(&pl.lock);
        /* The early writers are idle now (every blob was waited for) or, after a
         * failure, finish what they hold. */
        early_finish(b);
        unsigned early_blobs = b->early.written;
        uint64_t early_bytes = b->early.bytes;
        b->early.written = 0;
        b->early.bytes = 0;
        if (pl.error < 0) {
                /* The writer's own error explains it best. */
                berr_clear(e);
                if (e)
                        *e = pl.err;
                return pl.error;
        }
        /* Blobs shipped early were found present above; count them as written. */
        b->stats.blobs_early = early_blobs;
        b->stats.blobs_written += early_blobs;
        b->stats.blobs_present -= early_blobs < b->stats.blobs_present ? early_blobs : b->stats.blobs_present;
        b->stats.bytes_written += early_bytes;
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_blobs; i++)
                if (!done[i])
                        return berr_set(e, -EIO, "blob %s was not written", p->blobs[i].digest);

        for (size_t i = 0; i < m->n_images; i++) {
                const struct bundle_image *im = &m->images[i];
                struct ctrd_image_target t = { .size = im->size };
                snprintf(t.media_type, sizeof t.media_type, "%s", im->media_type);
                snprintf(t.digest, sizeof t.digest, "%s", im->digest);
                bool changed = false;
                r = ctrd_image_put(c, im->ref, &t, &changed, e);
                if (r < 0)
                        return berr_prefix(e, r, "recording image %s in containerd", im->ref);
                b->stats.images_changed += changed;
        }

        /* Everything is referenced from image records now; the lease can go. */
        ctrd_use_lease(c, NULL);
        r = ctrd_lease_delete(c, lease, e);
        if (r < 0)
                return berr_prefix(e, r, "deleting containerd lease %s", lease);

        if (b->prune_layers)
                for (size_t i = 0; i < p->n_blobs; i++) {
                        const struct plan_blob *pb = &p->blobs[i];
                        if (pb->in_store && is_layer(pb->media_type) && content_remove(cs, pb->digest) >= 0)
                                b->stats.blobs_pruned++;
                }
        return 0;
}

static int preload(struct import_backend *ib, const struct bundle_manifest *m, struct content_store *cs, berr *e)
{
        struct ctrd_backend *b = (struct ctrd_backend *)ib;
        _cleanup_(plan_freep) struct plan *p = NULL;
        int r;

        /* Blobs shipped while the import read them may still be in flight: the writers
         * below wait for those and do whatever the early writers did not finish. */
        if (b->early.active && strcmp(b->early.manifest, m->digest) != 0)
                early_finish(b);
        if (!b->early.active)
                b->early.written = 0;
        if (!b->early.active)
                b->early.bytes = 0;
        b->stats = (struct containerd_preload_stats) { 0 };
        r = plan_build(m, cs, &p, e);
        if (r < 0) {
                early_finish(b);
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
        early_finish(b);
        return r;
}

static void backend_free(struct import_backend *ib)
{
        struct ctrd_backend *b = (struct ctrd_backend *)ib;
        if (!b)
                return;
        early_finish(b);
        free(b->address);
        free(b->ns);
        free(b->snapshotter);
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
        bool keep = false;
        if (config_get_bool(cfg, "containerd.keep_layers", false, &keep, NULL) >= 0 && keep)
                o->prune_layers = false;
}

int containerd_backend_new(const struct containerd_backend_opts *o, struct import_backend **ret, berr *e)
{
        _cleanup_(ctrd_freep) struct ctrd *probe = NULL;

        /* Validate the options now (no connection yet): errors belong to the command line. */
        int r = ctrd_new(o->address, o->ns, o->snapshotter, &probe, e);
        if (r < 0)
                return r;
        struct ctrd_backend *b = calloc(1, sizeof *b);
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
        if (!b->address || !b->ns || !b->snapshotter) {
                backend_free(&b->base);
                return berr_set(e, -ENOMEM, "out of memory");
        }
        *ret = &b->base;
        return 0;
}

const struct containerd_preload_stats *containerd_backend_stats(const struct import_backend *ib)
{
        return &((const struct ctrd_backend *)ib)->stats;
}

int containerd_image_state(const struct containerd_backend_opts *o, struct content_store *cs, const char *ref,
                           const char *digest, const char *media_type, uint64_t size,
                           struct containerd_image_state *ret, berr *e)
{
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;
        _cleanup_(plan_freep) struct plan *p = NULL;
        struct ctrd_image_target t;
        int r;

        *ret = (struct containerd_image_state) { 0 };
        r = connect_ctrd(o->address, o->ns, o->snapshotter, &c, e);
        if (r < 0)
                return r;
        ret->reachable = true;

        r = ctrd_image_get(c, ref, &t, e);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (strcmp(t.digest, digest) != 0)
                return 0;
        r = plan_build_image(digest, media_type, size, cs, &p, e);
        if (r < 0)
                return r;
        ret->present = true;
        for (size_t i = 0; i < p->n_blobs; i++) {
                r = ctrd_content_info(c, p->blobs[i].digest, NULL, e);
                if (r == -ENOENT) {
                        /* Unpacked layers may be dropped (ctr content prune references). */
                        const char *chain = layer_chain(p, p->blobs[i].digest);
                        bool committed = false;
                        if (chain && ctrd_snapshot_stat(c, chain, &committed, NULL) == 0 && committed)
                                continue;
                        ret->present = false;
                        break;
                }
                if (r < 0)
                        return r;
        }
        ret->unpacked = p->n_unpacks > 0;
        for (size_t i = 0; i < p->n_unpacks; i++) {
                const struct plan_unpack *u = &p->unpacks[i];
                if (u->n_layers == 0)
                        continue;
                bool committed = false;
                r = ctrd_snapshot_stat(c, u->layers[u->n_layers - 1].chain_id, &committed, e);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == -ENOENT || !committed)
                        ret->unpacked = false;
        }
        return 0;
}
