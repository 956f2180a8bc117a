/* SPDX-License-Identifier: Apache-2.0 */
/* test_grpc_frame.c — gRPC framing, status header/trailer parsing and code mapping
 * (agent/grpc/frame.c), independent of any transport.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc/frame.h"

struct got {
        size_t n;
        size_t lens[8];
        uint8_t data[8][64];
        int fail_at; /* return -EIO for message number fail_at (1-based), 0 = never */
};

static int collect(const uint8_t *msg, size_t len, void *ud)
{
        struct got *g = ud;
        if (g->n < 8) {
                g->lens[g->n] = len;
                memcpy(g->data[g->n], msg, len < 64 ? len : 64);
        }
        g->n++;
        return g->fail_at && (int)g->n == g->fail_at ? -EIO : 0;
}

static size_t frame(uint8_t *out, const char *payload)
{
        size_t n = strlen(payload);
        grpc_frame_header(out, (uint32_t)n);
        memcpy(out + GRPC_FRAME_HEADER_SIZE, payload, n);
        return GRPC_FRAME_HEADER_SIZE + n;
}

static void test_header_layout(void **state)
{
        (void)state;
        uint8_t h[5];
        grpc_frame_header(h, 0x01020304u);
        uint8_t want[5] = { 0, 1, 2, 3, 4 };
        assert_memory_equal(h, want, 5);
}

static void test_deframe_any_chunking(void **state)
{
        (void)state;
        uint8_t buf[256];
        size_t n = frame(buf, "hello");
        n += frame(buf + n, "");
        n += frame(buf + n, "world!");

        /* Every split into chunks of k bytes gives the same messages. */
        for (size_t k = 1; k <= n; k++) {
                struct grpc_deframer d;
                struct got g = { 0 };
                grpc_deframer_init(&d, 1024);
                for (size_t off = 0; off < n; off += k)
                        assert_int_equal(grpc_deframer_feed(&d, buf + off, off + k > n ? n - off : k, collect, &g), 0);
                assert_true(grpc_deframer_idle(&d));
                assert_int_equal(g.n, 3);
                assert_int_equal(g.lens[0], 5);
                assert_memory_equal(g.data[0], "hello", 5);
                assert_int_equal(g.lens[1], 0);
                assert_int_equal(g.lens[2], 6);
                assert_memory_equal(g.data[2], "world!", 6);
                grpc_deframer_done(&d);
        }
}

static void test_deframe_partial_is_not_idle(void **state)
{
        (void)state;
        uint8_t buf[64];
        size_t n = frame(buf, "abcdef");
        struct grpc_deframer d;
        struct got g = { 0 };
        grpc_deframer_init(&d, 1024);
        assert_int_equal(grpc_deframer_feed(&d, buf, n - 2, collect, &g), 0);
        assert_false(grpc_deframer_idle(&d));
        assert_int_equal(g.n, 0);
        grpc_deframer_done(&d);
}

static void test_deframe_limits(void **state)
{
        (void)state;
        struct grpc_deframer d;
        struct got g = { 0 };
        uint8_t big[5];
        grpc_frame_header(big, 2000);
        grpc_deframer_init(&d, 1999);
        assert_int_equal(grpc_deframer_feed(&d, big, 5, collect, &g), -EMSGSIZE);
        grpc_deframer_done(&d);

        /* A length near 4 GiB must be refused before any allocation. */
        uint8_t huge[5] = { 0, 0xff, 0xff, 0xff, 0xff };
        grpc_deframer_init(&d, GRPC_MAX_RECV_MESSAGE);
        assert_int_equal(grpc_deframer_feed(&d, huge, 5, collect, &g), -EMSGSIZE);
        grpc_deframer_done(&d);

        uint8_t compressed[6] = { 1, 0, 0, 0, 1, 'x' };
        grpc_deframer_init(&d, 1024);
        assert_int_equal(grpc_deframer_feed(&d, compressed, 6, collect, &g), -EPROTO);
        grpc_deframer_done(&d);
        assert_int_equal(g.n, 0);
}

static void test_deframe_callback_error_stops(void **state)
{
        (void)state;
        uint8_t buf[64];
        size_t n = frame(buf, "a");
        n += frame(buf + n, "b");
        struct grpc_deframer d;
        struct got g = { .fail_at = 1 };
        grpc_deframer_init(&d, 1024);
        assert_int_equal(grpc_deframer_feed(&d, buf, n, collect, &g), -EIO);
        assert_int_equal(g.n, 1);
        grpc_deframer_done(&d);
}

static void feed(struct grpc_status *s, const char *line)
{
        assert_int_equal(grpc_status_parse_line(s, line, strlen(line)), 0);
}

static void test_status_headers_and_trailers(void **state)
{
        (void)state;
        struct grpc_status s = { 0 };
        feed(&s, "HTTP/2 200 \r\n");
        feed(&s, "content-type: application/grpc\r\n");
        feed(&s, "\r\n");
        assert_int_equal(s.http_status, 200);
        assert_true(s.content_type_ok);
        assert_false(s.have_status);
        /* trailers, as libcurl hands them to the header callback */
        feed(&s, "grpc-status: 5\r\n");
        feed(&s, "grpc-message: content sha256:ab%3A cd: not found\r\n");
        assert_true(s.have_status);
        assert_int_equal(s.code, GRPC_NOT_FOUND);
        assert_string_equal(s.message, "content sha256:ab: cd: not found");
        assert_int_equal(grpc_code_to_errno(s.code), -ENOENT);
        assert_string_equal(grpc_code_name(s.code), "NOT_FOUND");
}

static void test_status_trailers_only(void **state)
{
        (void)state;
        struct grpc_status s = { 0 };
        feed(&s, "HTTP/2 200\r\n");
        feed(&s, "Content-Type: application/grpc+proto\r\n");
        feed(&s, "Grpc-Status: 14\r\n");
        feed(&s, "grpc-message: connection%20refused%ZZ%\r\n");
        assert_true(s.content_type_ok);
        assert_int_equal(s.code, GRPC_UNAVAILABLE);
        /* invalid escapes are kept as they are */
        assert_string_equal(s.message, "connection refused%ZZ%");
}

static void test_status_malformed(void **state)
{
        (void)state;
        struct grpc_status s = { 0 };
        const char *bad[] = { "grpc-status: \r\n", "grpc-status: x1\r\n", "grpc-status: 1234\r\n", "HTTP/2 2x0\r\n" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(grpc_status_parse_line(&s, bad[i], strlen(bad[i])), -EBADMSG);
        feed(&s, "content-type: text/html\r\n");
        assert_false(s.content_type_ok);
        feed(&s, "content-type: application/grpcx\r\n");
        assert_false(s.content_type_ok);
        /* unrelated headers are ignored */
        feed(&s, "grpc-status-details-bin: AAAA\r\n");
        assert_false(s.have_status);
}

static void test_percent_decode_bounds(void **state)
{
        (void)state;
        char out[4];
        grpc_percent_decode("abcdef", 6, out, sizeof out);
        assert_string_equal(out, "abc");
        grpc_percent_decode("%41%", 4, out, sizeof out);
        assert_string_equal(out, "A%");
        grpc_percent_decode("%00", 3, out, sizeof out);
        assert_string_equal(out, "?");
}

static void test_code_mapping(void **state)
{
        (void)state;
        assert_int_equal(grpc_code_to_errno(GRPC_OK), 0);
        assert_int_equal(grpc_code_to_errno(GRPC_ALREADY_EXISTS), -EEXIST);
        assert_int_equal(grpc_code_to_errno(GRPC_DEADLINE_EXCEEDED), -ETIMEDOUT);
        assert_int_equal(grpc_code_to_errno(GRPC_UNIMPLEMENTED), -EOPNOTSUPP);
        assert_int_equal(grpc_code_to_errno(99), -EPROTO);
        assert_string_equal(grpc_code_name(99), "UNKNOWN_CODE");
        assert_string_equal(grpc_code_name(-1), "UNKNOWN_CODE");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_header_layout),
                cmocka_unit_test(test_deframe_any_chunking),
                cmocka_unit_test(test_deframe_partial_is_not_idle),
                cmocka_unit_test(test_deframe_limits),
                cmocka_unit_test(test_deframe_callback_error_stops),
                cmocka_unit_test(test_status_headers_and_trailers),
                cmocka_unit_test(test_status_trailers_only),
                cmocka_unit_test(test_status_malformed),
                cmocka_unit_test(test_percent_decode_bounds),
                cmocka_unit_test(test_code_mapping),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
