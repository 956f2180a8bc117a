/* SPDX-License-Identifier: Apache-2.0 */
/* frame.c — gRPC framing, status headers/trailers and code mapping (see frame.h).
 * Never trusts a length from the wire beyond the configured maximum.
 */
#include "grpc/frame.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/digest.h"

static const char *const code_names[] = {
        [GRPC_OK] = "OK",
        [GRPC_CANCELLED] = "CANCELLED",
        [GRPC_UNKNOWN] = "UNKNOWN",
        [GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [GRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [GRPC_NOT_FOUND] = "NOT_FOUND",
        [GRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [GRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [GRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [GRPC_ABORTED] = "ABORTED",
        [GRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
        [GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
        [GRPC_INTERNAL] = "INTERNAL",
        [GRPC_UNAVAILABLE] = "UNAVAILABLE",
        [GRPC_DATA_LOSS] = "DATA_LOSS",
        [GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *grpc_code_name(int code)
{
        if (code < 0 || (size_t)code >= ELEMENTSOF(code_names))
                return "UNKNOWN_CODE";
        return code_names[code];
}

int grpc_code_to_errno(int code)
{
        switch (code) {
        case GRPC_OK:
                return 0;
        case GRPC_CANCELLED:
                return -ECANCELED;
        case GRPC_INVALID_ARGUMENT:
                return -EINVAL;
        case GRPC_DEADLINE_EXCEEDED:
                return -ETIMEDOUT;
        case GRPC_NOT_FOUND:
                return -ENOENT;
        case GRPC_ALREADY_EXISTS:
                return -EEXIST;
        case GRPC_PERMISSION_DENIED:
        case GRPC_UNAUTHENTICATED:
                return -EACCES;
        case GRPC_RESOURCE_EXHAUSTED:
                return -ENOSPC;
        case GRPC_FAILED_PRECONDITION:
                return -EBUSY;
        case GRPC_ABORTED:
                return -EAGAIN;
        case GRPC_OUT_OF_RANGE:
                return -ERANGE;
        case GRPC_UNIMPLEMENTED:
                return -EOPNOTSUPP;
        case GRPC_UNAVAILABLE:
                return -ECONNREFUSED;
        case GRPC_DATA_LOSS:
                return -EBADMSG;
        default:
                return -EPROTO;
        }
}

void grpc_frame_header(uint8_t out[GRPC_FRAME_HEADER_SIZE], uint32_t len)
{
        out[0] = 0; /* not compressed */
        out[1] = (uint8_t)(len >> 24);
        out[2] = (uint8_t)(len >> 16);
        out[3] = (uint8_t)(len >> 8);
        out[4] = (uint8_t)len;
}

void grpc_deframer_init(struct grpc_deframer *d, uint32_t max)
{
        *d = (struct grpc_deframer) { .max = max };
}

void grpc_deframer_done(struct grpc_deframer *d)
{
        free(d->msg);
        d->msg = NULL;
}

bool grpc_deframer_idle(const struct grpc_deframer *d)
{
        return d->hdr_got == 0;
}

int grpc_deframer_feed(struct grpc_deframer *d, const void *data, size_t len, grpc_message_fn fn, void *ud)
{
        const uint8_t *p = data;

        while (len > 0) {
                if (d->hdr_got < GRPC_FRAME_HEADER_SIZE) {
                        size_t n = GRPC_FRAME_HEADER_SIZE - d->hdr_got;
                        if (n > len)
                                n = len;
                        memcpy(d->hdr + d->hdr_got, p, n);
                        d->hdr_got += n;
                        p += n;
                        len -= n;
                        if (d->hdr_got < GRPC_FRAME_HEADER_SIZE)
                                return 0;
                        if (d->hdr[0] != 0)
                                return -EPROTO;
                        d->msg_len = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
                                     (uint32_t)d->hdr[3] << 8 | d->hdr[4];
                        if (d->msg_len > d->max)
                                return -EMSGSIZE;
                        d->msg_got = 0;
                        free(d->msg);
                        /* +1 so a zero-length message still has a valid pointer. */
                        d->msg = malloc((size_t)d->msg_len + 1);
                        if (!d->msg)
                                return -ENOMEM;
                }

                size_t n = d->msg_len - d->msg_got;
                if (n > len)
                        n = len;
                memcpy(d->msg + d->msg_got, p, n);
                d->msg_got += (uint32_t)n;
                p += n;
                len -= n;
                if (d->msg_got < d->msg_len)
                        return 0;

                d->hdr_got = 0;
                d->n_messages++;
                int r = fn(d->msg, d->msg_len, ud);
                free(d->msg);
                d->msg = NULL;
                if (r < 0)
                        return r;
        }
        return 0;
}

void grpc_percent_decode(const char *in, size_t len, char *out, size_t outsz)
{
        size_t o = 0;

        if (outsz == 0)
                return;
        for (size_t i = 0; i < len && o + 1 < outsz; i++) {
                if (in[i] == '%' && i + 2 < len && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
                        char c = (char)(hex_value(in[i + 1]) << 4 | hex_value(in[i + 2]));
                        /* A NUL would cut the message short; show it escaped instead. */
                        out[o++] = c ? c : '?';
                        i += 2;
                } else
                        out[o++] = in[i];
        }
        out[o] = 0;
}

/* Trims trailing CR/LF/space; returns the new length. */
static size_t rtrim(const char *s, size_t len)
{
        while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
        return len;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value, size_t *vlen)
{
        size_t n = strlen(name);
        if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
                return false;
        size_t i = n + 1;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
        *value = line + i;
        *vlen = len - i;
        return true;
}

int grpc_status_parse_line(struct grpc_status *s, const char *line, size_t len)
{
        const char *v;
        size_t vlen;

        len = rtrim(line, len);
        if (len == 0)
                return 0;

        if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
                const char *sp = memchr(line, ' ', len);
                if (!sp || (size_t)(sp - line) + 4 > len)
                        return -EBADMSG;
                int st = 0;
                for (int i = 1; i <= 3; i++) {
                        if (!isdigit((unsigned char)sp[i]))
                                return -EBADMSG;
                        st = st * 10 + (sp[i] - '0');
                }
                s->http_status = st;
                return 0;
        }

        if (header_is(line, len, "content-type", &v, &vlen)) {
                static const char ct[] = "application/grpc";
                size_t n = sizeof ct - 1;
                s->content_type_ok = vlen >= n && strncasecmp(v, ct, n) == 0 &&
                                     (vlen == n || v[n] == '+' || v[n] == ';');
                return 0;
        }

        if (header_is(line, len, "grpc-status", &v, &vlen)) {
                if (vlen == 0 || vlen > 3)
                        return -EBADMSG;
                int code = 0;
                for (size_t i = 0; i < vlen; i++) {
                        if (!isdigit((unsigned char)v[i]))
                                return -EBADMSG;
                        code = code * 10 + (v[i] - '0');
                }
                s->code = code;
                s->have_status = true;
                return 0;
        }

        if (header_is(line, len, "grpc-message", &v, &vlen)) {
                grpc_percent_decode(v, vlen, s->message, sizeof s->message);
                return 0;
        }
        return 0;
}
