/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_mirror.c — `berth mirror config`: writes the runtime's mirror configuration
 * (K3s registries.yaml, containerd certs.d hosts.toml) for the local registry mirror
 * that `berth import --registry` fills; `berth mirror push`: pushes installed bundles
 * from this node's store into the mirror again (a new or emptied mirror).
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "cli/common.h"
#include "config/config.h"
#include "bundle/manifest.h"
#include "registry/backend.h"
#include "registry/mirror_config.h"
#include "registry/reference.h"
#include "store/db.h"

#define MAX_UPSTREAMS 64
#define K3S_DEFAULT_OUTPUT "/etc/rancher/k3s/registries.yaml"

struct upstream_set {
        char *hosts[MAX_UPSTREAMS];
        size_t n;
        struct {
                char *name;
                int64_t version;
        } bundles[256];
        size_t n_bundles;
};

static int collect_bundle(void *ud, const struct db_bundle *b)
{
        struct upstream_set *u = ud;
        if (u->n_bundles >= ELEMENTSOF(u->bundles))
                return 0;
        if (!(u->bundles[u->n_bundles].name = strdup(b->name)))
                return -ENOMEM;
        u->bundles[u->n_bundles++].version = b->version;
        return 0;
}

static int collect_image(void *ud, const struct db_image *im)
{
        struct upstream_set *u = ud;
        struct image_ref ref;
        if (image_ref_parse(im->ref, &ref) < 0)
                return 0;
        bool seen = false;
        for (size_t i = 0; i < u->n; i++)
                seen = seen || !strcmp(u->hosts[i], ref.domain);
        if (!seen && u->n < MAX_UPSTREAMS)
                u->hosts[u->n++] = TAKE_PTR(ref.domain);
        image_ref_done(&ref);
        return 0;
}

static void upstream_set_done(struct upstream_set *u)
{
        for (size_t i = 0; i < u->n; i++)
                free(u->hosts[i]);
        for (size_t i = 0; i < u->n_bundles; i++)
                free(u->bundles[i].name);
}

/* The registries named by the images of the installed bundles. */
static int upstreams_from_state(const char *state_dir, struct upstream_set *u)
{
        _cleanup_free_ char *dbpath = path_join(state_dir, "berth.db");
        if (!dbpath)
                return -ENOMEM;
        if (access(dbpath, F_OK) < 0)
                return 0;
        berr e = {0};
        _cleanup_(db_closep) struct berth_db *db = NULL;
        int r = db_open(state_dir, &db, &e);
        if (r < 0)
                return log_error_errno(r, "%s", berr_msg(&e, r));
        r = db_list_bundles(db, collect_bundle, u);
        for (size_t i = 0; r >= 0 && i < u->n_bundles; i++)
                r = db_list_images(db, u->bundles[i].name, u->bundles[i].version, collect_image, u);
        return r;
}

static void mirror_usage(FILE *f)
{
        fprintf(f,
                "Usage: berth mirror push [--registry URL] [BUNDLE-NAME...]   (see 'berth mirror push --help')\n"
                "       berth mirror config [--k3s [--output FILE]] [--containerd DIR]\n"
                "                           [--registry URL] [--registry-ca FILE] [--prefix P]\n"
                "                           [--upstream HOST]... [--state-dir DIR] [--config FILE]\n\n"
                "push fills the mirror from the installed bundles; config writes the runtime's\n"
                "mirror configuration so it pulls from the local registry mirror first and from\n"
                "the upstream registry second.\n\n"
                "  --k3s               write K3s registries.yaml (default " K3S_DEFAULT_OUTPUT ")\n"
                "  --output FILE       where to write registries.yaml\n"
                "  --containerd DIR    write DIR/<upstream>/hosts.toml (e.g. /etc/containerd/certs.d)\n"
                "  --registry URL      the mirror (default: registry.url from the config)\n"
                "  --registry-ca FILE  CA of an https mirror (default: registry.ca_file)\n"
                "  --insecure          https mirror without certificate verification (testing only)\n"
                "  --prefix P          repository prefix on the mirror (default: registry.prefix)\n"
                "  --upstream HOST     an upstream registry whose images the mirror holds, e.g.\n"
                "                      docker.io (repeatable; default: registry.upstreams, else the\n"
                "                      registries named by the installed bundles' images)\n"
                "  --state-dir DIR     state directory (config 'state_dir', default " BERTH_DEFAULT_STATE_DIR ")\n"
                "  --config FILE       config file (default " BERTH_DEFAULT_CONFIG ")\n");
}

static int mirror_config_cmd(int argc, char **argv)
{
        enum { OPT_OUTPUT = 0x100, OPT_CONTAINERD, OPT_REGISTRY, OPT_CA, OPT_PREFIX, OPT_UPSTREAM, OPT_CONFIG,
               OPT_INSECURE, OPT_K3S, OPT_STATE };
        static const struct option opts[] = {
                {"help", no_argument, NULL, 'h'},
                {"k3s", no_argument, NULL, OPT_K3S},
                {"output", required_argument, NULL, OPT_OUTPUT},
                {"containerd", required_argument, NULL, OPT_CONTAINERD},
                {"registry", required_argument, NULL, OPT_REGISTRY},
                {"registry-ca", required_argument, NULL, OPT_CA},
                {"insecure", no_argument, NULL, OPT_INSECURE},
                {"prefix", required_argument, NULL, OPT_PREFIX},
                {"upstream", required_argument, NULL, OPT_UPSTREAM},
                {"config", required_argument, NULL, OPT_CONFIG},
                {"state-dir", required_argument, NULL, OPT_STATE},
                {},
        };
        bool k3s = false, insecure = false, insecure_set = false;
        const char *output = NULL, *containerd = NULL, *url = NULL, *ca = NULL, *prefix = NULL;
        const char *config_path = NULL, *state_dir = NULL;
        const char *upstreams[MAX_UPSTREAMS];
        size_t n_up = 0;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        mirror_usage(stdout);
                        return 0;
                case OPT_K3S: k3s = true; break;
                case OPT_OUTPUT: output = optarg; k3s = true; break;
                case OPT_CONTAINERD: containerd = optarg; break;
                case OPT_REGISTRY: url = optarg; break;
                case OPT_CA: ca = optarg; break;
                case OPT_INSECURE: insecure = insecure_set = true; break;
                case OPT_PREFIX: prefix = optarg; break;
                case OPT_CONFIG: config_path = optarg; break;
                case OPT_STATE: state_dir = optarg; break;
                case OPT_UPSTREAM:
                        if (n_up >= MAX_UPSTREAMS) {
                                log_error("at most %d --upstream options", MAX_UPSTREAMS);
                                return EXIT_USAGE;
                        }
                        upstreams[n_up++] = optarg;
                        break;
                default:
                        mirror_usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                log_error("unexpected argument '%s'; see 'berth mirror --help'", argv[optind]);
                return EXIT_USAGE;
        }
        if (!k3s && !containerd) {
                log_error("say what to write: --k3s and/or --containerd DIR; see 'berth mirror --help'");
                return EXIT_USAGE;
        }

        berr e = {0};
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config_path, &cfg) < 0)
                return 1;
        int r;
        if (!url)
                url = config_get(cfg, "registry.url", NULL);
        if (!ca)
                ca = config_get(cfg, "registry.ca_file", NULL);
        if (!prefix)
                prefix = config_get(cfg, "registry.prefix", NULL);
        if (!insecure_set && config_get_bool(cfg, "registry.insecure", false, &insecure, &e) < 0)
                return log_error("%s", berr_msg(&e, -EINVAL)), 1;
        _cleanup_free_ char *up_list = NULL;
        if (n_up == 0 && config_get(cfg, "registry.upstreams", NULL)) {
                /* registry.upstreams = docker.io registry.local */
                up_list = strdup(config_get(cfg, "registry.upstreams", NULL));
                if (!up_list)
                        return log_error("out of memory"), 1;
                char *save = NULL;
                for (char *t = strtok_r(up_list, " ,\t", &save); t && n_up < MAX_UPSTREAMS;
                     t = strtok_r(NULL, " ,\t", &save))
                        upstreams[n_up++] = t;
        }
        _cleanup_(upstream_set_done) struct upstream_set found = {0};
        if (n_up == 0) {
                if (!state_dir)
                        state_dir = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
                if (upstreams_from_state(state_dir, &found) < 0)
                        return 1;
                for (size_t i = 0; i < found.n; i++)
                        upstreams[n_up++] = found.hosts[i];
        }
        if (!url) {
                log_error("no mirror given: use --registry URL or set registry.url in %s",
                          config_path ? config_path : BERTH_DEFAULT_CONFIG);
                return EXIT_USAGE;
        }
        if (n_up == 0) {
                log_error("name the upstream registries the mirror stands in for: --upstream HOST (e.g. docker.io); "
                          "no installed bundle names any");
                return EXIT_USAGE;
        }
        /* The runtime reads the CA path later, from its own working directory. */
        _cleanup_free_ char *ca_abs = NULL;
        if (ca && !(ca_abs = realpath(ca, NULL)))
                return log_error_errno(-errno, "CA file %s: %m; check --registry-ca", ca), 1;

        struct mirror_config mc = {.mirror_url = url, .upstreams = upstreams, .n_upstreams = n_up,
                                   .ca_file = ca_abs, .insecure = insecure, .prefix = prefix};
        if (k3s) {
                const char *path = output ? output : K3S_DEFAULT_OUTPUT;
                r = mirror_write_k3s(&mc, path, &e);
                if (r < 0)
                        return log_error_errno(r, "%s", berr_msg(&e, r)), 1;
                log_info("wrote %s: %zu upstream(s) mirrored by %s; restart k3s to apply", path, n_up, url);
        }
        if (containerd) {
                r = mirror_write_containerd(&mc, containerd, &e);
                if (r < 0)
                        return log_error_errno(r, "%s", berr_msg(&e, r)), 1;
                log_info("wrote %s/<host>/hosts.toml for %zu upstream(s) mirrored by %s; containerd needs "
                         "config_path = \"%s\" in its CRI registry section",
                         containerd, n_up, url, containerd);
        }
        return 0;
}

static int push_one(struct berth_db *db, struct content_store *cs, struct import_backend *b, const char *name,
                    int64_t version)
{
        _cleanup_free_ char *raw = NULL;
        size_t len = 0;
        int r = db_get_manifest(db, name, version, &raw, &len);
        if (r < 0)
                return log_error_errno(r, "cannot read the manifest of %s %lld from the state database: %m", name,
                                       (long long)version);
        berr e = {0};
        _cleanup_(bundle_manifest_freep) struct bundle_manifest *m = NULL;
        r = bundle_manifest_parse(raw, len, &m, &e);
        if (r >= 0)
                r = b->preload(b, m, cs, &e);
        if (r < 0)
                return log_error_errno(r, "%s %lld: %s", name, (long long)version, berr_msg(&e, r));
        const struct registry_stats *st = registry_backend_stats(b);
        char sz[32];
        printf("%s %lld: %zu image(s); %u blob(s) uploaded, %u already there, %u mounted, %u manifest(s) written, "
               "%s sent\n",
               name, (long long)version, m->n_images, st->blobs_uploaded, st->blobs_present, st->blobs_mounted,
               st->manifests_pushed, format_size(st->bytes_uploaded, sz));
        return 0;
}

static int mirror_push_cmd(int argc, char **argv)
{
        static const struct option opts[] = {
                {"help", no_argument, NULL, 'h'},
                {"registry", required_argument, NULL, 'R'},
                {"registry-ca", required_argument, NULL, 'A'},
                {"state-dir", required_argument, NULL, 's'},
                {"config", required_argument, NULL, 'c'},
                {},
        };
        const char *url = NULL, *ca = NULL, *state_dir = NULL, *config_path = NULL;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        printf("Usage: berth mirror push [--registry URL] [--registry-ca FILE] [--state-dir DIR]\n"
                               "                         [--config FILE] [BUNDLE-NAME...]\n\n"
                               "Pushes the images of the installed bundles (all, or the named ones) from this\n"
                               "node's store into the registry mirror, e.g. after the mirror was replaced.\n");
                        return 0;
                case 'R': url = optarg; break;
                case 'A': ca = optarg; break;
                case 's': state_dir = optarg; break;
                case 'c': config_path = optarg; break;
                default: return EXIT_USAGE;
                }
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config_path, &cfg) < 0)
                return 1;
        if (!state_dir)
                state_dir = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
        berr e = {0};
        struct import_backend *b = NULL;
        int r = registry_backend_from_cli(cfg, url, ca, &b, &e);
        if (r < 0)
                return log_error_errno(r, "%s", berr_msg(&e, r)), 1;
        if (!b) {
                log_error("no mirror given: use --registry URL or set registry.url");
                return EXIT_USAGE;
        }
        _cleanup_(upstream_set_done) struct upstream_set list = {0};
        _cleanup_(db_closep) struct berth_db *db = NULL;
        _cleanup_(content_store_freep) struct content_store *cs = NULL;
        r = db_open(state_dir, &db, &e);
        if (r >= 0)
                r = content_store_open(state_dir, &cs, &e);
        if (r >= 0)
                r = db_list_bundles(db, collect_bundle, &list);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                b->free(b);
                return 1;
        }
        int ret = 0;
        size_t done = 0;
        for (size_t i = 0; i < list.n_bundles; i++) {
                bool wanted = optind >= argc;
                for (int k = optind; k < argc; k++)
                        wanted = wanted || !strcmp(argv[k], list.bundles[i].name);
                if (!wanted)
                        continue;
                done++;
                if (push_one(db, cs, b, list.bundles[i].name, list.bundles[i].version) < 0)
                        ret = 1;
        }
        b->free(b);
        if (done == 0) {
                log_error("no installed bundle %s in %s", optind < argc ? "matches" : "found", state_dir);
                return 1;
        }
        return ret;
}

int cmd_mirror(int argc, char **argv)
{
        if (argc >= 2 && !strcmp(argv[1], "config"))
                return mirror_config_cmd(argc - 1, argv + 1);
        if (argc >= 2 && !strcmp(argv[1], "push"))
                return mirror_push_cmd(argc - 1, argv + 1);
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                mirror_usage(stdout);
                return 0;
        }
        mirror_usage(stderr);
        return EXIT_USAGE;
}
