/* SPDX-License-Identifier: Apache-2.0 */
/* events.c — see events.h. */
#include "containerd/events.h"

#include <errno.h>

#include "containerd/services/events.pb-c.h"
#include "grpc/grpc.h"

struct sub {
        ctrd_event_fn fn;
        void *ud;
};

static int on_envelope(void *ud, const ProtobufCMessage *msg)
{
        struct sub *s = ud;
        const Containerd__Services__Events__V1__Envelope *env = (const void *)msg;
        struct ctrd_event ev = {
                .topic = env->topic ? env->topic : "",
                .ns = env->namespace_ ? env->namespace_ : "",
                .type_url = env->event && env->event->type_url ? env->event->type_url : "",
                .payload = env->event ? env->event->value.data : NULL,
                .payload_len = env->event ? env->event->value.len : 0,
                .timestamp_s = env->timestamp ? env->timestamp->seconds : 0,
        };
        return s->fn(s->ud, &ev);
}

int ctrd_events_subscribe(struct ctrd *c, const char *const *filters, size_t n_filters, uint64_t timeout_ms,
                          ctrd_event_fn fn, void *ud, berr *e)
{
        Containerd__Services__Events__V1__SubscribeRequest req =
                CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        struct sub s = { fn, ud };

        req.filters = (char **)filters;
        req.n_filters = n_filters;
        struct grpc_call call = {
                .method = "/containerd.services.events.v1.Events/Subscribe",
                .request = &req.base,
                .response_type = &containerd__services__events__v1__envelope__descriptor,
                .recv = on_envelope,
                .recv_ud = &s,
                .timeout_ms = timeout_ms,
                .no_deadline = timeout_ms == 0,
        };
        return grpc_call_run(ctrd_grpc(c), &call, e);
}

int ctrd_events_subscribe_cancellable(struct ctrd *c, const char *const *filters, size_t n_filters,
                                      const int *cancel, ctrd_event_fn fn, void *ud, berr *e)
{
        Containerd__Services__Events__V1__SubscribeRequest req =
                CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        struct sub s = { fn, ud };

        req.filters = (char **)filters;
        req.n_filters = n_filters;
        struct grpc_call call = {
                .method = "/containerd.services.events.v1.Events/Subscribe",
                .request = &req.base,
                .response_type = &containerd__services__events__v1__envelope__descriptor,
                .recv = on_envelope,
                .recv_ud = &s,
                .no_deadline = true,
                .cancel = cancel,
        };
        return grpc_call_run(ctrd_grpc(c), &call, e);
}
