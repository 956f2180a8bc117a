/* SPDX-License-Identifier: Apache-2.0 */
/* test_server_hashes.c — an artifact's sha256, sha1 and md5 in one pass
 * (server-stub/artifact/hashes.c over the agent's digest module): known vectors, an
 * empty file, a file larger than the read buffer, a missing file. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>

#include "base/fs.h"
#include "server-stub/artifact/artifact.h"

static void hash_of(const char *dir, const void *data, size_t len, struct artifact_hashes *h)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/f", dir);
        assert_int_equal(write_file_atomic(path, data, len, 0600), 0);
        berr e = {0};
        int r = artifact_hash_file(path, h, &e);
        if (r < 0)
                fail_msg("artifact_hash_file: %s", berr_msg(&e, r));
}

static void test_vectors(void **state)
{
        char *dir = test_tmpdir("srvhash");
        struct artifact_hashes h;
        hash_of(dir, "abc", 3, &h);
        assert_int_equal(h.size, 3);
        assert_string_equal(h.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_string_equal(h.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_string_equal(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        hash_of(dir, "", 0, &h);
        assert_int_equal(h.size, 0);
        assert_string_equal(h.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_string_equal(h.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_string_equal(h.md5, "d41d8cd98f00b204e9800998ecf8427e");
        /* 3 MiB of 'a': more than one read of the 1 MiB buffer. */
        size_t n = 3u << 20;
        char *big = malloc(n);
        memset(big, 'a', n);
        hash_of(dir, big, n, &h);
        free(big);
        assert_int_equal(h.size, n);
        assert_string_equal(h.sha256, "6f850bc94ae6f7de14297c01616c36d712d22864497b28a63b81d776b035e656");
        assert_string_equal(h.sha1, "95fabf9f3f6a52aaadcf57e61a66fd56f893095b");
        assert_string_equal(h.md5, "6a11a8872b36343799a15617bea78cef");
        char path[4096];
        snprintf(path, sizeof path, "%s/missing", dir);
        berr e = {0};
        assert_int_equal(artifact_hash_file(path, &h, &e), -ENOENT);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
