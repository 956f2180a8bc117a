/* SPDX-License-Identifier: Apache-2.0 */
/* rootstore.c — anchor + accepted roots → the current trust root (see rootstore.h).
 *
 * Invariant: every file ROOTS_DIR/<N>.json is a complete root of version N that was
 * accepted by the rotation rule from the root current at the time. Writers take
 * ROOTS_DIR/lock, rescan, and only add files; readers need no lock because a file
 * appears by rename(2), whole.
 */
#include "bundle/rootstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "bundle/format.h"

struct root_store {
        char *trust_dir;
        char *roots_dir;                /* NULL: nothing persisted */
        unsigned flags;
        struct trust_root *anchor;
        struct trust_root *current;     /* == anchor or owned separately */
        struct trust *release;
};

void root_store_free(struct root_store *s)
{
        if (!s)
                return;
        if (s->current != s->anchor)
                root_free(s->current);
        root_free(s->anchor);
        trust_free(s->release);
        free(s->trust_dir);
        free(s->roots_dir);
        free(s);
}

/* "<decimal without leading zero>.json" → version; 0 for anything else (temp files too). */
static int64_t file_version(const char *name)
{
        int64_t v = 0;
        const char *p = name;
        if (*p < '1' || *p > '9')
                return 0;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (BUNDLE_MAX_VERSION - 9) / 10)
                        return 0;
                v = v * 10 + (*p - '0');
        }
        return strcmp(p, ".json") ? 0 : v;
}

/* Highest version with a file in dir (0: none, or no dir). */
static int scan_max(const char *dir, int64_t *ret, berr *e)
{
        *ret = 0;
        DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return berr_set(e, -errno, "cannot open the trust root directory %s: %s", dir, strerror(errno));
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                int64_t v = file_version(de->d_name);
                if (v > *ret)
                        *ret = v;
        }
        closedir(d);
        return 0;
}

static char *version_path(const char *dir, int64_t v)
{
        char *p;
        return asprintf(&p, "%s/%lld.json", dir, (long long)v) < 0 ? NULL : p;
}

/* Loads ROOTS_DIR/<v>.json; it must be that version and signed by its own root keys. */
static int load_version(const char *dir, int64_t v, struct trust_root **ret, berr *e)
{
        _cleanup_free_ char *p = version_path(dir, v);
        if (!p)
                return -ENOMEM;
        _cleanup_(root_freep) struct trust_root *r = NULL;
        int q = root_load_file(p, &r, e);
        if (q >= 0 && r->version != v)
                q = berr_set(e, -EBADMSG, "%s holds trust root version %lld", p, (long long)r->version);
        if (q >= 0)
                q = root_verify_self(r, e);
        if (q < 0)
                return berr_prefix(e, q, "the accepted trust root %s is damaged (berth never falls back to an older "
                                   "root; restore the file or see 'Rotating and revoking keys' in the README)", p);
        *ret = TAKE_PTR(r);
        return 0;
}

static int set_current(struct root_store *s, struct trust_root *r)
{
        struct trust *t = NULL;
        int q = root_release_trust(r, &t);
        if (q < 0) {
                if (r != s->anchor)
                        root_free(r);
                return q;
        }
        if (s->current != s->anchor)
                root_free(s->current);
        s->current = r;
        trust_free(s->release);
        s->release = t;
        return 0;
}

/* Adopts the highest accepted root on disk if it is newer than the current one. */
static int load_persisted(struct root_store *s, berr *e)
{
        if (!s->roots_dir)
                return 0;
        int64_t max;
        int q = scan_max(s->roots_dir, &max, e);
        if (q < 0 || max == 0 || max < s->current->version)
                return q;
        /* The same version as an explicit anchor: the accepted file is the one that was
         * chained; an implicit anchor (version 1) always yields to a file. */
        if (max == s->current->version && s->current != s->anchor)
                return 0;
        struct trust_root *r = NULL;
        q = load_version(s->roots_dir, max, &r, e);
        if (q < 0)
                return q;
        return set_current(s, r);
}

static int load_anchor(const char *trust_dir, struct trust_root **ret, berr *e)
{
        _cleanup_free_ char *p = path_join(trust_dir, ROOT_FILE);
        if (!p)
                return -ENOMEM;
        if (access(p, F_OK) == 0) {
                int q = root_load_file(p, ret, e);
                if (q >= 0 && (q = root_verify_self(*ret, e)) < 0) {
                        root_free(*ret);
                        *ret = NULL;
                }
                return q;
        }
        _cleanup_(trust_freep) struct trust *t = NULL;
        int q = trust_load(trust_dir, &t, e);
        if (q < 0)
                return q;
        return root_from_trust(t, ret, e);
}

int root_store_open(const char *trust_dir, const char *roots_dir, unsigned flags, struct root_store **ret, berr *e)
{
        _cleanup_(root_store_freep) struct root_store *s = calloc(1, sizeof *s);
        if (!s || !(s->trust_dir = strdup(trust_dir)) || (roots_dir && !(s->roots_dir = strdup(roots_dir))))
                return -ENOMEM;
        s->flags = flags;
        int q = load_anchor(trust_dir, &s->anchor, e);
        if (q < 0)
                return q;
        s->current = s->anchor;
        q = set_current(s, s->anchor);
        if (q >= 0)
                q = load_persisted(s, e);
        if (q < 0)
                return q;
        *ret = TAKE_PTR(s);
        return 0;
}

int root_store_open_state(const char *trust_dir, const char *state_dir, unsigned flags, struct root_store **ret,
                          berr *e)
{
        _cleanup_free_ char *rd = state_dir ? path_join(state_dir, ROOT_STORE_SUBDIR) : NULL;
        if (state_dir && !rd)
                return -ENOMEM;
        return root_store_open(trust_dir, rd, flags, ret, e);
}

const struct trust_root *root_store_current(const struct root_store *s)
{
        return s->current;
}

const struct trust *root_store_trust(const struct root_store *s)
{
        return s->release;
}

bool root_store_expired(const struct root_store *s, int64_t now)
{
        return s->current->expires && now >= s->current->expires;
}

/* Writes one accepted root. The fault points let tests kill berth at each step. */
static int persist(struct root_store *s, const struct trust_root *r, berr *e)
{
        _cleanup_free_ char *text = NULL, *path = version_path(s->roots_dir, r->version), *tmp = NULL;
        size_t len;
        int q = path ? root_serialize(r, &text, &len) : -ENOMEM;
        if (q < 0)
                return q;
        if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return berr_set(e, -errno, "cannot create %s: %s", tmp, strerror(errno));
        q = write_all(fd, text, len / 2);
        FAULT_POINT("trust.root.half_written");
        if (q >= 0)
                q = write_all(fd, text + len / 2, len - len / 2);
        /* On disk before the rename makes it the current root: a power cut must find the
         * whole file or none. */
        if (q >= 0 && fsync(fd) < 0)
                q = -errno;
        if (q < 0) {
                unlink(tmp);
                return berr_set(e, q, "cannot write trust root %s: %s", tmp, strerror(-q));
        }
        FAULT_POINT("trust.root.before_rename");
        if (rename(tmp, path) < 0) {
                q = -errno;
                unlink(tmp);
                return berr_set(e, q, "cannot rename %s to %s: %s", tmp, path, strerror(-q));
        }
        FAULT_POINT("trust.root.before_dir_sync");
        /* And the rename itself must survive a power cut before anything trusts the root. */
        q = fsync_dir(s->roots_dir);
        if (q < 0)
                return berr_set(e, q, "cannot sync %s: %s", s->roots_dir, strerror(-q));
        return 0;
}

/* Removes temp files a killed writer left (only under the lock: nobody else writes). */
static void remove_stale_temps(const char *dir)
{
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strstr(de->d_name, ".json.tmp."))
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
}

static int lock_dir(const char *dir, int *ret_fd, berr *e)
{
        int q = mkdir_p(dir, 0755);
        if (q < 0)
                return berr_set(e, q, "cannot create %s: %s", dir, strerror(-q));
        _cleanup_free_ char *p = path_join(dir, "lock");
        if (!p)
                return -ENOMEM;
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open %s: %s", p, strerror(errno));
        if (flock(fd, LOCK_EX) < 0) {
                q = -errno;
                close(fd);
                return berr_set(e, q, "cannot lock %s: %s", p, strerror(-q));
        }
        *ret_fd = fd;
        return 0;
}

/* A copy that the store owns (the chain's roots belong to the caller). */
static int copy_root(const struct trust_root *r, struct trust_root **ret, berr *e)
{
        _cleanup_(json_decrefp) json_t *env = root_envelope_json(r);
        if (!env)
                return -ENOMEM;
        return root_parse_json(env, r->origin, ret, e);
}

int root_store_advance(struct root_store *s, const struct root_chain *c, berr *e)
{
        /* Nothing newer: touch nothing (a replayed or current chain is a no-op). */
        if (c->n == 0 || c->v[c->n - 1]->version <= s->current->version)
                return 0;
        bool persistent = s->roots_dir && !(s->flags & ROOT_STORE_READONLY);
        /* A chain whose first new root is refused touches nothing, not even the lock. */
        for (size_t i = 0; i < c->n; i++)
                if (c->v[i]->version > s->current->version) {
                        int q = root_verify_next(s->current, c->v[i], e);
                        if (q < 0)
                                return q;
                        break;
                }
        _cleanup_close_ int lock = -1;
        if (persistent) {
                int q = lock_dir(s->roots_dir, &lock, e);
                if (q < 0)
                        return q;
                remove_stale_temps(s->roots_dir);
                /* Another process may have advanced since this store was opened. */
                q = load_persisted(s, e);
                if (q < 0)
                        return q;
        }
        int accepted = 0;
        for (size_t i = 0; i < c->n; i++) {
                const struct trust_root *r = c->v[i];
                if (r->version <= s->current->version)
                        continue;
                int q = root_verify_next(s->current, r, e);
                struct trust_root *own = NULL;
                if (q >= 0)
                        q = copy_root(r, &own, e);
                if (q >= 0 && persistent)
                        q = persist(s, own, e);
                if (q >= 0)
                        q = set_current(s, own);
                else
                        root_free(own);
                if (q < 0)
                        return q;
                accepted++;
                FAULT_POINT("trust.root.accepted");
        }
        return accepted;
}

int root_store_advance_json(struct root_store *s, const void *buf, size_t len, const char *origin, berr *e)
{
        _cleanup_(root_chain_freep) struct root_chain *c = NULL;
        int q = root_chain_parse(buf, len, origin, &c, e);
        if (q < 0)
                return q;
        return root_store_advance(s, c, e);
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

int root_store_chain(const struct root_store *s, int64_t after, struct root_chain **ret, berr *e)
{
        *ret = NULL;
        _cleanup_(root_chain_freep) struct root_chain *c = root_chain_new();
        if (!c)
                return -ENOMEM;
        int q = 0;
        if (!s->anchor->implicit && s->anchor->version > after) {
                struct trust_root *r = NULL;
                q = copy_root(s->anchor, &r, e);
                if (q >= 0)
                        q = root_chain_add(c, r, e);
        }
        /* The versions on disk above after, oldest first, as many as one chain holds: an
         * agent that is further behind asks again from where this answer ends. */
        int64_t v[BUNDLE_MAX_ROOTS];
        size_t n = 0;
        DIR *d = q >= 0 && s->roots_dir ? opendir(s->roots_dir) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                int64_t fv = file_version(de->d_name);
                if (fv <= after || fv > s->current->version)
                        continue;
                if (n < BUNDLE_MAX_ROOTS)
                        v[n++] = fv;
                else {
                        qsort(v, n, sizeof v[0], cmp_i64);
                        if (fv < v[n - 1])
                                v[n - 1] = fv;
                }
        }
        if (d)
                closedir(d);
        qsort(v, n, sizeof v[0], cmp_i64);
        for (size_t i = 0; q >= 0 && i < n && c->n < BUNDLE_MAX_ROOTS; i++) {
                struct trust_root *r = NULL;
                q = load_version(s->roots_dir, v[i], &r, e);
                if (q >= 0)
                        q = root_chain_add(c, r, e);
        }
        if (q < 0)
                return q;
        if (c->n)
                *ret = TAKE_PTR(c);
        return 0;
}
