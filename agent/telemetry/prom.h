/* SPDX-License-Identifier: Apache-2.0 */
/* prom.h — Prometheus text exposition format 0.0.4 (pure): a growing buffer with one
 * HELP/TYPE header per metric family and samples with escaped label values.
 *
 *   struct prom p = {0};
 *   prom_family(&p, "berth_polls_total", "counter", "DDI polls by result.");
 *   prom_sample(&p, "berth_polls_total", (const char *[]){"result", "ok", NULL}, 42);
 *   … p.buf, p.len …; prom_free(&p);
 *
 * After a failed allocation every call is a no-op and p.failed is set.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct prom {
        char *buf;
        size_t len, cap;
        bool failed;
};

void prom_family(struct prom *p, const char *name, const char *type, const char *help);
/* labels: NULL or a NULL-terminated list of name, value, name, value, … */
void prom_sample(struct prom *p, const char *name, const char *const *labels, double value);
void prom_free(struct prom *p);
