/* SPDX-License-Identifier: Apache-2.0 */
/* trust.h — how this node stands with its trust root: the root it trusts now (version,
 * expiry, key ids per role) and the installed bundle versions that root no longer vouches
 * for (their signers were revoked). For `berth status`, direct or through the agent, and
 * the agent's telemetry. Reads only; never changes what runs (see bundle/README.md,
 * "Revocation and expiry").
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "store/db.h"

/* {"root": root_summary_json(), "untrusted": [{"name", "version", "validSignatures",
 *  "threshold"}]}, or {"error": "..."} when the trust root cannot be read. db may be NULL
 * (then "untrusted" is left out). NULL on ENOMEM. */
json_t *node_trust_json(struct berth_db *db, const char *trust_dir, const char *state_dir, int64_t now);
/* Prints the object above as the "trust:" lines of `berth status`. */
void node_trust_print(const json_t *trust);
