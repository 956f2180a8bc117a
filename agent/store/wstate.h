/* SPDX-License-Identifier: Apache-2.0 */
/* wstate.h — the persisted state of workload updates (SQLite, tables workload_updates
 * and workload_current), and forgetting old bundle versions.
 *
 * Each call is one transaction, so a state is either fully recorded or not at all;
 * the engine writes a state before the side effects that follow it. Only the store
 * module touches SQLite.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

enum wstate_state {
        WSTATE_STAGED,
        WSTATE_SWITCHING,
        WSTATE_PROBING,
        WSTATE_COMMITTED,
        WSTATE_ROLLING_BACK,
        WSTATE_ROLLED_BACK,
        _WSTATE_MAX,
};

struct wstate_update {
        int64_t id;
        char bundle[129];
        int64_t from_version;   /* 0 = nothing was running */
        int64_t to_version;
        char kind[16];          /* "update" | "rollback" (manual) */
        enum wstate_state state;
        int64_t started_ms, state_ms, probe_until_ms;
        char evidence[1024];
};

const char *wstate_name(enum wstate_state s);
static inline bool wstate_finished(enum wstate_state s)
{
        return s == WSTATE_COMMITTED || s == WSTATE_ROLLED_BACK;
}

/* Records a new update in state staged; -EBUSY if one is unfinished for the bundle. */
int wstate_begin(struct berth_db *db, const char *bundle, int64_t from, int64_t to, const char *kind,
                 int64_t now_ms, struct wstate_update *ret, berr *e);
/* Moves u to state (and sets probe_until_ms / evidence when given); updates *u. */
int wstate_set(struct berth_db *db, struct wstate_update *u, enum wstate_state state, int64_t probe_until_ms,
               const char *evidence, int64_t now_ms, berr *e);
/* In one transaction: u → committed, and the bundle's current version becomes
 * u->to_version with previous = u->from_version. */
int wstate_commit(struct berth_db *db, struct wstate_update *u, const char *evidence, int64_t now_ms, berr *e);
/* For a node without a workload engine: version becomes the bundle's current one,
 * through a committed update row like the engine's (idempotent: a staged row for the
 * same version left by a crash is committed; already current is a no-op). */
int wstate_record_current(struct berth_db *db, const char *bundle, int64_t version, int64_t now_ms, berr *e);
/* The newest update of a bundle (1), or none (0). unfinished_only: only if not finished. */
int wstate_latest(struct berth_db *db, const char *bundle, bool unfinished_only, struct wstate_update *ret);
/* Current committed version (and the one before) of a bundle: 1, or 0 when none. */
int wstate_current(struct berth_db *db, const char *bundle, int64_t *ret_version, int64_t *ret_previous);
/* Bundles that have a current version or any update, in name order. */
typedef int (*wstate_bundle_fn)(void *ud, const char *bundle);
int wstate_list_bundles(struct berth_db *db, wstate_bundle_fn fn, void *ud);
/* Versions of a bundle recorded in the DB (ascending). */
typedef int (*wstate_version_fn)(void *ud, int64_t version);
int wstate_list_versions(struct berth_db *db, const char *bundle, wstate_version_fn fn, void *ud);

/* Deletes a bundle version's DB rows (bundle, images, blobs) and calls fn for each
 * blob digest that no other bundle still references, and for each image ref (kind
 * "image") with its digest that no other bundle version uses with the same digest.
 * The caller removes those from the content store / containerd afterwards (after the
 * commit: a crash in between leaves unreferenced blobs, never a dangling row). */
typedef void (*wstate_gc_fn)(void *ud, const char *kind, const char *a, const char *b);
int wstate_forget_version(struct berth_db *db, const char *bundle, int64_t version, wstate_gc_fn fn, void *ud,
                          berr *e);
/* Blobs in no bundle at all (for a GC pass after a crash between forget and delete). */
int wstate_unreferenced_blob(struct berth_db *db, const char *digest);
