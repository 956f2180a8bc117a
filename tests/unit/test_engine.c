/* SPDX-License-Identifier: Apache-2.0 */
/* test_engine.c — the workload engine's policy against a fake runtime (runtime.h) with
 * a clock the test moves, and the real SQLite state on disk: updates commit after the
 * soak time, the old set is down before the new one starts, failed probes, exits and
 * failed starts roll back, restarts back off exponentially, an engine started after a
 * crash mid-switch or mid-probe converges to one version, and GC removes only what is neither
 * current nor previous.
 */
#include "testutil.h"

#include <errno.h>

#include "bundle/manifest.h"
#include "store/db.h"
#include "store/wstate.h"
#include "workload/engine.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"

/* ---- the fake runtime ----------------------------------------------------------------- */

struct fake_ctr {
        char id[80];
        int64_t version;
        bool exists, task, running;
        int exit_code;                  /* >= 0: the task has exited with it */
        uint32_t pid;
};

struct fake {
        uint64_t now;                   /* CLOCK_MONOTONIC ms */
        struct fake_ctr c[32];
        size_t n;
        uint32_t next_pid;
        int64_t unhealthy_version;      /* its probes fail */
        int64_t broken_version;         /* its starts fail */
        unsigned starts, stops, removes, probes;
        bool overlap;                   /* a start while another version of the bundle ran */
        char log[2048];                 /* "start ID; stop ID; …" */
};

static struct fake_ctr *ctr_find(struct fake *f, const char *id)
{
        for (size_t i = 0; i < f->n; i++)
                if (f->c[i].exists && !strcmp(f->c[i].id, id))
                        return &f->c[i];
        return NULL;
}

static void logf_(struct fake *f, const char *what, const char *id)
{
        size_t l = strlen(f->log);
        snprintf(f->log + l, sizeof f->log - l, "%s %s; ", what, id);
}

static void f_init(void *ud, struct wl_instance *in)
{
        (void)ud;
        char id[400];
        snprintf(id, sizeof id, "%s-v%lld-%s", in->bundle, (long long)in->version, in->spec->name);
        assert_true(strlen(id) < sizeof in->id);
        memcpy(in->id, id, strlen(id) + 1);
}

static int f_image(void *ud, const struct bundle_manifest *m, const char *ref, json_t **cfg, char chain[DIGEST_STR_LEN + 1],
                   berr *e)
{
        (void)ud, (void)m, (void)ref, (void)e;
        *cfg = json_object();
        snprintf(chain, DIGEST_STR_LEN + 1, "%s", D1);
        return 0;
}

static int f_start(void *ud, const struct wl_instance *in, uint32_t *pid, berr *e)
{
        struct fake *f = ud;
        if (in->version == f->broken_version)
                return berr_set(e, -EIO, "the image of %s is broken", in->id);
        for (size_t i = 0; i < f->n; i++)
                if (f->c[i].exists && f->c[i].running && f->c[i].version != in->version)
                        f->overlap = true;
        struct fake_ctr *c = ctr_find(f, in->id);
        if (!c) {
                assert_true(f->n < ELEMENTSOF(f->c));
                c = &f->c[f->n++];
                *c = (struct fake_ctr) {.exists = true, .version = in->version, .exit_code = -1};
                snprintf(c->id, sizeof c->id, "%s", in->id);
        }
        if (!c->running) {
                c->task = c->running = true;
                c->exit_code = -1;
                c->pid = ++f->next_pid;
                f->starts++;
                logf_(f, "start", in->id);
        }
        *pid = c->pid;
        return 0;
}

static int f_stop(void *ud, const char *id, int sig, uint64_t grace_ms, berr *e)
{
        (void)sig, (void)grace_ms, (void)e;
        struct fake *f = ud;
        struct fake_ctr *c = ctr_find(f, id);
        if (c && c->task) {
                c->task = c->running = false;
                f->stops++;
                logf_(f, "stop", id);
        }
        return 0;
}

static int f_poll(void *ud, const struct wl_instance *in, int *code, bool *oom, berr *e)
{
        (void)e;
        struct fake_ctr *c = ctr_find(ud, in->id);
        if (!c || !c->task)
                return -ENOENT;
        if (c->running)
                return 0;
        *code = c->exit_code;
        *oom = false;
        c->task = false;
        return 1;
}

static int f_peek(void *ud, const char *id, uint32_t *pid)
{
        struct fake_ctr *c = ctr_find(ud, id);
        if (!c || !c->task)
                return -ENOENT;
        *pid = c->pid;
        return c->running;
}

static int f_probe(void *ud, struct wl_instance *in)
{
        struct fake *f = ud;
        f->probes++;
        bool ok = in->version != f->unhealthy_version;
        snprintf(in->last_probe, sizeof in->last_probe, "exec true: %s", ok ? "ok" : "exit status 1");
        return ok;
}

static void f_rotate(void *ud, const struct wl_instance *in)
{
        (void)ud, (void)in;
}

static int f_list(void *ud, const char *bundle, struct wl_container_ref **ret, size_t *ret_n, berr *e)
{
        (void)e;
        struct fake *f = ud;
        struct wl_container_ref *out = calloc(f->n + 1, sizeof *out);
        size_t n = 0;
        for (size_t i = 0; i < f->n; i++)
                if (f->c[i].exists && !strncmp(f->c[i].id, bundle, strlen(bundle))) {
                        snprintf(out[n].id, sizeof out[n].id, "%s", f->c[i].id);
                        out[n++].version = f->c[i].version;
                }
        *ret = out;
        *ret_n = n;
        return 0;
}

static int f_remove(void *ud, const char *id, berr *e)
{
        struct fake *f = ud;
        struct fake_ctr *c = ctr_find(f, id);
        if (c) {
                (void)f_stop(ud, id, 9, 0, e);
                c->exists = false;
                f->removes++;
                logf_(f, "remove", id);
        }
        return 0;
}

static int f_image_forget(void *ud, const char *name, const char *digest, berr *e)
{
        (void)ud, (void)name, (void)digest, (void)e;
        return 0;
}

static uint64_t f_mono(void *ud)
{
        return ((struct fake *)ud)->now;
}

static int64_t f_wall(void *ud)
{
        return 1700000000000 + (int64_t)((struct fake *)ud)->now;
}

static const struct wl_runtime_ops fake_ops = {
        .init = f_init, .image = f_image, .start = f_start, .stop = f_stop, .poll = f_poll, .peek = f_peek,
        .probe = f_probe, .rotate_logs = f_rotate, .list = f_list, .remove = f_remove,
        .image_forget = f_image_forget, .mono_ms = f_mono, .wall_ms = f_wall,
};

/* ---- fixture -------------------------------------------------------------------------- */

struct env {
        char *dir;
        struct berth_db *db;
        struct fake f;
        struct workload_engine *eng;
};

/* Two workloads (db, then web which depends on it), probes every second, two failures
 * in a row make a workload unhealthy, restarts back off from 1 s to at most 4 s, soak 10 s. */
#define WORKLOAD(NAME, DEPS) \
        "{\"name\":\"" NAME "\",\"image\":\"r/app:1\",\"resources\":{\"memory\":\"64M\",\"cpu\":0.5}," DEPS \
        "\"restart\":{\"policy\":\"always\",\"backoff\":\"1s\",\"maxBackoff\":\"4s\"}," \
        "\"probe\":{\"exec\":{\"command\":[\"true\"]},\"period\":\"1s\",\"failureThreshold\":2}}"
#define MTEXT \
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\",\"name\":\"app\"," \
        "\"version\":%d,\"created\":\"2026-01-01T00:00:00Z\",\"expires\":\"2027-01-01T00:00:00Z\"," \
        "\"images\":[{\"ref\":\"r/app:1\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," \
        "\"digest\":\"" D1 "\",\"size\":10}]," \
        "\"blobs\":[{\"digest\":\"" D1 "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}]," \
        "\"update\":{\"soak\":\"10s\"},\"workloads\":[" WORKLOAD("db", ) "," WORKLOAD("web", "\"dependsOn\":[\"db\"],") "]}"

static void record(struct env *t, int version)
{
        char *s;
        assert_true(asprintf(&s, MTEXT, version) > 0);
        struct bundle_manifest *m = NULL;
        berr e = {0};
        assert_int_equal(bundle_manifest_parse(s, strlen(s), &m, &e), 0);
        assert_int_equal(db_record_bundle(t->db, m, s, strlen(s), "{}", 2, "cli", 100, &e), 0);
        bundle_manifest_free(m);
        free(s);
}

static void engine_new(struct env *t)
{
        struct wl_runtime rt = {.ops = &fake_ops, .ud = &t->f};
        struct workload_engine_opts o = {.data_dir = t->dir, .log_dir = t->dir, .supervise_ms = 500, .runtime = &rt};
        berr e = {0};
        assert_int_equal(workload_engine_new(&o, NULL, t->db, NULL, NULL, &t->eng, &e), 0);
        assert_int_equal(workload_engine_start(t->eng, &e), 0);
}

static struct env *env_new(const char *tag)
{
        struct env *t = calloc(1, sizeof *t);
        t->dir = test_tmpdir(tag);
        t->f.now = 1000000;
        berr e = {0};
        assert_int_equal(db_open(t->dir, &t->db, &e), 0);
        for (int v = 1; v <= 3; v++)
                record(t, v);
        engine_new(t);
        return t;
}

static void env_free(struct env *t)
{
        workload_engine_free(t->eng);
        db_close(t->db);
        test_rmdir(t->dir);
        free(t);
}

/* Ticks, moving the clock to each deadline the engine asks for, until the bundle has no
 * unfinished update or until limit_ms of fake time have passed. */
static void run(struct env *t, uint64_t limit_ms)
{
        uint64_t end = t->f.now + limit_ms;
        while (t->f.now < end) {
                uint64_t next = 0;
                berr e = {0};
                assert_int_equal(workload_engine_tick(t->eng, &next, &e), 0);
                if (!workload_update_busy(t->eng, "app"))
                        return;
                t->f.now = next > t->f.now ? next : t->f.now + 1;
        }
}

static void latest(struct env *t, struct wstate_update *u)
{
        assert_int_equal(wstate_latest(t->db, "app", false, u), 1);
}

static int64_t current(struct env *t, int64_t *prev)
{
        int64_t cur = 0;
        assert_int_equal(wstate_current(t->db, "app", &cur, prev), 1);
        return cur;
}

/* How many tasks of version v run. */
static unsigned running(struct env *t, int64_t v)
{
        unsigned n = 0;
        for (size_t i = 0; i < t->f.n; i++)
                n += t->f.c[i].exists && t->f.c[i].running && t->f.c[i].version == v;
        return n;
}

static void install(struct env *t, int64_t v)
{
        berr e = {0};
        assert_int_equal(workload_update_start(t->eng, "app", v, true, &e), 0);
        run(t, 60000);
        struct wstate_update u;
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_COMMITTED);
        assert_int_equal(current(t, NULL), v);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_update_commits_after_soak(void **state)
{
        (void)state;
        struct env *t = env_new("engine-commit");
        install(t, 1);
        assert_int_equal(running(t, 1), 2);
        assert_string_equal(t->f.log, "start app-v1-db; start app-v1-web; ");

        /* v2: staged, then switched (old set down in reverse order, new set up in order). */
        berr e = {0};
        t->f.log[0] = 0;
        assert_int_equal(workload_update_start(t->eng, "app", 2, true, &e), 0);
        uint64_t t0 = t->f.now;
        uint64_t next;
        assert_int_equal(workload_engine_tick(t->eng, &next, &e), 0);
        assert_string_equal(t->f.log, "stop app-v1-web; stop app-v1-db; start app-v2-db; start app-v2-web; ");
        struct wstate_update u;
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_PROBING);
        assert_int_equal(u.probe_until_ms, 1700000000000 + (int64_t)t0 + 10000);

        /* Healthy, but not committed before the soak time is over. */
        run(t, 9000);
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_PROBING);
        run(t, 60000);
        assert_true(t->f.now >= t0 + 10000 && t->f.now < t0 + 12000);
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_COMMITTED);
        assert_non_null(strstr(u.evidence, "healthy for the soak time (10000 ms)"));
        int64_t prev = 0;
        assert_int_equal(current(t, &prev), 2);
        assert_int_equal(prev, 1);
        assert_false(t->f.overlap);
        assert_int_equal(running(t, 1), 0);
        assert_int_equal(running(t, 2), 2);
        assert_int_equal(t->f.removes, 0); /* v1 is the previous version: kept for rollback */

        /* v3: v1 is neither current nor previous any more, its containers go. */
        install(t, 3);
        assert_int_equal(t->f.removes, 2);
        assert_non_null(strstr(t->f.log, "remove app-v1-db"));
        assert_null(strstr(t->f.log, "remove app-v2"));
        assert_false(t->f.overlap);
        env_free(t);
}

static void test_failed_probes_roll_back(void **state)
{
        (void)state;
        struct env *t = env_new("engine-probe");
        install(t, 1);
        t->f.unhealthy_version = 2;
        berr e = {0};
        assert_int_equal(workload_update_start(t->eng, "app", 2, true, &e), 0);
        uint64_t t0 = t->f.now;
        run(t, 60000);
        struct wstate_update u;
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_ROLLED_BACK);
        assert_non_null(strstr(u.evidence, "exec probe failed 2 times in a row: exec true: exit status 1"));
        /* Two failed probes a second apart: decided long before the soak time. */
        assert_true(t->f.now < t0 + 5000);
        assert_int_equal(current(t, NULL), 1);
        assert_int_equal(running(t, 1), 2);
        assert_int_equal(running(t, 2), 0);
        assert_false(t->f.overlap);
        env_free(t);
}

static void test_exit_during_soak_rolls_back(void **state)
{
        (void)state;
        struct env *t = env_new("engine-exit");
        install(t, 1);
        berr e = {0};
        assert_int_equal(workload_update_start(t->eng, "app", 2, true, &e), 0);
        uint64_t next;
        assert_int_equal(workload_engine_tick(t->eng, &next, &e), 0);
        assert_int_equal(running(t, 2), 2);
        for (size_t i = 0; i < t->f.n; i++)
                if (!strcmp(t->f.c[i].id, "app-v2-web")) {
                        t->f.c[i].running = false;
                        t->f.c[i].exit_code = 3;
                }
        run(t, 60000);
        struct wstate_update u;
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_ROLLED_BACK);
        assert_non_null(strstr(u.evidence, "workload web of version 2 exited with status 3 during the soak time"));
        assert_int_equal(running(t, 1), 2);
        assert_int_equal(running(t, 2), 0);
        env_free(t);
}

static void test_failed_start_rolls_back(void **state)
{
        (void)state;
        struct env *t = env_new("engine-start");
        install(t, 1);
        t->f.broken_version = 2;
        berr e = {0};
        assert_int_equal(workload_update_start(t->eng, "app", 2, true, &e), 0);
        run(t, 60000);
        struct wstate_update u;
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_ROLLED_BACK);
        assert_non_null(strstr(u.evidence, "workload db did not start: the image of app-v2-db is broken"));
        assert_int_equal(running(t, 1), 2);
        assert_int_equal(current(t, NULL), 1);
        env_free(t);
}

static void test_restart_backoff(void **state)
{
        (void)state;
        struct env *t = env_new("engine-backoff");
        install(t, 1);
        struct fake_ctr *web = NULL;
        for (size_t i = 0; i < t->f.n; i++)
                if (!strcmp(t->f.c[i].id, "app-v1-web"))
                        web = &t->f.c[i];
        assert_non_null(web);
        /* Crash right after each (re)start: the gaps double from 1 s up to 4 s. */
        const uint64_t want[] = {1000, 2000, 4000, 4000};
        for (size_t k = 0; k < ELEMENTSOF(want); k++) {
                web->running = false;
                web->exit_code = 1;
                uint64_t crashed = t->f.now, next;
                berr e = {0};
                unsigned starts = t->f.starts;
                while (t->f.starts == starts) {
                        assert_int_equal(workload_engine_tick(t->eng, &next, &e), 0);
                        if (t->f.starts == starts)
                                t->f.now = next > t->f.now ? next : t->f.now + 1;
                        assert_true(t->f.now <= crashed + 60000);
                }
                assert_int_equal(t->f.now - crashed, want[k]);
        }
        /* The engine's status says what happened. */
        json_t *st = workload_engine_status(t->eng);
        json_t *w = json_array_get(json_object_get(json_array_get(st, 0), "workloads"), 1);
        assert_string_equal(json_string_value(json_object_get(w, "name")), "web");
        assert_int_equal(json_integer_value(json_object_get(w, "restarts")), 4);
        assert_int_equal(json_integer_value(json_object_get(w, "lastExit")), 1);
        json_decref(st);
        env_free(t);
}

/* A crash in the middle of the switch: v1's web still runs, v2's db already runs, the
 * state says switching. The next engine converges to v2 alone, then commits it. */
static void test_resume_after_crash_mid_switch(void **state)
{
        (void)state;
        struct env *t = env_new("engine-resume");
        install(t, 1);
        berr e = {0};
        assert_int_equal(workload_update_start(t->eng, "app", 2, false, &e), 0);
        struct wstate_update u;
        assert_int_equal(wstate_latest(t->db, "app", true, &u), 1);
        assert_int_equal(wstate_set(t->db, &u, WSTATE_SWITCHING, 0, NULL, 1, &e), 0);
        workload_engine_free(t->eng); /* killed: nothing is stopped */
        t->eng = NULL;
        for (size_t i = 0; i < t->f.n; i++)
                if (!strcmp(t->f.c[i].id, "app-v1-db"))
                        t->f.c[i].running = t->f.c[i].task = false;
        uint32_t pid = 0;
        struct wl_instance half = {.version = 2};
        snprintf(half.id, sizeof half.id, "app-v2-db");
        assert_int_equal(f_start(&t->f, &half, &pid, &e), 0);
        t->f.overlap = false;
        t->f.log[0] = 0;

        engine_new(t);
        run(t, 60000);
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_COMMITTED);
        assert_int_equal(current(t, NULL), 2);
        assert_int_equal(running(t, 1), 0);
        assert_int_equal(running(t, 2), 2);
        assert_false(t->f.overlap);
        /* v2's db was adopted, not started twice. */
        assert_null(strstr(t->f.log, "start app-v2-db"));
        assert_non_null(strstr(t->f.log, "stop app-v1-web"));
        env_free(t);
}

/* A crash while probing; v2's web died while the agent was away. The next engine
 * adopts v2's db, does not restart web, and rolls back: the exit is the release's. */
static void test_resume_probing_task_died(void **state)
{
        (void)state;
        struct env *t = env_new("engine-resume-probing");
        install(t, 1);
        berr e = {0};
        assert_int_equal(workload_update_start(t->eng, "app", 2, true, &e), 0);
        uint64_t next;
        assert_int_equal(workload_engine_tick(t->eng, &next, &e), 0);
        struct wstate_update u;
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_PROBING);
        workload_engine_free(t->eng); /* killed */
        t->eng = NULL;
        for (size_t i = 0; i < t->f.n; i++)
                if (!strcmp(t->f.c[i].id, "app-v2-web")) {
                        t->f.c[i].running = false;
                        t->f.c[i].exit_code = 137;
                }
        t->f.log[0] = 0;
        engine_new(t);
        assert_null(strstr(t->f.log, "start app-v2"));
        run(t, 60000);
        latest(t, &u);
        assert_int_equal(u.state, WSTATE_ROLLED_BACK);
        assert_non_null(strstr(u.evidence, "workload web of version 2 exited with status 137"));
        assert_int_equal(running(t, 1), 2);
        assert_int_equal(running(t, 2), 0);
        assert_false(t->f.overlap);
        env_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_update_commits_after_soak),
                cmocka_unit_test(test_failed_probes_roll_back),
                cmocka_unit_test(test_exit_during_soak_rolls_back),
                cmocka_unit_test(test_failed_start_rolls_back),
                cmocka_unit_test(test_restart_backoff),
                cmocka_unit_test(test_resume_after_crash_mid_switch),
                cmocka_unit_test(test_resume_probing_task_died),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
