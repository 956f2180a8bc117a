/* SPDX-License-Identifier: Apache-2.0 */
/* config.h — berth's configuration file (/etc/berth/agent.conf by default).
 *
 * INI style, one setting per line, '#' or ';' starts a comment:
 *
 *   [containerd]
 *   address = /run/containerd/containerd.sock
 *   namespace = k8s.io
 *
 * Keys are looked up as "section.key" ("containerd.address"); keys before any section
 * are plain ("state_dir"). Values are trimmed; surrounding double quotes are removed.
 * Unknown keys are kept (a newer config on an older agent is not an error) but
 * config_warn_unknown() can report them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define BERTH_DEFAULT_CONFIG "/etc/berth/agent.conf"

struct berth_config;

/* Loads path; a missing file gives an empty config when optional is true. */
int config_load(const char *path, bool optional, struct berth_config **ret, berr *e);
struct berth_config *config_new_empty(void);
void config_free(struct berth_config *c);
/* Sets or replaces a value (command-line overrides). */
int config_set(struct berth_config *c, const char *key, const char *value);
/* The value, or def when unset. */
const char *config_get(const struct berth_config *c, const char *key, const char *def);
int config_get_u64(const struct berth_config *c, const char *key, uint64_t def, uint64_t *ret, berr *e);
int config_get_bool(const struct berth_config *c, const char *key, bool def, bool *ret, berr *e);
/* Calls fn for every key whose name is not in known (NULL-terminated). */
void config_foreach_unknown(const struct berth_config *c, const char *const *known,
                            void (*fn)(const char *key, void *ud), void *ud);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct berth_config *, config_free)
