/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_status.c — berth status: what this node holds. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/cmd_activate.h"
#include "containerd/preload.h"
#include "store/content.h"
#include "store/db.h"
#include "node/status.h"
#include "node/trust.h"
#include <errno.h>
#include <stdlib.h>

struct status_ctx {
        struct berth_db *db;
        json_t *bundles;        /* --json */
        json_t *cur_images;
        struct content_store *cs;
        const struct containerd_backend_opts *ctrd; /* NULL: containerd not configured */
};

/* "present, unpacked" etc. for one image, or NULL when containerd is not configured. */
static const char *containerd_state(struct status_ctx *c, const struct db_image *im, json_t **ret_json)
{
        struct containerd_image_state st;
        berr e = {0};

        if (!c->ctrd)
                return NULL;
        int r = containerd_image_state(c->ctrd, c->cs, im->ref, im->digest, im->media_type, im->size, &st, &e);
        if (ret_json)
                *ret_json = r < 0 ? json_pack("{s:b,s:s}", "reachable", st.reachable, "error", berr_msg(&e, r))
                                  : json_pack("{s:b,s:b,s:b}", "reachable", true, "present", st.present,
                                              "unpacked", st.unpacked);
        if (r < 0)
                return st.reachable ? "error" : "unreachable";
        return !st.present ? "missing" : st.unpacked ? "present, unpacked" : "present, not unpacked";
}

static int image_cb(void *ud, const struct db_image *im)
{
        struct status_ctx *c = ud;
        if (c->cur_images) {
                json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "ref", im->ref, "digest", im->digest, "mediaType",
                                      im->media_type, "size", (json_int_t)im->size);
                json_t *cj = NULL;
                if (containerd_state(c, im, &cj) && cj)
                        json_object_set_new(o, "containerd", cj);
                json_array_append_new(c->cur_images, o);
                return 0;
        }
        const char *cst = containerd_state(c, im, NULL);
        printf("      image %s  %s%s%s\n", im->ref, im->digest, cst ? "  containerd: " : "", cst ? cst : "");
        return 0;
}

static int bundle_cb(void *ud, const struct db_bundle *b)
{
        struct status_ctx *c = ud;
        char imp[32], ex[32], sz[32];
        time_format_rfc3339(b->imported_at, imp);
        time_format_rfc3339(b->expires, ex);
        if (c->bundles) {
                c->cur_images = json_array();
                json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:I,s:o}", "name", b->name, "version",
                                      (json_int_t)b->version, "manifestDigest", b->digest, "importedAt", imp, "expires",
                                      ex, "source", b->source, "size", (json_int_t)b->size, "images", c->cur_images);
                json_array_append_new(c->bundles, o);
        } else
                printf("  %s version %lld  (%s, imported %s via %s, expires %s)\n", b->name, (long long)b->version,
                       format_size(b->size, sz), imp, b->source, ex);
        int r = db_list_images(c->db, b->name, b->version, image_cb, c);
        c->cur_images = NULL;
        return r;
}

/* The running agent's answer (exit status), or -ENOTCONN when no agent manages it. */
static int status_via_agent(const struct berth_config *cfg, const char *socket, const char *state, bool json)
{
        json_t *req = cli_daemon_request("status", state);
        json_t *st = NULL;
        int r = cli_daemon_call(cfg, socket, req, -1, CLI_DAEMON_TIMEOUT_S, &st);
        json_decref(req);
        if (r == -ENOTCONN)
                return r;
        if (r < 0)
                return 1;
        if (!json_is_true(json_object_get(st, "ok"))) {
                log_error("%s", json_string_value(json_object_get(st, "error")) ?: "the agent refused the request");
                json_decref(st);
                return 1;
        }
        json_object_del(st, "ok");
        if (json) {
                char *out = json_dumps(st, JSON_INDENT(2));
                if (out)
                        printf("%s\n", out);
                free(out);
        } else {
                node_status_print(st);
                json_t *wl = json_object_get(st, "workloads");
                if (json_is_array(wl) && json_array_size(wl))
                        cli_print_workload_status(wl);
        }
        json_decref(st);
        return 0;
}

int cmd_status(int argc, char **argv)
{
        static const struct option opts[] = {
                {"state-dir", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},            {"help", no_argument, NULL, 'h'},
                {"containerd", required_argument, NULL, 'C'}, {"namespace", required_argument, NULL, 'N'},
                {"snapshotter", required_argument, NULL, 'S'},
                {"socket", required_argument, NULL, 'K'},    {"no-agent", no_argument, NULL, 'A'},
                {"trust", required_argument, NULL, 'T'},     {0},
        };
        const char *state = NULL, *config = NULL, *socket = NULL, *trust = NULL;
        bool json = false, direct = false;
        struct containerd_backend_opts ctrd = {0};
        bool use_ctrd = false;
        int c;
        while ((c = getopt_long(argc, argv, "s:c:jh", opts, NULL)) >= 0) {
                switch (c) {
                case 's': state = optarg; break;
                case 'c': config = optarg; break;
                case 'j': json = true; break;
                case 'C': ctrd.address = optarg; use_ctrd = true; break;
                case 'N': ctrd.ns = optarg; break;
                case 'S': ctrd.snapshotter = optarg; break;
                case 'K': socket = optarg; break;
                case 'A': direct = true; break;
                case 'T': trust = optarg; break;
                case 'h':
                        printf("Usage: berth status [--state-dir DIR] [--trust DIR] [--config FILE] [--json]\n\n"
                               "Shows the trust root (version, expiry, key ids; installed versions whose signers\n"
                               "it no longer trusts), installed bundles and versions, their images, and the content\n"
                               "store's size. With --containerd SOCKET (or containerd.address in the\n"
                               "config), also whether containerd has each image and has unpacked it\n"
                               "(--namespace NS, --snapshotter S as for import).\n\n"
                               "When the agent runs (control socket: --socket PATH or config\n"
                               "'control.socket'), the answer comes from the agent and also shows what it\n"
                               "is doing (polling, downloading 42%%, …); --no-agent reads the state directly.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        if (!direct) {
                int k = status_via_agent(cfg, socket, state, json);
                if (k != -ENOTCONN)
                        return k;
        }
        if (!state)
                state = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
        if (!trust)
                trust = config_get(cfg, "trust_dir", BERTH_DEFAULT_TRUST_DIR);
        berr e = {0};
        _cleanup_(db_closep) struct berth_db *db = NULL;
        _cleanup_(content_store_freep) struct content_store *cs = NULL;
        int r = db_open(state, &db, &e);
        if (r >= 0)
                r = content_store_open(state, &cs, &e);
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                return 1;
        }
        uint64_t bytes = 0, count = 0;
        (void)content_usage(cs, &bytes, &count);
        struct status_ctx ctx = {.db = db, .cs = cs};
        if (use_ctrd || config_get(cfg, "containerd.address", NULL)) {
                containerd_backend_opts_from_config(&ctrd, cfg);
                ctx.ctrd = &ctrd;
        }
        char sz[32];
        if (json) {
                ctx.bundles = json_array();
                r = db_list_bundles(db, bundle_cb, &ctx);
                json_t *o = json_pack("{s:s,s:{s:I,s:I},s:o,s:o*}", "stateDir", state, "store", "blobs",
                                      (json_int_t)count, "bytes", (json_int_t)bytes, "bundles", ctx.bundles, "trust",
                                      node_trust_json(db, trust, state, now_seconds()));
                json_t *wl = ctx.ctrd ? cli_workload_status(state, cfg, ctx.ctrd) : NULL;
                if (o && wl)
                        json_object_set_new(o, "workloads", wl);
                char *out = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
                json_decref(o);
                if (out)
                        printf("%s\n", out);
                free(out);
        } else {
                json_t *tr = node_trust_json(db, trust, state, now_seconds());
                if (tr)
                        node_trust_print(tr);
                json_decref(tr);
                printf("state:   %s\nstore:   %llu blob(s), %s\nbundles:\n", state, (unsigned long long)count,
                       format_size(bytes, sz));
                r = db_list_bundles(db, bundle_cb, &ctx);
                json_t *wl = r >= 0 && ctx.ctrd ? cli_workload_status(state, cfg, ctx.ctrd) : NULL;
                if (wl)
                        cli_print_workload_status(wl);
                json_decref(wl);
        }
        if (r < 0) {
                log_error_errno(r, "cannot read the database in %s: %m", state);
                return 1;
        }
        return 0;
}
