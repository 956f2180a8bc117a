/* SPDX-License-Identifier: Apache-2.0 */
/* fs.h — crash-safe file helpers.
 *
 * Everything berth persists goes through write_file_atomic(): temp file in the same
 * directory → write → fsync → rename → fsync(dir), so a power cut leaves either the
 * old or the new content, never a mix. All fds are O_CLOEXEC.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int mkdir_p(const char *path, mode_t mode);
int fsync_dir(const char *dir);
/* fsync the directory that contains path. */
int fsync_parent(const char *path);
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole regular file of at most max bytes; *ret is NUL-terminated. -EFBIG if larger. */
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len);
/* As read_file_bounded() for a file holding a secret (a token, a key): -EPERM when others
 * have any access to it or its group may write it (0600 and 0640 pass, 0644 does not).
 * *ret_mode (may be NULL) gets the file's mode bits whenever it could be opened. */
int read_secret_file(const char *path, size_t max, char **ret, size_t *ret_len, mode_t *ret_mode);
/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);
/* Bytes available to an unprivileged-style writer on the filesystem holding path. */
int fs_free_bytes(const char *path, uint64_t *ret);
/* Removes a directory tree (no symlink following). Missing path is not an error. */
int rm_rf(const char *path);
/* The same for name in directory dfd, never following a symlink. */
int rm_rf_at(int dfd, const char *name);
/* Joins two path parts into a new string; NULL on OOM. */
char *path_join(const char *a, const char *b);
