/* SPDX-License-Identifier: Apache-2.0 */
/* policy.c — the node policy: [policy] keys parsed by one table of key → default →
 * parser, and the check of a workload set against it (see policy.h). Defaults are the
 * safe side: what is not listed is refused.
 */
#include "workload/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX_ITEMS 256
#define POLICY_MAX_ITEM 1024

typedef int (*item_fn)(struct wl_policy *p, const char *item, berr *e);

struct key_def {
        const char *def;
        const char *expected;           /* what a value looks like, for the error sentence */
        item_fn item;                   /* list keys: called per comma-separated item */
        bool *(*flag)(struct wl_policy *p); /* boolean keys */
};

/* ---- list items ---------------------------------------------------------------------- */

static int add_range(struct wl_id_range **v, size_t *n, const char *s)
{
        char *end;
        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        unsigned long lo = strtoul(s, &end, 10), hi = lo;
        if (*end == '-' && isdigit((unsigned char)end[1]))
                hi = strtoul(end + 1, &end, 10);
        if (errno || *end || lo > hi || hi > 0x7ffffffe)
                return -EINVAL;
        struct wl_id_range *nv = realloc(*v, (*n + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        nv[*n] = (struct wl_id_range){(uint32_t)lo, (uint32_t)hi};
        *v = nv;
        (*n)++;
        return 0;
}

static int item_user(struct wl_policy *p, const char *s, berr *e)
{
        (void)e;
        return add_range(&p->users, &p->n_users, s);
}

static int item_group(struct wl_policy *p, const char *s, berr *e)
{
        (void)e;
        return add_range(&p->groups, &p->n_groups, s);
}

static int add_str(char ***v, size_t *n, const char *s)
{
        char **nv = realloc(*v, (*n + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n] = strdup(s);
        if (!nv[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

static int item_capability(struct wl_policy *p, const char *s, berr *e)
{
        char name[WL_CAP_NAME_MAX];
        if (!wl_capability_name(s, name))
                return berr_set(e, -EINVAL, "config policy.capabilities: unknown capability '%.64s'", s);
        return add_str(&p->capabilities, &p->n_capabilities, name);
}

/* "r", "rw", "rwm" …: each letter once. */
static bool access_valid(const char *a)
{
        if (!a[0] || strlen(a) > 3)
                return false;
        for (const char *c = a; *c; c++)
                if (!strchr("rwm", *c) || strchr(c + 1, *c))
                        return false;
        return true;
}

static bool access_within(const char *want, const char *allowed)
{
        for (const char *c = want; *c; c++)
                if (!strchr(allowed, *c))
                        return false;
        return true;
}

static bool host_path_valid(const char *s)
{
        size_t n = strlen(s);
        if (s[0] != '/' || (n > 1 && s[n - 1] == '/') || strstr(s, "//"))
                return false;
        for (const char *c = s; (c = strchr(c, '/')); c++)
                if (!strncmp(c, "/../", 4) || !strcmp(c, "/..") || !strncmp(c, "/./", 3) || !strcmp(c, "/."))
                        return false;
        return true;
}

static int item_device(struct wl_policy *p, const char *s, berr *e)
{
        const char *colon = strrchr(s, ':');
        char pattern[POLICY_MAX_ITEM];
        snprintf(pattern, sizeof pattern, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
        const char *access = colon ? colon + 1 : "rw";
        if (strncmp(pattern, "/dev/", 5) != 0 || !host_path_valid(pattern) || !access_valid(access))
                return berr_set(e, -EINVAL, "config policy.devices: '%.200s' is not PATH[:ACCESS] with PATH under "
                                "/dev/ (wildcards allowed) and ACCESS made of r, w and m", s);
        struct wl_policy_device *nv = realloc(p->devices, (p->n_devices + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        p->devices = nv;
        nv[p->n_devices] = (struct wl_policy_device){.pattern = strdup(pattern)};
        if (!nv[p->n_devices].pattern)
                return -ENOMEM;
        snprintf(nv[p->n_devices++].access, sizeof nv->access, "%s", access);
        return 0;
}

static int item_bind(struct wl_policy *p, const char *s, berr *e)
{
        const char *colon = strrchr(s, ':');
        char prefix[POLICY_MAX_ITEM];
        snprintf(prefix, sizeof prefix, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
        const char *mode = colon ? colon + 1 : "ro";
        if (!host_path_valid(prefix) || (strcmp(mode, "ro") && strcmp(mode, "rw")))
                return berr_set(e, -EINVAL, "config policy.binds: '%.200s' is not PATH[:ro|:rw] with an absolute "
                                "PATH (no trailing '/', no '.' or '..')", s);
        struct wl_policy_bind *nv = realloc(p->binds, (p->n_binds + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        p->binds = nv;
        nv[p->n_binds] = (struct wl_policy_bind){.prefix = strdup(prefix), .writable = !strcmp(mode, "rw")};
        if (!nv[p->n_binds].prefix)
                return -ENOMEM;
        p->n_binds++;
        return 0;
}

static int item_env(struct wl_policy *p, const char *s, berr *e)
{
        for (const char *c = s; *c; c++)
                if (!(isalnum((unsigned char)*c) || strchr("_*?[]!", *c)))
                        return berr_set(e, -EINVAL, "config policy.env_refused: '%.200s' is not a variable name "
                                        "or a wildcard pattern like LD_*", s);
        return add_str(&p->env_refused, &p->n_env_refused, s);
}

static bool *flag_host_network(struct wl_policy *p)
{
        return &p->host_network;
}

static bool *flag_writable_rootfs(struct wl_policy *p)
{
        return &p->writable_rootfs;
}

static bool *flag_new_privileges(struct wl_policy *p)
{
        return &p->new_privileges;
}

/* Every key, in enum wl_policy_key order ("policy." + the name under [policy]). */
const char *const wl_policy_known_keys[] = {
        "policy.users", "policy.groups", "policy.capabilities", "policy.devices", "policy.binds",
        "policy.host_network", "policy.writable_rootfs", "policy.new_privileges", "policy.env_refused",
        NULL,
};

/* One row per key, in the same order: default, what a value looks like, its parser. */
static const struct key_def keys[WL_POLICY_N_KEYS] = {
        [WL_POLICY_USERS] = {.def = "1000-65534", .expected = "uid ranges like 1000-65534, comma separated",
                             .item = item_user},
        [WL_POLICY_GROUPS] = {.def = "1000-65534", .expected = "gid ranges like 1000-65534, comma separated",
                              .item = item_group},
        [WL_POLICY_CAPABILITIES] = {.def = "", .expected = "capability names like NET_BIND_SERVICE",
                                    .item = item_capability},
        [WL_POLICY_DEVICES] = {.def = "", .expected = "device paths with their access, like /dev/ttyUSB*:rw",
                               .item = item_device},
        [WL_POLICY_BINDS] = {.def = "", .expected = "host path prefixes, like /etc/gateway:ro, /srv/exchange:rw",
                             .item = item_bind},
        [WL_POLICY_HOST_NETWORK] = {.def = "true", .expected = "true or false", .flag = flag_host_network},
        [WL_POLICY_WRITABLE_ROOTFS] = {.def = "false", .expected = "true or false", .flag = flag_writable_rootfs},
        [WL_POLICY_NEW_PRIVILEGES] = {.def = "false", .expected = "true or false", .flag = flag_new_privileges},
        [WL_POLICY_ENV_REFUSED] = {.def = "LD_*, GCONV_PATH, GLIBC_TUNABLES",
                                   .expected = "variable names or patterns like LD_*", .item = item_env},
};

const char *wl_policy_key_name(enum wl_policy_key k)
{
        return k < WL_POLICY_N_KEYS ? wl_policy_known_keys[k] + strlen("policy.") : NULL;
}

const char *wl_policy_key_default(enum wl_policy_key k)
{
        return k < WL_POLICY_N_KEYS ? keys[k].def : NULL;
}

void wl_policy_free(struct wl_policy *p)
{
        if (!p)
                return;
        free(p->users);
        free(p->groups);
        for (size_t i = 0; i < p->n_capabilities; i++)
                free(p->capabilities[i]);
        free(p->capabilities);
        for (size_t i = 0; i < p->n_devices; i++)
                free(p->devices[i].pattern);
        free(p->devices);
        for (size_t i = 0; i < p->n_binds; i++)
                free(p->binds[i].prefix);
        free(p->binds);
        for (size_t i = 0; i < p->n_env_refused; i++)
                free(p->env_refused[i]);
        free(p->env_refused);
        for (size_t i = 0; i < WL_POLICY_N_KEYS; i++)
                free(p->text[i]);
        free(p);
}

/* Splits v at commas; each trimmed, non-empty item goes to the key's parser. An empty
 * value or "none" is the empty list. */
static int parse_list(struct wl_policy *p, enum wl_policy_key key, const char *v, berr *e)
{
        const struct key_def *k = &keys[key];
        const char *name = wl_policy_key_name(key);
        if (!strcmp(v, "none"))
                return 0;
        size_t n = 0;
        for (const char *s = v; *s;) {
                const char *end = strchr(s, ',');
                size_t len = end ? (size_t)(end - s) : strlen(s);
                while (len && isspace((unsigned char)*s)) {
                        s++;
                        len--;
                }
                while (len && isspace((unsigned char)s[len - 1]))
                        len--;
                if (len >= POLICY_MAX_ITEM || ++n > POLICY_MAX_ITEMS)
                        return berr_set(e, -EINVAL, "config policy.%s: at most %d items of at most %d bytes", name,
                                        POLICY_MAX_ITEMS, POLICY_MAX_ITEM - 1);
                if (len) {
                        char item[POLICY_MAX_ITEM];
                        memcpy(item, s, len);
                        item[len] = 0;
                        berr ie = {0};
                        int r = k->item(p, item, &ie);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return ie.msg[0] ? berr_set(e, r, "%s", ie.msg)
                                                 : berr_set(e, r, "config policy.%s = '%.200s': expected %s", name,
                                                            v, k->expected);
                }
                if (!end)
                        break;
                s = end + 1;
        }
        return 0;
}

static void note_unknown(const char *key, void *ud)
{
        char *first = ud;
        if (!first[0] && !strncmp(key, "policy.", 7))
                snprintf(first, 128, "%s", key);
}

int wl_policy_from_config(const struct berth_config *c, struct wl_policy **ret, berr *e)
{
        _cleanup_(wl_policy_freep) struct wl_policy *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < WL_POLICY_N_KEYS; i++) {
                const struct key_def *k = &keys[i];
                const char *full = wl_policy_known_keys[i];
                const char *v = config_get(c, full, k->def);
                p->text[i] = strdup(v);
                if (!p->text[i])
                        return -ENOMEM;
                int r;
                if (k->item)
                        r = parse_list(p, (enum wl_policy_key)i, v, e);
                else
                        r = config_get_bool(c, full, !strcmp(k->def, "true"), k->flag(p), e);
                if (r < 0)
                        return r;
        }
        /* Every policy.* key must be one of the table's: a misspelt key would leave a
         * default in force that the operator meant to change. */
        char unknown[128] = "";
        config_foreach_unknown(c, wl_policy_known_keys, note_unknown, unknown);
        if (unknown[0])
                return berr_set(e, -EINVAL, "config %s: unknown policy key (known: users, groups, capabilities, "
                                "devices, binds, host_network, writable_rootfs, new_privileges, env_refused)", unknown);
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- the check ------------------------------------------------------------------------ */

/* Leaves a quarter of a berr for the caller's context ("bundle X version N …: "). */
#define REPORT_MAX (sizeof(((berr *)0)->msg) * 3 / 4)

struct report {
        const struct wl_policy *p;
        wl_policy_violation_fn fn;
        void *ud;
        unsigned n;
};

/* Formats one violation and hands it to the report's callback. */
static void violation(struct report *rp, enum wl_policy_key k, const char *wl, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void violation(struct report *rp, enum wl_policy_key k, const char *wl, const char *fmt, ...)
{
        char what[512], line[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        const char *val = rp->p->text[k] && rp->p->text[k][0] ? rp->p->text[k] : "(none)";
        snprintf(line, sizeof line, "workload %s: %s is not allowed by [policy] %s = %.200s", wl, what,
                 wl_policy_key_name(k), val);
        rp->n++;
        rp->fn(line, rp->ud);
}

static bool in_ranges(const struct wl_id_range *v, size_t n, uint32_t id)
{
        for (size_t i = 0; i < n; i++)
                if (id >= v[i].lo && id <= v[i].hi)
                        return true;
        return false;
}

/* True when path is dir or lies below it (whole components). */
static bool path_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        if (!strcmp(dir, "/"))
                return true;
        return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

static void check_one(const struct workload_spec *w, struct report *rp)
{
        const struct wl_policy *p = rp->p;
        const char *n = w->name;
        if (w->user_set && !in_ranges(p->users, p->n_users, w->uid))
                violation(rp, WL_POLICY_USERS, n, "user %u", w->uid);
        if (w->user_set && !in_ranges(p->groups, p->n_groups, w->gid))
                violation(rp, WL_POLICY_GROUPS, n, "group %u (user \"%u:%u\")", w->gid, w->uid, w->gid);
        for (size_t i = 0; i < w->n_cap_add; i++) {
                bool ok = false;
                for (size_t k = 0; k < p->n_capabilities && !ok; k++)
                        ok = !strcmp(p->capabilities[k], w->cap_add[i]);
                if (!ok)
                        violation(rp, WL_POLICY_CAPABILITIES, n, "capabilities.add %s", w->cap_add[i]);
        }
        for (size_t i = 0; i < w->n_devices; i++) {
                const struct wl_device *d = &w->devices[i];
                bool ok = false;
                for (size_t k = 0; k < p->n_devices && !ok; k++)
                        ok = fnmatch(p->devices[k].pattern, d->path, FNM_PATHNAME) == 0 &&
                             access_within(d->perms, p->devices[k].access);
                if (!ok)
                        violation(rp, WL_POLICY_DEVICES, n, "device %s with permissions \"%s\"", d->path,
                                  d->perms);
        }
        for (size_t i = 0; i < w->n_binds; i++) {
                const struct wl_bind *b = &w->binds[i];
                bool ok = false;
                for (size_t k = 0; k < p->n_binds && !ok; k++)
                        ok = path_under(b->source, p->binds[k].prefix) && (b->read_only || p->binds[k].writable);
                if (!ok)
                        violation(rp, WL_POLICY_BINDS, n, "%s bind of host path %s", b->read_only ? "read-only" :
                                  "writable", b->source);
        }
        if (w->network == WL_NET_HOST && !p->host_network)
                violation(rp, WL_POLICY_HOST_NETWORK, n, "network \"host\"");
        if (!w->read_only_rootfs && !p->writable_rootfs)
                violation(rp, WL_POLICY_WRITABLE_ROOTFS, n, "readOnlyRootfs false");
        if (!w->no_new_privileges && !p->new_privileges)
                violation(rp, WL_POLICY_NEW_PRIVILEGES, n, "noNewPrivileges false");
        for (size_t i = 0; i < w->n_env; i++) {
                char name[257];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(w->env[i], "="), w->env[i]);
                for (size_t k = 0; k < p->n_env_refused; k++)
                        if (fnmatch(p->env_refused[k], name, 0) == 0) {
                                violation(rp, WL_POLICY_ENV_REFUSED, n, "env %s", name);
                                break;
                        }
        }
}

unsigned wl_policy_check_each(const struct wl_policy *p, const struct workload_set *s, wl_policy_violation_fn fn,
                              void *ud)
{
        struct report rp = {.p = p, .fn = fn, .ud = ud};
        for (size_t i = 0; s && i < s->n; i++)
                check_one(&s->w[i], &rp);
        return rp.n;
}

struct joined {
        char buf[REPORT_MAX];
        size_t len;
        unsigned n, left_out;
};

/* Appends one violation; what no longer fits is counted, not cut in half. */
static void join(const char *line, void *ud)
{
        struct joined *j = ud;
        size_t n = strlen(line) + (j->n ? 2 : 0);
        if (j->left_out || j->len + n + 24 >= sizeof j->buf) { /* room for "; and N more" */
                j->left_out++;
                return;
        }
        j->len += (size_t)snprintf(j->buf + j->len, sizeof j->buf - j->len, "%s%s", j->n ? "; " : "", line);
        j->n++;
}

int wl_policy_check(const struct wl_policy *p, const struct workload_set *s, berr *e)
{
        struct joined j = {.len = 0};
        if (wl_policy_check_each(p, s, join, &j) == 0)
                return 0;
        if (j.left_out)
                snprintf(j.buf + j.len, sizeof j.buf - j.len, "; and %u more", j.left_out);
        return berr_set(e, -EPERM, "%s", j.buf);
}
