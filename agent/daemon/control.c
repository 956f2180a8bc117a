/* SPDX-License-Identifier: Apache-2.0 */
/* control.c — the daemon side of the control socket (protocol in ctl/ctl.h):
 *
 *   {"cmd": "status"}                         → node status + "agent" + "update"
 *   {"cmd": "import", "source": "cli"|"usb"|"peers", "name": "…", "stateDir": "…"} + fd
 *     ("stored": true: fd holds only the bundle's head, its blobs are in the store:
 *     `berth import --from-peers`)
 *                                             → {"ok": true, "result": {…}}
 *   {"cmd": "activate", "bundle": "…", "version": N | "rollback": true}
 *                                             → {"ok": true, "result": {"started": …}}; the
 *                                               engine switches, the caller follows "status"
 *   {"cmd": "confirm" | "deny", "action": "ID", "reason": "…"}
 *                                             → {"ok": true}: the answer to a consent request
 *                                               is queued for the server, logged with the
 *                                               peer's uid
 *
 * The peer's credentials are checked before a byte is read. Requests are read and
 * answers written on the event loop without blocking (connset.h: a deadline per request,
 * a bounded number of clients). An import runs on a thread of its own, one at a time, and
 * is answered when it ends; it is serialised with the daemon's own update imports by the
 * store's lock (import.h), so the loop keeps serving polls, probes and `berth status`
 * meanwhile. "stateDir", when given, must be
 * the daemon's; otherwise the answer says so (error "other-state") and the client
 * works directly on the state it named.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "ctl/ctl.h"
#include "daemon/agent_int.h"
#include "daemon/bgjob.h"
#include "node/status.h"
#include "workload/engine.h"

/* Each request is read within REQUEST_TIMEOUT_S and its answer written within as long
 * again, without ever blocking the loop; at most CONTROL_MAX_CONN clients at once. */
#define REQUEST_TIMEOUT_S 5
#define CONTROL_MAX_CONN 16

static json_t *error_reply(const char *code, const char *msg)
{
        return json_pack("{s:b,s:s,s:s}", "ok", 0, "code", code, "error", msg);
}

static json_t *do_status(struct agent *a)
{
        json_t *st = node_status_json(a->db, a->cs, a->set.state_dir);
        if (!st)
                return error_reply("internal", "cannot read the node's state from the database");
        unsigned q = 0;
        (void)agentdb_outbox_count(a->db, &q);
        char lp[32];
        time_format_rfc3339(a->poll.last_ok, lp);
        json_object_set_new(st, "ok", json_true());
        json_object_set_new(st, "agent",
                            json_pack("{s:I,s:s,s:s?,s:s,s:s?,s:I,s:I,s:I,s:s?}", "pid", (json_int_t)getpid(), "status",
                                      a->status, "server", a->set.server_url, "controllerId", a->set.controller_id,
                                      "lastPoll", a->poll.last_ok ? lp : NULL, "pollFailures",
                                      (json_int_t)a->poll.failures, "pollsNotModified",
                                      (json_int_t)a->poll.not_modified, "outbox", (json_int_t)q, "lastError",
                                      a->poll.last_error[0] ? a->poll.last_error : NULL));
        json_object_set_new(st, "update", update_status_json(a));
        json_object_set_new(st, "wan", budget_json(a));
        json_object_set_new(st, "trust", trustroots_json(a));
        json_object_set_new(st, "consent", consent_status_json(a));
        struct tm_stats ts;
        if (agentdb_tm_stats(a->db, &ts) >= 0)
                json_object_set_new(st, "telemetry",
                                    json_pack("{s:b,s:I,s:I,s:I,s:I,s:b}", "enabled", a->set.tm_enabled, "queued",
                                              (json_int_t)ts.records, "bytes", (json_int_t)ts.bytes, "dropped",
                                              (json_int_t)ts.dropped, "sent", (json_int_t)a->metrics.tm_sent,
                                              "inFlight", a->tm.req != NULL));
        if (a->eng)
                json_object_set_new(st, "workloads", workload_engine_status(a->eng));
        return st;
}

/* An import for a client of the socket (a USB stick, `berth import`), on a thread of its
 * own (bgjob.h): the bundle is read, hashed, stored and preloaded while the loop goes on;
 * the client's answer is written when it ends. It owns everything the thread uses. */
#define CONTROL_MAX_HEAD (16u << 20)

struct control_import {
        struct agent *a;                /* for done(), on the loop only */
        struct conn *conn;              /* the client, answered later (connset.h) */
        struct bgjob *job;
        int fd;                         /* the bundle; berth_import_fd() owns it */
        char display[256];
        char source[8];
        bool stored;                    /* fd holds a verified head whose blobs are stored (--from-peers) */
        struct import_opts o;
        struct import_result res;
        berr e;
};

static int import_work(void *ud)
{
        struct control_import *im = ud;
        int fd = im->fd;
        im->fd = -1;
        FAULT_POINT("control.import_thread");
        if (im->stored) {
                /* `berth import --from-peers`: the head; the client put the blobs in the store. */
                _cleanup_close_ int hfd = fd;
                _cleanup_free_ uint8_t *head = malloc(CONTROL_MAX_HEAD);
                ssize_t n = head ? pread(hfd, head, CONTROL_MAX_HEAD, 0) : -1;
                if (n <= 0 || n == CONTROL_MAX_HEAD)
                        return berr_set(&im->e, -EINVAL, "the bundle head passed for %s cannot be read (empty or "
                                        "larger than %u bytes)", im->display, CONTROL_MAX_HEAD);
                return berth_import_stored(&im->o, head, (size_t)n, &im->res, &im->e);
        }
        return berth_import_fd(&im->o, fd, im->display, &im->res, &im->e);
}

static void import_free(struct control_import *im)
{
        if (im->fd >= 0)
                close(im->fd);
        free(im);
}

static void import_done(void *ud, int r)
{
        struct control_import *im = ud;
        struct agent *a = im->a;
        a->ctl.import = NULL;
        json_t *rep;
        if (!strncmp(a->status, "importing ", 10))
                agent_status(a, a->base_url ? "polling" : "idle (no server configured)");
        if (r < 0) {
                log_error("agent: import of %s (via %s) failed: %s", im->display, im->source, berr_msg(&im->e, r));
                rep = error_reply("import", berr_msg(&im->e, r));
        } else {
                const struct import_result *res = &im->res;
                log_info("agent: imported %s version %lld via %s%s", res->name, (long long)res->version, im->source,
                         res->already_installed ? " (already installed)" : "");
                if (a->base_url)
                        attrs_report_installed(a);
                rep = json_pack("{s:b,s:{s:s,s:I,s:s,s:b,s:i,s:i,s:i,s:i,s:I,s:I}}", "ok", 1, "result", "name",
                                res->name, "version", (json_int_t)res->version, "manifestDigest", res->digest,
                                "alreadyInstalled", res->already_installed, "images", (int)res->n_images,
                                "blobsStored", (int)res->blobs_stored, "blobsPresent", (int)res->blobs_present,
                                "blobsOtherPlatforms", (int)res->blobs_other_platforms,
                                "bytesStored", (json_int_t)res->bytes_stored, "bytesRead",
                                (json_int_t)res->bytes_read);
        }
        uint8_t *buf = NULL;
        size_t n = 0;
        if (!rep || ctl_encode(rep, &buf, &n) < 0)
                buf = NULL, n = 0; /* the client sees the connection close without an answer */
        conn_answer_later(im->conn, buf, n);
        json_decref(rep);
        import_free(im);
}

/* NULL when the import started (the answer comes from import_done). */
static json_t *do_import(struct agent *a, struct conn *c, json_t *req, int fd)
{
        if (fd < 0)
                return error_reply("usage", "import needs the bundle's file descriptor (SCM_RIGHTS)");
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return error_reply("usage", "the passed file descriptor is not a regular file");
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) {
                close(fd);
                return error_reply("usage", "the passed file descriptor is not open for reading");
        }
        if (a->ctl.import) {
                char msg[400];
                snprintf(msg, sizeof msg, "the agent is importing %s for another client; run this import again when "
                         "that one has finished", a->ctl.import->display);
                close(fd);
                return error_reply("busy", msg);
        }
        struct control_import *im = calloc(1, sizeof *im);
        if (!im) {
                close(fd);
                return error_reply("internal", "out of memory");
        }
        const char *src = json_string_value(json_object_get(req, "source"));
        if (!src || (strcmp(src, "cli") && strcmp(src, "usb") && strcmp(src, "peers")))
                src = "cli";
        im->stored = json_is_true(json_object_get(req, "stored"));
        const char *name = json_string_value(json_object_get(req, "name"));
        im->a = a;
        im->conn = c;
        im->fd = fd;
        snprintf(im->display, sizeof im->display, "%s", name ? name : "bundle");
        snprintf(im->source, sizeof im->source, "%s", src);
        im->o = (struct import_opts){
                .state_dir = a->set.state_dir,
                .trust_dir = a->set.trust_dir,
                .source = im->source,
                .backends = a->backends,
                .n_backends = a->n_backends,
                .config = a->cfg,
        };
        berr e = {0};
        int r = bgjob_start(a->ev, "control-import", import_work, import_done, im, &im->job, &e);
        if (r < 0) {
                import_free(im);
                return error_reply("import", berr_msg(&e, r));
        }
        a->ctl.import = im;
        agent_status(a, "importing %s", im->display);
        return NULL;
}

/* berth activate / berth rollback while the agent holds the workloads: the engine
 * starts the switch at its next round; the client follows it through "status". */
static json_t *do_activate(struct agent *a, json_t *req)
{
        const char *name = json_string_value(json_object_get(req, "bundle"));
        bool rollback = json_is_true(json_object_get(req, "rollback"));
        json_int_t version = json_integer_value(json_object_get(req, "version"));
        if (!name || (!rollback && version < 1))
                return error_reply("usage", "activate needs \"bundle\" and \"version\" (or \"rollback\": true)");
        if (!a->eng)
                return error_reply("no-workloads", "this agent runs no workloads (update.backends does not name "
                                                   "containerd)");
        int64_t busy_version = 0;
        const char *busy = update_bundle(a, &busy_version);
        if (busy && !strcmp(busy, name)) {
                char msg[300];
                snprintf(msg, sizeof msg, "the server's update of %s to version %lld is in progress (%s); wait for it "
                         "or cancel it on the server", name, (long long)busy_version, update_state_name(a));
                return error_reply("busy", msg);
        }
        berr e = {0};
        int r = rollback ? workload_rollback(a->eng, name, true, &e)
                         : workload_update_start(a->eng, name, (int64_t)version, true, &e);
        if (r < 0)
                return error_reply(r == -EALREADY ? "already" : r == -EBUSY ? "busy" : "activate", berr_msg(&e, r));
        if (rollback) {
                log_notice("agent: local rollback of %s requested through the control socket", name);
                telemetry_event(a, "agent", "local rollback of %s requested on the gateway", name);
        } else {
                log_notice("agent: local activation of %s version %lld requested through the control socket", name,
                           (long long)version);
                telemetry_event(a, "agent", "local activation of %s version %lld requested on the gateway", name,
                                (long long)version);
        }
        workloads_kick(a);
        return json_pack("{s:b,s:{s:b}}", "ok", 1, "result", "started", 1);
}

/* berth confirm / berth deny: the answer to the action that waits for consent. */
static json_t *do_consent(struct agent *a, int c, json_t *req, bool confirmed)
{
        const char *id = json_string_value(json_object_get(req, "action"));
        const char *reason = json_string_value(json_object_get(req, "reason"));
        if (!id)
                return error_reply("usage", "confirm and deny need \"action\"");
        struct ucred uc = {0};
        socklen_t n = sizeof uc;
        char who[300];
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &n) < 0)
                snprintf(who, sizeof who, "an unknown local user");
        else {
                struct passwd pw, *p = NULL;
                char buf[1024];
                if (getpwuid_r(uc.uid, &pw, buf, sizeof buf, &p) == 0 && p)
                        snprintf(who, sizeof who, "uid %u (%s)", (unsigned)uc.uid, p->pw_name);
                else
                        snprintf(who, sizeof who, "uid %u", (unsigned)uc.uid);
        }
        berr e = {0};
        int r = consent_answer(a, id, confirmed, who, reason, &e);
        if (r < 0)
                return error_reply(r == -ENOENT ? "not-waiting" : "consent", berr_msg(&e, r));
        return json_pack("{s:b}", "ok", 1);
}

static void send_reply(struct conn *c, json_t *rep)
{
        uint8_t *buf;
        size_t n;
        if (ctl_encode(rep, &buf, &n) < 0)
                return;
        conn_reply(c, buf, n);
}

/* The peer's credentials, before a byte is read. */
static int on_open(struct conn *c, void *ud)
{
        struct agent *a = ud;
        berr e = {0};
        int k = ctl_peer_allowed(conn_fd(c), a->set.socket_group, &e);
        if (k > 0)
                return 0;
        log_warning("agent: control socket: %s", berr_msg(&e, k < 0 ? k : -EPERM));
        json_t *rep = error_reply("denied", berr_msg(&e, k < 0 ? k : -EPERM));
        send_reply(c, rep);
        json_decref(rep);
        return 0;
}

static json_t *dispatch(struct agent *a, struct conn *c, json_t *req)
{
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        const char *sd = json_string_value(json_object_get(req, "stateDir"));
        char own[4096];
        if (sd && (!realpath(a->set.state_dir, own) || strcmp(sd, own)))
                return error_reply("other-state", "this agent manages another state directory");
        if (!cmd)
                return error_reply("usage", "a request needs \"cmd\"");
        if (!strcmp(cmd, "status"))
                return do_status(a);
        if (!strcmp(cmd, "import"))
                return do_import(a, c, req, conn_take_passed_fd(c));
        if (!strcmp(cmd, "activate"))
                return do_activate(a, req);
        if (!strcmp(cmd, "confirm") || !strcmp(cmd, "deny"))
                return do_consent(a, conn_fd(c), req, !strcmp(cmd, "confirm"));
        return error_reply("usage", "unknown command");
}

static int on_input(struct conn *c, const uint8_t *in, size_t len, void *ud)
{
        struct agent *a = ud;
        json_t *req = NULL;
        int r = ctl_parse(in, len, &req);
        if (r < 0)
                log_warning("agent: control socket: bad request: %s", strerror(-r));
        if (r <= 0)
                return r;
        json_t *rep = dispatch(a, c, req);
        bool later = !rep && a->ctl.import && a->ctl.import->conn == c;
        if (rep)
                send_reply(c, rep);
        json_decref(rep);
        json_decref(req);
        return later ? 2 : 1;
}

int control_start(struct agent *a, berr *e)
{
        int fd;
        int r = ctl_listen(a->set.socket_path, a->set.socket_group, &fd, e);
        if (r < 0)
                return r;
        a->ctl.conns = (struct connset){
                .ev = a->ev,
                .what = "control socket",
                .max = CONTROL_MAX_CONN,
                .deadline_usec = REQUEST_TIMEOUT_S * 1000000ULL,
                .max_in = 4 + CTL_MAX_MESSAGE,
                .on_input = on_input,
                .on_open = on_open,
                .userdata = a,
                .log_timeouts = true,
        };
        return connset_start(&a->ctl.conns, fd, e);
}

void control_stop(struct agent *a)
{
        struct control_import *im = a->ctl.import;
        if (im) {
                /* Its client's connection goes with the set below, unanswered. */
                log_info("agent: waiting for the import of %s to finish", im->display);
                bgjob_wait_free(im->job);
                import_free(im);
                a->ctl.import = NULL;
        }
        bool listening = a->ctl.conns.listen_fd >= 0;
        connset_stop(&a->ctl.conns);
        if (listening)
                unlink(a->set.socket_path);
}
