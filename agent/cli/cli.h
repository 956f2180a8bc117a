/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h — the berth command line.
 *
 * Each command is a function `int cmd_x(int argc, char **argv)` returning the process
 * exit status (0 ok, 1 failure, 2 usage). Commands log their own errors, once.
 */
#pragma once

int cli_main(int argc, char **argv);

int cmd_keygen(int argc, char **argv);
int cmd_trust(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_mirror(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_activate(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_supervise(int argc, char **argv);
int cmd_confirm(int argc, char **argv);
int cmd_deny(int argc, char **argv);

/* Exit codes. */
#define EXIT_USAGE 2
