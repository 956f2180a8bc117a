/* SPDX-License-Identifier: Apache-2.0 */
/* update_switch.c — the update state machine from `staged` to the end: the windows,
 * `switching` through the workload engine (or recording the version as current without
 * one), and the outcome (installed, or failed with the rollback's evidence). See
 * update.c for the whole machine and agent/daemon/README.md for its table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/log.h"
#include "daemon/agent_int.h"
#include "daemon/update_int.h"
#include "sched/window.h"
#include "store/wstate.h"
#include "workload/engine.h"

/* What the action reports when it ends well. Bytes and blobs are the action's own,
 * summed over every restart of the agent (agent_actions.fetched). */
static void outcome_detail(struct agent *a, const char *what, char *buf, size_t size)
{
        char l[200];
        size_t n = a->upd.head ? import_head_manifest(a->upd.head)->n_blobs : 0, other = 0;
        for (size_t i = 0; a->upd.need && i < n; i++)
                other += !a->upd.need[i];
        n -= other; /* the blobs of other platforms were never this node's to fetch */
        size_t got = a->upd.act.blobs_fetched < n ? (size_t)a->upd.act.blobs_fetched : n;
        char sk[96] = "", peers[96] = "";
        if (other)
                snprintf(sk, sizeof sk, " (%zu of other platforms not needed)", other);
        if (a->upd.act.peer_fetched)
                snprintf(peers, sizeof peers, " (%llu from site peers, %llu over the WAN)",
                         (unsigned long long)a->upd.act.peer_fetched,
                         (unsigned long long)(a->upd.act.fetched - a->upd.act.peer_fetched));
        snprintf(buf, size, "%s %s: %llu bytes downloaded%s in %llu HTTP request(s), %zu of %zu blob(s) fetched, %zu "
                 "already on this node%s", what, upd_label(a, l), (unsigned long long)a->upd.act.fetched, peers,
                 (unsigned long long)a->upd.act.requests, got, n, n - got, sk);
}

static void switch_done(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char detail[512];
        outcome_detail(a, "installed", detail, sizeof detail);
        log_info("agent: %s", detail);
        const char *details[] = {detail, NULL};
        struct ddi_feedback f = {.execution = DDI_EXEC_CLOSED, .finished = "success", .details = details};
        upd_finish(a, ACTION_INSTALLED, detail, &f);
}

/* Without a workload engine: the version becomes current in workload_current. */
static void switch_record(struct agent *a)
{
        berr e = {0};
        int r = wstate_record_current(a->db, a->upd.act.name, a->upd.act.version, agent_now() * 1000, &e);
        if (r == -EBUSY) {
                upd_fail(a, r, berr_msg(&e, r));
                return;
        }
        if (r < 0) {
                upd_stuck(a, r, "the new current version");
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
                        upd_stuck(a, r, "the abandoned engine update");
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
                upd_fail(a, -EIO, msg);
                return;
        }
        r = workload_update_start(a->eng, name, a->upd.act.version, true, &e);
        if (r == -EALREADY) {
                switch_done(a);
                return;
        }
        if (r < 0) {
                upd_fail(a, r, berr_msg(&e, r));
                return;
        }
        FAULT_POINT("update.after_engine_staged");
        workloads_kick(a);
}

void upd_switch(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        upd_label(a, l);
        bool fresh = false;
        /* Persisted first: after a crash from here on, resume switches again. */
        if (strcmp(a->upd.act.state, ACTION_SWITCHING)) {
                int r = agentdb_action_set_state(a->db, a->upd.act.id, ACTION_SWITCHING, NULL, agent_now());
                if (r < 0) {
                        upd_stuck(a, r, "the state 'switching'");
                        return;
                }
                FAULT_POINT("update.after_switching");
                snprintf(a->upd.act.state, sizeof a->upd.act.state, "%s", ACTION_SWITCHING);
                upd_feedback(a, DDI_EXEC_PROCEEDING, "none", "switching");
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
                upd_switch(a);
}

void upd_maybe_switch(struct agent *a)
{
        ACT_LOG_SCOPE(a);
        char l[200];
        upd_label(a, l);
        if (a->upd.act.download_only) {
                /* hawkBit ends a download-only action with "downloaded": sent once. */
                char detail[512];
                outcome_detail(a, "downloaded and preloaded (download only)", detail, sizeof detail);
                log_info("agent: %s", detail);
                const char *details[] = {detail, NULL};
                struct ddi_feedback f = {.execution = DDI_EXEC_DOWNLOADED, .finished = "success", .details = details};
                upd_finish(a, ACTION_INSTALLED, detail, &f);
                return;
        }
        int64_t wait = window_wait(&a->set.window, agent_now());
        if (a->upd.update_allowed == 1 && wait == 0) {
                upd_switch(a);
                return;
        }
        const char *why = a->upd.update_allowed == 1 ? "the local maintenance window (update.maintenance_window)"
                          : a->upd.update_allowed == 0 ? "the server's maintenance window"
                                                   : "the server's go-ahead";
        agent_status(a, "%s staged; waiting for %s", l, why);
        if (!a->upd.waiting_reported) {
                char detail[512];
                snprintf(detail, sizeof detail, "%s staged (downloaded and preloaded); waiting for %s", l, why);
                log_info("agent: %s", detail);
                upd_feedback(a, DDI_EXEC_DOWNLOADED, "none", detail);
                a->upd.waiting_reported = true;
        }
        if (a->upd.update_allowed == 1 && wait > 0)
                upd_later(a, (uint64_t)wait * 1000);
}

