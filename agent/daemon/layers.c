/* SPDX-License-Identifier: Apache-2.0 */
/* layers.c — see layers.h. */
#include "daemon/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

struct sweep {
        struct agent *a;
        int64_t now;
        unsigned blobs;
        uint64_t bytes;
        unsigned kept;          /* held, but a site peer may still want it */
};

/* The held layers of one installed bundle that no newer install keeps for the peers. */
static int sweep_bundle(void *ud, const struct db_bundle *b)
{
        struct sweep *s = ud;
        struct agent *a = s->a;
        _cleanup_free_ char *raw = NULL;
        size_t len = 0;
        if (db_get_manifest(a->db, b->name, b->version, &raw, &len) < 0)
                return 0;
        struct bundle_manifest *m = NULL;
        berr e = {0};
        if (bundle_manifest_parse(raw, len, &m, &e) < 0)
                return 0;
        _cleanup_free_ bool *held = calloc(m->n_blobs ? m->n_blobs : 1, sizeof *held);
        int r = held ? import_held_layers(a->db, a->cs, a->layers.scope, m, NULL, held, &e) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < m->n_blobs; i++) {
                const struct bundle_blob *bl = &m->blobs[i];
                int64_t at = 0;
                if (!held[i] || !content_has(a->cs, bl->digest, bl->size))
                        continue;
                if (db_blob_last_import(a->db, bl->digest, &at, NULL) > 0 && s->now - at < a->layers.keep_for) {
                        s->kept++;
                        continue;
                }
                if (content_remove(a->cs, bl->digest) >= 0) {
                        s->blobs++;
                        s->bytes += bl->size;
                }
        }
        if (r < 0)
                log_warning("agent: cannot tell which layers of %s %" PRId64 " containerd holds: %s", b->name,
                            b->version, berr_msg(&e, r));
        bundle_manifest_free(m);
        return 0;
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
                struct sweep s = {.a = a, .now = now_seconds()};
                int r = db_list_bundles(a->db, sweep_bundle, &s);
                if (r < 0)
                        log_warning("agent: cannot list the installed bundles to drop layers: %s",
                                    db_last_error(a->db));
                if (s.blobs) {
                        log_info("agent: dropped %u compressed layer(s), %" PRIu64 " bytes, from berth's store: "
                                 "containerd holds them unpacked%s", s.blobs, s.bytes,
                                 a->layers.keep_for ? " and the site peers had them for peers.keep_for" : "");
                        a->layers.dropped_blobs += s.blobs;
                        a->layers.dropped_bytes += s.bytes;
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
        uint64_t iv = (uint64_t)l->keep_for * 1000000 / 4;
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
