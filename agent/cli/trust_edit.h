/* SPDX-License-Identifier: Apache-2.0 */
/* trust_edit.h — the parts of `berth trust` that make roots (trust_edit.c); cmd_trust.c
 * dispatches to them and holds the parts that check roots and give them to a node.
 */
#pragma once

#include "base/err.h"

#define TRUST_CLI_MAX_ARGS 64

/* Logs e once; returns the exit status 1. */
int trust_fail(int r, const berr *e);
int trust_cmd_init(int argc, char **argv);
int trust_cmd_rotate(int argc, char **argv);
int trust_cmd_sign(int argc, char **argv);
