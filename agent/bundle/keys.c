/* SPDX-License-Identifier: Apache-2.0 */
/* keys.c — Ed25519 key files and the trust directory (libsodium). See keys.h. */
#include "bundle/keys.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"

#define PUB_TAG "berth-ed25519-public"
#define SEC_TAG "berth-ed25519-secret"
#define KEY_FILE_MAX 1024
#define TRUST_MAX_KEYS 64

static int sodium_ready(void)
{
        return sodium_init() < 0 ? -EIO : 0;
}

bool key_name_valid(const char *name)
{
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > KEY_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (i > 0 && (c == '.' || c == '_' || c == '-'))))
                        return false;
        }
        return true;
}

void key_id_from_pk(const uint8_t pk[32], char out[KEY_ID_LEN + 1])
{
        uint8_t h[32];
        if (sha256_buf_raw(pk, 32, h) < 0)
                memset(h, 0, sizeof h);
        hex_encode(h, KEY_ID_LEN / 2, out);
}

void key_wipe(struct berth_key *k)
{
        if (k)
                sodium_memzero(k->sk, sizeof k->sk);
}

int key_generate(const char *dir, const char *name, struct berth_key *ret, berr *e)
{
        int r = sodium_ready();
        if (r < 0)
                return berr_set(e, r, "cannot initialise libsodium");
        if (!key_name_valid(name))
                return berr_set(e, -EINVAL, "key name '%s' is invalid (letters, digits, '.', '_', '-')", name);
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return berr_set(e, r, "cannot create key directory %s: %s", dir, strerror(-r));

        _cleanup_free_ char *kp = NULL, *pp = NULL;
        if (asprintf(&kp, "%s/%s.key", dir, name) < 0 || asprintf(&pp, "%s/%s.pub", dir, name) < 0)
                return -ENOMEM;
        if (access(kp, F_OK) == 0 || access(pp, F_OK) == 0)
                return berr_set(e, -EEXIST, "%s or %s already exists; refusing to overwrite a key (pick another --name)", kp, pp);

        struct berth_key k = {0};
        crypto_sign_keypair(k.pk, k.sk);
        k.has_secret = true;
        snprintf(k.name, sizeof k.name, "%s", name);
        key_id_from_pk(k.pk, k.id);

        char b64sk[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
        char b64pk[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64sk, sizeof b64sk, k.sk, 64, sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(b64pk, sizeof b64pk, k.pk, 32, sodium_base64_VARIANT_ORIGINAL);

        char line[512];
        int n = snprintf(line, sizeof line, SEC_TAG " %s %s\n", b64sk, name);
        /* The secret key file is created 0600 from the start (the temp file too). */
        r = write_file_atomic(kp, line, (size_t)n, 0600);
        sodium_memzero(line, sizeof line);
        sodium_memzero(b64sk, sizeof b64sk);
        if (r < 0) {
                key_wipe(&k);
                return berr_set(e, r, "cannot write %s: %s", kp, strerror(-r));
        }
        n = snprintf(line, sizeof line, PUB_TAG " %s %s\n", b64pk, name);
        r = write_file_atomic(pp, line, (size_t)n, 0644);
        if (r < 0) {
                key_wipe(&k);
                return berr_set(e, r, "cannot write %s: %s", pp, strerror(-r));
        }
        if (ret)
                *ret = k;
        else
                key_wipe(&k);
        return 0;
}

static int key_load(const char *path, bool secret, struct berth_key *ret, berr *e)
{
        int r = sodium_ready();
        if (r < 0)
                return berr_set(e, r, "cannot initialise libsodium");
        _cleanup_free_ char *buf = NULL;
        size_t len;
        r = read_file_bounded(path, KEY_FILE_MAX, &buf, &len);
        if (r < 0)
                return berr_set(e, r, "cannot read key file %s: %s", path, strerror(-r));

        char tag[32], b64[128], name[KEY_NAME_MAX + 2];
        if (sscanf(buf, "%31s %127s %65s", tag, b64, name) != 3 || strcmp(tag, secret ? SEC_TAG : PUB_TAG) != 0) {
                sodium_memzero(buf, len);
                return berr_set(e, -EBADMSG, "%s is not a berth %s key file (expected '%s <base64> <name>')", path,
                                secret ? "secret" : "public", secret ? SEC_TAG : PUB_TAG);
        }
        struct berth_key k = {0};
        size_t bin_len = 0;
        uint8_t *dst = secret ? k.sk : k.pk;
        size_t want = secret ? 64 : 32;
        r = sodium_base642bin(dst, want, b64, strlen(b64), NULL, &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL);
        sodium_memzero(buf, len);
        sodium_memzero(b64, sizeof b64);
        if (r != 0 || bin_len != want) {
                key_wipe(&k);
                return berr_set(e, -EBADMSG, "%s: key material is not %zu bytes of base64", path, want);
        }
        if (!key_name_valid(name)) {
                key_wipe(&k);
                return berr_set(e, -EBADMSG, "%s: key name '%s' is invalid", path, name);
        }
        if (secret) {
                /* A libsodium secret key embeds its public key in the last 32 bytes;
                 * check the pair is consistent before signing with it. */
                uint8_t pk[32];
                crypto_sign_ed25519_sk_to_pk(pk, k.sk);
                uint8_t seed[32], pk2[32], sk2[64];
                crypto_sign_ed25519_sk_to_seed(seed, k.sk);
                crypto_sign_seed_keypair(pk2, sk2, seed);
                sodium_memzero(seed, sizeof seed);
                sodium_memzero(sk2, sizeof sk2);
                if (memcmp(pk, pk2, 32) != 0) {
                        key_wipe(&k);
                        return berr_set(e, -EBADMSG, "%s: secret key is corrupt (public half does not match)", path);
                }
                memcpy(k.pk, pk, 32);
                k.has_secret = true;
        }
        memcpy(k.name, name, strlen(name) + 1); /* key_name_valid() bounded it */
        key_id_from_pk(k.pk, k.id);
        *ret = k;
        return 0;
}

int key_load_secret(const char *path, struct berth_key *ret, berr *e)
{
        struct stat st;
        if (stat(path, &st) == 0 && (st.st_mode & 0077))
                return berr_set(e, -EPERM, "secret key %s is readable by group or others (mode %03o); chmod 600 it",
                                path, st.st_mode & 0777);
        return key_load(path, true, ret, e);
}

int key_load_public(const char *path, struct berth_key *ret, berr *e)
{
        return key_load(path, false, ret, e);
}

void trust_free(struct trust *t)
{
        if (!t)
                return;
        free(t->keys);
        free(t->dir);
        free(t);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int trust_load(const char *dir, struct trust **ret, berr *e)
{
        _cleanup_(trust_freep) struct trust *t = calloc(1, sizeof *t);
        if (!t || !(t->dir = strdup(dir)))
                return -ENOMEM;
        DIR *d = opendir(dir);
        if (!d)
                return berr_set(e, -errno, "cannot open trust directory %s: %s", dir, strerror(errno));
        char *names[TRUST_MAX_KEYS];
        size_t n = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 5 || strcmp(de->d_name + l - 4, ".pub") != 0 || de->d_name[0] == '.')
                        continue;
                if (n == TRUST_MAX_KEYS) {
                        r = berr_set(e, -E2BIG, "trust directory %s holds more than %d keys", dir, TRUST_MAX_KEYS);
                        break;
                }
                if (!(names[n++] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
        }
        closedir(d);
        /* Sorted, so messages and key order never depend on directory order. */
        qsort(names, n, sizeof names[0], cmp_str);
        if (r >= 0 && n == 0)
                r = berr_set(e, -ENOKEY, "trust directory %s holds no *.pub keys; copy the signers' public keys there", dir);
        if (r >= 0 && !(t->keys = calloc(n, sizeof *t->keys)))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *p = path_join(dir, names[i]);
                struct berth_key k;
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                r = key_load_public(p, &k, e);
                if (r < 0)
                        break;
                bool dup = trust_find(t, k.id) != NULL;
                if (!dup)
                        t->keys[t->n_keys++] = k;
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        if (r < 0)
                return r;

        t->threshold = 1;
        t->root_version = 1;
        _cleanup_free_ char *tp = path_join(dir, "threshold");
        _cleanup_free_ char *tb = NULL;
        if (!tp)
                return -ENOMEM;
        r = read_file_bounded(tp, 64, &tb, NULL);
        if (r >= 0) {
                char *end;
                unsigned long v = strtoul(tb, &end, 10);
                while (*end == '\n' || *end == ' ')
                        end++;
                if (end == tb || *end || v < 1 || v > TRUST_MAX_KEYS)
                        return berr_set(e, -EBADMSG, "%s must hold a number between 1 and %d", tp, TRUST_MAX_KEYS);
                t->threshold = (unsigned)v;
        } else if (r != -ENOENT)
                return berr_set(e, r, "cannot read %s: %s", tp, strerror(-r));
        if (t->threshold > t->n_keys)
                return berr_set(e, -EINVAL, "trust directory %s requires %u signatures but holds only %zu distinct keys",
                                dir, t->threshold, t->n_keys);
        *ret = TAKE_PTR(t);
        return 0;
}

const struct berth_key *trust_find(const struct trust *t, const char *keyid)
{
        for (size_t i = 0; i < t->n_keys; i++)
                if (!strcmp(t->keys[i].id, keyid))
                        return &t->keys[i];
        return NULL;
}
