/* SPDX-License-Identifier: Apache-2.0 */
/* test_reader.c — the strict reader against every kind of damage, byte by byte. */
#include "fixture.h"

#include <errno.h>

#include "bundle/reader.h"
#include "bundle/root.h"
#include "bundle/rootchain.h"
#include "bundle/rootstore.h"

/* Reads the whole bundle at path; returns 0 or the first error. */
static int read_all(const char *path, const char *trust_dir, berr *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct trust *t = NULL;
        assert_int_equal(trust_load(trust_dir, &t, e), 0);
        struct bundle_reader *r = NULL;
        int q = bundle_reader_new(fd, path, &r, e);
        if (q >= 0)
                q = bundle_reader_read_head(r, e);
        if (q >= 0)
                q = bundle_reader_verify(r, t, now_seconds(), e);
        const struct bundle_blob *b;
        while (q >= 0 && (q = bundle_reader_next_blob(r, &b, e)) > 0)
                q = bundle_reader_stream_blob(r, NULL, NULL, e);
        if (q >= 0)
                q = bundle_reader_finish(r, e);
        bundle_reader_free(r);
        trust_free(t);
        return q;
}

static void load(const char *path, uint8_t **buf, size_t *len)
{
        assert_int_equal(read_file_bounded(path, 64 << 20, (char **)buf, len), 0);
}

static char *store(struct fixture *f, const char *name, const uint8_t *buf, size_t len)
{
        /* No fsync: the loops below write thousands of variants. */
        char *p = path_join(f->dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, buf, len), 0);
        close(fd);
        return p;
}

static void test_good_and_every_byte(void **state)
{
        struct fixture f;
        fx_init(&f, 3, 700);
        char *p = fx_default_bundle(&f, "good.berth", 1);
        berr e = {0};
        assert_int_equal(read_all(p, f.trust, &e), 0);

        uint8_t *buf;
        size_t len;
        load(p, &buf, &len);
        /* Flip one bit at every single offset (headers, data, padding, trailer):
         * every flip must be caught. */
        size_t caught = 0, tried = 0;
        for (size_t off = 0; off < len; off += 1) {
                buf[off] ^= 0x01;
                char *q = store(&f, "flip.berth", buf, len);
                berr e2 = {0};
                int r = read_all(q, f.trust, &e2);
                if (r >= 0)
                        fail_msg("flipping byte %zu of %zu was not detected", off, len);
                caught++;
                tried++;
                buf[off] ^= 0x01;
                free(q);
        }
        assert_int_equal(caught, tried);
        /* Header blocks: every bit of every byte of the first two headers. Some
         * header bytes are not covered by the tar checksum (its own field) or are
         * ignored by libarchive; the reader compares headers byte for byte. */
        size_t hdrs[2] = {0, 0};
        char sz[13] = {0};
        memcpy(sz, buf + 124, 11);
        hdrs[1] = 512 + ((strtoul(sz, NULL, 8) + 511) & ~(size_t)511);
        for (size_t h = 0; h < 2; h++)
                for (size_t off = hdrs[h]; off < hdrs[h] + 512; off++)
                        for (int bit = 1; bit < 8; bit++) { /* bit 0 was done above */
                                buf[off] ^= (uint8_t)(1u << bit);
                                char *q = store(&f, "flip.berth", buf, len);
                                berr e3 = {0};
                                if (read_all(q, f.trust, &e3) >= 0)
                                        fail_msg("flipping bit %d of header byte %zu was not detected", bit, off);
                                buf[off] ^= (uint8_t)(1u << bit);
                                free(q);
                        }
        free(buf);
        free(p);
        fx_done(&f);
}

static void test_truncations(void **state)
{
        struct fixture f;
        fx_init(&f, 2, 3000);
        char *p = fx_default_bundle(&f, "good.berth", 1);
        uint8_t *buf;
        size_t len;
        load(p, &buf, &len);
        size_t cuts[] = {0, 1, 511, 512, 1000, len / 2, len - 1024, len - 512, len - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
                char *q = store(&f, "cut.berth", buf, cuts[i]);
                berr e = {0};
                if (read_all(q, f.trust, &e) >= 0)
                        fail_msg("truncation to %zu bytes not detected", cuts[i]);
                free(q);
        }
        /* And trailing data. */
        uint8_t *longer = calloc(1, len + 512);
        memcpy(longer, buf, len);
        char *q = store(&f, "long.berth", longer, len + 512);
        berr e = {0};
        assert_int_equal(read_all(q, f.trust, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "after the end"));
        free(q);
        free(longer);
        free(buf);
        free(p);
        fx_done(&f);
}

static void test_expired_and_signatures(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 100);
        char *m = fx_manifest(&f, "app", 1, 1000000000 /* 2001 */, NULL);
        const struct berth_key *k1[] = {&f.k1}, *k2[] = {&f.k2};
        /* expires must be after created; build an expired manifest with an old created. */
        char *m2 = fx_manifest(&f, "app", 1, 1800000000, "{\"created\":\"2020-01-01T00:00:00Z\"}");
        free(m);
        setenv("BERTH_NOW", "2030-01-01T00:00:00Z", 1);
        char *p = fx_bundle(&f, "expired.berth", m2, k1, 1);
        berr e = {0};
        assert_int_equal(read_all(p, f.trust, &e), -EKEYEXPIRED);
        assert_non_null(strstr(e.msg, "expired"));
        unsetenv("BERTH_NOW");
        free(p);
        p = fx_bundle(&f, "k2.berth", m2, k2, 1);
        berr e2 = {0};
        assert_int_equal(read_all(p, f.trust, &e2), -EKEYREJECTED);
        free(p);
        free(m2);
        fx_done(&f);
}

static void test_unverified_inspect(void **state)
{
        struct fixture f;
        fx_init(&f, 2, 100);
        char *m = fx_manifest(&f, "app", 3, 4102444800, "{\"x-vendor\":{\"keep\":true}}");
        const struct berth_key *k2[] = {&f.k2};
        char *p = fx_bundle(&f, "b.berth", m, k2, 1);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct bundle_reader *r = NULL;
        berr e = {0};
        assert_int_equal(bundle_reader_new(fd, p, &r, &e), 0);
        assert_int_equal(bundle_reader_read_head(r, &e), 0);
        assert_int_equal(bundle_reader_parse_unverified(r, &e), 0);
        const void *mraw, *sraw;
        size_t ml, sl;
        bundle_reader_head_bytes(r, &mraw, &ml, &sraw, &sl);
        /* The exact signed bytes are what the reader hands out. */
        assert_int_equal(ml, strlen(m));
        assert_memory_equal(mraw, m, ml);
        assert_int_equal(bundle_reader_manifest(r)->version, 3);
        bundle_reader_free(r);
        free(p);
        free(m);
        fx_done(&f);
}

#include "bundle/tarheader.h"

static void test_canonical_header_matches_writer(void **state)
{
        struct fixture f;
        fx_init(&f, 3, 1);
        char *p = fx_default_bundle(&f, "good.berth", 1);
        uint8_t *buf;
        size_t len;
        load(p, &buf, &len);
        /* Walk the entries and compare each header with the recipe. */
        size_t off = 0;
        unsigned n = 0;
        while (off + 512 <= len && buf[off]) {
                char name[101] = {0}, sz[13] = {0};
                memcpy(name, buf + off, 100);
                memcpy(sz, buf + off + 124, 11);
                uint64_t size = strtoull(sz, NULL, 8);
                uint8_t canon[TAR_HEADER_SIZE];
                assert_true(tar_canonical_header(canon, name, size));
                assert_memory_equal(canon, buf + off, TAR_HEADER_SIZE);
                off += 512 + ((size + 511) & ~(uint64_t)511);
                n++;
        }
        assert_int_equal(n, 2 + 3);
        assert_int_equal(off + 1024, len);
        /* Limits of the recipe. */
        uint8_t h[TAR_HEADER_SIZE];
        assert_true(tar_canonical_header(h, "blobs/sha256/x", 077777777777ULL));
        assert_false(tar_canonical_header(h, "blobs/sha256/x", 0100000000000ULL));
        free(buf);
        free(p);
        fx_done(&f);
}

/* As a node reads it: the roots the bundle carries advance the trust dir's root (in
 * memory), then the bundle is checked against the result. */
static int read_with_roots(const char *path, const char *trust_dir, berr *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct root_store *s = NULL;
        assert_int_equal(root_store_open(trust_dir, NULL, ROOT_STORE_READONLY, &s, e), 0);
        struct bundle_reader *r = NULL;
        int q = bundle_reader_new(fd, path, &r, e);
        if (q >= 0)
                q = bundle_reader_read_head(r, e);
        const void *roots = NULL;
        size_t rlen = 0;
        if (q >= 0)
                bundle_reader_roots(r, &roots, &rlen);
        if (q >= 0 && roots)
                q = root_store_advance_json(s, roots, rlen, "roots.json", e);
        if (q >= 0)
                q = bundle_reader_verify(r, root_store_trust(s), now_seconds(), e);
        const struct bundle_blob *b;
        while (q >= 0 && (q = bundle_reader_next_blob(r, &b, e)) > 0)
                q = bundle_reader_stream_blob(r, NULL, NULL, e);
        if (q >= 0)
                q = bundle_reader_finish(r, e);
        bundle_reader_free(r);
        root_store_free(s);
        return q;
}

/* A bundle signed by a release key that only trust root version 2 knows, carrying that
 * root: the roots entry sits in the head, and no byte of the file (roots included)
 * can change without the bundle being refused. */
static void test_roots_entry(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 100);
        char *kd = path_join(f.dir, "keys");
        struct berth_key rk;
        berr e = {0};
        assert_int_equal(key_generate(kd, "root", &rk, &e), 0);
        /* v2: root key "root", release key k2; signed by k1 (the trust dir's key) and root. */
        struct root_spec spec = {.version = 2, .expires = 4102444800};
        spec.keys[ROOT_ROLE_ROOT][0] = &rk;
        spec.keys[ROOT_ROLE_RELEASE][0] = &f.k2;
        spec.n[ROOT_ROLE_ROOT] = spec.n[ROOT_ROLE_RELEASE] = 1;
        spec.threshold[ROOT_ROLE_ROOT] = spec.threshold[ROOT_ROLE_RELEASE] = 1;
        struct trust_root *v2 = NULL;
        assert_int_equal(root_build(&spec, &v2, &e), 0);
        assert_int_equal(root_sign(v2, &f.k1, &e), 0);
        assert_int_equal(root_sign(v2, &rk, &e), 0);
        struct root_chain *c = root_chain_new();
        assert_int_equal(root_chain_add(c, v2, &e), 0);
        char *roots;
        size_t rlen;
        assert_int_equal(root_chain_serialize(c, &roots, &rlen), 0);

        char *m = fx_manifest(&f, "app", 1, 4102444800, NULL);
        const struct berth_key *k2[] = {&f.k2};
        char *p = fx_bundle_roots(&f, "roots.berth", m, k2, 1, roots);
        assert_int_equal(read_with_roots(p, f.trust, &e), 0);
        /* Without the roots (the reader alone, the trust dir's keys) k2 is not trusted. */
        berr e1 = {0};
        assert_int_equal(read_all(p, f.trust, &e1), -EKEYREJECTED);
        /* The head: manifest, signatures, roots; blobs laid out after it. */
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct bundle_reader *r = NULL;
        assert_int_equal(bundle_reader_new(fd, p, &r, &e), 0);
        assert_int_equal(bundle_reader_read_head(r, &e), 0);
        const void *got;
        size_t gl;
        bundle_reader_roots(r, &got, &gl);
        assert_int_equal(gl, rlen);
        assert_memory_equal(got, roots, rlen);
        const void *mb, *sb;
        size_t ml, sl;
        bundle_reader_head_bytes(r, &mb, &ml, &sb, &sl);
        assert_int_equal(bundle_reader_head_size(r), bundle_head_size(ml, sl, rlen));
        assert_int_equal(bundle_reader_parse_unverified(r, &e), 0);
        assert_int_equal(bundle_reader_manifest(r)->blobs[0].header_offset, bundle_head_size(ml, sl, rlen));
        bundle_reader_free(r);

        uint8_t *buf;
        size_t len;
        load(p, &buf, &len);
        for (size_t off = 0; off < len; off++) {
                buf[off] ^= 0x01;
                char *q = store(&f, "flip.berth", buf, len);
                berr e2 = {0};
                if (read_with_roots(q, f.trust, &e2) >= 0)
                        fail_msg("flipping byte %zu of %zu (roots entry at %llu) was not detected", off, len,
                                 (unsigned long long)bundle_head_size(ml, sl, 0));
                buf[off] ^= 0x01;
                free(q);
        }
        free(buf);
        free(p);
        free(m);
        free(roots);
        free(kd);
        root_chain_free(c);
        key_wipe(&rk);
        fx_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_and_every_byte), cmocka_unit_test(test_truncations),
                cmocka_unit_test(test_expired_and_signatures), cmocka_unit_test(test_unverified_inspect),
                cmocka_unit_test(test_canonical_header_matches_writer), cmocka_unit_test(test_roots_entry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
