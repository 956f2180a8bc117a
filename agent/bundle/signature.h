/* SPDX-License-Identifier: Apache-2.0 */
/* signature.h — the signatures.json entry: one Ed25519 signature per key.
 *
 *   {"signatures":[{"keyid":"<32 hex>","sig":"<base64 64 bytes>"}, ...]}
 *
 * Each signature covers BUNDLE_SIGN_CONTEXT, its NUL byte, then the exact manifest
 * bytes. Serialisation is canonical (sorted by key id) so co-signing is deterministic.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "bundle/keys.h"

struct bundle_signature {
        char keyid[KEY_ID_LEN + 1];
        uint8_t sig[64];
};

struct bundle_signatures {
        struct bundle_signature *v;
        size_t n;
};

int signatures_parse(const void *buf, size_t len, struct bundle_signatures **ret, berr *e);
struct bundle_signatures *signatures_new(void);
void signatures_free(struct bundle_signatures *s);
/* Adds (or replaces) the signature of key k over the manifest bytes. */
int signatures_add(struct bundle_signatures *s, const struct berth_key *k, const void *manifest, size_t len);
int signatures_serialize(const struct bundle_signatures *s, char **ret, size_t *ret_len);
/* Counts distinct trusted keys with a valid signature. A signature by a trusted key
 * that does not verify is an error (-EKEYREJECTED): the manifest was altered. Fails
 * with -EKEYREJECTED when fewer than the trust threshold verify. */
int signatures_verify(const struct bundle_signatures *s, const struct trust *t, const void *manifest,
                      size_t len, unsigned *ret_valid, berr *e);

/* ---- the same machinery for other signed documents (trust roots) ------------------
 * context is the document kind's domain-separation string: the signed message is
 * context, its NUL byte, then the document's exact bytes. */

/* The "signatures" array of a document, [] allowed when allow_empty. */
int signatures_from_json(json_t *arr, bool allow_empty, struct bundle_signatures **ret, berr *e);
/* The array sorted by key id (a new reference). */
json_t *signatures_to_json(const struct bundle_signatures *s);
int signatures_sign(struct bundle_signatures *s, const struct berth_key *k, const char *context, const void *doc,
                    size_t len);
/* Counts the keys of keys[] (distinct) that signed doc validly. A signature by one of them
 * that does not verify fails with -EKEYREJECTED and *ret_bad pointing at the key. */
int signatures_count(const struct bundle_signatures *s, const struct berth_key *const *keys, size_t n_keys,
                     const char *context, const void *doc, size_t len, unsigned *ret_valid,
                     const struct berth_key **ret_bad);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct bundle_signatures *, signatures_free)
