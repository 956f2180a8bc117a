/* SPDX-License-Identifier: Apache-2.0 */
/* test_base.c — digest, time, fs and error helpers. */
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>

#include "base/digest.h"
#include "base/err.h"
#include "base/timeutil.h"

static void test_sha256_known_answer(void **state)
{
        char d[DIGEST_STR_LEN + 1];
        assert_int_equal(sha256_buf_str("abc", 3, d), 0);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        sha256_ctx *c;
        assert_int_equal(sha256_new(&c), 0);
        sha256_update(c, "a", 1);
        sha256_update(c, "bc", 2);
        char d2[DIGEST_STR_LEN + 1];
        assert_int_equal(sha256_final_str(c, d2), 0);
        assert_string_equal(d, d2);
        /* The context is reset after final. */
        sha256_update(c, "abc", 3);
        assert_int_equal(sha256_final_str(c, d2), 0);
        assert_string_equal(d, d2);
        sha256_free(c);
}

static void test_digest_valid(void **state)
{
        assert_true(digest_valid("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(digest_valid("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(digest_valid("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"));
        assert_false(digest_valid("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
        assert_false(digest_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(digest_valid("sha256:../../../../etc/passwd0000000000000000000000000000000000000000000"));
        assert_false(digest_valid(NULL));
}

static void test_time(void **state)
{
        int64_t t;
        assert_int_equal(time_parse_rfc3339("2026-11-21T06:00:00Z", &t), 0);
        assert_int_equal(t, 1795240800); /* date -u -d 2026-11-21T06:00:00Z +%s */
        char buf[32];
        time_format_rfc3339(t, buf);
        assert_string_equal(buf, "2026-11-21T06:00:00Z");
        assert_int_equal(time_parse_rfc3339("2026-02-31T00:00:00Z", &t), -EINVAL);
        assert_int_equal(time_parse_rfc3339("2026-11-21 06:00:00", &t), -EINVAL);
        assert_int_equal(time_parse_rfc3339("2026-11-21T06:00:00+01:00", &t), -EINVAL);
        assert_int_equal(duration_parse("90d", &t), 0);
        assert_int_equal(t, 90 * 86400);
        assert_int_equal(duration_parse("12h", &t), 0);
        assert_int_equal(t, 12 * 3600);
        assert_int_equal(duration_parse("5x", &t), -EINVAL);
        assert_int_equal(duration_parse("-5d", &t), -EINVAL);
}

static void test_write_file_atomic(void **state)
{
        char *dir = test_tmpdir("base");
        assert_non_null(dir);
        char *p = path_join(dir, "f");
        assert_int_equal(write_file_atomic(p, "one", 3, 0600), 0);
        assert_int_equal(write_file_atomic(p, "second", 6, 0640), 0);
        char *buf;
        size_t len;
        assert_int_equal(read_file_bounded(p, 100, &buf, &len), 0);
        assert_int_equal(len, 6);
        assert_string_equal(buf, "second");
        free(buf);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0640);
        assert_int_equal(read_file_bounded(p, 5, &buf, &len), -EFBIG);
        free(p);
        test_rmdir(dir);
}

static void test_berr(void **state)
{
        berr e = {0};
        assert_int_equal(berr_set(&e, -EBADMSG, "blob %s is bad", "x"), -EBADMSG);
        /* The first, most specific message wins. */
        berr_set(&e, -EIO, "other");
        assert_string_equal(e.msg, "blob x is bad");
        berr_prefix(&e, -EBADMSG, "bundle %s", "b.berth");
        assert_string_equal(e.msg, "bundle b.berth: blob x is bad");
        berr empty = {0};
        assert_string_equal(berr_msg(&empty, -ENOENT), "No such file or directory");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256_known_answer), cmocka_unit_test(test_digest_valid),
                cmocka_unit_test(test_time), cmocka_unit_test(test_write_file_atomic), cmocka_unit_test(test_berr),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
