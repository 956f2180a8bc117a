/* SPDX-License-Identifier: Apache-2.0 */
/* rootchain.c — the roots.json document: parse, serialise, offline link check (see rootchain.h). */
#include "bundle/rootchain.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "bundle/format.h"

struct root_chain *root_chain_new(void)
{
        return calloc(1, sizeof(struct root_chain));
}

void root_chain_free(struct root_chain *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                root_free(c->v[i]);
        free(c->v);
        free(c);
}

int root_chain_add(struct root_chain *c, struct trust_root *r, berr *e)
{
        _cleanup_(root_freep) struct trust_root *owned = r;
        if (r->implicit)
                return berr_set(e, -EINVAL, "%s is a trust directory, not a signed root", r->origin);
        size_t at = c->n;
        for (size_t i = 0; i < c->n; i++) {
                if (c->v[i]->version == r->version) {
                        if (!strcmp(c->v[i]->digest, r->digest))
                                return 0; /* the same root twice: keep one */
                        return berr_set(e, -EEXIST, "two different trust roots claim version %lld (%s and %s)",
                                        (long long)r->version, c->v[i]->origin, r->origin);
                }
                if (c->v[i]->version > r->version && at == c->n)
                        at = i;
        }
        if (c->n == BUNDLE_MAX_ROOTS)
                return berr_set(e, -E2BIG, "a chain holds at most %u trust roots", BUNDLE_MAX_ROOTS);
        struct trust_root **nv = realloc(c->v, (c->n + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        c->v = nv;
        memmove(c->v + at + 1, c->v + at, (c->n - at) * sizeof *nv);
        c->v[at] = TAKE_PTR(owned);
        c->n++;
        return 0;
}

int root_chain_parse(const void *buf, size_t len, const char *origin, struct root_chain **ret, berr *e)
{
        if (len > BUNDLE_MAX_ROOTS_SIZE)
                return berr_set(e, -EFBIG, "%s: %zu bytes of trust roots, over the limit of %u", origin, len,
                                BUNDLE_MAX_ROOTS_SIZE);
        json_error_t je;
        _cleanup_(json_decrefp) json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc)
                return berr_set(e, -EBADMSG, "%s: the trust roots are not valid JSON (line %d: %s)", origin, je.line,
                                je.text);
        json_t *arr = json_object_get(doc, "roots");
        if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_array(arr))
                return berr_set(e, -EBADMSG, "%s: the trust roots must be {\"roots\": [...]} and nothing else", origin);
        size_t n = json_array_size(arr);
        if (n == 0 || n > BUNDLE_MAX_ROOTS)
                return berr_set(e, -EBADMSG, "%s: \"roots\" must hold 1 to %u trust roots", origin, BUNDLE_MAX_ROOTS);
        _cleanup_(root_chain_freep) struct root_chain *c = root_chain_new();
        if (!c || !(c->v = calloc(n, sizeof *c->v)))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char o[300];
                snprintf(o, sizeof o, "%s roots[%zu]", origin, i);
                int q = root_parse_json(json_array_get(arr, i), o, &c->v[i], e);
                if (q < 0)
                        return q;
                c->n++;
                if (i > 0 && c->v[i]->version <= c->v[i - 1]->version)
                        return berr_set(e, -EBADMSG, "%s: versions must increase (version %lld after %lld)", o,
                                        (long long)c->v[i]->version, (long long)c->v[i - 1]->version);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static int load_file(struct root_chain *c, const char *path, berr *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int q = read_file_bounded(path, BUNDLE_MAX_ROOTS_SIZE, &buf, &len);
        if (q < 0)
                return berr_set(e, q, "cannot read %s: %s", path,
                                q == -EFBIG ? "too large for trust roots" : strerror(-q));
        json_error_t je;
        _cleanup_(json_decrefp) json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc)
                return berr_set(e, -EBADMSG, "%s is not valid JSON (line %d: %s)", path, je.line, je.text);
        if (!json_object_get(doc, "roots")) {
                struct trust_root *r = NULL;
                q = len > ROOT_MAX_SIZE ? berr_set(e, -EFBIG, "trust root %s is over the limit of %u bytes", path,
                                                   ROOT_MAX_SIZE)
                                        : root_parse_json(doc, path, &r, e);
                return q < 0 ? q : root_chain_add(c, r, e);
        }
        _cleanup_(root_chain_freep) struct root_chain *in = NULL;
        int64_t v;
        if (json_object_get(doc, "version")) /* a saved answer of berth-server */
                q = root_chain_parse_answer(buf, len, &v, &in, e);
        else
                q = root_chain_parse(buf, len, path, &in, e);
        for (size_t i = 0; q >= 0 && in && i < in->n; i++) {
                q = root_chain_add(c, in->v[i], e);
                in->v[i] = NULL;
        }
        return q;
}

static int cmp_name(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int root_chain_load(struct root_chain *c, const char *path, berr *e)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return berr_set(e, -errno, "cannot open %s: %s", path, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return load_file(c, path, e);
        DIR *d = opendir(path);
        if (!d)
                return berr_set(e, -errno, "cannot open %s: %s", path, strerror(errno));
        char *names[BUNDLE_MAX_ROOTS + 1];
        size_t n = 0;
        int q = 0;
        struct dirent *de;
        while (q >= 0 && (de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
                        continue;
                if (n == BUNDLE_MAX_ROOTS + 1)
                        q = berr_set(e, -E2BIG, "%s holds more than %u .json files", path, BUNDLE_MAX_ROOTS);
                else if (!(names[n++] = path_join(path, de->d_name)))
                        q = -ENOMEM;
        }
        closedir(d);
        if (q >= 0 && n == 0)
                q = berr_set(e, -ENOENT, "%s holds no *.json trust roots", path);
        if (q >= 0)
                qsort(names, n, sizeof names[0], cmp_name);
        for (size_t i = 0; i < n; i++) {
                if (q >= 0)
                        q = load_file(c, names[i], e);
                free(names[i]);
        }
        return q;
}

int root_chain_parse_answer(const void *buf, size_t len, int64_t *ret_version, struct root_chain **ret, berr *e)
{
        *ret = NULL;
        if (len > BUNDLE_MAX_ROOTS_SIZE + 64)
                return berr_set(e, -EFBIG, "trust roots answer: %zu bytes, over the limit", len);
        json_error_t je;
        _cleanup_(json_decrefp) json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc)
                return berr_set(e, -EBADMSG, "trust roots answer: not valid JSON (line %d: %s)", je.line, je.text);
        json_t *v = json_object_get(doc, "version"), *arr = json_object_get(doc, "roots");
        if (!json_is_object(doc) || json_object_size(doc) != 2 || !json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > BUNDLE_MAX_VERSION || !json_is_array(arr))
                return berr_set(e, -EBADMSG, "trust roots answer: must be {\"version\": N, \"roots\": [...]}");
        _cleanup_(root_chain_freep) struct root_chain *c = NULL;
        if (json_array_size(arr)) {
                _cleanup_free_ char *chain = NULL;
                json_t *only = json_pack("{s:O}", "roots", arr);
                chain = only ? json_dumps(only, 0) : NULL;
                json_decref(only);
                if (!chain)
                        return -ENOMEM;
                int q = root_chain_parse(chain, strlen(chain), "trust roots answer", &c, e);
                if (q < 0)
                        return q;
                if (c->v[c->n - 1]->version > json_integer_value(v))
                        return berr_set(e, -EBADMSG, "trust roots answer: root version %lld is above the version %lld "
                                        "it claims", (long long)c->v[c->n - 1]->version,
                                        (long long)json_integer_value(v));
        }
        *ret_version = json_integer_value(v);
        *ret = TAKE_PTR(c);
        return 0;
}

int root_chain_serialize(const struct root_chain *c, char **ret, size_t *ret_len)
{
        if (c->n == 0)
                return -EINVAL;
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < c->n; i++)
                if (json_array_append_new(arr, root_envelope_json(c->v[i])) < 0) {
                        json_decref(arr);
                        arr = NULL;
                }
        json_t *doc = arr ? json_pack("{s:o}", "roots", arr) : NULL;
        if (!doc)
                return -ENOMEM;
        char *out = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        if (!out)
                return -ENOMEM;
        size_t l = strlen(out);
        char *nl = realloc(out, l + 2);
        if (!nl) {
                free(out);
                return -ENOMEM;
        }
        nl[l] = '\n';
        nl[l + 1] = 0;
        if (l + 1 > BUNDLE_MAX_ROOTS_SIZE) {
                free(nl);
                return -EFBIG;
        }
        *ret = nl;
        *ret_len = l + 1;
        return 0;
}

int root_chain_check(const struct root_chain *c, berr *e)
{
        if (c->n == 0)
                return berr_set(e, -EINVAL, "the chain holds no trust root");
        int q = root_verify_self(c->v[0], e);
        for (size_t i = 1; q >= 0 && i < c->n; i++)
                q = root_verify_next(c->v[i - 1], c->v[i], e);
        return q;
}
