/* SPDX-License-Identifier: Apache-2.0 */
/* ddi_int.h — what the DDI handlers share (ddi.c: routing, auth, polls, deployments,
 * feedback; links.c: the URLs and deployment documents a target is given; consent.c:
 * confirmationBase). Nothing outside ddi/ includes it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/db/actions.h"
#include "server-stub/db/bundles.h"
#include "server-stub/db/targets.h"

struct http_request;
struct server;

struct ddi_ctx {
        struct server *s;
        struct http_request *r;
        const char *cid;
        struct sdb_target t;
        char base[1024];        /* https://host/{tenant}/controller/v1/{cid} */
};

/* Builds c->base from ddi.public_url, or from a Host header that names this server
 * (see links.c); answers 421 and returns false otherwise. */
bool ddi_build_base(struct ddi_ctx *c);
/* {"href": base + the formatted tail}. */
json_t *ddi_href(const char *base, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The "deployment" object of a deploymentBase (or "confirmation" of a confirmationBase):
 * download/update types, maintenance window, the chunk and its artifact with links. */
json_t *ddi_deployment_json(struct ddi_ctx *c, const struct sdb_action *a, const struct sdb_bundle *b, bool installed);
/* Adds hawkBit's actionHistory when the query asks for it (?actionHistory=N). */
void ddi_add_history(struct ddi_ctx *c, const struct sdb_action *a, json_t *j);
/* A positive decimal id. */
bool ddi_parse_id(const char *s, int64_t *ret);
/* Loads an action of this target: 1, or 0/negative after answering 404/503. */
int ddi_load_action(struct ddi_ctx *c, const char *id_s, struct sdb_action *a);
/* Answers 400 (or 503 for ENOMEM) for a body parser's error; returns r. */
int ddi_bad_body(struct ddi_ctx *c, int r, const berr *e, const char *code);

/* consent.c: confirmationBase (hawkBit's user consent). */
void ddi_confirmation_base(struct ddi_ctx *c);
void ddi_confirmation_action(struct ddi_ctx *c, const char *id_s);
void ddi_confirmation_feedback(struct ddi_ctx *c, const char *id_s);
void ddi_autoconfirm(struct ddi_ctx *c, bool on);
