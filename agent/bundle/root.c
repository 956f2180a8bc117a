/* SPDX-License-Identifier: Apache-2.0 */
/* root.c — trust root documents: strict parse, canonical build, sign, and the rotation
 * rule (see root.h and README.md, "Trust roots"). Holds no state and writes no file.
 */
#include "bundle/root.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/fs.h"
#include "base/timeutil.h"
#include "bundle/format.h"

const char *root_role_name(enum root_role role)
{
        return role == ROOT_ROLE_ROOT ? "root" : "release";
}

void root_free(struct trust_root *r)
{
        if (!r)
                return;
        free(r->keys);
        free(r->payload);
        signatures_free(r->sigs);
        free(r->origin);
        free(r);
}

static struct trust_root *root_new(const char *origin)
{
        struct trust_root *r = calloc(1, sizeof *r);
        if (!r)
                return NULL;
        r->origin = strdup(origin ? origin : "trust root");
        r->sigs = signatures_new();
        r->keys = calloc(ROOT_MAX_KEYS, sizeof *r->keys);
        if (!r->origin || !r->sigs || !r->keys) {
                root_free(r);
                return NULL;
        }
        return r;
}

static ssize_t key_index(const struct trust_root *r, const char *keyid)
{
        for (size_t i = 0; i < r->n_keys; i++)
                if (!strcmp(r->keys[i].id, keyid))
                        return (ssize_t)i;
        return -1;
}

bool root_has_key(const struct trust_root *r, enum root_role role, const char *keyid)
{
        const struct root_role_keys *rk = &r->roles[role];
        for (size_t i = 0; i < rk->n; i++)
                if (!strcmp(r->keys[rk->idx[i]].id, keyid))
                        return true;
        return false;
}

const char *root_describe(const struct trust_root *r, char buf[], size_t size)
{
        if (r->implicit)
                snprintf(buf, size, "%s", r->origin);
        else
                snprintf(buf, size, "trust root version %lld", (long long)r->version);
        return buf;
}

/* Exactly the fields in names[], each present. */
static int exact_fields(json_t *o, const char *what, const char *const *names, size_t n, berr *e)
{
        if (!json_is_object(o))
                return berr_set(e, -EBADMSG, "%s must be a JSON object", what);
        for (size_t i = 0; i < n; i++)
                if (!json_object_get(o, names[i]))
                        return berr_set(e, -EBADMSG, "%s lacks the field \"%s\"", what, names[i]);
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                bool known = false;
                for (size_t i = 0; i < n && !known; i++)
                        known = !strcmp(k, names[i]);
                if (!known)
                        return berr_set(e, -EBADMSG, "%s has an unknown field \"%.64s\" (a newer berth may know it)",
                                        what, k);
        }
        return 0;
}

static int parse_key(struct trust_root *r, json_t *o, size_t i, berr *e)
{
        static const char *const fields[] = {"keyid", "name", "publicKey"};
        char what[32];
        snprintf(what, sizeof what, "keys[%zu]", i);
        int q = exact_fields(o, what, fields, 3, e);
        if (q < 0)
                return q;
        const char *kid = json_string_value(json_object_get(o, "keyid"));
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *pk = json_string_value(json_object_get(o, "publicKey"));
        if (!kid || !name || !pk)
                return berr_set(e, -EBADMSG, "%s: keyid, name and publicKey must be strings", what);
        if (!key_name_valid(name))
                return berr_set(e, -EBADMSG, "%s: key name '%.80s' is invalid (letters, digits, '.', '_', '-')", what,
                                name);
        struct berth_key *k = &r->keys[r->n_keys];
        memset(k, 0, sizeof *k);
        size_t bl = 0;
        if (sodium_base642bin(k->pk, sizeof k->pk, pk, strlen(pk), NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl != sizeof k->pk)
                return berr_set(e, -EBADMSG, "%s ('%s'): publicKey is not 32 bytes of base64", what, name);
        key_id_from_pk(k->pk, k->id);
        if (strcmp(k->id, kid) != 0)
                return berr_set(e, -EBADMSG, "%s ('%s'): keyid %.40s is not the id of its public key (%s)", what,
                                name, kid, k->id);
        if (key_index(r, k->id) >= 0)
                return berr_set(e, -EBADMSG, "%s: key %s is listed twice", what, k->id);
        memcpy(k->name, name, strlen(name) + 1);
        r->n_keys++;
        return 0;
}

static int parse_role(struct trust_root *r, json_t *roles, enum root_role role, berr *e)
{
        static const char *const fields[] = {"threshold", "keyids"};
        const char *rn = root_role_name(role);
        char what[32];
        snprintf(what, sizeof what, "roles.%s", rn);
        json_t *o = json_object_get(roles, rn);
        int q = exact_fields(o, what, fields, 2, e);
        if (q < 0)
                return q;
        json_t *ids = json_object_get(o, "keyids"), *th = json_object_get(o, "threshold");
        struct root_role_keys *rk = &r->roles[role];
        if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > ROOT_MAX_KEYS)
                return berr_set(e, -EBADMSG, "%s.keyids must be an array of 1 to %u key ids", what, ROOT_MAX_KEYS);
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) {
                const char *kid = json_string_value(v);
                ssize_t k = kid ? key_index(r, kid) : -1;
                if (k < 0)
                        return berr_set(e, -EBADMSG, "%s.keyids[%zu] is not the id of a key in \"keys\"", what, i);
                for (size_t j = 0; j < rk->n; j++)
                        if (rk->idx[j] == (size_t)k)
                                return berr_set(e, -EBADMSG, "%s.keyids lists key %s twice", what, kid);
                rk->idx[rk->n++] = (size_t)k;
        }
        if (!json_is_integer(th) || json_integer_value(th) < 1 || (size_t)json_integer_value(th) > rk->n)
                return berr_set(e, -EBADMSG, "%s.threshold must be an integer from 1 to the number of its keys (%zu)",
                                what, rk->n);
        rk->threshold = (unsigned)json_integer_value(th);
        return 0;
}

/* The payload's rules (README.md, "Trust roots"): unknown fields are refused, because a
 * root says who may sign what and an agent must not half-understand it. */
static int parse_payload(struct trust_root *r, berr *e)
{
        json_error_t je;
        _cleanup_(json_decrefp) json_t *p = json_loadb(r->payload, r->payload_len, JSON_REJECT_DUPLICATES, &je);
        if (!p)
                return berr_set(e, -EBADMSG, "payload is not valid JSON (line %d: %s)", je.line, je.text);
        static const char *const fields[] = {"type", "schemaVersion", "version", "expires", "keys", "roles"};
        const char *type = json_string_value(json_object_get(p, "type"));
        if (json_is_object(p) && (!type || strcmp(type, ROOT_TYPE)))
                return berr_set(e, -EBADMSG, "payload: \"type\" must be \"%s\"", ROOT_TYPE);
        json_t *sv = json_object_get(p, "schemaVersion");
        if (json_is_integer(sv) && json_integer_value(sv) != ROOT_SCHEMA_VERSION)
                return berr_set(e, -EPROTONOSUPPORT,
                                "payload: schemaVersion %lld is not %d; this root needs a newer berth",
                                (long long)json_integer_value(sv), ROOT_SCHEMA_VERSION);
        int q = exact_fields(p, "payload", fields, ELEMENTSOF(fields), e);
        if (q < 0)
                return q;
        if (!json_is_integer(sv))
                return berr_set(e, -EBADMSG, "payload: schemaVersion must be %d", ROOT_SCHEMA_VERSION);
        json_t *v = json_object_get(p, "version");
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > BUNDLE_MAX_VERSION)
                return berr_set(e, -EBADMSG, "payload: version must be an integer from 1 to %lld", BUNDLE_MAX_VERSION);
        r->version = json_integer_value(v);
        const char *ex = json_string_value(json_object_get(p, "expires"));
        if (!ex || time_parse_rfc3339(ex, &r->expires) < 0 || r->expires <= 0)
                return berr_set(e, -EBADMSG, "payload: expires must be an RFC 3339 UTC time like 2027-01-31T00:00:00Z");
        json_t *keys = json_object_get(p, "keys");
        if (!json_is_array(keys) || json_array_size(keys) == 0 || json_array_size(keys) > ROOT_MAX_KEYS)
                return berr_set(e, -EBADMSG, "payload: keys must be an array of 1 to %u keys", ROOT_MAX_KEYS);
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k) {
                q = parse_key(r, k, i, e);
                if (q < 0)
                        return q;
        }
        static const char *const roles[] = {"root", "release"};
        q = exact_fields(json_object_get(p, "roles"), "payload: roles", roles, 2, e);
        for (enum root_role role = 0; q >= 0 && role < ROOT_ROLES; role++)
                q = parse_role(r, json_object_get(p, "roles"), role, e);
        if (q < 0)
                return q;
        for (i = 0; i < r->n_keys; i++)
                if (!root_has_key(r, ROOT_ROLE_ROOT, r->keys[i].id) &&
                    !root_has_key(r, ROOT_ROLE_RELEASE, r->keys[i].id))
                        return berr_set(e, -EBADMSG, "payload: key '%s' (%s) has no role", r->keys[i].name,
                                        r->keys[i].id);
        return 0;
}

int root_parse_json(json_t *env, const char *origin, struct trust_root **ret, berr *e)
{
        _cleanup_(root_freep) struct trust_root *r = root_new(origin);
        if (!r)
                return -ENOMEM;
        static const char *const fields[] = {"signed", "signatures"};
        int q = exact_fields(env, "the envelope", fields, 2, e);
        const char *b64 = json_string_value(json_object_get(env, "signed"));
        if (q >= 0 && !b64)
                q = berr_set(e, -EBADMSG, "the envelope's \"signed\" must be a base64 string");
        if (q < 0)
                return berr_prefix(e, q, "trust root %s", r->origin);
        size_t blen = strlen(b64);
        if (blen > sodium_base64_ENCODED_LEN(ROOT_MAX_SIZE, sodium_base64_VARIANT_ORIGINAL))
                return berr_set(e, -EFBIG, "trust root %s: the payload is over the limit of %u bytes", r->origin,
                                ROOT_MAX_SIZE);
        r->payload = malloc(blen / 4 * 3 + 3);
        if (!r->payload)
                return -ENOMEM;
        if (sodium_base642bin((unsigned char *)r->payload, blen / 4 * 3 + 3, b64, blen, NULL, &r->payload_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || r->payload_len == 0)
                return berr_set(e, -EBADMSG, "trust root %s: \"signed\" is not base64", r->origin);
        berr sub = {0};
        signatures_free(r->sigs);
        r->sigs = NULL;
        q = signatures_from_json(json_object_get(env, "signatures"), true, &r->sigs, &sub);
        if (q >= 0)
                q = parse_payload(r, &sub);
        if (q < 0)
                return berr_set(e, q, "trust root %s: %s", r->origin, berr_msg(&sub, q));
        q = sha256_buf_str(r->payload, r->payload_len, r->digest);
        if (q < 0)
                return q;
        *ret = TAKE_PTR(r);
        return 0;
}

int root_parse(const void *buf, size_t len, const char *origin, struct trust_root **ret, berr *e)
{
        if (len > ROOT_MAX_SIZE)
                return berr_set(e, -EFBIG, "trust root %s is %zu bytes, over the limit of %u", origin, len,
                                ROOT_MAX_SIZE);
        json_error_t je;
        _cleanup_(json_decrefp) json_t *env = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!env)
                return berr_set(e, -EBADMSG, "trust root %s is not valid JSON (line %d: %s)", origin, je.line, je.text);
        return root_parse_json(env, origin, ret, e);
}

int root_load_file(const char *path, struct trust_root **ret, berr *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_bounded(path, ROOT_MAX_SIZE, &buf, &len);
        if (r == -EFBIG)
                return berr_set(e, r, "trust root %s is over the limit of %u bytes", path, ROOT_MAX_SIZE);
        if (r < 0)
                return berr_set(e, r, "cannot read trust root %s: %s", path, strerror(-r));
        return root_parse(buf, len, path, ret, e);
}

int root_from_trust(const struct trust *t, struct trust_root **ret, berr *e)
{
        if (t->n_keys == 0 || t->n_keys > ROOT_MAX_KEYS || t->threshold < 1 || t->threshold > t->n_keys)
                return berr_set(e, -EINVAL, "trust directory %s cannot be a root (%zu keys, threshold %u)", t->dir,
                                t->n_keys, t->threshold);
        _cleanup_(root_freep) struct trust_root *r = root_new(t->dir);
        if (!r)
                return -ENOMEM;
        r->implicit = true;
        r->version = 1;
        r->expires = 0;
        for (size_t i = 0; i < t->n_keys; i++) {
                r->keys[i] = t->keys[i];
                key_wipe(&r->keys[i]);
                r->keys[i].has_secret = false;
                for (enum root_role role = 0; role < ROOT_ROLES; role++)
                        r->roles[role].idx[i] = i;
        }
        r->n_keys = t->n_keys;
        for (enum root_role role = 0; role < ROOT_ROLES; role++) {
                r->roles[role].n = t->n_keys;
                r->roles[role].threshold = t->threshold;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

static int cmp_keyid(const void *a, const void *b)
{
        return strcmp((*(const struct berth_key *const *)a)->id, (*(const struct berth_key *const *)b)->id);
}

/* The payload as berth writes it: fields in a fixed order, keys and key ids sorted. */
static char *build_payload(const struct root_spec *s, const struct berth_key *const *keys, size_t n_keys,
                           size_t *ret_len)
{
        char ex[32];
        time_format_rfc3339(s->expires, ex);
        json_t *ka = json_array(), *roles = json_object();
        for (size_t i = 0; ka && i < n_keys; i++) {
                char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
                sodium_bin2base64(b64, sizeof b64, keys[i]->pk, 32, sodium_base64_VARIANT_ORIGINAL);
                json_array_append_new(ka, json_pack("{s:s,s:s,s:s}", "keyid", keys[i]->id, "name", keys[i]->name,
                                                    "publicKey", b64));
        }
        for (enum root_role role = 0; roles && role < ROOT_ROLES; role++) {
                const struct berth_key *sorted[ROOT_MAX_KEYS];
                memcpy(sorted, s->keys[role], s->n[role] * sizeof sorted[0]);
                qsort(sorted, s->n[role], sizeof sorted[0], cmp_keyid);
                json_t *ids = json_array();
                for (size_t i = 0; ids && i < s->n[role]; i++)
                        json_array_append_new(ids, json_string(sorted[i]->id));
                json_object_set_new(roles, root_role_name(role),
                                    json_pack("{s:i,s:o}", "threshold", (int)s->threshold[role], "keyids", ids));
        }
        json_t *p = json_pack("{s:s,s:i,s:I,s:s,s:o,s:o}", "type", ROOT_TYPE, "schemaVersion", ROOT_SCHEMA_VERSION,
                              "version", (json_int_t)s->version, "expires", ex, "keys", ka, "roles", roles);
        if (!p)
                return NULL;
        char *out = json_dumps(p, JSON_INDENT(2));
        json_decref(p);
        if (!out)
                return NULL;
        size_t l = strlen(out);
        char *nl = realloc(out, l + 2);
        if (!nl) {
                free(out);
                return NULL;
        }
        nl[l] = '\n';
        nl[l + 1] = 0;
        *ret_len = l + 1;
        return nl;
}

int root_build(const struct root_spec *s, struct trust_root **ret, berr *e)
{
        if (s->version < 1 || s->version > BUNDLE_MAX_VERSION)
                return berr_set(e, -EINVAL, "a trust root's version must be from 1 to %lld", BUNDLE_MAX_VERSION);
        if (s->expires <= 0)
                return berr_set(e, -EINVAL, "a trust root needs an expiry time");
        const struct berth_key *all[2 * ROOT_MAX_KEYS];
        size_t n = 0;
        for (enum root_role role = 0; role < ROOT_ROLES; role++) {
                if (s->n[role] == 0 || s->n[role] > ROOT_MAX_KEYS)
                        return berr_set(e, -EINVAL, "the %s role needs 1 to %u keys", root_role_name(role),
                                        ROOT_MAX_KEYS);
                if (s->threshold[role] < 1 || s->threshold[role] > s->n[role])
                        return berr_set(e, -EINVAL, "the %s role's threshold %u must be from 1 to its %zu key(s)",
                                        root_role_name(role), s->threshold[role], s->n[role]);
                for (size_t i = 0; i < s->n[role]; i++) {
                        const struct berth_key *k = s->keys[role][i];
                        for (size_t j = 0; j < i; j++)
                                if (!strcmp(s->keys[role][j]->id, k->id))
                                        return berr_set(e, -EINVAL, "key '%s' (%s) is given twice for the %s role",
                                                        k->name, k->id, root_role_name(role));
                        bool seen = false;
                        for (size_t j = 0; j < n && !seen; j++)
                                seen = !strcmp(all[j]->id, s->keys[role][i]->id);
                        if (!seen)
                                all[n++] = s->keys[role][i];
                }
        }
        if (n > ROOT_MAX_KEYS)
                return berr_set(e, -EINVAL, "a trust root holds at most %u keys", ROOT_MAX_KEYS);
        qsort(all, n, sizeof all[0], cmp_keyid);
        size_t len = 0;
        _cleanup_free_ char *payload = build_payload(s, all, n, &len);
        if (!payload)
                return -ENOMEM;
        /* Parse what was built: a root berth writes is one berth reads. */
        _cleanup_(root_freep) struct trust_root *r = root_new("new trust root");
        if (!r)
                return -ENOMEM;
        r->payload = TAKE_PTR(payload);
        r->payload_len = len;
        berr sub = {0};
        int q = parse_payload(r, &sub);
        if (q < 0)
                return berr_set(e, q, "internal error, the new trust root is invalid: %s", berr_msg(&sub, q));
        q = sha256_buf_str(r->payload, r->payload_len, r->digest);
        if (q < 0)
                return q;
        *ret = TAKE_PTR(r);
        return 0;
}

int root_sign(struct trust_root *r, const struct berth_key *k, berr *e)
{
        if (r->implicit)
                return berr_set(e, -EINVAL,
                                "%s is a trust directory, not a signed root; write it out with 'berth trust init'",
                                r->origin);
        int q = signatures_sign(r->sigs, k, ROOT_SIGN_CONTEXT, r->payload, r->payload_len);
        if (q == -E2BIG)
                return berr_set(e, q, "trust root version %lld already carries %u signatures", (long long)r->version,
                                BUNDLE_MAX_SIGNATURES);
        if (q < 0)
                return berr_set(e, q, "cannot sign trust root version %lld with key '%s': %s", (long long)r->version,
                                k->name, strerror(-q));
        return 0;
}

json_t *root_envelope_json(const struct trust_root *r)
{
        if (r->implicit)
                return NULL;
        size_t bl = sodium_base64_ENCODED_LEN(r->payload_len, sodium_base64_VARIANT_ORIGINAL);
        _cleanup_free_ char *b64 = malloc(bl);
        json_t *sigs = signatures_to_json(r->sigs);
        if (!b64 || !sigs) {
                json_decref(sigs);
                return NULL;
        }
        sodium_bin2base64(b64, bl, (const unsigned char *)r->payload, r->payload_len, sodium_base64_VARIANT_ORIGINAL);
        return json_pack("{s:s,s:o}", "signed", b64, "signatures", sigs);
}

int root_serialize(const struct trust_root *r, char **ret, size_t *ret_len)
{
        json_t *env = root_envelope_json(r);
        if (!env)
                return r->implicit ? -EINVAL : -ENOMEM;
        char *out = json_dumps(env, JSON_INDENT(2));
        json_decref(env);
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

int root_count(const struct trust_root *signer, enum root_role role, const struct trust_root *r, unsigned *ret_valid,
               berr *e)
{
        *ret_valid = 0;
        if (r->implicit)
                return 0;
        const struct root_role_keys *rk = &signer->roles[role];
        const struct berth_key *keys[ROOT_MAX_KEYS];
        for (size_t i = 0; i < rk->n; i++)
                keys[i] = &signer->keys[rk->idx[i]];
        const struct berth_key *bad = NULL;
        int q = signatures_count(r->sigs, keys, rk->n, ROOT_SIGN_CONTEXT, r->payload, r->payload_len, ret_valid, &bad);
        if (q == -EKEYREJECTED)
                return berr_set(e, q, "trust root version %lld (%s): the signature by key '%s' (%s) does not match its "
                                "payload: the file was altered or damaged", (long long)r->version, r->origin, bad->name,
                                bad->id);
        return q;
}

int root_verify_self(const struct trust_root *r, berr *e)
{
        if (r->implicit)
                return 0;
        unsigned valid;
        int q = root_count(r, ROOT_ROLE_ROOT, r, &valid, e);
        if (q < 0)
                return q;
        if (valid < r->roles[ROOT_ROLE_ROOT].threshold)
                return berr_set(e, -EKEYREJECTED,
                                "trust root version %lld (%s) is signed by %u of its own root keys, %u required; "
                                "have the root key holders sign it ('berth trust sign')",
                                (long long)r->version, r->origin, valid, r->roles[ROOT_ROLE_ROOT].threshold);
        return 0;
}

int root_verify_next(const struct trust_root *cur, const struct trust_root *next, berr *e)
{
        if (next->implicit)
                return berr_set(e, -EINVAL, "a trust directory cannot follow a signed root");
        if (next->version <= cur->version)
                return berr_set(e, -ESTALE,
                                "trust root version %lld (%s) is not newer than the trusted version %lld; a "
                                "root never goes backwards",
                                (long long)next->version, next->origin, (long long)cur->version);
        if (next->version != cur->version + 1)
                return berr_set(e, -ENOENT,
                                "trust root version %lld (%s) cannot follow the trusted version %lld: version "
                                "%lld is missing; every version in between is needed", (long long)next->version,
                                next->origin, (long long)cur->version, (long long)cur->version + 1);
        unsigned old_valid, new_valid;
        int q = root_count(cur, ROOT_ROLE_ROOT, next, &old_valid, e);
        if (q >= 0)
                q = root_count(next, ROOT_ROLE_ROOT, next, &new_valid, e);
        if (q < 0)
                return q;
        char d[256];
        if (old_valid < cur->roles[ROOT_ROLE_ROOT].threshold)
                return berr_set(e, -EKEYREJECTED, "trust root version %lld (%s) is signed by %u root key(s) of %s, %u "
                                "required: a new root must be signed by the root keys of the one before it",
                                (long long)next->version, next->origin, old_valid, root_describe(cur, d, sizeof d),
                                cur->roles[ROOT_ROLE_ROOT].threshold);
        if (new_valid < next->roles[ROOT_ROLE_ROOT].threshold)
                return berr_set(e, -EKEYREJECTED,
                                "trust root version %lld (%s) is signed by %u of its own root keys, %u required; "
                                "have its root key holders sign it ('berth trust sign')",
                                (long long)next->version, next->origin, new_valid,
                                next->roles[ROOT_ROLE_ROOT].threshold);
        return 0;
}

json_t *root_summary_json(const struct trust_root *r, int64_t now)
{
        json_t *roles = json_object(), *sigs = json_array();
        for (enum root_role role = 0; roles && role < ROOT_ROLES; role++) {
                json_t *keys = json_array();
                for (size_t i = 0; keys && i < r->roles[role].n; i++) {
                        const struct berth_key *k = &r->keys[r->roles[role].idx[i]];
                        json_array_append_new(keys, json_pack("{s:s,s:s}", "keyid", k->id, "name", k->name));
                }
                json_object_set_new(roles, root_role_name(role),
                                    json_pack("{s:i,s:o*}", "threshold", (int)r->roles[role].threshold, "keys", keys));
        }
        for (size_t i = 0; sigs && i < r->sigs->n; i++)
                json_array_append_new(sigs, json_string(r->sigs->v[i].keyid));
        char ex[32];
        if (r->expires)
                time_format_rfc3339(r->expires, ex);
        return json_pack("{s:I,s:s?,s:b,s:s?,s:s,s:b,s:o*,s:o*}", "version", (json_int_t)r->version, "expires",
                         r->expires ? ex : NULL, "expired", r->expires && now >= r->expires, "digest",
                         r->digest[0] ? r->digest : NULL, "origin", r->origin, "implicit", r->implicit, "roles", roles,
                         "signatures", sigs);
}

int root_release_trust(const struct trust_root *r, struct trust **ret)
{
        const struct root_role_keys *rk = &r->roles[ROOT_ROLE_RELEASE];
        _cleanup_(trust_freep) struct trust *t = calloc(1, sizeof *t);
        if (!t || !(t->keys = calloc(rk->n, sizeof *t->keys)))
                return -ENOMEM;
        char d[256];
        if (!(t->dir = strdup(r->implicit ? r->origin : root_describe(r, d, sizeof d))))
                return -ENOMEM;
        for (size_t i = 0; i < rk->n; i++)
                t->keys[i] = r->keys[rk->idx[i]];
        t->n_keys = rk->n;
        t->threshold = rk->threshold;
        t->root_version = r->version;
        t->expires = r->expires;
        t->signed_root = !r->implicit;
        *ret = TAKE_PTR(t);
        return 0;
}
