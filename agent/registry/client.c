/* SPDX-License-Identifier: Apache-2.0 */
/* client.c — see client.h: the client object (options, clone for worker threads,
 * statistics, the blobs this run saw) and the checks for blobs and manifests.
 * The HTTP exchange is in transport.c, credentials in token.c, uploads in upload.c;
 * client_int.h holds what they share. */
#include "registry/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "net/http.h"
#include "registry/auth.h"
#include "registry/reference.h"
#include "registry/client_int.h"

const char *registry_client_url(const struct registry_client *c) { return c->url; }
const char *registry_client_prefix(const struct registry_client *c) { return c->prefix ? c->prefix : ""; }
const struct registry_stats *registry_client_stats(const struct registry_client *c) { return &c->stats; }

static int read_password_file(const char *path, char **ret, berr *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_bounded(path, 4096, &buf, &len);
        if (r < 0)
                return berr_set(e, r, "cannot read registry password file %s (%s): check registry.password_file",
                                path, strerror(-r));
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                buf[--len] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

int registry_client_new(const struct registry_opts *o, struct registry_client **ret, berr *e)
{
        if (!o->url || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)))
                return berr_set(e, -EINVAL, "registry URL '%s' is not http:// or https://: set registry.url or --registry",
                                o->url ? o->url : "");
        const char *hostpart = strstr(o->url, "://") + 3;
        const char *slash = strchr(hostpart, '/');
        if (!*hostpart || hostpart[0] == '/' || (slash && slash[1]) || strpbrk(hostpart, "?#@ \t"))
                return berr_set(e, -EINVAL,
                                "registry URL '%s' must be scheme://host[:port] without a path: fix registry.url",
                                o->url);
        uint64_t chunk = o->chunk_size ? o->chunk_size : REGISTRY_DEFAULT_CHUNK_SIZE;
        if (chunk < REGISTRY_MIN_CHUNK_SIZE || chunk > (uint64_t)1 << 32)
                return berr_set(e, -EINVAL, "registry chunk size %" PRIu64 " is outside 64 KiB..4 GiB", chunk);

        _cleanup_(registry_client_freep) struct registry_client *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->url = strndup(o->url, slash ? (size_t)(slash - o->url) : strlen(o->url));
        c->ca_file = o->ca_file && o->ca_file[0] ? strdup(o->ca_file) : NULL;
        c->username = o->username && o->username[0] ? strdup(o->username) : NULL;
        c->prefix = strdup(o->prefix ? o->prefix : "");
        c->journal_dir = o->journal_dir ? strdup(o->journal_dir) : NULL;
        if (!c->url || !c->prefix || (o->ca_file && o->ca_file[0] && !c->ca_file) ||
            (o->username && o->username[0] && !c->username) || (o->journal_dir && !c->journal_dir))
                return -ENOMEM;
        if (o->password) {
                if (!(c->password = strdup(o->password)))
                        return -ENOMEM;
        } else if (o->password_file && o->password_file[0]) {
                int r = read_password_file(o->password_file, &c->password, e);
                if (r < 0)
                        return r;
        }
        if (c->ca_file && access(c->ca_file, R_OK) < 0)
                return berr_set(e, -errno, "registry CA file %s is not readable (%m): check --registry-ca or registry.ca_file",
                                c->ca_file);
        c->insecure = o->insecure;
        c->chunk_size = chunk;
        c->monolithic_max = o->monolithic_max ? o->monolithic_max : REGISTRY_DEFAULT_MONOLITHIC_MAX;
        c->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
        c->parallel = o->parallel ? o->parallel : REGISTRY_DEFAULT_PARALLEL;
        if (c->parallel > REGISTRY_MAX_PARALLEL)
                return berr_set(e, -EINVAL, "registry.parallel %u is above %u", c->parallel, REGISTRY_MAX_PARALLEL);
        c->transport = o->transport;
        int r = http_session_new(&c->http, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

void registry_client_free(struct registry_client *c)
{
        if (!c)
                return;
        http_session_free(c->http);
        free(c->url);
        free(c->ca_file);
        free(c->username);
        if (c->password) {
                explicit_bzero(c->password, strlen(c->password));
                free(c->password);
        }
        free(c->prefix);
        free(c->journal_dir);
        free(c->realm);
        free(c->service);
        free(c->token);
        free(c->token_scope);
        for (size_t i = 0; i < c->n_known; i++)
                free(c->known[i].repo);
        free(c->known);
        free(c);
}

unsigned registry_client_parallel(const struct registry_client *c) { return c->parallel; }

static int dup_opt(const char *s, char **ret)
{
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int registry_client_clone(const struct registry_client *c, struct registry_client **ret)
{
        _cleanup_(registry_client_freep) struct registry_client *n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        if (dup_opt(c->url, &n->url) < 0 || dup_opt(c->ca_file, &n->ca_file) < 0 ||
            dup_opt(c->username, &n->username) < 0 || dup_opt(c->password, &n->password) < 0 ||
            dup_opt(c->prefix, &n->prefix) < 0 || dup_opt(c->journal_dir, &n->journal_dir) < 0 ||
            dup_opt(c->realm, &n->realm) < 0 || dup_opt(c->service, &n->service) < 0 ||
            dup_opt(c->token, &n->token) < 0 || dup_opt(c->token_scope, &n->token_scope) < 0)
                return -ENOMEM;
        n->insecure = c->insecure;
        n->chunk_size = c->chunk_size;
        n->monolithic_max = c->monolithic_max;
        n->timeout_s = c->timeout_s;
        n->parallel = 1;
        n->auth = c->auth;
        n->transport = c->transport;
        if (http_session_new(&n->http, NULL) < 0)
                return -ENOMEM;
        /* What this run learnt (mount sources) carries over; it is only an optimisation. */
        for (size_t i = 0; i < c->n_known; i++)
                registry_client_note_blob(n, c->known[i].repo, c->known[i].digest);
        *ret = TAKE_PTR(n);
        return 0;
}

void registry_client_add_stats(struct registry_client *c, const struct registry_stats *s)
{
        c->stats.requests += s->requests;
        c->stats.blobs_present += s->blobs_present;
        c->stats.blobs_mounted += s->blobs_mounted;
        c->stats.blobs_uploaded += s->blobs_uploaded;
        c->stats.uploads_resumed += s->uploads_resumed;
        c->stats.manifests_present += s->manifests_present;
        c->stats.manifests_pushed += s->manifests_pushed;
        c->stats.bytes_uploaded += s->bytes_uploaded;
}

bool registry_client_knows(struct registry_client *c, const char *repo, const char *digest)
{
        for (size_t i = 0; i < c->n_known; i++)
                if (!strcmp(c->known[i].digest, digest) && !strcmp(c->known[i].repo, repo))
                        return true;
        return false;
}

void registry_client_note_blob(struct registry_client *c, const char *repo, const char *digest)
{
        if (registry_client_knows(c, repo, digest) || strlen(digest) > DIGEST_STR_LEN)
                return;
        struct known_blob *n = realloc(c->known, (c->n_known + 1) * sizeof *n);
        if (!n)
                return; /* only an optimisation */
        c->known = n;
        if (!(n[c->n_known].repo = strdup(repo)))
                return;
        snprintf(n[c->n_known].digest, sizeof n[c->n_known].digest, "%s", digest);
        c->n_known++;
}

/* Another repository this run saw holding digest, or NULL. */
const char *reg_known_elsewhere(struct registry_client *c, const char *repo, const char *digest)
{
        for (size_t i = 0; i < c->n_known; i++)
                if (!strcmp(c->known[i].digest, digest) && strcmp(c->known[i].repo, repo))
                        return c->known[i].repo;
        return NULL;
}

int registry_blob_exists(struct registry_client *c, const char *repo, const char *digest, uint64_t size, berr *e)
{
        _cleanup_free_ char *url = reg_repo_url(c, repo, "blobs", digest);
        _cleanup_free_ char *scope = reg_scope_for(repo, "pull,push");
        if (!url || !scope)
                return -ENOMEM;
        struct req q = {.method = "HEAD", .url = url, .scope = scope};
        struct resp r = {0};
        int rc = reg_do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (r.status == 200) {
                        if (r.has_content_length && r.content_length != size)
                                rc = berr_set(e, -EBADMSG,
                                              "registry %s holds blob %s in %s with size %" PRIu64 " instead of %" PRIu64 ": the registry's storage is inconsistent, remove the blob there",
                                              c->url, digest, repo, r.content_length, size);
                        else
                                rc = 1;
                } else if (r.status == 404 || r.status >= 500)
                        /* 5xx: the registry cannot tell, and a HEAD has no body to say why.
                         * Uploading is how to find out. docker-registry answers 500 here for
                         * good when a full disk left the repository's link to the blob empty,
                         * and an upload rewrites that link; a registry that is really broken
                         * fails the upload with an answer of its own. */
                        rc = 0;
                else
                        rc = reg_http_error(c, &r, "checking for the blob", e);
        }
        reg_resp_done(&r);
        return rc;
}

int registry_manifest_exists(struct registry_client *c, const char *repo, const char *reference,
                             const char *digest, berr *e)
{
        _cleanup_free_ char *url = reg_repo_url(c, repo, "manifests", reference);
        _cleanup_free_ char *scope = reg_scope_for(repo, "pull,push");
        if (!url || !scope)
                return -ENOMEM;
        struct req q = {.method = "HEAD", .url = url, .scope = scope, .accept = MANIFEST_ACCEPT};
        struct resp r = {0};
        int rc = reg_do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (r.status == 200) {
                        rc = r.docker_digest && !strcmp(r.docker_digest, digest);
                        if (rc)
                                c->stats.manifests_present++;
                }
                else if (r.status == 404)
                        rc = 0;
                else
                        rc = reg_http_error(c, &r, "checking for the manifest", e);
        }
        reg_resp_done(&r);
        return rc;
}

int registry_manifest_put(struct registry_client *c, const char *repo, const char *reference,
                          const char *media_type, const void *data, size_t len, const char *digest, berr *e)
{
        _cleanup_free_ char *url = reg_repo_url(c, repo, "manifests", reference);
        _cleanup_free_ char *scope = reg_scope_for(repo, "pull,push");
        if (!url || !scope)
                return -ENOMEM;
        struct req q = {.method = "PUT", .url = url, .scope = scope, .content_type = media_type, .mem = data,
                        .len = len, .has_body = true};
        struct resp r = {0};
        int rc = reg_do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (r.status != 201)
                        rc = reg_http_error(c, &r, "storing the manifest", e);
                else if (r.docker_digest && strcmp(r.docker_digest, digest))
                        rc = berr_set(e, -EBADMSG,
                                      "registry %s computed digest %s for manifest %s: it rewrote the bytes, use a registry that stores manifests unchanged",
                                      c->url, r.docker_digest, digest);
                else
                        c->stats.manifests_pushed++;
        }
        reg_resp_done(&r);
        return rc;
}
