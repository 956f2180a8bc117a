/* SPDX-License-Identifier: Apache-2.0 */
/* engine.c — workload supervision and the update state machine (see engine.h).
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
#include "workload/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "bundle/manifest.h"
#include "containerd/containers.h"
#include "containerd/events.h"
#include "containerd/images.h"
#include "containerd/plan.h"
#include "containerd/tasks.h"
#include "workload/runner.h"
#include "workload/spec.h"

struct wl_version {
        int64_t version;
        struct workload_set *set;
        struct wl_instance *inst;       /* same index as set->w */
};

struct wl_bundle {
        char name[129];
        int64_t current, previous;      /* 0 = none */
        struct wl_version *cur;         /* the committed set (current version) */
        struct wl_version *next;        /* the target of an unfinished update */
        bool has_upd;
        struct wstate_update upd;
        bool proceed;
        uint64_t fail_ms;               /* when the failure threshold was reached */
        bool await_old_healthy;
        double rollback_s;
        char error[512];                /* last error the engine met for this bundle */
};

struct workload_engine {
        struct berth_db *db;
        struct content_store *cs;
        struct runner_ctx rc;
        char *data_dir, *log_dir;
        uint64_t supervise_ms;
        uint64_t log_check_ms;
        struct wl_bundle *b;
        size_t n_b;
        bool started;
        bool poll_now;                  /* this round asks containerd about every task */
        uint64_t next_poll_ms;
        /* containerd events (/tasks/exit, /tasks/oom) watched by a thread that only
         * writes a byte into a pipe: the engine stays single-threaded. */
        bool watching;
        int cancel;
        int evfd[2];
        pthread_t thread;
        char ev_error[256];
};

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- versions ----------------------------------------------------------------------- */

static void version_free(struct wl_version *v)
{
        if (!v)
                return;
        for (size_t i = 0; v->set && i < v->set->n; i++)
                json_decref(v->inst[i].image_config);
        free(v->inst);
        workload_set_free(v->set);
        free(v);
}

/* The image config JSON and top chain ID of image ref in manifest m (this platform). */
static int image_info(struct workload_engine *eng, const struct bundle_manifest *m, const char *ref,
                      json_t **ret_config, char chain[DIGEST_STR_LEN + 1], berr *e)
{
        const struct bundle_image *im = NULL;
        for (size_t i = 0; i < m->n_images; i++)
                if (!strcmp(m->images[i].ref, ref))
                        im = &m->images[i];
        if (!im)
                return berr_set(e, -ENOENT, "image %s is not in bundle %s", ref, m->name);
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = NULL;
        int r = ctrd_plan_build_image(im->digest, im->media_type, im->size, eng->cs, &p, e);
        if (r < 0)
                return berr_prefix(e, r, "image %s", ref);
        if (p->n_unpacks == 0 || p->unpacks[0].n_layers == 0)
                return berr_set(e, -ENOEXEC, "image %s has no layers for this platform (%s)", ref, ctrd_plan_host_arch());
        const struct ctrd_plan_unpack *u = &p->unpacks[0];
        _cleanup_close_ int fd = -1;
        r = content_open(eng->cs, u->config, &fd);
        if (r < 0)
                return berr_set(e, r, "image %s: config %s is not in berth's store; import the bundle again", ref,
                                u->config);
        json_error_t je;
        json_t *cfg = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
        if (!cfg || !json_is_object(cfg)) {
                json_decref(cfg);
                return berr_set(e, -EBADMSG, "image %s: config %s is not a JSON object", ref, u->config);
        }
        memcpy(chain, u->layers[u->n_layers - 1].chain_id, DIGEST_STR_LEN + 1);
        *ret_config = cfg;
        return 0;
}

static int version_load(struct workload_engine *eng, const char *bundle, int64_t version, struct wl_version **ret,
                        berr *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = db_get_manifest(eng->db, bundle, version, &buf, &len);
        if (r < 0)
                return berr_set(e, r, "bundle %s version %lld is not imported on this node", bundle,
                                (long long)version);
        _cleanup_(bundle_manifest_freep) struct bundle_manifest *m = NULL;
        r = bundle_manifest_parse(buf, len, &m, e);
        if (r < 0)
                return r;
        struct wl_version *v = calloc(1, sizeof *v);
        if (!v)
                return -ENOMEM;
        v->version = version;
        r = workload_set_from_manifest(m, &v->set, e);
        if (r >= 0) {
                v->inst = calloc(v->set->n + 1, sizeof *v->inst);
                if (!v->inst)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < v->set->n; i++) {
                struct wl_instance *in = &v->inst[i];
                snprintf(in->bundle, sizeof in->bundle, "%s", bundle);
                in->version = version;
                in->spec = &v->set->w[i];
                r = image_info(eng, m, in->spec->image, &in->image_config, in->chain_id, e);
                if (r < 0)
                        r = berr_prefix(e, r, "workload %s", in->spec->name);
                runner_init(&eng->rc, in);
        }
        if (r < 0) {
                version_free(v);
                return berr_prefix(e, r, "bundle %s version %lld", bundle, (long long)version);
        }
        *ret = v;
        return 0;
}

/* ---- bundles ------------------------------------------------------------------------ */

static struct wl_bundle *bundle_find(struct workload_engine *eng, const char *name)
{
        for (size_t i = 0; i < eng->n_b; i++)
                if (!strcmp(eng->b[i].name, name))
                        return &eng->b[i];
        return NULL;
}

static struct wl_bundle *bundle_get(struct workload_engine *eng, const char *name)
{
        struct wl_bundle *b = bundle_find(eng, name);
        if (b)
                return b;
        struct wl_bundle *nb = realloc(eng->b, (eng->n_b + 1) * sizeof *nb);
        if (!nb)
                return NULL;
        eng->b = nb;
        b = &eng->b[eng->n_b++];
        memset(b, 0, sizeof *b);
        snprintf(b->name, sizeof b->name, "%s", name);
        b->rollback_s = -1;
        return b;
}

static void note(struct wl_bundle *b, const berr *e, int r)
{
        snprintf(b->error, sizeof b->error, "%s", berr_msg(e, r));
}

/* ---- sets --------------------------------------------------------------------------- */

static int set_start(struct workload_engine *eng, struct wl_version *v, char *why, size_t why_n, berr *e)
{
        for (size_t k = 0; k < v->set->n; k++) {
                struct wl_instance *in = &v->inst[v->set->order[k]];
                int r = runner_start(&eng->rc, in, NULL, e);
                if (r < 0) {
                        if (why)
                                snprintf(why, why_n, "workload %s did not start: %s", in->spec->name, berr_msg(e, r));
                        return r;
                }
        }
        return 0;
}

static int set_stop(struct workload_engine *eng, struct wl_version *v, berr *e)
{
        for (size_t k = v->set->n; k > 0; k--) {
                int r = runner_stop(&eng->rc, &v->inst[v->set->order[k - 1]], e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Stops the tasks of every container of the bundle whose version is not in keep
 * (a crash may have left a set half switched). */
static int stop_others(struct workload_engine *eng, const char *bundle, const int64_t *keep, size_t n_keep, berr *e)
{
        char filter[300];
        snprintf(filter, sizeof filter, "labels.\"" WL_LABEL_BUNDLE "\"==\"%s\"", bundle);
        const char *f = filter;
        struct ctrd_container *list = NULL;
        size_t n = 0;
        int r = ctrd_container_list(eng->rc.c, &f, 1, &list, &n, e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *vs = ctrd_container_label(&list[i], WL_LABEL_VERSION);
                int64_t v = vs ? strtoll(vs, NULL, 10) : -1;
                bool kept = false;
                for (size_t k = 0; k < n_keep; k++)
                        kept |= keep[k] == v;
                if (kept)
                        continue;
                struct workload_spec dummy = {.name = list[i].id, .stop_signal = 9, .stop_grace_ms = 0};
                struct wl_instance tmp = {.spec = &dummy};
                snprintf(tmp.id, sizeof tmp.id, "%s", list[i].id);
                r = runner_stop(&eng->rc, &tmp, e);
        }
        ctrd_container_list_free(list, n);
        return r;
}

static bool set_all_healthy(const struct wl_version *v)
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
        int ok = runner_probe(&eng->rc, in);
        in->next_probe_ms = mono_ms() + p->period_ms;
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

/* Watches a set: exits (restarted per policy when restart is true), logs, probes. */
static void supervise(struct workload_engine *eng, struct wl_bundle *b, struct wl_version *v, bool restart,
                      uint64_t now)
{
        for (size_t k = 0; v && k < v->set->n; k++) {
                struct wl_instance *in = &v->inst[v->set->order[k]];
                const struct workload_spec *w = in->spec;
                berr e = {0};
                if (in->running) {
                        int code = 0;
                        bool oom = false;
                        int r = eng->poll_now ? runner_poll(&eng->rc, in, &code, &oom, &e) : 0;
                        if (r == -ENOENT) {
                                /* The task vanished (containerd restarted): count it as a crash. */
                                in->running = false;
                                code = 255;
                                r = 1;
                        }
                        if (r < 0) {
                                note(b, &e, r);
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
                        runner_rotate_logs(&eng->rc, in);
                        probe_due(eng, in, now);
                        continue;
                }
                if (!restart || in->given_up || now < in->restart_at_ms)
                        continue;
                int r = runner_start(&eng->rc, in, NULL, &e);
                if (r < 0) {
                        note(b, &e, r);
                        in->backoff_ms = in->backoff_ms ? in->backoff_ms * 2 : w->backoff_ms;
                        if (in->backoff_ms > w->max_backoff_ms)
                                in->backoff_ms = w->max_backoff_ms;
                        in->restart_at_ms = now + in->backoff_ms;
                }
        }
}

/* ---- garbage collection ------------------------------------------------------------- */

struct gc_ctx {
        struct workload_engine *eng;
        struct wl_bundle *b;
        int64_t *versions;
        size_t n;
};

static int gc_collect_version(void *ud, int64_t v)
{
        struct gc_ctx *g = ud;
        int64_t *nv = realloc(g->versions, (g->n + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        g->versions = nv;
        g->versions[g->n++] = v;
        return 0;
}

static void gc_item(void *ud, const char *kind, const char *a, const char *b_)
{
        struct gc_ctx *g = ud;
        berr e = {0};
        if (!strcmp(kind, "blob")) {
                (void)content_remove(g->eng->cs, a);
                return;
        }
        /* An image record is removed only while it still points at the forgotten
         * version's digest (a newer version may have re-pointed the same name). */
        struct ctrd_image_target t;
        if (ctrd_image_get(g->eng->rc.c, a, &t, NULL) == 0 && !strcmp(t.digest, b_)) {
                int r = ctrd_image_delete(g->eng->rc.c, a, true, &e);
                if (r < 0)
                        note(g->b, &e, r);
        }
}

/* Keeps current, previous and the versions of an unfinished update; removes the
 * containers of every other version, and forgets versions older than current. */
static void gc_bundle(struct workload_engine *eng, struct wl_bundle *b)
{
        int64_t keep[4] = {b->current, b->previous, b->has_upd ? b->upd.from_version : 0,
                           b->has_upd ? b->upd.to_version : 0};
        berr e = {0};
        char filter[300];
        snprintf(filter, sizeof filter, "labels.\"" WL_LABEL_BUNDLE "\"==\"%s\"", b->name);
        const char *f = filter;
        struct ctrd_container *list = NULL;
        size_t n = 0;
        int r = ctrd_container_list(eng->rc.c, &f, 1, &list, &n, &e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *vs = ctrd_container_label(&list[i], WL_LABEL_VERSION);
                int64_t v = vs ? strtoll(vs, NULL, 10) : -1;
                if (v == keep[0] || v == keep[1] || v == keep[2] || v == keep[3])
                        continue;
                r = runner_remove_id(&eng->rc, list[i].id, &e);
        }
        ctrd_container_list_free(list, n);
        if (r < 0)
                note(b, &e, r);

        struct gc_ctx g = {.eng = eng, .b = b};
        if (wstate_list_versions(eng->db, b->name, gc_collect_version, &g) >= 0)
                for (size_t i = 0; i < g.n; i++) {
                        int64_t v = g.versions[i];
                        if (v >= b->current || v == keep[1] || v == keep[2] || v == keep[3])
                                continue;
                        berr e2 = {0};
                        r = wstate_forget_version(eng->db, b->name, v, gc_item, &g, &e2);
                        if (r < 0)
                                note(b, &e2, r);
                }
        free(g.versions);
}

/* ---- the update state machine ------------------------------------------------------- */

static int persist(struct workload_engine *eng, struct wl_bundle *b, enum wstate_state s, int64_t probe_until,
                   const char *evidence, berr *e)
{
        return wstate_set(eng->db, &b->upd, s, probe_until, evidence, wall_ms(), e);
}

static int do_rollback(struct workload_engine *eng, struct wl_bundle *b, berr *e);

static int begin_rollback(struct workload_engine *eng, struct wl_bundle *b, const char *evidence, berr *e)
{
        if (!b->fail_ms)
                b->fail_ms = mono_ms();
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
                r = set_stop(eng, b->next, e);
        else {
                int64_t keep[] = {b->upd.from_version};
                r = stop_others(eng, b->name, keep, 1, e);
        }
        if (r < 0)
                return berr_prefix(e, r, "rolling back %s: stopping version %lld", b->name,
                                   (long long)b->upd.to_version);
        FAULT_POINT("rollback.after_stop_new");
        char why[600] = "";
        if (b->upd.from_version) {
                if (!b->cur) {
                        r = version_load(eng, b->name, b->upd.from_version, &b->cur, e);
                        if (r < 0)
                                return r;
                }
                berr se = {0};
                if (set_start(eng, b->cur, why, sizeof why, &se) < 0)
                        note(b, &se, -EIO); /* supervision retries with backoff */
        }
        char ev[2048];
        int n = snprintf(ev, sizeof ev, "%s%s%s", b->upd.evidence, why[0] ? "; then " : "", why);
        if (n > 1000)
                ev[1000] = 0; /* the DB field is bounded */
        r = persist(eng, b, WSTATE_ROLLED_BACK, 0, ev, e);
        if (r < 0)
                return r;
        version_free(b->next);
        b->next = NULL;
        b->has_upd = false;
        b->await_old_healthy = b->upd.from_version != 0;
        if (b->cur)
                for (size_t i = 0; i < b->cur->set->n; i++)
                        b->cur->inst[i].next_probe_ms = 0; /* probe the old set at once */
        gc_bundle(eng, b);
        return 0;
}

static int do_switch(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        int r;
        if (!b->next) {
                char why[700];
                berr le = {0};
                r = version_load(eng, b->name, b->upd.to_version, &b->next, &le);
                if (r < 0) {
                        snprintf(why, sizeof why, "cannot load version %lld: %s", (long long)b->upd.to_version,
                                 berr_msg(&le, r));
                        return begin_rollback(eng, b, why, e);
                }
        }
        /* Old set down first (reverse start order); also anything a crash left running. */
        if (b->cur && b->cur->version != b->upd.to_version) {
                r = set_stop(eng, b->cur, e);
                if (r < 0)
                        return berr_prefix(e, r, "switching %s: stopping version %lld", b->name,
                                           (long long)b->cur->version);
        }
        int64_t keep[] = {b->upd.to_version};
        r = stop_others(eng, b->name, keep, 1, e);
        if (r < 0)
                return r;
        FAULT_POINT("switch.after_stop_old");
        char why[700];
        berr se = {0};
        r = set_start(eng, b->next, why, sizeof why, &se);
        if (r < 0)
                return begin_rollback(eng, b, why, e);
        FAULT_POINT("switch.after_start_new");
        r = persist(eng, b, WSTATE_PROBING, wall_ms() + (int64_t)b->next->set->soak_ms, NULL, e);
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
        int r = wstate_commit(eng->db, &b->upd, ev, wall_ms(), e);
        if (r < 0)
                return r;
        FAULT_POINT("commit.after");
        b->previous = b->upd.from_version;
        b->current = b->upd.to_version;
        version_free(b->cur);
        b->cur = TAKE_PTR(b->next);
        b->has_upd = false;
        gc_bundle(eng, b);
        return 0;
}

static int step_probing(struct workload_engine *eng, struct wl_bundle *b, uint64_t now, berr *e)
{
        struct wl_version *v = b->next;
        supervise(eng, b, v, false, now);
        for (size_t i = 0; i < v->set->n; i++) {
                struct wl_instance *in = &v->inst[i];
                char ev[1024];
                if (!in->running && in->last_exit >= 0) {
                        snprintf(ev, sizeof ev, "workload %s of version %lld exited with status %d%s during the soak "
                                 "time", in->spec->name, (long long)v->version, in->last_exit,
                                 in->last_oom ? " (killed: out of memory)" : "");
                        return begin_rollback(eng, b, ev, e);
                }
                if (in->spec->probe.kind != WL_PROBE_NONE && in->fail_streak >= in->spec->probe.failure_threshold) {
                        snprintf(ev, sizeof ev, "workload %s of version %lld: %s probe failed %u times in a row: %s",
                                 in->spec->name, (long long)v->version, wl_probe_name(in->spec->probe.kind),
                                 in->fail_streak, in->last_probe);
                        return begin_rollback(eng, b, ev, e);
                }
        }
        if (wall_ms() < b->upd.probe_until_ms)
                return 0;
        if (set_all_healthy(v))
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
                        return begin_rollback(eng, b, ev, e);
                }
        return 0;
}

static int step_bundle(struct workload_engine *eng, struct wl_bundle *b, uint64_t now, berr *e)
{
        if (!b->has_upd) {
                supervise(eng, b, b->cur, true, now);
                if (b->await_old_healthy && set_all_healthy(b->cur)) {
                        b->await_old_healthy = false;
                        b->rollback_s = b->fail_ms ? (double)(mono_ms() - b->fail_ms) / 1000.0 : -1;
                }
                return 0;
        }
        switch (b->upd.state) {
        case WSTATE_STAGED:
                supervise(eng, b, b->cur, true, now);
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
                        int r = version_load(eng, b->name, b->upd.to_version, &b->next, e);
                        if (r < 0)
                                return begin_rollback(eng, b, berr_msg(e, r), e);
                }
                return step_probing(eng, b, now, e);
        case WSTATE_ROLLING_BACK:
                return do_rollback(eng, b, e);
        default:
                b->has_upd = false;
                return 0;
        }
}

/* ---- public API --------------------------------------------------------------------- */

int workload_engine_new(const struct workload_engine_opts *o, const struct berth_config *cfg, struct berth_db *db,
                        struct content_store *cs, struct ctrd *ctrd, struct workload_engine **ret, berr *e)
{
        struct workload_engine *eng = calloc(1, sizeof *eng);
        if (!eng)
                return -ENOMEM;
        eng->db = db;
        eng->cs = cs;
        const char *dd = o && o->data_dir ? o->data_dir : config_get(cfg, "workloads.data_dir", WL_DEFAULT_DATA_DIR);
        eng->data_dir = strdup(dd);
        const char *ld = o && o->log_dir ? o->log_dir : config_get(cfg, "workloads.log_dir", NULL);
        eng->log_dir = ld ? strdup(ld) : path_join(o && o->state_dir ? o->state_dir : "/var/lib/berth", "logs");
        if (!eng->data_dir || !eng->log_dir) {
                workload_engine_free(eng);
                return -ENOMEM;
        }
        uint64_t max = 0, keep = 0, sup = 0, logc = 0;
        int r = config_get_u64(cfg, "workloads.log_max_bytes", WL_DEFAULT_LOG_MAX, &max, e);
        if (r >= 0)
                r = config_get_u64(cfg, "workloads.log_check_ms", 1000, &logc, e);
        if (r >= 0)
                r = config_get_u64(cfg, "workloads.log_keep", WL_DEFAULT_LOG_KEEP, &keep, e);
        if (r >= 0)
                r = config_get_u64(cfg, "workloads.supervise_ms", 500, &sup, e);
        if (r < 0) {
                workload_engine_free(eng);
                return r;
        }
        eng->rc = (struct runner_ctx) {
                .c = ctrd,
                .data_dir = eng->data_dir,
                .log_dir = eng->log_dir,
                .log_max_bytes = o && o->log_max_bytes ? o->log_max_bytes : max,
                .log_keep = o && o->log_keep ? o->log_keep : (unsigned)(keep > 100 ? 100 : keep),
                .note = o ? o->note : NULL,
        };
        eng->supervise_ms = o && o->supervise_ms ? o->supervise_ms : (sup < 50 ? 50 : sup);
        eng->log_check_ms = logc < 50 ? 50 : logc;
        *ret = eng;
        return 0;
}

void workload_engine_free(struct workload_engine *eng)
{
        if (!eng)
                return;
        if (eng->watching) {
                __atomic_store_n(&eng->cancel, 1, __ATOMIC_RELEASE);
                pthread_join(eng->thread, NULL);
                close(eng->evfd[0]);
                close(eng->evfd[1]);
        }
        for (size_t i = 0; i < eng->n_b; i++) {
                version_free(eng->b[i].cur);
                version_free(eng->b[i].next);
        }
        free(eng->b);
        free(eng->data_dir);
        free(eng->log_dir);
        free(eng);
}

static int load_bundle(void *ud, const char *name)
{
        struct workload_engine *eng = ud;
        struct wl_bundle *b = bundle_get(eng, name);
        if (!b)
                return -ENOMEM;
        (void)wstate_current(eng->db, name, &b->current, &b->previous);
        b->has_upd = wstate_latest(eng->db, name, true, &b->upd) > 0;
        return 0;
}

/* Brings one bundle back to what its persisted state says should run. */
static int converge_bundle(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        int r;
        if (b->current && !b->cur) {
                r = version_load(eng, b->name, b->current, &b->cur, e);
                if (r < 0)
                        return r;
        }
        if (b->has_upd && b->upd.state != WSTATE_STAGED)
                /* switching / probing / rolling_back: the first tick redoes the state;
                 * probing needs its set adopted first. */
                if (b->upd.state == WSTATE_PROBING) {
                        r = version_load(eng, b->name, b->upd.to_version, &b->next, e);
                        if (r < 0)
                                return begin_rollback(eng, b, berr_msg(e, r), e);
                        int64_t keep[] = {b->upd.to_version};
                        r = stop_others(eng, b->name, keep, 1, e);
                        if (r < 0)
                                return r;
                        for (size_t k = 0; k < b->next->set->n; k++) {
                                struct wl_instance *in = &b->next->inst[b->next->set->order[k]];
                                int code;
                                bool oom;
                                r = runner_poll(&eng->rc, in, &code, &oom, NULL);
                                if (r > 0) {
                                        /* It died while the agent was away: that is a failure. */
                                        in->last_exit = code;
                                        in->last_oom = oom;
                                        continue;
                                }
                                r = runner_start(&eng->rc, in, NULL, e);
                                if (r < 0)
                                        return begin_rollback(eng, b, berr_msg(e, r), e);
                        }
                        return 0;
                }
        if (b->has_upd && b->upd.state != WSTATE_STAGED)
                return 0;
        /* Steady (or staged): only the committed version runs; adopt it. */
        int64_t keep[] = {b->current};
        r = stop_others(eng, b->name, keep, 1, e);
        if (r < 0)
                return r;
        if (b->cur)
                for (size_t k = 0; k < b->cur->set->n; k++) {
                        struct wl_instance *in = &b->cur->inst[b->cur->set->order[k]];
                        int code;
                        bool oom;
                        r = runner_poll(&eng->rc, in, &code, &oom, NULL);
                        if (r > 0) {
                                in->last_exit = code;
                                in->last_oom = oom;
                                in->given_up = in->spec->restart == WL_RESTART_NEVER ||
                                               (in->spec->restart == WL_RESTART_ON_FAILURE && code == 0 && !oom);
                                if (in->given_up)
                                        continue;
                        }
                        berr se = {0};
                        r = runner_start(&eng->rc, in, NULL, &se);
                        if (r < 0)
                                note(b, &se, r);
                }
        if (!b->has_upd)
                gc_bundle(eng, b);
        return 0;
}

int workload_engine_start(struct workload_engine *eng, berr *e)
{
        int r = wstate_list_bundles(eng->db, load_bundle, eng);
        if (r < 0)
                return berr_set(e, r, "cannot read the workload state from the database");
        for (size_t i = 0; i < eng->n_b; i++) {
                berr be = {0};
                r = converge_bundle(eng, &eng->b[i], &be);
                if (r < 0)
                        note(&eng->b[i], &be, r);
        }
        eng->started = true;
        return 0;
}

int workload_engine_tick(struct workload_engine *eng, uint64_t *ret_next_ms, berr *e)
{
        bool event = false;
        if (eng->watching) {
                char buf[256];
                while (read(eng->evfd[0], buf, sizeof buf) > 0)
                        event = true;
        }
        /* Tasks are asked about (Tasks.Get) on a containerd event, and periodically:
         * every supervise_ms without events, every 10 × supervise_ms with them (a
         * safety net). Logs, probes and restarts due are handled every round, and a
         * round comes at least every log_check_ms (a log size check is a stat()). */
        uint64_t now = mono_ms(), next = now + (eng->supervise_ms < eng->log_check_ms ? eng->supervise_ms
                                                                                    : eng->log_check_ms);
        eng->poll_now = !eng->watching || event || now >= eng->next_poll_ms;
        if (eng->poll_now)
                eng->next_poll_ms = now + (eng->watching ? 10 * eng->supervise_ms : eng->supervise_ms);
        for (size_t i = 0; i < eng->n_b; i++) {
                struct wl_bundle *b = &eng->b[i];
                berr be = {0};
                int r = step_bundle(eng, b, now, &be);
                if (r == -EIO && strstr(berr_msg(&be, r), "database")) {
                        if (e)
                                *e = be;
                        return r;
                }
                if (r < 0)
                        note(b, &be, r);
                struct wl_version *vs[] = {b->cur, b->next};
                for (size_t k = 0; k < 2; k++)
                        for (size_t j = 0; vs[k] && j < vs[k]->set->n; j++) {
                                const struct wl_instance *in = &vs[k]->inst[j];
                                if (in->running && in->spec->probe.kind != WL_PROBE_NONE && in->next_probe_ms < next)
                                        next = in->next_probe_ms > now ? in->next_probe_ms : now;
                                if (!in->running && !in->given_up && in->restart_at_ms && in->restart_at_ms < next)
                                        next = in->restart_at_ms > now ? in->restart_at_ms : now;
                        }
        }
        if (ret_next_ms)
                *ret_next_ms = next;
        return 0;
}

/* Loads the target version's specs, persists the transition (its first state, before
 * any side effect) and arms the bundle for the ticks that carry it out. */
static int begin_transition(struct workload_engine *eng, struct wl_bundle *b, const char *bundle, int64_t to,
                            const char *kind, bool proceed, berr *e)
{
        struct wl_version *v = NULL;
        int r = version_load(eng, bundle, to, &v, e);
        if (r < 0)
                return r;
        r = wstate_begin(eng->db, bundle, b->current, to, kind, wall_ms(), &b->upd, e);
        if (r < 0) {
                version_free(v);
                return r;
        }
        version_free(b->next);
        b->next = v;
        b->has_upd = true;
        b->proceed = proceed;
        b->fail_ms = 0;
        b->rollback_s = -1;
        return 0;
}

int workload_update_start(struct workload_engine *eng, const char *bundle, int64_t version, bool proceed, berr *e)
{
        int r;
        if (!eng->started && (r = workload_engine_start(eng, e)) < 0)
                return r;
        struct wl_bundle *b = bundle_get(eng, bundle);
        if (!b)
                return -ENOMEM;
        if (b->has_upd)
                return berr_set(e, -EBUSY, "bundle %s: an update to version %lld is %s; wait for it to finish",
                                bundle, (long long)b->upd.to_version, wstate_name(b->upd.state));
        if (version == b->current)
                return berr_set(e, -EALREADY, "bundle %s version %lld is already the running version", bundle,
                                (long long)version);
        if (version < b->current)
                return berr_set(e, -ERANGE, "bundle %s: version %lld is older than the running version %lld; use "
                                "'berth rollback' to return to the previous version", bundle, (long long)version,
                                (long long)b->current);
        r = begin_transition(eng, b, bundle, version, "update", proceed, e);
        if (r >= 0)
                b->error[0] = 0;
        return r;
}

int workload_update_proceed(struct workload_engine *eng, const char *bundle, berr *e)
{
        struct wl_bundle *b = bundle_find(eng, bundle);
        if (!b || !b->has_upd)
                return berr_set(e, -ENOENT, "bundle %s has no staged update", bundle);
        b->proceed = true;
        return 0;
}

int workload_rollback(struct workload_engine *eng, const char *bundle, bool proceed, berr *e)
{
        int r;
        if (!eng->started && (r = workload_engine_start(eng, e)) < 0)
                return r;
        struct wl_bundle *b = bundle_get(eng, bundle);
        if (!b)
                return -ENOMEM;
        if (b->has_upd)
                return berr_set(e, -EBUSY, "bundle %s: an update to version %lld is %s; wait for it to finish",
                                bundle, (long long)b->upd.to_version, wstate_name(b->upd.state));
        if (!b->current || !b->previous)
                return berr_set(e, -ENOENT, "bundle %s has no previous committed version to return to", bundle);
        return begin_transition(eng, b, bundle, b->previous, "rollback", proceed, e);
}

int workload_update_abandon(struct workload_engine *eng, const char *bundle, const char *why, berr *e)
{
        struct wl_bundle *b = bundle_find(eng, bundle);
        if (!b || !b->has_upd)
                return 0;
        if (b->upd.state != WSTATE_STAGED)
                return berr_set(e, -EBUSY, "bundle %s: the update to version %lld is already %s", bundle,
                                (long long)b->upd.to_version, wstate_name(b->upd.state));
        /* Nothing was switched: the committed version still runs, as after a rollback. */
        int r = wstate_set(eng->db, &b->upd, WSTATE_ROLLED_BACK, 0, why, wall_ms(), e);
        if (r < 0)
                return r;
        version_free(b->next);
        b->next = NULL;
        b->has_upd = false;
        b->proceed = false;
        return 1;
}

bool workload_update_busy(struct workload_engine *eng, const char *bundle)
{
        struct wl_bundle *b = bundle_find(eng, bundle);
        return b && b->has_upd;
}

static void sleep_until(uint64_t t)
{
        uint64_t now = mono_ms();
        if (t <= now)
                return;
        uint64_t d = t - now;
        struct timespec ts = {.tv_sec = (time_t)(d / 1000), .tv_nsec = (long)(d % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int workload_engine_wait(struct workload_engine *eng, uint64_t until_ms)
{
        if (!eng->watching) {
                sleep_until(until_ms);
                return 0;
        }
        uint64_t now = mono_ms();
        struct pollfd p = {.fd = eng->evfd[0], .events = POLLIN};
        int k = poll(&p, 1, until_ms > now ? (int)(until_ms - now) : 0);
        return k > 0 ? 1 : k < 0 && errno != EINTR ? -errno : 0;
}

static int on_event(void *ud, const struct ctrd_event *ev)
{
        struct workload_engine *eng = ud;
        (void)ev;
        ssize_t k = write(eng->evfd[1], "e", 1); /* a full pipe already wakes the engine */
        (void)k;
        return __atomic_load_n(&eng->cancel, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static void *event_thread(void *ud)
{
        struct workload_engine *eng = ud;
        char f_exit[300], f_oom[300];
        const char *ns = ctrd_namespace(eng->rc.c);
        snprintf(f_exit, sizeof f_exit, "topic==\"/tasks/exit\",namespace==\"%s\"", ns);
        snprintf(f_oom, sizeof f_oom, "topic==\"/tasks/oom\",namespace==\"%s\"", ns);
        const char *filters[] = {f_exit, f_oom};
        while (!__atomic_load_n(&eng->cancel, __ATOMIC_ACQUIRE)) {
                /* A connection of its own: gRPC clients are one per thread. */
                struct ctrd *c = NULL;
                berr e = {0};
                int r = ctrd_new(ctrd_address(eng->rc.c), ns, ctrd_snapshotter(eng->rc.c), &c, &e);
                if (r >= 0) {
                        /* Wake the engine once: events may have been missed while
                         * (re)subscribing. */
                        ssize_t k = write(eng->evfd[1], "s", 1);
                        (void)k;
                        r = ctrd_events_subscribe_cancellable(c, filters, ELEMENTSOF(filters), &eng->cancel,
                                                              on_event, eng, &e);
                }
                ctrd_free(c);
                for (int i = 0; i < 10 && !__atomic_load_n(&eng->cancel, __ATOMIC_ACQUIRE); i++)
                        sleep_until(mono_ms() + 100); /* containerd gone: retry in a second */
        }
        return NULL;
}

int workload_engine_watch_events(struct workload_engine *eng, berr *e)
{
        if (eng->watching)
                return 0;
        if (pipe2(eng->evfd, O_CLOEXEC | O_NONBLOCK) < 0)
                return berr_set(e, -errno, "cannot create the event pipe: %m");
        eng->cancel = 0;
        int r = pthread_create(&eng->thread, NULL, event_thread, eng);
        if (r != 0) {
                close(eng->evfd[0]);
                close(eng->evfd[1]);
                return berr_set(e, -r, "cannot start the containerd event thread: %s", strerror(r));
        }
        eng->watching = true;
        return 0;
}

int workload_engine_event_fd(const struct workload_engine *eng)
{
        return eng->watching ? eng->evfd[0] : -1;
}

/* Ticks until b's update is finished. A state that makes no progress for 5 minutes
 * (containerd unreachable, say) ends the wait with -ETIMEDOUT; the state stays
 * persisted and the next run resumes it. */
static int run_ticks(struct workload_engine *eng, struct wl_bundle *b, berr *e)
{
        enum wstate_state last = b->upd.state;
        uint64_t since = mono_ms();
        while (b->has_upd) {
                uint64_t next;
                int r = workload_engine_tick(eng, &next, e);
                if (r < 0)
                        return r;
                if (!b->has_upd)
                        break;
                if (b->upd.state != last) {
                        last = b->upd.state;
                        since = mono_ms();
                } else if (b->error[0] && b->upd.state != WSTATE_PROBING && mono_ms() - since > 300000)
                        return berr_set(e, -ETIMEDOUT, "bundle %s: the update to version %lld is stuck in state %s: "
                                        "%s; it stays recorded and the next 'berth activate' resumes it", b->name,
                                        (long long)b->upd.to_version, wstate_name(b->upd.state), b->error);
                if (b->error[0] && b->upd.state != WSTATE_PROBING)
                        sleep_until(mono_ms() + 500); /* containerd trouble: retry calmly */
                (void)workload_engine_wait(eng, next);
        }
        return 0;
}

int workload_update_run(struct workload_engine *eng, const char *bundle, int64_t version, bool rollback,
                        struct workload_update_report *ret, berr *e)
{
        int r;
        if (!eng->started && (r = workload_engine_start(eng, e)) < 0)
                return r;
        struct wl_bundle *b = bundle_get(eng, bundle);
        if (!b)
                return -ENOMEM;
        if (b->has_upd) {
                /* An interrupted update: resume it when it is the one asked for. */
                bool same = rollback ? !strcmp(b->upd.kind, "rollback") : b->upd.to_version == version;
                if (!same)
                        return berr_set(e, -EBUSY, "bundle %s: an update to version %lld is %s; run 'berth activate "
                                        "%s %lld' to finish it first", bundle, (long long)b->upd.to_version,
                                        wstate_name(b->upd.state), bundle, (long long)b->upd.to_version);
                b->proceed = true;
        } else if (rollback) {
                if ((r = workload_rollback(eng, bundle, true, e)) < 0)
                        return r;
        } else if ((r = workload_update_start(eng, bundle, version, true, e)) < 0)
                return r;

        int64_t id = b->upd.id;
        r = run_ticks(eng, b, e);
        if (r < 0)
                return r;
        struct wstate_update last;
        if (wstate_latest(eng->db, bundle, false, &last) <= 0 || last.id != id)
                return berr_set(e, -EIO, "bundle %s: the update record vanished", bundle);
        /* After a rollback: wait (bounded) for the previous version to pass its probes. */
        uint64_t deadline = mono_ms() + 120000;
        while (b->await_old_healthy && mono_ms() < deadline) {
                uint64_t next;
                r = workload_engine_tick(eng, &next, e);
                if (r < 0)
                        return r;
                if (b->await_old_healthy)
                        (void)workload_engine_wait(eng, next);
        }
        if (ret) {
                *ret = (struct workload_update_report) {
                        .state = last.state,
                        .from_version = last.from_version,
                        .to_version = last.to_version,
                        .rollback_s = b->rollback_s,
                };
                snprintf(ret->evidence, sizeof ret->evidence, "%s", last.evidence);
        }
        return 0;
}

int workload_engine_settle(struct workload_engine *eng, berr *e)
{
        int r;
        if (!eng->started && (r = workload_engine_start(eng, e)) < 0)
                return r;
        for (size_t i = 0; i < eng->n_b; i++) {
                eng->b[i].proceed = eng->b[i].proceed || eng->b[i].upd.state != WSTATE_STAGED;
                if (eng->b[i].has_upd && eng->b[i].upd.state != WSTATE_STAGED &&
                    (r = run_ticks(eng, &eng->b[i], e)) < 0)
                        return r;
        }
        return 0;
}

static json_t *instance_json(struct workload_engine *eng, struct wl_instance *in)
{
        const char *state;
        if (!eng->started) {
                /* Read-only view (berth status without a daemon): ask containerd. */
                struct ctrd_task_info ti;
                int r = ctrd_task_get(eng->rc.c, in->id, NULL, &ti, NULL);
                in->running = r == 0 && ti.status == CTRD_TASK_RUNNING;
                in->pid = in->running ? ti.pid : 0;
                if (in->running)
                        in->healthy = runner_probe(&eng->rc, in) > 0;
                state = in->running ? "running" : r == 0 ? "stopped" : "not created";
        } else
                state = in->running ? "running" : in->given_up ? "exited" : "restarting";
        json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:I,s:I,s:b,s:s,s:s}", "name", in->spec->name, "version",
                              (json_int_t)in->version, "container", in->id, "state", state, "pid",
                              (json_int_t)in->pid, "restarts", (json_int_t)in->restarts, "healthy", in->healthy,
                              "probe", wl_probe_name(in->spec->probe.kind), "lastProbe", in->last_probe);
        if (o && eng->started) {
                json_object_set_new(o, "probesOk", json_integer((json_int_t)in->probes_ok));
                json_object_set_new(o, "probesFailed", json_integer((json_int_t)in->probes_failed));
        }
        if (o && in->last_exit >= 0) {
                json_object_set_new(o, "lastExit", json_integer(in->last_exit));
                json_object_set_new(o, "oomKilled", json_boolean(in->last_oom));
        }
        return o;
}

json_t *workload_engine_status(struct workload_engine *eng)
{
        if (!eng->started && eng->n_b == 0) {
                (void)wstate_list_bundles(eng->db, load_bundle, eng);
                for (size_t i = 0; i < eng->n_b; i++) {
                        struct wl_bundle *b = &eng->b[i];
                        berr e = {0};
                        int64_t v = b->has_upd && (b->upd.state == WSTATE_PROBING || b->upd.state == WSTATE_SWITCHING)
                                            ? b->upd.to_version
                                            : b->current;
                        if (v && version_load(eng, b->name, v, &b->cur, &e) < 0)
                                note(b, &e, -EIO);
                }
        }
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < eng->n_b; i++) {
                struct wl_bundle *b = &eng->b[i];
                struct wstate_update last;
                json_t *o = json_pack("{s:s,s:I,s:I}", "bundle", b->name, "current", (json_int_t)b->current,
                                      "previous", (json_int_t)b->previous);
                if (!o)
                        continue;
                if (wstate_latest(eng->db, b->name, false, &last) > 0)
                        json_object_set_new(o, "lastUpdate",
                                            json_pack("{s:s,s:I,s:I,s:s,s:s}", "kind", last.kind, "from",
                                                      (json_int_t)last.from_version, "to",
                                                      (json_int_t)last.to_version, "state", wstate_name(last.state),
                                                      "evidence", last.evidence));
                if (b->rollback_s >= 0)
                        json_object_set_new(o, "rollbackSeconds", json_real(b->rollback_s));
                if (b->error[0])
                        json_object_set_new(o, "error", json_string(b->error));
                json_t *ws = json_array();
                struct wl_version *v = b->has_upd && b->next && b->upd.state >= WSTATE_SWITCHING ? b->next : b->cur;
                for (size_t k = 0; v && k < v->set->n; k++)
                        json_array_append_new(ws, instance_json(eng, &v->inst[v->set->order[k]]));
                json_object_set_new(o, "workloads", ws);
                json_array_append_new(arr, o);
        }
        return arr;
}
