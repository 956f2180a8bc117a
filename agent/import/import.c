/* SPDX-License-Identifier: Apache-2.0 */
/* import.c — the single entry path of bundles into a node (see import.h for the order
 * of steps and what each failure leaves behind).
 */
#include "import/import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "bundle/platform.h"
#include "bundle/reader.h"
#include "bundle/rootstore.h"
#include "import/held.h"
#include "store/db.h"
#include "workload/spec.h"

/* Headroom kept free on the state filesystem beyond what an import needs. */
#define IMPORT_SPACE_MARGIN (16ULL * 1024 * 1024)

struct blob_sink {
        int fd;
        const char *digest;
        uint64_t written;
        berr *e;
        const char *state_dir;
};

static int sink_write(void *ud, const void *buf, size_t len)
{
        struct blob_sink *s = ud;
        int r = write_all(s->fd, buf, len);
        if (r == -ENOSPC || r == -EDQUOT)
                return berr_set(s->e, r, "disk full while storing blob %s in %s; free some space and import again "
                                "(nothing was changed)", s->digest, s->state_dir);
        if (r < 0)
                return berr_set(s->e, r, "cannot write blob %s to the store: %s", s->digest, strerror(-r));
        s->written += len;
        return 0;
}

/* One import at a time per state dir; the lock dies with the process. */
static int lock_state(const char *state_dir, int *ret_fd, berr *e)
{
        int r = mkdir_p(state_dir, 0755);
        if (r < 0)
                return berr_set(e, r, "cannot create state directory %s: %s", state_dir, strerror(-r));
        _cleanup_free_ char *p = path_join(state_dir, "lock");
        if (!p)
                return -ENOMEM;
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open lock file %s: %s", p, strerror(errno));
        if (flock(fd, LOCK_EX) < 0) {
                close(fd);
                return berr_set(e, -errno, "cannot lock %s: %s", p, strerror(errno));
        }
        *ret_fd = fd;
        return 0;
}

bool import_mirrors_every_platform(struct import_backend *const *backends, size_t n_backends)
{
        for (size_t i = 0; i < n_backends; i++)
                if (!strcmp(backends[i]->name, "registry"))
                        return true;
        return false;
}

bool import_picks_platform(struct import_backend *const *backends, size_t n_backends,
                           const struct bundle_manifest *m)
{
        if (import_mirrors_every_platform(backends, n_backends))
                return false; /* a registry mirror serves every platform: it gets them all */
        for (size_t i = 0; i < m->n_blobs; i++)
                if (media_type_is_index(m->blobs[i].media_type))
                        return true;
        return false;
}

/* Lets backends start on a blob whose digest was just checked (see import.h). */
static void blob_verified(const struct import_opts *o, const struct bundle_manifest *m, const struct bundle_blob *b,
                          int fd, bool seekable)
{
        for (size_t i = 0; seekable && i < o->n_backends; i++)
                if (o->backends[i]->blob_verified)
                        o->backends[i]->blob_verified(o->backends[i], m, b, fd);
}

/* True when a backend keeps this blob itself, so the store need not (see import.h). */
static bool blob_taken(const struct import_opts *o, const struct bundle_manifest *m, const struct bundle_blob *b,
                       int fd, bool seekable)
{
        for (size_t i = 0; seekable && i < o->n_backends; i++)
                if (o->backends[i]->takes_blob && o->backends[i]->blob_verified &&
                    o->backends[i]->takes_blob(o->backends[i], m, b, fd))
                        return true;
        return false;
}

static int record_unpacked(void *ud, const char *key)
{
        struct berth_db *db = ud;
        return db_unpacked_add(db, key, now_seconds(), NULL);
}

/* Each backend in turn. What a backend holds unpacked is recorded (import/held.h); when
 * one misses a layer it was thought to hold (-ENOENT), those records of m go, so the
 * next plan fetches the layers. */
static int run_backends(const struct import_opts *o, const struct bundle_manifest *m, struct berth_db *db,
                        struct content_store *cs, berr *e)
{
        const char *scope = import_held_scope(o->backends, o->n_backends);
        for (size_t i = 0; i < o->n_backends; i++) {
                struct import_backend *b = o->backends[i];
                int r = b->preload(b, m, cs, e);
                if (r == -ENOENT && scope)
                        (void)import_held_forget(db, cs, scope, m, NULL);
                if (r < 0)
                        return berr_prefix(e, r, "%s %lld was verified and stored, but preloading into %s failed "
                                           "(fix that and import again to finish)", m->name, (long long)m->version, b->name);
                /* The bundle is in: a record that fails costs the next update those layers
                 * again (they are fetched, not found), nothing more. */
                if (b->unpacked && scope && b->unpacked(b, record_unpacked, db) < 0)
                        log_warning("%s %lld: cannot record which layers %s holds unpacked (%s); the next update "
                                    "fetches them again", m->name, (long long)m->version, b->name, db_last_error(db));
        }
        return 0;
}

/* 1 when exactly this bundle is already recorded, 0 when it is newer than what is
 * installed, <0 (with e set) when it is refused as not newer. */
static int check_version(struct berth_db *db, const struct bundle_manifest *m, berr *e)
{
        int64_t have = 0;
        char have_digest[DIGEST_STR_LEN + 1] = "";
        int r = db_installed(db, m->name, &have, have_digest);
        if (r < 0)
                return berr_set(e, r, "cannot read installed versions from the database");
        if (r > 0 && have == m->version && !strcmp(have_digest, m->digest))
                return 1;
        if (r > 0 && have == m->version)
                return berr_set(e, -ESTALE, "bundle %s: version %lld is already installed with different content "
                                "(manifest %s); a new release needs a higher version", m->name, (long long)have, have_digest);
        if (r > 0 && have > m->version)
                return berr_set(e, -ESTALE, "bundle %s: version %lld is older than the installed version %lld; "
                                "downgrades are refused; to go back, publish the old release under a higher version",
                                m->name, (long long)m->version, (long long)have);
        return 0;
}

/* The node's current trust root, advanced first by the roots the bundle carries: each is
 * checked by the rotation rule and kept on its own merit, whatever becomes of the bundle.
 * Its release keys are what the bundle's signatures must satisfy. */
static int current_root(const struct import_opts *o, struct bundle_reader *rd, const char *name,
                        struct root_store **ret, berr *e)
{
        _cleanup_(root_store_freep) struct root_store *s = NULL;
        int r = root_store_open_state(o->trust_dir, o->state_dir, 0, &s, e);
        if (r < 0)
                return r;
        const void *roots;
        size_t len;
        bundle_reader_roots(rd, &roots, &len);
        if (roots) {
                r = root_store_advance_json(s, roots, len, BUNDLE_ROOTS_ENTRY, e);
                if (r < 0)
                        return berr_prefix(e, r, "bundle %s: the trust roots it carries were refused", name);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* Workload specs are part of the signed manifest: a bundle whose specs this node
 * cannot run, or that asks for more than this node's policy allows, is refused before
 * anything is stored or fetched, whichever way it arrives (file, socket, download). */
static int check_workloads(const struct import_opts *o, const struct bundle_manifest *m, berr *e)
{
        _cleanup_(workload_set_freep) struct workload_set *ws = NULL;
        int r = workload_set_from_manifest(m, &ws, e);
        if (r < 0)
                return berr_prefix(e, r, "invalid workload spec");
        _cleanup_(wl_policy_freep) struct wl_policy *own = NULL;
        const struct wl_policy *p = o->policy;
        if (!p) {
                r = wl_policy_from_config(o->config, &own, e);
                if (r < 0)
                        return r;
                p = own;
        }
        r = wl_policy_check(p, ws, e);
        if (r < 0)
                return berr_prefix(e, r, "bundle %s version %lld is outside this gateway's policy (a signature says "
                                   "who built it, agent.conf [policy] what may run here)", m->name,
                                   (long long)m->version);
        return 0;
}

/* Fills what the result says about the bundle, then takes the state lock and opens the
 * DB and the content store: what both entry points do before touching the state. */
static int open_state(const struct import_opts *o, const struct bundle_manifest *m, struct import_result *res,
                      int *ret_lock, struct berth_db **ret_db, struct content_store **ret_cs, berr *e)
{
        snprintf(res->name, sizeof res->name, "%s", m->name);
        res->version = m->version;
        res->n_images = (unsigned)m->n_images;
        memcpy(res->digest, m->digest, sizeof res->digest);
        int r = lock_state(o->state_dir, ret_lock, e);
        if (r >= 0)
                r = db_open(o->state_dir, ret_db, e);
        if (r >= 0)
                r = content_store_open(o->state_dir, ret_cs, e);
        return r;
}

int berth_import_fd(const struct import_opts *o, int fd, const char *display_name, struct import_result *res,
                    berr *e)
{
        struct import_result dummy;
        if (!res)
                res = &dummy;
        memset(res, 0, sizeof *res);
        int64_t now = o->now ? o->now : now_seconds();

        _cleanup_(bundle_reader_freep) struct bundle_reader *rd = NULL;
        int r = bundle_reader_new(fd, display_name, &rd, e);
        if (r < 0)
                return r;
        _cleanup_(root_store_freep) struct root_store *roots = NULL;
        r = bundle_reader_read_head(rd, e);
        if (r >= 0)
                r = current_root(o, rd, display_name ? display_name : "bundle", &roots, e);
        if (r >= 0)
                r = bundle_reader_verify(rd, root_store_trust(roots), now, e);
        if (r < 0)
                return r;
        struct bundle_manifest *m = bundle_reader_manifest(rd);
        r = check_workloads(o, m, e);
        if (r < 0)
                return r;
        _cleanup_close_ int lock = -1;
        _cleanup_(db_closep) struct berth_db *db = NULL;
        _cleanup_(content_store_freep) struct content_store *cs = NULL;
        r = open_state(o, m, res, &lock, &db, &cs, e);
        if (r < 0)
                return r;

        r = check_version(db, m, e);
        if (r < 0)
                return r;
        if (r > 0) {
                /* Same bundle again: nothing to store, but the file is still checked to
                 * the last byte, so a damaged copy is reported as damaged rather than
                 * "already installed". Then let backends finish what they may not have. */
                const struct bundle_blob *b;
                bool seekable = lseek(fd, 0, SEEK_CUR) >= 0;
                while ((r = bundle_reader_next_blob(rd, &b, e)) > 0) {
                        r = bundle_reader_stream_blob(rd, NULL, NULL, e);
                        if (r < 0)
                                return r;
                        /* A backend may need it again (e.g. containerd lost it). */
                        blob_verified(o, m, b, fd, seekable);
                }
                if (r >= 0)
                        r = bundle_reader_finish(rd, e);
                if (r < 0)
                        return r;
                res->already_installed = true;
                res->blobs_present = (unsigned)m->n_blobs;
                res->bytes_read = bundle_reader_bytes_read(rd);
                return run_backends(o, m, db, cs, e);
        }

        /* Of a multi-platform image, this node's platform's blobs (the image documents read
         * ahead from the file, their digests checked); from a pipe, every blob. */
        bool seekable = lseek(fd, 0, SEEK_CUR) >= 0;
        _cleanup_free_ bool *wanted = NULL;
        if (seekable && import_picks_platform(o->backends, o->n_backends, m)) {
                struct platform host;
                platform_host(&host);
                wanted = calloc(m->n_blobs, sizeof *wanted);
                if (!wanted)
                        return berr_set(e, -ENOMEM, "out of memory");
                r = platform_need(m, &host, platform_file_doc, &fd, wanted, NULL, e);
                if (r == -ENOEXEC)
                        return berr_prefix(e, r, "bundle %s %lld cannot run on this gateway (nothing was changed)",
                                           m->name, (long long)m->version);
                if (r < 0)
                        return r;
        }
        uint64_t need = 0;
        for (size_t i = 0; i < m->n_blobs; i++)
                if ((!wanted || wanted[i]) && !content_has(cs, m->blobs[i].digest, m->blobs[i].size))
                        need += m->blobs[i].size;
        uint64_t avail = 0;
        if (fs_free_bytes(o->state_dir, &avail) >= 0 && avail < need + IMPORT_SPACE_MARGIN)
                return berr_set(e, -ENOSPC, "bundle %s %lld needs %llu MiB in %s but only %llu MiB are free; free some "
                                "space and import again (nothing was changed)", m->name, (long long)m->version,
                                (unsigned long long)((need + IMPORT_SPACE_MARGIN) >> 20), o->state_dir,
                                (unsigned long long)(avail >> 20));

        _cleanup_(content_stage_freep) struct content_stage *stage = NULL;
        r = content_stage_new(cs, &stage, e);
        if (r < 0)
                return r;
        const struct bundle_blob *b;
        while ((r = bundle_reader_next_blob(rd, &b, e)) > 0) {
                if (wanted && !wanted[b - m->blobs]) {
                        /* Another platform's: checked (a corrupt bundle is refused whole),
                         * neither stored nor handed to a backend. */
                        r = bundle_reader_stream_blob(rd, NULL, NULL, e);
                        if (r < 0)
                                return r;
                        res->blobs_other_platforms++;
                        continue;
                }
                if (content_has(cs, b->digest, b->size)) {
                        /* Already stored: still hashed, so a corrupt bundle is refused whole. */
                        r = bundle_reader_stream_blob(rd, NULL, NULL, e);
                        if (r < 0)
                                return r;
                        res->blobs_present++;
                        blob_verified(o, m, b, fd, seekable);
                        continue;
                }
                if (blob_taken(o, m, b, fd, seekable)) {
                        /* A backend keeps it (e.g. containerd): checked, not stored twice. */
                        r = bundle_reader_stream_blob(rd, NULL, NULL, e);
                        if (r < 0)
                                return r;
                        res->blobs_shipped++;
                        blob_verified(o, m, b, fd, seekable);
                        continue;
                }
                struct blob_sink s = {.fd = -1, .digest = b->digest, .e = e, .state_dir = o->state_dir};
                r = content_stage_open(stage, b->digest, &s.fd, e);
                if (r < 0)
                        return r;
                r = bundle_reader_stream_blob(rd, sink_write, &s, e);
                if (r < 0) {
                        content_stage_discard(stage, b->digest, s.fd);
                        return r;
                }
                r = content_stage_done(stage, b->digest, s.fd, e);
                if (r < 0)
                        return r;
                res->blobs_stored++;
                res->bytes_stored += s.written;
                blob_verified(o, m, b, fd, seekable);
        }
        if (r < 0)
                return r;
        r = bundle_reader_finish(rd, e);
        if (r < 0)
                return r;
        res->bytes_read = bundle_reader_bytes_read(rd);

        /* Only now, with every byte of the bundle checked, does anything become visible:
         * blobs first (harmless alone: content-addressed and verified), then the DB row
         * that makes the bundle installed. A crash between the two leaves unreferenced
         * blobs that the next import reuses. */
        r = content_stage_commit(stage, e);
        if (r < 0)
                return r;
        const void *mraw, *sraw;
        size_t mlen, slen;
        bundle_reader_head_bytes(rd, &mraw, &mlen, &sraw, &slen);
        r = db_record_bundle(db, m, mraw, mlen, sraw, slen, o->source, now, e);
        if (r < 0)
                return r;
        return run_backends(o, m, db, cs, e);
}

int berth_import_file(const struct import_opts *o, const char *path, struct import_result *res, berr *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open bundle %s: %s", path, strerror(errno));
        return berth_import_fd(o, fd, path, res, e);
}

struct import_head {
        struct bundle_reader *rd;
        bool installed;
};

void import_head_free(struct import_head *h)
{
        if (!h)
                return;
        bundle_reader_free(h->rd);
        free(h);
}

const struct bundle_manifest *import_head_manifest(const struct import_head *h)
{
        return bundle_reader_manifest(h->rd);
}

bool import_head_installed(const struct import_head *h)
{
        return h->installed;
}

int import_head_verify(const struct import_opts *o, const void *head, size_t len, struct import_head **ret, berr *e)
{
        if (len > BUNDLE_MAX_MANIFEST_SIZE + BUNDLE_MAX_SIGNATURES_SIZE + 4 * BUNDLE_TAR_BLOCK)
                return berr_set(e, -EFBIG, "bundle head of %zu bytes is over the format's limit", len);
        /* The head goes through the very reader a file import uses, from an anonymous
         * in-memory file, so the checks cannot drift apart. */
        int fd = memfd_create("berth-head", MFD_CLOEXEC);
        if (fd < 0)
                return berr_set(e, -errno, "cannot create a memory file: %s", strerror(errno));
        int r = write_all(fd, head, len);
        if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return berr_set(e, r, "cannot buffer the bundle head: %s", strerror(-r));
        }
        _cleanup_(import_head_freep) struct import_head *h = calloc(1, sizeof *h);
        if (!h) {
                close(fd);
                return -ENOMEM;
        }
        r = bundle_reader_new(fd, "download", &h->rd, e);
        if (r < 0)
                return r;
        _cleanup_(root_store_freep) struct root_store *roots = NULL;
        r = bundle_reader_read_head(h->rd, e);
        if (r >= 0)
                r = current_root(o, h->rd, "download", &roots, e);
        if (r >= 0)
                r = bundle_reader_verify(h->rd, root_store_trust(roots), o->now ? o->now : now_seconds(), e);
        if (r >= 0)
                r = check_workloads(o, bundle_reader_manifest(h->rd), e);
        if (r < 0)
                return r;
        _cleanup_(db_closep) struct berth_db *db = NULL;
        r = db_open(o->state_dir, &db, e);
        if (r < 0)
                return r;
        r = check_version(db, bundle_reader_manifest(h->rd), e);
        if (r < 0)
                return r;
        h->installed = r > 0;
        *ret = TAKE_PTR(h);
        return 0;
}

/* For berth_import_stored: which blobs this node needs (*need NULL: all) and which
 * layers a backend holds unpacked (*held NULL: none). */
static int missing_blobs_plan(const struct import_opts *o, const struct bundle_manifest *m, struct berth_db *db,
                              struct content_store *cs, bool **need, bool **held, berr *e)
{
        int r;
        if (import_picks_platform(o->backends, o->n_backends, m)) {
                *need = calloc(m->n_blobs, sizeof **need);
                if (!*need)
                        return berr_set(e, -ENOMEM, "out of memory");
                r = import_platform_need(cs, m, *need, NULL, e);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r < 0) {
                        berr_clear(e); /* a document is missing: then every blob is */
                        memset(*need, 1, m->n_blobs * sizeof **need);
                }
        }
        const char *scope = import_held_scope(o->backends, o->n_backends);
        if (!scope)
                return 0;
        *held = calloc(m->n_blobs, sizeof **held);
        if (!*held)
                return berr_set(e, -ENOMEM, "out of memory");
        return import_held_layers(db, cs, scope, m, *need, *held, e);
}

int berth_import_stored(const struct import_opts *o, const void *head, size_t len, struct import_result *res, berr *e)
{
        struct import_result dummy;
        if (!res)
                res = &dummy;
        memset(res, 0, sizeof *res);
        int64_t now = o->now ? o->now : now_seconds();
        _cleanup_(import_head_freep) struct import_head *h = NULL;
        int r = import_head_verify(o, head, len, &h, e);
        if (r < 0)
                return r;
        const struct bundle_manifest *m = import_head_manifest(h);
        _cleanup_close_ int lock = -1;
        _cleanup_(db_closep) struct berth_db *db = NULL;
        _cleanup_(content_store_freep) struct content_store *cs = NULL;
        r = open_state(o, m, res, &lock, &db, &cs, e);
        if (r < 0)
                return r;
        /* Every blob, or (a multi-platform image) every blob of this node's platform;
         * a layer a backend holds unpacked needs no copy (import/held.h). */
        _cleanup_free_ bool *need = NULL, *held = NULL;
        bool looked = false;
        unsigned present = 0;
        for (size_t i = 0; i < m->n_blobs; i++) {
                if (content_has(cs, m->blobs[i].digest, m->blobs[i].size)) {
                        present++;
                        continue;
                }
                if (!looked) {
                        looked = true;
                        r = missing_blobs_plan(o, m, db, cs, &need, &held, e);
                        if (r < 0)
                                return r;
                }
                if (held && held[i]) {
                        present++;
                        continue;
                }
                if (!need || need[i])
                        return berr_set(e, -ENOENT, "bundle %s %lld: blob %s is not in the store yet", m->name,
                                        (long long)m->version, m->blobs[i].digest);
        }
        res->blobs_present = present;
        r = check_version(db, m, e);
        if (r < 0)
                return r;
        if (r > 0)
                res->already_installed = true;
        else {
                const void *mraw, *sraw;
                size_t mlen, slen;
                bundle_reader_head_bytes(h->rd, &mraw, &mlen, &sraw, &slen);
                r = db_record_bundle(db, m, mraw, mlen, sraw, slen, o->source, now, e);
                if (r < 0)
                        return r;
        }
        /* Backends read from the store; they run after the DB row and are idempotent. */
        return run_backends(o, m, db, cs, e);
}

/* An index or manifest from the store. */
static int store_doc(void *userdata, const struct bundle_blob *b, json_t **ret, berr *e)
{
        _cleanup_close_ int fd = -1;
        if (content_open(userdata, b->digest, &fd) < 0)
                return berr_set(e, -ENOENT, "image document %s is not in the store yet", b->digest);
        return platform_read_doc(fd, 0, b, ret, e);
}

int import_platform_need(struct content_store *cs, const struct bundle_manifest *m, bool *need, uint64_t *bytes,
                         berr *e)
{
        struct platform host;
        uint64_t sum = 0;
        platform_host(&host);
        int r = platform_need(m, &host, store_doc, cs, need, &sum, e);
        if (r == -ENOEXEC)
                return berr_prefix(e, r, "bundle %s %lld cannot run on this gateway", m->name, (long long)m->version);
        if (r >= 0 && bytes)
                *bytes = sum;
        return r;
}
