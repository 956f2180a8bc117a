/* SPDX-License-Identifier: Apache-2.0 */
/* test_download.c — fetch/download.c against an in-process HTTP server: a span of three
 * blobs in one request (with the bytes between them dropped), the same from a server that
 * ignores Range (200), a corrupt blob in the middle of the span (the one before it stays
 * published, nothing after it is stored), and a cut in the middle of a blob resumed
 * from its journaled length with one more request. */
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

/* Runs one span of blobs first..first+n-1; returns blob_download_start's answer. */
static int run_span(struct env *v, struct run *x, size_t first, size_t n)
{
        x->r = 1;
        x->first = first;
        assert_true(sd_event_new(&x->ev) >= 0);
        struct http_loop *l = NULL;
        assert_int_equal(http_loop_new(x->ev, &l, NULL), 0);
        struct blob_span_item items[3];
        for (size_t i = 0; i < n; i++)
                items[i] = (struct blob_span_item){.digest = digs[first + i], .size = sizes[first + i], .offset = offs[first + i]};
        struct http_req_opts req = {.url = v->url, .timeout_ms = 10000};
        struct blob_download_opts o = {.http = l, .req = &req, .chunk_size = 256, .db = v->db, .cs = v->cs,
                                       .blobs = items, .n_blobs = n, .blob_done = on_stored, .done = on_done,
                                       .userdata = x};
        struct blob_download *d = NULL;
        berr e = {0};
        int r = blob_download_start(&o, &d, &e);
        if (r == 0)
                assert_true(sd_event_loop(x->ev) >= 0);
        blob_download_free(d);
        http_loop_free(l);
        x->ev = sd_event_unref(x->ev);
        return r;
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_span),
                cmocka_unit_test(test_span_without_range),
                cmocka_unit_test(test_corrupt_middle),
                cmocka_unit_test(test_cut_and_resume),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
