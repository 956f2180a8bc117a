/* SPDX-License-Identifier: Apache-2.0 */
/* agent_int.h — the agent daemon's shared state (daemon.c: loop, signals, notify;
 * attrs.c: target attributes). Each other part keeps its own state in a struct declared
 * in its own header, with its functions: poll.h (DDI polling), consent.h, trustroots.h,
 * outbox.h (queued requests to the server), update.h (the update state machine),
 * workloads.h, control.h (the control socket), telemetry.h (telemetry store-and-forward),
 * metrics.h (the Prometheus endpoint and its counters), peers.h (site peers). What is
 * left in struct agent is read by all: settings, event loop, transport, stores, the
 * workload engine.
 * Private to agent/daemon/.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "daemon/settings.h"
#include "ddi/ddi.h"
#include "fetch/download.h"
#include "fetch/plan.h"
#include "net/http.h"
#include "import/backends.h"
#include "import/import.h"
#include "store/agentdb.h"
#include "store/content.h"
#include "daemon/budget.h"
#include "daemon/connset.h"
#include "daemon/consent.h"
#include "daemon/control.h"
#include "daemon/metrics.h"
#include "daemon/outbox.h"
#include "daemon/layers.h"
#include "daemon/peers.h"
#include "daemon/poll.h"
#include "daemon/telemetry.h"
#include "daemon/trustroots.h"
#include "daemon/update.h"
#include "daemon/workloads.h"

struct sd_event;
struct workload_engine;
struct sd_event_source;


struct agent {
        struct agent_settings set;
        const struct berth_config *cfg;
        struct sd_event *ev;
        struct http_loop *http;
        struct http_tls tls;
        struct berth_db *db;
        struct content_store *cs;
        struct import_backend *backends[IMPORT_MAX_BACKENDS];
        size_t n_backends;
        char *base_url;                 /* SERVER/TENANT/controller/v1/CONTROLLER_ID */

        /* polling (poll.h: poll.c's own; others read last_ok, failures, last_error) */
        struct poll_state poll;

        /* consent (consent.h: consent.c's own) */
        struct consent_state consent;

        /* trust roots from the server (trustroots.h: trustroots.c's own) */
        struct trustroots_state trust;

        /* outbox (outbox.h: its fields are outbox.c's own) */
        struct outbox_state outbox;

        /* the update state machine (update.h: its fields are update.c's own) */
        struct update_state upd;

        /* control socket (control.h: control.c's own) */
        struct control_state ctl;

        /* the workload engine, NULL without a containerd backend: shared (update.c drives
         * it; control, metrics, telemetry read its status); workloads.h runs it */
        struct workload_engine *eng;
        struct workloads_state wl;

        /* telemetry (telemetry.h: telemetry.c's own) */
        struct telemetry_state tm;

        /* the WAN bytes and the data budget (budget.h: budget.c's own) */
        struct budget_state budget;

        /* the metrics endpoint and its counters (metrics.h) */
        struct metrics_state metrics;

        /* site peers: the blob server and where missing blobs are (peers.h: peers.c's own;
         * update_fetch.c asks it) */
        struct peers_state peers;

        /* dropping layers containerd holds unpacked (layers.h: layers.c's own) */
        struct layers_state layers;

        char status[256];
};

/* daemon.c */
void agent_status(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t agent_now(void);
uint64_t agent_mono_usec(struct agent *a);
uint32_t agent_random(void);
/* A request to the rollout server (or a link it gave): credentials, TLS, timeouts. */
struct http_req_opts agent_server_req(struct agent *a, const char *url);
/* A DDI GET (JSON answer of at most DDI_MAX_BODY, 120 s) on the event loop; headers may
 * be NULL. done gets the agent as its userdata. */
int agent_ddi_get(struct agent *a, const char *url, const char *const *headers, http_done_fn done,
                  struct http_req **ret, berr *e);
/* (Re)arms a oneshot timer source relative to now. */
int agent_timer(struct agent *a, struct sd_event_source **s, uint64_t delay_ms,
                int (*cb)(struct sd_event_source *, uint64_t, void *), const char *what);

/* attrs.c: the target attributes as NULL-terminated key, value, … (free with attrs_free). */
char **attrs_collect(struct agent *a);
void attrs_free(char **v);
/* Queues installedBase reports for bundles imported outside the server (USB, CLI). */
void attrs_report_installed(struct agent *a);
