/* SPDX-License-Identifier: Apache-2.0 */
/* server.h — the running server's shared context and its lifecycle.
 *
 * One struct server is built from the config file by server_run(); the DDI and management
 * handlers and the rollout engine all get it. Everything in it is read-only after start
 * except through the db (which has its own lock) and the engine (likewise).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "config/config.h"

struct sdb;
struct engine;
struct trust;

struct server {
        /* [server] */
        char *state_dir;
        char *artifacts_dir;
        char *spool_dir;
        char *trust_dir;
        char *tenant;
        /* [ddi] */
        char *public_url;               /* NULL: links from the Host header, once it passed host_allowed */
        char *allowed_hosts;            /* ddi.allowed_hosts: names the Host header may give; NULL: none */
        char *gateway_token;            /* NULL: gateway tokens disabled */
        bool require_client_cert;
        bool auto_register;
        char polling_sleep[16];         /* "HH:MM:SS" */
        /* [mgmt] */
        char *admin_token;
        uint8_t token_key[32];          /* STATE/token.key: the key of target token hashes */
        /* [bundles] */
        bool insecure_skip_verify;
        /* [telemetry] */
        unsigned telemetry_keep;        /* records kept per target (the newest) */

        struct sdb *db;
        struct engine *engine;
};

/* Loads the config, opens the database, starts both listeners and the engine, and runs
 * until SIGTERM/SIGINT. overrides are "section.key=value" strings (NULL-terminated). */
int server_run(const char *config_path, char *const *overrides, berr *e);
