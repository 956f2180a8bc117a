/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h — the registry's authentication challenge (WWW-Authenticate) and the token
 * endpoint's answer, as used by the distribution token flow:
 *
 *   401 + WWW-Authenticate: Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull,push"
 *   → GET realm?service=reg&scope=… (with basic credentials when configured)
 *   → {"token": "…"} or {"access_token": "…"} → retry with "Authorization: Bearer …".
 *
 * Pure parsing, no I/O; every input is bounded.
 */
#pragma once

#include <stddef.h>

#define AUTH_MAX_HEADER_LEN 4096
#define AUTH_MAX_TOKEN_LEN (64u * 1024)

enum auth_scheme { AUTH_SCHEME_UNKNOWN, AUTH_SCHEME_BASIC, AUTH_SCHEME_BEARER };

struct auth_challenge {
        enum auth_scheme scheme;
        char *realm;
        char *service;
        char *scope;    /* may hold several scopes separated by spaces */
        char *error;    /* e.g. "insufficient_scope", "invalid_token" */
};

/* Parses one WWW-Authenticate header value (auth-scheme followed by comma-separated
 * auth-params, values quoted or bare). -EBADMSG when malformed. */
int auth_challenge_parse(const char *value, struct auth_challenge *ret);
void auth_challenge_done(struct auth_challenge *c);

/* Extracts the token from a token-endpoint JSON answer ("token", else "access_token").
 * -EBADMSG when there is none or it is not printable ASCII. */
int auth_token_parse(const char *json, size_t len, char **ret);
