/* SPDX-License-Identifier: Apache-2.0 */
/* builder.c — bundle create and co-sign (see builder.h): the output file, streaming
 * and hashing the blobs into the writer, the manifest and its signatures. Which blobs
 * go in and in what order is builder_plan.c's; the index over several archives of one
 * image, builder_index.c's. */
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

/* Output file handling shared by create and cosign. */
struct out_file {
        char *tmp;
        int fd;
};

static int out_open(struct out_file *o, const char *path, berr *e)
{
        o->fd = -1;
        if (asprintf(&o->tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
                o->tmp = NULL;
                return -ENOMEM;
        }
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (o->fd < 0)
                return berr_set(e, -errno, "cannot create %s: %s", o->tmp, strerror(errno));
        return 0;
}

static int out_commit(struct out_file *o, const char *path, berr *e)
{
        if (fsync(o->fd) < 0 || close(o->fd) < 0) {
                o->fd = -1;
                return berr_set(e, -errno, "cannot write %s: %s", o->tmp, strerror(errno));
        }
        o->fd = -1;
        if (rename(o->tmp, path) < 0)
                return berr_set(e, -errno, "cannot rename %s to %s: %s", o->tmp, path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        (void)fsync_parent(path);
        return 0;
}

static void out_abort(struct out_file *o)
{
        if (o->fd >= 0)
                close(o->fd);
        if (o->tmp) {
                unlink(o->tmp);
                free(o->tmp);
        }
}

/* Streams one archive's share of the bundle, hashing every blob. */
struct stream_ctx {
        struct plan *p;
        size_t archive;
        size_t next;            /* index of the next plan blob expected */
        struct bundle_writer *w;
        sha256_ctx *h;
        berr *e;
};

static bool stream_want(void *ud, const char *digest)
{
        struct stream_ctx *c = ud;
        return c->next < c->p->n_blobs && c->p->blobs[c->next].archive == c->archive &&
               !strcmp(c->p->blobs[c->next].digest, digest);
}

static int stream_begin(void *ud, const char *digest, uint64_t size)
{
        struct stream_ctx *c = ud;
        return bundle_writer_blob_begin(c->w, digest, size, c->e);
}

static int stream_data(void *ud, const void *buf, size_t len)
{
        struct stream_ctx *c = ud;
        if (sha256_update(c->h, buf, len) < 0)
                return -EIO;
        return bundle_writer_blob_data(c->w, buf, len, c->e);
}

static int stream_end(void *ud, const char *digest)
{
        struct stream_ctx *c = ud;
        char d[DIGEST_STR_LEN + 1];
        if (sha256_final_str(c->h, d) < 0)
                return -EIO;
        if (strcmp(d, digest) != 0)
                return berr_set(c->e, -EBADMSG, "blob %s is corrupt in the image archive (content hashes to %s)", digest, d);
        c->next++;
        return 0;
}

/* Writes the blobs no archive holds (they follow every archive's), hashed like the rest. */
static int stream_memory(struct stream_ctx *c)
{
        c->archive = PLAN_IN_MEMORY;
        while (c->next < c->p->n_blobs) {
                const struct plan_blob *b = &c->p->blobs[c->next];
                if (!b->data)
                        return berr_set(c->e, -EBADMSG, "internal error, blob %s was not written", b->digest);
                int r = stream_begin(c, b->digest, b->size);
                if (r >= 0)
                        r = stream_data(c, b->data, b->size);
                if (r >= 0)
                        r = stream_end(c, b->digest);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The archive p->archives[*ret] that is path, scanned on first use; images sharing an
 * archive share the scan. */
static int plan_archive(struct plan *p, const char *path, size_t *ret, berr *e)
{
        for (size_t j = 0; j < p->n_archives; j++)
                if (!strcmp(p->archives[j]->path, path)) {
                        *ret = j;
                        return 0;
                }
        int r = oci_archive_scan(path, &p->archives[p->n_archives], e);
        if (r < 0)
                return r;
        *ret = p->n_archives++;
        return 0;
}

static char *build_manifest(const struct bundle_create_opts *o, struct plan *p, const char *const *refs,
                            const struct desc *roots, size_t n_refs, size_t *len)
{
        char created[32], expires[32];
        time_format_rfc3339(o->created, created);
        time_format_rfc3339(o->expires, expires);
        json_t *images = json_array(), *blobs = json_array();
        for (size_t i = 0; i < n_refs; i++)
                json_array_append_new(images, json_pack("{s:s,s:s,s:s,s:I}", "ref", refs[i], "mediaType",
                                                        roots[i].media_type, "digest", roots[i].digest, "size",
                                                        (json_int_t)roots[i].size));
        for (size_t i = 0; i < p->n_blobs; i++)
                json_array_append_new(blobs, json_pack("{s:s,s:I,s:s}", "digest", p->blobs[i].digest, "size",
                                                       (json_int_t)p->blobs[i].size, "mediaType", p->blobs[i].media_type));
        json_t *m = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:o,s:o}", "schemaVersion", 1, "mediaType",
                              BUNDLE_MANIFEST_MEDIA_TYPE, "name", o->name, "version", (json_int_t)o->version, "created",
                              created, "expires", expires, "images", images, "blobs", blobs);
        if (!m)
                return NULL;
        if (o->workloads)
                json_object_set(m, "workloads", o->workloads);
        if (o->update)
                json_object_set(m, "update", o->update);
        char *s = json_dumps(m, JSON_INDENT(2));
        json_decref(m);
        if (!s)
                return NULL;
        size_t l = strlen(s);
        char *t = realloc(s, l + 2);
        if (!t) {
                free(s);
                return NULL;
        }
        t[l] = '\n';
        t[l + 1] = 0;
        *len = l + 1;
        return t;
}

/* Checks the chain a bundle is to carry, serialises it, and counts the bundle's release
 * signatures under its last root (so the caller can say whether more are needed). */
static int prepare_roots(const struct root_chain *roots, const struct bundle_signatures *sigs, const void *manifest,
                         size_t mlen, char **ret, size_t *ret_len, struct bundle_create_result *res, berr *e)
{
        berr sub = {0};
        int r = root_chain_check(roots, &sub);
        if (r < 0)
                return berr_set(e, r, "the trust roots to attach are not a valid chain: %s", berr_msg(&sub, r));
        r = root_chain_serialize(roots, ret, ret_len);
        if (r == -EFBIG)
                return berr_set(e, r, "the trust roots take more than %u bytes; attach fewer (the newest ones)",
                                BUNDLE_MAX_ROOTS_SIZE);
        if (r < 0)
                return r;
        const struct trust_root *last = roots->v[roots->n - 1];
        _cleanup_(trust_freep) struct trust *t = NULL;
        r = root_release_trust(last, &t);
        if (r < 0)
                return r;
        unsigned valid = 0;
        berr ignore = {0};
        (void)signatures_verify(sigs, t, manifest, mlen, &valid, &ignore);
        if (res) {
                res->root_version = last->version;
                res->release_valid = valid;
                res->release_threshold = t->threshold;
        }
        return 0;
}

int bundle_create(const struct bundle_create_opts *o, struct bundle_create_result *res, berr *e)
{
        struct plan p = {0};
        struct out_file out = {0};
        struct bundle_writer *w = NULL;
        sha256_ctx *h = NULL;
        char *manifest = NULL, *sigjson = NULL, *rootsjson = NULL;
        size_t rootslen = 0;
        struct bundle_signatures *sigs = NULL;
        /* Per distinct ref, in the order first given: its name, root and written index. */
        size_t n = o->n_images ? o->n_images : 1, n_refs = 0;
        struct desc *roots = calloc(n, sizeof *roots);
        const char **refs = calloc(n, sizeof *refs);
        char (*index_digest)[DIGEST_STR_LEN + 1] = calloc(n, sizeof *index_digest);
        size_t *ais = calloc(n, sizeof *ais);
        int r = 0;
        out.fd = -1;

        if (!roots || !refs || !index_digest || !ais || !(p.archives = calloc(n, sizeof *p.archives))) {
                r = -ENOMEM;
                goto finish;
        }
        if (!bundle_name_valid(o->name)) {
                r = berr_set(e, -EINVAL, "bundle name '%s' is invalid (letters, digits, '.', '_', '-')", o->name);
                goto finish;
        }
        if (o->version < 1 || o->version > BUNDLE_MAX_VERSION || o->expires <= o->created || o->n_keys == 0 ||
            o->n_images == 0) {
                r = berr_set(e, -EINVAL, "bundle needs a version ≥ 1, an expiry after its creation time, a key and an image");
                goto finish;
        }
        for (size_t i = 0; i < o->n_images; i++)
                if (!image_ref_valid(o->images[i].ref)) {
                        r = berr_set(e, -EINVAL, "image reference '%s' is invalid", o->images[i].ref);
                        goto finish;
                }
        /* Each image once, at its first --image. A ref given with several archives (one
         * per platform) gets an image index over them, which bundle create writes. */
        for (size_t i = 0; i < o->n_images; i++) {
                const char *ref = o->images[i].ref;
                size_t n_ais = 0, j = 0;
                while (j < n_refs && strcmp(refs[j], ref))
                        j++;
                if (j < n_refs)
                        continue;
                for (j = i; j < o->n_images; j++)
                        if (!strcmp(o->images[j].ref, ref)) {
                                r = plan_archive(&p, o->images[j].archive, &ais[n_ais++], e);
                                if (r < 0)
                                        goto finish;
                        }
                if (n_ais == 1) {
                        r = builder_pick_image(p.archives[ais[0]], ref, &roots[n_refs], e);
                        if (r >= 0)
                                r = builder_plan_walk(&p, ais[0], &roots[n_refs], 1, e);
                } else
                        r = builder_index_merge(&p, ref, ais, n_ais, index_digest[n_refs], &roots[n_refs], e);
                if (r < 0)
                        goto finish;
                refs[n_refs++] = ref;
        }
        /* Blob order: by archive (first use), then by position inside it, so each
         * archive is streamed exactly once, front to back; then the indexes written here. */
        qsort(p.blobs, p.n_blobs, sizeof *p.blobs, builder_cmp_plan_blob);

        size_t mlen, slen;
        manifest = build_manifest(o, &p, refs, roots, n_refs, &mlen);
        sigs = signatures_new();
        if (!manifest || !sigs) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < o->n_keys; i++) {
                r = signatures_add(sigs, &o->keys[i], manifest, mlen);
                if (r < 0) {
                        r = berr_set(e, r, "cannot sign with key '%s': %s", o->keys[i].name, strerror(-r));
                        goto finish;
                }
        }
        r = signatures_serialize(sigs, &sigjson, &slen);
        if (r < 0)
                goto finish;
        if (o->roots) {
                r = prepare_roots(o->roots, sigs, manifest, mlen, &rootsjson, &rootslen, res, e);
                if (r < 0)
                        goto finish;
        }
        /* Re-parse what we produced: never write a bundle our own reader would refuse. */
        struct bundle_manifest *check = NULL;
        berr sub = {0};
        r = bundle_manifest_parse(manifest, mlen, &check, &sub);
        if (r < 0) {
                r = berr_set(e, r, "internal error, generated manifest is invalid: %s", berr_msg(&sub, r));
                goto finish;
        }
        if (res) {
                res->n_blobs = check->n_blobs;
                res->total_size = check->total_blob_size;
                snprintf(res->manifest_digest, sizeof res->manifest_digest, "%s", check->digest);
        }
        bundle_manifest_free(check);

        r = out_open(&out, o->output, e);
        if (r >= 0)
                r = bundle_writer_new(out.fd, &w, e);
        if (r >= 0)
                r = bundle_writer_head(w, manifest, mlen, sigjson, slen, e);
        if (r >= 0 && rootsjson)
                r = bundle_writer_roots(w, rootsjson, rootslen, e);
        if (r >= 0)
                r = sha256_new(&h);
        struct stream_ctx sc = {.p = &p, .w = w, .h = h, .e = e};
        struct oci_blob_sink sink = {stream_want, stream_begin, stream_data, stream_end, &sc};
        for (size_t ai = 0; r >= 0 && ai < p.n_archives; ai++) {
                sc.archive = ai;
                r = oci_archive_stream(p.archives[ai], &sink, e);
                if (r >= 0 && sc.next < p.n_blobs && p.blobs[sc.next].archive == ai)
                        r = berr_set(e, -EBADMSG, "image archive %s: blob %s appears out of order on the second read",
                                     p.archives[ai]->path, p.blobs[sc.next].digest);
        }
        if (r >= 0)
                r = stream_memory(&sc);
        if (r >= 0)
                r = bundle_writer_close(w, e);
        if (r >= 0)
                r = out_commit(&out, o->output, e);

finish:
        bundle_writer_free(w);
        out_abort(&out);
        sha256_free(h);
        free(manifest);
        free(sigjson);
        free(rootsjson);
        signatures_free(sigs);
        builder_plan_done(&p);
        free(roots);
        free(refs);
        free(index_digest);
        free(ais);
        return r;
}

static int copy_sink(void *ud, const void *buf, size_t len)
{
        struct bundle_writer *w = ud;
        return bundle_writer_blob_data(w, buf, len, NULL);
}

int bundle_cosign(const char *in, const char *out_path, const struct berth_key *k, const struct root_chain *roots,
                  struct bundle_create_result *res, berr *e)
{
        int fd = open(in, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open %s: %s", in, strerror(errno));
        _cleanup_(bundle_reader_freep) struct bundle_reader *r = NULL;
        int q = bundle_reader_new(fd, in, &r, e);
        if (q >= 0)
                q = bundle_reader_read_head(r, e);
        if (q >= 0)
                q = bundle_reader_parse_unverified(r, e);
        if (q < 0)
                return q;
        const void *mraw, *sraw;
        size_t mlen, slen;
        bundle_reader_head_bytes(r, &mraw, &mlen, &sraw, &slen);
        _cleanup_(signatures_freep) struct bundle_signatures *sigs = NULL;
        q = signatures_parse(sraw, slen, &sigs, e);
        if (q < 0)
                return q;
        if (k) {
                q = signatures_add(sigs, k, mraw, mlen);
                if (q < 0)
                        return berr_set(e, q, "cannot sign with key '%s': %s", k->name, strerror(-q));
        }
        _cleanup_free_ char *sj = NULL, *rj = NULL;
        size_t sjl, rjl = 0;
        q = signatures_serialize(sigs, &sj, &sjl);
        if (q < 0)
                return q;
        /* The roots the bundle carries stay as they are unless new ones are given. */
        const void *rraw;
        size_t rlen;
        bundle_reader_roots(r, &rraw, &rlen);
        if (roots) {
                q = prepare_roots(roots, sigs, mraw, mlen, &rj, &rjl, res, e);
                if (q < 0)
                        return q;
                rraw = rj;
                rlen = rjl;
        }

        struct out_file out = {0};
        out.fd = -1;
        struct bundle_writer *w = NULL;
        q = out_open(&out, out_path, e);
        if (q >= 0)
                q = bundle_writer_new(out.fd, &w, e);
        if (q >= 0)
                q = bundle_writer_head(w, mraw, mlen, sj, sjl, e);
        if (q >= 0 && rlen)
                q = bundle_writer_roots(w, rraw, rlen, e);
        const struct bundle_blob *b;
        while (q >= 0 && (q = bundle_reader_next_blob(r, &b, e)) > 0) {
                q = bundle_writer_blob_begin(w, b->digest, b->size, e);
                if (q >= 0)
                        q = bundle_reader_stream_blob(r, copy_sink, w, e);
        }
        if (q >= 0)
                q = bundle_reader_finish(r, e);
        if (q >= 0)
                q = bundle_writer_close(w, e);
        if (q >= 0)
                q = out_commit(&out, out_path, e);
        bundle_writer_free(w);
        out_abort(&out);
        return q;
}
