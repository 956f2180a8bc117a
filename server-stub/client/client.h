/* SPDX-License-Identifier: Apache-2.0 */
/* client.h — the berth-server subcommands that drive a running server's management API.
 *
 * Speaks HTTP through berth's transport (net/http.h). Finds the server from --url, the
 * BERTH_SERVER_URL environment variable or the config file's mgmt.listen, and the admin
 * token from --token, BERTH_SERVER_TOKEN, mgmt.admin_token(_file) or STATE/admin.token.
 */
#pragma once

struct berth_config;

/* argv[0] is the subcommand ("bundle", "target", "rollout", "action"). Exit code. */
int client_main(const struct berth_config *c, const char *url, const char *token, int argc, char **argv);
