/* SPDX-License-Identifier: Apache-2.0 */
/* trustroots.h — the node's trust root kept current from the server: a poll's
 * `trustRoots` link names the server's root version; the roots the node lacks are
 * fetched and accepted by the rotation rule (trustroots.c). Its state is trustroots.c's own.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct agent;
struct http_req;

struct trustroots_state {
        struct http_req *req;           /* the trustRoots request in flight */
        int64_t want;                   /* the version the last trustRoots link named */
        int64_t refused;                /* the version whose refusal was reported, 0 none */
};

/* A poll's trustRoots link: fetches and accepts the roots the node lacks (deferred). */
void trustroots_on_link(struct agent *a, const char *href);
void trustroots_stop(struct agent *a);
/* node_trust_json() for this node now (root version, expiry, key ids, untrusted bundles). */
json_t *trustroots_json(struct agent *a);
