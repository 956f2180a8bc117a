/* SPDX-License-Identifier: Apache-2.0 */
/* content.c — content-addressed blob store with all-or-nothing staging (see content.h). */
#include "store/content.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

struct content_store {
        char *dir;      /* STATE/store */
        char *blobs;    /* STATE/store/blobs/sha256 */
        char *staging;  /* STATE/store/staging */
        char *partial;  /* STATE/store/partial */
};

struct staged {
        char digest[DIGEST_STR_LEN + 1];
        bool done;
};

struct content_stage {
        struct content_store *cs;
        char *dir;
        struct staged *v;
        size_t n, cap;
        bool committed;
};

void content_store_free(struct content_store *cs)
{
        if (!cs)
                return;
        free(cs->dir);
        free(cs->blobs);
        free(cs->staging);
        free(cs->partial);
        free(cs);
}

int content_store_open(const char *state_dir, struct content_store **ret, berr *e)
{
        _cleanup_(content_store_freep) struct content_store *cs = calloc(1, sizeof *cs);
        if (!cs)
                return -ENOMEM;
        cs->dir = path_join(state_dir, "store");
        cs->blobs = path_join(state_dir, "store/blobs/sha256");
        cs->staging = path_join(state_dir, "store/staging");
        cs->partial = path_join(state_dir, "store/partial");
        if (!cs->dir || !cs->blobs || !cs->staging || !cs->partial)
                return -ENOMEM;
        int r = mkdir_p(cs->blobs, 0755);
        if (r >= 0)
                r = mkdir_p(cs->staging, 0700);
        if (r >= 0)
                r = mkdir_p(cs->partial, 0700);
        if (r < 0)
                return berr_set(e, r, "cannot create the content store in %s: %s", cs->dir, strerror(-r));
        /* Leftovers of an import that was killed: nothing in there was ever published. */
        DIR *d = opendir(cs->staging);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.') {
                                _cleanup_free_ char *p = path_join(cs->staging, de->d_name);
                                if (p)
                                        (void)rm_rf(p);
                        }
                closedir(d);
        }
        *ret = TAKE_PTR(cs);
        return 0;
}

const char *content_store_dir(const struct content_store *cs)
{
        return cs->dir;
}

char *content_path(struct content_store *cs, const char *digest)
{
        if (!digest_valid(digest))
                return NULL;
        return path_join(cs->blobs, digest_hex(digest));
}

bool content_has(struct content_store *cs, const char *digest, uint64_t size)
{
        _cleanup_free_ char *p = content_path(cs, digest);
        struct stat st;
        if (!p || stat(p, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        return size == UINT64_MAX || (uint64_t)st.st_size == size;
}

int content_open(struct content_store *cs, const char *digest, int *ret_fd)
{
        _cleanup_free_ char *p = content_path(cs, digest);
        if (!p)
                return -EINVAL;
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int content_remove(struct content_store *cs, const char *digest)
{
        _cleanup_free_ char *p = content_path(cs, digest);
        if (!p)
                return -EINVAL;
        if (unlink(p) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int content_usage(struct content_store *cs, uint64_t *ret_bytes, uint64_t *ret_count)
{
        DIR *d = opendir(cs->blobs);
        if (!d)
                return -errno;
        uint64_t bytes = 0, count = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                bytes += (uint64_t)st.st_size;
                count++;
        }
        closedir(d);
        *ret_bytes = bytes;
        *ret_count = count;
        return 0;
}

int content_stage_new(struct content_store *cs, struct content_stage **ret, berr *e)
{
        _cleanup_(content_stage_freep) struct content_stage *st = calloc(1, sizeof *st);
        if (!st)
                return -ENOMEM;
        st->cs = cs;
        char tmpl[64];
        snprintf(tmpl, sizeof tmpl, "import-%d-XXXXXX", (int)getpid());
        st->dir = path_join(cs->staging, tmpl);
        if (!st->dir)
                return -ENOMEM;
        if (!mkdtemp(st->dir))
                return berr_set(e, -errno, "cannot create a staging directory in %s: %s", cs->staging, strerror(errno));
        *ret = TAKE_PTR(st);
        return 0;
}

static struct staged *stage_find(struct content_stage *st, const char *digest)
{
        for (size_t i = 0; i < st->n; i++)
                if (!strcmp(st->v[i].digest, digest))
                        return &st->v[i];
        return NULL;
}

int content_stage_open(struct content_stage *st, const char *digest, int *ret_fd, berr *e)
{
        if (!digest_valid(digest) || stage_find(st, digest))
                return -EINVAL;
        if (st->n == st->cap) {
                size_t nc = st->cap ? st->cap * 2 : 32;
                struct staged *nv = realloc(st->v, nc * sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                st->v = nv;
                st->cap = nc;
        }
        _cleanup_free_ char *p = path_join(st->dir, digest_hex(digest));
        if (!p)
                return -ENOMEM;
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0)
                return berr_set(e, -errno, "cannot create staging file %s: %s", p, strerror(errno));
        memcpy(st->v[st->n].digest, digest, DIGEST_STR_LEN + 1);
        st->v[st->n].done = false;
        st->n++;
        *ret_fd = fd;
        return 0;
}

int content_stage_done(struct content_stage *st, const char *digest, int fd, berr *e)
{
        struct staged *s = stage_find(st, digest);
        int r = 0;
        /* Data on disk before the blob can ever be renamed into view. */
        if (fsync(fd) < 0)
                r = berr_set(e, -errno, "cannot write blob %s to the store: %s", digest, strerror(errno));
        if (close(fd) < 0 && r == 0)
                r = berr_set(e, -errno, "cannot write blob %s to the store: %s", digest, strerror(errno));
        if (r >= 0 && s)
                s->done = true;
        return r;
}

void content_stage_discard(struct content_stage *st, const char *digest, int fd)
{
        if (fd >= 0)
                close(fd);
        struct staged *s = stage_find(st, digest);
        if (!s)
                return;
        _cleanup_free_ char *p = path_join(st->dir, digest_hex(digest));
        if (p)
                unlink(p);
        *s = st->v[--st->n];
}

int content_stage_commit(struct content_stage *st, berr *e)
{
        for (size_t i = 0; i < st->n; i++) {
                if (!st->v[i].done)
                        return berr_set(e, -EINVAL, "blob %s was not completed", st->v[i].digest);
                _cleanup_free_ char *from = path_join(st->dir, digest_hex(st->v[i].digest));
                _cleanup_free_ char *to = content_path(st->cs, st->v[i].digest);
                if (!from || !to)
                        return -ENOMEM;
                /* rename() replaces atomically; an identical blob already there is fine. */
                if (rename(from, to) < 0)
                        return berr_set(e, -errno, "cannot move blob %s into the store: %s", st->v[i].digest, strerror(errno));
        }
        int r = fsync_dir(st->cs->blobs);
        if (r < 0)
                return berr_set(e, r, "cannot sync the store directory %s: %s", st->cs->blobs, strerror(-r));
        st->committed = true;
        return 0;
}

const char *content_partial_dir(const struct content_store *cs)
{
        return cs->partial;
}

int content_publish_file(struct content_store *cs, const char *digest, const char *path, berr *e)
{
        _cleanup_free_ char *to = content_path(cs, digest);
        if (!to)
                return -EINVAL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open downloaded blob %s: %s", path, strerror(errno));
        /* Data durable before the name appears in the store. */
        if (fsync(fd) < 0 || fchmod(fd, 0444) < 0)
                return berr_set(e, -errno, "cannot write blob %s to the store: %s", digest, strerror(errno));
        if (rename(path, to) < 0)
                return berr_set(e, -errno, "cannot move blob %s into the store: %s", digest, strerror(errno));
        int r = fsync_dir(cs->blobs);
        if (r < 0)
                return berr_set(e, r, "cannot sync the store directory %s: %s", cs->blobs, strerror(-r));
        return 0;
}

void content_stage_free(struct content_stage *st)
{
        if (!st)
                return;
        if (st->dir)
                (void)rm_rf(st->dir);
        free(st->dir);
        free(st->v);
        free(st);
}
