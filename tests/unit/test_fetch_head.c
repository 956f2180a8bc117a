/* SPDX-License-Identifier: Apache-2.0 */
/* test_fetch_head.c — the head of a remote .berth fetched on the event loop: one request
 * for a small head, two for a large manifest, a server that ignores Range (200), and
 * the failures: not a .berth, a file that ends inside its head, 404 (for good), 503
 * (transient). The peer is an in-process HTTP server that honours Range or not. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "bundle/tarheader.h"
#include "fetch/head.h"
#include "rangesrv.h"

#define PAD(n) (((n) + 511) / 512 * 512)

/* A .berth-shaped file: manifest (msize bytes), signatures (200), one blob of 1000.
 * *head_len: where the head ends. */
static uint8_t *artifact(size_t msize, size_t *len, size_t *head_len)
{
        size_t sig = 200, blob = 1000;
        *head_len = 512 + PAD(msize) + 512 + PAD(sig);
        *len = *head_len + 512 + PAD(blob) + 1024;
        uint8_t *f = calloc(1, *len);
        assert_non_null(f);
        assert_true(tar_canonical_header(f, "manifest.json", msize));
        memset(f + 512, 'm', msize);
        size_t o = 512 + PAD(msize);
        assert_true(tar_canonical_header(f + o, "signatures.json", sig));
        memset(f + o + 512, 's', sig);
        assert_true(tar_canonical_header(f + *head_len, "blobs/sha256/aa", blob));
        return f;
}

struct result {
        sd_event *ev;
        int r;
        uint8_t *buf;
        size_t len;
        char msg[512];
};

static void on_done(void *ud, int r, uint8_t *buf, size_t len, const berr *e)
{
        struct result *res = ud;
        res->r = r;
        res->buf = buf;
        res->len = len;
        if (r < 0)
                snprintf(res->msg, sizeof res->msg, "%s", berr_msg(e, r));
        sd_event_exit(res->ev, 0);
}

static void fetch(struct rangesrv *s, uint64_t size, struct result *res)
{
        rangesrv_start(s);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/a.berth", s->t.port);
        *res = (struct result){.r = 1};
        assert_true(sd_event_new(&res->ev) >= 0);
        struct http_loop *l = NULL;
        assert_int_equal(http_loop_new(res->ev, &l, NULL), 0);
        struct http_req_opts req = {.url = url, .timeout_ms = 10000};
        struct head_fetch_opts o = {.http = l, .req = &req, .artifact_size = size, .done = on_done, .userdata = res};
        struct head_fetch *h = NULL;
        berr e = {0};
        assert_int_equal(head_fetch_start(&o, &h, &e), 0);
        assert_true(sd_event_loop(res->ev) >= 0);
        head_fetch_free(h);
        http_loop_free(l);
        res->ev = sd_event_unref(res->ev);
        rangesrv_stop(s);
}

static void test_small_and_large(void **state)
{
        (void)state;
        size_t len, head;
        _cleanup_free_ uint8_t *f = artifact(1500, &len, &head);
        struct rangesrv s = {.file = f, .file_len = len};
        struct result res;
        fetch(&s, len, &res);
        assert_int_equal(res.r, 0);
        assert_int_equal(res.len, head);
        assert_memory_equal(res.buf, f, head);
        assert_int_equal(s.requests, 1);
        free(res.buf);

        _cleanup_free_ uint8_t *g = artifact(10000, &len, &head);
        struct rangesrv s2 = {.file = g, .file_len = len};
        fetch(&s2, 0, &res);
        assert_int_equal(res.r, 0);
        assert_int_equal(res.len, head);
        assert_memory_equal(res.buf, g, head);
        assert_int_equal(s2.requests, 2); /* 4 KiB, then exactly the rest of the head */
        free(res.buf);

        struct rangesrv s3 = {.file = g, .file_len = len, .ignore_range = true};
        fetch(&s3, 0, &res);
        assert_int_equal(res.r, 0);
        assert_int_equal(res.len, head);
        assert_memory_equal(res.buf, g, head);
        free(res.buf);
}

static void test_failures(void **state)
{
        (void)state;
        size_t len, head;
        _cleanup_free_ uint8_t *f = artifact(10000, &len, &head);
        struct result res;

        struct rangesrv cut = {.file = f, .file_len = 6000}; /* ends inside the manifest */
        fetch(&cut, 0, &res);
        assert_int_equal(res.r, -EBADMSG);
        assert_non_null(strstr(res.msg, "inside the bundle head"));
        assert_null(res.buf);

        struct rangesrv cut200 = {.file = f, .file_len = 6000, .ignore_range = true};
        fetch(&cut200, 0, &res);
        assert_int_equal(res.r, -EBADMSG);

        uint8_t junk[4096];
        memset(junk, 'j', sizeof junk);
        struct rangesrv notberth = {.file = junk, .file_len = sizeof junk};
        fetch(&notberth, 0, &res);
        assert_int_equal(res.r, -EBADMSG);
        assert_non_null(strstr(res.msg, "is not a .berth bundle"));

        struct rangesrv gone = {.file = f, .file_len = len, .status = 404};
        fetch(&gone, 0, &res);
        assert_int_equal(res.r, -EPROTO);
        assert_non_null(strstr(res.msg, "HTTP 404"));

        struct rangesrv busy = {.file = f, .file_len = len, .status = 503};
        fetch(&busy, 0, &res);
        assert_int_equal(res.r, -EAGAIN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_small_and_large),
                cmocka_unit_test(test_failures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
