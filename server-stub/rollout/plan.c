/* SPDX-License-Identifier: Apache-2.0 */
/* plan.c — the cost of a rollout before it starts (see plan.h).
 *
 * The groups are the ones rollout_create() cut and stored (rollout_targets), so the plan
 * lists exactly the targets a start would deploy to. What a target holds is what the
 * server knows: its installed bundle and the bundles its agent reports in the "bundles"
 * attribute ("app=3,other=1"); the blobs of those are read from their stored manifests.
 * Every stored file was verified at upload, so manifests are parsed here without
 * checking signatures again. A target whose agent reports its "platform" gets what it
 * fetches of multi-platform images: every image document, and the config and layers of
 * its own platform's manifests (agent/bundle/platform.h decides, as on the agent).
 */
#include "server-stub/rollout/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/timeutil.h"
#include "bundle/manifest.h"
#include "bundle/platform.h"
#include "bundle/reader.h"
#include "server-stub/core/server.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/rollouts.h"
#include "server-stub/db/targets.h"

/* The agent's first Range request of the head (agent/fetch/head.h, HEAD_FIRST_FETCH) and
 * the slack of the second one, when the head is longer. */
#define PLAN_HEAD_FIRST 4096u
#define PLAN_HEAD_SLACK 4096u

/* A stored .berth bundle; its manifest is read when a target first needs it. */
struct known {
        int64_t id;
        char name[SDB_NAME_MAX + 1];
        int64_t version;
        char path[4096];
        uint64_t size;
        struct bundle_manifest *m;
        uint64_t head;          /* length of the head entries */
        int loaded;             /* 0: not tried, 1: m is set, < 0: unreadable */
};

/* What a node of one platform fetches of the rollout's bundle (computed once per platform). */
struct plat_need {
        char name[PLATFORM_NAME_MAX];
        bool *need;             /* NULL: every blob */
        char why[200];          /* set: it refuses the bundle */
};

#define PLAN_MAX_PLATFORMS 16

struct plan_ctx {
        struct known *v;
        size_t n, cap;
        struct plat_need plat[PLAN_MAX_PLATFORMS];
        size_t n_plat;
};

static void plan_ctx_done(struct plan_ctx *c)
{
        for (size_t i = 0; i < c->n; i++)
                bundle_manifest_free(c->v[i].m);
        free(c->v);
        for (size_t i = 0; i < c->n_plat; i++)
                free(c->plat[i].need);
}

static int known_add(void *ud, const struct sdb_bundle *b)
{
        struct plan_ctx *c = ud;
        if (strcmp(b->kind, "berth"))
                return 0; /* a plain artifact has no blobs to share */
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 16;
                struct known *p = realloc(c->v, cap * sizeof *p);
                if (!p)
                        return -ENOMEM;
                c->v = p;
                c->cap = cap;
        }
        struct known *k = &c->v[c->n++];
        memset(k, 0, sizeof *k);
        k->id = b->id;
        snprintf(k->name, sizeof k->name, "%s", b->name);
        k->version = b->version;
        snprintf(k->path, sizeof k->path, "%s", b->path);
        k->size = b->size;
        return 0;
}

/* Reads the head of a stored bundle file and parses its manifest (owned by the caller). */
static int manifest_read(const char *path, struct bundle_manifest **ret, uint64_t *ret_head, berr *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open the stored bundle %s: %m", path);
        _cleanup_(bundle_reader_freep) struct bundle_reader *rd = NULL;
        int r = bundle_reader_new(fd, path, &rd, e);
        if (r < 0) {
                close(fd);
                return r;
        }
        if ((r = bundle_reader_read_head(rd, e)) < 0)
                return r;
        const void *mb, *sb;
        size_t ml, sl;
        bundle_reader_head_bytes(rd, &mb, &ml, &sb, &sl);
        struct bundle_manifest *m = NULL;
        if ((r = bundle_manifest_parse(mb, ml, &m, e)) < 0)
                return berr_prefix(e, r, "stored bundle %s", path);
        *ret_head = bundle_reader_head_size(rd);
        bundle_manifest_layout(m, *ret_head); /* where platform_file_doc() finds each blob */
        *ret = m;
        return 0;
}

static struct known *known_get(struct plan_ctx *c, size_t i, berr *e)
{
        struct known *k = &c->v[i];
        if (k->loaded == 0) {
                berr e2 = {0};
                int r = manifest_read(k->path, &k->m, &k->head, e ? e : &e2);
                k->loaded = r < 0 ? r : 1;
        }
        return k->loaded > 0 ? k : NULL;
}

static struct known *known_find(struct plan_ctx *c, int64_t id, const char *name, int64_t version)
{
        for (size_t i = 0; i < c->n; i++)
                if (name ? !strcmp(c->v[i].name, name) && c->v[i].version == version : c->v[i].id == id)
                        return &c->v[i];
        return NULL;
}

/* What the agent downloads for the head: a first 4 KiB range, then the rest of a longer
 * head with some slack; never more than the file. */
static uint64_t head_cost(uint64_t head, uint64_t file_size)
{
        uint64_t first = file_size && file_size < PLAN_HEAD_FIRST ? file_size : PLAN_HEAD_FIRST;
        if (head <= first)
                return first;
        uint64_t rest = head - first + PLAN_HEAD_SLACK;
        if (file_size && first + rest > file_size)
                rest = file_size - first;
        return first + rest;
}

/* A target's view: the bundles it holds (indices into c->v) and the newest version of
 * the rollout bundle's name it runs. */
struct held {
        size_t idx[64];
        size_t n;
        int64_t runs;           /* -1: none known */
};

static void held_add(struct plan_ctx *c, struct held *h, const char *bname, struct known *k)
{
        if (!k)
                return;
        for (size_t i = 0; i < h->n; i++)
                if (&c->v[h->idx[i]] == k)
                        return;
        if (h->n < ELEMENTSOF(h->idx))
                h->idx[h->n++] = (size_t)(k - c->v);
        if (!strcmp(k->name, bname) && k->version > h->runs)
                h->runs = k->version;
}

/* The "bundles" attribute: "name=version,..." (agent/daemon/attrs.c); a ':' between name
 * and version is taken too. Versions the server has no file of still count as run. */
static void held_from_attr(struct plan_ctx *c, struct held *h, const char *bname, const char *list)
{
        while (list && *list) {
                const char *end = strchr(list, ',');
                size_t len = end ? (size_t)(end - list) : strlen(list);
                char item[SDB_NAME_MAX + 32];
                if (len < sizeof item) {
                        memcpy(item, list, len);
                        item[len] = 0;
                        char *sep = strpbrk(item, "=:");
                        if (sep) {
                                *sep = 0;
                                char *rest;
                                errno = 0;
                                long long v = strtoll(sep + 1, &rest, 10);
                                if (!errno && rest != sep + 1 && !*rest) {
                                        held_add(c, h, bname, known_find(c, 0, item, v));
                                        if (!strcmp(item, bname) && v > h->runs)
                                                h->runs = v;
                                }
                        }
                }
                list = end ? end + 1 : NULL;
        }
}

static bool held_has_blob(struct plan_ctx *c, const struct held *h, const char *digest)
{
        for (size_t i = 0; i < h->n; i++) {
                struct known *k = known_get(c, h->idx[i], NULL);
                if (k && bundle_manifest_find_blob(k->m, digest))
                        return true;
        }
        return false;
}

static bool attr_u64(json_t *attrs, const char *key, uint64_t *out)
{
        const char *v = json_string_value(json_object_get(attrs, key));
        char *end;
        if (!v || !*v)
                return false;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || *end || *v == '-')
                return false;
        *out = x;
        return true;
}

static double seconds_at(uint64_t bytes, uint64_t rate)
{
        /* Milliseconds are plenty for an estimate, and keep the JSON short. */
        return (double)((bytes * 8 * 1000 + rate - 1) / rate) / 1000.0;
}

/* What a node reporting platform pname fetches of b; NULL when it fetches every blob (a
 * name that is no platform, a bundle without image indexes, image documents that cannot
 * be read: as the agent, which then fetches them all). */
static const struct plat_need *platform_need_of(struct plan_ctx *c, struct known *b, const char *pname)
{
        struct platform p;
        berr e = {0};
        if (platform_parse(pname, &p, &e) < 0)
                return NULL;
        bool indexed = false;
        for (size_t i = 0; i < b->m->n_blobs; i++)
                indexed = indexed || media_type_is_index(b->m->blobs[i].media_type);
        if (!indexed)
                return NULL;
        char name[PLATFORM_NAME_MAX];
        platform_format(&p, name);
        for (size_t i = 0; i < c->n_plat; i++)
                if (!strcmp(c->plat[i].name, name))
                        return c->plat[i].need || c->plat[i].why[0] ? &c->plat[i] : NULL;
        if (c->n_plat == PLAN_MAX_PLATFORMS)
                return NULL;
        struct plat_need *pn = &c->plat[c->n_plat++];
        memset(pn, 0, sizeof *pn);
        snprintf(pn->name, sizeof pn->name, "%s", name);
        bool *need = calloc(b->m->n_blobs ? b->m->n_blobs : 1, sizeof *need);
        _cleanup_close_ int fd = open(b->path, O_RDONLY | O_CLOEXEC);
        if (!need || fd < 0) {
                free(need);
                return NULL;
        }
        int r = platform_need(b->m, &p, platform_file_doc, &fd, need, NULL, &e);
        if (r == -ENOEXEC) {
                snprintf(pn->why, sizeof pn->why, "platform: %s", berr_msg(&e, r));
                /* It fetches the image documents, finds nothing for it and stops. */
                for (size_t i = 0; i < b->m->n_blobs; i++)
                        need[i] = false;
        } else if (r < 0) {
                free(need);
                return NULL;
        }
        pn->need = need;
        return pn;
}

/* One entry: the target's bytes and, when it will refuse, why (into refuses). */
static int plan_target(struct server *s, struct plan_ctx *c, const struct sdb_rollout *ro, struct known *b,
                       int64_t tid, json_t **ret, uint64_t *ret_bytes, bool *ret_refuses)
{
        struct sdb_target t = {0};
        int r = sdb_target_get_by_id(s->db, tid, &t);
        if (r < 0)
                return r;
        if (r == 0)
                snprintf(t.cid, sizeof t.cid, "#%" PRId64, tid); /* deleted since creation */
        _cleanup_free_ char *atext = NULL;
        if (r > 0 && (r = sdb_target_attrs(s->db, tid, &atext)) < 0)
                return r;
        json_t *attrs = json_loads(atext ? atext : "{}", 0, NULL);

        struct held h = {.runs = -1};
        if (t.installed_bundle > 0)
                held_add(c, &h, b->name, known_find(c, t.installed_bundle, NULL, 0));
        held_from_attr(c, &h, b->name, json_string_value(json_object_get(attrs, "bundles")));

        /* An agent that mirrors every platform (a registry backend) fetches them all. */
        const char *pname = json_string_value(json_object_get(attrs, "platform"));
        const char *mirror = json_string_value(json_object_get(attrs, "mirror_platforms"));
        const struct plat_need *pn = NULL;
        if (pname && !(mirror && !strcmp(mirror, "all")))
                pn = platform_need_of(c, b, pname);

        uint64_t bytes = head_cost(b->head, b->size);
        for (size_t i = 0; i < b->m->n_blobs; i++) {
                const struct bundle_blob *bl = &b->m->blobs[i];
                bool fetched = !pn || pn->need[i] || media_type_is_index(bl->media_type) ||
                               media_type_is_manifest(bl->media_type);
                if (fetched && !held_has_blob(c, &h, bl->digest))
                        bytes += bl->size;
        }

        char why[240] = "";
        uint64_t left;
        if (h.runs >= b->version)
                snprintf(why, sizeof why, "not newer: runs %s %" PRId64, b->name, h.runs);
        else if (b->m->expires && b->m->expires < now_seconds()) {
                char when[32];
                time_t x = (time_t)b->m->expires;
                struct tm tm;
                gmtime_r(&x, &tm);
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                snprintf(why, sizeof why, "expired %s", when);
        } else if (pn && pn->why[0])
                snprintf(why, sizeof why, "%s", pn->why);
        else if (!ro->budget_override && attr_u64(attrs, "budget_left_mib", &left) && bytes > left << 20)
                snprintf(why, sizeof why, "budget: needs %" PRIu64 " MiB, %" PRIu64 " MiB left",
                         (bytes + (1u << 20) - 1) >> 20, left);
        json_decref(attrs);

        json_t *o = json_pack("{s:s, s:I}", "controllerId", t.cid, "bytes", (json_int_t)bytes);
        if (!o)
                return -ENOMEM;
        if (why[0])
                json_object_set_new(o, "refuses", json_string(why));
        *ret = o;
        *ret_bytes = bytes;
        *ret_refuses = why[0] != 0;
        return 0;
}

int rollout_plan(struct server *s, int64_t id, uint64_t rate, json_t **ret, berr *e)
{
        struct sdb_rollout ro;
        int r = sdb_rollout_get(s->db, id, &ro);
        if (r < 0)
                return berr_set(e, r, "cannot read rollout %" PRId64, id);
        if (r == 0)
                return berr_set(e, -ENOENT, "rollout %" PRId64 " does not exist", id);
        if (rate == 0)
                return berr_set(e, -EINVAL, "the link rate must be at least 1 bit/s");

        struct plan_ctx c = {0};
        r = sdb_bundles_list(s->db, known_add, &c);
        if (r < 0) {
                plan_ctx_done(&c);
                return berr_set(e, r, "cannot list the stored bundles");
        }
        struct known *b = known_find(&c, ro.bundle_id, NULL, 0);
        if (!b) {
                plan_ctx_done(&c);
                return berr_set(e, -EMEDIUMTYPE, "rollout %" PRId64 ": bundle %" PRId64
                                                 " is not a stored .berth bundle; there is nothing to plan",
                                id, ro.bundle_id);
        }
        if (!known_get(&c, (size_t)(b - c.v), e)) {
                r = b->loaded;
                plan_ctx_done(&c);
                return berr_prefix(e, r, "rollout %" PRId64, id);
        }

        json_t *groups = json_array();
        uint64_t total = 0, largest = 0;
        for (int g = 0; g < ro.n_groups && r >= 0; g++) {
                _cleanup_free_ int64_t *ids = NULL;
                size_t n = 0;
                if ((r = sdb_rollout_group_targets(s->db, id, g, &ids, &n)) < 0) {
                        berr_set(e, r, "cannot read group %d of rollout %" PRId64, g + 1, id);
                        break;
                }
                json_t *entries = json_array();
                uint64_t gbytes = 0, refusing = 0;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        json_t *o;
                        uint64_t bytes;
                        bool refuses;
                        r = plan_target(s, &c, &ro, b, ids[i], &o, &bytes, &refuses);
                        if (r < 0) {
                                berr_set(e, r, "cannot read target %" PRId64, ids[i]);
                                break;
                        }
                        json_array_append_new(entries, o);
                        if (refuses) {
                                refusing++;
                                continue; /* it downloads nothing */
                        }
                        gbytes += bytes;
                        if (bytes > largest)
                                largest = bytes;
                }
                json_array_append_new(groups, json_pack("{s:i, s:I, s:I, s:I, s:o}", "group", g + 1, "targets",
                                                        (json_int_t)n, "refusing", (json_int_t)refusing, "bytes",
                                                        (json_int_t)gbytes, "entries", entries));
                total += gbytes;
        }
        if (r < 0) {
                json_decref(groups);
                plan_ctx_done(&c);
                return r;
        }
        json_t *o = json_pack("{s:I, s:{s:s, s:I, s:I}, s:I, s:o, s:I, s:f, s:f}", "rollout", (json_int_t)id,
                              "bundle", "name", b->name, "version", (json_int_t)b->version, "bytes",
                              (json_int_t)b->m->total_blob_size, "rateBitsPerSecond", (json_int_t)rate, "groups",
                              groups, "totalBytes", (json_int_t)total, "seconds", seconds_at(total, rate),
                              "largestTargetSeconds", seconds_at(largest, rate));
        plan_ctx_done(&c);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}
