/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h — credentials for the DDI and management APIs.
 *
 * Target tokens are stored only as SHA-256 hex; comparisons are constant-time so a
 * timing difference never tells whether a target exists. Pure functions, no I/O except
 * the kernel's random source.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum auth_scheme { AUTH_NONE, AUTH_TARGET_TOKEN, AUTH_GATEWAY_TOKEN, AUTH_BEARER, AUTH_OTHER };

/* Splits an Authorization header value; *token points into header. */
enum auth_scheme auth_parse(const char *header, const char **token);
/* Hex SHA-256 of a token (65 bytes with NUL). */
int auth_token_hash(const char *token, char out[65]);
/* Constant-time comparison of two NUL-terminated strings (length leaks, content does not). */
bool auth_equal(const char *a, const char *b);
/* A fresh random token: 32 lowercase hex characters (33 bytes with NUL). */
int auth_token_new(char out[33]);
