/* SPDX-License-Identifier: Apache-2.0 */
/* window.h — local maintenance windows: daily UTC ranges "HH:MM-HH:MM" (comma
 * separated; a range may wrap midnight, "22:00-04:00"). The agent switches a staged
 * update only while both the server's window (DDI maintenanceWindow) and the local one
 * are open. An empty specification means "always open". Pure functions.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define WINDOW_MAX_RANGES 8

struct maint_window {
        unsigned n;
        struct { uint32_t start, end; } r[WINDOW_MAX_RANGES];  /* seconds of the UTC day */
};

int window_parse(const char *spec, struct maint_window *ret, berr *e);
bool window_is_open(const struct maint_window *w, int64_t now);
/* Seconds from now until the window next opens (0 when open now). */
int64_t window_wait(const struct maint_window *w, int64_t now);
