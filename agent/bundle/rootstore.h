/* SPDX-License-Identifier: Apache-2.0 */
/* rootstore.h — the trust root a node (or berth-server) trusts now, and how it advances.
 *
 * The anchor is the trust directory: its root.json (a signed root, trusted as installed)
 * or else its *.pub keys and threshold file, read as the implicit root version 1. Roots
 * accepted since then are files ROOTS_DIR/<version>.json (STATE/trust on a node); the
 * highest version present, if above the anchor's, is the current root. Files are only
 * ever added, each written temp → fsync → rename → fsync(dir) under ROOTS_DIR/lock, so a
 * crash leaves every root whole or absent: never half a root, and never an older one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/keys.h"
#include "bundle/root.h"
#include "bundle/rootchain.h"

/* The state directory's subdirectory that holds the accepted roots. */
#define ROOT_STORE_SUBDIR "trust"

struct root_store;

enum {
        ROOT_STORE_READONLY = 1 << 0,   /* advance in memory only (offline checks) */
};

/* roots_dir may be NULL (the anchor alone) or missing (nothing accepted yet). Writes
 * nothing. A damaged file in roots_dir is an error: the store never falls back to an
 * older root. */
int root_store_open(const char *trust_dir, const char *roots_dir, unsigned flags, struct root_store **ret, berr *e);
/* The same with roots_dir = STATE/trust (state_dir may be NULL). */
int root_store_open_state(const char *trust_dir, const char *state_dir, unsigned flags, struct root_store **ret,
                          berr *e);
void root_store_free(struct root_store *s);

const struct trust_root *root_store_current(const struct root_store *s);
/* The current root's release keys and threshold: what bundle signatures are checked against. */
const struct trust *root_store_trust(const struct root_store *s);
/* The current root is expired at now (bundles are refused until a newer root arrives). */
bool root_store_expired(const struct root_store *s, int64_t now);

/* Walks the chain from the current root: roots not newer than it are skipped; the next
 * must be version current + 1, signed by a threshold of the current root keys and a
 * threshold of its own (root_verify_next); each accepted root is persisted before the
 * next is looked at. Returns how many roots were accepted, or <0 at the first root
 * refused (those accepted before it stay: each was valid on its own). */
int root_store_advance(struct root_store *s, const struct root_chain *c, berr *e);
/* The same from roots.json bytes (a bundle head entry or the server's answer). */
int root_store_advance_json(struct root_store *s, const void *buf, size_t len, const char *origin, berr *e);
/* The signed roots the store holds with a version above after, in order (for handing them
 * on to agents that lack them). *ret is NULL when there is none. */
int root_store_chain(const struct root_store *s, int64_t after, struct root_chain **ret, berr *e);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct root_store *, root_store_free)
