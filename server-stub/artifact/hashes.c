/* SPDX-License-Identifier: Apache-2.0 */
/* hashes.c — sha256, sha1 and md5 of a file in one pass (libcrypto EVP).
 *
 * DDI clients expect all three in an artifact's "hashes"; berth itself trusts only the
 * signed manifest, so sha1/md5 here are informational.
 */
#include "artifact/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
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
        const EVP_MD *mds[3] = {EVP_sha256(), EVP_sha1(), EVP_md5()};
        EVP_MD_CTX *c[3] = {NULL, NULL, NULL};
        int r = 0;
        for (int i = 0; i < 3; i++)
                if (!(c[i] = EVP_MD_CTX_new()) || EVP_DigestInit_ex(c[i], mds[i], NULL) != 1)
                        r = -ENOMEM;
        _cleanup_free_ unsigned char *buf = malloc(1 << 20);
        if (!buf)
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
                for (int i = 0; i < 3; i++)
                        if (EVP_DigestUpdate(c[i], buf, (size_t)n) != 1)
                                r = -EIO;
        }
        if (r == 0) {
                char *outs[3] = {h->sha256, h->sha1, h->md5};
                for (int i = 0; i < 3; i++) {
                        unsigned char md[EVP_MAX_MD_SIZE];
                        unsigned len = 0;
                        if (EVP_DigestFinal_ex(c[i], md, &len) != 1) {
                                r = -EIO;
                                break;
                        }
                        hex_encode(md, len, outs[i]);
                }
                h->size = total;
        }
        for (int i = 0; i < 3; i++)
                EVP_MD_CTX_free(c[i]);
        return r;
}
