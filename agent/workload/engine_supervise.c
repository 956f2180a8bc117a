/* SPDX-License-Identifier: Apache-2.0 */
/* engine_supervise.c — running a set of workloads (engine_int.h): start in dependency
 * order, stop in reverse, exits and restarts with exponential backoff per the restart
 * policy, probes against their thresholds, log rotation.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/engine_int.h"

int eng_inst_start(struct workload_engine *eng, struct wl_instance *in, berr *e)
{
        uint32_t pid = 0;
        int r = eng->rt.ops->start(eng->rt.ud, in, &pid, e);
        if (r < 0)
                return r;
        in->running = true;
        in->given_up = false;
        in->pid = pid;
        in->started_ms = eng_mono_ms(eng);
        in->ok_streak = in->fail_streak = 0;
        in->healthy = false;
        in->next_probe_ms = in->started_ms + in->spec->probe.initial_delay_ms;
        return 0;
}

static void inst_down(struct wl_instance *in)
{
        in->running = false;
        in->healthy = false;
        in->pid = 0;
}

int eng_inst_poll(struct workload_engine *eng, struct wl_instance *in, int *ret_exit, bool *ret_oom, berr *e)
{
        int r = eng->rt.ops->poll(eng->rt.ud, in, ret_exit, ret_oom, e);
        if (r > 0)
                inst_down(in);
        return r;
}

int eng_set_start(struct workload_engine *eng, struct wl_version *v, char *why, size_t why_n, berr *e)
{
        for (size_t k = 0; k < v->set->n; k++) {
                struct wl_instance *in = &v->inst[v->set->order[k]];
                int r = eng_inst_start(eng, in, e);
                if (r < 0) {
                        if (why)
                                snprintf(why, why_n, "workload %s did not start: %s", in->spec->name, berr_msg(e, r));
                        return r;
                }
        }
        return 0;
}

int eng_set_stop(struct workload_engine *eng, struct wl_version *v, berr *e)
{
        for (size_t k = v->set->n; k > 0; k--) {
                struct wl_instance *in = &v->inst[v->set->order[k - 1]];
                int r = eng->rt.ops->stop(eng->rt.ud, in->id, in->spec->stop_signal, in->spec->stop_grace_ms, e);
                if (r < 0)
                        return r;
                inst_down(in);
        }
        return 0;
}

int eng_stop_others(struct workload_engine *eng, const char *bundle, const int64_t *keep, size_t n_keep, berr *e)
{
        struct wl_container_ref *list = NULL;
        size_t n = 0;
        int r = eng->rt.ops->list(eng->rt.ud, bundle, &list, &n, e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                bool kept = false;
                for (size_t k = 0; k < n_keep; k++)
                        kept |= keep[k] == list[i].version;
                if (!kept)
                        r = eng->rt.ops->stop(eng->rt.ud, list[i].id, SIGKILL, 0, e);
        }
        free(list);
        return r;
}

bool eng_set_all_healthy(const struct wl_version *v)
{
        for (size_t i = 0; v && i < v->set->n; i++)
                if (!v->inst[i].running || !v->inst[i].healthy)
                        return false;
        return true;
}

static void probe_due(struct workload_engine *eng, struct wl_instance *in, uint64_t now)
{
        const struct wl_probe *p = &in->spec->probe;
        if (!in->running)
                return;
        if (p->kind == WL_PROBE_NONE) {
                in->healthy = true;
                snprintf(in->last_probe, sizeof in->last_probe, "no probe; task running");
                return;
        }
        if (now < in->next_probe_ms)
                return;
        int ok = eng->rt.ops->probe(eng->rt.ud, in);
        in->next_probe_ms = eng_mono_ms(eng) + p->period_ms;
        if (ok > 0) {
                in->probes_ok++;
                in->fail_streak = 0;
                if (++in->ok_streak >= p->success_threshold)
                        in->healthy = true;
        } else {
                in->probes_failed++;
                in->ok_streak = 0;
                if (++in->fail_streak >= p->failure_threshold)
                        in->healthy = false;
        }
}

void eng_supervise(struct workload_engine *eng, struct wl_bundle *b, struct wl_version *v, bool restart,
                   uint64_t now)
{
        for (size_t k = 0; v && k < v->set->n; k++) {
                struct wl_instance *in = &v->inst[v->set->order[k]];
                const struct workload_spec *w = in->spec;
                berr e = {0};
                if (in->running) {
                        int code = 0;
                        bool oom = false;
                        int r = eng->poll_now ? eng_inst_poll(eng, in, &code, &oom, &e) : 0;
                        if (r == -ENOENT) {
                                /* The task vanished (containerd restarted): count it as a crash. */
                                inst_down(in);
                                code = 255;
                                r = 1;
                        }
                        if (r < 0) {
                                eng_note(b, &e, r);
                                continue;
                        }
                        if (r > 0) {
                                in->last_exit = code;
                                in->last_oom = oom;
                                bool again = w->restart == WL_RESTART_ALWAYS ||
                                             (w->restart == WL_RESTART_ON_FAILURE && (code != 0 || oom));
                                if (!again) {
                                        in->given_up = true;
                                        continue;
                                }
                                /* Exponential backoff; a run of 10 s (or the max backoff)
                                 * counts as healthy again and resets it. */
                                uint64_t ran = now - in->started_ms;
                                if (in->backoff_ms == 0 || ran >= 10000 || ran >= w->max_backoff_ms)
                                        in->backoff_ms = w->backoff_ms;
                                else
                                        in->backoff_ms = in->backoff_ms * 2 > w->max_backoff_ms ? w->max_backoff_ms
                                                                                               : in->backoff_ms * 2;
                                in->restart_at_ms = now + in->backoff_ms;
                                in->restarts++;
                                continue;
                        }
                        eng->rt.ops->rotate_logs(eng->rt.ud, in);
                        probe_due(eng, in, now);
                        continue;
                }
                if (!restart || in->given_up || now < in->restart_at_ms)
                        continue;
                int r = eng_inst_start(eng, in, &e);
                if (r < 0) {
                        eng_note(b, &e, r);
                        in->backoff_ms = in->backoff_ms ? in->backoff_ms * 2 : w->backoff_ms;
                        if (in->backoff_ms > w->max_backoff_ms)
                                in->backoff_ms = w->max_backoff_ms;
                        in->restart_at_ms = now + in->backoff_ms;
                }
        }
}
