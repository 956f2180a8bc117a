/* SPDX-License-Identifier: Apache-2.0 */
/* spec_int.h — shared inside the workload spec parser, private to agent/workload/.
 *
 * spec.c owns the set (parse, start order, free, the --workloads file form);
 * spec_field.c holds the table of a workload's fields, one parser each;
 * spec_value.c reads single values with their limits. Every error is -EBADMSG with a
 * sentence that starts with the JSON path of the field.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "workload/spec.h"

#define FAIL(e, fmt, ...) berr_set(e, -EBADMSG, fmt, ##__VA_ARGS__)

/* The images a workload may name: the manifest's and/or the refs given to bundle create. */
struct spec_images {
        const struct bundle_image *images;
        size_t n_images;
        const char *const *refs;
        size_t n_refs;
};

/* spec_field.c: one workload object at JSON path where into w (which the caller frees
 * with spec_done(), also on failure). */
int spec_parse_one(json_t *o, const char *where, const struct spec_images *im, struct workload_spec *w, berr *e);

/* spec.c */
void spec_done(struct workload_spec *w);

/* spec_value.c: values. */
void spec_strv_free(char **v, size_t n);
/* "64M", "1Gi", "512k", or an integer number of bytes (binary multiples). */
int spec_parse_size(json_t *v, uint64_t *ret);
/* CPUs as a number (0.5) or millicores ("500m"); 10m to 1024 CPUs. */
int spec_parse_cpu(json_t *v, uint64_t *ret);
/* [a-z0-9][a-z0-9-]*, at most WL_MAX_NAME_LEN. */
bool spec_name_valid(const char *s);
/* Absolute, no "." or ".." component, no ',' or ':' or control characters. */
bool spec_path_valid(const char *p);
/* At most WL_MAX_STRING bytes, no control characters but tab. */
bool spec_text_valid(const char *s);

/* spec_value.c: one key of object o, named "<where>.<key>" in errors; a missing key
 * gives def where there is one. */
int spec_check_keys(json_t *o, const char *const *allowed, const char *where, berr *e);
int spec_get_strv(json_t *o, const char *key, const char *where, size_t min, char ***ret, size_t *ret_n, berr *e);
int spec_get_bool(json_t *o, const char *key, const char *where, bool def, bool *ret, berr *e);
int spec_get_duration(json_t *o, const char *key, const char *where, uint64_t def, uint64_t max, uint64_t *ret,
                      berr *e);
int spec_get_uint(json_t *o, const char *key, const char *where, unsigned def, unsigned min, unsigned max,
                  unsigned *ret, berr *e);
int spec_get_path(json_t *o, const char *key, const char *where, char **ret, berr *e);
