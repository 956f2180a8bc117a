/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_signatures.c — libFuzzer target for the signatures.json parser.
 *
 * Arbitrary bytes go to signatures_parse(); whatever parses must serialise to canonical
 * JSON that parses again to the same set of signatures.
 */
#include "fuzz_check.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/signature.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        berr e = {0};
        struct bundle_signatures *s = NULL;
        if (signatures_parse(data, size, &s, &e) < 0) {
                FUZZ_CHECK(e.msg[0] != 0);
                return 0;
        }
        char *out = NULL;
        size_t len = 0;
        if (signatures_serialize(s, &out, &len) == 0) {
                struct bundle_signatures *s2 = NULL;
                berr e2 = {0};
                int r = signatures_parse(out, len, &s2, &e2);
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(s2->n == s->n);
                for (size_t i = 0; i < s2->n; i++) {
                        bool found = false;
                        for (size_t j = 0; j < s->n && !found; j++)
                                found = !strcmp(s2->v[i].keyid, s->v[j].keyid) &&
                                        !memcmp(s2->v[i].sig, s->v[j].sig, sizeof s->v[j].sig);
                        FUZZ_CHECK(found);
                }
                signatures_free(s2);
                free(out);
        }
        signatures_free(s);
        return 0;
}
