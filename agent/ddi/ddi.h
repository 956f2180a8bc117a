/* SPDX-License-Identifier: Apache-2.0 */
/* ddi.h — Eclipse hawkBit DDI v1 messages: parsing what the server sends (controller
 * base, deploymentBase, cancelAction) and building what the agent sends (feedback,
 * configData, berth's installedBase extension).
 *
 * Pure functions on bytes (no I/O), so they are unit-tested and fuzzed. Everything from
 * the server is untrusted: sizes are bounded, ids are restricted to a safe alphabet
 * before they go into a URL, links must be http(s) URLs. Unknown fields are ignored,
 * so a real hawkBit (with more fields) parses the same way.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define DDI_MAX_BODY (256u * 1024)      /* largest DDI JSON answer accepted */
#define DDI_MAX_ID 64
#define DDI_MAX_URL 2048
#define DDI_MAX_ATTR_VALUE 128          /* hawkBit's limit for configData values */

struct ddi_base {
        int64_t sleep;                  /* config.polling.sleep in seconds, -1 when absent */
        char *deployment;               /* _links.deploymentBase.href */
        char *cancel;                   /* _links.cancelAction.href */
        char *config_data;              /* _links.configData.href (server wants attributes) */
        char *installed;                /* _links.installedBase.href */
        char *trust_roots;              /* berth's _links.trustRoots.href (…/trustRoots?version=V) */
        char *confirmation;             /* _links.confirmationBase.href: an action waits for consent */
};

enum ddi_handling { DDI_SKIP = 0, DDI_ATTEMPT, DDI_FORCED };

struct ddi_deployment {
        char id[DDI_MAX_ID + 1];
        enum ddi_handling dl, update;
        int maintenance;                /* -1 no window given, 0 unavailable, 1 available */
        char *name, *version;           /* chunk name and version (informational) */
        char *filename;
        uint64_t size;                  /* artifact size, 0 when not given */
        char sha256[65];                /* artifact hash in hex, "" when not given */
        bool budget_override;           /* chunk metadata berth.budget = override */
        char *download;                 /* the artifact's download (https preferred) link */
        /* Other artifacts of the deployment, "a.swu, b.bin" (ignored), or NULL. Without a
         * .berth artifact download is NULL and refusal says why in one sentence: the
         * action is to be failed with it, not retried. */
        char *others;
        char *refusal;
};

struct ddi_cancel {
        char id[DDI_MAX_ID + 1];
        char stop_id[DDI_MAX_ID + 1];
};

/* "HH:MM:SS" → seconds. */
int ddi_parse_sleep(const char *s, int64_t *ret);
bool ddi_id_valid(const char *s);
/* The id at the end of a deploymentBase/cancelAction link ("…/deploymentBase/17?c=…"). */
int ddi_link_id(const char *href, char out[DDI_MAX_ID + 1]);

int ddi_parse_base(const char *json, size_t len, struct ddi_base *ret, berr *e);
void ddi_base_clear(struct ddi_base *b);
int ddi_parse_deployment(const char *json, size_t len, struct ddi_deployment *ret, berr *e);
void ddi_deployment_clear(struct ddi_deployment *d);
int ddi_parse_cancel(const char *json, size_t len, struct ddi_cancel *ret, berr *e);
/* An action waiting for consent (GET confirmationBase/ID): {"id", "confirmation": <as a
 * deployment>}, into the same struct. */
int ddi_parse_confirmation(const char *json, size_t len, struct ddi_deployment *ret, berr *e);
/* The consent resource (GET confirmationBase): whether auto-confirm is on. */
int ddi_parse_autoconfirm(const char *json, size_t len, bool *ret_active, berr *e);

/* Feedback execution values (DDI). */
#define DDI_EXEC_PROCEEDING "proceeding"
#define DDI_EXEC_CLOSED "closed"
#define DDI_EXEC_DOWNLOAD "download"
#define DDI_EXEC_DOWNLOADED "downloaded"
#define DDI_EXEC_SCHEDULED "scheduled"
#define DDI_EXEC_CANCELED "canceled"
#define DDI_EXEC_REJECTED "rejected"

struct ddi_feedback {
        const char *execution;
        const char *finished;           /* "success", "failure", "none" */
        bool has_progress;
        uint64_t cnt, of;
        const char *const *details;     /* NULL-terminated, optional */
};

/* Newly allocated JSON texts (NULL on OOM). */
char *ddi_feedback_json(const struct ddi_feedback *f);
/* attrs: NULL-terminated key, value, key, value, … (values cut to DDI_MAX_ATTR_VALUE) */
/* {"confirmation": "confirmed"|"denied", "details": [detail]} for confirmationBase/ID/feedback. */
char *ddi_confirmation_json(bool confirmed, const char *detail);
/* {"initiator", "remark"} for confirmationBase/activateAutoConfirm. */
char *ddi_autoconfirm_json(const char *initiator, const char *remark);
char *ddi_config_data_json(const char *const *attrs);
/* berth-server's installedBase extension: {"name": …, "version": "<decimal>"}. */
char *ddi_installed_json(const char *name, int64_t version);
