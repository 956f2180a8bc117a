/* SPDX-License-Identifier: Apache-2.0 */
/* token.c — credentials on registry requests. Every request goes through
 * reg_do_request(): it adds credentials, performs the call and, on a 401 challenge,
 * obtains credentials (basic or a bearer token from the distribution token service)
 * and repeats the call once. Never sends credentials to a plain-http token service
 * of an https registry. */
#include "registry/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "net/http.h"
#include "registry/auth.h"
#include "registry/reference.h"
#include "registry/client_int.h"

static char *url_escape(struct registry_client *c, const char *s)
{
        return http_escape(s);
}

/* "Basic base64(user:password)" for the configured credentials. */
static char *basic_authz(const struct registry_client *c)
{
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_free_ char *up = NULL;
        if (asprintf(&up, "%s:%s", c->username, c->password ? c->password : "") < 0)
                return NULL;
        size_t l = strlen(up), o = 6;
        char *out = malloc(6 + 4 * ((l + 2) / 3) + 1);
        if (out) {
                memcpy(out, "Basic ", 6);
                for (size_t i = 0; i < l; i += 3) {
                        uint32_t v = (uint32_t)(uint8_t)up[i] << 16;
                        if (i + 1 < l)
                                v |= (uint32_t)(uint8_t)up[i + 1] << 8;
                        if (i + 2 < l)
                                v |= (uint8_t)up[i + 2];
                        out[o++] = tbl[(v >> 18) & 63];
                        out[o++] = tbl[(v >> 12) & 63];
                        out[o++] = i + 1 < l ? tbl[(v >> 6) & 63] : '=';
                        out[o++] = i + 2 < l ? tbl[v & 63] : '=';
                }
                out[o] = 0;
        }
        explicit_bzero(up, l);
        return out;
}

/* Fetches a bearer token for scope (space-separated scopes) from the realm. */
static int fetch_token(struct registry_client *c, const char *scope, berr *e)
{
        _cleanup_free_ char *url = NULL;
        size_t cap = strlen(c->realm) + 64 + (c->service ? 3 * strlen(c->service) : 0) +
                     (scope ? 4 * strlen(scope) + 64 : 0);
        url = malloc(cap);
        if (!url)
                return -ENOMEM;
        int n = snprintf(url, cap, "%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?");
        bool first = true;
        if (c->service) {
                _cleanup_free_ char *s = url_escape(c, c->service);
                if (!s)
                        return -ENOMEM;
                n += snprintf(url + n, cap - (size_t)n, "service=%s", s);
                first = false;
        }
        /* Each scope is its own "scope=" parameter. */
        _cleanup_free_ char *scopes = scope ? strdup(scope) : NULL;
        if (scope && !scopes)
                return -ENOMEM;
        char *save = NULL;
        for (char *s = scopes ? strtok_r(scopes, " ", &save) : NULL; s; s = strtok_r(NULL, " ", &save)) {
                _cleanup_free_ char *x = url_escape(c, s);
                if (!x)
                        return -ENOMEM;
                n += snprintf(url + n, cap - (size_t)n, "%sscope=%s", first ? "" : "&", x);
                first = false;
        }
        if ((size_t)n >= cap)
                return -ENOMEM;

        struct req q = {.method = "GET", .url = url};
        _cleanup_free_ char *authz = NULL;
        if (c->username && !(authz = basic_authz(c)))
                return -ENOMEM;
        struct resp r = {0};
        int rc = reg_perform(c, &q, authz, &r, e);
        if (authz)
                explicit_bzero(authz, strlen(authz));
        if (rc < 0) {
                reg_resp_done(&r);
                return berr_prefix(e, rc, "token service %s", c->realm);
        }
        if ((r.status == 401 || r.status == 403) && !c->username) {
                long st = r.status;
                reg_resp_done(&r);
                return berr_set(e, -EACCES,
                                "registry %s requires credentials (its token service %s answered HTTP %ld to an anonymous request): set registry.username and registry.password",
                                c->url, c->realm, st);
        }
        if (r.status == 401 || r.status == 403) {
                long st = r.status;
                reg_resp_done(&r);
                return berr_set(e, -EACCES,
                                "token service %s of registry %s refused the credentials (HTTP %ld): check registry.username and registry.password",
                                c->realm, c->url, st);
        }
        if (r.status != 200) {
                long st = r.status;
                reg_resp_done(&r);
                return berr_set(e, -EPROTO, "token service %s of registry %s answered HTTP %ld: check the registry's auth setup",
                                c->realm, c->url, st);
        }
        char *tok = NULL;
        rc = auth_token_parse(r.body ? r.body : "", r.body_len, &tok);
        reg_resp_done(&r);
        if (rc < 0)
                return berr_set(e, rc, "token service %s of registry %s sent no usable token", c->realm, c->url);
        free(c->token);
        c->token = tok;
        free(c->token_scope);
        c->token_scope = scope ? strdup(scope) : NULL;
        return 0;
}

/* Takes note of a 401 challenge; returns 1 when retrying makes sense. */
static int handle_challenge(struct registry_client *c, const struct req *q, const struct resp *r, bool retried,
                            berr *e)
{
        struct auth_challenge ch = {0};
        if (!r->www_auth || auth_challenge_parse(r->www_auth, &ch) < 0)
                return 0;
        int rc = 0;
        if (ch.scheme == AUTH_SCHEME_BASIC) {
                if (c->username && c->auth != AUTH_SCHEME_BASIC) {
                        c->auth = AUTH_SCHEME_BASIC;
                        rc = 1;
                }
        } else if (ch.scheme == AUTH_SCHEME_BEARER) {
                bool realm_https = !strncmp(ch.realm, "https://", 8);
                if (!realm_https && strncmp(ch.realm, "http://", 7)) {
                        rc = berr_set(e, -EPROTO, "registry %s names a token service '%.200s' that is not an http(s) URL",
                                      c->url, ch.realm);
                        auth_challenge_done(&ch);
                        return rc;
                }
                /* Never send credentials in clear text to get into a TLS-protected registry. */
                if (!realm_https && !strncmp(c->url, "https://", 8)) {
                        rc = berr_set(e, -EPERM,
                                      "registry %s sends berth to the plain-http token service %.200s: refusing to send credentials unencrypted, fix the registry's auth realm",
                                      c->url, ch.realm);
                        auth_challenge_done(&ch);
                        return rc;
                }
                c->auth = AUTH_SCHEME_BEARER;
                free(c->realm);
                free(c->service);
                c->realm = ch.realm, ch.realm = NULL;
                c->service = ch.service, ch.service = NULL;
                if (!retried) {
                        /* Ask for the scope the registry named plus the one this request needs. */
                        _cleanup_free_ char *scope = NULL;
                        if (ch.scope && q->scope && !strstr(ch.scope, q->scope)) {
                                if (asprintf(&scope, "%s %s", ch.scope, q->scope) < 0)
                                        scope = NULL;
                        } else
                                scope = strdup(ch.scope ? ch.scope : q->scope ? q->scope : "");
                        if (!scope) {
                                auth_challenge_done(&ch);
                                return -ENOMEM;
                        }
                        rc = fetch_token(c, scope[0] ? scope : NULL, e);
                        if (rc >= 0)
                                rc = 1;
                }
        }
        auth_challenge_done(&ch);
        return rc;
}

int reg_do_request(struct registry_client *c, const struct req *q, struct resp *r, berr *e)
{
        /* Bearer tokens are scoped to repositories: get the right one before asking. */
        if (c->auth == AUTH_SCHEME_BEARER && q->scope &&
            (!c->token_scope || !strstr(c->token_scope, q->scope))) {
                int k = fetch_token(c, q->scope, e);
                if (k < 0)
                        return k;
        }
        for (int attempt = 0;; attempt++) {
                _cleanup_free_ char *authz = NULL;
                if (c->auth == AUTH_SCHEME_BEARER && c->token) {
                        if (asprintf(&authz, "Bearer %s", c->token) < 0)
                                return -ENOMEM;
                }
                if (c->auth == AUTH_SCHEME_BASIC && c->username && !(authz = basic_authz(c)))
                        return -ENOMEM;
                int rc;
                rc = reg_perform(c, q, authz, r, e);
                if (authz)
                        explicit_bzero(authz, strlen(authz));
                if (rc < 0)
                        return rc;
                if (r->status != 401 || attempt > 0)
                        return 0;
                rc = handle_challenge(c, q, r, attempt > 0, e);
                if (rc < 0)
                        return rc;
                if (rc == 0)
                        return 0;
        }
}
