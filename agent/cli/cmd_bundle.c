/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_bundle.c — berth bundle create | sign | verify | inspect. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "bundle/builder.h"
#include "bundle/format.h"
#include "bundle/platform.h"
#include "bundle/reader.h"
#include "bundle/rootstore.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "config/config.h"
#include "workload/policy.h"
#include "workload/spec.h"

#define MAX_ARGS 64
#define DEFAULT_LIFETIME (90 * 86400)

static void help_bundle(void)
{
        printf("Usage: berth bundle COMMAND ...\n\n"
               "  create -k KEY [-k KEY...] --name NAME --version N [--expires TIME] [--created TIME]\n"
               "         --image REF=ARCHIVE [--image ...] [--workloads FILE.json] [--roots PATH...] -o OUT.berth\n"
               "  sign   [-k KEY] [--roots PATH...] IN.berth -o OUT.berth\n"
               "  verify [--trust DIR] [--state-dir DIR] [--policy FILE] FILE.berth\n"
               "  inspect [--json] FILE.berth\n\n"
               "Run 'berth bundle COMMAND --help' for details.\n");
}

static int load_keys(char **paths, size_t n, struct berth_key *keys)
{
        for (size_t i = 0; i < n; i++) {
                berr e = {0};
                int r = key_load_secret(paths[i], &keys[i], &e);
                if (r < 0)
                        return log_error_errno(r, "%s", berr_msg(&e, r));
        }
        return 0;
}

/* The trust roots given with --roots (files, chains or directories), or NULL for none. */
static int load_roots(char **paths, size_t n, struct root_chain **ret)
{
        *ret = NULL;
        if (n == 0)
                return 0;
        _cleanup_(root_chain_freep) struct root_chain *c = root_chain_new();
        if (!c)
                return log_error_errno(-ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                berr e = {0};
                int r = root_chain_load(c, paths[i], &e);
                if (r < 0)
                        return log_error_errno(r, "--roots %s: %s", paths[i], berr_msg(&e, r));
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* After attaching roots: whether the bundle's signatures satisfy the chain's last root. */
static void print_roots_note(const struct root_chain *c, const struct bundle_create_result *res)
{
        if (!c)
                return;
        printf("trust roots: version %lld to %lld attached; %u of %u release signature(s) under version %lld%s\n",
               (long long)c->v[0]->version, (long long)c->v[c->n - 1]->version, res->release_valid,
               res->release_threshold, (long long)res->root_version,
               res->release_valid < res->release_threshold ? " (co-sign with 'berth bundle sign' before shipping)"
                                                           : "");
}

static int parse_time_arg(const char *s, int64_t base, int64_t *ret)
{
        if (time_parse_rfc3339(s, ret) == 0)
                return 0;
        int64_t d;
        if (duration_parse(s[0] == '+' ? s + 1 : s, &d) == 0) {
                *ret = base + d;
                return 0;
        }
        return -EINVAL;
}

static int cmd_create(int argc, char **argv)
{
        static const struct option opts[] = {
                {"key", required_argument, NULL, 'k'},   {"name", required_argument, NULL, 'n'},
                {"version", required_argument, NULL, 'V'}, {"expires", required_argument, NULL, 'x'},
                {"created", required_argument, NULL, 'c'}, {"image", required_argument, NULL, 'i'},
                {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
                {"workloads", required_argument, NULL, 'W'}, {"roots", required_argument, NULL, 'R'}, {0},
        };
        const char *workloads = NULL;
        char *keys[MAX_ARGS], *roots[MAX_ARGS];
        size_t n_roots = 0;
        struct bundle_image_arg images[MAX_ARGS];
        size_t n_keys = 0, n_images = 0;
        const char *name = NULL, *version = NULL, *expires = "90d", *created = NULL, *out = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "k:n:V:x:c:i:o:hW:", opts, NULL)) >= 0) {
                switch (c) {
                case 'k':
                        if (n_keys == MAX_ARGS)
                                return log_error("too many keys"), EXIT_USAGE;
                        keys[n_keys++] = optarg;
                        break;
                case 'i': {
                        char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || !eq[1] || n_images == MAX_ARGS) {
                                log_error("--image takes REF=ARCHIVE, e.g. registry.local/gw/broker:2.0=broker.tar");
                                return EXIT_USAGE;
                        }
                        *eq = 0;
                        images[n_images].ref = optarg;
                        images[n_images++].archive = eq + 1;
                        break;
                }
                case 'n': name = optarg; break;
                case 'V': version = optarg; break;
                case 'x': expires = optarg; break;
                case 'c': created = optarg; break;
                case 'o': out = optarg; break;
                case 'W': workloads = optarg; break;
                case 'R':
                        if (n_roots == MAX_ARGS)
                                return log_error("too many --roots"), EXIT_USAGE;
                        roots[n_roots++] = optarg;
                        break;
                case 'h':
                        printf("Usage: berth bundle create -k KEY [-k KEY...] --name NAME --version N\n"
                               "         [--expires TIME|DURATION] [--created TIME] --image REF=ARCHIVE [...]\n"
                               "         [--workloads FILE.json] -o OUT.berth\n\n"
                               "Builds a signed bundle from OCI image-layout archives (skopeo oci-archive:,\n"
                               "'ctr images export', 'docker save' of Docker 25+; gzip, zstd or plain layers).\n"
                               "TIME is RFC 3339 UTC (2027-01-31T00:00:00Z); DURATION is relative to the\n"
                               "creation time (90d, 12h; default 90d). The creation time defaults to\n"
                               "$SOURCE_DATE_EPOCH, else now: identical inputs and times give a\n"
                               "byte-identical bundle.\n"
                               "--image REF=ARCHIVE may be given again with the same REF for single-platform\n"
                               "archives of one image (one per platform): the bundle then carries an image\n"
                               "index over them.\n"
                               "--workloads FILE.json: the workload specs to embed (see agent/workload/README.md);\n"
                               "invalid specs are refused with the offending field named.\n"
                               "--roots PATH: trust roots to carry (a root file, a roots.json or a directory of\n"
                               "them; repeatable): agents and servers behind on their trust root catch up from\n"
                               "the bundle. They must form a valid chain. See 'berth trust --help'.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (!name || !version || !out || n_keys == 0 || n_images == 0 || optind != argc) {
                log_error("bundle create needs -k KEY, --name, --version, --image REF=ARCHIVE and -o OUT; "
                          "see 'berth bundle create --help'");
                return EXIT_USAGE;
        }
        struct bundle_create_opts o = {.name = name, .images = images, .n_images = n_images, .output = out};
        char *end;
        errno = 0;
        long long v = strtoll(version, &end, 10);
        if (errno || *end || v < 1 || v > BUNDLE_MAX_VERSION) {
                log_error("--version must be an integer between 1 and %lld", BUNDLE_MAX_VERSION);
                return EXIT_USAGE;
        }
        o.version = v;
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        if (created) {
                if (time_parse_rfc3339(created, &o.created) < 0) {
                        log_error("--created must be an RFC 3339 UTC time like 2026-11-21T06:00:00Z");
                        return EXIT_USAGE;
                }
        } else if (sde && *sde) {
                o.created = strtoll(sde, &end, 10);
                if (*end || o.created < 0) {
                        log_error("SOURCE_DATE_EPOCH must be a number of seconds");
                        return EXIT_USAGE;
                }
        } else
                o.created = now_seconds();
        if (parse_time_arg(expires, o.created, &o.expires) < 0 || o.expires <= o.created) {
                log_error("--expires must be a time after the creation time (RFC 3339) or a duration like 90d");
                return EXIT_USAGE;
        }
        /* Each image once: a REF may come with one archive per platform. */
        const char *refs[MAX_ARGS];
        size_t n_refs = 0;
        for (size_t i = 0; i < n_images; i++) {
                size_t j = 0;
                while (j < n_refs && strcmp(refs[j], images[i].ref))
                        j++;
                if (j == n_refs)
                        refs[n_refs++] = images[i].ref;
        }
        _cleanup_(json_decrefp) json_t *wl = NULL, *upd = NULL;
        if (workloads) {
                json_error_t je;
                _cleanup_(json_decrefp) json_t *doc = json_load_file(workloads, JSON_REJECT_DUPLICATES, &je);
                if (!doc) {
                        log_error("cannot read workloads %s: line %d: %s", workloads, je.line, je.text);
                        return 1;
                }
                berr we = {0};
                int wr = workload_file_check(doc, refs, n_refs, &wl, &upd, &we);
                if (wr < 0) {
                        log_error("invalid workloads %s: %s", workloads, berr_msg(&we, wr));
                        return 1;
                }
                o.workloads = wl;
                o.update = upd;
        }
        _cleanup_(root_chain_freep) struct root_chain *chain = NULL;
        if (load_roots(roots, n_roots, &chain) < 0)
                return 1;
        o.roots = chain;
        struct berth_key kv[MAX_ARGS];
        if (load_keys(keys, n_keys, kv) < 0)
                return 1;
        o.keys = kv;
        o.n_keys = n_keys;
        berr e = {0};
        struct bundle_create_result res = {0};
        int r = bundle_create(&o, &res, &e);
        for (size_t i = 0; i < n_keys; i++)
                key_wipe(&kv[i]);
        if (r < 0) {
                log_error_errno(r, "cannot create %s: %s", out, berr_msg(&e, r));
                return 1;
        }
        char sz[32];
        printf("created %s: %s version %lld, %zu image(s), %zu blob(s), %s, %zu signature(s), manifest %s\n", out, name,
               v, n_refs, res.n_blobs, format_size(res.total_size, sz), n_keys, res.manifest_digest);
        print_roots_note(chain, &res);
        return 0;
}

static int cmd_sign(int argc, char **argv)
{
        static const struct option opts[] = {
                {"key", required_argument, NULL, 'k'}, {"output", required_argument, NULL, 'o'},
                {"roots", required_argument, NULL, 'R'}, {"help", no_argument, NULL, 'h'}, {0},
        };
        const char *key = NULL, *out = NULL;
        char *roots[MAX_ARGS];
        size_t n_roots = 0;
        int c;
        while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'k': key = optarg; break;
                case 'o': out = optarg; break;
                case 'R':
                        if (n_roots == MAX_ARGS)
                                return log_error("too many --roots"), EXIT_USAGE;
                        roots[n_roots++] = optarg;
                        break;
                case 'h':
                        printf("Usage: berth bundle sign [-k KEY] [--roots PATH...] IN.berth -o OUT.berth\n\n"
                               "Adds KEY's co-signature to a bundle (k-of-n signing) and/or replaces the trust\n"
                               "roots it carries (--roots, as for create). Every blob is re-verified while\n"
                               "copying. OUT may equal IN.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if ((!key && !n_roots) || !out || optind != argc - 1) {
                log_error("bundle sign needs -k KEY and/or --roots PATH, one input bundle and -o OUT; see "
                          "'berth bundle sign --help'");
                return EXIT_USAGE;
        }
        _cleanup_(root_chain_freep) struct root_chain *chain = NULL;
        if (load_roots(roots, n_roots, &chain) < 0)
                return 1;
        struct berth_key k = {0};
        char *kp = (char *)key;
        if (key && load_keys(&kp, 1, &k) < 0)
                return 1;
        berr e = {0};
        struct bundle_create_result res = {0};
        int r = bundle_cosign(argv[optind], out, key ? &k : NULL, chain, &res, &e);
        key_wipe(&k);
        if (r < 0) {
                log_error_errno(r, "cannot sign %s: %s", argv[optind], berr_msg(&e, r));
                return 1;
        }
        if (key)
                printf("signed %s with key '%s' (%s) → %s\n", argv[optind], k.name, k.id, out);
        else
                printf("copied %s with new trust roots → %s\n", argv[optind], out);
        print_roots_note(chain, &res);
        return 0;
}

static int open_reader(const char *path, struct bundle_reader **ret)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "cannot open bundle %s: %m", path);
        berr e = {0};
        int r = bundle_reader_new(fd, path, ret, &e);
        if (r >= 0)
                r = bundle_reader_read_head(*ret, &e);
        if (r < 0)
                return log_error_errno(r, "%s", berr_msg(&e, r));
        return 0;
}

static void print_violation(const char *sentence, void *ud)
{
        (void)ud;
        log_error("%s", sentence);
}

static int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = {
                {"trust", required_argument, NULL, 't'}, {"state-dir", required_argument, NULL, 's'},
                {"policy", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {0},
        };
        const char *trust_dir = BERTH_DEFAULT_TRUST_DIR, *state = NULL, *policy_file = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "t:s:p:h", opts, NULL)) >= 0) {
                switch (c) {
                case 't': trust_dir = optarg; break;
                case 's': state = optarg; break;
                case 'p': policy_file = optarg; break;
                case 'h':
                        printf("Usage: berth bundle verify [--trust DIR] [--state-dir DIR] [--policy FILE] FILE.berth\n\n"
                               "Checks a bundle completely: the trust roots it carries (walked from the\n"
                               "trust root of DIR, default %s: its root.json, or its *.pub keys and\n"
                               "'threshold' file), signatures against the release keys of the resulting root,\n"
                               "expiry, every blob's digest and size, and the exact file layout. With\n"
                               "--state-dir, the walk starts from the root that node has accepted since.\n"
                               "--policy FILE: also hold the workload specs against the [policy] section of\n"
                               "FILE (a gateway's agent.conf; a file without [policy] means the defaults),\n"
                               "as 'berth import' and the agent on that gateway will; every violation is\n"
                               "named with its workload, field and policy key.\n"
                               "Nothing is written. Exit 0 and one summary line when valid.\n",
                               BERTH_DEFAULT_TRUST_DIR);
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind != argc - 1) {
                log_error("bundle verify needs exactly one bundle file; see 'berth bundle verify --help'");
                return EXIT_USAGE;
        }
        const char *path = argv[optind];
        berr e = {0};
        _cleanup_(wl_policy_freep) struct wl_policy *policy = NULL;
        if (policy_file) {
                _cleanup_(config_freep) struct berth_config *pc = NULL;
                int r = config_load(policy_file, false, &pc, &e);
                if (r >= 0)
                        r = wl_policy_from_config(pc, &policy, &e);
                if (r < 0) {
                        log_error_errno(r, "--policy %s: %s", policy_file, berr_msg(&e, r));
                        return EXIT_USAGE;
                }
        }
        _cleanup_(root_store_freep) struct root_store *store = NULL;
        int r = root_store_open_state(trust_dir, state, ROOT_STORE_READONLY, &store, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        _cleanup_(bundle_reader_freep) struct bundle_reader *rd = NULL;
        if (open_reader(path, &rd) < 0)
                return 1;
        const void *roots;
        size_t rlen;
        bundle_reader_roots(rd, &roots, &rlen);
        if (roots && (r = root_store_advance_json(store, roots, rlen, BUNDLE_ROOTS_ENTRY, &e)) < 0) {
                log_error_errno(r, "bundle %s: the trust roots it carries were refused: %s", path, berr_msg(&e, r));
                return 1;
        }
        const struct trust *t = root_store_trust(store);
        r = bundle_reader_verify(rd, t, now_seconds(), &e);
        const struct bundle_blob *b;
        while (r >= 0 && (r = bundle_reader_next_blob(rd, &b, &e)) > 0)
                r = bundle_reader_stream_blob(rd, NULL, NULL, &e);
        if (r >= 0)
                r = bundle_reader_finish(rd, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        struct bundle_manifest *m = bundle_reader_manifest(rd);
        _cleanup_(workload_set_freep) struct workload_set *ws = NULL;
        r = workload_set_from_manifest(m, &ws, &e);
        if (r < 0) {
                log_error_errno(r, "%s: invalid workload spec: %s", path, berr_msg(&e, r));
                return 1;
        }
        if (policy) {
                /* Every violation on its own line: a release engineer fixes them all at once. */
                unsigned n = wl_policy_check_each(policy, ws, print_violation, NULL);
                if (n) {
                        log_error("%s: %s version %lld is outside the policy of %s: %u violation(s) above", path,
                                  m->name, (long long)m->version, policy_file, n);
                        return 1;
                }
        }
        char sz[32], ex[32];
        time_format_rfc3339(m->expires, ex);
        printf("OK %s version %lld: %u of %u required signature(s) valid, %zu image(s), %zu blob(s), %s, expires %s\n",
               m->name, (long long)m->version, bundle_reader_valid_signatures(rd), t->threshold, m->n_images, m->n_blobs,
               format_size(m->total_blob_size, sz), ex);
        if (roots)
                printf("trust root: version %lld (the bundle carries roots up to it)\n",
                       (long long)root_store_current(store)->version);
        if (policy)
                printf("OK %zu workload(s) within the policy of %s\n", ws->n, policy_file);
        return 0;
}

/* What a node of each platform the bundle carries would fetch; NULL (and *why) when the
 * image documents cannot be read. */
static json_t *inspect_platforms(const char *path, const struct bundle_manifest *m, char *why, size_t n_why)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, n_why, "cannot open %s: %s", path, strerror(errno));
                return NULL;
        }
        struct platform_bytes *pl = NULL;
        size_t n = 0;
        berr e = {0};
        int r = platform_list(m, platform_file_doc, &fd, &pl, &n, &e);
        if (r < 0) {
                snprintf(why, n_why, "%s", berr_msg(&e, r));
                return NULL;
        }
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
                char name[PLATFORM_NAME_MAX];
                json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:b}", "platform", platform_format(&pl[i].platform, name),
                                                   "blobs", (json_int_t)pl[i].n_blobs, "bytes",
                                                   (json_int_t)pl[i].bytes, "allImages", !pl[i].incomplete));
        }
        free(pl);
        return a;
}

static int cmd_inspect(int argc, char **argv)
{
        static const struct option opts[] = {
                {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0},
        };
        bool json = false;
        int c;
        while ((c = getopt_long(argc, argv, "jh", opts, NULL)) >= 0) {
                switch (c) {
                case 'j': json = true; break;
                case 'h':
                        printf("Usage: berth bundle inspect [--json] FILE.berth\n\n"
                               "Shows a bundle's manifest, signers and blob layout without verifying it\n"
                               "(use 'berth bundle verify' for that), and for each platform its images carry\n"
                               "the blobs and bytes a gateway of that platform needs. --json prints the\n"
                               "manifest as signed, plus the signatures, each blob's byte offset in the file\n"
                               "and the platforms.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        if (optind != argc - 1) {
                log_error("bundle inspect needs exactly one bundle file");
                return EXIT_USAGE;
        }
        _cleanup_(bundle_reader_freep) struct bundle_reader *rd = NULL;
        if (open_reader(argv[optind], &rd) < 0)
                return 1;
        berr e = {0};
        int r = bundle_reader_parse_unverified(rd, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        struct bundle_manifest *m = bundle_reader_manifest(rd);
        const struct bundle_signatures *s = bundle_reader_signatures(rd);
        char cr[32], ex[32], sz[32], why[400];
        json_t *platforms = inspect_platforms(argv[optind], m, why, sizeof why);
        time_format_rfc3339(m->created, cr);
        time_format_rfc3339(m->expires, ex);
        if (json) {
                json_t *sigs = json_array(), *layout = json_array();
                for (size_t i = 0; i < s->n; i++)
                        json_array_append_new(sigs, json_pack("{s:s}", "keyid", s->v[i].keyid));
                for (size_t i = 0; i < m->n_blobs; i++)
                        json_array_append_new(layout, json_pack("{s:s,s:I,s:I}", "digest", m->blobs[i].digest, "offset",
                                                                (json_int_t)m->blobs[i].data_offset, "size",
                                                                (json_int_t)m->blobs[i].size));
                json_t *o = json_pack("{s:s,s:O,s:o,s:o,s:b,s:o}", "manifestDigest", m->digest, "manifest", m->root,
                                      "signatures", sigs, "layout", layout, "verified", 0, "platforms",
                                      platforms ? platforms : json_string(why));
                const void *rr;
                size_t rl;
                bundle_reader_roots(rd, &rr, &rl);
                json_t *rj = rr ? json_loadb(rr, rl, 0, NULL) : NULL;
                json_t *ra = json_object_get(rj, "roots");
                if (o && rr)
                        json_object_set_new(o, "roots", ra ? json_incref(ra) : json_null());
                json_decref(rj);
                char *out = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
                json_decref(o);
                if (!out)
                        return log_error("out of memory"), 1;
                printf("%s\n", out);
                free(out);
                return 0;
        }
        printf("bundle:    %s version %lld (NOT verified; run 'berth bundle verify')\n", m->name, (long long)m->version);
        printf("manifest:  %s\n", m->digest);
        printf("created:   %s\nexpires:   %s\n", cr, ex);
        printf("signed by: ");
        for (size_t i = 0; i < s->n; i++)
                printf("%s%s", i ? ", " : "", s->v[i].keyid);
        printf("\nimages:\n");
        for (size_t i = 0; i < m->n_images; i++)
                printf("  %s  %s\n", m->images[i].ref, m->images[i].digest);
        printf("blobs:     %zu, %s\n", m->n_blobs, format_size(m->total_blob_size, sz));
        for (size_t i = 0; i < m->n_blobs; i++)
                printf("  %s  %12llu  %s\n", m->blobs[i].digest, (unsigned long long)m->blobs[i].size,
                       m->blobs[i].media_type);
        if (platforms) {
                printf("platforms: %zu (what a gateway of each fetches)\n", json_array_size(platforms));
                size_t i;
                json_t *p;
                json_array_foreach(platforms, i, p)
                        printf("  %-16s %4lld blob(s), %s%s\n", json_string_value(json_object_get(p, "platform")),
                               (long long)json_integer_value(json_object_get(p, "blobs")),
                               format_size((uint64_t)json_integer_value(json_object_get(p, "bytes")), sz),
                               json_is_true(json_object_get(p, "allImages")) ? "" : "  (not every image has it)");
                json_decref(platforms);
        } else
                printf("platforms: cannot tell: %s\n", why);
        json_t *w = json_object_get(m->root, "workloads");
        if (w)
                printf("workloads: %zu\n", json_array_size(w));
        const void *rr;
        size_t rl;
        bundle_reader_roots(rd, &rr, &rl);
        if (rr) {
                struct root_chain *ch = NULL;
                berr re = {0};
                if (root_chain_parse(rr, rl, BUNDLE_ROOTS_ENTRY, &ch, &re) < 0)
                        printf("roots:     %zu bytes, unreadable: %s\n", rl, re.msg);
                else {
                        printf("roots:     trust root version(s)");
                        for (size_t i = 0; i < ch->n; i++)
                                printf(" %lld", (long long)ch->v[i]->version);
                        printf(" (NOT verified)\n");
                }
                root_chain_free(ch);
        }
        return 0;
}

int cmd_bundle(int argc, char **argv)
{
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                help_bundle();
                return argc < 2 ? EXIT_USAGE : 0;
        }
        if (!strcmp(argv[1], "create"))
                return cmd_create(argc - 1, argv + 1);
        if (!strcmp(argv[1], "sign"))
                return cmd_sign(argc - 1, argv + 1);
        if (!strcmp(argv[1], "verify"))
                return cmd_verify(argc - 1, argv + 1);
        if (!strcmp(argv[1], "inspect"))
                return cmd_inspect(argc - 1, argv + 1);
        log_error("unknown bundle command '%s'; see 'berth bundle --help'", argv[1]);
        return EXIT_USAGE;
}
