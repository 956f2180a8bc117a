/* SPDX-License-Identifier: Apache-2.0 */
/* main.c — berth-server entry point: `serve` runs the server, every other command is a
 * management client (client/). Global options come before the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "client/client.h"
#include "config/config.h"
#include "core/server.h"

#define DEFAULT_CONFIG "/etc/berth/server.conf" /* the Debian package's conffile */

static int usage(FILE *f)
{
        fprintf(f, "Usage: berth-server [-c CONFIG] [--url URL] [--token TOKEN] [-v] COMMAND ...\n\n"
                   "  serve [--set section.key=value]...   run the rollout server (hawkBit DDI + management API)\n"
                   "  bundle upload|list                   manage bundles\n"
                   "  target add|list|show|telemetry       manage targets, read their telemetry\n"
                   "  rollout create|list|status|start|pause|resume|cancel\n"
                   "  action show|cancel ID\n\n"
                   "CONFIG defaults to " DEFAULT_CONFIG " (env BERTH_SERVER_CONFIG). See server-stub/README.md.\n");
        return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
        const char *config = getenv("BERTH_SERVER_CONFIG");
        const char *url = NULL, *token = NULL;
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
                        config = argv[++i];
                else if (!strcmp(argv[i], "--url") && i + 1 < argc)
                        url = argv[++i];
                else if (!strcmp(argv[i], "--token") && i + 1 < argc)
                        token = argv[++i];
                else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
                        log_set_max_level(LOG_LEVEL_DEBUG);
                else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
                        return usage(stdout);
                else if (!strcmp(argv[i], "--version")) {
                        printf("berth-server %s\n", BERTH_VERSION);
                        return 0;
                } else
                        return usage(stderr);
        }
        if (i >= argc)
                return usage(stderr);
        if (!config)
                config = DEFAULT_CONFIG;
        if (!strcmp(argv[i], "serve")) {
                char **overrides = calloc((size_t)argc, sizeof *overrides);
                size_t n = 0;
                if (!overrides)
                        return 1;
                for (int k = i + 1; k < argc; k++) {
                        if (!strcmp(argv[k], "--set") && k + 1 < argc)
                                overrides[n++] = argv[++k];
                        else {
                                free(overrides);
                                return usage(stderr);
                        }
                }
                berr e = {0};
                int r = server_run(config, overrides, &e);
                free(overrides);
                if (r < 0) {
                        log_error("%s", berr_msg(&e, r));
                        return 1;
                }
                return 0;
        }
        _cleanup_(config_freep) struct berth_config *c = NULL;
        berr e = {0};
        int r = config_load(config, true, &c, &e);
        if (r < 0) {
                log_error("%s", berr_msg(&e, r));
                return 1;
        }
        return client_main(c, url, token, argc - i, argv + i);
}
