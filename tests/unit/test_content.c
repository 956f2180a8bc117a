/* SPDX-License-Identifier: Apache-2.0 */
/* test_content.c — the content store: nothing visible before commit, stage all-or-nothing. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>

#include "base/digest.h"
#include "store/content.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        size_t n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.';
        if (d)
                closedir(d);
        return n;
}

static void stage_blob(struct content_stage *st, const char *digest, const char *data)
{
        int fd;
        berr e = {0};
        assert_int_equal(content_stage_open(st, digest, &fd, &e), 0);
        assert_int_equal(write_all(fd, data, strlen(data)), 0);
        assert_int_equal(content_stage_done(st, digest, fd, &e), 0);
}

static void test_commit_and_abort(void **state)
{
        char *dir = test_tmpdir("content");
        struct content_store *cs;
        berr e = {0};
        assert_int_equal(content_store_open(dir, &cs, &e), 0);
        struct content_stage *st;
        assert_int_equal(content_stage_new(cs, &st, &e), 0);
        stage_blob(st, DA, "hello");
        stage_blob(st, DB, "world!");
        /* Staged but not committed: invisible. */
        assert_false(content_has(cs, DA, UINT64_MAX));
        assert_int_equal(content_stage_commit(st, &e), 0);
        content_stage_free(st);
        assert_true(content_has(cs, DA, 5));
        assert_false(content_has(cs, DA, 6));
        assert_true(content_has(cs, DB, 6));
        uint64_t bytes, count;
        assert_int_equal(content_usage(cs, &bytes, &count), 0);
        assert_int_equal(bytes, 11);
        assert_int_equal(count, 2);

        /* A stage that is freed without commit leaves nothing behind. */
        assert_int_equal(content_remove(cs, DA), 0);
        assert_int_equal(content_stage_new(cs, &st, &e), 0);
        stage_blob(st, DA, "hello");
        content_stage_free(st);
        assert_false(content_has(cs, DA, UINT64_MAX));
        char *staging = path_join(dir, "store/staging");
        assert_int_equal(count_entries(staging), 0);

        /* Digests that are not digests never become paths. */
        assert_null(content_path(cs, "sha256:../../etc/passwd"));
        assert_int_equal(content_stage_new(cs, &st, &e), 0);
        int fd;
        assert_int_equal(content_stage_open(st, "../x", &fd, &e), -EINVAL);
        content_stage_free(st);
        content_store_free(cs);
        free(staging);
        test_rmdir(dir);
}

static void test_stale_staging_removed(void **state)
{
        char *dir = test_tmpdir("content");
        struct content_store *cs;
        berr e = {0};
        assert_int_equal(content_store_open(dir, &cs, &e), 0);
        struct content_stage *st;
        assert_int_equal(content_stage_new(cs, &st, &e), 0);
        int fd;
        assert_int_equal(content_stage_open(st, DA, &fd, &e), 0);
        assert_int_equal(write_all(fd, "partial", 7), 0);
        close(fd);
        /* Simulate a crash: the stage is never freed; the store is reopened. */
        char *staging = path_join(dir, "store/staging");
        assert_int_equal(count_entries(staging), 1);
        struct content_store *cs2;
        assert_int_equal(content_store_open(dir, &cs2, &e), 0);
        assert_int_equal(count_entries(staging), 0);
        assert_false(content_has(cs2, DA, UINT64_MAX));
        content_store_free(cs2);
        /* The orphaned stage object's directory is gone; freeing it is harmless. */
        content_stage_free(st);
        content_store_free(cs);
        free(staging);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_commit_and_abort),
                                           cmocka_unit_test(test_stale_staging_removed)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
