/* SPDX-License-Identifier: Apache-2.0 */
/* poll.h — DDI polling of the controller base and its links (poll.c). Its state is
 * poll.c's own; control, metrics and telemetry read last_ok, failures and last_error.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

struct agent;
struct sd_event_source;

struct poll_state {
        struct sd_event_source *timer;
        struct http_req *req;           /* the poll (base or a link) in flight */
        unsigned failures;              /* in a row */
        int64_t sleep;                  /* the server's last config.polling.sleep, -1 unknown */
        int64_t last_ok;                /* wall clock of the last good answer */
        char last_error[256];
        /* The last controller base the server sent with an ETag: polls send If-None-Match
         * and a 304 answer means "this again" (no body over the WAN). */
        char etag[HTTP_ETAG_MAX];
        char *base;
        size_t base_len;
        uint64_t not_modified;          /* 304 answers */
};

void poll_schedule(struct agent *a, uint64_t delay_ms);
/* Cancels the poll in flight and frees what the state holds (teardown). */
void poll_stop(struct agent *a);
