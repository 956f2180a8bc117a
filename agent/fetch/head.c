/* SPDX-License-Identifier: Apache-2.0 */
/* head.c — ranged fetch of a .berth artifact's head into memory (see head.h). */
#include "fetch/head.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/plan.h"
#include "fetch/range.h"

struct head_fetch {
        struct head_fetch_opts o;       /* o.req is not kept */
        struct http_req_opts req;       /* the template, with url owned below */
        char *url;
        uint8_t *buf;
        size_t len, cap;
        uint64_t want, skip, req_start;
        bool bad, complete;
        unsigned requests;
        struct http_req *hr;
};

void head_fetch_free(struct head_fetch *h)
{
        if (!h)
                return;
        http_req_cancel(h->hr);
        free(h->buf);
        free(h->url);
        free(h);
}

unsigned head_fetch_requests(const struct head_fetch *h)
{
        return h ? h->requests : 0;
}

static void finish(struct head_fetch *h, int r, const berr *e)
{
        uint8_t *buf = r == 0 ? h->buf : NULL;
        size_t len = r == 0 ? h->len : 0;
        if (r == 0)
                h->buf = NULL;
        h->o.done(h->o.userdata, r, buf, len, e);
}

static int on_data(void *ud, const struct http_response *resp, const void *data, size_t len)
{
        struct head_fetch *h = ud;
        const uint8_t *p = data;
        int r = fetch_range_first(resp, len, h->req_start, &h->skip);
        if (r < 0)
                return r;
        fetch_range_skip(&h->skip, &p, &len);
        if (len > h->want - h->len)
                len = (size_t)(h->want - h->len);
        if (h->len + len > h->cap) {
                uint8_t *nb = realloc(h->buf, h->want);
                if (!nb)
                        return -ENOMEM;
                h->buf = nb;
                h->cap = h->want;
        }
        if (len)
                memcpy(h->buf + h->len, p, len);
        h->len += len;
        uint64_t need;
        int k = fetch_head_need(h->buf, h->len, &need);
        if (k < 0) {
                h->bad = true;
                return -EBADMSG;
        }
        if (k == 0 && h->len >= need) {
                h->len = (size_t)need;
                h->complete = true;
                return -ECANCELED; /* enough: stop this transfer */
        }
        if (h->len >= h->want)
                return -ECANCELED; /* this round is done; the next asks for more */
        return 0;
}

static int round_start(struct head_fetch *h, berr *e);

static void on_done(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct head_fetch *h = ud;
        h->hr = NULL;
        berr e = {0};
        if (h->bad) {
                finish(h, berr_set(&e, -EBADMSG, "%s is not a .berth bundle (its first entries are not manifest.json "
                                   "and signatures.json within the size limits)", h->url), &e);
                return;
        }
        if (h->complete) {
                finish(h, 0, NULL);
                return;
        }
        if (r < 0 && r != -ECANCELED) {
                e = *he;
                finish(h, r == -EPROTO || r == -EBADMSG ? -EAGAIN : r, &e);
                return;
        }
        if (resp->status >= 400 && resp->status < 500 && resp->status != 408 && resp->status != 429) {
                finish(h, berr_set(&e, -EPROTO, "cannot download %s: HTTP %ld", h->url, resp->status), &e);
                return;
        }
        if (resp->status < 200 || resp->status >= 300) {
                finish(h, berr_set(&e, -EAGAIN, "%s: HTTP %ld", h->url, resp->status), &e);
                return;
        }
        if (r == 0 && h->len < h->want && resp->status == 206 && resp->range_end + 1 < h->want &&
            resp->range_total != UINT64_MAX && resp->range_end + 1 >= resp->range_total) {
                finish(h, berr_set(&e, -EBADMSG, "%s ends after %llu bytes, inside the bundle head: not a complete "
                                   ".berth", h->url, (unsigned long long)resp->range_total), &e);
                return;
        }
        if (r == 0 && h->len < h->want) {
                /* A 200 that ended early: the file is shorter than its head says. */
                finish(h, berr_set(&e, -EBADMSG, "%s ends after %zu bytes, inside the bundle head: not a complete "
                                   ".berth", h->url, h->len), &e);
                return;
        }
        /* More of the head is needed (a large manifest): ask for the rest. */
        int q = round_start(h, &e);
        if (q < 0)
                finish(h, q, &e);
}

static int round_start(struct head_fetch *h, berr *e)
{
        if (h->len >= h->want) {
                uint64_t need;
                int k = fetch_head_need(h->buf, h->len, &need);
                if (k < 0 || need <= h->len)
                        return berr_set(e, -EBADMSG, "%s is not a .berth bundle", h->url);
                /* Only the manifest's size is known yet: take the signatures and the entry
                 * after them in the same request (they are small), not one round each. */
                h->want = k == 1 ? need + HEAD_FIRST_FETCH : need;
                if (h->o.artifact_size && h->want > h->o.artifact_size)
                        h->want = h->o.artifact_size > need ? h->o.artifact_size : need;
        }
        h->bad = h->complete = false;
        h->skip = 0;
        h->req_start = h->len;
        struct http_req_opts o = h->req;
        o.has_range = true;
        o.range_start = h->len;
        o.range_end = h->want - 1;
        o.on_data = on_data;
        o.on_done = on_done;
        o.userdata = h;
        int r = http_start(h->o.http, &o, &h->hr, e);
        if (r >= 0)
                h->requests++;
        return r;
}

int head_fetch_start(const struct head_fetch_opts *o, struct head_fetch **ret, berr *e)
{
        _cleanup_(head_fetch_freep) struct head_fetch *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->o = *o;
        h->o.req = NULL;
        h->req = *o->req;
        h->url = strdup(o->req->url);
        if (!h->url)
                return -ENOMEM;
        h->req.url = h->url;
        h->want = o->artifact_size && o->artifact_size < HEAD_FIRST_FETCH ? o->artifact_size : HEAD_FIRST_FETCH;
        int r = round_start(h, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}
