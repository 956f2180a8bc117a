/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_mountcheck.c — libFuzzer target for the mount-table check (mountcheck.h).
 *
 * Arbitrary bytes are read as a container's /proc/PID/mountinfo against a fixed spec
 * with a read-only bind (/host), a tmpfs on top of part of it and a writable volume.
 * Every answer is 0, -EPERM or -EBADMSG, and a refusal explains itself.
 */
#include "fuzz_check.h"
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload/mountcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *spec =
                "{\"mounts\": ["
                "{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\", \"options\": []},"
                "{\"destination\": \"/host\", \"type\": \"bind\", \"source\": \"/\", \"options\": [\"rbind\", \"ro\"]},"
                "{\"destination\": \"/host/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": []},"
                "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/d\", \"options\": [\"rbind\"]}"
                "]}";
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        berr e = {0};
        int r = mountcheck_readonly(spec, text, "fuzz", &e);
        FUZZ_CHECK(r == 0 || r == -EPERM || r == -EBADMSG || r == -ENOMEM);
        FUZZ_CHECK(r == 0 || e.msg[0] != 0);
        free(text);
        return 0;
}
