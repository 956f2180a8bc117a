/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_layer.c — libFuzzer target for berth's layer applier (containerd/layer.h).
 *
 * Arbitrary bytes are applied as an uncompressed layer tar to a fresh directory (as a
 * full copy: the native snapshotter's case), next to a sibling directory and file
 * that stand for the rest of the host. Whatever the tar says (names with "..", absolute
 * names, symlinks pointing anywhere and entries written through them, hard links,
 * whiteouts, devices), the answer is 0 or a negative errno with a message, and nothing
 * outside the directory appears or changes. The bytes' own digest is passed, as the
 * import would after verifying them.
 *
 * Then the same bytes again as a download streams them (layer_apply_from, read in
 * chunks of odd sizes, a cap on what they unpack to) with a digest they do not have,
 * as unverified bytes from the network may: the answer is always an error with a
 * message, and nothing outside the directory appears or changes either.
 */
#include "fuzz_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "containerd/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static unsigned count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        unsigned n = 0;
        FUZZ_CHECK(d);
        for (struct dirent *de; (de = readdir(d));)
                n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        return n;
}

static void setup(void)
{
        snprintf(base, sizeof base, "/tmp/berth-fuzz-layer.XXXXXX");
        FUZZ_CHECK(mkdtemp(base));
        char p[128];
        snprintf(p, sizeof p, "%s/host", base);
        FUZZ_CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof p, "%s/host/passwd", base);
        FUZZ_CHECK(write_file_atomic(p, "root\n", 5, 0644) == 0);
}

/* A download's bytes: in chunks of step bytes, then of step + 7, and so on. */
struct chunks {
        const uint8_t *data;
        size_t size, off, step;
};

static ssize_t chunk_read(void *ud, void *buf, size_t n)
{
        struct chunks *c = ud;
        size_t k = c->step < n ? c->step : n;
        if (k > c->size - c->off)
                k = c->size - c->off;
        memcpy(buf, c->data + c->off, k);
        c->off += k;
        c->step = c->step % 4096 + 7;
        return (ssize_t)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!base[0])
                setup();
        char root[128], p[128];
        snprintf(root, sizeof root, "%s/root", base);
        FUZZ_CHECK(mkdir(root, 0755) == 0);

        int fd = memfd_create("layer", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(write_all(fd, data, size) == 0);
        char digest[DIGEST_STR_LEN + 1], diff_id[DIGEST_STR_LEN + 1];
        FUZZ_CHECK(sha256_buf_str(data, size, digest) == 0);

        struct layer_target t = { .root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) };
        FUZZ_CHECK(t.root_fd >= 0);
        berr e = {0};
        int r = layer_apply(&t, fd, 0, size, digest, "application/vnd.oci.image.layer.v1.tar", diff_id, NULL, &e);
        FUZZ_CHECK(r <= 0);
        FUZZ_CHECK(r == 0 || e.msg[0] != 0);
        if (r == 0)
                FUZZ_CHECK(!strcmp(diff_id, digest)); /* uncompressed: the same bytes */
        layer_target_close(&t);
        close(fd);

        /* Streamed: unverified, so the digest is wrong. */
        struct chunks ch = { .data = data, .size = size, .step = size ? 1 + data[0] % 61 : 1 };
        t.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(t.root_fd >= 0);
        berr e2 = {0};
        char wrong[DIGEST_STR_LEN + 1];
        memcpy(wrong, digest, sizeof wrong);
        wrong[DIGEST_STR_LEN - 1] = wrong[DIGEST_STR_LEN - 1] == '0' ? '1' : '0';
        r = layer_apply_from(&t, chunk_read, &ch, size, wrong, "application/vnd.oci.image.layer.v1.tar",
                             (uint64_t)size * 64 + 4096, diff_id, NULL, &e2);
        FUZZ_CHECK(r < 0 && e2.msg[0] != 0);
        layer_target_close(&t);

        /* Nothing but root/ and host/ next to it; host/ untouched. */
        FUZZ_CHECK(count_entries(base) == 2);
        snprintf(p, sizeof p, "%s/host", base);
        FUZZ_CHECK(count_entries(p) == 1);
        struct stat st;
        snprintf(p, sizeof p, "%s/host/passwd", base);
        FUZZ_CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 5 && st.st_nlink == 1);
        FUZZ_CHECK(rm_rf(root) >= 0);
        return 0;
}
