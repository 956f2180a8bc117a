/* SPDX-License-Identifier: Apache-2.0 */
/* keys.h — Ed25519 signing keys and the trust directory.
 *
 * Key files are one line of text:
 *   NAME.pub: "berth-ed25519-public <base64 32-byte key> <name>"
 *   NAME.key: "berth-ed25519-secret <base64 64-byte libsodium secret key> <name>" (mode 0600)
 * A key id is the lowercase hex of the first 16 bytes of SHA-256(public key).
 * A trust directory holds *.pub files and an optional "threshold" file (default 1).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define KEY_ID_LEN 32
#define KEY_NAME_MAX 64

struct berth_key {
        char name[KEY_NAME_MAX + 1];
        char id[KEY_ID_LEN + 1];
        uint8_t pk[32];
        uint8_t sk[64];
        bool has_secret;
};

/* The keys a bundle's signatures are checked against: a trust directory read as is, or
 * the release role of a trust root (bundle/root.h). */
struct trust {
        struct berth_key *keys;
        size_t n_keys;
        unsigned threshold;
        char *dir;              /* where the keys come from, for messages */
        int64_t root_version;   /* the trust root these keys belong to (1: a trust directory) */
        int64_t expires;        /* the root's expiry; 0: never. Bundles are refused from then on */
        bool signed_root;       /* the release role of a signed root (not a *.pub directory) */
};

bool key_name_valid(const char *name);
/* Writes DIR/NAME.key (0600) and DIR/NAME.pub; refuses to overwrite existing files. */
int key_generate(const char *dir, const char *name, struct berth_key *ret, berr *e);
int key_load_secret(const char *path, struct berth_key *ret, berr *e);
int key_load_public(const char *path, struct berth_key *ret, berr *e);
void key_id_from_pk(const uint8_t pk[32], char out[KEY_ID_LEN + 1]);
/* Wipes secret material. */
void key_wipe(struct berth_key *k);

/* Reads DIR's *.pub keys and threshold file (root version 1, never expires). */
int trust_load(const char *dir, struct trust **ret, berr *e);
void trust_free(struct trust *t);
const struct berth_key *trust_find(const struct trust *t, const char *keyid);

#include "base/cleanup.h"
DEFINE_CLEANUP(struct trust *, trust_free)
