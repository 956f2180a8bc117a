/* SPDX-License-Identifier: Apache-2.0 */
/* layers.c — see layers.h. */
#include "daemon/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "daemon/agent_int.h"
#include "import/backends.h"
#include "import/held.h"

#define INTERVAL_MAX_USEC (3600ULL * 1000000)
#define INTERVAL_MIN_USEC (1000000ULL)
#define BUSY_RETRY_USEC (60ULL * 1000000)

#define RECENT_S 600              /* a blob published this recently is not dropped */

struct digest_size {
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
};

struct sweep {
        struct agent *a;
        int64_t now;
        struct digest_size *drop, *keep;   /* candidates; blobs some bundle still needs stored */
        size_t n_drop, n_keep;
        int r;
};

static bool listed(const struct digest_size *v, size_t n, const char *digest)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(v[i].digest, digest))
                        return true;
        return false;
}

static int add(struct digest_size **v, size_t *n, const struct bundle_blob *b)
{
        if (listed(*v, *n, b->digest))
                return 0;
        struct digest_size *x = realloc(*v, (*n + 1) * sizeof **v);
        if (!x)
                return -ENOMEM;
        *v = x;
        snprintf(x[*n].digest, sizeof x[*n].digest, "%s", b->digest);
        x[(*n)++].size = b->size;
        return 0;
}

/* One installed bundle: its layers containerd holds at every position it uses them are
 * candidates; any other blob it lists stays (a layer it uses on another parent, a
 * config, another platform's). */
static int sweep_bundle(void *ud, const struct db_bundle *b)
{
        struct sweep *s = ud;
        struct agent *a = s->a;
        _cleanup_free_ char *raw = NULL;
        size_t len = 0;
        struct bundle_manifest *m = NULL;
        berr e = {0};
        int r = db_get_manifest(a->db, b->name, b->version, &raw, &len);
        if (r >= 0)
                r = bundle_manifest_parse(raw, len, &m, &e);
        _cleanup_free_ bool *held = r >= 0 ? calloc(m->n_blobs ? m->n_blobs : 1, sizeof *held) : NULL;
        if (r >= 0)
                r = held ? import_held_layers(a->db, a->cs, a->layers.scope, m, NULL, held, &e) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < m->n_blobs; i++)
                r = held[i] ? add(&s->drop, &s->n_drop, &m->blobs[i]) : add(&s->keep, &s->n_keep, &m->blobs[i]);
        if (r < 0) {
                /* Not knowing what one bundle needs, drop nothing. */
                log_warning("agent: cannot tell which layers of %s %" PRId64 " containerd holds, so none is dropped "
                            "from berth's store: %s", b->name, b->version, r == -ENOMEM ? "out of memory"
                            : e.msg[0] ? berr_msg(&e, r) : db_last_error(a->db));
                s->r = r;
        }
        bundle_manifest_free(m);
        return 0;
}

/* Drops the candidates no bundle needs stored, that are old enough for the peers. */
static void sweep(struct agent *a, unsigned *ret_blobs, uint64_t *ret_bytes, unsigned *ret_kept)
{
        struct sweep s = {.a = a, .now = now_seconds()};
        *ret_blobs = *ret_kept = 0;
        *ret_bytes = 0;
        int r = db_list_bundles(a->db, sweep_bundle, &s);
        if (r < 0)
                log_warning("agent: cannot list the installed bundles to drop layers: %s", db_last_error(a->db));
        for (size_t i = 0; r >= 0 && s.r >= 0 && i < s.n_drop; i++) {
                const struct digest_size *d = &s.drop[i];
                int64_t at = 0;
                struct stat st;
                if (listed(s.keep, s.n_keep, d->digest) || !content_has(a->cs, d->digest, d->size))
                        continue;
                if (db_blob_last_import(a->db, d->digest, &at, NULL) > 0 && s.now - at < a->layers.keep_for) {
                        (*ret_kept)++; /* the site's peers may still want it */
                        continue;
                }
                _cleanup_close_ int fd = -1;
                if (content_open(a->cs, d->digest, &fd) < 0 || fstat(fd, &st) < 0 || s.now - st.st_mtime < RECENT_S)
                        continue; /* just published: an import (`--from-peers`) may be about to record it */
                if (content_remove(a->cs, d->digest) >= 0) {
                        (*ret_blobs)++;
                        *ret_bytes += d->size;
                }
        }
        free(s.drop);
        free(s.keep);
}

/* The state lock every import holds (import.c): a `berth import` beside the agent may be
 * reading these layers. Non-blocking. */
static bool try_lock(struct agent *a)
{
        _cleanup_free_ char *p = path_join(a->set.state_dir, "lock");
        int fd = p ? open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
        if (fd < 0)
                return false;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return false;
        }
        a->layers.lock_fd = fd;
        return true;
}

static void unlock(struct agent *a)
{
        if (a->layers.lock_fd >= 0)
                close(a->layers.lock_fd);
        a->layers.lock_fd = -1;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *ud)
{
        struct agent *a = ud;
        uint64_t next = a->layers.interval_usec;
        if (a->upd.have_act || a->upd.commit) {
                /* The import may be reading these layers: later. */
                next = BUSY_RETRY_USEC < next ? BUSY_RETRY_USEC : next;
        } else if (!try_lock(a)) {
                next = BUSY_RETRY_USEC < next ? BUSY_RETRY_USEC : next; /* a `berth import` runs */
        } else {
                unsigned blobs, kept;
                uint64_t bytes;
                sweep(a, &blobs, &bytes, &kept);
                if (kept != a->layers.kept && kept)
                        log_info("agent: keeping %u compressed layer(s) in berth's store for the site peers "
                                 "(peers.keep_for = %" PRId64 " s after an install)", kept, a->layers.keep_for);
                a->layers.kept = kept;
                if (blobs) {
                        log_info("agent: dropped %u compressed layer(s), %" PRIu64 " bytes, from berth's store: "
                                 "containerd holds them unpacked%s", blobs, bytes,
                                 a->layers.keep_for ? " and the site peers had them for peers.keep_for" : "");
                        a->layers.dropped_bytes += bytes;
                }
                unlock(a);
        }
        (void)sd_event_source_set_time(src, usec + next);
        (void)sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return 0;
}

int layers_start(struct agent *a, berr *e)
{
        struct layers_state *l = &a->layers;
        l->lock_fd = -1;
        const char *scope = import_held_scope(a->backends, a->n_backends);
        bool keep = false;
        int r = config_get_bool(a->cfg, "containerd.keep_layers", false, &keep, e);
        if (r < 0)
                return r;
        const char *kf = config_get(a->cfg, "peers.keep_for", NULL);
        int64_t keep_for = LAYERS_KEEP_FOR_DEFAULT;
        if (kf && duration_parse(kf, &keep_for) < 0)
                return berr_set(e, -EINVAL, "config peers.keep_for = '%s': a duration (e.g. 3d, 12h, 90m)", kf);
        if (!scope || keep || import_mirrors_every_platform(a->backends, a->n_backends))
                return 0;
        l->scope = scope;
        l->keep_for = import_serves_peers(a->cfg) ? keep_for : 0;
        /* Without peers the preload drops the layers itself: the sweep only catches what an
         * interrupted one left, hourly. */
        uint64_t iv = l->keep_for ? (uint64_t)l->keep_for * 1000000 / 4 : INTERVAL_MAX_USEC;
        l->interval_usec = iv < INTERVAL_MIN_USEC ? INTERVAL_MIN_USEC : iv > INTERVAL_MAX_USEC ? INTERVAL_MAX_USEC : iv;
        r = sd_event_add_time_relative(a->ev, &l->timer, CLOCK_MONOTONIC, INTERVAL_MIN_USEC, 100000, on_timer, a);
        if (r < 0)
                return berr_set(e, r, "cannot start the layer sweep timer: %s", strerror(-r));
        (void)sd_event_source_set_description(l->timer, "layers");
        if (l->keep_for)
                log_info("agent: compressed layers stay in berth's store for %" PRId64 " s after an install, for "
                         "the site peers (peers.keep_for); containerd holds them unpacked", l->keep_for);
        return 0;
}

void layers_kick(struct agent *a)
{
        if (!a->layers.timer)
                return;
        (void)sd_event_source_set_time_relative(a->layers.timer, INTERVAL_MIN_USEC);
        (void)sd_event_source_set_enabled(a->layers.timer, SD_EVENT_ONESHOT);
}

void layers_stop(struct agent *a)
{
        a->layers.timer = sd_event_source_disable_unref(a->layers.timer);
}
