/* agentdb.h — the agent daemon's persistent state in berth.db (schema version 2):
 *
 *   agent_kv         small settings the agent remembers (attributes hash, …)
 *   agent_actions    one row per DDI action: the update state machine's state, the
 *                    artifact URL and the verified head bytes, so a restart resumes
 *   agent_downloads  per blob digest: how many bytes of STATE/store/partial/<hex>.part
 *                    are durable (fsynced) — the resume point
 *   agent_outbox     requests for the server (feedback, configData, installedBase) in
 *                    send order; a row is deleted only once the server answered
 *
 * Every function is one statement or one transaction (db.h). Part of the store module:
 * the only code that includes sqlite3.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Update states (issue 7 adds probing/committed/rolling_back after switching). */
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
};

void agent_action_clear(struct agent_action *a);
bool agent_action_final(const char *state);

int agentdb_kv_get(struct berth_db *db, const char *key, char **ret);   /* 1 found, 0 none */
int agentdb_kv_set(struct berth_db *db, const char *key, const char *value);

int agentdb_action_get(struct berth_db *db, const char *id, struct agent_action *ret);  /* 1 / 0 */
/* The newest action that is not final (1 / 0). */
int agentdb_action_open(struct berth_db *db, struct agent_action *ret);
int agentdb_action_insert(struct berth_db *db, const char *id, const char *url, uint64_t size, bool download_only,
                          int64_t now);
int agentdb_action_set_state(struct berth_db *db, const char *id, const char *state, const char *detail, int64_t now);
int agentdb_action_set_head(struct berth_db *db, const char *id, const void *head, size_t len, const char *name,
                            int64_t version, int64_t now);
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
/* Queues a request. With replace_kind, an unsent item of the same kind and action is
 * replaced instead (progress reports: only the latest matters), keeping its place. */
int agentdb_outbox_add(struct berth_db *db, const char *kind, const char *action_id, const char *method,
                       const char *url, const char *body, bool replace_kind, int64_t now);
int agentdb_outbox_first(struct berth_db *db, struct outbox_item *ret);          /* 1 / 0 */
int agentdb_outbox_del(struct berth_db *db, int64_t seq);
int agentdb_outbox_count(struct berth_db *db, unsigned *ret);
