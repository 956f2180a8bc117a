/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_import.c — berth import: the offline / USB path into this node. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/cmd_activate.h"
#include "cli/import_peers.h"
#include "bundle/manifest.h"
#include "containerd/preload.h"
#include "import/import.h"
#include "import/backends.h"
#include "registry/backend.h"
#include "workload/policy.h"


static void help(void)
{
        printf("Usage: berth import [--state-dir DIR] [--trust DIR] [--config FILE] FILE.berth...\n"
               "       berth import --from-peers [--config FILE] NAME VERSION\n\n"
               "Verifies each bundle while streaming it (signatures, expiry, every digest) and\n"
               "stores it on this node. A version not newer than the installed one is refused;\n"
               "importing the same bundle again changes nothing. A refused bundle leaves the\n"
               "store and database exactly as they were.\n\n"
               "  --state-dir DIR  state directory (config 'state_dir', default %s)\n"
               "  --trust DIR      trusted *.pub keys + threshold (config 'trust_dir', default %s)\n"
               "  --config FILE    configuration file (default %s, optional)\n"
               "  --containerd SOCKET  preload the images into containerd (config\n"
               "                   'containerd.address'; K3s: /run/k3s/containerd/containerd.sock)\n"
               "  --namespace NS   containerd namespace (config 'containerd.namespace', default k8s.io)\n"
               "  --snapshotter S  unpack into snapshotter S (config 'containerd.snapshotter',\n"
               "                   default overlayfs)\n"
               "  --keep-layers    keep berth's own copy of the layers (always so when a\n"
               "                   registry mirror is also fed)\n"
               "  --unpack WHO     berth (default: unpacks layers itself, containerd keeps no\n"
               "                   compressed copy) or containerd (Diff.Apply, as ctr; config\n"
               "                   'containerd.unpack')\n"
               "  --registry URL   also push the images into this registry mirror (config 'registry.url')\n"
               "  --registry-ca F  CA file for an https mirror (config 'registry.ca_file')\n"
               "  --activate       then switch the bundle's workloads to the imported version\n"
               "                   (as 'berth activate': probe, commit or roll back; direct imports only)\n"
               "  --socket PATH    the agent's control socket (config 'control.socket')\n"
               "  --no-agent       import directly even if the agent runs (not recommended)\n"
               "  --source usb     record the import as coming from a USB stick (default cli)\n"
               "  --from-peers     take bundle NAME VERSION from the site's peers instead of a\n"
               "                   file (one gateway imported it from the USB stick; config\n"
               "                   [peers]: key_file, peers, discovery): its signed head and the\n"
               "                   blobs this gateway lacks, each verified; nothing over the WAN\n\n"
               "A bundle whose workload specs ask for more than this gateway's [policy] (in the\n"
               "config file) allows is refused before anything is stored, naming each workload,\n"
               "field and policy key.\n\n"
               "When the agent runs, the import goes through it (one writer of the node's\n"
               "state): this command opens each file and passes it over the control socket,\n"
               "so what may be imported is decided by the caller's permissions, and the\n"
               "agent's configured backends preload it.\n",
               BERTH_DEFAULT_STATE_DIR, BERTH_DEFAULT_TRUST_DIR, BERTH_DEFAULT_CONFIG);
}

/* ", N of other platforms not stored" or "". */
static const char *other_platforms(long long n)
{
        static char buf[64];
        buf[0] = 0;
        if (n > 0)
                snprintf(buf, sizeof buf, ", %lld of other platforms not stored", n);
        return buf;
}

/* One bundle (already opened as fd) through the running agent: 0 or 1 as exit status,
 * or -ENOTCONN when no agent manages this state and nothing was read from fd (the
 * caller then imports the same fd directly: a FIFO or stream can only be read once). */
static int import_via_agent(const struct berth_config *cfg, const char *socket, const char *state, const char *source,
                            const char *name, int fd, bool stored)
{
        json_t *req = cli_daemon_request("import", state);
        if (req && (json_object_set_new(req, "source", json_string(source)) < 0 ||
                    json_object_set_new(req, "name", json_string(name)) < 0 ||
                    json_object_set_new(req, "stored", json_boolean(stored)) < 0)) {
                json_decref(req);
                req = NULL;
        }
        json_t *rep = NULL;
        int r = cli_daemon_call(cfg, socket, req, fd, 0, &rep);
        json_decref(req);
        if (r == -ENOTCONN)
                return r;
        if (r < 0)
                return 1;
        if (!json_is_true(json_object_get(rep, "ok"))) {
                log_error("%s", json_string_value(json_object_get(rep, "error")) ?: "the agent refused the import");
                json_decref(rep);
                return 1;
        }
        json_t *res = json_object_get(rep, "result");
        char sz[32];
        if (json_is_true(json_object_get(res, "alreadyInstalled")))
                printf("%s version %lld is already installed: file verified again, store unchanged (through the agent)\n",
                       json_string_value(json_object_get(res, "name")),
                       (long long)json_integer_value(json_object_get(res, "version")));
        else
                printf("imported %s version %lld: %lld image(s), %lld new blob(s) (%s), %lld already present%s "
                       "(through the agent)\n",
                       json_string_value(json_object_get(res, "name")),
                       (long long)json_integer_value(json_object_get(res, "version")),
                       (long long)json_integer_value(json_object_get(res, "images")),
                       (long long)json_integer_value(json_object_get(res, "blobsStored")),
                       format_size((uint64_t)json_integer_value(json_object_get(res, "bytesStored")), sz),
                       (long long)json_integer_value(json_object_get(res, "blobsPresent")),
                       other_platforms(json_integer_value(json_object_get(res, "blobsOtherPlatforms"))));
        json_decref(rep);
        return 0;
}

static int parse_version(const char *s, int64_t *v)
{
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || *end || x < 1)
                return -EINVAL;
        *v = x;
        return 0;
}

/* berth import --from-peers NAME VERSION: the blobs into the store from the site's peers
 * (import_peers.h), then the import of the stored bundle, through the agent if it runs. */
static int import_from_peers(const struct berth_config *cfg, const struct import_opts *o, const char *socket,
                             const char *state, bool via_agent, const char *name, int64_t version)
{
        char label[200], sz[32];
        snprintf(label, sizeof label, "%s %lld", name, (long long)version);
        _cleanup_free_ void *head = NULL;
        size_t len = 0;
        struct peers_import_stats st;
        berr e = {0};
        int r = peers_import_fetch(cfg, o, name, version, &head, &len, &st, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        printf("%s: %u blob(s) (%s) from site peers%s%s, %u already on this node; nothing over the WAN\n", label,
               st.blobs, format_size(st.bytes, sz), st.from[0] ? ": " : "", st.from, st.present);
        if (via_agent) {
                _cleanup_close_ int fd = memfd_create("berth-head", MFD_CLOEXEC);
                if (fd < 0 || write_all(fd, head, len) < 0) {
                        log_error_errno(errno, "cannot hand the head of %s to the agent: %m", label);
                        return 1;
                }
                int a = import_via_agent(cfg, socket, state, "peers", label, fd, true);
                if (a != -ENOTCONN)
                        return a;
        }
        struct import_result res;
        r = berth_import_stored(o, head, len, &res, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        log_journal(LOG_LEVEL_NOTICE, "%s %s version %lld from site peers",
                    res.already_installed ? "kept installed" : "imported", res.name, (long long)res.version);
        if (res.already_installed)
                printf("%s version %lld is already installed: store unchanged\n", res.name, (long long)res.version);
        else
                printf("imported %s version %lld: %u image(s), %u blob(s) in the store\n", res.name,
                       (long long)res.version, res.n_images, res.blobs_present);
        return 0;
}

int cmd_import(int argc, char **argv)
{
        static const struct option opts[] = {
                {"state-dir", required_argument, NULL, 's'}, {"trust", required_argument, NULL, 't'},
                {"config", required_argument, NULL, 'c'},    {"help", no_argument, NULL, 'h'},
                {"containerd", required_argument, NULL, 'C'}, {"namespace", required_argument, NULL, 'N'},
                {"snapshotter", required_argument, NULL, 'S'}, {"keep-layers", no_argument, NULL, 'K'},
                {"unpack", required_argument, NULL, 'P'},
                {"registry", required_argument, NULL, 'R'},  {"registry-ca", required_argument, NULL, 'A'},
                {"socket", required_argument, NULL, 'O'},    {"no-agent", no_argument, NULL, 'D'},
                {"source", required_argument, NULL, 'U'},    {"activate", no_argument, NULL, 'V'},
                {"from-peers", no_argument, NULL, 'F'},
                {0},
        };
        bool activate = false;
        const char *state = NULL, *trust = NULL, *config = NULL, *registry = NULL, *registry_ca = NULL;
        struct containerd_backend_opts ctrd = {0};
        bool use_ctrd = false, keep_layers = false;
        const char *socket = NULL, *source = "cli";
        bool direct = false, from_peers = false;
        int c;
        while ((c = getopt_long(argc, argv, "s:t:c:h", opts, NULL)) >= 0) {
                switch (c) {
                case 's': state = optarg; break;
                case 't': trust = optarg; break;
                case 'c': config = optarg; break;
                case 'V': activate = true; break;
                case 'C': ctrd.address = optarg; use_ctrd = true; break;
                case 'N': ctrd.ns = optarg; break;
                case 'S': ctrd.snapshotter = optarg; break;
                case 'K': keep_layers = true; break;
                case 'P': ctrd.unpack = optarg; break;
                case 'h': help(); return 0;
                case 'R': registry = optarg; break;
                case 'A': registry_ca = optarg; break;
                case 'O': socket = optarg; break;
                case 'D': direct = true; break;
                case 'F': from_peers = true; break;
                case 'U':
                        if (strcmp(optarg, "cli") && strcmp(optarg, "usb")) {
                                log_error("--source is cli or usb");
                                return EXIT_USAGE;
                        }
                        source = optarg;
                        break;
                default: return EXIT_USAGE;
                }
        }
        int64_t peer_version = 0;
        if (from_peers && (argc - optind != 2 || !bundle_name_valid(argv[optind]) ||
                           parse_version(argv[optind + 1], &peer_version) < 0 || activate)) {
                log_error("--from-peers takes a bundle NAME and VERSION (e.g. berth import --from-peers app 3), "
                          "and no --activate");
                return EXIT_USAGE;
        }
        if (optind >= argc) {
                log_error("import needs at least one bundle file; see 'berth import --help'");
                return EXIT_USAGE;
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        /* The node policy, parsed once: a malformed [policy] stops before any file is read. */
        _cleanup_(wl_policy_freep) struct wl_policy *policy = NULL;
        berr pe = {0};
        int rp = wl_policy_from_config(cfg, &policy, &pe);
        if (rp < 0) {
                log_error_errno(rp, "%s", berr_msg(&pe, rp));
                return 1;
        }
        /* Backends first (a bad --containerd is a usage error either way), then each file
         * is opened exactly once and handed to the agent if one manages this state, or
         * imported directly. */
        struct import_backend *backends[IMPORT_MAX_BACKENDS];
        size_t n_backends = 0;
        berr be = {0};
        /* --from-peers fetches what the agent's backends lack: the same backends as the agent. */
        const struct import_backends_opts bo = {
                .names = from_peers ? config_get(cfg, "update.backends", "store") : NULL,
                .registry_url = registry, .registry_ca = registry_ca,
                .ctrd = use_ctrd ? &ctrd : NULL, .keep_layers = keep_layers,
        };
        int rb = import_backends_new(cfg, &bo, backends, &n_backends, &be);
        if (rb < 0) {
                log_error_errno(rb, "%s", berr_msg(&be, rb));
                return rb == -EINVAL ? EXIT_USAGE : 1;
        }
        containerd_backend_opts_from_config(&ctrd, cfg); /* for --activate */
        struct import_opts o = {
                .state_dir = state ? state : config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR),
                .trust_dir = trust ? trust : config_get(cfg, "trust_dir", BERTH_DEFAULT_TRUST_DIR),
                .source = source,
                .backends = backends,
                .n_backends = n_backends,
                .policy = policy,
        };
        bool via_agent = !direct, cli_backends = registry || registry_ca || use_ctrd;
        int ret = 0;
        if (from_peers) {
                o.source = "peers";
                ret = import_from_peers(cfg, &o, socket, state, via_agent, argv[optind], peer_version);
                import_backends_free(backends, n_backends);
                return ret;
        }
        for (int i = optind; i < argc; i++) {
                berr e = {0};
                struct import_result res;
                /* Journal records of this file carry it (and, once known, the bundle). */
                LOG_SCOPE(ctx);
                (void)log_set_field("BERTH_BUNDLE_FILE", argv[i]);
                _cleanup_close_ int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        log_error_errno(errno, "cannot open bundle %s: %m", argv[i]);
                        ret = 1;
                        continue;
                }
                if (via_agent) {
                        int a = import_via_agent(cfg, socket, state, source, argv[i], fd, false);
                        if (a != -ENOTCONN) {
                                if (i == optind && a == 0 && cli_backends)
                                        log_warning("the agent is running: it preloads with its own configured "
                                                    "backends; --registry/--registry-ca/--containerd are ignored");
                                if (a == 0 && activate) {
                                        log_error("%s was imported through the running agent, which does not switch "
                                                  "workloads yet; stop the agent and run 'berth activate' to switch",
                                                  argv[i]);
                                        a = 1;
                                }
                                ret |= a;
                                continue;
                        }
                        via_agent = false; /* no agent manages this state: import directly, same fd */
                }
                int r = berth_import_fd(&o, TAKE_FD(fd), argv[i], &res, &e);
                if (r < 0) {
                        log_error_errno(r, "%s", berr_msg(&e, r));
                        ret = 1;
                        continue;
                }
                char sz[32];
                (void)log_set_field("BERTH_BUNDLE", res.name);
                (void)log_set_fieldf("BERTH_VERSION", "%lld", (long long)res.version);
                log_journal(LOG_LEVEL_NOTICE, "%s %s version %lld from %s",
                            res.already_installed ? "kept installed" : "imported", res.name,
                            (long long)res.version, argv[i]);
                if (res.already_installed)
                        printf("%s version %lld is already installed: file verified again, store unchanged%s\n",
                               res.name, (long long)res.version,
                               n_backends ? ", preload targets checked" : "");
                else
                        printf("imported %s version %lld: %u image(s), %u new blob(s) (%s), %u already present%s%s\n",
                               res.name, (long long)res.version, res.n_images, res.blobs_stored,
                               format_size(res.bytes_stored, sz), res.blobs_present,
                               res.blobs_shipped ? ", the others kept by containerd only" : "",
                               other_platforms(res.blobs_other_platforms));
                for (size_t b = 0; b < n_backends; b++)
                        if (!strcmp(backends[b]->name, "registry")) {
                                const struct registry_stats *st = registry_backend_stats(backends[b]);
                                printf("registry mirror: %u blob(s) uploaded, %u already there, %u mounted, "
                                       "%u manifest(s) written, %s sent, %u upload(s) resumed\n",
                                       st->blobs_uploaded, st->blobs_present, st->blobs_mounted,
                                       st->manifests_pushed, format_size(st->bytes_uploaded, sz),
                                       st->uploads_resumed);
                        } else if (!strcmp(backends[b]->name, "containerd")) {
                                const struct containerd_preload_stats *st = containerd_backend_stats(backends[b]);
                                char usz[32];
                                printf("containerd: %u blob(s) written (%s), %u already present; %u layer(s) "
                                       "unpacked (%u by berth, %s of files), %u already unpacked; %u image "
                                       "record(s) changed\n",
                                       st->blobs_written, format_size(st->bytes_written, sz), st->blobs_present,
                                       st->layers_unpacked, st->layers_direct, format_size(st->bytes_unpacked, usz),
                                       st->layers_present, st->images_changed);
                        }
                if (activate) {
                        if (!use_ctrd && !config_get(cfg, "containerd.address", NULL)) {
                                log_error("--activate needs containerd (--containerd SOCKET or containerd.address)");
                                ret = 1;
                        } else if (cli_activate(o.state_dir, cfg, &ctrd, NULL, res.name, res.version, false) != 0)
                                ret = 1;
                }
        }
        import_backends_free(backends, n_backends);
        return ret;
}
