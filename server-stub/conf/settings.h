/* SPDX-License-Identifier: Apache-2.0 */
/* settings.h — loading berth-server's config file into the shared struct server.
 *
 * Keys and defaults are documented in server-stub/README.md. Every function returns 0 or a
 * negative errno with a sentence in e naming the key or file at fault.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"

struct berth_config;
struct server;

/* Fills the [server], [ddi], [bundles] and [telemetry] fields of s (paths, tenant,
 * tokens, flags, bounds). */
int settings_load(struct server *s, const struct berth_config *c, berr *e);
/* mgmt.admin_token(_file), else STATE/admin.token (created 0600 with a random token). */
int settings_admin_token(struct server *s, const struct berth_config *c, berr *e);
/* STATE/token.key (created 0600 with a random key). keyed: how many targets' token hashes
 * need the key; when the file is missing and keyed > 0, refused unless
 * server.new_token_key is true. */
int settings_token_key(struct server *s, const struct berth_config *c, int64_t keyed, berr *e);
/* Reads the PEM file named by key (NULL and 0 when the key is unset). */
int settings_pem(const struct berth_config *c, const char *key, char **ret, berr *e);
/* Logs a warning for every key berth-server does not know. */
void settings_warn_unknown(const struct berth_config *c);
/* Frees what settings_load()/settings_admin_token() allocated in s. */
void settings_free(struct server *s);
