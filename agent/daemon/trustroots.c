/* SPDX-License-Identifier: Apache-2.0 */
/* trustroots.c — the node's trust root, kept current over DDI: when a poll links
 * `trustRoots` with a version above the node's root, the roots it lacks are fetched on the
 * event loop (same credentials as the poll) and the root store advances by the rotation
 * rule (crash-safe in bundle/rootstore.c). A refused chain is logged and reported, never
 * stops polling, and never lowers the root. Owns the trustRoots request.
 */
#include "daemon/trustroots.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "bundle/rootchain.h"
#include "bundle/rootstore.h"
#include "daemon/agent_int.h"
#include "node/trust.h"

/* The version V of a "…/trustRoots?version=V" link; -1 when it names none. */
static int64_t link_version(const char *href)
{
        const char *q = strchr(href, '?');
        for (const char *p = q; p; p = strchr(p + 1, '&')) {
                if (strncmp(p + 1, "version=", 8))
                        continue;
                char *end;
                errno = 0;
                long long v = strtoll(p + 9, &end, 10);
                if (errno || end == p + 9 || (*end && *end != '&') || v < 1)
                        return -1;
                return v;
        }
        return -1;
}

static int64_t current_version(struct agent *a, berr *e)
{
        _cleanup_(root_store_freep) struct root_store *s = NULL;
        int r = root_store_open_state(a->set.trust_dir, a->set.state_dir, ROOT_STORE_READONLY, &s, e);
        if (r < 0)
                return r;
        return root_store_current(s)->version;
}

static void refused(struct agent *a, int64_t want, const char *why)
{
        if (a->trust.refused != want) {
                log_error("agent: trust root version %" PRId64 " from the server refused, the node keeps its root: %s",
                          want, why);
                telemetry_event(a, "agent", "trust root version %" PRId64 " refused: %s", want, why);
        } else
                log_debug("agent: trust root version %" PRId64 " refused again: %s", want, why);
        a->trust.refused = want;
}

static void on_roots(void *ud, int r, const struct http_response *resp, const berr *he)
{
        struct agent *a = ud;
        a->trust.req = NULL;
        int64_t want = a->trust.want;
        if (r < 0) {
                /* Transport trouble: the poll reports the server's reachability; retry at the next poll. */
                log_info("agent: fetching trust roots failed: %s; retrying at the next poll", berr_msg(he, r));
                return;
        }
        berr e = {0};
        if (resp->status != 200) {
                r = http_status_error(resp, "trustRoots", &e);
                log_info("agent: %s; retrying at the next poll", berr_msg(&e, r));
                return;
        }
        int64_t v = 0;
        _cleanup_(root_chain_freep) struct root_chain *c = NULL;
        r = root_chain_parse_answer(resp->body, resp->body_len, &v, &c, &e);
        if (r < 0) {
                refused(a, want, berr_msg(&e, r));
                return;
        }
        if (!c)
                return;
        _cleanup_(root_store_freep) struct root_store *s = NULL;
        r = root_store_open_state(a->set.trust_dir, a->set.state_dir, 0, &s, &e);
        if (r < 0) {
                refused(a, want, berr_msg(&e, r));
                return;
        }
        int64_t from = root_store_current(s)->version;
        r = root_store_advance(s, c, &e);
        int64_t to = root_store_current(s)->version;
        if (to > from) {
                log_info("agent: trust root advanced from version %" PRId64 " to %" PRId64 " (from the server)", from,
                         to);
                telemetry_event(a, "agent", "trust root advanced from version %" PRId64 " to %" PRId64, from, to);
        }
        if (r < 0)
                refused(a, want, berr_msg(&e, r));
        else if (to >= want)
                a->trust.refused = 0;
}

void trustroots_on_link(struct agent *a, const char *href)
{
        int64_t want = link_version(href);
        if (want < 1 || a->trust.req)
                return;
        berr e = {0};
        int64_t cur = current_version(a, &e);
        if (cur < 0) {
                log_debug("agent: cannot read the trust root: %s", berr_msg(&e, (int)cur));
                return;
        }
        if (want <= cur)
                return;
        size_t n = strcspn(href, "?");
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%.*s?after=%" PRId64, (int)n, href, cur) < 0)
                return;
        a->trust.want = want;
        log_debug("agent: fetching trust roots after version %" PRId64 " (server has %" PRId64 ")", cur, want);
        int r = agent_ddi_get(a, url, NULL, on_roots, &a->trust.req, &e);
        if (r < 0)
                log_info("agent: cannot fetch trust roots: %s", berr_msg(&e, r));
}

void trustroots_stop(struct agent *a)
{
        http_req_cancel(a->trust.req);
        a->trust.req = NULL;
}

json_t *trustroots_json(struct agent *a)
{
        return node_trust_json(a->db, a->set.trust_dir, a->set.state_dir, agent_now());
}
