/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c — strict parsing and validation of workload specs (see spec.h).
 *
 * Unknown keys are errors: a misspelt "readOnlyRootfs" must not silently run a
 * writable container. Every message starts with the JSON path of the field.
 */
#include "workload/spec.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define FAIL(e, fmt, ...) berr_set(e, -EBADMSG, fmt, ##__VA_ARGS__)

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

static void spec_done(struct workload_spec *w)
{
        free(w->name);
        free(w->image);
        strv_free(w->command, w->n_command);
        strv_free(w->args, w->n_args);
        strv_free(w->env, w->n_env);
        free(w->working_dir);
        for (size_t i = 0; i < w->n_tmpfs; i++)
                free(w->tmpfs[i].path);
        free(w->tmpfs);
        for (size_t i = 0; i < w->n_volumes; i++) {
                free(w->volumes[i].name);
                free(w->volumes[i].path);
        }
        free(w->volumes);
        for (size_t i = 0; i < w->n_binds; i++) {
                free(w->binds[i].source);
                free(w->binds[i].path);
        }
        free(w->binds);
        for (size_t i = 0; i < w->n_devices; i++)
                free(w->devices[i].path);
        free(w->devices);
        strv_free(w->cap_add, w->n_cap_add);
        strv_free(w->depends_on, w->n_depends_on);
        free(w->probe.path);
        strv_free(w->probe.command, w->probe.n_command);
}

void workload_set_free(struct workload_set *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                spec_done(&s->w[i]);
        free(s->w);
        free(s->order);
        free(s);
}

const struct workload_spec *workload_set_find(const struct workload_set *s, const char *name)
{
        for (size_t i = 0; s && i < s->n; i++)
                if (!strcmp(s->w[i].name, name))
                        return &s->w[i];
        return NULL;
}

const char *wl_restart_name(enum wl_restart r)
{
        return r == WL_RESTART_ALWAYS ? "always" : r == WL_RESTART_ON_FAILURE ? "on-failure" : "never";
}

const char *wl_probe_name(enum wl_probe_kind k)
{
        static const char *const n[] = {"none", "http", "tcp", "exec"};
        return n[k];
}

/* ---- scalar helpers ------------------------------------------------------------------ */

int wl_parse_duration(json_t *v, uint64_t *ret_ms)
{
        if (json_is_integer(v)) {
                json_int_t s = json_integer_value(v);
                if (s < 0 || s > 86400 * 365)
                        return -ERANGE;
                *ret_ms = (uint64_t)s * 1000;
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        char *end;
        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno || n > 86400ull * 365 * 1000)
                return -ERANGE;
        uint64_t mul;
        if (!strcmp(end, "ms"))
                mul = 1;
        else if (!strcmp(end, "s"))
                mul = 1000;
        else if (!strcmp(end, "m"))
                mul = 60000;
        else if (!strcmp(end, "h"))
                mul = 3600000;
        else
                return -EINVAL;
        if (n * mul > 86400ull * 365 * 1000)
                return -ERANGE;
        *ret_ms = n * mul;
        return 0;
}

/* "64M", "1Gi", "512k", or an integer number of bytes (binary multiples). */
static int parse_size(json_t *v, uint64_t *ret)
{
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return -ERANGE;
                *ret = (uint64_t)json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        char *end;
        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno)
                return -ERANGE;
        unsigned shift;
        if (!*end)
                shift = 0;
        else if (!strcasecmp(end, "k") || !strcasecmp(end, "ki"))
                shift = 10;
        else if (!strcasecmp(end, "m") || !strcasecmp(end, "mi"))
                shift = 20;
        else if (!strcasecmp(end, "g") || !strcasecmp(end, "gi"))
                shift = 30;
        else
                return -EINVAL;
        if (n > (UINT64_MAX >> 1) >> shift)
                return -ERANGE;
        *ret = (uint64_t)n << shift;
        return 0;
}

/* CPUs as a number (0.5) or millicores ("500m"). */
static int parse_cpu(json_t *v, uint64_t *ret)
{
        double d;
        if (json_is_number(v))
                d = json_number_value(v) * 1000.0;
        else if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end;
                if (!isdigit((unsigned char)s[0]))
                        return -EINVAL;
                errno = 0;
                unsigned long long n = strtoull(s, &end, 10);
                if (errno || strcmp(end, "m") != 0)
                        return -EINVAL;
                d = (double)n;
        } else
                return -EINVAL;
        if (!(d >= 10.0 && d <= 1024.0 * 1000.0))
                return -ERANGE;
        *ret = (uint64_t)(d + 0.5);
        return 0;
}

static bool name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > WL_MAX_NAME_LEN || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
                        return false;
        return true;
}

static bool path_valid(const char *p)
{
        size_t n = strlen(p);
        if (n < 1 || n > WL_MAX_STRING || p[0] != '/')
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == ',' || *c == ':')
                        return false;
        /* no "." or ".." components: mount targets must be what they say */
        for (const char *c = p; (c = strchr(c, '/')); c++) {
                if (!strncmp(c, "/../", 4) || !strcmp(c, "/..") || !strncmp(c, "/./", 3) || !strcmp(c, "/."))
                        return false;
        }
        return true;
}

static bool text_valid(const char *s)
{
        if (strlen(s) > WL_MAX_STRING)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char)*c < 0x20 && *c != '\t')
                        return false;
        return true;
}

/* Every key of o must be in allowed (NULL-terminated). */
static int check_keys(json_t *o, const char *const *allowed, const char *where, berr *e)
{
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                bool ok = false;
                for (size_t i = 0; allowed[i]; i++)
                        if (!strcmp(k, allowed[i]))
                                ok = true;
                if (!ok)
                        return FAIL(e, "%s.%.64s: unknown field", where, k);
        }
        return 0;
}

static int get_strv(json_t *o, const char *key, const char *where, size_t min, char ***ret, size_t *ret_n, berr *e)
{
        json_t *a = json_object_get(o, key);
        if (!json_is_array(a))
                return FAIL(e, "%s.%s: must be an array of strings", where, key);
        size_t n = json_array_size(a);
        if (n < min || n > WL_MAX_LIST)
                return FAIL(e, "%s.%s: must have between %zu and %d entries", where, key, min, WL_MAX_LIST);
        char **v = calloc(n + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(a, i);
                if (!json_is_string(s) || !text_valid(json_string_value(s))) {
                        strv_free(v, i);
                        return FAIL(e, "%s.%s[%zu]: must be a string without control characters (at most %d bytes)",
                                    where, key, i, WL_MAX_STRING);
                }
                v[i] = strdup(json_string_value(s));
                if (!v[i]) {
                        strv_free(v, i);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int get_bool(json_t *o, const char *key, const char *where, bool def, bool *ret, berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return FAIL(e, "%s.%s: must be true or false", where, key);
        *ret = json_is_true(v);
        return 0;
}

static int get_duration(json_t *o, const char *key, const char *where, uint64_t def, uint64_t max, uint64_t *ret,
                        berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (wl_parse_duration(v, ret) < 0 || *ret > max)
                return FAIL(e, "%s.%s: must be a duration like \"500ms\", \"10s\" or \"2m\" (at most %llu s)", where,
                            key, (unsigned long long)(max / 1000));
        return 0;
}

static int get_uint(json_t *o, const char *key, const char *where, unsigned def, unsigned min, unsigned max,
                    unsigned *ret, berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return FAIL(e, "%s.%s: must be an integer between %u and %u", where, key, min, max);
        *ret = (unsigned)json_integer_value(v);
        return 0;
}

static int get_path(json_t *o, const char *key, const char *where, char **ret, berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v)
                return FAIL(e, "%s.%s: required", where, key);
        if (!json_is_string(v) || !path_valid(json_string_value(v)))
                return FAIL(e, "%s.%s: must be an absolute path without '.', '..', ',' or ':' components", where, key);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

/* ---- parts of a spec ---------------------------------------------------------------- */

static int parse_user(json_t *v, const char *where, struct workload_spec *w, berr *e)
{
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
        return FAIL(e, "%s.user: must be \"UID\" or \"UID:GID\" (numeric; the default is %u, nobody)", where,
                    WL_DEFAULT_UID);
}

static int parse_env(json_t *v, const char *where, struct workload_spec *w, berr *e)
{
        if (!v)
                return 0;
        if (!json_is_object(v) || json_object_size(v) > WL_MAX_LIST)
                return FAIL(e, "%s.env: must be an object of at most %d \"NAME\": \"value\" pairs", where, WL_MAX_LIST);
        w->env = calloc(json_object_size(v) + 1, sizeof *w->env);
        if (!w->env)
                return -ENOMEM;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
                bool ok = k[0] && !isdigit((unsigned char)k[0]);
                for (const char *c = k; *c; c++)
                        if (!(isalnum((unsigned char)*c) || *c == '_'))
                                ok = false;
                if (!ok || strlen(k) > 256)
                        return FAIL(e, "%s.env.%.64s: variable names are letters, digits and '_'", where, k);
                if (!json_is_string(x) || !text_valid(json_string_value(x)))
                        return FAIL(e, "%s.env.%s: must be a string without control characters", where, k);
                if (asprintf(&w->env[w->n_env], "%s=%s", k, json_string_value(x)) < 0)
                        return -ENOMEM;
                w->n_env++;
        }
        return 0;
}

static int parse_mounts(json_t *o, const char *where, struct workload_spec *w, berr *e)
{
        static const char *const k_tmpfs[] = {"path", "size", NULL};
        static const char *const k_vol[] = {"name", "path", "readOnly", NULL};
        static const char *const k_bind[] = {"source", "path", "readOnly", NULL};
        static const char *const k_dev[] = {"path", "permissions", NULL};
        char at[512];
        int r;
        json_t *a, *x;
        size_t i;

        if ((a = json_object_get(o, "tmpfs"))) {
                if (!json_is_array(a) || json_array_size(a) > WL_MAX_LIST)
                        return FAIL(e, "%s.tmpfs: must be an array of {\"path\", \"size\"}", where);
                w->tmpfs = calloc(json_array_size(a) + 1, sizeof *w->tmpfs);
                if (!w->tmpfs)
                        return -ENOMEM;
                json_array_foreach(a, i, x) {
                        snprintf(at, sizeof at, "%s.tmpfs[%zu]", where, i);
                        if (!json_is_object(x))
                                return FAIL(e, "%s: must be an object", at);
                        struct wl_tmpfs *t = &w->tmpfs[w->n_tmpfs++];
                        if ((r = check_keys(x, k_tmpfs, at, e)) < 0 || (r = get_path(x, "path", at, &t->path, e)) < 0)
                                return r;
                        json_t *sz = json_object_get(x, "size");
                        if (sz && (parse_size(sz, &t->size) < 0 || t->size < 4096))
                                return FAIL(e, "%s.size: must be a size like \"16M\" (at least 4K)", at);
                }
        }
        if ((a = json_object_get(o, "volumes"))) {
                if (!json_is_array(a) || json_array_size(a) > WL_MAX_LIST)
                        return FAIL(e, "%s.volumes: must be an array of {\"name\", \"path\"}", where);
                w->volumes = calloc(json_array_size(a) + 1, sizeof *w->volumes);
                if (!w->volumes)
                        return -ENOMEM;
                json_array_foreach(a, i, x) {
                        snprintf(at, sizeof at, "%s.volumes[%zu]", where, i);
                        if (!json_is_object(x))
                                return FAIL(e, "%s: must be an object", at);
                        struct wl_volume *v = &w->volumes[w->n_volumes++];
                        if ((r = check_keys(x, k_vol, at, e)) < 0 || (r = get_path(x, "path", at, &v->path, e)) < 0 ||
                            (r = get_bool(x, "readOnly", at, false, &v->read_only, e)) < 0)
                                return r;
                        json_t *n = json_object_get(x, "name");
                        if (!n)
                                return FAIL(e, "%s.name: required", at);
                        if (!json_is_string(n) || !name_valid(json_string_value(n)))
                                return FAIL(e, "%s.name: must be lowercase letters, digits and '-' (at most %d)", at,
                                            WL_MAX_NAME_LEN);
                        v->name = strdup(json_string_value(n));
                        if (!v->name)
                                return -ENOMEM;
                        for (size_t j = 0; j + 1 < w->n_volumes; j++)
                                if (!strcmp(w->volumes[j].name, v->name))
                                        return FAIL(e, "%s.name: volume '%s' is listed twice", at, v->name);
                }
        }
        if ((a = json_object_get(o, "binds"))) {
                if (!json_is_array(a) || json_array_size(a) > WL_MAX_LIST)
                        return FAIL(e, "%s.binds: must be an array of {\"source\", \"path\", \"readOnly\"}", where);
                w->binds = calloc(json_array_size(a) + 1, sizeof *w->binds);
                if (!w->binds)
                        return -ENOMEM;
                json_array_foreach(a, i, x) {
                        snprintf(at, sizeof at, "%s.binds[%zu]", where, i);
                        if (!json_is_object(x))
                                return FAIL(e, "%s: must be an object", at);
                        struct wl_bind *b = &w->binds[w->n_binds++];
                        if ((r = check_keys(x, k_bind, at, e)) < 0 ||
                            (r = get_path(x, "source", at, &b->source, e)) < 0 ||
                            (r = get_path(x, "path", at, &b->path, e)) < 0 ||
                            (r = get_bool(x, "readOnly", at, true, &b->read_only, e)) < 0)
                                return r;
                }
        }
        if ((a = json_object_get(o, "devices"))) {
                if (!json_is_array(a) || json_array_size(a) > WL_MAX_LIST)
                        return FAIL(e, "%s.devices: must be an array of {\"path\"}", where);
                w->devices = calloc(json_array_size(a) + 1, sizeof *w->devices);
                if (!w->devices)
                        return -ENOMEM;
                json_array_foreach(a, i, x) {
                        snprintf(at, sizeof at, "%s.devices[%zu]", where, i);
                        if (!json_is_object(x))
                                return FAIL(e, "%s: must be an object", at);
                        struct wl_device *d = &w->devices[w->n_devices++];
                        if ((r = check_keys(x, k_dev, at, e)) < 0 || (r = get_path(x, "path", at, &d->path, e)) < 0)
                                return r;
                        if (strncmp(d->path, "/dev/", 5) != 0)
                                return FAIL(e, "%s.path: must be under /dev/", at);
                        json_t *p = json_object_get(x, "permissions");
                        const char *ps = p ? json_string_value(p) : "rw";
                        bool ok = ps && ps[0] && strlen(ps) <= 3;
                        for (const char *c = ps; ok && *c; c++)
                                ok = strchr("rwm", *c) && !strchr(c + 1, *c);
                        if (!ok)
                                return FAIL(e, "%s.permissions: must be a combination of r, w and m", at);
                        snprintf(d->perms, sizeof d->perms, "%s", ps);
                }
        }
        return 0;
}

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

static int parse_capabilities(json_t *v, const char *where, struct workload_spec *w, berr *e)
{
        static const char *const keys[] = {"add", NULL};
        char at[512];
        if (!v)
                return 0;
        snprintf(at, sizeof at, "%s.capabilities", where);
        if (!json_is_object(v))
                return FAIL(e, "%s: must be an object {\"add\": [NAME...]} (all capabilities are dropped by default)",
                            at);
        int r = check_keys(v, keys, at, e);
        if (r < 0 || !json_object_get(v, "add"))
                return r;
        char **names;
        size_t n;
        r = get_strv(v, "add", at, 0, &names, &n, e);
        if (r < 0)
                return r;
        w->cap_add = calloc(n + 1, sizeof *w->cap_add);
        if (!w->cap_add) {
                strv_free(names, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                char buf[WL_CAP_NAME_MAX];
                if (!wl_capability_name(names[i], buf)) {
                        r = FAIL(e, "%s.add[%zu]: unknown capability '%.64s'", at, i, names[i]);
                        strv_free(names, n);
                        return r;
                }
                w->cap_add[w->n_cap_add] = strdup(buf);
                if (!w->cap_add[w->n_cap_add++]) {
                        strv_free(names, n);
                        return -ENOMEM;
                }
        }
        strv_free(names, n);
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

static int parse_probe(json_t *p, const char *where, struct workload_spec *w, berr *e)
{
        static const char *const keys[] = {"http", "tcp", "exec", "initialDelay", "period", "timeout",
                                           "failureThreshold", "successThreshold", NULL};
        static const char *const k_http[] = {"port", "path", "status", NULL};
        static const char *const k_tcp[] = {"port", NULL};
        static const char *const k_exec[] = {"command", NULL};
        struct wl_probe *pr = &w->probe;
        char at[512], at2[600];
        int r;

        pr->failure_threshold = 3;
        pr->success_threshold = 1;
        if (!p)
                return 0;
        snprintf(at, sizeof at, "%s.probe", where);
        if (!json_is_object(p))
                return FAIL(e, "%s: must be an object with one of \"http\", \"tcp\" or \"exec\"", at);
        if ((r = check_keys(p, keys, at, e)) < 0)
                return r;
        json_t *h = json_object_get(p, "http"), *t = json_object_get(p, "tcp"), *x = json_object_get(p, "exec");
        if (!!h + !!t + !!x != 1)
                return FAIL(e, "%s: must have exactly one of \"http\", \"tcp\" or \"exec\"", at);
        json_t *k = h ? h : t ? t : x;
        snprintf(at2, sizeof at2, "%s.%s", at, h ? "http" : t ? "tcp" : "exec");
        if (!json_is_object(k))
                return FAIL(e, "%s: must be an object", at2);
        if ((r = check_keys(k, h ? k_http : t ? k_tcp : k_exec, at2, e)) < 0)
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
                if ((r = get_uint(k, "status", at2, 200, 100, 599, &st, e)) < 0)
                        return r;
                pr->status = (int)st;
        } else if (t)
                pr->kind = WL_PROBE_TCP;
        else {
                pr->kind = WL_PROBE_EXEC;
                if (!json_object_get(k, "command"))
                        return FAIL(e, "%s.command: required", at2);
                if ((r = get_strv(k, "command", at2, 1, &pr->command, &pr->n_command, e)) < 0)
                        return r;
        }
        if ((r = get_duration(p, "initialDelay", at, 0, 3600000, &pr->initial_delay_ms, e)) < 0 ||
            (r = get_duration(p, "period", at, 10000, 3600000, &pr->period_ms, e)) < 0 ||
            (r = get_duration(p, "timeout", at, 1000, 600000, &pr->timeout_ms, e)) < 0 ||
            (r = get_uint(p, "failureThreshold", at, 3, 1, 1000, &pr->failure_threshold, e)) < 0 ||
            (r = get_uint(p, "successThreshold", at, 1, 1, 1000, &pr->success_threshold, e)) < 0)
                return r;
        if (pr->period_ms < 100)
                return FAIL(e, "%s.period: must be at least 100ms", at);
        if (pr->timeout_ms < 10)
                return FAIL(e, "%s.timeout: must be at least 10ms", at);
        return 0;
}

static int parse_one(json_t *o, const char *where, const struct bundle_image *images, size_t n_images,
                     const char *const *refs, size_t n_refs, struct workload_spec *w, berr *e)
{
        static const char *const keys[] = {
                "name", "image", "command", "args", "env", "workingDir", "user", "readOnlyRootfs", "tmpfs",
                "volumes", "binds", "devices", "network", "resources", "capabilities", "noNewPrivileges",
                "restart", "stop", "dependsOn", "probe", NULL,
        };
        static const char *const k_res[] = {"memory", "cpu", NULL};
        static const char *const k_restart[] = {"policy", "backoff", "maxBackoff", NULL};
        static const char *const k_stop[] = {"signal", "grace", NULL};
        char at[512];
        int r;

        if (!json_is_object(o))
                return FAIL(e, "%s: must be an object", where);
        if ((r = check_keys(o, keys, where, e)) < 0)
                return r;

        json_t *v = json_object_get(o, "name");
        if (!v)
                return FAIL(e, "%s.name: required", where);
        if (!json_is_string(v) || !name_valid(json_string_value(v)))
                return FAIL(e, "%s.name: must be lowercase letters, digits and '-', starting with a letter or digit "
                            "(at most %d)", where, WL_MAX_NAME_LEN);
        w->name = strdup(json_string_value(v));

        v = json_object_get(o, "image");
        if (!v)
                return FAIL(e, "%s.image: required", where);
        if (!json_is_string(v))
                return FAIL(e, "%s.image: must be a string naming one of the bundle's images", where);
        bool found = false;
        for (size_t i = 0; i < n_images; i++)
                found |= !strcmp(images[i].ref, json_string_value(v));
        for (size_t i = 0; i < n_refs; i++)
                found |= !strcmp(refs[i], json_string_value(v));
        if (!found)
                return FAIL(e, "%s.image: '%.200s' is not one of the bundle's images", where, json_string_value(v));
        w->image = strdup(json_string_value(v));
        if (!w->name || !w->image)
                return -ENOMEM;

        if (json_object_get(o, "command")) {
                if ((r = get_strv(o, "command", where, 1, &w->command, &w->n_command, e)) < 0)
                        return r;
                w->command_set = true;
        }
        if (json_object_get(o, "args")) {
                if ((r = get_strv(o, "args", where, 0, &w->args, &w->n_args, e)) < 0)
                        return r;
                w->args_set = true;
        }
        if ((r = parse_env(json_object_get(o, "env"), where, w, e)) < 0)
                return r;
        if (json_object_get(o, "workingDir") && (r = get_path(o, "workingDir", where, &w->working_dir, e)) < 0)
                return r;
        if ((r = parse_user(json_object_get(o, "user"), where, w, e)) < 0 ||
            (r = get_bool(o, "readOnlyRootfs", where, true, &w->read_only_rootfs, e)) < 0 ||
            (r = get_bool(o, "noNewPrivileges", where, true, &w->no_new_privileges, e)) < 0 ||
            (r = parse_mounts(o, where, w, e)) < 0 ||
            (r = parse_capabilities(json_object_get(o, "capabilities"), where, w, e)) < 0)
                return r;

        v = json_object_get(o, "network");
        const char *net = v ? json_string_value(v) : "none";
        if (net && !strcmp(net, "host"))
                w->network = WL_NET_HOST;
        else if (net && !strcmp(net, "none"))
                w->network = WL_NET_NONE;
        else
                return FAIL(e, "%s.network: must be \"host\" or \"none\"", where);

        snprintf(at, sizeof at, "%s.resources", where);
        v = json_object_get(o, "resources");
        if (!v)
                return FAIL(e, "%s: required (memory and cpu limits)", at);
        if (!json_is_object(v))
                return FAIL(e, "%s: must be an object {\"memory\", \"cpu\"}", at);
        if ((r = check_keys(v, k_res, at, e)) < 0)
                return r;
        json_t *mem = json_object_get(v, "memory"), *cpu = json_object_get(v, "cpu");
        if (!mem)
                return FAIL(e, "%s.memory: required", at);
        if (parse_size(mem, &w->memory_bytes) < 0 || w->memory_bytes < (4u << 20))
                return FAIL(e, "%s.memory: must be a size like \"64M\" (at least 4M)", at);
        if (!cpu)
                return FAIL(e, "%s.cpu: required", at);
        if (parse_cpu(cpu, &w->cpu_millis) < 0)
                return FAIL(e, "%s.cpu: must be a number of CPUs (0.5) or millicores (\"500m\"), at least 10m", at);

        snprintf(at, sizeof at, "%s.restart", where);
        v = json_object_get(o, "restart");
        w->restart = WL_RESTART_ALWAYS;
        w->backoff_ms = 1000;
        w->max_backoff_ms = 60000;
        if (v) {
                if (!json_is_object(v))
                        return FAIL(e, "%s: must be an object {\"policy\", \"backoff\", \"maxBackoff\"}", at);
                if ((r = check_keys(v, k_restart, at, e)) < 0)
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
                if ((r = get_duration(v, "backoff", at, 1000, 3600000, &w->backoff_ms, e)) < 0 ||
                    (r = get_duration(v, "maxBackoff", at, 60000, 86400000, &w->max_backoff_ms, e)) < 0)
                        return r;
                if (w->backoff_ms < 100)
                        return FAIL(e, "%s.backoff: must be at least 100ms", at);
                if (w->max_backoff_ms < w->backoff_ms)
                        return FAIL(e, "%s.maxBackoff: must not be shorter than backoff", at);
        }

        snprintf(at, sizeof at, "%s.stop", where);
        v = json_object_get(o, "stop");
        w->stop_signal = SIGTERM;
        w->stop_grace_ms = 10000;
        if (v) {
                if (!json_is_object(v))
                        return FAIL(e, "%s: must be an object {\"signal\", \"grace\"}", at);
                if ((r = check_keys(v, k_stop, at, e)) < 0)
                        return r;
                json_t *s = json_object_get(v, "signal");
                if (s && (!json_is_string(s) || parse_signal(json_string_value(s), &w->stop_signal) < 0))
                        return FAIL(e, "%s.signal: must be a signal name like \"SIGTERM\" or \"SIGINT\"", at);
                if ((r = get_duration(v, "grace", at, 10000, 600000, &w->stop_grace_ms, e)) < 0)
                        return r;
        }

        if (json_object_get(o, "dependsOn") &&
            (r = get_strv(o, "dependsOn", where, 0, &w->depends_on, &w->n_depends_on, e)) < 0)
                return r;
        return parse_probe(json_object_get(o, "probe"), where, w, e);
}

/* Kahn's algorithm over dependsOn; the array order breaks ties, so the start order
 * is deterministic. A cycle is named by one workload on it. */
static int compute_order(struct workload_set *s, berr *e)
{
        size_t n = s->n;
        _cleanup_free_ unsigned *indeg = calloc(n + 1, sizeof *indeg);
        _cleanup_free_ bool *done = calloc(n + 1, sizeof *done);
        s->order = calloc(n + 1, sizeof *s->order);
        if (!indeg || !done || !s->order)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                for (size_t d = 0; d < s->w[i].n_depends_on; d++) {
                        const char *dep = s->w[i].depends_on[d];
                        if (!workload_set_find(s, dep))
                                return FAIL(e, "workloads[%zu].dependsOn[%zu]: no workload named '%.64s'", i, d, dep);
                        if (!strcmp(dep, s->w[i].name))
                                return FAIL(e, "workloads[%zu].dependsOn[%zu]: a workload cannot depend on itself", i,
                                            d);
                        indeg[i]++;
                }
        for (size_t k = 0; k < n; k++) {
                size_t pick = n;
                for (size_t i = 0; i < n && pick == n; i++)
                        if (!done[i] && indeg[i] == 0)
                                pick = i;
                if (pick == n) {
                        for (size_t i = 0; i < n; i++)
                                if (!done[i])
                                        return FAIL(e, "workloads[%zu].dependsOn: dependency cycle through '%s'", i,
                                                    s->w[i].name);
                }
                done[pick] = true;
                s->order[k] = pick;
                for (size_t i = 0; i < n; i++)
                        for (size_t d = 0; d < s->w[i].n_depends_on; d++)
                                if (!strcmp(s->w[i].depends_on[d], s->w[pick].name))
                                        indeg[i]--;
        }
        return 0;
}

static int parse_update(json_t *u, uint64_t *soak_ms, berr *e)
{
        static const char *const keys[] = {"soak", NULL};
        *soak_ms = WL_DEFAULT_SOAK_MS;
        if (!u)
                return 0;
        if (!json_is_object(u))
                return FAIL(e, "update: must be an object {\"soak\": DURATION}");
        int r = check_keys(u, keys, "update", e);
        if (r < 0)
                return r;
        return get_duration(u, "soak", "update", WL_DEFAULT_SOAK_MS, 86400000, soak_ms, e);
}

static int parse_set(json_t *arr, json_t *update, const struct bundle_image *images, size_t n_images,
                     const char *const *refs, size_t n_refs, struct workload_set **ret, berr *e)
{
        _cleanup_(workload_set_freep) struct workload_set *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        int r = parse_update(update, &s->soak_ms, e);
        if (r < 0)
                return r;
        if (arr && !json_is_array(arr))
                return FAIL(e, "workloads: must be an array");
        size_t n = arr ? json_array_size(arr) : 0;
        if (n > WL_MAX_WORKLOADS)
                return FAIL(e, "workloads: at most %d workloads per bundle", WL_MAX_WORKLOADS);
        s->w = calloc(n + 1, sizeof *s->w);
        if (!s->w)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char where[64];
                snprintf(where, sizeof where, "workloads[%zu]", i);
                s->n++;
                r = parse_one(json_array_get(arr, i), where, images, n_images, refs, n_refs, &s->w[i], e);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(s->w[j].name, s->w[i].name))
                                return FAIL(e, "%s.name: '%s' is used by workloads[%zu] too", where, s->w[i].name, j);
        }
        r = compute_order(s, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int workload_set_parse(json_t *root, const struct bundle_image *images, size_t n_images, struct workload_set **ret,
                       berr *e)
{
        return parse_set(json_object_get(root, "workloads"), json_object_get(root, "update"), images, n_images, NULL,
                         0, ret, e);
}

int workload_set_from_manifest(const struct bundle_manifest *m, struct workload_set **ret, berr *e)
{
        return workload_set_parse(m->root, m->images, m->n_images, ret, e);
}

int workload_file_check(json_t *doc, const char *const *image_refs, size_t n_refs, json_t **ret_workloads,
                        json_t **ret_update, berr *e)
{
        json_t *arr = doc, *update = NULL;
        if (json_is_object(doc)) {
                static const char *const keys[] = {"soak", "workloads", NULL};
                int r = check_keys(doc, keys, "(top level)", e);
                if (r < 0)
                        return r;
                arr = json_object_get(doc, "workloads");
                if (!arr)
                        return FAIL(e, "workloads: required");
                json_t *soak = json_object_get(doc, "soak");
                if (soak) {
                        update = json_pack("{s:O}", "soak", soak);
                        if (!update)
                                return -ENOMEM;
                }
        } else if (!json_is_array(doc)) {
                return FAIL(e, "top level must be an array of workloads or {\"soak\": ..., \"workloads\": [...]}");
        }
        struct workload_set *s = NULL;
        int r = parse_set(arr, update, NULL, 0, image_refs, n_refs, &s, e);
        workload_set_free(s);
        if (r < 0) {
                json_decref(update);
                return r;
        }
        *ret_workloads = json_incref(arr);
        if (ret_update)
                *ret_update = update;
        else
                json_decref(update);
        return 0;
}
