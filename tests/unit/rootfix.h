/* SPDX-License-Identifier: Apache-2.0 */
/* rootfix.h — trust roots for unit tests: keys generated into a temp dir, roots built,
 * signed and written with the library's own functions (test_root.c checks those against
 * hand-written documents first). */
#pragma once

#include "testutil.h"

#include <errno.h>

#include "base/timeutil.h"
#include "bundle/keys.h"
#include "bundle/root.h"
#include "bundle/rootchain.h"

#define RF_FAR 4102444800 /* 2100-01-01 */

static inline struct berth_key rf_key(const char *dir, const char *name)
{
        struct berth_key k;
        berr e = {0};
        assert_int_equal(key_generate(dir, name, &k, &e), 0);
        return k;
}

/* A root with root keys rk[0..nr) (threshold rt) and release keys lk[0..nl) (threshold lt),
 * signed by every key in signers (NULL-terminated). */
static inline struct trust_root *rf_root(int64_t version, int64_t expires, const struct berth_key *const *rk, size_t nr,
                                         unsigned rt, const struct berth_key *const *lk, size_t nl, unsigned lt,
                                         const struct berth_key *const *signers)
{
        struct root_spec s = {.version = version, .expires = expires};
        for (size_t i = 0; i < nr; i++)
                s.keys[ROOT_ROLE_ROOT][i] = rk[i];
        for (size_t i = 0; i < nl; i++)
                s.keys[ROOT_ROLE_RELEASE][i] = lk[i];
        s.n[ROOT_ROLE_ROOT] = nr;
        s.n[ROOT_ROLE_RELEASE] = nl;
        s.threshold[ROOT_ROLE_ROOT] = rt;
        s.threshold[ROOT_ROLE_RELEASE] = lt;
        struct trust_root *r = NULL;
        berr e = {0};
        int q = root_build(&s, &r, &e);
        if (q < 0)
                fail_msg("root_build: %s", berr_msg(&e, q));
        for (size_t i = 0; signers && signers[i]; i++)
                assert_int_equal(root_sign(r, signers[i], &e), 0);
        return r;
}

/* Writes r's envelope to path. */
static inline void rf_write(const struct trust_root *r, const char *path)
{
        char *t;
        size_t l;
        assert_int_equal(root_serialize(r, &t, &l), 0);
        assert_int_equal(write_file_atomic(path, t, l, 0644), 0);
        free(t);
}

/* A chain of the given roots (copied through their envelopes; the caller keeps its roots). */
static inline struct root_chain *rf_chain(struct trust_root *const *roots, size_t n)
{
        struct root_chain *c = root_chain_new();
        assert_non_null(c);
        for (size_t i = 0; i < n; i++) {
                json_t *env = root_envelope_json(roots[i]);
                struct trust_root *copy = NULL;
                berr e = {0};
                assert_int_equal(root_parse_json(env, "test", &copy, &e), 0);
                json_decref(env);
                assert_int_equal(root_chain_add(c, copy, &e), 0);
        }
        return c;
}

/* Copies SRC_DIR/NAME.pub into DST_DIR. */
static inline void rf_copy_pub(const char *src_dir, const char *name, const char *dst_dir)
{
        char *src, *dst, *buf;
        size_t len;
        assert_true(asprintf(&src, "%s/%s.pub", src_dir, name) > 0);
        assert_true(asprintf(&dst, "%s/%s.pub", dst_dir, name) > 0);
        assert_int_equal(mkdir_p(dst_dir, 0755), 0);
        assert_int_equal(read_file_bounded(src, 4096, &buf, &len), 0);
        assert_int_equal(write_file_atomic(dst, buf, len, 0644), 0);
        free(buf);
        free(src);
        free(dst);
}
