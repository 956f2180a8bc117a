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

/* A blob that keeps failing its digest (stored or streamed) fails the action. */
#define MAX_CORRUPT 3

/* Fetches the next blob of the plan, or commits when there is none. */
void upd_download_next(struct agent *a);
/* Stops the blob download in flight, counting what it fetched. */
void upd_download_abort(struct agent *a);

/* update_stream.c: layers unpacked into containerd as they arrive */
struct blob_download_opts;
/* A backend streams layers, and this action has not turned it off. */
bool upd_stream_wanted(struct agent *a);
/* The layer in flight is being prepared or finished: nothing to step. */
bool upd_stream_busy(const struct agent *a);
/* Once the documents and configs are in: which missing layers stream (a->upd.layers). */
void upd_stream_plan(struct agent *a);
/* After fetch_plan: stored blobs first, then the streamed layers base first. */
void upd_stream_order(struct agent *a);
/* m->blobs[blob] is to be streamed. */
bool upd_stream_layer(const struct agent *a, size_t blob);
/* For plan[plan_i] (= blob, a streamed layer): 1 wait (a job or the download runs), 0
 * store it instead (it cannot stream), 2 start its download with upd_stream_sink, <0 no
 * memory. */
int upd_stream_step(struct agent *a, size_t blob);
/* The layer in flight has bytes already: resume from the same source. */
bool upd_stream_resuming(const struct agent *a);
/* Points o at the layer in flight (its source: a->upd.peer_cur). */
void upd_stream_sink(struct agent *a, struct blob_download_opts *o);
/* Its source failed: the layer starts over (from another). */
void upd_stream_source_failed(struct agent *a);
/* End of the action / shutdown (waits for the worker). */
void upd_stream_release(struct agent *a);
void upd_stream_stop(struct agent *a);

/* update_commit.c */
/* Every needed blob is stored: check the artifact, import and preload on a thread. */
void upd_commit(struct agent *a);
/* Shutdown: waits for a store import thread still running. */
void upd_commit_stop(struct agent *a);

/* update_switch.c */
void upd_maybe_switch(struct agent *a);
void upd_switch(struct agent *a);
