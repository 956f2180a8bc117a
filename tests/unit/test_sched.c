/* SPDX-License-Identifier: Apache-2.0 */
/* test_sched.c — polling interval with jitter, exponential backoff, maintenance windows. */
#include "testutil.h"

#include <errno.h>

#include "sched/backoff.h"
#include "sched/quota.h"
#include "sched/window.h"

static const struct poll_bounds B = {.min_ms = 10000, .max_ms = 3600000, .jitter_pct = 10, .retry_min_ms = 5000,
                                     .retry_max_ms = 600000};

static void test_poll_delay(void **state)
{
        /* the server's sleep, ± 10 % */
        for (uint32_t r = 0; r < 5000; r += 37) {
                uint64_t d = poll_delay_ms(&B, 300, r);
                assert_true(d >= 270000 && d <= 330000);
        }
        assert_int_equal(poll_delay_ms(&B, 300, 0), 270000);
        /* clamped to the bounds (before jitter) */
        uint64_t d = poll_delay_ms(&B, 1, 12345);
        assert_true(d >= 9000 && d <= 11000);
        d = poll_delay_ms(&B, 86400, 12345);
        assert_true(d >= 3240000 && d <= 3960000);
        /* no sleep given: the maximum */
        d = poll_delay_ms(&B, -1, 0);
        assert_int_equal(d, 3240000);
        struct poll_bounds nj = B;
        nj.jitter_pct = 0;
        assert_int_equal(poll_delay_ms(&nj, 300, 999), 300000);
        /* jitter spreads a fleet: different random inputs give different delays */
        assert_true(poll_delay_ms(&B, 300, 1) != poll_delay_ms(&B, 300, 40000));
}

static void test_backoff(void **state)
{
        uint64_t prev_max = 0;
        for (unsigned n = 1; n <= 12; n++) {
                uint64_t step = 5000ULL << (n - 1);
                if (step > 600000)
                        step = 600000;
                uint64_t lo = backoff_delay_ms(&B, n, 0), hi = backoff_delay_ms(&B, n, UINT32_MAX);
                assert_true(lo >= step / 2);
                assert_true(hi <= step);
                for (uint32_t r = 0; r < 100000; r += 977) {
                        uint64_t d = backoff_delay_ms(&B, n, r);
                        assert_true(d >= step / 2 && d <= step);
                }
                assert_true(step >= prev_max);
                prev_max = step;
        }
        /* capped, even after very many failures */
        assert_true(backoff_delay_ms(&B, 1000, 77) <= 600000);
        assert_true(backoff_delay_ms(&B, 1000, 77) >= 300000);
}

static void test_window(void **state)
{
        struct maint_window w;
        berr e = {0};
        assert_int_equal(window_parse("", &w, &e), 0);
        assert_true(window_is_open(&w, 12345));
        assert_int_equal(window_wait(&w, 12345), 0);

        assert_int_equal(window_parse("01:00-05:00", &w, &e), 0);
        int64_t day = 20000 * 86400LL;
        assert_false(window_is_open(&w, day + 0));
        assert_true(window_is_open(&w, day + 3600));
        assert_true(window_is_open(&w, day + 5 * 3600 - 1));
        assert_false(window_is_open(&w, day + 5 * 3600));
        assert_int_equal(window_wait(&w, day + 1800), 1800);
        assert_int_equal(window_wait(&w, day + 6 * 3600), 19 * 3600);

        /* across midnight, two ranges */
        assert_int_equal(window_parse("22:00-02:00, 12:00-12:30", &w, &e), 0);
        assert_true(window_is_open(&w, day + 23 * 3600));
        assert_true(window_is_open(&w, day + 3600));
        assert_true(window_is_open(&w, day + 12 * 3600 + 60));
        assert_false(window_is_open(&w, day + 3 * 3600));
        assert_int_equal(window_wait(&w, day + 3 * 3600), 9 * 3600);
        assert_int_equal(window_parse("00:00-24:00", &w, &e), 0);
        assert_true(window_is_open(&w, day + 86399));

        assert_int_equal(window_parse("1:00-5:00", &w, &e), -EINVAL);
        assert_int_equal(window_parse("01:00-01:00", &w, &e), -EINVAL);
        assert_int_equal(window_parse("25:00-26:00", &w, &e), -EINVAL);
        assert_int_equal(window_parse("01:00-05:00x", &w, &e), -EINVAL);
        assert_int_equal(window_parse("01:00", &w, &e), -EINVAL);
}

/* A 30-day period ending today (day 100) holds days 71..100. */
static void test_quota(void **state)
{
        (void)state;
        const struct quota_day d[] = {
                {.day = 60, .rx = 1000},                /* aged out already */
                {.day = 71, .rx = 300, .tx = 100},      /* leaves the period on day 101 */
                {.day = 80, .rx = 200},                 /* on day 110 */
                {.day = 100, .rx = 50, .tx = 50},       /* on day 130 */
        };
        assert_int_equal(quota_used(d, 4, 100, 30), 700);
        assert_int_equal(quota_used(d, 4, 101, 30), 300);
        assert_int_equal(quota_used(d, 0, 100, 30), 0);
        /* limit 1000: 300 left today. */
        assert_int_equal(quota_fits_on(d, 4, 100, 30, 1000, 300), 100);
        assert_int_equal(quota_fits_on(d, 4, 100, 30, 1000, 301), 101);  /* day 71 gone: 700 left */
        assert_int_equal(quota_fits_on(d, 4, 100, 30, 1000, 700), 101);
        assert_int_equal(quota_fits_on(d, 4, 100, 30, 1000, 701), 110);
        assert_int_equal(quota_fits_on(d, 4, 100, 30, 1000, 1000), 130); /* nothing counted by then */
        assert_int_equal(quota_fits_on(d, 4, 100, 30, 1000, 1001), -1);
        assert_int_equal(quota_fits_on(d, 0, 100, 30, 1000, 1000), 100);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_poll_delay),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_quota),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
