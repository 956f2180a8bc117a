/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_oci_index.c — libFuzzer target for the OCI image-layout archive reader used by
 * `berth bundle create`: scan (entries + index.json), then parse the JSON blobs that
 * index.json names, then stream every blob.
 */
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle/oci_archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool want_all(void *ud, const char *digest) { return true; }
static int begin_cb(void *ud, const char *digest, uint64_t size) { return 0; }
static int data_cb(void *ud, const void *buf, size_t len) { return 0; }
static int end_cb(void *ud, const char *digest) { return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = memfd_create("fuzz-oci", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (write(fd, data, size) != (ssize_t)size) {
                close(fd);
                return 0;
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        berr e = {0};
        struct oci_archive *a = NULL;
        if (oci_archive_scan(path, &a, &e) == 0) {
                json_t *ms = json_object_get(a->index, "manifests");
                const char *digests[4];
                json_t *out[4] = {NULL};
                size_t n = 0;
                for (size_t i = 0; i < json_array_size(ms) && n < 4; i++) {
                        const char *d = json_string_value(json_object_get(json_array_get(ms, i), "digest"));
                        if (d && oci_archive_find(a, d))
                                digests[n++] = d;
                }
                berr e2 = {0};
                if (n && oci_archive_read_json(a, digests, n, out, &e2) == 0)
                        for (size_t i = 0; i < n; i++)
                                json_decref(out[i]);
                struct oci_blob_sink sink = {want_all, begin_cb, data_cb, end_cb, NULL};
                berr e3 = {0};
                (void)oci_archive_stream(a, &sink, &e3);
                oci_archive_free(a);
        }
        close(fd);
        return 0;
}
