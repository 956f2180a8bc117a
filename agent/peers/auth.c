/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c — site-key request authentication for the peer server (see auth.h). */
#include "peers/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"

#define AUTH_SCHEME "Berth-Peer v=1, t="
#define MAC_CONTEXT "berth-peer v1\n"
#define KEY_FILE_MAX 256

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int peer_key_parse(const char *text, size_t len, struct peer_key *key, berr *e)
{
        while (len && is_space(*text))
                text++, len--;
        while (len && is_space(text[len - 1]))
                len--;
        if (len != 2 * PEER_KEY_LEN || !hex_decode(text, key->k, PEER_KEY_LEN))
                return berr_set(e, -EINVAL, "a site key is %u hex digits (%u random bytes)", 2 * PEER_KEY_LEN,
                                PEER_KEY_LEN);
        return 0;
}

int peer_key_load(const char *path, struct peer_key *key, berr *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return berr_set(e, -errno, "cannot open the site key %s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return berr_set(e, -errno, "cannot stat the site key %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return berr_set(e, -EINVAL, "the site key %s is not a regular file", path);
        if (st.st_uid != geteuid())
                return berr_set(e, -EPERM, "the site key %s belongs to uid %u, not to this agent (uid %u); chown it",
                                path, (unsigned)st.st_uid, (unsigned)geteuid());
        if (st.st_mode & 077)
                return berr_set(e, -EPERM, "the site key %s can be read by group or others (mode %03o); chmod 600 it",
                                path, (unsigned)(st.st_mode & 0777));
        char buf[KEY_FILE_MAX];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0)
                return berr_set(e, -errno, "cannot read the site key %s: %s", path, strerror(errno));
        int r = peer_key_parse(buf, (size_t)n, key, e);
        sodium_memzero(buf, sizeof buf);
        return r < 0 ? berr_prefix(e, r, "site key %s", path) : 0;
}

static bool has_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static void mac_compute(const struct peer_key *key, const char *method, const char *path, const char *range,
                        const char *t, const char *nonce_hex, uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
        crypto_auth_hmacsha256_state st;
        const char *parts[] = {method, "\n", path, "\n", range, "\n", t, "\n", nonce_hex};
        crypto_auth_hmacsha256_init(&st, key->k, sizeof key->k);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)MAC_CONTEXT, strlen(MAC_CONTEXT));
        for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
                crypto_auth_hmacsha256_update(&st, (const uint8_t *)parts[i], strlen(parts[i]));
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_memzero(&st, sizeof st);
}

int peer_auth_sign(const struct peer_key *key, const char *method, const char *path, const char *range,
                   uint64_t now, const uint8_t nonce[PEER_NONCE_LEN], char out[PEER_AUTH_MAX])
{
        if (!range)
                range = "";
        if (has_control(method) || has_control(path) || has_control(range))
                return -EINVAL;
        char t[24], n[2 * PEER_NONCE_LEN + 1], m[2 * crypto_auth_hmacsha256_BYTES + 1];
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        snprintf(t, sizeof t, "%" PRIu64, now);
        hex_encode(nonce, PEER_NONCE_LEN, n);
        mac_compute(key, method, path, range, t, n, mac);
        hex_encode(mac, sizeof mac, m);
        snprintf(out, PEER_AUTH_MAX, AUTH_SCHEME "%s, n=%s, mac=%s", t, n, m);
        return 0;
}

/* ---- the replay window ----------------------------------------------------------------- */

struct replay_slot {
        uint8_t nonce[PEER_NONCE_LEN];
        uint64_t t;             /* the request's time */
        bool used;
};

struct peer_replay {
        size_t mask;
        struct replay_slot *v;
};

int peer_replay_new(size_t capacity, struct peer_replay **ret)
{
        size_t n = 16;
        while (n < capacity && n < ((size_t)1 << 24))
                n <<= 1;
        struct peer_replay *rp = calloc(1, sizeof *rp);
        if (!rp || !(rp->v = calloc(n, sizeof *rp->v))) {
                free(rp);
                return -ENOMEM;
        }
        rp->mask = n - 1;
        *ret = rp;
        return 0;
}

void peer_replay_free(struct peer_replay *rp)
{
        if (!rp)
                return;
        free(rp->v);
        free(rp);
}

/* A slot whose request is older than the window can be taken again: a request that old
 * is refused by its time anyway. Lookups probe past such slots (a live entry may lie
 * beyond one) and stop at a slot never used. */
static int replay_add(struct peer_replay *rp, const uint8_t nonce[PEER_NONCE_LEN], uint64_t t, uint64_t now)
{
        uint64_t h;
        memcpy(&h, nonce, sizeof h); /* the nonce is random: its bytes are the hash */
        struct replay_slot *free_slot = NULL;
        for (size_t i = 0; i <= rp->mask; i++) {
                struct replay_slot *s = &rp->v[(h + i) & rp->mask];
                if (!s->used) {
                        if (!free_slot)
                                free_slot = s;
                        break;
                }
                bool expired = s->t + PEER_AUTH_WINDOW_S < now;
                if (!expired && !memcmp(s->nonce, nonce, PEER_NONCE_LEN))
                        return -EALREADY;
                if (expired && !free_slot)
                        free_slot = s;
        }
        if (!free_slot)
                return -EBUSY;
        memcpy(free_slot->nonce, nonce, PEER_NONCE_LEN);
        free_slot->t = t;
        free_slot->used = true;
        return 0;
}

int peer_replay_check(struct peer_replay *rp, const uint8_t nonce[PEER_NONCE_LEN], uint64_t t, uint64_t now)
{
        if (t + PEER_AUTH_WINDOW_S < now || t > now + PEER_AUTH_WINDOW_S)
                return -ETIME;
        return replay_add(rp, nonce, t, now);
}

/* Parses the digits of t up to the next ','; false on anything else or overflow. */
static bool parse_time(const char **p, uint64_t *out)
{
        const char *s = *p;
        uint64_t v = 0;
        size_t k = 0;
        for (; s[k] >= '0' && s[k] <= '9'; k++) {
                if (k == 19 || (k == 0 && s[k] == '0' && s[k + 1] != ','))
                        return false;
                v = v * 10 + (uint64_t)(s[k] - '0');
        }
        if (k == 0)
                return false;
        *out = v;
        *p = s + k;
        return true;
}

static bool eat(const char **p, const char *lit)
{
        size_t l = strlen(lit);
        if (strncmp(*p, lit, l))
                return false;
        *p += l;
        return true;
}

int peer_auth_verify(const struct peer_key *key, struct peer_replay *rp, const char *header, const char *method,
                     const char *path, const char *range, uint64_t now, berr *e)
{
        if (!range)
                range = "";
        if (!header)
                return berr_set(e, -EACCES, "the request carries no Authorization header");
        const char *p = header, *t_start;
        uint64_t t;
        uint8_t nonce[PEER_NONCE_LEN], mac[crypto_auth_hmacsha256_BYTES];
        bool ok = eat(&p, AUTH_SCHEME) && (t_start = p, parse_time(&p, &t)) && eat(&p, ", n=") &&
                  hex_decode(p, nonce, PEER_NONCE_LEN);
        const char *n_start = p;
        ok = ok && (p += 2 * PEER_NONCE_LEN, eat(&p, ", mac=")) && hex_decode(p, mac, sizeof mac) &&
             p[2 * sizeof mac] == 0;
        if (!ok)
                return berr_set(e, -EACCES, "the Authorization header is not a Berth-Peer v=1 one");
        if (has_control(method) || has_control(path) || has_control(range))
                return berr_set(e, -EACCES, "the request line or Range holds a control character");

        char tbuf[24], nbuf[2 * PEER_NONCE_LEN + 1];
        size_t tl = (size_t)(n_start - 4 - t_start);
        memcpy(tbuf, t_start, tl);
        tbuf[tl] = 0;
        memcpy(nbuf, n_start, 2 * PEER_NONCE_LEN);
        nbuf[2 * PEER_NONCE_LEN] = 0;
        uint8_t want[crypto_auth_hmacsha256_BYTES];
        mac_compute(key, method, path, range, tbuf, nbuf, want);
        if (sodium_memcmp(want, mac, sizeof mac) != 0)
                return berr_set(e, -EACCES, "the request's MAC does not match: the peer has another site key, or the "
                                            "header belongs to another request");
        if (t + PEER_AUTH_WINDOW_S < now || t > now + PEER_AUTH_WINDOW_S)
                return berr_set(e, -ETIME, "the request's time is %" PRId64 " s from this gateway's clock (the window "
                                           "is %d s): set both clocks, or it is a replay",
                                (int64_t)(t - now), PEER_AUTH_WINDOW_S);
        int r = replay_add(rp, nonce, t, now);
        if (r == -EALREADY)
                return berr_set(e, r, "the request's nonce was used already: a replayed request");
        if (r == -EBUSY)
                return berr_set(e, r, "more than %zu peer requests within %d s; refusing until older ones expire",
                                rp->mask + 1, PEER_AUTH_WINDOW_S);
        return r;
}
