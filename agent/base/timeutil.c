/* SPDX-License-Identifier: Apache-2.0 */
/* timeutil.c — see timeutil.h. */
#include "base/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int time_parse_rfc3339(const char *s, int64_t *ret)
{
        struct tm tm = {0};
        if (!s || strlen(s) != 20)
                return -EINVAL;
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        /* timegm() normalises its argument in place (Feb 31 → Mar 3), so keep the
         * parsed fields to reject dates that do not exist. */
        struct tm parsed = tm;
        time_t t = timegm(&tm);
        if (t == (time_t)-1 && parsed.tm_year != 69)
                return -EINVAL;
        if (tm.tm_mday != parsed.tm_mday || tm.tm_mon != parsed.tm_mon || tm.tm_hour != parsed.tm_hour ||
            tm.tm_min != parsed.tm_min || tm.tm_sec != parsed.tm_sec)
                return -EINVAL;
        *ret = (int64_t)t;
        return 0;
}

void time_format_rfc3339(int64_t t, char out[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int duration_parse(const char *s, int64_t *ret)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0)
                return -EINVAL;
        int64_t mult = 1;
        if (*end == 'd')
                mult = 86400;
        else if (*end == 'h')
                mult = 3600;
        else if (*end == 'm')
                mult = 60;
        else if (*end == 's' || *end == 0)
                mult = 1;
        else
                return -EINVAL;
        if (*end && end[1])
                return -EINVAL;
        if (v > INT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

int64_t now_seconds(void)
{
        const char *e = getenv("BERTH_NOW");
        if (e && *e) {
                int64_t t;
                if (time_parse_rfc3339(e, &t) == 0)
                        return t;
                return strtoll(e, NULL, 10);
        }
        return (int64_t)time(NULL);
}
