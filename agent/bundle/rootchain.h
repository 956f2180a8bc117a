/* SPDX-License-Identifier: Apache-2.0 */
/* rootchain.h — trust roots as they travel: {"roots": [envelope, ...]}, versions strictly
 * increasing. It is the roots.json entry of a bundle head and berth-server's answer to an
 * agent that lacks roots. A chain is not trusted by itself: each root in it is checked
 * against the one before when a store advances (rootstore.h). Owns its roots.
 */
#pragma once

#include <stddef.h>

#include "base/err.h"
#include "bundle/root.h"

struct root_chain {
        struct trust_root **v;
        size_t n;
};

struct root_chain *root_chain_new(void);
void root_chain_free(struct root_chain *c);
/* Strict: exactly the field "roots", 1..BUNDLE_MAX_ROOTS envelopes, increasing versions. */
int root_chain_parse(const void *buf, size_t len, const char *origin, struct root_chain **ret, berr *e);
/* berth-server's answer to GET …/trustRoots?after=N: {"version": V, "roots": [...]},
 * roots possibly empty (then *ret is NULL); V ≥ every root's version. Strict like
 * root_chain_parse(). For the agent, which advances its store with *ret. */
int root_chain_parse_answer(const void *buf, size_t len, int64_t *ret_version, struct root_chain **ret, berr *e);
/* Takes r; keeps the chain sorted by version; a second root of the same version is
 * -EEXIST unless it is the same payload (then r is dropped). */
int root_chain_add(struct root_chain *c, struct trust_root *r, berr *e);
/* Adds the roots at path: a root file, a roots.json chain, a saved answer of berth-server,
 * or a directory whose *.json files are any of these. */
int root_chain_load(struct root_chain *c, const char *path, berr *e);
/* Serialised in version order, newline-terminated; -EINVAL when empty. */
int root_chain_serialize(const struct root_chain *c, char **ret, size_t *ret_len);
/* Offline check of what a publisher ships: versions consecutive, the first signed by its
 * own root keys, each later one by the keys of the one before and its own. */
int root_chain_check(const struct root_chain *c, berr *e);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct root_chain *, root_chain_free)
