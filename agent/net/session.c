/* SPDX-License-Identifier: Apache-2.0 */
/* session.c — the blocking driver of net/http.h: one libcurl easy handle per session,
 * so consecutive requests of one thread reuse their connection (and TLS session). For
 * CLI paths and worker threads; never on the agent's event loop.
 */
#include "net/http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct http_session {
        CURL *easy;
};

int http_session_new(struct http_session **ret, berr *e)
{
        int r = http_global_init(e);
        if (r < 0)
                return r;
        struct http_session *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->easy = curl_easy_init();
        if (!s->easy) {
                free(s);
                return berr_set(e, -ENOMEM, "cannot initialise libcurl");
        }
        *ret = s;
        return 0;
}

void http_session_free(struct http_session *s)
{
        if (!s)
                return;
        curl_easy_cleanup(s->easy);
        free(s);
}

void http_response_clear(struct http_response *resp)
{
        free((char *)resp->body);
        *resp = (struct http_response){.retry_after = -1};
}

int http_session_perform(struct http_session *s, const struct http_req_opts *o, struct http_response *resp,
                         berr *e)
{
        struct http_req r = {0};
        /* The handle keeps its connection and TLS session cache across the reset. */
        curl_easy_reset(s->easy);
        int k = req_setup(&r, s->easy, o, e);
        if (k >= 0)
                k = req_result(&r, curl_easy_perform(s->easy), e);
        /* The handle outlives r: drop its pointers into r. */
        curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, NULL);
        *resp = r.resp;
        resp->body = NULL;
        if (r.buf && k >= 0) {
                resp->body = r.buf; /* NUL-terminated by req_result() */
                r.buf = NULL;
        }
        req_clear(&r);
        return k;
}
