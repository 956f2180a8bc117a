/* SPDX-License-Identifier: Apache-2.0 */
/* layer_stream.c — see layer_stream.h. The ring between the loop and the applier, and
 * the snapshot's life: prepare, apply, commit or remove. */
#include "containerd/layer_stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "containerd/client.h"
#include "containerd/layer.h"
#include "containerd/leases.h"
#include "containerd/snapshots.h"

struct layer_stream {
        struct layer_stream_spec spec;
        char *address, *ns, *snapshotter;
        /* the worker's (prepare, then apply: one thread at a time) */
        struct ctrd *c;
        struct layer_target target;
        char key[DIGEST_STR_LEN + 32];
        bool prepared;
        /* the ring, shared */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint8_t *ring;
        size_t head, used;      /* next byte to read; bytes in the ring */
        uint64_t pushed;        /* loop side: bytes taken */
        bool aborted, stopped;  /* abort asked; the applier no longer reads */
};

void layer_stream_lease(const char *chain_id, char out[64])
{
        snprintf(out, 64, "berth-stream-%.16s", digest_hex(chain_id));
}

int layer_stream_new(const char *address, const char *ns, const char *snapshotter,
                     const struct layer_stream_spec *spec, struct layer_stream **ret, berr *e)
{
        if (!digest_valid(spec->digest) || !digest_valid(spec->diff_id) || !digest_valid(spec->chain_id) ||
            (spec->parent[0] && !digest_valid(spec->parent)) || spec->size == 0)
                return berr_set(e, -EINVAL, "invalid layer stream for %s", spec->digest);
        struct layer_stream *s = calloc(1, sizeof *s);
        if (!s)
                return berr_set(e, -ENOMEM, "out of memory");
        s->spec = *spec;
        s->target = (struct layer_target) { .root_fd = -1 };
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->address = strdup(address);
        s->ns = strdup(ns);
        s->snapshotter = strdup(snapshotter);
        s->ring = malloc(LAYER_STREAM_RING);
        if (!s->address || !s->ns || !s->snapshotter || !s->ring) {
                layer_stream_free(s);
                return berr_set(e, -ENOMEM, "out of memory");
        }
        /* containerd's unpack key format, "extract-<unique> <chain ID>": fixed, so a
         * restarted agent finds what a killed one left. */
        snprintf(s->key, sizeof s->key, "extract-berth-stream %s", spec->chain_id);
        *ret = s;
        return 0;
}

void layer_stream_free(struct layer_stream *s)
{
        if (!s)
                return;
        layer_target_close(&s->target);
        ctrd_free(s->c);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->ring);
        free(s->address);
        free(s->ns);
        free(s->snapshotter);
        free(s);
}

const struct layer_stream_spec *layer_stream_spec(const struct layer_stream *s)
{
        return &s->spec;
}

int layer_stream_prepare(struct layer_stream *s, berr *e)
{
        const struct layer_stream_spec *sp = &s->spec;
        if (!layer_media_type_supported(sp->media_type))
                return berr_set(e, -EOPNOTSUPP, "layer %s has media type %s", sp->digest, sp->media_type);
        if (!s->c) {
                int r = ctrd_new(s->address, s->ns, s->snapshotter, &s->c, e);
                if (r < 0)
                        return r;
        }
        bool committed = false;
        berr tmp = {0};
        int r = ctrd_snapshot_stat(s->c, sp->chain_id, &committed, &tmp);
        if (r >= 0 && committed)
                return 1;
        if (r < 0 && r != -ENOENT)
                return berr_prefix(e, r, "containerd at %s: %s", s->address, berr_msg(&tmp, r));
        if (sp->parent[0]) {
                committed = false;
                r = ctrd_snapshot_stat(s->c, sp->parent, &committed, &tmp);
                if (r == -ENOENT || (r >= 0 && !committed))
                        return berr_set(e, -EOPNOTSUPP, "the layers below %s are not unpacked yet", sp->digest);
                if (r < 0)
                        return berr_set(e, r, "containerd at %s: %s", s->address, berr_msg(&tmp, r));
        }
        char lease[64];
        layer_stream_lease(sp->chain_id, lease);
        r = ctrd_lease_create(s->c, lease, LAYER_STREAM_LEASE_S, e);
        if (r < 0)
                return berr_prefix(e, r, "creating containerd lease %s", lease);
        if (ctrd_use_lease(s->c, lease) < 0)
                return berr_set(e, -ENOMEM, "out of memory");

        struct ctrd_label labels[] = { { "containerd.io/snapshot.ref", sp->chain_id } };
        struct ctrd_mounts mounts = { 0 };
        r = ctrd_snapshot_prepare(s->c, s->key, sp->parent[0] ? sp->parent : NULL, labels, ELEMENTSOF(labels), &mounts,
                                  e);
        if (r == -EEXIST) {
                /* A killed agent's: its bytes are gone with it, start over. */
                berr_clear(e);
                r = ctrd_snapshot_remove(s->c, s->key, e);
                if (r >= 0)
                        r = ctrd_snapshot_prepare(s->c, s->key, sp->parent[0] ? sp->parent : NULL, labels,
                                                  ELEMENTSOF(labels), &mounts, e);
        }
        if (r < 0)
                return berr_prefix(e, r, "preparing a snapshot for layer %s", sp->digest);
        r = layer_target_open(&mounts, &s->target, e);
        ctrd_mounts_done(&mounts);
        if (r < 0) {
                ctrd_snapshot_remove(s->c, s->key, NULL);
                return r;
        }
        s->prepared = true;
        return 0;
}

/* The applier's read: blocks until bytes are pushed or the stream is aborted. */
static ssize_t ring_read(void *ud, void *buf, size_t n)
{
        struct layer_stream *s = ud;
        pthread_mutex_lock(&s->lock);
        while (s->used == 0 && !s->aborted)
                pthread_cond_wait(&s->cond, &s->lock);
        if (s->aborted) {
                pthread_mutex_unlock(&s->lock);
                return -ECANCELED;
        }
        size_t k = n < s->used ? n : s->used;
        size_t first = LAYER_STREAM_RING - s->head < k ? LAYER_STREAM_RING - s->head : k;
        memcpy(buf, s->ring + s->head, first);
        memcpy((uint8_t *)buf + first, s->ring, k - first);
        s->head = (s->head + k) % LAYER_STREAM_RING;
        s->used -= k;
        pthread_mutex_unlock(&s->lock);
        return (ssize_t)k;
}

int layer_stream_apply(struct layer_stream *s, berr *e)
{
        const struct layer_stream_spec *sp = &s->spec;
        if (!s->prepared)
                return berr_set(e, -EINVAL, "layer %s: not prepared", sp->digest);
        char diff_id[DIGEST_STR_LEN + 1];
        struct layer_apply_stats st = { 0 };
        uint64_t cap = sp->size > (UINT64_MAX - LAYER_STREAM_SLACK) / LAYER_STREAM_MAX_RATIO
                               ? UINT64_MAX
                               : sp->size * LAYER_STREAM_MAX_RATIO + LAYER_STREAM_SLACK;
        int r = layer_apply_from(&s->target, ring_read, s, sp->size, sp->digest, sp->media_type, cap, diff_id, &st, e);
        pthread_mutex_lock(&s->lock);
        s->stopped = true; /* pushes fail from now on */
        pthread_mutex_unlock(&s->lock);
        layer_target_close(&s->target);
        if (r == -EBADMSG && !st.digest_mismatch)
                /* Bytes whose digest is not known do not unpack: damaged on the way, or a
                 * layer only a verified copy can tell about. */
                r = -EILSEQ;
        if (r < 0 && r != -ECANCELED && r != -EBADMSG && r != -EILSEQ && r != -EFBIG && r != -EOPNOTSUPP)
                berr_prefix(e, r, "unpacking layer %s as it arrived", sp->digest); /* the caller names the rest */
        if (r >= 0 && strcmp(diff_id, sp->diff_id) != 0)
                r = berr_set(e, -ENOTRECOVERABLE, "layer %s unpacked to diff ID %s, but the signed image config says %s: "
                             "the bundle is broken; build it again", sp->digest, diff_id, sp->diff_id);
        FAULT_POINT("layer_stream.before_commit");
        if (r >= 0) {
                struct ctrd_label labels[] = { { "containerd.io/snapshot.ref", sp->chain_id } };
                r = ctrd_snapshot_commit(s->c, sp->chain_id, s->key, labels, ELEMENTSOF(labels), e);
                if (r >= 0) {
                        s->prepared = false;
                        return 0;
                }
                if (r == -EEXIST) {
                        berr_clear(e); /* someone unpacked the same chain meanwhile: as good */
                        r = 0;
                } else
                        berr_prefix(e, r, "committing the snapshot of layer %s", sp->digest);
        }
        /* Nothing of it is committed: the prepared snapshot goes. */
        ctrd_snapshot_remove(s->c, s->key, NULL);
        s->prepared = false;
        return r;
}

void layer_stream_discard(struct layer_stream *s)
{
        if (s->prepared && s->c)
                ctrd_snapshot_remove(s->c, s->key, NULL);
        s->prepared = false;
}

int layer_stream_push(struct layer_stream *s, const void *p, size_t n)
{
        if (n > LAYER_STREAM_RING)
                return -E2BIG;
        pthread_mutex_lock(&s->lock);
        int r = 0;
        if (s->stopped || s->aborted)
                r = -EPIPE;
        else if (LAYER_STREAM_RING - s->used < n)
                r = -EAGAIN;
        else {
                size_t tail = (s->head + s->used) % LAYER_STREAM_RING;
                size_t first = LAYER_STREAM_RING - tail < n ? LAYER_STREAM_RING - tail : n;
                memcpy(s->ring + tail, p, first);
                memcpy(s->ring, (const uint8_t *)p + first, n - first);
                s->used += n;
                s->pushed += n;
                pthread_cond_signal(&s->cond);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

uint64_t layer_stream_pushed(const struct layer_stream *s)
{
        return s->pushed; /* written on the loop only */
}

void layer_stream_abort(struct layer_stream *s)
{
        pthread_mutex_lock(&s->lock);
        s->aborted = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
}
