/* SPDX-License-Identifier: Apache-2.0 */
/* links.c — what a target is told to fetch: the base of its links (ddi.public_url, or a
 * Host header that names this server), the deployment documents with their artifact
 * links, and the small helpers every DDI handler uses. Never writes to the database.
 */
#include "server-stub/ddi/ddi_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/timeutil.h"
#include "server-stub/core/server.h"
#include "server-stub/http/http.h"
#include "server-stub/rollout/rollout.h"

bool ddi_parse_id(const char *s, int64_t *ret)
{
        char *end;
        if (!s || !*s || *s == '-' || *s == '+')
                return false;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end || v <= 0)
                return false;
        *ret = v;
        return true;
}

/* Whether name (host part of a Host header, no port) is one of the words of list
 * (separated by commas or white space), ignoring case. */
static bool in_list(const char *list, const char *name)
{
        size_t n = strlen(name);
        for (const char *p = list; p && *p;) {
                p += strspn(p, ", \t");
                size_t k = strcspn(p, ", \t");
                if (k == n && k && !strncasecmp(p, name, n))
                        return true;
                p += k;
        }
        return false;
}

/* Without ddi.public_url the links in the answers are built from the Host header, so a
 * Host is only believed when it names this server: a name in ddi.allowed_hosts, the
 * address the connection arrived on, or "localhost" on a loopback connection. The host
 * part is [A-Za-z0-9.-] (or a bracketed IPv6 literal), the port 1-5 digits. Returns
 * true and fills host (what goes into links) when it passes. */
static bool host_allowed(struct ddi_ctx *c, char *host, size_t size)
{
        char local[64];
        unsigned port;
        bool loopback = false;
        int k = http_local_address(c->r, local, sizeof local, &port, &loopback);
        const char *h = http_header(c->r, "Host");
        if (!h || !*h) {
                /* HTTP/1.0 without Host: the address the client used. */
                if (k < 0)
                        return false;
                snprintf(host, size, "%s:%u", local, port);
                return true;
        }
        size_t hl = strlen(h);
        if (hl >= size || hl > 255)
                return false;
        const char *colon = h[0] == '[' ? strchr(h, ']') : h;
        if (!colon)
                return false;
        colon = strchr(colon, ':');
        size_t name_len = colon ? (size_t)(colon - h) : hl;
        size_t port_len = colon ? strlen(colon + 1) : 0;
        if (colon && (port_len < 1 || port_len > 5 || strspn(colon + 1, "0123456789") != port_len))
                return false;
        char name[256];
        memcpy(name, h, name_len);
        name[name_len] = 0;
        static const char dns[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
        bool v6 = name[0] == '[';
        if (v6 ? strspn(name + 1, "0123456789abcdefABCDEF:.") != name_len - 2 || name[name_len - 1] != ']'
               : !name_len || strspn(name, dns) != name_len)
                return false;
        bool ok = in_list(c->s->allowed_hosts, name) || (k >= 0 && !strcasecmp(name, local)) ||
                  (k >= 0 && loopback && !strcasecmp(name, "localhost"));
        if (ok)
                snprintf(host, size, "%s", h);
        return ok;
}

/* Returns false after answering 421 when the Host header cannot go into links. */
bool ddi_build_base(struct ddi_ctx *c)
{
        if (c->s->public_url) {
                snprintf(c->base, sizeof c->base, "%s/%s/controller/v1/%s", c->s->public_url, c->s->tenant, c->cid);
                return true;
        }
        char host[300];
        if (!host_allowed(c, host, sizeof host)) {
                http_reply_error(c->r, 421, "request.misdirected",
                                 "Host '%.255s' is not a name of this server; the server's operator sets ddi.public_url "
                                 "(the base of every link) or lists the name in ddi.allowed_hosts",
                                 http_header(c->r, "Host") ?: "");
                return false;
        }
        snprintf(c->base, sizeof c->base, "%s://%s/%s/controller/v1/%s", http_is_tls(c->r) ? "https" : "http", host,
                 c->s->tenant, c->cid);
        return true;
}

json_t *ddi_href(const char *base, const char *fmt, ...)
{
        char tail[256], url[1400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tail, sizeof tail, fmt, ap);
        va_end(ap);
        snprintf(url, sizeof url, "%s%s", base, tail);
        return json_pack("{s:s}", "href", url);
}

json_t *ddi_deployment_json(struct ddi_ctx *c, const struct sdb_action *a, const struct sdb_bundle *b, bool installed)
{
        const char *dl = "forced", *up = "forced";
        if (!strcmp(a->action_type, "soft"))
                dl = up = "attempt";
        else if (!strcmp(a->action_type, "downloadonly"))
                up = "skip";
        char art_base[1400];
        snprintf(art_base, sizeof art_base, "%s/softwaremodules/%" PRId64 "/artifacts/%s", c->base, b->id, b->filename);
        json_t *links = json_pack("{s:{s:s}}", "download", "href", art_base);
        if (!strncmp(art_base, "http://", 7))
                json_object_set_new(links, "download-http", json_pack("{s:s}", "href", art_base));
        json_t *artifact = json_pack("{s:s, s:{s:s, s:s, s:s}, s:I, s:o}", "filename", b->filename, "hashes", "sha1",
                                     b->sha1, "md5", b->md5, "sha256", b->sha256, "size", (json_int_t)b->size,
                                     "_links", links);
        /* A .berth bundle is part "bApp", version its signed version; a plain artifact has
         * the software module's type (os, application, ...) and version text. */
        json_t *chunk = json_pack("{s:s, s:s, s:s, s:[o]}", "part", b->module_type, "version", b->module_version, "name",
                                  b->name, "artifacts", artifact);
        /* hawkBit's chunk metadata (software module metadata visible to targets): the
         * agreed key lets the deployment go past the agent's data budget. Without the
         * override there is no metadata key at all, as before. */
        if (a->budget_override)
                json_object_set_new(chunk, "metadata",
                                    json_pack("[{s:s, s:s}]", "key", "berth.budget", "value", "override"));
        json_t *dep = json_pack("{s:s, s:s, s:[o]}", "download", dl, "update", up, "chunks", chunk);
        if (a->mwindow[0] && !installed) {
                bool open = mwindow_open(a->mwindow, now_seconds());
                json_object_set_new(dep, "maintenanceWindow", json_string(open ? "available" : "unavailable"));
                if (!open)
                        json_object_set_new(dep, "update", json_string("skip"));
        }
        return dep;
}

void ddi_add_history(struct ddi_ctx *c, const struct sdb_action *a, json_t *j)
{
        /* hawkBit's ?actionHistory=N: the last N feedback messages (-1: all, 0: none). */
        const char *ah = http_query(c->r, "actionHistory");
        long n = ah ? strtol(ah, NULL, 10) : 0;
        _cleanup_free_ char *hist = NULL;
        if (n != 0 && sdb_action_history(c->s->db, a->id, n < 0 || n > 200 ? 200 : (int)n, &hist) > 0)
                json_object_set_new(j, "actionHistory",
                                    json_pack("{s:s, s:o}", "status", action_status_str(a->status), "messages",
                                              json_loads(hist, 0, NULL) ?: json_array()));
}

int ddi_load_action(struct ddi_ctx *c, const char *id_s, struct sdb_action *a)
{
        int64_t id;
        int k = ddi_parse_id(id_s, &id) ? sdb_action_get(c->s->db, c->t.id, id, a) : 0;
        if (k < 0)
                http_reply_error(c->r, 503, "server.db", "database unavailable, retry later");
        else if (k == 0)
                /* Another target's action looks exactly like a missing one. */
                http_reply_error(c->r, 404, "action.notFound", "action %s does not exist for target %s", id_s, c->cid);
        return k;
}

/* Answers 400 for a body parser's error; returns r. */
int ddi_bad_body(struct ddi_ctx *c, int r, const berr *e, const char *code)
{
        if (r == -ENOMEM)
                http_reply_error(c->r, 503, "server.oom", "out of memory, retry later");
        else
                http_reply_error(c->r, 400, r == -EBADMSG ? "request.malformedJson" : code, "%s", berr_msg(e, r));
        return r;
}
