/* SPDX-License-Identifier: Apache-2.0 */
/* rollout.h — staged rollouts: deterministic groups, thresholds, soak, pause/resume/cancel.
 *
 * The engine is one thread that ticks (and is kicked after feedback): it flushes batched
 * poll times and advances every running rollout. Operator commands and the tick are
 * serialised by the engine's mutex; every decision is persisted in one transaction, so a
 * restart resumes exactly where it stopped (the engine keeps no state of its own).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct server;
struct engine;

int engine_start(struct server *s, unsigned tick_ms, struct engine **ret, berr *e);
void engine_stop(struct engine *en);
/* Asks for an early tick (after feedback that may change a group's counts). */
void engine_kick(struct engine *en);

/* Creates a rollout from a JSON spec (see README); targets are assigned to groups now. */
int rollout_create(struct server *s, json_t *spec, int64_t *ret_id, berr *e);
/* cmd: start | pause | resume | cancel. -ENOENT unknown rollout, -EBUSY wrong state. */
int rollout_command(struct server *s, int64_t id, const char *cmd, berr *e);
/* Status with per-group counts; NULL when the rollout does not exist. */
json_t *rollout_status(struct server *s, int64_t id);
/* "HH:MM-HH:MM" (UTC, may wrap midnight): is t inside? Empty window: always. */
bool mwindow_open(const char *w, int64_t t);
bool mwindow_valid(const char *w);
