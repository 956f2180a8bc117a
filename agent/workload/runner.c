/* SPDX-License-Identifier: Apache-2.0 */
/* runner.c — one workload instance in containerd (see runner.h). */
#include "workload/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "containerd/containers.h"
#include "containerd/snapshots.h"
#include "containerd/tasks.h"
#include "workload/mountcheck.h"
#include "workload/ocispec.h"
#include "workload/probe.h"

#define MAX_ID 76 /* containerd's identifier limit */

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

void runner_init(const struct runner_ctx *rc, struct wl_instance *inst)
{
        int n = snprintf(inst->id, sizeof inst->id, "%s-v%lld-%s", inst->bundle, (long long)inst->version,
                         inst->spec->name);
        if (n < 0 || n > MAX_ID) {
                /* Long names: a stable hash (labels still carry the real names). */
                char full[512], hex[DIGEST_STR_LEN + 1];
                snprintf(full, sizeof full, "%s\n%lld\n%s", inst->bundle, (long long)inst->version, inst->spec->name);
                if (sha256_buf_str(full, strlen(full), hex) < 0)
                        hex[0] = 0;
                snprintf(inst->id, sizeof inst->id, "berth-%.40s", hex + 7);
        }
        snprintf(inst->cgroup, sizeof inst->cgroup, "/%s/%s", ctrd_namespace(rc->c), inst->id);
}

static int ocispec_in(const struct runner_ctx *rc, const struct wl_instance *inst, char **ret_vol_dir,
                      struct ocispec_input *in)
{
        char *vd = path_join(rc->data_dir, inst->spec->name);
        if (!vd)
                return -ENOMEM;
        *in = (struct ocispec_input) {
                .w = inst->spec,
                .image_config = inst->image_config,
                .cgroups_path = inst->cgroup,
                .volume_dir = vd,
                .hostname = inst->spec->name,
        };
        *ret_vol_dir = vd;
        return 0;
}

static int prepare_volumes(const struct wl_instance *inst, const char *vol_dir, uint32_t uid, uint32_t gid, berr *e)
{
        for (size_t i = 0; i < inst->spec->n_volumes; i++) {
                _cleanup_free_ char *p = path_join(vol_dir, inst->spec->volumes[i].name);
                if (!p)
                        return -ENOMEM;
                struct stat st;
                if (stat(p, &st) == 0)
                        continue; /* keep what an operator may have changed */
                int r = mkdir_p(p, 0750);
                if (r < 0)
                        return berr_set(e, r, "workload %s: cannot create volume directory %s: %s", inst->spec->name,
                                        p, strerror(-r));
                if (chown(p, uid, gid) < 0)
                        return berr_set(e, -errno, "workload %s: cannot give volume %s to %u:%u: %m",
                                        inst->spec->name, p, uid, gid);
        }
        return 0;
}

static int ensure_container(const struct runner_ctx *rc, const struct wl_instance *inst, berr *e)
{
        char filter[128];
        snprintf(filter, sizeof filter, "id==%s", inst->id);
        const char *f = filter;
        struct ctrd_container *list = NULL;
        size_t n = 0;
        int r = ctrd_container_list(rc->c, &f, 1, &list, &n, e);
        ctrd_container_list_free(list, n);
        if (r < 0)
                return r;
        if (n > 0)
                return 0;

        /* The rootfs: an active snapshot on the image's top layer. A leftover one
         * from an interrupted start is reused. */
        bool committed;
        r = ctrd_snapshot_stat(rc->c, inst->chain_id, &committed, NULL);
        if (r == -ENOENT)
                return berr_set(e, -ENOENT, "workload %s: image %s is not unpacked in containerd (snapshot %s missing); "
                                "import the bundle file again", inst->spec->name, inst->spec->image, inst->chain_id);
        if (r < 0)
                return berr_set(e, r, "workload %s: cannot check the image's snapshot in containerd", inst->spec->name);
        /* gc.root: containerd's garbage collector (global, run after deletions in any
         * namespace) would otherwise collect the snapshot between Prepare and
         * Containers.Create. runner_remove_id() removes it explicitly. */
        struct ctrd_label sl[] = {{"containerd.io/gc.root", "berth"}};
        struct ctrd_mounts m = {0};
        berr tmp = {0};
        r = ctrd_snapshot_prepare(rc->c, inst->id, inst->chain_id, sl, ELEMENTSOF(sl), &m, &tmp);
        ctrd_mounts_done(&m);
        if (r < 0 && r != -EEXIST) {
                if (e)
                        *e = tmp;
                return berr_prefix(e, r, "workload %s: preparing its rootfs", inst->spec->name);
        }

        _cleanup_free_ char *vol_dir = NULL, *spec = NULL;
        struct ocispec_input in;
        if ((r = ocispec_in(rc, inst, &vol_dir, &in)) < 0)
                return r;
        r = ocispec_build(&in, &spec, e);
        if (r < 0)
                return r;
        char ver[32];
        snprintf(ver, sizeof ver, "%lld", (long long)inst->version);
        struct ctrd_label labels[] = {
                {WL_LABEL_BUNDLE, inst->bundle},
                {WL_LABEL_VERSION, ver},
                {WL_LABEL_WORKLOAD, inst->spec->name},
        };
        r = ctrd_container_create(rc->c, inst->id, inst->spec->image, inst->id, spec, labels, ELEMENTSOF(labels), e);
        if (r == -EEXIST)
                return 0;
        return r < 0 ? berr_prefix(e, r, "workload %s", inst->spec->name) : 0;
}

static bool has_readonly_binds(const struct workload_spec *w)
{
        bool ro = w->n_binds > 0 || w->network == WL_NET_HOST; /* host network: resolv.conf, hosts */
        for (size_t i = 0; !ro && i < w->n_volumes; i++)
                ro = w->volumes[i].read_only;
        return ro;
}

/* Before the task's process runs (it waits for Tasks.Start), its mount table must show
 * every read-only bind read-only all the way down (mountcheck.h). The spec is rebuilt
 * from the same inputs, as the container may have been created by an earlier run. */
static int verify_mounts(const struct ocispec_input *in, uint32_t pid, berr *e)
{
        const char *name = in->w->name;
        if (!has_readonly_binds(in->w))
                return 0;
        _cleanup_free_ char *spec = NULL, *info = NULL;
        int r = ocispec_build(in, &spec, e);
        if (r < 0)
                return r;
        char path[64];
        snprintf(path, sizeof path, "/proc/%u/mountinfo", pid);
        r = read_file_bounded(path, 16u << 20, &info, NULL);
        if (r < 0)
                return berr_set(e, r, "workload %s: cannot read the mount table of its task (%s: %s), so its "
                                "read-only binds cannot be checked; berth must run in containerd's PID namespace",
                                name, path, strerror(-r));
        return mountcheck_readonly(spec, info, name, e);
}

/* How long a Create may wait for the in-flight Create of a killed berth to settle. */
#define CREATE_SETTLE_MS 15000

/* Tasks.Create for inst. When containerd answers "mkdir <state>/<id>: file exists" while no
 * task is registered, the Create of an earlier berth that was killed mid-call is still in
 * flight in containerd (its shim is starting) or being undone: wait until its task shows
 * up (-EEXIST: the caller takes that task over, it was never started) or its state
 * directory is gone (the retried Create succeeds), instead of failing the start. */
static int create_task(const struct runner_ctx *rc, const struct wl_instance *inst, const struct ctrd_mounts *m,
                       const char *uri, uint32_t *pid, berr *e)
{
        uint64_t deadline = mono_ms() + CREATE_SETTLE_MS;
        for (bool told = false;; told = true) {
                int r = ctrd_task_create(rc->c, inst->id, m, uri, uri, pid, e);
                if (r >= 0 || r == -EEXIST || !strstr(berr_msg(e, r), "file exists"))
                        return r;
                if (!told && rc->note) {
                        char msg[200];
                        snprintf(msg, sizeof msg, "%s: containerd is still busy with an interrupted create of "
                                 "this task; waiting up to %u s for it to settle", inst->id, CREATE_SETTLE_MS / 1000);
                        rc->note(msg);
                }
                struct ctrd_task_info ti;
                if (ctrd_task_get(rc->c, inst->id, NULL, &ti, NULL) == 0) {
                        berr_clear(e);
                        return -EEXIST;
                }
                if (mono_ms() >= deadline)
                        return berr_prefix(e, r, "containerd still holds the state of an earlier, interrupted "
                                           "create after %u s", CREATE_SETTLE_MS / 1000);
                berr_clear(e);
                sleep_ms(50);
        }
}

int runner_start(const struct runner_ctx *rc, const struct wl_instance *inst, uint32_t *ret_pid, berr *e)
{
        struct ctrd_task_info ti;
        _cleanup_free_ char *vol_dir = NULL;
        int r = ctrd_task_get(rc->c, inst->id, NULL, &ti, NULL);
        if (r == 0 && (ti.status == CTRD_TASK_RUNNING || ti.status == CTRD_TASK_PAUSED ||
                       ti.status == CTRD_TASK_PAUSING)) {
                *ret_pid = ti.pid; /* adopted */
                return 0;
        }
        if (r == 0) {
                /* Created but not started, or stopped: start from a clean task. */
                r = ctrd_task_delete(rc->c, inst->id, NULL, e);
                if (r < 0)
                        return berr_prefix(e, r, "workload %s: removing its stopped task", inst->spec->name);
        }

        struct ocispec_input in;
        uint32_t uid, gid;
        if ((r = ocispec_in(rc, inst, &vol_dir, &in)) < 0)
                return r;
        ocispec_user(&in, &uid, &gid);
        if ((r = prepare_volumes(inst, vol_dir, uid, gid, e)) < 0)
                return r;
        if ((r = ensure_container(rc, inst, e)) < 0)
                return r;

        struct ctrd_mounts m = {0};
        r = ctrd_snapshot_mounts(rc->c, inst->id, &m, NULL);
        if (r == -ENOENT) {
                /* The container outlived its rootfs (removed by hand?): make both again. */
                if ((r = ctrd_container_delete(rc->c, inst->id, e)) < 0 || (r = ensure_container(rc, inst, e)) < 0)
                        return r;
                r = ctrd_snapshot_mounts(rc->c, inst->id, &m, e);
        } else if (r < 0)
                r = ctrd_snapshot_mounts(rc->c, inst->id, &m, e);
        if (r < 0)
                return berr_prefix(e, r, "workload %s: rootfs mounts", inst->spec->name);
        r = mkdir_p(rc->log_dir, 0750);
        if (r < 0) {
                ctrd_mounts_done(&m);
                return berr_set(e, r, "cannot create log directory %s: %s", rc->log_dir, strerror(-r));
        }
        char uri[4200];
        snprintf(uri, sizeof uri, "file://%s/%s.log", rc->log_dir, inst->id);
        uint32_t pid = 0;
        r = create_task(rc, inst, &m, uri, &pid, e);
        ctrd_mounts_done(&m);
        if (r == -EEXIST && (r = ctrd_task_get(rc->c, inst->id, NULL, &ti, e)) == 0)
                pid = ti.pid;
        if (r < 0)
                return berr_prefix(e, r, "workload %s: creating its task", inst->spec->name);
        r = verify_mounts(&in, pid, e);
        if (r < 0) {
                berr tmp = {0};
                (void)ctrd_task_delete(rc->c, inst->id, NULL, &tmp);
                return r;
        }
        r = ctrd_task_start(rc->c, inst->id, NULL, NULL, e);
        if (r < 0 && r != -EEXIST) {
                berr tmp = {0};
                (void)ctrd_task_delete(rc->c, inst->id, NULL, &tmp);
                return berr_prefix(e, r, "workload %s: starting its task", inst->spec->name);
        }
        r = ctrd_task_get(rc->c, inst->id, NULL, &ti, e);
        if (r < 0)
                return berr_prefix(e, r, "workload %s: task state after start", inst->spec->name);
        *ret_pid = ti.pid;
        return 0;
}

/* Polls the task until it is stopped or gone, at most ms. */
static int wait_stopped(const struct runner_ctx *rc, const char *id, uint64_t ms)
{
        uint64_t deadline = mono_ms() + ms;
        for (;;) {
                struct ctrd_task_info ti;
                int r = ctrd_task_get(rc->c, id, NULL, &ti, NULL);
                if (r == -ENOENT || (r == 0 && ti.status == CTRD_TASK_STOPPED))
                        return 0;
                if (mono_ms() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(20);
        }
}

int runner_stop(const struct runner_ctx *rc, const char *id, int sig, uint64_t grace_ms, berr *e)
{
        struct ctrd_task_info ti;
        int r = ctrd_task_get(rc->c, id, NULL, &ti, NULL);
        if (r == -ENOENT)
                return 0;
        if (r == 0 && ti.status != CTRD_TASK_STOPPED) {
                r = ctrd_task_kill(rc->c, id, NULL, sig, false, e);
                if (r < 0 && r != -ENOENT)
                        return berr_prefix(e, r, "container %s: sending the stop signal", id);
                if (wait_stopped(rc, id, grace_ms) < 0) {
                        /* A shell as PID 1 ignores SIGTERM: the grace period is over. */
                        r = ctrd_task_kill(rc->c, id, NULL, SIGKILL, true, e);
                        if (r < 0 && r != -ENOENT)
                                return berr_prefix(e, r, "container %s: SIGKILL", id);
                        if (wait_stopped(rc, id, 10000) < 0)
                                return berr_set(e, -ETIMEDOUT, "container %s: still running 10 s after SIGKILL", id);
                }
        }
        r = ctrd_task_delete(rc->c, id, NULL, e);
        return r < 0 ? berr_prefix(e, r, "container %s: deleting its task", id) : 0;
}

int runner_remove_id(const struct runner_ctx *rc, const char *id, berr *e)
{
        int r = runner_stop(rc, id, SIGKILL, 5000, e);
        if (r >= 0)
                r = ctrd_container_delete(rc->c, id, e);
        if (r >= 0)
                r = ctrd_snapshot_remove(rc->c, id, e);
        return r;
}

/* OOM kills counted by the memory cgroup (v1: memory.oom_control, v2: memory.events). */
static bool oom_killed(const struct wl_instance *inst)
{
        char p[400];
        const char *files[] = {"/sys/fs/cgroup/memory%s/memory.oom_control", "/sys/fs/cgroup%s/memory.events"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                snprintf(p, sizeof p, files[i], inst->cgroup);
#pragma GCC diagnostic pop
                _cleanup_free_ char *buf = NULL;
                size_t len;
                if (read_file_bounded(p, 4096, &buf, &len) < 0)
                        continue;
                const char *k = strstr(buf, "oom_kill ");
                if (k)
                        return strtoul(k + 9, NULL, 10) > 0;
        }
        return false;
}

int runner_poll(const struct runner_ctx *rc, const struct wl_instance *inst, int *ret_exit, bool *ret_oom, berr *e)
{
        struct ctrd_task_info ti;
        int r = ctrd_task_get(rc->c, inst->id, NULL, &ti, e);
        if (r < 0)
                return r;
        if (ti.status != CTRD_TASK_STOPPED)
                return 0;
        /* Read the cgroup before Tasks.Delete removes it. */
        bool oom = oom_killed(inst);
        uint32_t status = ti.exit_status;
        r = ctrd_task_delete(rc->c, inst->id, &status, e);
        if (r < 0)
                return r;
        *ret_exit = (int)status;
        *ret_oom = oom;
        return 1;
}

/* The probe's last line of output (what a failing check says), printable, at most
 * max - 1 bytes; "" when there is none. */
static void probe_output(const char *path, char *buf, size_t max)
{
        buf[0] = 0;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        char tail[1024];
        off_t off = st.st_size > (off_t)sizeof tail - 1 ? st.st_size - (off_t)sizeof tail + 1 : 0;
        ssize_t n = pread(fd, tail, sizeof tail - 1, off);
        if (n <= 0)
                return;
        tail[n] = 0;
        while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
                tail[--n] = 0;
        const char *line = strrchr(tail, '\n');
        line = line ? line + 1 : tail;
        size_t o = 0;
        for (const char *s = line; *s && o + 1 < max; s++)
                buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
        buf[o] = 0;
}

static int exec_probe(const struct runner_ctx *rc, struct wl_instance *inst)
{
        static unsigned seq;
        const struct wl_probe *p = &inst->spec->probe;
        _cleanup_free_ char *vol_dir = NULL, *proc = NULL;
        struct ocispec_input in;
        berr e = {0};
        char exec_id[64], out[PATH_MAX], uri[PATH_MAX + 8];
        snprintf(exec_id, sizeof exec_id, "probe-%d-%u", (int)getpid(), ++seq);
        /* The shim appends the probe's stdout and stderr here; its last line becomes
         * part of the evidence ("exit status 1: no heartbeat yet"). */
        snprintf(out, sizeof out, "%s/%s.probe", rc->log_dir, inst->id);
        snprintf(uri, sizeof uri, "file://%s", out);
        (void)unlink(out);
        int r = ocispec_in(rc, inst, &vol_dir, &in);
        if (r >= 0)
                r = ocispec_exec_process(&in, p->command, p->n_command, &proc, &e);
        if (r >= 0)
                r = ctrd_task_exec(rc->c, inst->id, exec_id, proc, out[0] == '/' ? uri : NULL, &e);
        uint32_t status = 0;
        if (r >= 0)
                r = ctrd_task_wait(rc->c, inst->id, exec_id, p->timeout_ms, &status, &e);
        if (r == -ETIMEDOUT) {
                berr tmp = {0};
                (void)ctrd_task_kill(rc->c, inst->id, exec_id, SIGKILL, false, &tmp);
                (void)ctrd_task_wait(rc->c, inst->id, exec_id, 2000, NULL, &tmp);
        }
        berr tmp = {0};
        (void)ctrd_task_delete_process(rc->c, inst->id, exec_id, &tmp);
        char said[200];
        probe_output(out, said, sizeof said);
        (void)unlink(out);
        if (r == -ETIMEDOUT) {
                snprintf(inst->last_probe, sizeof inst->last_probe, "exec %s: timed out after %llu ms", p->command[0],
                         (unsigned long long)p->timeout_ms);
                return 0;
        }
        if (r < 0) {
                snprintf(inst->last_probe, sizeof inst->last_probe, "exec %s: %s", p->command[0], berr_msg(&e, r));
                return 0;
        }
        snprintf(inst->last_probe, sizeof inst->last_probe, "exec %s: exit status %u%s%s", p->command[0], status,
                 said[0] ? ": " : "", said);
        return status == 0;
}

int runner_probe(const struct runner_ctx *rc, struct wl_instance *inst)
{
        const struct wl_probe *p = &inst->spec->probe;
        switch (p->kind) {
        case WL_PROBE_NONE:
                snprintf(inst->last_probe, sizeof inst->last_probe, "no probe; task running");
                return 1;
        case WL_PROBE_EXEC:
                return exec_probe(rc, inst);
        case WL_PROBE_HTTP:
        case WL_PROBE_TCP: {
                pid_t ns = inst->spec->network == WL_NET_HOST ? 0 : (pid_t)inst->pid;
                int r = probe_net(ns, p->port, p->kind == WL_PROBE_HTTP ? p->path : NULL, p->status, p->timeout_ms,
                                  inst->last_probe, sizeof inst->last_probe);
                if (r < 0) {
                        snprintf(inst->last_probe, sizeof inst->last_probe, "%s probe could not run: %s",
                                 wl_probe_name(p->kind), strerror(-r));
                        return 0;
                }
                return r;
        }
        }
        return 0;
}

static int copy_file(const char *from, const char *to)
{
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        _cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (out < 0)
                return -errno;
        char buf[65536];
        for (;;) {
                ssize_t k = read(in, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
                int r = write_all(out, buf, (size_t)k);
                if (r < 0)
                        return r;
        }
}

void runner_rotate_logs(const struct runner_ctx *rc, const struct wl_instance *inst)
{
        char path[4200], a[4300], b[4300];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.log", rc->log_dir, inst->id);
        if (stat(path, &st) < 0 || (uint64_t)st.st_size <= rc->log_max_bytes)
                return;
        for (unsigned i = rc->log_keep; i > 1; i--) {
                snprintf(a, sizeof a, "%s.%u", path, i - 1);
                snprintf(b, sizeof b, "%s.%u", path, i);
                (void)rename(a, b);
        }
        if (rc->log_keep > 0) {
                snprintf(a, sizeof a, "%s.1", path);
                (void)copy_file(path, a);
        }
        /* The shim opened the file with O_APPEND: after truncation it writes at 0. */
        (void)truncate(path, 0);
}
