/* SPDX-License-Identifier: Apache-2.0 */
/* main.c — berth-server entry point: `serve` runs the server, every other command is a
 * management client (client/). Global options come before the command. The admin token
 * never comes from the command line (every local user can read it there): from
 * --token-file FILE or - (stdin), $BERTH_SERVER_TOKEN or the config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "config/config.h"
#include "server-stub/client/client.h"
#include "server-stub/core/server.h"

#define DEFAULT_CONFIG "/etc/berth/server.conf" /* the Debian package's conffile */
#define MAX_TOKEN 4096

/* Reads the admin token from path ("-": stdin), without trailing white space. */
static int read_token(const char *path, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;
        if (!strcmp(path, "-")) {
                buf = malloc(MAX_TOKEN + 1);
                if (!buf)
                        return -ENOMEM;
                ssize_t n;
                while (len < MAX_TOKEN && (n = read(STDIN_FILENO, buf + len, MAX_TOKEN - len)) != 0) {
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0) {
                                r = -errno;
                                log_error("--token-file -: cannot read the token from stdin: %s", strerror(-r));
                                return r;
                        }
                        len += (size_t)n;
                }
                buf[len] = 0;
        } else {
                mode_t mode = 0;
                r = read_secret_file(path, MAX_TOKEN, &buf, &len, &mode);
                if (r == -EPERM)
                        log_error("--token-file %s is readable by others or writable by its group (mode %04o); "
                                  "chmod 600 it", path, (unsigned)mode);
                else if (r < 0)
                        log_error("--token-file %s: cannot read it: %s", path, strerror(-r));
                if (r < 0)
                        return r;
        }
        while (len && strchr(" \t\r\n", buf[len - 1]))
                buf[--len] = 0;
        if (!len || strpbrk(buf, "\r\n")) {
                log_error("--token-file %s: expected the admin token on one line", path);
                return -EINVAL;
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

static int usage(FILE *f)
{
        fprintf(f, "Usage: berth-server [-c CONFIG] [--url URL] [--token-file FILE|-] [-v] COMMAND ...\n\n"
                   "  serve [--set section.key=value]...   run the rollout server (hawkBit DDI + management API)\n"
                   "  bundle upload|list                   manage bundles\n"
                   "  target add|list|show|telemetry       manage targets, read their telemetry\n"
                   "  rollout create|list|status|start|pause|resume|cancel\n"
                   "  action show|cancel ID\n\n"
                   "CONFIG defaults to " DEFAULT_CONFIG " (env BERTH_SERVER_CONFIG). The admin token comes from\n"
                   "--token-file (- reads stdin), $BERTH_SERVER_TOKEN, mgmt.admin_token(_file) or STATE/admin.token.\n"
                   "See server-stub/README.md.\n");
        return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
        const char *config = getenv("BERTH_SERVER_CONFIG");
        const char *url = NULL, *token_file = NULL;
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
                        config = argv[++i];
                else if (!strcmp(argv[i], "--url") && i + 1 < argc)
                        url = argv[++i];
                else if (!strcmp(argv[i], "--token-file") && i + 1 < argc)
                        token_file = argv[++i];
                else if (!strcmp(argv[i], "--token") || !strncmp(argv[i], "--token=", 8)) {
                        fprintf(stderr, "berth-server: --token is gone: a token on the command line can be read by "
                                        "every local user (ps, /proc). Put it in a file only you can read and pass "
                                        "--token-file FILE, pipe it in with --token-file -, or set BERTH_SERVER_TOKEN.\n");
                        return 2;
                }
                else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
                        log_set_max_level(LOG_LEVEL_DEBUG);
                else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
                        return usage(stdout);
                else if (!strcmp(argv[i], "--version")) {
                        printf("berth-server %s\n", BERTH_VERSION);
                        return 0;
                } else
                        return usage(stderr);
        }
        if (i >= argc)
                return usage(stderr);
        if (!config)
                config = DEFAULT_CONFIG;
        if (!strcmp(argv[i], "serve")) {
                char **overrides = calloc((size_t)argc, sizeof *overrides);
                size_t n = 0;
                if (!overrides)
                        return 1;
                for (int k = i + 1; k < argc; k++) {
                        if (!strcmp(argv[k], "--set") && k + 1 < argc)
                                overrides[n++] = argv[++k];
                        else {
                                free(overrides);
                                return usage(stderr);
                        }
                }
                berr e = {0};
                int r = server_run(config, overrides, &e);
                free(overrides);
                if (r < 0) {
                        log_error("%s", berr_msg(&e, r));
                        return 1;
                }
                return 0;
        }
        _cleanup_(config_freep) struct berth_config *c = NULL;
        berr e = {0};
        int r = config_load(config, true, &c, &e);
        if (r < 0) {
                log_error("%s", berr_msg(&e, r));
                return 1;
        }
        _cleanup_free_ char *token = NULL;
        if (token_file && read_token(token_file, &token) < 0)
                return 1;
        return client_main(c, url, token, argc - i, argv + i);
}
