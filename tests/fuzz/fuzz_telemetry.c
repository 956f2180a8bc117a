/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_telemetry.c — what the agent puts on the wire from text it does not control
 * (workload names, probe answers, exit reasons): tm_sanitize, tm_source_name,
 * tm_record_value, tm_batch_json and the Prometheus label escaping. Checks their
 * promises: bounded lengths, valid UTF-8 without control characters, a batch that is
 * valid JSON whose every value fits 128 bytes, exposition lines without raw newlines
 * inside label values. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/prom.h"
#include "telemetry/record.h"

static void check_text(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (n > max)
                abort();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
                    ((unsigned char)s[i] == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f))
                        abort();
        /* jansson refuses invalid UTF-8: a cheap validity check */
        json_t *j = json_string(s);
        if (!j)
                abort();
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *in = malloc(size + 1);
        if (!in)
                return 0;
        memcpy(in, data, size);
        in[size] = 0;

        struct tm_record r = {.seq = (int64_t)size + 1, .ts = 1795000000, .kind = "event"};
        tm_source_name(r.source, in);
        if (strlen(r.source) == 0 || strlen(r.source) > TM_SOURCE_MAX || strspn(r.source,
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(r.source))
                abort();
        size_t n = tm_sanitize(r.text, TM_TEXT_MAX, in);
        if (n != strlen(r.text))
                abort();
        check_text(r.text, TM_TEXT_MAX);
        char v[TM_VALUE_MAX + 1];
        if (tm_record_value(v, &r) != strlen(v))
                abort();
        check_text(v, TM_VALUE_MAX);

        struct tm_record batch[2] = {r, r};
        batch[1].seq = r.seq + 1;
        char *body = tm_batch_json("0123456789abcdef", batch, 2, 0, 0);
        if (!body)
                abort();
        json_t *j = json_loads(body, 0, NULL);
        if (!j)
                abort();
        const char *k;
        json_t *val;
        json_object_foreach(json_object_get(j, "data"), k, val)
                check_text(json_string_value(val), TM_VALUE_MAX);
        json_decref(j);
        free(body);

        struct prom p = {0};
        prom_sample(&p, "m", (const char *[]){"l", in, NULL}, 1);
        if (!p.failed) {
                /* one line: the only newline is the terminating one */
                char *nl = strchr(p.buf, '\n');
                if (!nl || nl[1])
                        abort();
        }
        prom_free(&p);
        free(in);
        return 0;
}
