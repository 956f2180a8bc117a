/* SPDX-License-Identifier: Apache-2.0 */
/* daemon.h — `berth agent`: the node's long-running agent (see README.md beside it).
 *
 * One sd-event loop runs everything: DDI polling with backoff, Range downloads through
 * libcurl's multi interface, the update state machine, the feedback outbox and the
 * control socket. Returns when SIGTERM/SIGINT arrives (0) or setup fails (<0, e set).
 */
#pragma once

#include "base/err.h"
#include "config/config.h"

int agent_main(const struct berth_config *cfg, berr *e);
