/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_agent.c — berth agent: run the node agent daemon (agent/daemon/). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "daemon/daemon.h"
#include "daemon/settings.h"
#include "workload/policy.h"

static void help(void)
{
        printf("Usage: berth agent [--config FILE] [--set KEY=VALUE]...\n\n"
               "Runs the node agent: polls the rollout server (hawkBit DDI), downloads only the\n"
               "missing blobs of a deployed bundle by HTTP Range (resumable, bandwidth-capped),\n"
               "verifies, stores and preloads it, switches it within the maintenance window and\n"
               "reports back. Serves `berth status` and `berth import` on the control socket.\n"
               "Stops on SIGTERM/SIGINT. Every key is described in agent/daemon/README.md.\n\n"
               "  --config FILE    configuration file (default %s, optional)\n"
               "  --set KEY=VALUE  override a config key, e.g. --set server.url=https://…\n",
               BERTH_DEFAULT_CONFIG);
}

static void warn_unknown(const char *key, void *ud)
{
        /* [policy] is checked whole by wl_policy_from_config(): an unknown key there is an error. */
        if (strncmp(key, "policy.", 7) != 0)
                log_warning("config: unknown key '%s' (ignored)", key);
}

int cmd_agent(int argc, char **argv)
{
        static const struct option opts[] = {
                {"config", required_argument, NULL, 'c'},
                {"set", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *config = NULL;
        const char *sets[64];
        size_t n_sets = 0;
        int c;
        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'c': config = optarg; break;
                case 'S':
                        if (n_sets == 64 || !strchr(optarg, '=')) {
                                log_error("--set takes KEY=VALUE (at most 64 times)");
                                return EXIT_USAGE;
                        }
                        sets[n_sets++] = optarg;
                        break;
                case 'h': help(); return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                log_error("agent takes no arguments; see 'berth agent --help'");
                return EXIT_USAGE;
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        for (size_t i = 0; i < n_sets; i++) {
                char key[256];
                const char *eq = strchr(sets[i], '=');
                snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i]), sets[i]);
                if (config_set(cfg, key, eq + 1) < 0)
                        return log_error("out of memory"), 1;
        }
        config_foreach_unknown(cfg, agent_settings_known_keys, warn_unknown, NULL);
        berr e = {0};
        /* The daemon reads [policy] at each import; a malformed one stops it here, at start. */
        struct wl_policy *policy = NULL;
        int r = wl_policy_from_config(cfg, &policy, &e);
        wl_policy_free(policy);
        if (r < 0) {
                log_error_errno(r, "agent: %s", berr_msg(&e, r));
                return 1;
        }
        r = agent_main(cfg, &e);
        if (r < 0) {
                log_error_errno(r, "agent: %s", berr_msg(&e, r));
                return 1;
        }
        return 0;
}
