/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_grpc_frame.c — libFuzzer target for the gRPC deframer and the status
 * header/trailer parser (bytes from containerd's socket). The first byte picks the
 * chunk size so that message boundaries fall everywhere.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "grpc/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(const uint8_t *msg, size_t len, void *ud)
{
        size_t *total = ud;
        *total += len + (len ? msg[0] : 0);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t chunk = data[0] % 17 + 1, total = 0;
        struct grpc_deframer d;
        grpc_deframer_init(&d, 64 * 1024);
        for (size_t off = 1; off < size; off += chunk)
                if (grpc_deframer_feed(&d, data + off, off + chunk > size ? size - off : chunk, sink, &total) < 0)
                        break;
        grpc_deframer_done(&d);

        struct grpc_status s = { 0 };
        const char *p = (const char *)data + 1, *end = (const char *)data + size;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                grpc_status_parse_line(&s, p, n);
                p += n;
        }
        return 0;
}
