/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_activate.h — what cmd_activate.c offers the other commands (CLI glue for the
 * workload engine): the synchronous activation used by 'berth activate', 'berth
 * import --activate', 'berth rollback', and the workload part of 'berth status'.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "containerd/preload.h"

/* Runs the update of name to version (or a rollback) to its end; prints the outcome.
 * Returns the exit status: 0 committed, 1 rolled back or failed. */
int cli_activate(const char *state_dir, const struct berth_config *cfg, const struct containerd_backend_opts *ctrd,
                 const char *data_dir, const char *name, int64_t version, bool rollback);
/* The engine's status (JSON array, new reference) read-only, or NULL with a logged error. */
json_t *cli_workload_status(const char *state_dir, const struct berth_config *cfg,
                            const struct containerd_backend_opts *ctrd);
/* Prints the status array as text. */
void cli_print_workload_status(json_t *st);
