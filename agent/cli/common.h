/* common.h — helpers shared by the CLI commands: defaults, config, size formatting. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

#define BERTH_DEFAULT_STATE_DIR "/var/lib/berth"
#define BERTH_DEFAULT_TRUST_DIR "/etc/berth/trust"

/* Loads --config PATH (required to exist) or the default config (optional). */
int cli_load_config(const char *path, struct berth_config **ret);
/* "12.3 MiB" style, into a caller buffer of at least 32 bytes. */
const char *format_size(uint64_t bytes, char buf[32]);
