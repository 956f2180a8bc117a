/* SPDX-License-Identifier: Apache-2.0 */
/* settings.c — agent.conf keys, defaults and checks (see settings.h and README.md). */
#include "daemon/settings.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "ctl/ctl.h"
#include "ddi/ddi.h"

#define TOKEN_MAX 4096

const char *const agent_settings_known_keys[] = {
        "state_dir", "trust_dir",
        "server.url", "server.tenant", "server.controller_id", "server.token", "server.token_file",
        "server.gateway_token", "server.gateway_token_file", "server.ca_file", "server.cert", "server.key",
        "server.poll_min", "server.poll_max", "server.poll_jitter", "server.retry_min", "server.retry_max",
        "server.connect_timeout", "server.insecure",
        "download.bandwidth", "download.chunk_size", "download.stall_timeout", "download.space_margin",
        "update.backends", "update.maintenance_window", "update.auto_confirm",
        "control.socket", "control.group",
        "telemetry.enabled", "telemetry.interval", "telemetry.max_records", "telemetry.max_bytes", "telemetry.max_age",
        "metrics.listen",
        "peers.key_file", "peers.listen", "peers.peers", "peers.rate", "peers.max_connections", "peers.discovery",
        "peers.group", "peers.interface", "peers.keep_for",
        "budget.limit", "budget.period", "budget.per_update", "budget.low",
        /* read by the backends themselves */
        "registry.url", "registry.ca_file", "registry.username", "registry.password", "registry.password_file",
        "registry.prefix", "registry.insecure", "registry.chunk_size", "registry.parallel",
        "registry.monolithic_max", "registry.upstreams", "usb.auto_import",
        "containerd.address", "containerd.namespace", "containerd.snapshotter", "containerd.keep_layers", "containerd.unpack",
        /* read by the workload engine */
        "workloads.data_dir", "workloads.log_dir", "workloads.log_keep", "workloads.log_max_bytes",
        "workloads.log_check_ms", "workloads.supervise_ms",
        NULL,
};

int parse_size(const char *s, uint64_t *ret)
{
        if (!s || !*s)
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *s == '-')
                return -EINVAL;
        uint64_t mul = 1;
        if (*end) {
                switch (*end) {
                case 'k': case 'K': mul = 1024ULL; break;
                case 'm': case 'M': mul = 1024ULL * 1024; break;
                case 'g': case 'G': mul = 1024ULL * 1024 * 1024; break;
                default: return -EINVAL;
                }
                end++;
                if (*end == 'i')
                        end++;
                if (*end == 'B')
                        end++;
                if (*end)
                        return -EINVAL;
        }
        if (v > UINT64_MAX / mul)
                return -ERANGE;
        *ret = v * mul;
        return 0;
}

/* A string setting; an empty value counts as unset ("key =" in a config file). */
static const char *get_str(const struct berth_config *c, const char *key, const char *def)
{
        const char *v = config_get(c, key, NULL);
        return v && *v ? v : def;
}

static int get_size(const struct berth_config *c, const char *key, uint64_t def, uint64_t *ret, berr *e)
{
        const char *v = config_get(c, key, NULL);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (parse_size(v, ret) < 0)
                return berr_set(e, -EINVAL, "config %s = '%s': expected a size in bytes (suffix k, M or G allowed)", key, v);
        return 0;
}

static int get_secs(const struct berth_config *c, const char *key, uint64_t def, uint64_t min, uint64_t max,
                    uint64_t *ret, berr *e)
{
        int r = config_get_u64(c, key, def, ret, e);
        if (r < 0)
                return r;
        if (*ret < min || *ret > max)
                return berr_set(e, -ERANGE, "config %s = %llu: must be between %llu and %llu", key,
                                (unsigned long long)*ret, (unsigned long long)min, (unsigned long long)max);
        return 0;
}

static int read_token(const struct berth_config *c, const char *key, const char *file_key, char **ret, berr *e)
{
        const char *v = get_str(c, key, NULL);
        const char *f = get_str(c, file_key, NULL);
        *ret = NULL;
        if (f && *f) {
                char *buf = NULL;
                size_t len = 0;
                mode_t mode = 0;
                int r = read_secret_file(f, TOKEN_MAX, &buf, &len, &mode);
                if (r == -EPERM)
                        return berr_set(e, r, "%s %s is readable by others or writable by its group (mode %04o); "
                                              "chmod 600 it", file_key, f, (unsigned)mode);
                if (r < 0)
                        return berr_set(e, r, "cannot read %s %s: %s", file_key, f, strerror(-r));
                while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
                        buf[--len] = 0;
                *ret = buf;
        } else if (v && *v) {
                *ret = strdup(v);
                if (!*ret)
                        return -ENOMEM;
        }
        if (*ret && strpbrk(*ret, "\r\n")) {
                free(*ret);
                *ret = NULL;
                return berr_set(e, -EINVAL, "config %s: the token must be one line", key);
        }
        return 0;
}

void agent_settings_clear(struct agent_settings *s)
{
        free(s->authorization);
        s->authorization = NULL;
}

int agent_settings_load(const struct berth_config *c, struct agent_settings *s, berr *e)
{
        memset(s, 0, sizeof *s);
        s->state_dir = get_str(c, "state_dir", "/var/lib/berth");
        s->trust_dir = get_str(c, "trust_dir", "/etc/berth/trust");
        s->server_url = get_str(c, "server.url", NULL);
        if (s->server_url && strncmp(s->server_url, "https://", 8) && strncmp(s->server_url, "http://", 7))
                return berr_set(e, -EINVAL, "config server.url = '%s': must start with https:// (or http:// for tests)",
                                s->server_url);
        s->tenant = get_str(c, "server.tenant", "default");
        if (gethostname(s->hostname, sizeof s->hostname - 1) < 0)
                snprintf(s->hostname, sizeof s->hostname, "localhost");
        s->controller_id = get_str(c, "server.controller_id", s->hostname);
        if (!ddi_id_valid(s->tenant))
                return berr_set(e, -EINVAL, "config server.tenant = '%s': use letters, digits, '-', '_', '.'", s->tenant);
        if (!ddi_id_valid(s->controller_id))
                return berr_set(e, -EINVAL, "config server.controller_id = '%s': use letters, digits, '-', '_', '.' "
                                "(at most %d)", s->controller_id, DDI_MAX_ID);
        char *tok = NULL, *gw = NULL;
        int r = read_token(c, "server.token", "server.token_file", &tok, e);
        if (r >= 0)
                r = read_token(c, "server.gateway_token", "server.gateway_token_file", &gw, e);
        if (r < 0) {
                free(tok);
                return r;
        }
        if (tok || gw) {
                r = asprintf(&s->authorization, "%s %s", tok ? "TargetToken" : "GatewayToken", tok ? tok : gw);
                if (r < 0)
                        s->authorization = NULL;
        }
        free(tok);
        free(gw);
        if (r < 0)
                return -ENOMEM;
        s->ca_file = get_str(c, "server.ca_file", NULL);
        s->cert_file = get_str(c, "server.cert", NULL);
        s->key_file = get_str(c, "server.key", NULL);
        if (!s->cert_file != !s->key_file)
                return berr_set(e, -EINVAL, "config server.cert and server.key go together");
        r = config_get_bool(c, "server.insecure", false, &s->insecure, e);
        if (r < 0)
                return r;

        uint64_t v;
        if ((r = get_secs(c, "server.poll_min", 10, 1, 86400, &v, e)) < 0)
                return r;
        s->poll.min_ms = v * 1000;
        if ((r = get_secs(c, "server.poll_max", 3600, 1, 7 * 86400, &v, e)) < 0)
                return r;
        s->poll.max_ms = v * 1000;
        if (s->poll.max_ms < s->poll.min_ms)
                return berr_set(e, -EINVAL, "config server.poll_max is smaller than server.poll_min");
        if ((r = get_secs(c, "server.poll_jitter", 10, 0, 50, &v, e)) < 0)
                return r;
        s->poll.jitter_pct = (unsigned)v;
        if ((r = get_secs(c, "server.retry_min", 5, 1, 86400, &v, e)) < 0)
                return r;
        s->poll.retry_min_ms = v * 1000;
        if ((r = get_secs(c, "server.retry_max", 600, 1, 7 * 86400, &v, e)) < 0)
                return r;
        s->poll.retry_max_ms = v * 1000;
        if (s->poll.retry_max_ms < s->poll.retry_min_ms)
                return berr_set(e, -EINVAL, "config server.retry_max is smaller than server.retry_min");
        if ((r = get_secs(c, "server.connect_timeout", 30, 1, 600, &v, e)) < 0)
                return r;
        s->connect_timeout = (unsigned)v;

        if ((r = get_size(c, "download.bandwidth", 0, &s->bandwidth, e)) < 0 ||
            (r = get_size(c, "download.chunk_size", 1024 * 1024, &s->chunk_size, e)) < 0 ||
            (r = get_size(c, "download.space_margin", 16 * 1024 * 1024, &s->space_margin, e)) < 0)
                return r;
        if (s->chunk_size < 4096 || s->chunk_size > 1024ULL * 1024 * 1024)
                return berr_set(e, -ERANGE, "config download.chunk_size must be between 4k and 1G");
        if ((r = get_secs(c, "download.stall_timeout", 60, 1, 3600, &v, e)) < 0)
                return r;
        s->stall_timeout = (unsigned)v;

        s->backends = get_str(c, "update.backends", "store");
        r = window_parse(config_get(c, "update.maintenance_window", ""), &s->window, e);
        if (r < 0)
                return berr_prefix(e, r, "config update.maintenance_window");

        bool ac = false;
        r = config_get_bool(c, "update.auto_confirm", false, &ac, e);
        if (r < 0)
                return r;
        s->auto_confirm = config_get(c, "update.auto_confirm", NULL) ? ac : -1;
        r = config_get_bool(c, "telemetry.enabled", true, &s->tm_enabled, e);
        if (r < 0)
                return r;
        const char *iv = config_get(c, "telemetry.interval", "300");
        char *iv_end;
        errno = 0;
        double d = strtod(iv, &iv_end);
        if (errno || iv_end == iv || *iv_end || !(d == 0 || (d >= 0.05 && d <= 86400)))
                return berr_set(e, -EINVAL, "config telemetry.interval = '%s': seconds between samples, 0.05 to "
                                "86400 (fractions allowed), or 0 for events only", iv);
        s->tm_interval_ms = (uint64_t)(d * 1000 + 0.5);
        if ((r = get_size(c, "budget.limit", 0, &s->budget_limit, e)) < 0 ||
            (r = get_size(c, "budget.per_update", 0, &s->budget_per_update, e)) < 0 ||
            (r = get_secs(c, "budget.period", 30, 1, 366, &v, e)) < 0)
                return r;
        s->budget_period_days = (unsigned)v;
        if ((r = get_secs(c, "budget.low", 20, 0, 100, &v, e)) < 0)
                return r;
        s->budget_low_pct = (unsigned)v;
        if ((r = config_get_u64(c, "telemetry.max_records", 20000, &s->tm_limits.max_records, e)) < 0 ||
            (r = get_size(c, "telemetry.max_bytes", 4 * 1024 * 1024, &s->tm_limits.max_bytes, e)) < 0 ||
            (r = get_secs(c, "telemetry.max_age", 7 * 86400, 60, 366 * 86400, &v, e)) < 0)
                return r;
        s->tm_limits.max_age = (int64_t)v;
        if (s->tm_limits.max_records < 10 || s->tm_limits.max_records > 10000000)
                return berr_set(e, -ERANGE, "config telemetry.max_records must be between 10 and 10000000");
        if (s->tm_limits.max_bytes < 4096)
                return berr_set(e, -ERANGE, "config telemetry.max_bytes must be at least 4k");
        s->metrics_listen = get_str(c, "metrics.listen", NULL);

        s->socket_path = get_str(c, "control.socket", CTL_DEFAULT_SOCKET);
        s->socket_group = (gid_t)-1;
        const char *g = get_str(c, "control.group", NULL);
        if (g) {
                struct group *gr = getgrnam(g);
                char *end;
                unsigned long n = strtoul(g, &end, 10);
                if (gr)
                        s->socket_group = gr->gr_gid;
                else if (!*end)
                        s->socket_group = (gid_t)n;
                else
                        return berr_set(e, -ENOENT, "config control.group = '%s': no such group", g);
        }
        return 0;
}
