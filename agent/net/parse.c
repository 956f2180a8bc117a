/* SPDX-License-Identifier: Apache-2.0 */
/* parse.c — the transport's pure helpers (http.h): Content-Range and Retry-After
 * parsing, URL escaping, and the one mapping of an HTTP status to errno + sentence.
 * No libcurl here. The parsers are fuzzed by tests/fuzz/fuzz_ddi.c.
 */
#include "net/http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int http_parse_content_range(const char *v, uint64_t *start, uint64_t *end, uint64_t *total)
{
        if (!v)
                return -EBADMSG;
        while (*v == ' ' || *v == '\t')
                v++;
        if (strncasecmp(v, "bytes ", 6))
                return -EBADMSG;
        v += 6;
        while (*v == ' ')
                v++;
        if (*v < '0' || *v > '9')
                return -EBADMSG;
        char *p;
        errno = 0;
        unsigned long long a = strtoull(v, &p, 10);
        if (errno || *p != '-' || p[1] < '0' || p[1] > '9')
                return -EBADMSG;
        unsigned long long b = strtoull(p + 1, &p, 10);
        if (errno || *p != '/' || b < a)
                return -EBADMSG;
        p++;
        unsigned long long n = UINT64_MAX;
        if (*p == '*')
                p++;
        else {
                if (*p < '0' || *p > '9')
                        return -EBADMSG;
                n = strtoull(p, &p, 10);
                if (errno || b >= n)
                        return -EBADMSG;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
        if (*p)
                return -EBADMSG;
        *start = a;
        *end = b;
        *total = n;
        return 0;
}

int64_t http_parse_retry_after(const char *v, int64_t now)
{
        if (!v)
                return -1;
        while (*v == ' ' || *v == '\t')
                v++;
        char tmp[64];
        size_t n = strcspn(v, "\r\n");
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
        if (n == 0 || n >= sizeof tmp)
                return -1;
        memcpy(tmp, v, n);
        tmp[n] = 0;
        if (strspn(tmp, "0123456789") == n) {
                if (n > 10)
                        return -1;
                return (int64_t)strtoll(tmp, NULL, 10);
        }
        struct tm tm = {0};
        const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!end || *end)
                return -1;
        int64_t t = (int64_t)timegm(&tm);
        return t > now ? t - now : 0;
}

char *http_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(3 * n + 1), *o = out;
        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        *o++ = (char)*p;
                else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        }
        *o = 0;
        return out;
}

int http_status_error(const struct http_response *resp, const char *what, berr *e)
{
        long st = resp->status;
        int r = st == 401 || st == 403               ? -EACCES
                : st == 404 || st == 410             ? -ENOENT
                : st == 408 || st == 429 || st >= 500 ? -EAGAIN
                : st == 413                          ? -EFBIG
                : st == 416                          ? -ERANGE
                                                     : -EPROTO;
        char quote[160] = "";
        if (resp->body && resp->body_len) {
                size_t k = 0;
                for (size_t i = 0; i < resp->body_len && k < sizeof quote - 4; i++) {
                        unsigned char c = (unsigned char)resp->body[i];
                        quote[k++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
                }
                quote[k] = 0;
        }
        return berr_set(e, r, "%s: HTTP %ld%s%s%s", what, st, quote[0] ? " (" : "", quote, quote[0] ? ")" : "");
}
