/* SPDX-License-Identifier: Apache-2.0 */
/* agentdb.h — the agent daemon's persistent state in berth.db (schema versions 2 and 4):
 *
 *   agent_kv         small settings the agent remembers (attributes hash, …)
 *   agent_actions    one row per DDI action: the update state machine's state, the
 *                    artifact URL and the verified head bytes, so a restart resumes
 *   agent_downloads  per blob digest: how many bytes of STATE/store/partial/<hex>.part
 *                    are durable (fsynced) — the resume point
 *   agent_outbox     requests for the server (feedback, configData, installedBase) in
 *                    send order; a row is deleted only once the server answered
 *   telemetry_queue  telemetry records waiting for the server, bounded by count, bytes
 *                    and age; the oldest go first (counted in telemetry_meta.dropped)
 *   wan_usage        the agent's WAN bytes per UTC day, for the data budget
 *
 * Every function is one statement or one transaction (db.h), with SQLite's errors mapped
 * once by store/sql.h. agentdb.c: kv, actions, the download journal; agentdb_outbox.c;
 * agentdb_telemetry.c; agentdb_usage.c. Only store/ includes sqlite3.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Update states of a DDI action (agent/daemon/README.md has the whole table; the
 * workload engine's states are a layer below `switching`). */
#define ACTION_NEW "new"              /* known, nothing fetched */
#define ACTION_FETCHING "fetching"    /* head verified and stored; blobs downloading */
#define ACTION_STAGED "staged"        /* all blobs stored, recorded, preloaded; waits for the window */
#define ACTION_SWITCHING "switching"  /* switch in progress (persisted before side effects) */
#define ACTION_INSTALLED "installed"  /* final: success reported */
#define ACTION_FAILED "failed"        /* final: failure reported */
#define ACTION_CANCELED "canceled"    /* final: cancel confirmed */

struct agent_action {
        char id[65];
        char state[16];
        char *url;
        uint64_t size;
        bool download_only;
        char *name;             /* from the verified head, NULL before */
        int64_t version;
        void *head;
        size_t head_len;
        char *detail;
        uint64_t fetched;       /* bytes downloaded for this action, over every restart */
        uint64_t blobs_fetched; /* blobs downloaded for it (the others were on the node) */
        uint64_t total;         /* bytes it lacked at its first plan: progress's fixed "of" */
        uint64_t requests;      /* HTTP requests to the artifact, over every restart */
        char sha256[65];        /* the artifact's sha256 from the deployment (hex), "" unknown */
        bool budget_override;   /* the server let it past the data budget */
        uint64_t peer_fetched;  /* of fetched, the bytes from site peers */
};

void agent_action_clear(struct agent_action *a);
bool agent_action_final(const char *state);

int agentdb_kv_get(struct berth_db *db, const char *key, char **ret);   /* 1 found, 0 none */
int agentdb_kv_set(struct berth_db *db, const char *key, const char *value);

int agentdb_action_get(struct berth_db *db, const char *id, struct agent_action *ret);  /* 1 / 0 */
/* The newest action that is not final (1 / 0). */
int agentdb_action_open(struct berth_db *db, struct agent_action *ret);
int agentdb_action_insert(struct berth_db *db, const char *id, const char *url, uint64_t size, const char *sha256,
                          bool download_only, bool budget_override, int64_t now);
int agentdb_action_set_state(struct berth_db *db, const char *id, const char *state, const char *detail, int64_t now);
int agentdb_action_set_head(struct berth_db *db, const char *id, const void *head, size_t len, const char *name,
                            int64_t version, int64_t now);
/* Adds to what the action downloaded: bytes, completed blobs, HTTP requests, and of the
 * bytes those that came from site peers. */
int agentdb_action_add_fetched(struct berth_db *db, const char *id, uint64_t bytes, uint64_t blobs, unsigned requests,
                               uint64_t peer_bytes, int64_t now);
/* What the deployment turned out to be once the server allowed its download. */
int agentdb_action_set_download_only(struct berth_db *db, const char *id, bool download_only, int64_t now);
/* Sets the bytes the action lacked at its first plan (progress totals never change). */
int agentdb_action_set_total(struct berth_db *db, const char *id, uint64_t total, int64_t now);
/* A queued request for the server. */
struct agentdb_request {
        const char *kind, *method, *url, *body;
};
/* In one transaction: the action's final state (and detail) and, when fb is given, its
 * final feedback queued in the outbox. Either both are recorded or neither: the
 * feedback is sent exactly once, and never for a state that was not kept. -ENOENT when
 * the action does not exist. */
int agentdb_action_finish(struct berth_db *db, const char *id, const char *state, const char *detail,
                          const struct agentdb_request *fb, int64_t now);
/* A deployment refused before it began (nothing to fetch): recorded as failed with its
 * final feedback, in one transaction, so it is never an open action. */
int agentdb_action_refuse(struct berth_db *db, const char *id, const char *detail, const struct agentdb_request *fb,
                          int64_t now);
typedef int (*agentdb_action_fn)(void *ud, const struct agent_action *a);
/* The last n actions, newest first (head not loaded). */
int agentdb_action_list(struct berth_db *db, unsigned n, agentdb_action_fn fn, void *ud);

int agentdb_download_get(struct berth_db *db, const char *digest, uint64_t *good);    /* 1 / 0 */
int agentdb_download_set(struct berth_db *db, const char *digest, uint64_t good, int64_t now);
int agentdb_download_del(struct berth_db *db, const char *digest);
int agentdb_download_clear(struct berth_db *db);

struct outbox_item {
        int64_t seq;
        char kind[32];
        char *action_id;
        char *method, *url, *body;
};
void outbox_item_clear(struct outbox_item *it);
/* Queues a request. With replace_kind, when the newest queued item has the same kind
 * and action it is replaced instead (progress reports: only the latest matters), keeping
 * its place; otherwise the request is added. */
int agentdb_outbox_add(struct berth_db *db, const char *kind, const char *action_id, const char *method,
                       const char *url, const char *body, bool replace_kind, int64_t now);
int agentdb_outbox_first(struct berth_db *db, struct outbox_item *ret);          /* 1 / 0 */
int agentdb_outbox_del(struct berth_db *db, int64_t seq);
int agentdb_outbox_count(struct berth_db *db, unsigned *ret);

/* ---- telemetry queue ---------------------------------------------------------------- */

#define TM_KIND_MAX 6           /* "event", "sample" */
#define TM_SOURCE_MAX 32
#define TM_TEXT_MAX 100

struct tm_limits {
        uint64_t max_records;   /* > 0 */
        uint64_t max_bytes;     /* > 0; a record counts text + source + 32 bytes */
        int64_t max_age;        /* seconds, > 0 */
};

struct tm_record {
        int64_t seq, ts;
        char kind[TM_KIND_MAX + 1];
        char source[TM_SOURCE_MAX + 1];
        char text[TM_TEXT_MAX + 1];
};

struct tm_stats {
        char queue_id[17];      /* 16 hex chars, made when the table was created */
        uint64_t records, bytes;
        uint64_t dropped;       /* cumulative, never decreases */
        int64_t first_seq;      /* oldest queued record, 0 when empty */
        int64_t next_seq;
};

/* Appends one record (fields already sanitised and within the TM_*_MAX limits) and,
 * in the same transaction, drops the oldest records beyond the limits (age measured
 * against now). *ret_dropped (optional): how many were dropped by this call;
 * *ret_queued (optional): how many records the queue holds after it. */
int agentdb_tm_push(struct berth_db *db, int64_t ts, const char *kind, const char *source, const char *text,
                    const struct tm_limits *l, int64_t now, uint64_t *ret_dropped, uint64_t *ret_queued);
/* Drops records older than the age limit; *ret_dropped as above. */
int agentdb_tm_expire(struct berth_db *db, const struct tm_limits *l, int64_t now, uint64_t *ret_dropped);
/* Up to max oldest records, in seq order. */
int agentdb_tm_peek(struct berth_db *db, size_t max, struct tm_record *out, size_t *ret_n);
/* Deletes the batch first_seq..last_seq (and anything older): delivered (counted =
 * false) or refused for good by the server (counted = true: they add to the dropped
 * counter). A delivered batch whose oldest records the bound dropped while it was in
 * flight takes them back off the counter: the server has them. */
int agentdb_tm_remove(struct berth_db *db, int64_t first_seq, int64_t last_seq, bool counted);
int agentdb_tm_stats(struct berth_db *db, struct tm_stats *ret);

/* ---- wan_usage: the agent's WAN bytes per UTC day (days since 1970-01-01) ---- */
/* Adds rx and tx to day's row (made when missing). */
int agentdb_usage_add(struct berth_db *db, int64_t day, uint64_t rx, uint64_t tx);
typedef int (*agentdb_usage_fn)(void *ud, int64_t day, uint64_t rx, uint64_t tx);
/* The rows from day since on, oldest first; fn < 0 stops with that value. */
int agentdb_usage_list(struct berth_db *db, int64_t since, agentdb_usage_fn fn, void *ud);
/* Drops the rows before day. */
int agentdb_usage_prune(struct berth_db *db, int64_t before);
