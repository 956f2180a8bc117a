/* SPDX-License-Identifier: Apache-2.0 */
/* digest.c — see digest.h. */
#include "base/digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

struct sha256_ctx {
        EVP_MD_CTX *md;
};

int sha256_new(sha256_ctx **ret)
{
        sha256_ctx *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->md = EVP_MD_CTX_new();
        if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
                sha256_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void sha256_free(sha256_ctx *c)
{
        if (!c)
                return;
        EVP_MD_CTX_free(c->md);
        free(c);
}

int sha256_update(sha256_ctx *c, const void *data, size_t len)
{
        return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -EIO;
}

int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

bool hex_decode(const char *s, uint8_t *out, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int hi = hex_value(s[2 * i]), lo = hi < 0 ? -1 : hex_value(s[2 * i + 1]);
                if (lo < 0)
                        return false;
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return true;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
        static const char hx[] = "0123456789abcdef";
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = hx[in[i] >> 4];
                out[2 * i + 1] = hx[in[i] & 15];
        }
        out[2 * len] = 0;
}

int sha256_final_str(sha256_ctx *c, char out[DIGEST_STR_LEN + 1])
{
        uint8_t md[32];
        unsigned n = 0;
        if (EVP_DigestFinal_ex(c->md, md, &n) != 1 || n != 32)
                return -EIO;
        memcpy(out, DIGEST_PREFIX, 7);
        hex_encode(md, 32, out + 7);
        if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
                return -EIO;
        return 0;
}

int sha256_buf_raw(const void *data, size_t len, uint8_t out[32])
{
        unsigned n = 0;
        return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -EIO;
}

int sha256_buf_str(const void *data, size_t len, char out[DIGEST_STR_LEN + 1])
{
        uint8_t md[32];
        int r = sha256_buf_raw(data, len, md);
        if (r < 0)
                return r;
        memcpy(out, DIGEST_PREFIX, 7);
        hex_encode(md, 32, out + 7);
        return 0;
}

struct digest_ctx {
        EVP_MD_CTX *md;
};

int digest_new(enum digest_alg alg, digest_ctx **ret)
{
        const EVP_MD *md = alg == DIGEST_SHA256 ? EVP_sha256() : alg == DIGEST_SHA1 ? EVP_sha1()
                         : alg == DIGEST_MD5    ? EVP_md5()
                                                : NULL;
        if (!md)
                return -EINVAL;
        digest_ctx *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->md = EVP_MD_CTX_new();
        if (!c->md || EVP_DigestInit_ex(c->md, md, NULL) != 1) {
                digest_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void digest_free(digest_ctx *c)
{
        if (!c)
                return;
        EVP_MD_CTX_free(c->md);
        free(c);
}

int digest_update(digest_ctx *c, const void *data, size_t len)
{
        return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -EIO;
}

int digest_final_hex(digest_ctx *c, char *out, size_t size)
{
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (EVP_DigestFinal_ex(c->md, md, &n) != 1)
                return -EIO;
        if (size < 2 * (size_t)n + 1)
                return -ENOBUFS;
        hex_encode(md, n, out);
        return 0;
}

int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32])
{
        unsigned n = 0;
        if (key_len > INT32_MAX)
                return -EINVAL;
        return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) && n == 32 ? 0 : -EIO;
}

bool digest_valid(const char *s)
{
        if (!s || strncmp(s, DIGEST_PREFIX, 7) != 0)
                return false;
        s += 7;
        for (int i = 0; i < DIGEST_HEX_LEN; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[DIGEST_HEX_LEN] == 0;
}
