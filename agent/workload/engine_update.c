/* SPDX-License-Identifier: Apache-2.0 */
/* engine_update.c — the update state machine of one bundle (engine_int.h, engine.h):
 *
 *   staged → switching → probing → committed
 *                  ↘          ↘
 *                   rolling_back → rolled_back
 *
 * Ordering rules that crash safety depends on:
 *   - a state is persisted (one SQLite transaction) before the side effects that
 *     belong to it; resuming a state redoes all of its side effects, each of which is
 *     idempotent (stop = no-op when stopped, start = adopt when running);
 *   - the new set is only started after the old set is stopped, and the rollback only
 *     starts the old set after the new set is stopped: at no instant do both run;
 *   - the commit (state committed + current version, one transaction) comes before any
 *     garbage collection, and GC only touches versions that are neither current,
 *     previous nor part of an unfinished update.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "workload/engine_int.h"

static int do_rollback(struct workload_engine *eng, struct wl_bundle *b, berr *e);

static int persist(struct workload_engine *eng, struct wl_bundle *b, enum wstate_state s, int64_t probe_until,
                   const char *evidence, berr *e)
{
        return wstate_set(eng->db, &b->upd, s, probe_until, evidence, eng_wall_ms(eng), e);
}

int eng_begin_rollback(struct workload_engine *eng, struct wl_bundle *b, const char *evidence, berr *e)
{
        if (!b->fail_ms)
                b->fail_ms = eng_mono_ms(eng);
        int r = persist(eng, b, WSTATE_ROLLING_BACK, 0, evidence, e);
        if (r < 0)
                return r;
        FAULT_POINT("rollback.after_persist");
        return do_rollback(eng, b, e);
}

static int do_rollback(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        int r;
        /* Stop the new set (by label if it cannot even be loaded). */
        if (b->next)
                r = eng_set_stop(eng, b->next, e);
        else {
                int64_t keep[] = {b->upd.from_version};
                r = eng_stop_others(eng, b->name, keep, 1, e);
        }
        if (r < 0)
                return berr_prefix(e, r, "rolling back %s: stopping version %lld", b->name,
                                   (long long)b->upd.to_version);
        FAULT_POINT("rollback.after_stop_new");
        char why[600] = "";
        if (b->upd.from_version) {
                if (!b->cur) {
                        r = eng_version_load(eng, b->name, b->upd.from_version, &b->cur, e);
                        if (r < 0)
                                return r;
                }
                berr se = {0};
                if (eng_set_start(eng, b->cur, why, sizeof why, &se) < 0)
                        eng_note(b, &se, -EIO); /* supervision retries with backoff */
        }
        char ev[2048];
        int n = snprintf(ev, sizeof ev, "%s%s%s", b->upd.evidence, why[0] ? "; then " : "", why);
        if (n > 1000)
                ev[1000] = 0; /* the DB field is bounded */
        r = persist(eng, b, WSTATE_ROLLED_BACK, 0, ev, e);
        if (r < 0)
                return r;
        eng_version_free(b->next);
        b->next = NULL;
        b->has_upd = false;
        b->await_old_healthy = b->upd.from_version != 0;
        if (b->cur)
                for (size_t i = 0; i < b->cur->set->n; i++)
                        b->cur->inst[i].next_probe_ms = 0; /* probe the old set at once */
        eng_gc_bundle(eng, b);
        return 0;
}

static int do_switch(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        int r;
        if (!b->next) {
                char why[700];
                berr le = {0};
                r = eng_version_load(eng, b->name, b->upd.to_version, &b->next, &le);
                if (r < 0) {
                        snprintf(why, sizeof why, "cannot load version %lld: %s", (long long)b->upd.to_version,
                                 berr_msg(&le, r));
                        return eng_begin_rollback(eng, b, why, e);
                }
        }
        /* Old set down first (reverse start order); also anything a crash left running. */
        if (b->cur && b->cur->version != b->upd.to_version) {
                r = eng_set_stop(eng, b->cur, e);
                if (r < 0)
                        return berr_prefix(e, r, "switching %s: stopping version %lld", b->name,
                                           (long long)b->cur->version);
        }
        int64_t keep[] = {b->upd.to_version};
        r = eng_stop_others(eng, b->name, keep, 1, e);
        if (r < 0)
                return r;
        FAULT_POINT("switch.after_stop_old");
        char why[700];
        berr se = {0};
        r = eng_set_start(eng, b->next, why, sizeof why, &se);
        if (r < 0)
                return eng_begin_rollback(eng, b, why, e);
        FAULT_POINT("switch.after_start_new");
        r = persist(eng, b, WSTATE_PROBING, eng_wall_ms(eng) + (int64_t)b->next->set->soak_ms, NULL, e);
        if (r < 0)
                return r;
        FAULT_POINT("probe.after_persist");
        return 0;
}

static int do_commit(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        char ev[1024];
        size_t off = (size_t)snprintf(ev, sizeof ev, "healthy for the soak time (%llu ms):",
                                      (unsigned long long)b->next->set->soak_ms);
        for (size_t i = 0; i < b->next->set->n && off < sizeof ev; i++)
                off += (size_t)snprintf(ev + off, sizeof ev - off, " %s: %s;", b->next->inst[i].spec->name,
                                        b->next->inst[i].last_probe);
        FAULT_POINT("commit.before");
        int r = wstate_commit(eng->db, &b->upd, ev, eng_wall_ms(eng), e);
        if (r < 0)
                return r;
        FAULT_POINT("commit.after");
        b->previous = b->upd.from_version;
        b->current = b->upd.to_version;
        eng_version_free(b->cur);
        b->cur = TAKE_PTR(b->next);
        b->has_upd = false;
        eng_gc_bundle(eng, b);
        return 0;
}

static int step_probing(struct workload_engine *eng, struct wl_bundle *b, uint64_t now, berr *e)
{
        struct wl_version *v = b->next;
        eng_supervise(eng, b, v, false, now);
        for (size_t i = 0; i < v->set->n; i++) {
                struct wl_instance *in = &v->inst[i];
                char ev[1024];
                if (!in->running && in->last_exit >= 0) {
                        snprintf(ev, sizeof ev, "workload %s of version %lld exited with status %d%s during the soak "
                                 "time", in->spec->name, (long long)v->version, in->last_exit,
                                 in->last_oom ? " (killed: out of memory)" : "");
                        return eng_begin_rollback(eng, b, ev, e);
                }
                if (in->spec->probe.kind != WL_PROBE_NONE && in->fail_streak >= in->spec->probe.failure_threshold) {
                        snprintf(ev, sizeof ev, "workload %s of version %lld: %s probe failed %u times in a row: %s",
                                 in->spec->name, (long long)v->version, wl_probe_name(in->spec->probe.kind),
                                 in->fail_streak, in->last_probe);
                        return eng_begin_rollback(eng, b, ev, e);
                }
        }
        if (eng_wall_ms(eng) < b->upd.probe_until_ms)
                return 0;
        if (eng_set_all_healthy(v))
                return do_commit(eng, b, e);
        /* A workload whose probes have not decided yet (just started or adopted after
         * a restart past the soak deadline) gets the time its probe needs to reach a
         * threshold; it cannot wait longer than that. */
        for (size_t i = 0; i < v->set->n; i++) {
                const struct wl_instance *in = &v->inst[i];
                const struct wl_probe *p = &in->spec->probe;
                uint64_t need = p->initial_delay_ms + (uint64_t)(p->success_threshold + p->failure_threshold) *
                                                              p->period_ms + p->timeout_ms;
                if (!in->healthy && in->running && p->kind != WL_PROBE_NONE && now < in->started_ms + need)
                        return 0;
        }
        for (size_t i = 0; i < v->set->n; i++)
                if (!v->inst[i].healthy) {
                        char ev[1024];
                        snprintf(ev, sizeof ev, "workload %s of version %lld was not healthy when the soak time ended: "
                                 "%s", v->inst[i].spec->name, (long long)v->version,
                                 v->inst[i].last_probe[0] ? v->inst[i].last_probe : "not probed yet");
                        return eng_begin_rollback(eng, b, ev, e);
                }
        return 0;
}

int eng_step_bundle(struct workload_engine *eng, struct wl_bundle *b, uint64_t now, berr *e)
{
        if (!b->has_upd) {
                eng_supervise(eng, b, b->cur, true, now);
                if (b->await_old_healthy && eng_set_all_healthy(b->cur)) {
                        b->await_old_healthy = false;
                        b->rollback_s = b->fail_ms ? (double)(eng_mono_ms(eng) - b->fail_ms) / 1000.0 : -1;
                }
                return 0;
        }
        switch (b->upd.state) {
        case WSTATE_STAGED:
                eng_supervise(eng, b, b->cur, true, now);
                if (!b->proceed)
                        return 0;
                {
                        int r = persist(eng, b, WSTATE_SWITCHING, 0, NULL, e);
                        if (r < 0)
                                return r;
                }
                FAULT_POINT("switch.after_persist");
                return do_switch(eng, b, e);
        case WSTATE_SWITCHING:
                return do_switch(eng, b, e);
        case WSTATE_PROBING:
                if (!b->next) {
                        int r = eng_version_load(eng, b->name, b->upd.to_version, &b->next, e);
                        if (r < 0)
                                return eng_begin_rollback(eng, b, berr_msg(e, r), e);
                }
                return step_probing(eng, b, now, e);
        case WSTATE_ROLLING_BACK:
                return do_rollback(eng, b, e);
        default:
                b->has_upd = false;
                return 0;
        }
}


/* After a start, only version v of b may run: the tasks of other versions are stopped,
 * and each of v's is adopted or started again. A task that exited while the agent was
 * away is recorded: during probing that fails the update (the next tick sees it);
 * otherwise the restart policy decides. 1: a task of v could not start during probing. */
static int adopt_set(struct workload_engine *eng, struct wl_bundle *b, struct wl_version *v, bool probing,
                     berr *e)
{
        int64_t keep[] = {v ? v->version : b->current};
        int r = eng_stop_others(eng, b->name, keep, 1, e);
        if (r < 0)
                return r;
        for (size_t k = 0; v && k < v->set->n; k++) {
                struct wl_instance *in = &v->inst[v->set->order[k]];
                int code;
                bool oom;
                if (eng_inst_poll(eng, in, &code, &oom, NULL) > 0) {
                        in->last_exit = code;
                        in->last_oom = oom;
                        in->given_up = !probing && (in->spec->restart == WL_RESTART_NEVER ||
                                                    (in->spec->restart == WL_RESTART_ON_FAILURE && code == 0 && !oom));
                        if (probing || in->given_up)
                                continue;
                }
                berr se = {0};
                r = eng_inst_start(eng, in, &se);
                if (r < 0 && probing) {
                        if (e)
                                *e = se;
                        return 1;
                }
                if (r < 0)
                        eng_note(b, &se, r); /* supervision retries with backoff */
        }
        return 0;
}

/* Brings one bundle back to what its persisted state says should run. */
int eng_converge_bundle(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        int r;
        if (b->current && !b->cur) {
                r = eng_version_load(eng, b->name, b->current, &b->cur, e);
                if (r < 0)
                        return r;
        }
        if (b->has_upd && b->upd.state == WSTATE_PROBING) {
                /* The probing set is adopted here; the ticks go on probing it. */
                r = eng_version_load(eng, b->name, b->upd.to_version, &b->next, e);
                if (r >= 0)
                        r = adopt_set(eng, b, b->next, true, e);
                if (r == 0)
                        return 0;
                if (r < 0 && b->next)
                        return r; /* the runtime failed: a set that is not up fails its soak */
                return eng_begin_rollback(eng, b, berr_msg(e, r), e);
        }
        if (b->has_upd && b->upd.state != WSTATE_STAGED)
                return 0; /* switching / rolling_back: the first tick redoes the state */
        /* Steady (or staged): only the committed version runs. */
        r = adopt_set(eng, b, b->cur, false, e);
        if (r < 0)
                return r;
        if (!b->has_upd)
                eng_gc_bundle(eng, b);
        return 0;
}

/* Loads the target version's specs, persists the transition (its first state, before
 * any side effect) and arms the bundle for the ticks that carry it out. */
int eng_begin_transition(struct workload_engine *eng, struct wl_bundle *b, const char *bundle, int64_t to,
                         const char *kind, bool proceed, berr *e)
{
        struct wl_version *v = NULL;
        int r = eng_version_load(eng, bundle, to, &v, e);
        if (r < 0)
                return r;
        r = wstate_begin(eng->db, bundle, b->current, to, kind, eng_wall_ms(eng), &b->upd, e);
        if (r < 0) {
                eng_version_free(v);
                return r;
        }
        eng_version_free(b->next);
        b->next = v;
        b->has_upd = true;
        b->proceed = proceed;
        b->fail_ms = 0;
        b->rollback_s = -1;
        return 0;
}

