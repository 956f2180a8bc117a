/* SPDX-License-Identifier: Apache-2.0 */
/* mgmt.h — the management JSON API (separate listener, loopback by default, admin token).
 *
 * /api/v1/bundles, /api/v1/targets, /api/v1/rollouts, /api/v1/actions; see README.md.
 * Every request needs "Authorization: Bearer <admin token>".
 */
#pragma once

#include <stdbool.h>

struct http_request;

void mgmt_handle(void *userdata, struct http_request *r);
/* Checks the admin token before any body is read; upload routes are spooled to disk. */
int mgmt_spool(void *userdata, struct http_request *r);
