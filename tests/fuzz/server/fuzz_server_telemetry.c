/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_server_telemetry.c — libFuzzer target for berth-server's telemetry parser
 * (server-stub/ddi/telemetry.c): the input is a configData "data" object. Besides the
 * sanitizers it checks the parser's promises: a batch it accepts has 1-32 consecutive
 * records within the wire limits, and no tm.* key is left in the data. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-stub/ddi/telemetry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(json_t *d, const struct tm_batch *b)
{
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) {
                if (!strncmp(k, "tm.", 3))
                        abort();
        }
        if (b->n < 1 || b->n > TM_MAX_RECORDS || b->last - b->first + 1 != (int64_t)b->n || b->first < 1 ||
            b->last > TM_MAX_SEQ || b->dropped < 0 || b->pending < 0 || strlen(b->queue) != 16)
                abort();
        for (size_t i = 0; i < b->n; i++) {
                const struct tm_record *r = &b->rec[i];
                size_t sl = strlen(r->source);
                if (r->seq != b->first + (int64_t)i || r->ts < 0 || (strcmp(r->kind, "event") && strcmp(r->kind, "sample")) ||
                    sl < 1 || sl > TM_MAX_SOURCE || strlen(r->text) > TM_MAX_TEXT)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *d = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(d)) {
                json_decref(d);
                return 0;
        }
        struct tm_batch b;
        berr e = {0};
        int r = tm_take(d, &b, &e);
        if (r == 1)
                check(d, &b);
        else if (r < 0 && !e.msg[0])
                abort(); /* every refusal says why */
        json_decref(d);
        return 0;
}
