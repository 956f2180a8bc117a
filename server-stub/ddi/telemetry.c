/* SPDX-License-Identifier: Apache-2.0 */
/* telemetry.c — strict parser of the `tm.*` configData keys (see telemetry.h).
 *
 * Everything here comes from a device, so every field is checked against the wire
 * format before the batch is handed on: exact key set, decimal numbers without signs or
 * leading zeros, bounded lengths, printable record text. The first fault is reported,
 * naming its key.
 */
#include "server-stub/ddi/telemetry.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_tm_key(const char *k)
{
        return !strncmp(k, "tm.", 3);
}

/* A decimal number of len bytes in [min, max]: digits only, no leading zero. */
static bool dec(const char *s, size_t len, int64_t min, int64_t max, int64_t *ret)
{
        if (len == 0 || len > 16 || (s[0] == '0' && len > 1))
                return false;
        int64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        if (v < min || v > max)
                return false;
        *ret = v;
        return true;
}

static int header_num(json_t *data, const char *key, int64_t min, int64_t max, int64_t *ret, berr *e)
{
        json_t *v = json_object_get(data, key);
        const char *s = json_string_value(v);
        if (!v)
                return berr_set(e, -EINVAL, "telemetry key %s is missing", key);
        if (!s || !dec(s, json_string_length(v), min, max, ret))
                return berr_set(e, -EINVAL, "telemetry key %s must be a decimal string from %lld to %lld", key,
                                (long long)min, (long long)max);
        return 0;
}

/* Printable UTF-8 (jansson already checked the encoding): no NUL, no C0/C1 control
 * characters, no DEL. */
static bool printable(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        for (size_t i = 0; i < len; i++) {
                if (p[i] < 0x20 || p[i] == 0x7f)
                        return false;
                if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
                        return false;
        }
        return true;
}

/* Cuts the next field (up to one space or the end) off *p; returns its length. */
static size_t field(const char **p)
{
        const char *s = *p, *sp = strchr(s, ' ');
        if (!sp)
                sp = s + strlen(s);
        *p = *sp ? sp + 1 : sp;
        return (size_t)(sp - s);
}

static int parse_record(json_t *v, const char *key, int64_t want_seq, struct tm_record *r, berr *e)
{
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!s || len > TM_MAX_RECORD || !printable(s, len))
                return berr_set(e, -EINVAL, "telemetry record %s must be a string of at most %d printable bytes", key,
                                TM_MAX_RECORD);
        const char *p = s, *f;
        size_t n;

        f = p;
        n = field(&p);
        if (!dec(f, n, 1, TM_MAX_SEQ, &r->seq) || r->seq != want_seq)
                return berr_set(e, -EINVAL, "telemetry record %s must start with its seq %lld (tm.first + %s)", key,
                                (long long)want_seq, key + 4);
        f = p;
        n = field(&p);
        if (!dec(f, n, 0, TM_MAX_SEQ, &r->ts))
                return berr_set(e, -EINVAL, "telemetry record %s: the second field must be a time in unix seconds", key);
        f = p;
        n = field(&p);
        if (!((n == 5 && !strncmp(f, "event", 5)) || (n == 6 && !strncmp(f, "sample", 6))))
                return berr_set(e, -EINVAL, "telemetry record %s: the third field (kind) must be event or sample", key);
        memcpy(r->kind, f, n);
        r->kind[n] = 0;
        f = p;
        n = field(&p);
        if (n == 0 || n > TM_MAX_SOURCE || strspn(f, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") < n)
                return berr_set(e, -EINVAL, "telemetry record %s: the fourth field (source) must be 1-%d characters of "
                                            "[A-Za-z0-9._-]", key, TM_MAX_SOURCE);
        memcpy(r->source, f, n);
        r->source[n] = 0;
        /* The rest, after one space, is the text; "seq ts kind source" alone is an empty text. */
        if (strlen(p) > TM_MAX_TEXT)
                return berr_set(e, -EINVAL, "telemetry record %s: the text must be at most %d bytes", key, TM_MAX_TEXT);
        snprintf(r->text, sizeof r->text, "%s", p);
        return 0;
}

/* Index NN of a "tm.rNN" key, or -1 when the key does not have that form. */
static int record_index(const char *k)
{
        if (strncmp(k, "tm.r", 4) || k[4] < '0' || k[4] > '9' || k[5] < '0' || k[5] > '9' || k[6])
                return -1;
        return (k[4] - '0') * 10 + (k[5] - '0');
}

static int parse(json_t *data, struct tm_batch *b, berr *e)
{
        const char *k;
        json_t *v;
        json_t *ver = json_object_get(data, "tm.v");
        if (!ver) {
                json_object_foreach(data, k, v) {
                        if (is_tm_key(k))
                                return berr_set(e, -EINVAL, "telemetry key %.64s needs tm.v (the format version)", k);
                }
        }
        if (!json_is_string(ver) || strcmp(json_string_value(ver), "1") || json_string_length(ver) != 1)
                return berr_set(e, -EINVAL, "telemetry key tm.v must be \"1\" (the only format version this server reads)");
        json_t *q = json_object_get(data, "tm.queue");
        const char *qs = json_string_value(q);
        if (!qs || json_string_length(q) != 16 || strspn(qs, "0123456789abcdef") != 16)
                return berr_set(e, -EINVAL, "telemetry key tm.queue must be 16 lowercase hex characters");
        memcpy(b->queue, qs, 17);
        int r;
        if ((r = header_num(data, "tm.first", 1, TM_MAX_SEQ, &b->first, e)) < 0 ||
            (r = header_num(data, "tm.last", 1, TM_MAX_SEQ, &b->last, e)) < 0 ||
            (r = header_num(data, "tm.dropped", 0, TM_MAX_SEQ, &b->dropped, e)) < 0 ||
            (r = header_num(data, "tm.pending", 0, TM_MAX_SEQ, &b->pending, e)) < 0)
                return r;
        if (b->last < b->first || b->last - b->first >= TM_MAX_RECORDS)
                return berr_set(e, -EINVAL, "telemetry key tm.last must be tm.first to tm.first + %d", TM_MAX_RECORDS - 1);
        b->n = (size_t)(b->last - b->first + 1);
        json_object_foreach(data, k, v) {
                if (!is_tm_key(k) || !strcmp(k, "tm.v") || !strcmp(k, "tm.queue") || !strcmp(k, "tm.first") ||
                    !strcmp(k, "tm.last") || !strcmp(k, "tm.dropped") || !strcmp(k, "tm.pending"))
                        continue;
                int i = record_index(k);
                if (i < 0)
                        return berr_set(e, -EINVAL, "telemetry key %.64s is unknown (format version 1 has tm.v, tm.queue, "
                                                    "tm.first, tm.last, tm.dropped, tm.pending, tm.r00 to tm.r31)", k);
                if ((size_t)i >= b->n)
                        return berr_set(e, -EINVAL, "telemetry record %s is beyond tm.last (this batch has tm.r00 to tm.r%02zu)",
                                        k, b->n - 1);
        }
        for (size_t i = 0; i < b->n; i++) {
                char key[32];
                snprintf(key, sizeof key, "tm.r%02zu", i);
                json_t *rv = json_object_get(data, key);
                if (!rv)
                        return berr_set(e, -EINVAL, "telemetry record %s is missing (a batch has tm.r00 to tm.r%02zu)", key,
                                        b->n - 1);
                if ((r = parse_record(rv, key, b->first + (int64_t)i, &b->rec[i], e)) < 0)
                        return r;
        }
        return 0;
}

int tm_take(json_t *data, struct tm_batch *ret, berr *e)
{
        const char *k;
        json_t *v, *tmp;
        bool any = false;
        json_object_foreach(data, k, v) any = any || is_tm_key(k);
        if (!any)
                return 0;
        struct tm_batch b = {0};
        int r = parse(data, &b, e);
        if (r < 0)
                return r;
        json_object_foreach_safe(data, tmp, k, v) {
                if (is_tm_key(k))
                        json_object_del(data, k);
        }
        *ret = b;
        return 1;
}
