/* SPDX-License-Identifier: Apache-2.0 */
/* oci_archive.c — sequential reader of OCI image-layout archives (see oci_archive.h). */
#include "bundle/oci_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#include "bundle/format.h"

#define OCI_MAX_JSON (4u * 1024 * 1024)
#define OCI_MAX_ENTRIES 100000u

void oci_archive_free(struct oci_archive *a)
{
        if (!a)
                return;
        free(a->path);
        json_decref(a->index);
        free(a->blobs);
        free(a);
}

static int open_archive(const char *path, struct archive **ret, berr *e)
{
        struct archive *ar = archive_read_new();
        if (!ar)
                return -ENOMEM;
        archive_read_support_format_tar(ar);
        archive_read_support_filter_all(ar);
        if (archive_read_open_filename(ar, path, 1024 * 1024) != ARCHIVE_OK) {
                int r = berr_set(e, -EBADMSG, "cannot open image archive %s: %s", path, archive_error_string(ar));
                archive_read_free(ar);
                return r;
        }
        *ret = ar;
        return 0;
}

/* "blobs/sha256/<hex>" (optionally "./"-prefixed) → digest; false for anything else. */
static bool entry_blob_digest(const char *p, char out[DIGEST_STR_LEN + 1])
{
        if (!strncmp(p, "./", 2))
                p += 2;
        if (strncmp(p, "blobs/sha256/", 13) != 0 || strlen(p + 13) != DIGEST_HEX_LEN)
                return false;
        snprintf(out, DIGEST_STR_LEN + 1, "sha256:%s", p + 13);
        return digest_valid(out);
}

static bool entry_is(const char *p, const char *name)
{
        if (!strncmp(p, "./", 2))
                p += 2;
        return !strcmp(p, name);
}

static int read_entry_json(struct archive *ar, struct archive_entry *ent, const char *what, json_t **ret, berr *e)
{
        la_int64_t size = archive_entry_size(ent);
        if (size < 0 || (uint64_t)size > OCI_MAX_JSON)
                return berr_set(e, -EFBIG, "%s is too large (%lld bytes, limit %u)", what, (long long)size, OCI_MAX_JSON);
        _cleanup_free_ char *buf = malloc((size_t)size + 1);
        if (!buf)
                return -ENOMEM;
        la_ssize_t got = 0;
        while (got < size) {
                la_ssize_t n = archive_read_data(ar, buf + got, (size_t)(size - got));
                if (n <= 0)
                        return berr_set(e, -EBADMSG, "%s is truncated: %s", what, archive_error_string(ar));
                got += n;
        }
        json_error_t je;
        json_t *j = json_loadb(buf, (size_t)size, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return berr_set(e, -EBADMSG, "%s is not valid JSON (line %d: %s)", what, je.line, je.text);
        *ret = j;
        return 0;
}

int oci_archive_scan(const char *path, struct oci_archive **ret, berr *e)
{
        _cleanup_(oci_archive_freep) struct oci_archive *a = calloc(1, sizeof *a);
        if (!a || !(a->path = strdup(path)))
                return -ENOMEM;
        struct archive *ar;
        int r = open_archive(path, &ar, e);
        if (r < 0)
                return r;
        size_t cap = 0;
        bool layout = false;
        struct archive_entry *ent;
        int k;
        while ((k = archive_read_next_header(ar, &ent)) == ARCHIVE_OK) {
                const char *p = archive_entry_pathname(ent);
                if (!p || archive_entry_filetype(ent) != AE_IFREG)
                        continue;
                char d[DIGEST_STR_LEN + 1];
                if (entry_is(p, "index.json")) {
                        json_decref(a->index);
                        a->index = NULL;
                        r = read_entry_json(ar, ent, "index.json", &a->index, e);
                        if (r < 0)
                                break;
                } else if (entry_is(p, "oci-layout")) {
                        layout = true;
                } else if (entry_blob_digest(p, d)) {
                        if (oci_archive_find(a, d))
                                continue; /* a repeated entry: tar semantics say the last wins; we keep the first */
                        if (a->n_blobs == OCI_MAX_ENTRIES) {
                                r = berr_set(e, -EFBIG, "image archive %s has more than %u blobs", path, OCI_MAX_ENTRIES);
                                break;
                        }
                        if (a->n_blobs == cap) {
                                cap = cap ? cap * 2 : 64;
                                struct oci_blob_entry *nb = realloc(a->blobs, cap * sizeof *nb);
                                if (!nb) {
                                        r = -ENOMEM;
                                        break;
                                }
                                a->blobs = nb;
                        }
                        struct oci_blob_entry *b = &a->blobs[a->n_blobs];
                        memcpy(b->digest, d, sizeof d);
                        b->size = (uint64_t)archive_entry_size(ent);
                        b->position = a->n_blobs++;
                }
        }
        if (r >= 0 && k != ARCHIVE_EOF)
                r = berr_set(e, -EBADMSG, "image archive %s is damaged or not a tar archive: %s", path,
                             archive_error_string(ar));
        archive_read_free(ar);
        if (r < 0)
                return berr_prefix(e, r, "image archive %s", path);
        if (!a->index)
                return berr_set(e, -EBADMSG,
                                "%s is not an OCI image layout archive (no index.json); export it with 'skopeo copy ... "
                                "oci-archive:FILE', 'ctr images export' or 'docker save' (Docker 25 or newer)", path);
        if (!layout)
                return berr_set(e, -EBADMSG, "%s has no oci-layout file; not an OCI image layout archive", path);
        *ret = TAKE_PTR(a);
        return 0;
}

const struct oci_blob_entry *oci_archive_find(const struct oci_archive *a, const char *digest)
{
        for (size_t i = 0; i < a->n_blobs; i++)
                if (!strcmp(a->blobs[i].digest, digest))
                        return &a->blobs[i];
        return NULL;
}

int oci_archive_read_json(struct oci_archive *a, const char *const *digests, size_t n, json_t **out, berr *e)
{
        struct archive *ar;
        int r = open_archive(a->path, &ar, e);
        if (r < 0)
                return r;
        size_t found = 0;
        struct archive_entry *ent;
        int k;
        while (found < n && (k = archive_read_next_header(ar, &ent)) == ARCHIVE_OK) {
                char d[DIGEST_STR_LEN + 1];
                const char *p = archive_entry_pathname(ent);
                if (!p || archive_entry_filetype(ent) != AE_IFREG || !entry_blob_digest(p, d))
                        continue;
                for (size_t i = 0; i < n; i++) {
                        if (out[i] || strcmp(digests[i], d) != 0)
                                continue;
                        char what[128];
                        snprintf(what, sizeof what, "blob %s", d);
                        r = read_entry_json(ar, ent, what, &out[i], e);
                        if (r < 0)
                                goto done;
                        found++;
                        break;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (!out[i]) {
                        r = berr_set(e, -ENOENT, "blob %s is missing from the archive", digests[i]);
                        break;
                }
done:
        archive_read_free(ar);
        return r < 0 ? berr_prefix(e, r, "image archive %s", a->path) : 0;
}

int oci_archive_stream(struct oci_archive *a, const struct oci_blob_sink *s, berr *e)
{
        struct archive *ar;
        int r = open_archive(a->path, &ar, e);
        if (r < 0)
                return r;
        struct archive_entry *ent;
        int k;
        while ((k = archive_read_next_header(ar, &ent)) == ARCHIVE_OK) {
                char d[DIGEST_STR_LEN + 1];
                const char *p = archive_entry_pathname(ent);
                if (!p || archive_entry_filetype(ent) != AE_IFREG || !entry_blob_digest(p, d) || !s->want(s->ud, d))
                        continue;
                r = s->begin(s->ud, d, (uint64_t)archive_entry_size(ent));
                if (r < 0)
                        break;
                const void *buf;
                size_t len;
                la_int64_t off;
                while ((k = archive_read_data_block(ar, &buf, &len, &off)) == ARCHIVE_OK) {
                        r = s->data(s->ud, buf, len);
                        if (r < 0)
                                break;
                }
                if (r < 0)
                        break;
                if (k != ARCHIVE_EOF) {
                        r = berr_set(e, -EBADMSG, "blob %s is truncated: %s", d, archive_error_string(ar));
                        break;
                }
                r = s->end(s->ud, d);
                if (r < 0)
                        break;
        }
        if (r >= 0 && k != ARCHIVE_EOF)
                r = berr_set(e, -EBADMSG, "archive is damaged: %s", archive_error_string(ar));
        archive_read_free(ar);
        return r < 0 ? berr_prefix(e, r, "image archive %s", a->path) : 0;
}
