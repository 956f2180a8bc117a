/* SPDX-License-Identifier: Apache-2.0 */
/* linger.h — reads and drops what a client still sends after the server answered early.
 *
 * A connection answered before its body was read (413, 400, 401) is closed by
 * libmicrohttpd; closing a socket with unread bytes makes the kernel send RST, which can
 * destroy the answer in the client's receive buffer. A duplicate of the socket is handed
 * here instead: one thread reads and drops its bytes until the client closes, or a byte
 * or time bound is reached, and only then closes it. Never parses or answers anything.
 */
#pragma once

#include <stdint.h>

#include "base/err.h"

/* Bounds per socket: bytes dropped, seconds in all, seconds without a byte. */
#define LINGER_MAX_BYTES (64u << 20)
#define LINGER_MAX_SECONDS 30
#define LINGER_IDLE_SECONDS 5
/* Sockets drained at once; beyond that a socket is closed at once. */
#define LINGER_MAX_SOCKETS 64

struct linger;

int linger_start(struct linger **ret, berr *e);
/* Closes every socket still draining and stops the thread. NULL is fine. */
void linger_stop(struct linger *l);
/* Takes fd (a duplicate of the connection's socket, its write side already shut down):
 * drains it within the bounds above, then closes it. Closes it at once when full. */
void linger_add(struct linger *l, int fd);
