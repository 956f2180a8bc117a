/* SPDX-License-Identifier: Apache-2.0 */
/* uploads.c — what an operator uploads: .berth bundles (verified against the trust dir)
 * and plain artifacts (any file, checked against the sha256 and size announced with it,
 * for third-party DDI clients such as SWUpdate or RAUC). A failing upload is deleted and
 * never becomes deployable.
 */
#include "server-stub/mgmt/mgmt_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "server-stub/artifact/artifact.h"
#include "server-stub/core/server.h"
#include "server-stub/db/bundles.h"
#include "server-stub/http/http.h"

bool mgmt_name_ok(const char *n)
{
        if (!n || !*n || strlen(n) > 100 || n[0] == '.' || n[0] == '-')
                return false;
        for (; *n; n++)
                if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') || strchr("._-", *n)))
                        return false;
        return true;
}

json_t *mgmt_bundle_json(const struct sdb_bundle *b)
{
        bool plain = !strcmp(b->kind, "plain");
        /* A bundle's version is its signed number; an artifact's the text it was given. */
        json_t *version = plain ? json_string(b->module_version) : json_integer((json_int_t)b->version);
        return json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:I, s:{s:s, s:s, s:s}}", "id", (json_int_t)b->id, "kind",
                         b->kind[0] ? b->kind : "berth", "name", b->name, "version", version, "type", b->module_type,
                         "filename", b->filename, "size", (json_int_t)b->size, "hashes", "sha256", b->sha256, "sha1",
                         b->sha1, "md5", b->md5);
}

/* Moves the verified upload into the artifact directory and records it: the file is in
 * place (and durable) before the row that makes it deployable. Answers 201 or an error. */
static void store(struct server *s, struct http_request *r, const char *spool, struct sdb_bundle *b)
{
        berr e = {0};
        if (rename(spool, b->path) < 0 || fsync_dir(s->artifacts_dir) < 0) {
                unlink(spool);
                http_reply_error(r, 507, "bundle.store", "cannot store the upload in %s: %s", s->artifacts_dir,
                                 strerror(errno));
                return;
        }
        int k = sdb_bundle_add(s->db, b, &e);
        if (k < 0) {
                http_reply_error(r, k == -EEXIST ? 409 : 503, "bundle.store", "%s", berr_msg(&e, k));
                return;
        }
        log_info("%s %s version %s uploaded (id %" PRId64 ", %" PRIu64 " bytes)", b->kind, b->name, b->module_version,
                 b->id, b->size);
        http_reply_json(r, 201, mgmt_bundle_json(b));
}

void mgmt_bundle_upload(struct server *s, struct http_request *r)
{
        _cleanup_free_ char *spool = http_spool_take(r);
        if (!spool) {
                http_reply_error(r, 400, "bundle.noBody", "send the .berth file as the request body");
                return;
        }
        berr e = {0};
        struct artifact_hashes h;
        _cleanup_free_ char *name = NULL;
        int64_t version = 0;
        int k = artifact_hash_file(spool, &h, &e);
        if (k >= 0) {
                if (s->insecure_skip_verify) {
                        const char *qn = http_query(r, "name"), *qv = http_query(r, "version");
                        char *end = NULL;
                        version = qv ? strtoll(qv, &end, 10) : 0;
                        if (!mgmt_name_ok(qn) || !qv || *end || version <= 0)
                                k = berr_set(&e, -EINVAL, "bundles.insecure_skip_verify is on: pass ?name=NAME&version=N");
                        else
                                name = strdup(qn);
                } else
                        k = artifact_verify_bundle(spool, s->trust_dir, s->state_dir, &name, &version, &e);
        }
        if (k < 0) {
                unlink(spool);
                log_warning("rejected bundle upload: %s", berr_msg(&e, k));
                http_reply_error(r, k == -EOPNOTSUPP ? 501 : 422, "bundle.rejected", "bundle rejected: %s", berr_msg(&e, k));
                return;
        }
        struct sdb_bundle b = {0};
        snprintf(b.name, sizeof b.name, "%s", name);
        b.version = version;
        snprintf(b.filename, sizeof b.filename, "%s-%" PRId64 ".berth", name, version);
        snprintf(b.path, sizeof b.path, "%s/%s.berth", s->artifacts_dir, h.sha256);
        b.size = h.size;
        memcpy(b.sha256, h.sha256, sizeof b.sha256);
        memcpy(b.sha1, h.sha1, sizeof b.sha1);
        memcpy(b.md5, h.md5, sizeof b.md5);
        snprintf(b.module_version, sizeof b.module_version, "%" PRId64, version);
        store(s, r, spool, &b);
}

/* A query parameter of 1 to max bytes, all from allowed (and not starting with '.' or '-'). */
static const char *query_word(struct http_request *r, const char *name, size_t max, const char *allowed)
{
        const char *v = http_query(r, name);
        if (!v || !*v || strlen(v) > max || strspn(v, allowed) != strlen(v) || v[0] == '.' || v[0] == '-')
                return NULL;
        return v;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

void mgmt_artifact_upload(struct server *s, struct http_request *r)
{
        _cleanup_free_ char *spool = http_spool_take(r);
        if (!spool) {
                http_reply_error(r, 400, "artifact.noBody", "send the file as the request body");
                return;
        }
        const char *name = http_query(r, "name");
        const char *version = query_word(r, "version", 64, ALNUM "._+~-");
        const char *type = query_word(r, "type", 32, "abcdefghijklmnopqrstuvwxyz0123456789_-");
        const char *filename = query_word(r, "filename", SDB_NAME_MAX, ALNUM "._+-");
        const char *sha = http_query(r, "sha256"), *size_s = http_query(r, "size");
        char *end = NULL;
        unsigned long long size = size_s && *size_s ? strtoull(size_s, &end, 10) : 0;
        if (!mgmt_name_ok(name) || !version || !type || !filename || !sha || strlen(sha) != 64 ||
            strspn(sha, "0123456789abcdef") != 64 || !end || *end) {
                unlink(spool);
                http_reply_error(r, 400, "artifact.invalid",
                                 "pass ?name=NAME&version=V&type=T&filename=F&sha256=HEX&size=BYTES: name as a bundle's, "
                                 "version 1-64 of [A-Za-z0-9._+~-], type 1-32 of [a-z0-9_-] (e.g. os, application), "
                                 "filename 1-%d of [A-Za-z0-9._+-] not starting with '.', sha256 64 lowercase hex "
                                 "digits, size in bytes", SDB_NAME_MAX);
                return;
        }
        berr e = {0};
        struct artifact_hashes h;
        int k = artifact_hash_file(spool, &h, &e);
        if (k >= 0 && h.size != size)
                k = berr_set(&e, -EBADMSG, "the upload has %" PRIu64 " bytes, %llu were announced", h.size, size);
        else if (k >= 0 && strcmp(h.sha256, sha))
                k = berr_set(&e, -EBADMSG, "the upload's sha256 is %s, %s was announced", h.sha256, sha);
        if (k < 0) {
                unlink(spool);
                log_warning("rejected artifact upload %s: %s", filename, berr_msg(&e, k));
                http_reply_error(r, 422, "artifact.rejected", "artifact rejected: %s", berr_msg(&e, k));
                return;
        }
        struct sdb_bundle b = {.size = h.size};
        snprintf(b.kind, sizeof b.kind, "plain");
        snprintf(b.name, sizeof b.name, "%s", name);
        snprintf(b.module_type, sizeof b.module_type, "%s", type);
        snprintf(b.module_version, sizeof b.module_version, "%s", version);
        snprintf(b.filename, sizeof b.filename, "%s", filename);
        snprintf(b.path, sizeof b.path, "%s/%s.artifact", s->artifacts_dir, h.sha256);
        memcpy(b.sha256, h.sha256, sizeof b.sha256);
        memcpy(b.sha1, h.sha1, sizeof b.sha1);
        memcpy(b.md5, h.md5, sizeof b.md5);
        store(s, r, spool, &b);
}
