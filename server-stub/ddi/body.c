/* SPDX-License-Identifier: Apache-2.0 */
/* body.c — DDI request body parsers (see body.h). */
#include "server-stub/ddi/body.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const executions[] = {"closed", "proceeding", "canceled", "scheduled", "rejected",
                                         "resumed", "downloaded", "download", NULL};
static const char *const finishes[] = {"success", "failure", "none", NULL};

static bool in_list(const char *s, const char *const *l)
{
        for (; s && *l; l++)
                if (!strcmp(s, *l))
                        return true;
        return false;
}

static json_t *load(const char *buf, size_t len, berr *e)
{
        json_error_t je;
        json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                berr_set(e, -EBADMSG, "request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                         je.column);
        return j;
}

void ddi_feedback_done(struct ddi_feedback *f)
{
        if (!f)
                return;
        free(f->details_json);
        f->details_json = NULL;
}

/* details: an array of at most DDI_MAX_DETAILS strings of at most DDI_MAX_DETAIL_LEN
 * bytes, as compact JSON text in *ret. */
static int details_from(json_t *d, const char *where, char **ret, berr *e)
{
        size_t i;
        json_t *x;
        if (!json_is_array(d) || json_array_size(d) > DDI_MAX_DETAILS)
                return berr_set(e, -EINVAL, "%s must be an array of at most %d strings", where, DDI_MAX_DETAILS);
        json_array_foreach(d, i, x) {
                if (!json_is_string(x) || json_string_length(x) > DDI_MAX_DETAIL_LEN)
                        return berr_set(e, -EINVAL, "%s[%zu] must be a string of at most %d bytes", where, i,
                                        DDI_MAX_DETAIL_LEN);
        }
        *ret = json_dumps(d, JSON_COMPACT);
        return *ret ? 0 : -ENOMEM;
}

static int feedback_from(json_t *j, struct ddi_feedback *f, berr *e)
{
        json_t *status = json_object_get(j, "status");
        json_t *result = json_object_get(status, "result");
        const char *ex = json_string_value(json_object_get(status, "execution"));
        const char *fin = json_string_value(json_object_get(result, "finished"));
        if (!json_is_object(j) || !json_is_object(status) || !in_list(ex, executions))
                return berr_set(e, -EINVAL, "feedback needs status.execution: closed, proceeding, canceled, scheduled, "
                                            "rejected, resumed, downloaded or download");
        if (!json_is_object(result) || !in_list(fin, finishes))
                return berr_set(e, -EINVAL, "feedback needs status.result.finished: success, failure or none");
        snprintf(f->execution, sizeof f->execution, "%s", ex);
        snprintf(f->finished, sizeof f->finished, "%s", fin);
        json_t *p = json_object_get(result, "progress");
        if (p) {
                json_t *cnt = json_object_get(p, "cnt"), *of = json_object_get(p, "of");
                if (!json_is_object(p) || !json_is_integer(cnt) || (of && !json_is_integer(of)) ||
                    json_integer_value(cnt) < 0 || (of && json_integer_value(of) < 0))
                        return berr_set(e, -EINVAL, "status.result.progress must be {\"cnt\": N, \"of\": M} with N, M ≥ 0");
                f->progress_cnt = json_integer_value(cnt);
                f->progress_of = of ? json_integer_value(of) : -1;
        }
        json_t *code = json_object_get(status, "code");
        if (code) {
                if (!json_is_integer(code))
                        return berr_set(e, -EINVAL, "status.code must be an integer");
                f->code = json_integer_value(code);
        }
        json_t *d = json_object_get(status, "details");
        return d ? details_from(d, "status.details", &f->details_json, e) : 0;
}

int ddi_parse_feedback(const char *buf, size_t len, struct ddi_feedback *ret, berr *e)
{
        struct ddi_feedback f = {.progress_cnt = -1, .progress_of = -1, .code = INT64_MIN};
        json_t *j = load(buf, len, e);
        if (!j)
                return -EBADMSG;
        int r = feedback_from(j, &f, e);
        json_decref(j);
        if (r < 0) {
                ddi_feedback_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

int ddi_apply_config_data(const char *buf, size_t len, const char *current, char **ret, struct tm_batch *tm, berr *e)
{
        json_t *j = load(buf, len, e);
        if (!j)
                return -EBADMSG;
        int r = 0;
        json_t *attrs = NULL;
        json_t *data = json_object_get(j, "data");
        const char *mode = json_string_value(json_object_get(j, "mode"));
        if (!mode && json_object_get(j, "mode"))
                mode = "";
        if (!mode)
                mode = "merge";
        if (!json_is_object(data) || json_object_size(data) > DDI_MAX_ATTRS ||
            (strcmp(mode, "merge") && strcmp(mode, "replace") && strcmp(mode, "remove"))) {
                r = berr_set(e, -EINVAL, "configData needs \"data\": an object of at most %d string attributes, and "
                                         "optionally \"mode\": merge, replace or remove", DDI_MAX_ATTRS);
                goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach(data, k, v) {
                if (!json_is_string(v) || strlen(k) > DDI_MAX_ATTR_KEY || json_string_length(v) > DDI_MAX_ATTR_VALUE) {
                        r = berr_set(e, -EINVAL, "attribute '%.64s' must be a string (key ≤ %d, value ≤ %d bytes)", k,
                                     DDI_MAX_ATTR_KEY, DDI_MAX_ATTR_VALUE);
                        goto out;
                }
        }
        int has_tm = tm_take(data, tm, e);
        if (has_tm < 0) {
                r = has_tm;
                goto out;
        }
        if (has_tm && strcmp(mode, "merge")) {
                r = berr_set(e, -EINVAL, "telemetry key tm.v is only accepted with \"mode\": \"merge\"");
                goto out;
        }
        if (has_tm && json_object_size(data) == 0)
                has_tm = 2;
        attrs = strcmp(mode, "replace") && current ? json_loads(current, 0, NULL) : NULL;
        if (!json_is_object(attrs)) {
                json_decref(attrs);
                attrs = json_object();
        }
        if (!strcmp(mode, "remove")) {
                json_object_foreach(data, k, v) json_object_del(attrs, k);
        } else
                json_object_update(attrs, data);
        if (json_object_size(attrs) > DDI_MAX_ATTRS) {
                r = berr_set(e, -EINVAL, "a target keeps at most %d attributes", DDI_MAX_ATTRS);
                goto out;
        }
        *ret = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
        r = *ret ? has_tm : -ENOMEM;
out:
        json_decref(attrs);
        json_decref(j);
        return r;
}

void ddi_confirmation_done(struct ddi_confirmation *c)
{
        if (!c)
                return;
        free(c->details_json);
        c->details_json = NULL;
}

int ddi_parse_confirmation(const char *buf, size_t len, struct ddi_confirmation *ret, berr *e)
{
        struct ddi_confirmation c = {.code = INT64_MIN};
        json_t *j = load(buf, len, e);
        if (!j)
                return -EBADMSG;
        const char *v = json_string_value(json_object_get(j, "confirmation"));
        json_t *code = json_object_get(j, "code"), *d = json_object_get(j, "details");
        int r = 0;
        if (!json_is_object(j) || !v || (strcmp(v, "confirmed") && strcmp(v, "denied")))
                r = berr_set(e, -EINVAL, "confirmation feedback needs \"confirmation\": \"confirmed\" or \"denied\"");
        else if (code && !json_is_integer(code))
                r = berr_set(e, -EINVAL, "confirmation feedback: \"code\" must be an integer");
        else if (d)
                r = details_from(d, "details", &c.details_json, e);
        if (r == 0) {
                c.confirmed = !strcmp(v, "confirmed");
                if (code)
                        c.code = json_integer_value(code);
                *ret = c;
        } else
                ddi_confirmation_done(&c);
        json_decref(j);
        return r;
}

int ddi_parse_autoconfirm(const char *buf, size_t len, char initiator[DDI_MAX_INITIATOR + 1],
                          char remark[DDI_MAX_REMARK + 1], berr *e)
{
        initiator[0] = remark[0] = 0;
        if (len == 0)
                return 0;
        json_t *j = load(buf, len, e);
        if (!j)
                return -EBADMSG;
        json_t *i = json_object_get(j, "initiator"), *rm = json_object_get(j, "remark");
        int r = 0;
        if (!json_is_object(j) || (i && !json_is_null(i) && !json_is_string(i)) ||
            (rm && !json_is_null(rm) && !json_is_string(rm)) ||
            (json_is_string(i) && json_string_length(i) > DDI_MAX_INITIATOR) ||
            (json_is_string(rm) && json_string_length(rm) > DDI_MAX_REMARK))
                r = berr_set(e, -EINVAL, "activateAutoConfirm takes {\"initiator\": string ≤ %d bytes, \"remark\": "
                                         "string ≤ %d bytes}, both optional", DDI_MAX_INITIATOR, DDI_MAX_REMARK);
        else {
                snprintf(initiator, DDI_MAX_INITIATOR + 1, "%s", json_string_value(i) ?: "");
                snprintf(remark, DDI_MAX_REMARK + 1, "%s", json_string_value(rm) ?: "");
        }
        json_decref(j);
        return r;
}

int ddi_parse_installed(const char *buf, size_t len, char name[DDI_MAX_NAME + 1], char version[DDI_MAX_VERSION + 1],
                        berr *e)
{
        json_t *j = load(buf, len, e);
        if (!j)
                return -EBADMSG;
        const char *n = json_string_value(json_object_get(j, "name"));
        const char *v = json_string_value(json_object_get(j, "version"));
        int r = 0;
        if (!n || !v || !*n || !*v || strlen(n) > DDI_MAX_NAME || strlen(v) > DDI_MAX_VERSION)
                r = berr_set(e, -EINVAL, "installedBase needs non-empty \"name\" (≤ %d bytes) and \"version\" (≤ %d bytes) strings",
                             DDI_MAX_NAME, DDI_MAX_VERSION);
        else {
                snprintf(name, DDI_MAX_NAME + 1, "%s", n);
                snprintf(version, DDI_MAX_VERSION + 1, "%s", v);
        }
        json_decref(j);
        return r;
}
