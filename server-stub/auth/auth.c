/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c — see auth.h. Hashing goes through the agent's digest module. */
#include "server-stub/auth/auth.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base/digest.h"

enum auth_scheme auth_parse(const char *h, const char **token)
{
        static const struct {
                const char *name;
                enum auth_scheme s;
        } schemes[] = {
                {"TargetToken ", AUTH_TARGET_TOKEN},
                {"GatewayToken ", AUTH_GATEWAY_TOKEN},
                {"Bearer ", AUTH_BEARER},
        };
        *token = NULL;
        if (!h)
                return AUTH_NONE;
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
                size_t n = strlen(schemes[i].name);
                if (!strncasecmp(h, schemes[i].name, n)) {
                        const char *t = h + n;
                        while (*t == ' ')
                                t++;
                        if (!*t)
                                return AUTH_OTHER;
                        *token = t;
                        return schemes[i].s;
                }
        }
        return AUTH_OTHER;
}

int auth_token_hash(const uint8_t key[AUTH_KEY_LEN], const char *token, char out[AUTH_HASH_SIZE])
{
        uint8_t d[32];
        int r = hmac_sha256(key, AUTH_KEY_LEN, token, strlen(token), d);
        if (r < 0)
                return r;
        memcpy(out, AUTH_HASH_PREFIX, 3);
        hex_encode(d, sizeof d, out + 3);
        return 0;
}

int auth_token_check(const uint8_t key[AUTH_KEY_LEN], const char *token, const char *stored)
{
        /* Both hashes, always: the work does not depend on what is stored. */
        static const char dummy[] = "0000000000000000000000000000000000000000000000000000000000000000";
        char keyed[AUTH_HASH_SIZE], legacy[65];
        uint8_t d[32];
        int r = auth_token_hash(key, token, keyed);
        if (r < 0 || (r = sha256_buf_raw(token, strlen(token), d)) < 0)
                return r;
        hex_encode(d, sizeof d, legacy);
        bool is_keyed = !strncmp(stored, AUTH_HASH_PREFIX, 3);
        bool is_legacy = !is_keyed && strlen(stored) == 64;
        bool k = auth_equal(keyed, is_keyed ? stored : dummy);
        bool l = auth_equal(legacy, is_legacy ? stored : dummy);
        return is_keyed && k ? AUTH_MATCH : is_legacy && l ? AUTH_MATCH_LEGACY : AUTH_NO_MATCH;
}

bool auth_equal(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned char diff = la != lb;
        /* Walk the whole of a regardless of where the first difference is. */
        for (size_t i = 0; i < la; i++)
                diff |= (unsigned char)a[i] ^ (unsigned char)(i < lb ? b[i] : 0);
        return diff == 0;
}

int auth_token_new(char out[33])
{
        unsigned char b[16];
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
                return -EIO;
        hex_encode(b, sizeof b, out);
        return 0;
}

int auth_key_new(uint8_t key[AUTH_KEY_LEN])
{
        return getrandom(key, AUTH_KEY_LEN, 0) == AUTH_KEY_LEN ? 0 : -EIO;
}

void auth_key_format(const uint8_t key[AUTH_KEY_LEN], char out[2 * AUTH_KEY_LEN + 1])
{
        hex_encode(key, AUTH_KEY_LEN, out);
}

int auth_key_parse(const char *hex, uint8_t key[AUTH_KEY_LEN])
{
        if (strlen(hex) != 2 * AUTH_KEY_LEN || strspn(hex, "0123456789abcdef") != 2 * AUTH_KEY_LEN)
                return -EBADMSG;
        for (size_t i = 0; i < AUTH_KEY_LEN; i++) {
                unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
                unsigned lo = (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
                key[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}
