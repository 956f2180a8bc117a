/* SPDX-License-Identifier: Apache-2.0 */
/* trust_edit.c — berth trust init | rotate | sign: make and co-sign trust roots offline
 * (root keys never need to touch a gateway). The rules live in bundle/root.c; this file
 * only turns options into a root_spec and writes files. Never touches a node's state.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "bundle/root.h"
#include "bundle/rootchain.h"
#include "bundle/rootstore.h"
#include "cli/cli.h"
#include "cli/trust_edit.h"

#define DEFAULT_ROOT_LIFETIME "365d"

int trust_fail(int r, const berr *e)
{
        log_error_errno(r, "%s", berr_msg(e, r));
        return 1;
}

/* A public key from a .pub file, or the public half of a .key file. */
static int load_pub(const char *path, struct berth_key *ret)
{
        berr e = {0};
        size_t l = strlen(path);
        int r = l > 4 && !strcmp(path + l - 4, ".key") ? key_load_secret(path, ret, &e) : key_load_public(path, ret,
                                                                                                          &e);
        if (r < 0)
                return trust_fail(r, &e), r;
        key_wipe(ret);
        ret->has_secret = false;
        return 0;
}

static int parse_uint(const char *s, unsigned *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || end == s || v < 1 || v > ROOT_MAX_KEYS)
                return log_error("'%s' is not a threshold (1..%u)", s, ROOT_MAX_KEYS), -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_expires(const char *s, int64_t *ret)
{
        int64_t d;
        if (time_parse_rfc3339(s, ret) == 0)
                return 0;
        if (duration_parse(s[0] == '+' ? s + 1 : s, &d) == 0 && d > 0) {
                *ret = now_seconds() + d;
                return 0;
        }
        return log_error("--expires takes an RFC 3339 UTC time or a duration like 365d, not '%s'", s), -EINVAL;
}

/* Signs r with each secret key file in paths. */
static int sign_with(struct trust_root *r, char **paths, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct berth_key k;
                berr e = {0};
                int q = key_load_secret(paths[i], &k, &e);
                if (q >= 0)
                        q = root_sign(r, &k, &e);
                key_wipe(&k);
                if (q < 0)
                        return trust_fail(q, &e), q;
        }
        return 0;
}

/* Writes r to path (crash-safe); refuses to replace a file unless replace is set. */
static int write_root(const struct trust_root *r, const char *path, bool replace)
{
        if (!replace && access(path, F_OK) == 0)
                return log_error("%s already exists; refusing to overwrite a trust root", path), -EEXIST;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int q = root_serialize(r, &text, &len);
        if (q >= 0)
                q = write_file_atomic(path, text, len, 0644);
        if (q < 0)
                return log_error_errno(q, "cannot write %s: %m", path);
        return 0;
}

/* "version N, root keys 2 of 3 signed, release keys …" after a change. */
static void print_root_line(const char *verb, const struct trust_root *r, const char *path)
{
        char ex[32];
        time_format_rfc3339(r->expires, ex);
        printf("%s %s: trust root version %lld, %zu root key(s) (threshold %u), %zu release key(s) (threshold %u), "
               "expires %s, %zu signature(s)\n",
               verb, path, (long long)r->version, r->roles[ROOT_ROLE_ROOT].n, r->roles[ROOT_ROLE_ROOT].threshold,
               r->roles[ROOT_ROLE_RELEASE].n, r->roles[ROOT_ROLE_RELEASE].threshold, ex, r->sigs->n);
}

/* Options shared by init and rotate. */
struct edit {
        char *add[ROOT_ROLES][TRUST_CLI_MAX_ARGS], *remove[ROOT_ROLES][TRUST_CLI_MAX_ARGS], *sign[TRUST_CLI_MAX_ARGS];
        size_t n_add[ROOT_ROLES], n_remove[ROOT_ROLES], n_sign;
        unsigned threshold[ROOT_ROLES]; /* 0: keep / default */
        const char *expires, *out, *from;
};

static int push(char **v, size_t *n, char *s)
{
        if (*n == TRUST_CLI_MAX_ARGS)
                return log_error("too many keys"), -E2BIG;
        v[(*n)++] = s;
        return 0;
}

enum { O_ADD_ROOT = 256, O_ADD_REL, O_RM_ROOT, O_RM_REL, O_TH_ROOT, O_TH_REL, O_EXPIRES, O_FROM_DIR };

static const struct option edit_opts[] = {
        {"root-key", required_argument, NULL, O_ADD_ROOT},
        {"add-root-key", required_argument, NULL, O_ADD_ROOT},
        {"release-key", required_argument, NULL, O_ADD_REL},
        {"add-release-key", required_argument, NULL, O_ADD_REL},
        {"remove-root-key", required_argument, NULL, O_RM_ROOT},
        {"remove-release-key", required_argument, NULL, O_RM_REL},
        {"root-threshold", required_argument, NULL, O_TH_ROOT},
        {"release-threshold", required_argument, NULL, O_TH_REL},
        {"expires", required_argument, NULL, O_EXPIRES},
        {"from-dir", required_argument, NULL, O_FROM_DIR},
        {"from", required_argument, NULL, 'f'},
        {"key", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
};

/* 0 parsed, 1 help shown, <0 usage error. */
static int parse_edit(int argc, char **argv, struct edit *ed, void (*help)(void))
{
        int c, q = 0;
        while (q >= 0 && (c = getopt_long(argc, argv, "f:k:o:h", edit_opts, NULL)) >= 0) {
                switch (c) {
                case O_ADD_ROOT: q = push(ed->add[ROOT_ROLE_ROOT], &ed->n_add[ROOT_ROLE_ROOT], optarg); break;
                case O_ADD_REL: q = push(ed->add[ROOT_ROLE_RELEASE], &ed->n_add[ROOT_ROLE_RELEASE], optarg); break;
                case O_RM_ROOT: q = push(ed->remove[ROOT_ROLE_ROOT], &ed->n_remove[ROOT_ROLE_ROOT], optarg); break;
                case O_RM_REL: q = push(ed->remove[ROOT_ROLE_RELEASE], &ed->n_remove[ROOT_ROLE_RELEASE], optarg); break;
                case O_TH_ROOT: q = parse_uint(optarg, &ed->threshold[ROOT_ROLE_ROOT]); break;
                case O_TH_REL: q = parse_uint(optarg, &ed->threshold[ROOT_ROLE_RELEASE]); break;
                case O_EXPIRES: ed->expires = optarg; break;
                case O_FROM_DIR:
                case 'f': ed->from = optarg; break;
                case 'k': q = push(ed->sign, &ed->n_sign, optarg); break;
                case 'o': ed->out = optarg; break;
                case 'h': help(); return 1;
                default: return -EINVAL;
                }
        }
        if (q >= 0 && optind != argc)
                q = (log_error("unexpected argument '%s'", argv[optind]), -EINVAL);
        return q;
}

/* Builds, signs and writes the root described by the keys per role in spec. */
static int finish_edit(struct root_spec *spec, const struct edit *ed, const char *verb)
{
        if (parse_expires(ed->expires ? ed->expires : DEFAULT_ROOT_LIFETIME, &spec->expires) < 0)
                return EXIT_USAGE;
        berr e = {0};
        _cleanup_(root_freep) struct trust_root *r = NULL;
        int q = root_build(spec, &r, &e);
        if (q < 0)
                return trust_fail(q, &e);
        if (sign_with(r, (char **)ed->sign, ed->n_sign) < 0 || write_root(r, ed->out, false) < 0)
                return 1;
        print_root_line(verb, r, ed->out);
        if (r->sigs->n == 0)
                printf("next: the root key holders sign it ('berth trust sign -k KEY %s')\n", ed->out);
        return 0;
}

static void help_init(void)
{
        printf("Usage: berth trust init -o ROOT.json --root-key PUB [--root-key PUB...] --release-key PUB [...]\n"
               "         [--root-threshold N] [--release-threshold N] [--expires TIME|365d] [-k KEY...]\n"
               "       berth trust init -o ROOT.json --from-dir TRUSTDIR [--expires ...] [-k KEY...]\n\n"
               "Writes trust root version 1. Keys are .pub files from 'berth keygen' (a .key file gives its\n"
               "public half); a key may hold both roles. Thresholds default to 1. --from-dir writes out\n"
               "what a trust directory (*.pub + threshold) already means: its keys hold both roles with\n"
               "its threshold. -k signs the new root right away (with the root keys' secret files).\n"
               "Install it as DIR/root.json in the trust directory of nodes and servers.\n");
}

static int load_keys(char **paths, size_t n, struct berth_key *out)
{
        for (size_t i = 0; i < n; i++)
                if (load_pub(paths[i], &out[i]) < 0)
                        return -EINVAL;
        return 0;
}

int trust_cmd_init(int argc, char **argv)
{
        struct edit ed = {0};
        int q = parse_edit(argc, argv, &ed, help_init);
        if (q != 0)
                return q > 0 ? 0 : EXIT_USAGE;
        bool from_dir = ed.from != NULL;
        if (!ed.out || ed.n_remove[0] || ed.n_remove[1] ||
            (from_dir ? ed.n_add[0] + ed.n_add[1] > 0 : !ed.n_add[0] || !ed.n_add[1])) {
                log_error("trust init needs -o and either --from-dir DIR or --root-key and --release-key; see "
                          "'berth trust init --help'");
                return EXIT_USAGE;
        }
        struct root_spec spec = {.version = 1};
        static struct berth_key keys[ROOT_ROLES][TRUST_CLI_MAX_ARGS];
        _cleanup_(trust_freep) struct trust *t = NULL;
        if (from_dir) {
                berr e = {0};
                q = trust_load(ed.from, &t, &e);
                if (q < 0)
                        return trust_fail(q, &e);
                for (enum root_role role = 0; role < ROOT_ROLES; role++) {
                        for (size_t i = 0; i < t->n_keys; i++)
                                spec.keys[role][i] = &t->keys[i];
                        spec.n[role] = t->n_keys;
                        spec.threshold[role] = t->threshold;
                }
        } else
                for (enum root_role role = 0; role < ROOT_ROLES; role++) {
                        if (load_keys(ed.add[role], ed.n_add[role], keys[role]) < 0)
                                return 1;
                        for (size_t i = 0; i < ed.n_add[role]; i++)
                                spec.keys[role][i] = &keys[role][i];
                        spec.n[role] = ed.n_add[role];
                        spec.threshold[role] = ed.threshold[role] ? ed.threshold[role] : 1;
                }
        return finish_edit(&spec, &ed, "wrote");
}

static void help_rotate(void)
{
        printf("Usage: berth trust rotate --from ROOT.json|TRUSTDIR -o NEXT.json\n"
               "         [--add-root-key PUB] [--remove-root-key NAME|KEYID|PUB] [--root-threshold N]\n"
               "         [--add-release-key PUB] [--remove-release-key NAME|KEYID|PUB] [--release-threshold N]\n"
               "         [--expires TIME|365d] [-k KEY...]\n\n"
               "Writes the next version of a trust root: the same keys and thresholds except for the\n"
               "changes given. Revoking a release key = --remove-release-key. Nodes accept NEXT.json\n"
               "only when it is signed by a threshold of the current root keys AND of its own root\n"
               "keys: collect both with 'berth trust sign' (or -k here), check with 'berth trust verify'.\n"
               "--from a trust directory (*.pub + threshold) starts from its implicit version 1.\n");
}

/* Whether key k matches a --remove argument: its name, its id, or a key file of it. */
static bool key_matches(const struct berth_key *k, const char *arg)
{
        if (!strcmp(k->name, arg) || !strcmp(k->id, arg))
                return true;
        struct berth_key f;
        berr e = {0};
        size_t l = strlen(arg);
        if (l > 4 && (!strcmp(arg + l - 4, ".pub") ? key_load_public(arg, &f, &e) : -1) == 0)
                return !strcmp(f.id, k->id);
        return false;
}

int trust_cmd_rotate(int argc, char **argv)
{
        struct edit ed = {0};
        int q = parse_edit(argc, argv, &ed, help_rotate);
        if (q != 0)
                return q > 0 ? 0 : EXIT_USAGE;
        if (!ed.out || !ed.from) {
                log_error("trust rotate needs --from and -o; see 'berth trust rotate --help'");
                return EXIT_USAGE;
        }
        berr e = {0};
        _cleanup_(root_freep) struct trust_root *prev = NULL;
        _cleanup_(trust_freep) struct trust *t = NULL;
        struct stat st;
        if (stat(ed.from, &st) == 0 && S_ISDIR(st.st_mode))
                q = trust_load(ed.from, &t, &e);
        else
                q = root_load_file(ed.from, &prev, &e);
        if (q >= 0 && t)
                q = root_from_trust(t, &prev, &e);
        if (q < 0)
                return trust_fail(q, &e);
        struct root_spec spec = {.version = prev->version + 1};
        static struct berth_key added[ROOT_ROLES][TRUST_CLI_MAX_ARGS];
        for (enum root_role role = 0; role < ROOT_ROLES; role++) {
                const struct root_role_keys *rk = &prev->roles[role];
                for (size_t r = 0; r < ed.n_remove[role]; r++) {
                        bool hit = false;
                        for (size_t i = 0; i < rk->n && !hit; i++)
                                hit = key_matches(&prev->keys[rk->idx[i]], ed.remove[role][r]);
                        if (!hit) {
                                log_error("--remove-%s-key %s: no such %s key in version %lld", root_role_name(role),
                                          ed.remove[role][r], root_role_name(role), (long long)prev->version);
                                return EXIT_USAGE;
                        }
                }
                for (size_t i = 0; i < rk->n; i++) {
                        const struct berth_key *k = &prev->keys[rk->idx[i]];
                        bool gone = false;
                        for (size_t r = 0; r < ed.n_remove[role] && !gone; r++)
                                gone = key_matches(k, ed.remove[role][r]);
                        if (!gone)
                                spec.keys[role][spec.n[role]++] = k;
                }
                if (load_keys(ed.add[role], ed.n_add[role], added[role]) < 0)
                        return 1;
                for (size_t i = 0; i < ed.n_add[role]; i++) {
                        if (spec.n[role] == ROOT_MAX_KEYS)
                                return log_error("too many %s keys", root_role_name(role)), EXIT_USAGE;
                        spec.keys[role][spec.n[role]++] = &added[role][i];
                }
                spec.threshold[role] = ed.threshold[role] ? ed.threshold[role] : rk->threshold;
                if (spec.threshold[role] > spec.n[role]) {
                        log_error("the %s role would keep %zu key(s) with threshold %u; give --%s-threshold",
                                  root_role_name(role), spec.n[role], spec.threshold[role], root_role_name(role));
                        return EXIT_USAGE;
                }
        }
        return finish_edit(&spec, &ed, "wrote");
}

int trust_cmd_sign(int argc, char **argv)
{
        static const struct option opts[] = {
                {"key", required_argument, NULL, 'k'}, {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'}, {0},
        };
        char *keys[TRUST_CLI_MAX_ARGS];
        size_t n = 0;
        const char *out = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'k':
                        if (push(keys, &n, optarg) < 0)
                                return EXIT_USAGE;
                        break;
                case 'o': out = optarg; break;
                case 'h':
                        printf("Usage: berth trust sign -k KEY [-k KEY...] ROOT.json [-o OUT.json]\n\n"
                               "Adds each KEY's signature to a trust root (in place unless -o). A root counts\n"
                               "signatures by its own root keys and, on a node, by the previous version's root\n"
                               "keys; other signatures are carried but count for nothing.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (!n || optind != argc - 1) {
                log_error("trust sign needs -k KEY and one root file; see 'berth trust sign --help'");
                return EXIT_USAGE;
        }
        const char *in = argv[optind];
        berr e = {0};
        _cleanup_(root_freep) struct trust_root *r = NULL;
        int q = root_load_file(in, &r, &e);
        if (q < 0)
                return trust_fail(q, &e);
        for (size_t i = 0; i < n; i++) {
                struct berth_key k;
                q = key_load_secret(keys[i], &k, &e);
                if (q >= 0)
                        q = root_sign(r, &k, &e);
                if (q >= 0)
                        printf("signed trust root version %lld with key '%s' (%s)%s\n", (long long)r->version, k.name,
                               k.id, root_has_key(r, ROOT_ROLE_ROOT, k.id)
                                             ? ", one of its root keys"
                                             : ": not one of its root keys, so it counts only as a previous root key");
                key_wipe(&k);
                if (q < 0)
                        return trust_fail(q, &e);
        }
        if (write_root(r, out ? out : in, true) < 0)
                return 1;
        unsigned own = 0;
        berr e2 = {0};
        if (root_count(r, ROOT_ROLE_ROOT, r, &own, &e2) >= 0)
                printf("%s: %u of %u own root key signature(s)\n", out ? out : in, own,
                       r->roles[ROOT_ROLE_ROOT].threshold);
        return 0;
}
