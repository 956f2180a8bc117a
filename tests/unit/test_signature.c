/* SPDX-License-Identifier: Apache-2.0 */
/* test_signature.c — keys, trust directories and k-of-n signature verification. */
#include "fixture.h"

#include <errno.h>
#include <sys/stat.h>

static void test_keys_roundtrip(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 10);
        char *kp = path_join(f.dir, "keys/k1.key");
        struct stat st;
        assert_int_equal(stat(kp, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        struct berth_key k;
        berr e = {0};
        assert_int_equal(key_load_secret(kp, &k, &e), 0);
        assert_string_equal(k.id, f.k1.id);
        assert_memory_equal(k.pk, f.k1.pk, 32);
        /* Refuses to overwrite, and refuses a group-readable secret key. */
        berr e2 = {0};
        char *kd = path_join(f.dir, "keys");
        assert_int_equal(key_generate(kd, "k1", NULL, &e2), -EEXIST);
        free(kd);
        chmod(kp, 0644);
        berr e3 = {0};
        assert_int_equal(key_load_secret(kp, &k, &e3), -EPERM);
        assert_non_null(strstr(e3.msg, "chmod 600"));
        key_wipe(&k);
        free(kp);
        fx_done(&f);
}

static void test_threshold(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 10);
        const char *msg = "manifest bytes";
        struct bundle_signatures *s = signatures_new();
        assert_int_equal(signatures_add(s, &f.k1, msg, strlen(msg)), 0);
        struct trust *t = NULL;
        berr e = {0};
        assert_int_equal(trust_load(f.trust, &t, &e), 0);
        unsigned valid = 0;
        assert_int_equal(signatures_verify(s, t, msg, strlen(msg), &valid, &e), 0);
        assert_int_equal(valid, 1);
        trust_free(t);

        /* 2-of-2: one signature is not enough, two are. */
        fx_trust_k2(&f, 2);
        assert_int_equal(trust_load(f.trust, &t, &e), 0);
        assert_int_equal(t->threshold, 2);
        berr e2 = {0};
        assert_int_equal(signatures_verify(s, t, msg, strlen(msg), &valid, &e2), -EKEYREJECTED);
        assert_non_null(strstr(e2.msg, "1 valid signature(s)"));
        assert_int_equal(signatures_add(s, &f.k2, msg, strlen(msg)), 0);
        berr e3 = {0};
        assert_int_equal(signatures_verify(s, t, msg, strlen(msg), &valid, &e3), 0);
        assert_int_equal(valid, 2);
        /* Signing twice with one key replaces, it does not count twice. */
        assert_int_equal(signatures_add(s, &f.k2, msg, strlen(msg)), 0);
        assert_int_equal(s->n, 2);
        /* Any change to the manifest bytes is caught by a trusted key's signature. */
        berr e4 = {0};
        assert_int_equal(signatures_verify(s, t, "manifest bytez", 14, &valid, &e4), -EKEYREJECTED);
        assert_non_null(strstr(e4.msg, "does not match the manifest"));
        trust_free(t);
        signatures_free(s);
        fx_done(&f);
}

static void test_unknown_key(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 10);
        struct bundle_signatures *s = signatures_new();
        assert_int_equal(signatures_add(s, &f.k2, "m", 1), 0); /* k2 is not trusted */
        struct trust *t = NULL;
        berr e = {0};
        assert_int_equal(trust_load(f.trust, &t, &e), 0);
        assert_int_equal(signatures_verify(s, t, "m", 1, NULL, &e), -EKEYREJECTED);
        assert_non_null(strstr(e.msg, f.k2.id));
        trust_free(t);
        signatures_free(s);
        fx_done(&f);
}

static void test_serialize_parse(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 10);
        struct bundle_signatures *a = signatures_new(), *b = signatures_new();
        /* Order of signing does not change the serialised form. */
        signatures_add(a, &f.k1, "m", 1);
        signatures_add(a, &f.k2, "m", 1);
        signatures_add(b, &f.k2, "m", 1);
        signatures_add(b, &f.k1, "m", 1);
        char *ja, *jb;
        size_t la, lb;
        assert_int_equal(signatures_serialize(a, &ja, &la), 0);
        assert_int_equal(signatures_serialize(b, &jb, &lb), 0);
        assert_int_equal(la, lb);
        assert_memory_equal(ja, jb, la);
        struct bundle_signatures *p = NULL;
        berr e = {0};
        assert_int_equal(signatures_parse(ja, la, &p, &e), 0);
        assert_int_equal(p->n, 2);
        signatures_free(p);
        static const char *bad[] = {
                "{\"signatures\":[]}",
                "{\"signatures\":{}}",
                "{\"signatures\":[{\"keyid\":\"zz\",\"sig\":\"AAAA\"}]}",
                "{\"signatures\":[{\"keyid\":\"0123456789abcdef0123456789abcdef\",\"sig\":\"AAAA\"}]}",
                "not json",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                berr e2 = {0};
                p = NULL;
                assert_true(signatures_parse(bad[i], strlen(bad[i]), &p, &e2) < 0);
                assert_null(p);
                assert_true(e2.msg[0] != 0);
        }
        free(ja);
        free(jb);
        signatures_free(a);
        signatures_free(b);
        fx_done(&f);
}

static void test_trust_errors(void **state)
{
        struct fixture f;
        fx_init(&f, 1, 10);
        char *tp = path_join(f.trust, "threshold");
        write_file_atomic(tp, "3\n", 2, 0644);
        struct trust *t = NULL;
        berr e = {0};
        assert_int_equal(trust_load(f.trust, &t, &e), -EINVAL);
        assert_non_null(strstr(e.msg, "requires 3"));
        write_file_atomic(tp, "zero", 4, 0644);
        berr e2 = {0};
        assert_int_equal(trust_load(f.trust, &t, &e2), -EBADMSG);
        char *empty = path_join(f.dir, "empty");
        mkdir_p(empty, 0755);
        berr e3 = {0};
        assert_int_equal(trust_load(empty, &t, &e3), -ENOKEY);
        free(empty);
        free(tp);
        fx_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys_roundtrip), cmocka_unit_test(test_threshold),
                cmocka_unit_test(test_unknown_key), cmocka_unit_test(test_serialize_parse),
                cmocka_unit_test(test_trust_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
