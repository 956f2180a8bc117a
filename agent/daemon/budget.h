/* SPDX-License-Identifier: Apache-2.0 */
/* budget.h — the data budget for metered links (budget.c; [budget] in agent.conf):
 * every byte the agent sends to and receives from the rollout server, polls, feedback,
 * telemetry and downloads alike, measured on the wire (net/http.h http_meter: TCP
 * payload with TLS, plus IP and TCP headers), summed per UTC day in berth.db, and held
 * against a rolling budget (budget.limit per budget.period days) and a cap per update
 * (budget.per_update). An update that does not fit is refused before its first byte,
 * unless the server overrides the budget for that deployment. Below budget.low percent
 * left, telemetry samples four times less often (events are kept).
 *
 * Counting continues without a budget (limit 0): status and metrics show the usage.
 * Its state is budget.c's own; the other parts use the functions below.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "net/http.h"
#include "sched/quota.h"

struct agent;
struct sd_event_source;

struct budget_state {
        struct http_meter meter;        /* the server's connections (agent_server_req sets it) */
        struct http_meter seen;         /* what of meter is counted into days */
        struct quota_day *days;         /* the period's days, oldest first, pending included */
        size_t n_days;
        int64_t pending_day;            /* bytes counted on that day, not yet in berth.db */
        uint64_t pending_rx, pending_tx;
        uint64_t flushed_usec;
        struct sd_event_source *timer;
        bool said_low;
};

int budget_start(struct agent *a, berr *e);
/* Counts and writes what is pending. */
void budget_stop(struct agent *a);
/* WAN bytes of the current period (both ways), up to date. */
uint64_t budget_used(struct agent *a);
/* 0 when an update needing `need` more WAN bytes fits; else -EDQUOT and why, one
 * sentence naming what it needs, what is left (and from when enough is), and what to do. */
int budget_check(struct agent *a, const char *what, uint64_t need, char *why, size_t why_len);
/* A budget is set and less than budget.low percent of it is left. */
bool budget_low(struct agent *a);
/* {"used", "periodDays", "low", "sinceStart": {"rx", "tx"}, and with a budget "limit",
 * "left", "perUpdate"}; new reference. */
json_t *budget_json(struct agent *a);
