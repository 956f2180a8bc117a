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
 *
 * This file holds the action's life (entry points, resume, finish, fail, retry);
 * update_fetch.c takes it from `new` to every blob fetched, update_commit.c on to
 * `staged`, update_switch.c from `staged` to the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "base/fault.h"
#include "base/log.h"
#include "daemon/agent_int.h"
#include "daemon/update_int.h"
#include "fetch/head.h"
#include "sched/backoff.h"

static void act_step(struct agent *a);

/* Journal fields of the current action on every record of the enclosing block. */
void upd_log_fields(struct agent *a)
{
        if (!a->upd.have_act)
                return;
        (void)log_set_field("BERTH_ACTION_ID", a->upd.act.id);
        if (a->upd.act.name) {
                (void)log_set_field("BERTH_BUNDLE", a->upd.act.name);
                (void)log_set_fieldf("BERTH_VERSION", "%lld", (long long)a->upd.act.version);
        }
}

void upd_feedback(struct agent *a, const char *execution, const char *finished, const char *detail)
{
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = execution, .finished = finished, .details = detail ? details : NULL};
        outbox_feedback(a, a->upd.act.id, &f, false);
}

/* Progress against the bytes the action lacked at its first plan: the total never
 * changes, and what earlier runs (or a crash's partial files) brought counts as done. */
uint64_t upd_progress_done(const struct agent *a, bool durable)
{
        uint64_t cur = durable ? a->upd.cur_blob_durable : a->upd.cur_blob_have;
        uint64_t left = a->upd.plan_bytes - a->upd.plan_done - cur;
        return a->upd.act.total > left ? a->upd.act.total - left : 0;
}

void upd_feedback_progress(struct agent *a, const char *detail)
{
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_PROCEEDING, .finished = "none", .has_progress = true,
                                 .cnt = upd_progress_done(a, true), .of = a->upd.act.total,
                                 .details = detail ? details : NULL};
        outbox_feedback(a, a->upd.act.id, &f, true);
}

const char *upd_label(struct agent *a, char buf[200])
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
        a->upd.dl_sink = false;
        upd_stream_release(a);
        import_head_free(a->upd.head);
        a->upd.head = NULL;
        free(a->upd.plan);
        a->upd.plan = NULL;
        upd_need_clear(a);
        a->upd.docs_bytes = 0;
        a->upd.n_plan = a->upd.plan_i = 0;
        a->upd.plan_bytes = a->upd.plan_done = a->upd.cur_blob_have = a->upd.cur_blob_durable = a->upd.fetched = 0;
        a->upd.act_timer = sd_event_source_disable_unref(a->upd.act_timer);
        a->upd.act_failures = a->upd.corrupt = 0;
        a->upd.last_pct = -1;
        a->upd.waiting_reported = false;
        a->upd.peer_cur = 0;
        a->upd.peer_plan_i = SIZE_MAX;
        a->upd.peer_from = 0;
        peers_forget(a);
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
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                /* `berth import --from-peers` may be writing it (cli/import_peers.c). */
                size_t n = strlen(de->d_name), k = strlen(CONTENT_FROM_PEERS_SUFFIX);
                struct stat st;
                if (n > k && !strcmp(de->d_name + n - k, CONTENT_FROM_PEERS_SUFFIX) &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && time(NULL) - st.st_mtime < 3600)
                        continue;
                (void)unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
}

void upd_later(struct agent *a, uint64_t ms);

/* A state write failed: the step stops here and is retried from the persisted state
 * (fail closed). Everything in flight is dropped; nothing was reported. */
void upd_stuck(struct agent *a, int r, const char *what)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        act_release(a);
        a->upd.act_failures++;
        uint64_t d = backoff_delay_ms(&a->set.poll, a->upd.act_failures, agent_random());
        log_error("agent: %s: cannot record %s in %s/berth.db (%s); nothing proceeds until it is recorded, "
                  "retrying in %.1f s", upd_label(a, l), what, a->set.state_dir,
                  r == -ENOSPC ? "the state disk is full: free space on it" : strerror(-r), (double)d / 1000);
        agent_status(a, "%s: cannot record %s (%s); retry in %.1f s", l, what, strerror(-r), (double)d / 1000);
        upd_later(a, d);
}

/* Ends the action: the final state and the final feedback f in one transaction. */
int upd_finish(struct agent *a, const char *state, const char *detail, const struct ddi_feedback *f)
{
        char l[200];
        FAULT_POINT("update.before_final");
        int r = outbox_finish(a, a->upd.act.id, state, detail, f);
        if (r < 0) {
                char what[64];
                snprintf(what, sizeof what, "the final state '%s'", state);
                upd_stuck(a, r, what);
                return r;
        }
        if (!strcmp(state, ACTION_INSTALLED) && detail)
                telemetry_event(a, "agent", "%s", detail); /* "installed NAME V: …" */
        else
                telemetry_event(a, "agent", "update %s %s%s%s", upd_label(a, l), state, detail ? ": " : "",
                                detail ? detail : "");
        if (!strcmp(state, ACTION_INSTALLED))
                a->metrics.updates_ok++;
        else if (!strcmp(state, ACTION_FAILED))
                a->metrics.updates_failed++;
        else
                a->metrics.updates_canceled++;
        act_release(a);
        if (strcmp(state, ACTION_CANCELED))
                purge_partials(a);
        agent_action_clear(&a->upd.act);
        a->upd.have_act = false;
        a->upd.update_allowed = -1;
        agent_status(a, "polling");
        layers_kick(a); /* the sweep waited for the action */
        return 0;
}

void upd_need_clear(struct agent *a)
{
        upd_stream_release(a); /* its plan follows from need and held */
        free(a->upd.need);
        a->upd.need = NULL;
        free(a->upd.held);
        a->upd.held = NULL;
        a->upd.need_known = false;
}

void upd_fail(struct agent *a, int r, const char *msg)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        log_error("agent: update %s failed: %s", upd_label(a, l), msg);
        const char *details[] = {msg, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_CLOSED, .finished = "failure", .details = details};
        upd_finish(a, ACTION_FAILED, msg, &f);
}

static int on_act_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        act_step(ud);
        return 0;
}

void upd_later(struct agent *a, uint64_t ms)
{
        if (agent_timer(a, &a->upd.act_timer, ms, on_act_timer, "update-step") < 0)
                log_error("agent: cannot arm the update timer");
}

/* Transient trouble (network, server): report, wait, try again. Never gives up by
 * itself; the server can cancel. */
void upd_count_requests(struct agent *a, unsigned n)
{
        if (n && agentdb_action_add_fetched(a->db, a->upd.act.id, 0, 0, n, 0, agent_now()) >= 0)
                a->upd.act.requests += n;
}

void upd_retry(struct agent *a, int r, const char *msg)
{
        ACT_LOG_SCOPE(a);
        a->upd.act_failures++;
        uint64_t d = backoff_delay_ms(&a->set.poll, a->upd.act_failures, agent_random());
        char l[200], detail[700];
        snprintf(detail, sizeof detail, "download interrupted (%s); retrying in %.1f s", msg, (double)d / 1000);
        if (a->upd.act_failures == 1)
                log_warning("agent: %s: %s", upd_label(a, l), detail);
        else
                log_debug("agent: %s: %s", upd_label(a, l), detail);
        agent_status(a, "%s: download interrupted; retry in %.1f s", upd_label(a, l), (double)d / 1000);
        upd_feedback_progress(a, detail);
        upd_later(a, d);
}

static void act_step(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        if (!a->upd.have_act)
                return;
        if (a->upd.headf || a->upd.dl || a->upd.commit || a->peers.located || upd_stream_busy(a))
                return; /* already working (a commit thread of an ended action included) */
        const char *s = a->upd.act.state;
        if (a->upd.download_allowed == 0 && (!strcmp(s, ACTION_NEW) || !strcmp(s, ACTION_FETCHING))) {
                /* hawkBit's download: skip — not now; a later poll says when. */
                char l[200], detail[300];
                snprintf(detail, sizeof detail, "%s: waiting for the server to allow the download (download: skip)",
                         upd_label(a, l));
                agent_status(a, "%s", detail);
                if (!a->upd.waiting_reported) {
                        log_info("agent: %s", detail);
                        upd_feedback(a, DDI_EXEC_PROCEEDING, "none", detail);
                        a->upd.waiting_reported = true;
                }
                return;
        }
        if (!strcmp(s, ACTION_NEW))
                upd_head_fetch(a);
        else if (!strcmp(s, ACTION_FETCHING))
                upd_start_fetching(a);
        else if (!strcmp(s, ACTION_STAGED))
                upd_maybe_switch(a);
        else if (!strcmp(s, ACTION_SWITCHING))
                upd_switch(a);
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
                        upd_maybe_switch(a);
                else if (was == 0 && a->upd.download_allowed) {
                        /* Allowed now: only now does `update: skip` mean download-only. */
                        bool dlo = d->update == DDI_SKIP && d->maintenance < 0;
                        if (dlo != a->upd.act.download_only &&
                            agentdb_action_set_download_only(a->db, a->upd.act.id, dlo, agent_now()) < 0) {
                                upd_stuck(a, -EIO, "the action's type");
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
                if (outbox_refuse(a, d->id, d->refusal, &f) < 0)
                        log_error("agent: cannot record the refusal of action %s in %s/berth.db; it is refused "
                                  "again at the next poll", d->id, a->set.state_dir);
                return;
        }
        if (a->upd.have_act) {
                char l[200], msg[300];
                snprintf(msg, sizeof msg, "superseded by action %s", d->id);
                log_info("agent: %s %s", upd_label(a, l), msg);
                if (upd_finish(a, ACTION_CANCELED, msg, NULL) < 0)
                        return; /* retried at the next poll */
        }
        /* `download: skip` says nothing yet about the update (hawkBit: wait). */
        bool download_only = d->dl != DDI_SKIP && d->update == DDI_SKIP && d->maintenance < 0;
        if (agentdb_action_insert(a->db, d->id, d->download, d->size, d->sha256, download_only, d->budget_override,
                                  agent_now()) < 0 ||
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
        upd_feedback(a, DDI_EXEC_PROCEEDING, "none", detail);
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
                        snprintf(buf, sizeof buf, "canceled %s in state %s", upd_label(a, l), a->upd.act.state);
                        detail = buf;
                        log_info("agent: %s", buf);
                        if (upd_finish(a, ACTION_CANCELED, buf, NULL) < 0)
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
        log_info("agent: resuming %s (action %s) in state %s", upd_label(a, l), a->upd.act.id, a->upd.act.state);
        upd_later(a, 0);
}

void update_stop(struct agent *a)
{
        upd_commit_stop(a);
        act_release(a); /* the download first: it may push into the layer in flight */
        upd_stream_stop(a);
        agent_action_clear(&a->upd.act);
        a->upd.have_act = false;
}

json_t *update_status_json(struct agent *a)
{
        if (!a->upd.have_act)
                return json_null();
        uint64_t done = upd_progress_done(a, false);
        return json_pack("{s:s,s:s,s:s?,s:I,s:s,s:I,s:I,s:I,s:I,s:b}", "id", a->upd.act.id, "state", a->upd.act.state,
                         "bundle", a->upd.act.name, "version", (json_int_t)a->upd.act.version, "url", a->upd.act.url,
                         "bytesDone", (json_int_t)done, "bytesTotal", (json_int_t)a->upd.act.total, "bytesFromPeers",
                         (json_int_t)a->upd.act.peer_fetched, "bytesFromServer",
                         (json_int_t)(a->upd.act.fetched - a->upd.act.peer_fetched), "downloadOnly",
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
        return a->upd.headf || a->upd.dl || a->upd.commit || a->peers.located;
}

bool update_downloading(const struct agent *a)
{
        return a->upd.have_act && (!strcmp(a->upd.act.state, ACTION_NEW) || !strcmp(a->upd.act.state, ACTION_FETCHING));
}

bool update_idle(const struct agent *a)
{
        return !a->upd.have_act || agent_action_final(a->upd.act.state);
}
