/* SPDX-License-Identifier: Apache-2.0 */
/* addr.h — the one parser of "ADDRESS:PORT" settings for sockets the agent listens on
 * (metrics.listen, peers.listen). Numeric addresses only: a name would need a resolver
 * at start-up. Pure. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

/* "1.2.3.4:PORT" or "[v6]:PORT" into *ss; with any_ok also ":PORT" (every address, IPv6
 * and IPv4). PORT is 0..65535 (0: the kernel picks). -EINVAL for anything else. */
int addr_parse(const char *s, bool any_ok, struct sockaddr_storage *ss, socklen_t *len);
