/* SPDX-License-Identifier: Apache-2.0 */
/* main.c — the berth command line: dispatch to agent/cli/. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
        return cli_main(argc, argv);
}
