/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_range.c — HTTP Range parsing for artifact downloads (server-stub/artifact). */
#include "testutil.h"

#include <errno.h>

#include "server-stub/artifact/artifact.h"

static void check(const char *h, uint64_t size, int want, uint64_t off, uint64_t len)
{
        struct byte_range r = {0};
        int k = artifact_parse_range(h, size, &r);
        if (k != want)
                fail_msg("'%s' (size %llu): got %d, want %d", h ? h : "(null)", (unsigned long long)size, k, want);
        if (want == 1) {
                assert_int_equal(r.off, off);
                assert_int_equal(r.len, len);
        }
}

static void test_single_ranges(void **state)
{
        check("bytes=0-99", 1000, 1, 0, 100);
        check("bytes=999-999", 1000, 1, 999, 1);
        check("bytes=10-", 1000, 1, 10, 990);
        check("bytes=-1", 1000, 1, 999, 1);
        check("bytes=-5000", 1000, 1, 0, 1000);          /* suffix longer than the file */
        check("bytes=10-5000", 1000, 1, 10, 990);        /* end clipped */
        check(" bytes=1-2 ", 1000, 1, 1, 2);
}

static void test_ignored(void **state)
{
        check(NULL, 1000, 0, 0, 0);
        check("items=0-1", 1000, 0, 0, 0);               /* other unit */
        check("bytes=0-1,5-6", 1000, 0, 0, 0);           /* several ranges: whole file */
}

static void test_unsatisfiable_or_malformed(void **state)
{
        check("bytes=1000-", 1000, -ERANGE, 0, 0);
        check("bytes=2000-3000", 1000, -ERANGE, 0, 0);
        check("bytes=5-2", 1000, -ERANGE, 0, 0);
        check("bytes=-0", 1000, -ERANGE, 0, 0);
        check("bytes=", 1000, -ERANGE, 0, 0);
        check("bytes=-", 1000, -ERANGE, 0, 0);
        check("bytes=abc", 1000, -ERANGE, 0, 0);
        check("bytes=1-2x", 1000, -ERANGE, 0, 0);
        check("bytes=0-0", 0, -ERANGE, 0, 0);            /* empty file */
        check("bytes=-10", 0, -ERANGE, 0, 0);
        check("bytes=99999999999999999999-", 1000, -ERANGE, 0, 0); /* overflow */
        check("bytes=+1-2", 1000, -ERANGE, 0, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_single_ranges),
                cmocka_unit_test(test_ignored),
                cmocka_unit_test(test_unsatisfiable_or_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
