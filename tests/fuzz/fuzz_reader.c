/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_reader.c — libFuzzer target for the streaming bundle reader.
 *
 * The input is written to a memfd and read like a bundle file: head, manifest (parsed
 * without signature checks, so the fuzzer reaches the blob and trailer code), every blob
 * through the hashing stream, then the end-of-archive checks. A bundle the reader
 * accepts must have exactly the size its manifest implies; a refusal must never be an
 * "internal error".
 */
#include "fuzz_check.h"
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_sink(void *ud, const void *buf, size_t len)
{
        (void)buf;
        *(uint64_t *)ud += len;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = memfd_create("fuzz-bundle", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        size_t done = 0;
        while (done < size) {
                ssize_t n = write(fd, data + done, size - done);
                if (n <= 0) {
                        close(fd);
                        return 0;
                }
                done += (size_t)n;
        }
        if (lseek(fd, 0, SEEK_SET) != 0) {
                close(fd);
                return 0;
        }
        berr e = {0};
        struct bundle_reader *r = NULL;
        if (bundle_reader_new(fd, "fuzz", &r, &e) < 0) /* takes fd */
                return 0;
        int q = bundle_reader_read_head(r, &e);
        if (q >= 0)
                q = bundle_reader_parse_unverified(r, &e);
        const struct bundle_blob *b;
        uint64_t streamed = 0;
        while (q >= 0 && (q = bundle_reader_next_blob(r, &b, &e)) > 0) {
                uint64_t got = 0;
                q = bundle_reader_stream_blob(r, count_sink, &got, &e);
                if (q >= 0)
                        FUZZ_CHECK(got == b->size);
                streamed += got;
        }
        if (q >= 0) {
                q = bundle_reader_finish(r, &e);
                if (q >= 0) {
                        struct bundle_manifest *m = bundle_reader_manifest(r);
                        FUZZ_CHECK(streamed == m->total_blob_size);
                        FUZZ_CHECK(bundle_reader_bytes_read(r) == size);
                }
        }
        if (q < 0) { /* every refusal explains itself, and no input reaches an internal error */
                static const char internal[] = "bundle fuzz: internal error";
                FUZZ_CHECK(e.msg[0] != 0 && strncmp(e.msg, internal, sizeof internal - 1) != 0);
                FUZZ_CHECK(q != -EFAULT && q != -ENOBUFS && q != -EINVAL);
        }
        bundle_reader_free(r);
        return 0;
}
