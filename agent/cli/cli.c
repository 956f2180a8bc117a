/* SPDX-License-Identifier: Apache-2.0 */
/* cli.c — top-level command dispatch and global options. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

static const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *help;
} commands[] = {
        {"keygen", cmd_keygen, "generate an Ed25519 signing key pair"},
        {"trust", cmd_trust, "create, co-sign and check trust roots; show or update this node's"},
        {"bundle", cmd_bundle, "create, sign, verify and inspect .berth bundles"},
        {"import", cmd_import, "verify a bundle and import it into this node (USB/offline path)"},
        {"status", cmd_status, "show installed bundles, images and store usage"},
        {"mirror", cmd_mirror, "write K3s/containerd configuration for the local registry mirror"},
        {"agent", cmd_agent, "run the node agent daemon (polls the rollout server, downloads, installs)"},
        {"activate", cmd_activate, "switch a bundle's workloads to a version: probe, commit or roll back"},
        {"rollback", cmd_rollback, "return a bundle's workloads to the previous committed version"},
        {"confirm", cmd_confirm, "confirm an update the server asks consent for (through the agent)"},
        {"deny", cmd_deny, "deny an update the server asks consent for, with a reason"},
        {"supervise", cmd_supervise, "run the workload engine in the foreground (until the daemon exists)"},
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: berth [--verbose] COMMAND [OPTIONS...]\n\n"
                   "Signed OTA and container-image distribution for edge gateways.\n\nCommands:\n");
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
        fprintf(f, "\nRun 'berth COMMAND --help' for a command's options.\n");
}

int cli_main(int argc, char **argv)
{
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (!strcmp(argv[i], "--version")) {
                        printf("berth %s\n", BERTH_VERSION);
                        return 0;
                } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        usage(stdout);
                        return 0;
                } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
                        log_set_max_level(LOG_LEVEL_DEBUG);
                } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
                        log_set_max_level(LOG_LEVEL_WARNING);
                } else {
                        log_error("unknown option '%s'; see 'berth --help'", argv[i]);
                        return EXIT_USAGE;
                }
        }
        if (i >= argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
                if (!strcmp(argv[i], commands[c].name))
                        return commands[c].fn(argc - i, argv + i);
        log_error("unknown command '%s'; see 'berth --help'", argv[i]);
        return EXIT_USAGE;
}
