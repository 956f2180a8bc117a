/* SPDX-License-Identifier: Apache-2.0 */
/* grpc.c — gRPC on berth's HTTP transport (net/http.h: HTTP/2 prior knowledge on a
 * unix socket, blocking).
 *
 * Requests are framed here, responses deframed with frame.c, and grpc-status is taken
 * from the response headers (trailers-only responses) or the trailers, which the
 * transport delivers to the header callback. A non-OK status wins over transport
 * errors it causes (the server resets the stream after an error while we may still be
 * uploading).
 */
#include "grpc/grpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "net/http.h"

#define GRPC_DEFAULT_TIMEOUT_MS 30000u
#define GRPC_CONNECT_TIMEOUT_MS 5000u
#define GRPC_MAX_METADATA 16

struct grpc_client {
        struct http_session *http;
        char *socket_path;
        char *metadata[GRPC_MAX_METADATA]; /* "name: value" */
        uint64_t default_timeout_ms;
        bool reuse;
};

struct call_state {
        struct grpc_client *c;
        const struct grpc_call *call;
        berr *e;

        /* request side */
        uint8_t *out;
        size_t out_cap, out_len, out_pos;
        struct grpc_raw_field raw;      /* sent after out */
        uint64_t raw_pos;
        bool out_eof;
        int send_error;

        /* response side */
        struct grpc_deframer df;
        struct grpc_status st;
        int recv_error;         /* negative: failed while receiving */
        int stop;               /* positive: the recv callback ended the call */
        ProtobufCMessage *unary_response;
};

int grpc_client_new(const char *socket_path, struct grpc_client **ret, berr *e)
{
        _cleanup_(grpc_client_freep) struct grpc_client *c = calloc(1, sizeof *c);
        if (!c)
                return berr_set(e, -ENOMEM, "out of memory");
        int reuse = http_h2c_support(e);
        if (reuse < 0)
                return reuse;
        int r = http_session_new(&c->http, e);
        if (r < 0)
                return r;
        c->socket_path = strdup(socket_path);
        if (!c->socket_path)
                return berr_set(e, -ENOMEM, "out of memory creating a gRPC client");
        c->default_timeout_ms = GRPC_DEFAULT_TIMEOUT_MS;
        /* curl #10634: before 8.0 a reused h2c connection breaks the second request. */
        c->reuse = reuse > 0;
        *ret = TAKE_PTR(c);
        return 0;
}

void grpc_client_free(struct grpc_client *c)
{
        if (!c)
                return;
        http_session_free(c->http);
        for (size_t i = 0; i < GRPC_MAX_METADATA; i++)
                free(c->metadata[i]);
        free(c->socket_path);
        free(c);
}

const char *grpc_client_socket(const struct grpc_client *c)
{
        return c->socket_path;
}

bool grpc_client_reuses_connections(const struct grpc_client *c)
{
        return c->reuse;
}

void grpc_client_set_default_timeout(struct grpc_client *c, uint64_t timeout_ms)
{
        c->default_timeout_ms = timeout_ms;
}

int grpc_client_set_metadata(struct grpc_client *c, const char *name, const char *value)
{
        size_t nlen = strlen(name);
        int free_slot = -1;

        if (nlen == 0 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != nlen)
                return -EINVAL;
        if (value && strpbrk(value, "\r\n"))
                return -EINVAL;

        for (size_t i = 0; i < GRPC_MAX_METADATA; i++) {
                char *m = c->metadata[i];
                if (!m) {
                        if (free_slot < 0)
                                free_slot = (int)i;
                        continue;
                }
                if (strncmp(m, name, nlen) == 0 && m[nlen] == ':') {
                        free(m);
                        c->metadata[i] = NULL;
                        if (free_slot < 0)
                                free_slot = (int)i;
                }
        }
        if (!value)
                return 0;
        if (free_slot < 0)
                return -E2BIG;
        char *m;
        if (asprintf(&m, "%s: %s", name, value) < 0)
                return -ENOMEM;
        c->metadata[free_slot] = m;
        return 0;
}

static size_t varint(uint8_t *p, uint64_t v)
{
        size_t n = 0;
        do {
                p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
        return n;
}

/* Packs msg with its 5-byte prefix into st->out; with raw->length, also the raw
 * field's key and length (its bytes follow from raw->fd). */
static int pack_message(struct call_state *st, const ProtobufCMessage *msg, const struct grpc_raw_field *raw)
{
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t key[20];
        size_t k = 0;
        uint64_t rawlen = raw ? raw->length : 0;
        if (rawlen) {
                k = varint(key, (uint64_t)raw->field << 3 | 2); /* wire type 2: length-delimited */
                k += varint(key + k, rawlen);
        }
        if (rawlen > GRPC_MAX_SEND_MESSAGE || n + k + rawlen > GRPC_MAX_SEND_MESSAGE)
                return berr_set(st->e, -EMSGSIZE, "gRPC %s: request message of %llu bytes exceeds the %u byte limit",
                                st->call->method, (unsigned long long)(n + k + rawlen), GRPC_MAX_SEND_MESSAGE);
        if (n + k + GRPC_FRAME_HEADER_SIZE > st->out_cap) {
                uint8_t *p = realloc(st->out, n + k + GRPC_FRAME_HEADER_SIZE);
                if (!p)
                        return berr_set(st->e, -ENOMEM, "out of memory packing a gRPC message");
                st->out = p;
                st->out_cap = n + k + GRPC_FRAME_HEADER_SIZE;
        }
        grpc_frame_header(st->out, (uint32_t)(n + k + rawlen));
        size_t packed = protobuf_c_message_pack(msg, st->out + GRPC_FRAME_HEADER_SIZE);
        if (packed != n)
                return berr_set(st->e, -EPROTO, "gRPC %s: packing the request gave an inconsistent size",
                                st->call->method);
        memcpy(st->out + GRPC_FRAME_HEADER_SIZE + n, key, k);
        st->out_len = n + k + GRPC_FRAME_HEADER_SIZE;
        st->out_pos = 0;
        st->raw = rawlen ? *raw : (struct grpc_raw_field){0};
        st->raw_pos = 0;
        return 0;
}

/* Fills buf from the raw field's file; 0 when it is all sent. */
static ssize_t read_raw(struct call_state *st, char *buf, size_t cap)
{
        uint64_t left = st->raw.length - st->raw_pos;
        if (!left)
                return 0;
        size_t want = left < cap ? (size_t)left : cap;
        for (;;) {
                ssize_t k = pread(st->raw.fd, buf, want, (off_t)(st->raw.offset + st->raw_pos));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return berr_set(st->e, -errno, "gRPC %s: reading %s: %s", st->call->method,
                                        st->raw.what ? st->raw.what : "the request data", strerror(errno));
                if (k == 0)
                        return berr_set(st->e, -EIO, "gRPC %s: %s is shorter than its %llu bytes", st->call->method,
                                        st->raw.what ? st->raw.what : "the request data",
                                        (unsigned long long)st->raw.length);
                st->raw_pos += (uint64_t)k;
                return k;
        }
}

static ssize_t on_read(void *ud, char *buf, size_t cap)
{
        struct call_state *st = ud;

        while (st->out_pos == st->out_len) {
                if (st->raw_pos < st->raw.length) {
                        ssize_t k = read_raw(st, buf, cap);
                        if (k < 0)
                                st->send_error = (int)k;
                        return k;
                }
                if (st->out_eof)
                        return 0;
                const ProtobufCMessage *m = NULL;
                struct grpc_raw_field raw = {0};
                int r = st->call->send_raw ? st->call->send_raw(st->call->send_ud, &m, &raw)
                                           : st->call->send(st->call->send_ud, &m);
                if (r < 0)
                        return st->send_error = r;
                if (!m) {
                        st->out_eof = true;
                        return 0;
                }
                r = pack_message(st, m, &raw);
                if (r < 0)
                        return st->send_error = r;
        }
        size_t n = st->out_len - st->out_pos;
        if (n > cap)
                n = cap;
        memcpy(buf, st->out + st->out_pos, n);
        st->out_pos += n;
        return (ssize_t)n;
}

static int on_header(void *ud, const char *buf, size_t n)
{
        struct call_state *st = ud;

        if (grpc_status_parse_line(&st->st, buf, n) < 0)
                return st->recv_error = berr_set(st->e, -EPROTO, "gRPC %s: malformed grpc-status from %s",
                                                 st->call->method, st->c->socket_path);
        return 0;
}

static int on_message(const uint8_t *msg, size_t len, void *ud)
{
        struct call_state *st = ud;
        const struct grpc_call *call = st->call;

        ProtobufCMessage *m = protobuf_c_message_unpack(call->response_type, NULL, len, msg);
        if (!m)
                return berr_set(st->e, -EBADMSG, "gRPC %s: cannot decode a %zu byte %s response", call->method, len,
                                call->response_type->name);
        if (!call->recv) {
                if (st->unary_response) {
                        protobuf_c_message_free_unpacked(m, NULL);
                        return berr_set(st->e, -EPROTO, "gRPC %s: more than one response to a unary call",
                                        call->method);
                }
                st->unary_response = m;
                return 0;
        }
        int r = call->recv(call->recv_ud, m);
        protobuf_c_message_free_unpacked(m, NULL);
        if (r > 0) {
                st->stop = r;
                return -ECANCELED;
        }
        return r;
}

static int on_body(void *ud, const struct http_response *resp, const void *buf, size_t n)
{
        struct call_state *st = ud;

        if (resp->status != 200 || !st->st.content_type_ok)
                return 0; /* not gRPC: judged after the call */
        int r = grpc_deframer_feed(&st->df, buf, n, on_message, st);
        if (r == -ECANCELED && st->stop > 0)
                return r; /* ends the transfer; a success */
        if (r == -EMSGSIZE)
                r = berr_set(st->e, r, "gRPC %s: response message exceeds the %u byte limit", st->call->method,
                             st->df.max);
        else if (r == -EPROTO)
                r = berr_set(st->e, r, "gRPC %s: compressed response although none was offered", st->call->method);
        else if (r == -ENOMEM)
                r = berr_set(st->e, r, "out of memory receiving gRPC %s", st->call->method);
        if (r < 0)
                st->recv_error = r;
        return r;
}

int grpc_call_run(struct grpc_client *c, const struct grpc_call *call, berr *e)
{
        char url[512], timeout_hdr[64];
        const char *headers[4 + GRPC_MAX_METADATA] = {"TE: trailers"};
        size_t nh = 1;
        struct call_state st = { .c = c, .call = call, .e = e };
        uint64_t timeout_ms = call->timeout_ms ? call->timeout_ms : c->default_timeout_ms;
        int r;

        if (call->no_deadline)
                timeout_ms = 0;
        if (!call->method || call->method[0] != '/' || strlen(call->method) > 400 || !call->response_type ||
            (!!call->request + !!call->send + !!call->send_raw) != 1)
                return berr_set(e, -EINVAL, "gRPC call %s: invalid call description", call->method ? call->method : "?");

        grpc_deframer_init(&st.df, GRPC_MAX_RECV_MESSAGE);
        snprintf(url, sizeof url, "http://localhost%s", call->method);

        if (call->request) {
                r = pack_message(&st, call->request, NULL);
                if (r < 0)
                        goto finish;
        }
        /* The grpc-timeout header lets containerd stop work we no longer wait for. */
        if (timeout_ms > 0) {
                snprintf(timeout_hdr, sizeof timeout_hdr, "grpc-timeout: %" PRIu64 "m",
                         timeout_ms > 99999999u ? 99999999u : timeout_ms);
                headers[nh++] = timeout_hdr;
        }
        for (size_t i = 0; i < GRPC_MAX_METADATA; i++)
                if (c->metadata[i])
                        headers[nh++] = c->metadata[i];
        headers[nh] = NULL;

        struct http_req_opts o = {
                .method = "POST",
                .url = url,
                .peer = "containerd",
                .unix_socket = c->socket_path,
                .version = HTTP_VERSION_2_PRIOR_KNOWLEDGE,
                .content_type = "application/grpc",
                .accept = "",
                .headers = headers,
                .timeout_ms = timeout_ms,
                .connect_timeout_ms = GRPC_CONNECT_TIMEOUT_MS,
                .fresh_connection = !c->reuse,
                .cancel = call->cancel,
                .max_body = 4096, /* a non-gRPC answer: its start, for the message */
                .on_header = on_header,
                .on_data = on_body,
                .userdata = &st,
        };
        if (call->request) {
                o.body = st.out;
                o.body_len = st.out_len;
        } else {
                /* Keep libcurl's default upload buffer (64 KiB): with larger ones libcurl
                 * 7.88 breaks h2 streams that receive while they send. */
                o.on_read = on_read;
                o.upload_size = UINT64_MAX;
        }
        struct http_response resp = {0};
        berr te = {0};
        r = http_session_perform(c->http, &o, &resp, &te);
        if (r == -ECANCELED && call->cancel && __atomic_load_n(call->cancel, __ATOMIC_ACQUIRE)) {
                r = berr_set(e, -ECANCELED, "gRPC %s: cancelled", call->method);
                goto done;
        }
        if (st.stop > 0 && (r == 0 || r == -ECANCELED)) {
                r = st.stop;
                goto done;
        }
        /* The server's own status explains best why a call failed. */
        if (st.st.have_status && st.st.code != GRPC_OK) {
                r = grpc_code_to_errno(st.st.code);
                berr_clear(e);
                berr_set(e, r, "gRPC %s: %s (%s)", call->method, st.st.message[0] ? st.st.message : "no message",
                         grpc_code_name(st.st.code));
                goto done;
        }
        if (st.send_error < 0) {
                r = berr_set(e, st.send_error, "gRPC %s: producing the request stream failed", call->method);
                goto done;
        }
        if (st.recv_error < 0) {
                r = st.recv_error;
                goto done;
        }
        if (r < 0) {
                r = berr_set(e, r, "gRPC %s: %s", call->method, berr_msg(&te, r));
                goto done;
        }
        if (st.st.http_status != 200 || !st.st.content_type_ok) {
                r = berr_set(e, -EPROTO, "gRPC %s on %s: HTTP status %d, not a gRPC response%s%.200s", call->method,
                             c->socket_path, st.st.http_status, resp.body_len ? ": " : "",
                             resp.body ? resp.body : "");
                goto done;
        }
        if (!grpc_deframer_idle(&st.df)) {
                r = berr_set(e, -EPROTO, "gRPC %s: response stream ended inside a message", call->method);
                goto done;
        }
        if (!st.st.have_status) {
                r = berr_set(e, -EPROTO, "gRPC %s: response ended without grpc-status", call->method);
                goto done;
        }
        r = 0;
done:
        http_response_clear(&resp);
finish:
        grpc_deframer_done(&st.df);
        free(st.out);
        if (st.unary_response) {
                if (r == 0 && call->recv == NULL && call->recv_ud)
                        *(ProtobufCMessage **)call->recv_ud = st.unary_response;
                else
                        protobuf_c_message_free_unpacked(st.unary_response, NULL);
        }
        return r;
}

int grpc_unary(struct grpc_client *c, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *response_type, uint64_t timeout_ms, ProtobufCMessage **ret,
               berr *e)
{
        ProtobufCMessage *resp = NULL;
        struct grpc_call call = {
                .method = method,
                .request = req,
                .response_type = response_type,
                .recv_ud = &resp, /* no recv callback: the single response lands here */
                .timeout_ms = timeout_ms,
        };

        int r = grpc_call_run(c, &call, e);
        if (r < 0)
                return r;
        if (!resp)
                return berr_set(e, -EPROTO, "gRPC %s: no response message", method);
        if (ret)
                *ret = resp;
        else
                protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}
