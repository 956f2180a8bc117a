/* SPDX-License-Identifier: Apache-2.0 */
/* mgmt.c — management API handlers (see mgmt.h).
 *
 * A bundle upload is spooled to disk, hashed and verified against the trust dir, and only
 * then renamed into the artifact directory and recorded: a failing bundle is deleted and
 * never becomes deployable.
 */
#include "server-stub/mgmt/mgmt.h"

#include "server-stub/mgmt/mgmt_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "server-stub/artifact/artifact.h"
#include "server-stub/auth/auth.h"
#include "server-stub/core/server.h"
#include "server-stub/db/actions.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/db.h"
#include "server-stub/db/rollouts.h"
#include "server-stub/db/targets.h"
#include "server-stub/db/telemetry.h"
#include "server-stub/http/http.h"
#include "server-stub/rollout/plan.h"
#include "server-stub/rollout/rollout.h"
#include "server-stub/trust/trust.h"

#define MAX_BATCH 100000
#define TELEMETRY_LIMIT_DEFAULT 100
#define TELEMETRY_LIMIT_MAX 1000


static bool authorized(struct server *s, struct http_request *r)
{
        const char *tok;
        if (auth_parse(http_header(r, "Authorization"), &tok) == AUTH_BEARER && auth_equal(tok, s->admin_token))
                return true;
        http_add_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "auth.failed", "send 'Authorization: Bearer <admin token>'");
        return false;
}

int mgmt_spool(void *userdata, struct http_request *r)
{
        /* Unauthenticated uploads are refused before a single byte is stored. */
        if (!authorized(userdata, r))
                return -1;
        return !strcmp(http_method(r), "POST") &&
               (!strcmp(http_path(r), "/api/v1/bundles") || !strcmp(http_path(r), "/api/v1/artifacts"));
}


static int bundle_list_one(void *ud, const struct sdb_bundle *b)
{
        return json_array_append_new(ud, mgmt_bundle_json(b));
}

static json_t *parse_body(struct http_request *r)
{
        size_t len;
        const char *b = http_body(r, &len);
        json_error_t je;
        json_t *j = json_loadb(b, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                http_reply_error(r, 400, "request.malformedJson", "request body is not valid JSON: %s (line %d, column %d)",
                                 je.text, je.line, je.column);
        return j;
}

static void targets_add(struct server *s, struct http_request *r)
{
        json_t *j = parse_body(r);
        if (!j)
                return;
        json_t *arr = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
        json_decref(j);
        size_t n = json_array_size(arr);
        if (n == 0 || n > MAX_BATCH) {
                json_decref(arr);
                http_reply_error(r, 400, "targets.invalid", "send one target object or an array of 1 to %d", MAX_BATCH);
                return;
        }
        const char **cids = calloc(n, sizeof *cids), **hashes = calloc(n, sizeof *hashes), **attrs = calloc(n, sizeof *attrs);
        char (*hbuf)[AUTH_HASH_SIZE] = calloc(n, AUTH_HASH_SIZE);
        char (*tbuf)[33] = calloc(n, 33);
        json_t *out = json_array();
        int k = (!cids || !hashes || !attrs || !hbuf || !tbuf) ? -ENOMEM : 0;
        size_t i;
        json_t *t;
        json_array_foreach(arr, i, t) {
                if (k < 0)
                        break;
                const char *cid = json_string_value(json_object_get(t, "controllerId"));
                const char *tok = json_string_value(json_object_get(t, "token"));
                json_t *a = json_object_get(t, "attributes");
                bool cid_ok = cid && *cid && strlen(cid) <= SDB_CID_MAX && strspn(cid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == strlen(cid);
                if (!json_is_object(t) || !cid_ok || (tok && (strlen(tok) < 16 || strlen(tok) > 256)) || (a && !json_is_object(a))) {
                        json_decref(arr);
                        json_decref(out);
                        http_reply_error(r, 400, "targets.invalid",
                                         "target %zu: needs \"controllerId\" (1-%d of [A-Za-z0-9._:-]), optional \"token\" (16-256 chars) and \"attributes\" (object)",
                                         i, SDB_CID_MAX);
                        goto out;
                }
                if (!tok) {
                        auth_token_new(tbuf[i]);
                        tok = tbuf[i];
                }
                if (auth_token_hash(s->token_key, tok, hbuf[i]) < 0)
                        k = -EIO;
                cids[i] = cid;
                hashes[i] = hbuf[i];
                attrs[i] = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                json_array_append_new(out, json_pack("{s:s, s:s}", "controllerId", cid, "token", tok));
        }
        berr e = {0};
        if (k >= 0)
                k = sdb_targets_add_batch(s->db, n, cids, hashes, attrs, &e);
        if (k < 0) {
                json_decref(out);
                http_reply_error(r, 503, "targets.store", "%s", berr_msg(&e, k));
        } else
                http_reply_json(r, 201, out);
        json_decref(arr);
out:
        for (size_t x = 0; attrs && x < n; x++)
                free((char *)attrs[x]);
        free(cids);
        free(hashes);
        free(attrs);
        free(hbuf);
        free(tbuf);
}

static int append_text(void *ud, const char *text)
{
        json_t *o = json_loads(text, 0, NULL);
        return o ? json_array_append_new(ud, o) : -EBADMSG;
}

static void targets_list(struct server *s, struct http_request *r, const char *cid)
{
        const char *after = http_query(r, "after"), *limit = http_query(r, "limit");
        long long a = after ? atoll(after) : 0, l = limit ? atoll(limit) : 1000;
        if (l <= 0 || l > 10000)
                l = 1000;
        json_t *arr = json_array();
        int k = sdb_targets_list_filtered(s->db, a, (unsigned)l, cid ? cid : "", append_text, arr);
        if (k < 0) {
                json_decref(arr);
                http_reply_error(r, 503, "server.db", "cannot list targets");
                return;
        }
        /* Action status is stored as a number; name it for humans. */
        size_t i;
        json_t *t;
        json_array_foreach(arr, i, t) {
                json_t *ca = json_object_get(t, "currentAction");
                json_t *st = json_object_get(ca, "status");
                if (json_is_integer(st))
                        json_object_set_new(ca, "status", json_string(action_status_str((int)json_integer_value(st))));
        }
        if (cid) {
                if (json_array_size(arr) == 0)
                        http_reply_error(r, 404, "target.notFound", "target '%s' is not registered", cid);
                else
                        http_reply_json(r, 200, json_incref(json_array_get(arr, 0)));
                json_decref(arr);
                return;
        }
        http_reply_json(r, 200, arr);
}

/* A query parameter that must be a decimal integer in [min, max] when present. */
static bool query_num(struct http_request *r, const char *name, long long min, long long max, long long *ret)
{
        const char *v = http_query(r, name);
        if (!v)
                return true;
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || x < min || x > max)
                return false;
        *ret = x;
        return true;
}

static void target_telemetry(struct server *s, struct http_request *r, const char *cid)
{
        long long after = 0, limit = TELEMETRY_LIMIT_DEFAULT;
        if (!query_num(r, "after", 0, INT64_MAX, &after) || !query_num(r, "limit", 1, INT64_MAX, &limit)) {
                http_reply_error(r, 400, "telemetry.invalidQuery", "after must be a seq ≥ 0 and limit a number ≥ 1 "
                                                                   "(at most %d records are returned)", TELEMETRY_LIMIT_MAX);
                return;
        }
        if (limit > TELEMETRY_LIMIT_MAX)
                limit = TELEMETRY_LIMIT_MAX;
        _cleanup_free_ char *text = NULL;
        int k = sdb_target_telemetry_json(s->db, cid, after, (unsigned)limit, &text);
        json_t *o = k > 0 ? json_loads(text, 0, NULL) : NULL;
        if (k == 0)
                http_reply_error(r, 404, "target.notFound", "target '%s' is not registered", cid);
        else if (!o)
                http_reply_error(r, 503, "server.db", "cannot read the telemetry of target '%s'", cid);
        else
                http_reply_json(r, 200, o);
}

static bool parse_id(const char *s, int64_t *ret)
{
        char *end;
        if (!s || !*s)
                return false;
        long long v = strtoll(s, &end, 10);
        if (*end || v <= 0)
                return false;
        *ret = v;
        return true;
}

static void rollouts_list(struct server *s, struct http_request *r)
{
        _cleanup_free_ int64_t *ids = NULL;
        size_t n = 0;
        if (sdb_rollouts_ids(s->db, NULL, &ids, &n) < 0) {
                http_reply_error(r, 503, "server.db", "cannot list rollouts");
                return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *st = rollout_status(s, ids[i]);
                if (st)
                        json_array_append_new(arr, st);
        }
        http_reply_json(r, 200, arr);
}

static unsigned status_for(int k)
{
        switch (k) {
        case -ENOENT:
                return 404;
        case -EBUSY:
                return 409;
        case -EINVAL:
                return 400;
        default:
                return 503;
        }
}

/* GET /api/v1/rollouts/{id}/plan[?rate=BITS]: the rollout's cost before it starts. */
static void rollout_plan_get(struct server *s, struct http_request *r, int64_t id)
{
        uint64_t rate = PLAN_DEFAULT_RATE;
        const char *q = http_query(r, "rate");
        if (q) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(q, &end, 10);
                if (errno || !*q || *end || *q == '-' || v == 0) {
                        http_reply_error(r, 400, "rollout.invalid", "rate must be the link rate in bit/s (a positive integer)");
                        return;
                }
                rate = v;
        }
        berr e = {0};
        json_t *plan = NULL;
        int k = rollout_plan(s, id, rate, &plan, &e);
        if (k == -ENOENT)
                http_reply_error(r, 404, "rollout.notFound", "rollout %" PRId64 " does not exist", id);
        else if (k == -EMEDIUMTYPE)
                http_reply_error(r, 409, "rollout.plan", "%s", berr_msg(&e, k));
        else if (k < 0)
                http_reply_error(r, status_for(k), "rollout.plan", "%s", berr_msg(&e, k));
        else
                http_reply_json(r, 200, plan);
}

static void rollouts_create(struct server *s, struct http_request *r)
{
        json_t *j = parse_body(r);
        if (!j)
                return;
        berr e = {0};
        int64_t id;
        int k = rollout_create(s, j, &id, &e);
        json_decref(j);
        if (k < 0) {
                http_reply_error(r, k == -ENOENT ? 400 : status_for(k), "rollout.invalid", "%s", berr_msg(&e, k));
                return;
        }
        http_reply_json(r, 201, rollout_status(s, id));
}

static void action_show(struct server *s, struct http_request *r, const char *id_s)
{
        int64_t id;
        _cleanup_free_ char *text = NULL;
        if (!parse_id(id_s, &id) || sdb_action_json(s->db, id, &text) <= 0) {
                http_reply_error(r, 404, "action.notFound", "action %s does not exist", id_s);
                return;
        }
        json_t *o = json_loads(text, 0, NULL);
        json_t *st = json_object_get(o, "status");
        if (json_is_integer(st))
                json_object_set_new(o, "status", json_string(action_status_str((int)json_integer_value(st))));
        http_reply_json(r, 200, o);
}

static void action_cancel(struct server *s, struct http_request *r, const char *id_s)
{
        int64_t id;
        _cleanup_free_ char *text = NULL;
        if (!parse_id(id_s, &id) || sdb_action_json(s->db, id, &text) <= 0) {
                http_reply_error(r, 404, "action.notFound", "action %s does not exist", id_s);
                return;
        }
        int k = sdb_action_cancel(s->db, id);
        if (k < 0)
                http_reply_error(r, 503, "server.db", "cannot cancel action %s", id_s);
        else if (k == 0)
                http_reply_error(r, 409, "action.notOpen", "action %s is not open (already finished or canceling)", id_s);
        else {
                engine_kick(s->engine);
                action_show(s, r, id_s);
        }
}

void mgmt_handle(void *userdata, struct http_request *r)
{
        struct server *s = userdata;
        /* mgmt_spool() already checked the admin token before the body was read. */
        const char *m = http_method(r);
        char path[512];
        if (strlen(http_path(r)) >= sizeof path) {
                http_reply_error(r, 414, "request.uriTooLong", "request path is too long");
                return;
        }
        snprintf(path, sizeof path, "%s", http_path(r));
        char *seg[6];
        size_t n = 0;
        for (char *save = NULL, *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (n == ELEMENTSOF(seg)) {
                        n = 0;
                        break;
                }
                seg[n++] = t;
        }
        if (n < 3 || strcmp(seg[0], "api") || strcmp(seg[1], "v1")) {
                http_reply_error(r, 404, "request.notFound", "no such resource; the management API lives under /api/v1/");
                return;
        }
        bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
        const char *what = seg[2];
        if (!strcmp(what, "health") && n == 3 && get)
                http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
        else if (!strcmp(what, "bundles") && n == 3 && post)
                mgmt_bundle_upload(s, r);
        else if (!strcmp(what, "artifacts") && n == 3 && post)
                mgmt_artifact_upload(s, r);
        else if (!strcmp(what, "bundles") && n == 3 && get) {
                json_t *arr = json_array();
                sdb_bundles_list(s->db, bundle_list_one, arr);
                http_reply_json(r, 200, arr);
        } else if (!strcmp(what, "targets") && n == 3 && post)
                targets_add(s, r);
        else if (!strcmp(what, "targets") && n == 3 && get)
                targets_list(s, r, NULL);
        else if (!strcmp(what, "targets") && n == 4 && get)
                targets_list(s, r, seg[3]);
        else if (!strcmp(what, "targets") && n == 5 && get && !strcmp(seg[4], "telemetry"))
                target_telemetry(s, r, seg[3]);
        else if (!strcmp(what, "rollouts") && n == 3 && post)
                rollouts_create(s, r);
        else if (!strcmp(what, "rollouts") && n == 3 && get)
                rollouts_list(s, r);
        else if (!strcmp(what, "rollouts") && n >= 4) {
                int64_t id;
                if (!parse_id(seg[3], &id)) {
                        http_reply_error(r, 404, "rollout.notFound", "rollout %s does not exist", seg[3]);
                        return;
                }
                if (n == 4 && get) {
                        json_t *st = rollout_status(s, id);
                        if (st)
                                http_reply_json(r, 200, st);
                        else
                                http_reply_error(r, 404, "rollout.notFound", "rollout %s does not exist", seg[3]);
                } else if (n == 5 && get && !strcmp(seg[4], "plan"))
                        rollout_plan_get(s, r, id);
                else if (n == 5 && post) {
                        berr e = {0};
                        int k = rollout_command(s, id, seg[4], &e);
                        if (k < 0)
                                http_reply_error(r, status_for(k), "rollout.command", "%s", berr_msg(&e, k));
                        else
                                http_reply_json(r, 200, rollout_status(s, id));
                } else
                        http_reply_error(r, 405, "request.notSupported", "%s is not supported on %s", m, http_path(r));
        } else if (!strcmp(what, "trust") && n == 3 && get)
                trust_mgmt_get(s, r);
        else if (!strcmp(what, "trust") && n == 4 && !strcmp(seg[3], "roots") && post)
                trust_mgmt_post(s, r);
        else if (!strcmp(what, "actions") && n == 4 && get)
                action_show(s, r, seg[3]);
        else if (!strcmp(what, "actions") && n == 5 && post && !strcmp(seg[4], "cancel"))
                action_cancel(s, r, seg[3]);
        else
                http_reply_error(r, 405, "request.notSupported", "%s is not supported on %s", m, http_path(r));
}
