/* SPDX-License-Identifier: Apache-2.0 */
/* update.c — the node update state machine for one DDI action at a time:
 *
 *   new ──head fetched + verified──► fetching ──all blobs stored, recorded, preloaded──►
 *   staged ──window open (server and local)──► switching ──► installed
 *   (any non-final state) ──► failed | canceled
 *
 * Each state is written to agent_actions before the work that follows it, and each
 * step is idempotent, so after a crash update_resume() re-enters the stored state: a
 * verified head is kept in the row, blob downloads resume from their journal, the
 * store import of an already recorded bundle is a no-op. Network trouble never fails
 * an action (retried with backoff, reported as progress); a bundle that fails
 * verification, is refused (version, expiry) or does not fit on disk does.
 *
 * `switching` hands a bundle with workloads to the workload engine (workloads.c) when
 * containerd is configured: the action stays in `switching` while the engine switches,
 * probes and commits or rolls back, and ends as installed (committed) or failed (rolled
 * back, with the probe evidence). Otherwise it records the bundle version as current.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "base/fs.h"
#include "base/log.h"
#include "bundle/format.h"
#include "daemon/agent_int.h"
#include "sched/backoff.h"
#include "bundle/manifest.h"
#include "store/db.h"
#include "store/wstate.h"
#include "workload/engine.h"

#define HEAD_FIRST_FETCH 4096u /* enough for a small manifest; a larger one costs one more request */
#define MAX_CORRUPT 3           /* a blob that keeps failing its digest fails the action */

static void act_step(struct agent *a);

/* Journal fields of the current action on every record of the enclosing block. */
static void act_log_fields(struct agent *a)
{
        if (!a->have_act)
                return;
        (void)log_set_field("BERTH_ACTION_ID", a->act.id);
        if (a->act.name) {
                (void)log_set_field("BERTH_BUNDLE", a->act.name);
                (void)log_set_fieldf("BERTH_VERSION", "%lld", (long long)a->act.version);
        }
}
#define ACT_LOG_SCOPE(a)                                                                           \
        LOG_SCOPE(_act_scope);                                                                     \
        act_log_fields(a)

static void feedback(struct agent *a, const char *execution, const char *finished, const char *detail)
{
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = execution, .finished = finished, .details = detail ? details : NULL};
        outbox_feedback(a, a->act.id, &f, false);
}

static void feedback_progress(struct agent *a, const char *detail)
{
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_PROCEEDING, .finished = "none", .has_progress = true,
                                 .cnt = a->plan_done + a->cur_blob_have, .of = a->plan_bytes,
                                 .details = detail ? details : NULL};
        outbox_feedback(a, a->act.id, &f, true);
}

static const char *act_label(struct agent *a, char buf[200])
{
        if (a->act.name)
                snprintf(buf, 200, "%s %lld", a->act.name, (long long)a->act.version);
        else
                snprintf(buf, 200, "action %s", a->act.id);
        return buf;
}

/* Drops everything in flight for the current action (partial downloads stay on disk
 * and journaled: a later action for the same blobs resumes them). */
static void act_release(struct agent *a)
{
        http_req_cancel(a->head_req);
        a->head_req = NULL;
        blob_download_free(a->dl);
        a->dl = NULL;
        import_head_free(a->head);
        a->head = NULL;
        free(a->headbuf);
        a->headbuf = NULL;
        a->head_len = a->head_cap = a->head_want = 0;
        free(a->plan);
        a->plan = NULL;
        a->n_plan = a->plan_i = 0;
        a->plan_bytes = a->plan_done = a->cur_blob_have = a->fetched = 0;
        a->act_timer = sd_event_source_disable_unref(a->act_timer);
        a->act_failures = a->corrupt = 0;
        a->last_pct = -1;
        a->waiting_reported = false;
}

/* Partial downloads are kept across cancels and supersedes (the next action likely
 * wants the same blobs); once an update ends for good they are garbage. Journal rows
 * go first: a crash in between leaves files without rows, which a download truncates. */
static void purge_partials(struct agent *a)
{
        if (agentdb_download_clear(a->db) < 0)
                return;
        const char *dir = content_partial_dir(a->cs);
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
}

static void act_finish(struct agent *a, const char *state, const char *detail)
{
        char l[200];
        if (!strcmp(state, ACTION_INSTALLED) && detail)
                telemetry_event(a, "agent", "%s", detail); /* "installed NAME V: …" */
        else
                telemetry_event(a, "agent", "update %s %s%s%s", act_label(a, l), state, detail ? ": " : "",
                                detail ? detail : "");
        if (!strcmp(state, ACTION_INSTALLED))
                a->m.updates_ok++;
        else if (!strcmp(state, ACTION_FAILED))
                a->m.updates_failed++;
        else
                a->m.updates_canceled++;
        (void)agentdb_action_set_state(a->db, a->act.id, state, detail, agent_now());
        act_release(a);
        if (strcmp(state, ACTION_CANCELED))
                purge_partials(a);
        agent_action_clear(&a->act);
        a->have_act = false;
        a->update_allowed = -1;
        agent_status(a, "polling");
}

static void act_fail(struct agent *a, int r, const char *msg)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        log_error("agent: update %s failed: %s", act_label(a, l), msg);
        feedback(a, DDI_EXEC_CLOSED, "failure", msg);
        act_finish(a, ACTION_FAILED, msg);
}

static int on_act_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        act_step(ud);
        return 0;
}

static void act_later(struct agent *a, uint64_t ms)
{
        if (agent_timer(a, &a->act_timer, ms, on_act_timer, "update-step") < 0)
                log_error("agent: cannot arm the update timer");
}

/* Transient trouble (network, server): report, wait, try again. Never gives up by
 * itself; the server can cancel. */
static void act_retry(struct agent *a, int r, const char *msg)
{
        ACT_LOG_SCOPE(a);
        a->act_failures++;
        uint64_t d = backoff_delay_ms(&a->set.poll, a->act_failures, agent_random());
        char l[200], detail[700];
        snprintf(detail, sizeof detail, "download interrupted (%s); retrying in %.1f s", msg, (double)d / 1000);
        if (a->act_failures == 1)
                log_warning("agent: %s: %s", act_label(a, l), detail);
        else
                log_debug("agent: %s: %s", act_label(a, l), detail);
        agent_status(a, "%s: download interrupted; retry in %.1f s", act_label(a, l), (double)d / 1000);
        feedback_progress(a, detail);
        act_later(a, d);
}

/* ---- switching (issue 7 hook) --------------------------------------------------- */

/* Makes the staged bundle the running one. Must be idempotent: a crash in `switching`
 * calls it again. Issue 7 replaces the body with the workload switch. */
static int switch_bundle(struct agent *a, berr *e)
{
        char key[BUNDLE_MAX_NAME_LEN + 16], ver[32];
        snprintf(key, sizeof key, "current/%s", a->act.name);
        snprintf(ver, sizeof ver, "%lld", (long long)a->act.version);
        int r = agentdb_kv_set(a->db, key, ver);
        if (r < 0)
                return berr_set(e, r, "cannot record %s %s as current", a->act.name, ver);
        return 0;
}

/* Does the imported bundle version declare workloads? */
static bool bundle_has_workloads(struct agent *a)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        if (db_get_manifest(a->db, a->act.name, a->act.version, &buf, &len) < 0)
                return false;
        _cleanup_(bundle_manifest_freep) struct bundle_manifest *m = NULL;
        berr e = {0};
        if (bundle_manifest_parse(buf, len, &m, &e) < 0)
                return false;
        json_t *w = json_object_get(m->root, "workloads");
        return json_is_array(w) ? json_array_size(w) > 0 : json_is_object(w) && json_object_size(w) > 0;
}

static void switch_done(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200], detail[400];
        act_label(a, l);
        berr e = {0};
        int r = switch_bundle(a, &e);
        if (r < 0) {
                act_fail(a, r, berr_msg(&e, r));
                return;
        }
        snprintf(detail, sizeof detail, "installed %s: %llu bytes downloaded, %llu blob(s) reused", l,
                 (unsigned long long)a->fetched, (unsigned long long)(a->head ? import_head_manifest(a->head)->n_blobs -
                                                                                      a->n_plan : 0));
        log_info("agent: %s", detail);
        feedback(a, DDI_EXEC_CLOSED, "success", detail);
        act_finish(a, ACTION_INSTALLED, detail);
}

/* The workload switch: starts the engine's update on first entry, then (called again
 * after every engine round and on resume) waits until it is committed or rolled back. */
static void switch_workloads(struct agent *a, bool fresh)
{
        ACT_LOG_SCOPE(a);
        const char *name = a->act.name;
        if (workload_update_busy(a->eng, name))
                return;
        struct wstate_update u;
        if (!fresh && wstate_latest(a->db, name, false, &u) > 0 && u.to_version == a->act.version &&
            wstate_finished(u.state)) {
                if (u.state == WSTATE_COMMITTED) {
                        switch_done(a);
                        return;
                }
                char msg[1400];
                snprintf(msg, sizeof msg, "rolled back to version %lld: %s", (long long)u.from_version,
                         u.evidence[0] ? u.evidence : "the new version failed");
                act_fail(a, -EIO, msg);
                return;
        }
        berr e = {0};
        int r = workload_update_start(a->eng, name, a->act.version, true, &e);
        if (r == -EALREADY) {
                switch_done(a);
                return;
        }
        if (r < 0) {
                act_fail(a, r, berr_msg(&e, r));
                return;
        }
        workloads_kick(a);
}

static void do_switch(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        act_label(a, l);
        bool fresh = false;
        /* Persisted first: after a crash from here on, resume switches again. */
        if (strcmp(a->act.state, ACTION_SWITCHING)) {
                (void)agentdb_action_set_state(a->db, a->act.id, ACTION_SWITCHING, NULL, agent_now());
                snprintf(a->act.state, sizeof a->act.state, "%s", ACTION_SWITCHING);
                feedback(a, DDI_EXEC_PROCEEDING, "none", "switching");
                telemetry_event(a, "agent", "update %s switching", l);
                fresh = true;
        }
        agent_status(a, "switching to %s", l);
        if (a->eng && bundle_has_workloads(a)) {
                switch_workloads(a, fresh);
                return;
        }
        switch_done(a);
}

void update_on_workloads(struct agent *a)
{
        if (a->have_act && !strcmp(a->act.state, ACTION_SWITCHING) && !a->head_req && !a->dl)
                do_switch(a);
}

static void maybe_switch(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        act_label(a, l);
        if (a->act.download_only) {
                char detail[300];
                snprintf(detail, sizeof detail, "downloaded and preloaded %s (download only)", l);
                feedback(a, DDI_EXEC_DOWNLOADED, "success", detail);
                feedback(a, DDI_EXEC_CLOSED, "success", detail);
                log_info("agent: %s", detail);
                act_finish(a, ACTION_INSTALLED, detail);
                return;
        }
        int64_t wait = window_wait(&a->set.window, agent_now());
        if (a->update_allowed == 1 && wait == 0) {
                do_switch(a);
                return;
        }
        const char *why = a->update_allowed == 1 ? "the local maintenance window (update.maintenance_window)"
                          : a->update_allowed == 0 ? "the server's maintenance window"
                                                   : "the server's go-ahead";
        agent_status(a, "%s staged; waiting for %s", l, why);
        if (!a->waiting_reported) {
                char detail[400];
                snprintf(detail, sizeof detail, "%s staged (downloaded and preloaded); waiting for %s", l, why);
                log_info("agent: %s", detail);
                feedback(a, DDI_EXEC_DOWNLOADED, "none", detail);
                a->waiting_reported = true;
        }
        if (a->update_allowed == 1 && wait > 0)
                act_later(a, (uint64_t)wait * 1000);
}

/* ---- fetching: blobs ------------------------------------------------------------ */

static void download_next(struct agent *a);

static void commit(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        agent_status(a, "%s: importing into the store", act_label(a, l));
        struct import_opts o = {
                .state_dir = a->set.state_dir,
                .trust_dir = a->set.trust_dir,
                .source = "ddi",
                .backends = a->backends,
                .n_backends = a->n_backends, .config = a->cfg,
        };
        struct import_result res;
        berr e = {0};
        int r = berth_import_stored(&o, a->act.head, a->act.head_len, &res, &e);
        if (r == -ENOENT) {
                /* A blob vanished from the store (garbage collection?): plan again. */
                free(a->plan);
                a->plan = NULL;
                act_retry(a, r, berr_msg(&e, r));
                return;
        }
        if (r < 0) {
                act_fail(a, r, berr_msg(&e, r));
                return;
        }
        (void)agentdb_action_set_state(a->db, a->act.id, ACTION_STAGED, NULL, agent_now());
        snprintf(a->act.state, sizeof a->act.state, "%s", ACTION_STAGED);
        uint64_t us = agent_mono_usec(a) - a->fetch_start_usec;
        log_info("agent: %s stored and preloaded: %llu bytes downloaded in %.2f s (%.0f KiB/s)", l,
                 (unsigned long long)a->fetched, (double)us / 1e6,
                 us ? (double)a->fetched / 1024.0 / ((double)us / 1e6) : 0.0);
        telemetry_event(a, "agent", "update %s staged: %llu bytes downloaded", l, (unsigned long long)a->fetched);
        telemetry_kick(a); /* the download no longer holds telemetry back */
        maybe_switch(a);
}

static void on_blob_progress(void *ud, uint64_t have)
{
        struct agent *a = ud;
        a->cur_blob_have = have;
        uint64_t done = a->plan_done + have;
        int pct = a->plan_bytes ? (int)(done * 100 / a->plan_bytes) : 100;
        uint64_t now = agent_mono_usec(a);
        if (pct != a->last_pct) {
                char l[200];
                agent_status(a, "downloading %s: %d%%", act_label(a, l), pct);
        }
        if (pct != a->last_pct && now - a->last_progress_usec >= 1000000) {
                a->last_progress_usec = now;
                a->last_pct = pct;
                feedback_progress(a, NULL);
        }
}

static void on_blob_done(void *ud, int r, const berr *e)
{
        struct agent *a = ud;
        ACT_LOG_SCOPE(a);
        const struct fetch_range *fr = &a->plan[a->plan_i];
        const struct bundle_blob *b = &import_head_manifest(a->head)->blobs[fr->blob];
        a->fetched += blob_download_fetched(a->dl);
        a->m.bytes_downloaded += blob_download_fetched(a->dl);
        if (r == 0)
                a->m.blobs_verified++;
        else if (r == -EBADMSG)
                a->m.blobs_corrupt++;
        blob_download_free(a->dl);
        a->dl = NULL;
        a->cur_blob_have = 0;
        if (r == -EBADMSG && ++a->corrupt >= MAX_CORRUPT) {
                act_fail(a, r, berr_msg(e, r));
                return;
        }
        if (r == -ENOSPC || r == -EDQUOT) {
                char msg[600];
                snprintf(msg, sizeof msg, "disk full while downloading blob %s into %s: %s", b->digest, a->set.state_dir,
                         berr_msg(e, r));
                act_fail(a, r, msg);
                return;
        }
        if (r == -EPROTO && e && strstr(e->msg, "HTTP 4")) {
                act_fail(a, r, berr_msg(e, r));
                return;
        }
        if (r < 0) {
                act_retry(a, r, berr_msg(e, r));
                return;
        }
        uint64_t us = agent_mono_usec(a) - a->blob_start_usec;
        if (fr->length >= 1024 * 1024 && us)
                log_info("agent: blob %s: %llu bytes in %.2f s (%.0f KiB/s)", b->digest, (unsigned long long)fr->length,
                         (double)us / 1e6, (double)fr->length / 1024.0 / ((double)us / 1e6));
        a->act_failures = 0;
        a->plan_done += fr->length;
        a->plan_i++;
        download_next(a);
}

static void download_next(struct agent *a)
{
        const struct bundle_manifest *m = import_head_manifest(a->head);
        while (a->plan_i < a->n_plan) {
                const struct fetch_range *fr = &a->plan[a->plan_i];
                const struct bundle_blob *b = &m->blobs[fr->blob];
                if (content_has(a->cs, b->digest, b->size)) {
                        /* Another action or an import stored it meanwhile. */
                        a->plan_done += fr->length;
                        a->plan_i++;
                        continue;
                }
                struct http_req_opts req = agent_server_req(a, a->act.url);
                req.max_recv_speed = a->set.bandwidth;
                req.stall_seconds = a->set.stall_timeout;
                struct blob_download_opts o = {
                        .http = a->http,
                        .req = &req,
                        .chunk_size = a->set.chunk_size,
                        .db = a->db,
                        .cs = a->cs,
                        .digest = b->digest,
                        .size = b->size,
                        .offset = fr->offset,
                        .progress = on_blob_progress,
                        .done = on_blob_done,
                        .userdata = a,
                };
                berr e = {0};
                a->blob_start_usec = agent_mono_usec(a);
                int r = blob_download_start(&o, &a->dl, &e);
                if (r == 1) {
                        a->plan_done += fr->length;
                        a->plan_i++;
                        continue;
                }
                if (r < 0) {
                        a->dl = NULL;
                        if (r == -ENOSPC || r == -EDQUOT)
                                act_fail(a, r, berr_msg(&e, r));
                        else
                                act_retry(a, r, berr_msg(&e, r));
                }
                return;
        }
        commit(a);
}

static bool have_blob(void *ud, const struct bundle_blob *b)
{
        struct agent *a = ud;
        return content_has(a->cs, b->digest, b->size);
}

static void start_fetching(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200], msg[600];
        act_label(a, l);
        berr e = {0};
        if (!a->head) {
                struct import_opts o = {.state_dir = a->set.state_dir, .trust_dir = a->set.trust_dir, .config = a->cfg};
                int r = import_head_verify(&o, a->act.head, a->act.head_len, &a->head, &e);
                if (r < 0) {
                        act_fail(a, r, berr_msg(&e, r));
                        return;
                }
        }
        const struct bundle_manifest *m = import_head_manifest(a->head);
        free(a->plan);
        a->plan = NULL;
        int r = fetch_plan(m, have_blob, a, &a->plan, &a->n_plan, &a->plan_bytes);
        if (r < 0) {
                act_retry(a, r, "out of memory");
                return;
        }
        a->plan_i = 0;
        a->plan_done = 0;
        /* Free space: what is still missing (minus what partial files already hold)
         * plus a margin for the database and the preload. */
        uint64_t partial = 0;
        for (size_t i = 0; i < a->n_plan; i++) {
                uint64_t good = 0;
                if (agentdb_download_get(a->db, m->blobs[a->plan[i].blob].digest, &good) > 0 && good <= a->plan[i].length)
                        partial += good;
        }
        uint64_t need = a->plan_bytes - partial + a->set.space_margin, avail = 0;
        if (a->n_plan && fs_free_bytes(a->set.state_dir, &avail) >= 0 && avail < need) {
                snprintf(msg, sizeof msg, "not enough disk space for %s: it needs %llu MiB in %s but only %llu MiB are "
                         "free; free some space (or enlarge the state filesystem) and deploy again", l,
                         (unsigned long long)((need + (1 << 20) - 1) >> 20), a->set.state_dir,
                         (unsigned long long)(avail >> 20));
                act_fail(a, -ENOSPC, msg);
                return;
        }
        if (a->act_failures == 0) {
                snprintf(msg, sizeof msg, "verified %s: %zu of %zu blob(s) to fetch (%llu bytes), %zu already on this node",
                         l, a->n_plan, m->n_blobs, (unsigned long long)a->plan_bytes, m->n_blobs - a->n_plan);
                log_info("agent: %s", msg);
                feedback_progress(a, msg);
        }
        agent_status(a, "downloading %s: %d%%", l, a->plan_bytes ? 0 : 100);
        if (a->act_failures == 0) {
                a->fetch_start_usec = agent_mono_usec(a);
                a->fetched = 0;
        }
        download_next(a);
}

/* ---- new: the head ---------------------------------------------------------------- */

static void head_fetch(struct agent *a);

static int head_data(void *ud, const struct http_response *resp, const void *buf, size_t len)
{
        struct agent *a = ud;
        const uint8_t *p = buf;
        if (resp->bytes_received == len) {
                if (resp->status == 206) {
                        if (!resp->has_content_range || resp->range_start != a->head_req_start)
                                return -EPROTO;
                        a->head_skip = 0;
                } else
                        a->head_skip = a->head_req_start;
        }
        if (a->head_skip) {
                size_t k = len < a->head_skip ? len : (size_t)a->head_skip;
                a->head_skip -= k;
                p += k;
                len -= k;
        }
        if (len > a->head_want - a->head_len)
                len = (size_t)(a->head_want - a->head_len);
        if (a->head_len + len > a->head_cap) {
                size_t nc = a->head_want;
                uint8_t *nb = realloc(a->headbuf, nc);
                if (!nb)
                        return -ENOMEM;
                a->headbuf = nb;
                a->head_cap = nc;
        }
        memcpy(a->headbuf + a->head_len, p, len);
        a->head_len += len;
        uint64_t need;
        int k = fetch_head_need(a->headbuf, a->head_len, &need);
        if (k < 0) {
                a->head_bad = true;
                return -EBADMSG;
        }
        if (k == 0 && a->head_len >= need) {
                a->head_len = need;
                a->head_complete = true;
                return -ECANCELED; /* enough: stop this transfer */
        }
        if (a->head_len >= a->head_want)
                return -ECANCELED; /* this round is done; the next asks for more */
        return 0;
}

static void head_verified(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        const struct bundle_manifest *m = import_head_manifest(a->head);
        int r = agentdb_action_set_head(a->db, a->act.id, a->headbuf, a->head_len, m->name, m->version, agent_now());
        if (r < 0) {
                act_retry(a, r, "cannot store the verified head in the database");
                return;
        }
        free(a->act.head);
        a->act.head = TAKE_PTR(a->headbuf);
        a->act.head_len = a->head_len;
        a->head_cap = 0;
        free(a->act.name);
        a->act.name = strdup(m->name);
        a->act.version = m->version;
        snprintf(a->act.state, sizeof a->act.state, "%s", ACTION_FETCHING);
        start_fetching(a);
}

static void head_done(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct agent *a = ud;
        a->head_req = NULL;
        char msg[700];
        if (a->head_bad) {
                snprintf(msg, sizeof msg, "%s is not a .berth bundle (its first entries are not manifest.json and "
                         "signatures.json within the size limits)", a->act.url);
                act_fail(a, -EBADMSG, msg);
                return;
        }
        if (a->head_complete) {
                berr e = {0};
                struct import_opts o = {.state_dir = a->set.state_dir, .trust_dir = a->set.trust_dir, .config = a->cfg};
                r = import_head_verify(&o, a->headbuf, a->head_len, &a->head, &e);
                if (r < 0) {
                        char l[200];
                        snprintf(msg, sizeof msg, "%s refused: %s", act_label(a, l), berr_msg(&e, r));
                        act_fail(a, r, msg);
                        return;
                }
                head_verified(a);
                return;
        }
        if (r < 0 && r != -ECANCELED) {
                act_retry(a, r, berr_msg(he, r));
                return;
        }
        if (resp->status >= 400 && resp->status < 500 && resp->status != 408 && resp->status != 429) {
                snprintf(msg, sizeof msg, "cannot download %s: HTTP %ld", a->act.url, resp->status);
                act_fail(a, -EPROTO, msg);
                return;
        }
        if (resp->status < 200 || resp->status >= 300) {
                snprintf(msg, sizeof msg, "%s: HTTP %ld", a->act.url, resp->status);
                act_retry(a, -EAGAIN, msg);
                return;
        }
        if (r == 0 && a->head_len < a->head_want && resp->status == 206 &&
            resp->range_end + 1 < a->head_want && resp->range_total != UINT64_MAX &&
            resp->range_end + 1 >= resp->range_total) {
                snprintf(msg, sizeof msg, "%s ends after %llu bytes, inside the bundle head: not a complete .berth",
                         a->act.url, (unsigned long long)resp->range_total);
                act_fail(a, -EBADMSG, msg);
                return;
        }
        /* More of the head is needed (a large manifest): ask for the rest. */
        uint64_t need;
        if (fetch_head_need(a->headbuf, a->head_len, &need) >= 0 && need > a->head_want)
                a->head_want = need;
        head_fetch(a);
}

static void head_fetch(struct agent *a)
{
        if (!a->head_want)
                a->head_want = a->act.size && a->act.size < HEAD_FIRST_FETCH ? a->act.size : HEAD_FIRST_FETCH;
        if (a->head_len >= a->head_want) {
                uint64_t need;
                if (fetch_head_need(a->headbuf, a->head_len, &need) < 0 || need <= a->head_len) {
                        act_fail(a, -EBADMSG, "the artifact is not a .berth bundle");
                        return;
                }
                a->head_want = need;
        }
        a->head_bad = a->head_complete = false;
        a->head_req_start = a->head_len;
        struct http_req_opts o = agent_server_req(a, a->act.url);
        o.has_range = true;
        o.range_start = a->head_len;
        o.range_end = a->head_want - 1;
        o.max_recv_speed = a->set.bandwidth;
        o.stall_seconds = a->set.stall_timeout;
        o.on_data = head_data;
        o.on_done = head_done;
        berr e = {0};
        char l[200];
        agent_status(a, "fetching the manifest of %s", act_label(a, l));
        int r = http_start(a->http, &o, &a->head_req, &e);
        if (r < 0)
                act_retry(a, r, berr_msg(&e, r));
}

static void act_step(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        if (!a->have_act)
                return;
        if (a->head_req || a->dl)
                return; /* already working */
        const char *s = a->act.state;
        if (!strcmp(s, ACTION_NEW)) {
                a->head_len = 0;
                a->head_want = 0;
                head_fetch(a);
        } else if (!strcmp(s, ACTION_FETCHING))
                start_fetching(a);
        else if (!strcmp(s, ACTION_STAGED))
                maybe_switch(a);
        else if (!strcmp(s, ACTION_SWITCHING))
                do_switch(a);
}

/* ---- entry points --------------------------------------------------------------- */

void update_on_deployment(struct agent *a, const struct ddi_deployment *d)
{
        if (!d)
                return;
        int allowed = d->update != DDI_SKIP && d->maintenance != 0;
        if (a->have_act && !strcmp(a->act.id, d->id)) {
                a->update_allowed = allowed;
                if (!strcmp(a->act.state, ACTION_STAGED))
                        maybe_switch(a);
                return;
        }
        struct agent_action old;
        int k = agentdb_action_get(a->db, d->id, &old);
        if (k > 0) {
                /* Known and finished: its final feedback is in the outbox or on its way. */
                agent_action_clear(&old);
                if (!a->outbox_req)
                        outbox_kick(a);
                return;
        }
        if (k < 0) {
                log_error("agent: cannot read action %s from the database", d->id);
                return;
        }
        if (a->have_act) {
                char l[200], msg[300];
                snprintf(msg, sizeof msg, "superseded by action %s", d->id);
                log_info("agent: %s %s", act_label(a, l), msg);
                act_finish(a, ACTION_CANCELED, msg);
        }
        bool download_only = d->update == DDI_SKIP && d->maintenance < 0;
        if (agentdb_action_insert(a->db, d->id, d->download, d->size, download_only, agent_now()) < 0 ||
            agentdb_action_get(a->db, d->id, &a->act) <= 0) {
                log_error("agent: cannot record action %s in the database", d->id);
                return;
        }
        a->have_act = true;
        a->update_allowed = allowed;
        ACT_LOG_SCOPE(a);
        log_info("agent: action %s: %s %s (%s, %llu bytes)%s", d->id, d->name, d->version, d->filename,
                 (unsigned long long)d->size, download_only ? " download only" : "");
        char detail[400];
        snprintf(detail, sizeof detail, "accepted %s %s (%s)", d->name, d->version, d->filename);
        feedback(a, DDI_EXEC_PROCEEDING, "none", detail);
        act_step(a);
}

void update_on_cancel(struct agent *a, const struct ddi_cancel *c)
{
        ACT_LOG_SCOPE(a);
        char path[200];
        snprintf(path, sizeof path, "/cancelAction/%s/feedback", c->id);
        const char *exec = DDI_EXEC_CLOSED, *finished = "success", *detail = "nothing to cancel";
        char buf[300];
        if (a->have_act && !strcmp(a->act.id, c->stop_id)) {
                if (!strcmp(a->act.state, ACTION_SWITCHING)) {
                        exec = DDI_EXEC_REJECTED;
                        finished = "none";
                        detail = "the switch is already in progress";
                } else {
                        char l[200];
                        snprintf(buf, sizeof buf, "canceled %s in state %s", act_label(a, l), a->act.state);
                        detail = buf;
                        log_info("agent: %s", buf);
                        act_finish(a, ACTION_CANCELED, buf);
                }
        } else {
                struct agent_action old;
                if (agentdb_action_get(a->db, c->stop_id, &old) > 0) {
                        if (!strcmp(old.state, ACTION_INSTALLED)) {
                                exec = DDI_EXEC_REJECTED;
                                finished = "none";
                                detail = "already installed";
                        } else
                                detail = "already stopped";
                        agent_action_clear(&old);
                }
        }
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = exec, .finished = finished, .details = details};
        _cleanup_free_ char *body = ddi_feedback_json(&f);
        if (body)
                outbox_put(a, "cancelFeedback", "POST", path, body);
}

void update_resume(struct agent *a)
{
        int k = agentdb_action_open(a->db, &a->act);
        if (k <= 0)
                return;
        a->have_act = true;
        ACT_LOG_SCOPE(a);
        char l[200];
        log_info("agent: resuming %s (action %s) in state %s", act_label(a, l), a->act.id, a->act.state);
        act_later(a, 0);
}

void update_stop(struct agent *a)
{
        act_release(a);
        agent_action_clear(&a->act);
        a->have_act = false;
}

json_t *update_status_json(struct agent *a)
{
        if (!a->have_act)
                return json_null();
        uint64_t done = a->plan_done + a->cur_blob_have;
        return json_pack("{s:s,s:s,s:s?,s:I,s:s,s:I,s:I,s:b}", "id", a->act.id, "state", a->act.state, "bundle",
                         a->act.name, "version", (json_int_t)a->act.version, "url", a->act.url, "bytesDone",
                         (json_int_t)done, "bytesTotal", (json_int_t)a->plan_bytes, "downloadOnly",
                         a->act.download_only);
}
