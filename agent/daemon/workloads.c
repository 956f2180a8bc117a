/* SPDX-License-Identifier: Apache-2.0 */
/* workloads.c — the agent's embedding of the workload engine: created at start
 * when a containerd backend is configured, holds <state>/workloads.lock (so berth
 * activate/rollback/supervise refuse while the agent runs), adopts running workloads,
 * and ticks the engine from sd-event (containerd task events + a timer at the engine's
 * next deadline). update.c drives updates through it in the `switching` state.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "containerd/preload.h"
#include "daemon/agent_int.h"
#include "workload/engine.h"

static int on_wl_timer(sd_event_source *s, uint64_t usec, void *ud);

static void wl_note(const char *msg)
{
        log_notice("agent: workloads: %s", msg);
}

/* One engine round, then re-arm the timer and let the update state machine look. */
static void wl_run(struct agent *a)
{
        if (!a->eng)
                return;
        uint64_t next = 0;
        berr e = {0};
        int r = workload_engine_tick(a->eng, &next, &e);
        if (r < 0) {
                log_error("agent: workload engine: %s", berr_msg(&e, r));
                next = agent_mono_usec(a) / 1000 + 1000;
        }
        uint64_t when = next * 1000;
        if (a->wl.timer) {
                (void)sd_event_source_set_time(a->wl.timer, when);
                (void)sd_event_source_set_enabled(a->wl.timer, SD_EVENT_ONESHOT);
        } else if (sd_event_add_time(a->ev, &a->wl.timer, CLOCK_MONOTONIC, when, 10 * 1000, on_wl_timer, a) >= 0)
                (void)sd_event_source_set_description(a->wl.timer, "workload-engine");
        telemetry_on_workloads(a); /* first: it tells server actions from local switches */
        update_on_workloads(a);
}

static int on_wl_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        wl_run(ud);
        return 0;
}

static int on_wl_event(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        wl_run(ud);
        return 0;
}

void workloads_kick(struct agent *a)
{
        if (!a->eng)
                return;
        if (a->wl.timer) {
                (void)sd_event_source_set_time(a->wl.timer, agent_mono_usec(a));
                (void)sd_event_source_set_enabled(a->wl.timer, SD_EVENT_ONESHOT);
        } else
                wl_run(a);
}

static bool has_containerd_backend(const char *list)
{
        _cleanup_free_ char *l = strdup(list ? list : "");
        char *save = NULL;
        for (char *t = l ? strtok_r(l, ", ", &save) : NULL; t; t = strtok_r(NULL, ", ", &save))
                if (!strcmp(t, "containerd"))
                        return true;
        return false;
}

int workloads_start(struct agent *a, berr *e)
{
        if (!has_containerd_backend(a->set.backends))
                return 0;
        _cleanup_free_ char *p = path_join(a->set.state_dir, "workloads.lock");
        if (!p)
                return -ENOMEM;
        a->wl.lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (a->wl.lock < 0)
                return berr_set(e, -errno, "cannot open %s: %s", p, strerror(errno));
        if (flock(a->wl.lock, LOCK_EX | LOCK_NB) < 0)
                return berr_set(e, -EBUSY, "another berth is switching workloads in %s (lock %s); stop it first",
                                a->set.state_dir, p);
        struct containerd_backend_opts co = {0};
        containerd_backend_opts_from_config(&co, a->cfg);
        int r = ctrd_new(co.address, co.ns, co.snapshotter, &a->wl.ctrd, e);
        if (r >= 0)
                r = workload_engine_new(&(struct workload_engine_opts){.state_dir = a->set.state_dir, .note = wl_note},
                                        a->cfg, a->db,
                                        a->cs, a->wl.ctrd, &a->eng, e);
        if (r >= 0)
                r = workload_engine_watch_events(a->eng, e);
        if (r >= 0 && sd_event_add_io(a->ev, &a->wl.io, workload_engine_event_fd(a->eng), EPOLLIN, on_wl_event, a) < 0)
                r = berr_set(e, -EIO, "cannot watch the workload engine's event pipe");
        if (r >= 0)
                r = workload_engine_start(a->eng, e);
        if (r < 0)
                return berr_prefix(e, r, "workload engine");
        log_info("agent: workload engine started (containerd %s, namespace %s)", co.address ? co.address : "?",
                 co.ns ? co.ns : "?");
        wl_run(a);
        return 0;
}

void workloads_stop(struct agent *a)
{
        a->wl.timer = sd_event_source_disable_unref(a->wl.timer);
        a->wl.io = sd_event_source_disable_unref(a->wl.io);
        workload_engine_free(a->eng);
        a->eng = NULL;
        ctrd_free(a->wl.ctrd);
        a->wl.ctrd = NULL;
        if (a->wl.lock >= 0)
                close(a->wl.lock);
        a->wl.lock = -1;
}
