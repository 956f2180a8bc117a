/* SPDX-License-Identifier: Apache-2.0 */
/* agent_int.h — state shared by the parts of the agent daemon (daemon.c: loop, signals,
 * notify; poll.c: DDI polling; update.c: the update state machine; outbox.c: queued
 * requests to the server; control.c: the control socket; attrs.c: target attributes;
 * telemetry.c: telemetry store-and-forward; metrics.c: the Prometheus endpoint;
 * trustroots.c: trust roots from the server).
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
#include "daemon/connset.h"
#include "daemon/consent.h"
#include "daemon/outbox.h"
#include "daemon/poll.h"
#include "daemon/trustroots.h"
#include "daemon/update.h"
#include "daemon/workloads.h"

struct sd_event;
struct ctrd;
struct wl_seen;
struct upd_seen;
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

        /* control socket (control.c) */
        struct connset ctl;

        /* the workload engine, NULL without a containerd backend: shared (update.c drives
         * it; control, metrics, telemetry read its status); workloads.h runs it */
        struct workload_engine *eng;
        struct workloads_state wl;

        /* telemetry (telemetry.c) */
        uint64_t start_usec;
        struct sd_event_source *tm_sample, *tm_kick;
        struct http_req *tm_req;
        char *tm_body;
        int64_t tm_last;                /* last seq of the batch in flight */
        size_t tm_n;
        unsigned tm_failures;
        bool tm_dropping;               /* "queue full" already said */
        struct wl_seen *seen;           /* workload instances of the last engine round */
        size_t n_seen;
        struct upd_seen *useen;         /* each bundle's last workload update seen */
        size_t n_useen;

        /* counters for the metrics endpoint (metrics.c); this process's lifetime */
        struct {
                uint64_t polls_ok, polls_failed;
                uint64_t bytes_downloaded, blobs_verified, blobs_corrupt;
                uint64_t updates_ok, updates_failed, updates_canceled;
                uint64_t tm_sent;
        } m;
        struct connset metrics;         /* the endpoint (metrics.c) */

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

/* poll.c */

/* attrs.c: the target attributes as NULL-terminated key, value, … (free with attrs_free). */
char **attrs_collect(struct agent *a);
void attrs_free(char **v);
/* Queues installedBase reports for bundles imported outside the server (USB, CLI). */
void attrs_report_installed(struct agent *a);

/* telemetry.c */
int telemetry_start(struct agent *a, berr *e);
void telemetry_stop(struct agent *a);
/* Queues an event record (source: "agent" or a workload name). */
void telemetry_event(struct agent *a, const char *source, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends queued records when the server, the outbox and the update allow (deferred). */
void telemetry_kick(struct agent *a);
/* After each workload engine round: restarts and health changes become events. */
void telemetry_on_workloads(struct agent *a);

/* metrics.c */
int metrics_start(struct agent *a, berr *e);
void metrics_stop(struct agent *a);
/* The Prometheus text exposition of the agent's metrics (malloc'd). */
char *metrics_render(struct agent *a, size_t *ret_len);

/* control.c */
int control_start(struct agent *a, berr *e);
void control_stop(struct agent *a);
