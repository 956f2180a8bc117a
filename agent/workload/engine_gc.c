/* SPDX-License-Identifier: Apache-2.0 */
/* engine_gc.c — what a commit or rollback leaves behind (engine_int.h): the containers
 * of versions neither current, previous nor part of an unfinished update, and the
 * versions older than current with the blobs and image records only they used. It runs
 * only after the commit is persisted, so a crash at any point leaves nothing running
 * without its record.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/content.h"
#include "workload/engine_int.h"

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
                if (g->eng->cs)
                        (void)content_remove(g->eng->cs, a);
                return;
        }
        /* An image record is removed only while it still points at the forgotten
         * version's digest (a newer version may have re-pointed the same name). */
        int r = g->eng->rt.ops->image_forget(g->eng->rt.ud, a, b_, &e);
        if (r < 0)
                eng_note(g->b, &e, r);
}

void eng_gc_bundle(struct workload_engine *eng, struct wl_bundle *b)
{
        int64_t keep[4] = {b->current, b->previous, b->has_upd ? b->upd.from_version : 0,
                           b->has_upd ? b->upd.to_version : 0};
        berr e = {0};
        struct wl_container_ref *list = NULL;
        size_t n = 0;
        int r = eng->rt.ops->list(eng->rt.ud, b->name, &list, &n, &e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                int64_t v = list[i].version;
                if (v == keep[0] || v == keep[1] || v == keep[2] || v == keep[3])
                        continue;
                r = eng->rt.ops->remove(eng->rt.ud, list[i].id, &e);
        }
        free(list);
        if (r < 0)
                eng_note(b, &e, r);

        struct gc_ctx g = {.eng = eng, .b = b};
        if (wstate_list_versions(eng->db, b->name, gc_collect_version, &g) >= 0)
                for (size_t i = 0; i < g.n; i++) {
                        int64_t v = g.versions[i];
                        if (v >= b->current || v == keep[1] || v == keep[2] || v == keep[3])
                                continue;
                        berr e2 = {0};
                        r = wstate_forget_version(eng->db, b->name, v, gc_item, &g, &e2);
                        if (r < 0)
                                eng_note(b, &e2, r);
                }
        free(g.versions);
}
