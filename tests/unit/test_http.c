/* SPDX-License-Identifier: Apache-2.0 */
/* test_http.c — berth's HTTP transport (net/http.h): both drivers against a tiny
 * in-process server on loopback, the one error translation (refused, missing socket,
 * oversized answer, credentials over plain HTTP), streamed uploads, the rate cap, and
 * the pure parsers (Content-Range, Retry-After, escaping, status errors). */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/wait.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "net/http.h"

/* ---- a one-connection-at-a-time server answering canned bytes ------------------------ */

struct srv {
        struct test_server t;
        const char *answer;     /* sent after the request's headers (and body) are read */
        size_t answer_len;
        int requests;           /* how many requests to serve */
        bool hold;              /* keep each connection open until the client closes it */
        char got[65536];        /* the last request, as received */
        size_t got_len;
};

static size_t body_len_of(const char *req)
{
        const char *p = strcasestr(req, "\r\nContent-Length:");
        return p ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

static void *srv_main(void *ud)
{
        struct srv *s = ud;
        for (int i = 0; i < s->requests; i++) {
                int c = accept(s->t.fd, NULL, NULL);
                if (c < 0)
                        break;
                s->got_len = 0;
                for (;;) {
                        ssize_t k = recv(c, s->got + s->got_len, sizeof s->got - 1 - s->got_len, 0);
                        if (k <= 0)
                                break;
                        s->got_len += (size_t)k;
                        s->got[s->got_len] = 0;
                        char *end = strstr(s->got, "\r\n\r\n");
                        if (end && s->got_len >= (size_t)(end + 4 - s->got) + body_len_of(s->got))
                                break;
                }
                size_t off = 0;
                while (off < s->answer_len) {
                        ssize_t k = send(c, s->answer + off, s->answer_len - off, MSG_NOSIGNAL);
                        if (k <= 0)
                                break;
                        off += (size_t)k;
                }
                if (s->hold) {
                        char b[256];
                        while (recv(c, b, sizeof b, 0) > 0)
                                ;
                }
                close(c);
        }
        return NULL;
}

static void srv_start(struct srv *s, const char *answer, size_t len, int requests)
{
        s->answer = answer;
        s->answer_len = len;
        s->requests = requests;
        test_server_start(&s->t, srv_main, s);
}

static void srv_stop(struct srv *s)
{
        test_server_stop(&s->t);
}

static char *url_of(const struct srv *s, const char *path)
{
        char *u;
        assert_true(asprintf(&u, "http://127.0.0.1:%d%s", s->t.port, path) > 0);
        return u;
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"v1\"\r\nConnection: close\r\n\r\nhello"

/* ---- blocking ------------------------------------------------------------------------ */

static void test_session_get(void **state)
{
        struct srv s = {0};
        srv_start(&s, OK_HELLO, strlen(OK_HELLO), 1);
        _cleanup_free_ char *url = url_of(&s, "/x?y=1");
        struct http_session *hs = NULL;
        assert_int_equal(http_session_new(&hs, NULL), 0);
        const char *extra[] = {"X-Test: 1", NULL};
        struct http_req_opts o = {.url = url, .accept = "application/json", .headers = extra};
        struct http_response resp;
        berr e = {0};
        assert_int_equal(http_session_perform(hs, &o, &resp, &e), 0);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.body_len, 5);
        assert_string_equal(resp.body, "hello");
        assert_string_equal(resp.etag, "\"v1\"");
        assert_int_equal(resp.retry_after, -1);
        assert_true(resp.wire_bytes > 5);
        http_response_clear(&resp);
        srv_stop(&s);
        assert_non_null(strstr(s.got, "GET /x?y=1 HTTP/1.1\r\n"));
        assert_non_null(strcasestr(s.got, "\r\nAccept: application/json\r\n"));
        assert_non_null(strstr(s.got, "\r\nX-Test: 1\r\n"));
        http_session_free(hs);
}

struct up {
        const char *data;
        size_t off, len;
};

static ssize_t up_read(void *ud, char *buf, size_t cap)
{
        struct up *u = ud;
        size_t k = u->len - u->off < cap ? u->len - u->off : cap;
        if (k > 3)
                k = 3; /* small pieces: the transport must loop */
        memcpy(buf, u->data + u->off, k);
        u->off += k;
        return (ssize_t)k;
}

static void test_session_upload_and_status(void **state)
{
        static const char ans[] = "HTTP/1.1 503 Busy\r\nRetry-After: 42\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo busy\n";
        struct srv s = {0};
        srv_start(&s, ans, strlen(ans), 1);
        _cleanup_free_ char *url = url_of(&s, "/up");
        struct http_session *hs = NULL;
        assert_int_equal(http_session_new(&hs, NULL), 0);
        struct up u = {.data = "0123456789abcdef", .len = 16};
        struct http_req_opts o = {.method = "PUT", .url = url, .content_type = "text/plain", .on_read = up_read,
                                  .upload_size = 16, .userdata = &u};
        struct http_response resp;
        berr e = {0};
        assert_int_equal(http_session_perform(hs, &o, &resp, &e), 0);
        assert_int_equal(resp.status, 503);
        assert_int_equal(resp.retry_after, 42);
        assert_int_equal(resp.bytes_sent, 16);
        assert_int_equal(http_status_error(&resp, "PUT /up", &e), -EAGAIN);
        assert_non_null(strstr(e.msg, "HTTP 503 (too busy )"));
        http_response_clear(&resp);
        srv_stop(&s);
        assert_non_null(strstr(s.got, "PUT /up HTTP/1.1\r\n"));
        assert_non_null(strstr(s.got, "\r\n\r\n0123456789abcdef"));
        http_session_free(hs);
}

static void test_errors(void **state)
{
        struct http_session *hs = NULL;
        assert_int_equal(http_session_new(&hs, NULL), 0);
        struct http_response resp;
        berr e = {0};

        /* Nobody listens: refused, naming what we tried and what to check. */
        struct srv s = {0};
        srv_start(&s, "", 0, 0);
        _cleanup_free_ char *url = url_of(&s, "/");
        srv_stop(&s);
        struct http_req_opts o = {.url = url, .name = "registry X", .peer = "the registry"};
        assert_int_equal(http_session_perform(hs, &o, &resp, &e), -ECONNREFUSED);
        assert_non_null(strstr(e.msg, "registry X is not reachable"));
        assert_non_null(strstr(e.msg, "is the registry up"));
        http_response_clear(&resp);

        /* A unix socket that does not exist. */
        berr_clear(&e);
        struct http_req_opts u = {.url = "http://localhost/x", .unix_socket = "/nonexistent/berth-test.sock",
                                  .peer = "containerd"};
        assert_int_equal(http_session_perform(hs, &u, &resp, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "cannot connect to /nonexistent/berth-test.sock"));
        assert_non_null(strstr(e.msg, "is containerd running"));
        http_response_clear(&resp);

        /* Credentials never go over plain HTTP unless allowed; nothing is sent. */
        berr_clear(&e);
        struct http_req_opts c = {.url = "http://127.0.0.1:1/", .authorization = "TargetToken secret"};
        assert_int_equal(http_session_perform(hs, &c, &resp, &e), -EPERM);
        assert_non_null(strstr(e.msg, "refusing to send credentials over plain HTTP"));
        http_response_clear(&resp);

        /* An answer larger than max_body. */
        berr_clear(&e);
        srv_start(&s, OK_HELLO, strlen(OK_HELLO), 1);
        free(url);
        url = url_of(&s, "/");
        struct http_req_opts b = {.url = url, .max_body = 4};
        assert_int_equal(http_session_perform(hs, &b, &resp, &e), -EFBIG);
        assert_non_null(strstr(e.msg, "larger than 4 bytes"));
        http_response_clear(&resp);
        srv_stop(&s);

        /* Not an http(s) URL. */
        struct http_req_opts f = {.url = "file:///etc/passwd"};
        assert_int_equal(http_session_perform(hs, &f, &resp, NULL), -EINVAL);
        http_session_free(hs);
}

/* ---- on the loop ---------------------------------------------------------------------- */

struct loop_ctx {
        sd_event *ev;
        int r;
        long status;
        size_t got;
        uint64_t start, end;
};

static int collect(void *ud, const struct http_response *resp, const void *buf, size_t len)
{
        ((struct loop_ctx *)ud)->got += len;
        return 0;
}

static void done(void *ud, int r, const struct http_response *resp, const berr *e)
{
        struct loop_ctx *c = ud;
        c->r = r;
        c->status = resp->status;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c->end = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
        sd_event_exit(c->ev, 0);
}

static void test_loop_rate_cap(void **state)
{
        /* 96 KiB at a 64 KiB/s cap: with the 16 KiB burst, at least 1.2 s. */
        size_t n = 96 * 1024;
        char *ans = malloc(n + 200);
        int h = snprintf(ans, 200, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
        memset(ans + h, 'x', n);
        struct srv s = {0};
        srv_start(&s, ans, (size_t)h + n, 1);
        _cleanup_free_ char *url = url_of(&s, "/blob");
        struct loop_ctx c = {.r = 1};
        assert_true(sd_event_new(&c.ev) >= 0);
        struct http_loop *l = NULL;
        assert_int_equal(http_loop_new(c.ev, &l, NULL), 0);
        struct http_req_opts o = {.url = url, .max_recv_speed = 64 * 1024, .on_data = collect, .on_done = done,
                                  .userdata = &c};
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c.start = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
        assert_int_equal(http_start(l, &o, NULL, NULL), 0);
        assert_int_equal(http_running(l), 1);
        assert_true(sd_event_loop(c.ev) >= 0);
        assert_int_equal(c.r, 0);
        assert_int_equal(c.status, 200);
        assert_int_equal(c.got, n);
        double secs = (double)(c.end - c.start) / 1e6;
        assert_true(secs >= 1.2);
        assert_true(secs < 5.0);
        assert_int_equal(http_running(l), 0);
        assert_true(http_loop_wire_bytes(l) >= n);
        http_loop_free(l);
        sd_event_unref(c.ev);
        srv_stop(&s);
        free(ans);
}

/* The meter counts what crossed the network for the requests that carry it: the answer
 * and the request, each with their TCP/IP headers, and nothing for a request without it. */
static void test_loop_meter(void **state)
{
        size_t n = 200 * 1024;
        char *ans = malloc(n + 200);
        int h = snprintf(ans, 200, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
        memset(ans + h, 'x', n);
        struct srv s = {0};
        srv_start(&s, ans, (size_t)h + n, 2);
        _cleanup_free_ char *url = url_of(&s, "/blob");
        struct loop_ctx c = {.r = 1};
        assert_true(sd_event_new(&c.ev) >= 0);
        struct http_loop *l = NULL;
        assert_int_equal(http_loop_new(c.ev, &l, NULL), 0);
        struct http_meter m = {0};
        struct http_req_opts o = {.url = url, .on_data = collect, .on_done = done, .userdata = &c, .meter = &m};
        assert_int_equal(http_start(l, &o, NULL, NULL), 0);
        assert_true(sd_event_loop(c.ev) >= 0);
        assert_int_equal(c.r, 0);
        assert_int_equal(c.got, n);
        http_loop_meter_sync(l);
        /* Payload plus 52 bytes per segment: loopback's 64 KiB segments make that small. */
        assert_true(m.rx >= (uint64_t)h + n);
        assert_true(m.rx < (uint64_t)h + n + 4096);
        assert_true(m.tx > 60 && m.tx < 1000); /* "GET /blob HTTP/1.1", Host, Accept… */

        struct http_meter before = m;
        http_loop_free(l);
        sd_event_unref(c.ev); /* an event loop that exited does not run again */
        c = (struct loop_ctx) {.r = 1};
        assert_true(sd_event_new(&c.ev) >= 0);
        assert_int_equal(http_loop_new(c.ev, &l, NULL), 0);
        o.meter = NULL;
        assert_int_equal(http_start(l, &o, NULL, NULL), 0);
        assert_true(sd_event_loop(c.ev) >= 0);
        assert_int_equal(c.got, n);
        http_loop_meter_sync(l);
        assert_int_equal(m.rx, before.rx);
        assert_int_equal(m.tx, before.tx);
        http_loop_free(l);
        sd_event_unref(c.ev);
        srv_stop(&s);
        free(ans);
}

/* Like the blob download: on_data refuses more once it has every byte it wants (a
 * download stops a stream early that way). Under the cap that last chunk arrives while
 * the transfer is paused, so it is refused inside the resume; the server keeps the
 * connection open, so no socket event follows. The request must still finish, with the
 * error on_data gave. (It hung for ever: curl reports such a transfer only when something
 * drives its handle again.) */
static int take_until_full(void *ud, const struct http_response *resp, const void *buf, size_t len)
{
        struct loop_ctx *c = ud;
        c->got += len;
        return c->got >= 48 * 1024 ? -ECANCELED : 0;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *ud)
{
        return sd_event_exit(ud, 0);
}

static void test_loop_rate_cap_stop_early(void **state)
{
        size_t n = 64 * 1024;
        char *ans = malloc(n + 200);
        int h = snprintf(ans, 200, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        memset(ans + h, 'x', n);
        struct srv s = {.hold = true};
        srv_start(&s, ans, (size_t)h + n, 1);
        _cleanup_free_ char *url = url_of(&s, "/blob");
        struct loop_ctx c = {.r = 1};
        assert_true(sd_event_new(&c.ev) >= 0);
        sd_event_source *wd = NULL;
        assert_true(sd_event_add_time_relative(c.ev, &wd, CLOCK_MONOTONIC, 20 * 1000000ULL, 0, on_watchdog, c.ev) >= 0);
        struct http_loop *l = NULL;
        assert_int_equal(http_loop_new(c.ev, &l, NULL), 0);
        struct http_req_opts o = {.url = url, .max_recv_speed = 32 * 1024, .on_data = take_until_full,
                                  .on_done = done, .userdata = &c};
        assert_int_equal(http_start(l, &o, NULL, NULL), 0);
        assert_true(sd_event_loop(c.ev) >= 0);
        assert_int_not_equal(c.r, 1); /* finished, not stopped by the watchdog */
        assert_true(c.r < 0);
        assert_true(c.got >= 48 * 1024);
        assert_int_equal(http_running(l), 0);
        http_loop_free(l);
        sd_event_source_unref(wd);
        sd_event_unref(c.ev);
        srv_stop(&s);
        free(ans);
}

/* A capped download runs at the cap with no dead time, also when the server sent
 * everything long ago: after each pause the transfer goes on at once, not when curl's
 * next timer (the connect timeout) happens to fire. Over TLS, where bytes wait inside
 * the TLS layer and the socket says nothing (openssl s_server -WWW as the peer). */
static void test_loop_rate_cap_no_stall(void **state)
{
        if (system("command -v openssl >/dev/null") != 0)
                skip();
        _cleanup_free_ char *dir = test_tmpdir("http-tls");
        char cmd[2048];
        int port = 0;
        int fd = test_listen_loopback(&port);
        close(fd); /* a free port for s_server */
        snprintf(cmd, sizeof cmd, "cd %s && head -c 2097152 /dev/zero > blob && openssl req -x509 -newkey ec "
                 "-pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost -addext "
                 "subjectAltName=IP:127.0.0.1 -keyout k.pem -out c.pem 2>/dev/null", dir);
        assert_int_equal(system(cmd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char p[16];
                snprintf(p, sizeof p, "%d", port);
                if (chdir(dir) == 0) {
                        int null = open("/dev/null", O_RDWR);
                        dup2(null, 0);
                        dup2(null, 1);
                        dup2(null, 2);
                        execlp("openssl", "openssl", "s_server", "-accept", p, "-cert", "c.pem", "-key", "k.pem",
                               "-WWW", "-quiet", (char *)NULL);
                }
                _exit(127);
        }
        char url[64], ca[1024];
        snprintf(url, sizeof url, "https://127.0.0.1:%d/blob", port);
        snprintf(ca, sizeof ca, "%s/c.pem", dir);
        for (int round = 0; round < 3; round++) {
                struct loop_ctx c = {.r = 1};
                assert_true(sd_event_new(&c.ev) >= 0);
                struct http_loop *l = NULL;
                assert_int_equal(http_loop_new(c.ev, &l, NULL), 0);
                struct http_tls tls = {.ca_file = ca};
                struct http_req_opts o = {.url = url, .tls = &tls, .max_recv_speed = 2 * 1024 * 1024,
                                          .connect_timeout_ms = 20000, .on_data = collect, .on_done = done,
                                          .userdata = &c};
                struct timespec ts;
                for (int i = 0; i < 100; i++) { /* s_server takes a moment to listen */
                        int t = socket(AF_INET, SOCK_STREAM, 0);
                        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                        int ok = connect(t, (struct sockaddr *)&a, sizeof a) == 0;
                        close(t);
                        if (ok)
                                break;
                        ts = (struct timespec){.tv_nsec = 50000000};
                        nanosleep(&ts, NULL);
                }
                clock_gettime(CLOCK_MONOTONIC, &ts);
                c.start = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
                assert_int_equal(http_start(l, &o, NULL, NULL), 0);
                assert_true(sd_event_loop(c.ev) >= 0);
                assert_int_equal(c.got >= 2097152, 1);
                double secs = (double)(c.end - c.start) / 1e6;
                assert_true(secs >= 0.8); /* 2 MiB less the 256 KiB burst at 2 MiB/s */
                assert_true(secs < 3.0);  /* a stall waits for the 20 s connect timeout */
                http_loop_free(l);
                sd_event_unref(c.ev);
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        test_rmdir(dir);
        dir = NULL;
}

/* ---- pure ----------------------------------------------------------------------------- */

static void test_parsers(void **state)
{
        uint64_t a, b, n;
        assert_int_equal(http_parse_content_range("bytes 0-99/1000", &a, &b, &n), 0);
        assert_int_equal(b, 99);
        assert_int_equal(http_parse_content_range("bytes 9-5/100", &a, &b, &n), -EBADMSG);
        assert_int_equal(http_parse_retry_after("120", 0), 120);
        assert_int_equal(http_parse_retry_after(" 7 \r\n", 0), 7);
        assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10);
        assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
        assert_int_equal(http_parse_retry_after("soon", 0), -1);
        assert_int_equal(http_parse_retry_after("99999999999", 0), -1);
        _cleanup_free_ char *x = http_escape("a b/c?d=é~");
        assert_string_equal(x, "a%20b%2Fc%3Fd%3D%C3%A9~");
        assert_true(http_h2c_support(NULL) >= 0);
        struct http_response r = {.status = 404};
        assert_int_equal(http_status_error(&r, "GET x", NULL), -ENOENT);
        r.status = 401;
        assert_int_equal(http_status_error(&r, "GET x", NULL), -EACCES);
        r.status = 416;
        assert_int_equal(http_status_error(&r, "GET x", NULL), -ERANGE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_session_get),
                cmocka_unit_test(test_session_upload_and_status),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_loop_rate_cap),
                cmocka_unit_test(test_loop_meter),
                cmocka_unit_test(test_loop_rate_cap_no_stall),
                cmocka_unit_test(test_loop_rate_cap_stop_early),
                cmocka_unit_test(test_parsers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
