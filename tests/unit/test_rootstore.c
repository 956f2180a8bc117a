/* SPDX-License-Identifier: Apache-2.0 */
/* test_rootstore.c — the node's current trust root: a trust directory read as version 1,
 * a chain of three rotations walked in one step and persisted, an agent several versions
 * behind, replayed and skipped versions, a root signed only by the new keys, a threshold
 * change, revocation of a release key, expiry, a damaged file (never a fallback) and the
 * temp files a killed writer leaves. */
#include "rootfix.h"

#include <dirent.h>
#include <sys/stat.h>

#include "bundle/rootstore.h"

struct env {
        char *dir, *trust, *state, *roots;
        struct berth_key old, r1, r2, r3, a, b;
        /* v2..v5: v2 moves from the trust dir (old key) to root key r1 and release key a;
         * v3 rotates the root key to r2 and adds release key b (threshold 1);
         * v4 raises the root threshold to 2 (r2, r3) and revokes a (b only);
         * v5 is a fifth version (same keys) for catching up. */
        struct trust_root *v[6];
};

static void env_init(struct env *t)
{
        memset(t, 0, sizeof *t);
        t->dir = test_tmpdir("rootstore");
        char *keys = path_join(t->dir, "keys");
        t->old = rf_key(keys, "old");
        t->r1 = rf_key(keys, "root1");
        t->r2 = rf_key(keys, "root2");
        t->r3 = rf_key(keys, "root3");
        t->a = rf_key(keys, "release-a");
        t->b = rf_key(keys, "release-b");
        t->trust = path_join(t->dir, "trust");
        rf_copy_pub(keys, "old", t->trust);
        free(keys);
        t->state = path_join(t->dir, "state");
        t->roots = path_join(t->state, ROOT_STORE_SUBDIR);
        const struct berth_key *r1[] = {&t->r1}, *r2[] = {&t->r2}, *r23[] = {&t->r2, &t->r3}, *la[] = {&t->a},
                               *lab[] = {&t->a, &t->b}, *lb[] = {&t->b};
        const struct berth_key *s2[] = {&t->old, &t->r1, NULL}, *s3[] = {&t->r1, &t->r2, NULL},
                               *s4[] = {&t->r2, &t->r3, NULL}, *s5[] = {&t->r2, &t->r3, NULL};
        t->v[2] = rf_root(2, RF_FAR, r1, 1, 1, la, 1, 1, s2);
        t->v[3] = rf_root(3, RF_FAR, r2, 1, 1, lab, 2, 1, s3);
        t->v[4] = rf_root(4, RF_FAR, r23, 2, 2, lb, 1, 1, s4);
        t->v[5] = rf_root(5, RF_FAR, r23, 2, 2, lb, 1, 1, s5);
}

static void env_done(struct env *t)
{
        for (size_t i = 0; i < 6; i++)
                root_free(t->v[i]);
        key_wipe(&t->old);
        key_wipe(&t->r1);
        key_wipe(&t->r2);
        key_wipe(&t->r3);
        key_wipe(&t->a);
        key_wipe(&t->b);
        free(t->trust);
        free(t->state);
        free(t->roots);
        test_rmdir(t->dir);
}

static struct root_store *open_store(struct env *t, unsigned flags)
{
        struct root_store *s = NULL;
        berr e = {0};
        int q = root_store_open_state(t->trust, t->state, flags, &s, &e);
        if (q < 0)
                fail_msg("root_store_open: %s", berr_msg(&e, q));
        return s;
}

static int advance(struct root_store *s, struct env *t, const int *versions, size_t n, berr *e)
{
        struct trust_root *in[8];
        for (size_t i = 0; i < n; i++)
                in[i] = t->v[versions[i]];
        struct root_chain *c = rf_chain(in, n);
        int q = root_store_advance(s, c, e);
        root_chain_free(c);
        return q;
}

static bool has_file(const char *dir, const char *name)
{
        char *p = path_join(dir, name);
        bool r = access(p, F_OK) == 0;
        free(p);
        return r;
}

/* Signs a one-byte manifest with key k and checks it against the store's release trust. */
static int bundle_ok(struct root_store *s, const struct berth_key *k)
{
        struct bundle_signatures *sig = signatures_new();
        assert_int_equal(signatures_add(sig, k, "m", 1), 0);
        berr e = {0};
        int q = signatures_verify(sig, root_store_trust(s), "m", 1, NULL, &e);
        signatures_free(sig);
        return q;
}

static void test_trust_dir_is_v1(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        struct root_store *s = open_store(&t, 0);
        const struct trust_root *cur = root_store_current(s);
        assert_true(cur->implicit);
        assert_int_equal(cur->version, 1);
        assert_false(root_store_expired(s, RF_FAR * 2));
        assert_int_equal(bundle_ok(s, &t.old), 0);
        assert_int_equal(root_store_trust(s)->root_version, 1);
        /* Opening writes nothing. */
        struct stat st;
        assert_int_equal(stat(t.state, &st), -1);
        root_store_free(s);
        env_done(&t);
}

static void test_three_rotations(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        struct root_store *s = open_store(&t, 0);
        berr e = {0};
        /* One chain, delivered in one bundle: v2, v3, v4 walked from the trust dir. */
        int chain[] = {2, 3, 4};
        assert_int_equal(advance(s, &t, chain, 3, &e), 3);
        assert_int_equal(root_store_current(s)->version, 4);
        assert_true(has_file(t.roots, "2.json") && has_file(t.roots, "3.json") && has_file(t.roots, "4.json"));
        /* Revocation: a (dropped in v4) signs nothing any more; b does; the old trust dir key
         * neither. The threshold change of v4 holds. */
        assert_int_equal(bundle_ok(s, &t.a), -EKEYREJECTED);
        assert_int_equal(bundle_ok(s, &t.b), 0);
        assert_int_equal(bundle_ok(s, &t.old), -EKEYREJECTED);
        assert_int_equal(root_store_current(s)->roles[ROOT_ROLE_ROOT].threshold, 2);
        root_store_free(s);
        /* Persisted: a new process starts at v4 (the trust dir still says v1). */
        s = open_store(&t, 0);
        assert_int_equal(root_store_current(s)->version, 4);
        assert_int_equal(bundle_ok(s, &t.a), -EKEYREJECTED);
        /* A replayed older chain changes nothing, and touches no file. */
        struct stat before, after;
        assert_int_equal(stat(t.roots, &before), 0);
        int replay[] = {2, 3};
        assert_int_equal(advance(s, &t, replay, 2, &e), 0);
        assert_int_equal(root_store_current(s)->version, 4);
        assert_int_equal(stat(t.roots, &after), 0);
        assert_int_equal(before.st_mtime, after.st_mtime);
        assert_int_equal(before.st_nlink, after.st_nlink);
        root_store_free(s);
        env_done(&t);
}

static void test_behind(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        /* Node A took v2 some time ago; then it gets a bundle carrying v2..v5. */
        struct root_store *s = open_store(&t, 0);
        berr e = {0};
        int first[] = {2};
        assert_int_equal(advance(s, &t, first, 1, &e), 1);
        root_store_free(s);
        s = open_store(&t, 0);
        assert_int_equal(root_store_current(s)->version, 2);
        int chain[] = {2, 3, 4, 5};
        assert_int_equal(advance(s, &t, chain, 4, &e), 3);
        assert_int_equal(root_store_current(s)->version, 5);
        /* What the store hands on to an agent at v2: 3, 4, 5. */
        struct root_chain *c = NULL;
        assert_int_equal(root_store_chain(s, 2, &c, &e), 0);
        assert_non_null(c);
        assert_int_equal(c->n, 3);
        assert_int_equal(c->v[0]->version, 3);
        assert_int_equal(c->v[2]->version, 5);
        root_chain_free(c);
        assert_int_equal(root_store_chain(s, 5, &c, &e), 0);
        assert_null(c);
        root_store_free(s);
        env_done(&t);
}

static void test_refusals(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        struct root_store *s = open_store(&t, 0);
        berr e = {0};
        /* Skipped version: v3 without v2. Nothing is written. */
        int skip[] = {3};
        assert_int_equal(advance(s, &t, skip, 1, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "version 2 is missing"));
        assert_int_equal(root_store_current(s)->version, 1);
        assert_false(has_file(t.roots, "3.json"));
        /* A root signed only by its new root key (not by the trust dir's key). */
        const struct berth_key *r1[] = {&t.r1}, *la[] = {&t.a}, *only_new[] = {&t.r1, NULL};
        struct trust_root *forged = rf_root(2, RF_FAR, r1, 1, 1, la, 1, 1, only_new);
        struct trust_root *in[] = {forged};
        struct root_chain *c = rf_chain(in, 1);
        berr e2 = {0};
        assert_int_equal(root_store_advance(s, c, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, "signed by 0 root key(s)"));
        assert_false(has_file(t.roots, "2.json"));
        root_chain_free(c);
        root_free(forged);
        /* A good v2 followed by a bad v3: v2 stays accepted (it is valid on its own). */
        const struct berth_key *r2[] = {&t.r2}, *bad3[] = {&t.r2, NULL};
        struct trust_root *v3bad = rf_root(3, RF_FAR, r2, 1, 1, la, 1, 1, bad3);
        struct trust_root *in2[] = {t.v[2], v3bad};
        c = rf_chain(in2, 2);
        berr e3 = {0};
        assert_int_equal(root_store_advance(s, c, &e3), -EKEYREJECTED);
        assert_int_equal(root_store_current(s)->version, 2);
        assert_true(has_file(t.roots, "2.json"));
        assert_false(has_file(t.roots, "3.json"));
        root_chain_free(c);
        root_free(v3bad);
        root_store_free(s);
        env_done(&t);
}

static void test_expiry(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        /* v2 expires at 2030; the node's clock says 2031: bundles are refused until a newer
         * root arrives. v3 (signed by v2's root key) is accepted anyway and ends it. */
        const struct berth_key *r1[] = {&t.r1}, *la[] = {&t.a}, *s2[] = {&t.old, &t.r1, NULL}, *s3[] = {&t.r1, NULL};
        struct trust_root *v2 = rf_root(2, 1893456000, r1, 1, 1, la, 1, 1, s2); /* 2030-01-01 */
        struct trust_root *v3 = rf_root(3, RF_FAR, r1, 1, 1, la, 1, 1, s3);
        struct root_store *s = open_store(&t, 0);
        struct trust_root *in[] = {v2};
        struct root_chain *c = rf_chain(in, 1);
        berr e = {0};
        assert_int_equal(root_store_advance(s, c, &e), 1);
        root_chain_free(c);
        int64_t now = 1924992000; /* 2031-01-01 */
        assert_true(root_store_expired(s, now));
        assert_int_equal(root_store_trust(s)->expires, 1893456000);
        struct trust_root *in3[] = {v3};
        c = rf_chain(in3, 1);
        assert_int_equal(root_store_advance(s, c, &e), 1);
        root_chain_free(c);
        assert_false(root_store_expired(s, now));
        root_free(v2);
        root_free(v3);
        root_store_free(s);
        env_done(&t);
}

static void test_damage_and_temps(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        struct root_store *s = open_store(&t, 0);
        berr e = {0};
        int chain[] = {2, 3};
        assert_int_equal(advance(s, &t, chain, 2, &e), 2);
        root_store_free(s);
        /* A killed writer's temp file is ignored, then removed by the next writer. */
        char *tmp = path_join(t.roots, "4.json.tmp.12345");
        assert_int_equal(write_file_atomic(tmp, "{\"signed\":", 10, 0644), 0);
        s = open_store(&t, 0);
        assert_int_equal(root_store_current(s)->version, 3);
        int next[] = {4};
        assert_int_equal(advance(s, &t, next, 1, &e), 1);
        assert_int_equal(access(tmp, F_OK), -1);
        root_store_free(s);
        /* A damaged newest file: refused, never an older root in its place. */
        char *p4 = path_join(t.roots, "4.json");
        assert_int_equal(write_file_atomic(p4, "{\"signed\":", 10, 0644), 0);
        s = NULL;
        berr e2 = {0};
        assert_true(root_store_open_state(t.trust, t.state, 0, &s, &e2) < 0);
        assert_null(s);
        assert_non_null(strstr(e2.msg, "never falls back to an older root"));
        /* A file that claims another version than its name. */
        rf_write(t.v[3], p4);
        berr e3 = {0};
        assert_int_equal(root_store_open_state(t.trust, t.state, 0, &s, &e3), -EBADMSG);
        assert_non_null(strstr(e3.msg, "holds trust root version 3"));
        free(p4);
        free(tmp);
        env_done(&t);
}

static void test_readonly_and_anchor(void **state)
{
        (void)state;
        struct env t;
        env_init(&t);
        /* Read-only: the chain is walked in memory, nothing is written. */
        struct root_store *s = open_store(&t, ROOT_STORE_READONLY);
        berr e = {0};
        int chain[] = {2, 3};
        assert_int_equal(advance(s, &t, chain, 2, &e), 2);
        assert_int_equal(root_store_current(s)->version, 3);
        struct stat st;
        assert_int_equal(stat(t.state, &st), -1);
        root_store_free(s);
        /* A signed root.json in the trust dir is the anchor (its *.pub files are ignored). */
        char *rp = path_join(t.trust, ROOT_FILE);
        rf_write(t.v[3], rp);
        s = open_store(&t, 0);
        assert_false(root_store_current(s)->implicit);
        assert_int_equal(root_store_current(s)->version, 3);
        assert_int_equal(bundle_ok(s, &t.old), -EKEYREJECTED);
        int next[] = {4};
        assert_int_equal(advance(s, &t, next, 1, &e), 1);
        root_store_free(s);
        /* An anchor older than the accepted roots does not take the node back. */
        rf_write(t.v[2], rp);
        s = open_store(&t, 0);
        assert_int_equal(root_store_current(s)->version, 4);
        root_store_free(s);
        /* An anchor that is not signed by its own root keys is refused. */
        const struct berth_key *r1[] = {&t.r1}, *la[] = {&t.a}, *unsigned_[] = {NULL};
        struct trust_root *u = rf_root(1, RF_FAR, r1, 1, 1, la, 1, 1, unsigned_);
        rf_write(u, rp);
        s = NULL;
        berr e2 = {0};
        assert_int_equal(root_store_open_state(t.trust, NULL, 0, &s, &e2), -EKEYREJECTED);
        assert_null(s);
        root_free(u);
        free(rp);
        env_done(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_trust_dir_is_v1), cmocka_unit_test(test_three_rotations),
                cmocka_unit_test(test_behind),          cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_expiry),          cmocka_unit_test(test_damage_and_temps),
                cmocka_unit_test(test_readonly_and_anchor),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
