/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c — workload sets (see spec.h): parsing a manifest's "workloads" and "update",
 * the start order, freeing, and the --workloads file forms of bundle create. One
 * workload's fields are spec_field.c's, single values spec_value.c's (spec_int.h).
 *
 * Unknown keys are errors: a misspelt "readOnlyRootfs" must not silently run a
 * writable container. Every message starts with the JSON path of the field.
 */
#include "workload/spec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "workload/spec_int.h"

void spec_done(struct workload_spec *w)
{
        free(w->name);
        free(w->image);
        spec_strv_free(w->command, w->n_command);
        spec_strv_free(w->args, w->n_args);
        spec_strv_free(w->env, w->n_env);
        free(w->working_dir);
        for (size_t i = 0; i < w->n_tmpfs; i++)
                free(w->tmpfs[i].path);
        free(w->tmpfs);
        for (size_t i = 0; i < w->n_volumes; i++) {
                free(w->volumes[i].name);
                free(w->volumes[i].path);
        }
        free(w->volumes);
        for (size_t i = 0; i < w->n_binds; i++) {
                free(w->binds[i].source);
                free(w->binds[i].path);
        }
        free(w->binds);
        for (size_t i = 0; i < w->n_devices; i++)
                free(w->devices[i].path);
        free(w->devices);
        spec_strv_free(w->cap_add, w->n_cap_add);
        spec_strv_free(w->depends_on, w->n_depends_on);
        free(w->probe.path);
        spec_strv_free(w->probe.command, w->probe.n_command);
}

void workload_set_free(struct workload_set *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                spec_done(&s->w[i]);
        free(s->w);
        free(s->order);
        free(s);
}

const struct workload_spec *workload_set_find(const struct workload_set *s, const char *name)
{
        for (size_t i = 0; s && i < s->n; i++)
                if (!strcmp(s->w[i].name, name))
                        return &s->w[i];
        return NULL;
}

const char *wl_restart_name(enum wl_restart r)
{
        return r == WL_RESTART_ALWAYS ? "always" : r == WL_RESTART_ON_FAILURE ? "on-failure" : "never";
}

const char *wl_probe_name(enum wl_probe_kind k)
{
        static const char *const n[] = {"none", "http", "tcp", "exec"};
        return n[k];
}

/* Kahn's algorithm over dependsOn; the array order breaks ties, so the start order
 * is deterministic. A cycle is named by one workload on it. */
static int compute_order(struct workload_set *s, berr *e)
{
        size_t n = s->n;
        _cleanup_free_ unsigned *indeg = calloc(n + 1, sizeof *indeg);
        _cleanup_free_ bool *done = calloc(n + 1, sizeof *done);
        s->order = calloc(n + 1, sizeof *s->order);
        if (!indeg || !done || !s->order)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                for (size_t d = 0; d < s->w[i].n_depends_on; d++) {
                        const char *dep = s->w[i].depends_on[d];
                        if (!workload_set_find(s, dep))
                                return FAIL(e, "workloads[%zu].dependsOn[%zu]: no workload named '%.64s'", i, d, dep);
                        if (!strcmp(dep, s->w[i].name))
                                return FAIL(e, "workloads[%zu].dependsOn[%zu]: a workload cannot depend on itself", i,
                                            d);
                        indeg[i]++;
                }
        for (size_t k = 0; k < n; k++) {
                size_t pick = n;
                for (size_t i = 0; i < n && pick == n; i++)
                        if (!done[i] && indeg[i] == 0)
                                pick = i;
                if (pick == n) {
                        for (size_t i = 0; i < n; i++)
                                if (!done[i])
                                        return FAIL(e, "workloads[%zu].dependsOn: dependency cycle through '%s'", i,
                                                    s->w[i].name);
                }
                done[pick] = true;
                s->order[k] = pick;
                for (size_t i = 0; i < n; i++)
                        for (size_t d = 0; d < s->w[i].n_depends_on; d++)
                                if (!strcmp(s->w[i].depends_on[d], s->w[pick].name))
                                        indeg[i]--;
        }
        return 0;
}

static int parse_update(json_t *u, uint64_t *soak_ms, berr *e)
{
        static const char *const keys[] = {"soak", NULL};
        *soak_ms = WL_DEFAULT_SOAK_MS;
        if (!u)
                return 0;
        if (!json_is_object(u))
                return FAIL(e, "update: must be an object {\"soak\": DURATION}");
        int r = spec_check_keys(u, keys, "update", e);
        if (r < 0)
                return r;
        return spec_get_duration(u, "soak", "update", WL_DEFAULT_SOAK_MS, 86400000, soak_ms, e);
}

static int parse_set(json_t *arr, json_t *update, const struct bundle_image *images, size_t n_images,
                     const char *const *refs, size_t n_refs, struct workload_set **ret, berr *e)
{
        const struct spec_images im = {.images = images, .n_images = n_images, .refs = refs, .n_refs = n_refs};
        _cleanup_(workload_set_freep) struct workload_set *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        int r = parse_update(update, &s->soak_ms, e);
        if (r < 0)
                return r;
        if (arr && !json_is_array(arr))
                return FAIL(e, "workloads: must be an array");
        size_t n = arr ? json_array_size(arr) : 0;
        if (n > WL_MAX_WORKLOADS)
                return FAIL(e, "workloads: at most %d workloads per bundle", WL_MAX_WORKLOADS);
        s->w = calloc(n + 1, sizeof *s->w);
        if (!s->w)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char where[64];
                snprintf(where, sizeof where, "workloads[%zu]", i);
                s->n++;
                r = spec_parse_one(json_array_get(arr, i), where, &im, &s->w[i], e);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(s->w[j].name, s->w[i].name))
                                return FAIL(e, "%s.name: '%s' is used by workloads[%zu] too", where, s->w[i].name, j);
        }
        r = compute_order(s, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int workload_set_parse(json_t *root, const struct bundle_image *images, size_t n_images, struct workload_set **ret,
                       berr *e)
{
        return parse_set(json_object_get(root, "workloads"), json_object_get(root, "update"), images, n_images, NULL,
                         0, ret, e);
}

int workload_set_from_manifest(const struct bundle_manifest *m, struct workload_set **ret, berr *e)
{
        return workload_set_parse(m->root, m->images, m->n_images, ret, e);
}

int workload_file_check(json_t *doc, const char *const *image_refs, size_t n_refs, json_t **ret_workloads,
                        json_t **ret_update, berr *e)
{
        json_t *arr = doc, *update = NULL;
        if (json_is_object(doc)) {
                static const char *const keys[] = {"soak", "workloads", NULL};
                int r = spec_check_keys(doc, keys, "(top level)", e);
                if (r < 0)
                        return r;
                arr = json_object_get(doc, "workloads");
                if (!arr)
                        return FAIL(e, "workloads: required");
                json_t *soak = json_object_get(doc, "soak");
                if (soak) {
                        update = json_pack("{s:O}", "soak", soak);
                        if (!update)
                                return -ENOMEM;
                }
        } else if (!json_is_array(doc)) {
                return FAIL(e, "top level must be an array of workloads or {\"soak\": ..., \"workloads\": [...]}");
        }
        struct workload_set *s = NULL;
        int r = parse_set(arr, update, NULL, 0, image_refs, n_refs, &s, e);
        workload_set_free(s);
        if (r < 0) {
                json_decref(update);
                return r;
        }
        *ret_workloads = json_incref(arr);
        if (ret_update)
                *ret_update = update;
        else
                json_decref(update);
        return 0;
}

