/* SPDX-License-Identifier: Apache-2.0 */
/* push.c — see push.h. Walks manifests with jansson; blobs are streamed by the client.
 *
 * The blobs of one image manifest go up concurrently (registry.parallel, default 4:
 * skopeo and containerd do the same), each worker thread with its own client and
 * connection. Workers share only the job index and the first error, under a mutex;
 * the manifest is PUT after every worker finished.
 */
#include "registry/push.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "registry/reference.h"

#define MAX_DEPTH 4
#define MAX_CHILDREN 4096

struct push {
        struct registry_client *c;
        registry_blob_open_fn open_blob;
        void *ud;
        const char *repo;
};

static bool is_index_type(const char *mt)
{
        return mt && (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
                      !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

static bool is_manifest_type(const char *mt)
{
        return mt && (!strcmp(mt, "application/vnd.oci.image.manifest.v1+json") ||
                      !strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json") || is_index_type(mt));
}

/* Layers that registries are not meant to hold (foreign / non-distributable). */
static bool is_nondistributable(const char *mt)
{
        return mt && (strstr(mt, ".foreign.") || strstr(mt, ".nondistributable."));
}

/* Reads a whole local manifest (bounded) and checks it hashes to digest. */
static int read_manifest(struct push *p, const char *digest, char **ret, size_t *ret_len, berr *e)
{
        _cleanup_close_ int fd = -1;
        int r = p->open_blob(p->ud, digest, &fd);
        if (r < 0)
                return berr_set(e, r, "manifest %s is not in the berth store (%s): import the bundle again",
                                digest, strerror(-r));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return berr_set(e, -errno, "cannot stat manifest %s in the berth store", digest);
        if (st.st_size > (off_t)REGISTRY_MAX_MANIFEST_SIZE)
                return berr_set(e, -EFBIG, "manifest %s is larger than %u bytes", digest, REGISTRY_MAX_MANIFEST_SIZE);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < (size_t)st.st_size) {
                ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return berr_set(e, k < 0 ? -errno : -EIO, "cannot read manifest %s from the berth store", digest);
                got += (size_t)k;
        }
        buf[got] = 0;
        char actual[DIGEST_STR_LEN + 1];
        r = sha256_buf_str(buf, got, actual);
        if (r < 0)
                return r;
        if (strcmp(actual, digest))
                return berr_set(e, -EBADMSG, "stored manifest %s hashes to %s: the berth store is damaged, import the bundle again",
                                digest, actual);
        *ret = TAKE_PTR(buf);
        *ret_len = got;
        return 0;
}

static int push_blob(struct push *p, struct registry_client *c, const char *digest, uint64_t size,
                     const char *media_type, berr *e)
{
        if (registry_client_knows(c, p->repo, digest))
                return 0;
        _cleanup_close_ int fd = -1;
        int r = p->open_blob(p->ud, digest, &fd);
        if (r == -ENOENT && is_nondistributable(media_type))
                return 0; /* fetched by the runtime from its own URLs */
        if (r < 0)
                return berr_set(e, r, "blob %s is not in the berth store (%s): import the bundle again", digest,
                                strerror(-r));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size != size)
                return berr_set(e, -EBADMSG, "stored blob %s has %" PRIu64 " bytes, the manifest says %" PRIu64, digest,
                                (uint64_t)st.st_size, size);
        r = registry_blob_push(c, p->repo, digest, size, fd, e);
        if (r < 0)
                return berr_prefix(e, r, "blob %s (%" PRIu64 " bytes)", digest, size);
        return 0;
}

struct blob_job {
        const char *digest;
        uint64_t size;
        const char *media_type;
        bool done;
};

struct pool {
        struct push *p;
        struct blob_job *jobs;
        size_t n;
        size_t next;
        pthread_mutex_t lock;
        int err;
        berr e;
};

struct worker {
        struct pool *pool;
        struct registry_client *c;
        pthread_t thread;
        bool started;
};

static void *worker_main(void *ud)
{
        struct worker *w = ud;
        struct pool *pool = w->pool;
        for (;;) {
                pthread_mutex_lock(&pool->lock);
                bool stop = pool->err < 0 || pool->next >= pool->n;
                size_t i = pool->next++;
                pthread_mutex_unlock(&pool->lock);
                if (stop)
                        break;
                struct blob_job *j = &pool->jobs[i];
                berr e = {0};
                int r = push_blob(pool->p, w->c, j->digest, j->size, j->media_type, &e);
                pthread_mutex_lock(&pool->lock);
                if (r < 0 && pool->err >= 0) {
                        pool->err = r;
                        pool->e = e;
                }
                j->done = r >= 0;
                pthread_mutex_unlock(&pool->lock);
                if (r < 0)
                        break;
        }
        return NULL;
}

/* Pushes n blobs, up to registry_client_parallel() at once. */
static int push_blobs(struct push *p, struct blob_job *jobs, size_t n, berr *e)
{
        size_t nw = registry_client_parallel(p->c);
        if (nw > n)
                nw = n;
        if (nw <= 1) {
                for (size_t i = 0; i < n; i++) {
                        int r = push_blob(p, p->c, jobs[i].digest, jobs[i].size, jobs[i].media_type, e);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        struct pool pool = {.p = p, .jobs = jobs, .n = n};
        struct worker w[REGISTRY_MAX_PARALLEL] = {0};
        int r = 0;
        if (pthread_mutex_init(&pool.lock, NULL) != 0)
                return -ENOMEM;
        for (size_t i = 0; i < nw && r >= 0; i++) {
                w[i].pool = &pool;
                r = registry_client_clone(p->c, &w[i].c);
                if (r >= 0) {
                        int k = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
                        if (k != 0)
                                r = -k;
                        else
                                w[i].started = true;
                }
        }
        if (r < 0) {
                /* Let the started workers stop after their current blob. */
                pthread_mutex_lock(&pool.lock);
                if (pool.err >= 0)
                        pool.err = r;
                pthread_mutex_unlock(&pool.lock);
        }
        for (size_t i = 0; i < nw; i++) {
                if (w[i].started)
                        pthread_join(w[i].thread, NULL);
                if (w[i].c) {
                        registry_client_add_stats(p->c, registry_client_stats(w[i].c));
                        registry_client_free(w[i].c);
                }
        }
        pthread_mutex_destroy(&pool.lock);
        for (size_t i = 0; i < n; i++)
                if (jobs[i].done)
                        registry_client_note_blob(p->c, p->repo, jobs[i].digest);
        if (pool.err < 0) {
                if (pool.e.msg[0] && e && !e->msg[0])
                        *e = pool.e;
                return r < 0 && !pool.e.msg[0] ? berr_set(e, r, "cannot start upload workers") : pool.err;
        }
        return r;
}

static int descriptor(json_t *d, const char **digest, uint64_t *size, const char **mt, berr *e)
{
        json_t *js = json_object_get(d, "size");
        *digest = json_string_value(json_object_get(d, "digest"));
        *mt = json_string_value(json_object_get(d, "mediaType"));
        if (!json_is_object(d) || !*digest || !json_is_integer(js) || json_integer_value(js) < 0)
                return berr_set(e, -EBADMSG, "a descriptor lacks digest or size");
        *size = (uint64_t)json_integer_value(js);
        return 0;
}

static bool local_has(struct push *p, const char *digest)
{
        _cleanup_close_ int fd = -1;
        return digest_valid(digest) && p->open_blob(p->ud, digest, &fd) >= 0;
}

/* Pushes the manifest or index digest and, first, everything it references. */
static int push_manifest(struct push *p, const char *digest, const char *mt_hint, int depth, berr *e)
{
        if (depth > MAX_DEPTH)
                return berr_set(e, -ELOOP, "index nesting deeper than %d at %s", MAX_DEPTH, digest);
        if (!digest_valid(digest))
                return berr_set(e, -EBADMSG, "invalid manifest digest '%s'", digest);
        if (registry_client_knows(p->c, p->repo, digest))
                return 0;
        int r = registry_manifest_exists(p->c, p->repo, digest, digest, e);
        if (r < 0)
                return berr_prefix(e, r, "manifest %s", digest);
        if (r > 0) {
                /* The registry only accepts a manifest whose references it has, so
                 * everything below is there too. */
                registry_client_note_blob(p->c, p->repo, digest);
                return 0;
        }

        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        r = read_manifest(p, digest, &buf, &len, e);
        if (r < 0)
                return r;
        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *root = json_loadb(buf, len, 0, &jerr);
        if (!json_is_object(root))
                return berr_set(e, -EBADMSG, "manifest %s is not a JSON object (%s)", digest, jerr.text);
        const char *mt = json_string_value(json_object_get(root, "mediaType"));
        if (!mt)
                mt = mt_hint;
        json_t *children = json_object_get(root, "manifests");
        if (!mt)
                mt = json_is_array(children) ? "application/vnd.oci.image.index.v1+json"
                                             : "application/vnd.oci.image.manifest.v1+json";
        if (!is_manifest_type(mt))
                return berr_set(e, -EBADMSG, "manifest %s has unsupported media type %s", digest, mt);

        if (is_index_type(mt)) {
                if (!json_is_array(children) || json_array_size(children) > MAX_CHILDREN)
                        return berr_set(e, -EBADMSG, "index %s has no usable \"manifests\" list", digest);
                size_t i, missing = 0;
                json_t *d;
                json_array_foreach(children, i, d) {
                        const char *cd, *cmt;
                        uint64_t csize;
                        r = descriptor(d, &cd, &csize, &cmt, e);
                        if (r < 0)
                                return berr_prefix(e, r, "index %s entry %zu", digest, i);
                        /* A single-platform export lists the other platforms without their blobs. */
                        if (!local_has(p, cd)) {
                                r = digest_valid(cd) ? registry_manifest_exists(p->c, p->repo, cd, cd, e) : 0;
                                if (r < 0)
                                        return berr_prefix(e, r, "manifest %s", cd);
                                missing += r == 0;
                                continue;
                        }
                        r = push_manifest(p, cd, cmt, depth + 1, e);
                        if (r < 0)
                                return berr_prefix(e, r, "index %s", digest);
                }
                if (missing > 0) {
                        r = registry_manifest_put(p->c, p->repo, digest, mt, buf, len, digest, e);
                        if (r < 0)
                                return berr_prefix(e, r,
                                                   "index %s lists %zu platform manifest(s) the bundle lacks; this registry wants all: bundle a complete or a single-platform image",
                                                   digest, missing);
                        registry_client_note_blob(p->c, p->repo, digest);
                        return 0;
                }
        } else {
                json_t *config = json_object_get(root, "config");
                json_t *layers = json_object_get(root, "layers");
                if (!json_is_object(config) || !json_is_array(layers) || json_array_size(layers) > MAX_CHILDREN)
                        return berr_set(e, -EBADMSG, "manifest %s lacks config or layers", digest);
                size_t n = json_array_size(layers) + 1;
                _cleanup_free_ struct blob_job *jobs = calloc(n, sizeof *jobs);
                if (!jobs)
                        return -ENOMEM;
                size_t k = 0;
                for (size_t i = 0; i < n; i++) {
                        json_t *d = i == 0 ? config : json_array_get(layers, i - 1);
                        struct blob_job *j = &jobs[k];
                        r = descriptor(d, &j->digest, &j->size, &j->media_type, e);
                        if (r < 0)
                                return berr_prefix(e, r, "manifest %s %s", digest, i == 0 ? "config" : "layer");
                        if (!digest_valid(j->digest))
                                return berr_set(e, -EBADMSG, "invalid blob digest '%s' in manifest %s", j->digest,
                                                digest);
                        bool dup = false;
                        for (size_t q = 0; q < k; q++)
                                dup = dup || !strcmp(jobs[q].digest, j->digest);
                        if (!dup && !registry_client_knows(p->c, p->repo, j->digest))
                                k++;
                }
                r = push_blobs(p, jobs, k, e);
                if (r < 0)
                        return r;
        }
        r = registry_manifest_put(p->c, p->repo, digest, mt, buf, len, digest, e);
        if (r < 0)
                return berr_prefix(e, r, "manifest %s", digest);
        registry_client_note_blob(p->c, p->repo, digest);
        return 0;
}

int registry_push_image(struct registry_client *c, const struct registry_image *img, registry_blob_open_fn open_blob,
                        void *ud, berr *e)
{
        struct image_ref ref = {0};
        int r = image_ref_parse(img->ref, &ref);
        if (r < 0)
                return berr_set(e, r, "image reference '%s' is not valid", img->ref);
        _cleanup_free_ char *repo = NULL;
        r = mirror_repository(&ref, registry_client_prefix(c), &repo);
        if (r < 0) {
                image_ref_done(&ref);
                return berr_set(e, r, "image '%s' gives no valid repository name under prefix '%s': fix registry.prefix",
                                img->ref, registry_client_prefix(c));
        }
        if (ref.digest && strcmp(ref.digest, img->digest)) {
                image_ref_done(&ref);
                return berr_set(e, -EBADMSG, "image '%s' names digest %s but the bundle holds %s", img->ref,
                                ref.digest, img->digest);
        }
        struct push p = {.c = c, .open_blob = open_blob, .ud = ud, .repo = repo};

        /* A rerun: the tag already names this digest, so everything is there. */
        if (ref.tag) {
                r = registry_manifest_exists(c, repo, ref.tag, img->digest, e);
                if (r != 0) {
                        image_ref_done(&ref);
                        return r < 0 ? berr_prefix(e, r, "registry %s, repository %s", registry_client_url(c), repo)
                                     : 0;
                }
        }
        r = push_manifest(&p, img->digest, img->media_type, 0, e);
        if (r >= 0 && ref.tag) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                r = read_manifest(&p, img->digest, &buf, &len, e);
                if (r >= 0) {
                        const char *mt = img->media_type;
                        json_error_t jerr;
                        _cleanup_(json_decrefp) json_t *root = mt ? NULL : json_loadb(buf, len, 0, &jerr);
                        if (!mt)
                                mt = json_string_value(json_object_get(root, "mediaType"));
                        if (!mt)
                                mt = json_is_array(json_object_get(root, "manifests"))
                                             ? "application/vnd.oci.image.index.v1+json"
                                             : "application/vnd.oci.image.manifest.v1+json";
                        r = registry_manifest_put(c, repo, ref.tag, mt, buf, len, img->digest, e);
                        if (r < 0)
                                berr_prefix(e, r, "tag %s", ref.tag);
                }
        }
        if (r < 0)
                berr_prefix(e, r, "registry %s, repository %s", registry_client_url(c), repo);
        image_ref_done(&ref);
        return r;
}
