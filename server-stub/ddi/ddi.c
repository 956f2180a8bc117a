/* SPDX-License-Identifier: Apache-2.0 */
/* ddi.c — hawkBit DDI v1 handlers (see ddi.h).
 *
 * Auth order matters: credentials are checked with the same work whether or not the
 * target exists, and every failure is the same 401, so a caller learns nothing about which
 * controllerIds are registered. The poll path does two indexed lookups and no writes.
 */
#include "ddi/ddi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "artifact/artifact.h"
#include "auth/auth.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "core/server.h"
#include "db/db.h"
#include "ddi/body.h"
#include "http/http.h"
#include "rollout/rollout.h"
#include "trust/trust.h"

#define MAX_SEGMENTS 10

struct ddi_ctx {
        struct server *s;
        struct http_request *r;
        const char *cid;
        struct sdb_target t;
        char base[1024];        /* https://host/{tenant}/controller/v1/{cid} */
};

static bool cid_valid(const char *c)
{
        size_t n = strlen(c);
        if (n == 0 || n > SDB_CID_MAX)
                return false;
        for (; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("._:-", *c)))
                        return false;
        return true;
}

static bool parse_id(const char *s, int64_t *ret)
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

static void unauthorized(struct http_request *r)
{
        http_add_header(r, "WWW-Authenticate", "TargetToken");
        http_reply_error(r, 401, "auth.failed", "authentication failed: send a valid 'Authorization: TargetToken ...' "
                                                "or 'GatewayToken ...' header (or a client certificate)");
}

/* Returns 1 when authenticated (ctx->t filled), 0 when a reply was sent. */
static int authenticate(struct ddi_ctx *c)
{
        struct server *s = c->s;
        const char *cn = http_peer_cn(c->r);
        if (s->require_client_cert && !cn) {
                http_reply_error(c->r, 401, "auth.clientCert", "a client certificate signed by the server's client CA is required");
                return 0;
        }
        int found = sdb_target_get(s->db, c->cid, &c->t);
        if (found < 0) {
                http_reply_error(c->r, 503, "server.db", "database unavailable, retry later");
                return 0;
        }
        const char *tok;
        enum auth_scheme sch = auth_parse(http_header(c->r, "Authorization"), &tok);
        bool ok = false, gateway = false;
        if (sch == AUTH_TARGET_TOKEN) {
                char h[65];
                auth_token_hash(tok, h);
                /* Compare against a dummy when the target is unknown: same work, same answer. */
                static const char dummy[] = "0000000000000000000000000000000000000000000000000000000000000000";
                ok = auth_equal(h, found && c->t.token_hash[0] ? c->t.token_hash : dummy) && found && c->t.token_hash[0];
        } else if (sch == AUTH_GATEWAY_TOKEN) {
                ok = gateway = s->gateway_token && auth_equal(tok, s->gateway_token);
        } else if (sch == AUTH_NONE && cn && !strcmp(cn, c->cid)) {
                ok = gateway = true; /* the certificate names this very target */
        }
        if (!ok) {
                unauthorized(c->r);
                return 0;
        }
        if (!found) {
                /* Only reachable with a gateway token or a matching certificate. */
                if (!s->auto_register) {
                        http_reply_error(c->r, 404, "target.unknown",
                                         "target '%s' is not registered and auto-registration is off", c->cid);
                        return 0;
                }
                int k = sdb_target_add(s->db, c->cid, "", "{}", NULL);
                if ((k < 0 && k != -EEXIST) || sdb_target_get(s->db, c->cid, &c->t) <= 0) {
                        http_reply_error(c->r, 503, "server.db", "cannot register target '%s', retry later", c->cid);
                        return 0;
                }
                log_info("registered target %s (%s)", c->cid, gateway ? "gateway token or certificate" : "token");
        }
        return 1;
}

static void build_base(struct ddi_ctx *c)
{
        const char *host = http_header(c->r, "Host");
        if (c->s->public_url)
                snprintf(c->base, sizeof c->base, "%s/%s/controller/v1/%s", c->s->public_url, c->s->tenant, c->cid);
        else
                snprintf(c->base, sizeof c->base, "%s://%s/%s/controller/v1/%s", http_is_tls(c->r) ? "https" : "http",
                         host ? host : "localhost", c->s->tenant, c->cid);
}

static json_t *href(const char *base, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *href(const char *base, const char *fmt, ...)
{
        char tail[256], url[1400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tail, sizeof tail, fmt, ap);
        va_end(ap);
        snprintf(url, sizeof url, "%s%s", base, tail);
        return json_pack("{s:s}", "href", url);
}

static void base_poll(struct ddi_ctx *c)
{
        struct sdb_action a;
        int k = sdb_action_active(c->s->db, c->t.id, &a);
        if (k < 0) {
                http_reply_error(c->r, 503, "server.db", "database unavailable, retry later");
                return;
        }
        sdb_note_poll(c->s->db, c->t.id, now_seconds());
        json_t *links = json_object();
        if (k == 1 && a.status == ACTION_CANCELING)
                json_object_set_new(links, "cancelAction", href(c->base, "/cancelAction/%" PRId64, a.id));
        else if (k == 1)
                /* c= changes with the action so caches never serve a stale deployment. */
                json_object_set_new(links, "deploymentBase",
                                    href(c->base, "/deploymentBase/%" PRId64 "?c=%" PRId64, a.id, a.id * 31 + a.bundle_id));
        if (c->t.attrs_requested)
                json_object_set_new(links, "configData", href(c->base, "/configData"));
        if (c->t.installed_action > 0)
                json_object_set_new(links, "installedBase", href(c->base, "/installedBase/%" PRId64, c->t.installed_action));
        json_t *roots = trust_poll_link(c->s, c->base);
        if (roots)
                json_object_set_new(links, "trustRoots", roots);
        http_reply_json(c->r, 200,
                        json_pack("{s:{s:{s:s}}, s:o}", "config", "polling", "sleep", c->s->polling_sleep, "_links", links));
}

static json_t *deployment_json(struct ddi_ctx *c, const struct sdb_action *a, const struct sdb_bundle *b, bool installed)
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
        char version[32];
        snprintf(version, sizeof version, "%" PRId64, b->version);
        json_t *artifact = json_pack("{s:s, s:{s:s, s:s, s:s}, s:I, s:o}", "filename", b->filename, "hashes", "sha1",
                                     b->sha1, "md5", b->md5, "sha256", b->sha256, "size", (json_int_t)b->size,
                                     "_links", links);
        json_t *chunk = json_pack("{s:s, s:s, s:s, s:[o]}", "part", "bApp", "version", version, "name", b->name,
                                  "artifacts", artifact);
        json_t *dep = json_pack("{s:s, s:s, s:[o]}", "download", dl, "update", up, "chunks", chunk);
        if (a->mwindow[0] && !installed) {
                bool open = mwindow_open(a->mwindow, now_seconds());
                json_object_set_new(dep, "maintenanceWindow", json_string(open ? "available" : "unavailable"));
                if (!open)
                        json_object_set_new(dep, "update", json_string("skip"));
        }
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, a->id);
        return json_pack("{s:s, s:o}", "id", id, "deployment", dep);
}

static int load_action(struct ddi_ctx *c, const char *id_s, struct sdb_action *a)
{
        int64_t id;
        int k = parse_id(id_s, &id) ? sdb_action_get(c->s->db, c->t.id, id, a) : 0;
        if (k < 0)
                http_reply_error(c->r, 503, "server.db", "database unavailable, retry later");
        else if (k == 0)
                /* Another target's action looks exactly like a missing one. */
                http_reply_error(c->r, 404, "action.notFound", "action %s does not exist for target %s", id_s, c->cid);
        return k;
}

static void deployment_base(struct ddi_ctx *c, const char *id_s, bool installed)
{
        struct sdb_action a;
        struct sdb_bundle b;
        if (load_action(c, id_s, &a) <= 0)
                return;
        if (installed && a.status != ACTION_SUCCESS) {
                http_reply_error(c->r, 404, "action.notInstalled", "action %s was not installed on target %s", id_s, c->cid);
                return;
        }
        if (sdb_bundle_get(c->s->db, a.bundle_id, &b) <= 0) {
                http_reply_error(c->r, 404, "bundle.notFound", "the bundle of action %s no longer exists", id_s);
                return;
        }
        json_t *j = deployment_json(c, &a, &b, installed);
        /* hawkBit's ?actionHistory=N: the last N feedback messages (-1: all, 0: none). */
        const char *ah = http_query(c->r, "actionHistory");
        long n = ah ? strtol(ah, NULL, 10) : 0;
        _cleanup_free_ char *hist = NULL;
        if (n != 0 && sdb_action_history(c->s->db, a.id, n < 0 || n > 200 ? 200 : (int)n, &hist) > 0)
                json_object_set_new(j, "actionHistory",
                                    json_pack("{s:s, s:o}", "status", action_status_str(a.status), "messages",
                                              json_loads(hist, 0, NULL) ?: json_array()));
        http_reply_json(c->r, 200, j);
}

/* Answers 400 for a body parser's error; returns r. */
static int bad_body(struct ddi_ctx *c, int r, const berr *e, const char *code)
{
        if (r == -ENOMEM)
                http_reply_error(c->r, 503, "server.oom", "out of memory, retry later");
        else
                http_reply_error(c->r, 400, r == -EBADMSG ? "request.malformedJson" : code, "%s", berr_msg(e, r));
        return r;
}

static void feedback(struct ddi_ctx *c, const char *id_s, bool cancel)
{
        struct sdb_action a;
        if (load_action(c, id_s, &a) <= 0)
                return;
        size_t len;
        const char *body = http_body(c->r, &len);
        struct ddi_feedback fb;
        berr e = {0};
        int k = ddi_parse_feedback(body, len, &fb, &e);
        if (k < 0) {
                bad_body(c, k, &e, "feedback.invalid");
                return;
        }
        if (!a.active) {
                ddi_feedback_done(&fb);
                http_reply_error(c->r, 410, "action.closed", "action %s is already closed (%s)", id_s, action_status_str(a.status));
                return;
        }
        int st;
        bool closed = !strcmp(fb.execution, "closed");
        if (cancel) {
                if (a.status != ACTION_CANCELING) {
                        ddi_feedback_done(&fb);
                        http_reply_error(c->r, 404, "action.notCanceling", "action %s has no pending cancellation", id_s);
                        return;
                }
                if ((closed || !strcmp(fb.execution, "canceled")) && strcmp(fb.finished, "failure"))
                        st = ACTION_CANCELED;
                else if (!strcmp(fb.execution, "rejected") || !strcmp(fb.finished, "failure"))
                        st = ACTION_RUNNING; /* the target refused to stop; the update goes on */
                else
                        st = ACTION_CANCELING;
        } else {
                /* hawkBit: "closed" with "none" counts as success. */
                if (closed)
                        st = !strcmp(fb.finished, "failure") ? ACTION_FAILURE : ACTION_SUCCESS;
                else if (!strcmp(fb.execution, "canceled"))
                        st = ACTION_CANCELED;
                else
                        st = a.status == ACTION_CANCELING ? ACTION_CANCELING : ACTION_RUNNING;
        }
        struct sdb_feedback f = {
                .execution = fb.execution, .finished = fb.finished, .progress_cnt = fb.progress_cnt,
                .progress_of = fb.progress_of, .code = fb.code, .details_json = fb.details_json,
        };
        k = sdb_action_feedback(c->s->db, &a, &f, st);
        ddi_feedback_done(&fb);
        if (k == -ESTALE) {
                http_reply_error(c->r, 410, "action.closed", "action %s was closed meanwhile", id_s);
                return;
        }
        if (k < 0) {
                http_reply_error(c->r, 503, "server.db", "cannot store feedback, retry later");
                return;
        }
        if (st != a.status)
                engine_kick(c->s->engine);
        http_reply_empty(c->r, 200);
}

static void cancel_action(struct ddi_ctx *c, const char *id_s)
{
        struct sdb_action a;
        if (load_action(c, id_s, &a) <= 0)
                return;
        if (a.status != ACTION_CANCELING) {
                http_reply_error(c->r, 404, "action.notCanceling", "action %s has no pending cancellation", id_s);
                return;
        }
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, a.id);
        http_reply_json(c->r, 200, json_pack("{s:s, s:{s:s}}", "id", id, "cancelAction", "stopId", id));
}

static void config_data(struct ddi_ctx *c)
{
        size_t len;
        const char *body = http_body(c->r, &len);
        _cleanup_free_ char *current = NULL, *attrs = NULL;
        berr e = {0};
        if (sdb_target_attrs(c->s->db, c->t.id, &current) < 0) {
                http_reply_error(c->r, 503, "server.db", "database unavailable, retry later");
                return;
        }
        struct tm_batch tm = {0};
        int k = ddi_apply_config_data(body, len, current, &attrs, &tm, &e);
        if (k < 0) {
                bad_body(c, k, &e, "configData.invalid");
                return;
        }
        struct sdb_tm_record rec[TM_MAX_RECORDS];
        struct sdb_tm_batch b = {.queue = tm.queue, .first = tm.first, .last = tm.last, .dropped = tm.dropped,
                                 .pending = tm.pending, .n = k > 0 ? tm.n : 0, .rec = rec};
        for (size_t i = 0; i < b.n; i++)
                rec[i] = (struct sdb_tm_record){tm.rec[i].seq, tm.rec[i].ts, tm.rec[i].kind, tm.rec[i].source,
                                                tm.rec[i].text};
        /* Attributes and telemetry commit together: a 200 means both are stored. A request
         * with telemetry only leaves the attributes alone, and so does not answer the
         * server's request for them (the configData link of the poll). */
        k = sdb_target_config_data(c->s->db, c->t.id, k == 2 ? NULL : attrs, k > 0 ? &b : NULL, c->s->telemetry_keep);
        if (k < 0) {
                http_reply_error(c->r, 503, "server.db", "cannot store attributes and telemetry, retry later");
                return;
        }
        http_reply_empty(c->r, 200);
}

static void installed_base(struct ddi_ctx *c, bool put)
{
        if (put) {
                size_t len;
                const char *body = http_body(c->r, &len);
                char name[DDI_MAX_NAME + 1], version[DDI_MAX_VERSION + 1];
                berr e = {0};
                int k = ddi_parse_installed(body, len, name, version, &e);
                if (k < 0) {
                        bad_body(c, k, &e, "installedBase.invalid");
                        return;
                }
                if (sdb_target_set_reported(c->s->db, c->t.id, name, version) < 0)
                        http_reply_error(c->r, 503, "server.db", "cannot store the installed version, retry later");
                else
                        http_reply_empty(c->r, 200);
                return;
        }
        struct sdb_bundle b;
        if (c->t.installed_bundle > 0 && sdb_bundle_get(c->s->db, c->t.installed_bundle, &b) > 0)
                http_reply_json(c->r, 200, json_pack("{s:s, s:I, s:I, s:I}", "name", b.name, "version", (json_int_t)b.version,
                                                     "bundleId", (json_int_t)b.id, "actionId",
                                                     (json_int_t)c->t.installed_action));
        else
                http_reply_error(c->r, 404, "installedBase.none", "no installation through this server is known for %s", c->cid);
}

static void artifact(struct ddi_ctx *c, const char *bid_s, const char *filename)
{
        int64_t bid;
        struct sdb_bundle b;
        if (!parse_id(bid_s, &bid) || sdb_target_has_bundle(c->s->db, c->t.id, bid) <= 0 ||
            sdb_bundle_get(c->s->db, bid, &b) <= 0 || strcmp(b.filename, filename)) {
                http_reply_error(c->r, 404, "artifact.notFound", "artifact %s/%s is not assigned to target %s", bid_s, filename,
                                 c->cid);
                return;
        }
        artifact_serve(c->r, b.path, b.filename, b.size, b.sha256);
}

void ddi_handle(void *userdata, struct http_request *r)
{
        struct server *s = userdata;
        const char *method = http_method(r);
        char path[2048];
        if (strlen(http_path(r)) >= sizeof path) {
                http_reply_error(r, 414, "request.uriTooLong", "request path is too long");
                return;
        }
        snprintf(path, sizeof path, "%s", http_path(r));
        char *seg[MAX_SEGMENTS];
        size_t n = 0;
        for (char *save = NULL, *tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (n == MAX_SEGMENTS) {
                        http_reply_error(r, 404, "request.notFound", "no such resource");
                        return;
                }
                seg[n++] = tok;
        }
        if (n < 4 || strcasecmp(seg[0], s->tenant) || strcmp(seg[1], "controller") || strcmp(seg[2], "v1")) {
                http_reply_error(r, 404, "request.notFound", "no such resource (DDI paths are /%s/controller/v1/{controllerId}/...)",
                                 s->tenant);
                return;
        }
        if (!cid_valid(seg[3])) {
                http_reply_error(r, 400, "target.invalidId", "controllerId must be 1-%d characters of [A-Za-z0-9._:-]",
                                 SDB_CID_MAX);
                return;
        }
        struct ddi_ctx c = {.s = s, .r = r, .cid = seg[3]};
        if (authenticate(&c) <= 0)
                return;
        build_base(&c);
        bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        bool post = !strcmp(method, "POST"), put = !strcmp(method, "PUT");
        const char *what = n > 4 ? seg[4] : "";

        if (n == 4 && get)
                base_poll(&c);
        else if (!strcmp(what, "deploymentBase") && n == 6 && get)
                deployment_base(&c, seg[5], false);
        else if (!strcmp(what, "deploymentBase") && n == 7 && !strcmp(seg[6], "feedback") && post)
                feedback(&c, seg[5], false);
        else if (!strcmp(what, "cancelAction") && n == 6 && get)
                cancel_action(&c, seg[5]);
        else if (!strcmp(what, "cancelAction") && n == 7 && !strcmp(seg[6], "feedback") && post)
                feedback(&c, seg[5], true);
        else if (!strcmp(what, "configData") && n == 5 && put)
                config_data(&c);
        else if (!strcmp(what, "installedBase") && n == 6 && get)
                deployment_base(&c, seg[5], true);
        else if (!strcmp(what, "installedBase") && n == 5 && (get || put))
                installed_base(&c, put);
        else if (!strcmp(what, "trustRoots") && n == 5 && get)
                trust_ddi_roots(s, r);
        else if (!strcmp(what, "softwaremodules") && n == 8 && !strcmp(seg[6], "artifacts") && get)
                artifact(&c, seg[5], seg[7]);
        else
                http_reply_error(r, 405, "request.notSupported", "%s is not supported on %s", method, http_path(r));
}
