/* SPDX-License-Identifier: Apache-2.0 */
/* hashes.c — sha256, sha1 and md5 of a file in one pass (the agent's digest module).
 *
 * DDI clients expect all three in an artifact's "hashes"; berth itself trusts only the
 * signed manifest, so sha1/md5 here are informational.
 */
#include "server-stub/artifact/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"

int artifact_hash_file(const char *path, struct artifact_hashes *h, berr *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open %s: %m", path);
        static const enum digest_alg algs[3] = {DIGEST_SHA256, DIGEST_SHA1, DIGEST_MD5};
        digest_ctx *c[3] = {NULL, NULL, NULL};
        int r = 0;
        for (int i = 0; i < 3 && r == 0; i++)
                r = digest_new(algs[i], &c[i]);
        _cleanup_free_ unsigned char *buf = malloc(1 << 20);
        if (!buf && r == 0)
                r = -ENOMEM;
        uint64_t total = 0;
        while (r == 0) {
                ssize_t n = read(fd, buf, 1 << 20);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = berr_set(e, -errno, "cannot read %s: %m", path);
                        break;
                }
                if (n == 0)
                        break;
                total += (uint64_t)n;
                for (int i = 0; i < 3 && r == 0; i++)
                        r = digest_update(c[i], buf, (size_t)n);
        }
        if (r == 0 && (r = digest_final_hex(c[0], h->sha256, sizeof h->sha256)) == 0 &&
            (r = digest_final_hex(c[1], h->sha1, sizeof h->sha1)) == 0 &&
            (r = digest_final_hex(c[2], h->md5, sizeof h->md5)) == 0)
                h->size = total;
        for (int i = 0; i < 3; i++)
                digest_free(c[i]);
        return r;
}
