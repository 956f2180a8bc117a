/* SPDX-License-Identifier: Apache-2.0 */
/* preload.c — see preload.h: the containerd side of the preload (blob writes,
 * unpacking, image records, the image state for berth status). The import adapter
 * around it (backend object, early blob shipping) is preload_backend.c.
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
#include "containerd/layer.h"
#include "containerd/layer_stream.h"
#include "containerd/leases.h"
#include "containerd/plan.h"
#include "containerd/snapshots.h"
#include "containerd/preload_int.h"

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
static const char *layer_chain(const struct ctrd_plan *p, const char *digest)
{
        for (size_t i = 0; i < p->n_unpacks; i++)
                for (size_t j = 0; j < p->unpacks[i].n_layers; j++)
                        if (!strcmp(p->unpacks[i].layers[j].digest, digest))
                                return p->unpacks[i].layers[j].chain_id;
        return NULL;
}


int preload_sync_blob(struct containerd_preload_stats *stats, struct ctrd *c, struct content_store *cs,
                      struct early *ea, const struct ctrd_plan *p, const struct ctrd_plan_blob *pb, berr *e)
{
        uint64_t size = 0;
        _cleanup_free_ struct ctrd_label *labels = ctrd_plan_blob_labels(pb);
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
                if (preload_early_lookup(ea, pb->digest, &off)) {
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
                                "once containerd held it unpacked, and containerd lost it since); an agent "
                                "fetches it again, `berth import` needs the bundle file again",
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


/* Blob writers and the unpacker share this; lock protects everything below it. */
struct pipeline {
        struct containerd_backend *b;
        struct content_store *cs;
        const struct ctrd_plan *p;
        const char *lease;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t next;            /* next blob index to write */
        bool *done;             /* per blob: written (or present) */
        bool *direct;           /* per blob: a layer berth unpacks itself (not written) */
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
        struct containerd_backend *b = pl->b;
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
                if (pl->direct[i]) {
                        pthread_mutex_unlock(&pl->lock);
                        continue;
                }
                pthread_mutex_unlock(&pl->lock);

                struct containerd_preload_stats st = { 0 };
                berr be = {0};
                preload_early_wait(&b->early, pl->p->blobs[i].digest);
                r = preload_sync_blob(&st, c, pl->cs, &b->early, pl->p, &pl->p->blobs[i], &be);
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

/* Unpacks layer l onto parent: from src_fd at offset by berth's own applier when
 * src_fd >= 0, else by containerd's Diff.Apply from its content store. */
static int unpack_layer(struct ctrd *c, const struct ctrd_plan_layer *l, const char *parent, int src_fd,
                        uint64_t offset, struct layer_apply_stats *st, berr *e)
{
        static unsigned counter;
        char key[256];
        struct ctrd_mounts mounts = { 0 };
        struct ctrd_label labels[] = { { "containerd.io/snapshot.ref", l->chain_id } };
        char diff_id[80];
        int r;

        /* containerd's unpack key format: "extract-<unique> <chain ID>". */
        snprintf(key, sizeof key, "extract-berth-%d-%u %s", (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
                 l->chain_id);
        r = ctrd_snapshot_prepare(c, key, parent, labels, ELEMENTSOF(labels), &mounts, e);
        if (r < 0)
                return berr_prefix(e, r, "preparing a snapshot for layer %s", l->digest);

        if (src_fd >= 0) {
                struct layer_target t;
                r = layer_target_open(&mounts, &t, e);
                if (r >= 0)
                        r = layer_apply(&t, src_fd, offset, l->size, l->digest, l->media_type, diff_id, st, e);
                layer_target_close(&t);
        }
        else
                r = ctrd_diff_apply(c, l->digest, l->media_type, l->size, &mounts, diff_id, e);
        ctrd_mounts_done(&mounts);
        if (r == -EOPNOTSUPP)
                goto fail; /* the caller lets containerd do this one */
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

static size_t blob_index(const struct ctrd_plan *p, const char *digest)
{
        size_t i;
        for (i = 0; i < p->n_blobs; i++)
                if (!strcmp(p->blobs[i].digest, digest))
                        break;
        return i;
}

/* Where berth can read layer blob i from: its store, or the bundle being imported. */
static int layer_source(struct pipeline *pl, size_t i, int *ret_fd, uint64_t *ret_offset)
{
        const struct ctrd_plan_blob *pb = &pl->p->blobs[i];
        *ret_offset = 0;
        if (pb->in_store)
                return content_open(pl->cs, pb->digest, ret_fd);
        uint64_t off;
        if (!preload_early_lookup(&pl->b->early, pb->digest, &off))
                return -ENOENT;
        int fd = fcntl(pl->b->early.fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        *ret_offset = off;
        return 0;
}

/* A layer berth unpacks itself; containerd's applier when berth's cannot. */
static int unpack_direct(struct pipeline *pl, struct ctrd *c, const struct ctrd_plan_layer *l, const char *parent,
                         size_t i, berr *e)
{
        struct containerd_backend *b = pl->b;
        _cleanup_close_ int fd = -1;
        uint64_t off = 0;
        struct layer_apply_stats st = { 0 };
        int r = -EOPNOTSUPP;

        if (layer_media_type_supported(l->media_type) && layer_source(pl, i, &fd, &off) >= 0) {
                r = unpack_layer(c, l, parent, fd, off, &st, e);
                pthread_mutex_lock(&pl->lock);
                b->stats.bytes_unpacked += st.bytes_written;
                if (r >= 0)
                        b->stats.layers_direct++;
                pthread_mutex_unlock(&pl->lock);
                if (r != -EOPNOTSUPP)
                        return r;
                berr_clear(e);
        }
        /* containerd needs the blob in its content store for that. */
        struct containerd_preload_stats ws = { 0 };
        r = preload_sync_blob(&ws, c, pl->cs, &b->early, pl->p, &pl->p->blobs[i], e);
        pthread_mutex_lock(&pl->lock);
        b->stats.blobs_written += ws.blobs_written;
        b->stats.blobs_present += ws.blobs_present;
        b->stats.bytes_written += ws.bytes_written;
        pthread_mutex_unlock(&pl->lock);
        if (r < 0)
                return r;
        bool committed = false;
        /* preload_sync_blob() accepts a committed snapshot in place of the blob. */
        if (ctrd_snapshot_stat(c, l->chain_id, &committed, NULL) == 0 && committed)
                return 0;
        return unpack_layer(c, l, parent, -1, 0, NULL, e);
}

static int unpack_image(struct pipeline *pl, struct ctrd *c, const struct ctrd_plan_unpack *u, berr *e)
{
        struct containerd_backend *b = pl->b;
        int r;

        for (size_t i = 0; i < u->n_layers; i++) {
                const struct ctrd_plan_layer *l = &u->layers[i];
                const char *parent = i > 0 ? u->layers[i - 1].chain_id : "";
                size_t bi = blob_index(pl->p, l->digest);
                bool direct = bi < pl->p->n_blobs && pl->direct[bi];
                bool committed = false;
                if (!direct) {
                        r = pipeline_wait(pl, l->digest, e);
                        if (r < 0)
                                return r;
                }
                r = ctrd_snapshot_stat(c, l->chain_id, &committed, e);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == 0 && committed) {
                        pthread_mutex_lock(&pl->lock);
                        b->stats.layers_present++;
                        pthread_mutex_unlock(&pl->lock);
                }
                else {
                        r = direct ? unpack_direct(pl, c, l, parent, bi, e) : unpack_layer(c, l, parent, -1, 0, NULL, e);
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
int preload_plan(struct containerd_backend *b, const struct bundle_manifest *m, struct content_store *cs,
                 const struct ctrd_plan *p, berr *e)
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
        _cleanup_free_ bool *direct = calloc(p->n_blobs + 1, sizeof *direct);
        if (!done || !direct)
                return berr_set(e, -ENOMEM, "out of memory");
        pl.done = done;
        pl.direct = direct;
        /* Unless containerd is to unpack, the layers this host unpacks go into their
         * snapshots straight from berth's copy: containerd never stores them compressed. */
        if (!b->containerd_unpacks)
                for (size_t u = 0; u < p->n_unpacks; u++)
                        for (size_t l = 0; l < p->unpacks[u].n_layers; l++) {
                                size_t i = blob_index(p, p->unpacks[u].layers[l].digest);
                                if (i < p->n_blobs)
                                        direct[i] = done[i] = true;
                        }
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
        preload_early_finish(b);
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
        /* And the leases of layers an agent unpacked as it downloaded them. */
        for (size_t u = 0; b->base.stream_layer && u < p->n_unpacks; u++)
                for (size_t i = 0; i < p->unpacks[u].n_layers; i++) {
                        char sl[64];
                        layer_stream_lease(p->unpacks[u].layers[i].chain_id, sl);
                        r = ctrd_lease_delete(c, sl, e);
                        if (r < 0 && r != -ENOENT)
                                return berr_prefix(e, r, "deleting containerd lease %s", sl);
                        berr_clear(e);
                }

        if (b->prune_layers)
                for (size_t i = 0; i < p->n_blobs; i++) {
                        const struct ctrd_plan_blob *pb = &p->blobs[i];
                        if (pb->in_store && preload_is_layer(pb->media_type) && content_remove(cs, pb->digest) >= 0)
                                b->stats.blobs_pruned++;
                }
        return 0;
}


int containerd_image_state(const struct containerd_backend_opts *o, struct content_store *cs, const char *ref,
                           const char *digest, const char *media_type, uint64_t size,
                           struct containerd_image_state *ret, berr *e)
{
        _cleanup_(ctrd_freep) struct ctrd *c = NULL;
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = NULL;
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
        r = ctrd_plan_build_image(digest, media_type, size, cs, &p, e);
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
                const struct ctrd_plan_unpack *u = &p->unpacks[i];
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
