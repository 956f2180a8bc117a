/* SPDX-License-Identifier: Apache-2.0 */
/* targets.h — the targets table: registration, tokens (stored hashed, see auth.h),
 * attributes, reported versions, listing. Last-poll times are batched in memory and
 * flushed by the engine tick, so a poll never writes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/db/db.h"

struct sdb_target {
        int64_t id;
        char cid[SDB_CID_MAX + 1];
        char token_hash[72];    /* "h1:" + keyed hash, or a legacy bare sha256 (auth.h); empty: none */
        bool attrs_requested;
        int64_t last_poll;
        int64_t installed_bundle;       /* 0: unknown */
        int64_t installed_action;       /* last successful action */
};

int sdb_target_get(struct sdb *db, const char *cid, struct sdb_target *t);
int sdb_target_get_by_id(struct sdb *db, int64_t id, struct sdb_target *t);
/* Adds a target; -EEXIST when the controllerId is taken. */
int sdb_target_add(struct sdb *db, const char *cid, const char *token_hash, const char *attrs_json, int64_t *ret_id);
/* How many targets have a keyed token hash ("h1:…"). */
int sdb_targets_keyed(struct sdb *db, int64_t *ret);
/* Replaces a target's token hash, only while it is still old_hash. */
int sdb_target_rekey(struct sdb *db, int64_t id, const char *old_hash, const char *new_hash);
/* Adds many targets in one transaction; existing ones are updated (token, attributes). */
int sdb_targets_add_batch(struct sdb *db, size_t n, const char *const *cids, const char *const *token_hashes,
                          const char *const *attrs, berr *e);
/* Returns a newly allocated JSON object text of the target's attributes. */
int sdb_target_attrs(struct sdb *db, int64_t id, char **ret);
void sdb_note_poll(struct sdb *db, int64_t target_id, int64_t now);
int sdb_flush_polls(struct sdb *db);
/* Installed version reported by the target itself (installedBase PUT). */
int sdb_target_set_reported(struct sdb *db, int64_t id, const char *name, const char *version);
/* Calls fn with the JSON text of each target (ordered by id, after after_id, at most
 * limit; only controllerId cid unless cid is ""). Returns the number of rows. */
int sdb_targets_list_filtered(struct sdb *db, int64_t after_id, unsigned limit, const char *cid,
                              int (*fn)(void *ud, const char *json), void *ud);
/* Calls fn(ud, id, cid, attrs_json) for every target. */
int sdb_targets_foreach(struct sdb *db, int (*fn)(void *ud, int64_t id, const char *cid, const char *attrs), void *ud);
