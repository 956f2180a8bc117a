/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_keygen.c — berth keygen: make an Ed25519 signing key pair. */
#include <getopt.h>
#include <stdio.h>

#include "base/log.h"
#include "bundle/keys.h"
#include "cli/cli.h"

static void help(void)
{
        printf("Usage: berth keygen -o DIR [--name NAME]\n\n"
               "Generates an Ed25519 signing key pair: DIR/NAME.key (secret, mode 0600) and\n"
               "DIR/NAME.pub (copy it into the trust directory of every node). NAME defaults to\n"
               "'berth'. Existing files are never overwritten.\n");
}

int cmd_keygen(int argc, char **argv)
{
        static const struct option opts[] = {
                {"output", required_argument, NULL, 'o'},
                {"name", required_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *dir = NULL, *name = "berth";
        int c;
        while ((c = getopt_long(argc, argv, "o:n:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'o': dir = optarg; break;
                case 'n': name = optarg; break;
                case 'h': help(); return 0;
                default: return EXIT_USAGE;
                }
        }
        if (!dir || optind != argc) {
                log_error("keygen needs -o DIR and no other arguments; see 'berth keygen --help'");
                return EXIT_USAGE;
        }
        berr e = {0};
        struct berth_key k;
        int r = key_generate(dir, name, &k, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        printf("generated key '%s' (id %s): %s/%s.key (keep secret), %s/%s.pub\n", k.name, k.id, dir, name, dir, name);
        key_wipe(&k);
        return 0;
}
