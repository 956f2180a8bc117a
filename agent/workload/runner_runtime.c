/* SPDX-License-Identifier: Apache-2.0 */
/* runner_runtime.c — the containerd runtime's function table (runtime.h): runner.c's
 * instance operations, plus what the engine asks of containerd for a whole bundle (its
 * containers by label, image records) and the image config from berth's store.
 */
#include "workload/runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "containerd/containers.h"
#include "containerd/images.h"
#include "containerd/plan.h"
#include "containerd/tasks.h"
#include "store/content.h"

static void rt_init(void *ud, struct wl_instance *in)
{
        runner_init(ud, in);
}

/* The image config JSON and top chain ID of image ref in manifest m (this platform). */
static int rt_image(void *ud, const struct bundle_manifest *m, const char *ref, json_t **ret_config,
                    char chain[DIGEST_STR_LEN + 1], berr *e)
{
        const struct runner_ctx *rc = ud;
        const struct bundle_image *im = NULL;
        for (size_t i = 0; i < m->n_images; i++)
                if (!strcmp(m->images[i].ref, ref))
                        im = &m->images[i];
        if (!im)
                return berr_set(e, -ENOENT, "image %s is not in bundle %s", ref, m->name);
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = NULL;
        int r = ctrd_plan_build_image(im->digest, im->media_type, im->size, rc->cs, &p, e);
        if (r < 0)
                return berr_prefix(e, r, "image %s", ref);
        if (p->n_unpacks == 0 || p->unpacks[0].n_layers == 0)
                return berr_set(e, -ENOEXEC, "image %s has no layers for this platform (%s)", ref, ctrd_plan_host_arch());
        const struct ctrd_plan_unpack *u = &p->unpacks[0];
        _cleanup_close_ int fd = -1;
        r = content_open(rc->cs, u->config, &fd);
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

static int rt_start(void *ud, const struct wl_instance *in, uint32_t *ret_pid, berr *e)
{
        return runner_start(ud, in, ret_pid, e);
}

static int rt_stop(void *ud, const char *id, int sig, uint64_t grace_ms, berr *e)
{
        return runner_stop(ud, id, sig, grace_ms, e);
}

static int rt_poll(void *ud, const struct wl_instance *in, int *ret_exit, bool *ret_oom, berr *e)
{
        return runner_poll(ud, in, ret_exit, ret_oom, e);
}

static int rt_peek(void *ud, const char *id, uint32_t *ret_pid)
{
        const struct runner_ctx *rc = ud;
        struct ctrd_task_info ti;
        int r = ctrd_task_get(rc->c, id, NULL, &ti, NULL);
        if (r < 0)
                return r;
        *ret_pid = ti.pid;
        return ti.status == CTRD_TASK_RUNNING;
}

static int rt_probe(void *ud, struct wl_instance *in)
{
        return runner_probe(ud, in);
}

static void rt_rotate_logs(void *ud, const struct wl_instance *in)
{
        runner_rotate_logs(ud, in);
}

static int rt_list(void *ud, const char *bundle, struct wl_container_ref **ret, size_t *ret_n, berr *e)
{
        const struct runner_ctx *rc = ud;
        char filter[300];
        snprintf(filter, sizeof filter, "labels.\"" WL_LABEL_BUNDLE "\"==\"%s\"", bundle);
        const char *f = filter;
        struct ctrd_container *list = NULL;
        size_t n = 0;
        int r = ctrd_container_list(rc->c, &f, 1, &list, &n, e);
        if (r < 0)
                return r;
        struct wl_container_ref *out = calloc(n + 1, sizeof *out);
        if (!out) {
                ctrd_container_list_free(list, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                const char *vs = ctrd_container_label(&list[i], WL_LABEL_VERSION);
                snprintf(out[i].id, sizeof out[i].id, "%s", list[i].id);
                out[i].version = vs ? strtoll(vs, NULL, 10) : -1;
        }
        ctrd_container_list_free(list, n);
        *ret = out;
        *ret_n = n;
        return 0;
}

static int rt_remove(void *ud, const char *id, berr *e)
{
        return runner_remove_id(ud, id, e);
}

static int rt_image_forget(void *ud, const char *name, const char *digest, berr *e)
{
        const struct runner_ctx *rc = ud;
        struct ctrd_image_target t;
        if (ctrd_image_get(rc->c, name, &t, NULL) < 0 || strcmp(t.digest, digest))
                return 0;
        return ctrd_image_delete(rc->c, name, true, e);
}

static uint64_t rt_mono_ms(void *ud)
{
        (void)ud;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t rt_wall_ms(void *ud)
{
        (void)ud;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct wl_runtime_ops runner_ops = {
        .init = rt_init,
        .image = rt_image,
        .start = rt_start,
        .stop = rt_stop,
        .poll = rt_poll,
        .peek = rt_peek,
        .probe = rt_probe,
        .rotate_logs = rt_rotate_logs,
        .list = rt_list,
        .remove = rt_remove,
        .image_forget = rt_image_forget,
        .mono_ms = rt_mono_ms,
        .wall_ms = rt_wall_ms,
};

void runner_runtime(struct runner_ctx *rc, struct wl_runtime *ret)
{
        *ret = (struct wl_runtime) {.ops = &runner_ops, .ud = rc};
}
