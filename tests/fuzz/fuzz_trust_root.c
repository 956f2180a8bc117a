/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_trust_root.c — libFuzzer target for trust root documents.
 *
 * The first byte picks what the rest is: 0 a root file (envelope), 1 a payload (wrapped
 * in an unsigned envelope here, so mutations reach the payload's JSON rather than its
 * base64), 2 a roots.json chain, 3 berth-server's trustRoots answer. Whatever parses
 * must serialise and parse again to the same root(s), and summary and verification
 * must cope with it.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/root.h"
#include "bundle/rootchain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks that run in every build (the calls inside must never be compiled out). */
#define CHECK(x)                                                                                   \
        do {                                                                                       \
                if (!(x))                                                                          \
                        abort();                                                                   \
        } while (0)

static void check_root(const struct trust_root *r)
{
        char *out = NULL;
        size_t len = 0;
        CHECK(root_serialize(r, &out, &len) == 0);
        struct trust_root *again = NULL;
        berr e = {0};
        CHECK(root_parse(out, len, "again", &again, &e) == 0);
        CHECK(again->version == r->version && again->expires == r->expires && again->n_keys == r->n_keys);
        CHECK(!strcmp(again->digest, r->digest));
        CHECK(again->payload_len == r->payload_len && !memcmp(again->payload, r->payload, r->payload_len));
        json_t *j = root_summary_json(r, 0);
        CHECK(j);
        json_decref(j);
        berr e2 = {0};
        (void)root_verify_self(r, &e2);
        (void)root_verify_next(r, again, &e2);
        struct trust *t = NULL;
        CHECK(root_release_trust(r, &t) == 0);
        CHECK(t->n_keys == r->roles[ROOT_ROLE_RELEASE].n && t->threshold >= 1 && t->threshold <= t->n_keys);
        trust_free(t);
        root_free(again);
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t mode = data[0] % 4;
        data++;
        size--;
        berr e = {0};
        if (mode == 3) {
                int64_t v = 0;
                struct root_chain *c = NULL;
                if (root_chain_parse_answer(data, size, &v, &c, &e) < 0) {
                        CHECK(e.msg[0] != 0 && !c);
                        return 0;
                }
                CHECK(v >= 1);
                for (size_t i = 0; c && i < c->n; i++) {
                        CHECK(c->v[i]->version <= v);
                        check_root(c->v[i]);
                }
                root_chain_free(c);
                return 0;
        }
        if (mode == 2) {
                struct root_chain *c = NULL;
                if (root_chain_parse(data, size, "fuzz", &c, &e) < 0) {
                        CHECK(e.msg[0] != 0);
                        return 0;
                }
                char *out = NULL;
                size_t len = 0;
                if (root_chain_serialize(c, &out, &len) == 0) {
                        struct root_chain *c2 = NULL;
                        berr e2 = {0};
                        CHECK(root_chain_parse(out, len, "again", &c2, &e2) == 0);
                        CHECK(c2->n == c->n);
                        root_chain_free(c2);
                        free(out);
                }
                for (size_t i = 0; i < c->n; i++)
                        check_root(c->v[i]);
                berr e3 = {0};
                (void)root_chain_check(c, &e3);
                root_chain_free(c);
                return 0;
        }
        char *env = NULL;
        size_t env_len = size;
        if (mode == 1) {
                if (size > ROOT_MAX_SIZE)
                        return 0;
                size_t bl = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL);
                char *b64 = malloc(bl);
                CHECK(b64);
                sodium_bin2base64(b64, bl, data, size, sodium_base64_VARIANT_ORIGINAL);
                env_len = strlen(b64) + 64;
                env = malloc(env_len);
                CHECK(env);
                env_len = (size_t)snprintf(env, env_len, "{\"signed\": \"%s\", \"signatures\": []}", b64);
                free(b64);
        }
        struct trust_root *r = NULL;
        int q = root_parse(env ? env : (const char *)data, env_len, "fuzz", &r, &e);
        free(env);
        if (q < 0) {
                CHECK(e.msg[0] != 0 && !r);
                return 0;
        }
        check_root(r);
        root_free(r);
        return 0;
}
