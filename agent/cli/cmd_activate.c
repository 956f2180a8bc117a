/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_activate.c — berth activate NAME VERSION | berth rollback NAME: run a workload
 * update (switch, probe for the soak time, commit or roll back) synchronously, for
 * the USB/offline path and for operators. One activation at a time per state dir.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/cmd_activate.h"
#include "containerd/client.h"
#include "store/content.h"
#include "store/db.h"
#include "workload/engine.h"

struct wl_cli {
        struct berth_db *db;
        struct content_store *cs;
        struct ctrd *c;
        struct workload_engine *eng;
        int lock;
};

static void wl_note(const char *msg)
{
        log_notice("%s", msg);
}

static void wl_cli_close(struct wl_cli *w)
{
        workload_engine_free(w->eng);
        ctrd_free(w->c);
        content_store_free(w->cs);
        db_close(w->db);
        if (w->lock >= 0)
                close(w->lock);
}

static int wl_cli_open(struct wl_cli *w, const char *state, const struct berth_config *cfg,
                       const struct containerd_backend_opts *o, const char *data_dir, bool lock)
{
        berr e = {0};
        int r;
        *w = (struct wl_cli) {.lock = -1};
        if (lock) {
                _cleanup_free_ char *p = path_join(state, "workloads.lock");
                if (!p || mkdir_p(state, 0755) < 0)
                        return log_error("cannot create state directory %s", state), -EIO;
                w->lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (w->lock < 0)
                        return log_error_errno(errno, "cannot open %s: %m", p);
                if (flock(w->lock, LOCK_EX | LOCK_NB) < 0)
                        return log_error("another berth holds the workloads in %s (lock %s): if it is 'berth agent', "
                                         "run this with the agent's --config (its control.socket) so the agent "
                                         "switches; else wait for the other command", state, p), -EBUSY;
        }
        struct containerd_backend_opts co = *o;
        containerd_backend_opts_from_config(&co, cfg);
        struct workload_engine_opts eo = {.state_dir = state, .data_dir = data_dir, .note = wl_note};
        r = db_open(state, &w->db, &e);
        if (r >= 0)
                r = content_store_open(state, &w->cs, &e);
        if (r >= 0)
                r = ctrd_new(co.address, co.ns, co.snapshotter, &w->c, &e);
        if (r >= 0)
                r = workload_engine_new(&eo, cfg, w->db, w->cs, w->c, &w->eng, &e);
        if (r < 0)
                return log_error_errno(r, "%s", berr_msg(&e, r));
        return 0;
}

/* The bundle's lastUpdate in an agent's status answer (borrowed), or NULL. */
static json_t *agent_last_update(json_t *st, const char *name)
{
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(st, "workloads"), i, b)
                if (!strcmp(json_string_value(json_object_get(b, "bundle")) ?: "", name))
                        return json_object_get(b, "lastUpdate");
        return NULL;
}

static json_t *agent_status(const struct berth_config *cfg, const char *state_dir)
{
        json_t *req = cli_daemon_request("status", state_dir), *st = NULL;
        int r = cli_daemon_call(cfg, NULL, req, -1, CLI_DAEMON_TIMEOUT_S, &st);
        json_decref(req);
        return r < 0 ? NULL : st;
}

/* While the agent runs it holds the workloads: ask it to switch, then follow its status
 * until the update it started is finished. -ENOTCONN when no agent manages state_dir;
 * otherwise the exit status. */
static int activate_via_agent(const char *state_dir, const struct berth_config *cfg, const char *name,
                              int64_t version, bool rollback)
{
        json_t *req = cli_daemon_request("activate", state_dir);
        if (req && (json_object_set_new(req, "bundle", json_string(name)) < 0 ||
                    json_object_set_new(req, "version", json_integer((json_int_t)version)) < 0 ||
                    json_object_set_new(req, "rollback", json_boolean(rollback)) < 0)) {
                json_decref(req);
                req = NULL;
        }
        json_t *before = agent_status(cfg, state_dir);
        if (!before) {
                json_decref(req);
                return -ENOTCONN;
        }
        json_t *prev = json_deep_copy(agent_last_update(before, name));
        json_decref(before);
        json_t *rep = NULL;
        int r = cli_daemon_call(cfg, NULL, req, -1, CLI_DAEMON_TIMEOUT_S, &rep);
        json_decref(req);
        if (r < 0) {
                json_decref(prev);
                return r == -ENOTCONN ? r : 1;
        }
        if (!json_is_true(json_object_get(rep, "ok"))) {
                const char *code = json_string_value(json_object_get(rep, "code")) ?: "";
                const char *msg = json_string_value(json_object_get(rep, "error")) ?: "the agent refused the request";
                int ret = !strcmp(code, "already") ? (printf("%s\n", msg), 0) : (log_error("%s", msg), 1);
                json_decref(rep);
                json_decref(prev);
                return ret;
        }
        json_decref(rep);
        printf("%s: the running agent switches the workloads; following it (Ctrl-C stops following, not the "
               "switch)...\n", name);
        int ret = 1;
        for (;;) {
                struct timespec ts = {.tv_nsec = 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
                json_t *st = agent_status(cfg, state_dir);
                if (!st) {
                        log_error("lost the agent while it switched %s; see 'berth status'", name);
                        break;
                }
                json_t *u = agent_last_update(st, name);
                const char *state = json_string_value(json_object_get(u, "state")) ?: "";
                bool done = u && !json_equal(u, prev) &&
                            (!strcmp(state, "committed") || !strcmp(state, "rolled_back"));
                if (done) {
                        long long from = (long long)json_integer_value(json_object_get(u, "from"));
                        long long to = (long long)json_integer_value(json_object_get(u, "to"));
                        const char *ev = json_string_value(json_object_get(u, "evidence")) ?: "";
                        if (!strcmp(state, "committed")) {
                                printf("%s: version %lld committed (was %lld): %s\n", name, to, from, ev);
                                ret = 0;
                        } else
                                printf("%s: version %lld ROLLED BACK to %lld: %s\n", name, to, from, ev);
                }
                json_decref(st);
                if (done)
                        break;
        }
        json_decref(prev);
        return ret;
}

int cli_activate(const char *state_dir, const struct berth_config *cfg, const struct containerd_backend_opts *ctrd,
                 const char *data_dir, const char *name, int64_t version, bool rollback)
{
        int k = activate_via_agent(state_dir, cfg, name, version, rollback);
        if (k != -ENOTCONN)
                return k;
        struct wl_cli w;
        int r = wl_cli_open(&w, state_dir, cfg, ctrd, data_dir, true);
        if (r < 0) {
                wl_cli_close(&w);
                return 1;
        }
        berr e = {0};
        struct workload_update_report rep;
        r = workload_update_run(w.eng, name, version, rollback, &rep, &e);
        if (r == -EALREADY) {
                printf("%s version %lld is already the running version\n", name, (long long)version);
                wl_cli_close(&w);
                return 0;
        }
        if (r < 0) {
                log_error_errno(r, "%s", berr_msg(&e, r));
                wl_cli_close(&w);
                return 1;
        }
        int ret = 0;
        if (rep.state == WSTATE_COMMITTED)
                printf("%s: version %lld committed (was %lld): %s\n", name, (long long)rep.to_version,
                       (long long)rep.from_version, rep.evidence);
        else {
                printf("%s: version %lld ROLLED BACK to %lld: %s\n", name, (long long)rep.to_version,
                       (long long)rep.from_version, rep.evidence);
                if (rep.rollback_s >= 0)
                        printf("rollback: previous version %lld healthy again %.2f s after the failure threshold\n",
                               (long long)rep.from_version, rep.rollback_s);
                ret = 1;
        }
        wl_cli_close(&w);
        return ret;
}

json_t *cli_workload_status(const char *state_dir, const struct berth_config *cfg,
                            const struct containerd_backend_opts *ctrd)
{
        struct wl_cli w;
        json_t *st = NULL;
        if (wl_cli_open(&w, state_dir, cfg, ctrd, NULL, false) >= 0)
                st = workload_engine_status(w.eng);
        wl_cli_close(&w);
        return st;
}

void cli_print_workload_status(json_t *st)
{
        size_t i, k;
        json_t *b, *wl;
        printf("workloads:\n");
        json_array_foreach(st, i, b) {
                printf("  %s: running version %lld (previous %lld)\n", json_string_value(json_object_get(b, "bundle")),
                       (long long)json_integer_value(json_object_get(b, "current")),
                       (long long)json_integer_value(json_object_get(b, "previous")));
                json_t *u = json_object_get(b, "lastUpdate");
                if (u)
                        printf("    last update (%s %lld → %lld): %s — %s\n",
                               json_string_value(json_object_get(u, "kind")),
                               (long long)json_integer_value(json_object_get(u, "from")),
                               (long long)json_integer_value(json_object_get(u, "to")),
                               json_string_value(json_object_get(u, "state")),
                               json_string_value(json_object_get(u, "evidence")));
                if (json_object_get(b, "error"))
                        printf("    error: %s\n", json_string_value(json_object_get(b, "error")));
                json_array_foreach(json_object_get(b, "workloads"), k, wl) {
                        printf("    %-16s v%lld %-10s pid %-7lld restarts %lld  %s  (%s: %s)\n",
                               json_string_value(json_object_get(wl, "name")),
                               (long long)json_integer_value(json_object_get(wl, "version")),
                               json_string_value(json_object_get(wl, "state")),
                               (long long)json_integer_value(json_object_get(wl, "pid")),
                               (long long)json_integer_value(json_object_get(wl, "restarts")),
                               json_is_true(json_object_get(wl, "healthy")) ? "healthy" : "NOT healthy",
                               json_string_value(json_object_get(wl, "probe")),
                               json_string_value(json_object_get(wl, "lastProbe")));
                }
        }
}

static int parse_common(int argc, char **argv, const char *usage, int nargs, const char **state, const char **config,
                        const char **data_dir, struct containerd_backend_opts *ctrd)
{
        static const struct option opts[] = {
                {"state-dir", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
                {"containerd", required_argument, NULL, 'C'}, {"namespace", required_argument, NULL, 'N'},
                {"snapshotter", required_argument, NULL, 'S'}, {"data-dir", required_argument, NULL, 'D'},
                {"help", no_argument, NULL, 'h'}, {0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "s:c:h", opts, NULL)) >= 0) {
                switch (c) {
                case 's': *state = optarg; break;
                case 'c': *config = optarg; break;
                case 'C': ctrd->address = optarg; break;
                case 'N': ctrd->ns = optarg; break;
                case 'S': ctrd->snapshotter = optarg; break;
                case 'D': *data_dir = optarg; break;
                case 'h': printf("%s", usage); return 0;
                default: return EXIT_USAGE;
                }
        }
        if (nargs >= 0 ? argc - optind != nargs : argc - optind > 1) {
                fprintf(stderr, "%s", usage);
                return EXIT_USAGE;
        }
        return -1;
}

#define COMMON_HELP                                                                                                   \
        "  --state-dir DIR      state directory (config 'state_dir', default " BERTH_DEFAULT_STATE_DIR ")\n"           \
        "  --config FILE        configuration file (default " BERTH_DEFAULT_CONFIG ", optional)\n"                    \
        "  --containerd SOCKET  containerd socket (config 'containerd.address')\n"                                    \
        "  --namespace NS       containerd namespace (config 'containerd.namespace')\n"                               \
        "  --snapshotter S      snapshotter (config 'containerd.snapshotter')\n"                                      \
        "  --data-dir DIR       volumes (config 'workloads.data_dir', default /var/lib/berth/data)\n"

int cmd_activate(int argc, char **argv)
{
        static const char usage[] =
                "Usage: berth activate [OPTIONS] NAME VERSION\n\n"
                "Switches the workloads of bundle NAME to VERSION (imported before): stops the\n"
                "running set in reverse start order, starts the new one in order, probes it for\n"
                "the bundle's soak time, then commits, or rolls back to the previous version by\n"
                "itself. Resumes an interrupted activation of the same version. Exit 0 when\n"
                "committed, 1 when rolled back or failed.\n\n" COMMON_HELP;
        const char *state = NULL, *config = NULL, *data_dir = NULL;
        struct containerd_backend_opts ctrd = {0};
        int r = parse_common(argc, argv, usage, 2, &state, &config, &data_dir, &ctrd);
        if (r >= 0)
                return r;
        char *end;
        errno = 0;
        long long v = strtoll(argv[optind + 1], &end, 10);
        if (errno || *end || v < 1) {
                log_error("VERSION must be a positive integer");
                return EXIT_USAGE;
        }
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        if (!state)
                state = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
        return cli_activate(state, cfg, &ctrd, data_dir, argv[optind], v, false);
}

int cmd_rollback(int argc, char **argv)
{
        static const char usage[] =
                "Usage: berth rollback [OPTIONS] NAME\n\n"
                "Returns bundle NAME to its previous committed version (kept until the next\n"
                "commit), with the same switch and probes as an update. Exit 0 when the previous\n"
                "version is committed again.\n\n" COMMON_HELP;
        const char *state = NULL, *config = NULL, *data_dir = NULL;
        struct containerd_backend_opts ctrd = {0};
        int r = parse_common(argc, argv, usage, 1, &state, &config, &data_dir, &ctrd);
        if (r >= 0)
                return r;
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        if (!state)
                state = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
        return cli_activate(state, cfg, &ctrd, data_dir, argv[optind], 0, true);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

int cmd_supervise(int argc, char **argv)
{
        static const char usage[] =
                "Usage: berth supervise [OPTIONS] [SECONDS]\n\n"
                "Runs the workload engine in the foreground until SIGTERM/SIGINT (or for SECONDS):\n"
                "adopts running workloads, stops what must not run, resumes an interrupted\n"
                "update, restarts crashed or OOM-killed workloads per their restart policy and\n"
                "probes them (containerd task events wake it at once). Prints the workload status\n"
                "as JSON when it ends. (A stand-in for the agent daemon, which embeds the\n"
                "same engine.)\n\n" COMMON_HELP;
        const char *state = NULL, *config = NULL, *data_dir = NULL;
        struct containerd_backend_opts ctrd = {0};
        int r = parse_common(argc, argv, usage, -1, &state, &config, &data_dir, &ctrd);
        if (r >= 0)
                return r;
        double seconds = optind < argc ? strtod(argv[optind], NULL) : 0;
        _cleanup_(config_freep) struct berth_config *cfg = NULL;
        if (cli_load_config(config, &cfg) < 0)
                return 1;
        if (!state)
                state = config_get(cfg, "state_dir", BERTH_DEFAULT_STATE_DIR);
        struct wl_cli w;
        if (wl_cli_open(&w, state, cfg, &ctrd, data_dir, true) < 0) {
                wl_cli_close(&w);
                return 1;
        }
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        berr e = {0};
        r = workload_engine_watch_events(w.eng, &e);
        if (r >= 0)
                r = workload_engine_start(w.eng, &e);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t next = 0;
        bool woken = true;
        while (r >= 0 && !stop_requested) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
                if (seconds > 0 && (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
                        break;
                /* A round when one is due or containerd reported a task event. */
                if (woken || now_ms >= next) {
                        r = workload_engine_tick(w.eng, &next, &e);
                        woken = false;
                        continue;
                }
                /* Wake at least once a second to notice SIGTERM and the duration. */
                woken = workload_engine_wait(w.eng, next - now_ms > 1000 ? now_ms + 1000 : next) > 0;
        }
        if (r < 0)
                log_error_errno(r, "%s", berr_msg(&e, r));
        json_t *st = workload_engine_status(w.eng);
        char *out = st ? json_dumps(st, JSON_INDENT(2)) : NULL;
        if (out)
                printf("%s\n", out);
        free(out);
        json_decref(st);
        wl_cli_close(&w);
        return r < 0 ? 1 : 0;
}
