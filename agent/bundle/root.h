/* SPDX-License-Identifier: Apache-2.0 */
/* root.h — the signed trust root: which keys may sign trust roots, which may sign bundles.
 *
 * A root (README.md, "Trust roots") is a JSON payload — version, expiry, the keys, and per
 * role (root, release) key ids and a threshold — carried in an envelope that holds the
 * payload's exact bytes in base64 next to Ed25519 signatures over them, so nothing is
 * ever re-serialised before a check. Parsing never verifies; root_verify_self() and
 * root_verify_next() do. A trust directory of *.pub files is the implicit root version 1.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/err.h"
#include "bundle/keys.h"
#include "bundle/signature.h"

/* Ed25519 signs ROOT_SIGN_CONTEXT (with its trailing NUL byte) followed by the payload. */
#define ROOT_SIGN_CONTEXT "berth-trust-root-v1"
#define ROOT_TYPE "berth-trust-root"
#define ROOT_SCHEMA_VERSION 1
#define ROOT_MAX_SIZE (64u * 1024)      /* one envelope, and one payload */
#define ROOT_MAX_KEYS 64u
/* A signed root in a trust directory is the anchor; its *.pub files are then ignored. */
#define ROOT_FILE "root.json"

enum root_role { ROOT_ROLE_ROOT, ROOT_ROLE_RELEASE, ROOT_ROLES };

struct root_role_keys {
        unsigned threshold;
        size_t n;
        size_t idx[ROOT_MAX_KEYS];      /* into trust_root.keys */
};

struct trust_root {
        int64_t version;
        int64_t expires;                /* 0: never (the implicit root of a trust directory) */
        struct berth_key *keys;         /* every key a role names, public halves only */
        size_t n_keys;
        struct root_role_keys roles[ROOT_ROLES];
        bool implicit;                  /* read from *.pub + threshold: no payload, no signatures */
        char *payload;                  /* the exact signed bytes (NULL when implicit) */
        size_t payload_len;
        struct bundle_signatures *sigs; /* over the payload (empty when implicit) */
        char digest[DIGEST_STR_LEN + 1]; /* sha256 of the payload; "" when implicit */
        char *origin;                   /* the file or directory it came from, for messages */
};

/* What root_build() makes: keys per role (a key may hold both roles). */
struct root_spec {
        int64_t version;
        int64_t expires;
        const struct berth_key *keys[ROOT_ROLES][ROOT_MAX_KEYS];
        size_t n[ROOT_ROLES];
        unsigned threshold[ROOT_ROLES];
};

const char *root_role_name(enum root_role role);

/* Parses an envelope and checks its payload strictly (README.md); verifies nothing. */
int root_parse(const void *buf, size_t len, const char *origin, struct trust_root **ret, berr *e);
int root_parse_json(json_t *envelope, const char *origin, struct trust_root **ret, berr *e);
int root_load_file(const char *path, struct trust_root **ret, berr *e);
/* The implicit root version 1 of a trust directory: its keys hold both roles, its
 * threshold is both thresholds, it never expires. */
int root_from_trust(const struct trust *t, struct trust_root **ret, berr *e);
/* A new root without signatures (payload written canonically: keys sorted by id). */
int root_build(const struct root_spec *spec, struct trust_root **ret, berr *e);
void root_free(struct trust_root *r);

/* Adds (or replaces) k's signature over the payload. */
int root_sign(struct trust_root *r, const struct berth_key *k, berr *e);
/* The envelope: {"signed": base64, "signatures": [...]}, signatures sorted by key id. */
json_t *root_envelope_json(const struct trust_root *r);
int root_serialize(const struct trust_root *r, char **ret, size_t *ret_len);

bool root_has_key(const struct trust_root *r, enum root_role role, const char *keyid);
/* Valid signatures on r by the keys signer gives role; a bad signature by one of them is
 * -EKEYREJECTED (r was altered). */
int root_count(const struct trust_root *signer, enum root_role role, const struct trust_root *r, unsigned *ret_valid,
               berr *e);
/* r is signed by a threshold of its own root keys (always true for an implicit root). */
int root_verify_self(const struct trust_root *r, berr *e);
/* The rotation rule: next->version == cur->version + 1, and next is signed by a threshold
 * of cur's root keys and by a threshold of its own. Expiry is not looked at here. */
int root_verify_next(const struct trust_root *cur, const struct trust_root *next, berr *e);
/* The release role as the struct trust that bundle signatures are checked against. */
int root_release_trust(const struct trust_root *r, struct trust **ret);
/* What a root says, for `berth trust show`, `berth status` and the server:
 * {"version", "expires" (RFC 3339 or null), "expired", "digest" (or null), "origin",
 *  "roles": {"root"|"release": {"threshold", "keys": [{"keyid", "name"}]}},
 *  "signatures": [keyid...]}. NULL on ENOMEM. */
json_t *root_summary_json(const struct trust_root *r, int64_t now);
/* "trust root version N" or the trust directory's path, for messages. */
const char *root_describe(const struct trust_root *r, char buf[], size_t size);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct trust_root *, root_free)
