/* SPDX-License-Identifier: Apache-2.0 */
/* fs.c — see fs.h. */
#include "base/fs.h"
#include "base/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int fsync_dir(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int fsync_parent(const char *path)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        return fsync_dir(dirname(p));
}

int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, data, len);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        /* The data must be on disk before the rename makes it visible. */
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        /* And the rename itself must survive a power cut. */
        return fsync_parent(path);
}

static int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len);

int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return read_fd_bounded(fd, max, ret, ret_len);
}

int read_secret_file(const char *path, size_t max, char **ret, size_t *ret_len, mode_t *ret_mode)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* The mode of the file that was opened, not of whatever the path names later. */
        if (ret_mode)
                *ret_mode = st.st_mode & 07777;
        if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXO | S_IWGRP)))
                return -EPERM;
        return read_fd_bounded(fd, max, ret, ret_len);
}

static int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        size_t cap = (size_t)st.st_size + 1, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap > max + 1)
                                return -EFBIG;
                        char *nb = realloc(buf, cap * 2);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        cap *= 2;
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int fs_free_bytes(const char *path, uint64_t *ret)
{
        struct statvfs sv;
        if (statvfs(path, &sv) < 0)
                return -errno;
        *ret = (uint64_t)sv.f_bavail * sv.f_frsize;
        return 0;
}

int rm_rf_at(int dfd, const char *name)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                int k = rm_rf_at(dirfd(d), de->d_name);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

int rm_rf(const char *path)
{
        return rm_rf_at(AT_FDCWD, path);
}

char *path_join(const char *a, const char *b)
{
        char *p;
        size_t la = strlen(a);
        if (asprintf(&p, "%s%s%s", a, la && a[la - 1] == '/' ? "" : "/", b) < 0)
                return NULL;
        return p;
}
