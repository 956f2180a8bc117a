/* SPDX-License-Identifier: Apache-2.0 */
/* telemetry.h — the agent's telemetry store-and-forward (telemetry.c): events and
 * samples queued in berth.db, sent to the server in batches when polls, the outbox and
 * the update allow. Its state is telemetry.c's own; control reads req (a batch in flight).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct agent;
struct http_req;
struct sd_event_source;
struct upd_seen;
struct wl_seen;

struct telemetry_state {
        uint64_t start_usec;            /* CLOCK_MONOTONIC at start (the samples' uptime) */
        struct sd_event_source *sample, *kick;
        struct http_req *req;           /* the batch in flight */
        char *body;                     /* its body */
        int64_t last;                   /* last seq of the batch in flight */
        size_t n;                       /* its records */
        unsigned failures;
        bool dropping;                  /* "queue full" already said */
        struct wl_seen *seen;           /* workload instances of the last engine round */
        size_t n_seen;
        struct upd_seen *useen;         /* each bundle's last workload update seen */
        size_t n_useen;
};

int telemetry_start(struct agent *a, berr *e);
void telemetry_stop(struct agent *a);
/* Queues an event record (source: "agent" or a workload name). */
void telemetry_event(struct agent *a, const char *source, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends queued records when the server, the outbox and the update allow (deferred). */
void telemetry_kick(struct agent *a);
/* Milliseconds between samples now: telemetry.interval, four times that while the data
 * budget is low; 0 = events only. */
uint64_t telemetry_interval_ms(struct agent *a);
/* After each workload engine round: restarts and health changes become events. */
void telemetry_on_workloads(struct agent *a);
