/* SPDX-License-Identifier: Apache-2.0 */
/* client.c — see client.h.
 *
 * Every request goes through do_request(): it adds credentials, performs the call
 * and, on a 401 challenge, obtains credentials (basic or a bearer token) and repeats
 * the call once. Request bodies are re-readable (memory or pread() on an fd), so a
 * repeated PATCH sends the same bytes again. Upload sessions are journalled before
 * the first byte is sent and after every chunk, so the journal always names the
 * session state the registry last acknowledged.
 */
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

static void resp_done(struct resp *r)
{
        free(r->location);
        free(r->docker_digest);
        free(r->www_auth);
        free(r->range);
        free(r->body);
        *r = (struct resp){0};
}

static void resp_reset(struct resp *r)
{
        resp_done(r);
}

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
static const char *known_elsewhere(struct registry_client *c, const char *repo, const char *digest)
{
        for (size_t i = 0; i < c->n_known; i++)
                if (!strcmp(c->known[i].digest, digest) && strcmp(c->known[i].repo, repo))
                        return c->known[i].repo;
        return NULL;
}

/* ---- transport ---- */

static char *header_value(const char *line, size_t n, const char *name)
{
        size_t k = strlen(name);
        if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
                return NULL;
        const char *v = line + k + 1;
        const char *end = line + n;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        if ((size_t)(end - v) > HEADER_VALUE_MAX)
                return NULL;
        return strndup(v, (size_t)(end - v));
}

static int on_header(void *ud, const char *buf, size_t n)
{
        struct resp *r = ud;
        char *v;
        /* A new status line (after a 100 Continue or a retry) starts a fresh set. */
        if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
                free(r->location), r->location = NULL;
                free(r->docker_digest), r->docker_digest = NULL;
                free(r->www_auth), r->www_auth = NULL;
                free(r->range), r->range = NULL;
                r->has_content_length = false;
                return 0;
        }
        if ((v = header_value(buf, n, "Location")))
                free(r->location), r->location = v;
        else if ((v = header_value(buf, n, "Docker-Content-Digest")))
                free(r->docker_digest), r->docker_digest = v;
        else if ((v = header_value(buf, n, "WWW-Authenticate"))) {
                /* Keep the first challenge (registries send one). */
                if (!r->www_auth)
                        r->www_auth = v;
                else
                        free(v);
        } else if ((v = header_value(buf, n, "Range")))
                free(r->range), r->range = v;
        else if ((v = header_value(buf, n, "Content-Length"))) {
                char *end;
                errno = 0;
                unsigned long long x = strtoull(v, &end, 10);
                if (!errno && end != v && !*end) {
                        r->content_length = x;
                        r->has_content_length = true;
                }
                free(v);
        }
        return 0;
}

static int body_append(struct resp *r, const void *buf, size_t n)
{
        size_t room = RESP_BODY_MAX - r->body_len;
        size_t take = n < room ? n : room;
        if (take > 0) {
                char *b = realloc(r->body, r->body_len + take + 1);
                if (!b)
                        return -ENOMEM;
                memcpy(b + r->body_len, buf, take);
                r->body = b;
                r->body_len += take;
                b[r->body_len] = 0;
        }
        return 0; /* excess is dropped: error bodies only need their start */
}

static int on_body(void *ud, const struct http_response *hr, const void *buf, size_t n)
{
        return body_append(ud, buf, n);
}

struct body_src {
        const struct req *q;
        uint64_t sent;
};

static ssize_t on_read(void *ud, char *buf, size_t cap)
{
        struct body_src *s = ud;
        const struct req *q = s->q;
        uint64_t left = q->len - s->sent;
        size_t want = cap < left ? cap : (size_t)left;
        if (want == 0)
                return 0;
        if (q->mem) {
                memcpy(buf, (const char *)q->mem + s->sent, want);
                s->sent += want;
                return (ssize_t)want;
        }
        for (;;) {
                ssize_t k = pread(q->fd, buf, want, (off_t)(q->off + s->sent));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int err = k < 0 ? errno : EIO; /* 0 = the file shrank under us */
                        return -err;
                }
                s->sent += (uint64_t)k;
                return k;
        }
}

/* The transport rewinds the body when it resends on a fresh connection. */
static int on_seek(void *ud, uint64_t offset)
{
        struct body_src *s = ud;
        if (offset > s->q->len)
                return -ESPIPE;
        s->sent = offset;
        return 0;
}

/* Credentials may cross plain HTTP only to this machine (a local mirror) or when the
 * configuration says the registry is insecure. */
static bool loopback_url(const char *url)
{
        const char *h = strstr(url, "://");
        if (!h)
                return false;
        h += 3;
        return !strncmp(h, "127.", 4) || !strncmp(h, "localhost", 9) || !strncmp(h, "[::1]", 5);
}

struct perform_ctx {
        struct resp *r;
        struct body_src src;
};

static int perform_header(void *ud, const char *buf, size_t n)
{
        return on_header(((struct perform_ctx *)ud)->r, buf, n);
}

static int perform_body(void *ud, const struct http_response *hr, const void *buf, size_t n)
{
        return on_body(((struct perform_ctx *)ud)->r, hr, buf, n);
}

static ssize_t perform_read(void *ud, char *buf, size_t cap)
{
        return on_read(&((struct perform_ctx *)ud)->src, buf, cap);
}

static int perform_seek(void *ud, uint64_t offset)
{
        return on_seek(&((struct perform_ctx *)ud)->src, offset);
}

/* One HTTP exchange, no authentication logic. Transport failures fill e. */
static int perform(struct registry_client *c, const struct req *q, const char *authz, struct resp *r, berr *e)
{
        resp_reset(r);
        char name[600], crange[64];
        const char *hdrs[3];
        size_t nh = 0;
        if (q->content_range) {
                snprintf(crange, sizeof crange, "Content-Range: %" PRIu64 "-%" PRIu64, q->range_start,
                         q->range_start + q->len - 1);
                hdrs[nh++] = crange;
        }
        hdrs[nh] = NULL;
        snprintf(name, sizeof name, "registry %s", c->url);
        struct http_tls tls = {.ca_file = c->ca_file, .insecure = c->insecure,
                               .ca_setting = "registry.ca_file or --registry-ca"};
        struct perform_ctx ctx = {.r = r, .src = {.q = q}};
        struct http_req_opts o = {
                .method = q->method,
                .url = q->url,
                .name = name,
                .peer = "the registry",
                .version = HTTP_VERSION_1_1,
                .authorization = authz,
                .plain_credentials = c->insecure || loopback_url(q->url),
                .accept = q->accept,
                .content_type = q->has_body ? (q->content_type ? q->content_type : "application/octet-stream") : NULL,
                .headers = hdrs,
                .tls = &tls,
                .connect_timeout_ms = (uint64_t)c->timeout_s * 1000,
                .stall_seconds = (unsigned)c->timeout_s,
                .on_header = perform_header,
                .on_data = perform_body,
                .userdata = &ctx,
        };
        if (!strcmp(q->method, "PUT") || !strcmp(q->method, "PATCH")) {
                o.on_read = perform_read;
                o.on_seek = perform_seek;
                o.upload_size = q->has_body ? q->len : 0;
        }
        c->stats.requests++;
        struct http_response hr = {0};
        berr te = {0};
        int rc = http_session_perform(c->http, &o, &hr, &te);
        if (rc < 0) {
                if (rc == -EKEYREJECTED || rc == -ECONNABORTED || rc == -ECONNREFUSED || rc == -EHOSTUNREACH ||
                    rc == -EPERM || rc == -ENOMEM)
                        berr_set(e, rc, "%s", berr_msg(&te, rc));
                else if (rc == -ECONNRESET || rc == -ETIMEDOUT)
                        berr_set(e, rc, "lost the connection to registry %s (%s): check the registry and the network, "
                                 "then rerun to resume the push", c->url, berr_msg(&te, rc));
                else if (te.msg[0])
                        berr_set(e, rc, "%s", te.msg);
                else
                        berr_set(e, rc, "reading the blob from the berth store failed (%s)", strerror(-rc));
                http_response_clear(&hr);
                return rc;
        }
        r->status = hr.status;
        /* A non-2xx answer's body was collected by the transport. */
        if (hr.body && !r->body && body_append(r, hr.body, hr.body_len) < 0) {
                http_response_clear(&hr);
                return -ENOMEM;
        }
        http_response_clear(&hr);
        if (q->has_body && r->status >= 200 && r->status < 300)
                c->stats.bytes_uploaded += q->len;
        return 0;
}

static char *url_escape(struct registry_client *c, const char *s)
{
        return http_escape(s);
}

/* "Basic base64(user:password)" for the configured credentials. */
static char *basic_authz(const struct registry_client *c)
{
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_free_ char *up = NULL;
        if (asprintf(&up, "%s:%s", c->username, c->password ? c->password : "") < 0)
                return NULL;
        size_t l = strlen(up), o = 6;
        char *out = malloc(6 + 4 * ((l + 2) / 3) + 1);
        if (out) {
                memcpy(out, "Basic ", 6);
                for (size_t i = 0; i < l; i += 3) {
                        uint32_t v = (uint32_t)(uint8_t)up[i] << 16;
                        if (i + 1 < l)
                                v |= (uint32_t)(uint8_t)up[i + 1] << 8;
                        if (i + 2 < l)
                                v |= (uint8_t)up[i + 2];
                        out[o++] = tbl[(v >> 18) & 63];
                        out[o++] = tbl[(v >> 12) & 63];
                        out[o++] = i + 1 < l ? tbl[(v >> 6) & 63] : '=';
                        out[o++] = i + 2 < l ? tbl[v & 63] : '=';
                }
                out[o] = 0;
        }
        explicit_bzero(up, l);
        return out;
}

/* Fetches a bearer token for scope (space-separated scopes) from the realm. */
static int fetch_token(struct registry_client *c, const char *scope, berr *e)
{
        _cleanup_free_ char *url = NULL;
        size_t cap = strlen(c->realm) + 64 + (c->service ? 3 * strlen(c->service) : 0) +
                     (scope ? 4 * strlen(scope) + 64 : 0);
        url = malloc(cap);
        if (!url)
                return -ENOMEM;
        int n = snprintf(url, cap, "%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?");
        bool first = true;
        if (c->service) {
                _cleanup_free_ char *s = url_escape(c, c->service);
                if (!s)
                        return -ENOMEM;
                n += snprintf(url + n, cap - (size_t)n, "service=%s", s);
                first = false;
        }
        /* Each scope is its own "scope=" parameter. */
        _cleanup_free_ char *scopes = scope ? strdup(scope) : NULL;
        if (scope && !scopes)
                return -ENOMEM;
        char *save = NULL;
        for (char *s = scopes ? strtok_r(scopes, " ", &save) : NULL; s; s = strtok_r(NULL, " ", &save)) {
                _cleanup_free_ char *x = url_escape(c, s);
                if (!x)
                        return -ENOMEM;
                n += snprintf(url + n, cap - (size_t)n, "%sscope=%s", first ? "" : "&", x);
                first = false;
        }
        if ((size_t)n >= cap)
                return -ENOMEM;

        struct req q = {.method = "GET", .url = url};
        _cleanup_free_ char *authz = NULL;
        if (c->username && !(authz = basic_authz(c)))
                return -ENOMEM;
        struct resp r = {0};
        int rc = perform(c, &q, authz, &r, e);
        if (authz)
                explicit_bzero(authz, strlen(authz));
        if (rc < 0) {
                resp_done(&r);
                return berr_prefix(e, rc, "token service %s", c->realm);
        }
        if ((r.status == 401 || r.status == 403) && !c->username) {
                long st = r.status;
                resp_done(&r);
                return berr_set(e, -EACCES,
                                "registry %s requires credentials (its token service %s answered HTTP %ld to an anonymous request): set registry.username and registry.password",
                                c->url, c->realm, st);
        }
        if (r.status == 401 || r.status == 403) {
                long st = r.status;
                resp_done(&r);
                return berr_set(e, -EACCES,
                                "token service %s of registry %s refused the credentials (HTTP %ld): check registry.username and registry.password",
                                c->realm, c->url, st);
        }
        if (r.status != 200) {
                long st = r.status;
                resp_done(&r);
                return berr_set(e, -EPROTO, "token service %s of registry %s answered HTTP %ld: check the registry's auth setup",
                                c->realm, c->url, st);
        }
        char *tok = NULL;
        rc = auth_token_parse(r.body ? r.body : "", r.body_len, &tok);
        resp_done(&r);
        if (rc < 0)
                return berr_set(e, rc, "token service %s of registry %s sent no usable token", c->realm, c->url);
        free(c->token);
        c->token = tok;
        free(c->token_scope);
        c->token_scope = scope ? strdup(scope) : NULL;
        return 0;
}

/* Takes note of a 401 challenge; returns 1 when retrying makes sense. */
static int handle_challenge(struct registry_client *c, const struct req *q, const struct resp *r, bool retried,
                            berr *e)
{
        struct auth_challenge ch = {0};
        if (!r->www_auth || auth_challenge_parse(r->www_auth, &ch) < 0)
                return 0;
        int rc = 0;
        if (ch.scheme == AUTH_SCHEME_BASIC) {
                if (c->username && c->auth != AUTH_SCHEME_BASIC) {
                        c->auth = AUTH_SCHEME_BASIC;
                        rc = 1;
                }
        } else if (ch.scheme == AUTH_SCHEME_BEARER) {
                bool realm_https = !strncmp(ch.realm, "https://", 8);
                if (!realm_https && strncmp(ch.realm, "http://", 7)) {
                        rc = berr_set(e, -EPROTO, "registry %s names a token service '%.200s' that is not an http(s) URL",
                                      c->url, ch.realm);
                        auth_challenge_done(&ch);
                        return rc;
                }
                /* Never send credentials in clear text to get into a TLS-protected registry. */
                if (!realm_https && !strncmp(c->url, "https://", 8)) {
                        rc = berr_set(e, -EPERM,
                                      "registry %s sends berth to the plain-http token service %.200s: refusing to send credentials unencrypted, fix the registry's auth realm",
                                      c->url, ch.realm);
                        auth_challenge_done(&ch);
                        return rc;
                }
                c->auth = AUTH_SCHEME_BEARER;
                free(c->realm);
                free(c->service);
                c->realm = ch.realm, ch.realm = NULL;
                c->service = ch.service, ch.service = NULL;
                if (!retried) {
                        /* Ask for the scope the registry named plus the one this request needs. */
                        _cleanup_free_ char *scope = NULL;
                        if (ch.scope && q->scope && !strstr(ch.scope, q->scope)) {
                                if (asprintf(&scope, "%s %s", ch.scope, q->scope) < 0)
                                        scope = NULL;
                        } else
                                scope = strdup(ch.scope ? ch.scope : q->scope ? q->scope : "");
                        if (!scope) {
                                auth_challenge_done(&ch);
                                return -ENOMEM;
                        }
                        rc = fetch_token(c, scope[0] ? scope : NULL, e);
                        if (rc >= 0)
                                rc = 1;
                }
        }
        auth_challenge_done(&ch);
        return rc;
}

static int do_request(struct registry_client *c, const struct req *q, struct resp *r, berr *e)
{
        /* Bearer tokens are scoped to repositories: get the right one before asking. */
        if (c->auth == AUTH_SCHEME_BEARER && q->scope &&
            (!c->token_scope || !strstr(c->token_scope, q->scope))) {
                int k = fetch_token(c, q->scope, e);
                if (k < 0)
                        return k;
        }
        for (int attempt = 0;; attempt++) {
                _cleanup_free_ char *authz = NULL;
                if (c->auth == AUTH_SCHEME_BEARER && c->token) {
                        if (asprintf(&authz, "Bearer %s", c->token) < 0)
                                return -ENOMEM;
                }
                if (c->auth == AUTH_SCHEME_BASIC && c->username && !(authz = basic_authz(c)))
                        return -ENOMEM;
                int rc;
                rc = perform(c, q, authz, r, e);
                if (authz)
                        explicit_bzero(authz, strlen(authz));
                if (rc < 0)
                        return rc;
                if (r->status != 401 || attempt > 0)
                        return 0;
                rc = handle_challenge(c, q, r, attempt > 0, e);
                if (rc < 0)
                        return rc;
                if (rc == 0)
                        return 0;
        }
}

/* "CODE: message" from a distribution error body, or the start of the body. */
static void error_detail(const struct resp *r, char *out, size_t n)
{
        out[0] = 0;
        if (!r->body || !r->body_len)
                return;
        json_error_t jerr;
        json_t *root = json_loadb(r->body, r->body_len, 0, &jerr);
        json_t *first = root ? json_array_get(json_object_get(root, "errors"), 0) : NULL;
        if (first) {
                const char *code = json_string_value(json_object_get(first, "code"));
                const char *msg = json_string_value(json_object_get(first, "message"));
                snprintf(out, n, ": %s%s%.200s", code ? code : "", code && msg ? " " : "", msg ? msg : "");
                /* The text comes from the network: no control characters into logs. */
                for (char *q = out; *q; q++)
                        if ((unsigned char)*q < 0x20 || *q == 0x7f)
                                *q = ' ';
        } else {
                size_t k = snprintf(out, n, ": ");
                for (size_t i = 0; i < r->body_len && k + 1 < n && i < 200; i++)
                        out[k++] = (r->body[i] >= 0x20 && r->body[i] < 0x7f) ? r->body[i] : ' ';
                while (k > 2 && out[k - 1] == ' ')
                        k--;
                out[k] = 0;
        }
        json_decref(root);
}

/* Turns an unexpected HTTP status into an errno and a sentence (without the object,
 * which the caller prefixes). */
static int http_error(struct registry_client *c, const struct resp *r, const char *what, berr *e)
{
        char detail[400];
        error_detail(r, detail, sizeof detail);
        if (r->status == 401 || r->status == 403)
                return berr_set(e, -EACCES,
                                "%s: registry %s denied access (HTTP %ld%s): check registry.username and registry.password (or the token service's permissions)",
                                what, c->url, r->status, detail);
        if (r->status == 405)
                return berr_set(e, -EROFS,
                                "%s: registry %s does not accept pushes (HTTP 405%s): a pull-through cache or read-only registry cannot be a berth mirror, use a normal registry",
                                what, c->url, detail);
        if (r->status == 413)
                return berr_set(e, -EFBIG, "%s: registry %s refused the size (HTTP 413%s): raise its upload limit",
                                what, c->url, detail);
        if (r->status == 507 || (r->body && (strstr(r->body, "no space left") || strstr(r->body, "quota"))))
                return berr_set(e, -ENOSPC,
                                "%s: registry %s is out of storage (HTTP %ld%s): free space on the registry, then rerun to complete the push",
                                what, c->url, r->status, detail);
        if (r->status >= 500)
                return berr_set(e, -EIO, "%s: registry %s failed (HTTP %ld%s): check the registry's log (a full disk "
                                "there gives this too), then rerun to complete the push",
                                what, c->url, r->status, detail);
        return berr_set(e, -EPROTO, "%s: registry %s answered HTTP %ld%s", what, c->url, r->status, detail);
}

static char *repo_url(struct registry_client *c, const char *repo, const char *kind, const char *ref)
{
        char *u;
        if (asprintf(&u, "%s/v2/%s/%s/%s", c->url, repo, kind, ref ? ref : "") < 0)
                return NULL;
        return u;
}

static char *scope_for(const char *repo, const char *actions)
{
        char *s;
        if (asprintf(&s, "repository:%s:%s", repo, actions) < 0)
                return NULL;
        return s;
}

/* Absolute URL for a Location header (absolute, or a path on the registry). */
static char *resolve_location(struct registry_client *c, const char *loc)
{
        char *u;
        if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
                return strdup(loc);
        if (asprintf(&u, "%s%s%s", c->url, loc[0] == '/' ? "" : "/", loc) < 0)
                return NULL;
        return u;
}

static char *with_digest(const char *location, const char *digest)
{
        char *u;
        if (asprintf(&u, "%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?", digest) < 0)
                return NULL;
        return u;
}

int registry_blob_exists(struct registry_client *c, const char *repo, const char *digest, uint64_t size, berr *e)
{
        _cleanup_free_ char *url = repo_url(c, repo, "blobs", digest);
        _cleanup_free_ char *scope = scope_for(repo, "pull,push");
        if (!url || !scope)
                return -ENOMEM;
        struct req q = {.method = "HEAD", .url = url, .scope = scope};
        struct resp r = {0};
        int rc = do_request(c, &q, &r, e);
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
                        rc = http_error(c, &r, "checking for the blob", e);
        }
        resp_done(&r);
        return rc;
}

/* ---- upload journal: one file per (registry, repository, blob) holding the session URL ---- */

static char *journal_path(struct registry_client *c, const char *kind, const char *repo, const char *digest)
{
        if (!c->journal_dir)
                return NULL;
        _cleanup_free_ char *key = NULL;
        char hex[DIGEST_STR_LEN + 1];
        if (asprintf(&key, "%s\n%s\n%s", c->url, repo ? repo : "", digest) < 0)
                return NULL;
        if (sha256_buf_str(key, strlen(key), hex) < 0)
                return NULL;
        char *p;
        if (asprintf(&p, "%s/%s/%s", c->journal_dir, kind, digest_hex(hex)) < 0)
                return NULL;
        return p;
}

/* Replaces path with value via a temp file and rename(), without fsync: journal
 * entries are hints. After a power cut an entry may be old, empty or missing; the
 * registry is asked before an entry is trusted (GET on the session), and a bad one
 * only costs uploading that blob again. An fsync per chunk would cost more. */
static int write_hint(const char *path, const char *value)
{
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.%d.%lx", path, (int)getpid(), (unsigned long)pthread_self()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, value, strlen(value));
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}

static int journal_write(struct registry_client *c, const char *kind, const char *repo, const char *digest,
                         const char *value, berr *e)
{
        _cleanup_free_ char *p = journal_path(c, kind, repo, digest);
        if (!p)
                return c->journal_dir ? -ENOMEM : 0;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", c->journal_dir, kind) < 0)
                return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r >= 0)
                r = write_hint(p, value);
        if (r < 0)
                return berr_set(e, r, "cannot write the registry upload journal %s (%s): check free space in the state directory",
                                p, strerror(-r));
        return 0;
}

static char *journal_read(struct registry_client *c, const char *kind, const char *repo, const char *digest)
{
        _cleanup_free_ char *p = journal_path(c, kind, repo, digest);
        char *buf = NULL;
        size_t len = 0;
        if (!p || read_file_bounded(p, 8192, &buf, &len) < 0)
                return NULL;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = 0;
        return buf;
}

static void journal_remove(struct registry_client *c, const char *kind, const char *repo, const char *digest)
{
        _cleanup_free_ char *p = journal_path(c, kind, repo, digest);
        if (p)
                (void)unlink(p);
}

/* Parses a "Range: 0-N" (or "bytes=0-N") upload status into the next offset. */
static int parse_upload_range(const char *range, uint64_t *ret)
{
        if (!range) {
                *ret = 0;
                return 0;
        }
        const char *s = range;
        if (!strncmp(s, "bytes=", 6))
                s += 6;
        char *end;
        errno = 0;
        unsigned long long a = strtoull(s, &end, 10);
        if (errno || *end != '-' || a != 0)
                return -EBADMSG;
        const char *s2 = end + 1;
        unsigned long long b = strtoull(s2, &end, 10);
        if (errno || end == s2 || *end)
                return -EBADMSG;
        /* distribution reports "0-0" both for an empty and a 1-byte session; the
         * PATCH's Content-Range check tells the two apart, so resume at 0 then. */
        *ret = b == 0 ? 0 : (uint64_t)b + 1;
        return 0;
}

/* Asks the registry how far an upload session got. Returns 1 and the offset when the
 * session is alive, 0 when it is gone (expired, cancelled, registry restarted). */
static int upload_status(struct registry_client *c, const char *repo, const char *location, uint64_t *offset,
                         berr *e)
{
        _cleanup_free_ char *scope = scope_for(repo, "pull,push");
        if (!scope)
                return -ENOMEM;
        struct req q = {.method = "GET", .url = (char *)location, .scope = scope};
        struct resp r = {0};
        int rc = do_request(c, &q, &r, e);
        if (rc < 0) {
                resp_done(&r);
                return rc;
        }
        rc = 0;
        if (r.status == 204 && parse_upload_range(r.range, offset) >= 0)
                rc = 1;
        resp_done(&r);
        return rc;
}

static int start_upload(struct registry_client *c, const char *repo, const char *digest, const char *mount_from,
                        char **ret_location, berr *e)
{
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ char *scope = NULL;
        if (mount_from) {
                if (asprintf(&url, "%s/v2/%s/blobs/uploads/?mount=%s&from=%s", c->url, repo, digest, mount_from) < 0 ||
                    asprintf(&scope, "repository:%s:pull,push repository:%s:pull", repo, mount_from) < 0)
                        return -ENOMEM;
        } else {
                if (asprintf(&url, "%s/v2/%s/blobs/uploads/", c->url, repo) < 0 ||
                    !(scope = scope_for(repo, "pull,push")))
                        return -ENOMEM;
        }
        struct req q = {.method = "POST", .url = url, .scope = scope};
        struct resp r = {0};
        int rc = do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (mount_from && r.status == 201)
                        rc = 2;
                else if (r.status == 202 && r.location) {
                        *ret_location = resolve_location(c, r.location);
                        rc = *ret_location ? 0 : -ENOMEM;
                } else if (r.status == 202)
                        rc = berr_set(e, -EPROTO, "registry %s started an upload without a Location header", c->url);
                else
                        rc = http_error(c, &r, "starting the upload", e);
        }
        resp_done(&r);
        return rc;
}

static int check_committed(struct registry_client *c, const struct resp *r, const char *digest, berr *e)
{
        if (r->status != 201)
                return http_error(c, r, "completing the upload", e);
        if (r->docker_digest && strcmp(r->docker_digest, digest))
                return berr_set(e, -EBADMSG, "registry %s stored the blob as %s instead of %s", c->url,
                                r->docker_digest, digest);
        return 0;
}

/* Uploads into the session at location (owned by us), or into a new one when NULL. */
static int upload_blob(struct registry_client *c, const char *repo, const char *digest, uint64_t size, int fd,
                       char *location_in, berr *e)
{
        _cleanup_free_ char *scope = scope_for(repo, "pull,push");
        if (!scope)
                return -ENOMEM;
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        /* A journalled session from an earlier, interrupted run. */
        _cleanup_free_ char *location = location_in;
        uint64_t offset = 0;
        _cleanup_free_ char *old = location ? NULL : journal_read(c, "uploads", repo, digest);
        if (old) {
                int k = upload_status(c, repo, old, &offset, e);
                if (k < 0)
                        return k;
                if (k > 0 && offset <= size) {
                        location = TAKE_PTR(old);
                        c->stats.uploads_resumed++;
                } else
                        journal_remove(c, "uploads", repo, digest);
        }

        struct resp r = {0};
        int rc;
        if (!location) {
                rc = start_upload(c, repo, digest, NULL, &location, e);
                if (rc < 0)
                        return rc;
                offset = 0;
        }

        if (offset == 0 && size <= c->monolithic_max) {
                _cleanup_free_ char *put = with_digest(location, digest);
                if (!put)
                        return -ENOMEM;
                struct req q = {.method = "PUT", .url = put, .scope = scope, .fd = fd, .len = size, .has_body = true};
                rc = do_request(c, &q, &r, e);
                if (rc >= 0)
                        rc = check_committed(c, &r, digest, e);
                resp_done(&r);
                if (rc >= 0)
                        c->stats.blobs_uploaded++;
                return rc;
        }

        /* Chunked: journal the session before sending, and after each acknowledged chunk. */
        rc = journal_write(c, "uploads", repo, digest, location, e);
        if (rc < 0)
                return rc;
        while (offset < size) {
                uint64_t n = size - offset < c->chunk_size ? size - offset : c->chunk_size;
                struct req q = {.method = "PATCH", .url = location, .scope = scope, .fd = fd, .off = offset,
                                .len = n, .has_body = true, .content_range = true, .range_start = offset};
                rc = do_request(c, &q, &r, e);
                if (rc >= 0 && r.status == 416) {
                        /* The session is somewhere else than we thought: ask and continue there. */
                        uint64_t now = 0;
                        resp_done(&r);
                        int k = upload_status(c, repo, location, &now, e);
                        if (k < 0)
                                return k;
                        if (k == 0 || now > size) {
                                journal_remove(c, "uploads", repo, digest);
                                return berr_set(e, -EAGAIN,
                                                "registry %s lost the upload session: rerun to upload the blob again",
                                                c->url);
                        }
                        offset = now;
                        continue;
                }
                if (rc >= 0 && (r.status != 202 || !r.location))
                        rc = http_error(c, &r, "uploading a chunk", e);
                if (rc < 0) {
                        resp_done(&r);
                        return berr_prefix(e, rc, "at byte %" PRIu64 " of %" PRIu64, offset, size);
                }
                _cleanup_free_ char *next = resolve_location(c, r.location);
                resp_done(&r);
                if (!next)
                        return -ENOMEM;
                free(location);
                location = TAKE_PTR(next);
                offset += n;
                rc = journal_write(c, "uploads", repo, digest, location, e);
                if (rc < 0)
                        return rc;
        }
        _cleanup_free_ char *put = with_digest(location, digest);
        if (!put)
                return -ENOMEM;
        struct req q = {.method = "PUT", .url = put, .scope = scope};
        rc = do_request(c, &q, &r, e);
        if (rc >= 0)
                rc = check_committed(c, &r, digest, e);
        resp_done(&r);
        if (rc < 0)
                return rc;
        journal_remove(c, "uploads", repo, digest);
        c->stats.blobs_uploaded++;
        return 0;
}

int registry_blob_push(struct registry_client *c, const char *repo, const char *digest, uint64_t size, int fd,
                       berr *e)
{
        int rc;
        if (registry_client_knows(c, repo, digest))
                return 1;
        rc = registry_blob_exists(c, repo, digest, size, e);
        if (rc < 0)
                return rc;
        if (rc > 0) {
                c->stats.blobs_present++;
                registry_client_note_blob(c, repo, digest);
                return 1;
        }

        /* Mount from a repository that has it (seen in this run, else remembered),
         * unless an interrupted upload of ours is waiting to be resumed. */
        _cleanup_free_ char *hint = NULL, *pending = journal_read(c, "uploads", repo, digest);
        const char *from = known_elsewhere(c, repo, digest);
        if (!from && (hint = journal_read(c, "mounts", NULL, digest)) && strcmp(hint, repo) &&
            repository_name_valid(hint))
                from = hint;
        char *loc = NULL;
        if (from && !pending) {
                rc = start_upload(c, repo, digest, from, &loc, e);
                if (rc < 0)
                        return rc;
                if (rc == 2) {
                        c->stats.blobs_mounted++;
                        registry_client_note_blob(c, repo, digest);
                        return 2;
                }
                /* Not mountable (source gone): the registry opened a normal session instead. */
        }
        rc = upload_blob(c, repo, digest, size, fd, loc, e);
        if (rc < 0)
                return rc;
        registry_client_note_blob(c, repo, digest);
        (void)journal_write(c, "mounts", NULL, digest, repo, NULL);
        return 0;
}

int registry_manifest_exists(struct registry_client *c, const char *repo, const char *reference,
                             const char *digest, berr *e)
{
        _cleanup_free_ char *url = repo_url(c, repo, "manifests", reference);
        _cleanup_free_ char *scope = scope_for(repo, "pull,push");
        if (!url || !scope)
                return -ENOMEM;
        struct req q = {.method = "HEAD", .url = url, .scope = scope, .accept = MANIFEST_ACCEPT};
        struct resp r = {0};
        int rc = do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (r.status == 200) {
                        rc = r.docker_digest && !strcmp(r.docker_digest, digest);
                        if (rc)
                                c->stats.manifests_present++;
                }
                else if (r.status == 404)
                        rc = 0;
                else
                        rc = http_error(c, &r, "checking for the manifest", e);
        }
        resp_done(&r);
        return rc;
}

int registry_manifest_put(struct registry_client *c, const char *repo, const char *reference,
                          const char *media_type, const void *data, size_t len, const char *digest, berr *e)
{
        _cleanup_free_ char *url = repo_url(c, repo, "manifests", reference);
        _cleanup_free_ char *scope = scope_for(repo, "pull,push");
        if (!url || !scope)
                return -ENOMEM;
        struct req q = {.method = "PUT", .url = url, .scope = scope, .content_type = media_type, .mem = data,
                        .len = len, .has_body = true};
        struct resp r = {0};
        int rc = do_request(c, &q, &r, e);
        if (rc >= 0) {
                if (r.status != 201)
                        rc = http_error(c, &r, "storing the manifest", e);
                else if (r.docker_digest && strcmp(r.docker_digest, digest))
                        rc = berr_set(e, -EBADMSG,
                                      "registry %s computed digest %s for manifest %s: it rewrote the bytes, use a registry that stores manifests unchanged",
                                      c->url, r.docker_digest, digest);
                else
                        c->stats.manifests_pushed++;
        }
        resp_done(&r);
        return rc;
}
