/* SPDX-License-Identifier: Apache-2.0 */
/* trust.c — trust root endpoints of berth-server (see trust.h and README.md, "Trust roots").
 * The rules are agent/bundle's; this file maps them to HTTP and keeps a small cache of
 * the current version for the poll path.
 */
#include "server-stub/trust/trust.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "bundle/format.h"
#include "bundle/rootchain.h"
#include "bundle/rootstore.h"
#include "server-stub/core/server.h"
#include "server-stub/http/http.h"

#define LINK_CACHE_SECONDS 2

static int open_store(struct server *s, unsigned flags, struct root_store **ret, berr *e)
{
        return root_store_open_state(s->trust_dir, s->state_dir, flags, ret, e);
}

static struct {
        pthread_mutex_t lock;
        time_t checked;         /* monotonic seconds of the last look */
        int64_t version;        /* 0: implicit root (nothing to hand on) */
} link_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static time_t mono(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static void cache_set(int64_t version)
{
        pthread_mutex_lock(&link_cache.lock);
        link_cache.version = version;
        link_cache.checked = mono();
        pthread_mutex_unlock(&link_cache.lock);
}

json_t *trust_poll_link(struct server *s, const char *base)
{
        pthread_mutex_lock(&link_cache.lock);
        bool fresh = link_cache.checked && mono() - link_cache.checked < LINK_CACHE_SECONDS;
        int64_t v = link_cache.version;
        pthread_mutex_unlock(&link_cache.lock);
        if (!fresh) {
                _cleanup_(root_store_freep) struct root_store *st = NULL;
                berr e = {0};
                v = 0;
                if (open_store(s, ROOT_STORE_READONLY, &st, &e) >= 0 && !root_store_current(st)->implicit)
                        v = root_store_current(st)->version;
                cache_set(v);
        }
        if (!v)
                return NULL;
        char url[1400];
        snprintf(url, sizeof url, "%s/trustRoots?version=%" PRId64, base, v);
        return json_pack("{s:s}", "href", url);
}

void trust_ddi_roots(struct server *s, struct http_request *r)
{
        const char *a = http_query(r, "after");
        int64_t after = 0;
        if (a) {
                char *end;
                errno = 0;
                long long v = strtoll(a, &end, 10);
                if (errno || *end || end == a || v < 0 || v > BUNDLE_MAX_VERSION) {
                        http_reply_error(r, 400, "trust.invalidAfter", "after must be a root version (0 or more)");
                        return;
                }
                after = v;
        }
        _cleanup_(root_store_freep) struct root_store *st = NULL;
        _cleanup_(root_chain_freep) struct root_chain *c = NULL;
        berr e = {0};
        int k = open_store(s, ROOT_STORE_READONLY, &st, &e);
        if (k >= 0)
                k = root_store_chain(st, after, &c, &e);
        if (k < 0) {
                log_error("trust roots for an agent: %s", berr_msg(&e, k));
                http_reply_error(r, 503, "trust.unavailable", "the server cannot read its trust roots, retry later");
                return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; c && arr && i < c->n; i++)
                json_array_append_new(arr, root_envelope_json(c->v[i]));
        http_reply_json(r, 200, json_pack("{s:I,s:o}", "version", (json_int_t)root_store_current(st)->version, "roots",
                                          arr));
}

void trust_mgmt_get(struct server *s, struct http_request *r)
{
        _cleanup_(root_store_freep) struct root_store *st = NULL;
        berr e = {0};
        int k = open_store(s, ROOT_STORE_READONLY, &st, &e);
        if (k < 0) {
                http_reply_error(r, 503, "trust.unavailable", "%s", berr_msg(&e, k));
                return;
        }
        http_reply_json(r, 200, root_summary_json(root_store_current(st), now_seconds()));
}

void trust_mgmt_post(struct server *s, struct http_request *r)
{
        size_t len;
        const char *body = http_body(r, &len);
        json_error_t je;
        _cleanup_(json_decrefp) json_t *doc = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (!doc) {
                http_reply_error(r, 400, "request.malformedJson", "send a trust root file or a roots.json chain");
                return;
        }
        _cleanup_(root_chain_freep) struct root_chain *c = NULL;
        berr e = {0};
        int k;
        if (json_object_get(doc, "roots"))
                k = root_chain_parse(body, len, "request", &c, &e);
        else {
                struct trust_root *one = NULL;
                k = len > ROOT_MAX_SIZE ? berr_set(&e, -EFBIG, "a trust root is at most %u bytes", ROOT_MAX_SIZE)
                                        : root_parse_json(doc, "request", &one, &e);
                if (k >= 0 && !(c = root_chain_new())) {
                        root_free(one);
                        k = -ENOMEM;
                }
                if (k >= 0)
                        k = root_chain_add(c, one, &e);
        }
        _cleanup_(root_store_freep) struct root_store *st = NULL;
        if (k >= 0)
                k = open_store(s, 0, &st, &e);
        int64_t before = st ? root_store_current(st)->version : 0;
        if (k >= 0)
                k = root_store_advance(st, c, &e);
        if (st)
                cache_set(root_store_current(st)->implicit ? 0 : root_store_current(st)->version);
        if (k < 0) {
                log_warning("refused trust roots: %s", berr_msg(&e, k));
                http_reply_error(r, k == -ENOMEM ? 503 : 422, "trust.rejected", "trust roots refused: %s",
                                 berr_msg(&e, k));
                return;
        }
        int64_t after = root_store_current(st)->version;
        if (after > before)
                log_info("trust root version %" PRId64 " → %" PRId64, before, after);
        http_reply_json(r, 200, json_pack("{s:I,s:I,s:i}", "previousVersion", (json_int_t)before, "version",
                                          (json_int_t)after, "accepted", k));
}
