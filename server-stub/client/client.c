/* SPDX-License-Identifier: Apache-2.0 */
/* client.c — management subcommands over HTTP(S) on berth's transport (see client.h).
 *
 * Each subcommand is one request; the JSON answer is printed indented on stdout, an error
 * answer's message on stderr with exit code 1. Usage errors exit 2.
 */
#include "server-stub/client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "config/config.h"
#include "net/http.h"

#define MAX_RESPONSE (64u << 20)

struct client {
        char url[512];
        char auth[512];         /* "Bearer …" */
        const char *ca_file;
};

struct upload {
        int fd;
        uint64_t off;
};

static ssize_t up_read(void *ud, char *buf, size_t cap)
{
        struct upload *u = ud;
        ssize_t k;
        do
                k = pread(u->fd, buf, cap, (off_t)u->off);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        u->off += (uint64_t)k;
        return k;
}

static int up_seek(void *ud, uint64_t offset)
{
        ((struct upload *)ud)->off = offset;
        return 0;
}

/* Sends one request; body is JSON text or NULL; upload_fd streams a file. Prints the reply. */
static int request(const struct client *cl, const char *method, const char *path, const char *body, int upload_fd,
                   json_t **ret)
{
        char url[1024];
        snprintf(url, sizeof url, "%s%s", cl->url, path);
        struct http_tls tls = {.ca_file = cl->ca_file, .ca_setting = "--ca-file or mgmt.ca_file"};
        struct upload up = {.fd = upload_fd};
        struct http_req_opts o = {
                .method = method,
                .url = url,
                .peer = "berth-server",
                .authorization = cl->auth[0] ? cl->auth : NULL,
                /* The admin token never leaves this machine in clear text, except to a
                 * server on loopback. */
                .plain_credentials = !strncmp(cl->url, "http://127.", 11) || !strncmp(cl->url, "http://localhost", 16) ||
                                     !strncmp(cl->url, "http://[::1]", 12),
                .tls = &tls,
                .max_body = MAX_RESPONSE,
        };
        if (body) {
                o.content_type = "application/json";
                o.body = body;
                o.body_len = strlen(body);
        } else if (upload_fd >= 0) {
                struct stat st;
                if (fstat(upload_fd, &st) < 0) {
                        log_error("%s %s: cannot read the file to upload: %m", method, url);
                        return 1;
                }
                o.content_type = "application/octet-stream";
                o.on_read = up_read;
                o.on_seek = up_seek;
                o.upload_size = (uint64_t)st.st_size;
                o.userdata = &up;
        }
        _cleanup_(http_session_freep) struct http_session *hs = NULL;
        struct http_response resp = {0};
        berr e = {0};
        int r = http_session_new(&hs, &e);
        if (r >= 0)
                r = http_session_perform(hs, &o, &resp, &e);
        if (upload_fd >= 0)
                close(upload_fd);
        if (r < 0) {
                log_error("%s", berr_msg(&e, r));
                return 1;
        }
        json_t *j = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
        if (resp.status >= 300) {
                const char *msg = json_string_value(json_object_get(j, "message"));
                log_error("%s %s: HTTP %ld: %s", method, path, resp.status,
                          msg ? msg : (resp.body ? resp.body : "(no body)"));
                json_decref(j);
                http_response_clear(&resp);
                return 1;
        }
        http_response_clear(&resp);
        if (ret)
                *ret = j;
        else {
                if (j)
                        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                printf("\n");
                json_decref(j);
        }
        return 0;
}

static int usage(void)
{
        fprintf(stderr,
                "Usage: berth-server [-c CONFIG] [--url URL] [--token TOKEN] COMMAND ...\n"
                "  bundle upload FILE [--name N --version V]   (name/version only with bundles.insecure_skip_verify)\n"
                "  bundle list\n"
                "  target add CONTROLLER_ID [--token T] [--attr KEY=VALUE]...\n"
                "  target list [--after ID] [--limit N]\n"
                "  target show CONTROLLER_ID\n"
                "  target telemetry CONTROLLER_ID [--after SEQ] [--limit N]\n"
                "  rollout create --name N --bundle ID [--groups 1,10,50,100] [--success PCT] [--error PCT]\n"
                "                 [--soak SECONDS|S1,S2,...] [--type forced|soft|downloadonly] [--window HH:MM-HH:MM]\n"
                "                 [--budget-override] [--filter KEY=GLOB]...\n"
                "  rollout list | rollout status ID | rollout start|pause|resume|cancel ID\n"
                "  rollout plan ID [--rate BITS_PER_SECOND]   (what it will download, before it starts)\n"
                "  action show|cancel ID\n");
        return 2;
}

static int kv_set(json_t *obj, const char *kv)
{
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
                return -EINVAL;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        return json_object_set_new(obj, key, json_string(eq + 1));
}

static int cmd_bundle(const struct client *cl, int argc, char **argv)
{
        if (argc >= 2 && !strcmp(argv[1], "list"))
                return request(cl, "GET", "/api/v1/bundles", NULL, -1, NULL);
        if (argc < 3 || strcmp(argv[1], "upload"))
                return usage();
        const char *name = NULL, *version = NULL;
        for (int i = 3; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--name"))
                        name = argv[i + 1];
                else if (!strcmp(argv[i], "--version"))
                        version = argv[i + 1];
                else
                        return usage();
        }
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                log_error("cannot open %s: %m", argv[2]);
                return 1;
        }
        char path[512] = "/api/v1/bundles";
        if (name && version) {
                _cleanup_free_ char *en = http_escape(name), *ev = http_escape(version);
                snprintf(path, sizeof path, "/api/v1/bundles?name=%s&version=%s", en ? en : "", ev ? ev : "");
        }
        return request(cl, "POST", path, NULL, fd, NULL);
}

static int cmd_target(const struct client *cl, int argc, char **argv)
{
        if (argc >= 2 && !strcmp(argv[1], "list")) {
                char path[256];
                const char *after = "0", *limit = "1000";
                for (int i = 2; i + 1 < argc; i += 2) {
                        if (!strcmp(argv[i], "--after"))
                                after = argv[i + 1];
                        else if (!strcmp(argv[i], "--limit"))
                                limit = argv[i + 1];
                        else
                                return usage();
                }
                snprintf(path, sizeof path, "/api/v1/targets?after=%lld&limit=%lld", atoll(after), atoll(limit));
                return request(cl, "GET", path, NULL, -1, NULL);
        }
        if (argc >= 3 && !strcmp(argv[1], "telemetry")) {
                const char *after = "0", *limit = "100";
                for (int i = 3; i < argc; i += 2) {
                        if (i + 1 < argc && !strcmp(argv[i], "--after"))
                                after = argv[i + 1];
                        else if (i + 1 < argc && !strcmp(argv[i], "--limit"))
                                limit = argv[i + 1];
                        else
                                return usage();
                }
                _cleanup_free_ char *e = http_escape(argv[2]);
                char path[512];
                snprintf(path, sizeof path, "/api/v1/targets/%s/telemetry?after=%lld&limit=%lld", e ? e : "", atoll(after),
                         atoll(limit));
                return request(cl, "GET", path, NULL, -1, NULL);
        }
        if (argc == 3 && !strcmp(argv[1], "show")) {
                _cleanup_free_ char *e = http_escape(argv[2]);
                char path[512];
                snprintf(path, sizeof path, "/api/v1/targets/%s", e ? e : "");
                return request(cl, "GET", path, NULL, -1, NULL);
        }
        if (argc < 3 || strcmp(argv[1], "add"))
                return usage();
        json_t *t = json_pack("{s:s, s:{}}", "controllerId", argv[2], "attributes");
        for (int i = 3; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--token"))
                        json_object_set_new(t, "token", json_string(argv[i + 1]));
                else if (!strcmp(argv[i], "--attr") && kv_set(json_object_get(t, "attributes"), argv[i + 1]) == 0)
                        ;
                else {
                        json_decref(t);
                        return usage();
                }
        }
        _cleanup_free_ char *body = json_dumps(t, JSON_COMPACT);
        json_decref(t);
        return request(cl, "POST", "/api/v1/targets", body, -1, NULL);
}

static int cmd_rollout(const struct client *cl, int argc, char **argv)
{
        char path[256];
        if (argc >= 2 && !strcmp(argv[1], "list"))
                return request(cl, "GET", "/api/v1/rollouts", NULL, -1, NULL);
        if (argc == 3 && !strcmp(argv[1], "status")) {
                snprintf(path, sizeof path, "/api/v1/rollouts/%lld", atoll(argv[2]));
                return request(cl, "GET", path, NULL, -1, NULL);
        }
        if ((argc == 3 || argc == 5) && !strcmp(argv[1], "plan")) {
                if (argc == 5 && strcmp(argv[3], "--rate"))
                        return usage();
                int k = snprintf(path, sizeof path, "/api/v1/rollouts/%lld/plan", atoll(argv[2]));
                if (argc == 5)
                        snprintf(path + k, sizeof path - (size_t)k, "?rate=%llu", strtoull(argv[4], NULL, 10));
                return request(cl, "GET", path, NULL, -1, NULL);
        }
        if (argc == 3 && (!strcmp(argv[1], "start") || !strcmp(argv[1], "pause") || !strcmp(argv[1], "resume") ||
                          !strcmp(argv[1], "cancel"))) {
                snprintf(path, sizeof path, "/api/v1/rollouts/%lld/%s", atoll(argv[2]), argv[1]);
                return request(cl, "POST", path, NULL, -1, NULL);
        }
        if (argc < 2 || strcmp(argv[1], "create"))
                return usage();
        json_t *spec = json_pack("{s:{}}", "filter");
        for (int i = 2; i < argc; i++) {
                const char *o = argv[i];
                /* The one flag without a value: the deployments may go past the agents'
                 * data budget. Every other option takes the next argument. */
                if (!strcmp(o, "--budget-override")) {
                        json_object_set_new(spec, "budgetOverride", json_true());
                        continue;
                }
                if (i + 1 >= argc) {
                        json_decref(spec);
                        return usage();
                }
                const char *v = argv[++i];
                if (!strcmp(o, "--name"))
                        json_object_set_new(spec, "name", json_string(v));
                else if (!strcmp(o, "--bundle"))
                        json_object_set_new(spec, "bundleId", json_integer(atoll(v)));
                else if (!strcmp(o, "--success"))
                        json_object_set_new(spec, "successThreshold", json_integer(atoll(v)));
                else if (!strcmp(o, "--error"))
                        json_object_set_new(spec, "errorThreshold", json_integer(atoll(v)));
                else if (!strcmp(o, "--soak") && !strchr(v, ','))
                        json_object_set_new(spec, "soakSeconds", json_integer(atoll(v)));
                else if (!strcmp(o, "--soak")) {
                        json_t *a = json_array();
                        for (const char *p = v; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                                json_array_append_new(a, json_integer(atoll(p)));
                        json_object_set_new(spec, "soakSeconds", a);
                }
                else if (!strcmp(o, "--type"))
                        json_object_set_new(spec, "actionType", json_string(v));
                else if (!strcmp(o, "--window"))
                        json_object_set_new(spec, "maintenanceWindow", json_string(v));
                else if (!strcmp(o, "--filter") && kv_set(json_object_get(spec, "filter"), v) == 0)
                        ;
                else if (!strcmp(o, "--groups")) {
                        json_t *g = json_array();
                        for (const char *p = v; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                                json_array_append_new(g, json_integer(atoll(p)));
                        json_object_set_new(spec, "groups", g);
                } else {
                        json_decref(spec);
                        return usage();
                }
        }
        _cleanup_free_ char *body = json_dumps(spec, JSON_COMPACT);
        json_decref(spec);
        return request(cl, "POST", "/api/v1/rollouts", body, -1, NULL);
}

static int find_token(const struct berth_config *c, const char *token, char *out, size_t n)
{
        const char *t = token ? token : getenv("BERTH_SERVER_TOKEN");
        if (!t)
                t = config_get(c, "mgmt.admin_token", NULL);
        if (t) {
                snprintf(out, n, "%s", t);
                return 0;
        }
        const char *f = config_get(c, "mgmt.admin_token_file", NULL);
        _cleanup_free_ char *def = NULL;
        if (!f) {
                def = path_join(config_get(c, "server.state_dir", "/var/lib/berth-server"), "admin.token");
                f = def;
        }
        char *buf = NULL;
        size_t len = 0;
        int r = f ? read_file_bounded(f, 4096, &buf, &len) : -ENOMEM;
        if (r < 0) {
                log_error("no admin token: pass --token, set BERTH_SERVER_TOKEN, or make %s readable (%s)", f ? f : "?",
                          strerror(-r));
                return r;
        }
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                buf[--len] = 0;
        snprintf(out, n, "%s", buf);
        free(buf);
        return 0;
}

int client_main(const struct berth_config *c, const char *url, const char *token, int argc, char **argv)
{
        struct client cl = {0};
        const char *u = url ? url : getenv("BERTH_SERVER_URL");
        if (u)
                snprintf(cl.url, sizeof cl.url, "%s", u);
        else
                snprintf(cl.url, sizeof cl.url, "%s://%s", config_get(c, "mgmt.cert", NULL) ? "https" : "http",
                         config_get(c, "mgmt.listen", "127.0.0.1:8444"));
        size_t l = strlen(cl.url);
        if (l && cl.url[l - 1] == '/')
                cl.url[l - 1] = 0;
        cl.ca_file = config_get(c, "mgmt.ca_file", NULL);
        char tok[300];
        if (find_token(c, token, tok, sizeof tok) < 0)
                return 1;
        snprintf(cl.auth, sizeof cl.auth, "Bearer %s", tok);
        int r;
        if (!strcmp(argv[0], "bundle"))
                r = cmd_bundle(&cl, argc, argv);
        else if (!strcmp(argv[0], "target"))
                r = cmd_target(&cl, argc, argv);
        else if (!strcmp(argv[0], "rollout"))
                r = cmd_rollout(&cl, argc, argv);
        else if (!strcmp(argv[0], "action") && argc == 3 && !strcmp(argv[1], "show")) {
                char path[128];
                snprintf(path, sizeof path, "/api/v1/actions/%lld", atoll(argv[2]));
                r = request(&cl, "GET", path, NULL, -1, NULL);
        } else if (!strcmp(argv[0], "action") && argc == 3 && !strcmp(argv[1], "cancel")) {
                char path[128];
                snprintf(path, sizeof path, "/api/v1/actions/%lld/cancel", atoll(argv[2]));
                r = request(&cl, "POST", path, NULL, -1, NULL);
        } else
                r = usage();
        return r;
}
