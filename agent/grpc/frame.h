/* SPDX-License-Identifier: Apache-2.0 */
/* frame.h — gRPC wire details that need no transport: the 5-byte message framing
 * (compressed flag + 32-bit big-endian length), the grpc-status / grpc-message
 * headers and trailers, and the mapping of gRPC status codes to errno values.
 *
 * Pure functions over bytes, so they are unit-tested and fuzzed on their own; the
 * libcurl transport (grpc.c) feeds them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_FRAME_HEADER_SIZE 5
/* Largest message berth sends; containerd's server refuses > 16 MiB. */
#define GRPC_MAX_SEND_MESSAGE (4u * 1024u * 1024u)
/* Largest message berth accepts (containerd's client uses the same limit). */
#define GRPC_MAX_RECV_MESSAGE (16u * 1024u * 1024u)
#define GRPC_MAX_STATUS_MESSAGE 512

enum grpc_code {
        GRPC_OK = 0,
        GRPC_CANCELLED = 1,
        GRPC_UNKNOWN = 2,
        GRPC_INVALID_ARGUMENT = 3,
        GRPC_DEADLINE_EXCEEDED = 4,
        GRPC_NOT_FOUND = 5,
        GRPC_ALREADY_EXISTS = 6,
        GRPC_PERMISSION_DENIED = 7,
        GRPC_RESOURCE_EXHAUSTED = 8,
        GRPC_FAILED_PRECONDITION = 9,
        GRPC_ABORTED = 10,
        GRPC_OUT_OF_RANGE = 11,
        GRPC_UNIMPLEMENTED = 12,
        GRPC_INTERNAL = 13,
        GRPC_UNAVAILABLE = 14,
        GRPC_DATA_LOSS = 15,
        GRPC_UNAUTHENTICATED = 16,
        _GRPC_CODE_MAX = 16,
};

/* "NOT_FOUND" etc.; "UNKNOWN_CODE" outside the range. */
const char *grpc_code_name(int code);
/* Negative errno for a gRPC status (NOT_FOUND → -ENOENT, ALREADY_EXISTS → -EEXIST,
 * DEADLINE_EXCEEDED → -ETIMEDOUT, UNAVAILABLE → -ECONNREFUSED, ...); 0 for OK. */
int grpc_code_to_errno(int code);

/* Writes the 5-byte prefix for an uncompressed message of len bytes. */
void grpc_frame_header(uint8_t out[GRPC_FRAME_HEADER_SIZE], uint32_t len);

/* Incremental deframer: bytes in, whole messages out (whatever the chunking). */
struct grpc_deframer {
        uint8_t hdr[GRPC_FRAME_HEADER_SIZE];
        size_t hdr_got;
        uint8_t *msg;
        uint32_t msg_len;
        uint32_t msg_got;
        uint32_t max;           /* largest accepted message */
        uint64_t n_messages;
};

/* Called once per complete message; the bytes are valid during the call only.
 * A negative return stops feeding and is returned by grpc_deframer_feed(). */
typedef int (*grpc_message_fn)(const uint8_t *msg, size_t len, void *ud);

void grpc_deframer_init(struct grpc_deframer *d, uint32_t max);
/* Returns 0, -EMSGSIZE (message above max), -EPROTO (compressed message: berth never
 * offers an encoding), -ENOMEM, or the callback's negative return. */
int grpc_deframer_feed(struct grpc_deframer *d, const void *data, size_t len, grpc_message_fn fn, void *ud);
/* True when no partial message is buffered (a clean end of stream). */
bool grpc_deframer_idle(const struct grpc_deframer *d);
void grpc_deframer_done(struct grpc_deframer *d);

/* What the response headers and trailers said. */
struct grpc_status {
        int http_status;        /* 0 until the status line was seen */
        bool content_type_ok;   /* content-type: application/grpc[+proto|;...] */
        bool have_status;
        int code;               /* grpc-status */
        char message[GRPC_MAX_STATUS_MESSAGE]; /* grpc-message, percent-decoded */
};

/* Feeds one header or trailer line as libcurl delivers it ("HTTP/2 200\r\n",
 * "grpc-status: 5\r\n", ...). Unknown lines are ignored; returns -EBADMSG for a
 * malformed grpc-status. */
int grpc_status_parse_line(struct grpc_status *s, const char *line, size_t len);
/* Percent-decodes a grpc-message value into out (always NUL-terminated, truncated to
 * outsz); invalid escapes are copied as they are. */
void grpc_percent_decode(const char *in, size_t len, char *out, size_t outsz);
