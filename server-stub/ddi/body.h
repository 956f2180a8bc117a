/* SPDX-License-Identifier: Apache-2.0 */
/* body.h — strict parsers for the JSON bodies targets send over DDI.
 *
 * Pure functions (no db, no HTTP) so they can be unit-tested and fuzzed. -EBADMSG means
 * the bytes are not JSON, -EINVAL that the JSON does not have the DDI shape; either way
 * the berr holds a sentence that goes back to the target in the 400 answer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "server-stub/ddi/telemetry.h"

#define DDI_MAX_DETAILS 100
#define DDI_MAX_DETAIL_LEN 4096
#define DDI_MAX_ATTRS 100
#define DDI_MAX_ATTR_KEY 128
#define DDI_MAX_ATTR_VALUE 512
#define DDI_MAX_NAME 128
#define DDI_MAX_VERSION 64

struct ddi_feedback {
        char execution[16];     /* closed proceeding canceled scheduled rejected resumed downloaded download */
        char finished[8];       /* success failure none */
        int64_t progress_cnt, progress_of;      /* -1: absent */
        int64_t code;                           /* INT64_MIN: absent */
        char *details_json;                     /* compact JSON array text, or NULL */
};

/* {"status": {"execution", "result": {"finished", "progress": {"cnt", "of"}}, "details", "code"}}
 * (other fields, such as "id" and "time", are ignored). */
int ddi_parse_feedback(const char *buf, size_t len, struct ddi_feedback *ret, berr *e);
void ddi_feedback_done(struct ddi_feedback *f);

/* {"mode": "merge"|"replace"|"remove", "data": {string: string}} applied to the current
 * attributes (a JSON object text); *ret is the new attributes text (sorted keys).
 * Telemetry (`tm.*` keys, merge mode only) is validated and taken out of data first, so
 * it never becomes an attribute. Returns 0 when there was no telemetry, 1 when *tm holds
 * a batch sent beside attributes, 2 when the request carried nothing but the batch. */
int ddi_apply_config_data(const char *buf, size_t len, const char *current, char **ret, struct tm_batch *tm, berr *e);

/* hawkBit's confirmation feedback: {"confirmation": "confirmed"|"denied", "code": N,
 * "details": [strings]} (code and details optional). */
struct ddi_confirmation {
        bool confirmed;
        int64_t code;                           /* INT64_MIN: absent */
        char *details_json;                     /* compact JSON array text, or NULL */
};
int ddi_parse_confirmation(const char *buf, size_t len, struct ddi_confirmation *ret, berr *e);
void ddi_confirmation_done(struct ddi_confirmation *c);

#define DDI_MAX_INITIATOR 128
#define DDI_MAX_REMARK 256
/* hawkBit's activateAutoConfirm body: {"initiator": "...", "remark": "..."}, both optional;
 * an empty body is the same as {}. */
int ddi_parse_autoconfirm(const char *buf, size_t len, char initiator[DDI_MAX_INITIATOR + 1],
                          char remark[DDI_MAX_REMARK + 1], berr *e);

/* {"name": "...", "version": "..."} of the berth installedBase extension. */
int ddi_parse_installed(const char *buf, size_t len, char name[DDI_MAX_NAME + 1], char version[DDI_MAX_VERSION + 1],
                        berr *e);
