/* SPDX-License-Identifier: Apache-2.0 */
/* ddi.c — hawkBit DDI v1 message parsing and building (see ddi.h). jansson only; no I/O. */
#include "ddi/ddi.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ddi_id_valid(const char *s)
{
        size_t n = 0;
        if (!s)
                return false;
        for (; s[n]; n++) {
                char c = s[n];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                      c == '_' || c == '.'))
                        return false;
        }
        return n > 0 && n <= DDI_MAX_ID && strcmp(s, ".") && strcmp(s, "..");
}

int ddi_parse_sleep(const char *s, int64_t *ret)
{
        unsigned h, m, sec;
        int n = 0;
        if (!s || strlen(s) > 12 || sscanf(s, "%u:%2u:%2u%n", &h, &m, &sec, &n) != 3 || s[n] || m > 59 || sec > 59 ||
            h > 9999)
                return -EINVAL;
        *ret = (int64_t)h * 3600 + m * 60 + sec;
        return 0;
}

int ddi_link_id(const char *href, char out[DDI_MAX_ID + 1])
{
        if (!href)
                return -EINVAL;
        size_t end = strcspn(href, "?#");
        size_t start = end;
        while (start > 0 && href[start - 1] != '/')
                start--;
        size_t n = end - start;
        if (n == 0 || n > DDI_MAX_ID)
                return -EBADMSG;
        char id[DDI_MAX_ID + 1];
        memcpy(id, href + start, n);
        id[n] = 0;
        if (!ddi_id_valid(id))
                return -EBADMSG;
        memcpy(out, id, n + 1);
        return 0;
}

/* The chunk's metadata (hawkBit: software module metadata visible to targets) says
 * berth.budget = override: the deployment may go past the agent's data budget. */
static bool chunk_budget_override(json_t *chunk)
{
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(chunk, "metadata"), i, m) {
                const char *k = json_string_value(json_object_get(m, "key"));
                const char *v = json_string_value(json_object_get(m, "value"));
                if (k && v && !strcmp(k, "berth.budget") && !strcmp(v, "override"))
                        return true;
        }
        return false;
}

static bool url_ok(const char *u)
{
        if (!u || strlen(u) > DDI_MAX_URL)
                return false;
        if (strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
                return false;
        for (const char *p = u; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static json_t *load(const char *json, size_t len, berr *e, const char *what)
{
        if (len > DDI_MAX_BODY) {
                berr_set(e, -EFBIG, "DDI %s answer is %zu bytes, over the limit of %u", what, len, DDI_MAX_BODY);
                return NULL;
        }
        json_error_t je;
        json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        if (!o) {
                berr_set(e, -EBADMSG, "DDI %s answer is not valid JSON (line %d: %s)", what, je.line, je.text);
                return NULL;
        }
        if (!json_is_object(o)) {
                json_decref(o);
                berr_set(e, -EBADMSG, "DDI %s answer is not a JSON object", what);
                return NULL;
        }
        return o;
}

/* _links.NAME.href as a validated URL copy; 0 with *ret NULL when absent. */
static int link(json_t *links, const char *name, char **ret, berr *e)
{
        *ret = NULL;
        json_t *l = json_object_get(links, name);
        if (!l)
                return 0;
        const char *h = json_string_value(json_object_get(l, "href"));
        if (!url_ok(h))
                return berr_set(e, -EBADMSG, "DDI link '%s' is not an http(s) URL", name);
        *ret = strdup(h);
        return *ret ? 0 : -ENOMEM;
}

void ddi_base_clear(struct ddi_base *b)
{
        if (!b)
                return;
        free(b->deployment);
        free(b->cancel);
        free(b->config_data);
        free(b->trust_roots);
        free(b->confirmation);
        free(b->installed);
        memset(b, 0, sizeof *b);
        b->sleep = -1;
}

int ddi_parse_base(const char *json, size_t len, struct ddi_base *ret, berr *e)
{
        struct ddi_base b = {.sleep = -1};
        json_t *o = load(json, len, e, "controller base");
        if (!o)
                return e && e->code ? e->code : -EBADMSG;
        int r = 0;
        json_t *sleep = json_object_get(json_object_get(json_object_get(o, "config"), "polling"), "sleep");
        if (sleep) {
                if (ddi_parse_sleep(json_string_value(sleep), &b.sleep) < 0)
                        r = berr_set(e, -EBADMSG, "DDI config.polling.sleep is not \"HH:MM:SS\"");
        }
        json_t *links = json_object_get(o, "_links");
        if (r >= 0 && links && !json_is_object(links))
                r = berr_set(e, -EBADMSG, "DDI _links is not an object");
        if (r >= 0 && links) {
                r = link(links, "deploymentBase", &b.deployment, e);
                if (r >= 0)
                        r = link(links, "cancelAction", &b.cancel, e);
                if (r >= 0)
                        r = link(links, "configData", &b.config_data, e);
                if (r >= 0)
                        r = link(links, "installedBase", &b.installed, e);
                if (r >= 0)
                        r = link(links, "trustRoots", &b.trust_roots, e);
                if (r >= 0)
                        r = link(links, "confirmationBase", &b.confirmation, e);
        }
        json_decref(o);
        if (r < 0) {
                ddi_base_clear(&b);
                return r;
        }
        *ret = b;
        return 0;
}

void ddi_deployment_clear(struct ddi_deployment *d)
{
        if (!d)
                return;
        free(d->name);
        free(d->version);
        free(d->filename);
        free(d->download);
        free(d->others);
        free(d->refusal);
        memset(d, 0, sizeof *d);
}

static int handling(json_t *v, const char *what, enum ddi_handling *ret, berr *e)
{
        const char *s = json_string_value(v);
        if (!s)
                *ret = DDI_FORCED; /* absent: hawkBit's default is forced */
        else if (!strcmp(s, "skip"))
                *ret = DDI_SKIP;
        else if (!strcmp(s, "attempt"))
                *ret = DDI_ATTEMPT;
        else if (!strcmp(s, "forced"))
                *ret = DDI_FORCED;
        else
                return berr_set(e, -EBADMSG, "DDI deployment.%s is '%.32s', expected skip, attempt or forced", what, s);
        return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && !strcmp(s + a - b, suffix);
}

/* deploymentBase ({"id", "deployment": …}) or confirmationBase/ID ({"id", "confirmation": …}). */
static int parse_action(const char *json, size_t len, const char *what, const char *key, struct ddi_deployment *ret,
                        berr *e)
{
        struct ddi_deployment d = {.maintenance = -1};
        json_t *o = load(json, len, e, what);
        if (!o)
                return e && e->code ? e->code : -EBADMSG;
        int r = 0;
        json_t *id = json_object_get(o, "id");
        char idbuf[32];
        const char *ids = json_string_value(id);
        if (json_is_integer(id)) {
                snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(id));
                ids = idbuf;
        }
        json_t *dep = json_object_get(o, key);
        if (!ddi_id_valid(ids))
                r = berr_set(e, -EBADMSG, "DDI %s has no valid action id", what);
        else
                snprintf(d.id, sizeof d.id, "%s", ids);
        if (r >= 0 && !json_is_object(dep))
                r = berr_set(e, -EBADMSG, "DDI %s %s has no %s object", what, d.id, key);
        if (r >= 0)
                r = handling(json_object_get(dep, "download"), "download", &d.dl, e);
        if (r >= 0)
                r = handling(json_object_get(dep, "update"), "update", &d.update, e);
        if (r >= 0) {
                json_t *mw = json_object_get(dep, "maintenanceWindow");
                const char *s = json_string_value(mw);
                if (!mw)
                        d.maintenance = -1;
                else if (s && !strcmp(s, "available"))
                        d.maintenance = 1;
                else if (s && !strcmp(s, "unavailable"))
                        d.maintenance = 0;
                else
                        r = berr_set(e, -EBADMSG, "DDI maintenanceWindow must be available or unavailable");
        }
        json_t *chunks = json_object_get(dep, "chunks");
        if (r >= 0 && !json_is_array(chunks))
                r = berr_set(e, -EBADMSG, "DDI %s %s has no chunks array", what, d.id);
        /* The first artifact named *.berth in any chunk is the bundle; other artifacts
         * (a hawkBit software module may carry several) are ignored, and named. */
        size_t ci;
        json_t *chunk;
        char others[512] = "";
        if (r >= 0)
                json_array_foreach(chunks, ci, chunk) {
                        size_t ai;
                        json_t *art;
                        json_array_foreach(json_object_get(chunk, "artifacts"), ai, art) {
                                const char *fn = json_string_value(json_object_get(art, "filename"));
                                if (fn && ends_with(fn, ".berth"))
                                        continue;
                                size_t n = strlen(others);
                                snprintf(others + n, sizeof others - n, "%s%.64s", n ? ", " : "", fn ? fn : "(unnamed)");
                        }
                }
        if (r >= 0)
                json_array_foreach(chunks, ci, chunk) {
                        json_t *arts = json_object_get(chunk, "artifacts");
                        size_t ai;
                        json_t *art;
                        json_array_foreach(arts, ai, art) {
                                const char *fn = json_string_value(json_object_get(art, "filename"));
                                if (!fn || !ends_with(fn, ".berth") || strlen(fn) > 255)
                                        continue;
                                json_t *links = json_object_get(art, "_links");
                                const char *href = json_string_value(json_object_get(json_object_get(links, "download"), "href"));
                                if (!href)
                                        href = json_string_value(
                                                json_object_get(json_object_get(links, "download-http"), "href"));
                                if (!url_ok(href)) {
                                        r = berr_set(e, -EBADMSG, "DDI artifact %.100s has no valid download link", fn);
                                        break;
                                }
                                json_t *sz = json_object_get(art, "size");
                                if (sz && (!json_is_integer(sz) || json_integer_value(sz) < 0)) {
                                        r = berr_set(e, -EBADMSG, "DDI artifact %.100s has an invalid size", fn);
                                        break;
                                }
                                const char *h = json_string_value(json_object_get(json_object_get(art, "hashes"), "sha256"));
                                if (h && strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64)
                                        memcpy(d.sha256, h, 65);
                                d.size = sz ? (uint64_t)json_integer_value(sz) : 0;
                                const char *nm = json_string_value(json_object_get(chunk, "name"));
                                const char *ver = json_string_value(json_object_get(chunk, "version"));
                                d.budget_override = chunk_budget_override(chunk);
                                d.name = strdup(nm ? nm : "");
                                d.version = strdup(ver ? ver : "");
                                d.filename = strdup(fn);
                                d.download = strdup(href);
                                if (!d.name || !d.version || !d.filename || !d.download)
                                        r = -ENOMEM;
                                goto found;
                        }
                        if (r < 0)
                                break;
                }
found:
        if (r >= 0 && others[0] && !(d.others = strdup(others)))
                r = -ENOMEM;
        if (r >= 0 && !d.download &&
            asprintf(&d.refusal, "deployment %s carries no .berth artifact (%s%s): this berth agent installs .berth "
                     "bundles only; deploy one, or let the gateway's other updater take this one", d.id,
                     others[0] ? "it has: " : "it has none", others) < 0) {
                d.refusal = NULL;
                r = -ENOMEM;
        }
        json_decref(o);
        if (r < 0) {
                ddi_deployment_clear(&d);
                return r;
        }
        *ret = d;
        return 0;
}

int ddi_parse_deployment(const char *json, size_t len, struct ddi_deployment *ret, berr *e)
{
        return parse_action(json, len, "deploymentBase", "deployment", ret, e);
}

int ddi_parse_confirmation(const char *json, size_t len, struct ddi_deployment *ret, berr *e)
{
        return parse_action(json, len, "confirmationBase", "confirmation", ret, e);
}

int ddi_parse_autoconfirm(const char *json, size_t len, bool *ret_active, berr *e)
{
        json_t *o = load(json, len, e, "confirmationBase");
        if (!o)
                return e && e->code ? e->code : -EBADMSG;
        json_t *active = json_object_get(json_object_get(o, "autoConfirm"), "active");
        int r = json_is_boolean(active) ? 0 : berr_set(e, -EBADMSG, "DDI confirmationBase has no autoConfirm.active");
        if (r >= 0)
                *ret_active = json_is_true(active);
        json_decref(o);
        return r;
}

int ddi_parse_cancel(const char *json, size_t len, struct ddi_cancel *ret, berr *e)
{
        json_t *o = load(json, len, e, "cancelAction");
        if (!o)
                return e && e->code ? e->code : -EBADMSG;
        struct ddi_cancel c = {0};
        int r = 0;
        char b1[32], b2[32];
        json_t *id = json_object_get(o, "id");
        json_t *stop = json_object_get(json_object_get(o, "cancelAction"), "stopId");
        const char *ids = json_string_value(id), *stops = json_string_value(stop);
        if (json_is_integer(id))
                snprintf(b1, sizeof b1, "%lld", (long long)json_integer_value(id)), ids = b1;
        if (json_is_integer(stop))
                snprintf(b2, sizeof b2, "%lld", (long long)json_integer_value(stop)), stops = b2;
        if (!ddi_id_valid(ids) || !ddi_id_valid(stops))
                r = berr_set(e, -EBADMSG, "DDI cancelAction has no valid id or stopId");
        else {
                snprintf(c.id, sizeof c.id, "%s", ids);
                snprintf(c.stop_id, sizeof c.stop_id, "%s", stops);
        }
        json_decref(o);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

static char *dump(json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return s;
}

char *ddi_feedback_json(const struct ddi_feedback *f)
{
        json_t *result = json_pack("{s:s}", "finished", f->finished ? f->finished : "none");
        if (!result)
                return NULL;
        if (f->has_progress)
                json_object_set_new(result, "progress", json_pack("{s:I,s:I}", "cnt", (json_int_t)f->cnt, "of",
                                                                  (json_int_t)f->of));
        json_t *status = json_pack("{s:s,s:o}", "execution", f->execution, "result", result);
        if (!status)
                return NULL;
        if (f->details) {
                json_t *d = json_array();
                for (size_t i = 0; f->details[i] && i < 100; i++) {
                        /* The server keeps details ≤ 4 KiB; cut on a UTF-8 boundary. */
                        size_t n = strlen(f->details[i]);
                        if (n > 4000) {
                                n = 4000;
                                while (n > 0 && ((unsigned char)f->details[i][n] & 0xC0) == 0x80)
                                        n--;
                        }
                        json_array_append_new(d, json_stringn(f->details[i], n));
                }
                json_object_set_new(status, "details", d);
        }
        return dump(json_pack("{s:o}", "status", status));
}

char *ddi_confirmation_json(bool confirmed, const char *detail)
{
        json_t *o = json_pack("{s:s}", "confirmation", confirmed ? "confirmed" : "denied");
        if (o && detail)
                json_object_set_new(o, "details", json_pack("[s]", detail));
        return dump(o);
}

char *ddi_autoconfirm_json(const char *initiator, const char *remark)
{
        return dump(json_pack("{s:s,s:s}", "initiator", initiator, "remark", remark));
}

char *ddi_config_data_json(const char *const *attrs)
{
        json_t *data = json_object();
        if (!data)
                return NULL;
        for (size_t i = 0; attrs && attrs[i] && attrs[i + 1] && i < 200; i += 2) {
                /* hawkBit keeps attribute values ≤ 128 characters: cut on a UTF-8 boundary. */
                size_t n = strlen(attrs[i + 1]);
                if (n > DDI_MAX_ATTR_VALUE) {
                        n = DDI_MAX_ATTR_VALUE;
                        while (n > 0 && ((unsigned char)attrs[i + 1][n] & 0xC0) == 0x80)
                                n--;
                }
                json_object_set_new(data, attrs[i], json_stringn(attrs[i + 1], n));
        }
        return dump(json_pack("{s:s,s:o}", "mode", "replace", "data", data));
}

char *ddi_installed_json(const char *name, int64_t version)
{
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)version);
        return dump(json_pack("{s:s,s:s}", "name", name, "version", v));
}
