/* SPDX-License-Identifier: Apache-2.0 */
/* window.c — daily UTC maintenance windows (see window.h). */
#include "sched/window.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DAY 86400

static int parse_hm(const char *s, uint32_t *ret)
{
        if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '2' || s[1] < '0' || s[1] > '9' || s[3] < '0' ||
            s[3] > '5' || s[4] < '0' || s[4] > '9')
                return -EINVAL;
        unsigned h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
        unsigned m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
        if (h > 24 || (h == 24 && m != 0))
                return -EINVAL;
        *ret = h * 3600 + m * 60;
        return 0;
}

int window_parse(const char *spec, struct maint_window *ret, berr *e)
{
        struct maint_window w = {0};
        const char *p = spec ? spec : "";
        while (*p == ' ')
                p++;
        while (*p) {
                char a[8], b[8];
                size_t len = strcspn(p, ",");
                char item[32];
                if (len >= sizeof item)
                        return berr_set(e, -EINVAL, "maintenance window '%s': ranges look like HH:MM-HH:MM", spec);
                memcpy(item, p, len);
                item[len] = 0;
                int n = 0;
                if (w.n == WINDOW_MAX_RANGES)
                        return berr_set(e, -EINVAL, "maintenance window '%s': at most %d ranges", spec, WINDOW_MAX_RANGES);
                if (sscanf(item, " %5[0-9:]-%5[0-9:] %n", a, b, &n) != 2 || item[n] ||
                    parse_hm(a, &w.r[w.n].start) < 0 || parse_hm(b, &w.r[w.n].end) < 0 ||
                    w.r[w.n].start == w.r[w.n].end)
                        return berr_set(e, -EINVAL, "maintenance window '%s': '%s' is not a range HH:MM-HH:MM (UTC)", spec,
                                        item);
                w.n++;
                p += len;
                if (*p == ',')
                        p++;
                while (*p == ' ')
                        p++;
        }
        *ret = w;
        return 0;
}

static bool in_range(uint32_t s, uint32_t e, uint32_t t)
{
        return s < e ? (t >= s && t < e) : (t >= s || t < e);
}

bool window_is_open(const struct maint_window *w, int64_t now)
{
        if (!w || w->n == 0)
                return true;
        uint32_t t = (uint32_t)(((now % DAY) + DAY) % DAY);
        for (unsigned i = 0; i < w->n; i++)
                if (in_range(w->r[i].start, w->r[i].end % DAY, t))
                        return true;
        return false;
}

int64_t window_wait(const struct maint_window *w, int64_t now)
{
        if (window_is_open(w, now))
                return 0;
        uint32_t t = (uint32_t)(((now % DAY) + DAY) % DAY);
        int64_t best = DAY;
        for (unsigned i = 0; i < w->n; i++) {
                int64_t d = (int64_t)w->r[i].start - t;
                if (d <= 0)
                        d += DAY;
                if (d < best)
                        best = d;
        }
        return best;
}
