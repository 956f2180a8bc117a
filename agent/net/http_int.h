/* SPDX-License-Identifier: Apache-2.0 */
/* http_int.h — what the two drivers of net/http.h share: one request object, set up
 * on an easy handle by req_setup() and finished by req_result(). Private to agent/net/.
 */
#pragma once

#include <curl/curl.h>

#include "net/http.h"

struct http_req {
        struct http_loop *loop;         /* loop driver; NULL when blocking */
        struct http_req *prev, *next;   /* the loop's running requests */
        CURL *easy;
        struct curl_slist *headers;
        char *url, *method, *name, *peer, *body;
        char *ca, *cert, *key, *ca_setting, *unix_socket, *range;
        size_t body_len;
        uint64_t upload_size, sent;
        bool is_unix;
        char *buf;                      /* collected body */
        size_t len, cap, max;
        bool streaming;
        uint64_t rate;                  /* bytes/s cap for the body, 0 = none */
        uint64_t start_usec;            /* CLOCK_MONOTONIC of the first body byte */
        void *resume;                   /* sd_event_source waking a paused transfer (loop) */
        int data_error;                 /* error returned by a callback */
        const int *cancel;
        struct http_meter *meter;       /* loop: counts the connections this request opens */
        char errbuf[CURL_ERROR_SIZE];
        struct http_response resp;
        http_header_fn on_header;
        http_data_fn on_data;
        http_read_fn on_read;
        http_seek_fn on_seek;
        http_done_fn on_done;
        void *userdata;
};

/* Global libcurl initialisation, once per process (thread-safe). */
int http_global_init(berr *e);
/* Copies what o says into r and configures easy (owned by the caller). */
int req_setup(struct http_req *r, CURL *easy, const struct http_req_opts *o, berr *e);
/* After a transfer: fills r->resp (status, body, byte counts) and turns cc into 0 or a
 * negative errno with e set. */
int req_result(struct http_req *r, CURLcode cc, berr *e);
/* Frees what req_setup() allocated (not the easy handle, not r). */
void req_clear(struct http_req *r);
/* Microseconds to wait before len more body bytes may be taken under the rate cap. */
uint64_t req_rate_wait(struct http_req *r, size_t len);
uint64_t http_mono_usec(void);
/* Loop driver: wakes the paused transfer r after wait_usec (0, or -ENOMEM). */
int http_loop_pause(struct http_req *r, uint64_t wait_usec);
