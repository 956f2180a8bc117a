/* SPDX-License-Identifier: Apache-2.0 */
/* update_fetch.c — the update state machine from `new` to `staged`: the head (fetched by
 * fetch/head.c, verified like a USB import), the plan of missing blobs and the free
 * space it needs, which blobs this gateway's platform needs, and the blob downloads one
 * at a time (fetch/download.c); update_commit.c takes it on into the store. See update.c
 * for the whole machine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "daemon/agent_int.h"
#include "daemon/update_int.h"
#include "fetch/download.h"
#include "fetch/head.h"
#include "import/held.h"

/* Missing blobs at most this far apart go in one request (the bytes between them, tar
 * headers and padding or a small blob the node already has, are fetched and dropped);
 * at most this many per request. */
#define SPAN_GAP_MAX 4096
#define SPAN_MAX_BLOBS 64


static void on_blob_progress(void *ud, size_t i, uint64_t have)
{
        struct agent *a = ud;
        a->upd.cur_blob_have = have;
        if (a->upd.dl)
                a->upd.cur_blob_durable = blob_download_durable(a->upd.dl);
        uint64_t done = upd_progress_done(a, false);
        int pct = a->upd.act.total ? (int)(done * 100 / a->upd.act.total) : 100;
        uint64_t now = agent_mono_usec(a);
        if (pct != a->upd.last_pct) {
                char l[200];
                agent_status(a, "downloading %s: %d%%", upd_label(a, l), pct);
        }
        if (pct != a->upd.last_pct && now - a->upd.last_progress_usec >= 1000000) {
                a->upd.last_progress_usec = now;
                a->upd.last_pct = pct;
                upd_feedback_progress(a, NULL);
        }
}

/* Bytes that came over the network for this action, from the server or the site peer
 * the download in flight asks; blobs = 1 when they completed one. */
static void count_fetched(struct agent *a, uint64_t got, bool blob)
{
        uint64_t from_peer = a->upd.peer_cur ? got : 0;
        if (!a->upd.need_known)
                a->upd.docs_bytes += got;
        a->upd.fetched += got;
        if (a->upd.peer_cur)
                peers_served(a, a->upd.peer_cur - 1, got, blob);
        else
                a->metrics.bytes_downloaded += got;
        if ((got || blob) &&
            agentdb_action_add_fetched(a->db, a->upd.act.id, got, blob, 0, from_peer, agent_now()) >= 0) {
                a->upd.act.fetched += got;
                a->upd.act.blobs_fetched += blob;
                a->upd.act.peer_fetched += from_peer;
        }
}

/* Blob i of the span in flight is verified and in the store (plan[plan_i]). */
static void on_blob_stored(void *ud, size_t i, uint64_t got)
{
        struct agent *a = ud;
        ACT_LOG_SCOPE(a);
        const struct fetch_range *fr = &a->upd.plan[a->upd.plan_i];
        const struct bundle_blob *b = &import_head_manifest(a->upd.head)->blobs[fr->blob];
        count_fetched(a, got, true);
        a->metrics.blobs_verified++;
        peers_announce(a, b->digest, 0, PEER_BLOB_NONE); /* in the store now: served from there */
        uint64_t now = agent_mono_usec(a), us = now - a->upd.blob_start_usec;
        if (fr->length >= 1024 * 1024 && us)
                log_info("agent: blob %s: %llu bytes in %.2f s (%.0f KiB/s)", b->digest, (unsigned long long)fr->length,
                         (double)us / 1e6, (double)fr->length / 1024.0 / ((double)us / 1e6));
        a->upd.blob_start_usec = now;
        a->upd.act_failures = 0;
        a->upd.plan_done += fr->length;
        a->upd.plan_i++;
        a->upd.cur_blob_have = a->upd.cur_blob_durable = 0;
}

void upd_download_abort(struct agent *a)
{
        if (!a->upd.dl)
                return;
        count_fetched(a, blob_download_fetched(a->upd.dl), false);
        blob_download_free(a->upd.dl);
        a->upd.dl = NULL;
        a->upd.dl_sink = false;
        a->upd.peer_cur = 0;
}

/* A streamed layer's last byte went to the applier (update_stream.c finishes it). */
static void on_layer_bytes_in(void *ud, size_t i, uint64_t got)
{
        (void)i;
        count_fetched(ud, got, false);
}

static void on_span_done(void *ud, int r, const berr *e)
{
        struct agent *a = ud;
        ACT_LOG_SCOPE(a);
        bool sink = a->upd.dl_sink;
        if (r < 0)
                count_fetched(a, blob_download_fetched(a->upd.dl), false);
        if (r == -EBADMSG)
                a->metrics.blobs_corrupt++;
        blob_download_free(a->upd.dl);
        a->upd.dl = NULL;
        a->upd.dl_sink = false;
        if (!sink)
                a->upd.cur_blob_have = a->upd.cur_blob_durable = 0;
        size_t peer = a->upd.peer_cur;
        a->upd.peer_cur = 0;
        if (sink && (r >= 0 || r == -EPIPE))
                return; /* the applier has every byte, or stopped: its end decides */
        if (sink && peer) {
                /* What the peer sent is in the applier: that layer starts over. */
                upd_stream_source_failed(a);
                a->upd.cur_blob_have = 0;
        }
        /* a failed span stopped at plan[plan_i] */
        const struct bundle_blob *b = r < 0 && a->upd.plan_i < a->upd.n_plan
                                              ? &import_head_manifest(a->upd.head)->blobs[a->upd.plan[a->upd.plan_i].blob]
                                              : NULL;
        const char *digest = b ? b->digest : "(after the last blob)";
        if (r == -ENOSPC || r == -EDQUOT) {
                char msg[600];
                snprintf(msg, sizeof msg, "disk full while downloading blob %s into %s: %s", digest, a->set.state_dir,
                         berr_msg(e, r));
                upd_fail(a, r, msg);
                return;
        }
        if (peer && r < 0) {
                /* A peer's failure is the peer's: the next peer, or the server, has it. What
                 * it sent is not resumed from another source: a lie in it would be blamed
                 * on that one. */
                peers_failed(a, peer - 1, digest, r, berr_msg(e, r));
                if (b && !sink)
                        blob_partial_drop(a->cs, a->db, b->digest);
                upd_download_next(a);
                return;
        }
        if (r == -EBADMSG && ++a->upd.corrupt >= MAX_CORRUPT) {
                upd_fail(a, r, berr_msg(e, r));
                return;
        }
        if (r == -EPROTO && e && strstr(e->msg, "HTTP 4")) {
                upd_fail(a, r, berr_msg(e, r));
                return;
        }
        if (r < 0) {
                upd_retry(a, r, berr_msg(e, r));
                return;
        }
        upd_download_next(a);
}

/* The span starting at plan[plan_i]: that blob and the missing blobs right behind it
 * (at most SPAN_GAP_MAX bytes apart, no partial file of their own), fetched with one
 * request. */
static size_t plan_span(struct agent *a, struct blob_span_item *items, size_t max)
{
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        size_t n = 0;
        uint64_t end = 0;
        for (size_t j = a->upd.plan_i; j < a->upd.n_plan && n < max; j++) {
                const struct fetch_range *fr = &a->upd.plan[j];
                const struct bundle_blob *b = &m->blobs[fr->blob];
                uint64_t good = 0;
                if (n && (fr->offset - end > SPAN_GAP_MAX || upd_stream_layer(a, fr->blob) ||
                          content_has(a->cs, b->digest, b->size) ||
                          agentdb_download_get(a->db, b->digest, &good) > 0 || peers_have_source(a, b->digest)))
                        break;
                items[n++] = (struct blob_span_item){.digest = b->digest, .size = b->size, .offset = fr->offset};
                end = fr->offset + fr->length;
        }
        return n;
}

/* Starts the download of a span (fetch/download.h) into a->upd.dl; signer: the site
 * peer request signer's data, NULL for the rollout server. */
static int start_span(struct agent *a, const struct http_req_opts *req, const struct blob_span_item *items, size_t n,
                      void *signer, bool sink, berr *e)
{
        struct blob_download_opts o = {
                .http = a->http,
                .req = req,
                .chunk_size = a->set.chunk_size,
                .db = a->db,
                .cs = a->cs,
                .blobs = items,
                .n_blobs = n,
                .progress = on_blob_progress,
                .blob_done = on_blob_stored,
                .done = on_span_done,
                .userdata = a,
                .authorize = signer ? peers_authorize : NULL,
                .authorize_ud = signer,
        };
        if (sink) {
                upd_stream_sink(a, &o);
                o.blob_done = on_layer_bytes_in;
        }
        if (!sink || !o.sink_offset)
                a->upd.blob_start_usec = agent_mono_usec(a);
        int r = blob_download_start(&o, &a->upd.dl, e);
        a->upd.dl_sink = sink && r == 0;
        return r;
}

/* Blob b from the next site peer that holds it: 1 when that download runs, 0 when no
 * (further) peer has it, so the server is asked. A download that cannot even start (a
 * local error) is left to the server's path, which reports it. */
static int from_peer(struct agent *a, const struct bundle_blob *b, bool sink)
{
        if (a->upd.peer_plan_i != a->upd.plan_i) {
                a->upd.peer_plan_i = a->upd.plan_i;
                a->upd.peer_kind = a->upd.peer_from = 0;
        }
        size_t kind = a->upd.peer_kind, pos = a->upd.peer_from;
        int j = peers_holder(a, b->digest, &kind, &pos);
        if (j >= 0) {
                size_t pi = (size_t)j;
                a->upd.peer_kind = kind;
                a->upd.peer_from = pos + 1; /* the next time: the next source */
                char url[256];
                peers_blob_url(a, pi, b->digest, url, sizeof url);
                void *signer[2] = {a, url};
                struct blob_span_item item = {.digest = b->digest, .size = b->size, .offset = 0};
                struct http_req_opts req = {
                        .url = url,
                        .name = a->peers.list[pi].host,
                        .peer = "the site peer",
                        .plain_credentials = true, /* a one-time signature (peers/auth.h) */
                        .connect_timeout_ms = 2000,
                        .stall_seconds = a->set.stall_timeout,
                };
                berr e = {0};
                a->upd.peer_cur = pi + 1;
                int r = start_span(a, &req, &item, 1, signer, sink, &e);
                if (r == 0)
                        /* Taken from a complete copy, this gateway's download is one others
                         * may follow; taken from a download in progress it stays "wanted". */
                        peers_announce(a, b->digest, b->size,
                                       kind == PEER_SRC_COMPLETE ? PEER_BLOB_FETCHING : PEER_BLOB_WANTED);
                if (r >= 0)
                        return 1; /* r == 1: complete on disk already; the caller's loop sees it stored */
                a->upd.dl = NULL;
                a->upd.peer_cur = 0;
                if (r == -ENOSPC || r == -EDQUOT) {
                        upd_fail(a, r, berr_msg(&e, r));
                        return -1;
                }
                log_warning("agent: cannot start fetching blob %s from site peer %s: %s", b->digest,
                            a->peers.list[pi].host, berr_msg(&e, r));
        }
        return 0;
}

void upd_download_next(struct agent *a)
{
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        while (a->upd.plan_i < a->upd.n_plan) {
                const struct fetch_range *fr = &a->upd.plan[a->upd.plan_i];
                const struct bundle_blob *b = &m->blobs[fr->blob];
                if (content_has(a->cs, b->digest, b->size)) {
                        /* Another action or an import stored it meanwhile. */
                        a->upd.plan_done += fr->length;
                        a->upd.plan_i++;
                        a->upd.peer_cur = 0;
                        continue;
                }
                bool sink = false;
                if (upd_stream_layer(a, fr->blob)) {
                        int k = upd_stream_step(a, fr->blob);
                        if (k < 0) {
                                upd_retry(a, k, "out of memory");
                                return;
                        }
                        if (k == 1)
                                return; /* update_stream.c goes on from here */
                        sink = k == 2;
                }
                /* A layer half in the applier goes on from where its bytes came from: the
                 * server (a peer that failed has started it over). */
                int p = a->peers.enabled && !(sink && upd_stream_resuming(a)) ? from_peer(a, b, sink) : 0;
                if (p < 0)
                        return;
                if (p > 0 && a->upd.dl)
                        return;
                if (p > 0) {
                        /* its partial file was complete: verified and stored now */
                        a->upd.plan_done += fr->length;
                        a->upd.plan_i++;
                        a->upd.peer_cur = 0;
                        continue;
                }
                struct blob_span_item items[SPAN_MAX_BLOBS];
                struct http_req_opts req = agent_server_req(a, a->upd.act.url);
                req.max_recv_speed = a->set.bandwidth;
                req.stall_seconds = a->set.stall_timeout;
                berr e = {0};
                size_t n = sink ? 1 : plan_span(a, items, SPAN_MAX_BLOBS);
                if (sink)
                        items[0] = (struct blob_span_item){.digest = b->digest, .size = b->size, .offset = fr->offset};
                int r = start_span(a, &req, items, n, NULL, sink, &e);
                for (size_t i = 0; r == 0 && a->peers.server && i < n; i++)
                        peers_announce(a, items[i].digest, items[i].size, PEER_BLOB_FETCHING); /* others may follow */
                if (r == 1) {
                        /* its first blob was complete on disk: stored now */
                        a->upd.plan_done += fr->length;
                        a->upd.plan_i++;
                        continue;
                }
                if (r < 0) {
                        a->upd.dl = NULL;
                        if (r == -ENOSPC || r == -EDQUOT)
                                upd_fail(a, r, berr_msg(&e, r));
                        else
                                upd_retry(a, r, berr_msg(&e, r));
                } else
                        upd_count_requests(a, 1);
                return;
        }
        if (!a->upd.need_known) {
                upd_start_fetching(a); /* the image documents are in: now the blobs they pick */
                return;
        }
        upd_commit(a);
}

/* The data budget, before the action's first byte, on what is still missing: false (and
 * the action failed with why) when it does not fit. A download that started goes on,
 * its bytes counted as they come; a deployment the server let past it is not held. */
static bool budget_allows(struct agent *a, const char *l, uint64_t need)
{
        if (!need || a->upd.act.fetched > a->upd.docs_bytes || !strcmp(a->upd.budget_ok, a->upd.act.id))
                return true;
        if (a->upd.act.budget_override) {
                log_info("agent: %s: the server lets this deployment past the data budget (%llu bytes to fetch)", l,
                         (unsigned long long)need);
        } else {
                char why[900];
                int r = budget_check(a, l, need, why, sizeof why);
                if (r < 0) {
                        upd_fail(a, r, why);
                        return false;
                }
        }
        snprintf(a->upd.budget_ok, sizeof a->upd.budget_ok, "%s", a->upd.act.id);
        return true;
}

static bool have_blob(void *ud, const struct bundle_blob *b)
{
        struct agent *a = ud;
        size_t i = (size_t)(b - import_head_manifest(a->upd.head)->blobs);
        if (a->upd.need && !a->upd.need[i])
                return true; /* another platform's: never fetched */
        return content_has(a->cs, b->digest, b->size) || (a->upd.held && a->upd.held[i]);
}

static bool is_doc(struct agent *a, const struct bundle_blob *b)
{
        return media_type_is_document(b->media_type) || (upd_stream_wanted(a) && media_type_is_config(b->media_type));
}

/* The documents phase: only indexes and manifests count as missing, and the image
 * configs when layers stream (their diff IDs name the snapshots). */
static bool have_doc(void *ud, const struct bundle_blob *b)
{
        struct agent *a = ud;
        return !is_doc(a, b) || content_has(a->cs, b->digest, b->size);
}

/* Which blobs this node needs (a->upd.need; bundle/platform.h): 0 when known, 1 while
 * an index or manifest is still to be fetched, <0 when the action failed (an index with
 * nothing for this platform, a document that is not one). Bundles without an index need
 * every blob; with a registry mirror every platform is fetched: it serves them all. */
static int decide_need(struct agent *a)
{
        if (a->upd.need_known)
                return 0;
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        const char *scope = import_held_scope(a->backends, a->n_backends);
        bool picks = import_picks_platform(a->backends, a->n_backends, m);
        if (!picks && !scope) {
                /* Single-platform images (every blob is needed), or a registry mirror. */
                a->upd.need_known = true;
                return 0;
        }
        /* The manifests tell which layers containerd holds unpacked: fetch them first. */
        for (size_t i = 0; scope && i < m->n_blobs; i++)
                if (is_doc(a, &m->blobs[i]) && !content_has(a->cs, m->blobs[i].digest, m->blobs[i].size))
                        return 1;
        _cleanup_free_ bool *need = calloc(m->n_blobs ? m->n_blobs : 1, sizeof *need);
        _cleanup_free_ bool *held = calloc(m->n_blobs ? m->n_blobs : 1, sizeof *held);
        if (!need || !held) {
                upd_retry(a, -ENOMEM, "out of memory");
                return -ENOMEM;
        }
        berr e = {0};
        int r = picks ? import_platform_need(a->cs, m, need, NULL, &e) : 0;
        if (r == -ENOENT)
                return 1;
        if (r < 0) {
                upd_fail(a, r, berr_msg(&e, r));
                return r;
        }
        if (scope && (r = import_held_layers(a->db, a->cs, scope, m, picks ? need : NULL, held, &e)) < 0) {
                upd_retry(a, r, berr_msg(&e, r));
                return r;
        }
        for (size_t i = 0; picks && i < m->n_blobs; i++)
                if (!need[i]) {
                        a->upd.need = TAKE_PTR(need);
                        break;
                }
        for (size_t i = 0; i < m->n_blobs; i++)
                if (held[i] && !content_has(a->cs, m->blobs[i].digest, m->blobs[i].size)) {
                        a->upd.held = TAKE_PTR(held);
                        break;
                }
        a->upd.need_known = true;
        upd_stream_plan(a);
        return 0;
}

static size_t count_skipped(struct agent *a, const struct bundle_manifest *m)
{
        size_t k = 0;
        for (size_t i = 0; a->upd.need && i < m->n_blobs; i++)
                k += !a->upd.need[i];
        return k;
}

void upd_start_fetching(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200], msg[600];
        upd_label(a, l);
        berr e = {0};
        if (!a->upd.head) {
                struct import_opts o = {.state_dir = a->set.state_dir, .trust_dir = a->set.trust_dir, .config = a->cfg};
                int r = import_head_verify(&o, a->upd.act.head, a->upd.act.head_len, &a->upd.head, &e);
                if (r < 0) {
                        upd_fail(a, r, berr_msg(&e, r));
                        return;
                }
        }
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        free(a->upd.plan);
        a->upd.plan = NULL;
        int k = decide_need(a);
        if (k < 0)
                return;
        bool docs = k > 0;
        int r = fetch_plan(m, docs ? have_doc : have_blob, a, &a->upd.plan, &a->upd.n_plan, &a->upd.plan_bytes);
        if (r >= 0 && docs && a->upd.n_plan == 0) {
                /* Every blob typed as an index or manifest is here, yet one the images name
                 * is not: fetch them all rather than guess. */
                log_warning("agent: %s: cannot tell which blobs this platform needs (an image document is not typed "
                            "as one in the bundle); fetching every blob", l);
                a->upd.need_known = true;
                docs = false;
                r = fetch_plan(m, have_blob, a, &a->upd.plan, &a->upd.n_plan, &a->upd.plan_bytes);
        }
        if (r < 0) {
                upd_retry(a, r, "out of memory");
                return;
        }
        if (!docs)
                upd_stream_order(a);
        a->upd.plan_i = 0;
        a->upd.plan_done = 0;
        a->upd.peer_plan_i = SIZE_MAX;
        if (!docs && a->peers.enabled) {
                /* Which site peers hold which missing blob: asked once per action. */
                r = peers_locate(a, m, a->upd.plan, a->upd.n_plan, upd_start_fetching);
                if (r < 0)
                        log_warning("agent: %s: cannot ask the site peers (%s); fetching from the server", l,
                                    strerror(-r));
                if (r > 0) {
                        agent_status(a, "asking the site peers for the blobs of %s", l);
                        return;
                }
        }
        if (!docs && !a->upd.act.total && a->upd.plan_bytes) {
                /* The first plan fixes the total (kept over restarts). */
                if (agentdb_action_set_total(a->db, a->upd.act.id, a->upd.plan_bytes, agent_now()) < 0)
                        log_warning("agent: %s: cannot record the download total; progress may restart", l);
                a->upd.act.total = a->upd.plan_bytes;
        }
        /* Free space: what is still missing (minus what partial files already hold)
         * plus a margin for the database and the preload. */
        uint64_t partial = 0;
        for (size_t i = 0; i < a->upd.n_plan; i++) {
                uint64_t good = 0;
                if (agentdb_download_get(a->db, m->blobs[a->upd.plan[i].blob].digest, &good) > 0 &&
                    good <= a->upd.plan[i].length) {
                        partial += good;
                        if (i == 0) /* what a killed run kept of the blob it was on counts as done */
                                a->upd.cur_blob_durable = a->upd.cur_blob_have = good;
                }
        }
        uint64_t need = a->upd.plan_bytes - partial + a->set.space_margin, avail = 0;
        if (a->upd.n_plan && fs_free_bytes(a->set.state_dir, &avail) >= 0 && avail < need) {
                snprintf(msg, sizeof msg, "not enough disk space for %s: it needs %llu MiB in %s but only %llu MiB are "
                         "free; free some space (or enlarge the state filesystem) and deploy again", l,
                         (unsigned long long)((need + (1 << 20) - 1) >> 20), a->set.state_dir,
                         (unsigned long long)(avail >> 20));
                upd_fail(a, -ENOSPC, msg);
                return;
        }
        /* What site peers hold does not cross the WAN: the budget is asked for the rest. */
        uint64_t held = docs ? 0 : peers_held_bytes(a, m, a->upd.plan, a->upd.n_plan);
        uint64_t wan = a->upd.plan_bytes - partial > held ? a->upd.plan_bytes - partial - held : 0;
        if (!docs && !budget_allows(a, l, wan))
                return;
        size_t skipped = count_skipped(a, m);
        if (a->upd.act_failures == 0 && docs)
                log_info("agent: verified %s: fetching its %zu image index(es) and manifest(s) first (%llu bytes), "
                         "to pick the blobs %s", l, a->upd.n_plan, (unsigned long long)a->upd.plan_bytes,
                         import_picks_platform(a->backends, a->n_backends, m) ? "of this gateway's platform"
                                                                              : "containerd does not hold yet");
        else if (a->upd.act_failures == 0) {
                char sk[192] = "";
                size_t skl = 0;
                if (skipped)
                        skl = (size_t)snprintf(sk, sizeof sk, ", %zu of other platforms not needed", skipped);
                if (held)
                        snprintf(sk + skl, sizeof sk - skl, ", %llu bytes held by site peers", (unsigned long long)held);
                snprintf(msg, sizeof msg, "verified %s: %zu of %zu blob(s) to fetch (%llu bytes), %zu already on this "
                         "node%s", l, a->upd.n_plan, m->n_blobs, (unsigned long long)a->upd.plan_bytes,
                         m->n_blobs - a->upd.n_plan - skipped, sk);
                log_info("agent: %s", msg);
                upd_feedback_progress(a, msg);
        }
        agent_status(a, "downloading %s: %d%%", l, a->upd.plan_bytes ? 0 : 100);
        if (a->upd.act_failures == 0 && (docs || !a->upd.docs_bytes)) {
                a->upd.fetch_start_usec = agent_mono_usec(a);
                a->upd.fetched = 0;
        }
        upd_download_next(a);
}

/* ---- new: the head ---------------------------------------------------------------- */

static void head_done(void *ud, int r, uint8_t *buf, size_t len, const berr *he)
{
        struct agent *a = ud;
        ACT_LOG_SCOPE(a);
        upd_count_requests(a, head_fetch_requests(a->upd.headf));
        head_fetch_free(a->upd.headf);
        a->upd.headf = NULL;
        _cleanup_free_ uint8_t *head = buf;
        char l[200], msg[700];
        if (r == -EBADMSG || r == -EPROTO) {
                upd_fail(a, r, berr_msg(he, r));
                return;
        }
        if (r < 0) {
                upd_retry(a, r, berr_msg(he, r));
                return;
        }
        berr e = {0};
        struct import_opts o = {.state_dir = a->set.state_dir, .trust_dir = a->set.trust_dir, .config = a->cfg};
        r = import_head_verify(&o, head, len, &a->upd.head, &e);
        if (r < 0) {
                snprintf(msg, sizeof msg, "%s refused: %s", upd_label(a, l), berr_msg(&e, r));
                upd_fail(a, r, msg);
                return;
        }
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        r = agentdb_action_set_head(a->db, a->upd.act.id, head, len, m->name, m->version, agent_now());
        if (r < 0) {
                upd_stuck(a, r, "the verified head");
                return;
        }
        FAULT_POINT("update.after_head");
        free(a->upd.act.head);
        a->upd.act.head = TAKE_PTR(head);
        a->upd.act.head_len = len;
        free(a->upd.act.name);
        a->upd.act.name = strdup(m->name);
        a->upd.act.version = m->version;
        snprintf(a->upd.act.state, sizeof a->upd.act.state, "%s", ACTION_FETCHING);
        upd_start_fetching(a);
}

void upd_head_fetch(struct agent *a)
{
        struct http_req_opts req = agent_server_req(a, a->upd.act.url);
        req.max_recv_speed = a->set.bandwidth;
        req.stall_seconds = a->set.stall_timeout;
        struct head_fetch_opts o = {
                .http = a->http,
                .req = &req,
                .artifact_size = a->upd.act.size,
                .done = head_done,
                .userdata = a,
        };
        berr e = {0};
        char l[200];
        agent_status(a, "fetching the manifest of %s", upd_label(a, l));
        int r = head_fetch_start(&o, &a->upd.headf, &e);
        if (r < 0)
                upd_retry(a, r, berr_msg(&e, r));
}

