/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_consent.c — berth confirm / berth deny: answer, on the gateway, an update the
 * server asks consent for (hawkBit's confirmationBase), through the running agent. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "config/config.h"

static int consent(int argc, char **argv, bool confirm)
{
        static const struct option opts[] = {
                {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 'K'},
                {"reason", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *config = NULL, *socket = NULL, *reason = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'c': config = optarg; break;
                case 'K': socket = optarg; break;
                case 'r': reason = optarg; break;
                case 'h':
                        if (confirm)
                                printf("Usage: berth confirm [--config FILE] [--socket PATH] ACTION\n\n"
                                       "Confirms the update the server asks consent for (see 'berth status': the\n"
                                       "action waiting for confirmation). The agent sends the answer to the\n"
                                       "server, naming the local user who gave it, and the update proceeds.\n");
                        else
                                printf("Usage: berth deny [--config FILE] [--socket PATH] --reason TEXT ACTION\n\n"
                                       "Denies the update the server asks consent for; the reason goes to the\n"
                                       "server with the local user's name. The server keeps the action waiting:\n"
                                       "it can still be confirmed later.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind + 1 != argc) {
                log_error("berth %s: name exactly one action (its id is in 'berth status')", confirm ? "confirm" : "deny");
                return EXIT_USAGE;
        }
        if (!confirm && (!reason || !*reason)) {
                log_error("berth deny: say why with --reason TEXT (it is sent to the server)");
                return EXIT_USAGE;
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        json_t *req = json_pack("{s:s,s:s,s:s?}", "cmd", confirm ? "confirm" : "deny", "action", argv[optind], "reason",
                                reason);
        json_t *rep = NULL;
        int r = req ? cli_daemon_call(cfg, socket, req, -1, CLI_DAEMON_TIMEOUT_S, &rep) : -ENOMEM;
        json_decref(req);
        if (r == -ENOTCONN) {
                log_error("no agent runs on this gateway (control socket): consent is given to a running agent");
                return 1;
        }
        if (r < 0)
                return 1;
        int ret = 0;
        if (!json_is_true(json_object_get(rep, "ok"))) {
                log_error("%s", json_string_value(json_object_get(rep, "error")) ?: "the agent refused the answer");
                ret = 1;
        } else
                printf("action %s %s; the agent sends the answer to the server\n", argv[optind],
                       confirm ? "confirmed" : "denied");
        json_decref(rep);
        return ret;
}

int cmd_confirm(int argc, char **argv)
{
        return consent(argc, argv, true);
}

int cmd_deny(int argc, char **argv)
{
        return consent(argc, argv, false);
}
