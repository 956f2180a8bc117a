/* SPDX-License-Identifier: Apache-2.0 */
/* spec_field.c — the fields of one workload: a table of name → parser, in the order
 * they are checked. The table is also the list of allowed keys, so a field cannot be
 * accepted without being parsed (or parsed without being allowed). Each parser sets its
 * default when the field is absent and names the field in its error.
 */
#include "workload/spec_int.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* What a field parser sees: the workload object, its JSON path, the images it may
 * name and the spec being filled. */
struct field_ctx {
        json_t *o;
        const char *where;
        const struct spec_images *im;
        struct workload_spec *w;
};

/* v: the field's value, NULL when absent. */
typedef int (*field_fn)(const struct field_ctx *c, json_t *v, berr *e);

/* ---- identity and process ------------------------------------------------------------ */

static int f_name(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return FAIL(e, "%s.name: required", c->where);
        if (!json_is_string(v) || !spec_name_valid(json_string_value(v)))
                return FAIL(e, "%s.name: must be lowercase letters, digits and '-', starting with a letter or digit "
                            "(at most %d)", c->where, WL_MAX_NAME_LEN);
        c->w->name = strdup(json_string_value(v));
        return c->w->name ? 0 : -ENOMEM;
}

static int f_image(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return FAIL(e, "%s.image: required", c->where);
        if (!json_is_string(v))
                return FAIL(e, "%s.image: must be a string naming one of the bundle's images", c->where);
        bool found = false;
        for (size_t i = 0; i < c->im->n_images; i++)
                found |= !strcmp(c->im->images[i].ref, json_string_value(v));
        for (size_t i = 0; i < c->im->n_refs; i++)
                found |= !strcmp(c->im->refs[i], json_string_value(v));
        if (!found)
                return FAIL(e, "%s.image: '%.200s' is not one of the bundle's images", c->where,
                            json_string_value(v));
        c->w->image = strdup(json_string_value(v));
        return c->w->image ? 0 : -ENOMEM;
}

static int f_command(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return 0;
        c->w->command_set = true;
        return spec_get_strv(c->o, "command", c->where, 1, &c->w->command, &c->w->n_command, e);
}

static int f_args(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return 0;
        c->w->args_set = true;
        return spec_get_strv(c->o, "args", c->where, 0, &c->w->args, &c->w->n_args, e);
}

static int f_env(const struct field_ctx *c, json_t *v, berr *e)
{
        struct workload_spec *w = c->w;
        if (!v)
                return 0;
        if (!json_is_object(v) || json_object_size(v) > WL_MAX_LIST)
                return FAIL(e, "%s.env: must be an object of at most %d \"NAME\": \"value\" pairs", c->where,
                            WL_MAX_LIST);
        w->env = calloc(json_object_size(v) + 1, sizeof *w->env);
        if (!w->env)
                return -ENOMEM;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
                bool ok = k[0] && !isdigit((unsigned char)k[0]);
                for (const char *ch = k; *ch; ch++)
                        if (!(isalnum((unsigned char)*ch) || *ch == '_'))
                                ok = false;
                if (!ok || strlen(k) > 256)
                        return FAIL(e, "%s.env.%.64s: variable names are letters, digits and '_'", c->where, k);
                if (!json_is_string(x) || !spec_text_valid(json_string_value(x)))
                        return FAIL(e, "%s.env.%s: must be a string without control characters", c->where, k);
                if (asprintf(&w->env[w->n_env], "%s=%s", k, json_string_value(x)) < 0)
                        return -ENOMEM;
                w->n_env++;
        }
        return 0;
}

static int f_working_dir(const struct field_ctx *c, json_t *v, berr *e)
{
        return v ? spec_get_path(c->o, "workingDir", c->where, &c->w->working_dir, e) : 0;
}

static int f_user(const struct field_ctx *c, json_t *v, berr *e)
{
        struct workload_spec *w = c->w;
        if (!v) {
                w->user_set = false;
                return 0;
        }
        unsigned long u, g;
        char *end;
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (s && isdigit((unsigned char)s[0])) {
                errno = 0;
                u = strtoul(s, &end, 10);
                g = u;
                if (!errno && *end == ':' && isdigit((unsigned char)end[1]))
                        g = strtoul(end + 1, &end, 10);
                if (!errno && !*end && u < 0x7fffffff && g < 0x7fffffff) {
                        w->user_set = true;
                        w->uid = (uint32_t)u;
                        w->gid = (uint32_t)g;
                        return 0;
                }
        }
        return FAIL(e, "%s.user: must be \"UID\" or \"UID:GID\" (numeric; the default is %u, nobody)", c->where,
                    WL_DEFAULT_UID);
}

static int f_read_only_rootfs(const struct field_ctx *c, json_t *v, berr *e)
{
        (void)v;
        return spec_get_bool(c->o, "readOnlyRootfs", c->where, true, &c->w->read_only_rootfs, e);
}

static int f_no_new_privileges(const struct field_ctx *c, json_t *v, berr *e)
{
        (void)v;
        return spec_get_bool(c->o, "noNewPrivileges", c->where, true, &c->w->no_new_privileges, e);
}

/* ---- mounts and devices: arrays of objects ------------------------------------------ */

typedef int (*item_fn)(const struct field_ctx *c, json_t *x, const char *at, berr *e);

/* Checks that a is an array (of at most WL_MAX_LIST, described by shape in the error). */
static int check_array(const struct field_ctx *c, json_t *a, const char *name, const char *shape, berr *e)
{
        if (!json_is_array(a) || json_array_size(a) > WL_MAX_LIST)
                return FAIL(e, "%s.%s: must be an array of %s", c->where, name, shape);
        return 0;
}

/* Calls item for every element of a, which must each be an object, with its path. */
static int each_object(const struct field_ctx *c, json_t *a, const char *name, item_fn item, berr *e)
{
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x) {
                char at[512];
                snprintf(at, sizeof at, "%s.%s[%zu]", c->where, name, i);
                if (!json_is_object(x))
                        return FAIL(e, "%s: must be an object", at);
                int r = item(c, x, at, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int tmpfs_item(const struct field_ctx *c, json_t *x, const char *at, berr *e)
{
        static const char *const keys[] = {"path", "size", NULL};
        struct wl_tmpfs *t = &c->w->tmpfs[c->w->n_tmpfs++];
        int r;
        if ((r = spec_check_keys(x, keys, at, e)) < 0 || (r = spec_get_path(x, "path", at, &t->path, e)) < 0)
                return r;
        json_t *sz = json_object_get(x, "size");
        if (sz && (spec_parse_size(sz, &t->size) < 0 || t->size < 4096))
                return FAIL(e, "%s.size: must be a size like \"16M\" (at least 4K)", at);
        return 0;
}

static int f_tmpfs(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return 0;
        int r = check_array(c, v, "tmpfs", "{\"path\", \"size\"}", e);
        if (r < 0)
                return r;
        c->w->tmpfs = calloc(json_array_size(v) + 1, sizeof *c->w->tmpfs);
        return c->w->tmpfs ? each_object(c, v, "tmpfs", tmpfs_item, e) : -ENOMEM;
}

static int volume_item(const struct field_ctx *c, json_t *x, const char *at, berr *e)
{
        static const char *const keys[] = {"name", "path", "readOnly", NULL};
        struct workload_spec *w = c->w;
        struct wl_volume *v = &w->volumes[w->n_volumes++];
        int r;
        if ((r = spec_check_keys(x, keys, at, e)) < 0 || (r = spec_get_path(x, "path", at, &v->path, e)) < 0 ||
            (r = spec_get_bool(x, "readOnly", at, false, &v->read_only, e)) < 0)
                return r;
        json_t *n = json_object_get(x, "name");
        if (!n)
                return FAIL(e, "%s.name: required", at);
        if (!json_is_string(n) || !spec_name_valid(json_string_value(n)))
                return FAIL(e, "%s.name: must be lowercase letters, digits and '-' (at most %d)", at, WL_MAX_NAME_LEN);
        v->name = strdup(json_string_value(n));
        if (!v->name)
                return -ENOMEM;
        for (size_t j = 0; j + 1 < w->n_volumes; j++)
                if (!strcmp(w->volumes[j].name, v->name))
                        return FAIL(e, "%s.name: volume '%s' is listed twice", at, v->name);
        return 0;
}

static int f_volumes(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return 0;
        int r = check_array(c, v, "volumes", "{\"name\", \"path\"}", e);
        if (r < 0)
                return r;
        c->w->volumes = calloc(json_array_size(v) + 1, sizeof *c->w->volumes);
        return c->w->volumes ? each_object(c, v, "volumes", volume_item, e) : -ENOMEM;
}

static int bind_item(const struct field_ctx *c, json_t *x, const char *at, berr *e)
{
        static const char *const keys[] = {"source", "path", "readOnly", NULL};
        struct wl_bind *b = &c->w->binds[c->w->n_binds++];
        int r;
        if ((r = spec_check_keys(x, keys, at, e)) < 0 || (r = spec_get_path(x, "source", at, &b->source, e)) < 0 ||
            (r = spec_get_path(x, "path", at, &b->path, e)) < 0 ||
            (r = spec_get_bool(x, "readOnly", at, true, &b->read_only, e)) < 0)
                return r;
        return 0;
}

static int f_binds(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return 0;
        int r = check_array(c, v, "binds", "{\"source\", \"path\", \"readOnly\"}", e);
        if (r < 0)
                return r;
        c->w->binds = calloc(json_array_size(v) + 1, sizeof *c->w->binds);
        return c->w->binds ? each_object(c, v, "binds", bind_item, e) : -ENOMEM;
}

static int device_item(const struct field_ctx *c, json_t *x, const char *at, berr *e)
{
        static const char *const keys[] = {"path", "permissions", NULL};
        struct wl_device *d = &c->w->devices[c->w->n_devices++];
        int r;
        if ((r = spec_check_keys(x, keys, at, e)) < 0 || (r = spec_get_path(x, "path", at, &d->path, e)) < 0)
                return r;
        if (strncmp(d->path, "/dev/", 5) != 0)
                return FAIL(e, "%s.path: must be under /dev/", at);
        json_t *p = json_object_get(x, "permissions");
        const char *ps = p ? json_string_value(p) : "rw";
        bool ok = ps && ps[0] && strlen(ps) <= 3;
        for (const char *ch = ps; ok && *ch; ch++)
                ok = strchr("rwm", *ch) && !strchr(ch + 1, *ch);
        if (!ok)
                return FAIL(e, "%s.permissions: must be a combination of r, w and m", at);
        snprintf(d->perms, sizeof d->perms, "%s", ps);
        return 0;
}

static int f_devices(const struct field_ctx *c, json_t *v, berr *e)
{
        if (!v)
                return 0;
        int r = check_array(c, v, "devices", "{\"path\"}", e);
        if (r < 0)
                return r;
        c->w->devices = calloc(json_array_size(v) + 1, sizeof *c->w->devices);
        return c->w->devices ? each_object(c, v, "devices", device_item, e) : -ENOMEM;
}

/* ---- privileges, network, limits --------------------------------------------------- */

bool wl_capability_name(const char *s, char ret[WL_CAP_NAME_MAX])
{
        /* The capabilities a workload may add by name (CAP_ prefix optional). */
        static const char *const known[] = {
                "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
                "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
                "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
                "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
                "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE", NULL,
        };
        if (!strncasecmp(s, "CAP_", 4))
                s += 4;
        for (size_t k = 0; known[k]; k++)
                if (!strcasecmp(s, known[k])) {
                        snprintf(ret, WL_CAP_NAME_MAX, "CAP_%s", known[k]);
                        return true;
                }
        return false;
}

static int f_capabilities(const struct field_ctx *c, json_t *v, berr *e)
{
        static const char *const keys[] = {"add", NULL};
        struct workload_spec *w = c->w;
        char at[512];
        if (!v)
                return 0;
        snprintf(at, sizeof at, "%s.capabilities", c->where);
        if (!json_is_object(v))
                return FAIL(e, "%s: must be an object {\"add\": [NAME...]} (all capabilities are dropped by default)",
                            at);
        int r = spec_check_keys(v, keys, at, e);
        if (r < 0 || !json_object_get(v, "add"))
                return r;
        char **names;
        size_t n;
        r = spec_get_strv(v, "add", at, 0, &names, &n, e);
        if (r < 0)
                return r;
        w->cap_add = calloc(n + 1, sizeof *w->cap_add);
        if (!w->cap_add) {
                spec_strv_free(names, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                char buf[WL_CAP_NAME_MAX];
                if (!wl_capability_name(names[i], buf)) {
                        r = FAIL(e, "%s.add[%zu]: unknown capability '%.64s'", at, i, names[i]);
                        spec_strv_free(names, n);
                        return r;
                }
                w->cap_add[w->n_cap_add] = strdup(buf);
                if (!w->cap_add[w->n_cap_add++]) {
                        spec_strv_free(names, n);
                        return -ENOMEM;
                }
        }
        spec_strv_free(names, n);
        return 0;
}

static int f_network(const struct field_ctx *c, json_t *v, berr *e)
{
        const char *net = v ? json_string_value(v) : "none";
        if (net && !strcmp(net, "host"))
                c->w->network = WL_NET_HOST;
        else if (net && !strcmp(net, "none"))
                c->w->network = WL_NET_NONE;
        else
                return FAIL(e, "%s.network: must be \"host\" or \"none\"", c->where);
        return 0;
}

static int f_resources(const struct field_ctx *c, json_t *v, berr *e)
{
        static const char *const keys[] = {"memory", "cpu", NULL};
        struct workload_spec *w = c->w;
        char at[512];
        snprintf(at, sizeof at, "%s.resources", c->where);
        if (!v)
                return FAIL(e, "%s: required (memory and cpu limits)", at);
        if (!json_is_object(v))
                return FAIL(e, "%s: must be an object {\"memory\", \"cpu\"}", at);
        int r = spec_check_keys(v, keys, at, e);
        if (r < 0)
                return r;
        json_t *mem = json_object_get(v, "memory"), *cpu = json_object_get(v, "cpu");
        if (!mem)
                return FAIL(e, "%s.memory: required", at);
        if (spec_parse_size(mem, &w->memory_bytes) < 0 || w->memory_bytes < (4u << 20))
                return FAIL(e, "%s.memory: must be a size like \"64M\" (at least 4M)", at);
        if (!cpu)
                return FAIL(e, "%s.cpu: required", at);
        if (spec_parse_cpu(cpu, &w->cpu_millis) < 0)
                return FAIL(e, "%s.cpu: must be a number of CPUs (0.5) or millicores (\"500m\"), at least 10m", at);
        return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int f_restart(const struct field_ctx *c, json_t *v, berr *e)
{
        static const char *const keys[] = {"policy", "backoff", "maxBackoff", NULL};
        struct workload_spec *w = c->w;
        char at[512];
        snprintf(at, sizeof at, "%s.restart", c->where);
        w->restart = WL_RESTART_ALWAYS;
        w->backoff_ms = 1000;
        w->max_backoff_ms = 60000;
        if (!v)
                return 0;
        if (!json_is_object(v))
                return FAIL(e, "%s: must be an object {\"policy\", \"backoff\", \"maxBackoff\"}", at);
        int r = spec_check_keys(v, keys, at, e);
        if (r < 0)
                return r;
        json_t *p = json_object_get(v, "policy");
        const char *ps = p ? json_string_value(p) : "always";
        if (ps && !strcmp(ps, "always"))
                w->restart = WL_RESTART_ALWAYS;
        else if (ps && !strcmp(ps, "on-failure"))
                w->restart = WL_RESTART_ON_FAILURE;
        else if (ps && !strcmp(ps, "never"))
                w->restart = WL_RESTART_NEVER;
        else
                return FAIL(e, "%s.policy: must be \"always\", \"on-failure\" or \"never\"", at);
        if ((r = spec_get_duration(v, "backoff", at, 1000, 3600000, &w->backoff_ms, e)) < 0 ||
            (r = spec_get_duration(v, "maxBackoff", at, 60000, 86400000, &w->max_backoff_ms, e)) < 0)
                return r;
        if (w->backoff_ms < 100)
                return FAIL(e, "%s.backoff: must be at least 100ms", at);
        if (w->max_backoff_ms < w->backoff_ms)
                return FAIL(e, "%s.maxBackoff: must not be shorter than backoff", at);
        return 0;
}

static int parse_signal(const char *s, int *ret)
{
        static const struct {
                const char *n;
                int s;
        } sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
                    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}};
        if (!strncmp(s, "SIG", 3))
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                if (!strcmp(s, sigs[i].n)) {
                        *ret = sigs[i].s;
                        return 0;
                }
        return -EINVAL;
}

static int f_stop(const struct field_ctx *c, json_t *v, berr *e)
{
        static const char *const keys[] = {"signal", "grace", NULL};
        struct workload_spec *w = c->w;
        char at[512];
        snprintf(at, sizeof at, "%s.stop", c->where);
        w->stop_signal = SIGTERM;
        w->stop_grace_ms = 10000;
        if (!v)
                return 0;
        if (!json_is_object(v))
                return FAIL(e, "%s: must be an object {\"signal\", \"grace\"}", at);
        int r = spec_check_keys(v, keys, at, e);
        if (r < 0)
                return r;
        json_t *s = json_object_get(v, "signal");
        if (s && (!json_is_string(s) || parse_signal(json_string_value(s), &w->stop_signal) < 0))
                return FAIL(e, "%s.signal: must be a signal name like \"SIGTERM\" or \"SIGINT\"", at);
        return spec_get_duration(v, "grace", at, 10000, 600000, &w->stop_grace_ms, e);
}

static int f_depends_on(const struct field_ctx *c, json_t *v, berr *e)
{
        return v ? spec_get_strv(c->o, "dependsOn", c->where, 0, &c->w->depends_on, &c->w->n_depends_on, e) : 0;
}

static int f_probe(const struct field_ctx *c, json_t *p, berr *e)
{
        static const char *const keys[] = {"http", "tcp", "exec", "initialDelay", "period", "timeout",
                                           "failureThreshold", "successThreshold", NULL};
        static const char *const k_http[] = {"port", "path", "status", NULL};
        static const char *const k_tcp[] = {"port", NULL};
        static const char *const k_exec[] = {"command", NULL};
        struct wl_probe *pr = &c->w->probe;
        char at[512], at2[600];
        int r;

        pr->failure_threshold = 3;
        pr->success_threshold = 1;
        if (!p)
                return 0;
        snprintf(at, sizeof at, "%s.probe", c->where);
        if (!json_is_object(p))
                return FAIL(e, "%s: must be an object with one of \"http\", \"tcp\" or \"exec\"", at);
        if ((r = spec_check_keys(p, keys, at, e)) < 0)
                return r;
        json_t *h = json_object_get(p, "http"), *t = json_object_get(p, "tcp"), *x = json_object_get(p, "exec");
        if (!!h + !!t + !!x != 1)
                return FAIL(e, "%s: must have exactly one of \"http\", \"tcp\" or \"exec\"", at);
        json_t *k = h ? h : t ? t : x;
        snprintf(at2, sizeof at2, "%s.%s", at, h ? "http" : t ? "tcp" : "exec");
        if (!json_is_object(k))
                return FAIL(e, "%s: must be an object", at2);
        if ((r = spec_check_keys(k, h ? k_http : t ? k_tcp : k_exec, at2, e)) < 0)
                return r;
        if (h || t) {
                json_t *port = json_object_get(k, "port");
                if (!port)
                        return FAIL(e, "%s.port: required", at2);
                if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
                        return FAIL(e, "%s.port: must be an integer between 1 and 65535", at2);
                pr->port = (uint16_t)json_integer_value(port);
        }
        if (h) {
                pr->kind = WL_PROBE_HTTP;
                json_t *path = json_object_get(k, "path");
                const char *ps = path ? json_string_value(path) : "/";
                if (!ps || ps[0] != '/' || strlen(ps) > 1024 || strpbrk(ps, " \r\n\t"))
                        return FAIL(e, "%s.path: must be a URL path starting with '/' (no spaces)", at2);
                pr->path = strdup(ps);
                if (!pr->path)
                        return -ENOMEM;
                unsigned st;
                if ((r = spec_get_uint(k, "status", at2, 200, 100, 599, &st, e)) < 0)
                        return r;
                pr->status = (int)st;
        } else if (t)
                pr->kind = WL_PROBE_TCP;
        else {
                pr->kind = WL_PROBE_EXEC;
                if (!json_object_get(k, "command"))
                        return FAIL(e, "%s.command: required", at2);
                if ((r = spec_get_strv(k, "command", at2, 1, &pr->command, &pr->n_command, e)) < 0)
                        return r;
        }
        if ((r = spec_get_duration(p, "initialDelay", at, 0, 3600000, &pr->initial_delay_ms, e)) < 0 ||
            (r = spec_get_duration(p, "period", at, 10000, 3600000, &pr->period_ms, e)) < 0 ||
            (r = spec_get_duration(p, "timeout", at, 1000, 600000, &pr->timeout_ms, e)) < 0 ||
            (r = spec_get_uint(p, "failureThreshold", at, 3, 1, 1000, &pr->failure_threshold, e)) < 0 ||
            (r = spec_get_uint(p, "successThreshold", at, 1, 1, 1000, &pr->success_threshold, e)) < 0)
                return r;
        if (pr->period_ms < 100)
                return FAIL(e, "%s.period: must be at least 100ms", at);
        if (pr->timeout_ms < 10)
                return FAIL(e, "%s.timeout: must be at least 10ms", at);
        return 0;
}


/* ---- the table -------------------------------------------------------------------------- */

/* Every field of a workload, in the order they are checked (so the first error reported
 * for a spec with several is always the same). */
static const struct field {
        const char *name;
        field_fn parse;
} fields[] = {
        {"name", f_name},
        {"image", f_image},
        {"command", f_command},
        {"args", f_args},
        {"env", f_env},
        {"workingDir", f_working_dir},
        {"user", f_user},
        {"readOnlyRootfs", f_read_only_rootfs},
        {"noNewPrivileges", f_no_new_privileges},
        {"tmpfs", f_tmpfs},
        {"volumes", f_volumes},
        {"binds", f_binds},
        {"devices", f_devices},
        {"capabilities", f_capabilities},
        {"network", f_network},
        {"resources", f_resources},
        {"restart", f_restart},
        {"stop", f_stop},
        {"dependsOn", f_depends_on},
        {"probe", f_probe},
};

int spec_parse_one(json_t *o, const char *where, const struct spec_images *im, struct workload_spec *w, berr *e)
{
        if (!json_is_object(o))
                return FAIL(e, "%s: must be an object", where);
        /* Unknown keys first: a misspelt "readOnlyRootfs" must not silently run a
         * writable container. */
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(fields) && !known; i++)
                        known = !strcmp(k, fields[i].name);
                if (!known)
                        return FAIL(e, "%s.%.64s: unknown field", where, k);
        }
        const struct field_ctx c = {.o = o, .where = where, .im = im, .w = w};
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                int r = fields[i].parse(&c, json_object_get(o, fields[i].name), e);
                if (r < 0)
                        return r;
        }
        return 0;
}
