/* SPDX-License-Identifier: Apache-2.0 */
/* builder_index.c — one image from several single-platform archives (`bundle create
 * --image REF=a.tar --image REF=b.tar`): picks the image in each archive, walks its
 * blobs into the plan and writes the OCI image index over their manifests, each with
 * its platform, that no archive holds (a plan blob in memory). The index is the same
 * bytes for the same arguments: compact, sorted keys, manifests in argument order, as
 * scripts/merge-oci-platforms.sh writes it. Reads archives only. */
#include "bundle/builder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "bundle/format.h"
#include "bundle/manifest.h"
#include "bundle/oci_archive.h"
#include "bundle/platform.h"
#include "bundle/builder_int.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"

struct merge {
        struct plan *p;
        const char *ref;
        const size_t *ais;              /* the ref's archives, argument order */
        json_t *manifests;              /* the index's "manifests" */
        struct platform *platforms;     /* of each of manifests */
        size_t *args;                   /* and which of ais holds it */
        size_t n, cap;
        berr *e;
};

static const char *arg_path(const struct merge *m, size_t arg)
{
        return m->p->archives[m->ais[arg]]->path;
}

/* The platform o names ("os", "architecture", "variant"), in *pl and as the index's
 * "platform" object in *ret; -EBADMSG when it names none, or not one of
 * os/architecture[/variant] as platform_parse() takes it. */
static int platform_of(json_t *o, struct platform *pl, json_t **ret)
{
        const char *os = json_string_value(json_object_get(o, "os"));
        const char *arch = json_string_value(json_object_get(o, "architecture"));
        const char *var = json_string_value(json_object_get(o, "variant"));
        if (var && !var[0])
                var = NULL;
        if (!os || !arch || strchr(os, '/') || strchr(arch, '/') || (var && strchr(var, '/')))
                return -EBADMSG;
        char s[PLATFORM_NAME_MAX];
        int l = snprintf(s, sizeof s, "%s/%s%s%s", os, arch, var ? "/" : "", var ? var : "");
        berr ignore = {0};
        if (l < 0 || (size_t)l >= sizeof s || platform_parse(s, pl, &ignore) < 0)
                return -EBADMSG;
        *ret = var ? json_pack("{s:s,s:s,s:s}", "architecture", arch, "os", os, "variant", var)
                   : json_pack("{s:s,s:s}", "architecture", arch, "os", os);
        return *ret ? 0 : -ENOMEM;
}

/* Lists manifest d of archive arg with the platform src names (what: src, for errors). */
static int merge_add(struct merge *m, size_t arg, const struct desc *d, json_t *src, const char *what)
{
        struct platform pl;
        json_t *plo = NULL;
        int r = platform_of(src, &pl, &plo);
        if (r == -EBADMSG)
                return berr_set(m->e, r, "image '%s': image archive %s: %s names no platform (os and architecture, "
                                "e.g. linux/amd64)", m->ref, arg_path(m, arg), what);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n; i++)
                if (!strcmp(m->platforms[i].os, pl.os) && !strcmp(m->platforms[i].arch, pl.arch) &&
                    !strcmp(m->platforms[i].variant, pl.variant)) {
                        char name[PLATFORM_NAME_MAX];
                        json_decref(plo);
                        return berr_set(m->e, -EINVAL, "image '%s': archives %s and %s both hold %s; give each "
                                        "platform once", m->ref, arg_path(m, m->args[i]), arg_path(m, arg),
                                        platform_format(&pl, name));
                }
        if (m->n == BUNDLE_MAX_BLOBS) {
                json_decref(plo);
                return berr_set(m->e, -EFBIG, "more than %u blobs in one bundle", BUNDLE_MAX_BLOBS);
        }
        if (m->n == m->cap) {
                size_t cap = m->cap ? 2 * m->cap : 8;
                struct platform *np = realloc(m->platforms, cap * sizeof *np);
                if (np)
                        m->platforms = np;
                size_t *na = np ? realloc(m->args, cap * sizeof *na) : NULL;
                if (!na) {
                        json_decref(plo);
                        return -ENOMEM;
                }
                m->args = na;
                m->cap = cap;
        }
        json_t *ent = json_pack("{s:s,s:s,s:I,s:o}", "mediaType", d->media_type, "digest", d->digest, "size",
                                (json_int_t)d->size, "platform", plo);
        if (!ent || json_array_append_new(m->manifests, ent) < 0)
                return -ENOMEM;
        m->platforms[m->n] = pl;
        m->args[m->n++] = arg;
        return 0;
}

/* Reads blob digest of archive a as JSON into *ret. */
static int read_json(struct oci_archive *a, const char *digest, json_t **ret, berr *e)
{
        if (!digest || !digest_valid(digest))
                return berr_set(e, -EBADMSG, "image archive %s: descriptor digest '%.80s' is not a sha256 digest",
                                a->path, digest ? digest : "");
        const char *names[1] = {digest};
        *ret = NULL;
        return oci_archive_read_json(a, names, 1, ret, e);
}

/* A manifest picked in index.json: its platform is its config's. */
static int merge_manifest(struct merge *m, size_t arg, const struct desc *root)
{
        struct oci_archive *a = m->p->archives[m->ais[arg]];
        _cleanup_(json_decrefp) json_t *man = NULL, *cfg = NULL;
        int r = read_json(a, root->digest, &man, m->e);
        if (r < 0)
                return r;
        const char *cd = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
        if (!cd)
                return berr_set(m->e, -EBADMSG, "image archive %s: blob %s: image manifest needs \"config\"", a->path,
                                root->digest);
        r = read_json(a, cd, &cfg, m->e);
        if (r >= 0)
                r = merge_add(m, arg, root, cfg, "the image config");
        if (r >= 0)
                r = builder_plan_walk(m->p, m->ais[arg], root, 1, m->e);
        return r;
}

/* An index picked in index.json: each manifest it lists that the archive holds and that
 * names a platform (attestations, platform unknown/unknown, are not part of the image). */
static int merge_index(struct merge *m, size_t arg, const struct desc *root)
{
        struct oci_archive *a = m->p->archives[m->ais[arg]];
        _cleanup_(json_decrefp) json_t *idx = NULL;
        int r = read_json(a, root->digest, &idx, m->e);
        if (r < 0)
                return r;
        json_t *arr = json_object_get(idx, "manifests");
        size_t n = json_array_size(arr), n_take = 0;
        _cleanup_free_ struct desc *take = calloc(n ? n : 1, sizeof *take);
        if (!take)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_array_get(arr, i), *size = json_object_get(o, "size");
                json_t *pl = json_object_get(o, "platform");
                struct desc d = {.digest = json_string_value(json_object_get(o, "digest")),
                                 .media_type = json_string_value(json_object_get(o, "mediaType"))};
                const char *os = json_string_value(json_object_get(pl, "os"));
                const char *arch = json_string_value(json_object_get(pl, "architecture"));
                const char *kind = json_string_value(
                        json_object_get(json_object_get(o, "annotations"), "vnd.docker.reference.type"));
                if (!d.digest || !digest_valid(d.digest) || !oci_archive_find(a, d.digest) || !json_is_object(pl) ||
                    (os && !strcmp(os, "unknown")) || (arch && !strcmp(arch, "unknown")) ||
                    (kind && !strcmp(kind, "attestation-manifest")))
                        continue;
                if (!d.media_type)
                        d.media_type = MT_OCI_MANIFEST;
                if (!media_type_is_manifest(d.media_type))
                        continue;
                if (!json_is_integer(size) || json_integer_value(size) < 0)
                        return berr_set(m->e, -EBADMSG, "%s: blob %s: descriptor needs \"digest\" and \"size\"",
                                        a->path, root->digest);
                d.size = (uint64_t)json_integer_value(size);
                char what[DIGEST_STR_LEN + 64];
                snprintf(what, sizeof what, "the index entry of manifest %s", d.digest);
                r = merge_add(m, arg, &d, pl, what);
                if (r < 0)
                        return r;
                take[n_take++] = d;
        }
        if (n_take == 0)
                return berr_set(m->e, -ENOENT, "image '%s': image archive %s: the image index lists no manifest with "
                                "a platform that the archive holds", m->ref, a->path);
        return builder_plan_walk(m->p, m->ais[arg], take, n_take, m->e);
}

int builder_index_merge(struct plan *p, const char *ref, const size_t *ais, size_t n, char digest[DIGEST_STR_LEN + 1],
                        struct desc *root, berr *e)
{
        struct merge m = {.p = p, .ref = ref, .ais = ais, .manifests = json_array(), .e = e};
        _cleanup_(json_decrefp) json_t *idx = NULL;
        char *s = NULL;
        int r = m.manifests ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct desc d;
                r = builder_pick_image(p->archives[ais[i]], ref, &d, e);
                if (r >= 0)
                        r = media_type_is_index(d.media_type) ? merge_index(&m, i, &d) : merge_manifest(&m, i, &d);
        }
        if (r >= 0) {
                idx = json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests",
                                m.manifests);
                s = idx ? json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                r = s ? sha256_buf_str(s, strlen(s), digest) : -ENOMEM;
        }
        if (r >= 0) {
                *root = (struct desc){.digest = digest, .media_type = MT_OCI_INDEX, .size = strlen(s)};
                r = builder_plan_add_data(p, digest, MT_OCI_INDEX, TAKE_PTR(s), root->size, e);
        }
        free(s);
        json_decref(m.manifests);
        free(m.platforms);
        free(m.args);
        return r < 0 ? r : 0;
}
