/* SPDX-License-Identifier: Apache-2.0 */
/* plan.c — head length and missing-blob ranges of a remote .berth (see plan.h). */
#include "fetch/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/format.h"

/* The 12-byte ustar size field: octal digits, NUL/space terminated. */
static int tar_size(const uint8_t *h, uint64_t *ret)
{
        const uint8_t *f = h + 124;
        uint64_t v = 0;
        size_t i = 0;
        while (i < 12 && f[i] == ' ')
                i++;
        size_t digits = 0;
        for (; i < 12 && f[i] >= '0' && f[i] <= '7'; i++, digits++)
                v = v * 8 + (uint64_t)(f[i] - '0');
        if (digits == 0 || digits > 11)
                return -EBADMSG;
        for (; i < 12; i++)
                if (f[i] != 0 && f[i] != ' ')
                        return -EBADMSG;
        *ret = v;
        return 0;
}

static bool name_is(const uint8_t *h, const char *want)
{
        size_t n = strlen(want);
        return memcmp(h, want, n) == 0 && h[n] == 0;
}

int fetch_head_need(const uint8_t *buf, size_t len, uint64_t *need)
{
        if (len < BUNDLE_TAR_BLOCK) {
                *need = BUNDLE_TAR_BLOCK;
                return 1;
        }
        uint64_t msize, ssize, rsize;
        if (!name_is(buf, BUNDLE_MANIFEST_ENTRY) || tar_size(buf, &msize) < 0 || msize > BUNDLE_MAX_MANIFEST_SIZE)
                return -EBADMSG;
        uint64_t sig_hdr = BUNDLE_TAR_BLOCK + tar_padded(msize);
        if (len < sig_hdr + BUNDLE_TAR_BLOCK) {
                *need = sig_hdr + BUNDLE_TAR_BLOCK;
                return 1;
        }
        const uint8_t *h = buf + sig_hdr;
        if (!name_is(h, BUNDLE_SIGNATURES_ENTRY) || tar_size(h, &ssize) < 0 || ssize > BUNDLE_MAX_SIGNATURES_SIZE)
                return -EBADMSG;
        /* The header after the signatures says whether the optional roots entry is part of
         * the head (every bundle has at least one blob, so that header exists). */
        uint64_t third = sig_hdr + BUNDLE_TAR_BLOCK + tar_padded(ssize);
        if (len < third + BUNDLE_TAR_BLOCK) {
                *need = third + BUNDLE_TAR_BLOCK;
                return 1;
        }
        h = buf + third;
        if (!name_is(h, BUNDLE_ROOTS_ENTRY)) {
                *need = third;
                return 0;
        }
        if (tar_size(h, &rsize) < 0 || rsize == 0 || rsize > BUNDLE_MAX_ROOTS_SIZE)
                return -EBADMSG;
        *need = third + BUNDLE_TAR_BLOCK + tar_padded(rsize);
        return 0;
}

int fetch_plan(const struct bundle_manifest *m, fetch_have_fn have, void *userdata, struct fetch_range **ret,
               size_t *n, uint64_t *bytes)
{
        struct fetch_range *v = NULL;
        size_t k = 0;
        uint64_t sum = 0;
        for (size_t i = 0; i < m->n_blobs; i++) {
                const struct bundle_blob *b = &m->blobs[i];
                if (have && have(userdata, b))
                        continue;
                if (!v) {
                        v = calloc(m->n_blobs, sizeof *v);
                        if (!v)
                                return -ENOMEM;
                }
                v[k++] = (struct fetch_range){.blob = i, .offset = b->data_offset, .length = b->size};
                sum += b->size;
        }
        *ret = v;
        *n = k;
        *bytes = sum;
        return 0;
}
