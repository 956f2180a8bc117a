/* SPDX-License-Identifier: Apache-2.0 */
/* control.h — the daemon side of the control socket (control.c; the protocol is in
 * ctl/ctl.h): status, import, activate, confirm and deny for the local CLI. Its state is
 * control.c's own.
 */
#pragma once

#include "base/err.h"
#include "daemon/connset.h"

struct agent;
struct control_import;

struct control_state {
        struct connset conns;           /* the listener and its clients */
        struct control_import *import;  /* the import running for a client, or NULL */
};

int control_start(struct agent *a, berr *e);
/* Waits for an import still running, closes the clients and the listener, and removes
 * the socket it created. */
void control_stop(struct agent *a);
