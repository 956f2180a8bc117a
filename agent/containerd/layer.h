/* SPDX-License-Identifier: Apache-2.0 */
/* layer.h — berth's own layer applier: a verified layer blob unpacked straight into the
 * directory of a prepared containerd snapshot, so the compressed layer never has to be
 * written to containerd's content store first (one copy on flash, see README.md,
 * "Unpacking without a second copy").
 *
 * It does what containerd's own applier does for the overlayfs and native snapshotters:
 * gunzip, tar, OCI whiteouts (as overlayfs 0/0 character devices and the opaque xattr
 * in an overlay upper directory, as deletions in a full copy), owners, modes, times,
 * xattrs, device nodes, hard links within the layer. Every path is resolved inside the
 * snapshot (openat2 RESOLVE_IN_ROOT, no mount crossing), whatever the tar says. What it
 * does not do comes back as -EOPNOTSUPP before anything is committed, and the caller
 * lets containerd unpack that layer instead (zstd, sparse files, a hard link to a lower
 * layer, an opaque directory in a full copy, mounts other than one bind or one overlay).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/digest.h"
#include "base/err.h"
#include "containerd/snapshots.h"

struct layer_target {
        int root_fd;            /* the directory the layer's changes go into */
        bool overlay;           /* an overlayfs upper directory */
        char *lowerdirs;        /* overlay: "a:b:c", top first (metadata of missing parents) */
};

/* From the mounts of a prepared snapshot. -EOPNOTSUPP unless they are one bind mount
 * of a directory or one overlay mount with an upperdir (and without userxattr). */
int layer_target_open(const struct ctrd_mounts *m, struct layer_target *ret, berr *e);
void layer_target_close(struct layer_target *t);

struct layer_apply_stats {
        uint64_t bytes_written;         /* file data written into the snapshot */
        unsigned entries;
        bool digest_mismatch;           /* -EBADMSG because the bytes did not hash to the digest */
};

/* Applies the blob at fd[offset, offset + size) of media type media_type to t, then
 * syncs the file system. The bytes read must hash to digest (the caller verified them
 * before; this catches a file changed since), else -EBADMSG. ret_diff_id gets the
 * sha256 of the uncompressed tar, which the caller holds against the image config. */
int layer_apply(const struct layer_target *t, int fd, uint64_t offset, uint64_t size, const char *digest,
                const char *media_type, char ret_diff_id[DIGEST_STR_LEN + 1], struct layer_apply_stats *stats,
                berr *e);

/* The blob's bytes from elsewhere (a download in progress): up to n bytes into buf, >0,
 * or <0 (-errno). The applier asks for exactly size bytes in all. */
typedef ssize_t (*layer_read_fn)(void *ud, void *buf, size_t n);

/* As layer_apply, reading with rd. max_unpacked > 0: -EFBIG once the uncompressed
 * stream grows past it (bytes whose digest is not checked yet may be a gzip bomb). On
 * any error the snapshot directory holds a partial layer: the caller removes it. */
int layer_apply_from(const struct layer_target *t, layer_read_fn rd, void *rd_ud, uint64_t size, const char *digest,
                     const char *media_type, uint64_t max_unpacked, char ret_diff_id[DIGEST_STR_LEN + 1],
                     struct layer_apply_stats *stats, berr *e);

/* Is media_type a layer this applier can read (tar, tar+gzip, Docker's tar.gzip)? */
bool layer_media_type_supported(const char *media_type);

/* layer_fs.c: the file system side, one tar entry at a time. */
struct archive;
struct archive_entry;
struct layer_fs;
int layer_fs_new(const struct layer_target *t, struct layer_fs **ret);
/* Creates what the entry describes (reading its data from a), or applies its whiteout. */
int layer_fs_entry(struct layer_fs *fs, struct archive *a, struct archive_entry *ent, berr *e);
/* Directory times (set last, as entries below them change them), then syncfs. */
int layer_fs_finish(struct layer_fs *fs, berr *e);
uint64_t layer_fs_bytes(const struct layer_fs *fs);
void layer_fs_free(struct layer_fs *fs);
