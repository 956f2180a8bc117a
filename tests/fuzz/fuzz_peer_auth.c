/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_peer_auth.c — libFuzzer target for peer request authentication (peers/auth.h) and
 * the discovery datagrams (peers/discover.h): the whole input, read as a datagram, is
 * never taken (it cannot carry the fixed key's MAC).
 * The input is a header, a path and a range separated by NUL bytes. The header is
 * verified as it is (never accepted: it cannot carry the MAC of the fixed key); then the
 * path and range are signed and verified (accepted unless they hold a control character,
 * once only), and refused for another path. The path is also parsed as a head path
 * (peers/serve.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "peers/auth.h"
#include "peers/discover.h"
#include "peers/serve.h"
#include "bundle/format.h"
#include "bundle/manifest.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1765000000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf = malloc(size + 3);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = buf[size + 1] = buf[size + 2] = 0;
        const char *header = buf;
        const char *path = header + strlen(header) + 1;
        if (path > buf + size)
                path = buf + size + 1;
        const char *range = path + strlen(path) + 1;
        if (range > buf + size + 1)
                range = buf + size + 2;

        struct peer_key key = {{1, 2, 3}};
        struct peer_replay *rp = NULL;
        if (peer_replay_new(16, &rp) < 0) {
                free(buf);
                return 0;
        }
        berr e = {0};
        FUZZ_CHECK(peer_auth_verify(&key, rp, header, "GET", path, range, NOW, &e) < 0);
        struct peer_discover_msg m;
        FUZZ_CHECK(peer_discover_decode(&key, data, size, NOW, &m) < 0);
        /* The head path a peer asks for: a valid bundle name and version, or refused. */
        char name[BUNDLE_MAX_NAME_LEN + 1];
        int64_t version = -1;
        if (peer_parse_head_path(path, name, &version) == 0)
                FUZZ_CHECK(bundle_name_valid(name) && version >= 0 && !strchr(name, '/'));

        uint8_t nonce[PEER_NONCE_LEN] = {9};
        char h[PEER_AUTH_MAX];
        if (peer_auth_sign(&key, "GET", path, range, NOW, nonce, h) == 0) {
                e = (berr){0};
                FUZZ_CHECK(peer_auth_verify(&key, rp, h, "GET", path, range, NOW, &e) == 0);
                e = (berr){0};
                FUZZ_CHECK(peer_auth_verify(&key, rp, h, "GET", path, range, NOW, &e) == -EALREADY);
                e = (berr){0};
                FUZZ_CHECK(peer_auth_verify(&key, rp, h, "GET", "/other", range, NOW, &e) == -EACCES ||
                           !strcmp(path, "/other"));
        }
        peer_replay_free(rp);
        free(buf);
        return 0;
}
