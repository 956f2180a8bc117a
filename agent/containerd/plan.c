/* SPDX-License-Identifier: Apache-2.0 */
/* plan.c — see plan.h. The labelling follows containerd 1.6 (images.ChildGCLabels):
 * an index references its manifests as gc.ref.content.m.<i>, a manifest its config as
 * gc.ref.content.config and its layers as gc.ref.content.l.<i>.
 */
#include "containerd/plan.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "bundle/platform.h"

#define MAX_DEPTH 4
#define MAX_CHILDREN 4096

static void blob_done(struct ctrd_plan_blob *b)
{
        free(b->media_type);
        for (size_t i = 0; i < b->n_labels; i++) {
                free(b->label_keys[i]);
                free(b->label_values[i]);
        }
        free(b->label_keys);
        free(b->label_values);
}

void ctrd_plan_free(struct ctrd_plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n_blobs; i++)
                blob_done(&p->blobs[i]);
        free(p->blobs);
        for (size_t i = 0; i < p->n_unpacks; i++) {
                for (size_t j = 0; j < p->unpacks[i].n_layers; j++)
                        free(p->unpacks[i].layers[j].media_type);
                free(p->unpacks[i].layers);
        }
        free(p->unpacks);
        free(p);
}

const char *ctrd_plan_host_arch(void)
{
        struct utsname u;
        static char arch[sizeof u.machine];

        if (uname(&u) < 0)
                return "amd64";
        if (!strcmp(u.machine, "x86_64"))
                return "amd64";
        if (!strcmp(u.machine, "aarch64") || !strcmp(u.machine, "arm64"))
                return "arm64";
        if (!strncmp(u.machine, "armv", 4) || !strcmp(u.machine, "arm"))
                return "arm";
        if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i386"))
                return "386";
        snprintf(arch, sizeof arch, "%s", u.machine);
        return arch;
}

int ctrd_plan_chain_ids(const char (*diff_ids)[DIGEST_STR_LEN + 1], size_t n, char (*chain)[DIGEST_STR_LEN + 1])
{
        for (size_t i = 0; i < n; i++) {
                if (i == 0) {
                        memcpy(chain[0], diff_ids[0], DIGEST_STR_LEN + 1);
                        continue;
                }
                char buf[2 * DIGEST_STR_LEN + 2];
                int k = snprintf(buf, sizeof buf, "%s %s", chain[i - 1], diff_ids[i]);
                int r = sha256_buf_str(buf, (size_t)k, chain[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct ctrd_label *ctrd_plan_blob_labels(const struct ctrd_plan_blob *b)
{
        struct ctrd_label *l = calloc(b->n_labels ? b->n_labels : 1, sizeof *l);
        if (!l)
                return NULL;
        for (size_t i = 0; i < b->n_labels; i++)
                l[i] = (struct ctrd_label) { b->label_keys[i], b->label_values[i] };
        return l;
}

struct walk {
        struct content_store *cs;
        struct ctrd_plan *p;
        struct platform host;
        berr *e;
};

static struct ctrd_plan_blob *find_blob(struct ctrd_plan *p, const char *digest)
{
        for (size_t i = 0; i < p->n_blobs; i++)
                if (!strcmp(p->blobs[i].digest, digest))
                        return &p->blobs[i];
        return NULL;
}

/* Adds digest to the write list (once). Children are added before their parent
 * because the walk adds a node after visiting its children. */
static int add_blob(struct walk *w, const char *digest, uint64_t size, const char *media_type,
                    struct ctrd_plan_blob **ret)
{
        struct ctrd_plan *p = w->p;
        struct ctrd_plan_blob *b = find_blob(p, digest);
        if (b) {
                if (ret)
                        *ret = b;
                return 0;
        }
        struct ctrd_plan_blob *nb = realloc(p->blobs, (p->n_blobs + 1) * sizeof *nb);
        if (!nb)
                return berr_set(w->e, -ENOMEM, "out of memory");
        p->blobs = nb;
        b = &p->blobs[p->n_blobs];
        *b = (struct ctrd_plan_blob) { .size = size, .in_store = content_has(w->cs, digest, size) };
        snprintf(b->digest, sizeof b->digest, "%s", digest);
        b->media_type = strdup(media_type ? media_type : "application/octet-stream");
        if (!b->media_type)
                return berr_set(w->e, -ENOMEM, "out of memory");
        p->n_blobs++;
        if (ret)
                *ret = b;
        return 0;
}

static int add_label(struct walk *w, struct ctrd_plan_blob *b, const char *key, const char *value)
{
        if (b->n_labels >= PLAN_MAX_LABELS)
                return berr_set(w->e, -E2BIG, "image blob %s references more than %u children", b->digest,
                                PLAN_MAX_LABELS);
        char **k = realloc(b->label_keys, (b->n_labels + 1) * sizeof *k);
        if (!k)
                return berr_set(w->e, -ENOMEM, "out of memory");
        b->label_keys = k;
        char **v = realloc(b->label_values, (b->n_labels + 1) * sizeof *v);
        if (!v)
                return berr_set(w->e, -ENOMEM, "out of memory");
        b->label_values = v;
        k[b->n_labels] = strdup(key);
        v[b->n_labels] = strdup(value);
        b->n_labels++;
        if (!k[b->n_labels - 1] || !v[b->n_labels - 1])
                return berr_set(w->e, -ENOMEM, "out of memory");
        return 0;
}

static int read_json(struct walk *w, const char *digest, uint64_t size, json_t **ret)
{
        _cleanup_close_ int fd = -1;

        if (size > PLAN_MAX_JSON)
                return berr_set(w->e, -EFBIG, "image document %s is %llu bytes, above the %u byte limit", digest,
                                (unsigned long long)size, PLAN_MAX_JSON);
        int r = content_open(w->cs, digest, &fd);
        if (r < 0)
                return berr_set(w->e, r, "image document %s is not in the berth content store; re-import the bundle",
                                digest);
        _cleanup_free_ char *buf = malloc(size + 1);
        if (!buf)
                return berr_set(w->e, -ENOMEM, "out of memory");
        size_t got = 0;
        while (got < size) {
                ssize_t k = read(fd, buf + got, size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return berr_set(w->e, k < 0 ? -errno : -EIO, "reading image document %s failed", digest);
                got += (size_t)k;
        }
        json_error_t je;
        json_t *j = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &je);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return berr_set(w->e, -EBADMSG, "image document %s is not a JSON object: %s", digest, je.text);
        }
        *ret = j;
        return 0;
}

struct desc {
        const char *digest;
        const char *media_type;
        uint64_t size;
};

static int parse_desc(struct walk *w, json_t *o, const char *where, struct desc *d)
{
        json_t *dg = json_object_get(o, "digest"), *mt = json_object_get(o, "mediaType"),
               *sz = json_object_get(o, "size");
        if (!json_is_object(o) || !json_is_string(dg) || !digest_valid(json_string_value(dg)) || !json_is_integer(sz) ||
            json_integer_value(sz) < 0)
                return berr_set(w->e, -EBADMSG, "%s: descriptor needs a sha256 digest and a size", where);
        d->digest = json_string_value(dg);
        d->media_type = json_is_string(mt) ? json_string_value(mt) : "";
        d->size = (uint64_t)json_integer_value(sz);
        return 0;
}

static bool is_config_type(const char *mt)
{
        return !strcmp(mt, "application/vnd.oci.image.config.v1+json") ||
               !strcmp(mt, "application/vnd.docker.container.image.v1+json");
}

static int walk_manifest(struct walk *w, const struct desc *self, bool unpack)
{
        json_auto_t *j = NULL;
        struct ctrd_plan_blob *b;
        struct desc cfg, ld;
        char key[96], where[128];
        int r;

        snprintf(where, sizeof where, "image manifest %s", self->digest);
        r = read_json(w, self->digest, self->size, &j);
        if (r < 0)
                return r;
        json_t *layers = json_object_get(j, "layers");
        if (!json_is_array(layers) || json_array_size(layers) > MAX_CHILDREN)
                return berr_set(w->e, -EBADMSG, "%s has no valid \"layers\" array", where);
        r = parse_desc(w, json_object_get(j, "config"), where, &cfg);
        if (r < 0)
                return r;
        if (!is_config_type(cfg.media_type))
                return berr_set(w->e, -EBADMSG, "%s: config media type \"%s\" is not an image config", where,
                                cfg.media_type);

        /* A manifest not unpacked here (another platform's) may come without its config and
         * layers: a gateway fetches only its own platform's. Its labels still name them. */
        if (unpack || content_has(w->cs, cfg.digest, cfg.size))
                r = add_blob(w, cfg.digest, cfg.size, cfg.media_type, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_array_size(layers); i++) {
                r = parse_desc(w, json_array_get(layers, i), where, &ld);
                if (r < 0)
                        return r;
                if (!unpack && !content_has(w->cs, ld.digest, ld.size))
                        continue;
                r = add_blob(w, ld.digest, ld.size, ld.media_type, NULL);
                if (r < 0)
                        return r;
        }
        r = add_blob(w, self->digest, self->size, self->media_type, &b);
        if (r < 0)
                return r;
        if (b->n_labels == 0) {
                r = add_label(w, b, "containerd.io/gc.ref.content.config", cfg.digest);
                for (size_t i = 0; r >= 0 && i < json_array_size(layers); i++) {
                        parse_desc(w, json_array_get(layers, i), where, &ld);
                        snprintf(key, sizeof key, "containerd.io/gc.ref.content.l.%zu", i);
                        /* b may have moved: look it up again after each realloc of blobs. */
                        r = add_label(w, find_blob(w->p, self->digest), key, ld.digest);
                }
                if (r < 0)
                        return r;
        }
        if (!unpack)
                return 0;

        /* Layers to unpack, with diff IDs from the config. */
        json_auto_t *cj = NULL;
        r = read_json(w, cfg.digest, cfg.size, &cj);
        if (r < 0)
                return r;
        json_t *diffs = json_object_get(json_object_get(cj, "rootfs"), "diff_ids");
        size_t n = json_array_size(layers);
        if (!json_is_array(diffs) || json_array_size(diffs) != n)
                return berr_set(w->e, -EBADMSG, "image config %s: rootfs.diff_ids does not match the %zu layers of %s",
                                cfg.digest, n, self->digest);
        for (size_t i = 0; i < w->p->n_unpacks; i++)
                if (!strcmp(w->p->unpacks[i].manifest, self->digest))
                        return 0;
        struct ctrd_plan_unpack *nu = realloc(w->p->unpacks, (w->p->n_unpacks + 1) * sizeof *nu);
        if (!nu)
                return berr_set(w->e, -ENOMEM, "out of memory");
        w->p->unpacks = nu;
        struct ctrd_plan_unpack *u = &nu[w->p->n_unpacks++];
        *u = (struct ctrd_plan_unpack) { 0 };
        snprintf(u->manifest, sizeof u->manifest, "%s", self->digest);
        snprintf(u->config, sizeof u->config, "%s", cfg.digest);
        if (n == 0)
                return 0;
        u->layers = calloc(n, sizeof *u->layers);
        _cleanup_free_ char(*ids)[DIGEST_STR_LEN + 1] = calloc(n, sizeof *ids);
        _cleanup_free_ char(*chain)[DIGEST_STR_LEN + 1] = calloc(n, sizeof *chain);
        if (!u->layers || !ids || !chain)
                return berr_set(w->e, -ENOMEM, "out of memory");
        u->n_layers = n;
        for (size_t i = 0; i < n; i++) {
                const char *d = json_string_value(json_array_get(diffs, i));
                if (!d || !digest_valid(d))
                        return berr_set(w->e, -EBADMSG, "image config %s: diff_ids[%zu] is not a sha256 digest",
                                        cfg.digest, i);
                snprintf(ids[i], sizeof ids[i], "%s", d);
        }
        r = ctrd_plan_chain_ids((const char(*)[DIGEST_STR_LEN + 1])ids, n, chain);
        if (r < 0)
                return berr_set(w->e, r, "computing chain IDs failed");
        for (size_t i = 0; i < n; i++) {
                struct ctrd_plan_layer *l = &u->layers[i];
                parse_desc(w, json_array_get(layers, i), where, &ld);
                snprintf(l->digest, sizeof l->digest, "%s", ld.digest);
                l->size = ld.size;
                l->media_type = strdup(ld.media_type);
                if (!l->media_type)
                        return berr_set(w->e, -ENOMEM, "out of memory");
                memcpy(l->diff_id, ids[i], sizeof l->diff_id);
                memcpy(l->chain_id, chain[i], sizeof l->chain_id);
        }
        return 0;
}


static int walk(struct walk *w, const struct desc *d, bool unpack, unsigned depth);

static int walk_index(struct walk *w, const struct desc *self, unsigned depth)
{
        json_auto_t *j = NULL;
        struct desc cd;
        char key[96], where[128];
        int r;

        snprintf(where, sizeof where, "image index %s", self->digest);
        r = read_json(w, self->digest, self->size, &j);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(j, "manifests");
        if (!json_is_array(ms) || json_array_size(ms) > MAX_CHILDREN)
                return berr_set(w->e, -EBADMSG, "%s has no valid \"manifests\" array", where);

        /* Children this bundle carries are written and (for this platform) unpacked;
         * the others (other platforms) are only referenced, like a pull of one
         * platform does. */
        bool picked = false;
        for (size_t i = 0; i < json_array_size(ms); i++) {
                json_t *o = json_array_get(ms, i);
                r = parse_desc(w, o, where, &cd);
                if (r < 0)
                        return r;
                if (!content_has(w->cs, cd.digest, cd.size))
                        continue;
                /* The manifest platform_need() picked for this node: what it fetched. */
                bool unpack = !picked && platform_desc_matches(o, &w->host) && media_type_is_manifest(cd.media_type);
                picked = picked || unpack;
                r = walk(w, &cd, unpack, depth + 1);
                if (r < 0)
                        return r;
        }
        struct ctrd_plan_blob *b;
        r = add_blob(w, self->digest, self->size, self->media_type, &b);
        if (r < 0)
                return r;
        if (b->n_labels == 0)
                for (size_t i = 0; i < json_array_size(ms); i++) {
                        parse_desc(w, json_array_get(ms, i), where, &cd);
                        snprintf(key, sizeof key, "containerd.io/gc.ref.content.m.%zu", i);
                        r = add_label(w, find_blob(w->p, self->digest), key, cd.digest);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int walk(struct walk *w, const struct desc *d, bool unpack, unsigned depth)
{
        if (depth > MAX_DEPTH)
                return berr_set(w->e, -ELOOP, "image index %s nests deeper than %u levels", d->digest, MAX_DEPTH);
        if (media_type_is_index(d->media_type))
                return walk_index(w, d, depth);
        if (media_type_is_manifest(d->media_type))
                return walk_manifest(w, d, unpack);
        return berr_set(w->e, -EBADMSG, "image %s has media type \"%s\", neither a manifest nor an index", d->digest,
                        d->media_type);
}

int ctrd_plan_build_image_on(const struct platform *host, const char *digest, const char *media_type, uint64_t size,
                             struct content_store *cs, struct ctrd_plan **ret, berr *e)
{
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = calloc(1, sizeof *p);
        if (!p)
                return berr_set(e, -ENOMEM, "out of memory");
        struct walk w = { .cs = cs, .p = p, .host = *host, .e = e };
        struct desc d = { digest, media_type, size };
        int r = walk(&w, &d, true, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int ctrd_plan_build_image(const char *digest, const char *media_type, uint64_t size, struct content_store *cs,
                          struct ctrd_plan **ret, berr *e)
{
        struct platform host;
        platform_host(&host);
        return ctrd_plan_build_image_on(&host, digest, media_type, size, cs, ret, e);
}

int ctrd_plan_build(const struct bundle_manifest *m, struct content_store *cs, struct ctrd_plan **ret, berr *e)
{
        _cleanup_(ctrd_plan_freep) struct ctrd_plan *p = calloc(1, sizeof *p);
        if (!p)
                return berr_set(e, -ENOMEM, "out of memory");
        struct walk w = { .cs = cs, .p = p, .e = e };
        platform_host(&w.host);
        for (size_t i = 0; i < m->n_images; i++) {
                const struct bundle_image *im = &m->images[i];
                struct desc d = { im->digest, im->media_type, im->size };
                int r = walk(&w, &d, true, 0);
                if (r < 0)
                        return berr_prefix(e, r, "image %s", im->ref);
        }
        *ret = TAKE_PTR(p);
        return 0;
}
