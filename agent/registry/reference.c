/* SPDX-License-Identifier: Apache-2.0 */
/* reference.c — see reference.h. Pure string handling, no I/O. */
#include "registry/reference.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/digest.h"

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: alnum runs joined by one of ".", "_", "__" or any number of "-". */
static bool component_valid(const char *s, size_t n)
{
        size_t i = 0;
        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                if (s[i] == '.' || s[i] == '_') {
                        size_t sep = (s[i] == '_' && i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                        i += sep;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else
                        return false;
                if (i >= n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

bool repository_name_valid(const char *s)
{
        size_t len = strlen(s);
        if (len == 0 || len > REGISTRY_MAX_REPO_LEN)
                return false;
        for (const char *p = s;;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t)(slash - p) : strlen(p);
                if (!component_valid(p, n))
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

bool tag_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > REGISTRY_MAX_TAG_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                if (!word && (i == 0 || (c != '.' && c != '-')))
                        return false;
        }
        return true;
}

static bool domain_valid(const char *s, size_t n)
{
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == ':' || c == '[' || c == ']'))
                        return false;
        }
        return true;
}

void image_ref_done(struct image_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        *r = (struct image_ref){0};
}

int image_ref_parse(const char *s, struct image_ref *ret)
{
        if (!s || strlen(s) > 1024)
                return -EINVAL;
        _cleanup_free_ char *buf = strdup(s);
        if (!buf)
                return -ENOMEM;
        struct image_ref r = {0};
        int rc = -EINVAL;

        char *at = strchr(buf, '@');
        if (at) {
                *at = 0;
                if (!digest_valid(at + 1))
                        goto fail;
                r.digest = strdup(at + 1);
                if (!r.digest)
                        goto oom;
        }
        /* A tag is after the last ':' that follows the last '/' (a ':' before it is a port). */
        char *slash = strrchr(buf, '/');
        char *colon = strrchr(slash ? slash : buf, ':');
        if (colon) {
                *colon = 0;
                if (!tag_valid(colon + 1))
                        goto fail;
                r.tag = strdup(colon + 1);
                if (!r.tag)
                        goto oom;
        }
        const char *name = buf;
        const char *first_slash = strchr(name, '/');
        size_t first_len = first_slash ? (size_t)(first_slash - name) : 0;
        bool has_domain = first_slash && (memchr(name, '.', first_len) || memchr(name, ':', first_len) ||
                                          (first_len == 9 && !strncmp(name, "localhost", 9)));
        if (has_domain) {
                if (!domain_valid(name, first_len))
                        goto fail;
                if ((first_len == 15 && !strncmp(name, "index.docker.io", 15)))
                        r.domain = strdup("docker.io");
                else
                        r.domain = strndup(name, first_len);
                name = first_slash + 1;
        } else
                r.domain = strdup("docker.io");
        if (!r.domain)
                goto oom;
        if (!strcmp(r.domain, "docker.io") && !strchr(name, '/')) {
                if (asprintf(&r.path, "library/%s", name) < 0) {
                        r.path = NULL;
                        goto oom;
                }
        } else if (!(r.path = strdup(name)))
                goto oom;
        if (!repository_name_valid(r.path))
                goto fail;
        if (!r.tag && !r.digest && !(r.tag = strdup("latest")))
                goto oom;
        *ret = r;
        return 0;
oom:
        rc = -ENOMEM;
fail:
        image_ref_done(&r);
        return rc;
}

int mirror_repository(const struct image_ref *r, const char *prefix, char **ret)
{
        const char *p = prefix ? prefix : "";
        while (*p == '/')
                p++;
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
                n--;
        char *s;
        int k = n ? asprintf(&s, "%.*s/%s", (int)n, p, r->path) : asprintf(&s, "%s", r->path);
        if (k < 0)
                return -ENOMEM;
        if (!repository_name_valid(s)) {
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}
