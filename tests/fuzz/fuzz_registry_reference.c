/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_registry_reference.c — image references decide repository names and URL paths
 * on the mirror: whatever parses must give a valid repository (no "..", no '?', …). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        struct image_ref r;
        if (image_ref_parse(s, &r) == 0) {
                char *repo = NULL;
                if (!r.domain || !r.path || (!r.tag && !r.digest))
                        abort();
                if (mirror_repository(&r, "site1", &repo) == 0) {
                        if (!repository_name_valid(repo) || strstr(repo, "..") || strpbrk(repo, "?#% :@"))
                                abort();
                        free(repo);
                }
                if (r.tag && !tag_valid(r.tag))
                        abort();
                image_ref_done(&r);
        }
        free(s);
        return 0;
}
