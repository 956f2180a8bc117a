/* SPDX-License-Identifier: Apache-2.0 */
/* spec_value.c — the value readers of the workload spec parser (see spec_int.h):
 * durations, sizes, CPU amounts, names, paths and text, each with its limit, and the
 * getters that read one key of an object and name it in the error. No field knows
 * about another here; spec_field.c decides what each field means.
 */
#include "workload/spec_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void spec_strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

int wl_parse_duration(json_t *v, uint64_t *ret_ms)
{
        if (json_is_integer(v)) {
                json_int_t s = json_integer_value(v);
                if (s < 0 || s > 86400 * 365)
                        return -ERANGE;
                *ret_ms = (uint64_t)s * 1000;
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        char *end;
        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno || n > 86400ull * 365 * 1000)
                return -ERANGE;
        uint64_t mul;
        if (!strcmp(end, "ms"))
                mul = 1;
        else if (!strcmp(end, "s"))
                mul = 1000;
        else if (!strcmp(end, "m"))
                mul = 60000;
        else if (!strcmp(end, "h"))
                mul = 3600000;
        else
                return -EINVAL;
        if (n * mul > 86400ull * 365 * 1000)
                return -ERANGE;
        *ret_ms = n * mul;
        return 0;
}

/* "64M", "1Gi", "512k", or an integer number of bytes (binary multiples). */
int spec_parse_size(json_t *v, uint64_t *ret)
{
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return -ERANGE;
                *ret = (uint64_t)json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        const char *s = json_string_value(v);
        char *end;
        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno)
                return -ERANGE;
        unsigned shift;
        if (!*end)
                shift = 0;
        else if (!strcasecmp(end, "k") || !strcasecmp(end, "ki"))
                shift = 10;
        else if (!strcasecmp(end, "m") || !strcasecmp(end, "mi"))
                shift = 20;
        else if (!strcasecmp(end, "g") || !strcasecmp(end, "gi"))
                shift = 30;
        else
                return -EINVAL;
        if (n > (UINT64_MAX >> 1) >> shift)
                return -ERANGE;
        *ret = (uint64_t)n << shift;
        return 0;
}

/* CPUs as a number (0.5) or millicores ("500m"). */
int spec_parse_cpu(json_t *v, uint64_t *ret)
{
        double d;
        if (json_is_number(v))
                d = json_number_value(v) * 1000.0;
        else if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end;
                if (!isdigit((unsigned char)s[0]))
                        return -EINVAL;
                errno = 0;
                unsigned long long n = strtoull(s, &end, 10);
                if (errno || strcmp(end, "m") != 0)
                        return -EINVAL;
                d = (double)n;
        } else
                return -EINVAL;
        if (!(d >= 10.0 && d <= 1024.0 * 1000.0))
                return -ERANGE;
        *ret = (uint64_t)(d + 0.5);
        return 0;
}

bool spec_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > WL_MAX_NAME_LEN || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
                        return false;
        return true;
}

bool spec_path_valid(const char *p)
{
        size_t n = strlen(p);
        if (n < 1 || n > WL_MAX_STRING || p[0] != '/')
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == ',' || *c == ':')
                        return false;
        /* no "." or ".." components: mount targets must be what they say */
        for (const char *c = p; (c = strchr(c, '/')); c++) {
                if (!strncmp(c, "/../", 4) || !strcmp(c, "/..") || !strncmp(c, "/./", 3) || !strcmp(c, "/."))
                        return false;
        }
        return true;
}

bool spec_text_valid(const char *s)
{
        if (strlen(s) > WL_MAX_STRING)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char)*c < 0x20 && *c != '\t')
                        return false;
        return true;
}

/* Every key of o must be in allowed (NULL-terminated). */
int spec_check_keys(json_t *o, const char *const *allowed, const char *where, berr *e)
{
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                bool ok = false;
                for (size_t i = 0; allowed[i]; i++)
                        if (!strcmp(k, allowed[i]))
                                ok = true;
                if (!ok)
                        return FAIL(e, "%s.%.64s: unknown field", where, k);
        }
        return 0;
}

int spec_get_strv(json_t *o, const char *key, const char *where, size_t min, char ***ret, size_t *ret_n, berr *e)
{
        json_t *a = json_object_get(o, key);
        if (!json_is_array(a))
                return FAIL(e, "%s.%s: must be an array of strings", where, key);
        size_t n = json_array_size(a);
        if (n < min || n > WL_MAX_LIST)
                return FAIL(e, "%s.%s: must have between %zu and %d entries", where, key, min, WL_MAX_LIST);
        char **v = calloc(n + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(a, i);
                if (!json_is_string(s) || !spec_text_valid(json_string_value(s))) {
                        spec_strv_free(v, i);
                        return FAIL(e, "%s.%s[%zu]: must be a string without control characters (at most %d bytes)",
                                    where, key, i, WL_MAX_STRING);
                }
                v[i] = strdup(json_string_value(s));
                if (!v[i]) {
                        spec_strv_free(v, i);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int spec_get_bool(json_t *o, const char *key, const char *where, bool def, bool *ret, berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return FAIL(e, "%s.%s: must be true or false", where, key);
        *ret = json_is_true(v);
        return 0;
}

int spec_get_duration(json_t *o, const char *key, const char *where, uint64_t def, uint64_t max, uint64_t *ret,
                      berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (wl_parse_duration(v, ret) < 0 || *ret > max)
                return FAIL(e, "%s.%s: must be a duration like \"500ms\", \"10s\" or \"2m\" (at most %llu s)", where,
                            key, (unsigned long long)(max / 1000));
        return 0;
}

int spec_get_uint(json_t *o, const char *key, const char *where, unsigned def, unsigned min, unsigned max,
                  unsigned *ret, berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return FAIL(e, "%s.%s: must be an integer between %u and %u", where, key, min, max);
        *ret = (unsigned)json_integer_value(v);
        return 0;
}

int spec_get_path(json_t *o, const char *key, const char *where, char **ret, berr *e)
{
        json_t *v = json_object_get(o, key);
        if (!v)
                return FAIL(e, "%s.%s: required", where, key);
        if (!json_is_string(v) || !spec_path_valid(json_string_value(v)))
                return FAIL(e, "%s.%s: must be an absolute path without '.', '..', ',' or ':' components", where, key);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

