/* SPDX-License-Identifier: Apache-2.0 */
/* mgmt_int.h — what the management handlers share (mgmt.c: routing, targets, rollouts,
 * actions; uploads.c: bundles and plain artifacts). Nothing outside mgmt/ includes it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct http_request;
struct sdb_bundle;
struct server;

/* A bundle or artifact name: 1-100 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool mgmt_name_ok(const char *n);
/* {id, kind, name, version, type, filename, size, hashes} of a bundle or artifact. */
json_t *mgmt_bundle_json(const struct sdb_bundle *b);
/* POST /api/v1/bundles: a .berth file, verified. */
void mgmt_bundle_upload(struct server *s, struct http_request *r);
/* POST /api/v1/artifacts?name&version&type&filename&sha256&size: any file. */
void mgmt_artifact_upload(struct server *s, struct http_request *r);
