/* SPDX-License-Identifier: Apache-2.0 */
/* ocispec.c — OCI runtime spec from image config + workload spec (see ocispec.h).
 *
 * Defaults follow containerd's oci.WithDefaultSpec for Linux (mounts, masked and
 * read-only paths, rlimits), then the workload's hardening is applied on top: all
 * capabilities dropped except those added by name, no-new-privileges, read-only
 * rootfs, a device cgroup that denies everything not listed.
 */
#include "workload/ocispec.h"

#include "base/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static json_t *strv_json(char *const *v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *image_cfg(const struct ocispec_input *in, const char *key)
{
        json_t *c = json_object_get(in->image_config, "config");
        return c ? json_object_get(c, key) : NULL;
}

void ocispec_user(const struct ocispec_input *in, uint32_t *ret_uid, uint32_t *ret_gid)
{
        const struct workload_spec *w = in->w;
        if (w->user_set) {
                *ret_uid = w->uid;
                *ret_gid = w->gid;
                return;
        }
        *ret_uid = *ret_gid = WL_DEFAULT_UID;
        const char *u = json_string_value(image_cfg(in, "User"));
        unsigned long uid, gid;
        char *end;
        if (!u || !*u)
                return;
        errno = 0;
        uid = strtoul(u, &end, 10);
        gid = uid;
        if (!errno && *end == ':')
                gid = strtoul(end + 1, &end, 10);
        /* Only a numeric, non-root image user is taken; names would need the image's
         * /etc/passwd, and root is never a default. */
        if (errno || *end || end == u || uid == 0 || uid > 0x7fffffff || gid > 0x7fffffff)
                return;
        *ret_uid = (uint32_t)uid;
        *ret_gid = (uint32_t)gid;
}

static json_t *process_env(const struct ocispec_input *in)
{
        json_t *env = json_array();
        json_t *img = image_cfg(in, "Env");
        size_t i;
        json_t *v;
        bool has_path = false;
        json_array_foreach(img, i, v) {
                const char *s = json_string_value(v);
                if (!s)
                        continue;
                const char *eq = strchr(s, '=');
                size_t kl = eq ? (size_t)(eq - s) : strlen(s);
                bool overridden = false;
                for (size_t k = 0; k < in->w->n_env; k++)
                        if (!strncmp(in->w->env[k], s, kl) && in->w->env[k][kl] == '=')
                                overridden = true;
                if (!strncmp(s, "PATH=", 5))
                        has_path = true;
                if (!overridden)
                        json_array_append_new(env, json_string(s));
        }
        for (size_t k = 0; k < in->w->n_env; k++) {
                if (!strncmp(in->w->env[k], "PATH=", 5))
                        has_path = true;
                json_array_append_new(env, json_string(in->w->env[k]));
        }
        if (!has_path)
                json_array_append_new(env,
                                      json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        return env;
}

static json_t *process_new(const struct ocispec_input *in, json_t *args)
{
        const struct workload_spec *w = in->w;
        uint32_t uid, gid;
        ocispec_user(in, &uid, &gid);
        const char *cwd = w->working_dir ? w->working_dir : json_string_value(image_cfg(in, "WorkingDir"));
        if (!cwd || cwd[0] != '/')
                cwd = "/";
        json_t *caps = strv_json(w->cap_add, w->n_cap_add);
        /* A non-root process keeps added capabilities across exec only as ambient ones
         * (which must also be inheritable). */
        json_t *capo = json_pack("{s:O,s:O,s:O,s:o,s:o}", "bounding", caps, "effective", caps, "permitted", caps,
                                 "inheritable", uid ? json_copy(caps) : json_array(), "ambient",
                                 uid ? json_copy(caps) : json_array());
        json_decref(caps);
        return json_pack("{s:b,s:{s:i,s:i,s:[i]},s:o,s:o,s:s,s:o,s:[{s:s,s:i,s:i}],s:b}", "terminal", 0, "user",
                         "uid", (int)uid, "gid", (int)gid, "additionalGids", (int)gid, "args", args, "env",
                         process_env(in), "cwd", cwd, "capabilities", capo, "rlimits", "type", "RLIMIT_NOFILE",
                         "hard", 1024, "soft", 1024, "noNewPrivileges", w->no_new_privileges);
}

static json_t *process_args(const struct ocispec_input *in, berr *e)
{
        const struct workload_spec *w = in->w;
        json_t *args = json_array();
        size_t i;
        json_t *v;
        if (w->command_set) {
                for (i = 0; i < w->n_command; i++)
                        json_array_append_new(args, json_string(w->command[i]));
        } else {
                json_array_foreach(image_cfg(in, "Entrypoint"), i, v)
                        if (json_is_string(v))
                                json_array_append(args, v);
        }
        if (w->args_set) {
                for (i = 0; i < w->n_args; i++)
                        json_array_append_new(args, json_string(w->args[i]));
        } else if (!w->command_set) {
                /* As Docker: a replaced entrypoint drops the image's Cmd. */
                json_array_foreach(image_cfg(in, "Cmd"), i, v)
                        if (json_is_string(v))
                                json_array_append(args, v);
        }
        if (json_array_size(args) == 0) {
                json_decref(args);
                berr_set(e, -EINVAL, "workload %s: nothing to run (the image has no Entrypoint or Cmd and the spec "
                         "sets no command or args)", w->name);
                return NULL;
        }
        return args;
}

static void add_mount(json_t *mounts, const char *dest, const char *type, const char *source, const char *opts)
{
        json_t *o = json_array();
        _cleanup_free_ char *copy = strdup(opts);
        char *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(o, json_string(t));
        json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:o}", "destination", dest, "type", type, "source",
                                                source, "options", o));
}

/* Mount options of binds. runc applies "ro", "nosuid" and "nodev" to the top mount only;
 * the r-prefixed ones (mount_setattr with AT_RECURSIVE) reach every mount below it, so a
 * host path with submounts (/, /dev, /proc, a tmpfs under a data dir) stays read-only all
 * the way down. runner.c checks the result in the created container (mountcheck.h), as a
 * runtime without them would leave the submounts writable without a word. */
#define BIND_RO "rbind,ro,rro,nosuid,nodev,rnosuid,rnodev"
#define BIND_RW "rbind,rw,nosuid,nodev,rnosuid,rnodev"

/* The node policy is held against a bind's source as written in the spec; runc follows
 * symbolic links. So a source must be its own real path (a workload with a writable
 * bind could otherwise plant a link there that a later spec binds, e.g. to "/").
 * Repeated and trailing slashes are allowed. */
static int bind_source_real(const struct workload_spec *w, const char *src, berr *e)
{
        _cleanup_free_ char *real = realpath(src, NULL);
        if (!real)
                return berr_set(e, -errno, "workload %s: bind source %s: %s (it must exist on this gateway)", w->name,
                                src, strerror(errno));
        char norm[PATH_MAX];
        size_t n = 0;
        for (const char *c = src; *c && n + 1 < sizeof norm; c++)
                if (!(c[0] == '/' && (c[1] == '/' || (c[1] == 0 && n > 0))))
                        norm[n++] = *c;
        norm[n] = 0;
        if (n == 0)
                snprintf(norm, sizeof norm, "/");
        if (strcmp(norm, real) != 0)
                return berr_set(e, -ELOOP, "workload %s: bind source %s leads through a symbolic link to %s; the "
                                "gateway's policy is checked against the path as written, so the spec must name "
                                "the real path", w->name, src, real);
        return 0;
}

static bool memsw_available(void)
{
        return access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
}

int ocispec_build(const struct ocispec_input *in, char **ret, berr *e)
{
        const struct workload_spec *w = in->w;
        static const char *const masked[] = {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                             "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                             "/proc/sched_debug", "/sys/firmware", "/proc/scsi"};
        static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

        json_t *args = process_args(in, e);
        if (!args)
                return -EINVAL;
        json_auto_t *process = process_new(in, args);
        json_auto_t *mounts = json_array();
        json_auto_t *devices = json_array();
        json_auto_t *dev_rules = json_array();
        json_auto_t *ns = json_array();
        json_auto_t *masked_a = json_array(), *ro_a = json_array();
        if (!process || !mounts || !devices || !dev_rules || !ns || !masked_a || !ro_a)
                return berr_set(e, -ENOMEM, "out of memory");

        add_mount(mounts, "/proc", "proc", "proc", "nosuid,noexec,nodev");
        add_mount(mounts, "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k");
        add_mount(mounts, "/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5");
        add_mount(mounts, "/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k");
        add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev");
        add_mount(mounts, "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro");
        add_mount(mounts, "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro");
        add_mount(mounts, "/run", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k");
        if (w->network == WL_NET_HOST) {
                /* Host network: name resolution as on the host (read-only). */
                if (access("/etc/resolv.conf", R_OK) == 0)
                        add_mount(mounts, "/etc/resolv.conf", "bind", "/etc/resolv.conf", BIND_RO);
                if (access("/etc/hosts", R_OK) == 0)
                        add_mount(mounts, "/etc/hosts", "bind", "/etc/hosts", BIND_RO);
        }
        for (size_t i = 0; i < w->n_tmpfs; i++) {
                char opts[128];
                if (w->tmpfs[i].size)
                        snprintf(opts, sizeof opts, "nosuid,nodev,mode=1777,size=%llu",
                                 (unsigned long long)w->tmpfs[i].size);
                else
                        snprintf(opts, sizeof opts, "nosuid,nodev,mode=1777");
                add_mount(mounts, w->tmpfs[i].path, "tmpfs", "tmpfs", opts);
        }
        for (size_t i = 0; i < w->n_volumes; i++) {
                _cleanup_free_ char *src = path_join(in->volume_dir, w->volumes[i].name);
                if (!src)
                        return berr_set(e, -ENOMEM, "out of memory");
                add_mount(mounts, w->volumes[i].path, "bind", src, w->volumes[i].read_only ? BIND_RO : BIND_RW);
        }
        for (size_t i = 0; i < w->n_binds; i++) {
                int r = bind_source_real(w, w->binds[i].source, e);
                if (r < 0)
                        return r;
                add_mount(mounts, w->binds[i].path, "bind", w->binds[i].source,
                          w->binds[i].read_only ? BIND_RO : BIND_RW);
        }

        json_array_append_new(dev_rules, json_pack("{s:b,s:s}", "allow", 0, "access", "rwm"));
        for (size_t i = 0; i < w->n_devices; i++) {
                struct stat st;
                if (stat(w->devices[i].path, &st) < 0)
                        return berr_set(e, -errno, "workload %s: device %s: %s (it is listed in devices; plug it in "
                                        "or remove it from the spec)", w->name, w->devices[i].path, strerror(errno));
                if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                        return berr_set(e, -ENODEV, "workload %s: %s is not a device node", w->name,
                                        w->devices[i].path);
                const char *type = S_ISCHR(st.st_mode) ? "c" : "b";
                json_int_t maj = major(st.st_rdev), min = minor(st.st_rdev);
                json_array_append_new(devices, json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:i}", "path", w->devices[i].path,
                                                         "type", type, "major", maj, "minor", min, "fileMode",
                                                         (int)(st.st_mode & 07777), "uid", (int)st.st_uid, "gid",
                                                         (int)st.st_gid));
                json_array_append_new(dev_rules, json_pack("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type", type, "major",
                                                           maj, "minor", min, "access", w->devices[i].perms));
        }

        static const char *const nss[] = {"pid", "ipc", "uts", "mount"};
        for (size_t i = 0; i < ELEMENTSOF(nss); i++)
                json_array_append_new(ns, json_pack("{s:s}", "type", nss[i]));
        if (w->network == WL_NET_NONE)
                json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
        for (size_t i = 0; i < ELEMENTSOF(masked); i++)
                json_array_append_new(masked_a, json_string(masked[i]));
        for (size_t i = 0; i < ELEMENTSOF(ro); i++)
                json_array_append_new(ro_a, json_string(ro[i]));

        json_auto_t *memory = json_pack("{s:I}", "limit", (json_int_t)w->memory_bytes);
        if (memory && memsw_available())
                json_object_set_new(memory, "swap", json_integer((json_int_t)w->memory_bytes));
        /* CFS: quota per 100 ms period; 1000 millicores = one full period. */
        json_int_t period = 100000, quota = (json_int_t)(w->cpu_millis * 100);
        json_auto_t *spec = json_pack(
                "{s:s,s:O,s:{s:s,s:b},s:s,s:O,s:{s:{s:O,s:O,s:{s:I,s:I}},s:s,s:O,s:O,s:O,s:O}}", "ociVersion",
                "1.0.2-dev", "process", process, "root", "path", "rootfs", "readonly", w->read_only_rootfs,
                "hostname", in->hostname, "mounts", mounts, "linux", "resources", "devices", dev_rules, "memory",
                memory, "cpu", "quota", quota, "period", period, "cgroupsPath", in->cgroups_path, "namespaces", ns,
                "devices", devices, "maskedPaths", masked_a, "readonlyPaths", ro_a);
        if (!spec)
                return berr_set(e, -ENOMEM, "workload %s: cannot build the OCI runtime spec", w->name);
        char *s = json_dumps(spec, JSON_COMPACT);
        if (!s)
                return berr_set(e, -ENOMEM, "out of memory");
        *ret = s;
        return 0;
}

int ocispec_exec_process(const struct ocispec_input *in, char *const *argv, size_t argc, char **ret, berr *e)
{
        json_auto_t *p = process_new(in, strv_json(argv, argc));
        if (!p)
                return berr_set(e, -ENOMEM, "out of memory");
        char *s = json_dumps(p, JSON_COMPACT);
        if (!s)
                return berr_set(e, -ENOMEM, "out of memory");
        *ret = s;
        return 0;
}
