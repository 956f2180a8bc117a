/* SPDX-License-Identifier: Apache-2.0 */
/* layer_fs.c — see layer.h. The file system side of the layer applier.
 *
 * A tar entry's name is cleaned lexically first ("/", "." and ".." can never leave the
 * snapshot: "a/../../b" is "b", as in containerd), then its parent directory is opened
 * with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so a symlink
 * the layer (or a lower one) planted resolves inside the snapshot too. Everything after
 * that is an *at() call on the last component, never following it.
 */
#include "containerd/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

struct dirtime {
        char *path;
        struct timespec ts[2];
};

struct layer_fs {
        const struct layer_target *t;
        struct dirtime *dirs;
        size_t n_dirs, cap_dirs;
        uint64_t bytes;
};

int layer_fs_new(const struct layer_target *t, struct layer_fs **ret)
{
        struct layer_fs *fs = calloc(1, sizeof *fs);
        if (!fs)
                return -ENOMEM;
        fs->t = t;
        *ret = fs;
        return 0;
}

void layer_fs_free(struct layer_fs *fs)
{
        if (!fs)
                return;
        for (size_t i = 0; i < fs->n_dirs; i++)
                free(fs->dirs[i].path);
        free(fs->dirs);
        free(fs);
}

uint64_t layer_fs_bytes(const struct layer_fs *fs)
{
        return fs->bytes;
}

/* "./a//b/../c/" → "a/c"; "" is the root. */
static char *clean_path(const char *name)
{
        size_t len = strlen(name);
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        size_t o = 0;
        const char *p = name;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *q = p;
                while (*q && *q != '/')
                        q++;
                size_t n = (size_t)(q - p);
                if (n == 0 || (n == 1 && p[0] == '.')) {
                        /* nothing */
                }
                else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                }
                else {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                }
                p = q;
        }
        out[o] = 0;
        return out;
}

static int open_in_root(int root, const char *path, int flags)
{
        struct open_how how = {
                .flags = (uint64_t)(flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        if (!*path)
                path = ".";
        long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
        return fd < 0 ? -errno : (int)fd;
}

/* Mode and owner for a directory the tar did not list but needs: from the first lower
 * layer that has it (as containerd does), else 0755 root. */
static void parent_meta(const struct layer_target *t, const char *path, struct stat *ret)
{
        *ret = (struct stat) { .st_mode = S_IFDIR | 0755 };
        if (!t->overlay || !t->lowerdirs)
                return;
        _cleanup_free_ char *list = strdup(t->lowerdirs);
        char *save = NULL;
        for (char *d = list ? strtok_r(list, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_close_ int lfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (lfd < 0)
                        continue;
                _cleanup_close_ int fd = open_in_root(lfd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW);
                struct stat st;
                if (fd >= 0 && fstat(fd, &st) == 0) {
                        *ret = st;
                        return;
                }
        }
}

/* Opens directory dir (clean, relative), creating what is missing. */
static int open_dir(struct layer_fs *fs, const char *dir, berr *e)
{
        int fd = open_in_root(fs->t->root_fd, dir, O_RDONLY | O_DIRECTORY);
        if (fd != -ENOENT) {
                if (fd < 0)
                        return berr_set(e, fd, "cannot open directory /%s in the snapshot", dir);
                return fd;
        }
        /* Create the missing components one by one. */
        _cleanup_free_ char *buf = strdup(dir);
        if (!buf)
                return berr_set(e, -ENOMEM, "out of memory");
        for (char *p = buf;; p++) {
                if (*p != '/' && *p != 0)
                        continue;
                char c = *p;
                *p = 0;
                int sub = open_in_root(fs->t->root_fd, buf, O_RDONLY | O_DIRECTORY);
                if (sub == -ENOENT) {
                        char *slash = strrchr(buf, '/');
                        _cleanup_free_ char *up = strndup(buf, slash ? (size_t)(slash - buf) : 0);
                        _cleanup_close_ int pfd = up ? open_in_root(fs->t->root_fd, up, O_RDONLY | O_DIRECTORY)
                                                     : -ENOMEM;
                        struct stat st;
                        parent_meta(fs->t, buf, &st);
                        const char *base = slash ? slash + 1 : buf;
                        if (pfd < 0 || mkdirat(pfd, base, st.st_mode & 07777) < 0 ||
                            fchownat(pfd, base, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                                return berr_set(e, pfd < 0 ? pfd : -errno, "cannot create directory /%s in the snapshot",
                                                buf);
                        sub = open_in_root(fs->t->root_fd, buf, O_RDONLY | O_DIRECTORY);
                }
                if (sub < 0)
                        return berr_set(e, sub, "cannot open directory /%s in the snapshot", buf);
                if (c == 0)
                        return sub;
                close(sub);
                *p = c;
        }
}

/* Makes room for a new entry: 1 when a directory stays (keep_dir), else 0. */
static int clear_entry(int pfd, const char *base, bool keep_dir)
{
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode) && keep_dir)
                return 1;
        return rm_rf_at(pfd, base);
}

static int set_xattrs(int fd, struct archive_entry *ent, const char *path, berr *e)
{
        const char *name;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(ent);
        while (archive_entry_xattr_next(ent, &name, &value, &size) == ARCHIVE_OK) {
                /* overlayfs's own attributes would redirect or hide lower layers. */
                if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13))
                        return berr_set(e, -EPERM, "/%s carries the overlayfs attribute %s, which a layer may not set",
                                        path, name);
                if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP)
                        return berr_set(e, -errno, "cannot set %s on /%s", name, path);
        }
        return 0;
}

static void entry_times(struct archive_entry *ent, struct timespec ts[2])
{
        ts[1] = (struct timespec) { archive_entry_mtime(ent), archive_entry_mtime_nsec(ent) };
        ts[0] = archive_entry_atime_is_set(ent) ?
                (struct timespec) { archive_entry_atime(ent), archive_entry_atime_nsec(ent) } : ts[1];
}

static int write_data(struct layer_fs *fs, struct archive *a, int fd, const char *path, berr *e)
{
        const void *buf;
        size_t len;
        la_int64_t off;
        int ar;
        while ((ar = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
                const char *p = buf;
                while (len > 0) {
                        ssize_t n = pwrite(fd, p, len, (off_t)off);
                        if (n < 0)
                                return berr_set(e, -errno, "writing /%s in the snapshot failed", path);
                        p += n;
                        off += n;
                        len -= (size_t)n;
                        fs->bytes += (uint64_t)n;
                }
        }
        if (ar != ARCHIVE_EOF)
                return berr_set(e, -EIO, "reading the data of /%s: %s", path, archive_error_string(a));
        return 0;
}

static int add_dirtime(struct layer_fs *fs, const char *path, const struct timespec ts[2])
{
        if (fs->n_dirs == fs->cap_dirs) {
                size_t cap = fs->cap_dirs ? fs->cap_dirs * 2 : 64;
                struct dirtime *d = realloc(fs->dirs, cap * sizeof *d);
                if (!d)
                        return -ENOMEM;
                fs->dirs = d;
                fs->cap_dirs = cap;
        }
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        fs->dirs[fs->n_dirs++] = (struct dirtime) { p, { ts[0], ts[1] } };
        return 0;
}

static int whiteout(struct layer_fs *fs, int pfd, const char *dir, const char *base, struct archive_entry *ent,
                    berr *e)
{
        if (!strcmp(base, WH_OPAQUE)) {
                if (!fs->t->overlay)
                        return berr_set(e, -EOPNOTSUPP, "opaque directory /%s outside an overlay snapshot", dir);
                if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return berr_set(e, -errno, "cannot mark /%s opaque", dir);
                return 0;
        }
        const char *victim = base + strlen(WH_PREFIX);
        if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
                return berr_set(e, -EBADMSG, "whiteout %s in /%s names nothing", base, dir);
        int r = clear_entry(pfd, victim, false);
        if (r < 0)
                return berr_set(e, r, "cannot remove /%s/%s for its whiteout", dir, victim);
        if (!fs->t->overlay)
                return 0;
        /* overlayfs hides a lower entry under a 0/0 character device of the same name. */
        if (mknodat(pfd, victim, S_IFCHR, makedev(0, 0)) < 0 ||
            fchownat(pfd, victim, (uid_t)archive_entry_uid(ent), (gid_t)archive_entry_gid(ent), AT_SYMLINK_NOFOLLOW) < 0)
                return berr_set(e, -errno, "cannot create the whiteout of /%s/%s", dir, victim);
        return 0;
}

static int make_hardlink(struct layer_fs *fs, int pfd, const char *base, const char *path, const char *target,
                         berr *e)
{
        _cleanup_free_ char *clean = clean_path(target);
        if (!clean)
                return berr_set(e, -ENOMEM, "out of memory");
        if (!*clean || !strcmp(clean, path))
                return berr_set(e, -EBADMSG, "/%s is a hard link to itself or to the root", path);
        char *slash = strrchr(clean, '/');
        const char *tbase = slash ? slash + 1 : clean;
        if (slash)
                *slash = 0;
        _cleanup_close_ int tfd = open_in_root(fs->t->root_fd, slash ? clean : "", O_PATH | O_DIRECTORY);
        struct stat st;
        if (tfd < 0 || fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
                /* Its target is in a lower layer: containerd knows how to copy it up. */
                return berr_set(e, -EOPNOTSUPP, "/%s links to /%s, which this layer does not hold", path, target);
        if (S_ISDIR(st.st_mode))
                return berr_set(e, -EBADMSG, "/%s is a hard link to a directory", path);
        int r = clear_entry(pfd, base, false);
        if (r < 0)
                return berr_set(e, r, "cannot replace /%s", path);
        if (linkat(tfd, tbase, pfd, base, 0) < 0)
                return berr_set(e, -errno, "cannot link /%s to /%s", path, target);
        return 0;
}

int layer_fs_entry(struct layer_fs *fs, struct archive *a, struct archive_entry *ent, berr *e)
{
        const char *name = archive_entry_pathname(ent);
        if (!name)
                return berr_set(e, -EBADMSG, "an entry has no name");
        if (archive_entry_sparse_count(ent) > 0)
                return berr_set(e, -EOPNOTSUPP, "%s is a sparse file", name);
        _cleanup_free_ char *path = clean_path(name);
        if (!path)
                return berr_set(e, -ENOMEM, "out of memory");
        char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
        const char *base = slash ? slash + 1 : path;
        if (!dir)
                return berr_set(e, -ENOMEM, "out of memory");

        mode_t type = archive_entry_filetype(ent);
        const char *hardlink = archive_entry_hardlink(ent);
        if (!*path && type != AE_IFDIR)
                return berr_set(e, -EBADMSG, "entry %s names the root, but is not a directory", name);
        _cleanup_close_ int pfd = open_dir(fs, dir, e);
        if (pfd < 0)
                return pfd;
        if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
                return whiteout(fs, pfd, dir, base, ent, e);

        uid_t uid = (uid_t)archive_entry_uid(ent);
        gid_t gid = (gid_t)archive_entry_gid(ent);
        mode_t perm = archive_entry_perm(ent) & 07777;
        struct timespec ts[2];
        entry_times(ent, ts);
        int r;

        if (hardlink) {
                if (archive_entry_size(ent) > 0)
                        return berr_set(e, -EOPNOTSUPP, "/%s is a hard link with data of its own", path);
                return make_hardlink(fs, pfd, base, path, hardlink, e);
        }
        switch (type) {
        case AE_IFREG: {
                r = clear_entry(pfd, base, false);
                if (r < 0)
                        return berr_set(e, r, "cannot replace /%s", path);
                _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return berr_set(e, -errno, "cannot create /%s in the snapshot", path);
                r = write_data(fs, a, fd, path, e);
                if (r < 0)
                        return r;
                if (ftruncate(fd, archive_entry_size(ent)) < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, perm) < 0)
                        return berr_set(e, -errno, "cannot set the size, owner or mode of /%s", path);
                r = set_xattrs(fd, ent, path, e);
                if (r < 0)
                        return r;
                if (futimens(fd, ts) < 0)
                        return berr_set(e, -errno, "cannot set the times of /%s", path);
                return 0;
        }
        case AE_IFDIR: {
                _cleanup_close_ int fd = -1;
                if (!*path)
                        fd = fcntl(fs->t->root_fd, F_DUPFD_CLOEXEC, 3);
                else {
                        r = clear_entry(pfd, base, true);
                        if (r < 0)
                                return berr_set(e, r, "cannot replace /%s", path);
                        if (r == 0 && mkdirat(pfd, base, 0700) < 0)
                                return berr_set(e, -errno, "cannot create directory /%s in the snapshot", path);
                        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, perm) < 0)
                        return berr_set(e, -errno, "cannot set the owner or mode of directory /%s", path);
                r = set_xattrs(fd, ent, path, e);
                if (r < 0)
                        return r;
                if (add_dirtime(fs, path, ts) < 0)
                        return berr_set(e, -ENOMEM, "out of memory");
                return 0;
        }
        case AE_IFLNK: {
                const char *target = archive_entry_symlink(ent);
                archive_entry_xattr_reset(ent);
                if (archive_entry_xattr_count(ent) > 0)
                        return berr_set(e, -EOPNOTSUPP, "symlink /%s carries xattrs", path);
                r = clear_entry(pfd, base, false);
                if (r < 0)
                        return berr_set(e, r, "cannot replace /%s", path);
                if (!target || symlinkat(target, pfd, base) < 0 || fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return berr_set(e, target ? -errno : -EBADMSG, "cannot create symlink /%s", path);
                return 0;
        }
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO: {
                dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(ent), archive_entry_rdevminor(ent));
                r = clear_entry(pfd, base, false);
                if (r < 0)
                        return berr_set(e, r, "cannot replace /%s", path);
                if (mknodat(pfd, base, type | perm, dev) < 0 || fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    fchmodat(pfd, base, perm, 0) < 0 || utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return berr_set(e, -errno, "cannot create device or fifo /%s", path);
                return 0;
        }
        default:
                return berr_set(e, -EOPNOTSUPP, "/%s has file type 0%o", path, (unsigned)type);
        }
}

int layer_fs_finish(struct layer_fs *fs, berr *e)
{
        /* Deepest last-listed first, so a parent's time is set after its children's. */
        for (size_t i = fs->n_dirs; i-- > 0;) {
                _cleanup_close_ int fd = open_in_root(fs->t->root_fd, fs->dirs[i].path, O_RDONLY | O_DIRECTORY |
                                                                                       O_NOFOLLOW);
                if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                        continue; /* replaced or removed by a later entry */
                if (fd < 0 || futimens(fd, fs->dirs[i].ts) < 0)
                        return berr_set(e, fd < 0 ? fd : -errno, "cannot set the times of directory /%s",
                                        fs->dirs[i].path);
        }
        /* A power cut after Commit must not leave a committed snapshot with lost data. */
        if (syncfs(fs->t->root_fd) < 0)
                return berr_set(e, -errno, "syncing the snapshot's file system failed");
        return 0;
}
