/* SPDX-License-Identifier: Apache-2.0 */
/* err.h — error values with a human sentence attached.
 *
 * Library code returns a negative errno and, when the caller passed a berr, fills it
 * with one sentence that says what failed on which object. Callers add context as the
 * error travels up ("bundle gw.berth: ..."); only the code that decides prints it.
 */
#pragma once

#include <stddef.h>

typedef struct berr {
        int code;       /* negative errno, 0 when unset */
        char msg[768];
} berr;

/* Sets the message (printf style) unless one is already set; returns r. */
int berr_set(berr *e, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message with context ("what: existing"); returns r. */
int berr_prefix(berr *e, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The message, or strerror(-r) when nothing was recorded. Never NULL. */
const char *berr_msg(const berr *e, int r);
void berr_clear(berr *e);
