/* SPDX-License-Identifier: Apache-2.0 */
/* common.h — helpers shared by the CLI commands: defaults, config, size formatting. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"

#define BERTH_DEFAULT_STATE_DIR "/var/lib/berth"
#define BERTH_DEFAULT_TRUST_DIR "/etc/berth/trust"

/* Loads --config PATH (required to exist) or the default config (optional). */
int cli_load_config(const char *path, struct berth_config **ret);
/* "12.3 MiB" style, into a caller buffer of at least 32 bytes. */
const char *format_size(uint64_t bytes, char buf[32]);

/* Sends one request to the running agent (control.socket from cfg, or socket when not
 * NULL) and waits at most timeout_s for the answer (0: 600 s, for imports). 0 with
 * *ret = the answer; -ENOTCONN when no agent listens or the agent manages another state
 * directory (then work directly); other errors are logged. */
int cli_daemon_call(const struct berth_config *cfg, const char *socket, json_t *req, int fd, unsigned timeout_s,
                    json_t **ret);
/* How long status, activate, confirm and deny wait for the agent: its loop answers at
 * once (imports and preloads run on threads of their own). */
#define CLI_DAEMON_TIMEOUT_S 30
/* {"cmd": cmd, "stateDir": realpath(state_dir)} (stateDir left out when state_dir is NULL
 * or cannot be resolved), for cli_daemon_call. NULL on ENOMEM. */
json_t *cli_daemon_request(const char *cmd, const char *state_dir);
