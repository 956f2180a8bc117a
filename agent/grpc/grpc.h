/* SPDX-License-Identifier: Apache-2.0 */
/* grpc.h — a small gRPC client on berth's HTTP transport (net/http.h): HTTP/2 with
 * prior knowledge on a unix socket (containerd), protobuf-c messages, unary,
 * client-streaming and server-streaming calls, deadlines, fixed request metadata (e.g.
 * "containerd-namespace").
 *
 * Calls are blocking. One client = one HTTP session; use one client per thread.
 * libcurl < 8.0 fails a second request on a reused h2c connection (curl #10634), so
 * there every call opens a fresh connection (a unix-socket connect is ~0.3 ms).
 * Errors name the call and carry the server's own grpc-message.
 * Debugging aid: BERTH_HTTP_VERBOSE=1 in the environment turns on the transport's
 * verbose trace (stderr) for every call.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "base/err.h"
#include "grpc/frame.h"

struct grpc_client;

int grpc_client_new(const char *socket_path, struct grpc_client **ret, berr *e);
void grpc_client_free(struct grpc_client *c);
const char *grpc_client_socket(const struct grpc_client *c);
/* Sends "name: value" with every request from now on (e.g. containerd-namespace,
 * containerd-lease); replaces an earlier value; value NULL removes it. Names are
 * lowercase ASCII; values must not contain CR, LF or NUL (-EINVAL). */
int grpc_client_set_metadata(struct grpc_client *c, const char *name, const char *value);
/* Deadline used when a call passes timeout_ms == 0; 0 = none. Default 30 s. */
void grpc_client_set_default_timeout(struct grpc_client *c, uint64_t timeout_ms);
/* True when this libcurl reuses h2c connections between calls (≥ 8.0). */
bool grpc_client_reuses_connections(const struct grpc_client *c);

/* Supplies the next message of a client stream: sets *ret to a message that must stay
 * valid until the next call, or to NULL to end the stream. Negative return aborts. */
typedef int (*grpc_send_fn)(void *ud, const ProtobufCMessage **ret);
/* A bytes field of a client-stream message that is not in memory: length bytes of fd
 * at offset, sent as field number `field` after the packed message (protobuf readers
 * accept fields in any order) and read from fd straight into libcurl's buffer, so a
 * 4 MiB Content.Write chunk needs no 4 MiB buffer, let alone two. `what` names the data
 * in errors. length 0: no such field in this message. */
struct grpc_raw_field {
        uint32_t field;
        int fd;
        uint64_t offset, length;
        const char *what;
};
/* Like grpc_send_fn, plus an optional raw field appended to *ret. */
typedef int (*grpc_send_raw_fn)(void *ud, const ProtobufCMessage **ret, struct grpc_raw_field *raw);
/* Receives one message of a server stream (freed after the call). Negative return
 * aborts the call with that error; positive ends it early as a success. */
typedef int (*grpc_recv_fn)(void *ud, const ProtobufCMessage *msg);

struct grpc_call {
        const char *method;             /* "/containerd.services.content.v1.Content/Info" */
        const ProtobufCMessage *request;/* the single request (unary / server-streaming) */
        grpc_send_fn send;              /* or: a client stream */
        grpc_send_raw_fn send_raw;      /* or: a client stream with raw fields */
        void *send_ud;
        const ProtobufCMessageDescriptor *response_type;
        grpc_recv_fn recv;              /* every response message; or NULL: exactly one */
        void *recv_ud;                  /* response expected, stored in *(ProtobufCMessage **)recv_ud */
        uint64_t timeout_ms;            /* deadline; 0 = the client's default */
        bool no_deadline;               /* long-lived streams (Events.Subscribe) */
        const int *cancel;              /* optional: another thread sets *cancel to end the
                                         * call (-ECANCELED) within about a second */
};

/* Runs a call of any shape. Returns 0 on grpc-status OK, the recv callback's
 * positive value if it ended the call, or a negative errno mapped from the gRPC
 * status (grpc_code_to_errno) or the transport. */
int grpc_call_run(struct grpc_client *c, const struct grpc_call *call, berr *e);

/* Unary call; *ret receives the response (free with protobuf_c_message_free_unpacked). */
int grpc_unary(struct grpc_client *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *response_type, uint64_t timeout_ms, ProtobufCMessage **ret,
               berr *e);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct grpc_client *, grpc_client_free)

static inline void protobuf_c_message_freep(void *p)
{
        ProtobufCMessage *m = *(ProtobufCMessage **)p;
        if (m)
                protobuf_c_message_free_unpacked(m, NULL);
}
#define _cleanup_pb_ _cleanup_(protobuf_c_message_freep)
