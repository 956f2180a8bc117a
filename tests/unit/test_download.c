/* SPDX-License-Identifier: Apache-2.0 */
/* test_download.c — fetch/download.c against an in-process HTTP server: a span of three
 * blobs in one request (with the bytes between them dropped), the same from a server that
 * ignores Range (200), a corrupt blob in the middle of the span (the one before it stays
 * published, nothing after it is stored), and a cut in the middle of a blob resumed
 * from its journaled length with one more request. Sink mode (a layer streamed into
 * its applier): the sink gets exactly the blob's bytes once, in order, through pauses
 * (-EAGAIN), after a cut from the offset it had, and from a server ignoring Range; a
 * sink error ends the download with it; nothing touches the store or the journal. */
#include "testutil.h"

#include <errno.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "base/digest.h"
#include "fetch/download.h"
#include "rangesrv.h"
#include "store/agentdb.h"
#include "store/content.h"
#include "store/db.h"

/* ---- the artifact: filler, blob A, gap, blob B, gap, blob C, trailer ------------------ */

#define ART_LEN 9000
static const uint64_t offs[3] = {512, 2048, 6144};
static const uint64_t sizes[3] = {1000, 3500, 800};
static uint8_t art[ART_LEN];
static char digs[3][DIGEST_STR_LEN + 1];

static void make_artifact(void)
{
        uint32_t x = 12345;
        for (size_t i = 0; i < ART_LEN; i++) {
                x = x * 1103515245u + 12345u;
                art[i] = (uint8_t)(x >> 16);
        }
        for (int i = 0; i < 3; i++)
                assert_int_equal(sha256_buf_str(art + offs[i], sizes[i], digs[i]), 0);
}

/* ---- the client ------------------------------------------------------------------------- */

struct run {
        sd_event *ev;
        int r;
        berr e;
        int stored[3];
        uint64_t fetched[3];
        size_t first;           /* index in the artifact of the span's first blob */
};

static void on_stored(void *ud, size_t i, uint64_t fetched)
{
        struct run *x = ud;
        x->stored[x->first + i]++;
        x->fetched[x->first + i] = fetched;
}

static void on_done(void *ud, int r, const berr *e)
{
        struct run *x = ud;
        x->r = r;
        if (e)
                x->e = *e;
        sd_event_exit(x->ev, 0);
}

struct env {
        char *dir;
        struct berth_db *db;
        struct content_store *cs;
        struct rangesrv s;
        char url[64];
};

static void env_open(struct env *v, struct rangesrv s)
{
        make_artifact();
        v->dir = test_tmpdir("download");
        berr e = {0};
        assert_int_equal(db_open(v->dir, &v->db, &e), 0);
        assert_int_equal(content_store_open(v->dir, &v->cs, &e), 0);
        v->s = s;
        v->s.file = art;
        v->s.file_len = ART_LEN;
        rangesrv_start(&v->s);
        snprintf(v->url, sizeof v->url, "http://127.0.0.1:%d/a.berth", v->s.t.port);
}

static void env_close(struct env *v)
{
        rangesrv_stop(&v->s);
        content_store_free(v->cs);
        db_close(v->db);
        test_rmdir(v->dir);
}

/* Runs the download o describes (its loop, URL and callbacks filled in here) until it
 * ends; returns blob_download_start's answer. */
static int run_download(struct env *v, struct run *x, size_t first, struct blob_download_opts *o)
{
        x->r = 1;
        x->first = first;
        assert_true(sd_event_new(&x->ev) >= 0);
        struct http_loop *l = NULL;
        assert_int_equal(http_loop_new(x->ev, &l, NULL), 0);
        struct http_req_opts req = {.url = v->url, .timeout_ms = 10000};
        o->http = l;
        o->req = &req;
        o->chunk_size = 256;
        o->db = v->db;
        o->cs = v->cs;
        o->blob_done = on_stored;
        o->done = on_done;
        o->userdata = x;
        struct blob_download *d = NULL;
        berr e = {0};
        int r = blob_download_start(o, &d, &e);
        if (r == 0)
                assert_true(sd_event_loop(x->ev) >= 0);
        blob_download_free(d);
        http_loop_free(l);
        x->ev = sd_event_unref(x->ev);
        return r;
}

/* Runs one span of blobs first..first+n-1. */
static int run_span(struct env *v, struct run *x, size_t first, size_t n)
{
        struct blob_span_item items[3];
        for (size_t i = 0; i < n; i++)
                items[i] = (struct blob_span_item){.digest = digs[first + i], .size = sizes[first + i], .offset = offs[first + i]};
        struct blob_download_opts o = {.blobs = items, .n_blobs = n};
        return run_download(v, x, first, &o);
}

static void test_span(void **state)
{
        struct env v = {0};
        env_open(&v, (struct rangesrv){0});
        struct run x = {0};
        assert_int_equal(run_span(&v, &x, 0, 3), 0);
        assert_int_equal(x.r, 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(x.stored[i], 1);
                assert_int_equal(x.fetched[i], sizes[i]);
                assert_true(content_has(v.cs, digs[i], sizes[i]));
        }
        assert_int_equal(v.s.requests, 1);
        assert_string_equal(v.s.ranges[0], "512-6943"); /* A's first byte to C's last */
        env_close(&v);
}

static void test_span_without_range(void **state)
{
        struct env v = {0};
        env_open(&v, (struct rangesrv){.ignore_range = true});
        struct run x = {0};
        assert_int_equal(run_span(&v, &x, 0, 3), 0);
        assert_int_equal(x.r, 0);
        for (int i = 0; i < 3; i++)
                assert_true(content_has(v.cs, digs[i], sizes[i]));
        assert_int_equal(v.s.requests, 1);
        env_close(&v);
}

static void test_corrupt_middle(void **state)
{
        struct env v = {0};
        env_open(&v, (struct rangesrv){.corrupt_at = 2048 + 1000});
        struct run x = {0};
        assert_int_equal(run_span(&v, &x, 0, 3), 0);
        assert_int_equal(x.r, -EBADMSG);
        assert_non_null(strstr(x.e.msg, digs[1]));
        assert_non_null(strstr(x.e.msg, "is corrupt"));
        assert_int_equal(x.stored[0], 1);
        assert_int_equal(x.stored[1] + x.stored[2], 0);
        assert_true(content_has(v.cs, digs[0], sizes[0]));
        assert_false(content_has(v.cs, digs[1], sizes[1]));
        assert_false(content_has(v.cs, digs[2], sizes[2]));
        uint64_t good = 0;
        assert_int_equal(agentdb_download_get(v.db, digs[1], &good), 0); /* the partial was dropped */
        env_close(&v);
}

static void test_cut_and_resume(void **state)
{
        struct env v = {0};
        /* The cut falls 2000 bytes into B (its data starts 1536 bytes into the answer). */
        env_open(&v, (struct rangesrv){.cut_after = 1536 + 2000});
        struct run x = {0};
        assert_int_equal(run_span(&v, &x, 0, 3), 0);
        assert_true(x.r < 0);
        assert_int_equal(x.stored[0], 1);
        assert_true(content_has(v.cs, digs[0], sizes[0]));
        uint64_t good = 0;
        assert_int_equal(agentdb_download_get(v.db, digs[1], &good), 1);
        assert_int_equal(good, 2000); /* journaled when the transfer stopped */
        /* The retry asks for the rest of the span only. */
        struct run y = {0};
        assert_int_equal(run_span(&v, &y, 1, 2), 0);
        assert_int_equal(y.r, 0);
        assert_int_equal(y.fetched[1], sizes[1] - 2000);
        assert_int_equal(y.fetched[2], sizes[2]);
        for (int i = 0; i < 3; i++)
                assert_true(content_has(v.cs, digs[i], sizes[i]));
        assert_int_equal(v.s.requests, 2);
        assert_string_equal(v.s.ranges[1], "4048-6943");
        env_close(&v);
}

/* ---- sink mode ---------------------------------------------------------------------- */

struct sink {
        uint8_t got[4096];
        size_t n;
        unsigned calls, refused;        /* the first two and every 3rd call: -EAGAIN */
        int fail_at;                    /* > 0: this call fails with -EIO */
};

static int sink_fn(void *ud, const void *p, size_t n)
{
        struct sink *k = ud;
        k->calls++;
        if (k->fail_at && (int)k->calls == k->fail_at)
                return -EIO;
        if (k->calls <= 2 || k->calls % 3 == 0) {
                k->refused++;
                return -EAGAIN;
        }
        assert_true(k->n + n <= sizeof k->got);
        memcpy(k->got + k->n, p, n);
        k->n += n;
        return 0;
}

/* Blob B (3500 bytes) into k from k->n on. */
static int run_sink(struct env *v, struct run *x, struct sink *k)
{
        struct blob_span_item item = {.digest = digs[1], .size = sizes[1], .offset = offs[1]};
        struct blob_download_opts o = {.blobs = &item, .n_blobs = 1, .sink = sink_fn, .sink_ud = k, .sink_offset = k->n};
        return run_download(v, x, 1, &o);
}

static void assert_sink_is_blob(struct env *v, const struct sink *k)
{
        assert_int_equal(k->n, sizes[1]);
        assert_memory_equal(k->got, art + offs[1], sizes[1]);
        assert_false(content_has(v->cs, digs[1], sizes[1])); /* nothing published */
        uint64_t good = 0;
        assert_int_equal(agentdb_download_get(v->db, digs[1], &good), 0); /* nothing journaled */
}

static void test_sink(void **state)
{
        struct env v = {0};
        env_open(&v, (struct rangesrv){0});
        struct run x = {0};
        struct sink k = {0};
        assert_int_equal(run_sink(&v, &x, &k), 0);
        assert_int_equal(x.r, 0);
        assert_int_equal(x.stored[1], 1);
        assert_int_equal(x.fetched[1], sizes[1]);
        assert_sink_is_blob(&v, &k);
        assert_string_equal(v.s.ranges[0], "2048-5547");
        env_close(&v);
}

static void test_sink_pauses(void **state)
{
        /* The sink refuses calls (the first chunk of a 200 among them, which
         * also skips the bytes before the blob): each refused chunk must come again
         * unchanged, or the bytes would be out of order, doubled or missing. */
        struct env v = {0};
        env_open(&v, (struct rangesrv){.ignore_range = true});
        struct run x = {0};
        struct sink k = {0};
        assert_int_equal(run_sink(&v, &x, &k), 0);
        assert_int_equal(x.r, 0);
        assert_true(k.refused >= 1);
        assert_sink_is_blob(&v, &k);
        env_close(&v);
}

static void test_sink_cut_and_resume(void **state)
{
        struct env v = {0};
        env_open(&v, (struct rangesrv){.cut_after = 2000});
        struct run x = {0};
        struct sink k = {0};
        assert_int_equal(run_sink(&v, &x, &k), 0);
        assert_true(x.r < 0);
        assert_int_equal(x.stored[1], 0);
        assert_int_equal(k.n, 2000);
        struct run y = {0};
        assert_int_equal(run_sink(&v, &y, &k), 0); /* from k.n = 2000 on */
        assert_int_equal(y.r, 0);
        assert_int_equal(y.fetched[1], sizes[1] - 2000);
        assert_sink_is_blob(&v, &k);
        assert_string_equal(v.s.ranges[1], "4048-5547");
        env_close(&v);
}

static void test_sink_error(void **state)
{
        struct env v = {0};
        env_open(&v, (struct rangesrv){0});
        struct run x = {0};
        struct sink k = {.fail_at = 1};
        assert_int_equal(run_sink(&v, &x, &k), 0);
        assert_int_equal(x.r, -EIO);
        assert_int_equal(x.stored[1], 0);
        assert_non_null(strstr(x.e.msg, digs[1]));
        env_close(&v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_span),
                cmocka_unit_test(test_span_without_range),
                cmocka_unit_test(test_corrupt_middle),
                cmocka_unit_test(test_cut_and_resume),
                cmocka_unit_test(test_sink),
                cmocka_unit_test(test_sink_pauses),
                cmocka_unit_test(test_sink_cut_and_resume),
                cmocka_unit_test(test_sink_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
