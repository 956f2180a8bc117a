/* SPDX-License-Identifier: Apache-2.0 */
/* digest.h — SHA-256 through libcrypto's EVP (uses the CPU's SHA extensions), and the
 * other digests protocols name (SHA-1, MD5 for hawkBit's artifact hashes; HMAC-SHA256).
 * The only module that includes libcrypto's headers.
 *
 * OCI digests are "sha256:" + 64 lowercase hex digits; digest_valid() is the only
 * gate for strings that later become file names in the content store.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_PREFIX "sha256:"
#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN) /* without NUL */

typedef struct sha256_ctx sha256_ctx;

int sha256_new(sha256_ctx **ret);
void sha256_free(sha256_ctx *c);
int sha256_update(sha256_ctx *c, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (DIGEST_STR_LEN + 1 bytes) and resets the context. */
int sha256_final_str(sha256_ctx *c, char out[DIGEST_STR_LEN + 1]);
/* One-shot helpers. */
int sha256_buf_raw(const void *data, size_t len, uint8_t out[32]);
int sha256_buf_str(const void *data, size_t len, char out[DIGEST_STR_LEN + 1]);
/* Streaming digests by algorithm. SHA-1 and MD5 only describe artifacts to protocols that
 * ask for them (hawkBit DDI); nothing berth trusts rests on them. */
enum digest_alg { DIGEST_SHA256, DIGEST_SHA1, DIGEST_MD5 };
typedef struct digest_ctx digest_ctx;
int digest_new(enum digest_alg alg, digest_ctx **ret);
void digest_free(digest_ctx *c);
int digest_update(digest_ctx *c, const void *data, size_t len);
/* Writes the lowercase hex digest into out (size ≥ 2 × digest size + 1: 65, 41 or 33);
 * the context is finished afterwards. */
int digest_final_hex(digest_ctx *c, char *out, size_t size);

/* HMAC-SHA256 (RFC 2104) of data under key. */
int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);

/* True for "sha256:" followed by exactly 64 lowercase hex digits and nothing else. */
bool digest_valid(const char *s);
/* The hex part of a valid digest. */
static inline const char *digest_hex(const char *d) { return d + 7; }
void hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* The value of one hex digit (either case), -1 for anything else. */
int hex_value(char c);
/* Exactly 2*n hex digits at s into out[n]; false when one is not (s may end early: the
 * NUL is not a digit). */
bool hex_decode(const char *s, uint8_t *out, size_t n);
