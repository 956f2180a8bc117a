/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_workload_spec.c — libFuzzer target for the workload spec parser and the OCI
 * runtime spec built from it.
 *
 * Arbitrary bytes are read as a {"workloads", "update"} document (the part of a
 * manifest the parser sees) with two fixed image refs. When they parse, the start
 * order must be a permutation with every dependency first, and the OCI spec of each
 * workload (devices left out: they stat the host) must build and be JSON.
 */
#include "fuzz_check.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "workload/ocispec.h"
#include "workload/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct bundle_image images[] = {{.ref = (char *)"reg.local/a:1"}, {.ref = (char *)"reg.local/b:1"}};
        json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!root)
                return 0;
        berr e = {0};
        struct workload_set *s = NULL;
        if (workload_set_parse(root, images, 2, &s, &e) < 0) {
                FUZZ_CHECK(e.msg[0] != 0); /* every refusal explains itself */
                json_decref(root);
                return 0;
        }
        bool seen[WL_MAX_WORKLOADS] = {0};
        for (size_t k = 0; k < s->n; k++) {
                size_t i = s->order[k];
                FUZZ_CHECK(i < s->n && !seen[i]);
                for (size_t d = 0; d < s->w[i].n_depends_on; d++) {
                        const struct workload_spec *dep = workload_set_find(s, s->w[i].depends_on[d]);
                        FUZZ_CHECK(dep && seen[dep - s->w]);
                }
                seen[i] = true;
        }
        json_t *cfg = json_pack("{s:{s:[s],s:[s]}}", "config", "Entrypoint", "/bin/app", "Env", "PATH=/bin");
        for (size_t i = 0; i < s->n; i++) {
                struct workload_spec w = s->w[i];
                w.n_devices = 0;
                struct ocispec_input in = {.w = &w, .image_config = cfg, .cgroups_path = "/fuzz/x",
                                           .volume_dir = "/data/x", .hostname = w.name};
                char *out = NULL;
                berr oe = {0};
                if (ocispec_build(&in, &out, &oe) == 0) {
                        json_t *j = json_loads(out, 0, NULL);
                        FUZZ_CHECK(j);
                        json_decref(j);
                        free(out);
                }
        }
        json_decref(cfg);
        workload_set_free(s);
        json_decref(root);
        return 0;
}
