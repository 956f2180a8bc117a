/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_check.h — FUZZ_CHECK(cond): the property a fuzz target asserts, checked in every
 * build type. assert() is compiled out under NDEBUG (RelWithDebInfo/Release), which
 * silently turned the targets' checks off and left their variables unused.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                                   \
        do {                                                                                               \
                if (!(cond)) {                                                                             \
                        fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);      \
                        abort();                                                                           \
                }                                                                                          \
        } while (0)
