/* SPDX-License-Identifier: Apache-2.0 */
/* record.c — telemetry record formatting and batch bodies (see record.h). */
#include "telemetry/record.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. Rejects overlong
 * forms, surrogates and code points above U+10FFFF. */
static size_t utf8_len(const unsigned char *s)
{
        unsigned c = s[0];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80)
                return 1;
        if ((c & 0xe0) == 0xc0)
                n = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
                n = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
                n = 4, cp = c & 0x07, min = 0x10000;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

size_t tm_sanitize(char *dst, size_t max, const char *src)
{
        const unsigned char *s = (const unsigned char *)src;
        size_t o = 0;
        bool space = true;      /* drops leading whitespace too */
        while (*s) {
                size_t n = utf8_len(s);
                bool c1 = n == 2 && s[0] == 0xc2 && s[1] <= 0x9f; /* U+0080..U+009F */
                if ((n == 1 && (*s < 0x20 || *s == 0x7f || *s == ' ')) || c1) {
                        s += n;
                        if (!space && o < max) {
                                dst[o++] = ' ';
                                space = true;
                        }
                        continue;
                }
                const char *piece = n ? (const char *)s : "?";
                size_t len = n ? n : 1;
                if (o + len > max)
                        break;
                memcpy(dst + o, piece, len);
                o += len;
                s += len;
                space = false;
        }
        while (o && dst[o - 1] == ' ')
                o--;
        dst[o] = 0;
        return o;
}

void tm_source_name(char dst[TM_SOURCE_MAX + 1], const char *src)
{
        size_t o = 0;
        for (const char *p = src; *p && o < TM_SOURCE_MAX; p++) {
                char c = *p;
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '-';
                dst[o++] = ok ? c : '_';
        }
        dst[o] = 0;
        if (!o)
                snprintf(dst, TM_SOURCE_MAX + 1, "unknown");
}

size_t tm_record_value(char dst[TM_VALUE_MAX + 1], const struct tm_record *r)
{
        int n = snprintf(dst, TM_VALUE_MAX + 1, "%" PRId64 " %" PRId64 " %s %s ", r->seq, r->ts, r->kind, r->source);
        if (n < 0 || n >= TM_VALUE_MAX) {
                /* Cannot happen with fields within their limits; keep the prefix. */
                dst[TM_VALUE_MAX] = 0;
                return strlen(dst);
        }
        return (size_t)n + tm_sanitize(dst + n, TM_VALUE_MAX - (size_t)n, r->text);
}

static int set_str(json_t *o, const char *k, const char *v)
{
        return json_object_set_new(o, k, json_string(v));
}

static int set_num(json_t *o, const char *k, uint64_t v)
{
        char b[24];
        snprintf(b, sizeof b, "%" PRIu64, v);
        return set_str(o, k, b);
}

char *tm_batch_json(const char *queue_id, const struct tm_record *r, size_t n, uint64_t dropped, uint64_t pending)
{
        if (n == 0 || n > TM_BATCH_MAX)
                return NULL;
        for (size_t i = 1; i < n; i++)
                if (r[i].seq != r[0].seq + (int64_t)i)
                        return NULL;
        json_t *data = json_object();
        int bad = !data;
        bad |= set_str(data, "tm.v", "1");
        bad |= set_str(data, "tm.queue", queue_id);
        bad |= set_num(data, "tm.first", (uint64_t)r[0].seq);
        bad |= set_num(data, "tm.last", (uint64_t)r[n - 1].seq);
        bad |= set_num(data, "tm.dropped", dropped);
        bad |= set_num(data, "tm.pending", pending);
        for (size_t i = 0; i < n; i++) {
                char k[8], v[TM_VALUE_MAX + 1];
                snprintf(k, sizeof k, "tm.r%02zu", i);
                tm_record_value(v, &r[i]);
                bad |= set_str(data, k, v);
        }
        json_t *body = json_object();
        bad |= !body || set_str(body, "mode", "merge");
        bad |= json_object_set_new(body, "data", data);        /* takes data, also on failure */
        char *s = bad ? NULL : json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(body);
        return s;
}
