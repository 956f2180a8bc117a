/* SPDX-License-Identifier: Apache-2.0 */
/* mountcheck.c — checks a container's mount table against the read-only binds its OCI
 * spec asked for (see mountcheck.h). Never trusts that a mount option was applied:
 * what counts is the per-mount "ro" flag the kernel reports.
 */
#include "workload/mountcheck.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

#define MOUNTINFO_MAX_FIELD 4096

/* True when path is dir or lies below it (whole components: /srv/a is not below /sr). */
static bool path_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        if (n == 1 && dir[0] == '/')
                return path[0] == '/';
        return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* mountinfo escapes space, tab, newline and backslash as \ooo (octal). */
static void unescape(char *s)
{
        char *w = s;
        for (const char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

static bool has_option(const char *list, const char *opt)
{
        size_t n = strlen(opt);
        for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (!strncmp(p, opt, n) && (p[n] == ',' || p[n] == 0))
                        return true;
        return false;
}

static bool spec_mount_readonly_bind(json_t *m)
{
        if (strcmp(json_string_value(json_object_get(m, "type")) ?: "", "bind") != 0)
                return false;
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(m, "options"), i, o) {
                const char *s = json_string_value(o);
                if (s && (!strcmp(s, "ro") || !strcmp(s, "rro")))
                        return true;
        }
        return false;
}

/* The spec mount that a container path belongs to: the one with the longest destination
 * above it; of equal ones the later (it was mounted on top). NULL when none. */
static json_t *owner_of(json_t *mounts, const char *path)
{
        json_t *best = NULL, *m;
        size_t best_len = 0, i;
        json_array_foreach(mounts, i, m) {
                const char *d = json_string_value(json_object_get(m, "destination"));
                if (!d || !path_under(path, d))
                        continue;
                if (!best || strlen(d) >= best_len) {
                        best = m;
                        best_len = strlen(d);
                }
        }
        return best;
}

int mountcheck_readonly(const char *oci_spec, const char *mountinfo, const char *workload, berr *e)
{
        json_auto_t *spec = json_loads(oci_spec, 0, NULL);
        json_t *mounts = spec ? json_object_get(spec, "mounts") : NULL;
        if (!json_is_array(mounts))
                return berr_set(e, -EBADMSG, "workload %s: the OCI spec has no mounts array", workload);
        _cleanup_free_ char *copy = strdup(mountinfo);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        unsigned lineno = 0;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                lineno++;
                /* ID PARENT MAJ:MIN ROOT MOUNT-POINT MOUNT-OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS */
                char *f[6], *fs = NULL;
                size_t n = 0;
                for (char *t = strtok_r(line, " ", &fs); t && n < ELEMENTSOF(f); t = strtok_r(NULL, " ", &fs))
                        f[n++] = t;
                if (n < ELEMENTSOF(f) || f[4][0] != '/' || strlen(f[4]) > MOUNTINFO_MAX_FIELD)
                        return berr_set(e, -EBADMSG, "workload %s: line %u of the container's mountinfo is malformed",
                                        workload, lineno);
                unescape(f[4]);
                json_t *owner = owner_of(mounts, f[4]);
                if (!owner || !spec_mount_readonly_bind(owner) || has_option(f[5], "ro"))
                        continue;
                const char *dest = json_string_value(json_object_get(owner, "destination"));
                const char *src = json_string_value(json_object_get(owner, "source")) ?: "?";
                if (!strcmp(f[4], dest))
                        return berr_set(e, -EPERM, "workload %s: the read-only bind %s (host %s) is writable inside "
                                        "the container; the container runtime ignored the read-only option, so "
                                        "the workload is not started", workload, dest, src);
                return berr_set(e, -EPERM, "workload %s: the read-only bind %s (host %s) has a writable mount below "
                                "it inside the container (%.256s): this container runtime does not make binds "
                                "read-only recursively (that needs runc 1.1 or later on Linux 5.12 or later), so "
                                "the workload is not started; bind a host path with no mounts below it, or "
                                "upgrade runc", workload, dest, src, f[4]);
        }
        return 0;
}
