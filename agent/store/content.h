/* SPDX-License-Identifier: Apache-2.0 */
/* content.h — the content-addressed blob store under STATE/store.
 *
 *   STATE/store/blobs/sha256/<hex>   verified blobs, read-only (0444), immutable
 *   STATE/store/staging/<id>/<hex>   blobs of one import in flight
 *   STATE/store/partial/<hex>.part   resumable downloads (kept across restarts; the
 *                                    agent journals how much of each is good)
 *
 * A blob becomes visible under blobs/ only by rename() from a fully written, fsynced,
 * digest-checked staging file, so a crash never leaves a partial blob visible. A stage
 * is committed as a whole (after the whole bundle verified) or removed as a whole.
 * Stale staging directories from a crash are removed when the store is opened.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"

struct content_store;
struct content_stage;

int content_store_open(const char *state_dir, struct content_store **ret, berr *e);
void content_store_free(struct content_store *cs);
const char *content_store_dir(const struct content_store *cs);
/* True when a blob with that digest (and, if size != UINT64_MAX, that size) is stored. */
bool content_has(struct content_store *cs, const char *digest, uint64_t size);
/* Newly allocated path of a stored blob (whether it exists or not). */
char *content_path(struct content_store *cs, const char *digest);
/* Opens a stored blob read-only (O_CLOEXEC). */
int content_open(struct content_store *cs, const char *digest, int *ret_fd);
int content_usage(struct content_store *cs, uint64_t *ret_bytes, uint64_t *ret_count);
/* Removes a stored blob (garbage collection); missing is not an error. */
int content_remove(struct content_store *cs, const char *digest);

int content_stage_new(struct content_store *cs, struct content_stage **ret, berr *e);
/* Creates the staging file for digest; returns an fd for writing. */
int content_stage_open(struct content_stage *st, const char *digest, int *ret_fd, berr *e);
/* Marks the staged blob complete and verified: fsyncs and closes fd. */
int content_stage_done(struct content_stage *st, const char *digest, int fd, berr *e);
/* Drops a staged blob (e.g. after a digest mismatch). */
void content_stage_discard(struct content_stage *st, const char *digest, int fd);
/* Publishes every completed blob into the store (rename + fsync dir). */
int content_stage_commit(struct content_stage *st, berr *e);
/* Directory for resumable partial downloads (exists after content_store_open). */
const char *content_partial_dir(const struct content_store *cs);
/* The suffix of the files `berth import --from-peers` writes in the partial directory
 * (<hex>.from-peers), which the agent leaves alone for an hour. */
#define CONTENT_FROM_PEERS_SUFFIX ".from-peers"
/* Publishes a fully written file whose content the caller verified hashes to digest:
 * fsync, read-only, rename into the store, fsync the directory. path must be on the
 * store's filesystem (e.g. in content_partial_dir). */
int content_publish_file(struct content_store *cs, const char *digest, const char *path, berr *e);

/* Removes whatever is still staged; NULL is fine. */
void content_stage_free(struct content_stage *st);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct content_store *, content_store_free)
DEFINE_CLEANUP(struct content_stage *, content_stage_free)
