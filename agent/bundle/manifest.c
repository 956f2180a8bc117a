/* SPDX-License-Identifier: Apache-2.0 */
/* manifest.c — strict parser for the bundle manifest (see README.md in this folder).
 *
 * Every field that later code relies on is validated here, with a message that names
 * the field; the parsed view never outlives the json_t it points into.
 */
#include "bundle/manifest.h"

#include <errno.h>
#include <string.h>

#include "base/timeutil.h"
#include "bundle/format.h"

void bundle_manifest_free(struct bundle_manifest *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n_images; i++) {
                free(m->images[i].ref);
                free(m->images[i].media_type);
        }
        for (size_t i = 0; i < m->n_blobs; i++)
                free(m->blobs[i].media_type);
        free(m->images);
        free(m->blobs);
        free(m->name);
        json_decref(m->root);
        free(m);
}

bool bundle_name_valid(const char *name)
{
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > BUNDLE_MAX_NAME_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

bool image_ref_valid(const char *ref)
{
        size_t n = ref ? strlen(ref) : 0;
        if (n == 0 || n > BUNDLE_MAX_REF_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)ref[i] <= ' ' || (unsigned char)ref[i] >= 0x7f)
                        return false;
        return ref[0] != '/' && ref[0] != ':' && ref[0] != '@';
}

bool media_type_is_index(const char *mt)
{
        return mt && (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
                      !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

bool media_type_is_manifest(const char *mt)
{
        return mt && (!strcmp(mt, "application/vnd.oci.image.manifest.v1+json") ||
                      !strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json"));
}

bool media_type_is_document(const char *mt)
{
        return media_type_is_index(mt) || media_type_is_manifest(mt);
}

bool media_type_is_config(const char *mt)
{
        return mt && (!strcmp(mt, "application/vnd.oci.image.config.v1+json") ||
                      !strcmp(mt, "application/vnd.docker.container.image.v1+json"));
}

static bool media_type_valid(const char *mt)
{
        size_t n = mt ? strlen(mt) : 0;
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)mt[i] <= ' ' || (unsigned char)mt[i] >= 0x7f)
                        return false;
        return strchr(mt, '/') != NULL;
}

static int get_string(json_t *obj, const char *key, const char *where, const char **ret, berr *e)
{
        json_t *v = json_object_get(obj, key);
        if (!v)
                return berr_set(e, -EBADMSG, "manifest: %s: missing field \"%s\"", where, key);
        if (!json_is_string(v))
                return berr_set(e, -EBADMSG, "manifest: %s: field \"%s\" must be a string", where, key);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return berr_set(e, -EBADMSG, "manifest: %s: field \"%s\" contains a NUL byte", where, key);
        *ret = json_string_value(v);
        return 0;
}

static int get_size(json_t *obj, const char *key, const char *where, uint64_t max, uint64_t *ret, berr *e)
{
        json_t *v = json_object_get(obj, key);
        if (!v)
                return berr_set(e, -EBADMSG, "manifest: %s: missing field \"%s\"", where, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return berr_set(e, -EBADMSG, "manifest: %s: field \"%s\" must be a non-negative integer", where, key);
        if ((uint64_t)json_integer_value(v) > max)
                return berr_set(e, -EFBIG, "manifest: %s: %s %lld exceeds the limit of %llu", where, key,
                                (long long)json_integer_value(v), (unsigned long long)max);
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}

static int get_time(json_t *obj, const char *key, int64_t *ret, berr *e)
{
        const char *s;
        int r = get_string(obj, key, "top level", &s, e);
        if (r < 0)
                return r;
        if (time_parse_rfc3339(s, ret) < 0)
                return berr_set(e, -EBADMSG, "manifest: field \"%s\" is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ): '%s'",
                                key, s);
        return 0;
}

static int parse_blobs(struct bundle_manifest *m, json_t *arr, berr *e)
{
        if (!json_is_array(arr))
                return berr_set(e, -EBADMSG, "manifest: field \"blobs\" must be an array");
        size_t n = json_array_size(arr);
        if (n > BUNDLE_MAX_BLOBS)
                return berr_set(e, -EFBIG, "manifest: %zu blobs exceed the limit of %u", n, BUNDLE_MAX_BLOBS);
        m->blobs = calloc(n ? n : 1, sizeof *m->blobs);
        if (!m->blobs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *b = json_array_get(arr, i);
                char where[48];
                snprintf(where, sizeof where, "blobs[%zu]", i);
                if (!json_is_object(b))
                        return berr_set(e, -EBADMSG, "manifest: %s must be an object", where);
                const char *digest, *mt;
                struct bundle_blob *bl = &m->blobs[i];
                int r = get_string(b, "digest", where, &digest, e);
                if (r < 0)
                        return r;
                if (!digest_valid(digest))
                        return berr_set(e, -EBADMSG, "manifest: %s: digest '%.80s' is not sha256:<64 lowercase hex>", where, digest);
                r = get_size(b, "size", where, BUNDLE_MAX_BLOB_SIZE, &bl->size, e);
                if (r < 0)
                        return r;
                r = get_string(b, "mediaType", where, &mt, e);
                if (r < 0)
                        return r;
                if (!media_type_valid(mt))
                        return berr_set(e, -EBADMSG, "manifest: %s: mediaType '%.80s' is not a valid media type", where, mt);
                /* Quadratic, but n is bounded by BUNDLE_MAX_BLOBS and this runs once. */
                for (size_t j = 0; j < m->n_blobs; j++)
                        if (!strcmp(m->blobs[j].digest, digest))
                                return berr_set(e, -EBADMSG, "manifest: %s: blob %s is listed twice", where, digest);
                memcpy(bl->digest, digest, DIGEST_STR_LEN + 1);
                bl->media_type = strdup(mt);
                if (!bl->media_type)
                        return -ENOMEM;
                m->n_blobs++;
                m->total_blob_size += bl->size;
                if (m->total_blob_size > BUNDLE_MAX_TOTAL_SIZE)
                        return berr_set(e, -EFBIG, "manifest: blobs total more than the limit of %llu bytes",
                                        (unsigned long long)BUNDLE_MAX_TOTAL_SIZE);
        }
        return 0;
}

static int parse_images(struct bundle_manifest *m, json_t *arr, berr *e)
{
        if (!json_is_array(arr))
                return berr_set(e, -EBADMSG, "manifest: field \"images\" must be an array");
        size_t n = json_array_size(arr);
        if (n > BUNDLE_MAX_IMAGES)
                return berr_set(e, -EFBIG, "manifest: %zu images exceed the limit of %u", n, BUNDLE_MAX_IMAGES);
        m->images = calloc(n ? n : 1, sizeof *m->images);
        if (!m->images)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_array_get(arr, i);
                char where[48];
                snprintf(where, sizeof where, "images[%zu]", i);
                if (!json_is_object(o))
                        return berr_set(e, -EBADMSG, "manifest: %s must be an object", where);
                const char *ref, *digest, *mt;
                struct bundle_image *im = &m->images[i];
                int r = get_string(o, "ref", where, &ref, e);
                if (r < 0)
                        return r;
                if (!image_ref_valid(ref))
                        return berr_set(e, -EBADMSG, "manifest: %s: ref '%.80s' is not a valid image reference", where, ref);
                for (size_t j = 0; j < m->n_images; j++)
                        if (!strcmp(m->images[j].ref, ref))
                                return berr_set(e, -EBADMSG, "manifest: %s: image '%s' is listed twice", where, ref);
                r = get_string(o, "digest", where, &digest, e);
                if (r < 0)
                        return r;
                if (!digest_valid(digest))
                        return berr_set(e, -EBADMSG, "manifest: %s: digest '%.80s' is not sha256:<64 lowercase hex>", where, digest);
                r = get_string(o, "mediaType", where, &mt, e);
                if (r < 0)
                        return r;
                if (!media_type_is_manifest(mt) && !media_type_is_index(mt))
                        return berr_set(e, -EBADMSG, "manifest: %s: mediaType '%.80s' is not an OCI/Docker manifest or index", where, mt);
                r = get_size(o, "size", where, BUNDLE_MAX_MANIFEST_SIZE, &im->size, e);
                if (r < 0)
                        return r;
                const struct bundle_blob *b = bundle_manifest_find_blob(m, digest);
                if (!b)
                        return berr_set(e, -EBADMSG, "manifest: %s: image '%s' points at %s, which is not among the blobs",
                                        where, ref, digest);
                if (b->size != im->size)
                        return berr_set(e, -EBADMSG, "manifest: %s: size %llu disagrees with blob %s (%llu bytes)", where,
                                        (unsigned long long)im->size, digest, (unsigned long long)b->size);
                memcpy(im->digest, digest, DIGEST_STR_LEN + 1);
                im->ref = strdup(ref);
                im->media_type = strdup(mt);
                m->n_images++;
                if (!im->ref || !im->media_type)
                        return -ENOMEM;
        }
        return 0;
}

int bundle_manifest_parse(const void *buf, size_t len, struct bundle_manifest **ret, berr *e)
{
        if (len > BUNDLE_MAX_MANIFEST_SIZE)
                return berr_set(e, -EFBIG, "manifest: %zu bytes exceed the limit of %u", len, BUNDLE_MAX_MANIFEST_SIZE);

        _cleanup_(bundle_manifest_freep) struct bundle_manifest *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        json_error_t je;
        m->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!m->root)
                return berr_set(e, -EBADMSG, "manifest: not valid JSON (line %d, column %d: %s)", je.line, je.column, je.text);
        if (!json_is_object(m->root))
                return berr_set(e, -EBADMSG, "manifest: top level must be a JSON object");

        json_t *sv = json_object_get(m->root, "schemaVersion");
        if (!json_is_integer(sv) || json_integer_value(sv) != 1)
                return berr_set(e, -EBADMSG, "manifest: schemaVersion must be 1 (this berth reads version 1 manifests)");
        const char *s;
        int r = get_string(m->root, "mediaType", "top level", &s, e);
        if (r < 0)
                return r;
        if (strcmp(s, BUNDLE_MANIFEST_MEDIA_TYPE) != 0)
                return berr_set(e, -EBADMSG, "manifest: mediaType '%.80s' is not %s", s, BUNDLE_MANIFEST_MEDIA_TYPE);
        r = get_string(m->root, "name", "top level", &s, e);
        if (r < 0)
                return r;
        if (!bundle_name_valid(s))
                return berr_set(e, -EBADMSG, "manifest: name '%.80s' is invalid (letters, digits, '.', '_', '-'; at most %u)",
                                s, BUNDLE_MAX_NAME_LEN);
        m->name = strdup(s);
        if (!m->name)
                return -ENOMEM;
        json_t *v = json_object_get(m->root, "version");
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > BUNDLE_MAX_VERSION)
                return berr_set(e, -EBADMSG, "manifest: version must be an integer between 1 and %lld", BUNDLE_MAX_VERSION);
        m->version = json_integer_value(v);
        r = get_time(m->root, "created", &m->created, e);
        if (r < 0)
                return r;
        r = get_time(m->root, "expires", &m->expires, e);
        if (r < 0)
                return r;
        if (m->expires <= m->created)
                return berr_set(e, -EBADMSG, "manifest: expires must be later than created");

        r = parse_blobs(m, json_object_get(m->root, "blobs"), e);
        if (r < 0)
                return r;
        r = parse_images(m, json_object_get(m->root, "images"), e);
        if (r < 0)
                return r;
        if (m->n_images == 0)
                return berr_set(e, -EBADMSG, "manifest: a bundle must carry at least one image");
        json_t *w = json_object_get(m->root, "workloads");
        if (w && !json_is_array(w))
                return berr_set(e, -EBADMSG, "manifest: field \"workloads\" must be an array");

        r = sha256_buf_str(buf, len, m->digest);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

const struct bundle_blob *bundle_manifest_find_blob(const struct bundle_manifest *m, const char *digest)
{
        for (size_t i = 0; i < m->n_blobs; i++)
                if (!strcmp(m->blobs[i].digest, digest))
                        return &m->blobs[i];
        return NULL;
}

uint64_t bundle_head_size(uint64_t manifest_size, uint64_t signatures_size, uint64_t roots_size)
{
        uint64_t off = BUNDLE_TAR_BLOCK + tar_padded(manifest_size) + BUNDLE_TAR_BLOCK + tar_padded(signatures_size);
        return roots_size ? off + BUNDLE_TAR_BLOCK + tar_padded(roots_size) : off;
}

void bundle_manifest_layout(struct bundle_manifest *m, uint64_t head_size)
{
        uint64_t off = head_size;
        for (size_t i = 0; i < m->n_blobs; i++) {
                m->blobs[i].header_offset = off;
                m->blobs[i].data_offset = off + BUNDLE_TAR_BLOCK;
                off += BUNDLE_TAR_BLOCK + tar_padded(m->blobs[i].size);
        }
}

uint64_t bundle_manifest_file_size(const struct bundle_manifest *m, uint64_t head_size)
{
        uint64_t off = head_size;
        for (size_t i = 0; i < m->n_blobs; i++)
                off += BUNDLE_TAR_BLOCK + tar_padded(m->blobs[i].size);
        return off + 2 * BUNDLE_TAR_BLOCK;
}
