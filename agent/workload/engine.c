/* SPDX-License-Identifier: Apache-2.0 */
/* engine.c — the workload engine's lifecycle and public calls (engine.h): versions and
 * bundles in memory, converging after a start, ticks, containerd events, the blocking
 * runs of the CLI, status. The parts are listed in engine_int.h; the crash-safety
 * rules are engine_update.c's.
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
#include "base/fs.h"
#include "bundle/manifest.h"
#include "containerd/events.h"
#include "workload/engine_int.h"
#include "workload/spec.h"

/* ---- versions ----------------------------------------------------------------------- */

void eng_version_free(struct wl_version *v)
{
        if (!v)
                return;
        for (size_t i = 0; v->set && i < v->set->n; i++)
                json_decref(v->inst[i].image_config);
        free(v->inst);
        workload_set_free(v->set);
        free(v);
}

int eng_version_load(struct workload_engine *eng, const char *bundle, int64_t version, struct wl_version **ret,
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
                in->last_exit = -1;
                r = eng->rt.ops->image(eng->rt.ud, m, in->spec->image, &in->image_config, in->chain_id, e);
                if (r < 0)
                        r = berr_prefix(e, r, "workload %s", in->spec->name);
                eng->rt.ops->init(eng->rt.ud, in);
        }
        if (r < 0) {
                eng_version_free(v);
                return berr_prefix(e, r, "bundle %s version %lld", bundle, (long long)version);
        }
        *ret = v;
        return 0;
}

/* ---- bundles ------------------------------------------------------------------------ */

struct wl_bundle *eng_bundle_find(struct workload_engine *eng, const char *name)
{
        for (size_t i = 0; i < eng->n_b; i++)
                if (!strcmp(eng->b[i].name, name))
                        return &eng->b[i];
        return NULL;
}

struct wl_bundle *eng_bundle_get(struct workload_engine *eng, const char *name)
{
        struct wl_bundle *b = eng_bundle_find(eng, name);
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

void eng_note(struct wl_bundle *b, const berr *e, int r)
{
        snprintf(b->error, sizeof b->error, "%s", berr_msg(e, r));
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
                .data_dir = eng->data_dir,
                .log_dir = eng->log_dir,
                .log_max_bytes = o && o->log_max_bytes ? o->log_max_bytes : max,
                .log_keep = o && o->log_keep ? o->log_keep : (unsigned)(keep > 100 ? 100 : keep),
                .note = o ? o->note : NULL,
                .c = ctrd,
                .cs = cs,
        };
        if (o && o->runtime)
                eng->rt = *o->runtime;
        else {
                runner_runtime(&eng->rc, &eng->rt);
                eng->ctrd = ctrd;
        }
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
                eng_version_free(eng->b[i].cur);
                eng_version_free(eng->b[i].next);
        }
        free(eng->b);
        free(eng->data_dir);
        free(eng->log_dir);
        free(eng);
}

static int load_bundle(void *ud, const char *name)
{
        struct workload_engine *eng = ud;
        struct wl_bundle *b = eng_bundle_get(eng, name);
        if (!b)
                return -ENOMEM;
        (void)wstate_current(eng->db, name, &b->current, &b->previous);
        b->has_upd = wstate_latest(eng->db, name, true, &b->upd) > 0;
        return 0;
}

int workload_engine_start(struct workload_engine *eng, berr *e)
{
        int r = wstate_list_bundles(eng->db, load_bundle, eng);
        if (r < 0)
                return berr_set(e, r, "cannot read the workload state from the database");
        for (size_t i = 0; i < eng->n_b; i++) {
                berr be = {0};
                r = eng_converge_bundle(eng, &eng->b[i], &be);
                if (r < 0)
                        eng_note(&eng->b[i], &be, r);
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
        uint64_t now = eng_mono_ms(eng), next = now + (eng->supervise_ms < eng->log_check_ms ? eng->supervise_ms
                                                                                    : eng->log_check_ms);
        eng->poll_now = !eng->watching || event || now >= eng->next_poll_ms;
        if (eng->poll_now)
                eng->next_poll_ms = now + (eng->watching ? 10 * eng->supervise_ms : eng->supervise_ms);
        for (size_t i = 0; i < eng->n_b; i++) {
                struct wl_bundle *b = &eng->b[i];
                berr be = {0};
                int r = eng_step_bundle(eng, b, now, &be);
                if (r == -EIO && strstr(berr_msg(&be, r), "database")) {
                        if (e)
                                *e = be;
                        return r;
                }
                if (r < 0)
                        eng_note(b, &be, r);
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

int workload_update_start(struct workload_engine *eng, const char *bundle, int64_t version, bool proceed, berr *e)
{
        int r;
        if (!eng->started && (r = workload_engine_start(eng, e)) < 0)
                return r;
        struct wl_bundle *b = eng_bundle_get(eng, bundle);
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
        r = eng_begin_transition(eng, b, bundle, version, "update", proceed, e);
        if (r >= 0)
                b->error[0] = 0;
        return r;
}

int workload_update_proceed(struct workload_engine *eng, const char *bundle, berr *e)
{
        struct wl_bundle *b = eng_bundle_find(eng, bundle);
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
        struct wl_bundle *b = eng_bundle_get(eng, bundle);
        if (!b)
                return -ENOMEM;
        if (b->has_upd)
                return berr_set(e, -EBUSY, "bundle %s: an update to version %lld is %s; wait for it to finish",
                                bundle, (long long)b->upd.to_version, wstate_name(b->upd.state));
        if (!b->current || !b->previous)
                return berr_set(e, -ENOENT, "bundle %s has no previous committed version to return to", bundle);
        return eng_begin_transition(eng, b, bundle, b->previous, "rollback", proceed, e);
}

int workload_update_abandon(struct workload_engine *eng, const char *bundle, const char *why, berr *e)
{
        struct wl_bundle *b = eng_bundle_find(eng, bundle);
        if (!b || !b->has_upd)
                return 0;
        if (b->upd.state != WSTATE_STAGED)
                return berr_set(e, -EBUSY, "bundle %s: the update to version %lld is already %s", bundle,
                                (long long)b->upd.to_version, wstate_name(b->upd.state));
        /* Nothing was switched: the committed version still runs, as after a rollback. */
        int r = wstate_set(eng->db, &b->upd, WSTATE_ROLLED_BACK, 0, why, eng_wall_ms(eng), e);
        if (r < 0)
                return r;
        eng_version_free(b->next);
        b->next = NULL;
        b->has_upd = false;
        b->proceed = false;
        return 1;
}

bool workload_update_busy(struct workload_engine *eng, const char *bundle)
{
        struct wl_bundle *b = eng_bundle_find(eng, bundle);
        return b && b->has_upd;
}

static void sleep_until(const struct workload_engine *eng, uint64_t t)
{
        uint64_t now = eng_mono_ms(eng);
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
                sleep_until(eng, until_ms);
                return 0;
        }
        uint64_t now = eng_mono_ms(eng);
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
        const char *ns = ctrd_namespace(eng->ctrd);
        snprintf(f_exit, sizeof f_exit, "topic==\"/tasks/exit\",namespace==\"%s\"", ns);
        snprintf(f_oom, sizeof f_oom, "topic==\"/tasks/oom\",namespace==\"%s\"", ns);
        const char *filters[] = {f_exit, f_oom};
        while (!__atomic_load_n(&eng->cancel, __ATOMIC_ACQUIRE)) {
                /* A connection of its own: gRPC clients are one per thread. */
                struct ctrd *c = NULL;
                berr e = {0};
                int r = ctrd_new(ctrd_address(eng->ctrd), ns, ctrd_snapshotter(eng->ctrd), &c, &e);
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
                        sleep_until(eng, eng_mono_ms(eng) + 100); /* containerd gone: retry in a second */
        }
        return NULL;
}

int workload_engine_watch_events(struct workload_engine *eng, berr *e)
{
        if (eng->watching)
                return 0;
        if (!eng->ctrd)
                return berr_set(e, -EOPNOTSUPP, "the workload runtime has no containerd events to watch");
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
        uint64_t since = eng_mono_ms(eng);
        while (b->has_upd) {
                uint64_t next;
                int r = workload_engine_tick(eng, &next, e);
                if (r < 0)
                        return r;
                if (!b->has_upd)
                        break;
                if (b->upd.state != last) {
                        last = b->upd.state;
                        since = eng_mono_ms(eng);
                } else if (b->error[0] && b->upd.state != WSTATE_PROBING && eng_mono_ms(eng) - since > 300000)
                        return berr_set(e, -ETIMEDOUT, "bundle %s: the update to version %lld is stuck in state %s: "
                                        "%s; it stays recorded and the next 'berth activate' resumes it", b->name,
                                        (long long)b->upd.to_version, wstate_name(b->upd.state), b->error);
                if (b->error[0] && b->upd.state != WSTATE_PROBING)
                        sleep_until(eng, eng_mono_ms(eng) + 500); /* containerd trouble: retry calmly */
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
        struct wl_bundle *b = eng_bundle_get(eng, bundle);
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
        uint64_t deadline = eng_mono_ms(eng) + 120000;
        while (b->await_old_healthy && eng_mono_ms(eng) < deadline) {
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
                /* Read-only view (berth status without a daemon): ask the runtime. */
                uint32_t pid = 0;
                int r = eng->rt.ops->peek(eng->rt.ud, in->id, &pid);
                in->running = r > 0;
                in->pid = in->running ? pid : 0;
                if (in->running)
                        in->healthy = eng->rt.ops->probe(eng->rt.ud, in) > 0;
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
                        if (v && eng_version_load(eng, b->name, v, &b->cur, &e) < 0)
                                eng_note(b, &e, -EIO);
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
