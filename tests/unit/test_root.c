/* SPDX-License-Identifier: Apache-2.0 */
/* test_root.c — trust root documents: the format (a hand-made envelope, signed with
 * libsodium directly, is what berth accepts), strict parsing, canonical build, and the
 * rotation rule (old and new root keys, version N+1) with every way it can fail. */
#include "rootfix.h"

#include <sodium.h>

struct keys {
        char *dir;
        struct berth_key r1, r2, r3, a, b;
};

static void keys_init(struct keys *k)
{
        k->dir = test_tmpdir("root");
        k->r1 = rf_key(k->dir, "root1");
        k->r2 = rf_key(k->dir, "root2");
        k->r3 = rf_key(k->dir, "root3");
        k->a = rf_key(k->dir, "release-a");
        k->b = rf_key(k->dir, "release-b");
}

static void keys_done(struct keys *k)
{
        key_wipe(&k->r1);
        key_wipe(&k->r2);
        key_wipe(&k->r3);
        key_wipe(&k->a);
        key_wipe(&k->b);
        test_rmdir(k->dir);
}

static char *b64(const void *p, size_t n)
{
        size_t l = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(l);
        sodium_bin2base64(s, l, p, n, sodium_base64_VARIANT_ORIGINAL);
        return s;
}

/* An envelope made by hand from README.md: payload bytes as given, signed over
 * "berth-trust-root-v1" NUL payload by each key in signers. */
static char *hand_envelope(const char *payload, const struct berth_key *const *signers, size_t n)
{
        size_t cl = strlen(ROOT_SIGN_CONTEXT) + 1, pl = strlen(payload);
        uint8_t *msg = malloc(cl + pl);
        memcpy(msg, ROOT_SIGN_CONTEXT, cl);
        memcpy(msg + cl, payload, pl);
        json_t *sigs = json_array();
        for (size_t i = 0; i < n; i++) {
                uint8_t sig[64];
                crypto_sign_detached(sig, NULL, msg, cl + pl, signers[i]->sk);
                char *s = b64(sig, 64);
                json_array_append_new(sigs, json_pack("{s:s,s:s}", "keyid", signers[i]->id, "sig", s));
                free(s);
        }
        char *p = b64(payload, pl);
        json_t *env = json_pack("{s:s,s:o}", "signed", p, "signatures", sigs);
        char *out = json_dumps(env, 0);
        json_decref(env);
        free(p);
        free(msg);
        return out;
}

/* A payload by hand: one root key (r), one release key (a), thresholds 1. */
static char *hand_payload(const struct keys *k, const char *extra)
{
        char *pr = b64(k->r1.pk, 32), *pa = b64(k->a.pk, 32), *out;
        assert_true(asprintf(&out,
                             "{\"type\": \"berth-trust-root\", \"schemaVersion\": 1, \"version\": 7,"
                             " \"expires\": \"2099-12-31T00:00:00Z\","
                             " \"keys\": [{\"keyid\": \"%s\", \"name\": \"root1\", \"publicKey\": \"%s\"},"
                             "            {\"keyid\": \"%s\", \"name\": \"release-a\", \"publicKey\": \"%s\"}],"
                             " \"roles\": {\"root\": {\"threshold\": 1, \"keyids\": [\"%s\"]},"
                             "             \"release\": {\"threshold\": 1, \"keyids\": [\"%s\"]}}%s}",
                             k->r1.id, pr, k->a.id, pa, k->r1.id, k->a.id, extra ? extra : "") > 0);
        free(pr);
        free(pa);
        return out;
}

static void test_hand_made(void **state)
{
        (void)state;
        struct keys k;
        keys_init(&k);
        char *payload = hand_payload(&k, NULL);
        const struct berth_key *s1[] = {&k.r1};
        char *env = hand_envelope(payload, s1, 1);
        struct trust_root *r = NULL;
        berr e = {0};
        assert_int_equal(root_parse(env, strlen(env), "hand.json", &r, &e), 0);
        assert_int_equal(r->version, 7);
        assert_int_equal(r->n_keys, 2);
        assert_true(root_has_key(r, ROOT_ROLE_ROOT, k.r1.id));
        assert_false(root_has_key(r, ROOT_ROLE_ROOT, k.a.id));
        assert_true(root_has_key(r, ROOT_ROLE_RELEASE, k.a.id));
        /* The exact payload bytes are what was signed and what is kept. */
        assert_int_equal(r->payload_len, strlen(payload));
        assert_memory_equal(r->payload, payload, r->payload_len);
        assert_int_equal(root_verify_self(r, &e), 0);
        /* The release role is what bundles are checked against. */
        struct trust *t = NULL;
        assert_int_equal(root_release_trust(r, &t), 0);
        assert_int_equal(t->n_keys, 1);
        assert_string_equal(t->keys[0].id, k.a.id);
        assert_int_equal(t->root_version, 7);
        assert_string_equal(t->dir, "trust root version 7");
        trust_free(t);
        root_free(r);
        free(env);

        /* Signed by the release key only: parses, but is not a valid root. */
        const struct berth_key *sa[] = {&k.a};
        env = hand_envelope(payload, sa, 1);
        assert_int_equal(root_parse(env, strlen(env), "hand.json", &r, &e), 0);
        berr e2 = {0};
        assert_int_equal(root_verify_self(r, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, "signed by 0 of its own root keys, 1 required"));
        root_free(r);
        free(env);
        free(payload);
        keys_done(&k);
}

static void expect_bad(const char *env, int code, const char *phrase)
{
        struct trust_root *r = NULL;
        berr e = {0};
        int q = root_parse(env, strlen(env), "bad.json", &r, &e);
        if (q != code || !strstr(e.msg, phrase))
                fail_msg("expected %d with '%s', got %d: %s\n  for %s", code, phrase, q, e.msg, env);
        assert_null(r);
}

static void test_strict(void **state)
{
        (void)state;
        struct keys k;
        keys_init(&k);
        const struct berth_key *s1[] = {&k.r1};
        struct {
                const char *extra;
                int code;
                const char *phrase;
        } payload_cases[] = {
                {", \"note\": 1", -EBADMSG, "unknown field \"note\""},
        };
        for (size_t i = 0; i < ELEMENTSOF(payload_cases); i++) {
                char *p = hand_payload(&k, payload_cases[i].extra);
                char *env = hand_envelope(p, s1, 1);
                expect_bad(env, payload_cases[i].code, payload_cases[i].phrase);
                free(env);
                free(p);
        }
        /* Whole payloads that break one rule each. */
        char *good = hand_payload(&k, NULL);
        struct {
                const char *from, *to;
                int code;
                const char *phrase;
        } edits[] = {
                {"\"berth-trust-root\"", "\"tuf-root\"", -EBADMSG, "\"type\" must be"},
                {"\"schemaVersion\": 1", "\"schemaVersion\": 2", -EPROTONOSUPPORT, "needs a newer berth"},
                {"\"version\": 7", "\"version\": 0", -EBADMSG, "version must be"},
                {"\"version\": 7", "\"version\": \"7\"", -EBADMSG, "version must be"},
                {"2099-12-31T00:00:00Z", "next year", -EBADMSG, "expires must be"},
                {"\"threshold\": 1, \"keyids\": [", "\"threshold\": 2, \"keyids\": [", -EBADMSG, "threshold must be"},
                {"\"threshold\": 1, \"keyids\": [", "\"threshold\": 0, \"keyids\": [", -EBADMSG, "threshold must be"},
                {"\"name\": \"root1\"", "\"name\": \"../x\"", -EBADMSG, "is invalid"},
                {"\"release\": {", "\"relase\": {", -EBADMSG, "roles"},
        };
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                char *at = strstr(good, edits[i].from);
                assert_non_null(at);
                char *p;
                assert_true(asprintf(&p, "%.*s%s%s", (int)(at - good), good, edits[i].to,
                                     at + strlen(edits[i].from)) > 0);
                char *env = hand_envelope(p, s1, 1);
                expect_bad(env, edits[i].code, edits[i].phrase);
                free(env);
                free(p);
        }
        /* A key id that is not its key's, a role naming a key that is not listed, a key
         * listed twice, a key without a role. */
        char *pr = b64(k.r1.pk, 32), *pa = b64(k.a.pk, 32), *p;
#define KEYS_FMT                                                                                   \
        "{\"type\": \"berth-trust-root\", \"schemaVersion\": 1, \"version\": 1, "                  \
        "\"expires\": \"2099-01-01T00:00:00Z\", \"keys\": [%s], "                                    \
        "\"roles\": {\"root\": {\"threshold\": 1, \"keyids\": [\"%s\"]}, "                          \
        "\"release\": {\"threshold\": 1, \"keyids\": [\"%s\"]}}}"
        char *kr, *ka, *kbad;
        assert_true(asprintf(&kr, "{\"keyid\": \"%s\", \"name\": \"r\", \"publicKey\": \"%s\"}", k.r1.id, pr) > 0);
        assert_true(asprintf(&ka, "{\"keyid\": \"%s\", \"name\": \"a\", \"publicKey\": \"%s\"}", k.a.id, pa) > 0);
        assert_true(asprintf(&kbad, "{\"keyid\": \"%s\", \"name\": \"a\", \"publicKey\": \"%s\"}", k.r1.id, pa) > 0);
        struct {
                char *keys;
                const char *root_id, *rel_id;
                const char *phrase;
        } kc[] = {
                {NULL, k.r1.id, k.a.id, "is not the id of its public key"},
                {NULL, k.r1.id, k.b.id, "is not the id of a key in \"keys\""},
                {NULL, k.r1.id, k.a.id, "listed twice"},
                {NULL, k.r1.id, k.r1.id, "has no role"},
        };
        assert_true(asprintf(&kc[0].keys, "%s, %s", kr, kbad) > 0);
        assert_true(asprintf(&kc[1].keys, "%s, %s", kr, ka) > 0);
        assert_true(asprintf(&kc[2].keys, "%s, %s, %s", kr, ka, ka) > 0);
        assert_true(asprintf(&kc[3].keys, "%s, %s", kr, ka) > 0);
        for (size_t i = 0; i < ELEMENTSOF(kc); i++) {
                assert_true(asprintf(&p, KEYS_FMT, kc[i].keys, kc[i].root_id, kc[i].rel_id) > 0);
                char *env = hand_envelope(p, s1, 1);
                expect_bad(env, -EBADMSG, kc[i].phrase);
                free(env);
                free(p);
                free(kc[i].keys);
        }
        free(kr);
        free(ka);
        free(kbad);
        free(pr);
        free(pa);
        /* The envelope itself. */
        expect_bad("[]", -EBADMSG, "must be a JSON object");
        expect_bad("{\"signed\": \"e30=\"}", -EBADMSG, "lacks the field \"signatures\"");
        expect_bad("{\"signed\": \"e30=\", \"signatures\": [], \"x\": 1}", -EBADMSG, "unknown field \"x\"");
        expect_bad("{\"signed\": \"!!!\", \"signatures\": []}", -EBADMSG, "is not base64");
        expect_bad("{\"signed\": 5, \"signatures\": []}", -EBADMSG, "must be a base64 string");
        expect_bad("{\"signed\": \"e30=\", \"signatures\": {}}", -EBADMSG, "must be an array");
        expect_bad("not json", -EBADMSG, "not valid JSON");
        char *big = malloc(ROOT_MAX_SIZE + 2);
        memset(big, ' ', ROOT_MAX_SIZE + 1);
        big[ROOT_MAX_SIZE + 1] = 0;
        expect_bad(big, -EFBIG, "over the limit");
        free(big);
        free(good);
        keys_done(&k);
}

static void test_build_roundtrip(void **state)
{
        (void)state;
        struct keys k;
        keys_init(&k);
        const struct berth_key *rk[] = {&k.r2, &k.r1}, *lk[] = {&k.b, &k.a}, *sig[] = {&k.r1, &k.r2, NULL};
        struct trust_root *r = rf_root(3, RF_FAR, rk, 2, 2, lk, 2, 1, sig);
        berr e = {0};
        assert_int_equal(root_verify_self(r, &e), 0);
        char *t1;
        size_t l1;
        assert_int_equal(root_serialize(r, &t1, &l1), 0);
        struct trust_root *p = NULL;
        assert_int_equal(root_parse(t1, l1, "rt", &p, &e), 0);
        assert_int_equal(p->version, 3);
        assert_int_equal(p->expires, RF_FAR);
        assert_int_equal(p->roles[ROOT_ROLE_ROOT].threshold, 2);
        assert_int_equal(p->roles[ROOT_ROLE_RELEASE].threshold, 1);
        assert_string_equal(p->digest, r->digest);
        assert_int_equal(root_verify_self(p, &e), 0);
        /* Serialising again gives the same bytes; key order does not matter to the build. */
        char *t2;
        size_t l2;
        assert_int_equal(root_serialize(p, &t2, &l2), 0);
        assert_int_equal(l1, l2);
        assert_memory_equal(t1, t2, l1);
        const struct berth_key *rk2[] = {&k.r1, &k.r2}, *lk2[] = {&k.a, &k.b};
        struct trust_root *q = rf_root(3, RF_FAR, rk2, 2, 2, lk2, 2, 1, NULL);
        assert_int_equal(q->payload_len, r->payload_len);
        assert_memory_equal(q->payload, r->payload, r->payload_len);
        /* Changing one payload byte (the expiry year) is caught by a root key's signature. */
        char *pl = strndup(r->payload, r->payload_len), *y = strstr(pl, "2100-");
        assert_non_null(y);
        y[3] = '1';
        json_t *env = root_envelope_json(r);
        char *pb = b64(pl, strlen(pl));
        json_object_set_new(env, "signed", json_string(pb));
        char *altered = json_dumps(env, 0);
        struct trust_root *bad = NULL;
        berr e2 = {0};
        assert_int_equal(root_parse(altered, strlen(altered), "altered", &bad, &e2), 0);
        assert_int_equal(bad->expires, RF_FAR + 365 * 86400);
        assert_int_equal(root_verify_self(bad, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, "does not match its payload"));
        root_free(bad);
        free(altered);
        free(pb);
        free(pl);
        json_decref(env);
        /* Build refuses what the format refuses. */
        struct root_spec s = {.version = 1, .expires = RF_FAR};
        s.keys[ROOT_ROLE_ROOT][0] = &k.r1;
        s.n[ROOT_ROLE_ROOT] = 1;
        s.threshold[ROOT_ROLE_ROOT] = 2;
        s.keys[ROOT_ROLE_RELEASE][0] = &k.a;
        s.n[ROOT_ROLE_RELEASE] = 1;
        s.threshold[ROOT_ROLE_RELEASE] = 1;
        struct trust_root *x = NULL;
        berr e3 = {0};
        assert_int_equal(root_build(&s, &x, &e3), -EINVAL);
        assert_non_null(strstr(e3.msg, "threshold 2"));
        free(t1);
        free(t2);
        root_free(r);
        root_free(p);
        root_free(q);
        keys_done(&k);
}

static void test_rotation_rule(void **state)
{
        (void)state;
        struct keys k;
        keys_init(&k);
        berr e = {0};
        const struct berth_key *r1[] = {&k.r1}, *r2[] = {&k.r2}, *r23[] = {&k.r2, &k.r3};
        const struct berth_key *la[] = {&k.a}, *lb[] = {&k.b};
        const struct berth_key *s1[] = {&k.r1, NULL}, *s12[] = {&k.r1, &k.r2, NULL}, *s2[] = {&k.r2, NULL};
        struct trust_root *v1 = rf_root(1, RF_FAR, r1, 1, 1, la, 1, 1, s1);
        /* v2 replaces the root key r1 by r2 and the release key a by b: needs r1 and r2. */
        struct trust_root *v2 = rf_root(2, RF_FAR, r2, 1, 1, lb, 1, 1, s12);
        assert_int_equal(root_verify_next(v1, v2, &e), 0);
        /* Signed only by the new root key: refused, that is the point of the rule. */
        struct trust_root *v2new = rf_root(2, RF_FAR, r2, 1, 1, lb, 1, 1, s2);
        berr e1 = {0};
        assert_int_equal(root_verify_next(v1, v2new, &e1), -EKEYREJECTED);
        assert_non_null(strstr(e1.msg, "signed by 0 root key(s) of trust root version 1, 1 required"));
        /* Signed only by the old root key: refused as well. */
        struct trust_root *v2old = rf_root(2, RF_FAR, r2, 1, 1, lb, 1, 1, s1);
        berr e2 = {0};
        assert_int_equal(root_verify_next(v1, v2old, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, "signed by 0 of its own root keys"));
        /* Threshold change: v3 has root keys r2, r3 with threshold 2. Signed by r2 (v2's
         * key) and r3: valid. Signed by r2 alone: only 1 of its own 2. */
        const struct berth_key *s23[] = {&k.r2, &k.r3, NULL};
        struct trust_root *v3 = rf_root(3, RF_FAR, r23, 2, 2, lb, 1, 1, s23);
        assert_int_equal(root_verify_next(v2, v3, &e), 0);
        struct trust_root *v3one = rf_root(3, RF_FAR, r23, 2, 2, lb, 1, 1, s2);
        berr e3 = {0};
        assert_int_equal(root_verify_next(v2, v3one, &e3), -EKEYREJECTED);
        assert_non_null(strstr(e3.msg, "signed by 1 of its own root keys, 2 required"));
        /* Version rules: a skipped version, a replayed older one, the same one again. */
        berr e4 = {0}, e5 = {0}, e6 = {0};
        assert_int_equal(root_verify_next(v1, v3, &e4), -ENOENT);
        assert_non_null(strstr(e4.msg, "version 2 is missing"));
        assert_int_equal(root_verify_next(v2, v1, &e5), -ESTALE);
        assert_non_null(strstr(e5.msg, "never goes backwards"));
        assert_int_equal(root_verify_next(v2, v2, &e6), -ESTALE);
        /* Expiry plays no part in the rule (an expired root can still be rotated away). */
        struct trust_root *v1old = rf_root(1, 1000, r1, 1, 1, la, 1, 1, s1);
        assert_int_equal(root_verify_next(v1old, v2, &e), 0);
        root_free(v1);
        root_free(v1old);
        root_free(v2);
        root_free(v2new);
        root_free(v2old);
        root_free(v3);
        root_free(v3one);
        keys_done(&k);
}

static void test_implicit(void **state)
{
        (void)state;
        struct keys k;
        keys_init(&k);
        char *td = path_join(k.dir, "trust");
        rf_copy_pub(k.dir, "release-a", td);
        rf_copy_pub(k.dir, "release-b", td);
        char *th = path_join(td, "threshold");
        assert_int_equal(write_file_atomic(th, "2\n", 2, 0644), 0);
        struct trust *t = NULL;
        berr e = {0};
        assert_int_equal(trust_load(td, &t, &e), 0);
        struct trust_root *v1 = NULL;
        assert_int_equal(root_from_trust(t, &v1, &e), 0);
        assert_true(v1->implicit);
        assert_int_equal(v1->version, 1);
        assert_int_equal(v1->expires, 0);
        assert_true(root_has_key(v1, ROOT_ROLE_ROOT, k.a.id) && root_has_key(v1, ROOT_ROLE_RELEASE, k.b.id));
        assert_int_equal(v1->roles[ROOT_ROLE_ROOT].threshold, 2);
        assert_int_equal(root_verify_self(v1, &e), 0);
        /* Moving a fleet from a trust directory to separate root keys: version 2 signed by
         * both legacy keys (2-of-2) and the new root key. */
        const struct berth_key *r1[] = {&k.r1}, *la[] = {&k.a}, *s[] = {&k.a, &k.b, &k.r1, NULL},
                               *s_one[] = {&k.a, &k.r1, NULL};
        struct trust_root *v2 = rf_root(2, RF_FAR, r1, 1, 1, la, 1, 1, s);
        assert_int_equal(root_verify_next(v1, v2, &e), 0);
        struct trust_root *v2one = rf_root(2, RF_FAR, r1, 1, 1, la, 1, 1, s_one);
        berr e2 = {0};
        assert_int_equal(root_verify_next(v1, v2one, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, td)); /* the trust directory is named */
        /* An implicit root has no envelope and cannot be signed. */
        char *out;
        size_t l;
        assert_int_equal(root_serialize(v1, &out, &l), -EINVAL);
        assert_int_equal(root_sign(v1, &k.r1, &e2), -EINVAL);
        struct trust *rt = NULL;
        assert_int_equal(root_release_trust(v1, &rt), 0);
        assert_string_equal(rt->dir, td);
        assert_int_equal(rt->threshold, 2);
        trust_free(rt);
        root_free(v1);
        root_free(v2);
        root_free(v2one);
        trust_free(t);
        free(th);
        free(td);
        keys_done(&k);
}

static void test_chain_doc(void **state)
{
        (void)state;
        struct keys k;
        keys_init(&k);
        const struct berth_key *r1[] = {&k.r1}, *r2[] = {&k.r2}, *la[] = {&k.a};
        const struct berth_key *s1[] = {&k.r1, NULL}, *s12[] = {&k.r1, &k.r2, NULL}, *s2[] = {&k.r2, NULL};
        struct trust_root *v[3] = {rf_root(1, RF_FAR, r1, 1, 1, la, 1, 1, s1), rf_root(2, RF_FAR, r2, 1, 1, la, 1, 1,
                                                                                       s12),
                                   rf_root(3, RF_FAR, r2, 1, 1, la, 1, 1, s2)};
        /* Added out of order and twice: sorted, one copy. */
        struct trust_root *in[] = {v[2], v[0], v[1], v[2]};
        struct root_chain *c = rf_chain(in, 4);
        assert_int_equal(c->n, 3);
        assert_int_equal(c->v[0]->version, 1);
        assert_int_equal(c->v[2]->version, 3);
        berr e = {0};
        assert_int_equal(root_chain_check(c, &e), 0);
        char *t;
        size_t l;
        assert_int_equal(root_chain_serialize(c, &t, &l), 0);
        struct root_chain *p = NULL;
        assert_int_equal(root_chain_parse(t, l, "roots.json", &p, &e), 0);
        assert_int_equal(p->n, 3);
        assert_string_equal(p->v[1]->digest, v[1]->digest);
        /* Another root claiming version 2 is a conflict. */
        const struct berth_key *lb[] = {&k.b};
        struct trust_root *other2 = rf_root(2, RF_FAR, r2, 1, 1, lb, 1, 1, s12);
        berr e2 = {0};
        assert_int_equal(root_chain_add(c, other2, &e2), -EEXIST);
        /* The offline check names a broken link. */
        struct trust_root *gap[] = {v[0], v[2]};
        struct root_chain *g = rf_chain(gap, 2);
        berr e3 = {0};
        assert_int_equal(root_chain_check(g, &e3), -ENOENT);
        /* Strict document. */
        static const char *bad[] = {"{\"roots\": []}", "{\"roots\": {}}", "{\"roots\": [], \"x\": 1}", "[]"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct root_chain *b = NULL;
                berr eb = {0};
                assert_int_equal(root_chain_parse(bad[i], strlen(bad[i]), "roots.json", &b, &eb), -EBADMSG);
                assert_null(b);
        }
        /* Versions must increase inside the document. */
        json_t *j1 = root_envelope_json(v[1]), *j0 = root_envelope_json(v[0]);
        char *e1 = json_dumps(j1, 0), *e0 = json_dumps(j0, 0), *doc;
        json_decref(j1);
        json_decref(j0);
        assert_true(asprintf(&doc, "{\"roots\": [%s, %s]}", e1, e0) > 0);
        struct root_chain *b = NULL;
        berr eb = {0};
        assert_int_equal(root_chain_parse(doc, strlen(doc), "roots.json", &b, &eb), -EBADMSG);
        assert_non_null(strstr(eb.msg, "versions must increase"));
        free(doc);
        /* berth-server's answer: a version and the roots, possibly none. */
        char *ans;
        assert_true(asprintf(&ans, "{\"version\": 3, \"roots\": [%s]}", e1) > 0);
        int64_t av = 0;
        struct root_chain *ac = NULL;
        berr ea = {0};
        assert_int_equal(root_chain_parse_answer(ans, strlen(ans), &av, &ac, &ea), 0);
        assert_int_equal(av, 3);
        assert_int_equal(ac->n, 1);
        assert_int_equal(ac->v[0]->version, 2);
        root_chain_free(ac);
        free(ans);
        ac = NULL;
        const char *none = "{\"version\": 1, \"roots\": []}";
        assert_int_equal(root_chain_parse_answer(none, strlen(none), &av, &ac, &ea), 0);
        assert_null(ac);
        assert_int_equal(av, 1);
        assert_true(asprintf(&ans, "{\"version\": 1, \"roots\": [%s]}", e1) > 0);
        berr eb2 = {0};
        assert_int_equal(root_chain_parse_answer(ans, strlen(ans), &av, &ac, &eb2), -EBADMSG);
        assert_non_null(strstr(eb2.msg, "above the version 1"));
        free(ans);
        static const char *bad_answers[] = {"{\"roots\": []}", "{\"version\": 0, \"roots\": []}",
                                            "{\"version\": 2, \"roots\": [], \"x\": 1}", "[]"};
        for (size_t i = 0; i < ELEMENTSOF(bad_answers); i++) {
                berr ex = {0};
                assert_int_equal(root_chain_parse_answer(bad_answers[i], strlen(bad_answers[i]), &av, &ac, &ex),
                                 -EBADMSG);
        }
        free(e1);
        free(e0);
        free(t);
        root_chain_free(c);
        root_chain_free(p);
        root_chain_free(g);
        for (size_t i = 0; i < 3; i++)
                root_free(v[i]);
        keys_done(&k);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hand_made),       cmocka_unit_test(test_strict),
                cmocka_unit_test(test_build_roundtrip), cmocka_unit_test(test_rotation_rule),
                cmocka_unit_test(test_implicit),        cmocka_unit_test(test_chain_doc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
