/* SPDX-License-Identifier: Apache-2.0 */
/* rangesrv.h — an in-process HTTP server for one file, answering single byte ranges (206
 * with Content-Range) or, when told to, ignoring them (200 with the whole file), or
 * answering a fixed status; it can flip one byte and cut one answer short. For the unit
 * tests of the ranged fetches (test_fetch_head.c, test_download.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

struct rangesrv {
        struct test_server t;
        const uint8_t *file;
        size_t file_len;
        int status;             /* 0: serve the file; else answer this status, empty */
        bool ignore_range;
        size_t corrupt_at;      /* file offset whose byte goes out flipped (0: none) */
        size_t cut_after;       /* the next answer stops after this many body bytes (0: whole) */
        int requests;           /* served so far */
        char ranges[8][64];     /* the Range asked for by the first 8 requests ("-" none) */
};

static void rangesrv_send(int c, const void *p, size_t n)
{
        const char *b = p;
        while (n) {
                ssize_t k = send(c, b, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                b += k;
                n -= (size_t)k;
        }
}

static void rangesrv_body(struct rangesrv *s, int c, size_t a, size_t len)
{
        if (s->cut_after && s->cut_after < len) {
                len = s->cut_after;
                s->cut_after = 0;
        }
        for (size_t i = a; i < a + len;) {
                size_t end = s->corrupt_at && s->corrupt_at >= i && s->corrupt_at < a + len ? s->corrupt_at : a + len;
                rangesrv_send(c, s->file + i, end - i);
                i = end;
                if (i < a + len && i == s->corrupt_at) {
                        uint8_t x = s->file[i] ^ 0xff;
                        rangesrv_send(c, &x, 1);
                        i++;
                }
        }
}

static void *rangesrv_main(void *ud)
{
        struct rangesrv *s = ud;
        for (;;) {
                int c = accept(s->t.fd, NULL, NULL);
                if (c < 0)
                        break;
                char req[8192];
                size_t got = 0;
                for (;;) {
                        ssize_t k = recv(c, req + got, sizeof req - 1 - got, 0);
                        if (k <= 0)
                                break;
                        got += (size_t)k;
                        req[got] = 0;
                        if (strstr(req, "\r\n\r\n"))
                                break;
                }
                req[got] = 0;
                unsigned long long a = 0, b = s->file_len - 1;
                const char *r = strcasestr(req, "\r\nRange: bytes=");
                bool asked = r && sscanf(r + 15, "%llu-%llu", &a, &b) == 2;
                if (s->requests < 8)
                        snprintf(s->ranges[s->requests], sizeof s->ranges[0], asked ? "%llu-%llu" : "-", a, b);
                s->requests++;
                char h[300];
                if (s->status) {
                        int n = snprintf(h, sizeof h, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                         s->status);
                        rangesrv_send(c, h, (size_t)n);
                        close(c);
                        continue;
                }
                bool ranged = asked && !s->ignore_range;
                if (!ranged)
                        a = 0, b = s->file_len - 1;
                if (b >= s->file_len)
                        b = s->file_len - 1;
                int n = ranged ? snprintf(h, sizeof h, "HTTP/1.1 206 Partial\r\nContent-Range: bytes %llu-%llu/%zu\r\n"
                                          "Content-Length: %llu\r\nConnection: close\r\n\r\n", a, b, s->file_len,
                                          b - a + 1)
                               : snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                                          s->file_len);
                rangesrv_send(c, h, (size_t)n);
                rangesrv_body(s, c, (size_t)a, (size_t)(b - a + 1));
                close(c);
        }
        return NULL;
}

static inline void rangesrv_start(struct rangesrv *s)
{
        test_server_start(&s->t, rangesrv_main, s);
}

static inline void rangesrv_stop(struct rangesrv *s)
{
        test_server_stop(&s->t);
}
