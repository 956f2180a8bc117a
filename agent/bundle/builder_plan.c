/* SPDX-License-Identifier: Apache-2.0 */
/* builder_plan.c — the blob plan of a new bundle: picks each image in its OCI archive
 * and walks its manifests and indexes breadth first (one archive pass per level),
 * collecting every blob once with the archive that holds it (or, for an index bundle
 * create writes itself, its bytes). Reads archives only, never writes the bundle. */
#include "bundle/builder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/timeutil.h"
#include "bundle/format.h"
#include "bundle/manifest.h"
#include "bundle/oci_archive.h"
#include "bundle/reader.h"
#include "bundle/root.h"
#include "bundle/signature.h"
#include "bundle/writer.h"
#include "bundle/builder_int.h"

#define MAX_GRAPH_DEPTH 4

void builder_plan_done(struct plan *p)
{
        for (size_t i = 0; i < p->n_archives; i++)
                oci_archive_free(p->archives[i]);
        free(p->archives);
        for (size_t i = 0; i < p->n_blobs; i++) {
                free(p->blobs[i].media_type);
                free(p->blobs[i].data);
        }
        free(p->blobs);
}

static struct plan_blob *plan_find(struct plan *p, const char *digest)
{
        for (size_t i = 0; i < p->n_blobs; i++)
                if (!strcmp(p->blobs[i].digest, digest))
                        return &p->blobs[i];
        return NULL;
}

/* A new blob at the end of p (zeroed), or NULL with r set. */
static struct plan_blob *plan_append(struct plan *p, int *r, berr *e)
{
        if (p->n_blobs == BUNDLE_MAX_BLOBS) {
                *r = berr_set(e, -EFBIG, "more than %u blobs in one bundle", BUNDLE_MAX_BLOBS);
                return NULL;
        }
        if (p->n_blobs == p->cap) {
                size_t cap = p->cap ? 2 * p->cap : 32;
                struct plan_blob *nb = realloc(p->blobs, cap * sizeof *nb);
                if (!nb) {
                        *r = -ENOMEM;
                        return NULL;
                }
                p->blobs = nb;
                p->cap = cap;
        }
        struct plan_blob *b = &p->blobs[p->n_blobs];
        *b = (struct plan_blob){0};
        return b;
}

/* Adds a blob reached through a descriptor; returns 1 when new, 0 when known. */
static int plan_add(struct plan *p, size_t ai, const char *digest, uint64_t size, const char *mt, berr *e)
{
        struct oci_archive *a = p->archives[ai];
        if (!digest_valid(digest))
                return berr_set(e, -EBADMSG, "image archive %s: descriptor digest '%.80s' is not a sha256 digest", a->path, digest);
        struct plan_blob *known = plan_find(p, digest);
        if (known)
                return 0;
        const struct oci_blob_entry *ent = oci_archive_find(a, digest);
        if (!ent)
                return berr_set(e, -ENOENT, "image archive %s: blob %s is referenced but not in the archive", a->path, digest);
        if (ent->size != size)
                return berr_set(e, -EBADMSG, "image archive %s: blob %s is %llu bytes, its descriptor says %llu", a->path,
                                digest, (unsigned long long)ent->size, (unsigned long long)size);
        int r = 0;
        struct plan_blob *b = plan_append(p, &r, e);
        if (!b)
                return r;
        memcpy(b->digest, digest, sizeof b->digest);
        b->size = size;
        b->media_type = strdup(mt);
        b->archive = ai;
        b->position = ent->position;
        if (!b->media_type)
                return -ENOMEM;
        p->n_blobs++;
        return 1;
}

int builder_plan_add_data(struct plan *p, const char *digest, const char *media_type, char *data, size_t len, berr *e)
{
        int r = 0;
        struct plan_blob *b = plan_find(p, digest) ? NULL : plan_append(p, &r, e);
        if (!b) {
                free(data);
                return r;
        }
        memcpy(b->digest, digest, sizeof b->digest);
        b->size = len;
        b->media_type = strdup(media_type);
        b->archive = PLAN_IN_MEMORY;
        b->position = p->n_blobs;
        b->data = data;
        p->n_blobs++; /* even without media_type: builder_plan_done() frees data */
        return b->media_type ? 1 : -ENOMEM;
}

static int parse_desc(json_t *o, const char *where, struct desc *d, berr *e)
{
        json_t *size = json_object_get(o, "size");
        d->digest = json_string_value(json_object_get(o, "digest"));
        d->media_type = json_string_value(json_object_get(o, "mediaType"));
        if (!json_is_object(o) || !d->digest || !json_is_integer(size) || json_integer_value(size) < 0)
                return berr_set(e, -EBADMSG, "%s: descriptor needs \"digest\" and \"size\"", where);
        d->size = (uint64_t)json_integer_value(size);
        return 0;
}

/* Picks the descriptor in index.json that is the image called ref. */
int builder_pick_image(struct oci_archive *a, const char *ref, struct desc *d, berr *e)
{
        json_t *mans = json_object_get(a->index, "manifests");
        size_t n = json_array_size(mans);
        if (!json_is_array(mans) || n == 0)
                return berr_set(e, -EBADMSG, "image archive %s: index.json lists no images", a->path);
        json_t *pick = n == 1 ? json_array_get(mans, 0) : NULL;
        char names[512] = "";
        for (size_t i = 0; !pick && i < n; i++) {
                json_t *ann = json_object_get(json_array_get(mans, i), "annotations");
                const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
                const char *tag = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
                const char *colon = strrchr(ref, ':');
                if ((full && !strcmp(full, ref)) || (tag && !strcmp(tag, ref)) ||
                    (tag && colon && !strchr(colon, '/') && !strcmp(tag, colon + 1)))
                        pick = json_array_get(mans, i);
                size_t l = strlen(names);
                snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", full ? full : tag ? tag : "(unnamed)");
        }
        if (!pick)
                return berr_set(e, -ENOENT, "image archive %s holds %zu images and none is named '%s' (it has: %s)", a->path,
                                n, ref, names);
        char where[64];
        snprintf(where, sizeof where, "%s index.json", a->path);
        int r = parse_desc(pick, where, d, e);
        if (r >= 0 && !d->media_type)
                return berr_set(e, -EBADMSG, "%s: the image descriptor has no mediaType", where);
        if (r >= 0 && !media_type_is_index(d->media_type) && !media_type_is_manifest(d->media_type))
                return berr_set(e, -EBADMSG, "%s: '%s' is not an image manifest or index", where, d->media_type);
        return r;
}

typedef char digest_str[DIGEST_STR_LEN + 1];

/* Reads the JSON documents of one level of the graph and queues the next level. */
static int plan_level(struct plan *p, size_t ai, digest_str *level, size_t n, digest_str *next, size_t *n_next, berr *e)
{
        struct oci_archive *a = p->archives[ai];
        const char **names = calloc(n, sizeof *names);
        json_t **docs = calloc(n, sizeof *docs);
        int r = names && docs ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++)
                names[i] = level[i];
        if (r >= 0)
                r = oci_archive_read_json(a, names, n, docs, e);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                /* Copy: plan_add() may move p->blobs. */
                _cleanup_free_ char *mt = strdup(plan_find(p, level[i])->media_type);
                char where[160];
                snprintf(where, sizeof where, "%s: blob %s", a->path, level[i]);
                if (!mt) {
                        r = -ENOMEM;
                        break;
                }
                if (media_type_is_index(mt)) {
                        json_t *arr = json_object_get(docs[i], "manifests");
                        size_t present = 0;
                        for (size_t j = 0; r >= 0 && j < json_array_size(arr); j++) {
                                struct desc d;
                                r = parse_desc(json_array_get(arr, j), where, &d, e);
                                if (r < 0)
                                        break;
                                /* An export for one platform lists the others without their blobs. */
                                if (!digest_valid(d.digest) || !oci_archive_find(a, d.digest))
                                        continue;
                                present++;
                                if (!d.media_type)
                                        d.media_type = "application/vnd.oci.image.manifest.v1+json";
                                if (!media_type_is_index(d.media_type) && !media_type_is_manifest(d.media_type))
                                        continue; /* e.g. attestation manifests: not part of the image */
                                r = plan_add(p, ai, d.digest, d.size, d.media_type, e);
                                if (r > 0 && *n_next < BUNDLE_MAX_BLOBS)
                                        memcpy(next[(*n_next)++], d.digest, sizeof(digest_str));
                        }
                        if (r >= 0 && present == 0)
                                r = berr_set(e, -ENOENT, "%s: the image index has none of its manifests in the archive", where);
                } else {
                        json_t *cfg = json_object_get(docs[i], "config");
                        json_t *layers = json_object_get(docs[i], "layers");
                        struct desc d;
                        if (!json_is_object(cfg) || !json_is_array(layers)) {
                                r = berr_set(e, -EBADMSG, "%s: image manifest needs \"config\" and \"layers\"", where);
                                break;
                        }
                        r = parse_desc(cfg, where, &d, e);
                        if (r >= 0)
                                r = plan_add(p, ai, d.digest, d.size,
                                             d.media_type ? d.media_type : "application/vnd.oci.image.config.v1+json", e);
                        for (size_t j = 0; r >= 0 && j < json_array_size(layers); j++) {
                                r = parse_desc(json_array_get(layers, j), where, &d, e);
                                if (r >= 0)
                                        r = plan_add(p, ai, d.digest, d.size,
                                                     d.media_type ? d.media_type : "application/vnd.oci.image.layer.v1.tar", e);
                        }
                }
        }
        for (size_t i = 0; docs && i < n; i++)
                json_decref(docs[i]);
        free(docs);
        free(names);
        return r < 0 ? r : 0;
}

/* Walks manifests/indexes from the n roots breadth first, one archive pass per level. */
int builder_plan_walk(struct plan *p, size_t ai, const struct desc *roots, size_t n_roots, berr *e)
{
        _cleanup_free_ digest_str *level = calloc(BUNDLE_MAX_BLOBS, sizeof *level);
        _cleanup_free_ digest_str *next = calloc(BUNDLE_MAX_BLOBS, sizeof *next);
        if (!level || !next)
                return -ENOMEM;
        size_t n = 0;
        for (size_t i = 0; i < n_roots; i++) {
                int r = plan_add(p, ai, roots[i].digest, roots[i].size, roots[i].media_type, e);
                if (r < 0)
                        return r;
                if (r > 0 && n < BUNDLE_MAX_BLOBS)
                        memcpy(level[n++], roots[i].digest, sizeof(digest_str));
        }
        for (int depth = 0; n > 0; depth++) {
                if (depth == MAX_GRAPH_DEPTH)
                        return berr_set(e, -ELOOP, "image archive %s: image indexes nest too deeply", p->archives[ai]->path);
                size_t n_next = 0;
                int r = plan_level(p, ai, level, n, next, &n_next, e);
                if (r < 0)
                        return r;
                memcpy(level, next, n_next * sizeof *next);
                n = n_next;
        }
        return 0;
}

/* PLAN_IN_MEMORY is the largest archive index: blobs in memory go last. */
int builder_cmp_plan_blob(const void *x, const void *y)
{
        const struct plan_blob *a = x, *b = y;
        if (a->archive != b->archive)
                return a->archive < b->archive ? -1 : 1;
        return a->position < b->position ? -1 : a->position > b->position;
}
