/* SPDX-License-Identifier: Apache-2.0 */
/* attrs.c — what the agent tells the server about its node: DDI configData attributes
 * (hostname, OS, architecture, kernel, berth version, installed bundles, the platform
 * whose blobs it fetches, data budget) and, through
 * berth-server's installedBase extension, bundles that arrived without the server
 * (USB or CLI imports). The server uses attributes for rollout filters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/fs.h"
#include "base/log.h"
#include "bundle/platform.h"
#include "daemon/agent_int.h"
#include "import/import.h"

#define MAX_ATTRS 24

static char *os_name(void)
{
        char *buf = NULL;
        size_t len;
        if (read_file_bounded("/etc/os-release", 64 * 1024, &buf, &len) < 0 &&
            read_file_bounded("/usr/lib/os-release", 64 * 1024, &buf, &len) < 0)
                return strdup("unknown");
        char *res = NULL;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                if (!strncmp(line, "PRETTY_NAME=", 12)) {
                        char *v = line + 12;
                        size_t n = strlen(v);
                        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                                v[n - 1] = 0;
                                v++;
                        }
                        res = strdup(v);
                        break;
                }
        free(buf);
        return res ? res : strdup("unknown");
}

/* Newest version of every bundle name (db_list_bundles sorts by name, then version). */
struct newest {
        struct item {
                char name[BUNDLE_MAX_NAME_LEN + 1];
                int64_t version;
                char source[16];
        } *v;
        size_t n;
};

static int newest_cb(void *ud, const struct db_bundle *b)
{
        struct newest *l = ud;
        if (l->n && !strcmp(l->v[l->n - 1].name, b->name)) {
                l->v[l->n - 1].version = b->version;
                snprintf(l->v[l->n - 1].source, sizeof l->v[0].source, "%s", b->source);
                return 0;
        }
        if (l->n == 256)
                return 0;
        struct item *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        l->v = nv;
        snprintf(nv[l->n].name, sizeof nv[0].name, "%s", b->name);
        nv[l->n].version = b->version;
        snprintf(nv[l->n].source, sizeof nv[0].source, "%s", b->source);
        l->n++;
        return 0;
}

static char *installed_list(struct agent *a)
{
        struct newest l = {0};
        (void)db_list_bundles(a->db, newest_cb, &l);
        size_t cap = l.n * (BUNDLE_MAX_NAME_LEN + 24) + 1;
        char *s = malloc(cap);
        if (s) {
                size_t len = 0;
                s[0] = 0;
                for (size_t i = 0; i < l.n && len < 3000; i++)
                        len += (size_t)snprintf(s + len, cap - len, "%s%s=%lld", i ? "," : "", l.v[i].name,
                                                (long long)l.v[i].version);
        }
        free(l.v);
        return s;
}

void attrs_free(char **v)
{
        if (!v)
                return;
        for (size_t i = 0; v[i]; i++)
                free(v[i]);
        free(v);
}

char **attrs_collect(struct agent *a)
{
        char **v = calloc(MAX_ATTRS + 1, sizeof *v);
        if (!v)
                return NULL;
        struct utsname u;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof u);
        size_t i = 0;
        v[i++] = strdup("hostname");
        v[i++] = strdup(a->set.hostname);
        v[i++] = strdup("os");
        v[i++] = os_name();
        v[i++] = strdup("arch");
        v[i++] = strdup(u.machine);
        v[i++] = strdup("kernel");
        v[i++] = strdup(u.release);
        v[i++] = strdup("berth_version");
        v[i++] = strdup(BERTH_VERSION);
        v[i++] = strdup("bundles");
        v[i++] = installed_list(a);
        /* What rollout plans need to predict this node's download: the platform whose
         * blobs of a multi-platform image it fetches, or that it fetches them all. */
        struct platform host;
        char pname[PLATFORM_NAME_MAX];
        platform_host(&host);
        v[i++] = strdup("platform");
        v[i++] = strdup(platform_format(&host, pname));
        if (import_mirrors_every_platform(a->backends, a->n_backends)) {
                v[i++] = strdup("mirror_platforms");
                v[i++] = strdup("all");
        }
        if (a->set.budget_limit) {
                /* In whole MiB: the attributes change (and are reported) about once per MiB used. */
                uint64_t used = budget_used(a), lim = a->set.budget_limit;
                v[i++] = strdup("budget_left_mib");
                if (asprintf(&v[i++], "%" PRIu64, (used < lim ? lim - used : 0) >> 20) < 0)
                        v[i - 1] = NULL;
                v[i++] = strdup("budget_limit_mib");
                if (asprintf(&v[i++], "%" PRIu64, lim >> 20) < 0)
                        v[i - 1] = NULL;
        }
        for (size_t k = 0; k < i; k++)
                if (!v[k]) {
                        attrs_free(v);
                        return NULL;
                }
        return v;
}

void attrs_report_installed(struct agent *a)
{
        struct newest l = {0};
        (void)db_list_bundles(a->db, newest_cb, &l);
        for (size_t i = 0; i < l.n; i++) {
                if (!strcmp(l.v[i].source, "ddi"))
                        continue; /* the server knows: it sent it */
                char key[BUNDLE_MAX_NAME_LEN + 32], ver[32];
                snprintf(key, sizeof key, "reported/%s", l.v[i].name);
                snprintf(ver, sizeof ver, "%lld", (long long)l.v[i].version);
                _cleanup_free_ char *have = NULL;
                if (agentdb_kv_get(a->db, key, &have) > 0 && !strcmp(have, ver))
                        continue;
                _cleanup_free_ char *body = ddi_installed_json(l.v[i].name, l.v[i].version);
                if (!body)
                        break;
                log_info("agent: reporting %s version %s (imported via %s) to the server", l.v[i].name, ver,
                         l.v[i].source);
                outbox_put(a, "installedBase", "PUT", "/installedBase", body);
                (void)agentdb_kv_set(a->db, key, ver);
        }
        free(l.v);
}
