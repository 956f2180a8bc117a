/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c — see auth.h. */
#include "registry/auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"

void auth_challenge_done(struct auth_challenge *c)
{
        if (!c)
                return;
        free(c->realm);
        free(c->service);
        free(c->scope);
        free(c->error);
        *c = (struct auth_challenge){0};
}

static bool is_token_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               strchr("!#$%&'*+-.^_`|~/:=", c);
}

static const char *skip_ows(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

int auth_challenge_parse(const char *value, struct auth_challenge *ret)
{
        if (!value || strlen(value) > AUTH_MAX_HEADER_LEN)
                return -EBADMSG;
        struct auth_challenge c = {0};
        const char *p = skip_ows(value);
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t')
                p++;
        size_t n = (size_t)(p - s);
        if (n == 5 && !strncasecmp(s, "basic", 5))
                c.scheme = AUTH_SCHEME_BASIC;
        else if (n == 6 && !strncasecmp(s, "bearer", 6))
                c.scheme = AUTH_SCHEME_BEARER;
        else if (n == 0)
                return -EBADMSG;

        /* auth-params: name=value or name="quoted \" value", separated by commas. */
        for (;;) {
                p = skip_ows(p);
                while (*p == ',')
                        p = skip_ows(p + 1);
                if (!*p)
                        break;
                const char *name = p;
                while (*p && *p != '=' && *p != ',' && *p != ' ')
                        p++;
                size_t name_len = (size_t)(p - name);
                p = skip_ows(p);
                if (*p != '=' || name_len == 0)
                        goto bad;
                p = skip_ows(p + 1);
                _cleanup_free_ char *val = malloc(strlen(p) + 1);
                if (!val) {
                        auth_challenge_done(&c);
                        return -ENOMEM;
                }
                size_t k = 0;
                if (*p == '"') {
                        p++;
                        for (;;) {
                                if (!*p)
                                        goto bad; /* unterminated quote */
                                if (*p == '"') {
                                        p++;
                                        break;
                                }
                                if (*p == '\\' && p[1])
                                        p++;
                                val[k++] = *p++;
                        }
                } else {
                        while (*p && is_token_char(*p))
                                val[k++] = *p++;
                }
                val[k] = 0;
                p = skip_ows(p);
                if (*p && *p != ',')
                        goto bad;
                char **slot = NULL;
                if (name_len == 5 && !strncasecmp(name, "realm", 5))
                        slot = &c.realm;
                else if (name_len == 7 && !strncasecmp(name, "service", 7))
                        slot = &c.service;
                else if (name_len == 5 && !strncasecmp(name, "scope", 5))
                        slot = &c.scope;
                else if (name_len == 5 && !strncasecmp(name, "error", 5))
                        slot = &c.error;
                if (slot) {
                        free(*slot);
                        *slot = TAKE_PTR(val);
                }
        }
        if (c.scheme == AUTH_SCHEME_BEARER && (!c.realm || !c.realm[0]))
                goto bad;
        *ret = c;
        return 0;
bad:
        auth_challenge_done(&c);
        return -EBADMSG;
}

int auth_token_parse(const char *json, size_t len, char **ret)
{
        if (len > AUTH_MAX_TOKEN_LEN)
                return -EBADMSG;
        json_error_t jerr;
        json_t *root = json_loadb(json, len, 0, &jerr);
        if (!root)
                return -EBADMSG;
        const char *tok = json_string_value(json_object_get(root, "token"));
        if (!tok || !tok[0])
                tok = json_string_value(json_object_get(root, "access_token"));
        int r = -EBADMSG;
        if (tok && tok[0]) {
                bool ok = true;
                for (const char *q = tok; *q; q++)
                        if (*q <= 0x20 || *q >= 0x7f)
                                ok = false;
                if (ok) {
                        *ret = strdup(tok);
                        r = *ret ? 0 : -ENOMEM;
                }
        }
        json_decref(root);
        return r;
}
