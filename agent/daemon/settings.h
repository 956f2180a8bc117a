/* SPDX-License-Identifier: Apache-2.0 */
/* settings.h — the agent daemon's configuration: every key of /etc/berth/agent.conf
 * that `berth agent` reads, with its default, parsed and checked once at start.
 * agent/daemon/README.md documents each key; agent/daemon/agent.conf.example shows them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "config/config.h"
#include "sched/backoff.h"
#include "sched/window.h"
#include "store/agentdb.h"

struct agent_settings {
        const char *state_dir, *trust_dir;
        /* [server] */
        const char *server_url;         /* NULL/empty: no polling (USB/socket only) */
        const char *tenant, *controller_id;
        char *authorization;            /* "TargetToken …" / "GatewayToken …" or NULL */
        const char *ca_file, *cert_file, *key_file;
        bool insecure;                  /* credentials may travel over plain http:// (tests only) */
        struct poll_bounds poll;
        unsigned connect_timeout;
        /* [download] */
        uint64_t bandwidth;             /* bytes/s, 0 = unlimited */
        uint64_t chunk_size;
        unsigned stall_timeout;
        uint64_t space_margin;
        /* [update] */
        const char *backends;           /* "store", "registry", "containerd", comma separated */
        struct maint_window window;
        /* [control] */
        const char *socket_path;
        gid_t socket_group;             /* (gid_t)-1 = root only */
        /* [telemetry] */
        bool tm_enabled;
        int auto_confirm;               /* update.auto_confirm: 1 the server confirms our actions itself,
                                         * 0 it does not, -1 unset: its setting is left alone */
        uint64_t tm_interval_ms;        /* samples; 0 = events only */
        struct tm_limits tm_limits;
        /* [budget] */
        uint64_t budget_limit;          /* WAN bytes per period, 0 = no budget */
        unsigned budget_period_days;    /* the rolling period, in days */
        uint64_t budget_per_update;     /* most an update may download, 0 = no cap */
        unsigned budget_low_pct;        /* telemetry samples less below this share left */
        /* [metrics] */
        const char *metrics_listen;     /* NULL: no endpoint */
        char hostname[256];
};

/* Fills s from c (strings point into c or are owned by s). */
int agent_settings_load(const struct berth_config *c, struct agent_settings *s, berr *e);
void agent_settings_clear(struct agent_settings *s);
/* Keys agent_settings_load() knows (NULL-terminated), for unknown-key warnings. */
extern const char *const agent_settings_known_keys[];
/* "10M", "512k", "1G" or plain bytes (1024-based). */
int parse_size(const char *s, uint64_t *ret);
