/* cmd_status.c — berth status: what this node holds. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "store/content.h"
#include "store/db.h"
#include "node/status.h"
#include <errno.h>
#include <stdlib.h>

int cmd_status(int argc, char **argv)
{
        static const struct option opts[] = {
                {"state-dir", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},            {"help", no_argument, NULL, 'h'},
                {"socket", required_argument, NULL, 'S'},    {"no-agent", no_argument, NULL, 'N'},
                {0},
        };
        const char *state = NULL, *config = NULL, *socket = NULL;
        bool json = false, direct = false;
        int c;
        while ((c = getopt_long(argc, argv, "s:c:jh", opts, NULL)) >= 0) {
                switch (c) {
                case 's': state = optarg; break;
                case 'c': config = optarg; break;
                case 'j': json = true; break;
                case 'S': socket = optarg; break;
                case 'N': direct = true; break;
                case 'h':
                        printf("Usage: berth status [--state-dir DIR] [--config FILE] [--json]\n"
                               "                    [--socket PATH] [--no-agent]\n\n"
                               "Shows installed bundles and versions, their images, and the content\n"
                               "store's size. When the agent runs (control socket, config\n"
                               "'control.socket'), asks it, and also shows what it is doing.\n");
                        return 0;
                default: return EXIT_USAGE;
                }
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        json_t *st = NULL;
        if (!direct) {
                json_t *req = json_pack("{s:s}", "cmd", "status");
                char real[4096];
                if (req && state && realpath(state, real))
                        json_object_set_new(req, "stateDir", json_string(real));
                int r = cli_daemon_call(cfg, socket, req, -1, &st);
                json_decref(req);
                if (r < 0 && r != -ENOTCONN)
                        return 1;
                if (r >= 0 && !json_is_true(json_object_get(st, "ok"))) {
                        log_error("%s", json_string_value(json_object_get(st, "error")) ?: "the agent refused the request");
                        json_decref(st);
                        return 1;
                }
                if (st)
                        json_object_del(st, "ok");
        }
        if (!st) {
                if (!state)
                        state = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
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
                st = node_status_json(db, cs, state);
                if (!st) {
                        log_error("cannot read the database in %s", state);
                        return 1;
                }
        }
        if (json) {
                char *out = json_dumps(st, JSON_INDENT(2));
                if (out)
                        printf("%s\n", out);
                free(out);
        } else
                node_status_print(st);
        json_decref(st);
        return 0;
}
