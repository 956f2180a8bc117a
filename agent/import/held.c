/* SPDX-License-Identifier: Apache-2.0 */
/* held.c — see held.h. Reads image manifests from berth's store (verified, bounded) and
 * the unpacked_layers table; never talks to containerd. */
#include "import/held.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "bundle/platform.h"

void held_key_next(const char *scope, const char *prev, const char *layer_digest, char key[HELD_KEY_LEN + 1])
{
        sha256_ctx *c = NULL;
        char head[HELD_KEY_LEN + 1];
        /* prev may be key itself (the chain is computed in place). */
        snprintf(head, sizeof head, "%s", prev && *prev ? prev : "");
        key[0] = 0;
        if (sha256_new(&c) < 0)
                return;
        if (head[0])
                sha256_update(c, head, strlen(head));
        else
                sha256_update(c, scope, strlen(scope));
        sha256_update(c, "\n", 1);
        sha256_update(c, layer_digest, strlen(layer_digest));
        sha256_final_str(c, key);
        sha256_free(c);
}

const char *import_held_scope(struct import_backend *const *backends, size_t n_backends)
{
        /* A registry mirror reads every layer from berth's store: none may be missing. */
        if (import_mirrors_every_platform(backends, n_backends))
                return NULL;
        for (size_t i = 0; i < n_backends; i++)
                if (backends[i]->layer_scope)
                        return backends[i]->layer_scope;
        return NULL;
}

static ssize_t blob_index(const struct bundle_manifest *m, const char *digest)
{
        for (size_t i = 0; i < m->n_blobs; i++)
                if (!strcmp(m->blobs[i].digest, digest))
                        return (ssize_t)i;
        return -1;
}

/* Calls fn for each layer of the manifest blob b in cs with its key, in order; 0 when b
 * is not in cs. */
typedef int (*layer_fn)(void *ud, const char *digest, const char *key, berr *e);
static int each_layer(struct content_store *cs, const char *scope, const struct bundle_blob *b, layer_fn fn,
                      void *ud, berr *e)
{
        _cleanup_close_ int fd = -1;
        if (content_open(cs, b->digest, &fd) < 0)
                return 0;
        json_t *doc = NULL;
        int r = platform_read_doc(fd, 0, b, &doc, e);
        if (r < 0)
                return r;
        json_t *layers = json_object_get(doc, "layers");
        char key[HELD_KEY_LEN + 1] = "";
        size_t i;
        json_t *l;
        r = 0;
        json_array_foreach(layers, i, l) {
                const char *d = json_string_value(json_object_get(l, "digest"));
                if (!d || !digest_valid(d)) {
                        r = berr_set(e, -EBADMSG, "image manifest %s: layer %zu has no valid digest", b->digest, i);
                        break;
                }
                held_key_next(scope, key, d, key);
                if (!key[0]) {
                        r = berr_set(e, -ENOMEM, "out of memory");
                        break;
                }
                if ((r = fn(ud, d, key, e)) < 0)
                        break;
        }
        json_decref(doc);
        return r;
}

struct mark {
        struct berth_db *db;
        const struct bundle_manifest *m;
        bool *used;             /* a needed manifest uses the blob */
        bool *missing;          /* ... at a position whose key is not recorded */
};

static int mark_layer(void *ud, const char *digest, const char *key, berr *e)
{
        struct mark *k = ud;
        ssize_t j = blob_index(k->m, digest);
        if (j < 0)
                return 0; /* not carried by the bundle: the plan does not ask for it */
        int r = db_unpacked_has(k->db, key, e);
        if (r < 0)
                return r;
        k->used[j] = true;
        if (r == 0)
                k->missing[j] = true;
        return 0;
}

int import_held_layers(struct berth_db *db, struct content_store *cs, const char *scope,
                       const struct bundle_manifest *m, const bool *need, bool *held, berr *e)
{
        memset(held, 0, m->n_blobs * sizeof *held);
        if (!scope)
                return 0;
        _cleanup_free_ bool *used = calloc(m->n_blobs ? m->n_blobs : 1, 2 * sizeof *used);
        if (!used)
                return berr_set(e, -ENOMEM, "out of memory");
        struct mark k = {.db = db, .m = m, .used = used, .missing = used + m->n_blobs};
        for (size_t i = 0; i < m->n_blobs; i++) {
                if (!media_type_is_manifest(m->blobs[i].media_type) || (need && !need[i]))
                        continue;
                int r = each_layer(cs, scope, &m->blobs[i], mark_layer, &k, e);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < m->n_blobs; i++)
                held[i] = k.used[i] && !k.missing[i];
        return 0;
}

static int forget_layer(void *ud, const char *digest, const char *key, berr *e)
{
        (void)digest;
        return db_unpacked_forget(ud, key, e);
}

int import_held_forget(struct berth_db *db, struct content_store *cs, const char *scope,
                       const struct bundle_manifest *m, berr *e)
{
        if (!scope)
                return 0;
        for (size_t i = 0; i < m->n_blobs; i++) {
                if (!media_type_is_manifest(m->blobs[i].media_type))
                        continue;
                int r = each_layer(cs, scope, &m->blobs[i], forget_layer, db, e);
                if (r < 0)
                        return r;
        }
        return 0;
}
