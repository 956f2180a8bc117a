/* SPDX-License-Identifier: Apache-2.0 */
/* plan.h — what a rollout will cost before it starts: per target, the bytes its agent
 * will download (the bundle's head and the blobs it does not hold yet, as far as the
 * server knows) and whether it will refuse the update, per group and in total.
 *
 * Read-only: it looks at the rollout's groups, the targets' installed bundles and
 * attributes and the stored bundle files; it never changes the database.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

struct server;

#define PLAN_DEFAULT_RATE 20000000ULL /* bit/s, when the caller names none */

/* Builds the plan of rollout id at rate_bps (bit/s, > 0) into *ret (a new reference).
 * -ENOENT when the rollout does not exist; other negative errno with e set when the
 * database or the rollout's bundle file cannot be read. */
int rollout_plan(struct server *s, int64_t id, uint64_t rate_bps, json_t **ret, berr *e);
