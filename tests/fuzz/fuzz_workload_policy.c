/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_workload_policy.c — libFuzzer target for the [policy] parser and the check.
 *
 * Arbitrary bytes are read as "key = value" lines under [policy] (keys as written, so
 * unknown ones are exercised too). When they parse, a fixed workload set asking for a
 * bit of everything is held against the policy: the answer is 0 or -EPERM with a
 * sentence, and the per-violation count agrees with it.
 */
#include "fuzz_check.h"
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "workload/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(const char *sentence, void *ud)
{
        FUZZ_CHECK(strstr(sentence, "is not allowed by [policy] "));
        (*(unsigned *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct bundle_image images[] = {{.ref = (char *)"reg.local/a:1"}};
        static const char *spec =
                "{\"workloads\": [{\"name\": \"w\", \"image\": \"reg.local/a:1\", \"user\": \"0:5\","
                " \"resources\": {\"memory\": \"16M\", \"cpu\": 1}, \"network\": \"host\","
                " \"readOnlyRootfs\": false, \"noNewPrivileges\": false,"
                " \"capabilities\": {\"add\": [\"NET_RAW\"]}, \"env\": {\"LD_PRELOAD\": \"x\", \"A\": \"b\"},"
                " \"devices\": [{\"path\": \"/dev/ttyUSB0\", \"permissions\": \"rwm\"}],"
                " \"binds\": [{\"source\": \"/etc/x\", \"path\": \"/x\", \"readOnly\": false}]}]}";
        char *text = malloc(size + 1);
        struct berth_config *c = config_new_empty();
        if (!text || !c) {
                free(text);
                config_free(c);
                return 0;
        }
        memcpy(text, data, size);
        text[size] = 0;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');
                if (!eq)
                        continue;
                *eq = 0;
                char key[160];
                snprintf(key, sizeof key, "policy.%.140s", line);
                (void)config_set(c, key, eq + 1);
        }
        struct wl_policy *p = NULL;
        berr e = {0};
        if (wl_policy_from_config(c, &p, &e) < 0) {
                FUZZ_CHECK(e.msg[0] != 0); /* every refusal explains itself */
        } else {
                json_t *root = json_loads(spec, 0, NULL);
                struct workload_set *s = NULL;
                if (root && workload_set_parse(root, images, 1, &s, NULL) == 0) {
                        unsigned n = 0;
                        berr ce = {0};
                        int r = wl_policy_check(p, s, &ce);
                        FUZZ_CHECK(r == 0 || r == -EPERM);
                        FUZZ_CHECK(wl_policy_check_each(p, s, count, &n) == n);
                        FUZZ_CHECK((r == 0) == (n == 0));
                        FUZZ_CHECK(r == 0 || strstr(ce.msg, "workload w: "));
                        workload_set_free(s);
                }
                json_decref(root);
                wl_policy_free(p);
        }
        config_free(c);
        free(text);
        return 0;
}
