/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_trust.c — berth trust: dispatch, and the commands that check roots (verify, show)
 * or give them to a node by hand (install). Making roots is trust_edit.c; the rules are
 * bundle/root.c and bundle/rootstore.c.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "bundle/root.h"
#include "bundle/rootchain.h"
#include "bundle/rootstore.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/trust_edit.h"

static void help_trust(void)
{
        printf("Usage: berth trust COMMAND ...\n\n"
               "  init    -o ROOT.json (--root-key PUB... --release-key PUB... | --from-dir DIR) [...]\n"
               "  rotate  --from ROOT.json|DIR -o NEXT.json [--add-/--remove-root-/release-key ...] [...]\n"
               "  sign    -k KEY ROOT.json [-o OUT.json]\n"
               "  verify  [--trust DIR [--state-dir DIR] | --from ROOT.json|DIR] PATH...\n"
               "  show    [--json] [ROOT.json]            (default: this node's current root)\n"
               "  install [--trust DIR] [--state-dir DIR] PATH...\n\n"
               "A trust root names root keys (kept offline; they sign trust roots) and release keys\n"
               "(they sign bundles), a threshold for each, a version and an expiry. Version N+1 is\n"
               "accepted only when signed by a threshold of version N's root keys and of its own.\n"
               "See README.md, 'Rotating and revoking keys'. 'berth trust COMMAND --help' for more.\n");
}

/* The node's trust and state directories: options, else the config, else the defaults. */
struct node_dirs {
        const char *trust, *state, *config;
        struct berth_config *cfg;
};

static void node_dirs_done(struct node_dirs *d)
{
        config_free(d->cfg);
}

static int node_dirs_resolve(struct node_dirs *d)
{
        if (cli_load_config(d->config, &d->cfg) < 0)
                return -EINVAL;
        if (!d->trust)
                d->trust = config_get(d->cfg, "trust_dir", BERTH_DEFAULT_TRUST_DIR);
        if (!d->state)
                d->state = config_get(d->cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
        return 0;
}

static void print_role(const json_t *roles, const char *role, const char *what)
{
        json_t *r = json_object_get(roles, role), *k;
        json_t *keys = json_object_get(r, "keys");
        size_t i;
        printf("%s keys (%lld of %zu needed):\n", what, (long long)json_integer_value(json_object_get(r, "threshold")),
               json_array_size(keys));
        json_array_foreach(keys, i, k)
                printf("  %s  %s\n", json_string_value(json_object_get(k, "keyid")),
                       json_string_value(json_object_get(k, "name")));
}

static void print_summary(const struct trust_root *r, int64_t now)
{
        _cleanup_(json_decrefp) json_t *j = root_summary_json(r, now);
        if (!j)
                return;
        const char *ex = json_string_value(json_object_get(j, "expires"));
        printf("trust root version %lld%s%s%s\n", (long long)r->version, r->implicit ? " (a trust directory: "
                                                                                  "*.pub + threshold)" : "",
               r->digest[0] ? ", " : "", r->digest);
        printf("from:    %s\n", r->origin);
        printf("expires: %s%s\n", ex ? ex : "never",
               json_is_true(json_object_get(j, "expired")) ? " (EXPIRED: bundles are refused until a newer root)" : "");
        print_role(json_object_get(j, "roles"), "root", "root");
        print_role(json_object_get(j, "roles"), "release", "release");
        if (!r->implicit) {
                unsigned own = 0;
                berr e = {0};
                int q = root_count(r, ROOT_ROLE_ROOT, r, &own, &e);
                printf("signatures: %zu, %s\n", r->sigs->n,
                       q < 0 ? e.msg : own >= r->roles[ROOT_ROLE_ROOT].threshold ? "enough of its own root keys"
                                                                                   : "NOT enough of its own root keys");
        }
}

static int cmd_show(int argc, char **argv)
{
        static const struct option opts[] = {
                {"json", no_argument, NULL, 'j'},           {"trust", required_argument, NULL, 't'},
                {"state-dir", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},           {0},
        };
        _cleanup_(node_dirs_done) struct node_dirs d = {0};
        bool json = false;
        int c;
        while ((c = getopt_long(argc, argv, "jt:s:c:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'j': json = true; break;
                case 't': d.trust = optarg; break;
                case 's': d.state = optarg; break;
                case 'c': d.config = optarg; break;
                case 'h':
                        printf("Usage: berth trust show [--json] ROOT.json\n"
                               "       berth trust show [--json] [--trust DIR] [--state-dir DIR] [--config FILE]\n\n"
                               "Shows a trust root file, or the root this node trusts now: the trust directory's\n"
                               "(config 'trust_dir', default %s) or a newer one it accepted since\n"
                               "(STATE/trust, config 'state_dir', default %s).\n",
                               BERTH_DEFAULT_TRUST_DIR, BERTH_DEFAULT_STATE_DIR);
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind < argc - 1 || (optind == argc - 1 && (d.trust || d.state))) {
                log_error("trust show takes one root file, or the node's directories; see 'berth trust show --help'");
                return EXIT_USAGE;
        }
        berr e = {0};
        _cleanup_(root_freep) struct trust_root *file = NULL;
        _cleanup_(root_store_freep) struct root_store *store = NULL;
        int q;
        if (optind == argc - 1)
                q = root_load_file(argv[optind], &file, &e);
        else {
                if (node_dirs_resolve(&d) < 0)
                        return 1;
                q = root_store_open_state(d.trust, d.state, ROOT_STORE_READONLY, &store, &e);
        }
        if (q < 0)
                return trust_fail(q, &e);
        const struct trust_root *r = file ? file : root_store_current(store);
        if (json) {
                _cleanup_(json_decrefp) json_t *j = root_summary_json(r, now_seconds());
                char *out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
                if (!out)
                        return log_error("out of memory"), 1;
                printf("%s\n", out);
                free(out);
        } else
                print_summary(r, now_seconds());
        return 0;
}

/* The chain given as arguments (files, roots.json documents, directories). */
static int load_args(char **paths, int n, struct root_chain **ret)
{
        _cleanup_(root_chain_freep) struct root_chain *c = root_chain_new();
        if (!c)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                berr e = {0};
                int q = root_chain_load(c, paths[i], &e);
                if (q < 0)
                        return trust_fail(q, &e), q;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = {
                {"trust", required_argument, NULL, 't'}, {"state-dir", required_argument, NULL, 's'},
                {"from", required_argument, NULL, 'f'},  {"help", no_argument, NULL, 'h'},
                {0},
        };
        const char *trust = NULL, *state = NULL, *from = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "t:s:f:h", opts, NULL)) >= 0) {
                switch (c) {
                case 't': trust = optarg; break;
                case 's': state = optarg; break;
                case 'f': from = optarg; break;
                case 'h':
                        printf("Usage: berth trust verify [--trust DIR [--state-dir DIR] | --from ROOT.json|DIR] "
                               "PATH...\n\n"
                               "Checks trust roots (files, roots.json chains or directories of them) the way a\n"
                               "node will: from the trusted root (a trust directory, plus what a node accepted\n"
                               "in STATE/trust; or --from a root file), each newer root must be the next\n"
                               "version, signed by a threshold of the previous root keys and of its own.\n"
                               "Without --trust/--from the oldest given root must be signed by its own root\n"
                               "keys (a new anchor). Fails when the newest root is expired. Writes nothing.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind >= argc || (trust && from) || (state && !trust)) {
                log_error("trust verify needs root files, and at most one of --trust or --from; see "
                          "'berth trust verify --help'");
                return EXIT_USAGE;
        }
        _cleanup_(root_chain_freep) struct root_chain *chain = NULL;
        if (load_args(argv + optind, argc - optind, &chain) < 0)
                return 1;
        berr e = {0};
        _cleanup_(root_store_freep) struct root_store *store = NULL;
        _cleanup_(root_freep) struct trust_root *base = NULL;
        _cleanup_(trust_freep) struct trust *t = NULL;
        const struct trust_root *cur = NULL;
        size_t i = 0;
        int q = 0;
        struct stat st;
        if (trust) {
                q = root_store_open_state(trust, state, ROOT_STORE_READONLY, &store, &e);
                if (q >= 0)
                        cur = root_store_current(store);
        } else if (from && stat(from, &st) == 0 && S_ISDIR(st.st_mode)) {
                q = trust_load(from, &t, &e);
                if (q >= 0 && (q = root_from_trust(t, &base, &e)) >= 0)
                        cur = base;
        } else if (from) {
                q = root_load_file(from, &base, &e);
                if (q >= 0 && (q = root_verify_self(base, &e)) >= 0)
                        cur = base;
        } else {
                /* A new anchor: signed by its own root keys. */
                q = root_verify_self(chain->v[0], &e);
                if (q >= 0) {
                        cur = chain->v[i++];
                        printf("trust root version %lld (%s): valid on its own (an anchor)\n", (long long)cur->version,
                               cur->origin);
                }
        }
        if (q < 0)
                return trust_fail(q, &e);
        char d[256];
        for (; i < chain->n; i++) {
                const struct trust_root *r = chain->v[i];
                if (r->version <= cur->version) {
                        printf("trust root version %lld (%s): not newer than %s, skipped\n", (long long)r->version,
                               r->origin, root_describe(cur, d, sizeof d));
                        continue;
                }
                q = root_verify_next(cur, r, &e);
                if (q < 0)
                        return trust_fail(q, &e);
                printf("trust root version %lld (%s): valid after %s\n", (long long)r->version, r->origin,
                       root_describe(cur, d, sizeof d));
                cur = r;
        }
        int64_t now = now_seconds();
        char ex[32] = "never";
        if (cur->expires)
                time_format_rfc3339(cur->expires, ex);
        if (cur->expires && now >= cur->expires) {
                log_error("%s expired at %s: nodes refuse every bundle under it; rotate to a new version with a "
                          "later --expires", root_describe(cur, d, sizeof d), ex);
                return 1;
        }
        printf("OK: %s, expires %s\n", root_describe(cur, d, sizeof d), ex);
        return 0;
}

static int cmd_install(int argc, char **argv)
{
        static const struct option opts[] = {
                {"trust", required_argument, NULL, 't'}, {"state-dir", required_argument, NULL, 's'},
                {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
                {0},
        };
        _cleanup_(node_dirs_done) struct node_dirs d = {0};
        int c;
        while ((c = getopt_long(argc, argv, "t:s:c:h", opts, NULL)) >= 0) {
                switch (c) {
                case 't': d.trust = optarg; break;
                case 's': d.state = optarg; break;
                case 'c': d.config = optarg; break;
                case 'h':
                        printf("Usage: berth trust install [--trust DIR] [--state-dir DIR] [--config FILE] PATH...\n\n"
                               "Gives this node newer trust roots by hand (e.g. from a USB stick, to end an expired\n"
                               "root's freeze): each must follow the node's current root by the rotation rule; the\n"
                               "accepted ones are kept in STATE/trust. Older roots are skipped: a node never goes\n"
                               "back. Bundles carry roots too: importing one does the same.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                log_error("trust install needs at least one root file; see 'berth trust install --help'");
                return EXIT_USAGE;
        }
        if (node_dirs_resolve(&d) < 0)
                return 1;
        _cleanup_(root_chain_freep) struct root_chain *chain = NULL;
        if (load_args(argv + optind, argc - optind, &chain) < 0)
                return 1;
        berr e = {0};
        _cleanup_(root_store_freep) struct root_store *store = NULL;
        int q = root_store_open_state(d.trust, d.state, 0, &store, &e);
        if (q < 0)
                return trust_fail(q, &e);
        int64_t before = root_store_current(store)->version;
        q = root_store_advance(store, chain, &e);
        int64_t after = root_store_current(store)->version;
        if (after > before)
                printf("trust root: version %lld → %lld (%s/%s)\n", (long long)before, (long long)after, d.state,
                       ROOT_STORE_SUBDIR);
        if (q < 0)
                return trust_fail(q, &e);
        if (after == before)
                printf("trust root: already at version %lld; nothing newer was given\n", (long long)after);
        return 0;
}

int cmd_trust(int argc, char **argv)
{
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                help_trust();
                return argc < 2 ? EXIT_USAGE : 0;
        }
        static const struct {
                const char *name;
                int (*fn)(int, char **);
        } sub[] = {
                {"init", trust_cmd_init}, {"rotate", trust_cmd_rotate}, {"sign", trust_cmd_sign},
                {"verify", cmd_verify},   {"show", cmd_show},           {"install", cmd_install},
        };
        for (size_t i = 0; i < ELEMENTSOF(sub); i++)
                if (!strcmp(argv[1], sub[i].name))
                        return sub[i].fn(argc - 1, argv + 1);
        log_error("unknown trust command '%s'; see 'berth trust --help'", argv[1]);
        return EXIT_USAGE;
}
