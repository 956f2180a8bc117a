/* SPDX-License-Identifier: Apache-2.0 */
/* trust.h — the server's trust root, and handing roots to agents that lack them.
 *
 * The server's current root is its trust_dir (root.json, or *.pub + threshold as version
 * 1) advanced by the roots accepted since, kept in STATE/trust (agent/bundle/rootstore.h):
 * from uploaded bundles (artifact_verify_bundle) and from POST /api/v1/trust/roots. Every
 * root the server holds passed the rotation rule, so handing them on proves nothing by
 * itself: each agent checks the chain again from its own current root.
 */
#pragma once

#include <jansson.h>

struct server;
struct http_request;

/* GET /{tenant}/controller/v1/{cid}/trustRoots?after=N (DDI, berth extension):
 * {"version": current, "roots": [envelopes with version > N, oldest first, ≤ 64]}. */
void trust_ddi_roots(struct server *s, struct http_request *r);
/* The link a base poll carries when the server's root is a signed one:
 * {"href": BASE/trustRoots?version=V}; NULL otherwise. Cached (the poll path stays cheap). */
json_t *trust_poll_link(struct server *s, const char *base);
/* POST /api/v1/trust/roots (a root file or a roots.json chain) and GET /api/v1/trust. */
void trust_mgmt_post(struct server *s, struct http_request *r);
void trust_mgmt_get(struct server *s, struct http_request *r);
