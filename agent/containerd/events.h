/* SPDX-License-Identifier: Apache-2.0 */
/* events.h — containerd's event stream (Events.Subscribe, a server-streaming call):
 * the workload manager follows task exits and OOMs with it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "containerd/client.h"

struct ctrd_event {
        const char *topic;      /* "/tasks/exit", "/images/create", ... */
        const char *ns;
        const char *type_url;   /* of the payload, e.g. "containerd.events.TaskExit" */
        const uint8_t *payload; /* protobuf bytes of that type */
        size_t payload_len;
        int64_t timestamp_s;
};

/* Return < 0 to fail, > 0 to stop (the call then returns that value), 0 for more. */
typedef int (*ctrd_event_fn)(void *ud, const struct ctrd_event *ev);

/* Subscribes with containerd filters (e.g. "topic==\"/tasks/exit\""; none = all) and
 * calls fn per event until fn stops it, the stream fails, or timeout_ms passes
 * (0 = no deadline; then -ETIMEDOUT is only returned by a dead connection). */
int ctrd_events_subscribe(struct ctrd *c, const char *const *filters, size_t n_filters, uint64_t timeout_ms,
                          ctrd_event_fn fn, void *ud, berr *e);
/* The same, ended from another thread: when *cancel becomes non-zero the call returns
 * -ECANCELED within about a second. No deadline. */
int ctrd_events_subscribe_cancellable(struct ctrd *c, const char *const *filters, size_t n_filters,
                                      const int *cancel, ctrd_event_fn fn, void *ud, berr *e);
