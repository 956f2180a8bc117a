/* SPDX-License-Identifier: Apache-2.0 */
/* config.c — see config.h. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"

#define CONFIG_MAX_SIZE (256u * 1024)

struct config_item {
        char *key;
        char *value;
};

struct berth_config {
        struct config_item *items;
        size_t n;
};

struct berth_config *config_new_empty(void)
{
        return calloc(1, sizeof(struct berth_config));
}

void config_free(struct berth_config *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->items[i].key);
                free(c->items[i].value);
        }
        free(c->items);
        free(c);
}

int config_set(struct berth_config *c, const char *key, const char *value)
{
        for (size_t i = 0; i < c->n; i++)
                if (!strcmp(c->items[i].key, key)) {
                        char *v = strdup(value);
                        if (!v)
                                return -ENOMEM;
                        free(c->items[i].value);
                        c->items[i].value = v;
                        return 0;
                }
        struct config_item *n = realloc(c->items, (c->n + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        c->items = n;
        n[c->n].key = strdup(key);
        n[c->n].value = strdup(value);
        if (!n[c->n].key || !n[c->n].value) {
                free(n[c->n].key);
                free(n[c->n].value);
                return -ENOMEM;
        }
        c->n++;
        return 0;
}

static char *trim(char *s)
{
        while (isspace((unsigned char)*s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = 0;
        return s;
}

int config_load(const char *path, bool optional, struct berth_config **ret, berr *e)
{
        _cleanup_free_ char *buf = NULL;
        int r = read_file_bounded(path, CONFIG_MAX_SIZE, &buf, NULL);
        if (r == -ENOENT && optional) {
                *ret = config_new_empty();
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return berr_set(e, r, "cannot read config file %s: %s", path, strerror(-r));

        _cleanup_(config_freep) struct berth_config *c = config_new_empty();
        if (!c)
                return -ENOMEM;
        char section[128] = "";
        unsigned lineno = 0;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                lineno++;
                char *l = trim(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        char *end = strchr(l, ']');
                        if (!end || end[1] || end - l - 1 <= 0 || (size_t)(end - l - 1) >= sizeof section)
                                return berr_set(e, -EBADMSG, "%s:%u: malformed section header '%s'", path, lineno, l);
                        *end = 0;
                        snprintf(section, sizeof section, "%s", trim(l + 1));
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!eq)
                        return berr_set(e, -EBADMSG, "%s:%u: expected 'key = value', got '%s'", path, lineno, l);
                *eq = 0;
                char *k = trim(l), *v = trim(eq + 1);
                if (!*k)
                        return berr_set(e, -EBADMSG, "%s:%u: empty key", path, lineno);
                size_t vl = strlen(v);
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                        v[vl - 1] = 0;
                        v++;
                }
                char full[384];
                snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", k);
                r = config_set(c, full, v);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

const char *config_get(const struct berth_config *c, const char *key, const char *def)
{
        if (c)
                for (size_t i = c->n; i > 0; i--)
                        if (!strcmp(c->items[i - 1].key, key))
                                return c->items[i - 1].value;
        return def;
}

int config_get_u64(const struct berth_config *c, const char *key, uint64_t def, uint64_t *ret, berr *e)
{
        const char *v = config_get(c, key, NULL);
        if (!v) {
                *ret = def;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
                return berr_set(e, -EINVAL, "config key %s: '%s' is not a non-negative integer", key, v);
        *ret = x;
        return 0;
}

int config_get_bool(const struct berth_config *c, const char *key, bool def, bool *ret, berr *e)
{
        const char *v = config_get(c, key, NULL);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
                *ret = true;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
                *ret = false;
        else
                return berr_set(e, -EINVAL, "config key %s: '%s' is not a boolean (true/false)", key, v);
        return 0;
}

void config_foreach_unknown(const struct berth_config *c, const char *const *known,
                            void (*fn)(const char *key, void *ud), void *ud)
{
        for (size_t i = 0; c && i < c->n; i++) {
                bool found = false;
                for (const char *const *k = known; *k && !found; k++)
                        found = !strcmp(*k, c->items[i].key);
                if (!found)
                        fn(c->items[i].key, ud);
        }
}
