/* SPDX-License-Identifier: Apache-2.0 */
/* signature.c — signatures.json: parse, canonical serialise, sign, verify (see signature.h). */
#include "bundle/signature.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "base/cleanup.h"
#include "bundle/format.h"

struct bundle_signatures *signatures_new(void)
{
        return calloc(1, sizeof(struct bundle_signatures));
}

void signatures_free(struct bundle_signatures *s)
{
        if (!s)
                return;
        free(s->v);
        free(s);
}

static bool keyid_valid(const char *s)
{
        if (strlen(s) != KEY_ID_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

int signatures_from_json(json_t *arr, bool allow_empty, struct bundle_signatures **ret, berr *e)
{
        _cleanup_(signatures_freep) struct bundle_signatures *s = signatures_new();
        if (!s)
                return -ENOMEM;
        if (!json_is_array(arr))
                return berr_set(e, -EBADMSG, "signatures: field \"signatures\" must be an array");
        size_t n = json_array_size(arr);
        if (n == 0 && !allow_empty)
                return berr_set(e, -EKEYREJECTED, "signatures: the bundle carries no signature; sign it with 'berth bundle sign'");
        if (n > BUNDLE_MAX_SIGNATURES)
                return berr_set(e, -EFBIG, "signatures: more than %u signatures", BUNDLE_MAX_SIGNATURES);
        if (n && !(s->v = calloc(n, sizeof *s->v)))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_array_get(arr, i);
                const char *kid = json_string_value(json_object_get(o, "keyid"));
                const char *sig = json_string_value(json_object_get(o, "sig"));
                size_t bl = 0;
                if (!kid || !sig || !keyid_valid(kid))
                        return berr_set(e, -EBADMSG, "signatures[%zu]: needs \"keyid\" (32 hex digits) and \"sig\" (base64)", i);
                for (size_t j = 0; j < s->n; j++)
                        if (!strcmp(s->v[j].keyid, kid))
                                return berr_set(e, -EBADMSG, "signatures[%zu]: key %s signed twice", i, kid);
                if (sodium_base642bin(s->v[s->n].sig, 64, sig, strlen(sig), NULL, &bl, NULL,
                                      sodium_base64_VARIANT_ORIGINAL) != 0 || bl != 64)
                        return berr_set(e, -EBADMSG, "signatures[%zu]: signature of key %s is not 64 bytes of base64", i, kid);
                memcpy(s->v[s->n].keyid, kid, KEY_ID_LEN + 1);
                s->n++;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int signatures_parse(const void *buf, size_t len, struct bundle_signatures **ret, berr *e)
{
        if (len > BUNDLE_MAX_SIGNATURES_SIZE)
                return berr_set(e, -EFBIG, "signatures: %zu bytes exceed the limit of %u", len, BUNDLE_MAX_SIGNATURES_SIZE);
        json_error_t je;
        _cleanup_(json_decrefp) json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return berr_set(e, -EBADMSG, "signatures: not valid JSON (line %d: %s)", je.line, je.text);
        return signatures_from_json(json_object_get(root, "signatures"), false, ret, e);
}

/* The signed message: context string, its NUL, then the document's bytes. */
static uint8_t *signed_message(const char *context, const void *doc, size_t len, size_t *ret_len)
{
        size_t cl = strlen(context) + 1;
        uint8_t *m = malloc(cl + len);
        if (!m)
                return NULL;
        memcpy(m, context, cl);
        if (len)
                memcpy(m + cl, doc, len);
        *ret_len = cl + len;
        return m;
}

int signatures_add(struct bundle_signatures *s, const struct berth_key *k, const void *manifest, size_t len)
{
        return signatures_sign(s, k, BUNDLE_SIGN_CONTEXT, manifest, len);
}

int signatures_sign(struct bundle_signatures *s, const struct berth_key *k, const char *context, const void *doc,
                    size_t len)
{
        if (!k->has_secret)
                return -ENOKEY;
        if (sodium_init() < 0)
                return -EIO;
        size_t ml;
        _cleanup_free_ uint8_t *msg = signed_message(context, doc, len, &ml);
        if (!msg)
                return -ENOMEM;
        struct bundle_signature *slot = NULL;
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i].keyid, k->id))
                        slot = &s->v[i];
        if (!slot) {
                if (s->n >= BUNDLE_MAX_SIGNATURES)
                        return -E2BIG;
                struct bundle_signature *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                s->v = nv;
                slot = &s->v[s->n++];
                memcpy(slot->keyid, k->id, KEY_ID_LEN + 1);
        }
        crypto_sign_detached(slot->sig, NULL, msg, ml, k->sk);
        return 0;
}

static int cmp_sig(const void *a, const void *b)
{
        return strcmp(((const struct bundle_signature *)a)->keyid, ((const struct bundle_signature *)b)->keyid);
}

json_t *signatures_to_json(const struct bundle_signatures *s)
{
        _cleanup_free_ struct bundle_signature *sorted = malloc((s->n ? s->n : 1) * sizeof *sorted);
        json_t *arr = json_array();
        if (!sorted || !arr) {
                json_decref(arr);
                return NULL;
        }
        if (s->n)
                memcpy(sorted, s->v, s->n * sizeof *sorted);
        qsort(sorted, s->n, sizeof *sorted, cmp_sig);
        for (size_t i = 0; i < s->n; i++) {
                char b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
                sodium_bin2base64(b64, sizeof b64, sorted[i].sig, 64, sodium_base64_VARIANT_ORIGINAL);
                if (json_array_append_new(arr, json_pack("{s:s,s:s}", "keyid", sorted[i].keyid, "sig", b64)) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

int signatures_serialize(const struct bundle_signatures *s, char **ret, size_t *ret_len)
{
        json_t *arr = signatures_to_json(s);
        if (!arr)
                return -ENOMEM;
        json_t *root = json_pack("{s:o}", "signatures", arr);
        if (!root)
                return -ENOMEM;
        char *out = json_dumps(root, JSON_INDENT(2));
        json_decref(root);
        if (!out)
                return -ENOMEM;
        size_t l = strlen(out);
        char *nl = realloc(out, l + 2);
        if (!nl) {
                free(out);
                return -ENOMEM;
        }
        nl[l] = '\n';
        nl[l + 1] = 0;
        *ret = nl;
        *ret_len = l + 1;
        return 0;
}

int signatures_count(const struct bundle_signatures *s, const struct berth_key *const *keys, size_t n_keys,
                     const char *context, const void *doc, size_t len, unsigned *ret_valid,
                     const struct berth_key **ret_bad)
{
        if (sodium_init() < 0)
                return -EIO;
        size_t ml;
        _cleanup_free_ uint8_t *msg = signed_message(context, doc, len, &ml);
        if (!msg)
                return -ENOMEM;
        unsigned valid = 0;
        /* signatures_from_json() refused a key id twice, so each key counts once. */
        for (size_t i = 0; i < s->n; i++) {
                const struct berth_key *k = NULL;
                for (size_t j = 0; j < n_keys && !k; j++)
                        if (!strcmp(keys[j]->id, s->v[i].keyid))
                                k = keys[j];
                if (!k)
                        continue;
                if (crypto_sign_verify_detached(s->v[i].sig, msg, ml, k->pk) != 0) {
                        if (ret_bad)
                                *ret_bad = k;
                        return -EKEYREJECTED;
                }
                valid++;
        }
        *ret_valid = valid;
        return 0;
}

int signatures_verify(const struct bundle_signatures *s, const struct trust *t, const void *manifest, size_t len,
                      unsigned *ret_valid, berr *e)
{
        _cleanup_free_ const struct berth_key **keys = calloc(t->n_keys ? t->n_keys : 1, sizeof *keys);
        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_keys; i++)
                keys[i] = &t->keys[i];
        unsigned valid = 0;
        const struct berth_key *bad = NULL;
        int r = signatures_count(s, keys, t->n_keys, BUNDLE_SIGN_CONTEXT, manifest, len, &valid, &bad);
        if (r == -EKEYREJECTED)
                return berr_set(e, -EKEYREJECTED,
                                "signature by trusted key '%s' (%s) does not match the manifest: the bundle was altered "
                                "or damaged; get a fresh copy from the publisher", bad->name, bad->id);
        if (r < 0)
                return r;
        char unknown[128] = "";
        for (size_t i = 0; i < s->n; i++) {
                if (trust_find(t, s->v[i].keyid))
                        continue;
                size_t ul = strlen(unknown);
                if (ul + KEY_ID_LEN + 2 < sizeof unknown)
                        snprintf(unknown + ul, sizeof unknown - ul, "%s%s", ul ? ", " : "", s->v[i].keyid);
        }
        if (ret_valid)
                *ret_valid = valid;
        if (valid < t->threshold)
                return berr_set(e, -EKEYREJECTED,
                                "bundle has %u valid signature(s) from keys in %s, %u required%s%s; %s",
                                valid, t->dir, t->threshold, unknown[0] ? "; unknown signer key id(s): " : "", unknown,
                                t->signed_root ? "sign it with release keys of that root ('berth bundle sign'); a key "
                                                 "the root does not list is not trusted (or was revoked)"
                                               : "sign it with trusted keys ('berth bundle sign') or add the "
                                                 "signer's .pub to the trust directory");
        return 0;
}
