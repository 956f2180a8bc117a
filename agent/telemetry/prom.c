/* SPDX-License-Identifier: Apache-2.0 */
/* prom.c — Prometheus text exposition writer (see prom.h). */
#include "telemetry/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct prom *p, const char *s, size_t n)
{
        if (p->failed)
                return;
        if (p->len + n + 1 > p->cap) {
                size_t cap = p->cap ? p->cap : 4096;
                while (p->len + n + 1 > cap)
                        cap *= 2;
                char *b = realloc(p->buf, cap);
                if (!b) {
                        p->failed = true;
                        return;
                }
                p->buf = b;
                p->cap = cap;
        }
        memcpy(p->buf + p->len, s, n);
        p->len += n;
        p->buf[p->len] = 0;
}

static void puts_(struct prom *p, const char *s)
{
        put(p, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(struct prom *p, const char *s, bool quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        puts_(p, "\\\\");
                else if (*s == '\n')
                        puts_(p, "\\n");
                else if (quote && *s == '"')
                        puts_(p, "\\\"");
                else
                        put(p, s, 1);
        }
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
        puts_(p, "# HELP ");
        puts_(p, name);
        puts_(p, " ");
        put_escaped(p, help, false);
        puts_(p, "\n# TYPE ");
        puts_(p, name);
        puts_(p, " ");
        puts_(p, type);
        puts_(p, "\n");
}

void prom_sample(struct prom *p, const char *name, const char *const *labels, double value)
{
        puts_(p, name);
        if (labels && labels[0]) {
                puts_(p, "{");
                for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
                        if (i)
                                puts_(p, ",");
                        puts_(p, labels[i]);
                        puts_(p, "=\"");
                        put_escaped(p, labels[i + 1], true);
                        puts_(p, "\"");
                }
                puts_(p, "}");
        }
        char v[64];
        if (isnan(value))
                snprintf(v, sizeof v, " NaN\n");
        else if (isinf(value))
                snprintf(v, sizeof v, " %sInf\n", value > 0 ? "+" : "-");
        else if (value > -1e15 && value < 1e15 && value == (double)(long long)value)
                snprintf(v, sizeof v, " %.0f\n", value);
        else
                snprintf(v, sizeof v, " %.17g\n", value);
        puts_(p, v);
}

void prom_free(struct prom *p)
{
        free(p->buf);
        *p = (struct prom){0};
}
