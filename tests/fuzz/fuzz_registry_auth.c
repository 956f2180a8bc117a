/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_registry_auth.c — WWW-Authenticate challenges and token answers come from the
 * network: parse arbitrary bytes, and check what a successful parse promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        struct auth_challenge c;
        if (auth_challenge_parse(s, &c) == 0) {
                if (c.scheme == AUTH_SCHEME_BEARER && (!c.realm || !c.realm[0]))
                        abort();
                auth_challenge_done(&c);
        }
        char *tok = NULL;
        if (auth_token_parse(s, size, &tok) == 0) {
                for (const char *q = tok; *q; q++)
                        if (*q <= 0x20 || *q >= 0x7f)
                                abort(); /* would be an HTTP header injection */
                free(tok);
        }
        free(s);
        return 0;
}
