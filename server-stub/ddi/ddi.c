/* SPDX-License-Identifier: Apache-2.0 */
/* ddi.c — hawkBit DDI v1 handlers (see ddi.h).
 *
 * Auth order matters: credentials are checked with the same work whether or not the
 * target exists, and every failure is the same 401, so a caller learns nothing about which
 * controllerIds are registered. The poll path does two indexed lookups and no writes.
 */
#include "server-stub/ddi/ddi.h"

#include "server-stub/ddi/ddi_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "server-stub/artifact/artifact.h"
#include "server-stub/auth/auth.h"
#include "server-stub/core/server.h"
#include "server-stub/db/actions.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/consent.h"
#include "server-stub/db/db.h"
#include "server-stub/db/targets.h"
#include "server-stub/db/telemetry.h"
#include "server-stub/ddi/body.h"
#include "server-stub/http/http.h"
#include "server-stub/rollout/rollout.h"
#include "server-stub/trust/trust.h"

#define MAX_SEGMENTS 10

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
                /* An unknown target is checked against "": same work, same answer. */
                int m = auth_token_check(s->token_key, tok, found ? c->t.token_hash : "");
                ok = found && m > 0;
                char h[AUTH_HASH_SIZE];
                /* A hash from before the token key: store the keyed one (once, on first use). */
                if (ok && m == AUTH_MATCH_LEGACY && auth_token_hash(s->token_key, tok, h) == 0 &&
                    sdb_target_rekey(s->db, c->t.id, c->t.token_hash, h) == 0)
                        log_info("target %s: token hash re-keyed (HMAC-SHA256 under the token key)", c->cid);
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

/* Whether an If-None-Match header (a list of entity tags, weak or strong, or "*") names
 * etag (a quoted strong tag). */
static bool etag_listed(const char *inm, const char *etag)
{
        size_t n = strlen(etag);
        for (const char *p = inm; p && *p;) {
                p += strspn(p, " \t,");
                if (!strncmp(p, "W/", 2))
                        p += 2;
                size_t k = strcspn(p, " \t,");
                if ((k == 1 && *p == '*') || (k == n && !strncmp(p, etag, n)))
                        return true;
                p += k;
        }
        return false;
}

/* Answers a poll: 200 with the body and its ETag, or 304 when the client already holds
 * that body (If-None-Match). The ETag is a digest of the body itself, so it changes with
 * everything a target should see: a new or canceled action, a confirmation asked for,
 * the request for attributes, the polling time, an installed version. */
static void reply_poll(struct http_request *r, json_t *body)
{
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        uint8_t d[32];
        if (!text || sha256_buf_raw(text, strlen(text), d) < 0) {
                http_reply_json(r, 200, body);
                return;
        }
        char etag[40] = "\"";
        hex_encode(d, 16, etag + 1);
        strcat(etag, "\"");
        http_add_header(r, "ETag", etag);
        http_add_header(r, "Cache-Control", "no-cache");
        const char *inm = http_header(r, "If-None-Match");
        if (inm && etag_listed(inm, etag)) {
                json_decref(body);
                http_reply_empty(r, 304);
                return;
        }
        http_reply_json(r, 200, body);
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
                json_object_set_new(links, "cancelAction", ddi_href(c->base, "/cancelAction/%" PRId64, a.id));
        else if (k == 1 && sdb_confirmation_pending(a.confirmation))
                /* The deployment is only linked once the target confirmed it. */
                json_object_set_new(links, "confirmationBase",
                                    ddi_href(c->base, "/confirmationBase/%" PRId64 "?c=%" PRId64, a.id,
                                             a.id * 31 + a.bundle_id));
        else if (k == 1)
                /* c= changes with the action so caches never serve a stale deployment. */
                json_object_set_new(links, "deploymentBase",
                                    ddi_href(c->base, "/deploymentBase/%" PRId64 "?c=%" PRId64, a.id, a.id * 31 + a.bundle_id));
        if (c->t.attrs_requested)
                json_object_set_new(links, "configData", ddi_href(c->base, "/configData"));
        if (c->t.installed_action > 0)
                json_object_set_new(links, "installedBase", ddi_href(c->base, "/installedBase/%" PRId64, c->t.installed_action));
        json_t *roots = trust_poll_link(c->s, c->base);
        if (roots)
                json_object_set_new(links, "trustRoots", roots);
        reply_poll(c->r, json_pack("{s:{s:{s:s}}, s:o}", "config", "polling", "sleep", c->s->polling_sleep, "_links", links));
}

static void deployment_base(struct ddi_ctx *c, const char *id_s, bool installed)
{
        struct sdb_action a;
        struct sdb_bundle b;
        if (ddi_load_action(c, id_s, &a) <= 0)
                return;
        if (installed && a.status != ACTION_SUCCESS) {
                http_reply_error(c->r, 404, "action.notInstalled", "action %s was not installed on target %s", id_s, c->cid);
                return;
        }
        if (!installed && a.active && sdb_confirmation_pending(a.confirmation)) {
                /* As hawkBit: no deployment before the target confirmed it (confirmationBase). */
                http_reply_error(c->r, 404, "action.awaitingConfirmation",
                                 "action %s waits for confirmation: see confirmationBase/%s", id_s, id_s);
                return;
        }
        if (sdb_bundle_get(c->s->db, a.bundle_id, &b) <= 0) {
                http_reply_error(c->r, 404, "bundle.notFound", "the bundle of action %s no longer exists", id_s);
                return;
        }
        char id[32];
        snprintf(id, sizeof id, "%" PRId64, a.id);
        json_t *j = json_pack("{s:s, s:o}", "id", id, "deployment", ddi_deployment_json(c, &a, &b, installed));
        ddi_add_history(c, &a, j);
        http_reply_json(c->r, 200, j);
}

static void feedback(struct ddi_ctx *c, const char *id_s, bool cancel)
{
        struct sdb_action a;
        if (ddi_load_action(c, id_s, &a) <= 0)
                return;
        size_t len;
        const char *body = http_body(c->r, &len);
        struct ddi_feedback fb;
        berr e = {0};
        int k = ddi_parse_feedback(body, len, &fb, &e);
        if (k < 0) {
                ddi_bad_body(c, k, &e, "feedback.invalid");
                return;
        }
        if (!a.active) {
                ddi_feedback_done(&fb);
                http_reply_error(c->r, 410, "action.closed", "action %s is already closed (%s)", id_s, action_status_str(a.status));
                return;
        }
        if (!cancel && sdb_confirmation_pending(a.confirmation)) {
                ddi_feedback_done(&fb);
                http_reply_error(c->r, 404, "action.awaitingConfirmation",
                                 "action %s waits for confirmation: answer confirmationBase/%s/feedback first", id_s, id_s);
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
                else if (!strcmp(a.action_type, "downloadonly") && !strcmp(fb.execution, "downloaded") &&
                         strcmp(fb.finished, "none"))
                        /* hawkBit: "downloaded" ends a download-only action. */
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
        if (ddi_load_action(c, id_s, &a) <= 0)
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
                ddi_bad_body(c, k, &e, "configData.invalid");
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
                        ddi_bad_body(c, k, &e, "installedBase.invalid");
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
                http_reply_json(c->r, 200,
                                json_pack("{s:s, s:o, s:I, s:I}", "name", b.name, "version",
                                          strcmp(b.kind, "plain") ? json_integer((json_int_t)b.version)
                                                                  : json_string(b.module_version),
                                          "bundleId", (json_int_t)b.id, "actionId", (json_int_t)c->t.installed_action));
        else
                http_reply_error(c->r, 404, "installedBase.none", "no installation through this server is known for %s", c->cid);
}

static void artifact(struct ddi_ctx *c, const char *bid_s, const char *filename)
{
        int64_t bid;
        struct sdb_bundle b;
        if (!ddi_parse_id(bid_s, &bid) || sdb_target_has_bundle(c->s->db, c->t.id, bid) <= 0 ||
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
        if (!ddi_build_base(&c) || authenticate(&c) <= 0)
                return;
        bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        bool post = !strcmp(method, "POST"), put = !strcmp(method, "PUT");
        const char *what = n > 4 ? seg[4] : "";

        if (n == 4 && get)
                base_poll(&c);
        else if (!strcmp(what, "deploymentBase") && n == 6 && get)
                deployment_base(&c, seg[5], false);
        else if (!strcmp(what, "deploymentBase") && n == 7 && !strcmp(seg[6], "feedback") && post)
                feedback(&c, seg[5], false);
        else if (!strcmp(what, "confirmationBase") && n == 5 && get)
                ddi_confirmation_base(&c);
        else if (!strcmp(what, "confirmationBase") && n == 6 && (post || put) &&
                 (!strcmp(seg[5], "activateAutoConfirm") || !strcmp(seg[5], "deactivateAutoConfirm")))
                ddi_autoconfirm(&c, !strcmp(seg[5], "activateAutoConfirm"));
        else if (!strcmp(what, "confirmationBase") && n == 6 && get)
                ddi_confirmation_action(&c, seg[5]);
        else if (!strcmp(what, "confirmationBase") && n == 7 && !strcmp(seg[6], "feedback") && post)
                ddi_confirmation_feedback(&c, seg[5]);
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
