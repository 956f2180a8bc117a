/* SPDX-License-Identifier: Apache-2.0 */
/* client_int.h — what the registry client's files (client.c, transport.c, token.c,
 * upload.c) share: the client object, one request and its response, and the helpers
 * between them. Internal to agent/registry/; nothing outside includes it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "net/http.h"
#include "registry/auth.h"
#include "registry/client.h"

#define RESP_BODY_MAX (1024u * 1024)
#define HEADER_VALUE_MAX 8192
#define MANIFEST_ACCEPT                                                                                    \
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "      \
        "application/vnd.docker.distribution.manifest.v2+json, "                                           \
        "application/vnd.docker.distribution.manifest.list.v2+json"

struct known_blob {
        char *repo;
        char digest[DIGEST_STR_LEN + 1];
};

struct registry_client {
        struct http_session *http;
        const struct registry_transport *transport;     /* NULL: http */
        char *url;              /* scheme://host[:port], no trailing slash */
        char *ca_file;
        char *username;
        char *password;
        bool insecure;
        char *prefix;
        uint64_t chunk_size;
        uint64_t monolithic_max;
        char *journal_dir;
        long timeout_s;
        unsigned parallel;

        enum auth_scheme auth;  /* what the registry asked for so far */
        char *realm;
        char *service;
        char *token;
        char *token_scope;

        struct known_blob *known;
        size_t n_known;
        struct registry_stats stats;
};

struct req {
        const char *method;
        char *url;                      /* absolute */
        const char *content_type;
        const char *accept;             /* Accept header value or NULL */
        const char *scope;              /* token scope this request needs */
        /* Body: either memory or a range of an fd. */
        const void *mem;
        int fd;
        uint64_t off;
        uint64_t len;
        bool has_body;
        bool content_range;             /* send Content-Range: off-(off+len-1) (relative to the blob) */
        uint64_t range_start;
};

struct resp {
        long status;
        char *location;
        char *docker_digest;
        char *www_auth;
        char *range;
        uint64_t content_length;
        bool has_content_length;
        char *body;
        size_t body_len;
};
/* transport.c */
void reg_resp_done(struct resp *r);

/* The seam under the client: one exchange of q (its body from q->mem, or q->len bytes
 * of q->fd at q->off), the answer into r (reset, strings malloc'd). authz is the
 * Authorization header value or NULL. The default is HTTP through net/http.h; unit
 * tests pass a registry of their own (tests/unit/test_registry_client.c). */
struct registry_transport {
        int (*perform)(void *ud, const struct req *q, const char *authz, struct resp *r, berr *e);
        void *ud;
};
/* One HTTP exchange, no authentication logic. Transport failures fill e. */
int reg_perform(struct registry_client *c, const struct req *q, const char *authz, struct resp *r, berr *e);
/* An unexpected HTTP status as an errno and a sentence; the caller prefixes the object. */
int reg_http_error(struct registry_client *c, const struct resp *r, const char *what, berr *e);
char *reg_repo_url(struct registry_client *c, const char *repo, const char *kind, const char *ref);
char *reg_scope_for(const char *repo, const char *actions);
/* Absolute URL for a Location header (absolute, or a path on the registry). */
char *reg_resolve_location(struct registry_client *c, const char *loc);
char *reg_with_digest(const char *location, const char *digest);

/* token.c: a request with credentials, retried once after a 401 challenge. */
int reg_do_request(struct registry_client *c, const struct req *q, struct resp *r, berr *e);

/* client.c: another repository this run saw holding digest, or NULL. */
const char *reg_known_elsewhere(struct registry_client *c, const char *repo, const char *digest);
