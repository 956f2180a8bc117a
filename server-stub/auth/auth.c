/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c — see auth.h. */
#include "auth/auth.h"

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

int auth_token_hash(const char *token, char out[65])
{
        unsigned char d[32];
        int r = sha256_buf_raw(token, strlen(token), d);
        if (r < 0)
                return r;
        hex_encode(d, sizeof d, out);
        return 0;
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
