/* SPDX-License-Identifier: Apache-2.0 */
/* bgjob.h — one piece of blocking work (reading a whole bundle back, a store import
 * with its containerd preload) run on a thread of its own, its result delivered on the
 * event loop. The loop keeps polling, answering the control socket and the metrics
 * endpoint, probing workloads and sending WATCHDOG=1 while the work runs: a preload of
 * a few GiB from slow flash takes longer than the unit's WatchdogSec.
 *
 * The work function gets only its own userdata: it must not touch the agent's
 * loop-owned state (struct agent, its database connection, sd-event), and opens what it
 * needs itself. done() runs on the loop after the thread has been joined.
 */
#pragma once

#include <stdbool.h>

#include "base/err.h"

typedef struct sd_event sd_event;
struct bgjob;

typedef int (*bgjob_work_fn)(void *userdata);
typedef void (*bgjob_done_fn)(void *userdata, int r);

/* Starts work(userdata) on a new thread. *ret runs until done(userdata, r) has been
 * called on the loop (after which the job is freed: do not use *ret any more). */
int bgjob_start(sd_event *ev, const char *what, bgjob_work_fn work, bgjob_done_fn done, void *userdata,
                struct bgjob **ret, berr *e);
/* Waits for the thread (blocking: for shutdown only) and frees the job; done() is not
 * called. NULL is fine. */
void bgjob_wait_free(struct bgjob *j);
