/* SPDX-License-Identifier: Apache-2.0 */
/* mirror_config.c — see mirror_config.h. */
#include "registry/mirror_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "registry/reference.h"

static bool safe_chars(const char *s, const char *extra)
{
        if (!s || !*s || strlen(s) > 512)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr(".-:[]", *s) || (extra && strchr(extra, *s))))
                        return false;
        return true;
}

/* "http(s)://host[:port]" → its scheme and host[:port]. */
static int split_url(const char *url, bool *https, const char **hostport)
{
        if (!strncmp(url, "http://", 7))
                *https = false, *hostport = url + 7;
        else if (!strncmp(url, "https://", 8))
                *https = true, *hostport = url + 8;
        else
                return -EINVAL;
        return safe_chars(*hostport, NULL) && strncmp(*hostport, "..", 2) ? 0 : -EINVAL;
}

/* An upstream "host[:port]" or "http(s)://host[:port]" → directory name and server URL. */
static int upstream_parse(const char *up, char **ret_host, char **ret_server)
{
        bool https = true;
        const char *host = up;
        if (strstr(up, "://") && split_url(up, &https, &host) < 0)
                return -EINVAL;
        if (!safe_chars(host, NULL) || host[0] == '.' || strstr(host, ".."))
                return -EINVAL;
        char *server;
        if (!strcmp(host, "docker.io"))
                server = strdup("https://registry-1.docker.io");
        else if (asprintf(&server, "%s://%s", https ? "https" : "http", host) < 0)
                server = NULL;
        if (!server)
                return -ENOMEM;
        if (!(*ret_host = strdup(host))) {
                free(server);
                return -ENOMEM;
        }
        *ret_server = server;
        return 0;
}

static int check(const struct mirror_config *mc, berr *e)
{
        bool https;
        const char *hp;
        if (!mc->mirror_url || split_url(mc->mirror_url, &https, &hp) < 0)
                return berr_set(e, -EINVAL, "mirror URL '%s' must be http(s)://host[:port]: set registry.url or --registry",
                                mc->mirror_url ? mc->mirror_url : "");
        if (mc->ca_file && (mc->ca_file[0] != '/' || !safe_chars(mc->ca_file, "/_+")))
                return berr_set(e, -EINVAL, "CA file '%s' must be an absolute path of plain characters", mc->ca_file);
        if (mc->prefix && mc->prefix[0] && !repository_name_valid(mc->prefix))
                return berr_set(e, -EINVAL, "repository prefix '%s' is not a valid repository path", mc->prefix);
        if (mc->n_upstreams == 0)
                return berr_set(e, -EINVAL, "no upstream registries given: name them with --upstream HOST");
        for (size_t i = 0; i < mc->n_upstreams; i++) {
                _cleanup_free_ char *h = NULL, *s = NULL;
                if (upstream_parse(mc->upstreams[i], &h, &s) < 0)
                        return berr_set(e, -EINVAL, "upstream '%s' is not a registry host[:port] or http(s) URL",
                                        mc->upstreams[i]);
        }
        return 0;
}

/* Appends printf text to a growing buffer. */
static int appendf(char **buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int appendf(char **buf, size_t *len, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = NULL;
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        char *b = realloc(*buf, *len + (size_t)n + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b + *len, s, (size_t)n + 1);
        *buf = b;
        *len += (size_t)n;
        return 0;
}

int mirror_render_k3s(const struct mirror_config *mc, char **ret, berr *e)
{
        int r = check(mc, e);
        if (r < 0)
                return r;
        bool https;
        const char *mirror_host;
        split_url(mc->mirror_url, &https, &mirror_host);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        r = appendf(&buf, &len,
                    "# Written by berth (berth mirror config --k3s). K3s pulls each image from the\n"
                    "# local mirror first and falls back to the upstream registry.\n"
                    "mirrors:\n");
        for (size_t i = 0; i < mc->n_upstreams && r >= 0; i++) {
                _cleanup_free_ char *host = NULL, *server = NULL;
                r = upstream_parse(mc->upstreams[i], &host, &server);
                if (r >= 0)
                        r = appendf(&buf, &len, "  \"%s\":\n    endpoint:\n      - \"%s\"\n", host, mc->mirror_url);
                if (r >= 0 && mc->prefix && mc->prefix[0])
                        r = appendf(&buf, &len, "    rewrite:\n      \"^(.*)$\": \"%s/$1\"\n", mc->prefix);
        }
        if (r >= 0 && (mc->ca_file || mc->insecure)) {
                r = appendf(&buf, &len, "configs:\n  \"%s\":\n    tls:\n", mirror_host);
                if (r >= 0 && mc->ca_file)
                        r = appendf(&buf, &len, "      ca_file: \"%s\"\n", mc->ca_file);
                if (r >= 0 && mc->insecure)
                        r = appendf(&buf, &len, "      insecure_skip_verify: true\n");
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

int mirror_render_hosts_toml(const struct mirror_config *mc, const char *upstream, char **ret, char **ret_host,
                             berr *e)
{
        int r = check(mc, e);
        if (r < 0)
                return r;
        _cleanup_free_ char *host = NULL, *server = NULL, *buf = NULL;
        size_t len = 0;
        if (upstream_parse(upstream, &host, &server) < 0)
                return berr_set(e, -EINVAL, "upstream '%s' is not a registry host", upstream);
        bool prefixed = mc->prefix && mc->prefix[0];
        r = appendf(&buf, &len,
                    "# Written by berth (berth mirror config --containerd). containerd pulls from the\n"
                    "# local mirror first (host below) and from the upstream (server) second.\n"
                    "server = \"%s\"\n\n",
                    server);
        if (r >= 0 && prefixed)
                r = appendf(&buf, &len, "[host.\"%s/v2/%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
                            mc->mirror_url, mc->prefix);
        else if (r >= 0)
                r = appendf(&buf, &len, "[host.\"%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", mc->mirror_url);
        if (r >= 0 && mc->ca_file)
                r = appendf(&buf, &len, "  ca = \"%s\"\n", mc->ca_file);
        if (r >= 0 && mc->insecure)
                r = appendf(&buf, &len, "  skip_verify = true\n");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        *ret_host = TAKE_PTR(host);
        return 0;
}

static int write_text(const char *path, const char *text, berr *e)
{
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        int r = 0;
        if (slash && slash != dir) {
                *slash = 0;
                r = mkdir_p(dir, 0755);
        }
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return berr_set(e, r, "cannot write %s (%s): check the directory and its permissions", path,
                                strerror(-r));
        return 0;
}

int mirror_write_k3s(const struct mirror_config *mc, const char *path, berr *e)
{
        _cleanup_free_ char *text = NULL;
        int r = mirror_render_k3s(mc, &text, e);
        if (r < 0)
                return r;
        return write_text(path, text, e);
}

int mirror_write_containerd(const struct mirror_config *mc, const char *dir, berr *e)
{
        for (size_t i = 0; i < mc->n_upstreams; i++) {
                _cleanup_free_ char *text = NULL, *host = NULL, *path = NULL;
                int r = mirror_render_hosts_toml(mc, mc->upstreams[i], &text, &host, e);
                if (r < 0)
                        return r;
                if (asprintf(&path, "%s/%s/hosts.toml", dir, host) < 0)
                        return -ENOMEM;
                r = write_text(path, text, e);
                if (r < 0)
                        return r;
        }
        return 0;
}
