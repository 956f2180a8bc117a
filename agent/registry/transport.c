/* SPDX-License-Identifier: Apache-2.0 */
/* transport.c — one HTTP exchange with the registry on net/http.h, without any
 * authentication logic: request bodies are re-readable (memory or pread() on an fd),
 * response headers and bounded bodies are collected, unexpected statuses become an
 * errno and a sentence. Never decides about credentials (token.c does). */
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

void reg_resp_done(struct resp *r)
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
        reg_resp_done(r);
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
int reg_perform(struct registry_client *c, const struct req *q, const char *authz, struct resp *r, berr *e)
{
        resp_reset(r);
        if (c->transport) {
                c->stats.requests++;
                int rc = c->transport->perform(c->transport->ud, q, authz, r, e);
                if (rc >= 0 && q->has_body && r->status >= 200 && r->status < 300)
                        c->stats.bytes_uploaded += q->len;
                return rc;
        }
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
int reg_http_error(struct registry_client *c, const struct resp *r, const char *what, berr *e)
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

char *reg_repo_url(struct registry_client *c, const char *repo, const char *kind, const char *ref)
{
        char *u;
        if (asprintf(&u, "%s/v2/%s/%s/%s", c->url, repo, kind, ref ? ref : "") < 0)
                return NULL;
        return u;
}

char *reg_scope_for(const char *repo, const char *actions)
{
        char *s;
        if (asprintf(&s, "repository:%s:%s", repo, actions) < 0)
                return NULL;
        return s;
}

/* Absolute URL for a Location header (absolute, or a path on the registry). */
char *reg_resolve_location(struct registry_client *c, const char *loc)
{
        char *u;
        if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
                return strdup(loc);
        if (asprintf(&u, "%s%s%s", c->url, loc[0] == '/' ? "" : "/", loc) < 0)
                return NULL;
        return u;
}

char *reg_with_digest(const char *location, const char *digest)
{
        char *u;
        if (asprintf(&u, "%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?", digest) < 0)
                return NULL;
        return u;
}
