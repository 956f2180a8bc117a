/* SPDX-License-Identifier: Apache-2.0 */
/* discover.c — the peer discovery datagrams (see discover.h). */
#include "peers/discover.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define MAGIC "BPD1"
#define MAC_CONTEXT "berth-peer-discover v1"
#define FIXED (4 + 1 + 2 + 8 + PEER_NONCE_LEN + 1)

static void mac_of(const struct peer_key *key, const uint8_t *buf, size_t len, uint8_t out[crypto_auth_hmacsha256_BYTES])
{
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key->k, sizeof key->k);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)MAC_CONTEXT, strlen(MAC_CONTEXT));
        crypto_auth_hmacsha256_update(&st, buf, len);
        crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof st);
}

static bool id_ok(const char *id, size_t len)
{
        if (len == 0 || len > PEER_DISCOVER_ID_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (id[i] <= ' ' || id[i] > '~')
                        return false;
        return true;
}

int peer_discover_encode(const struct peer_key *key, const struct peer_discover_msg *m, uint8_t *buf)
{
        size_t idl = strlen(m->id);
        if (!id_ok(m->id, idl) || (m->kind != PEER_HELLO && m->kind != PEER_WHO))
                return -EINVAL;
        uint8_t *p = buf;
        memcpy(p, MAGIC, 4);
        p += 4;
        *p++ = (uint8_t)m->kind;
        *p++ = (uint8_t)(m->port >> 8);
        *p++ = (uint8_t)m->port;
        for (int i = 7; i >= 0; i--)
                *p++ = (uint8_t)(m->time >> (8 * i));
        memcpy(p, m->nonce, PEER_NONCE_LEN);
        p += PEER_NONCE_LEN;
        *p++ = (uint8_t)idl;
        memcpy(p, m->id, idl);
        p += idl;
        mac_of(key, buf, (size_t)(p - buf), p);
        p += crypto_auth_hmacsha256_BYTES;
        return (int)(p - buf);
}

int peer_discover_decode(const struct peer_key *key, const uint8_t *buf, size_t len, uint64_t now,
                         struct peer_discover_msg *m)
{
        if (len < FIXED + crypto_auth_hmacsha256_BYTES || memcmp(buf, MAGIC, 4))
                return -EBADMSG;
        size_t idl = buf[FIXED - 1];
        if (len != FIXED + idl + crypto_auth_hmacsha256_BYTES || !id_ok((const char *)buf + FIXED, idl))
                return -EBADMSG;
        uint8_t want[crypto_auth_hmacsha256_BYTES];
        mac_of(key, buf, FIXED + idl, want);
        if (sodium_memcmp(want, buf + FIXED + idl, sizeof want) != 0)
                return -EACCES;
        memset(m, 0, sizeof *m);
        m->kind = (enum peer_discover_kind)buf[4];
        if (m->kind != PEER_HELLO && m->kind != PEER_WHO)
                return -EBADMSG;
        m->port = (uint16_t)(buf[5] << 8 | buf[6]);
        for (int i = 0; i < 8; i++)
                m->time = m->time << 8 | buf[7 + i];
        memcpy(m->nonce, buf + 15, PEER_NONCE_LEN);
        memcpy(m->id, buf + FIXED, idl);
        m->id[idl] = 0;
        if (m->time + PEER_AUTH_WINDOW_S < now || m->time > now + PEER_AUTH_WINDOW_S)
                return -ETIME;
        if (m->kind == PEER_HELLO && m->port == 0)
                return -EBADMSG;
        return 0;
}
