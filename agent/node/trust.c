/* SPDX-License-Identifier: Apache-2.0 */
/* trust.c — the node's trust root and the installed versions it no longer vouches for
 * (see trust.h). */
#include "node/trust.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "bundle/rootstore.h"
#include "bundle/signature.h"

struct ctx {
        struct berth_db *db;
        const struct trust *t;
        json_t *untrusted;
};

/* Re-checks one installed version's stored signatures under the current root. */
static int check_bundle(void *ud, const struct db_bundle *b)
{
        struct ctx *c = ud;
        _cleanup_free_ char *m = NULL, *s = NULL;
        size_t ml, sl;
        if (db_get_manifest(c->db, b->name, b->version, &m, &ml) < 0 ||
            db_get_signatures(c->db, b->name, b->version, &s, &sl) < 0)
                return 0;
        struct bundle_signatures *sigs = NULL;
        berr e = {0};
        unsigned valid = 0;
        if (signatures_parse(s, sl, &sigs, &e) >= 0)
                (void)signatures_verify(sigs, c->t, m, ml, &valid, &e);
        signatures_free(sigs);
        if (valid < c->t->threshold)
                json_array_append_new(c->untrusted, json_pack("{s:s,s:I,s:i,s:i}", "name", b->name, "version",
                                                              (json_int_t)b->version, "validSignatures", (int)valid,
                                                              "threshold", (int)c->t->threshold));
        return 0;
}

json_t *node_trust_json(struct berth_db *db, const char *trust_dir, const char *state_dir, int64_t now)
{
        _cleanup_(root_store_freep) struct root_store *s = NULL;
        berr e = {0};
        int r = root_store_open_state(trust_dir, state_dir, ROOT_STORE_READONLY, &s, &e);
        if (r < 0)
                return json_pack("{s:s}", "error", berr_msg(&e, r));
        json_t *o = json_pack("{s:o*}", "root", root_summary_json(root_store_current(s), now));
        if (!o || !db)
                return o;
        struct ctx c = {.db = db, .t = root_store_trust(s), .untrusted = json_array()};
        if (c.untrusted && db_list_bundles(db, check_bundle, &c) >= 0)
                json_object_set(o, "untrusted", c.untrusted);
        json_decref(c.untrusted);
        return o;
}

static void print_keys(const json_t *roles, const char *role)
{
        json_t *r = json_object_get(roles, role), *k;
        size_t i;
        json_array_foreach(json_object_get(r, "keys"), i, k)
                printf("         %-7s %s  %s\n", role, json_string_value(json_object_get(k, "keyid")),
                       json_string_value(json_object_get(k, "name")));
}

void node_trust_print(const json_t *trust)
{
        const char *err = json_string_value(json_object_get(trust, "error"));
        if (err) {
                printf("trust:   cannot read the trust root: %s\n", err);
                return;
        }
        json_t *root = json_object_get(trust, "root"), *roles = json_object_get(root, "roles");
        const char *ex = json_string_value(json_object_get(root, "expires"));
        printf("trust:   root version %lld, expires %s%s; release keys: %lld of %zu needed, root keys: %lld of %zu\n",
               (long long)json_integer_value(json_object_get(root, "version")), ex ? ex : "never",
               json_is_true(json_object_get(root, "expired")) ? " (EXPIRED: every bundle is refused until a newer root "
                                                                "arrives)"
                                                              : "",
               (long long)json_integer_value(json_object_get(json_object_get(roles, "release"), "threshold")),
               json_array_size(json_object_get(json_object_get(roles, "release"), "keys")),
               (long long)json_integer_value(json_object_get(json_object_get(roles, "root"), "threshold")),
               json_array_size(json_object_get(json_object_get(roles, "root"), "keys")));
        print_keys(roles, "release");
        print_keys(roles, "root");
        json_t *u;
        size_t i;
        json_array_foreach(json_object_get(trust, "untrusted"), i, u)
                printf("         %s version %lld: signed by keys this root does not trust (revoked?): %lld of %lld "
                       "signature(s); it stays installed and keeps running; publish it again signed by a current "
                       "release key\n",
                       json_string_value(json_object_get(u, "name")),
                       (long long)json_integer_value(json_object_get(u, "version")),
                       (long long)json_integer_value(json_object_get(u, "validSignatures")),
                       (long long)json_integer_value(json_object_get(u, "threshold")));
}
