/* SPDX-License-Identifier: Apache-2.0 */
/* fixture.h — builds small signed bundles in-process for unit tests (no OCI archive
 * needed): N random blobs, a manifest listing them (the first blob doubles as the
 * image manifest descriptor), signed by freshly generated keys in a trust dir. */
#pragma once

#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>

#include "base/digest.h"
#include "base/timeutil.h"
#include "bundle/format.h"
#include "bundle/keys.h"
#include "bundle/signature.h"
#include "bundle/writer.h"

#define FX_MAX_BLOBS 8

struct fixture {
        char *dir;              /* temp root */
        char *trust;            /* trust dir with k1.pub (and k2.pub) */
        struct berth_key k1, k2;
        uint8_t *blob[FX_MAX_BLOBS];
        size_t blob_len[FX_MAX_BLOBS];
        char digest[FX_MAX_BLOBS][DIGEST_STR_LEN + 1];
        size_t n_blobs;
};

static inline void fx_init(struct fixture *f, size_t n_blobs, size_t blob_size)
{
        memset(f, 0, sizeof *f);
        f->dir = test_tmpdir("fx");
        f->trust = path_join(f->dir, "trust");
        char *keys = path_join(f->dir, "keys");
        berr e = {0};
        assert_int_equal(key_generate(keys, "k1", &f->k1, &e), 0);
        assert_int_equal(key_generate(keys, "k2", &f->k2, &e), 0);
        assert_int_equal(mkdir_p(f->trust, 0755), 0);
        char *src = path_join(keys, "k1.pub"), *dst = path_join(f->trust, "k1.pub");
        char *buf;
        size_t len;
        assert_int_equal(read_file_bounded(src, 4096, &buf, &len), 0);
        assert_int_equal(write_file_atomic(dst, buf, len, 0644), 0);
        free(buf);
        free(src);
        free(dst);
        free(keys);
        f->n_blobs = n_blobs;
        for (size_t i = 0; i < n_blobs; i++) {
                f->blob_len[i] = blob_size + i * 777; /* sizes that are not multiples of 512 */
                f->blob[i] = malloc(f->blob_len[i]);
                randombytes_buf(f->blob[i], f->blob_len[i]);
                sha256_buf_str(f->blob[i], f->blob_len[i], f->digest[i]);
        }
}

static inline void fx_trust_k2(struct fixture *f, unsigned threshold)
{
        char *src = path_join(f->dir, "keys/k2.pub"), *dst = path_join(f->trust, "k2.pub");
        char *buf;
        size_t len;
        assert_int_equal(read_file_bounded(src, 4096, &buf, &len), 0);
        assert_int_equal(write_file_atomic(dst, buf, len, 0644), 0);
        free(buf);
        free(src);
        free(dst);
        char t[8];
        int n = snprintf(t, sizeof t, "%u\n", threshold);
        char *tp = path_join(f->trust, "threshold");
        assert_int_equal(write_file_atomic(tp, t, (size_t)n, 0644), 0);
        free(tp);
}

static inline void fx_done(struct fixture *f)
{
        for (size_t i = 0; i < f->n_blobs; i++)
                free(f->blob[i]);
        key_wipe(&f->k1);
        key_wipe(&f->k2);
        free(f->trust);
        test_rmdir(f->dir);
}

/* Manifest text for the fixture's blobs; extra is spliced in as additional fields. */
static inline char *fx_manifest(struct fixture *f, const char *name, int64_t version, int64_t expires, const char *extra)
{
        json_t *blobs = json_array();
        for (size_t i = 0; i < f->n_blobs; i++)
                json_array_append_new(blobs, json_pack("{s:s,s:I,s:s}", "digest", f->digest[i], "size",
                                                       (json_int_t)f->blob_len[i], "mediaType",
                                                       i == 0 ? "application/vnd.oci.image.manifest.v1+json"
                                                              : "application/vnd.oci.image.layer.v1.tar"));
        char ex[32];
        time_format_rfc3339(expires, ex);
        json_t *m = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:[{s:s,s:s,s:s,s:I}],s:o}", "schemaVersion", 1, "mediaType",
                              BUNDLE_MANIFEST_MEDIA_TYPE, "name", name, "version", (json_int_t)version, "created",
                              "2026-01-01T00:00:00Z", "expires", ex, "images", "ref", "example.local/app:1", "mediaType",
                              "application/vnd.oci.image.manifest.v1+json", "digest", f->digest[0], "size",
                              (json_int_t)f->blob_len[0], "blobs", blobs);
        if (extra) {
                json_t *x = json_loads(extra, 0, NULL);
                assert_non_null(x);
                json_object_update(m, x);
                json_decref(x);
        }
        char *s = json_dumps(m, JSON_INDENT(2));
        json_decref(m);
        return s;
}

/* Writes a bundle of the fixture's blobs signed by the given keys; returns its path. */
/* The same, carrying roots (a roots.json document) when roots is not NULL. */
static inline char *fx_bundle_roots(struct fixture *f, const char *file, const char *manifest,
                                    const struct berth_key **keys, size_t n_keys, const char *roots)
{
        char *path = path_join(f->dir, file);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        struct bundle_signatures *s = signatures_new();
        for (size_t i = 0; i < n_keys; i++)
                assert_int_equal(signatures_add(s, keys[i], manifest, strlen(manifest)), 0);
        char *sj;
        size_t sl;
        assert_int_equal(signatures_serialize(s, &sj, &sl), 0);
        struct bundle_writer *w;
        berr e = {0};
        assert_int_equal(bundle_writer_new(fd, &w, &e), 0);
        assert_int_equal(bundle_writer_head(w, manifest, strlen(manifest), sj, sl, &e), 0);
        if (roots)
                assert_int_equal(bundle_writer_roots(w, roots, strlen(roots), &e), 0);
        for (size_t i = 0; i < f->n_blobs; i++) {
                assert_int_equal(bundle_writer_blob_begin(w, f->digest[i], f->blob_len[i], &e), 0);
                assert_int_equal(bundle_writer_blob_data(w, f->blob[i], f->blob_len[i], &e), 0);
        }
        assert_int_equal(bundle_writer_close(w, &e), 0);
        bundle_writer_free(w);
        close(fd);
        free(sj);
        signatures_free(s);
        return path;
}

static inline char *fx_bundle(struct fixture *f, const char *file, const char *manifest, const struct berth_key **keys,
                              size_t n_keys)
{
        return fx_bundle_roots(f, file, manifest, keys, n_keys, NULL);
}

static inline char *fx_default_bundle(struct fixture *f, const char *file, int64_t version)
{
        char *m = fx_manifest(f, "app", version, 4102444800 /* 2100-01-01 */, NULL);
        const struct berth_key *k[] = {&f->k1};
        char *p = fx_bundle(f, file, m, k, 1);
        free(m);
        return p;
}
