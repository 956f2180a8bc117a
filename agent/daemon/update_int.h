/* SPDX-License-Identifier: Apache-2.0 */
/* update_int.h — shared by the files of the update state machine (update.c: the
 * action's life, update_fetch.c: new → every blob fetched, update_commit.c: → staged,
 * update_switch.c: staged → the end). Private to them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "ddi/ddi.h"

struct agent;

/* Journal fields of the current action on every record of the enclosing block. */
void upd_log_fields(struct agent *a);
#define ACT_LOG_SCOPE(a)                                                                           \
        LOG_SCOPE(_act_scope);                                                                     \
        upd_log_fields(a)

/* "NAME VERSION", or "action ID" before the head is known. */
const char *upd_label(struct agent *a, char buf[200]);
/* A feedback for the open action, queued (not final). */
void upd_feedback(struct agent *a, const char *execution, const char *finished, const char *detail);
/* Progress against the action's fixed total: with durable, only bytes a crash keeps
 * (what the server is told: it never goes back), else every byte in hand (status). */
uint64_t upd_progress_done(const struct agent *a, bool durable);
void upd_feedback_progress(struct agent *a, const char *detail);
/* Ends the action: its final state and final feedback f in one transaction. <0 when
 * that could not be recorded (then the step is retried from the persisted state). */
int upd_finish(struct agent *a, const char *state, const char *detail, const struct ddi_feedback *f);
/* The release failed the action (closed/failure with msg). */
void upd_fail(struct agent *a, int r, const char *msg);
/* Forgets which blobs this node needs and which containerd holds: the next plan asks again. */
void upd_need_clear(struct agent *a);
/* Transient trouble (network, server): report, wait with backoff, try again. */
void upd_retry(struct agent *a, int r, const char *msg);
/* n more HTTP requests to the artifact for the open action (kept in agent_actions). */
void upd_count_requests(struct agent *a, unsigned n);
/* A state write failed: stop, retry from the persisted state (fail closed). */
void upd_stuck(struct agent *a, int r, const char *what);
/* Runs the next step after ms. */
void upd_later(struct agent *a, uint64_t ms);

/* update_fetch.c */
void upd_head_fetch(struct agent *a);
void upd_start_fetching(struct agent *a);

/* update_commit.c */
/* Every needed blob is stored: check the artifact, import and preload on a thread. */
void upd_commit(struct agent *a);
/* Shutdown: waits for a store import thread still running. */
void upd_commit_stop(struct agent *a);

/* update_switch.c */
void upd_maybe_switch(struct agent *a);
void upd_switch(struct agent *a);
