/* SPDX-License-Identifier: Apache-2.0 */
/* server.c — berth-server's lifecycle: config → dirs → db → engine → listeners → wait.
 *
 * Signals are blocked before any thread starts so that only sigwait() here sees them.
 * Shutdown order is the reverse of start: listeners first (no new requests), then the
 * engine (last tick, last poll flush), then the database.
 */
#include "server-stub/core/server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "server-stub/conf/settings.h"
#include "server-stub/db/db.h"
#include "server-stub/db/targets.h"
#include "server-stub/ddi/ddi.h"
#include "server-stub/http/http.h"
#include "server-stub/http/linger.h"
#include "server-stub/mgmt/mgmt.h"
#include "server-stub/rollout/rollout.h"

static int write_ports(const char *path, unsigned ddi, unsigned mgmt, berr *e)
{
        char buf[64];
        int n = snprintf(buf, sizeof buf, "ddi=%u\nmgmt=%u\n", ddi, mgmt);
        int r = write_file_atomic(path, buf, (size_t)n, 0644);
        return r < 0 ? berr_set(e, r, "cannot write ports file %s: %s", path, strerror(-r)) : 0;
}

/* Thousands of keep-alive devices need as many fds; raise the soft limit up to the hard one. */
static void raise_fd_limit(uint64_t want)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
                return;
        rlim_t target = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? (rlim_t)want : rl.rlim_max;
        rl.rlim_cur = target;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || target < want)
                log_warning("open-file limit is %llu, below ddi.max_connections; raise it (LimitNOFILE=)",
                            (unsigned long long)target);
}

int server_run(const char *config_path, char *const *overrides, berr *e)
{
        _cleanup_(config_freep) struct berth_config *c = NULL;
        int r = config_load(config_path, false, &c, e);
        if (r < 0)
                return r;
        for (char *const *o = overrides; o && *o; o++) {
                _cleanup_free_ char *kv = strdup(*o);
                char *eq = kv ? strchr(kv, '=') : NULL;
                if (!eq)
                        return berr_set(e, -EINVAL, "override '%s' is not section.key=value", *o);
                *eq = 0;
                config_set(c, kv, eq + 1);
        }
        settings_warn_unknown(c);

        struct server s = {0};
        _cleanup_free_ char *dbpath = NULL, *ddi_cert = NULL, *ddi_key = NULL, *ddi_ca = NULL, *mgmt_cert = NULL, *mgmt_key = NULL;
        struct http_server *ddi = NULL, *mgmt = NULL;
        uint64_t threads, max_conn, per_addr, req_to, idle, max_body, max_bundle, mgmt_body, tick;
        uint64_t m_conn, m_per_addr, m_req_to, m_idle;
        if ((r = settings_load(&s, c, e)) < 0)
                goto out;
        /* Uploads interrupted by a crash left their spool files behind: none is ever
         * resumed, so the spool starts empty. */
        if ((r = mkdir_p(s.state_dir, 0750)) < 0 || (r = mkdir_p(s.artifacts_dir, 0750)) < 0 ||
            (r = rm_rf(s.spool_dir)) < 0 || (r = mkdir_p(s.spool_dir, 0700)) < 0) {
                berr_set(e, r, "cannot create state directories under %s: %s", s.state_dir, strerror(-r));
                goto out;
        }
        if ((r = settings_admin_token(&s, c, e)) < 0)
                goto out;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if ((r = config_get_u64(c, "ddi.threads", ncpu > 0 ? (uint64_t)ncpu : 2, &threads, e)) < 0 ||
            (r = config_get_u64(c, "ddi.max_connections", 20000, &max_conn, e)) < 0 ||
            (r = config_get_u64(c, "ddi.max_connections_per_address", 1000, &per_addr, e)) < 0 ||
            (r = config_get_u64(c, "ddi.request_timeout", 10, &req_to, e)) < 0 ||
            (r = config_get_u64(c, "ddi.idle_timeout", 120, &idle, e)) < 0 ||
            (r = config_get_u64(c, "mgmt.max_connections", 64, &m_conn, e)) < 0 ||
            (r = config_get_u64(c, "mgmt.max_connections_per_address", 16, &m_per_addr, e)) < 0 ||
            (r = config_get_u64(c, "mgmt.request_timeout", 10, &m_req_to, e)) < 0 ||
            (r = config_get_u64(c, "mgmt.idle_timeout", 60, &m_idle, e)) < 0 ||
            (r = config_get_u64(c, "ddi.max_body", 65536, &max_body, e)) < 0 ||
            (r = config_get_u64(c, "mgmt.max_bundle_size", 8ULL << 30, &max_bundle, e)) < 0 ||
            (r = config_get_u64(c, "mgmt.max_body", 16ULL << 20, &mgmt_body, e)) < 0 ||
            (r = config_get_u64(c, "rollout.tick_ms", 1000, &tick, e)) < 0)
                goto out;
        if (threads == 0 || threads > 256 || tick == 0 || tick > 60000) {
                r = berr_set(e, -EINVAL, "config ddi.threads must be 1-256 and rollout.tick_ms 1-60000");
                goto out;
        }
        if (max_conn == 0 || max_conn > 1000000 || m_conn == 0 || m_conn > 10000 || per_addr > max_conn ||
            m_per_addr > m_conn) {
                r = berr_set(e, -EINVAL, "config ddi.max_connections must be 1-1000000 and mgmt.max_connections 1-10000; "
                                         "a max_connections_per_address (0: no limit) at most its max_connections");
                goto out;
        }
        if (req_to == 0 || req_to > 3600 || idle == 0 || idle > 86400 || m_req_to == 0 || m_req_to > 3600 ||
            m_idle == 0 || m_idle > 86400) {
                r = berr_set(e, -EINVAL, "config request_timeout must be 1-3600 seconds and idle_timeout 1-86400 "
                                         "(ddi and mgmt)");
                goto out;
        }
        if ((r = settings_pem(c, "ddi.cert", &ddi_cert, e)) < 0 || (r = settings_pem(c, "ddi.key", &ddi_key, e)) < 0 ||
            (r = settings_pem(c, "ddi.client_ca", &ddi_ca, e)) < 0 || (r = settings_pem(c, "mgmt.cert", &mgmt_cert, e)) < 0 ||
            (r = settings_pem(c, "mgmt.key", &mgmt_key, e)) < 0)
                goto out;
        if (!ddi_cert != !ddi_key || !mgmt_cert != !mgmt_key) {
                r = berr_set(e, -EINVAL, "config: a listener's cert and key must be given together");
                goto out;
        }
        if ((ddi_ca || s.require_client_cert) && !ddi_cert) {
                r = berr_set(e, -EINVAL, "config ddi.client_ca / ddi.require_client_cert need ddi.cert and ddi.key (TLS)");
                goto out;
        }
        if (s.require_client_cert && !ddi_ca) {
                r = berr_set(e, -EINVAL, "config ddi.require_client_cert needs ddi.client_ca");
                goto out;
        }
        if (!ddi_cert)
                log_warning("DDI listener runs without TLS (no ddi.cert); use this only for tests");
        const char *ml = config_get(c, "mgmt.listen", "127.0.0.1:8444");
        if (!mgmt_cert && strncmp(ml, "127.", 4) && strncmp(ml, "[::1]", 5))
                log_warning("management listener %s is not on loopback and has no TLS (mgmt.cert): "
                            "the admin token travels in clear text", ml);
        raise_fd_limit(max_conn + m_conn + 2 * LINGER_MAX_SOCKETS + 64);

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        dbpath = path_join(s.state_dir, "server.db");
        if (!dbpath || (r = sdb_open(dbpath, &s.db, e)) < 0)
                goto out;
        int64_t keyed = 0;
        if ((r = sdb_targets_keyed(s.db, &keyed)) < 0) {
                berr_set(e, r, "cannot read the targets of %s", dbpath);
                goto out;
        }
        if ((r = settings_token_key(&s, c, keyed, e)) < 0)
                goto out;
        if ((r = engine_start(&s, (unsigned)tick, &s.engine, e)) < 0)
                goto out;

        struct http_listen_opts dopts = {
                .address = config_get(c, "ddi.listen", "0.0.0.0:8443"),
                .cert_pem = ddi_cert, .key_pem = ddi_key, .client_ca_pem = ddi_ca,
                .tls_priorities = config_get(c, "ddi.tls_priorities", NULL),
                .threads = (unsigned)threads, .max_connections = (unsigned)max_conn,
                .max_per_address = (unsigned)per_addr, .request_timeout = (unsigned)req_to,
                .idle_timeout = (unsigned)idle, .max_body = max_body,
                .handler = ddi_handle, .userdata = &s,
        };
        if ((r = http_server_start(&dopts, &ddi, e)) < 0)
                goto out;
        struct http_listen_opts mopts = {
                .address = ml,
                .cert_pem = mgmt_cert, .key_pem = mgmt_key,
                /* A thread per connection: a handler may verify a bundle of gigabytes for
                 * minutes, which must not stall the other connections of a pool thread. */
                .threads = 0, .max_connections = (unsigned)m_conn, .max_per_address = (unsigned)m_per_addr,
                .request_timeout = (unsigned)m_req_to, .idle_timeout = (unsigned)m_idle,
                .max_body = mgmt_body, .max_spool = max_bundle, .spool_dir = s.spool_dir,
                .handler = mgmt_handle, .spool = mgmt_spool, .userdata = &s,
        };
        if ((r = http_server_start(&mopts, &mgmt, e)) < 0)
                goto out;
        log_info("berth-server: DDI on %s (port %u, %s), management on %s (port %u)", dopts.address,
                 http_server_port(ddi), ddi_cert ? "TLS" : "plain HTTP", mopts.address, http_server_port(mgmt));
        const char *pf = config_get(c, "server.ports_file", NULL);
        if (pf && (r = write_ports(pf, http_server_port(ddi), http_server_port(mgmt), e)) < 0)
                goto out;

        for (;;) {
                int sig;
                if (sigwait(&mask, &sig) != 0)
                        continue;
                if (sig == SIGHUP)
                        continue;
                log_info("berth-server: signal %d, shutting down", sig);
                break;
        }
        r = 0;
out:
        http_server_stop(ddi);
        http_server_stop(mgmt);
        engine_stop(s.engine);
        sdb_close(s.db);
        settings_free(&s);
        return r;
}
