/* SPDX-License-Identifier: Apache-2.0 */
/* rollout.c — the rollout engine and operator commands (see rollout.h).
 *
 * Group assignment: matching targets sorted by sha256(controllerId), cut at the
 * cumulative percentages (ceil). A group advances when ≥ success_threshold % of its
 * targets succeeded and soak seconds passed since; the rollout pauses itself when more
 * than error_threshold % failed (failures acknowledged by a resume are not counted again).
 * Targets whose action was canceled (by an operator, or superseded) can neither succeed
 * nor fail: the percentages are of the others, and a group of canceled targets is done.
 */
#include "server-stub/rollout/rollout.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "server-stub/core/server.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/db.h"
#include "server-stub/db/rollouts.h"
#include "server-stub/db/targets.h"

struct engine {
        struct server *srv;
        pthread_t thread;
        pthread_mutex_t lock;   /* serialises ticks and commands */
        pthread_mutex_t wake_lock;
        pthread_cond_t wake;
        bool kicked, stop;
        unsigned tick_ms;
};

bool mwindow_valid(const char *w)
{
        unsigned h1, m1, h2, m2;
        char tail;
        if (!w || !*w)
                return true;
        return sscanf(w, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) == 4 && h1 < 24 && h2 < 24 && m1 < 60 &&
               m2 < 60 && strlen(w) == 11;
}

bool mwindow_open(const char *w, int64_t t)
{
        unsigned h1, m1, h2, m2;
        if (!w || !*w || sscanf(w, "%2u:%2u-%2u:%2u", &h1, &m1, &h2, &m2) != 4)
                return true;
        int64_t day = ((t % 86400) + 86400) % 86400;
        int64_t a = h1 * 3600 + m1 * 60, b = h2 * 3600 + m2 * 60;
        return a <= b ? day >= a && day < b : day >= a || day < b;
}

/* --- creation --- */

struct candidate {
        int64_t id;
        char key[65];
};

struct filter_ctx {
        json_t *filter;
        struct candidate *v;
        size_t n, cap;
        int err;
};

static bool attr_matches(const char *cid, json_t *attrs, const char *key, const char *pattern)
{
        const char *val = NULL;
        if (!strcmp(key, "controllerId"))
                val = cid;
        else
                val = json_string_value(json_object_get(attrs, key));
        return val && fnmatch(pattern, val, 0) == 0;
}

static int collect(void *ud, int64_t id, const char *cid, const char *attrs_text)
{
        struct filter_ctx *c = ud;
        json_t *attrs = json_loads(attrs_text ? attrs_text : "{}", 0, NULL);
        const char *k;
        json_t *pat;
        bool ok = true;
        json_object_foreach(c->filter, k, pat) {
                if (!attr_matches(cid, attrs, k, json_string_value(pat))) {
                        ok = false;
                        break;
                }
        }
        json_decref(attrs);
        if (!ok)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 256;
                struct candidate *p = realloc(c->v, cap * sizeof *p);
                if (!p)
                        return c->err = -ENOMEM;
                c->v = p;
                c->cap = cap;
        }
        c->v[c->n].id = id;
        uint8_t d[32];
        sha256_buf_raw(cid, strlen(cid), d);
        hex_encode(d, sizeof d, c->v[c->n].key);
        c->n++;
        return 0;
}

static int cmp_candidate(const void *a, const void *b)
{
        const struct candidate *x = a, *y = b;
        int k = strcmp(x->key, y->key);
        return k ? k : (x->id > y->id) - (x->id < y->id);
}

static int spec_int(json_t *spec, const char *key, int def, int lo, int hi, int *out, berr *e)
{
        json_t *v = json_object_get(spec, key);
        if (!v) {
                *out = def;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
                return berr_set(e, -EINVAL, "rollout field '%s' must be an integer from %d to %d", key, lo, hi);
        *out = (int)json_integer_value(v);
        return 0;
}

int rollout_create(struct server *s, json_t *spec, int64_t *ret_id, berr *e)
{
        struct sdb_rollout ro = {0};
        if (!json_is_object(spec))
                return berr_set(e, -EINVAL, "rollout spec must be a JSON object");
        const char *name = json_string_value(json_object_get(spec, "name"));
        if (!name || !*name || strlen(name) > SDB_NAME_MAX)
                return berr_set(e, -EINVAL, "rollout field 'name' must be a non-empty string of at most %d bytes",
                                SDB_NAME_MAX);
        snprintf(ro.name, sizeof ro.name, "%s", name);
        json_t *b = json_object_get(spec, "bundleId");
        if (!json_is_integer(b))
                return berr_set(e, -EINVAL, "rollout field 'bundleId' must be the id of an uploaded bundle");
        ro.bundle_id = json_integer_value(b);
        struct sdb_bundle bundle;
        int r = sdb_bundle_get(s->db, ro.bundle_id, &bundle);
        if (r < 0)
                return berr_set(e, r, "cannot look up bundle %" PRId64, ro.bundle_id);
        if (r == 0)
                return berr_set(e, -ENOENT, "bundle %" PRId64 " does not exist; upload it first", ro.bundle_id);

        json_t *groups = json_object_get(spec, "groups");
        if (!groups) {
                ro.groups[0] = 100;
                ro.n_groups = 1;
        } else {
                if (!json_is_array(groups) || json_array_size(groups) == 0 ||
                    json_array_size(groups) > ELEMENTSOF(ro.groups))
                        return berr_set(e, -EINVAL, "rollout field 'groups' must be an array of 1 to %zu cumulative percentages",
                                        ELEMENTSOF(ro.groups));
                size_t i;
                json_t *g;
                int prev = 0;
                json_array_foreach(groups, i, g) {
                        if (!json_is_integer(g) || json_integer_value(g) <= prev || json_integer_value(g) > 100)
                                return berr_set(e, -EINVAL, "rollout field 'groups' must rise strictly from 1 to at most 100 (e.g. [1,10,50,100])");
                        prev = ro.groups[ro.n_groups++] = (int)json_integer_value(g);
                }
                if (prev != 100)
                        return berr_set(e, -EINVAL, "rollout field 'groups' must end at 100");
        }
        if ((r = spec_int(spec, "successThreshold", 100, 1, 100, &ro.success_threshold, e)) < 0 ||
            (r = spec_int(spec, "errorThreshold", 0, 0, 100, &ro.error_threshold, e)) < 0)
                return r;
        json_t *soak = json_object_get(spec, "soakSeconds");
        for (int g = 0; g < ro.n_groups; g++) {
                json_t *v = json_is_array(soak) ? json_array_get(soak, (size_t)g) : soak;
                if (json_is_array(soak) && json_array_size(soak) != (size_t)ro.n_groups)
                        v = NULL;
                if (soak && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 365 * 86400))
                        return berr_set(e, -EINVAL, "rollout field 'soakSeconds' must be seconds (0 to 1 year), "
                                                    "or an array with one value per group");
                ro.soak[g] = v ? json_integer_value(v) : 0;
        }
        const char *type = json_string_value(json_object_get(spec, "actionType"));
        if (!type)
                type = "forced";
        if (strcmp(type, "forced") && strcmp(type, "soft") && strcmp(type, "downloadonly"))
                return berr_set(e, -EINVAL, "rollout field 'actionType' must be forced, soft or downloadonly");
        snprintf(ro.action_type, sizeof ro.action_type, "%s", type);
        json_t *cr = json_object_get(spec, "confirmationRequired");
        if (cr && !json_is_boolean(cr))
                return berr_set(e, -EINVAL, "rollout field 'confirmationRequired' must be true or false");
        ro.confirm_required = json_is_true(cr);
        json_t *bo = json_object_get(spec, "budgetOverride");
        if (bo && !json_is_boolean(bo))
                return berr_set(e, -EINVAL, "rollout field 'budgetOverride' must be true or false");
        ro.budget_override = json_is_true(bo);
        const char *mw = json_string_value(json_object_get(spec, "maintenanceWindow"));
        if (mw && !mwindow_valid(mw))
                return berr_set(e, -EINVAL, "rollout field 'maintenanceWindow' must be \"HH:MM-HH:MM\" (UTC)");
        snprintf(ro.mwindow, sizeof ro.mwindow, "%s", mw ? mw : "");

        json_t *filter = json_object_get(spec, "filter");
        if (filter && !json_is_object(filter))
                return berr_set(e, -EINVAL, "rollout field 'filter' must be an object of attribute → glob pattern");
        const char *k;
        json_t *v;
        json_object_foreach(filter, k, v) if (!json_is_string(v)) return berr_set(
                e, -EINVAL, "rollout filter '%s' must be a string (glob pattern)", k);
        json_t *none = filter ? NULL : json_object();
        _cleanup_free_ char *ftext = json_dumps(filter ? filter : none, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(none); /* no filter: every target */
        if (!ftext || strlen(ftext) >= sizeof ro.filter_json)
                return berr_set(e, -EINVAL, "rollout filter is too long (at most %zu bytes)", sizeof ro.filter_json - 1);
        snprintf(ro.filter_json, sizeof ro.filter_json, "%s", ftext);

        json_t *empty = json_object();
        struct filter_ctx fc = {.filter = filter ? filter : empty};
        r = sdb_targets_foreach(s->db, collect, &fc);
        json_decref(empty);
        if (r < 0 || fc.err < 0) {
                free(fc.v);
                return berr_set(e, r < 0 ? r : fc.err, "cannot select the rollout's targets");
        }
        /* A rollout's groups are fixed when it is created, so one without targets could
         * never do anything: refuse it and say why. */
        if (fc.n == 0)
                return berr_set(e, -EINVAL, "rollout '%s': the filter %s matches no registered target; "
                                            "register the targets first (target add) or change the filter",
                                ro.name, ro.filter_json);
        qsort(fc.v, fc.n, sizeof *fc.v, cmp_candidate);
        _cleanup_free_ int64_t *ids = malloc(fc.n * sizeof *ids);
        _cleanup_free_ int *grp = malloc(fc.n * sizeof *grp);
        if (!ids || !grp) {
                free(fc.v);
                return -ENOMEM;
        }
        size_t start = 0;
        for (int g = 0; g < ro.n_groups; g++) {
                size_t end = (fc.n * (size_t)ro.groups[g] + 99) / 100;
                for (size_t i = start; i < end && i < fc.n; i++) {
                        ids[i] = fc.v[i].id;
                        grp[i] = g;
                }
                if (end > start)
                        start = end;
        }
        r = sdb_rollout_create(s->db, &ro, fc.n, ids, grp, e);
        free(fc.v);
        if (r < 0)
                return r;
        *ret_id = ro.id;
        return 0;
}

/* --- the engine --- */

static int evaluate(struct server *s, struct sdb_rollout *ro)
{
        int64_t now = now_seconds();
        struct sdb_group_counts c;
        int g = ro->current_group;
        int r = sdb_rollout_group_counts(s->db, ro->id, g, &c);
        if (r < 0)
                return r;
        int64_t live = c.total - c.by_status[ACTION_CANCELED];
        int64_t failed = c.by_status[ACTION_FAILURE] - ro->fail_baseline;
        if (failed > 0 && failed * 100 > (int64_t)ro->error_threshold * live) {
                snprintf(ro->state, sizeof ro->state, "paused");
                snprintf(ro->reason, sizeof ro->reason,
                         "error threshold crossed in group %d: %" PRId64 " of %" PRId64 " targets failed (limit %d%%)",
                         g + 1, c.by_status[ACTION_FAILURE], c.total, ro->error_threshold);
                log_warning("rollout %" PRId64 " (%s) paused: %s", ro->id, ro->name, ro->reason);
                return sdb_rollout_save(s->db, ro);
        }
        if (c.by_status[ACTION_SUCCESS] * 100 < (int64_t)ro->success_threshold * live)
                return 0;
        if (ro->threshold_met_at == 0) {
                ro->threshold_met_at = now;
                r = sdb_rollout_save(s->db, ro);
                if (r < 0)
                        return r;
        }
        if (now - ro->threshold_met_at < ro->soak[g])
                return 0;
        if (g + 1 >= ro->n_groups) {
                snprintf(ro->state, sizeof ro->state, "finished");
                log_info("rollout %" PRId64 " (%s) finished", ro->id, ro->name);
                return sdb_rollout_save(s->db, ro);
        }
        ro->current_group = g + 1;
        ro->threshold_met_at = 0;
        ro->fail_baseline = 0;
        log_info("rollout %" PRId64 " (%s): group %d reached %d%%, starting group %d", ro->id, ro->name, g + 1,
                 ro->success_threshold, g + 2);
        r = sdb_rollout_start_group(s->db, ro, g + 1);
        if (r < 0)
                return r;
        return 1; /* evaluate again: the next group may be empty */
}

static void tick(struct engine *en)
{
        struct server *s = en->srv;
        int r = sdb_flush_polls(s->db);
        if (r < 0)
                log_warning_errno(r, "cannot store last-poll times");
        _cleanup_free_ int64_t *ids = NULL;
        size_t n = 0;
        if (sdb_rollouts_ids(s->db, "running", &ids, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                struct sdb_rollout ro;
                for (int rounds = 0; rounds < 20; rounds++) {
                        if (sdb_rollout_get(s->db, ids[i], &ro) <= 0 || strcmp(ro.state, "running"))
                                break;
                        r = evaluate(s, &ro);
                        if (r < 0)
                                log_warning_errno(r, "rollout %" PRId64 ": cannot advance", ids[i]);
                        if (r <= 0)
                                break;
                }
        }
}

static void *engine_main(void *p)
{
        struct engine *en = p;
        pthread_mutex_lock(&en->wake_lock);
        while (!en->stop) {
                if (!en->kicked) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += (long)(en->tick_ms % 1000) * 1000000L;
                        ts.tv_sec += en->tick_ms / 1000 + ts.tv_nsec / 1000000000L;
                        ts.tv_nsec %= 1000000000L;
                        pthread_cond_timedwait(&en->wake, &en->wake_lock, &ts);
                }
                if (en->stop)
                        break;
                en->kicked = false;
                pthread_mutex_unlock(&en->wake_lock);
                pthread_mutex_lock(&en->lock);
                tick(en);
                pthread_mutex_unlock(&en->lock);
                pthread_mutex_lock(&en->wake_lock);
        }
        pthread_mutex_unlock(&en->wake_lock);
        return NULL;
}

int engine_start(struct server *s, unsigned tick_ms, struct engine **ret, berr *e)
{
        struct engine *en = calloc(1, sizeof *en);
        if (!en)
                return -ENOMEM;
        en->srv = s;
        en->tick_ms = tick_ms ? tick_ms : 1000;
        pthread_mutex_init(&en->lock, NULL);
        pthread_mutex_init(&en->wake_lock, NULL);
        pthread_cond_init(&en->wake, NULL);
        int k = pthread_create(&en->thread, NULL, engine_main, en);
        if (k != 0) {
                free(en);
                return berr_set(e, -k, "cannot start the rollout engine thread");
        }
        *ret = en;
        return 0;
}

void engine_kick(struct engine *en)
{
        if (!en)
                return;
        pthread_mutex_lock(&en->wake_lock);
        en->kicked = true;
        pthread_cond_signal(&en->wake);
        pthread_mutex_unlock(&en->wake_lock);
}

void engine_stop(struct engine *en)
{
        if (!en)
                return;
        pthread_mutex_lock(&en->wake_lock);
        en->stop = true;
        pthread_cond_signal(&en->wake);
        pthread_mutex_unlock(&en->wake_lock);
        pthread_join(en->thread, NULL);
        pthread_mutex_destroy(&en->lock);
        pthread_mutex_destroy(&en->wake_lock);
        pthread_cond_destroy(&en->wake);
        free(en);
}

/* --- commands and status --- */

static int command_locked(struct server *s, int64_t id, const char *cmd, berr *e)
{
        struct sdb_rollout ro;
        int r = sdb_rollout_get(s->db, id, &ro);
        if (r < 0)
                return berr_set(e, r, "cannot read rollout %" PRId64, id);
        if (r == 0)
                return berr_set(e, -ENOENT, "rollout %" PRId64 " does not exist", id);
        if (!strcmp(cmd, "start")) {
                if (strcmp(ro.state, "ready"))
                        return berr_set(e, -EBUSY, "rollout %" PRId64 " is %s; only a ready rollout can be started", id, ro.state);
                snprintf(ro.state, sizeof ro.state, "running");
                ro.current_group = 0;
                ro.threshold_met_at = 0;
                ro.reason[0] = 0;
                return sdb_rollout_start_group(s->db, &ro, 0);
        }
        if (!strcmp(cmd, "pause")) {
                if (strcmp(ro.state, "running"))
                        return berr_set(e, -EBUSY, "rollout %" PRId64 " is %s; only a running rollout can be paused", id, ro.state);
                snprintf(ro.state, sizeof ro.state, "paused");
                snprintf(ro.reason, sizeof ro.reason, "paused by operator");
                return sdb_rollout_save(s->db, &ro);
        }
        if (!strcmp(cmd, "resume")) {
                if (strcmp(ro.state, "paused"))
                        return berr_set(e, -EBUSY, "rollout %" PRId64 " is %s; only a paused rollout can be resumed", id, ro.state);
                struct sdb_group_counts c;
                if ((r = sdb_rollout_group_counts(s->db, id, ro.current_group, &c)) < 0)
                        return r;
                /* Failures seen so far are acknowledged by the operator. */
                ro.fail_baseline = c.by_status[ACTION_FAILURE];
                snprintf(ro.state, sizeof ro.state, "running");
                ro.reason[0] = 0;
                return sdb_rollout_save(s->db, &ro);
        }
        if (!strcmp(cmd, "cancel")) {
                if (!strcmp(ro.state, "canceled") || !strcmp(ro.state, "finished"))
                        return berr_set(e, -EBUSY, "rollout %" PRId64 " is already %s", id, ro.state);
                snprintf(ro.state, sizeof ro.state, "canceled");
                snprintf(ro.reason, sizeof ro.reason, "canceled by operator");
                r = sdb_rollout_cancel(s->db, &ro);
                return r < 0 ? r : 0;
        }
        return berr_set(e, -EINVAL, "unknown rollout command '%s' (start, pause, resume, cancel)", cmd);
}

int rollout_command(struct server *s, int64_t id, const char *cmd, berr *e)
{
        pthread_mutex_lock(&s->engine->lock);
        int r = command_locked(s, id, cmd, e);
        pthread_mutex_unlock(&s->engine->lock);
        if (r >= 0)
                engine_kick(s->engine);
        return r;
}

json_t *rollout_status(struct server *s, int64_t id)
{
        struct sdb_rollout ro;
        if (sdb_rollout_get(s->db, id, &ro) <= 0)
                return NULL;
        json_t *groups = json_array();
        int64_t tot[_ACTION_STATUS_MAX] = {0}, targets = 0, waiting = 0;
        for (int g = 0; g < ro.n_groups; g++) {
                struct sdb_group_counts c;
                sdb_rollout_group_counts(s->db, id, g, &c);
                json_t *o = json_pack("{s:i, s:i, s:I, s:I, s:I}", "group", g + 1, "percent", ro.groups[g], "soakSeconds",
                                      (json_int_t)ro.soak[g], "targets", (json_int_t)c.total, "notStarted",
                                      (json_int_t)(c.total - c.actions));
                for (int k = 0; k < _ACTION_STATUS_MAX; k++) {
                        json_object_set_new(o, action_status_str(k), json_integer(c.by_status[k]));
                        tot[k] += c.by_status[k];
                }
                json_object_set_new(o, "waitingForConfirmation", json_integer(c.waiting));
                waiting += c.waiting;
                targets += c.total;
                json_array_append_new(groups, o);
        }
        json_t *totals = json_pack("{s:I, s:I}", "targets", (json_int_t)targets, "waitingForConfirmation",
                                   (json_int_t)waiting);
        for (int k = 0; k < _ACTION_STATUS_MAX; k++)
                json_object_set_new(totals, action_status_str(k), json_integer(tot[k]));
        /* While the current group soaks: when the next group starts (epoch seconds). */
        json_t *soak_until = ro.threshold_met_at && ro.current_group >= 0
                                     ? json_integer(ro.threshold_met_at + ro.soak[ro.current_group])
                                     : json_null();
        return json_pack("{s:I, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:o, s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "id",
                         (json_int_t)ro.id, "name", ro.name, "bundleId", (json_int_t)ro.bundle_id, "state", ro.state,
                         "reason", ro.reason, "currentGroup", ro.current_group + 1, "successThreshold",
                         ro.success_threshold, "errorThreshold", ro.error_threshold, "soakUntil", soak_until,
                         "actionType", ro.action_type, "maintenanceWindow", ro.mwindow, "confirmationRequired",
                         (int)ro.confirm_required, "budgetOverride", (int)ro.budget_override, "filter",
                         json_loads(ro.filter_json, 0, NULL) ?: json_object(), "groups", groups, "totals", totals);
}
