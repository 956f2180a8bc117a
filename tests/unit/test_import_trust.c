/* SPDX-License-Identifier: Apache-2.0 */
/* test_import_trust.c — the import path under trust roots, at download (the head check,
 * import_head_verify) and from a file (USB/CLI): roots carried by a bundle advance the
 * node, a revoked release key's new bundle is refused, a node several versions behind
 * catches up from one bundle, an expired root refuses bundles until a newer one comes,
 * a bad root in a bundle is refused and changes nothing. */
#include "fixture.h"
#include "rootfix.h"

#include <errno.h>

#include "bundle/rootstore.h"
#include "fetch/plan.h"
#include "import/import.h"
#include "store/db.h"

#define Y2030 1893456000
#define Y2031 1924992000

struct env {
        struct fixture f;
        char *state;
        struct berth_key r1, r2;
        struct trust_root *v2, *v3, *v4, *v2_short;
        struct import_opts o;
};

/* The trust dir trusts k1 (version 1). v2: root key r1, release key k2 (k1 revoked).
 * v3: root key r2. v4: same keys, threshold unchanged. v2_short: as v2 but expiring 2030. */
static void env_init(struct env *t)
{
        fx_init(&t->f, 2, 700);
        char *kd = path_join(t->f.dir, "keys");
        t->r1 = rf_key(kd, "root1");
        t->r2 = rf_key(kd, "root2");
        free(kd);
        t->state = path_join(t->f.dir, "state");
        const struct berth_key *r1[] = {&t->r1}, *r2[] = {&t->r2}, *k2[] = {&t->f.k2};
        const struct berth_key *s2[] = {&t->f.k1, &t->r1, NULL}, *s3[] = {&t->r1, &t->r2, NULL}, *s4[] = {&t->r2, NULL};
        t->v2 = rf_root(2, RF_FAR, r1, 1, 1, k2, 1, 1, s2);
        t->v3 = rf_root(3, RF_FAR, r2, 1, 1, k2, 1, 1, s3);
        t->v4 = rf_root(4, RF_FAR, r2, 1, 1, k2, 1, 1, s4);
        t->v2_short = rf_root(2, Y2030, r1, 1, 1, k2, 1, 1, s2);
        t->o = (struct import_opts){
                .state_dir = t->state, .trust_dir = t->f.trust, .source = "cli", .now = Y2030 - 86400};
}

static void env_done(struct env *t)
{
        root_free(t->v2);
        root_free(t->v3);
        root_free(t->v4);
        root_free(t->v2_short);
        key_wipe(&t->r1);
        key_wipe(&t->r2);
        free(t->state);
        fx_done(&t->f);
}

/* Bundle NAME version V signed by key, carrying the given roots (n may be 0). */
static char *make(struct env *t, const char *file, int64_t v, const struct berth_key *key,
                  struct trust_root *const *roots,
                  size_t n)
{
        char *rj = NULL;
        size_t rl;
        if (n) {
                struct root_chain *c = rf_chain(roots, n);
                assert_int_equal(root_chain_serialize(c, &rj, &rl), 0);
                root_chain_free(c);
        }
        char *m = fx_manifest(&t->f, "app", v, RF_FAR, NULL);
        const struct berth_key *k[] = {key};
        char *p = fx_bundle_roots(&t->f, file, m, k, 1, rj);
        free(m);
        free(rj);
        return p;
}

/* The head check, as the agent runs it on the first bytes of a download. */
static int head_check(struct env *t, const char *path, berr *e)
{
        char *file;
        size_t len;
        assert_int_equal(read_file_bounded(path, 64 << 20, &file, &len), 0);
        uint64_t need;
        assert_int_equal(fetch_head_need((uint8_t *)file, len, &need), 0);
        struct import_head *h = NULL;
        int q = import_head_verify(&t->o, file, (size_t)need, &h, e);
        import_head_free(h);
        free(file);
        return q;
}

static int64_t node_version(struct env *t)
{
        struct root_store *s = NULL;
        berr e = {0};
        assert_int_equal(root_store_open_state(t->f.trust, t->state, ROOT_STORE_READONLY, &s, &e), 0);
        int64_t v = root_store_current(s)->version;
        root_store_free(s);
        return v;
}

static void test_revoked_at_download_and_usb(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        berr e = {0};
        /* Before the rotation k1 signs fine. */
        char *old = make(&t, "old.berth", 1, &t.f.k1, NULL, 0);
        assert_int_equal(head_check(&t, old, &e), 0);
        /* A download whose head carries v2 (signed by k2): the head check walks to v2,
         * keeps it, and accepts the bundle. */
        struct trust_root *c2[] = {t.v2};
        char *b2 = make(&t, "new.berth", 2, &t.f.k2, c2, 1);
        assert_int_equal(head_check(&t, b2, &e), 0);
        assert_int_equal(node_version(&t), 2);
        /* k1 was left out of v2: its new bundle is refused at download and from USB. */
        char *b3 = make(&t, "revoked.berth", 3, &t.f.k1, NULL, 0);
        berr e1 = {0}, e2 = {0};
        assert_int_equal(head_check(&t, b3, &e1), -EKEYREJECTED);
        assert_non_null(strstr(e1.msg, "0 valid signature(s) from keys in trust root version 2"));
        assert_int_equal(berth_import_file(&t.o, b3, NULL, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, "or was revoked"));
        /* The old bundle too, were it offered again. */
        berr e3 = {0};
        assert_int_equal(berth_import_file(&t.o, old, NULL, &e3), -EKEYREJECTED);
        /* k2's bundle imports from a file. */
        struct import_result res;
        berr e4 = {0};
        assert_int_equal(berth_import_file(&t.o, b2, &res, &e4), 0);
        assert_int_equal(res.version, 2);
        free(old);
        free(b2);
        free(b3);
        env_done(&t);
}

static void test_catch_up_from_one_bundle(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        /* The node never saw a rotation; one USB bundle carries v2, v3 and v4. */
        struct trust_root *chain[] = {t.v2, t.v3, t.v4};
        char *b = make(&t, "chain.berth", 1, &t.f.k2, chain, 3);
        struct import_result res;
        berr e = {0};
        assert_int_equal(berth_import_file(&t.o, b, &res, &e), 0);
        assert_int_equal(node_version(&t), 4);
        for (int v = 2; v <= 4; v++) {
                char n[16];
                snprintf(n, sizeof n, "trust/%d.json", v);
                char *p = path_join(t.state, n);
                assert_int_equal(access(p, F_OK), 0);
                free(p);
        }
        /* The same bundle again: the chain is a no-op now. */
        berr e2 = {0};
        assert_int_equal(berth_import_file(&t.o, b, &res, &e2), 0);
        assert_true(res.already_installed);
        assert_int_equal(node_version(&t), 4);
        free(b);
        env_done(&t);
}

static void test_expired_root_and_recovery(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        struct trust_root *c2[] = {t.v2_short};
        char *b1 = make(&t, "b1.berth", 1, &t.f.k2, c2, 1);
        berr e = {0};
        assert_int_equal(berth_import_file(&t.o, b1, NULL, &e), 0);
        /* A year later the root has expired: nothing is accepted, however well signed. */
        t.o.now = Y2031;
        char *b2 = make(&t, "b2.berth", 2, &t.f.k2, NULL, 0);
        berr e1 = {0}, e2 = {0};
        assert_int_equal(berth_import_file(&t.o, b2, NULL, &e1), -EKEYEXPIRED);
        assert_non_null(strstr(e1.msg, "trust root version 2 expired at 2030-01-01T00:00:00Z"));
        assert_int_equal(head_check(&t, b2, &e2), -EKEYEXPIRED);
        /* Recovery: the root keys sign v3 with a later expiry; a bundle carries it. */
        const struct berth_key *r1[] = {&t.r1}, *k2[] = {&t.f.k2}, *s[] = {&t.r1, NULL};
        struct trust_root *v3 = rf_root(3, RF_FAR, r1, 1, 1, k2, 1, 1, s);
        struct trust_root *c3[] = {v3};
        char *b3 = make(&t, "b3.berth", 2, &t.f.k2, c3, 1);
        berr e3 = {0};
        assert_int_equal(berth_import_file(&t.o, b3, NULL, &e3), 0);
        assert_int_equal(node_version(&t), 3);
        root_free(v3);
        free(b1);
        free(b2);
        free(b3);
        env_done(&t);
}

static void test_bad_root_in_bundle(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        /* v2 signed only by its new root key: the bundle is refused, nothing is kept. */
        const struct berth_key *r1[] = {&t.r1}, *k2[] = {&t.f.k2}, *only_new[] = {&t.r1, NULL};
        struct trust_root *forged = rf_root(2, RF_FAR, r1, 1, 1, k2, 1, 1, only_new);
        struct trust_root *c[] = {forged};
        char *b = make(&t, "forged.berth", 1, &t.f.k2, c, 1);
        berr e = {0}, e2 = {0};
        assert_int_equal(berth_import_file(&t.o, b, NULL, &e), -EKEYREJECTED);
        assert_non_null(strstr(e.msg, "the trust roots it carries were refused"));
        assert_non_null(strstr(e.msg, "signed by 0 root key(s) of"));
        assert_int_equal(head_check(&t, b, &e2), -EKEYREJECTED);
        assert_int_equal(node_version(&t), 1);
        char *td = path_join(t.state, "trust");
        assert_int_equal(access(td, F_OK), -1);
        free(td);
        /* A skipped version in the chain (v3 without v2). */
        struct trust_root *c3[] = {t.v3};
        char *b3 = make(&t, "skip.berth", 1, &t.f.k2, c3, 1);
        berr e3 = {0};
        assert_int_equal(berth_import_file(&t.o, b3, NULL, &e3), -ENOENT);
        assert_non_null(strstr(e3.msg, "version 2 is missing"));
        /* A bundle refused for its own reasons (a downgrade) still delivers a valid root. */
        struct trust_root *c2[] = {t.v2};
        char *ok = make(&t, "v5.berth", 5, &t.f.k2, c2, 1);
        berr e4 = {0};
        assert_int_equal(berth_import_file(&t.o, ok, NULL, &e4), 0);
        struct trust_root *c23[] = {t.v2, t.v3};
        char *down = make(&t, "down.berth", 4, &t.f.k2, c23, 2);
        berr e5 = {0};
        assert_int_equal(berth_import_file(&t.o, down, NULL, &e5), -ESTALE);
        assert_int_equal(node_version(&t), 3);
        root_free(forged);
        free(b);
        free(b3);
        free(ok);
        free(down);
        env_done(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_revoked_at_download_and_usb),
                cmocka_unit_test(test_catch_up_from_one_bundle),
                cmocka_unit_test(test_expired_root_and_recovery),
                cmocka_unit_test(test_bad_root_in_bundle),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
