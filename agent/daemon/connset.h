/* SPDX-License-Identifier: Apache-2.0 */
/* connset.h — the short request/answer connections the agent serves on its event loop
 * (the control socket, the metrics endpoint).
 *
 * Every read and write is non-blocking; a connection has one deadline for reading its
 * whole request and one for writing its whole answer, so a peer that trickles a byte at a
 * time, or stops reading, costs a few bytes of memory and never a blocked loop. At most
 * `max` connections are open; when a new one arrives at the limit, the oldest connection
 * that has not sent a complete request yet is closed for it, so idle peers cannot lock the
 * others out. A passed file descriptor (SCM_RIGHTS on a unix socket) is kept, the first one
 * only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
struct conn;

struct connset {
        /* set by the owner */
        sd_event *ev;
        const char *what;               /* "control socket", for the log */
        unsigned max;                   /* connections open at once */
        uint64_t deadline_usec;         /* to read a request; again to write its answer */
        size_t max_in;                  /* request bytes kept; on_input sees at most this */
        /* After each read, with every byte received so far: 0 = wait for more (at max_in,
         * the connection is closed), 1 = the answer was given with conn_reply(), 2 = the
         * answer comes later with conn_answer_later() (the connection then waits without
         * a deadline and is not read from; it stays valid until answered or until
         * connset_stop()), <0 = close the connection without an answer. */
        int (*on_input)(struct conn *c, const uint8_t *in, size_t len, void *userdata);
        /* Before a byte is read (optional): may answer at once with conn_reply(), or
         * return <0 to close. */
        int (*on_open)(struct conn *c, void *userdata);
        void *userdata;
        bool log_timeouts;              /* a warning per connection closed at its deadline */

        /* connset.c's own */
        int listen_fd;
        sd_event_source *src;
        struct conn *conns;             /* newest first */
        unsigned n;
};

/* Serves listen_fd (non-blocking, listening; the set closes it at stop). */
int connset_start(struct connset *s, int listen_fd, berr *e);
void connset_stop(struct connset *s);

/* The answer: buf (malloc'd) is the connection's from here; the connection closes once
 * it is written, or at its deadline. */
void conn_reply(struct conn *c, void *buf, size_t len);
/* The answer to a request on_input() deferred (returned 2): written as conn_reply()'s. */
void conn_answer_later(struct conn *c, void *buf, size_t len);
int conn_fd(const struct conn *c);
/* The descriptor the peer passed, now the caller's; -1 when none. */
int conn_take_passed_fd(struct conn *c);
