/* SPDX-License-Identifier: Apache-2.0 */
/* budget.c — the data budget (budget.h). Bytes are counted from the meter of the
 * server's connections into per-day buckets in memory and written to berth.db in
 * batches: when 1 MiB is pending, every 15 minutes, when the day changes, and at stop.
 * A power cut loses at most that batch from the count (idle polls cost a few KiB per
 * hour); a row per poll would cost the flash more than the budget saves.
 */
#include "daemon/budget.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "base/log.h"
#include "daemon/agent_int.h"

#define FLUSH_BYTES (1u << 20)
#define FLUSH_USEC (15 * 60 * 1000000ULL)
#define SAMPLE_USEC (60 * 1000000ULL)
#define KEEP_DAYS 400           /* rows older than this go (the longest period is 366) */

static int64_t today(void)
{
        return agent_now() / 86400;
}

static void fmt_bytes(uint64_t v, char *buf, size_t n)
{
        if (v >= 10u << 20)
                snprintf(buf, n, "%" PRIu64 " MiB", (v + (1u << 19)) >> 20);
        else if (v >= 1u << 20)
                snprintf(buf, n, "%.1f MiB", (double)v / (1u << 20));
        else
                snprintf(buf, n, "%" PRIu64 " KiB", (v + 512) >> 10);
}

static void fmt_day(int64_t day, char *buf, size_t n)
{
        time_t t = (time_t)(day * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, n, "%Y-%m-%d", &tm);
}

/* Keeps only the days of the current period. */
static void trim(struct agent *a, int64_t now_day)
{
        struct budget_state *b = &a->budget;
        size_t k = 0;
        while (k < b->n_days && b->days[k].day <= now_day - (int64_t)a->set.budget_period_days)
                k++;
        if (k) {
                memmove(b->days, b->days + k, (b->n_days - k) * sizeof *b->days);
                b->n_days -= k;
        }
}

static int add_day(struct budget_state *b, int64_t day, uint64_t rx, uint64_t tx)
{
        if (b->n_days && b->days[b->n_days - 1].day == day) {
                b->days[b->n_days - 1].rx += rx;
                b->days[b->n_days - 1].tx += tx;
                return 0;
        }
        struct quota_day *n = realloc(b->days, (b->n_days + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        b->days = n;
        b->days[b->n_days++] = (struct quota_day) {.day = day, .rx = rx, .tx = tx};
        return 0;
}

static void flush(struct agent *a, bool force)
{
        struct budget_state *b = &a->budget;
        if (!b->pending_rx && !b->pending_tx)
                return;
        uint64_t now = agent_mono_usec(a);
        if (!force && b->pending_day == today() && b->pending_rx + b->pending_tx < FLUSH_BYTES &&
            now - b->flushed_usec < FLUSH_USEC)
                return;
        int r = agentdb_usage_add(a->db, b->pending_day, b->pending_rx, b->pending_tx);
        if (r < 0) {
                log_warning("agent: cannot record the WAN usage in %s/berth.db (%s); kept in memory for the next try",
                            a->set.state_dir, strerror(-r));
                return;
        }
        b->pending_rx = b->pending_tx = 0;
        b->flushed_usec = now;
}

/* Moves what the meter counted since the last call into today's bucket. */
static void sample(struct agent *a)
{
        struct budget_state *b = &a->budget;
        http_loop_meter_sync(a->http);
        uint64_t rx = b->meter.rx - b->seen.rx, tx = b->meter.tx - b->seen.tx;
        int64_t d = today();
        if (d != b->pending_day)
                flush(a, true);
        trim(a, d);
        if (!rx && !tx)
                return;
        if (add_day(b, d, rx, tx) < 0)
                return; /* counted at the next sample */
        b->seen = b->meter;
        if (b->pending_rx + b->pending_tx == 0)
                b->pending_day = d;
        b->pending_rx += rx;
        b->pending_tx += tx;
        flush(a, false);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        struct agent *a = ud;
        sample(a);
        if (budget_low(a) && !a->budget.said_low) {
                char used[32], lim[32];
                fmt_bytes(budget_used(a), used, sizeof used);
                fmt_bytes(a->set.budget_limit, lim, sizeof lim);
                log_warning("agent: the data budget is low: %s of %s per %u days used; telemetry samples four "
                            "times less often until it recovers (events are still sent)",
                            used, lim, a->set.budget_period_days);
                a->budget.said_low = true;
        } else if (!budget_low(a))
                a->budget.said_low = false;
        (void)sd_event_source_set_time(s, usec + SAMPLE_USEC);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int load_day(void *ud, int64_t day, uint64_t rx, uint64_t tx)
{
        return add_day(ud, day, rx, tx);
}

int budget_start(struct agent *a, berr *e)
{
        struct budget_state *b = &a->budget;
        int64_t d = today();
        (void)agentdb_usage_prune(a->db, d - KEEP_DAYS);
        int r = agentdb_usage_list(a->db, d - (int64_t)a->set.budget_period_days + 1, load_day, b);
        if (r < 0)
                return berr_set(e, r, "cannot read the WAN usage from %s/berth.db: %s", a->set.state_dir,
                                strerror(-r));
        b->pending_day = d;
        b->flushed_usec = agent_mono_usec(a);
        r = sd_event_add_time_relative(a->ev, &b->timer, CLOCK_MONOTONIC, SAMPLE_USEC, 1000000, on_timer, a);
        if (r < 0)
                return berr_set(e, r, "cannot start the data budget timer: %s", strerror(-r));
        (void)sd_event_source_set_description(b->timer, "budget");
        if (a->set.budget_limit) {
                char used[32], lim[32];
                fmt_bytes(budget_used(a), used, sizeof used);
                fmt_bytes(a->set.budget_limit, lim, sizeof lim);
                log_info("agent: data budget: %s per %u days, %s used", lim, a->set.budget_period_days, used);
        }
        return 0;
}

void budget_stop(struct agent *a)
{
        struct budget_state *b = &a->budget;
        if (a->http)
                sample(a);
        flush(a, true);
        b->timer = sd_event_source_disable_unref(b->timer);
        free(b->days);
        b->days = NULL;
        b->n_days = 0;
}

uint64_t budget_used(struct agent *a)
{
        if (a->http)
                sample(a);
        return quota_used(a->budget.days, a->budget.n_days, today(), a->set.budget_period_days);
}

bool budget_low(struct agent *a)
{
        uint64_t lim = a->set.budget_limit;
        if (!lim)
                return false;
        uint64_t used = budget_used(a), left = used < lim ? lim - used : 0;
        return left * 100 < lim * a->set.budget_low_pct;
}

int budget_check(struct agent *a, const char *what, uint64_t need, char *why, size_t why_len)
{
        static const char todo[] = "or have the server let this deployment past the budget (berth-server: rollout "
                                   "create --budget-override; hawkBit: software module metadata berth.budget = "
                                   "override)";
        char n[32], x[32], l[32];
        fmt_bytes(need, n, sizeof n);
        if (a->set.budget_per_update && need > a->set.budget_per_update) {
                fmt_bytes(a->set.budget_per_update, x, sizeof x);
                snprintf(why, why_len, "%s needs %s from the WAN, more than budget.per_update (%s) allows; raise "
                         "budget.per_update, roll out a smaller bundle, %s", what, n, x, todo);
                return -EDQUOT;
        }
        uint64_t lim = a->set.budget_limit;
        if (!lim)
                return 0;
        uint64_t used = budget_used(a), left = used < lim ? lim - used : 0;
        if (need <= left)
                return 0;
        fmt_bytes(left, l, sizeof l);
        fmt_bytes(lim, x, sizeof x);
        if (need > lim) {
                snprintf(why, why_len, "%s needs %s from the WAN, more than the whole data budget (%s per %u days); "
                         "raise budget.limit, roll out a smaller bundle, %s", what, n, x, a->set.budget_period_days,
                         todo);
                return -EDQUOT;
        }
        /* When enough of the period's usage has aged out for it to fit. */
        char when[32];
        fmt_day(quota_fits_on(a->budget.days, a->budget.n_days, today(), a->set.budget_period_days, lim, need), when,
                sizeof when);
        snprintf(why, why_len, "%s needs %s from the WAN, but the data budget leaves %s (%s per %u days) until %s; "
                 "raise budget.limit, roll out a smaller bundle, %s", what, n, l, x, a->set.budget_period_days,
                 when, todo);
        return -EDQUOT;
}

json_t *budget_json(struct agent *a)
{
        uint64_t used = budget_used(a), lim = a->set.budget_limit;
        json_t *o = json_pack("{s:I,s:I,s:b,s:{s:I,s:I}}", "used", (json_int_t)used, "periodDays",
                              (json_int_t)a->set.budget_period_days, "low", budget_low(a), "sinceStart", "rx",
                              (json_int_t)a->budget.meter.rx, "tx", (json_int_t)a->budget.meter.tx);
        if (o && lim) {
                json_object_set_new(o, "limit", json_integer((json_int_t)lim));
                json_object_set_new(o, "left", json_integer((json_int_t)(used < lim ? lim - used : 0)));
        }
        if (o && a->set.budget_per_update)
                json_object_set_new(o, "perUpdate", json_integer((json_int_t)a->set.budget_per_update));
        return o;
}
