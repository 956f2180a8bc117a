/* SPDX-License-Identifier: Apache-2.0 */
/* update.h — the node update state machine (update.c): one DDI action at a time, from
 * the deployment to installed, failed or canceled; the table of its states is in
 * agent/daemon/README.md. Its state below is update.c's own: other parts of the daemon
 * read it through the functions at the end, never through the fields.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ddi/ddi.h"
#include "store/agentdb.h"

struct agent;
struct blob_download;
struct fetch_range;
struct head_fetch;
struct import_head;
struct upd_layer;
struct upd_stream;
struct sd_event_source;
struct update_commit;

struct update_state {
        struct agent_action act;        /* the open action (have_act) as persisted */
        bool have_act;
        int update_allowed;             /* from the last deploymentBase: 1, 0, -1 unknown */
        int download_allowed;           /* its `download` is not skip: 1, 0, -1 unknown (after a restart) */
        struct import_head *head;       /* verified head of act */
        struct head_fetch *headf;
        bool waiting_reported;          /* "waiting for the window" already said */
        struct fetch_range *plan;
        size_t n_plan, plan_i;
        uint64_t plan_bytes, plan_done, cur_blob_have, cur_blob_durable, fetched;
        struct blob_download *dl;
        bool dl_sink;                   /* dl feeds the layer in flight (update_stream.c) */
        struct update_commit *commit;   /* the store import thread (update_commit.c), or NULL */
        /* The blobs this node's platform needs (import_platform_need), per blob of the
         * head; NULL with need_known: all of them (single-platform, registry mirror). */
        bool *need;
        bool need_known;
        /* m->blobs[i] is a layer the containerd backend holds unpacked (import/held.h): not
         * fetched although the store lacks it. NULL: none. Known with need. */
        bool *held;
        uint64_t docs_bytes;            /* fetched for the image documents, before need was known */
        struct sd_event_source *act_timer;
        unsigned act_failures, corrupt;
        uint64_t last_progress_usec;
        uint64_t fetch_start_usec, blob_start_usec;      /* when this run's first blob request started */
        int last_pct;
        char budget_ok[65];             /* the action that passed the data budget check */
        /* Site peers (peers.h): 1 + the index of the peer the download in flight asks
         * (0: the rollout server), and for plan[peer_plan_i] the next peer to try. */
        size_t peer_cur, peer_plan_i, peer_kind, peer_from;
        /* Layers unpacked into containerd as they arrive (update_stream.c): per blob of
         * the head, whether and how (NULL: none); the one in flight; off for this action
         * (the plan could not be made). */
        struct upd_layer *layers;
        struct upd_stream *stream, *streams_gone;
        bool streams_off;
};

void update_on_deployment(struct agent *a, const struct ddi_deployment *d);
void update_on_cancel(struct agent *a, const struct ddi_cancel *c);
void update_resume(struct agent *a);
void update_stop(struct agent *a);
json_t *update_status_json(struct agent *a);
/* After each workload engine round: an action in `switching` checks its outcome. */
void update_on_workloads(struct agent *a);

/* For the other parts of the daemon. */
/* The open action's state, or "idle". */
const char *update_state_name(const struct agent *a);
/* The bundle the open (not final) action installs, or NULL (before its head, or idle). */
const char *update_bundle(const struct agent *a, int64_t *ret_version);
/* A head or blob transfer, or the store import after it, is running. */
bool update_transferring(const struct agent *a);
/* The open action is still downloading (new or fetching). */
bool update_downloading(const struct agent *a);
/* No open action, or a final one: the node may take a new update. */
bool update_idle(const struct agent *a);
