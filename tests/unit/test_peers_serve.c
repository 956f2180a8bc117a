/* SPDX-License-Identifier: Apache-2.0 */
/* test_peers_serve.c — the site peer blob server (peers/serve.h) on loopback, asked by
 * libcurl (net/http.h) with requests signed by peers/auth.h: a stored blob whole (200),
 * a range (206), HEAD; 401 without the site key, with another key and for a replay; 404
 * for a blob it does not hold and for any other path; 405; 416; the stats; the pace
 * (a rate cap makes a transfer take at least its share of time); the connection limit
 * (idle connections at the limit keep a request out until one closes); a blob that is
 * still downloading: HEAD says wanted, a GET waits for it and follows its partial file
 * as the bytes arrive, through the publish, and is cut when the download is given up;
 * the parsers. */
#include "testutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <time.h>

#include "base/digest.h"
#include "net/http.h"
#include "bundle/format.h"
#include "peers/serve.h"
#include "store/content.h"

#define BLOB_SIZE (512u * 1024)

struct fx {
        char *dir;
        struct content_store *cs;
        struct peer_server *srv;
        struct peer_key key;
        char digest[DIGEST_STR_LEN + 1];
        uint8_t *blob;
        struct http_session *http;
        unsigned nonce;
};

static struct fx *fx_new(uint64_t rate, unsigned max_connections)
{
        struct fx *f = calloc(1, sizeof *f);
        berr e = {0};
        assert_non_null(f);
        f->dir = test_tmpdir("peers-serve");
        assert_int_equal(content_store_open(f->dir, &f->cs, &e), 0);
        f->blob = malloc(BLOB_SIZE);
        for (unsigned i = 0; i < BLOB_SIZE; i++)
                f->blob[i] = (uint8_t)(i * 7 + i / 251);
        assert_int_equal(sha256_buf_str(f->blob, BLOB_SIZE, f->digest), 0);
        char path[4096];
        snprintf(path, sizeof path, "%s/blob.part", content_partial_dir(f->cs));
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fwrite(f->blob, 1, BLOB_SIZE, fp), BLOB_SIZE);
        fclose(fp);
        assert_int_equal(content_publish_file(f->cs, f->digest, path, &e), 0);
        randombytes_buf(f->key.k, sizeof f->key.k);
        struct peer_serve_opts o = {.listen = "127.0.0.1:0", .key = f->key, .cs = f->cs, .rate = rate,
                                    .max_connections = max_connections, .idle_timeout_s = 10};
        assert_int_equal(peer_serve_start(&o, &f->srv, &e), 0);
        assert_true(peer_serve_port(f->srv) > 0);
        assert_int_equal(http_session_new(&f->http, &e), 0);
        return f;
}

static void fx_free(struct fx *f)
{
        http_session_free(f->http);
        peer_serve_stop(f->srv);
        content_store_free(f->cs);
        test_rmdir(f->dir);
        free(f->blob);
        free(f);
}

/* One request; the status (0: no answer), the body in *resp (caller clears). auth:
 * "sign" signs with the fixture's key, "other" with another key, NULL sends none, any
 * other string is sent as it is. */
static long req(struct fx *f, const char *method, const char *path, const char *range, const char *auth,
                struct http_response *resp)
{
        char url[256], hdr[PEER_AUTH_MAX], rh[80];
        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", peer_serve_port(f->srv), path);
        if (auth && (!strcmp(auth, "sign") || !strcmp(auth, "other"))) {
                struct peer_key k = f->key;
                if (!strcmp(auth, "other"))
                        k.k[0] ^= 0x55;
                uint8_t n[PEER_NONCE_LEN] = {0};
                unsigned i = ++f->nonce;
                memcpy(n, &i, sizeof i);
                assert_int_equal(peer_auth_sign(&k, method, path, range, (uint64_t)time(NULL), n, hdr), 0);
                auth = hdr;
        }
        const char *headers[2] = {NULL, NULL};
        if (range) {
                snprintf(rh, sizeof rh, "Range: %s", range);
                headers[0] = rh;
        }
        /* one kept-alive connection, as an agent's requests to one peer */
        struct http_req_opts o = {.method = method, .url = url, .authorization = auth, .plain_credentials = true,
                                  .headers = headers, .max_body = 2 * BLOB_SIZE, .timeout_ms = 20000};
        memset(resp, 0, sizeof *resp);
        berr e = {0};
        int r = http_session_perform(f->http, &o, resp, &e);
        return r < 0 ? 0 : resp->status;
}

static void test_blob_whole_range_head(void **state)
{
        (void)state;
        struct fx *f = fx_new(0, 4);
        char path[128];
        snprintf(path, sizeof path, "/v2/blobs/%s", f->digest);
        struct http_response resp;
        assert_int_equal(req(f, "GET", path, NULL, "sign", &resp), 200);
        assert_int_equal(resp.body_len, BLOB_SIZE);
        assert_memory_equal(resp.body, f->blob, BLOB_SIZE);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", path, "bytes=1000-1999", "sign", &resp), 206);
        assert_int_equal(resp.body_len, 1000);
        assert_memory_equal(resp.body, f->blob + 1000, 1000);
        assert_true(resp.has_content_range);
        assert_int_equal(resp.range_total, BLOB_SIZE);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", path, "bytes=-10", "sign", &resp), 206);
        assert_memory_equal(resp.body, f->blob + BLOB_SIZE - 10, 10);
        http_response_clear(&resp);
        assert_int_equal(req(f, "HEAD", path, NULL, "sign", &resp), 200);
        assert_int_equal(resp.body_len, 0);
        http_response_clear(&resp);
        struct peer_serve_stats st;
        peer_serve_stats(f->srv, &st);
        assert_int_equal(st.requests, 4);
        assert_int_equal(st.blobs, 3);
        assert_int_equal(st.bytes, BLOB_SIZE + 1000 + 10);
        fx_free(f);
}

static void test_refusals(void **state)
{
        (void)state;
        struct fx *f = fx_new(0, 4);
        char path[128], other[128];
        snprintf(path, sizeof path, "/v2/blobs/%s", f->digest);
        snprintf(other, sizeof other, "/v2/blobs/sha256:%064d", 0);
        struct http_response resp;
        assert_int_equal(req(f, "GET", path, NULL, NULL, &resp), 401);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", path, NULL, "other", &resp), 401);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", path, NULL, "Bearer x", &resp), 401);
        http_response_clear(&resp);
        /* a replay: the same header twice */
        char hdr[PEER_AUTH_MAX];
        uint8_t n[PEER_NONCE_LEN] = {0xee};
        assert_int_equal(peer_auth_sign(&f->key, "GET", path, NULL, (uint64_t)time(NULL), n, hdr), 0);
        assert_int_equal(req(f, "GET", path, NULL, hdr, &resp), 200);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", path, NULL, hdr, &resp), 401);
        http_response_clear(&resp);
        /* signed, but not held / not a blob path / not GET / not in the blob */
        assert_int_equal(req(f, "GET", other, NULL, "sign", &resp), 404);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", "/v2/", NULL, "sign", &resp), 404);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", "/v2/blobs/sha256:abc", NULL, "sign", &resp), 404);
        http_response_clear(&resp);
        /* curl folds the dot segments, so the MAC is of another path: refused either way */
        assert_int_equal(req(f, "GET", "/v2/blobs/../../etc/passwd", NULL, "sign", &resp), 401);
        http_response_clear(&resp);
        assert_int_equal(req(f, "DELETE", path, NULL, "sign", &resp), 405);
        http_response_clear(&resp);
        assert_int_equal(req(f, "GET", path, "bytes=600000-", "sign", &resp), 416);
        http_response_clear(&resp);
        struct peer_serve_stats st;
        peer_serve_stats(f->srv, &st);
        assert_int_equal(st.unauthorized, 5);
        assert_int_equal(st.not_found, 3);
        assert_int_equal(st.blobs, 1);
        fx_free(f);
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 MiB/s with a burst of a quarter second: 512 KiB take at least 0.25 s (0.2 allowed
 * for the clock); unpaced, loopback moves them in a few milliseconds. */
static void test_pace(void **state)
{
        (void)state;
        struct fx *f = fx_new(1u << 20, 4);
        char path[128];
        snprintf(path, sizeof path, "/v2/blobs/%s", f->digest);
        struct http_response resp;
        double t0 = now_s();
        assert_int_equal(req(f, "GET", path, NULL, "sign", &resp), 200);
        double took = now_s() - t0;
        assert_int_equal(resp.body_len, BLOB_SIZE);
        http_response_clear(&resp);
        assert_true(took >= 0.2);
        fx_free(f);
}

static int connect_idle(uint16_t port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        return fd;
}

/* Two idle connections fill a limit of 2: a request is turned away at accept. Once one
 * closes, requests are served again. */
static void test_connection_limit(void **state)
{
        (void)state;
        struct fx *f = fx_new(0, 2);
        char path[128];
        snprintf(path, sizeof path, "/v2/blobs/%s", f->digest);
        int a = connect_idle(peer_serve_port(f->srv)), b = connect_idle(peer_serve_port(f->srv));
        struct http_response resp;
        /* the server may not have accepted both yet: wait until it turns one away */
        long st = 200;
        for (int i = 0; i < 100 && st != 0; i++) {
                st = req(f, "GET", path, NULL, "sign", &resp);
                http_response_clear(&resp);
        }
        assert_int_equal(st, 0);
        close(a);
        st = 0;
        for (int i = 0; i < 200 && st != 200; i++) {
                st = req(f, "GET", path, NULL, "sign", &resp);
                http_response_clear(&resp);
        }
        assert_int_equal(st, 200);
        close(b);
        fx_free(f);
}

struct getter {
        struct fx *f;
        char path[128];
        long status;
        struct http_response resp;
        pthread_t t;
};

static void *getter_run(void *ud)
{
        struct getter *g = ud;
        struct http_session *h = NULL;
        berr e = {0};
        char url[256], hdr[PEER_AUTH_MAX];
        uint8_t n[PEER_NONCE_LEN] = {0x77, (uint8_t)g->path[20]};
        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", peer_serve_port(g->f->srv), g->path);
        if (http_session_new(&h, &e) < 0 ||
            peer_auth_sign(&g->f->key, "GET", g->path, NULL, (uint64_t)time(NULL), n, hdr) < 0)
                return NULL;
        struct http_req_opts o = {.url = url, .authorization = hdr, .plain_credentials = true,
                                  .max_body = 2 * BLOB_SIZE, .timeout_ms = 60000, .fresh_connection = true};
        int r = http_session_perform(h, &o, &g->resp, &e);
        g->status = r < 0 ? 0 : g->resp.status;
        http_session_free(h);
        return NULL;
}

/* Waits until the server has sent (at least) n body bytes in all. */
static void wait_sent(struct fx *f, uint64_t n)
{
        struct peer_serve_stats st;
        for (int i = 0; i < 5000; i++) {
                peer_serve_stats(f->srv, &st);
                if (st.bytes >= n)
                        return;
                struct timespec ts = {.tv_nsec = 2000000};
                nanosleep(&ts, NULL);
        }
        fail_msg("the server sent %llu of %llu bytes", (unsigned long long)st.bytes, (unsigned long long)n);
}

static void test_follow_a_download(void **state)
{
        (void)state;
        struct fx *f = fx_new(0, 4);
        /* a second blob, not in the store: the one "downloading" */
        uint8_t *blob = malloc(BLOB_SIZE);
        char digest[DIGEST_STR_LEN + 1];
        for (unsigned i = 0; i < BLOB_SIZE; i++)
                blob[i] = (uint8_t)(i * 13 + 5);
        assert_int_equal(sha256_buf_str(blob, BLOB_SIZE, digest), 0);
        struct getter g = {.f = f};
        snprintf(g.path, sizeof g.path, "/v2/blobs/%s", digest);
        struct http_response resp;
        assert_int_equal(req(f, "HEAD", g.path, NULL, "sign", &resp), 404);
        http_response_clear(&resp);
        assert_int_equal(peer_serve_announce(f->srv, digest, BLOB_SIZE, PEER_BLOB_WANTED), 0);
        assert_int_equal(req(f, "HEAD", g.path, NULL, "sign", &resp), 200);
        http_response_clear(&resp);

        /* the follower asks before a byte is there */
        assert_int_equal(pthread_create(&g.t, NULL, getter_run, &g), 0);
        char part[4096], name[80];
        snprintf(name, sizeof name, "%s.part", digest + 7);
        snprintf(part, sizeof part, "%s/%s", content_partial_dir(f->cs), name);
        FILE *fp = fopen(part, "w");
        assert_non_null(fp);
        assert_int_equal(peer_serve_announce(f->srv, digest, BLOB_SIZE, PEER_BLOB_FETCHING), 0);
        /* half the bytes arrive; the follower gets them */
        assert_int_equal(fwrite(blob, 1, BLOB_SIZE / 2, fp), BLOB_SIZE / 2);
        fflush(fp);
        wait_sent(f, BLOB_SIZE / 2);
        /* the rest, then the publish (the partial file becomes the blob) */
        assert_int_equal(fwrite(blob + BLOB_SIZE / 2, 1, BLOB_SIZE / 2, fp), BLOB_SIZE / 2);
        fclose(fp);
        berr e = {0};
        assert_int_equal(content_publish_file(f->cs, digest, part, &e), 0);
        assert_int_equal(peer_serve_announce(f->srv, digest, 0, PEER_BLOB_NONE), 0);
        pthread_join(g.t, NULL);
        assert_int_equal(g.status, 200);
        assert_int_equal(g.resp.body_len, BLOB_SIZE);
        assert_memory_equal(g.resp.body, blob, BLOB_SIZE);
        http_response_clear(&g.resp);

        /* a download given up: the follower's body is cut */
        blob[0] ^= 1;
        assert_int_equal(sha256_buf_str(blob, BLOB_SIZE, digest), 0);
        snprintf(g.path, sizeof g.path, "/v2/blobs/%s", digest);
        assert_int_equal(peer_serve_announce(f->srv, digest, BLOB_SIZE, PEER_BLOB_WANTED), 0);
        assert_int_equal(pthread_create(&g.t, NULL, getter_run, &g), 0);
        assert_int_equal(peer_serve_announce(f->srv, digest, 0, PEER_BLOB_NONE), 0);
        pthread_join(g.t, NULL);
        assert_int_not_equal(g.resp.body_len, BLOB_SIZE);
        http_response_clear(&g.resp);
        free(blob);
        fx_free(f);
}

static void test_parsers(void **state)
{
        (void)state;
        uint64_t a, b;
        assert_int_equal(peer_parse_range("bytes=0-9", 100, &a, &b), 0);
        assert_true(a == 0 && b == 9);
        assert_int_equal(peer_parse_range("bytes=90-", 100, &a, &b), 0);
        assert_true(a == 90 && b == 99);
        assert_int_equal(peer_parse_range("bytes=90-1000", 100, &a, &b), 0);
        assert_true(a == 90 && b == 99);
        assert_int_equal(peer_parse_range("bytes=-200", 100, &a, &b), 0);
        assert_true(a == 0 && b == 99);
        const char *bad[] = {"bytes=100-", "bytes=5-4", "bytes=0-1,3-4", "bytes=-0", "bytes=", "bits=0-1",
                             "bytes=a-1", "bytes=1-b", "bytes= 1-2", "bytes=--1", "bytes=99999999999999999999999-"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                assert_int_equal(peer_parse_range(bad[i], 100, &a, &b), -ERANGE);
        assert_int_equal(peer_parse_range("bytes=0-0", 0, &a, &b), -ERANGE);

        struct sockaddr_storage ss;
        socklen_t len;
        berr e = {0};
        assert_int_equal(peer_parse_listen("10.1.2.3:7379", &ss, &len, &e), 0);
        assert_int_equal(ss.ss_family, AF_INET);
        assert_int_equal(peer_parse_listen(":7379", &ss, &len, &e), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_int_equal(peer_parse_listen("[fe80::1]:1", &ss, &len, &e), 0);
        const char *badl[] = {"7379", "host:7379", "1.2.3.4:", "1.2.3.4:70000", "1.2.3.4:-1", "[::1:5", NULL};
        for (size_t i = 0; i < sizeof badl / sizeof *badl; i++)
                assert_int_equal(peer_parse_listen(badl[i], &ss, &len, &e), -EINVAL);

        char name[BUNDLE_MAX_NAME_LEN + 1];
        int64_t v = 0;
        assert_int_equal(peer_parse_head_path("gw-stack/12", name, &v), 0);
        assert_string_equal(name, "gw-stack");
        assert_int_equal(v, 12);
        const char *badh[] = {"app", "app/", "/1", "app/1x", "app/-1", "../x/1", "a b/1", "app/1/2",
                              "app/9999999999999999999", ".hidden/1", "app/+1"};
        for (size_t i = 0; i < sizeof badh / sizeof *badh; i++)
                assert_int_equal(peer_parse_head_path(badh[i], name, &v), -EINVAL);
}

/* A head_fn that knows one bundle, app 3. */
static int fake_head(void *ud, const char *name, int64_t version, void **ret, size_t *ret_len)
{
        (void)ud;
        if (strcmp(name, "app") || version != 3)
                return -ENOENT;
        *ret = strdup("HEAD-BYTES");
        *ret_len = 10;
        return *ret ? 0 : -ENOMEM;
}

/* GET /v2/heads/NAME/VERSION: the signed head from head_fn, 404 for another bundle or
 * without head_fn, 401 unsigned. */
static void test_heads(void **state)
{
        (void)state;
        struct fx *f = fx_new(0, 4);
        struct http_response r;
        assert_int_equal(req(f, "GET", "/v2/heads/app/3", NULL, "sign", &r), 404); /* no head_fn */
        http_response_clear(&r);
        peer_serve_stop(f->srv);
        berr e = {0};
        struct peer_serve_opts o = {.listen = "127.0.0.1:0", .key = f->key, .cs = f->cs, .head_fn = fake_head};
        assert_int_equal(peer_serve_start(&o, &f->srv, &e), 0);
        assert_int_equal(req(f, "GET", "/v2/heads/app/3", NULL, "sign", &r), 200);
        assert_int_equal(r.body_len, 10);
        assert_memory_equal(r.body, "HEAD-BYTES", 10);
        http_response_clear(&r);
        assert_int_equal(req(f, "GET", "/v2/heads/app/4", NULL, "sign", &r), 404);
        http_response_clear(&r);
        assert_int_equal(req(f, "GET", "/v2/heads/.hidden/3", NULL, "sign", &r), 404); /* not a bundle name */
        http_response_clear(&r);
        assert_int_equal(req(f, "GET", "/v2/heads/app/3", NULL, NULL, &r), 401);
        http_response_clear(&r);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blob_whole_range_head),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_pace),
                cmocka_unit_test(test_connection_limit),
                cmocka_unit_test(test_follow_a_download),
                cmocka_unit_test(test_parsers),
                cmocka_unit_test(test_heads),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
