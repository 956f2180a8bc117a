/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_manifest.c — libFuzzer target for the strict manifest parser.
 *
 * Feeds arbitrary bytes to bundle_manifest_parse() and, when they parse, exercises the
 * layout arithmetic that later code trusts (offsets must grow, the file size must cover
 * every blob).
 */
#include "fuzz_check.h"
#include <stddef.h>
#include <stdint.h>

#include "bundle/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        berr e = {0};
        struct bundle_manifest *m = NULL;
        if (bundle_manifest_parse(data, size, &m, &e) < 0) {
                FUZZ_CHECK(e.msg[0] != 0); /* every refusal explains itself */
                return 0;
        }
        bundle_manifest_layout(m, bundle_head_size(size, 200, 0));
        uint64_t end = bundle_manifest_file_size(m, bundle_head_size(size, 200, 0));
        uint64_t prev = 0;
        for (size_t i = 0; i < m->n_blobs; i++) {
                FUZZ_CHECK(m->blobs[i].header_offset >= prev);
                FUZZ_CHECK(m->blobs[i].data_offset + m->blobs[i].size <= end);
                FUZZ_CHECK(bundle_manifest_find_blob(m, m->blobs[i].digest) == &m->blobs[i]);
                prev = m->blobs[i].data_offset;
        }
        for (size_t i = 0; i < m->n_images; i++)
                FUZZ_CHECK(bundle_manifest_find_blob(m, m->images[i].digest) != NULL);
        FUZZ_CHECK(m->n_images >= 1 && bundle_name_valid(m->name));
        bundle_manifest_free(m);
        return 0;
}
