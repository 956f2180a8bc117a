/* SPDX-License-Identifier: Apache-2.0 */
/* err.c — see err.h. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int berr_set(berr *e, int r, const char *fmt, ...)
{
        if (!e || e->msg[0])
                return r;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = r;
        return r;
}

int berr_prefix(berr *e, int r, const char *fmt, ...)
{
        if (!e)
                return r;
        char prefix[256], old[sizeof e->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        if (e->msg[0])
                snprintf(old, sizeof old, "%s", e->msg);
        else
                snprintf(old, sizeof old, "%s", strerror(r < 0 ? -r : r));
        /* Truncation is acceptable: the most specific part stays at the front. */
        int n = snprintf(e->msg, sizeof e->msg, "%s: ", prefix);
        if (n > 0 && (size_t)n < sizeof e->msg)
                memccpy(e->msg + n, old, 0, sizeof e->msg - (size_t)n - 1);
        e->msg[sizeof e->msg - 1] = 0;
        if (!e->code)
                e->code = r;
        return r;
}

const char *berr_msg(const berr *e, int r)
{
        if (e && e->msg[0])
                return e->msg;
        return strerror(r < 0 ? -r : r);
}

void berr_clear(berr *e)
{
        if (e) {
                e->code = 0;
                e->msg[0] = 0;
        }
}
