/* SPDX-License-Identifier: Apache-2.0 */
/* settings.c — berth-server's config file → struct server (see settings.h).
 *
 * Reads and validates every [server], [ddi], [mgmt], [bundles] and [telemetry] key, the secrets they
 * point at (tokens, PEM files) and creates the admin token on first start. Nothing here
 * opens sockets or the database.
 */
#include "server-stub/conf/settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "server-stub/auth/auth.h"
#include "server-stub/core/server.h"

#define MAX_PEM 65536
#define MAX_TOKEN_FILE 4096
#define TELEMETRY_KEEP_MAX 1000000u

static const char *const known_keys[] = {
        "server.state_dir", "server.trust_dir", "server.tenant", "server.ports_file", "server.log_level",
        "ddi.listen", "ddi.public_url", "ddi.allowed_hosts", "ddi.cert", "ddi.key", "ddi.client_ca", "ddi.require_client_cert",
        "ddi.gateway_token", "ddi.gateway_token_file", "ddi.auto_register", "ddi.polling_sleep", "ddi.threads",
        "ddi.max_connections", "ddi.max_connections_per_address", "ddi.request_timeout", "ddi.idle_timeout",
        "ddi.max_body", "ddi.tls_priorities",
        "mgmt.listen", "mgmt.admin_token", "mgmt.admin_token_file", "mgmt.cert", "mgmt.key", "mgmt.ca_file",
        "mgmt.max_bundle_size", "mgmt.max_body", "mgmt.max_connections", "mgmt.max_connections_per_address",
        "mgmt.request_timeout", "mgmt.idle_timeout",
        "rollout.tick_ms", "bundles.insecure_skip_verify", "telemetry.keep", "server.new_token_key", NULL,
};

static void warn_unknown(const char *key, void *ud)
{
        log_warning("config: unknown key '%s' ignored", key);
}

/* Reads a secret (a token) from a file only others cannot read. */
static int read_trimmed(const char *path, size_t max, char **ret, berr *e)
{
        char *buf;
        size_t len;
        mode_t mode = 0;
        int r = read_secret_file(path, max, &buf, &len, &mode);
        if (r == -EPERM)
                return berr_set(e, r, "%s holds a secret but is readable by others or writable by its group "
                                      "(mode %04o); chmod 600 it (640 to share it with the service's group)",
                                path, (unsigned)mode);
        if (r < 0)
                return berr_set(e, r, "cannot read %s: %s", path, strerror(-r));
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
                buf[--len] = 0;
        *ret = buf;
        return 0;
}

static int load_secret(const struct berth_config *c, const char *key, const char *file_key, char **ret, berr *e)
{
        const char *v = config_get(c, key, NULL);
        const char *f = config_get(c, file_key, NULL);
        *ret = NULL;
        if (v) {
                *ret = strdup(v);
                return *ret ? 0 : -ENOMEM;
        }
        if (f)
                return read_trimmed(f, MAX_TOKEN_FILE, ret, e);
        return 0;
}

static bool polling_sleep_valid(const char *s)
{
        /* hawkBit's HH:MM:SS; the hours may exceed 24 for sleeps of a day or more. */
        unsigned h, m, sec;
        int n = 0;
        size_t len = strlen(s);
        return len >= 8 && len <= 10 && sscanf(s, "%4u:%2u:%2u%n", &h, &m, &sec, &n) == 3 && !s[n] && m < 60 &&
               sec < 60 && s[len - 3] == ':' && s[len - 6] == ':';
}

void settings_free(struct server *s)
{
        free(s->state_dir);
        free(s->artifacts_dir);
        free(s->spool_dir);
        free(s->trust_dir);
        free(s->tenant);
        free(s->public_url);
        free(s->allowed_hosts);
        free(s->gateway_token);
        free(s->admin_token);
}

int settings_admin_token(struct server *s, const struct berth_config *c, berr *e)
{
        int r = load_secret(c, "mgmt.admin_token", "mgmt.admin_token_file", &s->admin_token, e);
        if (r < 0 || s->admin_token)
                return r;
        /* No token configured: use (or create) STATE/admin.token, mode 0600. */
        _cleanup_free_ char *p = path_join(s->state_dir, "admin.token");
        if (!p)
                return -ENOMEM;
        if (access(p, F_OK) == 0)
                return read_trimmed(p, MAX_TOKEN_FILE, &s->admin_token, e);
        char tok[33];
        if ((r = auth_token_new(tok)) < 0 || (r = write_file_atomic(p, tok, strlen(tok), 0600)) < 0)
                return berr_set(e, r, "cannot create the admin token %s: %s", p, strerror(-r));
        s->admin_token = strdup(tok);
        log_notice("created admin token in %s", p);
        return s->admin_token ? 0 : -ENOMEM;
}

int settings_token_key(struct server *s, const struct berth_config *c, int64_t keyed, berr *e)
{
        _cleanup_free_ char *p = path_join(s->state_dir, "token.key");
        if (!p)
                return -ENOMEM;
        int r;
        if (access(p, F_OK) == 0) {
                _cleanup_free_ char *hex = NULL;
                if ((r = read_trimmed(p, MAX_TOKEN_FILE, &hex, e)) < 0)
                        return r;
                if (auth_key_parse(hex, s->token_key) < 0)
                        return berr_set(e, -EBADMSG, "%s is not 64 lowercase hex characters; restore it from the "
                                                     "backup of %s", p, s->state_dir);
                return 0;
        }
        bool fresh = false;
        if ((r = config_get_bool(c, "server.new_token_key", false, &fresh, e)) < 0)
                return r;
        if (keyed > 0 && !fresh)
                return berr_set(e, -ENOENT,
                                "%s is missing, but the tokens of %lld targets are hashed with it: restore it from "
                                "the backup of %s (it belongs with server.db). If it is lost, start once with "
                                "--set server.new_token_key=true and re-issue those targets' tokens (target add)",
                                p, (long long)keyed, s->state_dir);
        char hex[2 * AUTH_KEY_LEN + 1];
        if ((r = auth_key_new(s->token_key)) < 0)
                return berr_set(e, r, "cannot make a token key: no random bytes");
        auth_key_format(s->token_key, hex);
        if ((r = write_file_atomic(p, hex, strlen(hex), 0600)) < 0)
                return berr_set(e, r, "cannot create the token key %s: %s", p, strerror(-r));
        if (keyed > 0)
                log_warning("made a new token key %s: the tokens of %lld targets no longer work until they are "
                            "re-issued (target add)", p, (long long)keyed);
        else
                log_notice("created the token key %s (target tokens are stored as HMAC-SHA256 under it)", p);
        return 0;
}

int settings_load(struct server *s, const struct berth_config *c, berr *e)
{
        int r;
        const char *sd = config_get(c, "server.state_dir", "/var/lib/berth-server");
        s->state_dir = strdup(sd);
        s->artifacts_dir = path_join(sd, "artifacts");
        s->spool_dir = path_join(sd, "spool");
        s->trust_dir = strdup(config_get(c, "server.trust_dir", "/etc/berth-server/trust"));
        s->tenant = strdup(config_get(c, "server.tenant", "default"));
        const char *pu = config_get(c, "ddi.public_url", NULL);
        s->public_url = pu ? strdup(pu) : NULL;
        if (!s->state_dir || !s->artifacts_dir || !s->spool_dir || !s->trust_dir || !s->tenant || (pu && !s->public_url))
                return -ENOMEM;
        if (s->public_url && strlen(s->public_url) > 0 && s->public_url[strlen(s->public_url) - 1] == '/')
                s->public_url[strlen(s->public_url) - 1] = 0;
        if (s->public_url && strncmp(s->public_url, "https://", 8) && strncmp(s->public_url, "http://", 7))
                return berr_set(e, -EINVAL, "config ddi.public_url '%s' must start with https:// (or http://)",
                                s->public_url);
        const char *ah = config_get(c, "ddi.allowed_hosts", NULL);
        if (ah && !(s->allowed_hosts = strdup(ah)))
                return -ENOMEM;
        if ((r = config_get_bool(c, "ddi.require_client_cert", false, &s->require_client_cert, e)) < 0 ||
            (r = config_get_bool(c, "ddi.auto_register", false, &s->auto_register, e)) < 0 ||
            (r = config_get_bool(c, "bundles.insecure_skip_verify", false, &s->insecure_skip_verify, e)) < 0)
                return r;
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"error", LOG_LEVEL_ERROR}, {"warning", LOG_LEVEL_WARNING}, {"notice", LOG_LEVEL_NOTICE},
                      {"info", LOG_LEVEL_INFO}, {"debug", LOG_LEVEL_DEBUG}};
        const char *ll = config_get(c, "server.log_level", NULL);
        if (ll) {
                size_t i = 0;
                while (i < ELEMENTSOF(levels) && strcmp(levels[i].name, ll))
                        i++;
                if (i == ELEMENTSOF(levels))
                        return berr_set(e, -EINVAL, "config server.log_level '%s' must be error, warning, notice, info or debug", ll);
                log_set_max_level(levels[i].level);
        }
        const char *ps = config_get(c, "ddi.polling_sleep", "00:05:00");
        if (!polling_sleep_valid(ps))
                return berr_set(e, -EINVAL, "config ddi.polling_sleep '%s' must be HH:MM:SS", ps);
        snprintf(s->polling_sleep, sizeof s->polling_sleep, "%s", ps);
        if ((r = load_secret(c, "ddi.gateway_token", "ddi.gateway_token_file", &s->gateway_token, e)) < 0)
                return r;
        if (s->gateway_token && strlen(s->gateway_token) < 16)
                return berr_set(e, -EINVAL, "the gateway token must be at least 16 characters");
        uint64_t keep;
        if ((r = config_get_u64(c, "telemetry.keep", 1000, &keep, e)) < 0)
                return r;
        if (keep == 0 || keep > TELEMETRY_KEEP_MAX)
                return berr_set(e, -EINVAL, "config telemetry.keep must be 1-%u records per target", TELEMETRY_KEEP_MAX);
        s->telemetry_keep = (unsigned)keep;
        return 0;
}

int settings_pem(const struct berth_config *c, const char *key, char **ret, berr *e)
{
        const char *p = config_get(c, key, NULL);
        *ret = NULL;
        if (!p)
                return 0;
        size_t len;
        int r = read_file_bounded(p, MAX_PEM, ret, &len);
        return r < 0 ? berr_set(e, r, "config %s: cannot read %s: %s", key, p, strerror(-r)) : 0;
}

void settings_warn_unknown(const struct berth_config *c)
{
        config_foreach_unknown(c, known_keys, warn_unknown, NULL);
}
