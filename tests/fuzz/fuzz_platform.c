/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_platform.c — libFuzzer target for the platform walk (bundle/platform.h): which
 * blobs of a bundle one platform needs, and the platforms a bundle lists. The bundle is
 * fixed (an index D0, manifests D1 and D2, a nested index D3, a config D4, a layer D5;
 * images "a" = D0, "b" = D1); the input is the image documents D0, D1, D2, D3, D4 in
 * that order, separated by NUL bytes (a missing one is not held: -ENOENT).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_DOCS 5
#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char manifest_json[] =
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.berth.bundle.manifest.v1+json\",\"name\":\"f\","
        "\"version\":1,\"created\":\"2024-01-01T00:00:00Z\",\"expires\":\"2098-01-01T00:00:00Z\",\"images\":["
        "{\"ref\":\"x/a:1\",\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" D("0") "\",\"size\":10},"
        "{\"ref\":\"x/b:1\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("1") "\",\"size\":10}],"
        "\"blobs\":["
        "{\"digest\":\"" D("0") "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"},"
        "{\"digest\":\"" D("1") "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"},"
        "{\"digest\":\"" D("2") "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"},"
        "{\"digest\":\"" D("3") "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"},"
        "{\"digest\":\"" D("4") "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.config.v1+json\"},"
        "{\"digest\":\"" D("5") "\",\"size\":10,\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\"}]}";

struct docs {
        const uint8_t *p[N_DOCS];
        size_t len[N_DOCS];
        size_t n;
};

static int doc(void *ud, const struct bundle_blob *b, json_t **ret, berr *e)
{
        struct docs *d = ud;
        size_t i = (size_t)(b->digest[7] - '0');
        if (i >= d->n)
                return berr_set(e, -ENOENT, "blob %s is not held", b->digest);
        json_error_t je;
        *ret = json_loadb((const char *)d->p[i], d->len[i], JSON_REJECT_DUPLICATES, &je);
        return *ret ? 0 : berr_set(e, -EBADMSG, "not JSON");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct bundle_manifest *m;
        if (!m) {
                berr e = {0};
                if (bundle_manifest_parse(manifest_json, strlen(manifest_json), &m, &e) < 0) {
                        fprintf(stderr, "fuzz_platform: the fixed manifest does not parse: %s\n", e.msg);
                        abort();
                }
        }
        struct docs d = {0};
        const uint8_t *p = data, *end = data + size;
        while (d.n < N_DOCS && p <= end) {
                const uint8_t *z = memchr(p, 0, (size_t)(end - p));
                d.p[d.n] = p;
                d.len[d.n++] = z ? (size_t)(z - p) : (size_t)(end - p);
                if (!z)
                        break;
                p = z + 1;
        }
        struct platform_bytes *pl = NULL;
        size_t n = 0;
        berr e = {0};
        if (platform_list(m, doc, &d, &pl, &n, &e) == 0)
                free(pl);
        bool need[6];
        uint64_t bytes;
        struct platform host;
        platform_host(&host);
        berr e2 = {0};
        (void)platform_need(m, &host, doc, &d, need, &bytes, &e2);
        struct platform arm;
        berr e3 = {0};
        if (platform_parse("linux/arm/v7", &arm, &e3) == 0)
                (void)platform_need(m, &arm, doc, &d, need, &bytes, &e3);
        return 0;
}
