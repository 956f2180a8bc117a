/* SPDX-License-Identifier: Apache-2.0 */
/* update.c — the node update state machine for one DDI action at a time:
 *
 *   new ──head fetched + verified──► fetching ──all blobs stored, recorded, preloaded──►
 *   staged ──window open (server and local)──► switching ──► installed
 *   (any non-final state) ──► failed | canceled
 *
 * Each state is written to agent_actions before the work that follows it (a write that
 * fails stops the step: nothing proceeds on an unrecorded state), and each step is
 * idempotent, so after a crash update_resume() re-enters the stored state: a verified
 * head is kept in the row, blob downloads resume from their journal, the store import
 * of an already recorded bundle is a no-op. A final state and its final feedback are
 * one transaction (agentdb_action_finish): the server hears the outcome exactly once.
 * Network trouble never fails an action (retried with backoff, reported as progress);
 * a bundle that fails verification, is refused (version, expiry, policy) or does not
 * fit on disk does.
 *
 * `switching` hands the bundle to the workload engine when containerd is configured
 * (every bundle, with or without workloads: the engine owns "what runs now" in
 * workload_current). The engine's own states are a layer below `switching`, driven from
 * here: a staged engine update for this version is told to proceed, one for another
 * version is abandoned; the action ends as installed (committed) or failed (rolled back,
 * with the probe evidence). Without an engine the version is recorded as current in
 * the same table. agent/daemon/README.md has the table of states and transitions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "bundle/format.h"
#include "daemon/agent_int.h"
#include "sched/backoff.h"
#include "bundle/manifest.h"
#include "fetch/head.h"
#include "store/db.h"
#include "store/wstate.h"
#include "workload/engine.h"

#define MAX_CORRUPT 3           /* a blob that keeps failing its digest fails the action */

static void act_step(struct agent *a);

/* Journal fields of the current action on every record of the enclosing block. */
static void act_log_fields(struct agent *a)
{
        if (!a->upd.have_act)
                return;
        (void)log_set_field("BERTH_ACTION_ID", a->upd.act.id);
        if (a->upd.act.name) {
                (void)log_set_field("BERTH_BUNDLE", a->upd.act.name);
                (void)log_set_fieldf("BERTH_VERSION", "%lld", (long long)a->upd.act.version);
        }
}
#define ACT_LOG_SCOPE(a)                                                                           \
        LOG_SCOPE(_act_scope);                                                                     \
        act_log_fields(a)

static void feedback(struct agent *a, const char *execution, const char *finished, const char *detail)
{
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = execution, .finished = finished, .details = detail ? details : NULL};
        outbox_feedback(a, a->upd.act.id, &f, false);
}

/* Progress against the bytes the action lacked at its first plan: the total never
 * changes, and what earlier runs (or a crash's partial files) brought counts as done. */
static uint64_t progress_done(const struct agent *a)
{
        uint64_t left = a->upd.plan_bytes - a->upd.plan_done - a->upd.cur_blob_have;
        return a->upd.act.total > left ? a->upd.act.total - left : 0;
}

static void feedback_progress(struct agent *a, const char *detail)
{
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_PROCEEDING, .finished = "none", .has_progress = true,
                                 .cnt = progress_done(a), .of = a->upd.act.total,
                                 .details = detail ? details : NULL};
        outbox_feedback(a, a->upd.act.id, &f, true);
}

static const char *act_label(struct agent *a, char buf[200])
{
        if (a->upd.act.name)
                snprintf(buf, 200, "%s %lld", a->upd.act.name, (long long)a->upd.act.version);
        else
                snprintf(buf, 200, "action %s", a->upd.act.id);
        return buf;
}

/* Drops everything in flight for the current action (partial downloads stay on disk
 * and journaled: a later action for the same blobs resumes them). */
static void act_release(struct agent *a)
{
        head_fetch_free(a->upd.headf);
        a->upd.headf = NULL;
        blob_download_free(a->upd.dl);
        a->upd.dl = NULL;
        import_head_free(a->upd.head);
        a->upd.head = NULL;
        free(a->upd.plan);
        a->upd.plan = NULL;
        a->upd.n_plan = a->upd.plan_i = 0;
        a->upd.plan_bytes = a->upd.plan_done = a->upd.cur_blob_have = a->upd.fetched = 0;
        a->upd.act_timer = sd_event_source_disable_unref(a->upd.act_timer);
        a->upd.act_failures = a->upd.corrupt = 0;
        a->upd.last_pct = -1;
        a->upd.waiting_reported = false;
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

static void act_later(struct agent *a, uint64_t ms);

/* A state write failed: the step stops here and is retried from the persisted state
 * (fail closed). Everything in flight is dropped; nothing was reported. */
static void act_stuck(struct agent *a, int r, const char *what)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        act_release(a);
        a->upd.act_failures++;
        uint64_t d = backoff_delay_ms(&a->set.poll, a->upd.act_failures, agent_random());
        log_error("agent: %s: cannot record %s in %s/berth.db (%s); nothing proceeds until it is recorded, "
                  "retrying in %.1f s", act_label(a, l), what, a->set.state_dir,
                  r == -ENOSPC ? "the state disk is full: free space on it" : strerror(-r), (double)d / 1000);
        agent_status(a, "%s: cannot record %s (%s); retry in %.1f s", l, what, strerror(-r), (double)d / 1000);
        act_later(a, d);
}

/* Ends the action: the final state and the final feedback f in one transaction. */
static int act_finish(struct agent *a, const char *state, const char *detail, const struct ddi_feedback *f)
{
        char l[200];
        FAULT_POINT("update.before_final");
        int r = outbox_finish(a, a->upd.act.id, state, detail, f);
        if (r < 0) {
                char what[64];
                snprintf(what, sizeof what, "the final state '%s'", state);
                act_stuck(a, r, what);
                return r;
        }
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
        act_release(a);
        if (strcmp(state, ACTION_CANCELED))
                purge_partials(a);
        agent_action_clear(&a->upd.act);
        a->upd.have_act = false;
        a->upd.update_allowed = -1;
        agent_status(a, "polling");
        return 0;
}

static void act_fail(struct agent *a, int r, const char *msg)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        log_error("agent: update %s failed: %s", act_label(a, l), msg);
        const char *details[] = {msg, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_CLOSED, .finished = "failure", .details = details};
        act_finish(a, ACTION_FAILED, msg, &f);
}

static int on_act_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        act_step(ud);
        return 0;
}

static void act_later(struct agent *a, uint64_t ms)
{
        if (agent_timer(a, &a->upd.act_timer, ms, on_act_timer, "update-step") < 0)
                log_error("agent: cannot arm the update timer");
}

/* Transient trouble (network, server): report, wait, try again. Never gives up by
 * itself; the server can cancel. */
static void act_retry(struct agent *a, int r, const char *msg)
{
        ACT_LOG_SCOPE(a);
        a->upd.act_failures++;
        uint64_t d = backoff_delay_ms(&a->set.poll, a->upd.act_failures, agent_random());
        char l[200], detail[700];
        snprintf(detail, sizeof detail, "download interrupted (%s); retrying in %.1f s", msg, (double)d / 1000);
        if (a->upd.act_failures == 1)
                log_warning("agent: %s: %s", act_label(a, l), detail);
        else
                log_debug("agent: %s: %s", act_label(a, l), detail);
        agent_status(a, "%s: download interrupted; retry in %.1f s", act_label(a, l), (double)d / 1000);
        feedback_progress(a, detail);
        act_later(a, d);
}

/* ---- switching ------------------------------------------------------------------ */

/* What the action reports when it ends well. Bytes and blobs are the action's own,
 * summed over every restart of the agent (agent_actions.fetched). */
static void outcome_detail(struct agent *a, const char *what, char *buf, size_t size)
{
        char l[200];
        size_t n = a->upd.head ? import_head_manifest(a->upd.head)->n_blobs : 0;
        size_t got = a->upd.act.blobs_fetched < n ? (size_t)a->upd.act.blobs_fetched : n;
        snprintf(buf, size, "%s %s: %llu bytes downloaded, %zu of %zu blob(s) fetched, %zu already on this node", what,
                 act_label(a, l), (unsigned long long)a->upd.act.fetched, got, n, n - got);
}

static void switch_done(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char detail[400];
        outcome_detail(a, "installed", detail, sizeof detail);
        log_info("agent: %s", detail);
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_CLOSED, .finished = "success", .details = details};
        act_finish(a, ACTION_INSTALLED, detail, &f);
}

/* Without a workload engine: the version becomes current in workload_current. */
static void switch_record(struct agent *a)
{
        berr e = {0};
        int r = wstate_record_current(a->db, a->upd.act.name, a->upd.act.version, agent_now() * 1000, &e);
        if (r == -EBUSY) {
                act_fail(a, r, berr_msg(&e, r));
                return;
        }
        if (r < 0) {
                act_stuck(a, r, "the new current version");
                return;
        }
        switch_done(a);
}

/* The workload switch: starts the engine's update on first entry, then (called again
 * after every engine round and on resume) waits until it is committed or rolled back. */
static void switch_workloads(struct agent *a, bool fresh)
{
        ACT_LOG_SCOPE(a);
        const char *name = a->upd.act.name;
        berr e = {0};
        int r;
        struct wstate_update u;
        if (workload_update_busy(a->eng, name)) {
                if (wstate_latest(a->db, name, true, &u) <= 0 || u.state != WSTATE_STAGED)
                        return; /* switching, probing or rolling back: the engine calls again */
                if (u.to_version == a->upd.act.version) {
                        /* Staged for this action (before a crash, or by the CLI): go on. */
                        if (workload_update_proceed(a->eng, name, &e) >= 0)
                                workloads_kick(a);
                        return;
                }
                char why[200];
                snprintf(why, sizeof why, "abandoned before switching: action %s installs version %lld", a->upd.act.id,
                         (long long)a->upd.act.version);
                r = workload_update_abandon(a->eng, name, why, &e);
                if (r < 0) {
                        act_stuck(a, r, "the abandoned engine update");
                        return;
                }
        }
        if (!fresh && wstate_latest(a->db, name, false, &u) > 0 && u.to_version == a->upd.act.version &&
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
        r = workload_update_start(a->eng, name, a->upd.act.version, true, &e);
        if (r == -EALREADY) {
                switch_done(a);
                return;
        }
        if (r < 0) {
                act_fail(a, r, berr_msg(&e, r));
                return;
        }
        FAULT_POINT("update.after_engine_staged");
        workloads_kick(a);
}

static void do_switch(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        act_label(a, l);
        bool fresh = false;
        /* Persisted first: after a crash from here on, resume switches again. */
        if (strcmp(a->upd.act.state, ACTION_SWITCHING)) {
                int r = agentdb_action_set_state(a->db, a->upd.act.id, ACTION_SWITCHING, NULL, agent_now());
                if (r < 0) {
                        act_stuck(a, r, "the state 'switching'");
                        return;
                }
                FAULT_POINT("update.after_switching");
                snprintf(a->upd.act.state, sizeof a->upd.act.state, "%s", ACTION_SWITCHING);
                feedback(a, DDI_EXEC_PROCEEDING, "none", "switching");
                telemetry_event(a, "agent", "update %s switching", l);
                fresh = true;
        }
        agent_status(a, "switching to %s", l);
        if (a->eng) {
                switch_workloads(a, fresh);
                return;
        }
        switch_record(a);
}

void update_on_workloads(struct agent *a)
{
        if (a->upd.have_act && !strcmp(a->upd.act.state, ACTION_SWITCHING) && !a->upd.headf && !a->upd.dl)
                do_switch(a);
}

static void maybe_switch(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        act_label(a, l);
        if (a->upd.act.download_only) {
                /* hawkBit ends a download-only action with "downloaded": sent once. */
                char detail[400];
                outcome_detail(a, "downloaded and preloaded (download only)", detail, sizeof detail);
                log_info("agent: %s", detail);
                const char *details[] = {detail, NULL};
                struct ddi_feedback f = {.execution = DDI_EXEC_DOWNLOADED, .finished = "success", .details = details};
                act_finish(a, ACTION_INSTALLED, detail, &f);
                return;
        }
        int64_t wait = window_wait(&a->set.window, agent_now());
        if (a->upd.update_allowed == 1 && wait == 0) {
                do_switch(a);
                return;
        }
        const char *why = a->upd.update_allowed == 1 ? "the local maintenance window (update.maintenance_window)"
                          : a->upd.update_allowed == 0 ? "the server's maintenance window"
                                                   : "the server's go-ahead";
        agent_status(a, "%s staged; waiting for %s", l, why);
        if (!a->upd.waiting_reported) {
                char detail[400];
                snprintf(detail, sizeof detail, "%s staged (downloaded and preloaded); waiting for %s", l, why);
                log_info("agent: %s", detail);
                feedback(a, DDI_EXEC_DOWNLOADED, "none", detail);
                a->upd.waiting_reported = true;
        }
        if (a->upd.update_allowed == 1 && wait > 0)
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
        int r = berth_import_stored(&o, a->upd.act.head, a->upd.act.head_len, &res, &e);
        if (r == -ENOENT) {
                /* A blob vanished from the store (garbage collection?): plan again. */
                free(a->upd.plan);
                a->upd.plan = NULL;
                act_retry(a, r, berr_msg(&e, r));
                return;
        }
        if (r < 0) {
                act_fail(a, r, berr_msg(&e, r));
                return;
        }
        r = agentdb_action_set_state(a->db, a->upd.act.id, ACTION_STAGED, NULL, agent_now());
        if (r < 0) {
                act_stuck(a, r, "the state 'staged'");
                return;
        }
        FAULT_POINT("update.after_staged");
        snprintf(a->upd.act.state, sizeof a->upd.act.state, "%s", ACTION_STAGED);
        uint64_t us = agent_mono_usec(a) - a->upd.fetch_start_usec;
        log_info("agent: %s stored and preloaded: %llu bytes downloaded in %.2f s (%.0f KiB/s)", l,
                 (unsigned long long)a->upd.fetched, (double)us / 1e6,
                 us ? (double)a->upd.fetched / 1024.0 / ((double)us / 1e6) : 0.0);
        telemetry_event(a, "agent", "update %s staged: %llu bytes downloaded", l, (unsigned long long)a->upd.fetched);
        telemetry_kick(a); /* the download no longer holds telemetry back */
        maybe_switch(a);
}

static void on_blob_progress(void *ud, uint64_t have)
{
        struct agent *a = ud;
        a->upd.cur_blob_have = have;
        uint64_t done = progress_done(a);
        int pct = a->upd.act.total ? (int)(done * 100 / a->upd.act.total) : 100;
        uint64_t now = agent_mono_usec(a);
        if (pct != a->upd.last_pct) {
                char l[200];
                agent_status(a, "downloading %s: %d%%", act_label(a, l), pct);
        }
        if (pct != a->upd.last_pct && now - a->upd.last_progress_usec >= 1000000) {
                a->upd.last_progress_usec = now;
                a->upd.last_pct = pct;
                feedback_progress(a, NULL);
        }
}

static void on_blob_done(void *ud, int r, const berr *e)
{
        struct agent *a = ud;
        ACT_LOG_SCOPE(a);
        const struct fetch_range *fr = &a->upd.plan[a->upd.plan_i];
        const struct bundle_blob *b = &import_head_manifest(a->upd.head)->blobs[fr->blob];
        uint64_t got = blob_download_fetched(a->upd.dl);
        a->upd.fetched += got;
        a->m.bytes_downloaded += got;
        if ((got || r == 0) && agentdb_action_add_fetched(a->db, a->upd.act.id, got, r == 0, agent_now()) >= 0) {
                a->upd.act.fetched += got;
                a->upd.act.blobs_fetched += r == 0;
        }
        if (r == 0)
                a->m.blobs_verified++;
        else if (r == -EBADMSG)
                a->m.blobs_corrupt++;
        blob_download_free(a->upd.dl);
        a->upd.dl = NULL;
        a->upd.cur_blob_have = 0;
        if (r == -EBADMSG && ++a->upd.corrupt >= MAX_CORRUPT) {
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
        uint64_t us = agent_mono_usec(a) - a->upd.blob_start_usec;
        if (fr->length >= 1024 * 1024 && us)
                log_info("agent: blob %s: %llu bytes in %.2f s (%.0f KiB/s)", b->digest, (unsigned long long)fr->length,
                         (double)us / 1e6, (double)fr->length / 1024.0 / ((double)us / 1e6));
        a->upd.act_failures = 0;
        a->upd.plan_done += fr->length;
        a->upd.plan_i++;
        download_next(a);
}

static void download_next(struct agent *a)
{
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        while (a->upd.plan_i < a->upd.n_plan) {
                const struct fetch_range *fr = &a->upd.plan[a->upd.plan_i];
                const struct bundle_blob *b = &m->blobs[fr->blob];
                if (content_has(a->cs, b->digest, b->size)) {
                        /* Another action or an import stored it meanwhile. */
                        a->upd.plan_done += fr->length;
                        a->upd.plan_i++;
                        continue;
                }
                struct http_req_opts req = agent_server_req(a, a->upd.act.url);
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
                a->upd.blob_start_usec = agent_mono_usec(a);
                int r = blob_download_start(&o, &a->upd.dl, &e);
                if (r == 1) {
                        a->upd.plan_done += fr->length;
                        a->upd.plan_i++;
                        continue;
                }
                if (r < 0) {
                        a->upd.dl = NULL;
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
        if (!a->upd.head) {
                struct import_opts o = {.state_dir = a->set.state_dir, .trust_dir = a->set.trust_dir, .config = a->cfg};
                int r = import_head_verify(&o, a->upd.act.head, a->upd.act.head_len, &a->upd.head, &e);
                if (r < 0) {
                        act_fail(a, r, berr_msg(&e, r));
                        return;
                }
        }
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        free(a->upd.plan);
        a->upd.plan = NULL;
        int r = fetch_plan(m, have_blob, a, &a->upd.plan, &a->upd.n_plan, &a->upd.plan_bytes);
        if (r < 0) {
                act_retry(a, r, "out of memory");
                return;
        }
        a->upd.plan_i = 0;
        a->upd.plan_done = 0;
        if (!a->upd.act.total && a->upd.plan_bytes) {
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
                if (agentdb_download_get(a->db, m->blobs[a->upd.plan[i].blob].digest, &good) > 0 && good <= a->upd.plan[i].length)
                        partial += good;
        }
        uint64_t need = a->upd.plan_bytes - partial + a->set.space_margin, avail = 0;
        if (a->upd.n_plan && fs_free_bytes(a->set.state_dir, &avail) >= 0 && avail < need) {
                snprintf(msg, sizeof msg, "not enough disk space for %s: it needs %llu MiB in %s but only %llu MiB are "
                         "free; free some space (or enlarge the state filesystem) and deploy again", l,
                         (unsigned long long)((need + (1 << 20) - 1) >> 20), a->set.state_dir,
                         (unsigned long long)(avail >> 20));
                act_fail(a, -ENOSPC, msg);
                return;
        }
        if (a->upd.act_failures == 0) {
                snprintf(msg, sizeof msg, "verified %s: %zu of %zu blob(s) to fetch (%llu bytes), %zu already on this node",
                         l, a->upd.n_plan, m->n_blobs, (unsigned long long)a->upd.plan_bytes, m->n_blobs - a->upd.n_plan);
                log_info("agent: %s", msg);
                feedback_progress(a, msg);
        }
        agent_status(a, "downloading %s: %d%%", l, a->upd.plan_bytes ? 0 : 100);
        if (a->upd.act_failures == 0) {
                a->upd.fetch_start_usec = agent_mono_usec(a);
                a->upd.fetched = 0;
        }
        download_next(a);
}

/* ---- new: the head ---------------------------------------------------------------- */

static void head_done(void *ud, int r, uint8_t *buf, size_t len, const berr *he)
{
        struct agent *a = ud;
        ACT_LOG_SCOPE(a);
        head_fetch_free(a->upd.headf);
        a->upd.headf = NULL;
        _cleanup_free_ uint8_t *head = buf;
        char l[200], msg[700];
        if (r == -EBADMSG || r == -EPROTO) {
                act_fail(a, r, berr_msg(he, r));
                return;
        }
        if (r < 0) {
                act_retry(a, r, berr_msg(he, r));
                return;
        }
        berr e = {0};
        struct import_opts o = {.state_dir = a->set.state_dir, .trust_dir = a->set.trust_dir, .config = a->cfg};
        r = import_head_verify(&o, head, len, &a->upd.head, &e);
        if (r < 0) {
                snprintf(msg, sizeof msg, "%s refused: %s", act_label(a, l), berr_msg(&e, r));
                act_fail(a, r, msg);
                return;
        }
        const struct bundle_manifest *m = import_head_manifest(a->upd.head);
        r = agentdb_action_set_head(a->db, a->upd.act.id, head, len, m->name, m->version, agent_now());
        if (r < 0) {
                act_stuck(a, r, "the verified head");
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
        start_fetching(a);
}

static void head_fetch(struct agent *a)
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
        agent_status(a, "fetching the manifest of %s", act_label(a, l));
        int r = head_fetch_start(&o, &a->upd.headf, &e);
        if (r < 0)
                act_retry(a, r, berr_msg(&e, r));
}

static void act_step(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        if (!a->upd.have_act)
                return;
        if (a->upd.headf || a->upd.dl)
                return; /* already working */
        const char *s = a->upd.act.state;
        if (a->upd.download_allowed == 0 && (!strcmp(s, ACTION_NEW) || !strcmp(s, ACTION_FETCHING))) {
                /* hawkBit's download: skip — not now; a later poll says when. */
                char l[200], detail[300];
                snprintf(detail, sizeof detail, "%s: waiting for the server to allow the download (download: skip)",
                         act_label(a, l));
                agent_status(a, "%s", detail);
                if (!a->upd.waiting_reported) {
                        log_info("agent: %s", detail);
                        feedback(a, DDI_EXEC_PROCEEDING, "none", detail);
                        a->upd.waiting_reported = true;
                }
                return;
        }
        if (!strcmp(s, ACTION_NEW))
                head_fetch(a);
        else if (!strcmp(s, ACTION_FETCHING))
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
        if (a->upd.have_act && !strcmp(a->upd.act.id, d->id)) {
                a->upd.update_allowed = allowed;
                int was = a->upd.download_allowed;
                a->upd.download_allowed = d->dl != DDI_SKIP;
                if (!strcmp(a->upd.act.state, ACTION_STAGED))
                        maybe_switch(a);
                else if (was == 0 && a->upd.download_allowed) {
                        /* Allowed now: only now does `update: skip` mean download-only. */
                        bool dlo = d->update == DDI_SKIP && d->maintenance < 0;
                        if (dlo != a->upd.act.download_only &&
                            agentdb_action_set_download_only(a->db, a->upd.act.id, dlo, agent_now()) < 0) {
                                act_stuck(a, -EIO, "the action's type");
                                return;
                        }
                        a->upd.act.download_only = dlo;
                        a->upd.waiting_reported = false;
                        act_step(a);
                }
                return;
        }
        struct agent_action old;
        int k = agentdb_action_get(a->db, d->id, &old);
        if (k > 0) {
                /* Known and finished: its final feedback is in the outbox or on its way. */
                agent_action_clear(&old);
                if (!outbox_sending(a))
                        outbox_kick(a);
                return;
        }
        if (k < 0) {
                log_error("agent: cannot read action %s from the database", d->id);
                return;
        }
        if (!d->download) {
                /* Nothing this agent can install: the action fails at once, with why, and
                 * is remembered so that the next poll does not ask again. */
                log_error("agent: %s", d->refusal);
                const char *details[] = {d->refusal, NULL};
                struct ddi_feedback f = {.execution = DDI_EXEC_CLOSED, .finished = "failure", .details = details};
                if (agentdb_action_insert(a->db, d->id, "", 0, false, agent_now()) < 0 ||
                    outbox_finish(a, d->id, ACTION_FAILED, d->refusal, &f) < 0)
                        log_error("agent: cannot record the refusal of action %s in %s/berth.db", d->id,
                                  a->set.state_dir);
                return;
        }
        if (a->upd.have_act) {
                char l[200], msg[300];
                snprintf(msg, sizeof msg, "superseded by action %s", d->id);
                log_info("agent: %s %s", act_label(a, l), msg);
                if (act_finish(a, ACTION_CANCELED, msg, NULL) < 0)
                        return; /* retried at the next poll */
        }
        /* `download: skip` says nothing yet about the update (hawkBit: wait). */
        bool download_only = d->dl != DDI_SKIP && d->update == DDI_SKIP && d->maintenance < 0;
        if (agentdb_action_insert(a->db, d->id, d->download, d->size, download_only, agent_now()) < 0 ||
            agentdb_action_get(a->db, d->id, &a->upd.act) <= 0) {
                log_error("agent: cannot record action %s in the database", d->id);
                return;
        }
        a->upd.have_act = true;
        a->upd.update_allowed = allowed;
        a->upd.download_allowed = d->dl != DDI_SKIP;
        ACT_LOG_SCOPE(a);
        log_info("agent: action %s: %s %s (%s, %llu bytes)%s", d->id, d->name, d->version, d->filename,
                 (unsigned long long)d->size, download_only ? " download only" : "");
        char detail[700];
        snprintf(detail, sizeof detail, "accepted %s %s (%s)%s%s", d->name, d->version, d->filename,
                 d->others ? "; ignored the other artifact(s): " : "", d->others ? d->others : "");
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
        if (a->upd.have_act && !strcmp(a->upd.act.id, c->stop_id)) {
                if (!strcmp(a->upd.act.state, ACTION_SWITCHING)) {
                        exec = DDI_EXEC_REJECTED;
                        finished = "none";
                        detail = "the switch is already in progress";
                } else {
                        char l[200];
                        snprintf(buf, sizeof buf, "canceled %s in state %s", act_label(a, l), a->upd.act.state);
                        detail = buf;
                        log_info("agent: %s", buf);
                        if (act_finish(a, ACTION_CANCELED, buf, NULL) < 0)
                                return; /* no answer yet: the server asks again */
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
        int k = agentdb_action_open(a->db, &a->upd.act);
        if (k <= 0)
                return;
        a->upd.have_act = true;
        ACT_LOG_SCOPE(a);
        char l[200];
        log_info("agent: resuming %s (action %s) in state %s", act_label(a, l), a->upd.act.id, a->upd.act.state);
        act_later(a, 0);
}

void update_stop(struct agent *a)
{
        act_release(a);
        agent_action_clear(&a->upd.act);
        a->upd.have_act = false;
}

json_t *update_status_json(struct agent *a)
{
        if (!a->upd.have_act)
                return json_null();
        uint64_t done = progress_done(a);
        return json_pack("{s:s,s:s,s:s?,s:I,s:s,s:I,s:I,s:b}", "id", a->upd.act.id, "state", a->upd.act.state, "bundle",
                         a->upd.act.name, "version", (json_int_t)a->upd.act.version, "url", a->upd.act.url, "bytesDone",
                         (json_int_t)done, "bytesTotal", (json_int_t)a->upd.act.total, "downloadOnly",
                         a->upd.act.download_only);
}

const char *update_state_name(const struct agent *a)
{
        return a->upd.have_act ? a->upd.act.state : "idle";
}

const char *update_bundle(const struct agent *a, int64_t *ret_version)
{
        if (!a->upd.have_act || !a->upd.act.name || agent_action_final(a->upd.act.state))
                return NULL;
        if (ret_version)
                *ret_version = a->upd.act.version;
        return a->upd.act.name;
}

bool update_transferring(const struct agent *a)
{
        return a->upd.headf || a->upd.dl;
}

bool update_downloading(const struct agent *a)
{
        return a->upd.have_act && (!strcmp(a->upd.act.state, ACTION_NEW) || !strcmp(a->upd.act.state, ACTION_FETCHING));
}

bool update_idle(const struct agent *a)
{
        return !a->upd.have_act || agent_action_final(a->upd.act.state);
}
