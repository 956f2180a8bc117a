/* SPDX-License-Identifier: Apache-2.0 */
/* test_bgjob.c — blocking work off the event loop (daemon/bgjob.h): while the work
 * blocks on its thread, the loop runs timers; done() comes once, on the loop thread,
 * with the work's result; bgjob_wait_free() joins without calling done(). */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <systemd/sd-event.h>

#include "daemon/bgjob.h"

struct ctx {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool release;           /* the work returns once this is set */
        pthread_t work_thread;
        pthread_t done_thread;
        unsigned done_calls;
        int done_r;
        unsigned ticks;         /* loop timer runs while the work blocks */
        sd_event *ev;
};

static int work(void *ud)
{
        struct ctx *c = ud;
        c->work_thread = pthread_self();
        pthread_mutex_lock(&c->lock);
        while (!c->release)
                pthread_cond_wait(&c->cond, &c->lock);
        pthread_mutex_unlock(&c->lock);
        return -EXDEV;
}

static void done(void *ud, int r)
{
        struct ctx *c = ud;
        c->done_calls++;
        c->done_r = r;
        c->done_thread = pthread_self();
        sd_event_exit(c->ev, 0);
}

/* Ticks on the loop; after 5 of them (the work still blocked) releases the work. */
static int on_tick(sd_event_source *s, uint64_t usec, void *ud)
{
        struct ctx *c = ud;
        if (++c->ticks == 5) {
                pthread_mutex_lock(&c->lock);
                c->release = true;
                pthread_cond_signal(&c->cond);
                pthread_mutex_unlock(&c->lock);
                return 0;
        }
        assert_int_equal(c->done_calls, 0);
        sd_event_source_set_time_relative(s, 1000);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void test_loop_runs_while_work_blocks(void **state)
{
        struct ctx c = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
        assert_int_equal(sd_event_new(&c.ev), 0);
        sd_event_source *t = NULL;
        assert_int_equal(sd_event_add_time_relative(c.ev, &t, CLOCK_MONOTONIC, 1000, 1, on_tick, &c), 0);
        struct bgjob *j = NULL;
        berr e = {0};
        assert_int_equal(bgjob_start(c.ev, "test-job", work, done, &c, &j, &e), 0);
        assert_non_null(j);
        assert_int_equal(sd_event_loop(c.ev), 0);
        assert_int_equal(c.ticks, 5);
        assert_int_equal(c.done_calls, 1);
        assert_int_equal(c.done_r, -EXDEV);
        assert_true(pthread_equal(c.done_thread, pthread_self()));
        assert_false(pthread_equal(c.work_thread, pthread_self()));
        sd_event_source_unref(t);
        sd_event_unref(c.ev);
}

static void test_wait_free_joins_without_done(void **state)
{
        struct ctx c = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .release = true};
        assert_int_equal(sd_event_new(&c.ev), 0);
        struct bgjob *j = NULL;
        berr e = {0};
        assert_int_equal(bgjob_start(c.ev, "test-job", work, done, &c, &j, &e), 0);
        bgjob_wait_free(j);
        /* The loop has nothing left to dispatch for it: done() never comes. */
        assert_true(sd_event_run(c.ev, 10000) >= 0);
        assert_int_equal(c.done_calls, 0);
        bgjob_wait_free(NULL);
        sd_event_unref(c.ev);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_loop_runs_while_work_blocks),
                cmocka_unit_test(test_wait_free_joins_without_done),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
