/* SPDX-License-Identifier: Apache-2.0 */
/* update_stream.c — the layers an update unpacks into containerd as they arrive, so the
 * compressed layer never reaches flash (containerd/layer_stream.h; containerd/README.md,
 * "Streaming layers from a download").
 *
 * With a backend that streams (containerd, berth unpacking, no compressed copy kept),
 * the documents phase also fetches the image configs; then every missing layer that
 * this platform's images use on one chain (same layers below it everywhere) gets a
 * spec: its diff ID, chain ID and parent, and the held keys it will have. Those layers
 * are fetched last, base first, one at a time:
 *
 *   prepare (worker thread)  the chain committed already → held, nothing to fetch;
 *                            its parent not committed, zstd, odd mounts → stored instead
 *   download (loop)          the bytes go to the applier's ring; a broken transfer
 *                            resumes from the byte the applier has, from the same source
 *   apply (worker thread)    unpack, both digests, sync, commit; else nothing committed
 *
 * A committed layer is recorded as held (import/held.h) at once: a later retry or a
 * restart plans without it, and the store import accepts it absent. A layer that cannot
 * be streamed after all (a sparse file, a hard link to a lower layer, a gzip bomb) is
 * stored and unpacked the old way, fetched again. A restarted agent starts the layer in
 * flight over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "containerd/layer_stream.h"
#include "containerd/plan.h"
#include "daemon/agent_int.h"
#include "daemon/bgjob.h"
#include "daemon/update_int.h"
#include "fetch/download.h"
#include "import/held.h"

#define MAX_KEYS 8              /* a layer used at more places than this is stored */

struct upd_layer {
        bool on;                        /* streamed */
        size_t order;                   /* fetch order among the streamed */
        struct layer_stream_spec spec;
        char keys[MAX_KEYS][HELD_KEY_LEN + 1];
        size_t n_keys;
};

struct upd_stream {
        struct agent *a;
        bool detached;                  /* the action let go of it: its job ends, then it is freed */
        struct upd_stream *next_gone;   /* in a->upd.streams_gone while detached */
        struct layer_stream *ls;
        struct bgjob *job;
        size_t blob;                    /* index in the head's blobs */
        bool applying;                  /* prepared: the apply job runs */
        size_t source;                  /* where its bytes come from: 1 + peer, 0 the server */
        int r;
        berr e;
};

static struct import_backend *stream_backend(struct agent *a)
{
        for (size_t i = 0; i < a->n_backends; i++)
                if (a->backends[i]->stream_layer)
                        return a->backends[i];
        return NULL;
}

bool upd_stream_wanted(struct agent *a)
{
        return !a->upd.streams_off && stream_backend(a) != NULL;
}

bool upd_stream_busy(const struct agent *a)
{
        const struct upd_stream *st = a->upd.stream;
        /* Preparing, or finishing with every byte in; an applier waiting for bytes
         * needs its download (re)started. */
        return st && st->job &&
               (!st->applying || layer_stream_pushed(st->ls) == layer_stream_spec(st->ls)->size);
}

static void stream_free(struct upd_stream *st)
{
        if (!st)
                return;
        layer_stream_free(st->ls);
        free(st);
}

/* The action lets go of the layer in flight: the applier stops, and once its job has
 * ended (its snapshot removed) it is freed. Shutdown waits for such jobs. */
static void stream_detach(struct agent *a)
{
        struct upd_stream *st = a->upd.stream;
        if (!st)
                return;
        if (a->upd.dl_sink)
                upd_download_abort(a); /* it pushes into st */
        a->upd.stream = NULL;
        layer_stream_abort(st->ls);
        if (!st->job) {
                stream_free(st);
                return;
        }
        st->detached = true;
        st->next_gone = a->upd.streams_gone;
        a->upd.streams_gone = st;
}

/* A detached stream's job ended: the action may now stream the same layer again. */
static void gone_done(struct upd_stream *st)
{
        struct agent *a = st->a;
        for (struct upd_stream **p = &a->upd.streams_gone; *p; p = &(*p)->next_gone)
                if (*p == st) {
                        *p = st->next_gone;
                        break;
                }
        stream_free(st);
        if (a->upd.have_act)
                upd_later(a, 0);
}

/* A detached stream of the same chain still runs: its end removes the prepared snapshot
 * a new one would use (the key is fixed per chain, so a restart finds it). */
static bool chain_busy(struct agent *a, const char *chain_id)
{
        for (const struct upd_stream *g = a->upd.streams_gone; g; g = g->next_gone)
                if (!strcmp(layer_stream_spec(g->ls)->chain_id, chain_id))
                        return true;
        return false;
}

void upd_stream_release(struct agent *a)
{
        stream_detach(a);
        free(a->upd.layers);
        a->upd.layers = NULL;
}

void upd_stream_stop(struct agent *a)
{
        upd_stream_release(a);
        while (a->upd.streams_gone) {
                struct upd_stream *st = a->upd.streams_gone;
                a->upd.streams_gone = st->next_gone;
                bgjob_wait_free(st->job); /* aborted: the applier returns at its next read */
                layer_stream_discard(st->ls); /* prepared, never applied */
                stream_free(st);
        }
}

/* ---- which layers ---------------------------------------------------------------- */

static void plan_layer(const struct ctrd_plan *p, const char *scope, const struct bundle_blob *b, struct upd_layer *ul)
{
        bool found = false;
        for (size_t u = 0; u < p->n_unpacks; u++) {
                const struct ctrd_plan_unpack *up = &p->unpacks[u];
                char key[HELD_KEY_LEN + 1] = "";
                for (size_t j = 0; j < up->n_layers; j++) {
                        const struct ctrd_plan_layer *l = &up->layers[j];
                        held_key_next(scope, key, l->digest, key);
                        if (strcmp(l->digest, b->digest))
                                continue;
                        const char *parent = j ? up->layers[j - 1].chain_id : "";
                        if (found && (strcmp(ul->spec.chain_id, l->chain_id) || strcmp(ul->spec.parent, parent)))
                                return; /* on two chains: unpacked twice, so stored */
                        if (ul->n_keys == MAX_KEYS)
                                return;
                        snprintf(ul->keys[ul->n_keys++], HELD_KEY_LEN + 1, "%s", key);
                        if (found)
                                continue;
                        found = true;
                        ul->order = u * 65536 + j;
                        snprintf(ul->spec.digest, sizeof ul->spec.digest, "%s", b->digest);
                        ul->spec.size = b->size;
                        snprintf(ul->spec.media_type, sizeof ul->spec.media_type, "%s", b->media_type);
                        snprintf(ul->spec.diff_id, sizeof ul->spec.diff_id, "%s", l->diff_id);
                        snprintf(ul->spec.chain_id, sizeof ul->spec.chain_id, "%s", l->chain_id);
                        snprintf(ul->spec.parent, sizeof ul->spec.parent, "%s", parent);
                }
        }
        ul->on = found;
}

void upd_stream_plan(struct agent *a)
{
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        struct import_backend *ib = stream_backend(a);
        const char *scope = import_held_scope(a->backends, a->n_backends);
        if (a->upd.layers || a->upd.streams_off || !ib || !scope)
                return;
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = NULL;
        berr e = {0};
        int r = ctrd_plan_build(m, a->cs, &p, &e);
        if (r < 0) {
                char l[200];
                log_warning("agent: %s: cannot tell which layers to unpack as they arrive (%s); storing them first",
                            upd_label(a, l), berr_msg(&e, r));
                a->upd.streams_off = true;
                return;
        }
        struct upd_layer *ls = calloc(m->n_blobs ? m->n_blobs : 1, sizeof *ls);
        if (!ls)
                return;
        for (size_t i = 0; i < m->n_blobs; i++) {
                const struct bundle_blob *b = &m->blobs[i];
                if ((a->upd.need && !a->upd.need[i]) || (a->upd.held && a->upd.held[i]) ||
                    media_type_is_document(b->media_type) || media_type_is_config(b->media_type))
                        continue;
                plan_layer(p, scope, b, &ls[i]);
        }
        a->upd.layers = ls;
}

bool upd_stream_layer(const struct agent *a, size_t blob)
{
        return a->upd.layers && a->upd.layers[blob].on;
}

/* The plan in the order it is fetched: what is stored first (artifact order), then the
 * streamed layers, each image's base first: a layer streams onto its committed parent. */
static int cmp_plan(const void *x, const void *y, void *ud)
{
        const struct fetch_range *p = x, *q = y;
        const struct upd_layer *ls = ud;
        bool sp = ls[p->blob].on, sq = ls[q->blob].on;
        if (sp != sq)
                return sp ? 1 : -1;
        if (sp && ls[p->blob].order != ls[q->blob].order)
                return ls[p->blob].order < ls[q->blob].order ? -1 : 1;
        return p->offset < q->offset ? -1 : p->offset > q->offset;
}

void upd_stream_order(struct agent *a)
{
        if (a->upd.layers && a->upd.n_plan > 1)
                qsort_r(a->upd.plan, a->upd.n_plan, sizeof *a->upd.plan, cmp_plan, a->upd.layers);
}

/* ---- one layer ------------------------------------------------------------------- */

static int prepare_work(void *ud)
{
        struct upd_stream *st = ud;
        return layer_stream_prepare(st->ls, &st->e);
}

static int apply_work(void *ud)
{
        struct upd_stream *st = ud;
        return layer_stream_apply(st->ls, &st->e);
}

/* The layer is committed in containerd: held from now on. */
static void layer_held(struct agent *a, struct upd_stream *st, bool fetched)
{
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        const struct upd_layer *ul = &a->upd.layers[st->blob];
        const struct bundle_blob *b = &m->blobs[st->blob];
        char l[200];
        for (size_t k = 0; k < ul->n_keys; k++) {
                berr e = {0};
                if (db_unpacked_add(a->db, ul->keys[k], agent_now(), &e) < 0)
                        log_warning("agent: %s: cannot record layer %s as held (%s); a later update may fetch it again",
                                    upd_label(a, l), b->digest, berr_msg(&e, -EIO));
        }
        if (!a->upd.held)
                a->upd.held = calloc(m->n_blobs, sizeof *a->upd.held);
        if (a->upd.held)
                a->upd.held[st->blob] = true;
        if (fetched) {
                a->metrics.blobs_verified++;
                a->metrics.layers_streamed++;
                a->metrics.layers_streamed_bytes += b->size;
                log_info("agent: %s: layer %s (%llu bytes) unpacked into containerd as it arrived", upd_label(a, l),
                         b->digest, (unsigned long long)b->size);
        } else
                log_info("agent: %s: layer %s is unpacked in containerd already; not fetched", upd_label(a, l),
                         b->digest);
        const struct fetch_range *fr = &a->upd.plan[a->upd.plan_i];
        a->upd.plan_done += fr->length;
        a->upd.plan_i++;
        a->upd.cur_blob_have = a->upd.cur_blob_durable = 0;
        a->upd.act_failures = 0;
        a->upd.blob_start_usec = agent_mono_usec(a);
}

/* This layer is stored and unpacked the old way (why: msg). */
static void layer_stored(struct agent *a, size_t blob, const char *msg)
{
        char l[200];
        const struct bundle_blob *b = &import_head_manifest(a->upd.head)->blobs[blob];
        log_warning("agent: %s: layer %s cannot be unpacked as it arrives (%s); storing it first", upd_label(a, l),
                    b->digest, msg);
        a->upd.layers[blob].on = false;
}

/* The end of a stream's job, on the loop. */
static void stream_ended(struct agent *a, struct upd_stream *st, int r)
{
        ACT_LOG_SCOPE(a);
        char msg[700];
        a->upd.stream = NULL;
        /* The applier may stop before the download does (bytes that are not the layer). */
        if (a->upd.dl_sink)
                upd_download_abort(a);
        const struct bundle_blob *b = &import_head_manifest(a->upd.head)->blobs[st->blob];
        if (r >= 0) {
                layer_held(a, st, r == 0);
                stream_free(st);
                upd_download_next(a);
                return;
        }
        snprintf(msg, sizeof msg, "%s", berr_msg(&st->e, r));
        size_t source = st->source, blob = st->blob;
        stream_free(st);
        if (r == -ENOTRECOVERABLE) {
                upd_fail(a, r, msg);
                return;
        }
        if (r == -EILSEQ && source) {
                /* From a site peer, bytes that do not unpack are its lie first: the next
                 * source (the server last) streams the layer again. */
                peers_failed(a, source - 1, b->digest, r, msg);
                upd_download_next(a);
                return;
        }
        if (r == -EOPNOTSUPP || r == -EFBIG || r == -EILSEQ) {
                layer_stored(a, blob, msg);
                upd_download_next(a);
                return;
        }
        if (r == -EBADMSG) {
                a->metrics.blobs_corrupt++;
                if (source) {
                        peers_failed(a, source - 1, b->digest, r, msg);
                        upd_download_next(a);
                        return;
                }
                char full[900];
                snprintf(full, sizeof full, "layer %s from the server is corrupt: %s", b->digest, msg);
                if (++a->upd.corrupt >= MAX_CORRUPT)
                        upd_fail(a, r, full);
                else
                        upd_retry(a, r, full);
                return;
        }
        if (r == -ENOSPC || r == -EDQUOT) {
                char full[1000];
                snprintf(full, sizeof full, "disk full while unpacking layer %s into containerd: %s", b->digest, msg);
                upd_fail(a, r, full);
                return;
        }
        upd_retry(a, r, msg);
}

static void apply_done(void *ud, int r)
{
        struct upd_stream *st = ud;
        st->job = NULL;
        if (st->detached) {
                gone_done(st);
                return;
        }
        stream_ended(st->a, st, r);
}

static void prepare_done(void *ud, int r)
{
        struct upd_stream *st = ud;
        st->job = NULL;
        struct agent *a = st->a;
        if (st->detached && r == 0 &&
            bgjob_start(a->ev, "layer-apply", apply_work, apply_done, st, &st->job, NULL) >= 0)
                return; /* the aborted applier removes the prepared snapshot */
        if (st->detached) {
                gone_done(st);
                return;
        }
        if (r != 0) {
                stream_ended(a, st, r);
                return;
        }
        berr e = {0};
        r = bgjob_start(a->ev, "layer-apply", apply_work, apply_done, st, &st->job, &e);
        if (r < 0) {
                /* (its prepared snapshot stays until the next try of this chain removes it) */
                st->e = e;
                stream_ended(a, st, r);
                return;
        }
        st->applying = true;
        upd_download_next(a);
}

static int sink(void *ud, const void *p, size_t n)
{
        struct upd_stream *st = ud;
        return layer_stream_push(st->ls, p, n);
}

int upd_stream_step(struct agent *a, size_t blob)
{
        struct upd_stream *st = a->upd.stream;
        if (st && st->blob != blob) {
                stream_detach(a); /* the plan changed under it */
                st = NULL;
        }
        if (!st && chain_busy(a, a->upd.layers[blob].spec.chain_id))
                return 1; /* gone_done steps the action again */
        if (!st) {
                struct import_backend *ib = stream_backend(a);
                st = calloc(1, sizeof *st);
                if (!st)
                        return -ENOMEM;
                st->a = a;
                st->blob = blob;
                berr e = {0};
                int r = ib->stream_layer(ib, &a->upd.layers[blob].spec, &st->ls, &e);
                if (r >= 0)
                        r = bgjob_start(a->ev, "layer-prepare", prepare_work, prepare_done, st, &st->job, &e);
                if (r < 0) {
                        stream_free(st);
                        layer_stored(a, blob, berr_msg(&e, r));
                        return 0;
                }
                a->upd.stream = st;
                return 1;
        }
        if (!st->applying || a->upd.dl)
                return 1; /* preparing, or its download runs */
        uint64_t pushed = layer_stream_pushed(st->ls);
        a->upd.cur_blob_have = pushed;
        if (pushed == layer_stream_spec(st->ls)->size)
                return 1; /* every byte is in: the applier finishes */
        return 2;
}

bool upd_stream_resuming(const struct agent *a)
{
        return a->upd.stream && layer_stream_pushed(a->upd.stream->ls) > 0;
}

void upd_stream_sink(struct agent *a, struct blob_download_opts *o)
{
        struct upd_stream *st = a->upd.stream;
        st->source = a->upd.peer_cur;
        o->sink = sink;
        o->sink_ud = st;
        o->sink_offset = layer_stream_pushed(st->ls);
}

void upd_stream_source_failed(struct agent *a)
{
        stream_detach(a);
}
