/* SPDX-License-Identifier: Apache-2.0 */
/* test_registry_client.c — the registry client (push side) against a registry of the
 * test's own behind the client's transport seam (client_int.h): a blob goes up in one
 * PUT or in chunks, an existing blob costs one HEAD, a blob another repository holds is
 * mounted, an interrupted chunked upload resumes from the journal where the registry
 * says it stopped, a bearer token is fetched once and sent on every request, and a
 * digest the registry refuses comes back as one clear error.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "base/digest.h"
#include "registry/client.h"
#include "registry/client_int.h"

#define REG "http://127.0.0.1:5000"

/* ---- a registry ----------------------------------------------------------------------- */

struct blob {
        char repo[64];
        char digest[DIGEST_STR_LEN + 1];
        uint64_t size;
};

struct session {
        char repo[64];
        unsigned char *data;
        uint64_t len;
};

struct fakereg {
        struct blob blobs[16];
        size_t n_blobs;
        struct session sessions[8];
        size_t n_sessions;
        unsigned requests, token_requests, patches;
        unsigned fail_patch;            /* the nth PATCH loses its connection (0: none) */
        bool bearer;                    /* requests need "Bearer tok-1" */
        char methods[4096];             /* "HEAD POST PUT …" in order */
};

static bool has_blob(struct fakereg *f, const char *repo, const char *digest, uint64_t *size)
{
        for (size_t i = 0; i < f->n_blobs; i++)
                if (!strcmp(f->blobs[i].repo, repo) && !strcmp(f->blobs[i].digest, digest)) {
                        if (size)
                                *size = f->blobs[i].size;
                        return true;
                }
        return false;
}

static void add_blob(struct fakereg *f, const char *repo, const char *digest, uint64_t size)
{
        assert_true(f->n_blobs < ELEMENTSOF(f->blobs));
        struct blob *b = &f->blobs[f->n_blobs++];
        snprintf(b->repo, sizeof b->repo, "%s", repo);
        snprintf(b->digest, sizeof b->digest, "%s", digest);
        b->size = size;
}

/* The request body, read the way the HTTP transport reads it. */
static unsigned char *body_of(const struct req *q)
{
        unsigned char *b = malloc(q->len + 1);
        assert_non_null(b);
        if (q->mem)
                memcpy(b, q->mem, q->len);
        else if (q->len)
                assert_int_equal(pread(q->fd, b, q->len, (off_t)q->off), (ssize_t)q->len);
        return b;
}

/* "/v2/<repo>/<kind>/<rest>" of url. */
static bool split(const char *url, char *repo, size_t rn, const char *kind, const char **rest)
{
        assert_true(!strncmp(url, REG "/v2/", strlen(REG "/v2/")));
        const char *p = url + strlen(REG "/v2/");
        const char *k = strstr(p, kind);
        if (!k)
                return false;
        snprintf(repo, rn, "%.*s", (int)(k - p - 1), p);
        *rest = k + strlen(kind);
        return true;
}

static int answer(struct resp *r, long status, const char *location, const char *digest)
{
        r->status = status;
        r->location = location ? strdup(location) : NULL;
        r->docker_digest = digest ? strdup(digest) : NULL;
        return 0;
}

static int fake_perform(void *ud, const struct req *q, const char *authz, struct resp *r, berr *e)
{
        struct fakereg *f = ud;
        f->requests++;
        size_t l = strlen(f->methods);
        snprintf(f->methods + l, sizeof f->methods - l, "%s%s", l ? " " : "", q->method);

        if (!strncmp(q->url, REG "/token?", strlen(REG "/token?"))) {
                f->token_requests++;
                assert_non_null(strstr(q->url, "scope=repository%3Aapp%3Apull%2Cpush"));
                r->body = strdup("{\"token\":\"tok-1\"}");
                r->body_len = strlen(r->body);
                return answer(r, 200, NULL, NULL);
        }
        if (f->bearer && (!authz || strcmp(authz, "Bearer tok-1"))) {
                r->www_auth = strdup("Bearer realm=\"" REG "/token\",service=\"reg\",scope=\"repository:app:pull,push\"");
                return answer(r, 401, NULL, NULL);
        }

        char repo[64], loc[200];
        const char *rest;
        if (split(q->url, repo, sizeof repo, "blobs/uploads/", &rest)) {
                if (!strcmp(q->method, "POST")) {
                        const char *m = strstr(rest, "?mount=");
                        if (m) {
                                char digest[DIGEST_STR_LEN + 1], from[64];
                                snprintf(digest, sizeof digest, "%.*s", DIGEST_STR_LEN, m + 7);
                                snprintf(from, sizeof from, "%s", strstr(rest, "&from=") + 6);
                                uint64_t size;
                                if (has_blob(f, from, digest, &size)) {
                                        add_blob(f, repo, digest, size);
                                        return answer(r, 201, NULL, digest);
                                }
                        }
                        assert_true(f->n_sessions < ELEMENTSOF(f->sessions));
                        struct session *s = &f->sessions[f->n_sessions];
                        *s = (struct session) {0};
                        snprintf(s->repo, sizeof s->repo, "%s", repo);
                        snprintf(loc, sizeof loc, "/v2/%s/blobs/uploads/s%zu", repo, f->n_sessions++);
                        return answer(r, 202, loc, NULL);
                }
                size_t id = strtoul(rest + 1, NULL, 10);
                assert_true(rest[0] == 's' && id < f->n_sessions);
                struct session *s = &f->sessions[id];
                snprintf(loc, sizeof loc, "/v2/%s/blobs/uploads/s%zu", repo, id);
                if (!strcmp(q->method, "GET")) {
                        char range[64];
                        snprintf(range, sizeof range, "0-%" PRIu64, s->len ? s->len - 1 : 0);
                        r->range = strdup(range);
                        return answer(r, 204, loc, NULL);
                }
                if (!strcmp(q->method, "PATCH")) {
                        if (++f->patches == f->fail_patch)
                                return berr_set(e, -ECONNRESET, "lost the connection to registry " REG);
                        assert_true(q->content_range);
                        if (q->range_start != s->len)
                                return answer(r, 416, NULL, NULL);
                        s->data = realloc(s->data, s->len + q->len);
                        unsigned char *b = body_of(q);
                        memcpy(s->data + s->len, b, q->len);
                        free(b);
                        s->len += q->len;
                        return answer(r, 202, loc, NULL);
                }
                assert_string_equal(q->method, "PUT");
                const char *d = strstr(rest, "digest=");
                assert_non_null(d);
                if (q->has_body && q->len) {
                        s->data = realloc(s->data, s->len + q->len);
                        unsigned char *b = body_of(q);
                        memcpy(s->data + s->len, b, q->len);
                        free(b);
                        s->len += q->len;
                }
                char got[DIGEST_STR_LEN + 1];
                assert_int_equal(sha256_buf_str(s->data ? (const char *)s->data : "", s->len, got), 0);
                if (strcmp(got, d + 7)) {
                        r->body = strdup("{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"provided digest did "
                                         "not match uploaded content\"}]}");
                        r->body_len = strlen(r->body);
                        free(s->data);
                        s->data = NULL;
                        return answer(r, 400, NULL, NULL);
                }
                add_blob(f, repo, got, s->len);
                free(s->data);
                s->data = NULL;
                return answer(r, 201, NULL, got);
        }
        if (split(q->url, repo, sizeof repo, "blobs/", &rest)) {
                assert_string_equal(q->method, "HEAD");
                uint64_t size;
                if (!has_blob(f, repo, rest, &size))
                        return answer(r, 404, NULL, NULL);
                r->content_length = size;
                r->has_content_length = true;
                return answer(r, 200, NULL, rest);
        }
        fail_msg("unexpected request %s %s", q->method, q->url);
        return -EINVAL;
}

/* ---- fixture -------------------------------------------------------------------------- */

struct blobfile {
        int fd;
        uint64_t size;
        char digest[DIGEST_STR_LEN + 1];
};

static void blobfile(const char *dir, uint64_t size, struct blobfile *b)
{
        char p[512];
        snprintf(p, sizeof p, "%s/blob-%" PRIu64, dir, size);
        b->fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(b->fd >= 0);
        unsigned char *buf = malloc(size);
        for (uint64_t i = 0; i < size; i++)
                buf[i] = (unsigned char)(i * 7 + i / 251);
        assert_int_equal(write(b->fd, buf, size), (ssize_t)size);
        assert_int_equal(sha256_buf_str((const char *)buf, size, b->digest), 0);
        free(buf);
        b->size = size;
}

static struct registry_client *client(struct fakereg *f, const char *journal, uint64_t monolithic_max)
{
        static struct registry_transport t;
        t = (struct registry_transport) {.perform = fake_perform, .ud = f};
        struct registry_opts o = {
                .url = REG,
                .username = "u",
                .password = "p",
                .journal_dir = journal,
                .chunk_size = REGISTRY_MIN_CHUNK_SIZE,
                .monolithic_max = monolithic_max,
                .transport = &t,
        };
        struct registry_client *c = NULL;
        berr e = {0};
        assert_int_equal(registry_client_new(&o, &c, &e), 0);
        return c;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_push_once_then_present(void **state)
{
        (void)state;
        char *dir = test_tmpdir("regc-mono");
        struct fakereg f = {0};
        struct blobfile b;
        blobfile(dir, 100000, &b);
        struct registry_client *c = client(&f, NULL, 0);
        berr e = {0};
        assert_int_equal(registry_blob_push(c, "app", b.digest, b.size, b.fd, &e), 0);
        assert_string_equal(f.methods, "HEAD POST PUT");
        assert_true(has_blob(&f, "app", b.digest, NULL));
        const struct registry_stats *s = registry_client_stats(c);
        assert_int_equal(s->requests, 3);
        assert_int_equal(s->blobs_uploaded, 1);
        assert_int_equal(s->bytes_uploaded, b.size);

        /* Another repository of the same registry: mounted, not uploaded. */
        f.methods[0] = 0;
        assert_int_equal(registry_blob_push(c, "other", b.digest, b.size, b.fd, &e), 2);
        assert_string_equal(f.methods, "HEAD POST");
        assert_true(has_blob(&f, "other", b.digest, NULL));
        assert_int_equal(s->bytes_uploaded, b.size);
        registry_client_free(c);

        /* A later run: one HEAD. */
        c = client(&f, NULL, 0);
        f.methods[0] = 0;
        assert_int_equal(registry_blob_push(c, "app", b.digest, b.size, b.fd, &e), 1);
        assert_string_equal(f.methods, "HEAD");
        assert_int_equal(registry_client_stats(c)->bytes_uploaded, 0);
        registry_client_free(c);
        close(b.fd);
        test_rmdir(dir);
}

static void test_chunked_upload_resumes(void **state)
{
        (void)state;
        char *dir = test_tmpdir("regc-resume");
        char journal[600];
        snprintf(journal, sizeof journal, "%s/journal", dir);
        struct fakereg f = {.fail_patch = 3};
        struct blobfile b;
        blobfile(dir, 4 * REGISTRY_MIN_CHUNK_SIZE + 5, &b);

        /* Chunks of 64 KiB; the third one loses its connection. */
        struct registry_client *c = client(&f, journal, REGISTRY_MIN_CHUNK_SIZE);
        berr e = {0};
        int r = registry_blob_push(c, "app", b.digest, b.size, b.fd, &e);
        assert_int_equal(r, -ECONNRESET);
        assert_non_null(strstr(e.msg, "at byte 131072 of 262149"));
        assert_false(has_blob(&f, "app", b.digest, NULL));
        registry_client_free(c);

        /* The next run asks where the session is and sends only the rest. */
        f.methods[0] = 0;
        c = client(&f, journal, REGISTRY_MIN_CHUNK_SIZE);
        assert_int_equal(registry_blob_push(c, "app", b.digest, b.size, b.fd, &e), 0);
        assert_string_equal(f.methods, "HEAD GET PATCH PATCH PATCH PUT");
        const struct registry_stats *s = registry_client_stats(c);
        assert_int_equal(s->uploads_resumed, 1);
        assert_int_equal(s->bytes_uploaded, b.size - 2 * REGISTRY_MIN_CHUNK_SIZE);
        uint64_t size = 0;
        assert_true(has_blob(&f, "app", b.digest, &size)); /* the fake checked the digest */
        assert_int_equal(size, b.size);
        registry_client_free(c);
        close(b.fd);
        test_rmdir(dir);
}

static void test_bearer_token(void **state)
{
        (void)state;
        char *dir = test_tmpdir("regc-token");
        struct fakereg f = {.bearer = true};
        struct blobfile b;
        blobfile(dir, 1000, &b);
        struct registry_client *c = client(&f, NULL, 0);
        berr e = {0};
        assert_int_equal(registry_blob_push(c, "app", b.digest, b.size, b.fd, &e), 0);
        /* One challenge, one token, then every request carries it. */
        assert_string_equal(f.methods, "HEAD GET HEAD POST PUT");
        assert_int_equal(f.token_requests, 1);
        assert_true(has_blob(&f, "app", b.digest, NULL));
        registry_client_free(c);
        close(b.fd);
        test_rmdir(dir);
}

static void test_digest_refused(void **state)
{
        (void)state;
        char *dir = test_tmpdir("regc-digest");
        struct fakereg f = {0};
        struct blobfile b;
        blobfile(dir, 1000, &b);
        b.digest[DIGEST_STR_LEN - 1] = b.digest[DIGEST_STR_LEN - 1] == '0' ? '1' : '0';
        struct registry_client *c = client(&f, NULL, 0);
        berr e = {0};
        int r = registry_blob_push(c, "app", b.digest, b.size, b.fd, &e);
        assert_true(r < 0);
        assert_non_null(strstr(e.msg, "DIGEST_INVALID"));
        assert_non_null(strstr(e.msg, REG));
        assert_int_equal(f.n_blobs, 0);
        registry_client_free(c);
        close(b.fd);
        test_rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_push_once_then_present),
                cmocka_unit_test(test_chunked_upload_resumes),
                cmocka_unit_test(test_bearer_token),
                cmocka_unit_test(test_digest_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
