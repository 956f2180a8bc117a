/* SPDX-License-Identifier: Apache-2.0 */
/* range.c — HTTP Range header parsing (RFC 9110 §14), single ranges only. */
#include "server-stub/artifact/artifact.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool parse_u64(const char **p, uint64_t *v)
{
        const char *s = *p;
        if (!isdigit((unsigned char)*s))
                return false;
        uint64_t x = 0;
        for (; isdigit((unsigned char)*s); s++) {
                unsigned d = (unsigned)(*s - '0');
                if (x > (UINT64_MAX - d) / 10)
                        return false;
                x = x * 10 + d;
        }
        *v = x;
        *p = s;
        return true;
}

int artifact_parse_range(const char *h, uint64_t size, struct byte_range *r)
{
        if (!h)
                return 0;
        while (*h == ' ')
                h++;
        if (strncmp(h, "bytes=", 6) != 0)
                return 0; /* unknown unit: ignore */
        const char *p = h + 6;
        while (*p == ' ')
                p++;
        if (strchr(p, ','))
                return 0; /* several ranges: serve the whole representation */
        uint64_t first, last;
        if (*p == '-') {
                /* suffix: the last N bytes */
                p++;
                if (!parse_u64(&p, &last))
                        return -ERANGE;
                while (*p == ' ')
                        p++;
                if (*p || last == 0 || size == 0)
                        return -ERANGE;
                if (last > size)
                        last = size;
                r->off = size - last;
                r->len = last;
                return 1;
        }
        if (!parse_u64(&p, &first) || *p != '-')
                return -ERANGE;
        p++;
        if (*p == 0 || *p == ' ') {
                last = size ? size - 1 : 0; /* open-ended */
        } else if (!parse_u64(&p, &last) || last < first)
                return -ERANGE;
        while (*p == ' ')
                p++;
        if (*p)
                return -ERANGE;
        if (first >= size)
                return -ERANGE;
        if (last >= size)
                last = size - 1;
        r->off = first;
        r->len = last - first + 1;
        return 1;
}
