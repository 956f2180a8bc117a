/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.h — small helpers shared by the cmocka unit tests. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"

/* A fresh directory under $BERTH_TEST_TMP (or /tmp); caller frees and rm_rf()s it. */
static inline char *test_tmpdir(const char *tag)
{
        const char *base = getenv("BERTH_TEST_TMP");
        if (!base || !*base)
                base = "/tmp";
        (void)mkdir_p(base, 0755);
        char *p;
        if (asprintf(&p, "%s/unit-%s-XXXXXX", base, tag) < 0)
                return NULL;
        if (!mkdtemp(p)) {
                free(p);
                return NULL;
        }
        return p;
}

static inline void test_rmdir(char *p)
{
        if (p) {
                rm_rf(p);
                free(p);
        }
}
