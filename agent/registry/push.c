/* push.c — see push.h. Walks manifests with jansson; blobs are streamed by the client. */
#include "registry/push.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
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

static int push_blob(struct push *p, const char *digest, uint64_t size, const char *media_type, berr *e)
{
        if (!digest_valid(digest))
                return berr_set(e, -EBADMSG, "invalid blob digest '%s' in a manifest", digest);
        if (registry_client_knows(p->c, p->repo, digest))
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
        r = registry_blob_push(p->c, p->repo, digest, size, fd, e);
        if (r < 0)
                return berr_prefix(e, r, "blob %s (%" PRIu64 " bytes)", digest, size);
        return 0;
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
                size_t i;
                json_t *d;
                json_array_foreach(children, i, d) {
                        const char *cd, *cmt;
                        uint64_t csize;
                        r = descriptor(d, &cd, &csize, &cmt, e);
                        if (r < 0)
                                return berr_prefix(e, r, "index %s entry %zu", digest, i);
                        r = push_manifest(p, cd, cmt, depth + 1, e);
                        if (r < 0)
                                return berr_prefix(e, r, "index %s", digest);
                }
        } else {
                json_t *config = json_object_get(root, "config");
                json_t *layers = json_object_get(root, "layers");
                if (!json_is_object(config) || !json_is_array(layers) || json_array_size(layers) > MAX_CHILDREN)
                        return berr_set(e, -EBADMSG, "manifest %s lacks config or layers", digest);
                const char *bd, *bmt;
                uint64_t bsize;
                r = descriptor(config, &bd, &bsize, &bmt, e);
                if (r < 0)
                        return berr_prefix(e, r, "manifest %s config", digest);
                r = push_blob(p, bd, bsize, bmt, e);
                if (r < 0)
                        return r;
                size_t i;
                json_t *d;
                json_array_foreach(layers, i, d) {
                        r = descriptor(d, &bd, &bsize, &bmt, e);
                        if (r < 0)
                                return berr_prefix(e, r, "manifest %s layer %zu", digest, i);
                        r = push_blob(p, bd, bsize, bmt, e);
                        if (r < 0)
                                return r;
                }
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
