/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h — credentials for the DDI and management APIs.
 *
 * Target tokens are stored only as a keyed hash: "h1:" + hex HMAC-SHA256 under the
 * server's token key (STATE/token.key), so a copy of the database alone allows no
 * guessing of tokens. Hashes from before the key (bare hex SHA-256) are still accepted
 * and re-keyed by the caller. Comparisons are constant-time so a timing difference never
 * tells whether a target exists. Pure functions, no I/O except the kernel's random source.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32
#define AUTH_HASH_PREFIX "h1:"
#define AUTH_HASH_SIZE 68       /* "h1:" + 64 hex + NUL */

enum auth_scheme { AUTH_NONE, AUTH_TARGET_TOKEN, AUTH_GATEWAY_TOKEN, AUTH_BEARER, AUTH_OTHER };

/* Splits an Authorization header value; *token points into header. */
enum auth_scheme auth_parse(const char *header, const char **token);
/* The stored form of a token: "h1:" + hex HMAC-SHA256(key, token). */
int auth_token_hash(const uint8_t key[AUTH_KEY_LEN], const char *token, char out[AUTH_HASH_SIZE]);
enum auth_match {
        AUTH_NO_MATCH = 0,
        AUTH_MATCH = 1,
        AUTH_MATCH_LEGACY = 2,  /* matched an unsalted SHA-256 hash: store auth_token_hash() instead */
};
/* Checks token against a stored hash (keyed, legacy, or "" for none: never a match) with
 * the same work whatever stored is. Negative errno when hashing failed. */
int auth_token_check(const uint8_t key[AUTH_KEY_LEN], const char *token, const char *stored);
/* Constant-time comparison of two NUL-terminated strings (length leaks, content does not). */
bool auth_equal(const char *a, const char *b);
/* A fresh random token: 32 lowercase hex characters (33 bytes with NUL). */
int auth_token_new(char out[33]);
/* A fresh random token key, and its text form (64 hex characters) and back. */
int auth_key_new(uint8_t key[AUTH_KEY_LEN]);
void auth_key_format(const uint8_t key[AUTH_KEY_LEN], char out[2 * AUTH_KEY_LEN + 1]);
int auth_key_parse(const char *hex, uint8_t key[AUTH_KEY_LEN]);
