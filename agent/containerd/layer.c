/* SPDX-License-Identifier: Apache-2.0 */
/* layer.c — see layer.h. The byte side: where the snapshot lives, reading the blob,
 * both digests, gunzip, and the tar stream (libarchive, reading only); layer_fs.c
 * writes. */
#include "containerd/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "containerd/services/snapshots.pb-c.h"

#define IN_BUF (128u * 1024u)
#define OUT_BUF (256u * 1024u)

static const char *const gzip_types[] = {
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};
static const char *const tar_types[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar",
};

static int media_kind(const char *mt)
{
        for (size_t i = 0; mt && i < ELEMENTSOF(gzip_types); i++)
                if (!strcmp(mt, gzip_types[i]))
                        return 1;
        for (size_t i = 0; mt && i < ELEMENTSOF(tar_types); i++)
                if (!strcmp(mt, tar_types[i]))
                        return 0;
        return -1;
}

bool layer_media_type_supported(const char *media_type)
{
        return media_kind(media_type) >= 0;
}

void layer_target_close(struct layer_target *t)
{
        if (t->root_fd >= 0)
                close(t->root_fd);
        free(t->lowerdirs);
        *t = (struct layer_target) { .root_fd = -1 };
}

int layer_target_open(const struct ctrd_mounts *m, struct layer_target *ret, berr *e)
{
        *ret = (struct layer_target) { .root_fd = -1 };
        if (m->n_mounts != 1)
                return berr_set(e, -EOPNOTSUPP, "the snapshot has %zu mounts", m->n_mounts);
        const Containerd__Types__Mount *mt = m->mounts[0];
        const char *dir = NULL;
        const char *lower = NULL;
        bool overlay = false;

        if (mt->type && !strcmp(mt->type, "bind")) {
                dir = mt->source;
        }
        else if (mt->type && !strcmp(mt->type, "overlay")) {
                overlay = true;
                for (size_t i = 0; i < mt->n_options; i++) {
                        const char *o = mt->options[i];
                        if (!strncmp(o, "upperdir=", 9))
                                dir = o + 9;
                        else if (!strncmp(o, "lowerdir=", 9))
                                lower = o + 9;
                        else if (!strcmp(o, "userxattr"))
                                return berr_set(e, -EOPNOTSUPP, "overlay mounted with userxattr");
                }
        }
        if (!dir || dir[0] != '/')
                return berr_set(e, -EOPNOTSUPP, "the snapshot's mount (%s) has no directory to write into",
                                mt->type ? mt->type : "?");
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open snapshot directory %s", dir);
        *ret = (struct layer_target) { .root_fd = fd, .overlay = overlay };
        if (lower && !(ret->lowerdirs = strdup(lower))) {
                layer_target_close(ret);
                return berr_set(e, -ENOMEM, "out of memory");
        }
        return 0;
}

/* The blob as libarchive reads it: read, hash, gunzip, hash. */
struct src {
        layer_read_fn rd;
        void *rd_ud;
        uint64_t off, end;      /* compressed bytes read so far; the blob's size */
        uint64_t unpacked, max_unpacked;
        bool gzip, z_done;
        z_stream z;
        sha256_ctx *csum, *usum;
        int error;
        berr err;
        uint8_t *in, *out;
};

static ssize_t src_fill_in(struct src *s)
{
        size_t want = s->end - s->off < IN_BUF ? (size_t)(s->end - s->off) : IN_BUF;
        if (want == 0)
                return 0;
        ssize_t n = s->rd(s->rd_ud, s->in, want);
        if (n < 0)
                return n;
        if (n == 0 || (size_t)n > want)
                return -EBADMSG; /* shorter than the blob: a file changed since, or a stream cut */
        s->off += (uint64_t)n;
        if (sha256_update(s->csum, s->in, (size_t)n) < 0)
                return -ENOMEM;
        return n;
}

static int src_count(struct src *s, size_t n)
{
        s->unpacked += n;
        if (s->max_unpacked && s->unpacked > s->max_unpacked)
                return -EFBIG;
        return sha256_update(s->usum, s->out, n) < 0 ? -ENOMEM : 0;
}

/* Next uncompressed bytes into s->out; 0 at the end. */
static ssize_t src_next(struct src *s)
{
        ssize_t n;
        if (!s->gzip) {
                n = src_fill_in(s);
                if (n > 0) {
                        memcpy(s->out, s->in, (size_t)n);
                        int r = src_count(s, (size_t)n);
                        if (r < 0)
                                return r;
                }
                return n;
        }
        s->z.next_out = s->out;
        s->z.avail_out = OUT_BUF;
        while (s->z.avail_out == OUT_BUF && !s->z_done) {
                if (s->z.avail_in == 0) {
                        n = src_fill_in(s);
                        if (n < 0)
                                return n;
                        if (n == 0)
                                return -EBADMSG; /* the gzip stream is cut short */
                        s->z.next_in = s->in;
                        s->z.avail_in = (uInt)n;
                }
                int zr = inflate(&s->z, Z_NO_FLUSH);
                if (zr == Z_STREAM_END) {
                        /* Another gzip member may follow (pigz, concatenated streams). */
                        if (s->z.avail_in == 0 && s->off == s->end)
                                s->z_done = true;
                        else if (inflateReset(&s->z) != Z_OK)
                                return -EBADMSG;
                }
                else if (zr == Z_BUF_ERROR && s->z.avail_in == 0)
                        continue;
                else if (zr != Z_OK)
                        return zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
        }
        size_t have = OUT_BUF - s->z.avail_out;
        if (have > 0 && (n = src_count(s, have)) < 0)
                return n;
        return (ssize_t)have;
}

static la_ssize_t src_read(struct archive *a, void *ud, const void **buf)
{
        struct src *s = ud;
        ssize_t n = src_next(s);
        if (n < 0) {
                if (!s->error)
                        s->error = (int)n;
                archive_set_error(a, (int)-n, "reading the layer failed");
                return -1;
        }
        *buf = s->out;
        return n;
}

static ssize_t pread_read(void *ud, void *buf, size_t n);

/* Why reading the blob stopped, as one sentence (the first error of the applier, which
 * only saw its read fail, is replaced). */
static int src_failed(const struct src *s, berr *e)
{
        berr_clear(e);
        if (s->error == -EFBIG)
                return berr_set(e, -EFBIG, "it unpacks to more than %llu bytes before its digest could be checked",
                                (unsigned long long)s->max_unpacked);
        if (s->error == -EBADMSG && s->rd == pread_read)
                return berr_set(e, -EBADMSG, "reading it failed (not valid gzip, or the file changed since it was "
                                "verified)");
        if (s->error == -EBADMSG)
                return berr_set(e, -EBADMSG, "its bytes are not valid gzip (damaged on the way, or a broken bundle: "
                                "their digest is not checked yet)");
        return berr_set(e, s->error, "reading it failed: %s", strerror(-s->error));
}

static void src_done(struct src *s)
{
        if (s->gzip)
                inflateEnd(&s->z);
        sha256_free(s->csum);
        sha256_free(s->usum);
        free(s->in);
        free(s->out);
}

struct pread_src {
        int fd;
        uint64_t off;
};

static ssize_t pread_read(void *ud, void *buf, size_t n)
{
        struct pread_src *p = ud;
        ssize_t k;
        do
                k = pread(p->fd, buf, n, (off_t)p->off);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        p->off += (uint64_t)k;
        return k;
}

int layer_apply(const struct layer_target *t, int fd, uint64_t offset, uint64_t size, const char *digest,
                const char *media_type, char ret_diff_id[DIGEST_STR_LEN + 1], struct layer_apply_stats *stats,
                berr *e)
{
        struct pread_src p = { .fd = fd, .off = offset };
        struct layer_apply_stats st = { 0 };
        int r = layer_apply_from(t, pread_read, &p, size, digest, media_type, 0, ret_diff_id, &st, e);
        if (stats) {
                stats->bytes_written += st.bytes_written;
                stats->entries += st.entries;
        }
        if (r == -EBADMSG && st.digest_mismatch)
                berr_prefix(e, r, "its bytes changed on disk since they were verified");
        return r;
}

int layer_apply_from(const struct layer_target *t, layer_read_fn rd, void *rd_ud, uint64_t size, const char *digest,
                     const char *media_type, uint64_t max_unpacked, char ret_diff_id[DIGEST_STR_LEN + 1],
                     struct layer_apply_stats *stats, berr *e)
{
        int kind = media_kind(media_type);
        if (kind < 0)
                return berr_set(e, -EOPNOTSUPP, "layer %s has media type %s", digest, media_type);

        struct src s = { .rd = rd, .rd_ud = rd_ud, .end = size, .max_unpacked = max_unpacked, .gzip = kind == 1 };
        s.in = malloc(IN_BUF);
        s.out = malloc(OUT_BUF);
        if (!s.in || !s.out || sha256_new(&s.csum) < 0 || sha256_new(&s.usum) < 0) {
                src_done(&s);
                return berr_set(e, -ENOMEM, "out of memory");
        }
        if (s.gzip && inflateInit2(&s.z, 15 + 16) != Z_OK) {
                s.gzip = false;
                src_done(&s);
                return berr_set(e, -ENOMEM, "out of memory");
        }

        struct layer_fs *fs = NULL;
        struct archive *a = archive_read_new();
        int r = a ? layer_fs_new(t, &fs) : -ENOMEM;
        if (r < 0) {
                r = berr_set(e, r, "out of memory");
                goto out;
        }
        archive_read_support_format_tar(a);
        if (archive_read_open(a, &s, NULL, src_read, NULL) != ARCHIVE_OK) {
                r = berr_set(e, s.error ? s.error : -EBADMSG, "not a tar archive: %s", archive_error_string(a));
                goto out;
        }
        for (;;) {
                struct archive_entry *ent;
                int ar = archive_read_next_header(a, &ent);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        if (s.error)
                                r = src_failed(&s, e);
                        else
                                r = berr_set(e, -EBADMSG, "%s", archive_error_string(a));
                        goto out;
                }
                r = layer_fs_entry(fs, a, ent, e);
                if (r < 0) {
                        if (s.error)
                                r = src_failed(&s, e);
                        goto out;
                }
                if (stats)
                        stats->entries++;
                FAULT_POINT("layer.after_first_entry");
        }
        /* Whatever follows the end-of-archive blocks is part of the diff ID too. */
        ssize_t n;
        while ((n = src_next(&s)) > 0)
                ;
        if (n < 0) {
                s.error = (int)n;
                r = n == -EBADMSG ? berr_set(e, (int)n, "the data after the tar archive is not valid") : src_failed(&s, e);
                goto out;
        }
        char got[DIGEST_STR_LEN + 1];
        if (sha256_final_str(s.csum, got) < 0 || sha256_final_str(s.usum, ret_diff_id) < 0) {
                r = berr_set(e, -ENOMEM, "out of memory");
                goto out;
        }
        if (strcmp(got, digest) != 0) {
                if (stats)
                        stats->digest_mismatch = true;
                r = berr_set(e, -EBADMSG, "its bytes hash to %s, not to the digest the signed manifest names", got);
                goto out;
        }
        r = layer_fs_finish(fs, e);
        if (stats)
                stats->bytes_written += layer_fs_bytes(fs);
out:
        if (a)
                archive_read_free(a);
        layer_fs_free(fs);
        src_done(&s);
        return r < 0 ? r : 0;
}
